/* mh-find-view.c: Find hospital: specialty, bed category, position */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-find-view.h"
#include "mh-json.h"
#include "mh-labels.h"
#include "mh-settings.h"

struct _MhFindView
{
  GtkWidget parent_instance;

  /* Template Widgets */
  GtkWidget *box;
  AdwComboRow *specialty_row;
  AdwComboRow *category_row;
  AdwActionRow *position_row;
  GtkRevealer *fallback_revealer;
  GtkStack *results_stack;
  AdwStatusPage *empty_page;
  GtkListView *list_view;
  GtkLabel *count_label;

  /* Owned References */
  MhNode *node;
  GSettings *settings;
  GtkStringList *ids;  /* the list view's model: one id per result */
  JsonArray *results; /* the results, in the order of ids */
  char *origin;
  double lat, lon;
  guint rerun_id;
  gboolean has_run;
  gboolean syncing;
};

G_DEFINE_FINAL_TYPE (MhFindView, mh_find_view, GTK_TYPE_WIDGET)

enum
{
  HOSPITAL_ACTIVATED,
  SHOW_RESULTS,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

enum
{
  PROP_0,
  PROP_RESULTS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Enough to choose from; the crew rarely drives past the fifth. */
#define RESULT_LIMIT 20

static guint
selected_specialty (MhFindView *self)
{
  guint selected = adw_combo_row_get_selected (self->specialty_row);

  return selected == GTK_INVALID_LIST_POSITION ? 0 : selected;
}

static const char *
selected_category (MhFindView *self)
{
  guint selected = adw_combo_row_get_selected (self->category_row);

  if (selected == GTK_INVALID_LIST_POSITION || selected == 0)
    return NULL;
  return mh_bed_categories ()[selected - 1];
}

static void
update_position_row (MhFindView *self)
{
  g_autofree char *text = NULL;

  /* TRANSLATORS: latitude, longitude (where the point comes from) */
  text = g_strdup_printf (_("%.4f, %.4f (%s)"), self->lat, self->lon,
                          self->origin != NULL ? self->origin : _("map centre"));
  adw_action_row_set_subtitle (self->position_row, text);
}

static void
item_setup_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer user_data)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *rank = gtk_label_new (NULL);
  GtkWidget *texts = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *name = gtk_label_new (NULL);
  GtkWidget *detail = gtk_label_new (NULL);
  GtkWidget *stale = gtk_label_new (_("stale"));
  GtkWidget *fallback = gtk_label_new (_("fallback"));
  GtkWidget *free_beds = gtk_label_new (NULL);
  GtkWidget *distance = gtk_label_new (NULL);
  GtkWidget *announce;

  gtk_widget_set_margin_top (row, 6);
  gtk_widget_set_margin_bottom (row, 6);
  /* The rank, as on the result's pin on the map. */
  gtk_widget_add_css_class (rank, "mh-pin-rank");
  gtk_widget_add_css_class (rank, "mh-list-rank");
  gtk_widget_set_valign (rank, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (row), rank);
  gtk_widget_set_hexpand (texts, TRUE);
  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (name, "heading");
  gtk_label_set_xalign (GTK_LABEL (detail), 0);
  gtk_label_set_ellipsize (GTK_LABEL (detail), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (detail, "dim-label");
  gtk_widget_add_css_class (detail, "caption");
  gtk_box_append (GTK_BOX (texts), name);
  gtk_box_append (GTK_BOX (texts), detail);
  gtk_box_append (GTK_BOX (row), texts);

  gtk_widget_add_css_class (stale, "mh-badge");
  gtk_widget_add_css_class (stale, "mh-badge-warning");
  gtk_widget_set_valign (stale, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (row), stale);
  gtk_widget_add_css_class (fallback, "mh-badge");
  gtk_widget_set_valign (fallback, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (row), fallback);

  gtk_label_set_width_chars (GTK_LABEL (free_beds), 8);
  gtk_label_set_xalign (GTK_LABEL (free_beds), 1);
  gtk_widget_add_css_class (free_beds, "numeric");
  gtk_box_append (GTK_BOX (row), free_beds);
  gtk_label_set_width_chars (GTK_LABEL (distance), 8);
  gtk_label_set_xalign (GTK_LABEL (distance), 1);
  gtk_widget_add_css_class (distance, "numeric");
  gtk_widget_add_css_class (distance, "heading");
  gtk_box_append (GTK_BOX (row), distance);

  g_object_set_data (G_OBJECT (row), "rank", rank);
  g_object_set_data (G_OBJECT (row), "name", name);
  g_object_set_data (G_OBJECT (row), "detail", detail);
  g_object_set_data (G_OBJECT (row), "stale", stale);
  g_object_set_data (G_OBJECT (row), "fallback", fallback);
  g_object_set_data (G_OBJECT (row), "free", free_beds);
  /* A crew announces its patient from here (win.announce-to: disabled on
   * a desk, so the button is insensitive there). */
  announce = gtk_button_new_with_label (_("Announce"));
  gtk_widget_set_valign (announce, GTK_ALIGN_CENTER);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (announce), "s", "");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (announce), "win.announce-to");
  gtk_box_append (GTK_BOX (row), announce);
  g_object_set_data (G_OBJECT (row), "distance", distance);
  g_object_set_data (G_OBJECT (row), "announce", announce);
  gtk_list_item_set_child (item, row);
}

static void
item_bind_cb (GtkSignalListItemFactory *factory, GtkListItem *item, MhFindView *self)
{
  GtkWidget *row = gtk_list_item_get_child (item);
  guint position = gtk_list_item_get_position (item);
  JsonObject *result;
  const char *phone;
  g_autofree char *free_text = NULL;
  g_autofree char *distance_text = NULL;
  g_autofree char *detail = NULL;
  g_autofree char *accessible = NULL;
  g_autofree char *rank = NULL;
  gint64 free_beds;
  gboolean fallback;

  if (self->results == NULL || position >= json_array_get_length (self->results))
    return;
  result = json_array_get_object_element (self->results, position);
  free_beds = json_object_get_int_member_with_default (result, "free_beds", 0);
  fallback = json_object_get_boolean_member_with_default (result, "fallback", FALSE);
  rank = g_strdup_printf ("%u", position + 1);
  gtk_label_set_text (g_object_get_data (G_OBJECT (row), "rank"), rank);
  if (fallback)
    gtk_widget_add_css_class (g_object_get_data (G_OBJECT (row), "rank"), "mh-fallback-rank");
  else
    gtk_widget_remove_css_class (g_object_get_data (G_OBJECT (row), "rank"), "mh-fallback-rank");

  gtk_label_set_text (g_object_get_data (G_OBJECT (row), "name"),
                      mh_json_get_string (result, "name"));
  free_text = g_strdup_printf (ngettext ("%d free", "%d free", (gulong) free_beds),
                               (int) free_beds);
  gtk_label_set_text (g_object_get_data (G_OBJECT (row), "free"), free_text);
  /* TRANSLATORS: a distance in kilometres */
  distance_text = g_strdup_printf (_("%.1f km"),
                                   json_object_get_double_member_with_default (result,
                                                                               "distance_m", 0)
                                     / 1000.0);
  gtk_label_set_text (g_object_get_data (G_OBJECT (row), "distance"), distance_text);

  phone = mh_json_get_string (result, "phone_emergency");
  if (phone == NULL)
    phone = mh_json_get_string (result, "phone_switchboard");
  detail = g_strdup_printf ("%s%s%s", mh_label_for (mh_json_get_string (result, "ems_traffic")),
                            phone != NULL ? " · " : "", phone != NULL ? phone : "");
  gtk_label_set_text (g_object_get_data (G_OBJECT (row), "detail"), detail);
  gtk_widget_set_visible (g_object_get_data (G_OBJECT (row), "stale"),
                          json_object_get_boolean_member_with_default (result, "stale", FALSE));
  gtk_widget_set_visible (g_object_get_data (G_OBJECT (row), "fallback"), fallback);
  /* TRANSLATORS: a Find hospital result: rank, name, distance, free beds */
  accessible = g_strdup_printf (_("%s. %s, %s, %s"), rank, mh_json_get_string (result, "name"),
                                distance_text, free_text);
  {
    GtkWidget *announce = g_object_get_data (G_OBJECT (row), "announce");
    g_autofree char *announce_name = g_strdup_printf (_("Announce to %s"),
                                                      mh_json_get_string (result, "name"));

    /* Only a crew announces; a desk needs the width for the names. */
    gtk_widget_set_visible (announce, self->node != NULL
                                        && mh_node_get_role (self->node) == MH_ROLE_AMBULANCE);
    gtk_actionable_set_action_target (GTK_ACTIONABLE (announce), "s",
                                      mh_json_get_string (result, "id") ?: "");
    gtk_accessible_update_property (GTK_ACCESSIBLE (announce), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                    announce_name, -1);
  }
  gtk_accessible_update_property (GTK_ACCESSIBLE (row), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible,
                                  -1);
}

static void
list_activated_cb (MhFindView *self, guint position, GtkListView *list_view)
{
  const char *id;

  if (self->results == NULL || position >= json_array_get_length (self->results))
    return;
  id = mh_json_get_string (json_array_get_object_element (self->results, position), "id");
  if (id != NULL)
    g_signal_emit (self, signals[HOSPITAL_ACTIVATED], 0, id);
}

/* The results the map marks follow the list: one notification a search. */
static void
set_results (MhFindView *self, JsonArray *results)
{
  guint n = results != NULL ? json_array_get_length (results) : 0;
  g_autofree char *text = NULL;

  g_clear_pointer (&self->results, json_array_unref);
  if (results != NULL)
    self->results = json_array_ref (results);
  /* TRANSLATORS: above Find hospital's results, their count */
  text = g_strdup_printf (ngettext ("%u hospital", "%u hospitals", n), n);
  gtk_label_set_text (self->count_label, text);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "find.show-on-map", n > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "find.clear", results != NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RESULTS]);
}

void
mh_find_view_run (MhFindView *self)
{
  g_autoptr (JsonArray) results = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) ids = NULL;
  gboolean fallback = FALSE;
  guint n_old;

  g_return_if_fail (MH_IS_FIND_VIEW (self));

  g_clear_handle_id (&self->rerun_id, g_source_remove);
  if (self->node == NULL)
    return;
  self->has_run = TRUE;

  results = mh_node_nearest_hospitals (self->node, self->lat, self->lon,
                                       selected_specialty (self), selected_category (self),
                                       RESULT_LIMIT, &error);
  n_old = g_list_model_get_n_items (G_LIST_MODEL (self->ids));
  if (results == NULL)
    {
      set_results (self, NULL);
      gtk_string_list_splice (self->ids, 0, n_old, NULL);
      adw_status_page_set_title (self->empty_page, _("Search Failed"));
      adw_status_page_set_description (self->empty_page, error->message);
      gtk_stack_set_visible_child_name (self->results_stack, "empty");
      gtk_revealer_set_reveal_child (self->fallback_revealer, FALSE);
      return;
    }

  /* Before the list: the rows bind to these results. */
  g_clear_pointer (&self->results, json_array_unref);
  self->results = json_array_ref (results);
  ids = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (results); i++)
    {
      JsonObject *r = json_array_get_object_element (results, i);

      g_ptr_array_add (ids, (gpointer) (mh_json_get_string (r, "id") ?: ""));
      if (json_object_get_boolean_member_with_default (r, "fallback", FALSE))
        fallback = TRUE;
    }
  g_ptr_array_add (ids, NULL);
  gtk_string_list_splice (self->ids, 0, n_old, (const char *const *) ids->pdata);
  set_results (self, results);

  gtk_revealer_set_reveal_child (self->fallback_revealer, fallback);
  if (json_array_get_length (results) == 0)
    {
      adw_status_page_set_title (self->empty_page, _("No Hospital Found"));
      adw_status_page_set_description (self->empty_page,
                                       _("No hospital with a free bed accepts ambulances."));
      gtk_stack_set_visible_child_name (self->results_stack, "empty");
    }
  else
    gtk_stack_set_visible_child_name (self->results_stack, "results");
}

static gboolean
rerun_idle_cb (gpointer user_data)
{
  MhFindView *self = user_data;

  self->rerun_id = 0;
  mh_find_view_run (self);
  return G_SOURCE_REMOVE;
}

static void
queue_rerun (MhFindView *self)
{
  if (self->has_run && self->rerun_id == 0)
    self->rerun_id = g_idle_add (rerun_idle_cb, self);
}

static void
store_changed_cb (MhFindView *self, const char *table, const char *row, MhStore *store)
{
  queue_rerun (self);
}

static void
query_changed_cb (MhFindView *self)
{
  const char *category;

  if (self->syncing)
    return;
  category = selected_category (self);
  self->syncing = TRUE;
  g_settings_set_uint (self->settings, "specialty", selected_specialty (self));
  g_settings_set_string (self->settings, "bed-category", category != NULL ? category : "");
  self->syncing = FALSE;
  queue_rerun (self);
}

static void
load_query_from_settings (MhFindView *self)
{
  g_autofree char *category = g_settings_get_string (self->settings, "bed-category");
  guint specialty = g_settings_get_uint (self->settings, "specialty");
  int index;

  if (self->syncing)
    return;
  self->syncing = TRUE;
  adw_combo_row_set_selected (self->specialty_row, specialty <= mh_specialty_count () ? specialty : 0);
  index = mh_value_index (mh_bed_categories (), category);
  adw_combo_row_set_selected (self->category_row, index >= 0 ? (guint) index + 1 : 0);
  self->syncing = FALSE;
}

static void
run_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  mh_find_view_run (MH_FIND_VIEW (widget));
}

static void
show_on_map_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhFindView *self = MH_FIND_VIEW (widget);

  if (self->results != NULL && json_array_get_length (self->results) > 0)
    g_signal_emit (self, signals[SHOW_RESULTS], 0);
}

static void
clear_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  mh_find_view_clear (MH_FIND_VIEW (widget));
}

static void
mh_find_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MhFindView *self = MH_FIND_VIEW (object);

  switch (prop_id)
    {
    case PROP_RESULTS:
      g_value_set_boxed (value, self->results);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_find_view_dispose (GObject *object)
{
  MhFindView *self = MH_FIND_VIEW (object);

  g_clear_handle_id (&self->rerun_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), MH_TYPE_FIND_VIEW);
  G_OBJECT_CLASS (mh_find_view_parent_class)->dispose (object);
}

static void
mh_find_view_finalize (GObject *object)
{
  MhFindView *self = MH_FIND_VIEW (object);

  g_clear_object (&self->node);
  g_clear_object (&self->settings);
  g_clear_object (&self->ids);
  g_clear_pointer (&self->results, json_array_unref);
  g_clear_pointer (&self->origin, g_free);
  G_OBJECT_CLASS (mh_find_view_parent_class)->finalize (object);
}

static void
mh_find_view_class_init (MhFindViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_find_view_dispose;
  object_class->finalize = mh_find_view_finalize;
  object_class->get_property = mh_find_view_get_property;

  /**
   * MhFindView:results:
   *
   * The results shown, in rank order (objects of
   * mh_node_nearest_hospitals), or NULL before a search and once cleared.
   * A new array at each search: the map observes it.
   */
  properties[PROP_RESULTS] = g_param_spec_boxed ("results", NULL, NULL, JSON_TYPE_ARRAY,
                                                 G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY
                                                   | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MhFindView::hospital-activated:
   * @hospital_id: the hospital chosen in the results
   */
  signals[HOSPITAL_ACTIVATED] = g_signal_new ("hospital-activated", G_TYPE_FROM_CLASS (klass),
                                              G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                              1, G_TYPE_STRING);
  /**
   * MhFindView::show-results:
   *
   * The user asked to see the whole set of results on the map.
   */
  signals[SHOW_RESULTS] = g_signal_new ("show-results", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/com/medhead/Emergency/mh-find-view.ui");
  gtk_widget_class_bind_template_child (widget_class, MhFindView, box);
  gtk_widget_class_bind_template_child (widget_class, MhFindView, specialty_row);
  gtk_widget_class_bind_template_child (widget_class, MhFindView, category_row);
  gtk_widget_class_bind_template_child (widget_class, MhFindView, position_row);
  gtk_widget_class_bind_template_child (widget_class, MhFindView, fallback_revealer);
  gtk_widget_class_bind_template_child (widget_class, MhFindView, results_stack);
  gtk_widget_class_bind_template_child (widget_class, MhFindView, empty_page);
  gtk_widget_class_bind_template_child (widget_class, MhFindView, list_view);
  gtk_widget_class_bind_template_child (widget_class, MhFindView, count_label);

  gtk_widget_class_install_action (widget_class, "find.run", NULL, run_action);
  gtk_widget_class_install_action (widget_class, "find.show-on-map", NULL, show_on_map_action);
  gtk_widget_class_install_action (widget_class, "find.clear", NULL, clear_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK, "find.run",
                                       NULL);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
mh_find_view_init (MhFindView *self)
{
  g_autoptr (GtkStringList) specialties = gtk_string_list_new (NULL);
  g_autoptr (GtkStringList) categories = gtk_string_list_new (NULL);
  g_autoptr (GtkListItemFactory) factory = gtk_signal_list_item_factory_new ();
  g_autoptr (GtkNoSelection) selection = NULL;
  const char *const *bed_categories = mh_bed_categories ();

  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = mh_settings_new ();
  self->ids = gtk_string_list_new (NULL);
  self->lat = 48.8566;
  self->lon = 2.3522;

  gtk_string_list_append (specialties, _("Any specialty"));
  for (guint i = 1; i <= mh_specialty_count (); i++)
    gtk_string_list_append (specialties, mh_specialty_label (i));
  adw_combo_row_set_model (self->specialty_row, G_LIST_MODEL (specialties));

  gtk_string_list_append (categories, _("Any bed category"));
  for (guint i = 0; bed_categories[i] != NULL; i++)
    gtk_string_list_append (categories, mh_label_for (bed_categories[i]));
  adw_combo_row_set_model (self->category_row, G_LIST_MODEL (categories));

  g_signal_connect (factory, "setup", G_CALLBACK (item_setup_cb), self);
  g_signal_connect (factory, "bind", G_CALLBACK (item_bind_cb), self);
  gtk_list_view_set_factory (self->list_view, factory);
  selection = gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->ids)));
  gtk_list_view_set_model (self->list_view, GTK_SELECTION_MODEL (selection));
  g_signal_connect_object (self->list_view, "activate", G_CALLBACK (list_activated_cb), self,
                           G_CONNECT_SWAPPED);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "find.show-on-map", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "find.clear", FALSE);
  load_query_from_settings (self);
  update_position_row (self);
  g_signal_connect_object (self->specialty_row, "notify::selected",
                           G_CALLBACK (query_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->category_row, "notify::selected", G_CALLBACK (query_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed", G_CALLBACK (load_query_from_settings), self,
                           G_CONNECT_SWAPPED);
}

void
mh_find_view_set_node (MhFindView *self, MhNode *node)
{
  MhStore *store;

  g_return_if_fail (MH_IS_FIND_VIEW (self));
  g_return_if_fail (MH_IS_NODE (node));
  g_return_if_fail (self->node == NULL);

  self->node = g_object_ref (node);
  store = mh_node_get_store (node);
  g_signal_connect_object (store, "changed::beds", G_CALLBACK (store_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (store, "changed::hospital_status", G_CALLBACK (store_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (store, "changed::hospital", G_CALLBACK (store_changed_cb), self,
                           G_CONNECT_SWAPPED);
}

void
mh_find_view_set_position (MhFindView *self, double lat, double lon, const char *origin)
{
  g_return_if_fail (MH_IS_FIND_VIEW (self));

  self->lat = lat;
  self->lon = lon;
  g_free (self->origin);
  self->origin = g_strdup (origin);
  update_position_row (self);
}

/* Returns the origin of the point (translated), NULL when none is set. */
const char *
mh_find_view_get_position (MhFindView *self, double *lat, double *lon)
{
  g_return_val_if_fail (MH_IS_FIND_VIEW (self), NULL);

  if (lat != NULL)
    *lat = self->lat;
  if (lon != NULL)
    *lon = self->lon;
  return self->origin;
}

void
mh_find_view_set_query (MhFindView *self, guint specialty, const char *category)
{
  int index;

  g_return_if_fail (MH_IS_FIND_VIEW (self));
  g_return_if_fail (specialty <= mh_specialty_count ());

  adw_combo_row_set_selected (self->specialty_row, specialty);
  index = category != NULL ? mh_value_index (mh_bed_categories (), category) : -1;
  adw_combo_row_set_selected (self->category_row, index >= 0 ? (guint) index + 1 : 0);
}

JsonArray *
mh_find_view_get_results (MhFindView *self)
{
  g_return_val_if_fail (MH_IS_FIND_VIEW (self), NULL);
  return self->results;
}

gboolean
mh_find_view_get_fallback (MhFindView *self)
{
  g_return_val_if_fail (MH_IS_FIND_VIEW (self), FALSE);
  return gtk_revealer_get_reveal_child (self->fallback_revealer);
}

/* Forgets the results: the list empties and the map drops its marks. */
void
mh_find_view_clear (MhFindView *self)
{
  g_return_if_fail (MH_IS_FIND_VIEW (self));

  g_clear_handle_id (&self->rerun_id, g_source_remove);
  self->has_run = FALSE;
  gtk_string_list_splice (self->ids, 0, g_list_model_get_n_items (G_LIST_MODEL (self->ids)), NULL);
  set_results (self, NULL);
  gtk_revealer_set_reveal_child (self->fallback_revealer, FALSE);
  adw_status_page_set_title (self->empty_page, _("No Results"));
  adw_status_page_set_description (self->empty_page, NULL);
  gtk_stack_set_visible_child_name (self->results_stack, "empty");
}

/* mh-dispatch-view.c: the regional board (hub) and the crew's assignment
 *
 * A hub sees the open incidents and its units by status, reports an
 * incident in a few keystrokes and assigns the nearest suitable unit. A
 * crew sees what it was assigned and answers: accept or decline, then on
 * scene, then cleared.
 */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-dispatch.h"
#include "mh-dispatch-view.h"
#include "mh-json.h"
#include "mh-labels.h"
#include "mh-medhead-validate.h"

struct _MhDispatchView
{
  GtkWidget parent_instance;

  /* Template Widgets */
  GtkWidget *box;
  GtkLabel *incidents_title;
  GtkWidget *new_button;
  GtkListBox *incident_list;
  GtkWidget *units_box;
  GtkListBox *unit_list;
  GtkStack *detail_stack;
  AdwStatusPage *empty_page;
  AdwComboRow *nature_row;
  AdwComboRow *priority_row;
  GtkGrid *skills_box;
  AdwEntryRow *lat_row;
  AdwEntryRow *lon_row;
  AdwEntryRow *text_row;
  GtkLabel *form_message;
  AdwPreferencesGroup *incident_group;
  AdwActionRow *location_row;
  AdwActionRow *state_row;
  AdwActionRow *skills_row;
  GtkLabel *incident_message;
  GtkWidget *crew_buttons;
  AdwPreferencesGroup *candidates_group;
  GtkListBox *candidate_list;
  GtkWidget *hub_buttons;

  /* Owned References */
  MhNode *node;
  JsonObject *incident; /* the one shown, or NULL */
  char *selected_id;
  GPtrArray *skill_toggles; /* GtkToggleButton, in mh_medhead_capabilities() order */
  guint refresh_id;
  guint n_units;
  GHashTable *awaiting; /* unit ids assigned an incident not answered yet */
  gboolean has_position;
  double lat, lon;
  gboolean rebuilding; /* the lists are made again: selections are not the user's */
};

G_DEFINE_FINAL_TYPE (MhDispatchView, mh_dispatch_view, GTK_TYPE_WIDGET)

enum
{
  SHOW_LOCATION,
  FIND_HOSPITAL,
  ANSWERED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* docs/api.md, Dispatch: the patient alert values, in that order. */
static const char *const nature_values[] = { "stemi", "stroke", "sepsis", "trauma", "other", NULL };
static const char *const priority_values[] = { "immediate", "urgent", "routine", NULL };
/* Enough to choose from on a region's board. */
#define CANDIDATE_LIMIT 8

const char *
mh_priority_label (const char *priority)
{
  if (g_strcmp0 (priority, "immediate") == 0)
    return _("Immediate");
  if (g_strcmp0 (priority, "urgent") == 0)
    return _("Urgent");
  if (g_strcmp0 (priority, "routine") == 0)
    return _("Routine");
  return priority != NULL ? priority : "";
}

const char *
mh_skill_label (const char *skill)
{
  static const struct
  {
    const char *value;
    const char *label;
  } skills[] = {
    { "als", N_("ALS") },
    { "bls", N_("BLS") },
    { "paediatric", N_("Paediatric") },
    { "bariatric", N_("Bariatric") },
    { "hazmat", N_("Hazmat") },
    { "neonatal", N_("Neonatal") },
    { "psychiatric", N_("Psychiatric") },
    { "air", N_("Air") },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (skills); i++)
    if (g_strcmp0 (skills[i].value, skill) == 0)
      return _(skills[i].label);
  return skill != NULL ? skill : "";
}

const char *
mh_incident_state_label (const char *state)
{
  if (g_strcmp0 (state, "open") == 0)
    return C_("incident", "Open");
  if (g_strcmp0 (state, "assigned") == 0)
    return C_("incident", "Assigned");
  if (g_strcmp0 (state, "closed") == 0)
    return C_("incident", "Closed");
  if (g_strcmp0 (state, "cancelled") == 0)
    return C_("incident", "Cancelled");
  return state != NULL ? state : "";
}

const char *
mh_incident_answer_label (const char *answer)
{
  if (g_strcmp0 (answer, "accepted") == 0)
    return C_("incident", "Accepted");
  if (g_strcmp0 (answer, "declined") == 0)
    return C_("incident", "Declined");
  if (g_strcmp0 (answer, "on_scene") == 0)
    return C_("incident", "On scene");
  if (g_strcmp0 (answer, "cleared") == 0)
    return C_("incident", "Cleared");
  return C_("incident", "Not answered yet");
}

static gboolean
is_crew (MhDispatchView *self)
{
  return self->node != NULL && mh_node_get_role (self->node) == MH_ROLE_AMBULANCE;
}

JsonObject *
mh_dispatch_active_incident (MhNode *node)
{
  const char *unit_id = mh_node_get_unit_id (node);
  g_autoptr (JsonArray) incidents = NULL;

  if (unit_id == NULL)
    return NULL;
  incidents = mh_node_list_incidents (node, NULL);
  if (incidents == NULL)
    return NULL;
  for (guint i = 0; i < json_array_get_length (incidents); i++)
    {
      JsonObject *incident = json_array_get_object_element (incidents, i);
      const char *answer = mh_json_get_string (incident, "answer");

      if (g_strcmp0 (mh_json_get_string (incident, "state"), "assigned") == 0
          && g_strcmp0 (mh_json_get_string (incident, "unit_id"), unit_id) == 0
          && (g_strcmp0 (answer, "accepted") == 0 || g_strcmp0 (answer, "on_scene") == 0))
        return json_object_ref (incident);
    }
  return NULL;
}

/* What the board lists: a hub's open and assigned incidents; a crew's
 * assignments and its own reports not yet assigned. */
static gboolean
is_listed (MhDispatchView *self, JsonObject *incident)
{
  const char *state = mh_json_get_string (incident, "state");

  if (g_strcmp0 (state, "open") != 0 && g_strcmp0 (state, "assigned") != 0)
    return FALSE;
  if (!is_crew (self))
    return TRUE;
  if (g_strcmp0 (mh_json_get_string (incident, "unit_id"), mh_node_get_unit_id (self->node)) == 0)
    return g_strcmp0 (mh_json_get_string (incident, "answer"), "declined") != 0
           && g_strcmp0 (mh_json_get_string (incident, "answer"), "cleared") != 0;
  return g_strcmp0 (state, "open") == 0
         && g_strcmp0 (mh_json_get_string (incident, "created_by"),
                       mh_node_get_site_id (self->node))
              == 0;
}

static char *
age_text (MhDispatchView *self, gint64 at_ms)
{
  gint64 minutes = MAX (0, (mh_node_now_ms (self->node) - at_ms) / 60000);

  if (minutes < 1)
    return g_strdup (_("just now"));
  if (minutes < 120)
    return g_strdup_printf (ngettext ("%d min ago", "%d min ago", (gulong) minutes),
                            (int) minutes);
  return g_strdup_printf (ngettext ("%d h ago", "%d h ago", (gulong) (minutes / 60)),
                          (int) (minutes / 60));
}

static char *
incident_title (JsonObject *incident)
{
  const char *text = mh_json_get_string (incident, "nature_text");

  if (text != NULL && text[0] != '\0')
    /* TRANSLATORS: an incident: its nature — the caller's words */
    return g_strdup_printf (_("%s — %s"), mh_alert_label (mh_json_get_string (incident, "nature")),
                            text);
  return g_strdup (mh_alert_label (mh_json_get_string (incident, "nature")));
}

static char *
skills_text (JsonObject *object, const char *member)
{
  g_autoptr (GString) text = g_string_new (NULL);
  JsonArray *skills = NULL;

  if (json_object_has_member (object, member)
      && JSON_NODE_HOLDS_ARRAY (json_object_get_member (object, member)))
    skills = json_object_get_array_member (object, member);
  for (guint i = 0; skills != NULL && i < json_array_get_length (skills); i++)
    {
      if (text->len > 0)
        g_string_append (text, ", ");
      g_string_append (text, mh_skill_label (json_array_get_string_element (skills, i)));
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
show_message (GtkLabel *label, const char *message)
{
  gtk_label_set_text (label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (label), message != NULL);
}

static GtkWidget *
make_incident_row (MhDispatchView *self, JsonObject *incident)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 9);
  GtkWidget *texts = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  const char *priority = mh_json_get_string (incident, "priority");
  GtkWidget *badge = gtk_label_new (mh_priority_label (priority));
  g_autofree char *title = incident_title (incident);
  g_autofree char *age = age_text (self, json_object_get_int_member_with_default (incident,
                                                                               "created_at", 0));
  g_autofree char *priority_class = g_strdup_printf ("mh-priority-%s", priority ?: "");
  g_autofree char *detail = NULL;
  g_autofree char *accessible = NULL;
  const char *call_sign = mh_json_get_string (incident, "call_sign");
  GtkWidget *title_label = gtk_label_new (title);
  GtkWidget *detail_label;

  if (call_sign != NULL && g_strcmp0 (mh_json_get_string (incident, "state"), "assigned") == 0)
    /* TRANSLATORS: age · state, call sign · the crew's answer */
    detail = g_strdup_printf (_("%s · %s %s · %s"), age,
                              mh_incident_state_label (mh_json_get_string (incident, "state")),
                              call_sign,
                              mh_incident_answer_label (mh_json_get_string (incident, "answer")));
  else
    /* TRANSLATORS: age · state */
    detail = g_strdup_printf (_("%s · %s"), age,
                              mh_incident_state_label (mh_json_get_string (incident, "state")));

  gtk_widget_add_css_class (badge, "mh-badge");
  gtk_widget_add_css_class (badge, priority_class);
  gtk_widget_set_valign (badge, GTK_ALIGN_CENTER);
  gtk_label_set_width_chars (GTK_LABEL (badge), 10);
  gtk_box_append (GTK_BOX (box), badge);

  gtk_widget_set_hexpand (texts, TRUE);
  gtk_label_set_xalign (GTK_LABEL (title_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (title_label), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (title_label, "heading");
  detail_label = gtk_label_new (detail);
  gtk_label_set_xalign (GTK_LABEL (detail_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (detail_label), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (detail_label, "dim-label");
  gtk_widget_add_css_class (detail_label, "caption");
  gtk_box_append (GTK_BOX (texts), title_label);
  gtk_box_append (GTK_BOX (texts), detail_label);
  gtk_box_append (GTK_BOX (box), texts);
  gtk_widget_set_margin_top (box, 3);
  gtk_widget_set_margin_bottom (box, 3);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);

  accessible = g_strdup_printf ("%s, %s, %s", mh_priority_label (priority), title, detail);
  gtk_accessible_update_property (GTK_ACCESSIBLE (row), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible,
                                  -1);
  g_object_set_data_full (G_OBJECT (row), "incident-id",
                          g_strdup (mh_json_get_string (incident, "id")), g_free);
  return row;
}

static int
status_rank (const char *status)
{
  static const char *const order[] = { "available", "dispatched", "en_route", "on_scene",
                                       "transporting", "at_hospital", "out_of_service" };

  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    if (g_strcmp0 (order[i], status) == 0)
      return i;
  return G_N_ELEMENTS (order);
}

static int
compare_units (gconstpointer a, gconstpointer b)
{
  JsonObject *ua = *(JsonObject **) a;
  JsonObject *ub = *(JsonObject **) b;
  int ra = status_rank (mh_json_get_string (ua, "status"));
  int rb = status_rank (mh_json_get_string (ub, "status"));

  if (ra != rb)
    return ra - rb;
  return g_strcmp0 (mh_json_get_string (ua, "call_sign"), mh_json_get_string (ub, "call_sign"));
}

static void
refresh_units (MhDispatchView *self)
{
  g_autoptr (JsonArray) units = NULL;
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  GtkWidget *child;

  /* By rows: the placeholder is a child too. */
  while ((child = GTK_WIDGET (gtk_list_box_get_row_at_index (self->unit_list, 0))) != NULL)
    gtk_list_box_remove (self->unit_list, child);
  self->n_units = 0;
  units = mh_node_list_units (self->node, &error);
  if (units == NULL)
    {
      g_warning ("listing units: %s", error->message);
      return;
    }
  for (guint i = 0; i < json_array_get_length (units); i++)
    {
      JsonObject *unit = json_array_get_object_element (units, i);

      if (mh_json_get_string (unit, "call_sign") != NULL)
        g_ptr_array_add (sorted, unit);
    }
  g_ptr_array_sort (sorted, compare_units);
  for (guint i = 0; i < sorted->len; i++)
    {
      JsonObject *unit = g_ptr_array_index (sorted, i);
      const char *status = mh_json_get_string (unit, "status");
      GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 9);
      GtkWidget *call_sign = gtk_label_new (mh_json_get_string (unit, "call_sign"));
      GtkWidget *skills;
      GtkWidget *status_label;
      g_autofree char *skills_str = skills_text (unit, "capabilities");
      g_autofree char *status_class = g_strdup_printf ("mh-status-%s", status ?: "none");

      gtk_widget_add_css_class (call_sign, "heading");
      gtk_label_set_xalign (GTK_LABEL (call_sign), 0);
      gtk_label_set_width_chars (GTK_LABEL (call_sign), 10);
      gtk_box_append (GTK_BOX (row), call_sign);
      skills = gtk_label_new (skills_str);
      gtk_label_set_xalign (GTK_LABEL (skills), 0);
      gtk_label_set_ellipsize (GTK_LABEL (skills), PANGO_ELLIPSIZE_END);
      gtk_widget_set_hexpand (skills, TRUE);
      gtk_widget_add_css_class (skills, "dim-label");
      gtk_widget_add_css_class (skills, "caption");
      gtk_box_append (GTK_BOX (row), skills);
      if (g_strcmp0 (status, "available") == 0
          && g_hash_table_contains (self->awaiting, mh_json_get_string (unit, "id")))
        {
          status_label = gtk_label_new (_("Awaiting answer"));
          g_free (status_class);
          status_class = g_strdup ("mh-badge-warning");
        }
      else
        status_label = gtk_label_new (status != NULL ? mh_label_for (status) : _("No status"));
      gtk_widget_add_css_class (status_label, "mh-badge");
      gtk_widget_add_css_class (status_label, status_class);
      gtk_widget_set_valign (status_label, GTK_ALIGN_CENTER);
      gtk_box_append (GTK_BOX (row), status_label);
      gtk_list_box_append (self->unit_list, row);
      self->n_units++;
    }
}

static GtkWidget *
make_candidate_row (MhDispatchView *self, JsonObject *candidate, gboolean fallback)
{
  GtkWidget *row = adw_action_row_new ();
  g_autofree char *distance = NULL;
  g_autofree char *subtitle = NULL;
  g_autofree char *missing = skills_text (candidate, "missing_skills");
  g_autofree char *age = NULL;
  g_autofree char *where = NULL;
  GtkWidget *distance_label;

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), mh_json_get_string (candidate,
                                                                                "call_sign"));
  if (json_object_has_member (candidate, "position_age_s")
      && !json_object_get_null_member (candidate, "position_age_s"))
    {
      gint64 age_s = json_object_get_int_member (candidate, "position_age_s");

      age = age_s < 60 ? g_strdup (_("position just now"))
                       : g_strdup_printf (ngettext ("position %d min old",
                                                    "position %d min old",
                                                    (gulong) (age_s / 60)),
                                          (int) (age_s / 60));
    }
  else
    age = g_strdup (_("no known position"));
  if (fallback && missing[0] != '\0')
    /* TRANSLATORS: type · position age · lacks: skills */
    subtitle = g_strdup_printf (_("%s · %s · lacks %s"),
                                mh_json_get_string (candidate, "type") ?: "", age, missing);
  else
    subtitle = g_strdup_printf (_("%s · %s"), mh_json_get_string (candidate, "type") ?: "", age);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);

  if (json_object_get_boolean_member_with_default (candidate, "stale", FALSE))
    {
      GtkWidget *stale = gtk_label_new (_("stale"));

      gtk_widget_add_css_class (stale, "mh-badge");
      gtk_widget_add_css_class (stale, "mh-badge-warning");
      gtk_widget_set_valign (stale, GTK_ALIGN_CENTER);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), stale);
    }
  if (g_hash_table_contains (self->awaiting, mh_json_get_string (candidate, "unit_id") ?: ""))
    {
      GtkWidget *busy = gtk_label_new (_("awaiting answer"));

      gtk_widget_add_css_class (busy, "mh-badge");
      gtk_widget_add_css_class (busy, "mh-badge-warning");
      gtk_widget_set_valign (busy, GTK_ALIGN_CENTER);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), busy);
    }
  if (fallback)
    {
      GtkWidget *badge = gtk_label_new (_("fallback"));

      gtk_widget_add_css_class (badge, "mh-badge");
      gtk_widget_set_valign (badge, GTK_ALIGN_CENTER);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), badge);
    }
  if (json_object_has_member (candidate, "distance_m")
      && !json_object_get_null_member (candidate, "distance_m"))
    /* TRANSLATORS: a distance in kilometres */
    distance = g_strdup_printf (_("%.1f km"),
                                json_object_get_double_member (candidate, "distance_m") / 1000.0);
  else
    distance = g_strdup ("—");
  distance_label = gtk_label_new (distance);
  gtk_widget_add_css_class (distance_label, "numeric");
  gtk_widget_add_css_class (distance_label, "heading");
  gtk_label_set_width_chars (GTK_LABEL (distance_label), 8);
  gtk_label_set_xalign (GTK_LABEL (distance_label), 1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), distance_label);

  where = g_strdup_printf ("%s, %s, %s", mh_json_get_string (candidate, "call_sign"), distance,
                           subtitle);
  gtk_accessible_update_property (GTK_ACCESSIBLE (row), GTK_ACCESSIBLE_PROPERTY_LABEL, where, -1);
  g_object_set_data_full (G_OBJECT (row), "unit-id",
                          g_strdup (mh_json_get_string (candidate, "unit_id")), g_free);
  g_object_set_data_full (G_OBJECT (row), "call-sign",
                          g_strdup (mh_json_get_string (candidate, "call_sign")), g_free);
  return row;
}

static void
refresh_candidates (MhDispatchView *self)
{
  g_autoptr (JsonObject) result = NULL;
  g_autoptr (GError) error = NULL;
  GtkWidget *child;
  GtkListBoxRow *first;
  const char *lists[] = { "candidates", "fallback" };

  /* By rows: the placeholder is a child too. */
  while ((child = GTK_WIDGET (gtk_list_box_get_row_at_index (self->candidate_list, 0))) != NULL)
    gtk_list_box_remove (self->candidate_list, child);
  if (self->incident == NULL)
    return;
  result = mh_node_incident_candidates (self->node, self->selected_id, CANDIDATE_LIMIT, &error);
  if (result == NULL)
    {
      show_message (self->incident_message, error->message);
      return;
    }
  for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
    {
      JsonArray *array;

      if (!json_object_has_member (result, lists[l]))
        continue;
      array = json_object_get_array_member (result, lists[l]);
      for (guint i = 0; i < json_array_get_length (array); i++)
        gtk_list_box_append (self->candidate_list,
                             make_candidate_row (self, json_array_get_object_element (array, i),
                                                 l == 1));
    }
  /* The nearest suitable unit is the usual choice: Assign takes it,
   * unless another incident already waits for its answer. */
  first = gtk_list_box_get_row_at_index (self->candidate_list, 0);
  for (int i = 0; gtk_list_box_get_row_at_index (self->candidate_list, i) != NULL; i++)
    {
      GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->candidate_list, i);

      const char *unit_id = g_object_get_data (G_OBJECT (row), "unit-id");

      if (unit_id != NULL && !g_hash_table_contains (self->awaiting, unit_id))
        {
          first = row;
          break;
        }
    }
  if (first != NULL)
    gtk_list_box_select_row (self->candidate_list, first);
}

static void
update_actions (MhDispatchView *self)
{
  const char *state = self->incident != NULL ? mh_json_get_string (self->incident, "state") : NULL;
  const char *answer = self->incident != NULL ? mh_json_get_string (self->incident, "answer")
                                              : NULL;
  gboolean active = g_strcmp0 (state, "open") == 0 || g_strcmp0 (state, "assigned") == 0;
  gboolean hub = self->node != NULL && mh_node_get_role (self->node) == MH_ROLE_HUB;
  gboolean mine = self->incident != NULL && is_crew (self)
                  && g_strcmp0 (state, "assigned") == 0
                  && g_strcmp0 (mh_json_get_string (self->incident, "unit_id"),
                                mh_node_get_unit_id (self->node))
                       == 0;
  GtkWidget *widget = GTK_WIDGET (self);

  gtk_widget_action_set_enabled (widget, "dispatch.assign", hub && active);
  gtk_widget_action_set_enabled (widget, "dispatch.close", hub && active);
  gtk_widget_action_set_enabled (widget, "dispatch.accept", mine && answer == NULL);
  gtk_widget_action_set_enabled (widget, "dispatch.decline", mine && answer == NULL);
  gtk_widget_action_set_enabled (widget, "dispatch.on-scene",
                                 mine && g_strcmp0 (answer, "accepted") == 0);
  gtk_widget_action_set_enabled (widget, "dispatch.clear",
                                 mine && g_strcmp0 (answer, "on_scene") == 0);
  gtk_widget_action_set_enabled (widget, "dispatch.find-hospital",
                                 mine
                                   && (g_strcmp0 (answer, "accepted") == 0
                                       || g_strcmp0 (answer, "on_scene") == 0));
  gtk_widget_action_set_enabled (widget, "dispatch.show-on-map", self->incident != NULL);

  /* A crew sees only the answers it can give now, in their order. */
  for (GtkWidget *button = gtk_widget_get_first_child (self->crew_buttons); button != NULL;
       button = gtk_widget_get_next_sibling (button))
    {
      const char *name = gtk_actionable_get_action_name (GTK_ACTIONABLE (button));
      gboolean enabled = FALSE;

      if (g_strcmp0 (name, "dispatch.accept") == 0 || g_strcmp0 (name, "dispatch.decline") == 0)
        enabled = mine && answer == NULL;
      else if (g_strcmp0 (name, "dispatch.on-scene") == 0)
        enabled = mine && g_strcmp0 (answer, "accepted") == 0;
      else if (g_strcmp0 (name, "dispatch.clear") == 0)
        enabled = mine && g_strcmp0 (answer, "on_scene") == 0;
      else if (g_strcmp0 (name, "dispatch.find-hospital") == 0)
        enabled = mine
                  && (g_strcmp0 (answer, "accepted") == 0 || g_strcmp0 (answer, "on_scene") == 0);
      gtk_widget_set_visible (button, enabled);
    }
}

/* Shows self->incident (read again) on the detail page. */
static void
show_incident (MhDispatchView *self, gboolean candidates)
{
  g_autofree char *title = NULL;
  g_autofree char *description = NULL;
  g_autofree char *age = NULL;
  g_autofree char *location = NULL;
  g_autofree char *state = NULL;
  g_autofree char *skills = NULL;
  const char *state_value;
  const char *call_sign;
  gboolean hub = mh_node_get_role (self->node) == MH_ROLE_HUB;
  gboolean active;

  title = incident_title (self->incident);
  age = age_text (self, json_object_get_int_member_with_default (self->incident, "created_at", 0));
  /* TRANSLATORS: an incident's priority · when it was reported */
  description = g_strdup_printf (_("%s · reported %s"),
                                 mh_priority_label (mh_json_get_string (self->incident,
                                                                        "priority")),
                                 age);
  adw_preferences_group_set_title (self->incident_group, title);
  adw_preferences_group_set_description (self->incident_group, description);
  /* TRANSLATORS: latitude, longitude */
  location = g_strdup_printf (_("%.5f, %.5f"),
                              json_object_get_double_member_with_default (self->incident, "lat", 0),
                              json_object_get_double_member_with_default (self->incident, "lon",
                                                                          0));
  adw_action_row_set_subtitle (self->location_row, location);
  state_value = mh_json_get_string (self->incident, "state");
  call_sign = mh_json_get_string (self->incident, "call_sign");
  if (call_sign != NULL && g_strcmp0 (state_value, "open") != 0)
    /* TRANSLATORS: state, unit call sign: the crew's answer */
    state = g_strdup_printf (_("%s, %s: %s"), mh_incident_state_label (state_value), call_sign,
                             mh_incident_answer_label (mh_json_get_string (self->incident,
                                                                           "answer")));
  else
    state = g_strdup (mh_incident_state_label (state_value));
  adw_action_row_set_subtitle (self->state_row, state);
  skills = skills_text (self->incident, "skills");
  adw_action_row_set_subtitle (self->skills_row, skills[0] != '\0' ? skills : C_("skills", "None"));

  active = g_strcmp0 (state_value, "open") == 0 || g_strcmp0 (state_value, "assigned") == 0;
  gtk_widget_set_visible (GTK_WIDGET (self->candidates_group), hub && active);
  gtk_widget_set_visible (self->hub_buttons, hub && active);
  gtk_widget_set_visible (self->crew_buttons, is_crew (self));
  update_actions (self);
  if (candidates && hub && active)
    refresh_candidates (self);
  gtk_stack_set_visible_child_name (self->detail_stack, "incident");
}

static void
select_row_for (MhDispatchView *self, const char *id)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->incident_list));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    if (g_strcmp0 (g_object_get_data (G_OBJECT (child), "incident-id"), id) == 0)
      {
        gtk_list_box_select_row (self->incident_list, GTK_LIST_BOX_ROW (child));
        return;
      }
  gtk_list_box_unselect_all (self->incident_list);
}

void
mh_dispatch_view_refresh (MhDispatchView *self)
{
  g_autoptr (JsonArray) incidents = NULL;
  g_autoptr (GError) error = NULL;
  GtkWidget *child;
  guint n = 0;

  g_return_if_fail (MH_IS_DISPATCH_VIEW (self));

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  if (self->node == NULL)
    return;

  self->rebuilding = TRUE;
  /* By rows: the placeholder is a child too. */
  while ((child = GTK_WIDGET (gtk_list_box_get_row_at_index (self->incident_list, 0))) != NULL)
    gtk_list_box_remove (self->incident_list, child);
  g_hash_table_remove_all (self->awaiting);
  incidents = mh_node_list_incidents (self->node, &error);
  if (incidents == NULL)
    g_warning ("listing incidents: %s", error->message);
  for (guint i = 0; incidents != NULL && i < json_array_get_length (incidents); i++)
    {
      JsonObject *incident = json_array_get_object_element (incidents, i);

      /* A unit stays available until its crew accepts: the hub sees it
       * already has one waiting. */
      if (g_strcmp0 (mh_json_get_string (incident, "state"), "assigned") == 0
          && mh_json_get_string (incident, "answer") == NULL
          && mh_json_get_string (incident, "unit_id") != NULL)
        g_hash_table_add (self->awaiting, g_strdup (mh_json_get_string (incident, "unit_id")));
      if (!is_listed (self, incident))
        continue;
      gtk_list_box_append (self->incident_list, make_incident_row (self, incident));
      n++;
    }
  if (!is_crew (self))
    refresh_units (self);

  /* The incident shown is read again even when no longer listed (closed):
   * its page says so. */
  g_clear_pointer (&self->incident, json_object_unref);
  /* Nothing chosen yet: the most pressing incident, at the top. */
  if (self->selected_id == NULL && n > 0)
    self->selected_id = g_strdup (g_object_get_data (
      G_OBJECT (gtk_list_box_get_row_at_index (self->incident_list, 0)), "incident-id"));
  if (self->selected_id != NULL)
    self->incident = mh_node_get_incident (self->node, self->selected_id, NULL);
  select_row_for (self, self->selected_id);
  self->rebuilding = FALSE;

  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->detail_stack), "form") == 0)
    {
      update_actions (self);
      return;
    }
  if (self->incident != NULL)
    show_incident (self, TRUE);
  else
    {
      adw_status_page_set_title (self->empty_page,
                                 n == 0 ? (is_crew (self) ? _("No Assignment")
                                                          : _("No Open Incidents"))
                                        : _("No Incident Selected"));
      adw_status_page_set_description (self->empty_page,
                                       is_crew (self)
                                         ? _("An incident the hub assigns to this unit shows here at once.")
                                         : _("Press Ctrl+N to report a new incident."));
      gtk_stack_set_visible_child_name (self->detail_stack, "empty");
      update_actions (self);
    }
}

static gboolean
refresh_idle_cb (gpointer user_data)
{
  MhDispatchView *self = user_data;

  self->refresh_id = 0;
  mh_dispatch_view_refresh (self);
  return G_SOURCE_REMOVE;
}

/* Peers catching up change many rows at once: one refresh after them. */
static void
store_changed_cb (MhDispatchView *self, const char *table, const char *row, MhStore *store)
{
  if (self->refresh_id == 0)
    self->refresh_id = g_timeout_add (100, refresh_idle_cb, self);
}

static void
incident_assigned_cb (MhDispatchView *self, const char *incident_id, MhNode *node)
{
  mh_dispatch_view_refresh (self);
  mh_dispatch_view_select (self, incident_id);
}

static void
incident_selected_cb (MhDispatchView *self, GtkListBoxRow *row, GtkListBox *list)
{
  if (self->rebuilding || row == NULL)
    return;
  mh_dispatch_view_select (self, g_object_get_data (G_OBJECT (row), "incident-id"));
}

static char *
form_text (AdwEntryRow *row)
{
  return g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));
}

/* A number typed with a decimal comma is as good as one with a point. */
static gboolean
parse_degrees (const char *text, double min, double max, double *value)
{
  g_autofree char *copy = g_strdup (text);
  char *end = NULL;

  g_strdelimit (copy, ",", '.');
  if (copy[0] == '\0')
    return FALSE;
  *value = g_ascii_strtod (copy, &end);
  return end != NULL && *end == '\0' && *value >= min && *value <= max;
}

char *
mh_dispatch_view_create (MhDispatchView *self)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (JsonArray) skills = json_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *lat_text = form_text (self->lat_row);
  g_autofree char *lon_text = form_text (self->lon_row);
  g_autofree char *text = form_text (self->text_row);
  guint nature = adw_combo_row_get_selected (self->nature_row);
  guint priority = adw_combo_row_get_selected (self->priority_row);
  char *id;
  double lat, lon;

  g_return_val_if_fail (MH_IS_DISPATCH_VIEW (self), NULL);

  if (self->node == NULL)
    return NULL;
  if (!parse_degrees (lat_text, -90, 90, &lat))
    {
      show_message (self->form_message, _("The latitude must be a number from -90 to 90."));
      gtk_widget_grab_focus (GTK_WIDGET (self->lat_row));
      return NULL;
    }
  if (!parse_degrees (lon_text, -180, 180, &lon))
    {
      show_message (self->form_message, _("The longitude must be a number from -180 to 180."));
      gtk_widget_grab_focus (GTK_WIDGET (self->lon_row));
      return NULL;
    }
  if (nature >= G_N_ELEMENTS (nature_values) - 1 || priority >= G_N_ELEMENTS (priority_values) - 1)
    {
      show_message (self->form_message, _("Choose the nature and the priority."));
      return NULL;
    }
  json_object_set_double_member (fields, "lat", lat);
  json_object_set_double_member (fields, "lon", lon);
  json_object_set_string_member (fields, "nature", nature_values[nature]);
  json_object_set_string_member (fields, "priority", priority_values[priority]);
  if (text[0] != '\0')
    json_object_set_string_member (fields, "nature_text", text);
  for (guint i = 0; i < self->skill_toggles->len; i++)
    if (gtk_toggle_button_get_active (g_ptr_array_index (self->skill_toggles, i)))
      json_array_add_string_element (skills, mh_medhead_capabilities ()[i]);
  json_object_set_array_member (fields, "skills", json_array_ref (skills));

  id = mh_node_create_incident (self->node, fields, &error);
  if (id == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("Not created: %s"), error->message);

      show_message (self->form_message, message);
      return NULL;
    }
  show_message (self->form_message, NULL);
  gtk_editable_set_text (GTK_EDITABLE (self->text_row), "");
  for (guint i = 0; i < self->skill_toggles->len; i++)
    gtk_toggle_button_set_active (g_ptr_array_index (self->skill_toggles, i), FALSE);
  /* Straight to its candidates: the next keystroke assigns. */
  gtk_stack_set_visible_child_name (self->detail_stack, "incident");
  mh_dispatch_view_refresh (self);
  mh_dispatch_view_select (self, id);
  if (gtk_list_box_get_selected_row (self->candidate_list) != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (gtk_list_box_get_selected_row (self->candidate_list)));
  return id;
}

static void
create_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_autofree char *id = mh_dispatch_view_create (MH_DISPATCH_VIEW (widget));
}

static void
entry_activated_cb (MhDispatchView *self, AdwEntryRow *row)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "dispatch.create", NULL);
}

static void
new_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  mh_dispatch_view_new_incident (MH_DISPATCH_VIEW (widget));
}

static void
discard_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhDispatchView *self = MH_DISPATCH_VIEW (widget);

  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->detail_stack), "form") != 0)
    return;
  show_message (self->form_message, NULL);
  gtk_stack_set_visible_child_name (self->detail_stack, "empty");
  mh_dispatch_view_refresh (self);
}

static const char *
selected_candidate (MhDispatchView *self)
{
  GtkListBoxRow *row = gtk_list_box_get_selected_row (self->candidate_list);

  return row != NULL ? g_object_get_data (G_OBJECT (row), "unit-id") : NULL;
}

static void
assign_unit (MhDispatchView *self, const char *unit_id)
{
  g_autoptr (GError) error = NULL;

  if (self->incident == NULL)
    return;
  if (unit_id == NULL)
    {
      show_message (self->incident_message, _("Choose a unit among the candidates first."));
      return;
    }
  if (!mh_node_assign_incident (self->node, self->selected_id, unit_id, &error))
    {
      g_autofree char *message = g_strdup_printf (_("Not assigned: %s"), error->message);

      show_message (self->incident_message, message);
      return;
    }
  show_message (self->incident_message, NULL);
  mh_dispatch_view_refresh (self);
}

static void
assign_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhDispatchView *self = MH_DISPATCH_VIEW (widget);

  assign_unit (self, selected_candidate (self));
}

/* Enter on a candidate assigns it. */
static void
candidate_activated_cb (MhDispatchView *self, GtkListBoxRow *row, GtkListBox *list)
{
  assign_unit (self, g_object_get_data (G_OBJECT (row), "unit-id"));
}

static void
close_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhDispatchView *self = MH_DISPATCH_VIEW (widget);
  g_autoptr (GError) error = NULL;

  if (self->incident == NULL)
    return;
  if (!mh_node_close_incident (self->node, self->selected_id,
                               g_variant_get_string (parameter, NULL), &error))
    {
      show_message (self->incident_message, error->message);
      return;
    }
  show_message (self->incident_message, NULL);
  mh_dispatch_view_refresh (self);
}

static void
answer (MhDispatchView *self, const char *value)
{
  g_autoptr (GError) error = NULL;

  if (self->incident == NULL)
    return;
  if (!mh_node_answer_incident (self->node, self->selected_id, value, &error))
    {
      show_message (self->incident_message, error->message);
      return;
    }
  show_message (self->incident_message, NULL);
  mh_dispatch_view_refresh (self);
  g_signal_emit (self, signals[ANSWERED], 0, value);
}

static void
answer_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhDispatchView *self = MH_DISPATCH_VIEW (widget);

  if (g_str_equal (action_name, "dispatch.accept"))
    answer (self, "accepted");
  else if (g_str_equal (action_name, "dispatch.decline"))
    answer (self, "declined");
  else if (g_str_equal (action_name, "dispatch.on-scene"))
    answer (self, "on_scene");
  else if (g_str_equal (action_name, "dispatch.clear"))
    answer (self, "cleared");
}

static void
location_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhDispatchView *self = MH_DISPATCH_VIEW (widget);

  if (self->incident == NULL)
    return;
  g_signal_emit (self,
                 signals[g_str_equal (action_name, "dispatch.find-hospital") ? FIND_HOSPITAL
                                                                            : SHOW_LOCATION],
                 0, json_object_get_double_member (self->incident, "lat"),
                 json_object_get_double_member (self->incident, "lon"));
}

static void
mh_dispatch_view_dispose (GObject *object)
{
  MhDispatchView *self = MH_DISPATCH_VIEW (object);

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (object), MH_TYPE_DISPATCH_VIEW);
  G_OBJECT_CLASS (mh_dispatch_view_parent_class)->dispose (object);
}

static void
mh_dispatch_view_finalize (GObject *object)
{
  MhDispatchView *self = MH_DISPATCH_VIEW (object);

  g_clear_pointer (&self->incident, json_object_unref);
  g_clear_pointer (&self->skill_toggles, g_ptr_array_unref);
  g_clear_pointer (&self->awaiting, g_hash_table_unref);
  g_free (self->selected_id);
  g_clear_object (&self->node);
  G_OBJECT_CLASS (mh_dispatch_view_parent_class)->finalize (object);
}

static void
mh_dispatch_view_class_init (MhDispatchViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_dispatch_view_dispose;
  object_class->finalize = mh_dispatch_view_finalize;

  /**
   * MhDispatchView::show-location:
   *
   * The user asked to see the incident's place on the map.
   */
  signals[SHOW_LOCATION] = g_signal_new ("show-location", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                                         G_TYPE_DOUBLE, G_TYPE_DOUBLE);
  /**
   * MhDispatchView::find-hospital:
   *
   * The crew asked for a hospital near the incident.
   */
  signals[FIND_HOSPITAL] = g_signal_new ("find-hospital", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                                         G_TYPE_DOUBLE, G_TYPE_DOUBLE);
  /**
   * MhDispatchView::answered:
   * @answer: accepted, declined, on_scene or cleared
   *
   * The crew answered the incident shown.
   */
  signals[ANSWERED] = g_signal_new ("answered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                    NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/com/medhead/Emergency/mh-dispatch-view.ui");
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, box);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, incidents_title);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, new_button);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, incident_list);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, units_box);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, unit_list);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, detail_stack);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, empty_page);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, nature_row);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, priority_row);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, skills_box);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, lat_row);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, lon_row);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, text_row);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, form_message);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, incident_group);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, location_row);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, state_row);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, skills_row);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, incident_message);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, crew_buttons);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, candidates_group);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, candidate_list);
  gtk_widget_class_bind_template_child (widget_class, MhDispatchView, hub_buttons);

  gtk_widget_class_install_action (widget_class, "dispatch.new", NULL, new_action);
  gtk_widget_class_install_action (widget_class, "dispatch.create", NULL, create_action);
  gtk_widget_class_install_action (widget_class, "dispatch.discard", NULL, discard_action);
  gtk_widget_class_install_action (widget_class, "dispatch.assign", NULL, assign_action);
  gtk_widget_class_install_action (widget_class, "dispatch.close", "s", close_action);
  gtk_widget_class_install_action (widget_class, "dispatch.accept", NULL, answer_action);
  gtk_widget_class_install_action (widget_class, "dispatch.decline", NULL, answer_action);
  gtk_widget_class_install_action (widget_class, "dispatch.on-scene", NULL, answer_action);
  gtk_widget_class_install_action (widget_class, "dispatch.clear", NULL, answer_action);
  gtk_widget_class_install_action (widget_class, "dispatch.show-on-map", NULL, location_action);
  gtk_widget_class_install_action (widget_class, "dispatch.find-hospital", NULL,
                                   location_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK, "dispatch.new",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK,
                                       "dispatch.create", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "dispatch.discard", NULL);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "mh-dispatch-view");
}

static void
mh_dispatch_view_init (MhDispatchView *self)
{
  g_autoptr (GtkStringList) natures = gtk_string_list_new (NULL);
  g_autoptr (GtkStringList) priorities = gtk_string_list_new (NULL);
  const char *const *skills = mh_medhead_capabilities ();

  gtk_widget_init_template (GTK_WIDGET (self));

  for (guint i = 0; nature_values[i] != NULL; i++)
    gtk_string_list_append (natures, mh_alert_label (nature_values[i]));
  adw_combo_row_set_model (self->nature_row, G_LIST_MODEL (natures));
  for (guint i = 0; priority_values[i] != NULL; i++)
    gtk_string_list_append (priorities, mh_priority_label (priority_values[i]));
  adw_combo_row_set_model (self->priority_row, G_LIST_MODEL (priorities));
  /* Most calls are urgent, not immediate: the dispatcher raises it. */
  adw_combo_row_set_selected (self->priority_row, 1);

  self->skill_toggles = g_ptr_array_new ();
  self->awaiting = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; skills[i] != NULL; i++)
    {
      GtkWidget *toggle = gtk_toggle_button_new_with_label (mh_skill_label (skills[i]));

      gtk_widget_add_css_class (toggle, "mh-skill");

      gtk_grid_attach (self->skills_box, toggle, i % 4, i / 4, 1, 1);
      g_ptr_array_add (self->skill_toggles, toggle);
    }
  g_signal_connect_object (self->lat_row, "entry-activated", G_CALLBACK (entry_activated_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->lon_row, "entry-activated", G_CALLBACK (entry_activated_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->text_row, "entry-activated", G_CALLBACK (entry_activated_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->incident_list, "row-selected", G_CALLBACK (incident_selected_cb),
                           self, G_CONNECT_SWAPPED);
  gtk_list_box_set_activate_on_single_click (self->candidate_list, FALSE);
  g_signal_connect_object (self->candidate_list, "row-activated",
                           G_CALLBACK (candidate_activated_cb), self, G_CONNECT_SWAPPED);
  {
    GtkWidget *none = gtk_label_new (_("No unit is available."));

    gtk_widget_add_css_class (none, "dim-label");
    gtk_widget_set_margin_top (none, 12);
    gtk_widget_set_margin_bottom (none, 12);
    gtk_list_box_set_placeholder (self->candidate_list, none);
  }
  update_actions (self);
}

void
mh_dispatch_view_set_node (MhDispatchView *self, MhNode *node)
{
  MhStore *store;

  g_return_if_fail (MH_IS_DISPATCH_VIEW (self));
  g_return_if_fail (MH_IS_NODE (node));
  g_return_if_fail (self->node == NULL);

  self->node = g_object_ref (node);
  store = mh_node_get_store (node);
  g_signal_connect_object (store, "changed::incident", G_CALLBACK (store_changed_cb), self,
                           G_CONNECT_SWAPPED);
  if (is_crew (self))
    {
      g_signal_connect_object (node, "incident-assigned", G_CALLBACK (incident_assigned_cb), self,
                               G_CONNECT_SWAPPED);
      gtk_label_set_text (self->incidents_title, _("Assignments"));
      gtk_widget_set_visible (self->units_box, FALSE);
    }
  else
    {
      g_signal_connect_object (store, "changed::unit", G_CALLBACK (store_changed_cb), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (store, "changed::unit_position", G_CALLBACK (store_changed_cb),
                               self, G_CONNECT_SWAPPED);
    }
  mh_dispatch_view_refresh (self);
}

void
mh_dispatch_view_set_position (MhDispatchView *self, double lat, double lon)
{
  g_return_if_fail (MH_IS_DISPATCH_VIEW (self));
  self->has_position = TRUE;
  self->lat = lat;
  self->lon = lon;
}

void
mh_dispatch_view_new_incident (MhDispatchView *self)
{
  g_return_if_fail (MH_IS_DISPATCH_VIEW (self));

  if (self->has_position)
    {
      char buffer[G_ASCII_DTOSTR_BUF_SIZE];

      gtk_editable_set_text (GTK_EDITABLE (self->lat_row),
                             g_ascii_formatd (buffer, sizeof buffer, "%.5f", self->lat));
      gtk_editable_set_text (GTK_EDITABLE (self->lon_row),
                             g_ascii_formatd (buffer, sizeof buffer, "%.5f", self->lon));
    }
  show_message (self->form_message, NULL);
  gtk_list_box_unselect_all (self->incident_list);
  gtk_stack_set_visible_child_name (self->detail_stack, "form");
  gtk_widget_grab_focus (GTK_WIDGET (self->nature_row));
}

gboolean
mh_dispatch_view_select (MhDispatchView *self, const char *incident_id)
{
  g_autoptr (JsonObject) incident = NULL;

  g_return_val_if_fail (MH_IS_DISPATCH_VIEW (self), FALSE);

  if (self->node == NULL || incident_id == NULL
      || (incident = mh_node_get_incident (self->node, incident_id, NULL)) == NULL)
    return FALSE;
  if (g_strcmp0 (self->selected_id, incident_id) != 0)
    {
      g_free (self->selected_id);
      self->selected_id = g_strdup (incident_id);
      show_message (self->incident_message, NULL);
    }
  g_clear_pointer (&self->incident, json_object_unref);
  self->incident = g_steal_pointer (&incident);
  self->rebuilding = TRUE;
  select_row_for (self, incident_id);
  self->rebuilding = FALSE;
  show_incident (self, TRUE);
  return TRUE;
}

const char *
mh_dispatch_view_get_selected (MhDispatchView *self)
{
  g_return_val_if_fail (MH_IS_DISPATCH_VIEW (self), NULL);
  return self->incident != NULL ? self->selected_id : NULL;
}

void
mh_dispatch_view_set_form (MhDispatchView *self, const char *nature, const char *priority,
                           const char *skills, const char *lat, const char *lon,
                           const char *text)
{
  g_auto (GStrv) wanted = g_strsplit (skills != NULL ? skills : "", ",", -1);
  const char *const *all = mh_medhead_capabilities ();
  int index;

  g_return_if_fail (MH_IS_DISPATCH_VIEW (self));

  if ((index = mh_value_index (nature_values, nature)) >= 0)
    adw_combo_row_set_selected (self->nature_row, index);
  if ((index = mh_value_index (priority_values, priority)) >= 0)
    adw_combo_row_set_selected (self->priority_row, index);
  for (guint i = 0; all[i] != NULL; i++)
    gtk_toggle_button_set_active (g_ptr_array_index (self->skill_toggles, i),
                                  g_strv_contains ((const char *const *) wanted, all[i]));
  gtk_editable_set_text (GTK_EDITABLE (self->lat_row), lat != NULL ? lat : "");
  gtk_editable_set_text (GTK_EDITABLE (self->lon_row), lon != NULL ? lon : "");
  gtk_editable_set_text (GTK_EDITABLE (self->text_row), text != NULL ? text : "");
}

const char *
mh_dispatch_view_get_message (MhDispatchView *self)
{
  GtkLabel *label;

  g_return_val_if_fail (MH_IS_DISPATCH_VIEW (self), NULL);
  label = g_strcmp0 (gtk_stack_get_visible_child_name (self->detail_stack), "form") == 0
            ? self->form_message
            : self->incident_message;
  return gtk_widget_get_visible (GTK_WIDGET (label)) ? gtk_label_get_text (label) : NULL;
}

GStrv
mh_dispatch_view_get_candidates (MhDispatchView *self)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  g_return_val_if_fail (MH_IS_DISPATCH_VIEW (self), NULL);
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->candidate_list));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    if (GTK_IS_LIST_BOX_ROW (child) && g_object_get_data (G_OBJECT (child), "call-sign") != NULL)
      g_strv_builder_add (builder, g_object_get_data (G_OBJECT (child), "call-sign"));
  return g_strv_builder_end (builder);
}

gboolean
mh_dispatch_view_select_candidate (MhDispatchView *self, const char *unit_id)
{
  g_return_val_if_fail (MH_IS_DISPATCH_VIEW (self), FALSE);
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->candidate_list));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    if (GTK_IS_LIST_BOX_ROW (child)
        && g_strcmp0 (g_object_get_data (G_OBJECT (child), "unit-id"), unit_id) == 0)
      {
        gtk_list_box_select_row (self->candidate_list, GTK_LIST_BOX_ROW (child));
        return TRUE;
      }
  return FALSE;
}

guint
mh_dispatch_view_get_n_units (MhDispatchView *self)
{
  g_return_val_if_fail (MH_IS_DISPATCH_VIEW (self), 0);
  return self->n_units;
}

const char *
mh_dispatch_view_get_candidate (MhDispatchView *self)
{
  g_return_val_if_fail (MH_IS_DISPATCH_VIEW (self), NULL);
  return selected_candidate (self);
}

/* mh-map-view.c: the map: hospitals by free beds, units, over any base
 *
 * The map never depends on a tile server: its reference map source only
 * sets the projection and zoom range, and the base is an MhGridLayer over
 * the CSS background, under the tiles of a local tile pack (tile-pack) or
 * of an http(s) source (tile-url) when one is set. */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <shumate/shumate.h>

#include "mh-dispatch.h"
#include "mh-dispatch-view.h"
#include "mh-grid-layer.h"
#include "mh-hospital-list.h"
#include "mh-json.h"
#include "mh-labels.h"
#include "mh-map-view.h"
#include "mh-mbtiles-source.h"
#include "mh-settings.h"

struct _MhMapView
{
  GtkWidget parent_instance;

  /* Owned widgets (children of this widget) */
  GtkWidget *overlay;

  /* Borrowed References */
  ShumateMap *map;
  ShumateViewport *viewport;
  ShumateMapLayer *base_layer;
  MhGridLayer *grid_layer;
  ShumateMarkerLayer *hospital_layer;
  ShumateMarkerLayer *unit_layer;
  ShumateMarkerLayer *incident_layer;
  GtkLabel *legend_label;
  GtkWidget *offline_label;
  GtkPopover *popover;
  ShumateMarker *point_marker; /* where Find hospital searches from, once picked */

  /* Owned References */
  MhNode *node;
  MhHospitalList *hospitals;
  GSettings *settings;
  char *category;   /* bed category the pins show, "" for any */
  guint specialty;  /* 0: any */
  ShumateMapSource *reference_source;
  GHashTable *hospital_markers; /* id -> ShumateMarker (borrowed from the layer) */
  GHashTable *unit_markers;     /* id -> ShumateMarker */
  GHashTable *incident_markers; /* id -> ShumateMarker */
  GHashTable *pin_colors;       /* id -> static color string */
  GPtrArray *clusters;     /* Cluster */
  GHashTable *cluster_of;  /* id -> Cluster (borrowed from clusters), when grouped */
  int placed_zoom;         /* the whole zoom level clusters were made for; -1: none */
  int placed_width;        /* the map's size at the last placement */
  int placed_height;
  guint place_id;
  char *selected_id;
  char *tile_error; /* why the tile pack is not shown, or NULL */
  JsonArray *results;       /* Find hospital's results, ranked, or NULL */
  GHashTable *result_ranks; /* id -> rank (1 for the first) */
  guint refresh_id;
  gboolean centred;
};

G_DEFINE_FINAL_TYPE (MhMapView, mh_map_view, GTK_TYPE_WIDGET)

enum
{
  POINT_CHOSEN,
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

/* Below this zoom the whole region fits on a cab laptop screen. */
#define REGION_ZOOM 11.0
#define SELECT_ZOOM 13.0

/* A GTK widget per hospital costs about half a millisecond to make, and
 * a thousand pins overlapping at region scale help nobody. So with many
 * hospitals, pins are made only where the map shows them (plus a margin),
 * and below CLUSTER_MAX_ZOOM the pins that would overlap make one cluster
 * pin, which zooms in when clicked. A small registry (the demo's 54) gets
 * every pin, always. */
#define CLUSTER_MIN_HOSPITALS 200
#define CLUSTER_MAX_ZOOM 13
#define CLUSTER_CELL_PX 64.0
#define PLACE_MARGIN_PX 64.0
#define FRAME_MARGIN_PX 48
#define FALLBACK_WIDTH 1280
#define FALLBACK_HEIGHT 800

typedef struct
{
  double lat;
  double lon;
  GPtrArray *ids;        /* char *: the hospitals in it */
  ShumateMarker *marker; /* NULL until in view */
} Cluster;

static void
cluster_free (Cluster *cluster)
{
  g_ptr_array_unref (cluster->ids);
  g_free (cluster);
}

static const char *pin_classes[] = { "mh-pin-green", "mh-pin-amber", "mh-pin-red", "mh-pin-grey" };

const char *
mh_pin_color_to_string (MhPinColor color)
{
  switch (color)
    {
    case MH_PIN_GREEN:
      return "green";
    case MH_PIN_AMBER:
      return "amber";
    case MH_PIN_RED:
      return "red";
    case MH_PIN_GREY:
    default:
      return "grey";
    }
}

static gboolean
hospital_has_specialty (JsonObject *hospital, guint specialty)
{
  JsonArray *specialties;

  if (specialty == 0)
    return TRUE;
  if (!json_object_has_member (hospital, "specialties")
      || json_object_get_null_member (hospital, "specialties"))
    return FALSE;
  specialties = json_object_get_array_member (hospital, "specialties");
  for (guint i = 0; i < json_array_get_length (specialties); i++)
    if ((guint) json_array_get_int_element (specialties, i) == specialty)
      return TRUE;
  return FALSE;
}

void
mh_pin_state_from_hospital (JsonObject *hospital, guint specialty, const char *category,
                            MhPinState *state)
{
  JsonObject *beds = NULL;
  const char *traffic = mh_json_get_string (hospital, "ems_traffic");
  gboolean any_fresh = FALSE;

  memset (state, 0, sizeof *state);
  state->has_specialty = hospital_has_specialty (hospital, specialty);
  /* An unknown status counts as unavailable, as nearest does. */
  state->closed = traffic == NULL || (g_strcmp0 (traffic, "normal") != 0
                                      && g_strcmp0 (traffic, "advisory") != 0);

  if (json_object_has_member (hospital, "beds") && !json_object_get_null_member (hospital, "beds"))
    beds = json_object_get_object_member (hospital, "beds");
  if (beds != NULL)
    {
      g_autoptr (GList) members = json_object_get_members (beds);

      for (GList *l = members; l != NULL; l = l->next)
        {
          JsonObject *bed = json_object_get_object_member (beds, l->data);

          if (category != NULL && *category != '\0' && !g_str_equal (category, l->data))
            continue;
          state->free_beds += json_object_get_int_member_with_default (bed, "free", 0);
          if (!json_object_get_boolean_member_with_default (bed, "stale", FALSE))
            any_fresh = TRUE;
        }
    }
  state->stale = !any_fresh;

  if (state->closed || state->stale || !state->has_specialty)
    state->color = MH_PIN_GREY;
  else if (state->free_beds >= 3)
    state->color = MH_PIN_GREEN;
  else if (state->free_beds >= 1)
    state->color = MH_PIN_AMBER;
  else
    state->color = MH_PIN_RED;
}

/* The popover dies with the pin it hangs from (a pin can go when the
 * clusters are made again, or with the map): a weak pointer, never a
 * dangling one. */
static void
set_popover (MhMapView *self, GtkPopover *popover)
{
  if (self->popover != NULL)
    g_object_remove_weak_pointer (G_OBJECT (self->popover), (gpointer *) &self->popover);
  self->popover = popover;
  if (popover != NULL)
    g_object_add_weak_pointer (G_OBJECT (popover), (gpointer *) &self->popover);
}

static void
popover_closed_cb (MhMapView *self, GtkPopover *popover)
{
  if (self->popover == popover)
    set_popover (self, NULL);
  gtk_widget_unparent (GTK_WIDGET (popover));
}

static void
close_popover (MhMapView *self)
{
  GtkPopover *popover = self->popover;

  if (popover == NULL)
    return;
  set_popover (self, NULL);
  g_signal_handlers_disconnect_by_func (popover, popover_closed_cb, self);
  gtk_popover_popdown (popover);
  gtk_widget_unparent (GTK_WIDGET (popover));
}

static void
popdown_card (MhMapView *self)
{
  if (self->popover != NULL)
    gtk_popover_popdown (self->popover);
}

static GtkWidget *
card_label (const char *text, const char *css_class)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 40);
  if (css_class != NULL)
    gtk_widget_add_css_class (label, css_class);
  return label;
}

static GtkWidget *
build_card (MhMapView *self, JsonObject *hospital)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *grid = gtk_grid_new ();
  JsonObject *beds = NULL;
  const char *const *categories = mh_bed_categories ();
  const char *phone;
  g_autofree char *address = NULL;
  g_autofree char *statuses = NULL;
  int row = 0;

  gtk_widget_add_css_class (box, "mh-card");
  gtk_box_append (GTK_BOX (box), card_label (mh_json_get_string (hospital, "name"), "heading"));
  address = g_strjoin (", ", mh_json_get_string (hospital, "address") ?: "",
                       mh_json_get_string (hospital, "city") ?: "", NULL);
  gtk_box_append (GTK_BOX (box), card_label (address, "dim-label"));

  /* TRANSLATORS: the hospital's statuses: EMS traffic, facility, clinical, offload */
  statuses = g_strdup_printf (_("Ambulances: %s · Facility: %s · Clinical: %s · Offload: %s"),
                              mh_label_for (mh_json_get_string (hospital, "ems_traffic")),
                              mh_label_for (mh_json_get_string (hospital, "facility")),
                              mh_label_for (mh_json_get_string (hospital, "clinical")),
                              mh_label_for (mh_json_get_string (hospital, "offload")));
  gtk_box_append (GTK_BOX (box), card_label (statuses, NULL));
  if (mh_json_get_string (hospital, "ems_traffic_reason") != NULL)
    gtk_box_append (GTK_BOX (box),
                    card_label (mh_json_get_string (hospital, "ems_traffic_reason"), "warning"));

  gtk_grid_set_column_spacing (GTK_GRID (grid), 12);
  gtk_grid_set_row_spacing (GTK_GRID (grid), 2);
  gtk_grid_attach (GTK_GRID (grid), card_label (_("Beds"), "caption-heading"), 0, row, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), card_label (_("Free"), "caption-heading"), 1, row, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), card_label (_("Available"), "caption-heading"), 2, row, 1, 1);
  row++;
  if (json_object_has_member (hospital, "beds") && !json_object_get_null_member (hospital, "beds"))
    beds = json_object_get_object_member (hospital, "beds");
  for (guint i = 0; beds != NULL && categories[i] != NULL; i++)
    {
      JsonObject *bed;
      g_autofree char *free_text = NULL;
      g_autofree char *available_text = NULL;
      GtkWidget *free_label;

      if (!json_object_has_member (beds, categories[i]))
        continue;
      bed = json_object_get_object_member (beds, categories[i]);
      free_text = g_strdup_printf ("%" G_GINT64_FORMAT,
                                   json_object_get_int_member_with_default (bed, "free", 0));
      available_text = g_strdup_printf ("%" G_GINT64_FORMAT,
                                        json_object_get_int_member_with_default (bed, "available",
                                                                                 0));
      free_label = card_label (free_text, "numeric");
      if (json_object_get_boolean_member_with_default (bed, "stale", FALSE))
        {
          g_autofree char *stale_text = g_strdup_printf (_("%s (stale)"), free_text);

          gtk_label_set_text (GTK_LABEL (free_label), stale_text);
          gtk_widget_add_css_class (free_label, "warning");
        }
      gtk_grid_attach (GTK_GRID (grid), card_label (mh_label_for (categories[i]), NULL), 0, row, 1,
                       1);
      gtk_grid_attach (GTK_GRID (grid), free_label, 1, row, 1, 1);
      gtk_grid_attach (GTK_GRID (grid), card_label (available_text, "numeric"), 2, row, 1, 1);
      row++;
    }
  gtk_box_append (GTK_BOX (box), grid);

  phone = mh_json_get_string (hospital, "phone_emergency");
  if (phone != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Emergency: %s"), phone);
      GtkWidget *label = card_label (text, NULL);

      gtk_label_set_selectable (GTK_LABEL (label), TRUE);
      gtk_box_append (GTK_BOX (box), label);
    }
  phone = mh_json_get_string (hospital, "phone_switchboard");
  if (phone != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Switchboard: %s"), phone);
      GtkWidget *label = card_label (text, NULL);

      gtk_label_set_selectable (GTK_LABEL (label), TRUE);
      gtk_box_append (GTK_BOX (box), label);
    }
  /* A crew announces its patient from the card too (win.announce-to). */
  if (self->node != NULL && mh_node_get_role (self->node) == MH_ROLE_AMBULANCE
      && mh_json_get_string (hospital, "id") != NULL)
    {
      GtkWidget *announce = gtk_button_new_with_mnemonic (_("_Announce a Patient"));

      gtk_widget_add_css_class (announce, "suggested-action");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (announce), "s",
                                        mh_json_get_string (hospital, "id"));
      gtk_actionable_set_action_name (GTK_ACTIONABLE (announce), "win.announce-to");
      /* Popped down, not torn down, inside the button's own click. */
      g_signal_connect_object (announce, "clicked", G_CALLBACK (popdown_card), self,
                               G_CONNECT_SWAPPED);
      gtk_box_append (GTK_BOX (box), announce);
    }
  return box;
}

static void
open_card (MhMapView *self, const char *hospital_id)
{
  ShumateMarker *marker = g_hash_table_lookup (self->hospital_markers, hospital_id);
  g_autoptr (JsonObject) hospital = NULL;
  g_autoptr (GError) error = NULL;
  GtkWidget *button;
  GtkWidget *popover;

  if (marker == NULL || self->node == NULL)
    return;
  hospital = mh_node_get_hospital (self->node, hospital_id, &error);
  if (hospital == NULL)
    {
      g_warning ("hospital %s: %s", hospital_id, error->message);
      return;
    }
  close_popover (self);

  button = shumate_marker_get_child (marker);
  popover = gtk_popover_new ();
  gtk_popover_set_child (GTK_POPOVER (popover), build_card (self, hospital));
  gtk_widget_set_parent (popover, button);
  g_signal_connect_object (popover, "closed", G_CALLBACK (popover_closed_cb), self,
                           G_CONNECT_SWAPPED);
  set_popover (self, GTK_POPOVER (popover));
  if (gtk_widget_get_mapped (button))
    gtk_popover_popup (GTK_POPOVER (popover));
}

static void
set_selected (MhMapView *self, const char *hospital_id)
{
  ShumateMarker *marker;
  g_autofree char *id = g_strdup (hospital_id);

  if (self->selected_id != NULL)
    {
      marker = g_hash_table_lookup (self->hospital_markers, self->selected_id);
      if (marker != NULL)
        gtk_widget_remove_css_class (shumate_marker_get_child (marker), "mh-pin-selected");
    }
  g_free (self->selected_id);
  self->selected_id = g_steal_pointer (&id);
  marker = g_hash_table_lookup (self->hospital_markers, self->selected_id);
  if (marker != NULL)
    gtk_widget_add_css_class (shumate_marker_get_child (marker), "mh-pin-selected");
}

static void
pin_clicked_cb (MhMapView *self, GtkButton *button)
{
  const char *id = g_object_get_data (G_OBJECT (button), "hospital-id");

  set_selected (self, id);
  open_card (self, id);
}

/* The tooltip is made when asked for: setting a tooltip's text makes
 * GTK query the pointer (an X round trip), once per pin at start-up. */
static gboolean
pin_query_tooltip_cb (GtkWidget *button, int x, int y, gboolean keyboard, GtkTooltip *tooltip)
{
  const char *text = g_object_get_data (G_OBJECT (button), "mh-tooltip");

  if (text == NULL)
    return FALSE;
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

static ShumateMarker *
ensure_hospital_marker (MhMapView *self, const char *id)
{
  ShumateMarker *marker = g_hash_table_lookup (self->hospital_markers, id);
  GtkWidget *button;

  if (marker != NULL)
    return marker;
  marker = shumate_marker_new ();
  button = gtk_button_new_with_label ("");
  gtk_widget_add_css_class (button, "mh-pin");
  gtk_widget_set_focus_on_click (button, FALSE);
  gtk_widget_set_has_tooltip (button, TRUE);
  g_signal_connect (button, "query-tooltip", G_CALLBACK (pin_query_tooltip_cb), NULL);
  g_object_set_data_full (G_OBJECT (button), "hospital-id", g_strdup (id), g_free);
  g_signal_connect_object (button, "clicked", G_CALLBACK (pin_clicked_cb), self,
                           G_CONNECT_SWAPPED);
  shumate_marker_set_child (marker, button);
  shumate_marker_layer_add_marker (self->hospital_layer, marker);
  g_hash_table_insert (self->hospital_markers, g_strdup (id), marker);
  if (g_strcmp0 (id, self->selected_id) == 0)
    gtk_widget_add_css_class (button, "mh-pin-selected");
  return marker;
}

static void
remove_hospital_marker (MhMapView *self, const char *id)
{
  ShumateMarker *marker = g_hash_table_lookup (self->hospital_markers, id);

  if (marker == NULL)
    return;
  if (self->popover != NULL
      && gtk_widget_get_parent (GTK_WIDGET (self->popover)) == shumate_marker_get_child (marker))
    close_popover (self);
  shumate_marker_layer_remove_marker (self->hospital_layer, marker);
  g_hash_table_remove (self->hospital_markers, id);
}

static void set_pin_look (GtkWidget *button, MhPinColor color, const char *label,
                          char *tooltip);
static void set_pin_rank (GtkWidget *button, guint rank, gboolean fallback);
static void update_cluster_marker (MhMapView *self, Cluster *cluster);

/* The pin state of @hospital, kept for every hospital; its pin (or its
 * cluster's), when it has one, shows it. */
/* This station's own hospital (a desk): its pin is its position on the map. */
static gboolean
is_own_hospital (MhMapView *self, const char *id)
{
  const char *own = self->node != NULL ? mh_node_get_hospital_id (self->node) : NULL;

  return own != NULL && g_strcmp0 (own, id) == 0;
}

/* Results and this station's hospital keep their own pins: never in a
 * cluster, and made even outside the view. */
static gboolean
keeps_own_pin (MhMapView *self, const char *id)
{
  return g_hash_table_contains (self->result_ranks, id) || is_own_hospital (self, id);
}

static void
update_hospital_marker (MhMapView *self, JsonObject *hospital, guint specialty,
                        const char *category)
{
  const char *id = mh_json_get_string (hospital, "id");
  const char *name = mh_json_get_string (hospital, "name");
  double lat = json_object_get_double_member (hospital, "lat");
  double lon = json_object_get_double_member (hospital, "lon");
  ShumateMarker *marker;
  MhPinState state;
  Cluster *cluster;
  g_autofree char *count = NULL;
  char *tooltip;
  guint rank;

  if (id == NULL)
    return;
  mh_pin_state_from_hospital (hospital, specialty, category, &state);
  g_hash_table_insert (self->pin_colors, g_strdup (id),
                       (gpointer) mh_pin_color_to_string (state.color));
  marker = g_hash_table_lookup (self->hospital_markers, id);
  if (marker == NULL)
    {
      cluster = g_hash_table_lookup (self->cluster_of, id);
      if (cluster != NULL && cluster->marker != NULL)
        update_cluster_marker (self, cluster);
      return;
    }
  if (shumate_location_get_latitude (SHUMATE_LOCATION (marker)) != lat
      || shumate_location_get_longitude (SHUMATE_LOCATION (marker)) != lon)
    shumate_location_set_location (SHUMATE_LOCATION (marker), lat, lon);

  count = state.free_beds > 99 ? g_strdup ("99+")
                               : g_strdup_printf ("%" G_GINT64_FORMAT, state.free_beds);
  rank = GPOINTER_TO_UINT (g_hash_table_lookup (self->result_ranks, id));
  if (rank > 0)
    {
      JsonObject *result = json_array_get_object_element (self->results, rank - 1);
      gint64 free_beds = json_object_get_int_member_with_default (result, "free_beds", 0);
      gboolean fallback = json_object_get_boolean_member_with_default (result, "fallback", FALSE);

      /* The search's count (its bed category), as in its list. */
      if (fallback)
        /* TRANSLATORS: a Find hospital result's pin on the map; "fallback":
         * the hospital does not match the search (no specialty or bed) */
        tooltip = g_strdup_printf (ngettext ("Result %u: %s, %d free bed (fallback: phone first)",
                                             "Result %u: %s, %d free beds (fallback: phone first)",
                                             (gulong) free_beds),
                                   rank, name, (int) free_beds);
      else
        /* TRANSLATORS: a Find hospital result's pin on the map */
        tooltip = g_strdup_printf (ngettext ("Result %u: %s, %d free bed",
                                             "Result %u: %s, %d free beds", (gulong) free_beds),
                                   rank, name, (int) free_beds);
      set_pin_rank (shumate_marker_get_child (marker), rank, fallback);
    }
  else if (state.closed)
    tooltip = g_strdup_printf (_("%s — closed to ambulances"), name);
  else if (!state.has_specialty)
    tooltip = g_strdup_printf (_("%s — specialty not offered"), name);
  else if (state.stale)
    tooltip = g_strdup_printf (_("%s — %d free beds (stale)"), name, (int) state.free_beds);
  else
    tooltip = g_strdup_printf (ngettext ("%s — %d free bed", "%s — %d free beds",
                                         (gulong) state.free_beds),
                               name, (int) state.free_beds);
  if (rank == 0)
    set_pin_rank (shumate_marker_get_child (marker), 0, FALSE);
  if (is_own_hospital (self, id))
    {
      char *own = tooltip;

      /* TRANSLATORS: the tooltip of a desk's own hospital on its map */
      tooltip = g_strdup_printf (_("%s (this station)"), own);
      g_free (own);
      gtk_widget_add_css_class (shumate_marker_get_child (marker), "mh-pin-self");
    }
  set_pin_look (shumate_marker_get_child (marker), state.color, count, tooltip);
}

/* A pin's free-bed count: the button's label, or beside the rank badge. */
static const char *
pin_get_count (GtkWidget *button)
{
  GtkWidget *count = g_object_get_data (G_OBJECT (button), "mh-count");

  return count != NULL ? gtk_label_get_text (GTK_LABEL (count))
                       : gtk_button_get_label (GTK_BUTTON (button));
}

static void
pin_set_count (GtkWidget *button, const char *text)
{
  GtkWidget *count = g_object_get_data (G_OBJECT (button), "mh-count");

  if (count != NULL)
    gtk_label_set_text (GTK_LABEL (count), text);
  else
    gtk_button_set_label (GTK_BUTTON (button), text);
}

/* A result's pin carries its rank in a badge before its count, ringed;
 * a fallback's badge is in the warning style. Rank 0: a plain pin. Only
 * the few result pins get the extra widgets. */
static void
set_pin_rank (GtkWidget *button, guint rank, gboolean fallback)
{
  GtkWidget *badge = g_object_get_data (G_OBJECT (button), "mh-rank");
  g_autofree char *text = NULL;

  if (rank == 0)
    {
      if (badge == NULL)
        return;
      text = g_strdup (pin_get_count (button));
      g_object_set_data (G_OBJECT (button), "mh-rank", NULL);
      g_object_set_data (G_OBJECT (button), "mh-count", NULL);
      g_object_set_data (G_OBJECT (button), "mh-rank-number", NULL);
      gtk_button_set_label (GTK_BUTTON (button), text);
      gtk_widget_remove_css_class (button, "mh-pin-result");
      gtk_widget_remove_css_class (button, "mh-pin-fallback");
      return;
    }
  if (badge == NULL)
    {
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 3);
      GtkWidget *count = gtk_label_new (pin_get_count (button));

      badge = gtk_label_new (NULL);
      gtk_widget_add_css_class (badge, "mh-pin-rank");
      gtk_widget_set_valign (badge, GTK_ALIGN_CENTER);
      gtk_box_append (GTK_BOX (box), badge);
      gtk_box_append (GTK_BOX (box), count);
      gtk_button_set_child (GTK_BUTTON (button), box);
      g_object_set_data (G_OBJECT (button), "mh-rank", badge);
      g_object_set_data (G_OBJECT (button), "mh-count", count);
      gtk_widget_add_css_class (button, "mh-pin-result");
    }
  text = g_strdup_printf ("%u", rank);
  gtk_label_set_text (GTK_LABEL (badge), text);
  g_object_set_data (G_OBJECT (button), "mh-rank-number", GUINT_TO_POINTER (rank));
  if (fallback)
    gtk_widget_add_css_class (button, "mh-pin-fallback");
  else
    gtk_widget_remove_css_class (button, "mh-pin-fallback");
}

/* Each change here costs a restyle or a relayout of the pin: only what
 * differs is set, as every pin is set again when the settings change.
 * Takes @tooltip. */
static void
set_pin_look (GtkWidget *button, MhPinColor color, const char *label, char *tooltip)
{
  gpointer shown = g_object_get_data (G_OBJECT (button), "mh-color");

  if (shown != GINT_TO_POINTER (color + 1))
    {
      for (guint i = 0; i < G_N_ELEMENTS (pin_classes); i++)
        gtk_widget_remove_css_class (button, pin_classes[i]);
      gtk_widget_add_css_class (button, pin_classes[color]);
      g_object_set_data (G_OBJECT (button), "mh-color", GINT_TO_POINTER (color + 1));
    }
  if (g_strcmp0 (pin_get_count (button), label) != 0)
    pin_set_count (button, label);
  if (g_strcmp0 (g_object_get_data (G_OBJECT (button), "mh-tooltip"), tooltip) == 0)
    {
      g_free (tooltip);
      return;
    }
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, tooltip,
                                  -1);
  g_object_set_data_full (G_OBJECT (button), "mh-tooltip", tooltip, g_free);
}

/* A cluster shows how many hospitals it holds, in the colour of the best
 * of them: green if any has 3 free beds or more, and so on. */
static void
update_cluster_marker (MhMapView *self, Cluster *cluster)
{
  MhPinColor best = MH_PIN_GREY;
  guint with_beds = 0;
  g_autofree char *label = NULL;
  char *tooltip;

  for (guint i = 0; i < cluster->ids->len; i++)
    {
      const char *color = g_hash_table_lookup (self->pin_colors,
                                               g_ptr_array_index (cluster->ids, i));
      MhPinColor c = g_strcmp0 (color, "green") == 0   ? MH_PIN_GREEN
                     : g_strcmp0 (color, "amber") == 0 ? MH_PIN_AMBER
                     : g_strcmp0 (color, "red") == 0   ? MH_PIN_RED
                                                       : MH_PIN_GREY;

      if (c == MH_PIN_GREEN || c == MH_PIN_AMBER)
        with_beds++;
      if (c < best)
        best = c;
    }
  /* TRANSLATORS: the label of a group of hospitals on the map, as in
   * "12 H": unlike a hospital's pin (its free beds), it counts hospitals */
  label = g_strdup_printf (_("%u H"), cluster->ids->len);
  /* TRANSLATORS: a group of hospitals on the map; the second number says
   * how many of them can take the patient */
  tooltip = g_strdup_printf (ngettext ("%u hospital, %u with free beds: click to zoom in",
                                       "%u hospitals, %u with free beds: click to zoom in",
                                       cluster->ids->len),
                             cluster->ids->len, with_beds);
  set_pin_look (shumate_marker_get_child (cluster->marker), best, label, tooltip);
}

static void
cluster_clicked_cb (MhMapView *self, GtkButton *button)
{
  double zoom = shumate_viewport_get_zoom_level (self->viewport);
  ShumateMarker *marker = SHUMATE_MARKER (gtk_widget_get_parent (GTK_WIDGET (button)));

  shumate_viewport_set_zoom_level (self->viewport, MIN (floor (zoom) + 2, CLUSTER_MAX_ZOOM));
  shumate_map_center_on (self->map, shumate_location_get_latitude (SHUMATE_LOCATION (marker)),
                         shumate_location_get_longitude (SHUMATE_LOCATION (marker)));
}

static void
add_cluster_marker (MhMapView *self, Cluster *cluster)
{
  GtkWidget *button = gtk_button_new_with_label ("");

  cluster->marker = shumate_marker_new ();
  gtk_widget_add_css_class (button, "mh-pin");
  gtk_widget_add_css_class (button, "mh-cluster");
  gtk_widget_set_focus_on_click (button, FALSE);
  gtk_widget_set_has_tooltip (button, TRUE);
  g_signal_connect (button, "query-tooltip", G_CALLBACK (pin_query_tooltip_cb), NULL);
  g_signal_connect_object (button, "clicked", G_CALLBACK (cluster_clicked_cb), self,
                           G_CONNECT_SWAPPED);
  shumate_marker_set_child (cluster->marker, button);
  shumate_location_set_location (SHUMATE_LOCATION (cluster->marker), cluster->lat, cluster->lon);
  update_cluster_marker (self, cluster);
  shumate_marker_layer_add_marker (self->hospital_layer, cluster->marker);
}

static void
clear_clusters (MhMapView *self)
{
  for (guint i = 0; i < self->clusters->len; i++)
    {
      Cluster *cluster = g_ptr_array_index (self->clusters, i);

      if (cluster->marker != NULL)
        shumate_marker_layer_remove_marker (self->hospital_layer, cluster->marker);
      cluster->marker = NULL;
    }
  g_ptr_array_set_size (self->clusters, 0);
  g_hash_table_remove_all (self->cluster_of);
}

/* Web Mercator, in pixels of the whole world at @zoom. */
static void
world_pixels (double lat, double lon, double zoom, double *x, double *y)
{
  double size = 256.0 * exp2 (zoom);
  double phi = CLAMP (lat, -85.05112878, 85.05112878) * G_PI / 180.0;

  *x = (lon + 180.0) / 360.0 * size;
  *y = (1.0 - asinh (tan (phi)) / G_PI) / 2.0 * size;
}

static gboolean
many_hospitals (MhMapView *self)
{
  return self->hospitals != NULL
         && g_list_model_get_n_items (G_LIST_MODEL (self->hospitals)) >= CLUSTER_MIN_HOSPITALS;
}

/* Groups the hospitals that share a cell of CLUSTER_CELL_PX at @zoom. */
static void
make_clusters (MhMapView *self, int zoom)
{
  GListModel *model = G_LIST_MODEL (self->hospitals);
  g_autoptr (GHashTable) cells = NULL;
  GHashTableIter iter;
  gpointer value;

  clear_clusters (self);
  self->placed_zoom = zoom;
  if (!many_hospitals (self) || zoom >= CLUSTER_MAX_ZOOM)
    return;
  cells = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                 (GDestroyNotify) g_ptr_array_unref);
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr (MhHospitalItem) item = g_list_model_get_item (model, i);
      GPtrArray *members;
      gint64 key;
      double x, y;

      /* A result, or this station's hospital, never hides in a cluster. */
      if (keeps_own_pin (self, mh_hospital_item_get_id (item)))
        continue;
      world_pixels (mh_hospital_item_get_latitude (item), mh_hospital_item_get_longitude (item),
                    zoom, &x, &y);
      key = ((gint64) floor (x / CLUSTER_CELL_PX) << 32) | (guint32) floor (y / CLUSTER_CELL_PX);
      members = g_hash_table_lookup (cells, &key);
      if (members == NULL)
        {
          members = g_ptr_array_new ();
          g_hash_table_insert (cells, g_memdup2 (&key, sizeof key), members);
        }
      g_ptr_array_add (members, item);
    }
  g_hash_table_iter_init (&iter, cells);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GPtrArray *members = value;
      Cluster *cluster;

      if (members->len < 2)
        continue;
      cluster = g_new0 (Cluster, 1);
      cluster->ids = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; i < members->len; i++)
        {
          MhHospitalItem *item = g_ptr_array_index (members, i);
          const char *id = mh_hospital_item_get_id (item);

          cluster->lat += mh_hospital_item_get_latitude (item) / members->len;
          cluster->lon += mh_hospital_item_get_longitude (item) / members->len;
          g_ptr_array_add (cluster->ids, g_strdup (id));
          g_hash_table_insert (self->cluster_of, cluster->ids->pdata[i], cluster);
          remove_hospital_marker (self, id);
        }
      g_ptr_array_add (self->clusters, cluster);
    }
}

/* Makes the pins and clusters that are in view and have none yet; with
 * few hospitals, every pin. */
static void
place_markers (MhMapView *self)
{
  GListModel *model = G_LIST_MODEL (self->hospitals);
  double zoom = shumate_viewport_get_zoom_level (self->viewport);
  int width = gtk_widget_get_width (GTK_WIDGET (self->map));
  int height = gtk_widget_get_height (GTK_WIDGET (self->map));
  gboolean cull = many_hospitals (self);
  double cx, cy, x, y, half_w, half_h;

  g_clear_handle_id (&self->place_id, g_source_remove);
  if (self->hospitals == NULL)
    return;
  if ((int) floor (zoom) != self->placed_zoom)
    make_clusters (self, (int) floor (zoom));
  if (width <= 0 || height <= 0)
    {
      /* Not laid out yet (the first frame): the window's size. */
      GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

      width = FALLBACK_WIDTH;
      height = FALLBACK_HEIGHT;
      if (GTK_IS_WINDOW (root))
        gtk_window_get_default_size (GTK_WINDOW (root), &width, &height);
      width = width > 0 ? width : FALLBACK_WIDTH;
      height = height > 0 ? height : FALLBACK_HEIGHT;
    }
  else
    {
      self->placed_width = width;
      self->placed_height = height;
    }
  world_pixels (shumate_location_get_latitude (SHUMATE_LOCATION (self->viewport)),
                shumate_location_get_longitude (SHUMATE_LOCATION (self->viewport)), zoom, &cx,
                &cy);
  half_w = width / 2.0 + PLACE_MARGIN_PX;
  half_h = height / 2.0 + PLACE_MARGIN_PX;

  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr (MhHospitalItem) item = g_list_model_get_item (model, i);
      const char *id = mh_hospital_item_get_id (item);

      if (g_hash_table_contains (self->hospital_markers, id)
          || g_hash_table_contains (self->cluster_of, id))
        continue;
      world_pixels (mh_hospital_item_get_latitude (item), mh_hospital_item_get_longitude (item),
                    zoom, &x, &y);
      if (cull && (fabs (x - cx) > half_w || fabs (y - cy) > half_h)
          && !keeps_own_pin (self, id))
        continue;
      ensure_hospital_marker (self, id);
      update_hospital_marker (self, mh_hospital_item_get_hospital (item), self->specialty,
                              self->category);
    }
  for (guint i = 0; i < self->clusters->len; i++)
    {
      Cluster *cluster = g_ptr_array_index (self->clusters, i);

      if (cluster->marker != NULL)
        continue;
      world_pixels (cluster->lat, cluster->lon, zoom, &x, &y);
      if (fabs (x - cx) <= half_w && fabs (y - cy) <= half_h)
        add_cluster_marker (self, cluster);
    }
}

static gboolean
place_idle_cb (gpointer user_data)
{
  MhMapView *self = user_data;

  self->place_id = 0;
  place_markers (self);
  return G_SOURCE_REMOVE;
}

/* Before the redraw (G_PRIORITY_HIGH_IDLE + 20) that would show the map
 * without them. */
static void
queue_place (MhMapView *self)
{
  if (self->place_id == 0 && self->hospitals != NULL)
    self->place_id = g_idle_add_full (G_PRIORITY_HIGH_IDLE, place_idle_cb, self, NULL);
}

static void
viewport_moved_cb (MhMapView *self)
{
  if (many_hospitals (self))
    queue_place (self);
}

static void
update_unit_marker (MhMapView *self, JsonObject *unit)
{
  const char *id = mh_json_get_string (unit, "id");
  const char *own_unit = self->node != NULL ? mh_node_get_unit_id (self->node) : NULL;
  ShumateMarker *marker;
  GtkWidget *label;
  g_autofree char *tooltip = NULL;

  if (id == NULL || mh_json_get_string (unit, "call_sign") == NULL
      || !json_object_has_member (unit, "lat") || json_object_get_null_member (unit, "lat"))
    return;
  marker = g_hash_table_lookup (self->unit_markers, id);
  if (marker == NULL)
    {
      marker = shumate_marker_new ();
      label = gtk_label_new (NULL);
      gtk_widget_add_css_class (label, "mh-unit");
      shumate_marker_set_child (marker, label);
      shumate_marker_layer_add_marker (self->unit_layer, marker);
      g_hash_table_insert (self->unit_markers, g_strdup (id), marker);
    }
  label = shumate_marker_get_child (marker);
  gtk_label_set_text (GTK_LABEL (label), mh_json_get_string (unit, "call_sign"));
  if (g_strcmp0 (own_unit, id) == 0)
    gtk_widget_add_css_class (label, "mh-unit-self");
  gtk_widget_remove_css_class (label, "mh-unit-busy");
  if (g_strcmp0 (mh_json_get_string (unit, "status"), "available") != 0)
    gtk_widget_add_css_class (label, "mh-unit-busy");
  tooltip = g_strdup_printf ("%s — %s", mh_json_get_string (unit, "call_sign"),
                             mh_label_for (mh_json_get_string (unit, "status")));
  gtk_widget_set_tooltip_text (label, tooltip);
  shumate_location_set_location (SHUMATE_LOCATION (marker),
                                 json_object_get_double_member (unit, "lat"),
                                 json_object_get_double_member (unit, "lon"));
}

/* An open or assigned incident: a warning sign, red until a unit has it. */
static void
update_incident_marker (MhMapView *self, JsonObject *incident)
{
  const char *id = mh_json_get_string (incident, "id");
  const char *state = mh_json_get_string (incident, "state");
  ShumateMarker *marker;
  GtkWidget *image;
  g_autofree char *tooltip = NULL;
  const char *call_sign = mh_json_get_string (incident, "call_sign");

  marker = g_hash_table_lookup (self->incident_markers, id);
  if (marker == NULL)
    {
      marker = shumate_marker_new ();
      image = gtk_image_new_from_icon_name ("dialog-warning-symbolic");
      gtk_widget_add_css_class (image, "mh-incident");
      shumate_marker_set_child (marker, image);
      shumate_marker_layer_add_marker (self->incident_layer, marker);
      g_hash_table_insert (self->incident_markers, g_strdup (id), marker);
    }
  image = shumate_marker_get_child (marker);
  gtk_widget_remove_css_class (image, "mh-incident-assigned");
  if (g_strcmp0 (state, "assigned") == 0)
    gtk_widget_add_css_class (image, "mh-incident-assigned");
  if (g_strcmp0 (state, "assigned") == 0 && call_sign != NULL)
    /* TRANSLATORS: an incident on the map: nature, priority — unit call sign */
    tooltip = g_strdup_printf (_("%s, %s — %s"),
                               mh_alert_label (mh_json_get_string (incident, "nature")),
                               mh_priority_label (mh_json_get_string (incident, "priority")),
                               call_sign);
  else
    /* TRANSLATORS: an incident on the map: nature, priority */
    tooltip = g_strdup_printf (_("%s, %s"), mh_alert_label (mh_json_get_string (incident, "nature")),
                               mh_priority_label (mh_json_get_string (incident, "priority")));
  gtk_widget_set_tooltip_text (image, tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (image), GTK_ACCESSIBLE_PROPERTY_LABEL, tooltip,
                                  -1);
  shumate_location_set_location (SHUMATE_LOCATION (marker),
                                 json_object_get_double_member (incident, "lat"),
                                 json_object_get_double_member (incident, "lon"));
}

/* Removes the markers whose row is gone. */
static void
prune_markers (GHashTable *markers, GHashTable *seen, ShumateMarkerLayer *layer)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, markers);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (seen, key))
      {
        shumate_marker_layer_remove_marker (layer, value);
        g_hash_table_iter_remove (&iter);
      }
}

static void
centre_on_region (MhMapView *self)
{
  GListModel *model = G_LIST_MODEL (self->hospitals);
  guint n = g_list_model_get_n_items (model);
  double lat = 0, lon = 0;

  if (n == 0)
    return;
  /* The mean, not the middle of the bounding box: hospitals crowd in the
   * cities, and a few outliers should not push them off screen. */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (MhHospitalItem) item = g_list_model_get_item (model, i);

      lat += mh_hospital_item_get_latitude (item);
      lon += mh_hospital_item_get_longitude (item);
    }
  shumate_viewport_set_zoom_level (self->viewport, REGION_ZOOM);
  shumate_map_center_on (self->map, lat / n, lon / n);
  self->centred = TRUE;
}

static void
update_legend (MhMapView *self, guint specialty, const char *category)
{
  g_autofree char *text = NULL;
  const char *specialty_text = specialty > 0 ? mh_specialty_label (specialty) : NULL;
  const char *category_text = category != NULL && *category != '\0' ? mh_label_for (category)
                                                                     : _("any bed");

  /* TRANSLATORS: the legend of the map: specialty · bed category */
  text = g_strdup_printf (_("%s · %s"), specialty_text != NULL ? specialty_text : _("Any specialty"),
                          category_text);
  gtk_label_set_text (self->legend_label, text);
}

static void
item_changed_cb (MhMapView *self, GParamSpec *pspec, MhHospitalItem *item)
{
  update_hospital_marker (self, mh_hospital_item_get_hospital (item), self->specialty,
                          self->category);
}

/* Follows every hospital of the list, and removes the pins of hospitals
 * no longer in it. @update_all: the pin states again (the settings
 * changed); else only for hospitals new to the map. */
static void
sync_hospital_markers (MhMapView *self, gboolean update_all)
{
  GListModel *model = G_LIST_MODEL (self->hospitals);
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr (MhHospitalItem) item = g_list_model_get_item (model, i);

      /* Known items are connected; a renamed one comes back as new. */
      if (!update_all && g_object_get_data (G_OBJECT (item), "mh-map-view") == self)
        continue;
      if (g_object_get_data (G_OBJECT (item), "mh-map-view") != self)
        {
          g_object_set_data (G_OBJECT (item), "mh-map-view", self);
          g_signal_connect_object (item, "notify::hospital", G_CALLBACK (item_changed_cb), self,
                                   G_CONNECT_SWAPPED);
        }
      update_hospital_marker (self, mh_hospital_item_get_hospital (item), self->specialty,
                              self->category);
    }
  g_hash_table_iter_init (&iter, self->pin_colors);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (mh_hospital_list_lookup (self->hospitals, key) == NULL)
      g_ptr_array_add (gone, g_strdup (key));
  for (guint i = 0; i < gone->len; i++)
    {
      remove_hospital_marker (self, g_ptr_array_index (gone, i));
      g_hash_table_remove (self->pin_colors, g_ptr_array_index (gone, i));
    }
  /* Hospitals came or went: the clusters are made again. */
  self->placed_zoom = -1;
  place_markers (self);
}

static void
hospitals_changed_cb (MhMapView *self, guint position, guint removed, guint added)
{
  sync_hospital_markers (self, FALSE);
}

void
mh_map_view_refresh (MhMapView *self)
{
  g_autoptr (JsonArray) units = NULL;
  g_autoptr (JsonArray) incidents = NULL;
  g_autoptr (GHashTable) seen = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (MH_IS_MAP_VIEW (self));

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  if (self->node == NULL)
    return;

  g_free (self->category);
  self->category = g_settings_get_string (self->settings, "bed-category");
  self->specialty = g_settings_get_uint (self->settings, "specialty");
  update_legend (self, self->specialty, self->category);

  /* The pins again for the specialty and category, from the list: no
   * query. */
  mh_hospital_list_flush (self->hospitals);
  /* Centred first: moving the map moves every marker already there. */
  if (!self->centred)
    centre_on_region (self);
  sync_hospital_markers (self, TRUE);

  units = mh_node_list_units (self->node, &error);
  if (units == NULL)
    {
      g_warning ("listing units: %s", error->message);
      return;
    }
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < json_array_get_length (units); i++)
    {
      JsonObject *u = json_array_get_object_element (units, i);

      update_unit_marker (self, u);
      if (mh_json_get_string (u, "id") != NULL)
        g_hash_table_add (seen, (gpointer) mh_json_get_string (u, "id"));
    }
  prune_markers (self->unit_markers, seen, self->unit_layer);

  /* A hospital's desk sees no incidents: an error is no news there. */
  incidents = mh_node_list_incidents (self->node, NULL);
  g_hash_table_remove_all (seen);
  for (guint i = 0; incidents != NULL && i < json_array_get_length (incidents); i++)
    {
      JsonObject *incident = json_array_get_object_element (incidents, i);
      const char *state = mh_json_get_string (incident, "state");

      if (mh_json_get_string (incident, "id") == NULL
          || (g_strcmp0 (state, "open") != 0 && g_strcmp0 (state, "assigned") != 0))
        continue;
      update_incident_marker (self, incident);
      g_hash_table_add (seen, (gpointer) mh_json_get_string (incident, "id"));
    }
  prune_markers (self->incident_markers, seen, self->incident_layer);
}

static gboolean
refresh_idle_cb (gpointer user_data)
{
  MhMapView *self = user_data;

  self->refresh_id = 0;
  mh_map_view_refresh (self);
  return G_SOURCE_REMOVE;
}

/* Many rows change at once when peers catch up: one refresh per idle. */
static void
queue_refresh (MhMapView *self)
{
  if (self->refresh_id == 0)
    self->refresh_id = g_idle_add (refresh_idle_cb, self);
}

static void
store_changed_cb (MhMapView *self, const char *table, const char *row, MhStore *store)
{
  queue_refresh (self);
}

/* The projection and zoom range when no tile server sets them: never added
 * as a layer, so nothing is ever fetched. */
static void
use_offline_reference (MhMapView *self)
{
  ShumateRasterRenderer *renderer;

  renderer = shumate_raster_renderer_new_full_from_url ("medhead-offline", _("Offline"), "", NULL,
                                                        0, 19, 256,
                                                        SHUMATE_MAP_PROJECTION_MERCATOR,
                                                        "http://127.0.0.1/{z}/{x}/{y}.png");
  g_set_object (&self->reference_source, SHUMATE_MAP_SOURCE (renderer));
  g_object_unref (renderer);
  shumate_viewport_set_reference_map_source (self->viewport, self->reference_source);
}

static void
show_base_message (MhMapView *self, const char *message, gboolean warning)
{
  gtk_label_set_text (GTK_LABEL (self->offline_label), message);
  gtk_widget_set_visible (self->offline_label, message != NULL);
  if (warning)
    gtk_widget_add_css_class (self->offline_label, "mh-offline-warning");
  else
    gtk_widget_remove_css_class (self->offline_label, "mh-offline-warning");
}

/* The base under the markers, from the settings: a local tile pack when
 * one is set, else an http(s) URL template, else none. The grid stays
 * below the tiles, so wherever a tile is missing (outside the pack, no
 * network) the map still shows the offline base rather than a hole. */
static void
apply_tile_source (MhMapView *self)
{
  g_autofree char *url = g_settings_get_string (self->settings, "tile-url");
  g_autofree char *pack = g_settings_get_string (self->settings, "tile-pack");
  gboolean online = g_str_has_prefix (url, "http://") || g_str_has_prefix (url, "https://");
  g_autoptr (ShumateRasterRenderer) tiles = NULL;
  g_autoptr (GError) error = NULL;

  if (self->base_layer != NULL)
    {
      shumate_map_remove_layer (self->map, SHUMATE_LAYER (self->base_layer));
      self->base_layer = NULL;
    }
  g_clear_pointer (&self->tile_error, g_free);

  if (*pack != '\0')
    {
      g_autoptr (MhMbtilesSource) source = mh_mbtiles_source_new (pack, &error);

      if (source != NULL)
        {
          /* The zoom range stays the offline one: past the pack's last
           * level the grid shows, and pins can still be told apart. */
          tiles = mh_mbtiles_source_new_renderer (source);
          use_offline_reference (self);
          show_base_message (self, NULL, FALSE);
        }
      else
        {
          g_autofree char *message = NULL;

          g_message ("tile pack: %s", error->message);
          self->tile_error = g_strdup (error->message);
          /* TRANSLATORS: %s says why the tile pack file cannot be read */
          message = g_strdup_printf (_("Tile pack unavailable, offline base shown: %s"),
                                     error->message);
          use_offline_reference (self);
          show_base_message (self, message, TRUE);
        }
    }
  else if (online)
    {
      /* ShumateTileDownloader keeps every tile it fetches in a
       * ShumateFileCache (SQLite, 100 MB) under $XDG_CACHE_HOME/shumate,
       * keyed by this template, and serves from it when offline. */
      tiles = shumate_raster_renderer_new_full_from_url ("medhead-tiles", _("Map tiles"), "", NULL,
                                                         0, 19, 256,
                                                         SHUMATE_MAP_PROJECTION_MERCATOR, url);
      g_set_object (&self->reference_source, SHUMATE_MAP_SOURCE (tiles));
      shumate_viewport_set_reference_map_source (self->viewport, self->reference_source);
      show_base_message (self, NULL, FALSE);
    }
  else
    {
      use_offline_reference (self);
      show_base_message (self, _("Offline map: no tile source"), FALSE);
    }

  if (tiles != NULL)
    {
      self->base_layer = shumate_map_layer_new (SHUMATE_MAP_SOURCE (tiles), self->viewport);
      shumate_map_insert_layer_above (self->map, SHUMATE_LAYER (self->base_layer),
                                      SHUMATE_LAYER (self->grid_layer));
    }
}

static void
settings_changed_cb (MhMapView *self, const char *key, GSettings *settings)
{
  if (g_strcmp0 (key, "tile-url") == 0 || g_strcmp0 (key, "tile-pack") == 0)
    apply_tile_source (self);
  else
    queue_refresh (self);
}

static void
zoom_in_clicked_cb (MhMapView *self)
{
  shumate_map_zoom_in (self->map);
}

static void
zoom_out_clicked_cb (MhMapView *self)
{
  shumate_map_zoom_out (self->map);
}

static GtkWidget *
build_zoom_buttons (MhMapView *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *button;

  gtk_widget_add_css_class (box, "linked");
  gtk_widget_add_css_class (box, "osd");
  gtk_widget_set_halign (box, GTK_ALIGN_END);
  gtk_widget_set_valign (box, GTK_ALIGN_START);
  gtk_widget_set_margin_top (box, 12);
  gtk_widget_set_margin_end (box, 12);

  button = gtk_button_new_from_icon_name ("zoom-in-symbolic");
  gtk_widget_set_tooltip_text (button, _("Zoom In"));
  /* GTK 4.8 does not name an icon button after its tooltip. */
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Zoom In"), -1);
  g_signal_connect_object (button, "clicked", G_CALLBACK (zoom_in_clicked_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_box_append (GTK_BOX (box), button);
  button = gtk_button_new_from_icon_name ("zoom-out-symbolic");
  gtk_widget_set_tooltip_text (button, _("Zoom Out"));
  /* GTK 4.8 does not name an icon button after its tooltip. */
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Zoom Out"), -1);
  g_signal_connect_object (button, "clicked", G_CALLBACK (zoom_out_clicked_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_box_append (GTK_BOX (box), button);
  return box;
}

static GtkWidget *
legend_swatch (const char *css_class, const char *text)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
  GtkWidget *dot = gtk_label_new (NULL);

  gtk_widget_add_css_class (dot, "mh-dot");
  gtk_widget_add_css_class (dot, css_class);
  gtk_widget_set_valign (dot, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (box), dot);
  gtk_box_append (GTK_BOX (box), gtk_label_new (text));
  return box;
}

static GtkWidget *
build_legend (MhMapView *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 10);

  gtk_widget_add_css_class (box, "mh-legend");
  gtk_widget_add_css_class (box, "osd");
  gtk_widget_set_halign (box, GTK_ALIGN_START);
  gtk_widget_set_valign (box, GTK_ALIGN_START);
  gtk_widget_set_margin_top (box, 12);
  gtk_widget_set_margin_start (box, 12);

  self->legend_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->legend_label, 0);
  gtk_widget_add_css_class (GTK_WIDGET (self->legend_label), "heading");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->legend_label));

  gtk_box_append (GTK_BOX (row), legend_swatch ("mh-pin-green", _("3+ free")));
  gtk_box_append (GTK_BOX (row), legend_swatch ("mh-pin-amber", _("1–2")));
  gtk_box_append (GTK_BOX (row), legend_swatch ("mh-pin-red", _("none")));
  gtk_box_append (GTK_BOX (row), legend_swatch ("mh-pin-grey", _("closed, stale or n/a")));
  gtk_box_append (GTK_BOX (box), row);
  return box;
}

static void
mh_map_view_dispose (GObject *object)
{
  MhMapView *self = MH_MAP_VIEW (object);

  close_popover (self);
  g_clear_handle_id (&self->refresh_id, g_source_remove);
  g_clear_handle_id (&self->place_id, g_source_remove);
  if (self->node != NULL)
    g_signal_handlers_disconnect_by_data (mh_node_get_store (self->node), self);
  g_clear_pointer (&self->overlay, gtk_widget_unparent);
  G_OBJECT_CLASS (mh_map_view_parent_class)->dispose (object);
}

static void
mh_map_view_finalize (GObject *object)
{
  MhMapView *self = MH_MAP_VIEW (object);

  g_clear_object (&self->node);
  g_clear_object (&self->hospitals);
  g_clear_pointer (&self->category, g_free);
  g_clear_object (&self->settings);
  g_clear_object (&self->reference_source);
  g_clear_pointer (&self->hospital_markers, g_hash_table_unref);
  g_clear_pointer (&self->unit_markers, g_hash_table_unref);
  g_clear_pointer (&self->incident_markers, g_hash_table_unref);
  g_clear_pointer (&self->pin_colors, g_hash_table_unref);
  g_clear_pointer (&self->cluster_of, g_hash_table_unref);
  g_clear_pointer (&self->clusters, g_ptr_array_unref);
  g_clear_pointer (&self->selected_id, g_free);
  g_clear_pointer (&self->tile_error, g_free);
  g_clear_pointer (&self->results, json_array_unref);
  g_clear_pointer (&self->result_ranks, g_hash_table_unref);
  G_OBJECT_CLASS (mh_map_view_parent_class)->finalize (object);
}

static void
mh_map_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MhMapView *self = MH_MAP_VIEW (object);

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
mh_map_view_set_property (GObject *object, guint prop_id, const GValue *value,
                          GParamSpec *pspec)
{
  MhMapView *self = MH_MAP_VIEW (object);

  switch (prop_id)
    {
    case PROP_RESULTS:
      mh_map_view_set_results (self, g_value_get_boxed (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_map_view_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                     int *natural, int *minimum_baseline, int *natural_baseline)
{
  MhMapView *self = MH_MAP_VIEW (widget);

  if (self->overlay != NULL)
    gtk_widget_measure (self->overlay, orientation, for_size, minimum, natural, minimum_baseline,
                        natural_baseline);
}

/* Grown (or first laid out): more of the map shows, and may want pins. */
static void
mh_map_view_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  MhMapView *self = MH_MAP_VIEW (widget);

  if (self->overlay != NULL)
    gtk_widget_allocate (self->overlay, width, height, baseline, NULL);
  if (many_hospitals (self) && (width > self->placed_width || height > self->placed_height))
    queue_place (self);
}

/* A secondary click (or a long press on a touch screen) picks the point
 * Find hospital searches from: where the crew says it is, when there is
 * no GPS fix. */
/* The point Find hospital searches from, marked. */
static void
show_search_point (MhMapView *self, double lat, double lon)
{
  if (self->point_marker == NULL)
    {
      GtkWidget *image = gtk_image_new_from_icon_name ("find-location-symbolic");

      gtk_widget_add_css_class (image, "mh-chosen-point");
      gtk_widget_set_tooltip_text (image, _("Find hospital searches from here"));
      self->point_marker = shumate_marker_new ();
      shumate_marker_set_child (self->point_marker, image);
      shumate_marker_layer_add_marker (self->unit_layer, self->point_marker);
    }
  shumate_location_set_location (SHUMATE_LOCATION (self->point_marker), lat, lon);
}

static void
choose_point (MhMapView *self, double x, double y)
{
  double lat, lon;

  shumate_viewport_widget_coords_to_location (self->viewport, GTK_WIDGET (self->map), x, y, &lat,
                                              &lon);
  show_search_point (self, lat, lon);
  g_signal_emit (self, signals[POINT_CHOSEN], 0, lat, lon);
}

static void
secondary_pressed_cb (MhMapView *self, int n_press, double x, double y, GtkGestureClick *gesture)
{
  choose_point (self, x, y);
}

static void
long_pressed_cb (MhMapView *self, double x, double y, GtkGestureLongPress *gesture)
{
  choose_point (self, x, y);
}

static void
mh_map_view_class_init (MhMapViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_map_view_dispose;
  object_class->finalize = mh_map_view_finalize;
  object_class->get_property = mh_map_view_get_property;
  object_class->set_property = mh_map_view_set_property;
  widget_class->measure = mh_map_view_measure;
  widget_class->size_allocate = mh_map_view_size_allocate;
  gtk_widget_class_set_css_name (widget_class, "mh-map-view");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  /**
   * MhMapView::point-chosen:
   * @latitude: degrees
   * @longitude: degrees
   *
   * The user picked a point on the map to search from.
   */
  signals[POINT_CHOSEN] = g_signal_new ("point-chosen", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                                        G_TYPE_DOUBLE, G_TYPE_DOUBLE);

  /**
   * MhMapView:results:
   *
   * Find hospital's results (objects of mh_node_nearest_hospitals, in
   * rank order), marked on the map; NULL or empty: none.
   */
  properties[PROP_RESULTS] = g_param_spec_boxed ("results", NULL, NULL, JSON_TYPE_ARRAY,
                                                 G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY
                                                   | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mh_map_view_init (MhMapView *self)
{
  GtkWidget *scale;
  GtkGesture *secondary, *long_press;

  self->hospital_markers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->unit_markers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->incident_markers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->pin_colors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->clusters = g_ptr_array_new_with_free_func ((GDestroyNotify) cluster_free);
  self->cluster_of = g_hash_table_new (g_str_hash, g_str_equal);
  self->result_ranks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->placed_zoom = -1;
  self->settings = mh_settings_new ();

  self->overlay = gtk_overlay_new ();
  gtk_widget_set_parent (self->overlay, GTK_WIDGET (self));

  self->map = shumate_map_new ();
  gtk_widget_add_css_class (GTK_WIDGET (self->map), "mh-map");
  gtk_widget_set_hexpand (GTK_WIDGET (self->map), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self->map), TRUE);
  gtk_overlay_set_child (GTK_OVERLAY (self->overlay), GTK_WIDGET (self->map));
  self->viewport = shumate_map_get_viewport (self->map);

  self->grid_layer = mh_grid_layer_new (self->viewport);
  shumate_map_add_layer (self->map, SHUMATE_LAYER (self->grid_layer));
  self->unit_layer = shumate_marker_layer_new (self->viewport);
  shumate_map_add_layer (self->map, SHUMATE_LAYER (self->unit_layer));
  self->hospital_layer = shumate_marker_layer_new_full (self->viewport, GTK_SELECTION_NONE);
  shumate_map_add_layer (self->map, SHUMATE_LAYER (self->hospital_layer));
  /* Above the hospitals: an incident must not hide under a pin. */
  self->incident_layer = shumate_marker_layer_new_full (self->viewport, GTK_SELECTION_NONE);
  shumate_map_add_layer (self->map, SHUMATE_LAYER (self->incident_layer));

  gtk_overlay_add_overlay (GTK_OVERLAY (self->overlay), build_zoom_buttons (self));
  gtk_overlay_add_overlay (GTK_OVERLAY (self->overlay), build_legend (self));

  scale = GTK_WIDGET (shumate_scale_new (self->viewport));
  gtk_widget_set_halign (scale, GTK_ALIGN_START);
  gtk_widget_set_valign (scale, GTK_ALIGN_END);
  gtk_widget_set_can_target (scale, FALSE);
  gtk_overlay_add_overlay (GTK_OVERLAY (self->overlay), scale);

  self->offline_label = gtk_label_new (NULL);
  gtk_label_set_wrap (GTK_LABEL (self->offline_label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (self->offline_label), 60);
  gtk_widget_add_css_class (self->offline_label, "mh-offline");
  gtk_widget_add_css_class (self->offline_label, "caption");
  gtk_widget_set_halign (self->offline_label, GTK_ALIGN_END);
  gtk_widget_set_valign (self->offline_label, GTK_ALIGN_END);
  gtk_widget_set_can_target (self->offline_label, FALSE);
  gtk_overlay_add_overlay (GTK_OVERLAY (self->overlay), self->offline_label);

  apply_tile_source (self);
  shumate_viewport_set_zoom_level (self->viewport, REGION_ZOOM);

  g_signal_connect_object (self->settings, "changed", G_CALLBACK (settings_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->viewport, "notify", G_CALLBACK (viewport_moved_cb), self,
                           G_CONNECT_SWAPPED);

  secondary = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (secondary), GDK_BUTTON_SECONDARY);
  g_signal_connect_object (secondary, "pressed", G_CALLBACK (secondary_pressed_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->map), GTK_EVENT_CONTROLLER (secondary));
  long_press = gtk_gesture_long_press_new ();
  gtk_gesture_single_set_touch_only (GTK_GESTURE_SINGLE (long_press), TRUE);
  g_signal_connect_object (long_press, "pressed", G_CALLBACK (long_pressed_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->map), GTK_EVENT_CONTROLLER (long_press));
}

void
mh_map_view_set_node (MhMapView *self, MhNode *node)
{
  MhStore *store;

  g_return_if_fail (MH_IS_MAP_VIEW (self));
  g_return_if_fail (MH_IS_NODE (node));
  g_return_if_fail (self->node == NULL);

  self->node = g_object_ref (node);
  store = mh_node_get_store (node);
  /* Hospitals come through the shared list, row by row; units are few
   * and read again whole. */
  self->hospitals = g_object_ref (mh_hospital_list_get_for_node (node));
  g_signal_connect_object (self->hospitals, "items-changed", G_CALLBACK (hospitals_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (store, "changed::unit", G_CALLBACK (store_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (store, "changed::unit_position", G_CALLBACK (store_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (store, "changed::incident", G_CALLBACK (store_changed_cb), self,
                           G_CONNECT_SWAPPED);
  mh_map_view_refresh (self);
}

void
mh_map_view_get_center (MhMapView *self, double *lat, double *lon)
{
  g_return_if_fail (MH_IS_MAP_VIEW (self));

  *lat = shumate_location_get_latitude (SHUMATE_LOCATION (self->viewport));
  *lon = shumate_location_get_longitude (SHUMATE_LOCATION (self->viewport));
}

void
mh_map_view_select_hospital (MhMapView *self, const char *hospital_id)
{
  MhHospitalItem *item;
  ShumateMarker *marker;

  g_return_if_fail (MH_IS_MAP_VIEW (self));
  g_return_if_fail (hospital_id != NULL);

  if (self->hospitals == NULL
      || (item = mh_hospital_list_lookup (self->hospitals, hospital_id)) == NULL)
    return;
  set_selected (self, hospital_id);
  if (shumate_viewport_get_zoom_level (self->viewport) < SELECT_ZOOM)
    shumate_viewport_set_zoom_level (self->viewport, SELECT_ZOOM);
  shumate_map_center_on (self->map, mh_hospital_item_get_latitude (item),
                         mh_hospital_item_get_longitude (item));
  /* Its pin now, not at the next idle: the card hangs from it. */
  place_markers (self);
  marker = g_hash_table_lookup (self->hospital_markers, hospital_id);
  if (marker != NULL)
    open_card (self, hospital_id);
}

guint
mh_map_view_get_n_hospital_markers (MhMapView *self)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), 0);
  return g_hash_table_size (self->hospital_markers);
}

guint
mh_map_view_get_n_clusters (MhMapView *self)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), 0);
  return self->clusters->len;
}

guint
mh_map_view_get_n_unit_markers (MhMapView *self)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), 0);
  return g_hash_table_size (self->unit_markers);
}

const char *
mh_map_view_get_pin_color (MhMapView *self, const char *hospital_id)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), NULL);
  return g_hash_table_lookup (self->pin_colors, hospital_id);
}

const char *
mh_map_view_get_tile_error (MhMapView *self)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), NULL);
  return self->tile_error;
}

gboolean
mh_map_view_has_tiles (MhMapView *self)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), FALSE);
  return self->base_layer != NULL;
}

const char *
mh_map_view_get_selected_hospital (MhMapView *self)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), NULL);
  return self->selected_id;
}

guint
mh_map_view_get_n_incident_markers (MhMapView *self)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), 0);
  return g_hash_table_size (self->incident_markers);
}

void
mh_map_view_center_on (MhMapView *self, double lat, double lon)
{
  g_return_if_fail (MH_IS_MAP_VIEW (self));

  if (shumate_viewport_get_zoom_level (self->viewport) < SELECT_ZOOM)
    shumate_viewport_set_zoom_level (self->viewport, SELECT_ZOOM);
  shumate_map_center_on (self->map, lat, lon);
  /* Not centred on the region again at the next refresh. */
  self->centred = TRUE;
}

/* Marks the results (rank order) on their pins: each result gets a pin,
 * never grouped in a cluster, drawn above the others with rank 1 on top;
 * the pins of the previous results go back to plain ones. */
void
mh_map_view_set_results (MhMapView *self, JsonArray *results)
{
  g_autoptr (GHashTable) old = NULL;
  g_autoptr (JsonArray) ref = results != NULL ? json_array_ref (results) : NULL;
  GHashTableIter iter;
  gpointer key;
  guint n;

  g_return_if_fail (MH_IS_MAP_VIEW (self));

  if (self->results == results)
    return;
  g_clear_pointer (&self->results, json_array_unref);
  self->results = g_steal_pointer (&ref);
  old = g_steal_pointer (&self->result_ranks);
  self->result_ranks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  n = self->results != NULL ? json_array_get_length (self->results) : 0;
  for (guint i = 0; i < n; i++)
    {
      const char *id = mh_json_get_string (json_array_get_object_element (self->results, i),
                                           "id");

      if (id != NULL && !g_hash_table_contains (self->result_ranks, id))
        g_hash_table_insert (self->result_ranks, g_strdup (id), GUINT_TO_POINTER (i + 1));
    }

  if (self->hospitals != NULL)
    {
      /* Clusters again without the results (or with the former ones). */
      if (many_hospitals (self))
        self->placed_zoom = -1;
      place_markers (self);
      g_hash_table_iter_init (&iter, old);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        if (!g_hash_table_contains (self->result_ranks, key))
          {
            MhHospitalItem *item = mh_hospital_list_lookup (self->hospitals, key);

            if (item != NULL)
              update_hospital_marker (self, mh_hospital_item_get_hospital (item), self->specialty,
                                      self->category);
          }
      /* From the last to the first: the layer draws its last child on top. */
      for (guint i = n; i > 0; i--)
        {
          const char *id = mh_json_get_string (json_array_get_object_element (self->results,
                                                                              i - 1),
                                               "id");
          MhHospitalItem *item = id != NULL ? mh_hospital_list_lookup (self->hospitals, id) : NULL;
          ShumateMarker *marker;

          if (item == NULL)
            continue;
          update_hospital_marker (self, mh_hospital_item_get_hospital (item), self->specialty,
                                  self->category);
          marker = g_hash_table_lookup (self->hospital_markers, id);
          if (marker != NULL)
            gtk_widget_insert_before (GTK_WIDGET (marker), GTK_WIDGET (self->hospital_layer),
                                      NULL);
        }
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RESULTS]);
}

JsonArray *
mh_map_view_get_results (MhMapView *self)
{
  g_return_val_if_fail (MH_IS_MAP_VIEW (self), NULL);
  return self->results;
}

guint
mh_map_view_get_result_rank (MhMapView *self, const char *hospital_id)
{
  ShumateMarker *marker;

  g_return_val_if_fail (MH_IS_MAP_VIEW (self), 0);
  g_return_val_if_fail (hospital_id != NULL, 0);

  marker = g_hash_table_lookup (self->hospital_markers, hospital_id);
  if (marker == NULL)
    return 0;
  return GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (shumate_marker_get_child (marker)),
                                              "mh-rank-number"));
}

GStrv
mh_map_view_dup_marked_results (MhMapView *self)
{
  g_autoptr (GPtrArray) marked = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (MH_IS_MAP_VIEW (self), NULL);

  g_hash_table_iter_init (&iter, self->hospital_markers);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      guint rank = GPOINTER_TO_UINT (g_object_get_data (
        G_OBJECT (shumate_marker_get_child (value)), "mh-rank-number"));

      if (rank == 0)
        continue;
      if (marked->len < rank)
        g_ptr_array_set_size (marked, rank);
      g_ptr_array_index (marked, rank - 1) = g_strdup (key);
    }
  /* A hole (a rank without its pin) shows as an empty id. */
  for (guint i = 0; i < marked->len; i++)
    if (g_ptr_array_index (marked, i) == NULL)
      g_ptr_array_index (marked, i) = g_strdup ("");
  g_ptr_array_add (marked, NULL);
  return (GStrv) g_ptr_array_steal (marked, NULL);
}

/* Mercator y (world pixels at @zoom) back to a latitude. */
static double
latitude_at (double y, double zoom)
{
  double size = 256.0 * exp2 (zoom);

  return atan (sinh (G_PI * (1.0 - 2.0 * y / size))) * 180.0 / G_PI;
}

/* Frames the results and the point they were searched from: the closest
 * zoom (up to SELECT_ZOOM) that shows them all, with a margin for the
 * pins and the map's overlays. */
void
mh_map_view_frame_results (MhMapView *self, double lat, double lon)
{
  double min_x, max_x, min_y, max_y, x, y;
  double zoom = SELECT_ZOOM;
  int width = gtk_widget_get_width (GTK_WIDGET (self->map));
  int height = gtk_widget_get_height (GTK_WIDGET (self->map));
  guint n;

  g_return_if_fail (MH_IS_MAP_VIEW (self));

  if (width <= 0 || height <= 0)
    {
      width = FALLBACK_WIDTH;
      height = FALLBACK_HEIGHT;
    }
  /* Room for the legend above and the pins' own size. */
  width = MAX (width - 2 * FRAME_MARGIN_PX, 64);
  height = MAX (height - 2 * FRAME_MARGIN_PX, 64);
  n = self->results != NULL ? json_array_get_length (self->results) : 0;
  /* At zoom 0, then scaled: the Mercator box only doubles per level. */
  world_pixels (lat, lon, 0, &min_x, &min_y);
  max_x = min_x;
  max_y = min_y;
  for (guint i = 0; i < n; i++)
    {
      JsonObject *result = json_array_get_object_element (self->results, i);

      if (!json_object_has_member (result, "lat") || !json_object_has_member (result, "lon"))
        continue;
      world_pixels (json_object_get_double_member (result, "lat"),
                    json_object_get_double_member (result, "lon"), 0, &x, &y);
      min_x = MIN (min_x, x);
      max_x = MAX (max_x, x);
      min_y = MIN (min_y, y);
      max_y = MAX (max_y, y);
    }
  while (zoom > shumate_viewport_get_min_zoom_level (self->viewport)
         && ((max_x - min_x) * exp2 (zoom) > width || (max_y - min_y) * exp2 (zoom) > height))
    zoom -= 0.5;
  shumate_viewport_set_zoom_level (self->viewport, zoom);
  shumate_map_center_on (self->map, latitude_at ((min_y + max_y) / 2.0, 0),
                         (min_x + max_x) / 2.0 / 256.0 * 360.0 - 180.0);
  self->centred = TRUE;
  show_search_point (self, lat, lon);
  place_markers (self);
}

/* The tooltip and accessible name of a hospital's pin, NULL without one. */
const char *
mh_map_view_get_pin_tooltip (MhMapView *self, const char *hospital_id)
{
  ShumateMarker *marker;

  g_return_val_if_fail (MH_IS_MAP_VIEW (self), NULL);
  g_return_val_if_fail (hospital_id != NULL, NULL);

  marker = g_hash_table_lookup (self->hospital_markers, hospital_id);
  if (marker == NULL)
    return NULL;
  return g_object_get_data (G_OBJECT (shumate_marker_get_child (marker)), "mh-tooltip");
}

/* Whether the pin of a result shows it as a fallback (warning style). */
gboolean
mh_map_view_get_pin_fallback (MhMapView *self, const char *hospital_id)
{
  ShumateMarker *marker;

  g_return_val_if_fail (MH_IS_MAP_VIEW (self), FALSE);
  g_return_val_if_fail (hospital_id != NULL, FALSE);

  marker = g_hash_table_lookup (self->hospital_markers, hospital_id);
  return marker != NULL
         && gtk_widget_has_css_class (shumate_marker_get_child (marker), "mh-pin-fallback");
}

/* Whether a point is inside the map as shown now. */
gboolean
mh_map_view_shows_location (MhMapView *self, double lat, double lon)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self->map));
  int height = gtk_widget_get_height (GTK_WIDGET (self->map));
  double x, y;

  g_return_val_if_fail (MH_IS_MAP_VIEW (self), FALSE);

  if (width <= 0 || height <= 0)
    return FALSE;
  shumate_viewport_location_to_widget_coords (self->viewport, GTK_WIDGET (self->map), lat, lon, &x,
                                              &y);
  return x >= 0 && x <= width && y >= 0 && y <= height;
}

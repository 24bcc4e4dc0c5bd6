/* mh-map-view.h: the map: hospitals by free beds, units, over any base */
#pragma once

#include <gtk/gtk.h>

#include "mh-node.h"
#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_MAP_VIEW (mh_map_view_get_type ())

G_DECLARE_FINAL_TYPE (MhMapView, mh_map_view, MH, MAP_VIEW, GtkWidget)

/* How a hospital pin looks for a specialty (0: any) and bed category
 * (NULL or "": any): the state struct the marker is derived from. */
typedef enum
{
  MH_PIN_GREEN, /* 3 free beds or more */
  MH_PIN_AMBER, /* 1 or 2 */
  MH_PIN_RED,   /* none */
  MH_PIN_GREY,  /* closed to ambulances, stale, or without the specialty */
} MhPinColor;

typedef struct
{
  MhPinColor color;
  gint64 free_beds;
  gboolean stale;
  gboolean closed;
  gboolean has_specialty;
} MhPinState;

void mh_pin_state_from_hospital (JsonObject *hospital, guint specialty, const char *category,
                                 MhPinState *state);
const char *mh_pin_color_to_string (MhPinColor color);

void mh_map_view_set_node (MhMapView *self, MhNode *node);
void mh_map_view_get_center (MhMapView *self, double *lat, double *lon);
void mh_map_view_select_hospital (MhMapView *self, const char *hospital_id);
/* Refreshes the markers now rather than at the next idle. */
void mh_map_view_refresh (MhMapView *self);
/* Pins of single hospitals made so far: every hospital's with a small
 * registry; with many, those in view and not grouped in a cluster. */
guint mh_map_view_get_n_hospital_markers (MhMapView *self);
/* Groups of hospitals shown as one pin (only with many hospitals). */
guint mh_map_view_get_n_clusters (MhMapView *self);
guint mh_map_view_get_n_unit_markers (MhMapView *self);
/* Open and assigned incidents shown. */
guint mh_map_view_get_n_incident_markers (MhMapView *self);
/* Centres the map on a point, zoomed in enough to see the streets. */
void mh_map_view_center_on (MhMapView *self, double lat, double lon);
/* The pin of a hospital as shown ("green", "amber", "red", "grey"), or NULL. */
const char *mh_map_view_get_pin_color (MhMapView *self, const char *hospital_id);
const char *mh_map_view_get_selected_hospital (MhMapView *self);
/* Whether a tile layer is under the markers; why the tile pack is not, or NULL. */
gboolean mh_map_view_has_tiles (MhMapView *self);
/* Find hospital's results (rank order; NULL: none), marked on their pins
 * with their rank; also the "results" property. */
void mh_map_view_set_results (MhMapView *self, JsonArray *results);
JsonArray *mh_map_view_get_results (MhMapView *self);
/* The rank a hospital's pin shows (1 for the first result), 0 if none. */
guint mh_map_view_get_result_rank (MhMapView *self, const char *hospital_id);
/* The ids of the pins marked as results, in rank order. */
GStrv mh_map_view_dup_marked_results (MhMapView *self);
/* Fits the view to the results and the point they were searched from. */
void mh_map_view_frame_results (MhMapView *self, double lat, double lon);
/* A pin's tooltip, also its accessible name; NULL without a pin. */
const char *mh_map_view_get_pin_tooltip (MhMapView *self, const char *hospital_id);
gboolean mh_map_view_get_pin_fallback (MhMapView *self, const char *hospital_id);
/* Whether the point is inside the map as shown now. */
gboolean mh_map_view_shows_location (MhMapView *self, double lat, double lon);
const char *mh_map_view_get_tile_error (MhMapView *self);

G_END_DECLS

/* mh-find-view.h: Find hospital: specialty, bed category, position */
#pragma once

#include <adwaita.h>

#include "mh-node.h"
#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_FIND_VIEW (mh_find_view_get_type ())

G_DECLARE_FINAL_TYPE (MhFindView, mh_find_view, MH, FIND_VIEW, GtkWidget)

void mh_find_view_set_node (MhFindView *self, MhNode *node);
/* Where to search from; origin says what the point is ("map centre"). */
void mh_find_view_set_position (MhFindView *self, double lat, double lon, const char *origin);
const char *mh_find_view_get_position (MhFindView *self, double *lat, double *lon);
/* specialty 0: any; category NULL or "": any */
void mh_find_view_set_query (MhFindView *self, guint specialty, const char *category);
void mh_find_view_run (MhFindView *self);
/* Empties the results (and so the map's marks of them). */
void mh_find_view_clear (MhFindView *self);
/* The results shown, nearest first (objects of mh_node_nearest_hospitals);
 * NULL before a search or once cleared. Also the "results" property. */
JsonArray *mh_find_view_get_results (MhFindView *self);
gboolean mh_find_view_get_fallback (MhFindView *self);

G_END_DECLS

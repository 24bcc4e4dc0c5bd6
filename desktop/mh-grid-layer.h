/* mh-grid-layer.h: a neutral base for the map: a graticule, no tiles */
#pragma once

#include <shumate/shumate.h>

#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_GRID_LAYER (mh_grid_layer_get_type ())

G_DECLARE_FINAL_TYPE (MhGridLayer, mh_grid_layer, MH, GRID_LAYER, ShumateLayer)

MhGridLayer *mh_grid_layer_new (ShumateViewport *viewport);

G_END_DECLS

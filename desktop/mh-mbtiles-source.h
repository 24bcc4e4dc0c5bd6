/* mh-mbtiles-source.h: map tiles from a local MBTiles file */
#pragma once

#include <shumate/shumate.h>

#include "mh-types.h"

G_BEGIN_DECLS

#define MH_MBTILES_SOURCE_ERROR (mh_mbtiles_source_error_quark ())

typedef enum
{
  MH_MBTILES_SOURCE_ERROR_INVALID,     /* not a readable MBTiles file */
  MH_MBTILES_SOURCE_ERROR_UNSUPPORTED, /* vector tiles: the raster renderer cannot draw them */
  MH_MBTILES_SOURCE_ERROR_NOT_FOUND,   /* the pack has no such tile */
} MhMbtilesSourceError;

GQuark mh_mbtiles_source_error_quark (void);

#define MH_TYPE_MBTILES_SOURCE (mh_mbtiles_source_get_type ())

G_DECLARE_FINAL_TYPE (MhMbtilesSource, mh_mbtiles_source, MH, MBTILES_SOURCE, ShumateDataSource)

MhMbtilesSource *mh_mbtiles_source_new (const char *path, GError **error);
const char *mh_mbtiles_source_get_path (MhMbtilesSource *self);
/* From the pack's metadata, or "" */
const char *mh_mbtiles_source_get_name (MhMbtilesSource *self);
const char *mh_mbtiles_source_get_attribution (MhMbtilesSource *self);
guint mh_mbtiles_source_get_min_zoom (MhMbtilesSource *self);
guint mh_mbtiles_source_get_max_zoom (MhMbtilesSource *self);
/* A renderer over the pack, for a ShumateMapLayer. */
ShumateRasterRenderer *mh_mbtiles_source_new_renderer (MhMbtilesSource *self);

G_END_DECLS

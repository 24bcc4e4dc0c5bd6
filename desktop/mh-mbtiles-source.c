/* mh-mbtiles-source.c: map tiles from a local MBTiles file
 *
 * An MBTiles file is an SQLite database with a `tiles` table (zoom_level,
 * tile_column, tile_row, tile_data) and a `metadata` table of name/value
 * pairs. Rows are numbered the TMS way, from the south: the tile the map
 * calls (x, y, z) is row (2^z - 1 - y).
 *
 * Reads run in GIO's thread pool on one read-only connection opened in
 * serialized mode. libshumate 1.0.3's raster renderer paints a tile only
 * from the data source's `received-data` signal, so each successful read
 * emits it, on the main context, before the read completes. */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>
#include <sqlite3.h>

#include "mh-mbtiles-source.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

struct _MhMbtilesSource
{
  ShumateDataSource parent_instance;

  /* Owned References */
  sqlite3 *db;
  char *path;
  char *name;
  char *attribution;
  guint min_zoom;
  guint max_zoom;
};

G_DEFINE_FINAL_TYPE (MhMbtilesSource, mh_mbtiles_source, SHUMATE_TYPE_DATA_SOURCE)

G_DEFINE_QUARK (mh-mbtiles-source-error-quark, mh_mbtiles_source_error)

/* Zoom levels a Web Mercator tile pack may hold: 2^z must fit an int. */
#define MAX_ZOOM_LEVEL 30

typedef struct
{
  int x;
  int y;
  int z;
} TileRequest;

static GBytes *
read_tile (MhMbtilesSource *self, int x, int y, int z, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  const void *blob;
  int size;

  if (z < 0 || z > MAX_ZOOM_LEVEL || x < 0 || y < 0 || x >= (1 << z) || y >= (1 << z))
    {
      g_set_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_NOT_FOUND,
                   "no tile %d/%d/%d: out of range", z, x, y);
      return NULL;
    }
  if (sqlite3_prepare_v2 (self->db,
                          "SELECT tile_data FROM tiles"
                          " WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
                          -1, &stmt, NULL)
      != SQLITE_OK)
    {
      g_set_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_INVALID,
                   "%s: %s", self->path, sqlite3_errmsg (self->db));
      return NULL;
    }
  sqlite3_bind_int (stmt, 1, z);
  sqlite3_bind_int (stmt, 2, x);
  sqlite3_bind_int (stmt, 3, (1 << z) - 1 - y);
  switch (sqlite3_step (stmt))
    {
    case SQLITE_ROW:
      blob = sqlite3_column_blob (stmt, 0);
      size = sqlite3_column_bytes (stmt, 0);
      if (blob != NULL && size > 0)
        return g_bytes_new (blob, (gsize) size);
      G_GNUC_FALLTHROUGH;
    case SQLITE_DONE:
      g_set_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_NOT_FOUND,
                   "no tile %d/%d/%d in %s", z, x, y, self->path);
      return NULL;
    default:
      g_set_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_INVALID,
                   "%s: %s", self->path, sqlite3_errmsg (self->db));
      return NULL;
    }
}

static void
read_tile_thread (GTask *task, gpointer source_object, gpointer task_data,
                  GCancellable *cancellable)
{
  TileRequest *request = task_data;
  GError *error = NULL;
  GBytes *bytes;

  if (g_task_return_error_if_cancelled (task))
    return;
  bytes = read_tile (source_object, request->x, request->y, request->z, &error);
  if (bytes == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, bytes, (GDestroyNotify) g_bytes_unref);
}

/* Back on the caller's main context: tell the renderer, then complete. */
static void
tile_read_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  TileRequest *request = g_task_get_task_data (task);
  g_autoptr (GBytes) bytes = NULL;
  GError *error = NULL;

  bytes = g_task_propagate_pointer (G_TASK (result), &error);
  if (bytes == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_signal_emit_by_name (object, "received-data", request->x, request->y, request->z, bytes);
  g_task_return_pointer (task, g_steal_pointer (&bytes), (GDestroyNotify) g_bytes_unref);
}

static void
mh_mbtiles_source_get_tile_data_async (ShumateDataSource *source, int x, int y, int zoom_level,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data)
{
  MhMbtilesSource *self = MH_MBTILES_SOURCE (source);
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) read_task = NULL;
  TileRequest *request = g_new (TileRequest, 1);

  request->x = x;
  request->y = y;
  request->z = zoom_level;
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mh_mbtiles_source_get_tile_data_async);
  g_task_set_task_data (task, request, g_free);

  read_task = g_task_new (self, cancellable, tile_read_cb, g_object_ref (task));
  g_task_set_source_tag (read_task, read_tile_thread);
  g_task_set_task_data (read_task, g_memdup2 (request, sizeof *request), g_free);
  g_task_run_in_thread (read_task, read_tile_thread);
}

static GBytes *
mh_mbtiles_source_get_tile_data_finish (ShumateDataSource *source, GAsyncResult *result,
                                        GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, source), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result))
                          == mh_mbtiles_source_get_tile_data_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
mh_mbtiles_source_finalize (GObject *object)
{
  MhMbtilesSource *self = MH_MBTILES_SOURCE (object);

  g_clear_pointer (&self->db, sqlite3_close);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->attribution, g_free);
  G_OBJECT_CLASS (mh_mbtiles_source_parent_class)->finalize (object);
}

static void
mh_mbtiles_source_class_init (MhMbtilesSourceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  ShumateDataSourceClass *source_class = SHUMATE_DATA_SOURCE_CLASS (klass);

  object_class->finalize = mh_mbtiles_source_finalize;
  source_class->get_tile_data_async = mh_mbtiles_source_get_tile_data_async;
  source_class->get_tile_data_finish = mh_mbtiles_source_get_tile_data_finish;
}

static void
mh_mbtiles_source_init (MhMbtilesSource *self)
{
  self->min_zoom = 0;
  self->max_zoom = 19;
}

static gboolean
parse_zoom (const char *text, guint *zoom)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, 0, MAX_ZOOM_LEVEL, &value, NULL))
    return FALSE;
  *zoom = (guint) value;
  return TRUE;
}

/* Reads the metadata table. The spec requires it, but packs made by hand
 * often lack it: then the zoom range comes from the tiles themselves. */
static gboolean
load_metadata (MhMbtilesSource *self, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  gboolean have_min = FALSE, have_max = FALSE;
  int rc;

  if (sqlite3_prepare_v2 (self->db, "SELECT name, value FROM metadata", -1, &stmt, NULL)
      == SQLITE_OK)
    {
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          const char *name = (const char *) sqlite3_column_text (stmt, 0);
          const char *value = (const char *) sqlite3_column_text (stmt, 1);

          if (name == NULL || value == NULL)
            continue;
          if (g_str_equal (name, "format") && g_ascii_strcasecmp (value, "pbf") == 0)
            {
              g_set_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_UNSUPPORTED,
                           _("%s holds vector tiles; only image tiles (PNG, JPEG) can be shown"),
                           self->path);
              return FALSE;
            }
          if (g_str_equal (name, "name"))
            {
              g_free (self->name);
              self->name = g_strdup (value);
            }
          else if (g_str_equal (name, "attribution"))
            {
              g_free (self->attribution);
              self->attribution = g_strdup (value);
            }
          else if (g_str_equal (name, "minzoom"))
            have_min = parse_zoom (value, &self->min_zoom);
          else if (g_str_equal (name, "maxzoom"))
            have_max = parse_zoom (value, &self->max_zoom);
        }
      if (rc != SQLITE_DONE)
        return FALSE;
    }
  g_clear_pointer (&stmt, sqlite3_finalize);

  if (!have_min || !have_max)
    {
      if (sqlite3_prepare_v2 (self->db, "SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles", -1,
                              &stmt, NULL)
            != SQLITE_OK
          || sqlite3_step (stmt) != SQLITE_ROW)
        return FALSE;
      if (!have_min && sqlite3_column_type (stmt, 0) == SQLITE_INTEGER)
        self->min_zoom = (guint) CLAMP (sqlite3_column_int (stmt, 0), 0, MAX_ZOOM_LEVEL);
      if (!have_max && sqlite3_column_type (stmt, 1) == SQLITE_INTEGER)
        self->max_zoom = (guint) CLAMP (sqlite3_column_int (stmt, 1), 0, MAX_ZOOM_LEVEL);
    }
  if (self->max_zoom < self->min_zoom)
    self->max_zoom = self->min_zoom;
  return TRUE;
}

/**
 * mh_mbtiles_source_new:
 * @path: an MBTiles file
 *
 * Opens @path read-only and checks that it holds image tiles.
 *
 * Returns: (transfer full): the source, or %NULL with @error set
 */
MhMbtilesSource *
mh_mbtiles_source_new (const char *path, GError **error)
{
  g_autoptr (MhMbtilesSource) self = NULL;
  g_autoptr (sqlite3_stmt) stmt = NULL;
  GError *local_error = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (MH_TYPE_MBTILES_SOURCE, NULL);
  self->path = g_strdup (path);
  self->name = g_strdup ("");
  self->attribution = g_strdup ("");
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_INVALID,
                   _("%s: no such file"), path);
      return NULL;
    }
  /* Serialized: reads come from several pool threads at once. */
  if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL)
        != SQLITE_OK
      /* Opening is lazy: a file that is not a database fails here. */
      || sqlite3_prepare_v2 (self->db,
                             "SELECT tile_data FROM tiles"
                             " WHERE zoom_level = 0 AND tile_column = 0 AND tile_row = 0",
                             -1, &stmt, NULL)
           != SQLITE_OK)
    {
      g_set_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_INVALID,
                   _("%s is not an MBTiles tile pack (%s)"), path,
                   self->db != NULL ? sqlite3_errmsg (self->db) : "out of memory");
      return NULL;
    }
  if (!load_metadata (self, &local_error))
    {
      if (local_error == NULL)
        g_set_error (&local_error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_INVALID,
                     _("%s is not an MBTiles tile pack (%s)"), path, sqlite3_errmsg (self->db));
      g_propagate_error (error, local_error);
      return NULL;
    }
  return g_steal_pointer (&self);
}

const char *
mh_mbtiles_source_get_path (MhMbtilesSource *self)
{
  g_return_val_if_fail (MH_IS_MBTILES_SOURCE (self), NULL);
  return self->path;
}

const char *
mh_mbtiles_source_get_name (MhMbtilesSource *self)
{
  g_return_val_if_fail (MH_IS_MBTILES_SOURCE (self), NULL);
  return self->name;
}

const char *
mh_mbtiles_source_get_attribution (MhMbtilesSource *self)
{
  g_return_val_if_fail (MH_IS_MBTILES_SOURCE (self), NULL);
  return self->attribution;
}

guint
mh_mbtiles_source_get_min_zoom (MhMbtilesSource *self)
{
  g_return_val_if_fail (MH_IS_MBTILES_SOURCE (self), 0);
  return self->min_zoom;
}

guint
mh_mbtiles_source_get_max_zoom (MhMbtilesSource *self)
{
  g_return_val_if_fail (MH_IS_MBTILES_SOURCE (self), 0);
  return self->max_zoom;
}

/**
 * mh_mbtiles_source_new_renderer:
 *
 * Returns: (transfer full): a Web Mercator raster renderer of 256-pixel
 *   tiles over the pack's zoom range
 */
ShumateRasterRenderer *
mh_mbtiles_source_new_renderer (MhMbtilesSource *self)
{
  g_autofree char *id = NULL;

  g_return_val_if_fail (MH_IS_MBTILES_SOURCE (self), NULL);

  id = g_compute_checksum_for_string (G_CHECKSUM_SHA1, self->path, -1);
  return shumate_raster_renderer_new_full (id, *self->name != '\0' ? self->name : _("Tile pack"),
                                           self->attribution, NULL, self->min_zoom,
                                           self->max_zoom, 256, SHUMATE_MAP_PROJECTION_MERCATOR,
                                           SHUMATE_DATA_SOURCE (self));
}

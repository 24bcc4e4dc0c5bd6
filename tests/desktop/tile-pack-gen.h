/* tile-pack-gen.h: small MBTiles files for the desktop tests */
#pragma once

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <sqlite3.h>

/* A 256-pixel PNG tile of one colour. */
static inline GBytes *
gen_png (guint32 rgba)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, TRUE, 8, 256, 256);
  g_autoptr (GError) error = NULL;
  gchar *buffer = NULL;
  gsize size = 0;

  gdk_pixbuf_fill (pixbuf, rgba);
  g_assert_true (gdk_pixbuf_save_to_buffer (pixbuf, &buffer, &size, "png", &error, NULL));
  g_assert_no_error (error);
  return g_bytes_new_take (buffer, size);
}

static inline void
gen_exec (sqlite3 *db, const char *sql)
{
  char *message = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message);
}

/* An MBTiles file with @png at tile (x 1, y 0, z 1): TMS row 1. */
static inline void
gen_write_pack (const char *path, GBytes *png, const char *format)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  g_autofree char *metadata = NULL;
  gsize size;
  const void *data = g_bytes_get_data (png, &size);

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  gen_exec (db, "CREATE TABLE metadata (name TEXT, value TEXT);"
                "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
                " tile_data BLOB);"
                "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
                "INSERT INTO metadata VALUES ('name', 'Test pack'), ('minzoom', '0'),"
                " ('maxzoom', '2'), ('attribution', 'nobody');");
  metadata = g_strdup_printf ("INSERT INTO metadata VALUES ('format', '%s')", format);
  gen_exec (db, metadata);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "INSERT INTO tiles VALUES (1, 1, 1, ?1)", -1, &stmt,
                                       NULL),
                   ==, SQLITE_OK);
  sqlite3_bind_blob (stmt, 1, data, (int) size, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

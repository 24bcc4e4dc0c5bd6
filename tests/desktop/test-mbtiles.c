/* test-mbtiles.c: MhMbtilesSource over small MBTiles files made here */
#include "config.h"

#include <sqlite3.h>

#include "mh-mbtiles-source.h"
#include "mh-test-util.h"
#include "tile-pack-gen.h"

typedef struct
{
  char *tmpdir;
  char *path;
  GBytes *png;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmpdir = mh_test_make_tmpdir ("mbtiles");
  f->path = g_build_filename (f->tmpdir, "pack.mbtiles", NULL);
  f->png = gen_png (0x3366ccff);
  gen_write_pack (f->path, f->png, "png");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  mh_test_rm_rf (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->path);
  g_bytes_unref (f->png);
}

typedef struct
{
  GBytes *bytes;
  GError *error;
  gboolean done;
  int received;     /* received-data emissions */
  int received_x, received_y, received_z;
  GBytes *received_bytes;
} Read;

static void
received_data_cb (ShumateDataSource *source, int x, int y, int z, GBytes *bytes, Read *read)
{
  /* Emitted before the read completes, as the 1.0.3 renderer needs. */
  g_assert_false (read->done);
  read->received++;
  read->received_x = x;
  read->received_y = y;
  read->received_z = z;
  g_clear_pointer (&read->received_bytes, g_bytes_unref);
  read->received_bytes = g_bytes_ref (bytes);
}

static void
read_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  Read *read = user_data;

  read->bytes = shumate_data_source_get_tile_data_finish (SHUMATE_DATA_SOURCE (object), result,
                                                          &read->error);
  read->done = TRUE;
}

static void
read_tile (MhMbtilesSource *source, int x, int y, int z, Read *read)
{
  gulong handler = g_signal_connect (source, "received-data", G_CALLBACK (received_data_cb), read);

  shumate_data_source_get_tile_data_async (SHUMATE_DATA_SOURCE (source), x, y, z, NULL,
                                           read_done_cb, read);
  while (!read->done)
    g_main_context_iteration (NULL, TRUE);
  g_signal_handler_disconnect (source, handler);
}

static void
read_clear (Read *read)
{
  g_clear_pointer (&read->bytes, g_bytes_unref);
  g_clear_pointer (&read->received_bytes, g_bytes_unref);
  g_clear_error (&read->error);
}

static void
test_tile (Fixture *f, gconstpointer data)
{
  g_autoptr (MhMbtilesSource) source = NULL;
  g_autoptr (GError) error = NULL;
  Read read = { 0 };

  source = mh_mbtiles_source_new (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mh_mbtiles_source_get_name (source), ==, "Test pack");
  g_assert_cmpstr (mh_mbtiles_source_get_attribution (source), ==, "nobody");
  g_assert_cmpuint (mh_mbtiles_source_get_min_zoom (source), ==, 0);
  g_assert_cmpuint (mh_mbtiles_source_get_max_zoom (source), ==, 2);

  /* The XYZ tile (1, 0, 1) is the TMS row 1. */
  read_tile (source, 1, 0, 1, &read);
  g_assert_no_error (read.error);
  g_assert_nonnull (read.bytes);
  g_assert_true (g_bytes_equal (read.bytes, f->png));
  g_assert_cmpint (read.received, ==, 1);
  g_assert_cmpint (read.received_x, ==, 1);
  g_assert_cmpint (read.received_y, ==, 0);
  g_assert_cmpint (read.received_z, ==, 1);
  g_assert_true (g_bytes_equal (read.received_bytes, f->png));
  read_clear (&read);
}

static void
test_missing_tile (Fixture *f, gconstpointer data)
{
  g_autoptr (MhMbtilesSource) source = mh_mbtiles_source_new (f->path, NULL);
  const int tiles[][3] = {
    { 1, 1, 1 },  /* the flipped row exists, this one not */
    { 0, 0, 1 },
    { 0, 0, 0 },
    { 2, 0, 1 },  /* out of range for z 1 */
    { -1, 0, 1 },
    { 0, 0, 31 },
  };

  g_assert_nonnull (source);
  for (gsize i = 0; i < G_N_ELEMENTS (tiles); i++)
    {
      Read read = { 0 };

      read_tile (source, tiles[i][0], tiles[i][1], tiles[i][2], &read);
      g_assert_error (read.error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_NOT_FOUND);
      g_assert_null (read.bytes);
      g_assert_cmpint (read.received, ==, 0);
      read_clear (&read);
    }
}

static void
test_bad_files (Fixture *f, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (f->tmpdir, "missing.mbtiles", NULL);
  g_autofree char *text = g_build_filename (f->tmpdir, "text.mbtiles", NULL);
  g_autofree char *empty_db = g_build_filename (f->tmpdir, "empty.mbtiles", NULL);
  g_autofree char *vector = g_build_filename (f->tmpdir, "vector.mbtiles", NULL);
  g_autoptr (GError) error = NULL;
  sqlite3 *db = NULL;

  g_assert_null (mh_mbtiles_source_new (missing, &error));
  g_assert_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));

  g_assert_true (g_file_set_contents (text, "not a database, just some text\n", -1, NULL));
  g_assert_null (mh_mbtiles_source_new (text, &error));
  g_assert_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_cmpint (sqlite3_open (empty_db, &db), ==, SQLITE_OK);
  gen_exec (db, "CREATE TABLE other (a)");
  sqlite3_close (db);
  g_assert_null (mh_mbtiles_source_new (empty_db, &error));
  g_assert_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_INVALID);
  g_clear_error (&error);

  gen_write_pack (vector, f->png, "pbf");
  g_assert_null (mh_mbtiles_source_new (vector, &error));
  g_assert_error (error, MH_MBTILES_SOURCE_ERROR, MH_MBTILES_SOURCE_ERROR_UNSUPPORTED);
}

static void
test_renderer (Fixture *f, gconstpointer data)
{
  g_autoptr (MhMbtilesSource) source = mh_mbtiles_source_new (f->path, NULL);
  g_autoptr (ShumateRasterRenderer) renderer = NULL;
  ShumateMapSource *map_source;

  g_assert_nonnull (source);
  renderer = mh_mbtiles_source_new_renderer (source);
  map_source = SHUMATE_MAP_SOURCE (renderer);
  g_assert_cmpuint (shumate_map_source_get_min_zoom_level (map_source), ==, 0);
  g_assert_cmpuint (shumate_map_source_get_max_zoom_level (map_source), ==, 2);
  g_assert_cmpuint (shumate_map_source_get_tile_size (map_source), ==, 256);
  g_assert_cmpstr (shumate_map_source_get_name (map_source), ==, "Test pack");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add ("/desktop/mbtiles/tile", Fixture, NULL, fixture_setup, test_tile, fixture_teardown);
  g_test_add ("/desktop/mbtiles/missing-tile", Fixture, NULL, fixture_setup, test_missing_tile,
              fixture_teardown);
  g_test_add ("/desktop/mbtiles/bad-files", Fixture, NULL, fixture_setup, test_bad_files,
              fixture_teardown);
  g_test_add ("/desktop/mbtiles/renderer", Fixture, NULL, fixture_setup, test_renderer,
              fixture_teardown);
  return g_test_run ();
}

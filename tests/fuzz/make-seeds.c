/* make-seeds.c: seed inputs for the fuzz targets, made by the real code
 *
 *   fuzz-make-seeds SOURCE_ROOT
 *
 * writes tests/fuzz/corpus-batch/real-*.json (batches as mh_codec_encode_batch
 * writes them from a replica holding the reference scenario, a patient with
 * an observation, a transfer and a message) and corpus-handshake/real-*
 * (frames as a link sends them: hello, changes, ack, ping, pong, error).
 * The REST bodies of corpus-rest-body are written by hand from docs/api.md.
 */

#include "config.h"

#include <glib/gstdio.h>

#include "mh-codec.h"
#include "mh-node.h"
#include "mh-replicator.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define UNIT_AMB01 "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"

static JsonObject *
object_of (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
put (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("medhead-seeds-XXXXXX", &error);
  g_autofree char *dir = g_build_filename (tmp, "amb", NULL);
  g_autofree char *scenario = NULL;
  g_autofree char *batch_dir = NULL, *frame_dir = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(MhNode) node = NULL;
  g_autoptr(JsonObject) patient = NULL, obs = NULL, transfer = NULL;
  g_autofree char *patient_id = NULL, *transfer_text = NULL, *tid = NULL, *mid = NULL;
  MhStore *store;
  guint n = 0;

  if (argc != 2)
    {
      g_printerr ("usage: %s SOURCE_ROOT\n", argv[0]);
      return 2;
    }
  scenario = g_build_filename (argv[1], "data", "demo", "reference-scenario.json", NULL);
  batch_dir = g_build_filename (argv[1], "tests", "fuzz", "corpus-batch", NULL);
  frame_dir = g_build_filename (argv[1], "tests", "fuzz", "corpus-handshake", NULL);
  g_mkdir_with_parents (batch_dir, 0755);
  g_mkdir_with_parents (frame_dir, 0755);

  g_assert_true (mh_node_init_data_dir (dir, "Seeds", MH_ROLE_HUB, NULL, NULL, &error));
  node = mh_node_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (json_parser_load_from_file (parser, scenario, &error));
  g_assert_true (mh_node_import (node, json_parser_get_root (parser), NULL, NULL, &error));
  patient = object_of ("{\"unit_id\":\"" UNIT_AMB01 "\",\"age_estimate\":71,\"sex\":\"male\",\"triage\":\"immediate\","
                       "\"alert\":\"stroke\",\"complaint\":\"left-sided weakness\","
                       "\"allergies\":\"penicillin\"}");
  patient_id = mh_node_create_patient (node, patient, &error);
  g_assert_no_error (error);
  obs = object_of ("{\"hr\":96,\"rr\":18,\"spo2\":95,\"sbp\":168,\"dbp\":92,\"gcs\":14,"
                   "\"temp\":36.8,\"glucose\":6.1}");
  g_free (mh_node_add_observation (node, patient_id, obs, &error));
  g_assert_no_error (error);
  transfer_text = g_strdup_printf ("{\"patient_id\":\"%s\",\"hospital_id\":\"%s\","
                                   "\"bed_category\":\"medical_surgical\",\"priority\":\"immediate\","
                                   "\"eta\":%" G_GINT64_FORMAT "}", patient_id, FRED_BROOKS,
                                   g_get_real_time () / 1000 + 15 * 60000);
  transfer = object_of (transfer_text);
  tid = mh_node_create_transfer (node, transfer, &error);
  if (tid == NULL)
    {
      g_printerr ("no transfer: %s\n", error->message);
      g_clear_error (&error);
    }
  else
    {
      g_autofree char *channel = g_strdup_printf ("transfer:%s", tid);
      mid = mh_node_post_message (node, channel, "ETA 15 min, FAST positive", &error);
      g_assert_no_error (error);
    }

  store = mh_node_get_store (node);
  for (guint lane = 0; lane < 8; lane++)
    {
      MhCursor cursor = { 0, 0 };
      gboolean more = TRUE;

      while (more)
        {
          g_autoptr(GPtrArray) changes = mh_store_read_lane (store, lane, &cursor, 5, NULL, &more,
                                                             &error);
          g_autofree char *batch = NULL, *name = NULL, *frame = NULL, *fname = NULL;

          if (changes == NULL || changes->len == 0)
            {
              g_clear_error (&error);
              break;
            }
          batch = mh_codec_encode_batch (changes, NULL);
          name = g_strdup_printf ("real-%02u.json", n);
          put (batch_dir, name, batch);
          frame = g_strdup_printf ("{\"type\":\"changes\",\"lane\":%u,\"epoch\":%" G_GINT64_FORMAT
                                   ",\"to\":%" G_GINT64_FORMAT ",%s", lane, cursor.epoch,
                                   cursor.seq, batch + 1);
          fname = g_strdup_printf ("real-changes-%02u.json", n);
          put (frame_dir, fname, frame);
          if (++n >= 12)
            break;
        }
      if (n >= 12)
        break;
    }

  {
    g_autofree char *hello = g_strdup_printf (
      "{\"type\":\"hello\",\"proto\":%d,\"schema\":1,\"site\":\"%s\",\"name\":\"Seeds\","
      "\"epoch\":%" G_GINT64_FORMAT ",\"wall\":%" G_GINT64_FORMAT ",\"agree\":1,"
      "\"cursors\":[[0,0],[%" G_GINT64_FORMAT ",3],[0,0]]}",
      MH_PROTOCOL_VERSION, mh_node_get_site_id (node), mh_store_get_epoch (store),
      g_get_real_time () / 1000, mh_store_get_epoch (store));
    put (frame_dir, "real-hello.json", hello);
  }
  put (frame_dir, "real-ack.json", "{\"type\":\"ack\",\"lane\":1,\"epoch\":42,\"seq\":17}");
  put (frame_dir, "real-ping.json", "{\"type\":\"ping\",\"wall\":1764130000000,\"agree\":2}");
  put (frame_dir, "real-pong.json",
       "{\"type\":\"pong\",\"agree\":2,\"wall\":1764130000100,\"echo\":1764130000000}");
  put (frame_dir, "real-error.json", "{\"type\":\"error\",\"message\":\"unknown peer\"}");
  g_print ("%u batches\n", n);
  {
    const char *rm[] = { "rm", "-rf", tmp, NULL };
    g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
  return 0;
}

/* fuzz-rest-body.c: REST request bodies, in-process, the way the API
 * server takes them: bounded size, UTF-8, bounded nesting, a JSON object,
 * then the domain call a handler makes with it (validation included) on
 * real replicas in a temporary folder.
 *
 * The first byte picks the endpoint; the rest is the body. Three nodes: a
 * hub holding the reference scenario (registry, patients, transfers, chat,
 * as a dispatcher writes them), the crew of unit MH-AMB-01 and the desk of
 * Fred Brooks, each holding its own row.
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "fuzz-common.h"
#include "mh-codec.h"
#include "mh-node.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define UNIT_AMB01 "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
#define MAX_BODY (1024 * 1024)
#define MAX_DEPTH 16

static MhNode *hub, *ambulance, *hospital;
static char *patient_id, *transfer_id, *tmp_dir;

static MhNode *
make_node (const char *name, MhRole role, const char *hospital_id, const char *unit_id)
{
  g_autofree char *dir = g_build_filename (tmp_dir, name, NULL);
  g_autofree char *path = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  GError *error = NULL;
  const char *root = g_getenv ("MEDHEAD_SOURCE_ROOT");
  MhNode *node;

  path = root != NULL ? g_build_filename (root, "data", "demo", "reference-scenario.json", NULL)
                      : g_build_filename (SOURCE_DATADIR, "demo", "reference-scenario.json", NULL);
  if (!mh_node_init_data_dir (dir, name, role, hospital_id, unit_id, &error)
      || (node = mh_node_open (dir, &error)) == NULL
      || !json_parser_load_from_file (parser, path, &error)
      || !(role == MH_ROLE_HUB
             ? mh_node_import (node, json_parser_get_root (parser), NULL, NULL, &error)
             : mh_node_import_own (node, json_parser_get_root (parser), &error)))
    {
      g_printerr ("fuzz-rest-body: cannot set up %s: %s\n", name, error->message);
      exit (1);
    }
  /* Throwaway replicas: no fsync per write (the target runs ten times
   * faster). */
  sqlite3_exec (mh_store_get_db (mh_node_get_store (node)), "PRAGMA synchronous = OFF", NULL,
                NULL, NULL);
  return node;
}

static JsonObject *
object_of (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (!json_parser_load_from_data (parser, text, -1, NULL))
    abort ();
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
remove_tmp (void)
{
  /* The replicas hold nothing but fuzz input. */
  if (tmp_dir != NULL && g_str_has_prefix (tmp_dir, g_get_tmp_dir ()))
    {
      const char *argv[] = { "rm", "-rf", tmp_dir, NULL };
      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                    NULL, NULL);
    }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  GError *error = NULL;
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(JsonObject) transfer = NULL;
  g_autofree char *transfer_text = NULL;

  fuzz_setup_glib ();
  tmp_dir = g_dir_make_tmp ("medhead-fuzz-XXXXXX", &error);
  if (tmp_dir == NULL)
    return 1;
  atexit (remove_tmp);
  hub = make_node ("hub", MH_ROLE_HUB, NULL, NULL);
  ambulance = make_node ("ambulance", MH_ROLE_AMBULANCE, NULL, UNIT_AMB01);
  hospital = make_node ("hospital", MH_ROLE_HOSPITAL, FRED_BROOKS, NULL);

  patient = object_of ("{\"unit_id\":\"" UNIT_AMB01 "\",\"age_estimate\":60,\"sex\":\"female\","
                       "\"triage\":\"immediate\",\"alert\":\"stroke\"}");
  patient_id = mh_node_create_patient (hub, patient, &error);
  if (patient_id == NULL)
    {
      g_printerr ("fuzz-rest-body: no patient: %s\n", error->message);
      exit (1);
    }
  transfer_text = g_strdup_printf ("{\"patient_id\":\"%s\",\"hospital_id\":\"%s\","
                                   "\"bed_category\":\"medical_surgical\",\"eta\":%" G_GINT64_FORMAT "}",
                                   patient_id, FRED_BROOKS,
                                   g_get_real_time () / 1000 + 20 * 60 * 1000);
  transfer = object_of (transfer_text);
  transfer_id = mh_node_create_transfer (hub, transfer, &error);
  if (transfer_id == NULL)
    {
      /* Not fatal: the transfer endpoints then see an unknown id. */
      g_clear_error (&error);
      transfer_id = g_strdup ("00000000-0000-4000-8000-000000000000");
    }
  return 0;
}

/* Endpoints some nodes share: the high bit of the first byte picks. */
static MhNode *
crew_or_hub (guint8 endpoint)
{
  return endpoint & 0x80 ? ambulance : hub;
}

static const char *
string_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *body;
  GError *error = NULL;
  char *id = NULL;
  const char *text;
  guint8 endpoint;

  if (size < 1 || size - 1 > MAX_BODY)
    return 0;
  endpoint = data[0];
  text = (const char *) data + 1;
  size--;
  /* read_body() of the API server, in its order. */
  if (size == 0 || !g_utf8_validate_len (text, size, NULL)
      || !mh_codec_check_depth (text, size, MAX_DEPTH, &error))
    goto out;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize) size, &error))
    goto out;
  root = json_parser_steal_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    goto out;
  body = json_node_get_object (root);

  switch (endpoint % 14)
    {
    case 0: id = mh_node_create_hospital (hub, body, &error); break;
    case 1: mh_node_patch_hospital (hub, FRED_BROOKS, body, &error); break;
    case 2: mh_node_patch_hospital (hospital, FRED_BROOKS, body, &error); break;
    case 3:
      {
        const char *category = string_member (body, "category");
        mh_node_put_beds (hospital, FRED_BROOKS, category ? category : "medical_surgical", body,
                          &error);
      }
      break;
    case 4: id = mh_node_create_unit (hub, body, &error); break;
    case 5: mh_node_patch_unit (ambulance, UNIT_AMB01, body, &error); break;
    case 6: id = mh_node_create_patient (crew_or_hub (endpoint), body, &error); break;
    case 7: mh_node_patch_patient (hub, patient_id, body, &error); break;
    case 8: id = mh_node_add_observation (hub, patient_id, body, &error); break;
    case 9: id = mh_node_add_intervention (hub, patient_id, body, &error); break;
    case 10: id = mh_node_create_transfer (hub, body, &error); break;
    case 11:
      {
        const char *state = string_member (body, "state");
        if (state != NULL)
          mh_node_transfer_crew (hub, transfer_id, state, &error);
      }
      break;
    case 12:
      {
        const char *state = string_member (body, "state");
        if (state != NULL)
          mh_node_transfer_desk (hub, transfer_id, state, string_member (body, "reason"),
                                 &error);
      }
      break;
    case 13:
      {
        const char *channel = string_member (body, "channel");
        const char *message = string_member (body, "body");
        if (channel != NULL && message != NULL)
          id = mh_node_post_message (crew_or_hub (endpoint), channel, message, &error);
      }
      break;
    default:
      break;
    }

out:
  g_free (id);
  g_clear_error (&error);
  return 0;
}

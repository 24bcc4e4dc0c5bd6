/* node-test-common.h: nodes in temporary directories, and the exchange of
 * changes between them, for the node unit tests
 *
 * Everything is static inline, so that each test program takes only what
 * it uses without unused-function warnings.
 *
 * The reference scenario (data/demo/reference-scenario.json): Fred Brooks
 * (2 medical_surgical beds; Cardiology 21, Immunology 54), Julia Crusher
 * (0 beds; Cardiology), Beverly Bashir (5 beds; Immunology, Diagnostic
 * neuropathology 49), and unit MH-AMB-01.
 */
#pragma once

#include <string.h>

#include "mh-medhead-schema.h"
#include "mh-medhead-validate.h"
#include "mh-node.h"
#include "mh-test-util.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define JULIA_CRUSHER "80ad8487-7af0-5ce6-8474-7df023d61e10"
#define BEVERLY_BASHIR "08960b65-9680-58bf-8c7f-195ceedb302b"
#define UNIT_AMB01 "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
#define CARDIOLOGY 21
#define IMMUNOLOGY 54

#define MINUTE_MS (G_GINT64_CONSTANT (60) * 1000)

static inline char *
test_data_path (const char *relative)
{
  const char *root = g_getenv ("MEDHEAD_SOURCE_ROOT");

  if (root != NULL)
    return g_build_filename (root, "data", relative, NULL);
  return g_build_filename (SOURCE_DATADIR, relative, NULL);
}

static inline JsonNode *
test_load_json (const char *relative)
{
  g_autofree char *path = test_data_path (relative);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

/* A JSON object from its text; the test owns it. */
static inline JsonObject *
test_object (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static inline JsonObject *
test_objectf (const char *format, ...) G_GNUC_PRINTF (1, 2);

static inline JsonObject *
test_objectf (const char *format, ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  return test_object (text);
}

/* A node of its own in @parent/@name. */
static inline MhNode *
test_node_new (const char *parent, const char *name, MhRole role, const char *hospital_id,
               const char *unit_id)
{
  g_autofree char *dir = g_build_filename (parent, name, NULL);
  g_autoptr(GError) error = NULL;
  MhNode *node;

  g_assert_true (mh_node_init_data_dir (dir, name, role, hospital_id, unit_id, &error));
  g_assert_no_error (error);
  node = mh_node_open (dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (node);
  return node;
}

static inline void
test_import (MhNode *node, const char *relative)
{
  g_autoptr(JsonNode) document = test_load_json (relative);
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_node_import (node, document, NULL, NULL, &error));
  g_assert_no_error (error);
}

/* Sends every change @from holds in @lane to @to, as a peer would (changes
 * keep their origin, clock and sequence number). */
static inline void
test_send_lane (MhNode *from, MhNode *to, guint lane, MhApplyReport *total)
{
  MhCursor cursor = { 0, 0 };
  gboolean more = TRUE;

  while (more)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) changes = mh_store_read_lane (mh_node_get_store (from), lane, &cursor,
                                                         1000, NULL, &more, &error);
      MhApplyReport report = { 0 };

      g_assert_no_error (error);
      g_assert_true (mh_store_apply (mh_node_get_store (to), changes, &report, &error));
      g_assert_no_error (error);
      if (total != NULL)
        {
          total->applied += report.applied;
          total->rejected += report.rejected;
          total->parked += report.parked;
          total->unparked += report.unparked;
        }
    }
}

/* Everything @from holds, lane by lane (the registry first, as a link
 * reads them), then a retry of what was parked. */
static inline void
test_send (MhNode *from, MhNode *to, MhApplyReport *report)
{
  g_autoptr(GError) error = NULL;
  MhApplyReport retried = { 0 };

  if (report != NULL)
    memset (report, 0, sizeof *report);
  for (guint lane = 0; lane < MH_N_LANES; lane++)
    test_send_lane (from, to, lane, report);
  g_assert_true (mh_store_retry_parked (mh_node_get_store (to), &retried, &error));
  g_assert_no_error (error);
  if (report != NULL)
    report->unparked += retried.unparked;
}

/* Every node sends to every other, twice (so that relayed changes and
 * changes made in answer to others reach everyone). */
static inline void
test_sync_all (MhNode **nodes, guint n)
{
  for (guint round = 0; round < 2; round++)
    for (guint i = 0; i < n; i++)
      for (guint j = 0; j < n; j++)
        if (i != j)
          test_send (nodes[i], nodes[j], NULL);
}

static inline gboolean
test_rejected_has (MhNode *node, const char *table, const char *row)
{
  g_autoptr(GPtrArray) rejected = mh_store_list_rejected (mh_node_get_store (node), 0);

  for (guint i = 0; i < rejected->len; i++)
    {
      MhQueuedChange *queued = g_ptr_array_index (rejected, i);

      if (g_strcmp0 (queued->change->table, table) == 0
          && g_strcmp0 (queued->change->row, row) == 0)
        return TRUE;
    }
  return FALSE;
}

static inline gboolean
test_parked_has (MhNode *node, const char *table, const char *row)
{
  g_autoptr(GPtrArray) parked = mh_store_list_parked (mh_node_get_store (node), 0);

  for (guint i = 0; i < parked->len; i++)
    {
      MhQueuedChange *queued = g_ptr_array_index (parked, i);

      if (g_strcmp0 (queued->change->table, table) == 0
          && g_strcmp0 (queued->change->row, row) == 0)
        return TRUE;
    }
  return FALSE;
}

/* Runs the node's writes with no validation at all: a rogue or buggy
 * peer, whose changes other nodes must judge for themselves. */
static inline void
test_go_rogue (MhNode *node)
{
  mh_store_set_validator (mh_node_get_store (node), NULL, NULL, NULL);
}

/* Asserts an error of the node's domain whose message starts with @field
 * (when not NULL) followed by ": ". */
#define test_assert_node_error(error, code, field)                                          \
  G_STMT_START                                                                              \
  {                                                                                         \
    g_assert_error ((error), MH_NODE_ERROR, (code));                                        \
    if ((field) != NULL)                                                                    \
      {                                                                                     \
        g_autofree char *expected_prefix_ = g_strdup_printf ("%s: ", (const char *) (field)); \
        if (!g_str_has_prefix ((error)->message, expected_prefix_))                         \
          g_error ("expected an error about %s, got: %s", (const char *) (field),         \
                   (error)->message);                                                       \
      }                                                                                     \
  }                                                                                         \
  G_STMT_END

static inline JsonObject *
test_bed (MhNode *node, const char *hospital_id, const char *category)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) hospital = mh_node_get_hospital (node, hospital_id, &error);
  JsonObject *beds;

  g_assert_no_error (error);
  beds = json_object_get_object_member (hospital, "beds");
  if (!json_object_has_member (beds, category))
    return NULL;
  return json_object_ref (json_object_get_object_member (beds, category));
}

static inline gint64
test_free_beds (MhNode *node, const char *hospital_id, const char *category)
{
  g_autoptr(JsonObject) bed = test_bed (node, hospital_id, category);

  g_assert_nonnull (bed);
  return json_object_get_int_member (bed, "free");
}

static inline const char *
test_string (JsonObject *object, const char *member)
{
  return json_object_get_string_member_with_default (object, member, NULL);
}

/* The network of test-domain.c and test-validate.c, as a GTest fixture: a
 * hub holding the reference scenario, Fred Brooks's desk and unit
 * MH-AMB-01's crew, in step. tmp_prefix names the folder they live in. */
typedef struct
{
  char *dir;
  MhNode *hub;
  MhNode *desk; /* Fred Brooks's own site */
  MhNode *crew; /* unit MH-AMB-01 */
} Net;

static inline void
test_net_set_up (Net *net, const char *tmp_prefix)
{
  MhNode *nodes[3];

  net->dir = mh_test_make_tmpdir (tmp_prefix);
  net->hub = test_node_new (net->dir, "hub", MH_ROLE_HUB, NULL, NULL);
  net->desk = test_node_new (net->dir, "desk", MH_ROLE_HOSPITAL, FRED_BROOKS, NULL);
  net->crew = test_node_new (net->dir, "crew", MH_ROLE_AMBULANCE, NULL, UNIT_AMB01);
  test_import (net->hub, "demo/reference-scenario.json");
  nodes[0] = net->hub;
  nodes[1] = net->desk;
  nodes[2] = net->crew;
  test_sync_all (nodes, 3);
}

static inline void
net_tear_down (Net *net, gconstpointer data)
{
  g_clear_object (&net->hub);
  g_clear_object (&net->desk);
  g_clear_object (&net->crew);
  mh_test_rm_rf (net->dir);
  g_free (net->dir);
}

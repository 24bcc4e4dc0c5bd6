/* test-validate.c: every validation rule, for a local write and for the
 * same change arriving from another node
 *
 * A local write that breaks a rule is refused with the right MhNodeError
 * code and the field named. The same change made by a rogue peer (one that
 * validates nothing) is rejected or parked by the receiver, listed, and
 * never applied.
 */
#include "config.h"

#include <locale.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "node-test-common.h"
#include "mh-trust.h"

static void
net_set_up (Net *net, gconstpointer data)
{
  test_net_set_up (net, "mh-validate");
}

/* A node that joined the network (its site row is known to @peer) and
 * then stopped validating what it writes. */
static MhNode *
rogue_new (Net *net, const char *name, MhRole role, const char *hospital, const char *unit)
{
  MhNode *rogue = test_node_new (net->dir, name, role, hospital, unit);
  MhNode *nodes[] = { net->hub, rogue };

  test_sync_all (nodes, 2);
  test_go_rogue (rogue);
  return rogue;
}

static void
store_write (MhNode *node, const char *table, const char *row, const char *values)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_upsert (mh_node_get_store (node), table, row,
                                  g_variant_new_parsed (values), &error));
  g_assert_no_error (error);
}

/* Sends everything @rogue holds to @victim, and checks that the change to
 * (table, row) was rejected and listed there. */
static void
assert_rejected_remotely (MhNode *rogue, MhNode *victim, const char *table, const char *row)
{
  MhApplyReport report;

  test_send (rogue, victim, &report);
  g_assert_cmpuint (report.rejected, >=, 1);
  g_assert_true (test_rejected_has (victim, table, row));
}

static JsonObject *
get_hospital (MhNode *node, const char *id)
{
  g_autoptr(GError) error = NULL;
  JsonObject *hospital = mh_node_get_hospital (node, id, &error);

  g_assert_no_error (error);
  return hospital;
}

/* ------------------------------------------------------------------------ */
/* Types, ranges, enums, required fields                                    */

static void
expect_create_hospital_invalid (MhNode *node, const char *body, const char *field)
{
  g_autoptr(JsonObject) fields = test_object (body);
  g_autoptr(GError) error = NULL;
  g_autofree char *id = mh_node_create_hospital (node, fields, &error);

  g_assert_null (id);
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, field);
}

static void
test_types (Net *net, gconstpointer data)
{
  g_autoptr(JsonArray) before = mh_node_list_hospitals (net->hub, NULL);
  g_autoptr(JsonArray) after = NULL;
  g_autoptr(JsonObject) beds = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) rogue = NULL;
  const char *id = "0b7d8a8c-6c5e-4a8e-9d0e-0f1e2d3c4b5a";

  /* Types are checked by the node, before the store sees a value. */
  expect_create_hospital_invalid (net->hub, "{\"name\": \"X\", \"lat\": \"51\", \"lon\": 0}",
                                  "lat");
  expect_create_hospital_invalid (net->hub, "{\"name\": 5, \"lat\": 51, \"lon\": 0}", "name");
  expect_create_hospital_invalid (net->hub,
                                  "{\"name\": \"X\", \"lat\": 51, \"lon\": 0, \"foo\": 1}", "foo");
  expect_create_hospital_invalid (net->hub,
                                  "{\"name\": \"X\", \"lat\": 51, \"lon\": 0, \"specialties\": "
                                  "[81]}",
                                  "specialties");
  expect_create_hospital_invalid (net->hub,
                                  "{\"name\": \"X\", \"lat\": 51, \"lon\": 0, \"beds\": "
                                  "{\"adult_icu\": {\"available\": 1.5}}}",
                                  "beds.adult_icu.available");
  expect_create_hospital_invalid (net->hub,
                                  "{\"id\": \"not-a-uuid\", \"name\": \"X\", \"lat\": 51, "
                                  "\"lon\": 0}",
                                  "id");
  /* Ranges and required fields are the validator's. */
  expect_create_hospital_invalid (net->hub, "{\"name\": \"X\", \"lat\": 95, \"lon\": 0}", "lat");
  expect_create_hospital_invalid (net->hub, "{\"name\": \"X\", \"lat\": 45, \"lon\": 200}",
                                  "lon");
  expect_create_hospital_invalid (net->hub, "{\"lat\": 45, \"lon\": 2}", "name");

  {
    g_autofree char *long_name = g_strnfill (300, 'n');
    g_autofree char *body = g_strdup_printf ("{\"name\": \"%s\", \"lat\": 1, \"lon\": 1}",
                                             long_name);
    expect_create_hospital_invalid (net->hub, body, "name");
  }

  beds = test_object ("{\"available\": \"many\", \"baseline\": 2}");
  g_assert_false (mh_node_put_beds (net->hub, JULIA_CRUSHER, "medical_surgical", beds, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "available");
  g_clear_error (&error);
  g_clear_pointer (&beds, json_object_unref);
  beds = test_object ("{\"available\": -1, \"baseline\": 2}");
  g_assert_false (mh_node_put_beds (net->hub, JULIA_CRUSHER, "medical_surgical", beds, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "available");
  g_clear_error (&error);

  after = mh_node_list_hospitals (net->hub, NULL);
  g_assert_cmpuint (json_array_get_length (after), ==, json_array_get_length (before));

  /* The same out-of-range latitude from a peer. */
  rogue = rogue_new (net, "rogue", MH_ROLE_HUB, NULL, NULL);
  store_write (rogue, "hospital", id, "{'name': <'Nowhere'>, 'lat': <95.0>, 'lon': <2.0>}");
  assert_rejected_remotely (rogue, net->hub, "hospital", id);
  /* Its other registers (phones, all null) are valid and stored, but a
   * hospital without its identity is none. */
  g_assert_null (mh_node_get_hospital (net->hub, id, &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
  g_clear_pointer (&after, json_array_unref);
  after = mh_node_list_hospitals (net->hub, NULL);
  g_assert_cmpuint (json_array_get_length (after), ==, json_array_get_length (before));
}

static void
test_enums (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) patch = test_object ("{\"ems_traffic\": \"open\"}");
  g_autoptr(JsonObject) beverly = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) rogue = NULL;

  g_assert_false (mh_node_patch_hospital (net->hub, BEVERLY_BASHIR, patch, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "ems_traffic");
  g_clear_error (&error);

  /* A status and its reason win or lose together: closed needs a reason. */
  g_clear_pointer (&patch, json_object_unref);
  patch = test_object ("{\"ems_traffic\": \"closed\"}");
  g_assert_false (mh_node_patch_hospital (net->hub, BEVERLY_BASHIR, patch, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "ems_traffic_reason");
  g_clear_error (&error);

  rogue = rogue_new (net, "rogue", MH_ROLE_HUB, NULL, NULL);
  store_write (rogue, "hospital_status", BEVERLY_BASHIR, "{'ems_traffic': <'open'>}");
  assert_rejected_remotely (rogue, net->hub, "hospital_status", BEVERLY_BASHIR);
  beverly = get_hospital (net->hub, BEVERLY_BASHIR);
  g_assert_cmpstr (test_string (beverly, "ems_traffic"), ==, "normal");
}

/* ------------------------------------------------------------------------ */
/* Ownership                                                                */

static void
test_ambulance_writes_beds (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) beds = test_object ("{\"available\": 9, \"baseline\": 9}");
  g_autoptr(JsonObject) status = test_object ("{\"clinical\": \"full\"}");
  g_autoptr(GError) error = NULL;

  g_assert_false (mh_node_put_beds (net->crew, JULIA_CRUSHER, "medical_surgical", beds, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_patch_hospital (net->crew, JULIA_CRUSHER, status, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);

  test_go_rogue (net->crew);
  store_write (net->crew, "beds", JULIA_CRUSHER "/medical_surgical",
               "{'available': <int64 9>, 'baseline': <int64 9>}");
  assert_rejected_remotely (net->crew, net->hub, "beds", JULIA_CRUSHER "/medical_surgical");
  g_assert_cmpint (test_free_beds (net->hub, JULIA_CRUSHER, "medical_surgical"), ==, 0);
}

static void
test_hospital_writes_other_beds (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) beds = test_object ("{\"available\": 9, \"baseline\": 9}");
  g_autoptr(JsonObject) status = test_object ("{\"clinical\": \"full\"}");
  g_autoptr(JsonObject) julia = NULL;
  g_autoptr(GError) error = NULL;

  /* Fred Brooks's desk reports its own beds, not Julia Crusher's. */
  g_assert_true (mh_node_put_beds (net->desk, FRED_BROOKS, "medical_surgical", beds, &error));
  g_assert_no_error (error);
  g_assert_false (mh_node_put_beds (net->desk, JULIA_CRUSHER, "medical_surgical", beds, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_patch_hospital (net->desk, JULIA_CRUSHER, status, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);

  test_go_rogue (net->desk);
  store_write (net->desk, "beds", JULIA_CRUSHER "/medical_surgical",
               "{'available': <int64 9>, 'baseline': <int64 9>}");
  store_write (net->desk, "hospital_status", JULIA_CRUSHER, "{'clinical': <'full'>}");
  assert_rejected_remotely (net->desk, net->hub, "beds", JULIA_CRUSHER "/medical_surgical");
  g_assert_true (test_rejected_has (net->hub, "hospital_status", JULIA_CRUSHER));
  g_assert_cmpint (test_free_beds (net->hub, JULIA_CRUSHER, "medical_surgical"), ==, 0);
  julia = get_hospital (net->hub, JULIA_CRUSHER);
  g_assert_cmpstr (test_string (julia, "clinical"), ==, "normal");
  /* Its own report went through. */
  g_assert_cmpint (test_free_beds (net->hub, FRED_BROOKS, "medical_surgical"), ==, 9);
}

static void
test_hub_writes_desk_beds (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) beds = test_object ("{\"available\": 7, \"baseline\": 9}");
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) other_hub = NULL;
  MhApplyReport report;

  /* Fred Brooks has a desk of its own: the hub no longer types its counts. */
  g_assert_false (mh_node_put_beds (net->hub, FRED_BROOKS, "medical_surgical", beds, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_assert_nonnull (strstr (error->message, "own site"));
  g_clear_error (&error);
  /* Julia Crusher has none: the hub reports for it. */
  g_assert_true (mh_node_put_beds (net->hub, JULIA_CRUSHER, "medical_surgical", beds, &error));
  g_assert_no_error (error);

  /* The rule needs this node's view of the registry, which another hub may
   * not have had yet: it is a local check only, and a hub's report from
   * elsewhere is applied. */
  other_hub = test_node_new (net->dir, "other-hub", MH_ROLE_HUB, NULL, NULL);
  test_import (other_hub, "demo/reference-scenario.json");
  g_assert_true (mh_node_put_beds (other_hub, FRED_BROOKS, "medical_surgical", beds, &error));
  g_assert_no_error (error);
  test_send (other_hub, net->hub, &report);
  g_assert_cmpuint (report.rejected, ==, 0);
  g_assert_cmpint (test_free_beds (net->hub, FRED_BROOKS, "medical_surgical"), ==, 7);
}

static void
test_unit_ownership (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) patch = test_object ("{\"status\": \"out_of_service\"}");
  g_autoptr(JsonObject) unit = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_false (mh_node_patch_unit (net->desk, UNIT_AMB01, patch, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_true (mh_node_patch_unit (net->crew, UNIT_AMB01, patch, &error));
  g_assert_no_error (error);

  test_go_rogue (net->desk);
  store_write (net->desk, "unit", UNIT_AMB01, "{'status': <'available'>}");
  store_write (net->desk, "unit_position", UNIT_AMB01, "{'lat': <48.0>, 'lon': <2.0>}");
  assert_rejected_remotely (net->desk, net->hub, "unit", UNIT_AMB01);
  g_assert_true (test_rejected_has (net->hub, "unit_position", UNIT_AMB01));
  unit = mh_node_get_unit (net->hub, UNIT_AMB01, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (unit, "status"), ==, "available");
}

static void
test_patient_ownership (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) fields = test_object ("{\"age_estimate\": 40, \"triage\": \"delayed\"}");
  g_autoptr(JsonObject) patch = test_object ("{\"triage\": \"immediate\"}");
  g_autoptr(JsonObject) unit2 = test_object ("{\"id\": \"6c0ffee0-0000-4000-8000-000000000002\","
                                             " \"call_sign\": \"MH-AMB-02\", \"type\": \"als\"}");
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) crew2 = NULL;
  g_autofree char *patient = NULL;
  g_autofree char *refused = NULL;
  g_autofree char *unit2_id = NULL;
  const char *rogue_patient = "9e0e0e0e-0000-4000-8000-0000000000aa";

  /* A desk keeps no pre-hospital record. */
  refused = mh_node_create_patient (net->desk, fields, &error);
  g_assert_null (refused);
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);

  patient = mh_node_create_patient (net->crew, fields, &error);
  g_assert_no_error (error);

  /* Another crew may not rewrite this unit's patient. */
  unit2_id = mh_node_create_unit (net->hub, unit2, &error);
  g_assert_no_error (error);
  crew2 = test_node_new (net->dir, "crew2", MH_ROLE_AMBULANCE, NULL, unit2_id);
  {
    MhNode *nodes[] = { net->hub, net->crew, crew2 };
    test_sync_all (nodes, 3);
  }
  /* Need to know: it does not even hold it. */
  g_assert_cmpint (mh_store_get_row_state (mh_node_get_store (crew2), "patient", patient), ==,
                   MH_ROW_ABSENT);
  g_assert_false (mh_node_patch_patient (crew2, patient, patch, &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
  g_clear_error (&error);
  /* Nor create one in this unit's name. */
  {
    g_autoptr(JsonObject) theirs = test_objectf ("{\"unit_id\": \"%s\"}", UNIT_AMB01);
    g_autofree char *id = mh_node_create_patient (crew2, theirs, &error);
    g_assert_null (id);
    test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
    g_clear_error (&error);
  }
  g_assert_true (mh_node_patch_patient (net->crew, patient, patch, &error));
  g_assert_no_error (error);

  /* From a peer too: a crew that skips its own checks neither rewrites
   * another unit's patient (its changes wait for a handover that never
   * comes) nor takes it for itself. */
  {
    MhApplyReport report;
    g_autofree char *triage = g_strdup ("{'triage': <'expectant'>}");
    g_autofree char *take = g_strdup_printf ("{'unit_id': <'%s'>}", unit2_id);

    test_go_rogue (crew2);
    store_write (crew2, "patient", patient, triage);
    store_write (crew2, "patient", patient, take);
    test_send (crew2, net->hub, &report);
    g_assert_cmpuint (report.rejected, ==, 1);
    g_assert_true (test_rejected_has (net->hub, "patient", patient));
    /* (a new row here carries its other registers, empty: they wait too) */
    g_assert_cmpuint (report.parked, >=, 1);
    {
      g_autoptr(GVariant) row = mh_store_get_row (mh_node_get_store (net->hub), "patient",
                                                  patient);
      const char *value = NULL;

      g_assert_true (g_variant_lookup (row, "unit_id", "&s", &value));
      g_assert_cmpstr (value, ==, UNIT_AMB01);
      g_assert_true (g_variant_lookup (row, "triage", "&s", &value));
      g_assert_cmpstr (value, !=, "expectant");
    }
  }

  test_go_rogue (net->desk);
  store_write (net->desk, "patient", rogue_patient, "{'triage': <'minimal'>}");
  assert_rejected_remotely (net->desk, net->hub, "patient", rogue_patient);
  g_assert_cmpint (mh_store_get_row_state (mh_node_get_store (net->hub), "patient",
                                           rogue_patient),
                   ==, MH_ROW_ABSENT);
}

static char *
announce (Net *net, char **patient_out)
{
  g_autoptr(JsonObject) patient = test_object ("{\"age_estimate\": 70, \"alert\": \"stemi\","
                                               " \"required_specialty\": 21,"
                                               " \"bed_category\": \"medical_surgical\"}");
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *patient_id = mh_node_create_patient (net->crew, patient, &error);
  char *id;

  g_assert_no_error (error);
  transfer = test_objectf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\","
                           " \"priority\": \"immediate\"}",
                           patient_id, FRED_BROOKS);
  id = mh_node_create_transfer (net->crew, transfer, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  if (patient_out)
    *patient_out = g_steal_pointer (&patient_id);
  return id;
}

static void
test_transfer_sides (Net *net, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(MhNode) julia_desk = NULL;
  g_autofree char *id = announce (net, NULL);
  MhNode *nodes[] = { net->hub, net->desk, net->crew };

  test_sync_all (nodes, 3);

  /* Each side of a transfer is written by that side only. */
  g_assert_false (mh_node_transfer_desk (net->crew, id, "accepted", NULL, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_transfer_crew (net->desk, id, "en_route", &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);

  julia_desk = test_node_new (net->dir, "julia-desk", MH_ROLE_HOSPITAL, JULIA_CRUSHER, NULL);
  {
    MhNode *four[] = { net->hub, net->desk, net->crew, julia_desk };
    test_sync_all (four, 4);
  }
  /* Another hospital does not even hold it (need to know). */
  g_assert_cmpint (mh_store_get_row_state (mh_node_get_store (julia_desk), "transfer", id), ==,
                   MH_ROW_ABSENT);
  g_assert_false (mh_node_transfer_desk (julia_desk, id, "acknowledged", NULL, &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
  g_clear_error (&error);

  /* A crew that accepts its own transfer, from elsewhere. */
  test_go_rogue (net->crew);
  store_write (net->crew, "transfer", id,
               "{'desk_state': <'accepted'>, 'desk_at': <int64 1700000000000>}");
  assert_rejected_remotely (net->crew, net->desk, "transfer", id);
  transfer = mh_node_get_transfer (net->desk, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (transfer, "desk_state"), ==, "pending");
  g_assert_cmpint (test_free_beds (net->desk, FRED_BROOKS, "medical_surgical"), ==, 2);
}

static void
test_message_author (Net *net, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = mh_node_post_message (net->hub, "broadcast", "Major incident", &error);
  g_autofree char *forged = NULL;
  g_autofree char *forged_values = NULL;
  g_autoptr(JsonArray) messages = NULL;
  MhNode *nodes[] = { net->hub, net->crew };

  g_assert_no_error (error);
  test_sync_all (nodes, 2);

  /* Only its author retracts a message. */
  g_assert_false (mh_node_retract_message (net->crew, id, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  /* A channel is one of three forms. */
  g_assert_null (mh_node_post_message (net->crew, "nowhere", "hello", &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "channel");
  g_clear_error (&error);

  /* A crew that deletes the hub's message, and writes in its name. */
  test_go_rogue (net->crew);
  g_assert_true (mh_store_delete (mh_node_get_store (net->crew), "message", id, &error));
  g_assert_no_error (error);
  forged = g_strdup_printf ("%s/0f0f0f0f-0000-4000-8000-000000000001",
                            mh_node_get_site_id (net->hub));
  forged_values = g_strdup_printf ("{'channel': <'broadcast'>, 'author_site': <'%s'>, "
                                   "'body': <'All clear'>, 'sent': <int64 1>}",
                                   mh_node_get_site_id (net->hub));
  store_write (net->crew, "message", forged, forged_values);
  assert_rejected_remotely (net->crew, net->hub, "message", id);
  g_assert_true (test_rejected_has (net->hub, "message", forged));

  messages = mh_node_list_messages (net->hub, "broadcast", 0, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  g_assert_cmpstr (test_string (json_array_get_object_element (messages, 0), "body"), ==,
                   "Major incident");
}

/* ------------------------------------------------------------------------ */
/* Parked until what a change refers to arrives                             */

static void
test_parked (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) beds = test_object ("{\"available\": 1, \"baseline\": 2}");
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) newcomer = test_node_new (net->dir, "newcomer", MH_ROLE_HUB, NULL, NULL);
  MhApplyReport report = { 0 };

  test_import (newcomer, "demo/reference-scenario.json");
  g_assert_true (mh_node_put_beds (net->desk, FRED_BROOKS, "medical_surgical", beds, &error));
  g_assert_no_error (error);

  /* The desk's report before its site's registry row: parked, not refused. */
  test_send_lane (net->desk, newcomer, MH_LANE_BEDS, &report);
  g_assert_cmpuint (report.parked, >=, 1);
  g_assert_cmpuint (report.rejected, ==, 0);
  g_assert_true (test_parked_has (newcomer, "beds", FRED_BROOKS "/medical_surgical"));
  g_assert_cmpint (test_free_beds (newcomer, FRED_BROOKS, "medical_surgical"), ==, 2);

  /* The registry arrives: the report applies. */
  test_send (net->desk, newcomer, &report);
  g_assert_cmpuint (mh_store_get_parked_count (mh_node_get_store (newcomer)), ==, 0);
  g_assert_cmpint (test_free_beds (newcomer, FRED_BROOKS, "medical_surgical"), ==, 1);
}

/* ------------------------------------------------------------------------ */
/* Version skew                                                             */

/* The rogue's changes, restamped with another schema version. */
static GPtrArray *
changes_as_version (MhNode *from, guint version)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);

  for (guint lane = 0; lane < MH_N_LANES; lane++)
    {
      MhCursor cursor = { 0, 0 };
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) changes = mh_store_read_lane (mh_node_get_store (from), lane, &cursor,
                                                         100000, NULL, NULL, &error);

      g_assert_no_error (error);
      for (guint i = 0; i < changes->len; i++)
        {
          MhChange *change = g_ptr_array_index (changes, i);

          /* As that version would have signed it. */
          change->schema_version = version;
          if (g_strcmp0 (change->origin, mh_node_get_site_id (from)) == 0)
            g_assert_true (mh_identity_sign_change (mh_node_get_identity (from), change, NULL));
          g_ptr_array_add (all, mh_change_ref (change));
        }
    }
  return all;
}

static void
test_version_skew (Net *net, gconstpointer data)
{
  g_autoptr(MhNode) newer = test_node_new (net->dir, "newer", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(MhNode) same_version = test_node_new (net->dir, "same", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(MhNode) older = test_node_new (net->dir, "older", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(GPtrArray) same = NULL;
  g_autoptr(GPtrArray) ahead = NULL;
  g_autoptr(JsonObject) beverly = NULL;
  g_autoptr(JsonArray) nearest = NULL;
  g_autoptr(GError) error = NULL;
  MhApplyReport report;
  JsonObject *beds;

  test_import (same_version, "demo/reference-scenario.json");
  test_import (older, "demo/reference-scenario.json");

  /* What a node of the next schema version could write: a status and a
   * bed category this one does not know. */
  test_import (newer, "demo/reference-scenario.json");
  test_go_rogue (newer);
  store_write (newer, "hospital_status", BEVERLY_BASHIR,
               "{'ems_traffic': <'diverting'>, 'ems_traffic_reason': <'CT down'>}");
  store_write (newer, "beds", BEVERLY_BASHIR "/ecmo",
               "{'hospital_id': <'" BEVERLY_BASHIR "'>, 'category': <'ecmo'>, "
               "'available': <int64 3>, 'baseline': <int64 3>}");

  /* From a peer of the same version, an unknown value is simply wrong. */
  same = changes_as_version (newer, MH_MEDHEAD_SCHEMA_VERSION);
  g_assert_true (mh_store_apply (mh_node_get_store (same_version), same, &report, &error));
  g_assert_no_error (error);
  g_assert_true (test_rejected_has (same_version, "hospital_status", BEVERLY_BASHIR));
  g_assert_true (test_rejected_has (same_version, "beds", BEVERLY_BASHIR "/ecmo"));
  beverly = mh_node_get_hospital (same_version, BEVERLY_BASHIR, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (beverly, "ems_traffic"), ==, "normal");
  g_clear_pointer (&beverly, json_object_unref);

  /* From a newer one, it is stored as it is, shown, and counts as not
   * taking ambulances and as no beds. */
  ahead = changes_as_version (newer, MH_MEDHEAD_SCHEMA_VERSION + 1);
  g_assert_true (mh_store_apply (mh_node_get_store (older), ahead, &report, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (report.rejected, ==, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (mh_node_get_store (older)), ==, 0);
  beverly = mh_node_get_hospital (older, BEVERLY_BASHIR, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (beverly, "ems_traffic"), ==, "diverting");
  beds = json_object_get_object_member (beverly, "beds");
  g_assert_true (json_object_has_member (beds, "ecmo"));
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (beds, "ecmo"),
                                               "available"),
                   ==, 3);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (beds, "ecmo"),
                                               "free"),
                   ==, 0);

  nearest = mh_node_nearest_hospitals (older, 51.539, -0.19, IMMUNOLOGY, "medical_surgical", 5,
                                       &error);
  g_assert_no_error (error);
  for (guint i = 0; i < json_array_get_length (nearest); i++)
    g_assert_cmpstr (test_string (json_array_get_object_element (nearest, i), "id"), !=,
                     BEVERLY_BASHIR);
}


/* A node of the network @net_key, as `init --network` makes it. */
static MhNode *
network_node_new (const char *parent, const char *name, MhRole role, const char *hospital_id,
                  const char *unit_id, const char *net_key)
{
  g_autofree char *dir = g_build_filename (parent, name, NULL);
  g_autoptr(GError) error = NULL;
  MhNode *node;

  g_assert_true (mh_node_init_data_dir (dir, name, role, hospital_id, unit_id, &error));
  g_assert_true (mh_trust_write_network_key (dir, net_key, &error));
  g_assert_no_error (error);
  node = mh_node_open (dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (mh_node_get_trust (node));
  return node;
}

static MhChange *
patient_owned_by (const char *unit_id)
{
  MhChange *change = mh_change_new_set ("patient", "p-roles", "owner",
                                        g_variant_new_parsed ("[<%s>]", unit_id),
                                        MH_HLC_PACK (g_get_real_time () / 1000, 0),
                                        "aaaaaaaaaaaaaaaaaaaaaaaaaa", 1);

  change->schema_version = 1;
  return change;
}

/* With a network key, a site's role is the one it was admitted with: a
 * crew that writes itself in as a hub is refused, a made-up key calling
 * itself a hub gets nowhere, and need to know follows the admission. */
static void
test_roles_from_admissions (Net *net, gconstpointer data)
{
  g_autofree char *net_path = g_build_filename (net->dir, "network-key.pem", NULL);
  g_autofree char *forged_path = g_build_filename (net->dir, "forged-key.pem", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MhIdentity) network = mh_identity_load_or_create (net_path, &error);
  g_autoptr(MhIdentity) forged = mh_identity_load_or_create (forged_path, &error);
  const char *net_key = mh_identity_get_signing_public_key (network);
  g_autoptr(MhNode) hub = network_node_new (net->dir, "net-hub", MH_ROLE_HUB, NULL, NULL,
                                            net_key);
  g_autoptr(MhNode) crew = network_node_new (net->dir, "net-crew", MH_ROLE_AMBULANCE, NULL,
                                             UNIT_AMB01, net_key);
  g_autoptr(JsonNode) hub_admission = NULL;
  g_autoptr(JsonNode) crew_admission = NULL;
  g_autoptr(MhChange) forged_site = NULL;
  g_autoptr(MhChange) patient = NULL;
  g_autoptr(GPtrArray) batch = g_ptr_array_new ();
  MhStore *store = mh_node_get_store (hub);
  const char *crew_site = mh_node_get_site_id (crew);
  MhApplyReport report;

  hub_admission = mh_trust_make_admission (network, net_key, mh_node_get_site_id (hub), "hub",
                                           NULL, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mh_trust_add (mh_node_get_trust (hub), hub_admission, &error), ==, 1);
  crew_admission = mh_trust_make_admission (mh_node_get_identity (hub), net_key, crew_site,
                                            "ambulance", hub_admission, 2, &error);
  g_assert_no_error (error);

  /* Before its admission is known here, the crew's changes wait. */
  test_go_rogue (crew);
  store_write (crew, "site", crew_site, "{'role': <'hub'>}");
  test_send (crew, hub, &report);
  g_assert_cmpuint (report.parked, >, 0);
  g_assert_cmpint (mh_store_get_row_state (store, "site", crew_site), ==, MH_ROW_ABSENT);

  /* Admitted as an ambulance: its claim to be a hub is refused. */
  g_assert_cmpuint (mh_trust_add (mh_node_get_trust (hub), crew_admission, &error), ==, 1);
  g_assert_true (mh_store_retry_parked (store, &report, &error));
  g_assert_no_error (error);
  g_assert_true (test_rejected_has (hub, "site", crew_site));
  {
    g_autoptr(GVariant) row = mh_store_get_row (store, "site", crew_site);
    const char *role = NULL;

    /* Its heartbeat came through; its claim did not. */
    if (row != NULL)
      g_variant_lookup (row, "role", "&s", &role);
    g_assert_cmpstr (role, ==, NULL);
  }

  /* A made-up key that calls itself a hub, relayed by any peer: nothing
   * it writes is applied. */
  forged_site = mh_change_new_set ("site", mh_identity_get_site_id (forged), "info",
                                   g_variant_new_parsed ("[<'Forged'>, <'hub'>, <@ms nothing>, "
                                                         "<@ms nothing>]"),
                                   MH_HLC_PACK (g_get_real_time () / 1000, 0),
                                   mh_identity_get_site_id (forged), 1);
  forged_site->schema_version = 1;
  g_assert_true (mh_identity_sign_change (forged, forged_site, &error));
  g_ptr_array_add (batch, forged_site);
  g_assert_true (mh_store_apply (store, batch, &report, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (report.applied, ==, 0);
  g_assert_cmpint (mh_store_get_row_state (store, "site", mh_identity_get_site_id (forged)), ==,
                   MH_ROW_ABSENT);

  /* Need to know: a site row claiming hub (written here before the
   * network key, say) does not open every patient to its site. */
  mh_store_set_validator (store, NULL, NULL, NULL);
  store_write (hub, "site", crew_site,
               "{'name': <'crew'>, 'role': <'hub'>, 'unit_id': <'" UNIT_AMB01 "'>}");
  patient = patient_owned_by ("another-unit");
  g_assert_cmpint (mh_store_get_audience (store, patient, crew_site, NULL), ==, MH_AUDIENCE_NO);
  g_assert_cmpint (mh_store_get_audience (store, patient, mh_node_get_site_id (hub), NULL), ==,
                   MH_AUDIENCE_YES);
}

/* ------------------------------------------------------------------------ */
/* Translation                                                              */

/* The app shows the library's messages as they are: under LANGUAGE=fr a
 * refusal reads in French, and still starts with the field (untranslated)
 * that the REST API and the app's forms look for. */
static void
test_french (Net *net, gconstpointer data)
{
  const char *build_root = g_getenv ("MEDHEAD_BUILD_ROOT");
  g_autofree char *localedir = NULL;
  g_autofree char *catalogue = NULL;
  g_autofree char *not_a_node = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *old_language = g_strdup (g_getenv ("LANGUAGE"));
  g_autofree char *old_locale = g_strdup (setlocale (LC_ALL, NULL));
  g_autoptr(JsonObject) beds = test_object ("{\"available\": -1, \"baseline\": 2}");
  g_autoptr(JsonObject) patch = test_object ("{\"available\": 3, \"baseline\": 3}");
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(MhNode) rogue = NULL;
  g_autoptr(MhNode) none = NULL;
  g_autoptr(GError) error = NULL;
  const char *reason = NULL;

  g_assert_nonnull (build_root);
  localedir = g_build_filename (build_root, "po", NULL);
  catalogue = g_build_filename (localedir, "fr", "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);
  if (!g_file_test (catalogue, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("the French catalogue is not built (msgfmt missing)");
      return;
    }
  /* As medhead and medhead-node do at start, with the build's catalogue. */
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  g_setenv ("LANGUAGE", "fr", TRUE);
  setlocale (LC_ALL, "C.UTF-8");

  /* A local write out of range: the bed board's "available" below zero. */
  g_assert_false (mh_node_put_beds (net->desk, FRED_BROOKS, "medical_surgical", beds, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "available");
  expected = g_strdup_printf ("available: doit être compris entre 0 et %d", MH_MAX_COUNT);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  /* An ownership refusal: a crew does not report a hospital's beds. */
  g_assert_false (mh_node_put_beds (net->crew, FRED_BROOKS, "medical_surgical", patch, &error));
  g_assert_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FORBIDDEN);
  g_assert_nonnull (strstr (error->message, "seuls les sites de l’hôpital " FRED_BROOKS
                                            " ou un hub déclarent ses lits et son état"));
  g_clear_error (&error);

  /* The reason of a remote rejection, as `status` and the app list it. */
  rogue = rogue_new (net, "rogue", MH_ROLE_HUB, NULL, NULL);
  store_write (rogue, "hospital", JULIA_CRUSHER, "{'lat': <95.0>}");
  assert_rejected_remotely (rogue, net->hub, "hospital", JULIA_CRUSHER);
  rejected = mh_store_list_rejected (mh_node_get_store (net->hub), 0);
  for (guint i = 0; i < rejected->len; i++)
    {
      MhQueuedChange *queued = g_ptr_array_index (rejected, i);

      if (g_strcmp0 (queued->change->table, "hospital") == 0
          && g_strcmp0 (queued->change->row, JULIA_CRUSHER) == 0)
        reason = queued->reason;
    }
  /* The prefix is for the code that maps reasons to errors: it stays. */
  g_assert_cmpstr (reason, ==, MH_REASON_INVALID "lat: doit être compris entre -90 et 90");

  /* Opening a folder that holds no node. */
  not_a_node = g_build_filename (net->dir, "empty", NULL);
  g_assert_cmpint (g_mkdir_with_parents (not_a_node, 0700), ==, 0);
  none = mh_node_open (not_a_node, &error);
  g_assert_null (none);
  g_assert_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "n’est pas le dossier de données d’un nœud"));

  if (old_language != NULL)
    g_setenv ("LANGUAGE", old_language, TRUE);
  else
    g_unsetenv ("LANGUAGE");
  setlocale (LC_ALL, old_locale);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) g_test_add ((path), Net, NULL, net_set_up, (func), net_tear_down)
  ADD ("/validate/types-and-ranges", test_types);
  ADD ("/validate/enums", test_enums);
  ADD ("/validate/ownership/ambulance-writes-beds", test_ambulance_writes_beds);
  ADD ("/validate/ownership/hospital-writes-other-beds", test_hospital_writes_other_beds);
  ADD ("/validate/ownership/hub-writes-desk-beds", test_hub_writes_desk_beds);
  ADD ("/validate/ownership/unit", test_unit_ownership);
  ADD ("/validate/ownership/patient", test_patient_ownership);
  ADD ("/validate/ownership/transfer-sides", test_transfer_sides);
  ADD ("/validate/ownership/message-author", test_message_author);
  ADD ("/validate/parked", test_parked);
  ADD ("/validate/roles-from-admissions", test_roles_from_admissions);
  ADD ("/validate/version-skew", test_version_skew);
  ADD ("/validate/french", test_french);
#undef ADD

  return g_test_run ();
}

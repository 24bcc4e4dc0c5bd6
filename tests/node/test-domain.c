/* test-domain.c: the MedHead domain of one node and of a few nodes that
 * exchange changes: data directories, hospitals and beds, one transaction
 * per request, committed_inbound, transfers and their shown state,
 * messages, patients, units, import and export, history, status.
 */
#include "config.h"

#include <sys/stat.h>

#include <glib/gstdio.h>

#include "node-test-common.h"
#include "mh-retention.h"

static void
net_set_up (Net *net, gconstpointer data)
{
  test_net_set_up (net, "mh-domain");
}

static void
net_sync (Net *net)
{
  MhNode *nodes[] = { net->hub, net->desk, net->crew };

  test_sync_all (nodes, 3);
}

/* ------------------------------------------------------------------------ */
/* Data directories                                                         */

static gint64
test_pragma (MhNode *node, const char *name)
{
  g_autofree char *sql = g_strdup_printf ("PRAGMA %s", name);
  sqlite3_stmt *stmt = NULL;
  gint64 value;

  g_assert_cmpint (sqlite3_prepare_v2 (mh_store_get_db (mh_node_get_store (node)), sql, -1, &stmt,
                                       NULL),
                   ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return value;
}

static void
test_init_and_open (void)
{
  g_autofree char *parent = mh_test_make_tmpdir ("mh-init");
  g_autofree char *dir = g_build_filename (parent, "hub", NULL);
  g_autofree char *token_path = g_build_filename (dir, "api-token", NULL);
  g_autofree char *ini_path = g_build_filename (dir, "node.ini", NULL);
  g_autofree char *token = NULL;
  g_autofree char *rotated = NULL;
  g_autofree char *text = NULL;
  g_autofree char *missing = g_build_filename (parent, "nothing-here", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autoptr(MhNode) none = NULL;
  g_autoptr(GKeyFile) ini = g_key_file_new ();
  g_autoptr(JsonObject) status = NULL;
  GStatBuf st;

  /* Arguments are checked before anything is written. */
  g_assert_false (mh_node_init_data_dir (dir, "Desk", MH_ROLE_HOSPITAL, NULL, NULL, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "hospital_id");
  g_clear_error (&error);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));

  g_assert_true (mh_node_init_data_dir (dir, "Hub", MH_ROLE_HUB, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (mh_node_init_data_dir (dir, "Hub", MH_ROLE_HUB, NULL, NULL, &error));
  test_assert_node_error (error, MH_NODE_ERROR_CONFIG, NULL);
  g_clear_error (&error);

  /* The token is the user's only. */
  g_assert_cmpint (g_stat (token_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (g_stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0077, ==, 0);

  node = mh_node_open (dir, &error);
  g_assert_no_error (error);
  token = mh_node_read_api_token (node, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (token), ==, 64);
  for (const char *p = token; *p; p++)
    g_assert_true (g_ascii_isxdigit (*p));
  g_assert_true (mh_node_rotate_api_token (node, &error));
  g_assert_no_error (error);
  rotated = mh_node_read_api_token (node, &error);
  g_assert_cmpstr (rotated, !=, token);
  g_assert_cmpint (g_stat (token_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* The site id is the identity's. */
  g_assert_true (g_key_file_load_from_file (ini, ini_path, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  text = g_key_file_get_string (ini, "node", "site_id", NULL);
  g_assert_cmpstr (text, ==, mh_node_get_site_id (node));
  g_assert_cmpstr (mh_identity_get_site_id (mh_node_get_identity (node)), ==,
                   mh_node_get_site_id (node));
  g_assert_cmpstr (mh_node_get_fingerprint (node), ==,
                   mh_identity_get_fingerprint (mh_node_get_identity (node)));
  g_assert_cmpint (g_key_file_get_integer (ini, "domain", "grace_minutes", NULL), ==, 60);
  g_assert_cmpint (mh_store_get_row_state (mh_node_get_store (node), "site",
                                           mh_node_get_site_id (node)),
                   ==, MH_ROW_LIVE);
  g_assert_cmpint (mh_node_get_role (node), ==, MH_ROLE_HUB);
  g_assert_cmpstr (mh_node_get_name (node), ==, "Hub");
  g_assert_null (mh_node_get_hospital_id (node));

  status = mh_node_get_status (node);
  g_assert_cmpstr (test_string (status, "site_id"), ==, mh_node_get_site_id (node));
  g_assert_cmpstr (test_string (status, "role"), ==, "hub");
  g_assert_cmpstr (test_string (status, "version"), ==, PACKAGE_VERSION);
  g_assert_true (json_object_has_member (status, "clock"));
  g_assert_nonnull (test_string (status, "clock_text"));
  g_assert_true (json_object_has_member (json_object_get_object_member (status, "counts"),
                                         "rejected"));
  /* A server's node keeps the replica in memory for its searches; a node
   * inside the desktop keeps a small cache and maps nothing. */
  g_assert_cmpint (test_pragma (node, "cache_size"), ==, -65536);
  g_assert_cmpint (test_pragma (node, "mmap_size"), ==, 268435456);
  g_clear_object (&node);
  node = mh_node_open_full (dir, MH_NODE_OPEN_EMBEDDED, &error);
  g_assert_no_error (error);
  g_assert_cmpint (test_pragma (node, "cache_size"), ==, -8192);
  g_assert_cmpint (test_pragma (node, "mmap_size"), ==, 0);
  g_clear_object (&node);

  none = mh_node_open (missing, &error);
  g_assert_null (none);
  test_assert_node_error (error, MH_NODE_ERROR_CONFIG, NULL);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (ini_path, "[node\nname=", -1, NULL));
  none = mh_node_open (dir, &error);
  g_assert_null (none);
  test_assert_node_error (error, MH_NODE_ERROR_CONFIG, NULL);

  mh_test_rm_rf (parent);
}

/* ------------------------------------------------------------------------ */
/* Hospitals                                                                */

static void
test_hospital_crud (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) fields = test_object (
    "{\"id\": \"3f1b9a44-2c7e-4d0a-9b8e-5a6f7c8d9e01\", \"name\": \"St Test's\","
    " \"city\": \"London\", \"lat\": 51.52, \"lon\": -0.09, \"specialties\": [21, 3, 21],"
    " \"ems_traffic\": \"normal\", \"report_interval_min\": 30,"
    " \"beds\": {\"adult_icu\": {\"available\": 3, \"baseline\": 10, \"surge_24h\": 2}}}");
  g_autoptr(JsonObject) patch = test_object ("{\"name\": \"St Test's Hospital\","
                                             " \"ems_traffic\": \"advisory\","
                                             " \"ems_traffic_reason\": \"CT down\"}");
  g_autoptr(JsonObject) beds = test_object ("{\"available\": 1, \"baseline\": 10}");
  g_autoptr(JsonObject) hospital = NULL;
  g_autoptr(JsonObject) bed = NULL;
  g_autoptr(JsonArray) list = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *again = NULL;
  g_autofree char *generated = NULL;
  JsonArray *specialties;

  id = mh_node_create_hospital (net->hub, fields, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, "3f1b9a44-2c7e-4d0a-9b8e-5a6f7c8d9e01");

  hospital = mh_node_get_hospital (net->hub, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (hospital, "name"), ==, "St Test's");
  g_assert_cmpfloat (json_object_get_double_member (hospital, "lat"), ==, 51.52);
  g_assert_cmpint (json_object_get_int_member (hospital, "report_interval_min"), ==, 30);
  g_assert_true (json_object_get_null_member (hospital, "address"));
  specialties = json_object_get_array_member (hospital, "specialties");
  g_assert_cmpuint (json_array_get_length (specialties), ==, 2);
  g_assert_cmpint (json_array_get_int_element (specialties, 0), ==, 3);
  g_assert_cmpint (json_array_get_int_element (specialties, 1), ==, 21);
  g_clear_pointer (&hospital, json_object_unref);

  bed = test_bed (net->hub, id, "adult_icu");
  g_assert_cmpstr (test_string (bed, "category"), ==, "adult_icu");
  g_assert_cmpint (json_object_get_int_member (bed, "available"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (bed, "baseline"), ==, 10);
  g_assert_cmpint (json_object_get_int_member (bed, "surge_24h"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (bed, "committed_inbound"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (bed, "free"), ==, 3);
  g_assert_cmpstr (test_string (bed, "reported_by"), ==, "hub");
  g_assert_false (json_object_get_boolean_member (bed, "stale"));
  g_clear_pointer (&bed, json_object_unref);

  /* PATCH changes what it names, and only that. */
  g_assert_true (mh_node_patch_hospital (net->hub, id, patch, &error));
  g_assert_no_error (error);
  hospital = mh_node_get_hospital (net->hub, id, &error);
  g_assert_cmpstr (test_string (hospital, "name"), ==, "St Test's Hospital");
  g_assert_cmpstr (test_string (hospital, "ems_traffic"), ==, "advisory");
  g_assert_cmpstr (test_string (hospital, "ems_traffic_reason"), ==, "CT down");
  g_assert_cmpstr (test_string (hospital, "city"), ==, "London");

  /* A bed report replaces the last; it is stale once older than the
   * hospital's reporting interval (30 minutes here). */
  g_assert_true (mh_node_put_beds (net->hub, id, "adult_icu", beds, &error));
  g_assert_no_error (error);
  bed = test_bed (net->hub, id, "adult_icu");
  g_assert_cmpint (json_object_get_int_member (bed, "free"), ==, 1);
  g_assert_true (json_object_get_null_member (bed, "surge_24h"));
  g_clear_pointer (&bed, json_object_unref);
  mh_node_set_time_offset (net->hub, 31 * MINUTE_MS);
  bed = test_bed (net->hub, id, "adult_icu");
  g_assert_true (json_object_get_boolean_member (bed, "stale"));
  mh_node_set_time_offset (net->hub, 0);

  /* Ids: taken, never reused, generated when not given. */
  again = mh_node_create_hospital (net->hub, fields, &error);
  g_assert_null (again);
  test_assert_node_error (error, MH_NODE_ERROR_CONFLICT, NULL);
  g_clear_error (&error);
  {
    g_autoptr(JsonObject) plain = test_object ("{\"name\": \"Plain\", \"lat\": 1, \"lon\": 2}");
    generated = mh_node_create_hospital (net->hub, plain, &error);
    g_assert_no_error (error);
    g_assert_true (mh_medhead_uuid_is_valid (generated));
  }

  g_assert_false (mh_node_patch_hospital (net->hub, "4d3c2b1a-0000-4000-8000-000000000000", patch,
                                          &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_put_beds (net->hub, "4d3c2b1a-0000-4000-8000-000000000000",
                                    "adult_icu", beds, &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
  g_clear_error (&error);
  g_assert_null (mh_node_get_hospital (net->hub, "4d3c2b1a-0000-4000-8000-000000000000", &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
  g_clear_error (&error);

  list = mh_node_list_hospitals (net->hub, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (list), ==, 5);
}

/* A request touching several rows is applied whole or not at all. */
static void
test_one_transaction (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) bad_beds = test_object (
    "{\"name\": \"Half\", \"lat\": 51.5, \"lon\": -0.1, \"ems_traffic\": \"normal\","
    " \"beds\": {\"adult_icu\": {\"available\": 2}, \"spaceship\": {\"available\": 1}}}");
  g_autoptr(JsonObject) bad_status = test_object (
    "{\"name\": \"Half\", \"lat\": 51.5, \"lon\": -0.1, \"facility\": \"flooded\"}");
  g_autoptr(JsonObject) bad_patch = test_object (
    "{\"name\": \"Renamed\", \"ems_traffic\": \"advisory\", \"ems_traffic_reason\": \"x\","
    " \"lat\": 1000}");
  g_autoptr(JsonObject) julia = NULL;
  g_autoptr(JsonArray) list = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *digest_before = NULL;
  g_autofree char *digest_after = NULL;
  char *id;

  {
    g_autoptr(JsonObject) digest = mh_node_get_digest (net->hub);
    g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), digest);
    digest_before = json_to_string (node, FALSE);
  }

  id = mh_node_create_hospital (net->hub, bad_beds, &error);
  g_assert_null (id);
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "beds.spaceship");
  g_clear_error (&error);
  id = mh_node_create_hospital (net->hub, bad_status, &error);
  g_assert_null (id);
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "facility");
  g_clear_error (&error);
  g_assert_false (mh_node_patch_hospital (net->hub, JULIA_CRUSHER, bad_patch, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "lat");
  g_clear_error (&error);

  list = mh_node_list_hospitals (net->hub, &error);
  g_assert_cmpuint (json_array_get_length (list), ==, 3);
  julia = mh_node_get_hospital (net->hub, JULIA_CRUSHER, &error);
  g_assert_cmpstr (test_string (julia, "name"), ==, "Julia Crusher");
  g_assert_cmpstr (test_string (julia, "ems_traffic"), ==, "normal");
  {
    g_autoptr(JsonObject) digest = mh_node_get_digest (net->hub);
    g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), digest);
    digest_after = json_to_string (node, FALSE);
  }
  g_assert_cmpstr (digest_before, ==, digest_after);
}

/* ------------------------------------------------------------------------ */
/* Transfers and committed_inbound                                          */

static char *
new_patient (MhNode *crew)
{
  g_autoptr(JsonObject) fields = test_object ("{\"age_estimate\": 64, \"triage\": \"immediate\","
                                              " \"alert\": \"stemi\", \"required_specialty\": 21,"
                                              " \"bed_category\": \"medical_surgical\"}");
  g_autoptr(GError) error = NULL;
  char *id = mh_node_create_patient (crew, fields, &error);

  g_assert_no_error (error);
  return id;
}

static char *
new_transfer (MhNode *crew, const char *hospital, gint64 eta)
{
  g_autofree char *patient = new_patient (crew);
  g_autoptr(JsonObject) fields = NULL;
  g_autoptr(GError) error = NULL;
  char *id;

  if (eta != 0)
    fields = test_objectf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\","
                           " \"priority\": \"immediate\", \"eta\": %" G_GINT64_FORMAT "}",
                           patient, hospital, eta);
  else
    fields = test_objectf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\"}", patient,
                           hospital);
  id = mh_node_create_transfer (crew, fields, &error);
  g_assert_no_error (error);
  return id;
}

static void
crew_ok (MhNode *crew, const char *id, const char *state)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_node_transfer_crew (crew, id, state, &error));
  g_assert_no_error (error);
}

static void
desk_ok (MhNode *desk, const char *id, const char *state, const char *reason)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_node_transfer_desk (desk, id, state, reason, &error));
  g_assert_no_error (error);
}

static void
accept (MhNode *desk, const char *id)
{
  desk_ok (desk, id, "acknowledged", NULL);
  desk_ok (desk, id, "accepted", NULL);
}

static gint64
committed (MhNode *node, const char *hospital, const char *category)
{
  g_autoptr(JsonObject) bed = test_bed (node, hospital, category);

  return json_object_get_int_member (bed, "committed_inbound");
}

static void
test_committed_lifecycle (Net *net, gconstpointer data)
{
  gint64 now = g_get_real_time () / 1000;
  g_autofree char *first = new_transfer (net->crew, FRED_BROOKS, now + 20 * MINUTE_MS);
  g_autofree char *second = new_transfer (net->crew, FRED_BROOKS, now + 20 * MINUTE_MS);
  g_autofree char *late = new_transfer (net->crew, FRED_BROOKS, now - 5 * MINUTE_MS);
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(GError) error = NULL;

  net_sync (net);
  g_assert_cmpint (test_free_beds (net->desk, FRED_BROOKS, "medical_surgical"), ==, 2);

  /* Accepting promises a bed at once, on the desk's own node... */
  accept (net->desk, first);
  g_assert_cmpint (committed (net->desk, FRED_BROOKS, "medical_surgical"), ==, 1);
  g_assert_cmpint (test_free_beds (net->desk, FRED_BROOKS, "medical_surgical"), ==, 1);
  /* ... and everywhere once the change has travelled: a crew that cannot
   * see the transfer still sees the bed taken. */
  g_assert_cmpint (test_free_beds (net->hub, FRED_BROOKS, "medical_surgical"), ==, 2);
  net_sync (net);
  g_assert_cmpint (test_free_beds (net->hub, FRED_BROOKS, "medical_surgical"), ==, 1);
  g_assert_cmpint (test_free_beds (net->crew, FRED_BROOKS, "medical_surgical"), ==, 1);

  accept (net->desk, second);
  g_assert_cmpint (test_free_beds (net->desk, FRED_BROOKS, "medical_surgical"), ==, 0);

  /* Arrival and cancellation give the beds back. */
  crew_ok (net->crew, first, "en_route");
  net_sync (net);
  g_assert_cmpint (committed (net->desk, FRED_BROOKS, "medical_surgical"), ==, 2);
  crew_ok (net->crew, first, "arrived");
  net_sync (net);
  g_assert_cmpint (committed (net->desk, FRED_BROOKS, "medical_surgical"), ==, 1);
  crew_ok (net->crew, second, "cancelled");
  net_sync (net);
  g_assert_cmpint (committed (net->desk, FRED_BROOKS, "medical_surgical"), ==, 0);
  g_assert_cmpint (test_free_beds (net->hub, FRED_BROOKS, "medical_surgical"), ==, 2);

  /* ETA 5 minutes ago: within the default grace of 60 minutes, it counts;
   * with a grace of 1 minute, it has expired, and is flagged. */
  accept (net->desk, late);
  g_assert_cmpint (committed (net->desk, FRED_BROOKS, "medical_surgical"), ==, 1);
  transfer = mh_node_get_transfer (net->desk, late, &error);
  g_assert_no_error (error);
  g_assert_false (json_object_get_boolean_member (transfer, "expired"));
  g_clear_pointer (&transfer, json_object_unref);

  mh_node_set_grace_minutes (net->desk, 1);
  g_assert_cmpuint (mh_node_get_grace_minutes (net->desk), ==, 1);
  g_assert_cmpint (committed (net->desk, FRED_BROOKS, "medical_surgical"), ==, 0);
  transfer = mh_node_get_transfer (net->desk, late, &error);
  g_assert_true (json_object_get_boolean_member (transfer, "expired"));
  g_clear_pointer (&transfer, json_object_unref);

  /* Time passing does it too (the node re-checks every 30 s). */
  mh_node_set_grace_minutes (net->desk, 60);
  g_assert_cmpint (committed (net->desk, FRED_BROOKS, "medical_surgical"), ==, 1);
  mh_node_set_time_offset (net->desk, 56 * MINUTE_MS);
  g_assert_true (mh_node_refresh_committed (net->desk, &error));
  g_assert_no_error (error);
  g_assert_cmpint (committed (net->desk, FRED_BROOKS, "medical_surgical"), ==, 0);
  mh_node_set_time_offset (net->desk, 0);

  /* Nothing is written when nothing changed: refreshing leaves the log. */
  {
    gint64 seq = mh_store_get_last_seq (mh_node_get_store (net->desk));
    g_assert_true (mh_node_refresh_committed (net->desk, &error));
    g_assert_cmpint (mh_store_get_last_seq (mh_node_get_store (net->desk)), ==, seq);
  }

  /* Only the hospital's own node counts: a hub does not. */
  g_assert_true (mh_node_refresh_committed (net->hub, &error));
  g_assert_no_error (error);
}

static void
expect_conflict_crew (MhNode *crew, const char *id, const char *state)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (mh_node_transfer_crew (crew, id, state, &error));
  test_assert_node_error (error, MH_NODE_ERROR_CONFLICT, NULL);
}

static void
expect_conflict_desk (MhNode *desk, const char *id, const char *state, const char *reason)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (mh_node_transfer_desk (desk, id, state, reason, &error));
  test_assert_node_error (error, MH_NODE_ERROR_CONFLICT, NULL);
}

static const char *
shown (MhNode *node, const char *id)
{
  static char state[64];
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) transfer = mh_node_get_transfer (node, id, &error);

  g_assert_no_error (error);
  g_strlcpy (state, test_string (transfer, "state"), sizeof state);
  return state;
}

static void
test_transfer_transitions (Net *net, gconstpointer data)
{
  g_autofree char *a = new_transfer (net->crew, FRED_BROOKS, 0);
  g_autofree char *b = new_transfer (net->crew, FRED_BROOKS, 0);
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(GError) error = NULL;

  transfer = mh_node_get_transfer (net->crew, a, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (transfer, "crew_state"), ==, "announced");
  g_assert_cmpstr (test_string (transfer, "desk_state"), ==, "pending");
  g_assert_cmpstr (test_string (transfer, "state"), ==, "announced");
  g_assert_cmpstr (test_string (transfer, "unit_id"), ==, UNIT_AMB01);
  /* Defaults from the patient's needs. */
  g_assert_cmpstr (test_string (transfer, "bed_category"), ==, "medical_surgical");
  g_assert_cmpint (json_object_get_int_member (transfer, "specialty"), ==, CARDIOLOGY);
  g_assert_cmpstr (test_string (transfer, "priority"), ==, "urgent");

  /* The crew: announced -> en_route -> arrived; never back. */
  expect_conflict_crew (net->crew, a, "arrived");
  crew_ok (net->crew, a, "en_route");
  expect_conflict_crew (net->crew, a, "en_route");
  g_assert_false (mh_node_transfer_crew (net->crew, a, "announced", &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "state");
  g_clear_error (&error);
  net_sync (net);
  g_assert_cmpstr (shown (net->desk, a), ==, "en_route_unanswered");

  /* The desk: pending -> acknowledged -> accepted -> diverted (with a reason). */
  expect_conflict_desk (net->desk, a, "accepted", NULL);
  desk_ok (net->desk, a, "acknowledged", NULL);
  expect_conflict_desk (net->desk, a, "acknowledged", NULL);
  desk_ok (net->desk, a, "accepted", NULL);
  g_assert_cmpstr (shown (net->desk, a), ==, "accepted_en_route");
  g_assert_false (mh_node_transfer_desk (net->desk, a, "diverted", NULL, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "reason");
  g_clear_error (&error);
  desk_ok (net->desk, a, "diverted", "CT scanner down");
  expect_conflict_desk (net->desk, a, "accepted", NULL);
  expect_conflict_desk (net->desk, a, "diverted", "again");
  g_assert_cmpstr (shown (net->desk, a), ==, "diverted");
  net_sync (net);
  g_clear_pointer (&transfer, json_object_unref);
  transfer = mh_node_get_transfer (net->crew, a, &error);
  g_assert_cmpstr (test_string (transfer, "desk_reason"), ==, "CT scanner down");
  g_assert_cmpstr (test_string (transfer, "state"), ==, "diverted");

  /* Cancelled is final, for both sides. */
  crew_ok (net->crew, a, "cancelled");
  expect_conflict_crew (net->crew, a, "cancelled");
  expect_conflict_crew (net->crew, a, "en_route");
  expect_conflict_crew (net->crew, a, "arrived");
  net_sync (net);
  g_assert_cmpstr (shown (net->hub, a), ==, "cancelled");

  /* Arrived is final too; the desk has nothing left to answer. */
  crew_ok (net->crew, b, "en_route");
  crew_ok (net->crew, b, "arrived");
  net_sync (net);
  expect_conflict_desk (net->desk, b, "acknowledged", NULL);
  expect_conflict_crew (net->crew, b, "cancelled");
  g_assert_cmpstr (shown (net->desk, b), ==, "arrived");

  /* Unknown transfers, and states no side can move to. */
  g_assert_false (mh_node_transfer_crew (net->crew, "0e0e0e0e-0000-4000-8000-000000000000",
                                         "en_route", &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_transfer_desk (net->desk, b, "flying", NULL, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "state");
  g_clear_error (&error);

  /* A transfer names a patient and a hospital that are known here. */
  {
    g_autoptr(JsonObject) fields = test_objectf ("{\"patient_id\": \"%s\", \"hospital_id\":"
                                                 " \"4d3c2b1a-0000-4000-8000-000000000000\"}",
                                                 "0e0e0e0e-0000-4000-8000-000000000001");
    g_autofree char *id = mh_node_create_transfer (net->crew, fields, &error);
    g_assert_null (id);
    test_assert_node_error (error, MH_NODE_ERROR_INVALID, "patient_id");
  }
}

/* ------------------------------------------------------------------------ */
/* Digests per audience                                                     */

/* The node's patients:HOSPITAL digest, "" when it does not list it. */
static char *
hospital_digest (MhNode *node, const char *hospital, gboolean asked)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) digest = mh_node_get_digest_for (node, asked ? hospital : NULL, &error);
  g_autofree char *name = g_strconcat ("patients:", hospital, NULL);
  JsonObject *buckets;

  g_assert_no_error (error);
  buckets = json_object_get_object_member (digest, "buckets");
  g_assert_false (json_object_has_member (buckets, "patients"));
  g_assert_true (json_object_has_member (json_object_get_object_member (digest, "held"),
                                         "patients"));
  return g_strdup (json_object_get_string_member_with_default (buckets, name, ""));
}

static void
assert_hospital_digests (Net *net, const char *hospital, MhNode *crew, guint64 count)
{
  g_autofree char *hub = hospital_digest (net->hub, hospital, TRUE);
  g_autofree char *crews = hospital_digest (crew, hospital, TRUE);
  g_autofree char *listed = hospital_digest (net->hub, hospital, FALSE);

  g_assert_cmpuint (g_ascii_strtoull (hub, NULL, 10), ==, count);
  g_assert_cmpstr (hub, ==, crews);
  if (strcmp (hospital, FRED_BROOKS) == 0)
    {
      g_autofree char *desk = hospital_digest (net->desk, hospital, TRUE);
      g_assert_cmpstr (hub, ==, desk);
    }
  /* Listed without asking only while it has open transfers. */
  g_assert_cmpstr (listed, ==, count > 0 ? hub : "");
}

/* patients:HOSPITAL holds open transfers and what hangs under them; a
 * cancelled or arrived one drops out, and a diverted patient moves to the
 * new hospital's bucket once the crew cancels the first transfer. */
static void
test_digest_per_hospital (Net *net, gconstpointer data)
{
  g_autofree char *transfer = new_transfer (net->crew, FRED_BROOKS, 0);
  g_autofree char *other = new_transfer (net->crew, FRED_BROOKS, 0);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *diverted = NULL;
  g_autofree char *message = NULL;
  g_autofree char *observation = NULL;
  g_autoptr(JsonObject) record = NULL;
  g_autoptr(JsonObject) fields = NULL;
  g_autoptr(JsonObject) vitals = test_object ("{\"hr\": 120}");
  g_autoptr(GError) error = NULL;
  const char *patient;

  record = mh_node_get_transfer (net->crew, transfer, &error);
  g_assert_no_error (error);
  patient = test_string (record, "patient_id");
  net_sync (net);
  before = hospital_digest (net->hub, FRED_BROOKS, TRUE);
  /* Two transfers and their patients: the hub, the desk and the crew
   * agree. */
  g_assert_cmpuint (g_ascii_strtoull (before, NULL, 10), >, 0);
  assert_hospital_digests (net, FRED_BROOKS, net->crew, g_ascii_strtoull (before, NULL, 10));
  /* Nothing for Julia Crusher: empty when asked, absent otherwise. */
  assert_hospital_digests (net, JULIA_CRUSHER, net->crew, 0);
  {
    g_autofree char *empty = hospital_digest (net->desk, JULIA_CRUSHER, TRUE);
    g_assert_cmpstr (empty, ==, "0:00000000000000000000000000000000");
  }

  /* An observation and the transfer's chat count, and stay in step. */
  observation = mh_node_add_observation (net->crew, patient, vitals, &error);
  g_assert_no_error (error);
  {
    g_autofree char *channel = g_strconcat ("transfer:", transfer, NULL);
    message = mh_node_post_message (net->desk, channel, "bay 3", &error);
    g_assert_no_error (error);
  }
  net_sync (net);
  after = hospital_digest (net->hub, FRED_BROOKS, TRUE);
  g_assert_cmpstr (after, !=, before);
  assert_hospital_digests (net, FRED_BROOKS, net->crew, g_ascii_strtoull (after, NULL, 10));

  /* Arrived: the other transfer and its patient drop out. */
  crew_ok (net->crew, other, "en_route");
  crew_ok (net->crew, other, "arrived");
  net_sync (net);
  g_free (before);
  before = g_steal_pointer (&after);
  after = hospital_digest (net->hub, FRED_BROOKS, TRUE);
  g_assert_cmpuint (g_ascii_strtoull (after, NULL, 10), <, g_ascii_strtoull (before, NULL, 10));
  assert_hospital_digests (net, FRED_BROOKS, net->crew, g_ascii_strtoull (after, NULL, 10));

  /* Diversion: a transfer to Julia Crusher, then the first cancelled. */
  fields = test_objectf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\"}", patient,
                         JULIA_CRUSHER);
  diverted = mh_node_create_transfer (net->crew, fields, &error);
  g_assert_no_error (error);
  net_sync (net);
  g_free (before);
  before = hospital_digest (net->hub, JULIA_CRUSHER, TRUE);
  /* Until the crew cancels, the patient counts for both hospitals, and
   * the first one's bucket does not move. */
  g_assert_cmpuint (g_ascii_strtoull (before, NULL, 10), >, 0);
  {
    g_autofree char *fred = hospital_digest (net->hub, FRED_BROOKS, TRUE);
    g_assert_cmpstr (fred, ==, after);
  }
  assert_hospital_digests (net, FRED_BROOKS, net->crew, g_ascii_strtoull (after, NULL, 10));
  assert_hospital_digests (net, JULIA_CRUSHER, net->crew, g_ascii_strtoull (before, NULL, 10));
  crew_ok (net->crew, transfer, "cancelled");
  net_sync (net);
  assert_hospital_digests (net, FRED_BROOKS, net->crew, 0);
  g_free (after);
  after = hospital_digest (net->hub, JULIA_CRUSHER, TRUE);
  g_assert_cmpstr (after, ==, before);
  /* The patient, its record and the observation; not the first transfer,
   * its receipts or its chat. */
  assert_hospital_digests (net, JULIA_CRUSHER, net->crew, g_ascii_strtoull (after, NULL, 10));
  {
    g_autofree char *desk = hospital_digest (net->desk, FRED_BROOKS, FALSE);
    g_assert_cmpstr (desk, ==, "");
  }

  /* An unknown hospital is not found. */
  g_assert_null (mh_node_get_digest_for (net->hub, "4d3c2b1a-0000-4000-8000-000000000000",
                                         &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
}

static void
test_shown_state (void)
{
  static const char *const crew[] = { "announced", "en_route", "arrived", "cancelled" };
  static const char *const desk[] = { "pending", "acknowledged", "accepted", "diverted" };
  static const char *const expected[4][4] = {
    { "announced", "acknowledged", "accepted", "diverted" },
    { "en_route_unanswered", "acknowledged", "accepted_en_route", "diverted" },
    { "arrived", "arrived", "arrived", "arrived" },
    { "cancelled", "cancelled", "cancelled", "cancelled" },
  };

  for (guint i = 0; i < 4; i++)
    for (guint j = 0; j < 4; j++)
      g_assert_cmpstr (mh_transfer_shown_state (crew[i], desk[j]), ==, expected[i][j]);
  /* The desk's side is empty until it answers. */
  g_assert_cmpstr (mh_transfer_shown_state ("announced", NULL), ==, "announced");
  /* States from a newer schema. */
  g_assert_cmpstr (mh_transfer_shown_state ("handed_over", "pending"), ==, "unknown");
  g_assert_cmpstr (mh_transfer_shown_state ("announced", "redirected"), ==, "unknown");
  g_assert_cmpstr (mh_transfer_shown_state ("cancelled", "redirected"), ==, "cancelled");
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

static JsonObject *
find_message (MhNode *node, const char *channel, const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) list = mh_node_list_messages (node, channel, 0, 0, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *message = json_array_get_object_element (list, i);

      if (g_strcmp0 (test_string (message, "id"), id) == 0)
        return json_object_ref (message);
    }
  return NULL;
}

static void
test_messages (Net *net, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *first = mh_node_post_message (net->hub, "broadcast", "Major incident", &error);
  g_autofree char *offline = NULL;
  g_autofree char *second = NULL;
  g_autoptr(JsonObject) message = NULL;
  g_autoptr(JsonObject) late = NULL;
  g_autoptr(JsonArray) unread = NULL;
  g_autoptr(JsonArray) limited = NULL;
  g_autofree char *prefix = g_strdup_printf ("%s/", mh_node_get_site_id (net->hub));
  gint64 seen;

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (first, prefix));
  message = find_message (net->hub, "broadcast", first);
  g_assert_cmpstr (test_string (message, "body"), ==, "Major incident");
  g_assert_cmpstr (test_string (message, "author_site"), ==, mh_node_get_site_id (net->hub));
  g_assert_cmpstr (test_string (message, "author_name"), ==, "hub");
  g_assert_false (json_object_get_boolean_member (message, "retracted"));
  g_assert_cmpint (json_object_get_int_member (message, "sent"), >, 0);
  g_clear_pointer (&message, json_object_unref);

  /* Insert-only: a message is never rewritten. */
  g_assert_false (mh_store_update (mh_node_get_store (net->hub), "message", first,
                                   g_variant_new_parsed ("{'body': <'edited'>}"), &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_INSERT_ONLY);
  g_clear_error (&error);

  /* Unread goes by arrival here, not by the author's clock: a message
   * typed offline and delivered late is still new. */
  net_sync (net);
  offline = mh_node_post_message (net->crew, "hospital:" FRED_BROOKS, "ETA 10 min", &error);
  g_assert_no_error (error);
  g_usleep (2000);
  second = mh_node_post_message (net->hub, "hospital:" FRED_BROOKS, "2 beds freed", &error);
  g_assert_no_error (error);
  message = find_message (net->hub, "hospital:" FRED_BROOKS, second);
  seen = json_object_get_int_member (message, "arrived_at");
  net_sync (net);
  late = find_message (net->hub, "hospital:" FRED_BROOKS, offline);
  g_assert_nonnull (late);
  g_assert_cmpint (json_object_get_int_member (late, "sent"), <,
                   json_object_get_int_member (message, "sent"));
  g_assert_cmpint (json_object_get_int_member (late, "arrived_at"), >, seen);
  unread = mh_node_list_messages (net->hub, "hospital:" FRED_BROOKS, seen, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (unread), ==, 1);
  g_assert_cmpstr (test_string (json_array_get_object_element (unread, 0), "id"), ==, offline);
  limited = mh_node_list_messages (net->hub, NULL, 0, 2, &error);
  g_assert_cmpuint (json_array_get_length (limited), ==, 2);
  g_clear_pointer (&message, json_object_unref);

  /* The author retracts: the body goes everywhere, the fact stays. */
  g_assert_true (mh_node_retract_message (net->hub, first, &error));
  g_assert_no_error (error);
  message = find_message (net->hub, "broadcast", first);
  g_assert_true (json_object_get_boolean_member (message, "retracted"));
  g_assert_true (json_object_get_null_member (message, "body"));
  g_clear_pointer (&message, json_object_unref);
  message = find_message (net->crew, "broadcast", first);
  g_assert_cmpstr (test_string (message, "body"), ==, "Major incident");
  g_clear_pointer (&message, json_object_unref);
  net_sync (net);
  message = find_message (net->crew, "broadcast", first);
  g_assert_nonnull (message);
  g_assert_true (json_object_get_boolean_member (message, "retracted"));
  g_assert_true (json_object_get_null_member (message, "body"));
  g_assert_cmpstr (test_string (message, "author_name"), ==, "hub");
  g_assert_cmpint (mh_store_get_row_state (mh_node_get_store (net->crew), "message", first), ==,
                   MH_ROW_DELETED);

  g_assert_false (mh_node_retract_message (net->hub, first, &error));
  test_assert_node_error (error, MH_NODE_ERROR_CONFLICT, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_retract_message (net->hub, "nobody/nothing", &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
}

/* ------------------------------------------------------------------------ */
/* Patients and units                                                       */

static void
test_patients (Net *net, gconstpointer data)
{
  g_autofree char *patient = new_patient (net->crew);
  g_autoptr(JsonObject) record = NULL;
  g_autoptr(JsonArray) list = NULL;
  g_autoptr(GError) error = NULL;
  const int gcs[] = { 14, 12, 9 };
  JsonArray *observations;

  for (guint i = 0; i < G_N_ELEMENTS (gcs); i++)
    {
      g_autoptr(JsonObject) fields = test_objectf ("{\"gcs\": %d, \"hr\": %d, \"taken_at\": %u}",
                                                   gcs[i], 90 + (int) i, 1000 + i);
      g_autofree char *id = mh_node_add_observation (net->crew, patient, fields, &error);

      g_assert_no_error (error);
      g_assert_true (mh_medhead_uuid_is_valid (id));
    }
  {
    g_autoptr(JsonObject) fields = test_object ("{\"drug\": \"aspirin\", \"dose\": \"250 mg\"}");
    g_autofree char *id = mh_node_add_intervention (net->crew, patient, fields, &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr(JsonObject) fields = test_object ("{\"gcs\": 2}");
    g_autofree char *id = mh_node_add_observation (net->crew, patient, fields, &error);
    g_assert_null (id);
    test_assert_node_error (error, MH_NODE_ERROR_INVALID, "gcs");
    g_clear_error (&error);
  }
  {
    g_autoptr(JsonObject) fields = test_object ("{\"hr\": 80}");
    g_autofree char *id = mh_node_add_observation (net->crew,
                                                   "0e0e0e0e-0000-4000-8000-000000000000",
                                                   fields, &error);
    g_assert_null (id);
    test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
    g_clear_error (&error);
  }

  /* Every vital sign reaches the record; none overwrites another. */
  net_sync (net);
  record = mh_node_get_patient (net->hub, patient, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (record, "unit_id"), ==, UNIT_AMB01);
  g_assert_cmpstr (test_string (record, "alert"), ==, "stemi");
  observations = json_object_get_array_member (record, "observations");
  g_assert_cmpuint (json_array_get_length (observations), ==, 3);
  for (guint i = 0; i < G_N_ELEMENTS (gcs); i++)
    {
      JsonObject *observation = json_array_get_object_element (observations, i);

      g_assert_cmpint (json_object_get_int_member (observation, "gcs"), ==, gcs[i]);
      g_assert_cmpstr (test_string (observation, "patient_id"), ==, patient);
      g_assert_cmpstr (test_string (observation, "author_site"), ==,
                       mh_node_get_site_id (net->crew));
    }
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (record, "interventions")),
                    ==, 1);
  list = mh_node_list_patients (net->hub, &error);
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
}

static void
test_units (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) patch = test_object ("{\"status\": \"en_route\", \"lat\": 51.51,"
                                             " \"lon\": -0.12, \"accuracy_m\": 15}");
  g_autoptr(JsonObject) half = test_object ("{\"lat\": 51.6}");
  g_autoptr(JsonObject) created = test_object ("{\"call_sign\": \"MH-MICU-07\","
                                               " \"type\": \"micu\"}");
  g_autoptr(JsonObject) unit = NULL;
  g_autoptr(JsonArray) units = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  g_assert_true (mh_node_patch_unit (net->crew, UNIT_AMB01, patch, &error));
  g_assert_no_error (error);
  g_assert_false (mh_node_patch_unit (net->crew, UNIT_AMB01, half, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "lon");
  g_clear_error (&error);
  net_sync (net);
  unit = mh_node_get_unit (net->hub, UNIT_AMB01, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (unit, "call_sign"), ==, "MH-AMB-01");
  g_assert_cmpstr (test_string (unit, "status"), ==, "en_route");
  g_assert_cmpfloat (json_object_get_double_member (unit, "lat"), ==, 51.51);
  g_assert_cmpfloat (json_object_get_double_member (unit, "accuracy_m"), ==, 15);
  g_assert_cmpint (json_object_get_int_member (unit, "status_at"), >, 0);
  g_assert_cmpint (json_object_get_int_member (unit, "position_at"), >, 0);

  id = mh_node_create_unit (net->hub, created, &error);
  g_assert_no_error (error);
  units = mh_node_list_units (net->hub, &error);
  g_assert_cmpuint (json_array_get_length (units), ==, 2);
}

/* ------------------------------------------------------------------------ */
/* Import and export                                                        */

static char *
export_text (MhNode *node)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) document = mh_node_export (node, &error);

  g_assert_no_error (error);
  return json_to_string (document, TRUE);
}

static void
test_import_export (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-export");
  g_autoptr(MhNode) first = test_node_new (dir, "first", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(MhNode) second = test_node_new (dir, "second", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(JsonNode) source = test_load_json ("demo/region-idf.json");
  g_autoptr(JsonNode) exported = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text1 = NULL;
  g_autofree char *text2 = NULL;
  JsonArray *source_hospitals = json_object_get_array_member (json_node_get_object (source),
                                                              "hospitals");
  guint n_hospitals, n_units;

  g_assert_true (mh_node_import (first, source, &n_hospitals, &n_units, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_hospitals, ==, 54);
  g_assert_cmpuint (n_units, ==, 16);

  exported = mh_node_export (first, &error);
  g_assert_no_error (error);
  g_assert_true (mh_node_import (second, exported, &n_hospitals, &n_units, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_hospitals, ==, 54);
  g_assert_cmpuint (n_units, ==, 16);
  text1 = export_text (first);
  text2 = export_text (second);
  g_assert_cmpstr (text1, ==, text2);

  /* What the file said is what the replica holds. */
  for (guint i = 0; i < json_array_get_length (source_hospitals); i++)
    {
      JsonObject *expected = json_array_get_object_element (source_hospitals, i);
      g_autoptr(JsonObject) got = mh_node_get_hospital (second, test_string (expected, "id"),
                                                         &error);
      g_autoptr(JsonNode) a = NULL;
      g_autoptr(JsonNode) b = NULL;
      g_autoptr(GList) categories = NULL;
      JsonObject *beds = json_object_get_object_member (expected, "beds");

      g_assert_no_error (error);
      g_assert_cmpstr (test_string (got, "name"), ==, test_string (expected, "name"));
      g_assert_cmpfloat (json_object_get_double_member (got, "lat"), ==,
                         json_object_get_double_member (expected, "lat"));
      a = json_node_init_array (json_node_alloc (),
                                json_object_get_array_member (expected, "specialties"));
      b = json_node_init_array (json_node_alloc (),
                                json_object_get_array_member (got, "specialties"));
      g_assert_true (json_node_equal (a, b));
      categories = json_object_get_members (beds);
      for (GList *l = categories; l != NULL; l = l->next)
        {
          JsonObject *bed = json_object_get_object_member (
            json_object_get_object_member (got, "beds"), l->data);

          g_assert_nonnull (bed);
          g_assert_cmpint (json_object_get_int_member (bed, "available"), ==,
                           json_object_get_int_member (
                             json_object_get_object_member (beds, l->data), "available"));
        }
    }

  /* Importing again updates, never duplicates. */
  g_assert_true (mh_node_import (second, exported, NULL, NULL, &error));
  g_assert_no_error (error);
  {
    g_autoptr(JsonArray) list = mh_node_list_hospitals (second, &error);
    g_assert_cmpuint (json_array_get_length (list), ==, 54);
  }

  g_clear_object (&first);
  g_clear_object (&second);
  mh_test_rm_rf (dir);
}

static void
expect_import_fails (MhNode *node, JsonNode *document, MhNodeError code, const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) hospitals = NULL;
  g_autoptr(JsonArray) units = NULL;

  g_assert_false (mh_node_import (node, document, NULL, NULL, &error));
  g_assert_error (error, MH_NODE_ERROR, code);
  if (!g_str_has_prefix (error->message, message))
    g_error ("expected \"%s...\", got \"%s\"", message, error->message);
  /* Nothing at all was imported. */
  hospitals = mh_node_list_hospitals (node, NULL);
  units = mh_node_list_units (node, NULL);
  g_assert_cmpuint (json_array_get_length (hospitals), ==, 0);
  g_assert_cmpuint (json_array_get_length (units), ==, 0);
}

/* The demo files say they are demo data; the region is at least 40 named
 * hospitals of Ile-de-France, each with its specialties and beds. */
static void
test_demo_data (void)
{
  const char *files[] = { "demo/region-idf.json", "demo/reference-scenario.json" };

  for (guint f = 0; f < G_N_ELEMENTS (files); f++)
    {
      g_autoptr(JsonNode) document = test_load_json (files[f]);
      JsonObject *root = json_node_get_object (document);
      JsonArray *hospitals = json_object_get_array_member (root, "hospitals");

      g_assert_true (json_object_get_boolean_member (root, "demo"));
      g_assert_nonnull (strstr (json_object_get_string_member (root, "notice"), "DEMO DATA"));
      if (f > 0)
        continue;
      g_assert_cmpuint (json_array_get_length (hospitals), >=, 40);
      for (guint i = 0; i < json_array_get_length (hospitals); i++)
        {
          JsonObject *h = json_array_get_object_element (hospitals, i);
          double lat = json_object_get_double_member (h, "lat");
          double lon = json_object_get_double_member (h, "lon");

          g_assert_cmpuint (strlen (json_object_get_string_member (h, "name")), >, 5);
          /* Ile-de-France lies within 48.1..49.3 N, 1.4..3.6 E. */
          g_assert_cmpfloat (lat, >, 48.1);
          g_assert_cmpfloat (lat, <, 49.3);
          g_assert_cmpfloat (lon, >, 1.4);
          g_assert_cmpfloat (lon, <, 3.6);
          g_assert_cmpuint (json_array_get_length (json_object_get_array_member (h, "specialties")),
                            >, 0);
          g_assert_cmpuint (json_object_get_size (json_object_get_object_member (h, "beds")), >, 0);
        }
    }
}

static void
test_import_refused (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-import");
  g_autoptr(MhNode) hub = test_node_new (dir, "hub", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(MhNode) desk = test_node_new (dir, "desk", MH_ROLE_HOSPITAL, FRED_BROOKS, NULL);
  g_autoptr(MhNode) crew = test_node_new (dir, "crew", MH_ROLE_AMBULANCE, NULL, UNIT_AMB01);
  g_autoptr(JsonNode) document = test_load_json ("demo/region-idf.json");
  g_autoptr(JsonNode) scenario = test_load_json ("demo/reference-scenario.json");
  JsonObject *root = json_node_get_object (document);
  JsonArray *hospitals = json_object_get_array_member (root, "hospitals");
  JsonObject *fourth = json_array_get_object_element (hospitals, 3);
  g_autoptr(GError) error = NULL;

  json_object_set_double_member (fourth, "lat", 95);
  expect_import_fails (hub, document, MH_NODE_ERROR_INVALID,
                       "hospitals[3].lat: must be between -90 and 90");
  json_object_set_double_member (fourth, "lat", 48.8);
  json_object_set_int_member (json_object_get_object_member (
                                json_object_get_object_member (fourth, "beds"),
                                "medical_surgical"),
                              "available", -2);
  expect_import_fails (hub, document, MH_NODE_ERROR_INVALID,
                       "hospitals[3].beds.medical_surgical.available: ");
  json_object_remove_member (fourth, "beds");
  json_object_set_string_member (json_array_get_object_element (
                                   json_object_get_array_member (root, "units"), 2),
                                 "type", "bicycle");
  expect_import_fails (hub, document, MH_NODE_ERROR_INVALID, "units[2].type: ");
  json_object_set_string_member (root, "format", "something-else/2");
  expect_import_fails (hub, document, MH_NODE_ERROR_INVALID, "format: ");

  /* A desk imports its own hospital only, a crew its own unit only. */
  expect_import_fails (desk, scenario, MH_NODE_ERROR_FORBIDDEN, "hospitals[1]: ");
  expect_import_fails (crew, scenario, MH_NODE_ERROR_FORBIDDEN, "hospitals[0]: ");
  {
    g_autoptr(JsonObject) own = test_objectf (
      "{\"format\": \"medhead-registry/1\", \"units\": [{\"id\": \"%s\","
      " \"call_sign\": \"MH-AMB-01\", \"type\": \"bls\", \"lat\": 51.5, \"lon\": -0.12}]}",
      UNIT_AMB01);
    g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), own);
    guint n_units = 0;

    g_assert_true (mh_node_import (crew, node, NULL, &n_units, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (n_units, ==, 1);
  }

  g_clear_object (&hub);
  g_clear_object (&desk);
  g_clear_object (&crew);
  mh_test_rm_rf (dir);
}

/* ------------------------------------------------------------------------ */
/* History                                                                  */

static void
test_history (Net *net, gconstpointer data)
{
  g_autoptr(MhNode) other = test_node_new (net->dir, "other-hub", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(JsonObject) three = test_object ("{\"available\": 3, \"baseline\": 4}");
  g_autoptr(JsonObject) five = test_object ("{\"available\": 5, \"baseline\": 4}");
  g_autoptr(JsonArray) history = NULL;
  g_autoptr(GError) error = NULL;
  MhNode *nodes[] = { net->hub, other };
  gboolean found = FALSE;

  test_sync_all (nodes, 2);
  /* Two dispatchers type in Julia Crusher's count at once: the later wins,
   * the other is kept in history on both nodes. */
  g_assert_true (mh_node_put_beds (net->hub, JULIA_CRUSHER, "medical_surgical", three, &error));
  g_usleep (2000);
  g_assert_true (mh_node_put_beds (other, JULIA_CRUSHER, "medical_surgical", five, &error));
  g_assert_no_error (error);
  test_sync_all (nodes, 2);
  g_assert_cmpint (test_free_beds (net->hub, JULIA_CRUSHER, "medical_surgical"), ==, 5);
  g_assert_cmpint (test_free_beds (other, JULIA_CRUSHER, "medical_surgical"), ==, 5);

  history = mh_node_get_history (net->hub, "beds", JULIA_CRUSHER "/medical_surgical", &error);
  g_assert_no_error (error);
  for (guint i = 0; i < json_array_get_length (history); i++)
    {
      JsonObject *entry = json_array_get_object_element (history, i);
      JsonArray *value = json_object_get_array_member (entry, "value");

      g_assert_cmpstr (test_string (entry, "register"), ==, "reported");
      g_assert_cmpint (json_object_get_int_member (entry, "hlc"), >, 0);
      g_assert_nonnull (test_string (entry, "origin"));
      if (json_array_get_int_element (value, 0) == 3)
        {
          found = TRUE;
          g_assert_cmpstr (test_string (entry, "origin"), ==, mh_node_get_site_id (net->hub));
        }
    }
  g_assert_true (found);

  g_clear_pointer (&history, json_array_unref);
  history = mh_node_get_history (net->hub, "no_such_table", "x", &error);
  g_assert_null (history);
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "table");
}

/* Rejected changes are shown without their values: they may be patient data. */
static void
test_status_hides_values (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) status = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  const char *patient = "9e0e0e0e-0000-4000-8000-0000000000bb";
  JsonArray *rejected;

  test_go_rogue (net->desk);
  g_assert_true (mh_store_upsert (mh_node_get_store (net->desk), "patient", patient,
                                  g_variant_new_parsed ("{'complaint': <'secret chest pain'>}"),
                                  &error));
  test_send (net->desk, net->hub, NULL);
  status = mh_node_get_status (net->hub);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (status, "counts"),
                                               "rejected"),
                   >=, 1);
  rejected = json_object_get_array_member (status, "rejected");
  g_assert_cmpuint (json_array_get_length (rejected), >=, 1);
  for (guint i = 0; i < json_array_get_length (rejected); i++)
    g_assert_cmpuint (json_object_get_size (json_array_get_object_element (rejected, i)), ==, 3);
  node = json_node_init_object (json_node_alloc (), status);
  text = json_to_string (node, FALSE);
  g_assert_null (strstr (text, "secret"));
}

/* The announcement is one transaction: a bad vital sign leaves no patient
 * and no transfer behind. */
static void
test_announce (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) patient = test_object ("{\"age_estimate\": 70, \"triage\": \"immediate\","
                                               " \"alert\": \"stroke\", \"bed_category\": \"medical_surgical\"}");
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(JsonArray) bad = json_array_new ();
  g_autoptr(JsonArray) good = json_array_new ();
  g_autoptr(JsonArray) patients = NULL;
  g_autoptr(JsonArray) transfers = NULL;
  g_autoptr(JsonObject) record = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *transfer_text = g_strdup_printf ("{\"hospital_id\": \"%s\"}", FRED_BROOKS);

  transfer = test_object (transfer_text);
  json_array_add_object_element (bad, test_object ("{\"gcs\": 2}"));
  id = mh_node_announce (net->crew, patient, bad, NULL, transfer, &error);
  g_assert_null (id);
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "gcs");
  g_clear_error (&error);
  patients = mh_node_list_patients (net->crew, &error);
  g_assert_cmpuint (json_array_get_length (patients), ==, 0);
  transfers = mh_node_list_transfers (net->crew, NULL, &error);
  g_assert_cmpuint (json_array_get_length (transfers), ==, 0);
  g_clear_pointer (&transfers, json_array_unref);

  json_array_add_object_element (good, test_object ("{\"gcs\": 14, \"hr\": 96}"));
  id = mh_node_announce (net->crew, patient, good, NULL, transfer, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  net_sync (net);
  transfers = mh_node_list_transfers (net->desk, FRED_BROOKS, &error);
  g_assert_cmpuint (json_array_get_length (transfers), ==, 1);
  record = mh_node_get_patient (net->desk,
                                test_string (json_array_get_object_element (transfers, 0),
                                             "patient_id"),
                                &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (record, "observations")),
                    ==, 1);
}

/* Receipts: the hub and the desk note a transfer's arrival by
 * themselves, the desk marks it seen, the crew learns all three; nobody
 * writes another site's receipt, and a crew writes none. */
static void
test_receipts (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) patient = test_object ("{\"bed_category\": \"medical_surgical\"}");
  g_autofree char *transfer_text = g_strdup_printf ("{\"hospital_id\": \"%s\"}", FRED_BROOKS);
  g_autoptr(JsonObject) transfer = test_object (transfer_text);
  g_autoptr(JsonArray) receipts = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = mh_node_announce (net->crew, patient, NULL, NULL, transfer, &error);
  g_autofree char *forged = NULL;
  gboolean hub = FALSE, desk = FALSE, seen = FALSE;

  g_assert_no_error (error);
  g_assert_false (mh_node_mark_transfer_seen (net->crew, id, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);

  net_sync (net);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_true (mh_node_mark_transfer_seen (net->desk, id, &error));
  g_assert_no_error (error);
  g_assert_true (mh_node_mark_transfer_seen (net->desk, id, &error));
  net_sync (net);
  receipts = mh_node_list_receipts (net->crew, id, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < json_array_get_length (receipts); i++)
    {
      JsonObject *r = json_array_get_object_element (receipts, i);

      if (g_strcmp0 (test_string (r, "role"), "hub") == 0)
        hub = TRUE;
      if (g_strcmp0 (test_string (r, "role"), "hospital") == 0)
        {
          desk = TRUE;
          seen = !json_object_get_null_member (r, "seen_at");
          g_assert_false (json_object_get_null_member (r, "received_at"));
        }
    }
  g_assert_true (hub && desk && seen);

  /* A receipt in another site's name is refused. */
  forged = g_strdup_printf ("%s/%s", mh_node_get_site_id (net->desk), id);
  g_assert_false (mh_store_upsert (mh_node_get_store (net->hub), "receipt", forged,
                                   g_variant_new_parsed ("{'transfer_id': <%s>, "
                                                         "'author_site': <%s>}",
                                                         id, mh_node_get_site_id (net->desk)),
                                   &error));
  g_assert_nonnull (error);
}

/* The list reads every hospital at once (beds and heartbeats in one query
 * each): each must read as it does alone. */
static void
assert_list_matches_get (MhNode *node)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) list = mh_node_list_hospitals (node, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (list), >, 0);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *listed = json_array_get_object_element (list, i);
      const char *id = json_object_get_string_member (listed, "id");
      g_autoptr(JsonObject) alone = mh_node_get_hospital (node, id, &error);
      g_autoptr(JsonNode) a = json_node_init_object (json_node_alloc (), listed);
      g_autoptr(JsonNode) b = json_node_init_object (json_node_alloc (), alone);

      g_assert_no_error (error);
      if (!json_node_equal (a, b))
        {
          g_autofree char *sa = json_to_string (a, FALSE);
          g_autofree char *sb = json_to_string (b, FALSE);

          g_error ("hospital %s listed as %s, alone %s", id, sa, sb);
        }
    }
}

/* A hospital's desk sends signed heartbeats; once the newest is older than
 * MH_NODE_HEARTBEAT_STALE_S, the hospital shows as stale, in its JSON and in
 * nearest-hospital results, even though its counts look fresh. A heartbeat
 * written by someone else for the desk is refused. */
static void
test_heartbeat (Net *net, gconstpointer data)
{
  g_autoptr(JsonObject) hospital = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) beds = test_object ("{\"available\": 4, \"baseline\": 9}");
  gint64 sent;

  hospital = mh_node_get_hospital (net->hub, FRED_BROOKS, &error);
  g_assert_no_error (error);
  g_assert_true (json_object_get_null_member (hospital, "last_heartbeat"));
  g_assert_false (json_object_get_boolean_member (hospital, "stale"));
  g_clear_pointer (&hospital, json_object_unref);
  assert_list_matches_get (net->hub);

  g_assert_true (mh_node_write_heartbeat (net->desk, &error));
  g_assert_no_error (error);
  g_assert_true (mh_node_put_beds (net->desk, FRED_BROOKS, "adult_icu", beds, &error));
  g_assert_no_error (error);
  sent = mh_node_now_ms (net->desk);
  net_sync (net);
  hospital = mh_node_get_hospital (net->hub, FRED_BROOKS, &error);
  g_assert_cmpint (json_object_get_int_member (hospital, "last_heartbeat"), <=, sent);
  g_assert_cmpint (json_object_get_int_member (hospital, "last_heartbeat"), >, sent - 60000);
  g_assert_false (json_object_get_boolean_member (hospital, "stale"));
  g_clear_pointer (&hospital, json_object_unref);
  assert_list_matches_get (net->hub);
  assert_list_matches_get (net->desk);

  /* Sixteen minutes on, the desk has not been heard from. */
  mh_node_set_time_offset (net->hub, 16 * MINUTE_MS);
  hospital = mh_node_get_hospital (net->hub, FRED_BROOKS, &error);
  g_assert_true (json_object_get_boolean_member (hospital, "stale"));
  g_clear_pointer (&hospital, json_object_unref);
  assert_list_matches_get (net->hub);
  {
    g_autoptr(JsonArray) nearest = NULL;
    gboolean found = FALSE;

    nearest = mh_node_nearest_hospitals (net->hub, 51.5074, -0.1278, 0, "adult_icu", 50, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < json_array_get_length (nearest); i++)
      {
        JsonObject *hit = json_array_get_object_element (nearest, i);

        if (g_strcmp0 (json_object_get_string_member (hit, "id"), FRED_BROOKS) == 0)
          {
            found = TRUE;
            g_assert_true (json_object_get_boolean_member (hit, "stale"));
            g_assert_false (json_object_get_null_member (hit, "last_heartbeat"));
          }
      }
    g_assert_true (found);
  }
  mh_node_set_time_offset (net->hub, 0);

  /* A hub cannot vouch for the desk: its heartbeat for it is refused. */
  {
    g_autofree char *values = g_strdup_printf ("{'heartbeat_at': <int64 %" G_GINT64_FORMAT ">}",
                                               mh_node_now_ms (net->hub));

    g_assert_false (mh_store_update (mh_node_get_store (net->hub), "site",
                                     mh_node_get_site_id (net->desk),
                                     g_variant_new_parsed (values), &error));
    g_assert_nonnull (error);
  }
}

/* ------------------------------------------------------------------------ */
/* Retention                                                                */

static JsonObject *
retention_entry (MhNode *node, const char *patient_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) list = mh_retention_list (node, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *entry = json_array_get_object_element (list, i);
      if (g_strcmp0 (json_object_get_string_member (entry, "patient_id"), patient_id) == 0)
        return json_object_ref (entry);
    }
  return NULL;
}

static gboolean
swept (MhNode *node, const char *patient_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) evicted = mh_retention_sweep (node, FALSE, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < json_array_get_length (evicted); i++)
    if (g_strcmp0 (json_array_get_string_element (evicted, i), patient_id) == 0)
      return TRUE;
  return FALSE;
}

/* Within a node: the time, the ended transfers and the hubs'
 * acknowledgements decide; the hub purges after the audit period. The
 * acknowledgements come from the replicator's "peer-acked" in a running
 * node; here the same function is given them. */
static void
test_retention (Net *net, gconstpointer data)
{
  g_autofree char *first = new_transfer (net->crew, FRED_BROOKS, 0);
  g_autofree char *open = new_transfer (net->crew, FRED_BROOKS, 0);
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(JsonObject) entry = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *patient = NULL;
  MhStore *crew = mh_node_get_store (net->crew);
  const gint64 day = 24 * 60 * MINUTE_MS;

  transfer = mh_node_get_transfer (net->crew, first, &error);
  g_assert_no_error (error);
  patient = g_strdup (json_object_get_string_member (transfer, "patient_id"));
  g_assert_cmpuint (mh_node_get_retention_hours (net->crew), ==, 24);
  g_assert_cmpuint (mh_node_get_audit_days (net->hub), ==, 3650);

  crew_ok (net->crew, first, "cancelled");
  net_sync (net);
  entry = retention_entry (net->crew, patient);
  g_assert_nonnull (entry);
  g_assert_false (json_object_get_boolean_member (entry, "delivered"));
  g_assert_cmpint (json_object_get_int_member (entry, "evict_at"), ==,
                   json_object_get_int_member (entry, "ended_at") + day);
  g_clear_pointer (&entry, json_object_unref);
  /* A patient whose transfer is still open is not listed. */
  {
    g_autoptr(JsonObject) open_transfer = mh_node_get_transfer (net->crew, open, &error);
    g_autoptr(JsonObject) open_entry =
      retention_entry (net->crew, json_object_get_string_member (open_transfer, "patient_id"));
    g_assert_null (open_entry);
  }

  /* A day and more later, but no hub has acknowledged anything: kept. */
  mh_node_set_time_offset (net->crew, day + MINUTE_MS);
  g_assert_false (swept (net->crew, patient));
  g_assert_cmpint (mh_store_get_row_state (crew, "patient", patient), ==, MH_ROW_LIVE);

  /* A peer that is not a hub acknowledging does not count; a hub does. */
  mh_retention_note_peer_acked (net->crew, mh_node_get_site_id (net->desk), MH_LANE_TRANSFERS,
                                mh_store_get_last_seq (crew));
  g_assert_false (swept (net->crew, patient));
  mh_retention_note_peer_acked (net->crew, mh_node_get_site_id (net->hub), MH_LANE_TRANSFERS,
                                mh_store_get_last_seq (crew));
  mh_node_set_time_offset (net->crew, day - MINUTE_MS);
  g_assert_false (swept (net->crew, patient)); /* not yet due */
  mh_node_set_time_offset (net->crew, day + MINUTE_MS);
  g_assert_true (swept (net->crew, patient));
  g_assert_cmpint (mh_store_get_row_state (crew, "patient", patient), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (crew, "transfer", first), ==, MH_ROW_ABSENT);
  g_assert_true (mh_store_is_evicted (crew, "transfer", first));
  g_assert_cmpint (mh_store_get_row_state (crew, "transfer", open), ==, MH_ROW_LIVE);

  /* The hub keeps it for the audit period, then purges it. */
  mh_node_set_time_offset (net->hub, day + MINUTE_MS);
  g_assert_false (swept (net->hub, patient));
  g_assert_cmpint (mh_store_get_row_state (mh_node_get_store (net->hub), "patient", patient), ==,
                   MH_ROW_LIVE);
  mh_node_set_retention (net->hub, 24, 2);
  mh_node_set_time_offset (net->hub, 2 * day + MINUTE_MS);
  g_assert_true (swept (net->hub, patient));
  g_assert_cmpint (mh_store_get_row_state (mh_node_get_store (net->hub), "patient", patient), ==,
                   MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (mh_node_get_store (net->desk), "patient", patient),
                   ==, MH_ROW_LIVE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) g_test_add ((path), Net, NULL, net_set_up, (func), net_tear_down)
  g_test_add_func ("/domain/init-and-open", test_init_and_open);
  ADD ("/domain/hospitals/crud", test_hospital_crud);
  ADD ("/domain/hospitals/one-transaction", test_one_transaction);
  ADD ("/domain/transfers/committed-inbound", test_committed_lifecycle);
  ADD ("/domain/transfers/transitions", test_transfer_transitions);
  g_test_add_func ("/domain/transfers/shown-state", test_shown_state);
  ADD ("/domain/digest/per-hospital", test_digest_per_hospital);
  ADD ("/domain/messages", test_messages);
  ADD ("/domain/patients", test_patients);
  ADD ("/domain/patients/announce", test_announce);
  ADD ("/domain/transfers/receipts", test_receipts);
  ADD ("/domain/units", test_units);
  g_test_add_func ("/domain/import-export/round-trip", test_import_export);
  g_test_add_func ("/domain/import-export/refused", test_import_refused);
  g_test_add_func ("/domain/demo-data", test_demo_data);
  ADD ("/domain/history", test_history);
  ADD ("/domain/status-hides-values", test_status_hides_values);
  ADD ("/domain/heartbeat", test_heartbeat);
  ADD ("/domain/retention", test_retention);
#undef ADD

  return g_test_run ();
}

/* test-nearest.c: the nearest hospitals that can take a patient
 *
 * The MedHead reference scenario as a test, the rules a hospital must pass
 * (specialty, a free bed, EMS traffic that takes ambulances), staleness,
 * and 200 random queries over 10,000 hospitals against a brute force.
 */
#include "config.h"

#include "nearest-gen.h"
#include "node-test-common.h"

typedef struct
{
  char *dir;
  MhNode *hub;
  double lat; /* the scenario's test point */
  double lon;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) scenario = test_load_json ("demo/reference-scenario.json");
  JsonObject *point = json_object_get_object_member (json_node_get_object (scenario),
                                                     "test_point");

  f->dir = mh_test_make_tmpdir ("mh-nearest");
  f->hub = test_node_new (f->dir, "hub", MH_ROLE_HUB, NULL, NULL);
  test_import (f->hub, "demo/reference-scenario.json");
  f->lat = json_object_get_double_member (point, "lat");
  f->lon = json_object_get_double_member (point, "lon");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->hub);
  mh_test_rm_rf (f->dir);
  g_free (f->dir);
}

static JsonArray *
nearest (MhNode *node, double lat, double lon, guint specialty, const char *category,
         guint limit)
{
  g_autoptr(GError) error = NULL;
  JsonArray *found = mh_node_nearest_hospitals (node, lat, lon, specialty, category, limit,
                                                &error);

  g_assert_no_error (error);
  g_assert_nonnull (found);
  return found;
}

static JsonObject *
first_of (JsonArray *found)
{
  g_assert_cmpuint (json_array_get_length (found), >=, 1);
  return json_array_get_object_element (found, 0);
}

static gboolean
contains (JsonArray *found, const char *id)
{
  for (guint i = 0; i < json_array_get_length (found); i++)
    if (g_strcmp0 (test_string (json_array_get_object_element (found, i), "id"), id) == 0)
      return TRUE;
  return FALSE;
}

static char *
announce (MhNode *crew)
{
  g_autoptr(JsonObject) patient = test_object ("{\"alert\": \"stemi\", \"required_specialty\": 21,"
                                               " \"bed_category\": \"medical_surgical\"}");
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *patient_id = mh_node_create_patient (crew, patient, &error);
  char *id;

  g_assert_no_error (error);
  transfer = test_objectf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\"}", patient_id,
                           FRED_BROOKS);
  id = mh_node_create_transfer (crew, transfer, &error);
  g_assert_no_error (error);
  return id;
}

static void
accept (MhNode *desk, const char *id)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_node_transfer_desk (desk, id, "acknowledged", NULL, &error));
  g_assert_true (mh_node_transfer_desk (desk, id, "accepted", NULL, &error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------------ */

static void
test_reference_scenario (Fixture *f, gconstpointer data)
{
  g_autoptr(MhNode) desk = test_node_new (f->dir, "fred-desk", MH_ROLE_HOSPITAL, FRED_BROOKS, NULL);
  g_autoptr(MhNode) crew = test_node_new (f->dir, "crew", MH_ROLE_AMBULANCE, NULL, UNIT_AMB01);
  g_autoptr(JsonArray) found = NULL;
  g_autofree char *first_transfer = NULL;
  g_autofree char *second_transfer = NULL;
  MhNode *nodes[] = { f->hub, desk, crew };
  JsonObject *hit;

  test_sync_all (nodes, 3);

  /* A cardiology patient near Fred Brooks goes to Fred Brooks. */
  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 5);
  hit = first_of (found);
  g_assert_cmpstr (test_string (hit, "id"), ==, FRED_BROOKS);
  g_assert_cmpstr (test_string (hit, "name"), ==, "Fred Brooks");
  g_assert_false (json_object_get_boolean_member (hit, "fallback"));
  g_assert_cmpint (json_object_get_int_member (hit, "free_beds"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (hit, "distance_m"), >, 500);
  g_assert_cmpint (json_object_get_int_member (hit, "distance_m"), <, 2000);
  g_assert_false (json_object_get_boolean_member (hit, "stale"));
  g_assert_cmpint (json_object_get_int_member (hit, "reported_at"), >, 0);
  g_assert_cmpstr (test_string (hit, "ems_traffic"), ==, "normal");
  g_assert_true (json_object_has_member (hit, "phone_switchboard"));
  g_assert_true (json_object_has_member (hit, "phone_emergency"));
  g_assert_cmpfloat (json_object_get_double_member (hit, "lat"), ==, 51.515);
  /* Julia Crusher has cardiology but no free bed: not an answer. */
  g_assert_false (contains (found, JULIA_CRUSHER));
  g_assert_cmpuint (json_array_get_length (found), ==, 1);
  g_clear_pointer (&found, json_array_unref);

  /* The same answer on the crew's own node. */
  found = nearest (crew, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 5);
  g_assert_cmpstr (test_string (first_of (found), "id"), ==, FRED_BROOKS);
  g_clear_pointer (&found, json_array_unref);

  /* One bed promised: Fred Brooks still has one. */
  first_transfer = announce (crew);
  test_sync_all (nodes, 3);
  accept (desk, first_transfer);
  test_sync_all (nodes, 3);
  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 5);
  hit = first_of (found);
  g_assert_cmpstr (test_string (hit, "id"), ==, FRED_BROOKS);
  g_assert_cmpint (json_object_get_int_member (hit, "free_beds"), ==, 1);
  g_clear_pointer (&found, json_array_unref);

  /* Both taken by accepted transfers: no cardiology bed is left anywhere,
   * so the answer is the nearest hospital with any free bed, flagged. */
  second_transfer = announce (crew);
  test_sync_all (nodes, 3);
  accept (desk, second_transfer);
  test_sync_all (nodes, 3);
  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 5);
  hit = first_of (found);
  g_assert_true (json_object_get_boolean_member (hit, "fallback"));
  g_assert_cmpstr (test_string (hit, "id"), ==, BEVERLY_BASHIR);
  g_assert_cmpint (json_object_get_int_member (hit, "free_beds"), ==, 5);
  g_assert_cmpuint (json_array_get_length (found), ==, 1);
  g_clear_pointer (&found, json_array_unref);
  found = nearest (crew, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 5);
  g_assert_cmpstr (test_string (first_of (found), "id"), ==, BEVERLY_BASHIR);
  g_clear_pointer (&found, json_array_unref);

  /* One transfer is cancelled: its bed is free again. */
  {
    g_autoptr(GError) error = NULL;
    g_assert_true (mh_node_transfer_crew (crew, first_transfer, "en_route", &error));
    g_assert_true (mh_node_transfer_crew (crew, first_transfer, "cancelled", &error));
    g_assert_no_error (error);
  }
  test_sync_all (nodes, 3);
  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 5);
  hit = first_of (found);
  g_assert_cmpstr (test_string (hit, "id"), ==, FRED_BROOKS);
  g_assert_false (json_object_get_boolean_member (hit, "fallback"));
}

static void
test_ordering_and_limit (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonArray) any = nearest (f->hub, f->lat, f->lon, 0, NULL, 0);
  g_autoptr(JsonArray) one = nearest (f->hub, f->lat, f->lon, 0, NULL, 1);
  g_autoptr(JsonArray) immunology = nearest (f->hub, f->lat, f->lon, IMMUNOLOGY,
                                             "medical_surgical", 10);
  g_autoptr(GError) error = NULL;
  gint64 previous = 0;

  /* Any free bed: Fred Brooks and Beverly Bashir, nearest first. */
  g_assert_cmpuint (json_array_get_length (any), ==, 2);
  for (guint i = 0; i < json_array_get_length (any); i++)
    {
      JsonObject *hit = json_array_get_object_element (any, i);

      g_assert_cmpint (json_object_get_int_member (hit, "distance_m"), >=, previous);
      g_assert_false (json_object_get_boolean_member (hit, "fallback"));
      previous = json_object_get_int_member (hit, "distance_m");
    }
  g_assert_cmpuint (json_array_get_length (one), ==, 1);
  g_assert_cmpstr (test_string (first_of (one), "id"), ==, FRED_BROOKS);
  g_assert_cmpuint (json_array_get_length (immunology), ==, 2);
  g_assert_cmpstr (test_string (json_array_get_object_element (immunology, 1), "id"), ==,
                   BEVERLY_BASHIR);

  g_assert_null (mh_node_nearest_hospitals (f->hub, 91, 0, 0, NULL, 1, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "lat");
  g_clear_error (&error);
  g_assert_null (mh_node_nearest_hospitals (f->hub, 0, NAN, 0, NULL, 1, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "lon");
  g_clear_error (&error);
  g_assert_null (mh_node_nearest_hospitals (f->hub, 0, 0, 81, NULL, 1, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "specialty");
  g_clear_error (&error);
  g_assert_null (mh_node_nearest_hospitals (f->hub, 0, 0, 0, "spaceship", 1, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "bed");
}

static void
test_closed (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonObject) closed = test_object ("{\"ems_traffic\": \"closed\","
                                              " \"ems_traffic_reason\": \"flooding\"}");
  g_autoptr(JsonObject) advisory = test_object ("{\"ems_traffic\": \"advisory\","
                                                " \"ems_traffic_reason\": \"CT down\"}");
  g_autoptr(JsonArray) found = NULL;
  g_autoptr(GError) error = NULL;

  /* Closed to ambulances: never an answer, not even a fallback. */
  g_assert_true (mh_node_patch_hospital (f->hub, FRED_BROOKS, closed, &error));
  g_assert_no_error (error);
  found = nearest (f->hub, f->lat, f->lon, IMMUNOLOGY, "medical_surgical", 5);
  g_assert_cmpstr (test_string (first_of (found), "id"), ==, BEVERLY_BASHIR);
  g_assert_false (json_object_get_boolean_member (first_of (found), "fallback"));
  g_assert_false (contains (found, FRED_BROOKS));
  g_clear_pointer (&found, json_array_unref);
  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 5);
  g_assert_true (json_object_get_boolean_member (first_of (found), "fallback"));
  g_assert_false (contains (found, FRED_BROOKS));
  g_clear_pointer (&found, json_array_unref);

  /* An advisory still takes ambulances. */
  g_assert_true (mh_node_patch_hospital (f->hub, FRED_BROOKS, advisory, &error));
  g_assert_no_error (error);
  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 5);
  g_assert_cmpstr (test_string (first_of (found), "id"), ==, FRED_BROOKS);
  g_assert_cmpstr (test_string (first_of (found), "ems_traffic"), ==, "advisory");
}

static void
test_stale (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonObject) interval = test_object ("{\"report_interval_min\": 120}");
  g_autoptr(JsonArray) found = NULL;
  g_autoptr(GError) error = NULL;

  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 1);
  g_assert_false (json_object_get_boolean_member (first_of (found), "stale"));
  g_clear_pointer (&found, json_array_unref);

  /* An hour and a minute later, with the default interval of an hour. */
  mh_node_set_time_offset (f->hub, 61 * MINUTE_MS);
  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 1);
  g_assert_true (json_object_get_boolean_member (first_of (found), "stale"));
  g_clear_pointer (&found, json_array_unref);

  /* A hospital that reports every two hours is not stale yet. */
  g_assert_true (mh_node_patch_hospital (f->hub, FRED_BROOKS, interval, &error));
  g_assert_no_error (error);
  found = nearest (f->hub, f->lat, f->lon, CARDIOLOGY, "medical_surgical", 1);
  g_assert_false (json_object_get_boolean_member (first_of (found), "stale"));
}

/* ------------------------------------------------------------------------ */
/* 10,000 hospitals against a brute force                                   */

/* Sanitizers and valgrind run the import ten to forty times slower: fewer
 * hospitals there, the same checks. */
#if defined(__SANITIZE_ADDRESS__)
#define N_HOSPITALS 3000
#else
#define N_HOSPITALS 10000
#endif
#define N_HOSPITALS_UNDER_VALGRIND 1000
#define N_QUERIES 200

static guint
random_specialty (GRand *rand, guint query)
{
  /* Every tenth asks for specialty 80, which no hospital has. */
  if (query % 10 == 9)
    return 80;
  if (g_rand_int_range (rand, 0, 100) < 20)
    return 0;
  return (guint) g_rand_int_range (rand, 1, 80);
}

static void
test_random (void)
{
  guint32 seed = mh_test_seed_from_env (g_random_int ());
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  g_autofree char *dir = mh_test_make_tmpdir ("mh-nearest-random");
  g_autoptr(MhNode) hub = test_node_new (dir, "hub", MH_ROLE_HUB, NULL, NULL);
  guint n_hospitals = g_getenv ("MEDHEAD_UNDER_VALGRIND") != NULL ? N_HOSPITALS_UNDER_VALGRIND
                                                                  : N_HOSPITALS;
  g_autofree GenHospital *all = gen_hospitals (rand, n_hospitals);
  g_autoptr(JsonNode) document = gen_document (all, n_hospitals);
  const char *const *known = mh_bed_categories ();
  g_autoptr(GError) error = NULL;
  guint n_imported = 0, n_fallbacks = 0, n_far = 0;

  g_test_message ("seed %u (MEDHEAD_SEED=%u replays it)", seed, seed);
  g_assert_true (mh_node_import (hub, document, &n_imported, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_imported, ==, n_hospitals);

  for (guint q = 0; q < N_QUERIES; q++)
    {
      gboolean worldwide = g_rand_int_range (rand, 0, 100) < 15;
      double lat = worldwide ? g_rand_double_range (rand, -90, 90)
                             : g_rand_double_range (rand, 42, 51);
      double lon = worldwide ? g_rand_double_range (rand, -180, 180)
                             : g_rand_double_range (rand, -5, 8);
      guint specialty = random_specialty (rand, q);
      const char *category = g_rand_int_range (rand, 0, 100) < 20
                               ? NULL
                               : known[g_rand_int_range (rand, 0, gen_n_categories ())];
      guint limit = (guint) g_rand_int_range (rand, 1, 16);
      gboolean fallback;
      g_autoptr(GArray) expected = gen_brute_force (all, n_hospitals, lat, lon, specialty,
                                                    category, limit, &fallback);
      g_autoptr(JsonArray) got = nearest (hub, lat, lon, specialty, category, limit);

      if (json_array_get_length (got) != expected->len)
        g_error ("seed %u, query %u (%f, %f, %u, %s, %u): %u answers, expected %u", seed, q, lat,
                 lon, specialty, category, limit, json_array_get_length (got), expected->len);
      n_fallbacks += fallback;
      for (guint i = 0; i < expected->len; i++)
        {
          GenHit *want = &g_array_index (expected, GenHit, i);
          JsonObject *hit = json_array_get_object_element (got, i);

          if (g_strcmp0 (test_string (hit, "id"), want->hospital->id) != 0)
            g_error ("seed %u, query %u, answer %u: %s, expected %s (%.3f m)", seed, q, i,
                     test_string (hit, "id"), want->hospital->id, want->distance);
          g_assert_cmpint (json_object_get_int_member (hit, "distance_m"), ==,
                           (gint64) llround (want->distance));
          g_assert_cmpint (json_object_get_int_member (hit, "free_beds"), ==, want->free);
          g_assert_cmpint (json_object_get_boolean_member (hit, "fallback"), ==, fallback);
          if (want->distance > 1000000)
            n_far++;
        }
    }
  g_test_message ("%u queries, %u fallbacks, %u answers over 1000 km away", N_QUERIES,
                  n_fallbacks, n_far);
  g_assert_cmpuint (n_fallbacks, >=, N_QUERIES / 10);

  g_clear_object (&hub);
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ((path), Fixture, NULL, fixture_set_up, (func), fixture_tear_down)
  ADD ("/nearest/reference-scenario", test_reference_scenario);
  ADD ("/nearest/ordering-and-limit", test_ordering_and_limit);
  ADD ("/nearest/closed", test_closed);
  ADD ("/nearest/stale", test_stale);
#undef ADD
  g_test_add_func ("/nearest/random-vs-brute-force", test_random);

  return g_test_run ();
}

/* test-api-resources.c: every resource of the REST API, as a client uses it
 *
 * A hub holds the reference scenario, the crew of unit MH-AMB-01 its own
 * unit; the nearest-hospital test has a hub of its own, since it changes
 * bed counts.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "mh-test-node.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define JULIA_CRUSHER "80ad8487-7af0-5ce6-8474-7df023d61e10"
#define BEVERLY_BASHIR "08960b65-9680-58bf-8c7f-195ceedb302b"
#define UNIT "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
#define SCENARIO "data/demo/reference-scenario.json"

static MhTestNode *hub;
static MhTestNode *crew;

static const char *
string_of (JsonObject *object, const char *member)
{
  return json_object_get_string_member_with_default (object, member, NULL);
}

static JsonObject *
find_by_id (JsonArray *array, const char *id)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *object = json_array_get_object_element (array, i);

      if (g_strcmp0 (string_of (object, "id"), id) == 0)
        return object;
    }
  return NULL;
}

/* POSTs, checks 201, the Location header and that it leads to the same
 * object; returns the object. */
static JsonObject *
create (MhTestNode *node, const char *path, const char *body)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, "POST", path, body);
  g_autoptr(JsonObject) again = NULL;
  g_autofree char *expected = NULL;
  const char *location;
  JsonObject *created;
  g_autoptr(JsonNode) created_node = NULL;
  g_autoptr(JsonNode) again_node = NULL;

  if (reply->status != 201)
    g_error ("POST %s: %u %s", path, reply->status, reply->body);
  created = mh_test_reply_object (reply);
  g_assert_nonnull (string_of (created, "id"));
  location = soup_message_headers_get_one (reply->headers, "Location");
  g_assert_nonnull (location);
  {
    g_autofree char *escaped = g_uri_escape_string (string_of (created, "id"), NULL, FALSE);
    expected = g_strdup_printf ("%s/%s", path, escaped);
  }
  g_assert_cmpstr (location, ==, expected);

  again = mh_test_node_get_object (node, location);
  created_node = json_node_init_object (json_node_alloc (), created);
  again_node = json_node_init_object (json_node_alloc (), again);
  g_assert_true (json_node_equal (created_node, again_node));
  return json_object_ref (created);
}

static JsonObject *
send_ok (MhTestNode *node, const char *method, const char *path, const char *body)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, method, path, body);

  if (reply->status != 200)
    g_error ("%s %s: %u %s", method, path, reply->status, reply->body);
  return json_object_ref (mh_test_reply_object (reply));
}

static JsonArray *
list (MhTestNode *node, const char *path)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, "GET", path, NULL);

  if (reply->status != 200)
    g_error ("GET %s: %u %s", path, reply->status, reply->body);
  return json_array_ref (mh_test_reply_array (reply));
}

/* ------------------------------------------------------------------------ */

static void
test_status (void)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (hub, "GET", "/api/v1/status", NULL);
  JsonObject *status;

  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_content_type (reply->headers, NULL), ==,
                   "application/json");
  /* Answers may hold patient data: nothing may cache them. */
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "Cache-Control"), ==,
                   "no-store");
  status = mh_test_reply_object (reply);
  g_assert_nonnull (string_of (status, "site_id"));
  g_assert_cmpstr (string_of (status, "name"), ==, "Test hub");
  g_assert_cmpstr (string_of (status, "role"), ==, "hub");
  g_assert_true (json_object_has_member (status, "clock"));
}

static void
test_hospitals (void)
{
  g_autoptr(JsonArray) hospitals = list (hub, "/api/v1/hospitals");
  g_autoptr(JsonObject) fred = NULL;
  g_autoptr(JsonObject) created = NULL;
  g_autoptr(JsonObject) patched = NULL;
  g_autoptr(JsonObject) fetched = NULL;
  g_autoptr(JsonArray) after = NULL;
  g_autofree char *path = NULL;
  JsonArray *specialties;
  JsonObject *bed;

  g_assert_cmpuint (json_array_get_length (hospitals), ==, 3);
  g_assert_nonnull (find_by_id (hospitals, JULIA_CRUSHER));

  fred = mh_test_node_get_object (hub, "/api/v1/hospitals/" FRED_BROOKS);
  g_assert_cmpstr (string_of (fred, "name"), ==, "Fred Brooks");
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (fred, "lat"), 51.515, 1e-9);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (fred, "lon"), -0.118, 1e-9);
  specialties = json_object_get_array_member (fred, "specialties");
  g_assert_cmpuint (json_array_get_length (specialties), ==, 2);
  g_assert_cmpint (json_array_get_int_element (specialties, 0), ==, 21);
  g_assert_cmpint (json_array_get_int_element (specialties, 1), ==, 54);
  bed = json_object_get_object_member (json_object_get_object_member (fred, "beds"),
                                       "medical_surgical");
  g_assert_cmpint (json_object_get_int_member (bed, "available"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (bed, "free"), ==, 2);

  created = create (hub, "/api/v1/hospitals",
                    "{\"name\": \"St Test's\", \"city\": \"London\", \"lat\": 51.52, "
                    "\"lon\": -0.09, \"specialties\": [21, 3], \"ems_traffic\": \"normal\"}");
  g_assert_cmpstr (string_of (created, "name"), ==, "St Test's");
  path = g_strdup_printf ("/api/v1/hospitals/%s", string_of (created, "id"));

  patched = send_ok (hub, "PATCH", path,
                     "{\"name\": \"St Test's Hospital\", \"ems_traffic\": \"advisory\", "
                     "\"ems_traffic_reason\": \"CT scanner down\"}");
  g_assert_cmpstr (string_of (patched, "name"), ==, "St Test's Hospital");
  g_assert_cmpstr (string_of (patched, "ems_traffic"), ==, "advisory");
  g_assert_cmpstr (string_of (patched, "ems_traffic_reason"), ==, "CT scanner down");
  /* What PATCH does not name stays. */
  g_assert_cmpstr (string_of (patched, "city"), ==, "London");
  fetched = mh_test_node_get_object (hub, path);
  g_assert_cmpstr (string_of (fetched, "name"), ==, "St Test's Hospital");

  after = list (hub, "/api/v1/hospitals");
  g_assert_cmpuint (json_array_get_length (after), ==, 4);
}

static void
test_beds (void)
{
  g_autoptr(JsonObject) created = create (hub, "/api/v1/hospitals",
                                          "{\"name\": \"Bed Test\", \"lat\": 51.4, "
                                          "\"lon\": -0.2, \"specialties\": [21]}");
  g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s/beds/adult_icu",
                                           string_of (created, "id"));
  g_autofree char *hospital_path = g_strdup_printf ("/api/v1/hospitals/%s",
                                                    string_of (created, "id"));
  g_autoptr(JsonObject) bed = NULL;
  g_autoptr(JsonObject) hospital = NULL;
  JsonObject *listed;

  bed = send_ok (hub, "PUT", path, "{\"available\": 3, \"baseline\": 10, \"surge_24h\": 2}");
  g_assert_cmpstr (string_of (bed, "category"), ==, "adult_icu");
  g_assert_cmpint (json_object_get_int_member (bed, "available"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (bed, "baseline"), ==, 10);
  g_assert_cmpint (json_object_get_int_member (bed, "surge_24h"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (bed, "free"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (bed, "committed_inbound"), ==, 0);
  g_assert_false (json_object_get_boolean_member (bed, "stale"));
  g_assert_cmpint (json_object_get_int_member (bed, "reported_at"), >, 0);

  hospital = mh_test_node_get_object (hub, hospital_path);
  listed = json_object_get_object_member (json_object_get_object_member (hospital, "beds"),
                                          "adult_icu");
  g_assert_cmpint (json_object_get_int_member (listed, "available"), ==, 3);

  /* A second report replaces the first. */
  g_clear_pointer (&bed, json_object_unref);
  bed = send_ok (hub, "PUT", path, "{\"available\": 0, \"baseline\": 10}");
  g_assert_cmpint (json_object_get_int_member (bed, "free"), ==, 0);
}

static JsonArray *
nearest (MhTestNode *node, const char *query)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/nearest?%s", query);

  return list (node, path);
}

/* The MedHead reference scenario, over HTTP. */
static void
test_nearest_reference (void)
{
  g_autoptr(MhTestNode) node = mh_test_node_new ("hub", "Reference hub", NULL);
  g_autofree char *scenario_path = mh_test_source_file (SCENARIO);
  g_autoptr(JsonNode) scenario = mh_test_load_json (scenario_path);
  JsonObject *point = json_object_get_object_member (json_node_get_object (scenario),
                                                     "test_point");
  char lat[G_ASCII_DTOSTR_BUF_SIZE], lon[G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree char *cardiology = NULL;
  g_autofree char *any = NULL;
  g_autoptr(JsonArray) found = NULL;
  JsonObject *first;
  double previous = 0;

  g_ascii_dtostr (lat, sizeof lat, json_object_get_double_member (point, "lat"));
  g_ascii_dtostr (lon, sizeof lon, json_object_get_double_member (point, "lon"));
  cardiology = g_strdup_printf ("lat=%s&lon=%s&specialty=21&bed=medical_surgical", lat, lon);
  any = g_strdup_printf ("lat=%s&lon=%s", lat, lon);

  mh_test_node_import (node, SCENARIO);
  mh_test_node_start (node);

  /* A cardiology patient near Fred Brooks goes to Fred Brooks. */
  found = nearest (node, cardiology);
  g_assert_cmpuint (json_array_get_length (found), >=, 1);
  first = json_array_get_object_element (found, 0);
  g_assert_cmpstr (string_of (first, "id"), ==, FRED_BROOKS);
  g_assert_cmpstr (string_of (first, "name"), ==, "Fred Brooks");
  g_assert_false (json_object_get_boolean_member (first, "fallback"));
  g_assert_cmpint (json_object_get_int_member (first, "free_beds"), ==, 2);
  g_assert_cmpfloat (json_object_get_double_member (first, "distance_m"), >, 500);
  g_assert_cmpfloat (json_object_get_double_member (first, "distance_m"), <, 2000);
  /* Julia Crusher has cardiology but no free bed: not a match. */
  for (guint i = 0; i < json_array_get_length (found); i++)
    {
      JsonObject *hit = json_array_get_object_element (found, i);

      if (!json_object_get_boolean_member (hit, "fallback"))
        g_assert_cmpstr (string_of (hit, "id"), !=, JULIA_CRUSHER);
    }

  /* Nearest first, and the limit holds. */
  g_clear_pointer (&found, json_array_unref);
  found = nearest (node, any);
  g_assert_cmpuint (json_array_get_length (found), >=, 2);
  for (guint i = 0; i < json_array_get_length (found); i++)
    {
      double distance = json_object_get_double_member (json_array_get_object_element (found, i),
                                                       "distance_m");
      g_assert_cmpfloat (distance, >=, previous);
      previous = distance;
    }
  g_clear_pointer (&found, json_array_unref);
  {
    g_autofree char *limited = g_strdup_printf ("%s&limit=1", any);
    found = nearest (node, limited);
    g_assert_cmpuint (json_array_get_length (found), ==, 1);
  }

  /* Fred Brooks full (phoned in to the hub): no cardiology bed is left, so
   * the answer is a fallback to hospitals with any free bed. */
  {
    g_autoptr(JsonObject) bed = send_ok (
      node, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/medical_surgical",
      "{\"available\": 0, \"baseline\": 2}");
    g_assert_cmpint (json_object_get_int_member (bed, "free"), ==, 0);
  }
  g_clear_pointer (&found, json_array_unref);
  found = nearest (node, cardiology);
  g_assert_cmpuint (json_array_get_length (found), >=, 1);
  first = json_array_get_object_element (found, 0);
  g_assert_true (json_object_get_boolean_member (first, "fallback"));
  g_assert_cmpstr (string_of (first, "id"), ==, BEVERLY_BASHIR);

  g_assert_cmpint (mh_test_node_stop (node, SIGTERM), ==, 0);
}

static void
test_units (void)
{
  g_autoptr(JsonArray) units = list (crew, "/api/v1/units");
  g_autoptr(JsonObject) unit = NULL;
  g_autoptr(JsonObject) patched = NULL;
  g_autoptr(JsonObject) created = NULL;

  g_assert_nonnull (find_by_id (units, UNIT));
  unit = mh_test_node_get_object (crew, "/api/v1/units/" UNIT);
  g_assert_cmpstr (string_of (unit, "call_sign"), ==, "MH-AMB-01");
  g_assert_cmpstr (string_of (unit, "type"), ==, "bls");

  /* The crew reports its own status and position. */
  patched = send_ok (crew, "PATCH", "/api/v1/units/" UNIT,
                     "{\"status\": \"en_route\", \"lat\": 51.51, \"lon\": -0.12, "
                     "\"accuracy_m\": 15}");
  g_assert_cmpstr (string_of (patched, "status"), ==, "en_route");
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (patched, "lat"), 51.51, 1e-9);

  /* The hub keeps the registry of units. */
  created = create (hub, "/api/v1/units",
                    "{\"call_sign\": \"MH-MICU-07\", \"type\": \"micu\", "
                    "\"agency\": \"SAMU Test\"}");
  g_assert_cmpstr (string_of (created, "type"), ==, "micu");
}

static void
test_patients (void)
{
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(JsonObject) patched = NULL;
  g_autoptr(JsonObject) full = NULL;
  g_autoptr(JsonObject) intervention = NULL;
  g_autoptr(JsonArray) patients = NULL;
  g_autofree char *patient_path = NULL;
  g_autofree char *observations_path = NULL;
  g_autofree char *interventions_path = NULL;
  const int gcs[] = { 14, 12, 9 };
  JsonArray *observations;

  /* The crew's patient is its unit's. */
  patient = create (crew, "/api/v1/patients",
                    "{\"age_estimate\": 70, \"sex\": \"female\", \"triage\": \"immediate\", "
                    "\"alert\": \"stroke\", \"complaint\": \"left-sided weakness\", "
                    "\"required_specialty\": 21, \"bed_category\": \"medical_surgical\"}");
  patient_path = g_strdup_printf ("/api/v1/patients/%s", string_of (patient, "id"));
  g_assert_cmpstr (string_of (patient, "unit_id"), ==, UNIT);

  patched = send_ok (crew, "PATCH", patient_path, "{\"triage\": \"delayed\"}");
  g_assert_cmpstr (string_of (patched, "triage"), ==, "delayed");
  g_assert_cmpstr (string_of (patched, "alert"), ==, "stroke");

  /* Every observation reaches the record; none replaces another. */
  observations_path = g_strdup_printf ("%s/observations", patient_path);
  for (guint i = 0; i < G_N_ELEMENTS (gcs); i++)
    {
      g_autofree char *body = g_strdup_printf ("{\"gcs\": %d, \"hr\": %d}", gcs[i], 90 + i);
      g_autoptr(JsonObject) observation = create (crew, observations_path, body);

      g_assert_cmpint (json_object_get_int_member (observation, "gcs"), ==, gcs[i]);
    }
  interventions_path = g_strdup_printf ("%s/interventions", patient_path);
  intervention = create (crew, interventions_path,
                         "{\"drug\": \"aspirin\", \"dose\": \"250 mg\", \"route\": \"oral\"}");
  g_assert_cmpstr (string_of (intervention, "drug"), ==, "aspirin");

  full = mh_test_node_get_object (crew, patient_path);
  observations = json_object_get_array_member (full, "observations");
  g_assert_cmpuint (json_array_get_length (observations), ==, 3);
  for (guint i = 0; i < G_N_ELEMENTS (gcs); i++)
    {
      gboolean seen = FALSE;

      for (guint j = 0; j < json_array_get_length (observations); j++)
        if (json_object_get_int_member (json_array_get_object_element (observations, j), "gcs")
            == gcs[i])
          seen = TRUE;
      g_assert_true (seen);
    }
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (full, "interventions")),
                    ==, 1);
  patients = list (crew, "/api/v1/patients");
  g_assert_nonnull (find_by_id (patients, string_of (patient, "id")));
}

static JsonObject *
move (MhTestNode *node, const char *transfer, const char *side, const char *body,
      const char *crew_state, const char *desk_state, const char *shown)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/transfers/%s/%s", transfer, side);
  JsonObject *moved = send_ok (node, "POST", path, body);

  g_assert_cmpstr (string_of (moved, "crew_state"), ==, crew_state);
  g_assert_cmpstr (string_of (moved, "desk_state"), ==, desk_state);
  g_assert_cmpstr (string_of (moved, "state"), ==, shown);
  return moved;
}

/* A transfer through both sides, and the shown state of each pair (the
 * table in docs/api.md). The hub writes both sides, as a dispatcher
 * relaying by phone would. */
static void
test_transfers (void)
{
  g_autoptr(JsonObject) patient = create (hub, "/api/v1/patients",
                                          "{\"unit_id\": \"" UNIT "\", \"age_estimate\": 58, "
                                          "\"triage\": \"immediate\", \"alert\": \"stemi\", "
                                          "\"required_specialty\": 21, "
                                          "\"bed_category\": \"medical_surgical\"}");
  g_autofree char *body = g_strdup_printf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\", "
                                           "\"priority\": \"immediate\", "
                                           "\"eta\": 1900000000000}",
                                           string_of (patient, "id"), FRED_BROOKS);
  g_autofree char *divert_body = g_strdup_printf ("{\"patient_id\": \"%s\", "
                                                  "\"hospital_id\": \"%s\"}",
                                                  string_of (patient, "id"), BEVERLY_BASHIR);
  g_autoptr(JsonObject) transfer = create (hub, "/api/v1/transfers", body);
  g_autoptr(JsonObject) diverted = create (hub, "/api/v1/transfers", divert_body);
  const char *id = string_of (transfer, "id");
  g_autoptr(JsonArray) to_fred = NULL;
  g_autoptr(JsonArray) to_julia = NULL;
  g_autoptr(JsonArray) all = NULL;

  /* The request takes the patient's needs and unit. */
  g_assert_cmpstr (string_of (transfer, "unit_id"), ==, UNIT);
  g_assert_cmpstr (string_of (transfer, "bed_category"), ==, "medical_surgical");
  g_assert_cmpint (json_object_get_int_member (transfer, "specialty"), ==, 21);
  g_assert_cmpstr (string_of (transfer, "crew_state"), ==, "announced");
  g_assert_cmpstr (string_of (transfer, "desk_state"), ==, "pending");
  g_assert_cmpstr (string_of (transfer, "state"), ==, "announced");

  json_object_unref (move (hub, id, "crew", "{\"state\": \"en_route\"}", "en_route", "pending",
                           "en_route_unanswered"));
  json_object_unref (move (hub, id, "desk", "{\"state\": \"acknowledged\"}", "en_route",
                           "acknowledged", "acknowledged"));
  json_object_unref (move (hub, id, "desk", "{\"state\": \"accepted\"}", "en_route",
                           "accepted", "accepted_en_route"));
  json_object_unref (move (hub, id, "crew", "{\"state\": \"arrived\"}", "arrived", "accepted",
                           "arrived"));

  {
    g_autoptr(JsonObject) moved = move (hub, string_of (diverted, "id"), "desk",
                                        "{\"state\": \"diverted\", "
                                        "\"reason\": \"CT scanner down\"}",
                                        "announced", "diverted", "diverted");
    g_assert_cmpstr (string_of (moved, "desk_reason"), ==, "CT scanner down");
  }

  to_fred = list (hub, "/api/v1/transfers?hospital=" FRED_BROOKS);
  g_assert_nonnull (find_by_id (to_fred, id));
  g_assert_null (find_by_id (to_fred, string_of (diverted, "id")));
  to_julia = list (hub, "/api/v1/transfers?hospital=" JULIA_CRUSHER);
  g_assert_null (find_by_id (to_julia, id));
  all = list (hub, "/api/v1/transfers");
  g_assert_nonnull (find_by_id (all, id));
  g_assert_nonnull (find_by_id (all, string_of (diverted, "id")));
}

static void
test_messages (void)
{
  g_autoptr(JsonObject) first = create (hub, "/api/v1/messages",
                                        "{\"channel\": \"broadcast\", "
                                        "\"body\": \"Major incident at Gare du Nord\"}");
  g_autoptr(JsonObject) second = NULL;
  g_autoptr(JsonObject) retracted = NULL;
  g_autoptr(JsonArray) all = NULL;
  g_autoptr(JsonArray) later = NULL;
  g_autoptr(JsonArray) none = NULL;
  g_autofree char *since_path = NULL;
  g_autofree char *none_path = NULL;
  g_autofree char *retract_path = NULL;
  gint64 first_arrival;
  JsonObject *listed;

  g_assert_cmpstr (string_of (first, "channel"), ==, "broadcast");
  g_assert_cmpstr (string_of (first, "body"), ==, "Major incident at Gare du Nord");
  g_assert_false (json_object_get_boolean_member (first, "retracted"));
  first_arrival = json_object_get_int_member (first, "arrived_at");

  /* A later arrival, so that `since` can tell the two apart. */
  g_usleep (5 * 1000);
  second = create (hub, "/api/v1/messages",
                   "{\"channel\": \"hospital:" FRED_BROOKS "\", \"body\": \"2 beds freed\"}");

  all = list (hub, "/api/v1/messages?channel=broadcast");
  g_assert_nonnull (find_by_id (all, string_of (first, "id")));
  g_assert_null (find_by_id (all, string_of (second, "id")));

  since_path = g_strdup_printf ("/api/v1/messages?channel=hospital:" FRED_BROOKS
                                "&since=%" G_GINT64_FORMAT,
                                first_arrival);
  later = list (hub, since_path);
  g_assert_nonnull (find_by_id (later, string_of (second, "id")));
  none_path = g_strdup_printf ("/api/v1/messages?channel=broadcast&since=%" G_GINT64_FORMAT,
                               json_object_get_int_member (second, "arrived_at") + 1000);
  none = list (hub, none_path);
  g_assert_cmpuint (json_array_get_length (none), ==, 0);

  /* The author retracts: the fact stays, the body goes. */
  /* A message id is "SITE/UUID": its '/' travels escaped. */
  {
    g_autofree char *escaped = g_uri_escape_string (string_of (first, "id"), NULL, FALSE);
    retract_path = g_strdup_printf ("/api/v1/messages/%s/retract", escaped);
  }
  retracted = send_ok (hub, "POST", retract_path, NULL);
  g_assert_true (json_object_get_boolean_member (retracted, "retracted"));
  g_assert_cmpstr (string_of (retracted, "body"), !=, "Major incident at Gare du Nord");
  g_clear_pointer (&all, json_array_unref);
  all = list (hub, "/api/v1/messages?channel=broadcast");
  listed = find_by_id (all, string_of (first, "id"));
  g_assert_nonnull (listed);
  g_assert_true (json_object_get_boolean_member (listed, "retracted"));
}

static void
test_digest_and_history (void)
{
  g_autoptr(JsonObject) digest = mh_test_node_get_object (hub, "/api/v1/digest");
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  g_autoptr(JsonArray) history = NULL;
  g_autoptr(JsonObject) patched = NULL;
  JsonObject *buckets = json_object_get_object_member (digest, "buckets");

  g_assert_nonnull (string_of (digest, "site_id"));
  g_assert_nonnull (buckets);
  g_assert_true (json_object_has_member (buckets, "hospital"));

  /* A write changes the digest. */
  patched = send_ok (hub, "PATCH", "/api/v1/hospitals/" JULIA_CRUSHER,
                     "{\"phone_switchboard\": \"+44 20 7946 0000\"}");
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, !=, after);

  /* The history holds values that lost a merge, so it fills only once
   * replicas exchange changes; here it must at least be a list. */
  history = list (hub, "/api/v1/history?table=hospital&row=" JULIA_CRUSHER);
  for (guint i = 0; i < json_array_get_length (history); i++)
    g_assert_nonnull (string_of (json_array_get_object_element (history, i), "register"));
}

/* One hospital's bucket on demand, listed or not; need-to-know totals
 * apart, under held. */
static void
test_digest_per_hospital (void)
{
  g_autoptr(JsonObject) plain = mh_test_node_get_object (hub, "/api/v1/digest");
  g_autoptr(JsonObject) asked =
    mh_test_node_get_object (hub, "/api/v1/digest?hospital=" JULIA_CRUSHER);
  JsonObject *buckets = json_object_get_object_member (asked, "buckets");
  const char *mine = string_of (buckets, "patients:" JULIA_CRUSHER);
  const char *listed = json_object_get_string_member_with_default (
    json_object_get_object_member (plain, "buckets"), "patients:" JULIA_CRUSHER, NULL);

  g_assert_nonnull (mine);
  g_assert_cmpuint (strlen (strchr (mine, ':') + 1), ==, 32);
  if (g_str_has_prefix (mine, "0:"))
    {
      g_assert_cmpstr (mine, ==, "0:00000000000000000000000000000000");
      g_assert_null (listed);
    }
  else
    g_assert_cmpstr (mine, ==, listed);
  g_assert_true (json_object_has_member (buckets, "hospital"));
  g_assert_false (json_object_has_member (buckets, "patients"));
  g_assert_false (json_object_has_member (buckets, "message"));
  g_assert_nonnull (json_object_get_object_member (asked, "held"));

  {
    g_autoptr(MhTestReply) reply = mh_test_node_request (
      hub, "GET", "/api/v1/digest?hospital=4d3c2b1a-0000-4000-8000-000000000000", NULL);
    mh_test_assert_error (reply, 404, "not_found", NULL);
  }
  {
    g_autoptr(MhTestReply) reply =
      mh_test_node_request (hub, "GET", "/api/v1/digest?table=beds", NULL);
    mh_test_assert_error (reply, 400, "invalid", "table");
  }
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  hub = mh_test_node_new ("hub", "Test hub", NULL);
  crew = mh_test_node_new ("ambulance", "MH-AMB-01", UNIT);
  mh_test_node_import (hub, SCENARIO);
  mh_test_node_import_part (crew, SCENARIO, NULL, UNIT);
  mh_test_node_start (hub);
  mh_test_node_start (crew);

  g_test_add_func ("/api/status", test_status);
  g_test_add_func ("/api/hospitals", test_hospitals);
  g_test_add_func ("/api/beds", test_beds);
  g_test_add_func ("/api/nearest/reference-scenario", test_nearest_reference);
  g_test_add_func ("/api/units", test_units);
  g_test_add_func ("/api/patients", test_patients);
  g_test_add_func ("/api/transfers", test_transfers);
  g_test_add_func ("/api/messages", test_messages);
  g_test_add_func ("/api/digest-and-history", test_digest_and_history);
  g_test_add_func ("/api/digest-per-hospital", test_digest_per_hospital);

  status = g_test_run ();

  g_assert_cmpint (mh_test_node_stop (hub, SIGTERM), ==, 0);
  g_assert_cmpint (mh_test_node_stop (crew, SIGTERM), ==, 0);
  mh_test_node_free (hub);
  mh_test_node_free (crew);
  return status;
}

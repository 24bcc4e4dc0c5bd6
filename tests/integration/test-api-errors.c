/* test-api-errors.c: every error answer of the REST API, and that after
 * each one nothing changed
 *
 * Three real nodes hold the reference scenario, each what it may: a hub
 * (all of it), the desk of Fred Brooks (its hospital) and the crew of unit
 * MH-AMB-01 (its unit). Every test takes the digest of
 * the node it sends bad requests to before and after: an error must leave
 * the replica exactly as it was.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "mh-test-node.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define JULIA_CRUSHER "80ad8487-7af0-5ce6-8474-7df023d61e10"
#define UNIT "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
#define UNKNOWN_ID "00000000-0000-4000-8000-000000000000"
#define SCENARIO "data/demo/reference-scenario.json"
#define MIB (1024 * 1024)

static MhTestNode *hub;
static MhTestNode *desk;
static MhTestNode *crew;

/* A valid new hospital, to show that refusals are about what they say. */
static const char *const good_hospital =
  "{\"name\": \"Test General\", \"lat\": 51.5, \"lon\": -0.12, \"specialties\": [21]}";

static void
expect (MhTestNode *node, const char *method, const char *path, const char *body, guint status,
        const char *code, const char *field)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, method, path, body);

  g_test_message ("%s %s", method, path);
  mh_test_assert_error (reply, status, code, field);
}

static guint
count_hospitals (MhTestNode *node)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, "GET", "/api/v1/hospitals", NULL);

  g_assert_cmpuint (reply->status, ==, 200);
  return json_array_get_length (mh_test_reply_array (reply));
}

static char *
hospital_text (MhTestNode *node, const char *id)
{
  g_autoptr(MhTestReply) reply = mh_test_node_requestf (node, "GET", NULL,
                                                        "/api/v1/hospitals/%s", id);

  g_assert_cmpuint (reply->status, ==, 200);
  return g_strdup (reply->body);
}

/* ------------------------------------------------------------------------ */
/* 401                                                                      */

static void
test_auth_missing (void)
{
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  const char *const paths[] = { "/api/v1/status", "/api/v1/hospitals", "/api/v1/nothing", "/" };
  guint n_before = count_hospitals (hub);

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr(MhTestReply) reply = mh_test_request (hub->session, hub->url, "GET", paths[i],
                                                      NULL, NULL, NULL, 0);

      mh_test_assert_error (reply, 401, "unauthorized", NULL);
      g_assert_nonnull (soup_message_headers_get_one (reply->headers, "WWW-Authenticate"));
    }

  /* A write without a token is refused before its body is looked at. */
  {
    g_autoptr(MhTestReply) reply = mh_test_request (hub->session, hub->url, "POST",
                                                    "/api/v1/hospitals", NULL, "application/json",
                                                    good_hospital, -1);
    mh_test_assert_error (reply, 401, "unauthorized", NULL);
  }
  g_assert_cmpuint (count_hospitals (hub), ==, n_before);
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

static void
test_auth_wrong (void)
{
  g_autofree char *prefix = g_strndup (hub->token, strlen (hub->token) - 1);
  g_autofree char *longer = g_strconcat (hub->token, "x", NULL);
  g_autofree char *other_case = g_ascii_strup (hub->token, -1);
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  const char *const wrong[] = { "not-the-token", prefix, longer, "", desk->token };
  const char *const headers[] = { "Basic dXNlcjpwYXNz", "Bearer", "Token abc", "bearer" };

  for (guint i = 0; i < G_N_ELEMENTS (wrong); i++)
    {
      g_autoptr(MhTestReply) reply = mh_test_request (hub->session, hub->url, "POST",
                                                      "/api/v1/hospitals", wrong[i],
                                                      "application/json", good_hospital, -1);
      mh_test_assert_error (reply, 401, "unauthorized", NULL);
    }
  if (g_strcmp0 (other_case, hub->token) != 0)
    {
      g_autoptr(MhTestReply) reply = mh_test_request (hub->session, hub->url, "GET",
                                                      "/api/v1/status", other_case, NULL, NULL, 0);
      mh_test_assert_error (reply, 401, "unauthorized", NULL);
    }
  for (guint i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      g_autofree char *uri = g_strconcat (hub->url, "/api/v1/status", NULL);
      g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GError) error = NULL;

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    headers[i]);
      body = soup_session_send_and_read (hub->session, msg, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (soup_message_get_status (msg), ==, 401);
    }

  /* The scheme is case-insensitive (RFC 9110); the token is not. */
  {
    g_autofree char *uri = g_strconcat (hub->url, "/api/v1/status", NULL);
    g_autofree char *value = g_strdup_printf ("bearer %s", hub->token);
    g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GError) error = NULL;

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                  value);
    body = soup_session_send_and_read (hub->session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  }

  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

/* ------------------------------------------------------------------------ */
/* 400                                                                      */

static void
test_malformed_json (void)
{
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  g_autofree char *deep = NULL;
  g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s", FRED_BROOKS);
  guint n_before = count_hospitals (hub);
  const char *const bodies[] = {
    "{",
    "{\"name\": }",
    "{\"name\": \"A\",}",
    "{'name': 'A'}",
    "/* comment */ {\"name\": \"A\"}",
    "{\"name\": \"A\"} trailing",
    "\xff\xfe{}",
    "{\"name\": \"A\\u0000B\", \"lat\": 1, \"lon\": 1",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_test_message ("body %u", i);
      expect (hub, "POST", "/api/v1/hospitals", bodies[i], 400, "malformed", "body");
      expect (hub, "PATCH", path, bodies[i], 400, "malformed", "body");
    }

  /* Well-formed JSON that is not an object. */
  expect (hub, "POST", "/api/v1/hospitals", "[1, 2]", 400, "invalid", "body");
  expect (hub, "POST", "/api/v1/hospitals", "\"Fred\"", 400, "invalid", "body");
  expect (hub, "POST", "/api/v1/hospitals", "null", 400, "invalid", "body");

  /* Nesting is bounded before the parser recurses into it. */
  deep = g_strnfill (100000, '[');
  expect (hub, "POST", "/api/v1/hospitals", deep, 400, "malformed", "body");
  g_clear_pointer (&deep, g_free);
  deep = g_strdup_printf ("{\"name\": \"A\", \"x\": %s1%s}", "[[[[[[[[[[[[[[[[[[[[",
                          "]]]]]]]]]]]]]]]]]]]]");
  expect (hub, "POST", "/api/v1/hospitals", deep, 400, "malformed", "body");

  /* An empty body where one is needed. */
  {
    g_autoptr(MhTestReply) reply = mh_test_request (hub->session, hub->url, "POST",
                                                    "/api/v1/hospitals", hub->token,
                                                    "application/json", "", 0);
    mh_test_assert_error (reply, 400, "invalid", "body");
  }

  g_assert_cmpuint (count_hospitals (hub), ==, n_before);
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

typedef struct
{
  const char *path;
  const char *field;
} QueryCase;

static void
test_invalid_query (void)
{
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  const QueryCase cases[] = {
    { "/api/v1/hospitals/nearest", "lat" },
    { "/api/v1/hospitals/nearest?lon=2", "lat" },
    { "/api/v1/hospitals/nearest?lat=&lon=2", "lat" },
    { "/api/v1/hospitals/nearest?lat=48.8", "lon" },
    { "/api/v1/hospitals/nearest?lat=91&lon=2", "lat" },
    { "/api/v1/hospitals/nearest?lat=-90.5&lon=2", "lat" },
    { "/api/v1/hospitals/nearest?lat=abc&lon=2", "lat" },
    { "/api/v1/hospitals/nearest?lat=48.8x&lon=2", "lat" },
    { "/api/v1/hospitals/nearest?lat=nan&lon=2", "lat" },
    { "/api/v1/hospitals/nearest?lat=1e999&lon=2", "lat" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=180.1", "lon" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=-inf", "lon" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&limit=0", "limit" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&limit=101", "limit" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&limit=-1", "limit" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&limit=ten", "limit" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&specialty=0", "specialty" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&specialty=81", "specialty" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&specialty=cardio", "specialty" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&bed=spaceship", "bed" },
    { "/api/v1/hospitals/nearest?lat=48.8&lon=2&specality=21", "specality" },
    { "/api/v1/hospitals?sort=name", "sort" },
    { "/api/v1/transfers?hopsital=" FRED_BROOKS, "hopsital" },
    { "/api/v1/messages?channel=broadcast&limit=0", "limit" },
    { "/api/v1/messages?channel=broadcast&since=yesterday", "since" },
    { "/api/v1/history?row=" FRED_BROOKS, "table" },
    { "/api/v1/history?table=hospital", "row" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    expect (hub, "GET", cases[i].path, NULL, 400, "invalid", cases[i].field);

  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

typedef struct
{
  const char *method;
  const char *path;
  const char *body;
  const char *field;
} BodyCase;

static void
test_invalid_body (void)
{
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *fred_before = hospital_text (hub, FRED_BROOKS);
  g_autofree char *after = NULL;
  g_autofree char *fred_after = NULL;
  g_autofree char *long_name = g_strnfill (5000, 'n');
  g_autofree char *long_name_body = g_strdup_printf ("{\"name\": \"%s\", \"lat\": 1, \"lon\": 1}",
                                                     long_name);
  guint n_before = count_hospitals (hub);
  const char *fred = "/api/v1/hospitals/" FRED_BROOKS;
  const char *fred_beds = "/api/v1/hospitals/" FRED_BROOKS "/beds/medical_surgical";
  const BodyCase cases[] = {
    { "POST", "/api/v1/hospitals", "{\"lat\": 51.5, \"lon\": -0.1}", "name" },
    { "POST", "/api/v1/hospitals", "{\"name\": 5, \"lat\": 51.5, \"lon\": -0.1}", "name" },
    { "POST", "/api/v1/hospitals", "{\"name\": \"X\", \"lat\": 95, \"lon\": -0.1}", "lat" },
    { "POST", "/api/v1/hospitals", "{\"name\": \"X\", \"lat\": \"51\", \"lon\": -0.1}", "lat" },
    { "POST", "/api/v1/hospitals", "{\"name\": \"X\", \"lat\": 51, \"lon\": 200}", "lon" },
    { "POST", "/api/v1/hospitals",
      "{\"name\": \"X\", \"lat\": 51, \"lon\": 0, \"specialties\": [0]}", "specialties" },
    { "POST", "/api/v1/hospitals",
      "{\"name\": \"X\", \"lat\": 51, \"lon\": 0, \"specialties\": [81]}", "specialties" },
    { "POST", "/api/v1/hospitals",
      "{\"name\": \"X\", \"lat\": 51, \"lon\": 0, \"ems_traffic\": \"open\"}", "ems_traffic" },
    { "POST", "/api/v1/hospitals", long_name_body, "name" },
    { "PATCH", fred, "{\"ems_traffic\": \"open\"}", "ems_traffic" },
    { "PATCH", fred, "{\"lat\": -91}", "lat" },
    { "PATCH", fred, "{\"clinical\": 3}", "clinical" },
    { "PATCH", fred, "{\"offload_minutes\": -5}", "offload_minutes" },
    { "PUT", fred_beds, "{\"baseline\": 4}", "available" },
    { "PUT", fred_beds, "{\"available\": 4}", "baseline" },
    { "PUT", fred_beds, "{\"available\": -1, \"baseline\": 4}", "available" },
    { "PUT", fred_beds, "{\"available\": \"many\", \"baseline\": 4}", "available" },
    { "PUT", fred_beds, "{\"available\": 1.5, \"baseline\": 4}", "available" },
    { "PUT", fred_beds, "{\"available\": 1, \"baseline\": -4}", "baseline" },
    { "POST", "/api/v1/units", "{\"call_sign\": \"X1\", \"type\": \"bike\"}", "type" },
    { "POST", "/api/v1/messages", "{\"body\": \"hello\"}", "channel" },
    { "POST", "/api/v1/messages", "{\"channel\": \"broadcast\"}", "body" },
    { "POST", "/api/v1/messages", "{\"channel\": \"broadcast\", \"body\": 7}", "body" },
    { "POST", "/api/v1/messages", "{\"channel\": \"broadcast\", \"body\": \"hi\", \"x\": 1}",
      "x" },
    { "POST", "/api/v1/messages", "{\"channel\": \"nowhere\", \"body\": \"hello\"}", "channel" },
    { "POST", "/api/v1/transfers/" UNKNOWN_ID "/crew", "{}", "state" },
    { "POST", "/api/v1/transfers/" UNKNOWN_ID "/crew", "{\"state\": 3}", "state" },
    { "POST", "/api/v1/transfers/" UNKNOWN_ID "/desk", "{\"state\": \"accepted\", \"why\": 1}",
      "why" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    expect (hub, cases[i].method, cases[i].path, cases[i].body, 400, "invalid", cases[i].field);

  g_assert_cmpuint (count_hospitals (hub), ==, n_before);
  fred_after = hospital_text (hub, FRED_BROOKS);
  g_assert_cmpstr (fred_before, ==, fred_after);
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

/* A request whose every field but one is fine changes nothing at all: the
 * valid part of a PATCH must not be applied on its own. */
static void
test_invalid_partial_patch (void)
{
  g_autofree char *fred_before = hospital_text (hub, FRED_BROOKS);
  g_autofree char *fred_after = NULL;
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;

  expect (hub, "PATCH", "/api/v1/hospitals/" FRED_BROOKS,
          "{\"name\": \"Renamed\", \"ems_traffic\": \"advisory\", \"lat\": 1000}", 400,
          "invalid", "lat");
  expect (hub, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/medical_surgical",
          "{\"available\": 1, \"baseline\": 2, \"surge_24h\": -3}", 400, "invalid", "surge_24h");
  fred_after = hospital_text (hub, FRED_BROOKS);
  g_assert_cmpstr (fred_before, ==, fred_after);
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

/* ------------------------------------------------------------------------ */
/* 403                                                                      */

static void
test_forbidden (void)
{
  g_autofree char *crew_before = mh_test_node_digest (crew);
  g_autofree char *desk_before = mh_test_node_digest (desk);
  g_autofree char *crew_after = NULL;
  g_autofree char *desk_after = NULL;
  const char *beds = "{\"available\": 1, \"baseline\": 2}";

  /* An ambulance reports no hospital's beds or statuses, whether or not
   * the hospital has reached its replica yet. */
  expect (crew, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/medical_surgical", beds, 403,
          "forbidden", NULL);
  expect (crew, "PATCH", "/api/v1/hospitals/" FRED_BROOKS, "{\"ems_traffic\": \"closed\"}", 403,
          "forbidden", NULL);
  /* A desk reports its own hospital's beds, not another's. */
  expect (desk, "PUT", "/api/v1/hospitals/" JULIA_CRUSHER "/beds/medical_surgical", beds, 403,
          "forbidden", NULL);
  expect (desk, "PATCH", "/api/v1/hospitals/" JULIA_CRUSHER, "{\"clinical\": \"full\"}", 403,
          "forbidden", NULL);
  /* The registry of hospitals and units is the hubs'. */
  expect (desk, "POST", "/api/v1/hospitals", good_hospital, 403, "forbidden", NULL);
  expect (crew, "POST", "/api/v1/hospitals", good_hospital, 403, "forbidden", NULL);
  expect (crew, "POST", "/api/v1/units", "{\"call_sign\": \"MH-AMB-99\", \"type\": \"als\"}",
          403, "forbidden", NULL);
  /* A unit is written by its own site only. */
  expect (desk, "PATCH", "/api/v1/units/" UNIT, "{\"status\": \"out_of_service\"}", 403,
          "forbidden", NULL);
  expect (crew, "PATCH", "/api/v1/units/" UNKNOWN_ID, "{\"status\": \"out_of_service\"}", 403,
          "forbidden", NULL);

  crew_after = mh_test_node_digest (crew);
  desk_after = mh_test_node_digest (desk);
  g_assert_cmpstr (crew_before, ==, crew_after);
  g_assert_cmpstr (desk_before, ==, desk_after);

  /* The same kind of write from the owner goes through. */
  {
    g_autoptr(MhTestReply) reply = mh_test_node_request (
      desk, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/medical_surgical", beds);
    g_assert_cmpuint (reply->status, ==, 200);
  }
  {
    g_autoptr(MhTestReply) reply = mh_test_node_request (crew, "PATCH", "/api/v1/units/" UNIT,
                                                         "{\"status\": \"dispatched\"}");
    g_assert_cmpuint (reply->status, ==, 200);
  }
}

/* ------------------------------------------------------------------------ */
/* 404                                                                      */

static void
test_not_found (void)
{
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  const char *beds = "{\"available\": 1, \"baseline\": 2}";
  const char *const get_paths[] = {
    "/", "/api", "/api/v1", "/api/v1/", "/api/v2/status", "/api/v1/nothing",
    "/api/v1/status/extra", "/api/v1/hospitals/" UNKNOWN_ID, "/api/v1/units/" UNKNOWN_ID,
    "/api/v1/patients/" UNKNOWN_ID, "/api/v1/transfers/" UNKNOWN_ID,
    "/api/v1/hospitals/" FRED_BROOKS "%2Fbeds", "/api/v1/hospitals//beds",
    "/api/v1/hospitals/" FRED_BROOKS "/", "/api/v1/hospitals/%00",
  };

  for (guint i = 0; i < G_N_ELEMENTS (get_paths); i++)
    expect (hub, "GET", get_paths[i], NULL, 404, "not_found", NULL);

  expect (hub, "PATCH", "/api/v1/hospitals/" UNKNOWN_ID, "{\"name\": \"Ghost\"}", 404,
          "not_found", NULL);
  expect (hub, "PUT", "/api/v1/hospitals/" UNKNOWN_ID "/beds/adult_icu", beds, 404, "not_found",
          NULL);
  expect (hub, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/spaceship", beds, 404,
          "not_found", NULL);
  expect (hub, "PATCH", "/api/v1/units/" UNKNOWN_ID, "{\"status\": \"available\"}", 404,
          "not_found", NULL);
  expect (crew, "POST", "/api/v1/patients/" UNKNOWN_ID "/observations",
          "{\"hr\": 80, \"taken_at\": 1700000000000}", 404, "not_found", NULL);
  expect (hub, "POST", "/api/v1/transfers/" UNKNOWN_ID "/crew", "{\"state\": \"en_route\"}", 404,
          "not_found", NULL);
  expect (hub, "POST", "/api/v1/messages/" UNKNOWN_ID "/retract", NULL, 404, "not_found", NULL);

  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

/* ------------------------------------------------------------------------ */
/* 405                                                                      */

typedef struct
{
  const char *method;
  const char *path;
  const char *allow;
} MethodCase;

static void
test_method_not_allowed (void)
{
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  guint n_before = count_hospitals (hub);
  const MethodCase cases[] = {
    { "DELETE", "/api/v1/hospitals", "GET, POST" },
    { "PUT", "/api/v1/hospitals", "GET, POST" },
    { "POST", "/api/v1/status", "GET" },
    { "DELETE", "/api/v1/hospitals/" FRED_BROOKS, "GET, PATCH" },
    { "PUT", "/api/v1/hospitals/" FRED_BROOKS, "GET, PATCH" },
    { "GET", "/api/v1/hospitals/" FRED_BROOKS "/beds/adult_icu", "PUT" },
    { "POST", "/api/v1/hospitals/nearest", "GET" },
    { "PATCH", "/api/v1/transfers/" UNKNOWN_ID, "GET" },
    { "GET", "/api/v1/transfers/" UNKNOWN_ID "/crew", "POST" },
    { "DELETE", "/api/v1/messages", "GET, POST" },
    { "GET", "/api/v1/messages/" UNKNOWN_ID "/retract", "POST" },
    { "POST", "/api/v1/digest", "GET" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(MhTestReply) reply = mh_test_request (hub->session, hub->url, cases[i].method,
                                                      cases[i].path, hub->token,
                                                      "application/json", "{}", -1);

      g_test_message ("%s %s", cases[i].method, cases[i].path);
      mh_test_assert_error (reply, 405, "method_not_allowed", NULL);
      g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "Allow"), ==,
                       cases[i].allow);
    }

  g_assert_cmpuint (count_hospitals (hub), ==, n_before);
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

/* ------------------------------------------------------------------------ */
/* 409                                                                      */

static char *
create_on (MhTestNode *node, const char *path, const char *body)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, "POST", path, body);

  if (reply->status != 201)
    g_error ("POST %s: %u %s", path, reply->status, reply->body);
  return g_strdup (json_object_get_string_member (mh_test_reply_object (reply), "id"));
}

static void
test_conflict_ids (void)
{
  const char *fixed_id = "3f1b9a44-2c7e-4d0a-9b8e-5a6f7c8d9e01";
  g_autofree char *fixed = g_strdup_printf ("{\"id\": \"%s\", \"name\": \"Once\", "
                                            "\"lat\": 51.5, \"lon\": -0.1}",
                                            fixed_id);
  g_autofree char *impostor = g_strdup_printf ("{\"id\": \"%s\", \"name\": \"Impostor\", "
                                               "\"lat\": 1, \"lon\": 1}",
                                               FRED_BROOKS);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  /* The same id twice, and an id the registry already holds. */
  g_free (create_on (hub, "/api/v1/hospitals", fixed));
  before = mh_test_node_digest (hub);
  expect (hub, "POST", "/api/v1/hospitals", fixed, 409, "conflict", NULL);
  expect (hub, "POST", "/api/v1/hospitals", impostor, 409, "conflict", NULL);
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

/* A transfer cannot skip a state nor leave a final one. The hub writes
 * both sides of a transfer (a dispatcher relaying by phone). */
static void
test_conflict_transfer (void)
{
  g_autofree char *patient = NULL;
  g_autofree char *transfer = NULL;
  g_autofree char *body = NULL;
  g_autofree char *crew_path = NULL;
  g_autofree char *desk_path = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *final_before = NULL;
  g_autofree char *final_after = NULL;

  patient = create_on (hub, "/api/v1/patients",
                       "{\"unit_id\": \"" UNIT "\", \"age_estimate\": 64, "
                       "\"triage\": \"immediate\", \"alert\": \"stemi\", "
                       "\"required_specialty\": 21, \"bed_category\": \"medical_surgical\"}");
  body = g_strdup_printf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\", "
                          "\"priority\": \"immediate\"}",
                          patient, FRED_BROOKS);
  transfer = create_on (hub, "/api/v1/transfers", body);
  crew_path = g_strdup_printf ("/api/v1/transfers/%s/crew", transfer);
  desk_path = g_strdup_printf ("/api/v1/transfers/%s/desk", transfer);

  before = mh_test_node_digest (hub);
  /* The desk acknowledges before it accepts; the crew leaves before it arrives. */
  expect (hub, "POST", desk_path, "{\"state\": \"accepted\"}", 409, "conflict", NULL);
  expect (hub, "POST", crew_path, "{\"state\": \"arrived\"}", 409, "conflict", NULL);
  /* Diverting needs a reason. */
  expect (hub, "POST", desk_path, "{\"state\": \"diverted\"}", 400, "invalid", "reason");
  /* States neither side can move to. */
  expect (hub, "POST", crew_path, "{\"state\": \"announced\"}", 400, "invalid", "state");
  expect (hub, "POST", crew_path, "{\"state\": \"flying\"}", 400, "invalid", "state");
  expect (hub, "POST", desk_path, "{\"state\": \"pending\"}", 400, "invalid", "state");
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);

  {
    g_autoptr(MhTestReply) reply = mh_test_node_request (hub, "POST", crew_path,
                                                         "{\"state\": \"cancelled\"}");
    g_assert_cmpuint (reply->status, ==, 200);
  }
  final_before = mh_test_node_digest (hub);
  expect (hub, "POST", crew_path, "{\"state\": \"en_route\"}", 409, "conflict", NULL);
  expect (hub, "POST", crew_path, "{\"state\": \"arrived\"}", 409, "conflict", NULL);
  expect (hub, "POST", crew_path, "{\"state\": \"cancelled\"}", 409, "conflict", NULL);
  expect (hub, "POST", desk_path, "{\"state\": \"acknowledged\"}", 409, "conflict", NULL);
  final_after = mh_test_node_digest (hub);
  g_assert_cmpstr (final_before, ==, final_after);
}

/* A crew announces only to a hospital its replica holds. */
static void
test_transfer_unknown_hospital (void)
{
  g_autofree char *patient = create_on (crew, "/api/v1/patients",
                                        "{\"age_estimate\": 30, \"triage\": \"minimal\"}");
  g_autofree char *body = g_strdup_printf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\", "
                                           "\"bed_category\": \"medical_surgical\", "
                                           "\"priority\": \"urgent\"}",
                                           patient, JULIA_CRUSHER);
  g_autofree char *before = mh_test_node_digest (crew);
  g_autofree char *after = NULL;

  expect (crew, "POST", "/api/v1/transfers", body, 400, "invalid", "hospital_id");
  after = mh_test_node_digest (crew);
  g_assert_cmpstr (before, ==, after);
}

/* ------------------------------------------------------------------------ */
/* 413, 415, 414                                                            */

static char *
body_of_size (gsize size)
{
  /* {"name":"nnnn…"}: valid JSON of exactly the size asked for. */
  GString *text = g_string_sized_new (size);

  g_assert_cmpuint (size, >, 12);
  g_string_append (text, "{\"name\":\"");
  while (text->len < size - 2)
    g_string_append_c (text, 'n');
  g_string_append (text, "\"}");
  g_assert_cmpuint (text->len, ==, size);
  return g_string_free (text, FALSE);
}

/* Sends only the headers of a huge request, asking to continue: the answer
 * must come before any of the body is sent. */
static void
assert_refused_before_body (MhTestNode *node, const char *extra_headers, guint status)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  g_autofree char *expected = g_strdup_printf ("HTTP/1.1 %u ", status);
  char answer[512] = { 0 };
  gsize got = 0;
  GInputStream *in;

  g_socket_client_set_timeout (client, 30);
  connection = g_socket_client_connect_to_uri (client, node->url, 0, NULL, &error);
  g_assert_no_error (error);
  request = g_strdup_printf ("POST /api/v1/hospitals HTTP/1.1\r\n"
                             "Host: 127.0.0.1\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 104857600\r\n"
                             "Expect: 100-continue\r\n"
                             "%s"
                             "\r\n",
                             extra_headers);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)), request,
                             strlen (request), NULL, NULL, &error);
  g_assert_no_error (error);
  in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  g_input_stream_read_all (in, answer, strlen (expected), &got, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (answer, ==, expected);
}

static void
test_too_large (void)
{
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  g_autofree char *over = body_of_size (MIB + 1);
  g_autofree char *at = body_of_size (MIB);
  g_autofree char *authorization = g_strdup_printf ("Authorization: Bearer %s\r\n", hub->token);
  guint n_before = count_hospitals (hub);

  expect (hub, "POST", "/api/v1/hospitals", over, 413, "too_large", "body");
  expect (hub, "PATCH", "/api/v1/hospitals/" FRED_BROOKS, over, 413, "too_large", "body");

  /* At the limit the body is read, and judged on what it says. */
  {
    g_autoptr(MhTestReply) reply = mh_test_node_request (hub, "POST", "/api/v1/hospitals", at);
    g_assert_cmpuint (reply->status, ==, 400);
  }

  /* A chunked body declares no length: it is cut off once over the limit. */
  {
    g_autofree char *uri = g_strconcat (hub->url, "/api/v1/hospitals", NULL);
    g_autofree char *value = g_strdup_printf ("Bearer %s", hub->token);
    g_autoptr(SoupMessage) msg = soup_message_new ("POST", uri);
    g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_data (
      g_strdup (over), strlen (over), g_free);
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GError) error = NULL;

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
    soup_message_set_request_body (msg, "application/json", stream, -1);
    answer = soup_session_send_and_read (hub->session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 413);
  }

  /* A declared length over the limit is refused on the headers alone. */
  assert_refused_before_body (hub, authorization, 413);
  /* And without a token, 401 comes first. */
  assert_refused_before_body (hub, "", 401);

  g_assert_cmpuint (count_hospitals (hub), ==, n_before);
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);
}

static void
test_media_type (void)
{
  g_autofree char *before = mh_test_node_digest (hub);
  g_autofree char *after = NULL;
  guint n_before = count_hospitals (hub);
  const char *const types[] = {
    "text/plain", "application/x-www-form-urlencoded", "application/json; charset=iso-8859-1",
    "application/jsonx", "multipart/form-data; boundary=x", NULL,
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr(MhTestReply) reply = mh_test_request (hub->session, hub->url, "POST",
                                                      "/api/v1/hospitals", hub->token, types[i],
                                                      good_hospital, -1);
      g_test_message ("type %s", types[i] != NULL ? types[i] : "(none)");
      mh_test_assert_error (reply, 415, "unsupported_media_type", NULL);
    }
  {
    g_autoptr(MhTestReply) reply = mh_test_request (
      hub->session, hub->url, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/medical_surgical",
      hub->token, "text/plain", "{\"available\": 1, \"baseline\": 2}", -1);
    mh_test_assert_error (reply, 415, "unsupported_media_type", NULL);
  }

  g_assert_cmpuint (count_hospitals (hub), ==, n_before);
  after = mh_test_node_digest (hub);
  g_assert_cmpstr (before, ==, after);

  /* The media type is case-insensitive and may name UTF-8. */
  {
    g_autoptr(MhTestReply) reply = mh_test_request (hub->session, hub->url, "POST",
                                                    "/api/v1/hospitals", hub->token,
                                                    "Application/JSON; charset=UTF-8",
                                                    good_hospital, -1);
    g_assert_cmpuint (reply->status, ==, 201);
  }
}

static void
test_uri_too_long (void)
{
  g_autofree char *filler = g_strnfill (5000, '1');
  g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/nearest?lat=48&lon=2&limit=%s",
                                           filler);

  expect (hub, "GET", path, NULL, 414, "too_long", NULL);
}

/* After every kind of error, the node still answers. */
static void
test_still_serving (void)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (hub, "GET", "/api/v1/status", NULL);

  g_assert_cmpuint (reply->status, ==, 200);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  hub = mh_test_node_new ("hub", "Test hub", NULL);
  desk = mh_test_node_new ("hospital", "Fred Brooks desk", FRED_BROOKS);
  crew = mh_test_node_new ("ambulance", "MH-AMB-01", UNIT);
  mh_test_node_import (hub, SCENARIO);
  mh_test_node_import_part (desk, SCENARIO, FRED_BROOKS, NULL);
  mh_test_node_import_part (crew, SCENARIO, NULL, UNIT);
  mh_test_node_start (hub);
  mh_test_node_start (desk);
  mh_test_node_start (crew);

  g_test_add_func ("/api/auth/missing", test_auth_missing);
  g_test_add_func ("/api/auth/wrong", test_auth_wrong);
  g_test_add_func ("/api/errors/malformed-json", test_malformed_json);
  g_test_add_func ("/api/errors/invalid-query", test_invalid_query);
  g_test_add_func ("/api/errors/invalid-body", test_invalid_body);
  g_test_add_func ("/api/errors/invalid-partial", test_invalid_partial_patch);
  g_test_add_func ("/api/errors/forbidden", test_forbidden);
  g_test_add_func ("/api/errors/not-found", test_not_found);
  g_test_add_func ("/api/errors/method-not-allowed", test_method_not_allowed);
  g_test_add_func ("/api/errors/conflict-ids", test_conflict_ids);
  g_test_add_func ("/api/errors/conflict-transfer", test_conflict_transfer);
  g_test_add_func ("/api/errors/transfer-unknown-hospital", test_transfer_unknown_hospital);
  g_test_add_func ("/api/errors/too-large", test_too_large);
  g_test_add_func ("/api/errors/media-type", test_media_type);
  g_test_add_func ("/api/errors/uri-too-long", test_uri_too_long);
  g_test_add_func ("/api/errors/still-serving", test_still_serving);

  status = g_test_run ();

  g_assert_cmpint (mh_test_node_stop (hub, SIGTERM), ==, 0);
  g_assert_cmpint (mh_test_node_stop (desk, SIGTERM), ==, 0);
  g_assert_cmpint (mh_test_node_stop (crew, SIGTERM), ==, 0);
  mh_test_node_free (hub);
  mh_test_node_free (desk);
  mh_test_node_free (crew);
  return status;
}

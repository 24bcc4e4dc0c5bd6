/* test-network.c: nodes that replicate to each other, as real processes
 *
 * Every test starts its own `medhead-node serve` processes on 127.0.0.1
 * with free ports, pins them to each other with `peer add` on both ends,
 * and drives them through the REST API: writes on one node, reads on the
 * others, and the digests to show that two replicas hold the same data.
 * The faults are real too: SIGKILL, restarts on the same data folder,
 * links removed and added again, clocks skewed, a data folder restored
 * from an earlier copy, and a hand-written client that sends malformed
 * frames on the sync port.
 *
 * Each node's output goes to serve.log next to its data folder; when a
 * wait times out, every node's log tail and status are printed before the
 * test fails. MEDHEAD_KEEP_TMP keeps the folders, MEDHEAD_SEED replays the
 * random topology tests.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "mh-medhead-schema.h"
#include "mh-replicator.h"
#include "mh-test-net.h"
#include "mh-test-util.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define JULIA_CRUSHER "80ad8487-7af0-5ce6-8474-7df023d61e10"
#define BEVERLY_BASHIR "08960b65-9680-58bf-8c7f-195ceedb302b"
#define UNIT "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
#define SCENARIO "data/demo/reference-scenario.json"

#define ONE_YEAR_MS "31536000000"
#define TEN_MINUTES_BEHIND_MS "-600000"

static const char *const bed_categories[] = {
  "adult_icu", "pediatric_icu", "medical_surgical", "pediatrics", "psychiatric", "burn",
  "negative_pressure_isolation", "other_isolation", "operating_rooms",
};

static const char *const unit_statuses[] = {
  "available", "dispatched", "en_route", "on_scene", "transporting", "at_hospital",
};

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

/* A field of a hospital's bed category as net shows it; -1 if absent. */
static gint64
bed_value (Net *net, const char *hospital_id, const char *category, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s", hospital_id);
  g_autoptr(JsonObject) hospital = net_get (net, path);
  JsonObject *beds;

  if (hospital == NULL || !json_object_has_member (hospital, "beds"))
    return -1;
  beds = json_object_get_object_member (hospital, "beds");
  if (!json_object_has_member (beds, category))
    return -1;
  return json_object_get_int_member_with_default (json_object_get_object_member (beds, category),
                                                  field, -1);
}

static char *
string_at (Net *net, const char *path, const char *member)
{
  g_autoptr(JsonObject) object = net_get (net, path);

  if (object == NULL)
    return NULL;
  return g_strdup (json_object_get_string_member_with_default (object, member, NULL));
}

static gboolean
string_at_is (Net *net, const char *path, const char *member, const char *expected)
{
  g_autofree char *value = string_at (net, path, member);

  return g_strcmp0 (value, expected) == 0;
}

/* Whether NET holds UNIT_ID with the ALS capability and a position. */
static gboolean
unit_is_ready (Net *net, const char *unit_id)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/units/%s", unit_id);
  g_autoptr(JsonObject) unit = net_get (net, path);
  JsonNode *capabilities;
  gboolean als = FALSE;

  if (unit == NULL || !json_object_has_member (unit, "lat")
      || json_object_get_null_member (unit, "lat"))
    return FALSE;
  capabilities = json_object_get_member (unit, "capabilities");
  if (capabilities == NULL || !JSON_NODE_HOLDS_ARRAY (capabilities))
    return FALSE;
  for (guint i = 0; i < json_array_get_length (json_node_get_array (capabilities)); i++)
    als |= g_strcmp0 (json_array_get_string_element (json_node_get_array (capabilities), i),
                      "als") == 0;
  return als;
}

/* ------------------------------------------------------------------------ */
/* A line: hospital - hub - ambulance                                       */

static void
test_line (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Line hub", NULL);
  g_autoptr(Net) hospital = net_new ("hospital", "Fred Brooks desk", FRED_BROOKS);
  g_autoptr(Net) ambulance = net_new ("ambulance", "MH-AMB-01 crew", UNIT);
  g_autoptr(JsonObject) status = NULL;
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(JsonObject) answered = NULL;
  g_autoptr(JsonArray) incoming = NULL;
  g_autofree char *message = NULL;
  g_autofree char *body = NULL;
  g_autofree char *transfer_path = NULL;
  g_autofree char *desk_path = NULL;
  Net *all[3];
  JsonObject *entry;
  gboolean listed = FALSE;

  /* Only the hub holds the registry: the hospital and the ambulance learn
   * their own hospital and unit from it. */
  mh_test_node_import (hub->node, SCENARIO);
  hub->listen = TRUE;
  hospital->listen = TRUE;
  net_start (hub);
  net_start (hospital);
  net_start (ambulance);

  /* The hub knows where the hospital is. Only the ambulance knows where
   * the hub is: the hub pins it without an address. */
  net_link (hub, hospital);
  net_link (ambulance, hub);
  wait_linked (hub, hospital);
  wait_linked (ambulance, hub);

  status = net_status (hub);
  entry = status_peer (status, ambulance->fingerprint);
  g_assert_nonnull (entry);
  g_assert_null (json_object_get_string_member_with_default (entry, "url", NULL));
  g_assert_cmpstr (json_object_get_string_member (entry, "direction"), ==, "incoming");
  g_assert_cmpstr (json_object_get_string_member (entry, "site_id"), ==, ambulance->site_id);
  entry = status_peer (status, hospital->fingerprint);
  g_assert_nonnull (entry);
  g_assert_cmpstr (json_object_get_string_member (entry, "direction"), ==, "outgoing");
  g_assert_cmpstr (json_object_get_string_member (entry, "site_id"), ==, hospital->site_id);

  /* A bed count at the hospital crosses the hub to the ambulance. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (hospital, "/api/v1/hospitals/" FRED_BROOKS),
              "the hospital's own registry entry did not reach it");
  answered = net_send (hospital, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/adult_icu",
                       "{\"available\": 7, \"baseline\": 9}", 200);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, bed_value (ambulance, FRED_BROOKS, "adult_icu", "available") == 7,
              "the hospital's bed count did not reach the ambulance");
  g_assert_cmpint (bed_value (hub, FRED_BROOKS, "adult_icu", "available"), ==, 7);

  /* The crew's message and bed request cross it the other way. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (ambulance, "/api/v1/units/" UNIT),
              "the ambulance's own unit did not reach it");
  message = net_post_message (ambulance, "hospital:" FRED_BROOKS,
                              "MH-AMB-01 inbound, suspected stroke, ETA 12 min");
  patient = net_send (ambulance, "POST", "/api/v1/patients",
                      "{\"age_estimate\": 70, \"sex\": \"female\", \"triage\": \"immediate\", "
                      "\"alert\": \"stroke\", \"required_specialty\": 21, "
                      "\"bed_category\": \"medical_surgical\"}",
                      201);
  body = g_strdup_printf ("{\"patient_id\": \"%s\", \"hospital_id\": \"" FRED_BROOKS "\", "
                          "\"priority\": \"immediate\"}",
                          json_object_get_string_member (patient, "id"));
  transfer = net_send (ambulance, "POST", "/api/v1/transfers", body, 201);
  transfer_path = g_strdup_printf ("/api/v1/transfers/%s",
                                   json_object_get_string_member (transfer, "id"));

  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (hospital, message),
              "the crew's message did not reach the hospital");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (hospital, transfer_path),
              "the transfer did not reach the hospital");
  incoming = net_get_array (hospital, "/api/v1/transfers?hospital=" FRED_BROOKS);
  for (guint i = 0; i < json_array_get_length (incoming); i++)
    listed |= g_strcmp0 (json_object_get_string_member (
                           json_array_get_object_element (incoming, i), "id"),
                         json_object_get_string_member (transfer, "id")) == 0;
  g_assert_true (listed);

  /* The desk's answer, and the bed it promises, go back to the crew. */
  desk_path = g_strdup_printf ("%s/desk", transfer_path);
  g_clear_pointer (&answered, json_object_unref);
  answered = net_send (hospital, "POST", desk_path, "{\"state\": \"acknowledged\"}", 200);
  g_clear_pointer (&answered, json_object_unref);
  answered = net_send (hospital, "POST", desk_path, "{\"state\": \"accepted\"}", 200);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, string_at_is (ambulance, transfer_path, "state", "accepted"),
              "the desk's answer did not reach the crew");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              bed_value (ambulance, FRED_BROOKS, "medical_surgical", "committed_inbound") == 1,
              "the bed promised to the transfer did not reach the crew");

  all[0] = hub;
  all[1] = hospital;
  all[2] = ambulance;
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (all, 3), "the line did not converge:%s",
              describe_digests (all, 3));

  net_terminate (ambulance);
  net_terminate (hospital);
  net_terminate (hub);
}

/* ------------------------------------------------------------------------ */
/* Retention: a station evicts a patient once a hub holds it                */

/* Here, not at the top: the replica file is read directly below only. */
#include <sqlite3.h>

/* Whether the replica file holds the row, read with SQLite directly (the
 * node may be running: WAL readers do not disturb it). */
static gboolean
replica_has (Net *net, const char *table, const char *id)
{
  g_autofree char *path = g_build_filename (net->node->dir, "replica.db", NULL);
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM \"%s\" WHERE id = ?", table);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 n;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  n = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return n > 0;
}

typedef struct
{
  char *patient;
  char *observation;
  char *transfer;
  char *message;
} Case;

static void
case_clear (Case *c)
{
  g_free (c->patient);
  g_free (c->observation);
  g_free (c->transfer);
  g_free (c->message);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Case, case_clear)

/* A patient with an observation, a transfer, a message on its channel,
 * and the transfer ended (@end: "arrived" or "cancelled"). */
static void
case_make (Net *ambulance, Case *c, const char *end)
{
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(JsonObject) observation = NULL;
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(JsonObject) done = NULL;
  g_autofree char *body = NULL;
  g_autofree char *path = NULL;
  g_autofree char *channel = NULL;

  patient = net_send (ambulance, "POST", "/api/v1/patients",
                      "{\"age_estimate\": 60, \"triage\": \"delayed\", "
                      "\"bed_category\": \"medical_surgical\"}", 201);
  c->patient = g_strdup (json_object_get_string_member (patient, "id"));
  path = g_strdup_printf ("/api/v1/patients/%s/observations", c->patient);
  observation = net_send (ambulance, "POST", path, "{\"hr\": 112, \"spo2\": 95}", 201);
  /* Rows under a patient are keyed PATIENT/ID. */
  c->observation = g_strdup_printf ("%s/%s", c->patient,
                                    json_object_get_string_member (observation, "id"));
  body = g_strdup_printf ("{\"patient_id\": \"%s\", \"hospital_id\": \"" FRED_BROOKS "\", "
                          "\"priority\": \"urgent\"}", c->patient);
  transfer = net_send (ambulance, "POST", "/api/v1/transfers", body, 201);
  c->transfer = g_strdup (json_object_get_string_member (transfer, "id"));
  channel = g_strdup_printf ("transfer:%s", c->transfer);
  c->message = net_post_message (ambulance, channel, "ETA 10 min");
  g_free (path);
  path = g_strdup_printf ("/api/v1/transfers/%s/crew", c->transfer);
  if (g_str_equal (end, "arrived"))
    {
      done = net_send (ambulance, "POST", path, "{\"state\": \"en_route\"}", 200);
      g_clear_pointer (&done, json_object_unref);
    }
  g_free (body);
  body = g_strdup_printf ("{\"state\": \"%s\"}", end);
  done = net_send (ambulance, "POST", path, body, 200);
}

static gboolean
case_held (Net *net, const Case *c)
{
  return replica_has (net, "patient", c->patient) && replica_has (net, "observation", c->observation)
         && replica_has (net, "transfer", c->transfer) && replica_has (net, "message", c->message);
}

static gboolean
case_gone (Net *net, const Case *c)
{
  return !replica_has (net, "patient", c->patient)
         && !replica_has (net, "observation", c->observation)
         && !replica_has (net, "transfer", c->transfer)
         && !replica_has (net, "message", c->message);
}

static gint64
retention_int (Net *net, const char *member)
{
  g_autoptr(JsonObject) status = net_get (net, "/api/v1/retention");

  return json_object_get_int_member (status, member);
}

/* 1 when the retention status lists the patient as held by a hub, 0 when
 * not yet, -1 when it is not listed. */
static int
retention_delivered (Net *net, const char *patient_id)
{
  g_autoptr(JsonObject) status = net_get (net, "/api/v1/retention");
  JsonArray *patients = json_object_get_array_member (status, "patients");

  for (guint i = 0; i < json_array_get_length (patients); i++)
    {
      JsonObject *entry = json_array_get_object_element (patients, i);
      if (g_strcmp0 (json_object_get_string_member (entry, "patient_id"), patient_id) == 0)
        return json_object_get_boolean_member (entry, "delivered") ? 1 : 0;
    }
  return -1;
}

static JsonArray *
sweep (Net *net)
{
  g_autoptr(JsonObject) answer = net_send (net, "POST", "/api/v1/retention/sweep", NULL, 200);

  return json_array_ref (json_object_get_array_member (answer, "evicted"));
}

static gboolean
array_has_string (JsonArray *array, const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (g_strcmp0 (json_array_get_string_element (array, i), value) == 0)
      return TRUE;
  return FALSE;
}

static void
test_retention (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Retention hub", NULL);
  g_autoptr(Net) ambulance = net_new ("ambulance", "MH-AMB-01 crew", UNIT);
  g_auto(Case) delivered = { 0 };
  g_auto(Case) undelivered = { 0 };
  g_autoptr(JsonArray) evicted = NULL;
  g_autoptr(MhTestReply) seen = NULL;
  g_autofree char *seen_path = NULL;
  g_autofree char *receipt = NULL;
  g_autofree char *offset = g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) 25 * 3600 * 1000);

  mh_test_node_import (hub->node, SCENARIO);
  hub->listen = TRUE;
  net_start (hub);
  net_start (ambulance);
  net_link (ambulance, hub);
  wait_linked (ambulance, hub);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (ambulance, "/api/v1/units/" UNIT),
              "the ambulance's own unit did not reach it");

  /* Handed over, and delivered to the hub. */
  case_make (ambulance, &delivered, "arrived");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, case_held (hub, &delivered),
              "the handed-over patient did not reach the hub");
  WAIT_UNTIL (LINK_TIMEOUT_S, retention_delivered (ambulance, delivered.patient) == 1,
              "the ambulance did not learn that the hub holds the patient");
  /* Not yet due: nothing goes. */
  evicted = sweep (ambulance);
  g_assert_cmpuint (json_array_get_length (evicted), ==, 0);
  g_assert_true (case_held (ambulance, &delivered));

  /* Cancelled while no hub is reachable. */
  net_terminate (hub);
  case_make (ambulance, &undelivered, "cancelled");
  g_assert_cmpint (retention_delivered (ambulance, undelivered.patient), ==, 0);

  /* A day and an hour later on the ambulance's clock. */
  net_terminate (ambulance);
  net_setenv (ambulance, "MEDHEAD_TEST_TIME_OFFSET_MS", offset);
  net_start (ambulance);
  g_clear_pointer (&evicted, json_array_unref);
  evicted = sweep (ambulance); /* the start already swept: this one finds no more */
  g_assert_false (array_has_string (evicted, undelivered.patient));
  g_assert_true (case_gone (ambulance, &delivered));
  receipt = g_strdup_printf ("%s/%s", hub->site_id, delivered.transfer);
  g_assert_false (replica_has (ambulance, "receipt", receipt));
  g_assert_true (case_held (ambulance, &undelivered));
  g_assert_cmpint (retention_int (ambulance, "evicted_rows"), >=, 4);
  {
    g_autofree char *path = g_strdup_printf ("/api/v1/patients/%s", delivered.patient);
    g_autoptr(MhTestReply) reply = mh_test_node_request (ambulance->node, "GET", path, NULL);
    g_assert_cmpuint (reply->status, ==, 404);
  }
  /* The hub keeps it (its audit period is years). */
  g_assert_true (case_held (hub, &delivered));

  /* The hub comes back: a late change to the evicted rows is dropped,
   * and the undelivered patient, once the hub holds it, goes too. */
  net_start (hub);
  wait_linked (ambulance, hub);
  seen_path = g_strdup_printf ("/api/v1/transfers/%s/seen", delivered.transfer);
  seen = mh_test_node_request (hub->node, "POST", seen_path, NULL);
  g_assert_cmpuint (seen->status, ==, 200);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, retention_int (ambulance, "dropped_late_changes") >= 1,
              "the hub's late change to an evicted row was not dropped");
  g_assert_true (case_gone (ambulance, &delivered));
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, case_held (hub, &undelivered),
              "the cancelled patient did not reach the hub");
  WAIT_UNTIL (LINK_TIMEOUT_S, retention_delivered (ambulance, undelivered.patient) == 1,
              "the ambulance did not learn that the hub holds the cancelled patient");
  g_clear_pointer (&evicted, json_array_unref);
  evicted = sweep (ambulance);
  g_assert_true (array_has_string (evicted, undelivered.patient));
  g_assert_true (case_gone (ambulance, &undelivered));
  g_assert_true (case_held (hub, &undelivered));

  net_terminate (ambulance);
  net_terminate (hub);
}

/* ------------------------------------------------------------------------ */
/* Star and mesh, with random writes while links are cut and restored      */

#define CHAOS_NODES 5
#define CHAOS_ROUNDS 12
#define CHAOS_MAX_EDGES 10

typedef struct
{
  Net *net;
  const char *hospital_id; /* a hospital node's own hospital */
  gboolean is_ambulance;
  gboolean is_hub;
  gboolean up;
  GHashTable *beds; /* category -> last acknowledged available, + 1 */
} Member;

typedef struct
{
  guint caller;
  guint listener;
  gboolean up;
} Edge;

typedef struct
{
  GRand *rand;
  Member members[CHAOS_NODES];
  Edge edges[CHAOS_MAX_EDGES];
  guint n_edges;
  GPtrArray *messages;  /* ids of the acknowledged messages */
  char *unit_status;    /* the last acknowledged status of the unit */
  double unit_lat;      /* and its position */
  GHashTable *phones;   /* hospital id -> last acknowledged switchboard */
  guint writes;
  guint kills;
  guint drops;
} Chaos;

static void
chaos_write (Chaos *chaos, Member *member, guint round, guint n)
{
  guint kind = g_rand_int_range (chaos->rand, 0, 2);

  /* Every site may post on the broadcast channel; the other writes are
   * each node's own: its hospital's beds, its unit, the registry. */
  if (kind == 0)
    {
      g_autofree char *text = g_strdup_printf ("round %u write %u from %s", round, n,
                                               member->net->label);
      g_ptr_array_add (chaos->messages, net_post_message (member->net, "broadcast", text));
    }
  else if (member->hospital_id != NULL)
    {
      const char *category = bed_categories[g_rand_int_range (chaos->rand, 0,
                                                              G_N_ELEMENTS (bed_categories))];
      gint available = g_rand_int_range (chaos->rand, 0, 30);
      g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s/beds/%s",
                                               member->hospital_id, category);
      g_autofree char *body = g_strdup_printf ("{\"available\": %d, \"baseline\": 30}",
                                               available);
      g_autoptr(JsonObject) bed = net_send (member->net, "PUT", path, body, 200);

      g_hash_table_insert (member->beds, (gpointer) category, GINT_TO_POINTER (available + 1));
    }
  else if (member->is_ambulance)
    {
      const char *state = unit_statuses[g_rand_int_range (chaos->rand, 0,
                                                          G_N_ELEMENTS (unit_statuses))];
      g_autofree char *body = g_strdup_printf ("{\"status\": \"%s\", \"lat\": 51.5%02u%02u, "
                                               "\"lon\": -0.12, \"accuracy_m\": 10}",
                                               state, round, n);
      g_autoptr(JsonObject) unit = net_send (member->net, "PATCH", "/api/v1/units/" UNIT, body,
                                             200);

      g_free (chaos->unit_status);
      chaos->unit_status = g_strdup (state);
      /* The position goes in its own lane, coalesced to the latest. */
      chaos->unit_lat = json_object_get_double_member (unit, "lat");
    }
  else if (member->is_hub)
    {
      static const char *const hospitals[] = { FRED_BROOKS, JULIA_CRUSHER, BEVERLY_BASHIR };
      const char *hospital_id = hospitals[g_rand_int_range (chaos->rand, 0, 3)];
      g_autofree char *phone = g_strdup_printf ("+44 20 7000 %02u%02u", round, n);
      g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s", hospital_id);
      g_autofree char *body = g_strdup_printf ("{\"phone_switchboard\": \"%s\"}", phone);
      g_autoptr(JsonObject) hospital = net_send (member->net, "PATCH", path, body, 200);

      g_hash_table_insert (chaos->phones, (gpointer) hospital_id, g_steal_pointer (&phone));
    }
  chaos->writes++;
}

static void
chaos_restore (Chaos *chaos)
{
  for (guint i = 0; i < CHAOS_NODES; i++)
    if (!chaos->members[i].up)
      {
        net_start (chaos->members[i].net);
        chaos->members[i].up = TRUE;
      }
  for (guint e = 0; e < chaos->n_edges; e++)
    if (!chaos->edges[e].up)
      {
        net_pin (chaos->members[chaos->edges[e].caller].net,
                 chaos->members[chaos->edges[e].listener].net, TRUE);
        chaos->edges[e].up = TRUE;
      }
}

static void
chaos_fault (Chaos *chaos)
{
  guint what = g_rand_int_range (chaos->rand, 0, 10);

  if (what < 5)
    {
      /* SIGKILL: whatever was acknowledged is on disk, the rest of the
       * link's traffic is lost in flight. */
      Member *member = &chaos->members[g_rand_int_range (chaos->rand, 0, CHAOS_NODES)];

      net_kill (member->net);
      member->up = FALSE;
      chaos->kills++;
    }
  else if (what < 7)
    {
      Edge *edge = &chaos->edges[g_rand_int_range (chaos->rand, 0, chaos->n_edges)];
      Net *caller = chaos->members[edge->caller].net;
      Net *listener = chaos->members[edge->listener].net;

      if (!edge->up || !chaos->members[edge->caller].up || !chaos->members[edge->listener].up)
        return;
      /* The caller forgets the listener, which drops the link. */
      net_unpin (caller, listener);
      WAIT_UNTIL (LINK_TIMEOUT_S, !net_connected (listener, caller),
                  "%s kept its link with %s after removing it", caller->label, listener->label);
      edge->up = FALSE;
      chaos->drops++;
    }
}

static void
chaos_check (Chaos *chaos)
{
  Net *all[CHAOS_NODES];

  for (guint i = 0; i < CHAOS_NODES; i++)
    all[i] = chaos->members[i].net;
  for (guint e = 0; e < chaos->n_edges; e++)
    wait_linked (all[chaos->edges[e].caller], all[chaos->edges[e].listener]);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (all, CHAOS_NODES),
              "no convergence after %u writes, %u kills, %u links dropped:%s", chaos->writes,
              chaos->kills, chaos->drops, describe_digests (all, CHAOS_NODES));
  /* Honest nodes all: after a few rounds of questions about the holes
   * the faults left, nobody is counted as withholding. */
  g_usleep (G_USEC_PER_SEC);
  for (guint i = 0; i < CHAOS_NODES; i++)
    {
      g_autoptr(JsonObject) status = net_status (all[i]);
      JsonArray *peers = json_object_get_array_member (status, "peers");

      for (guint j = 0; j < json_array_get_length (peers); j++)
        {
          JsonObject *peer = json_array_get_object_element (peers, j);

          if (json_object_get_int_member_with_default (peer, "withheld", 0) != 0)
            fail_dump ("%s counts %s as withholding after %u kills, %u links dropped",
                       all[i]->label,
                       json_object_get_string_member_with_default (peer, "name", "?"),
                       chaos->kills, chaos->drops);
        }
    }

  /* Equal digests could still be equally wrong: every write that was
   * answered 2xx must be there, on every node. */
  for (guint i = 0; i < CHAOS_NODES; i++)
    {
      Net *net = all[i];
      g_autoptr(JsonArray) listed = net_get_array (net, "/api/v1/messages?channel=broadcast"
                                                        "&limit=1000");
      g_autoptr(GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
      GHashTableIter iter;
      gpointer key, value;

      for (guint m = 0; m < json_array_get_length (listed); m++)
        g_hash_table_add (ids, (gpointer) json_object_get_string_member (
                                 json_array_get_object_element (listed, m), "id"));
      for (guint m = 0; m < chaos->messages->len; m++)
        if (!g_hash_table_contains (ids, g_ptr_array_index (chaos->messages, m)))
          fail_dump ("%s lacks acknowledged message %s", net->label,
                     (const char *) g_ptr_array_index (chaos->messages, m));

      for (guint h = 0; h < CHAOS_NODES; h++)
        {
          Member *writer = &chaos->members[h];

          if (writer->hospital_id == NULL)
            continue;
          g_hash_table_iter_init (&iter, writer->beds);
          while (g_hash_table_iter_next (&iter, &key, &value))
            {
              gint64 shown = bed_value (net, writer->hospital_id, key, "available");

              if (shown != GPOINTER_TO_INT (value) - 1)
                fail_dump ("%s shows %" G_GINT64_FORMAT " %s beds at %s; %s reported %d last",
                           net->label, shown, (const char *) key, writer->hospital_id,
                           writer->net->label, GPOINTER_TO_INT (value) - 1);
            }
        }

      if (chaos->unit_status != NULL)
        {
          g_autoptr(JsonObject) unit = net_get (net, "/api/v1/units/" UNIT);
          const char *shown = unit ? json_object_get_string_member (unit, "status") : NULL;

          if (g_strcmp0 (shown, chaos->unit_status) != 0)
            fail_dump ("%s shows the unit %s; the crew reported %s last", net->label, shown,
                       chaos->unit_status);
          if (ABS (json_object_get_double_member (unit, "lat") - chaos->unit_lat) > 1e-9)
            fail_dump ("%s shows the unit at latitude %f; the crew reported %f last", net->label,
                       json_object_get_double_member (unit, "lat"), chaos->unit_lat);
        }

      g_hash_table_iter_init (&iter, chaos->phones);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s", (const char *) key);
          g_autofree char *shown = string_at (net, path, "phone_switchboard");

          if (g_strcmp0 (shown, value) != 0)
            fail_dump ("%s shows switchboard %s for %s; the hub wrote %s last", net->label, shown,
                       (const char *) key, (const char *) value);
        }
    }
}

static void
run_chaos (gboolean mesh)
{
  guint32 seed = mh_test_seed_from_env (g_random_int ());
  Chaos chaos = { 0 };
  const char *hospitals[] = { FRED_BROOKS, JULIA_CRUSHER, BEVERLY_BASHIR };
  const char *desks[] = { "Fred Brooks desk", "Julia Crusher desk", "Beverly Bashir desk" };
  Member *members = chaos.members;

  g_test_message ("seed %u (MEDHEAD_SEED=%u replays this run)", seed, seed);
  chaos.rand = g_rand_new_with_seed (seed);
  chaos.messages = g_ptr_array_new_with_free_func (g_free);
  chaos.phones = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  /* A hub with the registry, three hospital desks and a crew. */
  members[0].net = net_new ("hub", "Hub", NULL);
  members[0].is_hub = TRUE;
  mh_test_node_import (members[0].net->node, SCENARIO);
  for (guint i = 0; i < 3; i++)
    {
      members[1 + i].net = net_new ("hospital", desks[i], hospitals[i]);
      members[1 + i].hospital_id = hospitals[i];
    }
  members[4].net = net_new ("ambulance", "MH-AMB-01 crew", UNIT);
  members[4].is_ambulance = TRUE;

  for (guint i = 0; i < CHAOS_NODES; i++)
    {
      members[i].beds = g_hash_table_new (g_str_hash, g_str_equal);
      members[i].net->listen = mesh || i == 0;
      members[i].up = TRUE;
      /* Gaps asked about within the run: cuts and restarts must not make
       * an honest node look like it withholds. */
      net_setenv (members[i].net, "MEDHEAD_TEST_GAP_MS", "200");
      net_start (members[i].net);
    }

  /* The star: every station calls the hub. The mesh: everyone is pinned
   * with everyone; each calls the next one round the ring and the one
   * after (the chords), so every pair has exactly one caller. */
  if (mesh)
    for (guint i = 0; i < CHAOS_NODES; i++)
      for (guint step = 1; step <= 2; step++)
        chaos.edges[chaos.n_edges++] = (Edge) { i, (i + step) % CHAOS_NODES, TRUE };
  else
    for (guint i = 1; i < CHAOS_NODES; i++)
      chaos.edges[chaos.n_edges++] = (Edge) { i, 0, TRUE };
  for (guint e = 0; e < chaos.n_edges; e++)
    net_link (members[chaos.edges[e].caller].net, members[chaos.edges[e].listener].net);
  for (guint e = 0; e < chaos.n_edges; e++)
    wait_linked (members[chaos.edges[e].caller].net, members[chaos.edges[e].listener].net);

  /* A desk writes its beds once its hospital's registry entry is there. */
  for (guint i = 1; i <= 3; i++)
    {
      g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s", members[i].hospital_id);

      WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (members[i].net, path),
                  "%s did not receive its hospital", members[i].net->label);
    }
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (members[4].net, "/api/v1/units/" UNIT),
              "the crew did not receive its unit");

  for (guint round = 0; round < CHAOS_ROUNDS; round++)
    {
      chaos_restore (&chaos);
      for (guint i = 0; i < CHAOS_NODES; i++)
        {
          guint n = g_rand_int_range (chaos.rand, 1, 4);

          for (guint w = 0; w < n && members[i].up; w++)
            chaos_write (&chaos, &members[i], round, w);
        }
      chaos_fault (&chaos);
      /* Let some of the changes cross, not all: the next fault cuts the
       * rest in flight. */
      g_usleep (g_rand_int_range (chaos.rand, 20, 300) * 1000);
    }
  chaos_restore (&chaos);
  g_test_message ("%u writes, %u kills, %u links dropped and restored", chaos.writes,
                  chaos.kills, chaos.drops);
  chaos_check (&chaos);

  for (guint i = 0; i < CHAOS_NODES; i++)
    {
      net_terminate (members[i].net);
      net_free (members[i].net);
      g_hash_table_unref (members[i].beds);
    }
  g_ptr_array_unref (chaos.messages);
  g_hash_table_unref (chaos.phones);
  g_free (chaos.unit_status);
  g_rand_free (chaos.rand);
}

static void
test_star (void)
{
  run_chaos (FALSE);
}

static void
test_mesh (void)
{
  run_chaos (TRUE);
}

/* ------------------------------------------------------------------------ */
/* SIGKILL in the middle of a large catch-up                                */

/* Enough hospitals that a first sync takes a while: every one with all
 * its bed categories, each its own row. */
#define CATCH_UP_HOSPITALS 2000

static void
test_catch_up_killed (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Catch-up hub", NULL);
  g_autoptr(Net) control = net_new ("hub", "Control", NULL);
  g_autoptr(Net) fresh = net_new ("hub", "Fresh", NULL);
  g_autoptr(JsonNode) registry = net_large_registry (CATCH_UP_HOSPITALS);
  g_autoptr(JsonObject) status = NULL;
  gint64 total, full_bytes, waiting = -1, bytes_at_kill = 0, bytes_before, waiting_after;
  gint64 resumed_bytes;
  gint64 deadline;
  Net *pair[2];

  mh_test_node_import_document (hub->node, registry);
  hub->listen = TRUE;
  net_start (hub);
  status = net_status (hub);
  total = json_object_get_int_member (status, "last_seq");
  g_test_message ("the hub's log holds %" G_GINT64_FORMAT " entries", total);

  /* What a whole first sync costs, to compare with. */
  net_start (control);
  net_link (control, hub);
  pair[0] = hub;
  pair[1] = control;
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (pair, 2), "the control did not catch up:%s",
              describe_digests (pair, 2));
  WAIT_UNTIL (LINK_TIMEOUT_S, net_peer_int (hub, control, "changes_waiting") == 0,
              "the hub still waits for the control's acknowledgements");
  full_bytes = net_peer_int (hub, control, "bytes_sent");
  g_test_message ("a whole first sync: %" G_GINT64_FORMAT " bytes", full_bytes);
  net_terminate (control);

  /* The hub's API answers while it sends: watch the catch-up from there,
   * and kill the fresh node once it holds some but not all. */
  net_start (fresh);
  net_link (fresh, hub);
  deadline = g_get_monotonic_time () + CONVERGE_TIMEOUT_S * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr(JsonObject) now = net_status (hub);
      JsonObject *entry = status_peer (now, fresh->fingerprint);

      if (entry != NULL && json_object_get_boolean_member (entry, "connected"))
        {
          waiting = json_object_get_int_member (entry, "changes_waiting");
          bytes_at_kill = json_object_get_int_member (entry, "bytes_sent");
          if (waiting <= total * 65 / 100)
            break;
        }
      if (g_get_monotonic_time () > deadline)
        fail_dump ("the fresh node's catch-up did not start");
      g_usleep (10 * 1000);
    }
  net_kill (fresh);
  g_test_message ("killed with %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " entries waiting, "
                  "after %" G_GINT64_FORMAT " bytes",
                  waiting, total, bytes_at_kill);
  if (waiting < total * 15 / 100)
    fail_dump ("the catch-up went too fast to interrupt (%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
               " left): raise CATCH_UP_HOSPITALS",
               waiting, total);
  WAIT_UNTIL (LINK_TIMEOUT_S, !net_connected (hub, fresh), "the hub did not see the link cut");
  /* Counters run over the peer's life, whatever links it took: what had
   * crossed when the link was cut is what the hub recorded then. */
  bytes_before = net_peer_int (hub, fresh, "bytes_sent");
  g_assert_cmpint (bytes_before, >=, bytes_at_kill);

  /* Back on the same folder: it calls the hub with the cursors it
   * committed, and the hub resumes from them. From zero, the hub would
   * count every entry as waiting again. */
  net_start (fresh);
  deadline = g_get_monotonic_time () + LINK_TIMEOUT_S * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr(JsonObject) now = net_status (hub);
      JsonObject *entry = status_peer (now, fresh->fingerprint);

      if (entry != NULL && json_object_get_boolean_member (entry, "connected"))
        {
          waiting_after = json_object_get_int_member (entry, "changes_waiting");
          break;
        }
      if (g_get_monotonic_time () > deadline)
        fail_dump ("the fresh node did not link again");
      g_usleep (5 * 1000);
    }
  g_test_message ("after the restart, %" G_GINT64_FORMAT " entries waiting", waiting_after);
  g_assert_cmpint (waiting_after, <=, waiting);

  pair[1] = fresh;
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (pair, 2), "the fresh node did not converge:%s",
              describe_digests (pair, 2));
  WAIT_UNTIL (LINK_TIMEOUT_S, net_peer_int (hub, fresh, "changes_waiting") == 0,
              "the hub still waits for the fresh node's acknowledgements");
  resumed_bytes = net_peer_int (hub, fresh, "bytes_sent") - bytes_before;
  g_test_message ("the resumed link carried %" G_GINT64_FORMAT " bytes", resumed_bytes);
  /* At least half of what crossed before the kill did not cross again. */
  g_assert_cmpint (resumed_bytes, <, full_bytes - bytes_before / 2);

  net_terminate (fresh);
  net_terminate (hub);
}

/* ------------------------------------------------------------------------ */
/* Clocks                                                                   */

static gboolean
net_clock_alarm (Net *net)
{
  g_autoptr(JsonObject) status = net_status (net);

  return json_object_get_boolean_member (status, "clock_alarm");
}

static gint64
net_count (Net *net, const char *name)
{
  g_autoptr(JsonObject) status = net_status (net);

  return status_count (status, name);
}

/* A hub hears n_right nodes with a right clock (itself included) and one a
 * year ahead, which links last. */
static void
run_clock_ahead (guint n_right)
{
  g_autoptr(GPtrArray) right = g_ptr_array_new_with_free_func ((GDestroyNotify) net_free);
  g_autoptr(GPtrArray) written = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(Net) ahead = net_new ("hub", "A year ahead", NULL);
  g_autofree char *from_ahead = NULL;
  g_autofree char *later = NULL;
  Net *hub;

  for (guint i = 0; i < n_right; i++)
    {
      g_autofree char *label = i == 0 ? g_strdup ("Clock hub") : g_strdup_printf ("Right %u", i);

      g_ptr_array_add (right, net_new ("hub", label, NULL));
    }
  hub = g_ptr_array_index (right, 0);
  hub->listen = TRUE;
  net_setenv (ahead, "MEDHEAD_TEST_CLOCK_OFFSET_MS", ONE_YEAR_MS);
  for (guint i = 0; i < n_right; i++)
    net_start (g_ptr_array_index (right, i));
  net_start (ahead);
  for (guint i = 1; i < n_right; i++)
    {
      net_link (g_ptr_array_index (right, i), hub);
      wait_linked (g_ptr_array_index (right, i), hub);
    }
  net_link (ahead, hub);
  wait_linked (ahead, hub);

  from_ahead = net_post_message (ahead, "broadcast", "written a year ahead");
  for (guint i = 0; i < n_right; i++)
    {
      Net *net = g_ptr_array_index (right, i);
      g_autofree char *text = g_strdup_printf ("from %s", net->label);

      g_ptr_array_add (written, net_post_message (net, "broadcast", text));
    }

  /* The others hold its change, and show it held. */
  WAIT_UNTIL (LINK_TIMEOUT_S,
              net_count (hub, "held") > 0 || net_has_message (hub, from_ahead),
              "the hub neither held nor applied the change from a year ahead");
  if (net_has_message (hub, from_ahead))
    {
      g_autoptr(JsonObject) status = net_status (hub);

      /* Fail at once, with what the hub believes, rather than at the
       * deadline of a wait for held > 0. */
      g_test_fail_printf ("the hub applied a change from a year ahead (clock_alarm %s, "
                          "peer_offset_ms %" G_GINT64_FORMAT ", clock %s)",
                          json_object_get_boolean_member (status, "clock_alarm") ? "true"
                                                                                 : "false",
                          json_object_get_int_member (status, "peer_offset_ms"),
                          json_object_get_string_member (status, "clock_text"));
      net_terminate (ahead);
      for (guint i = n_right; i > 0; i--)
        net_terminate (g_ptr_array_index (right, i - 1));
      return;
    }
  g_assert_false (net_clock_alarm (hub));

  /* The rest converges, and reaches the skewed node too. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged ((Net *const *) right->pdata, n_right),
              "the nodes with a right clock did not converge:%s",
              describe_digests ((Net *const *) right->pdata, n_right));
  for (guint m = 0; m < written->len; m++)
    WAIT_UNTIL (CONVERGE_TIMEOUT_S,
                net_has_message (ahead, g_ptr_array_index (written, m)),
                "the node a year ahead did not receive %s",
                (const char *) g_ptr_array_index (written, m));
  for (guint i = 0; i < n_right; i++)
    {
      g_assert_false (net_has_message (g_ptr_array_index (right, i), from_ahead));
      for (guint m = 0; m < written->len; m++)
        g_assert_true (net_has_message (g_ptr_array_index (right, i),
                                        g_ptr_array_index (written, m)));
    }
  g_assert_cmpint (net_count (hub, "held"), >, 0);
  g_assert_false (net_clock_alarm (hub));

  /* Its own peers tell the skewed node that it is wrong. */
  WAIT_UNTIL (LINK_TIMEOUT_S, net_clock_alarm (ahead),
              "the node a year ahead did not raise the clock alarm");

  /* The hub's own clock was not dragged a year forward: what it writes
   * now is not held anywhere. */
  later = net_post_message (hub, "broadcast", "from the hub, later");
  for (guint i = 1; i < n_right; i++)
    {
      Net *net = g_ptr_array_index (right, i);

      WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (net, later),
                  "%s did not apply the hub's later change", net->label);
      g_assert_cmpint (net_count (net, "held"), ==, 0);
    }

  net_terminate (ahead);
  for (guint i = n_right; i > 0; i--)
    net_terminate (g_ptr_array_index (right, i - 1));
}

/* Two right clocks besides the hub's: the majority is plain. */
static void
test_clock_ahead (void)
{
  run_clock_ahead (3);
}

/* The hub and one other right clock against the skewed one: the hub's
 * own clock must count, or it has a tie to break and may take the
 * skewed node's time. */
static void
test_clock_ahead_tie (void)
{
  run_clock_ahead (2);
}

static void
test_clock_behind (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Clock hub", NULL);
  g_autoptr(Net) second = net_new ("hub", "Second", NULL);
  g_autoptr(Net) behind = net_new ("hub", "Ten minutes behind", NULL);
  g_autoptr(JsonObject) status = NULL;
  g_autofree char *from_hub = NULL;
  g_autofree char *from_second = NULL;
  g_autofree char *from_behind = NULL;
  Net *all[3];
  gint64 offset;

  hub->listen = TRUE;
  net_setenv (behind, "MEDHEAD_TEST_CLOCK_OFFSET_MS", TEN_MINUTES_BEHIND_MS);
  net_start (hub);
  net_start (second);
  net_start (behind);
  /* As above: the hub hears a right clock before the slow one. */
  net_link (second, hub);
  wait_linked (second, hub);
  net_link (behind, hub);
  wait_linked (behind, hub);

  WAIT_UNTIL (LINK_TIMEOUT_S, net_clock_alarm (behind),
              "the node ten minutes behind did not raise the clock alarm");
  status = net_status (behind);
  offset = json_object_get_int_member (status, "peer_offset_ms");
  g_test_message ("the slow node's peers are %" G_GINT64_FORMAT " ms ahead of it", offset);
  g_assert_cmpint (offset, >, 9 * 60 * 1000);
  g_assert_cmpint (offset, <, 11 * 60 * 1000);
  g_assert_false (net_clock_alarm (hub));
  g_assert_false (net_clock_alarm (second));

  /* Its peers' changes look ten minutes ahead of its own clock, more than
   * the hold bound: judged by their time instead, they apply at once. */
  from_hub = net_post_message (hub, "broadcast", "from the hub");
  from_second = net_post_message (second, "broadcast", "from the second node, through the hub");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              net_has_message (behind, from_hub) && net_has_message (behind, from_second),
              "the slow node did not apply its peers' changes");
  g_assert_cmpint (net_count (behind, "held"), ==, 0);

  from_behind = net_post_message (behind, "broadcast", "from the slow node");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              net_has_message (hub, from_behind) && net_has_message (second, from_behind),
              "the slow node's change did not reach its peers");

  all[0] = hub;
  all[1] = second;
  all[2] = behind;
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (all, 3), "no convergence:%s",
              describe_digests (all, 3));

  net_terminate (behind);
  net_terminate (second);
  net_terminate (hub);
}

/* ------------------------------------------------------------------------ */
/* A node restored from a copy of its own data folder                      */

static void
copy_tree (const char *from, const char *to)
{
  const char *argv[] = { "cp", "-a", from, to, NULL };
  g_autoptr(GError) error = NULL;
  int wait_status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                &wait_status, &error);
  g_assert_no_error (error);
  g_spawn_check_wait_status (wait_status, &error);
  g_assert_no_error (error);
}

static gint64
net_status_int (Net *net, const char *member)
{
  g_autoptr(JsonObject) status = net_status (net);

  return json_object_get_int_member (status, member);
}

static void
test_restored_copy (void)
{
  g_autoptr(Net) peer = net_new ("hub", "Peer", NULL);
  g_autoptr(Net) restored = net_new ("hub", "Restored", NULL);
  g_autofree char *parent = g_path_get_dirname (restored->node->dir);
  g_autofree char *copy = g_build_filename (parent, "copy", NULL);
  g_autofree char *lost = g_build_filename (parent, "lost", NULL);
  g_autofree char *before = NULL;
  g_autofree char *lost_first = NULL;
  g_autofree char *lost_second = NULL;
  g_autofree char *after_first = NULL;
  g_autofree char *after_second = NULL;
  g_autoptr(JsonObject) bed = NULL;
  gint64 epoch, seq_before_loss, seq_restored;
  Net *pair[2];

  /* The restored node is the hub that holds the registry: the beds of a
   * hospital without a site of its own are its to write. */
  mh_test_node_import (restored->node, SCENARIO);
  peer->listen = TRUE;
  net_start (peer);
  net_start (restored);
  net_link (restored, peer);
  wait_linked (restored, peer);

  before = net_post_message (restored, "broadcast", "before the copy");
  bed = net_send (restored, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/adult_icu",
                  "{\"available\": 1, \"baseline\": 9}", 200);
  pair[0] = peer;
  pair[1] = restored;
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (pair, 2), "no convergence before the copy:%s",
              describe_digests (pair, 2));
  epoch = net_status_int (restored, "epoch");

  /* The copy, taken while the node is stopped, as a backup would be. */
  net_terminate (restored);
  copy_tree (restored->node->dir, copy);

  /* Life goes on after the copy: these reach the peer, then are lost
   * with the original folder. */
  net_start (restored);
  wait_linked (restored, peer);
  lost_first = net_post_message (restored, "broadcast", "after the copy, lost with the disk");
  lost_second = net_post_message (restored, "broadcast", "after the copy, lost too");
  g_clear_pointer (&bed, json_object_unref);
  bed = net_send (restored, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/adult_icu",
                  "{\"available\": 2, \"baseline\": 9}", 200);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (pair, 2), "no convergence after the copy:%s",
              describe_digests (pair, 2));
  seq_before_loss = net_status_int (restored, "last_seq");
  net_terminate (restored);

  /* The disk dies; the copy comes back in its place, same identity. */
  g_assert_cmpint (g_rename (restored->node->dir, lost), ==, 0);
  g_assert_cmpint (g_rename (copy, restored->node->dir), ==, 0);
  net_start (restored);
  seq_restored = net_status_int (restored, "last_seq");
  g_test_message ("log back from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
                  "; epoch %" G_GINT64_FORMAT " then %" G_GINT64_FORMAT,
                  seq_before_loss, seq_restored, epoch, net_status_int (restored, "epoch"));
  /* Its next three writes fit in the numbers the lost run used. */
  g_assert_cmpint (seq_restored + 3, <=, seq_before_loss);
  /* The replica file is not the one it last opened: a new log epoch. */
  g_assert_cmpint (net_status_int (restored, "epoch"), !=, epoch);
  wait_linked (restored, peer);

  /* Its new writes take sequence numbers the peer has seen already, in
   * the old epoch; the peer must take them all the same. */
  after_first = net_post_message (restored, "broadcast", "after the restore");
  after_second = net_post_message (restored, "broadcast", "after the restore, again");
  g_clear_pointer (&bed, json_object_unref);
  bed = net_send (restored, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/adult_icu",
                  "{\"available\": 4, \"baseline\": 9}", 200);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              net_has_message (peer, after_first) && net_has_message (peer, after_second)
                && bed_value (peer, FRED_BROOKS, "adult_icu", "available") == 4,
              "the restored node's new writes did not reach its peer");

  /* Nothing the peer had is lost either. */
  g_assert_true (net_has_message (peer, before));
  g_assert_true (net_has_message (peer, lost_first));
  g_assert_true (net_has_message (peer, lost_second));
  g_assert_true (net_has_message (restored, before));
  if (!net_has_message (restored, lost_first))
    g_test_message ("the restored node did not get back its own writes made after the copy");

  net_terminate (restored);
  net_terminate (peer);
}

/* ------------------------------------------------------------------------ */
/* Refusals                                                                 */

/* A listener with a well-behaved peer linked to it, in step. */
typedef struct
{
  Net *listener;
  Net *good;
  char *digest;
} Refusal;

static void
refusal_setup (Refusal *r)
{
  Net *pair[2];

  r->listener = net_new ("hub", "Listener", NULL);
  r->good = net_new ("hub", "Good peer", NULL);
  mh_test_node_import (r->listener->node, SCENARIO);
  r->listener->listen = TRUE;
  net_start (r->listener);
  net_start (r->good);
  net_link (r->good, r->listener);
  wait_linked (r->good, r->listener);
  pair[0] = r->listener;
  pair[1] = r->good;
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (pair, 2), "no convergence:%s",
              describe_digests (pair, 2));
  r->digest = net_digest (r->listener);
}

/* Nothing moved into the listener, and it still serves its good peer,
 * both ways. */
static void
refusal_check (Refusal *r)
{
  g_autofree char *digest = net_digest (r->listener);
  g_autofree char *from_listener = NULL;
  g_autofree char *from_good = NULL;

  g_assert_cmpstr (digest, ==, r->digest);
  g_assert_true (net_connected (r->listener, r->good));
  from_listener = net_post_message (r->listener, "broadcast", "still serving");
  from_good = net_post_message (r->good, "broadcast", "still served");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              net_has_message (r->good, from_listener) && net_has_message (r->listener, from_good),
              "the listener stopped serving its good peer");
}

static void
refusal_teardown (Refusal *r)
{
  net_terminate (r->good);
  net_terminate (r->listener);
  net_free (r->good);
  net_free (r->listener);
  g_free (r->digest);
}

/* The intruder tried, failed, and no data crossed either way. */
static void
assert_no_link (Refusal *r, Net *intruder, const char *pinned_as, const char *message)
{
  g_autofree char *error = NULL;

  WAIT_UNTIL (LINK_TIMEOUT_S, peer_has_error (intruder, pinned_as),
              "%s recorded no failed call", intruder->label);
  /* It keeps calling; the next attempts must fail like the first. */
  g_usleep (1500 * 1000);
  error = net_peer_error (intruder, pinned_as);
  g_test_message ("%s: %s", intruder->label, error);
  {
    g_autoptr(JsonObject) status = net_status (intruder);
    JsonObject *entry = status_peer (status, pinned_as);

    g_assert_false (json_object_get_boolean_member (entry, "connected"));
    g_assert_cmpint (json_object_get_int_member (status, "connected_peers"), ==, 0);
  }
  g_assert_false (net_has_message (r->listener, message));
  g_assert_false (net_has (intruder, "/api/v1/hospitals/" FRED_BROOKS));
}

static void
test_refuse_unknown_certificate (void)
{
  Refusal r = { 0 };
  g_autoptr(Net) stranger = net_new ("hub", "Stranger", NULL);
  g_autofree char *message = NULL;

  refusal_setup (&r);
  /* It knows the listener; the listener does not know it. */
  net_pin (stranger, r.listener, TRUE);
  net_start (stranger);
  message = net_post_message (stranger, "broadcast", "from an unknown node");
  assert_no_link (&r, stranger, r.listener->fingerprint, message);
  g_assert_false (net_knows (r.listener, stranger));
  refusal_check (&r);
  net_terminate (stranger);
  refusal_teardown (&r);
}

static void
test_refuse_wrong_fingerprint (void)
{
  Refusal r = { 0 };
  g_autoptr(Net) confused = net_new ("hub", "Confused", NULL);
  g_autofree char *message = NULL;

  refusal_setup (&r);
  /* The listener admits it, but it expects someone else at the listener's
   * address: it must refuse the certificate it is shown. */
  net_pin (r.listener, confused, FALSE);
  {
    const char *args[] = { "peer", "add", "--data-dir", confused->node->dir,
                           r.good->fingerprint, "--url", r.listener->sync_url, NULL };

    g_assert_cmpint (mh_test_cli_argv (args, NULL, NULL), ==, 0);
  }
  net_start (confused);
  message = net_post_message (confused, "broadcast", "from a node that pinned the wrong key");
  assert_no_link (&r, confused, r.good->fingerprint, message);
  g_assert_false (net_connected (r.listener, confused));
  refusal_check (&r);
  net_terminate (confused);
  refusal_teardown (&r);
}

static gboolean
error_mentions_version (Net *net, const char *fingerprint)
{
  g_autofree char *error = net_peer_error (net, fingerprint);

  return error != NULL && strstr (error, "version") != NULL;
}

static void
test_refuse_version (void)
{
  Refusal r = { 0 };
  g_autoptr(Net) future = net_new ("hub", "Schema 9", NULL);
  g_autofree char *message = NULL;
  g_autofree char *theirs = NULL;
  g_autofree char *ours = NULL;

  refusal_setup (&r);
  net_setenv (future, "MEDHEAD_TEST_SCHEMA_VERSION", "9");
  net_start (future);
  message = net_post_message (future, "broadcast", "from schema version 9");
  net_link (future, r.listener);

  /* Both sides say why. */
  WAIT_UNTIL (LINK_TIMEOUT_S, error_mentions_version (future, r.listener->fingerprint),
              "the newer node did not record why the link was refused");
  WAIT_UNTIL (LINK_TIMEOUT_S, error_mentions_version (r.listener, future->fingerprint),
              "the listener did not record why it refused the newer node");
  theirs = net_peer_error (future, r.listener->fingerprint);
  ours = net_peer_error (r.listener, future->fingerprint);
  g_test_message ("the newer node says: %s", theirs);
  g_test_message ("the listener says: %s", ours);
  g_assert_nonnull (strstr (theirs, "schema"));
  g_assert_nonnull (strstr (ours, "schema"));

  g_usleep (1500 * 1000);
  g_assert_false (net_connected (future, r.listener));
  g_assert_false (net_connected (r.listener, future));
  g_assert_false (net_has_message (r.listener, message));
  g_assert_false (net_has (future, "/api/v1/hospitals/" FRED_BROOKS));
  refusal_check (&r);
  net_terminate (future);
  refusal_teardown (&r);
}

/* A bare client of the sync endpoint, written here so that it can send
 * what no node would. */
typedef struct
{
  SoupSession *session;
  SoupWebsocketConnection *conn;
  GError *error;
  gboolean connecting;
  gboolean closed;
  GPtrArray *frames; /* char *: the text frames received */
} RawLink;

static gboolean
raw_accept_certificate_cb (SoupMessage *msg, GTlsCertificate *certificate,
                           GTlsCertificateFlags errors, gpointer data)
{
  /* This client tests the listener: whom it reaches is not in question. */
  return TRUE;
}

static void
raw_connected_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  RawLink *raw = data;

  raw->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &raw->error);
  raw->connecting = FALSE;
}

static void
raw_message_cb (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer data)
{
  RawLink *raw = data;
  gsize size;
  const char *text = g_bytes_get_data (message, &size);

  g_ptr_array_add (raw->frames, g_strndup (text, size));
}

static void
raw_closed_cb (SoupWebsocketConnection *conn, gpointer data)
{
  ((RawLink *) data)->closed = TRUE;
}

static gboolean
raw_timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

typedef gboolean (*RawDoneFunc) (RawLink *raw);

static gboolean
raw_wait (RawLink *raw, guint seconds, RawDoneFunc done)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (seconds, raw_timeout_cb, &timed_out);

  while (!done (raw) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return done (raw);
}

static gboolean
raw_is_connected (RawLink *raw)
{
  return !raw->connecting;
}

static gboolean
raw_is_closed (RawLink *raw)
{
  return raw->closed;
}

/* The message of the first error frame received, or NULL. */
static char *
raw_error (RawLink *raw)
{
  for (guint i = 0; i < raw->frames->len; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *frame;

      if (!json_parser_load_from_data (parser, g_ptr_array_index (raw->frames, i), -1, NULL)
          || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        continue;
      frame = json_node_get_object (json_parser_get_root (parser));
      if (g_strcmp0 (json_object_get_string_member_with_default (frame, "type", NULL), "error")
          == 0)
        return g_strdup (json_object_get_string_member_with_default (frame, "message", ""));
    }
  return NULL;
}

static gboolean
raw_has_ack (RawLink *raw)
{
  for (guint i = 0; i < raw->frames->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (raw->frames, i), "{\"type\":\"ack\""))
      return TRUE;
  return raw->closed;
}

static RawLink *
raw_open (Net *listener, GTlsCertificate *certificate)
{
  RawLink *raw = g_new0 (RawLink, 1);
  g_autofree char *uri = g_strconcat (listener->sync_url, "/sync/v1/link", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);

  g_assert_nonnull (msg);
  raw->frames = g_ptr_array_new_with_free_func (g_free);
  raw->session = soup_session_new ();
  /* Straight to the pinned address, trusting no authority. */
  soup_session_set_proxy_resolver (raw->session, NULL);
  soup_session_set_tls_database (raw->session, NULL);
  soup_message_set_tls_client_certificate (msg, certificate);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (raw_accept_certificate_cb), NULL);

  raw->connecting = TRUE;
  soup_session_websocket_connect_async (raw->session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        raw_connected_cb, raw);
  if (!raw_wait (raw, LINK_TIMEOUT_S, raw_is_connected))
    fail_dump ("the raw client could not connect");
  g_assert_no_error (raw->error);
  g_signal_connect (raw->conn, "message", G_CALLBACK (raw_message_cb), raw);
  g_signal_connect (raw->conn, "closed", G_CALLBACK (raw_closed_cb), raw);
  return raw;
}

static void
raw_free (RawLink *raw)
{
  if (raw->conn != NULL)
    {
      if (soup_websocket_connection_get_state (raw->conn) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (raw->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      raw_wait (raw, 5, raw_is_closed);
      g_signal_handlers_disconnect_by_data (raw->conn, raw);
      g_object_unref (raw->conn);
    }
  g_clear_error (&raw->error);
  g_object_unref (raw->session);
  g_ptr_array_unref (raw->frames);
  g_free (raw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (RawLink, raw_free)

static char *
raw_hello (const char *site_id)
{
  /* This build's schema: the hello must not be refused for its version. */
  return g_strdup_printf ("{\"type\":\"hello\",\"proto\":%d,\"schema\":%d,\"site\":\"%s\","
                          "\"name\":\"raw test client\",\"epoch\":1,\"wall\":%" G_GINT64_FORMAT
                          ",\"cursors\":[]}",
                          MH_PROTOCOL_VERSION, MH_MEDHEAD_SCHEMA_VERSION, site_id,
                          g_get_real_time () / 1000);
}

static char *
nested (const char *prefix, guint depth, const char *suffix)
{
  GString *text = g_string_new (prefix);

  for (guint i = 0; i < depth; i++)
    g_string_append_c (text, '[');
  for (guint i = 0; i < depth; i++)
    g_string_append_c (text, ']');
  g_string_append (text, suffix);
  return g_string_free (text, FALSE);
}

typedef struct
{
  const char *what;
  gboolean hello_first;
  const char *hello_site; /* NULL: the client's own */
  char *frame;            /* text, or NULL for a binary frame */
  const char *expected;   /* in the error message, NULL: any */
} Garbage;

static void
test_refuse_malformed (void)
{
  Refusal r = { 0 };
  g_autoptr(Net) client = net_new ("hub", "Raw client", NULL);
  g_autofree char *cert_path = g_build_filename (client->node->dir, "identity-cert.pem", NULL);
  g_autofree char *key_path = g_build_filename (client->node->dir, "identity-key.pem", NULL);
  g_autoptr(GTlsCertificate) certificate = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *recorded = NULL;
  Garbage garbage[] = {
    { "a frame that is not JSON", TRUE, NULL, g_strdup ("{"), "malformed" },
    { "a batch with a change that lacks its clock and origin", TRUE, NULL,
      g_strdup ("{\"type\":\"changes\",\"lane\":4,\"epoch\":1,\"to\":1,"
                "\"changes\":[{\"t\":\"message\",\"r\":\"x/y\",\"g\":\"row\"}]}"),
      "malformed" },
    { "a batch that is not even a batch", TRUE, NULL,
      g_strdup ("{\"type\":\"changes\",\"lane\":4,\"epoch\":1,\"to\":1,\"changes\":17}"),
      "malformed" },
    { "a control frame nested 5000 deep", TRUE, NULL, nested ("", 5000, ""), NULL },
    { "a batch nested 5000 deep", TRUE, NULL,
      nested ("{\"type\":\"changes\",\"lane\":4,\"epoch\":1,\"to\":1,\"changes\":", 5000, "}"),
      "malformed" },
    { "changes before any hello", FALSE, NULL,
      g_strdup ("{\"type\":\"changes\",\"lane\":4,\"epoch\":1,\"to\":0,\"changes\":[]}"),
      "hello" },
    { "a binary frame", TRUE, NULL, NULL, "binary" },
    { "a hello that names another site", FALSE, "", NULL, "site" },
  };

  refusal_setup (&r);
  /* A throwaway data folder gives the client an identity of its own,
   * which the listener admits like any peer. */
  certificate = g_tls_certificate_new_from_files (cert_path, key_path, &error);
  g_assert_no_error (error);
  net_pin (r.listener, client, FALSE);
  garbage[G_N_ELEMENTS (garbage) - 1].hello_site = r.good->site_id;

  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_autoptr(RawLink) raw = raw_open (r.listener, certificate);
      g_autofree char *hello = raw_hello (garbage[i].hello_site ? garbage[i].hello_site
                                                                : client->site_id);
      g_autofree char *message = NULL;
      g_autofree char *lower = NULL;
      g_autofree char *digest = NULL;

      if (garbage[i].hello_first || garbage[i].hello_site != NULL)
        soup_websocket_connection_send_text (raw->conn, hello);
      if (garbage[i].frame != NULL)
        soup_websocket_connection_send_text (raw->conn, garbage[i].frame);
      else if (garbage[i].hello_site == NULL)
        soup_websocket_connection_send_binary (raw->conn, "\x01\x02\x03", 3);

      if (!raw_wait (raw, LINK_TIMEOUT_S, raw_is_closed))
        fail_dump ("%s: the listener did not close the link", garbage[i].what);
      message = raw_error (raw);
      g_test_message ("%s: %s", garbage[i].what, message ? message : "(no error frame)");
      if (message == NULL)
        fail_dump ("%s: closed without an error frame", garbage[i].what);
      lower = g_ascii_strdown (message, -1);
      if (garbage[i].expected != NULL && strstr (lower, garbage[i].expected) == NULL)
        fail_dump ("%s: the error does not say \"%s\": %s", garbage[i].what, garbage[i].expected,
                   message);
      digest = net_digest (r.listener);
      g_assert_cmpstr (digest, ==, r.digest);
      g_free (garbage[i].frame);
    }
  recorded = net_peer_error (r.listener, client->fingerprint);
  g_test_message ("the listener's record of the client: %s", recorded);
  g_assert_nonnull (recorded);

  refusal_check (&r);
  refusal_teardown (&r);
}


/* Whether one of the changes net lists as rejected gives a reason that
 * mentions @what. */
static gboolean
net_rejected_mentions (Net *net, const char *what)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonArray *rejected = json_object_get_array_member (status, "rejected");
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);
  g_autofree char *text = NULL;

  json_node_set_array (node, rejected);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  return strstr (text, what) != NULL;
}

/* A line origin - relay - receiver where the relay tampers with the
 * origin's chat messages (MEDHEAD_TEST_RELAY_TAMPER): the receiver refuses
 * them on their signature, reports them, and keeps taking the relay's own. */
static void
run_relay_tamper (const char *mode)
{
  g_autoptr(Net) origin = net_new ("hub", "Origin", NULL);
  g_autoptr(Net) relay = net_new ("hub", "Dishonest relay", NULL);
  g_autoptr(Net) receiver = net_new ("hub", "Receiver", NULL);
  g_autofree char *message = NULL;
  g_autofree char *moved = NULL;
  g_autofree char *own = NULL;

  mh_test_node_import (relay->node, SCENARIO);
  relay->listen = TRUE;
  net_setenv (relay, "MEDHEAD_TEST_RELAY_TAMPER", mode);
  net_start (relay);
  net_start (origin);
  net_start (receiver);
  net_link (origin, relay);
  net_link (receiver, relay);
  wait_linked (origin, relay);
  wait_linked (receiver, relay);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (receiver, "/api/v1/hospitals/" FRED_BROOKS),
              "the registry did not cross the relay");

  message = net_post_message (origin, "broadcast", "from the origin, through a relay");
  moved = g_strconcat (message, "-moved", NULL);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (relay, message),
              "the message did not reach the relay");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_count (receiver, "rejected") >= 1,
              "the receiver did not reject the tampered message");
  g_assert_true (net_rejected_mentions (receiver, "signature"));
  g_assert_false (net_has_message (receiver, message));
  g_assert_false (net_has_message (receiver, moved));

  /* The stream goes on: the relay's own messages still arrive. */
  own = net_post_message (relay, "broadcast", "the relay's own");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (receiver, own),
              "the receiver stopped taking the relay's changes");
  g_assert_true (net_connected (receiver, relay));
  g_assert_false (net_has_message (receiver, message));
  g_assert_cmpint (net_count (receiver, "rejected"), ==, 1);

  net_terminate (receiver);
  net_terminate (origin);
  net_terminate (relay);
}

static void
test_refuse_relay_forge (void)
{
  run_relay_tamper ("forge");
}

static void
test_refuse_relay_move (void)
{
  run_relay_tamper ("move");
}

/* A hospital's node that skips its own validation writes another
 * hospital's beds: the change is validly signed, by a site that does not
 * own the row, and the hub refuses it on ownership. */
static void
test_refuse_wrong_owner (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Owner hub", NULL);
  g_autoptr(Net) rogue = net_new ("hospital", "Fred Brooks desk", FRED_BROOKS);
  g_autoptr(JsonObject) answered = NULL;
  gint64 before;

  mh_test_node_import (hub->node, SCENARIO);
  hub->listen = TRUE;
  net_setenv (rogue, "MEDHEAD_TEST_SKIP_LOCAL_VALIDATION", "1");
  net_start (hub);
  net_start (rogue);
  net_link (rogue, hub);
  wait_linked (rogue, hub);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (rogue, "/api/v1/hospitals/" JULIA_CRUSHER),
              "the registry did not reach the hospital");
  before = bed_value (hub, JULIA_CRUSHER, "adult_icu", "available");

  answered = net_send (rogue, "PUT", "/api/v1/hospitals/" JULIA_CRUSHER "/beds/adult_icu",
                       "{\"available\": 99, \"baseline\": 99}", 200);
  g_assert_cmpint (bed_value (rogue, JULIA_CRUSHER, "adult_icu", "available"), ==, 99);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_count (hub, "rejected") >= 1,
              "the hub did not reject a write by the wrong owner");
  g_assert_false (net_rejected_mentions (hub, "signature"));
  g_assert_cmpint (bed_value (hub, JULIA_CRUSHER, "adult_icu", "available"), ==, before);
  g_assert_true (net_connected (rogue, hub));

  net_terminate (rogue);
  net_terminate (hub);
}

/* A well-formed change that the good peer never wrote, in its name, with
 * a signature that is not its own: a relay hands on other sites' changes,
 * so only the signature tells a forged one (DESIGN.md section 5). */
static void
test_refuse_forged_origin (void)
{
  Refusal r = { 0 };
  g_autoptr(Net) client = net_new ("hub", "Raw client", NULL);
  g_autofree char *cert_path = g_build_filename (client->node->dir, "identity-cert.pem", NULL);
  g_autofree char *key_path = g_build_filename (client->node->dir, "identity-key.pem", NULL);
  g_autoptr(GTlsCertificate) certificate = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(RawLink) raw = NULL;
  g_autofree char *hello = NULL;
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *signature = NULL;
  g_autofree char *forged_id = NULL;
  g_autofree char *forged = NULL;
  g_autofree char *digest = NULL;
  guint8 zeros[64] = { 0 };
  gint64 hlc = (g_get_real_time () / 1000) << 16;

  refusal_setup (&r);
  certificate = g_tls_certificate_new_from_files (cert_path, key_path, &error);
  g_assert_no_error (error);
  net_pin (r.listener, client, FALSE);

  signature = g_base64_encode (zeros, sizeof zeros);
  forged_id = g_strdup_printf ("%s/%s", r.good->site_id, uuid);
  forged = g_strdup_printf ("{\"type\":\"changes\",\"lane\":4,\"epoch\":1,\"to\":1,\"changes\":"
                            "[{\"t\":\"message\",\"r\":\"%s\",\"g\":\"row\",\"v\":[\"broadcast\","
                            "\"%s\",\"Good peer\",\"forged\",%" G_GINT64_FORMAT "],\"c\":%"
                            G_GINT64_FORMAT ",\"o\":\"%s\",\"s\":999999,\"sv\":1,"
                            "\"sig\":\"%s\"}]}",
                            forged_id, r.good->site_id, hlc, hlc, r.good->site_id, signature);
  raw = raw_open (r.listener, certificate);
  hello = raw_hello (client->site_id);
  soup_websocket_connection_send_text (raw->conn, hello);
  soup_websocket_connection_send_text (raw->conn, forged);
  /* Acknowledged (and refused inside) or closed: either way, handled. */
  if (!raw_wait (raw, LINK_TIMEOUT_S, raw_has_ack))
    fail_dump ("the listener neither acknowledged nor refused a forged change");

  /* Refused on its signature: not applied, counted, listed with why. */
  g_assert_false (net_has_message (r.listener, forged_id));
  g_assert_cmpint (net_count (r.listener, "rejected"), ==, 1);
  g_assert_true (net_rejected_mentions (r.listener, "signature"));
  digest = net_digest (r.listener);
  g_assert_cmpstr (digest, ==, r.digest);
  g_clear_pointer (&raw, raw_free);
  refusal_check (&r);
  g_assert_false (net_has_message (r.good, forged_id));
  refusal_teardown (&r);
}

static guint replay_acks_wanted;

static gboolean
raw_has_acks (RawLink *raw)
{
  guint n = 0;

  for (guint i = 0; i < raw->frames->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (raw->frames, i), "{\"type\":\"ack\""))
      n++;
  return n >= replay_acks_wanted || raw->closed;
}

static const char *replay_wanted_id;

static gboolean
raw_has_changes_with (RawLink *raw)
{
  for (guint i = 0; i < raw->frames->len; i++)
    {
      const char *frame = g_ptr_array_index (raw->frames, i);

      if (g_str_has_prefix (frame, "{\"type\":\"changes\"") && strstr (frame, replay_wanted_id))
        return TRUE;
    }
  return raw->closed;
}

/* A peer captures a batch of validly signed changes (the good peer's
 * message, relayed by the listener) and plays it back three times: nothing
 * more is applied, nothing is rejected, every copy is acknowledged, and the
 * link stays up. */
static void
test_refuse_replay (void)
{
  Refusal r = { 0 };
  g_autoptr(Net) client = net_new ("hub", "Replaying client", NULL);
  g_autofree char *cert_path = g_build_filename (client->node->dir, "identity-cert.pem", NULL);
  g_autofree char *key_path = g_build_filename (client->node->dir, "identity-key.pem", NULL);
  g_autoptr(GTlsCertificate) certificate = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(RawLink) raw = NULL;
  g_autofree char *hello = NULL;
  g_autofree char *message = NULL;
  g_autofree char *digest = NULL;
  const char *captured = NULL;
  gint64 last_seq;

  refusal_setup (&r);
  certificate = g_tls_certificate_new_from_files (cert_path, key_path, &error);
  g_assert_no_error (error);
  net_pin (r.listener, client, FALSE);
  message = net_post_message (r.good, "broadcast", "said once");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (r.listener, message),
              "the message did not reach the listener");
  g_free (r.digest);
  r.digest = net_digest (r.listener);
  last_seq = net_status_int (r.listener, "last_seq");

  raw = raw_open (r.listener, certificate);
  hello = raw_hello (client->site_id);
  soup_websocket_connection_send_text (raw->conn, hello);
  replay_wanted_id = message;
  if (!raw_wait (raw, LINK_TIMEOUT_S, raw_has_changes_with) || raw->closed)
    fail_dump ("the listener did not send its log to the client");
  for (guint i = 0; i < raw->frames->len && captured == NULL; i++)
    {
      const char *frame = g_ptr_array_index (raw->frames, i);

      if (g_str_has_prefix (frame, "{\"type\":\"changes\"") && strstr (frame, message))
        captured = frame;
    }
  g_assert_nonnull (captured);
  captured = g_strdup (captured);
  for (guint i = 0; i < 3; i++)
    soup_websocket_connection_send_text (raw->conn, captured);
  replay_acks_wanted = 3;
  if (!raw_wait (raw, LINK_TIMEOUT_S, raw_has_acks) || raw->closed)
    fail_dump ("the listener did not acknowledge a replayed batch, or closed the link");
  g_free ((char *) captured);

  g_assert_cmpint (net_count (r.listener, "rejected"), ==, 0);
  g_assert_cmpint (net_status_int (r.listener, "last_seq"), ==, last_seq);
  digest = net_digest (r.listener);
  g_assert_cmpstr (digest, ==, r.digest);
  g_assert_true (net_connected (r.listener, client));
  g_clear_pointer (&raw, raw_free);
  refusal_check (&r);
  refusal_teardown (&r);
}

/* ------------------------------------------------------------------------ */
/* Dispatch: a hub assigns, the ambulance accepts and announces its patient */

static gboolean
incident_is (Net *net, const char *path, const char *member, const char *expected)
{
  return string_at_is (net, path, member, expected);
}

static void
test_dispatch (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Dispatch hub", NULL);
  g_autoptr(Net) hospital = net_new ("hospital", "Fred Brooks desk", FRED_BROOKS);
  g_autoptr(Net) ambulance = net_new ("ambulance", "MH-AMB-01 crew", UNIT);
  g_autoptr(JsonObject) done = NULL;
  g_autoptr(JsonObject) incident = NULL;
  g_autoptr(JsonObject) candidates = NULL;
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(MhTestReply) reply = NULL;
  g_autofree char *incident_path = NULL;
  g_autofree char *action_path = NULL;
  g_autofree char *body = NULL;
  g_autofree char *transfer_path = NULL;
  g_autofree char *desk_path = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  JsonArray *list;
  const char *incident_id;

  mh_test_node_import (hub->node, SCENARIO);
  hub->listen = TRUE;
  hospital->listen = TRUE;
  net_start (hub);
  net_start (hospital);
  net_start (ambulance);
  net_link (hub, hospital);
  net_link (ambulance, hub);
  wait_linked (hub, hospital);
  wait_linked (ambulance, hub);

  /* The crew says what it can do, where it is, and that it is free. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (ambulance, "/api/v1/units/" UNIT),
              "the ambulance's own unit did not reach it");
  done = net_send (ambulance, "PATCH", "/api/v1/units/" UNIT,
                   "{\"status\": \"available\", \"capabilities\": [\"bls\", \"als\"],"
                   " \"lat\": 51.52, \"lon\": -0.13}", 200);
  /* Status, capabilities and position travel as separate registers (the
   * position in its own lane): wait for all three. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              string_at_is (hub, "/api/v1/units/" UNIT, "status", "available")
                && unit_is_ready (hub, UNIT),
              "the unit's status, capabilities and position did not reach the hub");

  /* A hub takes the call. */
  reply = mh_test_node_request (hub->node, "POST", "/api/v1/incidents",
                                "{\"lat\": 51.5, \"lon\": -0.12, \"nature\": \"stroke\","
                                " \"priority\": \"immediate\", \"skills\": [\"air\", \"bls\"]}");
  g_assert_cmpuint (reply->status, ==, 201);
  g_clear_pointer (&reply, mh_test_reply_free);
  reply = mh_test_node_request (hub->node, "POST", "/api/v1/incidents",
                                "{\"lat\": 51.5, \"lon\": -0.12, \"nature\": \"stroke\","
                                " \"priority\": \"immediate\", \"skills\": [\"wizard\"]}");
  mh_test_assert_error (reply, 400, "invalid", "skills");
  g_clear_pointer (&reply, mh_test_reply_free);
  reply = mh_test_node_request (hospital->node, "POST", "/api/v1/incidents",
                                "{\"lat\": 51.5, \"lon\": -0.12, \"nature\": \"stroke\","
                                " \"priority\": \"immediate\"}");
  g_assert_cmpuint (reply->status, ==, 403);
  g_clear_pointer (&reply, mh_test_reply_free);
  reply = mh_test_node_request (hub->node, "GET", "/api/v1/incidents/nope/candidates", NULL);
  g_assert_cmpuint (reply->status, ==, 404);
  g_clear_pointer (&reply, mh_test_reply_free);

  incident = net_send (hub, "POST", "/api/v1/incidents",
                       "{\"lat\": 51.5074, \"lon\": -0.1278, \"nature\": \"stroke\","
                       " \"nature_text\": \"slurred speech, left arm weak\","
                       " \"priority\": \"immediate\", \"skills\": [\"als\"]}", 201);
  incident_id = json_object_get_string_member (incident, "id");
  g_assert_cmpstr (json_object_get_string_member (incident, "state"), ==, "open");
  incident_path = g_strdup_printf ("/api/v1/incidents/%s", incident_id);

  /* The nearest suitable unit: the crew, with how old its position is. */
  g_clear_pointer (&action_path, g_free);
  action_path = g_strdup_printf ("%s/candidates", incident_path);
  candidates = net_send (hub, "GET", action_path, NULL, 200);
  list = json_object_get_array_member (candidates, "candidates");
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (list, 0),
                                                  "unit_id"), ==, UNIT);
  g_assert_true (json_object_has_member (json_array_get_object_element (list, 0),
                                         "position_age_s"));

  /* Only a hub assigns; the crew cannot answer before it does. */
  g_clear_pointer (&action_path, g_free);
  action_path = g_strdup_printf ("%s/assign", incident_path);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (ambulance, incident_path),
              "the incident did not reach the ambulance");
  reply = mh_test_node_request (ambulance->node, "POST", action_path,
                                "{\"unit_id\": \"" UNIT "\"}");
  mh_test_assert_error (reply, 403, "forbidden", NULL);
  g_clear_pointer (&reply, mh_test_reply_free);
  reply = mh_test_node_request (hub->node, "POST", action_path, "{\"unit_id\": \"nope\"}");
  g_assert_cmpuint (reply->status, ==, 404);
  g_clear_pointer (&reply, mh_test_reply_free);
  g_clear_pointer (&done, json_object_unref);
  done = net_send (hub, "POST", action_path, "{\"unit_id\": \"" UNIT "\"}", 200);
  g_assert_cmpstr (json_object_get_string_member (done, "state"), ==, "assigned");

  /* The ambulance's node sees the assignment and accepts. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, incident_is (ambulance, incident_path, "state", "assigned"),
              "the assignment did not reach the ambulance");
  g_clear_pointer (&action_path, g_free);
  action_path = g_strdup_printf ("%s/answer", incident_path);
  reply = mh_test_node_request (hub->node, "POST", action_path, "{\"answer\": \"accepted\"}");
  mh_test_assert_error (reply, 403, "forbidden", NULL);
  g_clear_pointer (&reply, mh_test_reply_free);
  reply = mh_test_node_request (ambulance->node, "POST", action_path, "{\"answer\": \"yes\"}");
  mh_test_assert_error (reply, 400, "invalid", "answer");
  g_clear_pointer (&reply, mh_test_reply_free);
  g_clear_pointer (&done, json_object_unref);
  done = net_send (ambulance, "POST", action_path, "{\"answer\": \"accepted\"}", 200);
  reply = mh_test_node_request (ambulance->node, "POST", action_path,
                                "{\"answer\": \"declined\"}");
  mh_test_assert_error (reply, 409, "conflict", NULL);
  g_clear_pointer (&reply, mh_test_reply_free);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, incident_is (hub, incident_path, "answer", "accepted"),
              "the crew's answer did not reach the hub");
  /* The unit's status is written with the answer, in another table and
   * lane: it may come a moment later. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              string_at_is (hub, "/api/v1/units/" UNIT, "status", "dispatched"),
              "the unit's dispatched status did not reach the hub");

  /* The patient, picked up there, goes to the hospital. */
  body = g_strdup_printf ("{\"incident_id\": \"%s\", \"age_estimate\": 70, \"alert\": \"stroke\","
                          " \"triage\": \"immediate\", \"bed_category\": \"medical_surgical\"}",
                          incident_id);
  patient = net_send (ambulance, "POST", "/api/v1/patients", body, 201);
  g_assert_cmpstr (json_object_get_string_member (patient, "incident_id"), ==, incident_id);
  g_clear_pointer (&body, g_free);
  body = g_strdup_printf ("{\"patient_id\": \"%s\", \"hospital_id\": \"" FRED_BROOKS "\", "
                          "\"priority\": \"immediate\"}",
                          json_object_get_string_member (patient, "id"));
  transfer = net_send (ambulance, "POST", "/api/v1/transfers", body, 201);
  transfer_path = g_strdup_printf ("/api/v1/transfers/%s",
                                   json_object_get_string_member (transfer, "id"));
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (hospital, transfer_path),
              "the transfer did not reach the hospital");
  desk_path = g_strdup_printf ("%s/desk", transfer_path);
  g_clear_pointer (&done, json_object_unref);
  done = net_send (hospital, "POST", desk_path, "{\"state\": \"acknowledged\"}", 200);
  g_clear_pointer (&done, json_object_unref);
  done = net_send (hospital, "POST", desk_path, "{\"state\": \"accepted\"}", 200);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, string_at_is (ambulance, transfer_path, "state", "accepted"),
              "the desk's answer did not reach the crew");

  /* The hub sees the incident linked to the patient and the transfer. */
  g_clear_pointer (&incident, json_object_unref);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (hub, transfer_path),
              "the transfer did not reach the hub");
  incident = net_send (hub, "GET", incident_path, NULL, 200);
  list = json_object_get_array_member (incident, "transfer_ids");
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (list, 0), ==,
                   json_object_get_string_member (transfer, "id"));

  net_terminate (ambulance);
  net_terminate (hospital);
  net_terminate (hub);

  /* The same from the command line, on a stopped node. */
  g_assert_cmpint (mh_test_cli (&out, &err, "incident", "list", "--data-dir", hub->node->dir,
                                NULL), ==, 0);
  g_assert_nonnull (strstr (out, incident_path + strlen ("/api/v1/incidents/")));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (mh_test_cli (NULL, &err, "incident", "answer", "--data-dir", hub->node->dir,
                                incident_path + strlen ("/api/v1/incidents/"), "cleared", NULL),
                   ==, 1);
  g_assert_nonnull (strstr (err, "assigned unit"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (mh_test_cli (NULL, &err, "incident", "create", "--data-dir", hub->node->dir,
                                "--lat", "north", "--lon", "0", NULL), ==, 2);
}

/* Need to know: two crews, two hospitals, one hub                          */

#define UNIT_TWO "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"

typedef struct
{
  char *patient;
  char *observation; /* the row id, PATIENT/ID */
  char *transfer;
  char *message; /* on the transfer's channel */
} Announced;

static void
announced_clear (Announced *a)
{
  g_free (a->patient);
  g_free (a->observation);
  g_free (a->transfer);
  g_free (a->message);
}

static char *
add_observation (Net *crew, const char *patient_id, int hr)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/patients/%s/observations", patient_id);
  g_autofree char *body = g_strdup_printf ("{\"hr\": %d, \"spo2\": 95, \"gcs\": 14}", hr);
  g_autoptr(JsonObject) made = net_send (crew, "POST", path, body, 201);

  return g_strdup_printf ("%s/%s", patient_id, json_object_get_string_member (made, "id"));
}

static char *
add_transfer (Net *crew, const char *patient_id, const char *hospital_id)
{
  g_autofree char *body = g_strdup_printf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\", "
                                           "\"priority\": \"immediate\"}",
                                           patient_id, hospital_id);
  g_autoptr(JsonObject) made = net_send (crew, "POST", "/api/v1/transfers", body, 201);

  return g_strdup (json_object_get_string_member (made, "id"));
}

static void
announce (Net *crew, const char *hospital_id, Announced *out)
{
  g_autoptr(JsonObject) patient =
    net_send (crew, "POST", "/api/v1/patients",
              "{\"age_estimate\": 64, \"sex\": \"male\", \"triage\": \"immediate\", "
              "\"alert\": \"stemi\", \"required_specialty\": 21, "
              "\"bed_category\": \"adult_icu\"}",
              201);
  g_autofree char *channel = NULL;

  out->patient = g_strdup (json_object_get_string_member (patient, "id"));
  out->observation = add_observation (crew, out->patient, 118);
  out->transfer = add_transfer (crew, out->patient, hospital_id);
  channel = g_strdup_printf ("transfer:%s", out->transfer);
  out->message = net_post_message (crew, channel, "ETA 9 min, chest pain since 30 min");
}

static gboolean
replica_has_all (Net *net, const Announced *a)
{
  return replica_has (net, "patient", a->patient)
         && replica_has (net, "observation", a->observation)
         && replica_has (net, "transfer", a->transfer) && replica_has (net, "message", a->message);
}

static gboolean
replica_has_any (Net *net, const Announced *a)
{
  return replica_has (net, "patient", a->patient)
         || replica_has (net, "observation", a->observation)
         || replica_has (net, "transfer", a->transfer) || replica_has (net, "message", a->message);
}

/* Nothing parked anywhere; then a moment for whatever would still be on
 * its way (a row that should not arrive must have had its chance to). */
static gboolean
nets_quiet (Net *const *list, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(JsonObject) status = net_status (list[i]);

      if (status_count (status, "parked") != 0)
        return FALSE;
    }
  g_usleep (2 * G_USEC_PER_SEC);
  return TRUE;
}

/* A node's patients:HOSPITAL digest: asked for by name (always there), or
 * "" when its plain digest does not list it. */
static char *
hospital_bucket (Net *net, const char *hospital, gboolean asked)
{
  g_autofree char *path = asked ? g_strconcat ("/api/v1/digest?hospital=", hospital, NULL)
                                : g_strdup ("/api/v1/digest");
  g_autoptr(JsonObject) digest = net_send (net, "GET", path, NULL, 200);
  g_autofree char *name = g_strconcat ("patients:", hospital, NULL);
  JsonObject *buckets = json_object_get_object_member (digest, "buckets");

  g_assert_nonnull (buckets);
  return g_strdup (json_object_get_string_member_with_default (buckets, name, ""));
}

/* The buckets every node holds whole, as text. */
static char *
public_buckets (Net *net)
{
  g_autoptr(JsonObject) digest = net_send (net, "GET", "/api/v1/digest", NULL, 200);
  JsonObject *buckets = json_object_get_object_member (digest, "buckets");
  g_autoptr(GList) names = g_list_sort (json_object_get_members (buckets), (GCompareFunc) strcmp);
  GString *text = g_string_new (NULL);

  for (GList *l = names; l != NULL; l = l->next)
    if (!g_str_has_prefix (l->data, "patients:"))
      g_string_append_printf (text, "%s=%s ", (const char *) l->data,
                              json_object_get_string_member (buckets, l->data));
  return g_string_free (text, FALSE);
}

static gboolean
public_agree (Net *const *list, guint n)
{
  g_autofree char *first = public_buckets (list[0]);

  for (guint i = 1; i < n; i++)
    {
      g_autofree char *other = public_buckets (list[i]);

      if (strcmp (first, other) != 0)
        return FALSE;
    }
  return TRUE;
}

/* The nets' patients:HOSPITAL digests are equal (and listed by the
 * first, unless @count_zero). */
static gboolean
hospital_agrees (Net *const *list, guint n, const char *hospital, gboolean count_zero)
{
  g_autofree char *first = hospital_bucket (list[0], hospital, TRUE);
  g_autofree char *listed = hospital_bucket (list[0], hospital, FALSE);

  if (count_zero != g_str_has_prefix (first, "0:")
      || strcmp (listed, count_zero ? "" : first) != 0)
    return FALSE;
  for (guint i = 1; i < n; i++)
    {
      g_autofree char *other = hospital_bucket (list[i], hospital, TRUE);

      if (strcmp (first, other) != 0)
        return FALSE;
    }
  return TRUE;
}

static char *
describe_hospital (Net *const *list, guint n, const char *hospital)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *digest = hospital_bucket (list[i], hospital, TRUE);

      g_string_append_printf (text, "\n  %s: %s", list[i]->label, digest);
    }
  return g_string_free (text, FALSE);
}

static void
test_need_to_know (void)
{
  g_autoptr(Net) hub = net_new ("hub", "NtK hub", NULL);
  g_autoptr(Net) fred = net_new ("hospital", "Fred Brooks desk", FRED_BROOKS);
  g_autoptr(Net) julia = net_new ("hospital", "Julia Crusher desk", JULIA_CRUSHER);
  g_autoptr(Net) crew1 = net_new ("ambulance", "MH-AMB-01 crew", UNIT);
  g_autoptr(Net) crew2 = net_new ("ambulance", "MH-AMB-02 crew", UNIT_TWO);
  g_autoptr(JsonObject) made = NULL;
  g_autoptr(JsonObject) done = NULL;
  g_autofree char *diverted = NULL;
  g_autofree char *after = NULL;
  g_autofree char *hospital_message = NULL;
  g_autofree char *crew_path = NULL;
  Announced one = { 0 }, two = { 0 };
  Net *all[5];

  all[0] = hub;
  all[1] = fred;
  all[2] = julia;
  all[3] = crew1;
  all[4] = crew2;

  mh_test_node_import (hub->node, SCENARIO);
  hub->listen = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    net_start (all[i]);
  made = net_send (hub, "POST", "/api/v1/units",
                   "{\"id\": \"" UNIT_TWO "\", \"call_sign\": \"MH-AMB-02\", \"type\": \"als\", "
                   "\"agency\": \"MedHead Demo\"}",
                   201);
  for (guint i = 1; i < G_N_ELEMENTS (all); i++)
    net_link (all[i], hub);
  for (guint i = 1; i < G_N_ELEMENTS (all); i++)
    wait_linked (all[i], hub);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              net_has (crew1, "/api/v1/units/" UNIT) && net_has (crew2, "/api/v1/units/" UNIT_TWO)
                && net_has (crew1, "/api/v1/hospitals/" JULIA_CRUSHER)
                && net_has (crew2, "/api/v1/hospitals/" FRED_BROOKS),
              "the registry did not reach the crews");

  /* Each crew announces its patient to another hospital. */
  announce (crew1, FRED_BROOKS, &one);
  announce (crew2, JULIA_CRUSHER, &two);
  /* A hospital channel: the hospital, the hubs and the author only. */
  hospital_message = net_post_message (crew1, "hospital:" FRED_BROOKS, "MH-AMB-01 inbound");

  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              replica_has_all (hub, &one) && replica_has_all (hub, &two)
                && replica_has_all (fred, &one) && replica_has_all (julia, &two)
                && replica_has (fred, "message", hospital_message)
                && replica_has (hub, "message", hospital_message),
              "the patients did not reach their destinations and the hub");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_quiet (all, G_N_ELEMENTS (all)),
              "the network did not settle");

  g_assert_true (replica_has_all (crew1, &one));
  g_assert_true (replica_has_all (crew2, &two));
  /* Convergence per audience: each hospital's open transfers agree on the
   * hub, its desk and its crew; public buckets everywhere; the other
   * hospital's desk and crew do not hold the bucket. */
  {
    Net *fred_audience[] = { hub, fred, crew1 };
    Net *julia_audience[] = { hub, julia, crew2 };
    g_autofree char *not_fred = NULL;
    g_autofree char *not_julia = NULL;
    g_autofree char *not_fred_crew = NULL;

    WAIT_UNTIL (CONVERGE_TIMEOUT_S, hospital_agrees (fred_audience, 3, FRED_BROOKS, FALSE),
                "patients:Fred Brooks differs:%s", describe_hospital (fred_audience, 3, FRED_BROOKS));
    WAIT_UNTIL (CONVERGE_TIMEOUT_S, hospital_agrees (julia_audience, 3, JULIA_CRUSHER, FALSE),
                "patients:Julia Crusher differs:%s",
                describe_hospital (julia_audience, 3, JULIA_CRUSHER));
    WAIT_UNTIL (CONVERGE_TIMEOUT_S, public_agree (all, G_N_ELEMENTS (all)),
                "the public buckets differ:%s", describe_digests (all, G_N_ELEMENTS (all)));
    not_fred = hospital_bucket (julia, FRED_BROOKS, FALSE);
    not_julia = hospital_bucket (fred, JULIA_CRUSHER, FALSE);
    not_fred_crew = hospital_bucket (crew2, FRED_BROOKS, FALSE);
    g_assert_cmpstr (not_fred, ==, "");
    g_assert_cmpstr (not_julia, ==, "");
    g_assert_cmpstr (not_fred_crew, ==, "");
  }
  g_assert_false (replica_has_any (fred, &two));
  g_assert_false (replica_has_any (julia, &one));
  g_assert_false (replica_has_any (crew1, &two));
  g_assert_false (replica_has_any (crew2, &one));
  g_assert_false (replica_has (julia, "message", hospital_message));
  g_assert_false (replica_has (crew2, "message", hospital_message));
  /* Public data still goes everywhere. */
  g_assert_true (replica_has (crew2, "unit", UNIT));
  g_assert_true (replica_has (julia, "hospital", FRED_BROOKS));
  /* And through the API too. */
  {
    g_autofree char *path = g_strdup_printf ("/api/v1/transfers/%s", one.transfer);
    g_assert_false (net_has (julia, path));
    g_assert_true (net_has (fred, path));
  }

  /* Diversion: a new transfer of the same patient to the other hospital,
   * the first one cancelled by the crew. */
  diverted = add_transfer (crew1, one.patient, JULIA_CRUSHER);
  crew_path = g_strdup_printf ("/api/v1/transfers/%s/crew", one.transfer);
  done = net_send (crew1, "POST", crew_path, "{\"state\": \"cancelled\"}", 200);
  after = add_observation (crew1, one.patient, 126);

  /* The new hospital gets the patient and everything under it at once,
   * although the cursors had long passed over them. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              replica_has (julia, "transfer", diverted)
                && replica_has (julia, "patient", one.patient)
                && replica_has (julia, "observation", one.observation)
                && replica_has (julia, "observation", after)
                && replica_has (hub, "observation", after),
              "the diverted patient did not reach its new hospital");
  g_free (crew_path);
  crew_path = g_strdup_printf ("/api/v1/transfers/%s", one.transfer);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, string_at_is (fred, crew_path, "crew_state", "cancelled"),
              "the cancellation did not reach the first hospital");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_quiet (all, G_N_ELEMENTS (all)),
              "the network did not settle after the diversion");

  /* The first hospital keeps what it saw, and sees nothing new. */
  g_assert_true (replica_has_all (fred, &one));
  g_assert_false (replica_has (fred, "observation", after));
  g_assert_false (replica_has (fred, "transfer", diverted));
  /* The other crew and the other patient are untouched. */
  g_assert_false (replica_has_any (crew2, &one));
  g_assert_false (replica_has (crew2, "transfer", diverted));
  g_assert_false (replica_has_any (fred, &two));
  g_assert_true (replica_has_all (julia, &two));
  /* Fred Brooks has no open transfer left; the diverted patient counts
   * for Julia Crusher, on the hub and her desk alike (each crew holds only
   * its own transfer there, until the handover below). */
  {
    Net *fred_audience[] = { hub, fred, crew1 };
    Net *julia_desks[] = { hub, julia };

    WAIT_UNTIL (CONVERGE_TIMEOUT_S, hospital_agrees (fred_audience, 3, FRED_BROOKS, TRUE),
                "patients:Fred Brooks is not empty:%s",
                describe_hospital (fred_audience, 3, FRED_BROOKS));
    WAIT_UNTIL (CONVERGE_TIMEOUT_S, hospital_agrees (julia_desks, 2, JULIA_CRUSHER, FALSE),
                "patients:Julia Crusher differs:%s", describe_hospital (julia_desks, 2, JULIA_CRUSHER));
  }

  /* Handover: the second crew hands its patient to the first unit, which
   * gets the record and everything under it at once. */
  {
    g_autofree char *path = g_strdup_printf ("/api/v1/patients/%s", two.patient);
    g_autoptr(JsonObject) handed =
      net_send (crew2, "PATCH", path, "{\"unit_id\": \"" UNIT "\"}", 200);
  }
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, replica_has_all (crew1, &two),
              "the handed-over patient did not reach its new unit");
  g_assert_false (replica_has_any (fred, &two));
  /* Now one crew holds both of Julia Crusher's open transfers. */
  {
    Net *julia_audience[] = { hub, julia, crew1 };

    WAIT_UNTIL (CONVERGE_TIMEOUT_S, hospital_agrees (julia_audience, 3, JULIA_CRUSHER, FALSE),
                "patients:Julia Crusher differs after the handover:%s",
                describe_hospital (julia_audience, 3, JULIA_CRUSHER));
    WAIT_UNTIL (CONVERGE_TIMEOUT_S, public_agree (all, G_N_ELEMENTS (all)),
                "the public buckets differ:%s", describe_digests (all, G_N_ELEMENTS (all)));
  }

  announced_clear (&one);
  announced_clear (&two);
  for (guint i = G_N_ELEMENTS (all); i > 0; i--)
    net_terminate (all[i - 1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/network/line", test_line);
  g_test_add_func ("/network/dispatch", test_dispatch);
  g_test_add_func ("/network/retention", test_retention);
  g_test_add_func ("/network/star", test_star);
  g_test_add_func ("/network/mesh", test_mesh);
  g_test_add_func ("/network/catch-up-killed", test_catch_up_killed);
  g_test_add_func ("/network/restored-copy", test_restored_copy);
  g_test_add_func ("/network/refuse/unknown-certificate", test_refuse_unknown_certificate);
  g_test_add_func ("/network/refuse/wrong-fingerprint", test_refuse_wrong_fingerprint);
  g_test_add_func ("/network/refuse/version", test_refuse_version);
  g_test_add_func ("/network/refuse/malformed", test_refuse_malformed);
  g_test_add_func ("/network/refuse/forged-origin", test_refuse_forged_origin);
  g_test_add_func ("/network/refuse/relay-forge", test_refuse_relay_forge);
  g_test_add_func ("/network/refuse/relay-move", test_refuse_relay_move);
  g_test_add_func ("/network/refuse/wrong-owner", test_refuse_wrong_owner);
  g_test_add_func ("/network/refuse/replay", test_refuse_replay);
  g_test_add_func ("/network/clock/behind", test_clock_behind);
  g_test_add_func ("/network/clock/ahead", test_clock_ahead);
  g_test_add_func ("/network/clock/ahead-tie", test_clock_ahead_tie);
  g_test_add_func ("/network/need-to-know", test_need_to_know);

  return g_test_run ();
}

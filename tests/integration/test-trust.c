/* test-trust.c: a network of real nodes with a root of trust
 *
 * Every node is configured with the network key. The hub is admitted by
 * the network key, the stations by the hub; a revoked site is cut off at
 * its cut-off; a station without a valid chain is refused. The node
 * helpers are mh-test-net.c's, shared with test-network.c.
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "mh-test-net.h"
#include "mh-test-util.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define UNIT "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
#define SCENARIO "data/demo/reference-scenario.json"

/* ------------------------------------------------------------------------ */
/* A network: its key, and nodes that belong to it                          */

static char *
cli_ok (const char *const *args)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = mh_test_cli_argv (args, &out, &err);

  if (status != 0)
    fail_dump ("medhead-node %s exited with %d: %s%s", args[0], status, out ? out : "",
               err ? err : "");
  return g_steal_pointer (&out);
}

/* Makes a network key in DIR/netkey and returns its public part. */
static char *
network_create (const char *dir, char **out_key_dir)
{
  g_autofree char *key_dir = g_build_filename (dir, "netkey", NULL);
  g_autofree char *pub_path = g_build_filename (key_dir, "network.pub", NULL);
  const char *args[] = { "network", "create", "--out", key_dir, NULL };
  g_autofree char *out = cli_ok (args);
  g_autofree char *pub = NULL;

  g_assert_nonnull (strstr (out, "network id: "));
  g_assert_true (g_file_get_contents (pub_path, &pub, NULL, NULL));
  *out_key_dir = g_steal_pointer (&key_dir);
  return g_strdup (g_strstrip (pub));
}

/* What `medhead-node init --network KEY` leaves in the data folder. */
static void
net_join (Net *net, const char *network_key)
{
  g_autofree char *path = g_build_filename (net->node->dir, "network-key", NULL);
  g_autofree char *text = g_strconcat (network_key, "\n", NULL);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static char *
net_admission (Net *net)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonObject *network = json_object_get_object_member (status, "network");

  if (network == NULL)
    return g_strdup ("(no network)");
  return g_strdup (json_object_get_string_member (network, "admission"));
}

static gboolean
net_admitted (Net *net)
{
  g_autofree char *state = net_admission (net);

  return g_strcmp0 (state, "admitted") == 0;
}

static gboolean
peer_error_has (Net *net, Net *peer, const char *fragment)
{
  g_autofree char *error = net_peer_error (net, peer->fingerprint);

  return error != NULL && strstr (error, fragment) != NULL;
}

/* ------------------------------------------------------------------------ */
/* An admitted chain links and converges; a revoked site is cut off         */

static void
test_chain_and_revocation (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Trust hub", NULL);
  g_autoptr(Net) hospital = net_new ("hospital", "Fred Brooks desk", FRED_BROOKS);
  g_autoptr(Net) ambulance = net_new ("ambulance", "MH-AMB-01 crew", UNIT);
  g_autofree char *parent = g_path_get_dirname (hub->node->dir);
  g_autofree char *key_dir = NULL;
  g_autofree char *network_key = network_create (parent, &key_dir);
  g_autofree char *copy_dir = g_build_filename (parent, "hub-copy", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *revoked = NULL;
  g_autofree char *cutoff = NULL;
  const char *marker;

  mh_test_node_import (hub->node, SCENARIO);
  net_join (hub, network_key);
  net_join (hospital, network_key);
  net_join (ambulance, network_key);
  {
    const char *admit_hub[] = { "network", "admit-hub", "--key", key_dir, "--data-dir",
                                hub->node->dir, NULL };
    const char *admit_hospital[] = { "admit", "--data-dir", hub->node->dir,
                                     hospital->fingerprint, "--role", "hospital", NULL };
    const char *admit_ambulance[] = { "admit", "--data-dir", hub->node->dir,
                                      ambulance->site_id, "--role", "ambulance", NULL };
    g_free (cli_ok (admit_hub));
    g_free (cli_ok (admit_hospital));
    g_free (cli_ok (admit_ambulance));
  }

  hub->listen = TRUE;
  net_start (hub);
  net_start (hospital);
  net_start (ambulance);
  net_link (hospital, hub);
  net_link (ambulance, hub);
  wait_linked (hospital, hub);
  wait_linked (ambulance, hub);
  /* The stations learn their own admission from the hub. */
  WAIT_UNTIL (LINK_TIMEOUT_S, net_admitted (hospital) && net_admitted (ambulance),
              "the stations did not learn their admissions");
  g_assert_true (net_admitted (hub));

  before = net_post_message (hospital, "broadcast", "before the revocation");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (ambulance, before),
              "the hospital's message did not reach the ambulance");

  /* The default cut-off is the highest change of the site the revoking
   * node has seen: read on a copy of the hub's data, to keep it for later. */
  net_terminate (hub);
  {
    const char *cp[] = { "cp", "-a", hub->node->dir, copy_dir, NULL };
    const char *revoke_copy[] = { "revoke", "--data-dir", copy_dir, hospital->site_id, NULL };
    g_autoptr(GError) error = NULL;
    int wait_status = 0;

    g_assert_true (g_spawn_sync (NULL, (char **) cp, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                 NULL, NULL, &wait_status, &error));
    g_assert_no_error (error);
    g_assert_cmpint (wait_status, ==, 0);
    revoked = cli_ok (revoke_copy);
    marker = strstr (revoked, "after ");
    g_assert_nonnull (marker);
    cutoff = g_strndup (marker + strlen ("after "), strspn (marker + strlen ("after "),
                                                             "0123456789"));
    g_assert_cmpuint (strlen (cutoff), >, 0);
    g_assert_cmpint (g_ascii_strtoll (cutoff, NULL, 10), >, 0);
    mh_test_rm_rf (copy_dir);
  }
  net_start (hub);
  wait_linked (hospital, hub);
  wait_linked (ambulance, hub);

  /* A change after the cut-off reaches the hub while the ambulance is away. */
  net_terminate (ambulance);
  after = net_post_message (hospital, "broadcast", "after the cut-off");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (hub, after),
              "the hospital's second message did not reach the hub");

  /* The hub revokes it while running: the open link is closed, and the
   * next calls are refused. */
  {
    const char *revoke[] = { "revoke", "--data-dir", hub->node->dir, hospital->fingerprint,
                             "--cutoff", cutoff, NULL };
    g_free (cli_ok (revoke));
  }
  WAIT_UNTIL (LINK_TIMEOUT_S, peer_error_has (hospital, hub, "revoked")
                                && !net_connected (hub, hospital),
              "the revoked hospital's link was not closed");

  /* Revocation holds for the past too: the hub had applied the second
   * message before it revoked the site, and takes it back. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, !net_has_message (hub, after),
              "the hub did not take back the revoked site's later change");
  g_assert_true (net_has_message (hub, before));

  /* The ambulance learns the revocation: the first message stays, the
   * second never comes. */
  net_start (ambulance);
  wait_linked (ambulance, hub);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (ambulance, before),
              "the first message did not stay at the ambulance");
  g_usleep (G_USEC_PER_SEC);
  g_assert_false (net_has_message (ambulance, after));
  g_assert_true (net_admitted (ambulance));
  {
    g_autofree char *state = net_admission (hospital);
    /* It never heard of its own revocation: its links are refused first. */
    g_assert_cmpstr (state, ==, "admitted");
  }
  g_assert_false (net_connected (hub, hospital));

  net_terminate (hospital);
  net_terminate (ambulance);
  net_terminate (hub);
}

/* The record of @subject in the replica of @net, as stored. */
static char *
stored_record (Net *net, const char *subject)
{
  g_autofree char *path = g_build_filename (net->node->dir, "replica.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *record = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT record FROM _mh_trust WHERE instr (record, ?)",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, subject, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    record = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  g_assert_nonnull (record);
  return record;
}

/* Writes @record straight into the trust table of @net's replica. */
static void
plant_record (Net *net, const char *record)
{
  g_autofree char *path = g_build_filename (net->node->dir, "replica.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE IF NOT EXISTS _mh_trust (hash TEXT PRIMARY "
                                     "KEY, record TEXT NOT NULL, added_at INTEGER)",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "INSERT INTO _mh_trust (hash, record) "
                                           "VALUES ('planted', ?)", -1, &stmt, NULL), ==,
                   SQLITE_OK);
  sqlite3_bind_text (stmt, 1, record, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

/* ------------------------------------------------------------------------ */
/* No admission, a tampered one, or one from a hub the network never        */
/* admitted: refused                                                        */

static void
test_unadmitted_refused (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Admitted hub", NULL);
  g_autoptr(Net) rogue = net_new ("hub", "Rogue hub", NULL);
  g_autoptr(Net) station = net_new ("ambulance", "MH-AMB-01 crew", UNIT);
  g_autofree char *parent = g_path_get_dirname (hub->node->dir);
  g_autofree char *key_dir = NULL;
  g_autofree char *network_key = network_create (parent, &key_dir);
  g_autofree char *err = NULL;

  net_join (hub, network_key);
  net_join (rogue, network_key);
  net_join (station, network_key);
  {
    const char *admit_hub[] = { "network", "admit-hub", "--key", key_dir, "--data-dir",
                                hub->node->dir, NULL };
    const char *admit_by_rogue[] = { "admit", "--data-dir", rogue->node->dir,
                                     station->fingerprint, "--role", "ambulance", NULL };

    const char *admit_other[] = { "admit", "--data-dir", hub->node->dir,
                                  "ABCD-EFGH-IJKL-MNOP-QRST", "--role", "ambulance", NULL };
    g_autofree char *genuine = NULL;
    g_autoptr(JsonNode) tampered = NULL;
    g_autofree char *tampered_text = NULL;

    g_free (cli_ok (admit_hub));
    /* The rogue hub cannot sign an admission that chains to the network. */
    g_assert_cmpint (mh_test_cli_argv (admit_by_rogue, NULL, &err), ==, 1);
    g_assert_nonnull (strstr (err, "not an admitted hub"));

    /* A genuine admission of another site, its subject changed to the
     * station's, planted in the station's own replica: not believed. */
    g_free (cli_ok (admit_other));
    genuine = stored_record (hub, "ABCD-EFGH-IJKL-MNOP-QRST");
    tampered = json_from_string (genuine, NULL);
    g_assert_nonnull (tampered);
    json_object_set_string_member (json_node_get_object (tampered), "subject", station->site_id);
    tampered_text = json_to_string (tampered, FALSE);
    plant_record (station, tampered_text);
  }

  hub->listen = TRUE;
  net_start (hub);
  net_start (station);
  net_link (station, hub);
  WAIT_UNTIL (LINK_TIMEOUT_S, peer_error_has (station, hub, "no valid admission"),
              "the hub did not refuse a station without admission");
  /* The station may see the link open for a moment (the hub's hello
   * arrives before the hub's refusal), but the hub never opens it: nothing
   * is sent to it or taken from it. */
  g_assert_false (net_connected (hub, station));
  {
    g_autofree char *state = net_admission (station);
    g_assert_cmpstr (state, ==, "none");
  }
  net_terminate (station);
  net_terminate (hub);
}


static gboolean
status_rejected_has (Net *net, const char *table, const char *row, const char *reason)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonArray *rejected = json_object_get_array_member (status, "rejected");

  for (guint i = 0; rejected != NULL && i < json_array_get_length (rejected); i++)
    {
      JsonObject *entry = json_array_get_object_element (rejected, i);

      if (g_strcmp0 (json_object_get_string_member (entry, "table"), table) == 0
          && g_strcmp0 (json_object_get_string_member (entry, "row"), row) == 0
          && strstr (json_object_get_string_member_with_default (entry, "reason", ""), reason))
        return TRUE;
    }
  return FALSE;
}

/* A laptop made as a hub but admitted as an ambulance: its claim is
 * refused, and it is sent what an ambulance is sent. */
static void
test_role_from_admission (void)
{
  g_autoptr(Net) hub = net_new ("hub", "Admitted hub", NULL);
  g_autoptr(Net) laptop = net_new ("hub", "Laptop calling itself a hub", NULL);
  g_autoptr(Net) crew = net_new ("ambulance", "MH-AMB-01 crew", UNIT);
  g_autofree char *parent = g_path_get_dirname (hub->node->dir);
  g_autofree char *key_dir = NULL;
  g_autofree char *network_key = network_create (parent, &key_dir);
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(JsonObject) status = NULL;
  g_autofree char *patient_path = NULL;
  g_autofree char *message = NULL;

  mh_test_node_import (hub->node, SCENARIO);
  net_join (hub, network_key);
  net_join (laptop, network_key);
  net_join (crew, network_key);
  {
    const char *admit_hub[] = { "network", "admit-hub", "--key", key_dir, "--data-dir",
                                hub->node->dir, NULL };
    const char *admit_laptop[] = { "admit", "--data-dir", hub->node->dir, laptop->fingerprint,
                                   "--role", "ambulance", NULL };
    const char *admit_crew[] = { "admit", "--data-dir", hub->node->dir, crew->fingerprint,
                                 "--role", "ambulance", NULL };
    g_free (cli_ok (admit_hub));
    g_free (cli_ok (admit_laptop));
    g_free (cli_ok (admit_crew));
  }

  hub->listen = TRUE;
  net_start (hub);
  net_start (laptop);
  net_start (crew);
  net_link (laptop, hub);
  net_link (crew, hub);
  wait_linked (laptop, hub);
  wait_linked (crew, hub);
  status = net_status (hub);
  g_assert_true (json_object_get_boolean_member (status, "roles_verified"));

  WAIT_UNTIL (CONVERGE_TIMEOUT_S,
              status_rejected_has (hub, "site", laptop->site_id, "admitted as ambulance"),
              "the hub took the laptop's claim to be a hub");

  /* The laptop is linked and fed: a broadcast reaches it... */
  message = net_post_message (crew, "broadcast", "before the patient");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (laptop, message),
              "the crew's broadcast did not reach the laptop");
  /* ...but the crew's patient, which a hub would be sent, does not. */
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (crew, "/api/v1/units/" UNIT),
              "the crew's own unit did not reach it");
  patient = net_send (crew, "POST", "/api/v1/patients",
                      "{\"age_estimate\": 70, \"triage\": \"immediate\"}", 201);
  patient_path = g_strdup_printf ("/api/v1/patients/%s",
                                  json_object_get_string_member (patient, "id"));
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (hub, patient_path),
              "the crew's patient did not reach the hub");
  g_usleep (3 * G_USEC_PER_SEC);
  g_assert_false (net_has (laptop, patient_path));

  net_terminate (crew);
  net_terminate (laptop);
  net_terminate (hub);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/trust/chain-and-revocation", test_chain_and_revocation);
  g_test_add_func ("/trust/unadmitted-refused", test_unadmitted_refused);
  g_test_add_func ("/trust/role-from-admission", test_role_from_admission);

  return g_test_run ();
}

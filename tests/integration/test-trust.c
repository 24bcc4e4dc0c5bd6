/* test-trust.c: a network of real nodes with a root of trust
 *
 * Every node is configured with the network key. The hub is admitted by
 * the network key, the stations by the hub; a revoked site is cut off at
 * its cut-off; a station without a valid chain is refused. The node
 * helpers are those of test-network.c.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "mh-test-node.h"
#include "mh-test-util.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define UNIT "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
#define SCENARIO "data/demo/reference-scenario.json"
#define START_TIMEOUT_S 60
#define LINK_TIMEOUT_S 90
#define CONVERGE_TIMEOUT_S 180


typedef struct
{
  MhTestNode *node; /* data folder, API URL and token, process */
  char *label;
  char *site_id;
  char *fingerprint;
  gboolean listen;
  /* Chosen by the first start and kept by the next ones: the peers that
   * call this node have its URL pinned, as they would a hub's address. */
  guint16 sync_port;
  char *sync_url;
  GPtrArray *env; /* NAME=VALUE for serve */
  char *log_path;
  guint starts;
} Net;


static GPtrArray *nets;


static void
die_with_parent (gpointer user_data)
{
  /* A test that fails aborts: its nodes must not outlive it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
net_running (Net *net)
{
  return net->node->process != NULL && g_subprocess_get_identifier (net->node->process) != NULL;
}

static void
print_lines (const char *prefix, const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  /* One message per line: each must start with "#" to stay TAP. */
  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0')
      g_test_message ("%s%s", prefix, lines[i]);
}

static void G_GNUC_NORETURN G_GNUC_PRINTF (1, 2)
fail_dump (const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list ap;

  va_start (ap, format);
  what = g_strdup_vprintf (format, ap);
  va_end (ap);

  for (guint i = 0; nets != NULL && i < nets->len; i++)
    {
      Net *net = g_ptr_array_index (nets, i);
      g_autofree char *log = NULL;
      gsize length = 0;

      g_test_message ("---- %s (%s, %s)", net->label, net->fingerprint,
                      net_running (net) ? "running" : "stopped");
      if (g_file_get_contents (net->log_path, &log, &length, NULL))
        print_lines ("  log: ", length > 6000 ? log + length - 6000 : log);
      if (net_running (net) && net->node->url != NULL)
        {
          g_autoptr(MhTestReply) reply = mh_test_node_request (net->node, "GET", "/api/v1/status",
                                                               NULL);
          print_lines ("  status: ", reply->body);
        }
    }
  g_error ("%s", what);
}

/* Polls instead of sleeping: most waits end within milliseconds. The
 * message arguments are only evaluated when the wait fails. */
#define WAIT_UNTIL(seconds, condition, ...)                                                       \
  G_STMT_START                                                                                    \
  {                                                                                               \
    gint64 wait_deadline_ = g_get_monotonic_time () + (gint64) (seconds) * G_USEC_PER_SEC;        \
    while (!(condition))                                                                          \
      {                                                                                           \
        if (g_get_monotonic_time () > wait_deadline_)                                             \
          fail_dump (__VA_ARGS__);                                                                \
        g_usleep (20 * 1000);                                                                     \
      }                                                                                           \
  }                                                                                               \
  G_STMT_END

static char *
read_trimmed (const char *path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL) || *g_strstrip (text) == '\0')
    return NULL;
  return g_steal_pointer (&text);
}

static Net *
net_new (const char *role, const char *label, const char *for_id)
{
  Net *net = g_new0 (Net, 1);
  g_autofree char *out = NULL;
  g_autofree char *parent = NULL;
  g_auto(GStrv) lines = NULL;
  int status;

  net->node = mh_test_node_new (role, label, for_id);
  net->label = g_strdup (label);
  net->env = g_ptr_array_new_with_free_func (g_free);
  parent = g_path_get_dirname (net->node->dir);
  net->log_path = g_build_filename (parent, "serve.log", NULL);
  g_ptr_array_add (nets, net);

  status = mh_test_cli (&out, NULL, "id", "--data-dir", net->node->dir, NULL);
  g_assert_cmpint (status, ==, 0);
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "site-id: "))
        net->site_id = g_strstrip (g_strdup (lines[i] + strlen ("site-id: ")));
      else if (g_str_has_prefix (lines[i], "fingerprint: "))
        net->fingerprint = g_strstrip (g_strdup (lines[i] + strlen ("fingerprint: ")));
    }
  if (net->site_id == NULL || net->fingerprint == NULL)
    g_error ("medhead-node id printed no site id or fingerprint: %s", out);
  g_assert_cmpuint (strlen (net->site_id), ==, 26);
  g_assert_cmpuint (strlen (net->fingerprint), ==, 24);
  return net;
}

static void
net_free (Net *net)
{
  if (net == NULL)
    return;
  g_ptr_array_remove (nets, net);
  mh_test_node_free (net->node); /* kills it if it still runs */
  g_ptr_array_unref (net->env);
  g_free (net->label);
  g_free (net->site_id);
  g_free (net->fingerprint);
  g_free (net->sync_url);
  g_free (net->log_path);
  g_free (net);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Net, net_free)

static void
net_start (Net *net)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *api_path = g_build_filename (net->node->dir, "api-url", NULL);
  g_autofree char *sync_path = g_build_filename (net->node->dir, "sync-url", NULL);
  g_autofree char *token_path = g_build_filename (net->node->dir, "api-token", NULL);
  g_autoptr(GError) error = NULL;
  gint64 deadline;
  FILE *banner;
  int fd;

  g_assert_null (net->node->process);
  /* A node killed with SIGKILL leaves its URL files behind: they must not
   * pass for the new process's. */
  g_unlink (api_path);
  g_unlink (sync_path);
  g_clear_pointer (&net->node->url, g_free);
  g_clear_pointer (&net->sync_url, g_free);

  g_ptr_array_add (argv, g_strdup (mh_test_node_program ()));
  g_ptr_array_add (argv, g_strdup ("serve"));
  g_ptr_array_add (argv, g_strdup ("--data-dir"));
  g_ptr_array_add (argv, g_strdup (net->node->dir));
  g_ptr_array_add (argv, g_strdup ("--api"));
  g_ptr_array_add (argv, g_strdup ("127.0.0.1:0"));
  if (net->listen)
    {
      g_ptr_array_add (argv, g_strdup ("--listen"));
      g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%u", net->sync_port));
    }
  g_ptr_array_add (argv, NULL);

  for (guint i = 0; i < net->env->len; i++)
    {
      g_auto(GStrv) pair = g_strsplit (g_ptr_array_index (net->env, i), "=", 2);
      g_subprocess_launcher_setenv (launcher, pair[0], pair[1], TRUE);
    }
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);

  banner = fopen (net->log_path, "a");
  g_assert_nonnull (banner);
  fprintf (banner, "==== start %u of %s\n", ++net->starts, net->label);
  fclose (banner);
  fd = open (net->log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_subprocess_launcher_take_stderr_fd (launcher, fcntl (fd, F_DUPFD_CLOEXEC, 3));
  g_subprocess_launcher_take_stdout_fd (launcher, fd);

  net->node->process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata,
                                                     &error);
  g_assert_no_error (error);

  deadline = g_get_monotonic_time () + START_TIMEOUT_S * G_USEC_PER_SEC;
  for (;;)
    {
      if (net->node->url == NULL)
        net->node->url = read_trimmed (api_path);
      if (net->listen && net->sync_url == NULL)
        net->sync_url = read_trimmed (sync_path);
      if (net->node->url != NULL && (!net->listen || net->sync_url != NULL))
        break;
      if (g_subprocess_get_identifier (net->node->process) == NULL)
        fail_dump ("%s: medhead-node serve exited before listening", net->label);
      if (g_get_monotonic_time () > deadline)
        fail_dump ("%s: medhead-node serve did not listen within %d s", net->label,
                   START_TIMEOUT_S);
      g_usleep (10 * 1000);
    }
  g_assert_true (g_str_has_prefix (net->node->url, "http://127.0.0.1:"));

  g_clear_pointer (&net->node->token, g_free);
  net->node->token = read_trimmed (token_path);
  g_assert_nonnull (net->node->token);

  if (net->listen)
    {
      g_autoptr(GUri) uri = g_uri_parse (net->sync_url, G_URI_FLAGS_NONE, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (g_uri_get_scheme (uri), ==, "https");
      g_assert_cmpstr (g_uri_get_host (uri), ==, "127.0.0.1");
      g_assert_cmpint (g_uri_get_port (uri), >, 0);
      if (net->sync_port == 0)
        net->sync_port = (guint16) g_uri_get_port (uri);
      g_assert_cmpint (g_uri_get_port (uri), ==, net->sync_port);
    }
}

/* Sends the signal and waits; returns the exit status, or 128 + signal. */
static int
net_stop (Net *net, int signal_number)
{
  g_autoptr(GSubprocess) process = g_steal_pointer (&net->node->process);
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (process);
  g_subprocess_send_signal (process, signal_number);
  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
  if (g_subprocess_get_if_signaled (process))
    return 128 + g_subprocess_get_term_sig (process);
  return g_subprocess_get_exit_status (process);
}

static void
net_terminate (Net *net)
{
  int status = net_stop (net, SIGTERM);

  if (status != 0)
    fail_dump ("%s: exited with %d on SIGTERM", net->label, status);
}

/* NULL unless the answer is 200 with an object. */
static JsonObject *
net_get (Net *net, const char *path)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (net->node, "GET", path, NULL);

  if (reply->status != 200 || reply->json == NULL || !JSON_NODE_HOLDS_OBJECT (reply->json))
    return NULL;
  return json_object_ref (json_node_get_object (reply->json));
}

static gboolean
net_has (Net *net, const char *path)
{
  g_autoptr(JsonObject) object = net_get (net, path);

  return object != NULL;
}

static JsonObject *
net_send (Net *net, const char *method, const char *path, const char *body, guint expected)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (net->node, method, path, body);

  if (reply->status != expected)
    fail_dump ("%s: %s %s: expected %u, got %u %s", net->label, method, path, expected,
               reply->status, reply->body);
  return json_object_ref (mh_test_reply_object (reply));
}

static JsonObject *
net_status (Net *net)
{
  return net_send (net, "GET", "/api/v1/status", NULL, 200);
}

static JsonObject *
status_peer (JsonObject *status, const char *fingerprint)
{
  JsonArray *peers = json_object_get_array_member (status, "peers");

  g_assert_nonnull (peers);
  for (guint i = 0; i < json_array_get_length (peers); i++)
    {
      JsonObject *peer = json_array_get_object_element (peers, i);

      if (g_strcmp0 (json_object_get_string_member_with_default (peer, "fingerprint", NULL),
                     fingerprint) == 0)
        return peer;
    }
  return NULL;
}

static gboolean
net_connected (Net *net, Net *peer)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonObject *entry = status_peer (status, peer->fingerprint);

  return entry != NULL && json_object_get_boolean_member_with_default (entry, "connected", FALSE);
}

/* The peer's last_error as net records it, or NULL. */
static char *
net_peer_error (Net *net, const char *fingerprint)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonObject *entry = status_peer (status, fingerprint);

  if (entry == NULL)
    return NULL;
  return g_strdup (json_object_get_string_member_with_default (entry, "last_error", NULL));
}

static char *
net_post_message (Net *net, const char *channel, const char *text)
{
  g_autofree char *body = g_strdup_printf ("{\"channel\": \"%s\", \"body\": \"%s\"}", channel,
                                           text);
  g_autoptr(JsonObject) message = net_send (net, "POST", "/api/v1/messages", body, 201);

  return g_strdup (json_object_get_string_member (message, "id"));
}

static char *
message_path (const char *id)
{
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);

  return g_strdup_printf ("/api/v1/messages/%s", escaped);
}

static gboolean
net_has_message (Net *net, const char *id)
{
  g_autofree char *path = message_path (id);

  return net_has (net, path);
}

/* Pins peer on net: with call, net calls it at its sync URL; without,
 * net only accepts its calls. A running node takes it at once. */
static void
net_pin (Net *net, Net *peer, gboolean call)
{
  if (call)
    g_assert_nonnull (peer->sync_url);

  if (net_running (net))
    {
      g_autofree char *body = NULL;
      g_autoptr(MhTestReply) reply = NULL;

      if (call)
        body = g_strdup_printf ("{\"fingerprint\": \"%s\", \"url\": \"%s\"}",
                                peer->fingerprint, peer->sync_url);
      else
        body = g_strdup_printf ("{\"fingerprint\": \"%s\"}", peer->fingerprint);
      reply = mh_test_node_request (net->node, "POST", "/api/v1/peers", body);
      if (reply->status != 200 && reply->status != 201)
        fail_dump ("%s: POST /api/v1/peers %s: %u %s", net->label, body, reply->status,
                   reply->body);
    }
  else
    {
      const char *args[] = { "peer", "add", "--data-dir", net->node->dir, peer->fingerprint,
                             call ? "--url" : NULL, call ? peer->sync_url : NULL, NULL };

      g_assert_cmpint (mh_test_cli_argv (args, NULL, NULL), ==, 0);
    }
}

/* The listener first: a call it does not expect yet would be refused, and
 * the caller would back off before trying again. */
static void
net_link (Net *caller, Net *listener)
{
  net_pin (listener, caller, FALSE);
  net_pin (caller, listener, TRUE);
}

static void
wait_linked (Net *a, Net *b)
{
  WAIT_UNTIL (LINK_TIMEOUT_S, net_connected (a, b) && net_connected (b, a),
              "%s and %s did not link", a->label, b->label);
}

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

/* Whether net's rejected queue lists a change refused for a revocation. */
static gboolean
net_rejected_revoked (Net *net)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonArray *rejected = json_object_get_array_member (status, "rejected");

  for (guint i = 0; rejected != NULL && i < json_array_get_length (rejected); i++)
    {
      JsonObject *entry = json_array_get_object_element (rejected, i);
      const char *reason = json_object_get_string_member_with_default (entry, "reason", "");

      if (strstr (reason, "revoked") != NULL)
        return TRUE;
    }
  return FALSE;
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

  /* The ambulance learns the revocation before the changes: the first
   * message stays, the second is rejected, with the reason. */
  net_start (ambulance);
  wait_linked (ambulance, hub);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_rejected_revoked (ambulance),
              "the ambulance did not reject the revoked site's later change");
  g_assert_true (net_has_message (ambulance, before));
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

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  nets = g_ptr_array_new ();

  g_test_add_func ("/trust/chain-and-revocation", test_chain_and_revocation);
  g_test_add_func ("/trust/unadmitted-refused", test_unadmitted_refused);

  status = g_test_run ();
  g_ptr_array_unref (nets);
  return status;
}

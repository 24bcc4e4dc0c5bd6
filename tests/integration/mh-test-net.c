/* mh-test-net.c: nodes of a network under test, as real processes
 *
 * The harness that test-network.c and test-trust.c share; see
 * mh-test-net.h.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mh-test-net.h"
#include "mh-test-util.h"

/* The nodes of the running test, to show their logs when a wait fails. */
static GPtrArray *nets;

static void
die_with_parent (gpointer user_data)
{
  /* A test that fails aborts: its nodes must not outlive it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

gboolean
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

void
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

static char *
read_trimmed (const char *path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL) || *g_strstrip (text) == '\0')
    return NULL;
  return g_steal_pointer (&text);
}

Net *
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
  if (nets == NULL)
    nets = g_ptr_array_new ();
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

void
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

void
net_setenv (Net *net, const char *name, const char *value)
{
  g_ptr_array_add (net->env, g_strdup_printf ("%s=%s", name, value));
}

void
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
int
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

void
net_terminate (Net *net)
{
  int status = net_stop (net, SIGTERM);

  if (status != 0)
    fail_dump ("%s: exited with %d on SIGTERM", net->label, status);
}

void
net_kill (Net *net)
{
  g_assert_cmpint (net_stop (net, SIGKILL), ==, 128 + SIGKILL);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

/* NULL unless the answer is 200 with an object. */
JsonObject *
net_get (Net *net, const char *path)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (net->node, "GET", path, NULL);

  if (reply->status != 200 || reply->json == NULL || !JSON_NODE_HOLDS_OBJECT (reply->json))
    return NULL;
  return json_object_ref (json_node_get_object (reply->json));
}

gboolean
net_has (Net *net, const char *path)
{
  g_autoptr(JsonObject) object = net_get (net, path);

  return object != NULL;
}

JsonArray *
net_get_array (Net *net, const char *path)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (net->node, "GET", path, NULL);

  if (reply->status != 200)
    fail_dump ("%s: GET %s: %u %s", net->label, path, reply->status, reply->body);
  return json_array_ref (mh_test_reply_array (reply));
}

JsonObject *
net_send (Net *net, const char *method, const char *path, const char *body, guint expected)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (net->node, method, path, body);

  if (reply->status != expected)
    fail_dump ("%s: %s %s: expected %u, got %u %s", net->label, method, path, expected,
               reply->status, reply->body);
  return json_object_ref (mh_test_reply_object (reply));
}

JsonObject *
net_status (Net *net)
{
  return net_send (net, "GET", "/api/v1/status", NULL, 200);
}

JsonObject *
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

gint64
status_count (JsonObject *status, const char *name)
{
  return json_object_get_int_member (json_object_get_object_member (status, "counts"), name);
}

/* Whether peer is in net's list of peers at all. */
gboolean
net_knows (Net *net, Net *peer)
{
  g_autoptr(JsonObject) status = net_status (net);

  return status_peer (status, peer->fingerprint) != NULL;
}

gboolean
net_connected (Net *net, Net *peer)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonObject *entry = status_peer (status, peer->fingerprint);

  return entry != NULL && json_object_get_boolean_member_with_default (entry, "connected", FALSE);
}

/* The peer's last_error as net records it, or NULL. */
char *
net_peer_error (Net *net, const char *fingerprint)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonObject *entry = status_peer (status, fingerprint);

  if (entry == NULL)
    return NULL;
  return g_strdup (json_object_get_string_member_with_default (entry, "last_error", NULL));
}

gboolean
peer_has_error (Net *net, const char *fingerprint)
{
  g_autofree char *error = net_peer_error (net, fingerprint);

  return error != NULL;
}

gint64
net_peer_int (Net *net, Net *peer, const char *member)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonObject *entry = status_peer (status, peer->fingerprint);

  g_assert_nonnull (entry);
  return json_object_get_int_member_with_default (entry, member, -1);
}

/* The digests, bucket by bucket in name order, as text to compare. */
char *
net_digest (Net *net)
{
  g_autoptr(JsonObject) digest = net_send (net, "GET", "/api/v1/digest", NULL, 200);
  const char *const parts[] = { "buckets", "held" };
  GString *text = g_string_new (NULL);

  /* With the held totals: the nets compared hold the same patients. */
  for (guint p = 0; p < G_N_ELEMENTS (parts); p++)
    {
      JsonObject *buckets = json_object_get_object_member (digest, parts[p]);
      g_autoptr(GList) names = NULL;

      g_assert_nonnull (buckets);
      names = g_list_sort (json_object_get_members (buckets), (GCompareFunc) strcmp);
      for (GList *l = names; l != NULL; l = l->next)
        g_string_append_printf (text, "%s%s=%s ", p > 0 ? "held/" : "", (const char *) l->data,
                                json_object_get_string_member (buckets, l->data));
    }
  return g_string_free (text, FALSE);
}

gboolean
nets_converged (Net *const *list, guint n)
{
  g_autofree char *first = net_digest (list[0]);

  for (guint i = 1; i < n; i++)
    {
      g_autofree char *other = net_digest (list[i]);

      if (g_strcmp0 (first, other) != 0)
        return FALSE;
    }
  return TRUE;
}

char *
describe_digests (Net *const *list, guint n)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *digest = net_running (list[i]) ? net_digest (list[i]) : NULL;

      g_string_append_printf (text, "\n  %s: %s", list[i]->label, digest ? digest : "(stopped)");
    }
  return g_string_free (text, FALSE);
}

char *
net_post_message (Net *net, const char *channel, const char *text)
{
  g_autofree char *body = g_strdup_printf ("{\"channel\": \"%s\", \"body\": \"%s\"}", channel,
                                           text);
  g_autoptr(JsonObject) message = net_send (net, "POST", "/api/v1/messages", body, 201);

  return g_strdup (json_object_get_string_member (message, "id"));
}

char *
message_path (const char *id)
{
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);

  return g_strdup_printf ("/api/v1/messages/%s", escaped);
}

gboolean
net_has_message (Net *net, const char *id)
{
  g_autofree char *path = message_path (id);

  return net_has (net, path);
}

/* ------------------------------------------------------------------------ */
/* Peers                                                                    */

/* Pins peer on net: with call, net calls it at its sync URL; without,
 * net only accepts its calls. A running node takes it at once. */
void
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

/* Forgets peer; a running node drops its link at once. */
void
net_unpin (Net *net, Net *peer)
{
  if (net_running (net))
    {
      g_autofree char *path = g_strdup_printf ("/api/v1/peers/%s", peer->fingerprint);
      g_autoptr(JsonObject) done = net_send (net, "DELETE", path, NULL, 200);
    }
  else
    {
      int status = mh_test_cli (NULL, NULL, "peer", "remove", "--data-dir", net->node->dir,
                                peer->fingerprint, NULL);

      g_assert_cmpint (status, ==, 0);
    }
}

/* The listener first: a call it does not expect yet would be refused, and
 * the caller would back off before trying again. */
void
net_link (Net *caller, Net *listener)
{
  net_pin (listener, caller, FALSE);
  net_pin (caller, listener, TRUE);
}

void
wait_linked (Net *a, Net *b)
{
  WAIT_UNTIL (LINK_TIMEOUT_S, net_connected (a, b) && net_connected (b, a),
              "%s and %s did not link", a->label, b->label);
}

/* The nine HAvBED categories: each a row of the beds table. */
const char *const net_bed_categories[] = {
  "adult_icu", "pediatric_icu", "medical_surgical", "pediatrics", "psychiatric", "burn",
  "negative_pressure_isolation", "other_isolation", "operating_rooms", NULL,
};

/**
 * net_large_registry:
 *
 * A registry document of @n_hospitals hospitals, each with every bed
 * category (a hospital is 1 + 9 rows): enough to make a catch-up last.
 */
JsonNode *
net_large_registry (guint n_hospitals)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_string_value (builder, "medhead-registry/1");
  json_builder_set_member_name (builder, "hospitals");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n_hospitals; i++)
    {
      g_autofree char *id = g_uuid_string_random ();
      g_autofree char *name = g_strdup_printf ("Hospital %u", i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, id);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "lat");
      json_builder_add_double_value (builder, 45.0 + i * 0.001);
      json_builder_set_member_name (builder, "lon");
      json_builder_add_double_value (builder, 2.0 + (i % 100) * 0.01);
      json_builder_set_member_name (builder, "specialties");
      json_builder_begin_array (builder);
      json_builder_add_int_value (builder, 21);
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "ems_traffic");
      json_builder_add_string_value (builder, "normal");
      json_builder_set_member_name (builder, "beds");
      json_builder_begin_object (builder);
      for (guint c = 0; c < NET_N_BED_CATEGORIES; c++)
        {
          json_builder_set_member_name (builder, net_bed_categories[c]);
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "available");
          json_builder_add_int_value (builder, (i + c) % 7);
          json_builder_set_member_name (builder, "baseline");
          json_builder_add_int_value (builder, 10);
          json_builder_set_member_name (builder, "surge_24h");
          json_builder_add_int_value (builder, 1);
          json_builder_end_object (builder);
        }
      json_builder_end_object (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "units");
  json_builder_begin_array (builder);
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

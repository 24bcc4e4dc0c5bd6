/* test-hostile-peer.c: a pinned peer that speaks the protocol badly
 *
 * A real node (store, replicator listening on 127.0.0.1) and a hand-driven
 * client holding a pinned identity, which opens the link over TLS and sends
 * what it likes. Regressions of what tests/fuzz found:
 * - {"type": true} crashed the node (a NULL type compared as a string);
 * - a hello cursor that is not two integers was read as 0 with a critical.
 * And a link that never says hello is closed (the hello timeout).
 * Criticals are fatal here: json-glib's count as failures.
 */
#include "config.h"

#include <libsoup/soup.h>

#include "mh-identity.h"
#include "mh-peers.h"
#include "mh-replicator.h"
#include "mh-sync.h"
#include "mh-test-util.h"

#define WAIT_MS 60000

static char *base;
static MhIdentity *hub_identity, *peer_identity;
static MhStore *hub_store;
static MhReplicator *hub;
static guint16 hub_port;

typedef struct
{
  SoupWebsocketConnection *conn;
  GError *error;
  gboolean done;
  gboolean closed;
  gushort close_code;
  GPtrArray *received; /* char* */
} Client;

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
wait_until (gboolean *flag, guint ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (ms, timeout_cb, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return *flag;
}

static void
settle (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, timeout_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
accept_any_cb (SoupMessage *msg, GTlsCertificate *certificate, GTlsCertificateFlags errors,
               gpointer data)
{
  return TRUE;
}

static void
message_cb (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer data)
{
  Client *client = data;

  g_ptr_array_add (client->received, g_strndup (g_bytes_get_data (message, NULL),
                                                g_bytes_get_size (message)));
}

static void
closed_cb (SoupWebsocketConnection *conn, gpointer data)
{
  Client *client = data;

  client->closed = TRUE;
  client->close_code = soup_websocket_connection_get_close_code (conn);
}

static void
connected_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Client *client = data;

  client->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result,
                                                        &client->error);
  client->done = TRUE;
  if (client->conn != NULL)
    {
      g_signal_connect (client->conn, "message", G_CALLBACK (message_cb), client);
      g_signal_connect (client->conn, "closed", G_CALLBACK (closed_cb), client);
    }
}

static Client *
client_connect (SoupSession *session)
{
  Client *client = g_new0 (Client, 1);
  g_autofree char *uri = g_strdup_printf ("https://127.0.0.1:%u%s", hub_port, MH_SYNC_PATH);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);

  client->received = g_ptr_array_new_with_free_func (g_free);
  soup_message_set_tls_client_certificate (msg, mh_identity_get_tls_certificate (peer_identity));
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_cb), NULL);
  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        connected_cb, client);
  g_assert_true (wait_until (&client->done, WAIT_MS));
  g_assert_no_error (client->error);
  return client;
}

static void
client_free (Client *client)
{
  if (client->conn != NULL)
    {
      if (soup_websocket_connection_get_state (client->conn) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (client->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_signal_handlers_disconnect_by_data (client->conn, client);
      g_object_unref (client->conn);
    }
  g_ptr_array_unref (client->received);
  g_free (client);
}

static gboolean
received_error (Client *client, const char *words)
{
  for (guint i = 0; i < client->received->len; i++)
    {
      const char *text = g_ptr_array_index (client->received, i);
      if (strstr (text, "\"error\"") != NULL && strstr (text, words) != NULL)
        return TRUE;
    }
  return FALSE;
}

static char *
hello_with_cursors (const char *cursors)
{
  return g_strdup_printf ("{\"type\":\"hello\",\"proto\":%d,\"schema\":1,\"site\":\"%s\","
                          "\"name\":\"peer\",\"epoch\":1,\"wall\":%" G_GINT64_FORMAT ","
                          "\"cursors\":%s}", MH_PROTOCOL_VERSION,
                          mh_identity_get_site_id (peer_identity), g_get_real_time () / 1000,
                          cursors);
}

/* The frame that crashed the node, then proof that the node still links. */
static void
test_type_not_a_string (void)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  Client *client = client_connect (session);
  Client *again = NULL;
  g_autofree char *hello = hello_with_cursors ("[]");

  soup_websocket_connection_send_text (client->conn, "{\"type\":true}");
  g_assert_true (wait_until (&client->closed, WAIT_MS));
  g_assert_true (received_error (client, "hello first"));

  again = client_connect (session);
  soup_websocket_connection_send_text (again->conn, hello);
  settle (300);
  g_assert_false (again->closed);
  g_assert_cmpuint (mh_replicator_get_n_connected (hub), ==, 1);
  client_free (again);
  client_free (client);
  settle (200);
}

static void
test_bad_cursors (void)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  const char *const bad[] = { "[[{},0]]", "[[0,\"1\"]]", "[[0,[1]]]" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      Client *client = client_connect (session);
      g_autofree char *hello = hello_with_cursors (bad[i]);

      soup_websocket_connection_send_text (client->conn, hello);
      g_assert_true (wait_until (&client->closed, WAIT_MS));
      g_assert_true (received_error (client, "malformed hello"));
      client_free (client);
    }
  settle (200);
}

static void
test_no_hello (void)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  Client *client = client_connect (session);

  mh_replicator_set_hello_timeout (hub, 500);
  /* The watchdog looks every 5 s. */
  g_assert_true (wait_until (&client->closed, 12000));
  mh_replicator_set_hello_timeout (hub, 30000);
  client_free (client);
  settle (200);
}

int
main (int argc, char **argv)
{
  g_autoptr(MhSchema) schema = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *hub_dir = NULL, *peer_dir = NULL, *path = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);

  base = mh_test_make_tmpdir ("mh-hostile");
  hub_dir = g_build_filename (base, "hub", NULL);
  peer_dir = g_build_filename (base, "peer", NULL);
  hub_identity = mh_identity_load_or_create (hub_dir, &error);
  g_assert_no_error (error);
  peer_identity = mh_identity_load_or_create (peer_dir, &error);
  g_assert_no_error (error);
  schema = mh_schema_new (1);
  mh_schema_add_lane (schema, "registry", 1);
  g_assert_true (mh_schema_add_table (schema, "site", 0, MH_TABLE_NONE, NULL));
  mh_schema_add_register (schema, "site", "info", MH_REGISTER_NONE, "name", MH_COLUMN_TEXT, NULL);
  path = g_build_filename (hub_dir, "replica.db", NULL);
  hub_store = mh_store_open (path, schema, mh_identity_get_site_id (hub_identity), &error);
  g_assert_no_error (error);
  g_assert_true (mh_peers_add (hub_store, mh_identity_get_fingerprint (peer_identity), NULL,
                               &error));
  hub = mh_replicator_new (hub_store, mh_identity_get_tls_certificate (hub_identity),
                           mh_identity_get_fingerprint (hub_identity), "hub");
  g_assert_true (mh_replicator_listen (hub, "127.0.0.1:0", &hub_port, &error));
  g_assert_no_error (error);
  mh_replicator_start (hub);

  g_test_add_func ("/hostile-peer/type-not-a-string", test_type_not_a_string);
  g_test_add_func ("/hostile-peer/bad-cursors", test_bad_cursors);
  g_test_add_func ("/hostile-peer/no-hello", test_no_hello);
  status = g_test_run ();

  mh_replicator_stop (hub);
  settle (200);
  g_clear_object (&hub);
  g_clear_object (&hub_store);
  g_clear_object (&hub_identity);
  g_clear_object (&peer_identity);
  mh_test_rm_rf (base);
  g_free (base);
  return status;
}

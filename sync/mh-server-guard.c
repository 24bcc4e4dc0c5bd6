/* mh-server-guard.c: time and connection bounds for a SoupServer
 *
 * A connection is known by its GSocket: SoupServer emits request-started
 * for each new request (the first as soon as the connection is accepted,
 * before any TLS handshake), with the connection's socket. The socket is
 * counted until it is finalized, so a keep-alive connection counts once and
 * a connection handed to a WebSocket counts while the WebSocket lives.
 *
 * A deadline is cut by shutting the socket down, never by closing it:
 * libsoup still owns the descriptor and sees an end of stream, so it
 * aborts the request and frees the connection through its usual path.
 */

#include "config.h"

#include <sys/socket.h>

#include "mh-server-guard.h"

struct _MhServerGuard
{
  gint ref_count;     /* the owner's, and one per pending deadline */
  SoupServer *server; /* weak */
  MhServerGuardLimits limits;
  GHashTable *sockets; /* GSocket* (weak) -> itself */
  gulong started_id, read_id, finished_id, aborted_id;
  guint64 n_timed_out;
  guint64 n_refused;
};

typedef struct
{
  MhServerGuard *guard;
  GSocket *socket; /* strong */
  guint timer_id;
} Deadline;

static const char deadline_key[] = "mh-server-guard-deadline";

static void socket_gone_cb (gpointer data, GObject *where_the_socket_was);

static void
guard_unref (MhServerGuard *guard)
{
  GHashTableIter iter;
  gpointer socket;

  if (--guard->ref_count > 0)
    return;
  g_hash_table_iter_init (&iter, guard->sockets);
  while (g_hash_table_iter_next (&iter, &socket, NULL))
    g_object_weak_unref (socket, socket_gone_cb, guard);
  g_hash_table_unref (guard->sockets);
  g_free (guard);
}

static void
deadline_free (gpointer data)
{
  Deadline *deadline = data;

  g_clear_handle_id (&deadline->timer_id, g_source_remove);
  g_clear_object (&deadline->socket);
  guard_unref (deadline->guard);
  g_free (deadline);
}

static void
cut (GSocket *socket)
{
  /* Both ways: the pending read ends, and nothing more is written. */
  g_socket_shutdown (socket, TRUE, TRUE, NULL);
}

static gboolean
deadline_cb (gpointer data)
{
  Deadline *deadline = data;

  deadline->timer_id = 0;
  deadline->guard->n_timed_out++;
  g_debug ("cutting a connection that took over %u ms to send its request",
           deadline->guard->limits.request_timeout_ms);
  cut (deadline->socket);
  g_clear_object (&deadline->socket);
  return G_SOURCE_REMOVE;
}

static void
socket_gone_cb (gpointer data, GObject *where_the_socket_was)
{
  MhServerGuard *guard = data;

  g_hash_table_remove (guard->sockets, where_the_socket_was);
}

/* A connection libsoup closed may keep its GSocket object alive a while
 * (messages and sources still hold it): closed is gone. */
static void
prune_closed (MhServerGuard *guard)
{
  GHashTableIter iter;
  gpointer socket;

  g_hash_table_iter_init (&iter, guard->sockets);
  while (g_hash_table_iter_next (&iter, &socket, NULL))
    if (g_socket_is_closed (socket))
      {
        g_object_weak_unref (socket, socket_gone_cb, guard);
        g_hash_table_iter_remove (&iter);
      }
}

static void
request_started_cb (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  MhServerGuard *guard = data;
  GSocket *socket = soup_server_message_get_socket (msg);

  if (socket == NULL)
    return;
  if (!g_hash_table_contains (guard->sockets, socket))
    {
      if (guard->limits.max_connections > 0
          && g_hash_table_size (guard->sockets) >= guard->limits.max_connections)
        prune_closed (guard);
      if (guard->limits.max_connections > 0
          && g_hash_table_size (guard->sockets) >= guard->limits.max_connections)
        {
          guard->n_refused++;
          g_debug ("refusing a connection: %u open already", g_hash_table_size (guard->sockets));
          cut (socket);
          return;
        }
      g_hash_table_add (guard->sockets, socket);
      g_object_weak_ref (G_OBJECT (socket), socket_gone_cb, guard);
    }
  if (guard->limits.request_timeout_ms > 0)
    {
      Deadline *deadline = g_new0 (Deadline, 1);

      guard->ref_count++;
      deadline->guard = guard;
      deadline->socket = g_object_ref (socket);
      deadline->timer_id = g_timeout_add (guard->limits.request_timeout_ms, deadline_cb, deadline);
      g_source_set_name_by_id (deadline->timer_id, "[medhead] request deadline");
      g_object_set_data_full (G_OBJECT (msg), deadline_key, deadline, deadline_free);
    }
}

static void
request_done_cb (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  /* Read (or given up): the handler's own time is not the client's. */
  g_object_set_data (G_OBJECT (msg), deadline_key, NULL);
}

/**
 * mh_server_guard_attach:
 * @server: a server, not yet listening
 * @limits: the bounds
 *
 * Returns: (transfer full): the guard; free it before the server
 */
MhServerGuard *
mh_server_guard_attach (SoupServer *server, const MhServerGuardLimits *limits)
{
  MhServerGuard *guard;

  g_return_val_if_fail (SOUP_IS_SERVER (server), NULL);
  g_return_val_if_fail (limits != NULL, NULL);

  guard = g_new0 (MhServerGuard, 1);
  guard->ref_count = 1;
  guard->server = server;
  guard->limits = *limits;
  guard->sockets = g_hash_table_new (NULL, NULL);
  guard->started_id = g_signal_connect (server, "request-started",
                                        G_CALLBACK (request_started_cb), guard);
  guard->read_id = g_signal_connect (server, "request-read", G_CALLBACK (request_done_cb), guard);
  guard->finished_id = g_signal_connect (server, "request-finished",
                                         G_CALLBACK (request_done_cb), guard);
  guard->aborted_id = g_signal_connect (server, "request-aborted",
                                        G_CALLBACK (request_done_cb), guard);
  return guard;
}

void
mh_server_guard_free (MhServerGuard *guard)
{
  if (guard == NULL)
    return;
  g_clear_signal_handler (&guard->started_id, guard->server);
  g_clear_signal_handler (&guard->read_id, guard->server);
  g_clear_signal_handler (&guard->finished_id, guard->server);
  g_clear_signal_handler (&guard->aborted_id, guard->server);
  /* Deadlines still pending on messages keep the rest alive. */
  guard->server = NULL;
  guard_unref (guard);
}

guint
mh_server_guard_get_n_connections (MhServerGuard *guard)
{
  prune_closed (guard);
  return g_hash_table_size (guard->sockets);
}

guint64
mh_server_guard_get_n_timed_out (MhServerGuard *guard)
{
  return guard->n_timed_out;
}

guint64
mh_server_guard_get_n_refused (MhServerGuard *guard)
{
  return guard->n_refused;
}

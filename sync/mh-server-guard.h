/* mh-server-guard.h: time and connection bounds for a SoupServer
 *
 * libsoup 3.2's SoupServer bounds the size of a request's headers (64 KiB)
 * but not the time a client may take to send them, nor the number of
 * connections it keeps open. A guard attached to a server:
 * - gives each request a deadline from the moment its connection is ready
 *   for it (accepted, or done with the previous request) until its body is
 *   read: a client that sends its headers one byte a second, or opens a
 *   connection and says nothing (TLS handshake included), is cut off then;
 * - refuses connections over a maximum by closing them at once.
 * Other clients are never stalled by a slow one (SoupServer is
 * asynchronous); the guard makes sure the slow one does not hold a
 * connection and its buffers for ever.
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct
{
  guint request_timeout_ms; /* from connection ready to body read; 0: none */
  guint max_connections;    /* open connections; 0: no bound */
} MhServerGuardLimits;

typedef struct _MhServerGuard MhServerGuard;

MhServerGuard *mh_server_guard_attach (SoupServer *server, const MhServerGuardLimits *limits);
void mh_server_guard_free (MhServerGuard *guard);
guint mh_server_guard_get_n_connections (MhServerGuard *guard);
/* Connections cut for their deadline, and refused for the maximum. */
guint64 mh_server_guard_get_n_timed_out (MhServerGuard *guard);
guint64 mh_server_guard_get_n_refused (MhServerGuard *guard);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhServerGuard, mh_server_guard_free)

G_END_DECLS

/* mh-api-server.h: the REST API of a node, JSON over HTTP
 *
 * Serves /api/v1 (see docs/api.md) for one MhNode on a SoupServer running
 * on the thread-default main context. Every request needs the bearer token
 * of the node's data directory. Each request is handled whole in the main
 * loop: domain writes are single SQLite transactions, so a request either
 * applies entirely or not at all, and no request waits for another.
 */
#pragma once

#include <gio/gio.h>

#include "mh-node.h"

G_BEGIN_DECLS

#define MH_TYPE_API_SERVER (mh_api_server_get_type ())

G_DECLARE_FINAL_TYPE (MhApiServer, mh_api_server, MH, API_SERVER, GObject)

/* Bounds on what a client may send. */
#define MH_API_MAX_BODY (1024 * 1024)
#define MH_API_MAX_QUERY 4096
#define MH_API_MAX_PATH 1024
#define MH_API_MAX_DEPTH 16
/* All request headers together (libsoup itself stops at 64 KiB). */
#define MH_API_MAX_HEADERS (16 * 1024)
/* From a connection's accept (or its previous answer) until the request's
 * body is read; MEDHEAD_API_REQUEST_TIMEOUT_MS overrides it (tests). */
#define MH_API_REQUEST_TIMEOUT_MS (30 * 1000)
/* Open connections; MEDHEAD_API_MAX_CONNECTIONS overrides it. */
#define MH_API_MAX_CONNECTIONS 256

MhApiServer *mh_api_server_new (MhNode *node, GError **error);
MhNode *mh_api_server_get_node (MhApiServer *self);

gboolean mh_api_server_listen (MhApiServer *self, const char *address, guint port,
                               GError **error);
char *mh_api_server_get_url (MhApiServer *self);
guint mh_api_server_get_port (MhApiServer *self);

gboolean mh_api_parse_address (const char *text, char **address, guint *port, GError **error);
gboolean mh_api_address_is_loopback (const char *address);

void mh_api_server_stop_async (MhApiServer *self, guint timeout_ms, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
gboolean mh_api_server_stop_finish (MhApiServer *self, GAsyncResult *result, GError **error);

G_END_DECLS

/* mh-replicator.h: links a replica with its peers
 *
 * The replicator accepts peer links on a TLS port (client certificate
 * required) and calls the peers it has a URL for. A link, whoever opened
 * it, carries changes both ways over one WebSocket: catch-up from the
 * cursors each side keeps on the other's log, then live changes as they
 * commit. See docs/protocol.md.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "mh-store.h"
#include "mh-trust.h"

G_BEGIN_DECLS

#define MH_TYPE_REPLICATOR (mh_replicator_get_type ())

G_DECLARE_FINAL_TYPE (MhReplicator, mh_replicator, MH, REPLICATOR, GObject)

#define MH_PROTOCOL_VERSION 2
#define MH_SYNC_PATH "/sync/v1/link"

MhReplicator *mh_replicator_new (MhStore *store, GTlsCertificate *certificate,
                                 const char *fingerprint, const char *name);

gboolean mh_replicator_listen (MhReplicator *self, const char *address, guint16 *out_port,
                               GError **error);
void mh_replicator_start (MhReplicator *self);
void mh_replicator_stop (MhReplicator *self);
void mh_replicator_reload_peers (MhReplicator *self);
void mh_replicator_set_trust (MhReplicator *self, MhTrust *trust);

gboolean mh_replicator_get_clock_alarm (MhReplicator *self);
gint64 mh_replicator_get_peer_offset (MhReplicator *self);
guint mh_replicator_get_n_connected (MhReplicator *self);
JsonArray *mh_replicator_get_peer_status (MhReplicator *self);
gint64 mh_replicator_get_acked_seq (MhReplicator *self, guint lane);

/* How long between reconnection attempts, at most. Tests shorten it. */
void mh_replicator_set_max_backoff (MhReplicator *self, guint max_ms);
/* How long an open link may go without a hello. Tests shorten it. */
void mh_replicator_set_hello_timeout (MhReplicator *self, guint timeout_ms);

/* Checks one incoming frame the way a link reads it, without a link: the
 * changes-frame prefix, the batch and its lane/epoch/to, or a control frame
 * (size, depth, JSON object, type) and a hello's members. For tests and
 * fuzzing; returns the frame's type ("changes", "hello", …) or NULL with
 * @error set. */
const char *mh_replicator_check_frame (const char *text, gsize size, guint n_lanes,
                                       GError **error);

gboolean mh_parse_listen_address (const char *address, char **host, guint16 *port,
                                  GError **error);

G_END_DECLS

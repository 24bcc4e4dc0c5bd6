/* mh-peers.h: the peers a replica links with, kept in the replica itself
 *
 * A peer is pinned by its fingerprint. With a URL this node calls it;
 * without one it only accepts its calls (an ambulance behind NAT).
 */
#pragma once

#include "mh-store.h"

G_BEGIN_DECLS

typedef struct
{
  char *fingerprint;
  char *url;     /* nullable */
  char *site_id; /* nullable until first contact */
  char *name;    /* nullable until first contact */
  gint64 added_at_ms;
  gint64 last_contact_ms; /* 0: never */
  char *last_error;       /* nullable */
  gint64 bytes_sent;
  gint64 bytes_received;
} MhPeerInfo;

void mh_peer_info_free (MhPeerInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhPeerInfo, mh_peer_info_free)

gboolean mh_peers_add (MhStore *store, const char *fingerprint, const char *url, GError **error);
gboolean mh_peers_remove (MhStore *store, const char *fingerprint, GError **error);
GPtrArray *mh_peers_list (MhStore *store);
MhPeerInfo *mh_peers_lookup (MhStore *store, const char *fingerprint);
gboolean mh_peers_record_contact (MhStore *store, const char *fingerprint, const char *site_id,
                                  const char *name, gint64 bytes_sent, gint64 bytes_received);
gboolean mh_peers_record_error (MhStore *store, const char *fingerprint, const char *message);

gboolean mh_peer_url_validate (const char *url, GError **error);

G_END_DECLS

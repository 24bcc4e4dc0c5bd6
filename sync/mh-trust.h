/* mh-trust.h: the network's root of trust, admissions and revocations
 *
 * A network is an Ed25519 key kept offline. It admits hubs; an admitted
 * hub admits stations (hospitals, ambulances). A revocation names a site
 * and a cut-off in that site's own sequence numbers: its changes up to the
 * cut-off stay, later ones are rejected, and its links are refused.
 *
 * Records are small signed JSON objects. Each carries its issuer's public
 * key and, when the issuer is a hub, the hub's own admission: a record is
 * checked on its own against the network key, in any order of arrival.
 * They are kept in `_mh_trust` and handed from peer to peer (docs/trust.md).
 */
#pragma once

#include <json-glib/json-glib.h>

#include "mh-identity.h"
#include "mh-store.h"

G_BEGIN_DECLS

#define MH_TRUST_NETWORK_KEY_FILE "network-key"

typedef enum
{
  MH_TRUST_NONE,     /* no admission known */
  MH_TRUST_ADMITTED, /* a valid chain up to the network key */
  MH_TRUST_REVOKED,  /* revoked: refused whatever its admissions */
} MhTrustState;

/* Records (pure functions) */
JsonNode *mh_trust_make_admission (MhIdentity *issuer, const char *network_key,
                                   const char *subject, const char *role,
                                   JsonNode *issuer_admission, gint64 issued_at,
                                   GError **error);
JsonNode *mh_trust_make_revocation (MhIdentity *issuer, const char *network_key,
                                    const char *subject, gint64 cutoff,
                                    JsonNode *issuer_admission, gint64 issued_at,
                                    GError **error);
gboolean mh_trust_verify_record (const char *network_key, JsonNode *record, GError **error);
char *mh_trust_subject_key (const char *subject);

/* The network key of a data folder (absent: no network, pinning only) */
char *mh_trust_read_network_key (const char *dir, GError **error);
gboolean mh_trust_write_network_key (const char *dir, const char *network_key, GError **error);
char *mh_trust_parse_network_key (const char *key_or_file, GError **error);

/* A replica's records */
#define MH_TYPE_TRUST (mh_trust_get_type ())
G_DECLARE_FINAL_TYPE (MhTrust, mh_trust, MH, TRUST, GObject)

MhTrust *mh_trust_new (MhStore *store, const char *network_key, GError **error);
const char *mh_trust_get_network_key (MhTrust *self);
char *mh_trust_get_network_id (MhTrust *self);
guint mh_trust_add (MhTrust *self, JsonNode *record, GError **error);
gboolean mh_trust_reload (MhTrust *self);
JsonArray *mh_trust_list (MhTrust *self);
MhTrustState mh_trust_check_site (MhTrust *self, const char *site_id, char **out_role,
                                  gint64 *out_cutoff);
const char *mh_trust_get_role (MhTrust *self, const char *site_id);
MhTrust *mh_trust_from_store (MhStore *store);
JsonNode *mh_trust_get_admission (MhTrust *self, const char *site_id);
gint64 mh_trust_get_highest_seen (MhTrust *self, const char *site_id);
void mh_trust_install_filter (MhTrust *self);
guint mh_trust_take_back_revoked (MhTrust *self);

G_END_DECLS

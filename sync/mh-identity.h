/* mh-identity.h: a node's key pair, certificate, site id and fingerprint
 *
 * A node is its Ed25519 key: the self-signed certificate only wraps it for
 * TLS, and the site id and fingerprint are both a hash of the public key,
 * so peers pin the key whatever certificate carries it. The same key signs
 * the node's changes.
 */
#pragma once

#include <gio/gio.h>

#include "mh-change.h"

G_BEGIN_DECLS

/* 128 bits of SHA-256 in lowercase base32; the fingerprint shows the first
 * 100 bits of the same hash, in uppercase, as ABCD-EFGH-IJKL-MNOP-QRST. */
#define MH_SITE_ID_LENGTH 26
#define MH_FINGERPRINT_CHARS 20
#define MH_FINGERPRINT_LENGTH 24 /* with the dashes */

#define MH_SIGNATURE_SIZE 64 /* Ed25519 */

#define MH_TYPE_IDENTITY (mh_identity_get_type ())
G_DECLARE_FINAL_TYPE (MhIdentity, mh_identity, MH, IDENTITY, GObject)

MhIdentity *mh_identity_load_or_create (const char *dir, GError **error);

const char *mh_identity_get_site_id (MhIdentity *self);
const char *mh_identity_get_fingerprint (MhIdentity *self);
const char *mh_identity_get_signing_public_key (MhIdentity *self);
GTlsCertificate *mh_identity_get_tls_certificate (MhIdentity *self);

gboolean mh_identity_sign (MhIdentity *self, const guint8 *data, gsize len, GBytes **out_sig,
                           GError **error);
gboolean mh_identity_verify (const char *public_key_b64, const guint8 *data, gsize len,
                             GBytes *sig);

/* A change's signature field: the origin's raw Ed25519 public key, then the
 * signature of mh_change_canonical_bytes(). The origin's site id is a hash
 * of that key, so the key needs no other distribution. */
#define MH_CHANGE_SIGNATURE_SIZE (32 + MH_SIGNATURE_SIZE)

gboolean mh_identity_sign_change (MhIdentity *self, MhChange *change, GError **error);
gboolean mh_change_verify (const MhChange *change, char **reason);

void mh_change_hash (const MhChange *change, guint8 out[MH_SEAL_HASH_SIZE]);
MhSeal *mh_identity_seal (MhIdentity *self, gint64 first_oseq, guint n, const guint8 *hashes,
                          GError **error);
gboolean mh_seal_verify (MhSeal *seal, char **reason);
GPtrArray *mh_changes_verify (GPtrArray *changes);

char *mh_fingerprint_from_certificate (GTlsCertificate *cert);
char *mh_site_id_from_certificate (GTlsCertificate *cert);
char *mh_fingerprint_normalize (const char *input, GError **error);
gboolean mh_public_key_get_ids (const char *public_key_b64, char **out_site_id,
                                char **out_fingerprint);

G_END_DECLS

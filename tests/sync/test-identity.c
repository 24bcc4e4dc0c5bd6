/* Tests of a node's identity: files, site id, fingerprints, signatures, and
 * mutual TLS between two identities over libsoup, as peer links use it. */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>
#include <libsoup/soup.h>

#include "mh-identity.h"
#include "mh-sync-error.h"
#include "mh-test-util.h"

static gboolean
under_valgrind (void)
{
  return g_getenv ("MEDHEAD_UNDER_VALGRIND") != NULL;
}

static MhIdentity *
load_ok (const char *dir)
{
  g_autoptr(GError) error = NULL;
  MhIdentity *identity = mh_identity_load_or_create (dir, &error);

  g_assert_no_error (error);
  g_assert_true (MH_IS_IDENTITY (identity));
  return identity;
}

static guint
file_mode (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static char *
read_file (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_no_error (error);
  return contents;
}

static void
write_file (const char *dir, const char *name, const char *contents, int mode)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  /* CONSISTENT: GLib 2.74 does not truncate a file it overwrites in place. */
  g_assert_true (g_file_set_contents_full (path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                           mode, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

/* The site id computed the slow way, independently of mh-identity.c: SHA-256
 * of the certificate's SubjectPublicKeyInfo, as a string of bits, cut in fives. */
static char *
reference_hash_base32 (GTlsCertificate *cert, guint n_bytes, guint n_chars)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  g_autoptr(GByteArray) der = NULL;
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GString) bits = g_string_new (NULL);
  g_autoptr(GString) out = g_string_new (NULL);
  gnutls_x509_crt_t crt;
  gnutls_pubkey_t pubkey;
  gnutls_datum_t datum, spki;
  guint8 digest[32];
  gsize digest_len = sizeof digest;

  g_object_get (cert, "certificate", &der, NULL);
  datum.data = der->data;
  datum.size = der->len;
  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_DER), ==, 0);
  g_assert_cmpint (gnutls_pubkey_init (&pubkey), ==, 0);
  g_assert_cmpint (gnutls_pubkey_import_x509 (pubkey, crt, 0), ==, 0);
  g_assert_cmpint (gnutls_pubkey_export2 (pubkey, GNUTLS_X509_FMT_DER, &spki), ==, 0);
  g_checksum_update (checksum, spki.data, spki.size);
  g_checksum_get_digest (checksum, digest, &digest_len);
  gnutls_free (spki.data);
  gnutls_pubkey_deinit (pubkey);
  gnutls_x509_crt_deinit (crt);

  for (guint i = 0; i < n_bytes; i++)
    for (int b = 7; b >= 0; b--)
      g_string_append_c (bits, (digest[i] >> b) & 1 ? '1' : '0');
  while (bits->len % 5 != 0)
    g_string_append_c (bits, '0');
  for (guint i = 0; i < n_chars; i++)
    {
      char chunk[6] = { 0 };
      memcpy (chunk, bits->str + i * 5, 5);
      g_string_append_c (out, alphabet[g_ascii_strtoull (chunk, NULL, 2)]);
    }
  return g_strdup (out->str);
}

/* Files, ids and fingerprints */

static void
test_identity_create (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-identity");
  g_autoptr(MhIdentity) identity = load_ok (dir);
  g_autoptr(GDir) listing = NULL;
  g_autofree char *reference_id = NULL;
  g_autofree char *reference_fp = NULL;
  g_autofree char *cert_site_id = NULL;
  g_autofree char *cert_fp = NULL;
  g_autofree char *key_pem = NULL;
  GTlsCertificate *tls = mh_identity_get_tls_certificate (identity);
  const char *site_id = mh_identity_get_site_id (identity);
  const char *fp = mh_identity_get_fingerprint (identity);
  guint n_files = 0;
  const char *name;

  /* The key and the certificate, nothing else (no leftover temporary file,
   * and no separate signing key: the TLS key is Ed25519 and signs). */
  listing = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      g_assert_true (g_str_equal (name, "identity-key.pem")
                     || g_str_equal (name, "identity-cert.pem"));
      n_files++;
    }
  g_assert_cmpuint (n_files, ==, 2);
  g_assert_cmpuint (file_mode (dir, "identity-key.pem"), ==, 0600);

  /* The site id: 26 characters of lowercase base32. */
  g_assert_cmpuint (strlen (site_id), ==, MH_SITE_ID_LENGTH);
  for (const char *p = site_id; *p != '\0'; p++)
    g_assert_true ((*p >= 'a' && *p <= 'z') || (*p >= '2' && *p <= '7'));
  reference_id = reference_hash_base32 (tls, 16, 26);
  g_assert_cmpstr (site_id, ==, reference_id);

  /* The fingerprint: the first 20 characters of the same hash, in groups of four. */
  g_assert_cmpuint (strlen (fp), ==, MH_FINGERPRINT_LENGTH);
  g_assert_true (g_regex_match_simple ("^[A-Z2-7]{4}(-[A-Z2-7]{4}){4}$", fp, 0, 0));
  {
    g_autofree char *chars = reference_hash_base32 (tls, 32, 20);
    g_autofree char *upper = g_ascii_strup (chars, -1);
    g_auto(GStrv) groups = g_strsplit (fp, "-", -1);
    g_autofree char *joined = g_strjoinv ("", groups);
    g_assert_cmpstr (joined, ==, upper);
    reference_fp = g_strdup (fp);
  }

  /* Any holder of the certificate gets the same. */
  cert_site_id = mh_site_id_from_certificate (tls);
  cert_fp = mh_fingerprint_from_certificate (tls);
  g_assert_cmpstr (cert_site_id, ==, site_id);
  g_assert_cmpstr (cert_fp, ==, reference_fp);

  /* The TLS certificate carries the private key. */
  g_object_get (tls, "private-key-pem", &key_pem, NULL);
  g_assert_nonnull (key_pem);
  g_assert_nonnull (strstr (key_pem, "PRIVATE KEY"));

  mh_test_rm_rf (dir);
}

/* The certificate itself: X.509 v3, self-signed, CN = site id, 20 years, a
 * random serial, and the same Ed25519 key that signs changes. */
static void
test_identity_certificate (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-identity");
  g_autoptr(MhIdentity) identity = load_ok (dir);
  g_autofree char *pem = read_file (dir, "identity-cert.pem");
  g_autofree char *b64 = NULL;
  gnutls_datum_t datum = { (unsigned char *) pem, strlen (pem) };
  gnutls_datum_t x = { NULL, 0 };
  gnutls_x509_crt_t crt;
  gnutls_pubkey_t pubkey;
  gnutls_ecc_curve_t curve;
  char cn[64];
  size_t cn_size = sizeof cn;
  guint8 serial[32];
  size_t serial_size = sizeof serial;
  unsigned int verify = 0;

  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_PEM), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_get_version (crt), ==, 3);
  g_assert_cmpint (gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn,
                                                  &cn_size), ==, 0);
  g_assert_cmpstr (cn, ==, mh_identity_get_site_id (identity));
  g_assert_cmpint (gnutls_x509_crt_get_serial (crt, serial, &serial_size), ==, 0);
  g_assert_cmpuint (serial_size, ==, 16);
  g_assert_cmpint (gnutls_x509_crt_get_expiration_time (crt) - time (NULL), >,
                   (time_t) 19 * 365 * 24 * 3600);
  g_assert_cmpint (gnutls_x509_crt_get_activation_time (crt), <=, time (NULL));
  g_assert_cmpint (gnutls_x509_crt_get_pk_algorithm (crt, NULL), ==, GNUTLS_PK_EDDSA_ED25519);
  g_assert_cmpint (gnutls_x509_crt_verify (crt, &crt, 1, 0, &verify), ==, 0);
  g_assert_cmpuint (verify, ==, 0);

  g_assert_cmpint (gnutls_pubkey_init (&pubkey), ==, 0);
  g_assert_cmpint (gnutls_pubkey_import_x509 (pubkey, crt, 0), ==, 0);
  g_assert_cmpint (gnutls_pubkey_export_ecc_raw2 (pubkey, &curve, &x, NULL, 0), ==, 0);
  g_assert_cmpint (curve, ==, GNUTLS_ECC_CURVE_ED25519);
  b64 = g_base64_encode (x.data, x.size);
  g_assert_cmpstr (b64, ==, mh_identity_get_signing_public_key (identity));

  gnutls_free (x.data);
  gnutls_pubkey_deinit (pubkey);
  gnutls_x509_crt_deinit (crt);
  mh_test_rm_rf (dir);
}

static void
test_identity_reload (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-identity");
  g_autoptr(MhIdentity) first = load_ok (dir);
  g_autofree char *key_before = read_file (dir, "identity-key.pem");
  g_autofree char *cert_before = read_file (dir, "identity-cert.pem");
  g_autoptr(MhIdentity) second = load_ok (dir);
  g_autofree char *key_after = read_file (dir, "identity-key.pem");
  g_autofree char *cert_after = read_file (dir, "identity-cert.pem");

  g_assert_cmpstr (mh_identity_get_site_id (first), ==, mh_identity_get_site_id (second));
  g_assert_cmpstr (mh_identity_get_fingerprint (first), ==, mh_identity_get_fingerprint (second));
  g_assert_cmpstr (mh_identity_get_signing_public_key (first), ==,
                   mh_identity_get_signing_public_key (second));
  g_assert_true (g_tls_certificate_is_same (mh_identity_get_tls_certificate (first),
                                            mh_identity_get_tls_certificate (second)));
  g_assert_cmpstr (key_before, ==, key_after);
  g_assert_cmpstr (cert_before, ==, cert_after);
  g_assert_cmpuint (file_mode (dir, "identity-key.pem"), ==, 0600);

  mh_test_rm_rf (dir);
}

static void
test_identity_distinct (void)
{
  g_autofree char *dir_a = mh_test_make_tmpdir ("mh-identity");
  g_autofree char *dir_b = mh_test_make_tmpdir ("mh-identity");
  g_autoptr(MhIdentity) a = load_ok (dir_a);
  g_autoptr(MhIdentity) b = load_ok (dir_b);

  g_assert_cmpstr (mh_identity_get_site_id (a), !=, mh_identity_get_site_id (b));
  g_assert_cmpstr (mh_identity_get_fingerprint (a), !=, mh_identity_get_fingerprint (b));
  g_assert_cmpstr (mh_identity_get_signing_public_key (a), !=,
                   mh_identity_get_signing_public_key (b));

  mh_test_rm_rf (dir_a);
  mh_test_rm_rf (dir_b);
}

/* Even with a umask that lets everyone read, the key is 0600 (it is
 * created so), and a missing data folder is made 0700. */
static void
test_identity_umask (void)
{
  g_autofree char *top = mh_test_make_tmpdir ("mh-identity");
  g_autofree char *dir = g_build_filename (top, "data", "node", NULL);
  g_autoptr(MhIdentity) identity = NULL;
  GStatBuf st;
  mode_t old = umask (0);

  identity = load_ok (dir);
  umask (old);
  g_assert_cmpuint (file_mode (dir, "identity-key.pem"), ==, 0600);
  g_assert_cmpuint (file_mode (dir, "identity-cert.pem"), ==, 0644);
  g_assert_cmpint (g_stat (dir, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 0777, ==, 0700);

  /* A umask that would leave the owner unable to write changes nothing either. */
  g_clear_object (&identity);
  mh_test_rm_rf (dir);
  old = umask (0277);
  identity = load_ok (dir);
  umask (old);
  g_assert_cmpuint (file_mode (dir, "identity-key.pem"), ==, 0600);
  g_clear_object (&identity);
  identity = load_ok (dir);

  mh_test_rm_rf (top);
}

static void
assert_load_fails (const char *dir, const char *part1, const char *part2)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MhIdentity) identity = mh_identity_load_or_create (dir, &error);

  g_assert_null (identity);
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED);
  g_test_message ("%s", error->message);
  if (strstr (error->message, part1) == NULL || (part2 && strstr (error->message, part2) == NULL))
    g_error ("unexpected error: %s (wanted “%s”, “%s”)", error->message, part1, part2);
}

static void
test_identity_bad_mode (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-identity");
  g_autofree char *key_path = g_build_filename (dir, "identity-key.pem", NULL);
  g_autofree char *chmod_hint = g_strdup_printf ("chmod 600 %s", key_path);
  g_autoptr(MhIdentity) identity = load_ok (dir);
  g_autofree char *site_id = g_strdup (mh_identity_get_site_id (identity));
  const guint modes[] = { 0644, 0640, 0604, 0660 };

  g_clear_object (&identity);
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_assert_cmpint (g_chmod (key_path, modes[i]), ==, 0);
      assert_load_fails (dir, "is readable by others", chmod_hint);
    }
  g_assert_cmpint (g_chmod (key_path, 0620), ==, 0);
  assert_load_fails (dir, "is accessible by others", chmod_hint);
  g_assert_cmpint (g_chmod (key_path, 0400), ==, 0);
  assert_load_fails (dir, "has mode 0400", chmod_hint);

  /* Refused, not replaced: after the chmod the same identity is back. */
  g_assert_cmpint (g_chmod (key_path, 0600), ==, 0);
  identity = load_ok (dir);
  g_assert_cmpstr (mh_identity_get_site_id (identity), ==, site_id);

  mh_test_rm_rf (dir);
}

static void
test_identity_corrupt (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-identity");
  g_autofree char *other_dir = mh_test_make_tmpdir ("mh-identity");
  g_autoptr(MhIdentity) identity = load_ok (dir);
  g_autoptr(MhIdentity) other = load_ok (other_dir);
  g_autofree char *site_id = g_strdup (mh_identity_get_site_id (identity));
  g_autofree char *key = read_file (dir, "identity-key.pem");
  g_autofree char *cert = read_file (dir, "identity-cert.pem");
  g_autofree char *other_cert = read_file (other_dir, "identity-cert.pem");
  g_autofree char *truncated = g_strndup (key, strlen (key) / 2);
  g_autofree char *big = g_strnfill (100 * 1024, 'A');

  g_assert_cmpstr (mh_identity_get_site_id (other), !=, site_id);
  g_clear_object (&identity);

  write_file (dir, "identity-key.pem", "not a key\n", 0600);
  assert_load_fails (dir, "identity-key.pem is not a valid private key", NULL);
  write_file (dir, "identity-key.pem", truncated, 0600);
  assert_load_fails (dir, "identity-key.pem is not a valid private key", NULL);
  write_file (dir, "identity-key.pem", big, 0600);
  assert_load_fails (dir, "identity-key.pem is not a PEM file", NULL);
  write_file (dir, "identity-key.pem", key, 0600);

  write_file (dir, "identity-cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n", 0644);
  assert_load_fails (dir, "identity-cert.pem is not a valid certificate", NULL);
  write_file (dir, "identity-cert.pem", other_cert, 0644);
  assert_load_fails (dir, "identity-cert.pem is not the certificate of the key", NULL);

  /* A lost certificate is made again from the key: the same identity. */
  {
    g_autofree char *cert_path = g_build_filename (dir, "identity-cert.pem", NULL);
    g_unlink (cert_path);
  }
  identity = load_ok (dir);
  g_assert_cmpstr (mh_identity_get_site_id (identity), ==, site_id);
  {
    g_autofree char *remade = read_file (dir, "identity-cert.pem");
    g_assert_cmpstr (remade, !=, cert); /* a new serial */
  }

  mh_test_rm_rf (dir);
  mh_test_rm_rf (other_dir);
}

static void
assert_normalizes (const char *input, const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = mh_fingerprint_normalize (input, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (out, ==, expected);
}

static void
assert_malformed (const char *input, const char *part)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = mh_fingerprint_normalize (input, &error);

  g_assert_null (out);
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
  if (strstr (error->message, part) == NULL)
    g_error ("“%s”: unexpected error: %s (wanted “%s”)", input, error->message, part);
}

static void
test_identity_fingerprint_normalize (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-identity");
  g_autoptr(MhIdentity) identity = load_ok (dir);
  g_autofree char *lower_prefix = g_strndup (mh_identity_get_site_id (identity), 20);
  const char *canonical = "ABCD-EFGH-IJKL-MNOP-QR27";

  assert_normalizes (canonical, canonical);
  assert_normalizes ("abcd-efgh-ijkl-mnop-qr27", canonical);
  assert_normalizes ("ABCDEFGHIJKLMNOPQR27", canonical);
  assert_normalizes ("abcd efgh ijkl mnop qr27", canonical);
  assert_normalizes ("  aBcD-eFgH ijkl--MNOP\tqr27\n", canonical);
  assert_normalizes ("2345-6722-ZZZZ-AAAA-7777", "2345-6722-ZZZZ-AAAA-7777");

  /* The site id starts with the fingerprint: one can be checked against the other. */
  assert_normalizes (mh_identity_get_fingerprint (identity),
                     mh_identity_get_fingerprint (identity));
  assert_normalizes (lower_prefix, mh_identity_get_fingerprint (identity));

  assert_malformed ("", "this one has 0");
  assert_malformed ("- -", "this one has 0");
  assert_malformed ("ABCD-EFGH", "this one has 8");
  assert_malformed ("ABCD-EFGH-IJKL-MNOP-QRS", "this one has 19");
  assert_malformed ("ABCD-EFGH-IJKL-MNOP-QRST-U", "this one has 21");
  assert_malformed (mh_identity_get_site_id (identity), "this one has 26");
  assert_malformed ("ABCD-EFGH-IJKL-MN0P-QRST", "letter O");
  assert_malformed ("ABCD-EFGH-1JKL-MNOP-QRST", "letter I or L");
  assert_malformed ("A8CD-EFGH-IJKL-MNOP-QRST", "letter B");
  assert_malformed ("ABCD-EFGH-IJKL-MNOP-QRS9", "no digit 9");
  assert_malformed ("ABCD_EFGH_IJKL_MNOP_QRST", "“_” cannot appear");
  assert_malformed ("ÄBCD-EFGH-IJKL-MNOP-QRST", "only the letters A to Z");
  assert_malformed ("ABCD-EFGH-IJKL-MNOP-QRS=", "“=” cannot appear");

  mh_test_rm_rf (dir);
}

/* Any certificate gives its key's fingerprint: stable for one key,
 * different between two. */
static void
test_identity_fingerprint_from_certificate (void)
{
  g_autofree char *dir_a = mh_test_make_tmpdir ("mh-identity");
  g_autofree char *dir_b = mh_test_make_tmpdir ("mh-identity");
  g_autoptr(MhIdentity) a = load_ok (dir_a);
  g_autoptr(MhIdentity) b = load_ok (dir_b);
  g_autofree char *fa1 = mh_fingerprint_from_certificate (mh_identity_get_tls_certificate (a));
  g_autofree char *fa2 = mh_fingerprint_from_certificate (mh_identity_get_tls_certificate (a));
  g_autofree char *fb = mh_fingerprint_from_certificate (mh_identity_get_tls_certificate (b));

  g_assert_nonnull (fa1);
  g_assert_cmpstr (fa1, ==, fa2);
  g_assert_cmpstr (fa1, !=, fb);

  mh_test_rm_rf (dir_a);
  mh_test_rm_rf (dir_b);
}

/* Signatures */

static GBytes *
sign_ok (MhIdentity *identity, const char *text)
{
  g_autoptr(GError) error = NULL;
  GBytes *sig = NULL;

  g_assert_true (mh_identity_sign (identity, (const guint8 *) text, strlen (text), &sig, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (sig), ==, MH_SIGNATURE_SIZE);
  return sig;
}

static gboolean
verify (const char *key, const char *text, GBytes *sig)
{
  return mh_identity_verify (key, (const guint8 *) text, strlen (text), sig);
}

static void
test_identity_sign_verify (void)
{
  g_autofree char *dir_a = mh_test_make_tmpdir ("mh-identity");
  g_autofree char *dir_b = mh_test_make_tmpdir ("mh-identity");
  g_autoptr(MhIdentity) a = load_ok (dir_a);
  g_autoptr(MhIdentity) b = load_ok (dir_b);
  g_autoptr(MhIdentity) a_again = NULL;
  const char *key_a = mh_identity_get_signing_public_key (a);
  const char *key_b = mh_identity_get_signing_public_key (b);
  /* Something like a change's canonical bytes. The literal is split after
   * each \x1f so that no letter after it is read as a hex digit. */
  const char *text = "hospital\x1f" "h-12\x1f" "beds\x1f" "[4, 10]\x1f" "1700000000000\x1f"
                     "site\x1f" "42\x1f" "1";
  g_autoptr(GBytes) sig = sign_ok (a, text);
  g_autoptr(GBytes) again = sign_ok (a, text);
  g_autoptr(GBytes) empty_sig = sign_ok (a, "");
  g_autoptr(GBytes) short_sig = g_bytes_new_from_bytes (sig, 0, MH_SIGNATURE_SIZE - 1);
  g_autofree char *tampered = g_strdup (text);
  g_autofree char *bad_key = g_strdup (key_a);

  g_assert_true (verify (key_a, text, sig));
  g_assert_true (verify (key_a, "", empty_sig));
  g_assert_true (mh_identity_verify (key_a, NULL, 0, empty_sig));
  /* Ed25519 is deterministic: a change signed twice has one signature. */
  g_assert_true (g_bytes_equal (sig, again));

  /* Tampered data: any byte. */
  for (gsize i = 0; i < strlen (text); i++)
    {
      tampered[i] ^= 0x01;
      g_assert_false (verify (key_a, tampered, sig));
      tampered[i] ^= 0x01;
    }
  g_assert_false (verify (key_a, "", sig));

  /* Tampered signature: any bit of any byte. */
  for (gsize i = 0; i < MH_SIGNATURE_SIZE; i++)
    {
      g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (sig, NULL), MH_SIGNATURE_SIZE);
      g_autoptr(GBytes) bad = NULL;

      copy[i] ^= 1 << (i % 8);
      bad = g_bytes_new (copy, MH_SIGNATURE_SIZE);
      g_assert_false (verify (key_a, text, bad));
    }
  g_assert_false (verify (key_a, text, short_sig));
  g_assert_false (verify (key_a, text, NULL));

  /* Wrong key, and keys that are not keys. */
  g_assert_false (verify (key_b, text, sig));
  g_assert_false (verify (NULL, text, sig));
  g_assert_false (verify ("", text, sig));
  g_assert_false (verify ("AAAA", text, sig));
  g_assert_false (verify ("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", text, sig));
  bad_key[3] = bad_key[3] == '*' ? '#' : '*'; /* not base64: skipped by a lax decoder */
  g_assert_false (verify (bad_key, text, sig));

  /* The identity signs the same after a restart. */
  a_again = load_ok (dir_a);
  {
    g_autoptr(GBytes) sig2 = sign_ok (a_again, text);
    g_assert_true (g_bytes_equal (sig, sig2));
    g_assert_true (verify (mh_identity_get_signing_public_key (a_again), text, sig));
  }

  mh_test_rm_rf (dir_a);
  mh_test_rm_rf (dir_b);
}

/* Mutual TLS over libsoup, as peer links use it */

typedef struct
{
  char *dirs[3];
  MhIdentity *a, *b, *c; /* the server, the client it knows, a stranger */
  GMainLoop *loop;
  SoupServer *server;
  guint port;
  const char *expected_client; /* the fingerprint the server pins */

  guint server_accept_calls;
  guint server_accepted;
  guint handled; /* requests that reached a handler */

  SoupWebsocketConnection *server_ws;
  char *server_received;
  gboolean server_closed;
} TlsFixture;

typedef struct
{
  TlsFixture *f;
  const char *expected_server; /* the fingerprint the client pins */
  guint accept_calls;
  guint accepted;
  guint status;
  GBytes *body;
  GError *error;

  SoupWebsocketConnection *ws;
  char *received;
  gboolean closed;
} ClientCall;

static void
client_call_clear (ClientCall *call)
{
  g_clear_pointer (&call->body, g_bytes_unref);
  g_clear_error (&call->error);
  g_clear_object (&call->ws);
  g_clear_pointer (&call->received, g_free);
}

static gboolean
timed_out (gpointer user_data)
{
  g_error ("timed out");
  return G_SOURCE_REMOVE;
}

/* Runs the loop until something quits it; a hang fails the test. */
static void
run_loop (TlsFixture *f)
{
  guint timeout = g_timeout_add_seconds (under_valgrind () ? 600 : 50, timed_out, NULL);

  g_main_loop_run (f->loop);
  g_source_remove (timeout);
}

static gboolean
server_accept_certificate (SoupServerMessage *msg, GTlsCertificate *peer,
                           GTlsCertificateFlags errors, gpointer user_data)
{
  TlsFixture *f = user_data;
  g_autofree char *fp = mh_fingerprint_from_certificate (peer);

  f->server_accept_calls++;
  if (g_strcmp0 (fp, f->expected_client) != 0)
    return FALSE;
  f->server_accepted++;
  return TRUE;
}

static void
server_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (server_accept_certificate), user_data);
}

/* accept-certificate is only asked about certificates the TLS database does
 * not trust already, so handlers check the pin again. */
static gboolean
server_peer_is_pinned (TlsFixture *f, SoupServerMessage *msg)
{
  GTlsCertificate *peer = soup_server_message_get_tls_peer_certificate (msg);
  g_autofree char *fp = peer != NULL ? mh_fingerprint_from_certificate (peer) : NULL;

  return g_strcmp0 (fp, f->expected_client) == 0;
}

static void
server_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  TlsFixture *f = user_data;
  const char *site_id = mh_identity_get_site_id (f->a);

  f->handled++;
  if (!server_peer_is_pinned (f, msg))
    {
      soup_server_message_set_status (msg, SOUP_STATUS_FORBIDDEN, NULL);
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, site_id,
                                    strlen (site_id));
}

static void
server_ws_message (SoupWebsocketConnection *ws, SoupWebsocketDataType type, GBytes *message,
                   gpointer user_data)
{
  TlsFixture *f = user_data;
  g_autofree char *reply = NULL;

  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  g_free (f->server_received);
  f->server_received = g_strndup (g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  reply = g_strdup_printf ("hello from %s", mh_identity_get_site_id (f->a));
  soup_websocket_connection_send_text (ws, reply);
}

static void
server_ws_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  TlsFixture *f = user_data;

  f->server_closed = TRUE;
  g_main_loop_quit (f->loop);
}

static void
server_ws_handler (SoupServer *server, SoupServerMessage *msg, const char *path,
                   SoupWebsocketConnection *ws, gpointer user_data)
{
  TlsFixture *f = user_data;

  f->handled++;
  if (!server_peer_is_pinned (f, msg))
    {
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, NULL);
      return;
    }
  g_assert_null (f->server_ws);
  f->server_ws = g_object_ref (ws);
  g_signal_connect (ws, "message", G_CALLBACK (server_ws_message), f);
  g_signal_connect (ws, "closed", G_CALLBACK (server_ws_closed), f);
}

static MhIdentity *
fixture_identity (TlsFixture *f, guint i)
{
  f->dirs[i] = mh_test_make_tmpdir ("mh-identity");
  return load_ok (f->dirs[i]);
}

static void
tls_setup (TlsFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  GSList *uris;

  f->a = fixture_identity (f, 0);
  f->b = fixture_identity (f, 1);
  f->c = fixture_identity (f, 2);
  f->expected_client = mh_identity_get_fingerprint (f->b);
  f->loop = g_main_loop_new (NULL, FALSE);

  f->server = soup_server_new ("server-header", "medhead-test", NULL);
  soup_server_set_tls_certificate (f->server, mh_identity_get_tls_certificate (f->a));
  soup_server_set_tls_auth_mode (f->server, G_TLS_AUTHENTICATION_REQUIRED);
  g_signal_connect (f->server, "request-started", G_CALLBACK (server_request_started), f);
  soup_server_add_handler (f->server, "/hello", server_handler, f, NULL);
  soup_server_add_websocket_handler (f->server, "/link", NULL, NULL, server_ws_handler, f, NULL);

  g_assert_true (soup_server_listen_local (f->server, 0,
                                           SOUP_SERVER_LISTEN_IPV4_ONLY | SOUP_SERVER_LISTEN_HTTPS,
                                           &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (f->server);
  g_assert_nonnull (uris);
  f->port = g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
}

/* Lets sources that closing connections left behind run. */
static void
drain_main_context (void)
{
  for (int i = 0; i < 100 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

static void
tls_teardown (TlsFixture *f, gconstpointer data)
{
  soup_server_disconnect (f->server);
  drain_main_context ();
  g_clear_object (&f->server);
  g_clear_object (&f->server_ws);
  g_clear_pointer (&f->server_received, g_free);
  g_clear_pointer (&f->loop, g_main_loop_unref);
  g_clear_object (&f->a);
  g_clear_object (&f->b);
  g_clear_object (&f->c);
  for (guint i = 0; i < G_N_ELEMENTS (f->dirs); i++)
    {
      mh_test_rm_rf (f->dirs[i]);
      g_clear_pointer (&f->dirs[i], g_free);
    }
}

/* A session as peer links need it: no TLS database, so that no certificate
 * is ever trusted by the system's CAs and every one goes through the pin in
 * accept-certificate; and no proxy resolver (the default one reads GSettings
 * schemas, which the isolated test dirs do not have). */
static SoupSession *
new_session (void)
{
  return soup_session_new_with_options ("proxy-resolver", NULL, "tls-database", NULL, NULL);
}

static gboolean
client_accept_certificate (SoupMessage *msg, GTlsCertificate *peer, GTlsCertificateFlags errors,
                           gpointer user_data)
{
  ClientCall *call = user_data;
  g_autofree char *fp = mh_fingerprint_from_certificate (peer);

  call->accept_calls++;
  if (g_strcmp0 (fp, call->expected_server) != 0)
    return FALSE;
  call->accepted++;
  return TRUE;
}

static void
client_got_response (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ClientCall *call = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);

  call->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &call->error);
  call->status = soup_message_get_status (msg);
  g_main_loop_quit (call->f->loop);
}

static SoupMessage *
client_message (ClientCall *call, const char *scheme, const char *path, MhIdentity *client)
{
  g_autofree char *url = g_strdup_printf ("%s://127.0.0.1:%u%s", scheme, call->f->port, path);
  SoupMessage *msg = soup_message_new ("GET", url);

  g_assert_nonnull (msg);
  if (client != NULL)
    soup_message_set_tls_client_certificate (msg, mh_identity_get_tls_certificate (client));
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (client_accept_certificate), call);
  return msg;
}

/* GET @path over @scheme as @client (or none), pinning @expected_server. */
static void
client_get (TlsFixture *f, ClientCall *call, const char *scheme, MhIdentity *client,
            const char *expected_server)
{
  g_autoptr(SoupSession) session = new_session ();
  g_autoptr(SoupMessage) msg = NULL;

  call->f = f;
  call->expected_server = expected_server;
  msg = client_message (call, scheme, "/hello", client);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, client_got_response,
                                    call);
  run_loop (f);
  if (call->error != NULL)
    g_test_message ("refused: %s", call->error->message);
  soup_session_abort (session);
  drain_main_context ();
}

static void
test_tls_mutual (TlsFixture *f, gconstpointer data)
{
  ClientCall call = { 0 };

  client_get (f, &call, "https", f->b, mh_identity_get_fingerprint (f->a));
  g_assert_no_error (call.error);
  g_assert_cmpuint (call.status, ==, SOUP_STATUS_OK);
  g_assert_cmpuint (call.accepted, ==, 1);
  g_assert_cmpuint (f->server_accepted, ==, 1);
  g_assert_cmpuint (f->handled, ==, 1);
  g_assert_cmpmem (g_bytes_get_data (call.body, NULL), g_bytes_get_size (call.body),
                   mh_identity_get_site_id (f->a), MH_SITE_ID_LENGTH);
  client_call_clear (&call);
}

static void
test_tls_no_client_certificate (TlsFixture *f, gconstpointer data)
{
  ClientCall call = { 0 };

  client_get (f, &call, "https", NULL, mh_identity_get_fingerprint (f->a));
  g_assert_nonnull (call.error);
  g_assert_cmpuint (call.status, !=, SOUP_STATUS_OK);
  g_assert_cmpuint (f->server_accepted, ==, 0);
  g_assert_cmpuint (f->handled, ==, 0);
  client_call_clear (&call);
}

static void
test_tls_unknown_client (TlsFixture *f, gconstpointer data)
{
  ClientCall call = { 0 };

  client_get (f, &call, "https", f->c, mh_identity_get_fingerprint (f->a));
  g_assert_nonnull (call.error);
  g_assert_cmpuint (call.status, !=, SOUP_STATUS_OK);
  g_assert_cmpuint (f->server_accept_calls, >=, 1); /* the pin refused it */
  g_assert_cmpuint (f->server_accepted, ==, 0);
  g_assert_cmpuint (f->handled, ==, 0);
  client_call_clear (&call);
}

/* B's certificate with C's key: the server's pin matches, but C cannot sign
 * as B, so the handshake fails. Pinning checks the key's owner, not bytes
 * anyone can copy. */
static void
test_tls_stolen_certificate (TlsFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cert_pem = NULL;
  g_autofree char *key_pem = NULL;
  g_autofree char *both = NULL;
  g_autoptr(GTlsCertificate) forged = NULL;
  g_autoptr(SoupSession) session = new_session ();
  g_autoptr(SoupMessage) msg = NULL;
  ClientCall call = { f, mh_identity_get_fingerprint (f->a) };

  g_object_get (mh_identity_get_tls_certificate (f->b), "certificate-pem", &cert_pem, NULL);
  g_object_get (mh_identity_get_tls_certificate (f->c), "private-key-pem", &key_pem, NULL);
  both = g_strconcat (cert_pem, key_pem, NULL);
  forged = g_tls_certificate_new_from_pem (both, -1, &error);
  if (forged == NULL)
    {
      /* Refused even earlier: fine too. */
      g_test_message ("mismatched certificate refused: %s", error->message);
      return;
    }

  msg = client_message (&call, "https", "/hello", NULL);
  soup_message_set_tls_client_certificate (msg, forged);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, client_got_response,
                                    &call);
  run_loop (f);
  g_test_message ("refused: %s (server pin asked %u, accepted %u)",
                  call.error ? call.error->message : "(no error)", f->server_accept_calls,
                  f->server_accepted);
  g_assert_nonnull (call.error);
  g_assert_cmpuint (call.status, !=, SOUP_STATUS_OK);
  g_assert_cmpuint (f->handled, ==, 0);
  g_assert_cmpuint (f->server_accepted, ==, 0);
  soup_session_abort (session);
  drain_main_context ();
  client_call_clear (&call);
}

static void
test_tls_wrong_server (TlsFixture *f, gconstpointer data)
{
  ClientCall call = { 0 };

  /* The client was told C's fingerprint; A answers. */
  client_get (f, &call, "https", f->b, mh_identity_get_fingerprint (f->c));
  g_assert_nonnull (call.error);
  g_assert_cmpuint (call.status, !=, SOUP_STATUS_OK);
  g_assert_cmpuint (call.accept_calls, >=, 1); /* the client's pin refused it */
  g_assert_cmpuint (call.accepted, ==, 0);
  g_assert_cmpuint (f->handled, ==, 0);
  client_call_clear (&call);
}

static void
test_tls_plain_http (TlsFixture *f, gconstpointer data)
{
  ClientCall call = { 0 };

  client_get (f, &call, "http", f->b, mh_identity_get_fingerprint (f->a));
  g_assert_nonnull (call.error);
  g_assert_cmpuint (call.status, !=, SOUP_STATUS_OK);
  g_assert_cmpuint (f->handled, ==, 0);
  client_call_clear (&call);
}

static void
client_ws_message (SoupWebsocketConnection *ws, SoupWebsocketDataType type, GBytes *message,
                   gpointer user_data)
{
  ClientCall *call = user_data;

  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  g_free (call->received);
  call->received = g_strndup (g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  g_main_loop_quit (call->f->loop);
}

static void
client_ws_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  ClientCall *call = user_data;

  call->closed = TRUE;
  g_main_loop_quit (call->f->loop);
}

static void
client_ws_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ClientCall *call = user_data;

  call->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &call->error);
  g_main_loop_quit (call->f->loop);
}

static void
test_tls_websocket (TlsFixture *f, gconstpointer data)
{
  g_autoptr(SoupSession) session = new_session ();
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *hello = g_strdup_printf ("hello from %s", mh_identity_get_site_id (f->b));
  g_autofree char *reply = g_strdup_printf ("hello from %s", mh_identity_get_site_id (f->a));
  ClientCall call = { f, mh_identity_get_fingerprint (f->a) };

  msg = client_message (&call, "wss", "/link", f->b);
  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        client_ws_connected, &call);
  run_loop (f);
  g_assert_no_error (call.error);
  g_assert_nonnull (call.ws);
  g_assert_cmpuint (call.accepted, ==, 1);
  g_assert_cmpuint (f->server_accepted, ==, 1);
  g_assert_nonnull (f->server_ws);
  g_signal_connect (call.ws, "message", G_CALLBACK (client_ws_message), &call);
  g_signal_connect (call.ws, "closed", G_CALLBACK (client_ws_closed), &call);

  /* One text message each way. */
  soup_websocket_connection_send_text (call.ws, hello);
  while (call.received == NULL)
    run_loop (f);
  g_assert_cmpstr (f->server_received, ==, hello);
  g_assert_cmpstr (call.received, ==, reply);

  /* A clean close, seen by both ends. */
  soup_websocket_connection_close (call.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  while (!call.closed || !f->server_closed)
    run_loop (f);
  g_assert_cmpint (soup_websocket_connection_get_close_code (f->server_ws), ==,
                   SOUP_WEBSOCKET_CLOSE_NORMAL);

  soup_session_abort (session);
  drain_main_context ();
  client_call_clear (&call);
}

/* A stranger cannot open the link either. */
static void
test_tls_websocket_unknown_client (TlsFixture *f, gconstpointer data)
{
  g_autoptr(SoupSession) session = new_session ();
  g_autoptr(SoupMessage) msg = NULL;
  ClientCall call = { f, mh_identity_get_fingerprint (f->a) };

  msg = client_message (&call, "wss", "/link", f->c);
  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        client_ws_connected, &call);
  run_loop (f);
  g_test_message ("refused: %s", call.error ? call.error->message : "(no error)");
  g_assert_nonnull (call.error);
  g_assert_null (call.ws);
  g_assert_cmpuint (f->server_accepted, ==, 0);
  g_assert_cmpuint (f->handled, ==, 0);
  g_assert_null (f->server_ws);

  soup_session_abort (session);
  drain_main_context ();
  client_call_clear (&call);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/identity/create", test_identity_create);
  g_test_add_func ("/identity/certificate", test_identity_certificate);
  g_test_add_func ("/identity/reload", test_identity_reload);
  g_test_add_func ("/identity/distinct", test_identity_distinct);
  g_test_add_func ("/identity/umask", test_identity_umask);
  g_test_add_func ("/identity/bad-mode", test_identity_bad_mode);
  g_test_add_func ("/identity/corrupt", test_identity_corrupt);
  g_test_add_func ("/identity/fingerprint-normalize", test_identity_fingerprint_normalize);
  g_test_add_func ("/identity/fingerprint-from-certificate",
                   test_identity_fingerprint_from_certificate);
  g_test_add_func ("/identity/sign-verify", test_identity_sign_verify);

#define ADD_TLS(path, func) g_test_add (path, TlsFixture, NULL, tls_setup, func, tls_teardown)
  ADD_TLS ("/identity/tls/mutual", test_tls_mutual);
  ADD_TLS ("/identity/tls/no-client-certificate", test_tls_no_client_certificate);
  ADD_TLS ("/identity/tls/unknown-client", test_tls_unknown_client);
  ADD_TLS ("/identity/tls/stolen-certificate", test_tls_stolen_certificate);
  ADD_TLS ("/identity/tls/wrong-server", test_tls_wrong_server);
  ADD_TLS ("/identity/tls/plain-http", test_tls_plain_http);
  ADD_TLS ("/identity/tls/websocket", test_tls_websocket);
  ADD_TLS ("/identity/tls/websocket-unknown-client", test_tls_websocket_unknown_client);
#undef ADD_TLS

  return g_test_run ();
}

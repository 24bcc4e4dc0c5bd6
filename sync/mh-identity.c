/* mh-identity.c: a node's key pair, certificate, site id and fingerprint
 *
 * Key type: Ed25519, for TLS and for signing changes alike. Mutual TLS 1.3
 * between SoupServer and SoupSession (glib-networking 2.74, GnuTLS 3.7.9)
 * was measured to work with Ed25519 certificates on both sides, so one key
 * serves both purposes and there is no separate signing key.
 *
 * Files in the data folder:
 * - identity-key.pem: the private key, PKCS#8 PEM, mode 0600. It is the
 *   identity: everything else derives from it.
 * - identity-cert.pem: a self-signed X.509 v3 certificate for that key,
 *   CN = the site id. Peers pin the key's hash, never the certificate, so a
 *   lost certificate is simply made again from the key.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "mh-identity.h"
#include "mh-sync-error.h"

#define KEY_FILE "identity-key.pem"
#define CERT_FILE "identity-cert.pem"

/* A PEM key or certificate is about a kilobyte: anything far bigger is not ours. */
#define MAX_PEM_SIZE (64 * 1024)

#define CERT_VALIDITY_SECONDS (G_GINT64_CONSTANT (20) * 365 * 24 * 3600)
#define ED25519_PUBLIC_KEY_SIZE 32
#define ED25519_PUBLIC_KEY_B64_LENGTH 44

typedef struct gnutls_x509_crt_int GnutlsX509Crt;
typedef struct gnutls_x509_privkey_int GnutlsX509Privkey;
typedef struct gnutls_privkey_st GnutlsPrivkey;
typedef struct gnutls_pubkey_st GnutlsPubkey;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GnutlsX509Crt, gnutls_x509_crt_deinit)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GnutlsX509Privkey, gnutls_x509_privkey_deinit)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GnutlsPrivkey, gnutls_privkey_deinit)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GnutlsPubkey, gnutls_pubkey_deinit)

/* Every datum is wiped before it is freed: some hold the private key. */
static void
datum_clear (gnutls_datum_t *datum)
{
  if (datum->data != NULL)
    {
      gnutls_memset (datum->data, 0, datum->size);
      gnutls_free (datum->data);
    }
  datum->size = 0;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (gnutls_datum_t, datum_clear)

struct _MhIdentity
{
  GObject parent_instance;

  char *site_id;
  char *fingerprint;
  char *signing_public_key; /* base64 of the raw Ed25519 public key */
  guint8 raw_public_key[ED25519_PUBLIC_KEY_SIZE];
  GTlsCertificate *tls_certificate;
  gnutls_privkey_t signing_key;
};

G_DEFINE_FINAL_TYPE (MhIdentity, mh_identity, G_TYPE_OBJECT)

static void
mh_identity_finalize (GObject *object)
{
  MhIdentity *self = MH_IDENTITY (object);

  g_free (self->site_id);
  g_free (self->fingerprint);
  g_free (self->signing_public_key);
  g_clear_object (&self->tls_certificate);
  g_clear_pointer (&self->signing_key, gnutls_privkey_deinit);

  G_OBJECT_CLASS (mh_identity_parent_class)->finalize (object);
}

static void
mh_identity_class_init (MhIdentityClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mh_identity_finalize;
}

static void
mh_identity_init (MhIdentity *self)
{
}

static gboolean G_GNUC_PRINTF (3, 4)
gnutls_fail (GError **error, int ret, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s: %s", what, gnutls_strerror (ret));
  return FALSE;
}

/* @format says what failed, e.g. "Could not read %s", whole for translators. */
static gboolean G_GNUC_PRINTF (3, 4)
errno_fail (GError **error, int saved_errno, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s: %s", what,
               g_strerror (saved_errno));
  return FALSE;
}

/* Base32 and fingerprints */

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* The first @n_chars base32 characters of @data (RFC 4648, no padding). */
static char *
base32_encode (const guint8 *data, gsize len, gsize n_chars, gboolean lower)
{
  char *out = g_malloc (n_chars + 1);

  g_assert (n_chars * 5 < len * 8 + 5);
  for (gsize i = 0; i < n_chars; i++)
    {
      gsize bit = i * 5;
      gsize byte = bit / 8;
      guint window = (guint) data[byte] << 8;
      char c;

      if (byte + 1 < len)
        window |= data[byte + 1];
      c = base32_alphabet[(window >> (11 - bit % 8)) & 0x1f];
      out[i] = lower ? g_ascii_tolower (c) : c;
    }
  out[n_chars] = '\0';
  return out;
}

/* ABCDEFGHIJKLMNOPQRST → ABCD-EFGH-IJKL-MNOP-QRST */
static char *
group_fingerprint (const char *chars)
{
  GString *out = g_string_sized_new (MH_FINGERPRINT_LENGTH);

  for (guint i = 0; i < MH_FINGERPRINT_CHARS; i++)
    {
      if (i > 0 && i % 4 == 0)
        g_string_append_c (out, '-');
      g_string_append_c (out, chars[i]);
    }
  return g_string_free (out, FALSE);
}

/* SHA-256 of the DER SubjectPublicKeyInfo: what site ids and fingerprints are made of. */
static gboolean
pubkey_digest (gnutls_pubkey_t pubkey, guint8 digest[32])
{
  g_auto(gnutls_datum_t) spki = { NULL, 0 };

  if (gnutls_pubkey_export2 (pubkey, GNUTLS_X509_FMT_DER, &spki) < 0)
    return FALSE;
  return gnutls_hash_fast (GNUTLS_DIG_SHA256, spki.data, spki.size, digest) == 0;
}

static char *
site_id_from_digest (const guint8 digest[32])
{
  return base32_encode (digest, 16, MH_SITE_ID_LENGTH, TRUE);
}

static char *
fingerprint_from_digest (const guint8 digest[32])
{
  g_autofree char *chars = base32_encode (digest, 32, MH_FINGERPRINT_CHARS, FALSE);

  return group_fingerprint (chars);
}

static gboolean
certificate_digest (GTlsCertificate *cert, guint8 digest[32])
{
  g_autoptr(GByteArray) der = NULL;
  g_autoptr(GnutlsX509Crt) crt = NULL;
  g_autoptr(GnutlsPubkey) pubkey = NULL;
  gnutls_datum_t datum;

  g_object_get (cert, "certificate", &der, NULL);
  if (der == NULL || der->len == 0)
    return FALSE;
  datum.data = der->data;
  datum.size = der->len;
  if (gnutls_x509_crt_init (&crt) < 0
      || gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_DER) < 0
      || gnutls_pubkey_init (&pubkey) < 0 || gnutls_pubkey_import_x509 (pubkey, crt, 0) < 0)
    return FALSE;
  return pubkey_digest (pubkey, digest);
}

/**
 * mh_fingerprint_from_certificate:
 *
 * The fingerprint of any certificate's public key, as a peer's is checked
 * against the one its user read out.
 *
 * Returns: (transfer full) (nullable): the fingerprint, or %NULL if the
 *   certificate cannot be parsed
 */
char *
mh_fingerprint_from_certificate (GTlsCertificate *cert)
{
  guint8 digest[32];

  g_return_val_if_fail (G_IS_TLS_CERTIFICATE (cert), NULL);

  if (!certificate_digest (cert, digest))
    return NULL;
  return fingerprint_from_digest (digest);
}

/**
 * mh_site_id_from_certificate:
 *
 * Returns: (transfer full) (nullable): the site id of the certificate's
 *   key, or %NULL if the certificate cannot be parsed
 */
char *
mh_site_id_from_certificate (GTlsCertificate *cert)
{
  guint8 digest[32];

  g_return_val_if_fail (G_IS_TLS_CERTIFICATE (cert), NULL);

  if (!certificate_digest (cert, digest))
    return NULL;
  return site_id_from_digest (digest);
}

/* Decodes the canonical base64 spelling of a raw Ed25519 public key. */
static gboolean
import_raw_public_key (const char *public_key_b64, GnutlsPubkey **out)
{
  g_autoptr(GnutlsPubkey) pubkey = NULL;
  g_autofree guint8 *raw = NULL;
  g_autofree char *reencoded = NULL;
  gnutls_datum_t x;
  gsize raw_len = 0;

  if (public_key_b64 == NULL || strlen (public_key_b64) != ED25519_PUBLIC_KEY_B64_LENGTH)
    return FALSE;
  /* g_base64_decode() skips what is not base64: only the canonical
   * spelling of 32 bytes is a key. */
  raw = g_base64_decode (public_key_b64, &raw_len);
  if (raw_len != ED25519_PUBLIC_KEY_SIZE)
    return FALSE;
  reencoded = g_base64_encode (raw, raw_len);
  if (strcmp (reencoded, public_key_b64) != 0)
    return FALSE;
  x.data = raw;
  x.size = raw_len;
  if (gnutls_pubkey_init (&pubkey) < 0
      || gnutls_pubkey_import_ecc_raw (pubkey, GNUTLS_ECC_CURVE_ED25519, &x, NULL) < 0)
    return FALSE;
  *out = g_steal_pointer (&pubkey);
  return TRUE;
}

/**
 * mh_public_key_get_ids:
 * @public_key_b64: a raw Ed25519 public key in base64, as
 *   mh_identity_get_signing_public_key() gives it
 * @out_site_id: (out) (optional): the site id of that key
 * @out_fingerprint: (out) (optional): its fingerprint
 *
 * Returns: %FALSE if @public_key_b64 is not such a key
 */
gboolean
mh_public_key_get_ids (const char *public_key_b64, char **out_site_id, char **out_fingerprint)
{
  g_autoptr(GnutlsPubkey) pubkey = NULL;
  guint8 digest[32];

  if (!import_raw_public_key (public_key_b64, &pubkey) || !pubkey_digest (pubkey, digest))
    return FALSE;
  if (out_site_id != NULL)
    *out_site_id = site_id_from_digest (digest);
  if (out_fingerprint != NULL)
    *out_fingerprint = fingerprint_from_digest (digest);
  return TRUE;
}

/* People copy fingerprints by hand: the digits that look like letters get a hint. */
static const char *
misread_hint (char c)
{
  switch (c)
    {
      case '0':
        return _(" (did you mean the letter O?)");
      case '1':
        return _(" (did you mean the letter I or L?)");
      case '8':
        return _(" (did you mean the letter B?)");
      default:
        return "";
    }
}

/**
 * mh_fingerprint_normalize:
 * @input: a fingerprint as typed: any case, with or without dashes or spaces
 *
 * Returns: (transfer full): the fingerprint in its canonical form
 *   (`ABCD-EFGH-IJKL-MNOP-QRST`), or %NULL with %MH_SYNC_ERROR_MALFORMED
 */
char *
mh_fingerprint_normalize (const char *input, GError **error)
{
  char chars[MH_FINGERPRINT_CHARS];
  guint n = 0;

  g_return_val_if_fail (input != NULL, NULL);

  for (const char *p = input; *p != '\0'; p++)
    {
      char c = g_ascii_toupper (*p);

      if (c == '-' || g_ascii_isspace (c))
        continue;
      if (strchr (base32_alphabet, c) == NULL)
        {
          if (g_ascii_isdigit (c))
            g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                         _("A fingerprint has no digit %c: its digits are 2 to 7%s"), c,
                         misread_hint (c));
          else if (g_ascii_isgraph (c))
            g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                         _("“%c” cannot appear in a fingerprint: it has only the letters A to "
                           "Z, the digits 2 to 7 and dashes"), c);
          else
            g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                                 _("A fingerprint has only the letters A to Z, the digits 2 to 7 "
                                   "and dashes"));
          return NULL;
        }
      if (n < MH_FINGERPRINT_CHARS)
        chars[n] = c;
      n++;
    }

  if (n != MH_FINGERPRINT_CHARS)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                   _("A fingerprint has %d letters and digits, as in ABCD-EFGH-IJKL-MNOP-QRST; "
                     "this one has %u"), MH_FINGERPRINT_CHARS, n);
      return NULL;
    }
  return group_fingerprint (chars);
}

/* Files */

/* Reads a small file into @out (allocated by GnuTLS so that it is wiped and
 * freed like the other data). With @private, the file must be a regular file
 * of mode 0600: a key that others could have read is refused rather than
 * quietly trusted, and the user is told how to fix it. */
static gboolean
read_small_file (const char *path, gboolean private, gnutls_datum_t *out, GError **error)
{
  struct stat st;
  gsize len = 0;
  int fd;

  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return errno_fail (error, errno, _("Could not open %s"), path);

  if (fstat (fd, &st) != 0)
    {
      int saved_errno = errno;
      close (fd);
      return errno_fail (error, saved_errno, _("Could not read %s"), path);
    }
  if (!S_ISREG (st.st_mode) || st.st_size > MAX_PEM_SIZE)
    {
      close (fd);
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, _("%s is not a PEM file (%s)"), path,
                   S_ISREG (st.st_mode) ? _("too large") : _("not a regular file"));
      return FALSE;
    }
  if (private && (st.st_mode & 07777) != 0600)
    {
      guint mode = st.st_mode & 07777;

      close (fd);
      if (mode & 0044)
        g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                     _("%s is readable by others (mode %04o); chmod 600 %s if it is yours"),
                     path, mode, path);
      else if (mode & 0077)
        g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                     _("%s is accessible by others (mode %04o); chmod 600 %s if it is yours"),
                     path, mode, path);
      else
        g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                     _("%s has mode %04o, not 0600; chmod 600 %s"), path, mode, path);
      return FALSE;
    }

  out->data = gnutls_malloc (MAX_PEM_SIZE + 1);
  out->size = 0;
  while (len < MAX_PEM_SIZE)
    {
      gssize n = read (fd, out->data + len, MAX_PEM_SIZE - len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;
          close (fd);
          return errno_fail (error, saved_errno, _("Could not read %s"), path);
        }
      if (n == 0)
        break;
      len += n;
      out->size = len; /* what has been read gets wiped, even on error */
    }
  close (fd);

  out->data[len] = '\0';
  return TRUE;
}

/* Writes @data to @path through a temporary file renamed into place, so that
 * a crash leaves either no file or a whole one. The temporary file is
 * created with mode 0600 (never readable by others, even for an instant)
 * and then set to @mode exactly, whatever the umask. */
static gboolean
write_file_atomically (const char *path, const guint8 *data, gsize len, int mode,
                       GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".XXXXXX", NULL);
  gsize done = 0;
  int fd;

  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno_fail (error, errno, _("Could not create %s"), tmp);

  if (fchmod (fd, mode) != 0)
    goto fail;
  while (done < len)
    {
      gssize n = write (fd, data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        goto fail;
      done += n;
    }
  if (fsync (fd) != 0)
    goto fail;
  if (close (fd) != 0)
    {
      fd = -1;
      goto fail;
    }
  fd = -1;
  if (g_rename (tmp, path) != 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved_errno = errno;

    if (fd >= 0)
      close (fd);
    g_unlink (tmp);
    return errno_fail (error, saved_errno, _("Could not write %s"), path);
  }
}

/* Key and certificate */

static gboolean
create_key (const char *key_path, GError **error)
{
  g_autoptr(GnutlsX509Privkey) key = NULL;
  g_auto(gnutls_datum_t) pem = { NULL, 0 };
  int ret;

  if ((ret = gnutls_x509_privkey_init (&key)) < 0
      || (ret = gnutls_x509_privkey_generate (key, GNUTLS_PK_EDDSA_ED25519, 0, 0)) < 0
      || (ret = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL,
                                                   GNUTLS_PKCS_PLAIN, &pem)) < 0)
    return gnutls_fail (error, ret, _("Could not make a key pair"));

  return write_file_atomically (key_path, pem.data, pem.size, 0600, error);
}

static gboolean
create_certificate (gnutls_x509_privkey_t key, const char *site_id, const char *cert_path,
                    GError **error)
{
  g_autoptr(GnutlsX509Crt) crt = NULL;
  g_auto(gnutls_datum_t) pem = { NULL, 0 };
  guint8 serial[16];
  /* Peers pin the key and ignore the dates; the dates start a day back only
   * so that tools which do look at them accept a certificate made on a
   * machine whose clock runs a little ahead. */
  time_t not_before = time (NULL) - 24 * 3600;
  int ret;

  /* A random positive serial of minimal DER encoding: the top bit clear, the next one set. */
  if ((ret = gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof serial)) < 0)
    return gnutls_fail (error, ret, _("Could not make a certificate serial"));
  serial[0] = (serial[0] & 0x3f) | 0x40;

  if ((ret = gnutls_x509_crt_init (&crt)) < 0
      || (ret = gnutls_x509_crt_set_version (crt, 3)) < 0
      || (ret = gnutls_x509_crt_set_serial (crt, serial, sizeof serial)) < 0
      || (ret = gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, site_id,
                                               strlen (site_id))) < 0
      || (ret = gnutls_x509_crt_set_activation_time (crt, not_before)) < 0
      || (ret = gnutls_x509_crt_set_expiration_time (crt, not_before + CERT_VALIDITY_SECONDS)) < 0
      || (ret = gnutls_x509_crt_set_key (crt, key)) < 0
      || (ret = gnutls_x509_crt_set_basic_constraints (crt, 0, -1)) < 0
      || (ret = gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0
      || (ret = gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0
      || (ret = gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0
      /* Ed25519 has its own hash: GnuTLS picks it when given none. */
      || (ret = gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_UNKNOWN, 0)) < 0
      || (ret = gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &pem)) < 0)
    return gnutls_fail (error, ret, _("Could not make the certificate"));

  return write_file_atomically (cert_path, pem.data, pem.size, 0644, error);
}

/* Loads the key at @key_path; with @cert_path missing, makes the
 * certificate for it first. */
static MhIdentity *
load (const char *key_path, const char *cert_path, GError **error)
{
  g_auto(gnutls_datum_t) key_file = { NULL, 0 };
  g_auto(gnutls_datum_t) cert_file = { NULL, 0 };
  g_auto(gnutls_datum_t) key_pem = { NULL, 0 };
  g_auto(gnutls_datum_t) cert_pem = { NULL, 0 };
  g_auto(gnutls_datum_t) raw = { NULL, 0 };
  g_autoptr(GnutlsX509Privkey) x509_key = NULL;
  g_autoptr(GnutlsPrivkey) key = NULL;
  g_autoptr(GnutlsPubkey) pubkey = NULL;
  g_autoptr(GnutlsX509Crt) crt = NULL;
  g_autoptr(GnutlsPubkey) cert_pubkey = NULL;
  g_autoptr(MhIdentity) self = NULL;
  g_autofree char *site_id = NULL;
  GString *both = NULL;
  guint8 digest[32], cert_digest[32];
  gnutls_ecc_curve_t curve;
  int ret;

  if (!read_small_file (key_path, TRUE, &key_file, error))
    return NULL;
  if ((ret = gnutls_x509_privkey_init (&x509_key)) < 0
      || (ret = gnutls_x509_privkey_import2 (x509_key, &key_file, GNUTLS_X509_FMT_PEM, NULL,
                                             GNUTLS_PKCS_PLAIN)) < 0)
    {
      gnutls_fail (error, ret, _("%s is not a valid private key"), key_path);
      return NULL;
    }
  if (gnutls_x509_privkey_get_pk_algorithm2 (x509_key, NULL) != GNUTLS_PK_EDDSA_ED25519)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                   _("%s is not an Ed25519 key, which a MedHead identity needs"), key_path);
      return NULL;
    }
  if ((ret = gnutls_privkey_init (&key)) < 0
      || (ret = gnutls_privkey_import_x509 (key, x509_key, GNUTLS_PRIVKEY_IMPORT_COPY)) < 0
      || (ret = gnutls_pubkey_init (&pubkey)) < 0
      || (ret = gnutls_pubkey_import_privkey (pubkey, key, 0, 0)) < 0
      || (ret = gnutls_pubkey_export_ecc_raw2 (pubkey, &curve, &raw, NULL, 0)) < 0)
    {
      gnutls_fail (error, ret, _("Could not use the key in %s"), key_path);
      return NULL;
    }
  if (curve != GNUTLS_ECC_CURVE_ED25519 || raw.size != ED25519_PUBLIC_KEY_SIZE
      || !pubkey_digest (pubkey, digest))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                   _("Could not hash the public key of %s"), key_path);
      return NULL;
    }
  site_id = site_id_from_digest (digest);

  if (!g_file_test (cert_path, G_FILE_TEST_EXISTS)
      && !create_certificate (x509_key, site_id, cert_path, error))
    return NULL;
  if (!read_small_file (cert_path, FALSE, &cert_file, error))
    return NULL;
  if ((ret = gnutls_x509_crt_init (&crt)) < 0
      || (ret = gnutls_x509_crt_import (crt, &cert_file, GNUTLS_X509_FMT_PEM)) < 0
      || (ret = gnutls_pubkey_init (&cert_pubkey)) < 0
      || (ret = gnutls_pubkey_import_x509 (cert_pubkey, crt, 0)) < 0)
    {
      gnutls_fail (error, ret, _("%s is not a valid certificate"), cert_path);
      return NULL;
    }
  if (!pubkey_digest (cert_pubkey, cert_digest) || memcmp (digest, cert_digest, 32) != 0)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                   _("%s is not the certificate of the key in %s (remove it and it will be "
                     "made again from the key)"), cert_path, key_path);
      return NULL;
    }

  /* The TLS certificate is made from what was just checked, re-encoded,
   * rather than from the files as they are (which could hold more). */
  if ((ret = gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &cert_pem)) < 0
      || (ret = gnutls_x509_privkey_export2_pkcs8 (x509_key, GNUTLS_X509_FMT_PEM, NULL,
                                                   GNUTLS_PKCS_PLAIN, &key_pem)) < 0)
    {
      gnutls_fail (error, ret, _("Could not encode the identity in %s"), key_path);
      return NULL;
    }

  self = g_object_new (MH_TYPE_IDENTITY, NULL);
  self->site_id = g_steal_pointer (&site_id);
  self->fingerprint = fingerprint_from_digest (digest);
  self->signing_public_key = g_base64_encode (raw.data, raw.size);
  memcpy (self->raw_public_key, raw.data, MIN (raw.size, sizeof self->raw_public_key));
  self->signing_key = g_steal_pointer (&key);

  both = g_string_sized_new (cert_pem.size + key_pem.size + 1);
  g_string_append_len (both, (const char *) cert_pem.data, cert_pem.size);
  g_string_append_len (both, (const char *) key_pem.data, key_pem.size);
  self->tls_certificate = g_tls_certificate_new_from_pem (both->str, both->len, error);
  gnutls_memset (both->str, 0, both->len);
  g_string_free (both, TRUE);
  if (self->tls_certificate == NULL)
    {
      g_prefix_error (error, _("Could not use %s and %s for TLS: "), key_path, cert_path);
      return NULL;
    }
  return g_steal_pointer (&self);
}

/**
 * mh_identity_load_or_create:
 * @dir: the node's data folder (made, mode 0700, if missing)
 *
 * Loads the node's identity from @dir, making it first if there is none.
 *
 * Returns: (transfer full): the identity, or %NULL with %MH_SYNC_ERROR_FAILED
 */
MhIdentity *
mh_identity_load_or_create (const char *dir, GError **error)
{
  g_autofree char *key_path = NULL;
  g_autofree char *cert_path = NULL;
  GStatBuf st;

  g_return_val_if_fail (dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      errno_fail (error, errno, _("Could not create the folder %s"), dir);
      return NULL;
    }

  key_path = g_build_filename (dir, KEY_FILE, NULL);
  cert_path = g_build_filename (dir, CERT_FILE, NULL);

  if (g_lstat (key_path, &st) != 0)
    {
      if (errno != ENOENT)
        {
          errno_fail (error, errno, _("Could not look at %s"), key_path);
          return NULL;
        }
      /* A certificate without its key belongs to no one: it goes, so
       * that the new key gets its own. */
      if (g_unlink (cert_path) != 0 && errno != ENOENT)
        {
          errno_fail (error, errno, _("Could not remove %s"), cert_path);
          return NULL;
        }
      if (!create_key (key_path, error))
        return NULL;
    }
  return load (key_path, cert_path, error);
}

const char *
mh_identity_get_site_id (MhIdentity *self)
{
  g_return_val_if_fail (MH_IS_IDENTITY (self), NULL);
  return self->site_id;
}

const char *
mh_identity_get_fingerprint (MhIdentity *self)
{
  g_return_val_if_fail (MH_IS_IDENTITY (self), NULL);
  return self->fingerprint;
}

/**
 * mh_identity_get_signing_public_key:
 *
 * Returns: the raw 32-byte Ed25519 public key that checks this node's
 *   signatures, in base64
 */
const char *
mh_identity_get_signing_public_key (MhIdentity *self)
{
  g_return_val_if_fail (MH_IS_IDENTITY (self), NULL);
  return self->signing_public_key;
}

/**
 * mh_identity_get_tls_certificate:
 *
 * Returns: (transfer none): the certificate with its private key, for
 *   soup_server_set_tls_certificate() and
 *   soup_message_set_tls_client_certificate()
 */
GTlsCertificate *
mh_identity_get_tls_certificate (MhIdentity *self)
{
  g_return_val_if_fail (MH_IS_IDENTITY (self), NULL);
  return self->tls_certificate;
}

/* Signatures */

/**
 * mh_identity_sign:
 * @out_sig: (out): the 64-byte Ed25519 signature of @data
 */
gboolean
mh_identity_sign (MhIdentity *self, const guint8 *data, gsize len, GBytes **out_sig,
                  GError **error)
{
  g_auto(gnutls_datum_t) sig = { NULL, 0 };
  gnutls_datum_t in;
  int ret;

  g_return_val_if_fail (MH_IS_IDENTITY (self), FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (out_sig != NULL, FALSE);

  if (len > G_MAXUINT)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TOO_LARGE,
                   _("Cannot sign %zu bytes at once"), len);
      return FALSE;
    }
  in.data = (unsigned char *) (data != NULL ? data : (const guint8 *) "");
  in.size = len;
  if ((ret = gnutls_privkey_sign_data2 (self->signing_key, GNUTLS_SIGN_EDDSA_ED25519, 0, &in,
                                        &sig)) < 0)
    return gnutls_fail (error, ret, _("Could not sign"));

  *out_sig = g_bytes_new (sig.data, sig.size);
  return TRUE;
}

/**
 * mh_identity_verify:
 * @public_key_b64: a signer's raw Ed25519 public key, in base64
 * @sig: (nullable): the signature
 *
 * Checks a signature made by mh_identity_sign(). Anything malformed (key,
 * signature) is simply a signature that does not verify.
 *
 * Returns: %TRUE if @sig is the signature of @data by that key
 */
gboolean
mh_identity_verify (const char *public_key_b64, const guint8 *data, gsize len, GBytes *sig)
{
  g_autoptr(GnutlsPubkey) pubkey = NULL;
  g_autofree guint8 *raw = NULL;
  g_autofree char *reencoded = NULL;
  gnutls_datum_t x, in, signature;
  gsize raw_len = 0;

  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  if (public_key_b64 == NULL || sig == NULL || len > G_MAXUINT
      || g_bytes_get_size (sig) != MH_SIGNATURE_SIZE
      || strlen (public_key_b64) != ED25519_PUBLIC_KEY_B64_LENGTH)
    return FALSE;

  /* g_base64_decode() skips what is not base64: only the canonical
   * spelling of 32 bytes is a key. */
  raw = g_base64_decode (public_key_b64, &raw_len);
  if (raw_len != ED25519_PUBLIC_KEY_SIZE)
    return FALSE;
  reencoded = g_base64_encode (raw, raw_len);
  if (strcmp (reencoded, public_key_b64) != 0)
    return FALSE;

  x.data = raw;
  x.size = raw_len;
  in.data = (unsigned char *) (data != NULL ? data : (const guint8 *) "");
  in.size = len;
  signature.data = (unsigned char *) g_bytes_get_data (sig, NULL);
  signature.size = MH_SIGNATURE_SIZE;
  if (gnutls_pubkey_init (&pubkey) < 0
      || gnutls_pubkey_import_ecc_raw (pubkey, GNUTLS_ECC_CURVE_ED25519, &x, NULL) < 0)
    return FALSE;
  return gnutls_pubkey_verify_data2 (pubkey, GNUTLS_SIGN_EDDSA_ED25519, 0, &in, &signature) >= 0;
}

/**
 * mh_identity_sign_change:
 *
 * Signs @change as its origin: sets its signature field to this node's raw
 * public key followed by the Ed25519 signature of
 * mh_change_canonical_bytes(). The change's origin must be this node.
 */
gboolean
mh_identity_sign_change (MhIdentity *self, MhChange *change, GError **error)
{
  g_autoptr(GBytes) canonical = NULL;
  g_autoptr(GBytes) sig = NULL;
  GByteArray *both;
  gsize len;
  const guint8 *data;

  g_return_val_if_fail (MH_IS_IDENTITY (self), FALSE);
  g_return_val_if_fail (change != NULL, FALSE);
  g_return_val_if_fail (g_strcmp0 (change->origin, self->site_id) == 0, FALSE);

  canonical = mh_change_canonical_bytes (change);
  data = g_bytes_get_data (canonical, &len);
  if (!mh_identity_sign (self, data, len, &sig, error))
    return FALSE;
  both = g_byte_array_sized_new (MH_CHANGE_SIGNATURE_SIZE);
  g_byte_array_append (both, self->raw_public_key, ED25519_PUBLIC_KEY_SIZE);
  g_byte_array_append (both, g_bytes_get_data (sig, NULL), (guint) g_bytes_get_size (sig));
  g_clear_pointer (&change->signature, g_bytes_unref);
  change->signature = g_byte_array_free_to_bytes (both);
  return TRUE;
}

/* Site ids of the public keys seen lately: a replica holds changes of a few
 * hundred sites, and hashing the key's SubjectPublicKeyInfo for every change
 * of an initial sync would cost as much as a tenth of the verification. */
#define SITE_ID_CACHE_MAX 4096
G_LOCK_DEFINE_STATIC (site_id_cache);
static GHashTable *site_id_cache; /* GBytes (raw key) -> char * */

static char *
cached_site_id (const guint8 *key)
{
  g_autoptr(GBytes) k = g_bytes_new_static (key, ED25519_PUBLIC_KEY_SIZE);
  char *site_id = NULL;

  G_LOCK (site_id_cache);
  if (site_id_cache != NULL)
    site_id = g_strdup (g_hash_table_lookup (site_id_cache, k));
  G_UNLOCK (site_id_cache);
  return site_id;
}

static void
cache_site_id (const guint8 *key, const char *site_id)
{
  G_LOCK (site_id_cache);
  if (site_id_cache == NULL)
    site_id_cache = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
                                           (GDestroyNotify) g_bytes_unref, g_free);
  if (g_hash_table_size (site_id_cache) >= SITE_ID_CACHE_MAX)
    g_hash_table_remove_all (site_id_cache);
  g_hash_table_replace (site_id_cache, g_bytes_new (key, ED25519_PUBLIC_KEY_SIZE),
                        g_strdup (site_id));
  G_UNLOCK (site_id_cache);
}

/* Imports @key (32 raw bytes) into *@out_pubkey and checks that it hashes
 * to @origin. */
static gboolean
signer_key (const guint8 *key, const char *origin, GnutlsPubkey **out_pubkey, char **reason)
{
  g_autoptr(GnutlsPubkey) pubkey = NULL;
  g_autofree char *site_id = NULL;
  gnutls_datum_t x;
  guint8 digest[32];

  x.data = (unsigned char *) key;
  x.size = ED25519_PUBLIC_KEY_SIZE;
  if (gnutls_pubkey_init (&pubkey) < 0
      || gnutls_pubkey_import_ecc_raw (pubkey, GNUTLS_ECC_CURVE_ED25519, &x, NULL) < 0)
    {
      if (reason)
        *reason = g_strdup (_("malformed signing key"));
      return FALSE;
    }
  site_id = cached_site_id (key);
  if (site_id == NULL)
    {
      if (!pubkey_digest (pubkey, digest))
        {
          if (reason)
            *reason = g_strdup (_("malformed signing key"));
          return FALSE;
        }
      site_id = site_id_from_digest (digest);
      cache_site_id (key, site_id);
    }
  if (g_strcmp0 (site_id, origin) != 0)
    {
      if (reason)
        *reason = g_strdup_printf (_("signed by %s, not by its origin"), site_id);
      return FALSE;
    }
  *out_pubkey = g_steal_pointer (&pubkey);
  return TRUE;
}

static gboolean change_verify_uncached (const MhChange *change, GBytes *canonical, char **reason);
static gboolean sealed_change_verify (const MhChange *change, char **reason);

/* Changes verified lately, by their canonical bytes and signature field: the
 * same change often arrives again (by two paths of a mesh, or when a held or
 * parked change is retried), and its check cannot give another answer. */
#define VERIFIED_CACHE_MAX 8192
G_LOCK_DEFINE_STATIC (verified_cache);
static GHashTable *verified_cache; /* GBytes (canonical bytes, then signature field) */
/* The generation before: when the cache fills, the older half goes, never
 * what was verified just now (the replicator verifies the batches in
 * flight ahead of their transactions, which then find them here). */
static GHashTable *verified_old;

static GBytes *
verified_key (GBytes *canonical, GBytes *signature)
{
  gsize clen, slen;
  const guint8 *c = g_bytes_get_data (canonical, &clen);
  const guint8 *s = g_bytes_get_data (signature, &slen);
  guint8 *key = g_malloc (clen + slen);

  memcpy (key, c, clen);
  memcpy (key + clen, s, slen);
  return g_bytes_new_take (key, clen + slen);
}

/**
 * mh_change_verify:
 * @reason: (out) (optional): why it does not verify
 *
 * Checks that @change was signed by its origin: the key in its signature
 * field hashes to the origin's site id, and the signature over
 * mh_change_canonical_bytes() verifies with that key.
 */
gboolean
mh_change_verify (const MhChange *change, char **reason)
{
  g_autoptr(GBytes) canonical = NULL;
  g_autoptr(GBytes) key = NULL;
  gboolean known;

  g_return_val_if_fail (change != NULL, FALSE);

  if (mh_change_is_sealed (change))
    return sealed_change_verify (change, reason);
  if (change->signature == NULL
      || g_bytes_get_size (change->signature) != MH_CHANGE_SIGNATURE_SIZE)
    return change_verify_uncached (change, NULL, reason);
  canonical = mh_change_canonical_bytes (change);
  key = verified_key (canonical, change->signature);
  G_LOCK (verified_cache);
  known = (verified_cache != NULL && g_hash_table_contains (verified_cache, key))
          || (verified_old != NULL && g_hash_table_contains (verified_old, key));
  G_UNLOCK (verified_cache);
  if (known)
    return TRUE;
  if (!change_verify_uncached (change, canonical, reason))
    return FALSE;
  G_LOCK (verified_cache);
  if (verified_cache != NULL && g_hash_table_size (verified_cache) >= VERIFIED_CACHE_MAX / 2)
    {
      g_clear_pointer (&verified_old, g_hash_table_unref);
      verified_old = g_steal_pointer (&verified_cache);
    }
  if (verified_cache == NULL)
    verified_cache = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
                                            (GDestroyNotify) g_bytes_unref, NULL);
  g_hash_table_add (verified_cache, g_steal_pointer (&key));
  G_UNLOCK (verified_cache);
  return TRUE;
}

/* Verifies with @canonical, the change's canonical bytes when the caller
 * has them already. */
static gboolean
change_verify_uncached (const MhChange *change, GBytes *canonical_in, char **reason)
{
  g_autoptr(GnutlsPubkey) pubkey = NULL;
  g_autoptr(GBytes) canonical = NULL;
  const guint8 *sig;
  gsize sig_len, len;
  gnutls_datum_t in, signature;

  if (change->signature == NULL)
    {
      if (reason)
        *reason = g_strdup (_("unsigned change"));
      return FALSE;
    }
  sig = g_bytes_get_data (change->signature, &sig_len);
  if (sig_len != MH_CHANGE_SIGNATURE_SIZE)
    {
      if (reason)
        *reason = g_strdup (_("malformed signature"));
      return FALSE;
    }
  if (!signer_key (sig, change->origin, &pubkey, reason))
    return FALSE;
  canonical = canonical_in ? g_bytes_ref (canonical_in) : mh_change_canonical_bytes (change);
  in.data = (unsigned char *) g_bytes_get_data (canonical, &len);
  in.size = (unsigned int) len;
  signature.data = (unsigned char *) sig + ED25519_PUBLIC_KEY_SIZE;
  signature.size = MH_SIGNATURE_SIZE;
  if (gnutls_pubkey_verify_data2 (pubkey, GNUTLS_SIGN_EDDSA_ED25519, 0, &in, &signature) < 0)
    {
      if (reason)
        *reason = g_strdup (_("bad signature"));
      return FALSE;
    }
  return TRUE;
}

/* Seals */

/**
 * mh_change_hash:
 * @out: (out caller-allocates): the SHA-256 of mh_change_canonical_bytes()
 */
void
mh_change_hash (const MhChange *change, guint8 out[MH_SEAL_HASH_SIZE])
{
  g_autoptr(GBytes) canonical = mh_change_canonical_bytes (change);
  gsize len;
  const guint8 *data = g_bytes_get_data (canonical, &len);

  if (gnutls_hash_fast (GNUTLS_DIG_SHA256, data, len, out) != 0)
    {
      /* Only without SHA-256 at all: fall back to GLib's. */
      g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
      gsize out_len = MH_SEAL_HASH_SIZE;

      g_checksum_update (checksum, data, len);
      g_checksum_get_digest (checksum, out, &out_len);
    }
}

/**
 * mh_identity_seal:
 * @hashes: 32 * @n bytes: mh_change_hash() of this node's changes numbered
 *   @first_oseq to @first_oseq + @n - 1
 *
 * Signs those changes at once (one Ed25519 signature).
 *
 * Returns: (transfer full) (nullable): the seal, known good
 */
MhSeal *
mh_identity_seal (MhIdentity *self, gint64 first_oseq, guint n, const guint8 *hashes,
                  GError **error)
{
  g_autoptr(GBytes) message = NULL;
  g_autoptr(GBytes) sig = NULL;
  g_autoptr(GBytes) field = NULL;
  g_autoptr(GBytes) hash_bytes = NULL;
  GByteArray *both;
  MhSeal *seal;

  g_return_val_if_fail (MH_IS_IDENTITY (self), NULL);
  g_return_val_if_fail (n >= 1 && n <= MH_SEAL_MAX && hashes != NULL, NULL);

  message = mh_seal_message (self->site_id, first_oseq, n, hashes);
  if (!mh_identity_sign (self, g_bytes_get_data (message, NULL), g_bytes_get_size (message), &sig,
                         error))
    return NULL;
  both = g_byte_array_sized_new (MH_CHANGE_SIGNATURE_SIZE);
  g_byte_array_append (both, self->raw_public_key, ED25519_PUBLIC_KEY_SIZE);
  g_byte_array_append (both, g_bytes_get_data (sig, NULL), (guint) g_bytes_get_size (sig));
  field = g_byte_array_free_to_bytes (both);
  hash_bytes = g_bytes_new (hashes, (gsize) n * MH_SEAL_HASH_SIZE);
  seal = mh_seal_new (self->site_id, first_oseq, n, field, hash_bytes);
  g_atomic_int_set (&seal->verified, 1);
  return seal;
}

/* Seals verified lately, by the SHA-256 of their message and signature: a
 * seal read again from a replica, or arriving again from another peer, is
 * a new object with the same bytes. Two generations, as verified_cache. */
#define SEAL_CACHE_MAX 2048
G_LOCK_DEFINE_STATIC (seal_cache);
static GHashTable *seal_cache;
static GHashTable *seal_cache_old;

static GBytes *
seal_key (GBytes *message, GBytes *sig)
{
  gnutls_hash_hd_t hd;
  guint8 *digest = g_malloc (32);

  if (gnutls_hash_init (&hd, GNUTLS_DIG_SHA256) < 0)
    {
      g_free (digest);
      return NULL;
    }
  gnutls_hash (hd, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  gnutls_hash (hd, g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));
  gnutls_hash_deinit (hd, digest);
  return g_bytes_new_take (digest, 32);
}

/**
 * mh_seal_verify:
 * @reason: (out) (optional): why it does not verify
 *
 * Checks that @seal was signed by its origin: the key in its signature
 * field hashes to the seal's origin, and the signature of mh_seal_message()
 * verifies with that key. The verdict is kept in the seal.
 */
gboolean
mh_seal_verify (MhSeal *seal, char **reason)
{
  g_autoptr(GnutlsPubkey) pubkey = NULL;
  g_autoptr(GBytes) message = NULL;
  g_autoptr(GBytes) key = NULL;
  const guint8 *sig;
  gsize sig_len;
  gnutls_datum_t in, signature;
  gboolean known;
  int verified;

  g_return_val_if_fail (seal != NULL, FALSE);

  verified = g_atomic_int_get (&seal->verified);
  if (verified != 0)
    {
      if (verified < 0 && reason)
        *reason = g_strdup (_("bad seal signature"));
      return verified > 0;
    }
  sig = g_bytes_get_data (seal->sig, &sig_len);
  if (sig_len != MH_CHANGE_SIGNATURE_SIZE || seal->n < 1 || seal->n > MH_SEAL_MAX
      || g_bytes_get_size (seal->hashes) != (gsize) seal->n * MH_SEAL_HASH_SIZE)
    {
      if (reason)
        *reason = g_strdup (_("malformed seal"));
      g_atomic_int_set (&seal->verified, -1);
      return FALSE;
    }
  message = mh_seal_message (seal->origin, seal->first_oseq, seal->n,
                             g_bytes_get_data (seal->hashes, NULL));
  key = seal_key (message, seal->sig);
  G_LOCK (seal_cache);
  known = key != NULL
          && ((seal_cache != NULL && g_hash_table_contains (seal_cache, key))
              || (seal_cache_old != NULL && g_hash_table_contains (seal_cache_old, key)));
  G_UNLOCK (seal_cache);
  if (known)
    {
      g_atomic_int_set (&seal->verified, 1);
      return TRUE;
    }

  if (!signer_key (sig, seal->origin, &pubkey, reason))
    {
      g_atomic_int_set (&seal->verified, -1);
      return FALSE;
    }
  in.data = (unsigned char *) g_bytes_get_data (message, NULL);
  in.size = (unsigned int) g_bytes_get_size (message);
  signature.data = (unsigned char *) sig + ED25519_PUBLIC_KEY_SIZE;
  signature.size = MH_SIGNATURE_SIZE;
  if (gnutls_pubkey_verify_data2 (pubkey, GNUTLS_SIGN_EDDSA_ED25519, 0, &in, &signature) < 0)
    {
      if (reason)
        *reason = g_strdup (_("bad seal signature"));
      g_atomic_int_set (&seal->verified, -1);
      return FALSE;
    }
  g_atomic_int_set (&seal->verified, 1);
  if (key == NULL)
    return TRUE;
  G_LOCK (seal_cache);
  if (seal_cache != NULL && g_hash_table_size (seal_cache) >= SEAL_CACHE_MAX / 2)
    {
      g_clear_pointer (&seal_cache_old, g_hash_table_unref);
      seal_cache_old = g_steal_pointer (&seal_cache);
    }
  if (seal_cache == NULL)
    seal_cache = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
                                        (GDestroyNotify) g_bytes_unref, NULL);
  g_hash_table_add (seal_cache, g_steal_pointer (&key));
  G_UNLOCK (seal_cache);
  return TRUE;
}

/* A change whose signature is a seal's: the seal is the origin's and
 * verifies, and holds this change's hash at its sequence number. */
static gboolean
sealed_change_verify (const MhChange *change, char **reason)
{
  guint8 hash[MH_SEAL_HASH_SIZE];
  const guint8 *expected;

  if (change->seal == NULL)
    {
      if (reason)
        *reason = g_strdup (_("sealed change without its seal"));
      return FALSE;
    }
  if (g_strcmp0 (change->seal->origin, change->origin) != 0)
    {
      if (reason)
        *reason = g_strdup (_("sealed by another origin"));
      return FALSE;
    }
  expected = mh_seal_get_hash (change->seal, change->origin_seq);
  if (expected == NULL)
    {
      if (reason)
        *reason = g_strdup (_("not covered by its seal"));
      return FALSE;
    }
  if (!mh_seal_verify (change->seal, reason))
    return FALSE;
  mh_change_hash (change, hash);
  if (memcmp (hash, expected, MH_SEAL_HASH_SIZE) != 0)
    {
      if (reason)
        *reason = g_strdup (_("hash does not match its seal"));
      return FALSE;
    }
  return TRUE;
}

/* Batch verification. A batch of a catch-up is hundreds of changes, each
 * check about 150 µs of CPU: the other cores share them, before the batch's
 * write transaction opens. */
#define VERIFY_CHUNK_MIN 16

typedef struct
{
  GPtrArray *changes;
  GPtrArray *reasons;
  guint begin, end;
  GMutex *mutex;
  GCond *cond;
  guint *pending;
} VerifyChunk;

static void
verify_range (GPtrArray *changes, GPtrArray *reasons, guint begin, guint end)
{
  for (guint i = begin; i < end; i++)
    {
      char *reason = NULL;

      if (!mh_change_verify (g_ptr_array_index (changes, i), &reason))
        g_ptr_array_index (reasons, i) = reason != NULL ? reason : g_strdup (_("bad signature"));
    }
}

static void
verify_chunk_run (gpointer data, gpointer user_data)
{
  VerifyChunk *chunk = data;

  verify_range (chunk->changes, chunk->reasons, chunk->begin, chunk->end);
  g_mutex_lock (chunk->mutex);
  if (--*chunk->pending == 0)
    g_cond_signal (chunk->cond);
  g_mutex_unlock (chunk->mutex);
}

/* g_get_num_processors() reads sysfs on every call (about 80 µs, a good
 * part of applying a live update): asked once. */
static guint
n_processors (void)
{
  static gsize n;

  if (g_once_init_enter (&n))
    g_once_init_leave (&n, MAX (1, g_get_num_processors ()));
  return (guint) n;
}

static GThreadPool *
verify_pool (void)
{
  static GThreadPool *pool;

  if (g_once_init_enter (&pool))
    {
      guint n = MAX (1, n_processors () - 1);
      GThreadPool *p = g_thread_pool_new (verify_chunk_run, NULL, (int) MIN (n, 8), FALSE, NULL);

      g_once_init_leave (&pool, p);
    }
  return pool;
}

/**
 * mh_changes_verify:
 * @changes: (element-type MhChange): a batch from a peer
 *
 * mh_change_verify() on every change of @changes, spread over the machine's
 * cores (the calling thread takes a share and waits for the rest).
 *
 * Returns: (transfer full) (element-type utf8): as many entries as
 *   @changes: %NULL where the change verifies, else why it does not
 */
GPtrArray *
mh_changes_verify (GPtrArray *changes)
{
  GPtrArray *reasons;
  guint n_parts, per_part;
  g_autofree VerifyChunk *chunks = NULL;
  GMutex mutex;
  GCond cond;
  guint pending;

  g_return_val_if_fail (changes != NULL, NULL);

  reasons = g_ptr_array_new_full (changes->len, g_free);
  g_ptr_array_set_size (reasons, (int) changes->len);
  /* A batch too small to share is checked here, without asking for the
   * number of cores. */
  n_parts = changes->len < 2 * VERIFY_CHUNK_MIN
              ? 1
              : MIN (n_processors (), changes->len / VERIFY_CHUNK_MIN);
  if (n_parts <= 1)
    {
      verify_range (changes, reasons, 0, changes->len);
      return reasons;
    }

  per_part = (changes->len + n_parts - 1) / n_parts;
  chunks = g_new0 (VerifyChunk, n_parts);
  g_mutex_init (&mutex);
  g_cond_init (&cond);
  pending = n_parts - 1;
  for (guint p = 0; p < n_parts; p++)
    {
      chunks[p] = (VerifyChunk) { changes, reasons, p * per_part,
                                  MIN (changes->len, (p + 1) * per_part), &mutex, &cond,
                                  &pending };
      if (p > 0)
        g_thread_pool_push (verify_pool (), &chunks[p], NULL);
    }
  verify_range (changes, reasons, chunks[0].begin, chunks[0].end);
  g_mutex_lock (&mutex);
  while (pending > 0)
    g_cond_wait (&cond, &mutex);
  g_mutex_unlock (&mutex);
  g_mutex_clear (&mutex);
  g_cond_clear (&cond);
  return reasons;
}

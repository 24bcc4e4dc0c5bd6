/* Tests of the lazy default TLS database: a client connection made after it
 * is installed copies no certificate authority, and certificate checks give
 * the backend's own answers. */
#include "config.h"

#include "mh-identity.h"
#include "mh-test-util.h"
#include "mh-tls-database.h"

static void
test_installed (void)
{
  g_autoptr(GTlsDatabase) database = NULL;
  g_autoptr(GInputStream) in = g_memory_input_stream_new ();
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr(GIOStream) base = g_simple_io_stream_new (in, out);
  g_autoptr(GIOStream) connection = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_test_skip ("no TLS backend");
      return;
    }
  mh_tls_database_install_default ();
  mh_tls_database_install_default (); /* once is enough, twice is harmless */
  database = g_tls_backend_get_default_database (g_tls_backend_get_default ());
  g_assert_true (MH_IS_LAZY_TLS_DATABASE (database));

  /* As libsoup makes one: with the default database, not a GnuTLS copy. */
  connection = g_tls_client_connection_new (base, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_tls_connection_get_database (G_TLS_CONNECTION (connection)) == database);
}

static void
test_same_answers (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-tls-database");
  g_autoptr(GError) error = NULL;
  g_autoptr(MhIdentity) identity = NULL;
  g_autoptr(GTlsDatabase) lazy = NULL;
  g_autoptr(GSocketConnectable) name = g_network_address_new ("peer.invalid", 443);
  GTlsBackend *backend = g_tls_backend_get_default ();
  GTlsDatabase *real;
  GTlsCertificate *certificate;
  GTlsCertificateFlags flags;

  if (!g_tls_backend_supports_tls (backend))
    {
      g_test_skip ("no TLS backend");
      return;
    }
  mh_tls_database_install_default ();
  lazy = g_tls_backend_get_default_database (backend);
  real = G_TLS_BACKEND_GET_INTERFACE (backend)->get_default_database (backend);
  identity = mh_identity_load_or_create (dir, &error);
  g_assert_no_error (error);
  certificate = mh_identity_get_tls_certificate (identity);

  /* A node's self-signed certificate: no authority vouches for it. */
  flags = g_tls_database_verify_chain (lazy, certificate, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER,
                                       name, NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (flags, ==,
                    g_tls_database_verify_chain (real, certificate,
                                                 G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, name,
                                                 NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, NULL));
  g_assert_true (flags & G_TLS_CERTIFICATE_UNKNOWN_CA);
  g_assert_null (g_tls_database_lookup_certificate_issuer (lazy, certificate, NULL,
                                                           G_TLS_DATABASE_LOOKUP_NONE, NULL,
                                                           &error));
  g_assert_no_error (error);

  g_clear_object (&real);
  g_clear_object (&identity);
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/tls-database/installed", test_installed);
  g_test_add_func ("/tls-database/same-answers", test_same_answers);
  return g_test_run ();
}

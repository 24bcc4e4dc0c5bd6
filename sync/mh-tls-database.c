/* mh-tls-database.c: a default TLS database that costs nothing per connection
 *
 * glib-networking's GnuTLS backend (2.74 at least) gives every new client
 * connection its own copy of the default database's trust list: it parses
 * the whole system CA bundle, on the caller's thread, before the first byte
 * of the handshake. libsoup creates the connection on the main loop, so each
 * call to a peer blocked it for 20-50 ms on a plain build and for 3-45 s
 * under ASan on a loaded machine, past the peer's 20 s accept deadline, so
 * that no link was ever made.
 *
 * This database is not a GnuTLS one, so connections copy nothing; it hands
 * every question to the backend's own default database, made on first use,
 * so connections that do check certificate authorities still check them. */

#include "config.h"

#include "mh-tls-database.h"

struct _MhLazyTlsDatabase
{
  GTlsDatabase parent_instance;

  GMutex lock;
  gboolean loaded;
  GTlsDatabase *real; /* nullable: a backend without one */
};

G_DEFINE_FINAL_TYPE (MhLazyTlsDatabase, mh_lazy_tls_database, G_TYPE_TLS_DATABASE)

/* The backend's own default: g_tls_backend_get_default_database() would
 * return this object once it is installed. */
static GTlsDatabase *
real_database (GTlsDatabase *database)
{
  MhLazyTlsDatabase *self = MH_LAZY_TLS_DATABASE (database);
  GTlsDatabase *real;

  g_mutex_lock (&self->lock);
  if (!self->loaded)
    {
      GTlsBackend *backend = g_tls_backend_get_default ();
      GTlsBackendInterface *iface = G_TLS_BACKEND_GET_INTERFACE (backend);

      self->real = iface->get_default_database ? iface->get_default_database (backend) : NULL;
      self->loaded = TRUE;
    }
  real = self->real ? g_object_ref (self->real) : NULL;
  g_mutex_unlock (&self->lock);
  return real;
}

static GTlsCertificateFlags
verify_chain (GTlsDatabase *database, GTlsCertificate *chain, const gchar *purpose,
              GSocketConnectable *identity, GTlsInteraction *interaction,
              GTlsDatabaseVerifyFlags flags, GCancellable *cancellable, GError **error)
{
  g_autoptr(GTlsDatabase) real = real_database (database);

  if (real == NULL)
    return G_TLS_CERTIFICATE_UNKNOWN_CA;
  return g_tls_database_verify_chain (real, chain, purpose, identity, interaction, flags,
                                      cancellable, error);
}

static gchar *
create_certificate_handle (GTlsDatabase *database, GTlsCertificate *certificate)
{
  g_autoptr(GTlsDatabase) real = real_database (database);

  return real ? g_tls_database_create_certificate_handle (real, certificate) : NULL;
}

static GTlsCertificate *
lookup_certificate_for_handle (GTlsDatabase *database, const gchar *handle,
                               GTlsInteraction *interaction, GTlsDatabaseLookupFlags flags,
                               GCancellable *cancellable, GError **error)
{
  g_autoptr(GTlsDatabase) real = real_database (database);

  if (real == NULL)
    return NULL;
  return g_tls_database_lookup_certificate_for_handle (real, handle, interaction, flags,
                                                       cancellable, error);
}

static GTlsCertificate *
lookup_certificate_issuer (GTlsDatabase *database, GTlsCertificate *certificate,
                           GTlsInteraction *interaction, GTlsDatabaseLookupFlags flags,
                           GCancellable *cancellable, GError **error)
{
  g_autoptr(GTlsDatabase) real = real_database (database);

  if (real == NULL)
    return NULL;
  return g_tls_database_lookup_certificate_issuer (real, certificate, interaction, flags,
                                                   cancellable, error);
}

static GList *
lookup_certificates_issued_by (GTlsDatabase *database, GByteArray *issuer_raw_dn,
                               GTlsInteraction *interaction, GTlsDatabaseLookupFlags flags,
                               GCancellable *cancellable, GError **error)
{
  g_autoptr(GTlsDatabase) real = real_database (database);

  if (real == NULL)
    return NULL;
  return g_tls_database_lookup_certificates_issued_by (real, issuer_raw_dn, interaction, flags,
                                                       cancellable, error);
}

static void
mh_lazy_tls_database_finalize (GObject *object)
{
  MhLazyTlsDatabase *self = MH_LAZY_TLS_DATABASE (object);

  g_clear_object (&self->real);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (mh_lazy_tls_database_parent_class)->finalize (object);
}

static void
mh_lazy_tls_database_class_init (MhLazyTlsDatabaseClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GTlsDatabaseClass *database_class = G_TLS_DATABASE_CLASS (klass);

  object_class->finalize = mh_lazy_tls_database_finalize;
  database_class->verify_chain = verify_chain;
  database_class->create_certificate_handle = create_certificate_handle;
  database_class->lookup_certificate_for_handle = lookup_certificate_for_handle;
  database_class->lookup_certificate_issuer = lookup_certificate_issuer;
  database_class->lookup_certificates_issued_by = lookup_certificates_issued_by;
}

static void
mh_lazy_tls_database_init (MhLazyTlsDatabase *self)
{
  g_mutex_init (&self->lock);
}

/**
 * mh_tls_database_install_default:
 *
 * Makes a #MhLazyTlsDatabase the process's default TLS database, once.
 * Certificate checks give the same answers as before; only the per
 * connection copy of the system's certificate authorities goes away.
 */
void
mh_tls_database_install_default (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      GTlsBackend *backend = g_tls_backend_get_default ();

      if (g_tls_backend_supports_tls (backend))
        {
          g_autoptr(GTlsDatabase) database = g_object_new (MH_TYPE_LAZY_TLS_DATABASE, NULL);

          g_tls_backend_set_default_database (backend, database);
        }
      g_once_init_leave (&done, 1);
    }
}

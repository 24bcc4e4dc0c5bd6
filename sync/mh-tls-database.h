/* mh-tls-database.h: a default TLS database that costs nothing per connection */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MH_TYPE_LAZY_TLS_DATABASE (mh_lazy_tls_database_get_type ())
G_DECLARE_FINAL_TYPE (MhLazyTlsDatabase, mh_lazy_tls_database, MH, LAZY_TLS_DATABASE, GTlsDatabase)

void mh_tls_database_install_default (void);

G_END_DECLS

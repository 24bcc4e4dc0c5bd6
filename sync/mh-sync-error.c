#include "config.h"

#include "mh-sync-error.h"

G_DEFINE_QUARK (mh-sync-error-quark, mh_sync_error)

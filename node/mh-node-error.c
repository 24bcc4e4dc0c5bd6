#include "config.h"

#include "mh-node-error.h"

G_DEFINE_QUARK (mh-node-error-quark, mh_node_error)

/* mh-node-private.h: what mh-node.c shares with the node's other domain
 * files (mh-dispatch.c), and nothing outside node/ */
#pragma once

#include "mh-node.h"

G_BEGIN_DECLS

/* A store transaction whose function reports node or store errors; store
 * errors are mapped to MhNodeError codes as everywhere else. */
gboolean mh_node_transact (MhNode *self, MhTransactionFunc func, gpointer data, GError **error);
/* Maps (and takes) a store error; always returns FALSE. */
gboolean mh_node_fail_from_store (GError **error, GError *store_error);

/* mh-dispatch.c */
void mh_node_watch_incidents (MhNode *self);
JsonArray *mh_node_capabilities_to_json (const char *text);
char *mh_node_capabilities_from_json (JsonNode *node, char **reason);

G_END_DECLS

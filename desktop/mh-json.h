/* mh-json.h: reading the node's JSON answers */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The string member, or NULL when object is NULL or the member is absent
 * or null (the API sends null for a value not known yet). */
const char *mh_json_get_string (JsonObject *object, const char *member);

G_END_DECLS

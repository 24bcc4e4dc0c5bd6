/* mh-json.c: reading the node's JSON answers */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include "mh-json.h"

const char *
mh_json_get_string (JsonObject *object, const char *member)
{
  if (object == NULL || !json_object_has_member (object, member)
      || json_object_get_null_member (object, member))
    return NULL;
  return json_object_get_string_member (object, member);
}

/* mh-api-server.c: the REST API of a node over SoupServer
 *
 * A request goes through two stages:
 * - the early handler, once the headers are read and before the body is:
 *   refuses a server that is stopping (503), a missing or wrong token (401),
 *   an oversized path or query (414) and a declared body over the limit
 *   (413). Once a status is set libsoup skips our handler, and we stop it
 *   from accumulating the body it still has to read off the wire;
 * - the handler, once the body is read: routes, checks the method (405), the
 *   media type (415), parses and bounds the JSON (400), then calls the
 *   domain. Every domain write is one store transaction, so a request whose
 *   answer is an error has changed nothing.
 *
 * Request bodies are never logged: they hold patient data.
 */

#include "config.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "mh-api-server.h"
#include "mh-dispatch.h"
#include "mh-retention.h"
#include "mh-server-guard.h"

struct _MhApiServer
{
  GObject parent_instance;

  /* Owned References */
  MhNode *node;
  SoupServer *server;
  MhServerGuard *guard;
  char *token_path;
  GTask *stop_task;

  /* SHA-256 of the current token; comparing digests takes the same time
   * whatever the token's length and wherever a guess first differs. */
  guint8 token_digest[32];
  gboolean have_token;
  /* What the token file looked like when last read, to notice a rotation. */
  gboolean have_token_stat;
  dev_t token_dev;
  ino_t token_ino;
  off_t token_size;
  struct timespec token_mtime;

  guint in_flight;
  guint stop_timeout_id;
  gboolean stopping;
};

G_DEFINE_FINAL_TYPE (MhApiServer, mh_api_server, G_TYPE_OBJECT)

typedef struct
{
  MhApiServer *self;
  SoupServerMessage *msg;
  GPtrArray *segments; /* path below /api/v1, unescaped */
  GHashTable *params;  /* nullable: no query string */
  JsonNode *root;      /* nullable: the parsed body */
  JsonObject *body;    /* borrowed from root */
} Request;

typedef gboolean (*RouteFunc) (Request *req, GError **error);

typedef struct
{
  const char *method;
  RouteFunc func;
  gboolean takes_body;
} RouteMethod;

typedef struct
{
  const char *pattern; /* segments below /api/v1; '*' stands for one id */
  RouteMethod methods[3];
} Route;

#define API_PREFIX "/api/v1"
#define API_REALM "Bearer realm=\"medhead\""
#define MESSAGES_DEFAULT_LIMIT 100
#define MESSAGES_MAX_LIMIT 1000
#define NEAREST_DEFAULT_LIMIT 10
#define NEAREST_MAX_LIMIT 100
#define LISTEN_BACKLOG 256

static GQuark counted_quark;

/* ------------------------------------------------------------------------ */
/* Replies                                                                  */

static void
reply_json (SoupServerMessage *msg, guint status, JsonNode *node)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  char *text = json_to_string (node, FALSE);
  gsize length = strlen (text);

  /* Answers may carry patient data: no cache may keep them. */
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, length);
}

static void
reply_object (SoupServerMessage *msg, guint status, JsonObject *object)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);

  reply_json (msg, status, node);
}

static void
reply_array (SoupServerMessage *msg, guint status, JsonArray *array)
{
  g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), array);

  reply_json (msg, status, node);
}

static void
reply_error (SoupServerMessage *msg, guint status, const char *code, const char *field,
             const char *message)
{
  g_autoptr(JsonObject) error = json_object_new ();
  g_autoptr(JsonObject) outer = json_object_new ();

  json_object_set_int_member (error, "status", status);
  json_object_set_string_member (error, "code", code);
  if (field != NULL)
    json_object_set_string_member (error, "field", field);
  json_object_set_string_member (error, "message", message);
  json_object_set_object_member (outer, "error", g_steal_pointer (&error));
  reply_object (msg, status, outer);
}

/* The domain's INVALID messages start with the field they are about, as in
 * "lat: must be between -90 and 90"; the field is what precedes ": " when
 * it looks like a (possibly dotted or indexed) name. */
static char *
field_of_message (const char *message)
{
  const char *colon = strstr (message, ": ");

  if (colon == NULL || colon == message || colon - message > 64)
    return NULL;
  for (const char *p = message; p < colon; p++)
    if (!g_ascii_isalnum (*p) && strchr ("_.[]-", *p) == NULL)
      return NULL;
  return g_strndup (message, colon - message);
}

static void
reply_gerror (SoupServerMessage *msg, const GError *error)
{
  guint status = SOUP_STATUS_INTERNAL_SERVER_ERROR;
  const char *code = "internal";

  if (error->domain == MH_NODE_ERROR)
    {
      switch ((MhNodeError) error->code)
        {
        case MH_NODE_ERROR_INVALID:
          status = SOUP_STATUS_BAD_REQUEST;
          code = "invalid";
          break;
        case MH_NODE_ERROR_FORBIDDEN:
          status = SOUP_STATUS_FORBIDDEN;
          code = "forbidden";
          break;
        case MH_NODE_ERROR_NOT_FOUND:
          status = SOUP_STATUS_NOT_FOUND;
          code = "not_found";
          break;
        case MH_NODE_ERROR_CONFLICT:
          status = SOUP_STATUS_CONFLICT;
          code = "conflict";
          break;
        case MH_NODE_ERROR_FAILED:
        case MH_NODE_ERROR_CONFIG:
        default:
          break;
        }
    }
  else if (error->domain == MH_SYNC_ERROR)
    {
      /* The domain wraps store errors; these cover any that get through. */
      switch ((MhSyncError) error->code)
        {
        case MH_SYNC_ERROR_UNKNOWN_COLUMN:
        case MH_SYNC_ERROR_TYPE:
        case MH_SYNC_ERROR_REJECTED:
        case MH_SYNC_ERROR_MALFORMED:
        case MH_SYNC_ERROR_TOO_LARGE:
          status = SOUP_STATUS_BAD_REQUEST;
          code = "invalid";
          break;
        case MH_SYNC_ERROR_EXISTS:
        case MH_SYNC_ERROR_DELETED:
        case MH_SYNC_ERROR_INSERT_ONLY:
          status = SOUP_STATUS_CONFLICT;
          code = "conflict";
          break;
        case MH_SYNC_ERROR_NOT_FOUND:
          status = SOUP_STATUS_NOT_FOUND;
          code = "not_found";
          break;
        default:
          break;
        }
    }

  if (status == SOUP_STATUS_INTERNAL_SERVER_ERROR)
    {
      /* Storage and I/O failures name no patient field; the client only
       * needs to know it was not its fault. */
      g_warning ("request failed: %s", error->message);
      reply_error (msg, status, code, NULL, _("internal error"));
    }
  else
    {
      g_autofree char *field = NULL;

      if (status == SOUP_STATUS_BAD_REQUEST)
        field = field_of_message (error->message);
      reply_error (msg, status, code, field, error->message);
    }
}

static void
reply_created (Request *req, const char *collection, const char *id, JsonObject *object)
{
  g_autofree char *escaped = g_uri_escape_string (id, NULL, FALSE);
  g_autofree char *location = g_strdup_printf (API_PREFIX "/%s/%s", collection, escaped);

  soup_message_headers_replace (soup_server_message_get_response_headers (req->msg), "Location",
                                location);
  reply_object (req->msg, SOUP_STATUS_CREATED, object);
}

static gboolean
invalid (GError **error, const char *field, const char *message)
{
  g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID, "%s: %s", field, message);
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Query strings and bodies                                                 */

static const char *
param (Request *req, const char *name)
{
  const char *value;

  if (req->params == NULL)
    return NULL;
  value = g_hash_table_lookup (req->params, name);
  /* `?specialty=` is the same as no specialty at all. */
  return value != NULL && *value != '\0' ? value : NULL;
}

/* Unknown parameters are refused, so that a misspelt filter is not
 * silently ignored and answered with unfiltered data. */
static gboolean
check_params (Request *req, const char *const *allowed, GError **error)
{
  GHashTableIter iter;
  const char *key;

  if (req->params == NULL)
    return TRUE;
  g_hash_table_iter_init (&iter, req->params);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
    {
      if (allowed == NULL || !g_strv_contains (allowed, key))
        {
          g_autofree char *shown = g_utf8_make_valid (key, -1);
          return invalid (error, shown, _("unknown query parameter"));
        }
    }
  return TRUE;
}

static gboolean
param_double (Request *req, const char *name, double min, double max, double *out,
              GError **error)
{
  const char *text = param (req, name);
  char *end = NULL;
  double value;

  if (text == NULL)
    return invalid (error, name, _("required"));
  value = g_ascii_strtod (text, &end);
  if (end == text || *end != '\0' || !isfinite (value) || g_ascii_isspace (*text))
    return invalid (error, name, _("must be a number"));
  if (value < min || value > max)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID, _("%s: must be between %g and %g"),
                   name, min, max);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

static gboolean
param_uint (Request *req, const char *name, guint64 min, guint64 max, guint64 fallback,
            guint64 *out, GError **error)
{
  const char *text = param (req, name);
  guint64 value;

  if (text == NULL)
    {
      *out = fallback;
      return TRUE;
    }
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &value, NULL))
    return invalid (error, name, _("must be a whole number"));
  if (value < min || value > max)
    {
      /* The bounds as text: a translated format cannot hold G_GUINT64_FORMAT. */
      g_autofree char *low = g_strdup_printf ("%" G_GUINT64_FORMAT, min);
      g_autofree char *high = g_strdup_printf ("%" G_GUINT64_FORMAT, max);

      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID, _("%s: must be between %s and %s"),
                   name, low, high);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

static gboolean
param_required (Request *req, const char *name, const char **out, GError **error)
{
  *out = param (req, name);
  if (*out == NULL)
    return invalid (error, name, _("required"));
  return TRUE;
}

static gboolean
is_bed_category (const char *name)
{
  const char *const *categories = mh_bed_categories ();

  return categories != NULL && g_strv_contains (categories, name);
}

/* A string member of the body: absent or null gives NULL when allowed. */
static gboolean
body_string (Request *req, const char *name, gboolean required, const char **out,
             GError **error)
{
  JsonNode *node = json_object_get_member (req->body, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return required ? invalid (error, name, _("required")) : TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return invalid (error, name, _("must be a string"));
  *out = json_node_get_string (node);
  return TRUE;
}

/* Only the members a command reads may appear, so a typo such as
 * {"stat": "arrived"} is refused rather than half understood. */
static gboolean
body_only (Request *req, const char *const *allowed, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (req->body);

  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      return invalid (error, l->data, _("unknown field"));
  return TRUE;
}

/* Writes a site may never make are refused for what they are, before the
 * row is looked up: the answer must not depend on whether replication has
 * brought the row here yet. The domain checks ownership again, with the
 * row (a hub, for one, may not report for a hospital with its own desk). */
static gboolean
check_hospital_writer (Request *req, const char *hospital_id, GError **error)
{
  MhNode *node = req->self->node;

  /* Test only: a node that writes what it does not own (see
   * install_validator() in mh-node.c). */
  if (g_getenv ("MEDHEAD_TEST_SKIP_LOCAL_VALIDATION") != NULL)
    return TRUE;
  switch (mh_node_get_role (node))
    {
    case MH_ROLE_AMBULANCE:
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FORBIDDEN,
                   _("an ambulance site writes no hospital's beds or statuses"));
      return FALSE;
    case MH_ROLE_HOSPITAL:
      if (g_strcmp0 (mh_node_get_hospital_id (node), hospital_id) != 0)
        {
          g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FORBIDDEN,
                       _("a hospital site writes only its own hospital's beds and statuses"));
          return FALSE;
        }
      return TRUE;
    case MH_ROLE_HUB:
    default:
      return TRUE;
    }
}

static gboolean
check_unit_writer (Request *req, const char *unit_id, GError **error)
{
  MhNode *node = req->self->node;

  switch (mh_node_get_role (node))
    {
    case MH_ROLE_HOSPITAL:
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FORBIDDEN,
                   _("a hospital site writes no unit"));
      return FALSE;
    case MH_ROLE_AMBULANCE:
      if (g_strcmp0 (mh_node_get_unit_id (node), unit_id) != 0)
        {
          g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FORBIDDEN,
                       _("an ambulance site writes only its own unit"));
          return FALSE;
        }
      return TRUE;
    case MH_ROLE_HUB:
    default:
      return TRUE;
    }
}

static const char *
segment (Request *req, guint index)
{
  g_assert (index < req->segments->len);
  return g_ptr_array_index (req->segments, index);
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                   */

static gboolean
get_status (Request *req, GError **error)
{
  g_autoptr(JsonObject) status = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  status = mh_node_get_status (req->self->node);
  reply_object (req->msg, SOUP_STATUS_OK, status);
  return TRUE;
}

static gboolean
get_digest (Request *req, GError **error)
{
  static const char *const allowed[] = { "hospital", NULL };
  g_autoptr(JsonObject) digest = NULL;

  if (!check_params (req, allowed, error))
    return FALSE;
  digest = mh_node_get_digest_for (req->self->node, param (req, "hospital"), error);
  if (digest == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, digest);
  return TRUE;
}

static gboolean
get_history (Request *req, GError **error)
{
  static const char *const allowed[] = { "table", "row", NULL };
  g_autoptr(JsonArray) history = NULL;
  const char *table, *row;

  if (!check_params (req, allowed, error) || !param_required (req, "table", &table, error)
      || !param_required (req, "row", &row, error))
    return FALSE;
  history = mh_node_get_history (req->self->node, table, row, error);
  if (history == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, history);
  return TRUE;
}

/* Hospitals */

static gboolean
list_hospitals (Request *req, GError **error)
{
  g_autoptr(JsonArray) list = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  list = mh_node_list_hospitals (req->self->node, error);
  if (list == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, list);
  return TRUE;
}

static gboolean
get_hospital (Request *req, GError **error)
{
  g_autoptr(JsonObject) hospital = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  hospital = mh_node_get_hospital (req->self->node, segment (req, 1), error);
  if (hospital == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, hospital);
  return TRUE;
}

static gboolean
create_hospital (Request *req, GError **error)
{
  g_autofree char *id = NULL;
  g_autoptr(JsonObject) hospital = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  id = mh_node_create_hospital (req->self->node, req->body, error);
  if (id == NULL)
    return FALSE;
  hospital = mh_node_get_hospital (req->self->node, id, error);
  if (hospital == NULL)
    return FALSE;
  reply_created (req, "hospitals", id, hospital);
  return TRUE;
}

static gboolean
patch_hospital (Request *req, GError **error)
{
  if (!check_params (req, NULL, error) || !check_hospital_writer (req, segment (req, 1), error)
      || !mh_node_patch_hospital (req->self->node, segment (req, 1), req->body, error))
    return FALSE;
  return get_hospital (req, error);
}

static gboolean
put_beds (Request *req, GError **error)
{
  const char *id = segment (req, 1);
  const char *category = segment (req, 3);
  g_autoptr(JsonObject) hospital = NULL;
  JsonObject *beds;

  if (!check_params (req, NULL, error) || !check_hospital_writer (req, id, error))
    return FALSE;
  /* An unknown category is a path that names nothing. */
  if (!is_bed_category (category))
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_NOT_FOUND, _("no bed category %s"),
                   category);
      return FALSE;
    }
  /* The header promises these two at least; refuse before the domain sees
   * a partial register. */
  if (!json_object_has_member (req->body, "available"))
    return invalid (error, "available", _("required"));
  if (!json_object_has_member (req->body, "baseline"))
    return invalid (error, "baseline", _("required"));
  if (!mh_node_put_beds (req->self->node, id, category, req->body, error))
    return FALSE;

  hospital = mh_node_get_hospital (req->self->node, id, error);
  if (hospital == NULL)
    return FALSE;
  beds = json_object_get_object_member (hospital, "beds");
  if (beds != NULL && json_object_has_member (beds, category)
      && JSON_NODE_HOLDS_OBJECT (json_object_get_member (beds, category)))
    reply_object (req->msg, SOUP_STATUS_OK, json_object_get_object_member (beds, category));
  else
    reply_object (req->msg, SOUP_STATUS_OK, hospital);
  return TRUE;
}

static gboolean
nearest_hospitals (Request *req, GError **error)
{
  static const char *const allowed[] = { "lat", "lon", "specialty", "bed", "limit", NULL };
  g_autoptr(JsonArray) list = NULL;
  double lat, lon;
  guint64 specialty, limit;
  const char *bed = param (req, "bed");

  if (!check_params (req, allowed, error) || !param_double (req, "lat", -90, 90, &lat, error)
      || !param_double (req, "lon", -180, 180, &lon, error)
      || !param_uint (req, "specialty", 1, mh_specialty_count (), 0, &specialty, error)
      || !param_uint (req, "limit", 1, NEAREST_MAX_LIMIT, NEAREST_DEFAULT_LIMIT, &limit, error))
    return FALSE;
  if (bed != NULL && !is_bed_category (bed))
    return invalid (error, "bed", _("unknown bed category"));

  list = mh_node_nearest_hospitals (req->self->node, lat, lon, (guint) specialty, bed,
                                    (guint) limit, error);
  if (list == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, list);
  return TRUE;
}

/* Units */

static gboolean
list_units (Request *req, GError **error)
{
  g_autoptr(JsonArray) list = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  list = mh_node_list_units (req->self->node, error);
  if (list == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, list);
  return TRUE;
}

static gboolean
get_unit (Request *req, GError **error)
{
  g_autoptr(JsonObject) unit = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  unit = mh_node_get_unit (req->self->node, segment (req, 1), error);
  if (unit == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, unit);
  return TRUE;
}

static gboolean
create_unit (Request *req, GError **error)
{
  g_autofree char *id = NULL;
  g_autoptr(JsonObject) unit = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  id = mh_node_create_unit (req->self->node, req->body, error);
  if (id == NULL)
    return FALSE;
  unit = mh_node_get_unit (req->self->node, id, error);
  if (unit == NULL)
    return FALSE;
  reply_created (req, "units", id, unit);
  return TRUE;
}

static gboolean
patch_unit (Request *req, GError **error)
{
  if (!check_params (req, NULL, error) || !check_unit_writer (req, segment (req, 1), error)
      || !mh_node_patch_unit (req->self->node, segment (req, 1), req->body, error))
    return FALSE;
  return get_unit (req, error);
}

/* Patients */

static gboolean
list_patients (Request *req, GError **error)
{
  g_autoptr(JsonArray) list = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  list = mh_node_list_patients (req->self->node, error);
  if (list == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, list);
  return TRUE;
}

static gboolean
get_patient (Request *req, GError **error)
{
  g_autoptr(JsonObject) patient = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  patient = mh_node_get_patient (req->self->node, segment (req, 1), error);
  if (patient == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, patient);
  return TRUE;
}

static gboolean
create_patient (Request *req, GError **error)
{
  g_autofree char *id = NULL;
  g_autoptr(JsonObject) patient = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  id = mh_node_create_patient (req->self->node, req->body, error);
  if (id == NULL)
    return FALSE;
  patient = mh_node_get_patient (req->self->node, id, error);
  if (patient == NULL)
    return FALSE;
  reply_created (req, "patients", id, patient);
  return TRUE;
}

static gboolean
patch_patient (Request *req, GError **error)
{
  if (!check_params (req, NULL, error)
      || !mh_node_patch_patient (req->self->node, segment (req, 1), req->body, error))
    return FALSE;
  return get_patient (req, error);
}

/* An observation or intervention, found in its patient's list: the domain
 * has no getter of its own for these insert-only rows. */
static JsonObject *
find_patient_entry (MhApiServer *self, const char *patient_id, const char *list_name,
                    const char *id, GError **error)
{
  g_autoptr(JsonObject) patient = mh_node_get_patient (self->node, patient_id, error);
  JsonArray *list;

  if (patient == NULL)
    return NULL;
  list = json_object_has_member (patient, list_name)
             ? json_object_get_array_member (patient, list_name)
             : NULL;
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *entry = json_array_get_object_element (list, i);

      if (entry != NULL && g_strcmp0 (json_object_get_string_member_with_default (entry, "id", NULL),
                                      id) == 0)
        return json_object_ref (entry);
    }
  g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_NOT_FOUND, _("no such entry in %s"), list_name);
  return NULL;
}

static gboolean
add_patient_entry (Request *req, const char *list_name, GError **error)
{
  const char *patient_id = segment (req, 1);
  g_autofree char *id = NULL;
  g_autofree char *collection = NULL;
  g_autoptr(JsonObject) entry = NULL;
  g_autofree char *escaped = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  if (g_str_equal (list_name, "observations"))
    id = mh_node_add_observation (req->self->node, patient_id, req->body, error);
  else
    id = mh_node_add_intervention (req->self->node, patient_id, req->body, error);
  if (id == NULL)
    return FALSE;
  entry = find_patient_entry (req->self, patient_id, list_name, id, error);
  if (entry == NULL)
    return FALSE;
  escaped = g_uri_escape_string (patient_id, NULL, FALSE);
  collection = g_strdup_printf ("patients/%s/%s", escaped, list_name);
  reply_created (req, collection, id, entry);
  return TRUE;
}

static gboolean
add_observation (Request *req, GError **error)
{
  return add_patient_entry (req, "observations", error);
}

static gboolean
add_intervention (Request *req, GError **error)
{
  return add_patient_entry (req, "interventions", error);
}

static gboolean
get_patient_entry (Request *req, GError **error)
{
  g_autoptr(JsonObject) entry = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  entry = find_patient_entry (req->self, segment (req, 1), segment (req, 2), segment (req, 3),
                              error);
  if (entry == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, entry);
  return TRUE;
}

/* Transfers */

static gboolean
list_transfers (Request *req, GError **error)
{
  static const char *const allowed[] = { "hospital", NULL };
  g_autoptr(JsonArray) list = NULL;

  if (!check_params (req, allowed, error))
    return FALSE;
  list = mh_node_list_transfers (req->self->node, param (req, "hospital"), error);
  if (list == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, list);
  return TRUE;
}

static gboolean
get_transfer (Request *req, GError **error)
{
  g_autoptr(JsonObject) transfer = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  transfer = mh_node_get_transfer (req->self->node, segment (req, 1), error);
  if (transfer == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, transfer);
  return TRUE;
}

/* GET transfers/{id}/receipts, and POST transfers/{id}/seen (a desk's
 * program that shows the transfer to a person), which answers the same. */
static gboolean
list_receipts (Request *req, GError **error)
{
  g_autoptr(JsonObject) transfer = NULL;
  g_autoptr(JsonArray) list = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  transfer = mh_node_get_transfer (req->self->node, segment (req, 1), error);
  if (transfer == NULL)
    return FALSE;
  list = mh_node_list_receipts (req->self->node, segment (req, 1), error);
  if (list == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, list);
  return TRUE;
}

static gboolean
mark_seen (Request *req, GError **error)
{
  g_autoptr(JsonObject) transfer = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  transfer = mh_node_get_transfer (req->self->node, segment (req, 1), error);
  if (transfer == NULL
      || !mh_node_mark_transfer_seen (req->self->node, segment (req, 1), error))
    return FALSE;
  return list_receipts (req, error);
}

static gboolean
create_transfer (Request *req, GError **error)
{
  g_autofree char *id = NULL;
  g_autoptr(JsonObject) transfer = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  id = mh_node_create_transfer (req->self->node, req->body, error);
  if (id == NULL)
    return FALSE;
  transfer = mh_node_get_transfer (req->self->node, id, error);
  if (transfer == NULL)
    return FALSE;
  reply_created (req, "transfers", id, transfer);
  return TRUE;
}

static gboolean
transfer_crew (Request *req, GError **error)
{
  static const char *const allowed[] = { "state", NULL };
  const char *state;

  if (!check_params (req, NULL, error) || !body_only (req, allowed, error)
      || !body_string (req, "state", TRUE, &state, error)
      || !mh_node_transfer_crew (req->self->node, segment (req, 1), state, error))
    return FALSE;
  return get_transfer (req, error);
}

static gboolean
transfer_desk (Request *req, GError **error)
{
  static const char *const allowed[] = { "state", "reason", NULL };
  const char *state, *reason;

  if (!check_params (req, NULL, error) || !body_only (req, allowed, error)
      || !body_string (req, "state", TRUE, &state, error)
      || !body_string (req, "reason", FALSE, &reason, error)
      || !mh_node_transfer_desk (req->self->node, segment (req, 1), state, reason, error))
    return FALSE;
  return get_transfer (req, error);
}

/* Messages */

/* A message, found in its channel's list: the domain has no getter for
 * one message. @since narrows the search to later arrivals (a message
 * posted here arrives here at once), 0 searches them all. */
static JsonObject *
find_message (MhApiServer *self, const char *channel, gint64 since, const char *id,
              GError **error)
{
  g_autoptr(JsonArray) list = mh_node_list_messages (self->node, channel, since, 0, error);

  if (list == NULL)
    return NULL;
  for (guint i = json_array_get_length (list); i > 0; i--)
    {
      JsonObject *message = json_array_get_object_element (list, i - 1);

      if (message != NULL
          && g_strcmp0 (json_object_get_string_member_with_default (message, "id", NULL), id) == 0)
        return json_object_ref (message);
    }
  if (since > 0)
    return find_message (self, channel, 0, id, error);
  g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_NOT_FOUND, _("no such message"));
  return NULL;
}

static gboolean
post_message (Request *req, GError **error)
{
  static const char *const allowed[] = { "channel", "body", NULL };
  const char *channel, *text;
  g_autofree char *id = NULL;
  g_autoptr(JsonObject) message = NULL;
  gint64 posted_after;

  if (!check_params (req, NULL, error) || !body_only (req, allowed, error)
      || !body_string (req, "channel", TRUE, &channel, error)
      || !body_string (req, "body", TRUE, &text, error))
    return FALSE;
  posted_after = mh_node_now_ms (req->self->node) - 1;
  id = mh_node_post_message (req->self->node, channel, text, error);
  if (id == NULL)
    return FALSE;
  message = find_message (req->self, channel, posted_after, id, error);
  if (message == NULL)
    return FALSE;
  reply_created (req, "messages", id, message);
  return TRUE;
}

static gboolean
list_messages (Request *req, GError **error)
{
  static const char *const allowed[] = { "channel", "since", "limit", NULL };
  g_autoptr(JsonArray) list = NULL;
  guint64 since, limit;

  if (!check_params (req, allowed, error)
      || !param_uint (req, "since", 0, G_MAXINT64, 0, &since, error)
      || !param_uint (req, "limit", 1, MESSAGES_MAX_LIMIT, MESSAGES_DEFAULT_LIMIT, &limit, error))
    return FALSE;
  list = mh_node_list_messages (req->self->node, param (req, "channel"), (gint64) since,
                                (guint) limit, error);
  if (list == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, list);
  return TRUE;
}

static gboolean
get_message (Request *req, GError **error)
{
  g_autoptr(JsonObject) message = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  message = find_message (req->self, NULL, 0, segment (req, 1), error);
  if (message == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, message);
  return TRUE;
}

static gboolean
retract_message (Request *req, GError **error)
{
  g_autoptr(JsonObject) message = NULL;

  if (!check_params (req, NULL, error)
      || !mh_node_retract_message (req->self->node, segment (req, 1), error))
    return FALSE;
  message = find_message (req->self, NULL, 0, segment (req, 1), error);
  if (message == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, message);
  return TRUE;
}

static gboolean
list_peers (Request *req, GError **error)
{
  g_autoptr(JsonArray) peers = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  peers = mh_node_list_peers (req->self->node);
  reply_array (req->msg, SOUP_STATUS_OK, peers);
  return TRUE;
}

static JsonObject *
find_peer (MhNode *node, const char *fingerprint)
{
  g_autoptr(JsonArray) peers = mh_node_list_peers (node);

  for (guint i = 0; i < json_array_get_length (peers); i++)
    {
      JsonObject *peer = json_array_get_object_element (peers, i);
      if (g_strcmp0 (json_object_get_string_member (peer, "fingerprint"), fingerprint) == 0)
        return json_object_ref (peer);
    }
  return NULL;
}

/* Pins a peer: {"fingerprint": "ABCD-…", "url": "https://host:port"} (url optional). */
static gboolean
add_peer (Request *req, GError **error)
{
  static const char *const allowed[] = { "fingerprint", "url", NULL };
  const char *fingerprint, *url = NULL;
  g_autofree char *canonical = NULL;
  g_autoptr(JsonObject) peer = NULL;

  if (!check_params (req, NULL, error) || !body_only (req, allowed, error)
      || !body_string (req, "fingerprint", TRUE, &fingerprint, error)
      || !body_string (req, "url", FALSE, &url, error)
      || !mh_node_add_peer (req->self->node, fingerprint, url, error))
    return FALSE;
  canonical = mh_fingerprint_normalize (fingerprint, NULL);
  peer = find_peer (req->self->node, canonical);
  if (peer == NULL)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FAILED, _("the peer was not recorded"));
      return FALSE;
    }
  reply_created (req, "peers", canonical, peer);
  return TRUE;
}

static gboolean
remove_peer (Request *req, GError **error)
{
  g_autoptr(JsonObject) done = json_object_new ();

  if (!check_params (req, NULL, error)
      || !mh_node_remove_peer (req->self->node, segment (req, 1), error))
    return FALSE;
  json_object_set_boolean_member (done, "removed", TRUE);
  reply_object (req->msg, SOUP_STATUS_OK, done);
  return TRUE;
}

/* Incidents (dispatch) */

static gboolean
list_incidents (Request *req, GError **error)
{
  g_autoptr(JsonArray) list = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  list = mh_node_list_incidents (req->self->node, error);
  if (list == NULL)
    return FALSE;
  reply_array (req->msg, SOUP_STATUS_OK, list);
  return TRUE;
}

static gboolean
get_incident (Request *req, GError **error)
{
  g_autoptr(JsonObject) incident = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  incident = mh_node_get_incident (req->self->node, segment (req, 1), error);
  if (incident == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, incident);
  return TRUE;
}

static gboolean
create_incident (Request *req, GError **error)
{
  g_autofree char *id = NULL;
  g_autoptr(JsonObject) incident = NULL;

  if (!check_params (req, NULL, error))
    return FALSE;
  id = mh_node_create_incident (req->self->node, req->body, error);
  if (id == NULL)
    return FALSE;
  incident = mh_node_get_incident (req->self->node, id, error);
  if (incident == NULL)
    return FALSE;
  reply_created (req, "incidents", id, incident);
  return TRUE;
}

static gboolean
incident_candidates (Request *req, GError **error)
{
  static const char *const allowed[] = { "limit", NULL };
  g_autoptr(JsonObject) result = NULL;
  guint64 limit;

  if (!check_params (req, allowed, error)
      || !param_uint (req, "limit", 1, NEAREST_MAX_LIMIT, 0, &limit, error))
    return FALSE;
  result = mh_node_incident_candidates (req->self->node, segment (req, 1), (guint) limit, error);
  if (result == NULL)
    return FALSE;
  reply_object (req->msg, SOUP_STATUS_OK, result);
  return TRUE;
}

static gboolean
assign_incident (Request *req, GError **error)
{
  static const char *const allowed[] = { "unit_id", NULL };
  const char *unit_id;

  if (!check_params (req, NULL, error) || !body_only (req, allowed, error)
      || !body_string (req, "unit_id", TRUE, &unit_id, error)
      || !mh_node_assign_incident (req->self->node, segment (req, 1), unit_id, error))
    return FALSE;
  return get_incident (req, error);
}

static gboolean
close_incident (Request *req, GError **error)
{
  static const char *const allowed[] = { "state", NULL };
  const char *state;

  if (!check_params (req, NULL, error) || !body_only (req, allowed, error)
      || !body_string (req, "state", TRUE, &state, error)
      || !mh_node_close_incident (req->self->node, segment (req, 1), state, error))
    return FALSE;
  return get_incident (req, error);
}

static gboolean
answer_incident (Request *req, GError **error)
{
  static const char *const allowed[] = { "answer", NULL };
  const char *answer;

  if (!check_params (req, NULL, error) || !body_only (req, allowed, error)
      || !body_string (req, "answer", TRUE, &answer, error)
      || !mh_node_answer_incident (req->self->node, segment (req, 1), answer, error))
    return FALSE;
  return get_incident (req, error);
}

/* Retention: what is held of ended patients, and when it goes. */
static gboolean
get_retention (Request *req, GError **error)
{
  MhNode *node = req->self->node;
  MhStore *store = mh_node_get_store (node);
  g_autoptr(JsonArray) patients = NULL;
  g_autoptr(JsonObject) answer = json_object_new ();

  if (!check_params (req, NULL, error))
    return FALSE;
  patients = mh_retention_list (node, error);
  if (patients == NULL)
    return FALSE;
  json_object_set_string_member (answer, "role", mh_role_to_string (mh_node_get_role (node)));
  json_object_set_int_member (answer, "retention_hours", mh_node_get_retention_hours (node));
  json_object_set_int_member (answer, "audit_days", mh_node_get_audit_days (node));
  json_object_set_int_member (answer, "now", mh_node_now_ms (node));
  json_object_set_int_member (answer, "evicted_rows", mh_store_get_evicted_count (store));
  json_object_set_int_member (answer, "dropped_late_changes",
                              (gint64) mh_store_get_dropped_evicted_count (store));
  json_object_set_array_member (answer, "patients", g_steal_pointer (&patients));
  reply_object (req->msg, SOUP_STATUS_OK, answer);
  return TRUE;
}

/* Runs a sweep now (?dry_run=1: only says what it would evict). */
static gboolean
sweep_retention (Request *req, GError **error)
{
  static const char *const allowed[] = { "dry_run", NULL };
  g_autoptr(JsonArray) evicted = NULL;
  g_autoptr(JsonObject) answer = json_object_new ();
  guint64 dry_run;

  if (!check_params (req, allowed, error)
      || !param_uint (req, "dry_run", 0, 1, 0, &dry_run, error))
    return FALSE;
  evicted = mh_retention_sweep (req->self->node, dry_run != 0, error);
  if (evicted == NULL)
    return FALSE;
  json_object_set_boolean_member (answer, "dry_run", dry_run != 0);
  json_object_set_array_member (answer, "evicted", g_steal_pointer (&evicted));
  reply_object (req->msg, SOUP_STATUS_OK, answer);
  return TRUE;
}

/* More specific patterns come first: the first pattern that matches the
 * path decides, and its methods make the Allow header of a 405. */
static const Route routes[] = {
  { "status", { { "GET", get_status } } },
  { "digest", { { "GET", get_digest } } },
  { "history", { { "GET", get_history } } },
  { "retention", { { "GET", get_retention } } },
  { "retention/sweep", { { "POST", sweep_retention } } },
  { "peers", { { "GET", list_peers }, { "POST", add_peer, TRUE } } },
  { "peers/*", { { "DELETE", remove_peer } } },
  { "hospitals", { { "GET", list_hospitals }, { "POST", create_hospital, TRUE } } },
  { "hospitals/nearest", { { "GET", nearest_hospitals } } },
  { "hospitals/*", { { "GET", get_hospital }, { "PATCH", patch_hospital, TRUE } } },
  { "hospitals/*/beds/*", { { "PUT", put_beds, TRUE } } },
  { "units", { { "GET", list_units }, { "POST", create_unit, TRUE } } },
  { "units/*", { { "GET", get_unit }, { "PATCH", patch_unit, TRUE } } },
  { "patients", { { "GET", list_patients }, { "POST", create_patient, TRUE } } },
  { "patients/*", { { "GET", get_patient }, { "PATCH", patch_patient, TRUE } } },
  { "patients/*/observations", { { "POST", add_observation, TRUE } } },
  { "patients/*/interventions", { { "POST", add_intervention, TRUE } } },
  { "patients/*/observations/*", { { "GET", get_patient_entry } } },
  { "patients/*/interventions/*", { { "GET", get_patient_entry } } },
  { "transfers", { { "GET", list_transfers }, { "POST", create_transfer, TRUE } } },
  { "transfers/*", { { "GET", get_transfer } } },
  { "transfers/*/crew", { { "POST", transfer_crew, TRUE } } },
  { "transfers/*/desk", { { "POST", transfer_desk, TRUE } } },
  { "transfers/*/receipts", { { "GET", list_receipts } } },
  { "transfers/*/seen", { { "POST", mark_seen } } },
  { "incidents", { { "GET", list_incidents }, { "POST", create_incident, TRUE } } },
  { "incidents/*", { { "GET", get_incident } } },
  { "incidents/*/candidates", { { "GET", incident_candidates } } },
  { "incidents/*/assign", { { "POST", assign_incident, TRUE } } },
  { "incidents/*/close", { { "POST", close_incident, TRUE } } },
  { "incidents/*/answer", { { "POST", answer_incident, TRUE } } },
  { "messages", { { "GET", list_messages }, { "POST", post_message, TRUE } } },
  { "messages/*", { { "GET", get_message } } },
  { "messages/*/retract", { { "POST", retract_message } } },
};

static gboolean
route_matches (const Route *route, GPtrArray *segments)
{
  const char *p = route->pattern;
  guint i = 0;

  while (*p != '\0')
    {
      const char *slash = strchr (p, '/');
      gsize length = slash != NULL ? (gsize) (slash - p) : strlen (p);
      const char *seg;

      if (i >= segments->len)
        return FALSE;
      seg = g_ptr_array_index (segments, i);
      if (!(length == 1 && *p == '*') && (strlen (seg) != length || strncmp (seg, p, length) != 0))
        return FALSE;
      i++;
      p += length;
      if (*p == '/')
        p++;
    }
  return i == segments->len;
}

/* The path below /api/v1, one unescaped segment each. Splitting comes
 * before unescaping, so an id holding a '/' (a message is "SITE/UUID")
 * travels as %2F and stays one segment. NULL when the path is outside the
 * API or cannot name anything (empty segment, an escaped NUL, invalid
 * UTF-8). */
static GPtrArray *
split_path (const char *path)
{
  g_autoptr(GPtrArray) segments = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) parts = NULL;

  if (!g_str_has_prefix (path, API_PREFIX "/"))
    return NULL;
  parts = g_strsplit (path + strlen (API_PREFIX "/"), "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *seg = g_uri_unescape_string (parts[i], NULL);

      if (seg == NULL || *seg == '\0' || !g_utf8_validate (seg, -1, NULL))
        {
          g_free (seg);
          return NULL;
        }
      g_ptr_array_add (segments, seg);
    }
  return g_steal_pointer (&segments);
}

static char *
allowed_methods (const Route *route)
{
  GString *allow = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (route->methods) && route->methods[i].method != NULL; i++)
    {
      if (allow->len > 0)
        g_string_append (allow, ", ");
      g_string_append (allow, route->methods[i].method);
    }
  return g_string_free (allow, FALSE);
}

static gboolean
is_json_media_type (SoupServerMessage *msg)
{
  GHashTable *params = NULL;
  const char *type = soup_message_headers_get_content_type (
    soup_server_message_get_request_headers (msg), &params);
  gboolean ok = FALSE;

  if (type != NULL && g_ascii_strcasecmp (type, "application/json") == 0)
    {
      const char *charset = params != NULL ? g_hash_table_lookup (params, "charset") : NULL;

      ok = charset == NULL || g_ascii_strcasecmp (charset, "utf-8") == 0;
    }
  g_clear_pointer (&params, g_hash_table_unref);
  return ok;
}

/* Parses the body into req->root. Replies itself and returns FALSE on an
 * unusable body. */
static gboolean
read_body (Request *req)
{
  SoupMessageBody *body = soup_server_message_get_request_body (req->msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  gsize length = 0;
  const char *data = g_bytes_get_data (bytes, &length);
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error = NULL;

  if (length > MH_API_MAX_BODY)
    {
      reply_error (req->msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large", "body",
                   _("body: larger than 1 MiB"));
      return FALSE;
    }
  if (!is_json_media_type (req->msg))
    {
      reply_error (req->msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", NULL,
                   _("the body must be application/json (UTF-8)"));
      return FALSE;
    }
  if (length == 0)
    {
      reply_error (req->msg, SOUP_STATUS_BAD_REQUEST, "invalid", "body", _("body: required"));
      return FALSE;
    }
  if (!g_utf8_validate_len (data, length, NULL))
    {
      reply_error (req->msg, SOUP_STATUS_BAD_REQUEST, "malformed", "body",
                   _("body: not valid UTF-8"));
      return FALSE;
    }
  /* json-glib's parser recurses: bound the nesting before it runs. */
  if (!mh_codec_check_depth (data, length, MH_API_MAX_DEPTH, &error))
    {
      g_autofree char *message = g_strdup_printf ("body: %s", error->message);
      reply_error (req->msg, SOUP_STATUS_BAD_REQUEST, "malformed", "body", message);
      return FALSE;
    }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, (gssize) length, &error))
    {
      g_autofree char *message = g_strdup_printf (_("body: not valid JSON: %s"), error->message);
      reply_error (req->msg, SOUP_STATUS_BAD_REQUEST, "malformed", "body", message);
      return FALSE;
    }
  req->root = json_parser_steal_root (parser);
  if (req->root == NULL || !JSON_NODE_HOLDS_OBJECT (req->root))
    {
      reply_error (req->msg, SOUP_STATUS_BAD_REQUEST, "invalid", "body",
                   _("body: must be a JSON object"));
      return FALSE;
    }
  req->body = json_node_get_object (req->root);
  return TRUE;
}

static gboolean
parse_query (Request *req)
{
  const char *query = g_uri_get_query (soup_server_message_get_uri (req->msg));
  g_autoptr(GError) error = NULL;

  if (query == NULL || *query == '\0')
    return TRUE;
  req->params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_WWW_FORM, &error);
  if (req->params == NULL)
    {
      reply_error (req->msg, SOUP_STATUS_BAD_REQUEST, "malformed", "query",
                   _("query: malformed query string"));
      return FALSE;
    }
  /* Values reach the domain and JSON answers as C strings. */
  {
    GHashTableIter iter;
    const char *key, *value;

    g_hash_table_iter_init (&iter, req->params);
    while (g_hash_table_iter_next (&iter, (gpointer *) &key, (gpointer *) &value))
      if (!g_utf8_validate (key, -1, NULL) || !g_utf8_validate (value, -1, NULL))
        {
          reply_error (req->msg, SOUP_STATUS_BAD_REQUEST, "malformed", "query",
                       _("query: not valid UTF-8"));
          return FALSE;
        }
  }
  return TRUE;
}

static void
dispatch (MhApiServer *self, SoupServerMessage *msg, const char *path)
{
  g_autoptr(GPtrArray) segments = split_path (path);
  const char *method = soup_server_message_get_method (msg);
  const Route *route = NULL;
  const RouteMethod *handler = NULL;
  g_autoptr(GError) error = NULL;
  Request req = { self, msg, NULL, NULL, NULL, NULL };

  for (guint i = 0; segments != NULL && i < G_N_ELEMENTS (routes); i++)
    if (route_matches (&routes[i], segments))
      {
        route = &routes[i];
        break;
      }
  if (route == NULL)
    {
      reply_error (msg, SOUP_STATUS_NOT_FOUND, "not_found", NULL, _("no such resource"));
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (route->methods) && route->methods[i].method != NULL; i++)
    if (g_str_equal (route->methods[i].method, method))
      handler = &route->methods[i];
  if (handler == NULL)
    {
      g_autofree char *allow = allowed_methods (route);
      g_autofree char *message = g_strdup_printf (_("method %s not allowed here; allowed: %s"),
                                                  method, allow);

      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                    allow);
      reply_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed", NULL, message);
      return;
    }

  req.segments = segments;
  if (!parse_query (&req) || (handler->takes_body && !read_body (&req)))
    goto out;

  if (!handler->func (&req, &error))
    reply_gerror (msg, error);

out:
  g_clear_pointer (&req.params, g_hash_table_unref);
  g_clear_pointer (&req.root, json_node_unref);
}

/* ------------------------------------------------------------------------ */
/* Authentication                                                           */

static void
forget_token (MhApiServer *self)
{
  memset (self->token_digest, 0, sizeof self->token_digest);
  self->have_token = FALSE;
  self->have_token_stat = FALSE;
}

static void
digest_token (const char *token, guint8 digest[32])
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize length = 32;

  g_checksum_update (checksum, (const guchar *) token, strlen (token));
  g_checksum_get_digest (checksum, digest, &length);
  g_assert (length == 32);
}

/* `medhead-node token rotate` may replace the token file while we serve:
 * one stat per request notices it, and the new token applies at once. */
static void
refresh_token (MhApiServer *self)
{
  GStatBuf st;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;

  if (g_stat (self->token_path, &st) != 0)
    {
      /* No token file, no access: fail closed. */
      forget_token (self);
      return;
    }
  if (self->have_token_stat && st.st_dev == self->token_dev && st.st_ino == self->token_ino
      && st.st_size == self->token_size && st.st_mtim.tv_sec == self->token_mtime.tv_sec
      && st.st_mtim.tv_nsec == self->token_mtime.tv_nsec)
    return;

  forget_token (self);
  token = mh_node_read_api_token (self->node, &error);
  if (token == NULL)
    {
      g_warning ("cannot read the API token: %s", error->message);
      return;
    }
  g_strstrip (token);
  if (*token != '\0')
    {
      digest_token (token, self->token_digest);
      self->have_token = TRUE;
    }
  memset (token, 0, strlen (token));
  self->have_token_stat = TRUE;
  self->token_dev = st.st_dev;
  self->token_ino = st.st_ino;
  self->token_size = st.st_size;
  self->token_mtime = st.st_mtim;
}

static gboolean
is_authorized (MhApiServer *self, SoupServerMessage *msg)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  g_autofree char *given = NULL;
  guint8 digest[32];
  guint8 diff = 0;

  refresh_token (self);
  if (!self->have_token || header == NULL || g_ascii_strncasecmp (header, "Bearer ", 7) != 0)
    return FALSE;
  given = g_strstrip (g_strdup (header + 7));
  if (*given == '\0')
    return FALSE;
  digest_token (given, digest);
  for (guint i = 0; i < sizeof digest; i++)
    diff |= digest[i] ^ self->token_digest[i];
  return diff == 0;
}

/* ------------------------------------------------------------------------ */
/* Server callbacks                                                         */

/* Refuses before the body is read. The body of a refused request is still
 * read off the connection (to keep it usable) but not kept in memory. */
static void
refuse_early (SoupServerMessage *msg, guint status, const char *code, const char *field,
              const char *message)
{
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  reply_error (msg, status, code, field, message);
}

/* A body declared far over the limit is not worth reading, even to throw
 * away: libsoup would drain it before answering. The connection is taken
 * from libsoup, the answer written on it, our side shut for writing (the
 * client reads the answer, then the end), and the socket closed a moment
 * later. */
typedef struct
{
  GIOStream *stream;
  GSocket *socket;
  GBytes *answer;
} Farewell;

static void
farewell_free (Farewell *farewell)
{
  g_clear_object (&farewell->stream);
  g_clear_object (&farewell->socket);
  g_clear_pointer (&farewell->answer, g_bytes_unref);
  g_free (farewell);
}

static gboolean
farewell_close_cb (gpointer data)
{
  Farewell *farewell = data;

  g_io_stream_close (farewell->stream, NULL, NULL);
  farewell_free (farewell);
  return G_SOURCE_REMOVE;
}

static void
farewell_written_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Farewell *farewell = data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);
  if (farewell->socket != NULL)
    g_socket_shutdown (farewell->socket, FALSE, TRUE, NULL);
  g_timeout_add_seconds (2, farewell_close_cb, farewell);
}

static void
refuse_and_close (SoupServerMessage *msg, guint status, const char *code, const char *field,
                  const char *message)
{
  g_autoptr(JsonObject) error = json_object_new ();
  g_autoptr(JsonObject) outer = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *body = NULL;
  GSocket *socket = soup_server_message_get_socket (msg);
  Farewell *farewell;
  char *text;

  json_object_set_int_member (error, "status", status);
  json_object_set_string_member (error, "code", code);
  if (field != NULL)
    json_object_set_string_member (error, "field", field);
  json_object_set_string_member (error, "message", message);
  json_object_set_object_member (outer, "error", g_steal_pointer (&error));
  node = json_node_init_object (json_node_alloc (), outer);
  body = json_to_string (node, FALSE);

  if (socket != NULL)
    g_object_ref (socket);
  farewell = g_new0 (Farewell, 1);
  farewell->socket = socket;
  farewell->stream = soup_server_message_steal_connection (msg);
  if (farewell->stream == NULL)
    {
      farewell_free (farewell);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                    "close");
      refuse_early (msg, status, code, field, message);
      return;
    }
  text = g_strdup_printf ("HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                          "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n%s",
                          status, soup_status_get_phrase (status), strlen (body), body);
  farewell->answer = g_bytes_new_take (text, strlen (text));
  g_output_stream_write_all_async (g_io_stream_get_output_stream (farewell->stream),
                                   g_bytes_get_data (farewell->answer, NULL),
                                   g_bytes_get_size (farewell->answer), G_PRIORITY_DEFAULT, NULL,
                                   farewell_written_cb, farewell);
}

static void
request_chunk_cb (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);

  /* A chunked body declares no length: cut it off once over the limit. */
  if (body->length > MH_API_MAX_BODY && soup_server_message_get_status (msg) == 0)
    {
      soup_message_body_truncate (body);
      refuse_early (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large", "body",
                    _("body: larger than 1 MiB"));
    }
}

static void
add_header_size (const char *name, const char *value, gpointer user_data)
{
  gsize *size = user_data;

  *size += strlen (name) + strlen (value) + 4; /* ": " and CRLF */
}

static gsize
headers_size (SoupMessageHeaders *headers)
{
  gsize size = 0;

  soup_message_headers_foreach (headers, add_header_size, &size);
  return size;
}

static guint
limit_from_env (const char *name, guint fallback)
{
  const char *text = g_getenv (name);
  guint64 value;

  if (text != NULL && g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT, &value, NULL))
    return (guint) value;
  return fallback;
}

static void
early_handler_cb (SoupServer *server, SoupServerMessage *msg, const char *path,
                  GHashTable *query, gpointer user_data)
{
  MhApiServer *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  const char *query_text = g_uri_get_query (uri);

  if (self->stopping)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                    "close");
      refuse_early (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "stopping", NULL,
                    _("the node is stopping"));
      return;
    }
  if (!is_authorized (self, msg))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "WWW-Authenticate", API_REALM);
      refuse_early (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized", NULL,
                    _("a valid 'Authorization: Bearer TOKEN' header is required"));
      return;
    }
  if (headers_size (headers) > MH_API_MAX_HEADERS)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                    "close");
      refuse_early (msg, 431, "too_large", "headers",
                    _("headers: larger than 16 KiB together"));
      return;
    }
  if (strlen (g_uri_get_path (uri)) > MH_API_MAX_PATH
      || (query_text != NULL && strlen (query_text) > MH_API_MAX_QUERY))
    {
      refuse_early (msg, SOUP_STATUS_REQUEST_URI_TOO_LONG, "too_long", NULL,
                    _("the path or the query string is too long"));
      return;
    }
  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH
      && soup_message_headers_get_content_length (headers) > MH_API_MAX_BODY)
    {
      /* With Expect: 100-continue the client waits for our word before
       * sending the body: libsoup answers at once. */
      if (!(soup_message_headers_get_expectations (headers) & SOUP_EXPECTATION_CONTINUE))
        {
          refuse_and_close (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large", "body",
                            _("body: larger than 1 MiB"));
          return;
        }
      refuse_early (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large", "body",
                    _("body: larger than 1 MiB"));
      return;
    }
  g_signal_connect (msg, "got-chunk", G_CALLBACK (request_chunk_cb), NULL);
}

static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(SoupServerMessage) msg = user_data;
  g_autoptr(GError) error = NULL;

  if (!mh_store_wait_synced_finish (MH_STORE (source), result, &error))
    {
      g_warning ("a write could not be made durable: %s", error->message);
      reply_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", NULL,
                   _("the disk reported an error: the change may not be saved"));
    }
  soup_server_message_unpause (msg);
}

static void
handler_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer user_data)
{
  MhApiServer *self = user_data;
  MhStore *store = mh_node_get_store (self->node);
  gint64 start = g_get_monotonic_time ();
  guint64 ticket = mh_store_get_sync_ticket (store);

  dispatch (self, msg, path);
  /* A write is answered once it is on the disk (the node may commit
   * without waiting for it, see mh_store_set_deferred_sync()): "saved"
   * means saved. */
  if (mh_store_get_sync_ticket (store) != ticket
      && !mh_store_is_synced (store, ticket = mh_store_get_sync_ticket (store)))
    {
      soup_server_message_pause (msg);
      mh_store_wait_synced_async (store, ticket, NULL, synced_cb, g_object_ref (msg));
    }
  /* Method, path and status only: bodies and query values may name patients. */
  g_debug ("%s %s %u %.1f ms", soup_server_message_get_method (msg), path,
           soup_server_message_get_status (msg), (g_get_monotonic_time () - start) / 1000.0);
}

static gboolean
finish_stop_cb (gpointer user_data)
{
  MhApiServer *self = user_data;
  g_autoptr(GTask) task = g_steal_pointer (&self->stop_task);

  g_clear_handle_id (&self->stop_timeout_id, g_source_remove);
  if (self->server != NULL)
    soup_server_disconnect (self->server);
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
  return G_SOURCE_REMOVE;
}

/* Finishing runs from an idle: disconnecting from inside libsoup's own
 * completion of a message would pull the connection from under it. */
static void
schedule_finish_stop (MhApiServer *self)
{
  g_idle_add_full (G_PRIORITY_DEFAULT, finish_stop_cb, g_object_ref (self), g_object_unref);
}

static gboolean
stop_timeout_cb (gpointer user_data)
{
  MhApiServer *self = user_data;

  self->stop_timeout_id = 0;
  g_message ("stopping with %u answers still being written", self->in_flight);
  schedule_finish_stop (self);
  return G_SOURCE_REMOVE;
}

/* Counts requests read whose answer is not yet written, so that stopping
 * can wait for them. */
static void
request_read_cb (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  MhApiServer *self = user_data;

  g_object_set_qdata (G_OBJECT (msg), counted_quark, GINT_TO_POINTER (1));
  self->in_flight++;
}

static void
request_done_cb (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  MhApiServer *self = user_data;

  if (g_object_get_qdata (G_OBJECT (msg), counted_quark) == NULL)
    return;
  g_object_set_qdata (G_OBJECT (msg), counted_quark, NULL);
  g_assert (self->in_flight > 0);
  self->in_flight--;
  if (self->in_flight == 0 && self->stop_task != NULL && self->stop_timeout_id != 0)
    {
      g_clear_handle_id (&self->stop_timeout_id, g_source_remove);
      schedule_finish_stop (self);
    }
}

/* ------------------------------------------------------------------------ */
/* Object                                                                   */

static void
mh_api_server_dispose (GObject *object)
{
  MhApiServer *self = MH_API_SERVER (object);

  g_clear_handle_id (&self->stop_timeout_id, g_source_remove);
  if (self->stop_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->stop_task);
      g_task_return_boolean (task, TRUE);
    }
  if (self->server != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->server, self);
      g_clear_pointer (&self->guard, mh_server_guard_free);
      soup_server_remove_handler (self->server, NULL);
      soup_server_disconnect (self->server);
      g_clear_object (&self->server);
    }
  g_clear_object (&self->node);

  G_OBJECT_CLASS (mh_api_server_parent_class)->dispose (object);
}

static void
mh_api_server_finalize (GObject *object)
{
  MhApiServer *self = MH_API_SERVER (object);

  forget_token (self);
  g_free (self->token_path);

  G_OBJECT_CLASS (mh_api_server_parent_class)->finalize (object);
}

static void
mh_api_server_class_init (MhApiServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mh_api_server_dispose;
  object_class->finalize = mh_api_server_finalize;

  counted_quark = g_quark_from_static_string ("mh-api-counted");
}

static void
mh_api_server_init (MhApiServer *self)
{
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

/**
 * mh_api_server_new:
 * @node: the node to serve
 * @error: return location for a #GError
 *
 * Creates a server for @node; it listens once mh_api_server_listen() is
 * called. Its token is the one in the node's data directory, read again
 * whenever that file changes.
 *
 * Returns: (transfer full): the server, or %NULL if the token cannot be read
 */
MhApiServer *
mh_api_server_new (MhNode *node, GError **error)
{
  g_autoptr(MhApiServer) self = NULL;

  g_return_val_if_fail (MH_IS_NODE (node), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (MH_TYPE_API_SERVER, NULL);
  self->node = g_object_ref (node);
  self->token_path = g_build_filename (mh_node_get_data_dir (node), "api-token", NULL);

  refresh_token (self);
  if (!self->have_token)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG, _("no usable API token in %s"),
                   self->token_path);
      return NULL;
    }

  /* Raw paths: we unescape each segment ourselves (see split_path()), so
   * that an escaped '/' inside an id is not taken for a separator. */
  self->server = soup_server_new ("server-header", "medhead-node/" PACKAGE_VERSION " ",
                                  "raw-paths", TRUE, NULL);
  soup_server_add_early_handler (self->server, NULL, early_handler_cb, self, NULL);
  soup_server_add_handler (self->server, NULL, handler_cb, self, NULL);
  g_signal_connect (self->server, "request-read", G_CALLBACK (request_read_cb), self);
  {
    MhServerGuardLimits limits = {
      .request_timeout_ms = limit_from_env ("MEDHEAD_API_REQUEST_TIMEOUT_MS",
                                            MH_API_REQUEST_TIMEOUT_MS),
      .max_connections = limit_from_env ("MEDHEAD_API_MAX_CONNECTIONS", MH_API_MAX_CONNECTIONS),
    };

    self->guard = mh_server_guard_attach (self->server, &limits);
  }
  g_signal_connect (self->server, "request-finished", G_CALLBACK (request_done_cb), self);
  g_signal_connect (self->server, "request-aborted", G_CALLBACK (request_done_cb), self);

  return g_steal_pointer (&self);
}

MhNode *
mh_api_server_get_node (MhApiServer *self)
{
  g_return_val_if_fail (MH_IS_API_SERVER (self), NULL);

  return self->node;
}

/**
 * mh_api_address_is_loopback:
 * @address: an IP address literal
 *
 * Returns: %TRUE if @address is a loopback address (127.0.0.0/8, ::1)
 */
gboolean
mh_api_address_is_loopback (const char *address)
{
  g_autoptr(GInetAddress) inet = NULL;

  g_return_val_if_fail (address != NULL, FALSE);

  inet = g_inet_address_new_from_string (address);
  return inet != NULL && g_inet_address_get_is_loopback (inet);
}

/**
 * mh_api_parse_address:
 * @text: `ADDR:PORT`, `[V6ADDR]:PORT`, or `localhost:PORT`
 * @address: (out): the address literal
 * @port: (out): the port, 0 to pick a free one
 * @error: return location for a #GError
 *
 * Returns: %TRUE if @text names an IP address and a port
 */
gboolean
mh_api_parse_address (const char *text, char **address, guint *port, GError **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  const char *port_text;
  guint64 value;

  g_return_val_if_fail (text != NULL, FALSE);

  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');

      if (close == NULL || close[1] != ':')
        return invalid (error, "api", _("expected [ADDRESS]:PORT"));
      host = g_strndup (text + 1, close - text - 1);
      port_text = close + 2;
    }
  else
    {
      const char *colon = strrchr (text, ':');

      if (colon == NULL || strchr (text, ':') != colon)
        return invalid (error, "api", _("expected ADDRESS:PORT"));
      host = g_strndup (text, colon - text);
      port_text = colon + 1;
    }

  if (!g_ascii_string_to_unsigned (port_text, 10, 0, 65535, &value, NULL))
    return invalid (error, "api", _("the port must be a number from 0 to 65535"));
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    {
      g_free (host);
      host = g_strdup ("127.0.0.1");
    }
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    return invalid (error, "api", _("the address must be an IP address or localhost"));

  *address = g_steal_pointer (&host);
  *port = (guint) value;
  return TRUE;
}

/**
 * mh_api_server_listen:
 * @self: a server
 * @address: an IP address literal; only loopback addresses are accepted
 * @port: the port, or 0 to pick a free one
 * @error: return location for a #GError
 *
 * Starts listening. The API is plain HTTP, so it is refused off loopback
 * until it speaks TLS (DESIGN.md section 5).
 *
 * Returns: %TRUE if listening
 */
gboolean
mh_api_server_listen (MhApiServer *self, const char *address, guint port, GError **error)
{
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GSocket) listener = NULL;

  g_return_val_if_fail (MH_IS_API_SERVER (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);
  g_return_val_if_fail (port <= 65535, FALSE);

  inet = g_inet_address_new_from_string (address);
  if (inet == NULL)
    return invalid (error, "api", _("the address must be an IP address"));
  if (!g_inet_address_get_is_loopback (inet))
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID,
                   _("api: %s is not a loopback address; the REST API is plain HTTP and listens "
                     "only on loopback (127.0.0.1 or ::1) until it supports TLS"),
                   address);
      return FALSE;
    }
  socket_address = g_inet_socket_address_new (inet, port);

  /* Our own socket, for its backlog: GLib's default of 10 drops the SYNs
   * of a burst of new clients, and each retries only after a second. */
  listener = g_socket_new (g_inet_address_get_family (inet), G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_TCP, error);
  if (listener == NULL)
    return FALSE;
  g_socket_set_listen_backlog (listener, LISTEN_BACKLOG);
  return g_socket_bind (listener, socket_address, TRUE, error) && g_socket_listen (listener, error)
         && soup_server_listen_socket (self->server, listener, 0, error);
}

/**
 * mh_api_server_get_url:
 * @self: a listening server
 *
 * Returns: (transfer full) (nullable): the base URL, as `http://127.0.0.1:PORT`
 */
char *
mh_api_server_get_url (MhApiServer *self)
{
  GSList *uris;
  char *url = NULL;

  g_return_val_if_fail (MH_IS_API_SERVER (self), NULL);

  uris = soup_server_get_uris (self->server);
  if (uris != NULL)
    {
      GUri *uri = uris->data;
      const char *host = g_uri_get_host (uri);

      if (strchr (host, ':') != NULL)
        url = g_strdup_printf ("http://[%s]:%d", host, g_uri_get_port (uri));
      else
        url = g_strdup_printf ("http://%s:%d", host, g_uri_get_port (uri));
    }
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return url;
}

guint
mh_api_server_get_port (MhApiServer *self)
{
  GSList *uris;
  guint port = 0;

  g_return_val_if_fail (MH_IS_API_SERVER (self), 0);

  uris = soup_server_get_uris (self->server);
  if (uris != NULL)
    port = (guint) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return port;
}

/**
 * mh_api_server_stop_async:
 * @self: a server
 * @timeout_ms: how long to wait for answers being written
 * @cancellable: (nullable): unused, for symmetry
 * @callback: called once stopped
 * @user_data: for @callback
 *
 * Stops serving: new requests get 503 at once, answers already computed
 * (their writes are committed) are written out, then every connection is
 * closed. After @timeout_ms the remaining connections are cut.
 */
void
mh_api_server_stop_async (MhApiServer *self, guint timeout_ms, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MH_IS_API_SERVER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mh_api_server_stop_async);

  if (self->stop_task != NULL || self->stopping)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, _("already stopping"));
      return;
    }
  self->stopping = TRUE;
  self->stop_task = g_steal_pointer (&task);
  if (self->in_flight == 0)
    schedule_finish_stop (self);
  else
    self->stop_timeout_id = g_timeout_add (timeout_ms, stop_timeout_cb, self);
}

gboolean
mh_api_server_stop_finish (MhApiServer *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (MH_IS_API_SERVER (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mh_api_server_stop_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

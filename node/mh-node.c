/* mh-node.c: a MedHead node: the domain over a replicated store
 *
 * Reads go straight to the store's SQLite tables (read-only, as
 * mh_store_get_db() allows); every write goes through the store, so it is
 * stamped, logged, validated by mh_medhead_validate() and replicated. A
 * request touching several rows is one mh_store_transact() call: it is
 * applied whole or not at all.
 *
 * Local, not replicated, tables this file keeps in the replica file:
 * - `node_hospital_rtree`: an R*Tree of hospital positions keyed by the
 *   hospital table's `_rid`, kept current by triggers on that table (so
 *   remote changes update it inside the transaction that applies them);
 * - `node_message_arrival`: when each message first reached this node,
 *   for unread counts that do not depend on the author's clock, with its
 *   channel and author (so a channel pages in arrival order off one index);
 * - `node_message_pending`: this node's own messages that no peer has
 *   acknowledged yet, with the local log position of each (local-only);
 * - `node_channel_read`: up to when each channel was read here.
 *
 * Invariant: on a hospital node, each beds row of its own hospital carries
 * in `committed_inbound` the count of its accepted transfers for that
 * category not yet arrived, cancelled or expired, as of the last refresh
 * (every transfer or beds change, every 30 s, and at open).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/random.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "mh-medhead-schema.h"
#include "mh-medhead-validate.h"
#include "mh-medhead-audience.h"
#include "mh-node.h"
#include "mh-node-private.h"
#include "mh-peers.h"
#include "mh-replicator.h"
#include "mh-retention.h"
#include "mh-volume.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

#define NODE_INI "node.ini"
#define API_TOKEN "api-token"
#define REPLICA_DB "replica.db"
#define TOKEN_BYTES 32
#define REFRESH_INTERVAL_S 30
#define MINUTE_MS (G_GINT64_CONSTANT (60) * 1000)

/* The registry file format of the files in data/demo. */
#define REGISTRY_FORMAT "medhead-registry/1"

/* Nearest hospitals: the first search box reaches this far, then grows. */
#define NEAREST_START_M 10000.0
#define NEAREST_DEFAULT_LIMIT 10
#define EARTH_RADIUS_M 6371008.8

/* Rejected changes listed in the status, the latest. */
#define STATUS_REJECTED_SHOWN 20
#define STATUS_GAPS_SHOWN 20

struct _MhNode
{
  GObject parent_instance;

  char *data_dir;
  /* Whether data_dir is on an encrypted volume: looked up once. */
  gboolean volume_checked;
  MhVolumeEncryption volume;
  char *volume_how;
  char *name;
  MhRole role;
  char *hospital_id;
  char *unit_id;
  char *site_id;

  /* Owned References */
  MhIdentity *identity;
  MhStore *store;
  MhReplicator *replicator; /* once the node links with peers */
  MhTrust *trust;           /* nullable: no network configured */
  sqlite3_stmt *read_begin;
  sqlite3_stmt *read_end;
  sqlite3_stmt *message_page_from; /* prepared on first use */
  sqlite3_stmt *nearest_candidates;
  sqlite3_stmt *nearest_by_category;
  sqlite3_stmt *nearest_any;

  MhNodeOpenFlags open_flags;
  guint grace_minutes;
  gint64 time_offset_ms;
  guint retention_hours; /* stations other than hubs */
  guint audit_days;      /* hubs */
  guint retention_source;

  /* Message arrivals seen in "changed" and written on "committed", so that
   * a batch of a thousand messages costs one transaction, not a thousand. */
  GPtrArray *pending_arrivals; /* message ids */
  GPtrArray *pending_receipts; /* transfer ids that may be new here */
  guint receipts_source;
  gint64 last_arrival_ms;

  guint refresh_source;
  guint heartbeat_source;
  gboolean refreshing;
  gboolean refresh_again;
};

G_DEFINE_FINAL_TYPE (MhNode, mh_node, G_TYPE_OBJECT)

enum
{
  SIGNAL_MESSAGES_CHANGED,
  SIGNAL_MESSAGES_DELIVERED,
  SIGNAL_INCIDENT_ASSIGNED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static gboolean flush_arrivals (MhNode *self);
static gboolean refresh_committed (MhNode *self, GError **error);

/* ------------------------------------------------------------------------ */
/* Helpers: errors                                                          */

/* Maps a store error to the node's codes. The validator's reasons carry
 * their kind as a prefix (mh-medhead-validate.h); @path, when not NULL,
 * names where in a request the write came from ("hospitals[3]." for an
 * import), and goes before the field name. */
static void
set_error_from_store (GError **error, const GError *store_error, const char *path)
{
  const char *message = store_error->message;
  const char *field_prefix = path ? path : "";
  g_autofree char *where = NULL;

  if (store_error->domain == MH_NODE_ERROR)
    {
      g_set_error_literal (error, MH_NODE_ERROR, store_error->code, message);
      return;
    }
  if (store_error->domain != MH_SYNC_ERROR)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FAILED, "%s", message);
      return;
    }

  /* "hospitals[3]." names fields below it; alone it is "hospitals[3]: ". */
  if (path != NULL && *path != '\0')
    {
      gsize len = strlen (path);
      where = g_strdup_printf ("%.*s: ", (int) (path[len - 1] == '.' ? len - 1 : len), path);
    }
  else
    where = g_strdup ("");

  switch ((MhSyncError) store_error->code)
    {
    case MH_SYNC_ERROR_REJECTED:
      if (g_str_has_prefix (message, MH_REASON_FORBIDDEN))
        g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FORBIDDEN, "%s%s", where,
                     message + strlen (MH_REASON_FORBIDDEN));
      else if (g_str_has_prefix (message, MH_REASON_INVALID))
        g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID, "%s%s", field_prefix,
                     message + strlen (MH_REASON_INVALID));
      else if (g_str_has_prefix (message, MH_REASON_WAITING))
        g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_NOT_FOUND, "%s%s", where,
                     message + strlen (MH_REASON_WAITING));
      else
        g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID, "%s%s", where, message);
      break;
    case MH_SYNC_ERROR_EXISTS:
    case MH_SYNC_ERROR_DELETED:
    case MH_SYNC_ERROR_INSERT_ONLY:
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFLICT, "%s%s", where, message);
      break;
    case MH_SYNC_ERROR_NOT_FOUND:
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_NOT_FOUND, "%s%s", where, message);
      break;
    case MH_SYNC_ERROR_UNKNOWN_TABLE:
    case MH_SYNC_ERROR_UNKNOWN_COLUMN:
    case MH_SYNC_ERROR_TYPE:
    case MH_SYNC_ERROR_MALFORMED:
    case MH_SYNC_ERROR_TOO_LARGE:
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID, "%s%s", where, message);
      break;
    case MH_SYNC_ERROR_FAILED:
    case MH_SYNC_ERROR_SCHEMA:
    case MH_SYNC_ERROR_SITE:
    default:
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FAILED, "%s", message);
      break;
    }
}

/* Converts an error from the store (or passes one of ours through). */
static gboolean
fail_from_store (GError **error, GError *store_error, const char *path)
{
  g_autoptr(GError) owned = store_error;

  set_error_from_store (error, owned, path);
  return FALSE;
}

static gboolean
fail (GError **error, MhNodeError code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, MhNodeError code, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  if (error != NULL)
    g_propagate_error (error, g_error_new_valist (MH_NODE_ERROR, code, format, args));
  va_end (args);
  return FALSE;
}

static gboolean
sqlite_fail (MhNode *self, GError **error, const char *what)
{
  return fail (error, MH_NODE_ERROR_FAILED, "%s: %s", what,
               sqlite3_errmsg (mh_store_get_db (self->store)));
}

/* ------------------------------------------------------------------------ */
/* Helpers: SQLite                                                          */

static sqlite3_stmt *
prepare (MhNode *self, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (mh_store_get_db (self->store), sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      sqlite_fail (self, error, _("preparing a query"));
      sqlite3_finalize (stmt);
      return NULL;
    }
  return stmt;
}

static gboolean
exec_sql (MhNode *self, const char *sql, GError **error)
{
  char *message = NULL;

  if (sqlite3_exec (mh_store_get_db (self->store), sql, NULL, NULL, &message) != SQLITE_OK)
    {
      fail (error, MH_NODE_ERROR_FAILED, "%s", message ? message : _("SQLite failed"));
      sqlite3_free (message);
      return FALSE;
    }
  return TRUE;
}

static const char *
column_text (sqlite3_stmt *stmt, int col)
{
  return (const char *) sqlite3_column_text (stmt, col);
}

static gboolean
column_is_null (sqlite3_stmt *stmt, int col)
{
  return sqlite3_column_type (stmt, col) == SQLITE_NULL;
}

/* Binds the bounds of a composite id range: every "PREFIX/..." row sorts
 * between "PREFIX/" and "PREFIX0" ('0' follows '/' in ASCII), so the
 * unique index on id answers it. */
static void
bind_prefix_range (sqlite3_stmt *stmt, int first, const char *prefix)
{
  sqlite3_bind_text (stmt, first, g_strconcat (prefix, "/", NULL), -1, g_free);
  sqlite3_bind_text (stmt, first + 1, g_strconcat (prefix, "0", NULL), -1, g_free);
}

/* Test only (tests/integration/test-network.c): with
 * MEDHEAD_TEST_SKIP_LOCAL_VALIDATION set, this node accepts and signs any
 * local write, such as another hospital's beds, so that its peers' refusal
 * of a validly signed change by the wrong owner can be tested. Never set in
 * production. */
static MhVerdict
validate_skipping_local (MhStore *store, const MhChange *change, const MhRow *row,
                         gboolean local, char **reason, gpointer user_data)
{
  if (local)
    return MH_VERDICT_ACCEPT;
  return mh_medhead_validate (store, change, row, local, reason, user_data);
}

static void
install_validator (MhStore *store)
{
  const char *skip = g_getenv ("MEDHEAD_TEST_SKIP_LOCAL_VALIDATION");

  mh_store_set_validator (store,
                          skip != NULL && *skip != '\0' ? validate_skipping_local
                                                        : mh_medhead_validate,
                          mh_medhead_validator_new (store),
                          (GDestroyNotify) mh_medhead_validator_free);
}

/* The validator's statements go before the store closes its database. */
static void
close_store (MhStore **store)
{
  if (*store != NULL)
    {
      mh_store_set_validator (*store, NULL, NULL, NULL);
      mh_store_set_audience (*store, NULL, NULL, NULL, NULL);
    }
  g_clear_object (store);
}

/* ------------------------------------------------------------------------ */
/* Helpers: JSON output                                                     */

static void
set_text (JsonObject *object, const char *member, const char *value)
{
  if (value == NULL)
    json_object_set_null_member (object, member);
  else
    json_object_set_string_member (object, member, value);
}

/* Sets a member from a column, with the type SQLite holds. */
static void
set_column (JsonObject *object, const char *member, sqlite3_stmt *stmt, int col)
{
  switch (sqlite3_column_type (stmt, col))
    {
    case SQLITE_INTEGER:
      json_object_set_int_member (object, member, sqlite3_column_int64 (stmt, col));
      break;
    case SQLITE_FLOAT:
      json_object_set_double_member (object, member, sqlite3_column_double (stmt, col));
      break;
    case SQLITE_TEXT:
      json_object_set_string_member (object, member, column_text (stmt, col));
      break;
    case SQLITE_NULL:
    case SQLITE_BLOB:
    default:
      json_object_set_null_member (object, member);
      break;
    }
}

/* Sets members named as the statement's columns, from column @first on. */
static void
set_columns (JsonObject *object, sqlite3_stmt *stmt, int first, int last)
{
  for (int col = first; col <= last; col++)
    set_column (object, sqlite3_column_name (stmt, col), stmt, col);
}

/* The stored form "17,21,54" as an array of ids. Read leniently: a newer
 * schema may know more specialties. */
static JsonArray *
specialties_to_json (const char *text)
{
  JsonArray *array = json_array_new ();
  g_auto(GStrv) parts = NULL;

  if (text == NULL || *text == '\0')
    return array;
  parts = g_strsplit (text, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 id;

      if (g_ascii_string_to_unsigned (parts[i], 10, 1, G_MAXUINT, &id, NULL))
        json_array_add_int_element (array, (gint64) id);
    }
  return array;
}

static JsonNode *
value_to_json (GVariant *value)
{
  g_autoptr(GVariant) inner = NULL;
  JsonNode *node = json_node_alloc ();

  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    value = inner = g_variant_get_variant (value);
  if (mh_value_is_null (value))
    return json_node_init_null (node);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    return json_node_init_int (node, g_variant_get_int64 (value));
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
    return json_node_init_double (node, g_variant_get_double (value));
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return json_node_init_string (node, g_variant_get_string (value, NULL));
  return json_node_init_null (node);
}

/* ------------------------------------------------------------------------ */
/* Helpers: JSON input                                                      */

typedef enum
{
  IN_TEXT,
  IN_INT,
  IN_REAL,
  IN_SPECIALTIES,
  IN_CAPABILITIES,
} InputKind;

/* One member of a request body, and the column it is stored in. */
typedef struct
{
  const char *member;
  const char *table;
  const char *column;
  InputKind kind;
} InputField;

/* Values collected for one table; @n counts the columns set. */
typedef struct
{
  const char *table;
  GVariantDict dict;
  guint n;
} TableValues;

static void
table_values_init (TableValues *values, const char *table)
{
  values->table = table;
  g_variant_dict_init (&values->dict, NULL);
  values->n = 0;
}

static void
table_values_clear (TableValues *values)
{
  g_variant_dict_clear (&values->dict);
}

static void
table_values_set (TableValues *values, const char *column, GVariant *value)
{
  g_variant_dict_insert_value (&values->dict, column, value);
  values->n++;
}

/* Returns a floating a{sv} of the collected values. */
static GVariant *
table_values_end (TableValues *values)
{
  return g_variant_dict_end (&values->dict);
}

/* Converts one JSON member to a value of its column's type, or explains
 * (naming the member) why it cannot be one. Nothing is converted that a
 * client could not have meant: "51" is not a number, 1.5 is not a count. */
static GVariant *
input_value (JsonNode *node, InputKind kind, const char *path, const char *member,
             GError **error)
{
  GType type;

  if (JSON_NODE_HOLDS_NULL (node))
    return mh_value_null ();

  type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  switch (kind)
    {
    case IN_TEXT:
      if (type == G_TYPE_STRING)
        return g_variant_new_string (json_node_get_string (node));
      fail (error, MH_NODE_ERROR_INVALID, _("%s%s: must be text"), path, member);
      return NULL;

    case IN_INT:
      if (type == G_TYPE_INT64)
        return g_variant_new_int64 (json_node_get_int (node));
      if (type == G_TYPE_DOUBLE)
        {
          double d = json_node_get_double (node);

          if (isfinite (d) && d == floor (d) && fabs (d) < 9007199254740992.0)
            return g_variant_new_int64 ((gint64) d);
        }
      fail (error, MH_NODE_ERROR_INVALID, _("%s%s: must be an integer"), path, member);
      return NULL;

    case IN_REAL:
      if (type == G_TYPE_INT64)
        return g_variant_new_double ((double) json_node_get_int (node));
      if (type == G_TYPE_DOUBLE && isfinite (json_node_get_double (node)))
        return g_variant_new_double (json_node_get_double (node));
      fail (error, MH_NODE_ERROR_INVALID, _("%s%s: must be a number"), path, member);
      return NULL;

    case IN_SPECIALTIES:
      {
        g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint));
        g_autofree char *text = NULL;
        JsonArray *array;

        if (!JSON_NODE_HOLDS_ARRAY (node))
          goto bad_specialties;
        array = json_node_get_array (node);
        for (guint i = 0; i < json_array_get_length (array); i++)
          {
            JsonNode *element = json_array_get_element (array, i);
            gint64 id;
            guint value;

            if (!JSON_NODE_HOLDS_VALUE (element)
                || json_node_get_value_type (element) != G_TYPE_INT64)
              goto bad_specialties;
            id = json_node_get_int (element);
            if (id < 1 || id > (gint64) mh_specialty_count ())
              goto bad_specialties;
            value = (guint) id;
            g_array_append_val (ids, value);
          }
        text = mh_medhead_format_specialties (ids);
        return g_variant_new_string (text);

      bad_specialties:
        fail (error, MH_NODE_ERROR_INVALID,
              _("%s%s: must be an array of specialty ids from 1 to %u"), path, member,
              mh_specialty_count ());
        return NULL;
      }

    case IN_CAPABILITIES:
      {
        g_autofree char *text = NULL;
        g_autofree char *why = NULL;

        text = mh_node_capabilities_from_json (node, &why);
        if (text == NULL)
          {
            fail (error, MH_NODE_ERROR_INVALID, "%s%s: %s", path, member, why);
            return NULL;
          }
        return g_variant_new_string (text);
      }

    default:
      g_assert_not_reached ();
    }
  return NULL;
}

static gboolean
member_in (const char *member, const char *const *members)
{
  return members != NULL && g_strv_contains (members, member);
}

/* Sorts the members of @object into @tables by @fields. Members listed in
 * @special are the caller's to read; any other member is refused. */
static gboolean
collect_fields (JsonObject *object, const InputField *fields, gsize n_fields,
                const char *const *special, TableValues *tables, gsize n_tables,
                const char *path, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *member = l->data;
      const InputField *field = NULL;
      GVariant *value;

      if (member_in (member, special))
        continue;
      for (gsize i = 0; i < n_fields && field == NULL; i++)
        if (strcmp (fields[i].member, member) == 0)
          field = &fields[i];
      if (field == NULL)
        return fail (error, MH_NODE_ERROR_INVALID, _("%s%s: unknown field"), path, member);

      value = input_value (json_object_get_member (object, member), field->kind, path, member,
                           error);
      if (value == NULL)
        return FALSE;
      for (gsize t = 0; t < n_tables; t++)
        if (strcmp (tables[t].table, field->table) == 0)
          {
            table_values_set (&tables[t], field->column, value);
            value = NULL;
            break;
          }
      g_assert (value == NULL);
    }
  return TRUE;
}

/* The "id" member of a create request: a UUID when given, else a new one. */
static char *
take_new_id (JsonObject *object, const char *path, GError **error)
{
  JsonNode *node;
  const char *id;

  if (object == NULL || !json_object_has_member (object, "id"))
    return g_uuid_string_random ();
  node = json_object_get_member (object, "id");
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("%sid: must be a UUID"), path);
      return NULL;
    }
  id = json_node_get_string (node);
  if (!mh_medhead_uuid_is_valid (id))
    {
      fail (error, MH_NODE_ERROR_INVALID, _("%sid: must be a UUID"), path);
      return NULL;
    }
  return g_strdup (id);
}

/* A string member (or %NULL when absent or null). */
static gboolean
get_string_member (JsonObject *object, const char *member, const char *path, const char **out,
                   GError **error)
{
  JsonNode *node;

  *out = NULL;
  if (object == NULL || !json_object_has_member (object, member))
    return TRUE;
  node = json_object_get_member (object, member);
  if (JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return fail (error, MH_NODE_ERROR_INVALID, _("%s%s: must be text"), path, member);
  *out = json_node_get_string (node);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Roles and time                                                           */

static const char *const role_names[] = { "hospital", "ambulance", "hub" };

const char *
mh_role_to_string (MhRole role)
{
  if ((guint) role >= G_N_ELEMENTS (role_names))
    return NULL;
  return role_names[role];
}

gboolean
mh_role_from_string (const char *text, MhRole *role)
{
  if (text == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (role_names); i++)
    if (strcmp (text, role_names[i]) == 0)
      {
        if (role != NULL)
          *role = (MhRole) i;
        return TRUE;
      }
  return FALSE;
}

gint64
mh_node_now_ms (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), 0);
  return g_get_real_time () / 1000 + self->time_offset_ms;
}

/* A count is stale once older than its hospital's reporting interval, or
 * when it was never reported at all. */
static gboolean
count_is_stale (MhNode *self, gboolean reported, gint64 reported_at, gint64 interval_min)
{
  if (!reported)
    return TRUE;
  if (interval_min <= 0)
    interval_min = MH_NODE_DEFAULT_REPORT_INTERVAL_MIN;
  return mh_node_now_ms (self) - reported_at > interval_min * MINUTE_MS;
}

/* ------------------------------------------------------------------------ */
/* Auxiliary tables                                                         */

/* The R*Tree follows the hospital table through triggers, so that remote
 * changes keep it current in the very transaction that applies them. Its
 * third dimension is the specialty: one entry per hospital and specialty
 * (id = _rid * 128 + specialty), and one with specialty 0 for searches of
 * any specialty, so that a search only ever meets hospitals that have the
 * specialty asked for. A hospital whose identity register has not arrived
 * yet has no position and stays out. It is a cache, rebuilt at every open.
 *
 * Triggers must never fail (a failure would abort the store's whole
 * batch): the validator only lets "17,21,54" forms of ids up to 80 in, and
 * anything else is indexed as having no specialty. */
#define RTREE_SPECIALTIES(row)                                                             \
  "json_each (CASE WHEN json_valid ('[0,' || " row ".specialties || ']')"                    \
  " THEN '[0,' || " row ".specialties || ']' ELSE '[0]' END)"

static const char aux_ddl[] =
  "DROP TRIGGER IF EXISTS node_hospital_rtree_insert;"
  "DROP TRIGGER IF EXISTS node_hospital_rtree_update;"
  "DROP TRIGGER IF EXISTS node_hospital_rtree_delete;"
  "DROP TABLE IF EXISTS node_hospital_rtree;"
  "CREATE VIRTUAL TABLE node_hospital_rtree USING rtree ("
  "  id, minlat, maxlat, minlon, maxlon, minspec, maxspec);"
  "INSERT INTO node_hospital_rtree SELECT h._rid * 128 + s.value, h.lat, h.lat, h.lon, h.lon,"
  "  s.value, s.value FROM hospital h, " RTREE_SPECIALTIES ("h") " s"
  "  WHERE h.lat IS NOT NULL AND h.lon IS NOT NULL AND s.value BETWEEN 0 AND 127;"
  "CREATE TRIGGER node_hospital_rtree_insert AFTER INSERT ON hospital"
  "  WHEN new.lat IS NOT NULL AND new.lon IS NOT NULL BEGIN"
  "    INSERT OR REPLACE INTO node_hospital_rtree SELECT new._rid * 128 + value, new.lat,"
  "      new.lat, new.lon, new.lon, value, value FROM " RTREE_SPECIALTIES ("new")
  "      WHERE value BETWEEN 0 AND 127;"
  "  END;"
  "CREATE TRIGGER node_hospital_rtree_update AFTER UPDATE OF lat, lon, specialties ON hospital"
  "  BEGIN"
  "    DELETE FROM node_hospital_rtree WHERE id IN (SELECT old._rid * 128 + value"
  "      FROM " RTREE_SPECIALTIES ("old") " WHERE value BETWEEN 0 AND 127);"
  "    INSERT OR REPLACE INTO node_hospital_rtree SELECT new._rid * 128 + value, new.lat,"
  "      new.lat, new.lon, new.lon, value, value FROM " RTREE_SPECIALTIES ("new")
  "      WHERE value BETWEEN 0 AND 127 AND new.lat IS NOT NULL AND new.lon IS NOT NULL;"
  "  END;"
  "CREATE TRIGGER node_hospital_rtree_delete AFTER DELETE ON hospital BEGIN"
  "    DELETE FROM node_hospital_rtree WHERE id IN (SELECT old._rid * 128 + value"
  "      FROM " RTREE_SPECIALTIES ("old") " WHERE value BETWEEN 0 AND 127);"
  "  END;"
  "CREATE TABLE IF NOT EXISTS node_message_arrival (id TEXT PRIMARY KEY,"
  "  arrived_at INTEGER NOT NULL, author_name TEXT, sent INTEGER);"
  "CREATE INDEX IF NOT EXISTS node_message_arrival_at ON node_message_arrival (arrived_at);"
  "CREATE INDEX IF NOT EXISTS node_transfer_hospital ON transfer (hospital_id);"
  "CREATE INDEX IF NOT EXISTS node_message_channel ON message (channel);"
  "CREATE TABLE IF NOT EXISTS node_message_pending (id TEXT PRIMARY KEY,"
  "  lseq INTEGER NOT NULL);"
  "CREATE TABLE IF NOT EXISTS node_channel_read (channel TEXT PRIMARY KEY,"
  "  read_at INTEGER NOT NULL) WITHOUT ROWID;";

/* Columns added to node_message_arrival after its first release: a replica
 * made before gets them, and has them filled in, at open. */
static const char arrival_upgrade_sql[] =
  "ALTER TABLE node_message_arrival ADD COLUMN channel TEXT;"
  "ALTER TABLE node_message_arrival ADD COLUMN author_site TEXT;"
  "UPDATE node_message_arrival SET"
  "  channel = COALESCE((SELECT channel FROM message m WHERE m.id = node_message_arrival.id),"
  "                     (SELECT channel FROM retraction r WHERE r.id = node_message_arrival.id)),"
  "  author_site = COALESCE((SELECT author_site FROM message m"
  "                          WHERE m.id = node_message_arrival.id),"
  "                         (SELECT author_site FROM retraction r"
  "                          WHERE r.id = node_message_arrival.id));";
static const char arrival_index_sql[] =
  "CREATE INDEX IF NOT EXISTS node_message_arrival_channel"
  "  ON node_message_arrival (channel, arrived_at, id);";

/* A hospital's free beds in one category: what a crew may count on
 * (available less the beds already promised to other crews). */
#define FREE_BEDS_SQL "MAX(0, COALESCE(b.available, 0) - COALESCE(b.committed_inbound, 0))"

/* The candidates in a box (?1..?4) that have the specialty ?5 (0: any,
 * which every hospital's entry 0 matches): their rowid and their position
 * as the R*Tree holds it (32-bit, rounded outwards: within a metre). */
static const char nearest_candidates_sql[] =
  "SELECT id / 128, (minlat + maxlat) / 2, (minlon + maxlon) / 2 FROM node_hospital_rtree"
  " WHERE minlat <= ?2 AND maxlat >= ?1 AND minlon <= ?4 AND maxlon >= ?3"
  "  AND minspec <= ?5 AND maxspec >= ?5";

/* One candidate (?1: its rowid), when it has a free bed in category ?2
 * and takes ambulances. */
static const char nearest_by_category_sql[] =
  "SELECT h.id, h.name, h.lat, h.lon, h.report_interval_min,"
  "  h.phone_switchboard, h.phone_emergency, s.ems_traffic, " FREE_BEDS_SQL ", b.reported_at"
  " FROM hospital h JOIN beds b ON b.id = h.id || '/' || ?2"
  " LEFT JOIN hospital_status s ON s.id = h.id"
  " WHERE h._rid = ?1 AND " FREE_BEDS_SQL " > 0"
  "  AND (s.ems_traffic IS NULL OR s.ems_traffic IN ('normal', 'advisory', 'not_applicable'))";

/* The same over every known category ("%s": the quoted list), in one pass
 * over the hospital's beds rows; the count is stale when the oldest count
 * it adds up is. */
static const char nearest_any_sql[] =
  "SELECT h.id, h.name, h.lat, h.lon, h.report_interval_min,"
  "  h.phone_switchboard, h.phone_emergency, s.ems_traffic, SUM(" FREE_BEDS_SQL "),"
  "  MIN(CASE WHEN " FREE_BEDS_SQL " > 0 THEN b.reported_at END)"
  " FROM hospital h JOIN beds b ON b.id > h.id || '/' AND b.id < h.id || '0'"
  " LEFT JOIN hospital_status s ON s.id = h.id"
  " WHERE h._rid = ?1 AND b.category IN (%s)"
  "  AND (s.ems_traffic IS NULL OR s.ems_traffic IN ('normal', 'advisory', 'not_applicable'))"
  " GROUP BY h._rid HAVING SUM(" FREE_BEDS_SQL ") > 0";

static gboolean
arrival_has_channel (MhNode *self)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  stmt = prepare (self, "SELECT 1 FROM pragma_table_info('node_message_arrival')"
                        " WHERE name = 'channel'", NULL);
  return stmt != NULL && sqlite3_step (stmt) == SQLITE_ROW;
}

static gboolean
setup_aux_tables (MhNode *self, GError **error)
{
  g_autoptr(GString) categories = g_string_new (NULL);
  g_autofree char *any_sql = NULL;
  const char *const *known = mh_bed_categories ();

  /* Statement journals in memory: inside a long transaction (an import)
   * every statement that fires a trigger or may abort half-way writes one,
   * and on disk they cost an import of 10,000 hospitals most of a minute. */
  /* A region's replica (tens of MB) in memory for the searches, which
   * read hospitals all over the file. An embedded node serves one user:
   * 8 MB of cache and no map, or every page a view reads (a long chat
   * history) stays resident in the desktop. */
  if (!exec_sql (self, (self->open_flags & MH_NODE_OPEN_EMBEDDED)
                         ? "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;"
                           "PRAGMA mmap_size = 0"
                         : "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;"
                           "PRAGMA mmap_size = 268435456",
                 error)
      || !exec_sql (self, "SAVEPOINT node_setup", error))
    return FALSE;
  if (!exec_sql (self, aux_ddl, error)
      || (!arrival_has_channel (self) && !exec_sql (self, arrival_upgrade_sql, error))
      || !exec_sql (self, arrival_index_sql, error))
    {
      exec_sql (self, "ROLLBACK TO node_setup; RELEASE node_setup", NULL);
      return FALSE;
    }
  if (!exec_sql (self, "RELEASE node_setup", error))
    return FALSE;

  for (guint i = 0; known[i] != NULL; i++)
    g_string_append_printf (categories, "%s'%s'", i ? ", " : "", known[i]);
  any_sql = g_strdup_printf (nearest_any_sql, categories->str);
  /* A search runs dozens of statements: one read transaction for all of
   * them, instead of taking and dropping the WAL read lock for each, and
   * one snapshot to answer from. A savepoint, so that it nests. */
  self->read_begin = prepare (self, "SAVEPOINT node_read", error);
  if (self->read_begin == NULL)
    return FALSE;
  self->read_end = prepare (self, "RELEASE node_read", error);
  if (self->read_end == NULL)
    return FALSE;
  self->nearest_candidates = prepare (self, nearest_candidates_sql, error);
  if (self->nearest_candidates == NULL)
    return FALSE;
  self->nearest_by_category = prepare (self, nearest_by_category_sql, error);
  if (self->nearest_by_category == NULL)
    return FALSE;
  self->nearest_any = prepare (self, any_sql, error);
  return self->nearest_any != NULL;
}

/* ------------------------------------------------------------------------ */
/* Message arrivals                                                         */

static gint64
next_arrival_ms (MhNode *self)
{
  /* Strictly increasing, so that "since the last one I saw" never skips a
   * message that arrived in the same millisecond. */
  self->last_arrival_ms = MAX (mh_node_now_ms (self), self->last_arrival_ms + 1);
  return self->last_arrival_ms;
}

/* Stamps the messages (and retractions of messages never seen here) that
 * have no arrival yet: after a crash between a commit and its flush, or
 * after a batch too large for per-row signals. */
static gboolean
stamp_unseen_messages (MhNode *self, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  stmt = prepare (self,
                  "SELECT id FROM message WHERE id NOT IN (SELECT id FROM node_message_arrival)"
                  " UNION SELECT id FROM retraction"
                  "  WHERE id NOT IN (SELECT id FROM node_message_arrival)"
                  " ORDER BY 1",
                  error);
  if (stmt == NULL)
    return FALSE;
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (self->pending_arrivals, g_strdup (column_text (stmt, 0)));
  g_clear_pointer (&stmt, sqlite3_finalize);
  return flush_arrivals (self);
}

static gboolean
flush_arrivals (MhNode *self)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  gboolean ok = TRUE;

  if (self->pending_arrivals->len == 0)
    return TRUE;
  ids = g_steal_pointer (&self->pending_arrivals);
  self->pending_arrivals = g_ptr_array_new_with_free_func (g_free);

  stmt = prepare (self,
                  "INSERT OR IGNORE INTO node_message_arrival"
                  " (id, arrived_at, author_name, sent, channel, author_site)"
                  " SELECT ?1, ?2, (SELECT author_name FROM message WHERE id = ?1),"
                  "  (SELECT sent FROM message WHERE id = ?1),"
                  "  COALESCE((SELECT channel FROM message WHERE id = ?1),"
                  "           (SELECT channel FROM retraction WHERE id = ?1)),"
                  "  COALESCE((SELECT author_site FROM message WHERE id = ?1),"
                  "           (SELECT author_site FROM retraction WHERE id = ?1))",
                  NULL);
  if (stmt == NULL || !exec_sql (self, "SAVEPOINT node_arrivals", NULL))
    return FALSE;
  for (guint i = 0; i < ids->len && ok; i++)
    {
      sqlite3_bind_text (stmt, 1, g_ptr_array_index (ids, i), -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 2, next_arrival_ms (self));
      ok = sqlite3_step (stmt) == SQLITE_DONE;
      sqlite3_reset (stmt);
    }
  if (!ok)
    {
      g_message ("cannot record message arrivals: %s",
                 sqlite3_errmsg (mh_store_get_db (self->store)));
      exec_sql (self, "ROLLBACK TO node_arrivals; RELEASE node_arrivals", NULL);
      return FALSE;
    }
  return exec_sql (self, "RELEASE node_arrivals", NULL);
}

/* ------------------------------------------------------------------------ */
/* committed_inbound                                                        */

typedef struct
{
  char *category;
  gint64 count;
  gboolean row_exists;
} CommittedWrite;

static void
committed_write_free (CommittedWrite *write)
{
  g_free (write->category);
  g_free (write);
}

typedef struct
{
  MhNode *self;
  GPtrArray *writes; /* CommittedWrite */
} CommittedTxn;

static gboolean
write_committed_txn (MhStore *store, gpointer user_data, GError **error)
{
  CommittedTxn *txn = user_data;

  for (guint i = 0; i < txn->writes->len; i++)
    {
      CommittedWrite *write = g_ptr_array_index (txn->writes, i);
      g_autofree char *row = g_strdup_printf ("%s/%s", txn->self->hospital_id, write->category);
      GVariantDict dict;

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "committed_inbound", "x", write->count);
      if (!write->row_exists)
        {
          g_variant_dict_insert (&dict, "hospital_id", "s", txn->self->hospital_id);
          g_variant_dict_insert (&dict, "category", "s", write->category);
        }
      if (!mh_store_upsert (store, "beds", row, g_variant_dict_end (&dict), error))
        return FALSE;
    }
  return TRUE;
}

/* When an accepted transfer stops counting: its ETA (or, without one, the
 * time it was accepted) plus the grace period (?2). */
#define EXPIRY_SQL "COALESCE(eta, desk_at, 0) + ?2"

static gboolean
refresh_committed_once (MhNode *self, GError **error)
{
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) stored = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) writes = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *const *known = mh_bed_categories ();
  CommittedTxn txn;

  /* Before the hospital's own row arrives, its beds cannot be written. */
  if (mh_store_get_row_state (self->store, "hospital", self->hospital_id) != MH_ROW_LIVE)
    return TRUE;

  stmt = prepare (self,
                  "SELECT bed_category, COUNT(*) FROM transfer WHERE hospital_id = ?1"
                  " AND desk_state = 'accepted'"
                  " AND (crew_state IS NULL OR crew_state NOT IN ('arrived', 'cancelled'))"
                  " AND " EXPIRY_SQL " > ?3 GROUP BY bed_category",
                  error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, self->hospital_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, (gint64) self->grace_minutes * MINUTE_MS);
  sqlite3_bind_int64 (stmt, 3, mh_node_now_ms (self));
  while (sqlite3_step (stmt) == SQLITE_ROW)
    if (!column_is_null (stmt, 0))
      g_hash_table_insert (counts, g_strdup (column_text (stmt, 0)),
                           GINT_TO_POINTER ((int) sqlite3_column_int64 (stmt, 1)));
  g_clear_pointer (&stmt, sqlite3_finalize);

  stmt = prepare (self,
                  "SELECT substr(id, instr(id, '/') + 1), COALESCE(committed_inbound, 0)"
                  " FROM beds WHERE id > ?1 AND id < ?2",
                  error);
  if (stmt == NULL)
    return FALSE;
  bind_prefix_range (stmt, 1, self->hospital_id);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_hash_table_insert (stored, g_strdup (column_text (stmt, 0)),
                         GINT_TO_POINTER ((int) sqlite3_column_int64 (stmt, 1)));
  g_clear_pointer (&stmt, sqlite3_finalize);

  /* Written only on a change: a refresh that finds nothing new leaves the
   * log, and so the peers, alone. Unknown categories (from a newer
   * schema) cannot be written by this one, and count as no beds anyway. */
  writes = g_ptr_array_new_with_free_func ((GDestroyNotify) committed_write_free);
  for (guint i = 0; known[i] != NULL; i++)
    {
      gpointer value = NULL;
      gboolean exists = g_hash_table_lookup_extended (stored, known[i], NULL, &value);
      gint64 before = exists ? GPOINTER_TO_INT (value) : 0;
      gint64 now = GPOINTER_TO_INT (g_hash_table_lookup (counts, known[i]));

      if (now != before)
        {
          CommittedWrite *write = g_new0 (CommittedWrite, 1);

          write->category = g_strdup (known[i]);
          write->count = now;
          write->row_exists = exists;
          g_ptr_array_add (writes, write);
        }
    }
  if (writes->len == 0)
    return TRUE;

  txn.self = self;
  txn.writes = writes;
  if (!mh_store_transact (self->store, write_committed_txn, &txn, &local_error))
    return fail_from_store (error, g_steal_pointer (&local_error), NULL);
  return TRUE;
}

static gboolean
refresh_committed (MhNode *self, GError **error)
{
  gboolean ok = TRUE;

  if (self->role != MH_ROLE_HOSPITAL || self->hospital_id == NULL || self->store == NULL)
    return TRUE;
  /* Our own writes emit "changed::beds" too: note it, do not recurse. */
  if (self->refreshing)
    {
      self->refresh_again = TRUE;
      return TRUE;
    }
  self->refreshing = TRUE;
  do
    {
      self->refresh_again = FALSE;
      ok = refresh_committed_once (self, error);
    }
  while (ok && self->refresh_again);
  self->refreshing = FALSE;
  return ok;
}

static void
refresh_committed_quietly (MhNode *self)
{
  g_autoptr(GError) error = NULL;

  if (!refresh_committed (self, &error))
    g_message ("cannot update committed_inbound of hospital %s: %s", self->hospital_id,
               error->message);
}

static gboolean
refresh_timeout_cb (gpointer user_data)
{
  refresh_committed_quietly (MH_NODE (user_data));
  return G_SOURCE_CONTINUE;
}

/* A hospital's heartbeat: its site row's heartbeat register, signed like
 * any write. */
/**
 * mh_node_write_heartbeat:
 *
 * Writes this site's heartbeat (the time now) into its registry row. A
 * hospital's node does it every MH_NODE_HEARTBEAT_INTERVAL_S while it serves.
 */
gboolean
mh_node_write_heartbeat (MhNode *self, GError **error)
{
  g_autofree char *values = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  values = g_strdup_printf ("{'heartbeat_at': <int64 %" G_GINT64_FORMAT ">}",
                            mh_node_now_ms (self));
  return mh_store_update (self->store, "site", self->site_id, g_variant_new_parsed (values),
                          error);
}

static void
write_heartbeat (MhNode *self)
{
  g_autoptr(GError) error = NULL;

  if (!mh_node_write_heartbeat (self, &error))
    g_message ("cannot write this site's heartbeat: %s", error->message);
}

static gboolean
retention_timeout_cb (gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) evicted = mh_retention_sweep (MH_NODE (user_data), FALSE, &error);

  if (evicted == NULL)
    g_message ("retention: %s", error->message);
  return G_SOURCE_CONTINUE;
}

static gboolean
heartbeat_timeout_cb (gpointer user_data)
{
  write_heartbeat (MH_NODE (user_data));
  return G_SOURCE_CONTINUE;
}

/* The newest heartbeat of the hospital's own sites (ms), or 0 when none
 * has sent one (or it has no site of its own). */
static gint64
hospital_last_heartbeat (MhNode *self, const char *hospital_id)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 last = 0;

  stmt = prepare (self,
                  "SELECT max(heartbeat_at) FROM site"
                  " WHERE hospital_id = ?1 AND role = 'hospital'",
                  NULL);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, hospital_id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    last = sqlite3_column_int64 (stmt, 0);
  return last;
}

/* Sets "last_heartbeat" (null when none) and returns whether the
 * hospital's own sites have gone quiet: their newest heartbeat is older than
 * MH_NODE_HEARTBEAT_STALE_S. A hospital none of whose sites ever sent one
 * (no site of its own, or sites of an older version) is not stale by this
 * measure: its counts' own staleness still applies. */
static gboolean
set_heartbeat_value (MhNode *self, JsonObject *object, gint64 last)
{
  if (last > 0)
    json_object_set_int_member (object, "last_heartbeat", last);
  else
    json_object_set_null_member (object, "last_heartbeat");
  return last > 0 && mh_node_now_ms (self) - last > MH_NODE_HEARTBEAT_STALE_S * 1000;
}

static gboolean
set_heartbeat (MhNode *self, JsonObject *object, const char *hospital_id)
{
  return set_heartbeat_value (self, object, hospital_last_heartbeat (self, hospital_id));
}

/* ------------------------------------------------------------------------ */
/* Signal callbacks                                                         */

static void
message_changed_cb (MhStore *store, const char *table, const char *row, MhNode *self)
{
  if (row == NULL)
    {
      /* Too many rows at once for a signal each. */
      if (!stamp_unseen_messages (self, NULL))
        g_message ("cannot record message arrivals");
      return;
    }
  g_ptr_array_add (self->pending_arrivals, g_strdup (row));
}

static void
store_committed_cb (MhStore *store, gint64 seq, MhNode *self)
{
  gboolean any = self->pending_arrivals->len > 0;

  flush_arrivals (self);
  if (any)
    g_signal_emit (self, signals[SIGNAL_MESSAGES_CHANGED], 0);
}

/* A peer committed this node's chat lane up to @seq: the own messages at
 * or below it are no longer local-only. */
static void
replicator_acked_cb (MhReplicator *replicator, guint lane, gint64 seq, MhNode *self)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  if (lane != MH_LANE_CHAT)
    return;
  stmt = prepare (self, "DELETE FROM node_message_pending WHERE lseq <= ?", NULL);
  if (stmt == NULL)
    return;
  sqlite3_bind_int64 (stmt, 1, seq);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      g_message ("cannot record delivered messages: %s",
                 sqlite3_errmsg (mh_store_get_db (self->store)));
      return;
    }
  if (sqlite3_changes (mh_store_get_db (self->store)) > 0)
    g_signal_emit (self, signals[SIGNAL_MESSAGES_DELIVERED], 0);
}

static void
transfer_changed_cb (MhStore *store, const char *table, const char *row, MhNode *self)
{
  refresh_committed_quietly (self);
}

static gboolean receipts_idle_cb (gpointer user_data);

/* A hub or a desk notes a transfer's first arrival; the write waits for an
 * idle moment, outside the transaction that brought the transfer. */
static void
transfer_arrived_cb (MhStore *store, const char *table, const char *row, MhNode *self)
{
  if (row == NULL)
    return;
  g_ptr_array_add (self->pending_receipts, g_strdup (row));
  if (self->receipts_source == 0)
    self->receipts_source = g_idle_add (receipts_idle_cb, self);
}

static gboolean
write_receipt (MhNode *self, const char *transfer_id, gboolean seen, GError **error)
{
  g_autofree char *id = g_strdup_printf ("%s/%s", self->site_id, transfer_id);
  g_autoptr(GVariant) existing = mh_store_get_row (self->store, "receipt", id);
  g_autoptr(GVariant) transfer = NULL;
  const char *hospital = NULL;
  GVariantDict dict;
  gint64 at;
  g_autoptr(GError) local_error = NULL;

  if (existing != NULL && g_variant_lookup (existing, seen ? "seen_at" : "received_at", "x", &at))
    return TRUE;
  transfer = mh_store_get_row (self->store, "transfer", transfer_id);
  if (transfer == NULL)
    return fail (error, MH_NODE_ERROR_NOT_FOUND, _("no transfer %s"), transfer_id);
  g_variant_lookup (transfer, "hospital_id", "&s", &hospital);
  if (self->role == MH_ROLE_AMBULANCE
      || (self->role == MH_ROLE_HOSPITAL && g_strcmp0 (hospital, self->hospital_id) != 0))
    return fail (error, MH_NODE_ERROR_FORBIDDEN,
                 _("only a hub or the destination's desk writes receipts"));
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "transfer_id", "s", transfer_id);
  g_variant_dict_insert (&dict, "author_site", "s", self->site_id);
  /* Seen implies received. */
  if (existing == NULL || !g_variant_lookup (existing, "received_at", "x", &at))
    g_variant_dict_insert (&dict, "received_at", "x", mh_node_now_ms (self));
  if (seen)
    g_variant_dict_insert (&dict, "seen_at", "x", mh_node_now_ms (self));
  if (!mh_store_upsert (self->store, "receipt", id, g_variant_dict_end (&dict), &local_error))
    return fail_from_store (error, g_steal_pointer (&local_error), NULL);
  return TRUE;
}

static gboolean
receipts_idle_cb (gpointer user_data)
{
  MhNode *self = user_data;
  g_autoptr(GPtrArray) ids = g_steal_pointer (&self->pending_receipts);

  self->receipts_source = 0;
  self->pending_receipts = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < ids->len; i++)
    {
      const char *id = g_ptr_array_index (ids, i);
      g_autoptr(GVariant) transfer = mh_store_get_row (self->store, "transfer", id);
      const char *hospital = NULL;
      g_autoptr(GError) error = NULL;

      if (transfer == NULL)
        continue;
      g_variant_lookup (transfer, "hospital_id", "&s", &hospital);
      if (self->role == MH_ROLE_HOSPITAL && g_strcmp0 (hospital, self->hospital_id) != 0)
        continue;
      if (!write_receipt (self, id, FALSE, &error))
        g_message ("cannot note a transfer's arrival: %s", error->message);
    }
  return G_SOURCE_REMOVE;
}

/**
 * mh_node_mark_transfer_seen:
 *
 * A desk's app calls this when a person has the transfer in front of
 * them: the crew then sees "seen at the desk". Idempotent.
 */
gboolean
mh_node_mark_transfer_seen (MhNode *self, const char *transfer_id, GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), FALSE);
  g_return_val_if_fail (transfer_id != NULL, FALSE);
  return write_receipt (self, transfer_id, TRUE, error);
}

/**
 * mh_node_list_receipts:
 *
 * Where a transfer has reached: one object per site that noted it, with
 * site_id, name and role (from the registry, null when not known here),
 * received_at and seen_at (ms or null).
 */
JsonArray *
mh_node_list_receipts (MhNode *self, const char *transfer_id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonArray) list = json_array_new ();

  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (transfer_id != NULL, NULL);

  stmt = prepare (self,
                  "SELECT r.author_site, s.name, s.role, r.received_at, r.seen_at FROM receipt r"
                  " LEFT JOIN site s ON s.id = r.author_site WHERE r.transfer_id = ?1"
                  " ORDER BY r.received_at",
                  error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, transfer_id, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      JsonObject *receipt = json_object_new ();

      json_object_set_string_member (receipt, "site_id", column_text (stmt, 0));
      for (int col = 1; col <= 2; col++)
        {
          if (sqlite3_column_type (stmt, col) == SQLITE_NULL)
            json_object_set_null_member (receipt, col == 1 ? "name" : "role");
          else
            json_object_set_string_member (receipt, col == 1 ? "name" : "role",
                                           column_text (stmt, col));
        }
      for (int col = 3; col <= 4; col++)
        {
          const char *member = col == 3 ? "received_at" : "seen_at";

          if (sqlite3_column_type (stmt, col) == SQLITE_NULL)
            json_object_set_null_member (receipt, member);
          else
            json_object_set_int_member (receipt, member, sqlite3_column_int64 (stmt, col));
        }
      json_array_add_object_element (list, receipt);
    }
  return g_steal_pointer (&list);
}

static void
own_hospital_changed_cb (MhStore *store, const char *table, const char *row, MhNode *self)
{
  const char *hospital = self->hospital_id;

  if (row == NULL || g_strcmp0 (row, hospital) == 0
      || (g_str_has_prefix (row, hospital) && row[strlen (hospital)] == '/'))
    refresh_committed_quietly (self);
}

/* ------------------------------------------------------------------------ */
/* GObject                                                                  */

static void
mh_node_dispose (GObject *object)
{
  MhNode *self = MH_NODE (object);

  g_clear_handle_id (&self->refresh_source, g_source_remove);
  g_clear_handle_id (&self->receipts_source, g_source_remove);
  g_clear_handle_id (&self->heartbeat_source, g_source_remove);
  g_clear_handle_id (&self->retention_source, g_source_remove);
  if (self->replicator != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->replicator, self);
      mh_replicator_stop (self->replicator);
      g_clear_object (&self->replicator);
    }
  if (self->store != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->store, self);
      flush_arrivals (self);
    }
  /* Statements first: the store closes the database. */
  g_clear_pointer (&self->read_begin, sqlite3_finalize);
  g_clear_pointer (&self->read_end, sqlite3_finalize);
  g_clear_pointer (&self->message_page_from, sqlite3_finalize);
  g_clear_pointer (&self->nearest_candidates, sqlite3_finalize);
  g_clear_pointer (&self->nearest_by_category, sqlite3_finalize);
  g_clear_pointer (&self->nearest_any, sqlite3_finalize);
  g_clear_object (&self->trust);
  close_store (&self->store);
  g_clear_object (&self->identity);

  G_OBJECT_CLASS (mh_node_parent_class)->dispose (object);
}

static void
mh_node_finalize (GObject *object)
{
  MhNode *self = MH_NODE (object);

  g_free (self->data_dir);
  g_free (self->volume_how);
  g_free (self->name);
  g_free (self->hospital_id);
  g_free (self->unit_id);
  g_free (self->site_id);
  g_clear_pointer (&self->pending_arrivals, g_ptr_array_unref);
  g_clear_pointer (&self->pending_receipts, g_ptr_array_unref);

  G_OBJECT_CLASS (mh_node_parent_class)->finalize (object);
}

static void
mh_node_class_init (MhNodeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mh_node_dispose;
  object_class->finalize = mh_node_finalize;

  /**
   * MhNode::messages-changed:
   *
   * Messages (or retractions) arrived here, from this node or a peer.
   */
  signals[SIGNAL_MESSAGES_CHANGED] = g_signal_new ("messages-changed", G_TYPE_FROM_CLASS (klass),
                                                   G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                   G_TYPE_NONE, 0);
  /**
   * MhNode::messages-delivered:
   *
   * A peer acknowledged some of this node's local-only messages.
   */
  signals[SIGNAL_MESSAGES_DELIVERED] = g_signal_new ("messages-delivered",
                                                     G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                     0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /**
   * MhNode::incident-assigned:
   * @incident_id: the incident
   *
   * A hub assigned an incident to this station's unit, and the crew has
   * not answered that assignment yet (mh-dispatch.h). Emitted once per
   * assignment, after the change is committed here.
   */
  signals[SIGNAL_INCIDENT_ASSIGNED] = g_signal_new ("incident-assigned",
                                                    G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                    0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                                    G_TYPE_STRING);
}

static void
mh_node_init (MhNode *self)
{
  self->grace_minutes = MH_NODE_DEFAULT_GRACE_MIN;
  self->retention_hours = MH_NODE_DEFAULT_RETENTION_HOURS;
  self->audit_days = MH_NODE_DEFAULT_AUDIT_DAYS;
  self->pending_arrivals = g_ptr_array_new_with_free_func (g_free);
  self->pending_receipts = g_ptr_array_new_with_free_func (g_free);
}

/* ------------------------------------------------------------------------ */
/* Setting up and opening                                                   */

static char *
new_api_token (void)
{
  guint8 bytes[TOKEN_BYTES];
  gsize got = 0;
  GString *hex = g_string_sized_new (2 * TOKEN_BYTES);

  while (got < sizeof bytes)
    {
      ssize_t n = getrandom (bytes + got, sizeof bytes - got, 0);

      if (n < 0 && errno != EINTR)
        g_error ("no random numbers from the kernel: %s", g_strerror (errno));
      if (n > 0)
        got += (gsize) n;
    }
  for (gsize i = 0; i < sizeof bytes; i++)
    g_string_append_printf (hex, "%02x", bytes[i]);
  memset (bytes, 0, sizeof bytes);
  return g_string_free (hex, FALSE);
}

static gboolean
write_api_token (const char *data_dir, GError **error)
{
  g_autofree char *path = g_build_filename (data_dir, API_TOKEN, NULL);
  g_autofree char *token = new_api_token ();
  g_autofree char *text = g_strdup_printf ("%s\n", token);
  g_autoptr(GError) local_error = NULL;
  gboolean ok;

  /* Created 0600 from the start: never readable by others, not even for
   * the moment between a create and a chmod. */
  ok = g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                 &local_error);
  memset (token, 0, strlen (token));
  memset (text, 0, strlen (text));
  if (!ok)
    return fail (error, MH_NODE_ERROR_FAILED, _("cannot write %s: %s"), path, local_error->message);
  return TRUE;
}

static void
remove_replica_files (const char *db_path)
{
  static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };

  for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *path = g_strconcat (db_path, suffixes[i], NULL);
      g_unlink (path);
    }
}

static gboolean
check_id_argument (const char *id, const char *what, GError **error)
{
  if (id == NULL)
    return fail (error, MH_NODE_ERROR_INVALID, _("%s: required"), what);
  if (!mh_medhead_id_is_valid (id))
    return fail (error, MH_NODE_ERROR_INVALID, _("%s: not a valid id"), what);
  return TRUE;
}

static GVariant *
site_values (const char *name, MhRole role, const char *hospital_id, const char *unit_id)
{
  GVariantDict site;

  g_variant_dict_init (&site, NULL);
  g_variant_dict_insert (&site, "name", "s", name);
  g_variant_dict_insert (&site, "role", "s", mh_role_to_string (role));
  if (hospital_id != NULL)
    g_variant_dict_insert (&site, "hospital_id", "s", hospital_id);
  if (unit_id != NULL)
    g_variant_dict_insert (&site, "unit_id", "s", unit_id);
  return g_variant_dict_end (&site);
}

/**
 * mh_node_init_data_dir:
 * @hospital_id: (nullable): for a hospital node, the hospital it speaks for
 *   (it need not be in the registry yet)
 * @unit_id: (nullable): for an ambulance node, its unit
 *
 * Creates a node's data directory (mode 0700): the identity, node.ini, the
 * API token (mode 0600) and the replica holding this site's registry row.
 */
gboolean
mh_node_init_data_dir (const char *data_dir, const char *name, MhRole role,
                       const char *hospital_id, const char *unit_id, GError **error)
{
  g_autofree char *db_path = NULL;
  g_autofree char *ini_path = NULL;
  g_autofree char *ini_text = NULL;
  g_autoptr(GKeyFile) ini = NULL;
  g_autoptr(MhIdentity) identity = NULL;
  g_autoptr(MhSchema) schema = NULL;
  MhStore *store = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *site_id;
  gboolean ok;

  g_return_val_if_fail (data_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (name == NULL || *name == '\0')
    return fail (error, MH_NODE_ERROR_INVALID, _("name: required"));
  if (mh_role_to_string (role) == NULL)
    return fail (error, MH_NODE_ERROR_INVALID, _("role: must be hospital, ambulance or hub"));
  if (role == MH_ROLE_HOSPITAL && !check_id_argument (hospital_id, "hospital_id", error))
    return FALSE;
  if (role == MH_ROLE_AMBULANCE && !check_id_argument (unit_id, "unit_id", error))
    return FALSE;
  if (role != MH_ROLE_HOSPITAL && hospital_id != NULL)
    return fail (error, MH_NODE_ERROR_INVALID, _("hospital_id: only for a hospital node"));
  if (role != MH_ROLE_AMBULANCE && unit_id != NULL)
    return fail (error, MH_NODE_ERROR_INVALID, _("unit_id: only for an ambulance node"));

  db_path = g_build_filename (data_dir, REPLICA_DB, NULL);
  if (g_file_test (db_path, G_FILE_TEST_EXISTS))
    return fail (error, MH_NODE_ERROR_CONFIG, _("%s is already initialised"), data_dir);
  if (g_mkdir_with_parents (data_dir, 0700) != 0)
    {
      int saved = errno;
      return fail (error, MH_NODE_ERROR_CONFIG, _("cannot create %s: %s"), data_dir,
                   g_strerror (saved));
    }

  identity = mh_identity_load_or_create (data_dir, &local_error);
  if (identity == NULL)
    return fail (error, MH_NODE_ERROR_CONFIG, "%s", local_error->message);
  site_id = mh_identity_get_site_id (identity);

  ini = g_key_file_new ();
  g_key_file_set_string (ini, "node", "name", name);
  g_key_file_set_string (ini, "node", "role", mh_role_to_string (role));
  g_key_file_set_string (ini, "node", "hospital_id", hospital_id ? hospital_id : "");
  g_key_file_set_string (ini, "node", "unit_id", unit_id ? unit_id : "");
  g_key_file_set_string (ini, "node", "site_id", site_id);
  g_key_file_set_string (ini, "node", "fingerprint", mh_identity_get_fingerprint (identity));
  g_key_file_set_integer (ini, "domain", "grace_minutes", MH_NODE_DEFAULT_GRACE_MIN);
  g_key_file_set_integer (ini, "domain", "retention_hours", MH_NODE_DEFAULT_RETENTION_HOURS);
  g_key_file_set_integer (ini, "domain", "audit_days", MH_NODE_DEFAULT_AUDIT_DAYS);
  ini_text = g_key_file_to_data (ini, NULL, NULL);
  ini_path = g_build_filename (data_dir, NODE_INI, NULL);
  if (!g_file_set_contents_full (ini_path, ini_text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                 &local_error))
    return fail (error, MH_NODE_ERROR_FAILED, "%s", local_error->message);
  if (!write_api_token (data_dir, error))
    return FALSE;

  /* The replica last: its presence is what "initialised" means. */
  schema = mh_medhead_schema_new ();
  store = mh_store_open (db_path, schema, site_id, &local_error);
  if (store == NULL)
    {
      remove_replica_files (db_path);
      return fail (error, MH_NODE_ERROR_FAILED, "%s", local_error->message);
    }
  install_validator (store);
  mh_store_set_identity (store, identity);
  ok = mh_store_insert (store, "site", site_id, site_values (name, role, hospital_id, unit_id),
                        &local_error);
  close_store (&store);
  if (!ok)
    {
      remove_replica_files (db_path);
      return fail_from_store (error, g_steal_pointer (&local_error), NULL);
    }
  return TRUE;
}

static char *
ini_get_optional (GKeyFile *ini, const char *group, const char *key)
{
  char *value = g_key_file_get_string (ini, group, key, NULL);

  if (value != NULL && *value == '\0')
    g_clear_pointer (&value, g_free);
  return value;
}

static gboolean
load_config (MhNode *self, GError **error)
{
  g_autofree char *path = g_build_filename (self->data_dir, NODE_INI, NULL);
  g_autoptr(GKeyFile) ini = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  g_autofree char *role = NULL;
  gint grace;

  if (!g_key_file_load_from_file (ini, path, G_KEY_FILE_NONE, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return fail (error, MH_NODE_ERROR_CONFIG,
                     _("%s is not a node's data directory (no %s): run medhead-node init"),
                     self->data_dir, NODE_INI);
      return fail (error, MH_NODE_ERROR_CONFIG, "%s: %s", path, local_error->message);
    }

  self->name = ini_get_optional (ini, "node", "name");
  role = ini_get_optional (ini, "node", "role");
  self->hospital_id = ini_get_optional (ini, "node", "hospital_id");
  self->unit_id = ini_get_optional (ini, "node", "unit_id");
  self->site_id = ini_get_optional (ini, "node", "site_id");
  if (self->name == NULL || self->site_id == NULL || !mh_role_from_string (role, &self->role))
    return fail (error, MH_NODE_ERROR_CONFIG, _("%s: name, role or site_id missing or invalid"),
                 path);
  if ((self->role == MH_ROLE_HOSPITAL && !mh_medhead_id_is_valid (self->hospital_id))
      || (self->role == MH_ROLE_AMBULANCE && !mh_medhead_id_is_valid (self->unit_id)))
    return fail (error, MH_NODE_ERROR_CONFIG, _("%s: the %s node has no valid %s"), path, role,
                 self->role == MH_ROLE_HOSPITAL ? "hospital_id" : "unit_id");
  if (self->role != MH_ROLE_HOSPITAL)
    g_clear_pointer (&self->hospital_id, g_free);
  if (self->role != MH_ROLE_AMBULANCE)
    g_clear_pointer (&self->unit_id, g_free);

  grace = g_key_file_get_integer (ini, "domain", "grace_minutes", &local_error);
  if (local_error == NULL && grace > 0)
    self->grace_minutes = (guint) grace;
  g_clear_error (&local_error);
  for (guint i = 0; i < 2; i++)
    {
      const char *key = i == 0 ? "retention_hours" : "audit_days";
      gint value = g_key_file_get_integer (ini, "domain", key, &local_error);

      if (local_error == NULL && value <= 0)
        return fail (error, MH_NODE_ERROR_CONFIG, _("%s: %s must be a positive number"), path, key);
      if (local_error == NULL)
        *(i == 0 ? &self->retention_hours : &self->audit_days) = (guint) value;
      g_clear_error (&local_error);
    }
  return TRUE;
}

/* The site's registry row, in case an init was cut short after the
 * replica was made. */
static gboolean
ensure_site_row (MhNode *self, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (mh_store_get_row_state (self->store, "site", self->site_id) != MH_ROW_ABSENT)
    return TRUE;
  if (!mh_store_insert (self->store, "site", self->site_id,
                        site_values (self->name, self->role, self->hospital_id, self->unit_id),
                        &local_error))
    return fail_from_store (error, g_steal_pointer (&local_error), NULL);
  return TRUE;
}

/**
 * mh_node_open:
 *
 * Opens a data directory made by mh_node_init_data_dir().
 *
 * Returns: (transfer full): the node, or %NULL with @error set
 *   (%MH_NODE_ERROR_CONFIG when the directory is missing or corrupt)
 */
MhNode *
mh_node_open (const char *data_dir, GError **error)
{
  return mh_node_open_full (data_dir, MH_NODE_OPEN_DEFAULT, error);
}

/**
 * mh_node_open_full:
 * @flags: what the node is opened for
 *
 * mh_node_open(), for a node inside an application
 * (%MH_NODE_OPEN_EMBEDDED) or a server.
 *
 * Returns: (transfer full): the node, or %NULL with @error set
 */
MhNode *
mh_node_open_full (const char *data_dir, MhNodeOpenFlags flags, GError **error)
{
  g_autoptr(MhNode) self = NULL;
  g_autoptr(MhSchema) schema = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *db_path = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (data_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (MH_TYPE_NODE, NULL);
  self->open_flags = flags;
  self->data_dir = g_strdup (data_dir);
  if (!load_config (self, error))
    return NULL;

  db_path = g_build_filename (data_dir, REPLICA_DB, NULL);
  if (!g_file_test (db_path, G_FILE_TEST_IS_REGULAR))
    {
      fail (error, MH_NODE_ERROR_CONFIG, _("%s has no replica: run medhead-node init"), data_dir);
      return NULL;
    }

  self->identity = mh_identity_load_or_create (data_dir, &local_error);
  if (self->identity == NULL)
    {
      fail (error, MH_NODE_ERROR_CONFIG, "%s", local_error->message);
      return NULL;
    }
  if (g_strcmp0 (mh_identity_get_site_id (self->identity), self->site_id) != 0)
    {
      fail (error, MH_NODE_ERROR_CONFIG,
            _("%s: the key pair is not the one of site %s (restored from another node?)"),
            data_dir, self->site_id);
      return NULL;
    }

  schema = mh_medhead_schema_new ();
  self->store = mh_store_open (db_path, schema, self->site_id, &local_error);
  if (self->store == NULL)
    {
      fail (error, MH_NODE_ERROR_CONFIG, "%s", local_error->message);
      return NULL;
    }
  install_validator (self->store);
  /* Need to know (DESIGN.md section 4): what each peer may hold. */
  mh_medhead_audience_install (self->store);
  /* Every write of this node is signed, and every change from a peer must
   * be signed by its origin (DESIGN.md section 5). */
  mh_store_set_identity (self->store, self->identity);
  mh_store_set_verify_signatures (self->store, TRUE);

  /* A node of a network checks admission chains and revocations. */
  {
    g_autofree char *network_key = mh_trust_read_network_key (data_dir, &local_error);

    if (local_error != NULL)
      {
        fail (error, MH_NODE_ERROR_CONFIG, "%s", local_error->message);
        return NULL;
      }
    if (network_key != NULL)
      {
        self->trust = mh_trust_new (self->store, network_key, &local_error);
        if (self->trust == NULL)
          {
            fail (error, MH_NODE_ERROR_CONFIG, "%s", local_error->message);
            return NULL;
          }
        mh_trust_install_filter (self->trust);
      }
  }

  /* A test-only skew of this node's own clock (the peer network's tests
   * run a node a year ahead, or ten minutes behind). */
  {
    const char *offset = g_getenv ("MEDHEAD_TEST_CLOCK_OFFSET_MS");
    if (offset != NULL && *offset != '\0')
      mh_store_set_clock_offset (self->store, g_ascii_strtoll (offset, NULL, 10));
    /* Only the domain's time (expiry, staleness, retention): a test moves
     * it a day on without its writes being held by peers. */
    offset = g_getenv ("MEDHEAD_TEST_TIME_OFFSET_MS");
    if (offset != NULL && *offset != '\0')
      self->time_offset_ms = g_ascii_strtoll (offset, NULL, 10);
  }

  if (!setup_aux_tables (self, error) || !mh_retention_setup (self, error)
      || !ensure_site_row (self, error))
    return NULL;

  stmt = prepare (self, "SELECT MAX(arrived_at) FROM node_message_arrival", error);
  if (stmt == NULL)
    return NULL;
  if (sqlite3_step (stmt) == SQLITE_ROW)
    self->last_arrival_ms = sqlite3_column_int64 (stmt, 0);
  g_clear_pointer (&stmt, sqlite3_finalize);
  if (!stamp_unseen_messages (self, NULL))
    g_message ("cannot record message arrivals");

  g_signal_connect (self->store, "changed::message", G_CALLBACK (message_changed_cb), self);
  g_signal_connect (self->store, "changed::retraction", G_CALLBACK (message_changed_cb), self);
  g_signal_connect (self->store, "committed", G_CALLBACK (store_committed_cb), self);
  if (self->role != MH_ROLE_AMBULANCE)
    g_signal_connect (self->store, "changed::transfer", G_CALLBACK (transfer_arrived_cb), self);
  if (self->role == MH_ROLE_HOSPITAL)
    {
      g_signal_connect (self->store, "changed::transfer", G_CALLBACK (transfer_changed_cb), self);
      g_signal_connect (self->store, "changed::beds", G_CALLBACK (own_hospital_changed_cb),
                        self);
      g_signal_connect (self->store, "changed::hospital", G_CALLBACK (own_hospital_changed_cb),
                        self);
      refresh_committed_quietly (self);
      /* Expiries happen with no change arriving. */
      self->refresh_source = g_timeout_add_seconds (REFRESH_INTERVAL_S, refresh_timeout_cb, self);
    }
  mh_node_watch_incidents (self);
  return g_steal_pointer (&self);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */

MhStore *
mh_node_get_store (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->store;
}

MhIdentity *
mh_node_get_identity (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->identity;
}

const char *
mh_node_get_fingerprint (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return mh_identity_get_fingerprint (self->identity);
}

const char *
mh_node_get_data_dir (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->data_dir;
}

const char *
mh_node_get_site_id (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->site_id;
}

const char *
mh_node_get_name (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->name;
}

MhRole
mh_node_get_role (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), MH_ROLE_HUB);
  return self->role;
}

const char *
mh_node_get_hospital_id (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->hospital_id;
}

const char *
mh_node_get_unit_id (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->unit_id;
}

/**
 * mh_node_read_api_token:
 *
 * Returns: (transfer full): the API token, without its newline
 */
char *
mh_node_read_api_token (MhNode *self, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) local_error = NULL;
  char *text = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  path = g_build_filename (self->data_dir, API_TOKEN, NULL);
  if (!g_file_get_contents (path, &text, NULL, &local_error))
    {
      fail (error, MH_NODE_ERROR_CONFIG, "%s", local_error->message);
      return NULL;
    }
  return g_strstrip (text);
}

gboolean
mh_node_rotate_api_token (MhNode *self, GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), FALSE);
  return write_api_token (self->data_dir, error);
}

void
mh_node_set_grace_minutes (MhNode *self, guint minutes)
{
  g_return_if_fail (MH_IS_NODE (self));
  g_return_if_fail (minutes > 0);

  if (self->grace_minutes == minutes)
    return;
  self->grace_minutes = minutes;
  refresh_committed_quietly (self);
}

guint
mh_node_get_grace_minutes (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), MH_NODE_DEFAULT_GRACE_MIN);
  return self->grace_minutes;
}

void
mh_node_set_retention (MhNode *self, guint retention_hours, guint audit_days)
{
  g_return_if_fail (MH_IS_NODE (self));
  g_return_if_fail (retention_hours > 0 && audit_days > 0);

  self->retention_hours = retention_hours;
  self->audit_days = audit_days;
}

guint
mh_node_get_retention_hours (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), MH_NODE_DEFAULT_RETENTION_HOURS);
  return self->retention_hours;
}

guint
mh_node_get_audit_days (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), MH_NODE_DEFAULT_AUDIT_DAYS);
  return self->audit_days;
}

void
mh_node_set_time_offset (MhNode *self, gint64 offset_ms)
{
  g_return_if_fail (MH_IS_NODE (self));

  if (self->time_offset_ms == offset_ms)
    return;
  self->time_offset_ms = offset_ms;
  refresh_committed_quietly (self);
}

gboolean
mh_node_refresh_committed (MhNode *self, GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), FALSE);
  return refresh_committed (self, error);
}

/* ------------------------------------------------------------------------ */
/* Hospitals: reading                                                       */

#define HOSPITAL_SELECT                                                                    \
  "SELECT h.id, h.name, h.address, h.city, h.lat, h.lon, h.phone_switchboard,"             \
  " h.phone_emergency, h.specialties, h.report_interval_min, s.ems_traffic,"               \
  " s.ems_traffic_reason, s.facility, s.clinical, s.offload, s.offload_minutes"            \
  " FROM hospital h LEFT JOIN hospital_status s ON s.id = h.id"

/* Registers are validated one by one: a peer's row may hold its phones
 * while its identity was refused (or has not arrived). Such a row is no
 * hospital anyone can be sent to, and is not shown. */
#define HOSPITAL_KNOWN "h.name IS NOT NULL"
#define UNIT_KNOWN "u.call_sign IS NOT NULL"

enum
{
  HOSPITAL_ID,
  HOSPITAL_NAME,
  HOSPITAL_ADDRESS,
  HOSPITAL_CITY,
  HOSPITAL_LAT,
  HOSPITAL_LON,
  HOSPITAL_PHONE_SWITCHBOARD,
  HOSPITAL_PHONE_EMERGENCY,
  HOSPITAL_SPECIALTIES,
  HOSPITAL_REPORT_INTERVAL,
  HOSPITAL_EMS_TRAFFIC,
  HOSPITAL_OFFLOAD_MINUTES = HOSPITAL_EMS_TRAFFIC + 5,
};

/* Adds one row of beds to @beds: from column @first on, the category,
 * available, baseline, surge_24h, committed_inbound, reported_at and
 * reported_by. A category this program does not know (from a newer schema)
 * is shown as it is, with no free bed. */
static void
add_bed_row (MhNode *self, JsonObject *beds, sqlite3_stmt *stmt, int first, gint64 interval_min,
             gboolean for_export)
{
  const char *category = column_text (stmt, first);
  JsonObject *bed;
  gint64 available = sqlite3_column_int64 (stmt, first + 1);
  gint64 committed = sqlite3_column_int64 (stmt, first + 4);

  if (for_export)
    {
      /* What a registry file carries: the counts, not who reported
       * them when, nor what is derived from transfers. */
      if (!mh_medhead_is_bed_category (category) || column_is_null (stmt, first + 1))
        return;
      bed = json_object_new ();
      set_column (bed, "available", stmt, first + 1);
      set_column (bed, "baseline", stmt, first + 2);
      set_column (bed, "surge_24h", stmt, first + 3);
      json_object_set_object_member (beds, category, bed);
      return;
    }

  bed = json_object_new ();
  set_text (bed, "category", category);
  set_column (bed, "available", stmt, first + 1);
  set_column (bed, "baseline", stmt, first + 2);
  set_column (bed, "surge_24h", stmt, first + 3);
  json_object_set_int_member (bed, "committed_inbound", committed);
  json_object_set_int_member (bed, "free", mh_medhead_is_bed_category (category)
                                             ? MAX (0, available - committed)
                                             : 0);
  set_column (bed, "reported_at", stmt, first + 5);
  set_column (bed, "reported_by", stmt, first + 6);
  json_object_set_boolean_member (bed, "stale",
                                  count_is_stale (self, !column_is_null (stmt, first + 5),
                                                  sqlite3_column_int64 (stmt, first + 5),
                                                  interval_min));
  json_object_set_object_member (beds, category, bed);
}

/* The beds of one hospital, by category. */
static JsonObject *
beds_to_json (MhNode *self, const char *hospital_id, gint64 interval_min, gboolean for_export,
              GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonObject) beds = json_object_new ();

  stmt = prepare (self,
                  "SELECT substr(id, instr(id, '/') + 1), available, baseline, surge_24h,"
                  " committed_inbound, reported_at, reported_by FROM beds"
                  " WHERE id > ?1 AND id < ?2 ORDER BY id",
                  error);
  if (stmt == NULL)
    return NULL;
  bind_prefix_range (stmt, 1, hospital_id);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    add_bed_row (self, beds, stmt, 0, interval_min, for_export);
  return g_steal_pointer (&beds);
}

static JsonObject *
hospital_from_row (MhNode *self, sqlite3_stmt *stmt, gboolean for_export, GError **error)
{
  g_autoptr(JsonObject) hospital = json_object_new ();
  JsonObject *beds;

  set_columns (hospital, stmt, HOSPITAL_ID, HOSPITAL_PHONE_EMERGENCY);
  json_object_set_array_member (hospital, "specialties",
                                specialties_to_json (column_text (stmt, HOSPITAL_SPECIALTIES)));
  set_columns (hospital, stmt, HOSPITAL_REPORT_INTERVAL, HOSPITAL_OFFLOAD_MINUTES);
  beds = beds_to_json (self, column_text (stmt, HOSPITAL_ID),
                       sqlite3_column_int64 (stmt, HOSPITAL_REPORT_INTERVAL), for_export, error);
  if (beds == NULL)
    return NULL;
  json_object_set_object_member (hospital, "beds", beds);
  if (!for_export)
    json_object_set_boolean_member (hospital, "stale",
                                    set_heartbeat (self, hospital,
                                                   column_text (stmt, HOSPITAL_ID)));
  return g_steal_pointer (&hospital);
}

typedef struct
{
  JsonObject *beds; /* borrowed from its hospital */
  gint64 interval_min;
} Listed;

/* Every hospital in three queries (hospitals, every bed, every heartbeat),
 * not two more per hospital: a region's thousand hospitals made the
 * desktop's cold start wait seconds on them. */
static JsonArray *
list_hospitals (MhNode *self, gboolean for_export, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(sqlite3_stmt) beds = NULL;
  g_autoptr(sqlite3_stmt) beats = NULL;
  g_autoptr(JsonArray) list = json_array_new ();
  g_autoptr(GHashTable) by_id = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) last_beat = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  int rc;

  if (!for_export)
    {
      /* The same rule as hospital_last_heartbeat(), for all at once. */
      beats = prepare (self,
                       "SELECT hospital_id, max(heartbeat_at) FROM site"
                       " WHERE role = 'hospital' AND hospital_id IS NOT NULL GROUP BY hospital_id",
                       error);
      if (beats == NULL)
        return NULL;
      while ((rc = sqlite3_step (beats)) == SQLITE_ROW)
        g_hash_table_insert (last_beat, g_strdup (column_text (beats, 0)),
                             g_memdup2 (&(gint64){ sqlite3_column_int64 (beats, 1) },
                                        sizeof (gint64)));
      if (rc != SQLITE_DONE)
        {
          sqlite_fail (self, error, _("listing heartbeats"));
          return NULL;
        }
    }

  stmt = prepare (self, HOSPITAL_SELECT " WHERE " HOSPITAL_KNOWN " ORDER BY h.name, h.id", error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *id = column_text (stmt, HOSPITAL_ID);
      JsonObject *hospital = json_object_new ();
      Listed *listed = g_new0 (Listed, 1);

      set_columns (hospital, stmt, HOSPITAL_ID, HOSPITAL_PHONE_EMERGENCY);
      json_object_set_array_member (hospital, "specialties",
                                    specialties_to_json (column_text (stmt, HOSPITAL_SPECIALTIES)));
      set_columns (hospital, stmt, HOSPITAL_REPORT_INTERVAL, HOSPITAL_OFFLOAD_MINUTES);
      listed->beds = json_object_new ();
      listed->interval_min = sqlite3_column_int64 (stmt, HOSPITAL_REPORT_INTERVAL);
      json_object_set_object_member (hospital, "beds", listed->beds);
      if (!for_export)
        {
          const gint64 *last = g_hash_table_lookup (last_beat, id);

          json_object_set_boolean_member (hospital, "stale",
                                          set_heartbeat_value (self, hospital, last ? *last : 0));
        }
      g_hash_table_insert (by_id, g_strdup (id), listed);
      json_array_add_object_element (list, hospital);
    }
  if (rc != SQLITE_DONE)
    {
      sqlite_fail (self, error, _("listing hospitals"));
      return NULL;
    }

  /* By id, as beds_to_json() reads them: each hospital's categories come
   * in the same order. A bed's id is its hospital's, a slash, its category. */
  beds = prepare (self,
                  "SELECT substr(id, 1, instr(id, '/') - 1), substr(id, instr(id, '/') + 1),"
                  " available, baseline, surge_24h, committed_inbound, reported_at, reported_by"
                  " FROM beds WHERE instr(id, '/') > 1 ORDER BY id",
                  error);
  if (beds == NULL)
    return NULL;
  while ((rc = sqlite3_step (beds)) == SQLITE_ROW)
    {
      Listed *listed = g_hash_table_lookup (by_id, column_text (beds, 0));
      const char *category = column_text (beds, 1);

      if (listed != NULL && category != NULL && category[0] != '\0')
        add_bed_row (self, listed->beds, beds, 1, listed->interval_min, for_export);
    }
  if (rc != SQLITE_DONE)
    {
      sqlite_fail (self, error, _("listing beds"));
      return NULL;
    }
  return g_steal_pointer (&list);
}

/**
 * mh_node_list_hospitals:
 *
 * Returns: (transfer full): every hospital, by name
 */
JsonArray *
mh_node_list_hospitals (MhNode *self, GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return list_hospitals (self, FALSE, error);
}

/**
 * mh_node_get_hospital:
 *
 * Returns: (transfer full): the hospital, or %NULL with %MH_NODE_ERROR_NOT_FOUND
 */
JsonObject *
mh_node_get_hospital (MhNode *self, const char *id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  stmt = prepare (self, HOSPITAL_SELECT " WHERE " HOSPITAL_KNOWN " AND h.id = ?1", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      fail (error, MH_NODE_ERROR_NOT_FOUND, _("no hospital %s"), id);
      return NULL;
    }
  return hospital_from_row (self, stmt, FALSE, error);
}

/* ------------------------------------------------------------------------ */
/* Hospitals: writing                                                       */

static const InputField hospital_fields[] = {
  { "name", "hospital", "name", IN_TEXT },
  { "address", "hospital", "address", IN_TEXT },
  { "city", "hospital", "city", IN_TEXT },
  { "lat", "hospital", "lat", IN_REAL },
  { "lon", "hospital", "lon", IN_REAL },
  { "phone_switchboard", "hospital", "phone_switchboard", IN_TEXT },
  { "phone_emergency", "hospital", "phone_emergency", IN_TEXT },
  { "specialties", "hospital", "specialties", IN_SPECIALTIES },
  { "report_interval_min", "hospital", "report_interval_min", IN_INT },
  { "ems_traffic", "hospital_status", "ems_traffic", IN_TEXT },
  { "ems_traffic_reason", "hospital_status", "ems_traffic_reason", IN_TEXT },
  { "facility", "hospital_status", "facility", IN_TEXT },
  { "clinical", "hospital_status", "clinical", IN_TEXT },
  { "offload", "hospital_status", "offload", IN_TEXT },
  { "offload_minutes", "hospital_status", "offload_minutes", IN_INT },
};

static const InputField bed_fields[] = {
  { "available", "beds", "available", IN_INT },
  { "baseline", "beds", "baseline", IN_INT },
  { "surge_24h", "beds", "surge_24h", IN_INT },
};

static const char *const hospital_special_members[] = { "id", "beds", NULL };

typedef enum
{
  WRITE_CREATE, /* a new row: the id must be free */
  WRITE_PATCH,  /* an existing row: what is not named stays */
  WRITE_IMPORT, /* either: a registry file is applied again and again */
} WriteMode;

/* Writes one bed report inside a transaction. A report replaces the whole
 * register: a count left out is unknown, not kept from the last report. */
static gboolean
write_beds (MhNode *self, const char *hospital_id, const char *category, JsonObject *fields,
            const char *path, GError **error)
{
  g_autofree char *row = g_strdup_printf ("%s/%s", hospital_id, category);
  g_autoptr(GError) local_error = NULL;
  TableValues values;
  gboolean ok;

  table_values_init (&values, "beds");
  ok = collect_fields (fields, bed_fields, G_N_ELEMENTS (bed_fields), NULL, &values, 1, path,
                       error);
  if (ok && !json_object_has_member (fields, "available"))
    ok = fail (error, MH_NODE_ERROR_INVALID, _("%savailable: required"), path);
  if (!ok)
    {
      table_values_clear (&values);
      return FALSE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bed_fields); i++)
    if (!json_object_has_member (fields, bed_fields[i].member))
      table_values_set (&values, bed_fields[i].column, mh_value_null ());
  table_values_set (&values, "reported_at", g_variant_new_int64 (mh_node_now_ms (self)));
  table_values_set (&values, "reported_by", g_variant_new_string (self->name));
  if (mh_store_get_row_state (self->store, "beds", row) != MH_ROW_LIVE)
    {
      table_values_set (&values, "hospital_id", g_variant_new_string (hospital_id));
      table_values_set (&values, "category", g_variant_new_string (category));
    }
  if (!mh_store_upsert (self->store, "beds", row, table_values_end (&values), &local_error))
    return fail_from_store (error, g_steal_pointer (&local_error), path);
  return TRUE;
}

/* The "beds" member of a hospital: { category: { available, ... } }. */
static gboolean
write_beds_member (MhNode *self, const char *hospital_id, JsonObject *object, const char *path,
                   GError **error)
{
  JsonNode *node = json_object_get_member (object, "beds");
  g_autoptr(GList) categories = NULL;
  JsonObject *beds;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, MH_NODE_ERROR_INVALID, _("%sbeds: must be an object of bed categories"),
                 path);
  beds = json_node_get_object (node);
  categories = json_object_get_members (beds);
  for (GList *l = categories; l != NULL; l = l->next)
    {
      const char *category = l->data;
      JsonNode *bed = json_object_get_member (beds, category);
      g_autofree char *bed_path = g_strdup_printf ("%sbeds.%s.", path, category);

      if (!mh_medhead_is_bed_category (category))
        return fail (error, MH_NODE_ERROR_INVALID, _("%sbeds.%s: unknown bed category"), path,
                     category);
      if (!JSON_NODE_HOLDS_OBJECT (bed))
        return fail (error, MH_NODE_ERROR_INVALID, _("%sbeds.%s: must be an object"), path,
                     category);
      if (!write_beds (self, hospital_id, category, json_node_get_object (bed), bed_path, error))
        return FALSE;
    }
  return TRUE;
}

typedef struct
{
  MhNode *self;
  const char *id;
  JsonObject *fields;
  const char *path;
  WriteMode mode;
} HospitalWrite;

/* The hospital row, its statuses and its beds: one transaction. */
static gboolean
write_hospital (HospitalWrite *write, GError **error)
{
  MhNode *self = write->self;
  g_autoptr(GError) local_error = NULL;
  TableValues tables[2];
  gboolean desk_owned = FALSE;
  gboolean ok;

  table_values_init (&tables[0], "hospital");
  table_values_init (&tables[1], "hospital_status");
  ok = collect_fields (write->fields, hospital_fields, G_N_ELEMENTS (hospital_fields),
                       hospital_special_members, tables, 2, write->path, error);
  if (!ok)
    goto out;

  switch (write->mode)
    {
    case WRITE_CREATE:
      ok = mh_store_insert (self->store, "hospital", write->id, table_values_end (&tables[0]),
                            &local_error);
      break;
    case WRITE_IMPORT:
      ok = mh_store_upsert (self->store, "hospital", write->id, table_values_end (&tables[0]),
                            &local_error);
      /* A hub keeps the registry; a hospital with a site of its own keeps
       * its beds and statuses, which a registry file must not overwrite. */
      desk_owned = self->role == MH_ROLE_HUB
                   && mh_medhead_hospital_has_site (self->store, write->id);
      break;
    case WRITE_PATCH:
    default:
      if (tables[0].n > 0)
        ok = mh_store_update (self->store, "hospital", write->id, table_values_end (&tables[0]),
                              &local_error);
      break;
    }
  if (!ok)
    {
      ok = fail_from_store (error, g_steal_pointer (&local_error), write->path);
      goto out;
    }

  if (tables[1].n > 0 && !desk_owned
      && !mh_store_upsert (self->store, "hospital_status", write->id,
                           table_values_end (&tables[1]), &local_error))
    {
      ok = fail_from_store (error, g_steal_pointer (&local_error), write->path);
      goto out;
    }
  if (!desk_owned)
    ok = write_beds_member (self, write->id, write->fields, write->path, error);

out:
  table_values_clear (&tables[0]);
  table_values_clear (&tables[1]);
  return ok;
}

static gboolean
write_hospital_txn (MhStore *store, gpointer user_data, GError **error)
{
  return write_hospital (user_data, error);
}

/* Runs a transaction whose function reports node errors (or store errors,
 * mapped here). */
static gboolean
transact (MhNode *self, MhTransactionFunc func, gpointer data, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (!mh_store_transact (self->store, func, data, &local_error))
    return fail_from_store (error, g_steal_pointer (&local_error), NULL);
  return TRUE;
}

/* For mh-dispatch.c (mh-node-private.h). */
gboolean
mh_node_transact (MhNode *self, MhTransactionFunc func, gpointer data, GError **error)
{
  return transact (self, func, data, error);
}

gboolean
mh_node_fail_from_store (GError **error, GError *store_error)
{
  return fail_from_store (error, store_error, NULL);
}

static gboolean
require_object (JsonObject *fields, GError **error)
{
  if (fields == NULL)
    return fail (error, MH_NODE_ERROR_INVALID, _("body: must be a JSON object"));
  return TRUE;
}

/**
 * mh_node_create_hospital:
 * @fields: the hospital (see mh-node.h), with its statuses and optionally
 *   "beds"; "id" a UUID when given
 *
 * Returns: (transfer full): the new hospital's id, or %NULL with @error set
 */
char *
mh_node_create_hospital (MhNode *self, JsonObject *fields, GError **error)
{
  g_autofree char *id = NULL;
  HospitalWrite write = { 0 };

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (!require_object (fields, error) || (id = take_new_id (fields, "", error)) == NULL)
    return NULL;
  write.self = self;
  write.id = id;
  write.fields = fields;
  write.path = "";
  write.mode = WRITE_CREATE;
  if (!transact (self, write_hospital_txn, &write, error))
    return NULL;
  return g_steal_pointer (&id);
}

static gboolean
check_row_live (MhNode *self, const char *table, const char *id, const char *what,
                GError **error)
{
  if (id == NULL || mh_store_get_row_state (self->store, table, id) != MH_ROW_LIVE)
    return fail (error, MH_NODE_ERROR_NOT_FOUND, _("no %s %s"), what, id ? id : "");
  return TRUE;
}

/* "id" may be repeated in a PATCH body, never changed. */
static gboolean
check_same_id (JsonObject *fields, const char *id, GError **error)
{
  const char *given;

  if (!get_string_member (fields, "id", "", &given, error))
    return FALSE;
  if (json_object_has_member (fields, "id") && g_strcmp0 (given, id) != 0)
    return fail (error, MH_NODE_ERROR_INVALID, _("id: cannot be changed"));
  return TRUE;
}

gboolean
mh_node_patch_hospital (MhNode *self, const char *id, JsonObject *fields, GError **error)
{
  HospitalWrite write = { 0 };

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (!require_object (fields, error) || !check_row_live (self, "hospital", id, "hospital", error)
      || !check_same_id (fields, id, error))
    return FALSE;
  write.self = self;
  write.id = id;
  write.fields = fields;
  write.path = "";
  write.mode = WRITE_PATCH;
  return transact (self, write_hospital_txn, &write, error);
}

typedef struct
{
  MhNode *self;
  const char *hospital_id;
  const char *category;
  JsonObject *fields;
} BedsWrite;

static gboolean
write_beds_txn (MhStore *store, gpointer user_data, GError **error)
{
  BedsWrite *write = user_data;

  return write_beds (write->self, write->hospital_id, write->category, write->fields, "",
                     error);
}

/**
 * mh_node_put_beds:
 * @fields: available (required), baseline, surge_24h
 *
 * Reports one category's counts, stamped now and by this node.
 */
gboolean
mh_node_put_beds (MhNode *self, const char *hospital_id, const char *category,
                  JsonObject *fields, GError **error)
{
  BedsWrite write = { self, hospital_id, category, fields };

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (!require_object (fields, error))
    return FALSE;
  if (category == NULL || !mh_medhead_is_bed_category (category))
    return fail (error, MH_NODE_ERROR_INVALID, _("category: unknown bed category"));
  if (!check_row_live (self, "hospital", hospital_id, "hospital", error))
    return FALSE;
  return transact (self, write_beds_txn, &write, error);
}

/* ------------------------------------------------------------------------ */
/* Nearest hospitals                                                        */

typedef struct
{
  double distance;
  char *id;
  char *name;
  double lat;
  double lon;
  gint64 free;
  gboolean reported;
  gint64 reported_at;
  gint64 interval_min;
  char *phone_switchboard;
  char *phone_emergency;
  char *ems_traffic;
} Hit;

static void
hit_clear (Hit *hit)
{
  g_free (hit->id);
  g_free (hit->name);
  g_free (hit->phone_switchboard);
  g_free (hit->phone_emergency);
  g_free (hit->ems_traffic);
}

static int
compare_hits (gconstpointer a, gconstpointer b)
{
  const Hit *x = a, *y = b;

  if (x->distance != y->distance)
    return x->distance < y->distance ? -1 : 1;
  return g_strcmp0 (x->id, y->id);
}

static double
radians (double degrees)
{
  return degrees * G_PI / 180.0;
}

static double
degrees (double radians_)
{
  return radians_ * 180.0 / G_PI;
}

static double
haversine_m (double lat1, double lon1, double lat2, double lon2)
{
  double dlat = radians (lat2 - lat1);
  double dlon = radians (lon2 - lon1);
  double a = sin (dlat / 2) * sin (dlat / 2)
             + cos (radians (lat1)) * cos (radians (lat2)) * sin (dlon / 2) * sin (dlon / 2);

  return 2 * EARTH_RADIUS_M * asin (MIN (1.0, sqrt (a)));
}

/* The smallest latitude/longitude box holding every point within
 * @reach_m of (lat, lon) on the sphere (the bounding coordinates of a
 * spherical cap). Returns FALSE when the box is the whole world. */
static gboolean
reach_box (double lat, double lon, double reach_m, double box[4])
{
  double d = reach_m / EARTH_RADIUS_M;
  /* Well above the R*Tree's 32-bit rounding, well below a metre. */
  const double margin = 1e-6;
  double s;

  if (d >= G_PI)
    goto world;
  box[0] = lat - degrees (d) - margin;
  box[1] = lat + degrees (d) + margin;
  box[2] = -180.0;
  box[3] = 180.0;
  /* A pole within reach: every longitude is. */
  if (box[0] <= -90.0 || box[1] >= 90.0)
    return TRUE;
  s = sin (d) / cos (radians (lat));
  if (s >= 1.0)
    return TRUE;
  box[2] = lon - degrees (asin (s)) - margin;
  box[3] = lon + degrees (asin (s)) + margin;
  /* Across the antimeridian: all longitudes, rather than two boxes. */
  if (box[2] < -180.0 || box[3] > 180.0)
    {
      box[2] = -180.0;
      box[3] = 180.0;
    }
  return TRUE;

world:
  box[0] = -90.0;
  box[1] = 90.0;
  box[2] = -180.0;
  box[3] = 180.0;
  return FALSE;
}

static char *
dup_column (sqlite3_stmt *stmt, int col)
{
  return g_strdup (column_text (stmt, col));
}

typedef struct
{
  gint64 rid;
  double approx; /* distance from the R*Tree's position */
} Candidate;

static int
compare_candidates (gconstpointer a, gconstpointer b)
{
  const Candidate *x = a, *y = b;

  if (x->approx != y->approx)
    return x->approx < y->approx ? -1 : 1;
  return x->rid < y->rid ? -1 : x->rid > y->rid;
}

/* Reads the candidates of one box that were not seen before. */
static gboolean
add_candidates (MhNode *self, double lat, double lon, const double box[4], guint specialty,
                GHashTable *seen, GArray *pending, GError **error)
{
  sqlite3_stmt *stmt = self->nearest_candidates;
  int rc;

  for (int i = 0; i < 4; i++)
    sqlite3_bind_double (stmt, i + 1, box[i]);
  sqlite3_bind_int64 (stmt, 5, specialty);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      Candidate candidate;

      candidate.rid = sqlite3_column_int64 (stmt, 0);
      if (!g_hash_table_add (seen, GSIZE_TO_POINTER ((gsize) candidate.rid)))
        continue;
      candidate.approx = haversine_m (lat, lon, sqlite3_column_double (stmt, 1),
                                      sqlite3_column_double (stmt, 2));
      g_array_append_val (pending, candidate);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return sqlite_fail (self, error, _("searching hospitals"));
  g_array_sort (pending, compare_candidates);
  return TRUE;
}

/* Checks one candidate against the category (and EMS traffic); adds it to
 * @hits, kept sorted, when it is an answer. */
static gboolean
evaluate_candidate (MhNode *self, double lat, double lon, const Candidate *candidate,
                    const char *category, GArray *hits, GError **error)
{
  sqlite3_stmt *stmt = category ? self->nearest_by_category : self->nearest_any;
  Hit hit = { 0 };
  guint at;
  int rc;

  sqlite3_bind_int64 (stmt, 1, candidate->rid);
  if (category)
    sqlite3_bind_text (stmt, 2, category, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      hit.lat = sqlite3_column_double (stmt, 2);
      hit.lon = sqlite3_column_double (stmt, 3);
      hit.distance = haversine_m (lat, lon, hit.lat, hit.lon);
      hit.id = dup_column (stmt, 0);
      hit.name = dup_column (stmt, 1);
      hit.interval_min = sqlite3_column_int64 (stmt, 4);
      hit.phone_switchboard = dup_column (stmt, 5);
      hit.phone_emergency = dup_column (stmt, 6);
      hit.ems_traffic = dup_column (stmt, 7);
      hit.free = sqlite3_column_int64 (stmt, 8);
      hit.reported = !column_is_null (stmt, 9);
      hit.reported_at = sqlite3_column_int64 (stmt, 9);
      for (at = hits->len; at > 0 && compare_hits (&g_array_index (hits, Hit, at - 1), &hit) > 0;
           at--)
        ;
      g_array_insert_val (hits, at, hit);
      rc = sqlite3_step (stmt);
    }
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  if (rc != SQLITE_DONE)
    return sqlite_fail (self, error, _("searching hospitals"));
  return TRUE;
}

/* How far the R*Tree's rounded positions may put a hospital from where it
 * is: well above the error of 32-bit coordinates (under a metre). */
#define APPROX_MARGIN_M 10.0

/*
 * The nearest answers, best first. The R*Tree gives the candidates (the
 * hospitals with the specialty) in a box holding every point within reach;
 * they are checked in order of distance, each once, until @limit answers
 * are found and no candidate left can be nearer than the last of them.
 * When the candidates within reach run out first, the reach grows (to what
 * the answers found so far suggest) and the box is searched again; until
 * the box is the whole world.
 *
 * Invariant: every hospital nearer than the last answer kept has been
 * checked. A hospital outside the box is further than the reach; one in the
 * box but not checked yet is no nearer than the next candidate.
 */
static GArray *
search_nearest (MhNode *self, double lat, double lon, guint specialty, const char *category,
                guint limit, GError **error)
{
  g_autoptr(GArray) hits = g_array_new (FALSE, TRUE, sizeof (Hit));
  g_autoptr(GArray) pending = g_array_new (FALSE, FALSE, sizeof (Candidate));
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
  double reach = NEAREST_START_M;

  g_array_set_clear_func (hits, (GDestroyNotify) hit_clear);
  for (;;)
    {
      double box[4];
      gboolean bounded = reach_box (lat, lon, reach, box);
      gboolean beaten = FALSE;
      guint next;

      if (!add_candidates (self, lat, lon, box, specialty, seen, pending, error))
        return NULL;
      for (next = 0; next < pending->len; next++)
        {
          const Candidate *candidate = &g_array_index (pending, Candidate, next);

          /* No candidate left can beat the last answer; nor can a hospital
           * outside the box, further than the reach, which the answers
           * (all checked within reach) are not. */
          if (hits->len >= limit
              && candidate->approx - APPROX_MARGIN_M
                   > g_array_index (hits, Hit, limit - 1).distance)
            {
              beaten = TRUE;
              break;
            }
          /* Beyond reach, a candidate may be further than one not seen yet. */
          if (bounded && candidate->approx > reach - APPROX_MARGIN_M)
            break;
          if (!evaluate_candidate (self, lat, lon, candidate, category, hits, error))
            return NULL;
          if (hits->len > limit)
            g_array_set_size (hits, limit);
        }
      g_array_remove_range (pending, 0, next);

      /* The whole world was searched, or enough answers, all nearer than
       * anything not checked yet. */
      if (beaten || !bounded
          || (hits->len >= limit
              && g_array_index (hits, Hit, limit - 1).distance < reach - 2 * APPROX_MARGIN_M))
        break;
      /* Grow the reach to what the answers so far suggest (the area
       * holding @limit of them, with a margin): at least by half, at most
       * four-fold; usually one more search. */
      reach *= hits->len > 0 ? CLAMP (sqrt ((double) limit / hits->len) * 1.25, 1.5, 4.0) : 3.0;
    }

  return g_steal_pointer (&hits);
}

static JsonObject *
hit_to_json (MhNode *self, const Hit *hit, gboolean fallback)
{
  JsonObject *object = json_object_new ();

  set_text (object, "id", hit->id);
  set_text (object, "name", hit->name);
  json_object_set_double_member (object, "lat", hit->lat);
  json_object_set_double_member (object, "lon", hit->lon);
  json_object_set_int_member (object, "distance_m", (gint64) llround (hit->distance));
  json_object_set_int_member (object, "free_beds", hit->free);
  /* Stale: the count is old, or the hospital's desk has gone quiet. */
  json_object_set_boolean_member (object, "stale",
                                  set_heartbeat (self, object, hit->id)
                                    || count_is_stale (self, hit->reported, hit->reported_at,
                                                       hit->interval_min));
  if (hit->reported)
    json_object_set_int_member (object, "reported_at", hit->reported_at);
  else
    json_object_set_null_member (object, "reported_at");
  json_object_set_boolean_member (object, "fallback", fallback);
  set_text (object, "phone_switchboard", hit->phone_switchboard);
  set_text (object, "phone_emergency", hit->phone_emergency);
  set_text (object, "ems_traffic", hit->ems_traffic);
  return object;
}

/**
 * mh_node_nearest_hospitals:
 * @specialty: a specialty id, or 0 for any
 * @category: (nullable): a bed category, or %NULL for a free bed of any
 * @limit: the most answers; 0 for the default (10)
 *
 * The nearest hospitals (straight-line distance) that have the specialty,
 * a free bed in the category and an EMS traffic status that takes
 * ambulances (not closed, nor a status this program does not know). When
 * none does, the nearest with any free bed, flagged `fallback`.
 *
 * Returns: (transfer full): the answers, nearest first
 */
JsonArray *
mh_node_nearest_hospitals (MhNode *self, double lat, double lon, guint specialty,
                           const char *category, guint limit, GError **error)
{
  g_autoptr(GArray) hits = NULL;
  g_autoptr(JsonArray) result = json_array_new ();
  gboolean fallback = FALSE;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (!isfinite (lat) || lat < -90 || lat > 90)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("lat: must be between -90 and 90"));
      return NULL;
    }
  if (!isfinite (lon) || lon < -180 || lon > 180)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("lon: must be between -180 and 180"));
      return NULL;
    }
  if (specialty > mh_specialty_count ())
    {
      fail (error, MH_NODE_ERROR_INVALID, _("specialty: must be between 1 and %u"),
            mh_specialty_count ());
      return NULL;
    }
  if (category != NULL && !mh_medhead_is_bed_category (category))
    {
      fail (error, MH_NODE_ERROR_INVALID, _("bed: unknown bed category"));
      return NULL;
    }
  if (limit == 0)
    limit = NEAREST_DEFAULT_LIMIT;

  if (sqlite3_step (self->read_begin) != SQLITE_DONE)
    {
      sqlite3_reset (self->read_begin);
      sqlite_fail (self, error, _("searching hospitals"));
      return NULL;
    }
  sqlite3_reset (self->read_begin);
  hits = search_nearest (self, lat, lon, specialty, category, limit, error);
  if (hits != NULL && hits->len == 0 && (specialty != 0 || category != NULL))
    {
      g_clear_pointer (&hits, g_array_unref);
      hits = search_nearest (self, lat, lon, 0, NULL, limit, error);
      fallback = TRUE;
    }
  sqlite3_step (self->read_end);
  sqlite3_reset (self->read_end);
  if (hits == NULL)
    return NULL;
  for (guint i = 0; i < hits->len; i++)
    json_array_add_object_element (result,
                                   hit_to_json (self, &g_array_index (hits, Hit, i), fallback));
  return g_steal_pointer (&result);
}

/* ------------------------------------------------------------------------ */
/* Units                                                                    */

#define UNIT_SELECT                                                                        \
  "SELECT u.id, u.call_sign, u.type, u.agency, u.skills, u.status, u.status_at, p.lat,"     \
  " p.lon, p.accuracy_m, p.at AS position_at, u.capabilities"                              \
  " FROM unit u LEFT JOIN unit_position p ON p.id = u.id"

static const InputField unit_fields[] = {
  { "call_sign", "unit", "call_sign", IN_TEXT },
  { "type", "unit", "type", IN_TEXT },
  { "agency", "unit", "agency", IN_TEXT },
  { "skills", "unit", "skills", IN_TEXT },
  { "status", "unit", "status", IN_TEXT },
  { "capabilities", "unit", "capabilities", IN_CAPABILITIES },
  { "lat", "unit_position", "lat", IN_REAL },
  { "lon", "unit_position", "lon", IN_REAL },
  { "accuracy_m", "unit_position", "accuracy_m", IN_REAL },
};

static gboolean
member_is_set (JsonObject *object, const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  return node != NULL && !JSON_NODE_HOLDS_NULL (node);
}

static JsonObject *
unit_from_row (sqlite3_stmt *stmt, gboolean for_export)
{
  JsonObject *unit = json_object_new ();

  if (for_export)
    {
      /* A registry file: who the unit is and where it was, not when. */
      set_columns (unit, stmt, 0, 5);
      set_columns (unit, stmt, 7, 8);
      if (!column_is_null (stmt, 9))
        set_column (unit, "accuracy_m", stmt, 9);
      if (!column_is_null (stmt, 11))
        json_object_set_array_member (unit, "capabilities",
                                      mh_node_capabilities_to_json (column_text (stmt, 11)));
      return unit;
    }
  set_columns (unit, stmt, 0, 10);
  json_object_set_array_member (unit, "capabilities",
                                mh_node_capabilities_to_json (column_text (stmt, 11)));
  return unit;
}

static JsonArray *
list_units (MhNode *self, gboolean for_export, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonArray) list = json_array_new ();
  int rc;

  stmt = prepare (self, UNIT_SELECT " WHERE " UNIT_KNOWN " ORDER BY u.call_sign, u.id", error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    json_array_add_object_element (list, unit_from_row (stmt, for_export));
  if (rc != SQLITE_DONE)
    {
      sqlite_fail (self, error, _("listing units"));
      return NULL;
    }
  return g_steal_pointer (&list);
}

JsonArray *
mh_node_list_units (MhNode *self, GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return list_units (self, FALSE, error);
}

JsonObject *
mh_node_get_unit (MhNode *self, const char *id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  stmt = prepare (self, UNIT_SELECT " WHERE " UNIT_KNOWN " AND u.id = ?1", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      fail (error, MH_NODE_ERROR_NOT_FOUND, _("no unit %s"), id);
      return NULL;
    }
  return unit_from_row (stmt, FALSE);
}

typedef struct
{
  MhNode *self;
  const char *id;
  JsonObject *fields;
  const char *path;
  WriteMode mode;
} UnitWrite;

/* The unit row and its position: one transaction. A status or a position
 * is stamped now; a position is written whole (an old accuracy must not
 * stick to a new fix). */
static gboolean
write_unit (UnitWrite *write, GError **error)
{
  MhNode *self = write->self;
  g_autoptr(GError) local_error = NULL;
  TableValues tables[2];
  gboolean ok;
  gint64 now = mh_node_now_ms (self);

  table_values_init (&tables[0], "unit");
  table_values_init (&tables[1], "unit_position");
  ok = collect_fields (write->fields, unit_fields, G_N_ELEMENTS (unit_fields),
                       (const char *const[]){ "id", NULL }, tables, 2, write->path, error);
  if (!ok)
    goto out;
  if (json_object_has_member (write->fields, "status"))
    table_values_set (&tables[0], "status_at", g_variant_new_int64 (now));

  if (write->mode == WRITE_CREATE)
    ok = mh_store_insert (self->store, "unit", write->id, table_values_end (&tables[0]),
                          &local_error);
  else if (write->mode == WRITE_IMPORT)
    ok = mh_store_upsert (self->store, "unit", write->id, table_values_end (&tables[0]),
                          &local_error);
  else if (tables[0].n > 0)
    ok = mh_store_update (self->store, "unit", write->id, table_values_end (&tables[0]),
                          &local_error);
  if (!ok)
    {
      ok = fail_from_store (error, g_steal_pointer (&local_error), write->path);
      goto out;
    }

  /* A registry file says "no position" with nulls. */
  if (member_is_set (write->fields, "lat") || member_is_set (write->fields, "lon")
      || member_is_set (write->fields, "accuracy_m"))
    {
      if (!member_is_set (write->fields, "lat") || !member_is_set (write->fields, "lon"))
        {
          ok = fail (error, MH_NODE_ERROR_INVALID, _("%s%s: required with a position"), write->path,
                     member_is_set (write->fields, "lat") ? "lon" : "lat");
          goto out;
        }
      if (!json_object_has_member (write->fields, "accuracy_m"))
        table_values_set (&tables[1], "accuracy_m", mh_value_null ());
      table_values_set (&tables[1], "at", g_variant_new_int64 (now));
      if (!mh_store_upsert (self->store, "unit_position", write->id,
                            table_values_end (&tables[1]), &local_error))
        ok = fail_from_store (error, g_steal_pointer (&local_error), write->path);
    }

out:
  table_values_clear (&tables[0]);
  table_values_clear (&tables[1]);
  return ok;
}

static gboolean
write_unit_txn (MhStore *store, gpointer user_data, GError **error)
{
  return write_unit (user_data, error);
}

char *
mh_node_create_unit (MhNode *self, JsonObject *fields, GError **error)
{
  g_autofree char *id = NULL;
  UnitWrite write = { 0 };

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (!require_object (fields, error) || (id = take_new_id (fields, "", error)) == NULL)
    return NULL;
  write.self = self;
  write.id = id;
  write.fields = fields;
  write.path = "";
  write.mode = WRITE_CREATE;
  if (!transact (self, write_unit_txn, &write, error))
    return NULL;
  return g_steal_pointer (&id);
}

gboolean
mh_node_patch_unit (MhNode *self, const char *id, JsonObject *fields, GError **error)
{
  UnitWrite write = { 0 };

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (!require_object (fields, error) || !check_row_live (self, "unit", id, "unit", error)
      || !check_same_id (fields, id, error))
    return FALSE;
  write.self = self;
  write.id = id;
  write.fields = fields;
  write.path = "";
  write.mode = WRITE_PATCH;
  return transact (self, write_unit_txn, &write, error);
}

/* ------------------------------------------------------------------------ */
/* Patients                                                                 */

#define PATIENT_SELECT                                                                     \
  "SELECT id, unit_id, age_estimate, sex, incident_at, mechanism, injuries, signs,"        \
  " treatment, complaint, allergies, medications, triage, alert, required_specialty,"      \
  " bed_category, incident_id FROM patient"
#define PATIENT_LAST_COLUMN 16

static const InputField patient_fields[] = {
  { "unit_id", "patient", "unit_id", IN_TEXT },
  { "age_estimate", "patient", "age_estimate", IN_INT },
  { "sex", "patient", "sex", IN_TEXT },
  { "incident_at", "patient", "incident_at", IN_INT },
  { "mechanism", "patient", "mechanism", IN_TEXT },
  { "injuries", "patient", "injuries", IN_TEXT },
  { "signs", "patient", "signs", IN_TEXT },
  { "treatment", "patient", "treatment", IN_TEXT },
  { "complaint", "patient", "complaint", IN_TEXT },
  { "allergies", "patient", "allergies", IN_TEXT },
  { "medications", "patient", "medications", IN_TEXT },
  { "triage", "patient", "triage", IN_TEXT },
  { "alert", "patient", "alert", IN_TEXT },
  { "required_specialty", "patient", "required_specialty", IN_INT },
  { "bed_category", "patient", "bed_category", IN_TEXT },
  { "incident_id", "patient", "incident_id", IN_TEXT },
};

static const InputField observation_fields[] = {
  { "taken_at", "observation", "taken_at", IN_INT },
  { "hr", "observation", "hr", IN_INT },
  { "rr", "observation", "rr", IN_INT },
  { "spo2", "observation", "spo2", IN_INT },
  { "sbp", "observation", "sbp", IN_INT },
  { "dbp", "observation", "dbp", IN_INT },
  { "temp", "observation", "temp", IN_REAL },
  { "gcs", "observation", "gcs", IN_INT },
  { "glucose", "observation", "glucose", IN_REAL },
};

static const InputField intervention_fields[] = {
  { "given_at", "intervention", "given_at", IN_INT },
  { "drug", "intervention", "drug", IN_TEXT },
  { "dose", "intervention", "dose", IN_TEXT },
  { "route", "intervention", "route", IN_TEXT },
  { "procedure", "intervention", "procedure", IN_TEXT },
};

/* Observations or interventions of a patient, oldest first; each "id" is
 * the part after "PATIENT_ID/", as a URL names it. */
static JsonArray *
patient_entries (MhNode *self, const char *table, const char *patient_id, GError **error)
{
  g_autofree char *sql = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonArray) list = json_array_new ();
  const char *time_column = strcmp (table, "observation") == 0 ? "taken_at" : "given_at";

  sql = g_strdup_printf ("SELECT substr(id, instr(id, '/') + 1) AS id, * FROM %s"
                         " WHERE id > ?1 AND id < ?2 ORDER BY %s, id",
                         table, time_column);
  stmt = prepare (self, sql, error);
  if (stmt == NULL)
    return NULL;
  bind_prefix_range (stmt, 1, patient_id);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      JsonObject *entry = json_object_new ();
      int n = sqlite3_column_count (stmt);

      set_column (entry, "id", stmt, 0);
      /* Columns 1.. are the table's own: _rid, id, the declared, _mh. */
      for (int col = 3; col < n - 1; col++)
        set_column (entry, sqlite3_column_name (stmt, col), stmt, col);
      json_array_add_object_element (list, entry);
    }
  return g_steal_pointer (&list);
}

static JsonArray *
list_patient_rows (MhNode *self, const char *id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonArray) list = json_array_new ();

  stmt = prepare (self, id ? PATIENT_SELECT " WHERE id = ?1" : PATIENT_SELECT " ORDER BY _rid",
                  error);
  if (stmt == NULL)
    return NULL;
  if (id)
    sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      JsonObject *patient = json_object_new ();

      set_columns (patient, stmt, 0, PATIENT_LAST_COLUMN);
      json_array_add_object_element (list, patient);
    }
  return g_steal_pointer (&list);
}

/**
 * mh_node_list_patients:
 *
 * Returns: (transfer full): the patient records held here, without their
 *   observations and interventions (see mh_node_get_patient())
 */
JsonArray *
mh_node_list_patients (MhNode *self, GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return list_patient_rows (self, NULL, error);
}

JsonObject *
mh_node_get_patient (MhNode *self, const char *id, GError **error)
{
  g_autoptr(JsonArray) rows = NULL;
  g_autoptr(JsonObject) patient = NULL;
  JsonArray *entries;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  rows = list_patient_rows (self, id, error);
  if (rows == NULL)
    return NULL;
  if (json_array_get_length (rows) == 0)
    {
      fail (error, MH_NODE_ERROR_NOT_FOUND, _("no patient %s"), id);
      return NULL;
    }
  patient = json_object_ref (json_array_get_object_element (rows, 0));
  if ((entries = patient_entries (self, "observation", id, error)) == NULL)
    return NULL;
  json_object_set_array_member (patient, "observations", entries);
  if ((entries = patient_entries (self, "intervention", id, error)) == NULL)
    return NULL;
  json_object_set_array_member (patient, "interventions", entries);
  return g_steal_pointer (&patient);
}

typedef struct
{
  MhNode *self;
  const char *table;
  const char *id;
  GVariant *values; /* sunk by write_one_row(), which drops it; the store refs its own */
  gboolean create;
} RowWrite;

static gboolean
write_row_txn (MhStore *store, gpointer user_data, GError **error)
{
  RowWrite *write = user_data;
  g_autoptr(GError) local_error = NULL;
  gboolean ok;

  if (write->create)
    ok = mh_store_insert (store, write->table, write->id, write->values, &local_error);
  else
    ok = mh_store_update (store, write->table, write->id, write->values, &local_error);
  if (!ok)
    return fail_from_store (error, g_steal_pointer (&local_error), NULL);
  return TRUE;
}

/* Writes the collected values of one row, all registers in one call. */
static gboolean
write_one_row (MhNode *self, const char *table, const char *id, TableValues *values,
               gboolean create, GError **error)
{
  RowWrite write = { self, table, id, NULL, create };
  gboolean ok;

  if (!create && values->n == 0)
    {
      table_values_clear (values);
      return TRUE;
    }
  write.values = g_variant_ref_sink (table_values_end (values));
  ok = transact (self, write_row_txn, &write, error);
  g_clear_pointer (&write.values, g_variant_unref);
  return ok;
}

char *
mh_node_create_patient (MhNode *self, JsonObject *fields, GError **error)
{
  g_autofree char *id = NULL;
  TableValues values;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (!require_object (fields, error) || (id = take_new_id (fields, "", error)) == NULL)
    return NULL;
  table_values_init (&values, "patient");
  if (!collect_fields (fields, patient_fields, G_N_ELEMENTS (patient_fields),
                       (const char *const[]){ "id", NULL }, &values, 1, "", error))
    {
      table_values_clear (&values);
      return NULL;
    }
  /* A crew's patient is its own unit's, unless it says otherwise (and the
   * validator then refuses it). */
  if (!json_object_has_member (fields, "unit_id") && self->unit_id != NULL)
    table_values_set (&values, "unit_id", g_variant_new_string (self->unit_id));
  if (!write_one_row (self, "patient", id, &values, TRUE, error))
    return NULL;
  return g_steal_pointer (&id);
}

gboolean
mh_node_patch_patient (MhNode *self, const char *id, JsonObject *fields, GError **error)
{
  TableValues values;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (!require_object (fields, error) || !check_row_live (self, "patient", id, "patient", error)
      || !check_same_id (fields, id, error))
    return FALSE;
  table_values_init (&values, "patient");
  if (!collect_fields (fields, patient_fields, G_N_ELEMENTS (patient_fields),
                       (const char *const[]){ "id", NULL }, &values, 1, "", error))
    {
      table_values_clear (&values);
      return FALSE;
    }
  return write_one_row (self, "patient", id, &values, FALSE, error);
}

/* An observation or intervention: a new insert-only row under the
 * patient, by this site. Returns its id (the part after "PATIENT_ID/"). */
static char *
add_patient_entry (MhNode *self, const char *table, const InputField *fields, gsize n_fields,
                   const char *time_column, const char *patient_id, JsonObject *object,
                   GError **error)
{
  g_autofree char *id = NULL;
  g_autofree char *row = NULL;
  TableValues values;

  if (!require_object (object, error)
      || !check_row_live (self, "patient", patient_id, "patient", error)
      || (id = take_new_id (object, "", error)) == NULL)
    return NULL;
  table_values_init (&values, table);
  if (!collect_fields (object, fields, n_fields, (const char *const[]){ "id", NULL }, &values, 1,
                       "", error))
    {
      table_values_clear (&values);
      return NULL;
    }
  if (!json_object_has_member (object, time_column))
    table_values_set (&values, time_column, g_variant_new_int64 (mh_node_now_ms (self)));
  table_values_set (&values, "patient_id", g_variant_new_string (patient_id));
  table_values_set (&values, "author_site", g_variant_new_string (self->site_id));
  row = g_strdup_printf ("%s/%s", patient_id, id);
  if (!write_one_row (self, table, row, &values, TRUE, error))
    return NULL;
  return g_steal_pointer (&id);
}

char *
mh_node_add_observation (MhNode *self, const char *patient_id, JsonObject *fields,
                         GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return add_patient_entry (self, "observation", observation_fields,
                            G_N_ELEMENTS (observation_fields), "taken_at", patient_id, fields,
                            error);
}

char *
mh_node_add_intervention (MhNode *self, const char *patient_id, JsonObject *fields,
                          GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return add_patient_entry (self, "intervention", intervention_fields,
                            G_N_ELEMENTS (intervention_fields), "given_at", patient_id, fields,
                            error);
}

/* ------------------------------------------------------------------------ */
/* Transfers                                                                */

#define TRANSFER_SELECT                                                                    \
  "SELECT id, patient_id, unit_id, hospital_id, bed_category, specialty, priority, eta,"   \
  " crew_state, crew_at, crew_by, desk_state, desk_reason, desk_at, desk_by FROM transfer"

enum
{
  TRANSFER_ETA = 7,
  TRANSFER_CREW_STATE = 8,
  TRANSFER_DESK_STATE = 11,
  TRANSFER_DESK_AT = 13,
  TRANSFER_LAST = 14,
};

static gboolean
crew_state_is_final (const char *state)
{
  return g_strcmp0 (state, "arrived") == 0 || g_strcmp0 (state, "cancelled") == 0;
}

/* The desk's side is empty until it answers: the crew creates the row
 * whole, and only the hospital writes the desk register. */
static const char *
desk_state_or_pending (const char *state)
{
  return state ? state : "pending";
}

/*
 * mh_transfer_shown_state:
 *
 * The state shown for each pair of the crew's and the desk's states. The
 * crew's final states win (the patient is there, or is not coming); a
 * diversion comes next (the crew must act on it); then the desk's answer,
 * with "en route" kept visible once accepted or still unanswered.
 *
 *   crew \ desk   pending               acknowledged   accepted            diverted
 *   announced     announced             acknowledged   accepted            diverted
 *   en_route      en_route_unanswered   acknowledged   accepted_en_route   diverted
 *   arrived       arrived               arrived        arrived             arrived
 *   cancelled     cancelled             cancelled      cancelled           cancelled
 *
 * A NULL desk state is "pending". A state this program does not know
 * (from a newer schema) shows as "unknown", unless the other side is final.
 */
const char *
mh_transfer_shown_state (const char *crew_state, const char *desk_state)
{
  static const char *const crew_states[] = { "announced", "en_route", "arrived", "cancelled" };
  static const char *const desk_states[] = { "pending", "acknowledged", "accepted", "diverted" };
  static const char *const shown[4][4] = {
    { "announced", "acknowledged", "accepted", "diverted" },
    { "en_route_unanswered", "acknowledged", "accepted_en_route", "diverted" },
    { "arrived", "arrived", "arrived", "arrived" },
    { "cancelled", "cancelled", "cancelled", "cancelled" },
  };
  int crew = -1, desk = -1;

  desk_state = desk_state_or_pending (desk_state);
  for (int i = 0; i < 4; i++)
    {
      if (g_strcmp0 (crew_state, crew_states[i]) == 0)
        crew = i;
      if (strcmp (desk_state, desk_states[i]) == 0)
        desk = i;
    }
  if (crew >= 2)
    return shown[crew][0];
  if (crew < 0 || desk < 0)
    return "unknown";
  return shown[crew][desk];
}

static gboolean
transfer_is_expired (MhNode *self, sqlite3_stmt *stmt)
{
  gint64 reference;

  if (g_strcmp0 (column_text (stmt, TRANSFER_DESK_STATE), "accepted") != 0
      || crew_state_is_final (column_text (stmt, TRANSFER_CREW_STATE)))
    return FALSE;
  reference = !column_is_null (stmt, TRANSFER_ETA) ? sqlite3_column_int64 (stmt, TRANSFER_ETA)
                                                   : sqlite3_column_int64 (stmt, TRANSFER_DESK_AT);
  return reference + (gint64) self->grace_minutes * MINUTE_MS <= mh_node_now_ms (self);
}

static JsonObject *
transfer_from_row (MhNode *self, sqlite3_stmt *stmt)
{
  JsonObject *transfer = json_object_new ();
  const char *crew = column_text (stmt, TRANSFER_CREW_STATE);
  const char *desk = column_text (stmt, TRANSFER_DESK_STATE);

  set_columns (transfer, stmt, 0, TRANSFER_LAST);
  set_text (transfer, "desk_state", desk_state_or_pending (desk));
  set_text (transfer, "state", mh_transfer_shown_state (crew, desk));
  json_object_set_boolean_member (transfer, "expired", transfer_is_expired (self, stmt));
  return transfer;
}

/**
 * mh_node_list_transfers:
 * @hospital_id: (nullable): only the transfers to this hospital
 */
JsonArray *
mh_node_list_transfers (MhNode *self, const char *hospital_id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonArray) list = json_array_new ();

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  stmt = prepare (self, hospital_id ? TRANSFER_SELECT " WHERE hospital_id = ?1 ORDER BY _rid"
                                    : TRANSFER_SELECT " ORDER BY _rid",
                  error);
  if (stmt == NULL)
    return NULL;
  if (hospital_id)
    sqlite3_bind_text (stmt, 1, hospital_id, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    json_array_add_object_element (list, transfer_from_row (self, stmt));
  return g_steal_pointer (&list);
}

JsonObject *
mh_node_get_transfer (MhNode *self, const char *id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  stmt = prepare (self, TRANSFER_SELECT " WHERE id = ?1", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      fail (error, MH_NODE_ERROR_NOT_FOUND, _("no transfer %s"), id);
      return NULL;
    }
  return transfer_from_row (self, stmt);
}

static const InputField transfer_fields[] = {
  { "patient_id", "transfer", "patient_id", IN_TEXT },
  { "unit_id", "transfer", "unit_id", IN_TEXT },
  { "hospital_id", "transfer", "hospital_id", IN_TEXT },
  { "bed_category", "transfer", "bed_category", IN_TEXT },
  { "specialty", "transfer", "specialty", IN_INT },
  { "priority", "transfer", "priority", IN_TEXT },
  { "eta", "transfer", "eta", IN_INT },
};

typedef struct
{
  MhNode *self;
  JsonObject *patient;
  JsonArray *observations;
  JsonArray *interventions;
  JsonObject *transfer;
  char *patient_id;
  char *transfer_id;
} Announcement;

static gboolean
add_entries (MhNode *self, const char *patient_id, JsonArray *entries, gboolean observation,
             GError **error)
{
  for (guint i = 0; entries != NULL && i < json_array_get_length (entries); i++)
    {
      JsonNode *node = json_array_get_element (entries, i);
      g_autofree char *id = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return fail (error, MH_NODE_ERROR_INVALID, _("%s: must be objects"),
                     observation ? "observations" : "interventions");
      id = observation ? mh_node_add_observation (self, patient_id, json_node_get_object (node),
                                                  error)
                       : mh_node_add_intervention (self, patient_id, json_node_get_object (node),
                                                   error);
      if (id == NULL)
        return FALSE;
    }
  return TRUE;
}

static gboolean
announce_txn (MhStore *store, gpointer user_data, GError **error)
{
  Announcement *a = user_data;
  const char *id = NULL;

  if (json_object_has_member (a->patient, "id")
      && JSON_NODE_HOLDS_VALUE (json_object_get_member (a->patient, "id")))
    id = json_object_get_string_member (a->patient, "id");
  if (id != NULL && mh_store_get_row_state (store, "patient", id) == MH_ROW_LIVE)
    {
      g_autoptr(JsonObject) fields = json_object_new ();
      g_autoptr(GList) members = json_object_get_members (a->patient);

      for (GList *l = members; l != NULL; l = l->next)
        if (strcmp (l->data, "id") != 0)
          json_object_set_member (fields, l->data,
                                  json_node_copy (json_object_get_member (a->patient, l->data)));
      if (!mh_node_patch_patient (a->self, id, fields, error))
        return FALSE;
      a->patient_id = g_strdup (id);
    }
  else if ((a->patient_id = mh_node_create_patient (a->self, a->patient, error)) == NULL)
    return FALSE;

  if (!add_entries (a->self, a->patient_id, a->observations, TRUE, error)
      || !add_entries (a->self, a->patient_id, a->interventions, FALSE, error))
    return FALSE;
  json_object_set_string_member (a->transfer, "patient_id", a->patient_id);
  a->transfer_id = mh_node_create_transfer (a->self, a->transfer, error);
  return a->transfer_id != NULL;
}

/**
 * mh_node_announce:
 *
 * The patient, what was measured and given, and the transfer reach the
 * hospital together or not at all: a desk never sees a transfer whose
 * patient record is half written.
 */
char *
mh_node_announce (MhNode *self, JsonObject *patient, JsonArray *observations,
                  JsonArray *interventions, JsonObject *transfer, GError **error)
{
  Announcement a = { self, patient, observations, interventions, NULL, NULL, NULL };
  g_autoptr(JsonObject) transfer_copy = NULL;
  gboolean ok;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (!require_object (patient, error) || !require_object (transfer, error))
    return NULL;
  /* The caller's object stays as it was. */
  transfer_copy = json_object_new ();
  {
    g_autoptr(GList) members = json_object_get_members (transfer);

    for (GList *l = members; l != NULL; l = l->next)
      json_object_set_member (transfer_copy, l->data,
                              json_node_copy (json_object_get_member (transfer, l->data)));
  }
  a.transfer = transfer_copy;
  ok = transact (self, announce_txn, &a, error);
  g_free (a.patient_id);
  if (!ok)
    {
      g_free (a.transfer_id);
      return NULL;
    }
  return a.transfer_id;
}

/**
 * mh_node_create_transfer:
 * @fields: patient_id and hospital_id (required), unit_id (default: this
 *   crew's unit, or the patient's), bed_category and specialty (default:
 *   the patient's needs), priority (default "urgent"), eta (ms), id
 *
 * A crew (or a hub) announces a patient to a hospital: the crew's state is
 * "announced", the desk's "pending" until it answers.
 */
char *
mh_node_create_transfer (MhNode *self, JsonObject *fields, GError **error)
{
  g_autofree char *id = NULL;
  g_autoptr(GVariant) patient = NULL;
  const char *patient_id, *hospital_id;
  TableValues values;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (!require_object (fields, error) || (id = take_new_id (fields, "", error)) == NULL)
    return NULL;
  table_values_init (&values, "transfer");
  if (!collect_fields (fields, transfer_fields, G_N_ELEMENTS (transfer_fields),
                       (const char *const[]){ "id", NULL }, &values, 1, "", error)
      || !get_string_member (fields, "patient_id", "", &patient_id, error)
      || !get_string_member (fields, "hospital_id", "", &hospital_id, error))
    goto fail;

  /* References are checked here to name the field: the validator would
   * only say that the row is not known here yet. */
  if (patient_id == NULL)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("patient_id: required"));
      goto fail;
    }
  patient = mh_store_get_row (self->store, "patient", patient_id);
  if (patient == NULL)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("patient_id: no such patient here"));
      goto fail;
    }
  if (hospital_id == NULL)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("hospital_id: required"));
      goto fail;
    }
  if (mh_store_get_row_state (self->store, "hospital", hospital_id) != MH_ROW_LIVE)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("hospital_id: no such hospital here"));
      goto fail;
    }

  if (!json_object_has_member (fields, "unit_id"))
    {
      const char *unit = self->unit_id;

      if (unit == NULL)
        g_variant_lookup (patient, "unit_id", "&s", &unit);
      if (unit != NULL)
        table_values_set (&values, "unit_id", g_variant_new_string (unit));
    }
  if (!json_object_has_member (fields, "bed_category"))
    {
      const char *category = NULL;

      if (g_variant_lookup (patient, "bed_category", "&s", &category))
        table_values_set (&values, "bed_category", g_variant_new_string (category));
    }
  if (!json_object_has_member (fields, "specialty"))
    {
      gint64 specialty;

      if (g_variant_lookup (patient, "required_specialty", "x", &specialty))
        table_values_set (&values, "specialty", g_variant_new_int64 (specialty));
    }
  if (!json_object_has_member (fields, "priority"))
    table_values_set (&values, "priority", g_variant_new_string ("urgent"));
  table_values_set (&values, "crew_state", g_variant_new_string ("announced"));
  table_values_set (&values, "crew_at", g_variant_new_int64 (mh_node_now_ms (self)));
  table_values_set (&values, "crew_by", g_variant_new_string (self->name));

  if (!write_one_row (self, "transfer", id, &values, TRUE, error))
    return NULL;
  /* A hub or the destination's desk that creates a transfer has received
   * it: note so before answering, so the caller reads a settled state. */
  if (self->receipts_source != 0)
    {
      g_source_remove (self->receipts_source);
      receipts_idle_cb (self);
    }
  return g_steal_pointer (&id);

fail:
  table_values_clear (&values);
  return NULL;
}

/* The current states, after checking that this site may write @desk's
 * side (403 before 409: who may act comes before what is allowed now). */
static gboolean
load_transfer_side (MhNode *self, const char *id, gboolean desk, char **crew_state,
                    char **desk_state, GError **error)
{
  g_autoptr(GVariant) row = NULL;
  g_autoptr(GVariant) patient = NULL;
  const char *hospital = NULL, *unit = NULL, *patient_id = NULL;

  row = id ? mh_store_get_row (self->store, "transfer", id) : NULL;
  if (row == NULL)
    return fail (error, MH_NODE_ERROR_NOT_FOUND, _("no transfer %s"), id ? id : "");
  g_variant_lookup (row, "hospital_id", "&s", &hospital);
  g_variant_lookup (row, "unit_id", "&s", &unit);
  /* A handover moves the crew's side with the patient: the unit that
   * holds the patient now reports the transfer's progress. */
  if (g_variant_lookup (row, "patient_id", "&s", &patient_id)
      && (patient = mh_store_get_row (self->store, "patient", patient_id)) != NULL)
    g_variant_lookup (patient, "unit_id", "&s", &unit);
  if (!mh_medhead_may_write_transfer_side (self->role, self->hospital_id, self->unit_id,
                                           hospital, unit, desk))
    return fail (error, MH_NODE_ERROR_FORBIDDEN,
                 desk ? _("only the destination hospital's sites or a hub answer a transfer")
                      : _("only the transfer's crew or a hub report its progress"));
  if (!g_variant_lookup (row, "crew_state", "s", crew_state))
    *crew_state = NULL;
  if (!g_variant_lookup (row, "desk_state", "s", desk_state))
    *desk_state = NULL;
  return TRUE;
}

/**
 * mh_node_transfer_crew:
 * @state: en_route, arrived or cancelled
 *
 * The crew's side moves announced → en_route → arrived; any state but a
 * final one may go to cancelled. Anything else is %MH_NODE_ERROR_CONFLICT.
 */
gboolean
mh_node_transfer_crew (MhNode *self, const char *id, const char *state, GError **error)
{
  g_autofree char *crew = NULL;
  g_autofree char *desk = NULL;
  TableValues values;
  gboolean allowed;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (g_strcmp0 (state, "en_route") != 0 && g_strcmp0 (state, "arrived") != 0
      && g_strcmp0 (state, "cancelled") != 0)
    return fail (error, MH_NODE_ERROR_INVALID, _("state: must be en_route, arrived or cancelled"));
  if (!load_transfer_side (self, id, FALSE, &crew, &desk, error))
    return FALSE;

  if (strcmp (state, "en_route") == 0)
    allowed = g_strcmp0 (crew, "announced") == 0;
  else if (strcmp (state, "arrived") == 0)
    allowed = g_strcmp0 (crew, "en_route") == 0;
  else
    allowed = crew != NULL && !crew_state_is_final (crew);
  if (!allowed)
    return fail (error, MH_NODE_ERROR_CONFLICT, _("state: a transfer cannot go from %s to %s"),
                 crew ? crew : _("no state"), state);

  table_values_init (&values, "transfer");
  table_values_set (&values, "crew_state", g_variant_new_string (state));
  table_values_set (&values, "crew_at", g_variant_new_int64 (mh_node_now_ms (self)));
  table_values_set (&values, "crew_by", g_variant_new_string (self->name));
  return write_one_row (self, "transfer", id, &values, FALSE, error);
}

/**
 * mh_node_transfer_desk:
 * @state: acknowledged, accepted or diverted
 * @reason: (nullable): why; required to divert
 *
 * The desk's side moves pending → acknowledged → accepted; pending,
 * acknowledged or accepted may go to diverted. Once the crew has arrived
 * or cancelled, the desk has nothing left to answer.
 */
gboolean
mh_node_transfer_desk (MhNode *self, const char *id, const char *state, const char *reason,
                       GError **error)
{
  g_autofree char *crew = NULL;
  g_autofree char *desk = NULL;
  TableValues values;
  const char *current;
  gboolean allowed;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (g_strcmp0 (state, "acknowledged") != 0 && g_strcmp0 (state, "accepted") != 0
      && g_strcmp0 (state, "diverted") != 0)
    return fail (error, MH_NODE_ERROR_INVALID,
                 _("state: must be acknowledged, accepted or diverted"));
  if (!load_transfer_side (self, id, TRUE, &crew, &desk, error))
    return FALSE;
  if (strcmp (state, "diverted") == 0 && (reason == NULL || *reason == '\0'))
    return fail (error, MH_NODE_ERROR_INVALID, _("reason: required when diverting"));

  current = desk_state_or_pending (desk);
  if (strcmp (state, "acknowledged") == 0)
    allowed = strcmp (current, "pending") == 0;
  else if (strcmp (state, "accepted") == 0)
    allowed = strcmp (current, "acknowledged") == 0;
  else
    allowed = strcmp (current, "pending") == 0 || strcmp (current, "acknowledged") == 0
              || strcmp (current, "accepted") == 0;
  if (allowed && crew_state_is_final (crew))
    return fail (error, MH_NODE_ERROR_CONFLICT, _("state: the transfer is %s already"), crew);
  if (!allowed)
    return fail (error, MH_NODE_ERROR_CONFLICT, _("state: a transfer cannot go from %s to %s"),
                 current, state);

  table_values_init (&values, "transfer");
  table_values_set (&values, "desk_state", g_variant_new_string (state));
  table_values_set (&values, "desk_reason",
                    reason && *reason ? g_variant_new_string (reason) : mh_value_null ());
  table_values_set (&values, "desk_at", g_variant_new_int64 (mh_node_now_ms (self)));
  table_values_set (&values, "desk_by", g_variant_new_string (self->name));
  return write_one_row (self, "transfer", id, &values, FALSE, error);
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

/* The message and its local-only mark commit together: a peer's
 * acknowledgement can only come after the commit, so none is missed. */
static gboolean
post_message_txn (MhStore *store, gpointer user_data, GError **error)
{
  RowWrite *write = user_data;
  g_autoptr(sqlite3_stmt) stmt = NULL;

  if (!write_row_txn (store, user_data, error))
    return FALSE;
  stmt = prepare (write->self, "INSERT OR REPLACE INTO node_message_pending (id, lseq)"
                               " VALUES (?, ?)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, write->id, -1, SQLITE_STATIC);
  /* Inserting one register logs exactly one entry: the latest. */
  sqlite3_bind_int64 (stmt, 2, mh_store_get_last_seq (store));
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return fail (error, MH_NODE_ERROR_FAILED, _("cannot mark the message local-only"));
  return TRUE;
}

/**
 * mh_node_post_message:
 * @channel: "broadcast", "hospital:ID" or "transfer:ID"
 *
 * Returns: (transfer full): the message id, "SITE_ID/UUID"
 */
char *
mh_node_post_message (MhNode *self, const char *channel, const char *body, GError **error)
{
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *id = NULL;
  TableValues values;
  RowWrite write = { 0 };
  gboolean ok;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (!mh_medhead_channel_is_valid (channel))
    {
      fail (error, MH_NODE_ERROR_INVALID,
            _("channel: must be broadcast, hospital:ID or transfer:ID"));
      return NULL;
    }
  if (body == NULL)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("body: required"));
      return NULL;
    }
  id = g_strdup_printf ("%s/%s", self->site_id, uuid);
  write.self = self;
  write.table = "message";
  write.id = id;
  write.create = TRUE;
  table_values_init (&values, "message");
  table_values_set (&values, "channel", g_variant_new_string (channel));
  table_values_set (&values, "author_site", g_variant_new_string (self->site_id));
  table_values_set (&values, "author_name", g_variant_new_string (self->name));
  table_values_set (&values, "body", g_variant_new_string (body));
  table_values_set (&values, "sent", g_variant_new_int64 (mh_store_now (self->store)));
  write.values = g_variant_ref_sink (table_values_end (&values));
  ok = transact (self, post_message_txn, &write, error);
  g_clear_pointer (&write.values, g_variant_unref);
  if (!ok)
    return NULL;
  return g_steal_pointer (&id);
}

/**
 * mh_node_list_messages:
 * @channel: (nullable): one channel, or all
 * @since_arrival: only messages that reached this node after this time (ms)
 * @limit: the most to list; 0 for all
 *
 * Messages by local arrival, oldest first. A retracted message stays in
 * the list, blanked: its body is gone everywhere, the fact stays.
 */
JsonArray *
mh_node_list_messages (MhNode *self, const char *channel, gint64 since_arrival, guint limit,
                       GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonArray) list = json_array_new ();

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  flush_arrivals (self);
  stmt = prepare (self,
                  "SELECT * FROM ("
                  " SELECT m.id, m.channel, m.author_site, m.author_name, m.body, m.sent,"
                  "  a.arrived_at, 0 AS retracted FROM message m"
                  "  LEFT JOIN node_message_arrival a ON a.id = m.id"
                  "  WHERE m.id NOT IN (SELECT id FROM retraction)"
                  " UNION ALL"
                  " SELECT r.id, r.channel, r.author_site, a.author_name, NULL, a.sent,"
                  "  a.arrived_at, 1 FROM retraction r"
                  "  LEFT JOIN node_message_arrival a ON a.id = r.id"
                  ") WHERE (?1 IS NULL OR channel = ?1) AND COALESCE(arrived_at, 0) > ?2"
                  " ORDER BY arrived_at, id LIMIT ?3",
                  error);
  if (stmt == NULL)
    return NULL;
  if (channel != NULL)
    sqlite3_bind_text (stmt, 1, channel, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, since_arrival);
  sqlite3_bind_int64 (stmt, 3, limit ? (gint64) limit : -1);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      JsonObject *message = json_object_new ();

      set_columns (message, stmt, 0, 6);
      if (!column_is_null (stmt, 5))
        json_object_set_int_member (message, "sent_at",
                                    MH_HLC_PHYSICAL (sqlite3_column_int64 (stmt, 5)));
      else
        json_object_set_null_member (message, "sent_at");
      json_object_set_boolean_member (message, "retracted", sqlite3_column_int (stmt, 7) != 0);
      json_array_add_object_element (list, message);
    }
  return g_steal_pointer (&list);
}

/**
 * mh_node_count_messages:
 * @channel: a channel
 *
 * Returns: how many messages (retracted ones included) reached this node in @channel
 */
guint
mh_node_count_messages (MhNode *self, const char *channel)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), 0);
  g_return_val_if_fail (channel != NULL, 0);

  flush_arrivals (self);
  stmt = prepare (self, "SELECT count(*) FROM node_message_arrival WHERE channel = ?", NULL);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, channel, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_ROW ? (guint) sqlite3_column_int64 (stmt, 0) : 0;
}

/**
 * mh_node_count_messages_through:
 * @channel: a channel
 * @last_arrival: (out): the arrival time of the last message, or 0
 * @last_id: (out) (transfer full) (nullable): the id of the last message
 *
 * mh_node_count_messages(), and which message is the last one counted, in
 * one snapshot: mh_node_list_messages_back() pages back from it, and
 * messages that arrive later do not move those pages.
 *
 * Returns: how many messages reached this node in @channel
 */
guint
mh_node_count_messages_through (MhNode *self, const char *channel, gint64 *last_arrival,
                                char **last_id)
{
  g_autoptr(sqlite3_stmt) count = NULL;
  g_autoptr(sqlite3_stmt) last = NULL;
  guint n = 0;

  g_return_val_if_fail (MH_IS_NODE (self), 0);
  g_return_val_if_fail (channel != NULL, 0);
  g_return_val_if_fail (last_arrival != NULL && last_id != NULL, 0);

  *last_arrival = 0;
  *last_id = NULL;
  flush_arrivals (self);
  count = prepare (self, "SELECT count(*) FROM node_message_arrival WHERE channel = ?", NULL);
  last = prepare (self,
                  "SELECT arrived_at, id FROM node_message_arrival WHERE channel = ?"
                  " ORDER BY arrived_at DESC, id DESC LIMIT 1",
                  NULL);
  if (count == NULL || last == NULL)
    return 0;
  sqlite3_bind_text (count, 1, channel, -1, SQLITE_STATIC);
  sqlite3_bind_text (last, 1, channel, -1, SQLITE_STATIC);
  if (sqlite3_step (self->read_begin) != SQLITE_DONE)
    {
      sqlite3_reset (self->read_begin);
      return 0;
    }
  sqlite3_reset (self->read_begin);
  if (sqlite3_step (count) == SQLITE_ROW)
    n = (guint) sqlite3_column_int64 (count, 0);
  if (sqlite3_step (last) == SQLITE_ROW)
    {
      *last_arrival = sqlite3_column_int64 (last, 0);
      *last_id = g_strdup (column_text (last, 1));
    }
  else
    n = 0;
  sqlite3_reset (count);
  sqlite3_reset (last);
  sqlite3_step (self->read_end);
  sqlite3_reset (self->read_end);
  return n;
}

static JsonArray *read_message_page (sqlite3_stmt *stmt);

/* One page: @page_sql selects the ids of the page's messages (?1: the
 * channel; ?2: the limit; ?3: the offset; ?4, ?5: the last message
 * counted). */
static JsonArray *
list_message_page (MhNode *self, const char *page_sql, const char *channel, guint offset,
                   guint limit, gint64 through_arrival, const char *through_id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *sql = NULL;

  flush_arrivals (self);
  sql = g_strdup_printf ("SELECT a.id, a.channel, a.author_site, a.author_name,"
                         "  CASE WHEN r.id IS NULL THEN m.body END AS body, a.sent, a.arrived_at,"
                         "  r.id IS NOT NULL, p.id IS NOT NULL"
                         " FROM (%s) page"
                         " JOIN node_message_arrival a ON a.id = page.id"
                         " LEFT JOIN message m ON m.id = a.id"
                         " LEFT JOIN retraction r ON r.id = a.id"
                         " LEFT JOIN node_message_pending p ON p.id = a.id"
                         " ORDER BY a.arrived_at, a.id",
                         page_sql);
  stmt = prepare (self, sql, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, channel, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, limit);
  sqlite3_bind_int64 (stmt, 3, offset);
  if (sqlite3_bind_parameter_count (stmt) >= 5)
    {
      sqlite3_bind_int64 (stmt, 4, through_arrival);
      sqlite3_bind_text (stmt, 5, through_id, -1, SQLITE_STATIC);
    }
  return read_message_page (stmt);
}

/* The rows of a page query, as list_message_page() selects them. */
static JsonArray *
read_message_page (sqlite3_stmt *stmt)
{
  g_autoptr(JsonArray) list = json_array_new ();

  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      JsonObject *message = json_object_new ();

      set_columns (message, stmt, 0, 6);
      if (!column_is_null (stmt, 5))
        json_object_set_int_member (message, "sent_at",
                                    MH_HLC_PHYSICAL (sqlite3_column_int64 (stmt, 5)));
      else
        json_object_set_null_member (message, "sent_at");
      json_object_set_boolean_member (message, "retracted", sqlite3_column_int (stmt, 7) != 0);
      json_object_set_boolean_member (message, "local_only", sqlite3_column_int (stmt, 8) != 0);
      json_array_add_object_element (list, message);
    }
  return g_steal_pointer (&list);
}

/**
 * mh_node_list_messages_at:
 * @channel: a channel
 * @offset: the position of the first message, in local arrival order
 * @limit: the most to list
 *
 * One page of a channel, for views that show long histories without
 * loading them whole. Messages as mh_node_list_messages() gives them, plus
 * "local_only": %TRUE for this node's own messages that no peer has
 * acknowledged yet. The offset is walked entry by entry: views that jump
 * far into a long history page by key (mh_node_list_message_keys(),
 * mh_node_list_messages_from()).
 */
JsonArray *
mh_node_list_messages_at (MhNode *self, const char *channel, guint offset, guint limit,
                          GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (channel != NULL, NULL);

  /* The offset is walked in the covering index alone: a jump deep into
   * 100,000 messages joins one page, not every row before it (about 10x
   * faster). */
  return list_message_page (self,
                            "SELECT id FROM node_message_arrival WHERE channel = ?1"
                            " ORDER BY arrived_at, id LIMIT ?2 OFFSET ?3",
                            channel, offset, limit, 0, NULL, error);
}

/**
 * mh_node_list_messages_back:
 * @channel: a channel
 * @through_arrival: the arrival time of the last message to count from
 * @through_id: its id (from mh_node_count_messages_through())
 * @skip: how many messages to skip back from it (0: it is the last listed)
 * @limit: the most to list
 *
 * A page counted from the end, as mh_node_list_messages_at() lists it
 * (in arrival order): the offset walk of a page near the end of a long
 * history is then short. Messages that arrived after @through_id do not
 * count.
 */
JsonArray *
mh_node_list_messages_back (MhNode *self, const char *channel, gint64 through_arrival,
                            const char *through_id, guint skip, guint limit, GError **error)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (channel != NULL, NULL);
  g_return_val_if_fail (through_id != NULL, NULL);

  return list_message_page (self,
                            "SELECT id FROM node_message_arrival WHERE channel = ?1"
                            "  AND (arrived_at, id) <= (?4, ?5)"
                            " ORDER BY arrived_at DESC, id DESC LIMIT ?2 OFFSET ?3",
                            channel, skip, limit, through_arrival, through_id, error);
}

/**
 * mh_node_list_messages_from:
 * @channel: a channel
 * @from_arrival: the arrival time of the first message to list
 * @from_id: its id (a key from mh_node_list_message_keys())
 * @through_arrival: the arrival time of the last message that counts
 * @through_id: its id (from mh_node_count_messages_through())
 * @limit: the most to list
 *
 * A page that starts at a known message, as mh_node_list_messages_at()
 * lists it: a range read of the channel's index, however deep in the
 * history. Messages that arrived after @through_id do not count.
 */
JsonArray *
mh_node_list_messages_from (MhNode *self, const char *channel, gint64 from_arrival,
                            const char *from_id, gint64 through_arrival, const char *through_id,
                            guint limit, GError **error)
{
  sqlite3_stmt *stmt;
  JsonArray *list;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (channel != NULL, NULL);
  g_return_val_if_fail (from_id != NULL && through_id != NULL, NULL);

  flush_arrivals (self);
  /* One range of the channel's index, each row joined as it comes: no
   * sort, and the statement is kept (a jump reads several pages). */
  if (self->message_page_from == NULL)
    self->message_page_from =
      prepare (self,
               "SELECT a.id, a.channel, a.author_site, a.author_name,"
               "  CASE WHEN r.id IS NULL THEN m.body END AS body, a.sent, a.arrived_at,"
               "  r.id IS NOT NULL, p.id IS NOT NULL"
               " FROM node_message_arrival a"
               " LEFT JOIN message m ON m.id = a.id"
               " LEFT JOIN retraction r ON r.id = a.id"
               " LEFT JOIN node_message_pending p ON p.id = a.id"
               " WHERE a.channel = ?1"
               "  AND (a.arrived_at, a.id) >= (?2, ?3) AND (a.arrived_at, a.id) <= (?4, ?5)"
               " ORDER BY a.arrived_at, a.id LIMIT ?6",
               error);
  if (self->message_page_from == NULL)
    return NULL;
  stmt = self->message_page_from;
  sqlite3_bind_text (stmt, 1, channel, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, from_arrival);
  sqlite3_bind_text (stmt, 3, from_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, through_arrival);
  sqlite3_bind_text (stmt, 5, through_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, limit);
  list = read_message_page (stmt);
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  return list;
}

/**
 * mh_node_list_message_keys:
 * @channel: a channel
 * @from_id: (nullable): the key to start at (the message with this
 *   arrival time and id, or the first after it), or %NULL to start at the
 *   first message
 * @through_arrival: the arrival time of the last message that counts
 * @through_id: its id (from mh_node_count_messages_through())
 * @every: take every @every-th key, from the first one on
 * @arrivals: (element-type gint64): where the keys' arrival times go
 * @ids: (element-type utf8): where the keys' ids go (owned strings: give
 *   it g_free as its free function)
 *
 * The keys (arrival time, id) of the messages at positions 0, @every,
 * 2 @every... of a channel, counted from @from_id, in one pass over the
 * channel's index: page boundaries, so that a view reads any page with
 * mh_node_list_messages_from() instead of walking an offset.
 *
 * Returns: %FALSE on error (@arrivals and @ids may hold some keys)
 */
gboolean
mh_node_list_message_keys (MhNode *self, const char *channel, gint64 from_arrival,
                           const char *from_id, gint64 through_arrival, const char *through_id,
                           guint every, GArray *arrivals, GPtrArray *ids, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  guint64 i = 0;
  int rc;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);
  g_return_val_if_fail (channel != NULL && through_id != NULL, FALSE);
  g_return_val_if_fail (every > 0 && arrivals != NULL && ids != NULL, FALSE);

  flush_arrivals (self);
  stmt = prepare (self,
                  from_id != NULL
                    ? "SELECT arrived_at, id FROM node_message_arrival WHERE channel = ?1"
                      "  AND (arrived_at, id) >= (?4, ?5) AND (arrived_at, id) <= (?2, ?3)"
                      " ORDER BY arrived_at, id"
                    : "SELECT arrived_at, id FROM node_message_arrival WHERE channel = ?1"
                      "  AND (arrived_at, id) <= (?2, ?3)"
                      " ORDER BY arrived_at, id",
                  error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, channel, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, through_arrival);
  sqlite3_bind_text (stmt, 3, through_id, -1, SQLITE_STATIC);
  if (from_id != NULL)
    {
      sqlite3_bind_int64 (stmt, 4, from_arrival);
      sqlite3_bind_text (stmt, 5, from_id, -1, SQLITE_STATIC);
    }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    if (i++ % every == 0)
      {
        gint64 arrival = sqlite3_column_int64 (stmt, 0);

        g_array_append_val (arrivals, arrival);
        g_ptr_array_add (ids, g_strdup (column_text (stmt, 1)));
      }
  if (rc != SQLITE_DONE)
    return sqlite_fail (self, error, _("listing message keys"));
  return TRUE;
}

/**
 * mh_node_count_messages_between:
 * @channel: a channel
 * @after_arrival: the arrival time of a message
 * @after_id: its id
 * @through_arrival: the arrival time of a later message
 * @through_id: its id
 *
 * Returns: how many messages of @channel come after the first key, up to
 *   and including the second, in arrival order: a range count of the
 *   channel's index, short when the two are close
 */
guint
mh_node_count_messages_between (MhNode *self, const char *channel, gint64 after_arrival,
                                const char *after_id, gint64 through_arrival,
                                const char *through_id)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), 0);
  g_return_val_if_fail (channel != NULL && after_id != NULL && through_id != NULL, 0);

  flush_arrivals (self);
  stmt = prepare (self,
                  "SELECT count(*) FROM node_message_arrival WHERE channel = ?1"
                  "  AND (arrived_at, id) > (?2, ?3) AND (arrived_at, id) <= (?4, ?5)",
                  NULL);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, channel, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, after_arrival);
  sqlite3_bind_text (stmt, 3, after_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, through_arrival);
  sqlite3_bind_text (stmt, 5, through_id, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_ROW ? (guint) sqlite3_column_int64 (stmt, 0) : 0;
}

/**
 * mh_node_count_unread:
 * @channel: a channel
 *
 * Returns: the messages of other sites that reached this node in @channel
 *   after it was last marked read
 */
guint
mh_node_count_unread (MhNode *self, const char *channel)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), 0);
  g_return_val_if_fail (channel != NULL, 0);

  flush_arrivals (self);
  stmt = prepare (self,
                  "SELECT count(*) FROM node_message_arrival WHERE channel = ?1"
                  " AND arrived_at > COALESCE((SELECT read_at FROM node_channel_read"
                  "                            WHERE channel = ?1), 0)"
                  " AND author_site IS NOT ?2",
                  NULL);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, channel, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, self->site_id, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_ROW ? (guint) sqlite3_column_int64 (stmt, 0) : 0;
}

/**
 * mh_node_list_unread:
 *
 * Returns: (transfer full): an object, channel -> unread count, of the
 *   channels that have unread messages
 */
JsonObject *
mh_node_list_unread (MhNode *self)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  JsonObject *result = json_object_new ();

  g_return_val_if_fail (MH_IS_NODE (self), result);

  flush_arrivals (self);
  /* Channel by channel, hopping from one to the next in the channel
   * index, and counting only what arrived after the channel was read: a
   * GROUP BY walked every arrival (100,000 messages read: 50 ms, at every
   * desktop start and every new message). */
  stmt = prepare (self,
                  "WITH RECURSIVE ch(channel) AS ("
                  "  SELECT min(channel) FROM node_message_arrival"
                  "  UNION ALL SELECT (SELECT min(channel) FROM node_message_arrival"
                  "                    WHERE channel > ch.channel)"
                  "  FROM ch WHERE ch.channel IS NOT NULL)"
                  " SELECT ch.channel,"
                  "  (SELECT count(*) FROM node_message_arrival a WHERE a.channel = ch.channel"
                  "    AND a.arrived_at > COALESCE((SELECT read_at FROM node_channel_read r"
                  "                                 WHERE r.channel = ch.channel), 0)"
                  "    AND a.author_site IS NOT ?1)"
                  " FROM ch WHERE ch.channel IS NOT NULL",
                  NULL);
  if (stmt == NULL)
    return result;
  sqlite3_bind_text (stmt, 1, self->site_id, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    if (sqlite3_column_int64 (stmt, 1) > 0)
      json_object_set_int_member (result, column_text (stmt, 0), sqlite3_column_int64 (stmt, 1));
  return result;
}

/**
 * mh_node_mark_channel_read:
 * @channel: a channel
 *
 * Marks every message that reached this node in @channel as read.
 */
gboolean
mh_node_mark_channel_read (MhNode *self, const char *channel, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);
  g_return_val_if_fail (channel != NULL, FALSE);

  flush_arrivals (self);
  stmt = prepare (self,
                  "INSERT OR REPLACE INTO node_channel_read (channel, read_at)"
                  " SELECT ?1, MAX(COALESCE((SELECT MAX(arrived_at) FROM node_message_arrival"
                  "                          WHERE channel = ?1), 0),"
                  "                 COALESCE((SELECT read_at FROM node_channel_read"
                  "                          WHERE channel = ?1), 0))",
                  error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, channel, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return fail (error, MH_NODE_ERROR_FAILED, _("cannot mark %s read"), channel);
  return TRUE;
}

typedef struct
{
  MhNode *self;
  const char *id;
  const char *channel;
} Retraction;

static gboolean
retract_txn (MhStore *store, gpointer user_data, GError **error)
{
  Retraction *retraction = user_data;
  MhNode *self = retraction->self;
  GVariantDict values;

  g_variant_dict_init (&values, NULL);
  g_variant_dict_insert (&values, "channel", "s", retraction->channel);
  g_variant_dict_insert (&values, "author_site", "s", self->site_id);
  g_variant_dict_insert (&values, "retracted_at", "x", mh_node_now_ms (self));
  /* The retraction first: it is validated against the live message. */
  return mh_store_insert (store, "retraction", retraction->id, g_variant_dict_end (&values),
                          error)
         && mh_store_delete (store, "message", retraction->id, error);
}

gboolean
mh_node_retract_message (MhNode *self, const char *id, GError **error)
{
  g_autoptr(GVariant) message = NULL;
  const char *author = NULL;
  const char *channel = NULL;
  Retraction retraction;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  message = id ? mh_store_get_row (self->store, "message", id) : NULL;
  if (message == NULL)
    {
      if (id != NULL && mh_store_get_row_state (self->store, "retraction", id) == MH_ROW_LIVE)
        return fail (error, MH_NODE_ERROR_CONFLICT, _("the message is retracted already"));
      return fail (error, MH_NODE_ERROR_NOT_FOUND, _("no message %s"), id ? id : "");
    }
  g_variant_lookup (message, "author_site", "&s", &author);
  g_variant_lookup (message, "channel", "&s", &channel);
  if (g_strcmp0 (author, self->site_id) != 0)
    return fail (error, MH_NODE_ERROR_FORBIDDEN, _("only its author retracts a message"));

  retraction.self = self;
  retraction.id = id;
  retraction.channel = channel;
  return transact (self, retract_txn, &retraction, error);
}

/* ------------------------------------------------------------------------ */
/* Status, digests, history                                                 */

/**
 * mh_node_get_status:
 *
 * Who this node is, its clock, its log, and the changes it holds back.
 * Rejected changes are listed by table, row and reason only: their values
 * may be patient data, which never goes into a status page.
 */
/* The network id and this node's admission: null without a network. */
static JsonNode *
network_status (MhNode *self)
{
  JsonObject *network;
  g_autofree char *id = NULL;
  g_autofree char *role = NULL;
  gint64 cutoff = 0;

  if (self->trust == NULL)
    return json_node_new (JSON_NODE_NULL);
  mh_trust_reload (self->trust);
  network = json_object_new ();
  id = mh_trust_get_network_id (self->trust);
  json_object_set_string_member (network, "id", id);
  json_object_set_string_member (network, "key", mh_trust_get_network_key (self->trust));
  switch (mh_trust_check_site (self->trust, self->site_id, &role, &cutoff))
    {
    case MH_TRUST_ADMITTED:
      json_object_set_string_member (network, "admission", "admitted");
      json_object_set_string_member (network, "admitted_as", role);
      break;
    case MH_TRUST_REVOKED:
      json_object_set_string_member (network, "admission", "revoked");
      json_object_set_int_member (network, "cutoff", cutoff);
      break;
    case MH_TRUST_NONE:
    default:
      json_object_set_string_member (network, "admission", "none");
      break;
    }
  return json_node_init_object (json_node_alloc (), network);
}

/**
 * mh_node_get_trust:
 *
 * Returns: (transfer none) (nullable): the network's records, or %NULL
 *   when this node belongs to no network (pinned peers only)
 */
MhTrust *
mh_node_get_trust (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->trust;
}

JsonObject *
mh_node_get_status (MhNode *self)
{
  JsonObject *status = json_object_new ();
  JsonObject *counts = json_object_new ();
  JsonArray *rejected = json_array_new ();
  g_autoptr(GPtrArray) queued = NULL;
  g_autofree char *clock_text = NULL;
  MhHlc clock;

  g_return_val_if_fail (MH_IS_NODE (self), status);

  clock = mh_store_get_clock (self->store);
  clock_text = mh_hlc_to_string (clock);
  set_text (status, "site_id", self->site_id);
  set_text (status, "name", self->name);
  set_text (status, "role", mh_role_to_string (self->role));
  set_text (status, "hospital_id", self->hospital_id);
  set_text (status, "unit_id", self->unit_id);
  set_text (status, "fingerprint", mh_identity_get_fingerprint (self->identity));
  json_object_set_member (status, "network", network_status (self));
  /* Without a network key, a peer's role is what its site row claims. */
  json_object_set_boolean_member (status, "roles_verified", self->trust != NULL);
  json_object_set_int_member (status, "reused_sequence_numbers",
                              (gint64) mh_store_get_reused_seq_count (self->store));
  json_object_set_int_member (status, "clock", clock);
  set_text (status, "clock_text", clock_text);
  json_object_set_int_member (status, "epoch", mh_store_get_epoch (self->store));
  json_object_set_int_member (status, "last_seq", mh_store_get_last_seq (self->store));

  json_object_set_int_member (counts, "held", mh_store_get_held_count (self->store));
  json_object_set_int_member (counts, "parked", mh_store_get_parked_count (self->store));
  json_object_set_int_member (counts, "rejected", mh_store_get_rejected_count (self->store));
  json_object_set_object_member (status, "counts", counts);

  queued = mh_store_list_rejected (self->store, 0);
  for (guint i = queued->len > STATUS_REJECTED_SHOWN ? queued->len - STATUS_REJECTED_SHOWN : 0;
       i < queued->len; i++)
    {
      MhQueuedChange *entry = g_ptr_array_index (queued, i);
      JsonObject *item = json_object_new ();

      set_text (item, "table", entry->change->table);
      set_text (item, "row", entry->change->row);
      set_text (item, "reason", entry->reason);
      json_array_add_object_element (rejected, item);
    }
  json_object_set_array_member (status, "rejected", rejected);
  json_object_set_array_member (status, "peers", mh_node_list_peers (self));
  json_object_set_object_member (status, "gaps", mh_node_get_gap_status (self));
  json_object_set_boolean_member (status, "clock_alarm",
                                  self->replicator
                                    && mh_replicator_get_clock_alarm (self->replicator));
  json_object_set_int_member (status, "peer_offset_ms",
                              self->replicator ? mh_replicator_get_peer_offset (self->replicator)
                                               : 0);
  json_object_set_int_member (status, "connected_peers",
                              self->replicator ? mh_replicator_get_n_connected (self->replicator)
                                               : 0);
  set_text (status, "version", PACKAGE_VERSION);
  /* A stolen disk must not give patient data away: say whether it would. */
  if (!self->volume_checked)
    {
      self->volume = mh_volume_check (self->data_dir, &self->volume_how);
      self->volume_checked = TRUE;
    }
  if (self->volume == MH_VOLUME_UNKNOWN)
    json_object_set_null_member (status, "data_encrypted");
  else
    json_object_set_boolean_member (status, "data_encrypted", self->volume == MH_VOLUME_ENCRYPTED);
  set_text (status, "data_encryption", self->volume_how);
  return status;
}

/* ------------------------------------------------------------------------ */
/* The peer network                                                         */

/**
 * mh_node_start_sync:
 * @listen: (nullable): HOST:PORT where peers may call this node; %NULL for
 *   a node that only calls out (an ambulance behind NAT)
 * @out_port: (out) (optional): the port bound
 *
 * Links this node with its peers: calls those that have a URL and keeps
 * calling back, and accepts the pinned ones on @listen.
 */
gboolean
mh_node_start_sync (MhNode *self, const char *listen, guint16 *out_port, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);
  g_return_val_if_fail (self->replicator == NULL, FALSE);

  self->replicator = mh_replicator_new (self->store,
                                        mh_identity_get_tls_certificate (self->identity),
                                        mh_identity_get_fingerprint (self->identity), self->name);
  if (self->trust != NULL)
    mh_replicator_set_trust (self->replicator, self->trust);
  if (listen != NULL && !mh_replicator_listen (self->replicator, listen, out_port, &local_error))
    {
      g_clear_object (&self->replicator);
      return fail (error, MH_NODE_ERROR_CONFIG, _("cannot listen for peers on %s: %s"), listen,
                   local_error->message);
    }
  g_signal_connect (self->replicator, "acked", G_CALLBACK (replicator_acked_cb), self);
  g_signal_connect_swapped (self->replicator, "peer-acked",
                            G_CALLBACK (mh_retention_note_peer_acked), self);
  mh_replicator_start (self->replicator);
  if (self->retention_source == 0)
    {
      retention_timeout_cb (self);
      self->retention_source = g_timeout_add_seconds (MH_NODE_RETENTION_SWEEP_S,
                                                      retention_timeout_cb, self);
    }
  if (self->role == MH_ROLE_HOSPITAL && self->heartbeat_source == 0)
    {
      write_heartbeat (self);
      self->heartbeat_source = g_timeout_add_seconds (MH_NODE_HEARTBEAT_INTERVAL_S,
                                                      heartbeat_timeout_cb, self);
    }
  return TRUE;
}

/**
 * mh_node_set_deferred_durability:
 *
 * Commits stop waiting for the disk: a change goes to the peers while the
 * disk takes it (mh_store_set_deferred_sync()). For a node whose every
 * "saved" goes through the REST API, which answers a write once it is on
 * the disk (`medhead-node serve`); not for the app, whose views show a
 * write as done as soon as it returns. Call before mh_node_start_sync().
 * Without a boot id to guard it, commits keep waiting (logged).
 */
void
mh_node_set_deferred_durability (MhNode *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (MH_IS_NODE (self));
  g_return_if_fail (self->replicator == NULL);

  if (!mh_store_set_deferred_sync (self->store, &error))
    g_message ("every commit waits for the disk: %s", error->message);
}

MhReplicator *
mh_node_get_replicator (MhNode *self)
{
  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  return self->replicator;
}

/**
 * mh_node_add_peer:
 * @fingerprint: as people read it out; case, spaces and dashes do not matter
 * @url: (nullable): https://HOST:PORT to call it at; %NULL to only accept its calls
 */
gboolean
mh_node_add_peer (MhNode *self, const char *fingerprint, const char *url, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *canonical = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  canonical = mh_fingerprint_normalize (fingerprint ? fingerprint : "", &local_error);
  if (canonical == NULL)
    return fail (error, MH_NODE_ERROR_INVALID, _("fingerprint: %s"), local_error->message);
  if (g_strcmp0 (canonical, mh_identity_get_fingerprint (self->identity)) == 0)
    return fail (error, MH_NODE_ERROR_INVALID, _("fingerprint: that is this node's own"));
  if (url != NULL && *url == '\0')
    url = NULL;
  if (!mh_peers_add (self->store, canonical, url, &local_error))
    return fail (error, local_error->code == MH_SYNC_ERROR_MALFORMED ? MH_NODE_ERROR_INVALID
                                                                     : MH_NODE_ERROR_FAILED,
                 "%s%s", local_error->code == MH_SYNC_ERROR_MALFORMED ? "url: " : "",
                 local_error->message);
  if (self->replicator)
    mh_replicator_reload_peers (self->replicator);
  return TRUE;
}

gboolean
mh_node_remove_peer (MhNode *self, const char *fingerprint, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *canonical = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  canonical = mh_fingerprint_normalize (fingerprint ? fingerprint : "", &local_error);
  if (canonical == NULL)
    return fail (error, MH_NODE_ERROR_INVALID, _("fingerprint: %s"), local_error->message);
  if (!mh_peers_remove (self->store, canonical, &local_error))
    return fail (error, local_error->code == MH_SYNC_ERROR_NOT_FOUND ? MH_NODE_ERROR_NOT_FOUND
                                                                     : MH_NODE_ERROR_FAILED,
                 "%s", local_error->message);
  if (self->replicator)
    mh_replicator_reload_peers (self->replicator);
  return TRUE;
}

/**
 * mh_node_list_peers:
 *
 * Returns: (transfer full): the peers, live when the node is linked
 *   (connected, direction, changes waiting, bytes), else as last recorded
 */
/* Each peer's count of changes it passed over that another peer had and
 * that won here: a relay that may be withholding (docs/security.md). */
static JsonArray *
add_withheld (MhNode *self, JsonArray *peers)
{
  g_autoptr(GPtrArray) withheld = mh_store_get_withheld (self->store, NULL);

  for (guint i = 0; i < json_array_get_length (peers); i++)
    {
      JsonObject *peer = json_array_get_object_element (peers, i);
      const char *site = json_object_get_string_member_with_default (peer, "site_id", NULL);

      json_object_set_int_member (peer, "withheld", 0);
      for (guint j = 0; withheld != NULL && site != NULL && j < withheld->len; j++)
        {
          MhWithheld *w = g_ptr_array_index (withheld, j);

          if (g_strcmp0 (w->peer, site) != 0)
            continue;
          json_object_set_int_member (peer, "withheld", w->count);
          json_object_set_int_member (peer, "withheld_last", w->last_ms);
        }
    }
  return peers;
}

JsonArray *
mh_node_list_peers (MhNode *self)
{
  g_autoptr(GPtrArray) peers = NULL;
  JsonArray *result;

  g_return_val_if_fail (MH_IS_NODE (self), json_array_new ());

  if (self->replicator)
    return add_withheld (self, mh_replicator_get_peer_status (self->replicator));

  result = json_array_new ();
  peers = mh_peers_list (self->store);
  for (guint i = 0; i < peers->len; i++)
    {
      MhPeerInfo *info = g_ptr_array_index (peers, i);
      JsonObject *object = json_object_new ();

      set_text (object, "fingerprint", info->fingerprint);
      set_text (object, "url", info->url);
      set_text (object, "site_id", info->site_id);
      set_text (object, "name", info->name);
      json_object_set_boolean_member (object, "connected", FALSE);
      json_object_set_int_member (object, "last_contact", info->last_contact_ms);
      json_object_set_int_member (object, "bytes_sent", info->bytes_sent);
      json_object_set_int_member (object, "bytes_received", info->bytes_received);
      if (info->last_error)
        set_text (object, "last_error", info->last_error);
      json_array_add_object_element (result, object);
    }
  return add_withheld (self, result);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/**
 * mh_node_get_gap_status:
 *
 * Holes in peer origins' sequence numbers (docs/security.md,
 * "Withholding"): how many are still unexplained, how many changes they
 * span, and how many a peer explained.
 */
JsonObject *
mh_node_get_gap_status (MhNode *self)
{
  JsonObject *object = json_object_new ();
  g_autoptr(GPtrArray) gaps = NULL;
  gint64 unexplained = 0, missing = 0, explained = 0;
  JsonArray *open;

  g_return_val_if_fail (MH_IS_NODE (self), object);

  open = json_array_new ();
  gaps = mh_store_get_gaps (self->store, FALSE, G_MAXINT, NULL);
  for (guint i = 0; gaps != NULL && i < gaps->len; i++)
    {
      MhGap *gap = g_ptr_array_index (gaps, i);
      JsonObject *entry;

      if (gap->settled_by != NULL)
        {
          explained++;
          continue;
        }
      unexplained++;
      missing += gap->last - gap->first + 1;
      if (json_array_get_length (open) >= STATUS_GAPS_SHOWN)
        continue;
      entry = json_object_new ();
      set_text (entry, "origin", gap->origin);
      json_object_set_int_member (entry, "first", gap->first);
      json_object_set_int_member (entry, "last", gap->last);
      set_text (entry, "via", gap->via);
      json_object_set_int_member (entry, "noticed", gap->noticed_ms);
      json_object_set_int_member (entry, "asked", gap->tries);
      json_array_add_object_element (open, entry);
    }
  json_object_set_int_member (object, "unexplained", unexplained);
  json_object_set_int_member (object, "missing_changes", missing);
  json_object_set_int_member (object, "explained", explained);
  json_object_set_array_member (object, "open", open);
  return object;
}

/**
 * mh_node_get_digest:
 *
 * The replica's digests for the whole network to compare (see
 * mh_node_get_digest_for()), in name order so that equal replicas give
 * equal text.
 */
JsonObject *
mh_node_get_digest (MhNode *self)
{
  g_autoptr(GError) error = NULL;
  JsonObject *result = mh_node_get_digest_for (self, NULL, &error);

  if (result == NULL)
    {
      g_warning ("digest: %s", error->message);
      result = json_object_new ();
    }
  return result;
}

/**
 * mh_node_get_digest_for:
 * @hospital_id: (nullable): one hospital's patients, or %NULL for every
 *   hospital this node holds open transfers for
 *
 * Digests per audience (docs/sync.md, "Digests per audience"): `buckets`
 * holds what two nodes that share it can compare: the public buckets, the
 * same on every node, and `patients:HOSPITAL_ID` (mh_medhead_hospital_digest()),
 * the same on the hubs, that hospital's desk and the crew of its open
 * transfers; with @hospital_id that bucket alone, even when empty. `held`
 * holds this node's own totals of the need-to-know buckets (`patients`,
 * `message`, `retraction`): the same only on sites of the same audience,
 * such as two hubs.
 *
 * Returns: (transfer full): the digests, or %NULL with
 *   %MH_NODE_ERROR_NOT_FOUND for an unknown hospital
 */
JsonObject *
mh_node_get_digest_for (MhNode *self, const char *hospital_id, GError **error)
{
  g_autoptr(JsonObject) result = json_object_new ();
  JsonObject *buckets = json_object_new ();
  JsonObject *held = json_object_new ();
  g_autoptr(GHashTable) digests = NULL;
  g_autofree gpointer *keys = NULL;
  g_auto(GStrv) hospitals = NULL;
  guint n = 0;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  set_text (result, "site_id", self->site_id);
  json_object_set_object_member (result, "buckets", buckets);
  json_object_set_object_member (result, "held", held);

  if (hospital_id != NULL)
    {
      if (mh_store_get_row_state (self->store, "hospital", hospital_id) != MH_ROW_LIVE)
        {
          fail (error, MH_NODE_ERROR_NOT_FOUND, _("no hospital %s"), hospital_id);
          return NULL;
        }
      hospitals = g_new0 (char *, 2);
      hospitals[0] = g_strdup (hospital_id);
    }
  else
    {
      g_autoptr(GError) local = NULL;

      hospitals = mh_medhead_open_hospitals (self->store, &local);
      if (hospitals == NULL)
        {
          fail (error, MH_NODE_ERROR_FAILED, _("digest: %s"), local->message);
          return NULL;
        }
    }

  /* Public and held buckets first, then each hospital's: name order. */
  digests = mh_store_list_digests (self->store);
  for (guint i = 0; hospitals[i] != NULL; i++)
    {
      g_autoptr(GError) local = NULL;
      MhDigest digest;

      if (!mh_medhead_hospital_digest (self->store, hospitals[i], &digest, &local))
        {
          fail (error, MH_NODE_ERROR_FAILED, _("digest: %s"), local->message);
          return NULL;
        }
      g_hash_table_insert (digests, g_strconcat (MH_BUCKET_PATIENTS ":", hospitals[i], NULL),
                           mh_digest_to_string (&digest));
    }
  keys = g_hash_table_get_keys_as_array (digests, &n);
  qsort (keys, n, sizeof (gpointer), compare_strings);
  for (guint i = 0; i < n; i++)
    {
      const char *name = keys[i];
      gboolean per_hospital = g_str_has_prefix (name, MH_BUCKET_PATIENTS ":");

      if (!per_hospital && !mh_medhead_bucket_is_shared (mh_store_get_schema (self->store), name))
        set_text (held, name, g_hash_table_lookup (digests, name));
      else
        set_text (buckets, name, g_hash_table_lookup (digests, name));
    }
  return g_steal_pointer (&result);
}

/**
 * mh_node_get_history:
 *
 * Returns: (transfer full): the losing values of the row's history
 *   registers, oldest first: register, value (an array, one element per
 *   column), hlc, origin, replaced_at (ms)
 */
JsonArray *
mh_node_get_history (MhNode *self, const char *table, const char *row, GError **error)
{
  g_autoptr(GPtrArray) entries = NULL;
  JsonArray *result;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (table == NULL || mh_schema_lookup_table (mh_store_get_schema (self->store), table) == NULL)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("table: unknown table"));
      return NULL;
    }
  if (row == NULL || *row == '\0')
    {
      fail (error, MH_NODE_ERROR_INVALID, _("row: required"));
      return NULL;
    }
  entries = mh_store_list_history (self->store, table, row);
  result = json_array_new ();
  for (guint i = 0; i < entries->len; i++)
    {
      MhHistoryEntry *entry = g_ptr_array_index (entries, i);
      JsonObject *item = json_object_new ();
      JsonArray *value = json_array_new ();
      gsize n = g_variant_n_children (entry->value);

      for (gsize j = 0; j < n; j++)
        {
          g_autoptr(GVariant) child = g_variant_get_child_value (entry->value, j);
          json_array_add_element (value, value_to_json (child));
        }
      set_text (item, "register", entry->reg);
      json_object_set_array_member (item, "value", value);
      json_object_set_int_member (item, "hlc", entry->hlc);
      set_text (item, "origin", entry->origin);
      json_object_set_int_member (item, "replaced_at", entry->replaced_at_ms);
      json_array_add_object_element (result, item);
    }
  return result;
}

/* ------------------------------------------------------------------------ */
/* Import and export                                                        */

static const char *const registry_members[] = {
  "format", "demo", "notice", "test_point", "hospitals", "units", NULL,
};

typedef struct
{
  MhNode *self;
  JsonObject *document;
  guint n_hospitals;
  guint n_units;
} ImportTxn;

/* The entries of "hospitals" or "units", checked to be objects. */
static gboolean
import_entries (JsonObject *document, const char *member, JsonArray **out, GError **error)
{
  JsonNode *node = json_object_get_member (document, member);
  JsonArray *array;

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return fail (error, MH_NODE_ERROR_INVALID, _("%s: must be an array"), member);
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (!JSON_NODE_HOLDS_OBJECT (json_array_get_element (array, i)))
      return fail (error, MH_NODE_ERROR_INVALID, _("%s[%u]: must be an object"), member, i);
  *out = array;
  return TRUE;
}

/* An entry's id: required (re-importing a file must update, not
 * duplicate), and a UUID. */
static const char *
import_id (JsonObject *entry, const char *path, GError **error)
{
  const char *id;

  if (!get_string_member (entry, "id", path, &id, error))
    return NULL;
  if (id == NULL)
    fail (error, MH_NODE_ERROR_INVALID, _("%sid: required"), path);
  else if (!mh_medhead_uuid_is_valid (id))
    fail (error, MH_NODE_ERROR_INVALID, _("%sid: must be a UUID"), path);
  else
    return id;
  return NULL;
}

static gboolean
import_txn (MhStore *store, gpointer user_data, GError **error)
{
  ImportTxn *txn = user_data;
  MhNode *self = txn->self;
  JsonArray *hospitals, *units;

  if (!import_entries (txn->document, "hospitals", &hospitals, error)
      || !import_entries (txn->document, "units", &units, error))
    return FALSE;

  for (guint i = 0; hospitals != NULL && i < json_array_get_length (hospitals); i++)
    {
      JsonObject *entry = json_array_get_object_element (hospitals, i);
      g_autofree char *path = g_strdup_printf ("hospitals[%u].", i);
      HospitalWrite write = { 0 };
      const char *id = import_id (entry, path, error);

      if (id == NULL)
        return FALSE;
      /* A desk speaks for its own hospital, a crew for its own unit. */
      if (self->role == MH_ROLE_AMBULANCE)
        return fail (error, MH_NODE_ERROR_FORBIDDEN,
                     _("hospitals[%u]: an ambulance node imports only its own unit"), i);
      if (self->role == MH_ROLE_HOSPITAL && g_strcmp0 (id, self->hospital_id) != 0)
        return fail (error, MH_NODE_ERROR_FORBIDDEN,
                     _("hospitals[%u]: a hospital node imports only its own hospital"), i);
      write.self = self;
      write.id = id;
      write.fields = entry;
      write.path = path;
      write.mode = WRITE_IMPORT;
      if (!write_hospital (&write, error))
        return FALSE;
      txn->n_hospitals++;
    }

  for (guint i = 0; units != NULL && i < json_array_get_length (units); i++)
    {
      JsonObject *entry = json_array_get_object_element (units, i);
      g_autofree char *path = g_strdup_printf ("units[%u].", i);
      UnitWrite write = { 0 };
      const char *id = import_id (entry, path, error);

      if (id == NULL)
        return FALSE;
      if (self->role == MH_ROLE_HOSPITAL)
        return fail (error, MH_NODE_ERROR_FORBIDDEN,
                     _("units[%u]: a hospital node imports only its own hospital"), i);
      if (self->role == MH_ROLE_AMBULANCE && g_strcmp0 (id, self->unit_id) != 0)
        return fail (error, MH_NODE_ERROR_FORBIDDEN,
                     _("units[%u]: an ambulance node imports only its own unit"), i);
      write.self = self;
      write.id = id;
      write.fields = entry;
      write.path = path;
      write.mode = WRITE_IMPORT;
      if (!write_unit (&write, error))
        return FALSE;
      txn->n_units++;
    }
  return TRUE;
}

/**
 * mh_node_import:
 * @document: a registry file ("medhead-registry/1")
 * @n_hospitals: (out) (optional): how many hospitals were written
 * @n_units: (out) (optional): how many units were written
 *
 * Writes hospitals (with their statuses and beds) and units, in one
 * transaction: a bad entry fails the whole import, naming its path, and
 * nothing is written. A hub imports everything (but leaves the beds and
 * statuses of a hospital with a site of its own to that site); a hospital
 * node only its own hospital; an ambulance node only its own unit.
 */
gboolean
mh_node_import (MhNode *self, JsonNode *document, guint *n_hospitals, guint *n_units,
                GError **error)
{
  ImportTxn txn = { 0 };
  g_autoptr(GList) members = NULL;
  const char *format;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (n_hospitals)
    *n_hospitals = 0;
  if (n_units)
    *n_units = 0;
  if (document == NULL || !JSON_NODE_HOLDS_OBJECT (document))
    return fail (error, MH_NODE_ERROR_INVALID, _("document: must be a JSON object"));
  txn.document = json_node_get_object (document);
  if (!get_string_member (txn.document, "format", "", &format, error))
    return FALSE;
  if (g_strcmp0 (format, REGISTRY_FORMAT) != 0)
    return fail (error, MH_NODE_ERROR_INVALID, _("format: must be \"%s\""), REGISTRY_FORMAT);
  members = json_object_get_members (txn.document);
  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (registry_members, l->data))
      return fail (error, MH_NODE_ERROR_INVALID, _("%s: unknown field"), (const char *) l->data);

  txn.self = self;
  if (!transact (self, import_txn, &txn, error))
    return FALSE;
  if (n_hospitals)
    *n_hospitals = txn.n_hospitals;
  if (n_units)
    *n_units = txn.n_units;
  return TRUE;
}

static JsonArray *
own_entries (JsonObject *document, const char *member, const char *own_id)
{
  JsonArray *all = json_object_get_array_member (document, member);
  JsonArray *own = json_array_new ();

  for (guint i = 0; all != NULL && own_id != NULL && i < json_array_get_length (all); i++)
    {
      JsonNode *entry = json_array_get_element (all, i);

      if (JSON_NODE_HOLDS_OBJECT (entry)
          && g_strcmp0 (json_object_get_string_member_with_default (json_node_get_object (entry),
                                                                    "id", NULL),
                        own_id) == 0)
        json_array_add_element (own, json_node_copy (entry));
    }
  return own;
}

/**
 * mh_node_import_own:
 * @document: a whole region's registry file
 *
 * Like mh_node_import(), but a hospital station takes only its own
 * hospital and a crew station only its own unit from @document: what a
 * new station writes from the registry it was set up with. The rest of the
 * region reaches it from its peers. A hub takes everything.
 */
gboolean
mh_node_import_own (MhNode *self, JsonNode *document, GError **error)
{
  g_autoptr(JsonNode) own = NULL;
  JsonObject *source, *object;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (self->role == MH_ROLE_HUB || document == NULL || !JSON_NODE_HOLDS_OBJECT (document))
    return mh_node_import (self, document, NULL, NULL, error);

  source = json_node_get_object (document);
  object = json_object_new ();
  if (json_object_has_member (source, "format"))
    json_object_set_member (object, "format",
                            json_node_copy (json_object_get_member (source, "format")));
  json_object_set_array_member (object, "hospitals",
                                own_entries (source, "hospitals",
                                             self->role == MH_ROLE_HOSPITAL ? self->hospital_id
                                                                            : NULL));
  json_object_set_array_member (object, "units",
                                own_entries (source, "units",
                                             self->role == MH_ROLE_AMBULANCE ? self->unit_id
                                                                             : NULL));
  own = json_node_init_object (json_node_alloc (), object);
  json_object_unref (object);
  return mh_node_import (self, own, NULL, NULL, error);
}

/**
 * mh_node_export:
 *
 * Returns: (transfer full): the hospitals (with statuses and bed counts)
 *   and units of the replica, as a registry file mh_node_import() reads
 */
JsonNode *
mh_node_export (MhNode *self, GError **error)
{
  g_autoptr(JsonObject) document = json_object_new ();
  JsonArray *hospitals, *units;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  hospitals = list_hospitals (self, TRUE, error);
  if (hospitals == NULL)
    return NULL;
  units = list_units (self, TRUE, error);
  if (units == NULL)
    {
      json_array_unref (hospitals);
      return NULL;
    }
  set_text (document, "format", REGISTRY_FORMAT);
  json_object_set_array_member (document, "hospitals", hospitals);
  json_object_set_array_member (document, "units", units);
  return json_node_init_object (json_node_alloc (), document);
}

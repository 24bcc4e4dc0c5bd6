/* mh-dispatch.c: incidents, the nearest suitable units, assignments and
 * the crews' answers (see mh-dispatch.h)
 *
 * Kept out of mh-node.c: it only needs the store and the node's
 * transaction helper. Every write is one transaction; the validator
 * (mh-medhead-validate.c) judges ownership again, locally and on every
 * peer.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "mh-dispatch.h"
#include "mh-medhead-validate.h"
#include "mh-node-private.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

static gboolean fail (GError **error, MhNodeError code, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

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

static sqlite3 *
db_of (MhNode *self)
{
  return mh_store_get_db (mh_node_get_store (self));
}

static sqlite3_stmt *
prepare (MhNode *self, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (db_of (self), sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      fail (error, MH_NODE_ERROR_FAILED, _("preparing a query: %s"), sqlite3_errmsg (db_of (self)));
      sqlite3_finalize (stmt);
      return NULL;
    }
  return stmt;
}

static const char *
column_text (sqlite3_stmt *stmt, int col)
{
  return (const char *) sqlite3_column_text (stmt, col);
}

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
    default:
      json_object_set_null_member (object, member);
      break;
    }
}

/* ------------------------------------------------------------------------ */
/* Capabilities                                                             */

/* The stored form as an array of names; read leniently (a newer schema may
 * know more). */
JsonArray *
mh_node_capabilities_to_json (const char *text)
{
  JsonArray *array = json_array_new ();
  g_auto(GStrv) parts = NULL;

  if (text == NULL || *text == '\0')
    return array;
  parts = g_strsplit (text, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] != '\0')
      json_array_add_string_element (array, parts[i]);
  return array;
}

static int
capability_index (const char *name)
{
  const char *const *names = mh_medhead_capabilities ();

  for (int k = 0; names[k] != NULL; k++)
    if (strcmp (names[k], name) == 0)
      return k;
  return -1;
}

static char *
bad_capabilities (char **reason)
{
  g_autofree char *list = g_strjoinv (", ", (char **) mh_medhead_capabilities ());

  *reason = g_strdup_printf (_("must be names among %s (an array, or separated by commas)"), list);
  return NULL;
}

/* An array of names in any order, or a comma list: the stored form. */
char *
mh_node_capabilities_from_json (JsonNode *node, char **reason)
{
  g_auto(GStrv) parts = NULL;
  guint32 mask = 0;

  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      const char *text = json_node_get_string (node);

      parts = *text ? g_strsplit (text, ",", -1) : g_new0 (char *, 1);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);

      parts = g_new0 (char *, n + 1);
      for (guint i = 0; i < n; i++)
        {
          JsonNode *element = json_array_get_element (array, i);

          if (!JSON_NODE_HOLDS_VALUE (element)
              || json_node_get_value_type (element) != G_TYPE_STRING)
            return bad_capabilities (reason);
          parts[i] = g_strdup (json_node_get_string (element));
        }
    }
  else
    return bad_capabilities (reason);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      int k = capability_index (g_strstrip (parts[i]));

      if (k < 0)
        return bad_capabilities (reason);
      mask |= 1u << k;
    }
  return mh_medhead_format_capabilities (mask);
}

static guint32
capability_mask (const char *text)
{
  g_auto(GStrv) parts = NULL;
  guint32 mask = 0;

  if (text == NULL || *text == '\0')
    return 0;
  parts = g_strsplit (text, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      int k = capability_index (parts[i]);
      /* An unknown name (newer schema) counts as one this node cannot match. */
      mask |= k < 0 ? 0x80000000u : 1u << k;
    }
  return mask;
}

static JsonArray *
mask_to_json (guint32 mask)
{
  g_autofree char *text = mh_medhead_format_capabilities (mask);

  return mh_node_capabilities_to_json (text);
}

/* ------------------------------------------------------------------------ */
/* Reading incidents                                                        */

#define INCIDENT_SELECT                                                                     \
  "SELECT i.id, i.created_at, i.lat, i.lon, i.nature, i.nature_text, i.priority, i.skills," \
  " i.created_by, coalesce(i.dispatch_state, 'open') AS state, i.unit_id, u.call_sign,"      \
  " i.dispatch_at, i.dispatch_by,"                                                          \
  " CASE WHEN i.answer_unit = i.unit_id THEN i.answer END AS answer,"                        \
  " CASE WHEN i.answer_unit = i.unit_id THEN i.answer_at END AS answer_at"                   \
  " FROM incident i LEFT JOIN unit u ON u.id = i.unit_id"
#define INCIDENT_KNOWN "i.created_at IS NOT NULL"
#define INCIDENT_ORDER                                                                      \
  " ORDER BY CASE state WHEN 'open' THEN 0 WHEN 'assigned' THEN 1 ELSE 2 END,"              \
  " CASE i.priority WHEN 'immediate' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END,"               \
  " i.created_at DESC, i.id"

static JsonArray *
ids_of (MhNode *self, const char *sql, const char *id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare (self, sql, error);
  JsonArray *ids;

  if (stmt == NULL)
    return NULL;
  ids = json_array_new ();
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    json_array_add_string_element (ids, column_text (stmt, 0));
  return ids;
}

static JsonObject *
incident_from_row (MhNode *self, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(JsonObject) incident = json_object_new ();
  const char *id = column_text (stmt, 0);
  JsonArray *ids;

  for (int col = 0; col < sqlite3_column_count (stmt); col++)
    set_column (incident, sqlite3_column_name (stmt, col), stmt, col);
  json_object_set_array_member (incident, "skills",
                                mh_node_capabilities_to_json (column_text (stmt, 7)));
  ids = ids_of (self, "SELECT id FROM patient WHERE incident_id = ?1 ORDER BY _rid", id, error);
  if (ids == NULL)
    return NULL;
  json_object_set_array_member (incident, "patient_ids", ids);
  ids = ids_of (self,
                "SELECT t.id FROM transfer t JOIN patient p ON p.id = t.patient_id"
                " WHERE p.incident_id = ?1 ORDER BY t._rid",
                id, error);
  if (ids == NULL)
    return NULL;
  json_object_set_array_member (incident, "transfer_ids", ids);
  return g_steal_pointer (&incident);
}

JsonArray *
mh_node_list_incidents (MhNode *self, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonArray) list = json_array_new ();
  int rc;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  stmt = prepare (self, INCIDENT_SELECT " WHERE " INCIDENT_KNOWN INCIDENT_ORDER, error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      JsonObject *incident = incident_from_row (self, stmt, error);

      if (incident == NULL)
        return NULL;
      json_array_add_object_element (list, incident);
    }
  if (rc != SQLITE_DONE)
    {
      fail (error, MH_NODE_ERROR_FAILED, _("listing incidents: %s"), sqlite3_errmsg (db_of (self)));
      return NULL;
    }
  return g_steal_pointer (&list);
}

JsonObject *
mh_node_get_incident (MhNode *self, const char *id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  stmt = prepare (self, INCIDENT_SELECT " WHERE " INCIDENT_KNOWN " AND i.id = ?1", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      fail (error, MH_NODE_ERROR_NOT_FOUND, _("no incident %s"), id);
      return NULL;
    }
  return incident_from_row (self, stmt, error);
}

/* ------------------------------------------------------------------------ */
/* Candidates                                                               */

typedef struct
{
  JsonObject *unit; /* owned */
  int rank;         /* 0 fresh position, 1 stale, 2 none */
  double distance_m;
  guint n_missing;
  char *call_sign;
} Candidate;

static void
candidate_clear (Candidate *candidate)
{
  g_clear_pointer (&candidate->unit, json_object_unref);
  g_clear_pointer (&candidate->call_sign, g_free);
}

static int
compare_candidates (gconstpointer pa, gconstpointer pb)
{
  const Candidate *a = pa, *b = pb;

  if (a->n_missing != b->n_missing)
    return a->n_missing < b->n_missing ? -1 : 1;
  if (a->rank != b->rank)
    return a->rank < b->rank ? -1 : 1;
  if (a->rank < 2 && a->distance_m != b->distance_m)
    return a->distance_m < b->distance_m ? -1 : 1;
  return g_strcmp0 (a->call_sign, b->call_sign);
}

static double
haversine_m (double lat1, double lon1, double lat2, double lon2)
{
  const double r = 6371008.8;
  double p1 = lat1 * G_PI / 180, p2 = lat2 * G_PI / 180;
  double dp = (lat2 - lat1) * G_PI / 180, dl = (lon2 - lon1) * G_PI / 180;
  double h = sin (dp / 2) * sin (dp / 2) + cos (p1) * cos (p2) * sin (dl / 2) * sin (dl / 2);

  return 2 * r * asin (MIN (1.0, sqrt (h)));
}

static JsonArray *
candidates_to_json (GArray *candidates, guint limit)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < candidates->len && (limit == 0 || i < limit); i++)
    {
      Candidate *candidate = &g_array_index (candidates, Candidate, i);

      json_array_add_object_element (array, g_steal_pointer (&candidate->unit));
    }
  return array;
}

JsonObject *
mh_node_incident_candidates (MhNode *self, const char *id, guint limit, GError **error)
{
  g_autoptr(JsonObject) incident = NULL;
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GArray) full = NULL;
  g_autoptr(GArray) partial = NULL;
  g_autofree char *needed_text = NULL;
  guint32 needed;
  double lat, lon;
  gint64 now = mh_node_now_ms (self);

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  incident = mh_node_get_incident (self, id, error);
  if (incident == NULL)
    return NULL;
  lat = json_object_get_double_member (incident, "lat");
  lon = json_object_get_double_member (incident, "lon");
  stmt = prepare (self, "SELECT skills FROM incident WHERE id = ?1", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    needed_text = g_strdup (column_text (stmt, 0));
  g_clear_pointer (&stmt, sqlite3_finalize);
  needed = capability_mask (needed_text);

  /* Available units only: a unit's own status says so (a unit that never
   * said is not counted on). */
  stmt = prepare (self,
                  "SELECT u.id, u.call_sign, u.type, u.status, u.capabilities, p.lat, p.lon,"
                  " p.at FROM unit u LEFT JOIN unit_position p ON p.id = u.id"
                  " WHERE u.call_sign IS NOT NULL AND u.status = 'available'",
                  error);
  if (stmt == NULL)
    return NULL;
  full = g_array_new (FALSE, TRUE, sizeof (Candidate));
  partial = g_array_new (FALSE, TRUE, sizeof (Candidate));
  g_array_set_clear_func (full, (GDestroyNotify) candidate_clear);
  g_array_set_clear_func (partial, (GDestroyNotify) candidate_clear);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      Candidate candidate = { 0 };
      JsonObject *unit = json_object_new ();
      guint32 has = capability_mask (column_text (stmt, 4));
      guint32 missing = needed & ~has;

      json_object_set_string_member (unit, "unit_id", column_text (stmt, 0));
      set_column (unit, "call_sign", stmt, 1);
      set_column (unit, "type", stmt, 2);
      set_column (unit, "status", stmt, 3);
      json_object_set_array_member (unit, "capabilities",
                                    mh_node_capabilities_to_json (column_text (stmt, 4)));
      candidate.rank = 2;
      if (sqlite3_column_type (stmt, 5) != SQLITE_NULL
          && sqlite3_column_type (stmt, 6) != SQLITE_NULL)
        {
          double ulat = sqlite3_column_double (stmt, 5), ulon = sqlite3_column_double (stmt, 6);
          gboolean known_time = sqlite3_column_type (stmt, 7) != SQLITE_NULL;
          gint64 age_s = known_time ? MAX (0, (now - sqlite3_column_int64 (stmt, 7)) / 1000) : -1;
          gboolean stale = !known_time || age_s > MH_DISPATCH_POSITION_STALE_S;

          candidate.distance_m = haversine_m (lat, lon, ulat, ulon);
          candidate.rank = stale ? 1 : 0;
          json_object_set_double_member (unit, "lat", ulat);
          json_object_set_double_member (unit, "lon", ulon);
          json_object_set_double_member (unit, "distance_m", round (candidate.distance_m));
          set_column (unit, "position_at", stmt, 7);
          if (known_time)
            json_object_set_int_member (unit, "position_age_s", age_s);
          else
            json_object_set_null_member (unit, "position_age_s");
          json_object_set_boolean_member (unit, "stale", stale);
        }
      else
        {
          json_object_set_null_member (unit, "lat");
          json_object_set_null_member (unit, "lon");
          json_object_set_null_member (unit, "distance_m");
          json_object_set_null_member (unit, "position_at");
          json_object_set_null_member (unit, "position_age_s");
          json_object_set_boolean_member (unit, "stale", TRUE);
        }
      json_object_set_array_member (unit, "missing_skills", mask_to_json (missing));
      candidate.unit = unit;
      candidate.call_sign = g_strdup (column_text (stmt, 1));
      for (guint32 m = missing; m != 0; m &= m - 1)
        candidate.n_missing++;
      g_array_append_val (missing == 0 ? full : partial, candidate);
    }
  g_array_sort (full, compare_candidates);
  g_array_sort (partial, compare_candidates);

  result = json_object_new ();
  json_object_set_string_member (result, "incident_id", id);
  json_object_set_array_member (result, "skills", mask_to_json (needed));
  json_object_set_array_member (result, "candidates", candidates_to_json (full, limit));
  json_object_set_array_member (result, "fallback", candidates_to_json (partial, limit));
  return g_steal_pointer (&result);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

typedef struct
{
  MhNode *self;
  const char *id;
  /* Floating when set, sunk by write_incident(): a retried transaction
   * writes them again. All nullable. */
  GVariant *report;
  GVariant *dispatch;
  GVariant *answer;
  GVariant *unit; /* the unit's own status */
  const char *unit_id;
} IncidentWrite;

static gboolean
write_incident_txn (MhStore *store, gpointer user_data, GError **error)
{
  IncidentWrite *write = user_data;
  g_autoptr(GError) local_error = NULL;
  gboolean ok = TRUE;

  if (write->report != NULL)
    ok = mh_store_insert (store, "incident", write->id, write->report,
                          &local_error);
  if (ok && write->dispatch != NULL)
    ok = mh_store_update (store, "incident", write->id, write->dispatch,
                          &local_error);
  if (ok && write->answer != NULL)
    ok = mh_store_update (store, "incident", write->id, write->answer,
                          &local_error);
  if (ok && write->unit != NULL)
    ok = mh_store_update (store, "unit", write->unit_id, write->unit,
                          &local_error);
  if (!ok)
    return mh_node_fail_from_store (error, g_steal_pointer (&local_error));
  return TRUE;
}

static void
incident_write_clear (IncidentWrite *write)
{
  /* The store took its own references. */
  g_clear_pointer (&write->report, g_variant_unref);
  g_clear_pointer (&write->dispatch, g_variant_unref);
  g_clear_pointer (&write->answer, g_variant_unref);
  g_clear_pointer (&write->unit, g_variant_unref);
}

static gboolean
write_incident (IncidentWrite *write, GError **error)
{
  gboolean ok;

  if (write->report)
    g_variant_ref_sink (write->report);
  if (write->dispatch)
    g_variant_ref_sink (write->dispatch);
  if (write->answer)
    g_variant_ref_sink (write->answer);
  if (write->unit)
    g_variant_ref_sink (write->unit);
  ok = mh_node_transact (write->self, write_incident_txn, write, error);
  incident_write_clear (write);
  return ok;
}

static gboolean
number_member (JsonObject *fields, const char *member, double min, double max, double *out,
               GError **error)
{
  JsonNode *node = json_object_get_member (fields, member);
  GType type;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return fail (error, MH_NODE_ERROR_INVALID, _("%s: required"), member);
  type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (type == G_TYPE_INT64)
    *out = (double) json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    *out = json_node_get_double (node);
  else
    return fail (error, MH_NODE_ERROR_INVALID, _("%s: must be a number"), member);
  if (!isfinite (*out) || *out < min || *out > max)
    return fail (error, MH_NODE_ERROR_INVALID, _("%s: must be between %g and %g"), member, min,
                 max);
  return TRUE;
}

static gboolean
text_member (JsonObject *fields, const char *member, gboolean required, const char **out,
             GError **error)
{
  JsonNode *node = json_object_get_member (fields, member);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return required ? fail (error, MH_NODE_ERROR_INVALID, _("%s: required"), member) : TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return fail (error, MH_NODE_ERROR_INVALID, _("%s: must be text"), member);
  *out = json_node_get_string (node);
  return TRUE;
}

char *
mh_node_create_incident (MhNode *self, JsonObject *fields, GError **error)
{
  static const char *const members[] = { "id", "lat", "lon", "nature", "nature_text",
                                         "priority", "skills", NULL };
  g_autoptr(GList) names = NULL;
  g_autofree char *id = NULL;
  g_autofree char *skills = NULL;
  const char *nature, *nature_text, *priority, *given_id;
  GVariantDict report;
  IncidentWrite write = { 0 };
  double lat, lon;

  g_return_val_if_fail (MH_IS_NODE (self), NULL);

  if (fields == NULL)
    {
      fail (error, MH_NODE_ERROR_INVALID, _("body: must be a JSON object"));
      return NULL;
    }
  names = json_object_get_members (fields);
  for (GList *l = names; l != NULL; l = l->next)
    if (!g_strv_contains (members, l->data))
      {
        fail (error, MH_NODE_ERROR_INVALID, _("%s: unknown field"), (const char *) l->data);
        return NULL;
      }
  if (mh_node_get_role (self) == MH_ROLE_HOSPITAL)
    {
      fail (error, MH_NODE_ERROR_FORBIDDEN,
            _("only a hub or an ambulance crew reports an incident"));
      return NULL;
    }
  if (!text_member (fields, "id", FALSE, &given_id, error)
      || !number_member (fields, "lat", -90, 90, &lat, error)
      || !number_member (fields, "lon", -180, 180, &lon, error)
      || !text_member (fields, "nature", TRUE, &nature, error)
      || !text_member (fields, "nature_text", FALSE, &nature_text, error)
      || !text_member (fields, "priority", TRUE, &priority, error))
    return NULL;
  if (given_id != NULL && !mh_medhead_uuid_is_valid (given_id))
    {
      fail (error, MH_NODE_ERROR_INVALID, _("id: must be a UUID"));
      return NULL;
    }
  if (json_object_has_member (fields, "skills"))
    {
      g_autofree char *why = NULL;

      skills = mh_node_capabilities_from_json (json_object_get_member (fields, "skills"), &why);
      if (skills == NULL)
        {
          fail (error, MH_NODE_ERROR_INVALID, _("skills: %s"), why);
          return NULL;
        }
    }
  id = given_id ? g_strdup (given_id) : g_uuid_string_random ();

  g_variant_dict_init (&report, NULL);
  g_variant_dict_insert (&report, "created_at", "x", mh_node_now_ms (self));
  g_variant_dict_insert (&report, "lat", "d", lat);
  g_variant_dict_insert (&report, "lon", "d", lon);
  g_variant_dict_insert (&report, "nature", "s", nature);
  if (nature_text != NULL)
    g_variant_dict_insert (&report, "nature_text", "s", nature_text);
  g_variant_dict_insert (&report, "priority", "s", priority);
  g_variant_dict_insert (&report, "skills", "s", skills ? skills : "");
  g_variant_dict_insert (&report, "created_by", "s", mh_node_get_site_id (self));
  write.self = self;
  write.id = id;
  write.report = g_variant_dict_end (&report);
  /* A hub's incident is open for dispatch at once; a crew's report waits
   * for a hub's decision (its dispatch register stays empty: shown open). */
  if (mh_node_get_role (self) == MH_ROLE_HUB)
    write.dispatch = g_variant_new_parsed ("{'dispatch_state': <'open'>, 'dispatch_at': <%x>,"
                                           " 'dispatch_by': <%s>}",
                                           mh_node_now_ms (self), mh_node_get_site_id (self));
  if (!write_incident (&write, error))
    return NULL;
  return g_steal_pointer (&id);
}

/* The incident's dispatch side, for the checks before a write. */
typedef struct
{
  char *state;
  char *unit_id;
  char *answer; /* the assigned unit's */
} Dispatch;

static void
dispatch_clear (Dispatch *d)
{
  g_free (d->state);
  g_free (d->unit_id);
  g_free (d->answer);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Dispatch, dispatch_clear)

static gboolean
load_dispatch (MhNode *self, const char *id, Dispatch *d, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  if (id == NULL || *id == '\0')
    return fail (error, MH_NODE_ERROR_INVALID, _("id: required"));
  stmt = prepare (self,
                  "SELECT coalesce(dispatch_state, 'open'), unit_id,"
                  " CASE WHEN answer_unit = unit_id THEN answer END"
                  " FROM incident WHERE id = ?1 AND created_at IS NOT NULL",
                  error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return fail (error, MH_NODE_ERROR_NOT_FOUND, _("no incident %s"), id);
  d->state = g_strdup (column_text (stmt, 0));
  d->unit_id = g_strdup (column_text (stmt, 1));
  d->answer = g_strdup (column_text (stmt, 2));
  return TRUE;
}

static gboolean
dispatch_is_final (const Dispatch *d)
{
  return g_strcmp0 (d->state, "closed") == 0 || g_strcmp0 (d->state, "cancelled") == 0;
}

gboolean
mh_node_assign_incident (MhNode *self, const char *id, const char *unit_id, GError **error)
{
  g_auto (Dispatch) d = { 0 };
  g_autoptr(sqlite3_stmt) stmt = NULL;
  IncidentWrite write = { 0 };
  const char *status;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (mh_node_get_role (self) != MH_ROLE_HUB)
    return fail (error, MH_NODE_ERROR_FORBIDDEN, _("only a hub dispatches units to an incident"));
  if (!load_dispatch (self, id, &d, error))
    return FALSE;
  if (unit_id == NULL || *unit_id == '\0')
    return fail (error, MH_NODE_ERROR_INVALID, _("unit_id: required"));
  if (dispatch_is_final (&d))
    return fail (error, MH_NODE_ERROR_CONFLICT, _("incident %s is %s"), id, d.state);

  stmt = prepare (self, "SELECT status FROM unit WHERE id = ?1 AND call_sign IS NOT NULL", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, unit_id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return fail (error, MH_NODE_ERROR_NOT_FOUND, _("no unit %s"), unit_id);
  status = column_text (stmt, 0);
  if (g_strcmp0 (status, "available") != 0 && g_strcmp0 (d.unit_id, unit_id) != 0)
    return fail (error, MH_NODE_ERROR_CONFLICT, _("unit %s is not available (%s)"), unit_id,
                 status ? status : _("no status"));

  write.self = self;
  write.id = id;
  write.dispatch = g_variant_new_parsed ("{'dispatch_state': <'assigned'>, 'unit_id': <%s>,"
                                         " 'dispatch_at': <%x>, 'dispatch_by': <%s>}",
                                         unit_id, mh_node_now_ms (self),
                                         mh_node_get_site_id (self));
  return write_incident (&write, error);
}

gboolean
mh_node_close_incident (MhNode *self, const char *id, const char *state, GError **error)
{
  g_auto (Dispatch) d = { 0 };
  IncidentWrite write = { 0 };
  GVariantDict dict;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (mh_node_get_role (self) != MH_ROLE_HUB)
    return fail (error, MH_NODE_ERROR_FORBIDDEN, _("only a hub closes or cancels an incident"));
  if (g_strcmp0 (state, "closed") != 0 && g_strcmp0 (state, "cancelled") != 0)
    return fail (error, MH_NODE_ERROR_INVALID, _("state: must be one of closed, cancelled"));
  if (!load_dispatch (self, id, &d, error))
    return FALSE;
  if (dispatch_is_final (&d))
    return fail (error, MH_NODE_ERROR_CONFLICT, _("incident %s is already %s"), id, d.state);

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "dispatch_state", "s", state);
  if (d.unit_id != NULL)
    g_variant_dict_insert (&dict, "unit_id", "s", d.unit_id);
  g_variant_dict_insert (&dict, "dispatch_at", "x", mh_node_now_ms (self));
  g_variant_dict_insert (&dict, "dispatch_by", "s", mh_node_get_site_id (self));
  write.self = self;
  write.id = id;
  write.dispatch = g_variant_dict_end (&dict);
  return write_incident (&write, error);
}

/* Which answers may follow which, and the unit status each one means. */
static gboolean
answer_allowed (const char *before, const char *answer, const char **unit_status)
{
  if (g_strcmp0 (answer, "accepted") == 0)
    {
      *unit_status = "dispatched";
      return before == NULL;
    }
  if (g_strcmp0 (answer, "declined") == 0)
    {
      *unit_status = NULL;
      return before == NULL;
    }
  if (g_strcmp0 (answer, "on_scene") == 0)
    {
      *unit_status = "on_scene";
      return g_strcmp0 (before, "accepted") == 0;
    }
  *unit_status = "available";
  return g_strcmp0 (before, "accepted") == 0 || g_strcmp0 (before, "on_scene") == 0;
}

gboolean
mh_node_answer_incident (MhNode *self, const char *id, const char *answer, GError **error)
{
  static const char *const answers[] = { "accepted", "on_scene", "cleared", "declined", NULL };
  g_auto (Dispatch) d = { 0 };
  IncidentWrite write = { 0 };
  const char *unit_id = mh_node_get_unit_id (self);
  const char *unit_status;
  gint64 now;

  g_return_val_if_fail (MH_IS_NODE (self), FALSE);

  if (answer == NULL || !g_strv_contains (answers, answer))
    return fail (error, MH_NODE_ERROR_INVALID,
                 _("answer: must be one of accepted, on_scene, cleared, declined"));
  if (!load_dispatch (self, id, &d, error))
    return FALSE;
  if (mh_node_get_role (self) != MH_ROLE_AMBULANCE || unit_id == NULL
      || g_strcmp0 (d.unit_id, unit_id) != 0)
    return fail (error, MH_NODE_ERROR_FORBIDDEN,
                 _("only the assigned unit's station answers incident %s"), id);
  if (dispatch_is_final (&d))
    return fail (error, MH_NODE_ERROR_CONFLICT, _("incident %s is %s"), id, d.state);
  if (!answer_allowed (d.answer, answer, &unit_status))
    return fail (error, MH_NODE_ERROR_CONFLICT, _("incident %s: cannot answer %s after %s"), id,
                 answer, d.answer ? d.answer : _("no answer"));

  now = mh_node_now_ms (self);
  write.self = self;
  write.id = id;
  write.answer = g_variant_new_parsed ("{'answer': <%s>, 'answer_unit': <%s>, 'answer_at': <%x>}",
                                       answer, unit_id, now);
  /* The crew's own status follows its answer; a unit not in this
   * replica's registry has no status to set. */
  if (unit_status != NULL
      && mh_store_get_row_state (mh_node_get_store (self), "unit", unit_id) == MH_ROW_LIVE)
    {
      write.unit_id = unit_id;
      write.unit = g_variant_new_parsed ("{'status': <%s>, 'status_at': <%x>}", unit_status, now);
    }
  return write_incident (&write, error);
}

/* ------------------------------------------------------------------------ */
/* Telling a unit's station at once                                         */

typedef struct
{
  MhNode *self; /* unowned: the watch is the node's object data */
  GPtrArray *pending;   /* incident ids changed in the current transaction */
  GHashTable *notified; /* incident id -> dispatch_at already told */
} Watch;

static void
watch_free (Watch *watch)
{
  g_ptr_array_unref (watch->pending);
  g_hash_table_unref (watch->notified);
  g_free (watch);
}

static void
incident_changed_cb (MhStore *store, const char *table, const char *row, MhNode *self)
{
  Watch *watch = g_object_get_data (G_OBJECT (self), "mh-dispatch-watch");

  if (row != NULL && !g_ptr_array_find_with_equal_func (watch->pending, row, g_str_equal, NULL))
    g_ptr_array_add (watch->pending, g_strdup (row));
}

static void
incident_committed_cb (MhStore *store, gint64 seq, MhNode *self)
{
  Watch *watch = g_object_get_data (G_OBJECT (self), "mh-dispatch-watch");
  g_autoptr(GPtrArray) pending = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;

  if (watch->pending->len == 0)
    return;
  pending = g_steal_pointer (&watch->pending);
  watch->pending = g_ptr_array_new_with_free_func (g_free);

  stmt = prepare (self,
                  "SELECT dispatch_at FROM incident WHERE id = ?1 AND created_at IS NOT NULL"
                  " AND dispatch_state = 'assigned' AND unit_id = ?2"
                  " AND (answer_unit IS NULL OR answer_unit != unit_id OR answer IS NULL"
                  "      OR answer_at < dispatch_at)",
                  NULL);
  if (stmt == NULL)
    return;
  for (guint i = 0; i < pending->len; i++)
    {
      const char *id = g_ptr_array_index (pending, i);
      gpointer told;
      gint64 at;

      sqlite3_reset (stmt);
      sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 2, mh_node_get_unit_id (self), -1, SQLITE_STATIC);
      if (sqlite3_step (stmt) != SQLITE_ROW)
        continue;
      at = sqlite3_column_int64 (stmt, 0);
      if (g_hash_table_lookup_extended (watch->notified, id, NULL, &told)
          && *(gint64 *) told == at)
        continue;
      g_hash_table_insert (watch->notified, g_strdup (id), g_memdup2 (&at, sizeof at));
      g_signal_emit_by_name (self, "incident-assigned", id);
    }
}

void
mh_node_watch_incidents (MhNode *self)
{
  Watch *watch;

  if (mh_node_get_role (self) != MH_ROLE_AMBULANCE || mh_node_get_unit_id (self) == NULL)
    return;
  watch = g_new0 (Watch, 1);
  watch->self = self;
  watch->pending = g_ptr_array_new_with_free_func (g_free);
  watch->notified = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_object_set_data_full (G_OBJECT (self), "mh-dispatch-watch", watch,
                          (GDestroyNotify) watch_free);
  g_signal_connect (mh_node_get_store (self), "changed::incident",
                    G_CALLBACK (incident_changed_cb), self);
  g_signal_connect (mh_node_get_store (self), "committed", G_CALLBACK (incident_committed_cb),
                    self);
}

/* mh-retention.c: eviction of patient data a set time after its transfers end
 *
 * Which hub holds what is learnt from the hubs' acknowledgements: a hub that
 * committed this node's log of a lane up to N holds every row whose changes
 * here all carry a local sequence number at or below N. The highest such N
 * per lane, over all hubs, is kept in node_hub_acked with the log epoch it
 * belongs to (a new epoch renumbers the log: the old marks then say
 * nothing). A change made after a hub's receipt carries a higher number,
 * so the rule holds for later changes too.
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "mh-retention.h"

#include "mh-medhead-schema.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

#define HOUR_MS (G_GINT64_CONSTANT (3600) * 1000)
#define DAY_MS (24 * HOUR_MS)

static sqlite3_stmt *
prepare (MhNode *node, const char *sql, GError **error)
{
  sqlite3 *db = mh_store_get_db (mh_node_get_store (node));
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FAILED, _("retention: %s"),
                   sqlite3_errmsg (db));
      return NULL;
    }
  return stmt;
}

gboolean
mh_retention_setup (MhNode *node, GError **error)
{
  sqlite3 *db = mh_store_get_db (mh_node_get_store (node));

  if (sqlite3_exec (db, "CREATE TABLE IF NOT EXISTS node_hub_acked (lane INTEGER PRIMARY KEY,"
                        " epoch INTEGER NOT NULL, seq INTEGER NOT NULL)",
                    NULL, NULL, NULL) != SQLITE_OK)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FAILED, _("retention: %s"),
                   sqlite3_errmsg (db));
      return FALSE;
    }
  return TRUE;
}

static gboolean
site_is_hub (MhNode *node, const char *site_id)
{
  g_autoptr(GVariant) site = NULL;
  const char *role = NULL;

  if (site_id == NULL)
    return FALSE;
  site = mh_store_get_row (mh_node_get_store (node), "site", site_id);
  return site != NULL && g_variant_lookup (site, "role", "&s", &role)
         && g_strcmp0 (role, "hub") == 0;
}

static gint64
hub_acked (MhNode *node, guint lane)
{
  MhStore *store = mh_node_get_store (node);
  g_autoptr(sqlite3_stmt) stmt = prepare (node, "SELECT seq FROM node_hub_acked "
                                                "WHERE lane = ? AND epoch = ?", NULL);

  if (stmt == NULL)
    return 0;
  sqlite3_bind_int (stmt, 1, (int) lane);
  sqlite3_bind_int64 (stmt, 2, mh_store_get_epoch (store));
  return sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
}

void
mh_retention_note_peer_acked (MhNode *node, const char *site_id, guint lane, gint64 seq)
{
  MhStore *store = mh_node_get_store (node);
  g_autoptr(sqlite3_stmt) stmt = NULL;

  if (seq <= 0 || seq <= hub_acked (node, lane) || !site_is_hub (node, site_id))
    return;
  stmt = prepare (node, "INSERT OR REPLACE INTO node_hub_acked (lane, epoch, seq) "
                        "VALUES (?, ?, ?)", NULL);
  if (stmt == NULL)
    return;
  sqlite3_bind_int (stmt, 1, (int) lane);
  sqlite3_bind_int64 (stmt, 2, mh_store_get_epoch (store));
  sqlite3_bind_int64 (stmt, 3, seq);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    g_message ("retention: cannot record a hub's acknowledgement: %s",
               sqlite3_errmsg (mh_store_get_db (store)));
}

/* The rows that go with a patient, table by table. */
typedef struct
{
  const char *table;
  GPtrArray *ids; /* char*, NULL-terminated once complete */
} Rows;

static const char *const row_queries[][2] = {
  { "patient", "SELECT id FROM patient WHERE id = ?1" },
  { "observation", "SELECT id FROM observation WHERE patient_id = ?1" },
  { "intervention", "SELECT id FROM intervention WHERE patient_id = ?1" },
  { "transfer", "SELECT id FROM transfer WHERE patient_id = ?1" },
  { "receipt", "SELECT r.id FROM receipt r JOIN transfer t ON t.id = r.transfer_id"
               " WHERE t.patient_id = ?1" },
  { "message", "SELECT m.id FROM message m JOIN transfer t ON m.channel = 'transfer:' || t.id"
               " WHERE t.patient_id = ?1" },
  { "retraction", "SELECT x.id FROM retraction x JOIN transfer t"
                  " ON x.channel = 'transfer:' || t.id WHERE t.patient_id = ?1" },
};

static void
rows_free (Rows *rows)
{
  for (guint i = 0; i < G_N_ELEMENTS (row_queries); i++)
    g_clear_pointer (&rows[i].ids, g_ptr_array_unref);
  g_free (rows);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Rows, rows_free)

static Rows *
patient_rows (MhNode *node, const char *patient_id, GError **error)
{
  g_autoptr(Rows) rows = g_new0 (Rows, G_N_ELEMENTS (row_queries));

  for (guint i = 0; i < G_N_ELEMENTS (row_queries); i++)
    {
      g_autoptr(sqlite3_stmt) stmt = prepare (node, row_queries[i][1], error);

      if (stmt == NULL)
        return NULL;
      rows[i].table = row_queries[i][0];
      rows[i].ids = g_ptr_array_new_with_free_func (g_free);
      sqlite3_bind_text (stmt, 1, patient_id, -1, SQLITE_STATIC);
      while (sqlite3_step (stmt) == SQLITE_ROW)
        g_ptr_array_add (rows[i].ids, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
      g_ptr_array_add (rows[i].ids, NULL);
    }
  return g_steal_pointer (&rows);
}

/* The hubs' site ids: their own changes are never sent back to them, so
 * they never acknowledge them, and need not. */
static GStrv
hub_sites (MhNode *node)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(sqlite3_stmt) stmt = prepare (node, "SELECT id FROM site WHERE role = 'hub'", NULL);

  while (stmt != NULL && sqlite3_step (stmt) == SQLITE_ROW)
    g_strv_builder_add (builder, (const char *) sqlite3_column_text (stmt, 0));
  return g_strv_builder_end (builder);
}

/* Whether a hub holds every change of these rows as they are here. */
static gboolean
rows_delivered (MhNode *node, Rows *rows)
{
  MhStore *store = mh_node_get_store (node);
  MhSchema *schema = mh_store_get_schema (store);
  g_auto(GStrv) hubs = NULL;

  if (mh_node_get_role (node) == MH_ROLE_HUB)
    return TRUE;
  hubs = hub_sites (node);
  for (guint i = 0; i < G_N_ELEMENTS (row_queries); i++)
    {
      const MhTableDef *def = mh_schema_lookup_table (schema, rows[i].table);
      gint64 acked = hub_acked (node, def->lane);

      for (guint j = 0; j + 1 < rows[i].ids->len; j++)
        if (mh_store_get_row_lseq (store, rows[i].table, g_ptr_array_index (rows[i].ids, j),
                                   (const char *const *) hubs)
            > acked)
          return FALSE;
    }
  return TRUE;
}

static gint64
keep_ms (MhNode *node)
{
  if (mh_node_get_role (node) == MH_ROLE_HUB)
    return (gint64) mh_node_get_audit_days (node) * DAY_MS;
  return (gint64) mh_node_get_retention_hours (node) * HOUR_MS;
}

/* Patients whose transfers have all ended, with when the last one did. */
static sqlite3_stmt *
ended_patients (MhNode *node, GError **error)
{
  return prepare (node, "SELECT t.patient_id, MAX(t.crew_at) FROM transfer t"
                        " JOIN patient p ON p.id = t.patient_id"
                        " GROUP BY t.patient_id"
                        " HAVING SUM(CASE WHEN t.crew_state IN ('arrived', 'cancelled')"
                        "   THEN 0 ELSE 1 END) = 0"
                        " ORDER BY 2, 1", error);
}

JsonArray *
mh_retention_list (MhNode *node, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = ended_patients (node, error);
  g_autoptr(JsonArray) list = json_array_new ();
  gint64 keep = keep_ms (node);

  if (stmt == NULL)
    return NULL;
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      const char *id = (const char *) sqlite3_column_text (stmt, 0);
      gint64 ended = sqlite3_column_int64 (stmt, 1);
      g_autoptr(Rows) rows = NULL;
      gboolean delivered = TRUE;
      JsonObject *entry;

      /* A hub is where things are delivered: no need to look at its rows. */
      if (mh_node_get_role (node) != MH_ROLE_HUB)
        {
          rows = patient_rows (node, id, error);
          if (rows == NULL)
            return NULL;
          delivered = rows_delivered (node, rows);
        }
      entry = json_object_new ();
      json_object_set_string_member (entry, "patient_id", id);
      json_object_set_int_member (entry, "ended_at", ended);
      json_object_set_int_member (entry, "evict_at", ended + keep);
      json_object_set_boolean_member (entry, "delivered", delivered);
      json_array_add_object_element (list, entry);
    }
  return g_steal_pointer (&list);
}

static gboolean
evict_rows (MhStore *store, gpointer user_data, GError **error)
{
  Rows *rows = user_data;

  for (guint i = 0; i < G_N_ELEMENTS (row_queries); i++)
    if (rows[i].ids->len > 1
        && !mh_store_evict (store, rows[i].table, (const char *const *) rows[i].ids->pdata,
                            error))
      return FALSE;
  return TRUE;
}

static guint
count_rows (Rows *rows)
{
  guint n = 0;

  for (guint i = 0; i < G_N_ELEMENTS (row_queries); i++)
    n += rows[i].ids->len - 1;
  return n;
}

JsonArray *
mh_retention_sweep (MhNode *node, gboolean dry_run, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = ended_patients (node, error);
  g_autoptr(JsonArray) done = json_array_new ();
  g_autoptr(GPtrArray) due = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) ended = g_array_new (FALSE, FALSE, sizeof (gint64));
  MhStore *store = mh_node_get_store (node);
  gint64 limit = mh_node_now_ms (node) - keep_ms (node);

  if (stmt == NULL)
    return NULL;
  /* Only what is due is looked at further: a hub holds years of it. */
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 at = sqlite3_column_int64 (stmt, 1);

      if (at > limit)
        continue;
      g_ptr_array_add (due, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
      g_array_append_val (ended, at);
    }
  g_clear_pointer (&stmt, sqlite3_finalize);

  for (guint i = 0; i < due->len; i++)
    {
      const char *id = g_ptr_array_index (due, i);
      g_autoptr(Rows) rows = patient_rows (node, id, error);
      g_autoptr(GError) local_error = NULL;

      if (rows == NULL)
        return NULL;
      if (!rows_delivered (node, rows))
        {
          g_debug ("retention: patient %s is due but not yet held by a hub", id);
          continue;
        }
      if (dry_run)
        {
          json_array_add_string_element (done, id);
          continue;
        }
      if (!mh_store_transact (store, evict_rows, rows, &local_error))
        {
          g_message ("retention: cannot evict patient %s: %s", id, local_error->message);
          continue;
        }
      /* Ids only: patient data never goes into logs. */
      g_message ("retention: evicted patient %s (%u rows, ended at %" G_GINT64_FORMAT ")", id,
                 count_rows (rows), g_array_index (ended, gint64, i));
      json_array_add_string_element (done, id);
    }
  return g_steal_pointer (&done);
}

/* mh-medhead-audience.c: need to know, decided from the data
 *
 * Every decision reads only the change, the batch it travels with and rows
 * already here; the sender and the receiver run the same function, the
 * sender for its peer and the receiver for itself. A receiver that cannot
 * tell yet (a transfer's chat before the transfer) parks the change; a
 * sender that does not know its peer's role yet stops its lane there.
 *
 * The statements are prepared once per store; the hot cases (public
 * tables, hubs, deletions) answer before any query.
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "mh-medhead-audience.h"
#include "mh-trust.h"

enum
{
  STMT_SITE,
  STMT_PATIENT_OWNER,
  STMT_PATIENT_TRANSFER,
  STMT_TRANSFER,
  N_STMTS
};

static const char *const stmt_sql[N_STMTS] = {
  [STMT_SITE] = "SELECT role, hospital_id, unit_id FROM site WHERE id = ?",
  [STMT_PATIENT_OWNER] = "SELECT unit_id FROM patient WHERE id = ?",
  /* A transfer the crew cancelled no longer brings new data: its hospital
   * keeps what it saw. */
  [STMT_PATIENT_TRANSFER] = "SELECT 1 FROM transfer WHERE patient_id = ?1"
                            " AND (hospital_id = ?2 OR unit_id = ?3)"
                            " AND (crew_state IS NULL OR crew_state <> 'cancelled') LIMIT 1",
  [STMT_TRANSFER] = "SELECT patient_id, unit_id, hospital_id FROM transfer WHERE id = ?",
};

/* What the lookups use: created with the statements (idempotent). */
static const char indexes_sql[] =
  "CREATE INDEX IF NOT EXISTS node_transfer_patient ON transfer (patient_id);"
  "CREATE INDEX IF NOT EXISTS node_observation_patient ON observation (patient_id);"
  "CREATE INDEX IF NOT EXISTS node_intervention_patient ON intervention (patient_id);"
  "CREATE INDEX IF NOT EXISTS node_receipt_transfer ON receipt (transfer_id);";

struct _MhMedheadAudience
{
  sqlite3_stmt *stmts[N_STMTS];
};

typedef struct
{
  gboolean known;
  gboolean hub;
  char *hospital_id;
  char *unit_id;
} Site;

typedef struct
{
  char *patient_id;
  char *unit_id;
  char *hospital_id;
} Request;

static const char *const need_to_know_tables[] = { "patient", "observation", "intervention",
                                                   "transfer", "receipt", "message",
                                                   "retraction", NULL };

static void
site_clear (Site *site)
{
  g_free (site->hospital_id);
  g_free (site->unit_id);
}

static void
request_clear (Request *request)
{
  g_free (request->patient_id);
  g_free (request->unit_id);
  g_free (request->hospital_id);
}

static sqlite3_stmt *
stmt_get (MhMedheadAudience *self, guint which)
{
  sqlite3_reset (self->stmts[which]);
  sqlite3_clear_bindings (self->stmts[which]);
  return self->stmts[which];
}

static char *
column_dup (sqlite3_stmt *stmt, int column)
{
  const unsigned char *text = sqlite3_column_text (stmt, column);
  return text ? g_strdup ((const char *) text) : NULL;
}

/* A text column of the change's register, or NULL. */
static const char *
change_text (MhStore *store, const MhChange *change, const char *reg, const char *column)
{
  const MhTableDef *table;
  const MhRegisterDef *def;
  const MhColumnDef *col;
  guint index = 0;
  g_autoptr(GVariant) child = NULL;
  g_autoptr(GVariant) inner = NULL;
  const char *text;

  if (change == NULL || change->kind != MH_CHANGE_SET || change->value == NULL
      || g_strcmp0 (change->reg, reg) != 0)
    return NULL;
  table = mh_schema_lookup_table (mh_store_get_schema (store), change->table);
  if (table == NULL || (def = mh_table_def_lookup_register (table, reg, NULL)) == NULL
      || (col = mh_table_def_lookup_column (table, column, &index)) == NULL
      || index < def->first_column || index - def->first_column >= g_variant_n_children (change->value))
    return NULL;
  child = g_variant_get_child_value (change->value, index - def->first_column);
  inner = g_variant_get_variant (child);
  if (!g_variant_is_of_type (inner, G_VARIANT_TYPE_STRING))
    return NULL;
  /* The change holds the value: its strings outlive these references. */
  text = g_variant_get_string (inner, NULL);
  return text;
}

static gboolean
row_prefix_is (const char *row, const char *prefix)
{
  gsize n = strlen (prefix);
  return prefix[0] != '\0' && strncmp (row, prefix, n) == 0 && row[n] == '/';
}

/* With a network key, what a site may hold follows the role it was
 * admitted with, not the one its site row claims: a crew laptop calling
 * itself a hub is not sent every patient. Without an admission here, it
 * gets what a site of no role gets: broadcasts and its own rows. */
static void
bind_admitted_role (MhStore *store, const char *site_id, Site *site)
{
  MhTrust *trust = mh_trust_from_store (store);
  const char *role;

  if (trust == NULL || !site->known)
    return;
  role = mh_trust_get_role (trust, site_id);
  /* This node before it learns its own admission: what it was made as. */
  if (role == NULL && g_strcmp0 (site_id, mh_store_get_site_id (store)) == 0)
    return;
  site->hub = g_strcmp0 (role, "hub") == 0;
  if (g_strcmp0 (role, "hospital") != 0)
    g_clear_pointer (&site->hospital_id, g_free);
  if (g_strcmp0 (role, "ambulance") != 0)
    g_clear_pointer (&site->unit_id, g_free);
}

static void
lookup_site (MhMedheadAudience *self, MhStore *store, const char *site_id, Site *site)
{
  sqlite3_stmt *stmt = stmt_get (self, STMT_SITE);

  memset (site, 0, sizeof *site);
  sqlite3_bind_text (stmt, 1, site_id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      site->known = TRUE;
      site->hub = g_strcmp0 ((const char *) sqlite3_column_text (stmt, 0), "hub") == 0;
      site->hospital_id = column_dup (stmt, 1);
      site->unit_id = column_dup (stmt, 2);
    }
  sqlite3_reset (stmt);
  bind_admitted_role (store, site_id, site);
}

/* The owning unit of a patient: the change itself, the row here, or the
 * batch. Sets *known when the patient is here or on its way. */
static char *
patient_owner (MhMedheadAudience *self, MhStore *store, const char *patient_id,
               const MhChange *change, GPtrArray *context, gboolean *known)
{
  const char *from_change = NULL;
  sqlite3_stmt *stmt;
  char *owner = NULL;

  if (g_strcmp0 (change->table, "patient") == 0)
    {
      *known = TRUE;
      if ((from_change = change_text (store, change, "owner", "unit_id")) != NULL)
        return g_strdup (from_change);
    }
  stmt = stmt_get (self, STMT_PATIENT_OWNER);
  sqlite3_bind_text (stmt, 1, patient_id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      *known = TRUE;
      owner = column_dup (stmt, 0);
    }
  sqlite3_reset (stmt);
  if (owner != NULL)
    return owner;
  for (guint i = 0; context != NULL && i < context->len; i++)
    {
      const MhChange *other = g_ptr_array_index (context, i);

      if (other == NULL || g_strcmp0 (other->table, "patient") != 0
          || g_strcmp0 (other->row, patient_id) != 0)
        continue;
      *known = TRUE;
      if ((from_change = change_text (store, other, "owner", "unit_id")) != NULL)
        return g_strdup (from_change);
    }
  return NULL;
}

static gboolean
request_names_site (const Site *site, const char *hospital_id, const char *unit_id)
{
  return (site->hospital_id != NULL && g_strcmp0 (site->hospital_id, hospital_id) == 0)
         || (site->unit_id != NULL && g_strcmp0 (site->unit_id, unit_id) == 0);
}

static MhAudience
patient_audience (MhMedheadAudience *self, MhStore *store, const char *patient_id,
                  const MhChange *change, GPtrArray *context, const Site *site, gboolean receiver)
{
  gboolean known = FALSE;
  g_autofree char *owner = patient_owner (self, store, patient_id, change, context, &known);
  sqlite3_stmt *stmt;
  gboolean granted;

  if (site->unit_id != NULL && g_strcmp0 (owner, site->unit_id) == 0)
    return MH_AUDIENCE_YES;

  stmt = stmt_get (self, STMT_PATIENT_TRANSFER);
  sqlite3_bind_text (stmt, 1, patient_id, -1, SQLITE_STATIC);
  if (site->hospital_id)
    sqlite3_bind_text (stmt, 2, site->hospital_id, -1, SQLITE_STATIC);
  if (site->unit_id)
    sqlite3_bind_text (stmt, 3, site->unit_id, -1, SQLITE_STATIC);
  granted = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_reset (stmt);
  if (granted)
    return MH_AUDIENCE_YES;

  /* The transfer that names this site may travel in the same batch, after
   * the patient it needs (or be parked, waiting for it). */
  for (guint i = 0; context != NULL && i < context->len; i++)
    {
      const MhChange *other = g_ptr_array_index (context, i);

      if (other == NULL || g_strcmp0 (other->table, "transfer") != 0
          || g_strcmp0 (change_text (store, other, "request", "patient_id"), patient_id) != 0)
        continue;
      if (request_names_site (site, change_text (store, other, "request", "hospital_id"),
                              change_text (store, other, "request", "unit_id")))
        return MH_AUDIENCE_YES;
    }

  /* An entry whose patient is not here yet waits for it; the patient
   * itself, with no transfer naming this site, is not for it. */
  if (receiver && !known && g_strcmp0 (change->table, "patient") != 0)
    return MH_AUDIENCE_WAIT;
  return MH_AUDIENCE_NO;
}

static gboolean
lookup_request (MhMedheadAudience *self, MhStore *store, const char *transfer_id,
                const MhChange *change, GPtrArray *context, Request *request)
{
  sqlite3_stmt *stmt;
  gboolean found = FALSE;

  memset (request, 0, sizeof *request);
  if (g_strcmp0 (change->table, "transfer") == 0 && change_text (store, change, "request",
                                                                 "patient_id") != NULL)
    {
      request->patient_id = g_strdup (change_text (store, change, "request", "patient_id"));
      request->unit_id = g_strdup (change_text (store, change, "request", "unit_id"));
      request->hospital_id = g_strdup (change_text (store, change, "request", "hospital_id"));
      return TRUE;
    }
  stmt = stmt_get (self, STMT_TRANSFER);
  sqlite3_bind_text (stmt, 1, transfer_id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_type (stmt, 0) != SQLITE_NULL)
    {
      request->patient_id = column_dup (stmt, 0);
      request->unit_id = column_dup (stmt, 1);
      request->hospital_id = column_dup (stmt, 2);
      found = TRUE;
    }
  sqlite3_reset (stmt);
  for (guint i = 0; !found && context != NULL && i < context->len; i++)
    {
      const MhChange *other = g_ptr_array_index (context, i);

      if (other == NULL || g_strcmp0 (other->table, "transfer") != 0
          || g_strcmp0 (other->row, transfer_id) != 0
          || change_text (store, other, "request", "patient_id") == NULL)
        continue;
      request->patient_id = g_strdup (change_text (store, other, "request", "patient_id"));
      request->unit_id = g_strdup (change_text (store, other, "request", "unit_id"));
      request->hospital_id = g_strdup (change_text (store, other, "request", "hospital_id"));
      found = TRUE;
    }
  return found;
}

static MhAudience
transfer_audience (MhMedheadAudience *self, MhStore *store, const char *transfer_id,
                   const MhChange *change, GPtrArray *context, const Site *site,
                   gboolean receiver)
{
  Request request;
  MhAudience audience = MH_AUDIENCE_NO;

  if (!lookup_request (self, store, transfer_id, change, context, &request))
    return receiver ? MH_AUDIENCE_WAIT : MH_AUDIENCE_NO;
  if (request_names_site (site, request.hospital_id, request.unit_id))
    audience = MH_AUDIENCE_YES;
  else if (site->unit_id != NULL)
    {
      gboolean known = FALSE;
      g_autofree char *owner =
        patient_owner (self, store, request.patient_id, change, context, &known);

      if (g_strcmp0 (owner, site->unit_id) == 0)
        audience = MH_AUDIENCE_YES;
    }
  request_clear (&request);
  return audience;
}

static const char *
channel_of (MhStore *store, const MhChange *change)
{
  const char *channel = change_text (store, change, "row", "channel");

  return channel;
}

static MhAudience
channel_audience (MhMedheadAudience *self, MhStore *store, const MhChange *change,
                  GPtrArray *context, const char *site_id, const Site *site, gboolean receiver)
{
  const char *channel = channel_of (store, change);

  /* Each author holds its own messages, whatever the channel. */
  if (row_prefix_is (change->row, site_id))
    return MH_AUDIENCE_YES;
  if (channel == NULL)
    return MH_AUDIENCE_NO;
  if (strcmp (channel, "broadcast") == 0)
    return MH_AUDIENCE_YES;
  if (g_str_has_prefix (channel, "hospital:"))
    return site->hospital_id != NULL && strcmp (channel + strlen ("hospital:"),
                                                site->hospital_id) == 0
             ? MH_AUDIENCE_YES
             : MH_AUDIENCE_NO;
  if (g_str_has_prefix (channel, "transfer:"))
    return transfer_audience (self, store, channel + strlen ("transfer:"), change, context, site,
                              receiver);
  return MH_AUDIENCE_NO;
}

MhAudience
mh_medhead_audience (MhStore *store, const MhChange *change, const char *site_id,
                     GPtrArray *context, gpointer user_data)
{
  MhMedheadAudience *self = user_data;
  const char *table = change->table;
  gboolean receiver;
  Site site;
  MhAudience audience = MH_AUDIENCE_NO;

  g_return_val_if_fail (self != NULL, MH_AUDIENCE_YES);

  if (!g_strv_contains (need_to_know_tables, table))
    return MH_AUDIENCE_YES;
  /* A tombstone tells an id and nothing else; it goes everywhere so that
   * a deleted id stays deleted on every node. */
  if (change->kind == MH_CHANGE_DELETE)
    return MH_AUDIENCE_YES;

  /* The broadcast channel reaches every site, known or not yet. */
  if ((strcmp (table, "message") == 0 || strcmp (table, "retraction") == 0)
      && g_strcmp0 (channel_of (store, change), "broadcast") == 0)
    return MH_AUDIENCE_YES;

  receiver = g_strcmp0 (site_id, mh_store_get_site_id (store)) == 0;
  lookup_site (self, store, site_id, &site);
  if (!site.known)
    {
      site_clear (&site);
      /* A peer's own site row comes first on its link: wait for it rather
       * than skip what it may hold. */
      return receiver ? MH_AUDIENCE_YES : MH_AUDIENCE_WAIT;
    }
  if (site.hub)
    {
      site_clear (&site);
      return MH_AUDIENCE_YES;
    }

  if (strcmp (table, "patient") == 0)
    audience = patient_audience (self, store, change->row, change, context, &site, receiver);
  else if (strcmp (table, "observation") == 0 || strcmp (table, "intervention") == 0)
    {
      const char *slash = strchr (change->row, '/');
      g_autofree char *patient_id = slash ? g_strndup (change->row, slash - change->row) : NULL;

      audience = patient_id ? patient_audience (self, store, patient_id, change, context, &site,
                                                receiver)
                            : MH_AUDIENCE_NO;
    }
  else if (strcmp (table, "transfer") == 0)
    audience = transfer_audience (self, store, change->row, change, context, &site, receiver);
  else if (strcmp (table, "receipt") == 0)
    {
      const char *slash = strchr (change->row, '/');

      if (row_prefix_is (change->row, site_id))
        audience = MH_AUDIENCE_YES;
      else if (slash != NULL)
        audience = transfer_audience (self, store, slash + 1, change, context, &site, receiver);
    }
  else
    audience = channel_audience (self, store, change, context, site_id, &site, receiver);

  site_clear (&site);
  return audience;
}

static void
add_rows (GPtrArray *rows, sqlite3 *db, const char *table, const char *sql, const char *key)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      sqlite3_finalize (stmt);
      return;
    }
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_ptr_array_add (rows, g_strdup (table));
      g_ptr_array_add (rows, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
    }
  sqlite3_finalize (stmt);
}

/* The patient and everything under it, parents first. */
static GPtrArray *
patient_subtree (MhStore *store, const char *patient_id)
{
  sqlite3 *db = mh_store_get_db (store);
  GPtrArray *rows = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) transfers = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (rows, g_strdup ("patient"));
  g_ptr_array_add (rows, g_strdup (patient_id));
  add_rows (transfers, db, "transfer", "SELECT id FROM transfer WHERE patient_id = ?", patient_id);
  g_ptr_array_extend (rows, transfers, (GCopyFunc) (void (*) (void)) g_strdup, NULL);
  add_rows (rows, db, "observation", "SELECT id FROM observation WHERE patient_id = ?",
            patient_id);
  add_rows (rows, db, "intervention", "SELECT id FROM intervention WHERE patient_id = ?",
            patient_id);
  for (guint i = 1; i < transfers->len; i += 2)
    {
      const char *transfer_id = g_ptr_array_index (transfers, i);
      g_autofree char *channel = g_strconcat ("transfer:", transfer_id, NULL);

      add_rows (rows, db, "receipt", "SELECT id FROM receipt WHERE transfer_id = ?", transfer_id);
      add_rows (rows, db, "message", "SELECT id FROM message WHERE channel = ?", channel);
      add_rows (rows, db, "retraction", "SELECT id FROM retraction WHERE channel = ?", channel);
    }
  return rows;
}

GPtrArray *
mh_medhead_audience_growth (MhStore *store, const MhChange *change, const char *site_id,
                            gpointer user_data)
{
  MhMedheadAudience *self = user_data;
  const char *patient_id = NULL;
  GPtrArray *rows = NULL;
  Site site;

  g_return_val_if_fail (self != NULL, NULL);

  if (change->kind != MH_CHANGE_SET)
    return NULL;
  if (strcmp (change->table, "transfer") == 0)
    patient_id = change_text (store, change, "request", "patient_id");
  else if (strcmp (change->table, "patient") == 0 && g_strcmp0 (change->reg, "owner") == 0)
    patient_id = change->row;
  if (patient_id == NULL)
    return NULL;

  lookup_site (self, store, site_id, &site);
  if (site.known && !site.hub
      && (strcmp (change->table, "transfer") == 0
            ? request_names_site (&site, change_text (store, change, "request", "hospital_id"),
                                  change_text (store, change, "request", "unit_id"))
            : (site.unit_id != NULL
               && g_strcmp0 (change_text (store, change, "owner", "unit_id"), site.unit_id)
                    == 0)))
    rows = patient_subtree (store, patient_id);
  site_clear (&site);
  return rows;
}

MhMedheadAudience *
mh_medhead_audience_new (MhStore *store)
{
  MhMedheadAudience *self = g_new0 (MhMedheadAudience, 1);
  sqlite3 *db = mh_store_get_db (store);

  if (sqlite3_exec (db, indexes_sql, NULL, NULL, NULL) != SQLITE_OK)
    g_warning ("need to know: indexes: %s", sqlite3_errmsg (db));
  for (guint i = 0; i < N_STMTS; i++)
    if (sqlite3_prepare_v3 (db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->stmts[i], NULL)
        != SQLITE_OK)
      g_error ("need to know: %s: %s", stmt_sql[i], sqlite3_errmsg (db));
  return self;
}

void
mh_medhead_audience_free (MhMedheadAudience *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < N_STMTS; i++)
    sqlite3_finalize (self->stmts[i]);
  g_free (self);
}

void
mh_medhead_audience_install (MhStore *store)
{
  mh_store_set_audience (store, mh_medhead_audience, mh_medhead_audience_growth,
                         mh_medhead_audience_new (store),
                         (GDestroyNotify) mh_medhead_audience_free);
}

/* ------------------------------------------------------------------------ */
/* Per-hospital digests                                                     */

/* A transfer in flight: what its crew, its desk and the hubs must agree on
 * now. Ended ones are subject to retention, and may differ. */
#define OPEN_TRANSFER " (crew_state IS NULL OR crew_state NOT IN ('cancelled', 'arrived'))"

gboolean
mh_medhead_bucket_is_shared (MhSchema *schema, const char *bucket)
{
  for (guint t = 0; t < mh_schema_get_n_tables (schema); t++)
    {
      const MhTableDef *table = mh_schema_get_table (schema, t);

      if (g_strcmp0 (table->bucket, bucket) == 0
          && g_strv_contains (need_to_know_tables, table->name))
        return FALSE;
    }
  return TRUE;
}

/* Runs @sql with @key bound to ?1 and adds the first column to @set. */
static gboolean
collect (sqlite3 *db, const char *sql, const char *key, GHashTable *set, GError **error)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, _("digest query: %s"),
                   sqlite3_errmsg (db));
      sqlite3_finalize (stmt);
      return FALSE;
    }
  if (key != NULL)
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_TRANSIENT);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    if (sqlite3_column_text (stmt, 0) != NULL)
      g_hash_table_add (set, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, _("digest query: %s"),
                   sqlite3_errmsg (db));
      return FALSE;
    }
  return TRUE;
}

static gboolean
digest_set (MhStore *store, const char *table, GHashTable *set, MhDigest *digest, GError **error)
{
  g_autofree const char **rows = (const char **) g_hash_table_get_keys_as_array (set, NULL);

  return mh_store_digest_rows (store, table, rows, digest, error);
}

/**
 * mh_medhead_hospital_digest:
 * @digest: (out): the digest of bucket `patients:HOSPITAL_ID`
 *
 * The bucket of a hospital's open transfers (crew state neither cancelled
 * nor arrived): the transfers, their receipts and chat (channel
 * transfer:ID, messages and retractions), and the patient, observation and
 * intervention rows of their patients. The hubs, the hospital's desk and
 * the crews of those transfers all hold exactly these rows, so their
 * digests agree once in step. Computed on demand from the rows.
 */
gboolean
mh_medhead_hospital_digest (MhStore *store, const char *hospital_id, MhDigest *digest,
                            GError **error)
{
  sqlite3 *db = mh_store_get_db (store);
  g_autoptr(GHashTable) transfers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) patients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) receipts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) messages = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) retractions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) observations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                              NULL);
  g_autoptr(GHashTable) interventions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                               NULL);
  GHashTableIter iter;
  const char *id;

  g_return_val_if_fail (hospital_id != NULL && digest != NULL, FALSE);

  memset (digest, 0, sizeof *digest);
  if (!collect (db, "SELECT id FROM transfer WHERE hospital_id = ?1 AND" OPEN_TRANSFER,
                hospital_id, transfers, error)
      || !collect (db, "SELECT patient_id FROM transfer WHERE hospital_id = ?1 AND" OPEN_TRANSFER,
                   hospital_id, patients, error))
    return FALSE;

  g_hash_table_iter_init (&iter, transfers);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
    {
      g_autofree char *channel = g_strconcat ("transfer:", id, NULL);

      if (!collect (db, "SELECT id FROM receipt WHERE transfer_id = ?1", id, receipts, error)
          || !collect (db, "SELECT id FROM message WHERE channel = ?1", channel, messages, error)
          || !collect (db, "SELECT id FROM retraction WHERE channel = ?1", channel, retractions,
                       error))
        return FALSE;
    }
  g_hash_table_iter_init (&iter, patients);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
    if (!collect (db, "SELECT id FROM observation WHERE patient_id = ?1", id, observations, error)
        || !collect (db, "SELECT id FROM intervention WHERE patient_id = ?1", id, interventions,
                     error))
      return FALSE;

  return digest_set (store, "transfer", transfers, digest, error)
         && digest_set (store, "receipt", receipts, digest, error)
         && digest_set (store, "message", messages, digest, error)
         && digest_set (store, "retraction", retractions, digest, error)
         && digest_set (store, "patient", patients, digest, error)
         && digest_set (store, "observation", observations, digest, error)
         && digest_set (store, "intervention", interventions, digest, error);
}

static int
compare_ids (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/**
 * mh_medhead_open_hospitals:
 *
 * Returns: (transfer full): the hospitals this replica holds open transfers
 *   for, in id order
 */
char **
mh_medhead_open_hospitals (MhStore *store, GError **error)
{
  g_autoptr(GHashTable) set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char **ids = NULL;
  guint n = 0;

  if (!collect (mh_store_get_db (store),
                "SELECT DISTINCT hospital_id FROM transfer WHERE" OPEN_TRANSFER, NULL, set, error))
    return NULL;
  ids = (char **) g_hash_table_get_keys_as_array (set, &n);
  qsort (ids, n, sizeof (char *), compare_ids);
  return g_strdupv (ids);
}

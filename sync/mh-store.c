/* mh-store.c: the replicated SQLite store
 *
 * Layout of a replica file:
 * - one table per declared table: `_rid` (stable rowid), `id`, the declared
 *   columns, and `_mh`, a blob holding each register's clock, origin, origin
 *   sequence, local sequence and signature (see meta_encode()); keeping the
 *   metadata in the row keeps a tracked write to one B-tree insert;
 * - `_mh_log (lane, lseq) -> (tbl, rid)`: one entry per local sequence
 *   number still carried by some register of a row (or by a tombstone), so
 *   the log is compacted by construction and "changes since N" in a lane is
 *   a range scan;
 * - `_mh_tomb`: deleted rows, kept forever so deletes win;
 * - `_mh_evicted`: rows this replica dropped locally (mh_store_evict()):
 *   later changes to them are dropped on arrival;
 * - `_mh_seal`: the seals (see #MhSeal) of the changes this replica holds
 *   or held, its own and its peers': a sealed change's signature field is
 *   the one-byte marker, and its seal is read from here to relay it;
 * - `_mh_held`, `_mh_parked`, `_mh_rejected`, `_mh_history`, `_mh_digest`,
 *   `_mh_sites`, `_mh_tables`, `_mh_meta`.
 *
 * Invariants:
 * - every register of a live row and every tombstone carries an lseq that
 *   has an entry in `_mh_log` under its table's lane, and every log entry is
 *   carried by at least one of them;
 * - the digest of a bucket is the sum of the hashes of the registers and
 *   tombstones filed in it, whatever order they arrived in.
 */

#include "config.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "mh-clock.h"
#include "mh-codec.h"
#include "mh-store-private.h"
#include "mh-sync-error.h"
#include "mh-wal-sync.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

/* Above this many rows in one transaction, "changed" is emitted once per
 * table with a %NULL row instead of once per row. */
#define MAX_ROW_SIGNALS 2048

typedef struct
{
  gint64 db_index;      /* in _mh_tables */
  sqlite3_stmt *by_id;  /* SELECT _rid, cols..., _mh WHERE id = ? */
  sqlite3_stmt *by_rid; /* SELECT id, cols..., _mh WHERE _rid = ? */
  sqlite3_stmt *insert;
  sqlite3_stmt *update;
  sqlite3_stmt *delete;
} TableStmts;

typedef struct
{
  const MhTableDef *table;
  char *row;
} Touched;

typedef struct _MhCheckpointer MhCheckpointer;

/* A local change to seal at commit. */
typedef struct
{
  gint64 oseq;
  guint8 hash[MH_SEAL_HASH_SIZE];
  gint64 tbl;  /* where it was written (_mh_tables index), 0 unknown */
  char *row;
} SealPending;

static void
seal_pending_clear (gpointer data)
{
  g_free (((SealPending *) data)->row);
}

struct _MhStore
{
  GObject parent_instance;

  char *path;
  MhSchema *schema;
  sqlite3 *db;
  char *site_id;
  guint site_index;

  MhClock clock;
  gint64 reference_offset_ms;
  gint64 hold_bound_ms;

  gint64 epoch;
  gint64 seq;
  gint64 own_seq;

  TableStmts *tables; /* by schema table index */
  GHashTable *site_by_name;  /* char* -> GUINT index */
  GPtrArray *site_names;     /* index -> char* (slot 0 unused) */

  GHashTable *digests;       /* bucket -> MhDigest* */
  GHashTable *dirty_digests; /* bucket set */

  MhIdentity *identity;      /* signs local writes; NULL: unsigned */
  gboolean verify_signatures; /* refuse remote changes not signed by their origin */

  MhValidateFunc validate;
  gpointer validate_data;
  GDestroyNotify validate_destroy;
  MhOriginFilter origin_filter; /* borrowed user data: set by its owner, cleared by it */
  gpointer origin_filter_data;
  MhAudienceFunc audience;      /* need to know: NULL, every site holds everything */
  MhAudienceGrowFunc audience_grow;
  gpointer audience_data;
  GDestroyNotify audience_destroy;

  /* Transaction state */
  guint txn_depth;
  gboolean txn_failed;
  gint64 txn_seq_start;
  gint64 txn_own_seq_start;
  GHashTable *txn_row_lseq; /* "tbl:rid" -> lseq given to that row in this transaction */
  GArray *touched;          /* Touched */
  GHashTable *touched_rows; /* "tbl\x1frow" set: "changed" is once per row, not per register */
  gboolean touched_overflow;
  GHashTable *touched_tables;
  gboolean txn_logged;
  guint64 txn_lanes;       /* lanes whose log grew in this transaction (bit per lane) */
  guint64 committed_lanes; /* the same, while "committed" is emitted */
  GArray *txn_seal_pending;  /* SealPending, by oseq: this transaction's local changes */
  GHashTable *txn_seals;     /* MhSeal set: seals kept in this transaction */
  MhSeal *last_seal;         /* the last seal read (pages of a lane share seals) */
  guint last_seal_origin;

  guint n_tombs;
  guint n_evicted;          /* eviction markers: none means no lookup on apply */
  guint64 n_dropped_evicted; /* late changes to evicted rows, since open */
  guint64 n_reused_oseq;     /* changes refused: their (origin, oseq) signed another change */
  gboolean counts_dirty; /* a queue or the tombstones may have changed */
  guint n_held;
  guint n_parked;
  guint n_rejected;
  guint n_gaps;             /* rows of _mh_gap: none means no lookup on apply */
  guint via_index;          /* the peer whose batch is being applied, 0: none */

  /* The row being written, kept back until another row is touched or the
   * batch ends, so consecutive registers of one row cost one write. */
  MhRow *pending;
  gboolean pending_log;   /* its log entry is still to be inserted */
  gint64 pending_lseq;
  GByteArray *scratch;    /* hashing buffer */

  sqlite3_stmt *log_insert;
  sqlite3_stmt *log_delete;
  sqlite3_stmt *tomb_by_id;
  sqlite3_stmt *tomb_insert;
  sqlite3_stmt *tomb_update;

  MhCheckpointer *checkpointer; /* started with the first checkpoint */
  GHashTable *cached_stmts;     /* SQL text -> sqlite3_stmt, see prepare_cached() */

  /* Deferred durability, see mh_store_set_deferred_sync() */
  MhWalSync *wal_sync;
  char *running_path;     /* the marker kept while it is on */
  guint64 sync_ticket;    /* the last local commit's */
  gboolean applying_peer; /* a peer's batch: no ticket, its cursor moves with it */
};

G_DEFINE_FINAL_TYPE (MhStore, mh_store, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_PATH,
  PROP_SITE_ID,
  PROP_HELD_COUNT,
  PROP_PARKED_COUNT,
  PROP_REJECTED_COUNT,
  N_PROPS
};

enum
{
  CHANGED,
  COMMITTED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

typedef enum
{
  OUTCOME_APPLIED,
  OUTCOME_OLDER,
  OUTCOME_DELETED,
  OUTCOME_REJECTED,
  OUTCOME_PARKED,
  OUTCOME_HELD,
  OUTCOME_EVICTED,
  OUTCOME_WITHHELD, /* not for this node: dropped (need to know) */
} Outcome;

static gboolean row_is_evicted (MhStore *self, const char *table, const char *row);
static Outcome apply_one (MhStore *self, MhChange *change, gboolean local, gboolean from_queue,
                          char **reason, GError **error);
static Outcome apply_known (MhStore *self, const MhTableDef *table, MhChange *change,
                            gboolean local, guint origin_index, char **reason, GError **error);
static char *change_to_json (const MhChange *change);
static gboolean flush_pending (MhStore *self, GError **error);
static gboolean save_peer_cursor (MhStore *self, const char *peer, guint lane,
                                  const MhCursor *cursor, GError **error);
static void drop_pending (MhStore *self);
static gboolean drop_foreign_of_row (MhStore *self, const MhTableDef *table, const char *row,
                                     GError **error);
static MhChange *change_from_json (MhStore *self, const char *text);

/* ------------------------------------------------------------------------ */
/* Helpers: SQLite                                                          */

static gboolean
set_sqlite_error (MhStore *self, GError **error, const char *what)
{
  g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s: %s", what,
               self->db ? sqlite3_errmsg (self->db) : "no database");
  if (self->txn_depth > 0)
    self->txn_failed = TRUE;
  return FALSE;
}

static gboolean
exec_sql (MhStore *self, const char *sql, GError **error)
{
  char *msg = NULL;

  if (sqlite3_exec (self->db, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s: %s", sql, msg);
      sqlite3_free (msg);
      if (self->txn_depth > 0)
        self->txn_failed = TRUE;
      return FALSE;
    }
  return TRUE;
}

static sqlite3_stmt *
prepare (MhStore *self, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s: %s", sql,
                   sqlite3_errmsg (self->db));
      return NULL;
    }
  return stmt;
}

static sqlite3_stmt *
prepare_once (MhStore *self, const char *sql)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_warning ("%s: %s", sql, sqlite3_errmsg (self->db));
      return NULL;
    }
  return stmt;
}

/* Statements run on every commit or every read of a lane are prepared once
 * per store and kept: parsing them again cost more than running them (the
 * log query alone was 12% of a sender's CPU per live update). Only for leaf
 * uses that neither nest nor outlive the call; released by a reset. */
typedef sqlite3_stmt MhCachedStmt;

static void
cached_release (MhCachedStmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhCachedStmt, cached_release)

static MhCachedStmt *
prepare_cached (MhStore *self, const char *sql)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (self->cached_stmts, sql);

  if (stmt == NULL)
    {
      stmt = prepare (self, sql, NULL);
      if (stmt == NULL)
        return NULL;
      g_hash_table_insert (self->cached_stmts, (gpointer) sql, stmt);
    }
  return stmt;
}

/* exec_sql() for the statements of every transaction (BEGIN, COMMIT):
 * kept prepared, as parsing them again on each commit cost more than
 * running them. Not for PRAGMAs, which take effect when prepared. */
static gboolean
exec_cached (MhStore *self, const char *sql, GError **error)
{
  MhCachedStmt *stmt = prepare_cached (self, sql);
  int rc;

  if (stmt == NULL)
    return exec_sql (self, sql, error);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s: %s", sql,
                   sqlite3_errstr (rc));
      if (self->txn_depth > 0)
        self->txn_failed = TRUE;
      return FALSE;
    }
  return TRUE;
}

static char *
quote_ident (const char *name)
{
  return g_strdup_printf ("\"%s\"", name);
}

/* ------------------------------------------------------------------------ */
/* Helpers: hashing and varints                                             */

/* MurmurHash64A: fast, well mixed, and stable across platforms of the same
 * endianness; digests only need to detect differences, not resist forgery. */
static guint64
murmur64 (const void *key, gsize len, guint64 seed)
{
  const guint64 m = G_GUINT64_CONSTANT (0xc6a4a7935bd1e995);
  const int r = 47;
  guint64 h = seed ^ (len * m);
  const guint8 *data = key;
  const guint8 *end = data + (len / 8) * 8;

  for (; data != end; data += 8)
    {
      guint64 k;
      memcpy (&k, data, 8);
      k = GUINT64_FROM_LE (k);
      k *= m;
      k ^= k >> r;
      k *= m;
      h ^= k;
      h *= m;
    }

  switch (len & 7)
    {
    case 7: h ^= (guint64) data[6] << 48; G_GNUC_FALLTHROUGH;
    case 6: h ^= (guint64) data[5] << 40; G_GNUC_FALLTHROUGH;
    case 5: h ^= (guint64) data[4] << 32; G_GNUC_FALLTHROUGH;
    case 4: h ^= (guint64) data[3] << 24; G_GNUC_FALLTHROUGH;
    case 3: h ^= (guint64) data[2] << 16; G_GNUC_FALLTHROUGH;
    case 2: h ^= (guint64) data[1] << 8; G_GNUC_FALLTHROUGH;
    case 1: h ^= (guint64) data[0]; h *= m; break;
    default: break;
    }

  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

static void
put_varint (GByteArray *out, guint64 v)
{
  guint8 buf[10];
  guint n = 0;

  do
    {
      guint8 b = v & 0x7f;
      v >>= 7;
      buf[n++] = b | (v ? 0x80 : 0);
    }
  while (v);
  g_byte_array_append (out, buf, n);
}

static gboolean
get_varint (const guint8 **p, const guint8 *end, guint64 *out)
{
  guint64 v = 0;
  guint shift = 0;

  while (*p < end && shift < 64)
    {
      guint8 b = *(*p)++;
      v |= (guint64) (b & 0x7f) << shift;
      if (!(b & 0x80))
        {
          *out = v;
          return TRUE;
        }
      shift += 7;
    }
  return FALSE;
}

static void
cell_clear (MhCell *cell)
{
  g_clear_pointer (&cell->s, g_free);
  cell->type = SQLITE_NULL;
}

static void
cell_copy (MhCell *dst, const MhCell *src)
{
  cell_clear (dst);
  *dst = *src;
  dst->s = g_strdup (src->s);
}

static gboolean
cell_equal (const MhCell *a, const MhCell *b)
{
  if (a->type != b->type)
    return FALSE;
  switch (a->type)
    {
    case SQLITE_INTEGER: return a->i == b->i;
    case SQLITE_FLOAT: return memcmp (&a->d, &b->d, sizeof (double)) == 0;
    case SQLITE_TEXT: return strcmp (a->s, b->s) == 0;
    default: return TRUE;
    }
}

/* The canonical bytes of a register value, for hashing. */
static void
cells_serialize (GByteArray *out, const MhCell *cells, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      guint8 tag = (guint8) cells[i].type;
      g_byte_array_append (out, &tag, 1);
      switch (cells[i].type)
        {
        case SQLITE_INTEGER:
          put_varint (out, (guint64) cells[i].i);
          break;
        case SQLITE_FLOAT:
          {
            guint64 bits;
            memcpy (&bits, &cells[i].d, 8);
            bits = GUINT64_TO_LE (bits);
            g_byte_array_append (out, (guint8 *) &bits, 8);
          }
          break;
        case SQLITE_TEXT:
          {
            gsize len = strlen (cells[i].s);
            put_varint (out, len);
            g_byte_array_append (out, (const guint8 *) cells[i].s, len);
          }
          break;
        default:
          break;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Rows                                                                     */

static MhRow *
row_new (const MhTableDef *table, const char *id)
{
  MhRow *row = g_new0 (MhRow, 1);

  row->table = table;
  row->id = g_strdup (id);
  row->cells = g_new0 (MhCell, table->columns->len);
  /* NULL as a stored row reads it: validators ask mh_row_is_null() about
   * the columns a new row has not been given. */
  for (guint i = 0; i < table->columns->len; i++)
    row->cells[i].type = SQLITE_NULL;
  row->meta = g_new0 (MhRegMeta, table->registers->len);
  return row;
}

static void
row_free (MhRow *row)
{
  if (row == NULL)
    return;
  for (guint i = 0; i < row->table->columns->len; i++)
    cell_clear (&row->cells[i]);
  for (guint i = 0; i < row->table->registers->len; i++)
    g_clear_pointer (&row->meta[i].sig, g_bytes_unref);
  g_free (row->cells);
  g_free (row->meta);
  g_free (row->id);
  g_free (row);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhRow, row_free)

static MhRow *
row_copy (const MhRow *src)
{
  MhRow *row = row_new (src->table, src->id);

  row->rid = src->rid;
  for (guint i = 0; i < src->table->columns->len; i++)
    cell_copy (&row->cells[i], &src->cells[i]);
  for (guint i = 0; i < src->table->registers->len; i++)
    {
      row->meta[i] = src->meta[i];
      if (src->meta[i].sig)
        row->meta[i].sig = g_bytes_ref (src->meta[i].sig);
    }
  return row;
}

/* Per register, a header byte: 0 when never written, else bit 0 set, and
 *   bit 1: same clock and origin as the previous written register,
 *   bit 2: same local sequence number as the previous written register,
 *   bit 3: a signature follows;
 * then the clock and origin (unless bit 1), the origin sequence number as a
 * zigzag delta from the previous register's, the local sequence number
 * (unless bit 2), and the signature's length and bytes (if bit 3).
 * Registers written together share all but their origin sequence number,
 * so they cost three bytes each. Registers appended by a later schema
 * version are absent from older blobs. */
#define META_PRESENT 0x01
#define META_SAME_CLOCK 0x02
#define META_SAME_LSEQ 0x04
#define META_SIGNED 0x08
#define META_SCHEMA 0x10 /* the writer's schema version follows: not this replica's */

static guint64
zigzag (gint64 v)
{
  return ((guint64) v << 1) ^ (guint64) (v >> 63);
}

static gint64
unzigzag (guint64 v)
{
  return (gint64) (v >> 1) ^ -(gint64) (v & 1);
}

static GBytes *
meta_encode (const MhRow *row)
{
  GByteArray *out = g_byte_array_sized_new (8 + 4 * row->table->registers->len);
  const MhRegMeta *prev = NULL;

  for (guint i = 0; i < row->table->registers->len; i++)
    {
      const MhRegMeta *m = &row->meta[i];
      gsize sig_len = m->sig ? g_bytes_get_size (m->sig) : 0;
      guint8 header = 0;

      if (m->hlc == 0)
        {
          g_byte_array_append (out, &header, 1);
          continue;
        }
      header = META_PRESENT;
      if (prev && prev->hlc == m->hlc && prev->origin == m->origin)
        header |= META_SAME_CLOCK;
      if (prev && prev->lseq == m->lseq)
        header |= META_SAME_LSEQ;
      if (sig_len)
        header |= META_SIGNED;
      if (m->sv != 0)
        header |= META_SCHEMA;
      g_byte_array_append (out, &header, 1);
      if (!(header & META_SAME_CLOCK))
        {
          put_varint (out, (guint64) m->hlc);
          put_varint (out, m->origin);
        }
      put_varint (out, zigzag (m->oseq - (prev ? prev->oseq : 0)));
      if (!(header & META_SAME_LSEQ))
        put_varint (out, (guint64) m->lseq);
      if (sig_len)
        {
          put_varint (out, sig_len);
          g_byte_array_append (out, g_bytes_get_data (m->sig, NULL), sig_len);
        }
      if (m->sv != 0)
        put_varint (out, m->sv);
      prev = m;
    }
  return g_byte_array_free_to_bytes (out);
}

static gboolean
meta_decode (MhRow *row, const guint8 *data, gsize len)
{
  const guint8 *p = data, *end = data + len;
  const MhRegMeta *prev = NULL;

  for (guint i = 0; i < row->table->registers->len && p < end; i++)
    {
      MhRegMeta *m = &row->meta[i];
      guint8 header = *p++;
      guint64 v;

      if (header == 0)
        continue;
      if (header & META_SAME_CLOCK)
        {
          if (prev == NULL)
            return FALSE;
          m->hlc = prev->hlc;
          m->origin = prev->origin;
        }
      else
        {
          if (!get_varint (&p, end, &v))
            return FALSE;
          m->hlc = (MhHlc) v;
          if (!get_varint (&p, end, &v))
            return FALSE;
          m->origin = (guint) v;
        }
      if (!get_varint (&p, end, &v))
        return FALSE;
      m->oseq = (prev ? prev->oseq : 0) + unzigzag (v);
      if (header & META_SAME_LSEQ)
        {
          if (prev == NULL)
            return FALSE;
          m->lseq = prev->lseq;
        }
      else
        {
          if (!get_varint (&p, end, &v))
            return FALSE;
          m->lseq = (gint64) v;
        }
      if (header & META_SIGNED)
        {
          if (!get_varint (&p, end, &v) || v > (guint64) (end - p))
            return FALSE;
          m->sig = g_bytes_new (p, v);
          p += v;
        }
      if (header & META_SCHEMA)
        {
          if (!get_varint (&p, end, &v) || v > G_MAXUINT16)
            return FALSE;
          m->sv = (guint) v;
        }
      prev = m;
    }
  return TRUE;
}

/* Reads columns [first, first + n) of a SELECT into the row's cells. */
static void
row_read_cells (MhRow *row, sqlite3_stmt *stmt, int first)
{
  for (guint i = 0; i < row->table->columns->len; i++)
    {
      MhCell *cell = &row->cells[i];
      int col = first + (int) i;

      cell_clear (cell);
      cell->type = sqlite3_column_type (stmt, col);
      switch (cell->type)
        {
        case SQLITE_INTEGER: cell->i = sqlite3_column_int64 (stmt, col); break;
        case SQLITE_FLOAT: cell->d = sqlite3_column_double (stmt, col); break;
        case SQLITE_TEXT: cell->s = g_strdup ((const char *) sqlite3_column_text (stmt, col)); break;
        case SQLITE_NULL: break;
        default:
          /* Blobs are never declared; treat as NULL rather than guess. */
          cell->type = SQLITE_NULL;
          break;
        }
    }
}

static gboolean
load_row (MhStore *self, const MhTableDef *table, const char *id, MhRow **out_row,
          GError **error)
{
  sqlite3_stmt *stmt = self->tables[table->index].by_id;
  int rc;

  *out_row = NULL;
  if (self->pending != NULL && self->pending->table == table && strcmp (self->pending->id, id) == 0)
    {
      *out_row = row_copy (self->pending);
      return TRUE;
    }
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      MhRow *row = row_new (table, id);
      int n = (int) table->columns->len;

      row->rid = sqlite3_column_int64 (stmt, 0);
      row_read_cells (row, stmt, 1);
      meta_decode (row, sqlite3_column_blob (stmt, n + 1), sqlite3_column_bytes (stmt, n + 1));
      *out_row = row;
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return set_sqlite_error (self, error, "loading a row");
  return TRUE;
}

static MhRow *
load_row_by_rid (MhStore *self, const MhTableDef *table, gint64 rid)
{
  sqlite3_stmt *stmt = self->tables[table->index].by_rid;
  MhRow *row = NULL;

  sqlite3_bind_int64 (stmt, 1, rid);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      int n = (int) table->columns->len;

      row = row_new (table, (const char *) sqlite3_column_text (stmt, 0));
      row->rid = rid;
      row_read_cells (row, stmt, 1);
      meta_decode (row, sqlite3_column_blob (stmt, n + 1), sqlite3_column_bytes (stmt, n + 1));
    }
  sqlite3_reset (stmt);
  return row;
}

static void
bind_cells (sqlite3_stmt *stmt, const MhRow *row, int first)
{
  for (guint i = 0; i < row->table->columns->len; i++)
    {
      const MhCell *cell = &row->cells[i];
      int col = first + (int) i;

      switch (cell->type)
        {
        case SQLITE_INTEGER: sqlite3_bind_int64 (stmt, col, cell->i); break;
        case SQLITE_FLOAT: sqlite3_bind_double (stmt, col, cell->d); break;
        case SQLITE_TEXT: sqlite3_bind_text (stmt, col, cell->s, -1, SQLITE_STATIC); break;
        default: sqlite3_bind_null (stmt, col); break;
        }
    }
}

static gboolean
store_row (MhStore *self, MhRow *row, GError **error)
{
  TableStmts *ts = &self->tables[row->table->index];
  int n = (int) row->table->columns->len;
  g_autoptr(GBytes) meta = meta_encode (row);
  sqlite3_stmt *stmt;
  int rc;

  if (row->rid == 0)
    {
      stmt = ts->insert;
      sqlite3_bind_text (stmt, 1, row->id, -1, SQLITE_STATIC);
    }
  else
    {
      stmt = ts->update;
      sqlite3_bind_int64 (stmt, 1, row->rid);
    }
  bind_cells (stmt, row, 2);
  sqlite3_bind_blob (stmt, n + 2, g_bytes_get_data (meta, NULL), (int) g_bytes_get_size (meta),
                     SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return set_sqlite_error (self, error, "storing a row");
  if (row->rid == 0)
    row->rid = sqlite3_last_insert_rowid (self->db);
  return TRUE;
}

static GVariant *
cells_to_variant (const MhCell *cells, guint n)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
  for (guint i = 0; i < n; i++)
    {
      GVariant *v;
      switch (cells[i].type)
        {
        case SQLITE_INTEGER: v = g_variant_new_int64 (cells[i].i); break;
        case SQLITE_FLOAT: v = g_variant_new_double (cells[i].d); break;
        case SQLITE_TEXT: v = g_variant_new_string (cells[i].s); break;
        default: v = mh_value_null (); break;
        }
      g_variant_builder_add (&builder, "v", v);
    }
  return g_variant_builder_end (&builder);
}

/* Converts one value to a cell of the declared type. Reals accept integers
 * (JSON does not keep 2.0 apart from 2); nothing else is converted. */
static gboolean
cell_from_variant (MhCell *cell, GVariant *value, MhColumnType type)
{
  g_autoptr(GVariant) inner = NULL;

  cell_clear (cell);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    value = inner = g_variant_get_variant (value);

  if (mh_value_is_null (value))
    return TRUE;

  switch (type)
    {
    case MH_COLUMN_INTEGER:
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
        cell->i = g_variant_get_int64 (value);
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
        cell->i = g_variant_get_int32 (value);
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
        cell->i = g_variant_get_uint32 (value);
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        cell->i = g_variant_get_boolean (value);
      else
        return FALSE;
      cell->type = SQLITE_INTEGER;
      return TRUE;

    case MH_COLUMN_REAL:
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
        cell->d = g_variant_get_double (value);
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
        cell->d = (double) g_variant_get_int64 (value);
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
        cell->d = g_variant_get_int32 (value);
      else
        return FALSE;
      if (!isfinite (cell->d))
        return FALSE;
      /* SQLite stores -0.0 as 0.0: hash and compare what it will hold, or
       * the incremental digest drifts from the stored row. */
      if (cell->d == 0)
        cell->d = 0;
      cell->type = SQLITE_FLOAT;
      return TRUE;

    case MH_COLUMN_TEXT:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        return FALSE;
      cell->s = g_variant_dup_string (value, NULL);
      cell->type = SQLITE_TEXT;
      return TRUE;

    default:
      return FALSE;
    }
}

/* ------------------------------------------------------------------------ */
/* Sites                                                                    */

static guint
site_index (MhStore *self, const char *site, GError **error)
{
  gpointer idx;
  sqlite3_stmt *stmt;
  guint result = 0;

  if (g_hash_table_lookup_extended (self->site_by_name, site, NULL, &idx))
    return GPOINTER_TO_UINT (idx);

  stmt = prepare_once (self, "INSERT INTO _mh_sites (site) VALUES (?)");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "registering a site");
      return 0;
    }
  sqlite3_bind_text (stmt, 1, site, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_DONE)
    {
      char *name = g_strdup (site);
      result = (guint) sqlite3_last_insert_rowid (self->db);
      while (self->site_names->len <= result)
        g_ptr_array_add (self->site_names, NULL);
      g_ptr_array_index (self->site_names, result) = name;
      g_hash_table_insert (self->site_by_name, name, GUINT_TO_POINTER (result));
    }
  else
    set_sqlite_error (self, error, "registering a site");
  sqlite3_finalize (stmt);
  return result;
}

static const char *
site_name (MhStore *self, guint index)
{
  if (index == 0 || index >= self->site_names->len)
    return "";
  return g_ptr_array_index (self->site_names, index);
}

/* After a rollback: sites registered by the abandoned transaction are gone
 * from _mh_sites, and their indexes would be handed out again to other
 * sites, whose rows would then be credited to the forgotten ones. */
static void
reload_sites (MhStore *self)
{
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, "SELECT idx, site FROM _mh_sites");

  g_hash_table_remove_all (self->site_by_name);
  g_ptr_array_set_size (self->site_names, 1);
  while (stmt && sqlite3_step (stmt) == SQLITE_ROW)
    {
      guint idx = (guint) sqlite3_column_int64 (stmt, 0);
      char *name = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
      while (self->site_names->len <= idx)
        g_ptr_array_add (self->site_names, NULL);
      g_ptr_array_index (self->site_names, idx) = name;
      g_hash_table_insert (self->site_by_name, name, GUINT_TO_POINTER (idx));
    }
}

/* ------------------------------------------------------------------------ */
/* Digests                                                                  */

static MhDigest *
digest_for (MhStore *self, const char *bucket)
{
  MhDigest *digest = g_hash_table_lookup (self->digests, bucket);

  if (digest == NULL)
    {
      digest = g_new0 (MhDigest, 1);
      g_hash_table_insert (self->digests, g_strdup (bucket), digest);
    }
  if (!g_hash_table_contains (self->dirty_digests, bucket))
    g_hash_table_add (self->dirty_digests, g_strdup (bucket));
  return digest;
}

static void
hash_register (const MhRow *row, guint reg_index, const char *origin, guint64 *h1, guint64 *h2,
               GByteArray *bytes)
{
  const MhRegisterDef *reg = g_ptr_array_index (row->table->registers, reg_index);
  guint64 hlc = GUINT64_TO_LE ((guint64) row->meta[reg_index].hlc);

  g_byte_array_set_size (bytes, 0);
  g_byte_array_append (bytes, (const guint8 *) row->table->name, strlen (row->table->name) + 1);
  g_byte_array_append (bytes, (const guint8 *) row->id, strlen (row->id) + 1);
  g_byte_array_append (bytes, (const guint8 *) reg->name, strlen (reg->name) + 1);
  g_byte_array_append (bytes, (const guint8 *) &hlc, 8);
  g_byte_array_append (bytes, (const guint8 *) origin, strlen (origin) + 1);
  cells_serialize (bytes, row->cells + reg->first_column, reg->n_columns);
  *h1 = murmur64 (bytes->data, bytes->len, 0x6d65646865616431);
  *h2 = murmur64 (bytes->data, bytes->len, 0x73796e6364696732);
}

static void
hash_tomb (const MhTableDef *table, const char *id, MhHlc hlc, const char *origin, guint64 *h1,
           guint64 *h2)
{
  g_autoptr(GByteArray) bytes = g_byte_array_sized_new (96);
  guint64 le = GUINT64_TO_LE ((guint64) hlc);

  g_byte_array_append (bytes, (const guint8 *) table->name, strlen (table->name) + 1);
  g_byte_array_append (bytes, (const guint8 *) id, strlen (id) + 1);
  g_byte_array_append (bytes, (const guint8 *) "\001deleted", 9);
  g_byte_array_append (bytes, (const guint8 *) &le, 8);
  g_byte_array_append (bytes, (const guint8 *) origin, strlen (origin) + 1);
  *h1 = murmur64 (bytes->data, bytes->len, 0x6d65646865616431);
  *h2 = murmur64 (bytes->data, bytes->len, 0x73796e6364696732);
}

static void
digest_add (MhDigest *digest, guint64 h1, guint64 h2, int sign)
{
  if (sign > 0)
    {
      digest->count++;
      digest->h1 += h1;
      digest->h2 += h2;
    }
  else
    {
      digest->count--;
      digest->h1 -= h1;
      digest->h2 -= h2;
    }
}

static void
digest_register (MhStore *self, const MhRow *row, guint reg_index, int sign)
{
  g_autofree char *bucket = NULL;
  guint64 h1, h2;

  if (row->meta[reg_index].hlc == 0)
    return;
  if (row->table->bucket_by_row_prefix)
    bucket = mh_table_def_bucket_for_row (row->table, row->id);
  hash_register (row, reg_index, site_name (self, row->meta[reg_index].origin), &h1, &h2,
                 self->scratch);
  digest_add (digest_for (self, bucket ? bucket : row->table->bucket), h1, h2, sign);
}

static void
digest_tomb (MhStore *self, const MhTableDef *table, const char *id, MhHlc hlc,
             const char *origin, int sign)
{
  g_autofree char *bucket = mh_table_def_bucket_for_row (table, id);
  guint64 h1, h2;

  hash_tomb (table, id, hlc, origin, &h1, &h2);
  digest_add (digest_for (self, bucket), h1, h2, sign);
}

static gboolean
load_digests (MhStore *self, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, "SELECT bucket, count, h1, h2 FROM _mh_digest");

  g_hash_table_remove_all (self->digests);
  g_hash_table_remove_all (self->dirty_digests);
  if (stmt == NULL)
    return set_sqlite_error (self, error, "loading digests");
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      MhDigest *digest = g_new0 (MhDigest, 1);
      digest->count = (guint64) sqlite3_column_int64 (stmt, 1);
      digest->h1 = (guint64) sqlite3_column_int64 (stmt, 2);
      digest->h2 = (guint64) sqlite3_column_int64 (stmt, 3);
      g_hash_table_insert (self->digests, g_strdup ((const char *) sqlite3_column_text (stmt, 0)),
                           digest);
    }
  return TRUE;
}

static gboolean
flush_digests (MhStore *self, GError **error)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  GHashTableIter iter;
  const char *bucket;

  if (g_hash_table_size (self->dirty_digests) == 0)
    return TRUE;
  stmt = prepare_cached (self, "INSERT OR REPLACE INTO _mh_digest (bucket, count, h1, h2) "
                               "VALUES (?, ?, ?, ?)");
  if (stmt == NULL)
    return set_sqlite_error (self, error, "saving digests");
  g_hash_table_iter_init (&iter, self->dirty_digests);
  while (g_hash_table_iter_next (&iter, (gpointer *) &bucket, NULL))
    {
      MhDigest *digest = g_hash_table_lookup (self->digests, bucket);
      sqlite3_bind_text (stmt, 1, bucket, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 2, (gint64) digest->count);
      sqlite3_bind_int64 (stmt, 3, (gint64) digest->h1);
      sqlite3_bind_int64 (stmt, 4, (gint64) digest->h2);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        return set_sqlite_error (self, error, "saving digests");
      sqlite3_reset (stmt);
    }
  g_hash_table_remove_all (self->dirty_digests);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Meta                                                                     */

static gboolean
meta_get (MhStore *self, const char *key, gint64 *out_int, char **out_text)
{
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, "SELECT value FROM _mh_meta WHERE key = ?");
  gboolean found = FALSE;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      found = TRUE;
      if (out_int)
        *out_int = sqlite3_column_int64 (stmt, 0);
      if (out_text)
        *out_text = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
    }
  return found;
}

static gboolean
meta_set_int (MhStore *self, const char *key, gint64 value, GError **error)
{
  g_autoptr(MhCachedStmt) stmt =
    prepare_cached (self, "INSERT OR REPLACE INTO _mh_meta (key, value) VALUES (?, ?)");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "saving metadata");
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, value);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "saving metadata");
  return TRUE;
}

static gboolean
meta_set_text (MhStore *self, const char *key, const char *value, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt =
    prepare_once (self, "INSERT OR REPLACE INTO _mh_meta (key, value) VALUES (?, ?)");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "saving metadata");
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, value, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "saving metadata");
  return TRUE;
}

static gint64
count_rows (MhStore *self, const char *table)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM %s", table);
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, sql);

  if (stmt && sqlite3_step (stmt) == SQLITE_ROW)
    return sqlite3_column_int64 (stmt, 0);
  return 0;
}

/* Counting is four queries: done only when a queue changed, or after a
 * rollback undid what was counted in memory (tombstones). */
static void
update_counts (MhStore *self)
{
  guint held, parked, rejected;

  if (!self->counts_dirty)
    return;
  self->counts_dirty = FALSE;
  held = (guint) count_rows (self, "_mh_held");
  parked = (guint) count_rows (self, "_mh_parked");
  rejected = (guint) count_rows (self, "_mh_rejected");

  self->n_tombs = (guint) count_rows (self, "_mh_tomb");
  self->n_evicted = (guint) count_rows (self, "_mh_evicted");
  self->n_gaps = (guint) count_rows (self, "_mh_gap");
  if (held != self->n_held)
    {
      self->n_held = held;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HELD_COUNT]);
    }
  if (parked != self->n_parked)
    {
      self->n_parked = parked;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PARKED_COUNT]);
    }
  if (rejected != self->n_rejected)
    {
      self->n_rejected = rejected;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REJECTED_COUNT]);
    }
}

/* ------------------------------------------------------------------------ */
/* Transactions                                                             */

static gboolean
txn_begin (MhStore *self, GError **error)
{
  if (self->txn_depth++ > 0)
    return TRUE;

  self->txn_failed = FALSE;
  self->txn_logged = FALSE;
  self->txn_lanes = 0;
  self->txn_seq_start = self->seq;
  self->txn_own_seq_start = self->own_seq;
  g_hash_table_remove_all (self->txn_row_lseq);
  g_array_set_size (self->touched, 0);
  g_hash_table_remove_all (self->touched_rows);
  g_hash_table_remove_all (self->touched_tables);
  self->touched_overflow = FALSE;
  g_array_set_size (self->txn_seal_pending, 0);
  g_hash_table_remove_all (self->txn_seals);
  if (!exec_cached (self, "BEGIN IMMEDIATE", error))
    {
      self->txn_depth = 0;
      return FALSE;
    }
  return TRUE;
}

static void
txn_rollback (MhStore *self)
{
  g_assert (self->txn_depth > 0);
  drop_pending (self);
  if (--self->txn_depth > 0)
    {
      self->txn_failed = TRUE;
      return;
    }
  sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
  g_array_set_size (self->txn_seal_pending, 0);
  g_hash_table_remove_all (self->txn_seals);
  g_clear_pointer (&self->last_seal, mh_seal_unref);
  reload_sites (self);
  self->seq = self->txn_seq_start;
  self->own_seq = self->txn_own_seq_start;
  for (guint i = 0; i < self->touched->len; i++)
    g_free (g_array_index (self->touched, Touched, i).row);
  g_array_set_size (self->touched, 0);
  g_hash_table_remove_all (self->touched_rows);
  g_hash_table_remove_all (self->touched_tables);
  load_digests (self, NULL);
  self->counts_dirty = TRUE;
  update_counts (self);
}

static void
emit_changes (MhStore *self)
{
  g_autoptr(GArray) touched = self->touched;
  /* Taken out of the store before any handler runs: a handler may write
   * to the store, and its transaction starts by clearing these. */
  g_autoptr(GHashTable) touched_tables = self->touched_tables;
  gboolean overflow = self->touched_overflow;
  GQuark detail;

  self->touched = g_array_new (FALSE, FALSE, sizeof (Touched));
  g_array_set_clear_func (self->touched, NULL);
  self->touched_tables = g_hash_table_new (NULL, NULL);
  self->touched_overflow = FALSE;
  g_hash_table_remove_all (self->touched_rows);

  if (overflow)
    {
      GHashTableIter iter;
      const MhTableDef *table;

      g_hash_table_iter_init (&iter, touched_tables);
      while (g_hash_table_iter_next (&iter, (gpointer *) &table, NULL))
        {
          detail = g_quark_from_string (table->name);
          g_signal_emit (self, signals[CHANGED], detail, table->name, NULL);
        }
    }
  else
    {
      for (guint i = 0; i < touched->len; i++)
        {
          Touched *t = &g_array_index (touched, Touched, i);
          detail = g_quark_from_string (t->table->name);
          g_signal_emit (self, signals[CHANGED], detail, t->table->name, t->row);
        }
    }
  for (guint i = 0; i < touched->len; i++)
    g_free (g_array_index (touched, Touched, i).row);
}

/* ------------------------------------------------------------------------ */
/* WAL checkpoints                                                          */

/* SQLite's automatic checkpoint copies the WAL back into the database, and
 * fsyncs it, inside whichever commit takes the WAL past 1,000 pages: 10-40
 * ms that a live update waits for, once every hundred or so. Instead a
 * thread with a connection of its own checkpoints; PASSIVE never blocks
 * the writer, and the WAL starts over at the first commit after it. */
#define CHECKPOINT_PAGES 1000
/* The WAL only starts over once every frame is copied back: commits coming
 * faster than the thread's fsync (a catch-up) keep it a few frames behind.
 * Past this the writer copies that remainder itself (the thread has done
 * the bulk), and the WAL starts over. */
#define CHECKPOINT_INLINE_PAGES (4 * CHECKPOINT_PAGES)

struct _MhCheckpointer
{
  GMutex lock;
  GCond cond;
  gboolean wanted;
  gboolean quit;
  char *path;
  GThread *thread;
};

static gpointer
checkpointer_run (gpointer data)
{
  MhCheckpointer *cp = data;
  sqlite3 *db = NULL;

  g_mutex_lock (&cp->lock);
  for (;;)
    {
      while (!cp->wanted && !cp->quit)
        g_cond_wait (&cp->cond, &cp->lock);
      if (cp->quit)
        break;
      cp->wanted = FALSE;
      g_mutex_unlock (&cp->lock);

      if (db == NULL)
        {
          if (sqlite3_open_v2 (cp->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)
              != SQLITE_OK)
            {
              g_warning ("checkpointing %s: %s", cp->path,
                         db ? sqlite3_errmsg (db) : "out of memory");
              g_clear_pointer (&db, sqlite3_close);
            }
          else
            /* A fresh connection opens the WAL on its first read. */
            sqlite3_exec (db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL);
        }
      if (db != NULL)
        sqlite3_wal_checkpoint_v2 (db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
      g_mutex_lock (&cp->lock);
    }
  g_mutex_unlock (&cp->lock);
  g_clear_pointer (&db, sqlite3_close);
  return NULL;
}

static void
checkpointer_free (MhCheckpointer *cp)
{
  if (cp->thread != NULL)
    {
      g_mutex_lock (&cp->lock);
      cp->quit = TRUE;
      g_cond_signal (&cp->cond);
      g_mutex_unlock (&cp->lock);
      g_thread_join (cp->thread);
    }
  g_mutex_clear (&cp->lock);
  g_cond_clear (&cp->cond);
  g_free (cp->path);
  g_free (cp);
}

static int
wal_hook_cb (void *data, sqlite3 *db, const char *name, int pages)
{
  MhStore *self = data;
  MhCheckpointer *cp;

  if (pages < CHECKPOINT_PAGES)
    return SQLITE_OK;
  if (pages >= CHECKPOINT_INLINE_PAGES)
    {
      /* The thread is not woken: while it holds the checkpoint lock this
       * one could not run. */
      sqlite3_wal_checkpoint_v2 (db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
      return SQLITE_OK;
    }

  if (self->checkpointer == NULL)
    {
      cp = g_new0 (MhCheckpointer, 1);
      g_mutex_init (&cp->lock);
      g_cond_init (&cp->cond);
      cp->path = g_strdup (self->path);
      cp->thread = g_thread_new ("mh-checkpoint", checkpointer_run, cp);
      self->checkpointer = cp;
    }
  cp = self->checkpointer;
  g_mutex_lock (&cp->lock);
  cp->wanted = TRUE;
  g_cond_signal (&cp->cond);
  g_mutex_unlock (&cp->lock);
  return SQLITE_OK;
}

/* Stores @seal, of the site with index @origin, in this transaction;
 * @rows, for this site's own seals, says where each change was written. */
static gboolean
seal_insert (MhStore *self, guint origin, const MhSeal *seal, const char *rows)
{
  g_autoptr(MhCachedStmt) stmt = prepare_cached (self, "INSERT INTO _mh_seal (origin, first_oseq, "
                                                       "n, sig, hashes, rows) "
                                                       "VALUES (?, ?, ?, ?, ?, ?)");

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, origin);
  sqlite3_bind_int64 (stmt, 2, seal->first_oseq);
  sqlite3_bind_int64 (stmt, 3, seal->n);
  sqlite3_bind_blob (stmt, 4, g_bytes_get_data (seal->sig, NULL),
                     (int) g_bytes_get_size (seal->sig), SQLITE_STATIC);
  sqlite3_bind_blob (stmt, 5, g_bytes_get_data (seal->hashes, NULL),
                     (int) g_bytes_get_size (seal->hashes), SQLITE_STATIC);
  if (rows != NULL)
    sqlite3_bind_text (stmt, 6, rows, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (stmt, 6);
  return sqlite3_step (stmt) == SQLITE_DONE;
}

/* The transaction's local changes, signed at once: one seal per run of
 * contiguous sequence numbers, at most MH_SEAL_MAX changes each. */
static gboolean
seal_pending (MhStore *self, GError **error)
{
  GArray *pending = self->txn_seal_pending;
  g_autoptr(GByteArray) hashes = NULL;
  g_autoptr(GString) rows = g_string_new (NULL);
  guint start = 0;

  if (pending->len == 0 || self->identity == NULL)
    return TRUE;
  hashes = g_byte_array_sized_new (MH_SEAL_MAX * MH_SEAL_HASH_SIZE);
  while (start < pending->len)
    {
      const SealPending *first = &g_array_index (pending, SealPending, start);
      g_autoptr(MhSeal) seal = NULL;
      guint n = 1;

      while (start + n < pending->len && n < MH_SEAL_MAX
             && g_array_index (pending, SealPending, start + n).oseq == first->oseq + n)
        n++;
      g_byte_array_set_size (hashes, 0);
      g_string_truncate (rows, 0);
      for (guint i = 0; i < n; i++)
        {
          const SealPending *p = &g_array_index (pending, SealPending, start + i);
          guint run = 1;

          g_byte_array_append (hashes, p->hash, MH_SEAL_HASH_SIZE);
          /* Where each change went, for answering gaps (mh_store_answer_gap()):
           * "table index TAB row TAB count" per run of changes to one row. */
          while (i + 1 < n && p->tbl == p[1].tbl && g_strcmp0 (p->row, p[1].row) == 0)
            {
              g_byte_array_append (hashes, p[1].hash, MH_SEAL_HASH_SIZE);
              p++;
              i++;
              run++;
            }
          g_string_append_printf (rows, "%" G_GINT64_FORMAT "\t%s\t%u\n", p->tbl,
                                  p->row ? p->row : "", run);
        }
      seal = mh_identity_seal (self->identity, first->oseq, n, hashes->data, error);
      if (seal == NULL)
        return FALSE;
      if (!seal_insert (self, self->site_index, seal, rows->str))
        return set_sqlite_error (self, error, "sealing the changes");
      start += n;
    }
  return TRUE;
}

/* A local change of this transaction, to be sealed at its commit: its
 * signature field becomes the marker. */
static void
seal_later (MhStore *self, const MhChange *change)
{
  const MhTableDef *table = mh_schema_lookup_table (self->schema, change->table);
  SealPending p;

  p.oseq = change->origin_seq;
  mh_change_hash (change, p.hash);
  p.tbl = table != NULL ? self->tables[table->index].db_index : 0;
  p.row = g_strdup (change->row);
  g_array_append_val (self->txn_seal_pending, p);
}

/* The stored seal of site @origin (its index) that covers @oseq. */
static MhSeal *
seal_lookup (MhStore *self, guint origin, gint64 oseq)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  const char *site;
  gint64 first, n;

  if (self->last_seal != NULL && self->last_seal_origin == origin
      && mh_seal_get_hash (self->last_seal, oseq) != NULL)
    return mh_seal_ref (self->last_seal);
  if ((site = site_name (self, origin)) == NULL)
    return NULL;
  stmt = prepare_cached (self, "SELECT first_oseq, n, sig, hashes FROM _mh_seal "
                               "WHERE origin = ? AND first_oseq <= ? "
                               "ORDER BY first_oseq DESC LIMIT 1");
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, origin);
  sqlite3_bind_int64 (stmt, 2, oseq);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return NULL;
  first = sqlite3_column_int64 (stmt, 0);
  n = sqlite3_column_int64 (stmt, 1);
  if (n < 1 || n > MH_SEAL_MAX || oseq - first >= n
      || sqlite3_column_bytes (stmt, 2) != MH_CHANGE_SIGNATURE_SIZE
      || sqlite3_column_bytes (stmt, 3) != n * MH_SEAL_HASH_SIZE)
    return NULL;
  {
    g_autoptr(GBytes) sig = g_bytes_new (sqlite3_column_blob (stmt, 2),
                                         MH_CHANGE_SIGNATURE_SIZE);
    g_autoptr(GBytes) hashes = g_bytes_new (sqlite3_column_blob (stmt, 3),
                                            (gsize) n * MH_SEAL_HASH_SIZE);

    g_clear_pointer (&self->last_seal, mh_seal_unref);
    self->last_seal = mh_seal_new (site, first, (guint) n, sig, hashes);
    self->last_seal_origin = origin;
  }
  return mh_seal_ref (self->last_seal);
}

/* A sealed change read from storage takes its seal along. */
static void
attach_seal (MhStore *self, MhChange *change, guint origin)
{
  if (change->seal != NULL || !mh_change_is_sealed (change))
    return;
  change->seal = seal_lookup (self, origin, change->origin_seq);
}

/* A change read back from a queue, where it was kept without its seal. */
static void
attach_seal_by_name (MhStore *self, MhChange *change)
{
  gpointer origin;
  g_autoptr(MhSeal) seal = NULL;

  if (change->seal != NULL || (change->signature != NULL && !mh_change_is_sealed (change))
      || !g_hash_table_lookup_extended (self->site_by_name, change->origin, NULL, &origin))
    return;
  seal = seal_lookup (self, GPOINTER_TO_UINT (origin), change->origin_seq);
  if (seal != NULL)
    mh_change_set_seal (change, seal);
}

/* Keeps the seal of a remote change that verified, so that this replica
 * can relay it. An origin signs one seal per run of sequence numbers: a
 * stored seal overlapping this one with other content means it signed two
 * different things with one number, and this one is refused. */
static Outcome
seal_keep (MhStore *self, MhSeal *seal, char **reason, GError **error)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  gint64 last = seal->first_oseq + (gint64) seal->n - 1;
  guint origin;
  gboolean same = FALSE, clash = FALSE;

  if (g_hash_table_contains (self->txn_seals, seal))
    return OUTCOME_APPLIED;
  if ((origin = site_index (self, seal->origin, error)) == 0)
    return OUTCOME_REJECTED;
  stmt = prepare_cached (self, "SELECT first_oseq, n, sig, hashes FROM _mh_seal "
                               "WHERE origin = ? AND first_oseq <= ? "
                               "ORDER BY first_oseq DESC LIMIT 1");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "reading seals");
      return OUTCOME_REJECTED;
    }
  sqlite3_bind_int64 (stmt, 1, origin);
  sqlite3_bind_int64 (stmt, 2, last);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 first = sqlite3_column_int64 (stmt, 0);
      gint64 n = sqlite3_column_int64 (stmt, 1);

      if (first == seal->first_oseq && n == seal->n
          && sqlite3_column_bytes (stmt, 2) == (int) g_bytes_get_size (seal->sig)
          && sqlite3_column_bytes (stmt, 3) == (int) g_bytes_get_size (seal->hashes)
          && memcmp (sqlite3_column_blob (stmt, 2), g_bytes_get_data (seal->sig, NULL),
                     g_bytes_get_size (seal->sig)) == 0
          && memcmp (sqlite3_column_blob (stmt, 3), g_bytes_get_data (seal->hashes, NULL),
                     g_bytes_get_size (seal->hashes)) == 0)
        same = TRUE;
      else if (first + n - 1 >= seal->first_oseq)
        clash = TRUE;
    }
  g_clear_pointer (&stmt, cached_release);
  if (clash)
    {
      self->n_reused_oseq++;
      g_message ("site %s sealed sequence number %" G_GINT64_FORMAT " twice with different "
                 "content: the second seal is refused", seal->origin, seal->first_oseq);
      g_free (*reason);
      *reason = g_strdup_printf (_("sequence numbers %lld to %lld of site %s were already "
                                   "sealed otherwise"),
                                 (long long) seal->first_oseq, (long long) last, seal->origin);
      return OUTCOME_REJECTED;
    }
  if (!same)
    {
      if (!seal_insert (self, origin, seal, NULL))
        {
          set_sqlite_error (self, error, "keeping a seal");
          return OUTCOME_REJECTED;
        }
    }
  g_hash_table_add (self->txn_seals, mh_seal_ref (seal));
  return OUTCOME_APPLIED;
}

static gboolean
txn_commit (MhStore *self, GError **error)
{
  gboolean logged;
  guint64 lanes;

  g_assert (self->txn_depth > 0);
  /* Failing here marks the transaction failed: the outermost commit then
   * rolls it all back and reports it. */
  if (!flush_pending (self, NULL))
    self->txn_failed = TRUE;
  if (--self->txn_depth > 0)
    return TRUE;

  if (self->txn_failed)
    {
      self->txn_depth = 1;
      txn_rollback (self);
      g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                           _("the transaction failed and was rolled back"));
      return FALSE;
    }

  self->txn_depth = 1; /* so helpers still see an open transaction */
  if (!seal_pending (self, error)
      || !meta_set_int (self, "seq", self->seq, error)
      || !meta_set_int (self, "own_seq", self->own_seq, error)
      || !meta_set_int (self, "hlc", self->clock.last, error) || !flush_digests (self, error)
      || !exec_cached (self, "COMMIT", error))
    {
      txn_rollback (self);
      return FALSE;
    }
  self->txn_depth = 0;
  /* A peer's batch is sent again if lost (its cursor goes with it); this
   * node's own changes, and anything written locally, wait for the disk
   * before a caller says they are saved. */
  if (self->wal_sync != NULL
      && (!self->applying_peer || self->own_seq != self->txn_own_seq_start))
    self->sync_ticket = mh_wal_sync_request (self->wal_sync);
  g_array_set_size (self->txn_seal_pending, 0);
  g_hash_table_remove_all (self->txn_seals);
  logged = self->txn_logged;
  lanes = self->txn_lanes;
  update_counts (self);
  emit_changes (self);
  if (logged)
    {
      /* Handlers may write (a nested commit emits its own signal first):
       * each emission sees its own lanes. */
      guint64 outer = self->committed_lanes;

      self->committed_lanes = lanes;
      g_signal_emit (self, signals[COMMITTED], 0, self->seq);
      self->committed_lanes = outer;
    }
  return TRUE;
}

static void
touch (MhStore *self, const MhTableDef *table, const char *row)
{
  Touched t;

  g_hash_table_add (self->touched_tables, (gpointer) table);
  if (self->touched_overflow)
    return;
  if (!g_hash_table_add (self->touched_rows, g_strdup_printf ("%u\x1f%s", table->index, row)))
    return;
  if (self->touched->len >= MAX_ROW_SIGNALS)
    {
      self->touched_overflow = TRUE;
      return;
    }
  t.table = table;
  t.row = g_strdup (row);
  g_array_append_val (self->touched, t);
}

/* ------------------------------------------------------------------------ */
/* The log                                                                  */

static gboolean
log_insert (MhStore *self, guint lane, gint64 lseq, gint64 tbl, gint64 rid, GError **error)
{
  int rc;

  sqlite3_bind_int (self->log_insert, 1, (int) lane);
  sqlite3_bind_int64 (self->log_insert, 2, lseq);
  sqlite3_bind_int64 (self->log_insert, 3, tbl);
  sqlite3_bind_int64 (self->log_insert, 4, rid);
  rc = sqlite3_step (self->log_insert);
  sqlite3_reset (self->log_insert);
  if (rc != SQLITE_DONE)
    return set_sqlite_error (self, error, "writing the log");
  self->txn_logged = TRUE;
  self->txn_lanes |= lane < 64 ? G_GUINT64_CONSTANT (1) << lane : G_MAXUINT64;
  return TRUE;
}

static gboolean
log_delete (MhStore *self, guint lane, gint64 lseq, GError **error)
{
  int rc;

  sqlite3_bind_int (self->log_delete, 1, (int) lane);
  sqlite3_bind_int64 (self->log_delete, 2, lseq);
  rc = sqlite3_step (self->log_delete);
  sqlite3_reset (self->log_delete);
  if (rc != SQLITE_DONE)
    return set_sqlite_error (self, error, "writing the log");
  return TRUE;
}

/* The local sequence number for a row written in this transaction: one per
 * row per transaction, so a row written whole costs one log entry. Only
 * this transaction hands out numbers above txn_seq_start, so a register
 * carrying one was written by it, and its number is the row's. */
static gint64
row_lseq (MhStore *self, const MhRow *row, gboolean *is_new)
{
  for (guint i = 0; i < row->table->registers->len; i++)
    if (row->meta[i].hlc != 0 && row->meta[i].lseq > self->txn_seq_start)
      {
        *is_new = FALSE;
        return row->meta[i].lseq;
      }
  *is_new = TRUE;
  return ++self->seq;
}

static gboolean
lseq_in_use (const MhRow *row, gint64 lseq)
{
  for (guint i = 0; i < row->table->registers->len; i++)
    if (row->meta[i].hlc != 0 && row->meta[i].lseq == lseq)
      return TRUE;
  return FALSE;
}

/* Writes the pending row and its log entry. */
static gboolean
flush_pending (MhStore *self, GError **error)
{
  g_autoptr(MhRow) row = g_steal_pointer (&self->pending);
  gboolean log = self->pending_log;

  self->pending_log = FALSE;
  if (row == NULL)
    return TRUE;
  if (!store_row (self, row, error))
    return FALSE;
  if (log && !log_insert (self, row->table->lane, self->pending_lseq,
                          self->tables[row->table->index].db_index, row->rid, error))
    return FALSE;
  return TRUE;
}

static void
drop_pending (MhStore *self)
{
  g_clear_pointer (&self->pending, row_free);
  self->pending_log = FALSE;
}

/* ------------------------------------------------------------------------ */
/* Queues: held, parked, rejected                                           */

static char *
change_key (const MhChange *change)
{
  return g_strdup_printf ("%s\x1f%s\x1f%s\x1f%" G_GINT64_FORMAT "\x1f%s", change->table,
                          change->row, change->reg ? change->reg : "", change->hlc,
                          change->origin);
}

/* Queued changes are kept as a batch of one, printed by the codec: json-glib's
 * own generator prints some reals (1e22) as invalid JSON, and a change that
 * cannot be read back would be lost from the queue. */
static char *
change_to_json (const MhChange *change)
{
  g_autoptr(GPtrArray) one = g_ptr_array_new ();

  g_ptr_array_add (one, (gpointer) change);
  /* Without its seal, kept in _mh_seal: change_from_json() attaches it. */
  return mh_codec_encode_batch_unsealed (one, NULL);
}

static MhChange *
change_from_json (MhStore *self, const char *text)
{
  g_autoptr(GPtrArray) batch = mh_codec_decode_batch (text, -1, NULL, NULL);
  g_autoptr(JsonNode) node = NULL;
  MhChange *change;

  if (batch != NULL && batch->len == 1)
    change = mh_change_ref (g_ptr_array_index (batch, 0));
  else
    {
      /* A single change object, as queued by earlier versions. */
      node = json_from_string (text, NULL);
      if (node == NULL)
        return NULL;
      change = mh_codec_decode_change (node, NULL, NULL);
      if (change == NULL)
        return NULL;
    }
  attach_seal_by_name (self, change);
  return change;
}

static gboolean
queue_put (MhStore *self, const char *queue, const MhChange *change, const char *reason,
           gint64 phys, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("INSERT OR IGNORE INTO %s (key, change, reason, at, phys) "
                                          "VALUES (?, ?, ?, ?, ?)", queue);
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, sql);
  g_autofree char *key = change_key (change);
  g_autofree char *json = change_to_json (change);

  self->counts_dirty = TRUE;

  if (stmt == NULL)
    return set_sqlite_error (self, error, "queueing a change");
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, json, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, mh_clock_wall_ms (&self->clock));
  sqlite3_bind_int64 (stmt, 5, phys);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "queueing a change");
  return TRUE;
}

static gboolean
queue_remove (MhStore *self, const char *queue, gint64 id, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("DELETE FROM %s WHERE id = ?", queue);
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, sql);

  self->counts_dirty = TRUE;

  if (stmt == NULL)
    return set_sqlite_error (self, error, "dequeuing a change");
  sqlite3_bind_int64 (stmt, 1, id);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "dequeuing a change");
  return TRUE;
}

static GPtrArray *
queue_list (MhStore *self, const char *queue, guint limit)
{
  g_autofree char *sql = g_strdup_printf ("SELECT change, reason, at FROM %s ORDER BY id LIMIT ?",
                                          queue);
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, sql);
  GPtrArray *result = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_queued_change_free);

  if (stmt == NULL)
    return result;
  sqlite3_bind_int64 (stmt, 1, limit ? limit : G_MAXINT64);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      MhChange *change = change_from_json (self, (const char *) sqlite3_column_text (stmt, 0));
      MhQueuedChange *queued;

      if (change == NULL)
        continue;
      queued = g_new0 (MhQueuedChange, 1);
      queued->change = change;
      queued->reason = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
      queued->at_ms = sqlite3_column_int64 (stmt, 2);
      g_ptr_array_add (result, queued);
    }
  return result;
}

void
mh_queued_change_free (MhQueuedChange *queued)
{
  if (queued == NULL)
    return;
  g_clear_pointer (&queued->change, mh_change_unref);
  g_free (queued->reason);
  g_free (queued);
}

void
mh_history_entry_free (MhHistoryEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->reg);
  g_clear_pointer (&entry->value, g_variant_unref);
  g_free (entry->origin);
  g_free (entry);
}

static gboolean
history_put (MhStore *self, const MhTableDef *table, const char *row, const MhRegisterDef *reg,
             GVariant *value, MhHlc hlc, const char *origin, MhHlc replaced_by, GError **error)
{
  g_autoptr(MhCachedStmt) stmt = prepare_cached (
    self, "INSERT OR IGNORE INTO _mh_history (tbl, row, reg, value, hlc, origin, replaced_at, "
          "replaced_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  g_autoptr(GVariant) owned = g_variant_ref_sink (value);

  if (stmt == NULL)
    return set_sqlite_error (self, error, "keeping history");
  sqlite3_bind_text (stmt, 1, table->name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, row, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, reg->name, -1, SQLITE_STATIC);
  sqlite3_bind_blob (stmt, 4, g_variant_get_data (owned), (int) g_variant_get_size (owned),
                     SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 5, hlc);
  sqlite3_bind_text (stmt, 6, origin, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 7, mh_clock_wall_ms (&self->clock));
  sqlite3_bind_int64 (stmt, 8, replaced_by);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "keeping history");
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Tombstones                                                               */

typedef struct
{
  gint64 rid;
  MhHlc hlc;
  guint origin;
  gint64 oseq;
  gint64 lseq;
  GBytes *sig;
} Tomb;

static void
tomb_clear (Tomb *tomb)
{
  g_clear_pointer (&tomb->sig, g_bytes_unref);
}

/* Returns TRUE when the row has a tombstone (filled into @tomb). */
static gboolean
tomb_lookup (MhStore *self, const MhTableDef *table, const char *id, Tomb *tomb)
{
  sqlite3_stmt *stmt = self->tomb_by_id;
  gboolean found = FALSE;

  memset (tomb, 0, sizeof *tomb);
  /* n_tombs is exact inside a transaction too: inserts count it, and a
   * rollback recounts it. */
  if (self->n_tombs == 0)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, self->tables[table->index].db_index);
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      found = TRUE;
      tomb->rid = sqlite3_column_int64 (stmt, 0);
      tomb->hlc = sqlite3_column_int64 (stmt, 1);
      tomb->origin = (guint) sqlite3_column_int64 (stmt, 2);
      tomb->oseq = sqlite3_column_int64 (stmt, 3);
      tomb->lseq = sqlite3_column_int64 (stmt, 4);
      if (sqlite3_column_bytes (stmt, 5) > 0)
        tomb->sig = g_bytes_new (sqlite3_column_blob (stmt, 5), sqlite3_column_bytes (stmt, 5));
    }
  sqlite3_reset (stmt);
  return found;
}

/* ------------------------------------------------------------------------ */
/* Applying one change                                                      */

static MhVerdict
run_validator (MhStore *self, const MhChange *change, const MhRow *row, gboolean local,
               char **reason)
{
  MhVerdict verdict;

  *reason = NULL;
  if (self->validate == NULL)
    return MH_VERDICT_ACCEPT;
  verdict = self->validate (self, change, row, local, reason, self->validate_data);
  if (verdict != MH_VERDICT_ACCEPT && *reason == NULL)
    *reason = g_strdup (verdict == MH_VERDICT_PARK ? _("waiting for a referenced row")
                                                   : _("refused by validation"));
  return verdict;
}

static Outcome
apply_delete (MhStore *self, const MhTableDef *table, MhChange *change, gboolean local,
              guint origin_index, char **reason, GError **error)
{
  g_autoptr(MhRow) row = NULL;
  Tomb tomb;
  gboolean had_tomb;
  gint64 lseq;
  MhVerdict verdict;

  if (!flush_pending (self, error))
    return OUTCOME_REJECTED;
  had_tomb = tomb_lookup (self, table, change->row, &tomb);
  if (had_tomb && mh_change_compare_clock (change->hlc, change->origin, tomb.hlc,
                                           site_name (self, tomb.origin)) <= 0)
    {
      tomb_clear (&tomb);
      return OUTCOME_OLDER;
    }

  if (!had_tomb && !load_row (self, table, change->row, &row, error))
    return OUTCOME_REJECTED;

  /* Deletions are decided without the row: a node that never had it must
   * decide the same way. */
  verdict = run_validator (self, change, NULL, local, reason);
  if (verdict != MH_VERDICT_ACCEPT)
    {
      tomb_clear (&tomb);
      return verdict == MH_VERDICT_PARK ? OUTCOME_PARKED : OUTCOME_REJECTED;
    }

  lseq = ++self->seq;
  if (had_tomb)
    {
      sqlite3_stmt *stmt = self->tomb_update;

      digest_tomb (self, table, change->row, tomb.hlc, site_name (self, tomb.origin), -1);
      sqlite3_bind_int64 (stmt, 1, change->hlc);
      sqlite3_bind_int64 (stmt, 2, origin_index);
      sqlite3_bind_int64 (stmt, 3, change->origin_seq);
      sqlite3_bind_int64 (stmt, 4, lseq);
      if (change->signature)
        sqlite3_bind_blob (stmt, 5, g_bytes_get_data (change->signature, NULL),
                           (int) g_bytes_get_size (change->signature), SQLITE_STATIC);
      else
        sqlite3_bind_null (stmt, 5);
      sqlite3_bind_int64 (stmt, 6, tomb.rid);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        {
          sqlite3_reset (stmt);
          tomb_clear (&tomb);
          set_sqlite_error (self, error, "updating a tombstone");
          return OUTCOME_REJECTED;
        }
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      if (!log_delete (self, table->lane, tomb.lseq, error)
          || !log_insert (self, table->lane, lseq, 0, tomb.rid, error))
        {
          tomb_clear (&tomb);
          return OUTCOME_REJECTED;
        }
      tomb_clear (&tomb);
    }
  else
    {
      sqlite3_stmt *stmt = self->tomb_insert;
      gint64 tomb_rid;

      if (row != NULL)
        {
          /* The row's values lose to the deletion: drop them from the
           * digest, the log and the table, keeping history where declared. */
          for (guint i = 0; i < table->registers->len; i++)
            {
              const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);
              if (row->meta[i].hlc == 0)
                continue;
              digest_register (self, row, i, -1);
              if ((reg->flags & MH_REGISTER_HISTORY)
                  && !history_put (self, table, row->id, reg,
                                   cells_to_variant (row->cells + reg->first_column,
                                                     reg->n_columns),
                                   row->meta[i].hlc, site_name (self, row->meta[i].origin),
                                   change->hlc, error))
                return OUTCOME_REJECTED;
            }
          for (guint i = 0; i < table->registers->len; i++)
            {
              gint64 old = row->meta[i].lseq;
              gboolean seen = FALSE;
              if (row->meta[i].hlc == 0)
                continue;
              for (guint j = 0; j < i; j++)
                if (row->meta[j].hlc != 0 && row->meta[j].lseq == old)
                  seen = TRUE;
              if (!seen && !log_delete (self, table->lane, old, error))
                return OUTCOME_REJECTED;
            }
          sqlite3_bind_int64 (self->tables[table->index].delete, 1, row->rid);
          if (sqlite3_step (self->tables[table->index].delete) != SQLITE_DONE)
            {
              sqlite3_reset (self->tables[table->index].delete);
              set_sqlite_error (self, error, "deleting a row");
              return OUTCOME_REJECTED;
            }
          sqlite3_reset (self->tables[table->index].delete);
        }

      sqlite3_bind_int64 (stmt, 1, self->tables[table->index].db_index);
      sqlite3_bind_text (stmt, 2, change->row, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, change->hlc);
      sqlite3_bind_int64 (stmt, 4, origin_index);
      sqlite3_bind_int64 (stmt, 5, change->origin_seq);
      sqlite3_bind_int64 (stmt, 6, lseq);
      if (change->signature)
        sqlite3_bind_blob (stmt, 7, g_bytes_get_data (change->signature, NULL),
                           (int) g_bytes_get_size (change->signature), SQLITE_STATIC);
      else
        sqlite3_bind_null (stmt, 7);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        {
          sqlite3_reset (stmt);
          set_sqlite_error (self, error, "writing a tombstone");
          return OUTCOME_REJECTED;
        }
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      tomb_rid = sqlite3_last_insert_rowid (self->db);
      self->n_tombs++;
      if (!log_insert (self, table->lane, lseq, 0, tomb_rid, error))
        return OUTCOME_REJECTED;
    }

  if (!drop_foreign_of_row (self, table, change->row, error))
    return OUTCOME_REJECTED;
  digest_tomb (self, table, change->row, change->hlc, change->origin, +1);
  touch (self, table, change->row);
  return OUTCOME_APPLIED;
}

static Outcome
apply_set (MhStore *self, const MhTableDef *table, MhChange *change, gboolean local,
           guint origin_index, char **reason, GError **error)
{
  const MhRegisterDef *reg;
  guint reg_index;
  MhRow *row;
  g_autoptr(MhRow) loaded = NULL;
  g_autoptr(MhRow) next = NULL;
  MhRegMeta *old_meta;
  gsize n_values;
  gint64 lseq, old_lseq;
  gboolean lseq_is_new;
  gboolean conflict = FALSE;
  MhVerdict verdict;
  Tomb tomb;

  reg = mh_table_def_lookup_register (table, change->reg, &reg_index);
  if (reg == NULL)
    {
      *reason = g_strdup_printf (_("unknown register “%s” of table “%s”"), change->reg,
                                 table->name);
      return OUTCOME_REJECTED;
    }
  n_values = g_variant_n_children (change->value);
  if (n_values != reg->n_columns)
    {
      *reason = g_strdup_printf (_("register “%s” of “%s” has %u values, %zu given"),
                                 reg->name, table->name, reg->n_columns, n_values);
      return OUTCOME_REJECTED;
    }

  if (self->pending != NULL && self->pending->table == table
      && strcmp (self->pending->id, change->row) == 0)
    row = self->pending; /* live: a deletion would have flushed it away */
  else
    {
      if (!flush_pending (self, error))
        return OUTCOME_REJECTED;
      if (tomb_lookup (self, table, change->row, &tomb))
        {
          tomb_clear (&tomb);
          return OUTCOME_DELETED;
        }
      if (!load_row (self, table, change->row, &loaded, error))
        return OUTCOME_REJECTED;
      if (loaded == NULL)
        loaded = row_new (table, change->row);
      row = loaded;
    }

  next = row_copy (row);
  for (guint i = 0; i < reg->n_columns; i++)
    {
      g_autoptr(GVariant) value = g_variant_get_child_value (change->value, i);
      const MhColumnDef *column = g_ptr_array_index (table->columns, reg->first_column + i);

      if (!cell_from_variant (&next->cells[reg->first_column + i], value, column->type))
        {
          *reason = g_strdup_printf (_("column “%s” of “%s”: wrong type"), column->name,
                                     table->name);
          return OUTCOME_REJECTED;
        }
    }

  old_meta = &row->meta[reg_index];
  if (old_meta->hlc != 0)
    {
      int cmp = mh_change_compare_clock (change->hlc, change->origin, old_meta->hlc,
                                         site_name (self, old_meta->origin));
      gboolean same_value = TRUE;

      for (guint i = 0; i < reg->n_columns; i++)
        if (!cell_equal (&row->cells[reg->first_column + i], &next->cells[reg->first_column + i]))
          same_value = FALSE;

      if (cmp <= 0)
        {
          if (cmp < 0 && !same_value)
            {
              /* A losing value: kept in history, or for an insert-only row,
               * a conflicting insert rejected the same way everywhere. */
              if (table->flags & MH_TABLE_INSERT_ONLY)
                {
                  *reason = g_strdup (_("conflicting insert: the key exists with other content"));
                  return OUTCOME_REJECTED;
                }
              /* history_put() sinks its value: on a value that is not
               * floating that takes a reference of its own, so none here. */
              if ((reg->flags & MH_REGISTER_HISTORY)
                  && !history_put (self, table, change->row, reg, change->value,
                                   change->hlc, change->origin, old_meta->hlc, error))
                return OUTCOME_REJECTED;
            }
          return OUTCOME_OLDER;
        }
      if (!same_value && (table->flags & MH_TABLE_INSERT_ONLY))
        conflict = TRUE;
    }

  verdict = run_validator (self, change, next, local, reason);
  if (verdict != MH_VERDICT_ACCEPT)
    return verdict == MH_VERDICT_PARK ? OUTCOME_PARKED : OUTCOME_REJECTED;

  if (conflict)
    {
      /* The stored insert loses: record it as the rejected one. */
      g_autoptr(MhChange) loser = mh_change_new_set (
        table->name, row->id, reg->name, cells_to_variant (row->cells + reg->first_column,
                                                           reg->n_columns),
        old_meta->hlc, site_name (self, old_meta->origin), old_meta->oseq);
      loser->signature = old_meta->sig ? g_bytes_ref (old_meta->sig) : NULL;
      attach_seal (self, loser, old_meta->origin);
      if (!queue_put (self, "_mh_rejected", loser,
                      _("conflicting insert: the key exists with other content"), 0, error))
        return OUTCOME_REJECTED;
    }
  else if (old_meta->hlc != 0 && (reg->flags & MH_REGISTER_HISTORY))
    {
      gboolean same_value = TRUE;
      for (guint i = 0; i < reg->n_columns; i++)
        if (!cell_equal (&row->cells[reg->first_column + i], &next->cells[reg->first_column + i]))
          same_value = FALSE;
      if (!same_value
          && !history_put (self, table, row->id, reg,
                           cells_to_variant (row->cells + reg->first_column, reg->n_columns),
                           old_meta->hlc, site_name (self, old_meta->origin), change->hlc, error))
        return OUTCOME_REJECTED;
    }

  /* Swap the register's hash, then its metadata. */
  digest_register (self, row, reg_index, -1);

  old_lseq = next->meta[reg_index].hlc ? next->meta[reg_index].lseq : 0;
  lseq = row_lseq (self, next, &lseq_is_new);
  g_clear_pointer (&next->meta[reg_index].sig, g_bytes_unref);
  next->meta[reg_index].hlc = change->hlc;
  next->meta[reg_index].origin = origin_index;
  next->meta[reg_index].oseq = change->origin_seq;
  next->meta[reg_index].lseq = lseq;
  next->meta[reg_index].sig = change->signature ? g_bytes_ref (change->signature) : NULL;
  /* Relayed with the version it was written in: a value a newer schema
   * allowed must not look like this version's to the next node. */
  next->meta[reg_index].sv = change->schema_version != mh_schema_get_version (self->schema)
                               ? change->schema_version
                               : 0;

  digest_register (self, next, reg_index, +1);

  if (old_lseq != 0 && old_lseq != lseq && !lseq_in_use (next, old_lseq)
      && !log_delete (self, table->lane, old_lseq, error))
    return OUTCOME_REJECTED;

  /* The row is written when another row is touched or the batch ends. */
  if (row == self->pending)
    g_clear_pointer (&self->pending, row_free);
  else if (!flush_pending (self, error))
    return OUTCOME_REJECTED;
  self->pending = g_steal_pointer (&next);
  if (lseq_is_new)
    {
      self->pending_log = TRUE;
      self->pending_lseq = lseq;
    }

  touch (self, table, change->row);
  return OUTCOME_APPLIED;
}

/* ------------------------------------------------------------------------ */
/* Foreign changes: tables and registers of a newer schema                  */

/* The same bytes a node that knows the register hashes, as long as the
 * values carry their declared types (the codec keeps reals apart). */
static void
hash_foreign (const MhChange *change, guint64 *h1, guint64 *h2)
{
  g_autoptr(GByteArray) bytes = g_byte_array_sized_new (128);
  guint64 hlc = GUINT64_TO_LE ((guint64) change->hlc);

  g_byte_array_append (bytes, (const guint8 *) change->table, strlen (change->table) + 1);
  g_byte_array_append (bytes, (const guint8 *) change->row, strlen (change->row) + 1);
  if (change->kind == MH_CHANGE_DELETE)
    {
      g_byte_array_append (bytes, (const guint8 *) "\001deleted", 9);
      g_byte_array_append (bytes, (const guint8 *) &hlc, 8);
      g_byte_array_append (bytes, (const guint8 *) change->origin, strlen (change->origin) + 1);
    }
  else
    {
      gsize n = g_variant_n_children (change->value);
      g_autofree MhCell *cells = g_new0 (MhCell, n);

      g_byte_array_append (bytes, (const guint8 *) change->reg, strlen (change->reg) + 1);
      g_byte_array_append (bytes, (const guint8 *) &hlc, 8);
      g_byte_array_append (bytes, (const guint8 *) change->origin, strlen (change->origin) + 1);
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) child = g_variant_get_child_value (change->value, i);
          g_autoptr(GVariant) inner = g_variant_get_variant (child);

          if (g_variant_is_of_type (inner, G_VARIANT_TYPE_INT64))
            cells[i].type = SQLITE_INTEGER, cells[i].i = g_variant_get_int64 (inner);
          else if (g_variant_is_of_type (inner, G_VARIANT_TYPE_DOUBLE))
            cells[i].type = SQLITE_FLOAT, cells[i].d = g_variant_get_double (inner);
          else if (g_variant_is_of_type (inner, G_VARIANT_TYPE_STRING))
            cells[i].type = SQLITE_TEXT, cells[i].s = (char *) g_variant_get_string (inner, NULL);
          else
            cells[i].type = SQLITE_NULL;
        }
      cells_serialize (bytes, cells, (guint) n);
    }
  *h1 = murmur64 (bytes->data, bytes->len, 0x6d65646865616431);
  *h2 = murmur64 (bytes->data, bytes->len, 0x73796e6364696732);
}

static void
digest_foreign (MhStore *self, const MhTableDef *table, const MhChange *change, int sign)
{
  g_autofree char *bucket = table ? mh_table_def_bucket_for_row (table, change->row)
                                  : g_strdup (change->table);
  guint64 h1, h2;

  hash_foreign (change, &h1, &h2);
  digest_add (digest_for (self, bucket), h1, h2, sign);
}

/* Drops what a newer schema wrote to a row this replica deletes. */
static gboolean
drop_foreign_of_row (MhStore *self, const MhTableDef *table, const char *row, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  stmt = prepare_once (self, "SELECT rid, lane, lseq, change FROM _mh_foreign "
                             "WHERE tbl = ? AND row = ?");
  if (stmt == NULL)
    return set_sqlite_error (self, error, "reading foreign registers");
  sqlite3_bind_text (stmt, 1, table->name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, row, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_autoptr(MhChange) old = change_from_json (self, (const char *) sqlite3_column_text (stmt, 3));
      g_autoptr(sqlite3_stmt) del = prepare_once (self, "DELETE FROM _mh_foreign WHERE rid = ?");

      if (old)
        digest_foreign (self, table, old, -1);
      if (!log_delete (self, (guint) sqlite3_column_int (stmt, 1), sqlite3_column_int64 (stmt, 2),
                       error))
        return FALSE;
      sqlite3_bind_int64 (del, 1, sqlite3_column_int64 (stmt, 0));
      if (sqlite3_step (del) != SQLITE_DONE)
        return set_sqlite_error (self, error, "dropping foreign registers");
    }
  return TRUE;
}

static Outcome
apply_foreign (MhStore *self, const MhTableDef *table, MhChange *change, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *json = NULL;
  const char *reg = change->kind == MH_CHANGE_DELETE ? "" : change->reg;
  guint lane = table ? table->lane : mh_schema_get_n_lanes (self->schema) - 1;
  gint64 rid = 0, lseq;
  Tomb tomb;

  if (table != NULL && tomb_lookup (self, table, change->row, &tomb))
    {
      tomb_clear (&tomb);
      return OUTCOME_DELETED;
    }

  stmt = prepare_once (self, "SELECT rid, hlc, origin, lane, lseq, change FROM _mh_foreign "
                             "WHERE tbl = ? AND row = ? AND reg = ?");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "reading foreign registers");
      return OUTCOME_REJECTED;
    }
  sqlite3_bind_text (stmt, 1, change->table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, change->row, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, reg, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_autoptr(MhChange) old = NULL;

      if (mh_change_compare_clock (change->hlc, change->origin, sqlite3_column_int64 (stmt, 1),
                                   (const char *) sqlite3_column_text (stmt, 2)) <= 0)
        return OUTCOME_OLDER;
      rid = sqlite3_column_int64 (stmt, 0);
      old = change_from_json (self, (const char *) sqlite3_column_text (stmt, 5));
      if (old)
        digest_foreign (self, table, old, -1);
      if (!log_delete (self, (guint) sqlite3_column_int (stmt, 3), sqlite3_column_int64 (stmt, 4),
                       error))
        return OUTCOME_REJECTED;
    }
  g_clear_pointer (&stmt, sqlite3_finalize);

  lseq = ++self->seq;
  json = change_to_json (change);
  stmt = prepare_once (self, rid ? "UPDATE _mh_foreign SET tbl = ?1, row = ?2, reg = ?3, hlc = ?4, "
                                   "origin = ?5, lseq = ?6, lane = ?7, change = ?8 WHERE rid = ?9"
                                 : "INSERT INTO _mh_foreign (tbl, row, reg, hlc, origin, lseq, lane, "
                                   "change) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "storing a foreign register");
      return OUTCOME_REJECTED;
    }
  sqlite3_bind_text (stmt, 1, change->table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, change->row, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, reg, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, change->hlc);
  sqlite3_bind_text (stmt, 5, change->origin, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, lseq);
  sqlite3_bind_int (stmt, 7, (int) lane);
  sqlite3_bind_text (stmt, 8, json, -1, SQLITE_STATIC);
  if (rid)
    sqlite3_bind_int64 (stmt, 9, rid);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "storing a foreign register");
      return OUTCOME_REJECTED;
    }
  if (rid == 0)
    rid = sqlite3_last_insert_rowid (self->db);
  if (!log_insert (self, lane, lseq, -1, rid, error))
    return OUTCOME_REJECTED;
  digest_foreign (self, table, change, +1);
  return OUTCOME_APPLIED;
}

static gboolean
row_is_evicted (MhStore *self, const char *table, const char *row)
{
  g_autoptr(MhCachedStmt) stmt = prepare_cached (self, "SELECT 1 FROM _mh_evicted "
                                                       "WHERE tbl = ? AND id = ?");
  gboolean found;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, row, -1, SQLITE_STATIC);
  found = sqlite3_step (stmt) == SQLITE_ROW;
  return found;
}

/* Decides and applies one change inside an open transaction. On
 * OUTCOME_REJECTED with @error set, the transaction must be abandoned;
 * without @error set, @reason says why the change was refused. */
static Outcome
apply_one (MhStore *self, MhChange *change, gboolean local, gboolean from_queue, char **reason,
           GError **error)
{
  const MhTableDef *table;
  guint origin_index;
  gboolean foreign;
  Outcome outcome;

  *reason = NULL;
  table = mh_schema_lookup_table (self->schema, change->table);
  foreign = table == NULL
            || (change->kind == MH_CHANGE_SET && change->reg != NULL
                && mh_table_def_lookup_register (table, change->reg, NULL) == NULL);
  /* What a newer schema added is kept and relayed untouched; from a peer
   * that claims no newer schema it is simply wrong. */
  if (foreign && (local || change->schema_version <= mh_schema_get_version (self->schema)))
    {
      if (table == NULL)
        *reason = g_strdup_printf (_("unknown table “%s”"), change->table);
      else
        *reason = g_strdup_printf (_("unknown register “%s” of table “%s”"), change->reg,
                                   table->name);
      return OUTCOME_REJECTED;
    }
  if (change->kind == MH_CHANGE_SET && (change->reg == NULL || change->value == NULL))
    {
      *reason = g_strdup (_("a write without register or value"));
      return OUTCOME_REJECTED;
    }
  if (change->row == NULL || change->row[0] == '\0' || change->origin == NULL
      || change->origin[0] == '\0' || change->hlc <= 0)
    {
      *reason = g_strdup (_("a change without row, origin or clock"));
      return OUTCOME_REJECTED;
    }

  /* A row evicted here stays gone: a late change to it is dropped, not
   * applied, held or parked (eviction is local, see mh_store_evict()). */
  if (table != NULL && self->n_evicted > 0 && row_is_evicted (self, table->name, change->row))
    {
      if (local)
        *reason = g_strdup_printf (_("%s %s was evicted from this replica"), table->name,
                                   change->row);
      return local ? OUTCOME_REJECTED : OUTCOME_EVICTED;
    }

  /* A change stamped further ahead than the bound is held, and does not
   * move the clock: a node with a wrong date must not drag others along. */
  if (!local && MH_HLC_PHYSICAL (change->hlc) > mh_store_get_reference_ms (self) + self->hold_bound_ms)
    return OUTCOME_HELD;

  if (foreign)
    outcome = apply_foreign (self, table, change, error);
  else
    {
      origin_index = site_index (self, change->origin, error);
      if (origin_index == 0)
        return OUTCOME_REJECTED;
      outcome = apply_known (self, table, change, local, origin_index, reason, error);
    }
  if (outcome == OUTCOME_APPLIED && !local)
    mh_clock_observe (&self->clock, change->hlc);
  return outcome;
}

static Outcome
apply_known (MhStore *self, const MhTableDef *table, MhChange *change, gboolean local,
             guint origin_index, char **reason, GError **error)
{
  Outcome outcome;

  if (change->kind == MH_CHANGE_DELETE)
    outcome = apply_delete (self, table, change, local, origin_index, reason, error);
  else
    outcome = apply_set (self, table, change, local, origin_index, reason, error);
  return outcome;
}

/* ------------------------------------------------------------------------ */
/* Schema setup                                                             */

static const char *
column_affinity (MhColumnType type)
{
  switch (type)
    {
    case MH_COLUMN_INTEGER: return "INTEGER";
    case MH_COLUMN_REAL: return "REAL";
    case MH_COLUMN_TEXT: return "TEXT";
    default: return "";
    }
}

static gboolean
column_exists (MhStore *self, const char *table, const char *column)
{
  g_autofree char *sql = g_strdup_printf ("SELECT 1 FROM pragma_table_info('%s') WHERE name = ?",
                                          table);
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, sql);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, column, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_ROW;
}

static gboolean
setup_table (MhStore *self, const MhTableDef *table, GError **error)
{
  g_autoptr(GString) create = g_string_new (NULL);
  g_autoptr(GString) cols = g_string_new (NULL);
  g_autoptr(GString) sets = g_string_new (NULL);
  g_autoptr(GString) marks = g_string_new (NULL);
  g_autofree char *name = quote_ident (table->name);
  g_autofree char *sql = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  TableStmts *ts = &self->tables[table->index];
  int n = (int) table->columns->len;

  g_string_append_printf (create, "CREATE TABLE IF NOT EXISTS %s (_rid INTEGER PRIMARY KEY, "
                                  "id TEXT NOT NULL UNIQUE", name);
  for (guint i = 0; i < table->columns->len; i++)
    {
      const MhColumnDef *column = g_ptr_array_index (table->columns, i);
      g_string_append_printf (create, ", \"%s\" %s", column->name, column_affinity (column->type));
      g_string_append_printf (cols, ", \"%s\"", column->name);
      g_string_append_printf (sets, "%s\"%s\" = ?%d", i ? ", " : "", column->name, (int) i + 2);
      g_string_append_printf (marks, ", ?%d", (int) i + 2);
    }
  g_string_append (create, ", _mh BLOB NOT NULL)");
  if (!exec_sql (self, create->str, error))
    return FALSE;

  /* Schemas grow by appending: add what an older replica lacks. */
  for (guint i = 0; i < table->columns->len; i++)
    {
      const MhColumnDef *column = g_ptr_array_index (table->columns, i);
      if (!column_exists (self, table->name, column->name))
        {
          g_autofree char *alter = g_strdup_printf ("ALTER TABLE %s ADD COLUMN \"%s\" %s", name,
                                                    column->name,
                                                    column_affinity (column->type));
          if (!exec_sql (self, alter, error))
            return FALSE;
        }
    }

  stmt = prepare_once (self, "INSERT OR IGNORE INTO _mh_tables (name) VALUES (?)");
  sqlite3_bind_text (stmt, 1, table->name, -1, SQLITE_STATIC);
  sqlite3_step (stmt);
  g_clear_pointer (&stmt, sqlite3_finalize);
  stmt = prepare_once (self, "SELECT idx FROM _mh_tables WHERE name = ?");
  sqlite3_bind_text (stmt, 1, table->name, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return set_sqlite_error (self, error, "registering a table");
  ts->db_index = sqlite3_column_int64 (stmt, 0);

  sql = g_strdup_printf ("SELECT _rid%s, _mh FROM %s WHERE id = ?1", cols->str, name);
  if (!(ts->by_id = prepare (self, sql, error)))
    return FALSE;
  g_free (sql);
  sql = g_strdup_printf ("SELECT id%s, _mh FROM %s WHERE _rid = ?1", cols->str, name);
  if (!(ts->by_rid = prepare (self, sql, error)))
    return FALSE;
  g_free (sql);
  sql = g_strdup_printf ("INSERT INTO %s (id%s, _mh) VALUES (?1%s, ?%d)", name, cols->str,
                         marks->str, n + 2);
  if (!(ts->insert = prepare (self, sql, error)))
    return FALSE;
  g_free (sql);
  sql = g_strdup_printf ("UPDATE %s SET %s%s_mh = ?%d WHERE _rid = ?1", name, sets->str,
                         n ? ", " : "", n + 2);
  if (!(ts->update = prepare (self, sql, error)))
    return FALSE;
  g_free (sql);
  sql = g_strdup_printf ("DELETE FROM %s WHERE _rid = ?1", name);
  if (!(ts->delete = prepare (self, sql, error)))
    return FALSE;
  return TRUE;
}

static const char store_ddl[] =
  "CREATE TABLE IF NOT EXISTS _mh_meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS _mh_sites (idx INTEGER PRIMARY KEY, site TEXT NOT NULL UNIQUE);"
  "CREATE TABLE IF NOT EXISTS _mh_tables (idx INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
  "CREATE TABLE IF NOT EXISTS _mh_log (lane INTEGER NOT NULL, lseq INTEGER NOT NULL,"
  "  tbl INTEGER NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (lane, lseq)) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS _mh_tomb (rid INTEGER PRIMARY KEY, tbl INTEGER NOT NULL,"
  "  id TEXT NOT NULL, hlc INTEGER NOT NULL, origin INTEGER NOT NULL, oseq INTEGER NOT NULL,"
  "  lseq INTEGER NOT NULL, sig BLOB, UNIQUE (tbl, id));"
  "CREATE TABLE IF NOT EXISTS _mh_held (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
  "  change TEXT NOT NULL, reason TEXT, at INTEGER, phys INTEGER);"
  "CREATE INDEX IF NOT EXISTS _mh_held_phys ON _mh_held (phys);"
  "CREATE TABLE IF NOT EXISTS _mh_parked (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
  "  change TEXT NOT NULL, reason TEXT, at INTEGER, phys INTEGER);"
  "CREATE TABLE IF NOT EXISTS _mh_rejected (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
  "  change TEXT NOT NULL, reason TEXT, at INTEGER, phys INTEGER);"
  "CREATE TABLE IF NOT EXISTS _mh_history (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
  "  row TEXT NOT NULL, reg TEXT NOT NULL, value BLOB, hlc INTEGER NOT NULL,"
  "  origin TEXT NOT NULL, replaced_at INTEGER, replaced_by INTEGER,"
  "  UNIQUE (tbl, row, reg, hlc, origin));"
  "CREATE TABLE IF NOT EXISTS _mh_digest (bucket TEXT PRIMARY KEY, count INTEGER,"
  "  h1 INTEGER, h2 INTEGER) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS _mh_peers (fingerprint TEXT PRIMARY KEY, url TEXT,"
  "  site_id TEXT, name TEXT, added_at INTEGER, last_contact INTEGER, last_error TEXT,"
  "  bytes_sent INTEGER DEFAULT 0, bytes_received INTEGER DEFAULT 0) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS _mh_foreign (rid INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
  "  row TEXT NOT NULL, reg TEXT NOT NULL, hlc INTEGER NOT NULL, origin TEXT NOT NULL,"
  "  lseq INTEGER NOT NULL, lane INTEGER NOT NULL, change TEXT NOT NULL,"
  "  UNIQUE (tbl, row, reg));"
  "CREATE TABLE IF NOT EXISTS _mh_cursors (peer TEXT NOT NULL, lane INTEGER NOT NULL,"
  "  epoch INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (peer, lane)) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS _mh_evicted (tbl TEXT NOT NULL, id TEXT NOT NULL,"
  "  at INTEGER NOT NULL, PRIMARY KEY (tbl, id)) WITHOUT ROWID;"
  /* Every signed change from a peer that passed, by (origin, oseq): a
   * second, different change under one number is refused (origin_checks()). */
  "CREATE TABLE IF NOT EXISTS _mh_oseq (origin INTEGER NOT NULL, oseq INTEGER NOT NULL,"
  "  hash INTEGER NOT NULL, PRIMARY KEY (origin, oseq)) WITHOUT ROWID;"
  /* Seals, own and received (MhSeal); origin is a site index. Added in
   * protocol 2: older replicas get it when they open. */
  "CREATE TABLE IF NOT EXISTS _mh_seal (origin INTEGER NOT NULL, first_oseq INTEGER NOT NULL,"
  "  n INTEGER NOT NULL, sig BLOB NOT NULL, hashes BLOB NOT NULL, rows TEXT,"
  "  PRIMARY KEY (origin, first_oseq)) WITHOUT ROWID;"
  /* Withholding (mh_store_scan_gaps()): holes in a peer origin's sequence
   * numbers, how far each origin was scanned, and the relays whose holes
   * another peer filled. Sites are indexes into _mh_sites. */
  "CREATE TABLE IF NOT EXISTS _mh_gap (origin INTEGER NOT NULL, first INTEGER NOT NULL,"
  "  last INTEGER NOT NULL, via INTEGER NOT NULL, settled INTEGER NOT NULL DEFAULT 0,"
  "  noticed INTEGER NOT NULL, asked INTEGER NOT NULL DEFAULT 0,"
  "  tries INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (origin, first)) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS _mh_gapmark (origin INTEGER PRIMARY KEY, checked INTEGER NOT NULL);"
  "CREATE TABLE IF NOT EXISTS _mh_withheld (via INTEGER PRIMARY KEY, n INTEGER NOT NULL,"
  "  last_at INTEGER NOT NULL, origin INTEGER NOT NULL, oseq INTEGER NOT NULL);"
  /* A gap another peer filled after the gap's peers were asked: the relay
   * that passed over it (kind 0), or the peer that explained it away
   * (kind 1), is asked again before it is counted (mh_store_judge()). */
  "CREATE TABLE IF NOT EXISTS _mh_suspect (peer INTEGER NOT NULL, origin INTEGER NOT NULL,"
  "  oseq INTEGER NOT NULL, kind INTEGER NOT NULL, since INTEGER NOT NULL,"
  "  PRIMARY KEY (peer, origin, oseq, kind)) WITHOUT ROWID;"
  /* Rows whose revoked changes were taken back (mh_store_forget_after()),
   * to ask the peers about as they hold them. */
  "CREATE TABLE IF NOT EXISTS _mh_refetch (tbl TEXT NOT NULL, row TEXT NOT NULL,"
  "  added INTEGER NOT NULL, tries INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tbl, row))"
  "  WITHOUT ROWID;";

/* A new log epoch: peers start this replica's lanes again from zero, and
 * send it back its own changes. @went_back: its log and its own sequence
 * numbers may have gone back (restored from a backup, or commits lost to a
 * power cut): the writes peers saw must not be numbered again (one change
 * per number, origin_checks()), so the numbers jump past them, by the wall
 * clock (16 numbers a millisecond), so that two restores of one backup do
 * not collide either. In a transaction. */
static gint64 random_epoch (void);

static gboolean
take_new_epoch (MhStore *self, gboolean went_back, const char *file_id, GError **error)
{
  if (went_back)
    {
      gint64 floor = g_get_real_time () / 1000 * 16;

      if (self->own_seq < floor)
        {
          self->own_seq = floor;
          if (!meta_set_int (self, "own_seq", self->own_seq, error))
            return FALSE;
        }
    }
  self->epoch = random_epoch ();
  return meta_set_int (self, "epoch", self->epoch, error)
         && meta_set_text (self, "file_id", file_id ? file_id : "", error);
}

static char *read_boot_id (void);

/* Whether a marker of deferred durability (mh_store_set_deferred_sync())
 * was left by another boot: the system stopped under it. */
static gboolean
marker_from_other_boot (const char *path)
{
  g_autofree char *marker = g_strconcat (path, ".running", NULL);
  g_autofree char *previous = NULL;
  g_autofree char *boot = NULL;

  if (!g_file_get_contents (marker, &previous, NULL, NULL))
    return FALSE;
  boot = read_boot_id ();
  return boot != NULL && boot[0] != '\0' && g_strcmp0 (g_strstrip (previous), boot) != 0;
}

static char *
file_identity (const char *path)
{
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    return NULL;
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, (guint64) st.st_dev,
                          (guint64) st.st_ino);
}

static gint64
random_epoch (void)
{
  /* Positive and JSON-safe (under 2^53), so peers of any language can echo it. */
  return ((gint64) g_random_int () << 21 ^ (gint64) g_random_int ()) & ((G_GINT64_CONSTANT (1) << 53) - 1);
}

static gboolean
open_db (MhStore *self, const char *site_id, GError **error)
{
  g_autofree char *stored_site = NULL;
  g_autofree char *stored_file = NULL;
  g_autofree char *file_id = NULL;
  g_autoptr(sqlite3_stmt) sites = NULL;
  gboolean stopped = FALSE;
  gint64 value;
  int fd;

  /* Created 0600 before SQLite touches it: SQLite gives its -wal and -shm
   * files the same mode as the database. */
  fd = g_open (self->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, _("cannot open %s: %s"), self->path,
                   g_strerror (saved));
      return FALSE;
    }
  /* A replica copied back from a backup may have come back readable by
   * others: it is the user's alone again. */
  {
    struct stat st;

    if (fstat (fd, &st) == 0 && (st.st_mode & 077) != 0)
      {
        g_message ("%s was readable by others (mode %04o): now 0600", self->path,
                   (guint) (st.st_mode & 07777));
        if (fchmod (fd, 0600) != 0)
          g_warning ("cannot chmod 600 %s: %s", self->path, g_strerror (errno));
      }
  }
  close (fd);

  if (sqlite3_open_v2 (self->path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)
      != SQLITE_OK)
    return set_sqlite_error (self, error, "opening the replica");
  sqlite3_busy_timeout (self->db, 10000);
  /* Replaces SQLite's automatic checkpoint (see wal_hook_cb). */
  sqlite3_wal_hook (self->db, wal_hook_cb, self);
  if (!exec_sql (self, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                       "PRAGMA foreign_keys = OFF; PRAGMA secure_delete = ON;", error)
      || !exec_sql (self, "BEGIN IMMEDIATE", error))
    return FALSE;

  if (!exec_sql (self, store_ddl, error))
    goto fail;
  /* Where each peer change was written and who brought it, to answer and
   * judge gaps: added after protocol 2, older replicas get the columns. */
  if (!column_exists (self, "_mh_seal", "rows")
      && !exec_sql (self, "ALTER TABLE _mh_seal ADD COLUMN rows TEXT;", error))
    goto fail;
  if (!column_exists (self, "_mh_oseq", "via")
      && !exec_sql (self, "ALTER TABLE _mh_oseq ADD COLUMN tbl INTEGER;"
                          "ALTER TABLE _mh_oseq ADD COLUMN row TEXT;"
                          "ALTER TABLE _mh_oseq ADD COLUMN via INTEGER;", error))
    goto fail;

  if (meta_get (self, "site_id", NULL, &stored_site))
    {
      if (site_id != NULL && g_strcmp0 (site_id, stored_site) != 0)
        {
          g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SITE,
                       _("the replica %s belongs to site %s, not %s"), self->path, stored_site,
                       site_id);
          goto fail;
        }
      self->site_id = g_steal_pointer (&stored_site);
    }
  else
    {
      if (site_id == NULL || *site_id == '\0')
        {
          g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SITE,
                       _("a new replica needs a site id"));
          goto fail;
        }
      self->site_id = g_strdup (site_id);
      if (!meta_set_text (self, "site_id", site_id, error))
        goto fail;
    }

  if (meta_get (self, "schema_version", &value, NULL)
      && (guint) value > mh_schema_get_version (self->schema))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA,
                   _("the replica has schema version %lld, newer than this program's %u"),
                   (long long) value, mh_schema_get_version (self->schema));
      goto fail;
    }
  if (!meta_set_int (self, "schema_version", mh_schema_get_version (self->schema), error))
    goto fail;

  self->seq = meta_get (self, "seq", &value, NULL) ? value : 0;
  self->own_seq = meta_get (self, "own_seq", &value, NULL) ? value : 0;
  self->clock.last = meta_get (self, "hlc", &value, NULL) ? value : 0;

  /* A replica file that is not the one we last opened was restored from a
   * backup or copied: its log may have gone back, so it takes a new epoch
   * and peers start its lanes again from zero. */
  file_id = file_identity (self->path);
  meta_get (self, "file_id", NULL, &stored_file);
  if (!meta_get (self, "epoch", &self->epoch, NULL) || g_strcmp0 (stored_file, file_id) != 0)
    {
      if (stored_file != NULL)
        g_message ("replica %s was copied or restored: new log epoch", self->path);
      if (!take_new_epoch (self, stored_file != NULL, file_id, error))
        goto fail;
    }
  /* The system stopped while commits did not wait for the disk: the last
   * ones may be lost here, and peers may have them. Whoever opens the
   * replica next (a command too, not only a running node) takes the new
   * epoch before it writes anything, or it would give their numbers to
   * other changes. */
  stopped = marker_from_other_boot (self->path);
  if (stopped)
    {
      g_message ("replica %s was in use when the system stopped: its last changes may be "
                 "lost here, new log epoch", self->path);
      if (!take_new_epoch (self, TRUE, file_id, error))
        goto fail;
    }

  self->tables = g_new0 (TableStmts, mh_schema_get_n_tables (self->schema));
  for (guint i = 0; i < mh_schema_get_n_tables (self->schema); i++)
    if (!setup_table (self, mh_schema_get_table (self->schema, i), error))
      goto fail;

  if (!(self->log_insert = prepare (self, "INSERT INTO _mh_log (lane, lseq, tbl, rid) "
                                          "VALUES (?, ?, ?, ?)", error))
      || !(self->log_delete = prepare (self, "DELETE FROM _mh_log WHERE lane = ? AND lseq = ?",
                                       error))
      || !(self->tomb_by_id = prepare (self, "SELECT rid, hlc, origin, oseq, lseq, sig "
                                             "FROM _mh_tomb WHERE tbl = ? AND id = ?", error))
      || !(self->tomb_insert = prepare (self, "INSERT INTO _mh_tomb (tbl, id, hlc, origin, oseq, "
                                              "lseq, sig) VALUES (?, ?, ?, ?, ?, ?, ?)", error))
      || !(self->tomb_update = prepare (self, "UPDATE _mh_tomb SET hlc = ?, origin = ?, "
                                              "oseq = ?, lseq = ?, sig = ? WHERE rid = ?",
                                        error)))
    goto fail;

  sites = prepare_once (self, "SELECT idx, site FROM _mh_sites");
  while (sites && sqlite3_step (sites) == SQLITE_ROW)
    {
      guint idx = (guint) sqlite3_column_int64 (sites, 0);
      char *name = g_strdup ((const char *) sqlite3_column_text (sites, 1));
      while (self->site_names->len <= idx)
        g_ptr_array_add (self->site_names, NULL);
      g_ptr_array_index (self->site_names, idx) = name;
      g_hash_table_insert (self->site_by_name, name, GUINT_TO_POINTER (idx));
    }
  g_clear_pointer (&sites, sqlite3_finalize);

  self->site_index = site_index (self, self->site_id, error);
  if (self->site_index == 0)
    goto fail;

  if (!exec_sql (self, "COMMIT", error) || !load_digests (self, error))
    return FALSE;
  /* Taken: the marker has done its work (mh_store_set_deferred_sync()
   * writes a new one). */
  if (stopped)
    {
      g_autofree char *marker = g_strconcat (self->path, ".running", NULL);

      g_unlink (marker);
    }
  self->counts_dirty = TRUE;
  update_counts (self);
  return TRUE;

fail:
  sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* GObject                                                                  */

static void
mh_store_finalize (GObject *object)
{
  MhStore *self = MH_STORE (object);

  if (self->tables)
    {
      for (guint i = 0; i < mh_schema_get_n_tables (self->schema); i++)
        {
          TableStmts *ts = &self->tables[i];
          sqlite3_finalize (ts->by_id);
          sqlite3_finalize (ts->by_rid);
          sqlite3_finalize (ts->insert);
          sqlite3_finalize (ts->update);
          sqlite3_finalize (ts->delete);
        }
      g_free (self->tables);
    }
  sqlite3_finalize (self->log_insert);
  sqlite3_finalize (self->log_delete);
  sqlite3_finalize (self->tomb_by_id);
  sqlite3_finalize (self->tomb_insert);
  sqlite3_finalize (self->tomb_update);
  g_hash_table_destroy (self->cached_stmts);
  /* What was committed reaches the disk before the marker goes. */
  g_clear_pointer (&self->wal_sync, mh_wal_sync_free);
  /* Before the store's own connection: closed last, it checkpoints the
   * whole WAL and removes it. */
  g_clear_pointer (&self->checkpointer, checkpointer_free);
  if (self->db)
    sqlite3_close (self->db);
  if (self->running_path != NULL)
    {
      g_unlink (self->running_path);
      g_free (self->running_path);
    }

  if (self->validate_destroy)
    self->validate_destroy (self->validate_data);
  if (self->audience_destroy)
    self->audience_destroy (self->audience_data);

  for (guint i = 0; i < self->touched->len; i++)
    g_free (g_array_index (self->touched, Touched, i).row);
  g_array_unref (self->touched);
  g_clear_pointer (&self->pending, row_free);
  g_byte_array_unref (self->scratch);
  g_array_unref (self->txn_seal_pending);
  g_hash_table_unref (self->txn_seals);
  g_clear_pointer (&self->last_seal, mh_seal_unref);
  g_hash_table_unref (self->touched_rows);
  g_hash_table_unref (self->touched_tables);
  g_hash_table_unref (self->txn_row_lseq);
  g_hash_table_unref (self->digests);
  g_hash_table_unref (self->dirty_digests);
  g_hash_table_unref (self->site_by_name);
  g_ptr_array_unref (self->site_names);
  g_clear_pointer (&self->schema, mh_schema_unref);
  g_free (self->site_id);
  g_free (self->path);
  g_clear_object (&self->identity);

  G_OBJECT_CLASS (mh_store_parent_class)->finalize (object);
}

static void
mh_store_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MhStore *self = MH_STORE (object);

  switch (prop_id)
    {
    case PROP_PATH: g_value_set_string (value, self->path); break;
    case PROP_SITE_ID: g_value_set_string (value, self->site_id); break;
    case PROP_HELD_COUNT: g_value_set_uint (value, self->n_held); break;
    case PROP_PARKED_COUNT: g_value_set_uint (value, self->n_parked); break;
    case PROP_REJECTED_COUNT: g_value_set_uint (value, self->n_rejected); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_store_class_init (MhStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mh_store_finalize;
  object_class->get_property = mh_store_get_property;

  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SITE_ID] =
    g_param_spec_string ("site-id", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_HELD_COUNT] =
    g_param_spec_uint ("held-count", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_PARKED_COUNT] =
    g_param_spec_uint ("parked-count", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_REJECTED_COUNT] =
    g_param_spec_uint ("rejected-count", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MhStore::changed:
   * @table: the table
   * @row: (nullable): the row, or %NULL when too many rows changed at once
   *
   * Emitted after a commit for each row it wrote, detailed by table name.
   */
  signals[CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass),
                                   G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0, NULL, NULL, NULL,
                                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * MhStore::committed:
   * @seq: the last local sequence number
   *
   * Emitted after a commit that added to the log, local or remote.
   */
  signals[COMMITTED] = g_signal_new ("committed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                     NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void
mh_store_init (MhStore *self)
{
  self->hold_bound_ms = MH_STORE_DEFAULT_HOLD_BOUND_MS;
  self->site_by_name = g_hash_table_new (g_str_hash, g_str_equal);
  self->site_names = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (self->site_names, NULL);
  self->digests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->dirty_digests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->txn_row_lseq = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->touched = g_array_new (FALSE, FALSE, sizeof (Touched));
  self->touched_rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->touched_tables = g_hash_table_new (NULL, NULL);
  self->scratch = g_byte_array_sized_new (256);
  self->txn_seal_pending = g_array_new (FALSE, FALSE, sizeof (SealPending));
  g_array_set_clear_func (self->txn_seal_pending, seal_pending_clear);
  self->txn_seals = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) mh_seal_unref, NULL);
  self->cached_stmts = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                              (GDestroyNotify) sqlite3_finalize);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

/**
 * mh_store_open:
 * @path: the replica file; created (mode 0600) when missing
 * @schema: the declared tables; frozen from now on
 * @site_id: (nullable): this replica's site id; required for a new replica,
 *   and must match for an existing one
 *
 * Returns: (transfer full): the store, or %NULL with @error set
 */
MhStore *
mh_store_open (const char *path, MhSchema *schema, const char *site_id, GError **error)
{
  g_autoptr(MhStore) self = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (schema != NULL, NULL);

  if (mh_schema_get_n_lanes (schema) == 0)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA, _("the schema declares no lane"));
      return NULL;
    }
  mh_schema_freeze (schema);

  self = g_object_new (MH_TYPE_STORE, NULL);
  self->path = g_strdup (path);
  self->schema = mh_schema_ref (schema);
  if (!open_db (self, site_id, error))
    return NULL;
  return g_steal_pointer (&self);
}

const char *
mh_store_get_path (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  return self->path;
}

const char *
mh_store_get_site_id (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  return self->site_id;
}

MhSchema *
mh_store_get_schema (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  return self->schema;
}

/* The kernel's id of this boot: a marker left by a run of another boot
 * means the system stopped (a power cut, a crash of the system) while
 * commits may not have reached the disk. */
static char *
read_boot_id (void)
{
  const char *test = g_getenv ("MEDHEAD_TEST_BOOT_ID"); /* test only */
  char *text = NULL;

  if (test != NULL)
    return g_strdup (test);
  if (!g_file_get_contents ("/proc/sys/kernel/random/boot_id", &text, NULL, NULL))
    return NULL;
  return g_strstrip (text);
}

/**
 * mh_store_set_deferred_sync:
 *
 * From now on a commit does not wait for the disk (synchronous=NORMAL):
 * it is visible at once, and peers may get it at once, while a thread
 * makes the WAL durable behind it. Whoever tells a user that a write is
 * saved waits for it first: mh_store_get_sync_ticket() after the write,
 * then mh_store_wait_synced_async(). A process that crashes loses
 * nothing (the kernel holds the WAL); a system that stops may lose the
 * last commits, which peers may have: the store keeps a marker while this
 * is on, and a marker left by another boot makes the store take a new
 * epoch at once, with its sequence numbers past any it gave before, so
 * that peers send its lost changes back. Call right after opening, before
 * any link starts.
 *
 * Returns: %FALSE (and commits keep waiting for the disk) when the system
 *   does not tell its boot id, or on a storage failure
 */
gboolean
mh_store_set_deferred_sync (MhStore *self, GError **error)
{
  g_autofree char *boot = NULL;
  g_autofree char *marker = NULL;
  g_autofree char *previous = NULL;
  const char *wal;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (self->txn_depth == 0, FALSE);

  if (self->wal_sync != NULL)
    return TRUE;
  boot = read_boot_id ();
  if (boot == NULL || boot[0] == '\0')
    {
      g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                           _("the system does not tell its boot id"));
      return FALSE;
    }
  marker = g_strconcat (self->path, ".running", NULL);
  if (g_file_get_contents (marker, &previous, NULL, NULL)
      && g_strcmp0 (g_strstrip (previous), boot) != 0)
    {
      g_autofree char *file_id = file_identity (self->path);

      g_message ("replica %s was in use when the system stopped: its last changes may be "
                 "lost here, new log epoch", self->path);
      if (!exec_sql (self, "BEGIN IMMEDIATE", error))
        return FALSE;
      if (!take_new_epoch (self, TRUE, file_id, error) || !exec_sql (self, "COMMIT", error))
        {
          sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
          return FALSE;
        }
    }
  if (!g_file_set_contents_full (marker, boot, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, error)
      || !exec_sql (self, "PRAGMA synchronous = NORMAL", error))
    return FALSE;
  wal = sqlite3_filename_wal (sqlite3_db_filename (self->db, "main"));
  self->wal_sync = mh_wal_sync_new (wal);
  self->running_path = g_steal_pointer (&marker);
  return TRUE;
}

/**
 * mh_store_end_deferred_sync:
 *
 * Back to commits that wait for the disk (synchronous=FULL), once what
 * was committed is on it; the marker goes.
 */
void
mh_store_end_deferred_sync (MhStore *self)
{
  g_return_if_fail (MH_IS_STORE (self));
  g_return_if_fail (self->txn_depth == 0);

  if (self->wal_sync == NULL)
    return;
  g_clear_pointer (&self->wal_sync, mh_wal_sync_free);
  self->sync_ticket = 0;
  sqlite3_exec (self->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
  g_unlink (self->running_path);
  g_clear_pointer (&self->running_path, g_free);
}

/**
 * mh_store_get_sync_ticket:
 *
 * Returns: the ticket of the last local commit, for
 *   mh_store_wait_synced_async(); 0 without deferred durability
 */
guint64
mh_store_get_sync_ticket (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->sync_ticket;
}

/* Whether the commit of @ticket is on the disk. */
gboolean
mh_store_is_synced (MhStore *self, guint64 ticket)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  return self->wal_sync == NULL || ticket == 0 || mh_wal_sync_is_done (self->wal_sync, ticket);
}

/**
 * mh_store_wait_synced_async:
 * @ticket: from mh_store_get_sync_ticket()
 *
 * Completes once the commit of @ticket (and every one before it) is on
 * the disk; at once without deferred durability.
 */
void
mh_store_wait_synced_async (MhStore *self, guint64 ticket, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (MH_IS_STORE (self));

  if (self->wal_sync == NULL || ticket == 0)
    {
      g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

      g_task_set_source_tag (task, mh_store_wait_synced_async);
      g_task_return_boolean (task, TRUE);
      return;
    }
  mh_wal_sync_wait_async (self->wal_sync, G_OBJECT (self), ticket, cancellable, callback,
                          user_data);
}

gboolean
mh_store_wait_synced_finish (MhStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Blocks until the last local commit is on the disk (a command that
 * exits right after writing). */
gboolean
mh_store_wait_synced (MhStore *self, GError **error)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  return self->wal_sync == NULL || self->sync_ticket == 0
         || mh_wal_sync_wait (self->wal_sync, self->sync_ticket, error);
}

/**
 * mh_store_get_db:
 *
 * The SQLite connection, for read-only queries by the layer above and for
 * its own auxiliary tables (indexes, derived data). Never write to the
 * declared tables or the `_mh_` tables through it.
 */
sqlite3 *
mh_store_get_db (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  return self->db;
}

MhHlc
mh_store_get_clock (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->clock.last;
}

/**
 * mh_store_now:
 *
 * Returns: a fresh clock reading, after every reading seen so far. It is
 * persisted with the next commit.
 */
MhHlc
mh_store_now (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return mh_clock_now (&self->clock);
}

/**
 * mh_store_set_clock_offset:
 *
 * Skews this replica's own wall clock. For tests of clock skew only.
 */
void
mh_store_set_clock_offset (MhStore *self, gint64 offset_ms)
{
  g_return_if_fail (MH_IS_STORE (self));
  self->clock.offset_ms = offset_ms;
}

gint64
mh_store_get_clock_offset (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->clock.offset_ms;
}

/**
 * mh_store_set_reference_offset:
 *
 * Corrects the time held changes are judged against: the layer above sets
 * it from its peers' clocks when its own disagrees with them.
 */
void
mh_store_set_reference_offset (MhStore *self, gint64 offset_ms)
{
  g_return_if_fail (MH_IS_STORE (self));
  self->reference_offset_ms = offset_ms;
}

gint64
mh_store_get_reference_ms (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return mh_clock_wall_ms (&self->clock) + self->reference_offset_ms;
}

void
mh_store_set_hold_bound (MhStore *self, gint64 bound_ms)
{
  g_return_if_fail (MH_IS_STORE (self));
  g_return_if_fail (bound_ms > 0);
  self->hold_bound_ms = bound_ms;
}

gint64
mh_store_get_hold_bound (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->hold_bound_ms;
}

/**
 * mh_store_set_origin_filter:
 * @func: (nullable): %NULL removes the filter
 */
void
mh_store_set_origin_filter (MhStore *self, MhOriginFilter func, gpointer user_data)
{
  g_return_if_fail (MH_IS_STORE (self));
  self->origin_filter = func;
  self->origin_filter_data = user_data;
}

void
mh_store_set_validator (MhStore *self, MhValidateFunc func, gpointer user_data,
                        GDestroyNotify destroy)
{
  g_return_if_fail (MH_IS_STORE (self));

  if (self->validate_destroy)
    self->validate_destroy (self->validate_data);
  self->validate = func;
  self->validate_data = user_data;
  self->validate_destroy = destroy;
}

/**
 * mh_store_set_audience:
 * @func: (nullable): who may hold a change; %NULL: every site holds everything
 * @grow: (nullable): the rows a change brings into a site's audience
 * @destroy: (nullable): frees @user_data when replaced or when the store goes
 *
 * Need to know (docs/sync.md): the replicator sends a peer only the changes
 * @func lets it hold, and a change from a peer that @func does not let this
 * node hold is withheld (dropped, counted in MhApplyReport.withheld); one it
 * cannot decide yet is parked. The store knows nothing of what decides it.
 */
void
mh_store_set_audience (MhStore *self, MhAudienceFunc func, MhAudienceGrowFunc grow,
                       gpointer user_data, GDestroyNotify destroy)
{
  g_return_if_fail (MH_IS_STORE (self));

  if (self->audience_destroy)
    self->audience_destroy (self->audience_data);
  self->audience = func;
  self->audience_grow = grow;
  self->audience_data = user_data;
  self->audience_destroy = destroy;
}

/**
 * mh_store_get_audience:
 * @site_id: the site that would hold the change
 * @context: (nullable) (element-type MhChange): changes travelling with it
 *
 * Returns: whether @site_id may hold @change; %MH_AUDIENCE_YES when no
 *   audience is set
 */
MhAudience
mh_store_get_audience (MhStore *self, const MhChange *change, const char *site_id,
                       GPtrArray *context)
{
  g_return_val_if_fail (MH_IS_STORE (self), MH_AUDIENCE_NO);
  g_return_val_if_fail (change != NULL && site_id != NULL, MH_AUDIENCE_NO);

  if (self->audience == NULL)
    return MH_AUDIENCE_YES;
  return self->audience (self, change, site_id, context, self->audience_data);
}

/**
 * mh_store_get_audience_growth:
 *
 * Returns: (transfer full) (nullable) (element-type utf8): the rows that
 *   sending @change to @site_id brings into its audience, as pairs of
 *   strings (table, row id); %NULL when none
 */
GPtrArray *
mh_store_get_audience_growth (MhStore *self, const MhChange *change, const char *site_id)
{
  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  g_return_val_if_fail (change != NULL && site_id != NULL, NULL);

  if (self->audience_grow == NULL)
    return NULL;
  return self->audience_grow (self, change, site_id, self->audience_data);
}

/**
 * mh_store_read_row:
 *
 * Returns: (transfer full) (element-type MhChange): the current change of
 *   each written register of a live row, as its origin signed it (empty for
 *   an absent or deleted row); %NULL on a storage failure
 */
GPtrArray *
mh_store_read_row (MhStore *self, const char *table_name, const char *row_id, GError **error)
{
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(MhRow) row = NULL;
  const MhTableDef *table;

  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  g_return_val_if_fail (table_name != NULL && row_id != NULL, NULL);

  changes = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  table = mh_schema_lookup_table (self->schema, table_name);
  if (table == NULL)
    return g_steal_pointer (&changes);
  if (!load_row (self, table, row_id, &row, error))
    return NULL;
  if (row == NULL)
    return g_steal_pointer (&changes);
  for (guint i = 0; i < table->registers->len; i++)
    {
      const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);
      MhChange *change;

      if (row->meta[i].hlc == 0)
        continue;
      change = mh_change_new_set (table->name, row->id, reg->name,
                                  cells_to_variant (row->cells + reg->first_column,
                                                    reg->n_columns),
                                  row->meta[i].hlc, site_name (self, row->meta[i].origin),
                                  row->meta[i].oseq);
      if (row->meta[i].sig)
        change->signature = g_bytes_ref (row->meta[i].sig);
      change->schema_version = row->meta[i].sv ? row->meta[i].sv
                                               : mh_schema_get_version (self->schema);
      change->local_seq = row->meta[i].lseq;
      attach_seal (self, change, row->meta[i].origin);
      g_ptr_array_add (changes, change);
    }
  return g_steal_pointer (&changes);
}

/**
 * mh_store_set_identity:
 * @identity: (nullable): this node's identity, whose site id is the store's
 *
 * From now on every local write is signed with @identity: each register
 * change, and each deletion, carries the signature field of
 * mh_identity_sign_change(), stored with it and relayed verbatim.
 */
void
mh_store_set_identity (MhStore *self, MhIdentity *identity)
{
  g_return_if_fail (MH_IS_STORE (self));
  g_return_if_fail (identity == NULL || MH_IS_IDENTITY (identity));
  g_return_if_fail (identity == NULL
                    || strcmp (mh_identity_get_site_id (identity), self->site_id) == 0);

  g_set_object (&self->identity, identity);
}

/**
 * mh_store_set_verify_signatures:
 *
 * When set, every change from a peer (mh_store_apply(),
 * mh_store_apply_from_peer()) must be signed by its origin (mh_change_verify())
 * or it is rejected before anything is written: counted, listed in the
 * rejected queue with the reason, and the rest of the batch goes on.
 */
void
mh_store_set_verify_signatures (MhStore *self, gboolean verify)
{
  g_return_if_fail (MH_IS_STORE (self));
  self->verify_signatures = verify;
}

gboolean
mh_store_get_verify_signatures (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  return self->verify_signatures;
}

/**
 * mh_store_transact:
 * @func: writes to make; returns %FALSE with an error to roll all back
 *
 * Runs @func inside one SQLite transaction: all its writes are kept, or
 * none. Transactions nest: an inner one joins the outer one.
 */
gboolean
mh_store_transact (MhStore *self, MhTransactionFunc func, gpointer user_data, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  if (!txn_begin (self, error))
    return FALSE;
  if (!func (self, user_data, &local_error))
    {
      txn_rollback (self);
      if (local_error == NULL)
        g_set_error_literal (&local_error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                             _("the transaction was abandoned"));
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return txn_commit (self, error);
}

typedef enum
{
  WRITE_INSERT,
  WRITE_UPDATE,
  WRITE_UPSERT,
} WriteMode;

static gboolean retry_parked_locked (MhStore *self, MhApplyReport *report, GError **error);

typedef struct
{
  guint column;
  MhCell cell;
} ColumnValue;

static void
column_values_clear (GArray *values)
{
  for (guint i = 0; i < values->len; i++)
    cell_clear (&g_array_index (values, ColumnValue, i).cell);
}

static const char *
column_type_name (MhColumnType type)
{
  switch (type)
    {
    case MH_COLUMN_TEXT: return "text";
    case MH_COLUMN_INTEGER: return "an integer";
    case MH_COLUMN_REAL: return "a number";
    default: return "?";
    }
}

/* Leaves the transaction opened by a write that changed nothing: the
 * enclosing transaction, if any, goes on unharmed. */
static void
txn_end_unchanged (MhStore *self, gint64 seq, gint64 own_seq)
{
  g_assert (self->txn_depth > 0);
  self->seq = seq;
  self->own_seq = own_seq;
  /* Its numbers go back: nothing of it is sealed. */
  while (self->txn_seal_pending->len > 0
         && g_array_index (self->txn_seal_pending, SealPending,
                           self->txn_seal_pending->len - 1).oseq > own_seq)
    g_array_set_size (self->txn_seal_pending, self->txn_seal_pending->len - 1);
  if (self->txn_depth == 1)
    txn_rollback (self);
  else
    self->txn_depth--;
}

/* A local write: the row is read once (not at all for an insert, whose
 * UNIQUE constraint tells an existing id), every register it touches is
 * stamped with one clock reading, and the row is written once with one log
 * entry. Changes are only built when a validator has to see them; they
 * are all validated before anything is written, so a refused write leaves
 * nothing behind. */
static gboolean
local_write_values (MhStore *self, const MhTableDef *table, const char *row_id, GArray *values,
                    WriteMode mode, GError **error)
{
  g_autoptr(MhRow) row = NULL;
  g_autoptr(MhRow) next = NULL;
  g_autofree gboolean *touched_regs = NULL;
  g_autofree gint64 *old_lseqs = NULL;
  gint64 seq_before, own_seq_before, lseq;
  gboolean lseq_is_new, failed_before;
  Tomb tomb;
  MhHlc hlc;

  if (row_id == NULL || *row_id == '\0' || !g_utf8_validate (row_id, -1, NULL))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TYPE, _("%s: a row needs a non-empty id"),
                   table->name);
      return FALSE;
    }
  if (tomb_lookup (self, table, row_id, &tomb))
    {
      tomb_clear (&tomb);
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_DELETED,
                   _("%s “%s” was deleted; a new row needs a new id"), table->name, row_id);
      return FALSE;
    }
  if (self->n_evicted > 0 && row_is_evicted (self, table->name, row_id))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED,
                   _("%s “%s” was evicted from this replica"), table->name, row_id);
      return FALSE;
    }
  if (!flush_pending (self, error))
    return FALSE;
  if (mode != WRITE_INSERT && !load_row (self, table, row_id, &row, error))
    return FALSE;
  if (row == NULL && mode == WRITE_UPDATE)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_NOT_FOUND, _("no %s “%s”"), table->name,
                   row_id);
      return FALSE;
    }
  if (row != NULL && (table->flags & MH_TABLE_INSERT_ONLY))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_INSERT_ONLY,
                   _("%s rows are written once and never changed"), table->name);
      return FALSE;
    }

  next = row ? row_copy (row) : row_new (table, row_id);
  touched_regs = g_new0 (gboolean, table->registers->len);
  old_lseqs = g_new0 (gint64, table->registers->len);
  if (row == NULL)
    for (guint i = 0; i < table->registers->len; i++)
      touched_regs[i] = TRUE;
  for (guint i = 0; i < values->len; i++)
    {
      ColumnValue *cv = &g_array_index (values, ColumnValue, i);
      const MhColumnDef *column = g_ptr_array_index (table->columns, cv->column);

      cell_clear (&next->cells[cv->column]);
      next->cells[cv->column] = cv->cell;
      cv->cell.type = SQLITE_NULL;
      cv->cell.s = NULL;
      touched_regs[column->reg] = TRUE;
    }

  hlc = mh_clock_now (&self->clock);
  if (self->validate != NULL)
    {
      for (guint i = 0; i < table->registers->len; i++)
        {
          const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);
          g_autoptr(MhChange) change = NULL;
          g_autofree char *reason = NULL;

          if (!touched_regs[i])
            continue;
          change = mh_change_new_set (table->name, row_id, reg->name,
                                      cells_to_variant (next->cells + reg->first_column,
                                                        reg->n_columns),
                                      hlc, self->site_id, self->own_seq + 1);
          change->schema_version = mh_schema_get_version (self->schema);
          if (run_validator (self, change, next, TRUE, &reason) != MH_VERDICT_ACCEPT)
            {
              g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED, "%s", reason);
              return FALSE;
            }
        }
    }

  if (!txn_begin (self, error))
    return FALSE;
  seq_before = self->seq;
  own_seq_before = self->own_seq;

  lseq = row_lseq (self, next, &lseq_is_new);
  for (guint i = 0; i < table->registers->len; i++)
    {
      MhRegMeta *m = &next->meta[i];

      if (!touched_regs[i])
        continue;
      old_lseqs[i] = m->hlc ? m->lseq : 0;
      g_clear_pointer (&m->sig, g_bytes_unref);
      m->hlc = hlc;
      m->origin = self->site_index;
      m->oseq = ++self->own_seq;
      m->lseq = lseq;
      m->sv = 0;
      /* Signed at commit, with the transaction's other changes (one seal). */
      if (self->identity != NULL)
        {
          const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);
          g_autoptr(MhChange) signed_change = mh_change_new_set (
            table->name, row_id, reg->name,
            cells_to_variant (next->cells + reg->first_column, reg->n_columns), hlc,
            self->site_id, m->oseq);

          signed_change->schema_version = mh_schema_get_version (self->schema);
          seal_later (self, signed_change);
          m->sig = mh_seal_marker ();
        }
    }

  failed_before = self->txn_failed;
  if (!store_row (self, next, error))
    {
      gboolean exists = next->rid == 0
                        && sqlite3_extended_errcode (self->db) == SQLITE_CONSTRAINT_UNIQUE;

      if (exists)
        {
          /* The statement alone was undone: nothing else was written. */
          self->txn_failed = failed_before;
          g_clear_error (error);
          g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_EXISTS, _("%s “%s” exists already"),
                       table->name, row_id);
          txn_end_unchanged (self, seq_before, own_seq_before);
        }
      else
        txn_rollback (self);
      return FALSE;
    }

  for (guint i = 0; i < table->registers->len; i++)
    {
      const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);

      if (!touched_regs[i])
        continue;
      if (row != NULL && row->meta[i].hlc != 0)
        {
          gboolean same_value = TRUE;

          digest_register (self, row, i, -1);
          for (guint c = 0; c < reg->n_columns; c++)
            if (!cell_equal (&row->cells[reg->first_column + c], &next->cells[reg->first_column + c]))
              same_value = FALSE;
          if ((reg->flags & MH_REGISTER_HISTORY) && !same_value
              && !history_put (self, table, row_id, reg,
                               cells_to_variant (row->cells + reg->first_column, reg->n_columns),
                               row->meta[i].hlc, site_name (self, row->meta[i].origin), hlc,
                               error))
            goto fail;
        }
      digest_register (self, next, i, +1);
      if (old_lseqs[i] != 0 && old_lseqs[i] != lseq && !lseq_in_use (next, old_lseqs[i])
          && !log_delete (self, table->lane, old_lseqs[i], error))
        goto fail;
      /* Registers that shared an old number: delete its entry only once. */
      for (guint j = i + 1; j < table->registers->len; j++)
        if (old_lseqs[j] == old_lseqs[i])
          old_lseqs[j] = 0;
    }
  if (lseq_is_new
      && !log_insert (self, table->lane, lseq, self->tables[table->index].db_index, next->rid,
                      error))
    goto fail;
  touch (self, table, row_id);

  /* A new row may be what parked changes wait for: retry them now, as an
   * arrival from a peer would, or they stay parked until one does. */
  if (row == NULL && self->n_parked > 0)
    {
      MhApplyReport report = { 0 };

      if (!retry_parked_locked (self, &report, error))
        goto fail;
    }
  return txn_commit (self, error);

fail:
  txn_rollback (self);
  return FALSE;
}

static gboolean
local_write (MhStore *self, const char *table_name, const char *row_id, GVariant *values,
             WriteMode mode, GError **error)
{
  g_autoptr(GVariant) owned = values ? g_variant_ref_sink (values) : NULL;
  g_autoptr(GArray) parsed = g_array_new (FALSE, TRUE, sizeof (ColumnValue));
  const MhTableDef *table;
  GVariantIter iter;
  const char *key;
  GVariant *value;
  gboolean ok;

  table = mh_schema_lookup_table (self->schema, table_name);
  if (table == NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_UNKNOWN_TABLE, _("unknown table “%s”"),
                   table_name);
      return FALSE;
    }
  if (owned != NULL && !g_variant_is_of_type (owned, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TYPE, _("%s: values must be a{sv}"),
                   table->name);
      return FALSE;
    }

  if (owned != NULL)
    {
      g_variant_iter_init (&iter, owned);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
        {
          g_autoptr(GVariant) v = value;
          ColumnValue cv = { 0 };
          const MhColumnDef *column = mh_table_def_lookup_column (table, key, &cv.column);

          if (column == NULL)
            {
              g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_UNKNOWN_COLUMN,
                           _("%s has no column “%s”"), table->name, key);
              column_values_clear (parsed);
              return FALSE;
            }
          if (!cell_from_variant (&cv.cell, v, column->type))
            {
              g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TYPE,
                           _("%s.%s: expected %s, got %s"), table->name, key,
                           column_type_name (column->type), g_variant_get_type_string (v));
              column_values_clear (parsed);
              return FALSE;
            }
          g_array_append_val (parsed, cv);
        }
    }
  ok = local_write_values (self, table, row_id, parsed, mode, error);
  column_values_clear (parsed);
  return ok;
}

static gboolean
cell_from_gvalue (MhCell *cell, const GValue *value, MhColumnType type)
{
  cell_clear (cell);
  if (value == NULL || !G_IS_VALUE (value))
    return TRUE;

  switch (G_VALUE_TYPE (value))
    {
    case G_TYPE_STRING:
      if (g_value_get_string (value) == NULL)
        return TRUE;
      if (type != MH_COLUMN_TEXT || !g_utf8_validate (g_value_get_string (value), -1, NULL))
        return FALSE;
      cell->type = SQLITE_TEXT;
      cell->s = g_value_dup_string (value);
      return TRUE;
    case G_TYPE_DOUBLE:
    case G_TYPE_FLOAT:
      if (type != MH_COLUMN_REAL)
        return FALSE;
      cell->d = G_VALUE_TYPE (value) == G_TYPE_DOUBLE ? g_value_get_double (value)
                                                      : g_value_get_float (value);
      if (!isfinite (cell->d))
        return FALSE;
      cell->type = SQLITE_FLOAT;
      return TRUE;
    case G_TYPE_INT64:
    case G_TYPE_INT:
    case G_TYPE_UINT:
    case G_TYPE_LONG:
    case G_TYPE_BOOLEAN:
      {
        gint64 i = G_VALUE_TYPE (value) == G_TYPE_INT64 ? g_value_get_int64 (value)
                   : G_VALUE_TYPE (value) == G_TYPE_INT ? g_value_get_int (value)
                   : G_VALUE_TYPE (value) == G_TYPE_UINT ? (gint64) g_value_get_uint (value)
                   : G_VALUE_TYPE (value) == G_TYPE_LONG ? g_value_get_long (value)
                                                          : g_value_get_boolean (value);
        if (type == MH_COLUMN_INTEGER)
          {
            cell->type = SQLITE_INTEGER;
            cell->i = i;
            return TRUE;
          }
        if (type == MH_COLUMN_REAL)
          {
            cell->type = SQLITE_FLOAT;
            cell->d = (double) i;
            return TRUE;
          }
        return FALSE;
      }
    case G_TYPE_POINTER:
      return g_value_get_pointer (value) == NULL;
    default:
      return FALSE;
    }
}

/**
 * mh_store_write_values:
 * @mode: insert, update or upsert
 * @n_values: how many columns are given
 * @columns: (array length=n_values): column names
 * @values: (array length=n_values): their values: G_TYPE_INT64 (or another
 *   integer type) for integers, G_TYPE_DOUBLE for reals, G_TYPE_STRING for
 *   text; an unset #GValue, a %NULL string or a %NULL pointer for NULL
 *
 * The same as mh_store_insert(), mh_store_update() and mh_store_upsert(),
 * without building a #GVariant: the fast way for bulk writes.
 */
gboolean
mh_store_write_values (MhStore *self, const char *table_name, const char *row_id,
                       MhWriteMode mode, guint n_values, const char *const *columns,
                       const GValue *values, GError **error)
{
  g_autoptr(GArray) parsed = NULL;
  const MhTableDef *table;
  gboolean ok;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (n_values == 0 || (columns != NULL && values != NULL), FALSE);

  table = mh_schema_lookup_table (self->schema, table_name);
  if (table == NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_UNKNOWN_TABLE, _("unknown table “%s”"),
                   table_name);
      return FALSE;
    }
  parsed = g_array_sized_new (FALSE, TRUE, sizeof (ColumnValue), n_values);
  for (guint i = 0; i < n_values; i++)
    {
      ColumnValue cv = { 0 };
      const MhColumnDef *column = mh_table_def_lookup_column (table, columns[i], &cv.column);

      if (column == NULL)
        {
          g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_UNKNOWN_COLUMN,
                       _("%s has no column “%s”"), table->name, columns[i]);
          column_values_clear (parsed);
          return FALSE;
        }
      if (!cell_from_gvalue (&cv.cell, &values[i], column->type))
        {
          g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TYPE, _("%s.%s: expected %s"),
                       table->name, columns[i], column_type_name (column->type));
          column_values_clear (parsed);
          return FALSE;
        }
      g_array_append_val (parsed, cv);
    }
  ok = local_write_values (self, table, row_id, parsed,
                           mode == MH_WRITE_INSERT   ? WRITE_INSERT
                           : mode == MH_WRITE_UPDATE ? WRITE_UPDATE
                                                     : WRITE_UPSERT,
                           error);
  column_values_clear (parsed);
  return ok;
}

/**
 * mh_store_insert:
 * @values: (transfer floating) (nullable): a{sv} of column values; columns
 *   left out are NULL
 *
 * Inserts a row. Fails when the id exists, or was ever deleted.
 */
gboolean
mh_store_insert (MhStore *self, const char *table, const char *row, GVariant *values,
                 GError **error)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  return local_write (self, table, row, values, WRITE_INSERT, error);
}

/**
 * mh_store_update:
 * @values: (transfer floating): a{sv} of the columns to change
 *
 * Updates some columns of a live row. Each register touched is written
 * whole: its other columns keep their current values.
 */
gboolean
mh_store_update (MhStore *self, const char *table, const char *row, GVariant *values,
                 GError **error)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  return local_write (self, table, row, values, WRITE_UPDATE, error);
}

gboolean
mh_store_upsert (MhStore *self, const char *table, const char *row, GVariant *values,
                 GError **error)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  return local_write (self, table, row, values, WRITE_UPSERT, error);
}

/**
 * mh_store_delete:
 *
 * Deletes a row for good: the deletion wins over every write to the row,
 * on every node, and the id is never reused.
 */
gboolean
mh_store_delete (MhStore *self, const char *table_name, const char *row_id, GError **error)
{
  const MhTableDef *table;
  g_autoptr(MhChange) change = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *reason = NULL;
  Outcome outcome;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);

  table = mh_schema_lookup_table (self->schema, table_name);
  if (table == NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_UNKNOWN_TABLE, _("unknown table “%s”"),
                   table_name);
      return FALSE;
    }
  switch (mh_store_get_row_state (self, table_name, row_id))
    {
    case MH_ROW_ABSENT:
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_NOT_FOUND, _("no %s “%s”"), table->name,
                   row_id);
      return FALSE;
    case MH_ROW_DELETED:
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_DELETED, _("%s “%s” is already deleted"),
                   table->name, row_id);
      return FALSE;
    case MH_ROW_LIVE:
    default:
      break;
    }

  if (!txn_begin (self, error))
    return FALSE;
  change = mh_change_new_delete (table->name, row_id, mh_clock_now (&self->clock), self->site_id,
                                 ++self->own_seq);
  change->schema_version = mh_schema_get_version (self->schema);
  if (self->identity != NULL)
    {
      seal_later (self, change);
      change->signature = mh_seal_marker ();
    }
  outcome = apply_one (self, change, TRUE, FALSE, &reason, &local_error);
  if (outcome != OUTCOME_APPLIED)
    {
      if (local_error == NULL)
        g_set_error (&local_error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED, "%s",
                     reason ? reason : _("deletion refused"));
      txn_rollback (self);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return txn_commit (self, error);
}

MhRowState
mh_store_get_row_state (MhStore *self, const char *table_name, const char *row_id)
{
  const MhTableDef *table;
  g_autoptr(MhRow) row = NULL;
  Tomb tomb;

  g_return_val_if_fail (MH_IS_STORE (self), MH_ROW_ABSENT);

  table = mh_schema_lookup_table (self->schema, table_name);
  if (table == NULL || row_id == NULL)
    return MH_ROW_ABSENT;
  if (tomb_lookup (self, table, row_id, &tomb))
    {
      tomb_clear (&tomb);
      return MH_ROW_DELETED;
    }
  if (load_row (self, table, row_id, &row, NULL) && row != NULL)
    return MH_ROW_LIVE;
  return MH_ROW_ABSENT;
}

/**
 * mh_store_get_register_hlc:
 *
 * Returns: the clock of the last write of register @reg_name of a live
 *   row, or 0 (absent, deleted, never written): validators compare it with
 *   a change's clock to know what was true when the change was made
 */
MhHlc
mh_store_get_register_hlc (MhStore *self, const char *table_name, const char *row_id,
                           const char *reg_name)
{
  const MhTableDef *table;
  g_autoptr(MhRow) row = NULL;
  guint index = 0;

  g_return_val_if_fail (MH_IS_STORE (self), 0);

  table = mh_schema_lookup_table (self->schema, table_name);
  if (table == NULL || row_id == NULL || reg_name == NULL
      || mh_table_def_lookup_register (table, reg_name, &index) == NULL
      || !load_row (self, table, row_id, &row, NULL) || row == NULL)
    return 0;
  return row->meta[index].hlc;
}

/**
 * mh_store_get_row:
 *
 * Returns: (transfer full) (nullable): the live row as a{sv}: `id` and
 *   every non-NULL column; %NULL when the row is absent or deleted
 */
GVariant *
mh_store_get_row (MhStore *self, const char *table_name, const char *row_id)
{
  const MhTableDef *table;
  g_autoptr(MhRow) row = NULL;
  GVariantBuilder builder;

  g_return_val_if_fail (MH_IS_STORE (self), NULL);

  table = mh_schema_lookup_table (self->schema, table_name);
  if (table == NULL || row_id == NULL || !load_row (self, table, row_id, &row, NULL)
      || row == NULL)
    return NULL;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "id", g_variant_new_string (row->id));
  for (guint i = 0; i < table->columns->len; i++)
    {
      const MhColumnDef *column = g_ptr_array_index (table->columns, i);
      const MhCell *cell = &row->cells[i];
      switch (cell->type)
        {
        case SQLITE_INTEGER:
          g_variant_builder_add (&builder, "{sv}", column->name, g_variant_new_int64 (cell->i));
          break;
        case SQLITE_FLOAT:
          g_variant_builder_add (&builder, "{sv}", column->name, g_variant_new_double (cell->d));
          break;
        case SQLITE_TEXT:
          g_variant_builder_add (&builder, "{sv}", column->name, g_variant_new_string (cell->s));
          break;
        default:
          break;
        }
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
report_outcome (MhApplyReport *report, Outcome outcome)
{
  switch (outcome)
    {
    case OUTCOME_APPLIED: report->applied++; break;
    case OUTCOME_OLDER: report->ignored_older++; break;
    case OUTCOME_DELETED: report->ignored_deleted++; break;
    case OUTCOME_REJECTED: report->rejected++; break;
    case OUTCOME_PARKED: report->parked++; break;
    case OUTCOME_HELD: report->held++; break;
    case OUTCOME_EVICTED: report->dropped_evicted++; break;
    case OUTCOME_WITHHELD: report->withheld++; break;
    default: break;
    }
}

/* Need to know, on the receiving side: a change for a row this node may
 * not hold is dropped (withheld), one that cannot be decided yet (what it
 * belongs to has not arrived) is parked. @context is the rest of the batch,
 * which may carry what grants the audience (a transfer after its patient). */
static Outcome
audience_outcome (MhStore *self, const MhChange *change, GPtrArray *context, char **reason)
{
  if (self->audience == NULL)
    return OUTCOME_APPLIED;
  switch (self->audience (self, change, self->site_id, context, self->audience_data))
    {
    case MH_AUDIENCE_NO:
      return OUTCOME_WITHHELD;
    case MH_AUDIENCE_WAIT:
      g_free (*reason);
      /* "waiting: " is a prefix for programs (as MH_REASON_WAITING in node/): untranslated. */
      *reason = g_strconcat ("waiting: ", _("what the change belongs to is not known here yet"),
                             NULL);
      return OUTCOME_PARKED;
    case MH_AUDIENCE_YES:
    default:
      return OUTCOME_APPLIED;
    }
}

/* The first 64 bits of a SHA-256 of what the origin signed. */
static gint64
signed_hash (const MhChange *change)
{
  g_autoptr(GBytes) bytes = mh_change_canonical_bytes (change);
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof digest;
  gint64 hash = 0;

  g_checksum_update (checksum, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_checksum_get_digest (checksum, digest, &len);
  for (guint i = 0; i < 8; i++)
    hash = (gint64) (((guint64) hash << 8) | digest[i]);
  return hash;
}

/* Checks on a remote change's origin that come before anything else, and
 * again when a parked change is retried (a revocation may have arrived in
 * between): the revocation cut-off (the origin filter), and one change per
 * (origin, oseq). A site that signs two different changes with one
 * sequence number is misbehaving, or someone holds its revoked key and
 * writes under numbers below the cut-off: the second one is refused.
 * Sets *@out_hash (0: nothing to remember) for origin_remember(). */
static Outcome
origin_checks (MhStore *self, const MhChange *change, gboolean verified, gint64 *out_hash,
               char **reason, GError **error)
{
  guint origin;
  gint64 hash;
  const guint8 *sealed;

  *out_hash = 0;
  if (self->origin_filter != NULL
      && self->origin_filter (self, change->origin, change->origin_seq, reason,
                              self->origin_filter_data))
    return OUTCOME_REJECTED;
  /* Only what the origin signed (and this node checked) binds it. */
  if (!self->verify_signatures || change->signature == NULL || change->origin == NULL
      || change->origin[0] == '\0')
    return OUTCOME_APPLIED;
  if ((origin = site_index (self, change->origin, error)) == 0)
    return OUTCOME_REJECTED;
  /* A change just checked against its seal hashes to the seal's entry. */
  if (verified && change->seal != NULL
      && (sealed = mh_seal_get_hash (change->seal, change->origin_seq)) != NULL)
    {
      hash = 0;
      for (guint i = 0; i < 8; i++)
        hash = (gint64) (((guint64) hash << 8) | sealed[i]);
    }
  else
    hash = signed_hash (change);
  {
    g_autoptr(MhCachedStmt) stmt =
      prepare_cached (self, "SELECT hash FROM _mh_oseq WHERE origin = ? AND oseq = ?");

    if (stmt == NULL)
      {
        set_sqlite_error (self, error, "reading sequence numbers");
        return OUTCOME_REJECTED;
      }
    sqlite3_bind_int64 (stmt, 1, origin);
    sqlite3_bind_int64 (stmt, 2, change->origin_seq);
    if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int64 (stmt, 0) != hash)
      {
        self->n_reused_oseq++;
        /* Table and row only: values may be patient data. */
        g_message ("site %s signed two different changes with sequence number %" G_GINT64_FORMAT
                   " (%s %s): the second is refused", change->origin, change->origin_seq,
                   change->table, change->row);
        g_free (*reason);
        *reason = g_strdup_printf (_("sequence number %lld of site %s already signed another "
                                     "change"),
                                   (long long) change->origin_seq, change->origin);
        return OUTCOME_REJECTED;
      }
  }
  *out_hash = hash;
  return OUTCOME_APPLIED;
}

static gboolean gap_fill (MhStore *self, guint origin, gint64 oseq, gboolean won,
                          GError **error);

/* Remembers a change that passed, or lost to a newer one: it stays the
 * one change its (origin, oseq) stands for. */
static gboolean
origin_remember (MhStore *self, const MhChange *change, gint64 hash, Outcome outcome,
                 GError **error)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  const MhTableDef *table;
  guint origin;

  if (hash == 0
      || !(outcome == OUTCOME_APPLIED || outcome == OUTCOME_OLDER || outcome == OUTCOME_DELETED))
    return TRUE;
  if ((origin = site_index (self, change->origin, error)) == 0)
    return FALSE;
  stmt = prepare_cached (self, "INSERT OR IGNORE INTO _mh_oseq (origin, oseq, hash, tbl, row, "
                               "via) VALUES (?, ?, ?, ?, ?, ?)");
  if (stmt == NULL)
    return set_sqlite_error (self, error, "recording a sequence number");
  table = mh_schema_lookup_table (self->schema, change->table);
  sqlite3_bind_int64 (stmt, 1, origin);
  sqlite3_bind_int64 (stmt, 2, change->origin_seq);
  sqlite3_bind_int64 (stmt, 3, hash);
  if (table != NULL)
    sqlite3_bind_int64 (stmt, 4, self->tables[table->index].db_index);
  else
    sqlite3_bind_null (stmt, 4);
  sqlite3_bind_text (stmt, 5, change->row, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, self->via_index);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "recording a sequence number");
  if (self->n_gaps > 0 && sqlite3_changes (self->db) > 0)
    return gap_fill (self, origin, change->origin_seq, outcome == OUTCOME_APPLIED, error);
  return TRUE;
}

/* Applies a change that arrived from a peer, queueing it when it is
 * refused, parked or held. @verdicts, when not NULL, holds the result of
 * mh_changes_verify() for it (checked before the transaction opened).
 * Returns FALSE only on a storage failure. */
static gboolean
apply_remote (MhStore *self, MhChange *change, GPtrArray *context, GPtrArray *verdicts,
              guint index, Outcome *out_outcome, GError **error)
{
  g_autofree char *reason = NULL;
  GError *local_error = NULL;
  Outcome outcome;
  gboolean verified = TRUE;
  gint64 hash = 0;

  /* Verified before anything else, so that the origin every later check
   * (ownership in the validator) relies on is the signer's. */
  if (self->verify_signatures && verdicts != NULL)
    {
      reason = g_strdup (g_ptr_array_index (verdicts, index));
      verified = reason == NULL;
    }
  else if (self->verify_signatures)
    verified = mh_change_verify (change, &reason);
  if (!verified)
    {
      g_autofree char *why = g_steal_pointer (&reason);

      reason = g_strdup_printf ("signature: %s", why);
      outcome = OUTCOME_REJECTED;
    }
  /* Its seal is kept to relay it; a store that does not check changes
   * still keeps only seals that hold. */
  else if (change->seal != NULL
           && (self->verify_signatures || mh_seal_verify (change->seal, NULL))
           && (outcome = seal_keep (self, change->seal, &reason, &local_error))
                != OUTCOME_APPLIED)
    ;
  else if ((outcome = origin_checks (self, change, self->verify_signatures, &hash, &reason,
                                     &local_error))
           != OUTCOME_APPLIED)
    ;
  /* An evicted row's late change is dropped before its audience is asked:
   * what it belongs to is gone here, so the audience could only wait. */
  else if (self->n_evicted > 0 && row_is_evicted (self, change->table, change->row))
    outcome = OUTCOME_EVICTED;
  else if ((outcome = audience_outcome (self, change, context, &reason)) != OUTCOME_APPLIED)
    ;
  else
    outcome = apply_one (self, change, FALSE, FALSE, &reason, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  if (!origin_remember (self, change, hash, outcome, error))
    return FALSE;
  switch (outcome)
    {
    case OUTCOME_REJECTED:
      if (!queue_put (self, "_mh_rejected", change, reason, 0, error))
        return FALSE;
      break;
    case OUTCOME_PARKED:
      if (!queue_put (self, "_mh_parked", change, reason, 0, error))
        return FALSE;
      break;
    case OUTCOME_HELD:
      if (!queue_put (self, "_mh_held", change, _("clock too far ahead"),
                      MH_HLC_PHYSICAL (change->hlc), error))
        return FALSE;
      break;
    case OUTCOME_EVICTED:
      self->n_dropped_evicted++;
      break;
    case OUTCOME_APPLIED:
    case OUTCOME_OLDER:
    case OUTCOME_DELETED:
    default:
      break;
    }
  *out_outcome = outcome;
  return TRUE;
}

/* Held changes whose time has come, oldest first. */
static gboolean
release_held_locked (MhStore *self, MhApplyReport *report, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GArray) ids = NULL;
  g_autoptr(GPtrArray) changes = NULL;

  if (self->n_held == 0)
    return TRUE;
  stmt = prepare_once (self, "SELECT id, change FROM _mh_held WHERE phys <= ? ORDER BY phys, id");
  if (stmt == NULL)
    return set_sqlite_error (self, error, "reading held changes");
  sqlite3_bind_int64 (stmt, 1, mh_store_get_reference_ms (self) + self->hold_bound_ms);
  ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  changes = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      MhChange *change = change_from_json (self, (const char *) sqlite3_column_text (stmt, 1));
      g_array_append_val (ids, id);
      g_ptr_array_add (changes, change);
    }
  g_clear_pointer (&stmt, sqlite3_finalize);

  for (guint i = 0; i < ids->len; i++)
    {
      MhChange *change = g_ptr_array_index (changes, i);
      Outcome outcome = OUTCOME_REJECTED;

      if (!queue_remove (self, "_mh_held", g_array_index (ids, gint64, i), error))
        return FALSE;
      if (change == NULL)
        continue;
      if (!apply_remote (self, change, NULL, NULL, 0, &outcome, error))
        return FALSE;
      if (outcome == OUTCOME_APPLIED)
        report->released++;
      else
        report_outcome (report, outcome);
    }
  /* n_held is left for update_counts() to refresh at commit: setting it
   * here would hide the change from it, and "held-count" would never be
   * notified of a release. */
  return TRUE;
}

/* Parked changes are retried until a pass makes no progress: one arrival
 * may unlock a chain (a site, then its hospital, then its beds). */
static gboolean
retry_parked_locked (MhStore *self, MhApplyReport *report, GError **error)
{
  gboolean progress = TRUE;

  while (progress && count_rows (self, "_mh_parked") > 0)
    {
      g_autoptr(sqlite3_stmt) stmt = prepare_once (self, "SELECT id, change FROM _mh_parked "
                                                         "ORDER BY id");
      g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_autoptr(GPtrArray) changes =
        g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);

      progress = FALSE;
      if (stmt == NULL)
        return set_sqlite_error (self, error, "reading parked changes");
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          gint64 id = sqlite3_column_int64 (stmt, 0);
          g_array_append_val (ids, id);
          g_ptr_array_add (changes,
                           change_from_json (self, (const char *) sqlite3_column_text (stmt, 1)));
        }
      g_clear_pointer (&stmt, sqlite3_finalize);

      for (guint i = 0; i < ids->len; i++)
        {
          MhChange *change = g_ptr_array_index (changes, i);
          g_autofree char *reason = NULL;
          GError *local_error = NULL;
          Outcome outcome;
          gint64 hash = 0;

          if (change == NULL)
            {
              if (!queue_remove (self, "_mh_parked", g_array_index (ids, gint64, i), error))
                return FALSE;
              continue;
            }
          /* A revocation may have come while it waited: its cut-off and
           * the one-change-per-number rule hold as on arrival. The other
           * parked changes are the context: a patient parked for its
           * audience and the transfer parked for its patient release each
           * other. */
          outcome = origin_checks (self, change, FALSE, &hash, &reason, &local_error);
          if (outcome == OUTCOME_APPLIED && local_error == NULL)
            outcome = audience_outcome (self, change, changes, &reason);
          if (outcome == OUTCOME_APPLIED && local_error == NULL)
            outcome = apply_one (self, change, FALSE, TRUE, &reason, &local_error);
          if (local_error != NULL)
            {
              g_propagate_error (error, local_error);
              return FALSE;
            }
          if (!origin_remember (self, change, hash, outcome, error))
            return FALSE;
          if (outcome == OUTCOME_PARKED)
            continue;
          if (!queue_remove (self, "_mh_parked", g_array_index (ids, gint64, i), error))
            return FALSE;
          if (outcome == OUTCOME_REJECTED
              && !queue_put (self, "_mh_rejected", change, reason, 0, error))
            return FALSE;
          if (outcome == OUTCOME_HELD
              && !queue_put (self, "_mh_held", change, _("clock too far ahead"),
                             MH_HLC_PHYSICAL (change->hlc), error))
            return FALSE;
          if (outcome == OUTCOME_APPLIED)
            {
              report->unparked++;
              progress = TRUE;
            }
          else
            report_outcome (report, outcome);
        }
    }
  return TRUE;
}

/**
 * mh_store_apply:
 * @changes: (element-type MhChange): changes from peers, in any order
 * @report: (out caller-allocates) (optional): what happened to them
 *
 * Applies a batch in one transaction. A refused, parked or held change
 * never stops the rest. Fails (and applies nothing) only when storage fails.
 */
/* One batch from a peer in one transaction: the changes, the held and
 * parked ones they release, and (with @peer) the cursor on the peer's log. */
static gboolean
apply_batch (MhStore *self, GPtrArray *changes, const char *peer, guint lane,
             const MhCursor *cursor, MhApplyReport *report, GError **error)
{
  gboolean any_applied = FALSE;
  g_autoptr(GPtrArray) verdicts = NULL;
  g_autoptr(GPtrArray) trusted = NULL;

  memset (report, 0, sizeof *report);
  /* The signatures first, on every core, outside the write transaction. */
  if (self->verify_signatures)
    verdicts = mh_changes_verify (changes);
  /* What the rest of the batch may vouch for (a transfer that brings a
   * patient into this site's audience) counts only once its signature
   * holds: a forged transfer must not pull a patient here. */
  trusted = g_ptr_array_sized_new (changes->len);
  for (guint i = 0; i < changes->len; i++)
    if (verdicts == NULL || g_ptr_array_index (verdicts, i) == NULL)
      g_ptr_array_add (trusted, g_ptr_array_index (changes, i));
  if (!txn_begin (self, error))
    return FALSE;
  self->via_index = 0;
  if (!release_held_locked (self, report, error))
    goto fail;
  if (peer != NULL && (self->via_index = site_index (self, peer, error)) == 0)
    goto fail;
  for (guint i = 0; i < changes->len; i++)
    {
      Outcome outcome = OUTCOME_REJECTED;

      if (!apply_remote (self, g_ptr_array_index (changes, i), trusted, verdicts, i, &outcome,
                         error))
        goto fail;
      report_outcome (report, outcome);
      if (outcome == OUTCOME_APPLIED)
        any_applied = TRUE;
    }
  self->via_index = 0;
  if ((any_applied || report->released > 0) && self->n_parked + report->parked > 0
      && !retry_parked_locked (self, report, error))
    goto fail;
  self->via_index = 0;
  if (peer != NULL && cursor != NULL && !save_peer_cursor (self, peer, lane, cursor, error))
    goto fail;
  return txn_commit (self, error);

fail:
  self->via_index = 0;
  txn_rollback (self);
  memset (report, 0, sizeof *report);
  return FALSE;
}

gboolean
mh_store_apply (MhStore *self, GPtrArray *changes, MhApplyReport *report, GError **error)
{
  MhApplyReport local_report = { 0 };

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (changes != NULL, FALSE);

  return apply_batch (self, changes, NULL, 0, NULL, report ? report : &local_report, error);
}

/**
 * mh_store_release_held:
 *
 * Applies the held changes that are now within the bound. The layer above
 * calls it as time passes (a held change may be released with no new
 * change arriving).
 */
gboolean
mh_store_release_held (MhStore *self, MhApplyReport *report, GError **error)
{
  MhApplyReport local_report = { 0 };

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);

  if (report == NULL)
    report = &local_report;
  memset (report, 0, sizeof *report);
  if (self->n_held == 0)
    return TRUE;
  if (!txn_begin (self, error))
    return FALSE;
  if (!release_held_locked (self, report, error)
      || (report->released > 0 && !retry_parked_locked (self, report, error)))
    {
      txn_rollback (self);
      return FALSE;
    }
  return txn_commit (self, error);
}

gboolean
mh_store_retry_parked (MhStore *self, MhApplyReport *report, GError **error)
{
  MhApplyReport local_report = { 0 };

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);

  if (report == NULL)
    report = &local_report;
  memset (report, 0, sizeof *report);
  if (!txn_begin (self, error))
    return FALSE;
  if (!retry_parked_locked (self, report, error))
    {
      txn_rollback (self);
      return FALSE;
    }
  return txn_commit (self, error);
}

gint64
mh_store_get_epoch (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->epoch;
}

gint64
mh_store_get_last_seq (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->seq;
}

/**
 * mh_store_get_committed_lanes:
 *
 * In a handler of #MhStore::committed: which lanes the commit added log
 * entries to, one bit per lane (bit 0 for lane 0; lanes from 64 on set
 * every bit). A link need not read the others again.
 */
guint64
mh_store_get_committed_lanes (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), G_MAXUINT64);
  return self->committed_lanes;
}

/**
 * mh_store_new_epoch:
 *
 * Starts a new log epoch: every peer reads this replica's lanes again from
 * zero. For a replica restored from a backup or copied to another machine,
 * when the store could not tell by itself.
 */
gboolean
mh_store_new_epoch (MhStore *self, GError **error)
{
  gint64 epoch = random_epoch ();

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (self->txn_depth == 0, FALSE);

  if (!meta_set_int (self, "epoch", epoch, error))
    return FALSE;
  self->epoch = epoch;
  return TRUE;
}

/**
 * mh_store_read_lane:
 * @cursor: (inout): where the reader stands; updated to the last change read
 * @limit: the most log entries to read (a row written whole is one entry)
 * @restarted: (out) (optional): %TRUE when the cursor named another epoch
 *   and reading started again from zero
 * @more: (out) (optional): %TRUE when the lane holds more after this page
 *
 * Returns: (transfer full) (element-type MhChange): the lane's changes after
 *   the cursor, in log order, each with its origin, clock, origin sequence
 *   number and signature as first written
 */
GPtrArray *
mh_store_read_lane (MhStore *self, guint lane, MhCursor *cursor, guint limit,
                    gboolean *restarted, gboolean *more, GError **error)
{
  return mh_store_read_lane_skipping (self, lane, cursor, limit, NULL, NULL, restarted, more,
                                      error);
}

/**
 * mh_store_read_lane_skipping:
 * @skip_origin: (nullable): a site id
 * @n_skipped: (out) (optional): how many registers were left out
 *
 * mh_store_read_lane(), without the registers that @skip_origin wrote
 * (counted in @n_skipped): a link never sends a peer its own changes back,
 * and building them cost most of a page's reading (the values, the seal
 * looked up) when a node offers its log back to the peer it caught up from.
 */
GPtrArray *
mh_store_read_lane_skipping (MhStore *self, guint lane, MhCursor *cursor, guint limit,
                             const char *skip_origin, guint *n_skipped, gboolean *restarted,
                             gboolean *more, GError **error)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  g_autoptr(GPtrArray) changes = NULL;
  guint n = 0, skipped = 0, skip = 0;
  gpointer index;
  gint64 after;

  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  g_return_val_if_fail (cursor != NULL, NULL);
  g_return_val_if_fail (limit > 0, NULL);

  if (n_skipped)
    *n_skipped = 0;
  /* Site indexes start at 1: 0 skips nothing. */
  if (skip_origin != NULL
      && g_hash_table_lookup_extended (self->site_by_name, skip_origin, NULL, &index))
    skip = GPOINTER_TO_UINT (index);
  if (restarted)
    *restarted = FALSE;
  if (more)
    *more = FALSE;
  if (cursor->epoch != self->epoch)
    {
      if (restarted)
        *restarted = cursor->epoch != 0 || cursor->seq != 0;
      cursor->epoch = self->epoch;
      cursor->seq = 0;
    }
  after = cursor->seq;

  changes = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  if (lane >= mh_schema_get_n_lanes (self->schema))
    return g_steal_pointer (&changes);

  stmt = prepare_cached (self, "SELECT lseq, tbl, rid FROM _mh_log WHERE lane = ? AND lseq > ? "
                               "ORDER BY lseq LIMIT ?");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "reading the log");
      return NULL;
    }
  sqlite3_bind_int (stmt, 1, (int) lane);
  sqlite3_bind_int64 (stmt, 2, after);
  sqlite3_bind_int64 (stmt, 3, (gint64) limit + 1);

  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 lseq = sqlite3_column_int64 (stmt, 0);
      gint64 tbl = sqlite3_column_int64 (stmt, 1);
      gint64 rid = sqlite3_column_int64 (stmt, 2);

      if (++n > limit)
        {
          if (more)
            *more = TRUE;
          break;
        }
      cursor->seq = lseq;

      if (tbl == -1)
        {
          g_autoptr(sqlite3_stmt) f = prepare_once (self, "SELECT change FROM _mh_foreign "
                                                          "WHERE rid = ?");
          sqlite3_bind_int64 (f, 1, rid);
          if (sqlite3_step (f) == SQLITE_ROW)
            {
              MhChange *change = change_from_json (self, (const char *) sqlite3_column_text (f, 0));
              if (change != NULL)
                {
                  change->local_seq = lseq;
                  g_ptr_array_add (changes, change);
                }
            }
        }
      else if (tbl == 0)
        {
          g_autoptr(sqlite3_stmt) t = prepare_once (
            self, "SELECT t.name, m.id, m.hlc, m.origin, m.oseq, m.sig FROM _mh_tomb m "
                  "JOIN _mh_tables t ON t.idx = m.tbl WHERE m.rid = ?");
          sqlite3_bind_int64 (t, 1, rid);
          if (sqlite3_step (t) == SQLITE_ROW)
            {
              MhChange *change = mh_change_new_delete (
                (const char *) sqlite3_column_text (t, 0), (const char *) sqlite3_column_text (t, 1),
                sqlite3_column_int64 (t, 2), site_name (self, (guint) sqlite3_column_int64 (t, 3)),
                sqlite3_column_int64 (t, 4));
              if (sqlite3_column_bytes (t, 5) > 0)
                change->signature = g_bytes_new (sqlite3_column_blob (t, 5),
                                                 sqlite3_column_bytes (t, 5));
              change->schema_version = mh_schema_get_version (self->schema);
              change->local_seq = lseq;
              attach_seal (self, change, (guint) sqlite3_column_int64 (t, 3));
              g_ptr_array_add (changes, change);
            }
        }
      else
        {
          const MhTableDef *table = NULL;
          g_autoptr(MhRow) row = NULL;

          for (guint i = 0; i < mh_schema_get_n_tables (self->schema); i++)
            if (self->tables[i].db_index == tbl)
              table = mh_schema_get_table (self->schema, i);
          if (table == NULL || (row = load_row_by_rid (self, table, rid)) == NULL)
            continue;
          for (guint i = 0; i < table->registers->len; i++)
            {
              const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);
              MhChange *change;

              if (row->meta[i].hlc == 0 || row->meta[i].lseq != lseq)
                continue;
              if (skip != 0 && row->meta[i].origin == skip)
                {
                  skipped++;
                  continue;
                }
              change = mh_change_new_set (table->name, row->id, reg->name,
                                          cells_to_variant (row->cells + reg->first_column,
                                                            reg->n_columns),
                                          row->meta[i].hlc, site_name (self, row->meta[i].origin),
                                          row->meta[i].oseq);
              if (row->meta[i].sig)
                change->signature = g_bytes_ref (row->meta[i].sig);
              change->schema_version = row->meta[i].sv ? row->meta[i].sv
                                                       : mh_schema_get_version (self->schema);
              change->local_seq = lseq;
              attach_seal (self, change, row->meta[i].origin);
              g_ptr_array_add (changes, change);
            }
        }
    }
  if (n_skipped)
    *n_skipped = skipped;
  return g_steal_pointer (&changes);
}

guint
mh_store_get_held_count (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->n_held;
}

guint
mh_store_get_parked_count (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->n_parked;
}

guint
mh_store_get_rejected_count (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->n_rejected;
}

/**
 * mh_store_list_held:
 * @limit: the most to list; 0 for all
 *
 * Returns: (transfer full) (element-type MhQueuedChange): held changes, oldest first
 */
GPtrArray *
mh_store_list_held (MhStore *self, guint limit)
{
  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  return queue_list (self, "_mh_held", limit);
}

GPtrArray *
mh_store_list_parked (MhStore *self, guint limit)
{
  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  return queue_list (self, "_mh_parked", limit);
}

GPtrArray *
mh_store_list_rejected (MhStore *self, guint limit)
{
  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  return queue_list (self, "_mh_rejected", limit);
}

/**
 * mh_store_list_history:
 *
 * Returns: (transfer full) (element-type MhHistoryEntry): the losing values
 *   of the row's history registers, oldest clock first
 */
GPtrArray *
mh_store_list_history (MhStore *self, const char *table, const char *row)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GPtrArray *result = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_history_entry_free);

  g_return_val_if_fail (MH_IS_STORE (self), result);

  stmt = prepare_once (self, "SELECT reg, value, hlc, origin, replaced_at, replaced_by "
                             "FROM _mh_history WHERE tbl = ? AND row = ? ORDER BY hlc, origin");
  if (stmt == NULL)
    return result;
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, row, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      MhHistoryEntry *entry = g_new0 (MhHistoryEntry, 1);
      g_autoptr(GBytes) bytes = g_bytes_new (sqlite3_column_blob (stmt, 1),
                                             sqlite3_column_bytes (stmt, 1));

      entry->reg = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
      entry->value = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("av"), bytes,
                                                                   FALSE));
      entry->hlc = sqlite3_column_int64 (stmt, 2);
      entry->origin = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
      entry->replaced_at_ms = sqlite3_column_int64 (stmt, 4);
      entry->replaced_by = sqlite3_column_int64 (stmt, 5);
      g_ptr_array_add (result, entry);
    }
  return result;
}

/**
 * mh_store_get_digest:
 *
 * Returns: %TRUE when the bucket holds anything; @digest is zeroed otherwise
 */
gboolean
mh_store_get_digest (MhStore *self, const char *bucket, MhDigest *digest)
{
  MhDigest *found;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (digest != NULL, FALSE);

  found = g_hash_table_lookup (self->digests, bucket);
  if (found == NULL || found->count == 0)
    {
      memset (digest, 0, sizeof *digest);
      return FALSE;
    }
  *digest = *found;
  return TRUE;
}

/**
 * mh_store_list_digests:
 *
 * Returns: (transfer full) (element-type utf8 utf8): bucket -> digest
 *   string, for every non-empty bucket
 */
GHashTable *
mh_store_list_digests (MhStore *self)
{
  GHashTable *result = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  const char *bucket;
  MhDigest *digest;

  g_return_val_if_fail (MH_IS_STORE (self), result);

  g_hash_table_iter_init (&iter, self->digests);
  while (g_hash_table_iter_next (&iter, (gpointer *) &bucket, (gpointer *) &digest))
    if (digest->count > 0)
      g_hash_table_insert (result, g_strdup (bucket), mh_digest_to_string (digest));
  return result;
}

char *
mh_digest_to_string (const MhDigest *digest)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%016" G_GINT64_MODIFIER "x%016"
                          G_GINT64_MODIFIER "x", digest->count, digest->h1, digest->h2);
}

/**
 * mh_store_recompute_digests:
 * @out_digests: (out) (transfer full): bucket -> digest string
 *
 * Computes every digest from scratch by scanning the replica. Slow; for
 * checking that the incremental digests are right.
 */
gboolean
mh_store_recompute_digests (MhStore *self, GHashTable **out_digests, GError **error)
{
  g_autoptr(GHashTable) sums = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTable *result;
  GHashTableIter iter;
  const char *bucket;
  MhDigest *digest;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);

  for (guint t = 0; t < mh_schema_get_n_tables (self->schema); t++)
    {
      const MhTableDef *table = mh_schema_get_table (self->schema, t);
      g_autofree char *sql = g_strdup_printf ("SELECT _rid FROM \"%s\"", table->name);
      g_autoptr(sqlite3_stmt) stmt = prepare_once (self, sql);

      if (stmt == NULL)
        return set_sqlite_error (self, error, "scanning a table");
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          g_autoptr(MhRow) row = load_row_by_rid (self, table, sqlite3_column_int64 (stmt, 0));
          g_autofree char *name = NULL;

          if (row == NULL)
            continue;
          name = mh_table_def_bucket_for_row (table, row->id);
          digest = g_hash_table_lookup (sums, name);
          if (digest == NULL)
            g_hash_table_insert (sums, g_strdup (name), digest = g_new0 (MhDigest, 1));
          for (guint i = 0; i < table->registers->len; i++)
            {
              guint64 h1, h2;
              if (row->meta[i].hlc == 0)
                continue;
              hash_register (row, i, site_name (self, row->meta[i].origin), &h1, &h2,
                             self->scratch);
              digest_add (digest, h1, h2, +1);
            }
        }
    }

  {
    g_autoptr(sqlite3_stmt) stmt = prepare_once (
      self, "SELECT t.name, m.id, m.hlc, m.origin FROM _mh_tomb m JOIN _mh_tables t ON t.idx = m.tbl");
    while (stmt && sqlite3_step (stmt) == SQLITE_ROW)
      {
        const MhTableDef *table =
          mh_schema_lookup_table (self->schema, (const char *) sqlite3_column_text (stmt, 0));
        const char *id = (const char *) sqlite3_column_text (stmt, 1);
        g_autofree char *name = NULL;
        guint64 h1, h2;

        if (table == NULL)
          continue;
        name = mh_table_def_bucket_for_row (table, id);
        digest = g_hash_table_lookup (sums, name);
        if (digest == NULL)
          g_hash_table_insert (sums, g_strdup (name), digest = g_new0 (MhDigest, 1));
        hash_tomb (table, id, sqlite3_column_int64 (stmt, 2),
                   site_name (self, (guint) sqlite3_column_int64 (stmt, 3)), &h1, &h2);
        digest_add (digest, h1, h2, +1);
      }
  }

  result = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_iter_init (&iter, sums);
  while (g_hash_table_iter_next (&iter, (gpointer *) &bucket, (gpointer *) &digest))
    if (digest->count > 0)
      g_hash_table_insert (result, g_strdup (bucket), mh_digest_to_string (digest));
  *out_digests = result;
  return TRUE;
}

/**
 * mh_store_digest_rows:
 * @rows: (array zero-terminated=1): row ids of @table
 * @digest: (inout): what the rows' hashes are added to
 *
 * Adds the rows' live registers and tombstones to @digest, hashed as the
 * bucket digests hash them, so that a slice of a bucket (the rows an
 * audience shares) can be compared between two nodes. An absent row adds
 * nothing. Registers written by a newer schema are not counted.
 */
gboolean
mh_store_digest_rows (MhStore *self, const char *table_name, const char *const *rows,
                      MhDigest *digest, GError **error)
{
  const MhTableDef *table;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (table_name != NULL && digest != NULL, FALSE);

  table = mh_schema_lookup_table (self->schema, table_name);
  if (table == NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_UNKNOWN_TABLE, _("unknown table %s"),
                   table_name);
      return FALSE;
    }
  for (guint r = 0; rows != NULL && rows[r] != NULL; r++)
    {
      g_autoptr(MhRow) row = NULL;
      Tomb tomb;
      guint64 h1, h2;

      if (!load_row (self, table, rows[r], &row, error))
        return FALSE;
      if (row != NULL)
        {
          for (guint i = 0; i < table->registers->len; i++)
            {
              if (row->meta[i].hlc == 0)
                continue;
              hash_register (row, i, site_name (self, row->meta[i].origin), &h1, &h2,
                             self->scratch);
              digest_add (digest, h1, h2, +1);
            }
          continue;
        }
      if (tomb_lookup (self, table, rows[r], &tomb))
        {
          hash_tomb (table, rows[r], tomb.hlc, site_name (self, tomb.origin), &h1, &h2);
          digest_add (digest, h1, h2, +1);
          tomb_clear (&tomb);
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Rows as the validator sees them                                          */

static const MhCell *
row_cell (const MhRow *row, const char *column)
{
  guint index;

  if (row == NULL || mh_table_def_lookup_column (row->table, column, &index) == NULL)
    return NULL;
  return &row->cells[index];
}

gboolean
mh_row_has (const MhRow *row, const char *column)
{
  return row_cell (row, column) != NULL;
}

gboolean
mh_row_is_null (const MhRow *row, const char *column)
{
  const MhCell *cell = row_cell (row, column);
  return cell == NULL || cell->type == SQLITE_NULL;
}

gint64
mh_row_get_int (const MhRow *row, const char *column)
{
  const MhCell *cell = row_cell (row, column);

  if (cell == NULL)
    return 0;
  if (cell->type == SQLITE_INTEGER)
    return cell->i;
  if (cell->type == SQLITE_FLOAT)
    return (gint64) cell->d;
  return 0;
}

double
mh_row_get_double (const MhRow *row, const char *column)
{
  const MhCell *cell = row_cell (row, column);

  if (cell == NULL)
    return 0;
  if (cell->type == SQLITE_FLOAT)
    return cell->d;
  if (cell->type == SQLITE_INTEGER)
    return (double) cell->i;
  return 0;
}

const char *
mh_row_get_string (const MhRow *row, const char *column)
{
  const MhCell *cell = row_cell (row, column);

  if (cell == NULL || cell->type != SQLITE_TEXT)
    return NULL;
  return cell->s;
}

const char *
mh_row_get_id (const MhRow *row)
{
  return row ? row->id : NULL;
}

const char *
mh_row_get_table (const MhRow *row)
{
  return row ? row->table->name : NULL;
}

/* ------------------------------------------------------------------------ */
/* Peers' cursors                                                           */

static gboolean
save_peer_cursor (MhStore *self, const char *peer, guint lane, const MhCursor *cursor,
                  GError **error)
{
  g_autoptr(MhCachedStmt) stmt = prepare_cached (
    self, "INSERT OR REPLACE INTO _mh_cursors (peer, lane, epoch, seq) VALUES (?, ?, ?, ?)");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "saving a cursor");
  sqlite3_bind_text (stmt, 1, peer, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, (int) lane);
  sqlite3_bind_int64 (stmt, 3, cursor->epoch);
  sqlite3_bind_int64 (stmt, 4, cursor->seq);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "saving a cursor");
  return TRUE;
}

/**
 * mh_store_apply_from_peer:
 * @peer: the site id of the peer whose log the changes were read from
 * @lane: the lane they were read from
 * @cursor: where the peer's log stands after them
 *
 * Like mh_store_apply(), and moves this replica's cursor on the peer's log
 * in the same transaction: a crash or a cut link resumes from the last
 * committed batch, never from zero and never past a change not applied.
 */
gboolean
mh_store_apply_from_peer (MhStore *self, GPtrArray *changes, const char *peer, guint lane,
                          const MhCursor *cursor, MhApplyReport *report, GError **error)
{
  MhApplyReport local_report = { 0 };
  gboolean was_applying;
  gboolean ok;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (changes != NULL && peer != NULL && cursor != NULL, FALSE);

  /* A peer's batch commits without waiting for the disk: the cursor moves
   * in the same transaction, so a batch lost to a power cut is lost with
   * its cursor, and the peer sends it again. Local writes keep FULL (or
   * wait for the WAL's sync, with deferred durability). */
  if (self->txn_depth == 0 && self->wal_sync == NULL)
    sqlite3_exec (self->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
  was_applying = self->applying_peer;
  self->applying_peer = TRUE;
  ok = apply_batch (self, changes, peer, lane, cursor, report ? report : &local_report, error);
  self->applying_peer = was_applying;
  if (self->txn_depth == 0 && self->wal_sync == NULL)
    sqlite3_exec (self->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
  return ok;
}

/**
 * mh_store_get_peer_cursor:
 * @cursor: (out): where this replica stands on the peer's log in @lane;
 *   zeroes when it never read from it
 */
gboolean
mh_store_get_peer_cursor (MhStore *self, const char *peer, guint lane, MhCursor *cursor)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (cursor != NULL, FALSE);

  cursor->epoch = 0;
  cursor->seq = 0;
  stmt = prepare_once (self, "SELECT epoch, seq FROM _mh_cursors WHERE peer = ? AND lane = ?");
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, peer, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, (int) lane);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return FALSE;
  cursor->epoch = sqlite3_column_int64 (stmt, 0);
  cursor->seq = sqlite3_column_int64 (stmt, 1);
  return TRUE;
}

/**
 * mh_store_count_after:
 *
 * Returns: how many log entries of @lane lie after @seq (changes a peer
 *   standing there has still to receive)
 */
gint64
mh_store_count_after (MhStore *self, guint lane, gint64 seq)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (self), 0);

  stmt = prepare_once (self, "SELECT count(*) FROM _mh_log WHERE lane = ? AND lseq > ?");
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int (stmt, 1, (int) lane);
  sqlite3_bind_int64 (stmt, 2, seq);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return 0;
  return sqlite3_column_int64 (stmt, 0);
}

/* ------------------------------------------------------------------------ */
/* Local eviction                                                           */

static gboolean
exec_row_sql (MhStore *self, const char *sql, const char *a, const char *b, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare_once (self, sql);

  if (stmt == NULL)
    return set_sqlite_error (self, error, "evicting a row");
  sqlite3_bind_text (stmt, 1, a, -1, SQLITE_STATIC);
  if (b != NULL)
    sqlite3_bind_text (stmt, 2, b, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "evicting a row");
  return TRUE;
}

/* Removes one row, its tombstone, foreign registers, history and queued
 * changes, keeping the digests equal to the sum of what is left. */
static gboolean
evict_one (MhStore *self, const MhTableDef *table, const char *id, gint64 at, GError **error)
{
  g_autoptr(MhRow) row = NULL;
  g_autofree char *prefix = g_strdup_printf ("%s\x1f%s\x1f", table->name, id);
  static const char *const queues[] = { "_mh_held", "_mh_parked", "_mh_rejected" };
  Tomb tomb;
  g_autoptr(sqlite3_stmt) mark = NULL;

  if (!load_row (self, table, id, &row, error))
    return FALSE;
  if (row != NULL)
    {
      for (guint i = 0; i < table->registers->len; i++)
        {
          gboolean seen = FALSE;

          if (row->meta[i].hlc == 0)
            continue;
          digest_register (self, row, i, -1);
          for (guint j = 0; j < i; j++)
            if (row->meta[j].hlc != 0 && row->meta[j].lseq == row->meta[i].lseq)
              seen = TRUE;
          if (!seen && !log_delete (self, table->lane, row->meta[i].lseq, error))
            return FALSE;
        }
      sqlite3_bind_int64 (self->tables[table->index].delete, 1, row->rid);
      if (sqlite3_step (self->tables[table->index].delete) != SQLITE_DONE)
        {
          sqlite3_reset (self->tables[table->index].delete);
          return set_sqlite_error (self, error, "evicting a row");
        }
      sqlite3_reset (self->tables[table->index].delete);
    }
  if (tomb_lookup (self, table, id, &tomb))
    {
      g_autoptr(sqlite3_stmt) del = prepare_once (self, "DELETE FROM _mh_tomb WHERE rid = ?");

      digest_tomb (self, table, id, tomb.hlc, site_name (self, tomb.origin), -1);
      tomb_clear (&tomb);
      if (del == NULL)
        return set_sqlite_error (self, error, "evicting a tombstone");
      sqlite3_bind_int64 (del, 1, tomb.rid);
      if (sqlite3_step (del) != SQLITE_DONE)
        return set_sqlite_error (self, error, "evicting a tombstone");
      if (!log_delete (self, table->lane, tomb.lseq, error))
        return FALSE;
      self->n_tombs--;
    }
  if (!drop_foreign_of_row (self, table, id, error)
      || !exec_row_sql (self, "DELETE FROM _mh_history WHERE tbl = ? AND row = ?", table->name,
                        id, error))
    return FALSE;
  /* A queued change's key begins with its table and row (change_key()). */
  for (guint i = 0; i < G_N_ELEMENTS (queues); i++)
    {
      g_autofree char *sql = g_strdup_printf ("DELETE FROM %s WHERE substr(key, 1, length(?1))"
                                              " = ?1", queues[i]);
      if (!exec_row_sql (self, sql, prefix, NULL, error))
        return FALSE;
    }

  mark = prepare_once (self, "INSERT OR REPLACE INTO _mh_evicted (tbl, id, at) VALUES (?, ?, ?)");
  if (mark == NULL)
    return set_sqlite_error (self, error, "marking an evicted row");
  sqlite3_bind_text (mark, 1, table->name, -1, SQLITE_STATIC);
  sqlite3_bind_text (mark, 2, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (mark, 3, at);
  if (sqlite3_step (mark) != SQLITE_DONE)
    return set_sqlite_error (self, error, "marking an evicted row");
  self->n_evicted++;
  touch (self, table, id);
  return TRUE;
}

/**
 * mh_store_evict:
 * @table: a declared table
 * @rows: (array zero-terminated=1): row ids; absent ones are only marked
 *
 * Drops the rows from this replica in one transaction (or in the caller's):
 * their values, clocks and signatures, their log entries (so they are no
 * longer offered to peers), losing values kept in history, foreign
 * registers, and held, parked or rejected changes to them. Each row gets a
 * marker (table, id, when): a later change to it, from a peer or local, is
 * dropped. Digests lose the evicted registers' hashes, so they keep
 * describing exactly what this replica holds.
 *
 * The caller decides that peers who must keep the rows already have them:
 * nothing here checks it.
 */
gboolean
mh_store_evict (MhStore *self, const char *table, const char *const *rows, GError **error)
{
  const MhTableDef *def;
  gint64 at;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (table != NULL && rows != NULL, FALSE);

  def = mh_schema_lookup_table (self->schema, table);
  if (def == NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED, _("unknown table “%s”"),
                   table);
      return FALSE;
    }
  if (!txn_begin (self, error))
    return FALSE;
  if (!flush_pending (self, error))
    {
      txn_rollback (self);
      return FALSE;
    }
  at = g_get_real_time () / 1000 + mh_store_get_clock_offset (self);
  for (guint i = 0; rows[i] != NULL; i++)
    if (!evict_one (self, def, rows[i], at, error))
      {
        txn_rollback (self);
        return FALSE;
      }
  self->counts_dirty = TRUE;
  return txn_commit (self, error);
}

gboolean
mh_store_is_evicted (MhStore *self, const char *table, const char *row)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  return self->n_evicted > 0 && row_is_evicted (self, table, row);
}

guint
mh_store_get_evicted_count (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->n_evicted;
}

/**
 * mh_store_get_reused_seq_count:
 *
 * Returns: how many changes from peers were refused since the store was
 *   opened because their origin had signed another change with the same
 *   sequence number (a misbehaving site, or a revoked key in use)
 */
guint64
mh_store_get_reused_seq_count (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->n_reused_oseq;
}

guint64
mh_store_get_dropped_evicted_count (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->n_dropped_evicted;
}

/**
 * mh_store_get_row_lseq:
 * @skip_origins: (nullable) (array zero-terminated=1): origins whose
 *   changes do not count
 *
 * Returns: the highest local sequence number carried by the row's
 *   registers (or its tombstone) written by other origins than
 *   @skip_origins; 0 when there is none, or no row. A peer that
 *   acknowledged the row's lane up to it holds the row as it is here, but
 *   for its own changes, which are never sent back to it.
 */
gint64
mh_store_get_row_lseq (MhStore *self, const char *table, const char *row,
                       const char *const *skip_origins)
{
  const MhTableDef *def;
  g_autoptr(MhRow) loaded = NULL;
  gint64 lseq = 0;
  Tomb tomb;

  g_return_val_if_fail (MH_IS_STORE (self), 0);

  def = mh_schema_lookup_table (self->schema, table);
  if (def == NULL || !load_row (self, def, row, &loaded, NULL))
    return 0;
  if (loaded != NULL)
    for (guint i = 0; i < def->registers->len; i++)
      if (loaded->meta[i].hlc != 0
          && !(skip_origins != NULL
               && g_strv_contains (skip_origins, site_name (self, loaded->meta[i].origin))))
        lseq = MAX (lseq, loaded->meta[i].lseq);
  if (tomb_lookup (self, def, row, &tomb))
    {
      if (!(skip_origins != NULL && g_strv_contains (skip_origins, site_name (self, tomb.origin))))
        lseq = MAX (lseq, tomb.lseq);
      tomb_clear (&tomb);
    }
  {
    g_autoptr(sqlite3_stmt) stmt = prepare_once (self, "SELECT lseq, origin FROM _mh_foreign "
                                                       "WHERE tbl = ? AND row = ?");
    if (stmt != NULL)
      {
        sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, row, -1, SQLITE_STATIC);
        while (sqlite3_step (stmt) == SQLITE_ROW)
          if (!(skip_origins != NULL
                && g_strv_contains (skip_origins, (const char *) sqlite3_column_text (stmt, 1))))
            lseq = MAX (lseq, sqlite3_column_int64 (stmt, 0));
      }
  }
  return lseq;
}

/* ------------------------------------------------------------------------ */
/* Gaps and withholding                                                     */

/* Gaps kept at most, oldest dropped first: holes left by changes that
 * lost before anyone here saw them are common and need no answer. */
#define MAX_GAPS 10000

void
mh_gap_free (MhGap *gap)
{
  if (gap == NULL)
    return;
  g_free (gap->origin);
  g_free (gap->via);
  g_free (gap->settled_by);
  g_free (gap);
}

void
mh_withheld_free (MhWithheld *withheld)
{
  if (withheld == NULL)
    return;
  g_free (withheld->peer);
  g_free (withheld->origin);
  g_free (withheld);
}

typedef struct
{
  gint64 first, last;
  guint via, settled;
  gint64 noticed, asked;
  guint tries;
} GapRow;

static gboolean
gap_insert (MhStore *self, guint origin, const GapRow *row, GError **error)
{
  g_autoptr(MhCachedStmt) stmt =
    prepare_cached (self, "INSERT OR REPLACE INTO _mh_gap (origin, first, last, via, settled, "
                          "noticed, asked, tries) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "recording a gap");
  sqlite3_bind_int64 (stmt, 1, origin);
  sqlite3_bind_int64 (stmt, 2, row->first);
  sqlite3_bind_int64 (stmt, 3, row->last);
  sqlite3_bind_int64 (stmt, 4, row->via);
  sqlite3_bind_int64 (stmt, 5, row->settled);
  sqlite3_bind_int64 (stmt, 6, row->noticed);
  sqlite3_bind_int64 (stmt, 7, row->asked);
  sqlite3_bind_int64 (stmt, 8, row->tries);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "recording a gap");
  self->n_gaps++;
  return TRUE;
}

/* Cuts @a..@b out of @origin's gaps: gone when @settled_by is 0 (the
 * changes arrived), else marked explained by that peer. The gaps that
 * overlapped go to @overlapped (GapRow), as they were. */
static gboolean
gap_carve (MhStore *self, guint origin, gint64 a, gint64 b, guint settled_by, GArray *overlapped,
           GError **error)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  g_autoptr(GArray) rows = g_array_new (FALSE, FALSE, sizeof (GapRow));

  stmt = prepare_cached (self, "SELECT first, last, via, settled, noticed, asked, tries "
                               "FROM _mh_gap WHERE origin = ? AND first <= ? AND last >= ?");
  if (stmt == NULL)
    return set_sqlite_error (self, error, "reading gaps");
  sqlite3_bind_int64 (stmt, 1, origin);
  sqlite3_bind_int64 (stmt, 2, b);
  sqlite3_bind_int64 (stmt, 3, a);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      GapRow row = {
        .first = sqlite3_column_int64 (stmt, 0),
        .last = sqlite3_column_int64 (stmt, 1),
        .via = (guint) sqlite3_column_int64 (stmt, 2),
        .settled = (guint) sqlite3_column_int64 (stmt, 3),
        .noticed = sqlite3_column_int64 (stmt, 4),
        .asked = sqlite3_column_int64 (stmt, 5),
        .tries = (guint) sqlite3_column_int64 (stmt, 6),
      };
      g_array_append_val (rows, row);
    }
  g_clear_pointer (&stmt, cached_release);

  for (guint i = 0; i < rows->len; i++)
    {
      const GapRow *row = &g_array_index (rows, GapRow, i);
      GapRow part = *row;

      stmt = prepare_cached (self, "DELETE FROM _mh_gap WHERE origin = ? AND first = ?");
      if (stmt == NULL)
        return set_sqlite_error (self, error, "closing a gap");
      sqlite3_bind_int64 (stmt, 1, origin);
      sqlite3_bind_int64 (stmt, 2, row->first);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        return set_sqlite_error (self, error, "closing a gap");
      g_clear_pointer (&stmt, cached_release);
      self->n_gaps = self->n_gaps > 0 ? self->n_gaps - 1 : 0;

      if (row->first < a)
        {
          part.last = a - 1;
          if (!gap_insert (self, origin, &part, error))
            return FALSE;
        }
      if (row->last > b)
        {
          part.first = b + 1;
          part.last = row->last;
          if (!gap_insert (self, origin, &part, error))
            return FALSE;
        }
      if (settled_by != 0)
        {
          part.first = MAX (row->first, a);
          part.last = MIN (row->last, b);
          part.settled = row->settled != 0 ? row->settled : settled_by;
          if (!gap_insert (self, origin, &part, error))
            return FALSE;
        }
      if (overlapped != NULL)
        g_array_append_val (overlapped, *row);
    }
  return TRUE;
}

static gboolean
withheld_charge (MhStore *self, guint via, guint origin, gint64 oseq, GError **error)
{
  g_autoptr(MhCachedStmt) stmt =
    prepare_cached (self, "INSERT INTO _mh_withheld (via, n, last_at, origin, oseq) "
                          "VALUES (?1, 1, ?2, ?3, ?4) ON CONFLICT (via) DO UPDATE SET "
                          "n = n + 1, last_at = ?2, origin = ?3, oseq = ?4");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "recording a withheld change");
  sqlite3_bind_int64 (stmt, 1, via);
  sqlite3_bind_int64 (stmt, 2, g_get_real_time () / 1000);
  sqlite3_bind_int64 (stmt, 3, origin);
  sqlite3_bind_int64 (stmt, 4, oseq);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "recording a withheld change");
  /* Sites and numbers only: the change may be patient data. */
  g_message ("peer %s could not account for number %" G_GINT64_FORMAT " of site %s, which "
             "another peer brought and which holds here: it may be withholding",
             site_name (self, via), oseq, site_name (self, origin));
  return TRUE;
}

enum
{
  SUSPECT_PASSED_OVER = 0, /* brought the origin's later changes, not this one */
  SUSPECT_EXPLAINED = 1,   /* said it had seen it lose, or that it was not for us */
};

static gboolean
suspect_add (MhStore *self, guint peer, guint origin, gint64 oseq, int kind, GError **error)
{
  g_autoptr(MhCachedStmt) stmt =
    prepare_cached (self, "INSERT OR IGNORE INTO _mh_suspect (peer, origin, oseq, kind, since) "
                          "VALUES (?, ?, ?, ?, ?)");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "recording a suspicion");
  sqlite3_bind_int64 (stmt, 1, peer);
  sqlite3_bind_int64 (stmt, 2, origin);
  sqlite3_bind_int64 (stmt, 3, oseq);
  sqlite3_bind_int64 (stmt, 4, kind);
  sqlite3_bind_int64 (stmt, 5, g_get_real_time () / 1000);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "recording a suspicion");
  return TRUE;
}

/* A change of @origin under @oseq arrived: it closes its gap. One that
 * wins here, after the gap's peers were asked, from another peer than the
 * one that passed on the origin's later changes, or than the one that
 * explained the gap away, may have been withheld or explained wrongly by
 * them; or the relay got it late, by another path, or lost it to a newer
 * change this node has not seen yet. They are asked again before anyone
 * is counted (mh_store_judge()). */
static gboolean
gap_fill (MhStore *self, guint origin, gint64 oseq, gboolean won, GError **error)
{
  g_autoptr(GArray) overlapped = g_array_new (FALSE, FALSE, sizeof (GapRow));

  if (!gap_carve (self, origin, oseq, oseq, 0, overlapped, error))
    return FALSE;
  for (guint i = 0; won && i < overlapped->len; i++)
    {
      const GapRow *row = &g_array_index (overlapped, GapRow, i);

      if (row->tries == 0 || self->via_index == 0)
        continue;
      if (row->via != 0 && row->via != self->via_index
          && !suspect_add (self, row->via, origin, oseq, SUSPECT_PASSED_OVER, error))
        return FALSE;
      if (row->settled != 0 && row->settled != self->via_index && row->settled != row->via
          && !suspect_add (self, row->settled, origin, oseq, SUSPECT_EXPLAINED, error))
        return FALSE;
    }
  return TRUE;
}

/**
 * mh_store_scan_gaps:
 * @now_ms: the time to note new gaps at
 * @keep_ms: gaps noticed longer ago than this are forgotten
 *
 * Looks for holes in the sequence numbers of every peer origin's changes
 * received since the last scan (changes that passed their checks here,
 * see `_mh_oseq`), and records each as a gap, with the peer that brought
 * the change after it. A hole may be a change that lost to a newer one
 * before it reached any peer of this node, one this node may not see, one
 * still on its way, or one a relay withheld: its peers are asked (see
 * mh_store_answer_gap()).
 */
gboolean
mh_store_scan_gaps (MhStore *self, gint64 now_ms, gint64 keep_ms, GError **error)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);

  if (!txn_begin (self, error))
    return FALSE;
  {
    g_autoptr(MhCachedStmt) stmt = prepare_cached (self, "DELETE FROM _mh_gap WHERE noticed < ?");

    if (stmt == NULL)
      goto fail_sql;
    sqlite3_bind_int64 (stmt, 1, now_ms - keep_ms);
    if (sqlite3_step (stmt) != SQLITE_DONE)
      goto fail_sql;
    if (sqlite3_changes (self->db) > 0)
      self->n_gaps = (guint) count_rows (self, "_mh_gap");
    g_clear_pointer (&stmt, cached_release);
    stmt = prepare_cached (self, "DELETE FROM _mh_suspect WHERE since < ?");
    if (stmt == NULL)
      goto fail_sql;
    sqlite3_bind_int64 (stmt, 1, now_ms - keep_ms);
    if (sqlite3_step (stmt) != SQLITE_DONE)
      goto fail_sql;
  }
  for (guint origin = 1; origin < self->site_names->len; origin++)
    {
      g_autoptr(MhCachedStmt) stmt = NULL;
      gint64 mark = 0, top = 0, prev;

      if (origin == self->site_index || g_ptr_array_index (self->site_names, origin) == NULL)
        continue;
      stmt = prepare_cached (self, "SELECT (SELECT checked FROM _mh_gapmark WHERE origin = ?1), "
                                   "(SELECT max(oseq) FROM _mh_oseq WHERE origin = ?1)");
      if (stmt == NULL)
        goto fail_sql;
      sqlite3_bind_int64 (stmt, 1, origin);
      if (sqlite3_step (stmt) == SQLITE_ROW)
        {
          mark = sqlite3_column_int64 (stmt, 0);
          top = sqlite3_column_int64 (stmt, 1);
        }
      g_clear_pointer (&stmt, cached_release);
      if (top <= mark)
        continue;

      prev = mark;
      stmt = prepare_cached (self, "SELECT oseq, via FROM _mh_oseq WHERE origin = ? AND oseq > ? "
                                   "ORDER BY oseq");
      if (stmt == NULL)
        goto fail_sql;
      sqlite3_bind_int64 (stmt, 1, origin);
      sqlite3_bind_int64 (stmt, 2, mark);
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          gint64 oseq = sqlite3_column_int64 (stmt, 0);

          if (oseq > prev + 1)
            {
              GapRow row = { .first = prev + 1, .last = oseq - 1,
                             .via = (guint) sqlite3_column_int64 (stmt, 1),
                             .noticed = now_ms };

              if (!gap_insert (self, origin, &row, error))
                goto fail;
            }
          prev = oseq;
        }
      g_clear_pointer (&stmt, cached_release);
      stmt = prepare_cached (self, "INSERT OR REPLACE INTO _mh_gapmark (origin, checked) "
                                   "VALUES (?, ?)");
      if (stmt == NULL)
        goto fail_sql;
      sqlite3_bind_int64 (stmt, 1, origin);
      sqlite3_bind_int64 (stmt, 2, prev);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        goto fail_sql;
    }
  if (self->n_gaps > MAX_GAPS)
    {
      g_autoptr(MhCachedStmt) stmt =
        prepare_cached (self, "DELETE FROM _mh_gap WHERE (origin, first) IN (SELECT origin, "
                              "first FROM _mh_gap ORDER BY noticed, origin, first LIMIT ?)");

      if (stmt == NULL)
        goto fail_sql;
      sqlite3_bind_int64 (stmt, 1, self->n_gaps - MAX_GAPS);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        goto fail_sql;
      self->n_gaps = MAX_GAPS;
    }
  return txn_commit (self, error);

fail_sql:
  set_sqlite_error (self, error, "scanning for gaps");
fail:
  txn_rollback (self);
  return FALSE;
}

/**
 * mh_store_get_gaps:
 * @unsettled_only: leave out the gaps a peer explained
 * @limit: at most this many, oldest first
 *
 * Returns: (transfer full) (element-type MhGap): the gaps; %NULL on a
 *   storage failure
 */
GPtrArray *
mh_store_get_gaps (MhStore *self, gboolean unsettled_only, guint limit, GError **error)
{
  g_autoptr(GPtrArray) gaps = NULL;
  g_autoptr(MhCachedStmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (self), NULL);

  gaps = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_gap_free);
  if (self->n_gaps == 0)
    return g_steal_pointer (&gaps);
  stmt = prepare_cached (self, unsettled_only
                                 ? "SELECT origin, first, last, via, settled, noticed, asked, "
                                   "tries FROM _mh_gap WHERE settled = 0 "
                                   "ORDER BY noticed, origin, first LIMIT ?"
                                 : "SELECT origin, first, last, via, settled, noticed, asked, "
                                   "tries FROM _mh_gap ORDER BY noticed, origin, first LIMIT ?");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "reading gaps");
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, limit);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      MhGap *gap = g_new0 (MhGap, 1);
      guint via = (guint) sqlite3_column_int64 (stmt, 3);
      guint settled = (guint) sqlite3_column_int64 (stmt, 4);

      gap->origin = g_strdup (site_name (self, (guint) sqlite3_column_int64 (stmt, 0)));
      gap->first = sqlite3_column_int64 (stmt, 1);
      gap->last = sqlite3_column_int64 (stmt, 2);
      gap->via = via != 0 ? g_strdup (site_name (self, via)) : NULL;
      gap->settled_by = settled != 0 ? g_strdup (site_name (self, settled)) : NULL;
      gap->noticed_ms = sqlite3_column_int64 (stmt, 5);
      gap->asked_ms = sqlite3_column_int64 (stmt, 6);
      gap->tries = (guint) sqlite3_column_int64 (stmt, 7);
      g_ptr_array_add (gaps, gap);
    }
  return g_steal_pointer (&gaps);
}

/**
 * mh_store_note_gaps_asked:
 * @gaps: (element-type MhGap): gaps just asked of the peers
 *
 * Counts one more asking of each of @gaps, at @now_ms.
 */
gboolean
mh_store_note_gaps_asked (MhStore *self, GPtrArray *gaps, gint64 now_ms, GError **error)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);

  if (gaps->len == 0)
    return TRUE;
  if (!txn_begin (self, error))
    return FALSE;
  for (guint i = 0; i < gaps->len; i++)
    {
      const MhGap *gap = g_ptr_array_index (gaps, i);
      g_autoptr(MhCachedStmt) stmt = NULL;
      gpointer origin;

      if (!g_hash_table_lookup_extended (self->site_by_name, gap->origin, NULL, &origin))
        continue;
      stmt = prepare_cached (self, "UPDATE _mh_gap SET asked = ?, tries = tries + 1 "
                                   "WHERE origin = ? AND first = ?");
      if (stmt == NULL)
        goto fail;
      sqlite3_bind_int64 (stmt, 1, now_ms);
      sqlite3_bind_int64 (stmt, 2, GPOINTER_TO_UINT (origin));
      sqlite3_bind_int64 (stmt, 3, gap->first);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        goto fail;
    }
  return txn_commit (self, error);

fail:
  set_sqlite_error (self, error, "recording a question");
  txn_rollback (self);
  return FALSE;
}

/**
 * mh_store_settle_gap:
 * @peer: the peer that explained the changes @first..@last of @origin
 *
 * Marks those changes explained: @peer saw them, and they lost to newer
 * ones or are not for this site. Should one of them arrive later from
 * another peer and win here, @peer's explanation did not hold, and it is
 * counted as withholding.
 */
gboolean
mh_store_settle_gap (MhStore *self, const char *origin, gint64 first, gint64 last,
                     const char *peer, GError **error)
{
  gpointer origin_index;
  guint peer_index;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (origin != NULL && peer != NULL, FALSE);

  if (self->n_gaps == 0 || first > last
      || !g_hash_table_lookup_extended (self->site_by_name, origin, NULL, &origin_index))
    return TRUE;
  if (!txn_begin (self, error))
    return FALSE;
  if ((peer_index = site_index (self, peer, error)) == 0
      || !gap_carve (self, GPOINTER_TO_UINT (origin_index), first, last, peer_index, NULL, error))
    {
      txn_rollback (self);
      return FALSE;
    }
  return txn_commit (self, error);
}

static void
explain (GArray *explained, gint64 oseq)
{
  gint64 *last_pair = explained->len >= 2 ? &g_array_index (explained, gint64, explained->len - 2)
                                          : NULL;

  if (last_pair != NULL && last_pair[1] + 1 == oseq)
    last_pair[1] = oseq;
  else
    {
      g_array_append_val (explained, oseq);
      g_array_append_val (explained, oseq);
    }
}

static const char *
table_name_by_index (MhStore *self, gint64 db_index)
{
  for (guint i = 0; i < mh_schema_get_n_tables (self->schema); i++)
    if (self->tables[i].db_index == db_index)
      return mh_schema_get_table (self->schema, i)->name;
  return NULL;
}

/* @oseq, written by @origin to @row of @table, seen here: into @found
 * when it still holds there and @peer may hold it. When it lost, the row
 * as it stands goes instead, once per answer (@rows_sent): an
 * explanation comes with what beat the change, so the asker can tell an
 * honest one (the winner is signed by its origin) from a false one. */
static gboolean
answer_one (MhStore *self, const char *origin, gint64 oseq, const char *table, const char *row,
            const char *peer, GHashTable *rows_sent, GPtrArray *found, GError **error)
{
  g_autoptr(GPtrArray) current = NULL;
  g_autoptr(GPtrArray) pair = NULL;
  char *key;

  if (table == NULL || row == NULL)
    return TRUE;
  current = mh_store_read_row (self, table, row, error);
  if (current == NULL)
    return FALSE;
  for (guint i = 0; i < current->len; i++)
    {
      MhChange *change = g_ptr_array_index (current, i);

      if (change->origin_seq == oseq && g_strcmp0 (change->origin, origin) == 0)
        {
          if (mh_store_get_audience (self, change, peer, NULL) == MH_AUDIENCE_YES)
            g_ptr_array_add (found, mh_change_ref (change));
          return TRUE;
        }
    }
  key = g_strconcat (table, "\x1f", row, NULL);
  if (!g_hash_table_add (rows_sent, key))
    return TRUE;
  pair = g_ptr_array_new ();
  g_ptr_array_add (pair, (gpointer) table);
  g_ptr_array_add (pair, (gpointer) row);
  g_clear_pointer (&current, g_ptr_array_unref);
  current = mh_store_answer_rows (self, pair, peer, error);
  if (current == NULL)
    return FALSE;
  for (guint i = 0; i < current->len; i++)
    g_ptr_array_add (found, mh_change_ref (g_ptr_array_index (current, i)));
  return TRUE;
}

/* This site's own changes: where each went is kept with its seal. */
static gboolean
answer_own (MhStore *self, gint64 first, gint64 last, const char *peer, guint limit,
            GHashTable *rows_sent, GPtrArray *found, GArray *explained, gint64 *out_last,
            GError **error)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  g_autoptr(GPtrArray) runs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_autoptr(GArray) starts = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint seen = 0;

  stmt = prepare_cached (self, "SELECT first_oseq, rows FROM _mh_seal WHERE origin = ? "
                               "AND first_oseq <= ? AND first_oseq + n > ? AND rows IS NOT NULL "
                               "ORDER BY first_oseq LIMIT ?");
  if (stmt == NULL)
    return set_sqlite_error (self, error, "reading seals");
  sqlite3_bind_int64 (stmt, 1, self->site_index);
  sqlite3_bind_int64 (stmt, 2, last);
  sqlite3_bind_int64 (stmt, 3, first);
  sqlite3_bind_int64 (stmt, 4, limit);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 start = sqlite3_column_int64 (stmt, 0);

      g_array_append_val (starts, start);
      g_ptr_array_add (runs, g_strsplit ((const char *) sqlite3_column_text (stmt, 1), "\n", -1));
    }
  g_clear_pointer (&stmt, cached_release);

  for (guint i = 0; i < runs->len; i++)
    {
      char **lines = g_ptr_array_index (runs, i);
      gint64 oseq = g_array_index (starts, gint64, i);

      for (guint j = 0; lines[j] != NULL && lines[j][0] != '\0'; j++)
        {
          g_auto(GStrv) fields = g_strsplit (lines[j], "\t", 3);
          guint64 count;

          if (g_strv_length (fields) != 3)
            break;
          count = g_ascii_strtoull (fields[2], NULL, 10);
          for (guint64 k = 0; k < count; k++, oseq++)
            {
              if (oseq < first || oseq > last)
                continue;
              explain (explained, oseq);
              if (!answer_one (self, self->site_id, oseq,
                               table_name_by_index (self, g_ascii_strtoll (fields[0], NULL, 10)),
                               fields[1], peer, rows_sent, found, error))
                return FALSE;
              if (++seen == limit)
                {
                  *out_last = oseq;
                  return TRUE;
                }
            }
        }
    }
  return TRUE;
}

/**
 * mh_store_answer_gap:
 * @peer: the peer that asks
 * @limit: at most this many of the changes seen here are looked at
 * @explained: (element-type gint64): receives pairs first, last of the
 *   numbers this node can account for: seen here, and sent back, or lost
 *   to newer changes, or not for @peer
 * @out_last: (out): the answer covers @first up to this number (less than
 *   @last when @limit was reached)
 *
 * A peer's question about the changes @first..@last of @origin.
 *
 * Returns: (transfer full) (element-type MhChange): the ones still held
 *   here that @peer may hold, as their origin signed them; %NULL on a
 *   storage failure
 */
GPtrArray *
mh_store_answer_gap (MhStore *self, const char *origin, gint64 first, gint64 last,
                     const char *peer, guint limit, GArray *explained, gint64 *out_last,
                     GError **error)
{
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(MhCachedStmt) stmt = NULL;
  g_autoptr(GHashTable) rows_sent = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gpointer origin_index;
  guint seen = 0;

  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  g_return_val_if_fail (origin != NULL && peer != NULL && explained != NULL, NULL);

  found = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  *out_last = last;
  if (first > last || limit == 0
      || !g_hash_table_lookup_extended (self->site_by_name, origin, NULL, &origin_index))
    return g_steal_pointer (&found);

  if (GPOINTER_TO_UINT (origin_index) == self->site_index)
    {
      if (!answer_own (self, first, last, peer, limit, rows_sent, found, explained, out_last,
                       error))
        return NULL;
      return g_steal_pointer (&found);
    }
  stmt = prepare_cached (self, "SELECT o.oseq, t.name, o.row FROM _mh_oseq o "
                               "LEFT JOIN _mh_tables t ON t.idx = o.tbl "
                               "WHERE o.origin = ? AND o.oseq BETWEEN ? AND ? "
                               "ORDER BY o.oseq LIMIT ?");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "reading sequence numbers");
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, GPOINTER_TO_UINT (origin_index));
  sqlite3_bind_int64 (stmt, 2, first);
  sqlite3_bind_int64 (stmt, 3, last);
  sqlite3_bind_int64 (stmt, 4, limit);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 oseq = sqlite3_column_int64 (stmt, 0);

      if (++seen == limit)
        *out_last = oseq;
      explain (explained, oseq);
      /* Without table and row (recorded before this node kept them): seen,
       * no more. */
      if (!answer_one (self, origin, oseq, (const char *) sqlite3_column_text (stmt, 1),
                       (const char *) sqlite3_column_text (stmt, 2), peer, rows_sent, found,
                       error))
        return NULL;
    }
  g_clear_pointer (&stmt, cached_release);
  /* What this node's own peers accounted for, it can account for too: a
   * change that lost at its origin before any relay saw it is explained
   * by the origin to its direct peers, and by them onwards. */
  if (self->n_gaps > 0)
    {
      stmt = prepare_cached (self, "SELECT first, last FROM _mh_gap WHERE origin = ? "
                                   "AND settled != 0 AND first <= ? AND last >= ?");
      if (stmt == NULL)
        {
          set_sqlite_error (self, error, "reading gaps");
          return NULL;
        }
      sqlite3_bind_int64 (stmt, 1, GPOINTER_TO_UINT (origin_index));
      sqlite3_bind_int64 (stmt, 2, *out_last);
      sqlite3_bind_int64 (stmt, 3, first);
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          gint64 a = MAX (first, sqlite3_column_int64 (stmt, 0));
          gint64 b = MIN (*out_last, sqlite3_column_int64 (stmt, 1));

          g_array_append_val (explained, a);
          g_array_append_val (explained, b);
        }
    }
  return g_steal_pointer (&found);
}

/**
 * mh_store_apply_fetched:
 * @peer: the peer that sent @changes in answer to a question
 *
 * Applies changes a peer sent outside its log order (an answer about a
 * gap): like mh_store_apply_from_peer(), but no cursor moves.
 */
gboolean
mh_store_apply_fetched (MhStore *self, GPtrArray *changes, const char *peer,
                        MhApplyReport *report, GError **error)
{
  MhApplyReport local_report = { 0 };
  gboolean was_applying = self->applying_peer;
  gboolean ok;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (changes != NULL && peer != NULL, FALSE);

  self->applying_peer = TRUE;
  ok = apply_batch (self, changes, peer, 0, NULL, report ? report : &local_report, error);
  self->applying_peer = was_applying;
  return ok;
}

/**
 * mh_store_get_withheld:
 *
 * Returns: (transfer full) (element-type MhWithheld): the peers whose gaps
 *   another peer filled with changes that won here, most first; %NULL on a
 *   storage failure
 */
GPtrArray *
mh_store_get_withheld (MhStore *self, GError **error)
{
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(MhCachedStmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (self), NULL);

  list = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_withheld_free);
  stmt = prepare_cached (self, "SELECT via, n, last_at, origin, oseq FROM _mh_withheld "
                               "ORDER BY n DESC, via");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "reading withheld changes");
      return NULL;
    }
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      MhWithheld *w = g_new0 (MhWithheld, 1);

      w->peer = g_strdup (site_name (self, (guint) sqlite3_column_int64 (stmt, 0)));
      w->count = sqlite3_column_int64 (stmt, 1);
      w->last_ms = sqlite3_column_int64 (stmt, 2);
      w->origin = g_strdup (site_name (self, (guint) sqlite3_column_int64 (stmt, 3)));
      w->oseq = sqlite3_column_int64 (stmt, 4);
      g_ptr_array_add (list, w);
    }
  return g_steal_pointer (&list);
}

/**
 * mh_store_get_suspects:
 * @peer: a peer's site id
 * @limit: at most this many, oldest first
 *
 * The changes @peer is suspected of withholding or explaining away
 * wrongly: another peer filled their gap with a change that won here. Ask
 * @peer about them (first and last are the one number) once it has
 * committed all this node sent it, then pass its answer to
 * mh_store_judge().
 *
 * Returns: (transfer full) (element-type MhGap): @via is @peer;
 *   @settled_by too when it explained the gap away; %NULL on a storage
 *   failure
 */
GPtrArray *
mh_store_get_suspects (MhStore *self, const char *peer, guint limit, GError **error)
{
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(MhCachedStmt) stmt = NULL;
  gpointer index;

  g_return_val_if_fail (MH_IS_STORE (self), NULL);
  g_return_val_if_fail (peer != NULL, NULL);

  list = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_gap_free);
  if (!g_hash_table_lookup_extended (self->site_by_name, peer, NULL, &index))
    return g_steal_pointer (&list);
  stmt = prepare_cached (self, "SELECT origin, oseq, max(kind), min(since) FROM _mh_suspect "
                               "WHERE peer = ? GROUP BY origin, oseq ORDER BY 4, 1, 2 LIMIT ?");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "reading suspicions");
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, GPOINTER_TO_UINT (index));
  sqlite3_bind_int64 (stmt, 2, limit);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      MhGap *gap = g_new0 (MhGap, 1);

      gap->origin = g_strdup (site_name (self, (guint) sqlite3_column_int64 (stmt, 0)));
      gap->first = gap->last = sqlite3_column_int64 (stmt, 1);
      gap->via = g_strdup (peer);
      gap->settled_by = sqlite3_column_int64 (stmt, 2) == SUSPECT_EXPLAINED ? g_strdup (peer)
                                                                            : NULL;
      gap->noticed_ms = sqlite3_column_int64 (stmt, 3);
      g_ptr_array_add (list, gap);
    }
  return g_steal_pointer (&list);
}

/* Whether the change @oseq of @origin is what its row (or register) holds
 * here. */
static gboolean
change_holds (MhStore *self, guint origin, gint64 oseq, gboolean *holds, GError **error)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  g_autofree char *row = NULL;
  g_autoptr(GPtrArray) current = NULL;
  const MhTableDef *table = NULL;
  Tomb tomb;

  *holds = FALSE;
  stmt = prepare_cached (self, "SELECT tbl, row FROM _mh_oseq WHERE origin = ? AND oseq = ?");
  if (stmt == NULL)
    return set_sqlite_error (self, error, "reading sequence numbers");
  sqlite3_bind_int64 (stmt, 1, origin);
  sqlite3_bind_int64 (stmt, 2, oseq);
  if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_type (stmt, 0) != SQLITE_NULL)
    {
      const char *name = table_name_by_index (self, sqlite3_column_int64 (stmt, 0));

      table = name != NULL ? mh_schema_lookup_table (self->schema, name) : NULL;
      row = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
    }
  g_clear_pointer (&stmt, cached_release);
  if (table == NULL || row == NULL)
    return TRUE;
  if (tomb_lookup (self, table, row, &tomb))
    {
      *holds = tomb.origin == origin && tomb.oseq == oseq;
      tomb_clear (&tomb);
      return TRUE;
    }
  current = mh_store_read_row (self, table->name, row, error);
  if (current == NULL)
    return FALSE;
  for (guint i = 0; i < current->len && !*holds; i++)
    {
      const MhChange *change = g_ptr_array_index (current, i);

      *holds = change->origin_seq == oseq
               && g_strcmp0 (change->origin, site_name (self, origin)) == 0;
    }
  return TRUE;
}

/**
 * mh_store_judge:
 * @peer: the peer that answered
 * @origin: the site the answer is about
 * @first: the answer covers @first ...
 * @last: ... up to @last
 * @explained: (element-type gint64): pairs first, last of the numbers
 *   @peer accounted for in its answer (the changes it sent with the answer
 *   are applied already)
 *
 * Settles the suspicions about @peer that its answer covers. A change that
 * no longer holds here clears it (it lost, as the peer may have said). One
 * that still holds counts against @peer when @peer explained it away, or,
 * having passed over it, still cannot account for it: after committing
 * everything this node sent it, which held that change, an honest relay
 * has it.
 */
gboolean
mh_store_judge (MhStore *self, const char *peer, const char *origin, gint64 first, gint64 last,
                GArray *explained, GError **error)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  g_autoptr(GArray) numbers = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) kinds = g_array_new (FALSE, FALSE, sizeof (int));
  gpointer peer_index, origin_index;
  gint64 charged = 0;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (peer != NULL && origin != NULL && explained != NULL, FALSE);

  if (!g_hash_table_lookup_extended (self->site_by_name, peer, NULL, &peer_index)
      || !g_hash_table_lookup_extended (self->site_by_name, origin, NULL, &origin_index))
    return TRUE;
  stmt = prepare_cached (self, "SELECT oseq, kind FROM _mh_suspect WHERE peer = ? AND origin = ? "
                               "AND oseq BETWEEN ? AND ? ORDER BY oseq, kind");
  if (stmt == NULL)
    return set_sqlite_error (self, error, "reading suspicions");
  sqlite3_bind_int64 (stmt, 1, GPOINTER_TO_UINT (peer_index));
  sqlite3_bind_int64 (stmt, 2, GPOINTER_TO_UINT (origin_index));
  sqlite3_bind_int64 (stmt, 3, first);
  sqlite3_bind_int64 (stmt, 4, last);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 oseq = sqlite3_column_int64 (stmt, 0);
      int kind = sqlite3_column_int (stmt, 1);

      g_array_append_val (numbers, oseq);
      g_array_append_val (kinds, kind);
    }
  g_clear_pointer (&stmt, cached_release);
  if (numbers->len == 0)
    return TRUE;

  if (!txn_begin (self, error))
    return FALSE;
  for (guint i = 0; i < numbers->len; i++)
    {
      gint64 oseq = g_array_index (numbers, gint64, i);
      int kind = g_array_index (kinds, int, i);
      gboolean holds, accounted = FALSE;

      if (!change_holds (self, GPOINTER_TO_UINT (origin_index), oseq, &holds, error))
        goto fail;
      for (guint j = 0; j + 1 < explained->len && !accounted; j += 2)
        accounted = g_array_index (explained, gint64, j) <= oseq
                    && oseq <= g_array_index (explained, gint64, j + 1);
      /* Once per change, whatever the peer is suspected of. */
      if (holds && (kind == SUSPECT_EXPLAINED || !accounted) && oseq != charged)
        {
          if (!withheld_charge (self, GPOINTER_TO_UINT (peer_index),
                                GPOINTER_TO_UINT (origin_index), oseq, error))
            goto fail;
          charged = oseq;
        }
      stmt = prepare_cached (self, "DELETE FROM _mh_suspect WHERE peer = ? AND origin = ? "
                                   "AND oseq = ? AND kind = ?");
      if (stmt == NULL)
        goto fail_sql;
      sqlite3_bind_int64 (stmt, 1, GPOINTER_TO_UINT (peer_index));
      sqlite3_bind_int64 (stmt, 2, GPOINTER_TO_UINT (origin_index));
      sqlite3_bind_int64 (stmt, 3, oseq);
      sqlite3_bind_int64 (stmt, 4, kind);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        goto fail_sql;
      g_clear_pointer (&stmt, cached_release);
    }
  return txn_commit (self, error);

fail_sql:
  set_sqlite_error (self, error, "settling a suspicion");
fail:
  txn_rollback (self);
  return FALSE;
}

/* Gaps recorded, explained or not. */
guint
mh_store_get_gap_count (MhStore *self)
{
  g_return_val_if_fail (MH_IS_STORE (self), 0);
  return self->n_gaps;
}

/* ------------------------------------------------------------------------ */
/* Revocation, retroactively                                                */

static gboolean
refetch_add (MhStore *self, const char *table, const char *row, GError **error)
{
  g_autoptr(MhCachedStmt) stmt =
    prepare_cached (self, "INSERT OR REPLACE INTO _mh_refetch (tbl, row, added, tries) "
                          "VALUES (?, ?, ?, 0)");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "recording a row to ask about");
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, row, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time () / 1000);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "recording a row to ask about");
  return TRUE;
}

/* Empties the registers of @id that @origin wrote past @cutoff; the row
 * goes when nothing of it is left. */
static gboolean
forget_in_row (MhStore *self, const MhTableDef *table, const char *id, guint origin,
               gint64 cutoff, guint *n_taken, GError **error)
{
  g_autoptr(MhRow) row = NULL;
  gboolean changed = FALSE;
  guint live = 0;

  if (!load_row (self, table, id, &row, error))
    return FALSE;
  if (row == NULL)
    return TRUE;
  for (guint i = 0; i < table->registers->len; i++)
    {
      const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);
      MhRegMeta *meta = &row->meta[i];
      gint64 old_lseq = meta->lseq;

      if (meta->hlc == 0)
        continue;
      if (meta->origin != origin || meta->oseq <= cutoff)
        {
          live++;
          continue;
        }
      digest_register (self, row, i, -1);
      g_clear_pointer (&meta->sig, g_bytes_unref);
      memset (meta, 0, sizeof *meta);
      for (guint c = 0; c < reg->n_columns; c++)
        cell_clear (&row->cells[reg->first_column + c]);
      if (!lseq_in_use (row, old_lseq) && !log_delete (self, table->lane, old_lseq, error))
        return FALSE;
      changed = TRUE;
      (*n_taken)++;
    }
  if (!changed)
    return TRUE;
  if (live == 0)
    {
      sqlite3_bind_int64 (self->tables[table->index].delete, 1, row->rid);
      if (sqlite3_step (self->tables[table->index].delete) != SQLITE_DONE)
        {
          sqlite3_reset (self->tables[table->index].delete);
          return set_sqlite_error (self, error, "taking back a row");
        }
      sqlite3_reset (self->tables[table->index].delete);
    }
  else if (!store_row (self, row, error))
    return FALSE;
  touch (self, table, id);
  return refetch_add (self, table->name, id, error);
}

/**
 * mh_store_forget_after:
 * @origin: a revoked site
 * @cutoff: its changes numbered past this are refused
 * @out_taken: (out) (optional): how many changes were taken back
 *
 * Revocation holds for what this replica applied before it knew of it:
 * every register @origin wrote past @cutoff is emptied (a row with nothing
 * left goes), and every row it deleted past @cutoff loses its tombstone.
 * Each such row is kept to be asked of the peers (see
 * mh_store_get_refetch()): those that never applied the revoked changes
 * send it as they hold it, and last-writer-wins puts back what each
 * register held before, as on every node.
 */
gboolean
mh_store_forget_after (MhStore *self, const char *origin, gint64 cutoff, guint *out_taken,
                       GError **error)
{
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GArray) tombs = NULL;
  g_autoptr(MhCachedStmt) stmt = NULL;
  gpointer origin_index;
  guint taken = 0;

  g_return_val_if_fail (MH_IS_STORE (self), FALSE);
  g_return_val_if_fail (origin != NULL, FALSE);

  if (out_taken != NULL)
    *out_taken = 0;
  if (!g_hash_table_lookup_extended (self->site_by_name, origin, NULL, &origin_index)
      || GPOINTER_TO_UINT (origin_index) == self->site_index)
    return TRUE;
  if (!txn_begin (self, error))
    return FALSE;
  if (!flush_pending (self, error))
    goto fail;

  /* Where its changes went, as recorded when they were applied. */
  rows = g_ptr_array_new_with_free_func (g_free);
  stmt = prepare_cached (self, "SELECT DISTINCT t.name, o.row FROM _mh_oseq o "
                               "JOIN _mh_tables t ON t.idx = o.tbl "
                               "WHERE o.origin = ? AND o.oseq > ? AND o.row IS NOT NULL");
  if (stmt == NULL)
    goto fail_sql;
  sqlite3_bind_int64 (stmt, 1, GPOINTER_TO_UINT (origin_index));
  sqlite3_bind_int64 (stmt, 2, cutoff);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_ptr_array_add (rows, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
      g_ptr_array_add (rows, g_strdup ((const char *) sqlite3_column_text (stmt, 1)));
    }
  g_clear_pointer (&stmt, cached_release);
  for (guint i = 0; i + 1 < rows->len; i += 2)
    {
      const MhTableDef *table = mh_schema_lookup_table (self->schema,
                                                        g_ptr_array_index (rows, i));

      if (table != NULL
          && !forget_in_row (self, table, g_ptr_array_index (rows, i + 1),
                             GPOINTER_TO_UINT (origin_index), cutoff, &taken, error))
        goto fail;
    }

  /* Its deletions: the row comes back as the peers hold it. */
  g_ptr_array_set_size (rows, 0);
  tombs = g_array_new (FALSE, FALSE, sizeof (gint64));
  stmt = prepare_cached (self, "SELECT m.rid, t.name, m.id, m.hlc, m.lseq FROM _mh_tomb m "
                               "JOIN _mh_tables t ON t.idx = m.tbl "
                               "WHERE m.origin = ? AND m.oseq > ?");
  if (stmt == NULL)
    goto fail_sql;
  sqlite3_bind_int64 (stmt, 1, GPOINTER_TO_UINT (origin_index));
  sqlite3_bind_int64 (stmt, 2, cutoff);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 rid = sqlite3_column_int64 (stmt, 0), hlc = sqlite3_column_int64 (stmt, 3);
      gint64 lseq = sqlite3_column_int64 (stmt, 4);

      g_array_append_val (tombs, rid);
      g_array_append_val (tombs, hlc);
      g_array_append_val (tombs, lseq);
      g_ptr_array_add (rows, g_strdup ((const char *) sqlite3_column_text (stmt, 1)));
      g_ptr_array_add (rows, g_strdup ((const char *) sqlite3_column_text (stmt, 2)));
    }
  g_clear_pointer (&stmt, cached_release);
  for (guint i = 0; i + 1 < rows->len; i += 2)
    {
      const MhTableDef *table = mh_schema_lookup_table (self->schema,
                                                        g_ptr_array_index (rows, i));
      const char *id = g_ptr_array_index (rows, i + 1);
      gint64 rid = g_array_index (tombs, gint64, (i / 2) * 3);

      if (table == NULL)
        continue;
      digest_tomb (self, table, id, g_array_index (tombs, gint64, (i / 2) * 3 + 1), origin, -1);
      stmt = prepare_cached (self, "DELETE FROM _mh_tomb WHERE rid = ?");
      if (stmt == NULL)
        goto fail_sql;
      sqlite3_bind_int64 (stmt, 1, rid);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        goto fail_sql;
      g_clear_pointer (&stmt, cached_release);
      self->n_tombs = self->n_tombs > 0 ? self->n_tombs - 1 : 0;
      if (!log_delete (self, table->lane, g_array_index (tombs, gint64, (i / 2) * 3 + 2), error))
        goto fail;
      touch (self, table, id);
      if (!refetch_add (self, table->name, id, error))
        goto fail;
      taken++;
    }
  if (taken > 0)
    g_message ("took back %u changes of revoked site %s numbered after %" G_GINT64_FORMAT,
               taken, origin, cutoff);
  if (out_taken != NULL)
    *out_taken = taken;
  return txn_commit (self, error);

fail_sql:
  set_sqlite_error (self, error, "taking back a revoked site's changes");
fail:
  txn_rollback (self);
  return FALSE;
}

/**
 * mh_store_get_refetch:
 * @limit: at most this many rows
 *
 * Returns: (transfer full) (element-type utf8): table, row, table, row…:
 *   the rows to ask the peers about (mh_store_forget_after()), asked
 *   fewer than @max_tries times
 */
GPtrArray *
mh_store_get_refetch (MhStore *self, guint limit, guint max_tries)
{
  g_autoptr(MhCachedStmt) stmt = NULL;
  GPtrArray *pairs = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (MH_IS_STORE (self), pairs);

  stmt = prepare_cached (self, "SELECT tbl, row FROM _mh_refetch WHERE tries < ? "
                               "ORDER BY added LIMIT ?");
  if (stmt == NULL)
    return pairs;
  sqlite3_bind_int64 (stmt, 1, max_tries);
  sqlite3_bind_int64 (stmt, 2, limit);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_ptr_array_add (pairs, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
      g_ptr_array_add (pairs, g_strdup ((const char *) sqlite3_column_text (stmt, 1)));
    }
  return pairs;
}

/* Counts one asking of each row of @pairs; rows asked @max_tries times go. */
gboolean
mh_store_note_refetch_asked (MhStore *self, GPtrArray *pairs, guint max_tries, GError **error)
{
  g_return_val_if_fail (MH_IS_STORE (self), FALSE);

  if (pairs->len == 0)
    return TRUE;
  if (!txn_begin (self, error))
    return FALSE;
  for (guint i = 0; i + 1 < pairs->len; i += 2)
    {
      g_autoptr(MhCachedStmt) stmt = prepare_cached (self, "UPDATE _mh_refetch SET tries = tries + 1 "
                                                           "WHERE tbl = ? AND row = ?");

      if (stmt == NULL)
        goto fail;
      sqlite3_bind_text (stmt, 1, g_ptr_array_index (pairs, i), -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 2, g_ptr_array_index (pairs, i + 1), -1, SQLITE_STATIC);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        goto fail;
    }
  {
    g_autoptr(MhCachedStmt) stmt = prepare_cached (self, "DELETE FROM _mh_refetch WHERE tries >= ?");

    if (stmt == NULL)
      goto fail;
    sqlite3_bind_int64 (stmt, 1, max_tries);
    if (sqlite3_step (stmt) != SQLITE_DONE)
      goto fail;
  }
  return txn_commit (self, error);

fail:
  set_sqlite_error (self, error, "recording a question");
  txn_rollback (self);
  return FALSE;
}

/**
 * mh_store_answer_rows:
 * @pairs: (element-type utf8): table, row, table, row…
 * @peer: the peer that asks
 *
 * Returns: (transfer full) (element-type MhChange): each row as it stands
 *   here (its registers, or its deletion), as far as @peer may hold it
 */
GPtrArray *
mh_store_answer_rows (MhStore *self, GPtrArray *pairs, const char *peer, GError **error)
{
  g_autoptr(GPtrArray) found = NULL;

  g_return_val_if_fail (MH_IS_STORE (self), NULL);

  found = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  for (guint i = 0; i + 1 < pairs->len; i += 2)
    {
      const char *table_name = g_ptr_array_index (pairs, i);
      const char *id = g_ptr_array_index (pairs, i + 1);
      const MhTableDef *table = mh_schema_lookup_table (self->schema, table_name);
      g_autoptr(GPtrArray) current = NULL;
      Tomb tomb;

      if (table == NULL)
        continue;
      if (tomb_lookup (self, table, id, &tomb))
        {
          MhChange *change = mh_change_new_delete (table->name, id, tomb.hlc,
                                                   site_name (self, tomb.origin), tomb.oseq);

          change->signature = tomb.sig != NULL ? g_bytes_ref (tomb.sig) : NULL;
          change->schema_version = mh_schema_get_version (self->schema);
          attach_seal (self, change, tomb.origin);
          tomb_clear (&tomb);
          if (mh_store_get_audience (self, change, peer, NULL) == MH_AUDIENCE_YES)
            g_ptr_array_add (found, change);
          else
            mh_change_unref (change);
          continue;
        }
      current = mh_store_read_row (self, table_name, id, error);
      if (current == NULL)
        return NULL;
      for (guint j = 0; j < current->len; j++)
        {
          MhChange *change = g_ptr_array_index (current, j);

          if (mh_store_get_audience (self, change, peer, NULL) == MH_AUDIENCE_YES)
            g_ptr_array_add (found, mh_change_ref (change));
        }
    }
  return g_steal_pointer (&found);
}

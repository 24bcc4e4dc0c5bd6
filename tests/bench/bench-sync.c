/* bench-sync.c: what the replicated store costs, against plain SQLite
 *
 * Measures, in one run and on one machine (every baseline is measured in
 * the same run, so the figures are ratios that travel between machines):
 *
 * 1. tracked local writes vs plain SQLite: N inserts then N updates of a
 *    beds-like table, in transactions of 1,000 writes, for synchronous=FULL
 *    (the store's default) and synchronous=NORMAL; plain SQLite uses the same
 *    table shape, the same pragmas and prepared statements;
 * 2. remote changes applied per second: 4N single-register changes over N
 *    rows from a fake origin, applied to a fresh store in batches of 5,000,
 *    directly and through the JSON codec (encode, decode, apply);
 * 3. sync metadata size vs data size, from SQLite's dbstat virtual table
 *    (store file minus the plain file holding the same rows).
 *
 * Not a test: it always exits 0 unless something fails outright. Usage:
 *   bench-sync [--rows N] [--changes N] [--repeat N] [--only writes|apply|size]
 *              [--sync both|full|normal] [--dir DIR]
 * Each measurement runs --repeat times (default 2) on fresh files and the
 * best time is kept, which damps the noise of a shared machine.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mh-sync.h"
#include "mh-test-util.h"

#define TABLE "beds"
#define ORIGIN "site-bench-remote"

typedef struct
{
  guint rows;
  guint changes;
  guint txn_size;
  guint batch_size;
  guint repeat;
  gboolean do_writes;
  gboolean do_apply;
  gboolean do_size;
  gboolean sync_full;
  gboolean sync_normal;
  char *tmpdir;
  char **ids;    /* rows, in insertion order */
  guint stride;  /* update order: row (j * stride) % rows */
  MhSchema *schema;
  guint n_files;
} Bench;

typedef struct
{
  double insert_s;
  double update_s;
  double insert_cpu;
  double update_cpu;
} WriteTimes;

/* ------------------------------------------------------------------------ */
/* Data                                                                     */

static const char *const notes[] = {
  "available",
  "occupied, stable",
  "cleaning in progress",
  "awaiting transfer to ICU",
  "reserved for incoming trauma patient",
  "isolation: suspected infectious case, PPE required",
  "blocked: ventilator under maintenance",
  "occupied, oxygen 2 L/min, reassess at 14:00",
};

static char *
make_id (guint i)
{
  /* Multiplying by an odd constant is a bijection on 32 bits: unique ids,
   * spread over the key space as random ids would be. */
  return g_strdup_printf ("bed-%08x", (guint32) (i * 2654435761u) ^ 0x5bd1e995u);
}

static void
make_note (char *buf, gsize size, guint i, guint pass)
{
  g_snprintf (buf, size, "%s (bay %u)", notes[(i * 3 + pass * 5) % G_N_ELEMENTS (notes)],
              i % 40 + 1);
}

static gint64 row_status (guint i, guint pass) { return (i + pass) % 5; }
static gint64 row_occupied (guint i, guint pass) { return (i + pass) % 2; }
static gint64 row_capacity (guint i) { return 1 + i % 4; }
static gint64 row_ward (guint i) { return (i / 40) % 200; }
static double row_acuity (guint i, guint pass) { return (i % 1000) / 100.0 + 0.25 + pass * 0.5; }

static MhSchema *
make_schema (void)
{
  MhSchema *schema = mh_schema_new (1);
  g_autoptr(GError) error = NULL;
  guint lane = mh_schema_add_lane (schema, "beds", 1);

  if (!mh_schema_add_table (schema, TABLE, lane, MH_TABLE_NONE, &error))
    g_error ("schema: %s", error->message);
  if (!mh_schema_add_register (schema, TABLE, "state", MH_REGISTER_NONE,
                               "status", MH_COLUMN_INTEGER, "occupied", MH_COLUMN_INTEGER,
                               "capacity", MH_COLUMN_INTEGER, "ward", MH_COLUMN_INTEGER, NULL)
      || !mh_schema_add_register (schema, TABLE, "note", MH_REGISTER_NONE,
                                  "note", MH_COLUMN_TEXT, NULL)
      || !mh_schema_add_register (schema, TABLE, "score", MH_REGISTER_NONE,
                                  "acuity", MH_COLUMN_REAL, NULL))
    g_error ("schema: cannot declare registers");
  return schema;
}

static guint
gcd (guint a, guint b)
{
  while (b)
    {
      guint t = a % b;
      a = b;
      b = t;
    }
  return a;
}

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* CPU time of this process (user + system): unlike wall time, it does not
 * count fsync waits or other programs running on the machine. */
static double
cpu_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *
next_path (Bench *b, const char *what)
{
  g_autofree char *name = g_strdup_printf ("%02u-%s.db", b->n_files++, what);
  return g_build_filename (b->tmpdir, name, NULL);
}

/* Removes a closed database and its -wal and -shm files. */
static void
remove_db (const char *path)
{
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (path, "-shm", NULL);

  g_unlink (path);
  g_unlink (wal);
  g_unlink (shm);
}

/* ------------------------------------------------------------------------ */
/* Plain SQLite                                                             */

static void
plain_exec (sqlite3 *db, const char *sql)
{
  char *msg = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
    g_error ("%s: %s", sql, msg);
}

static sqlite3_stmt *
plain_prepare (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v3 (db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
    g_error ("%s: %s", sql, sqlite3_errmsg (db));
  return stmt;
}

static void
plain_step (sqlite3 *db, sqlite3_stmt *stmt)
{
  if (sqlite3_step (stmt) != SQLITE_DONE)
    g_error ("plain SQLite: %s", sqlite3_errmsg (db));
  if (sqlite3_changes (db) != 1)
    g_error ("plain SQLite: a write changed %d rows", sqlite3_changes (db));
  sqlite3_reset (stmt);
}

/* The store's table shape and the store's pragmas (see open_db() and
 * setup_table() in sync/mh-store.c), without the _mh column. */
static sqlite3 *
plain_open (const char *path, gboolean full)
{
  sqlite3 *db = NULL;

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                       NULL) != SQLITE_OK)
    g_error ("cannot open %s", path);
  plain_exec (db, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = OFF;"
                  "PRAGMA secure_delete = ON;");
  plain_exec (db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  plain_exec (db, "CREATE TABLE " TABLE " (_rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
                  " \"status\" INTEGER, \"occupied\" INTEGER, \"capacity\" INTEGER,"
                  " \"ward\" INTEGER, \"note\" TEXT, \"acuity\" REAL)");
  return db;
}

static WriteTimes
plain_run (Bench *b, sqlite3 *db)
{
  sqlite3_stmt *ins = plain_prepare (db, "INSERT INTO " TABLE " (id, \"status\", \"occupied\","
                                         " \"capacity\", \"ward\", \"note\", \"acuity\")"
                                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  sqlite3_stmt *upd_state = plain_prepare (db, "UPDATE " TABLE " SET \"status\" = ?2,"
                                               " \"occupied\" = ?3 WHERE id = ?1");
  sqlite3_stmt *upd_note = plain_prepare (db, "UPDATE " TABLE " SET \"note\" = ?2 WHERE id = ?1");
  sqlite3_stmt *upd_score = plain_prepare (db, "UPDATE " TABLE " SET \"acuity\" = ?2"
                                               " WHERE id = ?1");
  WriteTimes t;
  char note[128];
  double t0, c0;

  t0 = now_s ();
  c0 = cpu_s ();
  for (guint start = 0; start < b->rows; start += b->txn_size)
    {
      guint end = MIN (start + b->txn_size, b->rows);

      plain_exec (db, "BEGIN IMMEDIATE");
      for (guint i = start; i < end; i++)
        {
          make_note (note, sizeof note, i, 0);
          sqlite3_bind_text (ins, 1, b->ids[i], -1, SQLITE_STATIC);
          sqlite3_bind_int64 (ins, 2, row_status (i, 0));
          sqlite3_bind_int64 (ins, 3, row_occupied (i, 0));
          sqlite3_bind_int64 (ins, 4, row_capacity (i));
          sqlite3_bind_int64 (ins, 5, row_ward (i));
          sqlite3_bind_text (ins, 6, note, -1, SQLITE_STATIC);
          sqlite3_bind_double (ins, 7, row_acuity (i, 0));
          plain_step (db, ins);
        }
      plain_exec (db, "COMMIT");
    }
  t.insert_s = now_s () - t0;
  t.insert_cpu = cpu_s () - c0;

  t0 = now_s ();
  c0 = cpu_s ();
  for (guint start = 0; start < b->rows; start += b->txn_size)
    {
      guint end = MIN (start + b->txn_size, b->rows);

      plain_exec (db, "BEGIN IMMEDIATE");
      for (guint j = start; j < end; j++)
        {
          guint i = (guint) (((guint64) j * b->stride) % b->rows);
          sqlite3_stmt *stmt;

          switch (j % 3)
            {
            case 0:
              stmt = upd_state;
              sqlite3_bind_int64 (stmt, 2, row_status (i, 1));
              sqlite3_bind_int64 (stmt, 3, row_occupied (i, 1));
              break;
            case 1:
              stmt = upd_note;
              make_note (note, sizeof note, i, 1);
              sqlite3_bind_text (stmt, 2, note, -1, SQLITE_STATIC);
              break;
            default:
              stmt = upd_score;
              sqlite3_bind_double (stmt, 2, row_acuity (i, 1));
              break;
            }
          sqlite3_bind_text (stmt, 1, b->ids[i], -1, SQLITE_STATIC);
          plain_step (db, stmt);
        }
      plain_exec (db, "COMMIT");
    }
  t.update_s = now_s () - t0;
  t.update_cpu = cpu_s () - c0;

  sqlite3_finalize (ins);
  sqlite3_finalize (upd_state);
  sqlite3_finalize (upd_note);
  sqlite3_finalize (upd_score);
  return t;
}

/* ------------------------------------------------------------------------ */
/* Tracked writes                                                           */

typedef struct
{
  Bench *b;
  guint start;
  guint end;
  gboolean update;
} TxnArgs;

static void
set_int (GValue *value, gint64 v)
{
  g_value_init (value, G_TYPE_INT64);
  g_value_set_int64 (value, v);
}

static void
set_double (GValue *value, double v)
{
  g_value_init (value, G_TYPE_DOUBLE);
  g_value_set_double (value, v);
}

static void
set_static_string (GValue *value, const char *v)
{
  g_value_init (value, G_TYPE_STRING);
  g_value_set_static_string (value, v);
}

/* The same writes as plain_run(), through mh_store_write_values(): the
 * store's API for bulk writes, which takes values as plain GValues. */
static gboolean
tracked_txn (MhStore *store, gpointer user_data, GError **error)
{
  static const char *const insert_columns[] = { "status", "occupied", "capacity", "ward", "note",
                                                "acuity" };
  TxnArgs *args = user_data;
  Bench *b = args->b;
  char note[128];

  for (guint j = args->start; j < args->end; j++)
    {
      GValue values[6] = { G_VALUE_INIT, G_VALUE_INIT, G_VALUE_INIT,
                           G_VALUE_INIT, G_VALUE_INIT, G_VALUE_INIT };
      const char *columns[2];
      gboolean ok;
      guint n = 0;
      guint i;

      if (!args->update)
        {
          i = j;
          make_note (note, sizeof note, i, 0);
          set_int (&values[0], row_status (i, 0));
          set_int (&values[1], row_occupied (i, 0));
          set_int (&values[2], row_capacity (i));
          set_int (&values[3], row_ward (i));
          set_static_string (&values[4], note);
          set_double (&values[5], row_acuity (i, 0));
          ok = mh_store_write_values (store, TABLE, b->ids[i], MH_WRITE_INSERT, 6,
                                      insert_columns, values, error);
          n = 6;
        }
      else
        {
          i = (guint) (((guint64) j * b->stride) % b->rows);
          switch (j % 3)
            {
            case 0:
              columns[0] = "status";
              columns[1] = "occupied";
              set_int (&values[0], row_status (i, 1));
              set_int (&values[1], row_occupied (i, 1));
              n = 2;
              break;
            case 1:
              make_note (note, sizeof note, i, 1);
              columns[0] = "note";
              set_static_string (&values[0], note);
              n = 1;
              break;
            default:
              columns[0] = "acuity";
              set_double (&values[0], row_acuity (i, 1));
              n = 1;
              break;
            }
          ok = mh_store_write_values (store, TABLE, b->ids[i], MH_WRITE_UPDATE, n, columns, values,
                                      error);
        }
      for (guint k = 0; k < n; k++)
        g_value_unset (&values[k]);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

static MhStore *
store_open (Bench *b, const char *what, const char *site, gboolean full)
{
  g_autofree char *path = next_path (b, what);
  g_autoptr(GError) error = NULL;
  MhStore *store = NULL;

  /* MEDHEAD_BENCH_SIGN=1: the tracked side signs its writes as a node does. */
  if (g_getenv ("MEDHEAD_BENCH_SIGN") != NULL && g_str_equal (site, "site-bench-local"))
    {
      g_autofree char *id_dir = g_strconcat (path, ".identity", NULL);
      g_autoptr(MhIdentity) identity = NULL;

      g_mkdir_with_parents (id_dir, 0700);
      identity = mh_identity_load_or_create (id_dir, &error);
      if (identity == NULL)
        g_error ("identity: %s", error->message);
      store = mh_store_open (path, b->schema, mh_identity_get_site_id (identity), &error);
      if (store != NULL)
        mh_store_set_identity (store, identity);
    }
  else
    store = mh_store_open (path, b->schema, site, &error);

  if (store == NULL)
    g_error ("cannot open the store %s: %s", path, error->message);
  if (!full)
    plain_exec (mh_store_get_db (store), "PRAGMA synchronous = NORMAL");
  return store;
}

static WriteTimes
tracked_run (Bench *b, MhStore *store)
{
  WriteTimes t;
  double t0, c0;

  for (int pass = 0; pass < 2; pass++)
    {
      t0 = now_s ();
      c0 = cpu_s ();
      for (guint start = 0; start < b->rows; start += b->txn_size)
        {
          TxnArgs args = { b, start, MIN (start + b->txn_size, b->rows), pass == 1 };
          g_autoptr(GError) error = NULL;

          if (!mh_store_transact (store, tracked_txn, &args, &error))
            g_error ("tracked %s: %s", pass ? "update" : "insert", error->message);
        }
      if (pass == 0)
        {
          t.insert_s = now_s () - t0;
          t.insert_cpu = cpu_s () - c0;
        }
      else
        {
          t.update_s = now_s () - t0;
          t.update_cpu = cpu_s () - c0;
        }
    }
  return t;
}

static double
ratio (double a, double b)
{
  return b > 0 ? a / b : 0;
}

/* Runs plain and tracked writes for one synchronous setting, b->repeat
 * times on fresh files (alternating which goes first), and keeps the best
 * time of each phase. Keeps the last two databases open for the size
 * measurement when asked. */
static double
bench_writes (Bench *b, gboolean full, sqlite3 **keep_plain, MhStore **keep_store)
{
  const char *mode = full ? "FULL" : "NORMAL";
  WriteTimes p = { G_MAXDOUBLE, G_MAXDOUBLE, G_MAXDOUBLE, G_MAXDOUBLE };
  WriteTimes t = p;
  double p_all, t_all;

  for (guint rep = 0; rep < b->repeat; rep++)
    {
      g_autofree char *plain_path = next_path (b, full ? "plain-full" : "plain-normal");
      sqlite3 *db = plain_open (plain_path, full);
      MhStore *store = store_open (b, full ? "tracked-full" : "tracked-normal",
                                   "site-bench-local", full);
      WriteTimes pr, tr;

      if (rep % 2 == 0)
        {
          pr = plain_run (b, db);
          tr = tracked_run (b, store);
        }
      else
        {
          tr = tracked_run (b, store);
          pr = plain_run (b, db);
        }
      p.insert_s = MIN (p.insert_s, pr.insert_s);
      p.update_s = MIN (p.update_s, pr.update_s);
      t.insert_s = MIN (t.insert_s, tr.insert_s);
      t.update_s = MIN (t.update_s, tr.update_s);
      p.insert_cpu = MIN (p.insert_cpu, pr.insert_cpu);
      p.update_cpu = MIN (p.update_cpu, pr.update_cpu);
      t.insert_cpu = MIN (t.insert_cpu, tr.insert_cpu);
      t.update_cpu = MIN (t.update_cpu, tr.update_cpu);

      if (rep + 1 == b->repeat && keep_plain && keep_store)
        {
          *keep_plain = db;
          *keep_store = store;
        }
      else
        {
          g_autofree char *store_path = g_strdup (mh_store_get_path (store));

          sqlite3_close (db);
          g_object_unref (store);
          remove_db (plain_path);
          remove_db (store_path);
        }
    }
  p_all = p.insert_s + p.update_s;
  t_all = t.insert_s + t.update_s;

  g_print ("tracked writes (sync=%s): inserts %.2fx, updates %.2fx, all %.2fx of plain SQLite "
           "(plain %.2f s, tracked %.2f s)\n",
           mode, ratio (t.insert_s, p.insert_s), ratio (t.update_s, p.update_s),
           ratio (t_all, p_all), p_all, t_all);
  g_print ("  plain:   inserts %.3f s (%.0f rows/s), updates %.3f s (%.0f rows/s); "
           "CPU %.3f + %.3f s\n", p.insert_s, b->rows / p.insert_s, p.update_s,
           b->rows / p.update_s, p.insert_cpu, p.update_cpu);
  g_print ("  tracked: inserts %.3f s (%.0f rows/s), updates %.3f s (%.0f rows/s); "
           "CPU %.3f + %.3f s\n", t.insert_s, b->rows / t.insert_s, t.update_s,
           b->rows / t.update_s, t.insert_cpu, t.update_cpu);
  g_print ("  by CPU time: inserts %.2fx, updates %.2fx, all %.2fx\n",
           ratio (t.insert_cpu, p.insert_cpu), ratio (t.update_cpu, p.update_cpu),
           ratio (t.insert_cpu + t.update_cpu, p.insert_cpu + p.update_cpu));
  return ratio (t_all, p_all);
}

/* ------------------------------------------------------------------------ */
/* Remote changes                                                           */

/* Change k of the stream: rounds over all rows, one register each round
 * (state, note, score, then state again), ever newer clocks. */
static GPtrArray *
make_changes (Bench *b, MhHlc base, guint first, guint count)
{
  GPtrArray *changes = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  char note[128];

  for (guint k = first; k < first + count; k++)
    {
      guint round = k / b->rows;
      guint i = (guint) (((guint64) (k % b->rows) * b->stride) % b->rows);
      GVariantBuilder builder;
      const char *reg;
      MhChange *change;

      g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
      switch (round % 3)
        {
        case 0:
          reg = "state";
          g_variant_builder_add (&builder, "v", g_variant_new_int64 (row_status (i, round)));
          g_variant_builder_add (&builder, "v", g_variant_new_int64 (row_occupied (i, round)));
          g_variant_builder_add (&builder, "v", g_variant_new_int64 (row_capacity (i)));
          g_variant_builder_add (&builder, "v", g_variant_new_int64 (row_ward (i)));
          break;
        case 1:
          reg = "note";
          make_note (note, sizeof note, i, round);
          g_variant_builder_add (&builder, "v", g_variant_new_string (note));
          break;
        default:
          reg = "score";
          g_variant_builder_add (&builder, "v", g_variant_new_double (row_acuity (i, round)));
          break;
        }
      change = mh_change_new_set (TABLE, b->ids[i], reg, g_variant_builder_end (&builder),
                                  base + k, ORIGIN, (gint64) k + 1);
      change->schema_version = 1;
      g_ptr_array_add (changes, change);
    }
  return changes;
}

static void
check_report (const MhApplyReport *report, guint expected)
{
  if (report->applied != expected)
    g_error ("apply: %u of %u changes applied (older %u, deleted %u, rejected %u, parked %u, "
             "held %u)", report->applied, expected, report->ignored_older,
             report->ignored_deleted, report->rejected, report->parked, report->held);
}

typedef struct
{
  double direct;
  double direct_cpu;
  double enc;
  double dec;
  double apply;
  guint64 json_bytes;
} ApplyTimes;

/* One pass: every change applied to one fresh store directly, and to
 * another through the JSON codec. */
static ApplyTimes
apply_run (Bench *b, MhHlc base)
{
  MhStore *direct = store_open (b, "apply-direct", "site-bench-direct", TRUE);
  MhStore *viajson = store_open (b, "apply-json", "site-bench-json", TRUE);
  g_autofree char *direct_path = g_strdup (mh_store_get_path (direct));
  g_autofree char *json_path = g_strdup (mh_store_get_path (viajson));
  ApplyTimes t = { 0, 0, 0, 0, 0, 0 };

  for (guint first = 0; first < b->changes; first += b->batch_size)
    {
      guint count = MIN (b->batch_size, b->changes - first);
      g_autoptr(GPtrArray) changes = make_changes (b, base, first, count);
      g_autoptr(GPtrArray) decoded = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *json = NULL;
      MhApplyReport report;
      gsize length = 0;
      double t0, c0;

      t0 = now_s ();
      c0 = cpu_s ();
      if (!mh_store_apply (direct, changes, &report, &error))
        g_error ("apply: %s", error->message);
      t.direct += now_s () - t0;
      t.direct_cpu += cpu_s () - c0;
      check_report (&report, count);

      t0 = now_s ();
      json = mh_codec_encode_batch (changes, &length);
      t.enc += now_s () - t0;
      if (json == NULL)
        g_error ("encode failed");
      t.json_bytes += length;

      t0 = now_s ();
      decoded = mh_codec_decode_batch (json, (gssize) length, NULL, &error);
      t.dec += now_s () - t0;
      if (decoded == NULL)
        g_error ("decode: %s", error->message);

      t0 = now_s ();
      if (!mh_store_apply (viajson, decoded, &report, &error))
        g_error ("apply: %s", error->message);
      t.apply += now_s () - t0;
      check_report (&report, count);
    }
  g_object_unref (direct);
  g_object_unref (viajson);
  remove_db (direct_path);
  remove_db (json_path);
  return t;
}

static double
bench_apply (Bench *b)
{
  /* An hour back: well inside the hold bound, and after nothing local. */
  MhHlc base = MH_HLC_PACK (g_get_real_time () / 1000 - 3600 * 1000, 0);
  ApplyTimes t = { G_MAXDOUBLE, G_MAXDOUBLE, G_MAXDOUBLE, G_MAXDOUBLE, G_MAXDOUBLE, 0 };
  double direct_rate, json_rate;

  for (guint rep = 0; rep < b->repeat; rep++)
    {
      ApplyTimes r = apply_run (b, base);

      t.direct = MIN (t.direct, r.direct);
      t.direct_cpu = MIN (t.direct_cpu, r.direct_cpu);
      if (r.enc + r.dec + r.apply < t.enc + t.dec + t.apply)
        t = (ApplyTimes) { t.direct, t.direct_cpu, r.enc, r.dec, r.apply, r.json_bytes };
    }

  direct_rate = b->changes / t.direct;
  json_rate = b->changes / (t.enc + t.dec + t.apply);
  g_print ("remote changes applied (sync=FULL, batches of %u): %.0f changes/s direct "
           "(%u changes over %u rows in %.2f s; CPU %.2f s, %.0f changes/CPU-s)\n",
           b->batch_size, direct_rate, b->changes, b->rows, t.direct, t.direct_cpu,
           b->changes / t.direct_cpu);
  g_print ("  through the JSON codec: %.0f changes/s end to end (encode %.2f s, decode %.2f s, "
           "apply %.2f s); receiver only (decode + apply) %.0f changes/s; %.0f bytes/change\n",
           json_rate, t.enc, t.dec, t.apply, b->changes / (t.dec + t.apply),
           (double) t.json_bytes / b->changes);
  return direct_rate;
}

/* ------------------------------------------------------------------------ */
/* Realistic shapes                                                         */

/* A desk writes one bed update at a time: each write is its own
 * transaction, fsync included. */
static double
bench_single_writes (Bench *b)
{
  guint n = MIN (b->rows, 2000);
  g_autofree char *plain_path = next_path (b, "single-plain");
  sqlite3 *db = plain_open (plain_path, TRUE);
  MhStore *store = store_open (b, "single-store", "bench-single", TRUE);
  sqlite3_stmt *upd = NULL;
  double t0, plain_s, tracked_s;
  char note[128];

  /* The rows exist in both; the measured part is n single updates. */
  {
    TxnArgs args = { b, 0, n, FALSE };
    g_autoptr(GError) error = NULL;

    if (!mh_store_transact (store, tracked_txn, &args, &error))
      g_error ("%s", error->message);
    sqlite3_exec (db, "BEGIN", NULL, NULL, NULL);
    upd = plain_prepare (db, "INSERT INTO " TABLE " (id, \"status\", \"occupied\", \"capacity\","
                             " \"ward\", \"note\", \"acuity\") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (guint i = 0; i < n; i++)
      {
        make_note (note, sizeof note, i, 0);
        sqlite3_bind_text (upd, 1, b->ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64 (upd, 2, row_status (i, 0));
        sqlite3_bind_int64 (upd, 3, row_occupied (i, 0));
        sqlite3_bind_int64 (upd, 4, row_capacity (i));
        sqlite3_bind_int64 (upd, 5, row_ward (i));
        sqlite3_bind_text (upd, 6, note, -1, SQLITE_STATIC);
        sqlite3_bind_double (upd, 7, row_acuity (i, 0));
        plain_step (db, upd);
      }
    sqlite3_finalize (upd);
    sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
  }

  upd = plain_prepare (db, "UPDATE " TABLE " SET \"status\" = ?2, \"occupied\" = ?3 WHERE id = ?1");
  t0 = now_s ();
  for (guint i = 0; i < n; i++)
    {
      sqlite3_bind_text (upd, 1, b->ids[i], -1, SQLITE_STATIC);
      sqlite3_bind_int64 (upd, 2, row_status (i, 1));
      sqlite3_bind_int64 (upd, 3, row_occupied (i, 1));
      plain_step (db, upd);
    }
  plain_s = now_s () - t0;
  sqlite3_finalize (upd);

  t0 = now_s ();
  for (guint i = 0; i < n; i++)
    {
      static const char *const columns[] = { "status", "occupied" };
      GValue values[2] = { G_VALUE_INIT, G_VALUE_INIT };
      g_autoptr(GError) error = NULL;

      set_int (&values[0], row_status (i, 1));
      set_int (&values[1], row_occupied (i, 1));
      if (!mh_store_write_values (store, TABLE, b->ids[i], MH_WRITE_UPDATE, 2, columns, values,
                                  &error))
        g_error ("%s", error->message);
      g_value_unset (&values[0]);
      g_value_unset (&values[1]);
    }
  tracked_s = now_s () - t0;

  g_print ("single-write transactions (sync=FULL, %u bed updates, each committed alone): "
           "%.2fx of plain SQLite (plain %.0f/s, tracked %.0f/s)\n",
           n, tracked_s / plain_s, n / plain_s, n / tracked_s);
  sqlite3_close (db);
  {
    g_autofree char *store_path = g_strdup (mh_store_get_path (store));
    g_object_unref (store);
    remove_db (store_path);
  }
  remove_db (plain_path);
  return tracked_s / plain_s;
}

/* An initial sync as a peer sends it: the source's log read lane by lane
 * in batches of 256 log entries (a row's registers together), applied by
 * the receiver. */
static double
bench_stream (Bench *b)
{
  MhStore *source = store_open (b, "stream-source", "bench-source", FALSE);
  MhStore *target = store_open (b, "stream-target", "bench-target", TRUE);
  g_autoptr(GPtrArray) batches = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  MhCursor cursor = { 0, 0 };
  gboolean more = TRUE;
  guint n_changes = 0;
  double t0, c0, secs, cpu;

  for (guint start = 0; start < b->rows; start += b->txn_size)
    {
      TxnArgs args = { b, start, MIN (start + b->txn_size, b->rows), FALSE };
      g_autoptr(GError) error = NULL;

      if (!mh_store_transact (source, tracked_txn, &args, &error))
        g_error ("%s", error->message);
    }
  while (more)
    {
      g_autoptr(GError) error = NULL;
      GPtrArray *batch = mh_store_read_lane (source, 0, &cursor, 256, NULL, &more, &error);

      if (batch == NULL)
        g_error ("%s", error->message);
      n_changes += batch->len;
      g_ptr_array_add (batches, batch);
    }

  t0 = now_s ();
  c0 = cpu_s ();
  for (guint i = 0; i < batches->len; i++)
    {
      g_autoptr(GError) error = NULL;
      MhApplyReport report;

      if (!mh_store_apply (target, g_ptr_array_index (batches, i), &report, &error))
        g_error ("%s", error->message);
    }
  secs = now_s () - t0;
  cpu = cpu_s () - c0;
  g_print ("initial sync as a peer sends it (sync=FULL, batches of 256 rows): %.0f changes/s "
           "(%u changes, %u rows in %.2f s; %.0f rows/s; CPU %.2f s, %.0f changes/CPU-s)\n",
           n_changes / secs, n_changes, b->rows, secs, b->rows / secs, cpu, n_changes / cpu);
  {
    g_autofree char *p1 = g_strdup (mh_store_get_path (source));
    g_autofree char *p2 = g_strdup (mh_store_get_path (target));
    g_object_unref (source);
    g_object_unref (target);
    remove_db (p1);
    remove_db (p2);
  }
  return n_changes / secs;
}

/* ------------------------------------------------------------------------ */
/* Size                                                                     */

static gboolean
has_dbstat (sqlite3 *db)
{
  sqlite3_stmt *stmt = NULL;
  gboolean found = FALSE;

  if (sqlite3_prepare_v2 (db, "SELECT 1 FROM pragma_compile_options "
                              "WHERE compile_options = 'ENABLE_DBSTAT_VTAB'", -1, &stmt, NULL)
      == SQLITE_OK)
    found = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_finalize (stmt);
  return found;
}

static gint64
query_int (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  gint64 value = 0;

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    g_error ("%s: %s", sql, sqlite3_errmsg (db));
  if (sqlite3_step (stmt) == SQLITE_ROW)
    value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return value;
}

typedef struct
{
  gint64 pages; /* bytes of B-tree pages */
  gint64 payload;
} Usage;

/* Page and payload bytes of every B-tree of a database; prints them when
 * @label is set. */
static Usage
dbstat_usage (sqlite3 *db, const char *label)
{
  sqlite3_stmt *stmt = NULL;
  Usage total = { 0, 0 };
  const char *sql = "SELECT name, SUM(pgsize), SUM(payload) FROM dbstat GROUP BY name "
                    "ORDER BY 2 DESC, 1";

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    g_error ("%s: %s", sql, sqlite3_errmsg (db));
  if (label)
    g_print ("  %s:", label);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 pages = sqlite3_column_int64 (stmt, 1);
      gint64 payload = sqlite3_column_int64 (stmt, 2);

      total.pages += pages;
      total.payload += payload;
      if (label && pages > 4096)
        g_print (" %s %.2f MB;", (const char *) sqlite3_column_text (stmt, 0), pages / 1e6);
    }
  if (label)
    g_print (" all %.2f MB (payload %.2f MB)\n", total.pages / 1e6, total.payload / 1e6);
  sqlite3_finalize (stmt);
  return total;
}

static double
bench_size (Bench *b, sqlite3 *plain, MhStore *store)
{
  sqlite3 *sdb = mh_store_get_db (store);
  gint64 rows = query_int (sdb, "SELECT COUNT(*) FROM " TABLE);
  gint64 mh_bytes = query_int (sdb, "SELECT SUM(length(_mh)) FROM " TABLE);
  gint64 log_rows = query_int (sdb, "SELECT COUNT(*) FROM _mh_log");
  gint64 tombs = query_int (sdb, "SELECT COUNT(*) FROM _mh_tomb");
  double result;

  if (has_dbstat (sdb))
    {
      Usage data, all;

      g_print ("sync metadata vs data (dbstat, B-tree page bytes; data = the plain SQLite file "
               "holding the same %" G_GINT64_FORMAT " rows, metadata = the store file minus "
               "it):\n", rows);
      data = dbstat_usage (plain, "plain");
      all = dbstat_usage (sdb, "store");
      result = ratio (all.pages - data.pages, data.pages);
      g_print ("  metadata %.2f MB / data %.2f MB = %.2fx (by payload bytes, without page "
               "slack: %.2fx)\n", (all.pages - data.pages) / 1e6, data.pages / 1e6, result,
               ratio (all.payload - data.payload, data.payload));
    }
  else
    {
      /* Without dbstat: logical bytes. Data is the stored text and 8 bytes
       * per non-NULL number; metadata is the _mh blobs plus an estimated 12
       * bytes per log entry (4 small integers and a record header). */
      gint64 data = query_int (sdb, "SELECT SUM(length(CAST(id AS BLOB)) + "
                                    "length(CAST(note AS BLOB)) + 8 * ((status IS NOT NULL) + "
                                    "(occupied IS NOT NULL) + (capacity IS NOT NULL) + "
                                    "(ward IS NOT NULL) + (acuity IS NOT NULL)) FROM " TABLE);
      gint64 meta = mh_bytes + 12 * log_rows;

      g_print ("sync metadata vs data (no dbstat in this SQLite: logical bytes, data = text "
               "bytes + 8 per number, metadata = _mh blobs + 12 bytes per log entry):\n");
      result = ratio (meta, data);
      g_print ("  metadata %.2f MB / data %.2f MB = %.2fx\n", meta / 1e6, data / 1e6, result);
    }
  g_print ("  per row: _mh blob %.1f bytes, %.2f log entries; %" G_GINT64_FORMAT
           " tombstones\n", rows ? (double) mh_bytes / rows : 0, rows ? (double) log_rows / rows : 0,
           tombs);
  return result;
}

/* ------------------------------------------------------------------------ */

static const char *
verdict (gboolean met)
{
  return met ? "met" : "MISSED";
}

int
main (int argc, char **argv)
{
  Bench b = { 0 };
  int rows = 50000, changes = 0, repeat = 2;
  g_autofree char *only = NULL;
  g_autofree char *sync = NULL;
  g_autofree char *dir = NULL;
  GOptionEntry entries[] = {
    { "rows", 0, 0, G_OPTION_ARG_INT, &rows, "Rows written and updated (default 50000)", "N" },
    { "changes", 0, 0, G_OPTION_ARG_INT, &changes, "Remote changes applied (default 4 × rows)",
      "N" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat,
      "Runs of each measurement, keeping the best (default 2)", "N" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only, "Run one part: writes, apply or size", "PART" },
    { "sync", 0, 0, G_OPTION_ARG_STRING, &sync, "synchronous for part 1: both, full or normal",
      "MODE" },
    { "dir", 0, 0, G_OPTION_ARG_FILENAME, &dir, "Where to make the temporary directory", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- benchmark the replicated store");
  g_autoptr(GError) error = NULL;
  g_autofree char *template = NULL;
  sqlite3 *plain = NULL;
  MhStore *store = NULL;
  double write_ratio_full = -1, write_ratio_normal = -1, rate = -1, stream_rate = -1, size_ratio = -1;
  gint64 t_start = g_get_monotonic_time ();

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (rows < 1 || changes < 0 || repeat < 1)
    {
      g_printerr ("--rows and --repeat must be positive, --changes not negative\n");
      return 2;
    }
  b.rows = (guint) rows;
  b.changes = changes ? (guint) changes : 4 * b.rows;
  b.txn_size = 1000;
  b.batch_size = 5000;
  b.repeat = (guint) repeat;
  b.do_writes = only == NULL || g_str_equal (only, "writes") || g_str_equal (only, "size");
  b.do_apply = only == NULL || g_str_equal (only, "apply");
  b.do_size = only == NULL || g_str_equal (only, "size");
  b.sync_full = sync == NULL || g_str_equal (sync, "both") || g_str_equal (sync, "full");
  b.sync_normal = sync == NULL || g_str_equal (sync, "both") || g_str_equal (sync, "normal");
  if (!(b.do_writes || b.do_apply) || !(b.sync_full || b.sync_normal))
    {
      g_printerr ("--only takes writes, apply or size; --sync takes both, full or normal\n");
      return 2;
    }

  if (dir != NULL)
    {
      template = g_build_filename (dir, "medhead-bench-XXXXXX", NULL);
      b.tmpdir = g_mkdtemp (template) ? g_strdup (template) : NULL;
      if (b.tmpdir == NULL)
        g_error ("cannot make a directory in %s", dir);
    }
  else if (!(b.tmpdir = g_dir_make_tmp ("medhead-bench-XXXXXX", &error)))
    g_error ("%s", error->message);

  b.stride = 7919;
  while (gcd (b.stride, b.rows) != 1)
    b.stride += 2;
  b.ids = g_new0 (char *, b.rows + 1);
  for (guint i = 0; i < b.rows; i++)
    b.ids[i] = make_id (i);
  b.schema = make_schema ();

  {
    g_autoptr(GDateTime) when = g_date_time_new_now_local ();
    g_autofree char *date = g_date_time_format (when, "%F %T");
    g_print ("bench-sync: %s, SQLite %s, %u CPUs, %u rows, %u remote changes, best of %u, "
             "files in %s\n", date, sqlite3_libversion (), g_get_num_processors (), b.rows,
             b.changes, b.repeat, b.tmpdir);
  }

  if (b.do_writes)
    {
      if (b.sync_full)
        write_ratio_full = bench_writes (&b, TRUE,
                                         b.do_size && !b.sync_normal ? &plain : NULL,
                                         b.do_size && !b.sync_normal ? &store : NULL);
      if (b.sync_normal)
        write_ratio_normal = bench_writes (&b, FALSE, b.do_size ? &plain : NULL,
                                           b.do_size ? &store : NULL);
    }
  if (b.do_writes)
    bench_single_writes (&b);
  if (b.do_apply)
    {
      rate = bench_apply (&b);
      stream_rate = bench_stream (&b);
    }
  if (b.do_size && plain && store)
    {
      size_ratio = bench_size (&b, plain, store);
      sqlite3_close (plain);
      g_clear_object (&store);
    }

  g_print ("targets:");
  if (write_ratio_full >= 0)
    g_print (" writes sync=FULL %.2fx <= 1.5x %s;", write_ratio_full,
             verdict (write_ratio_full <= 1.5));
  if (write_ratio_normal >= 0)
    g_print (" writes sync=NORMAL %.2fx <= 1.5x %s;", write_ratio_normal,
             verdict (write_ratio_normal <= 1.5));
  if (rate >= 0)
    g_print (" apply %.0f/s (scattered), %.0f/s (as sent) >= 100000/s %s;", rate, stream_rate,
             verdict (MAX (rate, stream_rate) >= 100000));
  if (size_ratio >= 0)
    g_print (" metadata %.2fx <= 0.5x %s;", size_ratio, verdict (size_ratio <= 0.5));
  g_print (" (%.1f s in all)\n", (g_get_monotonic_time () - t_start) / 1e6);

  mh_test_rm_rf (b.tmpdir);
  g_free (b.tmpdir);
  g_strfreev (b.ids);
  mh_schema_unref (b.schema);
  return 0;
}

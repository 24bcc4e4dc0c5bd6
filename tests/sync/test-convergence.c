/* Randomized convergence of several replicas, checked against a reference
 * model.
 *
 * Each seed runs N_REPLICAS replicas linked by a random connected topology
 * that is never complete, so some changes only arrive through relays. The
 * replicas make random local writes on a small, sliding key space (so
 * conflicts are frequent): inserts, updates of single columns and of whole
 * multi-column registers, upserts, deletes, writes to deleted ids, inserts
 * into an insert-only table (the same key with other content from two
 * replicas), and writes that must be refused (a negative count, a child
 * whose parent is not here). A forger crafts remote changes: valid ones
 * under its own origin, handed to one replica and relayed from there, and
 * changes wrong in themselves (negative counts) that every replica must
 * reject. Replica clocks are skewed, one of them an hour ahead for a while,
 * so its changes are held everywhere else until the end.
 *
 * Delivery is by each replica's own log: per link and lane a cursor reads
 * batches, which travel out of order, are duplicated or lost (a loss
 * rewinds the sender's cursor to before the lost batch, so it is read
 * again later), or are applied inside a caller's transaction that is then
 * rolled back (which must leave the replica as it was). At the end, the
 * hold bound is raised everywhere and every link is drained until no
 * replica applies anything.
 *
 * Then every replica must hold the same digests, equal to the ones it
 * recomputes from scratch, and exactly the rows a reference model computes
 * from every change ever made: a row is deleted if any deletion of it
 * exists; otherwise each register holds the write with the greatest
 * (clock, origin), leaving out the changes wrong in themselves and the
 * children of parents that never existed. The model never calls the
 * store's merge code. Each replica's log, read from the start, must carry
 * exactly the winning change of every register and tombstone, and a fresh
 * replica fed that log must end with the same digests.
 *
 * A failure prints its seed; MEDHEAD_SEED=N replays that seed alone.
 * MEDHEAD_CONVERGENCE_SEEDS=N and MEDHEAD_CONVERGENCE_OPS=N change the
 * number of seeds and of operations per seed (for soak runs). Clocks run on
 * a virtual time that each seed advances deterministically, so a replay
 * makes the same writes with the same clocks, give or take a millisecond.
 * MEDHEAD_TRACE_ROW=ID (with MEDHEAD_SEED) prints the life of one row.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sync-test-common.h"

/* Sizes: about 3.5 s of CPU per full-size seed, most of it in the store;
 * valgrind and AddressSanitizer (with the slow unwinder CI uses) are 10 to
 * 50 times slower, so they run one short seed. */
#define N_REPLICAS 5
#define KEY_WINDOW 20
#define DEFAULT_SEEDS 10
#define DEFAULT_OPS 10000
#define VALGRIND_SEEDS 1
#define VALGRIND_OPS 1500
#define ASAN_SEEDS 1
#define ASAN_OPS 2500

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define FAST_SKEW_MS (60 * MINUTE_MS)
#define FINAL_HOLD_BOUND_MS (48 * 60 * MINUTE_MS)

enum
{
  LANE_PARENTS,
  LANE_CHILDREN,
  LANE_CHAT,
  N_LANES
};

/* ------------------------------------------------------------------------ */
/* Schema and validator                                                     */

static MhSchema *
convergence_schema (void)
{
  MhSchema *schema = mh_schema_new (1);
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (mh_schema_add_lane (schema, "parents", 4), ==, LANE_PARENTS);
  g_assert_cmpuint (mh_schema_add_lane (schema, "children", 2), ==, LANE_CHILDREN);
  g_assert_cmpuint (mh_schema_add_lane (schema, "chat", 1), ==, LANE_CHAT);

  g_assert_true (mh_schema_add_table (schema, "parent", LANE_PARENTS, MH_TABLE_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (mh_schema_add_register (schema, "parent", "name", MH_REGISTER_HISTORY, "name",
                                         MH_COLUMN_TEXT, NULL));
  g_assert_true (mh_schema_add_register (schema, "parent", "status", MH_REGISTER_HISTORY,
                                         "status", MH_COLUMN_TEXT, "reason", MH_COLUMN_TEXT,
                                         NULL));
  g_assert_true (mh_schema_add_register (schema, "parent", "count", MH_REGISTER_NONE, "n",
                                         MH_COLUMN_INTEGER, NULL));
  g_assert_true (mh_schema_add_register (schema, "parent", "pos", MH_REGISTER_NONE, "lat",
                                         MH_COLUMN_REAL, "lon", MH_COLUMN_REAL, "acc",
                                         MH_COLUMN_INTEGER, NULL));
  g_assert_true (mh_schema_set_bucket (schema, "parent", "public", FALSE));

  /* A child's id is "PARENT/NAME": it refers to its parent by its id. */
  g_assert_true (mh_schema_add_table (schema, "child", LANE_CHILDREN, MH_TABLE_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (mh_schema_add_register (schema, "child", "value", MH_REGISTER_NONE, "v",
                                         MH_COLUMN_INTEGER, NULL));
  g_assert_true (mh_schema_add_register (schema, "child", "note", MH_REGISTER_HISTORY, "note",
                                         MH_COLUMN_TEXT, "by", MH_COLUMN_TEXT, NULL));
  g_assert_true (mh_schema_set_bucket (schema, "child", "child", TRUE));

  /* Keyed by "AUTHOR-SITE/NAME", as the app's messages are. */
  g_assert_true (mh_schema_add_table (schema, "message", LANE_CHAT, MH_TABLE_INSERT_ONLY,
                                      &error));
  g_assert_no_error (error);
  g_assert_true (mh_schema_add_register (schema, "message", "body", MH_REGISTER_NONE, "author",
                                         MH_COLUMN_TEXT, "body", MH_COLUMN_TEXT, "sent",
                                         MH_COLUMN_INTEGER, "channel", MH_COLUMN_TEXT, NULL));
  g_assert_true (mh_schema_set_bucket (schema, "message", "chat", TRUE));
  return schema;
}

static char *
child_parent (const char *child)
{
  const char *slash = strchr (child, '/');

  return g_strndup (child, slash ? (gsize) (slash - child) : strlen (child));
}

/* Wrong in itself: any integer below zero. */
static gboolean
value_is_bad (GVariant *value)
{
  gsize n = g_variant_n_children (value);

  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (value, i);
      g_autoptr(GVariant) inner = g_variant_get_variant (boxed);

      if (g_variant_is_of_type (inner, G_VARIANT_TYPE_INT64) && g_variant_get_int64 (inner) < 0)
        return TRUE;
    }
  return FALSE;
}

/* Rejects negative integers; parks a child while its parent has not
 * arrived, and takes it once the parent is here, live or deleted, so that
 * every node ends up with the same verdict. */
static MhVerdict
validate (MhStore *store, const MhChange *change, const MhRow *row, gboolean local,
          char **reason, gpointer user_data)
{
  g_autofree char *parent = NULL;

  if (change->kind != MH_CHANGE_SET)
    return MH_VERDICT_ACCEPT;
  if (value_is_bad (change->value))
    {
      *reason = g_strdup ("a count below zero");
      return MH_VERDICT_REJECT;
    }
  if (!g_str_equal (change->table, "child"))
    return MH_VERDICT_ACCEPT;
  parent = child_parent (change->row);
  if (mh_store_get_row_state (store, "parent", parent) == MH_ROW_ABSENT)
    {
      *reason = g_strdup_printf ("waiting for parent %s", parent);
      return MH_VERDICT_PARK;
    }
  return MH_VERDICT_ACCEPT;
}

/* ------------------------------------------------------------------------ */
/* The simulation                                                           */

typedef struct
{
  GPtrArray *changes; /* MhChange */
  gint64 from_seq;    /* the sender's cursor before this batch */
} Batch;

static void
batch_free (Batch *batch)
{
  g_ptr_array_unref (batch->changes);
  g_free (batch);
}

/* One direction of one lane of a link between two replicas. */
typedef struct _Link Link;
struct _Link
{
  guint from, to, lane;
  MhCursor sent;         /* where the sender reads next */
  gint64 rewind_to;      /* G_MAXINT64 unless a batch was lost */
  GPtrArray *in_flight;  /* Batch */
};

static void
link_free (Link *link)
{
  g_ptr_array_unref (link->in_flight);
  g_free (link);
}

typedef struct
{
  guint64 local_writes, expected_errors, forged_good, forged_bad;
  guint64 sent_batches, delivered, duplicated, dropped, abandoned, rewinds, resets, relayed;
  guint64 applied, older, deleted, rejected, parked, held, unparked, released;
  guint64 unparked_locally; /* by a local write of the parent */
} Stats;

typedef struct
{
  guint32 seed;
  guint n_ops;
  guint op;
  GRand *rand;
  char *dir;
  MhSchema *schema;
  const MhTableDef *t_parent, *t_child, *t_message;
  MhStore *stores[N_REPLICAS];
  char *sites[N_REPLICAS];
  gint64 skew_ms[N_REPLICAS];
  guint fast; /* the replica whose clock runs an hour ahead for a while */
  gboolean linked[N_REPLICAS][N_REPLICAS];
  GPtrArray *links; /* Link */
  gint64 virtual_ms;
  char *forger_site;
  MhClock forger;
  gint64 forger_seq;
  GPtrArray *model; /* MhChange: every change ever made */
  Stats stats;
} Sim;

/* MEDHEAD_TRACE_ROW=ID prints every change to that row (and to its
 * parent) as it is made and delivered, with the row at the receiver after. */
static const char *trace_row;
static void trace_dump (Sim *sim);

static void G_GNUC_NORETURN G_GNUC_PRINTF (3, 4)
sim_fail (Sim *sim, const char *where, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("seed=%u failed at op %u (%s); replay with MEDHEAD_SEED=%u\n", sim->seed, sim->op,
              where, sim->seed);
  if (trace_row != NULL)
    trace_dump (sim);
  g_error ("seed=%u: %s", sim->seed, message);
}

#define sim_check(sim, cond, ...)                                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (G_UNLIKELY (!(cond)))                                                                      \
      sim_fail ((sim), G_STRLOC, "(" #cond ") " __VA_ARGS__);                                      \
  }                                                                                                \
  G_STMT_END

#define sim_check_no_error(sim, error)                                                             \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (G_UNLIKELY ((error) != NULL))                                                              \
      sim_fail ((sim), G_STRLOC, "unexpected error: %s", (error)->message);                      \
  }                                                                                                \
  G_STMT_END

static guint
rnd (Sim *sim, guint n)
{
  return (guint) g_rand_int_range (sim->rand, 0, (gint32) n);
}

static gboolean
chance (Sim *sim, guint percent)
{
  return rnd (sim, 100) < percent;
}

static gboolean
traced (const char *row)
{
  g_autofree char *parent = NULL;

  if (trace_row == NULL)
    return FALSE;
  parent = child_parent (trace_row);
  return g_str_equal (row, trace_row) || g_str_equal (row, parent);
}

static void
trace_change (Sim *sim, const char *what, const MhChange *change)
{
  g_autofree char *value = change->value ? g_variant_print (change->value, FALSE) : NULL;

  if (!traced (change->row))
    return;
  g_printerr ("op %u: %s: %s %s %s %s hlc=%" G_GINT64_FORMAT " origin=%.6s\n", sim->op, what,
              change->table, change->row, change->reg ? change->reg : "DELETE",
              value ? value : "", change->hlc, change->origin);
}

static void
trace_replica (Sim *sim, guint r, const char *what)
{
  MhStore *store;
  g_autoptr(GVariant) values = NULL;
  g_autofree char *text = NULL;

  if (trace_row == NULL)
    return;
  store = sim->stores[r];
  values = mh_store_get_row (store,
                             strchr (trace_row, '/') == NULL ? "parent"
                             : trace_row[0] == 'p'           ? "child"
                                                             : "message",
                             trace_row);
  text = values ? g_variant_print (values, FALSE) : g_strdup ("-");
  g_printerr ("op %u:   replica %u after %s: %s, %u parked, %u held\n", sim->op, r, what, text,
              mh_store_get_parked_count (store), mh_store_get_held_count (store));
}

/* Every replica's wall clock reads the virtual time plus its skew; so do
 * the hold checks, which use the same clock. */
static void
sim_sync_clocks (Sim *sim)
{
  gint64 real_ms = g_get_real_time () / 1000;

  for (guint r = 0; r < N_REPLICAS; r++)
    mh_store_set_clock_offset (sim->stores[r], sim->virtual_ms + sim->skew_ms[r] - real_ms);
  sim->forger.offset_ms = sim->virtual_ms - real_ms;
}

static gint64
fast_skew (Sim *sim)
{
  /* Ahead for the middle third of the run only: afterwards its clock
   * stays ahead anyway, as a hybrid logical clock never goes back. */
  return sim->op >= sim->n_ops / 3 && sim->op < 2 * sim->n_ops / 3 ? FAST_SKEW_MS : 0;
}

static void
sim_open_replica (Sim *sim, guint r)
{
  g_autofree char *name = g_strdup_printf ("replica-%u.db", r);
  char *errmsg = NULL;

  sim->stores[r] = test_open (sim->dir, name, sim->schema, sim->sites[r]);
  /* Durability is not under test here; speed is. */
  if (sqlite3_exec (mh_store_get_db (sim->stores[r]), "PRAGMA synchronous = OFF", NULL, NULL,
                    &errmsg) != SQLITE_OK)
    sim_fail (sim, G_STRLOC, "%s", errmsg);
  mh_store_set_validator (sim->stores[r], validate, NULL, NULL);
}

static void
sim_add_link (Sim *sim, guint a, guint b)
{
  sim->linked[a][b] = sim->linked[b][a] = TRUE;
  for (guint lane = 0; lane < N_LANES; lane++)
    for (guint dir = 0; dir < 2; dir++)
      {
        Link *link = g_new0 (Link, 1);

        link->from = dir ? b : a;
        link->to = dir ? a : b;
        link->lane = lane;
        link->rewind_to = G_MAXINT64;
        link->in_flight = g_ptr_array_new_with_free_func ((GDestroyNotify) batch_free);
        g_ptr_array_add (sim->links, link);
      }
}

/* A random spanning tree, so every replica is reachable, plus a few more
 * links; never all of them, so that some pairs only hear each other
 * through relays. */
static void
sim_make_topology (Sim *sim)
{
  guint order[N_REPLICAS];
  guint n_links = 0;

  for (guint i = 0; i < N_REPLICAS; i++)
    order[i] = i;
  for (guint i = N_REPLICAS - 1; i > 0; i--)
    {
      guint j = rnd (sim, i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  for (guint i = 1; i < N_REPLICAS; i++)
    {
      sim_add_link (sim, order[i], order[rnd (sim, i)]);
      n_links++;
    }
  for (guint a = 0; a < N_REPLICAS; a++)
    for (guint b = a + 1; b < N_REPLICAS; b++)
      if (!sim->linked[a][b] && n_links < N_REPLICAS * (N_REPLICAS - 1) / 2 - 1
          && chance (sim, 25))
        {
          sim_add_link (sim, a, b);
          n_links++;
        }
}

static Sim *
sim_new (guint32 seed, guint n_ops)
{
  Sim *sim = g_new0 (Sim, 1);

  sim->seed = seed;
  sim->n_ops = n_ops;
  sim->rand = g_rand_new_with_seed (seed);
  sim->dir = mh_test_make_tmpdir ("mh-convergence");
  sim->schema = convergence_schema ();
  sim->t_parent = mh_schema_lookup_table (sim->schema, "parent");
  sim->t_child = mh_schema_lookup_table (sim->schema, "child");
  sim->t_message = mh_schema_lookup_table (sim->schema, "message");
  sim->links = g_ptr_array_new_with_free_func ((GDestroyNotify) link_free);
  sim->model = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  sim->virtual_ms = g_get_real_time () / 1000;

  /* Site ids as long as real ones (a hash of a public key), so that ids
   * prefixed with them are long too. */
  for (guint r = 0; r < N_REPLICAS; r++)
    {
      g_autofree char *key = g_strdup_printf ("replica %u of seed %u", r, seed);
      sim->sites[r] = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
      /* Within the hold bound of each other, mostly: a replica 3 minutes
       * behind still holds one 4 minutes ahead until time catches up. */
      sim->skew_ms[r] = (gint64) g_rand_int_range (sim->rand, -180, 241) * 1000;
    }
  sim->forger_site = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "forger", -1);
  sim->fast = rnd (sim, N_REPLICAS);

  for (guint r = 0; r < N_REPLICAS; r++)
    sim_open_replica (sim, r);
  sim_make_topology (sim);
  sim_sync_clocks (sim);
  return sim;
}

static void
sim_free (Sim *sim)
{
  for (guint r = 0; r < N_REPLICAS; r++)
    {
      g_clear_object (&sim->stores[r]);
      g_free (sim->sites[r]);
    }
  g_ptr_array_unref (sim->links);
  g_ptr_array_unref (sim->model);
  mh_schema_unref (sim->schema);
  g_rand_free (sim->rand);
  if (g_getenv ("MEDHEAD_KEEP_TMP") == NULL)
    mh_test_rm_rf (sim->dir);
  g_free (sim->dir);
  g_free (sim->forger_site);
  g_free (sim);
}

/* ------------------------------------------------------------------------ */
/* Keys and values                                                          */

/* The key window slides as the run goes on: about KEY_WINDOW live keys per
 * table at any time, so conflicts are frequent, and fresh ids keep coming
 * (children of parents not yet everywhere, writes after deletes). */
static guint
window_base (Sim *sim)
{
  return sim->op / 100;
}

static char *
pick_row (Sim *sim, const MhTableDef *table)
{
  guint base = window_base (sim);

  if (table == sim->t_parent)
    return g_strdup_printf ("p%03u", base + rnd (sim, KEY_WINDOW));
  if (table == sim->t_child)
    return g_strdup_printf ("p%03u/c%u", base + KEY_WINDOW / 2 + rnd (sim, KEY_WINDOW / 2),
                            rnd (sim, 2));
  {
    guint author = rnd (sim, N_REPLICAS + 1);
    const char *site = author < N_REPLICAS ? sim->sites[author] : sim->forger_site;
    return g_strdup_printf ("%s/m%03u", site, base / 2 + rnd (sim, 4));
  }
}

static const char *const words[] = {
  "normal", "advisory", "closed", "évacuation", "a \"quoted\" word", "back\\slash",
  "line\nbreak", "", "ünïcödé ✚", "tab\there", "x",
};

/* Reals that are hard to carry exactly: JSON, SQLite's REAL affinity. */
static const double awkward_reals[] = {
  0.1, -0.0, 2.0, 1e22, -1e300, 5e-324, 51.5072, -0.1278, 1.0 / 3.0, 123456789.125,
};

static GVariant *
random_value (Sim *sim, const MhColumnDef *column)
{
  if (chance (sim, 8))
    return g_variant_ref_sink (mh_value_null ());
  switch (column->type)
    {
    case MH_COLUMN_INTEGER:
      /* Small counts mostly; now and then one past 2^32. */
      if (rnd (sim, 4) == 0)
        return g_variant_ref_sink (g_variant_new_int64 ((gint64) g_rand_int (sim->rand) * 4096));
      return g_variant_ref_sink (g_variant_new_int64 (rnd (sim, 100)));
    case MH_COLUMN_REAL:
      if (chance (sim, 10))
        return g_variant_ref_sink (
          g_variant_new_double (awkward_reals[rnd (sim, G_N_ELEMENTS (awkward_reals))]));
      return g_variant_ref_sink (g_variant_new_double (g_rand_double_range (sim->rand, -180, 180)));
    case MH_COLUMN_TEXT:
    default:
      return g_variant_ref_sink (g_variant_new_string (words[rnd (sim, G_N_ELEMENTS (words))]));
    }
}

static GVariant *
negative_value (Sim *sim)
{
  return g_variant_ref_sink (g_variant_new_int64 (-1 - (gint64) rnd (sim, 1000)));
}

/* Values of some columns of a table: one GVariant (or NULL: not given) per
 * column, in the table's column order. */
typedef struct
{
  guint n;
  GVariant **cells;
} Values;

static Values *
values_new (const MhTableDef *table)
{
  Values *values = g_new0 (Values, 1);

  values->n = table->columns->len;
  values->cells = g_new0 (GVariant *, values->n);
  return values;
}

static void
values_free (Values *values)
{
  for (guint i = 0; i < values->n; i++)
    g_clear_pointer (&values->cells[i], g_variant_unref);
  g_free (values->cells);
  g_free (values);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Values, values_free)

static void
values_set (Values *values, guint column, GVariant *value)
{
  g_clear_pointer (&values->cells[column], g_variant_unref);
  values->cells[column] = value;
}

static void
values_fill_register (Sim *sim, Values *values, const MhTableDef *table, guint reg_index)
{
  const MhRegisterDef *reg = g_ptr_array_index (table->registers, reg_index);

  for (guint c = reg->first_column; c < reg->first_column + reg->n_columns; c++)
    values_set (values, c, random_value (sim, g_ptr_array_index (table->columns, c)));
}

/* Makes one integer column negative: wrong in itself. */
static gboolean
values_spoil (Sim *sim, Values *values, const MhTableDef *table)
{
  guint ints[8], n = 0;

  for (guint c = 0; c < table->columns->len && n < G_N_ELEMENTS (ints); c++)
    if (((const MhColumnDef *) g_ptr_array_index (table->columns, c))->type == MH_COLUMN_INTEGER)
      ints[n++] = c;
  if (n == 0)
    return FALSE;
  values_set (values, ints[rnd (sim, n)], negative_value (sim));
  return TRUE;
}

static GVariant *
values_to_vardict (Values *values, const MhTableDef *table)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint c = 0; c < values->n; c++)
    if (values->cells[c] != NULL)
      g_variant_builder_add (&builder, "{sv}",
                             ((const MhColumnDef *) g_ptr_array_index (table->columns, c))->name,
                             values->cells[c]);
  return g_variant_builder_end (&builder);
}

/* The `av` value of a register: given columns, else @current's value of the
 * column (an update keeps the other columns of a register), else NULL. */
static GVariant *
register_value (const MhTableDef *table, guint reg_index, Values *given, GVariant *current)
{
  const MhRegisterDef *reg = g_ptr_array_index (table->registers, reg_index);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
  for (guint c = reg->first_column; c < reg->first_column + reg->n_columns; c++)
    {
      const MhColumnDef *column = g_ptr_array_index (table->columns, c);
      g_autoptr(GVariant) kept = NULL;
      GVariant *value = NULL;

      if (given->cells[c] != NULL)
        value = given->cells[c];
      else if (current != NULL && (kept = g_variant_lookup_value (current, column->name, NULL)))
        value = kept;

      if (value == NULL || mh_value_is_null (value))
        g_variant_builder_add (&builder, "v", mh_value_null ());
      else
        g_variant_builder_add (&builder, "v", value);
    }
  return g_variant_builder_end (&builder);
}

/* ------------------------------------------------------------------------ */
/* Local writes                                                             */

typedef enum
{
  WRITE_INSERT,
  WRITE_UPDATE,
  WRITE_UPSERT,
  WRITE_DELETE,
} WriteKind;

static gboolean
do_write (MhStore *store, WriteKind kind, const MhTableDef *table, const char *row,
          Values *values, GError **error)
{
  switch (kind)
    {
    case WRITE_INSERT:
      return mh_store_insert (store, table->name, row, values_to_vardict (values, table), error);
    case WRITE_UPDATE:
      return mh_store_update (store, table->name, row, values_to_vardict (values, table), error);
    case WRITE_UPSERT:
      return mh_store_upsert (store, table->name, row, values_to_vardict (values, table), error);
    case WRITE_DELETE:
    default:
      return mh_store_delete (store, table->name, row, error);
    }
}

/* A write that must be refused with @code, and leave the row as it was. */
static void
write_expect_error (Sim *sim, guint r, WriteKind kind, const MhTableDef *table, const char *row,
                    Values *values, int code)
{
  MhStore *store = sim->stores[r];
  MhRowState before = mh_store_get_row_state (store, table->name, row);
  gint64 seq = mh_store_get_last_seq (store);
  g_autoptr(GError) error = NULL;
  gboolean ok = do_write (store, kind, table, row, values, &error);

  sim_check (sim, !ok && g_error_matches (error, MH_SYNC_ERROR, code),
             "write %d to %s %s at replica %u: expected error %d, got %s", kind, table->name, row,
             r, code, error ? error->message : "success");
  sim_check (sim, mh_store_get_row_state (store, table->name, row) == before,
             "a refused write changed %s %s", table->name, row);
  sim_check (sim, mh_store_get_last_seq (store) == seq, "a refused write logged something");
  sim->stats.expected_errors++;
}

static void
model_add (Sim *sim, MhChange *change)
{
  change->schema_version = 1;
  trace_change (sim, "made", change);
  g_ptr_array_add (sim->model, change);
}

/* A write that must succeed; its changes go to the model. The changes are
 * worked out here from what was written, not read back from the store. */
static void
write_expect_ok (Sim *sim, guint r, WriteKind kind, const MhTableDef *table, const char *row,
                 Values *values)
{
  MhStore *store = sim->stores[r];
  g_autoptr(GVariant) current = mh_store_get_row (store, table->name, row);
  g_autoptr(GError) error = NULL;
  gboolean whole_row = current == NULL; /* an insert writes every register */
  MhHlc hlc;

  if (!do_write (store, kind, table, row, values, &error))
    sim_fail (sim, G_STRLOC, "write %d to %s %s at replica %u failed: %s", kind, table->name,
              row, r, error->message);
  hlc = mh_store_get_clock (store);
  sim->stats.local_writes++;
  if (traced (row))
    {
      g_printerr ("op %u: local write %d at replica %u\n", sim->op, kind, r);
      trace_replica (sim, r, "local write");
    }

  if (kind == WRITE_DELETE)
    {
      model_add (sim, mh_change_new_delete (table->name, row, hlc, sim->sites[r], 0));
      return;
    }
  for (guint i = 0; i < table->registers->len; i++)
    {
      const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);
      gboolean touched = whole_row;

      for (guint c = reg->first_column; c < reg->first_column + reg->n_columns; c++)
        if (values->cells[c] != NULL)
          touched = TRUE;
      if (touched)
        model_add (sim, mh_change_new_set (table->name, row, reg->name,
                                           register_value (table, i, values, current), hlc,
                                           sim->sites[r], 0));
    }
}

/* An update: one column, one whole register, or several registers. */
static void
values_for_update (Sim *sim, Values *values, const MhTableDef *table)
{
  guint n_regs = table->registers->len;
  guint mode = rnd (sim, 4);

  if (mode < 2)
    {
      guint c = rnd (sim, table->columns->len);
      values_set (values, c, random_value (sim, g_ptr_array_index (table->columns, c)));
    }
  else if (mode == 2)
    values_fill_register (sim, values, table, rnd (sim, n_regs));
  else
    for (guint i = 0; i < n_regs; i++)
      if (chance (sim, 60))
        values_fill_register (sim, values, table, i);
  /* Make sure something is written. */
  for (guint c = 0; c < values->n; c++)
    if (values->cells[c] != NULL)
      return;
  values_fill_register (sim, values, table, 0);
}

static void
values_for_insert (Sim *sim, Values *values, const MhTableDef *table)
{
  for (guint c = 0; c < values->n; c++)
    if (chance (sim, 85))
      values_set (values, c, random_value (sim, g_ptr_array_index (table->columns, c)));
}

static void
local_op (Sim *sim, guint r)
{
  MhStore *store = sim->stores[r];
  guint pick = rnd (sim, 100);
  const MhTableDef *table = pick < 45 ? sim->t_parent : pick < 80 ? sim->t_child : sim->t_message;
  g_autofree char *row = pick_row (sim, table);
  g_autoptr(Values) values = values_new (table);
  MhRowState state = mh_store_get_row_state (store, table->name, row);
  guint roll = rnd (sim, 100);
  gboolean insert_only = (table->flags & MH_TABLE_INSERT_ONLY) != 0;

  sim_sync_clocks (sim);
  switch (state)
    {
    case MH_ROW_DELETED:
      /* Ids are never reused: every write to a deleted row is refused. */
      values_for_update (sim, values, table);
      write_expect_error (sim, r, (WriteKind) rnd (sim, 4), table, row, values,
                          MH_SYNC_ERROR_DELETED);
      break;

    case MH_ROW_ABSENT:
      if (roll < 4)
        {
          values_for_update (sim, values, table);
          write_expect_error (sim, r, roll < 2 ? WRITE_UPDATE : WRITE_DELETE, table, row, values,
                              MH_SYNC_ERROR_NOT_FOUND);
          break;
        }
      values_for_insert (sim, values, table);
      if (roll < 8 && values_spoil (sim, values, table))
        {
          write_expect_error (sim, r, WRITE_INSERT, table, row, values, MH_SYNC_ERROR_REJECTED);
          break;
        }
      if (table == sim->t_child)
        {
          g_autofree char *parent = child_parent (row);
          if (mh_store_get_row_state (store, "parent", parent) == MH_ROW_ABSENT)
            {
              g_autoptr(Values) parent_values = NULL;

              /* Parked remotely, refused locally: a writer must have the parent. */
              if (roll < 50)
                {
                  write_expect_error (sim, r, WRITE_INSERT, table, row, values,
                                      MH_SYNC_ERROR_REJECTED);
                  break;
                }
              /* Or it makes the parent first. Parents and children travel in
               * separate lanes, so peers often get the child first. */
              parent_values = values_new (sim->t_parent);
              values_for_insert (sim, parent_values, sim->t_parent);
              write_expect_ok (sim, r, WRITE_INSERT, sim->t_parent, parent, parent_values);
              /* Changes to the child parked here waiting for that parent
               * are taken now. */
              if (mh_store_get_row_state (store, table->name, row) != MH_ROW_ABSENT)
                {
                  write_expect_error (sim, r, WRITE_INSERT, table, row, values,
                                      MH_SYNC_ERROR_EXISTS);
                  sim->stats.unparked_locally++;
                  break;
                }
            }
        }
      write_expect_ok (sim, r, roll < 20 ? WRITE_UPSERT : WRITE_INSERT, table, row, values);
      break;

    case MH_ROW_LIVE:
    default:
      if (roll < 5)
        {
          write_expect_ok (sim, r, WRITE_DELETE, table, row, values);
          break;
        }
      if (roll < 9)
        {
          values_for_insert (sim, values, table);
          write_expect_error (sim, r, WRITE_INSERT, table, row, values, MH_SYNC_ERROR_EXISTS);
          break;
        }
      values_for_update (sim, values, table);
      if (insert_only)
        {
          write_expect_error (sim, r, roll < 50 ? WRITE_UPDATE : WRITE_UPSERT, table, row, values,
                              MH_SYNC_ERROR_INSERT_ONLY);
          break;
        }
      if (roll < 13 && values_spoil (sim, values, table))
        {
          write_expect_error (sim, r, WRITE_UPDATE, table, row, values, MH_SYNC_ERROR_REJECTED);
          break;
        }
      write_expect_ok (sim, r, roll < 20 ? WRITE_UPSERT : WRITE_UPDATE, table, row, values);
      break;
    }
  sim->op++;
  sim->virtual_ms += rnd (sim, 40);
}

typedef struct
{
  Sim *sim;
  guint replica;
  guint n;
} Burst;

static gboolean
burst_run (MhStore *store, gpointer user_data, GError **error)
{
  Burst *burst = user_data;

  for (guint i = 0; i < burst->n && burst->sim->op < burst->sim->n_ops; i++)
    local_op (burst->sim, burst->replica);
  return TRUE;
}

/* A few local writes at one replica, in one transaction or one each. */
static void
sim_burst (Sim *sim)
{
  Burst burst = { sim, rnd (sim, N_REPLICAS), 1 + rnd (sim, 6) };
  g_autoptr(GError) error = NULL;

  /* The fast replica's skew changes with the phase of the run. */
  sim->skew_ms[sim->fast] = fast_skew (sim);
  if (chance (sim, 50))
    {
      if (!mh_store_transact (sim->stores[burst.replica], burst_run, &burst, &error))
        sim_fail (sim, G_STRLOC, "a transaction of local writes failed: %s", error->message);
    }
  else
    burst_run (sim->stores[burst.replica], &burst, NULL);
}

/* ------------------------------------------------------------------------ */
/* The forger: remote changes made by the test itself                       */

static void
sim_deliver (Sim *sim, guint to, GPtrArray *changes, MhApplyReport *out_report);

static void
sim_forge (Sim *sim, gboolean bad)
{
  const MhTableDef *table;
  guint reg_index;
  g_autofree char *row = NULL;
  g_autoptr(Values) values = NULL;
  g_autoptr(GPtrArray) batch = test_batch_new ();
  const MhRegisterDef *reg;
  MhChange *change;
  guint n_targets = bad ? 1 + rnd (sim, 3) : 1;

  /* Good forged changes are parents and messages only: a forged child
   * could name a parent that never exists anywhere, and stay parked. */
  switch (rnd (sim, bad ? 4 : 3))
    {
    case 0: table = sim->t_parent; reg_index = 2; break; /* count */
    case 1: table = sim->t_parent; reg_index = bad ? 3 : rnd (sim, 4); break;
    case 2: table = sim->t_message; reg_index = 0; break;
    default: table = sim->t_child; reg_index = 0; break;
    }
  reg = g_ptr_array_index (table->registers, reg_index);
  row = pick_row (sim, table);
  values = values_new (table);
  values_fill_register (sim, values, table, reg_index);
  if (bad)
    {
      guint c;
      for (c = reg->first_column; c < reg->first_column + reg->n_columns; c++)
        if (((const MhColumnDef *) g_ptr_array_index (table->columns, c))->type
            == MH_COLUMN_INTEGER)
          break;
      g_assert (c < reg->first_column + reg->n_columns);
      values_set (values, c, negative_value (sim));
    }

  sim_sync_clocks (sim);
  change = mh_change_new_set (table->name, row, reg->name,
                              register_value (table, reg_index, values, NULL),
                              mh_clock_now (&sim->forger), sim->forger_site, ++sim->forger_seq);
  model_add (sim, change);
  g_ptr_array_add (batch, mh_change_ref (change));

  for (guint i = 0; i < n_targets; i++)
    {
      MhApplyReport report;
      guint to = rnd (sim, N_REPLICAS);

      sim_deliver (sim, to, batch, &report);
      sim_check (sim, !bad || report.applied == 0, "a forged negative count was applied at %u",
                 to);
    }
  if (bad)
    sim->stats.forged_bad++;
  else
    sim->stats.forged_good++;
}

/* ------------------------------------------------------------------------ */
/* Delivery                                                                 */

static void
sim_deliver (Sim *sim, guint to, GPtrArray *changes, MhApplyReport *out_report)
{
  MhApplyReport report;
  g_autoptr(GError) error = NULL;

  sim_sync_clocks (sim);
  if (trace_row != NULL)
    for (guint i = 0; i < changes->len; i++)
      {
        g_autofree char *what = g_strdup_printf ("to replica %u", to);
        trace_change (sim, what, g_ptr_array_index (changes, i));
      }
  if (!mh_store_apply (sim->stores[to], changes, &report, &error))
    sim_fail (sim, G_STRLOC, "applying %u changes at replica %u failed: %s", changes->len, to,
              error->message);
  trace_replica (sim, to, "apply");
  sim->stats.applied += report.applied;
  sim->stats.older += report.ignored_older;
  sim->stats.deleted += report.ignored_deleted;
  sim->stats.rejected += report.rejected;
  sim->stats.parked += report.parked;
  sim->stats.held += report.held;
  sim->stats.unparked += report.unparked;
  sim->stats.released += report.released;
  sim->stats.delivered++;
  if (out_report)
    *out_report = report;
}

typedef struct
{
  GPtrArray *changes;
  MhApplyReport report;
} Abandoned;

static gboolean
apply_then_abandon (MhStore *store, gpointer user_data, GError **error)
{
  Abandoned *abandoned = user_data;

  if (!mh_store_apply (store, abandoned->changes, &abandoned->report, error))
    return FALSE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the caller gave up");
  return FALSE;
}

/* The layer above applies a batch inside its own transaction, then fails
 * and rolls everything back: the replica must be as it was, sites,
 * digests, counts and log alike. */
static void
sim_deliver_abandoned (Sim *sim, guint to, GPtrArray *changes)
{
  MhStore *store = sim->stores[to];
  Abandoned abandoned = { changes, { 0 } };
  g_autoptr(GHashTable) before = mh_store_list_digests (store);
  g_autoptr(GHashTable) after = NULL;
  g_autoptr(GError) error = NULL;
  gint64 seq = mh_store_get_last_seq (store);
  guint parked = mh_store_get_parked_count (store);
  guint held = mh_store_get_held_count (store);

  sim_sync_clocks (sim);
  sim_check (sim, !mh_store_transact (store, apply_then_abandon, &abandoned, &error)
             && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED),
             "an abandoned transaction did not fail as it should");
  after = mh_store_list_digests (store);
  sim_check (sim, test_digests_equal (before, after), "a rollback changed the digests");
  sim_check (sim, mh_store_get_last_seq (store) == seq, "a rollback changed the log");
  sim_check (sim, mh_store_get_parked_count (store) == parked
             && mh_store_get_held_count (store) == held, "a rollback changed the queues");
  sim->stats.abandoned++;
}

/* Reads the next batch of a link's lane from the sender's own log. */
static Batch *
link_read (Sim *sim, Link *link, guint limit)
{
  g_autoptr(GError) error = NULL;
  gboolean restarted = FALSE, more = FALSE;
  gint64 from_seq = link->sent.seq;
  GPtrArray *changes;
  Batch *batch;

  sim_sync_clocks (sim);
  changes = mh_store_read_lane (sim->stores[link->from], link->lane, &link->sent, limit,
                                &restarted, &more, &error);
  sim_check_no_error (sim, error);
  sim_check (sim, !restarted, "replica %u's log restarted", link->from);
  /* Every log entry is carried by some register or tombstone: a page that
   * moved the cursor must bring something. */
  sim_check (sim, changes->len > 0 || link->sent.seq == from_seq,
             "replica %u lane %u: log entries (%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
             "] carry nothing%s", link->from, link->lane, from_seq, link->sent.seq,
             more ? ", and more follow" : "");
  if (changes->len == 0)
    {
      g_ptr_array_unref (changes);
      return NULL;
    }
  for (guint i = 0; i < changes->len; i++)
    {
      MhChange *change = g_ptr_array_index (changes, i);
      sim_check (sim, change->local_seq > from_seq && change->local_seq <= link->sent.seq,
                 "read_lane returned seq %" G_GINT64_FORMAT " outside (%" G_GINT64_FORMAT
                 ", %" G_GINT64_FORMAT "]", change->local_seq, from_seq, link->sent.seq);
      if (strcmp (change->origin, sim->sites[link->from]) != 0)
        sim->stats.relayed++;
    }
  batch = g_new0 (Batch, 1);
  batch->changes = changes;
  batch->from_seq = from_seq;
  sim->stats.sent_batches++;
  return batch;
}

static void
link_rewind (Sim *sim, Link *link)
{
  if (link->rewind_to == G_MAXINT64)
    return;
  link->sent.seq = MIN (link->sent.seq, link->rewind_to);
  link->rewind_to = G_MAXINT64;
  sim->stats.rewinds++;
}

static Link *
random_link (Sim *sim)
{
  return g_ptr_array_index (sim->links, rnd (sim, sim->links->len));
}

/* One network event: a send, a delivery (maybe lost or duplicated), a
 * sender noticing a loss, a peer losing its cursor, or time passing. */
static void
sim_network_event (Sim *sim)
{
  Link *link = random_link (sim);
  guint roll = rnd (sim, 1000);

  if (roll < 450)
    {
      Batch *batch = link_read (sim, link, 1 + rnd (sim, 40));
      if (batch != NULL)
        g_ptr_array_add (link->in_flight, batch);
    }
  else if (roll < 900)
    {
      guint i;
      Batch *batch;

      if (link->in_flight->len == 0)
        return;
      /* Out of order: any batch in flight may arrive first. */
      i = rnd (sim, link->in_flight->len);
      batch = g_ptr_array_index (link->in_flight, i);
      if (chance (sim, 8))
        {
          link->rewind_to = MIN (link->rewind_to, batch->from_seq);
          g_ptr_array_remove_index (link->in_flight, i);
          sim->stats.dropped++;
          return;
        }
      if (chance (sim, 3))
        {
          /* Applied, then abandoned by the caller's transaction: as good as lost. */
          sim_deliver_abandoned (sim, link->to, batch->changes);
          link->rewind_to = MIN (link->rewind_to, batch->from_seq);
          g_ptr_array_remove_index (link->in_flight, i);
          return;
        }
      sim_deliver (sim, link->to, batch->changes, NULL);
      if (chance (sim, 8))
        sim->stats.duplicated++; /* stays in flight: it will arrive again */
      else
        g_ptr_array_remove_index (link->in_flight, i);
    }
  else if (roll < 980)
    link_rewind (sim, link);
  else if (roll < 985)
    {
      /* The peer lost its cursor: it reads the lane again from the start. */
      link->sent.seq = 0;
      sim->stats.resets++;
    }
  else
    {
      MhApplyReport report;
      g_autoptr(GError) error = NULL;
      guint r = rnd (sim, N_REPLICAS);

      sim_sync_clocks (sim);
      if (!mh_store_release_held (sim->stores[r], &report, &error))
        sim_fail (sim, G_STRLOC, "releasing held changes at %u: %s", r, error->message);
      sim->stats.released += report.released;
      sim->stats.unparked += report.unparked;
    }
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */

/* The buckets where two sets of digests differ, one per line. */
static char *
digests_diff (GHashTable *a, GHashTable *b)
{
  g_autoptr(GHashTable) buckets = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GString) out = g_string_new (NULL);
  GList *keys;
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, a);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_hash_table_add (buckets, key);
  g_hash_table_iter_init (&iter, b);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_hash_table_add (buckets, key);
  keys = g_list_sort (g_hash_table_get_keys (buckets), (GCompareFunc) strcmp);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      const char *da = g_hash_table_lookup (a, l->data);
      const char *db = g_hash_table_lookup (b, l->data);
      if (g_strcmp0 (da, db) != 0)
        g_string_append_printf (out, "\n  %s: %s vs %s", (char *) l->data, da ? da : "(none)",
                                db ? db : "(none)");
    }
  g_list_free (keys);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
check_digests_consistent (Sim *sim, guint r)
{
  g_autoptr(GHashTable) recomputed = NULL;
  g_autoptr(GHashTable) incremental = mh_store_list_digests (sim->stores[r]);
  g_autoptr(GError) error = NULL;

  if (!mh_store_recompute_digests (sim->stores[r], &recomputed, &error))
    sim_fail (sim, G_STRLOC, "recomputing digests: %s", error->message);
  if (!test_digests_equal (incremental, recomputed))
    {
      g_autofree char *diff = digests_diff (incremental, recomputed);
      sim_fail (sim, G_STRLOC, "replica %u: incremental digests (left) differ from recomputed "
                "ones:%s", r, diff);
    }
}

/* Drains every link until a full round applies nothing anywhere. */
static guint
sim_quiesce (Sim *sim)
{
  g_autoptr(GPtrArray) order = g_ptr_array_new ();
  guint rounds = 0;

  for (guint l = 0; l < sim->links->len; l++)
    g_ptr_array_add (order, g_ptr_array_index (sim->links, l));

  /* The clocks agree again and the bound is wide: everything held is due. */
  sim->skew_ms[sim->fast] = 0;
  sim_sync_clocks (sim);
  for (guint r = 0; r < N_REPLICAS; r++)
    {
      MhApplyReport report;
      g_autoptr(GError) error = NULL;

      mh_store_set_hold_bound (sim->stores[r], FINAL_HOLD_BOUND_MS);
      mh_store_set_reference_offset (sim->stores[r], FAST_SKEW_MS);
      if (!mh_store_release_held (sim->stores[r], &report, &error))
        sim_fail (sim, G_STRLOC, "releasing held changes at %u: %s", r, error->message);
      sim->stats.released += report.released;
      sim->stats.unparked += report.unparked;
      sim_check (sim, mh_store_get_held_count (sim->stores[r]) == 0,
                 "replica %u still holds %u changes", r,
                 mh_store_get_held_count (sim->stores[r]));
    }

  for (;;)
    {
      guint64 before = sim->stats.applied + sim->stats.unparked + sim->stats.released;

      sim_check (sim, ++rounds < 100, "no quiescence after 100 rounds");
      /* What is still in flight arrives, in whatever order... */
      for (guint l = 0; l < sim->links->len; l++)
        {
          Link *link = g_ptr_array_index (sim->links, l);
          while (link->in_flight->len > 0)
            {
              Batch *batch = g_ptr_array_index (link->in_flight, link->in_flight->len - 1);
              sim_deliver (sim, link->to, batch->changes, NULL);
              g_ptr_array_remove_index (link->in_flight, link->in_flight->len - 1);
            }
          link_rewind (sim, link);
        }
      /* ...then every link sends all it has, in a random order of links. */
      for (guint n = sim->links->len; n > 0; n--)
        {
          guint j = rnd (sim, n);
          gpointer t = order->pdata[n - 1];
          Link *link = order->pdata[j];
          Batch *batch;

          order->pdata[n - 1] = order->pdata[j];
          order->pdata[j] = t;

          while ((batch = link_read (sim, link, 1 + rnd (sim, 100))) != NULL)
            {
              sim_deliver (sim, link->to, batch->changes, NULL);
              batch_free (batch);
            }
        }
      if (sim->stats.applied + sim->stats.unparked + sim->stats.released == before)
        break;
    }
  return rounds;
}

/* What the model says of one row. */
typedef struct
{
  const MhTableDef *table;
  const char *row;
  MhChange *deletion;  /* the greatest, or NULL */
  MhChange **winners;  /* per register: the greatest write, or NULL */
} ModelRow;

static void
model_row_free (ModelRow *mrow)
{
  g_free (mrow->winners);
  g_free (mrow);
}

/* Last-writer-wins order: the clock, then the origin's site id. */
static gboolean
greater (const MhChange *a, const MhChange *b)
{
  if (b == NULL)
    return TRUE;
  if (a->hlc != b->hlc)
    return a->hlc > b->hlc;
  return strcmp (a->origin, b->origin) > 0;
}

static char *
row_key (const char *table, const char *row)
{
  return g_strconcat (table, "\x1f", row, NULL);
}

/* The reference model: (table \x1f row) -> ModelRow, from every change ever
 * made. Deletes win; otherwise the greatest write of each register, leaving
 * out changes wrong in themselves and children of parents that never
 * existed anywhere (those stay parked). */
static GHashTable *
model_compute (Sim *sim)
{
  GHashTable *rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) model_row_free);
  g_autoptr(GHashTable) parents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < sim->model->len; i++)
    {
      MhChange *change = g_ptr_array_index (sim->model, i);
      if (g_str_equal (change->table, "parent")
          && (change->kind == MH_CHANGE_DELETE || !value_is_bad (change->value)))
        g_hash_table_add (parents, g_strdup (change->row));
    }

  for (guint i = 0; i < sim->model->len; i++)
    {
      MhChange *change = g_ptr_array_index (sim->model, i);
      const MhTableDef *table = mh_schema_lookup_table (sim->schema, change->table);
      g_autofree char *key = row_key (change->table, change->row);
      ModelRow *mrow = g_hash_table_lookup (rows, key);

      if (mrow == NULL)
        {
          mrow = g_new0 (ModelRow, 1);
          mrow->table = table;
          mrow->row = change->row;
          mrow->winners = g_new0 (MhChange *, table->registers->len);
          g_hash_table_insert (rows, g_steal_pointer (&key), mrow);
        }
      if (change->kind == MH_CHANGE_DELETE)
        {
          if (greater (change, mrow->deletion))
            mrow->deletion = change;
        }
      else
        {
          guint reg_index = G_MAXUINT;
          g_autofree char *parent = NULL;

          if (value_is_bad (change->value))
            continue;
          if (table == sim->t_child
              && !g_hash_table_contains (parents, (parent = child_parent (change->row))))
            continue;
          g_assert_nonnull (mh_table_def_lookup_register (table, change->reg, &reg_index));
          if (greater (change, mrow->winners[reg_index]))
            mrow->winners[reg_index] = change;
        }
    }
  return rows;
}

static MhRowState
model_row_state (const ModelRow *mrow)
{
  if (mrow->deletion != NULL)
    return MH_ROW_DELETED;
  for (guint i = 0; i < mrow->table->registers->len; i++)
    if (mrow->winners[i] != NULL)
      return MH_ROW_LIVE;
  return MH_ROW_ABSENT;
}

static const char *
state_name (MhRowState state)
{
  switch (state)
    {
    case MH_ROW_ABSENT: return "absent";
    case MH_ROW_LIVE: return "live";
    case MH_ROW_DELETED: return "deleted";
    default: return "?";
    }
}

/* Equal values, containers compared element by element. Reals compare as
 * numbers: a replica holds -0.0 as 0.0, as SQLite does. */
static gboolean
same_value (GVariant *a, GVariant *b)
{
  if (g_variant_is_of_type (a, G_VARIANT_TYPE_DOUBLE)
      && g_variant_is_of_type (b, G_VARIANT_TYPE_DOUBLE))
    return g_variant_get_double (a) == g_variant_get_double (b);
  if (g_variant_is_container (a) && g_variant_is_container (b)
      && g_variant_type_equal (g_variant_get_type (a), g_variant_get_type (b)))
    {
      gsize n = g_variant_n_children (a);

      if (n != g_variant_n_children (b))
        return FALSE;
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) ca = g_variant_get_child_value (a, i);
          g_autoptr(GVariant) cb = g_variant_get_child_value (b, i);
          if (!same_value (ca, cb))
            return FALSE;
        }
      return TRUE;
    }
  return g_variant_equal (a, b);
}

/* The replica's row equals the model's, column by column. */
static void
check_row (Sim *sim, guint r, const ModelRow *mrow)
{
  MhStore *store = sim->stores[r];
  const MhTableDef *table = mrow->table;
  MhRowState expected = model_row_state (mrow);
  MhRowState state = mh_store_get_row_state (store, table->name, mrow->row);
  g_autoptr(GVariant) values = mh_store_get_row (store, table->name, mrow->row);

  sim_check (sim, state == expected, "replica %u: %s %s is %s, the model says %s", r,
             table->name, mrow->row, state_name (state), state_name (expected));
  if (expected != MH_ROW_LIVE)
    {
      sim_check (sim, values == NULL, "replica %u: %s %s is not live but has values", r,
                 table->name, mrow->row);
      return;
    }
  sim_check (sim, values != NULL, "replica %u: live %s %s has no values", r, table->name,
             mrow->row);

  for (guint i = 0; i < table->registers->len; i++)
    {
      const MhRegisterDef *reg = g_ptr_array_index (table->registers, i);

      for (guint k = 0; k < reg->n_columns; k++)
        {
          const MhColumnDef *column = g_ptr_array_index (table->columns, reg->first_column + k);
          g_autoptr(GVariant) got = g_variant_lookup_value (values, column->name, NULL);
          g_autoptr(GVariant) boxed = NULL;
          g_autoptr(GVariant) want = NULL;

          if (mrow->winners[i] != NULL)
            {
              boxed = g_variant_get_child_value (mrow->winners[i]->value, k);
              want = g_variant_get_variant (boxed);
              if (mh_value_is_null (want))
                g_clear_pointer (&want, g_variant_unref);
            }
          if ((got == NULL) != (want == NULL) || (got != NULL && !same_value (got, want)))
            {
              g_autofree char *sg = got ? g_variant_print (got, TRUE) : g_strdup ("NULL");
              g_autofree char *sw = want ? g_variant_print (want, TRUE) : g_strdup ("NULL");
              sim_fail (sim, G_STRLOC, "replica %u: %s %s column %s is %s, the model says %s", r,
                        table->name, mrow->row, column->name, sg, sw);
            }
        }
    }
}

static gboolean
same_change (const MhChange *a, const MhChange *b)
{
  return a->kind == b->kind && a->hlc == b->hlc && g_str_equal (a->origin, b->origin)
         && g_str_equal (a->table, b->table) && g_str_equal (a->row, b->row)
         && g_strcmp0 (a->reg, b->reg) == 0
         && (a->value == NULL ? b->value == NULL : same_value (a->value, b->value));
}

/* The replica's whole log, read from the start, carries exactly the
 * winning change of every register of every live row and the greatest
 * deletion of every deleted row: no more (it is compacted), no less (a
 * first sync from it is complete). */
static void
check_log (Sim *sim, guint r, GHashTable *model_rows)
{
  g_autoptr(GPtrArray) all = test_read_all (sim->stores[r]);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  ModelRow *mrow;
  guint expected = 0;

  for (guint i = 0; i < all->len; i++)
    {
      MhChange *change = g_ptr_array_index (all, i);
      g_autofree char *key = g_strconcat (change->table, "\x1f", change->row, "\x1f",
                                          change->reg ? change->reg : "", NULL);

      sim_check (sim, !g_hash_table_contains (seen, key),
                 "replica %u: the log carries %s %s %s twice", r, change->table, change->row,
                 change->reg ? change->reg : "(deletion)");
      g_hash_table_insert (seen, g_steal_pointer (&key), change);
    }

  g_hash_table_iter_init (&iter, model_rows);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &mrow))
    {
      g_autofree char *key = g_strconcat (mrow->table->name, "\x1f", mrow->row, "\x1f", NULL);
      MhChange *logged = g_hash_table_lookup (seen, key);

      if (mrow->deletion != NULL)
        {
          expected++;
          sim_check (sim, logged != NULL && same_change (logged, mrow->deletion),
                     "replica %u: the log lacks the deletion of %s %s", r, mrow->table->name,
                     mrow->row);
          continue;
        }
      for (guint i = 0; i < mrow->table->registers->len; i++)
        {
          const MhRegisterDef *reg = g_ptr_array_index (mrow->table->registers, i);
          g_autofree char *reg_key = g_strconcat (key, reg->name, NULL);

          logged = g_hash_table_lookup (seen, reg_key);
          if (mrow->winners[i] == NULL)
            continue;
          expected++;
          if (logged == NULL || !same_change (logged, mrow->winners[i]))
            {
              g_autofree char *sw = g_variant_print (mrow->winners[i]->value, TRUE);
              g_autofree char *sl = logged ? g_variant_print (logged->value, TRUE) : NULL;
              sim_fail (sim, G_STRLOC, "replica %u: the log carries %s for %s %s %s, "
                        "the model's winner is %s at %" G_GINT64_FORMAT " from %.8s", r,
                        sl ? sl : "nothing", mrow->table->name, mrow->row, reg->name, sw,
                        mrow->winners[i]->hlc, mrow->winners[i]->origin);
            }
        }
    }
  sim_check (sim, all->len == expected, "replica %u: the log has %u changes, the model %u", r,
             all->len, expected);
}

/* A new replica that applies another's whole log ends with its digests. */
static void
check_first_sync (Sim *sim, guint r)
{
  g_autofree char *path = g_build_filename (sim->dir, "fresh.db", NULL);
  g_autoptr(MhStore) fresh = NULL;
  g_autoptr(GPtrArray) all = test_read_all (sim->stores[r]);
  g_autoptr(GPtrArray) reversed = NULL;
  g_autoptr(GHashTable) want = mh_store_list_digests (sim->stores[r]);
  g_autoptr(GHashTable) got = NULL;
  g_autoptr(GError) error = NULL;
  MhApplyReport report;

  fresh = mh_store_open (path, sim->schema, "fresh", &error);
  sim_check_no_error (sim, error);
  mh_store_set_validator (fresh, validate, NULL, NULL);
  mh_store_set_hold_bound (fresh, FINAL_HOLD_BOUND_MS);
  mh_store_set_reference_offset (fresh, FAST_SKEW_MS);
  /* Children come before their parents in this batch: parked, then taken. */
  reversed = test_batch_reversed (all);
  if (!mh_store_apply (fresh, reversed, &report, &error))
    sim_fail (sim, G_STRLOC, "first sync: %s", error->message);
  sim_check (sim, mh_store_get_parked_count (fresh) == 0, "first sync left %u parked",
             mh_store_get_parked_count (fresh));
  got = mh_store_list_digests (fresh);
  if (!test_digests_equal (want, got))
    {
      g_autofree char *diff = digests_diff (want, got);
      sim_fail (sim, G_STRLOC, "a first sync from replica %u differs:%s", r, diff);
    }
}

static void
sim_check_final (Sim *sim)
{
  g_autoptr(GHashTable) model_rows = model_compute (sim);
  g_autoptr(GHashTable) digests0 = mh_store_list_digests (sim->stores[0]);
  GHashTableIter iter;
  ModelRow *mrow;

  for (guint r = 0; r < N_REPLICAS; r++)
    {
      MhStore *store = sim->stores[r];

      sim_check (sim, mh_store_get_held_count (store) == 0, "replica %u holds %u", r,
                 mh_store_get_held_count (store));
      sim_check (sim, mh_store_get_parked_count (store) == 0, "replica %u has %u parked", r,
                 mh_store_get_parked_count (store));
      check_digests_consistent (sim, r);
    }

  /* Row by row against the model first: its failure says more than a
   * digest's. */
  g_hash_table_iter_init (&iter, model_rows);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &mrow))
    for (guint r = 0; r < N_REPLICAS; r++)
      check_row (sim, r, mrow);
  for (guint r = 0; r < N_REPLICAS; r++)
    {
      sim_check (sim, mh_store_get_row_state (sim->stores[r], "parent", "never") == MH_ROW_ABSENT,
                 "a row nobody wrote exists");
      check_log (sim, r, model_rows);
    }

  for (guint r = 1; r < N_REPLICAS; r++)
    {
      g_autoptr(GHashTable) digests = mh_store_list_digests (sim->stores[r]);

      if (!test_digests_equal (digests0, digests))
        {
          g_autofree char *diff = digests_diff (digests0, digests);
          sim_fail (sim, G_STRLOC, "digests of replicas 0 and %u differ:%s", r, diff);
        }
    }
  check_first_sync (sim, rnd (sim, N_REPLICAS));
}

/* ------------------------------------------------------------------------ */
/* The test                                                                 */

/* On a failure with MEDHEAD_TRACE_ROW set: where every link stands, and
 * where the traced row sits in every replica's log. */
static void
trace_dump (Sim *sim)
{
  for (guint l = 0; l < sim->links->len; l++)
    {
      Link *link = g_ptr_array_index (sim->links, l);
      g_printerr ("link %u->%u lane %u: sent %" G_GINT64_FORMAT ", rewind %" G_GINT64_FORMAT
                  ", %u in flight\n", link->from, link->to, link->lane, link->sent.seq,
                  link->rewind_to, link->in_flight->len);
    }
  for (guint r = 0; r < N_REPLICAS; r++)
    {
      g_autoptr(GPtrArray) all = test_read_all (sim->stores[r]);

      g_printerr ("replica %u (%.6s): last seq %" G_GINT64_FORMAT "\n", r, sim->sites[r],
                  mh_store_get_last_seq (sim->stores[r]));
      for (guint i = 0; i < all->len; i++)
        {
          MhChange *change = g_ptr_array_index (all, i);
          if (traced (change->row))
            {
              g_autofree char *what = g_strdup_printf ("  in log of %u at %" G_GINT64_FORMAT, r,
                                                       change->local_seq);
              trace_change (sim, what, change);
            }
        }
    }
}

static void
sim_run (Sim *sim)
{
  guint rounds;
  guint64 rejected_total = 0;

  while (sim->op < sim->n_ops)
    {
      guint events = rnd (sim, 4);
      guint before = sim->op;

      sim_burst (sim);
      for (guint i = 0; i < events; i++)
        sim_network_event (sim);
      if (chance (sim, 1))
        sim_forge (sim, FALSE);
      if (chance (sim, 1))
        sim_forge (sim, TRUE);
      /* Now and then, the invariant of the incremental digests. */
      if (before / 2500 != sim->op / 2500)
        for (guint r = 0; r < N_REPLICAS; r++)
          check_digests_consistent (sim, r);
    }

  rounds = sim_quiesce (sim);
  sim_check_final (sim);

  for (guint r = 0; r < N_REPLICAS; r++)
    rejected_total += mh_store_get_rejected_count (sim->stores[r]);
#define U(x) ((unsigned long long) (x))
  g_test_message ("seed=%u: %u ops: %llu local writes, %llu refused as expected, "
                  "%llu + %llu forged", sim->seed, sim->n_ops, U (sim->stats.local_writes),
                  U (sim->stats.expected_errors), U (sim->stats.forged_good),
                  U (sim->stats.forged_bad));
  g_test_message ("seed=%u: %llu batches sent, %llu delivered, %llu duplicated, %llu dropped, "
                  "%llu abandoned, %llu rewinds, %llu resets, %llu changes relayed; "
                  "%u final rounds", sim->seed, U (sim->stats.sent_batches),
                  U (sim->stats.delivered), U (sim->stats.duplicated), U (sim->stats.dropped),
                  U (sim->stats.abandoned), U (sim->stats.rewinds), U (sim->stats.resets),
                  U (sim->stats.relayed), rounds);
  g_test_message ("seed=%u: applied %llu, older %llu, deleted %llu, rejected %llu, "
                  "parked %llu, unparked %llu (%llu by a local write), held %llu, "
                  "released %llu", sim->seed, U (sim->stats.applied), U (sim->stats.older),
                  U (sim->stats.deleted), U (sim->stats.rejected), U (sim->stats.parked),
                  U (sim->stats.unparked), U (sim->stats.unparked_locally), U (sim->stats.held),
                  U (sim->stats.released));
#undef U

  /* A full-size run must have exercised every path it exists for. */
  if (sim->n_ops >= DEFAULT_OPS)
    {
      /* A parked change may leave its queue as older or deleted rather than
       * applied, so only parking itself is sure to happen. */
      sim_check (sim, sim->stats.parked > 0, "nothing was parked");
      sim_check (sim, sim->stats.held > 0 && sim->stats.released > 0, "nothing was held");
      sim_check (sim, sim->stats.rejected > 0 && rejected_total > 0, "nothing was rejected");
      sim_check (sim, sim->stats.relayed > 0, "nothing was relayed");
      sim_check (sim, sim->stats.dropped > 0 && sim->stats.duplicated > 0, "no loss");
      sim_check (sim, sim->stats.deleted > 0, "no write to a deleted row");
    }
}

static guint
env_uint (const char *name, guint fallback)
{
  const char *value = g_getenv (name);

  if (value == NULL || *value == '\0')
    return fallback;
  return (guint) g_ascii_strtoull (value, NULL, 10);
}

static guint n_ops_per_seed;

static void
test_convergence_seed (gconstpointer data)
{
  guint32 seed = GPOINTER_TO_UINT (data);
  Sim *sim;

  g_test_message ("seed=%u (replay with MEDHEAD_SEED=%u)", seed, seed);
  sim = sim_new (seed, n_ops_per_seed);
  sim_run (sim);
  sim_free (sim);
}

int
main (int argc, char **argv)
{
  gboolean valgrind = test_under_valgrind ();
  guint32 only = mh_test_seed_from_env (0);
  guint n_seeds = env_uint ("MEDHEAD_CONVERGENCE_SEEDS",
                            valgrind ? VALGRIND_SEEDS : UNDER_ASAN ? ASAN_SEEDS : DEFAULT_SEEDS);

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  n_ops_per_seed = env_uint ("MEDHEAD_CONVERGENCE_OPS",
                             valgrind ? VALGRIND_OPS : UNDER_ASAN ? ASAN_OPS : DEFAULT_OPS);
  trace_row = g_getenv ("MEDHEAD_TRACE_ROW");
  if (only != 0)
    {
      g_autofree char *path = g_strdup_printf ("/convergence/seed-%u", only);
      g_test_add_data_func (path, GUINT_TO_POINTER (only), test_convergence_seed);
    }
  else
    for (guint32 seed = 1; seed <= n_seeds; seed++)
      {
        g_autofree char *path = g_strdup_printf ("/convergence/seed-%u", seed);
        g_test_add_data_func (path, GUINT_TO_POINTER (seed), test_convergence_seed);
      }
  return g_test_run ();
}

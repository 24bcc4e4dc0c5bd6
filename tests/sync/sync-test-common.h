/* sync-test-common.h: a small schema and helpers shared by the sync unit tests
 *
 * Everything is static inline, so that each test program takes only what
 * it uses without unused-function warnings.
 *
 * The schema, version 1:
 * - lane 0 "registry", lane 1 "care";
 * - hospital (lane 0): name {name}, status {status, reason} (history),
 *   beds {available, baseline}, loc {lat, lon};
 * - patient (lane 1, bucket "patients" by row prefix): triage {triage}
 *   (history), age {age}, note {note};
 * - observation (lane 1, insert-only, bucket "patients" by row prefix):
 *   obs {patient, hr, spo2}.
 */
#pragma once

#include <stdarg.h>
#include <string.h>

#include "mh-sync.h"
#include "mh-test-util.h"

enum
{
  LANE_REGISTRY,
  LANE_CARE,
};

#define MINUTE_MS (G_GINT64_CONSTANT (60) * 1000)

static inline MhSchema *
test_schema_new (guint version)
{
  MhSchema *schema = mh_schema_new (version);
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (mh_schema_add_lane (schema, "registry", 4), ==, LANE_REGISTRY);
  g_assert_cmpuint (mh_schema_add_lane (schema, "care", 2), ==, LANE_CARE);

  g_assert_true (mh_schema_add_table (schema, "hospital", LANE_REGISTRY, MH_TABLE_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (mh_schema_add_register (schema, "hospital", "name", MH_REGISTER_NONE,
                                         "name", MH_COLUMN_TEXT, NULL));
  g_assert_true (mh_schema_add_register (schema, "hospital", "status", MH_REGISTER_HISTORY,
                                         "status", MH_COLUMN_TEXT, "reason", MH_COLUMN_TEXT,
                                         NULL));
  g_assert_true (mh_schema_add_register (schema, "hospital", "beds", MH_REGISTER_NONE,
                                         "available", MH_COLUMN_INTEGER, "baseline",
                                         MH_COLUMN_INTEGER, NULL));
  g_assert_true (mh_schema_add_register (schema, "hospital", "loc", MH_REGISTER_NONE, "lat",
                                         MH_COLUMN_REAL, "lon", MH_COLUMN_REAL, NULL));

  g_assert_true (mh_schema_add_table (schema, "patient", LANE_CARE, MH_TABLE_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (mh_schema_add_register (schema, "patient", "triage", MH_REGISTER_HISTORY,
                                         "triage", MH_COLUMN_TEXT, NULL));
  g_assert_true (mh_schema_add_register (schema, "patient", "age", MH_REGISTER_NONE, "age",
                                         MH_COLUMN_INTEGER, NULL));
  g_assert_true (mh_schema_add_register (schema, "patient", "note", MH_REGISTER_NONE, "note",
                                         MH_COLUMN_TEXT, NULL));
  g_assert_true (mh_schema_set_bucket (schema, "patient", "patients", TRUE));

  g_assert_true (mh_schema_add_table (schema, "observation", LANE_CARE, MH_TABLE_INSERT_ONLY,
                                      &error));
  g_assert_no_error (error);
  g_assert_true (mh_schema_add_register (schema, "observation", "obs", MH_REGISTER_NONE,
                                         "patient", MH_COLUMN_TEXT, "hr", MH_COLUMN_INTEGER,
                                         "spo2", MH_COLUMN_REAL, NULL));
  g_assert_true (mh_schema_set_bucket (schema, "observation", "patients", TRUE));
  return schema;
}

static inline MhStore *
test_open (const char *dir, const char *name, MhSchema *schema, const char *site)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  MhStore *store = mh_store_open (path, schema, site, &error);

  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

/* A clock reading @offset_ms away from the real time now. */
static inline MhHlc
test_hlc (gint64 offset_ms, guint counter)
{
  return MH_HLC_PACK (g_get_real_time () / 1000 + offset_ms, counter);
}

/* A remote write. @values is GVariant text of type av, e.g.
 * "[<'closed'>, <'flood'>]"; integers must be written <int64 N>, as
 * peers' decoded changes carry them. */
static inline MhChange *
test_set (const char *table, const char *row, const char *reg, MhHlc hlc, const char *origin,
          gint64 origin_seq, const char *values)
{
  MhChange *change = mh_change_new_set (table, row, reg, g_variant_new_parsed (values), hlc,
                                        origin, origin_seq);

  change->schema_version = 1;
  return change;
}

static inline MhChange *
test_delete (const char *table, const char *row, MhHlc hlc, const char *origin, gint64 origin_seq)
{
  MhChange *change = mh_change_new_delete (table, row, hlc, origin, origin_seq);

  change->schema_version = 1;
  return change;
}

static inline GPtrArray *
test_batch_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
}

/* A batch of the given changes (transfer full), %NULL-terminated. */
static inline GPtrArray *
test_batch (MhChange *first, ...)
{
  GPtrArray *batch = test_batch_new ();
  va_list args;

  va_start (args, first);
  for (MhChange *c = first; c != NULL; c = va_arg (args, MhChange *))
    g_ptr_array_add (batch, c);
  va_end (args);
  return batch;
}

/* A batch holding references to the same changes, in reverse order. */
static inline GPtrArray *
test_batch_reversed (GPtrArray *batch)
{
  GPtrArray *reversed = test_batch_new ();

  for (guint i = batch->len; i > 0; i--)
    g_ptr_array_add (reversed, mh_change_ref (g_ptr_array_index (batch, i - 1)));
  return reversed;
}

static inline MhApplyReport
test_apply (MhStore *store, GPtrArray *batch)
{
  MhApplyReport report;
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_apply (store, batch, &report, &error));
  g_assert_no_error (error);
  return report;
}

#define test_assert_report(r, app, older, del, rej, park, hld, unpark, rel)                        \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_assert_cmpuint ((r).applied, ==, (app));                                                     \
    g_assert_cmpuint ((r).ignored_older, ==, (older));                                             \
    g_assert_cmpuint ((r).ignored_deleted, ==, (del));                                             \
    g_assert_cmpuint ((r).rejected, ==, (rej));                                                    \
    g_assert_cmpuint ((r).parked, ==, (park));                                                     \
    g_assert_cmpuint ((r).held, ==, (hld));                                                        \
    g_assert_cmpuint ((r).unparked, ==, (unpark));                                                 \
    g_assert_cmpuint ((r).released, ==, (rel));                                                    \
  }                                                                                                \
  G_STMT_END

/* Every change of a lane, from the start. */
static inline GPtrArray *
test_read_lane_all (MhStore *store, guint lane)
{
  MhCursor cursor = { 0, 0 };
  gboolean restarted = TRUE, more = TRUE;
  g_autoptr(GError) error = NULL;
  GPtrArray *changes = mh_store_read_lane (store, lane, &cursor, G_MAXUINT - 1, &restarted,
                                           &more, &error);

  g_assert_no_error (error);
  g_assert_nonnull (changes);
  g_assert_false (restarted);
  g_assert_false (more);
  return changes;
}

/* Every change of every lane, lane by lane. */
static inline GPtrArray *
test_read_all (MhStore *store)
{
  GPtrArray *all = test_batch_new ();

  for (guint lane = 0; lane < mh_schema_get_n_lanes (mh_store_get_schema (store)); lane++)
    {
      g_autoptr(GPtrArray) changes = test_read_lane_all (store, lane);
      for (guint i = 0; i < changes->len; i++)
        g_ptr_array_add (all, mh_change_ref (g_ptr_array_index (changes, i)));
    }
  return all;
}

/* Sends all of @from's log to @to. */
static inline MhApplyReport
test_sync (MhStore *from, MhStore *to)
{
  g_autoptr(GPtrArray) changes = test_read_all (from);

  return test_apply (to, changes);
}

/* A column of a live row as text, or %NULL when the row or value is absent. */
static inline char *
test_get_string (MhStore *store, const char *table, const char *row, const char *column)
{
  g_autoptr(GVariant) values = mh_store_get_row (store, table, row);
  const char *s = NULL;

  if (values == NULL || !g_variant_lookup (values, column, "&s", &s))
    return NULL;
  return g_strdup (s);
}

/* A column of a live row as an integer; G_MININT64 when absent. */
static inline gint64
test_get_int (MhStore *store, const char *table, const char *row, const char *column)
{
  g_autoptr(GVariant) values = mh_store_get_row (store, table, row);
  gint64 v = G_MININT64;

  if (values == NULL || !g_variant_lookup (values, column, "x", &v))
    return G_MININT64;
  return v;
}

#define test_assert_string(store, table, row, column, expected)                                   \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *_s = test_get_string ((store), (table), (row), (column));                     \
    g_assert_cmpstr (_s, ==, (expected));                                                          \
  }                                                                                                \
  G_STMT_END

static inline gboolean
test_digests_equal (GHashTable *a, GHashTable *b)
{
  GHashTableIter iter;
  gpointer key, value;

  if (g_hash_table_size (a) != g_hash_table_size (b))
    return FALSE;
  g_hash_table_iter_init (&iter, a);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (g_strcmp0 (value, g_hash_table_lookup (b, key)) != 0)
      return FALSE;
  return TRUE;
}

static inline char *
test_digests_to_string (GHashTable *digests)
{
  GList *keys = g_list_sort (g_hash_table_get_keys (digests), (GCompareFunc) strcmp);
  GString *out = g_string_new (NULL);

  for (GList *l = keys; l != NULL; l = l->next)
    g_string_append_printf (out, "%s=%s ", (char *) l->data,
                            (char *) g_hash_table_lookup (digests, l->data));
  g_list_free (keys);
  return g_string_free (out, FALSE);
}

/* The digests of two stores are the same, bucket by bucket. */
static inline void
test_assert_same_digests (MhStore *a, MhStore *b)
{
  g_autoptr(GHashTable) da = mh_store_list_digests (a);
  g_autoptr(GHashTable) db = mh_store_list_digests (b);

  if (!test_digests_equal (da, db))
    {
      g_autofree char *sa = test_digests_to_string (da);
      g_autofree char *sb = test_digests_to_string (db);
      g_error ("digests differ:\n  %s: %s\n  %s: %s", mh_store_get_site_id (a), sa,
               mh_store_get_site_id (b), sb);
    }
}

/* The incremental digests equal the ones recomputed from scratch. */
static inline void
test_assert_digests_consistent (MhStore *store)
{
  g_autoptr(GHashTable) recomputed = NULL;
  g_autoptr(GHashTable) incremental = mh_store_list_digests (store);
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_recompute_digests (store, &recomputed, &error));
  g_assert_no_error (error);
  if (!test_digests_equal (incremental, recomputed))
    {
      g_autofree char *si = test_digests_to_string (incremental);
      g_autofree char *sr = test_digests_to_string (recomputed);
      g_error ("incremental digests differ from recomputed ones:\n  incremental: %s\n"
               "  recomputed:  %s", si, sr);
    }
}

/* The same rows, in the same states, with the same values. */
static inline void
test_assert_same_row (MhStore *a, MhStore *b, const char *table, const char *row)
{
  g_autoptr(GVariant) va = mh_store_get_row (a, table, row);
  g_autoptr(GVariant) vb = mh_store_get_row (b, table, row);

  g_assert_cmpint (mh_store_get_row_state (a, table, row), ==,
                   mh_store_get_row_state (b, table, row));
  if (va == NULL || vb == NULL)
    g_assert_true (va == vb);
  else if (!g_variant_equal (va, vb))
    {
      g_autofree char *sa = g_variant_print (va, TRUE);
      g_autofree char *sb = g_variant_print (vb, TRUE);
      g_error ("%s %s differs:\n  %s\n  %s", table, row, sa, sb);
    }
}

static inline gboolean
test_under_valgrind (void)
{
  return g_getenv ("MEDHEAD_UNDER_VALGRIND") != NULL;
}

/* A temporary folder, removed with all it holds when freed. */
typedef struct
{
  char *path;
} TestDir;

static inline TestDir *
test_dir_new (const char *prefix)
{
  TestDir *dir = g_new0 (TestDir, 1);

  dir->path = mh_test_make_tmpdir (prefix);
  return dir;
}

static inline void
test_dir_free (TestDir *dir)
{
  mh_test_rm_rf (dir->path);
  g_free (dir->path);
  g_free (dir);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestDir, test_dir_free)

/* A site identity (key pair and certificate) made in @dir/@name. */
static inline MhIdentity *
identity_in (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  MhIdentity *identity;

  g_assert_cmpint (g_mkdir_with_parents (path, 0700), ==, 0);
  identity = mh_identity_load_or_create (path, &error);
  g_assert_no_error (error);
  return identity;
}

/* A replica in @dir signing as @identity and checking what it receives. */
static inline MhStore *
test_signed_store (const char *dir, const char *name, MhSchema *schema, MhIdentity *identity)
{
  MhStore *store = test_open (dir, name, schema, mh_identity_get_site_id (identity));

  mh_store_set_identity (store, identity);
  mh_store_set_verify_signatures (store, TRUE);
  return store;
}

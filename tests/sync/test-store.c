/* Unit tests of one store alone: local writes, transactions, refusals,
 * stamping, signals, validation, reading the log in pages, lanes, epochs. */
#include "config.h"

#include <locale.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "sync-test-common.h"

typedef struct
{
  char *dir;
  MhSchema *schema;
  MhStore *store;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = mh_test_make_tmpdir ("mh-store");
  f->schema = test_schema_new (1);
  f->store = test_open (f->dir, "replica.db", f->schema, "site-a");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->store);
  g_clear_pointer (&f->schema, mh_schema_unref);
  mh_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
insert_ok (MhStore *store, const char *table, const char *row, const char *values)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_insert (store, table, row, g_variant_new_parsed (values), &error));
  g_assert_no_error (error);
}

static void
update_ok (MhStore *store, const char *table, const char *row, const char *values)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_update (store, table, row, g_variant_new_parsed (values), &error));
  g_assert_no_error (error);
}

static void
delete_ok (MhStore *store, const char *table, const char *row)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_delete (store, table, row, &error));
  g_assert_no_error (error);
}

/* The change of one register in a list of changes, or %NULL. */
static MhChange *
find_change (GPtrArray *changes, const char *row, const char *reg)
{
  for (guint i = 0; i < changes->len; i++)
    {
      MhChange *c = g_ptr_array_index (changes, i);
      if (g_strcmp0 (c->row, row) == 0 && g_strcmp0 (c->reg, reg) == 0)
        return c;
    }
  return NULL;
}

/* ------------------------------------------------------------------------ */

static void
test_store_insert_get (Fixture *f, gconstpointer data)
{
  g_autoptr(GVariant) row = NULL;
  const char *s = NULL;
  gint64 i = 0;
  double d = 0;

  g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", "H1"), ==, MH_ROW_ABSENT);
  g_assert_null (mh_store_get_row (f->store, "hospital", "H1"));

  /* Integers may come as any integer type, reals as integers. */
  insert_ok (f->store, "hospital", "H1",
             "{'name': <'Central'>, 'status': <'normal'>, 'available': <int32 4>, "
             "'baseline': <uint32 12>, 'lat': <48.5>, 'lon': <int64 2>}");
  g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", "H1"), ==, MH_ROW_LIVE);

  row = mh_store_get_row (f->store, "hospital", "H1");
  g_assert_nonnull (row);
  g_assert_true (g_variant_is_of_type (row, G_VARIANT_TYPE_VARDICT));
  g_assert_true (g_variant_lookup (row, "id", "&s", &s));
  g_assert_cmpstr (s, ==, "H1");
  g_assert_true (g_variant_lookup (row, "name", "&s", &s));
  g_assert_cmpstr (s, ==, "Central");
  g_assert_true (g_variant_lookup (row, "status", "&s", &s));
  g_assert_cmpstr (s, ==, "normal");
  g_assert_true (g_variant_lookup (row, "available", "x", &i));
  g_assert_cmpint (i, ==, 4);
  g_assert_true (g_variant_lookup (row, "baseline", "x", &i));
  g_assert_cmpint (i, ==, 12);
  g_assert_true (g_variant_lookup (row, "lat", "d", &d));
  g_assert_cmpfloat (d, ==, 48.5);
  g_assert_true (g_variant_lookup (row, "lon", "d", &d));
  g_assert_cmpfloat (d, ==, 2.0);
  /* NULL columns are left out. */
  g_assert_false (g_variant_lookup (row, "reason", "&s", &s));
  g_assert_cmpuint (g_variant_n_children (row), ==, 7);

  /* Explicit NULLs, and a row with no values at all. */
  insert_ok (f->store, "hospital", "H2", "{'name': <@mv nothing>}");
  g_clear_pointer (&row, g_variant_unref);
  row = mh_store_get_row (f->store, "hospital", "H2");
  g_assert_cmpuint (g_variant_n_children (row), ==, 1);
  g_assert_true (mh_store_insert (f->store, "hospital", "H3", NULL, NULL));
  g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", "H3"), ==, MH_ROW_LIVE);

  /* Unknown tables and rows read as absent. */
  g_assert_null (mh_store_get_row (f->store, "nothing", "H1"));
  g_assert_cmpint (mh_store_get_row_state (f->store, "nothing", "H1"), ==, MH_ROW_ABSENT);
  g_assert_null (mh_store_get_row (f->store, "patient", "H1"));
}

static void
test_store_update_upsert_delete (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  insert_ok (f->store, "hospital", "H1", "{'name': <'Central'>, 'available': <int64 4>}");
  update_ok (f->store, "hospital", "H1", "{'available': <int64 3>}");
  g_assert_cmpint (test_get_int (f->store, "hospital", "H1", "available"), ==, 3);
  test_assert_string (f->store, "hospital", "H1", "name", "Central");

  /* Setting a column to NULL. */
  update_ok (f->store, "hospital", "H1", "{'name': <@mv nothing>}");
  test_assert_string (f->store, "hospital", "H1", "name", NULL);
  g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", "H1"), ==, MH_ROW_LIVE);

  /* Upsert creates, then updates. */
  g_assert_true (mh_store_upsert (f->store, "hospital", "H2",
                                  g_variant_new_parsed ("{'name': <'North'>}"), &error));
  g_assert_no_error (error);
  test_assert_string (f->store, "hospital", "H2", "name", "North");
  g_assert_true (mh_store_upsert (f->store, "hospital", "H2",
                                  g_variant_new_parsed ("{'available': <int64 9>}"), &error));
  g_assert_no_error (error);
  test_assert_string (f->store, "hospital", "H2", "name", "North");
  g_assert_cmpint (test_get_int (f->store, "hospital", "H2", "available"), ==, 9);

  delete_ok (f->store, "hospital", "H1");
  g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", "H1"), ==, MH_ROW_DELETED);
  g_assert_null (mh_store_get_row (f->store, "hospital", "H1"));
  /* The other row is untouched. */
  test_assert_string (f->store, "hospital", "H2", "name", "North");

  /* Insert-only tables take inserts and deletions. */
  insert_ok (f->store, "observation", "H1/p1/o1",
             "{'patient': <'H1/p1'>, 'hr': <int64 80>, 'spo2': <0.97>}");
  g_assert_cmpint (test_get_int (f->store, "observation", "H1/p1/o1", "hr"), ==, 80);
  delete_ok (f->store, "observation", "H1/p1/o1");
  g_assert_cmpint (mh_store_get_row_state (f->store, "observation", "H1/p1/o1"), ==,
                   MH_ROW_DELETED);
  test_assert_digests_consistent (f->store);
}

static void
test_store_update_keeps_register_columns (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) changes = NULL;
  MhChange *status;
  const char *s = NULL;

  insert_ok (f->store, "hospital", "H1",
             "{'status': <'advisory'>, 'reason': <'flood'>, 'available': <int64 1>, "
             "'baseline': <int64 20>}");
  update_ok (f->store, "hospital", "H1", "{'status': <'closed'>}");
  update_ok (f->store, "hospital", "H1", "{'available': <int64 0>}");

  test_assert_string (f->store, "hospital", "H1", "status", "closed");
  test_assert_string (f->store, "hospital", "H1", "reason", "flood");
  g_assert_cmpint (test_get_int (f->store, "hospital", "H1", "available"), ==, 0);
  g_assert_cmpint (test_get_int (f->store, "hospital", "H1", "baseline"), ==, 20);

  /* The register travels whole: the kept column goes with the changed one. */
  changes = test_read_lane_all (f->store, LANE_REGISTRY);
  status = find_change (changes, "H1", "status");
  g_assert_nonnull (status);
  g_assert_cmpuint (g_variant_n_children (status->value), ==, 2);
  {
    g_autoptr(GVariant) v0 = g_variant_get_child_value (status->value, 0);
    g_autoptr(GVariant) v1 = g_variant_get_child_value (status->value, 1);
    g_autoptr(GVariant) i0 = g_variant_get_variant (v0);
    g_autoptr(GVariant) i1 = g_variant_get_variant (v1);

    s = g_variant_get_string (i0, NULL);
    g_assert_cmpstr (s, ==, "closed");
    s = g_variant_get_string (i1, NULL);
    g_assert_cmpstr (s, ==, "flood");
  }
  /* The two updates stamped their registers later than the insert did. */
  g_assert_cmpint (find_change (changes, "H1", "beds")->hlc, >, status->hlc);
  g_assert_cmpint (status->hlc, >, find_change (changes, "H1", "name")->hlc);
}

static void
assert_refused (gboolean ok, GError *error, MhSyncError code)
{
  g_assert_false (ok);
  g_assert_error (error, MH_SYNC_ERROR, code);
}

static void
test_store_refusals (Fixture *f, gconstpointer data)
{
  MhStore *s = f->store;
  g_autoptr(GHashTable) digests = NULL;
  g_autoptr(GHashTable) digests_after = NULL;
  g_autoptr(GVariant) h1_before = NULL;
  g_autoptr(GVariant) h1_after = NULL;
  gint64 seq;
  struct
  {
    int op; /* 0 insert, 1 update, 2 upsert, 3 delete */
    const char *table;
    const char *row;
    const char *values;
    MhSyncError code;
  } cases[] = {
    { 0, "nothing", "X", "{'name': <'x'>}", MH_SYNC_ERROR_UNKNOWN_TABLE },
    { 1, "nothing", "X", "{'name': <'x'>}", MH_SYNC_ERROR_UNKNOWN_TABLE },
    { 2, "nothing", "X", "{'name': <'x'>}", MH_SYNC_ERROR_UNKNOWN_TABLE },
    { 3, "nothing", "X", NULL, MH_SYNC_ERROR_UNKNOWN_TABLE },
    { 0, "hospital", "H9", "{'name': <'x'>, 'colour': <'red'>}", MH_SYNC_ERROR_UNKNOWN_COLUMN },
    { 1, "hospital", "H1", "{'colour': <'red'>}", MH_SYNC_ERROR_UNKNOWN_COLUMN },
    /* A register name is not a column. */
    { 1, "hospital", "H1", "{'beds': <int64 1>}", MH_SYNC_ERROR_UNKNOWN_COLUMN },
    { 1, "hospital", "H1", "{'id': <'H2'>}", MH_SYNC_ERROR_UNKNOWN_COLUMN },
    { 1, "hospital", "H1", "{'_mh': <'x'>}", MH_SYNC_ERROR_UNKNOWN_COLUMN },
    { 1, "hospital", "H1", "{'available': <'three'>}", MH_SYNC_ERROR_TYPE },
    { 1, "hospital", "H1", "{'available': <2.5>}", MH_SYNC_ERROR_TYPE },
    { 1, "hospital", "H1", "{'name': <int64 7>}", MH_SYNC_ERROR_TYPE },
    { 1, "hospital", "H1", "{'lat': <'north'>}", MH_SYNC_ERROR_TYPE },
    { 1, "hospital", "H1", "{'name': <('a', 'b')>}", MH_SYNC_ERROR_TYPE },
    { 0, "hospital", "H1", "{'name': <'again'>}", MH_SYNC_ERROR_EXISTS },
    { 1, "hospital", "H9", "{'name': <'x'>}", MH_SYNC_ERROR_NOT_FOUND },
    { 3, "hospital", "H9", NULL, MH_SYNC_ERROR_NOT_FOUND },
    { 0, "hospital", "HD", "{'name': <'reborn'>}", MH_SYNC_ERROR_DELETED },
    { 1, "hospital", "HD", "{'name': <'reborn'>}", MH_SYNC_ERROR_DELETED },
    { 2, "hospital", "HD", "{'name': <'reborn'>}", MH_SYNC_ERROR_DELETED },
    { 3, "hospital", "HD", NULL, MH_SYNC_ERROR_DELETED },
    { 1, "observation", "H1/p1/o1", "{'hr': <int64 90>}", MH_SYNC_ERROR_INSERT_ONLY },
    { 2, "observation", "H1/p1/o1", "{'hr': <int64 90>}", MH_SYNC_ERROR_INSERT_ONLY },
    { 0, "observation", "H1/p1/o1", "{'hr': <int64 90>}", MH_SYNC_ERROR_EXISTS },
    { 0, "hospital", "", "{'name': <'x'>}", MH_SYNC_ERROR_TYPE },
  };

  insert_ok (s, "hospital", "H1", "{'name': <'Central'>, 'available': <int64 4>}");
  insert_ok (s, "hospital", "HD", "{'name': <'Gone'>}");
  delete_ok (s, "hospital", "HD");
  insert_ok (s, "observation", "H1/p1/o1", "{'patient': <'H1/p1'>, 'hr': <int64 80>}");

  seq = mh_store_get_last_seq (s);
  digests = mh_store_list_digests (s);
  h1_before = mh_store_get_row (s, "hospital", "H1");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      GVariant *values = cases[i].values ? g_variant_new_parsed (cases[i].values) : NULL;
      gboolean ok = FALSE;

      g_test_message ("case %u: op %d on %s \"%s\"", i, cases[i].op, cases[i].table, cases[i].row);
      switch (cases[i].op)
        {
        case 0: ok = mh_store_insert (s, cases[i].table, cases[i].row, values, &error); break;
        case 1: ok = mh_store_update (s, cases[i].table, cases[i].row, values, &error); break;
        case 2: ok = mh_store_upsert (s, cases[i].table, cases[i].row, values, &error); break;
        case 3: ok = mh_store_delete (s, cases[i].table, cases[i].row, &error); break;
        default: g_assert_not_reached ();
        }
      assert_refused (ok, error, cases[i].code);
    }

  /* A refusal writes nothing, and leaves no half-written register. */
  g_assert_cmpint (mh_store_get_last_seq (s), ==, seq);
  digests_after = mh_store_list_digests (s);
  g_assert_true (test_digests_equal (digests, digests_after));
  h1_after = mh_store_get_row (s, "hospital", "H1");
  g_assert_true (g_variant_equal (h1_before, h1_after));
  g_assert_cmpint (mh_store_get_row_state (s, "hospital", "H9"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (s, "hospital", "HD"), ==, MH_ROW_DELETED);
  g_assert_cmpint (test_get_int (s, "observation", "H1/p1/o1", "hr"), ==, 80);

  /* And the store still writes. */
  update_ok (s, "hospital", "H1", "{'available': <int64 5>}");
  g_assert_cmpint (mh_store_get_last_seq (s), ==, seq + 1);
}

/* ------------------------------------------------------------------------ */
/* Transactions                                                             */

typedef struct
{
  guint n_rows;
  gint fail_at;     /* -1: never */
  gboolean give_up; /* return FALSE after all writes, with no error */
  guint written;
} ManyWrites;

static gboolean
write_many (MhStore *store, gpointer user_data, GError **error)
{
  ManyWrites *w = user_data;

  for (guint i = 0; i < w->n_rows; i++)
    {
      g_autofree char *id = g_strdup_printf ("H%u", i);
      /* The failing write names a row that exists already. */
      const char *row = (gint) i == w->fail_at ? "existing" : id;
      GVariant *values = g_variant_new_parsed ("{'name': <%s>, 'available': <%x>}", id,
                                               (gint64) i);

      if (!mh_store_insert (store, "hospital", row, values, error))
        return FALSE;
      w->written++;
    }
  if (w->give_up)
    return FALSE;
  return TRUE;
}

typedef struct
{
  guint changed;
  guint committed;
  gint64 committed_seq;
} Signals;

static void
count_changed (MhStore *store, const char *table, const char *row, gpointer user_data)
{
  ((Signals *) user_data)->changed++;
}

static void
count_committed (MhStore *store, gint64 seq, gpointer user_data)
{
  Signals *s = user_data;

  s->committed++;
  s->committed_seq = seq;
}

static void
test_store_transact_all (Fixture *f, gconstpointer data)
{
  ManyWrites w = { 5, -1, FALSE, 0 };
  Signals sig = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) changes = NULL;
  gint64 seq = mh_store_get_last_seq (f->store);

  g_signal_connect (f->store, "changed", G_CALLBACK (count_changed), &sig);
  g_signal_connect (f->store, "committed", G_CALLBACK (count_committed), &sig);

  g_assert_true (mh_store_transact (f->store, write_many, &w, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (w.written, ==, 5);
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *id = g_strdup_printf ("H%u", i);
      test_assert_string (f->store, "hospital", id, "name", id);
    }
  /* One log entry per row, one commit for all. */
  g_assert_cmpint (mh_store_get_last_seq (f->store), ==, seq + 5);
  g_assert_cmpuint (sig.committed, ==, 1);
  g_assert_cmpint (sig.committed_seq, ==, seq + 5);
  g_assert_cmpuint (sig.changed, ==, 5);
  changes = test_read_lane_all (f->store, LANE_REGISTRY);
  g_assert_cmpuint (changes->len, ==, 5 * 4);
  test_assert_digests_consistent (f->store);
}

static void
test_store_transact_rollback (Fixture *f, gconstpointer data)
{
  Signals sig = { 0 };
  g_autoptr(GHashTable) digests = NULL;
  g_autoptr(GHashTable) digests_after = NULL;
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GPtrArray) changes = NULL;
  gint64 seq;
  gint64 last_origin_seq = 0;

  insert_ok (f->store, "hospital", "existing", "{'name': <'there'>}");
  seq = mh_store_get_last_seq (f->store);
  digests = mh_store_list_digests (f->store);
  before = test_read_lane_all (f->store, LANE_REGISTRY);
  for (guint i = 0; i < before->len; i++)
    last_origin_seq = MAX (last_origin_seq, ((MhChange *) g_ptr_array_index (before, i))->origin_seq);

  g_signal_connect (f->store, "changed", G_CALLBACK (count_changed), &sig);
  g_signal_connect (f->store, "committed", G_CALLBACK (count_committed), &sig);

  {
    /* The third of five writes fails: the first two go too. */
    ManyWrites w = { 5, 2, FALSE, 0 };
    g_autoptr(GError) error = NULL;

    g_assert_false (mh_store_transact (f->store, write_many, &w, &error));
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_EXISTS);
    g_assert_cmpuint (w.written, ==, 2);
  }
  {
    /* All five written, then abandoned without a reason. */
    ManyWrites w = { 5, -1, TRUE, 0 };
    g_autoptr(GError) error = NULL;

    g_assert_false (mh_store_transact (f->store, write_many, &w, &error));
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED);
    g_assert_cmpuint (w.written, ==, 5);
  }

  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *id = g_strdup_printf ("H%u", i);
      g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", id), ==, MH_ROW_ABSENT);
    }
  test_assert_string (f->store, "hospital", "existing", "name", "there");
  g_assert_cmpint (mh_store_get_last_seq (f->store), ==, seq);
  digests_after = mh_store_list_digests (f->store);
  g_assert_true (test_digests_equal (digests, digests_after));
  test_assert_digests_consistent (f->store);
  after = test_read_lane_all (f->store, LANE_REGISTRY);
  g_assert_cmpuint (after->len, ==, before->len);
  /* Nothing was announced. */
  g_assert_cmpuint (sig.changed, ==, 0);
  g_assert_cmpuint (sig.committed, ==, 0);

  /* The store goes on: the next write's sequence numbers follow the last
   * committed ones, with no hole left by the rolled-back writes. */
  insert_ok (f->store, "hospital", "H7", "{'name': <'after'>}");
  g_assert_cmpint (mh_store_get_last_seq (f->store), ==, seq + 1);
  changes = test_read_lane_all (f->store, LANE_REGISTRY);
  g_assert_cmpint (find_change (changes, "H7", "name")->origin_seq, ==, last_origin_seq + 1);
  g_assert_cmpuint (sig.changed, ==, 1);
  g_assert_cmpuint (sig.committed, ==, 1);
}

typedef struct
{
  MhStore *store;
  guint step;
} Nested;

static gboolean
inner_txn (MhStore *store, gpointer user_data, GError **error)
{
  return mh_store_update (store, "hospital", "N1", g_variant_new_parsed ("{'name': <'inner'>}"),
                          error);
}

static gboolean
outer_txn_failing_late (MhStore *store, gpointer user_data, GError **error)
{
  if (!mh_store_insert (store, "hospital", "N1", g_variant_new_parsed ("{'name': <'outer'>}"),
                        error)
      || !mh_store_transact (store, inner_txn, NULL, error))
    return FALSE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "changed my mind");
  return FALSE;
}

static void
test_store_transact_nested (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  /* An inner transaction joins the outer one: it goes when the outer goes. */
  g_assert_false (mh_store_transact (f->store, outer_txn_failing_late, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", "N1"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_last_seq (f->store), ==, 0);
}

/* ------------------------------------------------------------------------ */

static void
test_store_stamping (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) changes = NULL;
  MhHlc last_clock = mh_store_get_clock (f->store);
  gint64 last_oseq = 0, last_lseq = 0;
  MhHlc last_hlc = 0;

  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *id = g_strdup_printf ("H%u", i % 7);
      g_autoptr(GError) error = NULL;

      g_assert_true (mh_store_upsert (f->store, "hospital", id,
                                      g_variant_new_parsed ("{'available': <%x>}", (gint64) i),
                                      &error));
      g_assert_no_error (error);
      /* Every write moves the clock on. */
      g_assert_cmpint (mh_store_get_clock (f->store), >, last_clock);
      last_clock = mh_store_get_clock (f->store);
    }

  changes = test_read_lane_all (f->store, LANE_REGISTRY);
  g_assert_cmpuint (changes->len, ==, 7 * 4);
  for (guint i = 0; i < changes->len; i++)
    {
      MhChange *c = g_ptr_array_index (changes, i);

      g_assert_cmpint (c->kind, ==, MH_CHANGE_SET);
      g_assert_cmpstr (c->table, ==, "hospital");
      g_assert_cmpstr (c->origin, ==, "site-a");
      g_assert_cmpuint (c->schema_version, ==, 1);
      g_assert_null (c->signature);
      g_assert_cmpint (c->hlc, <=, mh_store_get_clock (f->store));
      g_assert_cmpint (c->local_seq, >=, last_lseq);
      g_assert_cmpint (c->local_seq, <=, mh_store_get_last_seq (f->store));
      /* Log order is write order for one origin: clocks and origin
       * sequence numbers rise with it. Registers written together share
       * a clock; each has its own origin sequence number. */
      g_assert_cmpint (c->hlc, >=, last_hlc);
      g_assert_cmpint (c->origin_seq, >, last_oseq);
      last_hlc = c->hlc;
      last_oseq = c->origin_seq;
      last_lseq = c->local_seq;
    }
  /* The beds register of each row carries the value last written. */
  for (guint r = 0; r < 7; r++)
    {
      g_autofree char *id = g_strdup_printf ("H%u", r);
      MhChange *beds = find_change (changes, id, "beds");
      g_autoptr(GVariant) v = g_variant_get_child_value (beds->value, 0);
      g_autoptr(GVariant) inner = g_variant_get_variant (v);

      g_assert_cmpint (g_variant_get_int64 (inner), ==, r + 14 < 20 ? r + 14 : r + 7);
    }

  {
    /* A delete is stamped the same way. */
    g_autoptr(GPtrArray) after = NULL;
    MhChange *del = NULL;

    delete_ok (f->store, "hospital", "H3");
    after = test_read_lane_all (f->store, LANE_REGISTRY);
    del = g_ptr_array_index (after, after->len - 1);
    g_assert_cmpint (del->kind, ==, MH_CHANGE_DELETE);
    g_assert_cmpstr (del->row, ==, "H3");
    g_assert_cmpstr (del->origin, ==, "site-a");
    g_assert_cmpint (del->origin_seq, >, last_oseq);
    g_assert_cmpint (del->hlc, >, last_hlc);
    g_assert_cmpint (del->hlc, ==, mh_store_get_clock (f->store));
    g_assert_cmpuint (del->schema_version, ==, 1);
  }
}

/* ------------------------------------------------------------------------ */
/* Signals                                                                  */

typedef struct
{
  char *path;
  GPtrArray *events; /* "table row" */
  guint committed;
  gint64 committed_seq;
  gboolean visible_to_others;
} SignalLog;

/* What another connection to the file sees: only committed data. */
static gboolean
committed_elsewhere (const char *path, const char *table, const char *row)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM \"%s\" WHERE id = ?", table);
  gboolean found = FALSE;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, row, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    found = sqlite3_column_int (stmt, 0) > 0;
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return found;
}

static void
log_changed (MhStore *store, const char *table, const char *row, gpointer user_data)
{
  SignalLog *log = user_data;

  g_ptr_array_add (log->events, g_strdup_printf ("%s %s", table, row ? row : "(all)"));
  if (row != NULL && mh_store_get_row_state (store, table, row) == MH_ROW_LIVE
      && !committed_elsewhere (log->path, table, row))
    log->visible_to_others = FALSE;
}

static void
log_committed (MhStore *store, gint64 seq, gpointer user_data)
{
  SignalLog *log = user_data;

  log->committed++;
  log->committed_seq = seq;
}

static gboolean
write_two_tables (MhStore *store, gpointer user_data, GError **error)
{
  return mh_store_insert (store, "hospital", "H2", g_variant_new_parsed ("{'name': <'b'>}"), error)
         && mh_store_insert (store, "patient", "H2/p1",
                             g_variant_new_parsed ("{'age': <int64 40>}"), error)
         && mh_store_update (store, "hospital", "H1", g_variant_new_parsed ("{'name': <'c'>}"),
                             error);
}

static gboolean
write_then_fail (MhStore *store, gpointer user_data, GError **error)
{
  if (!mh_store_insert (store, "hospital", "H3", g_variant_new_parsed ("{'name': <'x'>}"), error))
    return FALSE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no");
  return FALSE;
}

static void
test_store_signals (Fixture *f, gconstpointer data)
{
  SignalLog all = { 0 }, patients = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all_events = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) patient_events = g_ptr_array_new_with_free_func (g_free);

  all.path = patients.path = (char *) mh_store_get_path (f->store);
  all.events = all_events;
  patients.events = patient_events;
  all.visible_to_others = patients.visible_to_others = TRUE;
  g_signal_connect (f->store, "changed", G_CALLBACK (log_changed), &all);
  g_signal_connect (f->store, "changed::patient", G_CALLBACK (log_changed), &patients);
  g_signal_connect (f->store, "committed", G_CALLBACK (log_committed), &all);

  insert_ok (f->store, "hospital", "H1", "{'name': <'a'>}");
  g_assert_cmpuint (all_events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (all_events, 0), ==, "hospital H1");
  g_assert_cmpuint (all.committed, ==, 1);
  g_assert_cmpint (all.committed_seq, ==, mh_store_get_last_seq (f->store));
  g_assert_cmpuint (patient_events->len, ==, 0);

  g_assert_true (mh_store_transact (f->store, write_two_tables, NULL, &error));
  g_assert_no_error (error);
  /* Once per row written, after the one commit. */
  g_assert_cmpuint (all_events->len, ==, 4);
  g_assert_true (g_ptr_array_find_with_equal_func (all_events, "hospital H2", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (all_events, "patient H2/p1", g_str_equal,
                                                   NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (all_events, "hospital H1", g_str_equal, NULL));
  g_assert_cmpuint (all.committed, ==, 2);
  g_assert_cmpint (all.committed_seq, ==, mh_store_get_last_seq (f->store));
  /* The detail selects the table. */
  g_assert_cmpuint (patient_events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (patient_events, 0), ==, "patient H2/p1");

  /* Rolled back or refused: no signal. */
  g_assert_false (mh_store_transact (f->store, write_then_fail, NULL, &error));
  g_clear_error (&error);
  g_assert_false (mh_store_insert (f->store, "hospital", "H1",
                                   g_variant_new_parsed ("{'name': <'a'>}"), &error));
  g_clear_error (&error);
  g_assert_cmpuint (all_events->len, ==, 4);
  g_assert_cmpuint (all.committed, ==, 2);

  /* Deletions and remote changes signal too. */
  delete_ok (f->store, "patient", "H2/p1");
  g_assert_cmpuint (patient_events->len, ==, 2);
  g_assert_cmpuint (all.committed, ==, 3);
  {
    g_autoptr(GPtrArray) batch = test_batch (
      test_set ("patient", "H5/p9", "age", test_hlc (0, 0), "site-b", 1, "[<int64 33>]"), NULL);
    MhApplyReport report = test_apply (f->store, batch);

    g_assert_cmpuint (report.applied, ==, 1);
    g_assert_cmpuint (patient_events->len, ==, 3);
    g_assert_cmpstr (g_ptr_array_index (patient_events, 2), ==, "patient H5/p9");
    g_assert_cmpuint (all.committed, ==, 4);

    /* Applying it again changes nothing and says nothing. */
    report = test_apply (f->store, batch);
    g_assert_cmpuint (report.ignored_older, ==, 1);
    g_assert_cmpuint (patient_events->len, ==, 3);
    g_assert_cmpuint (all.committed, ==, 4);
  }

  /* Every handler saw its row committed already. */
  g_assert_true (all.visible_to_others);
  g_assert_true (patients.visible_to_others);
  g_signal_handlers_disconnect_by_data (f->store, &all);
  g_signal_handlers_disconnect_by_data (f->store, &patients);
}

typedef struct
{
  guint n_rows;
} ManyRows;

static gboolean
insert_many_rows (MhStore *store, gpointer user_data, GError **error)
{
  ManyRows *m = user_data;

  for (guint i = 0; i < m->n_rows; i++)
    {
      g_autofree char *id = g_strdup_printf ("M%u", i);
      /* A whole row: four registers, one "changed" all the same. */
      if (!mh_store_upsert (store, "hospital", id, g_variant_new_parsed ("{'name': <%s>}", id),
                            error))
        return FALSE;
    }
  return mh_store_upsert (store, "patient", "M/p", g_variant_new_parsed ("{'age': <int64 1>}"),
                          error);
}

typedef struct
{
  guint with_row;
  guint without_row;
  GHashTable *tables;
} ManyLog;

static void
log_many (MhStore *store, const char *table, const char *row, gpointer user_data)
{
  ManyLog *log = user_data;

  if (row != NULL)
    log->with_row++;
  else
    {
      log->without_row++;
      g_hash_table_add (log->tables, g_strdup (table));
    }
}

/* A "changed" handler that writes derived data back into the store, as the
 * layer above does (committed inbound counts, say). */
static void
write_from_handler (MhStore *store, const char *table, const char *row, gpointer user_data)
{
  guint *calls = user_data;
  g_autoptr(GError) error = NULL;

  (*calls)++;
  g_assert_true (mh_store_upsert (store, "patient", "derived/count",
                                  g_variant_new_parsed ("{'age': <%x>}", (gint64) *calls),
                                  &error));
  g_assert_no_error (error);
}

static void
test_store_signals_many_rows (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) tables = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ManyLog log = { 0, 0, tables };
  guint calls = 0;
  gulong id = g_signal_connect (f->store, "changed", G_CALLBACK (log_many), &log);
  gulong writer = 0;

  {
    /* Many rows, but not too many: one signal per row (per row, not per
     * register: 4 x 300 registers would be too many). */
    ManyRows m = { 300 };
    g_assert_true (mh_store_transact (f->store, insert_many_rows, &m, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (log.with_row, ==, 301);
    g_assert_cmpuint (log.without_row, ==, 0);
  }
  {
    /* Too many: one signal per table, without a row; and a handler may
     * write to the store meanwhile. */
    ManyRows m = { 2100 };
    log.with_row = 0;
    writer = g_signal_connect (f->store, "changed::hospital", G_CALLBACK (write_from_handler),
                               &calls);
    g_assert_true (mh_store_transact (f->store, insert_many_rows, &m, &error));
    g_assert_no_error (error);
    g_assert_true (g_hash_table_contains (tables, "hospital"));
    g_assert_true (g_hash_table_contains (tables, "patient"));
    g_assert_cmpuint (log.without_row, ==, 2);
    g_assert_cmpuint (calls, ==, 1);
    /* The handler's own write, a transaction of one row, is named. */
    g_assert_cmpuint (log.with_row, ==, 1);
    g_assert_cmpint (test_get_int (f->store, "patient", "derived/count", "age"), ==, 1);
  }
  g_signal_handler_disconnect (f->store, writer);
  g_signal_handler_disconnect (f->store, id);
  test_assert_digests_consistent (f->store);
}

static void
test_store_signals_write_from_handler (Fixture *f, gconstpointer data)
{
  guint calls = 0;
  gulong id = g_signal_connect (f->store, "changed::hospital", G_CALLBACK (write_from_handler),
                                &calls);

  insert_ok (f->store, "hospital", "H1", "{'name': <'a'>}");
  g_assert_cmpuint (calls, ==, 1);
  g_assert_cmpint (test_get_int (f->store, "patient", "derived/count", "age"), ==, 1);
  update_ok (f->store, "hospital", "H1", "{'name': <'b'>}");
  g_assert_cmpuint (calls, ==, 2);
  g_assert_cmpint (test_get_int (f->store, "patient", "derived/count", "age"), ==, 2);
  g_signal_handler_disconnect (f->store, id);
  test_assert_digests_consistent (f->store);
}

static void
log_committed_lanes (MhStore *store, gint64 seq, gpointer user_data)
{
  GArray *lanes = user_data;
  guint64 mask = mh_store_get_committed_lanes (store);

  g_array_append_val (lanes, mask);
}

/* Each "committed" emission tells the lanes its own commit wrote to, also
 * when a "changed" handler commits a write of its own in between (a link
 * woken for the wrong lane would leave the first write unsent). */
static void
test_store_signals_committed_lanes (Fixture *f, gconstpointer data)
{
  g_autoptr(GArray) lanes = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint calls = 0;
  gulong writer, logger;

  logger = g_signal_connect (f->store, "committed", G_CALLBACK (log_committed_lanes), lanes);
  insert_ok (f->store, "patient", "P1", "{'age': <int64 40>}");
  g_assert_cmpuint (lanes->len, ==, 1);
  g_assert_cmpuint (g_array_index (lanes, guint64, 0), ==, G_GUINT64_CONSTANT (1) << LANE_CARE);

  writer = g_signal_connect (f->store, "changed::hospital", G_CALLBACK (write_from_handler),
                             &calls);
  g_array_set_size (lanes, 0);
  insert_ok (f->store, "hospital", "H1", "{'name': <'a'>}");
  g_assert_cmpuint (calls, ==, 1);
  /* The handler's commit (care) is told first, then the hospital's. */
  g_assert_cmpuint (lanes->len, ==, 2);
  g_assert_cmpuint (g_array_index (lanes, guint64, 0), ==, G_GUINT64_CONSTANT (1) << LANE_CARE);
  g_assert_cmpuint (g_array_index (lanes, guint64, 1), ==,
                    G_GUINT64_CONSTANT (1) << LANE_REGISTRY);
  g_signal_handler_disconnect (f->store, writer);
  g_signal_handler_disconnect (f->store, logger);
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */

typedef struct
{
  guint calls;
  guint local_calls;
  gboolean saw_whole_row;
} Validation;

static MhVerdict
validate_beds (MhStore *store, const MhChange *change, const MhRow *row, gboolean local,
               char **reason, gpointer user_data)
{
  Validation *v = user_data;

  v->calls++;
  if (local)
    v->local_calls++;
  if (change->kind == MH_CHANGE_DELETE)
    {
      if (g_str_has_prefix (change->row, "keep"))
        {
          *reason = g_strdup ("this row is kept");
          return MH_VERDICT_REJECT;
        }
      return MH_VERDICT_ACCEPT;
    }
  g_assert_nonnull (row);
  g_assert_cmpstr (mh_row_get_id (row), ==, change->row);
  g_assert_cmpstr (mh_row_get_table (row), ==, change->table);
  /* The validator sees the row as it would be, other registers included. */
  if (g_str_equal (change->reg, "beds") && mh_row_get_string (row, "name") != NULL)
    v->saw_whole_row = TRUE;
  if (mh_row_has (row, "available") && !mh_row_is_null (row, "available")
      && mh_row_get_int (row, "available") < 0)
    {
      *reason = g_strdup ("negative bed count");
      return MH_VERDICT_REJECT;
    }
  return MH_VERDICT_ACCEPT;
}

static void
test_store_validator (Fixture *f, gconstpointer data)
{
  Validation v = { 0 };
  Signals sig = { 0 };
  g_autoptr(GError) error = NULL;
  gint64 seq;

  mh_store_set_validator (f->store, validate_beds, &v, NULL);
  g_signal_connect (f->store, "changed", G_CALLBACK (count_changed), &sig);

  insert_ok (f->store, "hospital", "H1", "{'name': <'Central'>, 'available': <int64 3>}");
  insert_ok (f->store, "hospital", "keep1", "{'name': <'Kept'>}");
  g_assert_cmpuint (v.calls, >, 0);
  g_assert_cmpuint (v.local_calls, ==, v.calls);
  seq = mh_store_get_last_seq (f->store);
  sig.changed = 0;

  g_assert_false (mh_store_insert (f->store, "hospital", "H2",
                                   g_variant_new_parsed ("{'name': <'x'>, 'available': <int64 -1>}"),
                                   &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED);
  g_assert_nonnull (strstr (error->message, "negative bed count"));
  g_clear_error (&error);
  g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", "H2"), ==, MH_ROW_ABSENT);

  /* A refused update leaves every register of the row as it was: the
   * accepted register written with it is not kept either. */
  g_assert_false (mh_store_update (f->store, "hospital", "H1",
                                   g_variant_new_parsed ("{'name': <'Renamed'>, "
                                                         "'available': <int64 -4>}"),
                                   &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED);
  g_clear_error (&error);
  test_assert_string (f->store, "hospital", "H1", "name", "Central");
  g_assert_cmpint (test_get_int (f->store, "hospital", "H1", "available"), ==, 3);

  g_assert_false (mh_store_delete (f->store, "hospital", "keep1", &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED);
  g_assert_nonnull (strstr (error->message, "this row is kept"));
  g_clear_error (&error);
  g_assert_cmpint (mh_store_get_row_state (f->store, "hospital", "keep1"), ==, MH_ROW_LIVE);

  g_assert_cmpint (mh_store_get_last_seq (f->store), ==, seq);
  g_assert_cmpuint (sig.changed, ==, 0);
  /* Refused local writes are the caller's to report: not queued. */
  g_assert_cmpuint (mh_store_get_rejected_count (f->store), ==, 0);

  /* An update of one register is judged on the whole row. */
  v.saw_whole_row = FALSE;
  update_ok (f->store, "hospital", "H1", "{'available': <int64 2>}");
  g_assert_true (v.saw_whole_row);

  /* Without a validator, anything goes. */
  mh_store_set_validator (f->store, NULL, NULL, NULL);
  update_ok (f->store, "hospital", "H1", "{'available': <int64 -2>}");
  g_assert_cmpint (test_get_int (f->store, "hospital", "H1", "available"), ==, -2);
  test_assert_digests_consistent (f->store);
}

static void
count_destroy (gpointer data)
{
  (*(guint *) data)++;
}

static MhVerdict
accept_all (MhStore *store, const MhChange *change, const MhRow *row, gboolean local,
            char **reason, gpointer user_data)
{
  return MH_VERDICT_ACCEPT;
}

static void
test_store_validator_destroy (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-store");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  MhStore *store = test_open (dir, "replica.db", schema, "site-a");
  guint destroyed_1 = 0, destroyed_2 = 0;

  /* Replacing a validator drops the old one's data; so does finalizing. */
  mh_store_set_validator (store, accept_all, &destroyed_1, count_destroy);
  mh_store_set_validator (store, accept_all, &destroyed_2, count_destroy);
  g_assert_cmpuint (destroyed_1, ==, 1);
  g_assert_cmpuint (destroyed_2, ==, 0);
  g_object_unref (store);
  g_assert_cmpuint (destroyed_2, ==, 1);
  mh_test_rm_rf (dir);
}

/* ------------------------------------------------------------------------ */
/* Reading the log                                                          */

/* A peer reading a lane page by page, keeping what it has seen. */
typedef struct
{
  MhCursor cursor;
  GHashTable *latest; /* "table row reg" -> MhChange (latest seen) */
  GHashTable *seen;   /* "table row reg hlc origin" set: every change read */
  guint n_read;
} Reader;

static void
reader_init (Reader *r)
{
  r->cursor.epoch = 0;
  r->cursor.seq = 0;
  r->latest = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) mh_change_unref);
  r->seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  r->n_read = 0;
}

static void
reader_clear (Reader *r)
{
  g_hash_table_unref (r->latest);
  g_hash_table_unref (r->seen);
}

static char *
change_slot (const MhChange *c)
{
  return g_strdup_printf ("%s %s %s", c->table, c->row, c->reg ? c->reg : "#deleted");
}

/* Reads one page; returns `more`. */
static gboolean
reader_page (Reader *r, MhStore *store, guint lane, guint limit)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) page = NULL;
  gboolean restarted = TRUE, more = FALSE;
  gint64 before = r->cursor.seq;

  page = mh_store_read_lane (store, lane, &r->cursor, limit, &restarted, &more, &error);
  g_assert_no_error (error);
  g_assert_false (restarted);
  g_assert_cmpint (r->cursor.epoch, ==, mh_store_get_epoch (store));
  if (page->len > 0)
    {
      /* The cursor stops at the last change handed out. */
      MhChange *last = g_ptr_array_index (page, page->len - 1);
      g_assert_cmpint (r->cursor.seq, ==, last->local_seq);
      g_assert_cmpint (r->cursor.seq, >, before);
    }
  else
    g_assert_cmpint (r->cursor.seq, ==, before);

  for (guint i = 0; i < page->len; i++)
    {
      MhChange *c = g_ptr_array_index (page, i);
      g_autofree char *id = g_strdup_printf ("%s %s %s %" G_GINT64_FORMAT " %s", c->table, c->row,
                                             c->reg ? c->reg : "#deleted", c->hlc, c->origin);

      g_assert_cmpint (c->local_seq, >, before);
      g_assert_cmpint (c->local_seq, <=, r->cursor.seq);
      if (!g_hash_table_add (r->seen, g_steal_pointer (&id)))
        g_error ("change read twice: %s %s %s", c->table, c->row, c->reg);
      g_hash_table_replace (r->latest, change_slot (c), mh_change_ref (c));
      r->n_read++;
    }
  return more;
}

/* Everything the reader holds matches the lane read whole: no change missed. */
static void
reader_assert_complete (Reader *r, MhStore *store, guint lane)
{
  g_autoptr(GPtrArray) truth = test_read_lane_all (store, lane);

  for (guint i = 0; i < truth->len; i++)
    {
      MhChange *c = g_ptr_array_index (truth, i);
      g_autofree char *slot = change_slot (c);
      MhChange *seen = g_hash_table_lookup (r->latest, slot);

      if (seen == NULL)
        g_error ("never read: %s", slot);
      if (!mh_change_equal (seen, c))
        g_error ("stale value read last for %s", slot);
    }
}

static void
test_store_read_lane_paging (Fixture *f, gconstpointer data)
{
  Reader r;
  g_autoptr(GPtrArray) first = NULL;
  g_autoptr(GError) error = NULL;
  gboolean more = FALSE, restarted = TRUE;
  guint pages = 0;

  insert_ok (f->store, "hospital", "A", "{'name': <'a'>, 'available': <int64 1>}");
  insert_ok (f->store, "hospital", "B", "{'name': <'b'>}");
  insert_ok (f->store, "hospital", "C", "{'name': <'c'>}");

  reader_init (&r);
  /* A page of one log entry: all of A (written whole, one entry). */
  first = mh_store_read_lane (f->store, LANE_REGISTRY, &r.cursor, 1, &restarted, &more, &error);
  g_assert_no_error (error);
  g_assert_false (restarted);
  g_assert_true (more);
  g_assert_cmpuint (first->len, ==, 4);
  for (guint i = 0; i < first->len; i++)
    {
      MhChange *c = g_ptr_array_index (first, i);
      g_assert_cmpstr (c->row, ==, "A");
      g_hash_table_replace (r.latest, change_slot (c), mh_change_ref (c));
    }

  /* A moves behind the cursor's back: its new value is after B and C. */
  update_ok (f->store, "hospital", "A", "{'available': <int64 2>}");

  while (reader_page (&r, f->store, LANE_REGISTRY, 1))
    pages++;
  g_assert_cmpuint (pages, ==, 2); /* B, C, then A's beds with no more after */
  reader_assert_complete (&r, f->store, LANE_REGISTRY);
  {
    MhChange *beds = g_hash_table_lookup (r.latest, "hospital A beds");
    g_autoptr(GVariant) v = g_variant_get_child_value (beds->value, 0);
    g_autoptr(GVariant) inner = g_variant_get_variant (v);
    g_assert_cmpint (g_variant_get_int64 (inner), ==, 2);
  }

  /* Caught up: an empty page, no more, the cursor stays. */
  g_assert_false (reader_page (&r, f->store, LANE_REGISTRY, 10));
  reader_clear (&r);
}

/* Pages of random sizes, with random writes between them: whatever
 * moves, every register's latest value is read, and nothing twice. */
static void
test_store_read_lane_paging_random (Fixture *f, gconstpointer data)
{
  guint32 seed = mh_test_seed_from_env (g_random_int ());
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  const char *regs[] = { "name", "status", "beds", "loc" };
  guint n_rounds = test_under_valgrind () ? 150 : 400;
  Reader r;

  g_test_message ("seed %u (MEDHEAD_SEED=%u replays it)", seed, seed);
  reader_init (&r);
  for (guint round = 0; round < n_rounds; round++)
    {
      guint n_ops = g_rand_int_range (rand, 0, 4);

      for (guint op = 0; op < n_ops; op++)
        {
          g_autofree char *id = g_strdup_printf ("R%d", g_rand_int_range (rand, 0, 25));
          const char *reg = regs[g_rand_int_range (rand, 0, 4)];
          g_autoptr(GError) error = NULL;
          MhRowState state = mh_store_get_row_state (f->store, "hospital", id);
          GVariant *values;

          if (state == MH_ROW_DELETED)
            continue;
          if (state == MH_ROW_LIVE && g_rand_int_range (rand, 0, 12) == 0)
            {
              delete_ok (f->store, "hospital", id);
              continue;
            }
          if (g_str_equal (reg, "name"))
            values = g_variant_new_parsed ("{'name': <%s>}", id);
          else if (g_str_equal (reg, "status"))
            values = g_variant_new_parsed ("{'status': <'s'>, 'reason': <%s>}", id);
          else if (g_str_equal (reg, "beds"))
            values = g_variant_new_parsed ("{'available': <%x>}", (gint64) round);
          else
            values = g_variant_new_parsed ("{'lat': <%d>}", (double) round);
          g_assert_true (mh_store_upsert (f->store, "hospital", id, values, &error));
          g_assert_no_error (error);
        }
      reader_page (&r, f->store, LANE_REGISTRY, g_rand_int_range (rand, 1, 4));
    }
  while (reader_page (&r, f->store, LANE_REGISTRY, 3))
    ;
  reader_assert_complete (&r, f->store, LANE_REGISTRY);
  g_test_message ("%u changes read", r.n_read);
  reader_clear (&r);
}

static gboolean
write_long_ids (MhStore *store, gpointer user_data, GError **error)
{
  const char *const *ids = user_data;

  for (guint i = 0; ids[i] != NULL; i++)
    if (!mh_store_insert (store, "patient", ids[i],
                          g_variant_new_parsed ("{'age': <%x>}", (gint64) i), error))
      return FALSE;
  return TRUE;
}

/* Real ids are long: a hospital UUID, a slash, a patient UUID. Rows whose
 * ids differ only far from the start, written in one transaction, must
 * each be in the log. */
static void
test_store_read_lane_long_ids (Fixture *f, gconstpointer data)
{
  const char *const ids[] = {
    "0b6f1c1e-5d7a-4e3b-9f1e-2a9c8d7e6f50/018f2c3a-7b6e-7c1d-8e2f-000000000001",
    "0b6f1c1e-5d7a-4e3b-9f1e-2a9c8d7e6f50/018f2c3a-7b6e-7c1d-8e2f-000000000002",
    "0b6f1c1e-5d7a-4e3b-9f1e-2a9c8d7e6f50/018f2c3a-7b6e-7c1d-8e2f-000000000003",
    NULL,
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(MhStore) peer = test_open (f->dir, "peer.db", f->schema, "site-b");
  g_autoptr(GPtrArray) relayed = NULL;

  g_assert_true (mh_store_transact (f->store, write_long_ids, (gpointer) ids, &error));
  g_assert_no_error (error);
  changes = test_read_lane_all (f->store, LANE_CARE);
  for (guint i = 0; ids[i] != NULL; i++)
    {
      MhChange *age = find_change (changes, ids[i], "age");
      if (age == NULL)
        g_error ("row %s written but not in the log", ids[i]);
    }
  g_assert_cmpuint (changes->len, ==, 3 * 3);

  /* The same for a batch applied from a peer. */
  g_assert_cmpuint (test_apply (peer, changes).applied, ==, 9);
  relayed = test_read_lane_all (peer, LANE_CARE);
  g_assert_cmpuint (relayed->len, ==, 9);
  for (guint i = 0; ids[i] != NULL; i++)
    g_assert_nonnull (find_change (relayed, ids[i], "age"));
  test_assert_same_digests (f->store, peer);
}

static void
test_store_lanes (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) registry = NULL;
  g_autoptr(GPtrArray) care = NULL;
  g_autoptr(GPtrArray) none = NULL;
  g_autoptr(GError) error = NULL;
  MhCursor cursor = { 0, 0 };

  insert_ok (f->store, "hospital", "H1", "{'name': <'a'>}");
  insert_ok (f->store, "patient", "H1/p1", "{'age': <int64 30>}");
  insert_ok (f->store, "observation", "H1/p1/o1", "{'patient': <'H1/p1'>, 'hr': <int64 80>}");
  insert_ok (f->store, "hospital", "H2", "{'name': <'b'>}");
  delete_ok (f->store, "patient", "H1/p1");

  registry = test_read_lane_all (f->store, LANE_REGISTRY);
  care = test_read_lane_all (f->store, LANE_CARE);
  g_assert_cmpuint (registry->len, ==, 8);
  for (guint i = 0; i < registry->len; i++)
    g_assert_cmpstr (((MhChange *) g_ptr_array_index (registry, i))->table, ==, "hospital");
  /* The observation, then the patient's deletion. */
  g_assert_cmpuint (care->len, ==, 2);
  g_assert_cmpstr (((MhChange *) g_ptr_array_index (care, 0))->table, ==, "observation");
  g_assert_cmpint (((MhChange *) g_ptr_array_index (care, 1))->kind, ==, MH_CHANGE_DELETE);
  g_assert_cmpstr (((MhChange *) g_ptr_array_index (care, 1))->table, ==, "patient");

  /* A lane that does not exist is empty. */
  none = mh_store_read_lane (f->store, 7, &cursor, 10, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (none->len, ==, 0);
}

/* ------------------------------------------------------------------------ */
/* Epochs                                                                   */

static void
test_store_epoch_cursor (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  MhCursor cursor = { 0, 0 };
  MhCursor stale;
  gboolean restarted = FALSE, more = TRUE;
  gint64 epoch = mh_store_get_epoch (f->store);

  g_assert_cmpint (epoch, >, 0);
  g_assert_cmpint (epoch, <, G_GINT64_CONSTANT (1) << 53);
  insert_ok (f->store, "hospital", "H1", "{'name': <'a'>}");
  insert_ok (f->store, "hospital", "H2", "{'name': <'b'>}");

  {
    /* A fresh cursor takes the epoch without counting as a restart. */
    g_autoptr(GPtrArray) page = mh_store_read_lane (f->store, LANE_REGISTRY, &cursor, 100,
                                                    &restarted, &more, &error);
    g_assert_no_error (error);
    g_assert_false (restarted);
    g_assert_false (more);
    g_assert_cmpuint (page->len, ==, 8);
    g_assert_cmpint (cursor.epoch, ==, epoch);
    g_assert_cmpint (cursor.seq, ==, mh_store_get_last_seq (f->store));
  }

  {
    /* A cursor from another epoch starts again from zero. */
    g_autoptr(GPtrArray) page = NULL;

    stale.epoch = epoch + 1;
    stale.seq = cursor.seq;
    page = mh_store_read_lane (f->store, LANE_REGISTRY, &stale, 100, &restarted, &more, &error);
    g_assert_no_error (error);
    g_assert_true (restarted);
    g_assert_cmpuint (page->len, ==, 8);
    g_assert_cmpint (stale.epoch, ==, epoch);
  }

  g_assert_true (mh_store_new_epoch (f->store, &error));
  g_assert_no_error (error);
  g_assert_cmpint (mh_store_get_epoch (f->store), !=, epoch);
  {
    /* After a new epoch, the cursor that was up to date reads it all again. */
    g_autoptr(GPtrArray) page = mh_store_read_lane (f->store, LANE_REGISTRY, &cursor, 100,
                                                    &restarted, &more, &error);
    g_assert_no_error (error);
    g_assert_true (restarted);
    g_assert_cmpuint (page->len, ==, 8);
    g_assert_cmpint (cursor.epoch, ==, mh_store_get_epoch (f->store));
  }

  {
    /* The new epoch is kept across a reopen. */
    gint64 new_epoch = mh_store_get_epoch (f->store);

    g_clear_object (&f->store);
    f->store = test_open (f->dir, "replica.db", f->schema, "site-a");
    g_assert_cmpint (mh_store_get_epoch (f->store), ==, new_epoch);
  }
}

static void
test_store_epoch_copy (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_strdup (mh_store_get_path (f->store));
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *copy_path = g_build_filename (f->dir, "copy.db", NULL);
  g_autoptr(GFile) source = g_file_new_for_path (path);
  g_autoptr(GFile) dest = g_file_new_for_path (copy_path);
  g_autoptr(GError) error = NULL;
  g_autoptr(MhStore) copy = NULL;
  gint64 epoch = mh_store_get_epoch (f->store);
  gint64 last_seq;
  MhCursor cursor;
  gboolean restarted = FALSE;

  insert_ok (f->store, "hospital", "H1", "{'name': <'a'>}");
  last_seq = mh_store_get_last_seq (f->store);

  /* Reopening the same file keeps the epoch. */
  g_clear_object (&f->store);
  f->store = test_open (f->dir, "replica.db", f->schema, NULL);
  g_assert_cmpint (mh_store_get_epoch (f->store), ==, epoch);
  cursor.epoch = epoch;
  cursor.seq = last_seq;
  {
    g_autoptr(GPtrArray) page = mh_store_read_lane (f->store, LANE_REGISTRY, &cursor, 100,
                                                    &restarted, NULL, &error);
    g_assert_no_error (error);
    g_assert_false (restarted);
    g_assert_cmpuint (page->len, ==, 0);
  }

  /* Closing the last connection folds the write-ahead log into the file,
   * so the file alone is the whole replica. */
  g_clear_object (&f->store);
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_copy (source, dest, G_FILE_COPY_NONE, NULL, NULL, NULL, &error));
  g_assert_no_error (error);

  copy = test_open (f->dir, "copy.db", f->schema, "site-a");
  test_assert_string (copy, "hospital", "H1", "name", "a");
  g_assert_cmpint (mh_store_get_last_seq (copy), ==, last_seq);
  g_assert_cmpint (mh_store_get_epoch (copy), !=, epoch);
  {
    /* So a peer that was up to date with the original reads the copy again. */
    g_autoptr(GPtrArray) page = mh_store_read_lane (copy, LANE_REGISTRY, &cursor, 100,
                                                    &restarted, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (restarted);
    g_assert_cmpuint (page->len, ==, 4);
  }

  /* The copy keeps its own new epoch; the original keeps its old one. */
  {
    gint64 copy_epoch = mh_store_get_epoch (copy);

    g_clear_object (&copy);
    copy = test_open (f->dir, "copy.db", f->schema, "site-a");
    g_assert_cmpint (mh_store_get_epoch (copy), ==, copy_epoch);
  }
  f->store = test_open (f->dir, "replica.db", f->schema, "site-a");
  g_assert_cmpint (mh_store_get_epoch (f->store), ==, epoch);
}

/* The WAL is checkpointed by the store's thread, not inside a commit: it
 * starts over instead of growing, and nothing is lost on the way. */
static void
test_store_wal_checkpoint (Fixture *f, gconstpointer data)
{
  g_autofree char *wal = g_build_filename (f->dir, "replica.db-wal", NULL);
  g_autofree char *name = g_strnfill (12000, 'n');
  const guint n = 1500;
  GStatBuf st;
  gint64 pages;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("H%u", i);
      g_autoptr(GError) error = NULL;

      g_assert_true (mh_store_insert (f->store, "hospital", id,
                                      g_variant_new_parsed ("{'name': <%s>}", name), &error));
      g_assert_no_error (error);
    }
  /* Each commit adds about 9 pages: without checkpoints the WAL would hold
   * about 13,500; the writer finishes a checkpoint itself from 4,000. */
  g_assert_cmpint (g_stat (wal, &st), ==, 0);
  pages = (gint64) st.st_size / (4096 + 24);
  g_test_message ("WAL: %" G_GINT64_FORMAT " pages after %u commits", pages, n);
  g_assert_cmpint (pages, <, 9000);

  /* Closed, the store leaves no WAL behind, and every row is there. */
  g_clear_object (&f->store);
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
  f->store = test_open (f->dir, "replica.db", f->schema, "site-a");
  for (guint i = 0; i < n; i += 97)
    {
      g_autofree char *id = g_strdup_printf ("H%u", i);
      test_assert_string (f->store, "hospital", id, "name", name);
    }
  test_assert_digests_consistent (f->store);
}

/* Under LANGUAGE=fr, with the build's catalogue, the store's, the codec's
 * and the fingerprint reader's errors come back in French; back in English
 * once the language is restored. */
static void
test_store_french (Fixture *f, gconstpointer data)
{
  const char *build_root = g_getenv ("MEDHEAD_BUILD_ROOT");
  g_autofree char *localedir = NULL;
  g_autofree char *catalogue = NULL;
  g_autofree char *old_language = g_strdup (g_getenv ("LANGUAGE"));
  g_autofree char *old_locale = g_strdup (setlocale (LC_ALL, NULL));
  g_autofree char *fingerprint = NULL;
  g_autoptr(GPtrArray) batch = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (build_root);
  localedir = g_build_filename (build_root, "po", NULL);
  catalogue = g_build_filename (localedir, "fr", "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);
  if (!g_file_test (catalogue, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("the French catalogue is not built (msgfmt missing)");
      return;
    }
  insert_ok (f->store, "hospital", "H1", "{'name': <'Central'>}");
  insert_ok (f->store, "hospital", "HD", "{'name': <'Gone'>}");
  delete_ok (f->store, "hospital", "HD");

  /* As the programs do at start, with the build's catalogue. */
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  g_setenv ("LANGUAGE", "fr", TRUE);
  setlocale (LC_ALL, "C.UTF-8");

  /* Inserting a row that exists: what the app shows in a toast. */
  g_assert_false (mh_store_insert (f->store, "hospital", "H1",
                                   g_variant_new_parsed ("{'name': <'again'>}"), &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_EXISTS);
  g_assert_cmpstr (error->message, ==, "hospital « H1 » existe déjà");
  g_clear_error (&error);

  g_assert_false (mh_store_delete (f->store, "hospital", "HD", &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_DELETED);
  g_assert_cmpstr (error->message, ==, "hospital « HD » est déjà supprimé");
  g_clear_error (&error);

  /* A malformed batch, as a peer link reports it. */
  batch = mh_codec_decode_batch ("[]", -1, NULL, &error);
  g_assert_null (batch);
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
  g_assert_cmpstr (error->message, ==, "un lot doit être un objet JSON");
  g_clear_error (&error);

  /* A fingerprint typed by hand, with a digit that looks like a letter. */
  fingerprint = mh_fingerprint_normalize ("ABCD-EFGH-IJKL-MNOP-QRS0", &error);
  g_assert_null (fingerprint);
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
  g_assert_cmpstr (error->message, ==,
                   "Une empreinte n’a pas de chiffre 0 : ses chiffres vont de 2 à 7 "
                   "(vouliez-vous dire la lettre O ?)");
  g_clear_error (&error);

  if (old_language != NULL)
    g_setenv ("LANGUAGE", old_language, TRUE);
  else
    g_unsetenv ("LANGUAGE");
  setlocale (LC_ALL, old_locale);

  /* Restored: English again, word for word as before. */
  g_assert_false (mh_store_insert (f->store, "hospital", "H1",
                                   g_variant_new_parsed ("{'name': <'again'>}"), &error));
  g_assert_cmpstr (error->message, ==, "hospital “H1” exists already");
}

/* A reader can leave out one origin's registers: they are counted, not
 * built, and the cursor still passes over them. */
static void
test_store_read_lane_skipping (Fixture *f, gconstpointer data)
{
  g_autoptr(MhStore) other = test_open (f->dir, "other.db", f->schema, "site-b");
  g_autoptr(GPtrArray) theirs = NULL;
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GError) error = NULL;
  MhCursor cursor = { 0, 0 };
  MhApplyReport report;
  guint n_skipped = 99;
  gboolean more = TRUE;

  insert_ok (other, "hospital", "B1", "{'name': <'theirs'>, 'available': <int64 3>}");
  insert_ok (other, "hospital", "B2", "{'name': <'theirs too'>}");
  theirs = mh_store_read_lane (other, LANE_REGISTRY, &cursor, 100, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (mh_store_apply (f->store, theirs, &report, &error));
  g_assert_no_error (error);
  insert_ok (f->store, "hospital", "A1", "{'name': <'ours'>}");
  /* A register of B1 rewritten here: that one is ours now. */
  update_ok (f->store, "hospital", "B1", "{'available': <int64 4>}");

  cursor.epoch = cursor.seq = 0;
  page = mh_store_read_lane_skipping (f->store, LANE_REGISTRY, &cursor, 100, "site-b",
                                      &n_skipped, NULL, &more, &error);
  g_assert_no_error (error);
  g_assert_false (more);
  g_assert_cmpint (cursor.seq, ==, mh_store_get_last_seq (f->store));
  for (guint i = 0; i < page->len; i++)
    g_assert_cmpstr (((MhChange *) g_ptr_array_index (page, i))->origin, ==, "site-a");
  g_assert_nonnull (find_change (page, "A1", "name"));
  g_assert_nonnull (find_change (page, "B1", "beds"));
  g_assert_null (find_change (page, "B1", "name"));
  /* All of site-b's registers but the one rewritten here. */
  g_assert_nonnull (find_change (theirs, "B1", "beds"));
  g_assert_cmpuint (n_skipped, ==, theirs->len - 1);

  /* Skipping nobody, or a site unknown here, reads everything. */
  g_clear_pointer (&page, g_ptr_array_unref);
  cursor.epoch = cursor.seq = 0;
  page = mh_store_read_lane_skipping (f->store, LANE_REGISTRY, &cursor, 100, "site-z",
                                      &n_skipped, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_skipped, ==, 0);
  g_assert_nonnull (find_change (page, "B1", "name"));
  g_assert_nonnull (find_change (page, "A1", "name"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/store/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("insert-get", test_store_insert_get);
  ADD ("update-upsert-delete", test_store_update_upsert_delete);
  ADD ("update-keeps-register-columns", test_store_update_keeps_register_columns);
  ADD ("refusals", test_store_refusals);
  ADD ("transact/all", test_store_transact_all);
  ADD ("transact/rollback", test_store_transact_rollback);
  ADD ("transact/nested", test_store_transact_nested);
  ADD ("stamping", test_store_stamping);
  ADD ("signals", test_store_signals);
  ADD ("signals/many-rows", test_store_signals_many_rows);
  ADD ("signals/write-from-handler", test_store_signals_write_from_handler);
  ADD ("signals/committed-lanes", test_store_signals_committed_lanes);
  ADD ("validator", test_store_validator);
  g_test_add_func ("/store/validator-destroy", test_store_validator_destroy);
  ADD ("read-lane/paging", test_store_read_lane_paging);
  ADD ("read-lane/paging-random", test_store_read_lane_paging_random);
  ADD ("read-lane/long-ids", test_store_read_lane_long_ids);
  ADD ("read-lane/skipping", test_store_read_lane_skipping);
  ADD ("lanes", test_store_lanes);
  ADD ("epoch/cursor", test_store_epoch_cursor);
  ADD ("epoch/copy", test_store_epoch_copy);
  ADD ("wal-checkpoint", test_store_wal_checkpoint);
  ADD ("french", test_store_french);
#undef ADD
  return g_test_run ();
}

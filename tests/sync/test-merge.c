/* Unit tests of remote apply between stores: last-writer-wins per
 * register, idempotence, commutativity, deletes, insert-only tables,
 * validation (reject, park), malformed changes, relay, history. */
#include "config.h"

#include "sync-test-common.h"

typedef struct
{
  char *dir;
  MhSchema *schema;
  MhStore *a;
  MhStore *b;
  MhStore *c;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = mh_test_make_tmpdir ("mh-merge");
  f->schema = test_schema_new (1);
  f->a = test_open (f->dir, "a.db", f->schema, "site-a");
  f->b = test_open (f->dir, "b.db", f->schema, "site-b");
  f->c = test_open (f->dir, "c.db", f->schema, "site-c");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->a);
  g_clear_object (&f->b);
  g_clear_object (&f->c);
  g_clear_pointer (&f->schema, mh_schema_unref);
  mh_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
write_ok (MhStore *store, int op, const char *table, const char *row, const char *values)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = FALSE;

  switch (op)
    {
    case 'i': ok = mh_store_insert (store, table, row, g_variant_new_parsed (values), &error); break;
    case 'u': ok = mh_store_update (store, table, row, g_variant_new_parsed (values), &error); break;
    case 'd': ok = mh_store_delete (store, table, row, &error); break;
    default: g_assert_not_reached ();
    }
  g_assert_no_error (error);
  g_assert_true (ok);
}

static MhChange *
find_change (GPtrArray *changes, const char *table, const char *row, const char *reg)
{
  for (guint i = 0; i < changes->len; i++)
    {
      MhChange *c = g_ptr_array_index (changes, i);
      if (g_strcmp0 (c->table, table) == 0 && g_strcmp0 (c->row, row) == 0
          && g_strcmp0 (c->reg, reg) == 0)
        return c;
    }
  return NULL;
}

static void
count_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
count_committed (MhStore *store, gint64 seq, gpointer user_data)
{
  (*(guint *) user_data)++;
}

/* ------------------------------------------------------------------------ */
/* Last writer wins                                                         */

static void
test_merge_lww_register (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) from_a = NULL;
  g_autoptr(GPtrArray) from_b = NULL;
  MhApplyReport report;
  MhChange *status;

  write_ok (f->a, 'i', "hospital", "H1",
            "{'name': <'Central'>, 'status': <'normal'>, 'available': <int64 5>}");
  test_sync (f->a, f->b);
  test_assert_string (f->b, "hospital", "H1", "name", "Central");

  /* Concurrent, unaware of each other: a changes status and beds, b
   * changes status a second later. */
  mh_store_set_clock_offset (f->b, 1000);
  write_ok (f->a, 'u', "hospital", "H1", "{'status': <'advisory'>, 'reason': <'busy'>}");
  write_ok (f->a, 'u', "hospital", "H1", "{'available': <int64 3>}");
  write_ok (f->b, 'u', "hospital", "H1", "{'status': <'closed'>}");

  from_a = test_read_all (f->a);
  from_b = test_read_all (f->b);
  report = test_apply (f->b, from_a);
  /* b knew a's name and loc already; a's status loses, a's beds win. */
  g_assert_cmpuint (report.applied, ==, 1);
  g_assert_cmpuint (report.ignored_older, ==, 3);
  report = test_apply (f->a, from_b);
  g_assert_cmpuint (report.applied, ==, 1);

  /* Per register, not per row: b's status, a's beds, on both. */
  for (guint i = 0; i < 2; i++)
    {
      MhStore *s = i == 0 ? f->a : f->b;
      test_assert_string (s, "hospital", "H1", "status", "closed");
      /* The status register travels whole: b's reason (none) with it. */
      test_assert_string (s, "hospital", "H1", "reason", NULL);
      g_assert_cmpint (test_get_int (s, "hospital", "H1", "available"), ==, 3);
      test_assert_string (s, "hospital", "H1", "name", "Central");
    }
  test_assert_same_row (f->a, f->b, "hospital", "H1");
  test_assert_same_digests (f->a, f->b);

  /* a now relays b's status as b wrote it. */
  g_clear_pointer (&from_a, g_ptr_array_unref);
  from_a = test_read_all (f->a);
  status = find_change (from_a, "hospital", "H1", "status");
  g_assert_cmpstr (status->origin, ==, "site-b");
  g_assert_true (mh_change_equal (status, find_change (from_b, "hospital", "H1", "status")));
}

static void
test_merge_lww_tie (Fixture *f, gconstpointer data)
{
  MhHlc h = test_hlc (-1000, 5);
  g_autoptr(GPtrArray) batch = test_batch (
    test_set ("patient", "H1/p1", "triage", h, "site-x", 1, "[<'delayed'>]"),
    test_set ("patient", "H1/p1", "triage", h, "site-y", 1, "[<'immediate'>]"), NULL);
  g_autoptr(GPtrArray) reversed = test_batch_reversed (batch);
  MhApplyReport report;

  /* Equal clocks: the greater site id wins, in any order. */
  g_assert_cmpint (mh_change_compare_clock (h, "site-y", h, "site-x"), >, 0);
  g_assert_cmpint (mh_change_compare_clock (h, "site-x", h + 1, "site-a"), <, 0);

  report = test_apply (f->a, batch);
  test_assert_report (report, 2, 0, 0, 0, 0, 0, 0, 0);
  report = test_apply (f->b, reversed);
  test_assert_report (report, 1, 1, 0, 0, 0, 0, 0, 0);

  test_assert_string (f->a, "patient", "H1/p1", "triage", "immediate");
  test_assert_string (f->b, "patient", "H1/p1", "triage", "immediate");
  test_assert_same_digests (f->a, f->b);
}

/* ------------------------------------------------------------------------ */

static void
test_merge_idempotent (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) batch = NULL;
  g_autoptr(GHashTable) digests = NULL;
  g_autoptr(GHashTable) digests_again = NULL;
  MhApplyReport report;
  guint committed = 0;
  gint64 seq;

  write_ok (f->a, 'i', "hospital", "H1", "{'name': <'Central'>, 'available': <int64 5>}");
  write_ok (f->a, 'i', "hospital", "H2", "{'name': <'North'>}");
  write_ok (f->a, 'u', "hospital", "H1", "{'status': <'closed'>}");
  write_ok (f->a, 'i', "patient", "H1/p1", "{'triage': <'delayed'>, 'age': <int64 70>}");
  write_ok (f->a, 'i', "observation", "H1/p1/o1", "{'patient': <'H1/p1'>, 'hr': <int64 88>}");
  write_ok (f->a, 'd', "hospital", "H2", NULL);
  batch = test_read_all (f->a);
  g_ptr_array_add (batch, test_set ("patient", "H1/p2", "age", test_hlc (-5, 0), "site-x", 9,
                                    "[<int64 41>]"));
  g_ptr_array_add (batch, test_delete ("patient", "H1/p3", test_hlc (-5, 1), "site-x", 10));

  report = test_apply (f->b, batch);
  test_assert_report (report, batch->len, 0, 0, 0, 0, 0, 0, 0);
  test_assert_same_row (f->a, f->b, "hospital", "H1");
  test_assert_same_row (f->a, f->b, "patient", "H1/p1");
  g_assert_cmpint (mh_store_get_row_state (f->b, "hospital", "H2"), ==, MH_ROW_DELETED);
  seq = mh_store_get_last_seq (f->b);
  digests = mh_store_list_digests (f->b);

  /* The same batch again: nothing new, nothing logged, nothing announced. */
  g_signal_connect (f->b, "committed", G_CALLBACK (count_committed), &committed);
  report = test_apply (f->b, batch);
  test_assert_report (report, 0, batch->len, 0, 0, 0, 0, 0, 0);
  g_assert_cmpint (mh_store_get_last_seq (f->b), ==, seq);
  digests_again = mh_store_list_digests (f->b);
  g_assert_true (test_digests_equal (digests, digests_again));
  g_assert_cmpuint (committed, ==, 0);

  {
    /* A change twice in one batch counts once. */
    g_autoptr(MhChange) dup = test_set ("patient", "H1/p4", "note", test_hlc (-5, 2), "site-x",
                                        11, "[<'twice'>]");
    g_autoptr(GPtrArray) twice = test_batch (mh_change_ref (dup), mh_change_ref (dup), NULL);

    report = test_apply (f->c, twice);
    test_assert_report (report, 1, 1, 0, 0, 0, 0, 0, 0);
    test_assert_string (f->c, "patient", "H1/p4", "note", "twice");
  }
  test_assert_digests_consistent (f->b);
}

/* Changes from three origins over a few rows, clocks close together so
 * that they conflict, some tied across origins. A (register, clock,
 * origin) is never stamped twice with different values, as no origin
 * ever does. */
static GPtrArray *
random_changes (GRand *rand, guint n, GPtrArray *row_ids)
{
  const char *origins[] = { "site-x", "site-y", "site-z" };
  const char *regs[] = { "triage", "age", "note" };
  const char *triages[] = { "immediate", "delayed", "minimal" };
  g_autoptr(GHashTable) stamped = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) contents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GPtrArray *changes = test_batch_new ();
  gint64 base = g_get_real_time () / 1000 - 120000;

  while (changes->len < n)
    {
      guint kind = g_rand_int_range (rand, 0, 10);
      const char *origin = origins[g_rand_int_range (rand, 0, 3)];
      MhHlc hlc = MH_HLC_PACK (base + g_rand_int_range (rand, 0, 40), g_rand_int_range (rand, 0, 2));
      gint64 oseq = changes->len + 1;
      g_autofree char *patient = g_strdup_printf ("H%d/p%d", g_rand_int_range (rand, 0, 3),
                                                  g_rand_int_range (rand, 0, 6));
      g_autofree char *row = NULL;
      g_autofree char *slot = NULL;
      MhChange *change;

      if (kind == 0)
        {
          row = g_strdup (patient);
          slot = g_strdup_printf ("%s #del %" G_GINT64_FORMAT " %s", row, hlc, origin);
          change = test_delete ("patient", row, hlc, origin, oseq);
        }
      else if (kind <= 2)
        {
          g_autofree char *values = g_strdup_printf ("[<'%s'>, <int64 %d>, <0.9%d>]", patient,
                                                     g_rand_int_range (rand, 80, 82),
                                                     g_rand_int_range (rand, 0, 2));
          row = g_strdup_printf ("%s/o%d", patient, g_rand_int_range (rand, 0, 3));
          /* One clock per content under a key: the same content stamped
           * twice, at two clocks, would make which losers each node lists
           * as rejected depend on the order (see the rejected counts below). */
          if (!g_hash_table_add (contents, g_strdup_printf ("%s %s", row, values)))
            continue;
          slot = g_strdup_printf ("%s obs %" G_GINT64_FORMAT " %s", row, hlc, origin);
          change = test_set ("observation", row, "obs", hlc, origin, oseq, values);
        }
      else
        {
          const char *reg = regs[g_rand_int_range (rand, 0, 3)];
          g_autofree char *values = NULL;

          if (g_str_equal (reg, "triage"))
            values = g_strdup_printf ("[<'%s'>]", triages[g_rand_int_range (rand, 0, 3)]);
          else if (g_str_equal (reg, "age"))
            values = g_strdup_printf ("[<int64 %d>]", g_rand_int_range (rand, 20, 23));
          else if (g_rand_boolean (rand))
            values = g_strdup ("[<@mv nothing>]");
          else
            values = g_strdup_printf ("[<'note %d'>]", g_rand_int_range (rand, 0, 3));
          row = g_strdup (patient);
          slot = g_strdup_printf ("%s %s %" G_GINT64_FORMAT " %s", row, reg, hlc, origin);
          change = test_set ("patient", row, reg, hlc, origin, oseq, values);
        }
      if (!g_hash_table_add (stamped, g_steal_pointer (&slot)))
        {
          mh_change_unref (change);
          continue;
        }
      g_ptr_array_add (changes, change);
      if (!g_ptr_array_find_with_equal_func (row_ids, row, g_str_equal, NULL))
        g_ptr_array_add (row_ids, g_strdup (row));
    }
  return changes;
}

static void
shuffle (GRand *rand, GPtrArray *array)
{
  for (guint i = array->len; i > 1; i--)
    {
      guint j = g_rand_int_range (rand, 0, i);
      gpointer tmp = array->pdata[i - 1];
      array->pdata[i - 1] = array->pdata[j];
      array->pdata[j] = tmp;
    }
}

static void
test_merge_commutative (Fixture *f, gconstpointer data)
{
  guint32 seed = mh_test_seed_from_env (g_random_int ());
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr(GPtrArray) row_ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GPtrArray) reversed = NULL;
  g_autoptr(GPtrArray) shuffled = NULL;
  g_autoptr(MhStore) d = test_open (f->dir, "d.db", f->schema, "site-d");
  g_autoptr(MhStore) e = test_open (f->dir, "e.db", f->schema, "site-e");
  MhStore *stores[5];
  guint n = test_under_valgrind () ? 120 : 400;

  g_test_message ("seed %u (MEDHEAD_SEED=%u replays it)", seed, seed);
  changes = random_changes (rand, n, row_ids);
  reversed = test_batch_reversed (changes);

  /* a: one batch in order; b: one batch reversed; c: one by one, shuffled;
   * d: shuffled batches of random sizes, each change delivered once or twice. */
  test_apply (f->a, changes);
  test_apply (f->b, reversed);
  shuffled = test_batch_reversed (changes);
  shuffle (rand, shuffled);
  for (guint i = 0; i < shuffled->len; i++)
    {
      g_autoptr(GPtrArray) one = test_batch (mh_change_ref (g_ptr_array_index (shuffled, i)),
                                             NULL);
      test_apply (f->c, one);
    }
  {
    g_autoptr(GPtrArray) deliveries = test_batch_new ();
    guint i = 0;

    for (guint k = 0; k < changes->len; k++)
      {
        g_ptr_array_add (deliveries, mh_change_ref (g_ptr_array_index (changes, k)));
        if (g_rand_int_range (rand, 0, 4) == 0)
          g_ptr_array_add (deliveries, mh_change_ref (g_ptr_array_index (changes, k)));
      }
    shuffle (rand, deliveries);
    while (i < deliveries->len)
      {
        g_autoptr(GPtrArray) part = test_batch_new ();
        guint size = g_rand_int_range (rand, 1, 40);

        for (; i < deliveries->len && part->len < size; i++)
          g_ptr_array_add (part, mh_change_ref (g_ptr_array_index (deliveries, i)));
        test_apply (d, part);
      }
  }
  /* e: relayed from c, whose log is compacted: the state, not the history. */
  test_sync (f->c, e);

  stores[0] = f->a;
  stores[1] = f->b;
  stores[2] = f->c;
  stores[3] = d;
  stores[4] = e;
  for (guint s = 0; s < G_N_ELEMENTS (stores); s++)
    {
      test_assert_digests_consistent (stores[s]);
      if (s == 0)
        continue;
      test_assert_same_digests (stores[0], stores[s]);
      for (guint r = 0; r < row_ids->len; r++)
        {
          const char *row = g_ptr_array_index (row_ids, r);
          const char *table = strchr (strchr (row, '/') + 1, '/') ? "observation" : "patient";
          test_assert_same_row (stores[0], stores[s], table, row);
        }
      /* The same insert-only losers are rejected everywhere. */
      if (s != 4)
        g_assert_cmpuint (mh_store_get_rejected_count (stores[s]), ==,
                          mh_store_get_rejected_count (stores[0]));
    }
}

/* ------------------------------------------------------------------------ */
/* Deletes                                                                  */

static void
test_merge_delete_wins (Fixture *f, gconstpointer data)
{
  MhHlc h1 = test_hlc (-3000, 0), h2 = test_hlc (-2000, 0), h3 = test_hlc (-1000, 0);
  g_autoptr(MhChange) set1 = test_set ("patient", "H1/p1", "triage", h1, "site-x", 1,
                                       "[<'delayed'>]");
  g_autoptr(MhChange) del = test_delete ("patient", "H1/p1", h2, "site-y", 1);
  g_autoptr(MhChange) set3 = test_set ("patient", "H1/p1", "age", h3, "site-x", 2,
                                       "[<int64 50>]");
  MhApplyReport report;

  {
    /* Data, deletion, then a later write: the write is ignored. */
    g_autoptr(GPtrArray) b1 = test_batch (mh_change_ref (set1), NULL);
    g_autoptr(GPtrArray) b2 = test_batch (mh_change_ref (del), NULL);
    g_autoptr(GPtrArray) b3 = test_batch (mh_change_ref (set3), NULL);

    report = test_apply (f->a, b1);
    test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
    report = test_apply (f->a, b2);
    test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
    report = test_apply (f->a, b3);
    test_assert_report (report, 0, 0, 1, 0, 0, 0, 0, 0);
  }
  {
    /* The deletion before any data: all data after it is ignored. */
    g_autoptr(GPtrArray) b1 = test_batch (mh_change_ref (del), NULL);
    g_autoptr(GPtrArray) b2 = test_batch (mh_change_ref (set3), mh_change_ref (set1), NULL);

    report = test_apply (f->b, b1);
    test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
    g_assert_cmpint (mh_store_get_row_state (f->b, "patient", "H1/p1"), ==, MH_ROW_DELETED);
    report = test_apply (f->b, b2);
    test_assert_report (report, 0, 0, 2, 0, 0, 0, 0, 0);
  }
  for (guint i = 0; i < 2; i++)
    {
      MhStore *s = i == 0 ? f->a : f->b;
      g_autoptr(GPtrArray) care = test_read_lane_all (s, LANE_CARE);

      g_assert_cmpint (mh_store_get_row_state (s, "patient", "H1/p1"), ==, MH_ROW_DELETED);
      g_assert_null (mh_store_get_row (s, "patient", "H1/p1"));
      /* Only the deletion is left to relay. */
      g_assert_cmpuint (care->len, ==, 1);
      g_assert_true (mh_change_equal (g_ptr_array_index (care, 0), del));
      test_assert_digests_consistent (s);
    }
  test_assert_same_digests (f->a, f->b);

  {
    /* A deletion wins over newer writes too: c wrote the row after the
     * deletion's clock, and still loses it. */
    g_autoptr(GPtrArray) b = test_batch (test_delete ("hospital", "H9", test_hlc (-60000, 0),
                                                      "site-x", 7), NULL);

    write_ok (f->c, 'i', "hospital", "H9", "{'name': <'New'>}");
    write_ok (f->c, 'u', "hospital", "H9", "{'available': <int64 2>}");
    report = test_apply (f->c, b);
    test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
    g_assert_cmpint (mh_store_get_row_state (f->c, "hospital", "H9"), ==, MH_ROW_DELETED);
    test_assert_digests_consistent (f->c);
  }
}

static void
test_merge_delete_twice (Fixture *f, gconstpointer data)
{
  MhHlc h1 = test_hlc (-3000, 0), h2 = test_hlc (-2000, 0), h3 = test_hlc (-1000, 0);
  g_autoptr(MhChange) set = test_set ("patient", "H1/p1", "age", h1, "site-x", 1, "[<int64 9>]");
  g_autoptr(MhChange) del1 = test_delete ("patient", "H1/p1", h2, "site-x", 2);
  g_autoptr(MhChange) del2 = test_delete ("patient", "H1/p1", h3, "site-y", 1);
  g_autoptr(GPtrArray) forward = test_batch (mh_change_ref (set), mh_change_ref (del1),
                                             mh_change_ref (del2), NULL);
  g_autoptr(GPtrArray) backward = test_batch_reversed (forward);
  MhApplyReport report;

  del2->signature = g_bytes_new_static ("sig-y", 5);

  report = test_apply (f->a, forward);
  test_assert_report (report, 3, 0, 0, 0, 0, 0, 0, 0);
  report = test_apply (f->b, backward);
  test_assert_report (report, 1, 1, 1, 0, 0, 0, 0, 0);
  {
    /* One at a time, the later deletion first. */
    g_autoptr(GPtrArray) one = test_batch (mh_change_ref (del2), NULL);
    g_autoptr(GPtrArray) two = test_batch (mh_change_ref (del1), NULL);

    test_apply (f->c, one);
    report = test_apply (f->c, two);
    test_assert_report (report, 0, 1, 0, 0, 0, 0, 0, 0);
  }

  /* Every node keeps the later deletion, and relays only it. */
  for (guint i = 0; i < 3; i++)
    {
      MhStore *s = i == 0 ? f->a : i == 1 ? f->b : f->c;
      g_autoptr(GPtrArray) care = test_read_lane_all (s, LANE_CARE);

      g_assert_cmpuint (care->len, ==, 1);
      g_assert_true (mh_change_equal (g_ptr_array_index (care, 0), del2));
      test_assert_digests_consistent (s);
      if (i > 0)
        test_assert_same_digests (f->a, s);
    }
}

/* ------------------------------------------------------------------------ */
/* Insert-only tables                                                       */

static void
test_merge_insert_only_duplicate (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) from_a = NULL;
  g_autoptr(GPtrArray) same_elsewhere = NULL;
  MhApplyReport report;

  write_ok (f->a, 'i', "observation", "H1/p1/o1",
            "{'patient': <'H1/p1'>, 'hr': <int64 88>, 'spo2': <0.95>}");
  from_a = test_read_all (f->a);
  g_assert_cmpuint (from_a->len, ==, 1);

  report = test_apply (f->b, from_a);
  test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
  report = test_apply (f->b, from_a);
  test_assert_report (report, 0, 1, 0, 0, 0, 0, 0, 0);

  /* The same content under the same key from elsewhere is no conflict. */
  same_elsewhere = test_batch (test_set ("observation", "H1/p1/o1", "obs", test_hlc (-60000, 0),
                                         "site-x", 1, "[<'H1/p1'>, <int64 88>, <0.95>]"),
                               NULL);
  test_apply (f->b, same_elsewhere);
  test_apply (f->c, same_elsewhere);
  test_apply (f->c, from_a);
  test_apply (f->a, same_elsewhere);
  for (guint i = 0; i < 3; i++)
    {
      MhStore *s = i == 0 ? f->a : i == 1 ? f->b : f->c;
      g_assert_cmpuint (mh_store_get_rejected_count (s), ==, 0);
      g_assert_cmpint (test_get_int (s, "observation", "H1/p1/o1", "hr"), ==, 88);
    }
  test_assert_same_digests (f->a, f->b);
  test_assert_same_digests (f->a, f->c);
}

static void
test_merge_insert_only_conflict (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) from_a = NULL;
  g_autoptr(GPtrArray) later = NULL;
  g_autoptr(GPtrArray) earlier = NULL;
  MhChange *mine;
  MhApplyReport report;
  guint notified = 0;

  write_ok (f->a, 'i', "observation", "H1/p1/o1",
            "{'patient': <'H1/p1'>, 'hr': <int64 88>, 'spo2': <0.95>}");
  from_a = test_read_all (f->a);
  mine = g_ptr_array_index (from_a, 0);
  /* The same key, other content, a later clock. */
  later = test_batch (test_set ("observation", "H1/p1/o1", "obs", mine->hlc + 1, "site-x", 4,
                                "[<'H1/p1'>, <int64 120>, <0.9>]"),
                      NULL);

  /* a: its own insert loses to the later one. */
  g_signal_connect (f->a, "notify::rejected-count", G_CALLBACK (count_notify), &notified);
  report = test_apply (f->a, later);
  test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
  g_assert_cmpuint (notified, ==, 1);

  /* b: a's first, then the later one. */
  test_apply (f->b, from_a);
  report = test_apply (f->b, later);
  test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);

  /* c: the later one first, then a's, which is rejected on arrival. */
  test_apply (f->c, later);
  report = test_apply (f->c, from_a);
  test_assert_report (report, 0, 0, 0, 1, 0, 0, 0, 0);

  /* Everywhere the same row, and a's insert listed as rejected. */
  for (guint i = 0; i < 3; i++)
    {
      MhStore *s = i == 0 ? f->a : i == 1 ? f->b : f->c;
      g_autoptr(GPtrArray) rejected = mh_store_list_rejected (s, 0);
      MhQueuedChange *q;

      g_assert_cmpint (test_get_int (s, "observation", "H1/p1/o1", "hr"), ==, 120);
      g_assert_cmpuint (mh_store_get_rejected_count (s), ==, 1);
      g_assert_cmpuint (rejected->len, ==, 1);
      q = g_ptr_array_index (rejected, 0);
      g_assert_cmpstr (q->change->table, ==, "observation");
      g_assert_cmpstr (q->change->row, ==, "H1/p1/o1");
      g_assert_cmpstr (q->change->origin, ==, "site-a");
      g_assert_cmpint (q->change->hlc, ==, mine->hlc);
      g_assert_cmpint (q->change->origin_seq, ==, mine->origin_seq);
      g_assert_true (g_variant_equal (q->change->value, mine->value));
      g_assert_nonnull (strstr (q->reason, "conflicting insert"));
      g_assert_cmpint (q->at_ms, >, 0);
      test_assert_digests_consistent (s);
      if (i > 0)
        test_assert_same_digests (f->a, s);
    }

  /* An earlier conflicting insert loses to the stored one straight away. */
  earlier = test_batch (test_set ("observation", "H1/p1/o1", "obs", mine->hlc - 1, "site-y", 1,
                                  "[<'H1/p1'>, <int64 60>, <0.8>]"),
                        NULL);
  report = test_apply (f->a, earlier);
  test_assert_report (report, 0, 0, 0, 1, 0, 0, 0, 0);
  g_assert_cmpint (test_get_int (f->a, "observation", "H1/p1/o1", "hr"), ==, 120);
  g_assert_cmpuint (mh_store_get_rejected_count (f->a), ==, 2);
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */

typedef struct
{
  guint remote_calls;
  guint local_calls;
  gboolean park_notes;
} Validation;

/* Rejects impossible ages; parks an observation until its patient is here. */
static MhVerdict
validate (MhStore *store, const MhChange *change, const MhRow *row, gboolean local,
          char **reason, gpointer user_data)
{
  Validation *v = user_data;

  if (local)
    v->local_calls++;
  else
    v->remote_calls++;
  if (row == NULL || change->kind == MH_CHANGE_DELETE)
    return MH_VERDICT_ACCEPT;
  if (v->park_notes && g_str_equal (change->reg, "note"))
    {
      *reason = g_strdup ("notes held back");
      return MH_VERDICT_PARK;
    }
  if (g_str_equal (mh_row_get_table (row), "patient") && !mh_row_is_null (row, "age")
      && (mh_row_get_int (row, "age") < 0 || mh_row_get_int (row, "age") > 150))
    {
      *reason = g_strdup_printf ("age %" G_GINT64_FORMAT " out of range",
                                 mh_row_get_int (row, "age"));
      return MH_VERDICT_REJECT;
    }
  if (g_str_equal (mh_row_get_table (row), "observation"))
    {
      const char *patient = mh_row_get_string (row, "patient");

      if (patient == NULL)
        {
          *reason = g_strdup ("an observation needs a patient");
          return MH_VERDICT_REJECT;
        }
      if (mh_store_get_row_state (store, "patient", patient) != MH_ROW_LIVE)
        {
          *reason = g_strdup_printf ("waiting for patient %s", patient);
          return MH_VERDICT_PARK;
        }
    }
  return MH_VERDICT_ACCEPT;
}

static void
test_merge_validator_reject (Fixture *f, gconstpointer data)
{
  Validation v = { 0 };
  Validation vc = { 0 };
  g_autoptr(MhChange) too_old = test_set ("patient", "H1/p2", "age", test_hlc (-900, 0),
                                          "site-x", 2, "[<int64 200>]");
  g_autoptr(MhChange) negative = test_set ("patient", "H1/p1", "age", test_hlc (-800, 0),
                                           "site-x", 4, "[<int64 -1>]");
  g_autoptr(GPtrArray) batch = test_batch (
    test_set ("patient", "H1/p1", "triage", test_hlc (-1000, 0), "site-x", 1, "[<'minimal'>]"),
    mh_change_ref (too_old),
    test_set ("patient", "H1/p1", "age", test_hlc (-950, 0), "site-x", 3, "[<int64 40>]"),
    mh_change_ref (negative),
    test_set ("patient", "H1/p3", "note", test_hlc (-700, 0), "site-x", 5, "[<'ok'>]"), NULL);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GPtrArray) care = NULL;
  MhApplyReport report;
  guint notified = 0;

  mh_store_set_validator (f->b, validate, &v, NULL);
  mh_store_set_validator (f->c, validate, &vc, NULL);
  g_signal_connect (f->b, "notify::rejected-count", G_CALLBACK (count_notify), &notified);

  report = test_apply (f->b, batch);
  /* Refused ones counted; the rest of the batch applied. */
  test_assert_report (report, 3, 0, 0, 2, 0, 0, 0, 0);
  g_assert_cmpuint (v.remote_calls, ==, 5);
  g_assert_cmpuint (v.local_calls, ==, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (f->b), ==, 2);
  g_assert_cmpuint (notified, ==, 1);

  rejected = mh_store_list_rejected (f->b, 0);
  g_assert_cmpuint (rejected->len, ==, 2);
  g_assert_true (mh_change_equal (((MhQueuedChange *) g_ptr_array_index (rejected, 0))->change,
                                  too_old));
  g_assert_cmpstr (((MhQueuedChange *) g_ptr_array_index (rejected, 0))->reason, ==,
                   "age 200 out of range");
  g_assert_true (mh_change_equal (((MhQueuedChange *) g_ptr_array_index (rejected, 1))->change,
                                  negative));
  g_assert_cmpstr (((MhQueuedChange *) g_ptr_array_index (rejected, 1))->reason, ==,
                   "age -1 out of range");
  g_clear_pointer (&rejected, g_ptr_array_unref);
  rejected = mh_store_list_rejected (f->b, 1);
  g_assert_cmpuint (rejected->len, ==, 1);

  /* Not applied: no row, or the row as it was; not relayed. */
  g_assert_cmpint (mh_store_get_row_state (f->b, "patient", "H1/p2"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (test_get_int (f->b, "patient", "H1/p1", "age"), ==, 40);
  test_assert_string (f->b, "patient", "H1/p1", "triage", "minimal");
  test_assert_string (f->b, "patient", "H1/p3", "note", "ok");
  care = test_read_lane_all (f->b, LANE_CARE);
  g_assert_null (find_change (care, "patient", "H1/p2", "age"));
  g_assert_cmpint (find_change (care, "patient", "H1/p1", "age")->hlc, <, negative->hlc);

  /* Refused the same way again: counted, but listed once. */
  report = test_apply (f->b, batch);
  test_assert_report (report, 0, 3, 0, 2, 0, 0, 0, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (f->b), ==, 2);

  /* Another node decides the same. */
  report = test_apply (f->c, batch);
  test_assert_report (report, 3, 0, 0, 2, 0, 0, 0, 0);
  test_assert_same_digests (f->b, f->c);
}

static void
test_merge_validator_park (Fixture *f, gconstpointer data)
{
  Validation v = { 0 };
  g_autoptr(MhChange) obs = test_set ("observation", "H1/p1/o1", "obs", test_hlc (-500, 0),
                                      "site-x", 2, "[<'H1/p1'>, <int64 90>, <0.97>]");
  g_autoptr(GPtrArray) child = test_batch (mh_change_ref (obs), NULL);
  g_autoptr(GPtrArray) parent = test_batch (
    test_set ("patient", "H1/p1", "triage", test_hlc (-1000, 0), "site-x", 1, "[<'delayed'>]"),
    NULL);
  g_autoptr(GPtrArray) parked = NULL;
  g_autoptr(GPtrArray) care = NULL;
  MhApplyReport report;
  guint notified = 0;

  mh_store_set_validator (f->b, validate, &v, NULL);
  g_signal_connect (f->b, "notify::parked-count", G_CALLBACK (count_notify), &notified);

  report = test_apply (f->b, child);
  test_assert_report (report, 0, 0, 0, 0, 1, 0, 0, 0);
  g_assert_cmpuint (mh_store_get_parked_count (f->b), ==, 1);
  g_assert_cmpuint (notified, ==, 1);
  parked = mh_store_list_parked (f->b, 0);
  g_assert_cmpuint (parked->len, ==, 1);
  g_assert_true (mh_change_equal (((MhQueuedChange *) g_ptr_array_index (parked, 0))->change, obs));
  g_assert_cmpstr (((MhQueuedChange *) g_ptr_array_index (parked, 0))->reason, ==,
                   "waiting for patient H1/p1");
  g_assert_cmpint (mh_store_get_row_state (f->b, "observation", "H1/p1/o1"), ==, MH_ROW_ABSENT);
  care = test_read_lane_all (f->b, LANE_CARE);
  g_assert_cmpuint (care->len, ==, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (f->b), ==, 0);

  /* The parent arrives in a later batch: the child follows by itself. */
  report = test_apply (f->b, parent);
  test_assert_report (report, 1, 0, 0, 0, 0, 0, 1, 0);
  g_assert_cmpuint (mh_store_get_parked_count (f->b), ==, 0);
  g_assert_cmpuint (notified, ==, 2);
  g_assert_cmpint (test_get_int (f->b, "observation", "H1/p1/o1", "hr"), ==, 90);
  g_clear_pointer (&care, g_ptr_array_unref);
  care = test_read_lane_all (f->b, LANE_CARE);
  g_assert_true (mh_change_equal (find_change (care, "observation", "H1/p1/o1", "obs"), obs));
  g_clear_pointer (&parked, g_ptr_array_unref);
  parked = mh_store_list_parked (f->b, 0);
  g_assert_cmpuint (parked->len, ==, 0);

  {
    /* Child before parent in one batch: parked, then applied in the same call. */
    g_autoptr(GPtrArray) both = test_batch (mh_change_ref (obs),
                                            mh_change_ref (g_ptr_array_index (parent, 0)), NULL);

    mh_store_set_validator (f->c, validate, &v, NULL);
    report = test_apply (f->c, both);
    test_assert_report (report, 1, 0, 0, 0, 1, 0, 1, 0);
    g_assert_cmpuint (mh_store_get_parked_count (f->c), ==, 0);
    test_assert_same_digests (f->b, f->c);
  }

  {
    /* A change whose parent never comes stays parked through other batches... */
    g_autoptr(GPtrArray) orphan = test_batch (
      test_set ("observation", "H2/p9/o1", "obs", test_hlc (-400, 0), "site-x", 3,
                "[<'H2/p9'>, <int64 70>, <0.99>]"),
      NULL);
    g_autoptr(GPtrArray) other = test_batch (
      test_set ("patient", "H1/p1", "age", test_hlc (-300, 0), "site-x", 4, "[<int64 33>]"),
      NULL);

    report = test_apply (f->b, orphan);
    test_assert_report (report, 0, 0, 0, 0, 1, 0, 0, 0);
    report = test_apply (f->b, other);
    test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
    g_assert_cmpuint (mh_store_get_parked_count (f->b), ==, 1);

    /* ...and survives a restart. */
    g_clear_object (&f->b);
    f->b = test_open (f->dir, "b.db", f->schema, "site-b");
    mh_store_set_validator (f->b, validate, &v, NULL);
    g_assert_cmpuint (mh_store_get_parked_count (f->b), ==, 1);

    /* A local insert of the parent lets it in too. */
    write_ok (f->b, 'i', "patient", "H2/p9", "{'triage': <'minimal'>}");
    g_assert_cmpuint (mh_store_get_parked_count (f->b), ==, 0);
    g_assert_cmpint (test_get_int (f->b, "observation", "H2/p9/o1", "hr"), ==, 70);
    test_assert_digests_consistent (f->b);
  }

  {
    /* What the validator waits for may change with nothing arriving: the
     * layer above then asks for a retry. */
    g_autoptr(GPtrArray) note = test_batch (
      test_set ("patient", "H1/p1", "note", test_hlc (-200, 0), "site-x", 6, "[<'later'>]"),
      NULL);
    g_autoptr(GError) error = NULL;

    v.park_notes = TRUE;
    report = test_apply (f->b, note);
    test_assert_report (report, 0, 0, 0, 0, 1, 0, 0, 0);
    g_assert_true (mh_store_retry_parked (f->b, &report, &error));
    g_assert_no_error (error);
    test_assert_report (report, 0, 0, 0, 0, 0, 0, 0, 0);
    g_assert_cmpuint (mh_store_get_parked_count (f->b), ==, 1);

    v.park_notes = FALSE;
    g_assert_true (mh_store_retry_parked (f->b, &report, &error));
    g_assert_no_error (error);
    test_assert_report (report, 0, 0, 0, 0, 0, 0, 1, 0);
    g_assert_cmpuint (mh_store_get_parked_count (f->b), ==, 0);
    test_assert_string (f->b, "patient", "H1/p1", "note", "later");
    test_assert_digests_consistent (f->b);
  }
}

static void
test_merge_remote_malformed (Fixture *f, gconstpointer data)
{
  MhHlc h = test_hlc (-1000, 0);
  g_autoptr(GPtrArray) batch = test_batch (
    test_set ("ward", "W1", "beds", h, "site-x", 1, "[<int64 3>]"),
    test_delete ("ward", "W1", h + 1, "site-x", 2),
    test_set ("patient", "H1/p1", "blood", h + 2, "site-x", 3, "[<'O+'>]"),
    test_set ("patient", "H1/p1", "age", h + 3, "site-x", 4, "[<int64 3>, <int64 4>]"),
    test_set ("hospital", "H1", "beds", h + 4, "site-x", 5, "[<int64 3>]"),
    test_set ("patient", "H1/p1", "age", h + 5, "site-x", 6, "[<'forty'>]"),
    test_set ("patient", "H1/p1", "triage", h + 6, "site-x", 7, "[<int64 1>]"),
    test_set ("hospital", "H1", "loc", h + 7, "site-x", 8, "[<'north'>, <2.3>]"),
    test_set ("observation", "H1/p1/o1", "obs", h + 8, "site-x", 9, "[<'H1/p1'>, <0.5>, <0.9>]"),
    test_set ("patient", "H1/p2", "age", h + 9, "site-x", 10, "[<int64 30>]"), NULL);
  g_autoptr(GPtrArray) good = test_batch (mh_change_ref (g_ptr_array_index (batch, 9)), NULL);
  g_autoptr(GPtrArray) rejected = NULL;
  MhApplyReport report;

  report = test_apply (f->a, batch);
  test_assert_report (report, 1, 0, 0, 9, 0, 0, 0, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (f->a), ==, 9);
  rejected = mh_store_list_rejected (f->a, 0);
  g_assert_cmpuint (rejected->len, ==, 9);
  for (guint i = 0; i < rejected->len; i++)
    {
      MhQueuedChange *q = g_ptr_array_index (rejected, i);
      /* Listed as received, with a reason. */
      g_assert_true (mh_change_equal (q->change, g_ptr_array_index (batch, i)));
      g_assert_nonnull (q->reason);
      g_assert_cmpstr (q->reason, !=, "");
    }
  g_assert_cmpint (mh_store_get_row_state (f->a, "patient", "H1/p1"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (f->a, "hospital", "H1"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (f->a, "observation", "H1/p1/o1"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (test_get_int (f->a, "patient", "H1/p2", "age"), ==, 30);

  /* Nothing of them in the digests: the same as a node that got only the good one. */
  test_apply (f->b, good);
  test_assert_same_digests (f->a, f->b);
  test_assert_digests_consistent (f->a);
}

/* ------------------------------------------------------------------------ */

static void
test_merge_relay (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) signed_by_a = NULL;
  g_autoptr(GPtrArray) from_b = NULL;
  g_autoptr(GPtrArray) at_c = NULL;
  MhApplyReport report;

  write_ok (f->a, 'i', "hospital", "H1", "{'name': <'Central'>, 'available': <int64 5>}");
  write_ok (f->a, 'u', "hospital", "H1", "{'available': <int64 4>}");
  write_ok (f->a, 'i', "patient", "H1/p1", "{'triage': <'delayed'>}");
  write_ok (f->a, 'i', "patient", "H1/p2", "{'triage': <'minimal'>}");
  write_ok (f->a, 'd', "patient", "H1/p2", NULL);
  write_ok (f->a, 'i', "observation", "H1/p1/o1", "{'patient': <'H1/p1'>, 'hr': <int64 77>}");

  /* The store does not sign: a's layer above would, over each change. */
  signed_by_a = test_read_all (f->a);
  for (guint i = 0; i < signed_by_a->len; i++)
    {
      MhChange *c = g_ptr_array_index (signed_by_a, i);
      g_autofree char *sig = g_strdup_printf ("ed25519:%s:%" G_GINT64_FORMAT ":\x01\x02", c->origin,
                                              c->origin_seq);
      c->signature = g_bytes_new (sig, strlen (sig) + 1);
    }

  report = test_apply (f->b, signed_by_a);
  test_assert_report (report, signed_by_a->len, 0, 0, 0, 0, 0, 0, 0);
  from_b = test_read_all (f->b);
  g_assert_cmpuint (from_b->len, ==, signed_by_a->len);
  report = test_apply (f->c, from_b);
  test_assert_report (report, signed_by_a->len, 0, 0, 0, 0, 0, 0, 0);

  /* Two hops on, every change is a's own: origin, clock, origin sequence,
   * value and signature bytes as a made them. */
  at_c = test_read_all (f->c);
  g_assert_cmpuint (at_c->len, ==, signed_by_a->len);
  for (guint i = 0; i < signed_by_a->len; i++)
    {
      MhChange *original = g_ptr_array_index (signed_by_a, i);
      MhChange *relayed = find_change (at_c, original->table, original->row, original->reg);

      g_assert_nonnull (relayed);
      g_assert_cmpstr (relayed->origin, ==, "site-a");
      g_assert_cmpint (relayed->hlc, ==, original->hlc);
      g_assert_cmpint (relayed->origin_seq, ==, original->origin_seq);
      g_assert_nonnull (relayed->signature);
      g_assert_true (g_bytes_equal (relayed->signature, original->signature));
      g_assert_true (mh_change_equal (relayed, original));
    }
  test_assert_same_digests (f->a, f->c);

  /* a's own clock and signatures do not matter to the digests: a, which
   * holds no signatures, and c agree. And c relays back to a as nothing new. */
  report = test_sync (f->c, f->a);
  test_assert_report (report, 0, at_c->len, 0, 0, 0, 0, 0, 0);
}

/* ------------------------------------------------------------------------ */
/* History                                                                  */

static void
assert_history (MhHistoryEntry *e, const char *reg, const char *value, MhHlc hlc,
                const char *origin, MhHlc replaced_by)
{
  g_autoptr(GVariant) expected = g_variant_new_parsed (value);

  g_assert_cmpstr (e->reg, ==, reg);
  if (!g_variant_equal (e->value, expected))
    {
      g_autofree char *got = g_variant_print (e->value, TRUE);
      g_error ("history value %s, expected %s", got, value);
    }
  g_assert_cmpint (e->hlc, ==, hlc);
  g_assert_cmpstr (e->origin, ==, origin);
  g_assert_cmpint (e->replaced_by, ==, replaced_by);
  g_assert_cmpint (e->replaced_at_ms, >, 0);
}

static void
test_merge_history (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) mine = NULL;
  g_autoptr(GPtrArray) history = NULL;
  MhHlc local_hlc, newer = test_hlc (1000, 0), older = test_hlc (-60000, 0);
  g_autoptr(GPtrArray) newer_batch = NULL;
  g_autoptr(GPtrArray) older_batch = NULL;
  MhApplyReport report;

  write_ok (f->a, 'i', "hospital", "H1",
            "{'status': <'normal'>, 'reason': <'ok'>, 'available': <int64 5>}");
  mine = test_read_all (f->a);
  local_hlc = find_change (mine, "hospital", "H1", "status")->hlc;
  g_assert_cmpint (older, <, local_hlc);

  /* The local value loses to a newer remote one: kept in history. Beds,
   * not a history register, keep nothing. */
  newer_batch = test_batch (
    test_set ("hospital", "H1", "status", newer, "site-x", 1, "[<'closed'>, <'fire'>]"),
    test_set ("hospital", "H1", "beds", newer, "site-x", 2, "[<int64 0>, <int64 10>]"), NULL);
  report = test_apply (f->a, newer_batch);
  test_assert_report (report, 2, 0, 0, 0, 0, 0, 0, 0);
  history = mh_store_list_history (f->a, "hospital", "H1");
  g_assert_cmpuint (history->len, ==, 1);
  assert_history (g_ptr_array_index (history, 0), "status", "[<'normal'>, <'ok'>]", local_hlc,
                  "site-a", newer);

  /* A remote value that arrives already older: kept too, with its own
   * clock and origin; again nothing for beds. */
  older_batch = test_batch (
    test_set ("hospital", "H1", "status", older, "site-y", 1, "[<'advisory'>, <'busy'>]"),
    test_set ("hospital", "H1", "beds", older, "site-y", 2, "[<int64 7>, <int64 10>]"), NULL);
  report = test_apply (f->a, older_batch);
  test_assert_report (report, 0, 2, 0, 0, 0, 0, 0, 0);
  g_clear_pointer (&history, g_ptr_array_unref);
  history = mh_store_list_history (f->a, "hospital", "H1");
  g_assert_cmpuint (history->len, ==, 2);
  /* Oldest clock first. */
  assert_history (g_ptr_array_index (history, 0), "status", "[<'advisory'>, <'busy'>]", older,
                  "site-y", newer);
  assert_history (g_ptr_array_index (history, 1), "status", "[<'normal'>, <'ok'>]", local_hlc,
                  "site-a", newer);

  /* The same losing change again is not kept twice. */
  test_apply (f->a, older_batch);
  g_clear_pointer (&history, g_ptr_array_unref);
  history = mh_store_list_history (f->a, "hospital", "H1");
  g_assert_cmpuint (history->len, ==, 2);
  test_assert_string (f->a, "hospital", "H1", "status", "closed");
  g_assert_cmpint (test_get_int (f->a, "hospital", "H1", "available"), ==, 0);

  /* A local write replacing a remote value keeps the remote one. */
  write_ok (f->a, 'u', "hospital", "H1", "{'status': <'normal'>}");
  g_clear_pointer (&history, g_ptr_array_unref);
  history = mh_store_list_history (f->a, "hospital", "H1");
  g_assert_cmpuint (history->len, ==, 3);
  assert_history (g_ptr_array_index (history, 2), "status", "[<'closed'>, <'fire'>]", newer,
                  "site-x", mh_store_get_clock (f->a));

  /* A deletion keeps the last value of each history register. */
  write_ok (f->a, 'i', "patient", "H1/p1", "{'triage': <'immediate'>, 'age': <int64 60>}");
  write_ok (f->a, 'd', "patient", "H1/p1", NULL);
  g_clear_pointer (&history, g_ptr_array_unref);
  history = mh_store_list_history (f->a, "patient", "H1/p1");
  g_assert_cmpuint (history->len, ==, 1);
  g_assert_cmpstr (((MhHistoryEntry *) g_ptr_array_index (history, 0))->reg, ==, "triage");

  /* History is local: it is not part of what replicates or of the digests. */
  test_sync (f->a, f->b);
  g_clear_pointer (&history, g_ptr_array_unref);
  history = mh_store_list_history (f->b, "hospital", "H1");
  g_assert_cmpuint (history->len, ==, 0);
  test_assert_same_digests (f->a, f->b);
  g_clear_pointer (&history, g_ptr_array_unref);
  history = mh_store_list_history (f->a, "hospital", "nothing");
  g_assert_cmpuint (history->len, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/merge/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("lww/register", test_merge_lww_register);
  ADD ("lww/tie", test_merge_lww_tie);
  ADD ("idempotent", test_merge_idempotent);
  ADD ("commutative", test_merge_commutative);
  ADD ("delete/wins", test_merge_delete_wins);
  ADD ("delete/twice", test_merge_delete_twice);
  ADD ("insert-only/duplicate", test_merge_insert_only_duplicate);
  ADD ("insert-only/conflict", test_merge_insert_only_conflict);
  ADD ("validator/reject", test_merge_validator_reject);
  ADD ("validator/park", test_merge_validator_park);
  ADD ("remote-malformed", test_merge_remote_malformed);
  ADD ("relay", test_merge_relay);
  ADD ("history", test_merge_history);
#undef ADD
  return g_test_run ();
}

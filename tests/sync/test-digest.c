/* Unit tests of the per-bucket digests: order-independent, kept up to
 * date incrementally (checked against a full recomputation), persisted,
 * filed by row prefix, and sensitive to every register value. */
#include "config.h"

#include "sync-test-common.h"

typedef struct
{
  char *dir;
  MhSchema *schema;
  MhStore *a;
  MhStore *b;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = mh_test_make_tmpdir ("mh-digest");
  f->schema = test_schema_new (1);
  f->a = test_open (f->dir, "a.db", f->schema, "site-a");
  f->b = test_open (f->dir, "b.db", f->schema, "site-b");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->a);
  g_clear_object (&f->b);
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
    case 's': ok = mh_store_upsert (store, table, row, g_variant_new_parsed (values), &error); break;
    case 'd': ok = mh_store_delete (store, table, row, &error); break;
    default: g_assert_not_reached ();
    }
  g_assert_no_error (error);
  g_assert_true (ok);
}

static MhDigest
digest_of (MhStore *store, const char *bucket)
{
  MhDigest digest;

  memset (&digest, 0xff, sizeof digest);
  mh_store_get_digest (store, bucket, &digest);
  return digest;
}

static gboolean
digest_equal (const MhDigest *x, const MhDigest *y)
{
  return x->count == y->count && x->h1 == y->h1 && x->h2 == y->h2;
}

/* ------------------------------------------------------------------------ */

static void
test_digest_exchange_orders (Fixture *f, gconstpointer data)
{
  g_autoptr(MhStore) c = test_open (f->dir, "c.db", f->schema, "site-c");
  g_autoptr(MhStore) d = test_open (f->dir, "d.db", f->schema, "site-d");
  g_autoptr(GPtrArray) from_a = NULL;
  g_autoptr(GPtrArray) from_b = NULL;

  /* Two sites write, some of it to the same registers and rows. */
  write_ok (f->a, 'i', "hospital", "H1", "{'name': <'Central'>, 'available': <int64 4>}");
  write_ok (f->a, 'i', "patient", "H1/p1", "{'triage': <'delayed'>, 'age': <int64 70>}");
  write_ok (f->a, 'i', "observation", "H1/p1/o1", "{'patient': <'H1/p1'>, 'hr': <int64 90>}");
  write_ok (f->a, 'i', "patient", "H1/p2", "{'age': <int64 30>}");
  write_ok (f->b, 'i', "hospital", "H2", "{'name': <'North'>}");
  write_ok (f->b, 's', "hospital", "H1", "{'status': <'closed'>, 'available': <int64 0>}");
  write_ok (f->b, 's', "patient", "H1/p1", "{'triage': <'immediate'>}");
  write_ok (f->b, 'i', "patient", "H1/p2", "{'note': <'b'>}");
  write_ok (f->b, 'd', "patient", "H1/p2", NULL);
  from_a = test_read_all (f->a);
  from_b = test_read_all (f->b);

  {
    g_autoptr(GHashTable) da = mh_store_list_digests (f->a);
    g_autoptr(GHashTable) db = mh_store_list_digests (f->b);
    g_assert_false (test_digests_equal (da, db));
  }

  /* c hears a then b, d hears b then a, reversed within each batch too. */
  test_apply (c, from_a);
  test_apply (c, from_b);
  {
    g_autoptr(GPtrArray) rb = test_batch_reversed (from_b);
    g_autoptr(GPtrArray) ra = test_batch_reversed (from_a);
    test_apply (d, rb);
    test_apply (d, ra);
  }
  test_assert_same_digests (c, d);

  /* And a and b, after exchanging, agree with them. */
  test_apply (f->a, from_b);
  test_apply (f->b, from_a);
  test_assert_same_digests (f->a, f->b);
  test_assert_same_digests (f->a, c);
  test_assert_digests_consistent (f->a);
  test_assert_digests_consistent (f->b);
  test_assert_digests_consistent (c);
  test_assert_digests_consistent (d);
}

/* ------------------------------------------------------------------------ */
/* A long random mix of everything that moves a digest                      */

static const char *const patient_regs[] = { "triage", "age", "note" };

static GVariant *
random_patient_values (GRand *rand, const char *reg)
{
  if (g_str_equal (reg, "triage"))
    return g_variant_new_parsed ("{'triage': <%s>}",
                                 g_rand_boolean (rand) ? "delayed" : "immediate");
  if (g_str_equal (reg, "age"))
    return g_variant_new_parsed ("{'age': <%x>}", (gint64) g_rand_int_range (rand, 0, 100));
  if (g_rand_int_range (rand, 0, 4) == 0)
    return g_variant_new_parsed ("{'note': <@mv nothing>}");
  return g_variant_new_parsed ("{'note': <%s>}", g_rand_boolean (rand) ? "a" : "b");
}

static char *
random_remote_values (GRand *rand, const char *reg)
{
  if (g_str_equal (reg, "triage"))
    return g_strdup_printf ("[<'%s'>]", g_rand_boolean (rand) ? "minimal" : "delayed");
  if (g_str_equal (reg, "age"))
    return g_strdup_printf ("[<int64 %d>]", g_rand_int_range (rand, 0, 100));
  return g_strdup_printf ("[<'remote %d'>]", g_rand_int_range (rand, 0, 3));
}

static gboolean
rolled_back_writes (MhStore *store, gpointer user_data, GError **error)
{
  GRand *rand = user_data;

  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *row = g_strdup_printf ("H%d/r%d", g_rand_int_range (rand, 0, 3),
                                              g_rand_int_range (rand, 0, 1000));
      if (!mh_store_upsert (store, "patient", row, g_variant_new_parsed ("{'age': <int64 1>}"),
                            error))
        return FALSE;
    }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "rolled back on purpose");
  return FALSE;
}

static void
test_digest_incremental (Fixture *f, gconstpointer data)
{
  guint32 seed = mh_test_seed_from_env (g_random_int ());
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr(GPtrArray) sent = test_batch_new ();
  guint n_steps = test_under_valgrind () ? 400 : 1500;
  gint64 base = g_get_real_time () / 1000 - 200000;
  const char *origins[] = { "site-x", "site-y", "site-z" };

  g_test_message ("seed %u (MEDHEAD_SEED=%u replays it)", seed, seed);
  for (guint step = 1; step <= n_steps; step++)
    {
      guint op = g_rand_int_range (rand, 0, 100);
      g_autofree char *row = g_strdup_printf ("H%d/p%d", g_rand_int_range (rand, 0, 4),
                                              g_rand_int_range (rand, 0, 12));
      const char *reg = patient_regs[g_rand_int_range (rand, 0, 3)];
      MhRowState state = mh_store_get_row_state (f->a, "patient", row);
      /* Remote clocks spread over the last minutes, some older, some newer
       * than the local writes; the counter keeps each one unique. */
      MhHlc hlc = MH_HLC_PACK (base + g_rand_int_range (rand, 0, 400000), step & 0xffff);
      const char *origin = origins[g_rand_int_range (rand, 0, 3)];
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) batch = NULL;

      if (op < 25)
        {
          /* A local write, when the row may still be written. */
          if (state != MH_ROW_DELETED)
            {
              g_assert_true (mh_store_upsert (f->a, "patient", row,
                                              random_patient_values (rand, reg), &error));
              g_assert_no_error (error);
            }
        }
      else if (op < 30)
        {
          if (state == MH_ROW_LIVE)
            {
              g_assert_true (mh_store_delete (f->a, "patient", row, &error));
              g_assert_no_error (error);
            }
        }
      else if (op < 60)
        {
          g_autofree char *values = random_remote_values (rand, reg);
          batch = test_batch (test_set ("patient", row, reg, hlc, origin, step, values), NULL);
        }
      else if (op < 65)
        batch = test_batch (test_delete ("patient", row, hlc, origin, step), NULL);
      else if (op < 75)
        {
          /* Insert-only rows, some keys twice with other content. */
          g_autofree char *obs = g_strdup_printf ("%s/o%d", row, g_rand_int_range (rand, 0, 3));
          g_autofree char *values = g_strdup_printf ("[<'%s'>, <int64 %d>, <0.9%d>]", row,
                                                     g_rand_int_range (rand, 60, 62),
                                                     g_rand_int_range (rand, 0, 2));
          if (g_rand_boolean (rand))
            batch = test_batch (test_set ("observation", obs, "obs", hlc, origin, step, values),
                                NULL);
          else if (mh_store_get_row_state (f->a, "observation", obs) == MH_ROW_ABSENT)
            {
              g_assert_true (mh_store_insert (
                f->a, "observation", obs,
                g_variant_new_parsed ("{'patient': <%s>, 'hr': <%x>}", row,
                                      (gint64) g_rand_int_range (rand, 60, 62)),
                &error));
              g_assert_no_error (error);
            }
        }
      else if (op < 80)
        {
          /* Hospitals: the other bucket, with multi-column registers. */
          g_autofree char *h = g_strdup_printf ("H%d", g_rand_int_range (rand, 0, 4));
          if (g_rand_boolean (rand))
            {
              g_assert_true (mh_store_upsert (
                f->a, "hospital", h,
                g_variant_new_parsed ("{'available': <%x>, 'lat': <%d>}",
                                      (gint64) g_rand_int_range (rand, 0, 9),
                                      g_rand_double (rand)),
                &error));
              g_assert_no_error (error);
            }
          else
            batch = test_batch (test_set ("hospital", h, "status", hlc, origin, step,
                                          g_rand_boolean (rand) ? "[<'normal'>, <@mv nothing>]"
                                                                : "[<'closed'>, <'fire'>]"),
                                NULL);
        }
      else if (op < 85)
        {
          g_assert_false (mh_store_transact (f->a, rolled_back_writes, rand, &error));
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        }
      else if (op < 90 && sent->len > 0)
        {
          /* A duplicate of something already delivered. */
          batch = test_batch (mh_change_ref (g_ptr_array_index (
                                sent, g_rand_int_range (rand, 0, sent->len))),
                              NULL);
        }
      else if (op < 95)
        {
          /* Far ahead: held, then released by moving the reference. */
          g_autofree char *values = random_remote_values (rand, reg);
          batch = test_batch (test_set ("patient", row, reg, test_hlc (10 * MINUTE_MS, step & 0xffff),
                                        origin, step, values),
                              NULL);
        }
      else
        {
          MhApplyReport report;

          mh_store_set_reference_offset (f->a, 6 * MINUTE_MS);
          g_assert_true (mh_store_release_held (f->a, &report, &error));
          g_assert_no_error (error);
          mh_store_set_reference_offset (f->a, 0);
        }

      if (batch != NULL)
        {
          test_apply (f->a, batch);
          if (batch->len == 1 && !g_ptr_array_find (sent, g_ptr_array_index (batch, 0), NULL))
            g_ptr_array_add (sent, mh_change_ref (g_ptr_array_index (batch, 0)));
        }
      if (step % 100 == 0)
        test_assert_digests_consistent (f->a);
    }
  test_assert_digests_consistent (f->a);

  /* What a holds, relayed whole to b, gives b the same digests. a's clock
   * went ahead with the held changes it released (their time had come,
   * as far as a's reference said): b judges by the same reference. */
  mh_store_set_reference_offset (f->b, 6 * MINUTE_MS);
  {
    MhApplyReport report = test_sync (f->a, f->b);
    g_assert_cmpuint (report.held, ==, 0);
    g_assert_cmpuint (report.rejected, ==, 0);
  }
  test_assert_same_digests (f->a, f->b);
  test_assert_digests_consistent (f->b);
}

/* ------------------------------------------------------------------------ */

static void
test_digest_persist (Fixture *f, gconstpointer data)
{
  g_autoptr(GHashTable) before = NULL;
  g_autoptr(GHashTable) after = NULL;
  g_autoptr(GPtrArray) batch = test_batch (
    test_set ("patient", "H2/p1", "age", test_hlc (-100, 0), "site-x", 1, "[<int64 5>]"),
    test_delete ("patient", "H2/p2", test_hlc (-90, 0), "site-x", 2), NULL);

  write_ok (f->a, 'i', "hospital", "H1", "{'name': <'Central'>}");
  write_ok (f->a, 'i', "patient", "H1/p1", "{'age': <int64 70>}");
  write_ok (f->a, 'u', "patient", "H1/p1", "{'age': <int64 71>}");
  write_ok (f->a, 'i', "patient", "H1/p3", "{'age': <int64 7>}");
  write_ok (f->a, 'd', "patient", "H1/p3", NULL);
  test_apply (f->a, batch);
  before = mh_store_list_digests (f->a);
  g_assert_cmpuint (g_hash_table_size (before), ==, 3);

  g_clear_object (&f->a);
  f->a = test_open (f->dir, "a.db", f->schema, "site-a");
  after = mh_store_list_digests (f->a);
  g_assert_true (test_digests_equal (before, after));
  test_assert_digests_consistent (f->a);

  /* And they go on from there, not from zero. */
  write_ok (f->a, 'u', "hospital", "H1", "{'name': <'CHU'>}");
  test_assert_digests_consistent (f->a);
}

static void
test_digest_buckets (Fixture *f, gconstpointer data)
{
  g_autoptr(GHashTable) digests = NULL;
  MhDigest h1_before, h2_before, hosp_before, d;
  g_autoptr(GPtrArray) early_delete = test_batch (
    test_delete ("patient", "H3/p9", test_hlc (-100, 0), "site-x", 1), NULL);

  write_ok (f->a, 'i', "hospital", "H1", "{'name': <'Central'>}");
  write_ok (f->a, 'i', "patient", "H1/p1", "{'age': <int64 70>}");
  write_ok (f->a, 'i', "observation", "H1/p1/o1", "{'patient': <'H1/p1'>, 'hr': <int64 90>}");
  write_ok (f->a, 'i', "patient", "H2/p1", "{'age': <int64 70>}");

  /* Each hospital's patients have their own bucket; observations file
   * with their patient's hospital; the public tables apart. */
  digests = mh_store_list_digests (f->a);
  g_assert_cmpuint (g_hash_table_size (digests), ==, 3);
  g_assert_true (g_hash_table_contains (digests, "hospital"));
  g_assert_true (g_hash_table_contains (digests, "patients:H1"));
  g_assert_true (g_hash_table_contains (digests, "patients:H2"));
  h1_before = digest_of (f->a, "patients:H1");
  h2_before = digest_of (f->a, "patients:H2");
  hosp_before = digest_of (f->a, "hospital");
  g_assert_cmpuint (h1_before.count, ==, 3 + 1);
  g_assert_cmpuint (h2_before.count, ==, 3);
  g_assert_cmpuint (hosp_before.count, ==, 4);
  {
    g_autofree char *s = mh_digest_to_string (&h2_before);
    g_assert_cmpstr (s, ==, g_hash_table_lookup (digests, "patients:H2"));
    g_assert_true (g_str_has_prefix (s, "3:"));
    g_assert_cmpuint (strlen (s), ==, 2 + 32);
  }

  /* A change to one hospital's patient leaves the other bucket alone. */
  write_ok (f->a, 'u', "patient", "H1/p1", "{'age': <int64 71>}");
  d = digest_of (f->a, "patients:H1");
  g_assert_false (digest_equal (&d, &h1_before));
  g_assert_cmpuint (d.count, ==, h1_before.count);
  d = digest_of (f->a, "patients:H2");
  g_assert_true (digest_equal (&d, &h2_before));
  d = digest_of (f->a, "hospital");
  g_assert_true (digest_equal (&d, &hosp_before));

  /* A deletion files its tombstone in the row's bucket. */
  write_ok (f->a, 'd', "patient", "H2/p1", NULL);
  d = digest_of (f->a, "patients:H2");
  g_assert_cmpuint (d.count, ==, 1);
  g_assert_false (digest_equal (&d, &h2_before));

  /* Even when it arrives before any of the row: same bucket, by id alone. */
  test_apply (f->a, early_delete);
  test_apply (f->b, early_delete);
  d = digest_of (f->a, "patients:H3");
  g_assert_cmpuint (d.count, ==, 1);
  {
    MhDigest db = digest_of (f->b, "patients:H3");
    g_assert_true (digest_equal (&d, &db));
  }

  /* An empty or unknown bucket reads as zero. */
  g_assert_false (mh_store_get_digest (f->a, "patients:H9", &d));
  g_assert_cmpuint (d.count, ==, 0);
  g_assert_cmpuint (d.h1, ==, 0);
  g_assert_cmpuint (d.h2, ==, 0);
  test_assert_digests_consistent (f->a);
}

/* A slice of a bucket, hashed on demand, sums to the bucket when it holds
 * all of it, tombstones included; absent rows add nothing. */
static void
test_digest_rows (Fixture *f, gconstpointer data)
{
  const char *const patients[] = { "H1/p1", "H1/p2", "H1/gone", "H1/never", NULL };
  const char *const one[] = { "H1/p1", NULL };
  const char *const observations[] = { "H1/p1/o1", NULL };
  g_autoptr(GError) error = NULL;
  MhDigest sum = { 0 }, part = { 0 }, bucket;

  write_ok (f->a, 'i', "patient", "H1/p1", "{'age': <int64 70>}");
  write_ok (f->a, 'i', "patient", "H1/p2", "{'age': <int64 50>}");
  write_ok (f->a, 'i', "patient", "H1/gone", "{'age': <int64 30>}");
  write_ok (f->a, 'd', "patient", "H1/gone", NULL);
  write_ok (f->a, 'i', "observation", "H1/p1/o1", "{'patient': <'H1/p1'>, 'hr': <int64 90>}");

  g_assert_true (mh_store_digest_rows (f->a, "patient", patients, &sum, &error));
  g_assert_no_error (error);
  g_assert_true (mh_store_digest_rows (f->a, "observation", observations, &sum, &error));
  bucket = digest_of (f->a, "patients:H1");
  g_assert_true (digest_equal (&sum, &bucket));

  g_assert_true (mh_store_digest_rows (f->a, "patient", one, &part, &error));
  g_assert_cmpuint (part.count, >, 0);
  g_assert_cmpuint (part.count, <, sum.count);

  g_assert_false (mh_store_digest_rows (f->a, "nope", one, &part, &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_UNKNOWN_TABLE);
}

static void
test_digest_value_sensitive (Fixture *f, gconstpointer data)
{
  MhHlc h = test_hlc (-1000, 0);
  struct
  {
    const char *reg;
    MhHlc hlc;
    const char *origin;
    const char *values;
  } variants[] = {
    { "status", h, "site-x", "[<'closed'>, <'flooding'>]" },
    { "status", h, "site-x", "[<'closed'>, <'Flooding'>]" },
    { "status", h, "site-x", "[<'closed'>, <''>]" },
    { "status", h, "site-x", "[<'closed'>, <@mv nothing>]" },
    { "status", h, "site-x", "[<'closedflooding'>, <''>]" },
    { "status", h + 1, "site-x", "[<'closed'>, <'flooding'>]" },
    { "status", h, "site-w", "[<'closed'>, <'flooding'>]" },
    { "beds", h, "site-x", "[<int64 1>, <int64 10>]" },
    { "beds", h, "site-x", "[<int64 10>, <int64 1>]" },
    { "beds", h, "site-x", "[<int64 -1>, <int64 10>]" },
    { "loc", h, "site-x", "[<48.5>, <2.25>]" },
    { "loc", h, "site-x", "[<48.5>, <2.2500000000000004>]" },
    { "loc", h, "site-x", "[<0.0>, <2.25>]" },
  };
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  /* The same register row in each variant on its own fresh replica: every
   * difference in value, clock or origin gives another digest. */
  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_autofree char *name = g_strdup_printf ("v%u.db", i);
      g_autoptr(MhStore) s = test_open (f->dir, name, f->schema, "site-v");
      g_autoptr(GPtrArray) batch = test_batch (
        test_set ("hospital", "H1", variants[i].reg, variants[i].hlc, variants[i].origin, 1,
                  variants[i].values),
        NULL);
      MhApplyReport report = test_apply (s, batch);
      MhDigest d = digest_of (s, "hospital");
      g_autofree char *text = mh_digest_to_string (&d);

      g_assert_cmpuint (report.applied, ==, 1);
      g_assert_cmpuint (d.count, ==, 1);
      if (!g_hash_table_add (seen, g_strdup (text + 2)))
        g_error ("variant %u has the digest of an earlier one: %s", i, text);
      test_assert_digests_consistent (s);
    }

  {
    /* Two replicas that differ in one value differ in that bucket only,
     * and agree again once the difference is settled. */
    g_autoptr(GPtrArray) common = test_batch (
      test_set ("hospital", "H1", "name", h, "site-x", 1, "[<'Central'>]"),
      test_set ("patient", "H1/p1", "age", h, "site-x", 2, "[<int64 40>]"), NULL);
    g_autoptr(GPtrArray) only_a = test_batch (
      test_set ("hospital", "H1", "beds", h + 5, "site-x", 3, "[<int64 4>, <int64 10>]"), NULL);
    g_autoptr(GPtrArray) only_b = test_batch (
      test_set ("hospital", "H1", "beds", h + 5, "site-x", 3, "[<int64 5>, <int64 10>]"), NULL);
    g_autoptr(GPtrArray) settle = test_batch (
      test_set ("hospital", "H1", "beds", h + 9, "site-y", 1, "[<int64 6>, <int64 10>]"), NULL);
    MhDigest da, db;

    test_apply (f->a, common);
    test_apply (f->b, common);
    test_assert_same_digests (f->a, f->b);
    test_apply (f->a, only_a);
    test_apply (f->b, only_b);
    da = digest_of (f->a, "hospital");
    db = digest_of (f->b, "hospital");
    g_assert_cmpuint (da.count, ==, db.count);
    g_assert_false (digest_equal (&da, &db));
    da = digest_of (f->a, "patients:H1");
    db = digest_of (f->b, "patients:H1");
    g_assert_true (digest_equal (&da, &db));

    test_apply (f->a, settle);
    test_apply (f->b, settle);
    test_assert_same_digests (f->a, f->b);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/digest/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("exchange-orders", test_digest_exchange_orders);
  ADD ("incremental", test_digest_incremental);
  ADD ("persist", test_digest_persist);
  ADD ("buckets", test_digest_buckets);
  ADD ("rows", test_digest_rows);
  ADD ("value-sensitive", test_digest_value_sensitive);
#undef ADD
  return g_test_run ();
}

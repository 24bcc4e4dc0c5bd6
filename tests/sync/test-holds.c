/* Unit tests of held changes: a remote change stamped too far ahead of
 * this node's reference time waits, neither applied, relayed nor moving
 * the clock, until it falls within the bound. */
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
  f->dir = mh_test_make_tmpdir ("mh-holds");
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
count_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static guint
held_count_property (MhStore *store)
{
  guint n = G_MAXUINT;

  g_object_get (store, "held-count", &n, NULL);
  return n;
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

/* The clock of the next local write. */
static MhHlc
next_local_hlc (MhStore *store, const char *row)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_upsert (store, "hospital", row,
                                  g_variant_new_parsed ("{'name': <'local'>}"), &error));
  g_assert_no_error (error);
  return mh_store_get_clock (store);
}

static void
test_holds_held (Fixture *f, gconstpointer data)
{
  MhHlc ahead = test_hlc (6 * MINUTE_MS, 0);
  g_autoptr(MhChange) future = test_set ("hospital", "H1", "name", ahead, "site-x", 1,
                                         "[<'Future'>]");
  g_autoptr(MhChange) future_delete = test_delete ("patient", "H1/p1", ahead + 1, "site-x", 2);
  g_autoptr(GPtrArray) setup = test_batch (
    test_set ("patient", "H1/p1", "age", test_hlc (-1000, 0), "site-x", 3, "[<int64 50>]"), NULL);
  g_autoptr(GPtrArray) batch = NULL;
  g_autoptr(GPtrArray) held = NULL;
  g_autoptr(GPtrArray) registry = NULL;
  MhApplyReport report;
  MhHlc clock_before;
  guint notified = 0;

  future->signature = g_bytes_new_static ("sig", 3);
  g_assert_cmpint (mh_store_get_hold_bound (f->a), ==, MH_STORE_DEFAULT_HOLD_BOUND_MS);
  g_assert_cmpint (MH_STORE_DEFAULT_HOLD_BOUND_MS, ==, 5 * MINUTE_MS);
  test_apply (f->a, setup);

  batch = test_batch (mh_change_ref (future), mh_change_ref (future_delete),
                      test_set ("hospital", "H2", "name", test_hlc (0, 0), "site-x", 4,
                                "[<'Now'>]"),
                      NULL);
  clock_before = mh_store_get_clock (f->a);
  g_signal_connect (f->a, "notify::held-count", G_CALLBACK (count_notify), &notified);

  report = test_apply (f->a, batch);
  test_assert_report (report, 1, 0, 0, 0, 0, 2, 0, 0);
  g_assert_cmpuint (mh_store_get_held_count (f->a), ==, 2);
  g_assert_cmpuint (held_count_property (f->a), ==, 2);
  g_assert_cmpuint (notified, ==, 1);

  held = mh_store_list_held (f->a, 0);
  g_assert_cmpuint (held->len, ==, 2);
  g_assert_true (mh_change_equal (((MhQueuedChange *) g_ptr_array_index (held, 0))->change,
                                  future));
  g_assert_true (mh_change_equal (((MhQueuedChange *) g_ptr_array_index (held, 1))->change,
                                  future_delete));
  g_assert_nonnull (((MhQueuedChange *) g_ptr_array_index (held, 0))->reason);
  g_assert_cmpint (((MhQueuedChange *) g_ptr_array_index (held, 0))->at_ms, >, 0);

  /* Not applied: no row, no deletion, nothing to relay, nothing refused. */
  g_assert_cmpint (mh_store_get_row_state (f->a, "hospital", "H1"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (f->a, "patient", "H1/p1"), ==, MH_ROW_LIVE);
  registry = test_read_lane_all (f->a, LANE_REGISTRY);
  g_assert_null (find_change (registry, "hospital", "H1", "name"));
  g_assert_cmpuint (mh_store_get_rejected_count (f->a), ==, 0);

  /* The clock did not follow it: local writes still stamp the real time. */
  g_assert_cmpint (mh_store_get_clock (f->a), <, ahead);
  g_assert_cmpint (mh_store_get_clock (f->a), >=, clock_before);
  g_assert_cmpint (next_local_hlc (f->a, "H3"), <, ahead);
  g_assert_cmpint (MH_HLC_PHYSICAL (mh_store_get_clock (f->a)), <,
                   g_get_real_time () / 1000 + MINUTE_MS);

  /* Held again when sent again, and listed once. */
  report = test_apply (f->a, batch);
  g_assert_cmpuint (report.held, ==, 2);
  g_assert_cmpuint (mh_store_get_held_count (f->a), ==, 2);

  /* Nothing to release yet. */
  g_assert_true (mh_store_release_held (f->a, &report, NULL));
  test_assert_report (report, 0, 0, 0, 0, 0, 0, 0, 0);
  g_assert_cmpuint (mh_store_get_held_count (f->a), ==, 2);
}

static void
test_holds_within_bound (Fixture *f, gconstpointer data)
{
  MhHlc ahead = test_hlc (4 * MINUTE_MS, 0);
  g_autoptr(GPtrArray) batch = test_batch (
    test_set ("hospital", "H1", "name", ahead, "site-x", 1, "[<'Soon'>]"), NULL);
  MhApplyReport report;

  report = test_apply (f->a, batch);
  test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
  g_assert_cmpuint (mh_store_get_held_count (f->a), ==, 0);
  test_assert_string (f->a, "hospital", "H1", "name", "Soon");
  /* Received, so the clock moves past it: the next local write wins. */
  g_assert_cmpint (mh_store_get_clock (f->a), >=, ahead);
  g_assert_cmpint (next_local_hlc (f->a, "H1"), >, ahead);
  test_assert_string (f->a, "hospital", "H1", "name", "local");
}

static void
test_holds_bound (Fixture *f, gconstpointer data)
{
  MhHlc ahead = test_hlc (2 * MINUTE_MS, 0);
  g_autoptr(GPtrArray) batch = test_batch (
    test_set ("hospital", "H1", "name", ahead, "site-x", 1, "[<'Soon'>]"), NULL);
  g_autoptr(GError) error = NULL;
  MhApplyReport report;
  guint notified = 0;

  mh_store_set_hold_bound (f->a, MINUTE_MS);
  g_assert_cmpint (mh_store_get_hold_bound (f->a), ==, MINUTE_MS);
  report = test_apply (f->a, batch);
  test_assert_report (report, 0, 0, 0, 0, 0, 1, 0, 0);
  g_assert_cmpint (mh_store_get_row_state (f->a, "hospital", "H1"), ==, MH_ROW_ABSENT);

  /* A wider bound lets it in on the next release. */
  g_signal_connect (f->a, "notify::held-count", G_CALLBACK (count_notify), &notified);
  mh_store_set_hold_bound (f->a, 10 * MINUTE_MS);
  g_assert_true (mh_store_release_held (f->a, &report, &error));
  g_assert_no_error (error);
  test_assert_report (report, 0, 0, 0, 0, 0, 0, 0, 1);
  g_assert_cmpuint (mh_store_get_held_count (f->a), ==, 0);
  g_assert_cmpuint (held_count_property (f->a), ==, 0);
  /* The status display hears of it. */
  g_assert_cmpuint (notified, ==, 1);
  test_assert_string (f->a, "hospital", "H1", "name", "Soon");
  g_assert_cmpint (mh_store_get_clock (f->a), >=, ahead);
  test_assert_digests_consistent (f->a);
}

static void
test_holds_reference_offset (Fixture *f, gconstpointer data)
{
  /* a's own clock is 10 minutes slow; its peers' are right. */
  MhHlc peer_now = test_hlc (0, 0);
  g_autoptr(MhChange) change = test_set ("hospital", "H1", "name", peer_now, "site-x", 1,
                                         "[<'Central'>]");
  g_autoptr(GPtrArray) batch = test_batch (mh_change_ref (change), NULL);
  g_autoptr(GPtrArray) later = NULL;
  g_autoptr(GError) error = NULL;
  MhApplyReport report;
  gint64 reference;
  guint notified = 0;

  mh_store_set_clock_offset (f->a, -10 * MINUTE_MS);
  g_assert_cmpint (mh_store_get_clock_offset (f->a), ==, -10 * MINUTE_MS);
  report = test_apply (f->a, batch);
  test_assert_report (report, 0, 0, 0, 0, 0, 1, 0, 0);
  g_assert_cmpint (mh_store_get_clock (f->a), <, peer_now);

  /* Judged against the peers' time, it is not ahead at all. */
  g_signal_connect (f->a, "notify::held-count", G_CALLBACK (count_notify), &notified);
  mh_store_set_reference_offset (f->a, 10 * MINUTE_MS);
  reference = mh_store_get_reference_ms (f->a);
  g_assert_cmpint (ABS (reference - g_get_real_time () / 1000), <, 5000);
  g_assert_true (mh_store_release_held (f->a, &report, &error));
  g_assert_no_error (error);
  test_assert_report (report, 0, 0, 0, 0, 0, 0, 0, 1);
  g_assert_cmpuint (mh_store_get_held_count (f->a), ==, 0);
  g_assert_cmpuint (notified, ==, 1);
  test_assert_string (f->a, "hospital", "H1", "name", "Central");
  g_assert_cmpint (mh_store_get_clock (f->a), >=, peer_now);

  /* And new changes from the peers go straight in. */
  later = test_batch (test_set ("hospital", "H1", "name", test_hlc (1000, 0), "site-x", 2,
                                "[<'CHU'>]"),
                      NULL);
  report = test_apply (f->a, later);
  test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 0);
  test_assert_string (f->a, "hospital", "H1", "name", "CHU");
}

static void
test_holds_release_on_apply (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) future = test_batch (
    test_set ("hospital", "H1", "name", test_hlc (6 * MINUTE_MS, 0), "site-x", 1, "[<'F'>]"),
    test_set ("hospital", "H2", "name", test_hlc (60 * MINUTE_MS, 0), "site-x", 2, "[<'FF'>]"),
    NULL);
  g_autoptr(GPtrArray) other = test_batch (
    test_set ("hospital", "H3", "name", test_hlc (0, 0), "site-y", 1, "[<'Now'>]"), NULL);
  g_autoptr(GPtrArray) held = NULL;
  MhApplyReport report;

  report = test_apply (f->a, future);
  g_assert_cmpuint (report.held, ==, 2);

  /* Time passes (two minutes, here by the reference): the next batch
   * releases what is now within the bound, and only that. */
  mh_store_set_reference_offset (f->a, 2 * MINUTE_MS);
  report = test_apply (f->a, other);
  test_assert_report (report, 1, 0, 0, 0, 0, 0, 0, 1);
  test_assert_string (f->a, "hospital", "H1", "name", "F");
  g_assert_cmpint (mh_store_get_row_state (f->a, "hospital", "H2"), ==, MH_ROW_ABSENT);
  g_assert_cmpuint (mh_store_get_held_count (f->a), ==, 1);
  held = mh_store_list_held (f->a, 0);
  g_assert_cmpuint (held->len, ==, 1);
  g_assert_cmpstr (((MhQueuedChange *) g_ptr_array_index (held, 0))->change->row, ==, "H2");
  test_assert_digests_consistent (f->a);
}

static void
test_holds_persist (Fixture *f, gconstpointer data)
{
  g_autoptr(MhChange) future = test_set ("hospital", "H1", "beds", test_hlc (8 * MINUTE_MS, 3),
                                         "site-x", 17, "[<int64 4>, <int64 12>]");
  g_autoptr(GPtrArray) batch = test_batch (mh_change_ref (future), NULL);
  g_autoptr(GPtrArray) held = NULL;
  g_autoptr(GPtrArray) registry = NULL;
  g_autoptr(GError) error = NULL;
  MhApplyReport report;

  future->signature = g_bytes_new_static ("\0\1\2signed", 9);
  report = test_apply (f->a, batch);
  g_assert_cmpuint (report.held, ==, 1);

  g_clear_object (&f->a);
  f->a = test_open (f->dir, "a.db", f->schema, "site-a");
  g_assert_cmpuint (mh_store_get_held_count (f->a), ==, 1);
  g_assert_cmpuint (held_count_property (f->a), ==, 1);
  held = mh_store_list_held (f->a, 0);
  g_assert_cmpuint (held->len, ==, 1);
  /* Kept as received, signature and all. */
  g_assert_true (mh_change_equal (((MhQueuedChange *) g_ptr_array_index (held, 0))->change,
                                  future));
  /* The restart did not let it in, nor move the clock to it. */
  g_assert_cmpint (mh_store_get_row_state (f->a, "hospital", "H1"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_clock (f->a), <, future->hlc);

  mh_store_set_reference_offset (f->a, 4 * MINUTE_MS);
  g_assert_true (mh_store_release_held (f->a, &report, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (report.released, ==, 1);
  g_assert_cmpint (test_get_int (f->a, "hospital", "H1", "baseline"), ==, 12);
  registry = test_read_lane_all (f->a, LANE_REGISTRY);
  g_assert_true (mh_change_equal (find_change (registry, "hospital", "H1", "beds"), future));
}

static void
test_holds_relay_after_release (Fixture *f, gconstpointer data)
{
  g_autoptr(MhChange) future = test_set ("hospital", "H1", "name", test_hlc (7 * MINUTE_MS, 0),
                                         "site-x", 5, "[<'Later'>]");
  g_autoptr(GPtrArray) batch = test_batch (mh_change_ref (future), NULL);
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  MhApplyReport report;

  future->signature = g_bytes_new_static ("sig-x-5", 7);
  test_apply (f->b, batch);
  g_assert_cmpuint (mh_store_get_held_count (f->b), ==, 1);

  /* b does not pass on what it holds: a would judge it for itself. */
  before = test_read_lane_all (f->b, LANE_REGISTRY);
  g_assert_cmpuint (before->len, ==, 0);
  report = test_sync (f->b, f->a);
  test_assert_report (report, 0, 0, 0, 0, 0, 0, 0, 0);
  g_assert_cmpint (mh_store_get_row_state (f->a, "hospital", "H1"), ==, MH_ROW_ABSENT);

  mh_store_set_reference_offset (f->b, 3 * MINUTE_MS);
  g_assert_true (mh_store_release_held (f->b, &report, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (report.released, ==, 1);

  /* Released, it is relayed as its origin made it. */
  after = test_read_lane_all (f->b, LANE_REGISTRY);
  g_assert_cmpuint (after->len, ==, 1);
  g_assert_true (mh_change_equal (g_ptr_array_index (after, 0), future));

  /* a, whose clock is right, still holds it: the bound is a's own. */
  report = test_sync (f->b, f->a);
  test_assert_report (report, 0, 0, 0, 0, 0, 1, 0, 0);
  mh_store_set_reference_offset (f->a, 3 * MINUTE_MS);
  g_assert_true (mh_store_release_held (f->a, &report, &error));
  g_assert_cmpuint (report.released, ==, 1);
  test_assert_same_digests (f->a, f->b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/holds/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("held", test_holds_held);
  ADD ("within-bound", test_holds_within_bound);
  ADD ("bound", test_holds_bound);
  ADD ("reference-offset", test_holds_reference_offset);
  ADD ("release-on-apply", test_holds_release_on_apply);
  ADD ("persist", test_holds_persist);
  ADD ("relay-after-release", test_holds_relay_after_release);
#undef ADD
  return g_test_run ();
}

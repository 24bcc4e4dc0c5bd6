/* Unit tests of the hybrid logical clock, alone and as a store persists it. */
#include "config.h"

#include "mh-sync.h"
#include "mh-test-util.h"

static void
test_clock_monotonic (void)
{
  MhClock clock = { 0 };
  MhHlc last = 0;

  for (int i = 0; i < 100000; i++)
    {
      MhHlc now = mh_clock_now (&clock);
      g_assert_cmpint (now, >, last);
      last = now;
    }
}

static void
test_clock_wall_goes_back (void)
{
  MhClock clock = { 0 };
  MhHlc before = mh_clock_now (&clock);
  MhHlc after;

  /* The machine's date jumps a day back: readings still go forward. */
  clock.offset_ms = -24 * 3600 * 1000;
  after = mh_clock_now (&clock);
  g_assert_cmpint (after, >, before);
  g_assert_cmpint (MH_HLC_PHYSICAL (after), ==, MH_HLC_PHYSICAL (before));
}

static void
test_clock_observe (void)
{
  MhClock clock = { 0 };
  MhHlc remote = MH_HLC_PACK (mh_clock_wall_ms (&clock) + 60000, 7);

  mh_clock_observe (&clock, remote);
  g_assert_cmpint (mh_clock_now (&clock), >, remote);

  /* An older remote reading never moves the clock back. */
  mh_clock_observe (&clock, MH_HLC_PACK (1000, 0));
  g_assert_cmpint (mh_clock_now (&clock), >, remote);
}

static void
test_clock_counter_overflow (void)
{
  MhClock clock = { 0 };
  MhHlc start;

  clock.offset_ms = -1000000; /* the wall clock stays behind, so the counter runs */
  clock.last = MH_HLC_PACK (mh_clock_wall_ms (&clock) + 1000000, 0xfffe);
  start = clock.last;
  g_assert_cmpint (mh_clock_now (&clock), ==, start + 1);
  g_assert_cmpint (MH_HLC_COUNTER (mh_clock_now (&clock)), ==, 0);
  g_assert_cmpint (MH_HLC_PHYSICAL (clock.last), ==, MH_HLC_PHYSICAL (start) + 1);
}

static MhSchema *
small_schema (void)
{
  MhSchema *schema = mh_schema_new (1);
  guint lane = mh_schema_add_lane (schema, "main", 1);

  g_assert_true (mh_schema_add_table (schema, "item", lane, MH_TABLE_NONE, NULL));
  g_assert_true (mh_schema_add_register (schema, "item", "v", MH_REGISTER_NONE, "v",
                                         MH_COLUMN_INTEGER, NULL));
  return schema;
}

static void
test_clock_restart_with_date_back (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-clock");
  g_autofree char *path = g_build_filename (dir, "replica.db", NULL);
  g_autoptr(MhSchema) schema = small_schema ();
  g_autoptr(GError) error = NULL;
  MhHlc written;

  {
    g_autoptr(MhStore) store = mh_store_open (path, schema, "site-a", &error);
    g_assert_no_error (error);
    /* Written while the machine's date was a year ahead. */
    mh_store_set_clock_offset (store, 365LL * 24 * 3600 * 1000);
    g_assert_true (mh_store_insert (store, "item", "x", g_variant_new_parsed ("{'v': <1>}"),
                                    &error));
    g_assert_no_error (error);
    written = mh_store_get_clock (store);
  }

  {
    /* Restarted with the right date: the high-water mark persisted, so
     * the next write still orders after the earlier one and wins. */
    g_autoptr(MhStore) store = mh_store_open (path, schema, NULL, &error);
    g_autoptr(GVariant) row = NULL;
    gint64 v = 0;

    g_assert_no_error (error);
    g_assert_cmpint (mh_store_get_clock (store), >=, written);
    g_assert_true (mh_store_update (store, "item", "x", g_variant_new_parsed ("{'v': <2>}"),
                                    &error));
    g_assert_no_error (error);
    g_assert_cmpint (mh_store_get_clock (store), >, written);
    row = mh_store_get_row (store, "item", "x");
    g_assert_true (g_variant_lookup (row, "v", "x", &v));
    g_assert_cmpint (v, ==, 2);
  }
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/clock/monotonic", test_clock_monotonic);
  g_test_add_func ("/clock/wall-goes-back", test_clock_wall_goes_back);
  g_test_add_func ("/clock/observe", test_clock_observe);
  g_test_add_func ("/clock/counter-overflow", test_clock_counter_overflow);
  g_test_add_func ("/clock/restart-with-date-back", test_clock_restart_with_date_back);
  return g_test_run ();
}

/* test-audience.c: need to know on the receiving side of a store
 *
 * The store knows nothing of who may hold what: an MhAudienceFunc decides.
 * Here it is a toy rule: a patient row "P" may be held by this node only
 * when a hospital row "grant/P" is here or travels in the same batch (or
 * among the parked changes); observations of an unknown patient wait.
 */
#include "config.h"

#include "sync-test-common.h"

#define ORIGIN "ambulance"

static gboolean
has_grant (MhStore *store, const char *patient, GPtrArray *context)
{
  g_autofree char *grant = g_strconcat ("grant/", patient, NULL);

  if (mh_store_get_row_state (store, "hospital", grant) == MH_ROW_LIVE)
    return TRUE;
  for (guint i = 0; context != NULL && i < context->len; i++)
    {
      MhChange *other = g_ptr_array_index (context, i);
      if (other != NULL && g_strcmp0 (other->table, "hospital") == 0
          && g_strcmp0 (other->row, grant) == 0)
        return TRUE;
    }
  return FALSE;
}

static MhAudience
toy_audience (MhStore *store, const MhChange *change, const char *site_id, GPtrArray *context,
              gpointer user_data)
{
  guint *calls = user_data;

  (*calls)++;
  g_assert_cmpstr (site_id, ==, mh_store_get_site_id (store));
  if (strcmp (change->table, "patient") == 0)
    return has_grant (store, change->row, context) ? MH_AUDIENCE_YES : MH_AUDIENCE_NO;
  if (strcmp (change->table, "observation") == 0)
    {
      g_autofree char *patient = g_strndup (change->row, strcspn (change->row, "/"));

      if (mh_store_get_row_state (store, "patient", patient) != MH_ROW_LIVE)
        return MH_AUDIENCE_WAIT;
      return has_grant (store, patient, context) ? MH_AUDIENCE_YES : MH_AUDIENCE_NO;
    }
  return MH_AUDIENCE_YES;
}

static MhChange *
patient (const char *id, gint64 seq)
{
  return test_set ("patient", id, "age", test_hlc (0, (guint) seq), ORIGIN, seq,
                   "[<int64 70>]");
}

static MhChange *
grant (const char *id, gint64 seq)
{
  g_autofree char *row = g_strconcat ("grant/", id, NULL);

  return test_set ("hospital", row, "name", test_hlc (0, (guint) seq), ORIGIN, seq,
                   "[<'grant'>]");
}

static MhChange *
observation (const char *row, gint64 seq)
{
  return test_set ("observation", row, "obs", test_hlc (0, (guint) seq), ORIGIN, seq,
                   "[<'x'>, <int64 90>, <98.0>]");
}

static MhStore *
open_with_audience (const char *dir, guint *calls)
{
  g_autoptr(MhSchema) schema = test_schema_new (1);
  MhStore *store = test_open (dir, "desk.db", schema, "desk");

  mh_store_set_audience (store, toy_audience, NULL, calls, NULL);
  return store;
}

/* A change for a row this node may not hold is withheld: not applied, not
 * queued, not an error; the rest of the batch goes on. */
static void
test_audience_withheld (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-audience");
  guint calls = 0;
  g_autoptr(MhStore) store = open_with_audience (dir, &calls);
  g_autoptr(GPtrArray) batch = test_batch (patient ("p1", 1), patient ("p2", 2),
                                           grant ("p2", 3), NULL);
  MhApplyReport report = test_apply (store, batch);

  g_assert_cmpuint (report.withheld, ==, 1);
  g_assert_cmpuint (report.applied, ==, 2);
  g_assert_cmpuint (report.rejected + report.parked, ==, 0);
  g_assert_cmpint (mh_store_get_row_state (store, "patient", "p1"), ==, MH_ROW_ABSENT);
  /* Granted by a change later in the same batch. */
  g_assert_cmpint (mh_store_get_row_state (store, "patient", "p2"), ==, MH_ROW_LIVE);
  g_assert_cmpuint (mh_store_get_parked_count (store), ==, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (store), ==, 0);
  g_assert_cmpuint (calls, >=, 3);

  /* Local writes are this node's own business: never filtered. */
  {
    g_autoptr(GError) error = NULL;

    g_assert_true (mh_store_upsert (store, "patient", "p3",
                                    g_variant_new_parsed ("{'age': <int64 5>}"), &error));
    g_assert_no_error (error);
  }
  mh_test_rm_rf (dir);
}

/* A change that cannot be decided yet is parked, and decided again when
 * what it belongs to arrives. */
static void
test_audience_wait (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-audience");
  guint calls = 0;
  g_autoptr(MhStore) store = open_with_audience (dir, &calls);
  g_autoptr(GPtrArray) first = test_batch (observation ("p1/o1", 1), observation ("p9/o1", 2),
                                           NULL);
  g_autoptr(GPtrArray) second = test_batch (patient ("p1", 3), grant ("p1", 4), patient ("p9", 5),
                                            NULL);
  MhApplyReport report;

  report = test_apply (store, first);
  g_assert_cmpuint (report.parked, ==, 2);
  g_assert_cmpuint (mh_store_get_parked_count (store), ==, 2);

  /* p1 comes with its grant: its observation follows. p9 is not for this
   * node: withheld, and its observation waits on, undecided. */
  report = test_apply (store, second);
  g_assert_cmpuint (report.applied, ==, 2);
  g_assert_cmpuint (report.unparked, ==, 1);
  g_assert_cmpuint (report.withheld, ==, 1);
  g_assert_cmpint (mh_store_get_row_state (store, "observation", "p1/o1"), ==, MH_ROW_LIVE);
  g_assert_cmpint (mh_store_get_row_state (store, "patient", "p9"), ==, MH_ROW_ABSENT);
  g_assert_cmpuint (mh_store_get_parked_count (store), ==, 1);
  mh_test_rm_rf (dir);
}

/* mh_store_read_row hands out a row's changes as first written, which is
 * what a sender re-sends when a row's audience grows. */
static void
test_audience_read_row (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-audience");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) from = test_open (dir, "from.db", schema, "from");
  g_autoptr(MhStore) to = test_open (dir, "to.db", schema, "to");
  g_autoptr(GPtrArray) batch = test_batch (
    test_set ("patient", "p1", "age", test_hlc (0, 1), ORIGIN, 1, "[<int64 70>]"),
    test_set ("patient", "p1", "triage", test_hlc (0, 2), ORIGIN, 2, "[<'red'>]"), NULL);
  g_autoptr(GPtrArray) row = NULL;
  g_autoptr(GPtrArray) none = NULL;
  g_autoptr(GError) error = NULL;

  test_apply (from, batch);
  row = mh_store_read_row (from, "patient", "p1", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (row->len, ==, 2);
  for (guint i = 0; i < row->len; i++)
    {
      MhChange *change = g_ptr_array_index (row, i);
      g_assert_cmpstr (change->origin, ==, ORIGIN);
      g_assert_cmpint (change->local_seq, >, 0);
    }
  test_apply (to, row);
  test_assert_same_row (from, to, "patient", "p1");
  none = mh_store_read_row (from, "patient", "p2", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (none->len, ==, 0);
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/audience/withheld", test_audience_withheld);
  g_test_add_func ("/audience/wait", test_audience_wait);
  g_test_add_func ("/audience/read-row", test_audience_read_row);
  return g_test_run ();
}

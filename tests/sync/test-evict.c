/* Unit tests of local eviction (mh_store_evict()): the rows, their log
 * entries, history and queued changes go in one transaction; a marker
 * drops later changes to them; digests keep describing what is held; the
 * peers' copies are untouched. */
#include "config.h"

#include "sync-test-common.h"

typedef struct
{
  char *dir;
  MhSchema *schema;
  MhStore *laptop;
  MhStore *hub;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = mh_test_make_tmpdir ("mh-evict");
  f->schema = test_schema_new (1);
  f->laptop = test_open (f->dir, "laptop.db", f->schema, "site-laptop");
  f->hub = test_open (f->dir, "hub.db", f->schema, "site-hub");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->laptop);
  g_clear_object (&f->hub);
  g_clear_pointer (&f->schema, mh_schema_unref);
  mh_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
write_ok (MhStore *store, const char *table, const char *row, const char *values)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_upsert (store, table, row, g_variant_new_parsed (values), &error));
  g_assert_no_error (error);
}

static void
evict_ok (MhStore *store, const char *table, const char *row)
{
  const char *rows[] = { row, NULL };
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_evict (store, table, rows, &error));
  g_assert_no_error (error);
}

/* Whether any change of the log names the row. */
static gboolean
log_names (MhStore *store, const char *table, const char *row)
{
  g_autoptr(GPtrArray) all = test_read_all (store);

  for (guint i = 0; i < all->len; i++)
    {
      MhChange *change = g_ptr_array_index (all, i);
      if (g_str_equal (change->table, table) && g_str_equal (change->row, row))
        return TRUE;
    }
  return FALSE;
}

static void
fill (Fixture *f)
{
  write_ok (f->laptop, "hospital", "H1", "{'name': <'Central'>}");
  write_ok (f->laptop, "patient", "H1/P1", "{'triage': <'immediate'>, 'age': <int64 40>}");
  /* A losing value goes to history. */
  write_ok (f->laptop, "patient", "H1/P1", "{'triage': <'delayed'>}");
  write_ok (f->laptop, "observation", "H1/O1", "{'patient': <'H1/P1'>, 'hr': <int64 90>}");
  write_ok (f->laptop, "patient", "H1/P2", "{'triage': <'minimal'>}");
  test_sync (f->laptop, f->hub);
}

static void
test_evict_rows (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  const char *rows[] = { "H1/P1", "H1/NEVER", NULL };
  MhDigest before, after;

  fill (f);
  g_assert_true (mh_store_get_row_lseq (f->laptop, "patient", "H1/P1", NULL) > 0);
  g_assert_cmpint (mh_store_get_row_lseq (f->laptop, "patient", "H1/NONE", NULL), ==, 0);
  g_assert_true (mh_store_get_digest (f->laptop, "patients:H1", &before));

  g_assert_true (mh_store_evict (f->laptop, "patient", rows, &error));
  g_assert_no_error (error);
  evict_ok (f->laptop, "observation", "H1/O1");

  g_assert_cmpint (mh_store_get_row_state (f->laptop, "patient", "H1/P1"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (f->laptop, "observation", "H1/O1"), ==,
                   MH_ROW_ABSENT);
  g_assert_true (mh_store_is_evicted (f->laptop, "patient", "H1/P1"));
  g_assert_true (mh_store_is_evicted (f->laptop, "patient", "H1/NEVER"));
  g_assert_false (mh_store_is_evicted (f->laptop, "patient", "H1/P2"));
  g_assert_cmpuint (mh_store_get_evicted_count (f->laptop), ==, 3);
  g_assert_cmpint (mh_store_get_row_lseq (f->laptop, "patient", "H1/P1", NULL), ==, 0);
  /* Nothing left to offer a peer, nothing kept of the losing value. */
  g_assert_false (log_names (f->laptop, "patient", "H1/P1"));
  g_assert_false (log_names (f->laptop, "observation", "H1/O1"));
  g_assert_true (log_names (f->laptop, "patient", "H1/P2"));
  {
    g_autoptr(GPtrArray) history = mh_store_list_history (f->laptop, "patient", "H1/P1");
    g_assert_cmpuint (history ? history->len : 0, ==, 0);
  }
  /* The digest describes what is held: less than before, consistent. */
  g_assert_true (mh_store_get_digest (f->laptop, "patients:H1", &after));
  g_assert_cmpuint (after.count, <, before.count);
  test_assert_digests_consistent (f->laptop);

  /* The rest is untouched, here and on the peer. */
  test_assert_string (f->laptop, "patient", "H1/P2", "triage", "minimal");
  test_assert_string (f->hub, "patient", "H1/P1", "triage", "delayed");
  test_assert_string (f->laptop, "hospital", "H1", "name", "Central");

  /* The hub's own later change does not count against the hub. */
  {
    const char *hubs[] = { "site-hub", NULL };
    gint64 before_hub = mh_store_get_row_lseq (f->laptop, "patient", "H1/P2", NULL);

    write_ok (f->hub, "patient", "H1/P2", "{'note': <'seen'>}");
    test_sync (f->hub, f->laptop);
    g_assert_cmpint (mh_store_get_row_lseq (f->laptop, "patient", "H1/P2", NULL), >, before_hub);
    g_assert_cmpint (mh_store_get_row_lseq (f->laptop, "patient", "H1/P2", hubs), ==, before_hub);
  }
}

static void
test_evict_drops_late_changes (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) late = NULL;
  g_autoptr(GError) error = NULL;
  MhApplyReport report;

  fill (f);
  evict_ok (f->laptop, "patient", "H1/P1");

  /* The hub changes the row later, and sends all it holds again. */
  write_ok (f->hub, "patient", "H1/P1", "{'note': <'late'>}");
  report = test_sync (f->hub, f->laptop);
  g_assert_cmpuint (report.dropped_evicted, >=, 3);
  g_assert_cmpuint (report.rejected, ==, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (f->laptop), ==, 0);
  g_assert_cmpuint (mh_store_get_held_count (f->laptop), ==, 0);
  g_assert_cmpint (mh_store_get_row_state (f->laptop, "patient", "H1/P1"), ==, MH_ROW_ABSENT);
  g_assert_cmpuint (mh_store_get_dropped_evicted_count (f->laptop), ==, report.dropped_evicted);
  /* A remote delete of the evicted row is dropped too. */
  late = test_batch (test_delete ("patient", "H1/P1", test_hlc (0, 9), "site-hub", 99), NULL);
  report = test_apply (f->laptop, late);
  g_assert_cmpuint (report.dropped_evicted, ==, 1);
  g_assert_cmpint (mh_store_get_row_state (f->laptop, "patient", "H1/P1"), ==, MH_ROW_ABSENT);
  test_assert_digests_consistent (f->laptop);

  /* A local write to it is refused. */
  g_assert_false (mh_store_upsert (f->laptop, "patient", "H1/P1",
                                   g_variant_new_parsed ("{'note': <'again'>}"), &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED);

  /* The marker survives a reopen. */
  g_clear_object (&f->laptop);
  f->laptop = test_open (f->dir, "laptop.db", f->schema, "site-laptop");
  g_assert_true (mh_store_is_evicted (f->laptop, "patient", "H1/P1"));
  report = test_sync (f->hub, f->laptop);
  g_assert_cmpuint (report.applied, ==, 0);
  g_assert_cmpint (mh_store_get_row_state (f->laptop, "patient", "H1/P1"), ==, MH_ROW_ABSENT);
}

/* Held changes to an evicted row are dropped with it; a deleted row's
 * tombstone goes too. */
static void
test_evict_queues_and_tombs (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) batch = NULL;
  g_autoptr(GError) error = NULL;
  MhApplyReport report;

  fill (f);
  batch = test_batch (test_set ("patient", "H1/P1", "note", test_hlc (60 * MINUTE_MS, 0),
                                "site-hub", 50, "[<'from the future'>]"),
                      NULL);
  report = test_apply (f->laptop, batch);
  g_assert_cmpuint (report.held, ==, 1);
  g_assert_cmpuint (mh_store_get_held_count (f->laptop), ==, 1);

  g_assert_true (mh_store_delete (f->laptop, "patient", "H1/P2", &error));
  g_assert_no_error (error);
  g_assert_cmpint (mh_store_get_row_state (f->laptop, "patient", "H1/P2"), ==, MH_ROW_DELETED);

  evict_ok (f->laptop, "patient", "H1/P1");
  evict_ok (f->laptop, "patient", "H1/P2");
  g_assert_cmpuint (mh_store_get_held_count (f->laptop), ==, 0);
  g_assert_cmpint (mh_store_get_row_state (f->laptop, "patient", "H1/P2"), ==, MH_ROW_ABSENT);
  g_assert_false (log_names (f->laptop, "patient", "H1/P2"));
  test_assert_digests_consistent (f->laptop);
}

typedef struct
{
  const char *table;
  const char *row;
} EvictThenFail;

static gboolean
evict_then_fail (MhStore *store, gpointer user_data, GError **error)
{
  EvictThenFail *what = user_data;
  const char *rows[] = { what->row, NULL };

  if (!mh_store_evict (store, what->table, rows, error))
    return FALSE;
  g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "a later step failed");
  return FALSE;
}

/* An eviction inside a transaction that fails leaves nothing half done. */
static void
test_evict_one_transaction (Fixture *f, gconstpointer data)
{
  EvictThenFail what = { "patient", "H1/P1" };
  g_autoptr(GHashTable) before = NULL;
  g_autoptr(GHashTable) after = NULL;
  g_autoptr(GError) error = NULL;
  const char *unknown[] = { "X", NULL };

  fill (f);
  before = mh_store_list_digests (f->laptop);
  g_assert_false (mh_store_transact (f->laptop, evict_then_fail, &what, &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED);
  g_clear_error (&error);

  after = mh_store_list_digests (f->laptop);
  g_assert_true (test_digests_equal (before, after));
  g_assert_false (mh_store_is_evicted (f->laptop, "patient", "H1/P1"));
  g_assert_cmpuint (mh_store_get_evicted_count (f->laptop), ==, 0);
  test_assert_string (f->laptop, "patient", "H1/P1", "triage", "delayed");
  g_assert_true (log_names (f->laptop, "patient", "H1/P1"));
  {
    g_autoptr(GPtrArray) history = mh_store_list_history (f->laptop, "patient", "H1/P1");
    g_assert_cmpuint (history->len, ==, 1);
  }
  test_assert_digests_consistent (f->laptop);

  g_assert_false (mh_store_evict (f->laptop, "nope", unknown, &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_REJECTED);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) \
  g_test_add ("/evict/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("rows", test_evict_rows);
  ADD ("late-changes", test_evict_drops_late_changes);
  ADD ("queues-and-tombs", test_evict_queues_and_tombs);
  ADD ("one-transaction", test_evict_one_transaction);
  return g_test_run ();
}

/* A replica killed with SIGKILL, during local writes and during applies,
 * comes back whole and carries on.
 *
 * The test re-runs its own binary as a child (`test-sync-crash --child MODE
 * DIR START`) that opens a replica in DIR and loops, printing a line on its
 * stdout after each commit:
 * - "local": op i is one transaction (insert hospital h<i>, set the counter
 *   row to i, and every 7th op delete h<i-3>); it prints "W i";
 * - "apply": batch k of a series made beforehand from a source replica's
 *   log is applied with mh_store_apply_from_peer(), which moves the cursor
 *   on the source in the same transaction; it prints "B k".
 * The parent kills the child at a random time, then opens the replica
 * itself and checks: PRAGMA integrity_check says "ok"; the replica holds
 * exactly the ops or batches up to the last committed one (every one the
 * child reported, at most one more, none half-applied); its digests equal
 * the recomputed ones and a fresh replica fed its whole log; and it carries
 * on: the parent commits the next op or batch itself, and the next child
 * resumes from what is committed (an apply child re-applies the last
 * committed batch). After several kills the apply replica finishes the
 * series and must equal both a replica that applied it without a crash and
 * the source itself.
 *
 * The child runs with the store's own durability settings (synchronous =
 * FULL); the parent's own replicas skip syncing for speed.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "sync-test-common.h"

/* Enough batches that a child rarely applies them all before its kill;
 * under AddressSanitizer a child is some 20 times slower, and the parent's
 * own applies too. */
#if defined(__SANITIZE_ADDRESS__)
#define N_BATCHES 400
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define N_BATCHES 400
#endif
#endif
#ifndef N_BATCHES
#define N_BATCHES 3000
#endif
#define N_CYCLES 5
#define KILL_MIN_MS 50
#define KILL_MAX_MS 300
#define SOURCE_SITE "crash-source"
#define LOCAL_SITE "crash-local"
#define APPLY_SITE "crash-apply"

/* ------------------------------------------------------------------------ */
/* Shared by the parent and the child                                      */

static void
test_set_true_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_wait_synced_finish (MH_STORE (source), result, &error));
  g_assert_no_error (error);
  *(gboolean *) data = TRUE;
}

static void
no_sync (MhStore *store)
{
  g_assert_cmpint (sqlite3_exec (mh_store_get_db (store), "PRAGMA synchronous = OFF", NULL, NULL,
                                 NULL), ==, SQLITE_OK);
}

static char *
hospital_id (gint64 i)
{
  return g_strdup_printf ("h%06" G_GINT64_FORMAT, i);
}

/* Local op @i deletes h<i-3> when i is a multiple of 7. */
static gboolean
deleted_by_op (gint64 j, gint64 last_op)
{
  return (j + 3) % 7 == 0 && j + 3 <= last_op;
}

static gboolean
local_op_run (MhStore *store, gpointer user_data, GError **error)
{
  gint64 i = *(gint64 *) user_data;
  g_autofree char *id = hospital_id (i);

  if (!mh_store_insert (store, "hospital", id,
                        g_variant_new_parsed ("{'name': <%s>, 'available': <%x>, "
                                              "'baseline': <%x>, 'lat': <%d>}",
                                              id, i, 2 * i, (double) i / 7.0),
                        error))
    return FALSE;
  if (!mh_store_upsert (store, "hospital", "counter",
                        g_variant_new_parsed ("{'available': <%x>}", i), error))
    return FALSE;
  if (i % 7 == 0 && i >= 3)
    {
      g_autofree char *old = hospital_id (i - 3);
      if (!mh_store_delete (store, "hospital", old, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
local_op (MhStore *store, gint64 i, GError **error)
{
  return mh_store_transact (store, local_op_run, &i, error);
}

typedef struct
{
  guint lane;
  MhCursor cursor; /* the source's log after this batch */
} BatchInfo;

static char *
batch_path (const char *dir, guint k)
{
  g_autofree char *name = g_strdup_printf ("batch-%05u.json", k);
  return g_build_filename (dir, "batches", name, NULL);
}

/* The series: "batches/index" has one line "LANE EPOCH SEQ" per batch. */
static GArray *
load_batch_index (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "batches", "index", NULL);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  GArray *index = g_array_new (FALSE, TRUE, sizeof (BatchInfo));

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return index;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      BatchInfo info = { 0 };
      if (sscanf (lines[i], "%u %" G_GINT64_FORMAT " %" G_GINT64_FORMAT, &info.lane,
                  &info.cursor.epoch, &info.cursor.seq) == 3)
        g_array_append_val (index, info);
    }
  return index;
}

static GPtrArray *
load_batch (const char *dir, guint k, GError **error)
{
  g_autofree char *path = batch_path (dir, k);
  g_autofree char *text = NULL;
  gsize length;

  if (!g_file_get_contents (path, &text, &length, error))
    return NULL;
  return mh_codec_decode_batch (text, (gssize) length, NULL, error);
}

static gboolean
apply_batch (MhStore *store, const char *dir, GArray *index, guint k, GError **error)
{
  const BatchInfo *info = &g_array_index (index, BatchInfo, k);
  g_autoptr(GPtrArray) changes = load_batch (dir, k, error);

  if (changes == NULL)
    return FALSE;
  return mh_store_apply_from_peer (store, changes, SOURCE_SITE, info->lane, &info->cursor, NULL,
                                   error);
}

/* ------------------------------------------------------------------------ */
/* The child                                                                */

static void
report_line (const char *line)
{
  gsize len = strlen (line);

  /* Unbuffered: a line written is in the pipe, whenever the kill comes. */
  while (len > 0)
    {
      ssize_t n = write (STDOUT_FILENO, line, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        exit (3);
      line += n;
      len -= (gsize) n;
    }
}

static int
child_main (const char *mode, const char *dir, gint64 start)
{
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autofree char *path = g_build_filename (dir, "replica.db", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MhStore) store = NULL;

  store = mh_store_open (path, schema, NULL, &error);
  if (store == NULL)
    {
      g_printerr ("child: %s\n", error->message);
      return 2;
    }

  /* Deferred durability (MEDHEAD_TEST_BOOT_ID comes from the parent):
   * commits do not wait for the disk, a kill of the process loses none. */
  if (g_str_equal (mode, "deferred") && !mh_store_set_deferred_sync (store, &error))
    {
      g_printerr ("child: %s\n", error->message);
      return 2;
    }
  if (g_str_equal (mode, "local") || g_str_equal (mode, "deferred"))
    {
      report_line ("R\n");
      for (gint64 i = start;; i++)
        {
          g_autofree char *line = NULL;

          if (!local_op (store, i, &error))
            {
              g_printerr ("child: op %" G_GINT64_FORMAT ": %s\n", i, error->message);
              return 2;
            }
          line = g_strdup_printf ("W %" G_GINT64_FORMAT "\n", i);
          report_line (line);
        }
    }
  else
    {
      g_autoptr(GArray) index = load_batch_index (dir);

      report_line ("R\n");
      for (guint k = (guint) start; k < index->len; k++)
        {
          g_autofree char *line = NULL;

          if (!apply_batch (store, dir, index, k, &error))
            {
              g_printerr ("child: batch %u: %s\n", k, error->message);
              return 2;
            }
          line = g_strdup_printf ("B %u\n", k);
          report_line (line);
        }
      /* The whole series is in: wait for the kill. */
      for (;;)
        pause ();
    }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The parent                                                               */

static char *
self_exe (void)
{
  g_autoptr(GError) error = NULL;
  char *path = g_file_read_link ("/proc/self/exe", &error);

  g_assert_no_error (error);
  return path;
}

/* Runs a child, kills it with SIGKILL @kill_ms after it is ready (its
 * replica open: a sanitizer can make starting slow), and returns the
 * highest number it reported committed, or -1. */
static gint64
run_and_kill (const char *mode, const char *dir, gint64 start, guint kill_ms)
{
  g_autofree char *exe = self_exe ();
  g_autofree char *start_text = g_strdup_printf ("%" G_GINT64_FORMAT, start);
  const char *argv[] = { exe, "--child", mode, dir, start_text, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_auto(GStrv) lines = NULL;
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  gboolean ready = FALSE;
  gint64 reported = -1;
  guint n_lines = 0;
  GPid pid;
  int out_fd, status;
  char buf[4096];
  ssize_t n;

  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL,
                                           G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES,
                                           NULL, NULL, &pid, NULL, &out_fd, NULL, &error));
  g_assert_no_error (error);

  /* Read as it goes, so the pipe never fills and stalls the child. */
  for (;;)
    {
      gint64 left;
      struct pollfd pfd = { out_fd, POLLIN, 0 };

      if (!ready && g_str_has_prefix (out->str, "R\n"))
        {
          ready = TRUE;
          deadline = g_get_monotonic_time () + (gint64) kill_ms * 1000;
        }
      left = deadline - g_get_monotonic_time ();
      if (left <= 0)
        break;
      if (poll (&pfd, 1, (int) MAX (left / 1000, 1)) > 0)
        {
          n = read (out_fd, buf, sizeof buf);
          if (n > 0)
            g_string_append_len (out, buf, n);
          else if (n == 0)
            break; /* the child died by itself: its status says why */
        }
    }
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  /* What it wrote before dying is still in the pipe. */
  while ((n = read (out_fd, buf, sizeof buf)) > 0)
    g_string_append_len (out, buf, n);
  close (out_fd);
  g_spawn_close_pid (pid);

  if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
    g_error ("the %s child did not run until killed (status %d)", mode, status);
  if (!ready)
    g_error ("the %s child did not open its replica in time", mode);

  lines = g_strsplit (out->str, "\n", -1);
  for (guint i = 1; lines[i] != NULL; i++)
    {
      gint64 v;
      if (lines[i][0] == '\0')
        continue;
      n_lines++;
      g_assert_true (lines[i][0] == (g_str_equal (mode, "apply") ? 'B' : 'W')
                     && lines[i][1] == ' ');
      v = g_ascii_strtoll (lines[i] + 2, NULL, 10);
      /* One line per commit, in order. */
      g_assert_cmpint (v, >, reported);
      reported = v;
    }
  g_test_message ("%s child killed %u ms after it started writing, %u commits reported, "
                  "the last %" G_GINT64_FORMAT, mode, kill_ms, n_lines, reported);
  return reported;
}

static MhStore *
open_after_crash (const char *dir, MhSchema *schema, const char *site)
{
  g_autofree char *path = g_build_filename (dir, "replica.db", NULL);
  g_autoptr(GError) error = NULL;
  MhStore *store = mh_store_open (path, schema, site, &error);
  sqlite3_stmt *stmt = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (store);
  g_assert_cmpint (sqlite3_prepare_v2 (mh_store_get_db (store), "PRAGMA integrity_check", -1,
                                       &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *) sqlite3_column_text (stmt, 0), ==, "ok");
  sqlite3_finalize (stmt);
  return store;
}

/* The log is whole: a fresh replica fed all of it ends with the same digests. */
static void
assert_log_complete (MhStore *store, const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "first-sync.db", NULL);
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) fresh = NULL;
  g_autoptr(GPtrArray) all = test_read_all (store);
  g_autoptr(GError) error = NULL;

  g_unlink (path);
  fresh = mh_store_open (path, schema, "first-sync", &error);
  g_assert_no_error (error);
  no_sync (fresh);
  test_apply (fresh, all);
  test_assert_same_digests (store, fresh);
  g_clear_object (&fresh);
  g_unlink (path);
}

static guint
kill_delay (GRand *rand)
{
  return (guint) g_rand_int_range (rand, KILL_MIN_MS, KILL_MAX_MS + 1);
}

/* Children of @mode ("local" or "deferred") in @dir killed N_CYCLES
 * times: every op one reported is there after each kill. Returns the last
 * op committed. */
static gint64
crash_local_cycles (const char *mode, const char *dir, MhSchema *schema, GRand *rand,
                    gint64 epoch, gint64 committed /* the last op known committed */)
{
  for (guint cycle = 0; cycle < N_CYCLES; cycle++)
    {
      gint64 reported = run_and_kill (mode, dir, committed + 1, kill_delay (rand));
      g_autoptr(MhStore) store = open_after_crash (dir, schema, LOCAL_SITE);
      g_autoptr(GError) error = NULL;
      gint64 last = test_get_int (store, "hospital", "counter", "available");
      gint64 at_least = MAX (committed, reported);

      if (last == G_MININT64)
        last = -1;
      /* Every op it reported is there, and at most the one it was about to report. */
      g_assert_cmpint (last, >=, at_least);
      g_assert_cmpint (last, <=, at_least + 1);

      /* Exactly ops 0..last, each whole: rows, values and deletions. */
      for (gint64 j = 0; j <= last + 1; j++)
        {
          g_autofree char *id = hospital_id (j);
          MhRowState state = mh_store_get_row_state (store, "hospital", id);

          if (j > last)
            g_assert_cmpint (state, ==, MH_ROW_ABSENT);
          else if (deleted_by_op (j, last))
            g_assert_cmpint (state, ==, MH_ROW_DELETED);
          else
            {
              g_assert_cmpint (state, ==, MH_ROW_LIVE);
              g_assert_cmpint (test_get_int (store, "hospital", id, "available"), ==, j);
              g_assert_cmpint (test_get_int (store, "hospital", id, "baseline"), ==, 2 * j);
            }
        }
      test_assert_digests_consistent (store);
      assert_log_complete (store, dir);

      if (epoch != 0)
        {
          /* The same boot: the kernel kept the WAL, nothing was lost, and
           * the marker the child left changes nothing. */
          g_autofree char *marker = g_build_filename (dir, "replica.db.running", NULL);

          g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
          g_assert_true (mh_store_set_deferred_sync (store, &error));
          g_assert_no_error (error);
          g_assert_cmpint (mh_store_get_epoch (store), ==, epoch);
        }

      /* It carries on: the next op commits here, and the next child goes on after it. */
      g_assert_true (local_op (store, last + 1, &error));
      g_assert_no_error (error);
      committed = last + 1;
      g_assert_cmpint (test_get_int (store, "hospital", "counter", "available"), ==, committed);
      test_assert_digests_consistent (store);
    }
  g_assert_cmpint (committed, >=, N_CYCLES);
  return committed;
}

static void
test_crash_local (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-crash-local");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(GRand) rand = g_rand_new_with_seed (mh_test_seed_from_env (20240601));

  /* The replica exists before the first child opens it. */
  g_object_unref (test_open (dir, "replica.db", schema, LOCAL_SITE));
  crash_local_cycles ("local", dir, schema, rand, 0, -1);
  mh_test_rm_rf (dir);
}

/* The own sequence number of the counter row's last write. */
static gint64
counter_oseq (MhStore *store)
{
  g_autoptr(GPtrArray) changes = mh_store_read_row (store, "hospital", "counter", NULL);

  gint64 oseq = 0;

  for (guint i = 0; i < changes->len; i++)
    oseq = MAX (oseq, ((MhChange *) g_ptr_array_index (changes, i))->origin_seq);
  g_assert_cmpint (oseq, >, 0);
  return oseq;
}

/* Deferred durability (mh_store_set_deferred_sync()): commits that do not
 * wait for the disk survive a kill of the process; a write gets a ticket
 * that is synced soon after; a clean close removes the marker; and a
 * marker left by another boot (a power cut) gives a new epoch and own
 * sequence numbers past any given before. */
static void
test_crash_deferred (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-crash-deferred");
  g_autofree char *marker = g_build_filename (dir, "replica.db.running", NULL);
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(GRand) rand = g_rand_new_with_seed (mh_test_seed_from_env (20261126));
  g_autoptr(MhStore) store = NULL;
  g_autoptr(GError) error = NULL;
  gint64 epoch, new_epoch, committed, oseq_before, floor;
  guint64 ticket;
  gboolean synced = FALSE;

  g_setenv ("MEDHEAD_TEST_BOOT_ID", "boot-1", TRUE);
  store = test_open (dir, "replica.db", schema, LOCAL_SITE);
  epoch = mh_store_get_epoch (store);
  g_assert_true (mh_store_set_deferred_sync (store, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (mh_store_get_sync_ticket (store), ==, 0);
  g_assert_true (local_op (store, 0, &error));
  ticket = mh_store_get_sync_ticket (store);
  g_assert_cmpuint (ticket, >, 0);
  mh_store_wait_synced_async (store, ticket, NULL, test_set_true_cb, &synced);
  while (!synced)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (mh_store_is_synced (store, ticket));
  g_clear_object (&store);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));

  /* Killed, then opened on the same boot: nothing lost, same epoch. */
  committed = crash_local_cycles ("deferred", dir, schema, rand, epoch, 0);

  /* Killed, then opened after another boot: a new epoch, and numbers
   * past every one the lost commits might have used. */
  run_and_kill ("deferred", dir, committed + 1, kill_delay (rand));
  g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_setenv ("MEDHEAD_TEST_BOOT_ID", "boot-2", TRUE);
  floor = g_get_real_time () / 1000 * 16;
  store = open_after_crash (dir, schema, LOCAL_SITE);
  oseq_before = counter_oseq (store);
  /* Taken on opening, before anything is written (a command may write
   * without ever turning deferred durability on). */
  new_epoch = mh_store_get_epoch (store);
  g_assert_cmpint (new_epoch, !=, epoch);
  g_assert_true (local_op (store, test_get_int (store, "hospital", "counter", "available") + 1,
                           &error));
  g_assert_no_error (error);
  g_assert_cmpint (counter_oseq (store), >, oseq_before);
  g_assert_cmpint (counter_oseq (store), >=, floor);
  /* Once only: the marker is gone with it. */
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_assert_true (mh_store_set_deferred_sync (store, &error));
  g_assert_no_error (error);
  g_assert_cmpint (mh_store_get_epoch (store), ==, new_epoch);
  test_assert_digests_consistent (store);
  g_clear_object (&store);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_unsetenv ("MEDHEAD_TEST_BOOT_ID");
  mh_test_rm_rf (dir);
}

/* Makes the series of batches: a source replica writes, and now and then
 * a lane of its log is read on from where the last batch of that lane
 * ended, as a peer would. The last batches drain every lane. */
static MhStore *
make_batches (const char *dir, MhSchema *schema, GRand *rand)
{
  g_autofree char *batches = g_build_filename (dir, "batches", NULL);
  g_autofree char *index_path = g_build_filename (batches, "index", NULL);
  g_autoptr(GString) index = g_string_new (NULL);
  MhStore *source;
  MhCursor cursors[2] = { { 0, 0 }, { 0, 0 } };
  guint k = 0, lane = 0, idle_lanes = 0;
  gint64 n = 0;

  g_assert_cmpint (g_mkdir_with_parents (batches, 0700), ==, 0);
  source = test_open (dir, "source.db", schema, SOURCE_SITE);
  no_sync (source);

  while (k < N_BATCHES || idle_lanes < 2)
    {
      g_autoptr(GPtrArray) changes = NULL;
      g_autoptr(GError) error = NULL;
      gboolean more = FALSE;

      if (k < N_BATCHES)
        for (guint w = 1 + (guint) g_rand_int_range (rand, 0, 6); w > 0; w--, n++)
          {
            g_autofree char *h = g_strdup_printf ("h%02d", g_rand_int_range (rand, 0, 30));
            g_autofree char *p = g_strdup_printf ("%s/p%03" G_GINT64_FORMAT, h, n / 4);
            g_autofree char *o = g_strdup_printf ("%s/o%06" G_GINT64_FORMAT, h, n);

            switch (g_rand_int_range (rand, 0, 6))
              {
              case 0:
                g_assert_true (mh_store_upsert (source, "hospital", h, g_variant_new_parsed (
                  "{'available': <%x>, 'baseline': <int64 40>}", n), &error));
                break;
              case 1:
                g_assert_true (mh_store_upsert (source, "hospital", h, g_variant_new_parsed (
                  "{'status': <'closed'>, 'reason': <%s>, 'lat': <%d>}", o, n * 0.001), &error));
                break;
              case 2:
              case 3:
                if (mh_store_get_row_state (source, "patient", p) != MH_ROW_DELETED)
                  g_assert_true (mh_store_upsert (source, "patient", p, g_variant_new_parsed (
                    "{'triage': <'immediate'>, 'age': <%x>}", n % 90), &error));
                break;
              case 4:
                g_assert_true (mh_store_insert (source, "observation", o, g_variant_new_parsed (
                  "{'patient': <%s>, 'hr': <%x>, 'spo2': <%d>}", p, n % 150, 0.9), &error));
                break;
              default:
                if (mh_store_get_row_state (source, "patient", p) == MH_ROW_LIVE)
                  g_assert_true (mh_store_delete (source, "patient", p, &error));
                break;
              }
            g_assert_no_error (error);
          }

      lane = (lane + 1) % 2;
      changes = mh_store_read_lane (source, lane, &cursors[lane],
                                    1 + (guint) g_rand_int_range (rand, 0, 20), NULL, &more,
                                    &error);
      g_assert_no_error (error);
      if (changes->len == 0)
        {
          idle_lanes += k >= N_BATCHES;
          continue;
        }
      idle_lanes = 0;
      {
        g_autofree char *path = batch_path (dir, k);
        g_autofree char *text = mh_codec_encode_batch (changes, NULL);

        g_assert_true (g_file_set_contents (path, text, -1, &error));
        g_assert_no_error (error);
        g_string_append_printf (index, "%u %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n", lane,
                                cursors[lane].epoch, cursors[lane].seq);
        k++;
      }
    }
  {
    g_autoptr(GError) error = NULL;
    g_assert_true (g_file_set_contents (index_path, index->str, -1, &error));
    g_assert_no_error (error);
  }
  return source;
}

/* The last batch committed, told by the replica's cursors on the source. */
static gint64
committed_batch (MhStore *store, GArray *index)
{
  gint64 last = -1;

  for (guint lane = 0; lane < 2; lane++)
    {
      MhCursor cursor;

      if (!mh_store_get_peer_cursor (store, SOURCE_SITE, lane, &cursor))
        continue;
      for (guint k = 0; k < index->len; k++)
        {
          const BatchInfo *info = &g_array_index (index, BatchInfo, k);
          if (info->lane == lane && info->cursor.seq == cursor.seq
              && info->cursor.epoch == cursor.epoch)
            last = MAX (last, (gint64) k);
        }
    }
  return last;
}

/* Applies batches up to @upto (inclusive) to @store, from @next on. */
static void
apply_batches (MhStore *store, const char *dir, GArray *index, gint64 *next, gint64 upto)
{
  for (; *next <= upto; (*next)++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_true (apply_batch (store, dir, index, (guint) *next, &error));
      g_assert_no_error (error);
    }
}

static void
test_crash_apply (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-crash-apply");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(GRand) rand = g_rand_new_with_seed (mh_test_seed_from_env (20240602));
  g_autoptr(MhStore) source = make_batches (dir, schema, rand);
  g_autoptr(GArray) index = load_batch_index (dir);
  g_autoptr(MhStore) reference = test_open (dir, "reference.db", schema, "crash-reference");
  gint64 reference_next = 0;
  gint64 committed = -1;

  g_assert_cmpuint (index->len, >=, N_BATCHES);
  no_sync (reference);
  g_object_unref (test_open (dir, "replica.db", schema, APPLY_SITE));

  for (guint cycle = 0; cycle < N_CYCLES; cycle++)
    {
      /* The child starts again at the last committed batch: applying it
       * twice must change nothing. */
      gint64 reported = run_and_kill ("apply", dir, MAX (committed, 0), kill_delay (rand));
      g_autoptr(MhStore) store = open_after_crash (dir, schema, APPLY_SITE);
      gint64 last = committed_batch (store, index);
      gint64 at_least = MAX (committed, reported);

      g_assert_cmpint (last, >=, at_least);
      g_assert_cmpint (last, <=, at_least + 1);

      /* Exactly batches 0..last, none half-applied. */
      apply_batches (reference, dir, index, &reference_next, last);
      test_assert_same_digests (store, reference);
      test_assert_digests_consistent (store);
      assert_log_complete (store, dir);

      /* It carries on: the next batch commits here. */
      if (last + 1 < (gint64) index->len)
        {
          gint64 next = last + 1;
          apply_batches (store, dir, index, &next, last + 1);
          apply_batches (reference, dir, index, &reference_next, last + 1);
          last++;
        }
      g_assert_cmpint (committed_batch (store, index), ==, last);
      test_assert_same_digests (store, reference);
      committed = last;
    }

  /* The rest of the series, then the same replica as without any crash,
   * and as the source. */
  {
    g_autoptr(MhStore) store = open_after_crash (dir, schema, APPLY_SITE);
    gint64 next = committed + 1;

    g_assert_cmpint (committed, >=, N_CYCLES);
    no_sync (store);
    apply_batches (store, dir, index, &next, (gint64) index->len - 1);
    apply_batches (reference, dir, index, &reference_next, (gint64) index->len - 1);
    test_assert_same_digests (store, reference);
    test_assert_same_digests (store, source);
    test_assert_digests_consistent (store);
    for (int h = 0; h < 30; h++)
      {
        g_autofree char *id = g_strdup_printf ("h%02d", h);
        test_assert_same_row (store, source, "hospital", id);
      }
  }
  g_clear_object (&reference);
  g_clear_object (&source);
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  /* A child run by the test itself, before GTest sees the arguments. */
  if (argc == 5 && g_str_equal (argv[1], "--child"))
    return child_main (argv[2], argv[3], g_ascii_strtoll (argv[4], NULL, 10));

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/crash/local", test_crash_local);
  g_test_add_func ("/crash/apply", test_crash_apply);
  g_test_add_func ("/crash/deferred", test_crash_deferred);
  return g_test_run ();
}

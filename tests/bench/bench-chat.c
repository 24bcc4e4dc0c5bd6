/* bench-chat.c: the chat at scale: cold start and scrolling
 *
 * A hub station with 1,000 hospitals and 100,000 broadcast messages, and
 * for a baseline in the same run, a station with no hospitals and 1,000
 * messages. For each:
 * - cold start: a fresh process opens the station, shows the main window
 *   on the broadcast chat and waits for its first frame; the parent times
 *   it from spawn to the child's report, and the child reports its
 *   resident memory then (targets: under 1 s, under 150 MB);
 * - scrolling: the chat history scrolls programmatically, a step per
 *   frame, then jumps to random positions, a jump per frame; the frame
 *   clock times each frame from its update phase to the end of its paint
 *   (target: every frame under 16 ms). Each frame is also split in the
 *   scroll itself (the list view takes its new rows from the model and
 *   binds them; of which reading the replica), layout (rows measured and
 *   allocated) and paint (snapshot and render).
 *
 * Needs a display (run under xvfb-run; skipped without one).
 * Usage: bench-chat [--keep DIR] [N_MESSAGES] (--help: this)
 * --keep DIR makes the two stations in DIR (DIR/station, DIR/baseline)
 * when they are not there yet, and leaves them there: later runs measure
 * the same stations, and `bench-chat --child start DIR/station` under perf
 * profiles one cold start.
 */
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "mh-application.h"
#include "mh-chat-model.h"
#include "mh-chat-view.h"
#include "mh-test-util.h"
#include "mh-window.h"

#define N_HOSPITALS 1000
#define DEFAULT_MESSAGES 100000
#define BASELINE_MESSAGES 1000
#define BATCH 10000
#define SCROLL_FRAMES 300
#define SCROLL_STEP_PX 120
#define JUMP_FRAMES 60
#define TARGET_START_MS 1000.0
#define TARGET_RSS_MB 150.0
#define TARGET_FRAME_MS 16.0

static double
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* This thread's CPU time: what a frame costs without the wait for a CPU
 * on a loaded machine. */
static double
cpu_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
rss_mb (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  return line ? g_ascii_strtod (line + 6, NULL) / 1024.0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Making a station                                                         */

typedef struct
{
  const char *site_id;
  guint first;
  guint n;
} Batch;

static gboolean
insert_batch (MhStore *store, gpointer user_data, GError **error)
{
  Batch *batch = user_data;

  for (guint i = batch->first; i < batch->first + batch->n; i++)
    {
      g_autofree char *id = g_strdup_printf ("%s/m%08u", batch->site_id, i);
      g_autofree char *body = g_strdup_printf ("Message %u: crew inbound, ETA %u min, bed %u "
                                               "requested, GCS 14, SpO2 95%%.",
                                               i, i % 40, i % 9);
      GVariantBuilder values;

      g_variant_builder_init (&values, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&values, "{sv}", "channel", g_variant_new_string ("broadcast"));
      g_variant_builder_add (&values, "{sv}", "author_site", g_variant_new_string (batch->site_id));
      g_variant_builder_add (&values, "{sv}", "author_name", g_variant_new_string ("Bench hub"));
      g_variant_builder_add (&values, "{sv}", "body", g_variant_new_string (body));
      g_variant_builder_add (&values, "{sv}", "sent", g_variant_new_int64 (mh_store_now (store)));
      if (!mh_store_insert (store, "message", id, g_variant_builder_end (&values), error))
        return FALSE;
    }
  return TRUE;
}

static void
make_station (const char *dir, guint n_hospitals, guint n_messages)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MhNode) node = NULL;
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) document = NULL;
  guint imported_h = 0, imported_u = 0;
  double started = now_ms ();

  if (!mh_node_init_data_dir (dir, "Bench hub", MH_ROLE_HUB, NULL, NULL, &error)
      || (node = mh_node_open (dir, &error)) == NULL)
    g_error ("making %s: %s", dir, error->message);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_string_value (builder, "medhead-registry/1");
  json_builder_set_member_name (builder, "hospitals");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n_hospitals; i++)
    {
      g_autofree char *name = g_strdup_printf ("Bench hospital %04u", i);
      g_autofree char *id = g_strdup_printf ("00000000-0000-4000-8000-%012u", i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, id);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "lat");
      json_builder_add_double_value (builder, 43.0 + (i % 100) * 0.05);
      json_builder_set_member_name (builder, "lon");
      json_builder_add_double_value (builder, 0.5 + (i / 100) * 0.3);
      json_builder_set_member_name (builder, "specialties");
      json_builder_begin_array (builder);
      json_builder_add_int_value (builder, 1 + i % 80);
      json_builder_end_array (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  document = json_builder_get_root (builder);
  if (n_hospitals > 0 && !mh_node_import (node, document, &imported_h, &imported_u, &error))
    g_error ("importing hospitals: %s", error->message);

  for (guint first = 0; first < n_messages; first += BATCH)
    {
      Batch batch = { mh_node_get_site_id (node), first, MIN (BATCH, n_messages - first) };

      if (!mh_store_transact (mh_node_get_store (node), insert_batch, &batch, &error))
        g_error ("inserting messages: %s", error->message);
    }
  if (mh_node_count_messages (node, "broadcast") != n_messages)
    g_error ("the station holds %u messages, not %u", mh_node_count_messages (node, "broadcast"),
             n_messages);
  g_print ("# made %s: %u hospitals, %u messages in %.1f s\n", dir, imported_h, n_messages,
           (now_ms () - started) / 1000);
}

/* ------------------------------------------------------------------------ */
/* The child: one cold start, or one scroll run                             */

typedef struct
{
  GtkWidget *window;
  GtkAdjustment *adjustment;
  GArray *work_ms; /* per frame: update phase to end of paint */
  GArray *cpu_work_ms; /* the same in CPU time */
  double cpu_started;
  GArray *phase_ms[4]; /* per frame: scroll, of which model reads, layout, paint */
  double phase[4];
  MhChatModel *model;
  double frame_started;
  guint frame;
  guint n_frames;
  gboolean jumping;
  gboolean done;
  GRand *rand;
} Scroll;

static void
frame_update_cb (GdkFrameClock *clock, Scroll *scroll)
{
  double upper = gtk_adjustment_get_upper (scroll->adjustment);
  double page = gtk_adjustment_get_page_size (scroll->adjustment);

  gint64 read_us = mh_chat_model_get_read_time (scroll->model);

  scroll->frame_started = now_ms ();
  scroll->cpu_started = cpu_ms ();
  if (scroll->jumping)
    gtk_adjustment_set_value (scroll->adjustment,
                              g_rand_double_range (scroll->rand, 0, MAX (upper - page, 0)));
  else
    gtk_adjustment_set_value (scroll->adjustment,
                              gtk_adjustment_get_value (scroll->adjustment) + SCROLL_STEP_PX);
  scroll->phase[0] = now_ms () - scroll->frame_started;
  scroll->phase[1] = (mh_chat_model_get_read_time (scroll->model) - read_us) / 1000.0;
}

/* Connected after GTK's own handlers of these phases: they end them. */
static void
frame_layout_cb (GdkFrameClock *clock, Scroll *scroll)
{
  if (scroll->frame_started != 0)
    scroll->phase[2] = now_ms () - scroll->frame_started;
}

static void
frame_paint_cb (GdkFrameClock *clock, Scroll *scroll)
{
  if (scroll->frame_started != 0)
    scroll->phase[3] = now_ms () - scroll->frame_started;
}

static void
frame_after_paint_cb (GdkFrameClock *clock, Scroll *scroll)
{
  double took, cpu_took;

  if (scroll->frame_started == 0)
    return;
  took = now_ms () - scroll->frame_started;
  cpu_took = cpu_ms () - scroll->cpu_started;
  scroll->frame_started = 0;
  /* The first frames settle the window; they are not scrolling. */
  if (scroll->frame++ >= 5)
    {
      double split[4] = { scroll->phase[0], scroll->phase[1], scroll->phase[2] - scroll->phase[0],
                          scroll->phase[3] - scroll->phase[2] };

      g_array_append_val (scroll->work_ms, took);
      g_array_append_val (scroll->cpu_work_ms, cpu_took);
      for (guint i = 0; i < 4; i++)
        g_array_append_val (scroll->phase_ms[i], split[i]);
    }
  memset (scroll->phase, 0, sizeof scroll->phase);
  if (scroll->frame >= scroll->n_frames + 5)
    scroll->done = TRUE;
}

static gboolean
keep_ticking_cb (GtkWidget *widget, GdkFrameClock *clock, gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
print_frames (const char *label, GArray *work)
{
  double sum = 0;

  g_array_sort (work, compare_doubles);
  for (guint i = 0; i < work->len; i++)
    sum += g_array_index (work, double, i);
  g_print ("%s frames=%u mean=%.2f p50=%.2f p99=%.2f max=%.2f over16=%u\n", label, work->len,
           sum / MAX (work->len, 1), g_array_index (work, double, work->len / 2),
           g_array_index (work, double, (guint) (work->len * 0.99)),
           g_array_index (work, double, work->len - 1),
           (guint) ({
             guint over = 0;
             for (guint i = 0; i < work->len; i++)
               over += g_array_index (work, double, i) > TARGET_FRAME_MS;
             over;
           }));
}

static double
mean (GArray *values)
{
  double sum = 0;

  for (guint i = 0; i < values->len; i++)
    sum += g_array_index (values, double, i);
  return sum / MAX (values->len, 1);
}

static void
print_split (const char *label, Scroll *scroll)
{
  g_print ("%s split mean: scroll+bind=%.2f (model reads %.2f) layout=%.2f paint=%.2f ms;"
           " p50 scroll+bind=%.2f\n",
           label, mean (scroll->phase_ms[0]), mean (scroll->phase_ms[1]),
           mean (scroll->phase_ms[2]), mean (scroll->phase_ms[3]),
           (g_array_sort (scroll->phase_ms[0], compare_doubles),
            g_array_index (scroll->phase_ms[0], double, scroll->phase_ms[0]->len / 2)));
  for (guint i = 0; i < 4; i++)
    g_array_set_size (scroll->phase_ms[i], 0);
}

static int
run_child (const char *mode, const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MhNode) node = NULL;
  MhWindow *window;
  double started = now_ms ();

  gtk_init ();
  adw_init ();
  /* As the desktop opens its node. */
  node = mh_node_open_full (dir, MH_NODE_OPEN_EMBEDDED, &error);
  if (node == NULL)
    g_error ("%s", error->message);
  window = mh_window_new (NULL, node);
  gtk_window_set_default_size (GTK_WINDOW (window), 1024, 600);
  mh_window_show_channel (window, "broadcast");
  gtk_window_present (GTK_WINDOW (window));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  if (g_str_equal (mode, "start"))
    {
      g_print ("start in_process_ms=%.1f rss_mb=%.1f\n", now_ms () - started, rss_mb ());
      return 0;
    }

  {
    Scroll scroll = { 0 };
    GdkFrameClock *clock;
    GtkWidget *scroller = mh_chat_view_get_message_list (mh_window_get_chat_view (window));

    scroll.adjustment = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scroller));
    scroll.work_ms = g_array_new (FALSE, FALSE, sizeof (double));
    scroll.cpu_work_ms = g_array_new (FALSE, FALSE, sizeof (double));
    for (guint i = 0; i < 4; i++)
      scroll.phase_ms[i] = g_array_new (FALSE, FALSE, sizeof (double));
    scroll.model = MH_CHAT_MODEL (mh_chat_view_get_messages (mh_window_get_chat_view (window)));
    scroll.rand = g_rand_new_with_seed (42);
    /* From the top, like someone reading back through the history. */
    gtk_adjustment_set_value (scroll.adjustment, 0);
    while (g_main_context_iteration (NULL, FALSE))
      ;
    clock = gtk_widget_get_frame_clock (GTK_WIDGET (window));
    g_signal_connect (clock, "update", G_CALLBACK (frame_update_cb), &scroll);
    g_signal_connect (clock, "layout", G_CALLBACK (frame_layout_cb), &scroll);
    g_signal_connect (clock, "paint", G_CALLBACK (frame_paint_cb), &scroll);
    g_signal_connect (clock, "after-paint", G_CALLBACK (frame_after_paint_cb), &scroll);
    gtk_widget_add_tick_callback (GTK_WIDGET (window), keep_ticking_cb, NULL, NULL);

    scroll.n_frames = SCROLL_FRAMES;
    while (!scroll.done)
      g_main_context_iteration (NULL, TRUE);
    print_frames ("scroll", scroll.work_ms);
    print_frames ("scroll cpu", scroll.cpu_work_ms);
    print_split ("scroll", &scroll);

    g_array_set_size (scroll.work_ms, 0);
    g_array_set_size (scroll.cpu_work_ms, 0);
    scroll.done = FALSE;
    scroll.frame = 0;
    scroll.jumping = TRUE;
    scroll.n_frames = JUMP_FRAMES;
    while (!scroll.done)
      g_main_context_iteration (NULL, TRUE);
    print_frames ("jump", scroll.work_ms);
    print_frames ("jump cpu", scroll.cpu_work_ms);
    print_split ("jump", &scroll);
    g_print ("rss_mb=%.1f\n", rss_mb ());
    g_signal_handlers_disconnect_by_data (clock, &scroll);
    g_array_unref (scroll.work_ms);
    g_array_unref (scroll.cpu_work_ms);
    for (guint i = 0; i < 4; i++)
      g_array_unref (scroll.phase_ms[i]);
    g_rand_free (scroll.rand);
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The parent                                                               */

static char *
run (const char *self_path, const char *mode, const char *dir, double *wall_ms)
{
  g_autoptr (GError) error = NULL;
  const char *argv[] = { self_path, "--child", mode, dir, NULL };
  char *out = NULL;
  int status;
  double started = now_ms ();

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
                     &status, &error)
      || !g_spawn_check_wait_status (status, &error))
    g_error ("bench-chat --child %s %s: %s", mode, dir, error->message);
  *wall_ms = now_ms () - started;
  return out;
}

static void
measure (const char *self_path, const char *label, const char *dir)
{
  double best = G_MAXDOUBLE, wall;

  /* Cold start, best of 3 (the first also warms the page cache, as a
   * station that has run before would have it). */
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *out = run (self_path, "start", dir, &wall);
      if (wall < best)
        best = wall;
      g_print ("%s start run %u: wall_ms=%.0f %s", label, i + 1, wall, out);
    }
  g_print ("%s cold start best wall_ms=%.0f (target < %.0f)\n", label, best, TARGET_START_MS);
  {
    g_autofree char *out = run (self_path, "scroll", dir, &wall);
    g_autofree char *prefixed = NULL;
    g_auto (GStrv) lines = g_strsplit (out, "\n", -1);

    for (guint i = 0; lines[i] && *lines[i]; i++)
      g_print ("%s %s\n", label, lines[i]);
  }
}

int
main (int argc, char **argv)
{
  g_autofree char *tmp = NULL;
  g_autofree char *big = NULL;
  g_autofree char *small = NULL;
  const char *self_path = argv[0];
  const char *keep = NULL;
  guint n_messages = DEFAULT_MESSAGES;

  if (argc == 4 && g_str_equal (argv[1], "--child"))
    return run_child (argv[2], argv[3]);
  if (argc > 1 && (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h")))
    {
      g_print ("Usage: %s [--keep DIR] [N_MESSAGES]\n"
               "       %s --child start|scroll DIR/station\n"
               "Cold start and scrolling of the chat with N_MESSAGES (default %u) messages and\n"
               "%u hospitals, against %u messages and no hospitals. Needs a display\n"
               "(xvfb-run). --keep DIR makes the stations in DIR once and keeps them.\n",
               argv[0], argv[0], DEFAULT_MESSAGES, N_HOSPITALS, BASELINE_MESSAGES);
      return 0;
    }
  if (argc > 2 && g_str_equal (argv[1], "--keep"))
    {
      keep = argv[2];
      argc -= 2;
      argv += 2;
    }
  if (argc > 1)
    n_messages = (guint) atoi (argv[1]);
  if (!gtk_init_check ())
    {
      g_print ("# SKIP: no display (run under xvfb-run)\n");
      return 0;
    }

  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  tmp = keep != NULL ? g_strdup (keep) : mh_test_make_tmpdir ("bench-chat");
  big = g_build_filename (tmp, "station", NULL);
  small = g_build_filename (tmp, "baseline", NULL);
  if (keep == NULL || !g_file_test (big, G_FILE_TEST_IS_DIR))
    make_station (big, N_HOSPITALS, n_messages);
  else
    g_print ("# kept %s\n", big);
  if (keep == NULL || !g_file_test (small, G_FILE_TEST_IS_DIR))
    make_station (small, 0, BASELINE_MESSAGES);

  g_print ("# baseline: 0 hospitals, %u messages\n", BASELINE_MESSAGES);
  measure (self_path, "baseline", small);
  g_print ("# station: %u hospitals, %u messages\n", N_HOSPITALS, n_messages);
  measure (self_path, "station", big);
  if (keep == NULL)
    mh_test_rm_rf (tmp);
  return 0;
}

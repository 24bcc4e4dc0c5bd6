/* bench-startup.c: cold start of the desktop app to its first frame
 *
 * Starts `medhead --data-dir DIR` as a new process, again and again, and
 * measures from just before the spawn to the first frame its main window
 * paints (the app prints that time when MEDHEAD_BENCH_FIRST_FRAME is set,
 * then quits). Three kinds of start, interleaved so that load on the
 * machine falls on all of them alike:
 *
 *   plain   this program again, showing an empty GtkWindow: GTK's own floor
 *   empty   the app on a replica with no hospital
 *   N       the app on a replica with N generated hospitals (default 1,000)
 *
 * Needs a display (run it under xvfb-run, as meson does) and MEDHEAD_BIN.
 *
 *   bench-startup [--hospitals N] [--runs N]
 *   bench-startup --make-replica DIR N     (keeps one, for profiling)
 */
#include "config.h"

#include <gtk/gtk.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "mh-test-util.h"
#include "nearest-gen.h"

#define TARGET_MS 1000.0

static gboolean
plain_painted_cb (GdkFrameClock *clock, gpointer user_data)
{
  struct rusage usage = { 0 };

  getrusage (RUSAGE_SELF, &usage);
  g_print ("medhead-first-frame %" G_GINT64_FORMAT " 0 0 %" G_GINT64_FORMAT "\n",
           g_get_monotonic_time (),
           (gint64) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_USEC_PER_SEC
             + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  fflush (stdout);
  exit (EXIT_SUCCESS);
}

static void
plain_realized_cb (GtkWidget *window)
{
  g_signal_connect (gtk_widget_get_frame_clock (window), "after-paint",
                    G_CALLBACK (plain_painted_cb), NULL);
}

/* The baseline: a GtkWindow of the app's size with a label. */
static int
run_plain_window (void)
{
  GtkWidget *window;

  gtk_init ();
  window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (window), 1024, 600);
  gtk_window_set_child (GTK_WINDOW (window), gtk_label_new ("MedHead Emergency"));
  g_signal_connect (window, "realize", G_CALLBACK (plain_realized_cb), NULL);
  gtk_window_present (GTK_WINDOW (window));
  /* plain_painted_cb exits. */
  for (;;)
    g_main_context_iteration (NULL, TRUE);
  return EXIT_FAILURE;
}

static void
make_replica (const char *dir, guint n_hospitals)
{
  g_autoptr (MhNode) node = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (1000);
  g_autofree GenHospital *all = NULL;
  g_autoptr (JsonNode) document = NULL;

  if (!mh_node_init_data_dir (dir, "Bench hub", MH_ROLE_HUB, NULL, NULL, &error)
      || (node = mh_node_open (dir, &error)) == NULL)
    g_error ("cannot make a node: %s", error->message);
  if (n_hospitals == 0)
    return;
  all = gen_hospitals (rand, n_hospitals);
  /* A region's worth, not a country's: all of them in Ile-de-France, as
   * the map shows them at region scale. */
  for (guint i = 0; i < n_hospitals; i++)
    {
      all[i].lat = g_rand_double_range (rand, 48.1, 49.3);
      all[i].lon = g_rand_double_range (rand, 1.4, 3.6);
    }
  document = gen_document (all, n_hospitals);
  if (!mh_node_import (node, document, NULL, NULL, &error))
    g_error ("import failed: %s", error->message);
}

/* One start: milliseconds from spawn to first frame, the CPU milliseconds
 * the process used until then, and the pins and clusters it showed. */
static double
start_once (char **argv, double *cpu_ms, guint *n_pins, guint *n_clusters)
{
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  gint64 started, painted = 0, cpu_us = 0;
  const char *line;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                        | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "MEDHEAD_BENCH_FIRST_FRAME", "1", TRUE);
  /* No session bus: a medhead already running on the user's would take
   * the start over, and this one would quit without a window. */
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");
  started = g_get_monotonic_time ();
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv, &error);
  if (process == NULL)
    g_error ("cannot start %s: %s", argv[0], error->message);
  if (!g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error))
    g_error ("%s: %s", argv[0], error->message);
  line = out != NULL ? strstr (out, "medhead-first-frame ") : NULL;
  if (line == NULL
      || sscanf (line, "medhead-first-frame %" G_GINT64_FORMAT " %u %u %" G_GINT64_FORMAT,
                 &painted, n_pins, n_clusters, &cpu_us)
           != 4)
    g_error ("%s painted no frame; stdout:\n%s\nstderr:\n%s", argv[0], out ? out : "",
             err ? err : "");
  *cpu_ms = cpu_us / 1000.0;
  return (painted - started) / 1000.0;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
median (GArray *times)
{
  g_array_sort (times, compare_doubles);
  return g_array_index (times, double, times->len / 2);
}

static double
minimum (GArray *times)
{
  g_array_sort (times, compare_doubles);
  return g_array_index (times, double, 0);
}

int
main (int argc, char **argv)
{
  g_autofree char *dir = NULL;
  g_autofree char *empty_dir = NULL;
  g_autofree char *full_dir = NULL;
  g_autofree char *self_path = NULL;
  const char *medhead = g_getenv ("MEDHEAD_BIN");
  guint n_hospitals = 1000, runs = 7, pins_empty = 0, pins_full = 0, pins_plain = 0;
  guint clusters_full = 0, clusters_other = 0;
  GArray *times[3];
  GArray *cpu[3];
  double load[1] = { 0 };
  double m_plain, m_empty, m_full;

  if (argc > 1 && g_str_equal (argv[1], "--plain-window"))
    return run_plain_window ();
  /* For profiling: `bench-startup --make-replica DIR N`, then run
   * `medhead --data-dir DIR` under perf. */
  if (argc == 4 && g_str_equal (argv[1], "--make-replica"))
    {
      make_replica (argv[2], (guint) atoi (argv[3]));
      return EXIT_SUCCESS;
    }
  for (int i = 1; i + 1 < argc; i += 2)
    {
      if (g_str_equal (argv[i], "--hospitals"))
        n_hospitals = (guint) atoi (argv[i + 1]);
      else if (g_str_equal (argv[i], "--runs"))
        runs = (guint) MAX (1, atoi (argv[i + 1]));
      else
        {
          g_printerr ("usage: bench-startup [--hospitals N] [--runs N]\n");
          return EXIT_FAILURE;
        }
    }
  if (medhead == NULL)
    {
      g_printerr ("bench-startup: set MEDHEAD_BIN to the medhead program\n");
      return EXIT_FAILURE;
    }
  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      g_printerr ("bench-startup: needs a display (xvfb-run)\n");
      return 77;
    }
  /* The app's settings and caches stay out of the user's. */
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_setenv ("GTK_A11Y", "none", FALSE);

  dir = mh_test_make_tmpdir ("bench-startup");
  empty_dir = g_build_filename (dir, "empty", NULL);
  full_dir = g_build_filename (dir, "full", NULL);
  g_setenv ("XDG_CACHE_HOME", dir, TRUE);
  g_setenv ("XDG_CONFIG_HOME", dir, TRUE);
  g_setenv ("XDG_DATA_HOME", dir, TRUE);
  make_replica (empty_dir, 0);
  make_replica (full_dir, n_hospitals);
  self_path = g_file_read_link ("/proc/self/exe", NULL);

  for (guint k = 0; k < 3; k++)
    {
      times[k] = g_array_new (FALSE, FALSE, sizeof (double));
      cpu[k] = g_array_new (FALSE, FALSE, sizeof (double));
    }
  /* One start of each first, not counted: it loads the files into the
   * page cache, as any start after the first install finds them. */
  for (guint r = 0; r <= runs; r++)
    {
      char *plain_argv[] = { self_path, (char *) "--plain-window", NULL };
      char *empty_argv[] = { (char *) medhead, (char *) "--data-dir", empty_dir, NULL };
      char *full_argv[] = { (char *) medhead, (char *) "--data-dir", full_dir, NULL };
      char **all_argv[] = { plain_argv, empty_argv, full_argv };

      for (guint k = 0; k < 3; k++)
        {
          guint *pins = k == 2 ? &pins_full : k == 1 ? &pins_empty : &pins_plain;
          double c, t;

          t = start_once (all_argv[k], &c, pins, k == 2 ? &clusters_full : &clusters_other);
          if (r == 0)
            continue;
          g_array_append_val (times[k], t);
          g_array_append_val (cpu[k], c);
        }
    }

  if (getloadavg (load, 1) == 1)
    g_print ("startup: load average %.2f on %u CPUs, %u runs each\n", load[0],
             g_get_num_processors (), runs);
  m_plain = median (times[0]);
  m_empty = median (times[1]);
  m_full = median (times[2]);
  g_print ("startup: plain GtkWindow            median %7.1f ms, best %7.1f ms\n", m_plain,
           minimum (times[0]));
  g_print ("startup: app, empty replica         median %7.1f ms, best %7.1f ms (%u pins)\n",
           m_empty, minimum (times[1]), pins_empty);
  g_print ("startup: app, %5u hospitals       median %7.1f ms, best %7.1f ms"
           " (%u pins, %u clusters)\n",
           n_hospitals, m_full, minimum (times[2]), pins_full, clusters_full);
  g_print ("startup: %u hospitals / empty replica %.2fx, / plain window %.2fx\n", n_hospitals,
           m_full / m_empty, m_full / m_plain);
  /* CPU time is what load on the machine changes least. */
  g_print ("startup: CPU to first frame, median: plain %.0f ms, empty %.0f ms, %u hospitals"
           " %.0f ms (%.2fx empty)\n",
           median (cpu[0]), median (cpu[1]), n_hospitals, median (cpu[2]),
           median (cpu[2]) / median (cpu[1]));
  g_print ("startup: target first frame < %.0f ms with %u hospitals: %s\n", TARGET_MS,
           n_hospitals, m_full < TARGET_MS ? "met" : "MISSED");

  for (guint k = 0; k < 3; k++)
    {
      g_array_unref (times[k]);
      g_array_unref (cpu[k]);
    }
  mh_test_rm_rf (dir);
  return EXIT_SUCCESS;
}

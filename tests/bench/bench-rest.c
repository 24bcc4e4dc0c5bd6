/* bench-rest.c: the REST API under concurrent clients
 *
 * Starts a real medhead-node (hub) holding N generated hospitals (default
 * 10,000, spread over mainland France), then for each number of concurrent
 * clients (default 8 and 32; each client is a thread with a SoupSession of
 * its own, keeping its connection alive):
 *
 * 1. baseline: GET /api/v1/status, a trivial endpoint, for the duration;
 * 2. GET /api/v1/hospitals/nearest from random points with a random
 *    specialty and bed category, for the duration;
 *
 * and prints requests per second, p50 and p99 latency of each, the node's
 * CPU time per request (from /proc: on a shared machine, wall-clock rates
 * measure the scheduler as much as the node), and the ratio of nearest to
 * the baseline measured in the same run. The MedHead proof of concept aimed
 * at 800 requests/s under 200 ms.
 *
 * Not a test: it exits 0 unless something fails outright (a non-200
 * answer, a node that does not start). Usage:
 *   bench-rest [--hospitals N] [--clients 8,32] [--duration SECONDS] [--seed N]
 * The program under test is MEDHEAD_NODE_BIN.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "mh-test-util.h"

#define LAT_MIN 42.5
#define LAT_MAX 51.0
#define LON_MIN -4.5
#define LON_MAX 8.0

static const char *const categories[] = { "adult_icu", "medical_surgical", "pediatrics",
                                           "psychiatric", "burn" };

typedef struct
{
  const char *url;
  const char *token;
  gboolean nearest;
  double duration_s;
  guint32 seed;
  GArray *latencies_ms; /* double */
  guint failures;
  char *first_failure;
} Client;

/* ------------------------------------------------------------------------ */
/* Data                                                                     */

static char *
make_uuid (GRand *rand)
{
  guint32 a = g_rand_int (rand), b = g_rand_int (rand), c = g_rand_int (rand),
          d = g_rand_int (rand);

  return g_strdup_printf ("%08x-%04x-4%03x-%04x-%04x%08x", a, b >> 16, b & 0xfff,
                          (c >> 16 & 0x3fff) | 0x8000, c & 0xffff, d);
}

static char *
write_registry (const char *dir, guint n_hospitals, guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (dir, "bench-registry.json", NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_string_value (builder, "medhead-registry/1");
  json_builder_set_member_name (builder, "demo");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "hospitals");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n_hospitals; i++)
    {
      g_autofree char *id = make_uuid (rand);
      g_autofree char *name = g_strdup_printf ("Bench hospital %u", i);
      gboolean has[81] = { FALSE };
      guint n_specialties = g_rand_int_range (rand, 3, 16);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, id);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "lat");
      json_builder_add_double_value (builder, g_rand_double_range (rand, LAT_MIN, LAT_MAX));
      json_builder_set_member_name (builder, "lon");
      json_builder_add_double_value (builder, g_rand_double_range (rand, LON_MIN, LON_MAX));
      json_builder_set_member_name (builder, "specialties");
      json_builder_begin_array (builder);
      for (guint s = 0; s < n_specialties; s++)
        has[g_rand_int_range (rand, 1, 81)] = TRUE;
      for (guint s = 1; s <= 80; s++)
        if (has[s])
          json_builder_add_int_value (builder, s);
      json_builder_end_array (builder);
      /* One in twenty is closed to ambulances, which nearest must skip. */
      if (g_rand_int_range (rand, 0, 20) == 0)
        {
          json_builder_set_member_name (builder, "ems_traffic");
          json_builder_add_string_value (builder, "closed");
          json_builder_set_member_name (builder, "ems_traffic_reason");
          json_builder_add_string_value (builder, "generated");
        }
      else
        {
          json_builder_set_member_name (builder, "ems_traffic");
          json_builder_add_string_value (builder, "normal");
        }
      json_builder_set_member_name (builder, "beds");
      json_builder_begin_object (builder);
      for (guint c = 0; c < G_N_ELEMENTS (categories); c++)
        {
          guint baseline = g_rand_int_range (rand, 5, 400);

          json_builder_set_member_name (builder, categories[c]);
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "available");
          json_builder_add_int_value (builder, g_rand_int_range (rand, 0, 4) == 0
                                                 ? 0
                                                 : g_rand_int_range (rand, 0, baseline / 5 + 1));
          json_builder_set_member_name (builder, "baseline");
          json_builder_add_int_value (builder, baseline);
          json_builder_set_member_name (builder, "surge_24h");
          json_builder_add_int_value (builder, baseline / 10);
          json_builder_end_object (builder);
        }
      json_builder_end_object (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  text = json_to_string (root, FALSE);
  if (!g_file_set_contents (path, text, -1, &error))
    g_error ("writing %s: %s", path, error->message);
  return path;
}

/* ------------------------------------------------------------------------ */
/* The node                                                                 */

static void
run_cli (const char *program, const char *first, ...) G_GNUC_NULL_TERMINATED;

static void
run_cli (const char *program, const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  va_list ap;

  g_ptr_array_add (argv, (gpointer) program);
  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_newv ((const char *const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  if (process == NULL || !g_subprocess_wait_check (process, NULL, &error))
    g_error ("medhead-node %s: %s", first, error->message);
}

static GSubprocess *
start_node (const char *program, const char *dir, char **url, char **token)
{
  g_autofree char *url_path = g_build_filename (dir, "api-url", NULL);
  g_autofree char *token_path = g_build_filename (dir, "api-token", NULL);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, program, "serve",
                              "--data-dir", dir, "--api", "127.0.0.1:0", NULL);
  if (process == NULL)
    g_error ("medhead-node serve: %s", error->message);
  while (!g_file_get_contents (url_path, url, NULL, NULL))
    {
      if (g_get_monotonic_time () > deadline || g_subprocess_get_identifier (process) == NULL)
        g_error ("medhead-node serve did not start");
      g_usleep (10 * 1000);
    }
  g_strstrip (*url);
  if (!g_file_get_contents (token_path, token, NULL, &error))
    g_error ("%s", error->message);
  g_strstrip (*token);
  return process;
}

/* ------------------------------------------------------------------------ */
/* Clients                                                                  */

static gpointer
client_thread (gpointer data)
{
  Client *client = data;
  g_autoptr(GProxyResolver) direct = g_simple_proxy_resolver_new (NULL, NULL);
  /* Straight to 127.0.0.1, whatever proxy the environment names. */
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 60, "proxy-resolver",
                                                                  direct, NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (client->seed);
  g_autofree char *authorization = g_strdup_printf ("Bearer %s", client->token);
  gint64 end = g_get_monotonic_time () + (gint64) (client->duration_s * G_USEC_PER_SEC);

  while (g_get_monotonic_time () < end)
    {
      g_autofree char *uri = NULL;
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GError) error = NULL;
      gint64 start;
      double ms;

      if (client->nearest)
        {
          char lat[G_ASCII_DTOSTR_BUF_SIZE], lon[G_ASCII_DTOSTR_BUF_SIZE];

          g_ascii_formatd (lat, sizeof lat, "%.5f", g_rand_double_range (rand, LAT_MIN, LAT_MAX));
          g_ascii_formatd (lon, sizeof lon, "%.5f", g_rand_double_range (rand, LON_MIN, LON_MAX));
          uri = g_strdup_printf ("%s/api/v1/hospitals/nearest?lat=%s&lon=%s&specialty=%d&bed=%s"
                                 "&limit=10",
                                 client->url, lat, lon, g_rand_int_range (rand, 1, 81),
                                 categories[g_rand_int_range (rand, 0, G_N_ELEMENTS (categories))]);
        }
      else
        uri = g_strdup_printf ("%s/api/v1/status", client->url);

      msg = soup_message_new ("GET", uri);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    authorization);
      start = g_get_monotonic_time ();
      body = soup_session_send_and_read (session, msg, NULL, &error);
      ms = (g_get_monotonic_time () - start) / 1000.0;

      if (body == NULL || soup_message_get_status (msg) != SOUP_STATUS_OK)
        {
          if (client->failures++ == 0)
            client->first_failure = g_strdup_printf ("%u %s", soup_message_get_status (msg),
                                                     error != NULL ? error->message : "");
          continue;
        }
      g_array_append_val (client->latencies_ms, ms);
    }
  return NULL;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

typedef struct
{
  double rate;
  double p50;
  double p99;
  guint count;
  double cpu_ms; /* the node's CPU time per request */
} Figures;

/* User plus system CPU time of a process, in seconds; -1 if unknown. */
static double
process_cpu_s (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *text = NULL;
  g_auto(GStrv) fields = NULL;
  const char *end;

  if (pid == NULL || !g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  /* The command name may hold spaces: fields are counted after its ')'.
   * utime and stime are fields 14 and 15, so 11 and 12 after the state. */
  end = strrchr (text, ')');
  if (end == NULL)
    return -1;
  fields = g_strsplit (end + 2, " ", -1);
  if (g_strv_length (fields) < 13)
    return -1;
  return (g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10))
         / (double) sysconf (_SC_CLK_TCK);
}

static double
load_average (void)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return -1;
  return g_ascii_strtod (text, NULL);
}

static Figures
run_phase (const char *url, const char *token, const char *pid, gboolean nearest,
           guint n_clients, double duration_s, guint32 seed)
{
  g_autofree Client *clients = g_new0 (Client, n_clients);
  g_autofree GThread **threads = g_new0 (GThread *, n_clients);
  g_autoptr(GArray) all = g_array_new (FALSE, FALSE, sizeof (double));
  Figures figures = { 0 };
  guint failures = 0;
  gint64 start = g_get_monotonic_time ();
  double cpu_start = process_cpu_s (pid);
  double elapsed_s;

  for (guint i = 0; i < n_clients; i++)
    {
      clients[i].url = url;
      clients[i].token = token;
      clients[i].nearest = nearest;
      clients[i].duration_s = duration_s;
      clients[i].seed = seed + i;
      clients[i].latencies_ms = g_array_new (FALSE, FALSE, sizeof (double));
      threads[i] = g_thread_new ("bench-client", client_thread, &clients[i]);
    }
  for (guint i = 0; i < n_clients; i++)
    {
      g_thread_join (threads[i]);
      g_array_append_vals (all, clients[i].latencies_ms->data, clients[i].latencies_ms->len);
      if (clients[i].failures > 0)
        {
          g_printerr ("client %u: %u failed requests, first: %s\n", i, clients[i].failures,
                      clients[i].first_failure);
          failures += clients[i].failures;
        }
      g_array_unref (clients[i].latencies_ms);
      g_free (clients[i].first_failure);
    }
  elapsed_s = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
  figures.cpu_ms = (process_cpu_s (pid) - cpu_start) * 1000.0;
  if (failures > 0)
    g_error ("%u requests failed", failures);
  if (all->len == 0)
    g_error ("no request completed");

  g_array_sort (all, compare_doubles);
  figures.count = all->len;
  figures.rate = all->len / elapsed_s;
  figures.p50 = g_array_index (all, double, all->len / 2);
  figures.p99 = g_array_index (all, double, MIN (all->len - 1, (guint) (all->len * 0.99)));
  figures.cpu_ms = cpu_start < 0 ? -1 : figures.cpu_ms / all->len;
  return figures;
}

int
main (int argc, char **argv)
{
  gint n_hospitals = 10000;
  double duration_s = 10;
  gint seed = 20240601;
  g_autofree char *clients_text = g_strdup ("8,32");
  const GOptionEntry entries[] = {
    { "hospitals", 0, 0, G_OPTION_ARG_INT, &n_hospitals, "Generated hospitals (10000)", "N" },
    { "clients", 0, 0, G_OPTION_ARG_STRING, &clients_text, "Concurrent clients (8,32)", "LIST" },
    { "duration", 0, 0, G_OPTION_ARG_DOUBLE, &duration_s, "Seconds per phase (10)", "S" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, "Seed of the generated data", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- REST API benchmark");
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) node = NULL;
  g_auto(GStrv) client_counts = NULL;
  g_autofree char *tmpdir = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *registry = NULL;
  g_autofree char *url = NULL;
  g_autofree char *token = NULL;
  const char *program = g_getenv ("MEDHEAD_NODE_BIN");
  const char *pid;
  gint64 t0;

  /* Before any thread: GSocketClient asks the default proxy resolver even
   * when the session has its own, and its GNOME module wants GSettings. */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", FALSE);

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (program == NULL)
    {
      g_printerr ("MEDHEAD_NODE_BIN must name the medhead-node program\n");
      return 2;
    }
  client_counts = g_strsplit (clients_text, ",", -1);

  tmpdir = mh_test_make_tmpdir ("medhead-bench-rest");
  dir = g_build_filename (tmpdir, "node", NULL);
  registry = write_registry (tmpdir, (guint) n_hospitals, (guint32) seed);

  run_cli (program, "init", "--data-dir", dir, "--name", "Bench hub", "--role", "hub", NULL);
  t0 = g_get_monotonic_time ();
  run_cli (program, "import", "--data-dir", dir, registry, NULL);
  g_print ("# REST API benchmark: %d hospitals (import took %.1f s), %.0f s per phase\n",
           n_hospitals, (g_get_monotonic_time () - t0) / (double) G_USEC_PER_SEC, duration_s);
  node = start_node (program, dir, &url, &token);
  pid = g_subprocess_get_identifier (node);
  g_print ("# load average %.2f on %ld CPUs (clients and node share them)\n", load_average (),
           sysconf (_SC_NPROCESSORS_ONLN));

  /* Warm up the page cache and the connections' code paths. */
  run_phase (url, token, pid, TRUE, 2, MIN (duration_s, 1.0), (guint32) seed);

  g_print ("%-8s %-8s %10s %10s %10s %10s %14s\n", "clients", "endpoint", "requests", "req/s",
           "p50 ms", "p99 ms", "node CPU ms/req");
  for (guint i = 0; client_counts[i] != NULL; i++)
    {
      guint n = (guint) g_ascii_strtoull (client_counts[i], NULL, 10);
      Figures status, nearest;

      if (n == 0)
        continue;
      status = run_phase (url, token, pid, FALSE, n, duration_s, (guint32) seed + 1000);
      nearest = run_phase (url, token, pid, TRUE, n, duration_s, (guint32) seed + 2000);
      g_print ("%-8u %-8s %10u %10.0f %10.2f %10.2f %14.3f\n", n, "status", status.count,
               status.rate, status.p50, status.p99, status.cpu_ms);
      g_print ("%-8u %-8s %10u %10.0f %10.2f %10.2f %14.3f\n", n, "nearest", nearest.count,
               nearest.rate, nearest.p50, nearest.p99, nearest.cpu_ms);
      g_print ("%-8u ratio nearest/status: throughput %.2f, p50 %.2f, p99 %.2f, node CPU %.2f; "
               "one node CPU would serve %.0f nearest/s; "
               "MedHead POC target (800 req/s, p99 < 200 ms): %s\n",
               n, nearest.rate / status.rate, nearest.p50 / status.p50, nearest.p99 / status.p99,
               nearest.cpu_ms / status.cpu_ms, 1000.0 / nearest.cpu_ms,
               nearest.rate >= 800 && nearest.p99 < 200 ? "met" : "NOT met");
    }

  g_subprocess_send_signal (node, SIGTERM);
  if (!g_subprocess_wait_check (node, NULL, &error))
    g_error ("medhead-node serve did not stop cleanly: %s", error->message);
  if (g_getenv ("MEDHEAD_KEEP_TMP") == NULL)
    mh_test_rm_rf (tmpdir);
  return 0;
}

/* test-demo-network.c: the demo network the app opens, started headless
 *
 * Starts MhDemoNetwork exactly as `medhead --demo` does (real medhead-node
 * processes on 127.0.0.1, the simulator among them), opens the app's own
 * station in-process and links it, then checks that the registry
 * converges on every node, that the simulator's bed counts, positions and
 * messages reach the station, and that stopping leaves no process and no
 * folder behind. MEDHEAD_KEEP_DEMO keeps the folder (with every node's
 * serve.log) for a look after a failure.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "mh-demo-network.h"
#include "mh-node.h"

/* Deadlines for what takes a few seconds on an idle machine; they only
 * bound a test that would otherwise hang (sanitizer builds are slow). */
#define SLOWDOWN (g_getenv ("ASAN_OPTIONS") != NULL ? 4 : 1)
#define START_TIMEOUT_S (180 * SLOWDOWN)
#define CONVERGE_TIMEOUT_S (180 * SLOWDOWN)

#define PITIE "c05b6f66-3efe-57e1-9eb1-e7f8fd74cb49"
#define NECKER_UNIT "f0e43881-d193-5adf-bdbf-4c60c5b6ac1c"

typedef struct
{
  GAsyncResult *result;
} Wait;

static void
started_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  wait->result = g_object_ref (result);
  g_main_context_wakeup (NULL);
}

/* Runs the main loop (the station's links live there) until condition
 * holds or the deadline passes. The condition may ask the nodes over HTTP:
 * it is checked every 200 ms, and the loop runs freely in between. */
#define ITERATE_UNTIL(seconds, condition, ...)                                                    \
  G_STMT_START                                                                                    \
  {                                                                                               \
    gint64 deadline_ = g_get_monotonic_time () + (gint64) (seconds) * G_USEC_PER_SEC;             \
    while (!(condition))                                                                          \
      {                                                                                           \
        gint64 next_check_ = g_get_monotonic_time () + 200 * 1000;                                \
        if (g_get_monotonic_time () > deadline_)                                                  \
          g_error (__VA_ARGS__);                                                                  \
        while (g_get_monotonic_time () < next_check_)                                             \
          if (!g_main_context_iteration (NULL, FALSE))                                            \
            g_usleep (5 * 1000);                                                                  \
      }                                                                                           \
  }                                                                                               \
  G_STMT_END

static char *
read_trimmed (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return g_strdup (g_strstrip (text));
}

/* GET /api/v1/digest of a served node, NULL if it does not answer. */
static JsonObject *
node_digest (SoupSession *session, const char *dir)
{
  g_autofree char *url = read_trimmed (dir, "api-url");
  g_autofree char *token = read_trimmed (dir, "api-token");
  g_autofree char *uri = g_strconcat (url, "/api/v1/digest", NULL);
  g_autofree char *authorization = g_strdup_printf ("Bearer %s", token);
  g_autoptr (SoupMessage) message = soup_message_new ("GET", uri);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  soup_message_headers_replace (soup_message_get_request_headers (message), "Authorization",
                                authorization);
  body = soup_session_send_and_read (session, message, NULL, NULL);
  if (body == NULL || soup_message_get_status (message) != 200)
    return NULL;
  if (!json_parser_load_from_data (parser, g_bytes_get_data (body, NULL),
                                   (gssize) g_bytes_get_size (body), NULL))
    return NULL;
  root = json_parser_get_root (parser);
  return json_object_ref (json_object_get_object_member (json_node_get_object (root), "buckets"));
}

/* The buckets the simulator never writes: the registry, which every node
 * holds whole once it has converged. */
static const char *const registry_buckets[] = { "hospital", "hospital_status", "site", "unit" };

static gboolean
registry_converged (SoupSession *session, MhDemoNetwork *network, MhNode *station,
                    GString *report)
{
  g_autoptr (JsonObject) station_digest = mh_node_get_digest (station);
  JsonObject *reference = json_object_get_object_member (station_digest, "buckets");
  const char *const *dirs = mh_demo_network_get_node_dirs (network);
  gboolean same = TRUE;

  g_string_truncate (report, 0);
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autoptr (JsonObject) buckets = node_digest (session, dirs[i]);

      if (buckets == NULL)
        return FALSE;
      for (guint b = 0; b < G_N_ELEMENTS (registry_buckets); b++)
        {
          const char *name = registry_buckets[b];
          const char *mine = json_object_get_string_member_with_default (reference, name, "");
          const char *theirs = json_object_get_string_member_with_default (buckets, name, "");

          if (g_strcmp0 (mine, theirs) != 0 || *mine == '\0')
            {
              g_string_append_printf (report, "\n  %s %s: %s (station: %s)", dirs[i], name,
                                      theirs, mine);
              same = FALSE;
            }
        }
    }
  return same;
}

/* Whether a desk run by the simulator has reported a bed count that the
 * station now holds. */
static gboolean
station_has_desk_beds (MhNode *station)
{
  g_autoptr (JsonObject) hospital = mh_node_get_hospital (station, PITIE, NULL);
  JsonObject *beds;
  g_autoptr (GList) categories = NULL;

  if (hospital == NULL || !json_object_has_member (hospital, "beds"))
    return FALSE;
  beds = json_object_get_object_member (hospital, "beds");
  categories = json_object_get_members (beds);
  for (GList *l = categories; l != NULL; l = l->next)
    {
      JsonObject *bed = json_object_get_object_member (beds, l->data);

      if (g_strcmp0 (json_object_get_string_member_with_default (bed, "reported_by", NULL),
                     "Pitié-Salpêtrière desk")
          == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
station_has_moved_unit (MhNode *station, double start_lat, double start_lon)
{
  g_autoptr (JsonObject) unit = mh_node_get_unit (station, NECKER_UNIT, NULL);

  if (unit == NULL || json_object_get_null_member (unit, "lat"))
    return FALSE;
  return json_object_get_double_member (unit, "lat") != start_lat
         || json_object_get_double_member (unit, "lon") != start_lon;
}

static gboolean
station_has_foreign_message (MhNode *station)
{
  g_autoptr (JsonArray) messages = mh_node_list_messages (station, NULL, 0, 1000, NULL);

  for (guint i = 0; messages != NULL && i < json_array_get_length (messages); i++)
    {
      JsonObject *message = json_array_get_object_element (messages, i);

      if (g_strcmp0 (json_object_get_string_member (message, "author_site"),
                     mh_node_get_site_id (station))
          != 0)
        return TRUE;
    }
  return FALSE;
}

static void
remember_exited (char **exited, const char *name)
{
  g_free (*exited);
  *exited = g_strdup (name);
}

static gboolean
pid_exists (GPid pid)
{
  return kill (pid, 0) == 0 || errno != ESRCH;
}

static void
test_live (void)
{
  g_autoptr (MhDemoNetwork) network = mh_demo_network_new (NULL, NULL);
  g_autoptr (GProxyResolver) direct = g_simple_proxy_resolver_new (NULL, NULL);
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 30, "proxy-resolver",
                                                                  direct, NULL);
  g_autoptr (MhNode) station = NULL;
  g_autoptr (GArray) pids = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) report = g_string_new (NULL);
  g_autofree char *dir = NULL;
  g_autofree char *stale = NULL;
  Wait wait = { NULL };
  double start_lat = 48.8453, start_lon = 2.3151; /* Necker 1 in the registry */
  gint64 started;

  /* A folder left by an app that was killed: its owner is gone (no pid
   * is above the kernel's largest, 2^22). */
  {
    g_autofree char *hub = NULL;
    g_autofree char *owner_path = NULL;

    stale = g_build_filename (g_get_tmp_dir (), "medhead-demo-testSTALE", NULL);
    hub = g_build_filename (stale, "hub", NULL);
    g_assert_cmpint (g_mkdir_with_parents (hub, 0700), ==, 0);
    owner_path = g_build_filename (stale, "app.pid", NULL);
    g_file_set_contents (owner_path, "999999999\n", -1, &error);
    g_assert_no_error (error);
  }

  started = g_get_monotonic_time ();
  mh_demo_network_start_async (network, NULL, started_cb, &wait);
  ITERATE_UNTIL (START_TIMEOUT_S, wait.result != NULL, "the demo network did not start");
  mh_demo_network_start_finish (network, wait.result, &error);
  g_clear_object (&wait.result);
  g_assert_no_error (error);
  g_assert_true (mh_demo_network_is_running (network));
  g_test_message ("started in %.1f s", (g_get_monotonic_time () - started) / 1e6);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));

  dir = g_strdup (mh_demo_network_get_dir (network));
  g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));
  pids = mh_demo_network_get_pids (network);
  /* A hub, three desks, two crews and the simulator. */
  g_assert_cmpuint (pids->len, ==, 7);
  for (guint i = 0; i < pids->len; i++)
    g_assert_true (pid_exists (g_array_index (pids, GPid, i)));

  /* The station joins as the app's does. */
  station = mh_demo_network_open_station (network, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mh_node_get_hospital_id (station), ==, MH_DEMO_STATION_HOSPITAL);
  mh_node_start_sync (station, NULL, NULL, &error);
  g_assert_no_error (error);

  ITERATE_UNTIL (CONVERGE_TIMEOUT_S, mh_node_get_hospital (station, MH_DEMO_STATION_HOSPITAL, NULL),
                 "the station did not receive its own hospital from the hub");
  ITERATE_UNTIL (CONVERGE_TIMEOUT_S, registry_converged (session, network, station, report),
                 "the registry did not converge:%s", report->str);

  /* The simulator's changes arrive, through the hub, at the station. */
  ITERATE_UNTIL (CONVERGE_TIMEOUT_S, station_has_desk_beds (station),
                 "no bed count from the Pitié-Salpêtrière desk reached the station");
  ITERATE_UNTIL (CONVERGE_TIMEOUT_S, station_has_moved_unit (station, start_lat, start_lon),
                 "no new position of SMUR Necker 1 reached the station");
  ITERATE_UNTIL (CONVERGE_TIMEOUT_S, station_has_foreign_message (station),
                 "no message from another node reached the station");

  /* A write at the station goes out to the network too. */
  {
    g_autoptr (JsonObject) fields = json_object_new ();

    json_object_set_int_member (fields, "available", 3);
    json_object_set_int_member (fields, "baseline", 17);
    mh_node_put_beds (station, MH_DEMO_STATION_HOSPITAL, "burn", fields, &error);
    g_assert_no_error (error);
    ITERATE_UNTIL (CONVERGE_TIMEOUT_S, registry_converged (session, network, station, report),
                   "the registry diverged:%s", report->str);
  }

  /* A child that dies is reported (the app says so in a toast). */
  {
    GPid simulator = g_array_index (pids, GPid, pids->len - 1);
    g_autofree char *exited = NULL;

    g_signal_connect_swapped (network, "node-exited", G_CALLBACK (remember_exited), &exited);
    g_assert_cmpint (kill (simulator, SIGKILL), ==, 0);
    ITERATE_UNTIL (60, exited != NULL, "the simulator's death was not reported");
    g_assert_cmpstr (exited, ==, "simulator");
    g_assert_true (mh_demo_network_is_running (network));
  }

  /* Stopping leaves nothing behind. */
  g_clear_object (&station);
  mh_demo_network_stop (network);
  g_assert_false (mh_demo_network_is_running (network));
  for (guint i = 0; i < pids->len; i++)
    if (pid_exists (g_array_index (pids, GPid, i)))
      g_error ("process %d outlived the demo network", (int) g_array_index (pids, GPid, i));
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

static void
test_no_program (void)
{
  g_autoptr (MhDemoNetwork) network = mh_demo_network_new ("/nonexistent/medhead-node", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) pids = NULL;
  Wait wait = { NULL };

  mh_demo_network_start_async (network, NULL, started_cb, &wait);
  ITERATE_UNTIL (10, wait.result != NULL, "start did not finish");
  g_assert_false (mh_demo_network_start_finish (network, wait.result, &error));
  g_assert_error (error, MH_DEMO_NETWORK_ERROR, MH_DEMO_NETWORK_ERROR_NO_PROGRAM);
  g_clear_object (&wait.result);
  g_assert_null (mh_demo_network_get_dir (network));
  pids = mh_demo_network_get_pids (network);
  g_assert_cmpuint (pids->len, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);

  g_test_add_func ("/demo-network/no-program", test_no_program);
  g_test_add_func ("/demo-network/live", test_live);
  return g_test_run ();
}

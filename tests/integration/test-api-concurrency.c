/* test-api-concurrency.c: many clients at once, and stopping with nothing lost
 *
 * - 8 clients x 50 requests, mixing reads and bed writes on one hub: every
 *   request succeeds and the final counts are the last each client wrote;
 * - N bed writes, SIGTERM right after the last answer: the node exits 0,
 *   and once restarted holds all N;
 * - SIGTERM while clients are writing: every write that was answered 2xx
 *   is there after a restart (a write whose answer was cut may or may not
 *   be, but nothing older comes back).
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "mh-test-node.h"

#define N_CLIENTS 8
#define N_REQUESTS 50

static const char *const categories[] = { "adult_icu", "medical_surgical", "pediatrics",
                                           "psychiatric" };

/* A registry of n plain hospitals around Paris: enough to spread writes,
 * small enough to import quickly under sanitizers. */
static void
import_hospitals (MhTestNode *node, guint n)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) document = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_string_value (builder, "medhead-registry/1");
  json_builder_set_member_name (builder, "hospitals");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("6d1f0c3e-8a4b-4c2d-9e7f-%012u", i);
      g_autofree char *name = g_strdup_printf ("Hôpital d'essai %u", i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, id);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "lat");
      json_builder_add_double_value (builder, 48.80 + i * 0.01);
      json_builder_set_member_name (builder, "lon");
      json_builder_add_double_value (builder, 2.30 + (i % 5) * 0.02);
      json_builder_set_member_name (builder, "specialties");
      json_builder_begin_array (builder);
      json_builder_add_int_value (builder, 21);
      json_builder_end_array (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  document = json_builder_get_root (builder);
  mh_test_node_import_document (node, document);
}

/* The first n hospital ids of the node, in the order it lists them. */
static GPtrArray *
hospital_ids (MhTestNode *node, guint n)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, "GET", "/api/v1/hospitals", NULL);
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  JsonArray *list;

  g_assert_cmpuint (reply->status, ==, 200);
  list = mh_test_reply_array (reply);
  g_assert_cmpuint (json_array_get_length (list), >=, n);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (ids, g_strdup (json_object_get_string_member (
                            json_array_get_object_element (list, i), "id")));
  return ids;
}

static gint64
bed_available (MhTestNode *node, const char *hospital, const char *category)
{
  g_autoptr(JsonObject) object = NULL;
  g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s", hospital);
  JsonObject *beds, *bed;

  object = mh_test_node_get_object (node, path);
  beds = json_object_get_object_member (object, "beds");
  g_assert_nonnull (beds);
  bed = json_object_get_object_member (beds, category);
  g_assert_nonnull (bed);
  return json_object_get_int_member (bed, "available");
}

static guint
put_beds (SoupSession *session, MhTestNode *node, const char *hospital, const char *category,
          gint64 available)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s/beds/%s", hospital, category);
  g_autofree char *body = g_strdup_printf ("{\"available\": %" G_GINT64_FORMAT
                                           ", \"baseline\": 100000, \"surge_24h\": 0}",
                                           available);
  g_autoptr(MhTestReply) reply = mh_test_request (session, node->url, "PUT", path, node->token,
                                                  "application/json", body, -1);

  return reply->status;
}

/* ------------------------------------------------------------------------ */

typedef struct
{
  MhTestNode *node;
  const char *hospital; /* this client's own hospital */
  guint index;
  guint failures;
  gint64 last_written;
} Client;

static gpointer
mixed_client_thread (gpointer data)
{
  Client *client = data;
  g_autoptr(SoupSession) session = mh_test_session_new ();

  for (guint i = 0; i < N_REQUESTS; i++)
    {
      g_autoptr(MhTestReply) reply = NULL;
      guint status;

      switch (i % 4)
        {
        case 0:
        case 2:
          /* Writes: this client's hospital only, so the last value is known. */
          client->last_written = client->index * 1000 + i;
          status = put_beds (session, client->node, client->hospital,
                             categories[i % G_N_ELEMENTS (categories)], client->last_written);
          break;
        case 1:
          reply = mh_test_request (session, client->node->url, "GET",
                                   "/api/v1/hospitals/nearest?lat=48.85&lon=2.35&specialty=21"
                                   "&bed=adult_icu&limit=5",
                                   client->node->token, NULL, NULL, 0);
          status = reply->status;
          break;
        default:
          {
            g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s", client->hospital);

            reply = mh_test_request (session, client->node->url, "GET", path,
                                     client->node->token, NULL, NULL, 0);
            status = reply->status;
          }
          break;
        }
      if (status != 200)
        {
          g_printerr ("client %u request %u: status %u\n", client->index, i, status);
          client->failures++;
        }
    }
  return NULL;
}

static void
test_concurrent_clients (void)
{
  g_autoptr(MhTestNode) node = mh_test_node_new ("hub", "Busy hub", NULL);
  g_autoptr(GPtrArray) ids = NULL;
  Client clients[N_CLIENTS] = { 0 };
  GThread *threads[N_CLIENTS];

  import_hospitals (node, N_CLIENTS);
  mh_test_node_start (node);
  ids = hospital_ids (node, N_CLIENTS);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i].node = node;
      clients[i].hospital = g_ptr_array_index (ids, i);
      clients[i].index = i;
      threads[i] = g_thread_new ("client", mixed_client_thread, &clients[i]);
    }
  for (guint i = 0; i < N_CLIENTS; i++)
    g_thread_join (threads[i]);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      /* The last two writes of each client went to these categories. */
      guint last = N_REQUESTS - 1;
      guint last_even = last % 2 == 0 ? last : last - 1;
      guint second_last_even = last_even - 2;

      g_assert_cmpuint (clients[i].failures, ==, 0);
      g_assert_cmpint (bed_available (node, clients[i].hospital,
                                      categories[last_even % G_N_ELEMENTS (categories)]),
                       ==, i * 1000 + last_even);
      g_assert_cmpint (bed_available (node, clients[i].hospital,
                                      categories[second_last_even % G_N_ELEMENTS (categories)]),
                       ==, i * 1000 + second_last_even);
    }

  g_assert_cmpint (mh_test_node_stop (node, SIGTERM), ==, 0);
}

/* ------------------------------------------------------------------------ */

static void
test_sigterm_nothing_lost (void)
{
  g_autoptr(MhTestNode) node = mh_test_node_new ("hub", "Stopping hub", NULL);
  g_autoptr(GPtrArray) ids = NULL;
  const guint n_writes = 200;
  const guint n_hospitals = 20;

  import_hospitals (node, n_hospitals);
  mh_test_node_start (node);
  ids = hospital_ids (node, n_hospitals);

  /* Each (hospital, category) pair gets a distinct, last value. */
  for (guint i = 0; i < n_writes; i++)
    {
      const char *hospital = g_ptr_array_index (ids, i % n_hospitals);
      const char *category = categories[(i / n_hospitals) % G_N_ELEMENTS (categories)];

      g_assert_cmpuint (put_beds (node->session, node, hospital, category, 5000 + i), ==, 200);
    }
  /* Each answered once on the disk, with deferred durability on. */
  {
    g_autofree char *marker = g_build_filename (node->dir, "replica.db.running", NULL);

    g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
  }
  /* Right after the last 2xx. */
  g_assert_cmpint (mh_test_node_stop (node, SIGTERM), ==, 0);

  mh_test_node_start (node);
  for (guint i = n_writes - n_hospitals * G_N_ELEMENTS (categories); i < n_writes; i++)
    {
      const char *hospital = g_ptr_array_index (ids, i % n_hospitals);
      const char *category = categories[(i / n_hospitals) % G_N_ELEMENTS (categories)];

      g_assert_cmpint (bed_available (node, hospital, category), ==, 5000 + i);
    }
  g_assert_cmpint (mh_test_node_stop (node, SIGINT), ==, 0);
}

/* ------------------------------------------------------------------------ */

typedef struct
{
  MhTestNode *node;
  const char *hospital;
  gint64 acknowledged; /* last value answered 200, or -1 */
  gint64 in_flight;    /* value sent when the node went away, or -1 */
  guint writes;
  gint *go;
} Writer;

static gpointer
writer_thread (gpointer data)
{
  Writer *writer = data;
  g_autoptr(SoupSession) session = mh_test_session_new ();
  g_autofree char *path = g_strdup_printf ("/api/v1/hospitals/%s/beds/adult_icu",
                                           writer->hospital);
  g_autofree char *uri = g_strconcat (writer->node->url, path, NULL);
  g_autofree char *authorization = g_strdup_printf ("Bearer %s", writer->node->token);

  writer->acknowledged = -1;
  writer->in_flight = -1;
  for (gint64 value = 1;; value++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("PUT", uri);
      g_autofree char *body = g_strdup_printf ("{\"available\": %" G_GINT64_FORMAT
                                               ", \"baseline\": 100000}",
                                               value);
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
      g_autoptr(GBytes) answer = NULL;
      g_autoptr(GError) error = NULL;

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    authorization);
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
      answer = soup_session_send_and_read (session, msg, NULL, &error);
      if (answer != NULL && soup_message_get_status (msg) == 200)
        {
          writer->acknowledged = value;
          if (++writer->writes == 20)
            g_atomic_int_inc (writer->go);
          continue;
        }
      /* Refused (503 while stopping) or cut: the node is going away. */
      g_assert_true (answer == NULL || soup_message_get_status (msg) == 503);
      writer->in_flight = value;
      break;
    }
  return NULL;
}

static void
test_sigterm_under_load (void)
{
  g_autoptr(MhTestNode) node = mh_test_node_new ("hub", "Loaded hub", NULL);
  g_autoptr(GPtrArray) ids = NULL;
  Writer writers[N_CLIENTS] = { 0 };
  GThread *threads[N_CLIENTS];
  gint go = 0;

  import_hospitals (node, N_CLIENTS);
  mh_test_node_start (node);
  ids = hospital_ids (node, N_CLIENTS);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      writers[i].node = node;
      writers[i].hospital = g_ptr_array_index (ids, i);
      writers[i].go = &go;
      threads[i] = g_thread_new ("writer", writer_thread, &writers[i]);
    }
  /* Stop once every writer is well under way. */
  while (g_atomic_int_get (&go) < N_CLIENTS)
    g_usleep (1000);
  g_assert_cmpint (mh_test_node_stop (node, SIGTERM), ==, 0);
  for (guint i = 0; i < N_CLIENTS; i++)
    g_thread_join (threads[i]);

  mh_test_node_start (node);
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      gint64 stored = bed_available (node, writers[i].hospital, "adult_icu");

      g_test_message ("writer %u: acknowledged %" G_GINT64_FORMAT ", stored %" G_GINT64_FORMAT,
                      i, writers[i].acknowledged, stored);
      g_assert_cmpint (writers[i].acknowledged, >=, 20);
      g_assert_true (stored == writers[i].acknowledged || stored == writers[i].in_flight);
    }
  g_assert_cmpint (mh_test_node_stop (node, SIGTERM), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/api/concurrency/clients", test_concurrent_clients);
  g_test_add_func ("/api/stop/sigterm-nothing-lost", test_sigterm_nothing_lost);
  g_test_add_func ("/api/stop/sigterm-under-load", test_sigterm_under_load);

  return g_test_run ();
}

/* test-hardening.c: limits and timeouts of the REST API against hostile or
 * broken clients, file modes, and no patient data in a node's logs
 *
 * Each test runs real medhead-node processes on 127.0.0.1 and speaks to
 * them over raw sockets where an HTTP library would be too polite: a
 * client that sends its headers a byte at a time, one that says nothing,
 * headers over the limit, a body far over the limit. The request deadline
 * is shortened to 1.5 s (MEDHEAD_API_REQUEST_TIMEOUT_MS) so the tests are
 * quick; the default is 30 s.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "mh-test-node.h"

#define UNIT "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define SCENARIO "data/demo/reference-scenario.json"
#define TIMEOUT_MS 1500

static MhTestNode *hub;

static guint
node_port (MhTestNode *node)
{
  const char *colon = strrchr (node->url, ':');

  g_assert_nonnull (colon);
  return (guint) g_ascii_strtoull (colon + 1, NULL, 10);
}

static GSocket *
raw_connect (MhTestNode *node)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, node_port (node));
  g_autoptr(GError) error = NULL;
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_socket_set_timeout (socket, 20);
  g_socket_connect (socket, address, NULL, &error);
  g_assert_no_error (error);
  return socket;
}

static gboolean
raw_send (GSocket *socket, const char *data, gsize length)
{
  while (length > 0)
    {
      gssize sent = g_socket_send (socket, data, length, NULL, NULL);

      if (sent <= 0)
        return FALSE;
      data += sent;
      length -= sent;
    }
  return TRUE;
}

/* Everything the server sends until it closes (or the socket times out). */
static char *
raw_read_all (GSocket *socket)
{
  GString *text = g_string_new (NULL);
  char buffer[4096];

  for (;;)
    {
      gssize got = g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL);

      if (got <= 0)
        break;
      g_string_append_len (text, buffer, got);
    }
  return g_string_free (text, FALSE);
}

/* TRUE once the server has closed its side: a read finds the end. */
static gboolean
is_closed_by_server (GSocket *socket)
{
  char byte;
  gssize got;

  if (!g_socket_condition_check (socket, G_IO_IN | G_IO_HUP | G_IO_ERR))
    return FALSE;
  got = g_socket_receive_with_blocking (socket, &byte, 1, FALSE, NULL, NULL);
  return got <= 0;
}

static guint
status_of (const char *response)
{
  g_assert_true (g_str_has_prefix (response, "HTTP/1.1 "));
  return (guint) g_ascii_strtoull (response + 9, NULL, 10);
}

static JsonObject *
json_body_of (const char *response)
{
  const char *body = strstr (response, "\r\n\r\n");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (body);
  json_parser_load_from_data (parser, body + 4, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
assert_json_error (const char *response, guint status, const char *code, const char *field)
{
  g_autoptr(JsonObject) body = NULL;
  JsonObject *error;

  g_assert_cmpuint (status_of (response), ==, status);
  body = json_body_of (response);
  error = json_object_get_object_member (body, "error");
  g_assert_nonnull (error);
  g_assert_cmpstr (json_object_get_string_member (error, "code"), ==, code);
  if (field != NULL)
    g_assert_cmpstr (json_object_get_string_member_with_default (error, "field", ""), ==, field);
}

static void
assert_status_ok (MhTestNode *node)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, "GET", "/api/v1/status", NULL);

  g_assert_cmpuint (reply->status, ==, 200);
}

/* A client dribbling its headers a byte every 100 ms neither stalls another
 * client nor keeps its connection past the deadline. */
static void
test_slow_headers (void)
{
  g_autofree char *request = g_strdup_printf ("GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                              "Authorization: Bearer %s\r\n"
                                              "X-Padding: %0200d\r\n\r\n", hub->token, 0);
  g_autoptr(GSocket) slow = raw_connect (hub);
  gint64 start = g_get_monotonic_time ();
  gint64 closed_after = -1;
  gboolean asked_other = FALSE;

  for (gsize i = 0; i < strlen (request); i++)
    {
      gint64 elapsed_ms = (g_get_monotonic_time () - start) / 1000;

      if (!raw_send (slow, request + i, 1) || is_closed_by_server (slow))
        {
          closed_after = elapsed_ms;
          break;
        }
      if (!asked_other && elapsed_ms > 300)
        {
          gint64 t0 = g_get_monotonic_time ();

          assert_status_ok (hub);
          g_test_message ("another client's request took %.1f ms",
                          (g_get_monotonic_time () - t0) / 1000.0);
          /* Milliseconds normally; generous for sanitizer builds on a busy machine. */
          g_assert_cmpint (g_get_monotonic_time () - t0, <, 3000 * 1000);
          asked_other = TRUE;
        }
      if (elapsed_ms > 10 * TIMEOUT_MS)
        break;
      g_usleep (100 * 1000);
    }
  g_test_message ("the slow client was cut after %" G_GINT64_FORMAT " ms", closed_after);
  g_assert_true (asked_other);
  g_assert_cmpint (closed_after, >=, TIMEOUT_MS - 100);
  g_assert_cmpint (closed_after, <, TIMEOUT_MS + 4000);
  assert_status_ok (hub);
}

/* A connection that never says anything is closed at the deadline. */
static void
test_silent_connection (void)
{
  g_autoptr(GSocket) silent = raw_connect (hub);
  gint64 start = g_get_monotonic_time ();
  g_autofree char *rest = NULL;
  gint64 elapsed_ms;

  rest = raw_read_all (silent);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_test_message ("closed after %" G_GINT64_FORMAT " ms", elapsed_ms);
  g_assert_cmpint (elapsed_ms, >=, TIMEOUT_MS - 100);
  g_assert_cmpint (elapsed_ms, <, TIMEOUT_MS + 4000);
  g_assert_cmpstr (rest, ==, "");
}

/* Headers over 16 KiB together: 431 with a JSON error, connection closed. */
static void
test_large_headers (void)
{
  g_autofree char *padding = g_strnfill (20 * 1024, 'a');
  g_autofree char *request = g_strdup_printf ("GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                              "Authorization: Bearer %s\r\nX-Padding: %s\r\n\r\n",
                                              hub->token, padding);
  g_autoptr(GSocket) socket = raw_connect (hub);
  g_autofree char *response = NULL;

  g_assert_true (raw_send (socket, request, strlen (request)));
  response = raw_read_all (socket);
  assert_json_error (response, 431, "too_large", "headers");
  assert_status_ok (hub);
}

/* Far over libsoup's own 64 KiB: refused or cut, never buffered whole, and
 * the node goes on serving. */
static void
test_huge_headers (void)
{
  g_autofree char *padding = g_strnfill (8 * 1024, 'b');
  g_autoptr(GSocket) socket = raw_connect (hub);
  g_autofree char *response = NULL;
  const char *start = "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  guint sent = 0;

  raw_send (socket, start, strlen (start));
  /* 4 MiB of headers, or as much as the node takes before it gives up. */
  for (; sent < 512; sent++)
    {
      g_autofree char *line = g_strdup_printf ("X-Pad-%u: %s\r\n", sent, padding);
      if (!raw_send (socket, line, strlen (line)))
        break;
    }
  g_test_message ("%u KiB of headers sent before the node stopped reading", sent * 8);
  response = raw_read_all (socket);
  if (*response != '\0')
    {
      g_test_message ("answer: %.40s", response);
      g_assert_cmpuint (status_of (response), >=, 400);
      g_assert_cmpuint (status_of (response), <, 500);
    }
  /* What the node keeps is bounded by libsoup (64 KiB of headers); what
   * the kernel buffers before the node closes is not ours to bound. */
  assert_status_ok (hub);
}

/* A body declared at 1 GiB is refused with 413 before it is sent. */
static void
test_huge_body (void)
{
  g_autofree char *request = g_strdup_printf ("POST /api/v1/hospitals HTTP/1.1\r\n"
                                              "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                                              "Content-Type: application/json\r\n"
                                              "Content-Length: 1073741824\r\n\r\n{\"name\":",
                                              hub->token);
  g_autoptr(GSocket) socket = raw_connect (hub);
  g_autofree char *response = NULL;
  gint64 start = g_get_monotonic_time ();
  char buffer[4096];
  gssize got;
  GString *text = g_string_new (NULL);

  g_assert_true (raw_send (socket, request, strlen (request)));
  /* Read until the status line and the JSON body are in, without sending
   * the rest of the gigabyte. */
  while (strstr (text->str, "}}") == NULL
         && (got = g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL)) > 0)
    g_string_append_len (text, buffer, got);
  response = g_string_free (text, FALSE);
  g_test_message ("413 after %.1f ms", (g_get_monotonic_time () - start) / 1000.0);
  assert_json_error (response, 413, "too_large", "body");
  g_assert_cmpint (g_get_monotonic_time () - start, <, TIMEOUT_MS * 1000);
  assert_status_ok (hub);
}

/* Past the maximum number of connections, a new one is closed at once; the
 * node serves again once they go. */
static void
test_max_connections (void)
{
  g_autoptr(MhTestNode) node = mh_test_node_new ("hub", "Busy hub", NULL);
  GSocket *held[8];
  g_autoptr(GSocket) extra = NULL;
  g_autofree char *rest = NULL;
  gint64 start;
  gboolean served = FALSE;

  g_setenv ("MEDHEAD_API_MAX_CONNECTIONS", "8", TRUE);
  mh_test_node_start (node);
  g_unsetenv ("MEDHEAD_API_MAX_CONNECTIONS");

  for (guint i = 0; i < G_N_ELEMENTS (held); i++)
    held[i] = raw_connect (node);
  /* Let the node take them all in. */
  g_usleep (300 * 1000);
  extra = raw_connect (node);
  start = g_get_monotonic_time ();
  rest = raw_read_all (extra);
  g_assert_cmpstr (rest, ==, "");
  g_assert_cmpint (g_get_monotonic_time () - start, <, (TIMEOUT_MS - 500) * 1000);

  for (guint i = 0; i < G_N_ELEMENTS (held); i++)
    {
      g_socket_close (held[i], NULL);
      g_object_unref (held[i]);
    }
  /* Raw requests: a connection refused while the node has not yet seen
   * the others go is an error, not an answer. */
  for (guint attempt = 0; attempt < 50 && !served; attempt++)
    {
      g_autofree char *request = g_strdup_printf ("GET /api/v1/status HTTP/1.1\r\n"
                                                  "Host: 127.0.0.1\r\nConnection: close\r\n"
                                                  "Authorization: Bearer %s\r\n\r\n",
                                                  node->token);
      g_autoptr(GSocket) socket = raw_connect (node);
      g_autofree char *response = NULL;

      raw_send (socket, request, strlen (request));
      response = raw_read_all (socket);
      served = g_str_has_prefix (response, "HTTP/1.1 200");
      if (!served)
        g_usleep (100 * 1000);
    }
  g_assert_true (served);
  assert_status_ok (node);
}

static gboolean
contains_any (const char *text, const char *const *needles, const char **found)
{
  for (guint i = 0; needles[i] != NULL; i++)
    if (strstr (text, needles[i]) != NULL)
      {
        *found = needles[i];
        return TRUE;
      }
  return FALSE;
}

static void
assert_mode (const char *dir, const char *name, guint mode)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    {
      /* -wal and -shm exist only while the database is open in WAL mode. */
      g_assert_true (g_str_has_suffix (name, "-wal") || g_str_has_suffix (name, "-shm"));
      return;
    }
  g_test_message ("%s: %04o", name, st.st_mode & 07777);
  g_assert_cmpint (st.st_mode & 0777, ==, mode);
}

/* A crew node with every log on (G_MESSAGES_DEBUG=all) through patient
 * writes, good and bad: no patient field reaches its output. The replica
 * files and the folder are the user's alone. */
static void
test_no_patient_data_in_logs (void)
{
  /* A hub writes patients, transfers and chat like a crew does, and holds
   * the hospitals a transfer needs. */
  g_autoptr(MhTestNode) crew = mh_test_node_new ("hub", "Dispatch", NULL);
  g_autofree char *parent = g_path_get_dirname (crew->dir);
  g_autofree char *log = NULL;
  g_autofree char *patient_body = NULL, *patient_path = NULL, *transfer_body = NULL;
  g_autofree char *message_body = NULL;
  g_autoptr(MhTestReply) patient = NULL;
  g_autoptr(MhTestReply) transfer = NULL;
  const char *const secrets[] = {
    "Zephyrine", "Quixbolt", "KRAKATOA-FALL", "ZANZIBARITIS", "Oxyvelnor", "PEANUTZOG",
    "GLORPMAB", "WOBBLEFRACT", "Xylodrome", "MORBLEX", "Vantablur", NULL,
  };
  const char *found = NULL;

  mh_test_node_import (crew, SCENARIO);
  crew->log_path = g_build_filename (parent, "node.log", NULL);
  mh_test_node_start (crew);

  patient_body = g_strdup (
    "{\"unit_id\": \"" UNIT "\", \"age_estimate\": 44, \"sex\": \"male\", \"triage\": \"immediate\", \"alert\": \"trauma\", "
    "\"complaint\": \"Zephyrine Quixbolt fell\", \"mechanism\": \"KRAKATOA-FALL from scaffold\", "
    "\"injuries\": \"ZANZIBARITIS of the left femur\", \"medications\": \"Oxyvelnor 5 mg\", "
    "\"allergies\": \"PEANUTZOG\", \"bed_category\": \"medical_surgical\"}");
  patient = mh_test_node_request (crew, "POST", "/api/v1/patients", patient_body);
  g_assert_cmpuint (patient->status, ==, 201);
  patient_path = g_strdup_printf ("/api/v1/patients/%s",
                                  json_object_get_string_member (mh_test_reply_object (patient),
                                                                 "id"));
  {
    g_autoptr(MhTestReply) r = mh_test_node_request (
      crew, "PATCH", patient_path, "{\"injuries\": \"GLORPMAB and WOBBLEFRACT\"}");
    g_assert_cmpuint (r->status, ==, 200);
  }
  {
    g_autofree char *path = g_strdup_printf ("%s/observations", patient_path);
    g_autoptr(MhTestReply) r = mh_test_node_request (crew, "POST", path,
                                                     "{\"hr\": 131, \"gcs\": 11}");
    g_assert_cmpuint (r->status, ==, 201);
  }
  {
    g_autofree char *path = g_strdup_printf ("%s/interventions", patient_path);
    g_autoptr(MhTestReply) r = mh_test_node_request (
      crew, "POST", path, "{\"drug\": \"Xylodrome\", \"dose\": \"2 g\", \"route\": \"iv\"}");
    g_assert_cmpuint (r->status, ==, 201);
  }
  /* Refused writes too: their values must not be echoed into a log. */
  {
    g_autoptr(MhTestReply) r = mh_test_node_request (crew, "PATCH", patient_path,
                                                     "{\"sex\": \"MORBLEX\"}");
    g_assert_cmpuint (r->status, ==, 400);
  }
  transfer_body = g_strdup_printf ("{\"patient_id\": \"%s\", \"hospital_id\": \"%s\", "
                                   "\"eta\": %" G_GINT64_FORMAT "}",
                                   json_object_get_string_member (mh_test_reply_object (patient),
                                                                  "id"),
                                   FRED_BROOKS, g_get_real_time () / 1000 + 15 * 60 * 1000);
  transfer = mh_test_node_request (crew, "POST", "/api/v1/transfers", transfer_body);
  g_assert_cmpuint (transfer->status, ==, 201);
  message_body = g_strdup_printf ("{\"channel\": \"transfer:%s\", \"body\": \"Vantablur pupils, "
                                  "Zephyrine asks for her son\"}",
                                  json_object_get_string_member (mh_test_reply_object (transfer),
                                                                 "id"));
  {
    g_autoptr(MhTestReply) r = mh_test_node_request (crew, "POST", "/api/v1/messages",
                                                     message_body);
    g_assert_cmpuint (r->status, ==, 201);
  }

  g_assert_cmpint (mh_test_node_stop (crew, SIGTERM), ==, 0);
  g_assert_true (g_file_get_contents (crew->log_path, &log, NULL, NULL));
  /* The capture works: debug lines are there. */
  g_assert_nonnull (strstr (log, "POST /api/v1/patients"));
  if (contains_any (log, secrets, &found))
    g_error ("patient data in the node's output: %s\n%s", found, log);

  /* Files: the user's alone. */
  {
    GStatBuf st;

    g_assert_cmpint (g_stat (crew->dir, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  }
  assert_mode (crew->dir, "replica.db", 0600);
  assert_mode (crew->dir, "replica.db-wal", 0600);
  assert_mode (crew->dir, "replica.db-shm", 0600);
  assert_mode (crew->dir, "api-token", 0600);
  assert_mode (crew->dir, "identity-key.pem", 0600);

  /* A replica restored readable by others is the user's alone again. */
  {
    g_autofree char *replica = g_build_filename (crew->dir, "replica.db", NULL);

    g_assert_cmpint (g_chmod (replica, 0644), ==, 0);
    mh_test_node_start (crew);
    /* Serving (and so past installing its SIGTERM handler, which comes
     * after the api-url file the start waits for). */
    assert_status_ok (crew);
    assert_mode (crew->dir, "replica.db", 0600);
    assert_mode (crew->dir, "replica.db-wal", 0600);
    assert_mode (crew->dir, "replica.db-shm", 0600);
    g_assert_cmpint (mh_test_node_stop (crew, SIGTERM), ==, 0);
  }
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_setenv ("MEDHEAD_API_REQUEST_TIMEOUT_MS", G_STRINGIFY (TIMEOUT_MS), TRUE);

  hub = mh_test_node_new ("hub", "Hub", NULL);
  mh_test_node_import (hub, SCENARIO);
  mh_test_node_start (hub);

  g_test_add_func ("/hardening/slow-headers", test_slow_headers);
  g_test_add_func ("/hardening/silent-connection", test_silent_connection);
  g_test_add_func ("/hardening/large-headers", test_large_headers);
  g_test_add_func ("/hardening/huge-headers", test_huge_headers);
  g_test_add_func ("/hardening/huge-body", test_huge_body);
  g_test_add_func ("/hardening/max-connections", test_max_connections);
  g_test_add_func ("/hardening/no-patient-data-in-logs", test_no_patient_data_in_logs);

  status = g_test_run ();
  mh_test_node_free (hub);
  return status;
}

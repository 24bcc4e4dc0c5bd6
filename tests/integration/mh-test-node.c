#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>

#include "mh-test-node.h"
#include "mh-test-util.h"

/* ASan builds start slowly: be patient before calling a node dead. */
#define START_TIMEOUT_S 60

SoupSession *
mh_test_session_new (void)
{
  g_autoptr(GProxyResolver) direct = g_simple_proxy_resolver_new (NULL, NULL);

  /* GSocketClient still asks the default resolver, whose GNOME module
   * needs GSettings schemas that isolated test dirs do not have. */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", FALSE);
  /* A node busy verifying a catch-up's signatures answers late under
   * AddressSanitizer, several times slower than a plain build. */
  return soup_session_new_with_options ("timeout", g_getenv ("ASAN_OPTIONS") != NULL ? 480 : 120,
                                        "proxy-resolver", direct, NULL);
}

/* A test that fails aborts: its nodes must not outlive it. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn_logged (const char *const *argv, GSubprocessFlags flags, const char *log_path,
              GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  if (log_path != NULL)
    {
      /* Every message on, into the file. */
      g_subprocess_launcher_set_stdout_file_path (launcher, log_path);
      g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", "all", TRUE);
    }
  return g_subprocess_launcher_spawnv (launcher, argv, error);
}

static GSubprocess *
spawn (const char *const *argv, GSubprocessFlags flags, GError **error)
{
  return spawn_logged (argv, flags, NULL, error);
}

const char *
mh_test_node_program (void)
{
  const char *program = g_getenv ("MEDHEAD_NODE_BIN");

  if (program == NULL || !g_file_test (program, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("MEDHEAD_NODE_BIN must name the medhead-node program (got %s)",
             program != NULL ? program : "nothing");
  return program;
}

char *
mh_test_source_file (const char *relative)
{
  const char *root = g_getenv ("MEDHEAD_SOURCE_ROOT");

  g_assert_nonnull (root);
  return g_build_filename (root, relative, NULL);
}

int
mh_test_cli_argv (const char *const *args, char **out, char **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stdout_text = NULL;
  g_autofree char *stderr_text = NULL;

  g_ptr_array_add (argv, (gpointer) mh_test_node_program ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  process = spawn ((const char *const *) argv->pdata,
                   G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &stdout_text, &stderr_text, &error);
  g_assert_no_error (error);

  /* Keep what the program said in the test log. */
  if (stderr_text != NULL && *stderr_text != '\0')
    g_test_message ("medhead-node %s: stderr: %s", args[0] != NULL ? args[0] : "", stderr_text);
  if (out != NULL)
    *out = g_steal_pointer (&stdout_text);
  if (err != NULL)
    *err = g_steal_pointer (&stderr_text);

  if (g_subprocess_get_if_signaled (process))
    return 128 + g_subprocess_get_term_sig (process);
  return g_subprocess_get_exit_status (process);
}

int
mh_test_cli (char **out, char **err, const char *first, ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  return mh_test_cli_argv ((const char *const *) args->pdata, out, err);
}

MhTestNode *
mh_test_node_new (const char *role, const char *name, const char *for_id)
{
  MhTestNode *node = g_new0 (MhTestNode, 1);
  g_autofree char *parent = mh_test_make_tmpdir ("medhead-it");
  const char *args[12];
  guint n = 0;
  int status;

  /* init wants to create the directory itself, or at least an empty one. */
  node->dir = g_build_filename (parent, "node", NULL);
  args[n++] = "init";
  args[n++] = "--data-dir";
  args[n++] = node->dir;
  args[n++] = "--name";
  args[n++] = name;
  args[n++] = "--role";
  args[n++] = role;
  if (g_str_equal (role, "hospital"))
    {
      args[n++] = "--hospital";
      args[n++] = for_id;
    }
  else if (g_str_equal (role, "ambulance"))
    {
      args[n++] = "--unit";
      args[n++] = for_id;
    }
  args[n] = NULL;

  status = mh_test_cli_argv (args, NULL, NULL);
  g_assert_cmpint (status, ==, 0);

  node->session = mh_test_session_new ();
  return node;
}

void
mh_test_node_import (MhTestNode *node, const char *relative_file)
{
  g_autofree char *path = mh_test_source_file (relative_file);
  int status = mh_test_cli (NULL, NULL, "import", "--data-dir", node->dir, path, NULL);

  g_assert_cmpint (status, ==, 0);
}

static JsonArray *
keep_only (JsonArray *entries, const char *id)
{
  JsonArray *kept = json_array_new ();

  for (guint i = 0; entries != NULL && i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);

      if (id != NULL && g_strcmp0 (json_object_get_string_member (entry, "id"), id) == 0)
        json_array_add_object_element (kept, json_object_ref (entry));
    }
  return kept;
}

void
mh_test_node_import_document (MhTestNode *node, JsonNode *document)
{
  g_autofree char *parent = g_path_get_dirname (node->dir);
  g_autofree char *path = g_build_filename (parent, "import.json", NULL);
  g_autofree char *text = json_to_string (document, TRUE);
  g_autoptr(GError) error = NULL;
  int status;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  status = mh_test_cli (NULL, NULL, "import", "--data-dir", node->dir, path, NULL);
  g_assert_cmpint (status, ==, 0);
}

void
mh_test_node_import_part (MhTestNode *node, const char *relative_file, const char *hospital_id,
                          const char *unit_id)
{
  g_autofree char *source = mh_test_source_file (relative_file);
  g_autoptr(JsonNode) document = mh_test_load_json (source);
  JsonObject *object = json_node_get_object (document);

  json_object_set_array_member (
    object, "hospitals",
    keep_only (json_object_get_array_member (object, "hospitals"), hospital_id));
  json_object_set_array_member (
    object, "units", keep_only (json_object_get_array_member (object, "units"), unit_id));
  mh_test_node_import_document (node, document);
}

void
mh_test_node_start (MhTestNode *node)
{
  g_autofree char *url_path = g_build_filename (node->dir, "api-url", NULL);
  g_autofree char *token_path = g_build_filename (node->dir, "api-token", NULL);
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + START_TIMEOUT_S * G_USEC_PER_SEC;

  g_assert_null (node->process);
  g_clear_pointer (&node->url, g_free);
  {
    const char *argv[] = { mh_test_node_program (), "serve", "--data-dir", node->dir, "--api",
                           "127.0.0.1:0", NULL };
    if (node->log_path != NULL)
      node->process = spawn_logged (argv, G_SUBPROCESS_FLAGS_STDERR_MERGE, node->log_path, &error);
    else
      node->process = spawn (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  }
  g_assert_no_error (error);

  for (;;)
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents (url_path, &text, NULL, NULL) && *g_strstrip (text) != '\0')
        {
          node->url = g_steal_pointer (&text);
          break;
        }
      if (g_subprocess_get_identifier (node->process) == NULL)
        g_error ("medhead-node serve exited before listening");
      if (g_get_monotonic_time () > deadline)
        g_error ("medhead-node serve did not listen within %d s", START_TIMEOUT_S);
      g_usleep (10 * 1000);
    }
  g_assert_true (g_str_has_prefix (node->url, "http://127.0.0.1:"));

  g_clear_pointer (&node->token, g_free);
  g_file_get_contents (token_path, &node->token, NULL, &error);
  g_assert_no_error (error);
  g_strstrip (node->token);
}

/* Sends the signal and waits; returns the exit status, or 128 + signal
 * if the node died of one. */
int
mh_test_node_stop (MhTestNode *node, int signal_number)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autoptr(GSubprocess) process = g_steal_pointer (&node->process);
  int status;

  g_assert_nonnull (process);
  g_subprocess_send_signal (process, signal_number);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  if (node->log_path != NULL)
    {
      g_clear_pointer (&out, g_free);
      g_file_get_contents (node->log_path, &out, NULL, &error);
      g_assert_no_error (error);
    }

  if (g_subprocess_get_if_signaled (process))
    return 128 + g_subprocess_get_term_sig (process);
  status = g_subprocess_get_exit_status (process);
  if (signal_number == SIGTERM || signal_number == SIGINT)
    {
      /* The node said where it listened, and that it stopped. */
      g_autofree char *line = g_strdup_printf ("listening on %s", node->url);
      g_assert_nonnull (strstr (out, line));
      g_assert_nonnull (strstr (out, "stopped"));
      /* A clean stop synced the WAL and took its marker away (a marker
       * left behind would mean "the system stopped" after a reboot). */
      if (status == 0)
        {
          g_autofree char *marker = g_build_filename (node->dir, "replica.db.running", NULL);

          g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
        }
    }
  return status;
}

void
mh_test_node_free (MhTestNode *node)
{
  if (node == NULL)
    return;
  if (node->process != NULL)
    {
      g_subprocess_force_exit (node->process);
      g_subprocess_wait (node->process, NULL, NULL);
      g_clear_object (&node->process);
    }
  if (g_getenv ("MEDHEAD_KEEP_TMP") == NULL)
    {
      g_autofree char *parent = g_path_get_dirname (node->dir);
      mh_test_rm_rf (parent);
    }
  g_clear_object (&node->session);
  g_free (node->dir);
  g_free (node->url);
  g_free (node->token);
  g_free (node->log_path);
  g_free (node);
}

MhTestReply *
mh_test_request (SoupSession *session, const char *url, const char *method, const char *path,
                 const char *token, const char *content_type, const char *body, gssize length)
{
  g_autofree char *full = g_strconcat (url, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, full);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) answer = NULL;
  MhTestReply *reply;
  const char *type;

  g_assert_nonnull (msg);
  if (token != NULL)
    {
      g_autofree char *value = g_strdup_printf ("Bearer %s", token);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    value);
    }
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, length < 0 ? strlen (body) : (gsize) length);
      soup_message_set_request_body_from_bytes (msg, content_type, bytes);
    }

  answer = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);

  reply = g_new0 (MhTestReply, 1);
  reply->status = soup_message_get_status (msg);
  reply->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  reply->body = g_strndup (g_bytes_get_data (answer, NULL), g_bytes_get_size (answer));
  type = soup_message_headers_get_content_type (reply->headers, NULL);
  if (type != NULL && g_str_equal (type, "application/json"))
    {
      g_autoptr(JsonParser) parser = json_parser_new ();

      json_parser_load_from_data (parser, reply->body, -1, &error);
      g_assert_no_error (error);
      reply->json = json_parser_steal_root (parser);
    }
  return reply;
}

MhTestReply *
mh_test_node_request (MhTestNode *node, const char *method, const char *path, const char *body)
{
  g_assert_nonnull (node->url);
  return mh_test_request (node->session, node->url, method, path, node->token,
                          body != NULL ? "application/json" : NULL, body, -1);
}

MhTestReply *
mh_test_node_requestf (MhTestNode *node, const char *method, const char *body,
                       const char *path_format, ...)
{
  g_autofree char *path = NULL;
  va_list ap;

  va_start (ap, path_format);
  path = g_strdup_vprintf (path_format, ap);
  va_end (ap);
  return mh_test_node_request (node, method, path, body);
}

void
mh_test_reply_free (MhTestReply *reply)
{
  if (reply == NULL)
    return;
  g_clear_pointer (&reply->json, json_node_unref);
  g_clear_pointer (&reply->headers, soup_message_headers_unref);
  g_free (reply->body);
  g_free (reply);
}

JsonObject *
mh_test_reply_object (MhTestReply *reply)
{
  if (reply->json == NULL || !JSON_NODE_HOLDS_OBJECT (reply->json))
    g_error ("expected a JSON object, got status %u: %s", reply->status, reply->body);
  return json_node_get_object (reply->json);
}

JsonArray *
mh_test_reply_array (MhTestReply *reply)
{
  if (reply->json == NULL || !JSON_NODE_HOLDS_ARRAY (reply->json))
    g_error ("expected a JSON array, got status %u: %s", reply->status, reply->body);
  return json_node_get_array (reply->json);
}

void
mh_test_assert_error (MhTestReply *reply, guint status, const char *code, const char *field)
{
  JsonObject *error;

  if (reply->status != status)
    g_error ("expected status %u, got %u: %s", status, reply->status, reply->body);
  error = json_object_get_object_member (mh_test_reply_object (reply), "error");
  g_assert_nonnull (error);
  g_assert_cmpint (json_object_get_int_member (error, "status"), ==, status);
  g_assert_cmpstr (json_object_get_string_member (error, "code"), ==, code);
  g_assert_nonnull (json_object_get_string_member (error, "message"));
  if (field != NULL)
    {
      const char *message = json_object_get_string_member (error, "message");

      g_assert_cmpstr (json_object_get_string_member_with_default (error, "field", NULL), ==,
                       field);
      g_assert_true (g_str_has_prefix (message, field));
    }
}

char *
mh_test_node_digest (MhTestNode *node)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, "GET", "/api/v1/digest", NULL);

  g_assert_cmpuint (reply->status, ==, 200);
  return json_to_string (reply->json, FALSE);
}

JsonObject *
mh_test_node_get_object (MhTestNode *node, const char *path)
{
  g_autoptr(MhTestReply) reply = mh_test_node_request (node, "GET", path, NULL);

  if (reply->status != 200)
    g_error ("GET %s: %u %s", path, reply->status, reply->body);
  return json_object_ref (mh_test_reply_object (reply));
}

JsonNode *
mh_test_load_json (const char *path)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_parser_steal_root (parser);
}

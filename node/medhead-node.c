/* medhead-node.c: the headless MedHead node and its command line
 *
 *   medhead-node init --data-dir DIR --name NAME --role hospital|ambulance|hub
 *                     [--hospital ID | --unit ID]
 *   medhead-node serve --data-dir DIR [--api ADDR:PORT] [--listen ADDR:PORT]
 *   medhead-node id --data-dir DIR
 *   medhead-node epoch new --data-dir DIR
 *   medhead-node peer add|list|remove --data-dir DIR [FINGERPRINT] [--url URL]
 *   medhead-node import --data-dir DIR FILE
 *   medhead-node export --data-dir DIR
 *   medhead-node status --data-dir DIR
 *   medhead-node token rotate --data-dir DIR
 *   medhead-node simulate --data-dir DIR... [--interval MS] [--steps N]
 *                         [--seed N] [--channel CHANNEL]...
 *   medhead-node network create --out DIR
 *   medhead-node network admit-hub --key NETDIR --data-dir HUBDIR
 *   medhead-node admit --data-dir HUBDIR STATION --role hospital|ambulance
 *   medhead-node revoke --data-dir DIR [--key NETDIR] SITE [--cutoff OSEQ]
 *
 * Exit status: 0 on success, 1 when the work itself failed, 2 for bad
 * arguments (scripts can tell a typo from a broken replica).
 */

#include "config.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "mh-api-server.h"
#include "mh-node.h"
#include "mh-dispatch.h"
#include "mh-retention.h"
#include "mh-simulator.h"

#define EXIT_USAGE 2
/* A registry file is a few megabytes at most; refuse anything absurd
 * before reading it into memory. */
#define MAX_IMPORT_BYTES (256 * 1024 * 1024)
/* How long serve waits, once told to stop, for answers being written. */
#define STOP_TIMEOUT_MS 5000

typedef struct
{
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} Command;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static int
usage_error (const char *command, const char *format, ...) G_GNUC_PRINTF (2, 3);

static int
usage_error (const char *command, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_printerr ("medhead-node %s: %s\n", command, message);
  g_printerr (_("Try 'medhead-node %s --help'.\n"), command);
  return EXIT_USAGE;
}

static int
failure (const char *command, const GError *error)
{
  g_printerr ("medhead-node %s: %s\n", command, error->message);
  return EXIT_FAILURE;
}

/* Parses the options of one command; --help prints and exits 0 from
 * inside g_option_context_parse(). */
static int
parse_options (const char *command, const char *parameters, const char *summary,
               const GOptionEntry *entries, int *argc, char ***argv)
{
  g_autofree char *prgname = g_strdup_printf ("medhead-node %s", command);
  g_autoptr(GOptionContext) context = g_option_context_new (parameters);
  g_autoptr(GError) error = NULL;

  g_set_prgname (prgname);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, summary);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, argc, argv, &error))
    return usage_error (command, "%s", error->message);
  return EXIT_SUCCESS;
}

static void
print_json (JsonNode *node)
{
  g_autofree char *text = json_to_string (node, TRUE);

  g_print ("%s\n", text);
}

static MhNode *
open_node (const char *command, const char *data_dir, int *status)
{
  g_autoptr(GError) error = NULL;
  MhNode *node = mh_node_open (data_dir, &error);

  if (node == NULL)
    *status = failure (command, error);
  return node;
}

/* ------------------------------------------------------------------------ */
/* init                                                                     */

/* On stderr, so that stdout stays JSON. */
static void
warn_unencrypted (JsonObject *status, const char *data_dir)
{
  JsonNode *encrypted = json_object_get_member (status, "data_encrypted");
  const char *how = json_object_get_string_member_with_default (status, "data_encryption", "");

  if (encrypted != NULL && JSON_NODE_HOLDS_VALUE (encrypted) && json_node_get_boolean (encrypted))
    return;
  if (encrypted != NULL && JSON_NODE_HOLDS_VALUE (encrypted))
    g_printerr (_("warning: the data folder %s is not on an encrypted volume: whoever takes the "
                  "disk can read its patient data\n"), data_dir);
  else
    g_printerr (_("warning: cannot tell whether the data folder %s is on an encrypted volume "
                  "(%s): make sure it is\n"), data_dir, how);
}

static int
run_init (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  g_autofree char *name = NULL;
  g_autofree char *role_text = NULL;
  g_autofree char *hospital = NULL;
  g_autofree char *unit = NULL;
  g_autofree char *network = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory to create"),
      N_("DIR") },
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name, N_("Name of this site, as others see it"),
      N_("NAME") },
    { "role", 'r', 0, G_OPTION_ARG_STRING, &role_text, N_("hospital, ambulance or hub"),
      N_("ROLE") },
    { "hospital", 0, 0, G_OPTION_ARG_STRING, &hospital, N_("Hospital this site speaks for"),
      N_("ID") },
    { "unit", 0, 0, G_OPTION_ARG_STRING, &unit, N_("Unit this site speaks for"), N_("ID") },
    { "network", 0, 0, G_OPTION_ARG_STRING, &network,
      N_("Join the network of this key (its network.pub, or the key itself): peers then need "
      "an admission"), N_("KEY") },
    { NULL }
  };
  g_autofree char *network_key = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autofree char *token_path = NULL;
  MhRole role;
  int status;

  status = parse_options ("init", NULL,
                          _("Creates a replica, a site identity and an API token in DIR.\n"
                          "A hospital site needs --hospital, an ambulance site needs --unit."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc > 1)
    return usage_error ("init", _("unexpected argument '%s'"), argv[1]);
  if (data_dir == NULL)
    return usage_error ("init", _("--data-dir is required"));
  if (name == NULL || *g_strstrip (name) == '\0')
    return usage_error ("init", _("--name is required"));
  if (role_text == NULL)
    return usage_error ("init", _("--role is required"));
  if (!mh_role_from_string (role_text, &role))
    return usage_error ("init", _("--role must be hospital, ambulance or hub, not '%s'"),
                        role_text);
  if (role == MH_ROLE_HOSPITAL && hospital == NULL)
    return usage_error ("init", _("a hospital site needs --hospital ID"));
  if (role == MH_ROLE_AMBULANCE && unit == NULL)
    return usage_error ("init", _("an ambulance site needs --unit ID"));
  if (role != MH_ROLE_HOSPITAL && hospital != NULL)
    return usage_error ("init", _("--hospital is only for a hospital site"));
  if (role != MH_ROLE_AMBULANCE && unit != NULL)
    return usage_error ("init", _("--unit is only for an ambulance site"));
  if (network != NULL)
    {
      network_key = mh_trust_parse_network_key (network, &error);
      if (network_key == NULL)
        return usage_error ("init", "--network: %s", error->message);
    }

  if (!mh_node_init_data_dir (data_dir, name, role, hospital, unit, &error))
    return failure ("init", error);
  if (network_key != NULL && !mh_trust_write_network_key (data_dir, network_key, &error))
    return failure ("init", error);
  node = mh_node_open (data_dir, &error);
  if (node == NULL)
    return failure ("init", error);

  token_path = g_build_filename (data_dir, "api-token", NULL);
  g_print ("site id: %s\n", mh_node_get_site_id (node));
  g_print ("role: %s\n", mh_role_to_string (role));
  g_print (_("API token: %s (readable only by you)\n"), token_path);
  return EXIT_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* serve                                                                    */

typedef struct
{
  GMainLoop *loop;
  MhApiServer *server;
  gboolean stopping;
} Serve;

static void
server_stopped_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  Serve *serve = user_data;
  g_autoptr(GError) error = NULL;

  if (!mh_api_server_stop_finish (MH_API_SERVER (object), result, &error))
    g_warning ("stopping the API: %s", error->message);
  g_main_loop_quit (serve->loop);
}

static gboolean
stop_signal_cb (gpointer user_data)
{
  Serve *serve = user_data;

  /* A second signal while stopping changes nothing: the stop is bounded. */
  if (!serve->stopping)
    {
      serve->stopping = TRUE;
      g_message ("stopping");
      mh_api_server_stop_async (serve->server, STOP_TIMEOUT_MS, NULL, server_stopped_cb, serve);
    }
  return G_SOURCE_CONTINUE;
}

static gpointer
stop_watchdog (gpointer data)
{
  g_usleep ((STOP_TIMEOUT_MS + 5000) * 1000);
  g_printerr (_("medhead-node serve: stopping took too long; exiting\n"));
  _exit (EXIT_SUCCESS);
  return NULL;
}

static int
run_serve (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  g_autofree char *api = NULL;
  g_autofree char *listen = NULL;
  gint retention_hours = -1;
  gint audit_days = -1;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { "api", 'a', 0, G_OPTION_ARG_STRING, &api,
      N_("Address of the REST API (default 127.0.0.1:8470; port 0 picks a free port)"),
      N_("ADDR:PORT") },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
      N_("Accept peer links there, over TLS with pinned client certificates (e.g. 0.0.0.0:8471; "
      "without it, this node only calls its peers)"), N_("ADDR:PORT") },
    { "retention-hours", 0, 0, G_OPTION_ARG_INT, &retention_hours,
      N_("Hours a station that is not a hub keeps a patient after its transfers end "
      "(default: the data directory's node.ini, else 24)"), N_("HOURS") },
    { "audit-days", 0, 0, G_OPTION_ARG_INT, &audit_days,
      N_("Days a hub keeps a patient after its transfers end (default: node.ini, else 3650)"),
      N_("DAYS") },
    { NULL }
  };
  g_autofree char *sync_path = NULL;
  guint16 sync_port = 0;
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autoptr(MhApiServer) server = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *address = NULL;
  g_autofree char *url = NULL;
  g_autofree char *url_path = NULL;
  g_autofree char *url_text = NULL;
  Serve serve = { 0 };
  guint port = 0;
  guint term_id, int_id;
  int status;

  status = parse_options ("serve", NULL,
                          _("Runs the node and its REST API until SIGTERM or SIGINT, and links\n"
                          "it with its peers ('medhead-node peer'). Once listening, writes the\n"
                          "API's URL to DIR/api-url, and with --listen the peer URL to\n"
                          "DIR/sync-url."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc > 1)
    return usage_error ("serve", _("unexpected argument '%s'"), argv[1]);
  if (data_dir == NULL)
    return usage_error ("serve", _("--data-dir is required"));
  if (api == NULL)
    api = g_strdup_printf ("127.0.0.1:%d", MH_NODE_DEFAULT_API_PORT);
  if (!mh_api_parse_address (api, &address, &port, &error))
    return usage_error ("serve", _("--api %s: %s"), api, error->message);
  if (!mh_api_address_is_loopback (address))
    return usage_error ("serve",
                        _("--api %s: not a loopback address; the REST API is plain HTTP and "
                        "listens only on 127.0.0.1 or ::1 until it supports TLS"),
                        api);

  if (retention_hours == 0 || retention_hours < -1)
    return usage_error ("serve", _("--retention-hours must be a positive number"));
  if (audit_days == 0 || audit_days < -1)
    return usage_error ("serve", _("--audit-days must be a positive number"));

  node = open_node ("serve", data_dir, &status);
  if (node == NULL)
    return status;
  mh_node_set_retention (node,
                         retention_hours > 0 ? (guint) retention_hours
                                             : mh_node_get_retention_hours (node),
                         audit_days > 0 ? (guint) audit_days : mh_node_get_audit_days (node));
  server = mh_api_server_new (node, &error);
  if (server == NULL)
    return failure ("serve", error);

  /* A file left by an earlier run must not send anyone to a dead port. */
  url_path = g_build_filename (data_dir, "api-url", NULL);
  if (g_unlink (url_path) != 0 && errno != ENOENT)
    g_warning ("cannot remove %s: %s", url_path, g_strerror (errno));

  sync_path = g_build_filename (data_dir, "sync-url", NULL);
  if (g_unlink (sync_path) != 0 && errno != ENOENT)
    g_warning ("cannot remove %s: %s", sync_path, g_strerror (errno));

  if (!mh_api_server_listen (server, address, port, &error))
    return failure ("serve", error);
  /* Every write here is answered through the REST API, once on the disk
   * (mh_api_server.c): the change may leave for the peers before. */
  mh_node_set_deferred_durability (node);
  if (!mh_node_start_sync (node, listen, &sync_port, &error))
    return failure ("serve", error);
  if (listen != NULL)
    {
      g_autofree char *host = NULL;
      g_autofree char *sync_text = NULL;
      guint16 ignored;

      mh_parse_listen_address (listen, &host, &ignored, NULL);
      sync_text = g_strdup_printf ("https://%s%s%s:%u\n", strchr (host, ':') ? "[" : "",
                                   g_str_equal (host, "0.0.0.0") ? "127.0.0.1" : host,
                                   strchr (host, ':') ? "]" : "", sync_port);
      if (!g_file_set_contents (sync_path, sync_text, -1, &error))
        return failure ("serve", error);
      g_print (_("peers may link at %s"), sync_text);
    }
  /* Before api-url appears: whoever waits for it may stop us at once,
   * and a SIGTERM must then stop us cleanly, not kill us. */
  loop = g_main_loop_new (NULL, FALSE);
  serve.loop = loop;
  serve.server = server;
  term_id = g_unix_signal_add (SIGTERM, stop_signal_cb, &serve);
  int_id = g_unix_signal_add (SIGINT, stop_signal_cb, &serve);

  url = mh_api_server_get_url (server);
  url_text = g_strdup_printf ("%s\n", url);
  /* Written whole or not at all (write then rename): readers polling for it
   * never see half a URL. */
  if (!g_file_set_contents (url_path, url_text, -1, &error))
    {
      g_source_remove (term_id);
      g_source_remove (int_id);
      return failure ("serve", error);
    }

  g_print (_("site %s (%s) listening on %s\n"), mh_node_get_site_id (node),
           mh_role_to_string (mh_node_get_role (node)), url);
  fflush (stdout);
  {
    g_autoptr(JsonObject) node_status = mh_node_get_status (node);
    warn_unencrypted (node_status, data_dir);
  }

  g_main_loop_run (loop);

  g_source_remove (term_id);
  g_source_remove (int_id);
  g_unlink (url_path);
  g_unlink (sync_path);
  /* Everything is committed already. A peer stalled in the middle of a TLS
   * handshake could hold the teardown of its connection: the stop is
   * bounded all the same. */
  g_thread_unref (g_thread_new ("stop-watchdog", stop_watchdog, NULL));
  /* The server goes first: no request may reach the store once it closes. */
  g_clear_object (&server);
  g_clear_object (&node);
  g_print (_("stopped\n"));
  return EXIT_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* import, export, status, token                                            */

static int
run_import (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GMappedFile) file = NULL;
  const char *path;
  const char *data;
  gsize length;
  guint n_hospitals = 0, n_units = 0;
  int status;

  status = parse_options ("import", "FILE",
                          _("Imports hospitals and units from a registry file\n"
                          "(\"medhead-registry/1\", as in data/demo/). All or nothing."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (data_dir == NULL)
    return usage_error ("import", _("--data-dir is required"));
  if (argc < 2)
    return usage_error ("import", _("a FILE to import is required"));
  if (argc > 2)
    return usage_error ("import", _("unexpected argument '%s'"), argv[2]);
  path = argv[1];

  file = g_mapped_file_new (path, FALSE, &error);
  if (file == NULL)
    return failure ("import", error);
  data = g_mapped_file_get_contents (file);
  length = g_mapped_file_get_length (file);
  if (length > MAX_IMPORT_BYTES)
    {
      g_printerr (_("medhead-node import: %s: larger than %d MiB\n"), path,
                  MAX_IMPORT_BYTES / (1024 * 1024));
      return EXIT_FAILURE;
    }
  if (length == 0 || !g_utf8_validate_len (data, length, NULL))
    {
      g_printerr (_("medhead-node import: %s: not a UTF-8 JSON document\n"), path);
      return EXIT_FAILURE;
    }
  if (!mh_codec_check_depth (data, length, MH_API_MAX_DEPTH, &error))
    {
      g_printerr ("medhead-node import: %s: %s\n", path, error->message);
      return EXIT_FAILURE;
    }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, (gssize) length, &error))
    {
      g_printerr (_("medhead-node import: %s: not valid JSON: %s\n"), path, error->message);
      return EXIT_FAILURE;
    }

  node = open_node ("import", data_dir, &status);
  if (node == NULL)
    return status;
  if (!mh_node_import (node, json_parser_get_root (parser), &n_hospitals, &n_units, &error))
    {
      g_printerr (_("medhead-node import: %s: %s (nothing imported)\n"), path, error->message);
      return EXIT_FAILURE;
    }
  g_print (_("imported %u hospitals and %u units from %s\n"), n_hospitals, n_units, path);
  return EXIT_SUCCESS;
}

static int
run_export (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autoptr(JsonNode) document = NULL;
  int status;

  status = parse_options ("export", NULL,
                          _("Writes the hospitals and units of the replica to standard output\n"
                          "as a registry file (\"medhead-registry/1\")."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc > 1)
    return usage_error ("export", _("unexpected argument '%s'"), argv[1]);
  if (data_dir == NULL)
    return usage_error ("export", _("--data-dir is required"));

  node = open_node ("export", data_dir, &status);
  if (node == NULL)
    return status;
  document = mh_node_export (node, &error);
  if (document == NULL)
    return failure ("export", error);
  print_json (document);
  return EXIT_SUCCESS;
}

/* A relay whose gaps another peer filled with changes that won here. */
static void
warn_withheld (JsonObject *status)
{
  JsonArray *peers = json_object_get_array_member (status, "peers");

  for (guint i = 0; peers != NULL && i < json_array_get_length (peers); i++)
    {
      JsonObject *peer = json_array_get_object_element (peers, i);
      gint64 n = json_object_get_int_member_with_default (peer, "withheld", 0);
      const char *name = json_object_get_string_member_with_default (peer, "name", NULL);

      if (n > 0)
        g_printerr (ngettext ("warning: peer %s (%s) passed over %lld change that another "
                              "peer had: it may be withholding changes\n",
                              "warning: peer %s (%s) passed over %lld changes that another "
                              "peer had: it may be withholding changes\n",
                              (gulong) n),
                    name != NULL && *name ? name : "?",
                    json_object_get_string_member_with_default (peer, "fingerprint", "?"),
                    (long long) n);
    }
}

static int
run_status (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { NULL }
  };
  g_autoptr(MhNode) node = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(JsonNode) document = NULL;
  int status;

  status = parse_options ("status", NULL,
                          _("Prints the node's status (site, role, clock, held, parked and\n"
                          "rejected changes) as JSON."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc > 1)
    return usage_error ("status", _("unexpected argument '%s'"), argv[1]);
  if (data_dir == NULL)
    return usage_error ("status", _("--data-dir is required"));

  node = open_node ("status", data_dir, &status);
  if (node == NULL)
    return status;
  object = mh_node_get_status (node);
  document = json_node_init_object (json_node_alloc (), object);
  print_json (document);
  warn_unencrypted (object, data_dir);
  if (!json_object_get_boolean_member_with_default (object, "roles_verified", TRUE))
    g_printerr (_("warning: no network key: roles are not verified (every pinned peer is "
                  "trusted with the role it claims)\n"));
  warn_withheld (object);
  return EXIT_SUCCESS;
}

static int
run_token (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autofree char *token_path = NULL;
  int status;

  status = parse_options ("token", "rotate",
                          _("Replaces the API token in DIR/api-token. A running node accepts\n"
                          "only the new token from its next request on."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc < 2)
    return usage_error ("token", _("an action is required: rotate"));
  if (!g_str_equal (argv[1], "rotate"))
    return usage_error ("token", _("unknown action '%s' (known: rotate)"), argv[1]);
  if (argc > 2)
    return usage_error ("token", _("unexpected argument '%s'"), argv[2]);
  if (data_dir == NULL)
    return usage_error ("token", _("--data-dir is required"));

  node = open_node ("token", data_dir, &status);
  if (node == NULL)
    return status;
  if (!mh_node_rotate_api_token (node, &error))
    return failure ("token", error);
  token_path = g_build_filename (data_dir, "api-token", NULL);
  g_print (_("new API token written to %s\n"), token_path);
  return EXIT_SUCCESS;
}

/* What the node holds of patients whose transfers ended, and when it goes;
 * with --evict, evicts what is due now (mh-retention.h). */
static int
run_retention (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  gboolean evict = FALSE;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { "evict", 0, 0, G_OPTION_ARG_NONE, &evict,
      N_("Evict what is due now, and print the patients evicted"), NULL },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autoptr(JsonArray) list = NULL;
  g_autoptr(JsonNode) document = NULL;
  int status;

  status = parse_options ("retention", NULL,
                          _("Prints, as JSON, the patients whose transfers have all ended, when\n"
                          "each is evicted here, and whether a hub holds it already (nothing\n"
                          "is evicted before). With --evict, evicts what is due now."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc > 1)
    return usage_error ("retention", _("unexpected argument '%s'"), argv[1]);
  if (data_dir == NULL)
    return usage_error ("retention", _("--data-dir is required"));

  node = open_node ("retention", data_dir, &status);
  if (node == NULL)
    return status;
  list = evict ? mh_retention_sweep (node, FALSE, &error) : mh_retention_list (node, &error);
  if (list == NULL)
    return failure ("retention", error);
  document = json_node_new (JSON_NODE_ARRAY);
  json_node_set_array (document, list);
  print_json (document);
  return EXIT_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* id, peer                                                                 */

static int
run_id (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { NULL }
  };
  g_autoptr(MhNode) node = NULL;
  int status;

  status = parse_options ("id", NULL,
                          _("Prints this node's site id and its fingerprint, the short form\n"
                          "people read out to each other to pair two nodes."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc > 1)
    return usage_error ("id", _("unexpected argument '%s'"), argv[1]);
  if (data_dir == NULL)
    return usage_error ("id", _("--data-dir is required"));
  node = open_node ("id", data_dir, &status);
  if (node == NULL)
    return status;
  g_print ("site-id: %s\n", mh_node_get_site_id (node));
  g_print ("fingerprint: %s\n", mh_node_get_fingerprint (node));
  return EXIT_SUCCESS;
}

/* For a replica put back from a backup or copied by hand where the store
 * could not tell (its file keeps its inode): peers then read its log again
 * from zero instead of skipping renumbered changes. */
static int
run_epoch (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  int status;

  status = parse_options ("epoch", "new",
                          _("Starts a new log epoch: every peer reads this node's changes again\n"
                          "from the start. Run it after restoring the data directory from a\n"
                          "backup (copies to another file are detected by themselves)."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc < 2)
    return usage_error ("epoch", _("an action is required: new"));
  if (!g_str_equal (argv[1], "new"))
    return usage_error ("epoch", _("unknown action '%s' (known: new)"), argv[1]);
  if (argc > 2)
    return usage_error ("epoch", _("unexpected argument '%s'"), argv[2]);
  if (data_dir == NULL)
    return usage_error ("epoch", _("--data-dir is required"));
  node = open_node ("epoch", data_dir, &status);
  if (node == NULL)
    return status;
  if (!mh_store_new_epoch (mh_node_get_store (node), &error))
    return failure ("epoch", error);
  g_print (_("new log epoch %lld\n"), (long long) mh_store_get_epoch (mh_node_get_store (node)));
  return EXIT_SUCCESS;
}

static int
run_peer (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  g_autofree char *url = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { "url", 'u', 0, G_OPTION_ARG_STRING, &url,
      N_("With add: call the peer at https://HOST:PORT (without it, only accept its calls)"),
      N_("URL") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  const char *action;
  int status;

  status = parse_options ("peer", "add FINGERPRINT [--url URL] | list | remove FINGERPRINT",
                          _("Manages the peers this node links with. A peer is pinned by its\n"
                          "fingerprint ('medhead-node id' on the peer prints it): an unknown or\n"
                          "wrong certificate is refused before any data moves. A running node\n"
                          "picks up the change within seconds."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc < 2)
    return usage_error ("peer", _("an action is required: add, list or remove"));
  action = argv[1];
  if (data_dir == NULL)
    return usage_error ("peer", _("--data-dir is required"));

  if (g_str_equal (action, "list"))
    {
      g_autoptr(JsonArray) peers = NULL;

      if (argc > 2)
        return usage_error ("peer", _("unexpected argument '%s'"), argv[2]);
      if (url != NULL)
        return usage_error ("peer", _("--url goes with add"));
      node = open_node ("peer", data_dir, &status);
      if (node == NULL)
        return status;
      peers = mh_node_list_peers (node);
      for (guint i = 0; i < json_array_get_length (peers); i++)
        {
          JsonObject *peer = json_array_get_object_element (peers, i);
          const char *peer_url = json_object_get_string_member_with_default (peer, "url", NULL);
          const char *name = json_object_get_string_member_with_default (peer, "name", NULL);
          gint64 last = json_object_get_int_member_with_default (peer, "last_contact", 0);
          g_autofree char *when = NULL;

          if (last > 0)
            {
              g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (last / 1000);
              when = g_date_time_format (dt, "%F %T");
            }
          /* TRANSLATORS: fingerprint, URL, name, when, then the last error if any */
          g_print (_("%s  %s  %s  last contact: %s%s%s\n"),
                   json_object_get_string_member (peer, "fingerprint"),
                   peer_url ? peer_url : _("(calls in)"), name && *name ? name : "-",
                   when ? when : _("never"),
                   json_object_has_member (peer, "last_error") ? _("  last error: ") : "",
                   json_object_get_string_member_with_default (peer, "last_error", ""));
        }
      if (json_array_get_length (peers) == 0)
        g_print (_("no peers; add one with 'medhead-node peer add FINGERPRINT [--url URL]'\n"));
      return EXIT_SUCCESS;
    }
  if (g_str_equal (action, "add") || g_str_equal (action, "remove"))
    {
      gboolean add = g_str_equal (action, "add");

      if (argc < 3)
        return usage_error ("peer", _("%s needs the peer's FINGERPRINT"), action);
      if (argc > 3)
        return usage_error ("peer", _("unexpected argument '%s'"), argv[3]);
      if (!add && url != NULL)
        return usage_error ("peer", _("--url goes with add"));
      node = open_node ("peer", data_dir, &status);
      if (node == NULL)
        return status;
      if (add ? !mh_node_add_peer (node, argv[2], url, &error)
              : !mh_node_remove_peer (node, argv[2], &error))
        {
          if (g_error_matches (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID))
            return usage_error ("peer", "%s", error->message);
          return failure ("peer", error);
        }
      if (add && url != NULL)
        g_print (_("peer %s added; this node calls it at %s\n"), argv[2], url);
      else if (add)
        g_print (_("peer %s added; this node accepts its calls\n"), argv[2]);
      else
        g_print (_("peer %s removed\n"), argv[2]);
      return EXIT_SUCCESS;
    }
  return usage_error ("peer", _("unknown action '%s' (known: add, list, remove)"), action);
}

/* ------------------------------------------------------------------------ */
/* incident                                                                 */

static int
incident_failure (const GError *error)
{
  if (g_error_matches (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID))
    return usage_error ("incident", "%s", error->message);
  return failure ("incident", error);
}

static int
run_incident (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  g_autofree char *nature = NULL;
  g_autofree char *nature_text = NULL;
  g_autofree char *priority = NULL;
  g_autofree char *skills = NULL;
  g_autofree char *lat_text = NULL;
  g_autofree char *lon_text = NULL;
  int limit = 0;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory"), N_("DIR") },
    { "lat", 0, 0, G_OPTION_ARG_STRING, &lat_text, N_("With create: latitude"), N_("DEGREES") },
    { "lon", 0, 0, G_OPTION_ARG_STRING, &lon_text, N_("With create: longitude"), N_("DEGREES") },
    { "nature", 0, 0, G_OPTION_ARG_STRING, &nature,
      N_("With create: stemi, stroke, sepsis, trauma or other"), N_("NATURE") },
    { "text", 0, 0, G_OPTION_ARG_STRING, &nature_text,
      N_("With create: what the caller said, in free text"), N_("TEXT") },
    { "priority", 0, 0, G_OPTION_ARG_STRING, &priority,
      N_("With create: immediate, urgent or routine"), N_("PRIORITY") },
    { "skills", 0, 0, G_OPTION_ARG_STRING, &skills,
      N_("With create: skills needed, comma separated (als, bls, paediatric, bariatric, "
         "hazmat, neonatal, psychiatric, air)"), N_("LIST") },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, N_("With candidates: at most N units per list"),
      N_("N") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  const char *action;
  int status;

  status = parse_options ("incident",
                          "create --lat LAT --lon LON --nature NATURE --priority PRIORITY "
                          "[--skills LIST] [--text TEXT] | list | show ID | candidates ID | "
                          "assign ID UNIT_ID | answer ID ANSWER | close ID closed|cancelled",
                          _("Reports incidents, finds the nearest suitable units and records\n"
                          "the dispatch: a hub assigns a unit, closes or cancels; the assigned\n"
                          "unit's station answers accepted, on_scene, cleared or declined.\n"
                          "list, show and candidates print JSON."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc < 2)
    return usage_error ("incident", _("an action is required: create, list, show, candidates, "
                                      "assign, answer or close"));
  action = argv[1];
  if (data_dir == NULL)
    return usage_error ("incident", _("--data-dir is required"));

  if (g_str_equal (action, "create"))
    {
      g_autoptr(JsonObject) fields = json_object_new ();
      g_autofree char *id = NULL;
      double lat, lon;
      char *end = NULL;

      if (argc > 2)
        return usage_error ("incident", _("unexpected argument '%s'"), argv[2]);
      if (lat_text == NULL || lon_text == NULL)
        return usage_error ("incident", _("create needs --lat and --lon"));
      lat = g_ascii_strtod (lat_text, &end);
      if (end == lat_text || *end != '\0')
        return usage_error ("incident", _("--lat must be a number"));
      lon = g_ascii_strtod (lon_text, &end);
      if (end == lon_text || *end != '\0')
        return usage_error ("incident", _("--lon must be a number"));
      json_object_set_double_member (fields, "lat", lat);
      json_object_set_double_member (fields, "lon", lon);
      if (nature != NULL)
        json_object_set_string_member (fields, "nature", nature);
      if (nature_text != NULL)
        json_object_set_string_member (fields, "nature_text", nature_text);
      if (priority != NULL)
        json_object_set_string_member (fields, "priority", priority);
      if (skills != NULL)
        json_object_set_string_member (fields, "skills", skills);
      node = open_node ("incident", data_dir, &status);
      if (node == NULL)
        return status;
      id = mh_node_create_incident (node, fields, &error);
      if (id == NULL)
        return incident_failure (error);
      g_print (_("incident %s created\n"), id);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (action, "list"))
    {
      g_autoptr(JsonArray) list = NULL;
      g_autoptr(JsonNode) root = NULL;

      if (argc > 2)
        return usage_error ("incident", _("unexpected argument '%s'"), argv[2]);
      node = open_node ("incident", data_dir, &status);
      if (node == NULL)
        return status;
      list = mh_node_list_incidents (node, &error);
      if (list == NULL)
        return failure ("incident", error);
      root = json_node_init_array (json_node_alloc (), list);
      print_json (root);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (action, "show") || g_str_equal (action, "candidates"))
    {
      g_autoptr(JsonObject) result = NULL;
      g_autoptr(JsonNode) root = NULL;

      if (argc < 3)
        return usage_error ("incident", _("%s needs the incident's ID"), action);
      if (argc > 3)
        return usage_error ("incident", _("unexpected argument '%s'"), argv[3]);
      if (limit < 0)
        return usage_error ("incident", _("--limit must be positive"));
      node = open_node ("incident", data_dir, &status);
      if (node == NULL)
        return status;
      result = g_str_equal (action, "show")
                 ? mh_node_get_incident (node, argv[2], &error)
                 : mh_node_incident_candidates (node, argv[2], (guint) limit, &error);
      if (result == NULL)
        return failure ("incident", error);
      root = json_node_init_object (json_node_alloc (), result);
      print_json (root);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (action, "assign") || g_str_equal (action, "answer")
      || g_str_equal (action, "close"))
    {
      gboolean ok;

      if (argc < 4)
        return usage_error ("incident",
                            g_str_equal (action, "assign")   ? _("assign needs ID and UNIT_ID")
                            : g_str_equal (action, "answer") ? _("answer needs ID and ANSWER")
                                                             : _("close needs ID and STATE"));
      if (argc > 4)
        return usage_error ("incident", _("unexpected argument '%s'"), argv[4]);
      node = open_node ("incident", data_dir, &status);
      if (node == NULL)
        return status;
      if (g_str_equal (action, "assign"))
        ok = mh_node_assign_incident (node, argv[2], argv[3], &error);
      else if (g_str_equal (action, "answer"))
        ok = mh_node_answer_incident (node, argv[2], argv[3], &error);
      else
        ok = mh_node_close_incident (node, argv[2], argv[3], &error);
      if (!ok)
        return incident_failure (error);
      if (g_str_equal (action, "assign"))
        g_print (_("incident %s assigned to unit %s\n"), argv[2], argv[3]);
      else if (g_str_equal (action, "answer"))
        g_print (_("incident %s: answered %s\n"), argv[2], argv[3]);
      else
        g_print (_("incident %s: %s\n"), argv[2], argv[3]);
      return EXIT_SUCCESS;
    }
  return usage_error ("incident", _("unknown action '%s' (known: create, list, show, "
                                    "candidates, assign, answer, close)"), action);
}

/* ------------------------------------------------------------------------ */
/* simulate                                                                 */

typedef struct
{
  GMainLoop *loop;
  MhSimulator *simulator;
  guint steps_left; /* 0: forever */
  guint failures;
  guint tick_id;
  int status;
} Simulate;

/* Nodes that refuse every write this many rounds in a row are gone. */
#define SIMULATE_MAX_FAILURES 30

static gboolean
simulate_tick_cb (gpointer user_data)
{
  Simulate *simulate = user_data;
  g_autoptr(GError) error = NULL;

  mh_simulator_step (simulate->simulator, &error);
  if (error != NULL)
    {
      g_printerr ("medhead-node simulate: %s\n", error->message);
      if (++simulate->failures >= SIMULATE_MAX_FAILURES)
        {
          g_printerr (_("medhead-node simulate: the nodes do not answer; stopping\n"));
          simulate->status = EXIT_FAILURE;
          simulate->tick_id = 0;
          g_main_loop_quit (simulate->loop);
          return G_SOURCE_REMOVE;
        }
    }
  else
    simulate->failures = 0;
  fflush (stdout);
  if (simulate->steps_left > 0 && --simulate->steps_left == 0)
    {
      simulate->tick_id = 0;
      g_main_loop_quit (simulate->loop);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
simulate_stop_cb (gpointer user_data)
{
  Simulate *simulate = user_data;

  g_main_loop_quit (simulate->loop);
  return G_SOURCE_CONTINUE;
}

static int
run_simulate (int argc, char **argv)
{
  g_auto(GStrv) data_dirs = NULL;
  g_auto(GStrv) channels = NULL;
  int interval = 1500;
  int steps = 0;
  int seed = 0;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME_ARRAY, &data_dirs,
      N_("Data directory of a running node to drive (repeat for each node)"), N_("DIR") },
    { "interval", 'i', 0, G_OPTION_ARG_INT, &interval,
      N_("Milliseconds between rounds (default 1500)"), N_("MS") },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, N_("Stop after N rounds (default: until stopped)"),
      N_("N") },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, N_("Seed of the random choices (default: random)"),
      N_("N") },
    { "channel", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &channels,
      N_("Also post messages to this channel, e.g. hospital:ID (repeatable)"), N_("CHANNEL") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhSimulator) simulator = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  Simulate simulate = { 0 };
  guint term_id, int_id;
  int status;

  status = parse_options ("simulate", NULL,
                          _("Drives running nodes through their REST APIs, as their users would:\n"
                            "every round each ambulance node moves its unit, one hospital node\n"
                            "changes a bed count, and every fourth round someone posts a message.\n"
                            "Reads each node's DIR/api-url and DIR/api-token. Runs until SIGTERM\n"
                            "or SIGINT, or for --steps rounds."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc > 1)
    return usage_error ("simulate", _("unexpected argument '%s'"), argv[1]);
  if (data_dirs == NULL || data_dirs[0] == NULL)
    return usage_error ("simulate", _("--data-dir is required (once per node)"));
  if (interval < 50 || interval > 3600 * 1000)
    return usage_error ("simulate", _("--interval must be between 50 and 3600000 ms"));
  if (steps < 0)
    return usage_error ("simulate", _("--steps must be 0 or more"));
  for (guint i = 0; channels != NULL && channels[i] != NULL; i++)
    if (!g_str_equal (channels[i], "broadcast") && !g_str_has_prefix (channels[i], "hospital:")
        && !g_str_has_prefix (channels[i], "transfer:"))
      return usage_error ("simulate", _("--channel %s: not broadcast, hospital:ID or transfer:ID"),
                          channels[i]);

  simulator = mh_simulator_new ((const char *const *) data_dirs, (const char *const *) channels,
                                seed != 0 ? (guint32) seed : g_random_int (), &error);
  if (simulator == NULL)
    return failure ("simulate", error);

  loop = g_main_loop_new (NULL, FALSE);
  simulate.loop = loop;
  simulate.simulator = simulator;
  simulate.steps_left = (guint) steps;
  simulate.status = EXIT_SUCCESS;
  term_id = g_unix_signal_add (SIGTERM, simulate_stop_cb, &simulate);
  int_id = g_unix_signal_add (SIGINT, simulate_stop_cb, &simulate);
  simulate.tick_id = g_timeout_add ((guint) interval, simulate_tick_cb, &simulate);
  g_print (ngettext ("simulating %u node, a round every %d ms\n",
                     "simulating %u nodes, a round every %d ms\n", g_strv_length (data_dirs)),
           g_strv_length (data_dirs), interval);
  fflush (stdout);

  g_main_loop_run (loop);

  g_source_remove (term_id);
  g_source_remove (int_id);
  g_clear_handle_id (&simulate.tick_id, g_source_remove);
  {
    guint beds, moves, messages;

    mh_simulator_get_counts (simulator, &beds, &moves, &messages);
    g_print (_("%u bed counts, %u positions, %u messages written\n"), beds, moves, messages);
  }
  return simulate.status;
}

/* ------------------------------------------------------------------------ */
/* main                                                                     */

/* ------------------------------------------------------------------------ */
/* network, admit, revoke                                                   */

/* The network key lives in a folder of its own, kept offline. */
static MhIdentity *
load_network_key (const char *command, const char *dir, int *status)
{
  g_autofree char *key_path = g_build_filename (dir, "identity-key.pem", NULL);
  g_autoptr(GError) error = NULL;
  MhIdentity *identity;

  if (!g_file_test (key_path, G_FILE_TEST_IS_REGULAR))
    {
      *status = usage_error (command, _("%s holds no network key (make one with 'medhead-node "
                                        "network create --out DIR')"), dir);
      return NULL;
    }
  identity = mh_identity_load_or_create (dir, &error);
  if (identity == NULL)
    *status = failure (command, error);
  return identity;
}

/* Keeps @record in the replica of @node: it reaches the peers from there. */
static int
store_record (const char *command, MhNode *node, JsonNode *record)
{
  g_autoptr(GError) error = NULL;

  if (mh_trust_add (mh_node_get_trust (node), record, &error) == 0 && error != NULL)
    return failure (command, error);
  return EXIT_SUCCESS;
}

static MhNode *
open_network_node (const char *command, const char *data_dir, int *status)
{
  MhNode *node = open_node (command, data_dir, status);

  if (node != NULL && mh_node_get_trust (node) == NULL)
    {
      g_printerr (_("medhead-node %s: %s belongs to no network (medhead-node init --network "
                    "KEY)\n"), command, data_dir);
      *status = EXIT_FAILURE;
      g_clear_object (&node);
    }
  return node;
}

static char *parse_subject (const char *text);

static int
run_network (int argc, char **argv)
{
  g_autofree char *out = NULL;
  g_autofree char *key = NULL;
  g_autofree char *data_dir = NULL;
  const GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
      N_("With create: the folder to make the network key in"), N_("DIR") },
    { "key", 'k', 0, G_OPTION_ARG_FILENAME, &key,
      N_("With admit-hub: the folder of the network key"), N_("DIR") },
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
      N_("With admit-hub or import: the node's data directory"), N_("DIR") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  const char *action;
  int status;

  status = parse_options ("network",
                          "create --out DIR | admit-hub --key DIR (--data-dir HUBDIR | HUB) | "
                          "import --data-dir DIR FILE",
                          _("Makes the key of a network, to keep offline, and admits hubs with\n"
                          "it. Hubs then admit stations ('medhead-node admit'); every node of\n"
                          "the network ('medhead-node init --network') checks the chain.\n"
                          "With the hub's fingerprint instead of its data directory, admit-hub\n"
                          "prints the admission, for 'network import' on the hub."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (argc < 2)
    return usage_error ("network", _("an action is required: create, admit-hub or import"));
  action = argv[1];
  /* admit-hub takes the hub, import the file of a record */
  if (argc > 3 || (argc > 2 && !g_str_equal (action, "admit-hub")
                   && !g_str_equal (action, "import")))
    return usage_error ("network", _("unexpected argument '%s'"), argv[argc > 3 ? 3 : 2]);

  if (g_str_equal (action, "create"))
    {
      g_autoptr(MhIdentity) identity = NULL;
      g_autofree char *key_path = NULL;
      g_autofree char *pub_path = NULL;
      g_autofree char *pub_text = NULL;

      if (out == NULL)
        return usage_error ("network", _("create needs --out DIR"));
      if (key != NULL || data_dir != NULL)
        return usage_error ("network", _("--key and --data-dir go with admit-hub"));
      key_path = g_build_filename (out, "identity-key.pem", NULL);
      if (g_file_test (key_path, G_FILE_TEST_EXISTS))
        {
          g_printerr (_("medhead-node network: %s already holds a key; not replacing it\n"),
                      out);
          return EXIT_FAILURE;
        }
      identity = mh_identity_load_or_create (out, &error);
      if (identity == NULL)
        return failure ("network", error);
      pub_path = g_build_filename (out, "network.pub", NULL);
      pub_text = g_strconcat (mh_identity_get_signing_public_key (identity), "\n", NULL);
      if (!g_file_set_contents (pub_path, pub_text, -1, &error))
        return failure ("network", error);
      g_print (_("network id: %s\n"), mh_identity_get_fingerprint (identity));
      g_print (_("network key: %s (in %s; give it to every node: medhead-node init --network)\n"),
               mh_identity_get_signing_public_key (identity), pub_path);
      g_print (_("private key: %s (keep it offline)\n"), key_path);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (action, "admit-hub"))
    {
      g_autoptr(MhIdentity) identity = NULL;
      g_autoptr(MhNode) node = NULL;
      g_autoptr(JsonNode) record = NULL;
      MhTrust *trust;

      if (key == NULL)
        return usage_error ("network", _("admit-hub needs --key DIR (the network key)"));
      if (data_dir == NULL && argc < 3)
        return usage_error ("network",
                            _("admit-hub needs --data-dir HUBDIR or the hub's fingerprint"));
      if (data_dir != NULL && argc > 2)
        return usage_error ("network",
                            _("give the hub's data directory or its fingerprint, not both"));
      if (out != NULL)
        return usage_error ("network", _("--out goes with create"));
      if (argc > 2)
        {
          g_autofree char *subject = parse_subject (argv[2]);
          g_autofree char *text = NULL;

          if (subject == NULL)
            return usage_error ("network",
                                _("'%s' is neither a fingerprint, a site id nor a public key"),
                                argv[2]);
          identity = load_network_key ("network", key, &status);
          if (identity == NULL)
            return status;
          /* Offline: the record goes to the hub on a file, for 'network import'. */
          record = mh_trust_make_admission (identity,
                                            mh_identity_get_signing_public_key (identity),
                                            subject, "hub", NULL,
                                            g_get_real_time () / G_USEC_PER_SEC, &error);
          if (record == NULL)
            return failure ("network", error);
          text = json_to_string (record, FALSE);
          g_print ("%s\n", text);
          return EXIT_SUCCESS;
        }
      identity = load_network_key ("network", key, &status);
      if (identity == NULL)
        return status;
      node = open_network_node ("network", data_dir, &status);
      if (node == NULL)
        return status;
      trust = mh_node_get_trust (node);
      if (g_strcmp0 (mh_trust_get_network_key (trust),
                     mh_identity_get_signing_public_key (identity)) != 0)
        {
          g_printerr (_("medhead-node network: %s belongs to another network\n"), data_dir);
          return EXIT_FAILURE;
        }
      if (mh_node_get_role (node) != MH_ROLE_HUB)
        {
          g_printerr (_("medhead-node network: %s is not a hub\n"), data_dir);
          return EXIT_FAILURE;
        }
      record = mh_trust_make_admission (identity, mh_trust_get_network_key (trust),
                                        mh_node_get_site_id (node), "hub", NULL,
                                        g_get_real_time () / G_USEC_PER_SEC, &error);
      if (record == NULL)
        return failure ("network", error);
      status = store_record ("network", node, record);
      if (status != EXIT_SUCCESS)
        return status;
      g_print (_("hub %s admitted to network %s\n"),
               mh_identity_get_fingerprint (mh_node_get_identity (node)),
               mh_identity_get_fingerprint (identity));
      return EXIT_SUCCESS;
    }
  if (g_str_equal (action, "import"))
    {
      g_autoptr(MhNode) node = NULL;
      g_autoptr(JsonParser) parser = NULL;
      g_autofree char *contents = NULL;
      gsize length = 0;

      if (data_dir == NULL)
        return usage_error ("network", _("import needs --data-dir DIR"));
      if (argc < 3)
        return usage_error ("network", _("import needs the FILE of a record"));
      if (key != NULL || out != NULL)
        return usage_error ("network", _("--key and --out do not go with import"));
      if (!g_file_get_contents (argv[2], &contents, &length, &error))
        return failure ("network", error);
      parser = json_parser_new ();
      if (length > 64 * 1024 || !mh_codec_check_depth (contents, length, 8, NULL)
          || !json_parser_load_from_data (parser, contents, (gssize) length, NULL))
        {
          g_printerr (_("medhead-node network: %s: not a trust record\n"), argv[2]);
          return EXIT_FAILURE;
        }
      node = open_network_node ("network", data_dir, &status);
      if (node == NULL)
        return status;
      if (mh_trust_add (mh_node_get_trust (node), json_parser_get_root (parser), &error) == 0)
        {
          if (error != NULL)
            {
              g_printerr (_("medhead-node network: %s: refused: %s\n"), argv[2], error->message);
              return EXIT_FAILURE;
            }
          g_print (_("record already known\n"));
          return EXIT_SUCCESS;
        }
      g_print (_("record kept; it reaches the peers through the links\n"));
      return EXIT_SUCCESS;
    }
  return usage_error ("network", _("unknown action '%s' (known: create, admit-hub, import)"),
                      action);
}

/* A site named by its fingerprint, its site id or its public key. */
static char *
parse_subject (const char *text)
{
  char *site_id = NULL;
  g_autofree char *key = NULL;

  if (mh_public_key_get_ids (text, &site_id, NULL))
    return site_id;
  key = mh_trust_subject_key (text);
  if (key == NULL)
    return NULL;
  if (strlen (text) == MH_SITE_ID_LENGTH)
    return g_strdup (text);
  return mh_fingerprint_normalize (text, NULL);
}

static int
run_admit (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  g_autofree char *role = NULL;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
      N_("The admitting hub's data directory"), N_("DIR") },
    { "role", 'r', 0, G_OPTION_ARG_STRING, &role, N_("hospital or ambulance"), N_("ROLE") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autoptr(JsonNode) own = NULL;
  g_autoptr(JsonNode) record = NULL;
  g_autofree char *subject = NULL;
  MhTrust *trust;
  int status;

  status = parse_options ("admit", "STATION",
                          _("Admits a station (its fingerprint, site id or public key) to the\n"
                          "network, signed by this hub, which the network key admitted. The\n"
                          "admission reaches every node through the links."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (data_dir == NULL)
    return usage_error ("admit", _("--data-dir is required"));
  if (argc < 2)
    return usage_error ("admit", _("the STATION to admit is required"));
  if (argc > 2)
    return usage_error ("admit", _("unexpected argument '%s'"), argv[2]);
  if (role == NULL)
    return usage_error ("admit", _("--role is required"));
  if (!g_str_equal (role, "hospital") && !g_str_equal (role, "ambulance"))
    return usage_error ("admit", _("--role must be hospital or ambulance, not '%s'"), role);
  subject = parse_subject (argv[1]);
  if (subject == NULL)
    return usage_error ("admit", _("'%s' is neither a fingerprint, a site id nor a public key"),
                        argv[1]);

  node = open_network_node ("admit", data_dir, &status);
  if (node == NULL)
    return status;
  trust = mh_node_get_trust (node);
  own = mh_trust_get_admission (trust, mh_node_get_site_id (node));
  if (own == NULL || mh_node_get_role (node) != MH_ROLE_HUB)
    {
      g_printerr (_("medhead-node admit: this node is not an admitted hub (medhead-node network "
                    "admit-hub)\n"));
      return EXIT_FAILURE;
    }
  record = mh_trust_make_admission (mh_node_get_identity (node), mh_trust_get_network_key (trust),
                                    subject, role, own, g_get_real_time () / G_USEC_PER_SEC,
                                    &error);
  if (record == NULL)
    return failure ("admit", error);
  status = store_record ("admit", node, record);
  if (status != EXIT_SUCCESS)
    return status;
  g_print (_("%s admitted as %s\n"), subject, role);
  return EXIT_SUCCESS;
}

static int
run_revoke (int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  g_autofree char *key = NULL;
  gint64 cutoff = -1;
  const GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
      N_("The node that signs (a hub), or that hands the revocation on (with --key)"), N_("DIR") },
    { "key", 'k', 0, G_OPTION_ARG_FILENAME, &key,
      N_("Sign with the network key in this folder instead of the hub's"), N_("DIR") },
    { "cutoff", 'c', 0, G_OPTION_ARG_INT64, &cutoff,
      N_("The site's last change that stays (default: the highest this node has seen)"),
      N_("OSEQ") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autoptr(MhIdentity) network_identity = NULL;
  g_autoptr(JsonNode) own = NULL;
  g_autoptr(JsonNode) record = NULL;
  g_autofree char *subject = NULL;
  MhIdentity *issuer;
  MhTrust *trust;
  int status;

  status = parse_options ("revoke", "SITE",
                          _("Revokes a site: its changes after the cut-off (its own sequence\n"
                          "numbers) are refused on every node, and so are its links. A hub\n"
                          "revokes the stations it admitted; the network key revokes any site."),
                          entries, &argc, &argv);
  if (status != EXIT_SUCCESS)
    return status;
  if (data_dir == NULL)
    return usage_error ("revoke", _("--data-dir is required"));
  if (argc < 2)
    return usage_error ("revoke", _("the SITE to revoke is required"));
  if (argc > 2)
    return usage_error ("revoke", _("unexpected argument '%s'"), argv[2]);
  if (cutoff < -1)
    return usage_error ("revoke", _("--cutoff must be 0 or more"));
  subject = parse_subject (argv[1]);
  if (subject == NULL)
    return usage_error ("revoke", _("'%s' is neither a fingerprint, a site id nor a public key"),
                        argv[1]);

  if (key != NULL)
    {
      network_identity = load_network_key ("revoke", key, &status);
      if (network_identity == NULL)
        return status;
    }
  node = open_network_node ("revoke", data_dir, &status);
  if (node == NULL)
    return status;
  trust = mh_node_get_trust (node);
  if (network_identity != NULL)
    {
      if (g_strcmp0 (mh_trust_get_network_key (trust),
                     mh_identity_get_signing_public_key (network_identity)) != 0)
        {
          g_printerr (_("medhead-node revoke: %s belongs to another network\n"), data_dir);
          return EXIT_FAILURE;
        }
      issuer = network_identity;
    }
  else
    {
      own = mh_trust_get_admission (trust, mh_node_get_site_id (node));
      if (own == NULL || mh_node_get_role (node) != MH_ROLE_HUB)
        {
          g_printerr (_("medhead-node revoke: this node is not an admitted hub; sign with the "
                        "network key (--key DIR)\n"));
          return EXIT_FAILURE;
        }
      issuer = mh_node_get_identity (node);
    }
  if (cutoff < 0)
    cutoff = mh_trust_get_highest_seen (trust, subject);
  record = mh_trust_make_revocation (issuer, mh_trust_get_network_key (trust), subject, cutoff,
                                     own, g_get_real_time () / G_USEC_PER_SEC, &error);
  if (record == NULL)
    return failure ("revoke", error);
  status = store_record ("revoke", node, record);
  if (status != EXIT_SUCCESS)
    return status;
  {
    g_autofree char *cutoff_text = g_strdup_printf ("%" G_GINT64_FORMAT, cutoff);

    g_print (_("%s revoked; its changes after %s are refused\n"), subject, cutoff_text);
  }
  return EXIT_SUCCESS;
}

static const Command commands[] = {
  { "init", N_("Create a data directory: replica, site identity, API token"), run_init },
  { "serve", N_("Run the node and its REST API until SIGTERM or SIGINT"), run_serve },
  { "import", N_("Import hospitals and units from a registry file"), run_import },
  { "export", N_("Write hospitals and units to standard output"), run_export },
  { "status", N_("Print the node's status as JSON"), run_status },
  { "id", N_("Print this node's site id and fingerprint"), run_id },
  { "epoch", N_("Start a new log epoch after a restore ('epoch new')"), run_epoch },
  { "peer", N_("Add, list or remove the peers this node links with"), run_peer },
  { "token", N_("Manage the API token ('token rotate')"), run_token },
  { "incident", N_("Report incidents, rank units for them, assign and answer"), run_incident },
  { "retention", N_("Show the patients held here and when they are evicted ('--evict')"),
    run_retention },
  { "simulate", N_("Drive running nodes with bed, position and chat changes"), run_simulate },
  { "network", N_("Make a network key, admit hubs with it ('network create|admit-hub')"),
    run_network },
  { "admit", N_("Admit a station to the network, signed by this hub"), run_admit },
  { "revoke", N_("Revoke a site from a cut-off on: its later changes and links are refused"),
    run_revoke },
};

static void
print_usage (FILE *out)
{
  fprintf (out, "%s\n  medhead-node %s\n\n%s\n\n%s\n", _("Usage:"), _("COMMAND [OPTION…]"),
           _("A MedHead Emergency node: a replica of the region's hospitals, beds,\n"
             "units, patients, transfers and chat, with a REST API on loopback."),
           _("Commands:"));
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-9s %s\n", commands[i].name, _(commands[i].summary));
  fprintf (out, "\n%s\n  -h, --help     %s\n  --version      %s\n\n%s\n", _("Options:"),
           _("Show this help"), _("Show the version"),
           _("'medhead-node COMMAND --help' describes a command."));
}

int
main (int argc, char **argv)
{
  const char *name;
  /* Translations of an uninstalled build (_build/po), as for the app. */
  const char *localedir = g_getenv ("MEDHEAD_LOCALEDIR");

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, localedir && *localedir ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("medhead-node");

  if (argc < 2)
    {
      print_usage (stderr);
      return EXIT_USAGE;
    }
  name = argv[1];
  if (g_str_equal (name, "--help") || g_str_equal (name, "-h") || g_str_equal (name, "help"))
    {
      if (argc > 2 && g_str_equal (name, "help"))
        {
          for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
            if (g_str_equal (commands[i].name, argv[2]))
              {
                char *help_argv[] = { argv[2], (char *) "--help", NULL };
                return commands[i].run (2, help_argv);
              }
          g_printerr (_("medhead-node: unknown command '%s'\n"), argv[2]);
          return EXIT_USAGE;
        }
      print_usage (stdout);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (name, "--version"))
    {
      g_print ("medhead-node %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return commands[i].run (argc - 1, argv + 1);

  g_printerr (_("medhead-node: unknown command '%s'\n"), name);
  g_printerr (_("Try 'medhead-node --help'.\n"));
  return EXIT_USAGE;
}

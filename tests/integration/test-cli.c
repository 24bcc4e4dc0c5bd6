/* test-cli.c: the medhead-node command line, as an operator uses it */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "mh-test-node.h"
#include "mh-test-util.h"

static const char *const command_names[] = { "init",     "serve",    "import",    "export",
                                             "status",   "id",       "epoch",     "peer",
                                             "token",    "incident", "retention", "simulate",
                                             "network",  "admit",    "revoke",    NULL };

#define SOME_FINGERPRINT "ABCD-EFGH-IJKL-MNOP-QRST"

/* A fresh, not yet initialised data directory (its parent is temporary). */
static char *
fresh_dir (void)
{
  g_autofree char *parent = mh_test_make_tmpdir ("medhead-cli");

  return g_build_filename (parent, "node", NULL);
}

static void
remove_fresh_dir (const char *dir)
{
  g_autofree char *parent = g_path_get_dirname (dir);

  if (g_getenv ("MEDHEAD_KEEP_TMP") == NULL)
    mh_test_rm_rf (parent);
}

static void
init_hub (const char *dir)
{
  int status = mh_test_cli (NULL, NULL, "init", "--data-dir", dir, "--name", "Test hub", "--role",
                            "hub", NULL);

  g_assert_cmpint (status, ==, 0);
}

static JsonNode *
export_document (const char *dir)
{
  g_autofree char *out = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  int status = mh_test_cli (&out, NULL, "export", "--data-dir", dir, NULL);

  g_assert_cmpint (status, ==, 0);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  return json_parser_steal_root (parser);
}

static JsonArray *
document_hospitals (JsonNode *document)
{
  g_assert_true (JSON_NODE_HOLDS_OBJECT (document));
  return json_object_get_array_member (json_node_get_object (document), "hospitals");
}

static JsonObject *
find_by_id (JsonArray *array, const char *id)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *object = json_array_get_object_element (array, i);

      if (g_strcmp0 (json_object_get_string_member_with_default (object, "id", NULL), id) == 0)
        return object;
    }
  return NULL;
}

/* Every member the source object has is in the exported one with the same
 * value: what was imported comes back. Beds compare on what a registry file
 * carries (counts), not on when they were reported. */
static void
assert_carries (JsonObject *source, JsonObject *exported)
{
  g_autoptr(GList) members = json_object_get_members (source);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *want = json_object_get_member (source, name);
      JsonNode *got = json_object_get_member (exported, name);

      if (got == NULL && JSON_NODE_HOLDS_NULL (want))
        continue;
      if (got == NULL)
        g_error ("%s: missing from the export", name);
      if (g_str_equal (name, "beds"))
        {
          JsonObject *want_beds = json_node_get_object (want);
          JsonObject *got_beds = json_node_get_object (got);
          g_autoptr(GList) categories = json_object_get_members (want_beds);

          for (GList *c = categories; c != NULL; c = c->next)
            {
              JsonObject *want_bed = json_object_get_object_member (want_beds, c->data);
              JsonObject *got_bed = json_object_get_object_member (got_beds, c->data);

              g_assert_nonnull (got_bed);
              g_assert_cmpint (json_object_get_int_member (want_bed, "available"), ==,
                               json_object_get_int_member (got_bed, "available"));
              g_assert_cmpint (json_object_get_int_member (want_bed, "baseline"), ==,
                               json_object_get_int_member (got_bed, "baseline"));
            }
          continue;
        }
      if (!json_node_equal (want, got))
        {
          g_autofree char *a = json_to_string (want, FALSE);
          g_autofree char *b = json_to_string (got, FALSE);
          g_error ("%s: imported %s, exported %s", name, a, b);
        }
    }
}

/* ------------------------------------------------------------------------ */

static void
test_cli_help (void)
{
  g_autofree char *out = NULL;
  int status;

  status = mh_test_cli (&out, NULL, "--help", NULL);
  g_assert_cmpint (status, ==, 0);
  for (guint i = 0; command_names[i] != NULL; i++)
    g_assert_nonnull (strstr (out, command_names[i]));
  g_clear_pointer (&out, g_free);

  for (guint i = 0; command_names[i] != NULL; i++)
    {
      g_autofree char *text = NULL;

      status = mh_test_cli (&text, NULL, command_names[i], "--help", NULL);
      g_assert_cmpint (status, ==, 0);
      g_assert_nonnull (strstr (text, "Usage"));
      g_assert_nonnull (strstr (text, "--data-dir"));
    }

  status = mh_test_cli (&out, NULL, "--version", NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (g_str_has_prefix (out, "medhead-node " PACKAGE_VERSION));
}

/* The lines of a command's English --help that describe it: the summary
 * (from the fourth line, after "Usage:", the command line and a blank
 * line, to the next blank line) and every line of "Application Options". */
static GPtrArray *
help_described_lines (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GPtrArray *described = g_ptr_array_new_with_free_func (g_free);
  gboolean in_options = FALSE;
  guint i;

  for (i = 3; lines[i] != NULL && *lines[i] != '\0'; i++)
    g_ptr_array_add (described, g_strdup (lines[i]));
  for (; lines[i] != NULL; i++)
    {
      if (g_str_equal (lines[i], "Application Options:"))
        in_options = TRUE;
      else if (in_options && g_str_has_prefix (lines[i], "  -"))
        g_ptr_array_add (described, g_strdup (lines[i]));
    }
  return described;
}

/* medhead-node follows the locale: with LANGUAGE=fr no command's summary
 * or option line is left in English (the catalogue is the build's). */
static void
test_cli_help_french (void)
{
  const char *build_root = g_getenv ("MEDHEAD_BUILD_ROOT");
  g_autofree char *localedir = NULL;
  g_autofree char *catalogue = NULL;

  g_assert_nonnull (build_root);
  localedir = g_build_filename (build_root, "po", NULL);
  catalogue = g_build_filename (localedir, "fr", "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);
  if (!g_file_test (catalogue, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("the French catalogue is not built (msgfmt missing)");
      return;
    }

  for (guint i = 0; command_names[i] != NULL; i++)
    {
      g_autofree char *english = NULL;
      g_autofree char *french = NULL;
      g_autoptr(GPtrArray) described = NULL;
      int status;

      /* The children inherit these; LANGUAGE=en (no catalogue) is English,
       * which the later tests of this program expect. */
      g_setenv ("LC_ALL", "C.UTF-8", TRUE);
      g_setenv ("MEDHEAD_LOCALEDIR", localedir, TRUE);
      g_setenv ("LANGUAGE", "en", TRUE);
      status = mh_test_cli (&english, NULL, command_names[i], "--help", NULL);
      g_assert_cmpint (status, ==, 0);
      g_setenv ("LANGUAGE", "fr", TRUE);
      status = mh_test_cli (&french, NULL, command_names[i], "--help", NULL);
      g_setenv ("LANGUAGE", "en", TRUE);
      g_assert_cmpint (status, ==, 0);
      g_assert_nonnull (strstr (french, "Utilisation"));

      described = help_described_lines (english);
      g_assert_cmpuint (described->len, >, 1);
      for (guint j = 0; j < described->len; j++)
        {
          const char *line = g_ptr_array_index (described, j);

          if (strstr (french, line) != NULL)
            g_error ("medhead-node %s --help: not translated: \"%s\"", command_names[i], line);
        }
    }
}

typedef struct
{
  const char *args[12];
  const char *says; /* a part of the message on stderr */
} BadCase;

static void
test_cli_bad_arguments (void)
{
  g_autofree char *dir = fresh_dir ();
  const BadCase cases[] = {
    { { NULL }, "Usage" },
    { { "frobnicate", NULL }, "unknown command" },
    { { "init", "--name", "X", "--role", "hub", NULL }, "--data-dir" },
    { { "init", "--data-dir", dir, "--role", "hub", NULL }, "--name" },
    { { "init", "--data-dir", dir, "--name", "X", NULL }, "--role" },
    { { "init", "--data-dir", dir, "--name", "X", "--role", "doctor", NULL }, "--role" },
    { { "init", "--data-dir", dir, "--name", "X", "--role", "hospital", NULL }, "--hospital" },
    { { "init", "--data-dir", dir, "--name", "X", "--role", "ambulance", NULL }, "--unit" },
    { { "init", "--data-dir", dir, "--name", "X", "--role", "hub", "--unit", "u1", NULL },
      "--unit" },
    { { "init", "--data-dir", dir, "--name", "X", "--role", "hub", "--bogus", NULL }, "bogus" },
    { { "serve", NULL }, "--data-dir" },
    { { "serve", "--data-dir", dir, "--api", "10.1.2.3:8470", NULL }, "loopback" },
    { { "serve", "--data-dir", dir, "--api", "0.0.0.0:8470", NULL }, "loopback" },
    { { "serve", "--data-dir", dir, "--api", "127.0.0.1", NULL }, "ADDRESS:PORT" },
    { { "serve", "--data-dir", dir, "--api", "127.0.0.1:99999", NULL }, "port" },
    { { "serve", "--data-dir", dir, "--api", "example.org:80", NULL }, "IP address" },
    { { "import", "--data-dir", dir, NULL }, "FILE" },
    { { "import", "FILE", NULL }, "--data-dir" },
    { { "export", "--data-dir", dir, "extra", NULL }, "extra" },
    { { "status", NULL }, "--data-dir" },
    { { "token", "--data-dir", dir, NULL }, "rotate" },
    { { "token", "spin", "--data-dir", dir, NULL }, "spin" },
    { { "simulate", NULL }, "--data-dir" },
    { { "simulate", "--data-dir", dir, "--interval", "10", NULL }, "--interval" },
    { { "simulate", "--data-dir", dir, "--steps", "-1", NULL }, "--steps" },
    { { "simulate", "--data-dir", dir, "--channel", "lobby", NULL }, "--channel" },
    { { "simulate", "--data-dir", dir, "extra", NULL }, "extra" },
    { { "init", "--data-dir", dir, "--name", "X", "--role", "hub", "--network", "no-key", NULL },
      "--network" },
    { { "network", NULL }, "an action is required" },
    { { "network", "launch", NULL }, "launch" },
    { { "network", "create", NULL }, "--out" },
    { { "network", "create", "--out", dir, "--key", dir, NULL }, "admit-hub" },
    { { "network", "admit-hub", "--data-dir", dir, NULL }, "--key" },
    { { "network", "admit-hub", "--key", dir, NULL }, "--data-dir" },
    { { "network", "admit-hub", "--key", dir, "--data-dir", dir, SOME_FINGERPRINT, NULL },
      "not both" },
    { { "network", "admit-hub", "--key", dir, "nobody", NULL }, "neither" },
    { { "network", "create", "--out", dir, "extra", NULL }, "extra" },
    { { "network", "import", "--data-dir", dir, NULL }, "FILE" },
    { { "network", "import", "record.json", NULL }, "--data-dir" },
    { { "network", "admit-hub", "--key", dir, "--data-dir", dir, NULL }, "no network key" },
    { { "admit", SOME_FINGERPRINT, "--role", "hospital", NULL }, "--data-dir" },
    { { "admit", "--data-dir", dir, NULL }, "STATION" },
    { { "admit", "--data-dir", dir, SOME_FINGERPRINT, NULL }, "--role" },
    { { "admit", "--data-dir", dir, SOME_FINGERPRINT, "--role", "hub", NULL }, "hub" },
    { { "admit", "--data-dir", dir, "nobody", "--role", "hospital", NULL }, "neither" },
    { { "revoke", SOME_FINGERPRINT, NULL }, "--data-dir" },
    { { "revoke", "--data-dir", dir, NULL }, "SITE" },
    { { "revoke", "--data-dir", dir, "nobody", NULL }, "neither" },
    { { "revoke", "--data-dir", dir, SOME_FINGERPRINT, "--cutoff", "-5", NULL }, "--cutoff" },
    { { "revoke", "--data-dir", dir, SOME_FINGERPRINT, "--key", dir, NULL }, "no network key" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *err = NULL;
      int status = mh_test_cli_argv (cases[i].args, NULL, &err);

      g_test_message ("case %u: %s", i, cases[i].args[0] != NULL ? cases[i].args[0] : "(none)");
      g_assert_cmpint (status, ==, 2);
      g_assert_nonnull (err);
      if (strstr (err, cases[i].says) == NULL)
        g_error ("case %u: expected '%s' in: %s", i, cases[i].says, err);
    }
  /* None of this created anything. */
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  remove_fresh_dir (dir);
}

/* simulate needs running nodes: a folder with no api-url is a failure
 * (exit 1), not a usage error. The demo network test runs it for real. */
static void
test_cli_simulate_no_node (void)
{
  g_autofree char *dir = fresh_dir ();
  g_autofree char *err = NULL;
  int status;

  status = mh_test_cli (NULL, NULL, "init", "--data-dir", dir, "--name", "Hub", "--role", "hub",
                        NULL);
  g_assert_cmpint (status, ==, 0);
  status = mh_test_cli (NULL, &err, "simulate", "--data-dir", dir, "--steps", "1", NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "api-url"));
  remove_fresh_dir (dir);
}

/* A network key, a node that joins it, and the commands that need one. */
static void
test_cli_network (void)
{
  g_autofree char *dir = fresh_dir ();
  g_autofree char *parent = g_path_get_dirname (dir);
  g_autofree char *key_dir = g_build_filename (parent, "netkey", NULL);
  g_autofree char *key_path = g_build_filename (key_dir, "identity-key.pem", NULL);
  g_autofree char *pub_path = g_build_filename (key_dir, "network.pub", NULL);
  g_autofree char *plain = g_build_filename (parent, "plain", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *network;
  GStatBuf st;
  int status;

  status = mh_test_cli (&out, NULL, "network", "create", "--out", key_dir, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "network id: "));
  g_assert_cmpint (g_stat (key_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  /* Never replaced. */
  status = mh_test_cli (NULL, &err, "network", "create", "--out", key_dir, NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "already"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  status = mh_test_cli (NULL, NULL, "init", "--data-dir", dir, "--name", "Hub", "--role", "hub",
                        "--network", pub_path, NULL);
  g_assert_cmpint (status, ==, 0);
  status = mh_test_cli (&out, NULL, "status", "--data-dir", dir, NULL);
  g_assert_cmpint (status, ==, 0);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  network = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)),
                                           "network");
  g_assert_nonnull (network);
  g_assert_cmpstr (json_object_get_string_member (network, "admission"), ==, "none");
  g_clear_pointer (&out, g_free);

  /* Not yet admitted: it cannot admit anyone. */
  status = mh_test_cli (NULL, &err, "admit", "--data-dir", dir, SOME_FINGERPRINT, "--role",
                        "hospital", NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "not an admitted hub"));
  g_clear_pointer (&err, g_free);

  status = mh_test_cli (&out, NULL, "network", "admit-hub", "--key", key_dir, "--data-dir", dir,
                        NULL);
  g_assert_cmpint (status, ==, 0);
  g_clear_pointer (&out, g_free);
  status = mh_test_cli (&out, NULL, "admit", "--data-dir", dir, SOME_FINGERPRINT, "--role",
                        "ambulance", NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "admitted as ambulance"));
  g_clear_pointer (&out, g_free);
  status = mh_test_cli (&out, NULL, "revoke", "--data-dir", dir, SOME_FINGERPRINT, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "after 0"));
  g_clear_pointer (&out, g_free);

  /* Offline: the network key signs a hub known by its fingerprint only, and
   * the hub imports the record. */
  {
    g_autofree char *hub2 = g_build_filename (parent, "hub2", NULL);
    g_autofree char *record_path = g_build_filename (parent, "hub2-admission.json", NULL);
    g_autofree char *tampered_path = g_build_filename (parent, "tampered.json", NULL);
    g_autofree char *id = NULL;
    g_autofree char *record = NULL;
    g_autofree char *tampered = NULL;
    const char *fingerprint;

    status = mh_test_cli (NULL, NULL, "init", "--data-dir", hub2, "--name", "Hub 2", "--role",
                          "hub", "--network", pub_path, NULL);
    g_assert_cmpint (status, ==, 0);
    status = mh_test_cli (&id, NULL, "id", "--data-dir", hub2, NULL);
    g_assert_cmpint (status, ==, 0);
    fingerprint = strstr (id, "fingerprint: ");
    g_assert_nonnull (fingerprint);
    fingerprint += strlen ("fingerprint: ");
    ((char *) fingerprint)[24] = '\0';
    status = mh_test_cli (&record, NULL, "network", "admit-hub", "--key", key_dir, fingerprint,
                          NULL);
    g_assert_cmpint (status, ==, 0);
    g_assert_true (g_file_set_contents (record_path, record, -1, NULL));

    /* The same record issued at another time does not verify. */
    tampered = g_strdup (record);
    {
      char *digit = strstr (tampered, "\"issued_at\":");

      g_assert_nonnull (digit);
      digit += strlen ("\"issued_at\":");
      *digit = *digit == '1' ? '2' : '1';
    }
    g_assert_true (g_file_set_contents (tampered_path, tampered, -1, NULL));
    status = mh_test_cli (NULL, &err, "network", "import", "--data-dir", hub2, tampered_path,
                          NULL);
    g_assert_cmpint (status, ==, 1);
    g_assert_nonnull (strstr (err, "signature"));
    g_clear_pointer (&err, g_free);

    status = mh_test_cli (&out, NULL, "network", "import", "--data-dir", hub2, record_path, NULL);
    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (out, "kept"));
    g_clear_pointer (&out, g_free);
    status = mh_test_cli (&out, NULL, "network", "import", "--data-dir", hub2, record_path, NULL);
    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (out, "already known"));
    g_clear_pointer (&out, g_free);
    /* Now it admits stations. */
    status = mh_test_cli (&out, NULL, "admit", "--data-dir", hub2, SOME_FINGERPRINT, "--role",
                          "hospital", NULL);
    g_assert_cmpint (status, ==, 0);
    g_clear_pointer (&out, g_free);
  }

  /* A node of no network has nothing to admit with. */
  status = mh_test_cli (NULL, NULL, "init", "--data-dir", plain, "--name", "Plain", "--role",
                        "hub", NULL);
  g_assert_cmpint (status, ==, 0);
  status = mh_test_cli (NULL, &err, "revoke", "--data-dir", plain, SOME_FINGERPRINT, NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "no network"));
  remove_fresh_dir (dir);
}

static void
test_cli_init (void)
{
  g_autofree char *dir = fresh_dir ();
  g_autofree char *token_path = g_build_filename (dir, "api-token", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *token = NULL;
  g_autofree char *token_again = NULL;
  GStatBuf st;
  int status;

  status = mh_test_cli (&out, NULL, "init", "--data-dir", dir, "--name", "Test hub", "--role",
                        "hub", NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "site id"));
  g_assert_nonnull (strstr (out, token_path));

  /* The token is the user's alone. */
  g_assert_cmpint (g_stat (token_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_get_contents (token_path, &token, NULL, NULL));

  /* A second init must not replace the identity or the replica. */
  status = mh_test_cli (NULL, &err, "init", "--data-dir", dir, "--name", "Other", "--role", "hub",
                        NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (err);
  g_assert_cmpuint (strlen (err), >, 0);
  g_assert_true (g_file_get_contents (token_path, &token_again, NULL, NULL));
  g_assert_cmpstr (token, ==, token_again);

  remove_fresh_dir (dir);
}

static void
test_cli_status (void)
{
  g_autofree char *dir = fresh_dir ();
  g_autofree char *out = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *status_object;
  int status;

  /* A directory that was never initialised is a runtime failure. */
  status = mh_test_cli (NULL, NULL, "status", "--data-dir", dir, NULL);
  g_assert_cmpint (status, ==, 1);

  init_hub (dir);
  status = mh_test_cli (&out, NULL, "status", "--data-dir", dir, NULL);
  g_assert_cmpint (status, ==, 0);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  status_object = json_node_get_object (json_parser_get_root (parser));
  g_assert_nonnull (json_object_get_string_member_with_default (status_object, "site_id", NULL));
  g_assert_cmpstr (json_object_get_string_member_with_default (status_object, "role", NULL), ==,
                   "hub");

  remove_fresh_dir (dir);
}

static void
test_cli_import_export (void)
{
  g_autofree char *dir = fresh_dir ();
  g_autofree char *dir2 = fresh_dir ();
  g_autofree char *region = mh_test_source_file ("data/demo/region-idf.json");
  g_autofree char *exported_path = NULL;
  g_autofree char *out = NULL;
  g_autoptr(JsonNode) source = mh_test_load_json (region);
  g_autoptr(JsonNode) first = NULL;
  g_autoptr(JsonNode) second = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *source_hospitals, *first_hospitals, *second_hospitals;
  int status;

  init_hub (dir);
  status = mh_test_cli (&out, NULL, "import", "--data-dir", dir, region, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "54 hospitals"));

  first = export_document (dir);
  source_hospitals = document_hospitals (source);
  first_hospitals = document_hospitals (first);
  g_assert_cmpuint (json_array_get_length (source_hospitals), ==, 54);
  g_assert_cmpuint (json_array_get_length (first_hospitals), ==, 54);
  for (guint i = 0; i < json_array_get_length (source_hospitals); i++)
    {
      JsonObject *want = json_array_get_object_element (source_hospitals, i);
      JsonObject *got = find_by_id (first_hospitals,
                                    json_object_get_string_member (want, "id"));

      g_assert_nonnull (got);
      assert_carries (want, got);
    }

  /* The export is itself an importable file that gives the same export. */
  {
    g_autofree char *parent = g_path_get_dirname (dir2);
    exported_path = g_build_filename (parent, "export.json", NULL);
  }
  {
    g_autofree char *text = json_to_string (first, TRUE);
    g_file_set_contents (exported_path, text, -1, &error);
    g_assert_no_error (error);
  }
  init_hub (dir2);
  status = mh_test_cli (NULL, NULL, "import", "--data-dir", dir2, exported_path, NULL);
  g_assert_cmpint (status, ==, 0);
  second = export_document (dir2);
  second_hospitals = document_hospitals (second);
  g_assert_cmpuint (json_array_get_length (second_hospitals), ==, 54);
  for (guint i = 0; i < json_array_get_length (first_hospitals); i++)
    {
      JsonObject *want = json_array_get_object_element (first_hospitals, i);
      JsonObject *got = find_by_id (second_hospitals,
                                    json_object_get_string_member (want, "id"));

      g_assert_nonnull (got);
      assert_carries (want, got);
    }

  remove_fresh_dir (dir);
  remove_fresh_dir (dir2);
}

static void
assert_import_fails (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, "..", name, NULL);
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) document = NULL;
  int status;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  status = mh_test_cli (NULL, &err, "import", "--data-dir", dir, path, NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, path));

  /* All or nothing: not one hospital of the file got in. */
  document = export_document (dir);
  g_assert_cmpuint (json_array_get_length (document_hospitals (document)), ==, 0);
}

static void
test_cli_import_malformed (void)
{
  g_autofree char *dir = fresh_dir ();
  g_autofree char *missing = g_build_filename (dir, "..", "missing.json", NULL);
  g_autofree char *deep = NULL;
  int status;

  init_hub (dir);
  status = mh_test_cli (NULL, NULL, "import", "--data-dir", dir, missing, NULL);
  g_assert_cmpint (status, ==, 1);

  assert_import_fails (dir, "truncated.json",
                       "{\"format\": \"medhead-registry/1\", \"hospitals\": [{\"id\": ");
  assert_import_fails (dir, "not-json.json", "hospitals:\n  - Fred Brooks\n");
  assert_import_fails (dir, "wrong-format.json", "{\"format\": \"something-else/9\", "
                                                 "\"hospitals\": []}");
  /* One good hospital, then a bad one: the good one must not stay. */
  assert_import_fails (dir, "half-bad.json",
                       "{\"format\": \"medhead-registry/1\", \"hospitals\": ["
                       "{\"id\": \"0c2a1e52-6b3c-4d8e-9f10-111111111111\", \"name\": \"Good\", "
                       "\"lat\": 48.8, \"lon\": 2.3, \"specialties\": [21]},"
                       "{\"id\": \"0c2a1e52-6b3c-4d8e-9f10-222222222222\", \"name\": \"Bad\", "
                       "\"lat\": 148.8, \"lon\": 2.3, \"specialties\": [21]}]}");
  deep = g_strnfill (5000, '[');
  assert_import_fails (dir, "deep.json", deep);

  remove_fresh_dir (dir);
}

static void
test_cli_token_rotate (void)
{
  g_autoptr(MhTestNode) node = mh_test_node_new ("hub", "Rotating hub", NULL);
  g_autofree char *old_token = NULL;
  g_autofree char *new_token = NULL;
  g_autofree char *token_path = g_build_filename (node->dir, "api-token", NULL);
  g_autoptr(MhTestReply) before = NULL;
  g_autoptr(MhTestReply) with_old = NULL;
  g_autoptr(MhTestReply) with_new = NULL;
  GStatBuf st;
  int status;

  mh_test_node_start (node);
  old_token = g_strdup (node->token);
  before = mh_test_node_request (node, "GET", "/api/v1/status", NULL);
  g_assert_cmpuint (before->status, ==, 200);

  status = mh_test_cli (NULL, NULL, "token", "rotate", "--data-dir", node->dir, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (g_file_get_contents (token_path, &new_token, NULL, NULL));
  g_strstrip (new_token);
  g_assert_cmpstr (new_token, !=, old_token);
  g_assert_cmpint (g_stat (token_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* The running node takes the new token at once and refuses the old one. */
  with_old = mh_test_request (node->session, node->url, "GET", "/api/v1/status", old_token, NULL,
                              NULL, 0);
  mh_test_assert_error (with_old, 401, "unauthorized", NULL);
  with_new = mh_test_request (node->session, node->url, "GET", "/api/v1/status", new_token, NULL,
                              NULL, 0);
  g_assert_cmpuint (with_new->status, ==, 200);

  g_assert_cmpint (mh_test_node_stop (node, SIGTERM), ==, 0);
}

static void
test_cli_serve_port_in_use (void)
{
  g_autoptr(MhTestNode) first = mh_test_node_new ("hub", "First", NULL);
  g_autoptr(MhTestNode) second = mh_test_node_new ("hub", "Second", NULL);
  g_autofree char *address = NULL;
  g_autofree char *err = NULL;
  int status;

  mh_test_node_start (first);
  /* Listening on a taken port is a runtime failure, with a message. */
  address = g_strdup (first->url + strlen ("http://"));
  status = mh_test_cli (NULL, &err, "serve", "--data-dir", second->dir, "--api", address, NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_cmpuint (strlen (err), >, 0);
  g_assert_cmpint (mh_test_node_stop (first, SIGINT), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/cli/help", test_cli_help);
  g_test_add_func ("/cli/help-french", test_cli_help_french);
  g_test_add_func ("/cli/bad-arguments", test_cli_bad_arguments);
  g_test_add_func ("/cli/init", test_cli_init);
  g_test_add_func ("/cli/network", test_cli_network);
  g_test_add_func ("/cli/status", test_cli_status);
  g_test_add_func ("/cli/import-export", test_cli_import_export);
  g_test_add_func ("/cli/import-malformed", test_cli_import_malformed);
  g_test_add_func ("/cli/token-rotate", test_cli_token_rotate);
  g_test_add_func ("/cli/serve-port-in-use", test_cli_serve_port_in_use);
  g_test_add_func ("/cli/simulate-no-node", test_cli_simulate_no_node);

  return g_test_run ();
}

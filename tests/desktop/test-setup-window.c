/* test-setup-window.c: first run, peers included, in process under Xvfb
 *
 * Types into the setup window as a user would (through its entry rows and
 * its actions): malformed fingerprints and addresses get a message and
 * never a crash, good peers are listed, and creating the station pins them
 * in its replica and shows its own fingerprint.
 */
#include "config.h"

#include "desktop-test-common.h"
#include "mh-application.h"
#include "mh-setup-window.h"
#include "mh-test-util.h"
#include <glib/gstdio.h>
#include <string.h>

static gboolean have_display;

/* The first descendant of widget of the given type whose title (as a
 * preferences row) is title; NULL title matches any. */
static GtkWidget *
find_widget (GtkWidget *widget, GType type, const char *title)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (G_TYPE_CHECK_INSTANCE_TYPE (child, type)
          && (title == NULL
              || (ADW_IS_PREFERENCES_ROW (child)
                  && g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (child)), title)
                       == 0)))
        return child;
      found = find_widget (child, type, title);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static gboolean
shows_text (GtkWidget *widget, const char *text)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if ((GTK_IS_LABEL (child) && g_strcmp0 (gtk_label_get_text (GTK_LABEL (child)), text) == 0)
        || shows_text (child, text))
      return TRUE;
  return FALSE;
}

static GtkWidget *
entry_row (MhSetupWindow *window, const char *title)
{
  GtkWidget *row = find_widget (GTK_WIDGET (window), ADW_TYPE_ENTRY_ROW, title);

  g_assert_nonnull (row);
  return row;
}

static GtkWidget *
find_named (GtkWidget *widget, const char *name)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (g_strcmp0 (gtk_widget_get_name (child), name) == 0)
        return child;
      found = find_named (child, name);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static guint
n_listed_peers (MhSetupWindow *window)
{
  GtkWidget *list = find_named (GTK_WIDGET (window), "peers-list");
  guint n = 0;

  g_assert_nonnull (list);
  if (!gtk_widget_get_visible (list))
    return 0;
  for (GtkWidget *row = gtk_widget_get_first_child (list); row != NULL;
       row = gtk_widget_get_next_sibling (row))
    n++;
  return n;
}

static void
add_peer (MhSetupWindow *window, const char *fingerprint, const char *url)
{
  gtk_editable_set_text (GTK_EDITABLE (entry_row (window, "Peer's _fingerprint")), fingerprint);
  gtk_editable_set_text (GTK_EDITABLE (entry_row (window, "Peer's _address (https://HOST:PORT)")),
                         url);
  gtk_widget_activate_action (GTK_WIDGET (window), "setup.add-peer", NULL);
  drain_main_loop ();
}

static void
test_peers_input (void)
{
  MhSetupWindow *window;
  GtkWidget *fingerprint_row, *url_row;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  window = mh_setup_window_new (NULL);
  gtk_window_present (GTK_WINDOW (window));
  gtk_widget_activate_action (GTK_WIDGET (window), "setup.form", NULL);
  drain_main_loop ();
  fingerprint_row = entry_row (window, "Peer's _fingerprint");
  url_row = entry_row (window, "Peer's _address (https://HOST:PORT)");

  /* Malformed: refused with a message, the input kept to be corrected. */
  add_peer (window, "", "");
  g_assert_true (gtk_widget_has_css_class (fingerprint_row, "error"));
  add_peer (window, "HELLO-W0RLD", "https://hub.example.org:8471");
  g_assert_true (gtk_widget_has_css_class (fingerprint_row, "error"));
  /* The message stays under the entries until the input is fixed. */
  g_assert_true (gtk_widget_get_visible (find_named (GTK_WIDGET (window), "peer-error")));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (fingerprint_row)), ==, "HELLO-W0RLD");
  add_peer (window, "GZTA-LEVR-OED3-MEK6", "");
  g_assert_true (gtk_widget_has_css_class (fingerprint_row, "error"));
  add_peer (window, "GZTA-LEVR-OED3-MEK6-7YYA", "http://hub.example.org:8471");
  g_assert_false (gtk_widget_has_css_class (fingerprint_row, "error"));
  g_assert_true (gtk_widget_has_css_class (url_row, "error"));
  add_peer (window, "GZTA-LEVR-OED3-MEK6-7YYA", "https://hub.example.org/sync");
  g_assert_true (gtk_widget_has_css_class (url_row, "error"));
  add_peer (window, "GZTA-LEVR-OED3-MEK6-7YYA", "not a url at all");
  g_assert_true (gtk_widget_has_css_class (url_row, "error"));
  g_assert_cmpuint (n_listed_peers (window), ==, 0);

  /* Well-formed: listed, the entries cleared for the next one. Case,
   * spaces and dashes do not matter; the same peer again is updated. */
  add_peer (window, "gzta levr oed3 mek6 7yya", "https://hub.example.org:8471");
  g_assert_false (gtk_widget_has_css_class (url_row, "error"));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (fingerprint_row)), ==, "");
  g_assert_false (gtk_widget_get_visible (find_named (GTK_WIDGET (window), "peer-error")));
  g_assert_cmpuint (n_listed_peers (window), ==, 1);
  add_peer (window, "2BKY-A56Y-AT6D-CLBH-RI5A", "");
  g_assert_cmpuint (n_listed_peers (window), ==, 2);
  add_peer (window, "GZTALEVROED3MEK67YYA", "https://[::1]:8471");
  g_assert_cmpuint (n_listed_peers (window), ==, 2);

  gtk_widget_activate_action (GTK_WIDGET (window), "setup.remove-peer", "s",
                              "2BKY-A56Y-AT6D-CLBH-RI5A");
  drain_main_loop ();
  g_assert_cmpuint (n_listed_peers (window), ==, 1);

  gtk_window_destroy (GTK_WINDOW (window));
  drain_main_loop ();
}

static void
test_create_with_peers (void)
{
  g_autoptr (MhApplication) app = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonArray) peers = NULL;
  MhSetupWindow *window;
  GtkWidget *stack;
  MhNode *node;
  gboolean hub = FALSE, desk = FALSE;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  app = mh_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (app), NULL, &error);
  g_assert_no_error (error);

  window = mh_setup_window_new (app);
  gtk_window_present (GTK_WINDOW (window));
  gtk_widget_activate_action (GTK_WIDGET (window), "setup.form", NULL);
  drain_main_loop ();
  gtk_editable_set_text (GTK_EDITABLE (entry_row (window, "_Name of this station")),
                         "Test desk");
  add_peer (window, "GZTA-LEVR-OED3-MEK6-7YYA", "https://hub.example.org:8471");
  /* Typed but not added: Create takes it too. */
  gtk_editable_set_text (GTK_EDITABLE (entry_row (window, "Peer's _fingerprint")),
                         "2BKY-A56Y-AT6D-CLBH-RI5A");
  gtk_widget_activate_action (GTK_WIDGET (window), "setup.create", NULL);
  drain_main_loop ();

  node = mh_application_get_node (app);
  g_assert_nonnull (node);
  peers = mh_node_list_peers (node);
  g_assert_cmpuint (json_array_get_length (peers), ==, 2);
  for (guint i = 0; i < json_array_get_length (peers); i++)
    {
      JsonObject *peer = json_array_get_object_element (peers, i);
      const char *fingerprint = json_object_get_string_member (peer, "fingerprint");
      const char *url = json_object_get_string_member_with_default (peer, "url", NULL);

      if (g_str_equal (fingerprint, "GZTA-LEVR-OED3-MEK6-7YYA"))
        hub = g_strcmp0 (url, "https://hub.example.org:8471") == 0;
      else if (g_str_equal (fingerprint, "2BKY-A56Y-AT6D-CLBH-RI5A"))
        desk = url == NULL;
    }
  g_assert_true (hub);
  g_assert_true (desk);

  /* The last page shows this station's own fingerprint to read out. */
  stack = find_widget (GTK_WIDGET (window), GTK_TYPE_STACK, NULL);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (stack)), ==, "done");
  g_assert_true (shows_text (gtk_stack_get_visible_child (GTK_STACK (stack)),
                             mh_node_get_fingerprint (node)));

  gtk_window_destroy (GTK_WINDOW (window));
  drain_main_loop ();
}

static MhSetupWindow *
app_setup_window (MhApplication *app)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (app)); l != NULL; l = l->next)
    if (MH_IS_SETUP_WINDOW (l->data))
      return l->data;
  return NULL;
}

static AdwMessageDialog *
app_error_dialog (MhApplication *app)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (app)); l != NULL; l = l->next)
    if (ADW_IS_MESSAGE_DIALOG (l->data))
      return l->data;
  return NULL;
}

static void
destroy_windows (MhApplication *app)
{
  GList *windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (app)));

  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_destroy (GTK_WINDOW (l->data));
  g_list_free (windows);
  drain_main_loop ();
}

/* `medhead --data-dir DIR` as the app's activation sees it. */
static MhApplication *
activate_with_data_dir (const char *dir)
{
  MhApplication *app = mh_application_new ();
  g_autoptr (GError) error = NULL;

  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (app), NULL, &error);
  g_assert_no_error (error);
  mh_application_set_data_dir (app, dir);
  g_application_activate (G_APPLICATION (app));
  drain_main_loop ();
  return app;
}

/* A new folder (missing, or empty) gets the setup assistant, which makes
 * the station there; a folder of other files gets an error and is left
 * as it was. */
static void
test_new_data_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("setup-data-dir-XXXXXX", &error);
  g_autofree char *missing = NULL;
  g_autofree char *empty = NULL;
  g_autofree char *other = NULL;
  g_autofree char *notes = NULL;
  g_autofree char *replica = NULL;
  g_autofree char *text = NULL;
  g_autofree char *file_dir = NULL;
  MhSetupWindow *window;
  gboolean is_new = FALSE;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_no_error (error);
  missing = g_build_filename (tmp, "not-yet", "station", NULL);
  empty = g_build_filename (tmp, "empty", NULL);
  other = g_build_filename (tmp, "other", NULL);
  notes = g_build_filename (other, "notes.txt", NULL);
  g_assert_cmpint (g_mkdir (empty, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (other, 0700), ==, 0);
  g_assert_true (g_file_set_contents (notes, "not a station", -1, NULL));

  g_assert_true (mh_data_dir_check (missing, &is_new, &error));
  g_assert_no_error (error);
  g_assert_true (is_new);
  g_assert_true (mh_data_dir_check (empty, &is_new, &error));
  g_assert_true (is_new);
  g_assert_false (mh_data_dir_check (other, &is_new, &error));
  g_assert_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, other));
  g_clear_error (&error);
  g_assert_false (mh_data_dir_check (notes, &is_new, &error));
  g_assert_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG);
  g_clear_error (&error);

  /* A folder that does not exist: the assistant, for that folder. */
  {
    g_autoptr (MhApplication) app = activate_with_data_dir (missing);
    MhNode *node;

    window = app_setup_window (app);
    g_assert_nonnull (window);
    g_assert_null (app_error_dialog (app));
    g_assert_true (shows_text (GTK_WIDGET (window), missing));
    gtk_widget_activate_action (GTK_WIDGET (window), "setup.form", NULL);
    drain_main_loop ();
    gtk_editable_set_text (GTK_EDITABLE (entry_row (window, "_Name of this station")),
                           "New folder desk");
    gtk_widget_activate_action (GTK_WIDGET (window), "setup.create", NULL);
    drain_main_loop ();
    node = mh_application_get_node (app);
    g_assert_nonnull (node);
    g_assert_cmpstr (mh_node_get_data_dir (node), ==, missing);
    replica = g_build_filename (missing, "replica.db", NULL);
    g_assert_true (g_file_test (replica, G_FILE_TEST_IS_REGULAR));
    destroy_windows (app);
  }

  /* Once set up, the same folder opens the station. */
  {
    g_autoptr (MhApplication) app = activate_with_data_dir (missing);

    g_assert_null (app_setup_window (app));
    g_assert_null (app_error_dialog (app));
    g_assert_nonnull (mh_application_get_node (app));
    g_assert_cmpstr (mh_node_get_name (mh_application_get_node (app)), ==, "New folder desk");
    destroy_windows (app);
  }

  /* An empty folder: the assistant too. */
  {
    g_autoptr (MhApplication) app = activate_with_data_dir (empty);

    g_assert_nonnull (app_setup_window (app));
    g_assert_null (app_error_dialog (app));
    destroy_windows (app);
  }

  /* Other files: an error that names the folder, nothing written. */
  {
    g_autoptr (MhApplication) app = activate_with_data_dir (other);
    g_autoptr (GDir) listing = NULL;
    AdwMessageDialog *dialog;
    guint n = 0;

    g_assert_null (app_setup_window (app));
    g_assert_null (mh_application_get_node (app));
    dialog = app_error_dialog (app);
    g_assert_nonnull (dialog);
    g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), other));
    g_assert_true (g_file_get_contents (notes, &text, NULL, NULL));
    g_assert_cmpstr (text, ==, "not a station");
    listing = g_dir_open (other, 0, NULL);
    while (g_dir_read_name (listing) != NULL)
      n++;
    g_assert_cmpuint (n, ==, 1);
    destroy_windows (app);
  }

  /* A file given as the folder: an error too. */
  {
    g_autoptr (MhApplication) app = activate_with_data_dir (notes);

    g_assert_null (app_setup_window (app));
    g_assert_nonnull (app_error_dialog (app));
    destroy_windows (app);
  }
  file_dir = g_build_filename (tmp, NULL);
  mh_test_rm_rf (file_dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  have_display = desktop_test_init_gtk ();

  g_test_add_func ("/desktop/setup/peers-input", test_peers_input);
  g_test_add_func ("/desktop/setup/create-with-peers", test_create_with_peers);
  g_test_add_func ("/desktop/setup/new-data-dir", test_new_data_dir);
  return g_test_run ();
}

/* mh-application.c: the MedHead Emergency application */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <signal.h>

#include "mh-application.h"
#include "mh-demo-network.h"
#include "mh-preferences-window.h"
#include "mh-settings.h"
#include "mh-setup-window.h"
#include "mh-window.h"

struct _MhApplication
{
  AdwApplication parent_instance;

  /* Owned References */
  MhNode *node;
  GSettings *settings;
  MhDemoNetwork *demo;
  GCancellable *cancellable;
  guint demo_wait_id;
  gint64 demo_wait_deadline;
  guint sigint_id;
  guint sigterm_id;
  char *data_dir_option;
  char *listen_option;
  gboolean demo_option;
};

G_DEFINE_FINAL_TYPE (MhApplication, mh_application, ADW_TYPE_APPLICATION)

/* How long the demo waits for the hub's registry before showing the
 * station anyway. */
#define DEMO_REGISTRY_WAIT_S 30

/* Larger registries are refused, as medhead-node import does. */
#define MAX_REGISTRY_BYTES (64 * 1024 * 1024)

static const GOptionEntry option_entries[] = {
  { "demo", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Open the demo network"), NULL },
  { "listen", 0, 0, G_OPTION_ARG_STRING, NULL, N_("Accept peer links on this address"),
    N_("HOST:PORT") },
  { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, NULL, N_("Open the station in DIR"), N_("DIR") },
  { NULL }
};

char *
mh_default_data_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "medhead", NULL);
}

/* What a data folder holds: a station (TRUE, *is_new FALSE), nothing yet
 * (TRUE, *is_new: missing or empty, for the setup assistant), or
 * something else (FALSE and why): never set up over other files. */
gboolean
mh_data_dir_check (const char *dir, gboolean *is_new, GError **error)
{
  g_autofree char *replica = NULL;
  g_autoptr (GDir) listing = NULL;
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (dir != NULL, FALSE);
  g_return_val_if_fail (is_new != NULL, FALSE);

  *is_new = FALSE;
  replica = g_build_filename (dir, "replica.db", NULL);
  if (g_file_test (replica, G_FILE_TEST_EXISTS))
    return TRUE;
  if (!g_file_test (dir, G_FILE_TEST_EXISTS))
    {
      *is_new = TRUE;
      return TRUE;
    }
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG,
                   _("“%s” is a file, not a folder: choose a station’s data folder or a new "
                     "one"),
                   dir);
      return FALSE;
    }
  listing = g_dir_open (dir, 0, &local_error);
  if (listing == NULL)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG, "%s", local_error->message);
      return FALSE;
    }
  if (g_dir_read_name (listing) != NULL)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG,
                   _("“%s” holds other files and no station: choose a station’s data folder, "
                     "or an empty or new one to set up a station in"),
                   dir);
      return FALSE;
    }
  *is_new = TRUE;
  return TRUE;
}

char *
mh_demo_registry_path (void)
{
  const char *source = g_getenv ("MEDHEAD_SOURCE_DATADIR");
  const char *const candidates[] = { PKGDATADIR, SOURCE_DATADIR };

  if (source != NULL && *source != '\0')
    return g_build_filename (source, "demo", "region-idf.json", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autofree char *path = g_build_filename (candidates[i], "demo", "region-idf.json", NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&path);
    }
  return g_build_filename (PKGDATADIR, "demo", "region-idf.json", NULL);
}

JsonNode *
mh_load_registry (const char *path, GError **error)
{
  g_autoptr (GMappedFile) file = NULL;
  g_autoptr (JsonParser) parser = NULL;
  gsize length;

  file = g_mapped_file_new (path, FALSE, error);
  if (file == NULL)
    return NULL;
  length = g_mapped_file_get_length (file);
  if (length == 0 || length > MAX_REGISTRY_BYTES
      || !g_utf8_validate_len (g_mapped_file_get_contents (file), length, NULL))
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID,
                   _("%s: not a registry file"), path);
      return NULL;
    }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, g_mapped_file_get_contents (file), (gssize) length,
                                   error))
    return NULL;
  return json_node_ref (json_parser_get_root (parser));
}

static gboolean
import_registry (MhNode *node, GError **error)
{
  g_autofree char *path = mh_demo_registry_path ();
  g_autoptr (JsonNode) root = NULL;

  root = mh_load_registry (path, error);
  if (root == NULL)
    return FALSE;
  return mh_node_import_own (node, root, error);
}

MhNode *
mh_demo_open (const char *dir, GError **error)
{
  g_autofree char *replica = g_build_filename (dir, "replica.db", NULL);
  g_autoptr (MhNode) node = NULL;

  g_return_val_if_fail (dir != NULL, NULL);

  if (g_file_test (replica, G_FILE_TEST_EXISTS))
    return mh_node_open_full (dir, MH_NODE_OPEN_EMBEDDED, error);

  if (!mh_node_init_data_dir (dir, _("Demo station"), MH_ROLE_HUB, NULL, NULL, error))
    return NULL;
  node = mh_node_open_full (dir, MH_NODE_OPEN_EMBEDDED, error);
  if (node == NULL)
    return NULL;
  if (!import_registry (node, error))
    return NULL;
  return g_steal_pointer (&node);
}

static void
show_error (MhApplication *self, const char *title, const GError *error)
{
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  GtkWidget *dialog;

  dialog = adw_message_dialog_new (parent, title, error->message);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  if (parent == NULL)
    gtk_window_set_application (GTK_WINDOW (dialog), GTK_APPLICATION (self));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
set_node (MhApplication *self, MhNode *node)
{
  g_autoptr (GError) error = NULL;

  g_set_object (&self->node, node);
  /* The embedded node links with its peers on this main loop: a station
   * without links would only ever show its own writes. */
  if (mh_node_get_replicator (node) == NULL
      && !mh_node_start_sync (node, self->listen_option, NULL, &error))
    show_error (self, _("Could not link with the network"), error);
}

/* A laptop's disk may be stolen: say so, and keep saying it until the
 * user dismisses it, when the station's data is readable off the disk. */
static void
warn_unencrypted_volume (MhWindow *window, MhNode *node)
{
  g_autoptr (JsonObject) status = mh_node_get_status (node);
  JsonNode *encrypted = json_object_get_member (status, "data_encrypted");

  if (encrypted != NULL && JSON_NODE_HOLDS_VALUE (encrypted) && json_node_get_boolean (encrypted))
    return;
  g_message ("data folder %s: %s", mh_node_get_data_dir (node),
             json_object_get_string_member_with_default (status, "data_encryption", "unknown"));
  mh_window_show_banner (window,
                         encrypted != NULL && JSON_NODE_HOLDS_VALUE (encrypted)
                           ? _("This station's data is not on an encrypted disk: if the "
                               "computer is lost, its patient data can be read")
                           : _("Could not tell whether this station's data is on an "
                               "encrypted disk: make sure it is"));
}

void
mh_application_show_main (MhApplication *self)
{
  GList *windows;
  MhWindow *window;

  g_return_if_fail (MH_IS_APPLICATION (self));
  g_return_if_fail (self->node != NULL);

  /* The setup window, if any, gives way to the main window. */
  windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (self)));
  window = mh_window_new (self, self->node);
  gtk_window_present (GTK_WINDOW (window));
  warn_unencrypted_volume (window, self->node);
  for (GList *l = windows; l != NULL; l = l->next)
    if (!MH_IS_WINDOW (l->data))
      gtk_window_destroy (GTK_WINDOW (l->data));
  g_list_free (windows);
}

gboolean
mh_application_open_station (MhApplication *self, const char *data_dir, GError **error)
{
  g_autoptr (MhNode) node = NULL;

  g_return_val_if_fail (MH_IS_APPLICATION (self), FALSE);
  g_return_val_if_fail (data_dir != NULL, FALSE);

  node = mh_node_open_full (data_dir, MH_NODE_OPEN_EMBEDDED, error);
  if (node == NULL)
    return FALSE;
  set_node (self, node);
  mh_application_show_main (self);
  return TRUE;
}

static MhSetupWindow *
find_setup_window (MhApplication *self)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
    if (MH_IS_SETUP_WINDOW (l->data))
      return l->data;
  return NULL;
}

static gboolean
demo_registry_wait_cb (gpointer user_data)
{
  MhApplication *self = user_data;
  g_autoptr (JsonObject) hospital = NULL;

  hospital = mh_node_get_hospital (self->node, MH_DEMO_STATION_HOSPITAL, NULL);
  if (hospital == NULL && g_get_monotonic_time () < self->demo_wait_deadline)
    return G_SOURCE_CONTINUE;
  self->demo_wait_id = 0;
  mh_application_show_main (self);
  return G_SOURCE_REMOVE;
}

static void
demo_node_exited_cb (MhApplication *self, const char *name, MhDemoNetwork *demo)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));
  g_autofree char *message = NULL;

  g_warning ("demo node %s exited; its log is in %s", name, mh_demo_network_get_dir (demo));
  if (!MH_IS_WINDOW (window))
    return;
  message = g_strdup_printf (_("The demo node “%s” stopped: its changes no longer arrive"), name);
  mh_window_add_toast (MH_WINDOW (window), message);
}

static void
demo_started_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (MhApplication) self = user_data;
  g_autoptr (MhNode) node = NULL;
  g_autoptr (GError) error = NULL;
  MhSetupWindow *setup;

  if (mh_demo_network_start_finish (MH_DEMO_NETWORK (object), result, &error))
    node = mh_demo_network_open_station (MH_DEMO_NETWORK (object), &error);
  if (node == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_clear_object (&self->demo);
      /* The message may carry a node's last words: a dialog, not a toast. */
      setup = find_setup_window (self);
      if (setup != NULL)
        mh_setup_window_show_welcome (setup);
      show_error (self, _("Could not open the demo network"), error);
      return;
    }
  g_signal_connect_object (object, "node-exited", G_CALLBACK (demo_node_exited_cb), self,
                           G_CONNECT_SWAPPED);
  set_node (self, node);
  /* The station's replica fills from the hub in a few seconds; a map
   * with nothing on it meanwhile would look broken. */
  self->demo_wait_deadline = g_get_monotonic_time () + DEMO_REGISTRY_WAIT_S * G_USEC_PER_SEC;
  self->demo_wait_id = g_timeout_add (100, demo_registry_wait_cb, self);
}

void
mh_application_open_demo (MhApplication *self)
{
  MhSetupWindow *setup;

  g_return_if_fail (MH_IS_APPLICATION (self));

  if (self->demo != NULL)
    return; /* starting already */

  /* Starting a few processes takes seconds: the setup window says so
   * meanwhile, and keeps the app alive. */
  setup = find_setup_window (self);
  if (setup == NULL)
    setup = mh_setup_window_new (self);
  mh_setup_window_show_starting (setup);
  gtk_window_present (GTK_WINDOW (setup));

  self->demo = mh_demo_network_new (NULL, NULL);
  mh_demo_network_start_async (self->demo, self->cancellable, demo_started_cb,
                               g_object_ref (self));
}

MhDemoNetwork *
mh_application_get_demo_network (MhApplication *self)
{
  g_return_val_if_fail (MH_IS_APPLICATION (self), NULL);
  return self->demo;
}

gboolean
mh_application_create_station (MhApplication *self, MhRole role, const char *hospital_id,
                               const char *unit_id, const char *name, GError **error)
{
  g_autofree char *dir = mh_application_dup_data_dir (self);
  g_autoptr (MhNode) node = NULL;
  g_autoptr (GError) import_error = NULL;

  g_return_val_if_fail (MH_IS_APPLICATION (self), FALSE);

  /* Checked again: the folder may have filled since the assistant opened. */
  {
    gboolean is_new;

    if (!mh_data_dir_check (dir, &is_new, error))
      return FALSE;
  }
  if (!mh_node_init_data_dir (dir, name, role, hospital_id, unit_id, error))
    return FALSE;
  node = mh_node_open_full (dir, MH_NODE_OPEN_EMBEDDED, error);
  if (node == NULL)
    return FALSE;
  /* The station starts with its own hospital or unit from the registry;
   * the rest of the region arrives from its peers. */
  if (!import_registry (node, &import_error))
    g_warning ("importing the registry: %s", import_error->message);
  set_node (self, node);
  return TRUE;
}

MhNode *
mh_application_get_node (MhApplication *self)
{
  g_return_val_if_fail (MH_IS_APPLICATION (self), NULL);
  return self->node;
}

static void
quit_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static void
about_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  MhApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  const char *developers[] = { _("The MedHead contributors"), NULL };

  adw_show_about_window (parent,
                         "application-name", _("MedHead Emergency"),
                         "application-icon", APP_ID,
                         "version", PACKAGE_VERSION,
                         "comments", _("Hospital beds and ambulance transfers, shared across "
                                       "a region even when the network fails"),
                         "developers", developers,
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static void
preferences_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  MhApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  MhPreferencesWindow *prefs = mh_preferences_window_new ();

  gtk_window_set_transient_for (GTK_WINDOW (prefs), parent);
  gtk_window_present (GTK_WINDOW (prefs));
}

/* A notification's click: the window, on that transfer. */
static void
show_transfer_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  MhApplication *self = user_data;
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    {
      g_application_activate (G_APPLICATION (self));
      window = gtk_application_get_active_window (GTK_APPLICATION (self));
    }
  if (!MH_IS_WINDOW (window))
    return;
  gtk_window_present (window);
  mh_window_show_transfer (MH_WINDOW (window), g_variant_get_string (parameter, NULL));
}

/* An assignment's notification: the window, on that incident. */
static void
show_incident_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  MhApplication *self = user_data;
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    {
      g_application_activate (G_APPLICATION (self));
      window = gtk_application_get_active_window (GTK_APPLICATION (self));
    }
  if (!MH_IS_WINDOW (window))
    return;
  gtk_window_present (window);
  mh_window_show_incident (MH_WINDOW (window), g_variant_get_string (parameter, NULL));
}

/* From a message notification: the window comes up on that channel. */
static void
show_channel_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  MhApplication *self = user_data;
  const char *channel = g_variant_get_string (parameter, NULL);
  GtkWindow *window = NULL;

  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l; l = l->next)
    if (MH_IS_WINDOW (l->data))
      {
        window = l->data;
        break;
      }
  if (window == NULL)
    return;
  if (!mh_window_show_channel (MH_WINDOW (window), channel))
    g_message ("show-channel: %s is not a channel", channel);
  gtk_window_present (window);
}

static const GActionEntry app_actions[] = {
  { "show-transfer", show_transfer_activated, "s" },
  { "show-incident", show_incident_activated, "s" },
  { "quit", quit_activated },
  { "about", about_activated },
  { "preferences", preferences_activated },
  { "show-channel", show_channel_activated, "s" },
};

static int
mh_application_handle_local_options (GApplication *application, GVariantDict *options)
{
  MhApplication *self = MH_APPLICATION (application);
  const char *dir = NULL;
  const char *listen = NULL;

  self->demo_option = g_variant_dict_contains (options, "demo");
  if (g_variant_dict_lookup (options, "listen", "&s", &listen))
    {
      g_free (self->listen_option);
      self->listen_option = g_strdup (listen);
    }
  if (g_variant_dict_lookup (options, "data-dir", "^&ay", &dir))
    {
      g_free (self->data_dir_option);
      self->data_dir_option = g_strdup (dir);
    }
  return -1;
}

static void
mh_application_activate (GApplication *application)
{
  MhApplication *self = MH_APPLICATION (application);
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  gboolean is_new;

  if (window != NULL)
    {
      gtk_window_present (window);
      return;
    }

  if (self->demo_option)
    {
      mh_application_open_demo (self);
      return;
    }
  /* --data-dir or the default: a station opens, a new or empty folder
   * gets the setup assistant, anything else an error (untouched). */
  dir = mh_application_dup_data_dir (self);
  if (!mh_data_dir_check (dir, &is_new, &error))
    {
      show_error (self, _("Could not open this station"), error);
      return;
    }
  if (!is_new)
    {
      if (!mh_application_open_station (self, dir, &error))
        show_error (self, _("Could not open this station"), error);
      return;
    }

  window = GTK_WINDOW (mh_setup_window_new (self));
  gtk_window_present (window);
}

/* The color-scheme setting: default follows the system, light and dark
 * force one (a dark cab at night, a bright desk by a window). */
static void
color_scheme_changed_cb (MhApplication *self)
{
  g_autofree char *value = g_settings_get_string (self->settings, "color-scheme");
  AdwColorScheme scheme = ADW_COLOR_SCHEME_DEFAULT;

  if (g_str_equal (value, "light"))
    scheme = ADW_COLOR_SCHEME_FORCE_LIGHT;
  else if (g_str_equal (value, "dark"))
    scheme = ADW_COLOR_SCHEME_FORCE_DARK;
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), scheme);
}

static gboolean
stop_signal_cb (gpointer user_data)
{
  /* Ctrl-C in the terminal quits cleanly: the demo network stops with us
   * and its folder goes. */
  g_application_quit (G_APPLICATION (user_data));
  return G_SOURCE_CONTINUE;
}

static void
mh_application_shutdown (GApplication *application)
{
  MhApplication *self = MH_APPLICATION (application);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->demo_wait_id, g_source_remove);
  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  if (self->demo != NULL)
    {
      /* The station's replica lives in the demo folder: close it first. */
      g_clear_object (&self->node);
      mh_demo_network_stop (self->demo);
      g_clear_object (&self->demo);
    }
  G_APPLICATION_CLASS (mh_application_parent_class)->shutdown (application);
}

static void
mh_application_startup (GApplication *application)
{
  MhApplication *self = MH_APPLICATION (application);
  const char *quit_accels[] = { "<Control>q", NULL };
  const char *prefs_accels[] = { "<Control>comma", NULL };

  G_APPLICATION_CLASS (mh_application_parent_class)->startup (application);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions),
                                   self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences",
                                         prefs_accels);

  self->settings = mh_settings_new ();
  g_signal_connect_object (self->settings, "changed::color-scheme",
                           G_CALLBACK (color_scheme_changed_cb), self, G_CONNECT_SWAPPED);
  color_scheme_changed_cb (self);
  self->sigint_id = g_unix_signal_add (SIGINT, stop_signal_cb, self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, stop_signal_cb, self);
}

static void
mh_application_finalize (GObject *object)
{
  MhApplication *self = MH_APPLICATION (object);

  /* An app that was registered but never run has no shutdown. */
  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_clear_handle_id (&self->demo_wait_id, g_source_remove);
  g_clear_object (&self->node);
  g_clear_object (&self->settings);
  g_clear_object (&self->demo);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->data_dir_option, g_free);
  g_clear_pointer (&self->listen_option, g_free);

  G_OBJECT_CLASS (mh_application_parent_class)->finalize (object);
}

static void
mh_application_class_init (MhApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = mh_application_finalize;
  app_class->activate = mh_application_activate;
  app_class->startup = mh_application_startup;
  app_class->shutdown = mh_application_shutdown;
  app_class->handle_local_options = mh_application_handle_local_options;
}

static void
mh_application_init (MhApplication *self)
{
  g_application_add_main_option_entries (G_APPLICATION (self), option_entries);
  self->cancellable = g_cancellable_new ();
}

MhApplication *
mh_application_new (void)
{
  return g_object_new (MH_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/com/medhead/Emergency",
                       NULL);
}

/* Where this app's station lives: --data-dir, else the default. */
void
mh_application_set_data_dir (MhApplication *self, const char *dir)
{
  g_return_if_fail (MH_IS_APPLICATION (self));

  g_free (self->data_dir_option);
  self->data_dir_option = g_strdup (dir);
}

char *
mh_application_dup_data_dir (MhApplication *self)
{
  g_return_val_if_fail (MH_IS_APPLICATION (self), NULL);

  return self->data_dir_option != NULL ? g_strdup (self->data_dir_option)
                                       : mh_default_data_dir ();
}

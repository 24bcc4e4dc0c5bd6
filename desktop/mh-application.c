/* mh-application.c: the MedHead Emergency application */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-application.h"
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
  char *data_dir_option;
  char *listen_option;
  gboolean demo_option;
};

G_DEFINE_FINAL_TYPE (MhApplication, mh_application, ADW_TYPE_APPLICATION)

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
    return mh_node_open (dir, error);

  if (!mh_node_init_data_dir (dir, _("Demo station"), MH_ROLE_HUB, NULL, NULL, error))
    return NULL;
  node = mh_node_open (dir, error);
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

  node = mh_node_open (data_dir, error);
  if (node == NULL)
    return FALSE;
  set_node (self, node);
  mh_application_show_main (self);
  return TRUE;
}

gboolean
mh_application_open_demo (MhApplication *self, GError **error)
{
  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "medhead-demo", NULL);
  g_autoptr (MhNode) node = NULL;

  g_return_val_if_fail (MH_IS_APPLICATION (self), FALSE);

  node = mh_demo_open (dir, error);
  if (node == NULL)
    return FALSE;
  set_node (self, node);
  mh_application_show_main (self);
  return TRUE;
}

gboolean
mh_application_create_station (MhApplication *self, MhRole role, const char *hospital_id,
                               const char *unit_id, const char *name, GError **error)
{
  g_autofree char *dir = mh_default_data_dir ();
  g_autoptr (MhNode) node = NULL;
  g_autoptr (GError) import_error = NULL;

  g_return_val_if_fail (MH_IS_APPLICATION (self), FALSE);

  if (!mh_node_init_data_dir (dir, name, role, hospital_id, unit_id, error))
    return FALSE;
  node = mh_node_open (dir, error);
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
                         "application-icon", "applications-science",
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
  g_autofree char *replica = NULL;

  if (window != NULL)
    {
      gtk_window_present (window);
      return;
    }

  if (self->demo_option)
    {
      if (!mh_application_open_demo (self, &error))
        show_error (self, _("Could not open the demo network"), error);
      return;
    }
  if (self->data_dir_option != NULL)
    {
      if (!mh_application_open_station (self, self->data_dir_option, &error))
        show_error (self, _("Could not open this station"), error);
      return;
    }

  dir = mh_default_data_dir ();
  replica = g_build_filename (dir, "replica.db", NULL);
  if (g_file_test (replica, G_FILE_TEST_EXISTS))
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
}

static void
mh_application_finalize (GObject *object)
{
  MhApplication *self = MH_APPLICATION (object);

  g_clear_object (&self->node);
  g_clear_object (&self->settings);
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
  app_class->handle_local_options = mh_application_handle_local_options;
}

static void
mh_application_init (MhApplication *self)
{
  g_application_add_main_option_entries (G_APPLICATION (self), option_entries);
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

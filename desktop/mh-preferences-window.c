/* mh-preferences-window.c: preferences: the map's tile source and tile pack */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-mbtiles-source.h"
#include "mh-preferences-window.h"
#include "mh-settings.h"

struct _MhPreferencesWindow
{
  AdwPreferencesWindow parent_instance;

  /* Template Widgets */
  AdwEntryRow *tile_url_row;
  AdwComboRow *color_scheme_row;
  AdwActionRow *tile_pack_row;
  GtkButton *tile_pack_button;
  GtkButton *tile_pack_clear_button;
  GtkSpinButton *ack_timeout_spin;

  /* Owned References */
  GSettings *settings;
  GtkFileChooserNative *chooser;
};

G_DEFINE_FINAL_TYPE (MhPreferencesWindow, mh_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static gboolean
is_valid_template (const char *url)
{
  if (*url == '\0')
    return TRUE;
  return (g_str_has_prefix (url, "http://") || g_str_has_prefix (url, "https://"))
         && strstr (url, "{z}") != NULL && strstr (url, "{x}") != NULL
         && strstr (url, "{y}") != NULL;
}

static void
tile_url_applied_cb (MhPreferencesWindow *self)
{
  g_autofree char *url = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->tile_url_row))));

  if (!is_valid_template (url))
    {
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self),
                                        adw_toast_new (_("The URL must start with http:// or "
                                                         "https:// and contain {z}, {x} and {y}")));
      return;
    }
  g_settings_set_string (self->settings, "tile-url", url);
}

/* The rows of color_scheme_row, in order. */
static const char *const color_schemes[] = { "default", "light", "dark", NULL };

static void
color_scheme_selected_cb (MhPreferencesWindow *self)
{
  guint selected = adw_combo_row_get_selected (self->color_scheme_row);

  if (selected < G_N_ELEMENTS (color_schemes) - 1)
    g_settings_set_string (self->settings, "color-scheme", color_schemes[selected]);
}

static void
load_color_scheme (MhPreferencesWindow *self)
{
  g_autofree char *value = g_settings_get_string (self->settings, "color-scheme");
  guint selected = 0;

  for (guint i = 0; color_schemes[i] != NULL; i++)
    if (g_str_equal (value, color_schemes[i]))
      selected = i;
  if (adw_combo_row_get_selected (self->color_scheme_row) != selected)
    adw_combo_row_set_selected (self->color_scheme_row, selected);
}

static void
update_tile_pack_row (MhPreferencesWindow *self)
{
  g_autofree char *path = g_settings_get_string (self->settings, "tile-pack");

  adw_action_row_set_subtitle (self->tile_pack_row, *path != '\0' ? path : _("None"));
  gtk_widget_set_visible (GTK_WIDGET (self->tile_pack_clear_button), *path != '\0');
}

static void
settings_changed_cb (MhPreferencesWindow *self, const char *key)
{
  if (g_strcmp0 (key, "tile-pack") == 0)
    update_tile_pack_row (self);
}

/* A file that cannot be read now is refused here; one that goes missing
 * later is reported on the map, which then shows its offline base. */
static void
chooser_response_cb (MhPreferencesWindow *self, int response, GtkFileChooserNative *chooser)
{
  g_autoptr (GFile) file = NULL;
  g_autoptr (MhMbtilesSource) source = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
  g_clear_object (&self->chooser);
  if (file == NULL)
    return;
  path = g_file_get_path (file);
  if (path == NULL)
    {
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self),
                                        adw_toast_new (_("The tile pack must be a local file")));
      return;
    }
  source = mh_mbtiles_source_new (path, &error);
  if (source == NULL)
    {
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self),
                                        adw_toast_new (error->message));
      return;
    }
  g_settings_set_string (self->settings, "tile-pack", path);
}

static void
tile_pack_clicked_cb (MhPreferencesWindow *self)
{
  g_autoptr (GtkFileFilter) packs = gtk_file_filter_new ();
  g_autoptr (GtkFileFilter) all = gtk_file_filter_new ();

  if (self->chooser != NULL)
    return;
  /* GTK 4.8 has no GtkFileDialog; the native chooser uses the portal when
   * there is one. */
  self->chooser = gtk_file_chooser_native_new (_("Choose a Tile Pack"), GTK_WINDOW (self),
                                               GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"),
                                               _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  gtk_file_filter_set_name (packs, _("MBTiles tile packs"));
  gtk_file_filter_add_suffix (packs, "mbtiles");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), packs);
  gtk_file_filter_set_name (all, _("All files"));
  gtk_file_filter_add_pattern (all, "*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), all);
  g_signal_connect_object (self->chooser, "response", G_CALLBACK (chooser_response_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
tile_pack_clear_clicked_cb (MhPreferencesWindow *self)
{
  g_settings_set_string (self->settings, "tile-pack", "");
}

static void
mh_preferences_window_dispose (GObject *object)
{
  MhPreferencesWindow *self = MH_PREFERENCES_WINDOW (object);

  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  gtk_widget_dispose_template (GTK_WIDGET (object), MH_TYPE_PREFERENCES_WINDOW);
  G_OBJECT_CLASS (mh_preferences_window_parent_class)->dispose (object);
}

static void
mh_preferences_window_finalize (GObject *object)
{
  MhPreferencesWindow *self = MH_PREFERENCES_WINDOW (object);

  g_clear_object (&self->settings);
  G_OBJECT_CLASS (mh_preferences_window_parent_class)->finalize (object);
}

static void
mh_preferences_window_class_init (MhPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_preferences_window_dispose;
  object_class->finalize = mh_preferences_window_finalize;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/com/medhead/Emergency/mh-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MhPreferencesWindow, tile_url_row);
  gtk_widget_class_bind_template_child (widget_class, MhPreferencesWindow, color_scheme_row);
  gtk_widget_class_bind_template_child (widget_class, MhPreferencesWindow, tile_pack_row);
  gtk_widget_class_bind_template_child (widget_class, MhPreferencesWindow, tile_pack_button);
  gtk_widget_class_bind_template_child (widget_class, MhPreferencesWindow,
                                        tile_pack_clear_button);
  gtk_widget_class_bind_template_child (widget_class, MhPreferencesWindow, ack_timeout_spin);
}

static void
mh_preferences_window_init (MhPreferencesWindow *self)
{
  g_autofree char *url = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = mh_settings_new ();
  g_settings_bind (self->settings, "ack-timeout-minutes",
                   gtk_spin_button_get_adjustment (self->ack_timeout_spin), "value",
                   G_SETTINGS_BIND_DEFAULT);
  url = g_settings_get_string (self->settings, "tile-url");
  gtk_editable_set_text (GTK_EDITABLE (self->tile_url_row), url);
  g_signal_connect_object (self->tile_url_row, "apply", G_CALLBACK (tile_url_applied_cb), self,
                           G_CONNECT_SWAPPED);
  load_color_scheme (self);
  g_signal_connect_object (self->color_scheme_row, "notify::selected",
                           G_CALLBACK (color_scheme_selected_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::color-scheme",
                           G_CALLBACK (load_color_scheme), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->tile_pack_button, "clicked", G_CALLBACK (tile_pack_clicked_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->tile_pack_clear_button, "clicked",
                           G_CALLBACK (tile_pack_clear_clicked_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed", G_CALLBACK (settings_changed_cb), self,
                           G_CONNECT_SWAPPED);
  update_tile_pack_row (self);
}

MhPreferencesWindow *
mh_preferences_window_new (void)
{
  return g_object_new (MH_TYPE_PREFERENCES_WINDOW, NULL);
}

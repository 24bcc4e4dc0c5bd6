/* mh-preferences-window.c: preferences: light or dark, the map's tile source */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-preferences-window.h"
#include "mh-settings.h"

struct _MhPreferencesWindow
{
  AdwPreferencesWindow parent_instance;

  /* Template Widgets */
  AdwEntryRow *tile_url_row;
  AdwComboRow *color_scheme_row;
  GtkSpinButton *ack_timeout_spin;

  /* Owned References */
  GSettings *settings;
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
mh_preferences_window_dispose (GObject *object)
{
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
}

MhPreferencesWindow *
mh_preferences_window_new (void)
{
  return g_object_new (MH_TYPE_PREFERENCES_WINDOW, NULL);
}

/* mh-setup-window.c: first run: set up this station, or try the demo
 *
 * The hospitals and units offered are those of the demo registry: until
 * this station is linked to its region, that is the registry it has. */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-application.h"
#include "mh-setup-window.h"

struct _MhSetupWindow
{
  AdwApplicationWindow parent_instance;

  /* Template Widgets */
  AdwToastOverlay *toast_overlay;
  GtkWidget *back_button;
  GtkStack *stack;
  AdwComboRow *role_row;
  AdwComboRow *place_row;
  AdwEntryRow *name_row;
  GtkLabel *fingerprint_label;

  /* Owned References */
  JsonNode *registry;
  GPtrArray *place_ids;
};

G_DEFINE_FINAL_TYPE (MhSetupWindow, mh_setup_window, ADW_TYPE_APPLICATION_WINDOW)

static MhApplication *
get_application (MhSetupWindow *self)
{
  return MH_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
}

static void
show_error (MhSetupWindow *self, const GError *error)
{
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (error->message));
}

static gboolean
is_ambulance (MhSetupWindow *self)
{
  return adw_combo_row_get_selected (self->role_row) == 1;
}

static void
fill_places (MhSetupWindow *self)
{
  g_autoptr (GtkStringList) names = gtk_string_list_new (NULL);
  const char *member = is_ambulance (self) ? "units" : "hospitals";
  const char *label = is_ambulance (self) ? "call_sign" : "name";
  JsonObject *root;

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->place_row),
                                 is_ambulance (self) ? _("_Unit") : _("_Hospital"));
  g_ptr_array_set_size (self->place_ids, 0);
  if (self->registry != NULL && JSON_NODE_HOLDS_OBJECT (self->registry))
    {
      root = json_node_get_object (self->registry);
      if (json_object_has_member (root, member))
        {
          JsonArray *rows = json_object_get_array_member (root, member);

          for (guint i = 0; i < json_array_get_length (rows); i++)
            {
              JsonObject *row = json_array_get_object_element (rows, i);

              g_ptr_array_add (self->place_ids,
                               g_strdup (json_object_get_string_member (row, "id")));
              gtk_string_list_append (names, json_object_get_string_member (row, label));
            }
        }
    }
  adw_combo_row_set_model (self->place_row, G_LIST_MODEL (names));
}

static void
role_changed_cb (MhSetupWindow *self)
{
  fill_places (self);
}

static void
demo_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhSetupWindow *self = MH_SETUP_WINDOW (widget);
  g_autoptr (GError) error = NULL;

  if (!mh_application_open_demo (get_application (self), &error))
    show_error (self, error);
}

static void
form_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhSetupWindow *self = MH_SETUP_WINDOW (widget);

  gtk_stack_set_visible_child_name (self->stack, "form");
  gtk_widget_set_visible (self->back_button, TRUE);
}

static void
back_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhSetupWindow *self = MH_SETUP_WINDOW (widget);

  gtk_stack_set_visible_child_name (self->stack, "welcome");
  gtk_widget_set_visible (self->back_button, FALSE);
}

static void
create_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhSetupWindow *self = MH_SETUP_WINDOW (widget);
  MhApplication *app = get_application (self);
  guint selected = adw_combo_row_get_selected (self->place_row);
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->name_row));
  const char *place;
  g_autoptr (GError) error = NULL;

  if (selected == GTK_INVALID_LIST_POSITION || selected >= self->place_ids->len)
    {
      adw_toast_overlay_add_toast (self->toast_overlay,
                                   adw_toast_new (_("Choose a hospital or a unit")));
      return;
    }
  if (*name == '\0')
    {
      adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (_("Name this station")));
      gtk_widget_grab_focus (GTK_WIDGET (self->name_row));
      return;
    }
  place = g_ptr_array_index (self->place_ids, selected);
  if (!mh_application_create_station (app, is_ambulance (self) ? MH_ROLE_AMBULANCE : MH_ROLE_HOSPITAL,
                                      is_ambulance (self) ? NULL : place,
                                      is_ambulance (self) ? place : NULL, name, &error))
    {
      show_error (self, error);
      return;
    }
  gtk_label_set_text (self->fingerprint_label,
                      mh_node_get_fingerprint (mh_application_get_node (app)));
  gtk_stack_set_visible_child_name (self->stack, "done");
  gtk_widget_set_visible (self->back_button, FALSE);
}

static void
open_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  mh_application_show_main (get_application (MH_SETUP_WINDOW (widget)));
}

static void
mh_setup_window_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), MH_TYPE_SETUP_WINDOW);
  G_OBJECT_CLASS (mh_setup_window_parent_class)->dispose (object);
}

static void
mh_setup_window_finalize (GObject *object)
{
  MhSetupWindow *self = MH_SETUP_WINDOW (object);

  g_clear_pointer (&self->registry, json_node_unref);
  g_clear_pointer (&self->place_ids, g_ptr_array_unref);
  G_OBJECT_CLASS (mh_setup_window_parent_class)->finalize (object);
}

static void
mh_setup_window_class_init (MhSetupWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_setup_window_dispose;
  object_class->finalize = mh_setup_window_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/com/medhead/Emergency/mh-setup-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, back_button);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, role_row);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, place_row);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, name_row);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, fingerprint_label);

  gtk_widget_class_install_action (widget_class, "setup.demo", NULL, demo_action);
  gtk_widget_class_install_action (widget_class, "setup.form", NULL, form_action);
  gtk_widget_class_install_action (widget_class, "setup.back", NULL, back_action);
  gtk_widget_class_install_action (widget_class, "setup.create", NULL, create_action);
  gtk_widget_class_install_action (widget_class, "setup.open", NULL, open_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Left, GDK_ALT_MASK, "setup.back",
                                       NULL);
}

static void
mh_setup_window_init (MhSetupWindow *self)
{
  g_autofree char *path = mh_demo_registry_path ();
  g_autoptr (GError) error = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->place_ids = g_ptr_array_new_with_free_func (g_free);
  self->registry = mh_load_registry (path, &error);
  if (self->registry == NULL)
    g_warning ("%s", error->message);
  fill_places (self);
  g_signal_connect_object (self->role_row, "notify::selected", G_CALLBACK (role_changed_cb), self,
                           G_CONNECT_SWAPPED);
}

MhSetupWindow *
mh_setup_window_new (MhApplication *application)
{
  return g_object_new (MH_TYPE_SETUP_WINDOW, "application", application, NULL);
}

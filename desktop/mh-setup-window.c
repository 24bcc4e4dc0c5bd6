/* mh-setup-window.c: first run: set up this station, or try the demo
 *
 * The hospitals and units offered are those of the demo registry: until
 * this station is linked to its region, that is the registry it has. */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-application.h"
#include "mh-identity.h"
#include "mh-peers.h"
#include "mh-setup-window.h"

typedef struct
{
  char *fingerprint; /* canonical */
  char *url;         /* nullable: the peer only calls this station */
} Peer;

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
  AdwActionRow *data_dir_row;
  AdwEntryRow *peer_fingerprint_row;
  AdwEntryRow *peer_url_row;
  GtkListBox *peers_list;
  GtkLabel *peer_error_label;
  GtkLabel *fingerprint_label;
  GtkLabel *peers_label;

  /* Owned References */
  JsonNode *registry;
  GPtrArray *place_ids;
  GPtrArray *peers; /* of Peer, in the order added */
};

G_DEFINE_FINAL_TYPE (MhSetupWindow, mh_setup_window, ADW_TYPE_APPLICATION_WINDOW)

static void
peer_free (Peer *peer)
{
  g_free (peer->fingerprint);
  g_free (peer->url);
  g_free (peer);
}

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
rebuild_peers_list (MhSetupWindow *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->peers_list))) != NULL)
    gtk_list_box_remove (self->peers_list, child);
  for (guint i = 0; i < self->peers->len; i++)
    {
      Peer *peer = g_ptr_array_index (self->peers, i);
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *remove = gtk_button_new_from_icon_name ("user-trash-symbolic");
      g_autofree char *label = NULL;

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), peer->fingerprint);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                                   peer->url ? peer->url
                                             : _("No address: only accepts its calls"));
      gtk_widget_add_css_class (row, "monospace");
      gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (remove, "flat");
      gtk_widget_set_tooltip_text (remove, _("Remove Peer"));
      /* Translators: the accessible name of a button that removes the peer
       * with this fingerprint from the list */
      label = g_strdup_printf (_("Remove peer %s"), peer->fingerprint);
      gtk_accessible_update_property (GTK_ACCESSIBLE (remove), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      label, -1);
      gtk_actionable_set_action_name (GTK_ACTIONABLE (remove), "setup.remove-peer");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (remove), "s", peer->fingerprint);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);
      gtk_list_box_append (self->peers_list, row);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->peers_list), self->peers->len > 0);
}

static void
mark_invalid (AdwEntryRow *row, gboolean invalid)
{
  if (invalid)
    gtk_widget_add_css_class (GTK_WIDGET (row), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (row), "error");
}

/* Adds the peer typed in the entries to the list. Returns FALSE, with a
 * message for the user, when the input is malformed. */
static gboolean
take_typed_peer (MhSetupWindow *self, GError **error)
{
  g_autofree char *typed_fingerprint = g_strstrip (
    g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->peer_fingerprint_row))));
  g_autofree char *url = g_strstrip (
    g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->peer_url_row))));
  g_autofree char *fingerprint = NULL;
  Peer *peer;

  mark_invalid (self->peer_fingerprint_row, FALSE);
  mark_invalid (self->peer_url_row, FALSE);
  if (*typed_fingerprint == '\0')
    {
      mark_invalid (self->peer_fingerprint_row, TRUE);
      g_set_error_literal (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID,
                           _("Type the peer's fingerprint, as its operator reads it out"));
      return FALSE;
    }
  fingerprint = mh_fingerprint_normalize (typed_fingerprint, NULL);
  if (fingerprint == NULL)
    {
      mark_invalid (self->peer_fingerprint_row, TRUE);
      g_set_error_literal (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID,
                           _("That is not a fingerprint: it has 20 letters A to Z and digits "
                             "2 to 7, like ABCD-EFGH-IJKL-MNOP-QRST"));
      return FALSE;
    }
  if (*url != '\0' && !mh_peer_url_validate (url, NULL))
    {
      mark_invalid (self->peer_url_row, TRUE);
      g_set_error_literal (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID,
                           _("That is not a peer address: it looks like "
                             "https://hub.example.org:8471"));
      return FALSE;
    }

  /* The same peer again: its address is updated. */
  for (guint i = 0; i < self->peers->len; i++)
    {
      peer = g_ptr_array_index (self->peers, i);
      if (g_str_equal (peer->fingerprint, fingerprint))
        {
          g_free (peer->url);
          peer->url = *url != '\0' ? g_steal_pointer (&url) : NULL;
          goto added;
        }
    }
  peer = g_new0 (Peer, 1);
  peer->fingerprint = g_steal_pointer (&fingerprint);
  peer->url = *url != '\0' ? g_steal_pointer (&url) : NULL;
  g_ptr_array_add (self->peers, peer);

added:
  gtk_editable_set_text (GTK_EDITABLE (self->peer_fingerprint_row), "");
  gtk_editable_set_text (GTK_EDITABLE (self->peer_url_row), "");
  rebuild_peers_list (self);
  return TRUE;
}

/* Says what is wrong under the entries, where it stays until fixed (a
 * toast would be gone, and cut short). */
static void
show_peer_error (MhSetupWindow *self, const GError *error)
{
  gtk_label_set_text (self->peer_error_label, error ? error->message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->peer_error_label), error != NULL);
  if (error != NULL)
    gtk_widget_grab_focus (gtk_widget_has_css_class (GTK_WIDGET (self->peer_url_row), "error")
                             ? GTK_WIDGET (self->peer_url_row)
                             : GTK_WIDGET (self->peer_fingerprint_row));
}

static void
add_peer_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhSetupWindow *self = MH_SETUP_WINDOW (widget);
  g_autoptr (GError) error = NULL;

  if (!take_typed_peer (self, &error))
    {
      show_peer_error (self, error);
      return;
    }
  show_peer_error (self, NULL);
  gtk_widget_grab_focus (GTK_WIDGET (self->peer_fingerprint_row));
}

static void
remove_peer_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhSetupWindow *self = MH_SETUP_WINDOW (widget);
  const char *fingerprint = g_variant_get_string (parameter, NULL);

  for (guint i = 0; i < self->peers->len; i++)
    if (g_str_equal (((Peer *) g_ptr_array_index (self->peers, i))->fingerprint, fingerprint))
      {
        g_ptr_array_remove_index (self->peers, i);
        break;
      }
  rebuild_peers_list (self);
}

static void
peer_entry_activated_cb (MhSetupWindow *self, AdwEntryRow *row)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "setup.add-peer", NULL);
}

static void
role_changed_cb (MhSetupWindow *self)
{
  fill_places (self);
}

static void
demo_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  mh_application_open_demo (get_application (MH_SETUP_WINDOW (widget)));
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
  g_autofree char *peers_text = NULL;
  MhNode *node;
  guint n_added = 0;

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
  /* A peer typed but not added yet is meant to be added. */
  if (*gtk_editable_get_text (GTK_EDITABLE (self->peer_fingerprint_row)) != '\0'
      || *gtk_editable_get_text (GTK_EDITABLE (self->peer_url_row)) != '\0')
    {
      if (!take_typed_peer (self, &error))
        {
          show_peer_error (self, error);
          return;
        }
      show_peer_error (self, NULL);
    }
  place = g_ptr_array_index (self->place_ids, selected);
  if (!mh_application_create_station (app, is_ambulance (self) ? MH_ROLE_AMBULANCE : MH_ROLE_HOSPITAL,
                                      is_ambulance (self) ? NULL : place,
                                      is_ambulance (self) ? place : NULL, name, &error))
    {
      show_error (self, error);
      return;
    }
  node = mh_application_get_node (app);
  for (guint i = 0; i < self->peers->len; i++)
    {
      Peer *peer = g_ptr_array_index (self->peers, i);
      g_autoptr (GError) peer_error = NULL;

      /* Checked when typed: a refusal now is the store's, and the station
       * exists already; say so and go on with the others. */
      if (mh_node_add_peer (node, peer->fingerprint, peer->url, &peer_error))
        n_added++;
      else
        show_error (self, peer_error);
    }
  gtk_label_set_text (self->fingerprint_label, mh_node_get_fingerprint (node));
  if (n_added == 0)
    peers_text = g_strdup (_("No peers yet. Add them later with “medhead-node peer add”."));
  else
    peers_text = g_strdup_printf (ngettext ("Linked to %u peer: it must pin this fingerprint too.",
                                            "Linked to %u peers: each must pin this fingerprint "
                                            "too.",
                                            n_added),
                                  n_added);
  gtk_label_set_text (self->peers_label, peers_text);
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
  g_clear_pointer (&self->peers, g_ptr_array_unref);
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
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, data_dir_row);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, peer_fingerprint_row);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, peer_url_row);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, peers_list);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, peer_error_label);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, fingerprint_label);
  gtk_widget_class_bind_template_child (widget_class, MhSetupWindow, peers_label);
  gtk_widget_class_bind_template_callback (widget_class, peer_entry_activated_cb);

  gtk_widget_class_install_action (widget_class, "setup.demo", NULL, demo_action);
  gtk_widget_class_install_action (widget_class, "setup.form", NULL, form_action);
  gtk_widget_class_install_action (widget_class, "setup.back", NULL, back_action);
  gtk_widget_class_install_action (widget_class, "setup.create", NULL, create_action);
  gtk_widget_class_install_action (widget_class, "setup.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "setup.add-peer", NULL, add_peer_action);
  gtk_widget_class_install_action (widget_class, "setup.remove-peer", "s", remove_peer_action);
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
  self->peers = g_ptr_array_new_with_free_func ((GDestroyNotify) peer_free);
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
  MhSetupWindow *self = g_object_new (MH_TYPE_SETUP_WINDOW, "application", application, NULL);
  g_autofree char *dir = application != NULL ? mh_application_dup_data_dir (application)
                                              : mh_default_data_dir ();

  /* Where the station will be: the default, or the folder of --data-dir. */
  adw_action_row_set_subtitle (self->data_dir_row, dir);
  return self;
}

void
mh_setup_window_show_starting (MhSetupWindow *self)
{
  g_return_if_fail (MH_IS_SETUP_WINDOW (self));

  gtk_stack_set_visible_child_name (self->stack, "starting");
  gtk_widget_set_visible (self->back_button, FALSE);
}

void
mh_setup_window_show_welcome (MhSetupWindow *self)
{
  g_return_if_fail (MH_IS_SETUP_WINDOW (self));

  gtk_stack_set_visible_child_name (self->stack, "welcome");
  gtk_widget_set_visible (self->back_button, FALSE);
}

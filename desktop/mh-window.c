/* mh-window.c: the main window: map, find hospital, bed board */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-application.h"
#include "mh-bed-board.h"
#include "mh-chat-view.h"
#include "mh-find-view.h"
#include "mh-locator.h"
#include "mh-map-view.h"
#include "mh-network-view.h"
#include "mh-window.h"

struct _MhWindow
{
  AdwApplicationWindow parent_instance;

  /* Template Widgets */
  AdwToastOverlay *toast_overlay;
  AdwViewStack *stack;
  AdwViewStackPage *beds_page;
  MhMapView *map_view;
  MhFindView *find_view;
  MhBedBoard *bed_board;
  AdwViewStackPage *chat_page;
  MhChatView *chat_view;
  MhNetworkView *network_view;

  /* Owned References */
  MhNode *node;
  MhLocator *locator;
  guint unit_changed_id;
};

G_DEFINE_FINAL_TYPE (MhWindow, mh_window, ADW_TYPE_APPLICATION_WINDOW)

enum
{
  PROP_0,
  PROP_NODE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Find hospital searches from where this station is (GeoClue), else from
 * its unit's last known position, else from the map centre. */
static void
update_find_position (MhWindow *self)
{
  const char *unit_id = mh_node_get_unit_id (self->node);
  double lat, lon;

  if (self->locator != NULL && mh_locator_get_located (self->locator))
    {
      mh_find_view_set_position (self->find_view, mh_locator_get_latitude (self->locator),
                                 mh_locator_get_longitude (self->locator), _("located"));
      return;
    }
  if (unit_id != NULL)
    {
      g_autoptr (JsonObject) unit = mh_node_get_unit (self->node, unit_id, NULL);

      if (unit != NULL && json_object_has_member (unit, "lat")
          && !json_object_get_null_member (unit, "lat"))
        {
          mh_find_view_set_position (self->find_view, json_object_get_double_member (unit, "lat"),
                                     json_object_get_double_member (unit, "lon"),
                                     _("this unit"));
          return;
        }
    }
  mh_map_view_get_center (self->map_view, &lat, &lon);
  mh_find_view_set_position (self->find_view, lat, lon, _("map centre"));
}

/* A crew's position is the unit's: written to the replica, it reaches the
 * hub and the hospitals' maps like any other change. */
static void
location_changed_cb (MhWindow *self, GParamSpec *pspec, MhLocator *locator)
{
  const char *unit_id = mh_node_get_unit_id (self->node);
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (GError) error = NULL;

  if (!mh_locator_get_located (locator))
    return;
  if (unit_id != NULL)
    {
      json_object_set_double_member (fields, "lat", mh_locator_get_latitude (locator));
      json_object_set_double_member (fields, "lon", mh_locator_get_longitude (locator));
      if (mh_locator_get_accuracy (locator) > 0)
        json_object_set_double_member (fields, "accuracy_m", mh_locator_get_accuracy (locator));
      if (!mh_node_patch_unit (self->node, unit_id, fields, &error))
        g_warning ("recording this unit's position: %s", error->message);
    }
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (self->stack), "find") == 0)
    update_find_position (self);
}

static void
visible_child_changed_cb (MhWindow *self, GParamSpec *pspec, AdwViewStack *stack)
{
  const char *name = adw_view_stack_get_visible_child_name (stack);

  if (g_strcmp0 (name, "find") == 0)
    {
      update_find_position (self);
      mh_find_view_run (self->find_view);
    }
}

/* The unit's position may arrive from a peer after the window opened (a
 * new station) or change as the unit drives: Find hospital follows it. */
static gboolean
unit_changed_idle_cb (gpointer user_data)
{
  MhWindow *self = user_data;

  self->unit_changed_id = 0;
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (self->stack), "find") == 0)
    {
      update_find_position (self);
      mh_find_view_run (self->find_view);
    }
  return G_SOURCE_REMOVE;
}

static void
unit_changed_cb (MhWindow *self, const char *table, const char *row, MhStore *store)
{
  /* row is NULL when a commit changed too many rows to name them. */
  if (row != NULL && g_strcmp0 (row, mh_node_get_unit_id (self->node)) != 0)
    return;
  if (self->unit_changed_id == 0)
    self->unit_changed_id = g_idle_add (unit_changed_idle_cb, self);
}

static void
hospital_activated_cb (MhWindow *self, const char *hospital_id, MhFindView *find_view)
{
  adw_view_stack_set_visible_child_name (self->stack, "map");
  mh_map_view_select_hospital (self->map_view, hospital_id);
}

static void
show_view_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  mh_window_show_view (MH_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static void
mh_window_constructed (GObject *object)
{
  MhWindow *self = MH_WINDOW (object);
  MhRole role = mh_node_get_role (self->node);
  g_autofree char *title = NULL;

  G_OBJECT_CLASS (mh_window_parent_class)->constructed (object);

  mh_map_view_set_node (self->map_view, self->node);
  mh_find_view_set_node (self->find_view, self->node);
  mh_bed_board_set_node (self->bed_board, self->node);
  mh_chat_view_set_node (self->chat_view, self->node);
  mh_network_view_set_node (self->network_view, self->node);
  g_object_bind_property (self->chat_view, "unread", self->chat_page, "badge-number",
                          G_BINDING_SYNC_CREATE);

  /* Crews have no bed board; hubs keep one for counts phoned in. */
  adw_view_stack_page_set_visible (self->beds_page, role != MH_ROLE_AMBULANCE);

  title = g_strdup_printf ("%s — %s", _("MedHead Emergency"), mh_node_get_name (self->node));
  gtk_window_set_title (GTK_WINDOW (self), title);

  g_signal_connect_object (self->stack, "notify::visible-child", G_CALLBACK (visible_child_changed_cb),
                           self, G_CONNECT_SWAPPED);
  if (mh_node_get_unit_id (self->node) != NULL)
    {
      MhStore *store = mh_node_get_store (self->node);

      g_signal_connect_object (store, "changed::unit", G_CALLBACK (unit_changed_cb), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (store, "changed::unit_position", G_CALLBACK (unit_changed_cb),
                               self, G_CONNECT_SWAPPED);
    }
  g_signal_connect_object (self->find_view, "hospital-activated",
                           G_CALLBACK (hospital_activated_cb), self, G_CONNECT_SWAPPED);

  /* Hospitals do not move; crews do. */
  if (role == MH_ROLE_AMBULANCE)
    {
      self->locator = mh_locator_new ();
      g_signal_connect_object (self->locator, "notify::latitude", G_CALLBACK (location_changed_cb),
                               self, G_CONNECT_SWAPPED);
      mh_locator_start (self->locator);
    }
}

static void
mh_window_dispose (GObject *object)
{
  MhWindow *self = MH_WINDOW (object);

  if (self->locator != NULL)
    mh_locator_stop (self->locator);
  g_clear_object (&self->locator);
  g_clear_handle_id (&self->unit_changed_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (object), MH_TYPE_WINDOW);
  G_OBJECT_CLASS (mh_window_parent_class)->dispose (object);
}

static void
mh_window_finalize (GObject *object)
{
  MhWindow *self = MH_WINDOW (object);

  g_clear_object (&self->node);
  G_OBJECT_CLASS (mh_window_parent_class)->finalize (object);
}

static void
mh_window_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  MhWindow *self = MH_WINDOW (object);

  switch (prop_id)
    {
    case PROP_NODE:
      self->node = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_window_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MhWindow *self = MH_WINDOW (object);

  switch (prop_id)
    {
    case PROP_NODE:
      g_value_set_object (value, self->node);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_window_class_init (MhWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = mh_window_constructed;
  object_class->dispose = mh_window_dispose;
  object_class->finalize = mh_window_finalize;
  object_class->set_property = mh_window_set_property;
  object_class->get_property = mh_window_get_property;

  properties[PROP_NODE] = g_param_spec_object ("node", NULL, NULL, MH_TYPE_NODE,
                                               G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY
                                                 | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (MH_TYPE_MAP_VIEW);
  g_type_ensure (MH_TYPE_FIND_VIEW);
  g_type_ensure (MH_TYPE_BED_BOARD);
  g_type_ensure (MH_TYPE_CHAT_VIEW);
  g_type_ensure (MH_TYPE_NETWORK_VIEW);

  gtk_widget_class_set_template_from_resource (widget_class, "/com/medhead/Emergency/mh-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MhWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, beds_page);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, map_view);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, find_view);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, bed_board);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, chat_page);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, chat_view);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, network_view);

  gtk_widget_class_install_action (widget_class, "win.show-view", "s", show_view_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_ALT_MASK, "win.show-view",
                                       "s", "map");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_ALT_MASK, "win.show-view",
                                       "s", "find");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK,
                                       "win.show-view", "s", "find");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_3, GDK_ALT_MASK, "win.show-view",
                                       "s", "beds");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_4, GDK_ALT_MASK, "win.show-view",
                                       "s", "chat");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_5, GDK_ALT_MASK, "win.show-view",
                                       "s", "network");
}

static void
mh_window_init (MhWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

MhWindow *
mh_window_new (MhApplication *application, MhNode *node)
{
  g_return_val_if_fail (MH_IS_NODE (node), NULL);

  return g_object_new (MH_TYPE_WINDOW, "application", application, "node", node, NULL);
}

MhNode *
mh_window_get_node (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return self->node;
}

MhMapView *
mh_window_get_map_view (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return self->map_view;
}

MhFindView *
mh_window_get_find_view (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return self->find_view;
}

MhBedBoard *
mh_window_get_bed_board (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return self->bed_board;
}

void
mh_window_show_view (MhWindow *self, const char *name)
{
  GtkWidget *child;

  g_return_if_fail (MH_IS_WINDOW (self));

  child = adw_view_stack_get_child_by_name (self->stack, name);
  if (child != NULL && adw_view_stack_page_get_visible (adw_view_stack_get_page (self->stack, child)))
    adw_view_stack_set_visible_child_name (self->stack, name);
}

void
mh_window_add_toast (MhWindow *self, const char *message)
{
  g_return_if_fail (MH_IS_WINDOW (self));
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));
}

MhChatView *
mh_window_get_chat_view (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return self->chat_view;
}

MhNetworkView *
mh_window_get_network_view (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return self->network_view;
}

/**
 * mh_window_show_channel:
 *
 * Shows the chat on @channel. Returns: %FALSE for a name that is no channel
 */
gboolean
mh_window_show_channel (MhWindow *self, const char *channel)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), FALSE);
  if (!mh_chat_view_show_channel (self->chat_view, channel))
    return FALSE;
  adw_view_stack_set_visible_child_name (self->stack, "chat");
  return TRUE;
}

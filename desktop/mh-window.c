/* mh-window.c: the main window: map, find hospital, bed board */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>
#include <sys/resource.h>

#include "mh-application.h"
#include "mh-bed-board.h"
#include "mh-chat-view.h"
#include "mh-dispatch.h"
#include "mh-dispatch-view.h"
#include "mh-labels.h"
#include "mh-find-view.h"
#include "mh-locator.h"
#include "mh-map-view.h"
#include "mh-transfers-view.h"
#include "mh-network-view.h"
#include "mh-window.h"

struct _MhWindow
{
  AdwApplicationWindow parent_instance;

  /* Template Widgets */
  AdwToastOverlay *toast_overlay;
  GtkRevealer *banner_revealer;
  GtkLabel *banner_label;
  AdwViewStack *stack;
  AdwViewStackPage *beds_page;
  MhMapView *map_view;
  MhFindView *find_view;
  MhBedBoard *bed_board;
  MhTransfersView *transfers_view;
  AdwViewStackPage *chat_page;
  MhChatView *chat_view;
  MhNetworkView *network_view;
  AdwViewStackPage *dispatch_page;
  MhDispatchView *dispatch_view;

  /* Owned References */
  MhNode *node;
  MhLocator *locator;
  gboolean has_chosen_point; /* picked on the map: wins over the rest */
  double chosen_lat, chosen_lon;
  const char *chosen_origin; /* translated, static */
  guint unit_changed_id;

  /* Messages that arrived after this (local ms) are not announced yet. */
  gint64 messages_seen;
  guint messages_idle_id;
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

  if (self->has_chosen_point)
    {
      mh_find_view_set_position (self->find_view, self->chosen_lat, self->chosen_lon,
                                 self->chosen_origin);
      return;
    }
  /* The patient is where the incident is: the crew's accepted one. */
  if (unit_id != NULL)
    {
      g_autoptr (JsonObject) incident = mh_dispatch_active_incident (self->node);

      if (incident != NULL)
        {
          mh_find_view_set_position (self->find_view,
                                     json_object_get_double_member (incident, "lat"),
                                     json_object_get_double_member (incident, "lon"),
                                     _("the incident"));
          return;
        }
    }
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
point_chosen_cb (MhWindow *self, double lat, double lon, MhMapView *map_view)
{
  self->has_chosen_point = TRUE;
  self->chosen_lat = lat;
  self->chosen_lon = lon;
  self->chosen_origin = _("chosen on the map");
  /* A new incident (Ctrl+N) is reported there too. */
  mh_dispatch_view_set_position (self->dispatch_view, lat, lon);
  mh_window_show_view (self, "find");
  /* Already on Find hospital: switching views did not run it again. */
  update_find_position (self);
  mh_find_view_run (self->find_view);
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
  else if (g_strcmp0 (name, "dispatch") == 0)
    {
      /* Seen: the assignment no longer needs attention. */
      adw_view_stack_page_set_needs_attention (self->dispatch_page, FALSE);
      if (!self->has_chosen_point)
        {
          double lat, lon;

          mh_map_view_get_center (self->map_view, &lat, &lon);
          mh_dispatch_view_set_position (self->dispatch_view, lat, lon);
        }
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

/* The whole set: framed with the point it was searched from. */
static void
show_results_cb (MhWindow *self, MhFindView *find_view)
{
  double lat, lon;

  mh_find_view_get_position (find_view, &lat, &lon);
  adw_view_stack_set_visible_child_name (self->stack, "map");
  mh_map_view_frame_results (self->map_view, lat, lon);
}

/* Announces the messages from others that arrived since the last look:
 * the newest in full, the rest counted. */
static gboolean
announce_messages_cb (gpointer user_data)
{
  MhWindow *self = user_data;
  g_autoptr (JsonArray) messages = NULL;
  g_autoptr (GError) error = NULL;
  JsonObject *newest = NULL;
  guint n_new = 0;

  self->messages_idle_id = 0;
  messages = mh_node_list_messages (self->node, NULL, self->messages_seen, 1000, &error);
  if (messages == NULL)
    {
      g_warning ("listing messages: %s", error->message);
      return G_SOURCE_REMOVE;
    }
  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonObject *message = json_array_get_object_element (messages, i);
      gint64 arrived = json_object_get_int_member_with_default (message, "arrived_at", 0);

      self->messages_seen = MAX (self->messages_seen, arrived);
      if (g_strcmp0 (json_object_get_string_member_with_default (message, "author_site", NULL),
                     mh_node_get_site_id (self->node)) == 0
          || json_object_get_boolean_member_with_default (message, "retracted", FALSE))
        continue;
      newest = message;
      n_new++;
    }
  if (newest != NULL)
    {
      g_autofree char *title = NULL;
      AdwToast *toast;

      if (n_new == 1)
        /* Translators: a chat message that just arrived: "AUTHOR: TEXT" */
        title = g_strdup_printf (_("%s: %s"),
                                 json_object_get_string_member_with_default (newest, "author_name",
                                                                             "?"),
                                 json_object_get_string_member_with_default (newest, "body", ""));
      else
        title = g_strdup_printf (ngettext ("%u new message", "%u new messages", n_new), n_new);
      toast = adw_toast_new (title);
      adw_toast_set_timeout (toast, 4);
      adw_toast_overlay_add_toast (self->toast_overlay, toast);
    }
  return G_SOURCE_REMOVE;
}

static void
messages_changed_cb (MhWindow *self, const char *table, const char *row, MhStore *store)
{
  /* A batch from a peer changes many rows at once: one look after it. */
  if (self->messages_idle_id == 0)
    self->messages_idle_id = g_timeout_add (200, announce_messages_cb, self);
}

/* A desk hears of a new patient, a crew of the desk's answer, even with
 * the window behind another; clicking the notification opens the transfer. */
static void
transfer_event_cb (MhWindow *self, const char *transfer_id, const char *title, const char *body,
                   MhTransfersView *view)
{
  GApplication *application = G_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
  g_autoptr (GNotification) notification = NULL;
  g_autofree char *notification_id = NULL;

  if (application == NULL || gtk_window_is_active (GTK_WINDOW (self)))
    return;
  notification = g_notification_new (title);
  g_notification_set_body (notification, body);
  g_notification_set_priority (notification, G_NOTIFICATION_PRIORITY_HIGH);
  g_notification_set_default_action_and_target (notification, "app.show-transfer", "s",
                                                transfer_id);
  notification_id = g_strdup_printf ("transfer-%s", transfer_id);
  g_application_send_notification (application, notification_id, notification);
}

/* An accepted patient sent elsewhere on the way: the crew must act now,
 * so the window says it until someone acknowledges it. */
static void
diverted_after_accept_cb (MhWindow *self, const char *transfer_id, MhTransfersView *view)
{
  g_autoptr (JsonObject) transfer = mh_node_get_transfer (self->node, transfer_id, NULL);
  g_autoptr (JsonObject) hospital = NULL;
  const char *reason = NULL;
  g_autofree char *body = NULL;
  AdwMessageDialog *dialog;

  if (transfer == NULL)
    return;
  hospital = mh_node_get_hospital (self->node, json_object_get_string_member (transfer,
                                                                              "hospital_id"),
                                   NULL);
  if (!json_object_get_null_member (transfer, "desk_reason"))
    reason = json_object_get_string_member (transfer, "desk_reason");
  body = g_strdup_printf (_("%s has diverted this patient after accepting it.\n%s\nFind another "
                            "hospital now."),
                          hospital != NULL ? json_object_get_string_member (hospital, "name")
                                           : _("The hospital"),
                          reason != NULL ? reason : "");
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), _("Transfer Diverted"),
                                                       body));
  adw_message_dialog_add_response (dialog, "acknowledge", _("_Acknowledge"));
  adw_message_dialog_set_response_appearance (dialog, "acknowledge",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "acknowledge");
  adw_message_dialog_set_close_response (dialog, "acknowledge");
  mh_window_show_transfer (self, transfer_id);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_error_bell (GTK_WIDGET (self));
}

/* A hub assigned this crew an incident: the crew hears of it at once,
 * even with the window behind another. */
static void
incident_assigned_cb (MhWindow *self, const char *incident_id, MhNode *node)
{
  GApplication *application = G_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
  g_autoptr (JsonObject) incident = mh_node_get_incident (node, incident_id, NULL);
  g_autofree char *title = NULL;
  g_autofree char *body = NULL;
  AdwToast *toast;

  if (incident == NULL)
    return;
  /* TRANSLATORS: a notification: nature, priority of the incident */
  title = g_strdup_printf (_("Incident assigned: %s, %s"),
                           mh_alert_label (json_object_get_string_member_with_default (incident,
                                                                                       "nature",
                                                                                       NULL)),
                           mh_priority_label (json_object_get_string_member_with_default (
                             incident, "priority", NULL)));
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (self->stack), "dispatch") != 0)
    adw_view_stack_page_set_needs_attention (self->dispatch_page, TRUE);
  toast = adw_toast_new (title);
  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  /* Long enough to be seen; the view's badge stays until it is. (Not
   * dismissed when seen: libadwaita 1.2 crashes when a toast is
   * dismissed during its show animation.) */
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (self->stack), "dispatch") != 0)
    adw_toast_set_timeout (toast, 20);
  adw_toast_set_button_label (toast, _("_Show"));
  adw_toast_set_action_name (toast, "win.show-incident");
  adw_toast_set_action_target_value (toast, g_variant_new_string (incident_id));
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
  gtk_widget_error_bell (GTK_WIDGET (self));

  if (application == NULL)
    return;
  body = g_strdup (json_object_get_string_member_with_default (incident, "nature_text", ""));
  {
    g_autoptr (GNotification) notification = g_notification_new (title);
    g_autofree char *notification_id = g_strdup_printf ("incident-%s", incident_id);

    if (body[0] != '\0')
      g_notification_set_body (notification, body);
    g_notification_set_priority (notification, G_NOTIFICATION_PRIORITY_URGENT);
    g_notification_set_default_action_and_target (notification, "app.show-incident", "s",
                                                  incident_id);
    g_application_send_notification (application, notification_id, notification);
  }
}

static void
show_location_cb (MhWindow *self, double lat, double lon, MhDispatchView *view)
{
  adw_view_stack_set_visible_child_name (self->stack, "map");
  mh_map_view_center_on (self->map_view, lat, lon);
}

static void
find_from_incident_cb (MhWindow *self, double lat, double lon, MhDispatchView *view)
{
  self->has_chosen_point = TRUE;
  self->chosen_lat = lat;
  self->chosen_lon = lon;
  self->chosen_origin = _("the incident");
  mh_window_show_view (self, "find");
  update_find_position (self);
  mh_find_view_run (self->find_view);
}

/* Once accepted, Find hospital searches from the incident, not from a
 * point picked earlier. */
static void
answered_cb (MhWindow *self, const char *answer, MhDispatchView *view)
{
  if (g_strcmp0 (answer, "accepted") == 0)
    self->has_chosen_point = FALSE;
}

static void
show_incident_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  mh_window_show_incident (MH_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static void
new_incident_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhWindow *self = MH_WINDOW (widget);

  mh_window_show_view (self, "dispatch");
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (self->stack), "dispatch") == 0)
    mh_dispatch_view_new_incident (self->dispatch_view);
}

static void
announced_cb (MhWindow *self, const char *transfer_id, MhPatientForm *form)
{
  mh_transfers_view_select (self->transfers_view, transfer_id);
  mh_window_add_toast (self, _("Announced"));
}

static void
announce_to_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhWindow *self = MH_WINDOW (widget);
  MhPatientForm *form = mh_transfers_view_get_form (self->transfers_view);

  if (form == NULL)
    return;
  mh_patient_form_set_destination (form, g_variant_get_string (parameter, NULL));
  adw_view_stack_set_visible_child_name (self->stack, "transfers");
  gtk_widget_child_focus (GTK_WIDGET (form), GTK_DIR_TAB_FORWARD);
}

static void
dismiss_banner_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  gtk_revealer_set_reveal_child (MH_WINDOW (widget)->banner_revealer, FALSE);
}

static void
show_view_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhWindow *self = MH_WINDOW (widget);
  const char *name = g_variant_get_string (parameter, NULL);
  GtkWidget *child;
  GtkWidget *focus;

  mh_window_show_view (self, name);
  /* From the keyboard (Alt+N), the view's first control takes the focus:
   * a desk types a bed count at once instead of tabbing through the header. */
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (self->stack), name) != 0)
    return;
  child = adw_view_stack_get_visible_child (self->stack);
  focus = gtk_root_get_focus (GTK_ROOT (self));
  if (child != NULL && (focus == NULL || !gtk_widget_is_ancestor (focus, child)))
    gtk_widget_child_focus (child, GTK_DIR_TAB_FORWARD);
}

/* MEDHEAD_BENCH_FIRST_FRAME (tests/bench/bench-startup.c): once the first
 * frame is painted, print the time (CLOCK_MONOTONIC, microseconds, the
 * clock the benchmark started the process by), the pins and the clusters
 * shown and the CPU time used so far (microseconds), then quit. */
static void
first_frame_painted_cb (MhWindow *self, GdkFrameClock *clock)
{
  GtkApplication *application = gtk_window_get_application (GTK_WINDOW (self));
  struct rusage usage = { 0 };

  g_signal_handlers_disconnect_by_func (clock, first_frame_painted_cb, self);
  getrusage (RUSAGE_SELF, &usage);
  g_print ("medhead-first-frame %" G_GINT64_FORMAT " %u %u %" G_GINT64_FORMAT "\n",
           g_get_monotonic_time (), mh_map_view_get_n_hospital_markers (self->map_view),
           mh_map_view_get_n_clusters (self->map_view),
           (gint64) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_USEC_PER_SEC
             + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  fflush (stdout);
  if (application != NULL)
    g_application_quit (G_APPLICATION (application));
}

static void
realized_cb (MhWindow *self)
{
  g_signal_connect_object (gtk_widget_get_frame_clock (GTK_WIDGET (self)), "after-paint",
                           G_CALLBACK (first_frame_painted_cb), self, G_CONNECT_SWAPPED);
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
  mh_transfers_view_set_node (self->transfers_view, self->node);
  g_signal_connect_object (self->transfers_view, "transfer-event", G_CALLBACK (transfer_event_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->transfers_view, "diverted-after-accept",
                           G_CALLBACK (diverted_after_accept_cb), self, G_CONNECT_SWAPPED);
  if (mh_transfers_view_get_form (self->transfers_view) != NULL)
    g_signal_connect_object (mh_transfers_view_get_form (self->transfers_view), "announced",
                             G_CALLBACK (announced_cb), self, G_CONNECT_SWAPPED);
  /* Only a crew announces. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.announce-to", role == MH_ROLE_AMBULANCE);
  mh_chat_view_set_node (self->chat_view, self->node);
  mh_network_view_set_node (self->network_view, self->node);
  /* A hub runs the board; a crew sees its assignments; a desk neither. */
  adw_view_stack_page_set_visible (self->dispatch_page, role != MH_ROLE_HOSPITAL);
  if (role == MH_ROLE_AMBULANCE)
    adw_view_stack_page_set_title (self->dispatch_page, _("Incidents"));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.new-incident", role != MH_ROLE_HOSPITAL);
  if (role != MH_ROLE_HOSPITAL)
    mh_dispatch_view_set_node (self->dispatch_view, self->node);
  g_signal_connect_object (self->dispatch_view, "show-location", G_CALLBACK (show_location_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->dispatch_view, "find-hospital",
                           G_CALLBACK (find_from_incident_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->dispatch_view, "answered", G_CALLBACK (answered_cb), self,
                           G_CONNECT_SWAPPED);
  if (role == MH_ROLE_AMBULANCE)
    g_signal_connect_object (self->node, "incident-assigned", G_CALLBACK (incident_assigned_cb),
                             self, G_CONNECT_SWAPPED);
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
  g_signal_connect_object (self->map_view, "point-chosen", G_CALLBACK (point_chosen_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->find_view, "hospital-activated",
                           G_CALLBACK (hospital_activated_cb), self, G_CONNECT_SWAPPED);
  /* The map marks what Find hospital holds, whichever view shows. */
  g_object_bind_property (self->find_view, "results", self->map_view, "results",
                          G_BINDING_SYNC_CREATE);
  g_signal_connect_object (self->find_view, "show-results", G_CALLBACK (show_results_cb), self,
                           G_CONNECT_SWAPPED);

  /* Hospitals do not move; crews do. */
  if (role == MH_ROLE_AMBULANCE)
    {
      self->locator = mh_locator_new ();
      g_signal_connect_object (self->locator, "notify::latitude", G_CALLBACK (location_changed_cb),
                               self, G_CONNECT_SWAPPED);
      mh_locator_start (self->locator);
    }
  /* Only what arrives from now on is news. */
  self->messages_seen = mh_node_now_ms (self->node);
  g_signal_connect_object (mh_node_get_store (self->node), "changed::message",
                           G_CALLBACK (messages_changed_cb), self, G_CONNECT_SWAPPED);
  if (g_getenv ("MEDHEAD_BENCH_FIRST_FRAME") != NULL)
    g_signal_connect (self, "realize", G_CALLBACK (realized_cb), NULL);
}

static void
mh_window_dispose (GObject *object)
{
  MhWindow *self = MH_WINDOW (object);

  if (self->locator != NULL)
    mh_locator_stop (self->locator);
  g_clear_object (&self->locator);
  g_clear_handle_id (&self->unit_changed_id, g_source_remove);
  g_clear_handle_id (&MH_WINDOW (object)->messages_idle_id, g_source_remove);
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
  g_type_ensure (MH_TYPE_TRANSFERS_VIEW);
  g_type_ensure (MH_TYPE_CHAT_VIEW);
  g_type_ensure (MH_TYPE_NETWORK_VIEW);
  g_type_ensure (MH_TYPE_DISPATCH_VIEW);

  gtk_widget_class_set_template_from_resource (widget_class, "/com/medhead/Emergency/mh-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MhWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, banner_revealer);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, banner_label);
  gtk_widget_class_install_action (widget_class, "win.dismiss-banner", NULL,
                                   dismiss_banner_action);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, beds_page);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, map_view);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, find_view);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, bed_board);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, transfers_view);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, chat_page);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, chat_view);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, network_view);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, dispatch_page);
  gtk_widget_class_bind_template_child (widget_class, MhWindow, dispatch_view);

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
                                       "s", "transfers");
  gtk_widget_class_install_action (widget_class, "win.announce-to", "s", announce_to_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_5, GDK_ALT_MASK, "win.show-view",
                                       "s", "chat");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_6, GDK_ALT_MASK, "win.show-view",
                                       "s", "network");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_7, GDK_ALT_MASK, "win.show-view",
                                       "s", "dispatch");
  gtk_widget_class_install_action (widget_class, "win.show-incident", "s", show_incident_action);
  gtk_widget_class_install_action (widget_class, "win.new-incident", NULL, new_incident_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "win.new-incident", NULL);
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

MhTransfersView *
mh_window_get_transfers_view (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return self->transfers_view;
}

void
mh_window_show_transfer (MhWindow *self, const char *transfer_id)
{
  g_return_if_fail (MH_IS_WINDOW (self));

  adw_view_stack_set_visible_child_name (self->stack, "transfers");
  if (transfer_id != NULL && transfer_id[0] != '\0')
    mh_transfers_view_select (self->transfers_view, transfer_id);
}

/**
 * mh_window_show_banner:
 *
 * Shows @message under the header bar until the user dismisses it: for
 * what must not slip by as a toast does, and must not cover the views.
 */
void
mh_window_show_banner (MhWindow *self, const char *message)
{
  g_return_if_fail (MH_IS_WINDOW (self));
  gtk_label_set_text (self->banner_label, message);
  gtk_revealer_set_reveal_child (self->banner_revealer, TRUE);
}

const char *
mh_window_get_banner (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return gtk_revealer_get_reveal_child (self->banner_revealer)
           ? gtk_label_get_text (self->banner_label)
           : NULL;
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

MhDispatchView *
mh_window_get_dispatch_view (MhWindow *self)
{
  g_return_val_if_fail (MH_IS_WINDOW (self), NULL);
  return self->dispatch_view;
}

/**
 * mh_window_show_incident:
 *
 * Opens the dispatch view on one incident (a notification's action).
 */
void
mh_window_show_incident (MhWindow *self, const char *incident_id)
{
  g_return_if_fail (MH_IS_WINDOW (self));

  mh_window_show_view (self, "dispatch");
  if (incident_id != NULL && incident_id[0] != '\0')
    mh_dispatch_view_select (self->dispatch_view, incident_id);
}

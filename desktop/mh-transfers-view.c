/* mh-transfers-view.c: incoming (desk) or outgoing (crew) transfers, and the crew's patient form
 *
 * The list follows the replica: it is rebuilt from the node whenever the
 * store reports a change to transfers, patients or their observations, and
 * once a minute for the ETA countdown and the acknowledgement timeout. It
 * also tells the window what deserves a notification: a new incoming
 * transfer on a desk, a desk's decision on a crew.
 */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-settings.h"
#include "mh-transfers-view.h"

struct _MhTransfersView
{
  GtkWidget parent_instance;

  GtkWidget *box;
  MhPatientForm *form;
  GtkLabel *title_label;
  GtkLabel *message_label;
  GtkStack *list_stack;
  GtkListBox *list_box;
  GtkEntry *reason_entry;
  GtkWidget *desk_buttons;
  GtkWidget *crew_buttons;

  MhNode *node;
  GSettings *settings;
  GPtrArray *items;        /* MhTransferItem, in list order */
  GHashTable *last_desk;   /* transfer id -> desk_state last seen */
  char *selected;
  guint refresh_id;
  guint tick_id;
  gboolean loaded;
  gboolean refreshing;
};

G_DEFINE_FINAL_TYPE (MhTransfersView, mh_transfers_view, GTK_TYPE_WIDGET)

enum
{
  TRANSFER_EVENT,
  DIVERTED_AFTER_ACCEPT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const struct
{
  const char *action;
  const char *state;
  guint flag;
} actions[] = {
  { "transfers.acknowledge", "acknowledged", MH_TRANSFER_CAN_ACKNOWLEDGE },
  { "transfers.accept", "accepted", MH_TRANSFER_CAN_ACCEPT },
  { "transfers.divert", "diverted", MH_TRANSFER_CAN_DIVERT },
  { "transfers.en-route", "en_route", MH_TRANSFER_CAN_EN_ROUTE },
  { "transfers.arrived", "arrived", MH_TRANSFER_CAN_ARRIVE },
  { "transfers.cancel", "cancelled", MH_TRANSFER_CAN_CANCEL },
};

static void
show_message (MhTransfersView *self, const char *message)
{
  gtk_label_set_text (self->message_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->message_label), message != NULL);
}

static MhTransferItem *
find_item (MhTransfersView *self, const char *id)
{
  for (guint i = 0; id != NULL && i < self->items->len; i++)
    {
      MhTransferItem *item = g_ptr_array_index (self->items, i);

      if (g_strcmp0 (item->id, id) == 0)
        return item;
    }
  return NULL;
}

static void
update_actions (MhTransfersView *self)
{
  MhTransferItem *item = find_item (self, self->selected);

  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    gtk_widget_action_set_enabled (GTK_WIDGET (self), actions[i].action,
                                   item != NULL && (item->actions & actions[i].flag) != 0);
}

static GtkWidget *
make_row (MhTransfersView *self, MhTransferItem *item)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *hbox = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *texts = gtk_box_new (GTK_ORIENTATION_VERTICAL, 3);
  GtkWidget *dot = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 0);
  GtkWidget *title = gtk_label_new (NULL);
  GtkWidget *line = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  GtkWidget *state = gtk_label_new (item->state_label);
  g_autofree char *title_text = NULL;
  g_autofree char *detail = NULL;
  g_autofree char *accessible = NULL;
  g_autofree char *triage_class = g_strdup_printf ("mh-triage-%s", item->triage ?: "none");
  g_autofree char *state_class = g_strdup_printf ("mh-state-%s", item->state);

  gtk_widget_set_margin_top (hbox, 8);
  gtk_widget_set_margin_bottom (hbox, 8);
  gtk_widget_set_margin_start (hbox, 8);
  gtk_widget_set_margin_end (hbox, 8);

  gtk_widget_add_css_class (dot, "mh-triage");
  gtk_widget_add_css_class (dot, triage_class);
  gtk_widget_set_valign (dot, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (hbox), dot);

  gtk_widget_set_hexpand (texts, TRUE);
  /* A desk knows where it is; a crew needs to see where it is going. */
  if (mh_node_get_role (self->node) == MH_ROLE_HOSPITAL)
    title_text = g_strdup (item->summary);
  else
    title_text = g_strdup_printf ("%s → %s", item->summary, item->hospital_name);
  gtk_label_set_text (GTK_LABEL (title), title_text);
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_ellipsize (GTK_LABEL (title), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (title, "heading");
  gtk_box_append (GTK_BOX (texts), title);

  gtk_widget_add_css_class (state, "mh-badge");
  gtk_widget_add_css_class (state, state_class);
  gtk_box_append (GTK_BOX (line), state);
  detail = g_strdup_printf ("%s%s%s", item->eta_label ?: "",
                            item->eta_label != NULL && item->vitals != NULL ? " · " : "",
                            item->vitals ?: "");
  {
    GtkWidget *label = gtk_label_new (detail);

    gtk_label_set_xalign (GTK_LABEL (label), 0);
    gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
    gtk_widget_add_css_class (label, "numeric");
    gtk_box_append (GTK_BOX (line), label);
  }
  gtk_box_append (GTK_BOX (texts), line);

  if (item->delivery != NULL)
    {
      GtkWidget *label = gtk_label_new (item->delivery);

      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
      gtk_widget_add_css_class (label, "caption");
      gtk_widget_add_css_class (label, item->seen ? "success" : "dim-label");
      gtk_box_append (GTK_BOX (texts), label);
    }
  if (item->desk_reason != NULL && g_strcmp0 (item->desk_state, "diverted") == 0)
    {
      g_autofree char *text = g_strdup_printf (_("Diverted: %s"), item->desk_reason);
      GtkWidget *label = gtk_label_new (text);

      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      gtk_widget_add_css_class (label, "error");
      gtk_box_append (GTK_BOX (texts), label);
    }
  if (item->unanswered)
    {
      g_autofree char *text = NULL;
      GtkWidget *label;

      if (item->phone != NULL)
        text = g_strdup_printf (_("No acknowledgement yet: phone the desk, %s"), item->phone);
      else
        text = g_strdup (_("No acknowledgement yet: phone the desk"));
      label = gtk_label_new (text);
      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      gtk_label_set_selectable (GTK_LABEL (label), FALSE);
      gtk_widget_add_css_class (label, "warning");
      gtk_widget_add_css_class (label, "heading");
      gtk_box_append (GTK_BOX (texts), label);
    }
  gtk_box_append (GTK_BOX (hbox), texts);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), hbox);

  accessible = g_strdup_printf ("%s, %s%s%s", title_text, item->state_label,
                                item->eta_label != NULL ? ", " : "", item->eta_label ?: "");
  gtk_accessible_update_property (GTK_ACCESSIBLE (row), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible,
                                  -1);
  g_object_set_data_full (G_OBJECT (row), "transfer-id", g_strdup (item->id), g_free);
  return row;
}

/* What changed since the last look that a person must hear about. */
static void
notice_changes (MhTransfersView *self)
{
  MhRole role = mh_node_get_role (self->node);

  for (guint i = 0; i < self->items->len; i++)
    {
      MhTransferItem *item = g_ptr_array_index (self->items, i);
      const char *before = g_hash_table_lookup (self->last_desk, item->id);
      gboolean known = g_hash_table_contains (self->last_desk, item->id);

      if (self->loaded && !item->finished)
        {
          if (role == MH_ROLE_HOSPITAL && !known)
            {
              g_autofree char *body = g_strdup_printf ("%s%s%s", item->summary,
                                                       item->eta_label != NULL ? " · " : "",
                                                       item->eta_label ?: "");

              g_signal_emit (self, signals[TRANSFER_EVENT], 0, item->id,
                             _("New incoming transfer"), body);
            }
          else if (role == MH_ROLE_AMBULANCE && known && g_strcmp0 (before, item->desk_state) != 0
                   && g_strcmp0 (item->desk_state, "pending") != 0)
            {
              g_autofree char *title = g_strdup_printf ("%s: %s", item->hospital_name,
                                                        item->state_label);

              g_signal_emit (self, signals[TRANSFER_EVENT], 0, item->id, title,
                             item->desk_reason ?: item->summary);
              if (g_strcmp0 (before, "accepted") == 0
                  && g_strcmp0 (item->desk_state, "diverted") == 0)
                g_signal_emit (self, signals[DIVERTED_AFTER_ACCEPT], 0, item->id);
            }
        }
      g_hash_table_insert (self->last_desk, g_strdup (item->id), g_strdup (item->desk_state));
    }
  self->loaded = TRUE;
}

static void
row_selected_cb (MhTransfersView *self, GtkListBoxRow *row, GtkListBox *list_box)
{
  if (self->refreshing)
    return;
  g_free (self->selected);
  self->selected = row != NULL ? g_strdup (g_object_get_data (G_OBJECT (row), "transfer-id"))
                               : NULL;
  update_actions (self);
}

void
mh_transfers_view_refresh (MhTransfersView *self)
{
  g_autoptr (JsonArray) transfers = NULL;
  g_autoptr (GError) error = NULL;
  const char *hospital_id = NULL;
  GtkListBoxRow *selected_row = NULL;
  gboolean had_focus;
  GtkWidget *child;
  gint64 now;
  guint timeout;

  g_return_if_fail (MH_IS_TRANSFERS_VIEW (self));

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  if (self->node == NULL)
    return;
  if (mh_node_get_role (self->node) == MH_ROLE_HOSPITAL)
    hospital_id = mh_node_get_hospital_id (self->node);
  transfers = mh_node_list_transfers (self->node, hospital_id, &error);
  if (transfers == NULL)
    {
      show_message (self, error->message);
      return;
    }
  now = mh_node_now_ms (self->node);
  timeout = g_settings_get_uint (self->settings, "ack-timeout-minutes");
  g_ptr_array_set_size (self->items, 0);
  /* Newest first: the one that just came in is the one to answer. */
  for (guint i = json_array_get_length (transfers); i-- > 0;)
    {
      MhTransferItem *item = mh_transfer_item_new (self->node,
                                                   json_array_get_object_element (transfers, i),
                                                   now, timeout);

      if (item != NULL && item->concerns_us)
        g_ptr_array_add (self->items, item);
      else
        mh_transfer_item_free (item);
    }
  notice_changes (self);

  /* On screen at the desk: the crew sees that a person has it in front of
   * them (a receipt), not only that the desk's computer received it. */
  if (mh_node_get_role (self->node) == MH_ROLE_HOSPITAL
      && gtk_widget_get_mapped (GTK_WIDGET (self)))
    for (guint i = 0; i < self->items->len; i++)
      {
        MhTransferItem *item = g_ptr_array_index (self->items, i);
        g_autoptr (GError) seen_error = NULL;

        if (!item->seen && !item->finished
            && !mh_node_mark_transfer_seen (self->node, item->id, &seen_error))
          g_message ("cannot mark a transfer seen: %s", seen_error->message);
      }

  {
    GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
    GtkWidget *focus = root != NULL ? gtk_root_get_focus (root) : NULL;

    had_focus = focus != NULL && gtk_widget_is_ancestor (focus, GTK_WIDGET (self->list_box));
  }
  self->refreshing = TRUE;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->list_box))) != NULL)
    gtk_list_box_remove (self->list_box, child);
  for (guint i = 0; i < self->items->len; i++)
    {
      MhTransferItem *item = g_ptr_array_index (self->items, i);
      GtkWidget *row = make_row (self, item);

      gtk_list_box_append (self->list_box, row);
      if (g_strcmp0 (item->id, self->selected) == 0)
        selected_row = GTK_LIST_BOX_ROW (row);
    }
  if (selected_row == NULL && self->items->len > 0)
    {
      selected_row = gtk_list_box_get_row_at_index (self->list_box, 0);
      g_free (self->selected);
      self->selected = g_strdup (((MhTransferItem *) g_ptr_array_index (self->items, 0))->id);
    }
  if (selected_row != NULL)
    {
      gtk_list_box_select_row (self->list_box, selected_row);
      if (had_focus)
        gtk_widget_grab_focus (GTK_WIDGET (selected_row));
    }
  else
    g_clear_pointer (&self->selected, g_free);
  self->refreshing = FALSE;
  gtk_stack_set_visible_child_name (self->list_stack, self->items->len > 0 ? "list" : "empty");
  update_actions (self);
}

static gboolean
refresh_idle_cb (gpointer user_data)
{
  MhTransfersView *self = user_data;

  self->refresh_id = 0;
  mh_transfers_view_refresh (self);
  return G_SOURCE_REMOVE;
}

static void
store_changed_cb (MhTransfersView *self, const char *table, const char *row, MhStore *store)
{
  if (self->refresh_id == 0)
    self->refresh_id = g_idle_add (refresh_idle_cb, self);
}

static void
mapped_cb (MhTransfersView *self, gpointer user_data)
{
  if (self->node != NULL && self->refresh_id == 0)
    self->refresh_id = g_idle_add (refresh_idle_cb, self);
}

static gboolean
tick_cb (gpointer user_data)
{
  mh_transfers_view_refresh (user_data);
  return G_SOURCE_CONTINUE;
}

static void
act_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    if (g_strcmp0 (actions[i].action, action_name) == 0)
      mh_transfers_view_act (MH_TRANSFERS_VIEW (widget), actions[i].state);
}

static void
mh_transfers_view_dispose (GObject *object)
{
  MhTransfersView *self = MH_TRANSFERS_VIEW (object);

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_pointer (&self->box, gtk_widget_unparent);
  G_OBJECT_CLASS (mh_transfers_view_parent_class)->dispose (object);
}

static void
mh_transfers_view_finalize (GObject *object)
{
  MhTransfersView *self = MH_TRANSFERS_VIEW (object);

  g_clear_object (&self->node);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->items, g_ptr_array_unref);
  g_clear_pointer (&self->last_desk, g_hash_table_unref);
  g_free (self->selected);
  G_OBJECT_CLASS (mh_transfers_view_parent_class)->finalize (object);
}

static void
mh_transfers_view_class_init (MhTransfersViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_transfers_view_dispose;
  object_class->finalize = mh_transfers_view_finalize;

  /**
   * MhTransfersView::transfer-event:
   * @transfer_id: the transfer
   * @title: what happened, for a notification
   * @body: the details
   */
  signals[TRANSFER_EVENT] = g_signal_new ("transfer-event", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                                          G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * MhTransfersView::diverted-after-accept:
   * @transfer_id: a transfer the desk had accepted and now diverts
   */
  signals[DIVERTED_AFTER_ACCEPT] = g_signal_new ("diverted-after-accept",
                                                 G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                 NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    gtk_widget_class_install_action (widget_class, actions[i].action, NULL, act_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_k, GDK_CONTROL_MASK,
                                       "transfers.acknowledge", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_a, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "transfers.accept", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_d, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "transfers.divert", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_e, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "transfers.en-route", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "transfers.arrived", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_x, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "transfers.cancel", NULL);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static GtkWidget *
make_button (const char *label, const char *name, const char *action, const char *tooltip,
             const char *style)
{
  GtkWidget *button = gtk_button_new_with_mnemonic (label);

  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, name,
                                  -1);
  gtk_widget_set_tooltip_text (button, tooltip);
  if (style != NULL)
    gtk_widget_add_css_class (button, style);
  return button;
}

static void
mh_transfers_view_init (MhTransfersView *self)
{
  GtkWidget *right = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkWidget *empty = adw_status_page_new ();
  GtkWidget *bar = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);

  self->items = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_transfer_item_free);
  self->last_desk = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->settings = mh_settings_new ();

  self->box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 0);
  gtk_widget_set_parent (self->box, GTK_WIDGET (self));

  gtk_widget_set_hexpand (right, TRUE);
  self->title_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->title_label, 0);
  gtk_widget_add_css_class (GTK_WIDGET (self->title_label), "title-4");
  gtk_widget_set_margin_start (GTK_WIDGET (self->title_label), 12);
  gtk_widget_set_margin_top (GTK_WIDGET (self->title_label), 12);
  gtk_widget_set_margin_bottom (GTK_WIDGET (self->title_label), 6);
  gtk_box_append (GTK_BOX (right), GTK_WIDGET (self->title_label));

  self->message_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (self->message_label, TRUE);
  gtk_label_set_xalign (self->message_label, 0);
  gtk_widget_add_css_class (GTK_WIDGET (self->message_label), "mh-banner");
  gtk_widget_set_visible (GTK_WIDGET (self->message_label), FALSE);
  gtk_box_append (GTK_BOX (right), GTK_WIDGET (self->message_label));

  self->list_stack = GTK_STACK (gtk_stack_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->list_stack), TRUE);
  self->list_box = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_list_box_set_selection_mode (self->list_box, GTK_SELECTION_SINGLE);
  gtk_widget_add_css_class (GTK_WIDGET (self->list_box), "navigation-sidebar");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->list_box), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Transfers"), -1);
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), GTK_WIDGET (self->list_box));
  gtk_stack_add_named (self->list_stack, scrolled, "list");
  adw_status_page_set_icon_name (ADW_STATUS_PAGE (empty), "mail-send-receive-symbolic");
  adw_status_page_set_title (ADW_STATUS_PAGE (empty), _("No Transfers"));
  gtk_widget_add_css_class (empty, "compact");
  gtk_stack_add_named (self->list_stack, empty, "empty");
  gtk_box_append (GTK_BOX (right), GTK_WIDGET (self->list_stack));

  gtk_widget_set_margin_start (bar, 12);
  gtk_widget_set_margin_end (bar, 12);
  gtk_widget_set_margin_top (bar, 6);
  gtk_widget_set_margin_bottom (bar, 12);
  self->desk_buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_widget_set_hexpand (self->desk_buttons, TRUE);
  gtk_box_append (GTK_BOX (self->desk_buttons),
                  make_button (_("Ac_knowledge"), _("Acknowledge"), "transfers.acknowledge",
                               _("Acknowledge (Ctrl+K)"), NULL));
  gtk_box_append (GTK_BOX (self->desk_buttons),
                  make_button (_("A_ccept"), _("Accept"), "transfers.accept",
                               _("Accept (Ctrl+Shift+A)"), "suggested-action"));
  self->reason_entry = GTK_ENTRY (gtk_entry_new ());
  gtk_entry_set_placeholder_text (self->reason_entry, _("Reason to divert"));
  gtk_widget_set_hexpand (GTK_WIDGET (self->reason_entry), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->reason_entry),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Reason to divert"), -1);
  gtk_box_append (GTK_BOX (self->desk_buttons), GTK_WIDGET (self->reason_entry));
  gtk_box_append (GTK_BOX (self->desk_buttons),
                  make_button (_("_Divert"), _("Divert"), "transfers.divert",
                               _("Divert with the reason typed (Ctrl+Shift+D)"),
                               "destructive-action"));
  gtk_box_append (GTK_BOX (bar), self->desk_buttons);

  self->crew_buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_widget_set_hexpand (self->crew_buttons, TRUE);
  gtk_widget_set_halign (self->crew_buttons, GTK_ALIGN_END);
  gtk_box_append (GTK_BOX (self->crew_buttons),
                  make_button (_("En Route"), _("En route"), "transfers.en-route",
                               _("En route (Ctrl+Shift+E)"), NULL));
  gtk_box_append (GTK_BOX (self->crew_buttons),
                  make_button (_("Arrived"), _("Arrived"), "transfers.arrived",
                               _("Arrived (Ctrl+Shift+R)"), NULL));
  gtk_box_append (GTK_BOX (self->crew_buttons),
                  make_button (_("Can_cel Transfer"), _("Cancel transfer"), "transfers.cancel",
                               _("Cancel this transfer (Ctrl+Shift+X)"), "destructive-action"));
  gtk_box_append (GTK_BOX (bar), self->crew_buttons);
  gtk_box_append (GTK_BOX (right), bar);

  gtk_box_append (GTK_BOX (self->box), right);
  g_signal_connect_object (self->list_box, "row-selected", G_CALLBACK (row_selected_cb), self,
                           G_CONNECT_SWAPPED);
  /* Shown at last: what is listed is now seen (see refresh). */
  g_signal_connect (self, "map", G_CALLBACK (mapped_cb), NULL);
  update_actions (self);
}

void
mh_transfers_view_set_node (MhTransfersView *self, MhNode *node)
{
  MhStore *store;
  MhRole role;
  static const char *const tables[] = { "changed::transfer", "changed::patient",
                                        "changed::observation", "changed::hospital",
                                        "changed::receipt" };

  g_return_if_fail (MH_IS_TRANSFERS_VIEW (self));
  g_return_if_fail (MH_IS_NODE (node));
  g_return_if_fail (self->node == NULL);

  self->node = g_object_ref (node);
  role = mh_node_get_role (node);
  if (role == MH_ROLE_AMBULANCE)
    {
      GtkWidget *separator = gtk_separator_new (GTK_ORIENTATION_VERTICAL);

      self->form = g_object_new (MH_TYPE_PATIENT_FORM, NULL);
      gtk_widget_set_size_request (GTK_WIDGET (self->form), 400, -1);
      mh_patient_form_set_node (self->form, node);
      gtk_box_prepend (GTK_BOX (self->box), separator);
      gtk_box_prepend (GTK_BOX (self->box), GTK_WIDGET (self->form));
    }
  gtk_label_set_text (self->title_label, role == MH_ROLE_HOSPITAL ? _("Incoming Transfers")
                                         : role == MH_ROLE_AMBULANCE ? _("Outgoing Transfers")
                                                                     : _("Transfers"));
  gtk_widget_set_visible (self->desk_buttons, role != MH_ROLE_AMBULANCE);
  gtk_widget_set_visible (self->crew_buttons, role != MH_ROLE_HOSPITAL);

  store = mh_node_get_store (node);
  for (gsize i = 0; i < G_N_ELEMENTS (tables); i++)
    g_signal_connect_object (store, tables[i], G_CALLBACK (store_changed_cb), self,
                             G_CONNECT_SWAPPED);
  /* The ETA counts down and the acknowledgement timeout runs out with no
   * change in the replica. */
  self->tick_id = g_timeout_add_seconds (30, tick_cb, self);
  mh_transfers_view_refresh (self);
}

MhPatientForm *
mh_transfers_view_get_form (MhTransfersView *self)
{
  g_return_val_if_fail (MH_IS_TRANSFERS_VIEW (self), NULL);
  return self->form;
}

GPtrArray *
mh_transfers_view_get_items (MhTransfersView *self)
{
  g_return_val_if_fail (MH_IS_TRANSFERS_VIEW (self), NULL);
  return self->items;
}

gboolean
mh_transfers_view_select (MhTransfersView *self, const char *transfer_id)
{
  g_return_val_if_fail (MH_IS_TRANSFERS_VIEW (self), FALSE);

  mh_transfers_view_refresh (self);
  for (guint i = 0; i < self->items->len; i++)
    {
      MhTransferItem *item = g_ptr_array_index (self->items, i);

      if (g_strcmp0 (item->id, transfer_id) == 0)
        {
          GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->list_box, (int) i);

          gtk_list_box_select_row (self->list_box, row);
          gtk_widget_grab_focus (GTK_WIDGET (row));
          return TRUE;
        }
    }
  return FALSE;
}

const char *
mh_transfers_view_get_selected (MhTransfersView *self)
{
  g_return_val_if_fail (MH_IS_TRANSFERS_VIEW (self), NULL);
  return self->selected;
}

void
mh_transfers_view_set_reason (MhTransfersView *self, const char *reason)
{
  g_return_if_fail (MH_IS_TRANSFERS_VIEW (self));
  gtk_editable_set_text (GTK_EDITABLE (self->reason_entry), reason);
}

const char *
mh_transfers_view_get_message (MhTransfersView *self)
{
  g_return_val_if_fail (MH_IS_TRANSFERS_VIEW (self), NULL);
  return gtk_widget_get_visible (GTK_WIDGET (self->message_label))
           ? gtk_label_get_text (self->message_label)
           : NULL;
}

typedef struct
{
  MhNode *node;
  const char *id;
} AcceptPending;

static gboolean
accept_pending_txn (MhStore *store, gpointer user_data, GError **error)
{
  AcceptPending *accept = user_data;

  return mh_node_transfer_desk (accept->node, accept->id, "acknowledged", NULL, error)
         && mh_node_transfer_desk (accept->node, accept->id, "accepted", NULL, error);
}

gboolean
mh_transfers_view_act (MhTransfersView *self, const char *state)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reason = NULL;
  MhTransferItem *item;
  gboolean ok;

  g_return_val_if_fail (MH_IS_TRANSFERS_VIEW (self), FALSE);

  if (self->node == NULL || self->selected == NULL)
    {
      show_message (self, _("Select a transfer first."));
      return FALSE;
    }
  if (g_strcmp0 (state, "acknowledged") == 0 || g_strcmp0 (state, "accepted") == 0
      || g_strcmp0 (state, "diverted") == 0)
    {
      reason = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->reason_entry))));
      if (g_strcmp0 (state, "diverted") == 0 && reason[0] == '\0')
        {
          show_message (self, _("Type the reason to divert first (where should the crew go?)."));
          gtk_widget_grab_focus (GTK_WIDGET (self->reason_entry));
          return FALSE;
        }
      item = find_item (self, self->selected);
      /* Accepting an unanswered transfer acknowledges it too, in the same
       * transaction: the node only moves one step at a time. */
      if (g_strcmp0 (state, "accepted") == 0 && item != NULL
          && g_strcmp0 (item->desk_state, "pending") == 0)
        {
          AcceptPending accept = { self->node, self->selected };

          ok = mh_store_transact (mh_node_get_store (self->node), accept_pending_txn, &accept,
                                  &error);
        }
      else
        ok = mh_node_transfer_desk (self->node, self->selected, state,
                                    g_strcmp0 (state, "diverted") == 0 ? reason : NULL, &error);
      if (ok && g_strcmp0 (state, "diverted") == 0)
        gtk_editable_set_text (GTK_EDITABLE (self->reason_entry), "");
    }
  else
    ok = mh_node_transfer_crew (self->node, self->selected, state, &error);
  if (!ok)
    {
      g_autofree char *message = g_strdup_printf (_("Not done: %s"), error->message);

      show_message (self, message);
      return FALSE;
    }
  show_message (self, NULL);
  mh_transfers_view_refresh (self);
  return TRUE;
}

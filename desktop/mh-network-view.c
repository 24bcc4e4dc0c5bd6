/* mh-network-view.c: this station's peers, changes waiting and held back
 *
 * The page a desk or a crew opens when something does not arrive: who this
 * station links with, whether each link is up, when each peer was last
 * heard from, how many changes wait for it, and the changes this replica
 * holds back (held: clock too far ahead; parked: waiting for what they
 * refer to; rejected: wrong in themselves) with their reasons. It also
 * shows this station's fingerprint, to read out, and adds peers.
 *
 * It refreshes when links come and go (the replicator's n-connected) and,
 * while shown, every few seconds for the "last contact" ages.
 */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-network-view.h"

#define REFRESH_SECONDS 5
#define QUEUED_SHOWN 20

struct _MhNetworkView
{
  AdwBin parent_instance;

  /* Template Widgets */
  AdwPreferencesPage *page;
  AdwActionRow *fingerprint_row;
  GtkLabel *fingerprint_label;
  AdwActionRow *summary_row;
  AdwActionRow *roles_row;
  AdwPreferencesGroup *peers_group;
  AdwEntryRow *peer_fingerprint;
  AdwEntryRow *peer_url;
  GtkLabel *add_error;
  AdwPreferencesGroup *queued_group;

  /* Owned References */
  MhNode *node;
  GPtrArray *peer_rows;   /* GtkWidget*, in peers_group */
  GPtrArray *queued_rows; /* GtkWidget*, in queued_group */

  MhNetworkState state;
  guint timer_id;
};

G_DEFINE_FINAL_TYPE (MhNetworkView, mh_network_view, ADW_TYPE_BIN)

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/**
 * mh_format_age:
 *
 * Returns: (transfer full): how long ago @then_ms was, for people
 */
char *
mh_format_age (gint64 now_ms, gint64 then_ms)
{
  gint64 seconds;

  if (then_ms <= 0)
    return g_strdup (_("never"));
  seconds = MAX (now_ms - then_ms, 0) / 1000;
  if (seconds < 60)
    /* Translators: a time ago, in seconds */
    return g_strdup_printf (ngettext ("%u second ago", "%u seconds ago", (gulong) seconds),
                            (guint) seconds);
  if (seconds < 3600)
    return g_strdup_printf (ngettext ("%u minute ago", "%u minutes ago", (gulong) (seconds / 60)),
                            (guint) (seconds / 60));
  if (seconds < 86400)
    return g_strdup_printf (ngettext ("%u hour ago", "%u hours ago", (gulong) (seconds / 3600)),
                            (guint) (seconds / 3600));
  return g_strdup_printf (ngettext ("%u day ago", "%u days ago", (gulong) (seconds / 86400)),
                          (guint) (seconds / 86400));
}

static void
clear_rows (AdwPreferencesGroup *group, GPtrArray *rows)
{
  for (guint i = 0; i < rows->len; i++)
    adw_preferences_group_remove (group, g_ptr_array_index (rows, i));
  g_ptr_array_set_size (rows, 0);
}

static GtkWidget *
add_row (AdwPreferencesGroup *group, GPtrArray *rows, const char *title, const char *subtitle)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  if (subtitle != NULL)
    adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 3);
  adw_preferences_group_add (group, row);
  g_ptr_array_add (rows, row);
  return row;
}

static void
add_queued (MhNetworkView *self, GPtrArray *queued, const char *kind)
{
  for (guint i = 0; i < queued->len && i < QUEUED_SHOWN; i++)
    {
      MhQueuedChange *entry = g_ptr_array_index (queued, i);
      /* Translators: a change held back: its kind (held, parked, rejected), table and row */
      g_autofree char *title = g_strdup_printf (_("%s: %s %s"), kind, entry->change->table,
                                                entry->change->row);

      add_row (self->queued_group, self->queued_rows, title,
               entry->reason ? entry->reason : _("no reason given"));
    }
}

static void
set_error (MhNetworkView *self, const char *message)
{
  g_clear_pointer (&self->state.error, g_free);
  self->state.error = g_strdup (message);
  gtk_label_set_text (self->add_error, message ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->add_error), message != NULL);
}

/* ------------------------------------------------------------------------ */
/* Signal callbacks                                                         */

static gboolean
refresh_timeout_cb (gpointer user_data)
{
  mh_network_view_refresh (user_data);
  return G_SOURCE_CONTINUE;
}

static void
links_changed_cb (MhNetworkView *self)
{
  mh_network_view_refresh (self);
}

static void
add_clicked_cb (MhNetworkView *self)
{
  mh_network_view_add_peer (self, gtk_editable_get_text (GTK_EDITABLE (self->peer_fingerprint)),
                            gtk_editable_get_text (GTK_EDITABLE (self->peer_url)));
}

static void
copy_clicked_cb (MhNetworkView *self)
{
  if (self->node != NULL)
    gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)),
                            mh_node_get_fingerprint (self->node));
}

/* ------------------------------------------------------------------------ */
/* Overrides                                                                */

static void
mh_network_view_map (GtkWidget *widget)
{
  MhNetworkView *self = MH_NETWORK_VIEW (widget);

  GTK_WIDGET_CLASS (mh_network_view_parent_class)->map (widget);
  mh_network_view_refresh (self);
  if (self->timer_id == 0)
    self->timer_id = g_timeout_add_seconds (REFRESH_SECONDS, refresh_timeout_cb, self);
}

static void
mh_network_view_unmap (GtkWidget *widget)
{
  MhNetworkView *self = MH_NETWORK_VIEW (widget);

  g_clear_handle_id (&self->timer_id, g_source_remove);
  GTK_WIDGET_CLASS (mh_network_view_parent_class)->unmap (widget);
}

static void
mh_network_view_dispose (GObject *object)
{
  MhNetworkView *self = MH_NETWORK_VIEW (object);

  g_clear_handle_id (&self->timer_id, g_source_remove);
  g_clear_object (&self->node);
  G_OBJECT_CLASS (mh_network_view_parent_class)->dispose (object);
}

static void
mh_network_view_finalize (GObject *object)
{
  MhNetworkView *self = MH_NETWORK_VIEW (object);

  g_ptr_array_unref (self->peer_rows);
  g_ptr_array_unref (self->queued_rows);
  mh_network_state_clear (&self->state);
  G_OBJECT_CLASS (mh_network_view_parent_class)->finalize (object);
}

static void
mh_network_view_class_init (MhNetworkViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_network_view_dispose;
  object_class->finalize = mh_network_view_finalize;
  widget_class->map = mh_network_view_map;
  widget_class->unmap = mh_network_view_unmap;
}

static void
mh_network_view_init (MhNetworkView *self)
{
  AdwPreferencesGroup *station, *add;
  GtkWidget *copy, *add_button, *box;

  self->peer_rows = g_ptr_array_new ();
  self->queued_rows = g_ptr_array_new ();
  self->page = ADW_PREFERENCES_PAGE (adw_preferences_page_new ());
  adw_bin_set_child (ADW_BIN (self), GTK_WIDGET (self->page));

  station = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (station, _("This Station"));
  self->fingerprint_row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->fingerprint_row),
                                 _("Fingerprint (read it out to a peer)"));
  self->fingerprint_label = GTK_LABEL (gtk_label_new (""));
  gtk_label_set_selectable (self->fingerprint_label, TRUE);
  gtk_widget_add_css_class (GTK_WIDGET (self->fingerprint_label), "monospace");
  gtk_widget_add_css_class (GTK_WIDGET (self->fingerprint_label), "title-4");
  adw_action_row_add_suffix (self->fingerprint_row, GTK_WIDGET (self->fingerprint_label));
  copy = gtk_button_new_from_icon_name ("edit-copy-symbolic");
  gtk_widget_set_valign (copy, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (copy, _("Copy the fingerprint"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (copy), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Copy the fingerprint"), -1);
  g_signal_connect_object (copy, "clicked", G_CALLBACK (copy_clicked_cb), self, G_CONNECT_SWAPPED);
  adw_action_row_add_suffix (self->fingerprint_row, copy);
  adw_preferences_group_add (station, GTK_WIDGET (self->fingerprint_row));
  self->summary_row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->summary_row), _("Links"));
  adw_preferences_group_add (station, GTK_WIDGET (self->summary_row));
  self->roles_row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->roles_row), _("Roles"));
  adw_preferences_group_add (station, GTK_WIDGET (self->roles_row));
  adw_preferences_page_add (self->page, station);

  self->peers_group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (self->peers_group, _("Peers"));
  adw_preferences_page_add (self->page, self->peers_group);

  add = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (add, _("Add a Peer"));
  adw_preferences_group_set_description (add, _("Its fingerprint, as its operator reads it out, "
                                                "and its address if this station calls it "
                                                "(leave empty to only accept its calls)."));
  self->peer_fingerprint = ADW_ENTRY_ROW (adw_entry_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->peer_fingerprint),
                                 _("Peer _fingerprint"));
  adw_preferences_row_set_use_underline (ADW_PREFERENCES_ROW (self->peer_fingerprint), TRUE);
  adw_preferences_group_add (add, GTK_WIDGET (self->peer_fingerprint));
  self->peer_url = ADW_ENTRY_ROW (adw_entry_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->peer_url),
                                 _("Peer _address (https://host:port)"));
  adw_preferences_row_set_use_underline (ADW_PREFERENCES_ROW (self->peer_url), TRUE);
  adw_preferences_group_add (add, GTK_WIDGET (self->peer_url));
  g_signal_connect_object (self->peer_url, "entry-activated", G_CALLBACK (add_clicked_cb), self,
                           G_CONNECT_SWAPPED);
  adw_entry_row_set_activates_default (self->peer_url, FALSE);
  box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  gtk_widget_set_margin_top (box, 12);
  self->add_error = GTK_LABEL (gtk_label_new (""));
  gtk_widget_add_css_class (GTK_WIDGET (self->add_error), "error");
  gtk_label_set_wrap (self->add_error, TRUE);
  gtk_label_set_xalign (self->add_error, 0);
  gtk_widget_set_hexpand (GTK_WIDGET (self->add_error), TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->add_error), FALSE);
  add_button = gtk_button_new_with_mnemonic (_("Add _Peer"));
  gtk_widget_add_css_class (add_button, "suggested-action");
  gtk_widget_set_valign (add_button, GTK_ALIGN_START);
  g_signal_connect_object (add_button, "clicked", G_CALLBACK (add_clicked_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->add_error));
  gtk_box_append (GTK_BOX (box), add_button);
  adw_preferences_group_add (add, box);
  adw_preferences_page_add (self->page, add);

  self->queued_group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (self->queued_group, _("Changes Held Back"));
  adw_preferences_page_add (self->page, self->queued_group);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

void
mh_network_state_clear (MhNetworkState *state)
{
  g_clear_pointer (&state->error, g_free);
  memset (state, 0, sizeof *state);
}

void
mh_network_view_set_node (MhNetworkView *self, MhNode *node)
{
  MhReplicator *replicator;

  g_return_if_fail (MH_IS_NETWORK_VIEW (self));
  g_return_if_fail (MH_IS_NODE (node));
  g_return_if_fail (self->node == NULL);

  self->node = g_object_ref (node);
  gtk_label_set_text (self->fingerprint_label, mh_node_get_fingerprint (node));
  adw_action_row_set_subtitle (self->fingerprint_row, mh_node_get_name (node));
  /* Without a network key, peers are believed about their role. */
  adw_action_row_set_subtitle (self->roles_row,
                               mh_node_get_trust (node) != NULL
                                 ? _("Checked against the network's admissions")
                                 : _("No network key: roles are not verified"));
  replicator = mh_node_get_replicator (node);
  if (replicator != NULL)
    {
      g_signal_connect_object (replicator, "notify::n-connected", G_CALLBACK (links_changed_cb),
                               self, G_CONNECT_SWAPPED);
      g_signal_connect_object (replicator, "notify::clock-alarm", G_CALLBACK (links_changed_cb),
                               self, G_CONNECT_SWAPPED);
    }
  mh_network_view_refresh (self);
}

/**
 * mh_network_view_refresh:
 *
 * Reads the peers and the held back changes again.
 */
void
mh_network_view_refresh (MhNetworkView *self)
{
  g_autoptr(JsonArray) peers = NULL;
  g_autoptr(GPtrArray) held = NULL;
  g_autoptr(GPtrArray) parked = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  MhStore *store;
  MhReplicator *replicator;
  g_autofree char *summary = NULL;
  gint64 now = g_get_real_time () / 1000;

  g_return_if_fail (MH_IS_NETWORK_VIEW (self));
  if (self->node == NULL)
    return;

  store = mh_node_get_store (self->node);
  replicator = mh_node_get_replicator (self->node);
  peers = mh_node_list_peers (self->node);
  self->state.n_peers = json_array_get_length (peers);
  self->state.n_connected = 0;
  self->state.n_withholding = 0;
  clear_rows (self->peers_group, self->peer_rows);
  for (guint i = 0; i < json_array_get_length (peers); i++)
    {
      JsonObject *peer = json_array_get_object_element (peers, i);
      gboolean connected = json_object_get_boolean_member_with_default (peer, "connected", FALSE);
      const char *name = json_object_get_string_member_with_default (peer, "name", "");
      const char *fingerprint = json_object_get_string_member_with_default (peer, "fingerprint", "");
      gint64 waiting = json_object_get_int_member_with_default (peer, "changes_waiting", -1);
      gint64 withheld = json_object_get_int_member_with_default (peer, "withheld", 0);
      g_autofree char *age = mh_format_age (now, json_object_get_int_member_with_default (
                                                   peer, "last_contact", 0));
      g_autofree char *waiting_text = NULL;
      g_autofree char *withheld_text = NULL;
      g_autofree char *title = NULL;
      g_autoptr(GString) subtitle = g_string_new (NULL);
      GtkWidget *row, *status;
      JsonNode *url = json_object_get_member (peer, "url");

      if (connected)
        self->state.n_connected++;
      title = *name ? g_strdup_printf ("%s (%s)", name, fingerprint) : g_strdup (fingerprint);
      if (waiting < 0)
        waiting_text = g_strdup (_("changes waiting: unknown until it links"));
      else
        waiting_text = g_strdup_printf (ngettext ("%u change waiting", "%u changes waiting",
                                                  (gulong) waiting),
                                        (guint) MIN (waiting, G_MAXUINT));
      /* Translators: a peer's last contact ("5 seconds ago") and changes waiting */
      g_string_append_printf (subtitle, _("Last contact: %s · %s"), age, waiting_text);
      if (url != NULL && JSON_NODE_HOLDS_VALUE (url))
        g_string_append_printf (subtitle, "\n%s", json_node_get_string (url));
      else
        g_string_append_printf (subtitle, "\n%s", _("calls this station (no address)"));
      if (json_object_has_member (peer, "last_error"))
        g_string_append_printf (subtitle, "\n%s",
                                json_object_get_string_member_with_default (peer, "last_error", ""));
      /* A relay whose gaps another peer filled (docs/security.md). */
      if (withheld > 0)
        {
          withheld_text = g_strdup_printf (
            ngettext ("passed over %u change that another peer had",
                      "passed over %u changes that another peer had", (gulong) withheld),
            (guint) MIN (withheld, G_MAXUINT));
          g_string_append_printf (subtitle, "\n%s", withheld_text);
        }
      row = add_row (self->peers_group, self->peer_rows, title, subtitle->str);
      status = gtk_label_new (connected ? _("Connected") : _("Not connected"));
      gtk_widget_add_css_class (status, connected ? "success" : "dim-label");
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), status);
      if (withheld > 0)
        {
          GtkWidget *warning = gtk_label_new (_("May be withholding"));

          gtk_widget_add_css_class (warning, "error");
          adw_action_row_add_suffix (ADW_ACTION_ROW (row), warning);
          self->state.n_withholding++;
        }
    }
  if (self->state.n_peers == 0)
    add_row (self->peers_group, self->peer_rows, _("No peers yet"),
             _("Add one below to exchange changes with it."));

  self->state.held = mh_store_get_held_count (store);
  self->state.parked = mh_store_get_parked_count (store);
  self->state.rejected = mh_store_get_rejected_count (store);
  self->state.clock_alarm = replicator != NULL && mh_replicator_get_clock_alarm (replicator);
  clear_rows (self->queued_group, self->queued_rows);
  held = mh_store_list_held (store, QUEUED_SHOWN);
  parked = mh_store_list_parked (store, QUEUED_SHOWN);
  rejected = mh_store_list_rejected (store, QUEUED_SHOWN);
  add_queued (self, held, _("Held"));
  add_queued (self, parked, _("Parked"));
  add_queued (self, rejected, _("Rejected"));
  {
    /* Translators: counts of changes held back (clock ahead), parked (waiting for what they
     * refer to) and rejected */
    g_autofree char *counts = g_strdup_printf (_("%u held (clock ahead), %u parked (waiting), "
                                                 "%u rejected"),
                                               self->state.held, self->state.parked,
                                               self->state.rejected);
    adw_preferences_group_set_description (self->queued_group, counts);
  }

  summary = g_strdup_printf (ngettext ("%u of %u peer connected", "%u of %u peers connected",
                                       self->state.n_peers),
                             self->state.n_connected, self->state.n_peers);
  {
    g_autoptr(GString) line = g_string_new (summary);

    if (self->state.clock_alarm)
      g_string_append_printf (line, " — %s",
                              _("Clock alarm: this station's clock disagrees with its peers"));
    if (self->state.n_withholding > 0)
      g_string_append_printf (line, " — %s",
                              _("A peer may be withholding changes: another peer had changes it "
                                "passed over"));
    adw_action_row_set_subtitle (self->summary_row, line->str);
  }
}

void
mh_network_view_get_state (MhNetworkView *self, MhNetworkState *state)
{
  g_return_if_fail (MH_IS_NETWORK_VIEW (self));
  *state = self->state;
  state->error = g_strdup (self->state.error);
}

/**
 * mh_network_view_add_peer:
 *
 * Adds a peer, or says on the page what is wrong with the input.
 */
gboolean
mh_network_view_add_peer (MhNetworkView *self, const char *fingerprint, const char *url)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *fp = g_strstrip (g_strdup (fingerprint ? fingerprint : ""));
  g_autofree char *address = g_strstrip (g_strdup (url ? url : ""));

  g_return_val_if_fail (MH_IS_NETWORK_VIEW (self), FALSE);
  if (self->node == NULL)
    return FALSE;

  if (*fp == '\0')
    {
      set_error (self, _("Enter the peer's fingerprint."));
      return FALSE;
    }
  if (!mh_node_add_peer (self->node, fp, *address ? address : NULL, &error))
    {
      g_autofree char *text = g_strdup_printf (_("Cannot add this peer: %s"), error->message);
      set_error (self, text);
      return FALSE;
    }
  set_error (self, NULL);
  gtk_editable_set_text (GTK_EDITABLE (self->peer_fingerprint), "");
  gtk_editable_set_text (GTK_EDITABLE (self->peer_url), "");
  mh_network_view_refresh (self);
  return TRUE;
}

/* mh-chat-view.c: chat per hospital, per transfer and broadcast
 *
 * Channels on the left (broadcast, this station's hospital, hospitals,
 * transfers) with their unread counts; the chosen channel's history on the
 * right, in a GtkListView over an MhChatModel, so only the rows on screen
 * exist as widgets and only a few pages of messages are in memory. A
 * message written here shows "Local only" until a peer acknowledges it.
 * New messages from others raise a notification while the window is not
 * focused; it opens their channel (app.show-channel).
 *
 * GTK 4.8's list view binds some 200 rows around the place it scrolls to
 * (a scrollbar dragged far, the channel opening), and measures them all,
 * though a screen shows a dozen. Beyond the first few rows bound in a
 * frame, a row is left blank (one line high, nothing to lay out); once
 * the frame's layout has placed the rows, the blank ones in view are
 * filled, and the frame lays them out again before it paints. The others
 * are filled once the view has stopped jumping for a moment (a scrollbar
 * dragged would have them bound again, blank, in its next frame).
 */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-chat-model.h"
#include "mh-chat-view.h"
#include "mh-hospital-list.h"

/* A channel in the list on the left. */
#define MH_TYPE_CHAT_CHANNEL (mh_chat_channel_get_type ())
G_DECLARE_FINAL_TYPE (MhChatChannel, mh_chat_channel, MH, CHAT_CHANNEL, GObject)

struct _MhChatChannel
{
  GObject parent_instance;

  char *id;
  char *title;
  guint unread;
};

G_DEFINE_FINAL_TYPE (MhChatChannel, mh_chat_channel, G_TYPE_OBJECT)

enum
{
  CHANNEL_PROP_0,
  CHANNEL_PROP_ID,
  CHANNEL_PROP_TITLE,
  CHANNEL_PROP_UNREAD,
  CHANNEL_N_PROPS
};

static GParamSpec *channel_properties[CHANNEL_N_PROPS];

struct _MhChatView
{
  GtkWidget parent_instance;

  /* Template Widgets */
  GtkWidget *paned;
  GtkListView *channel_list;
  GtkSingleSelection *channel_selection;
  GtkLabel *channel_title;
  GtkScrolledWindow *scroller;
  GtkListView *message_list;
  GtkLabel *empty_label;
  GtkEntry *entry;
  GtkButton *send_button;

  /* Owned References */
  MhNode *node;
  GListStore *channels;
  MhChatModel *messages;
  GtkNoSelection *message_selection;
  MhHospitalList *hospitals;

  gboolean populated;
  guint unread;
  gint64 last_notified;
  guint stick_id;
  guint stick_tries;

  /* Rows bound since the last frame was painted, those left blank
   * (GtkListItem*, in position order), when the last was, and the timeout
   * that fills them. */
  guint frame_binds;
  GPtrArray *blank_rows;
  gint64 last_blanked;
  guint fill_id;
  GdkFrameClock *frame_clock;
  gulong layout_id;
  gulong after_paint_id;
};

G_DEFINE_FINAL_TYPE (MhChatView, mh_chat_view, GTK_TYPE_WIDGET)

enum
{
  PROP_0,
  PROP_UNREAD,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* ------------------------------------------------------------------------ */
/* MhChatChannel                                                            */

static void
mh_chat_channel_finalize (GObject *object)
{
  MhChatChannel *self = MH_CHAT_CHANNEL (object);

  g_free (self->id);
  g_free (self->title);
  G_OBJECT_CLASS (mh_chat_channel_parent_class)->finalize (object);
}

static void
mh_chat_channel_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case CHANNEL_PROP_ID: g_value_set_string (value, MH_CHAT_CHANNEL (object)->id); break;
    case CHANNEL_PROP_TITLE: g_value_set_string (value, MH_CHAT_CHANNEL (object)->title); break;
    case CHANNEL_PROP_UNREAD: g_value_set_uint (value, MH_CHAT_CHANNEL (object)->unread); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_chat_channel_class_init (MhChatChannelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mh_chat_channel_finalize;
  object_class->get_property = mh_chat_channel_get_property;
  channel_properties[CHANNEL_PROP_ID] =
    g_param_spec_string ("id", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  channel_properties[CHANNEL_PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  channel_properties[CHANNEL_PROP_UNREAD] =
    g_param_spec_uint ("unread", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, CHANNEL_N_PROPS, channel_properties);
}

static void
mh_chat_channel_init (MhChatChannel *self)
{
}

static MhChatChannel *
channel_new (const char *id, const char *title)
{
  MhChatChannel *self = g_object_new (MH_TYPE_CHAT_CHANNEL, NULL);

  self->id = g_strdup (id);
  self->title = g_strdup (title);
  return self;
}

static void
channel_set_unread (MhChatChannel *self, guint unread)
{
  if (self->unread == unread)
    return;
  self->unread = unread;
  g_object_notify_by_pspec (G_OBJECT (self), channel_properties[CHANNEL_PROP_UNREAD]);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static char *
format_time (gint64 ms)
{
  g_autoptr(GDateTime) time = NULL;

  if (ms <= 0)
    return g_strdup ("");
  time = g_date_time_new_from_unix_local (ms / 1000);
  return time ? g_date_time_format (time, "%H:%M") : g_strdup ("");
}

static MhChatChannel *
find_channel (MhChatView *self, const char *id, guint *position)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->channels));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MhChatChannel) channel = g_list_model_get_item (G_LIST_MODEL (self->channels), i);
      if (g_strcmp0 (channel->id, id) == 0)
        {
          if (position)
            *position = i;
          return channel;
        }
    }
  return NULL;
}

static gboolean
window_is_active (MhChatView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) && gtk_window_is_active (GTK_WINDOW (root));
}

static gboolean
channel_is_seen (MhChatView *self, const char *channel)
{
  return self->messages != NULL && g_strcmp0 (mh_chat_model_get_channel (self->messages), channel) == 0
         && gtk_widget_get_mapped (GTK_WIDGET (self)) && window_is_active (self);
}

/* Recounts the unread messages of every channel (one query). */
static void
update_unread (MhChatView *self)
{
  g_autoptr(JsonObject) unread = NULL;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->channels));
  guint total = 0;

  if (self->node == NULL)
    return;
  if (self->messages != NULL && channel_is_seen (self, mh_chat_model_get_channel (self->messages)))
    mh_node_mark_channel_read (self->node, mh_chat_model_get_channel (self->messages), NULL);
  unread = mh_node_list_unread (self->node);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MhChatChannel) channel = g_list_model_get_item (G_LIST_MODEL (self->channels), i);
      channel_set_unread (channel, (guint) json_object_get_int_member_with_default (unread,
                                                                                    channel->id, 0));
    }
  /* Channels not listed (a transfer this node cannot name yet) count too. */
  {
    JsonObjectIter iter;
    const char *member;
    JsonNode *value;

    json_object_iter_init (&iter, unread);
    while (json_object_iter_next (&iter, &member, &value))
      total += (guint) json_node_get_int (value);
  }
  if (total != self->unread)
    {
      self->unread = total;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD]);
    }
}

/* Brings the channel list in line with the replica: channels of new
 * hospitals and transfers are added, those of rows gone from the replica
 * (evicted) are removed unless open. Items already listed stay, so the
 * selection and the open history are kept. */
static void
populate_channels (MhChatView *self)
{
  g_autoptr(MhHospitalList) hospitals = NULL;
  g_autoptr(JsonArray) transfers = NULL;
  guint n_hospitals;
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) added = g_ptr_array_new ();
  const char *own = mh_node_get_hospital_id (self->node);
  const char *open = self->messages ? mh_chat_model_get_channel (self->messages) : NULL;

  if (self->populated)
    return;
  self->populated = TRUE;

  g_ptr_array_add (items, channel_new ("broadcast", _("Broadcast (everyone)")));
  transfers = mh_node_list_transfers (self->node, NULL, NULL);
  /* The hospitals the other views already hold (by name), not a second
   * read of every hospital with its beds; with the changes that wait for
   * the next idle applied, since this runs on a hospital's change. */
  hospitals = g_object_ref (self->hospitals);
  mh_hospital_list_flush (hospitals);
  n_hospitals = g_list_model_get_n_items (G_LIST_MODEL (hospitals));
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < n_hospitals; i++)
      {
        g_autoptr(MhHospitalItem) hospital = g_list_model_get_item (G_LIST_MODEL (hospitals), i);
        const char *id = mh_hospital_item_get_id (hospital);
        g_autofree char *channel = g_strdup_printf ("hospital:%s", id);

        /* This station's own hospital first. */
        if ((pass == 0) != (g_strcmp0 (id, own) == 0))
          continue;
        g_ptr_array_add (items, channel_new (channel, mh_hospital_item_get_name (hospital)
                                                        ? mh_hospital_item_get_name (hospital)
                                                        : id));
      }
  for (guint i = 0; transfers != NULL && i < json_array_get_length (transfers); i++)
    {
      JsonObject *transfer = json_array_get_object_element (transfers, i);
      const char *id = json_object_get_string_member_with_default (transfer, "id", "");
      g_autofree char *channel = g_strdup_printf ("transfer:%s", id);
      g_autofree char *title = NULL;
      MhHospitalItem *hospital = mh_hospital_list_lookup (
        hospitals, json_object_get_string_member_with_default (transfer, "hospital_id", ""));

      /* Translators: a transfer's chat channel, with its destination */
      title = g_strdup_printf (_("Transfer to %s"),
                               hospital == NULL ? _("an unknown hospital")
                               : mh_hospital_item_get_name (hospital) != NULL
                                 ? mh_hospital_item_get_name (hospital)
                                 : "?");
      g_ptr_array_add (items, channel_new (channel, title));
    }

  for (guint i = 0; i < items->len; i++)
    g_hash_table_add (wanted, MH_CHAT_CHANNEL (g_ptr_array_index (items, i))->id);
  /* Drop what is gone, from the end so that positions hold. */
  for (guint i = g_list_model_get_n_items (G_LIST_MODEL (self->channels)); i-- > 0;)
    {
      g_autoptr(MhChatChannel) channel = g_list_model_get_item (G_LIST_MODEL (self->channels), i);

      if (!g_hash_table_contains (wanted, channel->id) && g_strcmp0 (channel->id, open) != 0)
        g_list_store_remove (self->channels, i);
      else
        g_hash_table_add (listed, channel->id);
    }
  /* The new ones in one splice: an append each made the list view react
   * a thousand times at start. */
  for (guint i = 0; i < items->len; i++)
    {
      MhChatChannel *channel = g_ptr_array_index (items, i);

      if (!g_hash_table_contains (listed, channel->id))
        g_ptr_array_add (added, channel);
    }
  g_list_store_splice (self->channels, g_list_model_get_n_items (G_LIST_MODEL (self->channels)), 0,
                       added->pdata, added->len);
  update_unread (self);
}

/* A hospital or a transfer that has no channel yet: list it. Rows that
 * already have one cost a lookup, not a query. */
static void
row_changed_cb (MhChatView *self, const char *table, const char *row)
{
  g_autofree char *channel = NULL;

  /* A %NULL row: too many rows at once (a first sync) to say which. */
  if (row != NULL)
    {
      channel = g_strdup_printf ("%s:%s", g_str_equal (table, "hospital") ? "hospital" : "transfer",
                                 row);
      if (find_channel (self, channel, NULL) != NULL)
        return;
    }
  self->populated = FALSE;
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    populate_channels (self);
}

static gboolean
stick_to_bottom_cb (gpointer user_data)
{
  MhChatView *self = user_data;
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->scroller);

  gtk_adjustment_set_value (adjustment, gtk_adjustment_get_upper (adjustment)
                                          - gtk_adjustment_get_page_size (adjustment));
  /* The list view estimates the height of rows it has not measured: go
   * again until the end stays put. */
  if (++self->stick_tries < 5)
    return G_SOURCE_CONTINUE;
  self->stick_id = 0;
  return G_SOURCE_REMOVE;
}

static void
scroll_to_end (MhChatView *self)
{
  self->stick_tries = 0;
  if (self->stick_id == 0)
    self->stick_id = g_timeout_add (30, stick_to_bottom_cb, self);
}

static gboolean
is_at_end (MhChatView *self)
{
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->scroller);

  return gtk_adjustment_get_value (adjustment) + gtk_adjustment_get_page_size (adjustment)
         >= gtk_adjustment_get_upper (adjustment) - 48;
}

static void
notify_new_messages (MhChatView *self)
{
  GApplication *application = g_application_get_default ();
  g_autoptr(JsonArray) fresh = NULL;
  const char *site_id = mh_node_get_site_id (self->node);

  fresh = mh_node_list_messages (self->node, NULL, self->last_notified, 50, NULL);
  for (guint i = 0; fresh != NULL && i < json_array_get_length (fresh); i++)
    {
      JsonObject *message = json_array_get_object_element (fresh, i);
      const char *channel = json_object_get_string_member_with_default (message, "channel", "");
      const char *author = json_object_get_string_member_with_default (message, "author_name", "");
      JsonNode *body = json_object_get_member (message, "body");
      g_autoptr(GNotification) notification = NULL;
      g_autofree char *title = NULL;
      MhChatChannel *known;

      self->last_notified = MAX (self->last_notified,
                                 json_object_get_int_member_with_default (message, "arrived_at", 0));
      if (g_strcmp0 (json_object_get_string_member_with_default (message, "author_site", ""),
                     site_id) == 0
          || body == NULL || !JSON_NODE_HOLDS_VALUE (body) || channel_is_seen (self, channel)
          || application == NULL)
        continue;
      known = find_channel (self, channel, NULL);
      /* Translators: a notification's title: who wrote, and in which channel */
      title = g_strdup_printf (_("%s in %s"), author, known ? known->title : channel);
      notification = g_notification_new (title);
      g_notification_set_body (notification, json_node_get_string (body));
      g_notification_set_default_action_and_target (notification, "app.show-channel", "s",
                                                    channel);
      /* One notification per channel: a newer message replaces the older. */
      g_application_send_notification (application, channel, notification);
    }
}

/* ------------------------------------------------------------------------ */
/* Signal callbacks                                                         */

static void
messages_changed_cb (MhChatView *self, MhNode *node)
{
  gboolean at_end = is_at_end (self);

  notify_new_messages (self);
  update_unread (self);
  if (at_end && gtk_widget_get_mapped (GTK_WIDGET (self)))
    scroll_to_end (self);
}

static void
item_changed_cb (MhChatMessage *message, GParamSpec *pspec, GtkListItem *list_item);

static const char *
mark_explanation (gboolean local_only)
{
  return local_only ? _("No peer has received this message yet")
                    : _("A peer has received this message");
}

static void
update_row (GtkListItem *list_item, MhChatMessage *message)
{
  GtkWidget *box = gtk_list_item_get_child (list_item);
  GtkWidget *header = gtk_widget_get_first_child (box);
  GtkWidget *meta = gtk_widget_get_first_child (header);
  GtkWidget *mark = gtk_widget_get_next_sibling (meta);
  GtkWidget *body = gtk_widget_get_next_sibling (header);
  g_autofree char *when = format_time (mh_chat_message_get_sent_at (message));
  g_autofree char *markup = NULL;

  /* Author and time in one label: GTK 4.8's list binds some 200 rows on a
   * jump, and every widget in a row costs. The author as Adwaita's
   * "heading" style draws it, the time as its "dim-label". */
  markup = g_markup_printf_escaped ("<span weight=\"bold\" size=\"11pt\">%s</span>  "
                                    "<span alpha=\"55%%\">%s</span>",
                                    mh_chat_message_get_author (message), when);
  gtk_label_set_markup (GTK_LABEL (meta), markup);
  if (mh_chat_message_get_mine (message))
    {
      gboolean local = mh_chat_message_get_local_only (message);
      gtk_label_set_text (GTK_LABEL (mark), local ? _("Local only") : _("Delivered"));
      /* Its tooltip comes from mark_query_tooltip_cb(): setting one here
       * makes GTK 4.8 ask the X server where the pointer is, per row. */
      g_object_set_data (G_OBJECT (mark), "mh-local-only", GINT_TO_POINTER (local));
      gtk_accessible_update_property (GTK_ACCESSIBLE (mark), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                      mark_explanation (local), -1);
      if (local)
        gtk_widget_add_css_class (mark, "warning");
      else
        gtk_widget_remove_css_class (mark, "warning");
      gtk_widget_set_visible (mark, TRUE);
    }
  else
    gtk_widget_set_visible (mark, FALSE);
  if (mh_chat_message_get_retracted (message))
    {
      gtk_label_set_text (GTK_LABEL (body), _("(retracted)"));
      gtk_widget_add_css_class (body, "dim-label");
    }
  else
    {
      gtk_label_set_text (GTK_LABEL (body), mh_chat_message_get_body (message));
      gtk_widget_remove_css_class (body, "dim-label");
    }
}

static void
item_changed_cb (MhChatMessage *message, GParamSpec *pspec, GtkListItem *list_item)
{
  update_row (list_item, message);
}

/* As high as a one-line message, with nothing to lay out. */
static void
blank_row (GtkListItem *list_item)
{
  GtkWidget *box = gtk_list_item_get_child (list_item);
  GtkWidget *header = gtk_widget_get_first_child (box);
  GtkWidget *meta = gtk_widget_get_first_child (header);
  GtkWidget *mark = gtk_widget_get_next_sibling (meta);
  GtkWidget *body = gtk_widget_get_next_sibling (header);

  gtk_label_set_text (GTK_LABEL (meta), "");
  gtk_widget_set_visible (mark, FALSE);
  gtk_label_set_text (GTK_LABEL (body), "");
}

/* Rows filled as they are bound in a frame: scrolling brings one or two
 * per frame, and those need no second layout. */
#define FILL_AT_ONCE 4

static void
fill_row (MhChatView *self, guint index)
{
  GtkListItem *list_item = g_ptr_array_steal_index (self->blank_rows, index);
  MhChatMessage *message = gtk_list_item_get_item (list_item);

  if (message != NULL)
    update_row (list_item, message);
}

#define FILL_BATCH 24
#define FILL_CHECK_MS 50
#define FILL_QUIET_US (150 * G_TIME_SPAN_MILLISECOND)

static gboolean
fill_rows_cb (gpointer user_data)
{
  MhChatView *self = user_data;

  if (g_get_monotonic_time () - self->last_blanked < FILL_QUIET_US)
    return G_SOURCE_CONTINUE;
  for (guint i = 0; i < FILL_BATCH && self->blank_rows->len > 0; i++)
    fill_row (self, 0);
  if (self->blank_rows->len > 0)
    return G_SOURCE_CONTINUE;
  self->fill_id = 0;
  return G_SOURCE_REMOVE;
}

/* Blank rows that the frame's layout placed in view: filled now, which
 * makes the frame clock run the layout again before the paint. */
static void
fill_shown_rows (MhChatView *self)
{
  graphene_rect_t view, row;

  if (!gtk_widget_compute_bounds (GTK_WIDGET (self->scroller), GTK_WIDGET (self->scroller), &view))
    return;
  for (guint i = self->blank_rows->len; i-- > 0;)
    {
      GtkWidget *box = gtk_list_item_get_child (g_ptr_array_index (self->blank_rows, i));

      if (gtk_widget_get_mapped (box)
          && gtk_widget_compute_bounds (box, GTK_WIDGET (self->scroller), &row)
          && graphene_rect_intersection (&view, &row, NULL))
        fill_row (self, i);
    }
}

/* Connected after the window's own handler: the rows are placed. */
static void
layout_cb (GdkFrameClock *clock, MhChatView *self)
{
  if (self->blank_rows->len > 0)
    fill_shown_rows (self);
}

static void
after_paint_cb (GdkFrameClock *clock, MhChatView *self)
{
  self->frame_binds = 0;
}

static gboolean
mark_query_tooltip_cb (GtkWidget *mark, int x, int y, gboolean keyboard, GtkTooltip *tooltip,
                       gpointer user_data)
{
  gboolean local = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (mark), "mh-local-only"));

  gtk_tooltip_set_text (tooltip, mark_explanation (local));
  return TRUE;
}

static void
message_setup_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *header = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  GtkWidget *meta = gtk_label_new (NULL);
  GtkWidget *mark = gtk_label_new (NULL);
  GtkWidget *body = gtk_label_new (NULL);

  gtk_widget_add_css_class (mark, "caption");
  gtk_widget_set_has_tooltip (mark, TRUE);
  g_signal_connect (mark, "query-tooltip", G_CALLBACK (mark_query_tooltip_cb), NULL);
  gtk_widget_add_css_class (box, "mh-chat-message");
  gtk_label_set_xalign (GTK_LABEL (body), 0);
  gtk_label_set_wrap (GTK_LABEL (body), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (body), PANGO_WRAP_WORD_CHAR);
  /* A minimum width: without one GTK measures the label wrapped at every
   * character (a line and a shaping per character), in every row bound. */
  gtk_label_set_width_chars (GTK_LABEL (body), 20);
  gtk_label_set_selectable (GTK_LABEL (body), FALSE);
  gtk_box_append (GTK_BOX (header), meta);
  gtk_box_append (GTK_BOX (header), mark);
  gtk_box_append (GTK_BOX (box), header);
  gtk_box_append (GTK_BOX (box), body);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_widget_set_margin_top (box, 6);
  gtk_widget_set_margin_bottom (box, 6);
  gtk_list_item_set_child (list_item, box);
  gtk_list_item_set_activatable (list_item, FALSE);
}

static void
message_bind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  MhChatView *self = user_data;
  MhChatMessage *message = gtk_list_item_get_item (list_item);

  /* Not shown (no frame clock): no frame would fill them. */
  if (self->frame_clock == NULL || self->frame_binds++ < FILL_AT_ONCE)
    update_row (list_item, message);
  else
    {
      blank_row (list_item);
      g_ptr_array_add (self->blank_rows, list_item);
      self->last_blanked = g_get_monotonic_time ();
      if (self->fill_id == 0)
        self->fill_id = g_timeout_add (FILL_CHECK_MS, fill_rows_cb, self);
    }
  g_signal_connect (message, "notify", G_CALLBACK (item_changed_cb), list_item);
}

static void
message_unbind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  MhChatView *self = user_data;
  MhChatMessage *message = gtk_list_item_get_item (list_item);

  g_ptr_array_remove (self->blank_rows, list_item);
  if (message != NULL)
    g_signal_handlers_disconnect_by_func (message, item_changed_cb, list_item);
}

static void
channel_row_update (GtkListItem *list_item, MhChatChannel *channel)
{
  GtkWidget *box = gtk_list_item_get_child (list_item);
  GtkWidget *title = gtk_widget_get_first_child (box);
  GtkWidget *badge = gtk_widget_get_next_sibling (title);
  g_autofree char *count = g_strdup_printf ("%u", channel->unread);
  g_autofree char *accessible = NULL;

  gtk_label_set_text (GTK_LABEL (title), channel->title);
  gtk_label_set_text (GTK_LABEL (badge), count);
  gtk_widget_set_visible (badge, channel->unread > 0);
  if (channel->unread > 0)
    /* Translators: a chat channel and its count of unread messages */
    accessible = g_strdup_printf (ngettext ("%s, %u unread", "%s, %u unread", channel->unread),
                                  channel->title, channel->unread);
  gtk_accessible_update_property (GTK_ACCESSIBLE (gtk_widget_get_parent (box) ? gtk_widget_get_parent (box) : box),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  accessible ? accessible : channel->title, -1);
}

static void
channel_changed_cb (MhChatChannel *channel, GParamSpec *pspec, GtkListItem *list_item)
{
  channel_row_update (list_item, channel);
}

static void
channel_setup_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *title = gtk_label_new (NULL);
  GtkWidget *badge = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_ellipsize (GTK_LABEL (title), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (title, TRUE);
  gtk_widget_add_css_class (badge, "mh-unread-badge");
  gtk_box_append (GTK_BOX (box), title);
  gtk_box_append (GTK_BOX (box), badge);
  gtk_widget_set_margin_start (box, 8);
  gtk_widget_set_margin_end (box, 8);
  gtk_widget_set_margin_top (box, 6);
  gtk_widget_set_margin_bottom (box, 6);
  gtk_list_item_set_child (list_item, box);
}

static void
channel_bind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  MhChatChannel *channel = gtk_list_item_get_item (list_item);

  channel_row_update (list_item, channel);
  g_signal_connect (channel, "notify::unread", G_CALLBACK (channel_changed_cb), list_item);
}

static void
channel_unbind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  MhChatChannel *channel = gtk_list_item_get_item (list_item);

  if (channel != NULL)
    g_signal_handlers_disconnect_by_func (channel, channel_changed_cb, list_item);
}

static void
open_channel (MhChatView *self, MhChatChannel *channel)
{
  g_autoptr(MhChatModel) model = NULL;

  if (channel == NULL || self->node == NULL)
    return;
  if (self->messages != NULL && g_strcmp0 (mh_chat_model_get_channel (self->messages), channel->id) == 0)
    return;
  model = mh_chat_model_new (self->node, channel->id);
  g_set_object (&self->messages, model);
  gtk_no_selection_set_model (self->message_selection, G_LIST_MODEL (model));
  gtk_label_set_text (self->channel_title, channel->title);
  gtk_widget_set_visible (GTK_WIDGET (self->empty_label),
                          g_list_model_get_n_items (G_LIST_MODEL (model)) == 0);
  g_signal_connect_object (model, "items-changed", G_CALLBACK (gtk_widget_hide),
                           self->empty_label, G_CONNECT_SWAPPED);
  update_unread (self);
  scroll_to_end (self);
}

static void
channel_selected_cb (MhChatView *self, GParamSpec *pspec, GtkSingleSelection *selection)
{
  open_channel (self, gtk_single_selection_get_selected_item (selection));
}

static void
send_activated_cb (MhChatView *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->entry));
  g_autofree char *body = g_strstrip (g_strdup (text));

  if (*body == '\0')
    return;
  if (mh_chat_view_send (self, body))
    gtk_editable_set_text (GTK_EDITABLE (self->entry), "");
}

static void
root_active_cb (MhChatView *self)
{
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    update_unread (self);
}

static void
focus_entry_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  gtk_widget_grab_focus (GTK_WIDGET (MH_CHAT_VIEW (widget)->entry));
}

static void
focus_channels_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  gtk_widget_grab_focus (GTK_WIDGET (MH_CHAT_VIEW (widget)->channel_list));
}

/* ------------------------------------------------------------------------ */
/* Overrides                                                                */

static void
mh_chat_view_map (GtkWidget *widget)
{
  MhChatView *self = MH_CHAT_VIEW (widget);

  GTK_WIDGET_CLASS (mh_chat_view_parent_class)->map (widget);
  if (self->node != NULL)
    {
      populate_channels (self);
      update_unread (self);
    }
}

static void
mh_chat_view_root (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (mh_chat_view_parent_class)->root (widget);
  g_signal_connect_object (gtk_widget_get_root (widget), "notify::is-active",
                           G_CALLBACK (root_active_cb), widget, G_CONNECT_SWAPPED);
}

static void
mh_chat_view_realize (GtkWidget *widget)
{
  MhChatView *self = MH_CHAT_VIEW (widget);

  GTK_WIDGET_CLASS (mh_chat_view_parent_class)->realize (widget);
  self->frame_clock = g_object_ref (gtk_widget_get_frame_clock (widget));
  self->layout_id = g_signal_connect (self->frame_clock, "layout", G_CALLBACK (layout_cb), self);
  self->after_paint_id = g_signal_connect (self->frame_clock, "after-paint",
                                           G_CALLBACK (after_paint_cb), self);
}

static void
fill_all_rows (MhChatView *self)
{
  while (self->blank_rows->len > 0)
    fill_row (self, 0);
  g_clear_handle_id (&self->fill_id, g_source_remove);
}

static void
mh_chat_view_unrealize (GtkWidget *widget)
{
  MhChatView *self = MH_CHAT_VIEW (widget);

  if (self->frame_clock != NULL)
    {
      g_clear_signal_handler (&self->layout_id, self->frame_clock);
      g_clear_signal_handler (&self->after_paint_id, self->frame_clock);
    }
  g_clear_object (&self->frame_clock);
  fill_all_rows (self);
  GTK_WIDGET_CLASS (mh_chat_view_parent_class)->unrealize (widget);
}

static void
mh_chat_view_dispose (GObject *object)
{
  MhChatView *self = MH_CHAT_VIEW (object);

  g_clear_handle_id (&self->stick_id, g_source_remove);
  g_clear_handle_id (&self->fill_id, g_source_remove);
  if (self->blank_rows != NULL)
    g_ptr_array_set_size (self->blank_rows, 0);
  g_clear_pointer (&self->paned, gtk_widget_unparent);
  g_clear_object (&self->messages);
  g_clear_object (&self->channels);
  g_clear_object (&self->hospitals);
  if (self->node != NULL)
    g_signal_handlers_disconnect_by_data (self->node, self);
  g_clear_object (&self->node);
  G_OBJECT_CLASS (mh_chat_view_parent_class)->dispose (object);
}

static void
mh_chat_view_finalize (GObject *object)
{
  g_ptr_array_unref (MH_CHAT_VIEW (object)->blank_rows);
  G_OBJECT_CLASS (mh_chat_view_parent_class)->finalize (object);
}

static void
mh_chat_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_UNREAD: g_value_set_uint (value, MH_CHAT_VIEW (object)->unread); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_chat_view_class_init (MhChatViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_chat_view_dispose;
  object_class->finalize = mh_chat_view_finalize;
  object_class->get_property = mh_chat_view_get_property;
  widget_class->map = mh_chat_view_map;
  widget_class->root = mh_chat_view_root;
  widget_class->realize = mh_chat_view_realize;
  widget_class->unrealize = mh_chat_view_unrealize;

  properties[PROP_UNREAD] =
    g_param_spec_uint ("unread", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "mh-chat-view");
  gtk_widget_class_install_action (widget_class, "chat.focus-entry", NULL, focus_entry_action);
  gtk_widget_class_install_action (widget_class, "chat.focus-channels", NULL,
                                   focus_channels_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_l, GDK_CONTROL_MASK,
                                       "chat.focus-entry", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_k, GDK_CONTROL_MASK,
                                       "chat.focus-channels", NULL);
}

static void
mh_chat_view_init (MhChatView *self)
{
  GtkListItemFactory *factory;
  GtkWidget *sidebar, *sidebar_scroller, *channels_label, *main_box, *compose, *overlay;

  self->channels = g_list_store_new (MH_TYPE_CHAT_CHANNEL);
  self->blank_rows = g_ptr_array_new ();

  self->paned = gtk_paned_new (GTK_ORIENTATION_HORIZONTAL);
  gtk_paned_set_shrink_start_child (GTK_PANED (self->paned), FALSE);
  gtk_paned_set_resize_start_child (GTK_PANED (self->paned), FALSE);
  gtk_widget_set_parent (self->paned, GTK_WIDGET (self));

  /* Channels */
  sidebar = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_set_size_request (sidebar, 260, -1);
  channels_label = gtk_label_new_with_mnemonic (_("C_hannels"));
  gtk_widget_add_css_class (channels_label, "heading");
  gtk_label_set_xalign (GTK_LABEL (channels_label), 0);
  gtk_widget_set_margin_start (channels_label, 12);
  gtk_widget_set_margin_top (channels_label, 8);
  gtk_widget_set_margin_bottom (channels_label, 4);
  gtk_box_append (GTK_BOX (sidebar), channels_label);
  self->channel_selection = gtk_single_selection_new (G_LIST_MODEL (g_object_ref (self->channels)));
  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (channel_setup_cb), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (channel_bind_cb), NULL);
  g_signal_connect (factory, "unbind", G_CALLBACK (channel_unbind_cb), NULL);
  self->channel_list = GTK_LIST_VIEW (gtk_list_view_new (GTK_SELECTION_MODEL (self->channel_selection),
                                                         factory));
  gtk_widget_add_css_class (GTK_WIDGET (self->channel_list), "navigation-sidebar");
  gtk_label_set_mnemonic_widget (GTK_LABEL (channels_label), GTK_WIDGET (self->channel_list));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->channel_list),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Channels"), -1);
  sidebar_scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (sidebar_scroller), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_widget_set_vexpand (sidebar_scroller, TRUE);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (sidebar_scroller),
                                 GTK_WIDGET (self->channel_list));
  gtk_box_append (GTK_BOX (sidebar), sidebar_scroller);
  gtk_paned_set_start_child (GTK_PANED (self->paned), sidebar);
  g_signal_connect_object (self->channel_selection, "notify::selected-item",
                           G_CALLBACK (channel_selected_cb), self, G_CONNECT_SWAPPED);

  /* History and compose */
  main_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  self->channel_title = GTK_LABEL (gtk_label_new (_("No channel")));
  gtk_widget_add_css_class (GTK_WIDGET (self->channel_title), "title-4");
  gtk_label_set_xalign (self->channel_title, 0);
  gtk_label_set_ellipsize (self->channel_title, PANGO_ELLIPSIZE_END);
  gtk_widget_set_margin_start (GTK_WIDGET (self->channel_title), 12);
  gtk_widget_set_margin_top (GTK_WIDGET (self->channel_title), 8);
  gtk_widget_set_margin_bottom (GTK_WIDGET (self->channel_title), 4);
  gtk_box_append (GTK_BOX (main_box), GTK_WIDGET (self->channel_title));
  gtk_box_append (GTK_BOX (main_box), gtk_separator_new (GTK_ORIENTATION_HORIZONTAL));

  self->message_selection = gtk_no_selection_new (NULL);
  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (message_setup_cb), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (message_bind_cb), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (message_unbind_cb), self);
  self->message_list = GTK_LIST_VIEW (gtk_list_view_new (GTK_SELECTION_MODEL (self->message_selection),
                                                         factory));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->message_list),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Messages"), -1);
  self->scroller = GTK_SCROLLED_WINDOW (gtk_scrolled_window_new ());
  gtk_scrolled_window_set_policy (self->scroller, GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_child (self->scroller, GTK_WIDGET (self->message_list));
  gtk_widget_set_vexpand (GTK_WIDGET (self->scroller), TRUE);
  overlay = gtk_overlay_new ();
  gtk_overlay_set_child (GTK_OVERLAY (overlay), GTK_WIDGET (self->scroller));
  self->empty_label = GTK_LABEL (gtk_label_new (_("No messages yet")));
  gtk_widget_add_css_class (GTK_WIDGET (self->empty_label), "dim-label");
  gtk_widget_set_can_target (GTK_WIDGET (self->empty_label), FALSE);
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), GTK_WIDGET (self->empty_label));
  gtk_box_append (GTK_BOX (main_box), overlay);

  compose = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_widget_set_margin_start (compose, 12);
  gtk_widget_set_margin_end (compose, 12);
  gtk_widget_set_margin_top (compose, 6);
  gtk_widget_set_margin_bottom (compose, 6);
  self->entry = GTK_ENTRY (gtk_entry_new ());
  gtk_widget_set_hexpand (GTK_WIDGET (self->entry), TRUE);
  gtk_entry_set_placeholder_text (self->entry, _("Write a message (Enter sends)"));
  gtk_entry_set_max_length (self->entry, 4000);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Message"), -1);
  g_signal_connect_object (self->entry, "activate", G_CALLBACK (send_activated_cb), self,
                           G_CONNECT_SWAPPED);
  self->send_button = GTK_BUTTON (gtk_button_new_with_mnemonic (_("_Send")));
  gtk_widget_add_css_class (GTK_WIDGET (self->send_button), "suggested-action");
  g_signal_connect_object (self->send_button, "clicked", G_CALLBACK (send_activated_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_box_append (GTK_BOX (compose), GTK_WIDGET (self->entry));
  gtk_box_append (GTK_BOX (compose), GTK_WIDGET (self->send_button));
  gtk_box_append (GTK_BOX (main_box), compose);
  gtk_paned_set_end_child (GTK_PANED (self->paned), main_box);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

void
mh_chat_view_set_node (MhChatView *self, MhNode *node)
{
  g_autoptr(JsonArray) last = NULL;

  g_return_if_fail (MH_IS_CHAT_VIEW (self));
  g_return_if_fail (MH_IS_NODE (node));
  g_return_if_fail (self->node == NULL);

  self->node = g_object_ref (node);
  /* Only messages that arrive from now on raise notifications. */
  self->last_notified = g_get_real_time () / 1000;
  g_signal_connect_swapped (node, "messages-changed", G_CALLBACK (messages_changed_cb), self);
  /* Taken before connecting to the store: the list hears of a hospital's
   * change first, so populate_channels() finds it pending. */
  self->hospitals = g_object_ref (mh_hospital_list_get_for_node (node));
  g_signal_connect_object (mh_node_get_store (node), "changed::hospital",
                           G_CALLBACK (row_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (mh_node_get_store (node), "changed::transfer",
                           G_CALLBACK (row_changed_cb), self, G_CONNECT_SWAPPED);
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    populate_channels (self);
}

/**
 * mh_chat_view_show_channel:
 * @channel: "broadcast", "hospital:ID" or "transfer:ID"
 *
 * Opens @channel, adding it to the list if it is not there yet (a transfer
 * whose row has not arrived).
 *
 * Returns: %FALSE if @channel is not a channel name
 */
gboolean
mh_chat_view_show_channel (MhChatView *self, const char *channel)
{
  guint position = 0;

  g_return_val_if_fail (MH_IS_CHAT_VIEW (self), FALSE);

  if (self->node == NULL || channel == NULL
      || !(g_str_equal (channel, "broadcast") || g_str_has_prefix (channel, "hospital:")
           || g_str_has_prefix (channel, "transfer:")))
    return FALSE;
  populate_channels (self);
  if (find_channel (self, channel, &position) == NULL)
    {
      g_autoptr(MhChatChannel) extra = channel_new (channel, channel);
      g_list_store_append (self->channels, extra);
      position = g_list_model_get_n_items (G_LIST_MODEL (self->channels)) - 1;
    }
  gtk_single_selection_set_selected (self->channel_selection, position);
  open_channel (self, gtk_single_selection_get_selected_item (self->channel_selection));
  return TRUE;
}

const char *
mh_chat_view_get_channel (MhChatView *self)
{
  g_return_val_if_fail (MH_IS_CHAT_VIEW (self), NULL);
  return self->messages ? mh_chat_model_get_channel (self->messages) : NULL;
}

guint
mh_chat_view_get_unread (MhChatView *self)
{
  g_return_val_if_fail (MH_IS_CHAT_VIEW (self), 0);
  return self->unread;
}

guint
mh_chat_view_get_channel_unread (MhChatView *self, const char *channel)
{
  MhChatChannel *found;

  g_return_val_if_fail (MH_IS_CHAT_VIEW (self), 0);
  found = find_channel (self, channel, NULL);
  return found ? found->unread : 0;
}

/**
 * mh_chat_view_send:
 *
 * Posts @body to the open channel. A failure shows in a toast.
 */
gboolean
mh_chat_view_send (MhChatView *self, const char *body)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  g_return_val_if_fail (MH_IS_CHAT_VIEW (self), FALSE);

  if (self->messages == NULL)
    return FALSE;
  id = mh_node_post_message (self->node, mh_chat_model_get_channel (self->messages), body, &error);
  if (id == NULL)
    {
      GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
      g_autofree char *text = g_strdup_printf (_("The message was not sent: %s"), error->message);

      if (overlay != NULL)
        adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (text));
      else
        g_warning ("%s", text);
      return FALSE;
    }
  scroll_to_end (self);
  return TRUE;
}

GListModel *
mh_chat_view_get_messages (MhChatView *self)
{
  g_return_val_if_fail (MH_IS_CHAT_VIEW (self), NULL);
  return self->messages ? G_LIST_MODEL (self->messages) : NULL;
}

GtkWidget *
mh_chat_view_get_message_list (MhChatView *self)
{
  g_return_val_if_fail (MH_IS_CHAT_VIEW (self), NULL);
  return GTK_WIDGET (self->scroller);
}

/**
 * mh_chat_view_get_channels:
 *
 * Returns: (transfer none): the listed channels, in their order
 */
GListModel *
mh_chat_view_get_channels (MhChatView *self)
{
  g_return_val_if_fail (MH_IS_CHAT_VIEW (self), NULL);
  return G_LIST_MODEL (self->channels);
}

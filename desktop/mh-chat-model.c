/* mh-chat-model.c: one chat channel as a list model that pages from the replica
 *
 * A channel may hold 100,000 messages: the model knows only their count,
 * and reads them from the node a page at a time as the view asks for
 * positions, keeping the last few pages. Items stay alive while a row
 * shows them, so the model updates in place those it has handed out.
 *
 * A page is read by key, not by offset: the key (arrival, id) of the first
 * message of every page is taken in one pass over the channel's index the
 * first time a page far from both ends is asked for (a scrollbar dragged
 * through the history asks for a new one every frame), and then each page
 * is a range read. Pages near the end, where a channel opens, are counted
 * back from the last message without that pass, and pages near the start
 * forward from the first.
 *
 * Invariant: messages are in local arrival order, and new ones only ever
 * arrive at the end (the node stamps arrivals from a clock that never goes
 * back), so a change is an append, or an update of items already here.
 * Should a message show up in the middle all the same (a replica written
 * by something else than this node), the model starts over: every page
 * and boundary is dropped and the whole list is reported changed.
 */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include "mh-chat-model.h"

struct _MhChatMessage
{
  GObject parent_instance;

  char *id;
  char *author;
  char *body;
  gint64 sent_at;
  gboolean mine;
  gboolean local_only;
  gboolean retracted;
};

G_DEFINE_FINAL_TYPE (MhChatMessage, mh_chat_message, G_TYPE_OBJECT)

enum
{
  MSG_PROP_0,
  MSG_PROP_LOCAL_ONLY,
  MSG_PROP_BODY,
  MSG_N_PROPS
};

static GParamSpec *message_properties[MSG_N_PROPS];

typedef struct
{
  guint index;
  guint n;
  GPtrArray *items; /* MhChatMessage*, n of them */
  guint64 used;     /* for eviction: the least recently used page goes */
} Page;

struct _MhChatModel
{
  GObject parent_instance;

  /* Owned References */
  MhNode *node;
  char *channel;
  GHashTable *pages; /* index -> Page* */

  guint n_items;
  /* The last of the n_items messages: pages in the second half of the
   * history are counted back from it. */
  gint64 end_arrival;
  char *end_id;
  /* Page boundaries: the key of the first message of page k, for k below
   * their length; they cover whole pages of the n_items counted. */
  GArray *bound_arrivals; /* gint64 */
  GPtrArray *bound_ids;   /* char* */
  guint64 tick;
  guint n_page_reads;
  gint64 read_us;
  gulong changed_id;
  gulong delivered_id;
};

static void mh_chat_model_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MhChatModel, mh_chat_model, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      mh_chat_model_list_model_init))

/* ------------------------------------------------------------------------ */
/* MhChatMessage                                                            */

static void
mh_chat_message_finalize (GObject *object)
{
  MhChatMessage *self = MH_CHAT_MESSAGE (object);

  g_free (self->id);
  g_free (self->author);
  g_free (self->body);
  G_OBJECT_CLASS (mh_chat_message_parent_class)->finalize (object);
}

static void
mh_chat_message_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MhChatMessage *self = MH_CHAT_MESSAGE (object);

  switch (prop_id)
    {
    case MSG_PROP_LOCAL_ONLY: g_value_set_boolean (value, self->local_only); break;
    case MSG_PROP_BODY: g_value_set_string (value, self->body); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_chat_message_class_init (MhChatMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mh_chat_message_finalize;
  object_class->get_property = mh_chat_message_get_property;
  message_properties[MSG_PROP_LOCAL_ONLY] =
    g_param_spec_boolean ("local-only", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  message_properties[MSG_PROP_BODY] =
    g_param_spec_string ("body", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, MSG_N_PROPS, message_properties);
}

static void
mh_chat_message_init (MhChatMessage *self)
{
}

static MhChatMessage *
message_new_from_json (JsonObject *object, const char *site_id)
{
  MhChatMessage *self = g_object_new (MH_TYPE_CHAT_MESSAGE, NULL);
  JsonNode *node;

  self->id = g_strdup (json_object_get_string_member_with_default (object, "id", ""));
  self->author = g_strdup (json_object_get_string_member_with_default (object, "author_name", ""));
  node = json_object_get_member (object, "body");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node))
    self->body = g_strdup (json_node_get_string (node));
  node = json_object_get_member (object, "sent_at");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node))
    self->sent_at = json_node_get_int (node);
  self->mine = g_strcmp0 (json_object_get_string_member_with_default (object, "author_site", ""),
                          site_id) == 0;
  self->local_only = json_object_get_boolean_member_with_default (object, "local_only", FALSE);
  self->retracted = json_object_get_boolean_member_with_default (object, "retracted", FALSE);
  return self;
}

/* Takes what changed from a fresh read of the same message. */
static void
message_update (MhChatMessage *self, MhChatMessage *fresh)
{
  if (self->local_only != fresh->local_only)
    {
      self->local_only = fresh->local_only;
      g_object_notify_by_pspec (G_OBJECT (self), message_properties[MSG_PROP_LOCAL_ONLY]);
    }
  if (self->retracted != fresh->retracted || g_strcmp0 (self->body, fresh->body) != 0)
    {
      self->retracted = fresh->retracted;
      g_free (self->body);
      self->body = g_strdup (fresh->body);
      g_object_notify_by_pspec (G_OBJECT (self), message_properties[MSG_PROP_BODY]);
    }
}

const char *
mh_chat_message_get_id (MhChatMessage *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MESSAGE (self), NULL);
  return self->id;
}

const char *
mh_chat_message_get_author (MhChatMessage *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MESSAGE (self), NULL);
  return self->author;
}

const char *
mh_chat_message_get_body (MhChatMessage *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MESSAGE (self), NULL);
  return self->body;
}

gint64
mh_chat_message_get_sent_at (MhChatMessage *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MESSAGE (self), 0);
  return self->sent_at;
}

gboolean
mh_chat_message_get_mine (MhChatMessage *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MESSAGE (self), FALSE);
  return self->mine;
}

gboolean
mh_chat_message_get_local_only (MhChatMessage *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MESSAGE (self), FALSE);
  return self->local_only;
}

gboolean
mh_chat_message_get_retracted (MhChatMessage *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MESSAGE (self), FALSE);
  return self->retracted;
}

/* ------------------------------------------------------------------------ */
/* Pages                                                                    */

static void
page_free (Page *page)
{
  g_ptr_array_unref (page->items);
  g_free (page);
}

static void
clear_bounds (MhChatModel *self)
{
  g_array_set_size (self->bound_arrivals, 0);
  g_ptr_array_set_size (self->bound_ids, 0);
}

/* Takes the boundaries of the pages not covered yet, from the last one
 * known (or the first message) through the last message counted: one pass
 * over the channel's index, of what arrived since the last pass. */
static void
extend_bounds (MhChatModel *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) arrivals = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  guint have = self->bound_arrivals->len;
  guint skip = have > 0 ? 1 : 0; /* the last known one comes back first */

  if (self->end_id == NULL
      || have >= (self->n_items + MH_CHAT_MODEL_PAGE_SIZE - 1) / MH_CHAT_MODEL_PAGE_SIZE)
    return;
  if (!mh_node_list_message_keys (self->node, self->channel,
                                  have > 0 ? g_array_index (self->bound_arrivals, gint64, have - 1)
                                           : 0,
                                  have > 0 ? g_ptr_array_index (self->bound_ids, have - 1) : NULL,
                                  self->end_arrival, self->end_id, MH_CHAT_MODEL_PAGE_SIZE,
                                  arrivals, ids, &error))
    {
      g_warning ("reading the page boundaries of %s: %s", self->channel, error->message);
      return;
    }
  for (guint i = skip; i < ids->len; i++)
    {
      g_array_append_val (self->bound_arrivals, g_array_index (arrivals, gint64, i));
      g_ptr_array_add (self->bound_ids, g_steal_pointer (&g_ptr_array_index (ids, i)));
    }
}

static GPtrArray *
read_page (MhChatModel *self, guint index)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) list = NULL;
  GPtrArray *items = g_ptr_array_new_with_free_func (g_object_unref);
  const char *site_id = mh_node_get_site_id (self->node);
  guint first = index * MH_CHAT_MODEL_PAGE_SIZE;
  gint64 started = g_get_monotonic_time ();

  self->n_page_reads++;
  /* A page near the end (where a channel opens) is counted back from the
   * last message, one near the start (where the list view is before it
   * goes to the end) from the first, both short walks; any other page is
   * read from its boundary, which the first such read takes for every
   * page. */
  if (self->end_id != NULL && first < self->n_items && index >= self->bound_arrivals->len
      && self->n_items - first <= MH_CHAT_MODEL_BACK_PAGES * MH_CHAT_MODEL_PAGE_SIZE)
    {
      guint end = MIN (first + MH_CHAT_MODEL_PAGE_SIZE, self->n_items);

      list = mh_node_list_messages_back (self->node, self->channel, self->end_arrival,
                                         self->end_id, self->n_items - end, end - first, &error);
    }
  else if (index >= self->bound_arrivals->len
           && first < MH_CHAT_MODEL_BACK_PAGES * MH_CHAT_MODEL_PAGE_SIZE)
    list = mh_node_list_messages_at (self->node, self->channel, first, MH_CHAT_MODEL_PAGE_SIZE,
                                     &error);
  else
    {
      if (index >= self->bound_arrivals->len && first < self->n_items)
        extend_bounds (self);
      if (index < self->bound_arrivals->len)
        list = mh_node_list_messages_from (self->node, self->channel,
                                           g_array_index (self->bound_arrivals, gint64, index),
                                           g_ptr_array_index (self->bound_ids, index),
                                           self->end_arrival, self->end_id,
                                           MH_CHAT_MODEL_PAGE_SIZE, &error);
      else
        /* No boundary (an empty channel, or the pass failed). */
        list = mh_node_list_messages_at (self->node, self->channel, first,
                                         MH_CHAT_MODEL_PAGE_SIZE, &error);
    }
  self->read_us += g_get_monotonic_time () - started;
  if (list == NULL)
    {
      g_warning ("reading messages of %s: %s", self->channel, error->message);
      return items;
    }
  for (guint i = 0; i < json_array_get_length (list); i++)
    g_ptr_array_add (items, message_new_from_json (json_array_get_object_element (list, i),
                                                   site_id));
  return items;
}

static void
evict_pages (MhChatModel *self)
{
  while (g_hash_table_size (self->pages) > MH_CHAT_MODEL_MAX_PAGES)
    {
      GHashTableIter iter;
      gpointer key, value;
      gpointer oldest = NULL;
      guint64 oldest_used = G_MAXUINT64;

      g_hash_table_iter_init (&iter, self->pages);
      while (g_hash_table_iter_next (&iter, &key, &value))
        if (((Page *) value)->used < oldest_used)
          {
            oldest_used = ((Page *) value)->used;
            oldest = key;
          }
      g_hash_table_remove (self->pages, oldest);
    }
}

static Page *
get_page (MhChatModel *self, guint index)
{
  Page *page = g_hash_table_lookup (self->pages, GUINT_TO_POINTER (index));

  if (page == NULL)
    {
      page = g_new0 (Page, 1);
      page->index = index;
      page->items = read_page (self, index);
      /* Newest first, so that eviction never takes the page being read. */
      page->used = ++self->tick;
      g_hash_table_insert (self->pages, GUINT_TO_POINTER (index), page);
      evict_pages (self);
    }
  page->used = ++self->tick;
  return page;
}

/* Brings the cached pages up to date: local-only marks that flipped,
 * retracted bodies, and the last page's new messages. */
static void
refresh_pages (MhChatModel *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->pages);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Page *page = value;
      g_autoptr(GPtrArray) fresh = read_page (self, page->index);

      for (guint i = 0; i < fresh->len; i++)
        {
          MhChatMessage *item = g_ptr_array_index (fresh, i);

          if (i < page->items->len
              && g_strcmp0 (MH_CHAT_MESSAGE (g_ptr_array_index (page->items, i))->id, item->id)
                   == 0)
            message_update (g_ptr_array_index (page->items, i), item);
          else if (i >= page->items->len)
            g_ptr_array_add (page->items, g_object_ref (item));
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Signal callbacks                                                         */

static void
messages_changed_cb (MhChatModel *self, MhNode *node)
{
  g_autofree char *end_id = NULL;
  gint64 end_arrival = 0;
  guint n = mh_node_count_messages_through (self->node, self->channel, &end_arrival, &end_id);
  guint before = self->n_items;

  /* Not all of them after the last one counted: one came in the middle,
   * and positions from there on moved. Start over. */
  if (n > before && self->end_id != NULL
      && mh_node_count_messages_between (self->node, self->channel, self->end_arrival,
                                         self->end_id, end_arrival, end_id)
           != n - before)
    {
      g_hash_table_remove_all (self->pages);
      clear_bounds (self);
      self->n_items = n;
      self->end_arrival = end_arrival;
      g_free (self->end_id);
      self->end_id = g_steal_pointer (&end_id);
      g_list_model_items_changed (G_LIST_MODEL (self), 0, before, n);
      return;
    }
  /* Pages as they were counted, then the new end. */
  refresh_pages (self);
  if (n > before)
    {
      self->n_items = n;
      self->end_arrival = end_arrival;
      g_free (self->end_id);
      self->end_id = g_steal_pointer (&end_id);
      g_list_model_items_changed (G_LIST_MODEL (self), before, 0, n - before);
    }
}

static void
messages_delivered_cb (MhChatModel *self, MhNode *node)
{
  refresh_pages (self);
}

/* ------------------------------------------------------------------------ */
/* GListModel                                                               */

static GType
mh_chat_model_get_item_type (GListModel *model)
{
  return MH_TYPE_CHAT_MESSAGE;
}

static guint
mh_chat_model_get_n_items (GListModel *model)
{
  return MH_CHAT_MODEL (model)->n_items;
}

static gpointer
mh_chat_model_get_item (GListModel *model, guint position)
{
  MhChatModel *self = MH_CHAT_MODEL (model);
  Page *page;
  guint offset = position % MH_CHAT_MODEL_PAGE_SIZE;

  if (position >= self->n_items)
    return NULL;
  page = get_page (self, position / MH_CHAT_MODEL_PAGE_SIZE);
  if (offset >= page->items->len)
    {
      /* The page was read before this message arrived. */
      g_hash_table_remove (self->pages, GUINT_TO_POINTER (position / MH_CHAT_MODEL_PAGE_SIZE));
      page = get_page (self, position / MH_CHAT_MODEL_PAGE_SIZE);
      if (offset >= page->items->len)
        return NULL;
    }
  return g_object_ref (g_ptr_array_index (page->items, offset));
}

static void
mh_chat_model_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = mh_chat_model_get_item_type;
  iface->get_n_items = mh_chat_model_get_n_items;
  iface->get_item = mh_chat_model_get_item;
}

/* ------------------------------------------------------------------------ */
/* GObject                                                                  */

static void
mh_chat_model_dispose (GObject *object)
{
  MhChatModel *self = MH_CHAT_MODEL (object);

  if (self->node != NULL)
    {
      g_clear_signal_handler (&self->changed_id, self->node);
      g_clear_signal_handler (&self->delivered_id, self->node);
    }
  g_clear_object (&self->node);
  G_OBJECT_CLASS (mh_chat_model_parent_class)->dispose (object);
}

static void
mh_chat_model_finalize (GObject *object)
{
  MhChatModel *self = MH_CHAT_MODEL (object);

  g_hash_table_unref (self->pages);
  g_array_unref (self->bound_arrivals);
  g_ptr_array_unref (self->bound_ids);
  g_free (self->channel);
  g_free (self->end_id);
  G_OBJECT_CLASS (mh_chat_model_parent_class)->finalize (object);
}

static void
mh_chat_model_class_init (MhChatModelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mh_chat_model_dispose;
  object_class->finalize = mh_chat_model_finalize;
}

static void
mh_chat_model_init (MhChatModel *self)
{
  self->pages = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) page_free);
  self->bound_arrivals = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->bound_ids = g_ptr_array_new_with_free_func (g_free);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

MhChatModel *
mh_chat_model_new (MhNode *node, const char *channel)
{
  MhChatModel *self;

  g_return_val_if_fail (MH_IS_NODE (node), NULL);
  g_return_val_if_fail (channel != NULL, NULL);

  self = g_object_new (MH_TYPE_CHAT_MODEL, NULL);
  self->node = g_object_ref (node);
  self->channel = g_strdup (channel);
  self->n_items = mh_node_count_messages_through (node, channel, &self->end_arrival,
                                                  &self->end_id);
  self->changed_id = g_signal_connect_swapped (node, "messages-changed",
                                               G_CALLBACK (messages_changed_cb), self);
  self->delivered_id = g_signal_connect_swapped (node, "messages-delivered",
                                                 G_CALLBACK (messages_delivered_cb), self);
  return self;
}

const char *
mh_chat_model_get_channel (MhChatModel *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MODEL (self), NULL);
  return self->channel;
}

guint
mh_chat_model_get_n_cached_pages (MhChatModel *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MODEL (self), 0);
  return g_hash_table_size (self->pages);
}

guint
mh_chat_model_get_n_page_reads (MhChatModel *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MODEL (self), 0);
  return self->n_page_reads;
}

guint
mh_chat_model_get_n_bounds (MhChatModel *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MODEL (self), 0);
  return self->bound_arrivals->len;
}

/* Microseconds spent reading pages and boundaries from the replica, for
 * the benchmark to split a frame's time. */
gint64
mh_chat_model_get_read_time (MhChatModel *self)
{
  g_return_val_if_fail (MH_IS_CHAT_MODEL (self), 0);
  return self->read_us;
}

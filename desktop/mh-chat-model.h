/* mh-chat-model.h: one chat channel as a list model that pages from the replica */
#pragma once

#include <gio/gio.h>

#include "mh-node.h"

G_BEGIN_DECLS

#define MH_TYPE_CHAT_MESSAGE (mh_chat_message_get_type ())
G_DECLARE_FINAL_TYPE (MhChatMessage, mh_chat_message, MH, CHAT_MESSAGE, GObject)

const char *mh_chat_message_get_id (MhChatMessage *self);
const char *mh_chat_message_get_author (MhChatMessage *self);
const char *mh_chat_message_get_body (MhChatMessage *self); /* NULL once retracted */
gint64 mh_chat_message_get_sent_at (MhChatMessage *self);
gboolean mh_chat_message_get_mine (MhChatMessage *self);
gboolean mh_chat_message_get_local_only (MhChatMessage *self);
gboolean mh_chat_message_get_retracted (MhChatMessage *self);

#define MH_TYPE_CHAT_MODEL (mh_chat_model_get_type ())
G_DECLARE_FINAL_TYPE (MhChatModel, mh_chat_model, MH, CHAT_MODEL, GObject)

/* Rows per page read from the replica, and pages kept. */
#define MH_CHAT_MODEL_PAGE_SIZE 64
#define MH_CHAT_MODEL_MAX_PAGES 16
/* Pages at either end read by a short offset walk, without boundaries. */
#define MH_CHAT_MODEL_BACK_PAGES 4

MhChatModel *mh_chat_model_new (MhNode *node, const char *channel);
const char *mh_chat_model_get_channel (MhChatModel *self);
guint mh_chat_model_get_n_cached_pages (MhChatModel *self);
guint mh_chat_model_get_n_page_reads (MhChatModel *self);
guint mh_chat_model_get_n_bounds (MhChatModel *self);
gint64 mh_chat_model_get_read_time (MhChatModel *self);

G_END_DECLS

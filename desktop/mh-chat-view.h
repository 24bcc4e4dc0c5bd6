/* mh-chat-view.h: chat per hospital, per transfer and broadcast */
#pragma once

#include <adwaita.h>

#include "mh-node.h"
#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_CHAT_VIEW (mh_chat_view_get_type ())
G_DECLARE_FINAL_TYPE (MhChatView, mh_chat_view, MH, CHAT_VIEW, GtkWidget)

void mh_chat_view_set_node (MhChatView *self, MhNode *node);
gboolean mh_chat_view_show_channel (MhChatView *self, const char *channel);
const char *mh_chat_view_get_channel (MhChatView *self);
guint mh_chat_view_get_unread (MhChatView *self);
guint mh_chat_view_get_channel_unread (MhChatView *self, const char *channel);
gboolean mh_chat_view_send (MhChatView *self, const char *body);
GListModel *mh_chat_view_get_messages (MhChatView *self);
GListModel *mh_chat_view_get_channels (MhChatView *self);
GtkWidget *mh_chat_view_get_message_list (MhChatView *self);

G_END_DECLS

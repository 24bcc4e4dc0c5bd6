/* mh-window.h: the main window: map, find hospital, bed board */
#pragma once

#include <adwaita.h>

#include "mh-node.h"
#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_WINDOW (mh_window_get_type ())

G_DECLARE_FINAL_TYPE (MhWindow, mh_window, MH, WINDOW, AdwApplicationWindow)

MhWindow *mh_window_new (MhApplication *application, MhNode *node);
MhNode *mh_window_get_node (MhWindow *self);
MhMapView *mh_window_get_map_view (MhWindow *self);
MhFindView *mh_window_get_find_view (MhWindow *self);
MhBedBoard *mh_window_get_bed_board (MhWindow *self);
MhTransfersView *mh_window_get_transfers_view (MhWindow *self);
/* Opens the transfers view on one transfer (a notification's action). */
void mh_window_show_transfer (MhWindow *self, const char *transfer_id);
MhDispatchView *mh_window_get_dispatch_view (MhWindow *self);
/* Opens the dispatch view on one incident (a notification's action). */
void mh_window_show_incident (MhWindow *self, const char *incident_id);
/* "map", "find" or "beds" */
MhChatView *mh_window_get_chat_view (MhWindow *self);
MhNetworkView *mh_window_get_network_view (MhWindow *self);
gboolean mh_window_show_channel (MhWindow *self, const char *channel);
/* "map", "find", "beds", "chat" or "network" */
void mh_window_show_view (MhWindow *self, const char *name);
void mh_window_add_toast (MhWindow *self, const char *message);

/* A warning under the header bar until dismissed; NULL when none shows. */
void mh_window_show_banner (MhWindow *self, const char *message);
const char *mh_window_get_banner (MhWindow *self);

G_END_DECLS

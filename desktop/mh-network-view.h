/* mh-network-view.h: this station's peers, changes waiting and held back */
#pragma once

#include <adwaita.h>

#include "mh-node.h"
#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_NETWORK_VIEW (mh_network_view_get_type ())
G_DECLARE_FINAL_TYPE (MhNetworkView, mh_network_view, MH, NETWORK_VIEW, AdwBin)

/* What the page shows, derived from the node: tests assert on it. */
typedef struct
{
  guint n_peers;
  guint n_connected;
  guint n_withholding; /* peers that may be withholding changes */
  guint held;
  guint parked;
  guint rejected;
  gboolean clock_alarm;
  char *error; /* nullable: the last in-app message about bad input */
} MhNetworkState;

void mh_network_state_clear (MhNetworkState *state);

void mh_network_view_set_node (MhNetworkView *self, MhNode *node);
void mh_network_view_refresh (MhNetworkView *self);
void mh_network_view_get_state (MhNetworkView *self, MhNetworkState *state);
gboolean mh_network_view_add_peer (MhNetworkView *self, const char *fingerprint, const char *url);
char *mh_format_age (gint64 now_ms, gint64 then_ms);

G_END_DECLS

/* mh-transfers-view.h: incoming (desk) or outgoing (crew) transfers, and the crew's patient form */
#pragma once

#include <adwaita.h>

#include "mh-node.h"
#include "mh-patient-form.h"
#include "mh-transfer-item.h"

G_BEGIN_DECLS

#define MH_TYPE_TRANSFERS_VIEW (mh_transfers_view_get_type ())

G_DECLARE_FINAL_TYPE (MhTransfersView, mh_transfers_view, MH, TRANSFERS_VIEW, GtkWidget)

void mh_transfers_view_set_node (MhTransfersView *self, MhNode *node);
MhPatientForm *mh_transfers_view_get_form (MhTransfersView *self); /* NULL except for crews */
/* Rebuilds the list from the replica now (it also does so on every change). */
void mh_transfers_view_refresh (MhTransfersView *self);
/* The items shown, in order (MhTransferItem). */
GPtrArray *mh_transfers_view_get_items (MhTransfersView *self);
gboolean mh_transfers_view_select (MhTransfersView *self, const char *transfer_id);
const char *mh_transfers_view_get_selected (MhTransfersView *self);
/* Acts on the selected transfer: "acknowledged", "accepted", "diverted"
 * (with the reason typed in the view), "en_route", "arrived", "cancelled".
 * FALSE with a message shown in the view when refused. */
gboolean mh_transfers_view_act (MhTransfersView *self, const char *state);
void mh_transfers_view_set_reason (MhTransfersView *self, const char *reason);
const char *mh_transfers_view_get_message (MhTransfersView *self);

G_END_DECLS

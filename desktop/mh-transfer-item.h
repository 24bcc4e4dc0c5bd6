/* mh-transfer-item.h: what a transfers list shows of one transfer
 *
 * A plain state struct derived from the node's objects, so that the view's
 * logic is tested without a display: labels, what may be done from here,
 * the ETA countdown, the vital signs with their trend, and whether the crew
 * has waited too long for an answer.
 */
#pragma once

#include "mh-node.h"

G_BEGIN_DECLS

typedef enum
{
  MH_TRANSFER_CAN_ACKNOWLEDGE = 1 << 0,
  MH_TRANSFER_CAN_ACCEPT = 1 << 1,
  MH_TRANSFER_CAN_DIVERT = 1 << 2,
  MH_TRANSFER_CAN_EN_ROUTE = 1 << 3,
  MH_TRANSFER_CAN_ARRIVE = 1 << 4,
  MH_TRANSFER_CAN_CANCEL = 1 << 5,
} MhTransferActions;

typedef struct
{
  char *id;
  char *patient_id;
  char *hospital_id;
  char *hospital_name;
  char *triage;       /* nullable: the value, for the colour */
  char *alert;        /* nullable */
  char *summary;      /* "Immediate · Stroke · 70 y · Female" */
  char *state;        /* the shown state's value */
  char *state_label;  /* translated */
  char *desk_state;
  char *desk_reason;  /* nullable */
  char *vitals;       /* "HR 112 ↑ · SpO2 95 ↓", or NULL with no observation */
  char *eta_label;    /* "ETA 12 min", "ETA passed 3 min ago", or NULL */
  char *phone;        /* the desk's phone (emergency, else switchboard), nullable */
  gboolean unanswered; /* crew: still pending after the acknowledgement timeout */
  gboolean finished;   /* arrived or cancelled */
  gboolean reached_hub;  /* a hub has noted it (a receipt) */
  gboolean reached_desk; /* the destination's desk node has it */
  gboolean seen;         /* a person at the desk has had it on screen */
  char *delivery;        /* crew: "Reached a hub · Reached the desk · Not seen yet", or NULL */
  guint actions;       /* MhTransferActions allowed from this station */
  gboolean concerns_us; /* this station's: its hospital's, its unit's, or its patient's */
} MhTransferItem;

/* transfer: an object of mh_node_list_transfers; now_ms: mh_node_now_ms;
 * ack_timeout_min: minutes a crew waits for an acknowledgement. */
MhTransferItem *mh_transfer_item_new (MhNode *node, JsonObject *transfer, gint64 now_ms,
                                      guint ack_timeout_min);
void mh_transfer_item_free (MhTransferItem *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhTransferItem, mh_transfer_item_free)

/* "↑", "↓" or "→" for a value against the one before (a change of less
 * than a tenth of the older value is steady), "" without an older one. */
const char *mh_trend_arrow (gboolean has_previous, double previous, double current);

/* The translated label of a transfer's shown state. */
const char *mh_transfer_state_label (const char *state);

G_END_DECLS

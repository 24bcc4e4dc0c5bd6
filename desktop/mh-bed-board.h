/* mh-bed-board.h: a hospital's beds and EDXL-HAVE statuses, edited */
#pragma once

#include <adwaita.h>

#include "mh-node.h"
#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_BED_BOARD (mh_bed_board_get_type ())

G_DECLARE_FINAL_TYPE (MhBedBoard, mh_bed_board, MH, BED_BOARD, GtkWidget)

void mh_bed_board_set_node (MhBedBoard *self, MhNode *node);
/* The hospital shown (a hub chooses; a desk shows its own). */
void mh_bed_board_set_hospital (MhBedBoard *self, const char *hospital_id);
const char *mh_bed_board_get_hospital (MhBedBoard *self);
/* field: "available", "baseline" or "surge_24h" */
GtkSpinButton *mh_bed_board_get_spin_button (MhBedBoard *self, const char *category,
                                             const char *field);
/* Writes the row of category to the node, as Enter does. */
gboolean mh_bed_board_apply_beds (MhBedBoard *self, const char *category);

G_END_DECLS

/* mh-hospital-list.h: the node's hospitals as a live GListModel */
#pragma once

#include <gio/gio.h>

#include "mh-node.h"
#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_HOSPITAL_ITEM (mh_hospital_item_get_type ())

G_DECLARE_FINAL_TYPE (MhHospitalItem, mh_hospital_item, MH, HOSPITAL_ITEM, GObject)

const char *mh_hospital_item_get_id (MhHospitalItem *self);
const char *mh_hospital_item_get_name (MhHospitalItem *self);
const char *mh_hospital_item_get_city (MhHospitalItem *self);
double mh_hospital_item_get_latitude (MhHospitalItem *self);
double mh_hospital_item_get_longitude (MhHospitalItem *self);
const char *mh_hospital_item_get_ems_traffic (MhHospitalItem *self);
const char *mh_hospital_item_get_facility (MhHospitalItem *self);
const char *mh_hospital_item_get_clinical (MhHospitalItem *self);
const char *mh_hospital_item_get_offload (MhHospitalItem *self);
/* Free beds (available less committed inbound) in @category, or in all
 * categories when @category is NULL; and whether every count is stale. */
gint64 mh_hospital_item_get_free_beds (MhHospitalItem *self, const char *category);
gboolean mh_hospital_item_get_stale (MhHospitalItem *self, const char *category);
/* The hospital as mh_node_get_hospital () gives it (do not modify). */
JsonObject *mh_hospital_item_get_hospital (MhHospitalItem *self);

#define MH_TYPE_HOSPITAL_LIST (mh_hospital_list_get_type ())

G_DECLARE_FINAL_TYPE (MhHospitalList, mh_hospital_list, MH, HOSPITAL_LIST, GObject)

MhHospitalList *mh_hospital_list_new (MhNode *node);
/* The one list of @node that the views share, made on first use. */
MhHospitalList *mh_hospital_list_get_for_node (MhNode *node);
MhHospitalItem *mh_hospital_list_lookup (MhHospitalList *self, const char *id);
/* Applies the changes waiting for the next idle now. */
void mh_hospital_list_flush (MhHospitalList *self);
/* Reads every hospital again, for what time alone changes (staleness). */
void mh_hospital_list_reload (MhHospitalList *self);

G_END_DECLS

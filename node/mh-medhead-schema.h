/* mh-medhead-schema.h: the MedHead tables, as declared to the replicated store
 *
 * Schema changes are additive only (DESIGN.md section 4): a later version
 * may append lanes, tables, registers and columns, never rename or drop.
 */
#pragma once

#include "mh-sync.h"

G_BEGIN_DECLS

/* 1: the registry, beds, statuses, units, patients, transfers, chat.
 * 2: adds the site's signed `heartbeat` register and the `receipt` table
 *    (delivery of an announcement); a version 1 node keeps them untouched.
 * 3: dispatch: the `incident` table, the unit's `capabilities` register and
 *    the patient's `incident` register. A version 2 replica opens as it is
 *    (the store adds the new tables and columns); a version 2 peer stores
 *    and relays them untouched. */
#define MH_MEDHEAD_SCHEMA_VERSION 3

/* Lanes, in the order a link reads them. */
typedef enum
{
  MH_LANE_REGISTRY,
  MH_LANE_TRANSFERS,
  MH_LANE_BEDS,
  MH_LANE_POSITIONS,
  MH_LANE_CHAT,
  MH_N_LANES,
} MhLane;

/* The digest bucket of patient records and everything hanging under them. */
#define MH_BUCKET_PATIENTS "patients"

MhSchema *mh_medhead_schema_new (void);

G_END_DECLS

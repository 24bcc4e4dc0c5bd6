/* mh-medhead-validate.h: the one judge of every MedHead write
 *
 * mh_medhead_validate() is the store's MhValidateFunc: it decides local
 * writes and remote changes alike, from the change, the row as it would be
 * after it, and registry rows (sites, hospitals, patients), so that every
 * node reaches the same verdict on the same change.
 *
 * A reason starts with one of the prefixes below, which mh-node.c maps to
 * MhNodeError codes: "forbidden: WHY", "invalid: FIELD: WHY" (the part
 * after the prefix starts with the field name) and "waiting: WHAT" for a
 * change parked until what it refers to arrives. Reasons never quote the
 * values of a change: they end up in status pages and logs, and patient
 * data must not.
 */
#pragma once

#include "mh-sync.h"
#include "mh-node.h"

G_BEGIN_DECLS

#define MH_REASON_FORBIDDEN "forbidden: "
#define MH_REASON_INVALID "invalid: "
#define MH_REASON_WAITING "waiting: "

/* Bounds shared by the validator and the node's own input checks. */
#define MH_MAX_NAME_CHARS 200
#define MH_MAX_TEXT_CHARS 4000
#define MH_MAX_ID_CHARS 128
#define MH_MAX_COUNT 100000
#define MH_MAX_SPECIALTY 80

/* Optional state for mh_medhead_validate(), passed as its user_data: the
 * statements it runs on every change, prepared once. Made for one store,
 * and freed while that store is open (mh_store_set_validator() with
 * mh_medhead_validator_free() as the destroy function does both). */
typedef struct _MhMedheadValidator MhMedheadValidator;

MhMedheadValidator *mh_medhead_validator_new (MhStore *store);
void mh_medhead_validator_free (MhMedheadValidator *validator);

/* @user_data: %NULL, or an MhMedheadValidator made for @store */
MhVerdict mh_medhead_validate (MhStore *store, const MhChange *change, const MhRow *row,
                               gboolean local, char **reason, gpointer user_data);

/* The allowed values of an enumerated column, or NULL when it is not one. */
const char *const *mh_medhead_enum_values (const char *table, const char *column);
gboolean mh_medhead_enum_contains (const char *const *values, const char *value);
gboolean mh_medhead_is_bed_category (const char *category);

/* Ids: the registry's (site, hospital, unit, patient, transfer) are 1 to
 * MH_MAX_ID_CHARS of [A-Za-z0-9._:~-]; never a '/', which separates the
 * parts of composite row ids ("HOSPITAL/CATEGORY", "PATIENT/ID"). */
gboolean mh_medhead_id_is_valid (const char *id);
/* What a create request may name as a new row's id: [0-9a-f-]{36}. */
gboolean mh_medhead_uuid_is_valid (const char *id);

/* Specialties are stored as sorted ids in text: "17,21,54". */
gboolean mh_medhead_parse_specialties (const char *text, GArray *ids, char **reason);
char *mh_medhead_format_specialties (GArray *ids);

/* Capabilities of a unit, and skills an incident needs, from the
 * documented list (docs/api.md): stored as "als,paediatric", in the list's
 * order. The mask has bit i for mh_medhead_capabilities()[i]. */
const char *const *mh_medhead_capabilities (void);
gboolean mh_medhead_parse_capabilities (const char *text, guint32 *mask, char **reason);
char *mh_medhead_format_capabilities (guint32 mask);

/* Channels: "broadcast", "hospital:ID", "transfer:ID". */
gboolean mh_medhead_channel_is_valid (const char *channel);

/* Which side of a transfer a site may write (DESIGN.md section 3). */
gboolean mh_medhead_may_write_transfer_side (MhRole role, const char *site_hospital_id,
                                             const char *site_unit_id,
                                             const char *request_hospital_id,
                                             const char *request_unit_id, gboolean desk);

/* Whether a hospital has a site of its own in the registry: then only its
 * desks report its beds and statuses, not a hub. */
gboolean mh_medhead_hospital_has_site (MhStore *store, const char *hospital_id);
/* Whether a unit has an ambulance station of its own in the registry. */
gboolean mh_medhead_unit_has_site (MhStore *store, const char *unit_id);

G_END_DECLS

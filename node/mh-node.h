/* mh-node.h: a MedHead node: the domain over a replicated store
 *
 * A node owns one data directory: the replica (`replica.db`), its
 * configuration (`node.ini`), the API token (`api-token`, mode 0600). It
 * declares the MedHead schema to the store, validates every write (local
 * and remote, see mh-medhead-validate.h), keeps derived data current
 * (committed_inbound of its own hospital, the R*Tree of hospitals) and
 * answers the domain queries. medhead-node and the desktop app both use it.
 *
 * The domain API speaks JSON objects, as the REST API does, so the two
 * never disagree on field names. Every write is one store transaction.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "mh-sync.h"
#include "mh-identity.h"
#include "mh-replicator.h"
#include "mh-node-error.h"

G_BEGIN_DECLS

#define MH_TYPE_NODE (mh_node_get_type ())

G_DECLARE_FINAL_TYPE (MhNode, mh_node, MH, NODE, GObject)

typedef enum
{
  MH_ROLE_HOSPITAL,
  MH_ROLE_AMBULANCE,
  MH_ROLE_HUB,
} MhRole;

/* Default grace after ETA before an accepted transfer stops counting. */
#define MH_NODE_DEFAULT_GRACE_MIN 60
/* Default reporting interval of a hospital: older counts are stale. */
#define MH_NODE_DEFAULT_REPORT_INTERVAL_MIN 60
/* A hospital's node writes a signed heartbeat this often while it serves;
 * a hospital with a site of its own whose newest heartbeat is older than
 * MH_NODE_HEARTBEAT_STALE_S is shown as stale. */
#define MH_NODE_HEARTBEAT_INTERVAL_S 300
#define MH_NODE_HEARTBEAT_STALE_S (3 * MH_NODE_HEARTBEAT_INTERVAL_S)
#define MH_NODE_DEFAULT_API_PORT 8470

/**
 * MhNodeOpenFlags:
 * @MH_NODE_OPEN_DEFAULT: a server's node (medhead-node): a large SQLite
 *   cache and a memory map of the replica, for searches all over it
 * @MH_NODE_OPEN_EMBEDDED: a node inside an application (the desktop's):
 *   a small cache and no memory map, so that what the views read does not
 *   stay resident
 */
typedef enum
{
  MH_NODE_OPEN_DEFAULT = 0,
  MH_NODE_OPEN_EMBEDDED = 1 << 0,
} MhNodeOpenFlags;

const char *mh_role_to_string (MhRole role);
gboolean mh_role_from_string (const char *text, MhRole *role);

/* Set up and open */
gboolean mh_node_init_data_dir (const char *data_dir, const char *name, MhRole role,
                                const char *hospital_id, const char *unit_id, GError **error);
MhNode *mh_node_open (const char *data_dir, GError **error);
MhNode *mh_node_open_full (const char *data_dir, MhNodeOpenFlags flags, GError **error);

MhStore *mh_node_get_store (MhNode *self);
MhIdentity *mh_node_get_identity (MhNode *self);
MhTrust *mh_node_get_trust (MhNode *self);
const char *mh_node_get_fingerprint (MhNode *self);
const char *mh_node_get_data_dir (MhNode *self);
const char *mh_node_get_site_id (MhNode *self);
const char *mh_node_get_name (MhNode *self);
MhRole mh_node_get_role (MhNode *self);
const char *mh_node_get_hospital_id (MhNode *self); /* nullable */
const char *mh_node_get_unit_id (MhNode *self);     /* nullable */
char *mh_node_read_api_token (MhNode *self, GError **error);
gboolean mh_node_rotate_api_token (MhNode *self, GError **error);

/* Time, for expiry and staleness; tests may shift it. */
gint64 mh_node_now_ms (MhNode *self);
void mh_node_set_grace_minutes (MhNode *self, guint minutes);
guint mh_node_get_grace_minutes (MhNode *self);
void mh_node_set_time_offset (MhNode *self, gint64 offset_ms);
/* Retention (mh-retention.h): hours a station other than a hub keeps a
 * patient after its transfers end; days a hub keeps it. */
void mh_node_set_retention (MhNode *self, guint retention_hours, guint audit_days);
guint mh_node_get_retention_hours (MhNode *self);
guint mh_node_get_audit_days (MhNode *self);
gboolean mh_node_write_heartbeat (MhNode *self, GError **error);
/* Recounts committed_inbound now (also done on every transfer change and
 * every 30 s, for expiries); a no-op except on a hospital node. */
gboolean mh_node_refresh_committed (MhNode *self, GError **error);

/* Hospitals. A hospital object: id, name, address, city, lat, lon,
 * phone_switchboard, phone_emergency, specialties (array of ids 1..80),
 * ems_traffic, ems_traffic_reason, facility, clinical, offload,
 * offload_minutes, report_interval_min, beds (object: category -> bed object). */
JsonArray *mh_node_list_hospitals (MhNode *self, GError **error);
JsonObject *mh_node_get_hospital (MhNode *self, const char *id, GError **error);
char *mh_node_create_hospital (MhNode *self, JsonObject *fields, GError **error);
gboolean mh_node_patch_hospital (MhNode *self, const char *id, JsonObject *fields, GError **error);

/* Beds. A bed object: category, available, baseline, surge_24h,
 * committed_inbound, free (available - committed_inbound, never below 0),
 * reported_at (ms), reported_by, stale (bool). */
gboolean mh_node_put_beds (MhNode *self, const char *hospital_id, const char *category,
                           JsonObject *fields, GError **error);

/* Nearest hospitals: an array, nearest first, of objects with id, name,
 * lat, lon, distance_m, free_beds, stale (the count is old, or the hospital's
 * desk has gone quiet), last_heartbeat, reported_at, fallback, and the
 * hospital's phones and ems_traffic. specialty 0 or category NULL: any. */
JsonArray *mh_node_nearest_hospitals (MhNode *self, double lat, double lon, guint specialty,
                                      const char *category, guint limit, GError **error);

/* Units: id, call_sign, type, agency, skills, status, lat, lon, accuracy_m, position_at,
 * capabilities (array of names, mh_medhead_capabilities()). Incidents and
 * dispatch, and the "incident-assigned" signal: mh-dispatch.h. */
JsonArray *mh_node_list_units (MhNode *self, GError **error);
JsonObject *mh_node_get_unit (MhNode *self, const char *id, GError **error);
char *mh_node_create_unit (MhNode *self, JsonObject *fields, GError **error);
gboolean mh_node_patch_unit (MhNode *self, const char *id, JsonObject *fields, GError **error);

/* Patients, with their observations and interventions (insert-only). */
JsonArray *mh_node_list_patients (MhNode *self, GError **error);
JsonObject *mh_node_get_patient (MhNode *self, const char *id, GError **error);
char *mh_node_create_patient (MhNode *self, JsonObject *fields, GError **error);
gboolean mh_node_patch_patient (MhNode *self, const char *id, JsonObject *fields, GError **error);
char *mh_node_add_observation (MhNode *self, const char *patient_id, JsonObject *fields,
                               GError **error);
char *mh_node_add_intervention (MhNode *self, const char *patient_id, JsonObject *fields,
                                GError **error);

/* Transfers. A transfer object: id, patient_id, unit_id, hospital_id,
 * bed_category, specialty, priority, eta (ms), crew_state, crew_at,
 * desk_state, desk_reason, desk_at, state (the shown state), expired (bool). */
JsonArray *mh_node_list_transfers (MhNode *self, const char *hospital_id, GError **error);
JsonObject *mh_node_get_transfer (MhNode *self, const char *id, GError **error);
char *mh_node_create_transfer (MhNode *self, JsonObject *fields, GError **error);
gboolean mh_node_transfer_crew (MhNode *self, const char *id, const char *state,
                                GError **error); /* en_route, arrived, cancelled */
gboolean mh_node_transfer_desk (MhNode *self, const char *id, const char *state,
                                const char *reason, GError **error); /* acknowledged, accepted, diverted */
const char *mh_transfer_shown_state (const char *crew_state, const char *desk_state);
/* Delivery receipts: hubs and the destination's desk note a transfer's
 * first arrival by themselves; a desk's app marks it seen. A receipt:
 * site_id, name, role, received_at, seen_at. */
gboolean mh_node_mark_transfer_seen (MhNode *self, const char *transfer_id, GError **error);
JsonArray *mh_node_list_receipts (MhNode *self, const char *transfer_id, GError **error);
/* A crew's announcement in one transaction: the patient (created, or
 * patched when it has an id that exists), its new observations and
 * interventions (arrays of objects, nullable), and the transfer (fields as
 * for mh_node_create_transfer, patient_id filled in). All or nothing.
 * Returns the transfer's id. */
char *mh_node_announce (MhNode *self, JsonObject *patient, JsonArray *observations,
                        JsonArray *interventions, JsonObject *transfer, GError **error);

/* Messages: id, channel, author_site, author_name, body, sent (hlc),
 * arrived_at (local ms), retracted (bool). Channels: "hospital:ID",
 * "transfer:ID", "broadcast". */
char *mh_node_post_message (MhNode *self, const char *channel, const char *body, GError **error);
JsonArray *mh_node_list_messages (MhNode *self, const char *channel, gint64 since_arrival,
                                  guint limit, GError **error);
gboolean mh_node_retract_message (MhNode *self, const char *id, GError **error);
/* Long histories page by position in local arrival order; each message
 * then also carries "local_only" (no peer has acknowledged it yet; the
 * node emits "messages-delivered" when that changes, and
 * "messages-changed" when messages arrive). */
guint mh_node_count_messages (MhNode *self, const char *channel);
JsonArray *mh_node_list_messages_at (MhNode *self, const char *channel, guint offset,
                                     guint limit, GError **error);
guint mh_node_count_messages_through (MhNode *self, const char *channel, gint64 *last_arrival,
                                      char **last_id);
JsonArray *mh_node_list_messages_back (MhNode *self, const char *channel, gint64 through_arrival,
                                       const char *through_id, guint skip, guint limit,
                                       GError **error);
/* Paging by key: page boundaries in one pass over a channel's index, then
 * any page as a range read, however deep in the history. */
gboolean mh_node_list_message_keys (MhNode *self, const char *channel, gint64 from_arrival,
                                    const char *from_id, gint64 through_arrival,
                                    const char *through_id, guint every, GArray *arrivals,
                                    GPtrArray *ids, GError **error);
JsonArray *mh_node_list_messages_from (MhNode *self, const char *channel, gint64 from_arrival,
                                       const char *from_id, gint64 through_arrival,
                                       const char *through_id, guint limit, GError **error);
guint mh_node_count_messages_between (MhNode *self, const char *channel, gint64 after_arrival,
                                      const char *after_id, gint64 through_arrival,
                                      const char *through_id);
guint mh_node_count_unread (MhNode *self, const char *channel);
JsonObject *mh_node_list_unread (MhNode *self); /* channel -> count, the unread ones */
gboolean mh_node_mark_channel_read (MhNode *self, const char *channel, GError **error);

/* The peer network */
void mh_node_set_deferred_durability (MhNode *self);
gboolean mh_node_start_sync (MhNode *self, const char *listen, guint16 *out_port, GError **error);
MhReplicator *mh_node_get_replicator (MhNode *self);
gboolean mh_node_add_peer (MhNode *self, const char *fingerprint, const char *url,
                           GError **error);
gboolean mh_node_remove_peer (MhNode *self, const char *fingerprint, GError **error);
JsonArray *mh_node_list_peers (MhNode *self);
JsonObject *mh_node_get_gap_status (MhNode *self);

/* Status, digests, history */
JsonObject *mh_node_get_status (MhNode *self);
JsonObject *mh_node_get_digest (MhNode *self);
JsonObject *mh_node_get_digest_for (MhNode *self, const char *hospital_id, GError **error);
JsonArray *mh_node_get_history (MhNode *self, const char *table, const char *row, GError **error);

/* Bulk registry exchange: the format of the files in data/demo ("medhead-registry/1"). */
gboolean mh_node_import (MhNode *self, JsonNode *document, guint *n_hospitals, guint *n_units,
                         GError **error);
gboolean mh_node_import_own (MhNode *self, JsonNode *document, GError **error);
JsonNode *mh_node_export (MhNode *self, GError **error);

/* Specialties, from data/nhs-specialties.tsv */
const char *mh_specialty_name (guint id);
guint mh_specialty_count (void);
const char *const *mh_bed_categories (void);

G_END_DECLS

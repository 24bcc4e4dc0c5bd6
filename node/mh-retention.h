/* mh-retention.h: how long a station keeps patient data (DESIGN.md 4, "Need to know")
 *
 * A station that is not a hub evicts a patient, with its observations,
 * interventions, transfers, their receipts and transfer chat, a set time
 * after all its transfers ended (arrived or cancelled), and only once a hub
 * has acknowledged every change of those rows. A hub purges them after the
 * audit period. Eviction is local (mh_store_evict()): peers keep theirs.
 */
#pragma once

#include "mh-node.h"

G_BEGIN_DECLS

#define MH_NODE_DEFAULT_RETENTION_HOURS 24
#define MH_NODE_DEFAULT_AUDIT_DAYS 3650
/* A sweep runs when sync starts and then this often. */
#define MH_NODE_RETENTION_SWEEP_S 300

gboolean mh_retention_setup (MhNode *node, GError **error);
/* Called for each acknowledgement from a peer: a hub's is recorded. */
void mh_retention_note_peer_acked (MhNode *node, const char *site_id, guint lane, gint64 seq);

/* The patients held here whose transfers have all ended: an array of
 * objects {patient_id, ended_at, evict_at, delivered}, where delivered says
 * whether a hub holds every change of the patient's rows (always true on a
 * hub). */
JsonArray *mh_retention_list (MhNode *node, GError **error);
/* Evicts what is due (nothing when @dry_run); returns the ids of the
 * patients evicted, or that would be. */
JsonArray *mh_retention_sweep (MhNode *node, gboolean dry_run, GError **error);

G_END_DECLS

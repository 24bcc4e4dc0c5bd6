/* mh-medhead-audience.h: need to know, decided from the data
 *
 * The store's MhAudienceFunc and MhAudienceGrowFunc for the MedHead schema
 * (DESIGN.md section 4, "Need to know"; docs/sync.md, "Audience"):
 * - registry, beds, statuses, units, positions: every site;
 * - a patient, its observations and interventions: the hubs, the sites of
 *   the unit that owns it, and the sites of each hospital and unit named by
 *   one of its transfers that the crew has not cancelled;
 * - a transfer, its receipts and its chat (channel transfer:ID): the hubs,
 *   its hospital's sites, its unit's sites and the patient's owning unit;
 * - a hospital channel: that hospital's sites, the hubs and the author;
 * - the broadcast channel and every deletion: every site.
 * Growth: a transfer's request, or a patient's new owner, sent to a site it
 * names brings the patient and everything under it along.
 */
#pragma once

#include "mh-sync.h"

G_BEGIN_DECLS

typedef struct _MhMedheadAudience MhMedheadAudience;

/* Prepared statements for @store (and the indexes they use); freed while
 * @store is open. */
MhMedheadAudience *mh_medhead_audience_new (MhStore *store);
void mh_medhead_audience_free (MhMedheadAudience *audience);

/* @user_data: %NULL, or an MhMedheadAudience made for @store */
MhAudience mh_medhead_audience (MhStore *store, const MhChange *change, const char *site_id,
                                GPtrArray *context, gpointer user_data);
GPtrArray *mh_medhead_audience_growth (MhStore *store, const MhChange *change,
                                       const char *site_id, gpointer user_data);

/* Installs both on @store, with their state. */
void mh_medhead_audience_install (MhStore *store);

/* Per-hospital digests (docs/sync.md, "Digests per audience"): FALSE for a
 * bucket that need-to-know tables file into, whose content depends on who
 * holds it. */
gboolean mh_medhead_bucket_is_shared (MhSchema *schema, const char *bucket);
gboolean mh_medhead_hospital_digest (MhStore *store, const char *hospital_id, MhDigest *digest,
                                     GError **error);
char **mh_medhead_open_hospitals (MhStore *store, GError **error);

G_END_DECLS

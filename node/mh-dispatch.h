/* mh-dispatch.h: incidents, the units to send, and their answers
 *
 * Part of MhNode (its functions take the node). An incident object: id,
 * created_at (ms), lat, lon, nature (an alert value: stemi, stroke, sepsis,
 * trauma, other), nature_text, priority (immediate, urgent, routine),
 * skills (array of capability names, see mh_medhead_capabilities()),
 * created_by (site id), state (open, assigned, closed, cancelled), unit_id,
 * call_sign, dispatch_at, dispatch_by, answer (accepted, on_scene, cleared,
 * declined, or null: only an answer by the assigned unit counts),
 * answer_at, patient_ids and transfer_ids (the patients picked up there,
 * whose record carries incident_id, and their transfers).
 *
 * Ownership (docs/api.md, dispatch): a hub or a crew on scene reports an
 * incident; only a hub assigns, reassigns, closes or cancels; only the
 * assigned unit's station answers. A crew's own report stays open until a
 * hub assigns it (usually to that crew).
 *
 * MhNode::incident-assigned (const char *incident_id) tells a unit's
 * station at once that a hub assigned an incident to its unit.
 */
#pragma once

#include "mh-node.h"

G_BEGIN_DECLS

/* A unit's position older than this ranks after the fresh ones. */
#define MH_DISPATCH_POSITION_STALE_S 600

/* @fields: lat, lon, nature, priority (required), nature_text, skills
 * (array of names, or "als,bls"), id (a UUID) */
char *mh_node_create_incident (MhNode *self, JsonObject *fields, GError **error);
/* Open ones first, then assigned, then closed and cancelled; by priority,
 * then newest first. */
JsonArray *mh_node_list_incidents (MhNode *self, GError **error);
JsonObject *mh_node_get_incident (MhNode *self, const char *id, GError **error);
/* Returns { incident_id, skills, candidates: [...], fallback: [...] }.
 * Candidates are available units with every needed skill; fallback the
 * available units lacking some (with missing_skills). Each: unit_id,
 * call_sign, type, status, capabilities, lat, lon, distance_m, position_at,
 * position_age_s, stale, missing_skills. Ranked: fresh positions by
 * straight-line distance, then stale ones by distance, then units with no
 * position (fallback: fewest missing skills first). @limit 0: all. */
JsonObject *mh_node_incident_candidates (MhNode *self, const char *id, guint limit,
                                         GError **error);
/* Hub only; the unit must be available (or already the incident's). */
gboolean mh_node_assign_incident (MhNode *self, const char *id, const char *unit_id,
                                  GError **error);
/* Hub only: "closed" or "cancelled". */
gboolean mh_node_close_incident (MhNode *self, const char *id, const char *state,
                                 GError **error);
/* The assigned unit's station only: accepted, on_scene, cleared (in that
 * order) or declined (before accepting). Also sets the unit's own status
 * (dispatched, on_scene, available) in the same transaction. */
gboolean mh_node_answer_incident (MhNode *self, const char *id, const char *answer,
                                  GError **error);

G_END_DECLS

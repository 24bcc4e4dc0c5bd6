/* mh-dispatch-view.h: the regional board (hub) and the crew's assignment */
#pragma once

#include <adwaita.h>

#include "mh-node.h"

G_BEGIN_DECLS

#define MH_TYPE_DISPATCH_VIEW (mh_dispatch_view_get_type ())

G_DECLARE_FINAL_TYPE (MhDispatchView, mh_dispatch_view, MH, DISPATCH_VIEW, GtkWidget)

void mh_dispatch_view_set_node (MhDispatchView *self, MhNode *node);
/* Reads the incidents (and units, candidates) again now. */
void mh_dispatch_view_refresh (MhDispatchView *self);
/* Where a new incident is, until the user types another (a point picked
 * on the map, or the map centre). */
void mh_dispatch_view_set_position (MhDispatchView *self, double lat, double lon);
/* Opens the New Incident form, focused on its first field. */
void mh_dispatch_view_new_incident (MhDispatchView *self);
/* Shows one incident; FALSE when it is not known here. */
gboolean mh_dispatch_view_select (MhDispatchView *self, const char *incident_id);
const char *mh_dispatch_view_get_selected (MhDispatchView *self);

/* The form's fields as text (nature and priority as values, skills as
 * "als,bls"): for tests. Creates the incident from them; the new id, or
 * NULL with the message shown in the form. */
void mh_dispatch_view_set_form (MhDispatchView *self, const char *nature, const char *priority,
                                const char *skills, const char *lat, const char *lon,
                                const char *text);
char *mh_dispatch_view_create (MhDispatchView *self);
const char *mh_dispatch_view_get_message (MhDispatchView *self);
/* The selected incident's candidates as shown: call signs in order (the
 * fallback ones after), and which is selected for Assign. */
GStrv mh_dispatch_view_get_candidates (MhDispatchView *self);
gboolean mh_dispatch_view_select_candidate (MhDispatchView *self, const char *unit_id);
/* The unit Assign would send, or NULL. */
const char *mh_dispatch_view_get_candidate (MhDispatchView *self);
/* Unit ids of the units list (hub), in the order shown. */
guint mh_dispatch_view_get_n_units (MhDispatchView *self);

/* The incident this station's unit has accepted and not yet cleared, or
 * NULL: its patients are linked to it, Find hospital searches from it. */
JsonObject *mh_dispatch_active_incident (MhNode *node);
/* Translated labels of an incident's values. */
const char *mh_priority_label (const char *priority);
const char *mh_skill_label (const char *skill);
const char *mh_incident_state_label (const char *state);
const char *mh_incident_answer_label (const char *answer);

G_END_DECLS

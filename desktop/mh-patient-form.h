/* mh-patient-form.h: a crew's patient record (ATMIST), vitals and the announcement */
#pragma once

#include <adwaita.h>

#include "mh-node.h"

G_BEGIN_DECLS

#define MH_TYPE_PATIENT_FORM (mh_patient_form_get_type ())

G_DECLARE_FINAL_TYPE (MhPatientForm, mh_patient_form, MH, PATIENT_FORM, GtkWidget)

void mh_patient_form_set_node (MhPatientForm *self, MhNode *node);
/* The hospital to announce to (from Find hospital or the hospital card). */
void mh_patient_form_set_destination (MhPatientForm *self, const char *hospital_id);
const char *mh_patient_form_get_destination (MhPatientForm *self);
/* The patient announced last, whose later vitals go to the same record. */
const char *mh_patient_form_get_patient_id (MhPatientForm *self);
/* Text of a field by its member name (age_estimate, mechanism, hr, drug,
 * eta_minutes, …): for tests and for restoring a draft. */
void mh_patient_form_set_text (MhPatientForm *self, const char *field, const char *text);
/* Announces: TRUE and the transfer's id, or FALSE with the message shown
 * in the form (bad input, no destination, a refusal from the node). */
gboolean mh_patient_form_announce (MhPatientForm *self, char **transfer_id);
/* Records the vitals fields as a new observation of the current patient. */
gboolean mh_patient_form_add_vitals (MhPatientForm *self);
const char *mh_patient_form_get_message (MhPatientForm *self);
/* Hands the current patient over to another unit (BLS to MICU). */
gboolean mh_patient_form_hand_over (MhPatientForm *self, const char *unit_id);

G_END_DECLS

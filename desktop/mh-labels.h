/* mh-labels.h: translated labels for the domain's values */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Each list is NULL-terminated, in the order shown in drop-downs. */
const char *const *mh_ems_traffic_values (void);
const char *const *mh_facility_values (void);
const char *const *mh_clinical_values (void);
const char *const *mh_offload_values (void);

/* The translated label of a value; an unknown value is shown as it is. */
const char *mh_label_for (const char *value);
/* A patient's triage category, alert and sex (docs/api.md); like
 * mh_label_for(), an unknown value is shown as it is. */
const char *mh_triage_label (const char *value);
const char *mh_alert_label (const char *value);
const char *mh_sex_label (const char *value);
/* The index of value in values, or -1. */
int mh_value_index (const char *const *values, const char *value);

/* An NHS specialty's name in the user's language; NULL for an unknown id. */
const char *mh_specialty_label (guint id);
const char *mh_specialty_label_msgid (guint id);

G_END_DECLS

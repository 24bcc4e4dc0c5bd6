/* mh-labels.c: translated labels for the domain's values */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-labels.h"

static const char *const ems_traffic_values[] = { "normal", "advisory", "closed", "not_applicable",
                                                  NULL };
static const char *const facility_values[] = { "normal", "compromised", "evacuating", "closed",
                                               NULL };
static const char *const clinical_values[] = { "normal", "level1", "level2", "full", NULL };
static const char *const offload_values[] = { "normal", "delayed", NULL };

static const struct
{
  const char *value;
  const char *label;
} labels[] = {
  /* Bed categories (HAvBED) */
  { "adult_icu", N_("Adult ICU") },
  { "pediatric_icu", N_("Pediatric ICU") },
  { "medical_surgical", N_("Medical-surgical") },
  { "pediatrics", N_("Pediatrics") },
  { "psychiatric", N_("Psychiatric") },
  { "burn", N_("Burn") },
  { "negative_pressure_isolation", N_("Negative-pressure isolation") },
  { "other_isolation", N_("Other isolation") },
  { "operating_rooms", N_("Operating rooms") },
  /* Statuses (EDXL-HAVE) */
  { "normal", N_("Normal") },
  { "advisory", N_("Advisory") },
  { "closed", N_("Closed") },
  { "not_applicable", N_("Not applicable") },
  { "compromised", N_("Compromised") },
  { "evacuating", N_("Evacuating") },
  { "level1", N_("Level 1") },
  { "level2", N_("Level 2") },
  { "full", N_("Full") },
  { "delayed", N_("Delayed") },
  /* Unit statuses */
  { "available", N_("Available") },
  { "dispatched", N_("Dispatched") },
  { "en_route", N_("En route") },
  { "on_scene", N_("On scene") },
  { "transporting", N_("Transporting") },
  { "at_hospital", N_("At hospital") },
  { "out_of_service", N_("Out of service") },
};

const char *const *
mh_ems_traffic_values (void)
{
  return ems_traffic_values;
}

const char *const *
mh_facility_values (void)
{
  return facility_values;
}

const char *const *
mh_clinical_values (void)
{
  return clinical_values;
}

const char *const *
mh_offload_values (void)
{
  return offload_values;
}

const char *
mh_label_for (const char *value)
{
  if (value == NULL)
    return "";
  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    if (g_str_equal (labels[i].value, value))
      return _(labels[i].label);
  return value;
}

/* Apart from mh_label_for(): "delayed" and "other" need a context of their
 * own here, as the same English word translates differently. */
const char *
mh_triage_label (const char *value)
{
  if (g_strcmp0 (value, "immediate") == 0)
    return _("Immediate");
  if (g_strcmp0 (value, "delayed") == 0)
    return C_("triage", "Delayed");
  if (g_strcmp0 (value, "minimal") == 0)
    return _("Minimal");
  if (g_strcmp0 (value, "expectant") == 0)
    return _("Expectant");
  if (g_strcmp0 (value, "dead") == 0)
    return _("Dead");
  return value;
}

const char *
mh_alert_label (const char *value)
{
  if (g_strcmp0 (value, "stemi") == 0)
    return _("STEMI");
  if (g_strcmp0 (value, "stroke") == 0)
    return _("Stroke");
  if (g_strcmp0 (value, "sepsis") == 0)
    return _("Sepsis");
  if (g_strcmp0 (value, "trauma") == 0)
    return _("Trauma");
  if (g_strcmp0 (value, "other") == 0)
    return C_("alert", "Other");
  return value;
}

const char *
mh_sex_label (const char *value)
{
  if (g_strcmp0 (value, "female") == 0)
    return _("Female");
  if (g_strcmp0 (value, "male") == 0)
    return _("Male");
  if (g_strcmp0 (value, "other") == 0)
    return C_("sex", "Other");
  if (g_strcmp0 (value, "unknown") == 0)
    return _("Unknown");
  return value;
}

int
mh_value_index (const char *const *values, const char *value)
{
  if (value == NULL)
    return -1;
  for (int i = 0; values[i] != NULL; i++)
    if (g_str_equal (values[i], value))
      return i;
  return -1;
}

/* mh-specialty-labels.c: the NHS specialty names, translated
 *
 * The names come from data/nhs-specialties.tsv through the node (in
 * English, as the reference list has them). This list exists so that
 * xgettext sees them; a test checks it matches the file, id for id.
 */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-labels.h"
#include "mh-node.h"

static const char *const specialty_names[] = {
  NULL, /* ids start at 1 */
  NC_ ("specialty", "Anaesthetics"),
  NC_ ("specialty", "Intensive care medicine"),
  NC_ ("specialty", "Clinical oncology"),
  NC_ ("specialty", "Additional dental specialties"),
  NC_ ("specialty", "Dental and maxillofacial radiology"),
  NC_ ("specialty", "Endodontics"),
  NC_ ("specialty", "Oral and maxillofacial surgery"),
  NC_ ("specialty", "Oral and maxillofacial pathology"),
  NC_ ("specialty", "Oral medicine"),
  NC_ ("specialty", "Oral surgery"),
  NC_ ("specialty", "Orthodontics"),
  NC_ ("specialty", "Paediatric dentistry"),
  NC_ ("specialty", "Periodontics"),
  NC_ ("specialty", "Prosthodontics"),
  NC_ ("specialty", "Restorative dentistry"),
  NC_ ("specialty", "Special care dentistry"),
  NC_ ("specialty", "Emergency medicine"),
  NC_ ("specialty", "Acute internal medicine"),
  NC_ ("specialty", "Allergy"),
  NC_ ("specialty", "Audio vestibular medicine"),
  NC_ ("specialty", "Cardiology"),
  NC_ ("specialty", "Clinical genetics"),
  NC_ ("specialty", "Clinical neurophysiology"),
  NC_ ("specialty", "Clinical pharmacology and therapeutics"),
  NC_ ("specialty", "Dermatology"),
  NC_ ("specialty", "Endocrinology and diabetes mellitus"),
  NC_ ("specialty", "Gastroenterology"),
  NC_ ("specialty", "General (internal) medicine"),
  NC_ ("specialty", "General med practitioner"),
  NC_ ("specialty", "General practice (GP) 6 month training"),
  NC_ ("specialty", "Genito-urinary medicine"),
  NC_ ("specialty", "Geriatric medicine"),
  NC_ ("specialty", "Infectious diseases"),
  NC_ ("specialty", "Medical oncology"),
  NC_ ("specialty", "Medical ophthalmology"),
  NC_ ("specialty", "Neurology"),
  NC_ ("specialty", "Occupational medicine"),
  NC_ ("specialty", "Other"),
  NC_ ("specialty", "Palliative medicine"),
  NC_ ("specialty", "Rehabilitation medicine"),
  NC_ ("specialty", "Renal medicine"),
  NC_ ("specialty", "Respiratory medicine"),
  NC_ ("specialty", "Rheumatology"),
  NC_ ("specialty", "Sport and exercise medicine"),
  NC_ ("specialty", "Community sexual and reproductive health"),
  NC_ ("specialty", "Paediatric cardiology"),
  NC_ ("specialty", "Paediatrics"),
  NC_ ("specialty", "Chemical pathology"),
  NC_ ("specialty", "Diagnostic neuropathology"),
  NC_ ("specialty", "Forensic histopathology"),
  NC_ ("specialty", "General pathology"),
  NC_ ("specialty", "Haematology"),
  NC_ ("specialty", "Histopathology"),
  NC_ ("specialty", "Immunology"),
  NC_ ("specialty", "Medical microbiology"),
  NC_ ("specialty", "Paediatric and perinatal pathology"),
  NC_ ("specialty", "Virology"),
  NC_ ("specialty", "Community health service dental"),
  NC_ ("specialty", "Community health service medical"),
  NC_ ("specialty", "Dental public health"),
  NC_ ("specialty", "General dental practitioner"),
  NC_ ("specialty", "Public health medicine"),
  NC_ ("specialty", "Child and adolescent psychiatry"),
  NC_ ("specialty", "Forensic psychiatry"),
  NC_ ("specialty", "General psychiatry"),
  NC_ ("specialty", "Old age psychiatry"),
  NC_ ("specialty", "Psychiatry of learning disability"),
  NC_ ("specialty", "Psychotherapy"),
  NC_ ("specialty", "Clinical radiology"),
  NC_ ("specialty", "Nuclear medicine"),
  NC_ ("specialty", "Cardiothoracic surgery"),
  NC_ ("specialty", "General surgery"),
  NC_ ("specialty", "Neurosurgery"),
  NC_ ("specialty", "Ophthalmology"),
  NC_ ("specialty", "Otolaryngology"),
  NC_ ("specialty", "Paediatric surgery"),
  NC_ ("specialty", "Plastic surgery"),
  NC_ ("specialty", "Trauma and orthopaedic surgery"),
  NC_ ("specialty", "Urology"),
  NC_ ("specialty", "Vascular surgery"),
};

/**
 * mh_specialty_label:
 * @id: an NHS specialty id
 *
 * Returns: (nullable): the specialty's name in the user's language, or
 *   %NULL for an unknown id
 */
const char *
mh_specialty_label (guint id)
{
  const char *name = mh_specialty_name (id);

  if (name == NULL)
    return NULL;
  return g_dpgettext2 (GETTEXT_PACKAGE, "specialty", name);
}

/* For the test that this list and the reference file agree. */
const char *
mh_specialty_label_msgid (guint id)
{
  return id < G_N_ELEMENTS (specialty_names) ? specialty_names[id] : NULL;
}

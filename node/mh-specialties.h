/* mh-specialties.h: the NHS list of specialties (data/nhs-specialties.tsv)
 *
 * Embedded in the library as a GResource, so a node needs no data files
 * to validate or show specialties. mh_specialty_name() and
 * mh_specialty_count() are declared in mh-node.h.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

const char *mh_specialty_group (guint id);

G_END_DECLS

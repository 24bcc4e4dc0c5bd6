/* mh-locator.h: where this station is, from GeoClue when the system has it */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MH_TYPE_LOCATOR (mh_locator_get_type ())

G_DECLARE_FINAL_TYPE (MhLocator, mh_locator, MH, LOCATOR, GObject)

MhLocator *mh_locator_new (void);
void mh_locator_start (MhLocator *self);
void mh_locator_stop (MhLocator *self);
gboolean mh_locator_get_located (MhLocator *self);
double mh_locator_get_latitude (MhLocator *self);
double mh_locator_get_longitude (MhLocator *self);
double mh_locator_get_accuracy (MhLocator *self);

G_END_DECLS

/* mh-settings.h: the app's GSettings, installed or from the build tree */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

GSettings *mh_settings_new (void);

G_END_DECLS

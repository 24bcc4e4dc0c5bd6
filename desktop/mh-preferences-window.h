/* mh-preferences-window.h: preferences: the map's tile source */
#pragma once

#include <adwaita.h>

#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_PREFERENCES_WINDOW (mh_preferences_window_get_type ())

G_DECLARE_FINAL_TYPE (MhPreferencesWindow, mh_preferences_window, MH, PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

MhPreferencesWindow *mh_preferences_window_new (void);

G_END_DECLS

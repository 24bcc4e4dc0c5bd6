/* mh-setup-window.h: first run: set up this station, or try the demo */
#pragma once

#include <adwaita.h>

#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_SETUP_WINDOW (mh_setup_window_get_type ())

G_DECLARE_FINAL_TYPE (MhSetupWindow, mh_setup_window, MH, SETUP_WINDOW, AdwApplicationWindow)

MhSetupWindow *mh_setup_window_new (MhApplication *application);
/* "Starting the demo network…", while it starts. */
void mh_setup_window_show_starting (MhSetupWindow *self);
/* Back to the first page (the demo did not start). */
void mh_setup_window_show_welcome (MhSetupWindow *self);

G_END_DECLS

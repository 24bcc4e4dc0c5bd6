/* desktop-test-common.h: GTK set-up for the desktop widget tests
 *
 * Everything is static inline, so that each test program takes only what
 * it uses without unused-function warnings.
 */
#pragma once

#include <adwaita.h>

/* Runs what the widgets queued: idles, layout, notifications. */
static inline void
drain_main_loop (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* After g_test_init(): GTK and libadwaita when there is a display (FALSE
 * when there is none, and the tests that need one skip). GTK warns about
 * its environment under Xvfb (no session bus, icon loaders): warnings are
 * not fatal here, criticals still are. */
static inline gboolean
desktop_test_init_gtk (void)
{
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  if (!gtk_init_check ())
    return FALSE;
  adw_init ();
  return TRUE;
}

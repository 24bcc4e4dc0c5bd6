/* fuzz-common.h: what every libFuzzer target of MedHead shares
 *
 * A GLib critical is a bug the fuzzer must see: it aborts. Debug and info
 * messages are dropped, to keep the run quiet and fast.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

static void
fuzz_quiet_log (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    {
      g_printerr ("%s: %s\n", domain ? domain : "", message);
      abort ();
    }
}

static inline void
fuzz_setup_glib (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  g_log_set_default_handler (fuzz_quiet_log, NULL);
}

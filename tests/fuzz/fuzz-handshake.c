/* fuzz-handshake.c: an incoming sync frame as a link reads it before and
 * after the hello (mh_replicator_check_frame: the changes prefix, the batch
 * and its top-level members, control frames, the hello's members) */

#include <string.h>

#include "fuzz-common.h"
#include "mh-replicator.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup_glib ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  /* Exactly the bytes given: no terminating NUL past them, as a frame. */
  char *copy = g_malloc (size ? size : 1);

  memcpy (copy, data, size);
  mh_replicator_check_frame (copy, size, 3, &error);
  g_clear_error (&error);
  g_free (copy);
  return 0;
}

/* fuzz-batch.c: the change-batch decoder, with the limits a link uses and
 * with small ones (so that every bound is crossed often) */

#include "fuzz-common.h"
#include "mh-codec.h"
#include "mh-change.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup_glib ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  MhCodecLimits limits;
  MhCodecLimits small = {
    .max_bytes = 4096, .max_changes = 4, .max_string = 64,
    .max_depth = 4, .max_columns = 3, .max_signature = 16,
  };
  GPtrArray *changes;
  GError *error = NULL;

  mh_codec_limits_init (&limits);
  changes = mh_codec_decode_batch ((const char *) data, (gssize) size, &limits, &error);
  if (changes != NULL)
    {
      /* What decodes must encode, and decode again to as many changes. */
      gsize length = 0;
      char *text = mh_codec_encode_batch (changes, &length);
      GPtrArray *again = mh_codec_decode_batch (text, (gssize) length, &limits, &error);

      if (again == NULL || again->len != changes->len)
        {
          g_printerr ("re-decoding an encoded batch failed: %s\n", error ? error->message : "");
          abort ();
        }
      g_ptr_array_unref (again);
      g_free (text);
      g_ptr_array_unref (changes);
    }
  g_clear_error (&error);

  changes = mh_codec_decode_batch ((const char *) data, (gssize) size, &small, &error);
  g_clear_pointer (&changes, g_ptr_array_unref);
  g_clear_error (&error);
  return 0;
}

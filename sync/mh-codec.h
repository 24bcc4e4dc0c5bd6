/* mh-codec.h: change batches to and from JSON
 *
 * The wire form of a change is a JSON object with short keys:
 *   {"t":TABLE,"r":ROW,"g":REGISTER,"v":[VALUES…],"c":HLC,"o":ORIGIN,"s":ORIGIN_SEQ,
 *    "sv":SCHEMA_VERSION,"sig":"BASE64"}
 * and a deletion {"t":…,"r":…,"d":1,"c":…,"o":…,"s":…,"sv":…}. A batch is
 * {"changes":[…],"seals":[…]}, where a seal (see #MhSeal) is
 *   {"o":ORIGIN,"f":FIRST_OSEQ,"n":N,"sig":"BASE64 (96 bytes)","h":"BASE64 (32*N bytes)"}
 * and a change it covers has no "sig": the decoder attaches the seal of its
 * origin that covers its sequence number. A seal of one change travels in
 * it instead: "sig" is the seal's signature field, with "ss":1, and the
 * decoder makes the seal from the change's own hash. Decoding is bounded: every malformed or oversized input
 * is a MH_SYNC_ERROR_MALFORMED or MH_SYNC_ERROR_TOO_LARGE error, never a crash.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "mh-sync-types.h"

G_BEGIN_DECLS

typedef struct
{
  gsize max_bytes;    /* a whole encoded batch */
  guint max_changes;  /* changes in one batch */
  gsize max_string;   /* bytes in one string (table, row, register, value, origin) */
  guint max_depth;    /* JSON nesting */
  guint max_columns;  /* values in one register */
  gsize max_signature;/* decoded signature bytes */
} MhCodecLimits;

#define MH_CODEC_DEFAULT_MAX_BYTES (16 * 1024 * 1024)
#define MH_CODEC_DEFAULT_MAX_CHANGES 20000
#define MH_CODEC_DEFAULT_MAX_STRING (64 * 1024)
#define MH_CODEC_DEFAULT_MAX_DEPTH 16
#define MH_CODEC_DEFAULT_MAX_COLUMNS 64
#define MH_CODEC_DEFAULT_MAX_SIGNATURE 1024

void mh_codec_limits_init (MhCodecLimits *limits);

JsonNode *mh_codec_encode_change (const MhChange *change);
MhChange *mh_codec_decode_change (JsonNode *node, const MhCodecLimits *limits, GError **error);

JsonNode *mh_codec_encode_changes (GPtrArray *changes);
GPtrArray *mh_codec_decode_changes (JsonNode *array, const MhCodecLimits *limits, GError **error);

char *mh_codec_encode_batch (GPtrArray *changes, gsize *out_length);
char *mh_codec_encode_batch_unsealed (GPtrArray *changes, gsize *out_length);
GPtrArray *mh_codec_decode_batch (const char *data, gssize length, const MhCodecLimits *limits,
                                  GError **error);

gboolean mh_codec_check_depth (const char *data, gsize length, guint max_depth, GError **error);

G_END_DECLS

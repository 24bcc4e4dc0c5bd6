/* mh-sync-types.h: forward declarations for the sync library
 *
 * Every sync header includes this one instead of each other, so headers
 * never include each other in circles.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef struct _MhChange MhChange;
typedef struct _MhRow MhRow;
typedef struct _MhSeal MhSeal;
typedef struct _MhSchema MhSchema;
typedef struct _MhStore MhStore;

/**
 * MhHlc:
 *
 * A hybrid logical clock reading packed in 64 bits: physical milliseconds
 * since the Unix epoch in the high 48 bits, a logical counter in the low 16.
 * Packed readings compare as plain integers.
 */
typedef gint64 MhHlc;

#define MH_HLC_COUNTER_BITS 16
#define MH_HLC_PHYSICAL(hlc) ((gint64) ((hlc) >> MH_HLC_COUNTER_BITS))
#define MH_HLC_COUNTER(hlc) ((guint) ((hlc) & 0xffff))
#define MH_HLC_PACK(ms, counter) ((MhHlc) (((gint64) (ms) << MH_HLC_COUNTER_BITS) | ((counter) & 0xffff)))

/**
 * MhCursor:
 * @epoch: the log epoch the sequence number belongs to
 * @seq: the last local sequence number received in a lane
 *
 * Where a peer stands in one lane of a replica's log. A cursor from another
 * epoch than the replica's current one means "start again from zero".
 */
typedef struct
{
  gint64 epoch;
  gint64 seq;
} MhCursor;

G_END_DECLS

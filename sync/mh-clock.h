/* mh-clock.h: the hybrid logical clock of one replica */
#pragma once

#include "mh-sync-types.h"

G_BEGIN_DECLS

/**
 * MhClock:
 * @last: the highest reading stamped or observed; persisted by the store as
 *   the high-water mark, so readings never go back across restarts
 * @offset_ms: added to the wall clock; a test-only skew of this replica
 *
 * Invariant: every reading returned by mh_clock_now() is strictly greater
 * than every reading returned or observed before, whatever the wall clock does.
 */
typedef struct
{
  MhHlc last;
  gint64 offset_ms;
} MhClock;

gint64 mh_clock_wall_ms (const MhClock *clock);
MhHlc mh_clock_now (MhClock *clock);
void mh_clock_observe (MhClock *clock, MhHlc remote);

char *mh_hlc_to_string (MhHlc hlc);

G_END_DECLS

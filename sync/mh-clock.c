#include "config.h"

#include "mh-clock.h"

gint64
mh_clock_wall_ms (const MhClock *clock)
{
  return g_get_real_time () / 1000 + clock->offset_ms;
}

/* Stamps a local event: the wall clock when it is ahead of everything seen,
 * else one tick after the last reading (the counter overflows into the
 * millisecond, which only moves the reading slightly ahead). */
MhHlc
mh_clock_now (MhClock *clock)
{
  MhHlc physical = MH_HLC_PACK (mh_clock_wall_ms (clock), 0);

  clock->last = MAX (clock->last + 1, physical);
  return clock->last;
}

/* A received change moves the clock forward so that the next local stamp
 * orders after it. The caller only passes changes within the hold bound. */
void
mh_clock_observe (MhClock *clock, MhHlc remote)
{
  if (remote > clock->last)
    clock->last = remote;
}

char *
mh_hlc_to_string (MhHlc hlc)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT ".%04x", MH_HLC_PHYSICAL (hlc), MH_HLC_COUNTER (hlc));
}

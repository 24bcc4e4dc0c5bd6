/* bench-catchup.c: does a node answer its REST API while it catches up?
 *
 * A hub holds H hospitals (default 2,000, each with its 9 bed categories
 * as rows of their own: about 20,000 rows); a fresh node links to it and
 * catches up. Meanwhile `GET /api/v1/status` is sent to the fresh node
 * every 100 ms (one at a time) and timed. Baseline, in the same run: the
 * same probe on the same fresh node, idle, just before it links. Printed:
 * the probe's p50, p99 and max during catch-up, as ratios to the idle
 * p50, and the catch-up time (from the link being pinned
 * until the fresh node's log is as long as the hub's, seen by the probe).
 *
 * With MEDHEAD_NODE_BIN_OLD set, the rounds alternate between that binary
 * and MEDHEAD_NODE_BIN, so both see the same machine load.
 *
 * Not a test: it exits 0 unless something fails outright. Usage:
 *   bench-catchup [--hospitals N] [--rounds N]
 */
#include "config.h"

#include <stdlib.h>

#include "mh-test-net.h"

#define PROBE_INTERVAL_US (100 * 1000)
#define IDLE_PROBES 30


static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Milliseconds at that quantile (0..1) of @ms, sorted in place. */
static double
quantile (GArray *ms, double q)
{
  guint i;

  if (ms->len == 0)
    return 0;
  g_array_sort (ms, compare_double);
  i = (guint) (q * (ms->len - 1) + 0.5);
  return g_array_index (ms, double, MIN (i, ms->len - 1));
}

/* Milliseconds for one status request; @last_seq: what it answered. */
static double
probe (Net *net, gint64 *last_seq)
{
  gint64 start = g_get_monotonic_time ();
  g_autoptr(JsonObject) status = net_status (net);
  double ms = (g_get_monotonic_time () - start) / 1000.0;

  if (last_seq != NULL)
    *last_seq = json_object_get_int_member (status, "last_seq");
  return ms;
}

/* Sleeps until @next (monotonic µs), then moves it on by one interval. */
static void
pace (gint64 *next)
{
  gint64 now = g_get_monotonic_time ();

  if (*next > now)
    g_usleep (*next - now);
  *next = MAX (*next, now) + PROBE_INTERVAL_US;
}

typedef struct
{
  double idle_p50, p50, p99, max, catch_up_s;
  guint n;
} Round;

static void
run_round (const char *program, JsonNode *document, Round *out)
{
  g_autoptr(GArray) idle = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) busy = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(Net) hub = NULL;
  g_autoptr(Net) fresh = NULL;
  gint64 next, linked, deadline, target;
  Net *pair[2];

  g_setenv ("MEDHEAD_NODE_BIN", program, TRUE);
  hub = net_new ("hub", "Bench hub", NULL);
  fresh = net_new ("hub", "Bench fresh", NULL);
  mh_test_node_import_document (hub->node, document);
  hub->listen = TRUE;
  net_start (hub);
  net_start (fresh);
  {
    g_autoptr(JsonObject) status = net_status (hub);
    target = json_object_get_int_member (status, "last_seq");
  }

  next = g_get_monotonic_time ();
  for (guint i = 0; i < IDLE_PROBES; i++)
    {
      pace (&next);
      g_array_append_val (idle, (double) { probe (fresh, NULL) });
    }

  linked = g_get_monotonic_time ();
  net_link (fresh, hub);
  deadline = linked + CONVERGE_TIMEOUT_S * G_USEC_PER_SEC;
  next = linked;
  for (;;)
    {
      gint64 now, seq = 0;

      pace (&next);
      g_array_append_val (busy, (double) { probe (fresh, &seq) });
      now = g_get_monotonic_time ();
      /* Every change wins on the fresh node, so its log ends up as long as
       * the hub's: caught up. */
      if (seq >= target)
        break;
      if (now > deadline)
        fail_dump ("the fresh node did not catch up");
    }
  out->catch_up_s = (g_get_monotonic_time () - linked) / (double) G_USEC_PER_SEC;
  pair[0] = hub;
  pair[1] = fresh;
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (pair, 2), "no convergence:%s",
              describe_digests (pair, 2));
  out->n = busy->len;
  out->idle_p50 = quantile (idle, 0.5);
  out->p50 = quantile (busy, 0.5);
  out->p99 = quantile (busy, 0.99);
  out->max = quantile (busy, 1.0);
}

static void
print_round (const char *label, const Round *r)
{
  g_print ("%-4s catch-up %6.2f s | status idle p50 %6.1f ms | during: p50 %7.1f ms (x%.1f)"
           "  p99 %7.1f ms (x%.1f)  max %7.1f ms (x%.1f)  [%u probes]\n",
           label, r->catch_up_s, r->idle_p50, r->p50, r->p50 / r->idle_p50, r->p99,
           r->p99 / r->idle_p50, r->max, r->max / r->idle_p50, r->n);
}

int
main (int argc, char **argv)
{
  guint hospitals = 2000, rounds = 2;
  const char *program = g_getenv ("MEDHEAD_NODE_BIN");
  const char *old = g_getenv ("MEDHEAD_NODE_BIN_OLD");
  g_autoptr(JsonNode) document = NULL;
  g_autofree char *new_program = NULL;

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--hospitals") && i + 1 < argc)
        hospitals = (guint) atoi (argv[++i]);
      else if (g_str_equal (argv[i], "--rounds") && i + 1 < argc)
        rounds = (guint) atoi (argv[++i]);
    }
  if (program == NULL)
    g_error ("MEDHEAD_NODE_BIN must name the medhead-node program");
  new_program = g_strdup (program);
  document = net_large_registry (hospitals);
  g_print ("# %u hospitals (%u rows) on the hub; probe GET /api/v1/status every %d ms\n",
           hospitals, hospitals * (1 + (guint) NET_N_BED_CATEGORIES),
           PROBE_INTERVAL_US / 1000);
  for (guint round = 0; round < rounds; round++)
    {
      Round r;

      /* Alternate which goes first, so a drift in load favours neither. */
      for (guint k = 0; k < 2; k++)
        {
          gboolean use_old = (k == 0) == (round % 2 == 0);

          if (use_old && old == NULL)
            continue;
          run_round (use_old ? old : new_program, document, &r);
          print_round (use_old ? "old" : "new", &r);
        }
    }
  return 0;
}

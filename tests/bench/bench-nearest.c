/* bench-nearest.c: nearest-hospital latency on 10,000 generated hospitals
 *
 * In-process, through mh_node_nearest_hospitals() (the R*Tree search), and
 * for a baseline in the same run, a brute-force scan of the same replica:
 * one SQL query over every hospital with the same filters, distances
 * computed and sorted in C. Target: p99 <= 2 ms.
 *
 * Usage: bench-nearest [N_HOSPITALS [N_QUERIES]]; MEDHEAD_SEED fixes the data.
 */
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "mh-test-util.h"
#include "nearest-gen.h"

#define DEFAULT_HOSPITALS 10000
#define DEFAULT_QUERIES 2000
#define LIMIT 10
#define TARGET_P99_MS 2.0

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

typedef struct
{
  double lat;
  double lon;
  guint specialty;
  const char *category;
} Query;

static double
clock_ms (clockid_t clock)
{
  struct timespec ts;

  clock_gettime (clock, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
now_ms (void)
{
  return clock_ms (CLOCK_MONOTONIC);
}

/* CPU time of this thread: what a query costs, whatever else the machine
 * is doing (wall time on a loaded machine measures the scheduler). */
static double
cpu_ms (void)
{
  return clock_ms (CLOCK_THREAD_CPUTIME_ID);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
percentile (GArray *sorted, double p)
{
  guint index = (guint) (p * (sorted->len - 1) + 0.5);

  return g_array_index (sorted, double, index);
}

typedef struct
{
  double distance;
  gint64 rid;
} Candidate;

static int
compare_candidates (gconstpointer a, gconstpointer b)
{
  const Candidate *x = a, *y = b;

  return x->distance < y->distance ? -1 : x->distance > y->distance;
}

/* The baseline: every hospital that passes the filters, then a sort. */
static guint
brute_force (sqlite3_stmt *stmt, const Query *q, GArray *scratch)
{
  g_array_set_size (scratch, 0);
  sqlite3_bind_text (stmt, 1, q->category, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, q->specialty);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      Candidate c;

      c.rid = sqlite3_column_int64 (stmt, 0);
      c.distance = gen_haversine_m (q->lat, q->lon, sqlite3_column_double (stmt, 1),
                                    sqlite3_column_double (stmt, 2));
      g_array_append_val (scratch, c);
    }
  sqlite3_reset (stmt);
  g_array_sort (scratch, compare_candidates);
  return MIN (scratch->len, LIMIT);
}

static void
report (const char *what, GArray *times)
{
  double sum = 0;

  g_array_sort (times, compare_doubles);
  for (guint i = 0; i < times->len; i++)
    sum += g_array_index (times, double, i);
  g_print ("%-22s p50 %7.3f ms   p99 %7.3f ms   mean %7.3f ms   max %7.3f ms\n", what,
           percentile (times, 0.50), percentile (times, 0.99), sum / times->len,
           g_array_index (times, double, times->len - 1));
}

int
main (int argc, char **argv)
{
  guint n_hospitals = argc > 1 ? (guint) atoi (argv[1]) : DEFAULT_HOSPITALS;
  guint n_queries = argc > 2 ? (guint) atoi (argv[2]) : DEFAULT_QUERIES;
  guint32 seed = mh_test_seed_from_env (20240501);
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  g_autofree char *dir = mh_test_make_tmpdir ("mh-bench-nearest");
  g_autofree char *data_dir = g_build_filename (dir, "hub", NULL);
  g_autofree GenHospital *all = NULL;
  g_autoptr(JsonNode) document = NULL;
  g_autoptr(MhNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(sqlite3_stmt) scan = NULL;
  g_autoptr(GArray) rtree_times = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) scan_times = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) rtree_cpu = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) scan_cpu = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) scratch = g_array_new (FALSE, FALSE, sizeof (Candidate));
  g_autofree Query *queries = g_new0 (Query, n_queries);
  const char *const *known = mh_bed_categories ();
  double started, p99_rtree, p99_scan;
  guint answers = 0, fallbacks = 0;

  if (n_hospitals == 0 || n_queries == 0)
    {
      g_printerr ("usage: bench-nearest [N_HOSPITALS [N_QUERIES]]\n");
      return EXIT_FAILURE;
    }

  if (!mh_node_init_data_dir (data_dir, "Bench hub", MH_ROLE_HUB, NULL, NULL, &error)
      || (node = mh_node_open (data_dir, &error)) == NULL)
    g_error ("cannot make a node: %s", error->message);
  all = gen_hospitals (rand, n_hospitals);
  document = gen_document (all, n_hospitals);
  started = now_ms ();
  if (!mh_node_import (node, document, NULL, NULL, &error))
    g_error ("import failed: %s", error->message);
  g_print ("nearest: %u hospitals imported in %.1f s (seed %u)\n", n_hospitals,
           (now_ms () - started) / 1000, seed);

  /* Crews in the generated region, a specialty, a category (sometimes any). */
  for (guint i = 0; i < n_queries; i++)
    {
      queries[i].lat = g_rand_double_range (rand, 42.0, 51.0);
      queries[i].lon = g_rand_double_range (rand, -5.0, 8.0);
      queries[i].specialty = (guint) g_rand_int_range (rand, 1, 81);
      queries[i].category = g_rand_int_range (rand, 0, 10) == 0
                              ? NULL
                              : known[g_rand_int_range (rand, 0, gen_n_categories ())];
    }

  scan = NULL;
  if (sqlite3_prepare_v2 (mh_store_get_db (mh_node_get_store (node)),
                          "SELECT h._rid, h.lat, h.lon FROM hospital h"
                          " LEFT JOIN hospital_status s ON s.id = h.id"
                          " WHERE h.lat IS NOT NULL"
                          "  AND (s.ems_traffic IS NULL OR s.ems_traffic <> 'closed')"
                          "  AND (?2 = 0 OR instr(',' || h.specialties || ',',"
                          "                       ',' || ?2 || ',') > 0)"
                          "  AND (SELECT SUM(MAX(0, COALESCE(b.available, 0)"
                          "                   - COALESCE(b.committed_inbound, 0)))"
                          "       FROM beds b WHERE b.id > h.id || '/' AND b.id < h.id || '0'"
                          "        AND (?1 IS NULL OR b.category = ?1)) > 0",
                          -1, &scan, NULL)
      != SQLITE_OK)
    g_error ("cannot prepare the baseline query");

  /* Warm both up: the first queries pay for reading pages. */
  for (guint i = 0; i < MIN (n_queries, 50u); i++)
    {
      g_autoptr(JsonArray) found = mh_node_nearest_hospitals (node, queries[i].lat,
                                                              queries[i].lon,
                                                              queries[i].specialty,
                                                              queries[i].category, LIMIT, NULL);
      brute_force (scan, &queries[i], scratch);
    }

  for (guint i = 0; i < n_queries; i++)
    {
      g_autoptr(JsonArray) found = NULL;
      double c0 = cpu_ms (), t0 = now_ms (), t1, c1;

      found = mh_node_nearest_hospitals (node, queries[i].lat, queries[i].lon,
                                         queries[i].specialty, queries[i].category, LIMIT,
                                         &error);
      t1 = now_ms () - t0;
      c1 = cpu_ms () - c0;
      if (found == NULL)
        g_error ("query failed: %s", error->message);
      g_array_append_val (rtree_times, t1);
      g_array_append_val (rtree_cpu, c1);
      answers += json_array_get_length (found);
      if (json_array_get_length (found) > 0
          && json_object_get_boolean_member (json_array_get_object_element (found, 0),
                                             "fallback"))
        fallbacks++;
    }
  for (guint i = 0; i < n_queries; i++)
    {
      double c0 = cpu_ms (), t0 = now_ms (), t1, c1;

      brute_force (scan, &queries[i], scratch);
      t1 = now_ms () - t0;
      c1 = cpu_ms () - c0;
      g_array_append_val (scan_times, t1);
      g_array_append_val (scan_cpu, c1);
    }

  g_print ("nearest: %u queries, limit %d, %u answers, %u fallbacks\n", n_queries, LIMIT, answers,
           fallbacks);
  {
    double load[1] = { 0 };

    if (getloadavg (load, 1) == 1)
      g_print ("nearest: load average %.2f on %u CPUs\n", load[0], g_get_num_processors ());
  }
  report ("R*Tree search, wall", rtree_times);
  report ("R*Tree search, CPU", rtree_cpu);
  report ("brute force, wall", scan_times);
  report ("brute force, CPU", scan_cpu);
  p99_rtree = percentile (rtree_times, 0.99);
  p99_scan = percentile (scan_times, 0.99);
  g_print ("nearest: wall p50 speed-up %.1fx, p99 speed-up %.1fx; CPU p50 %.1fx, p99 %.1fx\n",
           percentile (scan_times, 0.50) / percentile (rtree_times, 0.50), p99_scan / p99_rtree,
           percentile (scan_cpu, 0.50) / percentile (rtree_cpu, 0.50),
           percentile (scan_cpu, 0.99) / percentile (rtree_cpu, 0.99));
  g_print ("nearest: target p99 <= %.1f ms: wall %s, CPU %s\n", TARGET_P99_MS,
           p99_rtree <= TARGET_P99_MS ? "met" : "MISSED",
           percentile (rtree_cpu, 0.99) <= TARGET_P99_MS ? "met" : "MISSED");

  g_clear_pointer (&scan, sqlite3_finalize);
  g_clear_object (&node);
  mh_test_rm_rf (dir);
  return EXIT_SUCCESS;
}

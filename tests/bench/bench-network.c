/* bench-network.c: the peer network over real TLS links, against the store alone
 *
 * Measures, in one run and on one machine (every baseline is measured in
 * the same run, so the figures are ratios that travel between machines):
 *
 * 1. initial sync: node A holds N rows (default 100,000) of a beds table
 *    shaped like the product's (3 registers; ids "UUID/category"), written
 *    with mh_store_write_values() in transactions of 1,000 before any link;
 *    a fresh node B calls A and catches up. Timed from the link's start to
 *    B's digests equal to A's (checked on B's "committed" signal), with
 *    synchronous=FULL (the store's default) and, at the end if time
 *    allows, NORMAL. Baseline: the same rows read from A's log with
 *    mh_store_read_lane() in pages of 256 log entries (as a link reads
 *    them) and applied to a fresh local store with mh_store_apply(), no
 *    codec, no network;
 * 2. live propagation: single-register bed updates committed one by one on
 *    A, 5-10 ms apart, after catch-up with the links open; latency from the
 *    start of the write call on A to the store's "changed" signal for that
 *    row on the far node: one hop (A-B), then three hops (A-B-C-D in a
 *    line, where C and D first catch up through B); each with FULL, then
 *    with NORMAL on every node (the fsyncs' share). Baseline: the local
 *    write call on A itself (its commit and fsync);
 * 3. bytes on the wire for one live bed update: the application bytes of
 *    the changes frame and of its acknowledgement (the link counters of
 *    mh_replicator_get_peer_status()), and the TCP payload bytes of the
 *    same frames (TLS records and WebSocket headers included), read from
 *    the kernel's TCP_INFO of the link's own socket.
 *
 * Each node is a process of its own, as in production (this program
 * started again with --node): the replicator puts its sources on the
 * global default main context (g_idle_add, g_timeout_add), so two
 * replicators cannot run in two threads of one process, each with its own
 * thread-default context. The parent drives the nodes over their
 * stdin/stdout, one JSON reply line per command. Latencies are differences
 * of g_get_monotonic_time() (CLOCK_MONOTONIC), the same clock in every
 * process of the machine. Every node reports its CPU time and its run
 * delay (time runnable but waiting for a CPU), which tell a slow program
 * from a busy machine.
 *
 * Not a test: it exits 0 unless something fails outright. Usage:
 *   bench-network [--rows N] [--updates N] [--samples N]
 *                 [--sync auto|both|full|normal] [--no-chain] [--dir DIR]
 * For a closer look: MEDHEAD_BENCH_DUMP=FILE appends every live update's
 * timings to FILE; MEDHEAD_BENCH_WRAP="b valgrind --tool=callgrind" starts
 * node b (or a, c, d) under that command; MEDHEAD_BENCH_VERBOSE=1 keeps the
 * nodes' messages.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mh-identity.h"
#include "mh-peers.h"
#include "mh-replicator.h"
#include "mh-sync.h"
#include "mh-test-util.h"

#define TABLE "beds"
#define LANE_BEDS 2
#define N_CATEGORIES 9
#define TXN_ROWS 1000
#define PAGE_ENTRIES 256 /* BATCH_ENTRIES in sync/mh-replicator.c */
#define DESK_NAME "St Luke's ED desk"
#define SYNC_TIMEOUT_MS (240 * 1000)

/* The product's bed categories (node/mh-medhead-validate.c). */
static const char *const categories[N_CATEGORIES] = {
  "adult_icu", "pediatric_icu", "medical_surgical", "pediatrics", "psychiatric", "burn",
  "negative_pressure_isolation", "other_isolation", "operating_rooms",
};

/* ------------------------------------------------------------------------ */
/* Data, shared by the parent and the nodes                                 */

static guint64
mix64 (guint64 x)
{
  x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return x ^ (x >> 31);
}

/* A version 4 UUID for hospital @h: 36 characters. */
static void
hospital_uuid (guint h, char buf[40])
{
  guint64 a = mix64 (h), b = mix64 (a ^ h);

  g_snprintf (buf, 40, "%08x-%04x-4%03x-%04x-%012" G_GINT64_MODIFIER "x", (guint32) (a >> 32),
              (guint) (a >> 16) & 0xffff, (guint) a & 0xfff, 0x8000 | ((guint) (b >> 48) & 0x3fff),
              b & G_GUINT64_CONSTANT (0xffffffffffff));
}

/* Row @i: hospital i / 9, category i % 9, as "UUID/category". */
static void
row_id (guint i, char buf[80], char uuid[40])
{
  hospital_uuid (i / N_CATEGORIES, uuid);
  g_snprintf (buf, 80, "%s/%s", uuid, categories[i % N_CATEGORIES]);
}

/* Live update @k writes the adult_icu row of a hospital spread over the
 * table; distinct for k below the number of whole hospitals. */
static guint
update_row (guint rows, guint k)
{
  guint hospitals = rows / N_CATEGORIES;

  return (guint) (((guint64) k * 7919) % hospitals) * N_CATEGORIES;
}

static MhSchema *
make_schema (void)
{
  MhSchema *schema = mh_schema_new (1);
  g_autoptr(GError) error = NULL;
  guint beds;

  /* The product's lanes and weights (node/mh-medhead-schema.c), and its
   * beds table; the other tables stay empty here. */
  mh_schema_add_lane (schema, "registry", 4);
  mh_schema_add_lane (schema, "transfers", 4);
  beds = mh_schema_add_lane (schema, "beds", 3);
  mh_schema_add_lane (schema, "positions", 1);
  mh_schema_add_lane (schema, "chat", 2);
  g_assert (beds == LANE_BEDS);
  if (!mh_schema_add_table (schema, TABLE, beds, MH_TABLE_NONE, &error))
    g_error ("schema: %s", error->message);
  if (!mh_schema_add_register (schema, TABLE, "key", MH_REGISTER_NONE, "hospital_id",
                               MH_COLUMN_TEXT, "category", MH_COLUMN_TEXT, NULL)
      || !mh_schema_add_register (schema, TABLE, "reported", MH_REGISTER_HISTORY, "available",
                                  MH_COLUMN_INTEGER, "baseline", MH_COLUMN_INTEGER, "surge_24h",
                                  MH_COLUMN_INTEGER, "reported_at", MH_COLUMN_INTEGER,
                                  "reported_by", MH_COLUMN_TEXT, NULL)
      || !mh_schema_add_register (schema, TABLE, "committed", MH_REGISTER_NONE,
                                  "committed_inbound", MH_COLUMN_INTEGER, NULL))
    g_error ("schema: cannot declare registers");
  return schema;
}

static double
cpu_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Time this process's threads spent runnable but waiting for a CPU (the
 * scheduler's run delay, /proc/PID/task/TID/schedstat): on a shared
 * machine, the part of a wall-clock figure that other programs took. */
static double
run_delay_s (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *tid;
  guint64 total = 0;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", tid, "schedstat", NULL);
      g_autofree char *text = NULL;
      g_auto(GStrv) fields = NULL;

      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;
      fields = g_strsplit (text, " ", 3);
      if (g_strv_length (fields) >= 2)
        total += g_ascii_strtoull (fields[1], NULL, 10);
    }
  return total / 1e9;
}

/* ======================================================================== */
/* A node: one process, driven over stdin/stdout                            */

typedef struct
{
  char *name;
  char *dir;
  guint rows;
  FILE *out; /* replies: the original stdout */
  GMainLoop *loop;
  GString *input;
  MhSchema *schema;
  MhIdentity *identity;
  MhStore *store;
  MhReplicator *replicator;
  guint16 port;

  /* expect / wait-synced */
  GHashTable *expect; /* bucket -> digest string */
  gint64 t_synced;
  gboolean sync_waiting;
  guint sync_timeout_id;

  /* watch / watch-wait */
  GHashTable *watch_rows; /* row -> index + 1 */
  gint64 *seen;
  guint n_watch;
  guint n_seen;
  gboolean watch_snap;
  char *snap; /* counters when the first watched row showed, as JSON */
  gboolean watch_waiting;
  guint watch_timeout_id;

  /* live */
  guint live_k0;
  guint live_n;
  guint live_i;
  guint live_min_ms;
  guint live_max_ms;
  gint64 *live_start;
  gint64 *live_dur;
  gint64 *live_durable; /* deferred durability: write start to on the disk */
  guint live_pending;   /* syncs still awaited */
  GRand *rand;
} Node;

static void G_GNUC_PRINTF (2, 3)
reply (Node *node, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  vfprintf (node->out, format, args);
  va_end (args);
  fputc ('\n', node->out);
  fflush (node->out);
}

static void
set_int (GValue *value, gint64 v)
{
  g_value_init (value, G_TYPE_INT64);
  g_value_set_int64 (value, v);
}

static void
set_static_string (GValue *value, const char *v)
{
  g_value_init (value, G_TYPE_STRING);
  g_value_set_static_string (value, v);
}

typedef struct
{
  guint start;
  guint end;
} Range;

static gboolean
populate_txn (MhStore *store, gpointer user_data, GError **error)
{
  static const char *const columns[] = { "hospital_id", "category", "available", "baseline",
                                         "surge_24h", "reported_at", "reported_by",
                                         "committed_inbound" };
  Range *range = user_data;
  gint64 now = g_get_real_time () / 1000;

  for (guint i = range->start; i < range->end; i++)
    {
      GValue values[G_N_ELEMENTS (columns)] = { G_VALUE_INIT, G_VALUE_INIT, G_VALUE_INIT,
                                                G_VALUE_INIT, G_VALUE_INIT, G_VALUE_INIT,
                                                G_VALUE_INIT, G_VALUE_INIT };
      char uuid[40], row[80];
      gint64 baseline = 4 + (i * 7) % 40;
      gboolean ok;

      row_id (i, row, uuid);
      set_static_string (&values[0], uuid);
      set_static_string (&values[1], categories[i % N_CATEGORIES]);
      set_int (&values[2], (i * 13) % (baseline + 1));
      set_int (&values[3], baseline);
      set_int (&values[4], i % 5);
      set_int (&values[5], now - (i % 3600) * 1000);
      set_static_string (&values[6], DESK_NAME);
      set_int (&values[7], i % 3);
      ok = mh_store_write_values (store, TABLE, row, MH_WRITE_INSERT, G_N_ELEMENTS (columns),
                                  columns, values, error);
      for (guint c = 0; c < G_N_ELEMENTS (columns); c++)
        g_value_unset (&values[c]);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

/* One bed count reported at the desk: one register, committed alone. */
static gint64
write_update (Node *node, guint k)
{
  static const char *const columns[] = { "available", "baseline", "surge_24h", "reported_at",
                                         "reported_by" };
  GValue values[G_N_ELEMENTS (columns)] = { G_VALUE_INIT, G_VALUE_INIT, G_VALUE_INIT,
                                            G_VALUE_INIT, G_VALUE_INIT };
  g_autoptr(GError) error = NULL;
  char uuid[40], row[80];
  gint64 t0;

  row_id (update_row (node->rows, k), row, uuid);
  set_int (&values[0], k % 23);
  set_int (&values[1], 24);
  set_int (&values[2], 4);
  set_int (&values[3], g_get_real_time () / 1000);
  set_static_string (&values[4], DESK_NAME);
  t0 = g_get_monotonic_time ();
  if (!mh_store_write_values (node->store, TABLE, row, MH_WRITE_UPDATE, G_N_ELEMENTS (columns),
                              columns, values, &error))
    g_error ("update %s: %s", row, error->message);
  t0 = g_get_monotonic_time () - t0;
  for (guint c = 0; c < G_N_ELEMENTS (columns); c++)
    g_value_unset (&values[c]);
  return t0;
}

static void
append_digests (GString *out, MhStore *store)
{
  g_autoptr(GHashTable) digests = mh_store_list_digests (store);
  GHashTableIter iter;
  const char *bucket, *value;
  gboolean first = TRUE;

  g_string_append_c (out, '{');
  g_hash_table_iter_init (&iter, digests);
  while (g_hash_table_iter_next (&iter, (gpointer *) &bucket, (gpointer *) &value))
    {
      g_string_append_printf (out, "%s\"%s\":\"%s\"", first ? "" : ",", bucket, value);
      first = FALSE;
    }
  g_string_append_c (out, '}');
}

static gboolean
digests_match (MhStore *store, GHashTable *expect)
{
  g_autoptr(GHashTable) digests = mh_store_list_digests (store);
  GHashTableIter iter;
  const char *bucket, *value;

  if (g_hash_table_size (digests) != g_hash_table_size (expect))
    return FALSE;
  g_hash_table_iter_init (&iter, expect);
  while (g_hash_table_iter_next (&iter, (gpointer *) &bucket, (gpointer *) &value))
    if (g_strcmp0 (value, g_hash_table_lookup (digests, bucket)) != 0)
      return FALSE;
  return TRUE;
}

/* The established TCP sockets of this process, with the kernel's counters:
 * TCP payload bytes, that is TLS records (WebSocket frames inside). */
static void
append_tcp (GString *out)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;
  gboolean first = TRUE;

  g_string_append_c (out, '[');
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      int fd = atoi (name);
      struct sockaddr_in local, peer;
      socklen_t len = sizeof local;
      struct tcp_info info;
      int nodelay = 0;

      memset (&local, 0, sizeof local);
      memset (&peer, 0, sizeof peer);
      memset (&info, 0, sizeof info);
      if (getsockname (fd, (struct sockaddr *) &local, &len) != 0 || local.sin_family != AF_INET)
        continue;
      len = sizeof peer;
      if (getpeername (fd, (struct sockaddr *) &peer, &len) != 0)
        continue;
      len = sizeof info;
      if (getsockopt (fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0
          || info.tcpi_state != 1 /* TCP_ESTABLISHED */)
        continue;
      len = sizeof nodelay;
      getsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
      g_string_append_printf (out, "%s{\"local\":%u,\"peer\":%u,\"sent\":%" G_GUINT64_FORMAT
                              ",\"received\":%" G_GUINT64_FORMAT ",\"retrans\":%" G_GUINT64_FORMAT
                              ",\"segs_out\":%u,\"segs_in\":%u,\"data_segs_out\":%u,"
                              "\"data_segs_in\":%u,\"rtt_us\":%u,\"nodelay\":%d}",
                              first ? "" : ",", ntohs (local.sin_port), ntohs (peer.sin_port),
                              (guint64) info.tcpi_bytes_sent, (guint64) info.tcpi_bytes_received,
                              (guint64) info.tcpi_bytes_retrans, info.tcpi_segs_out,
                              info.tcpi_segs_in, info.tcpi_data_segs_out, info.tcpi_data_segs_in,
                              info.tcpi_rtt, nodelay);
      first = FALSE;
    }
  g_string_append_c (out, ']');
}

/* Link counters, TCP counters, CPU time and the log's position. */
static char *
counters_json (Node *node)
{
  g_autoptr(JsonArray) status = mh_replicator_get_peer_status (node->replicator);
  GString *out = g_string_new (NULL);

  g_string_append_printf (out, "{\"cpu\":%.6f,\"wait\":%.6f,\"epoch\":%" G_GINT64_FORMAT
                          ",\"last_seq\":%" G_GINT64_FORMAT ",\"app\":[", cpu_s (), run_delay_s (),
                          mh_store_get_epoch (node->store), mh_store_get_last_seq (node->store));
  for (guint i = 0; i < json_array_get_length (status); i++)
    {
      JsonObject *peer = json_array_get_object_element (status, i);

      g_string_append_printf (out, "%s{\"fp\":\"%s\",\"connected\":%s,\"sent\":%" G_GINT64_FORMAT
                              ",\"received\":%" G_GINT64_FORMAT "}", i ? "," : "",
                              json_object_get_string_member (peer, "fingerprint"),
                              json_object_get_boolean_member (peer, "connected") ? "true"
                                                                                 : "false",
                              json_object_get_int_member (peer, "bytes_sent"),
                              json_object_get_int_member (peer, "bytes_received"));
    }
  g_string_append (out, "],\"tcp\":");
  append_tcp (out);
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}

static void
reply_synced (Node *node, gboolean ok)
{
  node->sync_waiting = FALSE;
  g_clear_handle_id (&node->sync_timeout_id, g_source_remove);
  reply (node, "{\"ok\":%s,\"t_end\":%" G_GINT64_FORMAT ",\"cpu\":%.6f,\"wait\":%.6f}",
         ok ? "true" : "false", node->t_synced, cpu_s (), run_delay_s ());
}

static void
committed_cb (MhStore *store, gint64 seq, gpointer data)
{
  Node *node = data;

  if (node->expect == NULL || node->t_synced != 0 || !digests_match (store, node->expect))
    return;
  node->t_synced = g_get_monotonic_time ();
  if (node->sync_waiting)
    reply_synced (node, TRUE);
}

static gboolean
sync_timeout_cb (gpointer data)
{
  Node *node = data;

  node->sync_timeout_id = 0;
  reply_synced (node, FALSE);
  return G_SOURCE_REMOVE;
}

static void
reply_watch (Node *node)
{
  GString *out = g_string_new ("{\"seen\":[");

  node->watch_waiting = FALSE;
  g_clear_handle_id (&node->watch_timeout_id, g_source_remove);
  for (guint i = 0; i < node->n_watch; i++)
    g_string_append_printf (out, "%s%" G_GINT64_FORMAT, i ? "," : "", node->seen[i]);
  g_string_append_printf (out, "],\"snap\":%s}", node->snap ? node->snap : "null");
  reply (node, "%s", out->str);
  g_string_free (out, TRUE);
}

static void
changed_cb (MhStore *store, const char *table, const char *row, gpointer data)
{
  Node *node = data;
  gint64 now = g_get_monotonic_time ();
  guint index;

  if (node->watch_rows == NULL || row == NULL)
    return;
  index = GPOINTER_TO_UINT (g_hash_table_lookup (node->watch_rows, row));
  if (index == 0 || node->seen[index - 1] != 0)
    return;
  node->seen[index - 1] = now;
  if (node->watch_snap && node->snap == NULL)
    node->snap = counters_json (node);
  if (++node->n_seen == node->n_watch && node->watch_waiting)
    reply_watch (node);
}

static gboolean
watch_timeout_cb (gpointer data)
{
  Node *node = data;

  node->watch_timeout_id = 0;
  reply_watch (node);
  return G_SOURCE_REMOVE;
}

static void
reply_live (Node *node)
{
  GString *out = g_string_new ("{\"start\":[");

  for (guint i = 0; i < node->live_n; i++)
    g_string_append_printf (out, "%s%" G_GINT64_FORMAT, i ? "," : "", node->live_start[i]);
  g_string_append (out, "],\"dur\":[");
  for (guint i = 0; i < node->live_n; i++)
    g_string_append_printf (out, "%s%" G_GINT64_FORMAT, i ? "," : "", node->live_dur[i]);
  g_string_append (out, "],\"durable\":[");
  for (guint i = 0; i < node->live_n; i++)
    g_string_append_printf (out, "%s%" G_GINT64_FORMAT, i ? "," : "", node->live_durable[i]);
  g_string_append (out, "]}");
  reply (node, "%s", out->str);
  g_string_free (out, TRUE);
  g_clear_pointer (&node->live_start, g_free);
  g_clear_pointer (&node->live_dur, g_free);
  g_clear_pointer (&node->live_durable, g_free);
}

typedef struct
{
  Node *node;
  guint i;
} Durable;

static void
durable_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Durable *d = data;
  Node *node = d->node;
  g_autoptr(GError) error = NULL;

  if (!mh_store_wait_synced_finish (MH_STORE (source), result, &error))
    g_error ("sync: %s", error->message);
  node->live_durable[d->i] = g_get_monotonic_time () - node->live_start[d->i];
  g_free (d);
  if (--node->live_pending == 0 && node->live_i == node->live_n)
    reply_live (node);
}

static gboolean
live_tick_cb (gpointer data)
{
  Node *node = data;
  guint i = node->live_i++;

  node->live_start[i] = g_get_monotonic_time ();
  node->live_dur[i] = write_update (node, node->live_k0 + i);
  if (!mh_store_is_synced (node->store, mh_store_get_sync_ticket (node->store)))
    {
      Durable *d = g_new (Durable, 1);

      d->node = node;
      d->i = i;
      node->live_pending++;
      mh_store_wait_synced_async (node->store, mh_store_get_sync_ticket (node->store), NULL,
                                  durable_cb, d);
    }
  else
    node->live_durable[i] = node->live_dur[i];
  if (node->live_i == node->live_n)
    {
      /* Or from durable_cb(), once the last sync is in. */
      if (node->live_pending == 0)
        reply_live (node);
    }
  else
    g_timeout_add (g_rand_int_range (node->rand, node->live_min_ms, node->live_max_ms + 1),
                   live_tick_cb, node);
  return G_SOURCE_REMOVE;
}

/* The local baseline: A's log read in pages as a link reads it, applied to
 * a fresh store in this process; no codec, no network. The JSON codec's
 * share of a link is timed on the side, out of the baseline's time. */
static void
cmd_baseline (Node *node, gboolean full)
{
  g_autofree char *path = g_build_filename (node->dir, full ? "baseline-full.db"
                                                            : "baseline-normal.db", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MhStore) target = NULL;
  MhCursor cursor = { 0, 0 };
  gboolean more = TRUE;
  guint n_changes = 0, n_pages = 0;
  gint64 t0, t, read_us = 0, apply_us = 0, encode_us = 0, decode_us = 0, json_bytes = 0;
  gint64 deflate_in = 0, deflate_out = 0;
  guint n_sampled = 0;
  double c0, cpu, w0, wait;
  gboolean equal;

  target = mh_store_open (path, node->schema, "bench-baseline-site-000000", &error);
  if (target == NULL)
    g_error ("%s: %s", path, error->message);
  if (!full)
    sqlite3_exec (mh_store_get_db (target), "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);

  t0 = g_get_monotonic_time ();
  c0 = cpu_s ();
  w0 = run_delay_s ();
  while (more)
    {
      g_autoptr(GPtrArray) page = NULL;
      MhApplyReport report;

      t = g_get_monotonic_time ();
      page = mh_store_read_lane (node->store, LANE_BEDS, &cursor, PAGE_ENTRIES, NULL, &more,
                                 &error);
      if (page == NULL)
        g_error ("reading the log: %s", error->message);
      read_us += g_get_monotonic_time () - t;
      t = g_get_monotonic_time ();
      if (!mh_store_apply (target, page, &report, &error))
        g_error ("applying: %s", error->message);
      apply_us += g_get_monotonic_time () - t;
      n_changes += page->len;
      n_pages++;
    }
  t = g_get_monotonic_time () - t0;
  cpu = cpu_s () - c0;
  wait = run_delay_s () - w0;
  {
    g_autoptr(GHashTable) source = mh_store_list_digests (node->store);
    equal = digests_match (target, source);
  }

  /* The codec's share of a link, on the same pages: not in the baseline. */
  cursor.epoch = cursor.seq = 0;
  more = TRUE;
  while (more)
    {
      g_autoptr(GPtrArray) page = mh_store_read_lane (node->store, LANE_BEDS, &cursor,
                                                      PAGE_ENTRIES, NULL, &more, &error);
      g_autoptr(GPtrArray) decoded = NULL;
      g_autofree char *text = NULL;
      gsize length = 0;
      gint64 t1;

      if (page == NULL)
        g_error ("reading the log: %s", error->message);
      t1 = g_get_monotonic_time ();
      text = mh_codec_encode_batch (page, &length);
      encode_us += g_get_monotonic_time () - t1;
      t1 = g_get_monotonic_time ();
      decoded = mh_codec_decode_batch (text, (gssize) length, NULL, &error);
      if (decoded == NULL)
        g_error ("decoding: %s", error->message);
      decode_us += g_get_monotonic_time () - t1;
      json_bytes += (gint64) length;
      /* What permessage-deflate would make of a page (every 8th; each
       * page alone, so no context carried over from the previous one). */
      if (n_sampled++ % 8 == 0)
        {
          g_autoptr(GZlibCompressor) z = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_RAW, -1);
          g_autofree guint8 *out = g_malloc (length + 4096);
          gsize read = 0, written = 0;

          if (g_converter_convert (G_CONVERTER (z), text, length, out, length + 4096,
                                   G_CONVERTER_INPUT_AT_END, &read, &written, NULL)
              == G_CONVERTER_FINISHED)
            {
              deflate_in += (gint64) length;
              deflate_out += (gint64) written;
            }
        }
    }

  g_clear_object (&target);
  {
    g_autofree char *wal = g_strconcat (path, "-wal", NULL);
    g_autofree char *shm = g_strconcat (path, "-shm", NULL);
    g_unlink (path);
    g_unlink (wal);
    g_unlink (shm);
  }
  reply (node, "{\"secs\":%.6f,\"read\":%.6f,\"apply\":%.6f,\"cpu\":%.6f,\"wait\":%.6f,"
         "\"changes\":%u,"
         "\"pages\":%u,\"equal\":%s,\"encode\":%.6f,\"decode\":%.6f,\"json_bytes\":%" G_GINT64_FORMAT
         ",\"deflate_ratio\":%.4f}", t / 1e6, read_us / 1e6, apply_us / 1e6, cpu, wait, n_changes, n_pages,
         equal ? "true" : "false", encode_us / 1e6, decode_us / 1e6, json_bytes,
         deflate_in ? (double) deflate_out / deflate_in : 1.0);
}

static void
cmd_populate (Node *node, guint rows)
{
  gint64 t0 = g_get_monotonic_time ();
  double c0 = cpu_s ();

  for (guint start = 0; start < rows; start += TXN_ROWS)
    {
      Range range = { start, MIN (start + TXN_ROWS, rows) };
      g_autoptr(GError) error = NULL;

      if (!mh_store_transact (node->store, populate_txn, &range, &error))
        g_error ("populate: %s", error->message);
    }
  reply (node, "{\"secs\":%.6f,\"cpu\":%.6f,\"last_seq\":%" G_GINT64_FORMAT "}",
         (g_get_monotonic_time () - t0) / 1e6, cpu_s () - c0, mh_store_get_last_seq (node->store));
}

static void
cmd_expect (Node *node, const char *json)
{
  g_autoptr(JsonNode) root = json_from_string (json, NULL);
  JsonObject *object;
  GList *members;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    g_error ("expect: not a JSON object");
  object = json_node_get_object (root);
  g_clear_pointer (&node->expect, g_hash_table_unref);
  node->expect = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    g_hash_table_insert (node->expect, g_strdup (l->data),
                         g_strdup (json_object_get_string_member (object, l->data)));
  g_list_free (members);
  node->t_synced = digests_match (node->store, node->expect) ? g_get_monotonic_time () : 0;
  reply (node, "{\"ok\":true}");
}

static void
cmd_watch (Node *node, guint k0, guint n, gboolean snap)
{
  g_clear_pointer (&node->watch_rows, g_hash_table_unref);
  g_clear_pointer (&node->seen, g_free);
  g_clear_pointer (&node->snap, g_free);
  node->watch_rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  node->seen = g_new0 (gint64, n);
  node->n_watch = n;
  node->n_seen = 0;
  node->watch_snap = snap;
  for (guint i = 0; i < n; i++)
    {
      char uuid[40], row[80];

      row_id (update_row (node->rows, k0 + i), row, uuid);
      g_hash_table_insert (node->watch_rows, g_strdup (row), GUINT_TO_POINTER (i + 1));
    }
  if (g_hash_table_size (node->watch_rows) != n)
    g_error ("watch: the updates do not write distinct rows (too few rows)");
  reply (node, "{\"ok\":true}");
}

static void
quit_node (Node *node)
{
  g_main_loop_quit (node->loop);
}

static void
handle_line (Node *node, const char *line)
{
  g_auto(GStrv) argv = g_strsplit (line, " ", 0);
  guint argc = g_strv_length (argv);
  const char *cmd = argc > 0 ? argv[0] : "";
  g_autoptr(GError) error = NULL;

#define ARG_UINT(i) ((guint) g_ascii_strtoull (argc > (i) ? argv[i] : "0", NULL, 10))
  if (g_str_equal (cmd, "pin"))
    {
      if (!mh_peers_add (node->store, argv[1], g_str_equal (argv[2], "-") ? NULL : argv[2],
                         &error))
        g_error ("pin: %s", error->message);
      reply (node, "{\"ok\":true}");
    }
  else if (g_str_equal (cmd, "unpin"))
    {
      mh_peers_remove (node->store, argv[1], NULL);
      mh_replicator_reload_peers (node->replicator);
      reply (node, "{\"ok\":true}");
    }
  else if (g_str_equal (cmd, "populate"))
    cmd_populate (node, ARG_UINT (1));
  else if (g_str_equal (cmd, "baseline"))
    cmd_baseline (node, g_str_equal (argv[1], "full"));
  else if (g_str_equal (cmd, "synchronous"))
    {
      /* full, normal, or deferred (what medhead-node does: commit without
       * waiting, a thread syncs the WAL behind, mh_store_set_deferred_sync()). */
      mh_store_end_deferred_sync (node->store);
      if (g_str_equal (argv[1], "deferred"))
        {
          if (!mh_store_set_deferred_sync (node->store, &error))
            g_error ("deferred: %s", error->message);
        }
      else
        sqlite3_exec (mh_store_get_db (node->store),
                      g_str_equal (argv[1], "full") ? "PRAGMA synchronous = FULL"
                                                    : "PRAGMA synchronous = NORMAL",
                      NULL, NULL, NULL);
      reply (node, "{\"ok\":true}");
    }
  else if (g_str_equal (cmd, "digests"))
    {
      g_autoptr(GString) out = g_string_new ("{\"digests\":");

      append_digests (out, node->store);
      g_string_append_printf (out, ",\"last_seq\":%" G_GINT64_FORMAT ",\"epoch\":%"
                              G_GINT64_FORMAT "}", mh_store_get_last_seq (node->store),
                              mh_store_get_epoch (node->store));
      reply (node, "%s", out->str);
    }
  else if (g_str_equal (cmd, "expect"))
    cmd_expect (node, line + strlen ("expect "));
  else if (g_str_equal (cmd, "start"))
    {
      gint64 t0 = g_get_monotonic_time ();
      double c0 = cpu_s ();

      double w0 = run_delay_s ();

      mh_replicator_start (node->replicator);
      reply (node, "{\"t0\":%" G_GINT64_FORMAT ",\"cpu\":%.6f,\"wait\":%.6f}", t0, c0, w0);
    }
  else if (g_str_equal (cmd, "wait-synced"))
    {
      if (node->expect == NULL)
        g_error ("wait-synced before expect");
      if (node->t_synced != 0)
        reply_synced (node, TRUE);
      else
        {
          node->sync_waiting = TRUE;
          node->sync_timeout_id = g_timeout_add (ARG_UINT (1), sync_timeout_cb, node);
        }
    }
  else if (g_str_equal (cmd, "counters"))
    {
      g_autofree char *json = counters_json (node);
      reply (node, "%s", json);
    }
  else if (g_str_equal (cmd, "watch"))
    cmd_watch (node, ARG_UINT (1), ARG_UINT (2), argc > 3 && g_str_equal (argv[3], "snap"));
  else if (g_str_equal (cmd, "watch-wait"))
    {
      if (node->n_seen == node->n_watch)
        reply_watch (node);
      else
        {
          node->watch_waiting = TRUE;
          node->watch_timeout_id = g_timeout_add (ARG_UINT (1), watch_timeout_cb, node);
        }
    }
  else if (g_str_equal (cmd, "live"))
    {
      node->live_k0 = ARG_UINT (1);
      node->live_n = ARG_UINT (2);
      node->live_min_ms = ARG_UINT (3);
      node->live_max_ms = MAX (ARG_UINT (4), node->live_min_ms);
      node->live_i = 0;
      node->live_start = g_new0 (gint64, MAX (node->live_n, 1));
      node->live_dur = g_new0 (gint64, MAX (node->live_n, 1));
      node->live_durable = g_new0 (gint64, MAX (node->live_n, 1));
      node->live_pending = 0;
      if (node->live_n == 0)
        reply_live (node);
      else
        g_timeout_add (node->live_min_ms, live_tick_cb, node);
    }
  else if (g_str_equal (cmd, "update"))
    {
      gint64 t0 = g_get_monotonic_time ();
      gint64 dur = write_update (node, ARG_UINT (1));
      reply (node, "{\"t\":%" G_GINT64_FORMAT ",\"dur\":%" G_GINT64_FORMAT "}", t0, dur);
    }
  else if (g_str_equal (cmd, "frame"))
    {
      /* The changes frame of the last change in the beds lane, written as
       * link_pump() in sync/mh-replicator.c writes it. */
      MhCursor cursor = { mh_store_get_epoch (node->store), mh_store_get_last_seq (node->store) - 1 };
      g_autoptr(GPtrArray) page = mh_store_read_lane (node->store, LANE_BEDS, &cursor, 1, NULL,
                                                      NULL, &error);
      g_autofree char *batch = page ? mh_codec_encode_batch (page, NULL) : NULL;
      g_autofree char *text = NULL;
      g_autoptr(JsonNode) string = json_node_new (JSON_NODE_VALUE);

      if (batch == NULL)
        g_error ("frame: cannot read the log");
      text = g_strdup_printf ("{\"type\":\"changes\",\"lane\":%d,\"epoch\":%" G_GINT64_FORMAT
                              ",\"to\":%" G_GINT64_FORMAT ",%s", LANE_BEDS, cursor.epoch,
                              cursor.seq, batch + 1);
      json_node_set_string (string, text);
      g_free (batch);
      batch = json_to_string (string, FALSE);
      reply (node, "{\"frame\":%s}", batch);
    }
  else if (g_str_equal (cmd, "quit"))
    quit_node (node);
  else
    reply (node, "{\"error\":\"unknown command\"}");
#undef ARG_UINT
}

static gboolean
stdin_cb (gint fd, GIOCondition condition, gpointer data)
{
  Node *node = data;
  char buf[65536];
  gssize n = read (fd, buf, sizeof buf);
  char *nl;

  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      /* The parent is gone: stop. */
      quit_node (node);
      return G_SOURCE_REMOVE;
    }
  g_string_append_len (node->input, buf, n);
  while ((nl = memchr (node->input->str, '\n', node->input->len)) != NULL)
    {
      g_autofree char *line = g_strndup (node->input->str, nl - node->input->str);

      g_string_erase (node->input, 0, nl - node->input->str + 1);
      handle_line (node, line);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
settle_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/* Keeps warnings and criticals; the replicator's "linked with" messages
 * would only clutter the figures. */
static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  if ((level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) != 0
      && g_getenv ("MEDHEAD_BENCH_VERBOSE") == NULL)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, data);
}

static int
node_main (const char *name, const char *dir, gboolean full, guint rows)
{
  Node node = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  int out_fd = dup (STDOUT_FILENO);

  /* Replies go to the original stdout; anything else printed goes to stderr. */
  if (out_fd < 0 || dup2 (STDERR_FILENO, STDOUT_FILENO) < 0)
    g_error ("cannot set up the node's output");
  node.out = fdopen (out_fd, "w");
  g_log_set_writer_func (quiet_writer, NULL, NULL);

  node.name = g_strdup (name);
  node.dir = g_strdup (dir);
  node.rows = rows;
  node.input = g_string_new (NULL);
  node.loop = g_main_loop_new (NULL, FALSE);
  node.rand = g_rand_new_with_seed (g_str_hash (name));
  node.schema = make_schema ();
  g_mkdir_with_parents (dir, 0700);
  node.identity = mh_identity_load_or_create (dir, &error);
  if (node.identity == NULL)
    g_error ("identity: %s", error->message);
  path = g_build_filename (dir, "replica.db", NULL);
  node.store = mh_store_open (path, node.schema, mh_identity_get_site_id (node.identity), &error);
  if (node.store == NULL)
    g_error ("store: %s", error->message);
  if (!full)
    sqlite3_exec (mh_store_get_db (node.store), "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
  /* As medhead-node does: sign every write, verify every change received.
   * MEDHEAD_BENCH_UNSIGNED=1 measures without, for comparison. */
  if (g_getenv ("MEDHEAD_BENCH_UNSIGNED") == NULL)
    {
      mh_store_set_identity (node.store, node.identity);
      mh_store_set_verify_signatures (node.store, TRUE);
    }
  node.replicator = mh_replicator_new (node.store, mh_identity_get_tls_certificate (node.identity),
                                       mh_identity_get_fingerprint (node.identity), name);
  mh_replicator_set_max_backoff (node.replicator, 300);
  if (!mh_replicator_listen (node.replicator, "127.0.0.1:0", &node.port, &error))
    g_error ("listen: %s", error->message);
  g_signal_connect (node.store, "committed", G_CALLBACK (committed_cb), &node);
  g_signal_connect (node.store, "changed::" TABLE, G_CALLBACK (changed_cb), &node);

  reply (&node, "{\"site\":\"%s\",\"fingerprint\":\"%s\",\"url\":\"https://127.0.0.1:%u\","
         "\"port\":%u,\"pid\":%d}", mh_identity_get_site_id (node.identity),
         mh_identity_get_fingerprint (node.identity), node.port, node.port, (int) getpid ());
  g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_cb, &node);
  g_main_loop_run (node.loop);

  /* Let the closings go out before the objects go. */
  mh_replicator_stop (node.replicator);
  g_timeout_add (200, settle_cb, node.loop);
  g_main_loop_run (node.loop);
  reply (&node, "{\"bye\":true}");

  g_clear_object (&node.replicator);
  g_clear_object (&node.store);
  g_clear_object (&node.identity);
  mh_schema_unref (node.schema);
  g_main_loop_unref (node.loop);
  g_string_free (node.input, TRUE);
  g_rand_free (node.rand);
  g_clear_pointer (&node.expect, g_hash_table_unref);
  g_clear_pointer (&node.watch_rows, g_hash_table_unref);
  g_free (node.seen);
  g_free (node.snap);
  g_free (node.name);
  g_free (node.dir);
  fclose (node.out);
  return 0;
}

/* ======================================================================== */
/* The parent: starts the nodes, drives them, prints the figures            */

typedef struct
{
  char *name;
  GPid pid;
  int in_fd;
  FILE *out;
  char *site;
  char *fingerprint;
  char *url;
  guint port;
} Child;

typedef struct
{
  char *exe;
  char *tmpdir;
  guint rows;
} Parent;

static JsonObject *
child_read (Child *child)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t len = getline (&line, &cap, child->out);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *object;

  if (len <= 0)
    g_error ("node %s stopped answering", child->name);
  root = json_from_string (line, &error);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    g_error ("node %s: unreadable reply \"%s\": %s", child->name, line,
             error ? error->message : "not an object");
  free (line);
  object = json_object_ref (json_node_get_object (root));
  if (json_object_has_member (object, "error"))
    g_error ("node %s: %s", child->name, json_object_get_string_member (object, "error"));
  return object;
}

static void G_GNUC_PRINTF (2, 3)
child_send (Child *child, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;
  g_autofree char *line = NULL;
  gsize done = 0, len;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  line = g_strconcat (text, "\n", NULL);
  len = strlen (line);
  while (done < len)
    {
      gssize n = write (child->in_fd, line + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        g_error ("node %s: cannot send a command: %s", child->name, g_strerror (errno));
      done += (gsize) n;
    }
}

#define child_call(child, ...) (child_send ((child), __VA_ARGS__), child_read (child))

static Child *
child_spawn (Parent *p, const char *name, gboolean full)
{
  Child *child = g_new0 (Child, 1);
  g_autofree char *dir = g_build_filename (p->tmpdir, name, NULL);
  g_autofree char *rows = g_strdup_printf ("%u", p->rows);
  const char *argv[] = { p->exe, "--node", name, "--node-dir", dir, "--node-sync",
                         full ? "full" : "normal", "--rows", rows, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) hello = NULL;
  int out_fd = -1;

  g_auto(GStrv) wrapped = NULL;

  child->name = g_strdup (name);
  /* For profiling one node: MEDHEAD_BENCH_WRAP="b valgrind --tool=callgrind"
   * starts node b under that command. */
  if (g_getenv ("MEDHEAD_BENCH_WRAP") != NULL)
    {
      g_auto(GStrv) wrap = g_strsplit (g_getenv ("MEDHEAD_BENCH_WRAP"), " ", 0);

      if (wrap[0] != NULL && g_str_equal (wrap[0], name))
        {
          GPtrArray *args = g_ptr_array_new ();

          for (guint i = 1; wrap[i] != NULL; i++)
            g_ptr_array_add (args, g_strdup (wrap[i]));
          for (guint i = 0; argv[i] != NULL; i++)
            g_ptr_array_add (args, g_strdup (argv[i]));
          g_ptr_array_add (args, NULL);
          wrapped = (GStrv) g_ptr_array_free (args, FALSE);
        }
    }
  if (!g_spawn_async_with_pipes (NULL, wrapped ? wrapped : (char **) argv, NULL,
                                 G_SPAWN_DO_NOT_REAP_CHILD | (wrapped ? G_SPAWN_SEARCH_PATH : 0),
                                 NULL, NULL, &child->pid, &child->in_fd, &out_fd, NULL, &error))
    g_error ("cannot start node %s: %s", name, error->message);
  child->out = fdopen (out_fd, "r");
  hello = child_read (child);
  child->site = g_strdup (json_object_get_string_member (hello, "site"));
  child->fingerprint = g_strdup (json_object_get_string_member (hello, "fingerprint"));
  child->url = g_strdup (json_object_get_string_member (hello, "url"));
  child->port = (guint) json_object_get_int_member (hello, "port");
  return child;
}

static void
child_quit (Child *child)
{
  int status = 0;

  if (child == NULL)
    return;
  child_send (child, "quit");
  json_object_unref (child_read (child));
  close (child->in_fd);
  fclose (child->out);
  waitpid (child->pid, &status, 0);
  g_spawn_close_pid (child->pid);
  g_free (child->name);
  g_free (child->site);
  g_free (child->fingerprint);
  g_free (child->url);
  g_free (child);
}

/* @a accepts @b's calls; @b calls @a. */
static void
link_nodes (Child *a, Child *b)
{
  json_object_unref (child_call (a, "pin %s -", b->fingerprint));
  json_object_unref (child_call (b, "pin %s %s", a->fingerprint, a->url));
}

/* Link counters of @node for its peer @peer. */
static void
app_bytes (JsonObject *counters, Child *peer, gint64 *sent, gint64 *received)
{
  JsonArray *app = json_object_get_array_member (counters, "app");

  *sent = *received = 0;
  for (guint i = 0; i < json_array_get_length (app); i++)
    {
      JsonObject *o = json_array_get_object_element (app, i);
      if (g_str_equal (json_object_get_string_member (o, "fp"), peer->fingerprint))
        {
          *sent = json_object_get_int_member (o, "sent");
          *received = json_object_get_int_member (o, "received");
        }
    }
}

/* TCP counters of the socket in @counters whose local or peer port is
 * @port (the listening side's port names the link). */
static JsonObject *
tcp_socket (JsonObject *counters, guint port)
{
  JsonArray *tcp = json_object_get_array_member (counters, "tcp");

  for (guint i = 0; i < json_array_get_length (tcp); i++)
    {
      JsonObject *o = json_array_get_object_element (tcp, i);
      if ((guint) json_object_get_int_member (o, "local") == port
          || (guint) json_object_get_int_member (o, "peer") == port)
        return o;
    }
  return NULL;
}

static gint64
tcp_get (JsonObject *counters, guint port, const char *member)
{
  JsonObject *o = tcp_socket (counters, port);

  return o ? json_object_get_int_member (o, member) : 0;
}

static char *
digests_of (Child *child, gint64 *last_seq, gint64 *epoch)
{
  g_autoptr(JsonObject) reply = child_call (child, "digests");
  JsonNode *digests = json_object_get_member (reply, "digests");

  if (last_seq)
    *last_seq = json_object_get_int_member (reply, "last_seq");
  if (epoch)
    *epoch = json_object_get_int_member (reply, "epoch");
  return json_to_string (digests, FALSE);
}

static const char *
verdict (gboolean met)
{
  return met ? "met" : "MISSED";
}

static char *
megabytes (gint64 bytes)
{
  return g_strdup_printf ("%.1f MB", bytes / 1e6);
}

/* Waits until none of @nodes spends CPU any more (less than 15 ms of CPU
 * per 500 ms each): after a catch-up, every node offers its log back to the
 * peer it came from (all of it filtered out, see docs/benchmarks.md), and
 * that tail must not run into the next measurement. Returns the seconds
 * waited. */
static double
wait_quiet (Child **nodes, guint n_nodes)
{
  gint64 t0 = g_get_monotonic_time ();
  double last[8];
  guint quiet = 0;

  g_assert (n_nodes <= G_N_ELEMENTS (last));
  for (guint i = 0; i < n_nodes; i++)
    {
      g_autoptr(JsonObject) c = child_call (nodes[i], "counters");
      last[i] = json_object_get_double_member (c, "cpu");
    }
  while (quiet < 2 && g_get_monotonic_time () - t0 < 180 * G_USEC_PER_SEC)
    {
      gboolean busy = FALSE;

      g_usleep (250 * 1000);
      for (guint i = 0; i < n_nodes; i++)
        {
          g_autoptr(JsonObject) c = child_call (nodes[i], "counters");
          double cpu = json_object_get_double_member (c, "cpu");

          busy |= cpu - last[i] > 0.0075;
          if (g_getenv ("MEDHEAD_BENCH_VERBOSE") != NULL)
            g_printerr ("wait_quiet %.2f s: node %u used %.1f ms of CPU\n",
                        (g_get_monotonic_time () - t0) / 1e6, i, 1000 * (cpu - last[i]));
          last[i] = cpu;
        }
      quiet = busy ? 0 : quiet + 1;
    }
  return (g_get_monotonic_time () - t0) / 1e6 - 0.5;
}

/* ------------------------------------------------------------------------ */
/* 1. Initial sync                                                          */

typedef struct
{
  double secs;     /* link start to digests equal; < 0: did not converge */
  double baseline; /* local read + apply */
} SyncResult;

static SyncResult
bench_initial_sync (Parent *p, Child *a, const char *digests_a, gboolean full, Child **out_b)
{
  const char *mode = full ? "FULL" : "NORMAL";
  g_autoptr(JsonObject) base = NULL;
  g_autoptr(JsonObject) start = NULL;
  g_autoptr(JsonObject) synced = NULL;
  g_autoptr(JsonObject) ca0 = NULL;
  g_autoptr(JsonObject) ca = NULL;
  g_autoptr(JsonObject) cb = NULL;
  Child *b;
  SyncResult r = { -1, -1 };
  gint64 a_sent, a_received, b_sent, b_received;
  gint64 wire_ab, wire_ba;
  double cpu_a, cpu_b, wait_a, wait_b, rows_s, base_cpu, tail;
  g_autofree char *a_sent_mb = NULL;
  g_autofree char *wire_mb = NULL;

  /* The baseline first, while no other node runs. */
  base = child_call (a, "baseline %s", full ? "full" : "normal");
  r.baseline = json_object_get_double_member (base, "secs");
  if (!json_object_get_boolean_member (base, "equal"))
    g_error ("the local baseline did not reproduce A's digests");

  if (!full)
    json_object_unref (child_call (a, "synchronous normal"));
  b = child_spawn (p, full ? "b" : "b-normal", full);
  link_nodes (a, b);
  json_object_unref (child_call (b, "expect %s", digests_a));
  ca0 = child_call (a, "counters");
  start = child_call (b, "start");
  synced = child_call (b, "wait-synced %u", SYNC_TIMEOUT_MS);
  ca = child_call (a, "counters");
  cb = child_call (b, "counters");
  {
    Child *pair[2] = { a, b };
    tail = wait_quiet (pair, 2);
  }
  if (!full)
    json_object_unref (child_call (a, "synchronous full"));

  app_bytes (ca, b, &a_sent, &a_received);
  app_bytes (cb, a, &b_sent, &b_received);
  wire_ab = tcp_get (ca, a->port, "sent");
  wire_ba = tcp_get (ca, a->port, "received");
  cpu_a = json_object_get_double_member (ca, "cpu") - json_object_get_double_member (ca0, "cpu");
  cpu_b = json_object_get_double_member (synced, "cpu") - json_object_get_double_member (start, "cpu");
  wait_a = json_object_get_double_member (ca, "wait") - json_object_get_double_member (ca0, "wait");
  wait_b = json_object_get_double_member (synced, "wait")
           - json_object_get_double_member (start, "wait");
  base_cpu = json_object_get_double_member (base, "cpu");
  a_sent_mb = megabytes (a_sent);
  wire_mb = megabytes (wire_ab + wire_ba);

  if (!json_object_get_boolean_member (synced, "ok"))
    {
      g_print ("initial sync (sync=%s): did NOT converge within %u s\n", mode,
               SYNC_TIMEOUT_MS / 1000);
      *out_b = b;
      return r;
    }
  r.secs = (json_object_get_int_member (synced, "t_end") - json_object_get_int_member (start, "t0"))
           / 1e6;
  rows_s = p->rows / r.secs;
  g_print ("initial sync (sync=%s): %u rows in %.2f s (%.0f rows/s; A sent %s, %.2f MB back) "
           "over TLS; local apply baseline %.2f s (%.2fx)\n", mode, p->rows, r.secs, rows_s,
           a_sent_mb, a_received / 1e6, r.baseline, r.secs / r.baseline);
  g_print ("  link: %" G_GINT64_FORMAT " bytes A->B and %" G_GINT64_FORMAT " B->A in the "
           "link counters; %s of TCP payload both ways (TLS, WebSocket, handshake; TCP_INFO); "
           "%.0f bytes per row\n", a_sent, a_received, wire_mb, (double) a_sent / p->rows);
  g_print ("  CPU: A (sender) %.2f s, B (receiver) %.2f s, together %.2fx the baseline's %.2f s; "
           "runnable but waiting for a CPU (other programs on the machine): A %.2f s, B %.2f s, "
           "baseline %.2f s\n", cpu_a, cpu_b, (cpu_a + cpu_b) / base_cpu, base_cpu, wait_a, wait_b,
           json_object_get_double_member (base, "wait"));
  g_print ("  after B matched A: %.1f s more until both were idle (B offering its log back to "
           "A, every change filtered out)\n", MAX (tail, 0.0));
  g_print ("  baseline: %u changes (%u rows) in %u pages of %u log entries: read %.2f s + apply "
           "%.2f s; the JSON codec on the same pages would add encode %.2f s + decode %.2f s "
           "(%.1f MB; deflated page by page: %.1f MB)\n",
           (guint) json_object_get_int_member (base, "changes"), p->rows,
           (guint) json_object_get_int_member (base, "pages"), PAGE_ENTRIES,
           json_object_get_double_member (base, "read"),
           json_object_get_double_member (base, "apply"),
           json_object_get_double_member (base, "encode"),
           json_object_get_double_member (base, "decode"),
           json_object_get_int_member (base, "json_bytes") / 1e6,
           json_object_get_int_member (base, "json_bytes")
             * json_object_get_double_member (base, "deflate_ratio") / 1e6);
  *out_b = b;
  return r;
}

/* ------------------------------------------------------------------------ */
/* 2. Live propagation                                                      */

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

typedef struct
{
  guint n;
  guint missing;
  double p50, p90, p99, max, mean;
} Stats;

/* Nearest-rank percentiles of @values (sorted in place). */
static Stats
stats_of (GArray *values, guint missing)
{
  Stats s = { values->len, missing, 0, 0, 0, 0, 0 };
  double sum = 0;

  if (values->len == 0)
    return s;
  g_array_sort (values, compare_double);
#define RANK(q) g_array_index (values, double, MIN (values->len - 1, \
                              (guint) MAX (0.0, (double) values->len * (q) + 0.999999) - 1))
  s.p50 = RANK (0.50);
  s.p90 = RANK (0.90);
  s.p99 = RANK (0.99);
#undef RANK
  s.max = g_array_index (values, double, values->len - 1);
  for (guint i = 0; i < values->len; i++)
    sum += g_array_index (values, double, i);
  s.mean = sum / values->len;
  return s;
}

static void
print_stats (const char *label, Stats s)
{
  g_print ("    %-44s p50 %6.2f ms, p90 %6.2f ms, p99 %6.2f ms, max %6.2f ms (mean %.2f; n=%u",
           label, s.p50, s.p90, s.p99, s.max, s.mean, s.n);
  if (s.missing)
    g_print ("; %u NEVER SEEN", s.missing);
  g_print (")\n");
}

typedef struct
{
  Stats commit;
  Stats durable;   /* write start to on A's disk (the same as commit unless deferred) */
  Stats near;      /* the first watcher */
  Stats near_post; /* after the commit on A */
  Stats far;       /* the second watcher, if any */
  Stats far_post;
} LiveResult;

/* @n updates on @a from update number @k0, watched on @near (and @far). */
static LiveResult
bench_live (Child *a, Child *near, Child *far, guint k0, guint n)
{
  g_autoptr(JsonObject) live = NULL;
  g_autoptr(JsonObject) seen_near = NULL;
  g_autoptr(JsonObject) seen_far = NULL;
  g_autoptr(GArray) commit = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) durable = g_array_new (FALSE, FALSE, sizeof (double));
  LiveResult r;
  JsonArray *start, *dur, *on_disk;

  memset (&r, 0, sizeof r);
  json_object_unref (child_call (near, "watch %u %u", k0, n));
  if (far)
    json_object_unref (child_call (far, "watch %u %u", k0, n));
  live = child_call (a, "live %u %u 5 10", k0, n);
  seen_near = child_call (near, "watch-wait 10000");
  if (far)
    seen_far = child_call (far, "watch-wait 10000");

  start = json_object_get_array_member (live, "start");
  dur = json_object_get_array_member (live, "dur");
  /* Every update's timings, for a closer look: MEDHEAD_BENCH_DUMP=FILE. */
  if (g_getenv ("MEDHEAD_BENCH_DUMP") != NULL)
    {
      FILE *dump = fopen (g_getenv ("MEDHEAD_BENCH_DUMP"), "a");
      JsonArray *sn = json_object_get_array_member (seen_near, "seen");
      JsonArray *sf = far ? json_object_get_array_member (seen_far, "seen") : NULL;

      for (guint i = 0; dump != NULL && i < n; i++)
        {
          gint64 t0 = json_array_get_int_element (start, i);
          gint64 tn = json_array_get_int_element (sn, i);
          gint64 tf = sf ? json_array_get_int_element (sf, i) : 0;

          fprintf (dump, "%u %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
                   " %" G_GINT64_FORMAT "\n", k0 + i, t0, json_array_get_int_element (dur, i),
                   tn ? tn - t0 : -1, tf ? tf - t0 : -1);
        }
      if (dump)
        fclose (dump);
    }
  on_disk = json_object_get_array_member (live, "durable");
  for (guint i = 0; i < n; i++)
    {
      double d = json_array_get_int_element (dur, i) / 1000.0;
      g_array_append_val (commit, d);
      d = json_array_get_int_element (on_disk, i) / 1000.0;
      g_array_append_val (durable, d);
    }
  r.commit = stats_of (commit, 0);
  r.durable = stats_of (durable, 0);

  for (int w = 0; w < (far ? 2 : 1); w++)
    {
      JsonArray *seen = json_object_get_array_member (w == 0 ? seen_near : seen_far, "seen");
      g_autoptr(GArray) total = g_array_new (FALSE, FALSE, sizeof (double));
      g_autoptr(GArray) post = g_array_new (FALSE, FALSE, sizeof (double));
      guint missing = 0;

      for (guint i = 0; i < n; i++)
        {
          gint64 t = json_array_get_int_element (seen, i);
          gint64 t0 = json_array_get_int_element (start, i);
          double d;

          if (t == 0)
            {
              missing++;
              continue;
            }
          d = (t - t0) / 1000.0;
          g_array_append_val (total, d);
          d = (t - t0 - json_array_get_int_element (dur, i)) / 1000.0;
          g_array_append_val (post, d);
        }
      if (w == 0)
        {
          r.near = stats_of (total, missing);
          r.near_post = stats_of (post, missing);
        }
      else
        {
          r.far = stats_of (total, missing);
          r.far_post = stats_of (post, missing);
        }
    }
  return r;
}

/* @mode: full, normal or deferred. */
static void
set_synchronous (Child *child, const char *mode)
{
  if (child)
    json_object_unref (child_call (child, "synchronous %s", mode));
}

/* One round of live updates, printed; @x and @y are further nodes whose
 * synchronous setting follows the round's. */
static LiveResult
live_round (const char *title, Child *a, Child *near, Child *far, Child *x, Child *y, guint k0,
            guint n, const char *mode)
{
  Child *nodes[4] = { a, near, x, far };
  const char *names[4] = { "A", "B", "C", "D" };
  JsonObject *before[4] = { NULL, NULL, NULL, NULL };
  LiveResult r;

  set_synchronous (a, mode);
  set_synchronous (near, mode);
  set_synchronous (far, mode);
  set_synchronous (x, mode);
  set_synchronous (y == far ? NULL : y, mode);
  for (int i = 0; i < 4; i++)
    if (nodes[i])
      before[i] = child_call (nodes[i], "counters");
  r = bench_live (a, near, far, k0, n);
  g_print ("  %s:\n", title);
  print_stats ("local commit on A (baseline: the write call)", r.commit);
  if (g_str_equal (mode, "deferred"))
    print_stats ("A's write start to on A's disk (the thread's fdatasync)", r.durable);
  print_stats ("1 hop A->B, write start to visible", r.near);
  if (far == NULL)
    print_stats ("1 hop A->B, after A's commit", r.near_post);
  else
    {
      print_stats ("3 hops A->B->C->D, write start to visible", r.far);
      print_stats ("3 hops A->B->C->D, after A's commit", r.far_post);
    }
  /* What each node spent per update: CPU, and time runnable but waiting
   * for a CPU (the machine's other programs). */
  g_print ("    per update and node: ");
  for (int i = 0; i < 4; i++)
    if (nodes[i])
      {
        g_autoptr(JsonObject) after = child_call (nodes[i], "counters");

        g_print ("%s%s CPU %.2f ms, run-queue wait %.2f ms", i ? "; " : "", names[i],
                 1000 * (json_object_get_double_member (after, "cpu")
                         - json_object_get_double_member (before[i], "cpu")) / n,
                 1000 * (json_object_get_double_member (after, "wait")
                         - json_object_get_double_member (before[i], "wait")) / n);
        json_object_unref (before[i]);
      }
  g_print ("\n");
  if (!g_str_equal (mode, "full"))
    {
      set_synchronous (a, "full");
      set_synchronous (near, "full");
      set_synchronous (far, "full");
      set_synchronous (x, "full");
      set_synchronous (y == far ? NULL : y, "full");
    }
  return r;
}

/* ------------------------------------------------------------------------ */
/* 3. Bytes for one live update                                             */

typedef struct
{
  double changes_app;  /* the changes frame A->B, application bytes */
  double changes_tcp;  /* the same frame as TCP payload */
  double ack_app;      /* B's ack of it */
  double echo_app;     /* what else B sent back for it (an empty changes frame) */
  double back_tcp;     /* everything B->A for it, TCP payload */
  double forth_tcp;    /* everything A->B for it, TCP payload */
  double forth_app;
  double back_app;
  guint frames_back;   /* 1: ack only; 2: ack and an echo frame */
  gboolean nodelay_a;
  gboolean nodelay_b;
  guint samples;
} BytesResult;

static double
median_of (GArray *values)
{
  g_array_sort (values, compare_double);
  return values->len ? g_array_index (values, double, values->len / 2) : 0;
}

static BytesResult
bench_bytes (Child *a, Child *b, guint k0, guint samples)
{
  g_autoptr(GArray) changes_app = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) changes_tcp = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) ack_app = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) echo_app = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) back_tcp = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) forth_tcp = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) forth_app = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) back_app = g_array_new (FALSE, FALSE, sizeof (double));
  BytesResult r;
  guint port = a->port;

  memset (&r, 0, sizeof r);
  for (guint s = 0; s < samples; s++)
    {
      g_autoptr(JsonObject) a0 = child_call (a, "counters");
      g_autoptr(JsonObject) b0 = child_call (b, "counters");
      g_autoptr(JsonObject) upd = NULL;
      g_autoptr(JsonObject) seen = NULL;
      g_autoptr(JsonObject) a2 = NULL;
      g_autoptr(JsonObject) b2 = NULL;
      JsonObject *b1;
      gint64 as0, ar0, as2, ar2, bs0, br0, bs1, br1, bs2, br2;
      g_autofree char *ack = NULL;
      double v;

      json_object_unref (child_call (b, "watch %u 1 snap", k0 + s));
      upd = child_call (a, "update %u", k0 + s);
      seen = child_call (b, "watch-wait 5000");
      if (JSON_NODE_HOLDS_NULL (json_object_get_member (seen, "snap")))
        g_error ("the update did not reach B");
      b1 = json_object_get_object_member (seen, "snap");
      /* Let the ack, and whatever else the update causes, go through. */
      g_usleep (80 * 1000);
      a2 = child_call (a, "counters");
      b2 = child_call (b, "counters");

      app_bytes (a0, b, &as0, &ar0);
      app_bytes (a2, b, &as2, &ar2);
      app_bytes (b0, a, &bs0, &br0);
      app_bytes (b1, a, &bs1, &br1);
      app_bytes (b2, a, &bs2, &br2);

      v = br1 - br0;
      g_array_append_val (changes_app, v);
      v = tcp_get (b1, port, "received") - tcp_get (b0, port, "received");
      g_array_append_val (changes_tcp, v);
      /* The ack exactly as handle_changes() writes it (json-glib, compact). */
      ack = g_strdup_printf ("{\"type\":\"ack\",\"lane\":%d,\"epoch\":%" G_GINT64_FORMAT
                             ",\"seq\":%" G_GINT64_FORMAT "}", LANE_BEDS,
                             json_object_get_int_member (a2, "epoch"),
                             json_object_get_int_member (a2, "last_seq"));
      v = strlen (ack);
      g_array_append_val (ack_app, v);
      v = (bs2 - bs0) - (double) strlen (ack);
      g_array_append_val (echo_app, v);
      v = bs2 - bs0;
      g_array_append_val (back_app, v);
      v = as2 - as0;
      g_array_append_val (forth_app, v);
      v = tcp_get (a2, port, "received") - tcp_get (a0, port, "received");
      g_array_append_val (back_tcp, v);
      v = tcp_get (a2, port, "sent") - tcp_get (a0, port, "sent");
      g_array_append_val (forth_tcp, v);
      if (s == 0)
        {
          JsonObject *sa = tcp_socket (a2, port), *sb = tcp_socket (b2, port);
          r.nodelay_a = sa && json_object_get_int_member (sa, "nodelay");
          r.nodelay_b = sb && json_object_get_int_member (sb, "nodelay");
        }
    }
  r.samples = samples;
  r.changes_app = median_of (changes_app);
  r.changes_tcp = median_of (changes_tcp);
  r.ack_app = median_of (ack_app);
  r.echo_app = median_of (echo_app);
  r.back_tcp = median_of (back_tcp);
  r.forth_tcp = median_of (forth_tcp);
  r.forth_app = median_of (forth_app);
  r.back_app = median_of (back_app);
  r.frames_back = r.echo_app > 0 ? 2 : 1;
  return r;
}

/* What one live update costs on the wire is what the link's sockets carried
 * for it (TCP_INFO): the frames are deflated (permessage-deflate, with
 * context takeover), so their application bytes say little. Also printed,
 * for comparison, the size without compression: the changes frame goes
 * server to client here (B called A): unmasked, 2 header bytes below 126
 * bytes of payload, else 4; the ack goes client to server: masked, 2 + 4;
 * each frame is one TLS 1.3 record: 5 header + 16 AEAD tag + 1 content type.
 * Returns the measured bytes: the changes frame and its ack, both ways. */
static guint
print_bytes (BytesResult *bytes, const char *frame)
{
  guint ws_changes = bytes->changes_app < 126 ? 2 : 4;
  guint plain_one = (guint) (bytes->changes_app + ws_changes + 22 + bytes->ack_app + 2 + 4 + 22);
  guint wire_one = (guint) (bytes->forth_tcp + bytes->back_tcp);

  g_print ("bytes for one live bed update (row \"UUID/adult_icu\", 46 chars; site ids 26 chars; "
           "median of %u updates on the A-B link):\n", bytes->samples);
  g_print ("  changes frame A->B: %.0f application bytes (link counters); on the wire (TCP "
           "payload, TCP_INFO of the link's socket, deflated): %.0f bytes\n", bytes->changes_app,
           bytes->changes_tcp);
  g_print ("    %s\n", frame);
  g_print ("  its ack B->A: %.0f application bytes\n", bytes->ack_app);
  g_print ("  everything the update caused on the link, measured: A->B %.0f bytes of TCP payload "
           "(%.0f application), B->A %.0f (%.0f application: the ack%s)\n",
           bytes->forth_tcp, bytes->forth_app, bytes->back_tcp, bytes->back_app,
           bytes->echo_app > 0 ? ", an empty changes frame echoed back and, A->B, its ack" : "");
  g_print ("  => %u bytes on the wire for the update and its ack (TCP/IP headers not counted); "
           "without compression they would be %u (application bytes + WebSocket %u and 6 + TLS "
           "records 2 x 22)\n", wire_one, plain_one, ws_changes);
  g_print ("  TCP_NODELAY on the link's sockets: A %s, B %s\n", bytes->nodelay_a ? "on" : "off",
           bytes->nodelay_b ? "on" : "off");
  return wire_one;
}

/* ------------------------------------------------------------------------ */

/* @blocks 4 KiB writes then fdatasync(), 40 times; @pause_us of idle
 * before each, as between live updates (5-10 ms apart). */
static Stats
fsync_probe (int fd, const char *path, guint blocks, guint pause_us)
{
  g_autoptr(GArray) times = g_array_new (FALSE, FALSE, sizeof (double));
  char block[4096];

  memset (block, 'x', sizeof block);
  for (guint i = 0; i < 40; i++)
    {
      gint64 t0;
      double ms;

      if (pause_us > 0)
        g_usleep (pause_us);
      t0 = g_get_monotonic_time ();
      for (guint b = 0; b < blocks; b++)
        if (pwrite (fd, block, sizeof block, (off_t) ((i % 8) * blocks + b) * sizeof block)
            != sizeof block)
          g_error ("%s: %s", path, g_strerror (errno));
      if (fdatasync (fd) != 0)
        g_error ("%s: %s", path, g_strerror (errno));
      ms = (g_get_monotonic_time () - t0) / 1000.0;
      g_array_append_val (times, ms);
    }
  return stats_of (times, 0);
}

/* The disk's own price for a durable commit: a 4 KiB write then
 * fdatasync(), as SQLite's WAL does on every commit with synchronous=FULL;
 * and 11 blocks, what one live bed update's commit writes. On this
 * machine's disk a sync after a few ms of idle costs far more than one
 * right after another, and hardly depends on the bytes. */
static void
bench_fsync (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "fsync-probe", NULL);
  int fd = g_open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  Stats s, s11, idle, idle11;

  if (fd < 0)
    g_error ("%s: %s", path, g_strerror (errno));
  /* Allocated first: a WAL is overwritten in place once it has grown. */
  fsync_probe (fd, path, 11, 0);
  s = fsync_probe (fd, path, 1, 0);
  s11 = fsync_probe (fd, path, 11, 0);
  idle = fsync_probe (fd, path, 1, 7000);
  idle11 = fsync_probe (fd, path, 11, 7000);
  close (fd);
  g_unlink (path);
  g_print ("disk: a 4 KiB write + fdatasync() takes p50 %.2f ms, p90 %.2f ms, max %.2f ms (n=%u); "
           "every commit with synchronous=FULL waits for one at least\n", s.p50, s.p90, s.max, s.n);
  g_print ("  11 blocks (44 KiB): p50 %.2f ms; after 7 ms idle (live updates' cadence): "
           "1 block p50 %.2f ms, p90 %.2f; 11 blocks p50 %.2f ms, p90 %.2f\n", s11.p50, idle.p50,
           idle.p90, idle11.p50, idle11.p90);
}

static char *
loadavg (void)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) fields = NULL;

  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return g_strdup ("?");
  fields = g_strsplit (text, " ", 4);
  if (g_strv_length (fields) < 3)
    return g_strdup ("?");
  return g_strdup_printf ("%s %s %s", fields[0], fields[1], fields[2]);
}

int
main (int argc, char **argv)
{
  Parent p = { 0 };
  int rows = 100000, updates = 500, samples = 15;
  gboolean no_chain = FALSE;
  g_autofree char *sync = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *node_name = NULL;
  g_autofree char *node_dir = NULL;
  g_autofree char *node_sync = NULL;
  GOptionEntry entries[] = {
    { "rows", 0, 0, G_OPTION_ARG_INT, &rows, "Rows on A for the initial sync (default 100000)",
      "N" },
    { "updates", 0, 0, G_OPTION_ARG_INT, &updates, "Live updates per round (default 500)", "N" },
    { "samples", 0, 0, G_OPTION_ARG_INT, &samples,
      "Single updates measured for the bytes (default 15; the median is kept)", "N" },
    { "sync", 0, 0, G_OPTION_ARG_STRING, &sync,
      "Initial sync runs: both, full, normal or auto (default: NORMAL too if the run so far "
      "took less than 150 s)", "MODE" },
    { "no-chain", 0, 0, G_OPTION_ARG_NONE, &no_chain, "Skip the three-hop line (C and D)", NULL },
    { "dir", 0, 0, G_OPTION_ARG_FILENAME, &dir, "Where to make the temporary directory", "DIR" },
    { "node", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &node_name, NULL, NULL },
    { "node-dir", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &node_dir, NULL, NULL },
    { "node-sync", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &node_sync, NULL, NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- benchmark the peer network");
  g_autoptr(GError) error = NULL;
  g_autofree char *template = NULL;
  g_autofree char *digests_a = NULL;
  g_autofree char *load = NULL;
  g_autoptr(JsonObject) populated = NULL;
  Child *a = NULL, *b = NULL, *b_normal = NULL, *c = NULL, *d = NULL;
  SyncResult full = { -1, -1 }, normal = { -1, -1 };
  LiveResult hop1, hop1_deferred, hop1_normal, hop3, hop3_deferred, hop3_normal;
  guint k;
  BytesResult bytes;
  gboolean do_full, do_normal, auto_normal;
  gint64 t_start = g_get_monotonic_time ();
  double relay_secs = -1;
  guint wire_one;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (node_name != NULL)
    return node_main (node_name, node_dir, !g_str_equal (node_sync, "normal"), (guint) rows);

  if (rows < N_CATEGORIES * (4 * updates + samples + 1) || updates < 1 || samples < 1)
    {
      g_printerr ("--rows must be at least 9 × (4 × updates + samples + 1)\n");
      return 2;
    }
  auto_normal = sync == NULL || g_str_equal (sync, "auto");
  do_full = auto_normal || g_str_equal (sync, "both") || g_str_equal (sync, "full");
  do_normal = auto_normal || g_str_equal (sync, "both") || g_str_equal (sync, "normal");
  if (!do_full && !do_normal)
    {
      g_printerr ("--sync takes both, full, normal or auto\n");
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  p.rows = (guint) rows;
  p.exe = g_file_read_link ("/proc/self/exe", &error);
  if (p.exe == NULL)
    g_error ("%s", error->message);
  if (dir != NULL)
    {
      template = g_build_filename (dir, "medhead-bench-net-XXXXXX", NULL);
      p.tmpdir = g_mkdtemp (template) ? g_strdup (template) : NULL;
      if (p.tmpdir == NULL)
        g_error ("cannot make a directory in %s", dir);
    }
  else if (!(p.tmpdir = g_dir_make_tmp ("medhead-bench-net-XXXXXX", &error)))
    g_error ("%s", error->message);

  load = loadavg ();
  {
    g_autoptr(GDateTime) when = g_date_time_new_now_local ();
    g_autofree char *date = g_date_time_format (when, "%F %T");
    g_print ("bench-network: %s, SQLite %s, %u CPUs, load average %s, %u rows, %d live updates "
             "per round, one process per node, files in %s\n", date, sqlite3_libversion (),
             g_get_num_processors (), load, p.rows, updates, p.tmpdir);
  }

  bench_fsync (p.tmpdir);

  /* A holds the rows before any link. */
  a = child_spawn (&p, "a", TRUE);
  populated = child_call (a, "populate %u", p.rows);
  digests_a = digests_of (a, NULL, NULL);
  g_print ("node A: %u bed rows (3 registers; ids like \"UUID/adult_icu\") written in %.2f s, in "
           "transactions of %u with mh_store_write_values (sync=FULL)\n", p.rows,
           json_object_get_double_member (populated, "secs"), TXN_ROWS);
  json_object_unref (child_call (a, "start"));

  /* 1. Initial sync, FULL (the headline; B stays for the live rounds), then
   * NORMAL with a fresh B' while B idles. */
  if (do_full)
    full = bench_initial_sync (&p, a, digests_a, TRUE, &b);
  else
    {
      /* The live rounds still need a B caught up. */
      SyncResult ignored = bench_initial_sync (&p, a, digests_a, TRUE, &b);
      (void) ignored;
    }

  /* 2. Live, one hop, with A and B alone; FULL (the store's default), then
   * NORMAL on both (no fsync per commit): the fsyncs' share. */
  g_print ("live propagation: %d single-register bed updates per round, committed one by one "
           "on A, 5-10 ms apart, links open after catch-up; latency from the start of the write "
           "call on A to the \"changed\" signal for that row on the far node:\n", updates);
  k = 0;
  hop1 = live_round ("A-B, sync=FULL", a, b, NULL, NULL, NULL, k, (guint) updates, "full");
  k += (guint) updates;
  hop1_deferred = live_round ("A-B, deferred durability (as medhead-node: commit, send, the WAL "
                              "synced behind by a thread)", a, b, NULL, NULL, NULL, k,
                              (guint) updates, "deferred");
  k += (guint) updates;
  hop1_normal = live_round ("A-B, sync=NORMAL on A and B", a, b, NULL, NULL, NULL, k,
                            (guint) updates, "normal");
  k += (guint) updates;

  /* 3. Bytes for one update on the A-B link (B called A). */
  bytes = bench_bytes (a, b, k, (guint) samples);
  k += (guint) samples;
  {
    g_autoptr(JsonObject) frame = child_call (a, "frame");
    wire_one = print_bytes (&bytes, json_object_get_string_member (frame, "frame"));
  }

  /* The line A-B-C-D: C and D catch up through B, then live again. */
  if (!no_chain)
    {
      g_autoptr(JsonObject) c_start = NULL;
      g_autoptr(JsonObject) d_start = NULL;
      g_autoptr(JsonObject) d_synced = NULL;
      g_autoptr(JsonObject) c_synced = NULL;

      /* A has changed since: the live rounds and the bytes samples. */
      g_free (digests_a);
      digests_a = digests_of (a, NULL, NULL);
      c = child_spawn (&p, "c", TRUE);
      d = child_spawn (&p, "d", TRUE);
      link_nodes (b, c);
      link_nodes (c, d);
      json_object_unref (child_call (c, "expect %s", digests_a));
      json_object_unref (child_call (d, "expect %s", digests_a));
      c_start = child_call (c, "start");
      d_start = child_call (d, "start");
      d_synced = child_call (d, "wait-synced %u", SYNC_TIMEOUT_MS);
      c_synced = child_call (c, "wait-synced %u", SYNC_TIMEOUT_MS);
      if (json_object_get_boolean_member (d_synced, "ok"))
        relay_secs = (json_object_get_int_member (d_synced, "t_end")
                      - json_object_get_int_member (c_start, "t0")) / 1e6;
      g_print ("relay catch-up (sync=FULL): C (calling B) and D (calling C) started together; "
               "%u rows reached C in %.2f s and D in %.2f s\n", p.rows,
               json_object_get_boolean_member (c_synced, "ok")
                 ? (json_object_get_int_member (c_synced, "t_end")
                    - json_object_get_int_member (c_start, "t0")) / 1e6
                 : -1.0,
               relay_secs);
      {
        Child *line[4] = { a, b, c, d };
        g_print ("  after D matched A: %.1f s more until all four were idle (the relays offering "
                 "their logs back up the line, every change filtered out)\n",
                 MAX (wait_quiet (line, 4), 0.0));
      }

      hop3 = live_round ("line A-B-C-D, sync=FULL", a, b, d, c, NULL, k, (guint) updates, "full");
      k += (guint) updates;
      hop3_deferred = live_round ("line A-B-C-D, deferred durability on all four", a, b, d, c, d,
                                  k, (guint) updates, "deferred");
      k += (guint) updates;
      hop3_normal = live_round ("line A-B-C-D, sync=NORMAL on all four", a, b, d, c, d, k,
                                (guint) updates, "normal");
      k += (guint) updates;
    }
  else
    {
      memset (&hop3, 0, sizeof hop3);
      memset (&hop3_deferred, 0, sizeof hop3_deferred);
      memset (&hop3_normal, 0, sizeof hop3_normal);
    }

  /* 1'. The initial sync again with synchronous=NORMAL on A and a fresh B',
   * last, with the other nodes stopped: if time allows. */
  child_quit (g_steal_pointer (&d));
  child_quit (g_steal_pointer (&c));
  if (do_normal && auto_normal && (g_get_monotonic_time () - t_start) / 1e6 > 150)
    g_print ("initial sync (sync=NORMAL): skipped, the run has taken %.0f s already "
             "(--sync both runs it anyway)\n", (g_get_monotonic_time () - t_start) / 1e6);
  else if (do_normal)
    {
      g_autofree char *fingerprint = NULL;
      Child *pair[2] = { a, b };

      wait_quiet (pair, 2);
      g_free (digests_a);
      digests_a = digests_of (a, NULL, NULL);
      normal = bench_initial_sync (&p, a, digests_a, FALSE, &b_normal);
      fingerprint = g_strdup (b_normal->fingerprint);
      child_quit (b_normal);
      json_object_unref (child_call (a, "unpin %s", fingerprint));
    }

  g_print ("targets:");
  if (full.secs > 0)
    g_print (" initial sync (FULL) %.2f s < 10 s %s (product aim < 3 s %s);", full.secs,
             verdict (full.secs < 10), verdict (full.secs < 3));
  else if (do_full)
    g_print (" initial sync (FULL) did not converge: MISSED;");
  if (normal.secs > 0)
    g_print (" initial sync (NORMAL) %.2f s < 10 s %s;", normal.secs, verdict (normal.secs < 10));
  g_print (" 1 hop (deferred, as medhead-node) p50 %.2f ms <= 2 ms %s, p99 %.2f ms <= 10 ms %s"
           " [FULL: p50 %.2f %s, p99 %.2f %s; NORMAL: p50 %.2f %s, p99 %.2f %s];",
           hop1_deferred.near.p50,
           verdict (hop1_deferred.near.p50 <= 2 && hop1_deferred.near.missing == 0),
           hop1_deferred.near.p99,
           verdict (hop1_deferred.near.p99 <= 10 && hop1_deferred.near.missing == 0),
           hop1.near.p50, verdict (hop1.near.p50 <= 2 && hop1.near.missing == 0), hop1.near.p99,
           verdict (hop1.near.p99 <= 10 && hop1.near.missing == 0), hop1_normal.near.p50,
           verdict (hop1_normal.near.p50 <= 2 && hop1_normal.near.missing == 0),
           hop1_normal.near.p99,
           verdict (hop1_normal.near.p99 <= 10 && hop1_normal.near.missing == 0));
  if (!no_chain)
    g_print (" 3 hops (deferred) p99 %.2f ms <= 30 ms %s [FULL: %.2f %s; NORMAL: %.2f %s];",
             hop3_deferred.far.p99,
             verdict (hop3_deferred.far.p99 <= 30 && hop3_deferred.far.missing == 0),
             hop3.far.p99, verdict (hop3.far.p99 <= 30 && hop3.far.missing == 0),
             hop3_normal.far.p99,
             verdict (hop3_normal.far.p99 <= 30 && hop3_normal.far.missing == 0));
  g_print (" bytes per update %u <= 300 %s; (%.1f s in all)\n", wire_one,
           verdict (wire_one <= 300), (g_get_monotonic_time () - t_start) / 1e6);

  child_quit (d);
  child_quit (c);
  child_quit (b);
  child_quit (a);
  mh_test_rm_rf (p.tmpdir);
  g_free (p.tmpdir);
  g_free (p.exe);
  return 0;
}

/* mh-replicator.c: peer links over mutually authenticated WebSockets
 *
 * Protocol (JSON text frames, see docs/protocol.md):
 *   hello   {type, proto, schema, site, name, epoch, wall, cursors: [[epoch, seq], …]}
 *           cursors: where the sender stands on the receiver's log, per lane
 *   changes {type, lane, epoch, to, changes: […]}: the sender's log after the
 *           receiver's cursor, up to `to`
 *   ack     {type, lane, epoch, seq}: the receiver committed up to seq, and
 *           its cursor moved in the same transaction
 *   ping    {type, wall} / pong {type, wall, echo}
 *   want    {type, gaps: [[origin, first, last], …]}: changes this node
 *           never received (see mh_store_scan_gaps())
 *   have    {type, answers: [[origin, first, upto, [first, last, …]], …],
 *           changes: […]}: the answer: what the peer holds and may send,
 *           and the numbers it can account for
 *   error   {type, message}: sent before closing on a refusal
 *
 * Invariants:
 * - a link sends at most WINDOW unacknowledged batches, so a slow or stuck
 *   peer costs bounded memory and never stalls the other links;
 * - the receiver's cursor is the only persistent one: a cut link resumes
 *   from it, whoever reconnects;
 * - only changes that win here enter the log, so loops in the topology end.
 */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "mh-codec.h"
#include "mh-identity.h"
#include "mh-peers.h"
#include "mh-replicator.h"
#include "mh-server-guard.h"
#include "mh-sync-error.h"
#include "mh-tls-database.h"

#define WINDOW 4
#define BATCH_ENTRIES 256
/* A page stops growing there (rows brought into a peer's audience go with
 * the change that brings them), well under the codec's cap per batch. */
#define MAX_OUTGOING 4096
#define MAX_FRAME_BYTES (24 * 1024 * 1024)
#define PING_INTERVAL_S 15
#define STUCK_AFTER_MS (60 * 1000)
#define MAX_FRAMES_PER_SECOND 2000
#define CLOSE_REFUSED 4001
#define CLOSE_PROTOCOL 4002
#define CLOSE_STUCK 4003
/* Until an incoming connection's upgrade request is read (TLS handshake
 * included), and how many may be open at once (links included). */
#define ACCEPT_TIMEOUT_MS (20 * 1000)
#define MAX_CONNECTIONS 512
/* An open WebSocket that has not said hello by then is closed. */
#define HELLO_TIMEOUT_MS (30 * 1000)
/* A changes frame starts so: the sender always writes it this way. */
#define CHANGES_PREFIX "{\"type\":\"changes\","
/* A peer keeps at most WINDOW batches unacknowledged, so at most that many
 * wait here; the slack covers nothing legitimate, a flood is refused. */
#define MAX_QUEUED_BATCHES (2 * WINDOW)
/* Changes frames up to this size are decoded and applied as they arrive. */
#define INLINE_FRAME_MAX 4096
/* An answer about gaps starts so. */
#define HAVE_PREFIX "{\"type\":\"have\","
/* Gaps: looked for every tick, asked of the peers once a gap is this old
 * (a change may simply be on its way, in another lane), again after twice
 * as long each time, at most GAP_TRIES times; forgotten after GAP_KEEP_MS. */
#define GAP_TICK_MS (10 * 1000)
#define GAP_GRACE_MS (30 * 1000)
#define GAP_TRIES 3
#define GAP_KEEP_MS (60 * 60 * 1000)
/* One question: at most this many gaps; one answer looks at no more than
 * GAP_ANSWER_LIMIT changes, and a peer is answered GAP_ANSWERS_PER_WINDOW
 * times a second at most. */
#define GAP_ASK_MAX 64
/* Suspicions asked again this many gap ticks in a row, the link caught up
 * each time, without an answer that settles them: a peer that answers
 * nothing is judged on nothing (counted if the change still holds). */
#define GAP_AGAIN_TRIES 5
#define GAP_ANSWER_LIMIT 256
#define GAP_ANSWER_EVERY_MS 1000
#define GAP_ANSWERS_PER_WINDOW 4

typedef struct
{
  MhReplicator *owner; /* borrowed: the replicator outlives its links */
  SoupWebsocketConnection *conn;
  gboolean outgoing;
  char *fingerprint;
  char *site_id;
  char *name;
  gboolean open;
  gboolean closing;
  guint n_lanes;
  MhCursor *sent;      /* per lane: what has been sent */
  gint64 *acked;       /* per lane: what the peer committed */
  gint64 *framed;      /* per lane: the end of the last frame sent */
  gboolean *lane_more; /* per lane: the log may hold more for this peer */
  gboolean *lane_stalled; /* per lane: a change waits for the peer's audience to be known */
  gint64 *rr_current;  /* smooth weighted round robin */
  guint in_flight;
  gint64 offset_ms;
  gboolean has_offset;
  gint64 peer_agree; /* how many of its own peers agree with its clock */
  gboolean send_own;  /* the peer went back (new epoch): send it its own changes too */
  gint64 bytes_sent;
  gint64 bytes_received;
  gint64 last_ack_ms;
  gint64 last_contact_ms;
  gint64 rate_window_ms;
  guint rate_count;
  guint again_asked; /* ask_suspects() rounds in a row with suspicions left */
  guint pump_id;
  gint64 ping_sent_ms;
  gint64 created_ms;
  gint64 last_want_ms; /* the window of questions answered, and how many */
  guint n_wants;
  GQueue incoming; /* Incoming*, in arrival order: waiting, decoding, or decoded */
  gboolean decoding; /* one thread per link: more would starve the sender */
  guint apply_id;
} Link;

/* A changes frame from a peer: decoded and its signatures checked in a
 * thread, then applied on the main thread in arrival order. Shared by the
 * link's queue and the GTask (atomic refcount): the link may go first. */
typedef struct
{
  Link *link; /* main thread only; NULL once the link is gone */
  GBytes *frame;
  gboolean verify;
  GCancellable *cancellable;
  gboolean started; /* main thread only */
  gboolean done;    /* main thread only: the fields below are set */
  GPtrArray *changes;
  gint64 lane, epoch, to;
  GError *error;
} Incoming;

typedef struct
{
  MhReplicator *owner;
  char *fingerprint;
  char *url;
  guint timer_id;
  guint backoff_ms;
  GCancellable *cancellable;
  SoupMessage *msg; /* while connecting: carries the peer's certificate */
  gboolean connecting;
} Dial;

struct _MhReplicator
{
  GObject parent_instance;

  MhStore *store;
  GTlsCertificate *certificate;
  char *fingerprint;
  char *site_id;
  char *name;

  SoupServer *server;
  MhServerGuard *server_guard;
  SoupSession *session;
  GPtrArray *links;      /* Link* */
  GHashTable *dials;     /* fingerprint -> Dial* */
  gulong committed_id;
  guint watchdog_id;
  guint gap_id;
  guint gap_tick_ms;
  guint gap_grace_ms;
  gboolean running;
  gboolean clock_alarm;
  gint64 peer_offset;
  gint64 agree; /* how many peers' clocks agree with ours, as last told */
  guint max_backoff_ms;
  guint hello_timeout_ms;
  gint64 *acked_high; /* per lane: the highest seq of this epoch any peer committed */
  guint n_acked_high;
  MhTrust *trust; /* nullable: no network configured, pinning only */
};

G_DEFINE_FINAL_TYPE (MhReplicator, mh_replicator, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_CLOCK_ALARM,
  PROP_N_CONNECTED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  SIGNAL_ACKED,
  SIGNAL_PEER_ACKED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* Raises the lane's high-water mark of what some peer has committed, and
 * tells when it moves: whatever lies at or below it has left this node. */
static void
note_acked (MhReplicator *self, guint lane, gint64 seq)
{
  if (lane >= self->n_acked_high || seq <= self->acked_high[lane])
    return;
  self->acked_high[lane] = seq;
  g_signal_emit (self, signals[SIGNAL_ACKED], 0, lane, seq);
}


static void link_pump_soon (Link *link);
static void dial_schedule (Dial *dial);
static void trust_changed (MhReplicator *self, Link *from);

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

/* This node's own wall clock, with the test-only skew. */
static gint64
own_wall_ms (MhReplicator *self)
{
  return g_get_real_time () / 1000 + mh_store_get_clock_offset (self->store);
}

/* ------------------------------------------------------------------------ */
/* Links                                                                    */

static void
incoming_clear (gpointer data)
{
  Incoming *in = data;

  g_clear_pointer (&in->frame, g_bytes_unref);
  g_clear_object (&in->cancellable);
  g_clear_pointer (&in->changes, g_ptr_array_unref);
  g_clear_error (&in->error);
}

static void
incoming_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, incoming_clear);
}

/* Batches waiting are dropped: they were not acknowledged, so the peer
 * sends them again on its next link. A decoding still running finds its
 * link gone and its result is dropped. */
static void
link_drop_incoming (Link *link)
{
  Incoming *in;

  g_clear_handle_id (&link->apply_id, g_source_remove);
  while ((in = g_queue_pop_head (&link->incoming)) != NULL)
    {
      in->link = NULL;
      g_cancellable_cancel (in->cancellable);
      incoming_release (in);
    }
}

static void
link_free (Link *link)
{
  g_clear_handle_id (&link->pump_id, g_source_remove);
  link_drop_incoming (link);
  if (link->conn)
    {
      g_signal_handlers_disconnect_by_data (link->conn, link);
      g_clear_object (&link->conn);
    }
  g_free (link->fingerprint);
  g_free (link->site_id);
  g_free (link->name);
  g_free (link->sent);
  g_free (link->acked);
  g_free (link->framed);
  g_free (link->lane_more);
  g_free (link->lane_stalled);
  g_free (link->rr_current);
  g_free (link);
}

static void
link_send_text (Link *link, const char *text)
{
  if (link->closing || soup_websocket_connection_get_state (link->conn) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  link->bytes_sent += strlen (text);
  soup_websocket_connection_send_text (link->conn, text);
}

/* For the small control frames only: no reals in them. */
static void
link_send (Link *link, JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = json_to_string (root, FALSE);

  link_send_text (link, text);
}

static void
link_close (Link *link, gushort code, const char *message)
{
  if (link->closing)
    return;
  link->closing = TRUE;
  if (message != NULL)
    {
      g_message ("link with %s closed: %s", link->fingerprint, message);
      mh_peers_record_error (link->owner->store, link->fingerprint, message);
    }
  if (soup_websocket_connection_get_state (link->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (link->conn, code, message);
}

static void
link_refuse (Link *link, const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "error");
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  link_send (link, builder);
  link_close (link, CLOSE_REFUSED, message);
}

static void
send_hello (Link *link)
{
  MhReplicator *self = link->owner;
  MhSchema *schema = mh_store_get_schema (self->store);
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "hello");
  json_builder_set_member_name (builder, "proto");
  json_builder_add_int_value (builder, MH_PROTOCOL_VERSION);
  json_builder_set_member_name (builder, "schema");
  json_builder_add_int_value (builder, mh_schema_get_version (schema));
  json_builder_set_member_name (builder, "site");
  json_builder_add_string_value (builder, self->site_id);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, self->name);
  json_builder_set_member_name (builder, "epoch");
  json_builder_add_int_value (builder, mh_store_get_epoch (self->store));
  json_builder_set_member_name (builder, "wall");
  json_builder_add_int_value (builder, own_wall_ms (self));
  json_builder_set_member_name (builder, "agree");
  json_builder_add_int_value (builder, self->agree);
  if (self->trust != NULL)
    {
      g_autoptr(JsonNode) admission = mh_trust_get_admission (self->trust, self->site_id);
      if (admission != NULL)
        {
          json_builder_set_member_name (builder, "admission");
          json_builder_add_value (builder, g_steal_pointer (&admission));
        }
    }
  json_builder_set_member_name (builder, "cursors");
  json_builder_begin_array (builder);
  for (guint lane = 0; lane < mh_schema_get_n_lanes (schema); lane++)
    {
      MhCursor cursor;
      mh_store_get_peer_cursor (self->store, link->site_id, lane, &cursor);
      json_builder_begin_array (builder);
      json_builder_add_int_value (builder, cursor.epoch);
      json_builder_add_int_value (builder, cursor.seq);
      json_builder_end_array (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  link_send (link, builder);
}

typedef struct
{
  gint64 offset;
  gint64 weight;
} ClockSample;

static int
compare_samples (gconstpointer a, gconstpointer b)
{
  gint64 x = ((const ClockSample *) a)->offset, y = ((const ClockSample *) b)->offset;
  return x < y ? -1 : x > y;
}

static void send_ping (Link *link);

/* Which time is right? This node's clock is one sample (offset 0); each
 * peer's is another, weighted by how many of that peer's own peers agree
 * with it, so a node with a single peer can still tell when it is the odd
 * one. The weighted median wins; a tie is settled towards this node's own
 * clock: one skewed peer can never move a node. */
static void
update_clock (MhReplicator *self)
{
  g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (ClockSample));
  gint64 bound = mh_store_get_hold_bound (self->store);
  ClockSample own = { 0, 1 };
  gint64 total = 0, cumulative = 0, lower = 0, upper = 0, median, agree = 0;
  gboolean have_lower = FALSE, alarm;

  g_array_append_val (samples, own);
  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);
      ClockSample sample;

      if (!link->open || !link->has_offset)
        continue;
      sample.offset = link->offset_ms;
      sample.weight = 1 + MAX (link->peer_agree, 0);
      g_array_append_val (samples, sample);
      if (ABS (link->offset_ms) <= bound)
        agree++;
    }
  g_array_sort (samples, compare_samples);
  for (guint i = 0; i < samples->len; i++)
    total += g_array_index (samples, ClockSample, i).weight;
  for (guint i = 0; i < samples->len; i++)
    {
      ClockSample *sample = &g_array_index (samples, ClockSample, i);

      cumulative += sample->weight;
      if (!have_lower && 2 * cumulative >= total)
        {
          lower = sample->offset;
          have_lower = TRUE;
        }
      if (2 * cumulative > total)
        {
          upper = sample->offset;
          break;
        }
    }
  median = ABS (lower) <= ABS (upper) ? lower : upper;

  /* A clock that disagrees with the others' by more than the hold bound
   * raises the alarm, and held changes are then judged by their time: a
   * laptop with a slow clock must not hold back correct changes. */
  alarm = ABS (median) > bound;
  self->peer_offset = median;
  mh_store_set_reference_offset (self->store, alarm ? median : 0);
  if (alarm != self->clock_alarm)
    {
      self->clock_alarm = alarm;
      if (alarm)
        g_warning ("this node's clock is %" G_GINT64_FORMAT " s off its peers'", -median / 1000);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLOCK_ALARM]);
    }
  if (agree != self->agree)
    {
      /* Peers weigh this node's clock by it: tell them at once. */
      self->agree = agree;
      for (guint i = 0; i < self->links->len; i++)
        {
          Link *link = g_ptr_array_index (self->links, i);
          if (link->open)
            send_ping (link);
        }
    }
  if (alarm)
    {
      MhApplyReport report;
      mh_store_release_held (self->store, &report, NULL);
    }
}

static const MhLaneDef *
lane_def (Link *link, guint lane)
{
  return mh_schema_get_lane (mh_store_get_schema (link->owner->store), lane);
}

/* Smooth weighted round robin over the lanes that may have changes: each
 * gets its weight's share of the window, so positions never starve chat. */
static int
pick_lane (Link *link)
{
  gint64 total = 0;
  int best = -1;

  for (guint lane = 0; lane < link->n_lanes; lane++)
    {
      if (!link->lane_more[lane])
        continue;
      link->rr_current[lane] += lane_def (link, lane)->weight;
      total += lane_def (link, lane)->weight;
      if (best < 0 || link->rr_current[lane] > link->rr_current[best])
        best = (int) lane;
    }
  if (best >= 0)
    link->rr_current[best] -= total;
  return best;
}

/* Test only (tests/integration/test-network.c): MEDHEAD_TEST_RELAY_TAMPER
 * makes this node a dishonest relay of other sites' chat messages:
 * "forge" rewrites the last text of the value, "move" moves the change onto
 * another row; the signature is handed on unchanged, so every receiver must
 * refuse the result. Never set in production. */
static void
test_tamper (MhReplicator *self, MhChange *change)
{
  static const char *mode = NULL;
  static gsize once = 0;

  if (g_once_init_enter (&once))
    {
      mode = g_getenv ("MEDHEAD_TEST_RELAY_TAMPER");
      g_once_init_leave (&once, 1);
    }
  if (mode == NULL || change->kind != MH_CHANGE_SET || g_strcmp0 (change->table, "message") != 0
      || g_strcmp0 (change->origin, mh_store_get_site_id (self->store)) == 0)
    return;
  if (strcmp (mode, "move") == 0)
    {
      char *moved = g_strconcat (change->row, "-moved", NULL);

      g_free (change->row);
      change->row = moved;
    }
  else if (strcmp (mode, "forge") == 0)
    {
      gsize n = g_variant_n_children (change->value);
      g_autofree GVariant **children = g_new0 (GVariant *, n);
      gssize last_text = -1;

      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) inner = NULL;

          children[i] = g_variant_get_child_value (change->value, i);
          inner = g_variant_get_variant (children[i]);
          if (g_variant_is_of_type (inner, G_VARIANT_TYPE_STRING))
            last_text = (gssize) i;
        }
      if (last_text >= 0)
        {
          g_variant_unref (children[last_text]);
          children[last_text] = g_variant_ref_sink (
            g_variant_new_variant (g_variant_new_string ("forged by a relay")));
        }
      g_variant_unref (change->value);
      change->value = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, children, n));
      for (gsize i = 0; i < n; i++)
        g_variant_unref (children[i]);
    }
}

/* Test only (tests/integration/test-withhold.c):
 * MEDHEAD_TEST_RELAY_WITHHOLD=TABLE makes this node a relay that drops
 * other sites' changes of TABLE, and answers every question about gaps
 * with nothing. Never set in production. */
static const char *
test_withheld_table (void)
{
  static const char *table = NULL;
  static gsize once = 0;

  if (g_once_init_enter (&once))
    {
      table = g_getenv ("MEDHEAD_TEST_RELAY_WITHHOLD");
      g_once_init_leave (&once, 1);
    }
  return table;
}

static gboolean
test_withholds (MhReplicator *self, MhChange *change)
{
  const char *table = test_withheld_table ();

  return table != NULL && g_strcmp0 (change->table, table) == 0
         && g_strcmp0 (change->origin, mh_store_get_site_id (self->store)) != 0;
}

/* Need to know: the rows that @change brings into the peer's audience (a
 * patient announced to another hospital, handed over to another unit) go
 * first, as they stand, whatever the cursors say; each is sent as its
 * origin signed it, and only if the peer may hold it. */
static void
add_growth (Link *link, MhChange *change, GPtrArray *outgoing, GPtrArray *owned)
{
  MhStore *store = link->owner->store;
  g_autoptr(GPtrArray) rows = mh_store_get_audience_growth (store, change, link->site_id);

  if (rows == NULL)
    return;
  for (guint i = 0; i + 1 < rows->len; i += 2)
    {
      g_autoptr(GPtrArray) current =
        mh_store_read_row (store, g_ptr_array_index (rows, i), g_ptr_array_index (rows, i + 1),
                           NULL);

      for (guint j = 0; current != NULL && j < current->len; j++)
        {
          MhChange *grown = g_ptr_array_index (current, j);

          if (!link->send_own && g_strcmp0 (grown->origin, link->site_id) == 0)
            continue;
          if (mh_store_get_audience (store, grown, link->site_id, NULL) != MH_AUDIENCE_YES)
            continue;
          g_ptr_array_add (owned, mh_change_ref (grown));
          g_ptr_array_add (outgoing, grown);
        }
    }
}

static gboolean
link_pump (gpointer data)
{
  Link *link = data;
  MhReplicator *self = link->owner;

  link->pump_id = 0;
  while (link->open && !link->closing && link->in_flight < WINDOW)
    {
      int lane = pick_lane (link);
      MhCursor cursor;
      gboolean restarted = FALSE, more = FALSE;
      g_autoptr(GPtrArray) changes = NULL;
      g_autoptr(GPtrArray) outgoing = NULL;
      g_autoptr(GPtrArray) owned = NULL;
      g_autoptr(GError) error = NULL;
      gboolean stalled = FALSE;
      g_autofree char *batch = NULL;
      g_autofree char *text = NULL;
      guint n_skipped = 0;

      if (lane < 0)
        break;
      cursor = link->sent[lane];
      /* The peer's own changes are left out as they are read. */
      changes = mh_store_read_lane_skipping (self->store, (guint) lane, &cursor, BATCH_ENTRIES,
                                             link->send_own ? NULL : link->site_id, &n_skipped,
                                             &restarted, &more, &error);
      if (changes == NULL)
        {
          g_warning ("reading lane %d for %s: %s", lane, link->fingerprint, error->message);
          link->lane_more[lane] = FALSE;
          continue;
        }
      if (changes->len == 0 && cursor.epoch == link->sent[lane].epoch
          && cursor.seq == link->sent[lane].seq)
        {
          link->lane_more[lane] = FALSE;
          continue;
        }

      /* The peer wrote these itself: never echo them back. Need to know:
       * only what the peer may hold goes (the cursor passes over the
       * rest); a change that cannot be decided yet (the peer's own site
       * row has not arrived) stops the page there until something new is
       * committed. */
      outgoing = g_ptr_array_new ();
      owned = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
      for (guint i = 0; i < changes->len; i++)
        {
          MhChange *change = g_ptr_array_index (changes, i);
          gboolean boundary = i == 0 || ((MhChange *) g_ptr_array_index (changes, i - 1))->local_seq
                                          != change->local_seq;
          MhAudience audience;

          if (boundary && outgoing->len >= MAX_OUTGOING)
            {
              cursor.seq = ((MhChange *) g_ptr_array_index (changes, i - 1))->local_seq;
              more = TRUE;
              break;
            }
          if (!link->send_own && g_strcmp0 (change->origin, link->site_id) == 0)
            continue;
          audience = mh_store_get_audience (self->store, change, link->site_id, NULL);
          if (audience == MH_AUDIENCE_WAIT)
            {
              cursor.seq = MAX (change->local_seq - 1, link->sent[lane].seq);
              if (link->sent[lane].epoch != cursor.epoch)
                cursor.seq = change->local_seq - 1;
              more = FALSE;
              stalled = TRUE;
              break;
            }
          if (audience == MH_AUDIENCE_NO || test_withholds (self, change))
            continue;
          add_growth (link, change, outgoing, owned);
          test_tamper (self, change);
          g_ptr_array_add (outgoing, change);
        }
      link->lane_stalled[lane] = stalled;
      if (stalled && outgoing->len == 0)
        {
          link->sent[lane] = cursor;
          link->lane_more[lane] = FALSE;
          continue;
        }
      /* A page of nothing but the peer's own changes is not sent: sending
       * it would cost the peer a commit and an ack to learn nothing. Its
       * cursor catches up with the next page that carries something (or
       * re-reads these after a reconnection, and skips them again). */
      if (outgoing->len == 0 && (changes->len > 0 || n_skipped > 0) && !restarted)
        {
          link->sent[lane] = cursor;
          link->lane_more[lane] = more;
          continue;
        }

      /* Printed by the codec, which writes every real so that it reads
       * back bit for bit; json-glib's generator does not. */
      batch = mh_codec_encode_batch (outgoing, NULL);
      if (batch == NULL || batch[0] != '{')
        {
          g_warning ("lane %d for %s: a change cannot be encoded", lane, link->fingerprint);
          link->lane_more[lane] = FALSE;
          continue;
        }
      text = g_strdup_printf (CHANGES_PREFIX "\"lane\":%d,\"epoch\":%" G_GINT64_FORMAT
                              ",\"to\":%" G_GINT64_FORMAT ",%s", lane, cursor.epoch, cursor.seq,
                              batch + 1);
      link_send_text (link, text);

      link->framed[lane] = cursor.seq;
      link->sent[lane] = cursor;
      link->lane_more[lane] = more;
      link->in_flight++;
    }
  return G_SOURCE_REMOVE;
}

static void
link_pump_soon (Link *link)
{
  /* Default priority, not idle: a relay busy receiving must still forward. */
  if (link->pump_id == 0 && link->open && !link->closing)
    link->pump_id = g_idle_add_full (G_PRIORITY_DEFAULT, link_pump, link, NULL);
}

static gboolean
get_int_member (JsonObject *object, const char *name, gint64 *out)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

/* A string member, or @fallback when it is missing or not a string:
 * json-glib gives NULL for {"type": true}, not the default. */
static const char *
get_string_member (JsonObject *object, const char *name, const char *fallback)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return fallback;
  return json_node_get_string (node);
}

/* A hello's cursor: [epoch, seq], two integers (json-glib warns, and gives
 * 0, for anything else). */
static gboolean
get_cursor (JsonNode *pair, MhCursor *out)
{
  JsonArray *array;
  JsonNode *epoch, *seq;

  if (!JSON_NODE_HOLDS_ARRAY (pair) || json_array_get_length (array = json_node_get_array (pair)) != 2)
    return FALSE;
  epoch = json_array_get_element (array, 0);
  seq = json_array_get_element (array, 1);
  if (!JSON_NODE_HOLDS_VALUE (epoch) || json_node_get_value_type (epoch) != G_TYPE_INT64
      || !JSON_NODE_HOLDS_VALUE (seq) || json_node_get_value_type (seq) != G_TYPE_INT64)
    return FALSE;
  out->epoch = json_node_get_int (epoch);
  out->seq = json_node_get_int (seq);
  return TRUE;
}

/* Why a site may not link with this node, or NULL when it may. */
static char *
trust_refusal (MhReplicator *self, const char *site_id)
{
  gint64 cutoff = 0;

  switch (mh_trust_check_site (self->trust, site_id, NULL, &cutoff))
    {
    case MH_TRUST_ADMITTED:
      return NULL;
    case MH_TRUST_REVOKED:
      return g_strdup_printf ("site %s is revoked (cut-off %" G_GINT64_FORMAT ")", site_id,
                              cutoff);
    case MH_TRUST_NONE:
    default:
      return g_strdup_printf ("site %s has no valid admission to this network", site_id);
    }
}

/* The trust records, a few at a time (a control frame stays small). */
#define TRUST_RECORDS_PER_FRAME 16

static void
send_trust (Link *link)
{
  g_autoptr(JsonArray) records = mh_trust_list (link->owner->trust);
  guint n = json_array_get_length (records);

  for (guint start = 0; start < n; start += TRUST_RECORDS_PER_FRAME)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "type");
      json_builder_add_string_value (builder, "trust");
      json_builder_set_member_name (builder, "records");
      json_builder_begin_array (builder);
      for (guint i = start; i < n && i < start + TRUST_RECORDS_PER_FRAME; i++)
        json_builder_add_value (builder, json_node_copy (json_array_get_element (records, i)));
      json_builder_end_array (builder);
      json_builder_end_object (builder);
      link_send (link, builder);
    }
}

/* New records: refuse the links they revoke, and hand them on. Changes
 * parked for an admission that just came are applied now, and those of a
 * site just revoked are refused past its cut-off. */
static void ask_refetch (MhReplicator *self, Link *only);

static void
trust_changed (MhReplicator *self, Link *from)
{
  /* A revocation holds for the past too: what was applied of the site
   * past its cut-off goes, and the peers are asked for those rows. */
  if (self->trust != NULL && mh_trust_take_back_revoked (self->trust) > 0)
    ask_refetch (self, NULL);
  if (mh_store_get_parked_count (self->store) > 0)
    {
      g_autoptr(GError) error = NULL;

      if (!mh_store_retry_parked (self->store, NULL, &error))
        g_warning ("retrying parked changes: %s", error->message);
    }
  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);
      g_autofree char *reason = NULL;

      if (!link->open || link->closing)
        continue;
      reason = trust_refusal (self, link->site_id);
      if (reason != NULL)
        link_refuse (link, reason);
      else if (link != from)
        send_trust (link);
    }
}

static void
handle_trust (Link *link, JsonObject *frame)
{
  MhReplicator *self = link->owner;
  JsonNode *records = json_object_get_member (frame, "records");
  guint added = 0;

  if (self->trust == NULL || records == NULL || !JSON_NODE_HOLDS_ARRAY (records))
    return;
  for (guint i = 0; i < json_array_get_length (json_node_get_array (records)); i++)
    {
      g_autoptr(GError) error = NULL;
      JsonNode *record = json_array_get_element (json_node_get_array (records), i);

      added += mh_trust_add (self->trust, record, &error);
      if (error != NULL)
        g_message ("trust record from %s refused: %s", link->fingerprint, error->message);
    }
  if (added > 0)
    trust_changed (self, link);
}

static void link_ask_gaps (Link *link);

static void
handle_hello (Link *link, JsonObject *hello)
{
  MhReplicator *self = link->owner;
  guint n_lanes = link->n_lanes;
  gint64 proto, schema, wall;
  guint ours = mh_schema_get_version (mh_store_get_schema (self->store));
  const char *site;
  JsonArray *cursors;

  if (link->open)
    {
      link_close (link, CLOSE_PROTOCOL, "a second hello");
      return;
    }
  if (!get_int_member (hello, "proto", &proto) || !get_int_member (hello, "schema", &schema)
      || !get_int_member (hello, "wall", &wall)
      || (site = get_string_member (hello, "site", NULL)) == NULL
      || !json_object_has_member (hello, "cursors")
      || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (hello, "cursors")))
    {
      link_refuse (link, "malformed hello");
      return;
    }
  cursors = json_object_get_array_member (hello, "cursors");
  for (guint lane = 0; lane < n_lanes && lane < json_array_get_length (cursors); lane++)
    {
      MhCursor cursor;

      if (!get_cursor (json_array_get_element (cursors, lane), &cursor))
        {
          link_refuse (link, "malformed hello: a cursor is not [epoch, seq]");
          return;
        }
    }
  if (proto != MH_PROTOCOL_VERSION)
    {
      g_autofree char *msg = g_strdup_printf ("incompatible protocol version %" G_GINT64_FORMAT
                                              " (this node speaks %d)", proto, MH_PROTOCOL_VERSION);
      link_refuse (link, msg);
      return;
    }
  /* Nodes one schema version apart interoperate; further apart they are
   * refused, with the reason on both sides. */
  if (schema < (gint64) ours - 1 || schema > (gint64) ours + 1)
    {
      g_autofree char *msg = g_strdup_printf ("incompatible schema version %" G_GINT64_FORMAT
                                              " (this node has %u; one apart at most)", schema,
                                              ours);
      link_refuse (link, msg);
      return;
    }
  if (g_strcmp0 (site, link->site_id) != 0)
    {
      link_refuse (link, "the hello names another site than the certificate");
      return;
    }
  /* With a network, the peer needs a valid admission chain up to the
   * network key, and must not be revoked: checked before any data moves. */
  if (self->trust != NULL)
    {
      JsonNode *admission = json_object_get_member (hello, "admission");
      g_autofree char *reason = NULL;

      if (admission != NULL && mh_trust_add (self->trust, admission, NULL) > 0)
        trust_changed (self, link);
      reason = trust_refusal (self, link->site_id);
      if (reason != NULL)
        {
          link_refuse (link, reason);
          return;
        }
    }

  g_free (link->name);
  link->name = g_strdup (get_string_member (hello, "name", ""));

  /* A peer whose log took a new epoch was restored or copied: it may have
   * lost some of its own writes, which only its peers still hold. */
  {
    MhCursor seen;
    gint64 epoch = 0;

    get_int_member (hello, "epoch", &epoch);
    link->send_own = mh_store_get_peer_cursor (self->store, link->site_id, 0, &seen)
                     && seen.epoch != 0 && seen.epoch != epoch;
    if (link->send_own)
      g_message ("%s has a new log epoch: sending it its own changes too", link->fingerprint);
  }
  for (guint lane = 0; lane < n_lanes; lane++)
    {
      link->sent[lane].epoch = 0;
      link->sent[lane].seq = 0;
      if (lane < json_array_get_length (cursors))
        get_cursor (json_array_get_element (cursors, lane), &link->sent[lane]);
      link->acked[lane] = link->sent[lane].epoch == mh_store_get_epoch (self->store)
                            ? link->sent[lane].seq
                            : 0;
      link->framed[lane] = link->acked[lane];
      link->lane_more[lane] = TRUE;
    }
  for (guint lane = 0; lane < n_lanes; lane++)
    {
      note_acked (self, lane, link->acked[lane]);
      g_signal_emit (self, signals[SIGNAL_PEER_ACKED], 0, link->site_id, lane, link->acked[lane]);
    }

  link->offset_ms = wall - own_wall_ms (self);
  link->has_offset = TRUE;
  get_int_member (hello, "agree", &link->peer_agree);
  link->open = TRUE;
  link->last_ack_ms = now_ms ();
  link->last_contact_ms = now_ms ();
  mh_peers_record_contact (self->store, link->fingerprint, link->site_id, link->name,
                           link->bytes_sent, link->bytes_received);
  g_message ("linked with %s (%s, %s)", link->name, link->fingerprint,
             link->outgoing ? "outgoing" : "incoming");
  update_clock (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CONNECTED]);
  if (self->trust != NULL)
    send_trust (link);
  link_ask_gaps (link);
  link_pump_soon (link);
}

/* Skips one JSON value of text already validated as JSON. */
static const char *
skip_value (const char *p, const char *end)
{
  int depth = 0;
  gboolean in_string = FALSE;

  for (; p < end; p++)
    {
      char c = *p;

      if (in_string)
        {
          if (c == '\\')
            p++;
          else if (c == '"')
            {
              in_string = FALSE;
              if (depth == 0)
                return p + 1;
            }
          continue;
        }
      if (c == '"')
        in_string = TRUE;
      else if (c == '{' || c == '[')
        depth++;
      else if (c == '}' || c == ']')
        {
          if (depth == 0)
            return p;
          if (--depth == 0)
            return p + 1;
        }
      else if (depth == 0 && (c == ',' ))
        return p;
    }
  return end;
}

/* Finds an integer member of the top-level object of valid JSON text. */
static gboolean
top_level_int (const char *text, gsize length, const char *name, gint64 *out)
{
  const char *p = text, *end = text + length;
  gsize name_len = strlen (name);

  while (p < end && *p != '{')
    p++;
  if (p == end)
    return FALSE;
  p++;
  while (p < end)
    {
      const char *key;

      while (p < end && (g_ascii_isspace (*p) || *p == ','))
        p++;
      if (p >= end || *p != '"')
        return FALSE;
      key = ++p;
      while (p < end && *p != '"')
        p += *p == '\\' ? 2 : 1;
      if (p >= end)
        return FALSE;
      {
        gboolean match = (gsize) (p - key) == name_len && memcmp (key, name, name_len) == 0;

        p++;
        while (p < end && (g_ascii_isspace (*p) || *p == ':'))
          p++;
        if (match)
          {
            char *stop = NULL;
            gint64 value = g_ascii_strtoll (p, &stop, 10);

            if (stop == p || (*stop != ',' && *stop != '}' && !g_ascii_isspace (*stop)))
              return FALSE;
            *out = value;
            return TRUE;
          }
        p = skip_value (p, end);
      }
    }
  return FALSE;
}

/* Decodes and checks @in's frame. Touches neither the store nor the link,
 * so it runs in a worker thread (or, for a small frame, on the main thread:
 * see handle_changes()). The codec's strict reader validates the whole
 * frame (and ignores the frame's own members); only then are they read. */
static gboolean
decode_incoming (Incoming *in, GCancellable *cancellable, GError **error)
{
  gsize length;
  const char *text = g_bytes_get_data (in->frame, &length);
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GError) local_error = NULL;

  changes = mh_codec_decode_batch (text, (gssize) length, NULL, &local_error);
  if (changes == NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, "malformed batch: %s",
                   local_error->message);
      return FALSE;
    }
  if (!top_level_int (text, length, "lane", &in->lane)
      || !top_level_int (text, length, "epoch", &in->epoch)
      || !top_level_int (text, length, "to", &in->to))
    {
      g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                           "malformed changes frame");
      return FALSE;
    }
  /* The store checks every signature again before its transaction, but a
   * change (or seal) verified here is then a lookup in the identity's
   * cache: the costly part runs off the main thread. One by one on this
   * thread, not with mh_changes_verify(): its shared pool must stay
   * free for the main thread's quick pass. */
  for (guint i = 0; in->verify && i < changes->len; i++)
    {
      MhChange *change = g_ptr_array_index (changes, i);

      if (i % 64 == 0 && g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      /* A sealed change costs a hash: only its seal's signature (cached
       * in the seal, which the batch's changes share) is worth doing here. */
      if (change->seal != NULL)
        mh_seal_verify (change->seal, NULL);
      else
        mh_change_verify (change, NULL);
    }
  in->changes = g_steal_pointer (&changes);
  return TRUE;
}

static void
decode_changes_thread (GTask *task, gpointer source, gpointer task_data,
                       GCancellable *cancellable)
{
  GError *error = NULL;

  if (decode_incoming (task_data, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static gboolean link_apply (gpointer data);

static void
link_apply_soon (Link *link)
{
  Incoming *head = g_queue_peek_head (&link->incoming);

  /* Below the default priority: REST requests, other links' frames and
   * (at the desktop) drawing go between two batches. */
  if (link->apply_id == 0 && head != NULL && head->done && !link->closing)
    link->apply_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, link_apply, link, NULL);
}

static void decode_changes_done (GObject *source, GAsyncResult *result, gpointer data);

/* One frame at a time per link, the oldest first: it overlaps with the
 * main thread applying the one before, and a 2-core machine keeps a core
 * for the sender (a thread per frame in flight starved it: the catch-up
 * took 1.7 times as long). */
static void
link_decode_next (Link *link)
{
  g_autoptr(GTask) task = NULL;
  Incoming *in = NULL;

  if (link->decoding)
    return;
  for (GList *l = link->incoming.head; l != NULL && in == NULL; l = l->next)
    if (!((Incoming *) l->data)->started)
      in = l->data;
  if (in == NULL)
    return;
  in->started = TRUE;
  link->decoding = TRUE;
  task = g_task_new (NULL, in->cancellable, decode_changes_done, NULL);
  g_task_set_source_tag (task, link_decode_next);
  g_task_set_task_data (task, g_atomic_rc_box_acquire (in), incoming_release);
  g_task_run_in_thread (task, decode_changes_thread);
}

static void
decode_changes_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Incoming *in = g_task_get_task_data (G_TASK (result));
  Link *link = in->link;

  if (link == NULL)
    return;
  in->done = TRUE;
  if (!g_task_propagate_boolean (G_TASK (result), &in->error) && in->error == NULL)
    in->error = g_error_new_literal (MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, "not decoded");
  link->decoding = FALSE;
  link_decode_next (link);
  link_apply_soon (link);
}

static void
handle_changes (Link *link, GBytes *frame)
{
  Incoming *in;

  if (g_queue_get_length (&link->incoming) >= MAX_QUEUED_BATCHES)
    {
      link_close (link, CLOSE_PROTOCOL, "too many unacknowledged batches");
      return;
    }
  in = g_atomic_rc_box_new0 (Incoming);
  in->link = link;
  in->frame = g_bytes_ref (frame);
  in->verify = mh_store_get_verify_signatures (link->owner->store);
  in->cancellable = g_cancellable_new ();
  g_queue_push_tail (&link->incoming, in);
  /* A small frame with nothing queued before it (a live update, typically
   * one change) is decoded and applied at once: the round trip through a
   * worker thread and two main-loop dispatches cost more than its work,
   * and each is a wait for a CPU on a busy machine. */
  if (g_queue_get_length (&link->incoming) == 1 && !link->decoding && link->apply_id == 0
      && g_bytes_get_size (frame) <= INLINE_FRAME_MAX)
    {
      in->started = TRUE;
      in->done = TRUE;
      if (!decode_incoming (in, NULL, &in->error) && in->error == NULL)
        in->error = g_error_new_literal (MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, "not decoded");
      link_apply (link);
      return;
    }
  link_decode_next (link);
}

/* One batch per dispatch, the oldest, and only once it is decoded: a later
 * batch decoded first waits for it. */
static gboolean
link_apply (gpointer data)
{
  Link *link = data;
  MhReplicator *self = link->owner;
  Incoming *in = g_queue_peek_head (&link->incoming);
  g_autoptr(GError) error = NULL;
  g_autofree char *ack = NULL;
  MhApplyReport report;
  MhCursor cursor;

  link->apply_id = 0;
  if (in == NULL || !in->done || link->closing)
    return G_SOURCE_REMOVE;
  g_queue_pop_head (&link->incoming);
  if (in->error != NULL || in->lane < 0 || in->lane >= (gint64) link->n_lanes)
    {
      link_refuse (link, in->error != NULL ? in->error->message : "malformed changes frame");
      incoming_release (in);
      return G_SOURCE_REMOVE;
    }

  cursor.epoch = in->epoch;
  cursor.seq = in->to;
  if (!mh_store_apply_from_peer (self->store, in->changes, link->site_id, (guint) in->lane,
                                 &cursor, &report, &error))
    {
      /* Not acknowledged: the peer sends it again after reconnecting. */
      g_warning ("applying a batch from %s: %s", link->fingerprint, error->message);
      link_close (link, CLOSE_PROTOCOL, "could not store a batch");
      incoming_release (in);
      return G_SOURCE_REMOVE;
    }

  /* Written as json-glib would (compact, integers only), without building
   * a tree for it: this is on the path of every live update. */
  ack = g_strdup_printf ("{\"type\":\"ack\",\"lane\":%" G_GINT64_FORMAT ",\"epoch\":%"
                         G_GINT64_FORMAT ",\"seq\":%" G_GINT64_FORMAT "}", in->lane, in->epoch,
                         in->to);
  link_send_text (link, ack);
  incoming_release (in);
  link_apply_soon (link);
  return G_SOURCE_REMOVE;
}

static void
handle_ack (Link *link, JsonObject *frame)
{
  gint64 lane, epoch, seq;

  if (!get_int_member (frame, "lane", &lane) || !get_int_member (frame, "epoch", &epoch)
      || !get_int_member (frame, "seq", &seq) || lane < 0 || lane >= (gint64) link->n_lanes)
    {
      link_close (link, CLOSE_PROTOCOL, "malformed ack");
      return;
    }
  if (epoch == mh_store_get_epoch (link->owner->store))
    {
      link->acked[lane] = MAX (link->acked[lane], seq);
      note_acked (link->owner, (guint) lane, link->acked[lane]);
      g_signal_emit (link->owner, signals[SIGNAL_PEER_ACKED], 0, link->site_id, (guint) lane,
                     link->acked[lane]);
    }
  if (link->in_flight > 0)
    link->in_flight--;
  link->last_ack_ms = now_ms ();
  link_pump_soon (link);
}

static void
handle_ping (Link *link, JsonObject *frame)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  gint64 wall = 0;

  get_int_member (frame, "wall", &wall);
  if (get_int_member (frame, "agree", &link->peer_agree))
    update_clock (link->owner);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "pong");
  json_builder_set_member_name (builder, "agree");
  json_builder_add_int_value (builder, link->owner->agree);
  json_builder_set_member_name (builder, "wall");
  json_builder_add_int_value (builder, own_wall_ms (link->owner));
  json_builder_set_member_name (builder, "echo");
  json_builder_add_int_value (builder, wall);
  json_builder_end_object (builder);
  link_send (link, builder);
}

static void
handle_pong (Link *link, JsonObject *frame)
{
  gint64 wall, echo, mine, rtt;

  if (!get_int_member (frame, "wall", &wall) || !get_int_member (frame, "echo", &echo))
    return;
  get_int_member (frame, "agree", &link->peer_agree);
  mine = own_wall_ms (link->owner);
  rtt = MAX (0, mine - echo);
  link->offset_ms = wall + rtt / 2 - mine;
  link->has_offset = TRUE;
  update_clock (link->owner);
}

/* A want frame's shape: `gaps` triples [origin, first >= 1, last >= first]
 * and `rows` pairs [table, row], at least one of the two. */
static gboolean
want_is_valid (JsonObject *frame)
{
  JsonNode *gaps = json_object_get_member (frame, "gaps");
  JsonNode *rows = json_object_get_member (frame, "rows");
  JsonNode *again = json_object_get_member (frame, "again");

  if ((gaps == NULL && rows == NULL) || (gaps != NULL && !JSON_NODE_HOLDS_ARRAY (gaps))
      || (rows != NULL && !JSON_NODE_HOLDS_ARRAY (rows))
      || (again != NULL && json_node_get_value_type (again) != G_TYPE_BOOLEAN))
    return FALSE;
  for (guint i = 0; gaps != NULL && i < json_array_get_length (json_node_get_array (gaps)); i++)
    {
      JsonNode *entry = json_array_get_element (json_node_get_array (gaps), i);
      JsonArray *triple;

      if (!JSON_NODE_HOLDS_ARRAY (entry)
          || json_array_get_length (triple = json_node_get_array (entry)) != 3
          || json_node_get_value_type (json_array_get_element (triple, 0)) != G_TYPE_STRING
          || json_node_get_value_type (json_array_get_element (triple, 1)) != G_TYPE_INT64
          || json_node_get_value_type (json_array_get_element (triple, 2)) != G_TYPE_INT64
          || json_array_get_int_element (triple, 1) < 1
          || json_array_get_int_element (triple, 2) < json_array_get_int_element (triple, 1))
        return FALSE;
    }
  for (guint i = 0; rows != NULL && i < json_array_get_length (json_node_get_array (rows)); i++)
    {
      JsonNode *entry = json_array_get_element (json_node_get_array (rows), i);
      JsonArray *pair;

      if (!JSON_NODE_HOLDS_ARRAY (entry)
          || json_array_get_length (pair = json_node_get_array (entry)) != 2
          || json_node_get_value_type (json_array_get_element (pair, 0)) != G_TYPE_STRING
          || json_node_get_value_type (json_array_get_element (pair, 1)) != G_TYPE_STRING)
        return FALSE;
    }
  return TRUE;
}

/* A have frame's answers: [origin, first, upto, [a, b, …]] with integers
 * in pairs. */
static gboolean
answers_are_valid (JsonNode *node)
{
  JsonArray *answers;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return FALSE;
  answers = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (answers); i++)
    {
      JsonNode *entry = json_array_get_element (answers, i);
      JsonArray *answer, *explained;

      if (!JSON_NODE_HOLDS_ARRAY (entry)
          || json_array_get_length (answer = json_node_get_array (entry)) != 4
          || json_node_get_value_type (json_array_get_element (answer, 0)) != G_TYPE_STRING
          || !JSON_NODE_HOLDS_ARRAY (json_array_get_element (answer, 3)))
        return FALSE;
      explained = json_array_get_array_element (answer, 3);
      if (json_array_get_length (explained) % 2 != 0)
        return FALSE;
      for (guint j = 0; j < json_array_get_length (explained); j++)
        {
          JsonNode *n = json_array_get_element (explained, j);

          if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
            return FALSE;
        }
    }
  return TRUE;
}

/* A have frame, parsed: its answers (in @parser) and its changes. */
static GPtrArray *
have_parse (const char *text, gsize size, JsonParser *parser, JsonArray **out_answers,
            gboolean *out_again, GError **error)
{
  JsonNode *root, *node, *again;

  if (!mh_codec_check_depth (text, size, 8, error)
      || !json_parser_load_from_data (parser, text, (gssize) size, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)
      || !answers_are_valid (node = json_object_get_member (json_node_get_object (root),
                                                            "answers")))
    {
      g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, "malformed have");
      return NULL;
    }
  again = json_object_get_member (json_node_get_object (root), "again");
  if (again != NULL && json_node_get_value_type (again) != G_TYPE_BOOLEAN)
    {
      g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, "malformed have");
      return NULL;
    }
  *out_answers = json_node_get_array (node);
  *out_again = again != NULL && json_node_get_boolean (again);
  return mh_codec_decode_batch (text, (gssize) size, NULL, error);
}

/* Asks @link about @gaps (MhGap). @again: about suspicions, once the peer
 * has committed everything this node sent it; its answer says so too, and
 * only such an answer is judged (an answer to an earlier question tells
 * what the peer had before). */
static void
send_want (Link *link, GPtrArray *gaps, gboolean again)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "want");
  if (again)
    {
      json_builder_set_member_name (builder, "again");
      json_builder_add_boolean_value (builder, TRUE);
    }
  json_builder_set_member_name (builder, "gaps");
  json_builder_begin_array (builder);
  for (guint i = 0; i < gaps->len && i < GAP_ASK_MAX; i++)
    {
      const MhGap *gap = g_ptr_array_index (gaps, i);

      json_builder_begin_array (builder);
      json_builder_add_string_value (builder, gap->origin);
      json_builder_add_int_value (builder, gap->first);
      json_builder_add_int_value (builder, gap->last);
      json_builder_end_array (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  link_send (link, builder);
}

/* Whether @link's peer committed everything this node has for it. */
static gboolean
link_caught_up (Link *link)
{
  if (!link->open || link->closing || link->in_flight > 0)
    return FALSE;
  for (guint lane = 0; lane < link->n_lanes; lane++)
    if (link->lane_more[lane] || link->lane_stalled[lane] || link->framed[lane] > link->acked[lane])
      return FALSE;
  return TRUE;
}

/* The changes another peer filled @link's gaps with, asked of @link again
 * once it has committed them too (it got them from this node): an honest
 * relay, late by another path, now accounts for them
 * (mh_store_judge()). */
static void
ask_suspects (Link *link)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) suspects = NULL;

  if (link->site_id == NULL)
    return;
  suspects = mh_store_get_suspects (link->owner->store, link->site_id, GAP_ASK_MAX, &error);
  if (suspects == NULL)
    {
      g_warning ("reading suspicions: %s", error->message);
      return;
    }
  if (suspects->len == 0)
    {
      link->again_asked = 0;
      return;
    }
  if (link->again_asked < GAP_AGAIN_TRIES)
    {
      link->again_asked++;
      send_want (link, suspects, TRUE);
      return;
    }
  /* Asked again and again, caught up each time, and still not settled: no
   * answer accounts for these (a peer that stays silent must not outlast
   * its suspicions, which are forgotten after GAP_KEEP_MS). */
  link->again_asked = 0;
  for (guint i = 0; i < suspects->len; i++)
    {
      MhGap *gap = g_ptr_array_index (suspects, i);
      g_autoptr(GArray) none = g_array_new (FALSE, FALSE, sizeof (gint64));

      if (!mh_store_judge (link->owner->store, link->site_id, gap->origin, gap->first,
                           gap->last, none, &error))
        {
          g_warning ("judging suspicions about %s: %s", link->fingerprint, error->message);
          return;
        }
    }
}

/* Withholding (docs/security.md): holes in an origin's sequence numbers
 * are asked of every peer; the answers bring the changes back, or account
 * for them; the store counts a relay whose hole another peer filled. */
static gboolean
gap_tick_cb (gpointer data)
{
  MhReplicator *self = data;
  g_autoptr(GPtrArray) gaps = NULL;
  g_autoptr(GPtrArray) due = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = now_ms ();
  guint n_open = 0;

  ask_refetch (self, NULL);
  if (!mh_store_scan_gaps (self->store, now, GAP_KEEP_MS, &error))
    {
      g_warning ("looking for gaps: %s", error->message);
      return G_SOURCE_CONTINUE;
    }
  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);

      if (link->open)
        n_open++;
      if (link_caught_up (link))
        ask_suspects (link);
    }
  if (n_open == 0 || mh_store_get_gap_count (self->store) == 0)
    return G_SOURCE_CONTINUE;
  gaps = mh_store_get_gaps (self->store, TRUE, 4 * GAP_ASK_MAX, &error);
  if (gaps == NULL)
    {
      g_warning ("reading gaps: %s", error->message);
      return G_SOURCE_CONTINUE;
    }
  due = g_ptr_array_new ();
  for (guint i = 0; i < gaps->len && due->len < GAP_ASK_MAX; i++)
    {
      MhGap *gap = g_ptr_array_index (gaps, i);

      if (gap->tries >= GAP_TRIES || now - gap->noticed_ms < self->gap_grace_ms
          || (gap->tries > 0
              && now - gap->asked_ms < ((gint64) self->gap_grace_ms << gap->tries)))
        continue;
      g_ptr_array_add (due, gap);
    }
  if (due->len == 0)
    return G_SOURCE_CONTINUE;
  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);

      if (link->open && !link->closing)
        send_want (link, due, FALSE);
    }
  if (!mh_store_note_gaps_asked (self->store, due, now, &error))
    g_warning ("recording questions: %s", error->message);
  return G_SOURCE_CONTINUE;
}

/* Rows whose revoked changes were taken back, asked of @only or of every
 * open link. */
static void
ask_refetch (MhReplicator *self, Link *only)
{
  g_autoptr(GPtrArray) pairs = mh_store_get_refetch (self->store, 2 * GAP_ASK_MAX, GAP_TRIES);
  g_autoptr(JsonBuilder) builder = NULL;
  g_autofree char *text = NULL;
  gboolean sent = FALSE;

  if (pairs->len == 0)
    return;
  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "want");
  json_builder_set_member_name (builder, "rows");
  json_builder_begin_array (builder);
  for (guint i = 0; i + 1 < pairs->len; i += 2)
    {
      json_builder_begin_array (builder);
      json_builder_add_string_value (builder, g_ptr_array_index (pairs, i));
      json_builder_add_string_value (builder, g_ptr_array_index (pairs, i + 1));
      json_builder_end_array (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  {
    g_autoptr(JsonGenerator) generator = json_generator_new ();
    g_autoptr(JsonNode) root = json_builder_get_root (builder);

    json_generator_set_root (generator, root);
    text = json_generator_to_data (generator, NULL);
  }
  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);

      if (!link->open || link->closing || (only != NULL && link != only))
        continue;
      link_send_text (link, text);
      sent = TRUE;
    }
  if (sent && only == NULL && !mh_store_note_refetch_asked (self->store, pairs, GAP_TRIES, NULL))
    g_warning ("recording questions about rows");
}

/* A new link is asked at once about the gaps its elders could not fill. */
static void
link_ask_gaps (Link *link)
{
  MhReplicator *self = link->owner;
  g_autoptr(GPtrArray) gaps = NULL;
  g_autoptr(GPtrArray) asked = NULL;

  ask_refetch (self, link);
  if (mh_store_get_gap_count (self->store) == 0)
    return;
  gaps = mh_store_get_gaps (self->store, TRUE, 4 * GAP_ASK_MAX, NULL);
  asked = g_ptr_array_new ();
  for (guint i = 0; gaps != NULL && i < gaps->len && asked->len < GAP_ASK_MAX; i++)
    if (((MhGap *) g_ptr_array_index (gaps, i))->tries > 0)
      g_ptr_array_add (asked, g_ptr_array_index (gaps, i));
  if (asked->len > 0)
    send_want (link, asked, FALSE);
}

static void
handle_want (Link *link, JsonObject *frame)
{
  MhReplicator *self = link->owner;
  JsonNode *node = json_object_get_member (frame, "gaps");
  g_autoptr(GPtrArray) outgoing = NULL;
  g_autoptr(GString) answers = NULL;
  g_autofree char *batch = NULL;
  g_autofree char *text = NULL;
  JsonArray *gaps;
  guint budget = GAP_ANSWER_LIMIT;
  gint64 now = now_ms ();

  JsonNode *rows_node = json_object_get_member (frame, "rows");

  if (!want_is_valid (frame))
    {
      link_close (link, CLOSE_PROTOCOL, "malformed want");
      return;
    }
  /* Answering costs reads: past a few questions a second, a peer waits for
   * its next round. */
  if (now - link->last_want_ms >= GAP_ANSWER_EVERY_MS)
    {
      link->last_want_ms = now;
      link->n_wants = 0;
    }
  if (++link->n_wants > GAP_ANSWERS_PER_WINDOW)
    return;
  outgoing = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  answers = g_string_new ("[");
  /* Rows a peer took back a revoked site's changes from: as they stand. */
  if (rows_node != NULL && test_withheld_table () == NULL)
    {
      JsonArray *rows = json_node_get_array (rows_node);
      g_autoptr(GPtrArray) pairs = g_ptr_array_new ();
      g_autoptr(GPtrArray) found = NULL;
      g_autoptr(GError) error = NULL;

      for (guint i = 0; i < json_array_get_length (rows) && i < 2 * GAP_ASK_MAX; i++)
        {
          JsonArray *pair = json_array_get_array_element (rows, i);

          g_ptr_array_add (pairs, (gpointer) json_array_get_string_element (pair, 0));
          g_ptr_array_add (pairs, (gpointer) json_array_get_string_element (pair, 1));
        }
      found = mh_store_answer_rows (self->store, pairs, link->site_id, &error);
      if (found == NULL)
        {
          g_warning ("answering %s about rows: %s", link->fingerprint, error->message);
          return;
        }
      for (guint i = 0; i < found->len; i++)
        g_ptr_array_add (outgoing, mh_change_ref (g_ptr_array_index (found, i)));
    }
  gaps = node != NULL ? json_node_get_array (node) : NULL;
  for (guint i = 0; gaps != NULL && i < json_array_get_length (gaps) && i < GAP_ASK_MAX
                   && budget > 0; i++)
    {
      JsonArray *triple = json_array_get_array_element (gaps, i);
      const char *origin;
      gint64 first, last, upto;
      g_autoptr(GArray) explained = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_autoptr(GPtrArray) found = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *quoted = NULL;

      origin = json_array_get_string_element (triple, 0);
      first = json_array_get_int_element (triple, 1);
      last = json_array_get_int_element (triple, 2);
      /* A withholding relay (test only) knows nothing. */
      if (test_withheld_table () != NULL)
        continue;
      found = mh_store_answer_gap (self->store, origin, first, last, link->site_id, budget,
                                   explained, &upto, &error);
      if (found == NULL)
        {
          g_warning ("answering %s about gaps: %s", link->fingerprint, error->message);
          return;
        }
      for (guint j = 0; j + 1 < explained->len; j += 2)
        {
          gint64 n = g_array_index (explained, gint64, j + 1) - g_array_index (explained, gint64, j) + 1;
          budget -= (guint) MIN ((gint64) budget, n);
        }
      for (guint j = 0; j < found->len; j++)
        g_ptr_array_add (outgoing, mh_change_ref (g_ptr_array_index (found, j)));
      quoted = g_strescape (origin, NULL);
      g_string_append_printf (answers, "%s[\"%s\",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",[",
                              answers->len > 1 ? "," : "", quoted, first, upto);
      for (guint j = 0; j < explained->len; j++)
        g_string_append_printf (answers, "%s%" G_GINT64_FORMAT, j ? "," : "",
                                g_array_index (explained, gint64, j));
      g_string_append (answers, "]]");
    }
  g_string_append (answers, "]");
  batch = mh_codec_encode_batch (outgoing, NULL);
  if (batch == NULL || batch[0] != '{')
    {
      g_warning ("answering %s about gaps: a change cannot be encoded", link->fingerprint);
      return;
    }
  text = g_strdup_printf (HAVE_PREFIX "%s\"answers\":%s,%s",
                          json_object_get_boolean_member_with_default (frame, "again", FALSE)
                            ? "\"again\":true,"
                            : "",
                          answers->str, batch + 1);
  link_send_text (link, text);
}

static void
handle_have (Link *link, GBytes *message)
{
  MhReplicator *self = link->owner;
  gsize size;
  const char *text = g_bytes_get_data (message, &size);
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) error = NULL;
  JsonArray *answers = NULL;
  gboolean again = FALSE;

  changes = have_parse (text, size, parser, &answers, &again, &error);
  if (changes == NULL)
    {
      link_refuse (link, "malformed have");
      return;
    }
  /* Checked and applied like any batch, but no cursor moves: these came
   * out of the peer's log order. */
  if (changes->len > 0 && !mh_store_apply_fetched (self->store, changes, link->site_id, NULL, &error))
    {
      g_warning ("applying an answer from %s: %s", link->fingerprint, error->message);
      return;
    }
  for (guint i = 0; i < json_array_get_length (answers); i++)
    {
      JsonArray *answer = json_array_get_array_element (answers, i);
      JsonArray *explained = json_array_get_array_element (answer, 3);
      const char *origin = json_array_get_string_element (answer, 0);
      g_autoptr(GArray) pairs = g_array_new (FALSE, FALSE, sizeof (gint64));

      for (guint j = 0; j + 1 < json_array_get_length (explained); j += 2)
        {
          gint64 a = json_array_get_int_element (explained, j);
          gint64 b = json_array_get_int_element (explained, j + 1);

          g_array_append_val (pairs, a);
          g_array_append_val (pairs, b);
          if (!mh_store_settle_gap (self->store, origin, a, b, link->site_id, &error))
            {
              g_warning ("recording an answer from %s: %s", link->fingerprint, error->message);
              return;
            }
        }
      if (again && !mh_store_judge (self->store, link->site_id, origin,
                           json_array_get_int_element (answer, 1),
                           json_array_get_int_element (answer, 2), pairs, &error))
        {
          g_warning ("judging an answer from %s: %s", link->fingerprint, error->message);
          return;
        }
    }
}

static void
send_ping (Link *link)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "ping");
  json_builder_set_member_name (builder, "wall");
  json_builder_add_int_value (builder, own_wall_ms (link->owner));
  json_builder_set_member_name (builder, "agree");
  json_builder_add_int_value (builder, link->owner->agree);
  json_builder_end_object (builder);
  link_send (link, builder);
}

static void
link_message_cb (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer data)
{
  Link *link = data;
  gsize size;
  const char *text = g_bytes_get_data (message, &size);
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *root;
  JsonObject *frame;
  const char *kind;
  gint64 now = now_ms ();

  if (link->closing)
    return;
  link->bytes_received += size;
  link->last_contact_ms = now;

  /* A peer may not flood us: a bounded number of frames per second. */
  if (now - link->rate_window_ms >= 1000)
    {
      link->rate_window_ms = now;
      link->rate_count = 0;
    }
  if (++link->rate_count > MAX_FRAMES_PER_SECOND)
    {
      link_close (link, CLOSE_PROTOCOL, "too many frames per second");
      return;
    }

  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    {
      link_refuse (link, "binary frames are not part of the protocol");
      return;
    }
  if (size > strlen (CHANGES_PREFIX) && memcmp (text, CHANGES_PREFIX, strlen (CHANGES_PREFIX)) == 0)
    {
      if (!link->open)
        link_refuse (link, "expected a hello first");
      else
        handle_changes (link, message);
      return;
    }
  if (size > strlen (HAVE_PREFIX) && memcmp (text, HAVE_PREFIX, strlen (HAVE_PREFIX)) == 0)
    {
      if (!link->open)
        link_refuse (link, "expected a hello first");
      else
        handle_have (link, message);
      return;
    }
  /* Control frames are small: anything big is not one. */
  if (size > 64 * 1024 || !mh_codec_check_depth (text, size, 8, &error))
    {
      link_refuse (link, error ? error->message : "control frame too large");
      return;
    }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize) size, &error)
      || !JSON_NODE_HOLDS_OBJECT (root = json_parser_get_root (parser)))
    {
      link_refuse (link, "malformed frame");
      return;
    }
  frame = json_node_get_object (root);
  kind = get_string_member (frame, "type", "");

  if (g_str_equal (kind, "hello"))
    handle_hello (link, frame);
  else if (!link->open && !g_str_equal (kind, "error"))
    link_refuse (link, "expected a hello first");
  else if (g_str_equal (kind, "ack"))
    handle_ack (link, frame);
  else if (g_str_equal (kind, "ping"))
    handle_ping (link, frame);
  else if (g_str_equal (kind, "pong"))
    handle_pong (link, frame);
  else if (g_str_equal (kind, "trust"))
    handle_trust (link, frame);
  else if (g_str_equal (kind, "want"))
    handle_want (link, frame);
  else if (g_str_equal (kind, "error"))
    {
      const char *msg = get_string_member (frame, "message", "error");
      g_autofree char *text_msg = g_strdup_printf ("refused by the peer: %s", msg);
      link_close (link, CLOSE_REFUSED, text_msg);
    }
  /* Unknown frame types are ignored: a newer peer may send more. */
}

static void
link_closed_cb (SoupWebsocketConnection *conn, gpointer data)
{
  Link *link = data;
  MhReplicator *self = link->owner;
  Dial *dial;

  if (link->open)
    mh_peers_record_contact (self->store, link->fingerprint, link->site_id, link->name,
                             link->bytes_sent, link->bytes_received);
  dial = g_hash_table_lookup (self->dials, link->fingerprint);
  g_ptr_array_remove (self->links, link); /* frees it */
  update_clock (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CONNECTED]);
  if (dial != NULL && self->running)
    dial_schedule (dial);
}

static void
link_error_cb (SoupWebsocketConnection *conn, GError *error, gpointer data)
{
  Link *link = data;
  g_debug ("link with %s: %s", link->fingerprint, error->message);
}

static Link *
link_new (MhReplicator *self, SoupWebsocketConnection *conn, gboolean outgoing,
          const char *fingerprint, const char *site_id)
{
  Link *link = g_new0 (Link, 1);
  guint n_lanes = mh_schema_get_n_lanes (mh_store_get_schema (self->store));
  g_autoptr(MhPeerInfo) info = mh_peers_lookup (self->store, fingerprint);

  link->owner = self;
  link->conn = g_object_ref (conn);
  link->outgoing = outgoing;
  link->fingerprint = g_strdup (fingerprint);
  link->site_id = g_strdup (site_id);
  link->n_lanes = n_lanes;
  link->sent = g_new0 (MhCursor, n_lanes);
  link->acked = g_new0 (gint64, n_lanes);
  link->framed = g_new0 (gint64, n_lanes);
  link->lane_more = g_new0 (gboolean, n_lanes);
  link->lane_stalled = g_new0 (gboolean, n_lanes);
  link->rr_current = g_new0 (gint64, n_lanes);
  link->rate_window_ms = now_ms ();
  link->created_ms = link->rate_window_ms;
  /* Byte counts run over the peer's whole life, not one link: a link cut
   * and reopened does not hide what crossed before. */
  if (info != NULL)
    {
      link->bytes_sent = info->bytes_sent;
      link->bytes_received = info->bytes_received;
    }

  soup_websocket_connection_set_max_incoming_payload_size (conn, MAX_FRAME_BYTES);
  soup_websocket_connection_set_keepalive_interval (conn, PING_INTERVAL_S);
  g_signal_connect (conn, "message", G_CALLBACK (link_message_cb), link);
  g_signal_connect (conn, "closed", G_CALLBACK (link_closed_cb), link);
  g_signal_connect (conn, "error", G_CALLBACK (link_error_cb), link);
  g_ptr_array_add (self->links, link);
  send_hello (link);
  return link;
}

/* ------------------------------------------------------------------------ */
/* Accepting links                                                          */

static gboolean
is_pinned_peer (MhReplicator *self, GTlsCertificate *certificate)
{
  g_autofree char *fingerprint = NULL;
  g_autoptr(MhPeerInfo) info = NULL;

  if (certificate == NULL)
    return FALSE;
  fingerprint = mh_fingerprint_from_certificate (certificate);
  if (fingerprint == NULL)
    return FALSE;
  info = mh_peers_lookup (self->store, fingerprint);
  return info != NULL;
}

static gboolean
server_accept_certificate_cb (SoupServerMessage *msg, GTlsCertificate *certificate,
                              GTlsCertificateFlags errors, gpointer data)
{
  /* Self-signed certificates are the rule here: trust comes from the
   * pinned fingerprint, not from a certificate authority. */
  return is_pinned_peer (MH_REPLICATOR (data), certificate);
}

static void
server_request_started_cb (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  g_signal_connect_object (msg, "accept-certificate", G_CALLBACK (server_accept_certificate_cb),
                           data, 0);
}

static void
websocket_cb (SoupServer *server, SoupServerMessage *msg, const char *path,
              SoupWebsocketConnection *conn, gpointer data)
{
  MhReplicator *self = data;
  GTlsCertificate *certificate = soup_server_message_get_tls_peer_certificate (msg);
  g_autofree char *fingerprint = NULL;
  g_autofree char *site_id = NULL;

  /* Checked again here: the handshake hook is the first line, this the second. */
  if (!self->running || !is_pinned_peer (self, certificate))
    {
      soup_websocket_connection_close (conn, CLOSE_REFUSED, "unknown peer");
      return;
    }
  fingerprint = mh_fingerprint_from_certificate (certificate);
  site_id = mh_site_id_from_certificate (certificate);
  link_new (self, conn, FALSE, fingerprint, site_id);
}

static void
sync_http_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
              gpointer data)
{
  static const char body[] = "{\"error\":{\"status\":400,\"message\":\"this port speaks the "
                             "MedHead sync protocol over WebSocket\"}}";

  soup_server_message_set_status (msg, SOUP_STATUS_BAD_REQUEST, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, body,
                                    strlen (body));
}

gboolean
mh_parse_listen_address (const char *address, char **host, guint16 *port, GError **error)
{
  const char *colon;
  guint64 value;

  colon = address ? strrchr (address, ':') : NULL;
  if (colon == NULL || colon == address
      || !g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &value, NULL))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                   _("“%s” is not an address: expected HOST:PORT, e.g. 0.0.0.0:8471"),
                   address ? address : "");
      return FALSE;
    }
  *host = g_strndup (address, colon - address);
  if ((*host)[0] == '[' && (*host)[strlen (*host) - 1] == ']')
    {
      char *inner = g_strndup (*host + 1, strlen (*host) - 2);
      g_free (*host);
      *host = inner;
    }
  *port = (guint16) value;
  return TRUE;
}

/**
 * mh_replicator_listen:
 * @address: HOST:PORT; a port of 0 picks a free one
 * @out_port: (out) (optional): the port bound
 *
 * Accepts peer links over TLS, with a client certificate required and
 * pinned: an unknown or wrong certificate is refused before any data moves.
 */
gboolean
mh_replicator_listen (MhReplicator *self, const char *address, guint16 *out_port,
                      GError **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  guint16 port;

  g_return_val_if_fail (MH_IS_REPLICATOR (self), FALSE);

  if (!mh_parse_listen_address (address, &host, &port, error))
    return FALSE;
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                   _("“%s” is not an IP address"), host);
      return FALSE;
    }

  if (self->server == NULL)
    {
      self->server = soup_server_new ("server-header", "medhead-sync", NULL);
      soup_server_set_tls_certificate (self->server, self->certificate);
      soup_server_set_tls_auth_mode (self->server, G_TLS_AUTHENTICATION_REQUIRED);
      g_signal_connect_object (self->server, "request-started",
                               G_CALLBACK (server_request_started_cb), self, 0);
      soup_server_add_websocket_handler (self->server, MH_SYNC_PATH, NULL, NULL, websocket_cb,
                                         self, NULL);
      soup_server_add_handler (self->server, NULL, sync_http_cb, self, NULL);
      {
        MhServerGuardLimits limits = { ACCEPT_TIMEOUT_MS, MAX_CONNECTIONS };
        self->server_guard = mh_server_guard_attach (self->server, &limits);
      }
    }

  socket_address = g_inet_socket_address_new (inet, port);
  if (!soup_server_listen (self->server, socket_address, SOUP_SERVER_LISTEN_HTTPS, error))
    return FALSE;

  /* The bound port, from the listening socket itself: libsoup 3.2's
   * soup_server_get_uris() leaks an address on every call. */
  if (out_port)
    {
      g_autoptr(GSList) listeners = soup_server_get_listeners (self->server);

      *out_port = port;
      for (GSList *l = listeners; l != NULL; l = l->next)
        {
          g_autoptr(GSocketAddress) local = g_socket_get_local_address (l->data, NULL);
          if (G_IS_INET_SOCKET_ADDRESS (local))
            *out_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
        }
    }
  self->running = TRUE;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Calling peers                                                            */

static void
dial_free (Dial *dial)
{
  g_clear_handle_id (&dial->timer_id, g_source_remove);
  if (dial->cancellable)
    {
      g_cancellable_cancel (dial->cancellable);
      g_clear_object (&dial->cancellable);
    }
  /* The session may still hold the message in the middle of its TLS
   * handshake: its accept-certificate must not reach a freed dial. */
  if (dial->msg != NULL)
    g_signal_handlers_disconnect_by_data (dial->msg, dial);
  g_clear_object (&dial->msg);
  g_free (dial->fingerprint);
  g_free (dial->url);
  g_free (dial);
}

static gboolean
client_accept_certificate_cb (SoupMessage *msg, GTlsCertificate *certificate,
                              GTlsCertificateFlags errors, gpointer data)
{
  Dial *dial = data;
  g_autofree char *fingerprint = mh_fingerprint_from_certificate (certificate);

  return g_strcmp0 (fingerprint, dial->fingerprint) == 0;
}

static gboolean
has_link (MhReplicator *self, const char *fingerprint)
{
  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);
      if (!link->closing && g_strcmp0 (link->fingerprint, fingerprint) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
dial_connected_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Dial *dial = data;
  MhReplicator *self;
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupWebsocketConnection) conn = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *site_id = NULL;
  GTlsCertificate *peer;

  conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = dial->owner;
  dial->connecting = FALSE;
  msg = g_steal_pointer (&dial->msg);
  if (conn == NULL)
    {
      g_debug ("calling %s at %s: %s", dial->fingerprint, dial->url, error->message);
      mh_peers_record_error (self->store, dial->fingerprint, error->message);
      dial_schedule (dial);
      return;
    }
  /* The pinned certificate is the peer's identity. */
  peer = msg ? soup_message_get_tls_peer_certificate (msg) : NULL;
  if (peer)
    site_id = mh_site_id_from_certificate (peer);
  if (site_id == NULL)
    {
      soup_websocket_connection_close (conn, CLOSE_REFUSED, "no peer certificate");
      dial_schedule (dial);
      return;
    }
  dial->backoff_ms = 0;
  link_new (self, conn, TRUE, dial->fingerprint, site_id);
}

static gboolean
dial_now (gpointer data)
{
  Dial *dial = data;
  MhReplicator *self = dial->owner;
  g_autofree char *uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;

  dial->timer_id = 0;
  if (!self->running || has_link (self, dial->fingerprint) || dial->connecting)
    return G_SOURCE_REMOVE;

  uri = g_strconcat (dial->url[strlen (dial->url) - 1] == '/' ? "" : "", dial->url,
                     dial->url[strlen (dial->url) - 1] == '/' ? MH_SYNC_PATH + 1 : MH_SYNC_PATH,
                     NULL);
  msg = soup_message_new ("GET", uri);
  if (msg == NULL)
    {
      mh_peers_record_error (self->store, dial->fingerprint, "invalid URL");
      return G_SOURCE_REMOVE;
    }
  soup_message_set_tls_client_certificate (msg, self->certificate);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (client_accept_certificate_cb), dial);
  g_clear_object (&dial->cancellable);
  dial->cancellable = g_cancellable_new ();
  dial->connecting = TRUE;
  g_set_object (&dial->msg, msg);
  soup_session_websocket_connect_async (self->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        dial->cancellable, dial_connected_cb, dial);
  return G_SOURCE_REMOVE;
}

static void
dial_schedule (Dial *dial)
{
  MhReplicator *self = dial->owner;

  if (!self->running || dial->timer_id != 0 || dial->connecting)
    return;
  /* Exponential backoff, so an unreachable hub costs little. */
  dial->backoff_ms = dial->backoff_ms ? MIN (dial->backoff_ms * 2, self->max_backoff_ms) : 250;
  dial->timer_id = g_timeout_add (dial->backoff_ms, dial_now, dial);
}

/**
 * mh_replicator_reload_peers:
 *
 * Reads the peer list again: calls new peers that have a URL, drops links
 * and calls to removed peers.
 */
void
mh_replicator_reload_peers (MhReplicator *self)
{
  g_autoptr(GPtrArray) peers = NULL;
  g_autoptr(GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  Dial *dial;

  g_return_if_fail (MH_IS_REPLICATOR (self));

  peers = mh_peers_list (self->store);
  for (guint i = 0; i < peers->len; i++)
    {
      MhPeerInfo *info = g_ptr_array_index (peers, i);

      g_hash_table_add (wanted, info->fingerprint);
      if (info->url == NULL)
        continue;
      dial = g_hash_table_lookup (self->dials, info->fingerprint);
      if (dial == NULL)
        {
          dial = g_new0 (Dial, 1);
          dial->owner = self;
          dial->fingerprint = g_strdup (info->fingerprint);
          g_hash_table_insert (self->dials, dial->fingerprint, dial);
        }
      if (g_strcmp0 (dial->url, info->url) != 0)
        {
          /* A new peer, or a new address: call now rather than after the backoff. */
          g_free (dial->url);
          dial->url = g_strdup (info->url);
          if (self->running && !has_link (self, dial->fingerprint) && !dial->connecting)
            {
              g_clear_handle_id (&dial->timer_id, g_source_remove);
              dial->backoff_ms = 0;
              dial->timer_id = g_idle_add (dial_now, dial);
            }
        }
      else if (self->running && !has_link (self, dial->fingerprint) && !dial->connecting
               && dial->timer_id == 0)
        dial_schedule (dial);
    }

  g_hash_table_iter_init (&iter, self->dials);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &dial))
    if (!g_hash_table_contains (wanted, dial->fingerprint))
      g_hash_table_iter_remove (&iter);

  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);
      if (!g_hash_table_contains (wanted, link->fingerprint))
        link_close (link, CLOSE_REFUSED, "peer removed");
    }
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */

static void
committed_cb (MhStore *store, gint64 seq, gpointer data)
{
  MhReplicator *self = data;
  guint64 lanes = mh_store_get_committed_lanes (store);
  gint64 epoch = mh_store_get_epoch (store);

  /* Only the lanes this commit wrote to, and those where a change waits
   * for something new (its audience): reading the others again cost a
   * query each on every commit, before the live update's frame went out. */
  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);
      for (guint lane = 0; lane < link->n_lanes; lane++)
        if (lane >= 64 || (lanes & (G_GUINT64_CONSTANT (1) << lane)) != 0
            || link->lane_stalled[lane] || link->sent[lane].epoch != epoch)
          link->lane_more[lane] = TRUE;
      link_pump_soon (link);
    }
}

static gboolean
watchdog_cb (gpointer data)
{
  MhReplicator *self = data;
  gint64 now = now_ms ();

  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);

      /* Authenticated is not enough to hold a link open without a word. */
      if (!link->open && !link->closing && now - link->created_ms > self->hello_timeout_ms)
        {
          link_close (link, CLOSE_PROTOCOL, "no hello in time");
          continue;
        }
      if (!link->open || link->closing)
        continue;
      /* A peer that stops acknowledging is dropped; it resumes from its
       * committed cursor when it comes back. */
      if (link->in_flight > 0 && now - link->last_ack_ms > STUCK_AFTER_MS)
        {
          link_close (link, CLOSE_STUCK, "no acknowledgement for a minute");
          continue;
        }
      mh_peers_record_contact (self->store, link->fingerprint, link->site_id, link->name,
                               link->bytes_sent, link->bytes_received);
      send_ping (link);
    }
  /* `medhead-node peer add` writes to the replica while the daemon runs,
   * and so do `admit` and `revoke`. */
  mh_replicator_reload_peers (self);
  if (self->trust != NULL && mh_trust_reload (self->trust))
    trust_changed (self, NULL);
  /* Held changes are released as time passes, without new arrivals. */
  if (mh_store_get_held_count (self->store) > 0)
    mh_store_release_held (self->store, NULL, NULL);
  return G_SOURCE_CONTINUE;
}

/**
 * mh_replicator_start:
 *
 * Calls every peer that has a URL, and keeps calling back after a link is
 * cut. Call after mh_replicator_listen() when this node also accepts links.
 */
void
mh_replicator_start (MhReplicator *self)
{
  g_return_if_fail (MH_IS_REPLICATOR (self));

  self->running = TRUE;
  if (self->committed_id == 0)
    self->committed_id = g_signal_connect (self->store, "committed", G_CALLBACK (committed_cb),
                                           self);
  if (self->watchdog_id == 0)
    self->watchdog_id = g_timeout_add_seconds (5, watchdog_cb, self);
  /* Revocations that arrived before a crash or a restart. */
  if (self->trust != NULL)
    mh_trust_take_back_revoked (self->trust);
  if (self->gap_id == 0)
    self->gap_id = g_timeout_add (self->gap_tick_ms, gap_tick_cb, self);
  mh_replicator_reload_peers (self);
}

void
mh_replicator_stop (MhReplicator *self)
{
  g_return_if_fail (MH_IS_REPLICATOR (self));

  self->running = FALSE;
  g_hash_table_remove_all (self->dials);
  for (guint i = 0; i < self->links->len; i++)
    {
      Link *link = g_ptr_array_index (self->links, i);
      if (link->open)
        mh_peers_record_contact (self->store, link->fingerprint, link->site_id, link->name,
                                 link->bytes_sent, link->bytes_received);
      link_close (link, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
    }
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->gap_id, g_source_remove);
  g_clear_signal_handler (&self->committed_id, self->store);
  if (self->server)
    soup_server_disconnect (self->server);
}

gboolean
mh_replicator_get_clock_alarm (MhReplicator *self)
{
  g_return_val_if_fail (MH_IS_REPLICATOR (self), FALSE);
  return self->clock_alarm;
}

gint64
mh_replicator_get_peer_offset (MhReplicator *self)
{
  g_return_val_if_fail (MH_IS_REPLICATOR (self), 0);
  return self->peer_offset;
}

guint
mh_replicator_get_n_connected (MhReplicator *self)
{
  guint n = 0;

  g_return_val_if_fail (MH_IS_REPLICATOR (self), 0);
  for (guint i = 0; i < self->links->len; i++)
    if (((Link *) g_ptr_array_index (self->links, i))->open)
      n++;
  return n;
}

void
mh_replicator_set_max_backoff (MhReplicator *self, guint max_ms)
{
  g_return_if_fail (MH_IS_REPLICATOR (self));
  self->max_backoff_ms = MAX (max_ms, 250);
}

/**
 * mh_replicator_set_hello_timeout:
 *
 * How long a link may stay open without a hello (checked every 5 s).
 * Tests shorten it.
 */
void
mh_replicator_set_hello_timeout (MhReplicator *self, guint timeout_ms)
{
  g_return_if_fail (MH_IS_REPLICATOR (self));
  self->hello_timeout_ms = timeout_ms;
}

/**
 * mh_replicator_get_peer_status:
 *
 * Returns: (transfer full): one object per configured peer: fingerprint,
 *   url, site_id, name, connected, direction, last_contact, changes_waiting,
 *   bytes_sent, bytes_received, clock_offset_ms, last_error
 */
JsonArray *
mh_replicator_get_peer_status (MhReplicator *self)
{
  g_autoptr(GPtrArray) peers = NULL;
  JsonArray *result = json_array_new ();

  g_return_val_if_fail (MH_IS_REPLICATOR (self), result);

  peers = mh_peers_list (self->store);
  for (guint i = 0; i < peers->len; i++)
    {
      MhPeerInfo *info = g_ptr_array_index (peers, i);
      JsonObject *object = json_object_new ();
      Link *link = NULL;
      gint64 waiting = 0;

      for (guint j = 0; j < self->links->len; j++)
        {
          Link *candidate = g_ptr_array_index (self->links, j);
          if (candidate->open && g_strcmp0 (candidate->fingerprint, info->fingerprint) == 0)
            link = candidate;
        }

      json_object_set_string_member (object, "fingerprint", info->fingerprint);
      if (info->url)
        json_object_set_string_member (object, "url", info->url);
      else
        json_object_set_null_member (object, "url");
      if (info->site_id)
        json_object_set_string_member (object, "site_id", info->site_id);
      else
        json_object_set_null_member (object, "site_id");
      json_object_set_string_member (object, "name", link && link->name ? link->name
                                                     : info->name ? info->name : "");
      json_object_set_boolean_member (object, "connected", link != NULL);
      if (link)
        json_object_set_string_member (object, "direction", link->outgoing ? "outgoing"
                                                                           : "incoming");
      json_object_set_int_member (object, "last_contact",
                                  link ? link->last_contact_ms : info->last_contact_ms);
      if (link)
        {
          gint64 epoch = mh_store_get_epoch (self->store);

          for (guint lane = 0; lane < link->n_lanes; lane++)
            {
              gint64 from = link->acked[lane];

              /* Every frame acknowledged: what the link passed over since
               * (the peer's own changes) is not waiting either. Counting
               * those was also a scan of the whole log after a catch-up
               * (8 ms a call at 100,000 rows). */
              if (link->framed[lane] <= link->acked[lane] && link->sent[lane].epoch == epoch)
                from = MAX (from, link->sent[lane].seq);
              waiting += mh_store_count_after (self->store, lane, from);
            }
        }
      else if (info->site_id)
        {
          /* Not connected: what it will need is what lies past the cursor
           * it had on our log, which we do not know; the whole lane is an
           * upper bound, so report the lanes' lengths past zero only when
           * it never linked. */
          waiting = -1;
        }
      json_object_set_int_member (object, "changes_waiting", waiting);
      json_object_set_int_member (object, "bytes_sent", link ? link->bytes_sent : info->bytes_sent);
      json_object_set_int_member (object, "bytes_received",
                                  link ? link->bytes_received : info->bytes_received);
      if (link && link->has_offset)
        json_object_set_int_member (object, "clock_offset_ms", link->offset_ms);
      if (info->last_error)
        json_object_set_string_member (object, "last_error", info->last_error);
      json_array_add_object_element (result, object);
    }
  return result;
}

static void
mh_replicator_dispose (GObject *object)
{
  MhReplicator *self = MH_REPLICATOR (object);

  if (self->running)
    mh_replicator_stop (self);
  if (self->links)
    g_ptr_array_set_size (self->links, 0);
  g_clear_pointer (&self->server_guard, mh_server_guard_free);
  g_clear_object (&self->server);
  g_clear_object (&self->session);
  G_OBJECT_CLASS (mh_replicator_parent_class)->dispose (object);
}

static void
mh_replicator_finalize (GObject *object)
{
  MhReplicator *self = MH_REPLICATOR (object);

  g_ptr_array_unref (self->links);
  g_hash_table_unref (self->dials);
  g_clear_object (&self->store);
  g_clear_object (&self->trust);
  g_clear_object (&self->certificate);
  g_free (self->fingerprint);
  g_free (self->site_id);
  g_free (self->name);
  g_free (self->acked_high);
  G_OBJECT_CLASS (mh_replicator_parent_class)->finalize (object);
}

static void
mh_replicator_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MhReplicator *self = MH_REPLICATOR (object);

  switch (prop_id)
    {
    case PROP_CLOCK_ALARM: g_value_set_boolean (value, self->clock_alarm); break;
    case PROP_N_CONNECTED: g_value_set_uint (value, mh_replicator_get_n_connected (self)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_replicator_class_init (MhReplicatorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mh_replicator_dispose;
  object_class->finalize = mh_replicator_finalize;
  object_class->get_property = mh_replicator_get_property;

  properties[PROP_CLOCK_ALARM] =
    g_param_spec_boolean ("clock-alarm", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_N_CONNECTED] =
    g_param_spec_uint ("n-connected", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MhReplicator::acked:
   * @lane: the lane
   * @seq: the new high-water mark
   *
   * Some peer committed this node's log up to @seq in @lane (this epoch),
   * higher than any peer before: a local change at or below it has left
   * this node. Emitted as acknowledgements arrive and as links open.
   */
  signals[SIGNAL_ACKED] = g_signal_new ("acked", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT,
                                        G_TYPE_INT64);
  /**
   * MhReplicator::peer-acked:
   * @site_id: the peer's site id
   * @lane: the lane
   * @seq: what that peer has committed of this node's log in @lane (this epoch)
   *
   * Per peer, where ::acked is for any peer: a node that must know which
   * kind of peer holds its changes (retention waits for a hub) listens here.
   */
  signals[SIGNAL_PEER_ACKED] = g_signal_new ("peer-acked", G_TYPE_FROM_CLASS (klass),
                                             G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                             3, G_TYPE_STRING, G_TYPE_UINT, G_TYPE_INT64);
}

static void
mh_replicator_init (MhReplicator *self)
{
  self->links = g_ptr_array_new_with_free_func ((GDestroyNotify) link_free);
  self->dials = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) dial_free);
  self->max_backoff_ms = 30000;
  self->hello_timeout_ms = HELLO_TIMEOUT_MS;
  self->gap_tick_ms = GAP_TICK_MS;
  self->gap_grace_ms = GAP_GRACE_MS;
  /* Test only: gaps looked for every N ms and asked after 2N. */
  if (g_getenv ("MEDHEAD_TEST_GAP_MS") != NULL)
    {
      guint64 tick = g_ascii_strtoull (g_getenv ("MEDHEAD_TEST_GAP_MS"), NULL, 10);

      if (tick >= 10 && tick <= 60000)
        {
          self->gap_tick_ms = (guint) tick;
          self->gap_grace_ms = (guint) (2 * tick);
        }
    }
}

/**
 * mh_replicator_new:
 * @certificate: this node's certificate, with its private key
 * @fingerprint: this node's fingerprint
 * @name: a name people recognise, sent to peers
 */
/**
 * mh_replicator_set_trust:
 * @trust: (nullable): the network's records; %NULL links with pinned peers
 *   alone
 *
 * With a network, a peer links only with a valid admission chain and while
 * it is not revoked; an open link is closed when its revocation arrives.
 */
void
mh_replicator_set_trust (MhReplicator *self, MhTrust *trust)
{
  g_return_if_fail (MH_IS_REPLICATOR (self));
  g_set_object (&self->trust, trust);
}

MhReplicator *
mh_replicator_new (MhStore *store, GTlsCertificate *certificate, const char *fingerprint,
                   const char *name)
{
  MhReplicator *self;

  g_return_val_if_fail (MH_IS_STORE (store), NULL);
  g_return_val_if_fail (G_IS_TLS_CERTIFICATE (certificate), NULL);

  self = g_object_new (MH_TYPE_REPLICATOR, NULL);
  self->store = g_object_ref (store);
  self->certificate = g_object_ref (certificate);
  self->fingerprint = g_strdup (fingerprint);
  self->site_id = g_strdup (mh_store_get_site_id (store));
  self->name = g_strdup (name ? name : "");
  self->n_acked_high = mh_schema_get_n_lanes (mh_store_get_schema (store));
  self->acked_high = g_new0 (gint64, self->n_acked_high);
  /* Else every call to a peer parses the system's certificate authorities
   * on the main loop first (seconds under ASan): see mh-tls-database.c. */
  mh_tls_database_install_default ();
  self->session = soup_session_new_with_options ("timeout", 30, "idle-timeout", 60, NULL);
  /* Links go straight to the pinned URL: a desktop proxy setting must not
   * reroute them (and reading it needs GSettings schemas a hub may lack). */
  soup_session_set_proxy_resolver (self->session, NULL);
  /* Trust comes from the pinned fingerprint alone, never from the system's
   * certificate authorities. */
  soup_session_set_tls_database (self->session, NULL);
  /* permessage-deflate: a catch-up shrinks about 14-fold on the wire. */
  soup_session_add_feature_by_type (self->session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
  return self;
}

/* ------------------------------------------------------------------------ */
/* Frames without a link (tests, fuzzing)                                   */

static const char *
frame_malformed (GError **error, const char *message)
{
  g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, message);
  return NULL;
}

const char *
mh_replicator_check_frame (const char *text, gsize size, guint n_lanes, GError **error)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root;
  JsonObject *frame;
  const char *kind;

  g_return_val_if_fail (text != NULL || size == 0, NULL);

  if (size > strlen (CHANGES_PREFIX) && memcmp (text, CHANGES_PREFIX, strlen (CHANGES_PREFIX)) == 0)
    {
      g_autoptr(GPtrArray) changes = mh_codec_decode_batch (text, (gssize) size, NULL, error);
      gint64 lane, epoch, to;

      if (changes == NULL)
        return NULL;
      if (!top_level_int (text, size, "lane", &lane) || !top_level_int (text, size, "epoch", &epoch)
          || !top_level_int (text, size, "to", &to) || lane < 0 || lane >= (gint64) n_lanes)
        return frame_malformed (error, "malformed changes frame");
      return "changes";
    }
  if (size > strlen (HAVE_PREFIX) && memcmp (text, HAVE_PREFIX, strlen (HAVE_PREFIX)) == 0)
    {
      g_autoptr(JsonParser) have = json_parser_new_immutable ();
      g_autoptr(GPtrArray) changes = NULL;
      JsonArray *answers = NULL;
      gboolean again;

      changes = have_parse (text, size, have, &answers, &again, error);
      return changes != NULL ? "have" : NULL;
    }
  if (size > 64 * 1024)
    return frame_malformed (error, "control frame too large");
  if (!mh_codec_check_depth (text, size, 8, error))
    return NULL;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize) size, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return frame_malformed (error, "malformed frame");
  frame = json_node_get_object (root);
  kind = get_string_member (frame, "type", "");
  if (g_str_equal (kind, "hello"))
    {
      gint64 proto, schema, wall, epoch = 0, agree = 0;
      JsonArray *cursors;

      if (!get_int_member (frame, "proto", &proto) || !get_int_member (frame, "schema", &schema)
          || !get_int_member (frame, "wall", &wall)
          || get_string_member (frame, "site", NULL) == NULL
          || !json_object_has_member (frame, "cursors")
          || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (frame, "cursors")))
        return frame_malformed (error, "malformed hello");
      get_int_member (frame, "epoch", &epoch);
      get_int_member (frame, "agree", &agree);
      get_string_member (frame, "name", "");
      cursors = json_object_get_array_member (frame, "cursors");
      for (guint lane = 0; lane < n_lanes && lane < json_array_get_length (cursors); lane++)
        {
          MhCursor cursor;

          if (!get_cursor (json_array_get_element (cursors, lane), &cursor))
            return frame_malformed (error, "malformed hello: a cursor is not [epoch, seq]");
        }
      return "hello";
    }
  if (g_str_equal (kind, "ack"))
    {
      gint64 lane, epoch, seq;

      if (!get_int_member (frame, "lane", &lane) || !get_int_member (frame, "epoch", &epoch)
          || !get_int_member (frame, "seq", &seq) || lane < 0 || lane >= (gint64) n_lanes)
        return frame_malformed (error, "malformed ack");
      return "ack";
    }
  if (g_str_equal (kind, "want"))
    return want_is_valid (frame) ? "want" : frame_malformed (error, "malformed want");
  if (g_str_equal (kind, "ping"))
    return "ping";
  if (g_str_equal (kind, "pong"))
    return "pong";
  if (g_str_equal (kind, "error"))
    return "error";
  return "unknown";
}

/**
 * mh_replicator_get_acked_seq:
 * @lane: a lane of the schema
 *
 * Returns: the highest sequence number of this node's log (this epoch) in
 * @lane that some peer has committed since the replicator started, or 0
 */
gint64
mh_replicator_get_acked_seq (MhReplicator *self, guint lane)
{
  g_return_val_if_fail (MH_IS_REPLICATOR (self), 0);
  return lane < self->n_acked_high ? self->acked_high[lane] : 0;
}

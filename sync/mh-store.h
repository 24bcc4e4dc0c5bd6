/* mh-store.h: a SQLite replica whose tables converge across nodes
 *
 * A store keeps the rows of the declared tables, and for each row register
 * the winning clock, origin, origin sequence number, signature and local
 * sequence number. Local writes are stamped with the replica's hybrid
 * logical clock; remote changes merge by last-writer-wins on (clock, site
 * id) per register, deletes win, and apply is idempotent, commutative and
 * associative, so any delivery order gives the same replica.
 *
 * A store is used from one thread, the one that opened it.
 */
#pragma once

#include <sqlite3.h>

#include "mh-change.h"
#include "mh-identity.h"
#include "mh-schema.h"

G_BEGIN_DECLS

#define MH_TYPE_STORE (mh_store_get_type ())

G_DECLARE_FINAL_TYPE (MhStore, mh_store, MH, STORE, GObject)

#define MH_STORE_DEFAULT_HOLD_BOUND_MS (5 * 60 * 1000)

/**
 * MhVerdict:
 * @MH_VERDICT_ACCEPT: the change may be applied
 * @MH_VERDICT_REJECT: the change is wrong in itself; it is counted and listed
 * @MH_VERDICT_PARK: the change refers to something not yet here; it is kept
 *   and retried whenever new changes arrive
 */
typedef enum
{
  MH_VERDICT_ACCEPT,
  MH_VERDICT_REJECT,
  MH_VERDICT_PARK,
} MhVerdict;

typedef enum
{
  MH_ROW_ABSENT,
  MH_ROW_LIVE,
  MH_ROW_DELETED,
} MhRowState;

/**
 * MhValidateFunc:
 * @store: the store
 * @change: the change, local or remote
 * @row: (nullable): the row as it would be with the change applied; %NULL for a deletion
 * @local: %TRUE for a local write
 * @reason: (out): a reason for a reject or park, owned by the caller
 *
 * Decides a change before it is applied. The verdict must depend only on
 * the change, the row and data that every node ends up holding (so that a
 * change is decided the same way everywhere). It runs inside the store's
 * transaction and may read the store.
 */
typedef MhVerdict (*MhValidateFunc) (MhStore *store, const MhChange *change, const MhRow *row,
                                     gboolean local, char **reason, gpointer user_data);

typedef gboolean (*MhTransactionFunc) (MhStore *store, gpointer user_data, GError **error);

/**
 * MhApplyReport:
 *
 * What happened to each change of a batch. Duplicates of changes already
 * held here count as @ignored_older.
 */
typedef struct
{
  guint applied;
  guint ignored_older;
  guint ignored_deleted;
  guint rejected;
  guint parked;
  guint held;
  guint unparked; /* parked earlier, applied now */
  guint released; /* held earlier, applied now */
  guint dropped_evicted; /* changes to rows evicted here: dropped */
  guint withheld; /* not for this node (need to know): dropped */
} MhApplyReport;

typedef struct
{
  MhChange *change;
  char *reason;
  gint64 at_ms; /* wall clock when it was queued */
} MhQueuedChange;

typedef struct
{
  char *reg;
  GVariant *value; /* av */
  MhHlc hlc;
  char *origin;
  gint64 replaced_at_ms;
  MhHlc replaced_by;
} MhHistoryEntry;

typedef struct
{
  guint64 count;
  guint64 h1;
  guint64 h2;
} MhDigest;

/* Opening */
MhStore *mh_store_open (const char *path, MhSchema *schema, const char *site_id, GError **error);
const char *mh_store_get_path (MhStore *self);
const char *mh_store_get_site_id (MhStore *self);
MhSchema *mh_store_get_schema (MhStore *self);
sqlite3 *mh_store_get_db (MhStore *self);

/* Clock */
MhHlc mh_store_get_clock (MhStore *self);
MhHlc mh_store_now (MhStore *self);
void mh_store_set_clock_offset (MhStore *self, gint64 offset_ms);
gint64 mh_store_get_clock_offset (MhStore *self);
void mh_store_set_reference_offset (MhStore *self, gint64 offset_ms);
gint64 mh_store_get_reference_ms (MhStore *self);
void mh_store_set_hold_bound (MhStore *self, gint64 bound_ms);
gint64 mh_store_get_hold_bound (MhStore *self);

/* Validation */
void mh_store_set_validator (MhStore *self, MhValidateFunc func, gpointer user_data,
                             GDestroyNotify destroy);
/* Asked before a change from a peer is applied: TRUE with a reason
 * refuses it (it goes to the rejected queue). Trust uses it for the changes
 * of a revoked site past its cut-off. */
typedef gboolean (*MhOriginFilter) (MhStore *store, const char *origin, gint64 origin_seq,
                                    char **reason, gpointer user_data);
void mh_store_set_origin_filter (MhStore *self, MhOriginFilter func, gpointer user_data);

/* Need to know (docs/sync.md, "Audience") */
typedef enum
{
  MH_AUDIENCE_YES,  /* the site may hold the change */
  MH_AUDIENCE_NO,   /* it may not: never sent to it, dropped by it */
  MH_AUDIENCE_WAIT, /* not decidable yet (what it belongs to is missing): the
                     * sender stops there, the receiver parks it */
} MhAudience;

/**
 * MhAudienceFunc:
 * @site_id: the site that would hold @change (a peer, or this node)
 * @context: (nullable) (element-type MhChange): the changes travelling with
 *   it (the rest of a batch, or the parked changes); may hold %NULL entries
 *
 * Decides from the data whether @site_id may hold @change. Runs on every
 * change sent or received: keep it cheap.
 */
typedef MhAudience (*MhAudienceFunc) (MhStore *store, const MhChange *change,
                                      const char *site_id, GPtrArray *context,
                                      gpointer user_data);
/* The rows (pairs of strings: table, row id) that sending @change to
 * @site_id brings into its audience; the sender sends their current state
 * first, whatever its cursor says. NULL: none. */
typedef GPtrArray *(*MhAudienceGrowFunc) (MhStore *store, const MhChange *change,
                                          const char *site_id, gpointer user_data);
void mh_store_set_audience (MhStore *self, MhAudienceFunc func, MhAudienceGrowFunc grow,
                            gpointer user_data, GDestroyNotify destroy);
MhAudience mh_store_get_audience (MhStore *self, const MhChange *change, const char *site_id,
                                  GPtrArray *context);
GPtrArray *mh_store_get_audience_growth (MhStore *self, const MhChange *change,
                                         const char *site_id);
GPtrArray *mh_store_read_row (MhStore *self, const char *table, const char *row, GError **error);

/* Signatures (docs/protocol.md, "Signed changes") */
void mh_store_set_identity (MhStore *self, MhIdentity *identity);
void mh_store_set_verify_signatures (MhStore *self, gboolean verify);
gboolean mh_store_get_verify_signatures (MhStore *self);

/* Local writes. Values are a{sv}: x/i/u/b integers, d reals, s text, a
 * maybe nothing for NULL. Outside a transaction each call is its own. */
gboolean mh_store_transact (MhStore *self, MhTransactionFunc func, gpointer user_data,
                            GError **error);
gboolean mh_store_insert (MhStore *self, const char *table, const char *row, GVariant *values,
                          GError **error);
gboolean mh_store_update (MhStore *self, const char *table, const char *row, GVariant *values,
                          GError **error);
gboolean mh_store_upsert (MhStore *self, const char *table, const char *row, GVariant *values,
                          GError **error);
gboolean mh_store_delete (MhStore *self, const char *table, const char *row, GError **error);

typedef enum
{
  MH_WRITE_INSERT,
  MH_WRITE_UPDATE,
  MH_WRITE_UPSERT,
} MhWriteMode;

gboolean mh_store_write_values (MhStore *self, const char *table, const char *row,
                                MhWriteMode mode, guint n_values, const char *const *columns,
                                const GValue *values, GError **error);

/* Reading */
MhRowState mh_store_get_row_state (MhStore *self, const char *table, const char *row);
MhHlc mh_store_get_register_hlc (MhStore *self, const char *table_name, const char *row_id,
                                 const char *reg_name);
GVariant *mh_store_get_row (MhStore *self, const char *table, const char *row);

/* Remote changes */
gboolean mh_store_apply (MhStore *self, GPtrArray *changes, MhApplyReport *report,
                         GError **error);
gboolean mh_store_release_held (MhStore *self, MhApplyReport *report, GError **error);
gboolean mh_store_retry_parked (MhStore *self, MhApplyReport *report, GError **error);

/* Peers */
gboolean mh_store_apply_from_peer (MhStore *self, GPtrArray *changes, const char *peer,
                                   guint lane, const MhCursor *cursor, MhApplyReport *report,
                                   GError **error);
gboolean mh_store_get_peer_cursor (MhStore *self, const char *peer, guint lane,
                                   MhCursor *cursor);
gint64 mh_store_count_after (MhStore *self, guint lane, gint64 seq);

/* Withholding (docs/security.md): holes in a peer origin's sequence
 * numbers, asked of every peer, and the relays whose gaps another peer
 * filled with a change that won here. */

/**
 * MhGap:
 * @origin: the site whose sequence numbers @first..@last never arrived
 * @via: (nullable): the peer that brought that site's next change
 * @settled_by: (nullable): the peer that explained the hole (it saw those
 *   changes, and they lost to newer ones or are not for this site)
 * @noticed_ms: when this node saw the hole
 * @asked_ms: when its peers were last asked, 0 never
 * @tries: how many times they were asked
 */
typedef struct
{
  char *origin;
  gint64 first;
  gint64 last;
  char *via;
  char *settled_by;
  gint64 noticed_ms;
  gint64 asked_ms;
  guint tries;
} MhGap;

/**
 * MhWithheld:
 * @peer: a relay whose gap another peer filled with a change that won here
 * @count: how many such changes
 * @last_ms: when the last one was seen
 * @origin: the last one's origin
 * @oseq: the last one's origin sequence number
 */
typedef struct
{
  char *peer;
  gint64 count;
  gint64 last_ms;
  char *origin;
  gint64 oseq;
} MhWithheld;

void mh_gap_free (MhGap *gap);
void mh_withheld_free (MhWithheld *withheld);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhGap, mh_gap_free)

gboolean mh_store_scan_gaps (MhStore *self, gint64 now_ms, gint64 keep_ms, GError **error);
GPtrArray *mh_store_get_gaps (MhStore *self, gboolean unsettled_only, guint limit,
                              GError **error);
gboolean mh_store_note_gaps_asked (MhStore *self, GPtrArray *gaps, gint64 now_ms,
                                   GError **error);
gboolean mh_store_settle_gap (MhStore *self, const char *origin, gint64 first, gint64 last,
                              const char *peer, GError **error);
GPtrArray *mh_store_answer_gap (MhStore *self, const char *origin, gint64 first, gint64 last,
                                const char *peer, guint limit, GArray *explained,
                                gint64 *out_last, GError **error);
gboolean mh_store_apply_fetched (MhStore *self, GPtrArray *changes, const char *peer,
                                 MhApplyReport *report, GError **error);
/* Deferred durability */
gboolean mh_store_set_deferred_sync (MhStore *self, GError **error);
void mh_store_end_deferred_sync (MhStore *self);
guint64 mh_store_get_sync_ticket (MhStore *self);
gboolean mh_store_is_synced (MhStore *self, guint64 ticket);
void mh_store_wait_synced_async (MhStore *self, guint64 ticket, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean mh_store_wait_synced_finish (MhStore *self, GAsyncResult *result, GError **error);
gboolean mh_store_wait_synced (MhStore *self, GError **error);

GPtrArray *mh_store_get_suspects (MhStore *self, const char *peer, guint limit, GError **error);
gboolean mh_store_judge (MhStore *self, const char *peer, const char *origin, gint64 first,
                         gint64 last, GArray *explained, GError **error);
GPtrArray *mh_store_get_withheld (MhStore *self, GError **error);
guint mh_store_get_gap_count (MhStore *self);

/* Revocation, retroactively (docs/trust.md) */
gboolean mh_store_forget_after (MhStore *self, const char *origin, gint64 cutoff,
                                guint *out_taken, GError **error);
GPtrArray *mh_store_get_refetch (MhStore *self, guint limit, guint max_tries);
gboolean mh_store_note_refetch_asked (MhStore *self, GPtrArray *pairs, guint max_tries,
                                      GError **error);
GPtrArray *mh_store_answer_rows (MhStore *self, GPtrArray *pairs, const char *peer,
                                 GError **error);

/* The log */
gint64 mh_store_get_epoch (MhStore *self);
gint64 mh_store_get_last_seq (MhStore *self);
guint64 mh_store_get_committed_lanes (MhStore *self);
gboolean mh_store_new_epoch (MhStore *self, GError **error);
GPtrArray *mh_store_read_lane (MhStore *self, guint lane, MhCursor *cursor, guint limit,
                               gboolean *restarted, gboolean *more, GError **error);
GPtrArray *mh_store_read_lane_skipping (MhStore *self, guint lane, MhCursor *cursor, guint limit,
                                        const char *skip_origin, guint *n_skipped,
                                        gboolean *restarted, gboolean *more, GError **error);

/* Queues */
guint mh_store_get_held_count (MhStore *self);
guint mh_store_get_parked_count (MhStore *self);
guint mh_store_get_rejected_count (MhStore *self);
GPtrArray *mh_store_list_held (MhStore *self, guint limit);
GPtrArray *mh_store_list_parked (MhStore *self, guint limit);
GPtrArray *mh_store_list_rejected (MhStore *self, guint limit);

/* History of losing values */
GPtrArray *mh_store_list_history (MhStore *self, const char *table, const char *row);

/* Digests */
gboolean mh_store_get_digest (MhStore *self, const char *bucket, MhDigest *digest);
GHashTable *mh_store_list_digests (MhStore *self);
char *mh_digest_to_string (const MhDigest *digest);
gboolean mh_store_recompute_digests (MhStore *self, GHashTable **out_digests, GError **error);
gboolean mh_store_digest_rows (MhStore *self, const char *table, const char *const *rows,
                               MhDigest *digest, GError **error);

/* Local eviction (docs/protocol.md, "Eviction"): drops rows from this
 * replica only, with their log entries, history and queued changes, and
 * leaves a marker so that later changes to them are dropped. Not a
 * replicated delete: peers keep their copies. */
gboolean mh_store_evict (MhStore *self, const char *table, const char *const *rows,
                         GError **error);
gboolean mh_store_is_evicted (MhStore *self, const char *table, const char *row);
guint mh_store_get_evicted_count (MhStore *self);
guint64 mh_store_get_dropped_evicted_count (MhStore *self);
guint64 mh_store_get_reused_seq_count (MhStore *self);
/* The highest local sequence number a row (or its tombstone) carries, but
 * for changes of @skip_origins: a peer that acknowledged its lane up to
 * that number holds the row as it is here. 0 when the row is absent. */
gint64 mh_store_get_row_lseq (MhStore *self, const char *table, const char *row,
                              const char *const *skip_origins);

/* Rows as the validator sees them */
gboolean mh_row_has (const MhRow *row, const char *column);
gboolean mh_row_is_null (const MhRow *row, const char *column);
gint64 mh_row_get_int (const MhRow *row, const char *column);
double mh_row_get_double (const MhRow *row, const char *column);
const char *mh_row_get_string (const MhRow *row, const char *column);
const char *mh_row_get_id (const MhRow *row);
const char *mh_row_get_table (const MhRow *row);

void mh_queued_change_free (MhQueuedChange *queued);
void mh_history_entry_free (MhHistoryEntry *entry);

G_END_DECLS

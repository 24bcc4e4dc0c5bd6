/* Tests of gaps: holes in an origin's sequence numbers, asked of other
 * peers, filled or explained, and the relays whose holes another peer
 * filled counted as withholding (docs/security.md, "Withholding"). Real
 * signed replicas; the questions and answers go through the store's API
 * as the replicator sends them. */
#include "config.h"

#include <string.h>

#include "mh-codec.h"
#include "mh-identity.h"
#include "mh-store.h"
#include "mh-test-util.h"
#include "sync-test-common.h"

#define KEEP_MS (60 * MINUTE_MS)


static void
write_name (MhStore *store, const char *row, const char *name, gboolean insert)
{
  g_autoptr(GError) error = NULL;
  GVariant *values = g_variant_new_parsed ("{'name': <%s>}", name);

  if (insert)
    g_assert_true (mh_store_insert (store, "hospital", row, values, &error));
  else
    g_assert_true (mh_store_update (store, "hospital", row, values, &error));
  g_assert_no_error (error);
}

/* The origin sequence number of the name @store holds for @row. */
static gint64
name_oseq (MhStore *store, const char *row)
{
  g_autoptr(GPtrArray) changes = mh_store_read_row (store, "hospital", row, NULL);

  for (guint i = 0; i < changes->len; i++)
    {
      MhChange *change = g_ptr_array_index (changes, i);

      if (g_strcmp0 (change->reg, "name") == 0)
        return change->origin_seq;
    }
  g_assert_not_reached ();
}

/* @from's whole log but the changes of @origin numbered @skip (0: none). */
static GPtrArray *
read_but (MhStore *from, const char *origin, gint64 skip)
{
  g_autoptr(GPtrArray) all = test_read_all (from);
  GPtrArray *kept = test_batch_new ();

  for (guint i = 0; i < all->len; i++)
    {
      MhChange *change = g_ptr_array_index (all, i);

      if (g_strcmp0 (change->origin, origin) == 0 && change->origin_seq == skip)
        continue;
      g_ptr_array_add (kept, mh_change_ref (change));
    }
  return kept;
}

static void
apply_from (MhStore *store, GPtrArray *changes, MhIdentity *peer)
{
  g_autoptr(GError) error = NULL;
  MhApplyReport report;

  g_assert_true (mh_store_apply_fetched (store, changes, mh_identity_get_site_id (peer), &report,
                                         &error));
  g_assert_no_error (error);
  g_assert_cmpuint (report.rejected, ==, 0);
}

static GPtrArray *
gaps_of (MhStore *store, gboolean unsettled_only)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *gaps = mh_store_get_gaps (store, unsettled_only, 100, &error);

  g_assert_no_error (error);
  g_assert_nonnull (gaps);
  return gaps;
}

static void
scan (MhStore *store)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_scan_gaps (store, g_get_real_time () / 1000, KEEP_MS, &error));
  g_assert_no_error (error);
}

static gint64
withheld_by (MhStore *store, MhIdentity *peer)
{
  g_autoptr(GPtrArray) list = mh_store_get_withheld (store, NULL);

  for (guint i = 0; i < list->len; i++)
    {
      MhWithheld *w = g_ptr_array_index (list, i);

      if (g_strcmp0 (w->peer, mh_identity_get_site_id (peer)) == 0)
        return w->count;
    }
  return 0;
}

/* Asks @store about @origin's @first..@last for @peer; returns what it
 * sends and puts what it accounts for in @explained. */
static GPtrArray *
ask (MhStore *store, MhIdentity *origin, gint64 first, gint64 last, MhIdentity *peer,
     GArray *explained)
{
  g_autoptr(GError) error = NULL;
  gint64 upto = 0;
  GPtrArray *found = mh_store_answer_gap (store, mh_identity_get_site_id (origin), first, last,
                                          mh_identity_get_site_id (peer), 256, explained, &upto,
                                          &error);

  g_assert_no_error (error);
  g_assert_nonnull (found);
  g_assert_cmpint (upto, ==, last);
  /* As it crosses the wire. */
  {
    g_autofree char *text = mh_codec_encode_batch (found, NULL);
    GPtrArray *decoded = mh_codec_decode_batch (text, -1, NULL, &error);

    g_assert_no_error (error);
    g_ptr_array_unref (found);
    return decoded;
  }
}

/* Whether none of @changes is number @oseq. */
static gboolean
holds_no (GPtrArray *changes, gint64 oseq)
{
  for (guint i = 0; i < changes->len; i++)
    if (((MhChange *) g_ptr_array_index (changes, i))->origin_seq == oseq)
      return FALSE;
  return TRUE;
}

static GPtrArray *
suspects_of (MhStore *store, MhIdentity *peer)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *list = mh_store_get_suspects (store, mh_identity_get_site_id (peer), 100, &error);

  g_assert_no_error (error);
  g_assert_nonnull (list);
  return list;
}

static guint
suspects_of_len (MhStore *store, MhIdentity *peer)
{
  g_autoptr(GPtrArray) list = suspects_of (store, peer);

  return list->len;
}

/* @peer's answer about number @n of @origin: @explained (NULL: nothing
 * accounted for). */
static void
judge (MhStore *store, MhIdentity *peer, const char *origin, gint64 n, GArray *explained)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) none = g_array_new (FALSE, FALSE, sizeof (gint64));

  g_assert_true (mh_store_judge (store, mh_identity_get_site_id (peer), origin, n, n,
                                 explained ? explained : none, &error));
  g_assert_no_error (error);
}

/* Alice, Bob, Carol and Dave, each with a signed replica of their own. */
typedef struct
{
  TestDir *dir;
  MhSchema *schema;
  MhIdentity *id[4];
  MhStore *store[4];
} Four;

static Four *
four_new (void)
{
  static const char *const names[4] = { "alice", "bob", "carol", "dave" };
  Four *four = g_new0 (Four, 1);

  four->dir = test_dir_new ("mh-gaps");
  four->schema = test_schema_new (1);
  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *file = g_strdup_printf ("%c.db", 'a' + i);

      four->id[i] = identity_in (four->dir->path, names[i]);
      four->store[i] = test_signed_store (four->dir->path, file, four->schema, four->id[i]);
    }
  return four;
}

static void
four_free (Four *four)
{
  for (guint i = 0; i < 4; i++)
    {
      g_clear_object (&four->store[i]);
      g_clear_object (&four->id[i]);
    }
  g_clear_pointer (&four->schema, mh_schema_unref);
  test_dir_free (four->dir);
  g_free (four);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Four, four_free)

/* Alice's new h1 reaches Dave through Bob without its name: Dave sees the
 * hole, Carol (who has it) sends it, it wins, and Bob is counted; so is
 * Eve, who had explained the hole away. */
static void
test_gaps_withheld (void)
{
  g_autoptr(Four) four = four_new ();
  MhIdentity *alice = four->id[0], *bob = four->id[1], *carol = four->id[2], *dave = four->id[3];
  MhStore *a = four->store[0], *b = four->store[1], *c = four->store[2], *d = four->store[3];
  g_autoptr(MhIdentity) eve = identity_in (four->dir->path, "eve");
  g_autoptr(GPtrArray) gaps = NULL;
  g_autoptr(GPtrArray) partial = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GArray) explained = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autofree char *name = NULL;
  const char *origin = mh_identity_get_site_id (alice);
  g_autoptr(GPtrArray) all = NULL;
  MhGap *gap;
  gint64 n;

  write_name (a, "h0", "Zero", TRUE);
  write_name (a, "h1", "Uno", TRUE); /* its name withheld */
  n = name_oseq (a, "h1");
  write_name (a, "h2", "Two", TRUE);
  test_sync (a, b);
  test_sync (a, c);

  /* Bob passes on everything but that name. */
  all = test_read_all (b);
  partial = read_but (b, origin, n);
  g_assert_cmpuint (partial->len, ==, all->len - 1);
  apply_from (d, partial, bob);
  scan (d);
  gaps = gaps_of (d, TRUE);
  g_assert_cmpuint (gaps->len, ==, 1);
  gap = g_ptr_array_index (gaps, 0);
  g_assert_cmpstr (gap->origin, ==, origin);
  g_assert_cmpint (gap->first, ==, n);
  g_assert_cmpint (gap->last, ==, n);
  g_assert_cmpstr (gap->via, ==, mh_identity_get_site_id (bob));
  g_assert_null (gap->settled_by);
  g_assert_cmpuint (gap->tries, ==, 0);
  /* A second scan finds nothing new. */
  scan (d);
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = gaps_of (d, FALSE);
  g_assert_cmpuint (gaps->len, ==, 1);
  g_assert_true (mh_store_note_gaps_asked (d, gaps, g_get_real_time () / 1000, NULL));

  /* Eve claims she saw it and it lost: a claim, kept. */
  g_assert_true (mh_store_settle_gap (d, origin, n, n, mh_identity_get_site_id (eve), NULL));
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = gaps_of (d, TRUE);
  g_assert_cmpuint (gaps->len, ==, 0);

  /* Carol has it, and may send it to Dave. */
  found = ask (c, alice, n, n, dave, explained);
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpint (((MhChange *) g_ptr_array_index (found, 0))->origin_seq, ==, n);
  g_assert_cmpuint (explained->len, ==, 2);
  g_assert_cmpint (g_array_index (explained, gint64, 0), ==, n);
  apply_from (d, found, carol);
  name = test_get_string (d, "hospital", "h1", "name");
  g_assert_cmpstr (name, ==, "Uno");

  /* It won here: Bob and Eve are suspected, not counted yet (Bob may
   * have got it late, by another path). */
  g_assert_cmpint (withheld_by (d, bob), ==, 0);
  g_assert_cmpint (withheld_by (d, eve), ==, 0);
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = suspects_of (d, bob);
  g_assert_cmpuint (gaps->len, ==, 1);
  gap = g_ptr_array_index (gaps, 0);
  g_assert_cmpstr (gap->origin, ==, origin);
  g_assert_cmpint (gap->first, ==, n);
  g_assert_null (gap->settled_by);
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = suspects_of (d, eve);
  g_assert_cmpuint (gaps->len, ==, 1);
  g_assert_cmpstr (((MhGap *) g_ptr_array_index (gaps, 0))->settled_by, ==,
                   mh_identity_get_site_id (eve));
  g_assert_cmpuint (suspects_of_len (d, carol), ==, 0);

  /* Asked again, Bob still knows nothing of it, and Eve explains it away
   * again; it still holds here: both are counted. */
  judge (d, bob, origin, n, NULL);
  judge (d, eve, origin, n, explained);
  g_assert_cmpint (withheld_by (d, bob), ==, 1);
  g_assert_cmpint (withheld_by (d, eve), ==, 1);
  g_assert_cmpint (withheld_by (d, carol), ==, 0);
  g_assert_cmpuint (suspects_of_len (d, bob), ==, 0);
  g_assert_cmpuint (suspects_of_len (d, eve), ==, 0);
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = gaps_of (d, FALSE);
  g_assert_cmpuint (gaps->len, ==, 0);
  g_assert_cmpuint (mh_store_get_gap_count (d), ==, 0);

  /* Bob's own late copy, again: nothing more is counted. */
  g_clear_pointer (&found, g_ptr_array_unref);
  found = test_read_all (b);
  apply_from (d, found, bob);
  g_assert_cmpint (withheld_by (d, bob), ==, 1);
}

/* Bob passed h1 on to Dave before its name reached him by another path:
 * Carol fills Dave's hole, and Bob, asked again once he has it too,
 * accounts for it; a hole whose change then lost here counts against
 * nobody, and an explanation "it lost" comes with the winner. Nobody is
 * counted. */
static void
test_gaps_late_relay (void)
{
  g_autoptr(Four) four = four_new ();
  MhIdentity *alice = four->id[0], *bob = four->id[1], *carol = four->id[2], *dave = four->id[3];
  MhStore *a = four->store[0], *b = four->store[1], *c = four->store[2], *d = four->store[3];
  g_autoptr(GPtrArray) gaps = NULL;
  g_autoptr(GPtrArray) batch = NULL;
  g_autoptr(GArray) explained = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autofree char *name = NULL;
  const char *origin = mh_identity_get_site_id (alice);
  gint64 n1, n3;

  write_name (a, "h0", "Zero", TRUE);
  write_name (a, "h1", "Uno", TRUE);
  n1 = name_oseq (a, "h1");
  write_name (a, "h2", "Two", TRUE);
  write_name (a, "h3", "Tres", TRUE);
  n3 = name_oseq (a, "h3");
  write_name (a, "h4", "Four", TRUE);
  test_sync (a, c);

  /* Bob has all but those two names, and passes on what he has. */
  batch = read_but (a, origin, n1);
  apply_from (b, batch, alice);
  g_clear_pointer (&batch, g_ptr_array_unref);
  batch = test_read_all (b);
  {
    g_autoptr(GPtrArray) all = batch;

    batch = test_batch_new ();
    for (guint i = 0; i < all->len; i++)
      {
        MhChange *change = g_ptr_array_index (all, i);

        if (change->origin_seq != n3)
          g_ptr_array_add (batch, mh_change_ref (change));
      }
  }
  apply_from (d, batch, bob);
  scan (d);
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = gaps_of (d, TRUE);
  g_assert_cmpuint (gaps->len, ==, 2);
  g_assert_true (mh_store_note_gaps_asked (d, gaps, g_get_real_time () / 1000, NULL));

  /* Asked, Bob cannot account for the first: he does not have it yet. */
  g_clear_pointer (&batch, g_ptr_array_unref);
  batch = ask (b, alice, n1, n1, dave, explained);
  g_assert_cmpuint (batch->len, ==, 0);
  g_assert_cmpuint (explained->len, ==, 0);

  /* Carol fills both holes; Bob is suspected of both. */
  g_clear_pointer (&batch, g_ptr_array_unref);
  batch = test_read_all (c);
  apply_from (d, batch, carol);
  g_assert_cmpuint (suspects_of_len (d, bob), ==, 2);

  /* Dave's log reaches Bob, who now accounts for h1's name. */
  g_clear_pointer (&batch, g_ptr_array_unref);
  batch = test_read_all (d);
  apply_from (b, batch, dave);
  g_clear_pointer (&batch, g_ptr_array_unref);
  batch = ask (b, alice, n1, n1, dave, explained);
  g_assert_cmpuint (batch->len, ==, 1);
  judge (d, bob, origin, n1, explained);
  g_assert_cmpint (withheld_by (d, bob), ==, 0);
  g_assert_cmpuint (suspects_of_len (d, bob), ==, 1);

  /* Alice renames h3; Carol has it, and explains the old name with the
   * new one. */
  write_name (a, "h3", "Drei", FALSE);
  test_sync (a, c);
  g_array_set_size (explained, 0);
  g_clear_pointer (&batch, g_ptr_array_unref);
  batch = ask (c, alice, n3, n3, dave, explained);
  g_assert_cmpuint (explained->len, ==, 2);
  g_assert_cmpuint (batch->len, >=, 1);
  g_assert_true (holds_no (batch, n3));
  apply_from (d, batch, carol);
  name = test_get_string (d, "hospital", "h3", "name");
  g_assert_cmpstr (name, ==, "Drei");

  /* The old name no longer holds at Dave: whatever Bob says of it, he is
   * not counted. */
  judge (d, bob, origin, n3, NULL);
  g_assert_cmpint (withheld_by (d, bob), ==, 0);
  g_assert_cmpuint (suspects_of_len (d, bob), ==, 0);
}

/* A change that lost before Dave's peer passed the row on: its origin,
 * and a relay that saw it, account for it; nobody is counted. */
static void
test_gaps_explained (void)
{
  g_autoptr(Four) four = four_new ();
  MhIdentity *alice = four->id[0], *bob = four->id[1], *carol = four->id[2], *dave = four->id[3];
  MhStore *a = four->store[0], *b = four->store[1], *c = four->store[2], *d = four->store[3];
  g_autoptr(GPtrArray) gaps = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GPtrArray) from_c = NULL;
  g_autoptr(GArray) explained = g_array_new (FALSE, FALSE, sizeof (gint64));
  const char *origin = mh_identity_get_site_id (alice);
  gint64 x1, y1, y2;

  write_name (a, "h0", "Zero", TRUE);
  x1 = name_oseq (a, "h0");
  write_name (a, "h0", "Nought", FALSE); /* x1 lost before anyone saw it */
  write_name (a, "h1", "One", TRUE);
  y1 = name_oseq (a, "h1");
  test_sync (a, b);                      /* Bob sees y1 */
  write_name (a, "h1", "Uno", FALSE);
  y2 = name_oseq (a, "h1");
  test_sync (a, c);                      /* Carol: y2 */
  test_sync (b, c);                      /* and Bob's y1, which loses at Carol */
  write_name (a, "h2", "Two", TRUE);
  test_sync (a, c);

  /* Dave gets Carol's winners: holes at x1 and y1. */
  from_c = test_read_all (c);
  apply_from (d, from_c, carol);
  scan (d);
  gaps = gaps_of (d, TRUE);
  g_assert_cmpuint (gaps->len, ==, 2);
  g_assert_cmpint (((MhGap *) g_ptr_array_index (gaps, 0))->first, ==, x1);
  g_assert_cmpint (((MhGap *) g_ptr_array_index (gaps, 0))->last, ==, x1);
  g_assert_cmpint (((MhGap *) g_ptr_array_index (gaps, 1))->first, ==, y1);
  g_assert_cmpint (((MhGap *) g_ptr_array_index (gaps, 1))->last, ==, y1);
  g_assert_true (mh_store_note_gaps_asked (d, gaps, g_get_real_time () / 1000, NULL));

  /* x1 never left Alice: she accounts for it from her seals, and sends
   * what beat it, h0 as it stands. y2, which she holds, she sends. */
  found = ask (a, alice, x1, x1, dave, explained);
  g_assert_cmpuint (found->len, >=, 1);
  g_assert_true (holds_no (found, x1));
  g_assert_cmpuint (explained->len, ==, 2);
  g_assert_true (mh_store_settle_gap (d, origin, x1, x1, mh_identity_get_site_id (alice), NULL));
  g_clear_pointer (&found, g_ptr_array_unref);
  g_array_set_size (explained, 0);
  found = ask (a, alice, y2, y2, dave, explained);
  g_assert_cmpuint (found->len, ==, 1);

  /* y1: Bob saw it, and Carol took it and kept the newer one. */
  g_clear_pointer (&found, g_ptr_array_unref);
  g_array_set_size (explained, 0);
  found = ask (c, alice, y1, y1, dave, explained);
  g_assert_cmpuint (found->len, >=, 1);
  g_assert_true (holds_no (found, y1));
  g_assert_cmpuint (explained->len, ==, 2);
  g_assert_true (mh_store_settle_gap (d, origin, y1, y1, mh_identity_get_site_id (carol), NULL));

  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = gaps_of (d, TRUE);
  g_assert_cmpuint (gaps->len, ==, 0);
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = gaps_of (d, FALSE);
  g_assert_cmpuint (gaps->len, ==, 2);
  g_assert_cmpstr (((MhGap *) g_ptr_array_index (gaps, 1))->settled_by, ==,
                   mh_identity_get_site_id (carol));

  /* Bob's copy of 3 arrives later: it loses at Dave, nobody is counted. */
  g_clear_pointer (&found, g_ptr_array_unref);
  found = test_read_all (b);
  apply_from (d, found, bob);
  g_assert_cmpint (withheld_by (d, carol), ==, 0);
  g_assert_cmpint (withheld_by (d, bob), ==, 0);
  g_assert_cmpint (withheld_by (d, alice), ==, 0);
}

/* A malformed question gets an empty answer, not an error. */
static void
test_gaps_unknown (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-gaps");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  g_autoptr(MhIdentity) dave = identity_in (dir->path, "dave");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) a = test_signed_store (dir->path, "a.db", schema, alice);
  g_autoptr(GArray) explained = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GError) error = NULL;
  gint64 upto = 0;

  write_name (a, "h0", "Zero", TRUE);
  found = mh_store_answer_gap (a, "nobody-knows-this-site", 1, G_MAXINT64,
                               mh_identity_get_site_id (dave), 256, explained, &upto, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (found->len, ==, 0);
  g_assert_cmpuint (explained->len, ==, 0);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = mh_store_answer_gap (a, mh_identity_get_site_id (alice), 5, 2,
                               mh_identity_get_site_id (dave), 256, explained, &upto, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (found->len, ==, 0);
  g_assert_true (mh_store_settle_gap (a, "nobody", 1, 10, "someone", NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gaps/withheld", test_gaps_withheld);
  g_test_add_func ("/gaps/late-relay", test_gaps_late_relay);
  g_test_add_func ("/gaps/explained", test_gaps_explained);
  g_test_add_func ("/gaps/unknown", test_gaps_unknown);
  return g_test_run ();
}

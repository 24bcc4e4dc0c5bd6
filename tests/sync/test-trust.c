/* test-trust.c: admission and revocation records, their chains, and the
 * refusal of a revoked site's changes past its cut-off */
#include "config.h"

#include <string.h>

#include "mh-sync.h"
#include "mh-trust.h"
#include "mh-test-util.h"
#include "sync-test-common.h"

typedef struct
{
  char *dir;
  MhIdentity *network; /* the offline key */
  MhIdentity *hub;
  MhIdentity *station;
  MhIdentity *rogue; /* a hub the network never admitted */
  const char *net_key;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = mh_test_make_tmpdir ("test-trust");
  f->network = identity_in (f->dir, "network");
  f->hub = identity_in (f->dir, "hub");
  f->station = identity_in (f->dir, "station");
  f->rogue = identity_in (f->dir, "rogue");
  f->net_key = mh_identity_get_signing_public_key (f->network);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->network);
  g_clear_object (&f->hub);
  g_clear_object (&f->station);
  g_clear_object (&f->rogue);
  mh_test_rm_rf (f->dir);
  g_free (f->dir);
}

static JsonNode *
admit (MhIdentity *issuer, const char *net_key, MhIdentity *subject, const char *role,
       JsonNode *chain)
{
  g_autoptr(GError) error = NULL;
  JsonNode *record = mh_trust_make_admission (issuer, net_key, mh_identity_get_site_id (subject),
                                              role, chain, 1700000000, &error);

  g_assert_no_error (error);
  g_assert_nonnull (record);
  return record;
}

/* json_node_copy() shares the objects: a tampered copy must not be. */
static JsonNode *
deep_copy (JsonNode *node)
{
  g_autofree char *text = json_to_string (node, FALSE);

  return json_from_string (text, NULL);
}

static void
assert_refused (const char *net_key, JsonNode *record, const char *fragment)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (mh_trust_verify_record (net_key, record, &error));
  g_assert_nonnull (error);
  if (strstr (error->message, fragment) == NULL)
    g_error ("expected an error about “%s”, got “%s”", fragment, error->message);
}

static void
test_subject_key (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("test-trust-key");
  g_autoptr(MhIdentity) identity = identity_in (dir, "node");
  g_autofree char *from_site = mh_trust_subject_key (mh_identity_get_site_id (identity));
  g_autofree char *from_fp = mh_trust_subject_key (mh_identity_get_fingerprint (identity));
  g_autofree char *site = NULL;
  g_autofree char *fingerprint = NULL;

  /* A fingerprint is the first 100 bits of the site id's hash. */
  g_assert_nonnull (from_site);
  g_assert_cmpstr (from_site, ==, from_fp);
  g_assert_null (mh_trust_subject_key ("not a site"));
  g_assert_true (mh_public_key_get_ids (mh_identity_get_signing_public_key (identity), &site,
                                        &fingerprint));
  g_assert_cmpstr (site, ==, mh_identity_get_site_id (identity));
  g_assert_cmpstr (fingerprint, ==, mh_identity_get_fingerprint (identity));
  g_assert_false (mh_public_key_get_ids ("AAAA", NULL, NULL));
  mh_test_rm_rf (dir);
}

static void
test_chain (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) hub = admit (f->network, f->net_key, f->hub, "hub", NULL);
  g_autoptr(JsonNode) station = admit (f->hub, f->net_key, f->station, "ambulance", hub);
  g_autoptr(JsonNode) rogue_hub = admit (f->rogue, f->net_key, f->rogue, "hub", NULL);
  g_autoptr(JsonNode) by_rogue = admit (f->rogue, f->net_key, f->station, "hospital", NULL);
  g_autoptr(JsonNode) by_rogue_chained =
    admit (f->rogue, f->net_key, f->station, "hospital", rogue_hub);
  g_autoptr(JsonNode) chain_of_other = admit (f->rogue, f->net_key, f->station, "hospital", hub);
  g_autoptr(JsonNode) hub_by_hub = admit (f->hub, f->net_key, f->rogue, "hub", hub);
  g_autoptr(JsonNode) station_by_net = admit (f->network, f->net_key, f->station, "hospital",
                                              NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_trust_verify_record (f->net_key, hub, &error));
  g_assert_no_error (error);
  g_assert_true (mh_trust_verify_record (f->net_key, station, &error));
  g_assert_no_error (error);

  /* Another network's key does not check them. */
  assert_refused (mh_identity_get_signing_public_key (f->rogue), hub, "another network");
  /* A station admitted by a hub the network never admitted. */
  assert_refused (f->net_key, by_rogue, "carries the hub's admission");
  assert_refused (f->net_key, by_rogue_chained, "signed by the network key");
  /* A real hub's admission does not lend itself to another key. */
  assert_refused (f->net_key, chain_of_other, "for another site");
  assert_refused (f->net_key, hub_by_hub, "only the network key admits hubs");
  assert_refused (f->net_key, station_by_net, "admits hubs only");

  /* A subject is spelled one way only: a site id or a grouped fingerprint. */
  {
    g_autofree char *lower = g_ascii_strdown (mh_identity_get_fingerprint (f->station), -1);
    g_autoptr(JsonNode) odd = mh_trust_make_admission (f->hub, f->net_key, lower, "hospital",
                                                       hub, 1, &error);

    g_assert_null (odd);
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
  {
    g_autoptr(JsonNode) by_fingerprint =
      mh_trust_make_admission (f->hub, f->net_key, mh_identity_get_fingerprint (f->station),
                               "hospital", hub, 1, &error);

    g_assert_no_error (error);
    g_assert_true (mh_trust_verify_record (f->net_key, by_fingerprint, &error));
    g_assert_no_error (error);
  }
}

static void
test_tampered (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) hub = admit (f->network, f->net_key, f->hub, "hub", NULL);
  g_autoptr(JsonNode) station = admit (f->hub, f->net_key, f->station, "ambulance", hub);
  g_autoptr(JsonNode) copy = NULL;
  JsonObject *object;
  JsonObject *chained;

  /* A role changed after signing */
  copy = deep_copy (station);
  json_object_set_string_member (json_node_get_object (copy), "role", "hospital");
  assert_refused (f->net_key, copy, "signature");
  g_clear_pointer (&copy, json_node_unref);

  /* Another subject */
  copy = deep_copy (station);
  json_object_set_string_member (json_node_get_object (copy), "subject",
                                 mh_identity_get_site_id (f->rogue));
  assert_refused (f->net_key, copy, "signature");
  g_clear_pointer (&copy, json_node_unref);

  /* The hub's admission in the chain, altered */
  copy = deep_copy (station);
  object = json_node_get_object (copy);
  chained = json_array_get_object_element (json_object_get_array_member (object, "chain"), 0);
  json_object_set_int_member (chained, "issued_at", 1);
  assert_refused (f->net_key, copy, "issuer's admission");
  g_clear_pointer (&copy, json_node_unref);

  /* A missing signature, a signature of garbage */
  copy = deep_copy (station);
  json_object_remove_member (json_node_get_object (copy), "sig");
  assert_refused (f->net_key, copy, "lacks");
  json_object_set_string_member (json_node_get_object (copy), "sig", "AAAA");
  assert_refused (f->net_key, copy, "signature");
}

static MhStore *
open_store (Fixture *f, const char *name)
{
  g_autoptr(MhSchema) schema = test_schema_new (1);

  return test_open (f->dir, name, schema, "aaaaaaaaaaaaaaaaaaaaaaaaaa");
}

static void
test_store_state (Fixture *f, gconstpointer data)
{
  g_autoptr(MhStore) store = open_store (f, "state.db");
  g_autoptr(GError) error = NULL;
  g_autoptr(MhTrust) trust = mh_trust_new (store, f->net_key, &error);
  g_autoptr(JsonNode) hub = admit (f->network, f->net_key, f->hub, "hub", NULL);
  g_autoptr(JsonNode) station = admit (f->hub, f->net_key, f->station, "ambulance", hub);
  g_autoptr(JsonNode) revoke_hub = NULL;
  g_autoptr(JsonNode) rogue_revokes = NULL;
  g_autoptr(JsonNode) forged = deep_copy (station);
  const char *station_site = mh_identity_get_site_id (f->station);
  const char *hub_site = mh_identity_get_site_id (f->hub);
  g_autofree char *role = NULL;
  gint64 cutoff = -1;

  g_assert_no_error (error);
  g_assert_cmpint (mh_trust_check_site (trust, station_site, NULL, NULL), ==, MH_TRUST_NONE);

  /* Order does not matter: the station's record carries its chain. */
  g_assert_cmpuint (mh_trust_add (trust, station, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_cmpuint (mh_trust_add (trust, station, &error), ==, 0);
  g_assert_no_error (error);
  g_assert_cmpint (mh_trust_check_site (trust, station_site, &role, NULL), ==,
                   MH_TRUST_ADMITTED);
  g_assert_cmpstr (role, ==, "ambulance");
  /* The hub itself is only admitted once its own record is known. */
  g_assert_cmpint (mh_trust_check_site (trust, hub_site, NULL, NULL), ==, MH_TRUST_NONE);
  g_assert_cmpuint (mh_trust_add (trust, hub, &error), ==, 1);
  g_assert_cmpint (mh_trust_check_site (trust, hub_site, NULL, NULL), ==, MH_TRUST_ADMITTED);

  /* A tampered record is not kept. */
  json_object_set_string_member (json_node_get_object (forged), "role", "hospital");
  g_assert_cmpuint (mh_trust_add (trust, forged, &error), ==, 0);
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* A hub the network never admitted cannot revoke anyone else. */
  rogue_revokes = mh_trust_make_revocation (f->rogue, f->net_key, station_site, 3, NULL, 1,
                                            &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mh_trust_add (trust, rogue_revokes, &error), ==, 0);
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* Revoking the hub: the hub, and the stations it admitted, are refused. */
  revoke_hub = mh_trust_make_revocation (f->network, f->net_key, hub_site, 10, NULL, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mh_trust_add (trust, revoke_hub, &error), ==, 1);
  g_assert_cmpint (mh_trust_check_site (trust, hub_site, NULL, &cutoff), ==, MH_TRUST_REVOKED);
  g_assert_cmpint (cutoff, ==, 10);
  g_assert_cmpint (mh_trust_check_site (trust, station_site, NULL, NULL), ==, MH_TRUST_NONE);
  g_assert_null (mh_trust_get_admission (trust, station_site));

  /* The records are in the replica: a new MhTrust reads them back. */
  {
    g_autoptr(MhTrust) again = mh_trust_new (store, f->net_key, &error);
    g_autoptr(JsonArray) list = mh_trust_list (again);

    g_assert_no_error (error);
    g_assert_cmpuint (json_array_get_length (list), ==, 3);
    g_assert_cmpint (mh_trust_check_site (again, hub_site, NULL, NULL), ==, MH_TRUST_REVOKED);
  }
}

static void
test_cutoff_on_apply (Fixture *f, gconstpointer data)
{
  g_autoptr(MhStore) store = open_store (f, "apply.db");
  g_autoptr(GError) error = NULL;
  g_autoptr(MhTrust) trust = mh_trust_new (store, f->net_key, &error);
  g_autoptr(JsonNode) hub = admit (f->network, f->net_key, f->hub, "hub", NULL);
  g_autoptr(JsonNode) station = admit (f->hub, f->net_key, f->station, "ambulance", hub);
  g_autoptr(JsonNode) revoke = NULL;
  g_autoptr(JsonNode) revoke_lower = NULL;
  g_autoptr(GPtrArray) before = test_batch_new ();
  g_autoptr(GPtrArray) after = test_batch_new ();
  g_autoptr(GPtrArray) rejected = NULL;
  const char *origin = mh_identity_get_site_id (f->station);
  MhApplyReport report = { 0 };

  g_assert_no_error (error);
  mh_trust_install_filter (trust);
  g_assert_cmpuint (mh_trust_add (trust, station, &error), ==, 1);

  g_ptr_array_add (before, test_set ("hospital", "h1", "name", test_hlc (0, 1), origin, 1,
                                     "[<'first'>]"));
  g_ptr_array_add (before, test_set ("hospital", "h2", "name", test_hlc (0, 2), origin, 2,
                                     "[<'second'>]"));
  g_assert_true (mh_store_apply (store, before, &report, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (report.applied, ==, 2);
  /* The default cut-off: the highest this replica accepted. */
  g_assert_cmpint (mh_trust_get_highest_seen (trust, origin), ==, 2);

  /* The hub revokes its station at 2 (then the network at 5: the lowest counts). */
  revoke = mh_trust_make_revocation (f->hub, f->net_key, origin, 2, hub, 3, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mh_trust_add (trust, revoke, &error), ==, 1);
  revoke_lower = mh_trust_make_revocation (f->network, f->net_key, origin, 5, NULL, 4, &error);
  g_assert_cmpuint (mh_trust_add (trust, revoke_lower, &error), ==, 1);

  g_ptr_array_add (after, test_set ("hospital", "h1", "name", test_hlc (0, 3), origin, 2,
                                    "[<'first again'>]"));
  g_ptr_array_add (after, test_set ("hospital", "h3", "name", test_hlc (0, 4), origin, 3,
                                    "[<'third'>]"));
  memset (&report, 0, sizeof report);
  g_assert_true (mh_store_apply (store, after, &report, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (report.rejected, ==, 1);
  g_assert_cmpint (mh_store_get_row_state (store, "hospital", "h3"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (store, "hospital", "h2"), ==, MH_ROW_LIVE);
  rejected = mh_store_list_rejected (store, 10);
  g_assert_cmpuint (rejected->len, ==, 1);
}



static void
station_writes (MhStore *store, const char *row, const char *name, int how)
{
  g_autoptr(GError) error = NULL;

  if (how == 0)
    g_assert_true (mh_store_insert (store, "hospital", row,
                                    g_variant_new_parsed ("{'name': <%s>}", name), &error));
  else if (how == 1)
    g_assert_true (mh_store_update (store, "hospital", row,
                                    g_variant_new_parsed ("{'name': <%s>}", name), &error));
  else
    g_assert_true (mh_store_delete (store, "hospital", row, &error));
  g_assert_no_error (error);
}

static gint64
highest_oseq (MhStore *store)
{
  g_autoptr(GPtrArray) all = test_read_all (store);
  gint64 top = 0;

  for (guint i = 0; i < all->len; i++)
    top = MAX (top, ((MhChange *) g_ptr_array_index (all, i))->origin_seq);
  return top;
}

static gboolean
digests_equal (MhStore *a, MhStore *b)
{
  g_autoptr(GHashTable) da = mh_store_list_digests (a);
  g_autoptr(GHashTable) db = mh_store_list_digests (b);

  return test_digests_equal (da, db);
}

/* A replica that applied a station's changes past its cut-off before the
 * revocation arrived takes them back, and a peer that never applied them
 * gives it the rows as they were: both end equal. */
static void
test_retroactive (Fixture *f, gconstpointer data)
{
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) station = test_signed_store (f->dir, "station.db", schema, f->station);
  g_autoptr(MhStore) early = test_signed_store (f->dir, "early.db", schema, f->hub);
  g_autoptr(MhStore) late = test_signed_store (f->dir, "late.db", schema, f->rogue);
  g_autoptr(GError) error = NULL;
  g_autoptr(MhTrust) trust = mh_trust_new (early, f->net_key, &error);
  g_autoptr(JsonNode) hub = admit (f->network, f->net_key, f->hub, "hub", NULL);
  g_autoptr(JsonNode) admitted = admit (f->hub, f->net_key, f->station, "ambulance", hub);
  g_autoptr(JsonNode) revoke = NULL;
  g_autoptr(GPtrArray) pairs = NULL;
  g_autoptr(GPtrArray) answer = NULL;
  g_autofree char *name = NULL;
  const char *origin = mh_identity_get_site_id (f->station);
  MhApplyReport report;
  gint64 cutoff;

  g_assert_no_error (error);
  mh_trust_install_filter (trust);
  g_assert_cmpuint (mh_trust_add (trust, admitted, &error), ==, 1);

  station_writes (station, "h1", "first", 0);
  station_writes (station, "h2", "kept", 0);
  cutoff = highest_oseq (station);
  test_sync (station, early);
  test_sync (station, late);

  /* Past the cut-off: a rename, a new row, a deletion. Only "early" gets them. */
  station_writes (station, "h1", "second", 1);
  station_writes (station, "h3", "new", 0);
  station_writes (station, "h2", NULL, 2);
  report = test_sync (station, early);
  g_assert_cmpuint (report.rejected, ==, 0);
  name = test_get_string (early, "hospital", "h1", "name");
  g_assert_cmpstr (name, ==, "second");
  g_assert_cmpint (mh_store_get_row_state (early, "hospital", "h2"), ==, MH_ROW_DELETED);
  g_assert_false (digests_equal (early, late));

  /* The revocation arrives. */
  revoke = mh_trust_make_revocation (f->hub, f->net_key, origin, cutoff, hub, 5, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mh_trust_add (trust, revoke, &error), ==, 1);
  g_assert_cmpuint (mh_trust_take_back_revoked (trust), >=, 3);
  /* Once per revocation. */
  g_assert_cmpuint (mh_trust_take_back_revoked (trust), ==, 0);
  g_assert_cmpint (mh_store_get_row_state (early, "hospital", "h3"), ==, MH_ROW_ABSENT);
  g_assert_cmpint (mh_store_get_row_state (early, "hospital", "h2"), !=, MH_ROW_DELETED);

  /* It asks about those rows; the peer that never applied them answers. */
  pairs = mh_store_get_refetch (early, 100, 3);
  g_assert_cmpuint (pairs->len, ==, 6);
  answer = mh_store_answer_rows (late, pairs, mh_identity_get_site_id (f->hub), &error);
  g_assert_no_error (error);
  g_assert_true (mh_store_apply_fetched (early, answer, mh_identity_get_site_id (f->rogue),
                                         &report, &error));
  g_assert_no_error (error);
  g_clear_pointer (&name, g_free);
  name = test_get_string (early, "hospital", "h1", "name");
  g_assert_cmpstr (name, ==, "first");
  g_clear_pointer (&name, g_free);
  name = test_get_string (early, "hospital", "h2", "name");
  g_assert_cmpstr (name, ==, "kept");
  g_assert_cmpint (mh_store_get_row_state (early, "hospital", "h3"), ==, MH_ROW_ABSENT);
  g_assert_true (digests_equal (early, late));

  /* The revoked changes sent again are refused, and nothing moves. */
  report = test_sync (station, early);
  g_assert_cmpuint (report.applied, ==, 0);
  g_assert_true (digests_equal (early, late));
  g_assert_true (mh_store_note_refetch_asked (early, pairs, 1, NULL));
  g_clear_pointer (&pairs, g_ptr_array_unref);
  pairs = mh_store_get_refetch (early, 100, 3);
  g_assert_cmpuint (pairs->len, ==, 0);
}

/* Parks a change to hospital "waiting" until hospital "anchor" is here. */
static MhVerdict
park_until_anchor (MhStore *store, const MhChange *change, const MhRow *row, gboolean local,
                   char **reason, gpointer user_data)
{
  if (g_strcmp0 (change->row, "waiting") == 0
      && mh_store_get_row_state (store, "hospital", "anchor") == MH_ROW_ABSENT)
    return MH_VERDICT_PARK;
  return MH_VERDICT_ACCEPT;
}

static MhChange *
signed_set (MhIdentity *identity, const char *row, guint counter, gint64 origin_seq,
            const char *values)
{
  g_autoptr(GError) error = NULL;
  /* One clock for the test: the same arguments sign the same bytes. */
  static MhHlc base = 0;
  MhChange *change;

  if (base == 0)
    base = test_hlc (0, 0);
  change = test_set ("hospital", row, "name", base + counter,
                               mh_identity_get_site_id (identity), origin_seq, values);

  g_assert_true (mh_identity_sign_change (identity, change, &error));
  g_assert_no_error (error);
  return change;
}


/* Applies BATCH (transfer full). */
static MhApplyReport
apply_owned (MhStore *store, GPtrArray *batch)
{
  g_autoptr(GPtrArray) owned = batch;

  return test_apply (store, owned);
}

/* A change parked before the revocation came is refused when it is
 * retried, as it would be on arrival. */
static void
test_cutoff_on_retry (Fixture *f, gconstpointer data)
{
  g_autoptr(MhStore) store = open_store (f, "retry.db");
  g_autoptr(GError) error = NULL;
  g_autoptr(MhTrust) trust = mh_trust_new (store, f->net_key, &error);
  g_autoptr(JsonNode) hub = admit (f->network, f->net_key, f->hub, "hub", NULL);
  g_autoptr(JsonNode) station = admit (f->hub, f->net_key, f->station, "ambulance", hub);
  g_autoptr(JsonNode) revoke = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  const char *origin = mh_identity_get_site_id (f->station);
  MhApplyReport report;

  g_assert_no_error (error);
  mh_trust_install_filter (trust);
  g_assert_cmpuint (mh_trust_add (trust, station, &error), ==, 1);
  mh_store_set_validator (store, park_until_anchor, NULL, NULL);

  report = apply_owned (store, test_batch (test_set ("hospital", "waiting", "name",
                                                    test_hlc (0, 1), origin, 5,
                                                    "[<'parked'>]"),
                                          NULL));
  g_assert_cmpuint (report.parked, ==, 1);

  revoke = mh_trust_make_revocation (f->hub, f->net_key, origin, 4, hub, 3, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mh_trust_add (trust, revoke, &error), ==, 1);

  /* What it waited for arrives (from another site): the retry refuses it. */
  report = apply_owned (store, test_batch (test_set ("hospital", "anchor", "name",
                                                    test_hlc (0, 2), "bbbbbbbbbbbbbbbbbbbbbbbbbb",
                                                    1, "[<'anchor'>]"),
                                          NULL));
  g_assert_cmpuint (report.applied, ==, 1);
  g_assert_cmpuint (report.unparked, ==, 0);
  g_assert_cmpint (mh_store_get_row_state (store, "hospital", "waiting"), ==, MH_ROW_ABSENT);
  g_assert_cmpuint (mh_store_get_parked_count (store), ==, 0);
  rejected = mh_store_list_rejected (store, 10);
  g_assert_cmpuint (rejected->len, ==, 1);
  g_assert_nonnull (strstr (((MhQueuedChange *) g_ptr_array_index (rejected, 0))->reason,
                            "revoked"));
  mh_store_set_validator (store, NULL, NULL, NULL);
}

/* A site signs one change per sequence number: a second, different one
 * under a number already seen is refused and counted; the same change
 * again is only a duplicate. */
static void
test_reused_sequence_number (Fixture *f, gconstpointer data)
{
  g_autoptr(MhStore) store = open_store (f, "seq.db");
  g_autoptr(GPtrArray) rejected = NULL;
  MhApplyReport report;

  mh_store_set_verify_signatures (store, TRUE);
  report = apply_owned (store, test_batch (signed_set (f->station, "h1", 1, 7, "[<'first'>]"),
                                          NULL));
  g_assert_cmpuint (report.applied, ==, 1);

  /* The same change again (a relay, a repair): not a reuse. */
  report = apply_owned (store, test_batch (signed_set (f->station, "h1", 1, 7, "[<'first'>]"),
                                          NULL));
  g_assert_cmpuint (report.rejected, ==, 0);

  /* Another change under 7, newer, on another row: refused. */
  report = apply_owned (store, test_batch (signed_set (f->station, "h2", 2, 7, "[<'forged'>]"),
                                          signed_set (f->station, "h1", 3, 7, "[<'forged'>]"),
                                          signed_set (f->station, "h3", 4, 8, "[<'next'>]"),
                                          NULL));
  g_assert_cmpuint (report.rejected, ==, 2);
  g_assert_cmpuint (report.applied, ==, 1);
  g_assert_cmpint (mh_store_get_row_state (store, "hospital", "h2"), ==, MH_ROW_ABSENT);
  test_assert_string (store, "hospital", "h1", "name", "first");
  g_assert_cmpuint (mh_store_get_reused_seq_count (store), ==, 2);
  rejected = mh_store_list_rejected (store, 10);
  g_assert_cmpuint (rejected->len, ==, 2);
  g_assert_nonnull (strstr (((MhQueuedChange *) g_ptr_array_index (rejected, 0))->reason,
                            "sequence number 7"));

  /* Kept in the replica: a reopened store refuses it too. */
  g_clear_object (&store);
  store = open_store (f, "seq.db");
  mh_store_set_verify_signatures (store, TRUE);
  report = apply_owned (store, test_batch (signed_set (f->station, "h4", 5, 8, "[<'again'>]"),
                                          NULL));
  g_assert_cmpuint (report.rejected, ==, 1);
}

/* The role a site was admitted with: a hub's from the network, a
 * station's from its hub; contradictory station admissions give none. */
static void
test_admitted_role (Fixture *f, gconstpointer data)
{
  g_autoptr(MhStore) store = open_store (f, "role.db");
  g_autoptr(GError) error = NULL;
  g_autoptr(MhTrust) trust = mh_trust_new (store, f->net_key, &error);
  g_autoptr(JsonNode) hub = admit (f->network, f->net_key, f->hub, "hub", NULL);
  g_autoptr(JsonNode) rogue_hub = admit (f->network, f->net_key, f->rogue, "hub", NULL);
  g_autoptr(JsonNode) station = admit (f->hub, f->net_key, f->station, "ambulance", hub);
  g_autoptr(JsonNode) other = admit (f->rogue, f->net_key, f->station, "hospital", rogue_hub);

  g_assert_no_error (error);
  g_assert_null (mh_trust_from_store (store));
  mh_trust_install_filter (trust);
  g_assert_true (mh_trust_from_store (store) == trust);
  g_assert_null (mh_trust_get_role (trust, mh_identity_get_site_id (f->station)));
  g_assert_cmpuint (mh_trust_add (trust, hub, &error), ==, 1);
  g_assert_cmpuint (mh_trust_add (trust, station, &error), ==, 1);
  g_assert_cmpstr (mh_trust_get_role (trust, mh_identity_get_site_id (f->hub)), ==, "hub");
  g_assert_cmpstr (mh_trust_get_role (trust, mh_identity_get_site_id (f->station)), ==,
                   "ambulance");
  g_assert_cmpuint (mh_trust_add (trust, other, &error), ==, 1);
  g_assert_null (mh_trust_get_role (trust, mh_identity_get_site_id (f->station)));
  g_clear_object (&trust);
  g_assert_null (mh_trust_from_store (store));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/trust/subject-key", test_subject_key);
  g_test_add ("/trust/chain", Fixture, NULL, fixture_set_up, test_chain, fixture_tear_down);
  g_test_add ("/trust/tampered", Fixture, NULL, fixture_set_up, test_tampered,
              fixture_tear_down);
  g_test_add ("/trust/store-state", Fixture, NULL, fixture_set_up, test_store_state,
              fixture_tear_down);
  g_test_add ("/trust/cutoff-on-apply", Fixture, NULL, fixture_set_up, test_cutoff_on_apply,
              fixture_tear_down);
  g_test_add ("/trust/retroactive", Fixture, NULL, fixture_set_up, test_retroactive,
              fixture_tear_down);
  g_test_add ("/trust/cutoff-on-retry", Fixture, NULL, fixture_set_up, test_cutoff_on_retry,
              fixture_tear_down);
  g_test_add ("/trust/reused-sequence-number", Fixture, NULL, fixture_set_up,
              test_reused_sequence_number, fixture_tear_down);
  g_test_add ("/trust/admitted-role", Fixture, NULL, fixture_set_up, test_admitted_role,
              fixture_tear_down);
  return g_test_run ();
}

/* Tests of signed changes: the canonical encoding, signing and verifying a
 * change, tamper detection, and the store signing local writes, relaying
 * them verbatim and refusing what does not verify. */
#include "config.h"

#include <string.h>

#include "mh-codec.h"
#include "mh-identity.h"
#include "mh-store.h"
#include "mh-test-util.h"
#include "sync-test-common.h"

static gboolean
verifies (const MhChange *change, const char *expected_reason)
{
  g_autofree char *reason = NULL;
  gboolean ok = mh_change_verify (change, &reason);

  if (expected_reason != NULL)
    g_assert_true (reason != NULL && strstr (reason, expected_reason) != NULL);
  return ok;
}

/* The documented layout, byte for byte, and one encoding per change. */
static void
test_canonical (void)
{
  static const guint8 expected[] = {
    'M', 'H', 'S', 'I', 'G', '1', 0, 1,
    0, 0, 0, 1, 't', 0, 0, 0, 1, 'r', 0, 0, 0, 1, 'g',
    0, 0, 0, 4,
    'x', 0, 0, 0, 0, 0, 0, 0, 7,
    'd', 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
    's', 0, 0, 0, 2, 'h', 'i',
    'n',
    0, 0, 0, 0, 0, 0, 0x01, 0x02,
    0, 0, 0, 1, 'o',
    0, 0, 0, 0, 0, 0, 0, 9,
    0, 0, 0, 3,
  };
  g_autoptr(MhChange) change = mh_change_new_set (
    "t", "r", "g", g_variant_new_parsed ("[<int64 7>, <1.0>, <'hi'>, <@mv nothing>]"), 0x102, "o",
    9);
  g_autoptr(MhChange) zero = mh_change_new_set ("t", "r", "g", g_variant_new_parsed ("[<0.0>]"),
                                                1, "o", 1);
  g_autoptr(MhChange) minus_zero = mh_change_new_set ("t", "r", "g",
                                                      g_variant_new_parsed ("[<-0.0>]"), 1, "o", 1);
  g_autoptr(MhChange) del = mh_change_new_delete ("t", "r", 5, "o", 2);
  g_autoptr(MhChange) shifted = mh_change_new_set ("t", "rg", "", g_variant_new_parsed ("[<'x'>]"),
                                                   1, "o", 1);
  g_autoptr(MhChange) unshifted = mh_change_new_set ("t", "r", "g", g_variant_new_parsed ("[<'x'>]"),
                                                     1, "o", 1);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GBytes) a = NULL;
  g_autoptr(GBytes) b = NULL;
  gsize len;
  const guint8 *data;

  change->schema_version = 3;
  bytes = mh_change_canonical_bytes (change);
  data = g_bytes_get_data (bytes, &len);
  g_assert_cmpmem (data, len, expected, sizeof expected);

  /* -0.0 reads back from SQLite as 0.0: both sign the same. */
  a = mh_change_canonical_bytes (zero);
  b = mh_change_canonical_bytes (minus_zero);
  g_assert_true (g_bytes_equal (a, b));
  g_clear_pointer (&a, g_bytes_unref);
  g_clear_pointer (&b, g_bytes_unref);

  /* Length prefixes: moving bytes from one field to the next shows. */
  a = mh_change_canonical_bytes (shifted);
  b = mh_change_canonical_bytes (unshifted);
  g_assert_false (g_bytes_equal (a, b));
  g_clear_pointer (&a, g_bytes_unref);

  /* A deletion signs kind 2, no register, no value, schema version 0. */
  del->schema_version = 7;
  a = mh_change_canonical_bytes (del);
  data = g_bytes_get_data (a, &len);
  g_assert_cmpuint (data[7], ==, 2);
  g_assert_cmpmem (data + len - 4, 4, ((guint8[]){ 0, 0, 0, 0 }), 4);
}

static void
test_sign_verify_tamper (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-signature");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  g_autoptr(MhIdentity) mallory = identity_in (dir->path, "mallory");
  const char *site = mh_identity_get_site_id (alice);
  g_autoptr(MhChange) change = test_set ("hospital", "h1", "status", 42, site, 5,
                                         "[<'closed'>, <'flood'>]");
  g_autoptr(MhChange) del = test_delete ("hospital", "h1", 43, site, 6);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) good = NULL;
  g_autoptr(GBytes) other = NULL;
  g_autofree guint8 *bad = NULL;
  gsize len;

  g_assert_false (verifies (change, "unsigned"));
  g_assert_true (mh_identity_sign_change (alice, change, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (change->signature), ==, MH_CHANGE_SIGNATURE_SIZE);
  g_assert_true (verifies (change, NULL));
  g_assert_true (mh_identity_sign_change (alice, del, &error));
  g_assert_true (verifies (del, NULL));
  good = g_bytes_ref (change->signature);

#define TAMPER(field, value, restore, why)                                                   \
  G_STMT_START                                                                               \
  {                                                                                          \
    field = value;                                                                           \
    g_assert_false (verifies (change, why));                                                 \
    field = restore;                                                                         \
    g_assert_true (verifies (change, NULL));                                                 \
  }                                                                                          \
  G_STMT_END

  TAMPER (change->hlc, 43, 42, "bad signature");
  TAMPER (change->origin_seq, 4, 5, "bad signature");
  TAMPER (change->schema_version, 2, 1, "bad signature");
  {
    char *row = change->row, *reg = change->reg, *origin = change->origin;
    GVariant *value = change->value;
    GVariant *forged = g_variant_ref_sink (g_variant_new_parsed ("[<'normal'>, <'flood'>]"));

    TAMPER (change->row, (char *) "h2", row, "bad signature");
    TAMPER (change->reg, (char *) "name", reg, "bad signature");
    TAMPER (change->value, forged, value, "bad signature");
    TAMPER (change->origin, (char *) mh_identity_get_site_id (mallory), origin, "not by its origin");
    g_variant_unref (forged);
  }

  /* A flipped bit of the signature, and of the key. */
  len = g_bytes_get_size (good);
  bad = g_memdup2 (g_bytes_get_data (good, NULL), len);
  bad[len - 1] ^= 1;
  g_bytes_unref (change->signature);
  change->signature = g_bytes_new (bad, len);
  g_assert_false (verifies (change, "bad signature"));
  bad[len - 1] ^= 1;
  bad[0] ^= 1;
  g_bytes_unref (change->signature);
  change->signature = g_bytes_new (bad, len);
  g_assert_false (verifies (change, NULL));
  g_bytes_unref (change->signature);
  change->signature = g_bytes_new (bad, 64);
  g_assert_false (verifies (change, "malformed"));

  /* Mallory's valid signature over alice's change: not alice's key. */
  g_bytes_unref (change->signature);
  change->signature = g_bytes_ref (good);
  g_free (change->origin);
  change->origin = g_strdup (mh_identity_get_site_id (mallory));
  g_assert_true (mh_identity_sign_change (mallory, change, &error));
  other = g_bytes_ref (change->signature);
  g_free (change->origin);
  change->origin = g_strdup (site);
  g_bytes_unref (change->signature);
  change->signature = g_bytes_ref (other);
  g_assert_false (verifies (change, "not by its origin"));
}

/* A batch is verified on several threads; each verdict lands on its own
 * change, and a tampered copy of a change verified before is still caught. */
static void
test_batch_verify (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-signature");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  const char *site = mh_identity_get_site_id (alice);
  g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  g_autoptr(GPtrArray) verdicts = NULL;
  g_autoptr(GPtrArray) again = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *row = g_strdup_printf ("h%u", i);
      MhChange *change = test_set ("hospital", row, "status", 100 + i, site, i + 1,
                                   "[<'open'>, <''>]");

      g_assert_true (mh_identity_sign_change (alice, change, &error));
      g_assert_no_error (error);
      g_ptr_array_add (changes, change);
    }
  verdicts = mh_changes_verify (changes);
  g_assert_cmpuint (verdicts->len, ==, 100);
  for (guint i = 0; i < 100; i++)
    g_assert_null (g_ptr_array_index (verdicts, i));

  /* The same changes again (now known), three of them altered. */
  ((MhChange *) g_ptr_array_index (changes, 7))->hlc++;
  ((MhChange *) g_ptr_array_index (changes, 55))->origin_seq++;
  g_clear_pointer (&((MhChange *) g_ptr_array_index (changes, 99))->signature, g_bytes_unref);
  again = mh_changes_verify (changes);
  for (guint i = 0; i < 100; i++)
    {
      const char *reason = g_ptr_array_index (again, i);

      if (i == 7 || i == 55)
        g_assert_cmpstr (reason, ==, "bad signature");
      else if (i == 99)
        g_assert_cmpstr (reason, ==, "unsigned change");
      else
        g_assert_null (reason);
    }
}

/* Local writes are signed; a relay hands on exactly what verifies, through
 * the wire codec and a second store; a verifying store rejects a tampered
 * change, lists it, and applies the rest of the batch. */
static void
test_store_end_to_end (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-signature");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice-id");
  g_autoptr(MhIdentity) relay_id = identity_in (dir->path, "relay-id");
  g_autoptr(MhIdentity) carol_id = identity_in (dir->path, "carol-id");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) a = test_open (dir->path, "a.db", schema, mh_identity_get_site_id (alice));
  g_autoptr(MhStore) relay = test_open (dir->path, "relay.db", schema,
                                        mh_identity_get_site_id (relay_id));
  g_autoptr(MhStore) carol = test_open (dir->path, "carol.db", schema,
                                        mh_identity_get_site_id (carol_id));
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GPtrArray) relayed = NULL;
  g_autoptr(GPtrArray) decoded = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *wire = NULL;
  g_autofree char *status = NULL;
  MhCodecLimits limits;
  MhApplyReport report;
  gsize wire_len;

  mh_store_set_identity (a, alice);
  mh_store_set_identity (relay, relay_id);
  mh_store_set_verify_signatures (relay, TRUE);
  mh_store_set_verify_signatures (carol, TRUE);

  g_assert_true (mh_store_insert (a, "hospital", "h1",
                                  g_variant_new_parsed ("{'name': <'St Mary'>, 'status': <'open'>, "
                                                        "'lat': <51.5>, 'lon': <-0.0>, "
                                                        "'available': <int64 3>}"),
                                  &error));
  g_assert_no_error (error);
  g_assert_true (mh_store_insert (a, "hospital", "h2", g_variant_new_parsed ("{'name': <'Gone'>}"),
                                  &error));
  g_assert_true (mh_store_delete (a, "hospital", "h2", &error));
  g_assert_no_error (error);

  changes = test_read_all (a);
  g_assert_cmpuint (changes->len, >, 4);
  for (guint i = 0; i < changes->len; i++)
    g_assert_true (verifies (g_ptr_array_index (changes, i), NULL));

  /* Through the wire and a relay that re-reads them from its replica. */
  mh_codec_limits_init (&limits);
  wire = mh_codec_encode_batch (changes, &wire_len);
  decoded = mh_codec_decode_batch (wire, (gssize) wire_len, &limits, &error);
  g_assert_no_error (error);
  report = test_apply (relay, decoded);
  g_assert_cmpuint (report.rejected, ==, 0);
  relayed = test_read_all (relay);
  for (guint i = 0; i < relayed->len; i++)
    g_assert_true (verifies (g_ptr_array_index (relayed, i), NULL));

  /* The relay forges: a value of alice's, moved onto another row. */
  for (guint i = 0; i < relayed->len; i++)
    {
      MhChange *change = g_ptr_array_index (relayed, i);

      if (change->kind == MH_CHANGE_SET && strcmp (change->reg, "name") == 0)
        {
          g_free (change->row);
          change->row = g_strdup ("h9");
        }
      if (change->kind == MH_CHANGE_SET && strcmp (change->reg, "status") == 0)
        {
          g_variant_unref (change->value);
          change->value = g_variant_ref_sink (g_variant_new_parsed ("[<'closed'>, <'fire'>]"));
        }
    }
  report = test_apply (carol, relayed);
  g_assert_cmpuint (report.rejected, ==, 2);
  g_assert_cmpuint (mh_store_get_rejected_count (carol), ==, 2);
  rejected = mh_store_list_rejected (carol, 10);
  for (guint i = 0; i < rejected->len; i++)
    {
      MhQueuedChange *queued = g_ptr_array_index (rejected, i);

      g_assert_true (g_str_has_prefix (queued->reason, "signature: "));
    }
  g_assert_true (mh_store_get_row_state (carol, "hospital", "h9") == MH_ROW_ABSENT);
  /* The forged status is not applied: alice's never reached carol. */
  status = test_get_string (carol, "hospital", "h1", "status");
  g_assert_null (status);
  g_assert_cmpint (test_get_int (carol, "hospital", "h1", "available"), ==, 3);
  g_assert_true (mh_store_get_row_state (carol, "hospital", "h2") == MH_ROW_DELETED);

  /* A replay of the same batch: nothing more applied, nothing more listed. */
  report = test_apply (carol, relayed);
  g_assert_cmpuint (report.applied, ==, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (carol), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/signature/canonical", test_canonical);
  g_test_add_func ("/signature/sign-verify-tamper", test_sign_verify_tamper);
  g_test_add_func ("/signature/batch", test_batch_verify);
  g_test_add_func ("/signature/store", test_store_end_to_end);
  return g_test_run ();
}

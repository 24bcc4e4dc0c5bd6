/* Tests of seals: one signature per local commit over the hashes of its
 * changes (MhSeal). Real replicas: seals made at commit, kept, relayed,
 * checked on arrival, and refused when forged, altered or contradicted. */
#include "config.h"

#include <string.h>

#include <sqlite3.h>

#include "mh-codec.h"
#include "mh-identity.h"
#include "mh-store.h"
#include "mh-test-util.h"
#include "sync-test-common.h"


static gint64
count_seals (MhStore *store)
{
  sqlite3_stmt *stmt = NULL;
  gint64 n;

  g_assert_cmpint (sqlite3_prepare_v2 (mh_store_get_db (store), "SELECT count(*) FROM _mh_seal",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  n = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return n;
}

typedef struct
{
  guint first, n;
  const char *name;
} Rows;

/* Inserts hospitals @first to @first + @n - 1 (four registers each). */
static gboolean
insert_rows (MhStore *store, gpointer user_data, GError **error)
{
  const Rows *rows = user_data;

  for (guint i = rows->first; i < rows->first + rows->n; i++)
    {
      g_autofree char *id = g_strdup_printf ("h%04u", i);
      g_autofree char *name = g_strdup_printf ("%s %u", rows->name, i);

      if (!mh_store_insert (store, "hospital", id,
                            g_variant_new_parsed ("{'name': <%s>, 'status': <'open'>, "
                                                  "'available': <int64 3>, 'lat': <1.5>}",
                                                  name),
                            error))
        return FALSE;
    }
  return TRUE;
}

static void
write_rows (MhStore *store, guint first, guint n, const char *name)
{
  Rows rows = { first, n, name };
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_transact (store, insert_rows, &rows, &error));
  g_assert_no_error (error);
}

static void
rename_row (MhStore *store, guint i, const char *name)
{
  g_autofree char *id = g_strdup_printf ("h%04u", i);
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_update (store, "hospital", id,
                                  g_variant_new_parsed ("{'name': <%s>}", name), &error));
  g_assert_no_error (error);
}

static void
assert_all_verify (GPtrArray *changes)
{
  for (guint i = 0; i < changes->len; i++)
    {
      MhChange *change = g_ptr_array_index (changes, i);
      g_autofree char *reason = NULL;

      g_assert_true (mh_change_is_sealed (change));
      g_assert_nonnull (change->seal);
      if (!mh_change_verify (change, &reason))
        g_error ("change %u (%s %s) does not verify: %s", i, change->row,
                 change->reg ? change->reg : "-", reason);
    }
}

/* Through the wire: encoded, then decoded as a peer would. */
static GPtrArray *
wire (GPtrArray *changes)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = mh_codec_encode_batch (changes, NULL);
  GPtrArray *decoded;

  g_assert_nonnull (text);
  decoded = mh_codec_decode_batch (text, -1, NULL, &error);
  g_assert_no_error (error);
  return decoded;
}

/* 600 writes in one transaction make three seals (256 + 256 + 88); one
 * write, one seal; everything read back verifies. */
static void
test_seal_commit (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-seal");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) a = test_signed_store (dir->path, "a.db", schema, alice);
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GHashTable) seals = g_hash_table_new (NULL, NULL);
  guint n_full = 0, n_rest = 0, n_one = 0;

  write_rows (a, 0, 150, "Hospital");
  g_assert_cmpint (count_seals (a), ==, 3);
  rename_row (a, 7, "Renamed");
  g_assert_cmpint (count_seals (a), ==, 4);

  changes = test_read_all (a);
  g_assert_cmpuint (changes->len, ==, 600);
  assert_all_verify (changes);
  for (guint i = 0; i < changes->len; i++)
    {
      MhChange *change = g_ptr_array_index (changes, i);
      const MhSeal *seal = change->seal;

      g_assert_true (mh_seal_covers (seal, change->origin, change->origin_seq));
      if (!g_hash_table_add (seals, change->seal))
        continue;
      if (seal->n == MH_SEAL_MAX)
        n_full++;
      else if (seal->n == 600 - 2 * MH_SEAL_MAX)
        n_rest++;
      else if (seal->n == 1)
        n_one++;
    }
  /* One object per seal: a page of the lane shares them. */
  g_assert_cmpuint (g_hash_table_size (seals), ==, 4);
  g_assert_cmpuint (n_full, ==, 2);
  g_assert_cmpuint (n_rest, ==, 1);
  g_assert_cmpuint (n_one, ==, 1);

  /* A write that fails leaves no seal behind, and the next one seals. */
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (mh_store_insert (a, "hospital", "h0001",
                                     g_variant_new_parsed ("{'name': <'Twice'>}"), &error));
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_EXISTS);
    g_assert_cmpint (count_seals (a), ==, 4);
    g_assert_true (mh_store_delete (a, "hospital", "h0002", NULL));
    g_assert_cmpint (count_seals (a), ==, 5);
    g_clear_pointer (&changes, g_ptr_array_unref);
    changes = test_read_all (a);
    assert_all_verify (changes);
  }
}

/* A relays what it holds page by page, after overwriting some registers:
 * a seal then covers changes that no longer travel. B keeps the seals,
 * relays only the winning registers, and C checks and applies it all. */
static void
test_seal_relay (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-seal");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  g_autoptr(MhIdentity) bob = identity_in (dir->path, "bob");
  g_autoptr(MhIdentity) carol = identity_in (dir->path, "carol");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) a = test_signed_store (dir->path, "a.db", schema, alice);
  g_autoptr(MhStore) b = test_signed_store (dir->path, "b.db", schema, bob);
  g_autoptr(MhStore) c = test_signed_store (dir->path, "c.db", schema, carol);
  g_autoptr(GPtrArray) from_b = NULL;
  MhCursor cursor = { 0, 0 };
  gboolean more = TRUE;
  guint n_pages = 0, n_renamed = 0;
  MhApplyReport report;

  write_rows (a, 0, 150, "Hospital");
  for (guint i = 0; i < 150; i += 15)
    rename_row (a, i, "Renamed");

  /* A to B, 20 log entries (rows) a page: pages cut across seals. */
  while (more)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) page = mh_store_read_lane (a, LANE_REGISTRY, &cursor, 20, NULL, &more,
                                                      &error);
      g_autoptr(GPtrArray) decoded = NULL;

      g_assert_no_error (error);
      decoded = wire (page);
      report = test_apply (b, decoded);
      g_assert_cmpuint (report.rejected, ==, 0);
      g_assert_cmpuint (report.applied, ==, page->len);
      n_pages++;
    }
  g_assert_cmpuint (n_pages, >, 5);
  /* The three seals of the insert, and one per rename. */
  g_assert_cmpint (count_seals (b), ==, 3 + 10);

  from_b = test_read_all (b);
  g_assert_cmpuint (from_b->len, ==, 600);
  assert_all_verify (from_b);
  for (guint i = 0; i < from_b->len; i++)
    {
      MhChange *change = g_ptr_array_index (from_b, i);

      g_assert_cmpstr (change->origin, ==, mh_identity_get_site_id (alice));
      if (strcmp (change->reg, "name") == 0 && change->seal->n == 1)
        {
          g_autoptr(GVariant) boxed = g_variant_get_child_value (change->value, 0);
          g_autoptr(GVariant) inner = g_variant_get_variant (boxed);

          g_assert_cmpstr (g_variant_get_string (inner, NULL), ==, "Renamed");
          n_renamed++;
        }
    }
  g_assert_cmpuint (n_renamed, ==, 10);

  /* B to C, in one batch. */
  {
    g_autoptr(GPtrArray) decoded = wire (from_b);

    report = test_apply (c, decoded);
    g_assert_cmpuint (report.rejected, ==, 0);
    g_assert_cmpuint (report.applied, ==, 600);
  }
  for (guint i = 0; i < 150; i++)
    {
      g_autofree char *id = g_strdup_printf ("h%04u", i);

      test_assert_same_row (a, c, "hospital", id);
    }
  test_assert_same_digests (a, c);
  {
    g_autoptr(GPtrArray) from_c = test_read_all (c);

    assert_all_verify (from_c);
  }
}

/* A small sealed batch of alice's: 5 rows, 20 changes, one seal. */
static char *
sealed_batch (TestDir *dir, MhSchema *schema, MhIdentity *alice)
{
  g_autoptr(MhStore) a = test_signed_store (dir->path, "tamper-a.db", schema, alice);
  g_autoptr(GPtrArray) changes = NULL;
  char *text;

  write_rows (a, 0, 5, "Hospital");
  changes = test_read_all (a);
  g_assert_cmpuint (changes->len, ==, 20);
  text = mh_codec_encode_batch (changes, NULL);
  g_assert_nonnull (text);
  return text;
}

/* Applies @changes to a fresh checking replica; returns its report, and
 * checks that every rejected change's reason holds @reason. */
static MhApplyReport
apply_fresh (TestDir *dir, MhSchema *schema, MhIdentity *id, GPtrArray *changes,
             const char *reason)
{
  static guint serial;
  g_autofree char *name = g_strdup_printf ("fresh-%u.db", serial++);
  g_autoptr(MhStore) store = test_signed_store (dir->path, name, schema, id);
  g_autoptr(GPtrArray) rejected = NULL;
  MhApplyReport report = test_apply (store, changes);

  rejected = mh_store_list_rejected (store, 0);
  g_assert_cmpuint (rejected->len, ==, report.rejected);
  for (guint i = 0; i < rejected->len; i++)
    {
      MhQueuedChange *queued = g_ptr_array_index (rejected, i);

      if (strstr (queued->reason, reason) == NULL)
        g_error ("rejected for “%s”, not “%s”", queued->reason, reason);
    }
  return report;
}

static GPtrArray *
decode (const char *text)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *changes = mh_codec_decode_batch (text, -1, NULL, &error);

  g_assert_no_error (error);
  return changes;
}

/* One base64 character of the member @name of the seal changed, at
 * @offset into its value. */
static char *
alter_seal_member (const char *text, const char *name, guint offset)
{
  g_autofree char *key = g_strdup_printf ("\"%s\":\"", name);
  const char *seals = strstr (text, "\"seals\":");
  char *copy = g_strdup (text);
  char *p;

  g_assert_nonnull (seals);
  p = strstr (copy + (seals - text), key);
  g_assert_nonnull (p);
  p += strlen (key) + offset;
  *p = *p == 'A' ? 'B' : 'A';
  return copy;
}

static void
test_seal_tamper (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-seal");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  g_autoptr(MhIdentity) bob = identity_in (dir->path, "bob");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autofree char *text = sealed_batch (dir, schema, alice);
  MhApplyReport report;

  /* Untouched: all of it applies. */
  {
    g_autoptr(GPtrArray) changes = decode (text);

    report = apply_fresh (dir, schema, bob, changes, "-");
    g_assert_cmpuint (report.applied, ==, 20);
  }
  /* A value changed after decoding: that change alone is refused. */
  {
    g_autoptr(GPtrArray) changes = decode (text);
    MhChange *change = g_ptr_array_index (changes, 3);

    g_assert_nonnull (change->seal);
    g_variant_unref (change->value);
    change->value = g_variant_ref_sink (g_variant_new_parsed ("[<'forged'>]"));
    report = apply_fresh (dir, schema, bob, changes, "signature: hash does not match its seal");
    g_assert_cmpuint (report.rejected, ==, 1);
    g_assert_cmpuint (report.applied, ==, 19);
  }
  /* A change moved onto another row: refused. */
  {
    g_autoptr(GPtrArray) changes = decode (text);
    MhChange *change = g_ptr_array_index (changes, 0);

    g_free (change->row);
    change->row = g_strdup ("h9999");
    report = apply_fresh (dir, schema, bob, changes, "signature: hash does not match its seal");
    g_assert_cmpuint (report.rejected, ==, 1);
    g_assert_cmpuint (report.applied, ==, 19);
  }
  /* The seal's signature altered: every change it covers is refused. */
  {
    g_autofree char *forged = alter_seal_member (text, "sig", 50);
    g_autoptr(GPtrArray) changes = decode (forged);

    report = apply_fresh (dir, schema, bob, changes, "signature: bad seal signature");
    g_assert_cmpuint (report.rejected, ==, 20);
    g_assert_cmpuint (report.applied, ==, 0);
  }
  /* The key in it altered: not the origin's. */
  {
    g_autofree char *forged = alter_seal_member (text, "sig", 3);
    g_autoptr(GPtrArray) changes = decode (forged);

    report = apply_fresh (dir, schema, bob, changes, "signature: ");
    g_assert_cmpuint (report.rejected, ==, 20);
  }
  /* Its hashes altered: refused. */
  {
    g_autofree char *forged = alter_seal_member (text, "h", 10);
    g_autoptr(GPtrArray) changes = decode (forged);

    report = apply_fresh (dir, schema, bob, changes, "signature: bad seal signature");
    g_assert_cmpuint (report.rejected, ==, 20);
  }
  /* Sent without the seal: unsigned. */
  {
    g_autofree char *bare = g_strdup (text);
    char *seals = strstr (bare, ",\"seals\":");
    g_autoptr(GPtrArray) changes = NULL;

    g_assert_nonnull (seals);
    strcpy (seals, "}");
    changes = decode (bare);
    report = apply_fresh (dir, schema, bob, changes, "signature: unsigned change");
    g_assert_cmpuint (report.rejected, ==, 20);
  }
  /* A commit of one change: its seal travels in it; altered, it is refused. */
  {
    g_autoptr(MhStore) a = test_open (dir->path, "tamper-a.db", schema, NULL);
    g_autoptr(GPtrArray) page = NULL;
    g_autoptr(GPtrArray) changes = NULL;
    g_autofree char *one = NULL;
    MhCursor cursor = { 0, 0 };
    char *value;

    mh_store_set_identity (a, alice);
    rename_row (a, 2, "Alone");
    cursor.epoch = mh_store_get_epoch (a);
    cursor.seq = mh_store_get_last_seq (a) - 1;
    page = mh_store_read_lane (a, LANE_REGISTRY, &cursor, 10, NULL, NULL, NULL);
    g_assert_cmpuint (page->len, ==, 1);
    one = mh_codec_encode_batch (page, NULL);
    g_assert_null (strstr (one, "\"seals\""));
    g_assert_nonnull (strstr (one, "\"ss\":1"));
    changes = decode (one);
    report = apply_fresh (dir, schema, bob, changes, "-");
    g_assert_cmpuint (report.applied, ==, 1);
    g_clear_pointer (&changes, g_ptr_array_unref);
    value = strstr (one, "Alone");
    g_assert_nonnull (value);
    value[0] = 'B';
    changes = decode (one);
    report = apply_fresh (dir, schema, bob, changes, "signature: bad seal signature");
    g_assert_cmpuint (report.rejected, ==, 1);
  }
  /* A seal of bob's (good, but not the origin's) attached to alice's changes. */
  {
    g_autoptr(GPtrArray) changes = decode (text);
    MhChange *first = g_ptr_array_index (changes, 0);
    g_autoptr(MhSeal) other = mh_identity_seal (bob, first->seal->first_oseq, first->seal->n,
                                                g_bytes_get_data (first->seal->hashes, NULL),
                                                NULL);

    g_assert_nonnull (other);
    for (guint i = 0; i < changes->len; i++)
      mh_change_set_seal (g_ptr_array_index (changes, i), other);
    report = apply_fresh (dir, schema, bob, changes, "signature: sealed by another origin");
    g_assert_cmpuint (report.rejected, ==, 20);
  }
}

/* Alice signs two different seals from one sequence number: the first one
 * a replica sees stands, the other is refused and counted; so is a seal
 * that overlaps a stored one. */
static void
test_seal_equivocation (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-seal");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  g_autoptr(MhIdentity) bob = identity_in (dir->path, "bob");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) b = test_signed_store (dir->path, "b.db", schema, bob);
  const char *site = mh_identity_get_site_id (alice);
  g_autoptr(GPtrArray) rejected = NULL;
  MhChange *versions[3];
  MhSeal *seals[3];
  MhApplyReport report;

  versions[0] = test_set ("hospital", "h1", "name", test_hlc (0, 0), site, 1, "[<'First'>]");
  versions[1] = test_set ("hospital", "h1", "name", test_hlc (0, 1), site, 1, "[<'Second'>]");
  /* Number 2, under a seal from 1 to 2 that claims number 1 otherwise. */
  versions[2] = test_set ("hospital", "h2", "name", test_hlc (0, 2), site, 2, "[<'Other'>]");
  for (guint i = 0; i < 3; i++)
    {
      guint8 hashes[2 * MH_SEAL_HASH_SIZE];

      mh_change_hash (versions[i], hashes + (i == 2 ? MH_SEAL_HASH_SIZE : 0));
      if (i == 2)
        mh_change_hash (versions[1], hashes);
      seals[i] = mh_identity_seal (alice, 1, i == 2 ? 2 : 1, hashes, NULL);
      g_assert_nonnull (seals[i]);
      mh_change_set_seal (versions[i], seals[i]);
    }

  {
    g_autoptr(GPtrArray) batch = test_batch (mh_change_ref (versions[0]), NULL);
    g_autoptr(GPtrArray) decoded = wire (batch);

    report = test_apply (b, decoded);
    g_assert_cmpuint (report.applied, ==, 1);
  }
  g_assert_cmpuint (mh_store_get_reused_seq_count (b), ==, 0);
  for (guint i = 1; i < 3; i++)
    {
      g_autoptr(GPtrArray) batch = test_batch (mh_change_ref (versions[i]), NULL);
      g_autoptr(GPtrArray) decoded = wire (batch);
      g_autofree char *reason = NULL;

      /* Each verifies on its own: the refusal is the replica's memory. */
      g_assert_true (mh_change_verify (g_ptr_array_index (decoded, 0), &reason));
      report = test_apply (b, decoded);
      g_assert_cmpuint (report.rejected, ==, 1);
      g_assert_cmpuint (report.applied, ==, 0);
      g_assert_cmpuint (mh_store_get_reused_seq_count (b), ==, i);
    }
  rejected = mh_store_list_rejected (b, 0);
  g_assert_cmpuint (rejected->len, ==, 2);
  for (guint i = 0; i < rejected->len; i++)
    g_assert_nonnull (strstr (((MhQueuedChange *) g_ptr_array_index (rejected, i))->reason,
                              "already sealed otherwise"));
  {
    g_autofree char *name = test_get_string (b, "hospital", "h1", "name");

    g_assert_cmpstr (name, ==, "First");
  }
  g_assert_true (mh_store_get_row_state (b, "hospital", "h2") == MH_ROW_ABSENT);
  g_assert_cmpint (count_seals (b), ==, 1);

  for (guint i = 0; i < 3; i++)
    {
      mh_change_unref (versions[i]);
      mh_seal_unref (seals[i]);
    }
}

/* A sealed change parked on arrival (its hospital is not known yet) or
 * held (its clock is ahead) is checked again, with its seal read back
 * from the replica, when it is retried. */
static void
test_seal_queued (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-seal");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  g_autoptr(MhIdentity) bob = identity_in (dir->path, "bob");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) b = test_signed_store (dir->path, "b.db", schema, bob);
  const char *site = mh_identity_get_site_id (alice);
  g_autoptr(MhChange) ahead = test_set ("hospital", "h1", "name", test_hlc (10 * MINUTE_MS, 0),
                                        site, 1, "[<'Later'>]");
  g_autoptr(MhSeal) seal = NULL;
  g_autoptr(GPtrArray) held = NULL;
  guint8 hash[MH_SEAL_HASH_SIZE];
  MhApplyReport report;
  g_autoptr(GError) error = NULL;

  mh_change_hash (ahead, hash);
  seal = mh_identity_seal (alice, 1, 1, hash, NULL);
  mh_change_set_seal (ahead, seal);
  {
    g_autoptr(GPtrArray) batch = test_batch (mh_change_ref (ahead), NULL);
    g_autoptr(GPtrArray) decoded = wire (batch);

    report = test_apply (b, decoded);
    g_assert_cmpuint (report.held, ==, 1);
  }
  g_assert_cmpint (count_seals (b), ==, 1);
  held = mh_store_list_held (b, 0);
  g_assert_cmpuint (held->len, ==, 1);
  g_assert_nonnull (((MhQueuedChange *) g_ptr_array_index (held, 0))->change->seal);

  /* Its time comes: released, checked with the stored seal. */
  mh_store_set_clock_offset (b, 11 * MINUTE_MS);
  mh_store_set_reference_offset (b, 11 * MINUTE_MS);
  g_assert_true (mh_store_release_held (b, &report, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (report.released, ==, 1);
  {
    g_autofree char *name = test_get_string (b, "hospital", "h1", "name");

    g_assert_cmpstr (name, ==, "Later");
  }
}

/* A replica made before seals (no _mh_seal) opens, seals its next
 * commit, and still relays the changes signed one by one that it holds. */
static void
test_seal_old_replica (void)
{
  g_autoptr(TestDir) dir = test_dir_new ("mh-seal");
  g_autoptr(MhIdentity) alice = identity_in (dir->path, "alice");
  g_autoptr(MhIdentity) bob = identity_in (dir->path, "bob");
  g_autoptr(MhIdentity) carol = identity_in (dir->path, "carol");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) c = test_signed_store (dir->path, "c.db", schema, carol);
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GPtrArray) decoded = NULL;
  MhChange *old = test_set ("hospital", "h1", "name", test_hlc (0, 0),
                            mh_identity_get_site_id (alice), 1, "[<'Signed alone'>]");
  MhApplyReport report;

  g_assert_true (mh_identity_sign_change (alice, old, NULL));
  {
    g_autoptr(MhStore) b = test_signed_store (dir->path, "b.db", schema, bob);
    g_autoptr(GPtrArray) batch = test_batch (old, NULL);

    report = test_apply (b, batch);
    g_assert_cmpuint (report.applied, ==, 1);
    g_assert_cmpint (sqlite3_exec (mh_store_get_db (b), "DROP TABLE _mh_seal", NULL, NULL, NULL),
                     ==, SQLITE_OK);
  }
  {
    g_autoptr(MhStore) b = test_signed_store (dir->path, "b.db", schema, bob);

    write_rows (b, 100, 2, "New");
    g_assert_cmpint (count_seals (b), ==, 1);
    changes = test_read_all (b);
  }
  g_assert_cmpuint (changes->len, ==, 9);
  for (guint i = 0; i < changes->len; i++)
    {
      MhChange *change = g_ptr_array_index (changes, i);

      g_assert_true (mh_change_verify (change, NULL));
      if (strcmp (change->row, "h1") == 0)
        {
          g_assert_null (change->seal);
          g_assert_cmpuint (g_bytes_get_size (change->signature), ==, MH_CHANGE_SIGNATURE_SIZE);
        }
    }
  decoded = wire (changes);
  report = test_apply (c, decoded);
  g_assert_cmpuint (report.applied, ==, 9);
  g_assert_cmpuint (report.rejected, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/seal/commit", test_seal_commit);
  g_test_add_func ("/seal/relay", test_seal_relay);
  g_test_add_func ("/seal/tamper", test_seal_tamper);
  g_test_add_func ("/seal/equivocation", test_seal_equivocation);
  g_test_add_func ("/seal/queued", test_seal_queued);
  g_test_add_func ("/seal/old-replica", test_seal_old_replica);
  return g_test_run ();
}

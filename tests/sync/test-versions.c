/* Replicas one schema version apart: what the older one does not know is
 * stored and relayed untouched, and counted in the digests as the newer
 * one counts it. */
#include "config.h"

#include "mh-sync.h"
#include "mh-test-util.h"

/* Version 1: beds with one register. Version 2 adds a register to beds and a
 * whole table, as an additive schema change does. */
static MhSchema *
schema_v (guint version)
{
  MhSchema *schema = mh_schema_new (version);
  guint lane = mh_schema_add_lane (schema, "beds", 1);

  g_assert_true (mh_schema_add_table (schema, "beds", lane, MH_TABLE_NONE, NULL));
  g_assert_true (mh_schema_add_register (schema, "beds", "reported", MH_REGISTER_NONE,
                                         "available", MH_COLUMN_INTEGER, NULL));
  if (version >= 2)
    {
      g_assert_true (mh_schema_add_register (schema, "beds", "ventilators", MH_REGISTER_NONE,
                                             "ventilators", MH_COLUMN_INTEGER, "note",
                                             MH_COLUMN_TEXT, NULL));
      g_assert_true (mh_schema_add_table (schema, "drone", lane, MH_TABLE_NONE, NULL));
      g_assert_true (mh_schema_add_register (schema, "drone", "at", MH_REGISTER_NONE, "lat",
                                             MH_COLUMN_REAL, NULL));
    }
  return schema;
}

static MhStore *
open_store (const char *dir, const char *name, MhSchema *schema)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  MhStore *store = mh_store_open (path, schema, name, &error);

  g_assert_no_error (error);
  return store;
}

static GPtrArray *
read_all (MhStore *store)
{
  MhCursor cursor = { 0, 0 };
  g_autoptr(GError) error = NULL;
  GPtrArray *changes = mh_store_read_lane (store, 0, &cursor, 10000, NULL, NULL, &error);

  g_assert_no_error (error);
  return changes;
}

static void
apply (MhStore *store, GPtrArray *changes, MhApplyReport *report)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_apply (store, changes, report, &error));
  g_assert_no_error (error);
}

static void
assert_same_digests (MhStore *a, MhStore *b)
{
  g_autoptr(GHashTable) da = mh_store_list_digests (a);
  g_autoptr(GHashTable) db = mh_store_list_digests (b);
  GHashTableIter iter;
  const char *bucket, *value;

  g_assert_cmpuint (g_hash_table_size (da), ==, g_hash_table_size (db));
  g_hash_table_iter_init (&iter, da);
  while (g_hash_table_iter_next (&iter, (gpointer *) &bucket, (gpointer *) &value))
    g_assert_cmpstr (value, ==, g_hash_table_lookup (db, bucket));
}

/* new (v2) -> old (v1) -> another new (v2): the old one keeps what it does
 * not know, relays it verbatim, and all three end with equal digests. */
static void
test_versions_relay_unknown (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-versions");
  g_autoptr(MhSchema) v1 = schema_v (1);
  g_autoptr(MhSchema) v2 = schema_v (2);
  g_autoptr(MhStore) newer = open_store (dir, "newer", v2);
  g_autoptr(MhStore) older = open_store (dir, "older", v1);
  g_autoptr(MhStore) other = open_store (dir, "other", v2);
  g_autoptr(GPtrArray) from_newer = NULL;
  g_autoptr(GPtrArray) from_older = NULL;
  g_autoptr(GVariant) row = NULL;
  g_autoptr(GError) error = NULL;
  MhApplyReport report;
  gint64 vents = 0;
  double lat = 0;

  g_assert_true (mh_store_insert (newer, "beds", "h1/icu",
                                  g_variant_new_parsed ("{'available': <int64 3>, "
                                                        "'ventilators': <int64 2>, "
                                                        "'note': <'O2 low'>}"), &error));
  g_assert_no_error (error);
  g_assert_true (mh_store_insert (newer, "drone", "d1", g_variant_new_parsed ("{'lat': <48.85>}"),
                                  &error));
  g_assert_no_error (error);

  from_newer = read_all (newer);
  apply (older, from_newer, &report);
  /* Nothing refused: the register and the table are a newer version's. */
  g_assert_cmpuint (report.rejected, ==, 0);
  g_assert_cmpuint (report.applied, ==, from_newer->len);
  g_assert_cmpuint (mh_store_get_rejected_count (older), ==, 0);
  assert_same_digests (newer, older);

  /* What the older replica knows, it shows; the rest it keeps aside. */
  row = mh_store_get_row (older, "beds", "h1/icu");
  g_assert_nonnull (row);
  g_assert_false (g_variant_lookup (row, "ventilators", "x", &vents));

  /* Idempotent there too. */
  apply (older, from_newer, &report);
  g_assert_cmpuint (report.applied, ==, 0);
  g_assert_cmpuint (report.ignored_older, ==, from_newer->len);

  /* Relayed untouched: origin, clock, sequence number and values. */
  from_older = read_all (older);
  g_assert_cmpuint (from_older->len, ==, from_newer->len);
  for (guint i = 0; i < from_newer->len; i++)
    {
      MhChange *want = g_ptr_array_index (from_newer, i);
      gboolean found = FALSE;

      for (guint j = 0; j < from_older->len; j++)
        {
          MhChange *got = g_ptr_array_index (from_older, j);
          if (g_strcmp0 (got->table, want->table) == 0 && g_strcmp0 (got->row, want->row) == 0
              && g_strcmp0 (got->reg, want->reg) == 0)
            {
              g_assert_cmpint (got->hlc, ==, want->hlc);
              g_assert_cmpstr (got->origin, ==, want->origin);
              g_assert_cmpint (got->origin_seq, ==, want->origin_seq);
              g_assert_true (g_variant_equal (got->value, want->value));
              found = TRUE;
            }
        }
      g_assert_true (found);
    }

  apply (other, from_older, &report);
  g_assert_cmpuint (report.rejected, ==, 0);
  g_clear_pointer (&row, g_variant_unref);
  row = mh_store_get_row (other, "beds", "h1/icu");
  g_assert_true (g_variant_lookup (row, "ventilators", "x", &vents));
  g_assert_cmpint (vents, ==, 2);
  g_clear_pointer (&row, g_variant_unref);
  row = mh_store_get_row (other, "drone", "d1");
  g_assert_true (g_variant_lookup (row, "lat", "d", &lat));
  g_assert_cmpfloat (lat, ==, 48.85);
  assert_same_digests (newer, other);
  assert_same_digests (older, other);

  /* A later change to the unknown register replaces the kept one; an older
   * one is ignored, as for any register. */
  g_assert_true (mh_store_update (newer, "beds", "h1/icu",
                                  g_variant_new_parsed ("{'ventilators': <int64 5>}"), &error));
  g_assert_no_error (error);
  g_clear_pointer (&from_newer, g_ptr_array_unref);
  from_newer = read_all (newer);
  apply (older, from_newer, &report);
  assert_same_digests (newer, older);

  /* Deleting the row there drops what was kept of it, as a newer replica
   * would drop the register. */
  g_assert_true (mh_store_delete (newer, "beds", "h1/icu", &error));
  g_assert_no_error (error);
  g_clear_pointer (&from_newer, g_ptr_array_unref);
  from_newer = read_all (newer);
  apply (older, from_newer, &report);
  assert_same_digests (newer, older);

  g_clear_object (&newer);
  g_clear_object (&older);
  g_clear_object (&other);
  mh_test_rm_rf (dir);
}

/* Unknown registers from a peer that claims no newer schema are wrong in
 * themselves: refused and listed. */
static void
test_versions_same_version_unknown_rejected (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-versions");
  g_autoptr(MhSchema) v1 = schema_v (1);
  g_autoptr(MhStore) store = open_store (dir, "store", v1);
  g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  MhChange *change;
  MhApplyReport report;

  change = mh_change_new_set ("beds", "h1/icu", "ventilators",
                              g_variant_new_parsed ("[<int64 2>, <'x'>]"),
                              MH_HLC_PACK (g_get_real_time () / 1000, 0), "peer", 1);
  change->schema_version = 1;
  g_ptr_array_add (changes, change);
  change = mh_change_new_set ("nosuch", "x", "r", g_variant_new_parsed ("[<int64 2>]"),
                              MH_HLC_PACK (g_get_real_time () / 1000, 1), "peer", 2);
  change->schema_version = 1;
  g_ptr_array_add (changes, change);

  apply (store, changes, &report);
  g_assert_cmpuint (report.rejected, ==, 2);
  g_assert_cmpuint (report.applied, ==, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (store), ==, 2);

  g_clear_object (&store);
  mh_test_rm_rf (dir);
}

/* A value a newer schema allowed in a register this one knows (an enum
 * value, say) is relayed with the newer version, or the next node of this
 * version would take it for one of its own and refuse it. */
static void
test_versions_relay_keeps_version (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-versions");
  g_autoptr(MhSchema) v1 = schema_v (1);
  g_autoptr(MhStore) store = open_store (dir, "store", v1);
  g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
  g_autoptr(GPtrArray) relayed = NULL;
  g_autoptr(GError) error = NULL;
  MhChange *change;
  MhApplyReport report;

  change = mh_change_new_set ("beds", "h1/icu", "reported", g_variant_new_parsed ("[<int64 4>]"),
                              MH_HLC_PACK (g_get_real_time () / 1000, 0), "newer", 1);
  change->schema_version = 2;
  g_ptr_array_add (changes, change);
  apply (store, changes, &report);
  g_assert_cmpuint (report.applied, ==, 1);

  /* A local write to another row of the same table is this version's. */
  g_assert_true (mh_store_insert (store, "beds", "h2/icu",
                                  g_variant_new_parsed ("{'available': <int64 1>}"), &error));
  g_assert_no_error (error);

  relayed = read_all (store);
  g_assert_cmpuint (relayed->len, ==, 2);
  for (guint i = 0; i < relayed->len; i++)
    {
      MhChange *got = g_ptr_array_index (relayed, i);
      g_assert_cmpuint (got->schema_version, ==, g_str_equal (got->row, "h1/icu") ? 2 : 1);
    }

  /* Kept across a reopen: the version is stored with the register. */
  g_clear_object (&store);
  store = open_store (dir, "store", v1);
  g_clear_pointer (&relayed, g_ptr_array_unref);
  relayed = read_all (store);
  for (guint i = 0; i < relayed->len; i++)
    {
      MhChange *got = g_ptr_array_index (relayed, i);
      g_assert_cmpuint (got->schema_version, ==, g_str_equal (got->row, "h1/icu") ? 2 : 1);
    }

  g_clear_object (&store);
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/versions/relay-unknown", test_versions_relay_unknown);
  g_test_add_func ("/versions/same-version-unknown-rejected",
                   test_versions_same_version_unknown_rejected);
  g_test_add_func ("/versions/relay-keeps-version", test_versions_relay_keeps_version);
  return g_test_run ();
}

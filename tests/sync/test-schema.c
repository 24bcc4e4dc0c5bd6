/* Unit tests of schema declaration, and of how a store opens a replica
 * with a schema: additive changes, older versions, site ids, file mode. */
#include "config.h"

#include <sys/stat.h>

#include <glib/gstdio.h>

#include "sync-test-common.h"

static void
test_schema_declare (void)
{
  g_autoptr(MhSchema) schema = test_schema_new (3);
  const MhTableDef *hospital, *observation;
  const MhRegisterDef *reg;
  const MhColumnDef *column;
  guint index = G_MAXUINT;

  g_assert_cmpuint (mh_schema_get_version (schema), ==, 3);
  g_assert_false (mh_schema_is_frozen (schema));

  g_assert_cmpuint (mh_schema_get_n_lanes (schema), ==, 2);
  g_assert_cmpstr (mh_schema_get_lane (schema, LANE_CARE)->name, ==, "care");
  g_assert_cmpuint (mh_schema_get_lane (schema, LANE_CARE)->index, ==, LANE_CARE);
  g_assert_cmpuint (mh_schema_get_lane (schema, LANE_REGISTRY)->weight, ==, 4);

  g_assert_cmpuint (mh_schema_get_n_tables (schema), ==, 3);
  hospital = mh_schema_lookup_table (schema, "hospital");
  g_assert_nonnull (hospital);
  g_assert_true (mh_schema_get_table (schema, 0) == hospital);
  g_assert_cmpuint (hospital->index, ==, 0);
  g_assert_cmpuint (hospital->lane, ==, LANE_REGISTRY);
  g_assert_cmpint (hospital->flags, ==, MH_TABLE_NONE);
  g_assert_cmpuint (hospital->registers->len, ==, 4);
  g_assert_cmpuint (hospital->columns->len, ==, 7);
  g_assert_null (mh_schema_lookup_table (schema, "nothing"));
  g_assert_null (mh_schema_lookup_table (schema, NULL));

  /* Registers keep their declaration order, columns their register order. */
  reg = mh_table_def_lookup_register (hospital, "beds", &index);
  g_assert_nonnull (reg);
  g_assert_cmpuint (index, ==, 2);
  g_assert_cmpuint (reg->first_column, ==, 3);
  g_assert_cmpuint (reg->n_columns, ==, 2);
  g_assert_cmpint (reg->flags, ==, MH_REGISTER_NONE);
  reg = mh_table_def_lookup_register (hospital, "status", &index);
  g_assert_cmpuint (index, ==, 1);
  g_assert_cmpint (reg->flags, ==, MH_REGISTER_HISTORY);
  g_assert_null (mh_table_def_lookup_register (hospital, "available", NULL));

  column = mh_table_def_lookup_column (hospital, "baseline", &index);
  g_assert_nonnull (column);
  g_assert_cmpuint (index, ==, 4);
  g_assert_cmpint (column->type, ==, MH_COLUMN_INTEGER);
  g_assert_cmpuint (column->reg, ==, 2);
  column = mh_table_def_lookup_column (hospital, "lon", &index);
  g_assert_cmpuint (index, ==, 6);
  g_assert_cmpint (column->type, ==, MH_COLUMN_REAL);
  g_assert_cmpuint (column->reg, ==, 3);
  g_assert_null (mh_table_def_lookup_column (hospital, "beds", NULL));
  g_assert_null (mh_table_def_lookup_column (hospital, "id", NULL));

  observation = mh_schema_lookup_table (schema, "observation");
  g_assert_cmpuint (observation->index, ==, 2);
  g_assert_cmpuint (observation->lane, ==, LANE_CARE);
  g_assert_cmpint (observation->flags, ==, MH_TABLE_INSERT_ONLY);
  g_assert_cmpuint (observation->registers->len, ==, 1);
}

static void
test_schema_lane_weight (void)
{
  g_autoptr(MhSchema) schema = mh_schema_new (1);

  /* A lane of weight 0 would never be read; it gets the least share. */
  g_assert_cmpuint (mh_schema_add_lane (schema, "a", 0), ==, 0);
  g_assert_cmpuint (mh_schema_add_lane (schema, "b", 7), ==, 1);
  g_assert_cmpuint (mh_schema_get_lane (schema, 0)->weight, ==, 1);
  g_assert_cmpuint (mh_schema_get_lane (schema, 1)->weight, ==, 7);
}

static void
test_schema_invalid_names (void)
{
  g_autoptr(MhSchema) schema = mh_schema_new (1);
  g_autofree char *longest = g_strnfill (64, 'a');
  g_autofree char *too_long = g_strnfill (65, 'a');
  const char *const bad[] = { "", "_mh_log", "_x", "1abc", "a-b", "a b", "x\"; DROP TABLE y; --",
                              "é", "a.b", too_long };

  mh_schema_add_lane (schema, "main", 1);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (mh_schema_add_table (schema, bad[i], 0, MH_TABLE_NONE, &error));
      g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA);
      g_assert_null (mh_schema_lookup_table (schema, bad[i]));
    }
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (mh_schema_add_table (schema, NULL, 0, MH_TABLE_NONE, &error));
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA);
  }
  {
    g_autoptr(GError) error = NULL;

    /* A table in a lane that does not exist. */
    g_assert_false (mh_schema_add_table (schema, "t", 1, MH_TABLE_NONE, &error));
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA);
    g_assert_null (mh_schema_lookup_table (schema, "t"));
  }
  g_assert_cmpuint (mh_schema_get_n_tables (schema), ==, 0);

  g_assert_true (mh_schema_add_table (schema, longest, 0, MH_TABLE_NONE, NULL));
  g_assert_true (mh_schema_add_table (schema, "Ward_2b", 0, MH_TABLE_NONE, NULL));
  g_assert_true (mh_schema_add_table (schema, "once", 0, MH_TABLE_INSERT_ONLY, NULL));

  /* Register and column names are programming errors: criticals. */
  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*is_valid_name*");
  g_assert_false (mh_schema_add_register (schema, "Ward_2b", "_mh", MH_REGISTER_NONE, "a",
                                          MH_COLUMN_TEXT, NULL));
  g_test_assert_expected_messages ();

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*invalid or duplicate column*id*");
  g_assert_false (mh_schema_add_register (schema, "Ward_2b", "r", MH_REGISTER_NONE, "id",
                                          MH_COLUMN_TEXT, NULL));
  g_test_assert_expected_messages ();

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*invalid or duplicate column*_rid*");
  g_assert_false (mh_schema_add_register (schema, "Ward_2b", "r", MH_REGISTER_NONE, "_rid",
                                          MH_COLUMN_INTEGER, NULL));
  g_test_assert_expected_messages ();

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*invalid or duplicate column*a b*");
  g_assert_false (mh_schema_add_register (schema, "Ward_2b", "r", MH_REGISTER_NONE, "ok",
                                          MH_COLUMN_TEXT, "a b", MH_COLUMN_TEXT, NULL));
  g_test_assert_expected_messages ();

  /* None of the refused registers left a column behind. */
  g_assert_cmpuint (mh_schema_lookup_table (schema, "Ward_2b")->columns->len, ==, 0);
  g_assert_cmpuint (mh_schema_lookup_table (schema, "Ward_2b")->registers->len, ==, 0);

  g_assert_true (mh_schema_add_register (schema, "Ward_2b", "r", MH_REGISTER_NONE, "a",
                                         MH_COLUMN_TEXT, NULL));

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*invalid or duplicate column*a*");
  g_assert_false (mh_schema_add_register (schema, "Ward_2b", "s", MH_REGISTER_NONE, "a",
                                          MH_COLUMN_INTEGER, NULL));
  g_test_assert_expected_messages ();

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*lookup_register*");
  g_assert_false (mh_schema_add_register (schema, "Ward_2b", "r", MH_REGISTER_NONE, "b",
                                          MH_COLUMN_TEXT, NULL));
  g_test_assert_expected_messages ();

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*table != NULL*");
  g_assert_false (mh_schema_add_register (schema, "nothing", "r", MH_REGISTER_NONE, "b",
                                          MH_COLUMN_TEXT, NULL));
  g_test_assert_expected_messages ();

  /* An insert-only row is one register. */
  g_assert_true (mh_schema_add_register (schema, "once", "all", MH_REGISTER_NONE, "a",
                                         MH_COLUMN_TEXT, "b", MH_COLUMN_INTEGER, NULL));
  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*INSERT_ONLY*");
  g_assert_false (mh_schema_add_register (schema, "once", "more", MH_REGISTER_NONE, "c",
                                          MH_COLUMN_TEXT, NULL));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (mh_schema_lookup_table (schema, "once")->registers->len, ==, 1);
  g_assert_cmpuint (mh_schema_lookup_table (schema, "Ward_2b")->registers->len, ==, 1);
}

static void
test_schema_duplicate_table (void)
{
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(GError) error = NULL;
  const MhTableDef *before = mh_schema_lookup_table (schema, "patient");

  g_assert_false (mh_schema_add_table (schema, "patient", LANE_REGISTRY, MH_TABLE_INSERT_ONLY,
                                       &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA);
  g_assert_cmpuint (mh_schema_get_n_tables (schema), ==, 3);
  /* The first declaration stands untouched. */
  g_assert_true (mh_schema_lookup_table (schema, "patient") == before);
  g_assert_cmpuint (before->lane, ==, LANE_CARE);
  g_assert_cmpint (before->flags, ==, MH_TABLE_NONE);
  g_assert_cmpuint (before->registers->len, ==, 3);
}

static void
test_schema_buckets (void)
{
  g_autoptr(MhSchema) schema = test_schema_new (1);
  const MhTableDef *hospital = mh_schema_lookup_table (schema, "hospital");
  const MhTableDef *patient = mh_schema_lookup_table (schema, "patient");
  struct
  {
    const MhTableDef *table;
    const char *row;
    const char *bucket;
  } cases[] = {
    /* Without row prefix: the table's bucket, whatever the id. */
    { hospital, "H1", "hospital" },
    { hospital, "H1/x", "hospital" },
    /* With row prefix: the part before the first slash. */
    { patient, "H1/p1", "patients:H1" },
    { patient, "H2/p1", "patients:H2" },
    { patient, "H1/p1/o7", "patients:H1" },
    { patient, "p1", "patients" },
    { patient, "/p1", "patients:" },
  };

  g_assert_cmpstr (hospital->bucket, ==, "hospital");
  g_assert_false (hospital->bucket_by_row_prefix);
  g_assert_cmpstr (patient->bucket, ==, "patients");
  g_assert_true (patient->bucket_by_row_prefix);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *bucket = mh_table_def_bucket_for_row (cases[i].table, cases[i].row);
      g_assert_cmpstr (bucket, ==, cases[i].bucket);
    }

  /* Setting a bucket again replaces it, prefix rule included. */
  g_assert_true (mh_schema_set_bucket (schema, "patient", "public", FALSE));
  {
    g_autofree char *bucket = mh_table_def_bucket_for_row (patient, "H1/p1");
    g_assert_cmpstr (bucket, ==, "public");
  }
}

static void
test_schema_frozen (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-schema");
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhSchema) empty = mh_schema_new (1);
  g_autoptr(MhStore) store = NULL;
  g_autofree char *path = g_build_filename (dir, "empty.db", NULL);
  g_autoptr(GError) error = NULL;

  /* A schema without lanes cannot hold a table: refused at open. */
  g_assert_null (mh_store_open (path, empty, "site-a", &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA);

  store = test_open (dir, "replica.db", schema, "site-a");
  g_assert_true (mh_schema_is_frozen (schema));
  g_assert_true (mh_store_get_schema (store) == schema);

  /* Nothing may be declared any more: the store prepared its statements. */
  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*frozen*");
  g_assert_false (mh_schema_add_table (schema, "late", LANE_REGISTRY, MH_TABLE_NONE, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*frozen*");
  g_assert_false (mh_schema_add_register (schema, "hospital", "late", MH_REGISTER_NONE, "late",
                                          MH_COLUMN_TEXT, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*frozen*");
  g_assert_false (mh_schema_set_bucket (schema, "hospital", "other", TRUE));
  g_test_assert_expected_messages ();
  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*frozen*");
  mh_schema_add_lane (schema, "late", 1);
  g_test_assert_expected_messages ();

  g_assert_null (mh_schema_lookup_table (schema, "late"));
  g_assert_cmpuint (mh_schema_get_n_lanes (schema), ==, 2);
  g_assert_cmpuint (mh_schema_lookup_table (schema, "hospital")->registers->len, ==, 4);
  g_assert_cmpstr (mh_schema_lookup_table (schema, "hospital")->bucket, ==, "hospital");

  g_clear_object (&store);
  mh_test_rm_rf (dir);
}

/* Version 1 plus, appended: a register on hospital and a new table. */
static MhSchema *
schema_v2 (void)
{
  MhSchema *schema = test_schema_new (2);

  g_assert_true (mh_schema_add_register (schema, "hospital", "phones", MH_REGISTER_NONE,
                                         "switchboard", MH_COLUMN_TEXT, "emergency",
                                         MH_COLUMN_TEXT, NULL));
  g_assert_true (mh_schema_add_table (schema, "unit", LANE_REGISTRY, MH_TABLE_NONE, NULL));
  g_assert_true (mh_schema_add_register (schema, "unit", "callsign", MH_REGISTER_NONE,
                                         "callsign", MH_COLUMN_TEXT, NULL));
  return schema;
}

static void
test_schema_additive (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-schema");
  g_autoptr(GError) error = NULL;
  gint64 epoch, last_seq;
  MhHlc name_hlc = 0;

  {
    g_autoptr(MhSchema) v1 = test_schema_new (1);
    g_autoptr(MhStore) store = test_open (dir, "replica.db", v1, "site-a");
    g_autoptr(GPtrArray) changes = NULL;

    g_assert_true (mh_store_insert (store, "hospital", "H1",
                                    g_variant_new_parsed ("{'name': <'Central'>, "
                                                          "'available': <int64 4>, "
                                                          "'baseline': <int64 10>, "
                                                          "'lat': <48.85>, 'lon': <2.35>}"),
                                    &error));
    g_assert_no_error (error);
    g_assert_true (mh_store_insert (store, "patient", "H1/p1",
                                    g_variant_new_parsed ("{'triage': <'delayed'>}"), &error));
    g_assert_no_error (error);
    changes = test_read_lane_all (store, LANE_REGISTRY);
    for (guint i = 0; i < changes->len; i++)
      {
        MhChange *c = g_ptr_array_index (changes, i);
        if (g_strcmp0 (c->reg, "name") == 0)
          name_hlc = c->hlc;
      }
    g_assert_cmpint (name_hlc, >, 0);
    epoch = mh_store_get_epoch (store);
    last_seq = mh_store_get_last_seq (store);
  }

  {
    g_autoptr(MhSchema) v2 = schema_v2 ();
    g_autoptr(MhStore) store = test_open (dir, "replica.db", v2, "site-a");
    g_autoptr(GVariant) row = NULL;
    g_autoptr(GPtrArray) changes = NULL;
    double lat = 0;
    guint n_phones = 0;

    /* The same log: no new epoch for a schema upgrade. */
    g_assert_cmpint (mh_store_get_epoch (store), ==, epoch);
    g_assert_cmpint (mh_store_get_last_seq (store), ==, last_seq);

    /* Old rows read back whole, the new columns empty. */
    row = mh_store_get_row (store, "hospital", "H1");
    g_assert_nonnull (row);
    test_assert_string (store, "hospital", "H1", "name", "Central");
    g_assert_cmpint (test_get_int (store, "hospital", "H1", "available"), ==, 4);
    g_assert_true (g_variant_lookup (row, "lat", "d", &lat));
    g_assert_cmpfloat (lat, ==, 48.85);
    g_assert_false (g_variant_lookup (row, "switchboard", "s", NULL));
    test_assert_string (store, "patient", "H1/p1", "triage", "delayed");

    /* The old rows' registers keep their clocks; the appended one is unwritten. */
    changes = test_read_lane_all (store, LANE_REGISTRY);
    for (guint i = 0; i < changes->len; i++)
      {
        MhChange *c = g_ptr_array_index (changes, i);
        g_assert_cmpstr (c->reg, !=, "phones");
        if (g_strcmp0 (c->reg, "name") == 0)
          g_assert_cmpint (c->hlc, ==, name_hlc);
      }

    /* The appended register and table take writes, on old rows too. */
    g_assert_true (mh_store_update (store, "hospital", "H1",
                                    g_variant_new_parsed ("{'switchboard': <'+33 1'>}"), &error));
    g_assert_no_error (error);
    g_assert_true (mh_store_insert (store, "unit", "U1",
                                    g_variant_new_parsed ("{'callsign': <'SAMU 75-1'>}"), &error));
    g_assert_no_error (error);
    test_assert_string (store, "hospital", "H1", "switchboard", "+33 1");
    test_assert_string (store, "hospital", "H1", "name", "Central");
    test_assert_string (store, "unit", "U1", "callsign", "SAMU 75-1");

    g_clear_pointer (&changes, g_ptr_array_unref);
    changes = test_read_lane_all (store, LANE_REGISTRY);
    for (guint i = 0; i < changes->len; i++)
      {
        MhChange *c = g_ptr_array_index (changes, i);
        if (g_strcmp0 (c->reg, "phones") == 0)
          {
            n_phones++;
            g_assert_cmpuint (c->schema_version, ==, 2);
          }
        if (g_strcmp0 (c->reg, "name") == 0)
          g_assert_cmpint (c->hlc, ==, name_hlc);
      }
    g_assert_cmpuint (n_phones, ==, 1);
    test_assert_digests_consistent (store);
  }

  {
    /* And it opens again with version 2, everything in place. */
    g_autoptr(MhSchema) v2 = schema_v2 ();
    g_autoptr(MhStore) store = test_open (dir, "replica.db", v2, "site-a");

    test_assert_string (store, "hospital", "H1", "switchboard", "+33 1");
    test_assert_string (store, "hospital", "H1", "name", "Central");
    test_assert_string (store, "unit", "U1", "callsign", "SAMU 75-1");
    test_assert_digests_consistent (store);
  }

  {
    /* Version 1 can no longer open it. */
    g_autoptr(MhSchema) v1 = test_schema_new (1);
    g_autofree char *path = g_build_filename (dir, "replica.db", NULL);

    g_assert_null (mh_store_open (path, v1, "site-a", &error));
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA);
    g_clear_error (&error);
  }
  mh_test_rm_rf (dir);
}

static void
test_schema_older_refused (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-schema");
  g_autofree char *path = g_build_filename (dir, "replica.db", NULL);
  g_autoptr(GError) error = NULL;

  {
    g_autoptr(MhSchema) v5 = test_schema_new (5);
    g_autoptr(MhStore) store = test_open (dir, "replica.db", v5, "site-a");

    g_assert_true (mh_store_insert (store, "hospital", "H1",
                                    g_variant_new_parsed ("{'name': <'Central'>}"), &error));
    g_assert_no_error (error);
  }

  {
    g_autoptr(MhSchema) v4 = test_schema_new (4);
    MhStore *store = mh_store_open (path, v4, "site-a", &error);

    g_assert_null (store);
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA);
    g_clear_error (&error);
  }

  {
    /* The refusal changed nothing: version 5 still opens it, data intact,
     * and version 4 is still refused (the stored version was not lowered). */
    g_autoptr(MhSchema) v5 = test_schema_new (5);
    g_autoptr(MhSchema) v4 = test_schema_new (4);
    g_autoptr(MhStore) store = test_open (dir, "replica.db", v5, "site-a");

    test_assert_string (store, "hospital", "H1", "name", "Central");
    g_clear_object (&store);
    g_assert_null (mh_store_open (path, v4, "site-a", &error));
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA);
    g_clear_error (&error);
  }
  mh_test_rm_rf (dir);
}

static void
test_schema_site (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-schema");
  g_autofree char *path = g_build_filename (dir, "replica.db", NULL);
  g_autofree char *fresh = g_build_filename (dir, "fresh.db", NULL);
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(GError) error = NULL;

  /* A new replica needs a site id. */
  g_assert_null (mh_store_open (fresh, schema, NULL, &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SITE);
  g_clear_error (&error);
  g_assert_null (mh_store_open (fresh, schema, "", &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SITE);
  g_clear_error (&error);

  {
    g_autoptr(MhStore) store = test_open (dir, "replica.db", schema, "site-a");
    g_assert_true (mh_store_insert (store, "hospital", "H1",
                                    g_variant_new_parsed ("{'name': <'Central'>}"), &error));
    g_assert_no_error (error);
  }

  g_assert_null (mh_store_open (path, schema, "site-b", &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SITE);
  g_clear_error (&error);

  {
    /* Without a site id, an existing replica opens as its own site. */
    g_autoptr(MhStore) store = mh_store_open (path, schema, NULL, &error);
    g_autoptr(GPtrArray) changes = NULL;
    g_autofree char *site = NULL;
    MhChange *c;

    g_assert_no_error (error);
    g_assert_cmpstr (mh_store_get_site_id (store), ==, "site-a");
    g_object_get (store, "site-id", &site, NULL);
    g_assert_cmpstr (site, ==, "site-a");
    test_assert_string (store, "hospital", "H1", "name", "Central");

    /* New writes are stamped with the stored site id. */
    g_assert_true (mh_store_update (store, "hospital", "H1",
                                    g_variant_new_parsed ("{'name': <'CHU'>}"), &error));
    g_assert_no_error (error);
    changes = test_read_lane_all (store, LANE_REGISTRY);
    g_assert_cmpuint (changes->len, ==, 4);
    c = g_ptr_array_index (changes, changes->len - 1);
    g_assert_cmpstr (c->reg, ==, "name");
    for (guint i = 0; i < changes->len; i++)
      g_assert_cmpstr (((MhChange *) g_ptr_array_index (changes, i))->origin, ==, "site-a");
  }
  mh_test_rm_rf (dir);
}

static guint
file_mode (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static void
test_schema_file_mode (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-schema");
  g_autofree char *path = g_build_filename (dir, "replica.db", NULL);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (path, "-shm", NULL);
  g_autoptr(MhSchema) schema = test_schema_new (1);
  g_autoptr(MhStore) store = NULL;
  g_autoptr(GError) error = NULL;
  mode_t saved;

  /* With no umask to help, whatever the store does not ask for shows. */
  saved = umask (0);
  store = test_open (dir, "replica.db", schema, "site-a");
  g_assert_true (mh_store_insert (store, "hospital", "H1",
                                  g_variant_new_parsed ("{'name': <'Central'>}"), &error));
  umask (saved);
  g_assert_no_error (error);

  g_assert_cmpstr (mh_store_get_path (store), ==, path);
  g_assert_cmpuint (file_mode (path), ==, 0600);
  /* Patient data passes through the write-ahead log too. */
  g_assert_true (g_file_test (wal, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (file_mode (wal), ==, 0600);
  if (g_file_test (shm, G_FILE_TEST_EXISTS))
    g_assert_cmpuint (file_mode (shm), ==, 0600);

  g_clear_object (&store);
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/schema/declare", test_schema_declare);
  g_test_add_func ("/schema/lane-weight", test_schema_lane_weight);
  g_test_add_func ("/schema/invalid-names", test_schema_invalid_names);
  g_test_add_func ("/schema/duplicate-table", test_schema_duplicate_table);
  g_test_add_func ("/schema/buckets", test_schema_buckets);
  g_test_add_func ("/schema/frozen", test_schema_frozen);
  g_test_add_func ("/schema/additive", test_schema_additive);
  g_test_add_func ("/schema/older-version-refused", test_schema_older_refused);
  g_test_add_func ("/schema/site", test_schema_site);
  g_test_add_func ("/schema/file-mode", test_schema_file_mode);
  return g_test_run ();
}

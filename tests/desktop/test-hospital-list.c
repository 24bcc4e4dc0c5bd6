/* test-hospital-list.c: MhHospitalList follows the store row by row */
#include "config.h"

#include "mh-application.h"
#include "mh-hospital-list.h"
#include "mh-test-util.h"

typedef struct
{
  char *tmpdir;
  MhNode *node;
  MhHospitalList *list;
  GHashTable *notified; /* item -> GString of "prop " names */
  guint items_changed;
  guint last_position, last_removed, last_added;
} Fixture;

static void
notify_cb (MhHospitalItem *item, GParamSpec *pspec, Fixture *f)
{
  GString *names = g_hash_table_lookup (f->notified, item);

  if (names == NULL)
    {
      names = g_string_new (NULL);
      g_hash_table_insert (f->notified, item, names);
    }
  g_string_append_printf (names, "%s ", pspec->name);
}

static void
items_changed_cb (GListModel *model, guint position, guint removed, guint added, Fixture *f)
{
  f->items_changed++;
  f->last_position = position;
  f->last_removed = removed;
  f->last_added = added;
}

static void
free_string (gpointer data)
{
  g_string_free (data, TRUE);
}

static void
watch_items (Fixture *f)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (f->list)); i++)
    {
      g_autoptr (MhHospitalItem) item = g_list_model_get_item (G_LIST_MODEL (f->list), i);

      g_signal_connect (item, "notify", G_CALLBACK (notify_cb), f);
    }
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;

  f->tmpdir = mh_test_make_tmpdir ("hospital-list");
  dir = g_build_filename (f->tmpdir, "demo", NULL);
  f->node = mh_demo_open (dir, &error);
  g_assert_no_error (error);
  f->list = mh_hospital_list_new (f->node);
  f->notified = g_hash_table_new_full (NULL, NULL, NULL, free_string);
  g_signal_connect (f->list, "items-changed", G_CALLBACK (items_changed_cb), f);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (f->list)); i++)
    {
      g_autoptr (MhHospitalItem) item = g_list_model_get_item (G_LIST_MODEL (f->list), i);

      g_signal_handlers_disconnect_by_data (item, f);
    }
  g_clear_object (&f->list);
  g_clear_object (&f->node);
  g_hash_table_unref (f->notified);
  mh_test_rm_rf (f->tmpdir);
  g_free (f->tmpdir);
}

/* Runs the main context until the list has applied what is waiting. */
static void
settle (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
test_load (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonArray) hospitals = mh_node_list_hospitals (f->node, NULL);
  GListModel *model = G_LIST_MODEL (f->list);

  g_assert_cmpuint (g_list_model_get_item_type (model), ==, MH_TYPE_HOSPITAL_ITEM);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, json_array_get_length (hospitals));
  g_assert_cmpuint (g_list_model_get_n_items (model), >, 10);
  for (guint i = 0; i < json_array_get_length (hospitals); i++)
    {
      JsonObject *h = json_array_get_object_element (hospitals, i);
      g_autoptr (MhHospitalItem) item = g_list_model_get_item (model, i);

      g_assert_cmpstr (mh_hospital_item_get_id (item), ==, json_object_get_string_member (h, "id"));
      g_assert_cmpstr (mh_hospital_item_get_name (item), ==,
                       json_object_get_string_member (h, "name"));
      g_assert_cmpfloat (mh_hospital_item_get_latitude (item), ==,
                         json_object_get_double_member (h, "lat"));
      g_assert_true (mh_hospital_list_lookup (f->list, mh_hospital_item_get_id (item)) == item);
    }
  g_assert_null (g_list_model_get_item (model, g_list_model_get_n_items (model)));
}

/* A bed count written through the node: that item alone notifies, with
 * the new count; no item moves. */
static void
test_beds_change (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (MhHospitalItem) item = NULL;
  g_autoptr (GError) error = NULL;
  GString *names;
  gint64 committed;
  JsonObject *beds;
  gint64 free_beds;

  watch_items (f);
  item = g_list_model_get_item (G_LIST_MODEL (f->list), 3);
  beds = json_object_get_object_member (mh_hospital_item_get_hospital (item), "beds");
  committed = json_object_has_member (beds, "adult_icu")
                ? json_object_get_int_member (json_object_get_object_member (beds, "adult_icu"),
                                              "committed_inbound")
                : 0;

  json_object_set_int_member (fields, "available", 37);
  g_assert_true (mh_node_put_beds (f->node, mh_hospital_item_get_id (item), "adult_icu", fields,
                                   &error));
  g_assert_no_error (error);
  /* Nothing before the idle: a commit's rows are applied together. */
  g_assert_cmpuint (g_hash_table_size (f->notified), ==, 0);
  settle ();

  g_assert_cmpuint (g_hash_table_size (f->notified), ==, 1);
  names = g_hash_table_lookup (f->notified, item);
  g_assert_nonnull (names);
  g_assert_nonnull (strstr (names->str, "beds "));
  g_assert_nonnull (strstr (names->str, "hospital "));
  g_assert_null (strstr (names->str, "name "));
  g_assert_null (strstr (names->str, "latitude "));
  g_assert_cmpuint (f->items_changed, ==, 0);
  free_beds = mh_hospital_item_get_free_beds (item, "adult_icu");
  g_assert_cmpint (free_beds, ==, MAX (0, 37 - committed));
  g_assert_false (mh_hospital_item_get_stale (item, "adult_icu"));

  /* The same count again changes nothing the item shows... but the
   * report time does: beds notify again, nothing else. */
  g_hash_table_remove_all (f->notified);
  g_assert_true (mh_node_put_beds (f->node, mh_hospital_item_get_id (item), "adult_icu", fields,
                                   &error));
  settle ();
  g_assert_cmpuint (g_hash_table_size (f->notified), <=, 1);
  g_assert_cmpint (mh_hospital_item_get_free_beds (item, "adult_icu"), ==, free_beds);
}

static void
test_status_change (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (MhHospitalItem) item = NULL;
  g_autoptr (GError) error = NULL;
  GString *names;

  watch_items (f);
  item = g_list_model_get_item (G_LIST_MODEL (f->list), 0);
  json_object_set_string_member (fields, "ems_traffic", "closed");
  json_object_set_string_member (fields, "ems_traffic_reason", "test");
  g_assert_true (mh_node_patch_hospital (f->node, mh_hospital_item_get_id (item), fields, &error));
  g_assert_no_error (error);
  settle ();
  g_assert_cmpuint (g_hash_table_size (f->notified), ==, 1);
  names = g_hash_table_lookup (f->notified, item);
  g_assert_nonnull (names);
  g_assert_nonnull (strstr (names->str, "ems-traffic "));
  g_assert_null (strstr (names->str, "beds "));
  g_assert_cmpstr (mh_hospital_item_get_ems_traffic (item), ==, "closed");
  g_assert_cmpuint (f->items_changed, ==, 0);
}

/* A new hospital and a renamed one take their place in name order. */
static void
test_insert_and_rename (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (JsonObject) rename = json_object_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  g_autoptr (MhHospitalItem) first = NULL;
  g_autoptr (MhHospitalItem) last = NULL;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (f->list));

  json_object_set_string_member (fields, "name", "AAA Test Hospital");
  json_object_set_double_member (fields, "lat", 48.85);
  json_object_set_double_member (fields, "lon", 2.35);
  id = mh_node_create_hospital (f->node, fields, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  settle ();
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->list)), ==, n + 1);
  g_assert_cmpuint (f->items_changed, ==, 1);
  g_assert_cmpuint (f->last_position, ==, 0);
  g_assert_cmpuint (f->last_removed, ==, 0);
  g_assert_cmpuint (f->last_added, ==, 1);
  first = g_list_model_get_item (G_LIST_MODEL (f->list), 0);
  g_assert_cmpstr (mh_hospital_item_get_id (first), ==, id);

  json_object_set_string_member (rename, "name", "zzz Test Hospital");
  g_assert_true (mh_node_patch_hospital (f->node, id, rename, &error));
  g_assert_no_error (error);
  settle ();
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->list)), ==, n + 1);
  g_assert_cmpuint (f->last_position, ==, n);
  g_assert_cmpuint (f->last_added, ==, 1);
  last = g_list_model_get_item (G_LIST_MODEL (f->list), n);
  g_assert_true (last == first);
  g_assert_cmpstr (mh_hospital_item_get_name (last), ==, "zzz Test Hospital");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add ("/desktop/hospital-list/load", Fixture, NULL, fixture_setup, test_load,
              fixture_teardown);
  g_test_add ("/desktop/hospital-list/beds-change", Fixture, NULL, fixture_setup,
              test_beds_change, fixture_teardown);
  g_test_add ("/desktop/hospital-list/status-change", Fixture, NULL, fixture_setup,
              test_status_change, fixture_teardown);
  g_test_add ("/desktop/hospital-list/insert-and-rename", Fixture, NULL, fixture_setup,
              test_insert_and_rename, fixture_teardown);
  return g_test_run ();
}

/* test-locator.c: a crew's position, from the locator to the replica */
#include "config.h"

#include <math.h>

#include "mh-application.h"
#include "mh-find-view.h"
#include "mh-locator.h"
#include "mh-map-view.h"
#include "mh-test-util.h"
#include "mh-window.h"

static gboolean have_display;

#define UNIT_ID "f0e43881-d193-5adf-bdbf-4c60c5b6ac1c"

static MhNode *
open_ambulance (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *registry_path = mh_demo_registry_path ();
  g_autoptr (JsonNode) registry = NULL;
  g_autoptr (MhNode) node = NULL;

  g_assert_true (mh_node_init_data_dir (dir, "Test crew", MH_ROLE_AMBULANCE, NULL, UNIT_ID, &error));
  g_assert_no_error (error);
  node = mh_node_open (dir, &error);
  g_assert_no_error (error);
  registry = mh_load_registry (registry_path, &error);
  g_assert_no_error (error);
  g_assert_true (mh_node_import_own (node, registry, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&node);
}

static double
haversine_m (double lat1, double lon1, double lat2, double lon2)
{
  double p1 = lat1 * G_PI / 180, p2 = lat2 * G_PI / 180;
  double dp = p2 - p1, dl = (lon2 - lon1) * G_PI / 180;
  double a = sin (dp / 2) * sin (dp / 2) + cos (p1) * cos (p2) * sin (dl / 2) * sin (dl / 2);

  return 6371008.8 * 2 * atan2 (sqrt (a), sqrt (1 - a));
}

static void
test_override (void)
{
  g_autoptr (MhLocator) locator = mh_locator_new ();

  g_setenv ("MEDHEAD_LOCATION", "48.8413,2.3656", TRUE);
  mh_locator_start (locator);
  g_assert_true (mh_locator_get_located (locator));
  g_assert_cmpfloat_with_epsilon (mh_locator_get_latitude (locator), 48.8413, 1e-9);
  g_assert_cmpfloat_with_epsilon (mh_locator_get_longitude (locator), 2.3656, 1e-9);
  mh_locator_stop (locator);
  g_clear_object (&locator);

  /* Nonsense is not a position: nothing is reported. */
  locator = mh_locator_new ();
  g_setenv ("MEDHEAD_LOCATION", "north,2.3", TRUE);
  g_test_expect_message ("medhead", G_LOG_LEVEL_WARNING, "*is not LAT,LON*");
  mh_locator_start (locator);
  g_test_assert_expected_messages ();
  g_assert_false (mh_locator_get_located (locator));
  g_unsetenv ("MEDHEAD_LOCATION");
}

/* An ambulance station writes where it is as its unit's position, which
 * the other stations receive like any change; find-hospital starts there. */
static void
test_crew_window (void)
{
  g_autofree char *tmpdir = NULL;
  g_autoptr (MhNode) node = NULL;
  g_autoptr (JsonObject) unit = NULL;
  MhWindow *window;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  tmpdir = mh_test_make_tmpdir ("desktop-locator");
  node = open_ambulance (tmpdir);

  g_setenv ("MEDHEAD_LOCATION", "48.8413,2.3656", TRUE);
  window = g_object_ref_sink (mh_window_new (NULL, node));
  g_unsetenv ("MEDHEAD_LOCATION");
  gtk_window_present (GTK_WINDOW (window));

  unit = mh_node_get_unit (node, UNIT_ID, NULL);
  g_assert_nonnull (unit);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (unit, "lat"), 48.8413, 1e-9);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (unit, "lon"), 2.3656, 1e-9);

  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (window);
  mh_test_rm_rf (tmpdir);
}


/* A point picked on the map (a secondary click) wins over the other
 * sources: Find hospital opens and ranks from there. */
static void
test_point_chosen (void)
{
  g_autofree char *tmpdir = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (MhNode) node = NULL;
  JsonArray *results;
  JsonObject *first;
  MhWindow *window;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  tmpdir = mh_test_make_tmpdir ("desktop-point");
  dir = g_build_filename (tmpdir, "demo", NULL);
  node = mh_demo_open (dir, &error);
  g_assert_no_error (error);
  window = g_object_ref_sink (mh_window_new (NULL, node));
  gtk_window_present (GTK_WINDOW (window));

  g_signal_emit_by_name (mh_window_get_map_view (window), "point-chosen", 48.8966, 2.3339);
  results = mh_find_view_get_results (mh_window_get_find_view (window));
  g_assert_nonnull (results);
  g_assert_cmpuint (json_array_get_length (results), >, 0);
  first = json_array_get_object_element (results, 0);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (first, "distance_m"),
                                  haversine_m (48.8966, 2.3339,
                                               json_object_get_double_member (first, "lat"),
                                               json_object_get_double_member (first, "lon")),
                                  1.0);

  g_assert_cmpstr (adw_view_stack_get_visible_child_name (
                     ADW_VIEW_STACK (gtk_widget_get_ancestor (GTK_WIDGET (mh_window_get_find_view (window)),
                                                              ADW_TYPE_VIEW_STACK))),
                   ==, "find");

  /* A banner stays until dismissed, above the views, not over them. */
  g_assert_null (mh_window_get_banner (window));
  mh_window_show_banner (window, "Test warning");
  g_assert_cmpstr (mh_window_get_banner (window), ==, "Test warning");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.dismiss-banner", NULL));
  g_assert_null (mh_window_get_banner (window));

  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (window);
  mh_test_rm_rf (tmpdir);
}

int
main (int argc, char *argv[])
{
  gtk_test_init (&argc, &argv, NULL);
  have_display = gdk_display_get_default () != NULL;
  g_test_add_func ("/desktop/locator/override", test_override);
  g_test_add_func ("/desktop/locator/crew-window", test_crew_window);
  g_test_add_func ("/desktop/locator/point-chosen", test_point_chosen);
  return g_test_run ();
}

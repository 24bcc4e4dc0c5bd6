/* test-window.c: the main window on a demo station, in process under Xvfb */
#include "config.h"

#include "desktop-test-common.h"
#include <math.h>

#include "mh-application.h"
#include "mh-bed-board.h"
#include "mh-find-view.h"
#include "mh-map-view.h"
#include "mh-settings.h"
#include "mh-test-util.h"
#include "tile-pack-gen.h"
#include "mh-window.h"

typedef struct
{
  char *tmpdir;
  MhNode *node;
  MhWindow *window;
} Fixture;

static gboolean have_display;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;

  if (!have_display)
    return;
  f->tmpdir = mh_test_make_tmpdir ("desktop-window");
  dir = g_build_filename (f->tmpdir, "demo", NULL);
  f->node = mh_demo_open (dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->node);
  f->window = g_object_ref_sink (mh_window_new (NULL, f->node));
  gtk_window_present (GTK_WINDOW (f->window));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (f->window));
  drain_main_loop ();
}

static gboolean
timeout_done_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gboolean waited = FALSE;

  if (!have_display)
    return;
  /* A tooltip timer that GTK 4.8 starts when a pin appears under Xvfb's
   * pointer outlives the window, then asks the destroyed surface for the
   * pointer (a critical). Let it fire while the window is still there. */
  g_timeout_add (1000, timeout_done_cb, &waited);
  while (!waited)
    g_main_context_iteration (NULL, TRUE);
  gtk_window_destroy (GTK_WINDOW (f->window));
  drain_main_loop ();
  g_clear_object (&f->window);
  g_clear_object (&f->node);
  mh_test_rm_rf (f->tmpdir);
  g_free (f->tmpdir);
}

static double
distance_m (double lat1, double lon1, double lat2, double lon2)
{
  double p1 = lat1 * G_PI / 180, p2 = lat2 * G_PI / 180;
  double dp = p2 - p1, dl = (lon2 - lon1) * G_PI / 180;
  double a = sin (dp / 2) * sin (dp / 2) + cos (p1) * cos (p2) * sin (dl / 2) * sin (dl / 2);

  return 6371008.8 * 2 * atan2 (sqrt (a), sqrt (1 - a));
}

static gboolean
has_specialty (JsonObject *hospital, guint specialty)
{
  JsonArray *list = json_object_get_array_member (hospital, "specialties");

  for (guint i = 0; i < json_array_get_length (list); i++)
    if ((guint) json_array_get_int_element (list, i) == specialty)
      return TRUE;
  return FALSE;
}

static void
test_map_markers (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonArray) hospitals = NULL;
  g_autoptr (JsonArray) units = NULL;
  MhMapView *map;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  hospitals = mh_node_list_hospitals (f->node, NULL);
  units = mh_node_list_units (f->node, NULL);
  g_assert_cmpuint (json_array_get_length (hospitals), >, 0);
  map = mh_window_get_map_view (f->window);
  g_assert_cmpuint (mh_map_view_get_n_hospital_markers (map), ==,
                    json_array_get_length (hospitals));
  g_assert_cmpuint (mh_map_view_get_n_unit_markers (map), ==, json_array_get_length (units));
  for (guint i = 0; i < json_array_get_length (hospitals); i++)
    {
      JsonObject *h = json_array_get_object_element (hospitals, i);

      g_assert_nonnull (mh_map_view_get_pin_color (map, json_object_get_string_member (h, "id")));
    }
}

/* A bed count written to the node turns that hospital's pin, live. */
static void
test_map_live_pin (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonArray) hospitals = NULL;
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (GError) error = NULL;
  const char *green = NULL;
  MhMapView *map;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  map = mh_window_get_map_view (f->window);
  hospitals = mh_node_list_hospitals (f->node, NULL);
  for (guint i = 0; green == NULL && i < json_array_get_length (hospitals); i++)
    {
      const char *id = json_object_get_string_member (json_array_get_object_element (hospitals, i),
                                                      "id");

      if (g_strcmp0 (mh_map_view_get_pin_color (map, id), "green") == 0)
        green = id;
    }
  g_assert_nonnull (green);

  /* The map shows the category of the settings: medical-surgical. */
  json_object_set_int_member (fields, "available", 0);
  g_assert_true (mh_node_put_beds (f->node, green, "medical_surgical", fields, &error));
  g_assert_no_error (error);
  drain_main_loop ();
  g_assert_cmpstr (mh_map_view_get_pin_color (map, green), ==, "red");
  g_assert_cmpuint (mh_map_view_get_n_hospital_markers (map), ==,
                    json_array_get_length (hospitals));
}

/* The map marks exactly @results, rank by rank, each on its own pin (so
 * in no cluster), named for a screen reader. */
static void
assert_marks_match (MhMapView *map, JsonArray *results)
{
  g_auto (GStrv) marked = mh_map_view_dup_marked_results (map);
  guint n = results != NULL ? json_array_get_length (results) : 0;

  g_assert_cmpuint (g_strv_length (marked), ==, n);
  for (guint i = 0; i < n; i++)
    {
      JsonObject *result = json_array_get_object_element (results, i);
      const char *id = json_object_get_string_member (result, "id");
      const char *tooltip = mh_map_view_get_pin_tooltip (map, id);
      g_autofree char *prefix = g_strdup_printf ("Result %u: %s, %d free bed", i + 1,
                                                 json_object_get_string_member (result, "name"),
                                                 (int) json_object_get_int_member (result,
                                                                                   "free_beds"));

      g_assert_cmpstr (marked[i], ==, id);
      g_assert_cmpuint (mh_map_view_get_result_rank (map, id), ==, i + 1);
      g_assert_nonnull (tooltip);
      g_assert_true (g_str_has_prefix (tooltip, prefix));
      g_assert_cmpint (mh_map_view_get_pin_fallback (map, id), ==,
                       json_object_get_boolean_member (result, "fallback"));
    }
}

static gboolean
results_hold (JsonArray *results, const char *id)
{
  for (guint i = 0; i < json_array_get_length (results); i++)
    if (g_strcmp0 (json_object_get_string_member (json_array_get_object_element (results, i),
                                                  "id"),
                   id)
        == 0)
      return TRUE;
  return FALSE;
}

/* With 200 hospitals or more, pins only in view and clusters below zoom
 * 13; a hospital chosen elsewhere still gets its pin and card. */
static void
test_map_clusters (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonObject) root = json_object_new ();
  g_autoptr (JsonNode) document = NULL;
  g_autoptr (JsonArray) hospitals = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *far_id = g_uuid_string_random ();
  JsonArray *list = json_array_new ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  MhMapView *map;
  guint n;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  for (guint i = 0; i < 300; i++)
    {
      JsonObject *h = json_object_new ();
      g_autofree char *id = i == 0 ? g_strdup (far_id) : g_uuid_string_random ();
      g_autofree char *name = g_strdup_printf ("Test hospital %03u", i);

      json_object_set_string_member (h, "id", id);
      json_object_set_string_member (h, "name", name);
      /* The first far to the south-west, out of view at region scale. */
      json_object_set_double_member (h, "lat",
                                     i == 0 ? 47.0 : g_rand_double_range (rand, 48.7, 49.0));
      json_object_set_double_member (h, "lon",
                                     i == 0 ? 0.5 : g_rand_double_range (rand, 2.1, 2.6));
      json_array_add_object_element (list, h);
    }
  json_object_set_string_member (root, "format", "medhead-registry/1");
  json_object_set_array_member (root, "hospitals", list);
  document = json_node_init_object (json_node_alloc (), root);
  g_assert_true (mh_node_import (f->node, document, NULL, NULL, &error));
  g_assert_no_error (error);
  drain_main_loop ();

  hospitals = mh_node_list_hospitals (f->node, NULL);
  n = json_array_get_length (hospitals);
  g_assert_cmpuint (n, >=, 300);
  map = mh_window_get_map_view (f->window);
  g_assert_cmpuint (mh_map_view_get_n_clusters (map), >, 0);
  g_assert_cmpuint (mh_map_view_get_n_hospital_markers (map), <, n);
  g_assert_null (mh_map_view_get_selected_hospital (map));
  /* Every hospital has its state, pin or not. */
  for (guint i = 0; i < n; i++)
    g_assert_nonnull (mh_map_view_get_pin_color (
      map, json_object_get_string_member (json_array_get_object_element (hospitals, i), "id")));

  /* Results at region scale: each on its own pin, none in a cluster,
   * while the other hospitals still cluster. */
  {
    MhFindView *find = mh_window_get_find_view (f->window);

    mh_find_view_set_position (find, 48.85, 2.35, "test");
    mh_find_view_set_query (find, 0, NULL);
    mh_find_view_run (find);
    drain_main_loop ();
    g_assert_cmpuint (json_array_get_length (mh_find_view_get_results (find)), >, 1);
    g_assert_cmpuint (mh_map_view_get_n_clusters (map), >, 0);
    assert_marks_match (map, mh_find_view_get_results (find));
    mh_find_view_clear (find);
    drain_main_loop ();
    assert_marks_match (map, NULL);
  }

  mh_map_view_select_hospital (map, far_id);
  drain_main_loop ();
  g_assert_cmpstr (mh_map_view_get_selected_hospital (map), ==, far_id);
  g_assert_cmpuint (mh_map_view_get_n_clusters (map), ==, 0);
  g_assert_cmpuint (mh_map_view_get_n_hospital_markers (map), >, 0);
}

static void
test_find (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonArray) hospitals = NULL;
  const double lat = 48.8566, lon = 2.3522;
  const char *expected = NULL;
  double best = G_MAXDOUBLE;
  MhFindView *find;
  JsonArray *results;
  JsonObject *first;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }

  /* The nearest hospital with cardiology, a free medical-surgical bed and
   * open to ambulances, found by brute force. */
  hospitals = mh_node_list_hospitals (f->node, NULL);
  for (guint i = 0; i < json_array_get_length (hospitals); i++)
    {
      JsonObject *h = json_array_get_object_element (hospitals, i);
      const char *traffic = json_object_get_string_member (h, "ems_traffic");
      JsonObject *beds = json_object_get_object_member (h, "beds");
      double d;

      if (!has_specialty (h, 21) || !json_object_has_member (beds, "medical_surgical")
          || (g_strcmp0 (traffic, "normal") != 0 && g_strcmp0 (traffic, "advisory") != 0))
        continue;
      if (json_object_get_int_member (json_object_get_object_member (beds, "medical_surgical"),
                                      "free")
          <= 0)
        continue;
      d = distance_m (lat, lon, json_object_get_double_member (h, "lat"),
                      json_object_get_double_member (h, "lon"));
      if (d < best)
        {
          best = d;
          expected = json_object_get_string_member (h, "id");
        }
    }
  g_assert_nonnull (expected);

  /* Opening the view runs a search at once. */
  mh_window_show_view (f->window, "find");
  find = mh_window_get_find_view (f->window);
  g_assert_nonnull (mh_find_view_get_results (find));

  mh_find_view_set_position (find, lat, lon, "test");
  mh_find_view_set_query (find, 21, "medical_surgical");
  mh_find_view_run (find);
  drain_main_loop ();
  results = mh_find_view_get_results (find);
  g_assert_nonnull (results);
  g_assert_cmpuint (json_array_get_length (results), >, 0);
  first = json_array_get_object_element (results, 0);
  g_assert_cmpstr (json_object_get_string_member (first, "id"), ==, expected);
  g_assert_false (mh_find_view_get_fallback (find));
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (first, "distance_m"), best, 2.0);
}

/* Find hospital's results marked on the map: the same set, in rank order,
 * replaced by a new search, framed by Show on Map, gone once cleared;
 * fallbacks in their own style. */
static void
test_find_marks (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonArray) first = NULL;
  MhFindView *find;
  MhMapView *map;
  JsonArray *results;
  gboolean fallback = FALSE;
  double lat, lon;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  find = mh_window_get_find_view (f->window);
  map = mh_window_get_map_view (f->window);
  g_assert_null (mh_map_view_get_results (map));
  mh_window_show_view (f->window, "find");
  mh_find_view_set_position (find, 48.8566, 2.3522, "test");
  mh_find_view_set_query (find, 21, "medical_surgical");
  mh_find_view_run (find);
  drain_main_loop ();
  results = mh_find_view_get_results (find);
  g_assert_nonnull (results);
  g_assert_cmpuint (json_array_get_length (results), >, 1);
  /* One state, shared: the map holds the find view's results. */
  g_assert_true (mh_map_view_get_results (map) == results);
  assert_marks_match (map, results);
  first = json_array_ref (results);

  /* A new search elsewhere, any specialty: new marks, the others gone. */
  mh_find_view_set_position (find, 48.95, 2.20, "test");
  mh_find_view_set_query (find, 0, NULL);
  mh_find_view_run (find);
  drain_main_loop ();
  results = mh_find_view_get_results (find);
  g_assert_true (results != first);
  assert_marks_match (map, results);
  for (guint i = 0; i < json_array_get_length (first); i++)
    {
      const char *id = json_object_get_string_member (json_array_get_object_element (first, i),
                                                      "id");

      if (!results_hold (results, id))
        {
          g_assert_cmpuint (mh_map_view_get_result_rank (map, id), ==, 0);
          g_assert_false (g_str_has_prefix (mh_map_view_get_pin_tooltip (map, id), "Result"));
        }
    }

  /* Show on Map: the map, framed on every result and the search point. */
  gtk_widget_activate_action (GTK_WIDGET (find), "find.show-on-map", NULL);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (f->window));
  drain_main_loop ();
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (map)));
  mh_find_view_get_position (find, &lat, &lon);
  g_assert_true (mh_map_view_shows_location (map, lat, lon));
  for (guint i = 0; i < json_array_get_length (results); i++)
    {
      JsonObject *result = json_array_get_object_element (results, i);

      g_assert_true (mh_map_view_shows_location (map, json_object_get_double_member (result, "lat"),
                                                 json_object_get_double_member (result, "lon")));
    }
  /* A single result still shows on the map with its card. */
  mh_window_show_view (f->window, "find");
  drain_main_loop ();
  /* Opening the view searched again: a new array. */
  results = mh_find_view_get_results (find);
  g_signal_emit_by_name (find, "hospital-activated",
                         json_object_get_string_member (json_array_get_object_element (results, 0),
                                                        "id"));
  drain_main_loop ();
  g_assert_cmpstr (mh_map_view_get_selected_hospital (map), ==,
                   json_object_get_string_member (json_array_get_object_element (results, 0),
                                                  "id"));
  assert_marks_match (map, mh_find_view_get_results (find));

  /* Cleared: no results, no marks. */
  gtk_widget_activate_action (GTK_WIDGET (find), "find.clear", NULL);
  drain_main_loop ();
  g_assert_null (mh_find_view_get_results (find));
  g_assert_null (mh_map_view_get_results (map));
  assert_marks_match (map, NULL);

  /* A search nothing matches gives the nearest with any bed, flagged:
   * their pins say so. */
  for (guint s = 1; !fallback && s <= mh_specialty_count (); s++)
    for (guint c = 0; !fallback && mh_bed_categories ()[c] != NULL; c++)
      {
        mh_find_view_set_query (find, s, mh_bed_categories ()[c]);
        mh_find_view_run (find);
        results = mh_find_view_get_results (find);
        fallback = mh_find_view_get_fallback (find) && json_array_get_length (results) > 0;
      }
  drain_main_loop ();
  g_assert_true (fallback);
  results = mh_find_view_get_results (find);
  assert_marks_match (map, results);
  g_assert_true (mh_map_view_get_pin_fallback (
    map, json_object_get_string_member (json_array_get_object_element (results, 0), "id")));
}

static void
test_bed_board (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonObject) hospital = NULL;
  MhBedBoard *board;
  GtkSpinButton *spin;
  JsonObject *bed;
  const char *id;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  mh_window_show_view (f->window, "beds");
  board = mh_window_get_bed_board (f->window);
  id = mh_bed_board_get_hospital (board);
  g_assert_nonnull (id);

  spin = mh_bed_board_get_spin_button (board, "adult_icu", "available");
  g_assert_nonnull (spin);
  gtk_editable_set_text (GTK_EDITABLE (spin), "42");
  /* Enter in the spin button */
  g_signal_emit_by_name (gtk_editable_get_delegate (GTK_EDITABLE (spin)), "activate");
  drain_main_loop ();

  hospital = mh_node_get_hospital (f->node, id, NULL);
  g_assert_nonnull (hospital);
  bed = json_object_get_object_member (json_object_get_object_member (hospital, "beds"),
                                       "adult_icu");
  g_assert_cmpint (json_object_get_int_member (bed, "available"), ==, 42);
  g_assert_cmpfloat (gtk_spin_button_get_value (spin), ==, 42);
}

/* Keyboard only: Alt+3 (win.show-view) puts the focus in the board, at most
 * two Tabs before its first count, so typing a number and Enter applies it,
 * with no tabbing through the header (about ten Tabs before). */
static void
test_bed_board_keyboard (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonObject) hospital = NULL;
  MhBedBoard *board;
  GtkSpinButton *spin = NULL;
  GtkWidget *focus;
  JsonObject *bed;
  const char *const *categories = mh_bed_categories ();
  const char *category = NULL;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  /* The focus starts elsewhere, as after a click in the header. */
  gtk_widget_grab_focus (GTK_WIDGET (f->window));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.show-view", "s",
                                             "beds"));
  drain_main_loop ();
  board = mh_window_get_bed_board (f->window);

  /* The first category the board shows, and its "available" count. */
  for (guint i = 0; categories[i] != NULL && spin == NULL; i++)
    {
      GtkSpinButton *candidate = mh_bed_board_get_spin_button (board, categories[i], "available");

      if (candidate != NULL && gtk_widget_is_visible (GTK_WIDGET (candidate)))
        {
          spin = candidate;
          category = categories[i];
        }
    }
  g_assert_nonnull (spin);
  focus = gtk_root_get_focus (GTK_ROOT (f->window));
  g_assert_nonnull (focus);
  g_assert_true (gtk_widget_is_ancestor (focus, GTK_WIDGET (board)));
  /* The count's row, then the count (a hub first has the hospital chooser):
   * two Tabs at most. */
  for (guint tabs = 0; focus != GTK_WIDGET (spin) && !gtk_widget_is_ancestor (focus, GTK_WIDGET (spin));
       tabs++)
    {
      g_assert_cmpuint (tabs, <, 2);
      g_assert_true (gtk_widget_child_focus (GTK_WIDGET (f->window), GTK_DIR_TAB_FORWARD));
      focus = gtk_root_get_focus (GTK_ROOT (f->window));
    }

  /* What the keyboard does there: type, then Enter in the focused text. */
  g_assert_true (GTK_IS_EDITABLE (focus));
  gtk_editable_set_text (GTK_EDITABLE (focus), "37");
  g_signal_emit_by_name (focus, "activate");
  drain_main_loop ();

  hospital = mh_node_get_hospital (f->node, mh_bed_board_get_hospital (board), NULL);
  g_assert_nonnull (hospital);
  bed = json_object_get_object_member (json_object_get_object_member (hospital, "beds"),
                                       category);
  g_assert_nonnull (bed);
  g_assert_cmpint (json_object_get_int_member (bed, "available"), ==, 37);
}

/* Offload minutes on the board: a number is written; 0, the spin's floor,
 * clears it (the node takes 1..1440 or nothing), with no error. */
static void
test_bed_board_offload_minutes (Fixture *f, gconstpointer data)
{
  MhBedBoard *board;
  GtkSpinButton *spin;
  const char *values[] = { "40", "0" };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.show-view", "s",
                                             "beds"));
  drain_main_loop ();
  board = mh_window_get_bed_board (f->window);
  spin = GTK_SPIN_BUTTON (gtk_widget_get_template_child (GTK_WIDGET (board), MH_TYPE_BED_BOARD,
                                                         "offload_minutes"));
  g_assert_nonnull (spin);
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autoptr (JsonObject) hospital = NULL;
      GtkEditable *text = gtk_editable_get_delegate (GTK_EDITABLE (spin));

      /* Enter in the spin's text, as the keyboard gives it. */
      gtk_editable_set_text (text, values[i]);
      g_signal_emit_by_name (text, "activate");
      drain_main_loop ();
      hospital = mh_node_get_hospital (f->node, mh_bed_board_get_hospital (board), NULL);
      g_assert_nonnull (hospital);
      if (i == 0)
        g_assert_cmpint (json_object_get_int_member (hospital, "offload_minutes"), ==, 40);
      else
        g_assert_true (json_object_get_null_member (hospital, "offload_minutes")
                       || !json_object_has_member (hospital, "offload_minutes"));
    }
}

/* A desk's map shows where the station is: its own hospital's pin is
 * marked "this station", and no other pin is. */
static void
test_desk_own_hospital (void)
{
  const char *pitie = "c05b6f66-3efe-57e1-9eb1-e7f8fd74cb49";
  const char *hegp = "d22d10c6-3c4c-5610-a650-7c1409d46d19";
  g_autoptr (GError) error = NULL;
  g_autofree char *tmpdir = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *registry = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (MhNode) node = NULL;
  g_autoptr (MhWindow) window = NULL;
  MhMapView *map;
  const char *tooltip;
  gboolean waited = FALSE;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  tmpdir = mh_test_make_tmpdir ("desktop-window-desk");
  dir = g_build_filename (tmpdir, "desk", NULL);
  g_assert_true (mh_node_init_data_dir (dir, "Pitié desk", MH_ROLE_HOSPITAL, pitie, NULL, &error));
  g_assert_no_error (error);
  node = mh_node_open_full (dir, MH_NODE_OPEN_EMBEDDED, &error);
  g_assert_no_error (error);
  registry = mh_demo_registry_path ();
  root = mh_load_registry (registry, &error);
  g_assert_no_error (error);
  g_assert_true (mh_node_import_own (node, root, &error));
  g_assert_no_error (error);

  window = g_object_ref_sink (mh_window_new (NULL, node));
  gtk_window_present (GTK_WINDOW (window));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  drain_main_loop ();
  map = mh_window_get_map_view (window);
  tooltip = mh_map_view_get_pin_tooltip (map, pitie);
  g_assert_nonnull (tooltip);
  g_assert_nonnull (strstr (tooltip, "(this station)"));
  tooltip = mh_map_view_get_pin_tooltip (map, hegp);
  g_assert_true (tooltip == NULL || strstr (tooltip, "(this station)") == NULL);

  /* As in fixture_teardown: GTK 4.8's tooltip timer must fire first. */
  g_timeout_add (1000, timeout_done_cb, &waited);
  while (!waited)
    g_main_context_iteration (NULL, TRUE);
  gtk_window_destroy (GTK_WINDOW (window));
  drain_main_loop ();
  g_clear_object (&window);
  g_clear_object (&node);
  mh_test_rm_rf (tmpdir);
}

/* The tile pack setting: a pack puts tiles under the markers; a file that
 * is missing or no tile pack leaves the offline base, with a message, and
 * every marker where it was. */
static void
test_tile_pack (Fixture *f, gconstpointer data)
{
  g_autoptr (GSettings) settings = NULL;
  g_autoptr (GBytes) png = NULL;
  g_autofree char *pack = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *not_a_pack = NULL;
  MhMapView *map;
  guint n_markers;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  settings = mh_settings_new ();
  pack = g_build_filename (f->tmpdir, "idf.mbtiles", NULL);
  missing = g_build_filename (f->tmpdir, "missing.mbtiles", NULL);
  not_a_pack = g_build_filename (f->tmpdir, "notes.mbtiles", NULL);
  png = gen_png (0x99c1f1ff);
  gen_write_pack (pack, png, "png");
  g_assert_true (g_file_set_contents (not_a_pack, "just text", -1, NULL));

  map = mh_window_get_map_view (f->window);
  n_markers = mh_map_view_get_n_hospital_markers (map);
  g_assert_cmpuint (n_markers, >, 0);
  g_assert_false (mh_map_view_has_tiles (map));

  g_settings_set_string (settings, "tile-pack", pack);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (f->window));
  drain_main_loop ();
  g_assert_true (mh_map_view_has_tiles (map));
  g_assert_null (mh_map_view_get_tile_error (map));
  g_assert_cmpuint (mh_map_view_get_n_hospital_markers (map), ==, n_markers);

  g_settings_set_string (settings, "tile-pack", missing);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (f->window));
  drain_main_loop ();
  g_assert_false (mh_map_view_has_tiles (map));
  g_assert_nonnull (mh_map_view_get_tile_error (map));
  g_assert_cmpuint (mh_map_view_get_n_hospital_markers (map), ==, n_markers);

  g_settings_set_string (settings, "tile-pack", not_a_pack);
  drain_main_loop ();
  g_assert_false (mh_map_view_has_tiles (map));
  g_assert_nonnull (mh_map_view_get_tile_error (map));

  g_settings_reset (settings, "tile-pack");
  drain_main_loop ();
  g_assert_false (mh_map_view_has_tiles (map));
  g_assert_null (mh_map_view_get_tile_error (map));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  have_display = desktop_test_init_gtk ();

  g_test_add ("/desktop/window/map-markers", Fixture, NULL, fixture_setup, test_map_markers,
              fixture_teardown);
  g_test_add ("/desktop/window/map-live-pin", Fixture, NULL, fixture_setup, test_map_live_pin,
              fixture_teardown);
  g_test_add ("/desktop/window/map-clusters", Fixture, NULL, fixture_setup, test_map_clusters,
              fixture_teardown);
  g_test_add ("/desktop/window/find", Fixture, NULL, fixture_setup, test_find, fixture_teardown);
  g_test_add ("/desktop/window/find-marks", Fixture, NULL, fixture_setup, test_find_marks,
              fixture_teardown);
  g_test_add ("/desktop/window/bed-board", Fixture, NULL, fixture_setup, test_bed_board,
              fixture_teardown);
  g_test_add ("/desktop/window/bed-board-keyboard", Fixture, NULL, fixture_setup,
              test_bed_board_keyboard, fixture_teardown);
  g_test_add ("/desktop/window/bed-board-offload-minutes", Fixture, NULL, fixture_setup,
              test_bed_board_offload_minutes, fixture_teardown);
  g_test_add_func ("/desktop/window/desk-own-hospital", test_desk_own_hospital);
  g_test_add ("/desktop/window/tile-pack", Fixture, NULL, fixture_setup, test_tile_pack,
              fixture_teardown);
  return g_test_run ();
}

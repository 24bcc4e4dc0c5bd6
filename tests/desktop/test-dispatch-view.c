/* test-dispatch-view.c: the dispatch board and the crew's assignment, in process
 *
 * A hub and a crew (MH-AMB-01) on the reference scenario, their changes
 * carried by hand as a link would. The hub's board reports an incident,
 * lists the candidates ranked and assigns; the crew's window hears of it
 * at once, accepts, searches from the incident and announces a patient
 * linked to it.
 */
#include "config.h"

#include <adwaita.h>

#include "../node/node-test-common.h"
#include "mh-dispatch.h"
#include "mh-dispatch-view.h"
#include "mh-find-view.h"
#include "mh-map-view.h"
#include "mh-patient-form.h"
#include "mh-transfers-view.h"
#include "mh-window.h"

typedef struct
{
  char *dir;
  MhNode *hub, *crew;
  GPtrArray *assigned; /* incident ids, as the crew's node told them */
} Fixture;

static gboolean have_display;
/* The system's, before the test isolated them: a whole window needs its
 * MIME database to load its icons. */
static char *system_data_dirs;

static void
sync_all (Fixture *f)
{
  MhNode *nodes[2] = { f->hub, f->crew };

  test_sync_all (nodes, 2);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
add_unit (MhNode *hub, const char *call_sign, const char *capabilities, double north_m)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) fields = test_objectf (
    "{\"call_sign\": \"%s\", \"type\": \"als\", \"status\": \"available\","
    " \"capabilities\": %s, \"lat\": %.7f, \"lon\": -0.1278}",
    call_sign, capabilities, 51.5074 + north_m / 111195.0);
  g_autofree char *id = mh_node_create_unit (hub, fields, &error);

  g_assert_no_error (error);
  g_assert_nonnull (id);
}

static void
assigned_cb (MhNode *node, const char *incident_id, Fixture *f)
{
  g_ptr_array_add (f->assigned, g_strdup (incident_id));
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) position = NULL;

  if (!have_display)
    return;
  f->dir = mh_test_make_tmpdir ("desktop-dispatch");
  f->hub = test_node_new (f->dir, "hub", MH_ROLE_HUB, NULL, NULL);
  f->crew = test_node_new (f->dir, "crew", MH_ROLE_AMBULANCE, NULL, UNIT_AMB01);
  test_import (f->hub, "demo/reference-scenario.json");
  /* Ten kilometres north, every skill needed; one kilometre north,
   * lacking BLS. MH-AMB-01 (BLS) is at the incident. */
  add_unit (f->hub, "FAR-10", "[\"als\", \"bls\"]", 10000);
  add_unit (f->hub, "ALS-1", "[\"als\"]", 1000);
  sync_all (f);
  /* The crew's station says where its unit is, as its GPS would. */
  position = test_object ("{\"status\": \"available\", \"lat\": 51.5074, \"lon\": -0.1278}");
  g_assert_true (mh_node_patch_unit (f->crew, UNIT_AMB01, position, &error));
  g_assert_no_error (error);
  sync_all (f);
  f->assigned = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (f->crew, "incident-assigned", G_CALLBACK (assigned_cb), f);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  if (!have_display)
    return;
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&f->hub);
  g_clear_object (&f->crew);
  g_clear_pointer (&f->assigned, g_ptr_array_unref);
  mh_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
test_flow (Fixture *f, gconstpointer data)
{
  MhDispatchView *board;
  MhWindow *crew;
  MhDispatchView *crew_view;
  MhPatientForm *form;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) incident = NULL;
  g_autoptr (JsonObject) patient = NULL;
  g_autoptr (JsonObject) transfer = NULL;
  g_auto (GStrv) candidates = NULL;
  g_autofree char *id = NULL;
  g_autofree char *transfer_id = NULL;
  const char *origin;
  double lat, lon;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }

  /* The hub's board: every unit, by status. */
  board = g_object_ref_sink (g_object_new (MH_TYPE_DISPATCH_VIEW, NULL));
  mh_dispatch_view_set_node (board, f->hub);
  g_assert_cmpuint (mh_dispatch_view_get_n_units (board), ==, 3);
  g_assert_null (mh_dispatch_view_get_selected (board));

  /* Bad coordinates are named, nothing is created. */
  mh_dispatch_view_new_incident (board);
  mh_dispatch_view_set_form (board, "stroke", "immediate", "bls", "north", "-0.1278",
                             "slurred speech");
  g_assert_null (mh_dispatch_view_create (board));
  g_assert_nonnull (strstr (mh_dispatch_view_get_message (board), "latitude"));
  mh_dispatch_view_set_form (board, "stroke", "immediate", "bls", "51.5074", "-200",
                             "slurred speech");
  g_assert_null (mh_dispatch_view_create (board));
  g_assert_nonnull (strstr (mh_dispatch_view_get_message (board), "longitude"));

  /* A decimal comma is a decimal point. */
  mh_dispatch_view_set_form (board, "stroke", "immediate", "bls", "51,5080", "-0.1278",
                             "slurred speech");
  id = mh_dispatch_view_create (board);
  g_assert_nonnull (id);
  g_assert_null (mh_dispatch_view_get_message (board));
  g_assert_cmpstr (mh_dispatch_view_get_selected (board), ==, id);
  incident = mh_node_get_incident (f->hub, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (incident, "nature"), ==, "stroke");
  g_assert_cmpstr (json_object_get_string_member (incident, "priority"), ==, "immediate");
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (incident, "lat"), 51.508, 1e-9);
  g_clear_pointer (&incident, json_object_unref);

  /* Ranked: the suitable ones by distance, then the one lacking BLS. */
  candidates = mh_dispatch_view_get_candidates (board);
  g_assert_cmpuint (g_strv_length (candidates), ==, 3);
  g_assert_cmpstr (candidates[0], ==, "MH-AMB-01");
  g_assert_cmpstr (candidates[1], ==, "FAR-10");
  g_assert_cmpstr (candidates[2], ==, "ALS-1");

  /* Assign takes the selected candidate: the nearest, by default. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (board), "dispatch.assign", NULL));
  incident = mh_node_get_incident (f->hub, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (incident, "state"), ==, "assigned");
  g_assert_cmpstr (json_object_get_string_member (incident, "unit_id"), ==, UNIT_AMB01);
  g_clear_pointer (&incident, json_object_unref);

  /* A second call nearby: MH-AMB-01 has not answered the first yet, so
   * Assign proposes the next one. */
  {
    g_autofree char *second = NULL;
    g_auto (GStrv) again = NULL;
    g_autoptr (JsonObject) unit = mh_node_get_unit (f->hub, UNIT_AMB01, &error);
    const char *next;

    g_assert_no_error (error);
    mh_dispatch_view_new_incident (board);
    mh_dispatch_view_set_form (board, "trauma", "urgent", "", "51.5074", "-0.1278", NULL);
    second = mh_dispatch_view_create (board);
    g_assert_nonnull (second);
    again = mh_dispatch_view_get_candidates (board);
    g_assert_cmpstr (again[0], ==, "MH-AMB-01");
    next = mh_dispatch_view_get_candidate (board);
    g_assert_nonnull (next);
    g_assert_cmpstr (next, !=, UNIT_AMB01);
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (board), "dispatch.close", "s",
                                               "cancelled"));
    g_assert_true (mh_dispatch_view_select (board, id));
  }

  /* The crew's window hears of it at once, on its Incidents view. */
  g_setenv ("XDG_DATA_DIRS",
            system_data_dirs != NULL ? system_data_dirs : "/usr/local/share:/usr/share", TRUE);
  crew = g_object_ref_sink (mh_window_new (NULL, f->crew));
  gtk_window_present (GTK_WINDOW (crew));
  crew_view = mh_window_get_dispatch_view (crew);
  g_assert_null (mh_dispatch_view_get_selected (crew_view));
  sync_all (f);
  g_assert_cmpuint (f->assigned->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (f->assigned, 0), ==, id);
  g_assert_cmpstr (mh_dispatch_view_get_selected (crew_view), ==, id);
  /* Not seen yet: the Incidents view asks for attention. */
  {
    AdwViewStack *stack = ADW_VIEW_STACK (gtk_widget_get_ancestor (GTK_WIDGET (crew_view),
                                                                    ADW_TYPE_VIEW_STACK));

    g_assert_true (adw_view_stack_page_get_needs_attention (
      adw_view_stack_get_page (stack, GTK_WIDGET (crew_view))));
    mh_window_show_view (crew, "dispatch");
    g_assert_false (adw_view_stack_page_get_needs_attention (
      adw_view_stack_get_page (stack, GTK_WIDGET (crew_view))));
  }
  /* Only the first answers are offered: On Scene does nothing yet. */
  gtk_widget_activate_action (GTK_WIDGET (crew_view), "dispatch.on-scene", NULL);
  incident = mh_node_get_incident (f->crew, id, &error);
  g_assert_no_error (error);
  g_assert_true (json_object_get_null_member (incident, "answer"));
  g_clear_pointer (&incident, json_object_unref);
  mh_window_show_incident (crew, id);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (crew_view), "dispatch.accept", NULL));
  incident = mh_node_get_incident (f->crew, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (incident, "answer"), ==, "accepted");
  g_clear_pointer (&incident, json_object_unref);

  /* Find hospital searches from the incident. */
  mh_window_show_view (crew, "find");
  origin = mh_find_view_get_position (mh_window_get_find_view (crew), &lat, &lon);
  g_assert_cmpstr (origin, ==, "the incident");
  g_assert_cmpfloat_with_epsilon (lat, 51.508, 1e-9);

  /* The patient announced now is the incident's. */
  form = mh_transfers_view_get_form (mh_window_get_transfers_view (crew));
  mh_patient_form_set_destination (form, FRED_BROOKS);
  mh_patient_form_set_text (form, "age_estimate", "70");
  g_assert_true (mh_patient_form_announce (form, &transfer_id));
  patient = mh_node_get_patient (f->crew, mh_patient_form_get_patient_id (form), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (patient, "incident_id"), ==, id);
  sync_all (f);
  incident = mh_node_get_incident (f->hub, id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (incident,
                                                                         "patient_ids")),
                    ==, 1);
  g_clear_pointer (&incident, json_object_unref);

  /* On scene, then cleared: the unit is available again. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (crew_view), "dispatch.on-scene", NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (crew_view), "dispatch.clear", NULL));
  incident = mh_node_get_incident (f->crew, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (incident, "answer"), ==, "cleared");
  g_clear_pointer (&incident, json_object_unref);

  /* The hub's map shows the incident; closed, it goes. */
  sync_all (f);
  {
    MhMapView *map = g_object_ref_sink (g_object_new (MH_TYPE_MAP_VIEW, NULL));

    mh_map_view_set_node (map, f->hub);
    g_assert_cmpuint (mh_map_view_get_n_incident_markers (map), ==, 1);
    mh_dispatch_view_refresh (board);
    g_assert_true (mh_dispatch_view_select (board, id));
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (board), "dispatch.close", "s",
                                               "closed"));
    mh_map_view_refresh (map);
    g_assert_cmpuint (mh_map_view_get_n_incident_markers (map), ==, 0);
    g_object_unref (map);
  }

  gtk_window_destroy (GTK_WINDOW (crew));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_object_unref (crew);
  g_object_unref (board);
}

int
main (int argc, char **argv)
{
  g_setenv ("LANGUAGE", "C", TRUE);
  system_data_dirs = g_strdup (g_getenv ("XDG_DATA_DIRS"));
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  have_display = gtk_init_check ();
  if (have_display)
    adw_init ();

  g_test_add ("/dispatch-view/flow", Fixture, NULL, fixture_setup, test_flow, fixture_teardown);
  return g_test_run ();
}

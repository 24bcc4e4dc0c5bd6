/* test-transfers.c: the patient form and the transfers view, in process
 *
 * A hub, a desk (Fred Brooks) and a crew (MH-AMB-01) on the reference
 * scenario, their changes carried by hand as a link would; the views are
 * real widgets (under Xvfb), asserted on through their state structs.
 */
#include "config.h"

#include <adwaita.h>

#include "../node/node-test-common.h"
#include "mh-patient-form.h"
#include "mh-transfer-item.h"
#include "mh-transfers-view.h"
#include "mh-window.h"
#include "mh-map-view.h"

typedef struct
{
  char *dir;
  MhNode *hub, *desk, *crew;
  MhTransfersView *desk_view, *crew_view;
  GPtrArray *events;    /* "view: title" */
  char *diverted;
} Fixture;

static gboolean have_display;

static void
sync_all (Fixture *f)
{
  MhNode *nodes[3] = { f->hub, f->desk, f->crew };

  test_sync_all (nodes, 3);
  mh_transfers_view_refresh (f->desk_view);
  mh_transfers_view_refresh (f->crew_view);
}

static void
event_cb (MhTransfersView *view, const char *id, const char *title, const char *body,
          Fixture *f)
{
  g_ptr_array_add (f->events, g_strdup_printf ("%s: %s", view == f->desk_view ? "desk" : "crew",
                                               title));
}

static void
diverted_cb (MhTransfersView *view, const char *id, Fixture *f)
{
  g_free (f->diverted);
  f->diverted = g_strdup (id);
}

static MhTransfersView *
make_view (Fixture *f, MhNode *node)
{
  MhTransfersView *view = g_object_ref_sink (g_object_new (MH_TYPE_TRANSFERS_VIEW, NULL));

  mh_transfers_view_set_node (view, node);
  g_signal_connect (view, "transfer-event", G_CALLBACK (event_cb), f);
  g_signal_connect (view, "diverted-after-accept", G_CALLBACK (diverted_cb), f);
  return view;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  MhNode *nodes[3];

  if (!have_display)
    return;
  f->dir = mh_test_make_tmpdir ("desktop-transfers");
  f->hub = test_node_new (f->dir, "hub", MH_ROLE_HUB, NULL, NULL);
  f->desk = test_node_new (f->dir, "desk", MH_ROLE_HOSPITAL, FRED_BROOKS, NULL);
  f->crew = test_node_new (f->dir, "crew", MH_ROLE_AMBULANCE, NULL, UNIT_AMB01);
  test_import (f->hub, "demo/reference-scenario.json");
  nodes[0] = f->hub;
  nodes[1] = f->desk;
  nodes[2] = f->crew;
  test_sync_all (nodes, 3);
  f->events = g_ptr_array_new_with_free_func (g_free);
  f->desk_view = make_view (f, f->desk);
  f->crew_view = make_view (f, f->crew);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  if (!have_display)
    return;
  g_clear_object (&f->desk_view);
  g_clear_object (&f->crew_view);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&f->hub);
  g_clear_object (&f->desk);
  g_clear_object (&f->crew);
  g_clear_pointer (&f->events, g_ptr_array_unref);
  g_free (f->diverted);
  mh_test_rm_rf (f->dir);
  g_free (f->dir);
}

static MhTransferItem *
only_item (MhTransfersView *view)
{
  GPtrArray *items = mh_transfers_view_get_items (view);

  g_assert_cmpuint (items->len, ==, 1);
  return g_ptr_array_index (items, 0);
}

static gint64
free_beds (MhNode *node)
{
  g_autoptr (JsonObject) hospital = mh_node_get_hospital (node, FRED_BROOKS, NULL);
  JsonObject *beds = json_object_get_object_member (hospital, "beds");

  return json_object_get_int_member (json_object_get_object_member (beds, "medical_surgical"),
                                     "free");
}

static void
test_trend (void)
{
  g_assert_cmpstr (mh_trend_arrow (FALSE, 0, 12), ==, "");
  g_assert_cmpstr (mh_trend_arrow (TRUE, 14, 9), ==, "↓");
  g_assert_cmpstr (mh_trend_arrow (TRUE, 90, 120), ==, "↑");
  g_assert_cmpstr (mh_trend_arrow (TRUE, 100, 104), ==, "→");
  g_assert_cmpstr (mh_transfer_state_label ("accepted_en_route"), ==, "Accepted, en route");
}

/* The whole flow: a bad value is named, the announcement reaches the desk
 * with its vitals, the desk accepts (and the crew sees one bed fewer), the
 * crew hears of it, a diversion after acceptance raises the alarm. */
static void
test_flow (Fixture *f, gconstpointer data)
{
  MhPatientForm *form;
  MhTransferItem *item;
  g_autofree char *id = NULL;
  gint64 before;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_null (mh_transfers_view_get_form (f->desk_view));
  form = mh_transfers_view_get_form (f->crew_view);
  g_assert_nonnull (form);

  /* No destination yet, then a bad heart rate: messages, no transfer. */
  g_assert_false (mh_patient_form_announce (form, &id));
  g_assert_nonnull (mh_patient_form_get_message (form));
  mh_patient_form_set_destination (form, FRED_BROOKS);
  mh_patient_form_set_text (form, "age_estimate", "70");
  mh_patient_form_set_text (form, "hr", "1l2");
  g_assert_false (mh_patient_form_announce (form, &id));
  g_assert_nonnull (strstr (mh_patient_form_get_message (form), "Heart rate"));
  mh_patient_form_set_text (form, "incident_at", "25:00");
  mh_patient_form_set_text (form, "hr", "112");
  g_assert_false (mh_patient_form_announce (form, &id));
  g_assert_nonnull (strstr (mh_patient_form_get_message (form), "HH:MM"));
  mh_patient_form_set_text (form, "incident_at", "");
  mh_patient_form_set_text (form, "gcs", "14");
  mh_patient_form_set_text (form, "drug", "aspirin");
  mh_patient_form_set_text (form, "eta_minutes", "12");
  g_assert_true (mh_patient_form_announce (form, &id));
  g_assert_null (mh_patient_form_get_message (form));
  mh_transfers_view_refresh (f->crew_view);
  item = only_item (f->crew_view);
  g_assert_cmpstr (item->id, ==, id);
  g_assert_cmpstr (item->state, ==, "announced");
  g_assert_cmpuint (item->actions, ==, MH_TRANSFER_CAN_EN_ROUTE | MH_TRANSFER_CAN_ARRIVE
                                         | MH_TRANSFER_CAN_CANCEL);
  g_assert_false (item->unanswered);

  /* A second set of vitals, later: the trend. */
  mh_patient_form_set_text (form, "hr", "130");
  mh_patient_form_set_text (form, "gcs", "12");
  g_assert_true (mh_patient_form_add_vitals (form));

  before = free_beds (f->crew);
  sync_all (f);
  item = only_item (f->desk_view);
  g_assert_cmpstr (item->id, ==, id);
  g_assert_cmpuint (item->actions, ==, MH_TRANSFER_CAN_ACKNOWLEDGE | MH_TRANSFER_CAN_ACCEPT
                                         | MH_TRANSFER_CAN_DIVERT);
  g_assert_cmpstr (item->triage, ==, NULL);
  g_assert_nonnull (strstr (item->summary, "70 y"));
  g_assert_nonnull (strstr (item->vitals, "HR 130 ↑"));
  g_assert_nonnull (strstr (item->vitals, "GCS 12 ↓"));
  g_assert_nonnull (item->eta_label);
  g_assert_true (g_str_has_prefix (item->eta_label, "ETA 1"));
  g_assert_cmpuint (f->events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (f->events, 0), ==, "desk: New incoming transfer");

  /* Delivery: the hub and the desk noted it (in an idle, as a node does);
   * nobody at the desk has had it on screen (the view is not mapped). */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  sync_all (f);
  item = only_item (f->crew_view);
  g_assert_true (item->reached_hub);
  g_assert_true (item->reached_desk);
  g_assert_false (item->seen);
  g_assert_cmpstr (item->delivery, ==, "Reached a hub · Reached the desk · Not seen yet");
  g_assert_true (mh_node_mark_transfer_seen (f->desk, id, NULL));
  sync_all (f);
  g_assert_true (only_item (f->crew_view)->seen);
  g_assert_null (only_item (f->desk_view)->delivery);

  /* Divert needs a reason; accept takes a bed at once. */
  g_assert_true (mh_transfers_view_select (f->desk_view, id));
  g_assert_false (mh_transfers_view_act (f->desk_view, "diverted"));
  g_assert_nonnull (mh_transfers_view_get_message (f->desk_view));
  if (!mh_transfers_view_act (f->desk_view, "accepted"))
    g_error ("%s", mh_transfers_view_get_message (f->desk_view));
  g_assert_cmpint (free_beds (f->desk), ==, before - 1);
  item = only_item (f->desk_view);
  g_assert_cmpuint (item->actions, ==, MH_TRANSFER_CAN_DIVERT);

  sync_all (f);
  item = only_item (f->crew_view);
  g_assert_cmpstr (item->state, ==, "accepted");
  g_assert_cmpint (free_beds (f->crew), ==, before - 1);
  g_assert_cmpuint (f->events->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (f->events, 1), ==, "crew: Fred Brooks: Accepted");
  g_assert_null (f->diverted);

  mh_transfers_view_set_reason (f->desk_view, "CT down");
  g_assert_true (mh_transfers_view_act (f->desk_view, "diverted"));
  sync_all (f);
  g_assert_cmpstr (f->diverted, ==, id);
  item = only_item (f->crew_view);
  g_assert_cmpstr (item->state, ==, "diverted");
  g_assert_cmpstr (item->desk_reason, ==, "CT down");

  /* A desk's answer to a cancelled transfer is refused with a message. */
  g_assert_true (mh_transfers_view_act (f->crew_view, "cancelled"));
  item = only_item (f->crew_view);
  g_assert_cmpuint (item->actions, ==, 0);
  g_assert_true (item->finished);
}

/* With no acknowledgement after the timeout the crew is told to phone. */
static void
test_unanswered (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonObject) transfer = NULL;
  g_autoptr (MhTransferItem) early = NULL;
  g_autoptr (MhTransferItem) late = NULL;
  g_autoptr (MhTransferItem) on_desk = NULL;
  g_autofree char *id = NULL;
  MhPatientForm *form;
  gint64 now;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  form = mh_transfers_view_get_form (f->crew_view);
  mh_patient_form_set_destination (form, FRED_BROOKS);
  g_assert_true (mh_patient_form_announce (form, &id));
  transfer = mh_node_get_transfer (f->crew, id, NULL);
  now = mh_node_now_ms (f->crew);
  early = mh_transfer_item_new (f->crew, transfer, now + 2 * MINUTE_MS, 3);
  g_assert_false (early->unanswered);
  late = mh_transfer_item_new (f->crew, transfer, now + 3 * MINUTE_MS + 1000, 3);
  g_assert_true (late->unanswered);
  g_assert_null (late->eta_label);
  /* The desk is never told to phone itself. */
  on_desk = mh_transfer_item_new (f->desk, transfer, now + 10 * MINUTE_MS, 3);
  g_assert_false (on_desk->unanswered);
  g_assert_cmpuint (on_desk->actions & MH_TRANSFER_CAN_EN_ROUTE, ==, 0);
  g_assert_true (on_desk->concerns_us);

  /* Another unit's transfer in the replica is not this crew's; one of a
   * patient handed over to this unit is, though the other unit moves it. */
  json_object_set_string_member (transfer, "unit_id", "0e0e0e0e-0000-4000-8000-0000000000aa");
  {
    g_autoptr (MhTransferItem) handed = mh_transfer_item_new (f->crew, transfer, now, 3);
    g_autoptr (MhTransferItem) other = NULL;

    g_assert_true (handed->concerns_us);
    g_assert_cmpuint (handed->actions, ==, 0);
    json_object_set_string_member (transfer, "patient_id",
                                   "0e0e0e0e-0000-4000-8000-0000000000bb");
    other = mh_transfer_item_new (f->crew, transfer, now, 3);
    g_assert_false (other->concerns_us);
  }
}

/* A BLS crew hands its patient over to a MICU: the record is the MICU's. */
static void
test_handover (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonObject) unit = test_object ("{\"call_sign\": \"SMUR 75-1\", \"type\": \"micu\"}");
  g_autoptr (JsonObject) record = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *micu = NULL;
  g_autofree char *id = NULL;
  g_autofree char *patient = NULL;
  MhPatientForm *form;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  micu = mh_node_create_unit (f->hub, unit, &error);
  g_assert_no_error (error);
  sync_all (f);
  form = mh_transfers_view_get_form (f->crew_view);
  g_assert_false (mh_patient_form_hand_over (form, micu));
  mh_patient_form_set_destination (form, FRED_BROOKS);
  mh_patient_form_set_text (form, "hr", "100");
  g_assert_true (mh_patient_form_announce (form, &id));
  patient = g_strdup (mh_patient_form_get_patient_id (form));
  g_assert_true (mh_patient_form_hand_over (form, micu));
  g_assert_null (mh_patient_form_get_patient_id (form));
  sync_all (f);
  record = mh_node_get_patient (f->hub, patient, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (record, "unit_id"), ==, micu);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (record, "observations")),
                    ==, 1);

  /* The transfer follows: the MICU's station reports its progress, the
   * crew that handed over no longer does, and every node takes the MICU's
   * word for it. */
  {
    g_autoptr (MhNode) micu_station = test_node_new (f->dir, "micu", MH_ROLE_AMBULANCE, NULL,
                                                     micu);
    MhNode *nodes[4] = { f->hub, f->desk, f->crew, micu_station };
    g_autoptr (JsonObject) transfer = NULL;

    test_sync_all (nodes, 4);
    g_assert_false (mh_node_transfer_crew (f->crew, id, "en_route", &error));
    g_assert_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FORBIDDEN);
    g_clear_error (&error);
    g_assert_true (mh_node_transfer_crew (micu_station, id, "en_route", &error));
    g_assert_no_error (error);
    test_sync_all (nodes, 4);
    transfer = mh_node_get_transfer (f->desk, id, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (json_object_get_string_member (transfer, "crew_state"), ==, "en_route");
  }
}


/* The system's, before the test isolated them: a whole window needs its
 * MIME database to load its icons. */
static char *system_data_dirs;

static GtkWidget *
find_action_button (GtkWidget *widget, const char *action_name)
{
  if (GTK_IS_BUTTON (widget)
      && g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (widget)), action_name) == 0)
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_action_button (child, action_name);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* A crew announces from the map's hospital card as from Find hospital:
 * the card's button opens the patient form with that destination. A
 * desk's card has no such button. */
static void
test_announce_from_card (Fixture *f, gconstpointer data)
{
  MhWindow *crew, *desk;
  GtkWidget *button;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_setenv ("XDG_DATA_DIRS",
            system_data_dirs != NULL ? system_data_dirs : "/usr/local/share:/usr/share", TRUE);
  crew = g_object_ref_sink (mh_window_new (NULL, f->crew));
  gtk_window_present (GTK_WINDOW (crew));
  mh_map_view_select_hospital (mh_window_get_map_view (crew), FRED_BROOKS);
  button = find_action_button (GTK_WIDGET (mh_window_get_map_view (crew)), "win.announce-to");
  g_assert_nonnull (button);
  g_signal_emit_by_name (button, "clicked");
  g_assert_cmpstr (mh_patient_form_get_destination (
                     mh_transfers_view_get_form (mh_window_get_transfers_view (crew))),
                   ==, FRED_BROOKS);

  desk = g_object_ref_sink (mh_window_new (NULL, f->desk));
  gtk_window_present (GTK_WINDOW (desk));
  mh_map_view_select_hospital (mh_window_get_map_view (desk), FRED_BROOKS);
  g_assert_null (find_action_button (GTK_WIDGET (mh_window_get_map_view (desk)),
                                     "win.announce-to"));

  gtk_window_destroy (GTK_WINDOW (crew));
  gtk_window_destroy (GTK_WINDOW (desk));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_object_unref (crew);
  g_object_unref (desk);
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

  g_test_add_func ("/transfers/trend", test_trend);
  g_test_add ("/transfers/flow", Fixture, NULL, fixture_setup, test_flow, fixture_teardown);
  g_test_add ("/transfers/unanswered", Fixture, NULL, fixture_setup, test_unanswered,
              fixture_teardown);
  g_test_add ("/transfers/announce-from-card", Fixture, NULL, fixture_setup,
              test_announce_from_card, fixture_teardown);
  g_test_add ("/transfers/handover", Fixture, NULL, fixture_setup, test_handover,
              fixture_teardown);
  return g_test_run ();
}

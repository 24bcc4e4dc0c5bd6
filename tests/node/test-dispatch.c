/* test-dispatch.c: incidents, the ranking of units for them, assignments
 * and answers, and who may write what (issue 9) */
#include "config.h"

#include <sqlite3.h>

#include "mh-dispatch.h"
#include "node-test-common.h"

#define UNIT_OTHER "0c5a1e1d-5d3c-4c55-9d0e-6a4a3b2f7e11"
#define INC_LAT 48.8566
#define INC_LON 2.3522

typedef struct
{
  char *dir;
  MhNode *hub;
  MhNode *desk;  /* Fred Brooks's own site */
  MhNode *crew;  /* unit MH-AMB-01 */
  MhNode *other; /* another unit's station */
} DispatchNet;

static char *
new_unit (MhNode *node, const char *id, const char *call_sign, const char *status,
          const char *capabilities, double north_m, gboolean with_position)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) fields = NULL;
  g_autofree char *position = NULL;
  char *created;

  if (with_position)
    position = g_strdup_printf (", \"lat\": %.7f, \"lon\": %.7f", INC_LAT + north_m / 111195.0,
                                INC_LON);
  fields = test_objectf ("{%s%s%s \"call_sign\": \"%s\", \"type\": \"als\", \"status\": \"%s\","
                         " \"capabilities\": %s %s}",
                         id ? "\"id\": \"" : "", id ? id : "", id ? "\"," : "", call_sign,
                         status, capabilities, position ? position : "");
  created = mh_node_create_unit (node, fields, &error);
  g_assert_no_error (error);
  g_assert_nonnull (created);
  return created;
}

static char *
new_incident (MhNode *node, const char *skills)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) fields = test_objectf ("{\"lat\": %f, \"lon\": %f, \"nature\": \"trauma\","
                                               " \"nature_text\": \"fall from a ladder\","
                                               " \"priority\": \"urgent\", \"skills\": %s}",
                                               INC_LAT, INC_LON, skills);
  char *id = mh_node_create_incident (node, fields, &error);

  g_assert_no_error (error);
  g_assert_nonnull (id);
  return id;
}

static const char *
unit_at (JsonObject *result, const char *list, guint i)
{
  JsonArray *array = json_object_get_array_member (result, list);

  g_assert_cmpuint (i, <, json_array_get_length (array));
  return test_string (json_array_get_object_element (array, i), "call_sign");
}

static guint
list_length (JsonObject *result, const char *list)
{
  return json_array_get_length (json_object_get_array_member (result, list));
}

/* ------------------------------------------------------------------------ */
/* Ranking                                                                  */

static void
test_ranking (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-dispatch");
  g_autoptr(MhNode) hub = test_node_new (dir, "hub", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(JsonObject) limited = NULL;
  g_autoptr(JsonObject) any = NULL;
  g_autoptr(JsonObject) incident = NULL;
  g_autofree char *id = NULL;
  g_autofree char *open_id = NULL;
  JsonObject *first, *stale, *nopos, *bls;
  const char *ids[8];
  guint n = 0;

  ids[n++] = new_unit (hub, NULL, "FAR", "available", "[\"paediatric\", \"als\"]", 10000, TRUE);
  ids[n++] = new_unit (hub, NULL, "NEAR", "available", "\"als,paediatric,air\"", 1000, TRUE);
  ids[n++] = new_unit (hub, NULL, "BUSY", "en_route", "[\"als\", \"paediatric\"]", 500, TRUE);
  ids[n++] = new_unit (hub, NULL, "NOPOS", "available", "[\"als\", \"paediatric\"]", 0, FALSE);
  ids[n++] = new_unit (hub, NULL, "BLS", "available", "[\"bls\"]", 100, TRUE);
  ids[n++] = new_unit (hub, NULL, "ALSONLY", "available", "[\"als\"]", 3000, TRUE);
  /* Nearest of all, but its position is half an hour old. */
  mh_node_set_time_offset (hub, -30 * MINUTE_MS);
  ids[n++] = new_unit (hub, NULL, "STALE", "available", "[\"als\", \"paediatric\"]", 200, TRUE);
  mh_node_set_time_offset (hub, 0);
  /* No status: never said it was available. */
  {
    g_autoptr(JsonObject) silent = test_object ("{\"call_sign\": \"SILENT\", \"type\": \"bls\","
                                                " \"capabilities\": [\"als\", \"paediatric\"],"
                                                " \"lat\": 48.8566, \"lon\": 2.3522}");
    ids[n++] = mh_node_create_unit (hub, silent, &error);
    g_assert_no_error (error);
  }

  id = new_incident (hub, "[\"paediatric\", \"als\"]");
  incident = mh_node_get_incident (hub, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (incident, "state"), ==, "open");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (incident, "skills"), 0), ==, "als");

  result = mh_node_incident_candidates (hub, id, 0, &error);
  g_assert_no_error (error);
  /* Every skill: fresh positions by distance, then the stale one, then
   * the one with no position. Busy and silent units are not there. */
  g_assert_cmpuint (list_length (result, "candidates"), ==, 4);
  g_assert_cmpstr (unit_at (result, "candidates", 0), ==, "NEAR");
  g_assert_cmpstr (unit_at (result, "candidates", 1), ==, "FAR");
  g_assert_cmpstr (unit_at (result, "candidates", 2), ==, "STALE");
  g_assert_cmpstr (unit_at (result, "candidates", 3), ==, "NOPOS");
  first = json_array_get_object_element (json_object_get_array_member (result, "candidates"), 0);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (first, "distance_m"), 1000, 5);
  g_assert_cmpint (json_object_get_int_member (first, "position_age_s"), <, 60);
  g_assert_false (json_object_get_boolean_member (first, "stale"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (first, "missing_skills")), ==, 0);
  stale = json_array_get_object_element (json_object_get_array_member (result, "candidates"), 2);
  g_assert_true (json_object_get_boolean_member (stale, "stale"));
  g_assert_cmpint (json_object_get_int_member (stale, "position_age_s"), >=, 30 * 60 - 5);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (stale, "distance_m"), 200, 5);
  nopos = json_array_get_object_element (json_object_get_array_member (result, "candidates"), 3);
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (nopos, "distance_m")));

  /* The fallback: available units lacking some skill, fewest missing
   * first, with what they lack. */
  g_assert_cmpuint (list_length (result, "fallback"), ==, 2);
  g_assert_cmpstr (unit_at (result, "fallback", 0), ==, "ALSONLY");
  g_assert_cmpstr (unit_at (result, "fallback", 1), ==, "BLS");
  bls = json_array_get_object_element (json_object_get_array_member (result, "fallback"), 1);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (bls, "missing_skills")), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (bls, "missing_skills"), 0), ==, "als");

  limited = mh_node_incident_candidates (hub, id, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_length (limited, "candidates"), ==, 1);
  g_assert_cmpuint (list_length (limited, "fallback"), ==, 1);

  /* No skill needed: every available unit, nearest fresh first; BLS is
   * nearest of all. */
  open_id = new_incident (hub, "[]");
  any = mh_node_incident_candidates (hub, open_id, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_length (any, "candidates"), ==, 6);
  g_assert_cmpuint (list_length (any, "fallback"), ==, 0);
  g_assert_cmpstr (unit_at (any, "candidates", 0), ==, "BLS");

  /* Once assigned and accepted, NEAR is no longer available. */
  g_assert_null (mh_node_incident_candidates (hub, "no-such-incident", 0, &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);

  for (guint i = 0; i < n; i++)
    g_free ((char *) ids[i]);
  g_clear_object (&hub);
  mh_test_rm_rf (dir);
}

/* ------------------------------------------------------------------------ */
/* Input                                                                    */

static void
test_input (void)
{
  static const char *const refused[][2] = {
    { "{\"lon\": 2, \"nature\": \"trauma\", \"priority\": \"urgent\"}", "lat" },
    { "{\"lat\": 95, \"lon\": 2, \"nature\": \"trauma\", \"priority\": \"urgent\"}", "lat" },
    { "{\"lat\": 48, \"lon\": 2, \"nature\": \"fire\", \"priority\": \"urgent\"}", "nature" },
    { "{\"lat\": 48, \"lon\": 2, \"nature\": \"trauma\"}", "priority" },
    { "{\"lat\": 48, \"lon\": 2, \"nature\": \"trauma\", \"priority\": \"soon\"}", "priority" },
    { "{\"lat\": 48, \"lon\": 2, \"nature\": \"trauma\", \"priority\": \"urgent\","
      " \"skills\": [\"als\", \"surgeon\"]}", "skills" },
    { "{\"lat\": 48, \"lon\": 2, \"nature\": \"trauma\", \"priority\": \"urgent\","
      " \"skills\": [1]}", "skills" },
    { "{\"lat\": 48, \"lon\": 2, \"nature\": \"trauma\", \"priority\": \"urgent\","
      " \"colour\": \"red\"}", "colour" },
  };
  g_autofree char *dir = mh_test_make_tmpdir ("mh-dispatch");
  g_autoptr(MhNode) hub = test_node_new (dir, "hub", MH_ROLE_HUB, NULL, NULL);
  g_autoptr(JsonObject) bad_unit = test_object ("{\"call_sign\": \"X\", \"type\": \"als\","
                                                " \"capabilities\": [\"flying\"]}");
  g_autoptr(JsonArray) list = NULL;
  g_autoptr(GError) error = NULL;
  guint32 mask = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(JsonObject) fields = test_object (refused[i][0]);

      g_assert_null (mh_node_create_incident (hub, fields, &error));
      test_assert_node_error (error, MH_NODE_ERROR_INVALID, refused[i][1]);
      g_clear_error (&error);
    }
  g_assert_null (mh_node_create_unit (hub, bad_unit, &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "capabilities");
  g_clear_error (&error);
  /* Nothing half-written. */
  list = mh_node_list_incidents (hub, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (list), ==, 0);

  /* The stored form: the documented order, no repeats. */
  g_assert_true (mh_medhead_parse_capabilities ("", &mask, NULL));
  g_assert_cmpuint (mask, ==, 0);
  g_assert_true (mh_medhead_parse_capabilities ("als,paediatric,air", &mask, NULL));
  g_assert_cmpuint (mask, ==, (1u << 0) | (1u << 2) | (1u << 7));
  g_assert_false (mh_medhead_parse_capabilities ("paediatric,als", NULL, NULL));
  g_assert_false (mh_medhead_parse_capabilities ("als,als", NULL, NULL));
  g_assert_false (mh_medhead_parse_capabilities ("als,", NULL, NULL));
  g_assert_false (mh_medhead_parse_capabilities ("ALS", NULL, NULL));

  g_clear_object (&hub);
  mh_test_rm_rf (dir);
}

/* ------------------------------------------------------------------------ */
/* Ownership and the flow, over several nodes                               */

static void
dispatch_net_set_up (DispatchNet *net, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) other = test_object ("{\"id\": \"" UNIT_OTHER "\", \"call_sign\":"
                                             " \"MH-AMB-02\", \"type\": \"bls\"}");
  g_autofree char *other_id = NULL;
  MhNode *nodes[4];

  net->dir = mh_test_make_tmpdir ("mh-dispatch");
  net->hub = test_node_new (net->dir, "hub", MH_ROLE_HUB, NULL, NULL);
  net->desk = test_node_new (net->dir, "desk", MH_ROLE_HOSPITAL, FRED_BROOKS, NULL);
  net->crew = test_node_new (net->dir, "crew", MH_ROLE_AMBULANCE, NULL, UNIT_AMB01);
  net->other = test_node_new (net->dir, "other", MH_ROLE_AMBULANCE, NULL, UNIT_OTHER);
  test_import (net->hub, "demo/reference-scenario.json");
  other_id = mh_node_create_unit (net->hub, other, &error);
  g_assert_no_error (error);
  nodes[0] = net->hub;
  nodes[1] = net->desk;
  nodes[2] = net->crew;
  nodes[3] = net->other;
  test_sync_all (nodes, 4);
}

static void
dispatch_net_tear_down (DispatchNet *net, gconstpointer data)
{
  g_clear_object (&net->hub);
  g_clear_object (&net->desk);
  g_clear_object (&net->crew);
  g_clear_object (&net->other);
  mh_test_rm_rf (net->dir);
  g_free (net->dir);
}

static void
dispatch_net_sync (DispatchNet *net)
{
  MhNode *nodes[] = { net->hub, net->desk, net->crew, net->other };

  test_sync_all (nodes, 4);
}

static void
count_cb (MhNode *node, const char *incident_id, GPtrArray *seen)
{
  g_ptr_array_add (seen, g_strdup (incident_id));
}

static const char *
incident_answer (MhNode *node, const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) incident = mh_node_get_incident (node, id, &error);
  static char answer[32];

  g_assert_no_error (error);
  if (JSON_NODE_HOLDS_NULL (json_object_get_member (incident, "answer")))
    return NULL;
  g_strlcpy (answer, test_string (incident, "answer"), sizeof answer);
  return answer;
}

static void
test_ownership (DispatchNet *net, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) available = test_object ("{\"status\": \"available\"}");
  g_autoptr(JsonObject) caps = test_object ("{\"capabilities\": [\"als\"]}");
  g_autoptr(JsonObject) report = test_object ("{\"lat\": 51.5, \"lon\": -0.12,"
                                              " \"nature\": \"stemi\", \"priority\": \"immediate\"}");
  g_autoptr(JsonObject) incident = NULL;
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *id = NULL;
  g_autofree char *crew_id = NULL;

  /* A hospital's desk does not report incidents. */
  g_assert_null (mh_node_create_incident (net->desk, report, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);

  /* A crew on scene does: open until a hub decides. */
  crew_id = mh_node_create_incident (net->crew, report, &error);
  g_assert_no_error (error);
  dispatch_net_sync (net);
  incident = mh_node_get_incident (net->hub, crew_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (incident, "state"), ==, "open");
  g_assert_cmpstr (test_string (incident, "created_by"), ==, mh_node_get_site_id (net->crew));

  /* A unit with a station declares its own capabilities. */
  g_assert_false (mh_node_patch_unit (net->hub, UNIT_AMB01, caps, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_true (mh_node_patch_unit (net->crew, UNIT_AMB01, caps, &error));
  g_assert_no_error (error);
  g_assert_true (mh_node_patch_unit (net->crew, UNIT_AMB01, available, &error));
  g_assert_no_error (error);
  dispatch_net_sync (net);

  id = new_incident (net->hub, "[\"als\"]");
  dispatch_net_sync (net);
  /* Only a hub assigns. */
  g_assert_false (mh_node_assign_incident (net->crew, id, UNIT_AMB01, &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_assign_incident (net->hub, id, "no-such-unit", &error));
  test_assert_node_error (error, MH_NODE_ERROR_NOT_FOUND, NULL);
  g_clear_error (&error);
  /* Nobody answers an incident that is not assigned to them. */
  g_assert_false (mh_node_answer_incident (net->crew, id, "accepted", &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);

  g_signal_connect (net->crew, "incident-assigned", G_CALLBACK (count_cb), seen);
  g_assert_true (mh_node_assign_incident (net->hub, id, UNIT_AMB01, &error));
  g_assert_no_error (error);
  dispatch_net_sync (net);
  /* The unit's station heard at once, and once. */
  g_assert_cmpuint (seen->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (seen, 0), ==, id);

  g_assert_false (mh_node_answer_incident (net->other, id, "accepted", &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_answer_incident (net->hub, id, "accepted", &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_false (mh_node_answer_incident (net->crew, id, "maybe", &error));
  test_assert_node_error (error, MH_NODE_ERROR_INVALID, "answer");
  g_clear_error (&error);
  g_assert_false (mh_node_answer_incident (net->crew, id, "on_scene", &error));
  test_assert_node_error (error, MH_NODE_ERROR_CONFLICT, NULL);
  g_clear_error (&error);

  g_assert_true (mh_node_answer_incident (net->crew, id, "accepted", &error));
  g_assert_no_error (error);
  dispatch_net_sync (net);
  g_assert_cmpstr (incident_answer (net->hub, id), ==, "accepted");
  {
    g_autoptr(JsonObject) unit = mh_node_get_unit (net->hub, UNIT_AMB01, &error);
    g_assert_cmpstr (test_string (unit, "status"), ==, "dispatched");
  }
  g_assert_cmpuint (seen->len, ==, 1);
  g_assert_false (mh_node_answer_incident (net->crew, id, "declined", &error));
  test_assert_node_error (error, MH_NODE_ERROR_CONFLICT, NULL);
  g_clear_error (&error);

  /* A rogue station that writes for another unit, or dispatches, is
   * refused by every peer. */
  test_go_rogue (net->other);
  g_assert_true (mh_store_update (mh_node_get_store (net->other), "incident", id,
                                  g_variant_new_parsed ("{'answer': <'cleared'>, 'answer_unit':"
                                                        " <%s>, 'answer_at': <@x 1>}",
                                                        UNIT_AMB01),
                                  &error));
  g_assert_no_error (error);
  g_assert_true (mh_store_update (mh_node_get_store (net->other), "incident", crew_id,
                                  g_variant_new_parsed ("{'dispatch_state': <'assigned'>,"
                                                        " 'unit_id': <%s>}", UNIT_OTHER),
                                  &error));
  g_assert_no_error (error);
  test_send (net->other, net->hub, NULL);
  g_assert_true (test_rejected_has (net->hub, "incident", id));
  g_assert_true (test_rejected_has (net->hub, "incident", crew_id));
  g_assert_cmpstr (incident_answer (net->hub, id), ==, "accepted");
  g_clear_pointer (&incident, json_object_unref);
  incident = mh_node_get_incident (net->hub, crew_id, &error);
  g_assert_cmpstr (test_string (incident, "state"), ==, "open");

  /* Nor does it answer, in its own unit's name, an incident assigned to
   * another: the dispatch here is older than the answer. */
  {
    g_autoptr(GVariant) row = NULL;
    const char *unit = NULL;

    g_assert_true (mh_store_update (mh_node_get_store (net->other), "incident", id,
                                    g_variant_new_parsed ("{'answer': <'accepted'>, "
                                                          "'answer_unit': <%s>, "
                                                          "'answer_at': <@x 2>}", UNIT_OTHER),
                                    &error));
    g_assert_no_error (error);
    test_send (net->other, net->hub, NULL);
    row = mh_store_get_row (mh_node_get_store (net->hub), "incident", id);
    g_assert_true (g_variant_lookup (row, "answer_unit", "&s", &unit));
    g_assert_cmpstr (unit, ==, UNIT_AMB01);
  }

  g_assert_true (mh_node_answer_incident (net->crew, id, "on_scene", &error));
  g_assert_no_error (error);
  g_assert_true (mh_node_answer_incident (net->crew, id, "cleared", &error));
  g_assert_no_error (error);
  dispatch_net_sync (net);
  g_assert_cmpstr (incident_answer (net->hub, id), ==, "cleared");

  /* The hub closes; nothing moves after. */
  g_assert_false (mh_node_close_incident (net->crew, id, "closed", &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_true (mh_node_close_incident (net->hub, id, "closed", &error));
  g_assert_no_error (error);
  g_assert_false (mh_node_assign_incident (net->hub, id, UNIT_AMB01, &error));
  test_assert_node_error (error, MH_NODE_ERROR_CONFLICT, NULL);
  g_clear_error (&error);
  dispatch_net_sync (net);
  g_assert_false (mh_node_answer_incident (net->crew, id, "cleared", &error));
  test_assert_node_error (error, MH_NODE_ERROR_CONFLICT, NULL);
  g_clear_error (&error);

  /* Open ones first. */
  {
    g_autoptr(JsonArray) list = mh_node_list_incidents (net->hub, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (json_array_get_length (list), ==, 2);
    g_assert_cmpstr (test_string (json_array_get_object_element (list, 0), "id"), ==, crew_id);
    g_assert_cmpstr (test_string (json_array_get_object_element (list, 1), "state"), ==, "closed");
  }
}

/* A reassignment: the earlier unit's answer never counts for the new one,
 * and the new unit's station is told. */
static void
test_reassign (DispatchNet *net, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) available = test_object ("{\"status\": \"available\"}");
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *id = new_incident (net->hub, "[]");

  g_assert_true (mh_node_patch_unit (net->crew, UNIT_AMB01, available, &error));
  g_assert_true (mh_node_patch_unit (net->other, UNIT_OTHER, available, &error));
  g_assert_no_error (error);
  dispatch_net_sync (net);
  g_assert_true (mh_node_assign_incident (net->hub, id, UNIT_AMB01, &error));
  dispatch_net_sync (net);
  g_assert_true (mh_node_answer_incident (net->crew, id, "declined", &error));
  g_assert_no_error (error);
  dispatch_net_sync (net);
  g_assert_cmpstr (incident_answer (net->hub, id), ==, "declined");

  g_signal_connect (net->other, "incident-assigned", G_CALLBACK (count_cb), seen);
  g_assert_true (mh_node_assign_incident (net->hub, id, UNIT_OTHER, &error));
  g_assert_no_error (error);
  dispatch_net_sync (net);
  g_assert_cmpuint (seen->len, ==, 1);
  g_assert_null (incident_answer (net->hub, id));
  g_assert_false (mh_node_answer_incident (net->crew, id, "accepted", &error));
  test_assert_node_error (error, MH_NODE_ERROR_FORBIDDEN, NULL);
  g_clear_error (&error);
  g_assert_true (mh_node_answer_incident (net->other, id, "accepted", &error));
  g_assert_no_error (error);
}

/* The incident flows into the patient and the transfer. */
static void
test_flow (DispatchNet *net, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) available = test_object ("{\"status\": \"available\"}");
  g_autoptr(JsonObject) incident = NULL;
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(JsonObject) transfer = NULL;
  g_autofree char *id = new_incident (net->hub, "[]");
  g_autofree char *transfer_id = NULL;

  g_assert_true (mh_node_patch_unit (net->crew, UNIT_AMB01, available, &error));
  dispatch_net_sync (net);
  g_assert_true (mh_node_assign_incident (net->hub, id, UNIT_AMB01, &error));
  dispatch_net_sync (net);
  g_assert_true (mh_node_answer_incident (net->crew, id, "accepted", &error));
  g_assert_no_error (error);

  patient = test_objectf ("{\"unit_id\": \"%s\", \"incident_id\": \"%s\", \"alert\": \"trauma\"}",
                          UNIT_AMB01, id);
  transfer = test_objectf ("{\"unit_id\": \"%s\", \"hospital_id\": \"%s\", \"bed_category\":"
                           " \"medical_surgical\", \"priority\": \"urgent\"}",
                           UNIT_AMB01, FRED_BROOKS);
  transfer_id = mh_node_announce (net->crew, patient, NULL, NULL, transfer, &error);
  g_assert_no_error (error);
  dispatch_net_sync (net);
  g_clear_pointer (&incident, json_object_unref);
  incident = mh_node_get_incident (net->hub, id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (incident, "patient_ids")), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (incident, "transfer_ids"), 0), ==, transfer_id);
}

/* ------------------------------------------------------------------------ */
/* A version 2 replica                                                      */

static void
test_v2_replica (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("mh-dispatch");
  g_autofree char *node_dir = g_build_filename (dir, "hub", NULL);
  g_autofree char *db_path = g_build_filename (node_dir, "replica.db", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) unit = NULL;
  g_autofree char *id = NULL;
  MhNode *node;
  sqlite3 *db = NULL;
  char *message = NULL;

  node = test_node_new (dir, "hub", MH_ROLE_HUB, NULL, NULL);
  test_import (node, "demo/reference-scenario.json");
  g_object_unref (node);

  /* What a version 2 program left: no incident table, no new columns. */
  g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
  if (sqlite3_exec (db, "DROP TABLE incident; ALTER TABLE unit DROP COLUMN capabilities;"
                        " ALTER TABLE patient DROP COLUMN incident_id;"
                        " UPDATE _mh_meta SET value = 2 WHERE key = 'schema_version';",
                    NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s", message);
  sqlite3_close (db);

  node = mh_node_open (node_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (node);
  unit = mh_node_get_unit (node, UNIT_AMB01, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (test_string (unit, "call_sign"), ==, "MH-AMB-01");
  id = new_incident (node, "[\"bls\"]");
  g_assert_nonnull (id);
  g_object_unref (node);
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) g_test_add ((path), DispatchNet, NULL, dispatch_net_set_up, (func), dispatch_net_tear_down)
  g_test_add_func ("/dispatch/ranking", test_ranking);
  g_test_add_func ("/dispatch/input", test_input);
  ADD ("/dispatch/ownership", test_ownership);
  ADD ("/dispatch/reassign", test_reassign);
  ADD ("/dispatch/flow", test_flow);
  g_test_add_func ("/dispatch/v2-replica", test_v2_replica);
  return g_test_run ();
}

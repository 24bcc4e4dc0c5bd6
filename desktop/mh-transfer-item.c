/* mh-transfer-item.c: what a transfers list shows of one transfer */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "mh-json.h"
#include "mh-labels.h"
#include "mh-transfer-item.h"

static gboolean
get_number (JsonObject *object, const char *member, double *value)
{
  if (object == NULL || !json_object_has_member (object, member)
      || json_object_get_null_member (object, member))
    return FALSE;
  *value = json_object_get_double_member (object, member);
  return TRUE;
}

const char *
mh_trend_arrow (gboolean has_previous, double previous, double current)
{
  if (!has_previous)
    return "";
  if (fabs (current - previous) < fabs (previous) / 10.0)
    return "→";
  return current > previous ? "↑" : "↓";
}

const char *
mh_transfer_state_label (const char *state)
{
  static const struct
  {
    const char *value;
    const char *label;
  } labels[] = {
    { "announced", N_("Announced") },
    { "acknowledged", N_("Acknowledged") },
    { "accepted", N_("Accepted") },
    { "diverted", N_("Diverted") },
    { "en_route_unanswered", N_("En route, no answer yet") },
    { "accepted_en_route", N_("Accepted, en route") },
    { "arrived", N_("Arrived") },
    { "cancelled", N_("Cancelled") },
    { "unknown", N_("Unknown") },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    if (g_strcmp0 (state, labels[i].value) == 0)
      return _(labels[i].label);
  return state != NULL ? state : _("Unknown");
}

static char *
make_summary (JsonObject *patient)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  const char *sex = mh_json_get_string (patient, "sex");
  double age;

  if (patient == NULL)
    return g_strdup (_("Patient record not here yet"));
  if (mh_json_get_string (patient, "triage") != NULL)
    g_ptr_array_add (parts, g_strdup (mh_triage_label (mh_json_get_string (patient, "triage"))));
  if (mh_json_get_string (patient, "alert") != NULL)
    g_ptr_array_add (parts, g_strdup (mh_alert_label (mh_json_get_string (patient, "alert"))));
  if (get_number (patient, "age_estimate", &age))
    /* TRANSLATORS: an estimated age in years */
    g_ptr_array_add (parts, g_strdup_printf (_("%d y"), (int) age));
  /* An unknown sex says nothing worth the room in a one-line summary. */
  if (sex != NULL && g_strcmp0 (sex, "unknown") != 0)
    g_ptr_array_add (parts, g_strdup (mh_sex_label (sex)));
  if (parts->len == 0)
    g_ptr_array_add (parts, g_strdup (_("Patient")));
  g_ptr_array_add (parts, NULL);
  return g_strjoinv (" · ", (char **) parts->pdata);
}

/* The latest value of each vital sign with its trend against the one
 * measured before it. */
static char *
make_vitals (JsonObject *patient)
{
  static const struct
  {
    const char *member;
    const char *label;
  } vitals[] = {
    { "hr", N_("HR") },   { "rr", N_("RR") },   { "spo2", N_("SpO2") },
    { "sbp", N_("SBP") }, { "gcs", N_("GCS") }, { "temp", N_("Temp") },
  };
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  JsonArray *observations;
  guint n;

  if (patient == NULL || !json_object_has_member (patient, "observations"))
    return NULL;
  observations = json_object_get_array_member (patient, "observations");
  n = json_array_get_length (observations);
  for (gsize v = 0; v < G_N_ELEMENTS (vitals); v++)
    {
      double current = 0, previous = 0;
      gboolean has_current = FALSE, has_previous = FALSE;

      /* Oldest first: the last two sets that carry this sign. */
      for (guint i = n; i-- > 0;)
        {
          JsonObject *o = json_array_get_object_element (observations, i);
          double value;

          if (!get_number (o, vitals[v].member, &value))
            continue;
          if (!has_current)
            {
              current = value;
              has_current = TRUE;
            }
          else
            {
              previous = value;
              has_previous = TRUE;
              break;
            }
        }
      if (!has_current)
        continue;
      {
        const char *arrow = mh_trend_arrow (has_previous, previous, current);
        g_autofree char *number = g_strcmp0 (vitals[v].member, "temp") == 0
                                    ? g_strdup_printf ("%.1f", current)
                                    : g_strdup_printf ("%d", (int) current);

        g_ptr_array_add (parts, g_strdup_printf ("%s %s%s%s", _(vitals[v].label), number,
                                                 arrow[0] != '\0' ? " " : "", arrow));
      }
    }
  if (parts->len == 0)
    return NULL;
  g_ptr_array_add (parts, NULL);
  return g_strjoinv (" · ", (char **) parts->pdata);
}

MhTransferItem *
mh_transfer_item_new (MhNode *node, JsonObject *transfer, gint64 now_ms, guint ack_timeout_min)
{
  g_autoptr (MhTransferItem) item = g_new0 (MhTransferItem, 1);
  g_autoptr (JsonObject) patient = NULL;
  g_autoptr (JsonObject) hospital = NULL;
  const char *crew_state, *desk_state;
  MhRole role;
  gboolean crew_final, ours_as_desk, ours_as_crew;
  double eta, crew_at;

  g_return_val_if_fail (MH_IS_NODE (node), NULL);
  g_return_val_if_fail (transfer != NULL, NULL);

  item->id = g_strdup (mh_json_get_string (transfer, "id"));
  item->patient_id = g_strdup (mh_json_get_string (transfer, "patient_id"));
  item->hospital_id = g_strdup (mh_json_get_string (transfer, "hospital_id"));
  if (item->patient_id != NULL)
    patient = mh_node_get_patient (node, item->patient_id, NULL);
  if (item->hospital_id != NULL)
    hospital = mh_node_get_hospital (node, item->hospital_id, NULL);

  item->hospital_name = g_strdup (hospital != NULL ? mh_json_get_string (hospital, "name")
                                                   : _("Unknown hospital"));
  item->phone = g_strdup (mh_json_get_string (hospital, "phone_emergency")
                            ?: mh_json_get_string (hospital, "phone_switchboard"));
  item->triage = g_strdup (mh_json_get_string (patient, "triage"));
  item->alert = g_strdup (mh_json_get_string (patient, "alert"));
  item->summary = make_summary (patient);
  item->vitals = make_vitals (patient);
  item->state = g_strdup (mh_json_get_string (transfer, "state") ?: "unknown");
  item->state_label = g_strdup (mh_transfer_state_label (item->state));
  item->desk_reason = g_strdup (mh_json_get_string (transfer, "desk_reason"));

  crew_state = mh_json_get_string (transfer, "crew_state");
  desk_state = mh_json_get_string (transfer, "desk_state");
  item->desk_state = g_strdup (desk_state);
  crew_final = g_strcmp0 (crew_state, "arrived") == 0 || g_strcmp0 (crew_state, "cancelled") == 0;
  item->finished = crew_final;

  if (!crew_final && get_number (transfer, "eta", &eta))
    {
      gint64 minutes = (gint64) floor (((gint64) eta - now_ms) / 60000.0 + 0.5);

      if (minutes >= 0)
        item->eta_label = g_strdup_printf (_("ETA %d min"), (int) minutes);
      else
        item->eta_label = g_strdup_printf (_("ETA passed %d min ago"), (int) -minutes);
    }

  role = mh_node_get_role (node);
  ours_as_desk = role == MH_ROLE_HUB
                 || (role == MH_ROLE_HOSPITAL
                     && g_strcmp0 (mh_node_get_hospital_id (node), item->hospital_id) == 0);
  ours_as_crew = role == MH_ROLE_HUB
                 || (role == MH_ROLE_AMBULANCE
                     && g_strcmp0 (mh_node_get_unit_id (node),
                                   mh_json_get_string (transfer, "unit_id")) == 0);

  /* A replica may hold other stations' transfers (until need to know
   * narrows what replicates): a crew lists its unit's, and those of the
   * patients handed over to it; a desk its hospital's. */
  item->concerns_us = role == MH_ROLE_HUB || ours_as_desk || ours_as_crew
                      || (role == MH_ROLE_AMBULANCE && mh_node_get_unit_id (node) != NULL
                          && g_strcmp0 (mh_json_get_string (patient, "unit_id"),
                                        mh_node_get_unit_id (node)) == 0);

  /* The same moves as the node allows (docs/api.md, the two sides): the
   * buttons never offer one that would be refused. */
  if (ours_as_desk && !crew_final)
    {
      if (g_strcmp0 (desk_state, "pending") == 0)
        item->actions |= MH_TRANSFER_CAN_ACKNOWLEDGE | MH_TRANSFER_CAN_ACCEPT;
      else if (g_strcmp0 (desk_state, "acknowledged") == 0)
        item->actions |= MH_TRANSFER_CAN_ACCEPT;
      if (g_strcmp0 (desk_state, "pending") == 0 || g_strcmp0 (desk_state, "acknowledged") == 0
          || g_strcmp0 (desk_state, "accepted") == 0)
        item->actions |= MH_TRANSFER_CAN_DIVERT;
    }
  if (ours_as_crew && !crew_final)
    {
      if (g_strcmp0 (crew_state, "announced") == 0)
        item->actions |= MH_TRANSFER_CAN_EN_ROUTE;
      item->actions |= MH_TRANSFER_CAN_ARRIVE | MH_TRANSFER_CAN_CANCEL;
    }

  /* Delivery, as the receipts tell it (docs/api.md, receipts). */
  {
    g_autoptr (JsonArray) receipts = item->id != NULL ? mh_node_list_receipts (node, item->id,
                                                                                NULL)
                                                      : NULL;

    for (guint i = 0; receipts != NULL && i < json_array_get_length (receipts); i++)
      {
        JsonObject *r = json_array_get_object_element (receipts, i);
        const char *site_role = mh_json_get_string (r, "role");
        double at;

        if (g_strcmp0 (site_role, "hub") == 0)
          item->reached_hub = TRUE;
        else if (g_strcmp0 (site_role, "hospital") == 0)
          {
            item->reached_desk = TRUE;
            if (get_number (r, "seen_at", &at))
              item->seen = TRUE;
          }
      }
  }
  if (ours_as_crew && !crew_final)
    item->delivery = g_strdup_printf ("%s · %s · %s",
                                      item->reached_hub ? _("Reached a hub")
                                                        : _("Not at a hub yet"),
                                      item->reached_desk ? _("Reached the desk")
                                                         : _("Not at the desk yet"),
                                      item->seen ? _("Seen at the desk") : _("Not seen yet"));

  /* The crew's side: a desk that has not answered in time gets a phone
   * call rather than more waiting. */
  if (ours_as_crew && !crew_final && g_strcmp0 (desk_state, "pending") == 0
      && get_number (transfer, "crew_at", &crew_at)
      && now_ms - (gint64) crew_at >= (gint64) ack_timeout_min * 60000)
    item->unanswered = TRUE;

  return g_steal_pointer (&item);
}

void
mh_transfer_item_free (MhTransferItem *item)
{
  if (item == NULL)
    return;
  g_free (item->id);
  g_free (item->patient_id);
  g_free (item->hospital_id);
  g_free (item->hospital_name);
  g_free (item->triage);
  g_free (item->alert);
  g_free (item->summary);
  g_free (item->state);
  g_free (item->state_label);
  g_free (item->desk_state);
  g_free (item->desk_reason);
  g_free (item->vitals);
  g_free (item->eta_label);
  g_free (item->phone);
  g_free (item->delivery);
  g_free (item);
}

/* mh-medhead-schema.c: the MedHead tables (DESIGN.md section 3)
 *
 * Columns that only mean something together share a register, so they win
 * or lose together: a status and its reason, a count and when and by whom
 * it was reported. Registers a desk or a crew may want to audit keep their
 * losing values (MH_REGISTER_HISTORY).
 */
#include "config.h"

#include "mh-medhead-schema.h"

#define T MH_COLUMN_TEXT
#define I MH_COLUMN_INTEGER
#define R MH_COLUMN_REAL
#define H MH_REGISTER_HISTORY
#define N MH_REGISTER_NONE

MhSchema *
mh_medhead_schema_new (void)
{
  /* MEDHEAD_TEST_SCHEMA_VERSION lets the tests start a node that claims
   * another schema version, to see incompatible peers refused. */
  const char *test_version = g_getenv ("MEDHEAD_TEST_SCHEMA_VERSION");
  g_autoptr(MhSchema) schema =
    mh_schema_new (test_version && *test_version ? (guint) g_ascii_strtoull (test_version, NULL, 10)
                                                 : MH_MEDHEAD_SCHEMA_VERSION);
  g_autoptr(GError) error = NULL;
  guint registry, transfers, beds, positions, chat;
  gboolean ok = TRUE;

  /* Registry and transfers first and heaviest: a crew's announcement must
   * never queue behind a flood of positions (DESIGN.md section 4, lanes). */
  registry = mh_schema_add_lane (schema, "registry", 4);
  transfers = mh_schema_add_lane (schema, "transfers", 4);
  beds = mh_schema_add_lane (schema, "beds", 3);
  positions = mh_schema_add_lane (schema, "positions", 1);
  chat = mh_schema_add_lane (schema, "chat", 2);
  g_assert (registry == MH_LANE_REGISTRY && transfers == MH_LANE_TRANSFERS && beds == MH_LANE_BEDS
            && positions == MH_LANE_POSITIONS && chat == MH_LANE_CHAT);

  ok &= mh_schema_add_table (schema, "site", registry, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "site", "info", N, "name", T, "role", T, "hospital_id", T,
                                "unit_id", T, NULL);
  /* Written by the site itself every few minutes (a hospital's desk), so
   * that one cut off from the network shows as stale. */
  ok &= mh_schema_add_register (schema, "site", "heartbeat", N, "heartbeat_at", I, NULL);

  ok &= mh_schema_add_table (schema, "hospital", registry, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "hospital", "identity", N, "name", T, "address", T, "city",
                                T, "lat", R, "lon", R, NULL);
  ok &= mh_schema_add_register (schema, "hospital", "phones", N, "phone_switchboard", T,
                                "phone_emergency", T, NULL);
  ok &= mh_schema_add_register (schema, "hospital", "specialties", N, "specialties", T, NULL);
  ok &= mh_schema_add_register (schema, "hospital", "reporting", N, "report_interval_min", I, NULL);

  ok &= mh_schema_add_table (schema, "hospital_status", beds, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "hospital_status", "ems", H, "ems_traffic", T,
                                "ems_traffic_reason", T, NULL);
  ok &= mh_schema_add_register (schema, "hospital_status", "facility", H, "facility", T, NULL);
  ok &= mh_schema_add_register (schema, "hospital_status", "clinical", H, "clinical", T, NULL);
  ok &= mh_schema_add_register (schema, "hospital_status", "offload", H, "offload", T,
                                "offload_minutes", I, NULL);

  ok &= mh_schema_add_table (schema, "beds", beds, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "beds", "key", N, "hospital_id", T, "category", T, NULL);
  ok &= mh_schema_add_register (schema, "beds", "reported", H, "available", I, "baseline", I,
                                "surge_24h", I, "reported_at", I, "reported_by", T, NULL);
  ok &= mh_schema_add_register (schema, "beds", "committed", N, "committed_inbound", I, NULL);

  ok &= mh_schema_add_table (schema, "unit", registry, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "unit", "identity", N, "call_sign", T, "type", T, "agency",
                                T, "skills", T, NULL);
  ok &= mh_schema_add_register (schema, "unit", "status", N, "status", T, "status_at", I, NULL);
  /* Version 3: what the crew can do, from the documented list (docs/api.md,
   * dispatch), unlike the free-text "skills". */
  ok &= mh_schema_add_register (schema, "unit", "capabilities", N, "capabilities", T, NULL);

  ok &= mh_schema_add_table (schema, "unit_position", positions, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "unit_position", "position", N, "lat", R, "lon", R,
                                "accuracy_m", R, "at", I, NULL);

  ok &= mh_schema_add_table (schema, "patient", transfers, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "patient", "owner", H, "unit_id", T, NULL);
  ok &= mh_schema_add_register (schema, "patient", "atmist", H, "age_estimate", I, "sex", T,
                                "incident_at", I, "mechanism", T, "injuries", T, "signs", T,
                                "treatment", T, "complaint", T, "allergies", T, "medications", T,
                                NULL);
  ok &= mh_schema_add_register (schema, "patient", "triage", H, "triage", T, "alert", T, NULL);
  ok &= mh_schema_add_register (schema, "patient", "needs", N, "required_specialty", I,
                                "bed_category", T, NULL);
  /* Version 3: the incident the patient was picked up at. */
  ok &= mh_schema_add_register (schema, "patient", "incident", N, "incident_id", T, NULL);

  /* Insert-only: a GCS of 14, then 12, then 9 must all reach the hospital,
   * and a second dose must never overwrite the first. */
  ok &= mh_schema_add_table (schema, "observation", transfers, MH_TABLE_INSERT_ONLY, &error);
  ok &= mh_schema_add_register (schema, "observation", "row", N, "patient_id", T, "taken_at", I,
                                "author_site", T, "hr", I, "rr", I, "spo2", I, "sbp", I, "dbp", I,
                                "temp", R, "gcs", I, "glucose", R, NULL);

  ok &= mh_schema_add_table (schema, "intervention", transfers, MH_TABLE_INSERT_ONLY, &error);
  ok &= mh_schema_add_register (schema, "intervention", "row", N, "patient_id", T, "given_at", I,
                                "author_site", T, "drug", T, "dose", T, "route", T, "procedure", T,
                                NULL);

  ok &= mh_schema_add_table (schema, "transfer", transfers, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "transfer", "request", N, "patient_id", T, "unit_id", T,
                                "hospital_id", T, "bed_category", T, "specialty", I, "priority", T,
                                NULL);
  ok &= mh_schema_add_register (schema, "transfer", "eta", N, "eta", I, NULL);
  ok &= mh_schema_add_register (schema, "transfer", "crew", H, "crew_state", T, "crew_at", I,
                                "crew_by", T, NULL);
  ok &= mh_schema_add_register (schema, "transfer", "desk", H, "desk_state", T, "desk_reason", T,
                                "desk_at", I, "desk_by", T, NULL);

  ok &= mh_schema_add_table (schema, "message", chat, MH_TABLE_INSERT_ONLY, &error);
  ok &= mh_schema_add_register (schema, "message", "row", N, "channel", T, "author_site", T,
                                "author_name", T, "body", T, "sent", I, NULL);

  /* The fact of a retraction outlives the message, whose tombstone blanks
   * the body everywhere. */
  ok &= mh_schema_add_table (schema, "retraction", chat, MH_TABLE_INSERT_ONLY, &error);
  ok &= mh_schema_add_register (schema, "retraction", "row", N, "channel", T, "author_site", T,
                                "retracted_at", I, NULL);

  /* Delivery receipts: a hub or the destination's desk notes when a
   * transfer first reached it and when a person there first saw it. Row id
   * SITE/TRANSFER_ID; only that site writes it, so no register is ever
   * contended. */
  ok &= mh_schema_add_table (schema, "receipt", transfers, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "receipt", "key", N, "transfer_id", T, "author_site", T,
                                NULL);
  ok &= mh_schema_add_register (schema, "receipt", "received", N, "received_at", I, NULL);
  ok &= mh_schema_add_register (schema, "receipt", "seen", N, "seen_at", I, NULL);
  /* Version 3: dispatch. The report is its creator's and never changes;
   * the dispatch decision is a hub's; the answer is the assigned unit's
   * station's, naming that unit so that an answer to an earlier
   * assignment never counts for a later one. */
  ok &= mh_schema_add_table (schema, "incident", transfers, MH_TABLE_NONE, &error);
  ok &= mh_schema_add_register (schema, "incident", "report", N, "created_at", I, "lat", R,
                                "lon", R, "nature", T, "nature_text", T, "priority", T,
                                "skills", T, "created_by", T, NULL);
  ok &= mh_schema_add_register (schema, "incident", "dispatch", H, "dispatch_state", T,
                                "unit_id", T, "dispatch_at", I, "dispatch_by", T, NULL);
  ok &= mh_schema_add_register (schema, "incident", "answer", H, "answer", T, "answer_unit", T,
                                "answer_at", I, NULL);

  /* A node's own total; need to know compares it per hospital, on demand
   * (mh_medhead_hospital_digest()). */
  ok &= mh_schema_set_bucket (schema, "patient", MH_BUCKET_PATIENTS, FALSE);
  ok &= mh_schema_set_bucket (schema, "observation", MH_BUCKET_PATIENTS, FALSE);
  ok &= mh_schema_set_bucket (schema, "intervention", MH_BUCKET_PATIENTS, FALSE);
  ok &= mh_schema_set_bucket (schema, "transfer", MH_BUCKET_PATIENTS, FALSE);
  ok &= mh_schema_set_bucket (schema, "receipt", MH_BUCKET_PATIENTS, FALSE);

  /* A static declaration: failing here is a programming error. */
  if (!ok)
    g_error ("the MedHead schema is invalid: %s", error ? error->message : "see above");

  return g_steal_pointer (&schema);
}

/* mh-medhead-validate.c: types, ranges, enums, required fields and ownership
 *
 * The store calls mh_medhead_validate() for every local write (once per
 * register, with the whole new row) and for every remote change (with the
 * row as it would be after the change). Only the changed register's own
 * columns are checked: the others were checked when they were written, and
 * a remote register may arrive before the rest of its row.
 *
 * Invariant: the verdict on a remote change depends only on the change, the
 * row after it and registry rows every node ends up holding (site,
 * hospital, patient, message). Checks that need this node's own view of
 * the past (a hub writing for a hospital that has its own desk, a transfer
 * request being rewritten) run for local writes only: a refusal that
 * depends on arrival order would split the replicas for good.
 * Ownership that changes over time (a patient handed over, an incident's
 * dispatch) is judged remotely against the clock of what is known here: a
 * change newer than the owner or dispatch known here and not allowed by it
 * waits, parked; the final owner or dispatch, the same everywhere, either
 * allows it or is newer than it, so every node ends up applying it or not
 * (docs/security.md).
 *
 * With a network key, the writer's role is the one it was admitted with,
 * not the one its site row claims (bind_admitted_role()).
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "mh-medhead-validate.h"
#include "mh-trust.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

/* JSON numbers are exact up to 2^53: times in ms and clocks stay below. */
#define MAX_SAFE_INT 9007199254740991.0

typedef enum
{
  F_NAME,        /* short text on one line: names, phones, ids of people */
  F_TEXT,        /* free text, may span lines */
  F_ID,          /* a registry id (mh_medhead_id_is_valid) */
  F_ENUM,
  F_INT,
  F_REAL,
  F_SPECIALTIES, /* "17,21,54" */
  F_CHANNEL,
  F_CAPABILITIES, /* "als,paediatric", in the documented order */
} FieldKind;

typedef struct
{
  const char *table;
  const char *column;
  FieldKind kind;
  gboolean required;
  double min; /* numbers */
  double max; /* numbers; for text, the most characters */
  const char *const *values;
} FieldRule;

static const char *const roles[] = { "hospital", "ambulance", "hub", NULL };
static const char *const ems_traffic_values[] = { "normal", "advisory", "closed", "not_applicable",
                                                  NULL };
static const char *const facility_values[] = { "normal", "compromised", "evacuating", "closed",
                                               NULL };
static const char *const clinical_values[] = { "normal", "level1", "level2", "full", NULL };
static const char *const offload_values[] = { "normal", "delayed", NULL };
static const char *const bed_categories[] = {
  "adult_icu", "pediatric_icu", "medical_surgical", "pediatrics", "psychiatric", "burn",
  "negative_pressure_isolation", "other_isolation", "operating_rooms", NULL,
};
static const char *const unit_types[] = { "bls", "als", "micu", "air", NULL };
static const char *const unit_statuses[] = { "available", "dispatched", "en_route", "on_scene",
                                             "transporting", "at_hospital", "out_of_service",
                                             NULL };
static const char *const triage_values[] = { "immediate", "delayed", "minimal", "expectant", "dead",
                                             NULL };
static const char *const alert_values[] = { "stemi", "stroke", "sepsis", "trauma", "other", NULL };
static const char *const sex_values[] = { "male", "female", "other", "unknown", NULL };
static const char *const crew_states[] = { "announced", "en_route", "arrived", "cancelled", NULL };
static const char *const desk_states[] = { "pending", "acknowledged", "accepted", "diverted", NULL };
static const char *const priorities[] = { "immediate", "urgent", "routine", NULL };
/* The documented list (docs/api.md, dispatch), in its stored order. */
static const char *const capability_values[] = { "als", "bls", "paediatric", "bariatric",
                                                 "hazmat", "neonatal", "psychiatric", "air",
                                                 NULL };
static const char *const dispatch_states[] = { "open", "assigned", "closed", "cancelled", NULL };
static const char *const answer_values[] = { "accepted", "on_scene", "cleared", "declined", NULL };

#define NAME(t, c, req) { t, c, F_NAME, req, 0, MH_MAX_NAME_CHARS, NULL }
#define TEXT(t, c, req) { t, c, F_TEXT, req, 0, MH_MAX_TEXT_CHARS, NULL }
#define ID(t, c, req) { t, c, F_ID, req, 0, MH_MAX_ID_CHARS, NULL }
#define ENUM(t, c, req, v) { t, c, F_ENUM, req, 0, 0, v }
#define INT(t, c, req, lo, hi) { t, c, F_INT, req, lo, hi, NULL }
#define REAL(t, c, req, lo, hi) { t, c, F_REAL, req, lo, hi, NULL }
#define TIME(t, c, req) INT (t, c, req, 0, MAX_SAFE_INT)

static const FieldRule field_rules[] = {
  NAME ("site", "name", TRUE),
  ENUM ("site", "role", TRUE, roles),
  ID ("site", "hospital_id", FALSE),
  ID ("site", "unit_id", FALSE),
  TIME ("site", "heartbeat_at", FALSE),

  NAME ("hospital", "name", TRUE),
  TEXT ("hospital", "address", FALSE),
  NAME ("hospital", "city", FALSE),
  REAL ("hospital", "lat", TRUE, -90, 90),
  REAL ("hospital", "lon", TRUE, -180, 180),
  NAME ("hospital", "phone_switchboard", FALSE),
  NAME ("hospital", "phone_emergency", FALSE),
  { "hospital", "specialties", F_SPECIALTIES, FALSE, 0, 0, NULL },
  INT ("hospital", "report_interval_min", FALSE, 1, 7 * 24 * 60),

  ENUM ("hospital_status", "ems_traffic", FALSE, ems_traffic_values),
  TEXT ("hospital_status", "ems_traffic_reason", FALSE),
  ENUM ("hospital_status", "facility", FALSE, facility_values),
  ENUM ("hospital_status", "clinical", FALSE, clinical_values),
  ENUM ("hospital_status", "offload", FALSE, offload_values),
  INT ("hospital_status", "offload_minutes", FALSE, 1, 1440),

  ID ("beds", "hospital_id", TRUE),
  ENUM ("beds", "category", TRUE, bed_categories),
  INT ("beds", "available", FALSE, 0, MH_MAX_COUNT),
  INT ("beds", "baseline", FALSE, 0, MH_MAX_COUNT),
  INT ("beds", "surge_24h", FALSE, 0, MH_MAX_COUNT),
  TIME ("beds", "reported_at", FALSE),
  NAME ("beds", "reported_by", FALSE),
  INT ("beds", "committed_inbound", FALSE, 0, MH_MAX_COUNT),

  NAME ("unit", "call_sign", TRUE),
  ENUM ("unit", "type", TRUE, unit_types),
  NAME ("unit", "agency", FALSE),
  TEXT ("unit", "skills", FALSE),
  ENUM ("unit", "status", FALSE, unit_statuses),
  TIME ("unit", "status_at", FALSE),
  { "unit", "capabilities", F_CAPABILITIES, FALSE, 0, 0, NULL },

  REAL ("unit_position", "lat", TRUE, -90, 90),
  REAL ("unit_position", "lon", TRUE, -180, 180),
  REAL ("unit_position", "accuracy_m", FALSE, 0, MH_MAX_COUNT),
  TIME ("unit_position", "at", FALSE),

  ID ("patient", "unit_id", FALSE),
  INT ("patient", "age_estimate", FALSE, 0, 130),
  ENUM ("patient", "sex", FALSE, sex_values),
  TIME ("patient", "incident_at", FALSE),
  TEXT ("patient", "mechanism", FALSE),
  TEXT ("patient", "injuries", FALSE),
  TEXT ("patient", "signs", FALSE),
  TEXT ("patient", "treatment", FALSE),
  TEXT ("patient", "complaint", FALSE),
  TEXT ("patient", "allergies", FALSE),
  TEXT ("patient", "medications", FALSE),
  ENUM ("patient", "triage", FALSE, triage_values),
  ENUM ("patient", "alert", FALSE, alert_values),
  INT ("patient", "required_specialty", FALSE, 1, MH_MAX_SPECIALTY),
  ENUM ("patient", "bed_category", FALSE, bed_categories),
  ID ("patient", "incident_id", FALSE),

  ID ("observation", "patient_id", TRUE),
  TIME ("observation", "taken_at", TRUE),
  ID ("observation", "author_site", TRUE),
  INT ("observation", "hr", FALSE, 0, 300),
  INT ("observation", "rr", FALSE, 0, 80),
  INT ("observation", "spo2", FALSE, 0, 100),
  INT ("observation", "sbp", FALSE, 0, 300),
  INT ("observation", "dbp", FALSE, 0, 200),
  REAL ("observation", "temp", FALSE, 25, 45),
  INT ("observation", "gcs", FALSE, 3, 15),
  REAL ("observation", "glucose", FALSE, 0, 60),

  ID ("intervention", "patient_id", TRUE),
  TIME ("intervention", "given_at", TRUE),
  ID ("intervention", "author_site", TRUE),
  NAME ("intervention", "drug", FALSE),
  NAME ("intervention", "dose", FALSE),
  NAME ("intervention", "route", FALSE),
  TEXT ("intervention", "procedure", FALSE),

  ID ("transfer", "patient_id", TRUE),
  ID ("transfer", "unit_id", TRUE),
  ID ("transfer", "hospital_id", TRUE),
  ENUM ("transfer", "bed_category", TRUE, bed_categories),
  INT ("transfer", "specialty", FALSE, 1, MH_MAX_SPECIALTY),
  ENUM ("transfer", "priority", TRUE, priorities),
  INT ("transfer", "eta", FALSE, 1, MAX_SAFE_INT),
  ENUM ("transfer", "crew_state", TRUE, crew_states),
  TIME ("transfer", "crew_at", FALSE),
  NAME ("transfer", "crew_by", FALSE),
  ENUM ("transfer", "desk_state", TRUE, desk_states),
  TEXT ("transfer", "desk_reason", FALSE),
  TIME ("transfer", "desk_at", FALSE),
  NAME ("transfer", "desk_by", FALSE),

  { "message", "channel", F_CHANNEL, TRUE, 0, 0, NULL },
  ID ("message", "author_site", TRUE),
  NAME ("message", "author_name", FALSE),
  TEXT ("message", "body", TRUE),
  /* An HLC reading (milliseconds << 16): beyond JSON's exact 2^53. */
  INT ("message", "sent", TRUE, 1, 9.2e18),

  { "retraction", "channel", F_CHANNEL, TRUE, 0, 0, NULL },
  ID ("retraction", "author_site", TRUE),
  TIME ("retraction", "retracted_at", TRUE),

  TIME ("incident", "created_at", TRUE),
  REAL ("incident", "lat", TRUE, -90, 90),
  REAL ("incident", "lon", TRUE, -180, 180),
  ENUM ("incident", "nature", TRUE, alert_values),
  TEXT ("incident", "nature_text", FALSE),
  ENUM ("incident", "priority", TRUE, priorities),
  { "incident", "skills", F_CAPABILITIES, FALSE, 0, 0, NULL },
  ID ("incident", "created_by", TRUE),
  ENUM ("incident", "dispatch_state", FALSE, dispatch_states),
  ID ("incident", "unit_id", FALSE),
  TIME ("incident", "dispatch_at", FALSE),
  ID ("incident", "dispatch_by", FALSE),
  ENUM ("incident", "answer", FALSE, answer_values),
  ID ("incident", "answer_unit", FALSE),
  TIME ("incident", "answer_at", FALSE),

  ID ("receipt", "transfer_id", TRUE),
  ID ("receipt", "author_site", TRUE),
  TIME ("receipt", "received_at", FALSE),
  TIME ("receipt", "seen_at", FALSE),
};

struct _MhMedheadValidator
{
  sqlite3_stmt *site_by_id;
  sqlite3_stmt *hospital_has_site;
};

#define SITE_BY_ID_SQL "SELECT role, hospital_id, unit_id FROM site WHERE id = ?1"
#define HOSPITAL_HAS_SITE_SQL \
  "SELECT 1 FROM site WHERE hospital_id = ?1 AND role = 'hospital' LIMIT 1"

/* What is known of the writing site, from its registry row. */
typedef struct
{
  MhStore *store;
  MhMedheadValidator *cache; /* nullable */
  const MhChange *change;
  const MhRow *row;
  gboolean local;
  gboolean role_known;
  MhRole role;
  char *site_hospital;
  char *site_unit;
} Check;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static MhVerdict verdict_with (char **reason, MhVerdict verdict, const char *prefix,
                               const char *format, ...) G_GNUC_PRINTF (4, 5);

/* @prefix stays English (mh-node.c maps it to an error code); the text
 * after it is translated: it reaches the app and `status`. */
static MhVerdict
verdict_with (char **reason, MhVerdict verdict, const char *prefix, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_free (*reason);
  *reason = g_strconcat (prefix, text, NULL);
  return verdict;
}

#define forbid(reason, ...) \
  verdict_with (reason, MH_VERDICT_REJECT, MH_REASON_FORBIDDEN, __VA_ARGS__)
#define invalid(reason, ...) \
  verdict_with (reason, MH_VERDICT_REJECT, MH_REASON_INVALID, __VA_ARGS__)
#define wait_for(reason, ...) \
  verdict_with (reason, MH_VERDICT_PARK, MH_REASON_WAITING, __VA_ARGS__)

static char *
enum_list (const char *const *values)
{
  g_autoptr(GString) text = g_string_new (NULL);

  for (guint i = 0; values[i] != NULL; i++)
    g_string_append_printf (text, "%s%s", i ? ", " : "", values[i]);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static const FieldRule *
lookup_rule (const char *table, const char *column)
{
  for (gsize i = 0; i < G_N_ELEMENTS (field_rules); i++)
    if (strcmp (field_rules[i].table, table) == 0 && strcmp (field_rules[i].column, column) == 0)
      return &field_rules[i];
  return NULL;
}

/* Splits "PREFIX/REST" at its first '/'. */
static gboolean
split_id (const char *id, char **prefix, const char **rest)
{
  const char *slash = strchr (id, '/');

  if (slash == NULL || slash == id || slash[1] == '\0')
    return FALSE;
  *prefix = g_strndup (id, slash - id);
  *rest = slash + 1;
  return TRUE;
}

static const char *
text_problem (const char *text, double max_chars, gboolean multiline)
{
  if (!g_utf8_validate (text, -1, NULL))
    return _("is not valid UTF-8");
  if ((double) g_utf8_strlen (text, -1) > max_chars)
    return multiline ? _("is longer than 4000 characters") : _("is longer than 200 characters");
  for (const char *p = text; *p; p++)
    {
      guchar c = (guchar) *p;
      if ((c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) || c == 0x7f)
        return _("contains control characters");
    }
  return NULL;
}

/* @lenient_enums: the change comes from a newer schema, which may have
 * added enum values: they are stored and relayed as they are (DESIGN.md
 * section 4, versions), and the domain shows them as unknown. */
static MhVerdict
check_field (const FieldRule *rule, const MhRow *row, gboolean lenient_enums, char **reason)
{
  const char *column = rule->column;
  const char *text;

  if (mh_row_is_null (row, column))
    {
      if (rule->required)
        return invalid (reason, _("%s: required"), column);
      return MH_VERDICT_ACCEPT;
    }

  switch (rule->kind)
    {
    case F_NAME:
    case F_TEXT:
      {
        const char *problem;

        text = mh_row_get_string (row, column);
        if (text == NULL)
          return invalid (reason, _("%s: must be text"), column);
        if (rule->required && *text == '\0')
          return invalid (reason, _("%s: required"), column);
        problem = text_problem (text, rule->max, rule->kind == F_TEXT);
        if (problem != NULL)
          return invalid (reason, "%s: %s", column, problem);
      }
      break;

    case F_ID:
      text = mh_row_get_string (row, column);
      if (text == NULL || !mh_medhead_id_is_valid (text))
        return invalid (reason, _("%s: not a valid id"), column);
      break;

    case F_ENUM:
      text = mh_row_get_string (row, column);
      if (text != NULL && lenient_enums)
        {
          const char *problem = text_problem (text, MH_MAX_NAME_CHARS, FALSE);
          if (problem != NULL)
            return invalid (reason, "%s: %s", column, problem);
          break;
        }
      if (text == NULL || !mh_medhead_enum_contains (rule->values, text))
        {
          g_autofree char *list = enum_list (rule->values);
          return invalid (reason, _("%s: must be one of %s"), column, list);
        }
      break;

    case F_INT:
      {
        gint64 value = mh_row_get_int (row, column);

        if ((double) value < rule->min || (double) value > rule->max)
          return invalid (reason, _("%s: must be between %.0f and %.0f"), column, rule->min,
                          rule->max);
      }
      break;

    case F_REAL:
      {
        double value = mh_row_get_double (row, column);

        if (!isfinite (value) || value < rule->min || value > rule->max)
          return invalid (reason, _("%s: must be between %g and %g"), column, rule->min, rule->max);
      }
      break;

    case F_SPECIALTIES:
      {
        g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint));
        g_autofree char *why = NULL;

        text = mh_row_get_string (row, column);
        if (text == NULL || !mh_medhead_parse_specialties (text, ids, &why))
          return invalid (reason, "%s: %s", column, why ? why : _("must be text"));
      }
      break;

    case F_CAPABILITIES:
      {
        g_autofree char *why = NULL;

        text = mh_row_get_string (row, column);
        /* A newer schema may know more capabilities. */
        if (text != NULL && lenient_enums)
          {
            const char *problem = text_problem (text, MH_MAX_NAME_CHARS, FALSE);
            if (problem != NULL)
              return invalid (reason, "%s: %s", column, problem);
            break;
          }
        if (text == NULL || !mh_medhead_parse_capabilities (text, NULL, &why))
          return invalid (reason, "%s: %s", column, why ? why : _("must be text"));
      }
      break;

    case F_CHANNEL:
      text = mh_row_get_string (row, column);
      if (text == NULL || !mh_medhead_channel_is_valid (text))
        return invalid (reason, _("%s: must be broadcast, hospital:ID or transfer:ID"), column);
      break;

    default:
      g_assert_not_reached ();
    }
  return MH_VERDICT_ACCEPT;
}

static gboolean
from_newer_schema (Check *c)
{
  return !c->local
         && c->change->schema_version > mh_schema_get_version (mh_store_get_schema (c->store));
}

/* Checks every column of the changed register against its rule. */
static MhVerdict
check_register_fields (Check *c, char **reason)
{
  MhSchema *schema = mh_store_get_schema (c->store);
  const MhTableDef *table = mh_schema_lookup_table (schema, c->change->table);
  const MhRegisterDef *reg = mh_table_def_lookup_register (table, c->change->reg, NULL);

  /* The store refuses unknown registers before asking. */
  g_assert (reg != NULL);
  for (guint i = 0; i < reg->n_columns; i++)
    {
      const MhColumnDef *column = g_ptr_array_index (table->columns, reg->first_column + i);
      const FieldRule *rule = lookup_rule (table->name, column->name);
      MhVerdict verdict;

      if (rule == NULL)
        return invalid (reason, _("%s: no rule for this field"), column->name);
      verdict = check_field (rule, c->row, from_newer_schema (c), reason);
      if (verdict != MH_VERDICT_ACCEPT)
        return verdict;
    }
  return MH_VERDICT_ACCEPT;
}

static gboolean
hospital_has_site (MhStore *store, MhMedheadValidator *cache, const char *hospital_id)
{
  sqlite3_stmt *stmt;
  gboolean found;

  if (cache == NULL)
    return mh_medhead_hospital_has_site (store, hospital_id);
  if (hospital_id == NULL)
    return FALSE;
  stmt = cache->hospital_has_site;
  sqlite3_bind_text (stmt, 1, hospital_id, -1, SQLITE_STATIC);
  found = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  return found;
}

static gboolean
register_is (Check *c, const char *reg)
{
  return g_strcmp0 (c->change->reg, reg) == 0;
}

static gboolean
is_hub (Check *c)
{
  return c->role_known && c->role == MH_ROLE_HUB;
}

static gboolean
is_hospital_site_of (Check *c, const char *hospital_id)
{
  return c->role_known && c->role == MH_ROLE_HOSPITAL && hospital_id != NULL
         && g_strcmp0 (c->site_hospital, hospital_id) == 0;
}

static gboolean
is_unit_site_of (Check *c, const char *unit_id)
{
  return c->role_known && c->role == MH_ROLE_AMBULANCE && unit_id != NULL
         && g_strcmp0 (c->site_unit, unit_id) == 0;
}

static MhVerdict
check_row_id (Check *c, char **reason)
{
  if (!mh_medhead_id_is_valid (c->change->row))
    return invalid (reason, _("id: not a valid %s id"), c->change->table);
  return MH_VERDICT_ACCEPT;
}

static MhVerdict
require_row (Check *c, const char *table, const char *id, const char *what, char **reason)
{
  if (mh_store_get_row_state (c->store, table, id) == MH_ROW_ABSENT)
    return wait_for (reason, _("%s %s is not known here yet"), what, id);
  return MH_VERDICT_ACCEPT;
}

/* ------------------------------------------------------------------------ */
/* The writing site                                                         */

static MhVerdict
lookup_origin (Check *c, char **reason)
{
  const char *origin = c->change->origin;
  g_autoptr(GVariant) site = NULL;
  const char *role = NULL;

  /* A site announces itself: its own registry row is the one write that
   * needs no registry row first. */
  if (c->change->kind == MH_CHANGE_SET && strcmp (c->change->table, "site") == 0
      && strcmp (c->change->row, origin) == 0)
    {
      c->role_known = mh_role_from_string (mh_row_get_string (c->row, "role"), &c->role);
      c->site_hospital = g_strdup (mh_row_get_string (c->row, "hospital_id"));
      c->site_unit = g_strdup (mh_row_get_string (c->row, "unit_id"));
      return MH_VERDICT_ACCEPT;
    }

  if (c->cache != NULL)
    {
      /* Read straight from the table: this runs for every change. */
      sqlite3_stmt *stmt = c->cache->site_by_id;
      gboolean found;

      sqlite3_bind_text (stmt, 1, origin, -1, SQLITE_STATIC);
      found = sqlite3_step (stmt) == SQLITE_ROW;
      if (found)
        {
          c->role_known = mh_role_from_string ((const char *) sqlite3_column_text (stmt, 0),
                                               &c->role);
          c->site_hospital = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
          c->site_unit = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
        }
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      if (found)
        goto known;
    }
  else if ((site = mh_store_get_row (c->store, "site", origin)) != NULL)
    {
      g_variant_lookup (site, "role", "&s", &role);
      g_variant_lookup (site, "hospital_id", "s", &c->site_hospital);
      g_variant_lookup (site, "unit_id", "s", &c->site_unit);
      c->role_known = mh_role_from_string (role, &c->role);
      goto known;
    }
  if (mh_store_get_row_state (c->store, "site", origin) == MH_ROW_DELETED)
    return forbid (reason, _("site %s was removed from the registry"), origin);
  return wait_for (reason, _("site %s is not in the registry yet"), origin);

known:
  if (!c->role_known)
    return forbid (reason, _("site %s has no valid role"), origin);
  return MH_VERDICT_ACCEPT;
}

/* With a network key, the role that grants anything is the one the site
 * was admitted with (docs/trust.md): its site row only claims one. A
 * change from a site with no admission here waits for it (admissions come
 * in trust frames, ahead of changes on a link, but a relay may be quicker);
 * this node's own writes before its admission is imported keep the claimed
 * role, and its peers hold them back until then. */
static MhVerdict
bind_admitted_role (Check *c, char **reason)
{
  MhTrust *trust = mh_trust_from_store (c->store);
  const char *admitted;
  MhRole role;

  if (trust == NULL)
    return MH_VERDICT_ACCEPT;
  admitted = mh_trust_get_role (trust, c->change->origin);
  if (admitted == NULL || !mh_role_from_string (admitted, &role))
    {
      if (c->local)
        return MH_VERDICT_ACCEPT;
      return wait_for (reason, _("site %s has no admission to this network here yet"),
                       c->change->origin);
    }
  c->role = role;
  c->role_known = TRUE;
  return MH_VERDICT_ACCEPT;
}

/* The role a site row claims must be the one its site was admitted with,
 * whoever writes it: peers read roles from site rows too (lists, "has its
 * own site"). */
static MhVerdict
check_site_role_admitted (Check *c, char **reason)
{
  MhTrust *trust = mh_trust_from_store (c->store);
  const char *claimed = mh_row_get_string (c->row, "role");
  const char *admitted;

  if (trust == NULL || !register_is (c, "info") || claimed == NULL)
    return MH_VERDICT_ACCEPT;
  admitted = mh_trust_get_role (trust, c->change->row);
  if (admitted == NULL)
    {
      if (c->local)
        return MH_VERDICT_ACCEPT;
      return wait_for (reason, _("site %s has no admission to this network here yet"),
                       c->change->row);
    }
  if (strcmp (admitted, claimed) != 0)
    return forbid (reason, _("role: site %s is admitted as %s, not %s"), c->change->row, admitted,
                   claimed);
  return MH_VERDICT_ACCEPT;
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */

static MhVerdict
check_site (Check *c, char **reason)
{
  MhVerdict verdict;

  if (strcmp (c->change->row, c->change->origin) != 0 && !is_hub (c))
    return forbid (reason, _("a site's registry entry is written by the site itself or a hub"));
  /* Nobody vouches for a site's liveness but the site. */
  if (strcmp (c->change->reg, "heartbeat") == 0 && strcmp (c->change->row, c->change->origin) != 0
      && !mh_row_is_null (c->row, "heartbeat_at"))
    return forbid (reason, _("a site's heartbeat is written by the site itself"));
  if ((verdict = check_row_id (c, reason)) != MH_VERDICT_ACCEPT
      || (verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;
  return check_site_role_admitted (c, reason);
}

static MhVerdict
check_hospital (Check *c, char **reason)
{
  MhVerdict verdict;

  if (!is_hub (c) && !is_hospital_site_of (c, c->change->row))
    return forbid (reason, _("only a hub or the hospital's own sites write hospital %s"),
                   c->change->row);
  if ((verdict = check_row_id (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;
  return check_register_fields (c, reason);
}

/* Beds and statuses: the hospital's own sites, or a hub typing in counts
 * phoned in by a hospital that has no site of its own. */
static MhVerdict
check_hospital_side (Check *c, const char *hospital_id, char **reason)
{
  if (!is_hub (c) && !is_hospital_site_of (c, hospital_id))
    return forbid (reason, _("only hospital %s's own sites or a hub report its beds and status"),
                   hospital_id);
  if (c->local && is_hub (c) && hospital_has_site (c->store, c->cache, hospital_id))
    return forbid (reason, _("a hospital with its own site reports its own beds and status "
                             "(hospital %s)"), hospital_id);
  return MH_VERDICT_ACCEPT;
}

static MhVerdict
check_hospital_status (Check *c, char **reason)
{
  MhVerdict verdict;

  if ((verdict = check_hospital_side (c, c->change->row, reason)) != MH_VERDICT_ACCEPT
      || (verdict = check_row_id (c, reason)) != MH_VERDICT_ACCEPT
      || (verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;

  if (register_is (c, "ems"))
    {
      const char *traffic = mh_row_get_string (c->row, "ems_traffic");
      const char *why = mh_row_get_string (c->row, "ems_traffic_reason");

      if ((g_strcmp0 (traffic, "advisory") == 0 || g_strcmp0 (traffic, "closed") == 0)
          && (why == NULL || *why == '\0'))
        return invalid (reason, _("ems_traffic_reason: required when ems_traffic is advisory or "
                                  "closed"));
    }
  if (register_is (c, "offload") && g_strcmp0 (mh_row_get_string (c->row, "offload"), "delayed") == 0
      && mh_row_is_null (c->row, "offload_minutes"))
    return invalid (reason, _("offload_minutes: required when offload is delayed"));

  return require_row (c, "hospital", c->change->row, "hospital", reason);
}

static MhVerdict
check_beds (Check *c, char **reason)
{
  g_autofree char *hospital_id = NULL;
  const char *category;
  MhVerdict verdict;

  if (!split_id (c->change->row, &hospital_id, &category) || !mh_medhead_id_is_valid (hospital_id))
    return invalid (reason, _("id: a beds row id is HOSPITAL_ID/CATEGORY"));
  if (!mh_medhead_is_bed_category (category)
      && !(from_newer_schema (c) && mh_medhead_id_is_valid (category)))
    {
      g_autofree char *list = enum_list (bed_categories);
      return invalid (reason, _("category: must be one of %s"), list);
    }
  if ((verdict = check_hospital_side (c, hospital_id, reason)) != MH_VERDICT_ACCEPT
      || (verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;

  if (register_is (c, "key"))
    {
      if (g_strcmp0 (mh_row_get_string (c->row, "hospital_id"), hospital_id) != 0)
        return invalid (reason, _("hospital_id: does not match the row id"));
      if (g_strcmp0 (mh_row_get_string (c->row, "category"), category) != 0)
        return invalid (reason, _("category: does not match the row id"));
    }

  return require_row (c, "hospital", hospital_id, "hospital", reason);
}

/* A hub re-importing a registry file writes what the unit already says. */
static gboolean
capabilities_unchanged (Check *c)
{
  g_autoptr(GVariant) stored = mh_store_get_row (c->store, "unit", c->change->row);
  const char *before = NULL;

  if (stored != NULL)
    g_variant_lookup (stored, "capabilities", "&s", &before);
  return g_strcmp0 (before, mh_row_get_string (c->row, "capabilities")) == 0;
}

static MhVerdict
check_unit (Check *c, char **reason)
{
  MhVerdict verdict;

  if (!is_hub (c) && !is_unit_site_of (c, c->change->row))
    return forbid (reason, _("only a hub or the unit's own site writes unit %s"), c->change->row);
  /* As with beds: a hub types in what a unit with no station of its own
   * phoned in; a unit with a station declares its own capabilities. */
  if (c->local && is_hub (c) && register_is (c, "capabilities")
      && strcmp (c->change->table, "unit") == 0
      && mh_medhead_unit_has_site (c->store, c->change->row)
      && !capabilities_unchanged (c))
    return forbid (reason, _("a unit with its own station declares its own capabilities "
                             "(unit %s)"), c->change->row);
  if ((verdict = check_row_id (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;
  return check_register_fields (c, reason);
}

/* Incidents: the report is its creator's (a hub, or a crew on scene), the
 * dispatch decision a hub's, the answer the assigned unit's station's.
 * Whether an answer is for the current assignment depends on arrival
 * order, so remote answers are held to their own unit only; readers count
 * an answer only when its unit is the assigned one. */
static MhVerdict
check_incident (Check *c, char **reason)
{
  MhVerdict verdict;

  if ((verdict = check_row_id (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;

  if (register_is (c, "report"))
    {
      if (!is_hub (c) && !(c->role_known && c->role == MH_ROLE_AMBULANCE))
        return forbid (reason, _("only a hub or an ambulance crew reports an incident"));
      if ((verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
        return verdict;
      if (g_strcmp0 (mh_row_get_string (c->row, "created_by"), c->change->origin) != 0)
        return forbid (reason, _("created_by: a site reports incidents under its own name only"));
      if (c->local)
        {
          g_autoptr(GVariant) stored = mh_store_get_row (c->store, "incident", c->change->row);
          const char *before = NULL;

          if (stored != NULL && g_variant_lookup (stored, "created_by", "&s", &before)
              && before != NULL)
            return forbid (reason, _("an incident's report never changes"));
        }
      return MH_VERDICT_ACCEPT;
    }

  /* A new row carries its other registers empty: nothing decided yet. */
  if (register_is (c, "dispatch") && mh_row_is_null (c->row, "dispatch_state")
      && mh_row_is_null (c->row, "unit_id") && mh_row_is_null (c->row, "dispatch_at")
      && mh_row_is_null (c->row, "dispatch_by"))
    return MH_VERDICT_ACCEPT;
  if (register_is (c, "answer") && mh_row_is_null (c->row, "answer")
      && mh_row_is_null (c->row, "answer_unit") && mh_row_is_null (c->row, "answer_at"))
    return MH_VERDICT_ACCEPT;

  if (register_is (c, "dispatch"))
    {
      if (!is_hub (c))
        return forbid (reason, _("only a hub dispatches units to an incident"));
      if ((verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
        return verdict;
      if (mh_row_is_null (c->row, "dispatch_state"))
        return invalid (reason, _("dispatch_state: required"));
      if (g_strcmp0 (mh_row_get_string (c->row, "dispatch_state"), "assigned") == 0
          && mh_row_is_null (c->row, "unit_id"))
        return invalid (reason, _("unit_id: required when assigned"));
      return MH_VERDICT_ACCEPT;
    }

  if (register_is (c, "answer"))
    {
      const char *unit_id;

      if ((verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
        return verdict;
      if (mh_row_is_null (c->row, "answer"))
        return invalid (reason, _("answer: required"));
      if (mh_row_is_null (c->row, "answer_unit"))
        return invalid (reason, _("answer_unit: required"));
      unit_id = mh_row_get_string (c->row, "answer_unit");
      if (!is_unit_site_of (c, unit_id))
        return forbid (reason, _("a unit's station answers for its own unit only"));
      if (c->local && g_strcmp0 (mh_row_get_string (c->row, "unit_id"), unit_id) != 0)
        return forbid (reason, _("only the assigned unit's station answers an incident"));
      if (!c->local)
        {
          /* From a peer: held to the dispatch known here when it is older
           * than the answer; an answer older than that dispatch is kept
           * (readers count it only for the assigned unit). */
          MhHlc dispatched = mh_store_get_register_hlc (c->store, "incident", c->change->row,
                                                        "dispatch");

          if (dispatched == 0)
            return wait_for (reason, _("the dispatch of incident %s is not known here yet"),
                             c->change->row);
          /* The dispatch to this unit may arrive after its answer. */
          if (dispatched < c->change->hlc
              && g_strcmp0 (mh_row_get_string (c->row, "unit_id"), unit_id) != 0)
            return wait_for (reason, _("the dispatch of incident %s to unit %s is not known "
                                       "here yet"), c->change->row, unit_id);
        }
      return MH_VERDICT_ACCEPT;
    }
  return forbid (reason, _("incident register %s is not writable"), c->change->reg);
}

/* A crew's change to a patient from a peer. Which unit owned the record
 * when the change was made is known here only as the owner register's
 * latest value and clock (older values are not kept reliably), so:
 * - a change newer than that owner is held to it, as a local write is,
 *   and waits (parked) while it is not: the handover to its writer may
 *   arrive after it;
 * - an older one is held to the role (what owned it then is not known);
 * - a handover by a unit that is not the owner known here is accepted
 *   only when it hands the record to another unit: a node that missed a
 *   handover while offline must still take the next one, but no crew
 *   takes a record for itself;
 * - without an owner here yet, the change waits for it (a handover, or
 *   the creation by the crew that owns it, needs nothing). */
static MhVerdict
check_patient_remote (Check *c, char **reason)
{
  g_autoptr(GVariant) stored = mh_store_get_row (c->store, "patient", c->change->row);
  MhHlc owned_since = mh_store_get_register_hlc (c->store, "patient", c->change->row, "owner");
  const char *owner = NULL;

  if (stored != NULL)
    g_variant_lookup (stored, "unit_id", "&s", &owner);

  if (register_is (c, "owner"))
    {
      const char *next = mh_row_get_string (c->row, "unit_id");

      if (owned_since == 0 || owned_since >= c->change->hlc || is_unit_site_of (c, owner))
        return MH_VERDICT_ACCEPT;
      if (next == NULL || is_unit_site_of (c, next))
        return forbid (reason, _("only the crew of the patient's own unit hands its record over"));
      return MH_VERDICT_ACCEPT;
    }
  if (owned_since == 0)
    return wait_for (reason, _("the owner of patient %s is not known here yet"), c->change->row);
  /* The handover to the writer may still be on its way: wait for it. */
  if (owned_since < c->change->hlc && !is_unit_site_of (c, owner))
    return wait_for (reason, _("the handover of patient %s to the writer is not known here yet"),
                     c->change->row);
  return MH_VERDICT_ACCEPT;
}

static MhVerdict
check_patient (Check *c, char **reason)
{
  MhVerdict verdict;

  if (!is_hub (c) && !(c->role_known && c->role == MH_ROLE_AMBULANCE))
    return forbid (reason, _("only an ambulance crew or a hub writes a patient record"));
  if ((verdict = check_row_id (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;
  if ((verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;

  /* The owning unit's crew writes the record, and hands it over by writing
   * the new owner. */
  if (!c->local && !is_hub (c))
    return check_patient_remote (c, reason);
  if (c->local && !is_hub (c))
    {
      g_autoptr(GVariant) stored = mh_store_get_row (c->store, "patient", c->change->row);
      const char *owner = NULL;

      if (stored != NULL)
        g_variant_lookup (stored, "unit_id", "&s", &owner);
      else
        owner = mh_row_get_string (c->row, "unit_id");
      if (owner == NULL || !is_unit_site_of (c, owner))
        return forbid (reason, _("only the crew of the patient's own unit writes its record"));
    }
  return MH_VERDICT_ACCEPT;
}

/* Observations and interventions: anyone who treats the patient adds
 * them, under its own name; nobody rewrites them. */
static MhVerdict
check_patient_entry (Check *c, char **reason)
{
  g_autofree char *patient_id = NULL;
  const char *rest;
  MhVerdict verdict;

  if (!split_id (c->change->row, &patient_id, &rest) || !mh_medhead_id_is_valid (patient_id)
      || !mh_medhead_id_is_valid (rest))
    return invalid (reason, _("id: an %s id is PATIENT_ID/ID"), c->change->table);
  if (g_strcmp0 (mh_row_get_string (c->row, "author_site"), c->change->origin) != 0)
    return forbid (reason, _("author_site: a site adds %ss under its own name only"),
                   c->change->table);
  if ((verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;
  if (g_strcmp0 (mh_row_get_string (c->row, "patient_id"), patient_id) != 0)
    return invalid (reason, _("patient_id: does not match the row id"));
  if (strcmp (c->change->table, "intervention") == 0 && mh_row_is_null (c->row, "drug")
      && mh_row_is_null (c->row, "procedure"))
    return invalid (reason, _("drug: a drug or a procedure is required"));

  return require_row (c, "patient", patient_id, "patient", reason);
}

static gboolean
desk_register_is_empty (const MhRow *row)
{
  return mh_row_is_null (row, "desk_state") && mh_row_is_null (row, "desk_reason")
         && mh_row_is_null (row, "desk_at") && mh_row_is_null (row, "desk_by");
}

static MhVerdict
check_request_unchanged (Check *c, char **reason)
{
  static const char *const columns[] = { "patient_id", "unit_id", "hospital_id", "bed_category",
                                         "specialty", "priority" };
  g_autoptr(GVariant) stored = mh_store_get_row (c->store, "transfer", c->change->row);

  if (stored == NULL)
    return MH_VERDICT_ACCEPT;
  for (gsize i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      g_autoptr(GVariant) before = g_variant_lookup_value (stored, columns[i], NULL);
      gboolean same;

      if (before == NULL)
        same = mh_row_is_null (c->row, columns[i]);
      else if (g_variant_is_of_type (before, G_VARIANT_TYPE_STRING))
        same = g_strcmp0 (g_variant_get_string (before, NULL),
                          mh_row_get_string (c->row, columns[i])) == 0;
      else
        same = !mh_row_is_null (c->row, columns[i])
               && g_variant_get_int64 (before) == mh_row_get_int (c->row, columns[i]);
      if (!same)
        return forbid (reason, _("%s: a transfer's request never changes; a redirect is a new "
                                 "transfer"), columns[i]);
    }
  return MH_VERDICT_ACCEPT;
}

/* After a handover the unit that holds the patient now reports the
 * transfer's progress, as the unit that announced it did before. */
static gboolean
crew_holds_patient (Check *c, const char *patient_id)
{
  g_autoptr(GVariant) patient = NULL;
  const char *unit = NULL;

  if (!c->role_known || c->role != MH_ROLE_AMBULANCE || c->site_unit == NULL || patient_id == NULL)
    return FALSE;
  patient = mh_store_get_row (c->store, "patient", patient_id);
  return patient != NULL && g_variant_lookup (patient, "unit_id", "&s", &unit)
         && g_strcmp0 (unit, c->site_unit) == 0;
}

static MhVerdict
check_transfer (Check *c, char **reason)
{
  const char *hospital_id, *unit_id, *patient_id;
  gboolean desk_side;
  MhVerdict verdict;

  if ((verdict = check_row_id (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;

  if (register_is (c, "request"))
    {
      /* Required fields first: ownership is read from them. */
      if ((verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
        return verdict;
    }
  else if (mh_row_is_null (c->row, "patient_id") || mh_row_is_null (c->row, "unit_id")
           || mh_row_is_null (c->row, "hospital_id"))
    return wait_for (reason, _("the request of transfer %s is not known here yet"), c->change->row);

  patient_id = mh_row_get_string (c->row, "patient_id");
  unit_id = mh_row_get_string (c->row, "unit_id");
  hospital_id = mh_row_get_string (c->row, "hospital_id");
  desk_side = register_is (c, "desk");

  if (!mh_medhead_may_write_transfer_side (c->role_known ? c->role : (MhRole) -1,
                                           c->site_hospital, c->site_unit, hospital_id, unit_id,
                                           desk_side)
      && !(!desk_side && crew_holds_patient (c, patient_id)))
    {
      /* The crew creates the row whole, with the desk's side still empty. */
      if (!(desk_side && desk_register_is_empty (c->row)
            && mh_medhead_may_write_transfer_side (c->role_known ? c->role : (MhRole) -1,
                                                   c->site_hospital, c->site_unit, hospital_id,
                                                   unit_id, FALSE)))
        return forbid (reason, "%s",
                       desk_side ? _("only the destination hospital's sites or a hub answer a "
                                     "transfer")
                                 : _("only the transfer's crew or a hub write its request and "
                                     "progress"));
    }

  if (!register_is (c, "request"))
    {
      if (!(desk_side && desk_register_is_empty (c->row))
          && (verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
        return verdict;
    }
  else if (c->local && (verdict = check_request_unchanged (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;

  if (desk_side && g_strcmp0 (mh_row_get_string (c->row, "desk_state"), "diverted") == 0)
    {
      const char *why = mh_row_get_string (c->row, "desk_reason");
      if (why == NULL || *why == '\0')
        return invalid (reason, _("desk_reason: required when diverting"));
    }

  if ((verdict = require_row (c, "patient", patient_id, "patient", reason)) != MH_VERDICT_ACCEPT)
    return verdict;
  return require_row (c, "hospital", hospital_id, "hospital", reason);
}

static MhVerdict
check_chat (Check *c, char **reason)
{
  g_autofree char *author = NULL;
  const char *rest;
  MhVerdict verdict;

  if (!split_id (c->change->row, &author, &rest) || !mh_medhead_id_is_valid (rest))
    return invalid (reason, _("id: a %s id is AUTHOR_SITE/ID"), c->change->table);
  if (strcmp (author, c->change->origin) != 0
      || g_strcmp0 (mh_row_get_string (c->row, "author_site"), c->change->origin) != 0)
    return forbid (reason, _("a site writes %ss under its own name only"), c->change->table);
  if ((verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;

  if (strcmp (c->change->table, "retraction") == 0)
    {
      g_autoptr(GVariant) message = NULL;
      const char *message_author = NULL;

      switch (mh_store_get_row_state (c->store, "message", c->change->row))
        {
        case MH_ROW_ABSENT:
          return wait_for (reason, _("the retracted message is not known here yet"));
        case MH_ROW_DELETED:
          return MH_VERDICT_ACCEPT;
        case MH_ROW_LIVE:
        default:
          break;
        }
      message = mh_store_get_row (c->store, "message", c->change->row);
      if (message != NULL)
        g_variant_lookup (message, "author_site", "&s", &message_author);
      if (g_strcmp0 (message_author, c->change->origin) != 0)
        return forbid (reason, _("only its author retracts a message"));
    }
  return MH_VERDICT_ACCEPT;
}

/* A receipt says where a transfer has reached: only that site says so. */
static MhVerdict
check_receipt (Check *c, char **reason)
{
  g_autofree char *author = NULL;
  const char *transfer_id;
  MhVerdict verdict;

  if (!split_id (c->change->row, &author, &transfer_id) || !mh_medhead_id_is_valid (transfer_id))
    return invalid (reason, _("id: a receipt id is SITE/TRANSFER_ID"));
  if (strcmp (author, c->change->origin) != 0
      || g_strcmp0 (mh_row_get_string (c->row, "author_site"), c->change->origin) != 0)
    return forbid (reason, _("a site writes its own receipts only"));
  if ((verdict = check_register_fields (c, reason)) != MH_VERDICT_ACCEPT)
    return verdict;
  if (g_strcmp0 (mh_row_get_string (c->row, "transfer_id"), transfer_id) != 0)
    return invalid (reason, _("transfer_id: does not match the row id"));
  return require_row (c, "transfer", transfer_id, "transfer", reason);
}

static MhVerdict
check_set (Check *c, char **reason)
{
  const char *table = c->change->table;

  if (strcmp (table, "site") == 0)
    return check_site (c, reason);
  if (strcmp (table, "hospital") == 0)
    return check_hospital (c, reason);
  if (strcmp (table, "hospital_status") == 0)
    return check_hospital_status (c, reason);
  if (strcmp (table, "beds") == 0)
    return check_beds (c, reason);
  if (strcmp (table, "unit") == 0 || strcmp (table, "unit_position") == 0)
    return check_unit (c, reason);
  if (strcmp (table, "patient") == 0)
    return check_patient (c, reason);
  if (strcmp (table, "observation") == 0 || strcmp (table, "intervention") == 0)
    return check_patient_entry (c, reason);
  if (strcmp (table, "transfer") == 0)
    return check_transfer (c, reason);
  if (strcmp (table, "message") == 0 || strcmp (table, "retraction") == 0)
    return check_chat (c, reason);
  if (strcmp (table, "receipt") == 0)
    return check_receipt (c, reason);
  if (strcmp (table, "incident") == 0)
    return check_incident (c, reason);
  return forbid (reason, _("table %s is not writable"), table);
}

/* Deletions are decided from the row id and the registry alone: the row
 * itself may not have arrived yet on some nodes. */
static MhVerdict
check_delete (Check *c, char **reason)
{
  const char *table = c->change->table;

  if (strcmp (table, "message") == 0)
    {
      g_autofree char *author = NULL;
      const char *rest;

      if (split_id (c->change->row, &author, &rest) && strcmp (author, c->change->origin) == 0)
        return MH_VERDICT_ACCEPT;
      return forbid (reason, _("only its author retracts a message"));
    }
  if (strcmp (table, "site") == 0 && strcmp (c->change->row, c->change->origin) == 0)
    return MH_VERDICT_ACCEPT;
  if (is_hub (c))
    return MH_VERDICT_ACCEPT;
  return forbid (reason, _("only a hub deletes %s rows"), table);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

/**
 * mh_medhead_validate:
 *
 * The MhValidateFunc of a MedHead store. See the file comment.
 */
MhVerdict
mh_medhead_validate (MhStore *store, const MhChange *change, const MhRow *row, gboolean local,
                     char **reason, gpointer user_data)
{
  Check c = { 0 };
  MhVerdict verdict;

  g_return_val_if_fail (MH_IS_STORE (store), MH_VERDICT_REJECT);
  g_return_val_if_fail (change != NULL && reason != NULL, MH_VERDICT_REJECT);

  c.store = store;
  c.cache = user_data;
  c.change = change;
  c.row = row;
  c.local = local;

  if (change->kind == MH_CHANGE_SET && row == NULL)
    verdict = invalid (reason, _("id: a write without its row"));
  else if ((verdict = lookup_origin (&c, reason)) == MH_VERDICT_ACCEPT
           && (verdict = bind_admitted_role (&c, reason)) == MH_VERDICT_ACCEPT)
    verdict = change->kind == MH_CHANGE_DELETE ? check_delete (&c, reason)
                                               : check_set (&c, reason);

  g_free (c.site_hospital);
  g_free (c.site_unit);
  return verdict;
}

/**
 * mh_medhead_validator_new:
 *
 * Returns: (transfer full) (nullable): the validator's prepared statements
 *   for @store, or %NULL when they cannot be prepared (then the validator
 *   prepares them on each change)
 */
MhMedheadValidator *
mh_medhead_validator_new (MhStore *store)
{
  MhMedheadValidator *validator = g_new0 (MhMedheadValidator, 1);
  sqlite3 *db;

  g_return_val_if_fail (MH_IS_STORE (store), NULL);

  db = mh_store_get_db (store);
  if (sqlite3_prepare_v3 (db, SITE_BY_ID_SQL, -1, SQLITE_PREPARE_PERSISTENT,
                          &validator->site_by_id, NULL) != SQLITE_OK
      || sqlite3_prepare_v3 (db, HOSPITAL_HAS_SITE_SQL, -1, SQLITE_PREPARE_PERSISTENT,
                             &validator->hospital_has_site, NULL) != SQLITE_OK)
    {
      mh_medhead_validator_free (validator);
      return NULL;
    }
  return validator;
}

void
mh_medhead_validator_free (MhMedheadValidator *validator)
{
  if (validator == NULL)
    return;
  sqlite3_finalize (validator->site_by_id);
  sqlite3_finalize (validator->hospital_has_site);
  g_free (validator);
}

const char *const *
mh_medhead_enum_values (const char *table, const char *column)
{
  const FieldRule *rule;

  g_return_val_if_fail (table != NULL && column != NULL, NULL);
  rule = lookup_rule (table, column);
  return rule != NULL && rule->kind == F_ENUM ? rule->values : NULL;
}

gboolean
mh_medhead_enum_contains (const char *const *values, const char *value)
{
  if (values == NULL || value == NULL)
    return FALSE;
  for (guint i = 0; values[i] != NULL; i++)
    if (strcmp (values[i], value) == 0)
      return TRUE;
  return FALSE;
}

gboolean
mh_medhead_is_bed_category (const char *category)
{
  return mh_medhead_enum_contains (bed_categories, category);
}

const char *const *
mh_bed_categories (void)
{
  return bed_categories;
}

gboolean
mh_medhead_id_is_valid (const char *id)
{
  gsize len;

  if (id == NULL)
    return FALSE;
  len = strlen (id);
  if (len == 0 || len > MH_MAX_ID_CHARS)
    return FALSE;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._:~-", *p) == NULL)
      return FALSE;
  return TRUE;
}

gboolean
mh_medhead_uuid_is_valid (const char *id)
{
  if (id == NULL || strlen (id) != 36)
    return FALSE;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f') && *p != '-')
      return FALSE;
  return TRUE;
}

/**
 * mh_medhead_parse_specialties:
 * @ids: (element-type guint): receives the ids
 * @reason: (out) (optional): why @text is refused, without quoting it
 *
 * Accepts the stored form only: ids from 1 to 80, strictly increasing,
 * separated by commas; the empty string is no specialty.
 */
gboolean
mh_medhead_parse_specialties (const char *text, GArray *ids, char **reason)
{
  guint previous = 0;
  const char *p = text;

  g_return_val_if_fail (text != NULL && ids != NULL, FALSE);

  if (*p == '\0')
    return TRUE;
  for (;;)
    {
      guint value = 0;
      guint digits = 0;

      while (g_ascii_isdigit (*p) && digits < 3)
        {
          value = value * 10 + (guint) (*p++ - '0');
          digits++;
        }
      if (digits == 0 || (*p != ',' && *p != '\0'))
        {
          if (reason)
            *reason = g_strdup (_("must be specialty ids separated by commas"));
          return FALSE;
        }
      if (value < 1 || value > MH_MAX_SPECIALTY)
        {
          if (reason)
            *reason = g_strdup (_("ids must be between 1 and 80"));
          return FALSE;
        }
      if (value <= previous)
        {
          if (reason)
            *reason = g_strdup (_("ids must be sorted and unique"));
          return FALSE;
        }
      g_array_append_val (ids, value);
      previous = value;
      if (*p == '\0')
        return TRUE;
      p++;
    }
}

static int
compare_uint (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;
  return x < y ? -1 : x > y;
}

/**
 * mh_medhead_format_specialties:
 *
 * Sorts @ids in place, drops duplicates and returns the stored form.
 */
char *
mh_medhead_format_specialties (GArray *ids)
{
  g_autoptr(GString) text = g_string_new (NULL);
  guint previous = 0;

  g_array_sort (ids, compare_uint);
  for (guint i = 0; i < ids->len; i++)
    {
      guint id = g_array_index (ids, guint, i);
      if (i > 0 && id == previous)
        continue;
      g_string_append_printf (text, "%s%u", text->len ? "," : "", id);
      previous = id;
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

gboolean
mh_medhead_channel_is_valid (const char *channel)
{
  if (channel == NULL)
    return FALSE;
  if (strcmp (channel, "broadcast") == 0)
    return TRUE;
  if (g_str_has_prefix (channel, "hospital:"))
    return mh_medhead_id_is_valid (channel + strlen ("hospital:"));
  if (g_str_has_prefix (channel, "transfer:"))
    return mh_medhead_id_is_valid (channel + strlen ("transfer:"));
  return FALSE;
}

/**
 * mh_medhead_may_write_transfer_side:
 * @desk: %TRUE for the hospital's side (the desk register), %FALSE for
 *   the crew's (request, eta, crew)
 *
 * A hub writes both sides; otherwise the crew side belongs to the
 * ambulance site of the transfer's unit, the desk side to the sites of the
 * destination hospital.
 */
gboolean
mh_medhead_may_write_transfer_side (MhRole role, const char *site_hospital_id,
                                    const char *site_unit_id, const char *request_hospital_id,
                                    const char *request_unit_id, gboolean desk)
{
  if (role == MH_ROLE_HUB)
    return TRUE;
  if (desk)
    return role == MH_ROLE_HOSPITAL && site_hospital_id != NULL
           && g_strcmp0 (site_hospital_id, request_hospital_id) == 0;
  return role == MH_ROLE_AMBULANCE && site_unit_id != NULL
         && g_strcmp0 (site_unit_id, request_unit_id) == 0;
}

gboolean
mh_medhead_hospital_has_site (MhStore *store, const char *hospital_id)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (store), FALSE);

  if (hospital_id == NULL)
    return FALSE;
  if (sqlite3_prepare_v2 (mh_store_get_db (store),
                          HOSPITAL_HAS_SITE_SQL, -1, &stmt, NULL) != SQLITE_OK)
    return FALSE;
  sqlite3_bind_text (stmt, 1, hospital_id, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_ROW;
}

gboolean
mh_medhead_unit_has_site (MhStore *store, const char *unit_id)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (store), FALSE);

  if (unit_id == NULL)
    return FALSE;
  if (sqlite3_prepare_v2 (mh_store_get_db (store),
                          "SELECT 1 FROM site WHERE unit_id = ?1 AND role = 'ambulance' LIMIT 1",
                          -1, &stmt, NULL) != SQLITE_OK)
    return FALSE;
  sqlite3_bind_text (stmt, 1, unit_id, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_ROW;
}

const char *const *
mh_medhead_capabilities (void)
{
  return capability_values;
}

/**
 * mh_medhead_parse_capabilities:
 * @mask: (out) (optional): bit i set for capability_values[i]
 * @reason: (out) (optional): why @text is refused, without quoting it
 *
 * Accepts the stored form only: names from the documented list, in its
 * order, separated by commas; the empty string is none.
 */
gboolean
mh_medhead_parse_capabilities (const char *text, guint32 *mask, char **reason)
{
  g_auto(GStrv) parts = NULL;
  guint32 bits = 0;
  int previous = -1;

  g_return_val_if_fail (text != NULL, FALSE);

  if (*text != '\0')
    parts = g_strsplit (text, ",", -1);
  for (guint i = 0; parts != NULL && parts[i] != NULL; i++)
    {
      int index = -1;

      for (int k = 0; capability_values[k] != NULL; k++)
        if (strcmp (capability_values[k], parts[i]) == 0)
          index = k;
      if (index < 0)
        {
          if (reason)
            {
              g_autofree char *list = enum_list (capability_values);
              *reason = g_strdup_printf (_("must be among %s, separated by commas"), list);
            }
          return FALSE;
        }
      if (index <= previous)
        {
          if (reason)
            *reason = g_strdup (_("must be unique and in the documented order"));
          return FALSE;
        }
      previous = index;
      bits |= 1u << index;
    }
  if (mask)
    *mask = bits;
  return TRUE;
}

char *
mh_medhead_format_capabilities (guint32 mask)
{
  g_autoptr(GString) text = g_string_new (NULL);

  for (guint k = 0; capability_values[k] != NULL; k++)
    if (mask & (1u << k))
      g_string_append_printf (text, "%s%s", text->len ? "," : "", capability_values[k]);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

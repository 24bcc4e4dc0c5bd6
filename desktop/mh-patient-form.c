/* mh-patient-form.c: a crew's patient record (ATMIST), vitals and the announcement
 *
 * The form is built from tables: one row per field, each with a mnemonic and
 * an accessible name, numbers checked against the ranges the node enforces
 * so that a typo gets a message naming the field, not a refusal later.
 */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-labels.h"
#include "mh-dispatch-view.h"
#include "mh-patient-form.h"
#include "mh-settings.h"

typedef enum
{
  FIELD_TEXT,
  FIELD_INT,
  FIELD_REAL,
  FIELD_TIME,
} FieldKind;

typedef struct
{
  const char *member;
  const char *title; /* with its mnemonic */
  const char *name;  /* accessible name */
  FieldKind kind;
  double min, max;
} Field;

static const Field patient_fields[] = {
  { "age_estimate", N_("_Age"), N_("Age"), FIELD_INT, 0, 130 },
  { "incident_at", N_("_Time of incident (HH:MM)"), N_("Time of incident"), FIELD_TIME, 0, 0 },
  { "mechanism", N_("_Mechanism"), N_("Mechanism"), FIELD_TEXT, 0, 0 },
  { "injuries", N_("_Injuries"), N_("Injuries"), FIELD_TEXT, 0, 0 },
  { "signs", N_("Si_gns"), N_("Signs"), FIELD_TEXT, 0, 0 },
  { "treatment", N_("T_reatment"), N_("Treatment"), FIELD_TEXT, 0, 0 },
};

static const Field vital_fields[] = {
  { "hr", N_("_Heart rate"), N_("Heart rate"), FIELD_INT, 0, 300 },
  { "rr", N_("Res_piratory rate"), N_("Respiratory rate"), FIELD_INT, 0, 80 },
  { "spo2", N_("Sp_O2 (%)"), N_("SpO2"), FIELD_INT, 0, 100 },
  { "sbp", N_("S_ystolic BP"), N_("Systolic BP"), FIELD_INT, 0, 300 },
  { "dbp", N_("_Diastolic BP"), N_("Diastolic BP"), FIELD_INT, 0, 200 },
  { "gcs", N_("_GCS"), N_("GCS"), FIELD_INT, 3, 15 },
  { "temp", N_("Temp_erature (°C)"), N_("Temperature"), FIELD_REAL, 25, 45 },
};

static const Field intervention_fields[] = {
  { "drug", N_("Dr_ug"), N_("Drug"), FIELD_TEXT, 0, 0 },
  { "dose", N_("D_ose"), N_("Dose"), FIELD_TEXT, 0, 0 },
  { "route", N_("Ro_ute"), N_("Route"), FIELD_TEXT, 0, 0 },
};

static const Field eta_field = { "eta_minutes", N_("ET_A (minutes)"), N_("ETA minutes"),
                                 FIELD_INT, 0, 600 };

static const char *const sex_values[] = { "", "female", "male", "other", "unknown", NULL };
static const char *const triage_values[] = { "", "immediate", "delayed", "minimal", "expectant",
                                             "dead", NULL };
static const char *const alert_values[] = { "", "stemi", "stroke", "sepsis", "trauma", "other",
                                            NULL };

struct _MhPatientForm
{
  GtkWidget parent_instance;

  GtkWidget *scrolled;
  AdwComboRow *sex_row;
  AdwComboRow *triage_row;
  AdwComboRow *alert_row;
  AdwActionRow *destination_row;
  GtkWidget *announce_button;
  GtkWidget *vitals_button;
  GtkLabel *message_label;
  GtkLabel *trend_label;
  AdwComboRow *handover_row;
  GtkStringList *handover_units; /* the rows' labels */
  GPtrArray *handover_ids;       /* unit ids, in the order of the rows */

  MhNode *node;
  GSettings *settings;
  GHashTable *entries; /* member -> GtkEntry */
  char *destination;
  char *patient_id;
};

G_DEFINE_FINAL_TYPE (MhPatientForm, mh_patient_form, GTK_TYPE_WIDGET)

enum
{
  ANNOUNCED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
show_message (MhPatientForm *self, const char *message)
{
  gtk_label_set_text (self->message_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->message_label), message != NULL);
}

static GtkWidget *
add_entry_row (MhPatientForm *self, AdwPreferencesGroup *group, const Field *field)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *entry = gtk_entry_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _(field->title));
  adw_preferences_row_set_use_underline (ADW_PREFERENCES_ROW (row), TRUE);
  gtk_widget_set_valign (entry, GTK_ALIGN_CENTER);
  gtk_widget_set_hexpand (entry, field->kind == FIELD_TEXT);
  if (field->kind != FIELD_TEXT)
    {
      gtk_editable_set_width_chars (GTK_EDITABLE (entry), 6);
      gtk_entry_set_input_purpose (GTK_ENTRY (entry), field->kind == FIELD_TIME
                                                        ? GTK_INPUT_PURPOSE_FREE_FORM
                                                        : GTK_INPUT_PURPOSE_NUMBER);
    }
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _(field->name), -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), entry);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), entry);
  adw_preferences_group_add (group, row);
  g_hash_table_insert (self->entries, (gpointer) field->member, entry);
  return entry;
}

static AdwComboRow *
add_combo_row (AdwPreferencesGroup *group, const char *title, const char *const *values,
               const char *(*label) (const char *))
{
  g_autoptr (GtkStringList) list = gtk_string_list_new (NULL);
  AdwComboRow *row = ADW_COMBO_ROW (adw_combo_row_new ());

  for (guint i = 0; values[i] != NULL; i++)
    gtk_string_list_append (list, values[i][0] == '\0' ? _("Not set") : label (values[i]));
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_underline (ADW_PREFERENCES_ROW (row), TRUE);
  adw_combo_row_set_model (row, G_LIST_MODEL (list));
  adw_preferences_group_add (group, GTK_WIDGET (row));
  return row;
}

static const char *
entry_text (MhPatientForm *self, const char *member)
{
  GtkEditable *entry = g_hash_table_lookup (self->entries, member);

  return entry != NULL ? gtk_editable_get_text (entry) : "";
}

/* Puts one field's value into object, or says what is wrong with it. */
static gboolean
collect_field (MhPatientForm *self, const Field *field, JsonObject *object, GError **error)
{
  g_autofree char *text = g_strstrip (g_strdup (entry_text (self, field->member)));
  char *end = NULL;

  if (text[0] == '\0')
    return TRUE;
  switch (field->kind)
    {
    case FIELD_TEXT:
      json_object_set_string_member (object, field->member, text);
      return TRUE;
    case FIELD_INT:
    case FIELD_REAL:
      {
        double value;

        g_strdelimit (text, ",", '.');
        value = g_ascii_strtod (text, &end);
        if (end == text || *end != '\0' || value < field->min || value > field->max
            || (field->kind == FIELD_INT && value != (gint64) value))
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         /* TRANSLATORS: a field's name, then its range */
                         _("%s: enter a number from %g to %g"), _(field->name), field->min,
                         field->max);
            return FALSE;
          }
        if (field->kind == FIELD_INT)
          json_object_set_int_member (object, field->member, (gint64) value);
        else
          json_object_set_double_member (object, field->member, value);
        return TRUE;
      }
    case FIELD_TIME:
      {
        guint hours, minutes;
        g_autoptr (GDateTime) now = g_date_time_new_from_unix_local (
          mh_node_now_ms (self->node) / 1000);
        g_autoptr (GDateTime) at = NULL;

        if (sscanf (text, "%u:%u", &hours, &minutes) != 2 || hours > 23 || minutes > 59)
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         _("%s: enter a time as HH:MM"), _(field->name));
            return FALSE;
          }
        at = g_date_time_new_local (g_date_time_get_year (now), g_date_time_get_month (now),
                                    g_date_time_get_day_of_month (now), (int) hours,
                                    (int) minutes, 0);
        /* A time later than now was yesterday's (a call over midnight). */
        if (g_date_time_compare (at, now) > 0)
          {
            GDateTime *before = g_date_time_add_days (at, -1);

            g_date_time_unref (at);
            at = before;
          }
        json_object_set_int_member (object, field->member,
                                    g_date_time_to_unix (at) * 1000);
        return TRUE;
      }
    default:
      g_assert_not_reached ();
    }
}

static gboolean
collect_fields (MhPatientForm *self, const Field *fields, gsize n, JsonObject *object,
                GError **error)
{
  for (gsize i = 0; i < n; i++)
    if (!collect_field (self, &fields[i], object, error))
      return FALSE;
  return TRUE;
}

static void
set_combo_member (AdwComboRow *row, const char *const *values, const char *member,
                  JsonObject *object)
{
  guint selected = adw_combo_row_get_selected (row);

  if (selected != GTK_INVALID_LIST_POSITION && selected > 0
      && selected < g_strv_length ((char **) values))
    json_object_set_string_member (object, member, values[selected]);
}

static void
clear_entries (MhPatientForm *self, const Field *fields, gsize n)
{
  for (gsize i = 0; i < n; i++)
    gtk_editable_set_text (g_hash_table_lookup (self->entries, fields[i].member), "");
}

static void
update_trend (MhPatientForm *self)
{
  g_autoptr (JsonObject) patient = NULL;
  JsonArray *observations;
  g_autofree char *text = NULL;

  if (self->patient_id == NULL || self->node == NULL)
    {
      gtk_label_set_text (self->trend_label, _("No vitals recorded yet"));
      return;
    }
  patient = mh_node_get_patient (self->node, self->patient_id, NULL);
  if (patient == NULL)
    return;
  observations = json_object_get_array_member (patient, "observations");
  {
    /* The GCS and heart rate of each set, oldest first: the trend a
     * receiving doctor asks for first. */
    g_autoptr (GString) trend = g_string_new (NULL);

    for (guint i = 0; i < json_array_get_length (observations); i++)
      {
        JsonObject *o = json_array_get_object_element (observations, i);
        g_autoptr (GDateTime) at = g_date_time_new_from_unix_local (
          json_object_get_int_member_with_default (o, "taken_at", 0) / 1000);
        g_autofree char *time = g_date_time_format (at, "%H:%M");

        if (trend->len > 0)
          g_string_append (trend, "\n");
        g_string_append (trend, time);
        if (!json_object_get_null_member (o, "hr"))
          g_string_append_printf (trend, "  %s %d", _("HR"),
                                  (int) json_object_get_int_member (o, "hr"));
        if (!json_object_get_null_member (o, "spo2"))
          g_string_append_printf (trend, "  %s %d", _("SpO2"),
                                  (int) json_object_get_int_member (o, "spo2"));
        if (!json_object_get_null_member (o, "sbp"))
          g_string_append_printf (trend, "  %s %d", _("SBP"),
                                  (int) json_object_get_int_member (o, "sbp"));
        if (!json_object_get_null_member (o, "gcs"))
          g_string_append_printf (trend, "  %s %d", _("GCS"),
                                  (int) json_object_get_int_member (o, "gcs"));
      }
    text = g_string_free (g_steal_pointer (&trend), FALSE);
  }
  gtk_label_set_text (self->trend_label, text[0] != '\0' ? text : _("No vitals recorded yet"));
}

static void
announce_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_autofree char *id = NULL;

  mh_patient_form_announce (MH_PATIENT_FORM (widget), &id);
}

static void
add_vitals_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  mh_patient_form_add_vitals (MH_PATIENT_FORM (widget));
}

static void
hand_over_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  MhPatientForm *self = MH_PATIENT_FORM (widget);
  guint selected = adw_combo_row_get_selected (self->handover_row);

  if (selected == GTK_INVALID_LIST_POSITION || selected >= self->handover_ids->len)
    {
      show_message (self, _("Choose the unit to hand over to."));
      return;
    }
  mh_patient_form_hand_over (self, g_ptr_array_index (self->handover_ids, selected));
}

/* The other units, by call sign: a BLS crew hands over to a MICU. */
static void
load_units (MhPatientForm *self)
{
  g_autoptr (JsonArray) units = mh_node_list_units (self->node, NULL);
  const char *own = mh_node_get_unit_id (self->node);

  for (guint i = 0; units != NULL && i < json_array_get_length (units); i++)
    {
      JsonObject *unit = json_array_get_object_element (units, i);
      const char *id = json_object_get_string_member (unit, "id");
      g_autofree char *label = NULL;
      g_autofree char *type = NULL;

      if (g_strcmp0 (id, own) == 0)
        continue;
      type = g_ascii_strup (json_object_get_string_member_with_default (unit, "type", ""), -1);
      label = g_strdup_printf ("%s (%s)",
                               json_object_get_string_member_with_default (unit, "call_sign", id),
                               type);
      gtk_string_list_append (self->handover_units, label);
      g_ptr_array_add (self->handover_ids, g_strdup (id));
    }
}

static void
mh_patient_form_dispose (GObject *object)
{
  MhPatientForm *self = MH_PATIENT_FORM (object);

  g_clear_pointer (&self->scrolled, gtk_widget_unparent);
  G_OBJECT_CLASS (mh_patient_form_parent_class)->dispose (object);
}

static void
mh_patient_form_finalize (GObject *object)
{
  MhPatientForm *self = MH_PATIENT_FORM (object);

  g_clear_object (&self->node);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->entries, g_hash_table_unref);
  g_free (self->destination);
  g_free (self->patient_id);
  g_clear_pointer (&self->handover_ids, g_ptr_array_unref);
  G_OBJECT_CLASS (mh_patient_form_parent_class)->finalize (object);
}

static void
mh_patient_form_class_init (MhPatientFormClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_patient_form_dispose;
  object_class->finalize = mh_patient_form_finalize;

  /**
   * MhPatientForm::announced:
   * @transfer_id: the transfer just created
   */
  signals[ANNOUNCED] = g_signal_new ("announced", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                     0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_install_action (widget_class, "patient.announce", NULL, announce_action);
  gtk_widget_class_install_action (widget_class, "patient.add-vitals", NULL, add_vitals_action);
  gtk_widget_class_install_action (widget_class, "patient.hand-over", NULL, hand_over_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK,
                                       "patient.announce", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_v, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "patient.add-vitals", NULL);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static AdwPreferencesGroup *
add_group (GtkBox *box, const char *title)
{
  GtkWidget *group = adw_preferences_group_new ();

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), title);
  gtk_box_append (box, group);
  return ADW_PREFERENCES_GROUP (group);
}

static GtkWidget *
make_button (const char *label, const char *name, const char *action, gboolean suggested)
{
  GtkWidget *button = gtk_button_new_with_mnemonic (label);

  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, name,
                                  -1);
  gtk_widget_set_halign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "pill");
  if (suggested)
    gtk_widget_add_css_class (button, "suggested-action");
  return button;
}

static void
mh_patient_form_init (MhPatientForm *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 18);
  AdwPreferencesGroup *group;

  self->entries = g_hash_table_new (g_str_hash, g_str_equal);
  self->settings = mh_settings_new ();

  self->scrolled = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (self->scrolled), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_widget_set_parent (self->scrolled, GTK_WIDGET (self));
  gtk_widget_set_margin_top (box, 12);
  gtk_widget_set_margin_bottom (box, 12);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (self->scrolled), box);

  self->message_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (self->message_label, TRUE);
  gtk_label_set_xalign (self->message_label, 0);
  gtk_widget_add_css_class (GTK_WIDGET (self->message_label), "mh-banner");
  gtk_widget_set_visible (GTK_WIDGET (self->message_label), FALSE);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->message_label));

  group = add_group (GTK_BOX (box), _("Destination"));
  self->destination_row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->destination_row), _("Hospital"));
  adw_action_row_set_subtitle (self->destination_row,
                               _("Choose one in Find Hospital (Announce)"));
  adw_preferences_group_add (group, GTK_WIDGET (self->destination_row));
  add_entry_row (self, group, &eta_field);

  group = add_group (GTK_BOX (box), _("Patient"));
  add_entry_row (self, group, &patient_fields[0]);
  self->sex_row = add_combo_row (group, _("_Sex"), sex_values, mh_sex_label);
  self->triage_row = add_combo_row (group, _("T_riage"), triage_values, mh_triage_label);
  self->alert_row = add_combo_row (group, _("Ale_rt"), alert_values, mh_alert_label);
  for (gsize i = 1; i < G_N_ELEMENTS (patient_fields); i++)
    add_entry_row (self, group, &patient_fields[i]);

  group = add_group (GTK_BOX (box), _("Vitals"));
  for (gsize i = 0; i < G_N_ELEMENTS (vital_fields); i++)
    add_entry_row (self, group, &vital_fields[i]);
  self->trend_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->trend_label, 0);
  gtk_widget_add_css_class (GTK_WIDGET (self->trend_label), "numeric");
  gtk_widget_add_css_class (GTK_WIDGET (self->trend_label), "dim-label");
  gtk_widget_set_margin_top (GTK_WIDGET (self->trend_label), 6);
  adw_preferences_group_add (group, GTK_WIDGET (self->trend_label));

  group = add_group (GTK_BOX (box), _("Intervention"));
  for (gsize i = 0; i < G_N_ELEMENTS (intervention_fields); i++)
    add_entry_row (self, group, &intervention_fields[i]);

  group = add_group (GTK_BOX (box), _("Handover"));
  self->handover_units = gtk_string_list_new (NULL);
  self->handover_ids = g_ptr_array_new_with_free_func (g_free);
  self->handover_row = ADW_COMBO_ROW (adw_combo_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->handover_row), _("Hand over _to"));
  adw_preferences_row_set_use_underline (ADW_PREFERENCES_ROW (self->handover_row), TRUE);
  adw_combo_row_set_model (self->handover_row, G_LIST_MODEL (self->handover_units));
  g_object_unref (self->handover_units); /* the row holds it */
  adw_preferences_group_add (group, GTK_WIDGET (self->handover_row));
  {
    GtkWidget *handover = make_button (_("Hand _Over"), _("Hand over"), "patient.hand-over",
                                       FALSE);

    gtk_widget_set_margin_top (handover, 6);
    adw_preferences_group_add (group, handover);
  }

  {
    GtkWidget *buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);

    gtk_widget_set_halign (buttons, GTK_ALIGN_CENTER);
    self->vitals_button = make_button (_("Add _Vitals"), _("Add vitals"), "patient.add-vitals",
                                       FALSE);
    self->announce_button = make_button (_("A_nnounce"), _("Announce"), "patient.announce",
                                         TRUE);
    gtk_box_append (GTK_BOX (buttons), self->vitals_button);
    gtk_box_append (GTK_BOX (buttons), self->announce_button);
    gtk_box_append (GTK_BOX (box), buttons);
  }
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "patient.add-vitals", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "patient.hand-over", FALSE);
  update_trend (self);
}

void
mh_patient_form_set_node (MhPatientForm *self, MhNode *node)
{
  g_return_if_fail (MH_IS_PATIENT_FORM (self));
  g_return_if_fail (MH_IS_NODE (node));
  g_return_if_fail (self->node == NULL);

  self->node = g_object_ref (node);
  load_units (self);
}

void
mh_patient_form_set_destination (MhPatientForm *self, const char *hospital_id)
{
  g_autoptr (JsonObject) hospital = NULL;

  g_return_if_fail (MH_IS_PATIENT_FORM (self));

  g_free (self->destination);
  self->destination = g_strdup (hospital_id);
  if (hospital_id != NULL && self->node != NULL)
    hospital = mh_node_get_hospital (self->node, hospital_id, NULL);
  if (hospital != NULL)
    {
      const char *phone = json_object_get_null_member (hospital, "phone_emergency")
                            ? NULL
                            : json_object_get_string_member (hospital, "phone_emergency");
      g_autofree char *subtitle = g_strdup_printf ("%s%s%s",
                                                   json_object_get_string_member (hospital, "name"),
                                                   phone != NULL ? " · " : "",
                                                   phone != NULL ? phone : "");

      adw_action_row_set_subtitle (self->destination_row, subtitle);
    }
  else
    adw_action_row_set_subtitle (self->destination_row,
                                 _("Choose one in Find Hospital (Announce)"));
  show_message (self, NULL);
}

const char *
mh_patient_form_get_destination (MhPatientForm *self)
{
  g_return_val_if_fail (MH_IS_PATIENT_FORM (self), NULL);
  return self->destination;
}

const char *
mh_patient_form_get_patient_id (MhPatientForm *self)
{
  g_return_val_if_fail (MH_IS_PATIENT_FORM (self), NULL);
  return self->patient_id;
}

void
mh_patient_form_set_text (MhPatientForm *self, const char *field, const char *text)
{
  GtkEditable *entry;

  g_return_if_fail (MH_IS_PATIENT_FORM (self));

  entry = g_hash_table_lookup (self->entries, field);
  g_return_if_fail (entry != NULL);
  gtk_editable_set_text (entry, text);
}

const char *
mh_patient_form_get_message (MhPatientForm *self)
{
  g_return_val_if_fail (MH_IS_PATIENT_FORM (self), NULL);
  return gtk_widget_get_visible (GTK_WIDGET (self->message_label))
           ? gtk_label_get_text (self->message_label)
           : NULL;
}

gboolean
mh_patient_form_announce (MhPatientForm *self, char **transfer_id)
{
  g_autoptr (JsonObject) patient = json_object_new ();
  g_autoptr (JsonObject) vitals = json_object_new ();
  g_autoptr (JsonObject) intervention = json_object_new ();
  g_autoptr (JsonObject) eta = json_object_new ();
  g_autoptr (JsonObject) transfer = json_object_new ();
  g_autoptr (JsonArray) observations = json_array_new ();
  g_autoptr (JsonArray) interventions = json_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *category = NULL;
  g_autofree char *id = NULL;
  guint specialty;

  g_return_val_if_fail (MH_IS_PATIENT_FORM (self), FALSE);

  if (self->node == NULL)
    return FALSE;
  if (self->destination == NULL)
    {
      show_message (self, _("Choose a hospital first: Find Hospital, then Announce on its row."));
      return FALSE;
    }
  if (!collect_fields (self, patient_fields, G_N_ELEMENTS (patient_fields), patient, &error)
      || !collect_fields (self, vital_fields, G_N_ELEMENTS (vital_fields), vitals, &error)
      || !collect_fields (self, intervention_fields, G_N_ELEMENTS (intervention_fields),
                          intervention, &error)
      || !collect_field (self, &eta_field, eta, &error))
    {
      show_message (self, error->message);
      return FALSE;
    }
  set_combo_member (self->sex_row, sex_values, "sex", patient);
  set_combo_member (self->triage_row, triage_values, "triage", patient);
  set_combo_member (self->alert_row, alert_values, "alert", patient);

  /* The patient needs what the crew searched for. */
  specialty = g_settings_get_uint (self->settings, "specialty");
  category = g_settings_get_string (self->settings, "bed-category");
  if (category[0] == '\0')
    {
      show_message (self, _("Choose a bed category in Find Hospital first."));
      return FALSE;
    }
  json_object_set_string_member (patient, "bed_category", category);
  if (specialty > 0)
    json_object_set_int_member (patient, "required_specialty", specialty);
  if (self->patient_id != NULL)
    json_object_set_string_member (patient, "id", self->patient_id);
  /* Picked up at the incident the crew accepted: linked to it. */
  {
    g_autoptr (JsonObject) incident = mh_dispatch_active_incident (self->node);

    if (incident != NULL)
      json_object_set_string_member (patient, "incident_id",
                                     json_object_get_string_member (incident, "id"));
  }

  if (json_object_get_size (vitals) > 0)
    json_array_add_object_element (observations, json_object_ref (vitals));
  if (json_object_get_size (intervention) > 0)
    json_array_add_object_element (interventions, json_object_ref (intervention));

  json_object_set_string_member (transfer, "hospital_id", self->destination);
  if (json_object_has_member (eta, "eta_minutes"))
    json_object_set_int_member (transfer, "eta",
                                mh_node_now_ms (self->node)
                                  + json_object_get_int_member (eta, "eta_minutes") * 60000);

  id = mh_node_announce (self->node, patient, observations, interventions, transfer, &error);
  if (id == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("Not announced: %s"), error->message);

      show_message (self, message);
      return FALSE;
    }

  if (self->patient_id == NULL)
    {
      g_autoptr (JsonObject) created = mh_node_get_transfer (self->node, id, NULL);

      if (created != NULL)
        self->patient_id = g_strdup (json_object_get_string_member (created, "patient_id"));
    }
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "patient.add-vitals",
                                 self->patient_id != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "patient.hand-over",
                                 self->patient_id != NULL);
  /* What was measured and given is recorded; the next set starts blank. */
  clear_entries (self, vital_fields, G_N_ELEMENTS (vital_fields));
  clear_entries (self, intervention_fields, G_N_ELEMENTS (intervention_fields));
  show_message (self, NULL);
  update_trend (self);
  g_signal_emit (self, signals[ANNOUNCED], 0, id);
  if (transfer_id != NULL)
    *transfer_id = g_steal_pointer (&id);
  return TRUE;
}

gboolean
mh_patient_form_add_vitals (MhPatientForm *self)
{
  g_autoptr (JsonObject) vitals = json_object_new ();
  g_autoptr (JsonObject) intervention = json_object_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;

  g_return_val_if_fail (MH_IS_PATIENT_FORM (self), FALSE);

  if (self->node == NULL || self->patient_id == NULL)
    {
      show_message (self, _("Announce the patient first."));
      return FALSE;
    }
  if (!collect_fields (self, vital_fields, G_N_ELEMENTS (vital_fields), vitals, &error)
      || !collect_fields (self, intervention_fields, G_N_ELEMENTS (intervention_fields),
                          intervention, &error))
    {
      show_message (self, error->message);
      return FALSE;
    }
  if (json_object_get_size (vitals) == 0 && json_object_get_size (intervention) == 0)
    {
      show_message (self, _("Enter at least one vital sign or a drug."));
      return FALSE;
    }
  if (json_object_get_size (vitals) > 0
      && (id = mh_node_add_observation (self->node, self->patient_id, vitals, &error)) == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("Not recorded: %s"), error->message);

      show_message (self, message);
      return FALSE;
    }
  g_clear_pointer (&id, g_free);
  if (json_object_get_size (intervention) > 0
      && (id = mh_node_add_intervention (self->node, self->patient_id, intervention, &error))
           == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("Not recorded: %s"), error->message);

      show_message (self, message);
      return FALSE;
    }
  clear_entries (self, vital_fields, G_N_ELEMENTS (vital_fields));
  clear_entries (self, intervention_fields, G_N_ELEMENTS (intervention_fields));
  show_message (self, NULL);
  update_trend (self);
  return TRUE;
}

/**
 * mh_patient_form_hand_over:
 * @unit_id: the unit that takes the patient
 *
 * Writes the new owner of the current patient: its record, observations
 * and interventions are the other unit's from now on (it adds to them;
 * this crew no longer writes the record), and its transfer shows in the
 * other unit's list. The form then starts a new patient.
 */
gboolean
mh_patient_form_hand_over (MhPatientForm *self, const char *unit_id)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *message = NULL;

  g_return_val_if_fail (MH_IS_PATIENT_FORM (self), FALSE);
  g_return_val_if_fail (unit_id != NULL, FALSE);

  if (self->node == NULL || self->patient_id == NULL)
    {
      show_message (self, _("Announce the patient first."));
      return FALSE;
    }
  json_object_set_string_member (fields, "unit_id", unit_id);
  if (!mh_node_patch_patient (self->node, self->patient_id, fields, &error))
    {
      message = g_strdup_printf (_("Not handed over: %s"), error->message);
      show_message (self, message);
      return FALSE;
    }
  g_clear_pointer (&self->patient_id, g_free);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "patient.add-vitals", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "patient.hand-over", FALSE);
  update_trend (self);
  show_message (self, _("Handed over: the other unit has the record now. The form is for a new "
                        "patient."));
  return TRUE;
}

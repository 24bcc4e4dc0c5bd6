/* mh-bed-board.c: a hospital's beds and EDXL-HAVE statuses, edited
 *
 * Every edit is one write to the node (mh_node_put_beds or
 * mh_node_patch_hospital), which replicates it; the board then shows what
 * the node holds, refreshed when the hospital's item in the node's
 * MhHospitalList changes. */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>

#include "mh-bed-board.h"
#include "mh-hospital-list.h"
#include "mh-json.h"
#include "mh-labels.h"

struct _MhBedBoard
{
  GtkWidget parent_instance;

  /* Template Widgets */
  AdwToastOverlay *toast_overlay;
  AdwComboRow *hospital_row;
  AdwPreferencesGroup *beds_group;
  GtkBox *header_box;
  AdwComboRow *ems_row;
  AdwEntryRow *reason_row;
  AdwComboRow *facility_row;
  AdwComboRow *clinical_row;
  AdwComboRow *offload_row;
  GtkSpinButton *offload_minutes;

  /* Owned References */
  MhNode *node;
  GHashTable *spins; /* "category/field" -> GtkSpinButton (borrowed) */
  MhHospitalList *hospitals;
  MhHospitalItem *item; /* the hospital shown, once the list has it */
  char *hospital_id;
  guint refresh_id;
  gboolean syncing;
};

G_DEFINE_FINAL_TYPE (MhBedBoard, mh_bed_board, GTK_TYPE_WIDGET)

static const char *const bed_fields[] = { "available", "baseline", "surge_24h" };

static void
show_error (MhBedBoard *self, const GError *error)
{
  AdwToast *toast = adw_toast_new (error->message);

  adw_toast_set_timeout (toast, 6);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static gboolean
is_being_edited (GtkWidget *widget)
{
  return (gtk_widget_get_state_flags (widget) & GTK_STATE_FLAG_FOCUS_WITHIN) != 0;
}

static void
set_combo (AdwComboRow *row, const char *const *values, const char *value)
{
  int index = mh_value_index (values, value);

  adw_combo_row_set_selected (row, index >= 0 ? (guint) index : GTK_INVALID_LIST_POSITION);
}

static void
load_hospital (MhBedBoard *self)
{
  g_autoptr (JsonObject) hospital = NULL;
  g_autoptr (GError) error = NULL;
  const char *const *categories = mh_bed_categories ();
  JsonObject *beds = NULL;

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  if (self->node == NULL || self->hospital_id == NULL)
    return;
  hospital = mh_node_get_hospital (self->node, self->hospital_id, &error);
  if (hospital == NULL)
    {
      show_error (self, error);
      return;
    }

  self->syncing = TRUE;
  if (!gtk_widget_get_visible (GTK_WIDGET (self->hospital_row)))
    adw_preferences_group_set_title (self->beds_group, mh_json_get_string (hospital, "name"));
  if (json_object_has_member (hospital, "beds") && !json_object_get_null_member (hospital, "beds"))
    beds = json_object_get_object_member (hospital, "beds");
  for (guint i = 0; categories[i] != NULL; i++)
    {
      JsonObject *bed = NULL;

      if (beds != NULL && json_object_has_member (beds, categories[i]))
        bed = json_object_get_object_member (beds, categories[i]);
      for (guint f = 0; f < G_N_ELEMENTS (bed_fields); f++)
        {
          g_autofree char *key = g_strdup_printf ("%s/%s", categories[i], bed_fields[f]);
          GtkSpinButton *spin = g_hash_table_lookup (self->spins, key);

          /* Never overwrite what the user is typing. */
          if (is_being_edited (GTK_WIDGET (spin)))
            continue;
          gtk_spin_button_set_value (spin, bed != NULL ? json_object_get_int_member_with_default (
                                                           bed, bed_fields[f], 0)
                                                       : 0);
        }
    }

  set_combo (self->ems_row, mh_ems_traffic_values (), mh_json_get_string (hospital, "ems_traffic"));
  set_combo (self->facility_row, mh_facility_values (), mh_json_get_string (hospital, "facility"));
  set_combo (self->clinical_row, mh_clinical_values (), mh_json_get_string (hospital, "clinical"));
  set_combo (self->offload_row, mh_offload_values (), mh_json_get_string (hospital, "offload"));
  if (!is_being_edited (GTK_WIDGET (self->reason_row)))
    gtk_editable_set_text (GTK_EDITABLE (self->reason_row),
                           mh_json_get_string (hospital, "ems_traffic_reason") ?: "");
  if (!is_being_edited (GTK_WIDGET (self->offload_minutes)))
    gtk_spin_button_set_value (self->offload_minutes,
                               json_object_get_int_member_with_default (hospital,
                                                                        "offload_minutes", 0));
  self->syncing = FALSE;
}

static gboolean
refresh_idle_cb (gpointer user_data)
{
  MhBedBoard *self = user_data;

  self->refresh_id = 0;
  load_hospital (self);
  return G_SOURCE_REMOVE;
}

static void
item_changed_cb (MhBedBoard *self)
{
  if (self->refresh_id == 0)
    self->refresh_id = g_idle_add (refresh_idle_cb, self);
}

/* Follows the item of the hospital shown: its notify is the only change
 * that concerns the board. */
static void
watch_item (MhBedBoard *self)
{
  MhHospitalItem *item = NULL;

  if (self->hospitals != NULL && self->hospital_id != NULL)
    item = mh_hospital_list_lookup (self->hospitals, self->hospital_id);
  if (item == self->item)
    return;
  if (self->item != NULL)
    g_signal_handlers_disconnect_by_func (self->item, item_changed_cb, self);
  g_set_object (&self->item, item);
  if (item != NULL)
    {
      g_signal_connect_object (item, "notify::hospital", G_CALLBACK (item_changed_cb), self,
                               G_CONNECT_SWAPPED);
      item_changed_cb (self);
    }
}

static void
hospitals_changed_cb (MhBedBoard *self)
{
  watch_item (self);
}

gboolean
mh_bed_board_apply_beds (MhBedBoard *self, const char *category)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (GError) error = NULL;

  g_return_val_if_fail (MH_IS_BED_BOARD (self), FALSE);
  g_return_val_if_fail (category != NULL, FALSE);

  if (self->node == NULL || self->hospital_id == NULL)
    return FALSE;
  for (guint f = 0; f < G_N_ELEMENTS (bed_fields); f++)
    {
      g_autofree char *key = g_strdup_printf ("%s/%s", category, bed_fields[f]);
      GtkSpinButton *spin = g_hash_table_lookup (self->spins, key);

      g_return_val_if_fail (spin != NULL, FALSE);
      gtk_spin_button_update (spin);
      json_object_set_int_member (fields, bed_fields[f], gtk_spin_button_get_value_as_int (spin));
    }
  if (!mh_node_put_beds (self->node, self->hospital_id, category, fields, &error))
    {
      show_error (self, error);
      load_hospital (self);
      return FALSE;
    }
  return TRUE;
}

/* GtkSpinButton has no activate signal before GTK 4.14: Enter reaches its
 * text delegate. */
static void
connect_activate (GtkSpinButton *spin, GCallback callback, gpointer user_data)
{
  GtkEditable *text = gtk_editable_get_delegate (GTK_EDITABLE (spin));

  g_object_set_data (G_OBJECT (text), "spin-button", spin);
  g_signal_connect_object (text, "activate", callback, user_data, G_CONNECT_SWAPPED);
}

static void
spin_activated_cb (MhBedBoard *self, GtkText *text)
{
  GtkSpinButton *spin = g_object_get_data (G_OBJECT (text), "spin-button");

  mh_bed_board_apply_beds (self, g_object_get_data (G_OBJECT (spin), "category"));
}

static void
patch_hospital (MhBedBoard *self, JsonObject *fields)
{
  g_autoptr (GError) error = NULL;

  if (self->node == NULL || self->hospital_id == NULL)
    return;
  if (!mh_node_patch_hospital (self->node, self->hospital_id, fields, &error))
    {
      show_error (self, error);
      load_hospital (self);
    }
}

static const char *
combo_value (AdwComboRow *row, const char *const *values)
{
  guint selected = adw_combo_row_get_selected (row);

  if (selected == GTK_INVALID_LIST_POSITION || selected >= g_strv_length ((char **) values))
    return NULL;
  return values[selected];
}

static void
ems_traffic_changed (MhBedBoard *self)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  const char *reason = gtk_editable_get_text (GTK_EDITABLE (self->reason_row));
  const char *value = combo_value (self->ems_row, mh_ems_traffic_values ());

  if (self->syncing || value == NULL)
    return;
  json_object_set_string_member (fields, "ems_traffic", value);
  /* advisory and closed need a reason; normal clears it */
  if (g_str_equal (value, "advisory") || g_str_equal (value, "closed"))
    {
      if (*reason == '\0')
        {
          adw_toast_overlay_add_toast (self->toast_overlay,
                                       adw_toast_new (_("Type the reason, then press Enter")));
          gtk_widget_grab_focus (GTK_WIDGET (self->reason_row));
          return;
        }
      json_object_set_string_member (fields, "ems_traffic_reason", reason);
    }
  else
    json_object_set_null_member (fields, "ems_traffic_reason");
  patch_hospital (self, fields);
}

static void
status_changed_cb (MhBedBoard *self, GParamSpec *pspec, AdwComboRow *row)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  const char *value;

  if (self->syncing)
    return;
  if (row == self->ems_row)
    {
      ems_traffic_changed (self);
      return;
    }
  if (row == self->facility_row)
    value = combo_value (row, mh_facility_values ());
  else if (row == self->clinical_row)
    value = combo_value (row, mh_clinical_values ());
  else
    value = combo_value (row, mh_offload_values ());
  if (value == NULL)
    return;
  json_object_set_string_member (fields, row == self->facility_row   ? "facility"
                                         : row == self->clinical_row ? "clinical"
                                                                     : "offload",
                                 value);
  patch_hospital (self, fields);
}

static void
reason_applied_cb (MhBedBoard *self)
{
  ems_traffic_changed (self);
}

static void
offload_minutes_activated_cb (MhBedBoard *self)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  int minutes;

  gtk_spin_button_update (self->offload_minutes);
  minutes = gtk_spin_button_get_value_as_int (self->offload_minutes);
  /* 0 on the board is "no delay given": the node keeps 1..1440 or nothing. */
  if (minutes > 0)
    json_object_set_int_member (fields, "offload_minutes", minutes);
  else
    json_object_set_null_member (fields, "offload_minutes");
  patch_hospital (self, fields);
}

static void
hospital_selected_cb (MhBedBoard *self)
{
  gpointer item = adw_combo_row_get_selected_item (self->hospital_row);

  if (self->syncing || !MH_IS_HOSPITAL_ITEM (item))
    return;
  mh_bed_board_set_hospital (self, mh_hospital_item_get_id (item));
}

static GtkStringList *
combo_model (const char *const *values)
{
  GtkStringList *list = gtk_string_list_new (NULL);

  for (guint i = 0; values[i] != NULL; i++)
    gtk_string_list_append (list, mh_label_for (values[i]));
  return list;
}

static void
set_combo_model (AdwComboRow *row, const char *const *values)
{
  g_autoptr (GtkStringList) model = combo_model (values);

  adw_combo_row_set_model (row, G_LIST_MODEL (model));
}

static void
build_bed_rows (MhBedBoard *self)
{
  const char *const *categories = mh_bed_categories ();
  GtkSizeGroup *groups[G_N_ELEMENTS (bed_fields)];
  const char *headers[] = { _("Available"), _("Baseline"), _("Surge 24 h") };

  for (guint f = 0; f < G_N_ELEMENTS (bed_fields); f++)
    {
      GtkWidget *label = gtk_label_new (headers[f]);

      groups[f] = gtk_size_group_new (GTK_SIZE_GROUP_HORIZONTAL);
      gtk_widget_add_css_class (label, "caption-heading");
      gtk_size_group_add_widget (groups[f], label);
      gtk_box_append (self->header_box, label);
    }
  /* Lines the headers up with the spin buttons inside the rows. */
  gtk_widget_set_margin_end (GTK_WIDGET (self->header_box), 12);

  for (guint i = 0; categories[i] != NULL; i++)
    {
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), mh_label_for (categories[i]));
      for (guint f = 0; f < G_N_ELEMENTS (bed_fields); f++)
        {
          GtkWidget *spin = gtk_spin_button_new_with_range (0, 100000, 1);
          g_autofree char *accessible = NULL;

          gtk_spin_button_set_numeric (GTK_SPIN_BUTTON (spin), TRUE);
          gtk_widget_set_valign (spin, GTK_ALIGN_CENTER);
          gtk_size_group_add_widget (groups[f], spin);
          /* TRANSLATORS: a spin button's name: bed category, then field */
          accessible = g_strdup_printf (_("%s: %s"), mh_label_for (categories[i]), headers[f]);
          gtk_accessible_update_property (GTK_ACCESSIBLE (spin), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                          accessible, -1);
          g_object_set_data (G_OBJECT (spin), "category", (gpointer) categories[i]);
          connect_activate (GTK_SPIN_BUTTON (spin), G_CALLBACK (spin_activated_cb), self);
          g_hash_table_insert (self->spins,
                               g_strdup_printf ("%s/%s", categories[i], bed_fields[f]), spin);
          gtk_box_append (GTK_BOX (box), spin);
        }
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), box);
      adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row),
                                             gtk_widget_get_first_child (box));
      adw_preferences_group_add (self->beds_group, row);
    }
  for (guint f = 0; f < G_N_ELEMENTS (bed_fields); f++)
    g_object_unref (groups[f]);
}

static void
mh_bed_board_dispose (GObject *object)
{
  MhBedBoard *self = MH_BED_BOARD (object);

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  if (self->item != NULL)
    g_signal_handlers_disconnect_by_func (self->item, item_changed_cb, self);
  g_clear_object (&self->item);
  gtk_widget_dispose_template (GTK_WIDGET (self), MH_TYPE_BED_BOARD);
  G_OBJECT_CLASS (mh_bed_board_parent_class)->dispose (object);
}

static void
mh_bed_board_finalize (GObject *object)
{
  MhBedBoard *self = MH_BED_BOARD (object);

  g_clear_object (&self->node);
  g_clear_pointer (&self->spins, g_hash_table_unref);
  g_clear_object (&self->hospitals);
  g_clear_pointer (&self->hospital_id, g_free);
  G_OBJECT_CLASS (mh_bed_board_parent_class)->finalize (object);
}

static void
mh_bed_board_class_init (MhBedBoardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mh_bed_board_dispose;
  object_class->finalize = mh_bed_board_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/com/medhead/Emergency/mh-bed-board.ui");
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, hospital_row);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, beds_group);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, header_box);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, ems_row);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, reason_row);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, facility_row);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, clinical_row);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, offload_row);
  gtk_widget_class_bind_template_child (widget_class, MhBedBoard, offload_minutes);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
mh_bed_board_init (MhBedBoard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->spins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  build_bed_rows (self);
  set_combo_model (self->ems_row, mh_ems_traffic_values ());
  set_combo_model (self->facility_row, mh_facility_values ());
  set_combo_model (self->clinical_row, mh_clinical_values ());
  set_combo_model (self->offload_row, mh_offload_values ());

  g_signal_connect_object (self->ems_row, "notify::selected", G_CALLBACK (status_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->facility_row, "notify::selected", G_CALLBACK (status_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->clinical_row, "notify::selected", G_CALLBACK (status_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->offload_row, "notify::selected", G_CALLBACK (status_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->reason_row, "apply", G_CALLBACK (reason_applied_cb), self,
                           G_CONNECT_SWAPPED);
  connect_activate (self->offload_minutes, G_CALLBACK (offload_minutes_activated_cb), self);
  g_signal_connect_object (self->hospital_row, "notify::selected",
                           G_CALLBACK (hospital_selected_cb), self, G_CONNECT_SWAPPED);
}

void
mh_bed_board_set_node (MhBedBoard *self, MhNode *node)
{
  const char *own = mh_node_get_hospital_id (node);

  g_return_if_fail (MH_IS_BED_BOARD (self));
  g_return_if_fail (MH_IS_NODE (node));
  g_return_if_fail (self->node == NULL);

  self->node = g_object_ref (node);
  self->hospitals = g_object_ref (mh_hospital_list_get_for_node (node));
  /* The hospital shown may arrive (or go) with a peer's changes. */
  g_signal_connect_object (self->hospitals, "items-changed", G_CALLBACK (hospitals_changed_cb),
                           self, G_CONNECT_SWAPPED);

  if (own != NULL)
    {
      /* A desk edits its own hospital only. */
      gtk_widget_set_visible (GTK_WIDGET (self->hospital_row), FALSE);
      mh_bed_board_set_hospital (self, own);
      return;
    }
  else
    {
      g_autoptr (GtkExpression) name = gtk_property_expression_new (MH_TYPE_HOSPITAL_ITEM, NULL,
                                                                    "name");
      g_autoptr (MhHospitalItem) first = NULL;

      /* The list itself: hospitals that arrive show up in it. */
      self->syncing = TRUE;
      adw_combo_row_set_expression (self->hospital_row, name);
      adw_combo_row_set_model (self->hospital_row, G_LIST_MODEL (self->hospitals));
      self->syncing = FALSE;
      first = g_list_model_get_item (G_LIST_MODEL (self->hospitals), 0);
      if (first != NULL)
        mh_bed_board_set_hospital (self, mh_hospital_item_get_id (first));
    }
}

void
mh_bed_board_set_hospital (MhBedBoard *self, const char *hospital_id)
{
  g_return_if_fail (MH_IS_BED_BOARD (self));
  g_return_if_fail (hospital_id != NULL);

  if (g_strcmp0 (self->hospital_id, hospital_id) != 0)
    {
      g_free (self->hospital_id);
      self->hospital_id = g_strdup (hospital_id);
    }
  watch_item (self);
  if (gtk_widget_get_visible (GTK_WIDGET (self->hospital_row)) && self->item != NULL)
    {
      GListModel *model = G_LIST_MODEL (self->hospitals);

      for (guint i = 0; i < g_list_model_get_n_items (model); i++)
        {
          g_autoptr (MhHospitalItem) item = g_list_model_get_item (model, i);

          if (item != self->item)
            continue;
          self->syncing = TRUE;
          adw_combo_row_set_selected (self->hospital_row, i);
          self->syncing = FALSE;
          break;
        }
    }
  load_hospital (self);
}

const char *
mh_bed_board_get_hospital (MhBedBoard *self)
{
  g_return_val_if_fail (MH_IS_BED_BOARD (self), NULL);
  return self->hospital_id;
}

GtkSpinButton *
mh_bed_board_get_spin_button (MhBedBoard *self, const char *category, const char *field)
{
  g_autofree char *key = NULL;

  g_return_val_if_fail (MH_IS_BED_BOARD (self), NULL);

  key = g_strdup_printf ("%s/%s", category, field);
  return g_hash_table_lookup (self->spins, key);
}

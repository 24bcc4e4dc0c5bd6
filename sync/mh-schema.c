#include "config.h"

#include <stdarg.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "mh-schema.h"
#include "mh-sync-error.h"

struct _MhSchema
{
  gint ref_count;
  guint version;
  gboolean frozen;
  GPtrArray *lanes;  /* MhLaneDef */
  GPtrArray *tables; /* MhTableDef */
  GHashTable *tables_by_name;
};

G_DEFINE_BOXED_TYPE (MhSchema, mh_schema, mh_schema_ref, mh_schema_unref)

static void
column_def_free (MhColumnDef *column)
{
  g_free (column->name);
  g_free (column);
}

static void
register_def_free (MhRegisterDef *reg)
{
  g_free (reg->name);
  g_free (reg);
}

static void
table_def_free (MhTableDef *table)
{
  g_free (table->name);
  g_ptr_array_unref (table->columns);
  g_ptr_array_unref (table->registers);
  g_free (table->bucket);
  g_free (table);
}

static void
lane_def_free (MhLaneDef *lane)
{
  g_free (lane->name);
  g_free (lane);
}

/* Names end up in SQL identifiers, so they are kept to a safe alphabet;
 * a leading underscore is reserved for the store's own columns. */
static gboolean
is_valid_name (const char *name)
{
  if (name == NULL || name[0] == '\0' || name[0] == '_' || strlen (name) > 64)
    return FALSE;
  if (!g_ascii_isalpha (name[0]))
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_')
      return FALSE;
  return TRUE;
}

MhSchema *
mh_schema_new (guint version)
{
  MhSchema *self = g_new0 (MhSchema, 1);

  self->ref_count = 1;
  self->version = version;
  self->lanes = g_ptr_array_new_with_free_func ((GDestroyNotify) lane_def_free);
  self->tables = g_ptr_array_new_with_free_func ((GDestroyNotify) table_def_free);
  self->tables_by_name = g_hash_table_new (g_str_hash, g_str_equal);
  return self;
}

MhSchema *
mh_schema_ref (MhSchema *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
mh_schema_unref (MhSchema *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_int_dec_and_test (&self->ref_count))
    return;
  g_hash_table_unref (self->tables_by_name);
  g_ptr_array_unref (self->tables);
  g_ptr_array_unref (self->lanes);
  g_free (self);
}

guint
mh_schema_get_version (MhSchema *self)
{
  return self->version;
}

/**
 * mh_schema_add_lane:
 * @weight: the lane's share of a link, relative to the other lanes
 *
 * Returns: the lane's index
 */
guint
mh_schema_add_lane (MhSchema *self, const char *name, guint weight)
{
  MhLaneDef *lane;

  g_return_val_if_fail (self != NULL && !self->frozen, 0);
  g_return_val_if_fail (name != NULL, 0);

  lane = g_new0 (MhLaneDef, 1);
  lane->name = g_strdup (name);
  lane->index = self->lanes->len;
  lane->weight = MAX (weight, 1);
  g_ptr_array_add (self->lanes, lane);
  return lane->index;
}

gboolean
mh_schema_add_table (MhSchema *self, const char *name, guint lane, MhTableFlags flags,
                     GError **error)
{
  MhTableDef *table;

  g_return_val_if_fail (self != NULL && !self->frozen, FALSE);

  if (!is_valid_name (name))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA, _("invalid table name “%s”"),
                   name ? name : "(null)");
      return FALSE;
    }
  if (g_hash_table_contains (self->tables_by_name, name))
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA, _("table “%s” declared twice"),
                   name);
      return FALSE;
    }
  if (lane >= self->lanes->len)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_SCHEMA, _("table “%s”: no lane %u"),
                   name, lane);
      return FALSE;
    }

  table = g_new0 (MhTableDef, 1);
  table->name = g_strdup (name);
  table->index = self->tables->len;
  table->lane = lane;
  table->flags = flags;
  table->columns = g_ptr_array_new_with_free_func ((GDestroyNotify) column_def_free);
  table->registers = g_ptr_array_new_with_free_func ((GDestroyNotify) register_def_free);
  table->bucket = g_strdup (name);
  g_ptr_array_add (self->tables, table);
  g_hash_table_insert (self->tables_by_name, table->name, table);
  return TRUE;
}

/**
 * mh_schema_add_register:
 * @first_column: the first column name, followed by its #MhColumnType, then
 *   more name/type pairs, ending with %NULL
 *
 * Declares a register: columns that only mean something together and win
 * or lose together. Registers of a table are stored in declaration order;
 * later schema versions may only append registers.
 */
gboolean
mh_schema_add_register (MhSchema *self, const char *table_name, const char *reg_name,
                        MhRegisterFlags flags, const char *first_column, ...)
{
  MhTableDef *table;
  MhRegisterDef *reg;
  const char *column_name;
  va_list args;

  g_return_val_if_fail (self != NULL && !self->frozen, FALSE);

  table = g_hash_table_lookup (self->tables_by_name, table_name);
  g_return_val_if_fail (table != NULL, FALSE);
  g_return_val_if_fail (is_valid_name (reg_name), FALSE);
  g_return_val_if_fail (mh_table_def_lookup_register (table, reg_name, NULL) == NULL, FALSE);
  g_return_val_if_fail (first_column != NULL, FALSE);
  /* An insert-only row is one register: written once, whole. */
  g_return_val_if_fail (!(table->flags & MH_TABLE_INSERT_ONLY) || table->registers->len == 0,
                        FALSE);

  reg = g_new0 (MhRegisterDef, 1);
  reg->name = g_strdup (reg_name);
  reg->flags = flags;
  reg->first_column = table->columns->len;

  va_start (args, first_column);
  for (column_name = first_column; column_name != NULL; column_name = va_arg (args, const char *))
    {
      MhColumnType type = va_arg (args, MhColumnType);
      MhColumnDef *column;

      if (!is_valid_name (column_name) || g_str_equal (column_name, "id")
          || mh_table_def_lookup_column (table, column_name, NULL) != NULL)
        {
          g_critical ("table %s: invalid or duplicate column “%s”", table_name, column_name);
          va_end (args);
          /* Drop the register's columns added so far: left behind, they
           * would belong to the next register declared. */
          g_ptr_array_set_size (table->columns, reg->first_column);
          register_def_free (reg);
          return FALSE;
        }
      column = g_new0 (MhColumnDef, 1);
      column->name = g_strdup (column_name);
      column->type = type;
      column->reg = table->registers->len;
      g_ptr_array_add (table->columns, column);
      reg->n_columns++;
    }
  va_end (args);

  g_ptr_array_add (table->registers, reg);
  return TRUE;
}

/**
 * mh_schema_set_bucket:
 * @bucket: the digest bucket of the table's rows
 * @by_row_prefix: when %TRUE, a row whose id has the form `PREFIX/REST`
 *   goes to the bucket `BUCKET:PREFIX`
 *
 * A row's bucket is a function of its table and id alone, so that a node
 * that receives a deletion before the row still files it in the same bucket.
 */
gboolean
mh_schema_set_bucket (MhSchema *self, const char *table_name, const char *bucket,
                      gboolean by_row_prefix)
{
  MhTableDef *table;

  g_return_val_if_fail (self != NULL && !self->frozen, FALSE);
  g_return_val_if_fail (bucket != NULL && *bucket != '\0', FALSE);

  table = g_hash_table_lookup (self->tables_by_name, table_name);
  g_return_val_if_fail (table != NULL, FALSE);
  g_free (table->bucket);
  table->bucket = g_strdup (bucket);
  table->bucket_by_row_prefix = by_row_prefix;
  return TRUE;
}

char *
mh_table_def_bucket_for_row (const MhTableDef *table, const char *row)
{
  const char *slash;

  if (!table->bucket_by_row_prefix || (slash = strchr (row, '/')) == NULL)
    return g_strdup (table->bucket);
  return g_strdup_printf ("%s:%.*s", table->bucket, (int) (slash - row), row);
}

guint
mh_schema_get_n_lanes (MhSchema *self)
{
  return self->lanes->len;
}

const MhLaneDef *
mh_schema_get_lane (MhSchema *self, guint lane)
{
  g_return_val_if_fail (lane < self->lanes->len, NULL);
  return g_ptr_array_index (self->lanes, lane);
}

guint
mh_schema_get_n_tables (MhSchema *self)
{
  return self->tables->len;
}

const MhTableDef *
mh_schema_get_table (MhSchema *self, guint index)
{
  g_return_val_if_fail (index < self->tables->len, NULL);
  return g_ptr_array_index (self->tables, index);
}

const MhTableDef *
mh_schema_lookup_table (MhSchema *self, const char *name)
{
  if (name == NULL)
    return NULL;
  return g_hash_table_lookup (self->tables_by_name, name);
}

const MhRegisterDef *
mh_table_def_lookup_register (const MhTableDef *table, const char *reg, guint *out_index)
{
  if (reg == NULL)
    return NULL;
  for (guint i = 0; i < table->registers->len; i++)
    {
      const MhRegisterDef *def = g_ptr_array_index (table->registers, i);
      if (strcmp (def->name, reg) == 0)
        {
          if (out_index)
            *out_index = i;
          return def;
        }
    }
  return NULL;
}

const MhColumnDef *
mh_table_def_lookup_column (const MhTableDef *table, const char *column, guint *out_index)
{
  if (column == NULL)
    return NULL;
  for (guint i = 0; i < table->columns->len; i++)
    {
      const MhColumnDef *def = g_ptr_array_index (table->columns, i);
      if (strcmp (def->name, column) == 0)
        {
          if (out_index)
            *out_index = i;
          return def;
        }
    }
  return NULL;
}

void
mh_schema_freeze (MhSchema *self)
{
  self->frozen = TRUE;
}

gboolean
mh_schema_is_frozen (MhSchema *self)
{
  return self->frozen;
}

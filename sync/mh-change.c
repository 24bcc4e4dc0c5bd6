#include "config.h"

#include <string.h>

#include "mh-change.h"

G_DEFINE_BOXED_TYPE (MhChange, mh_change, mh_change_ref, mh_change_unref)

static MhChange *
change_new (MhChangeKind kind, const char *table, const char *row, MhHlc hlc, const char *origin,
            gint64 origin_seq)
{
  MhChange *self = g_new0 (MhChange, 1);

  self->ref_count = 1;
  self->kind = kind;
  self->table = g_strdup (table);
  self->row = g_strdup (row);
  self->hlc = hlc;
  self->origin = g_strdup (origin);
  self->origin_seq = origin_seq;
  return self;
}

/**
 * mh_change_new_set:
 * @value: (transfer floating): a #GVariant of type `av`
 */
MhChange *
mh_change_new_set (const char *table, const char *row, const char *reg, GVariant *value,
                   MhHlc hlc, const char *origin, gint64 origin_seq)
{
  MhChange *self;

  g_return_val_if_fail (table != NULL && row != NULL && reg != NULL, NULL);
  g_return_val_if_fail (value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE ("av")), NULL);

  self = change_new (MH_CHANGE_SET, table, row, hlc, origin, origin_seq);
  self->reg = g_strdup (reg);
  self->value = g_variant_ref_sink (value);
  return self;
}

MhChange *
mh_change_new_delete (const char *table, const char *row, MhHlc hlc, const char *origin,
                      gint64 origin_seq)
{
  g_return_val_if_fail (table != NULL && row != NULL, NULL);

  return change_new (MH_CHANGE_DELETE, table, row, hlc, origin, origin_seq);
}

MhChange *
mh_change_ref (MhChange *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
mh_change_unref (MhChange *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_int_dec_and_test (&self->ref_count))
    return;

  g_free (self->table);
  g_free (self->row);
  g_free (self->reg);
  g_clear_pointer (&self->value, g_variant_unref);
  g_free (self->origin);
  g_clear_pointer (&self->signature, g_bytes_unref);
  g_free (self);
}

/* Equal as changes: same write by the same origin. The local sequence
 * number is where a replica keeps it, not part of the change. */
gboolean
mh_change_equal (const MhChange *a, const MhChange *b)
{
  if (a->kind != b->kind || a->hlc != b->hlc || a->origin_seq != b->origin_seq
      || a->schema_version != b->schema_version)
    return FALSE;
  if (g_strcmp0 (a->table, b->table) != 0 || g_strcmp0 (a->row, b->row) != 0
      || g_strcmp0 (a->reg, b->reg) != 0 || g_strcmp0 (a->origin, b->origin) != 0)
    return FALSE;
  if ((a->value == NULL) != (b->value == NULL)
      || (a->value != NULL && !g_variant_equal (a->value, b->value)))
    return FALSE;
  if ((a->signature == NULL) != (b->signature == NULL)
      || (a->signature != NULL && !g_bytes_equal (a->signature, b->signature)))
    return FALSE;
  return TRUE;
}

/* Total order of last-writer-wins: the clock, then the origin site id. */
int
mh_change_compare_clock (MhHlc hlc_a, const char *origin_a, MhHlc hlc_b, const char *origin_b)
{
  if (hlc_a != hlc_b)
    return hlc_a < hlc_b ? -1 : 1;
  return strcmp (origin_a, origin_b);
}

GVariant *
mh_value_null (void)
{
  return g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL);
}

gboolean
mh_value_is_null (GVariant *value)
{
  if (value == NULL)
    return TRUE;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);
      return mh_value_is_null (inner);
    }
  return g_variant_is_of_type (value, G_VARIANT_TYPE_MAYBE) && g_variant_n_children (value) == 0;
}

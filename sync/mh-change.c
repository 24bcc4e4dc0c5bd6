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
  g_clear_pointer (&self->seal, mh_seal_unref);
  g_free (self);
}

/* Equal as changes: same write by the same origin. The local sequence
 * number is where a replica keeps it, not part of the change; the seal is
 * how its signature travels, and the marker stands for it. */
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

/* Seals */

G_DEFINE_BOXED_TYPE (MhSeal, mh_seal, mh_seal_ref, mh_seal_unref)

/**
 * mh_seal_new:
 * @sig: the 96-byte signature field (not checked here)
 * @hashes: 32 * @n bytes
 *
 * Returns: (transfer full): a seal, not verified yet
 */
MhSeal *
mh_seal_new (const char *origin, gint64 first_oseq, guint n, GBytes *sig, GBytes *hashes)
{
  MhSeal *self;

  g_return_val_if_fail (origin != NULL && sig != NULL && hashes != NULL, NULL);
  g_return_val_if_fail (n >= 1 && n <= MH_SEAL_MAX, NULL);
  g_return_val_if_fail (g_bytes_get_size (hashes) == (gsize) n * MH_SEAL_HASH_SIZE, NULL);

  self = g_new0 (MhSeal, 1);
  self->ref_count = 1;
  self->origin = g_strdup (origin);
  self->first_oseq = first_oseq;
  self->n = n;
  self->sig = g_bytes_ref (sig);
  self->hashes = g_bytes_ref (hashes);
  return self;
}

MhSeal *
mh_seal_ref (MhSeal *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
mh_seal_unref (MhSeal *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_int_dec_and_test (&self->ref_count))
    return;
  g_free (self->origin);
  g_bytes_unref (self->sig);
  g_bytes_unref (self->hashes);
  g_free (self);
}

/* Same seal, byte for byte (the verdict cached in it aside). */
gboolean
mh_seal_equal (const MhSeal *a, const MhSeal *b)
{
  return a->first_oseq == b->first_oseq && a->n == b->n && g_strcmp0 (a->origin, b->origin) == 0
         && g_bytes_equal (a->sig, b->sig) && g_bytes_equal (a->hashes, b->hashes);
}

gboolean
mh_seal_covers (const MhSeal *self, const char *origin, gint64 oseq)
{
  return oseq >= self->first_oseq && oseq - self->first_oseq < (gint64) self->n
         && g_strcmp0 (self->origin, origin) == 0;
}

/* The hash the seal holds for @oseq, or %NULL if it does not cover it. */
const guint8 *
mh_seal_get_hash (const MhSeal *self, gint64 oseq)
{
  if (oseq < self->first_oseq || oseq - self->first_oseq >= (gint64) self->n)
    return NULL;
  return (const guint8 *) g_bytes_get_data (self->hashes, NULL)
         + (gsize) (oseq - self->first_oseq) * MH_SEAL_HASH_SIZE;
}

/**
 * mh_seal_marker:
 *
 * Returns: (transfer full): the one-byte signature field of a sealed change
 */
GBytes *
mh_seal_marker (void)
{
  static const guint8 marker[1] = { MH_SEAL_MARKER };

  return g_bytes_new_static (marker, sizeof marker);
}

/* Its signature field is the marker: what signs it is a seal, attached or not. */
gboolean
mh_change_is_sealed (const MhChange *change)
{
  gsize len;
  const guint8 *sig;

  if (change->signature == NULL)
    return FALSE;
  sig = g_bytes_get_data (change->signature, &len);
  return len == 1 && sig[0] == MH_SEAL_MARKER;
}

/* Attaches @seal (a ref is taken) and sets the marker. */
void
mh_change_set_seal (MhChange *change, MhSeal *seal)
{
  g_clear_pointer (&change->seal, mh_seal_unref);
  change->seal = seal ? mh_seal_ref (seal) : NULL;
  if (seal != NULL && !mh_change_is_sealed (change))
    {
      g_clear_pointer (&change->signature, g_bytes_unref);
      change->signature = mh_seal_marker ();
    }
}

static void
put_u32 (GByteArray *out, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };

  g_byte_array_append (out, b, 4);
}

static void
put_u64 (GByteArray *out, guint64 v)
{
  put_u32 (out, (guint32) (v >> 32));
  put_u32 (out, (guint32) v);
}

static void
put_text (GByteArray *out, const char *text)
{
  gsize len = text ? strlen (text) : 0;

  put_u32 (out, (guint32) len);
  g_byte_array_append (out, (const guint8 *) (text ? text : ""), (guint) len);
}

/**
 * mh_change_canonical_bytes:
 *
 * The bytes an origin signs for @change (docs/protocol.md, "Signed
 * changes"): a fixed tag, then big-endian and length-prefixed fields, so
 * that one change has exactly one encoding:
 *
 *   "MHSIG1\0" kind(u8: 1 write, 2 deletion) table row register
 *   n_values(u32) values… clock(u64) origin origin_seq(u64) schema_version(u32)
 *
 * where a text is its byte length (u32) and its UTF-8 bytes, the register is
 * empty for a deletion, and a value is 'x' and 8 bytes (integer), 'd' and the
 * 8 bytes of the IEEE 754 double (-0.0 as 0.0), 's' and a text, or 'n'
 * (NULL). A deletion signs schema version 0: it does not depend on the
 * schema, and tombstones do not keep one.
 *
 * Returns: (transfer full): the canonical bytes
 */
GBytes *
mh_change_canonical_bytes (const MhChange *change)
{
  static const guint8 tag[7] = { 'M', 'H', 'S', 'I', 'G', '1', 0 };
  GByteArray *out = g_byte_array_sized_new (128);
  guint8 kind = change->kind == MH_CHANGE_SET ? 1 : 2;
  gsize n = change->kind == MH_CHANGE_SET && change->value ? g_variant_n_children (change->value)
                                                           : 0;

  g_byte_array_append (out, tag, sizeof tag);
  g_byte_array_append (out, &kind, 1);
  put_text (out, change->table);
  put_text (out, change->row);
  put_text (out, change->kind == MH_CHANGE_SET ? change->reg : NULL);
  put_u32 (out, (guint32) n);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (change->value, i);
      g_autoptr(GVariant) inner = g_variant_get_variant (boxed);
      const char *type = g_variant_get_type_string (inner);
      guint8 t;

      if (strcmp (type, "x") == 0)
        {
          t = 'x';
          g_byte_array_append (out, &t, 1);
          put_u64 (out, (guint64) g_variant_get_int64 (inner));
        }
      else if (strcmp (type, "d") == 0)
        {
          union { double d; guint64 u; } v;

          v.d = g_variant_get_double (inner);
          if (v.d == 0.0)
            v.d = 0.0;
          t = 'd';
          g_byte_array_append (out, &t, 1);
          put_u64 (out, v.u);
        }
      else if (strcmp (type, "s") == 0)
        {
          t = 's';
          g_byte_array_append (out, &t, 1);
          put_text (out, g_variant_get_string (inner, NULL));
        }
      else
        {
          t = 'n';
          g_byte_array_append (out, &t, 1);
        }
    }
  put_u64 (out, (guint64) change->hlc);
  put_text (out, change->origin);
  put_u64 (out, (guint64) change->origin_seq);
  put_u32 (out, change->kind == MH_CHANGE_SET ? change->schema_version : 0);
  return g_byte_array_free_to_bytes (out);
}

/**
 * mh_seal_message:
 * @hashes: 32 * @n bytes
 *
 * The bytes an origin signs for a seal (docs/protocol.md, "Signed changes"):
 *
 *   "MHSEAL1\0" origin(u32 length, bytes) first_oseq(u64) n(u32) hashes…
 *
 * all big-endian.
 *
 * Returns: (transfer full): the message
 */
GBytes *
mh_seal_message (const char *origin, gint64 first_oseq, guint n, const guint8 *hashes)
{
  static const guint8 tag[8] = { 'M', 'H', 'S', 'E', 'A', 'L', '1', 0 };
  GByteArray *out = g_byte_array_sized_new (64 + n * MH_SEAL_HASH_SIZE);

  g_byte_array_append (out, tag, sizeof tag);
  put_text (out, origin);
  put_u64 (out, (guint64) first_oseq);
  put_u32 (out, n);
  g_byte_array_append (out, hashes, n * MH_SEAL_HASH_SIZE);
  return g_byte_array_free_to_bytes (out);
}

#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "mh-change.h"
#include "mh-codec.h"
#include "mh-identity.h"
#include "mh-sync-error.h"

/* Schema versions travel in 16 bits elsewhere in the protocol. */
#define MAX_SCHEMA_VERSION 65535

void
mh_codec_limits_init (MhCodecLimits *limits)
{
  g_return_if_fail (limits != NULL);

  limits->max_bytes = MH_CODEC_DEFAULT_MAX_BYTES;
  limits->max_changes = MH_CODEC_DEFAULT_MAX_CHANGES;
  limits->max_string = MH_CODEC_DEFAULT_MAX_STRING;
  limits->max_depth = MH_CODEC_DEFAULT_MAX_DEPTH;
  limits->max_columns = MH_CODEC_DEFAULT_MAX_COLUMNS;
  limits->max_signature = MH_CODEC_DEFAULT_MAX_SIGNATURE;
}

static const MhCodecLimits *
resolve_limits (const MhCodecLimits *limits, MhCodecLimits *defaults)
{
  if (limits != NULL)
    return limits;
  mh_codec_limits_init (defaults);
  return defaults;
}

/* Encoding */

typedef enum
{
  VALUE_INVALID,
  VALUE_INT,
  VALUE_REAL,
  VALUE_TEXT,
  VALUE_NULL,
} ValueKind;

/* JSON has no NaN or infinity, and a change the decoder would refuse must
 * fail where it is made, not poison every batch that relays it: non-finite
 * reals (like every other broken precondition) are a critical and no output. */
static ValueKind
classify_value (GVariant *inner)
{
  switch (g_variant_classify (inner))
    {
      case G_VARIANT_CLASS_INT64:
        return VALUE_INT;
      case G_VARIANT_CLASS_DOUBLE:
        g_return_val_if_fail (isfinite (g_variant_get_double (inner)), VALUE_INVALID);
        return VALUE_REAL;
      case G_VARIANT_CLASS_STRING:
        return VALUE_TEXT;
      case G_VARIANT_CLASS_MAYBE:
        g_return_val_if_fail (g_variant_n_children (inner) == 0, VALUE_INVALID);
        return VALUE_NULL;
      default:
        g_return_val_if_reached (VALUE_INVALID);
    }
}

/* What the decoder would refuse whatever its limits. */
static gboolean
check_encodable (const MhChange *change)
{
  g_return_val_if_fail (change != NULL, FALSE);
  g_return_val_if_fail (change->table != NULL && *change->table != '\0', FALSE);
  g_return_val_if_fail (change->row != NULL && *change->row != '\0', FALSE);
  g_return_val_if_fail (change->origin != NULL && *change->origin != '\0', FALSE);
  g_return_val_if_fail (change->hlc > 0, FALSE);
  g_return_val_if_fail (change->origin_seq >= 0, FALSE);
  g_return_val_if_fail (change->schema_version <= MAX_SCHEMA_VERSION, FALSE);
  if (change->kind == MH_CHANGE_SET)
    {
      g_return_val_if_fail (change->reg != NULL && *change->reg != '\0', FALSE);
      g_return_val_if_fail (change->value != NULL, FALSE);
      /* Not G_VARIANT_TYPE ("av"): that checks the type string on every call. */
      g_return_val_if_fail (strcmp (g_variant_get_type_string (change->value), "av") == 0, FALSE);
      g_return_val_if_fail (g_variant_n_children (change->value) > 0, FALSE);
    }
  else
    g_return_val_if_fail (change->kind == MH_CHANGE_DELETE, FALSE);
  return TRUE;
}

static void
append_int64 (GString *out, gint64 value)
{
  char buf[24];
  char *p = buf + sizeof buf;
  /* Negating in unsigned arithmetic is defined for G_MININT64 too. */
  guint64 magnitude = value < 0 ? -(guint64) value : (guint64) value;

  do
    {
      *--p = (char) ('0' + magnitude % 10);
      magnitude /= 10;
    }
  while (magnitude != 0);
  if (value < 0)
    *--p = '-';
  g_string_append_len (out, p, buf + sizeof buf - p);
}

/* The shortest of %.15g, %.16g and %.17g that reads back to the same bits,
 * so that 0.1 stays "0.1" and every finite double survives the trip.
 * Integral values get a ".0" so that they decode as reals, not integers.
 * (json-glib 1.6's own generator does the latter by appending ".0" to
 * anything without a '.', which turns 1e22 into the invalid "1e+22.0".) */
static void
append_double (GString *out, double value)
{
  static const char *const formats[] = { "%.15g", "%.16g", "%.17g" };
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_ascii_formatd (buf, sizeof buf, formats[i], value);
      if (g_ascii_strtod (buf, NULL) == value)
        break;
    }
  g_string_append (out, buf);
  if (strpbrk (buf, ".e") == NULL)
    g_string_append_len (out, ".0", 2);
}

static void
append_string (GString *out, const char *text)
{
  static const char hex[] = "0123456789abcdef";
  const char *run = text;
  const char *p;

  g_string_append_c (out, '"');
  for (p = text; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;
      const char *escape;

      if (c >= 0x20 && c != '"' && c != '\\')
        continue;

      g_string_append_len (out, run, p - run);
      run = p + 1;
      switch (c)
        {
          case '"':
            escape = "\\\"";
            break;
          case '\\':
            escape = "\\\\";
            break;
          case '\n':
            escape = "\\n";
            break;
          case '\r':
            escape = "\\r";
            break;
          case '\t':
            escape = "\\t";
            break;
          default:
            {
              char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };
              g_string_append_len (out, u, sizeof u);
              continue;
            }
        }
      g_string_append_len (out, escape, 2);
    }
  g_string_append_len (out, run, p - run);
  g_string_append_c (out, '"');
}

static gboolean
append_values (GString *out, GVariant *values)
{
  gsize n = g_variant_n_children (values);

  g_string_append_c (out, '[');
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (values, i);
      g_autoptr(GVariant) inner = g_variant_get_variant (boxed);

      if (i > 0)
        g_string_append_c (out, ',');
      switch (classify_value (inner))
        {
          case VALUE_INT:
            append_int64 (out, g_variant_get_int64 (inner));
            break;
          case VALUE_REAL:
            append_double (out, g_variant_get_double (inner));
            break;
          case VALUE_TEXT:
            append_string (out, g_variant_get_string (inner, NULL));
            break;
          case VALUE_NULL:
            g_string_append_len (out, "null", 4);
            break;
          case VALUE_INVALID:
          default:
            return FALSE;
        }
    }
  g_string_append_c (out, ']');
  return TRUE;
}

#define APPEND_LITERAL(out, literal) g_string_append_len ((out), (literal), sizeof (literal) - 1)

/* Its seal covers it alone: one commit, one change (a live update). */
static gboolean
sealed_alone (const MhChange *change)
{
  return change->seal != NULL && change->seal->n == 1
         && change->seal->first_oseq == change->origin_seq
         && g_strcmp0 (change->seal->origin, change->origin) == 0;
}

/* Written by hand rather than through JsonGenerator: this is the hot path of
 * every sync round, and it controls how reals are printed (see append_double). */
static gboolean
append_change (GString *out, const MhChange *change)
{
  if (!check_encodable (change))
    return FALSE;

  APPEND_LITERAL (out, "{\"t\":");
  append_string (out, change->table);
  APPEND_LITERAL (out, ",\"r\":");
  append_string (out, change->row);
  if (change->kind == MH_CHANGE_SET)
    {
      APPEND_LITERAL (out, ",\"g\":");
      append_string (out, change->reg);
      APPEND_LITERAL (out, ",\"v\":");
      if (!append_values (out, change->value))
        return FALSE;
    }
  else
    APPEND_LITERAL (out, ",\"d\":1");
  APPEND_LITERAL (out, ",\"c\":");
  append_int64 (out, change->hlc);
  APPEND_LITERAL (out, ",\"o\":");
  append_string (out, change->origin);
  APPEND_LITERAL (out, ",\"s\":");
  append_int64 (out, change->origin_seq);
  if (change->schema_version != 0)
    {
      APPEND_LITERAL (out, ",\"sv\":");
      append_int64 (out, change->schema_version);
    }
  /* A seal of this change alone travels in it: its signature field as
   * "sig", and "ss":1; the receiver hashes the change for the rest. */
  if (sealed_alone (change))
    {
      g_autofree char *base64 = g_base64_encode (g_bytes_get_data (change->seal->sig, NULL),
                                                 g_bytes_get_size (change->seal->sig));

      APPEND_LITERAL (out, ",\"sig\":\"");
      g_string_append (out, base64);
      APPEND_LITERAL (out, "\",\"ss\":1");
    }
  /* Another sealed change is signed by its seal, sent once in the batch. */
  else if (change->signature != NULL && change->seal == NULL)
    {
      gsize size;
      const guchar *bytes = g_bytes_get_data (change->signature, &size);
      g_autofree char *base64 = g_base64_encode (bytes, size);

      APPEND_LITERAL (out, ",\"sig\":\"");
      g_string_append (out, base64);
      g_string_append_c (out, '"');
    }
  g_string_append_c (out, '}');
  return TRUE;
}

static void
append_base64 (GString *out, GBytes *bytes)
{
  gsize size;
  const guchar *data = g_bytes_get_data (bytes, &size);
  g_autofree char *base64 = g_base64_encode (data, size);

  g_string_append_c (out, '"');
  g_string_append (out, base64);
  g_string_append_c (out, '"');
}

static void
append_seal (GString *out, const MhSeal *seal)
{
  APPEND_LITERAL (out, "{\"o\":");
  append_string (out, seal->origin);
  APPEND_LITERAL (out, ",\"f\":");
  append_int64 (out, seal->first_oseq);
  APPEND_LITERAL (out, ",\"n\":");
  append_int64 (out, seal->n);
  APPEND_LITERAL (out, ",\"sig\":");
  append_base64 (out, seal->sig);
  APPEND_LITERAL (out, ",\"h\":");
  append_base64 (out, seal->hashes);
  g_string_append_c (out, '}');
}

static guint
seal_key_hash (gconstpointer p)
{
  const MhSeal *seal = p;

  return g_str_hash (seal->origin) ^ g_int64_hash (&seal->first_oseq);
}

static gboolean
seal_key_equal (gconstpointer a, gconstpointer b)
{
  const MhSeal *x = a, *y = b;

  return x->first_oseq == y->first_oseq && strcmp (x->origin, y->origin) == 0;
}

static char *
encode_batch (GPtrArray *changes, gboolean with_seals, gsize *out_length)
{
  g_autoptr(GString) out = NULL;
  g_autoptr(GHashTable) seals = NULL;
  gboolean first_seal = TRUE;

  g_return_val_if_fail (changes != NULL, NULL);

  out = g_string_sized_new (32 + (gsize) changes->len * 192);
  APPEND_LITERAL (out, "{\"changes\":[");
  for (guint i = 0; i < changes->len; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      if (!append_change (out, g_ptr_array_index (changes, i)))
        return NULL;
    }
  g_string_append_c (out, ']');

  /* Each seal once, however many of the batch's changes it covers. */
  for (guint i = 0; with_seals && i < changes->len; i++)
    {
      const MhChange *change = g_ptr_array_index (changes, i);

      if (change->seal == NULL || sealed_alone (change))
        continue;
      if (seals == NULL)
        seals = g_hash_table_new (seal_key_hash, seal_key_equal);
      if (!g_hash_table_add (seals, change->seal))
        continue;
      if (first_seal)
        APPEND_LITERAL (out, ",\"seals\":[");
      else
        g_string_append_c (out, ',');
      first_seal = FALSE;
      append_seal (out, change->seal);
    }
  if (!first_seal)
    g_string_append_c (out, ']');
  g_string_append_c (out, '}');

  if (out_length != NULL)
    *out_length = out->len;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/**
 * mh_codec_encode_batch:
 * @changes: (element-type MhChange): the changes
 * @out_length: (out) (optional): the length of the text
 *
 * Sealed changes go without "sig"; their seals follow, each once, in
 * "seals".
 *
 * Returns: (transfer full) (nullable): compact JSON text, or %NULL (with a
 *   critical) if a change breaks a precondition, such as a non-finite real
 */
char *
mh_codec_encode_batch (GPtrArray *changes, gsize *out_length)
{
  return encode_batch (changes, TRUE, out_length);
}

/**
 * mh_codec_encode_batch_unsealed:
 *
 * As mh_codec_encode_batch(), without the seals: for a replica that keeps
 * them itself (its queues), and attaches them again when it reads the
 * changes back. Sealed changes decode from it as unsigned.
 */
char *
mh_codec_encode_batch_unsealed (GPtrArray *changes, gsize *out_length)
{
  return encode_batch (changes, FALSE, out_length);
}

/**
 * mh_codec_encode_change:
 *
 * The node holds reals as doubles. Print it with mh_codec_encode_batch()
 * where possible: json-glib 1.6's generator prints some reals (1e22) as
 * invalid JSON.
 *
 * Returns: (transfer full) (nullable): a JSON object, or %NULL (with a
 *   critical) if the change breaks a precondition
 */
JsonNode *
mh_codec_encode_change (const MhChange *change)
{
  g_autoptr(JsonObject) object = NULL;

  if (!check_encodable (change))
    return NULL;

  object = json_object_new ();
  json_object_set_string_member (object, "t", change->table);
  json_object_set_string_member (object, "r", change->row);
  if (change->kind == MH_CHANGE_SET)
    {
      gsize n = g_variant_n_children (change->value);
      g_autoptr(JsonArray) values = json_array_sized_new ((guint) n);

      json_object_set_string_member (object, "g", change->reg);
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) boxed = g_variant_get_child_value (change->value, i);
          g_autoptr(GVariant) inner = g_variant_get_variant (boxed);

          switch (classify_value (inner))
            {
              case VALUE_INT:
                json_array_add_int_element (values, g_variant_get_int64 (inner));
                break;
              case VALUE_REAL:
                json_array_add_double_element (values, g_variant_get_double (inner));
                break;
              case VALUE_TEXT:
                json_array_add_string_element (values, g_variant_get_string (inner, NULL));
                break;
              case VALUE_NULL:
                json_array_add_null_element (values);
                break;
              case VALUE_INVALID:
              default:
                return NULL;
            }
        }
      json_object_set_array_member (object, "v", g_steal_pointer (&values));
    }
  else
    json_object_set_int_member (object, "d", 1);
  json_object_set_int_member (object, "c", change->hlc);
  json_object_set_string_member (object, "o", change->origin);
  json_object_set_int_member (object, "s", change->origin_seq);
  if (change->schema_version != 0)
    json_object_set_int_member (object, "sv", change->schema_version);
  if (sealed_alone (change))
    {
      g_autofree char *base64 = g_base64_encode (g_bytes_get_data (change->seal->sig, NULL),
                                                 g_bytes_get_size (change->seal->sig));

      json_object_set_string_member (object, "sig", base64);
      json_object_set_int_member (object, "ss", 1);
    }
  /* A lone change cannot carry a longer seal: as in a batch, no "sig". */
  else if (change->signature != NULL && change->seal == NULL)
    {
      gsize size;
      const guchar *bytes = g_bytes_get_data (change->signature, &size);
      g_autofree char *base64 = g_base64_encode (bytes, size);

      json_object_set_string_member (object, "sig", base64);
    }

  return json_node_init_object (json_node_alloc (), object);
}

/**
 * mh_codec_encode_changes:
 * @changes: (element-type MhChange): the changes
 *
 * Returns: (transfer full) (nullable): a JSON array, or %NULL (with a
 *   critical) if a change breaks a precondition
 */
JsonNode *
mh_codec_encode_changes (GPtrArray *changes)
{
  g_autoptr(JsonArray) array = NULL;

  g_return_val_if_fail (changes != NULL, NULL);

  array = json_array_sized_new (changes->len);
  for (guint i = 0; i < changes->len; i++)
    {
      JsonNode *node = mh_codec_encode_change (g_ptr_array_index (changes, i));

      if (node == NULL)
        return NULL;
      json_array_add_element (array, node);
    }
  return json_node_init_array (json_node_alloc (), array);
}

/* Lexical checks
 *
 * json-glib 1.6 is a lenient parser: it wraps integers that overflow int64
 * (so a "c" of 2^64 + 1 would read as 1), cuts strings at "\u0000" (so a
 * row id "a\u0000b" would name row "a"), reads octal, hex, single-quoted
 * strings, C comments and "var x = …", and ignores a second value after the
 * first; its parser also recurses once per nesting level. So text from a
 * peer never reaches it: scan_json() holds the text to the JSON grammar, in
 * one pass without recursion, and the reader further down reads what passes. */

static gboolean
lexical_error (GError **error, MhSyncError code, const char *data, const char *p,
               const char *message)
{
  g_set_error (error, MH_SYNC_ERROR, code, _("byte %zu: %s"), (gsize) (p - data),
               message);
  return FALSE;
}

static inline gboolean
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads the four hex digits after "\u" at @p. */
static gboolean
read_unicode_escape (const char *p, const char *end, gunichar *out)
{
  gunichar value = 0;

  if (end - p < 4)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      int digit = hex_value (p[i]);

      if (digit < 0)
        return FALSE;
      value = (value << 4) | (gunichar) digit;
    }
  *out = value;
  return TRUE;
}

/* @p points at the opening quote; on success it points past the closing one. */
static gboolean
scan_string (const char *data, const char **pp, const char *end, GError **error)
{
  const char *p = *pp + 1;

  for (;;)
    {
      gunichar unit;

      while (p < end && (guchar) *p >= 0x20 && *p != '"' && *p != '\\')
        p++;
      if (p == end)
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, *pp, _("unterminated string"));
      if (*p == '"')
        break;
      if (*p != '\\')
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p,
                              _("control character in a string"));

      if (p + 1 == end)
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, *pp, _("unterminated string"));
      switch (p[1])
        {
          case '"':
          case '\\':
          case '/':
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
            p += 2;
            continue;
          case 'u':
            break;
          default:
            return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p, _("invalid escape"));
        }

      if (!read_unicode_escape (p + 2, end, &unit))
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p, _("invalid \\u escape"));
      /* Strings end up as C strings: a NUL would silently cut them short. */
      if (unit == 0)
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p,
                              _("strings must not contain U+0000"));
      if (unit >= 0xdc00 && unit <= 0xdfff)
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p, _("lone low surrogate"));
      if (unit >= 0xd800 && unit <= 0xdbff)
        {
          gunichar low;

          if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || !read_unicode_escape (p + 8, end, &low)
              || low < 0xdc00 || low > 0xdfff)
            return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p,
                                  _("lone high surrogate"));
          p += 6;
        }
      p += 6;
    }

  *pp = p + 1;
  return TRUE;
}

/* An integer without fraction or exponent must fit in an int64; a real is
 * checked for range (overflow to infinity) once parsed. */
static gboolean
scan_number (const char *data, const char **pp, const char *end, GError **error)
{
  const char *start = *pp;
  const char *p = start;
  gboolean negative = FALSE;
  gboolean integer = TRUE;
  const char *digits;

  if (*p == '-')
    {
      negative = TRUE;
      p++;
    }
  digits = p;
  if (p < end && *p == '0')
    {
      p++;
      if (p < end && is_digit (*p))
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, start,
                              _("leading zero in a number"));
    }
  else if (p < end && is_digit (*p))
    {
      while (p < end && is_digit (*p))
        p++;
    }
  else
    return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, start, _("invalid number"));

  if (p < end && *p == '.')
    {
      integer = FALSE;
      p++;
      if (p == end || !is_digit (*p))
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, start, _("invalid number"));
      while (p < end && is_digit (*p))
        p++;
    }
  if (p < end && (*p == 'e' || *p == 'E'))
    {
      integer = FALSE;
      p++;
      if (p < end && (*p == '+' || *p == '-'))
        p++;
      if (p == end || !is_digit (*p))
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, start, _("invalid number"));
      while (p < end && is_digit (*p))
        p++;
    }

  if (integer)
    {
      guint64 limit = negative ? (guint64) G_MAXINT64 + 1 : (guint64) G_MAXINT64;
      guint64 value = 0;

      for (const char *d = digits; d < p; d++)
        {
          guint digit = (guint) (*d - '0');

          if (value > (limit - digit) / 10)
            return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, start,
                                  _("integer out of range"));
          value = value * 10 + digit;
        }
    }

  *pp = p;
  return TRUE;
}

static gboolean
scan_literal (const char **pp, const char *end)
{
  static const char *const literals[] = { "true", "false", "null" };

  for (guint i = 0; i < G_N_ELEMENTS (literals); i++)
    {
      gsize len = strlen (literals[i]);

      if ((gsize) (end - *pp) >= len && memcmp (*pp, literals[i], len) == 0)
        {
          *pp += len;
          return TRUE;
        }
    }
  return FALSE;
}

typedef enum
{
  EXPECT_VALUE,
  EXPECT_VALUE_OR_CLOSE, /* just after '[' */
  EXPECT_KEY,
  EXPECT_KEY_OR_CLOSE, /* just after '{' */
  EXPECT_COLON,
  EXPECT_COMMA_OR_CLOSE,
  EXPECT_END,
} ScanState;

/* The whole RFC 8259 grammar plus the checks above, and the nesting bound
 * of mh_codec_check_depth(). Expects valid UTF-8. */
static gboolean
scan_json (const char *data, gsize length, guint max_depth, GError **error)
{
  const char *p = data;
  const char *end = data + length;
  guint8 small_stack[64];
  g_autofree guint8 *big_stack = NULL;
  guint8 *stack = small_stack;
  guint depth = 0;
  ScanState state = EXPECT_VALUE;

  /* Each level takes one byte of input, so the stack never outgrows it. */
  if (max_depth > G_N_ELEMENTS (small_stack))
    stack = big_stack = g_malloc (MIN ((gsize) max_depth, length) + 1);

  for (;;)
    {
      char c;

      while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
      if (p == end)
        break;
      c = *p;

      switch (state)
        {
          case EXPECT_END:
            return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p,
                                  _("unexpected data after the end"));

          case EXPECT_COLON:
            if (c != ':')
              return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p, _("expected ':'"));
            p++;
            state = EXPECT_VALUE;
            continue;

          case EXPECT_COMMA_OR_CLOSE:
            if (c == ',')
              {
                p++;
                state = stack[depth - 1] == '[' ? EXPECT_VALUE : EXPECT_KEY;
                continue;
              }
            if (c != ']' && c != '}')
              return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p,
                                    _("expected ',' or a closing bracket"));
            break;

          case EXPECT_KEY_OR_CLOSE:
          case EXPECT_KEY:
            if (c == '}' && state == EXPECT_KEY_OR_CLOSE)
              break;
            if (c != '"')
              return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p,
                                    _("expected a member name"));
            if (!scan_string (data, &p, end, error))
              return FALSE;
            state = EXPECT_COLON;
            continue;

          case EXPECT_VALUE_OR_CLOSE:
          case EXPECT_VALUE:
            if (c == ']' && state == EXPECT_VALUE_OR_CLOSE)
              break;
            if (c == '[' || c == '{')
              {
                if (depth >= max_depth)
                  return lexical_error (error, MH_SYNC_ERROR_TOO_LARGE, data, p,
                                        _("nested too deeply"));
                stack[depth++] = (guint8) c;
                p++;
                state = c == '[' ? EXPECT_VALUE_OR_CLOSE : EXPECT_KEY_OR_CLOSE;
                continue;
              }
            if (c == '"')
              {
                if (!scan_string (data, &p, end, error))
                  return FALSE;
              }
            else if (c == '-' || is_digit (c))
              {
                if (!scan_number (data, &p, end, error))
                  return FALSE;
              }
            else if (!scan_literal (&p, end))
              return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p, _("expected a value"));
            state = depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
            continue;

          default:
            g_assert_not_reached ();
        }

      /* A closing bracket, where one may stand. */
      if ((c == ']') != (stack[depth - 1] == '['))
        return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p, _("mismatched bracket"));
      depth--;
      p++;
      state = depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
    }

  if (state != EXPECT_END)
    return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, p, _("unexpected end of input"));
  return TRUE;
}

/**
 * mh_codec_check_depth:
 * @data: JSON text
 * @length: its length in bytes
 * @max_depth: the deepest nesting of arrays and objects allowed
 *
 * Counts nesting without parsing, so that text from a peer can be refused
 * before it reaches json-glib's recursive parser. The count is never lower
 * than the nesting json-glib 1.6 would see: single quotes and '/' outside
 * strings are refused, because json-glib reads single-quoted strings and C
 * comments, in which a '"' would throw the count off. Balance and everything
 * else is left to the parser. (mh_codec_decode_batch() needs none of this: it
 * holds its text to the whole grammar and does not use json-glib's parser.)
 *
 * Returns: %FALSE with %MH_SYNC_ERROR_TOO_LARGE if the text nests too deeply,
 *   or %MH_SYNC_ERROR_MALFORMED for a single quote or '/' outside strings
 */
gboolean
mh_codec_check_depth (const char *data, gsize length, guint max_depth, GError **error)
{
  gboolean in_string = FALSE;
  guint depth = 0;

  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  for (gsize i = 0; i < length; i++)
    {
      char c = data[i];

      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }

      switch (c)
        {
          case '"':
            in_string = TRUE;
            break;
          case '[':
          case '{':
            if (++depth > max_depth)
              return lexical_error (error, MH_SYNC_ERROR_TOO_LARGE, data, data + i,
                                    _("nested too deeply"));
            break;
          case ']':
          case '}':
            /* Extra closers make the text invalid anyway; never count below zero. */
            if (depth > 0)
              depth--;
            break;
          case '\'':
          case '/':
            return lexical_error (error, MH_SYNC_ERROR_MALFORMED, data, data + i,
                                  _("unexpected character"));
          default:
            break;
        }
    }
  return TRUE;
}

/* Decoding
 *
 * Two front ends, one set of rules. Nodes (mh_codec_decode_change() and
 * mh_codec_decode_changes()) and text (mh_codec_decode_batch()) are both
 * read into Fields, and build_change() checks and builds from those. Text
 * is read directly, without json-glib: once scan_json() has passed it, the
 * reader below can take the grammar for granted, and it builds no tree, which
 * makes it several times faster than json_parser_load_from_data(). */

typedef enum
{
  FIELD_ABSENT,
  FIELD_NULL,
  FIELD_BOOLEAN,
  FIELD_INT,
  FIELD_REAL,
  FIELD_STRING,
  FIELD_ARRAY,
  FIELD_OBJECT,
} FieldType;

typedef struct
{
  FieldType type;
  gboolean boolean;
  gint64 integer;
  double real;
  const char *string; /* may be NULL in a node made by hand */
  gsize length;       /* of a string in bytes, of an array in elements */
  gsize offset;       /* where the text reader put the string, until it is resolved */
} Field;

typedef enum
{
  KEY_T,
  KEY_R,
  KEY_G,
  KEY_V,
  KEY_C,
  KEY_O,
  KEY_S,
  KEY_SV,
  KEY_SIG,
  KEY_D,
  KEY_SS,
  N_KEYS,
} Key;

static const char *const key_names[N_KEYS] = {
  "t", "r", "g", "v", "c", "o", "s", "sv", "sig", "d", "ss",
};

typedef struct
{
  const MhCodecLimits *limits;
  guint index;         /* of the change in its batch, for messages */
  gboolean check_utf8; /* text was validated whole; nodes from elsewhere were not */
  Field fields[N_KEYS];
  GArray *values;   /* of Field: the elements of "v", when there are at most max_columns */
  GString *strings; /* the text reader's unescaped strings for the current change */
  GString *names;   /* the text reader's scratch for member names with escapes */
} DecodeContext;

static void
decode_context_init (DecodeContext *ctx, const MhCodecLimits *limits, MhCodecLimits *defaults,
                     gboolean check_utf8)
{
  memset (ctx, 0, sizeof *ctx);
  ctx->limits = resolve_limits (limits, defaults);
  ctx->check_utf8 = check_utf8;
  ctx->values = g_array_new (FALSE, FALSE, sizeof (Field));
}

static void
decode_context_clear (DecodeContext *ctx)
{
  g_array_unref (ctx->values);
  if (ctx->strings != NULL)
    g_string_free (ctx->strings, TRUE);
  if (ctx->names != NULL)
    g_string_free (ctx->names, TRUE);
}

static void
decode_context_reset_fields (DecodeContext *ctx)
{
  memset (ctx->fields, 0, sizeof ctx->fields);
  g_array_set_size (ctx->values, 0);
}

static gboolean change_error (const DecodeContext *ctx, GError **error, MhSyncError code,
                              const char *format, ...) G_GNUC_PRINTF (4, 5);

static gboolean
change_error (const DecodeContext *ctx, GError **error, MhSyncError code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, MH_SYNC_ERROR, code, _("change %u: %s"), ctx->index, message);
  return FALSE;
}

/* Names a member ("t") or a value ("v"[2]) in messages: only on the error
 * path, so that good input costs no formatting. */
static const char *
describe (char *buf, gsize size, const char *key, int element)
{
  if (element < 0)
    g_snprintf (buf, size, "\"%s\"", key);
  else
    g_snprintf (buf, size, "\"%s\"[%d]", key, element);
  return buf;
}

/* @element is the index of a value in "v", or -1 for the member @key itself. */
static gboolean
check_string (const DecodeContext *ctx, const Field *field, const char *key, int element,
              gboolean allow_empty, GError **error)
{
  char buf[64];

  if (field->string == NULL)
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("%s must be a string"),
                         describe (buf, sizeof buf, key, element));
  if (field->length == 0 && !allow_empty)
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("%s must not be empty"),
                         describe (buf, sizeof buf, key, element));
  if (field->length > ctx->limits->max_string)
    return change_error (ctx, error, MH_SYNC_ERROR_TOO_LARGE,
                         _("%s is %zu bytes long, more than %zu"),
                         describe (buf, sizeof buf, key, element), field->length,
                         ctx->limits->max_string);
  if (ctx->check_utf8 && !g_utf8_validate_len (field->string, field->length, NULL))
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("%s is not valid UTF-8"),
                         describe (buf, sizeof buf, key, element));
  return TRUE;
}

/* A non-empty string member; *out is borrowed. */
static gboolean
get_string (const DecodeContext *ctx, Key key, const char **out, GError **error)
{
  const Field *field = &ctx->fields[key];

  if (field->type == FIELD_ABSENT)
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" is missing"),
                         key_names[key]);
  if (field->type != FIELD_STRING)
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" must be a string"),
                         key_names[key]);
  *out = field->string;
  return check_string (ctx, field, key_names[key], -1, FALSE, error);
}

/* An integer member in [min, max]; *out is left alone if it is absent and optional. */
static gboolean
get_int (const DecodeContext *ctx, Key key, gboolean required, gint64 min, gint64 max,
         gint64 *out, GError **error)
{
  const Field *field = &ctx->fields[key];

  if (field->type == FIELD_ABSENT)
    {
      if (required)
        return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" is missing"),
                             key_names[key]);
      return TRUE;
    }
  if (field->type != FIELD_INT)
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" must be an integer"),
                         key_names[key]);
  if (field->integer < min || field->integer > max)
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED,
                         _("\"%s\" must be between %lld and %lld"),
                         key_names[key], (long long) min, (long long) max);
  *out = field->integer;
  return TRUE;
}

static gboolean
is_base64_char (char c)
{
  return g_ascii_isalnum (c) || c == '+' || c == '/';
}

/* g_base64_decode() skips what it does not understand instead of failing,
 * so the text is checked first: whole quanta, padding only at the end.
 * *@out_size: the decoded size. */
static gboolean
base64_check (const char *text, gsize length, gsize *out_size)
{
  gsize padding = 0;

  if (length % 4 != 0)
    return FALSE;
  if (length > 0 && text[length - 1] == '=')
    padding = text[length - 2] == '=' ? 2 : 1;
  for (gsize i = 0; i < length - padding; i++)
    if (!is_base64_char (text[i]))
      return FALSE;
  *out_size = length / 4 * 3 - padding;
  return TRUE;
}

static gboolean
get_signature (const DecodeContext *ctx, GBytes **out, GError **error)
{
  const Field *field = &ctx->fields[KEY_SIG];
  const char *text = field->string;
  gsize length = field->length;
  gsize size;
  guchar *bytes;

  if (field->type == FIELD_ABSENT)
    return TRUE;
  if (field->type != FIELD_STRING || text == NULL)
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"sig\" must be a string"));

  if (!base64_check (text, length, &size))
    return change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"sig\" is not valid base64"));
  if (size > ctx->limits->max_signature)
    return change_error (ctx, error, MH_SYNC_ERROR_TOO_LARGE,
                         _("\"sig\" is %zu bytes long, more than %zu"),
                         size, ctx->limits->max_signature);
  if (size == 0)
    {
      *out = g_bytes_new (NULL, 0);
      return TRUE;
    }
  bytes = g_base64_decode (text, &size);
  *out = g_bytes_new_take (bytes, size);
  return TRUE;
}

static GVariant *
get_values (const DecodeContext *ctx, GError **error)
{
  const Field *field = &ctx->fields[KEY_V];
  const Field *elements = (const Field *) (gpointer) ctx->values->data;
  gsize n = field->length;
  GVariant *small[16];
  g_autofree GVariant **big = NULL;
  GVariant **children = small;

  if (field->type == FIELD_ABSENT)
    {
      change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"v\" is missing"));
      return NULL;
    }
  if (field->type != FIELD_ARRAY)
    {
      change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"v\" must be an array"));
      return NULL;
    }
  if (n == 0)
    {
      change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"v\" must not be empty"));
      return NULL;
    }
  if (n > ctx->limits->max_columns)
    {
      change_error (ctx, error, MH_SYNC_ERROR_TOO_LARGE,
                    _("\"v\" has %zu values, more than %u"), n,
                    ctx->limits->max_columns);
      return NULL;
    }
  g_assert (ctx->values->len == n);

  /* Everything is checked before anything is built, so that a failure has
   * no half-built floating variants to clean up. */
  for (gsize i = 0; i < n; i++)
    {
      switch (elements[i].type)
        {
          case FIELD_NULL:
          case FIELD_INT:
            continue;
          case FIELD_REAL:
            /* Text can overflow to infinity ("1e400"); a JSON value cannot be one. */
            if (!isfinite (elements[i].real))
              {
                change_error (ctx, error, MH_SYNC_ERROR_MALFORMED,
                              _("\"v\"[%zu] is not a finite number"), i);
                return NULL;
              }
            continue;
          case FIELD_STRING:
            if (!check_string (ctx, &elements[i], "v", (int) i, TRUE, error))
              return NULL;
            continue;
          case FIELD_ABSENT:
          case FIELD_BOOLEAN:
          case FIELD_ARRAY:
          case FIELD_OBJECT:
          default:
            change_error (ctx, error, MH_SYNC_ERROR_MALFORMED,
                          _("\"v\"[%zu] must be an integer, a number, a string"
                            " or null"), i);
            return NULL;
        }
    }

  if (n > G_N_ELEMENTS (small))
    children = big = g_new (GVariant *, n);
  for (gsize i = 0; i < n; i++)
    {
      GVariant *inner;

      switch (elements[i].type)
        {
          case FIELD_INT:
            inner = g_variant_new_int64 (elements[i].integer);
            break;
          case FIELD_REAL:
            inner = g_variant_new_double (elements[i].real);
            break;
          case FIELD_STRING:
            inner = g_variant_new_string (elements[i].string);
            break;
          case FIELD_NULL:
          default:
            inner = mh_value_null ();
            break;
        }
      children[i] = g_variant_new_variant (inner);
    }
  return g_variant_new_array (G_VARIANT_TYPE_VARIANT, children, n);
}

/* The rules of a change, whichever front end read it. */
static MhChange *
build_change (const DecodeContext *ctx, GError **error)
{
  const Field *deletion = &ctx->fields[KEY_D];
  const char *table = NULL;
  const char *row = NULL;
  const char *origin = NULL;
  const char *reg = NULL;
  gint64 hlc = 0;
  gint64 origin_seq = 0;
  gint64 schema_version = 0;
  g_autoptr(GBytes) signature = NULL;
  MhChange *change;

  if (!get_string (ctx, KEY_T, &table, error)
      || !get_string (ctx, KEY_R, &row, error)
      || !get_string (ctx, KEY_O, &origin, error)
      || !get_int (ctx, KEY_C, TRUE, 1, G_MAXINT64, &hlc, error)
      || !get_int (ctx, KEY_S, TRUE, 0, G_MAXINT64, &origin_seq, error)
      || !get_int (ctx, KEY_SV, FALSE, 0, MAX_SCHEMA_VERSION, &schema_version, error)
      || !get_signature (ctx, &signature, error))
    return NULL;

  if (deletion->type != FIELD_ABSENT)
    {
      if (!(deletion->type == FIELD_INT && deletion->integer == 1)
          && !(deletion->type == FIELD_BOOLEAN && deletion->boolean))
        {
          change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"d\" must be 1 or true"));
          return NULL;
        }
      if (ctx->fields[KEY_G].type != FIELD_ABSENT || ctx->fields[KEY_V].type != FIELD_ABSENT)
        {
          change_error (ctx, error, MH_SYNC_ERROR_MALFORMED,
                        _("a deletion must have no \"g\" and no \"v\""));
          return NULL;
        }
      change = mh_change_new_delete (table, row, hlc, origin, origin_seq);
    }
  else
    {
      GVariant *value;

      if (!get_string (ctx, KEY_G, &reg, error))
        return NULL;
      value = get_values (ctx, error);
      if (value == NULL)
        return NULL;
      change = mh_change_new_set (table, row, reg, value, hlc, origin, origin_seq);
    }

  change->schema_version = (guint) schema_version;
  if (ctx->fields[KEY_SS].type != FIELD_ABSENT)
    {
      const Field *ss = &ctx->fields[KEY_SS];
      guint8 hash[MH_SEAL_HASH_SIZE];
      g_autoptr(GBytes) hash_bytes = NULL;
      g_autoptr(MhSeal) seal = NULL;

      if (!(ss->type == FIELD_INT && ss->integer == 1))
        {
          mh_change_unref (change);
          change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"ss\" must be 1"));
          return NULL;
        }
      if (signature == NULL || g_bytes_get_size (signature) != MH_CHANGE_SIGNATURE_SIZE)
        {
          mh_change_unref (change);
          change_error (ctx, error, MH_SYNC_ERROR_MALFORMED,
                        _("\"ss\" needs a \"sig\" of %d bytes"), MH_CHANGE_SIGNATURE_SIZE);
          return NULL;
        }
      /* Sealed alone: the seal's one hash is this change's. */
      mh_change_hash (change, hash);
      hash_bytes = g_bytes_new (hash, sizeof hash);
      seal = mh_seal_new (origin, origin_seq, 1, signature, hash_bytes);
      mh_change_set_seal (change, seal);
      return change;
    }
  change->signature = g_steal_pointer (&signature);
  return change;
}

/* Reading nodes */

static void
field_from_node (JsonNode *node, Field *field)
{
  memset (field, 0, sizeof *field);
  if (node == NULL)
    return;

  switch (JSON_NODE_TYPE (node))
    {
      case JSON_NODE_NULL:
        field->type = FIELD_NULL;
        return;
      case JSON_NODE_ARRAY:
        field->type = FIELD_ARRAY;
        field->length = json_array_get_length (json_node_get_array (node));
        return;
      case JSON_NODE_VALUE:
        break;
      case JSON_NODE_OBJECT:
      default:
        field->type = FIELD_OBJECT;
        return;
    }

  switch (json_node_get_value_type (node))
    {
      case G_TYPE_INT64:
        field->type = FIELD_INT;
        field->integer = json_node_get_int (node);
        break;
      case G_TYPE_DOUBLE:
        field->type = FIELD_REAL;
        field->real = json_node_get_double (node);
        break;
      case G_TYPE_BOOLEAN:
        field->type = FIELD_BOOLEAN;
        field->boolean = json_node_get_boolean (node);
        break;
      case G_TYPE_STRING:
        field->type = FIELD_STRING;
        field->string = json_node_get_string (node);
        field->length = field->string != NULL ? strlen (field->string) : 0;
        break;
      default:
        /* No JSON type: wrong wherever it stands. */
        field->type = FIELD_OBJECT;
        break;
    }
}

static MhChange *
change_from_node (DecodeContext *ctx, JsonNode *node, GError **error)
{
  JsonObject *object;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("not an object"));
      return NULL;
    }
  object = json_node_get_object (node);

  decode_context_reset_fields (ctx);
  for (guint key = 0; key < N_KEYS; key++)
    field_from_node (json_object_get_member (object, key_names[key]), &ctx->fields[key]);

  if (ctx->fields[KEY_V].type == FIELD_ARRAY
      && ctx->fields[KEY_V].length <= ctx->limits->max_columns)
    {
      JsonArray *array = json_object_get_array_member (object, "v");

      g_array_set_size (ctx->values, ctx->fields[KEY_V].length);
      for (guint i = 0; i < ctx->values->len; i++)
        field_from_node (json_array_get_element (array, i),
                         &g_array_index (ctx->values, Field, i));
    }

  return build_change (ctx, error);
}

static GPtrArray *
changes_from_node (DecodeContext *ctx, JsonNode *node, GError **error)
{
  JsonArray *array;
  guint n;
  g_autoptr(GPtrArray) changes = NULL;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                           _("\"changes\" must be an array"));
      return NULL;
    }
  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n > ctx->limits->max_changes)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TOO_LARGE,
                   _("%u changes in a batch, more than %u"), n, ctx->limits->max_changes);
      return NULL;
    }

  changes = g_ptr_array_new_full (n, (GDestroyNotify) mh_change_unref);
  for (ctx->index = 0; ctx->index < n; ctx->index++)
    {
      MhChange *change = change_from_node (ctx, json_array_get_element (array, ctx->index), error);

      if (change == NULL)
        return NULL;
      g_ptr_array_add (changes, change);
    }
  return g_steal_pointer (&changes);
}

/**
 * mh_codec_decode_change:
 * @node: a JSON object
 * @limits: (nullable): bounds, or %NULL for the defaults
 *
 * Messages name the change as "change 0".
 *
 * Returns: (transfer full) (nullable): the change
 */
MhChange *
mh_codec_decode_change (JsonNode *node, const MhCodecLimits *limits, GError **error)
{
  MhCodecLimits defaults;
  DecodeContext ctx;
  MhChange *change;

  g_return_val_if_fail (node != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  decode_context_init (&ctx, limits, &defaults, TRUE);
  change = change_from_node (&ctx, node, error);
  decode_context_clear (&ctx);
  return change;
}

/**
 * mh_codec_decode_changes:
 * @array: a JSON array of change objects
 * @limits: (nullable): bounds, or %NULL for the defaults
 *
 * Returns: (transfer full) (element-type MhChange) (nullable): the changes
 */
GPtrArray *
mh_codec_decode_changes (JsonNode *array, const MhCodecLimits *limits, GError **error)
{
  MhCodecLimits defaults;
  DecodeContext ctx;
  GPtrArray *changes;

  g_return_val_if_fail (array != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  decode_context_init (&ctx, limits, &defaults, TRUE);
  changes = changes_from_node (&ctx, array, error);
  decode_context_clear (&ctx);
  return changes;
}

/* Reading text that scan_json() has passed: every bracket is matched, every
 * string closed, every value followed by a delimiter, so the reader below
 * never checks grammar and never runs past the end. */

static inline const char *
skip_space (const char *p)
{
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
    p++;
  return p;
}

/* @p at the opening quote; returns past the closing one. */
static const char *
skip_string (const char *p)
{
  for (p++; *p != '"'; p++)
    if (*p == '\\')
      p++;
  return p + 1;
}

static const char *
skip_value (const char *p)
{
  guint depth = 0;

  if (*p == '"')
    return skip_string (p);
  if (*p != '[' && *p != '{')
    {
      while (is_digit (*p) || (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '+' || *p == '.'
             || *p == 'E')
        p++;
      return p;
    }
  do
    {
      if (*p == '"')
        {
          p = skip_string (p);
          continue;
        }
      if (*p == '[' || *p == '{')
        depth++;
      else if (*p == ']' || *p == '}')
        depth--;
      p++;
    }
  while (depth > 0);
  return p;
}

/* Four hex digits that scan_string() has checked. */
static gunichar
hex4 (const char *p)
{
  gunichar value = 0;

  for (int i = 0; i < 4; i++)
    value = (value << 4) | (gunichar) hex_value (p[i]);
  return value;
}

/* Appends the text of the string at @p to @out; returns past its closing quote. */
static const char *
unescape_string (const char *p, GString *out)
{
  const char *run = ++p;

  for (;;)
    {
      char c;

      while (*p != '"' && *p != '\\')
        p++;
      g_string_append_len (out, run, p - run);
      if (*p == '"')
        return p + 1;

      switch (p[1])
        {
          case 'b':
            c = '\b';
            break;
          case 'f':
            c = '\f';
            break;
          case 'n':
            c = '\n';
            break;
          case 'r':
            c = '\r';
            break;
          case 't':
            c = '\t';
            break;
          case 'u':
            {
              gunichar unit = hex4 (p + 2);
              char utf8[6];

              p += 6;
              /* scan_string() made sure that a low surrogate follows. */
              if (unit >= 0xd800 && unit <= 0xdbff)
                {
                  unit = 0x10000 + ((unit - 0xd800) << 10) + (hex4 (p + 2) - 0xdc00);
                  p += 6;
                }
              g_string_append_len (out, utf8, g_unichar_to_utf8 (unit, utf8));
              run = p;
              continue;
            }
          default: /* '"', '\\' and '/' stand for themselves */
            c = p[1];
            break;
        }
      g_string_append_c (out, c);
      p += 2;
      run = p;
    }
}

/* The members a change may have; -1 for any other. */
static int
key_from_text (const char *key, gsize length)
{
  switch (length)
    {
      case 1:
        switch (key[0])
          {
            case 't':
              return KEY_T;
            case 'r':
              return KEY_R;
            case 'g':
              return KEY_G;
            case 'v':
              return KEY_V;
            case 'c':
              return KEY_C;
            case 'o':
              return KEY_O;
            case 's':
              return KEY_S;
            case 'd':
              return KEY_D;
            default:
              return -1;
          }
      case 2:
        if (memcmp (key, "sv", 2) == 0)
          return KEY_SV;
        return memcmp (key, "ss", 2) == 0 ? KEY_SS : -1;
      case 3:
        return memcmp (key, "sig", 3) == 0 ? KEY_SIG : -1;
      default:
        return -1;
    }
}

/* Reads a member name at @p into *name and *length: pointing into the text,
 * or, if it has escapes, into @scratch. Returns past the closing quote. */
static const char *
read_name (const char *p, GString *scratch, const char **name, gsize *length)
{
  const char *end = skip_string (p);

  if (memchr (p + 1, '\\', (gsize) (end - p - 2)) == NULL)
    {
      *name = p + 1;
      *length = (gsize) (end - p - 2);
      return end;
    }
  g_string_truncate (scratch, 0);
  unescape_string (p, scratch);
  *name = scratch->str;
  *length = scratch->len;
  return end;
}

/* Integers were range-checked by scan_number(). */
static const char *
read_number (const char *p, Field *field)
{
  const char *start = p;
  gboolean negative = *p == '-';
  guint64 magnitude = 0;

  if (negative)
    p++;
  while (is_digit (*p))
    magnitude = magnitude * 10 + (guint64) (*p++ - '0');
  if (*p != '.' && *p != 'e' && *p != 'E')
    {
      field->type = FIELD_INT;
      if (!negative)
        field->integer = (gint64) magnitude;
      else if (magnitude == (guint64) G_MAXINT64 + 1)
        field->integer = G_MININT64;
      else
        field->integer = -(gint64) magnitude;
      return p;
    }

  field->type = FIELD_REAL;
  /* Stops at the delimiter that follows every number inside a container. */
  field->real = g_ascii_strtod (start, (char **) &p);
  return p;
}

/* A member or element value at @p; strings go to ctx->strings, the
 * elements of "v" (if @values) to ctx->values. Returns past the value. */
static const char *
read_field (DecodeContext *ctx, const char *p, Field *field, gboolean values)
{
  memset (field, 0, sizeof *field);

  switch (*p)
    {
      case '"':
        field->type = FIELD_STRING;
        field->offset = ctx->strings->len;
        p = unescape_string (p, ctx->strings);
        field->length = ctx->strings->len - field->offset;
        g_string_append_c (ctx->strings, '\0');
        return p;
      case 't':
        field->type = FIELD_BOOLEAN;
        field->boolean = TRUE;
        return p + 4;
      case 'f':
        field->type = FIELD_BOOLEAN;
        return p + 5;
      case 'n':
        field->type = FIELD_NULL;
        return p + 4;
      case '{':
        field->type = FIELD_OBJECT;
        return skip_value (p);
      case '[':
        field->type = FIELD_ARRAY;
        if (!values)
          return skip_value (p);
        break;
      default:
        return read_number (p, field);
    }

  /* The elements of "v": kept up to the bound, only counted beyond it. */
  p = skip_space (p + 1);
  if (*p == ']')
    return p + 1;
  for (;;)
    {
      if (field->length < ctx->limits->max_columns)
        {
          Field element;

          p = read_field (ctx, p, &element, FALSE);
          g_array_append_val (ctx->values, element);
        }
      else
        p = skip_value (p);
      field->length++;
      p = skip_space (p);
      if (*p++ == ']')
        return p;
      p = skip_space (p);
    }
}

static void
resolve_string (const DecodeContext *ctx, Field *field)
{
  if (field->type == FIELD_STRING)
    field->string = ctx->strings->str + field->offset;
}

/* @p at the '{' of a change; *pp is left past its '}'. */
static MhChange *
change_from_text (DecodeContext *ctx, const char **pp, GError **error)
{
  const char *p = skip_space (*pp + 1);

  decode_context_reset_fields (ctx);
  g_string_truncate (ctx->strings, 0);

  while (*p != '}')
    {
      const char *name;
      gsize length;
      int key;

      p = read_name (p, ctx->names, &name, &length);
      key = key_from_text (name, length);
      p = skip_space (skip_space (p) + 1);
      if (key < 0)
        p = skip_value (p);
      else if (ctx->fields[key].type != FIELD_ABSENT)
        {
          /* json-glib would keep the last; a peer sending two means
           * something is wrong, and two readers could disagree on it. */
          change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" appears twice"),
                        key_names[key]);
          return NULL;
        }
      else
        p = read_field (ctx, p, &ctx->fields[key], key == KEY_V);
      p = skip_space (p);
      if (*p == ',')
        p = skip_space (p + 1);
    }
  *pp = p + 1;

  /* Only now: the strings buffer may move while it grows. */
  for (guint key = 0; key < N_KEYS; key++)
    resolve_string (ctx, &ctx->fields[key]);
  for (guint i = 0; i < ctx->values->len; i++)
    resolve_string (ctx, &g_array_index (ctx->values, Field, i));

  return build_change (ctx, error);
}

/* Seals: the members of one, and its rules. */
typedef enum
{
  SKEY_O,
  SKEY_F,
  SKEY_N,
  SKEY_SIG,
  SKEY_H,
  N_SKEYS,
} SealKey;

static const char *const seal_key_names[N_SKEYS] = { "o", "f", "n", "sig", "h" };

static int
seal_key_from_text (const char *key, gsize length)
{
  for (guint i = 0; i < N_SKEYS; i++)
    if (strlen (seal_key_names[i]) == length && memcmp (key, seal_key_names[i], length) == 0)
      return (int) i;
  return -1;
}

static gboolean seal_error (guint index, GError **error, MhSyncError code, const char *format,
                            ...) G_GNUC_PRINTF (4, 5);

static gboolean
seal_error (guint index, GError **error, MhSyncError code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, MH_SYNC_ERROR, code, _("seal %u: %s"), index, message);
  return FALSE;
}

/* Exactly @expected bytes of strict base64. */
static GBytes *
seal_bytes (guint index, const Field *field, SealKey key, gsize expected, GError **error)
{
  gsize size = 0;
  guchar *bytes;

  if (field->type == FIELD_ABSENT)
    {
      seal_error (index, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" is missing"),
                  seal_key_names[key]);
      return NULL;
    }
  if (field->type != FIELD_STRING || field->string == NULL)
    {
      seal_error (index, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" must be a string"),
                  seal_key_names[key]);
      return NULL;
    }
  if (!base64_check (field->string, field->length, &size))
    {
      seal_error (index, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" is not valid base64"),
                  seal_key_names[key]);
      return NULL;
    }
  if (size != expected)
    {
      seal_error (index, error, MH_SYNC_ERROR_MALFORMED,
                  _("\"%s\" is %zu bytes long, not %zu"),
                  seal_key_names[key], size, expected);
      return NULL;
    }
  bytes = g_base64_decode (field->string, &size);
  return g_bytes_new_take (bytes, size);
}

static gboolean
seal_int (guint index, const Field *field, SealKey key, gint64 min, gint64 max, gint64 *out,
          GError **error)
{
  if (field->type == FIELD_ABSENT)
    return seal_error (index, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" is missing"),
                       seal_key_names[key]);
  if (field->type != FIELD_INT)
    return seal_error (index, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" must be an integer"),
                       seal_key_names[key]);
  if (field->integer < min || field->integer > max)
    return seal_error (index, error, MH_SYNC_ERROR_MALFORMED,
                       _("\"%s\" must be between %lld and %lld"),
                       seal_key_names[key], (long long) min, (long long) max);
  *out = field->integer;
  return TRUE;
}

static MhSeal *
build_seal (const DecodeContext *ctx, guint index, const Field *fields, GError **error)
{
  const Field *origin = &fields[SKEY_O];
  g_autoptr(GBytes) sig = NULL;
  g_autoptr(GBytes) hashes = NULL;
  gint64 first = 0, n = 0;

  if (origin->type != FIELD_STRING || origin->string == NULL)
    {
      seal_error (index, error, MH_SYNC_ERROR_MALFORMED,
                  origin->type == FIELD_ABSENT ? _("\"o\" is missing")
                                               : _("\"o\" must be a string"));
      return NULL;
    }
  if (origin->length == 0 || origin->length > ctx->limits->max_string)
    {
      seal_error (index, error, MH_SYNC_ERROR_MALFORMED, _("\"o\" must be a site id"));
      return NULL;
    }
  if (!seal_int (index, &fields[SKEY_N], SKEY_N, 1, MH_SEAL_MAX, &n, error)
      || !seal_int (index, &fields[SKEY_F], SKEY_F, 0, G_MAXINT64 - (n - 1), &first, error))
    return NULL;
  sig = seal_bytes (index, &fields[SKEY_SIG], SKEY_SIG, 96, error);
  if (sig == NULL)
    return NULL;
  hashes = seal_bytes (index, &fields[SKEY_H], SKEY_H, (gsize) n * MH_SEAL_HASH_SIZE, error);
  if (hashes == NULL)
    return NULL;
  return mh_seal_new (origin->string, first, (guint) n, sig, hashes);
}

/* @p at the '{' of a seal; *pp is left past its '}'. */
static MhSeal *
seal_from_text (DecodeContext *ctx, guint index, const char **pp, GError **error)
{
  const char *p = skip_space (*pp + 1);
  Field fields[N_SKEYS];

  memset (fields, 0, sizeof fields);
  g_string_truncate (ctx->strings, 0);
  while (*p != '}')
    {
      const char *name;
      gsize length;
      int key;

      p = read_name (p, ctx->names, &name, &length);
      key = seal_key_from_text (name, length);
      p = skip_space (skip_space (p) + 1);
      if (key < 0)
        p = skip_value (p);
      else if (fields[key].type != FIELD_ABSENT)
        {
          seal_error (index, error, MH_SYNC_ERROR_MALFORMED, _("\"%s\" appears twice"),
                      seal_key_names[key]);
          return NULL;
        }
      else
        p = read_field (ctx, p, &fields[key], FALSE);
      p = skip_space (p);
      if (*p == ',')
        p = skip_space (p + 1);
    }
  *pp = p + 1;
  for (guint key = 0; key < N_SKEYS; key++)
    resolve_string (ctx, &fields[key]);
  return build_seal (ctx, index, fields, error);
}

static int
seal_compare (gconstpointer a, gconstpointer b)
{
  const MhSeal *x = *(MhSeal *const *) a;
  const MhSeal *y = *(MhSeal *const *) b;
  int c = strcmp (x->origin, y->origin);

  if (c != 0)
    return c;
  return x->first_oseq < y->first_oseq ? -1 : x->first_oseq > y->first_oseq;
}

/* The seals of a batch, sorted by origin and first sequence number, each
 * once. */
static GPtrArray *
seals_from_text (DecodeContext *ctx, const char *seals_at, guint max, GError **error)
{
  g_autoptr(GPtrArray) seals = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_seal_unref);
  const char *p;
  guint n = 0;

  if (*seals_at != '[')
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, _("\"seals\" must be an array"));
      return NULL;
    }
  for (p = skip_space (seals_at + 1); *p != ']'; n++)
    {
      p = skip_space (skip_value (p));
      if (*p == ',')
        p = skip_space (p + 1);
    }
  /* Every seal covers at least one change of the batch. */
  if (n > max)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TOO_LARGE,
                   _("%u seals in a batch, more than %u"), n, max);
      return NULL;
    }
  p = skip_space (seals_at + 1);
  for (guint i = 0; i < n; i++)
    {
      MhSeal *seal;

      if (*p != '{')
        {
          seal_error (i, error, MH_SYNC_ERROR_MALFORMED, _("not an object"));
          return NULL;
        }
      seal = seal_from_text (ctx, i, &p, error);
      if (seal == NULL)
        return NULL;
      g_ptr_array_add (seals, seal);
      p = skip_space (p);
      if (*p == ',')
        p = skip_space (p + 1);
    }

  g_ptr_array_sort (seals, seal_compare);
  for (guint i = 1; i < seals->len;)
    {
      MhSeal *prev = g_ptr_array_index (seals, i - 1);
      MhSeal *seal = g_ptr_array_index (seals, i);

      if (seal_compare (&prev, &seal) != 0)
        i++;
      else if (mh_seal_equal (prev, seal))
        g_ptr_array_remove_index (seals, i);
      else
        {
          g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                       _("two different seals of site %s from sequence number %lld"),
                       seal->origin, (long long) seal->first_oseq);
          return NULL;
        }
    }
  return g_steal_pointer (&seals);
}

/* The seal of @change's origin that covers its sequence number, if any:
 * the last one of that origin that starts at or before it. */
static MhSeal *
seal_for (GPtrArray *seals, const MhChange *change)
{
  guint lo = 0, hi = seals->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      const MhSeal *seal = g_ptr_array_index (seals, mid);
      int c = strcmp (seal->origin, change->origin);

      if (c < 0 || (c == 0 && seal->first_oseq <= change->origin_seq))
        lo = mid + 1;
      else
        hi = mid;
    }
  if (lo == 0)
    return NULL;
  if (!mh_seal_covers (g_ptr_array_index (seals, lo - 1), change->origin, change->origin_seq))
    return NULL;
  return g_ptr_array_index (seals, lo - 1);
}

static GPtrArray *
changes_from_text (DecodeContext *ctx, const char *data, GError **error)
{
  const char *p = skip_space (data);
  const char *changes_at = NULL;
  const char *seals_at = NULL;
  guint n = 0;
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GPtrArray) seals = NULL;

  if (*p != '{')
    {
      g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                           _("a batch must be a JSON object"));
      return NULL;
    }

  ctx->strings = g_string_sized_new (256);
  ctx->names = g_string_new (NULL);
  for (p = skip_space (p + 1); *p != '}';)
    {
      const char *name;
      gsize length;

      p = read_name (p, ctx->names, &name, &length);
      p = skip_space (skip_space (p) + 1);
      if (length == 7 && memcmp (name, "changes", 7) == 0)
        {
          if (changes_at != NULL)
            {
              g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                           _("\"changes\" appears twice"));
              return NULL;
            }
          changes_at = p;
        }
      else if (length == 5 && memcmp (name, "seals", 5) == 0)
        {
          if (seals_at != NULL)
            {
              g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                           _("\"seals\" appears twice"));
              return NULL;
            }
          seals_at = p;
        }
      p = skip_space (skip_value (p));
      if (*p == ',')
        p = skip_space (p + 1);
    }
  if (changes_at == NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, _("\"changes\" is missing"));
      return NULL;
    }
  if (*changes_at != '[')
    {
      g_set_error_literal (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                           _("\"changes\" must be an array"));
      return NULL;
    }

  /* Counted first, so that an oversized batch costs no decoding. */
  for (p = skip_space (changes_at + 1); *p != ']'; n++)
    {
      p = skip_space (skip_value (p));
      if (*p == ',')
        p = skip_space (p + 1);
    }
  if (n > ctx->limits->max_changes)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TOO_LARGE,
                   _("%u changes in a batch, more than %u"), n, ctx->limits->max_changes);
      return NULL;
    }

  if (seals_at != NULL && !(seals = seals_from_text (ctx, seals_at, MAX (n, 1), error)))
    return NULL;

  changes = g_ptr_array_new_full (n, (GDestroyNotify) mh_change_unref);
  p = skip_space (changes_at + 1);
  for (ctx->index = 0; ctx->index < n; ctx->index++)
    {
      MhChange *change;

      if (*p != '{')
        {
          change_error (ctx, error, MH_SYNC_ERROR_MALFORMED, _("not an object"));
          return NULL;
        }
      change = change_from_text (ctx, &p, error);
      if (change == NULL)
        return NULL;
      /* Without "sig": signed by a seal of the batch, or unsigned. */
      if (change->signature == NULL && seals != NULL && seals->len > 0)
        {
          MhSeal *seal = seal_for (seals, change);

          if (seal != NULL)
            mh_change_set_seal (change, seal);
        }
      g_ptr_array_add (changes, change);
      p = skip_space (p);
      if (*p == ',')
        p = skip_space (p + 1);
    }
  return g_steal_pointer (&changes);
}

/**
 * mh_codec_decode_batch:
 * @data: JSON text, from a peer: anything at all
 * @length: its length in bytes, or -1 if it is nul-terminated
 * @limits: (nullable): bounds, or %NULL for the defaults
 *
 * The text must be strict JSON (RFC 8259) in UTF-8, without "\u0000" in
 * strings, with integers that fit in 64 bits and without a member of a
 * change given twice. Otherwise the rules are those of
 * mh_codec_decode_changes(), and so are the messages.
 *
 * Returns: (transfer full) (element-type MhChange) (nullable): the changes,
 *   or %NULL with %MH_SYNC_ERROR_MALFORMED or %MH_SYNC_ERROR_TOO_LARGE
 */
GPtrArray *
mh_codec_decode_batch (const char *data, gssize length, const MhCodecLimits *limits,
                       GError **error)
{
  MhCodecLimits defaults;
  DecodeContext ctx;
  gsize size;
  GPtrArray *changes = NULL;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  decode_context_init (&ctx, limits, &defaults, FALSE);
  size = length < 0 ? strlen (data) : (gsize) length;
  if (size > ctx.limits->max_bytes)
    g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TOO_LARGE,
                 _("batch of %zu bytes, more than %zu"), size,
                 ctx.limits->max_bytes);
  /* Also refuses NUL bytes. */
  else if (!g_utf8_validate_len (data, size, NULL))
    g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, _("batch is not valid UTF-8"));
  /* Also bounds the nesting, as mh_codec_check_depth() would. */
  else if (scan_json (data, size, ctx.limits->max_depth, error))
    changes = changes_from_text (&ctx, data, error);

  decode_context_clear (&ctx);
  return changes;
}

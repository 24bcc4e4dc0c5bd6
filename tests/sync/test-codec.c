#include "config.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "mh-change.h"
#include "mh-codec.h"
#include "mh-identity.h"
#include "mh-sync-error.h"
#include "mh-test-util.h"

/* Helpers */

/* An `av` from inner values (floating, consumed); NULL ends the list. */
static GVariant *
values_new (GVariant *first, ...)
{
  GVariantBuilder builder;
  va_list args;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
  va_start (args, first);
  for (GVariant *value = first; value != NULL; value = va_arg (args, GVariant *))
    g_variant_builder_add (&builder, "v", value);
  va_end (args);
  return g_variant_builder_end (&builder);
}

static MhChange *
set_new (const char *row, GVariant *values, MhHlc hlc, gint64 seq)
{
  return mh_change_new_set ("patients", row, "name", values, hlc, "site-a", seq);
}

static GPtrArray *
changes_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) mh_change_unref);
}

static void
assert_changes_equal (GPtrArray *expected, GPtrArray *actual)
{
  g_assert_cmpuint (expected->len, ==, actual->len);
  for (guint i = 0; i < expected->len; i++)
    g_assert_true (mh_change_equal (g_ptr_array_index (expected, i),
                                    g_ptr_array_index (actual, i)));
}

/* The codec reads text itself and reads nodes from json-glib, with one set
 * of rules. Wherever the text is strict JSON, json-glib's reading of it
 * through mh_codec_decode_changes() must give the same changes, or the same
 * error, as mh_codec_decode_batch() gave. */
static void
check_node_reader_agrees (const char *text, gssize length, const MhCodecLimits *limits,
                          GPtrArray *expected, const GError *expected_error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) changes = NULL;
  JsonNode *root;
  JsonNode *member;

  /* Refused before reading, or where json-glib reads differently. */
  if (expected_error != NULL
      && (g_str_has_prefix (expected_error->message, "byte ")
          || g_str_has_prefix (expected_error->message, "batch ")
          || strstr (expected_error->message, "appears twice") != NULL))
    return;

  if (!json_parser_load_from_data (parser, text, length, &parse_error))
    g_error ("json-glib refused what the codec read: %s", parse_error->message);
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_assert_nonnull (expected_error);
      g_assert_cmpstr (expected_error->message, ==, "a batch must be a JSON object");
      return;
    }
  member = json_object_get_member (json_node_get_object (root), "changes");
  if (member == NULL)
    {
      g_assert_nonnull (expected_error);
      g_assert_cmpstr (expected_error->message, ==, "\"changes\" is missing");
      return;
    }

  changes = mh_codec_decode_changes (member, limits, &error);
  if (expected != NULL)
    {
      g_assert_no_error (error);
      assert_changes_equal (expected, changes);
    }
  else
    {
      g_assert_null (changes);
      g_assert_nonnull (error);
      g_assert_cmpint (error->code, ==, expected_error->code);
      g_assert_cmpstr (error->message, ==, expected_error->message);
    }
}

static GPtrArray *
decode_ok (const char *text, gssize length, const MhCodecLimits *limits)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *changes = mh_codec_decode_batch (text, length, limits, &error);

  g_assert_no_error (error);
  g_assert_nonnull (changes);
  check_node_reader_agrees (text, length, limits, changes, NULL);
  return changes;
}

/* Through text, through nodes, and one change at a time; returns the decoded text form. */
static GPtrArray *
round_trip (GPtrArray *changes)
{
  gsize length = 0;
  g_autofree char *text = mh_codec_encode_batch (changes, &length);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GPtrArray) from_node = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *decoded;

  g_assert_nonnull (text);
  g_assert_cmpuint (length, ==, strlen (text));
  decoded = decode_ok (text, -1, NULL);
  assert_changes_equal (changes, decoded);

  node = mh_codec_encode_changes (changes);
  g_assert_nonnull (node);
  from_node = mh_codec_decode_changes (node, NULL, &error);
  g_assert_no_error (error);
  assert_changes_equal (changes, from_node);

  for (guint i = 0; i < changes->len && i < 50; i++)
    {
      g_autoptr(JsonNode) one = mh_codec_encode_change (g_ptr_array_index (changes, i));
      g_autoptr(MhChange) back = mh_codec_decode_change (one, NULL, &error);

      g_assert_no_error (error);
      g_assert_true (mh_change_equal (g_ptr_array_index (changes, i), back));
    }
  return decoded;
}

static GVariant *
value_at (const MhChange *change, gsize i)
{
  g_autoptr(GVariant) boxed = g_variant_get_child_value (change->value, i);

  return g_variant_get_variant (boxed);
}

static void
assert_same_double (double expected, double actual)
{
  guint64 a;
  guint64 b;

  memcpy (&a, &expected, sizeof a);
  memcpy (&b, &actual, sizeof b);
  if (a != b)
    g_error ("double %.17g (%016" G_GINT64_MODIFIER "x) came back as %.17g (%016" G_GINT64_MODIFIER
             "x)", expected, a, actual, b);
}

static void
assert_decode_fails (const char *text, gssize length, const MhCodecLimits *limits,
                     MhSyncError code, const char *fragment)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) changes = mh_codec_decode_batch (text, length, limits, &error);

  if (changes != NULL)
    g_error ("decoded “%.300s”", text);
  g_assert_error (error, MH_SYNC_ERROR, (int) code);
  if (fragment != NULL && strstr (error->message, fragment) == NULL)
    g_error ("“%.300s”: message “%s” lacks “%s”", text, error->message, fragment);
  if (text != NULL)
    check_node_reader_agrees (text, length, limits, NULL, error);
}

/* Valid changes to surround the one under test, so messages must name index 3. */
#define GOOD_SET "{\"t\":\"patients\",\"r\":\"row-0\",\"g\":\"name\",\"v\":[\"Ada\"],\"c\":1000," \
                 "\"o\":\"site-a\",\"s\":1}"
#define GOOD_DELETE "{\"t\":\"patients\",\"r\":\"row-9\",\"d\":1,\"c\":1001," \
                    "\"o\":\"site-a\",\"s\":2}"

static char *
batch_with_change (const char *members)
{
  return g_strdup_printf ("{\"changes\":[" GOOD_SET "," GOOD_DELETE "," GOOD_SET ",{%s}]}",
                          members);
}

/* Limits and defaults */

static void
test_limits_defaults (void)
{
  MhCodecLimits limits;

  memset (&limits, 0xff, sizeof limits);
  mh_codec_limits_init (&limits);
  g_assert_cmpuint (limits.max_bytes, ==, MH_CODEC_DEFAULT_MAX_BYTES);
  g_assert_cmpuint (limits.max_changes, ==, MH_CODEC_DEFAULT_MAX_CHANGES);
  g_assert_cmpuint (limits.max_string, ==, MH_CODEC_DEFAULT_MAX_STRING);
  g_assert_cmpuint (limits.max_depth, ==, MH_CODEC_DEFAULT_MAX_DEPTH);
  g_assert_cmpuint (limits.max_columns, ==, MH_CODEC_DEFAULT_MAX_COLUMNS);
  g_assert_cmpuint (limits.max_signature, ==, MH_CODEC_DEFAULT_MAX_SIGNATURE);
}

/* Round trips */

static const gint64 test_ints[] = { 0, 1, -1, 42, -42, G_MAXINT32, G_MININT32, G_MAXINT64,
                                    G_MININT64, G_MAXINT64 - 1, G_MININT64 + 1 };

static void
test_round_trip_integers (void)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
  for (guint i = 0; i < G_N_ELEMENTS (test_ints); i++)
    g_variant_builder_add (&builder, "v", g_variant_new_int64 (test_ints[i]));
  g_ptr_array_add (changes, set_new ("row-1", g_variant_builder_end (&builder), 1, 0));

  decoded = round_trip (changes);
  for (guint i = 0; i < G_N_ELEMENTS (test_ints); i++)
    {
      g_autoptr(GVariant) value = value_at (g_ptr_array_index (decoded, 0), i);

      g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64));
      g_assert_cmpint (g_variant_get_int64 (value), ==, test_ints[i]);
    }
}

static void
test_round_trip_doubles (void)
{
  const double doubles[] = {
    2.0, 0.0, -0.0, 0.1, -0.1, 1.0 / 3.0, 3.141592653589793, 1e300, -1e300, 1e22, 1e17, 1e16,
    123456789012345678.0, 9007199254740993.0, 5e-324, -5e-324, 2.2250738585072009e-308,
    DBL_MIN, DBL_MAX, -DBL_MAX, DBL_EPSILON, 1e-7, 100.0, -1.0, 0.5, 1.5e-300,
  };
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  g_autofree char *text = NULL;
  GVariantBuilder builder;

  for (guint i = 0; i < G_N_ELEMENTS (doubles); i++)
    {
      g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
      g_variant_builder_add (&builder, "v", g_variant_new_double (doubles[i]));
      g_ptr_array_add (changes, set_new ("row-1", g_variant_builder_end (&builder), 1 + i, i));
    }

  decoded = round_trip (changes);
  for (guint i = 0; i < G_N_ELEMENTS (doubles); i++)
    {
      g_autoptr(GVariant) value = value_at (g_ptr_array_index (decoded, i), 0);

      /* 2.0 must come back a real, not the integer 2. */
      g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE));
      assert_same_double (doubles[i], g_variant_get_double (value));
    }

  /* Short forms where they read back exactly. */
  text = mh_codec_encode_batch (changes, NULL);
  g_assert_nonnull (strstr (text, "\"v\":[2.0]"));
  g_assert_nonnull (strstr (text, "\"v\":[0.1]"));
  g_assert_nonnull (strstr (text, "\"v\":[-0.0]"));
  g_assert_nonnull (strstr (text, "\"v\":[1e+22]"));
}

static void
test_round_trip_random_doubles (void)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  guint n = 0;

  while (n < 4000)
    {
      guint64 bits = ((guint64) g_test_rand_int () << 32) | g_test_rand_int ();
      double value;

      /* A quarter subnormal or zero, a quarter near 1, the rest anywhere. */
      if (n % 4 == 1)
        bits &= G_GUINT64_CONSTANT (0x800fffffffffffff);
      else if (n % 4 == 2)
        bits = (bits & G_GUINT64_CONSTANT (0x800fffffffffffff))
               | ((guint64) g_test_rand_int_range (1000, 1050) << 52);
      memcpy (&value, &bits, sizeof value);
      if (!isfinite (value))
        continue;
      g_ptr_array_add (changes, set_new ("row-1", values_new (g_variant_new_double (value), NULL),
                                         1, n));
      n++;
    }

  decoded = round_trip (changes);
  for (guint i = 0; i < changes->len; i++)
    {
      g_autoptr(GVariant) expected = value_at (g_ptr_array_index (changes, i), 0);
      g_autoptr(GVariant) actual = value_at (g_ptr_array_index (decoded, i), 0);

      g_assert_true (g_variant_is_of_type (actual, G_VARIANT_TYPE_DOUBLE));
      assert_same_double (g_variant_get_double (expected), g_variant_get_double (actual));
    }
}

static void
test_round_trip_strings (void)
{
  const char *strings[] = {
    "",
    "plain",
    "é ü ß 日本語 😀 \u2028 \ufeff",
    "quote \" backslash \\ slash / both \\\"",
    "\n\r\t\b\f\x01\x1f\x7f",
    "</script><!--",
    "\\u0000 is not a NUL",
    "{\"changes\":[]}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
  };
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    {
      g_autofree char *row = g_strdup_printf ("row %s", strings[i]);

      g_ptr_array_add (changes, mh_change_new_set (strings[i][0] ? strings[i] : "t", row,
                                                   strings[i][0] ? strings[i] : "g",
                                                   values_new (g_variant_new_string (strings[i]),
                                                               NULL),
                                                   1, strings[i][0] ? strings[i] : "o", i));
    }

  decoded = round_trip (changes);
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    {
      g_autoptr(GVariant) value = value_at (g_ptr_array_index (decoded, i), 0);

      g_assert_cmpstr (g_variant_get_string (value, NULL), ==, strings[i]);
    }
}

static void
test_round_trip_mixed (void)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  MhChange *change;

  change = set_new ("row-1",
                    values_new (g_variant_new_int64 (7), g_variant_new_double (2.5),
                                g_variant_new_string ("x"), mh_value_null (),
                                g_variant_new_int64 (-1), NULL),
                    MH_HLC_PACK (1700000000000, 3), 12);
  g_ptr_array_add (changes, change);
  g_ptr_array_add (changes, set_new ("row-2", values_new (mh_value_null (), NULL), 1, 0));

  decoded = round_trip (changes);
  {
    g_autoptr(GVariant) null_value = value_at (g_ptr_array_index (decoded, 1), 0);

    g_assert_true (mh_value_is_null (null_value));
    g_assert_true (g_variant_is_of_type (null_value, G_VARIANT_TYPE ("mv")));
  }
}

static void
test_round_trip_delete (void)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  g_autofree char *text = NULL;
  MhChange *change;
  MhChange *back;

  g_ptr_array_add (changes, mh_change_new_delete ("patients", "row-1", 5, "site-b", 0));
  change = mh_change_new_delete ("patients", "row-2", G_MAXINT64, "site-b", G_MAXINT64);
  change->schema_version = 4;
  change->signature = g_bytes_new ("\x00\x01\x02", 3);
  g_ptr_array_add (changes, change);

  decoded = round_trip (changes);
  back = g_ptr_array_index (decoded, 0);
  g_assert_cmpint (back->kind, ==, MH_CHANGE_DELETE);
  g_assert_null (back->reg);
  g_assert_null (back->value);
  g_assert_null (back->signature);
  g_assert_cmpuint (back->schema_version, ==, 0);
  back = g_ptr_array_index (decoded, 1);
  g_assert_cmpint (back->hlc, ==, G_MAXINT64);
  g_assert_cmpint (back->origin_seq, ==, G_MAXINT64);
  g_assert_cmpuint (back->schema_version, ==, 4);

  text = mh_codec_encode_batch (changes, NULL);
  g_assert_cmpstr (text, ==,
                   "{\"changes\":[{\"t\":\"patients\",\"r\":\"row-1\",\"d\":1,\"c\":5,"
                   "\"o\":\"site-b\",\"s\":0},"
                   "{\"t\":\"patients\",\"r\":\"row-2\",\"d\":1,\"c\":9223372036854775807,"
                   "\"o\":\"site-b\",\"s\":9223372036854775807,\"sv\":4,\"sig\":\"AAEC\"}]}");
}

static void
test_round_trip_signatures (void)
{
  const gsize sizes[] = { 0, 1, 2, 3, 4, 5, 64, 256, MH_CODEC_DEFAULT_MAX_SIGNATURE };
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;

  g_ptr_array_add (changes, set_new ("unsigned", values_new (g_variant_new_int64 (1), NULL), 1, 0));
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      MhChange *change = set_new ("signed", values_new (g_variant_new_int64 (1), NULL), 1, i);
      guchar *bytes = g_malloc (sizes[i] + 1);

      for (gsize j = 0; j < sizes[i]; j++)
        bytes[j] = (guchar) (j * 37 + i);
      change->signature = g_bytes_new_take (bytes, sizes[i]);
      g_ptr_array_add (changes, change);
    }

  decoded = round_trip (changes);
  g_assert_null (((MhChange *) g_ptr_array_index (decoded, 0))->signature);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      MhChange *back = g_ptr_array_index (decoded, i + 1);

      /* An empty signature stays distinct from none. */
      g_assert_nonnull (back->signature);
      g_assert_cmpuint (g_bytes_get_size (back->signature), ==, sizes[i]);
    }
}

static void
test_round_trip_schema_version (void)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  g_autofree char *text = NULL;
  MhChange *change;

  g_ptr_array_add (changes, set_new ("row-1", values_new (g_variant_new_int64 (1), NULL), 1, 0));
  text = mh_codec_encode_batch (changes, NULL);
  g_assert_cmpstr (text, ==,
                   "{\"changes\":[{\"t\":\"patients\",\"r\":\"row-1\",\"g\":\"name\",\"v\":[1],"
                   "\"c\":1,\"o\":\"site-a\",\"s\":0}]}");

  change = set_new ("row-2", values_new (g_variant_new_int64 (1), NULL), 1, 0);
  change->schema_version = 65535;
  g_ptr_array_add (changes, change);
  decoded = round_trip (changes);
  g_assert_cmpuint (((MhChange *) g_ptr_array_index (decoded, 1))->schema_version, ==, 65535);
}

static void
test_round_trip_batch (void)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;

  for (guint i = 0; i < 5000; i++)
    {
      g_autofree char *row = g_strdup_printf ("row-%u", i / 3);
      MhChange *change;

      if (i % 7 == 6)
        change = mh_change_new_delete ("patients", row, MH_HLC_PACK (1700000000000 + i, i),
                                       "site-c", i);
      else
        {
          GVariant *last = i % 5 ? mh_value_null () : g_variant_new_string ("é");
          GVariant *values = values_new (g_variant_new_int64 (i), g_variant_new_double (i / 8.0),
                                         g_variant_new_string (row), last, NULL);

          change = mh_change_new_set ("vitals", row, i % 2 ? "pulse" : "note", values,
                                      MH_HLC_PACK (1700000000000 + i, i), "site-c", i);
        }
      change->schema_version = i % 3;
      if (i % 4 == 0)
        change->signature = g_bytes_new (&i, sizeof i);
      g_ptr_array_add (changes, change);
    }

  decoded = round_trip (changes);
  g_assert_cmpuint (decoded->len, ==, 5000);
}

static void
test_round_trip_empty (void)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  gsize length = 0;
  g_autofree char *text = mh_codec_encode_batch (changes, &length);

  g_assert_cmpstr (text, ==, "{\"changes\":[]}");
  g_assert_cmpuint (length, ==, 14);
  decoded = round_trip (changes);
  g_assert_cmpuint (decoded->len, ==, 0);
}

/* Encoding */

static void
test_encode_node (void)
{
  g_autoptr(MhChange) change = set_new ("row-1",
                                        values_new (g_variant_new_int64 (3),
                                                    g_variant_new_double (2.0),
                                                    g_variant_new_string ("x"), mh_value_null (),
                                                    NULL),
                                        77, 5);
  g_autoptr(JsonNode) node = NULL;
  JsonObject *object;
  JsonArray *values;

  change->signature = g_bytes_new ("ab", 2);
  node = mh_codec_encode_change (change);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  object = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (object, "t"), ==, "patients");
  g_assert_cmpstr (json_object_get_string_member (object, "r"), ==, "row-1");
  g_assert_cmpstr (json_object_get_string_member (object, "g"), ==, "name");
  g_assert_cmpint (json_object_get_int_member (object, "c"), ==, 77);
  g_assert_cmpstr (json_object_get_string_member (object, "o"), ==, "site-a");
  g_assert_cmpint (json_object_get_int_member (object, "s"), ==, 5);
  g_assert_cmpstr (json_object_get_string_member (object, "sig"), ==, "YWI=");
  g_assert_false (json_object_has_member (object, "sv"));
  g_assert_false (json_object_has_member (object, "d"));
  values = json_object_get_array_member (object, "v");
  g_assert_cmpuint (json_array_get_length (values), ==, 4);
  g_assert_true (json_node_get_value_type (json_array_get_element (values, 0)) == G_TYPE_INT64);
  g_assert_true (json_node_get_value_type (json_array_get_element (values, 1)) == G_TYPE_DOUBLE);
  g_assert_true (json_node_get_value_type (json_array_get_element (values, 2)) == G_TYPE_STRING);
  g_assert_true (JSON_NODE_HOLDS_NULL (json_array_get_element (values, 3)));
}

static void
expect_encode_refused (MhChange *change)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autofree char *text = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) array = NULL;

  g_ptr_array_add (changes, set_new ("ok", values_new (g_variant_new_int64 (1), NULL), 1, 0));
  g_ptr_array_add (changes, change);

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*");
  text = mh_codec_encode_batch (changes, NULL);
  g_test_assert_expected_messages ();
  g_assert_null (text);

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*");
  node = mh_codec_encode_change (change);
  g_test_assert_expected_messages ();
  g_assert_null (node);

  g_test_expect_message ("mh-sync", G_LOG_LEVEL_CRITICAL, "*");
  array = mh_codec_encode_changes (changes);
  g_test_assert_expected_messages ();
  g_assert_null (array);
}

static void
test_encode_refused (void)
{
  MhChange *change;

  /* JSON cannot carry them; the change must be refused where it is made. */
  expect_encode_refused (set_new ("nan", values_new (g_variant_new_double (NAN), NULL), 1, 0));
  expect_encode_refused (set_new ("inf", values_new (g_variant_new_double (INFINITY), NULL), 1, 0));
  expect_encode_refused (set_new ("-inf", values_new (g_variant_new_double (-INFINITY), NULL), 1,
                                  0));
  /* Types the wire does not know. */
  expect_encode_refused (set_new ("bool", values_new (g_variant_new_boolean (TRUE), NULL), 1, 0));
  expect_encode_refused (set_new ("int32", values_new (g_variant_new_int32 (1), NULL), 1, 0));
  expect_encode_refused (set_new ("empty", g_variant_new_array (G_VARIANT_TYPE_VARIANT, NULL, 0),
                                  1, 0));
  /* What the decoder would refuse. */
  expect_encode_refused (set_new ("zero-clock", values_new (g_variant_new_int64 (1), NULL), 0, 0));
  expect_encode_refused (set_new ("negative-seq", values_new (g_variant_new_int64 (1), NULL), 1,
                                  -1));
  change = set_new ("big-schema", values_new (g_variant_new_int64 (1), NULL), 1, 0);
  change->schema_version = 65536;
  expect_encode_refused (change);
  expect_encode_refused (mh_change_new_set ("", "row", "reg",
                                            values_new (g_variant_new_int64 (1), NULL), 1, "o", 0));
  expect_encode_refused (mh_change_new_delete ("t", "", 1, "o", 0));
  expect_encode_refused (mh_change_new_delete ("t", "r", 1, "", 0));
}

/* Decoding what is allowed */

static void
test_decode_lenient_where_allowed (void)
{
  const char *text =
    "  {\n"
    "    \"version\": 2, \"extra\": {\"nested\": [1, 2, {\"x\": null}]},\n"
    "    \"changes\": [\n"
    "      {\"s\": 3, \"o\": \"site\", \"c\": 9,\n"
    "       \"v\": [\"\\u00e9\\ud83d\\ude00\\/\", -0, 1E2, 1e-2],\n"
    "       \"g\": \"reg\", \"r\": \"row\", \"t\": \"tab\", \"future\": [true, false]},\n"
    "      {\"t\": \"tab\", \"r\": \"row\", \"d\": true, \"c\": 10, \"o\": \"site\", \"s\": 4,\n"
    "       \"sv\": 0, \"sig\": \"\"}\n"
    "    ],\n"
    "    \"after\": \"ignored\"\n"
    "  }\n\t\r";
  g_autoptr(GPtrArray) changes = decode_ok (text, -1, NULL);
  MhChange *set = g_ptr_array_index (changes, 0);
  MhChange *deletion = g_ptr_array_index (changes, 1);
  g_autoptr(GVariant) v0 = value_at (set, 0);
  g_autoptr(GVariant) v1 = value_at (set, 1);
  g_autoptr(GVariant) v2 = value_at (set, 2);
  g_autoptr(GVariant) v3 = value_at (set, 3);

  g_assert_cmpuint (changes->len, ==, 2);
  g_assert_cmpint (set->kind, ==, MH_CHANGE_SET);
  g_assert_cmpstr (set->table, ==, "tab");
  g_assert_cmpstr (set->row, ==, "row");
  g_assert_cmpstr (set->reg, ==, "reg");
  g_assert_cmpstr (set->origin, ==, "site");
  g_assert_cmpint (set->hlc, ==, 9);
  g_assert_cmpint (set->origin_seq, ==, 3);
  g_assert_null (set->signature);
  g_assert_cmpstr (g_variant_get_string (v0, NULL), ==, "é😀/");
  g_assert_cmpint (g_variant_get_int64 (v1), ==, 0);
  assert_same_double (100.0, g_variant_get_double (v2));
  assert_same_double (0.01, g_variant_get_double (v3));

  g_assert_cmpint (deletion->kind, ==, MH_CHANGE_DELETE);
  g_assert_cmpuint (deletion->schema_version, ==, 0);
  g_assert_nonnull (deletion->signature);
  g_assert_cmpuint (g_bytes_get_size (deletion->signature), ==, 0);
}

static void
test_decode_explicit_length (void)
{
  const char *good = "{\"changes\":[" GOOD_SET "]}";
  gsize size = strlen (good);
  /* No terminator: any read past the length shows under valgrind or ASan. */
  g_autofree char *exact = g_memdup2 (good, size);
  g_autofree char *padded = g_strconcat (good, " garbage", NULL);
  g_autoptr(GPtrArray) from_exact = decode_ok (exact, (gssize) size, NULL);
  g_autoptr(GPtrArray) from_padded = decode_ok (padded, (gssize) size, NULL);

  g_assert_cmpuint (from_exact->len, ==, 1);
  g_assert_cmpuint (from_padded->len, ==, 1);
  assert_decode_fails (padded, -1, NULL, MH_SYNC_ERROR_MALFORMED, "after the end");
  assert_decode_fails (exact, 0, NULL, MH_SYNC_ERROR_MALFORMED, "end of input");
  assert_decode_fails (NULL, 0, NULL, MH_SYNC_ERROR_MALFORMED, "end of input");
}

static void
test_decode_limits_boundaries (void)
{
  MhCodecLimits limits;
  const char *one = "{\"changes\":[{\"t\":\"12345678\",\"r\":\"12345678\",\"g\":\"12345678\","
                    "\"v\":[\"12345678\",1,2],\"c\":1,\"o\":\"12345678\",\"s\":0,"
                    "\"sig\":\"AAECAw==\"}]}";
  g_autofree char *two = g_strdup_printf ("{\"changes\":[%s,%s]}", GOOD_SET, GOOD_SET);
  g_autoptr(GPtrArray) changes = NULL;

  /* Every bound is inclusive. */
  mh_codec_limits_init (&limits);
  limits.max_string = 8;
  limits.max_columns = 3;
  limits.max_signature = 4;
  limits.max_depth = 4;
  limits.max_bytes = strlen (one);
  changes = decode_ok (one, -1, &limits);
  g_clear_pointer (&changes, g_ptr_array_unref);

  mh_codec_limits_init (&limits);
  limits.max_changes = 2;
  changes = decode_ok (two, -1, &limits);
  g_assert_cmpuint (changes->len, ==, 2);
  g_clear_pointer (&changes, g_ptr_array_unref);

  /* Deletions have no "v", so nest one level less. */
  limits.max_depth = 3;
  changes = decode_ok ("{\"changes\":[" GOOD_DELETE "]}", -1, &limits);
  g_clear_pointer (&changes, g_ptr_array_unref);
  assert_decode_fails (two, -1, &limits, MH_SYNC_ERROR_TOO_LARGE, "nested too deeply");
}

static void
test_decode_node_checks (void)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) scalar = json_node_init_int (json_node_alloc (), 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(MhChange) change = NULL;
  g_autoptr(GPtrArray) changes = NULL;

  /* Nodes made by hand were never checked as text: bad UTF-8 and NaN. */
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "t");
  json_builder_add_string_value (builder, "t\xff");
  json_builder_set_member_name (builder, "r");
  json_builder_add_string_value (builder, "r");
  json_builder_set_member_name (builder, "d");
  json_builder_add_int_value (builder, 1);
  json_builder_set_member_name (builder, "c");
  json_builder_add_int_value (builder, 1);
  json_builder_set_member_name (builder, "o");
  json_builder_add_string_value (builder, "o");
  json_builder_set_member_name (builder, "s");
  json_builder_add_int_value (builder, 1);
  json_builder_end_object (builder);
  node = json_builder_get_root (builder);
  change = mh_codec_decode_change (node, NULL, &error);
  g_assert_null (change);
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
  g_assert_cmpstr (error->message, ==, "change 0: \"t\" is not valid UTF-8");
  g_clear_error (&error);
  g_clear_pointer (&node, json_node_unref);

  json_builder_reset (builder);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "t");
  json_builder_add_string_value (builder, "t");
  json_builder_set_member_name (builder, "r");
  json_builder_add_string_value (builder, "r");
  json_builder_set_member_name (builder, "g");
  json_builder_add_string_value (builder, "g");
  json_builder_set_member_name (builder, "v");
  json_builder_begin_array (builder);
  json_builder_add_double_value (builder, NAN);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "c");
  json_builder_add_int_value (builder, 1);
  json_builder_set_member_name (builder, "o");
  json_builder_add_string_value (builder, "o");
  json_builder_set_member_name (builder, "s");
  json_builder_add_int_value (builder, 1);
  json_builder_end_object (builder);
  node = json_builder_get_root (builder);
  change = mh_codec_decode_change (node, NULL, &error);
  g_assert_null (change);
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
  g_assert_cmpstr (error->message, ==, "change 0: \"v\"[0] is not a finite number");
  g_clear_error (&error);

  change = mh_codec_decode_change (scalar, NULL, &error);
  g_assert_null (change);
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
  g_clear_error (&error);

  changes = mh_codec_decode_changes (node, NULL, &error);
  g_assert_null (changes);
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
  g_assert_cmpstr (error->message, ==, "\"changes\" must be an array");
}

/* Every prefix of a good batch is bad. */
static void
test_decode_truncated (void)
{
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autofree char *text = NULL;
  gsize length;
  MhChange *change;

  change = set_new ("row-1",
                    values_new (g_variant_new_int64 (-12), g_variant_new_double (-1.5e-7),
                                g_variant_new_string ("a\"\\\n😀"), mh_value_null (), NULL),
                    123, 4);
  change->signature = g_bytes_new ("sig", 3);
  change->schema_version = 2;
  g_ptr_array_add (changes, change);
  g_ptr_array_add (changes, mh_change_new_delete ("t", "r", 1, "o", 0));
  text = mh_codec_encode_batch (changes, &length);

  for (gsize i = 0; i < length; i++)
    assert_decode_fails (text, (gssize) i, NULL, MH_SYNC_ERROR_MALFORMED, NULL);
}

/* Random damage: an error or a batch, never a crash or a leak. */
static void
test_decode_mutations (void)
{
  guint32 seed = mh_test_seed_from_env (g_test_rand_int ());
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autofree char *text = NULL;
  gsize length;
  guint iterations = g_getenv ("MEDHEAD_UNDER_VALGRIND") != NULL ? 500 : 5000;
  const char alphabet[] = "{}[]\",:\\0123456789-+.eEtrufalsn \x00\xff\xc3u'/";

  g_test_message ("seed %u (replay with MEDHEAD_SEED)", seed);
  for (guint i = 0; i < 20; i++)
    {
      MhChange *change = set_new ("row",
                                  values_new (g_variant_new_int64 (i), g_variant_new_string ("ab"),
                                              g_variant_new_double (0.5), NULL),
                                  i + 1, i);
      change->signature = g_bytes_new ("k", 1);
      g_ptr_array_add (changes, change);
    }
  text = mh_codec_encode_batch (changes, &length);

  for (guint i = 0; i < iterations; i++)
    {
      g_autofree char *copy = g_memdup2 (text, length + 1);
      guint edits = (guint) g_rand_int_range (rand, 1, 4);
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) decoded = NULL;

      for (guint e = 0; e < edits; e++)
        copy[g_rand_int_range (rand, 0, (gint32) length)] =
          alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)];
      decoded = mh_codec_decode_batch (copy, (gssize) length, NULL, &error);
      g_assert_true ((decoded == NULL) != (error == NULL));
      if (error != NULL)
        g_assert_true (g_error_matches (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED)
                       || g_error_matches (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TOO_LARGE));
      check_node_reader_agrees (copy, (gssize) length, NULL, decoded, error);
    }
}

/* Random documents, mostly well-formed, often wrong: the two readers must
 * agree on each, and whatever decodes must survive a round trip. */

static void
append_space (GRand *rand, GString *out)
{
  static const char *const spaces[] = { "", "", "", " ", "\n  ", "\t", "\r\n" };

  g_string_append (out, spaces[g_rand_int_range (rand, 0, G_N_ELEMENTS (spaces))]);
}

static void
append_random_value (GRand *rand, GString *out, guint depth)
{
  static const char *const scalars[] = {
    "0", "1", "-1", "7", "65535", "65536", "9223372036854775807", "-9223372036854775808",
    "1.5", "2.0", "-0.0", "1e3", "1E-2", "1e400", "true", "false", "null", "\"\"", "\"a\"",
    "\"patients\"", "\"\\u00e9\\ud83d\\ude00\"", "\"tab\\t\\\"q\\\\\"", "\"AAEC\"",
    "\"AAECAw==\"", "\"A===\"", "\"é\"", "\"[{\"",
  };
  guint kind = g_rand_int_range (rand, 0, depth < 3 ? 10 : 8);

  if (kind < 8)
    g_string_append (out, scalars[g_rand_int_range (rand, 0, G_N_ELEMENTS (scalars))]);
  else
    {
      gboolean object = kind == 9;
      guint n = (guint) g_rand_int_range (rand, 0, 4);

      g_string_append_c (out, object ? '{' : '[');
      for (guint i = 0; i < n; i++)
        {
          if (i > 0)
            g_string_append_c (out, ',');
          append_space (rand, out);
          if (object)
            g_string_append_printf (out, "\"k%u\":", i);
          append_random_value (rand, out, depth + 1);
        }
      g_string_append_c (out, object ? '}' : ']');
    }
}

static void
append_random_change (GRand *rand, GString *out)
{
  static const char *const keys[] = { "t", "r", "g", "v", "c", "o", "s", "sv", "sig", "d", "x",
                                      "\\u0074" };
  static const char *const good[] = { "\"patients\"", "\"row-1\"", "\"name\"",
                                      "[1,\"x\",null,2.5]", "12", "\"site\"", "3", "2",
                                      "\"AAEC\"", "1", "{}", "\"t2\"" };
  gboolean deletion = g_rand_boolean (rand);
  gboolean first = TRUE;

  g_string_append_c (out, '{');
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      guint roll = (guint) g_rand_int_range (rand, 0, 100);
      gboolean wanted = deletion ? g_strcmp0 (keys[i], "g") != 0 && g_strcmp0 (keys[i], "v") != 0
                                 : g_strcmp0 (keys[i], "d") != 0;

      if (i == G_N_ELEMENTS (keys) - 1 && roll > 5)
        continue;
      if (roll < (wanted ? 3 : 85))
        continue;
      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;
      append_space (rand, out);
      g_string_append_printf (out, "\"%s\"", keys[i]);
      append_space (rand, out);
      g_string_append_c (out, ':');
      append_space (rand, out);
      if (roll < 90)
        g_string_append (out, good[i]);
      else if (g_str_equal (keys[i], "v") && roll < 95)
        {
          guint n = (guint) g_rand_int_range (rand, 0, 4);

          g_string_append_c (out, '[');
          for (guint j = 0; j < n; j++)
            {
              if (j > 0)
                g_string_append_c (out, ',');
              append_random_value (rand, out, 2);
            }
          g_string_append_c (out, ']');
        }
      else
        append_random_value (rand, out, 0);
    }
  append_space (rand, out);
  g_string_append_c (out, '}');
}

static void
test_decode_random_documents (void)
{
  guint32 seed = mh_test_seed_from_env (g_test_rand_int ());
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint iterations = g_getenv ("MEDHEAD_UNDER_VALGRIND") != NULL ? 300 : 3000;
  guint decoded_count = 0;
  MhCodecLimits limits;

  g_test_message ("seed %u (replay with MEDHEAD_SEED)", seed);
  mh_codec_limits_init (&limits);
  limits.max_columns = 3;
  limits.max_changes = 6;
  limits.max_string = 10;

  for (guint i = 0; i < iterations; i++)
    {
      g_autoptr(GString) out = g_string_new (NULL);
      guint n = (guint) g_rand_int_range (rand, 0, 8);
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) changes = NULL;

      append_space (rand, out);
      g_string_append (out, "{");
      if (g_rand_int_range (rand, 0, 4) == 0)
        {
          g_string_append (out, "\"before\":");
          append_random_value (rand, out, 1);
          g_string_append_c (out, ',');
        }
      g_string_append (out, "\"changes\":");
      append_space (rand, out);
      if (g_rand_int_range (rand, 0, 20) == 0)
        append_random_value (rand, out, 1);
      else
        {
          g_string_append_c (out, '[');
          for (guint j = 0; j < n; j++)
            {
              if (j > 0)
                g_string_append_c (out, ',');
              append_space (rand, out);
              if (g_rand_int_range (rand, 0, 30) == 0)
                append_random_value (rand, out, 1);
              else
                append_random_change (rand, out);
            }
          append_space (rand, out);
          g_string_append_c (out, ']');
        }
      if (g_rand_int_range (rand, 0, 4) == 0)
        {
          g_string_append (out, ",\"after\":");
          append_random_value (rand, out, 1);
        }
      g_string_append_c (out, '}');
      append_space (rand, out);

      changes = mh_codec_decode_batch (out->str, (gssize) out->len, &limits, &error);
      g_assert_true ((changes == NULL) != (error == NULL));
      check_node_reader_agrees (out->str, (gssize) out->len, &limits, changes, error);
      if (changes != NULL)
        {
          g_autoptr(GPtrArray) again = round_trip (changes);

          g_assert_cmpuint (again->len, ==, changes->len);
          decoded_count++;
        }
    }
  g_test_message ("%u of %u documents decoded", decoded_count, iterations);
  /* Both outcomes must be well represented for the comparison to mean anything. */
  g_assert_cmpuint (decoded_count, >, iterations / 20);
  g_assert_cmpuint (decoded_count, <, iterations - iterations / 20);
}

/* Oversized input */

static void
test_too_large_body (void)
{
  MhCodecLimits limits;
  const char *text = "{\"changes\":[" GOOD_SET "]}";
  gsize size = (gsize) MH_CODEC_DEFAULT_MAX_BYTES + 1;
  g_autofree char *huge = g_malloc (size + 1);

  mh_codec_limits_init (&limits);
  limits.max_bytes = strlen (text) - 1;
  assert_decode_fails (text, -1, &limits, MH_SYNC_ERROR_TOO_LARGE, "more than");

  /* Refused by size before anything reads it. */
  memset (huge, ' ', size);
  huge[size] = '\0';
  assert_decode_fails (huge, (gssize) size, NULL, MH_SYNC_ERROR_TOO_LARGE, "more than 16777216");
  assert_decode_fails (huge, -1, NULL, MH_SYNC_ERROR_TOO_LARGE, "more than");
}

static void
test_too_many_changes (void)
{
  GString *text = g_string_new ("{\"changes\":[");
  g_autofree char *data = NULL;
  MhCodecLimits limits;

  for (guint i = 0; i <= MH_CODEC_DEFAULT_MAX_CHANGES; i++)
    g_string_append (text, i > 0 ? "," GOOD_DELETE : GOOD_DELETE);
  g_string_append (text, "]}");
  data = g_string_free (text, FALSE);
  assert_decode_fails (data, -1, NULL, MH_SYNC_ERROR_TOO_LARGE, "20001 changes");

  mh_codec_limits_init (&limits);
  limits.max_changes = 2;
  assert_decode_fails ("{\"changes\":[" GOOD_SET "," GOOD_SET "," GOOD_SET "]}", -1, &limits,
                       MH_SYNC_ERROR_TOO_LARGE, "3 changes in a batch, more than 2");
}

static void
test_too_deep (void)
{
  gsize n = 100000;
  g_autofree char *open = g_malloc (n + 1);
  g_autofree char *balanced = g_malloc (2 * n + 1);
  g_autofree char *in_change = NULL;
  g_autofree char *in_value = NULL;
  g_autoptr(GError) error = NULL;

  memset (open, '[', n);
  open[n] = '\0';
  memset (balanced, '[', n);
  memset (balanced + n, ']', n);
  balanced[2 * n] = '\0';

  assert_decode_fails (open, -1, NULL, MH_SYNC_ERROR_TOO_LARGE, "nested too deeply");
  assert_decode_fails (balanced, -1, NULL, MH_SYNC_ERROR_TOO_LARGE, "nested too deeply");
  g_assert_false (mh_codec_check_depth (balanced, 2 * n, MH_CODEC_DEFAULT_MAX_DEPTH, &error));
  g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_TOO_LARGE);
  g_clear_error (&error);

  /* Unknown members are ignored, but not their depth. */
  {
    g_autofree char *nested = g_strnfill (20, '[');
    g_autofree char *closed = g_strnfill (20, ']');

    in_change = g_strdup_printf ("{\"changes\":[{\"x\":%s%s}]}", nested, closed);
    in_value = g_strdup_printf ("{\"changes\":[{\"t\":\"t\",\"r\":\"r\",\"g\":\"g\",\"v\":[%s%s],"
                                "\"c\":1,\"o\":\"o\",\"s\":0}]}", nested, closed);
  }
  assert_decode_fails (in_change, -1, NULL, MH_SYNC_ERROR_TOO_LARGE, "nested too deeply");
  assert_decode_fails (in_value, -1, NULL, MH_SYNC_ERROR_TOO_LARGE, "nested too deeply");

  /* With the bound lifted, the codec's own reader does not recurse either. */
  {
    MhCodecLimits limits;
    g_autofree char *deep = g_strdup_printf ("{\"changes\":[" GOOD_DELETE "],\"x\":%s}", balanced);
    g_autoptr(GPtrArray) changes = NULL;

    mh_codec_limits_init (&limits);
    limits.max_depth = G_MAXUINT;
    changes = mh_codec_decode_batch (deep, -1, &limits, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (changes->len, ==, 1);
  }
}

static void
test_check_depth (void)
{
  const struct
  {
    const char *text;
    guint max_depth;
    gboolean ok;
    MhSyncError code;
  } cases[] = {
    { "", 0, TRUE, 0 },
    { "1", 0, TRUE, 0 },
    { "[]", 0, FALSE, MH_SYNC_ERROR_TOO_LARGE },
    { "[]", 1, TRUE, 0 },
    { "[[{}]]", 3, TRUE, 0 },
    { "[[{}]]", 2, FALSE, MH_SYNC_ERROR_TOO_LARGE },
    { "[][][][]", 1, TRUE, 0 },
    { "{\"a\":{\"b\":{}}}", 3, TRUE, 0 },
    { "{\"a\":{\"b\":{\"c\":{}}}}", 3, FALSE, MH_SYNC_ERROR_TOO_LARGE },
    /* Brackets inside strings do not count. */
    { "[\"[[[[[[{{{{{\"]", 1, TRUE, 0 },
    { "[\"]]]]]]\",[[]]]", 3, TRUE, 0 },
    { "[\"]]]]]]\",[[]]]", 2, FALSE, MH_SYNC_ERROR_TOO_LARGE },
    /* An escaped quote does not end the string... */
    { "[\"\\\"[[[[\"]", 1, TRUE, 0 },
    { "[\"\\\"\",[[[]]]]", 3, FALSE, MH_SYNC_ERROR_TOO_LARGE },
    /* ...but a quote after an escaped backslash does. */
    { "[\"\\\\\"[[[]]]]", 3, FALSE, MH_SYNC_ERROR_TOO_LARGE },
    { "[\"\\\\\"[[[]]]]", 4, TRUE, 0 },
    { "[\"\\\\\\\"[[[\"]", 1, TRUE, 0 },
    /* A backslash at the very end must not read past it. */
    { "[\"\\", 1, TRUE, 0 },
    /* Extra closers never let the count go negative. */
    { "]]]]][[", 2, TRUE, 0 },
    { "]]]]][[[", 2, FALSE, MH_SYNC_ERROR_TOO_LARGE },
    /* json-glib reads single-quoted strings and comments: refused outright. */
    { "['\"', [[[[[[]]]]]], '\"']", 16, FALSE, MH_SYNC_ERROR_MALFORMED },
    { "[/* \" */ [[[[]]]] /* \" */]", 16, FALSE, MH_SYNC_ERROR_MALFORMED },
    { "[\"'/\"]", 1, TRUE, 0 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = mh_codec_check_depth (cases[i].text, strlen (cases[i].text), cases[i].max_depth,
                                          &error);

      g_test_message ("case %u: %s", i, cases[i].text);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_no_error (error);
      else
        g_assert_error (error, MH_SYNC_ERROR, (int) cases[i].code);
    }

  /* The length is honoured: what lies past it is not read. */
  g_assert_true (mh_codec_check_depth ("[[[[", 2, 2, NULL));
  g_assert_false (mh_codec_check_depth ("[[[[", 3, 2, NULL));
}

/* Malformed and oversized input, one test per case */

typedef struct
{
  char *input;
  MhCodecLimits limits;
  MhSyncError code;
  char *fragment;
} BadCase;

static void
bad_case_free (gpointer data)
{
  BadCase *bad = data;

  g_free (bad->input);
  g_free (bad->fragment);
  g_free (bad);
}

static void
test_bad_case (gconstpointer data)
{
  const BadCase *bad = data;

  assert_decode_fails (bad->input, -1, &bad->limits, bad->code, bad->fragment);
}

/* Takes @input. */
static void
add_bad_full (const char *name, char *input, const MhCodecLimits *limits, MhSyncError code,
              const char *fragment)
{
  BadCase *bad = g_new0 (BadCase, 1);
  g_autofree char *path = g_strdup_printf ("/codec/reject/%s", name);

  bad->input = input;
  if (limits != NULL)
    bad->limits = *limits;
  else
    mh_codec_limits_init (&bad->limits);
  bad->code = code;
  bad->fragment = g_strdup (fragment);
  g_test_add_data_func_full (path, bad, test_bad_case, bad_case_free);
}

static void
add_bad (const char *name, const char *input, MhSyncError code, const char *fragment)
{
  add_bad_full (name, g_strdup (input), NULL, code, fragment);
}

/* The fourth change of a batch has @members; messages must say "change 3". */
static void
add_bad_change (const char *name, const char *members, MhSyncError code, const char *fragment)
{
  g_autofree char *message = fragment != NULL ? g_strdup_printf ("change 3: %s", fragment) : NULL;

  add_bad_full (name, batch_with_change (members), NULL, code, message);
}

static char *members_with (gboolean deletion, const char *key, const char *value);

/* A good set (or deletion) with @key's value replaced by @value (see members_with()). */
static void
add_bad_members (const char *name, gboolean deletion, const char *key, const char *value,
                 const MhCodecLimits *limits, MhSyncError code, const char *fragment)
{
  g_autofree char *members = members_with (deletion, key, value);

  add_bad_full (name, batch_with_change (members), limits, code, fragment);
}

#define SET_MEMBERS "\"t\":\"patients\",\"r\":\"row-1\",\"g\":\"name\"," \
                    "\"v\":[1,\"x\",null,2.5],\"c\":123456,\"o\":\"site-a\",\"s\":7,\"sv\":3," \
                    "\"sig\":\"AAEC\""

static const char *const set_keys[] = { "t", "r", "g", "v", "c", "o", "s", "sv", "sig" };
static const char *const set_values[] = { "\"patients\"", "\"row-1\"", "\"name\"",
                                          "[1,\"x\",null,2.5]", "123456", "\"site-a\"", "7",
                                          "3", "\"AAEC\"" };
static const char *const delete_keys[] = { "t", "r", "d", "c", "o", "s" };
static const char *const delete_values[] = { "\"patients\"", "\"row-1\"", "1", "123456",
                                             "\"site-a\"", "7" };

/* The members of a good set (or deletion), with @key's value replaced by
 * @value, or left out if @value is NULL, or added if absent. */
static char *
members_with (gboolean deletion, const char *key, const char *value)
{
  const char *const *keys = deletion ? delete_keys : set_keys;
  const char *const *values = deletion ? delete_values : set_values;
  guint n = deletion ? G_N_ELEMENTS (delete_keys) : G_N_ELEMENTS (set_keys);
  GString *out = g_string_new (NULL);
  gboolean found = FALSE;

  for (guint i = 0; i < n; i++)
    {
      const char *v = values[i];

      if (g_str_equal (keys[i], key))
        {
          found = TRUE;
          v = value;
        }
      if (v == NULL)
        continue;
      g_string_append_printf (out, "%s\"%s\":%s", out->len > 0 ? "," : "", keys[i], v);
    }
  if (!found && value != NULL)
    g_string_append_printf (out, ",\"%s\":%s", key, value);
  return g_string_free (out, FALSE);
}

static void
test_good_members (void)
{
  g_autofree char *set = members_with (FALSE, "none", NULL);
  g_autofree char *deletion = members_with (TRUE, "none", NULL);
  g_autofree char *set_batch = batch_with_change (set);
  g_autofree char *delete_batch = batch_with_change (deletion);
  g_autoptr(GPtrArray) sets = decode_ok (set_batch, -1, NULL);
  g_autoptr(GPtrArray) deletions = decode_ok (delete_batch, -1, NULL);
  MhChange *change = g_ptr_array_index (sets, 3);

  /* The cases below are these, each with one thing wrong. */
  g_assert_cmpstr (set, ==, SET_MEMBERS);
  g_assert_cmpuint (sets->len, ==, 4);
  g_assert_cmpint (change->kind, ==, MH_CHANGE_SET);
  g_assert_cmpuint (change->schema_version, ==, 3);
  g_assert_cmpuint (g_bytes_get_size (change->signature), ==, 3);
  g_assert_cmpint (((MhChange *) g_ptr_array_index (deletions, 3))->kind, ==, MH_CHANGE_DELETE);
}

static void
test_accepted_edges (void)
{
  g_autofree char *d_one = members_with (TRUE, "d", "1");
  g_autofree char *d_true = members_with (TRUE, "d", "true");
  g_autofree char *extremes = members_with (FALSE, "v", "[9223372036854775807,-9223372036854775808,"
                                                        "-0,-0.0,0.0,1E-400,\"\"]");
  g_autofree char *smallest = members_with (FALSE, "c", "1");
  g_autofree char *sv_max = members_with (FALSE, "sv", "65535");
  g_autofree char *seq_zero = members_with (FALSE, "s", "0");
  /* Member names are strings like any other: escapes included. */
  const char *escaped_names = "\"\\u0074\":\"patients\",\"r\\u0000x\":1,\"\\u0072\":\"row\","
                              "\"\\u0067\":\"g\",\"\\u0076\":[1],\"c\":1,\"o\":\"o\",\"s\":0";
  g_autofree char *unknown = members_with (FALSE, "x-future",
                                          "{\"a\":[1,{\"b\":\"}]\\\"\"}],\"c\":2}");
  const char *good[] = { d_one, d_true, extremes, smallest, sv_max, seq_zero, unknown };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *batch = batch_with_change (good[i]);
      g_autoptr(GPtrArray) changes = decode_ok (batch, -1, NULL);

      g_assert_cmpuint (changes->len, ==, 4);
    }

  {
    g_autofree char *batch = batch_with_change (extremes);
    g_autoptr(GPtrArray) changes = decode_ok (batch, -1, NULL);
    MhChange *change = g_ptr_array_index (changes, 3);
    g_autoptr(GVariant) max = value_at (change, 0);
    g_autoptr(GVariant) min = value_at (change, 1);
    g_autoptr(GVariant) int_zero = value_at (change, 2);
    g_autoptr(GVariant) negative_zero = value_at (change, 3);
    g_autoptr(GVariant) underflow = value_at (change, 5);
    g_autoptr(GVariant) empty = value_at (change, 6);

    g_assert_cmpint (g_variant_get_int64 (max), ==, G_MAXINT64);
    g_assert_cmpint (g_variant_get_int64 (min), ==, G_MININT64);
    g_assert_cmpint (g_variant_get_int64 (int_zero), ==, 0);
    assert_same_double (-0.0, g_variant_get_double (negative_zero));
    /* Underflow to zero is a finite value, unlike overflow. */
    assert_same_double (0.0, g_variant_get_double (underflow));
    g_assert_cmpstr (g_variant_get_string (empty, NULL), ==, "");
  }

  {
    g_autofree char *batch = batch_with_change (escaped_names);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) changes = mh_codec_decode_batch (batch, -1, NULL, &error);

    /* "r\u0000x" is refused even as an unknown name. */
    g_assert_null (changes);
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
  }
  {
    g_autofree char *fixed = g_strdup (escaped_names);
    g_autofree char *batch = NULL;
    g_autoptr(GPtrArray) changes = NULL;
    MhChange *change;

    memcpy (strstr (fixed, "r\\u0000x"), "r\\u0041x", 8);
    batch = batch_with_change (fixed);
    changes = decode_ok (batch, -1, NULL);
    change = g_ptr_array_index (changes, 3);
    g_assert_cmpstr (change->table, ==, "patients");
    g_assert_cmpstr (change->row, ==, "row");
    g_assert_cmpstr (change->reg, ==, "g");
  }
}

typedef struct
{
  const char *name;
  const char *json;
} NamedValue;

static const NamedValue wrong_values[] = {
  { "null", "null" },
  { "true", "true" },
  { "false", "false" },
  { "zero", "0" },
  { "int", "5" },
  { "negative", "-5" },
  { "real", "1.5" },
  { "integral-real", "1.0" },
  { "exponent", "1e3" },
  { "string", "\"x\"" },
  { "empty-string", "\"\"" },
  { "digit-string", "\"1\"" },
  { "empty-array", "[]" },
  { "array", "[1]" },
  { "string-array", "[\"x\"]" },
  { "empty-object", "{}" },
  { "object", "{\"a\":1}" },
};

static void
add_field_cases (void)
{
  const char *string_keys[] = { "t", "r", "g", "o" };
  const char *int_keys[] = { "c", "s", "sv" };

  for (guint v = 0; v < G_N_ELEMENTS (wrong_values); v++)
    {
      const NamedValue *value = &wrong_values[v];

      for (guint k = 0; k < G_N_ELEMENTS (string_keys); k++)
        {
          const char *key = string_keys[k];
          g_autofree char *name = g_strdup_printf ("field/%s/%s", key, value->name);
          g_autofree char *members = members_with (FALSE, key, value->json);
          g_autofree char *fragment = NULL;

          if (g_str_equal (value->name, "string") || g_str_equal (value->name, "digit-string"))
            continue;
          if (g_str_equal (value->name, "empty-string"))
            fragment = g_strdup_printf ("\"%s\" must not be empty", key);
          else
            fragment = g_strdup_printf ("\"%s\" must be a string", key);
          add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, fragment);
        }

      for (guint k = 0; k < G_N_ELEMENTS (int_keys); k++)
        {
          const char *key = int_keys[k];
          g_autofree char *name = g_strdup_printf ("field/%s/%s", key, value->name);
          g_autofree char *members = members_with (FALSE, key, value->json);
          g_autofree char *fragment = NULL;

          if (g_str_equal (value->name, "int") || (g_str_equal (value->name, "zero")
                                                   && !g_str_equal (key, "c")))
            continue;
          if (g_str_equal (value->name, "zero") || g_str_equal (value->name, "negative"))
            fragment = g_strdup_printf ("\"%s\" must be between", key);
          else
            fragment = g_strdup_printf ("\"%s\" must be an integer", key);
          add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, fragment);
        }

      if (!g_str_has_suffix (value->name, "array"))
        {
          g_autofree char *name = g_strdup_printf ("field/v/%s", value->name);
          g_autofree char *members = members_with (FALSE, "v", value->json);

          add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, "\"v\" must be an array");
        }

      if (!g_str_has_suffix (value->name, "string"))
        {
          g_autofree char *name = g_strdup_printf ("field/sig/%s", value->name);
          g_autofree char *members = members_with (FALSE, "sig", value->json);

          add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, "\"sig\" must be a string");
        }

      if (!g_str_equal (value->name, "true"))
        {
          g_autofree char *name = g_strdup_printf ("field/d/%s", value->name);
          g_autofree char *members = members_with (TRUE, "d", value->json);

          add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, "\"d\" must be 1 or true");
        }
    }
}

static void
add_missing_cases (void)
{
  const char *set_required[] = { "t", "r", "g", "v", "c", "o", "s" };
  const char *delete_required[] = { "t", "r", "c", "o", "s" };

  for (guint i = 0; i < G_N_ELEMENTS (set_required); i++)
    {
      g_autofree char *name = g_strdup_printf ("missing/set/%s", set_required[i]);
      g_autofree char *members = members_with (FALSE, set_required[i], NULL);
      g_autofree char *fragment = g_strdup_printf ("\"%s\" is missing", set_required[i]);

      add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, fragment);
    }
  for (guint i = 0; i < G_N_ELEMENTS (delete_required); i++)
    {
      g_autofree char *name = g_strdup_printf ("missing/delete/%s", delete_required[i]);
      g_autofree char *members = members_with (TRUE, delete_required[i], NULL);
      g_autofree char *fragment = g_strdup_printf ("\"%s\" is missing", delete_required[i]);

      add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, fragment);
    }
}

static void
add_value_cases (void)
{
  const struct
  {
    const char *name;
    const char *v;
    const char *fragment;
  } cases[] = {
    { "empty", "[]", "\"v\" must not be empty" },
    { "object", "[{}]", "\"v\"[0] must be an integer, a number, a string or null" },
    { "array", "[[]]", "\"v\"[0] must be" },
    { "nested-array", "[1,[1,2]]", "\"v\"[1] must be" },
    { "true", "[true]", "\"v\"[0] must be" },
    { "false", "[1,\"x\",false]", "\"v\"[2] must be" },
    { "overflow-real", "[1e400]", "\"v\"[0] is not a finite number" },
    { "overflow-negative-real", "[null,-1e400]", "\"v\"[1] is not a finite number" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("value/%s", cases[i].name);
      g_autofree char *members = members_with (FALSE, "v", cases[i].v);

      add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, cases[i].fragment);
    }

  /* json-glib would keep the last of two; the codec refuses them. */
  add_bad_members ("duplicate/c", FALSE, "c", "1,\"c\":2", NULL, MH_SYNC_ERROR_MALFORMED,
                   "change 3: \"c\" appears twice");
  add_bad_members ("duplicate/v", FALSE, "v", "[1],\"v\":[2]", NULL, MH_SYNC_ERROR_MALFORMED,
                   "change 3: \"v\" appears twice");
  add_bad_members ("duplicate/escaped-t", FALSE, "t", "\"a\",\"\\u0074\":\"b\"", NULL,
                   MH_SYNC_ERROR_MALFORMED, "change 3: \"t\" appears twice");
  add_bad_members ("duplicate/d", TRUE, "d", "1,\"d\":1", NULL, MH_SYNC_ERROR_MALFORMED,
                   "change 3: \"d\" appears twice");
  add_bad_full ("duplicate/changes", g_strdup ("{\"changes\":[],\"changes\":[]}"), NULL,
                MH_SYNC_ERROR_MALFORMED, "\"changes\" appears twice");

  add_bad_members ("delete-with-g", TRUE, "g", "\"name\"", NULL, MH_SYNC_ERROR_MALFORMED,
                   "change 3: a deletion must have no \"g\" and no \"v\"");
  add_bad_members ("delete-with-v", TRUE, "v", "[1]", NULL, MH_SYNC_ERROR_MALFORMED,
                   "change 3: a deletion must have no");
}

static void
add_range_cases (void)
{
  const struct
  {
    const char *name;
    const char *key;
    const char *value;
    const char *fragment;
  } cases[] = {
    { "c/min", "c", "-9223372036854775808", "change 3: \"c\" must be between 1 and" },
    { "s/min", "s", "-9223372036854775808", "change 3: \"s\" must be between 0 and" },
    { "sv/too-big", "sv", "65536", "change 3: \"sv\" must be between 0 and 65535" },
    { "sv/huge", "sv", "9223372036854775807", "change 3: \"sv\" must be between" },
    /* Beyond int64: json-glib 1.6 would wrap these round silently. */
    { "c/2^63", "c", "9223372036854775808", "integer out of range" },
    { "c/2^64+1", "c", "18446744073709551617", "integer out of range" },
    { "c/huge", "c", "99999999999999999999999999999", "integer out of range" },
    { "s/below-min", "s", "-9223372036854775809", "integer out of range" },
    { "v/2^63", "v", "[9223372036854775808]", "integer out of range" },
    { "v/below-min", "v", "[-9223372036854775809]", "integer out of range" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("range/%s", cases[i].name);
      add_bad_members (name, FALSE, cases[i].key, cases[i].value, NULL, MH_SYNC_ERROR_MALFORMED,
                       cases[i].fragment);
    }
}

static void
add_signature_cases (void)
{
  const struct
  {
    const char *name;
    const char *sig;
  } cases[] = {
    { "one-char", "\"A\"" },
    { "two-chars", "\"AB\"" },
    { "three-chars", "\"ABC\"" },
    { "five-chars", "\"ABCDE\"" },
    { "three-pads", "\"A===\"" },
    { "all-pads", "\"====\"" },
    { "pad-inside", "\"AB=C\"" },
    { "pad-then-more", "\"AB==AAAA\"" },
    { "space", "\"AB C\"" },
    { "newline", "\"AB\\nC\"" },
    { "star", "\"ABC*\"" },
    { "url-safe", "\"AB-_\"" },
    { "non-ascii", "\"ABC\\u00e9\"" },
  };
  MhCodecLimits limits;
  GString *big = g_string_new ("\"");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("sig/%s", cases[i].name);
      g_autofree char *members = members_with (FALSE, "sig", cases[i].sig);

      add_bad_change (name, members, MH_SYNC_ERROR_MALFORMED, "\"sig\" is not valid base64");
    }

  /* 343 quanta with two pads: 1027 bytes, over the default limit. */
  for (guint i = 0; i < 342; i++)
    g_string_append (big, "AAAA");
  g_string_append (big, "AA==\"");
  {
    g_autofree char *data = g_string_free (big, FALSE);
    g_autofree char *members = members_with (FALSE, "sig", data);

    add_bad_change ("sig/too-large", members, MH_SYNC_ERROR_TOO_LARGE,
                    "\"sig\" is 1027 bytes long, more than 1024");
  }

  mh_codec_limits_init (&limits);
  limits.max_signature = 3;
  add_bad_members ("sig/over-limit", FALSE, "sig", "\"AAECAw==\"", &limits,
                   MH_SYNC_ERROR_TOO_LARGE, "change 3: \"sig\" is 4 bytes long, more than 3");
}

static void
add_limit_cases (void)
{
  const char *string_keys[] = { "t", "r", "g", "o" };
  MhCodecLimits limits;
  g_autofree char *long_default = g_strnfill (MH_CODEC_DEFAULT_MAX_STRING + 1, 'x');

  mh_codec_limits_init (&limits);
  limits.max_string = 8;
  for (guint i = 0; i < G_N_ELEMENTS (string_keys); i++)
    {
      g_autofree char *name = g_strdup_printf ("limit/string/%s", string_keys[i]);
      g_autofree char *fragment = g_strdup_printf ("change 3: \"%s\" is 9 bytes long, more than 8",
                                                   string_keys[i]);

      add_bad_members (name, FALSE, string_keys[i], "\"123456789\"", &limits,
                       MH_SYNC_ERROR_TOO_LARGE, fragment);
    }
  add_bad_members ("limit/string/value", FALSE, "v", "[1,\"123456789\"]", &limits,
                   MH_SYNC_ERROR_TOO_LARGE, "change 3: \"v\"[1] is 9 bytes long, more than 8");
  /* Bytes, not characters. */
  add_bad_members ("limit/string/multibyte", FALSE, "r", "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"",
                   &limits, MH_SYNC_ERROR_TOO_LARGE, "\"r\" is 10 bytes long, more than 8");

  {
    g_autofree char *quoted = g_strdup_printf ("[\"%s\"]", long_default);

    add_bad_members ("limit/string/default", FALSE, "v", quoted, NULL, MH_SYNC_ERROR_TOO_LARGE,
                     "change 3: \"v\"[0] is 65537 bytes long, more than 65536");
  }

  mh_codec_limits_init (&limits);
  limits.max_columns = 3;
  add_bad_members ("limit/columns", FALSE, "v", "[1,2,3,4]", &limits, MH_SYNC_ERROR_TOO_LARGE,
                   "change 3: \"v\" has 4 values, more than 3");
  {
    GString *many = g_string_new ("[0");

    for (guint i = 1; i <= MH_CODEC_DEFAULT_MAX_COLUMNS; i++)
      g_string_append_printf (many, ",%u", i);
    g_string_append_c (many, ']');
    add_bad_members ("limit/columns-default", FALSE, "v", many->str, NULL,
                     MH_SYNC_ERROR_TOO_LARGE, "change 3: \"v\" has 65 values, more than 64");
    g_string_free (many, TRUE);
  }
}

static void
add_string_cases (void)
{
  const struct
  {
    const char *name;
    const char *value;
    const char *fragment;
  } cases[] = {
    /* Strings become C strings: json-glib would cut "a\u0000b" to "a". */
    { "nul-escape", "\"a\\u0000b\"", "U+0000" },
    { "bad-escape", "\"\\q\"", "invalid escape" },
    { "bad-escape-x", "\"\\x41\"", "invalid escape" },
    { "short-unicode", "\"\\u12\"", "invalid \\u escape" },
    { "bad-unicode", "\"\\u12G4\"", "invalid \\u escape" },
    { "lone-high-surrogate", "\"\\ud800\"", "lone high surrogate" },
    { "high-surrogate-then-letter", "\"\\ud800\\u0041\"", "lone high surrogate" },
    { "high-surrogate-then-text", "\"\\ud800abcdef\"", "lone high surrogate" },
    { "lone-low-surrogate", "\"\\udc00\"", "lone low surrogate" },
    { "raw-control", "\"a\x01z\"", "control character" },
    { "raw-newline", "\"a\nz\"", "control character" },
    { "raw-tab", "\"a\tz\"", "control character" },
    { "single-quoted", "'row'", "expected a value" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("string/%s", cases[i].name);
      g_autofree char *value = g_strdup_printf ("[%s]", cases[i].value);
      g_autofree char *name_value = g_strdup_printf ("string/%s-in-value", cases[i].name);

      add_bad_members (name, FALSE, "r", cases[i].value, NULL, MH_SYNC_ERROR_MALFORMED,
                       cases[i].fragment);
      add_bad_members (name_value, FALSE, "v", value, NULL, MH_SYNC_ERROR_MALFORMED,
                       cases[i].fragment);
    }

  /* Invalid UTF-8 anywhere. */
  add_bad ("utf8/invalid-byte", "{\"changes\":[],\"x\":\"\xff\"}", MH_SYNC_ERROR_MALFORMED,
           "UTF-8");
  add_bad ("utf8/overlong-nul", "{\"changes\":[],\"x\":\"\xc0\x80\"}", MH_SYNC_ERROR_MALFORMED,
           "UTF-8");
  add_bad ("utf8/surrogate", "{\"changes\":[],\"x\":\"\xed\xa0\x80\"}", MH_SYNC_ERROR_MALFORMED,
           "UTF-8");
  add_bad ("utf8/truncated", "{\"changes\":[],\"x\":\"\xe2\x82\"}", MH_SYNC_ERROR_MALFORMED,
           "UTF-8");
  add_bad ("utf8/outside-string", "{\"changes\":[]}\xff", MH_SYNC_ERROR_MALFORMED, "UTF-8");
  add_bad_members ("utf8/in-row", FALSE, "r", "\"ro\xe9w\"", NULL, MH_SYNC_ERROR_MALFORMED,
                   "UTF-8");
  add_bad_members ("utf8/in-value", FALSE, "v", "[\"\xf8\x88\x80\x80\x80\"]", NULL,
                   MH_SYNC_ERROR_MALFORMED, "UTF-8");
}

static void
add_syntax_cases (void)
{
  const struct
  {
    const char *name;
    const char *text;
    MhSyncError code;
    const char *fragment;
  } cases[] = {
    { "empty", "", MH_SYNC_ERROR_MALFORMED, "end of input" },
    { "blank", " \n\t\r ", MH_SYNC_ERROR_MALFORMED, "end of input" },
    { "not-json", "hello", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "open-brace", "{", MH_SYNC_ERROR_MALFORMED, "end of input" },
    { "open-changes", "{\"changes\":[", MH_SYNC_ERROR_MALFORMED, "end of input" },
    { "unterminated-string", "{\"changes", MH_SYNC_ERROR_MALFORMED, "unterminated string" },
    { "root-array", "[]", MH_SYNC_ERROR_MALFORMED, "a batch must be a JSON object" },
    { "root-number", "1", MH_SYNC_ERROR_MALFORMED, "a batch must be a JSON object" },
    { "root-string", "\"changes\"", MH_SYNC_ERROR_MALFORMED, "a batch must be a JSON object" },
    { "root-null", "null", MH_SYNC_ERROR_MALFORMED, "a batch must be a JSON object" },
    { "root-true", "true", MH_SYNC_ERROR_MALFORMED, "a batch must be a JSON object" },
    { "no-changes", "{}", MH_SYNC_ERROR_MALFORMED, "\"changes\" is missing" },
    { "other-member", "{\"Changes\":[]}", MH_SYNC_ERROR_MALFORMED, "\"changes\" is missing" },
    { "changes-null", "{\"changes\":null}", MH_SYNC_ERROR_MALFORMED,
      "\"changes\" must be an array" },
    { "changes-object", "{\"changes\":{}}", MH_SYNC_ERROR_MALFORMED, "must be an array" },
    { "changes-number", "{\"changes\":1}", MH_SYNC_ERROR_MALFORMED, "must be an array" },
    { "changes-string", "{\"changes\":\"[]\"}", MH_SYNC_ERROR_MALFORMED, "must be an array" },
    { "changes-true", "{\"changes\":true}", MH_SYNC_ERROR_MALFORMED, "must be an array" },
    { "change-number", "{\"changes\":[1]}", MH_SYNC_ERROR_MALFORMED, "change 0: not an object" },
    { "change-null", "{\"changes\":[null]}", MH_SYNC_ERROR_MALFORMED, "change 0: not an object" },
    { "change-array", "{\"changes\":[[]]}", MH_SYNC_ERROR_MALFORMED, "change 0: not an object" },
    { "change-string", "{\"changes\":[\"x\"]}", MH_SYNC_ERROR_MALFORMED,
      "change 0: not an object" },
    { "change-empty", "{\"changes\":[{}]}", MH_SYNC_ERROR_MALFORMED, "change 0: \"t\" is missing" },
    { "second-change-bad", "{\"changes\":[" GOOD_SET ",true]}", MH_SYNC_ERROR_MALFORMED,
      "change 1: not an object" },
    /* Trailing data: json-glib 1.6 would take the first value and drop the rest. */
    { "trailing-word", "{\"changes\":[]} x", MH_SYNC_ERROR_MALFORMED, "after the end" },
    { "trailing-object", "{\"changes\":[]}{}", MH_SYNC_ERROR_MALFORMED, "after the end" },
    { "trailing-batch", "{\"changes\":[]} {\"changes\":[" GOOD_SET "]}", MH_SYNC_ERROR_MALFORMED,
      "after the end" },
    { "trailing-comma", "{\"changes\":[]},", MH_SYNC_ERROR_MALFORMED, "after the end" },
    { "trailing-closer", "{\"changes\":[]}]", MH_SYNC_ERROR_MALFORMED, "after the end" },
    { "trailing-nul", "{\"changes\":[]}\\u0000", MH_SYNC_ERROR_MALFORMED, "after the end" },
    /* Grammar. */
    { "missing-comma", "{\"changes\":[] \"x\":1}", MH_SYNC_ERROR_MALFORMED, "expected ','" },
    { "missing-colon", "{\"changes\" []}", MH_SYNC_ERROR_MALFORMED, "expected ':'" },
    { "double-colon", "{\"changes\"::[]}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "array-trailing-comma", "{\"changes\":[" GOOD_SET ",]}", MH_SYNC_ERROR_MALFORMED,
      "expected a value" },
    { "object-trailing-comma", "{\"changes\":[],}", MH_SYNC_ERROR_MALFORMED,
      "expected a member name" },
    { "leading-comma", "{\"changes\":[,1]}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "mismatched", "{\"changes\":[}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "mismatched-close", "{\"changes\":[1}}", MH_SYNC_ERROR_MALFORMED, "mismatched bracket" },
    { "mismatched-object", "{\"changes\":[]]", MH_SYNC_ERROR_MALFORMED, "mismatched bracket" },
    { "bare-key", "{changes:[]}", MH_SYNC_ERROR_MALFORMED, "expected a member name" },
    { "number-key", "{1:[]}", MH_SYNC_ERROR_MALFORMED, "expected a member name" },
    { "literal-key", "{true:[]}", MH_SYNC_ERROR_MALFORMED, "expected a member name" },
    { "single-quoted-key", "{'changes':[]}", MH_SYNC_ERROR_MALFORMED, "expected a member name" },
    { "key-without-value", "{\"changes\"}", MH_SYNC_ERROR_MALFORMED, "expected ':'" },
    { "truncated-literal", "{\"changes\":[],\"x\":tru}", MH_SYNC_ERROR_MALFORMED,
      "expected a value" },
    { "long-literal", "{\"changes\":[],\"x\":nullx}", MH_SYNC_ERROR_MALFORMED, "expected ','" },
    { "capital-literal", "{\"changes\":[],\"x\":True}", MH_SYNC_ERROR_MALFORMED,
      "expected a value" },
    /* json-glib 1.6 extensions. */
    { "assignment", "var batch = {\"changes\":[]};", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "comment-after", "{\"changes\":[]} /* x */", MH_SYNC_ERROR_MALFORMED, "after the end" },
    { "comment-before", "/* x */ {\"changes\":[]}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "comment-inside", "{\"changes\":[ /* \" */ ]}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "line-comment", "// x\n{\"changes\":[]}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "hash-comment", "# x\n{\"changes\":[]}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "nan", "{\"changes\":[],\"x\":NaN}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "infinity", "{\"changes\":[],\"x\":Infinity}", MH_SYNC_ERROR_MALFORMED, "expected a value" },
    { "minus-infinity", "{\"changes\":[],\"x\":-Infinity}", MH_SYNC_ERROR_MALFORMED,
      "invalid number" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("syntax/%s", cases[i].name);

      add_bad (name, cases[i].text, cases[i].code, cases[i].fragment);
    }
}

static void
add_number_cases (void)
{
  const struct
  {
    const char *name;
    const char *key;
    const char *value;
    const char *fragment;
  } cases[] = {
    /* Reals where integers belong. */
    { "c-real", "c", "1.0", "\"c\" must be an integer" },
    { "c-exponent", "c", "1e3", "\"c\" must be an integer" },
    { "c-exponent-int", "c", "10E+2", "\"c\" must be an integer" },
    { "s-real", "s", "0.0", "\"s\" must be an integer" },
    { "s-fraction", "s", "7.5", "\"s\" must be an integer" },
    { "sv-real", "sv", "3.0", "\"sv\" must be an integer" },
    /* Number forms json-glib 1.6 reads but JSON does not have. */
    { "octal", "c", "017", "leading zero" },
    { "double-zero", "c", "00", "leading zero" },
    { "hex", "c", "0x10", "expected ','" },
    { "dollar-hex", "c", "$10", "expected a value" },
    { "binary", "c", "0b11", "expected ','" },
    { "plus", "c", "+1", "expected a value" },
    { "trailing-dot", "c", "1.", "invalid number" },
    { "leading-dot", "c", ".5", "expected a value" },
    { "dot-exponent", "c", "1.e5", "invalid number" },
    { "bare-exponent", "c", "1e", "invalid number" },
    { "signed-bare-exponent", "c", "1e+", "invalid number" },
    { "lone-minus", "c", "-", "invalid number" },
    { "minus-space", "c", "- 1", "invalid number" },
    { "double-minus", "c", "--1", "invalid number" },
    { "v-octal", "v", "[010]", "leading zero" },
    { "v-negative-leading-zero", "v", "[-01]", "leading zero" },
    { "v-hex", "v", "[0xff]", "expected ','" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("number/%s", cases[i].name);
      add_bad_members (name, FALSE, cases[i].key, cases[i].value, NULL, MH_SYNC_ERROR_MALFORMED,
                       cases[i].fragment);
    }
}

static void
test_nul_byte (void)
{
  const char text[] = "{\"changes\":[]\0}";

  /* Raw NUL bytes are not UTF-8 text, and json-glib would stop at them. */
  assert_decode_fails (text, sizeof text - 1, NULL, MH_SYNC_ERROR_MALFORMED, "UTF-8");
  assert_decode_fails ("{\"changes\":[\0]}", 15, NULL, MH_SYNC_ERROR_MALFORMED, "UTF-8");
}

/* Performance: `test-codec -m perf -p /codec/perf` */

static void
test_perf (void)
{
  const guint n = 100000;
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  g_autofree char *text = NULL;
  gsize length;
  double encode_time;
  double decode_time;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *row = g_strdup_printf ("01HV%08u", i / 4);
      MhChange *change = mh_change_new_set ("vitals", row, i % 2 ? "pulse" : "note",
                                            values_new (g_variant_new_int64 (60 + i % 50),
                                                        g_variant_new_double (36.6),
                                                        g_variant_new_string ("stable"), NULL),
                                            MH_HLC_PACK (1700000000000 + i, 0), "site-a", i);
      change->schema_version = 1;
      g_ptr_array_add (changes, change);
    }

  g_test_timer_start ();
  text = mh_codec_encode_batch (changes, &length);
  encode_time = g_test_timer_elapsed ();

  g_test_timer_start ();
  {
    MhCodecLimits limits;

    mh_codec_limits_init (&limits);
    limits.max_changes = n;
    decoded = mh_codec_decode_batch (text, (gssize) length, &limits, NULL);
  }
  decode_time = g_test_timer_elapsed ();

  g_assert_nonnull (decoded);
  assert_changes_equal (changes, decoded);
  g_test_minimized_result (encode_time + decode_time,
                           "%u changes, %" G_GSIZE_FORMAT " bytes: encode %.3f s, decode %.3f s",
                           n, length, encode_time, decode_time);
}

/* A change sealed alone carries its seal's signature field and "ss":1. */
static void
add_single_seal_cases (void)
{
  g_autofree char *sig96 = NULL;
  g_autofree char *members = NULL;
  guint8 zeros[96] = { 0 };

  sig96 = g_base64_encode (zeros, sizeof zeros);
  members = g_strdup_printf ("\"t\":\"p\",\"r\":\"r\",\"g\":\"n\",\"v\":[1],\"c\":5,"
                             "\"o\":\"site-a\",\"s\":7,\"sig\":\"%s\",\"ss\":2", sig96);
  add_bad_change ("single-seal/two", members, MH_SYNC_ERROR_MALFORMED, "\"ss\" must be 1");
  add_bad_change ("single-seal/true",
                  "\"t\":\"p\",\"r\":\"r\",\"d\":1,\"c\":5,\"o\":\"site-a\",\"s\":7,"
                  "\"ss\":true,\"sig\":\"AAEC\"",
                  MH_SYNC_ERROR_MALFORMED, "\"ss\" must be 1");
  add_bad_change ("single-seal/no-sig",
                  "\"t\":\"p\",\"r\":\"r\",\"d\":1,\"c\":5,\"o\":\"site-a\",\"s\":7,"
                  "\"ss\":1",
                  MH_SYNC_ERROR_MALFORMED, "\"ss\" needs a \"sig\" of 96 bytes");
  add_bad_change ("single-seal/short-sig",
                  "\"t\":\"p\",\"r\":\"r\",\"d\":1,\"c\":5,\"o\":\"site-a\",\"s\":7,"
                  "\"ss\":1,\"sig\":\"AAEC\"",
                  MH_SYNC_ERROR_MALFORMED, "\"ss\" needs a \"sig\" of 96 bytes");
}

/* Seals */

static MhSeal *
seal_new_filled (const char *origin, gint64 first, guint n, guint8 fill)
{
  g_autofree guint8 *sig = g_malloc (96);
  g_autofree guint8 *hashes = g_malloc ((gsize) n * MH_SEAL_HASH_SIZE);
  g_autoptr(GBytes) sig_bytes = NULL;
  g_autoptr(GBytes) hash_bytes = NULL;

  memset (sig, fill, 96);
  for (gsize i = 0; i < (gsize) n * MH_SEAL_HASH_SIZE; i++)
    hashes[i] = (guint8) (i + fill);
  sig_bytes = g_bytes_new (sig, 96);
  hash_bytes = g_bytes_new (hashes, (gsize) n * MH_SEAL_HASH_SIZE);
  return mh_seal_new (origin, first, n, sig_bytes, hash_bytes);
}

/* Sealed changes go without "sig", each seal once; the decoder attaches
 * each change the seal of its origin that covers its number, and only to a
 * change without "sig". */
static void
test_seal_round_trip (void)
{
  g_autoptr(MhSeal) seal = seal_new_filled ("site-a", 10, 3, 7);
  g_autoptr(MhSeal) other = seal_new_filled ("site-b", 10, 3, 9);
  g_autoptr(GPtrArray) changes = changes_new ();
  g_autoptr(GPtrArray) decoded = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  const char *p;
  guint n_seals = 0;
  MhChange *change;

  for (guint i = 0; i < 3; i++)
    {
      change = set_new ("sealed", values_new (g_variant_new_int64 (i), NULL), 1000 + i, 10 + i);
      mh_change_set_seal (change, seal);
      g_ptr_array_add (changes, change);
    }
  change = mh_change_new_set ("patients", "b", "name", values_new (g_variant_new_int64 (1), NULL),
                              2000, "site-b", 11);
  mh_change_set_seal (change, other);
  g_ptr_array_add (changes, change);
  /* Signed alone: keeps its "sig", even where a seal would cover it. */
  change = set_new ("alone", values_new (g_variant_new_int64 (5), NULL), 3000, 11);
  change->signature = g_bytes_new ("abc", 3);
  g_ptr_array_add (changes, change);
  /* Outside every seal: unsigned. */
  g_ptr_array_add (changes, set_new ("unsigned", values_new (g_variant_new_int64 (6), NULL), 4000,
                                     13));

  text = mh_codec_encode_batch (changes, NULL);
  g_assert_nonnull (text);
  for (p = text; (p = strstr (p, "\"f\":10")) != NULL; p++)
    n_seals++;
  g_assert_cmpuint (n_seals, ==, 2);
  g_assert_nonnull (strstr (text, "\"seals\":["));
  /* The one "sig" of a change is the lone one's. */
  g_assert_nonnull (strstr (text, "\"sig\":\"YWJj\""));

  decoded = mh_codec_decode_batch (text, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (decoded->len, ==, 6);
  for (guint i = 0; i < 3; i++)
    {
      MhChange *back = g_ptr_array_index (decoded, i);

      g_assert_nonnull (back->seal);
      g_assert_true (back->seal == ((MhChange *) g_ptr_array_index (decoded, 0))->seal);
      g_assert_true (mh_seal_equal (back->seal, seal));
      g_assert_true (mh_change_is_sealed (back));
      g_assert_true (mh_change_equal (back, g_ptr_array_index (changes, i)));
    }
  change = g_ptr_array_index (decoded, 3);
  g_assert_nonnull (change->seal);
  g_assert_true (mh_seal_equal (change->seal, other));
  change = g_ptr_array_index (decoded, 4);
  g_assert_null (change->seal);
  g_assert_cmpuint (g_bytes_get_size (change->signature), ==, 3);
  change = g_ptr_array_index (decoded, 5);
  g_assert_null (change->seal);
  g_assert_null (change->signature);

  /* A seal of one change travels in it, and comes back the same. */
  {
    g_autoptr(MhSeal) alone = seal_new_filled ("site-a", 40, 1, 4);
    g_autoptr(GPtrArray) one = changes_new ();
    g_autoptr(GPtrArray) back = NULL;
    g_autofree char *one_text = NULL;
    MhChange *single = set_new ("single", values_new (g_variant_new_int64 (9), NULL), 5000, 40);

    mh_change_set_seal (single, alone);
    g_ptr_array_add (one, single);
    one_text = mh_codec_encode_batch (one, NULL);
    g_assert_null (strstr (one_text, "seals"));
    g_assert_nonnull (strstr (one_text, "\"ss\":1"));
    back = mh_codec_decode_batch (one_text, -1, NULL, &error);
    g_assert_no_error (error);
    change = g_ptr_array_index (back, 0);
    g_assert_nonnull (change->seal);
    g_assert_true (mh_change_equal (change, single));
    g_assert_true (g_bytes_equal (change->seal->sig, alone->sig));
    g_assert_cmpuint (change->seal->n, ==, 1);
    g_assert_cmpint (change->seal->first_oseq, ==, 40);
    /* Its hash is the change's own, not the one the seal held. */
    {
      guint8 hash[MH_SEAL_HASH_SIZE];

      mh_change_hash (single, hash);
      g_assert_cmpmem (g_bytes_get_data (change->seal->hashes, NULL), MH_SEAL_HASH_SIZE, hash,
                       MH_SEAL_HASH_SIZE);
    }
  }

  /* Without its seals, sealed changes decode unsigned. */
  g_clear_pointer (&text, g_free);
  text = mh_codec_encode_batch_unsealed (changes, NULL);
  g_assert_null (strstr (text, "seals"));
  g_clear_pointer (&decoded, g_ptr_array_unref);
  decoded = mh_codec_decode_batch (text, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (((MhChange *) g_ptr_array_index (decoded, 0))->signature);
  g_assert_null (((MhChange *) g_ptr_array_index (decoded, 0))->seal);
}

static char *
b64_of (gsize size, guint8 fill)
{
  g_autofree guint8 *bytes = g_malloc (size + 1);

  memset (bytes, fill, size);
  return g_base64_encode (bytes, size);
}

static void
assert_seal_fails (const char *seals, MhSyncError code, const char *fragment)
{
  g_autofree char *text = g_strdup_printf ("{\"changes\":[" GOOD_SET "," GOOD_DELETE "],"
                                           "\"seals\":%s}", seals);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) changes = mh_codec_decode_batch (text, -1, NULL, &error);

  if (changes != NULL)
    g_error ("decoded “%.300s”", text);
  g_assert_error (error, MH_SYNC_ERROR, (int) code);
  if (strstr (error->message, fragment) == NULL)
    g_error ("“%.300s”: message “%s” lacks “%s”", text, error->message, fragment);
}

/* Every malformed seal is a clear error, and the batch is refused whole. */
static void
test_seal_malformed (void)
{
  g_autofree char *sig = b64_of (96, 1);
  g_autofree char *sig95 = b64_of (95, 1);
  g_autofree char *sig97 = b64_of (97, 1);
  g_autofree char *h1 = b64_of (32, 2);
  g_autofree char *h2 = b64_of (64, 2);
  g_autofree char *h31 = b64_of (31, 2);
  g_autofree char *other_h1 = b64_of (32, 3);
  g_autofree char *seal = NULL;
  g_autofree char *many = NULL;
  GString *list;
  struct
  {
    const char *members; /* @1 sig, @2 one hash, @3 two, @4/@5 sig of 95/97 bytes, @6 31 */
    MhSyncError code;
    const char *fragment;
  } cases[] = {
    { "\"f\":1,\"n\":1,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"o\" is missing" },
    { "\"o\":7,\"f\":1,\"n\":1,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"o\" must be a string" },
    { "\"o\":\"\",\"f\":1,\"n\":1,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"o\" must be a site id" },
    { "\"o\":\"site-a\",\"n\":1,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"f\" is missing" },
    { "\"o\":\"site-a\",\"f\":-1,\"n\":1,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"f\" must be between" },
    { "\"o\":\"site-a\",\"f\":\"1\",\"n\":1,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"f\" must be an integer" },
    { "\"o\":\"site-a\",\"f\":9223372036854775807,\"n\":2,\"sig\":\"@1\",\"h\":\"@3\"", MH_SYNC_ERROR_MALFORMED, "\"f\" must be between" },
    { "\"o\":\"site-a\",\"f\":1,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"n\" is missing" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":0,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"n\" must be between 1 and 256" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":257,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"n\" must be between 1 and 256" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1.5,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"n\" must be an integer" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"sig\" is missing" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":12,\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"sig\" must be a string" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"!!!!\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"sig\" is not valid base64" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"@4\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"sig\" is 95 bytes long, not 96" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"@5\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"sig\" is 97 bytes long, not 96" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"@1\"", MH_SYNC_ERROR_MALFORMED, "\"h\" is missing" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"@1\",\"h\":[]", MH_SYNC_ERROR_MALFORMED, "\"h\" must be a string" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"@1\",\"h\":\"a=b=\"", MH_SYNC_ERROR_MALFORMED, "\"h\" is not valid base64" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"@1\",\"h\":\"@3\"", MH_SYNC_ERROR_MALFORMED, "\"h\" is 64 bytes long, not 32" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":2,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"h\" is 32 bytes long, not 64" },
    { "\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"@1\",\"h\":\"@6\"", MH_SYNC_ERROR_MALFORMED, "\"h\" is 31 bytes long, not 32" },
    { "\"o\":\"site-a\",\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"@1\",\"h\":\"@2\"", MH_SYNC_ERROR_MALFORMED, "\"o\" appears twice" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *members = NULL;
      g_autofree char *seals = NULL;

      const char *fills[] = { sig, h1, h2, sig95, sig97, h31 };
      GString *filled = g_string_new (cases[i].members);

      for (guint f = 0; f < G_N_ELEMENTS (fills); f++)
        {
          char token[4] = { '@', (char) ('1' + f), 0 };

          g_string_replace (filled, token, fills[f], 0);
        }
      members = g_string_free (filled, FALSE);
      seals = g_strdup_printf ("[{%s}]", members);
      assert_seal_fails (seals, cases[i].code, cases[i].fragment);
      /* Named by its place in "seals". */
      g_clear_pointer (&seals, g_free);
      seals = g_strdup_printf ("[{\"o\":\"site-a\",\"f\":5,\"n\":1,\"sig\":\"%s\",\"h\":\"%s\"},{%s}]",
                               sig, h1, members);
      assert_seal_fails (seals, cases[i].code, "seal 1: ");
    }

  assert_seal_fails ("{}", MH_SYNC_ERROR_MALFORMED, "\"seals\" must be an array");
  assert_seal_fails ("[7]", MH_SYNC_ERROR_MALFORMED, "seal 0: not an object");
  seal = g_strdup_printf ("{\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"%s\",\"h\":\"%s\"}", sig, h1);
  {
    g_autofree char *text = g_strdup_printf ("{\"changes\":[" GOOD_SET "],\"seals\":[%s],"
                                             "\"seals\":[%s]}", seal, seal);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) changes = mh_codec_decode_batch (text, -1, NULL, &error);

    g_assert_null (changes);
    g_assert_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED);
    g_assert_nonnull (strstr (error->message, "\"seals\" appears twice"));
  }
  /* More seals than changes: each seal covers at least one. */
  list = g_string_new ("[");
  for (guint i = 0; i < 3; i++)
    g_string_append_printf (list, "%s{\"o\":\"site-a\",\"f\":%u,\"n\":1,\"sig\":\"%s\",\"h\":\"%s\"}",
                            i ? "," : "", i + 1, sig, h1);
  g_string_append_c (list, ']');
  many = g_string_free (list, FALSE);
  assert_seal_fails (many, MH_SYNC_ERROR_TOO_LARGE, "3 seals in a batch, more than 2");
  /* Two different seals for one (origin, first number). */
  {
    g_autofree char *two = g_strdup_printf (
      "[%s,{\"o\":\"site-a\",\"f\":1,\"n\":1,\"sig\":\"%s\",\"h\":\"%s\"}]", seal, sig, other_h1);
    g_autofree char *same = g_strdup_printf ("[%s,%s]", seal, seal);
    g_autofree char *text = g_strdup_printf ("{\"changes\":[" GOOD_SET "," GOOD_DELETE "],"
                                             "\"seals\":%s}", same);
    g_autoptr(GPtrArray) changes = NULL;
    g_autoptr(GError) error = NULL;

    assert_seal_fails (two, MH_SYNC_ERROR_MALFORMED, "two different seals of site site-a");
    /* The same seal twice is only redundant. */
    changes = mh_codec_decode_batch (text, -1, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (((MhChange *) g_ptr_array_index (changes, 0))->seal);
    g_assert_null (((MhChange *) g_ptr_array_index (changes, 1))->seal);
  }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/codec/limits/defaults", test_limits_defaults);

  g_test_add_func ("/codec/round-trip/integers", test_round_trip_integers);
  g_test_add_func ("/codec/round-trip/doubles", test_round_trip_doubles);
  g_test_add_func ("/codec/round-trip/random-doubles", test_round_trip_random_doubles);
  g_test_add_func ("/codec/round-trip/strings", test_round_trip_strings);
  g_test_add_func ("/codec/round-trip/mixed", test_round_trip_mixed);
  g_test_add_func ("/codec/round-trip/delete", test_round_trip_delete);
  g_test_add_func ("/codec/round-trip/signatures", test_round_trip_signatures);
  g_test_add_func ("/codec/round-trip/schema-version", test_round_trip_schema_version);
  g_test_add_func ("/codec/round-trip/batch", test_round_trip_batch);
  g_test_add_func ("/codec/round-trip/empty", test_round_trip_empty);
  g_test_add_func ("/codec/seal/round-trip", test_seal_round_trip);
  g_test_add_func ("/codec/seal/malformed", test_seal_malformed);

  g_test_add_func ("/codec/encode/node", test_encode_node);
  g_test_add_func ("/codec/encode/refused", test_encode_refused);

  g_test_add_func ("/codec/decode/lenient-where-allowed", test_decode_lenient_where_allowed);
  g_test_add_func ("/codec/decode/explicit-length", test_decode_explicit_length);
  g_test_add_func ("/codec/decode/limit-boundaries", test_decode_limits_boundaries);
  g_test_add_func ("/codec/decode/node-checks", test_decode_node_checks);
  g_test_add_func ("/codec/decode/good-members", test_good_members);
  g_test_add_func ("/codec/decode/accepted-edges", test_accepted_edges);
  g_test_add_func ("/codec/decode/truncated", test_decode_truncated);
  g_test_add_func ("/codec/decode/mutations", test_decode_mutations);
  g_test_add_func ("/codec/decode/random-documents", test_decode_random_documents);
  g_test_add_func ("/codec/decode/nul-byte", test_nul_byte);

  g_test_add_func ("/codec/too-large/body", test_too_large_body);
  g_test_add_func ("/codec/too-large/changes", test_too_many_changes);
  g_test_add_func ("/codec/too-large/depth", test_too_deep);
  g_test_add_func ("/codec/check-depth", test_check_depth);

  add_field_cases ();
  add_missing_cases ();
  add_value_cases ();
  add_range_cases ();
  add_signature_cases ();
  add_single_seal_cases ();
  add_limit_cases ();
  add_string_cases ();
  add_syntax_cases ();
  add_number_cases ();

  if (g_test_perf ())
    g_test_add_func ("/codec/perf", test_perf);

  return g_test_run ();
}

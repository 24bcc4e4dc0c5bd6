/* test-frames.c: incoming sync frames read without a link
 * (mh_replicator_check_frame(), the reader the fuzz-handshake target
 * drives), with the inputs the fuzzer found as regressions:
 * - {"type": true}: json-glib gives NULL, not the default, for a member
 *   that is not a string, and the frame reader compared NULL with
 *   g_str_equal(): a pinned peer could crash a node with one frame;
 * - a hello cursor that is not two integers made json-glib print a
 *   critical per cursor and read it as 0.
 */
#include <string.h>

#include "mh-replicator.h"
#include "mh-sync-error.h"

static void
expect (const char *text, const char *kind)
{
  g_autoptr(GError) error = NULL;
  const char *got = mh_replicator_check_frame (text, strlen (text), 3, &error);

  g_test_message ("%s -> %s%s%s", text, got ? got : "refused", error ? ": " : "",
                  error ? error->message : "");
  g_assert_cmpstr (got, ==, kind);
  if (kind == NULL)
    g_assert_nonnull (error);
  else
    g_assert_no_error (error);
}

static void
test_frames_good (void)
{
  expect ("{\"type\":\"hello\",\"proto\":1,\"schema\":1,\"site\":\"s\",\"name\":\"n\","
          "\"epoch\":1,\"wall\":2,\"agree\":0,\"cursors\":[[0,0],[1,5]]}", "hello");
  expect ("{\"type\":\"ack\",\"lane\":1,\"epoch\":4,\"seq\":9}", "ack");
  expect ("{\"type\":\"ping\",\"wall\":1}", "ping");
  expect ("{\"type\":\"changes\",\"lane\":0,\"epoch\":1,\"to\":0,\"changes\":[]}", "changes");
  expect ("{\"type\":\"whatever-comes-next\"}", "unknown");
}

/* Questions about gaps and rows, and their answers (docs/protocol.md,
 * "Gaps and withholding"). */
static void
test_frames_want_have (void)
{
  expect ("{\"type\":\"want\",\"gaps\":[[\"abc\",1,4],[\"d\",7,7]]}", "want");
  expect ("{\"type\":\"want\",\"rows\":[[\"beds\",\"r1\"]]}", "want");
  expect ("{\"type\":\"want\"}", NULL);
  expect ("{\"type\":\"want\",\"gaps\":[[\"abc\",0,4]]}", NULL);
  expect ("{\"type\":\"want\",\"gaps\":[[\"abc\",5,4]]}", NULL);
  expect ("{\"type\":\"want\",\"gaps\":[[\"abc\",1]]}", NULL);
  expect ("{\"type\":\"want\",\"gaps\":[[7,1,2]]}", NULL);
  expect ("{\"type\":\"want\",\"gaps\":{}}", NULL);
  expect ("{\"type\":\"want\",\"rows\":[[\"beds\"]]}", NULL);
  expect ("{\"type\":\"want\",\"rows\":[[\"beds\",1]]}", NULL);
  /* Asked again about suspicions (docs/protocol.md). */
  expect ("{\"type\":\"want\",\"again\":true,\"gaps\":[[\"abc\",3,3]]}", "want");
  expect ("{\"type\":\"want\",\"again\":1,\"gaps\":[[\"abc\",3,3]]}", NULL);
  expect ("{\"type\":\"have\",\"again\":true,\"answers\":[[\"abc\",3,3,[]]],\"changes\":[]}",
          "have");
  expect ("{\"type\":\"have\",\"again\":\"yes\",\"answers\":[],\"changes\":[]}", NULL);
  expect ("{\"type\":\"have\",\"answers\":[[\"abc\",1,4,[1,2,4,4]]],\"changes\":[]}",
          "have");
  expect ("{\"type\":\"have\",\"answers\":[],\"changes\":[]}", "have");
  expect ("{\"type\":\"have\",\"answers\":[[\"abc\",1,4,[1]]],\"changes\":[]}", NULL);
  expect ("{\"type\":\"have\",\"answers\":[[\"abc\",1,4,[1,\"2\"]]],\"changes\":[]}", NULL);
  expect ("{\"type\":\"have\",\"answers\":[[\"abc\",1,4]],\"changes\":[]}", NULL);
  expect ("{\"type\":\"have\",\"changes\":[]}", NULL);
  expect ("{\"type\":\"have\",\"answers\":[],\"changes\":[{}]}", NULL);
  expect ("{\"type\":\"have\",", NULL);
}

static void
test_frames_non_string_members (void)
{
  /* The fuzzer's crash, reduced. */
  expect ("{\"type\":true}", "unknown");
  expect ("{\"type\":null}", "unknown");
  expect ("{\"type\":[\"hello\"]}", "unknown");
  expect ("{\"type\":\"hello\",\"proto\":1,\"schema\":1,\"site\":7,\"wall\":2,\"cursors\":[]}",
          NULL);
  /* A name that is not a string is no name. */
  expect ("{\"type\":\"hello\",\"proto\":1,\"schema\":1,\"site\":\"s\",\"name\":{},\"wall\":2,"
          "\"cursors\":[]}", "hello");
}

static void
test_frames_bad_cursors (void)
{
  const char *const bad[] = { "[[{},0]]", "[[0,\"1\"]]", "[[0,1.5]]", "[[true,0]]", "[[0]]",
                              "[[0,1,2]]", "[7]", "[[0,0],[null,0]]" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *text = g_strdup_printf ("{\"type\":\"hello\",\"proto\":1,\"schema\":1,"
                                               "\"site\":\"s\",\"wall\":2,\"cursors\":%s}",
                                               bad[i]);
      expect (text, NULL);
    }
  /* Past the lanes this node has, cursors are not read. */
  expect ("{\"type\":\"hello\",\"proto\":1,\"schema\":1,\"site\":\"s\",\"wall\":2,"
          "\"cursors\":[[0,0],[0,0],[0,0],{}]}", "hello");
}

static void
test_frames_malformed (void)
{
  expect ("", NULL);
  expect ("[]", NULL);
  expect ("{\"type\":\"changes\",", NULL);
  expect ("{\"type\":\"changes\",\"lane\":9,\"epoch\":1,\"to\":0,\"changes\":[]}", NULL);
  expect ("{\"type\":\"changes\",\"lane\":0,\"epoch\":1,\"changes\":[]}", NULL);
  expect ("{\"type\":\"ack\",\"lane\":-1,\"epoch\":4,\"seq\":9}", NULL);
  expect ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
          NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* A critical from json-glib is a failure here. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
  g_test_add_func ("/frames/good", test_frames_good);
  g_test_add_func ("/frames/want-have", test_frames_want_have);
  g_test_add_func ("/frames/non-string-members", test_frames_non_string_members);
  g_test_add_func ("/frames/bad-cursors", test_frames_bad_cursors);
  g_test_add_func ("/frames/malformed", test_frames_malformed);
  return g_test_run ();
}

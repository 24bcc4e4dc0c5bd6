/* test-withhold.c: a relay that withholds changes, caught by the gaps it
 * leaves (docs/security.md, "Withholding")
 *
 * A hospital desk's bed count goes to a receiving hub through a relay that
 * drops every bed change it passes on (MEDHEAD_TEST_RELAY_WITHHOLD, test
 * only) and answers every question about gaps with nothing. The desk's
 * next change, a message, does cross: the receiver sees a hole in the
 * desk's sequence numbers, asks its peers, and gets no answer. Then an
 * honest relay joins: the bed count reaches the receiver through it, wins
 * there, and the receiver counts the first relay as withholding, in its
 * status and in `medhead-node status`. With an honest first relay the same
 * story ends with nothing counted.
 *
 * Real `medhead-node serve` processes on 127.0.0.1, as in test-network.c.
 */
#include "config.h"

#include <string.h>

#include "mh-test-net.h"
#include "mh-test-util.h"

#define FRED_BROOKS "a8eb353e-d702-588f-bdfc-3756c19a6269"
#define SCENARIO "data/demo/reference-scenario.json"
/* Gaps looked for every 200 ms, asked after 400 ms. */
#define GAP_MS "200"

static gint64
bed_available (Net *net)
{
  g_autoptr(JsonObject) hospital = net_get (net, "/api/v1/hospitals/" FRED_BROOKS);
  JsonObject *beds;

  if (hospital == NULL || !json_object_has_member (hospital, "beds"))
    return -1;
  beds = json_object_get_object_member (hospital, "beds");
  if (!json_object_has_member (beds, "adult_icu"))
    return -1;
  return json_object_get_int_member_with_default (json_object_get_object_member (beds,
                                                                                 "adult_icu"),
                                                  "available", -1);
}

static gint64
gap_int (Net *net, const char *member)
{
  g_autoptr(JsonObject) status = net_status (net);
  JsonObject *gaps;

  if (status == NULL || !json_object_has_member (status, "gaps"))
    return -1;
  gaps = json_object_get_object_member (status, "gaps");
  return json_object_get_int_member_with_default (gaps, member, -1);
}

static void
run_withhold (gboolean dishonest)
{
  g_autoptr(Net) relay = net_new ("hub", "First relay", NULL);
  g_autoptr(Net) desk = net_new ("hospital", "Fred Brooks desk", FRED_BROOKS);
  g_autoptr(Net) receiver = net_new ("hub", "Receiver", NULL);
  g_autoptr(Net) honest = net_new ("hub", "Honest relay", NULL);
  g_autoptr(JsonObject) answered = NULL;
  g_autofree char *message = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  const char *args[] = { "status", "--data-dir", NULL, NULL };
  Net *all[4];
  gint64 missing = 0;

  mh_test_node_import (relay->node, SCENARIO);
  relay->listen = TRUE;
  desk->listen = TRUE;
  receiver->listen = TRUE;
  if (dishonest)
    net_setenv (relay, "MEDHEAD_TEST_RELAY_WITHHOLD", "beds");
  net_setenv (receiver, "MEDHEAD_TEST_GAP_MS", GAP_MS);
  net_setenv (honest, "MEDHEAD_TEST_GAP_MS", GAP_MS);
  net_start (relay);
  net_start (desk);
  net_start (receiver);
  net_link (desk, relay);
  net_link (receiver, relay);
  wait_linked (desk, relay);
  wait_linked (receiver, relay);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (desk, "/api/v1/hospitals/" FRED_BROOKS),
              "the desk's own registry entry did not reach it");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has (receiver, "/api/v1/hospitals/" FRED_BROOKS),
              "the registry did not reach the receiver");

  /* The bed count, then a message: the relay drops the first. */
  answered = net_send (desk, "PUT", "/api/v1/hospitals/" FRED_BROOKS "/beds/adult_icu",
                       "{\"available\": 3, \"baseline\": 9}", 200);
  message = net_post_message (desk, "broadcast", "Fred Brooks: adult ICU nearly full");
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_has_message (receiver, message),
              "the desk's message did not reach the receiver");
  if (dishonest)
    {
      /* A hole the only peer cannot account for: asked, still open. */
      WAIT_UNTIL (CONVERGE_TIMEOUT_S, gap_int (receiver, "unexplained") >= 1,
                  "the receiver did not see the hole the relay left");
      g_usleep (1500 * 1000);
      g_assert_cmpint (gap_int (receiver, "unexplained"), >=, 1);
      g_assert_cmpint (bed_available (receiver), !=, 3);
      g_assert_cmpint (net_peer_int (receiver, relay, "withheld"), ==, 0);
      missing = gap_int (receiver, "missing_changes");
    }
  else
    WAIT_UNTIL (CONVERGE_TIMEOUT_S, bed_available (receiver) == 3,
                "the bed count did not cross the honest relay");

  /* Another path: an honest relay calls the desk and the receiver. */
  net_start (honest);
  net_link (honest, desk);
  net_link (honest, receiver);
  wait_linked (honest, desk);
  wait_linked (honest, receiver);
  WAIT_UNTIL (CONVERGE_TIMEOUT_S, bed_available (receiver) == 3,
              "the withheld bed count did not reach the receiver by the other path");
  if (dishonest)
    {
      WAIT_UNTIL (CONVERGE_TIMEOUT_S, net_peer_int (receiver, relay, "withheld") >= 1,
                  "the receiver did not count the relay as withholding");
      g_assert_cmpint (net_peer_int (receiver, honest, "withheld"), ==, 0);
      WAIT_UNTIL (CONVERGE_TIMEOUT_S, gap_int (receiver, "missing_changes") < missing,
                  "the hole stayed open after the change arrived");

      /* The command line says so too. */
      args[2] = receiver->node->dir;
      g_assert_cmpint (mh_test_cli_argv (args, &out, &err), ==, 0);
      g_assert_nonnull (strstr (err, "may be withholding"));
      g_assert_nonnull (strstr (err, relay->fingerprint));
    }
  else
    {
      all[0] = relay;
      all[1] = desk;
      all[2] = receiver;
      all[3] = honest;
      WAIT_UNTIL (CONVERGE_TIMEOUT_S, nets_converged (all, 4), "the nodes did not converge:%s",
                  describe_digests (all, 4));
      /* Give the gap scans a few rounds: nothing may be counted. */
      g_usleep (2 * G_USEC_PER_SEC);
      g_assert_cmpint (net_peer_int (receiver, relay, "withheld"), ==, 0);
      g_assert_cmpint (net_peer_int (receiver, honest, "withheld"), ==, 0);
    }

  net_terminate (honest);
  net_terminate (receiver);
  net_terminate (desk);
  net_terminate (relay);
}

static void
test_withholding_relay (void)
{
  run_withhold (TRUE);
}

static void
test_honest_relay (void)
{
  run_withhold (FALSE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/withhold/relay", test_withholding_relay);
  g_test_add_func ("/withhold/honest", test_honest_relay);
  return g_test_run ();
}

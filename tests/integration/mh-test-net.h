/* mh-test-net.h: a network of real nodes for the integration tests
 *
 * A Net is a test node (mh-test-node.h) with what a network test needs on
 * top: its site id and fingerprint, a sync port kept across restarts so
 * that its peers can keep calling it, extra environment for serve, and a
 * log file (serve.log next to its data folder). The harness knows every
 * Net alive: when a wait times out, fail_dump() prints each node's log
 * tail and status before the test fails.
 */
#pragma once

#include "mh-test-node.h"

G_BEGIN_DECLS

/* ASan builds start slowly: be patient before calling a node dead. */
#define START_TIMEOUT_S 60
/* Deadlines for what should take well under a second on loopback; they
 * only bound a test that would otherwise hang. */
#define LINK_TIMEOUT_S 90
#define CONVERGE_TIMEOUT_S 180

typedef struct
{
  MhTestNode *node; /* data folder, API URL and token, process */
  char *label;
  char *site_id;
  char *fingerprint;
  gboolean listen;
  /* Chosen by the first start and kept by the next ones: the peers that
   * call this node have its URL pinned, as they would a hub's address. */
  guint16 sync_port;
  char *sync_url;
  GPtrArray *env; /* NAME=VALUE for serve */
  char *log_path;
  guint starts;
} Net;

/* Prints every node's log tail and status, then fails the test. */
void fail_dump (const char *format, ...) G_GNUC_NORETURN G_GNUC_PRINTF (1, 2);

/* Polls instead of sleeping: most waits end within milliseconds. The
 * message arguments are only evaluated when the wait fails. */
#define WAIT_UNTIL(seconds, condition, ...)                                                       \
  G_STMT_START                                                                                    \
  {                                                                                               \
    gint64 wait_deadline_ = g_get_monotonic_time () + (gint64) (seconds) * G_USEC_PER_SEC;        \
    while (!(condition))                                                                          \
      {                                                                                           \
        if (g_get_monotonic_time () > wait_deadline_)                                             \
          fail_dump (__VA_ARGS__);                                                                \
        g_usleep (20 * 1000);                                                                     \
      }                                                                                           \
  }                                                                                               \
  G_STMT_END

/* Nodes: made by `medhead-node init` (role and for_id as in
 * mh_test_node_new()), not started. */
Net *net_new (const char *role, const char *label, const char *for_id);
void net_free (Net *net);
void net_setenv (Net *net, const char *name, const char *value);
void net_start (Net *net);
/* Sends the signal and waits; returns the exit status, or 128 + signal. */
int net_stop (Net *net, int signal_number);
void net_terminate (Net *net);
void net_kill (Net *net);
gboolean net_running (Net *net);

/* Requests. net_get: NULL unless the answer is 200 with an object;
 * net_send fails the test unless the status is expected. */
JsonObject *net_get (Net *net, const char *path);
gboolean net_has (Net *net, const char *path);
JsonArray *net_get_array (Net *net, const char *path);
JsonObject *net_send (Net *net, const char *method, const char *path, const char *body,
                      guint expected);
JsonObject *net_status (Net *net);
/* The entry of status's peers with that fingerprint, or NULL. */
JsonObject *status_peer (JsonObject *status, const char *fingerprint);
gint64 status_count (JsonObject *status, const char *name);
gboolean net_knows (Net *net, Net *peer);
gboolean net_connected (Net *net, Net *peer);
char *net_peer_error (Net *net, const char *fingerprint);
gboolean peer_has_error (Net *net, const char *fingerprint);
gint64 net_peer_int (Net *net, Net *peer, const char *member);
/* The digests, bucket by bucket in name order, as text to compare. */
char *net_digest (Net *net);
gboolean nets_converged (Net *const *list, guint n);
char *describe_digests (Net *const *list, guint n);
char *net_post_message (Net *net, const char *channel, const char *text);
char *message_path (const char *id);
gboolean net_has_message (Net *net, const char *id);

/* Peers: a running node takes a change at once, a stopped one through
 * `medhead-node peer`. With call, net calls peer at its sync URL;
 * without, it only accepts its calls. */
void net_pin (Net *net, Net *peer, gboolean call);
void net_unpin (Net *net, Net *peer);
/* Pins both ends, the listener first. */
void net_link (Net *caller, Net *listener);
void wait_linked (Net *a, Net *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Net, net_free)

/* The nine HAvBED bed categories, %NULL-terminated. */
#define NET_N_BED_CATEGORIES 9
extern const char *const net_bed_categories[];
JsonNode *net_large_registry (guint n_hospitals);

G_END_DECLS

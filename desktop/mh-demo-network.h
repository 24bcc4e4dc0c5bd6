/* mh-demo-network.h: a live demo network of real medhead-node processes
 *
 * In a fresh temporary folder: a hub holding the demo registry, three
 * hospital desks and two ambulance crews, each a `medhead-node serve`
 * process on 127.0.0.1 linked to the hub, plus `medhead-node simulate`
 * changing their beds, positions and chat. One more station, a hospital
 * desk, is set up for the app to open in-process (it is pinned with the
 * hub both ways, but nothing serves it until the app starts its sync).
 *
 * The children are spawned from the thread that calls start (the main
 * thread in the app) with PR_SET_PDEATHSIG on Linux, so they die with the
 * app even if it crashes; mh_demo_network_stop() ends them and deletes the
 * folder. It needs no display: tests drive it headless.
 */
#pragma once

#include <gio/gio.h>

#include "mh-node.h"

G_BEGIN_DECLS

#define MH_TYPE_DEMO_NETWORK (mh_demo_network_get_type ())
#define MH_DEMO_NETWORK_ERROR (mh_demo_network_error_quark ())

typedef enum
{
  MH_DEMO_NETWORK_ERROR_FAILED,    /* a step failed: the message has its output */
  MH_DEMO_NETWORK_ERROR_NO_PROGRAM, /* medhead-node was not found */
  MH_DEMO_NETWORK_ERROR_TIMEOUT,   /* a node did not start listening in time */
} MhDemoNetworkError;

GQuark mh_demo_network_error_quark (void);

G_DECLARE_FINAL_TYPE (MhDemoNetwork, mh_demo_network, MH, DEMO_NETWORK, GObject)

/* node_program: NULL finds medhead-node (mh_demo_find_node_program());
 * registry: NULL is the demo registry (mh_demo_registry_path()). */
MhDemoNetwork *mh_demo_network_new (const char *node_program, const char *registry);

/* Sets up every node, starts the hub, links and starts the others, then
 * the simulator. Finishes once every API answers; on failure or
 * cancellation whatever was started is stopped again. */
void mh_demo_network_start_async (MhDemoNetwork *self, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean mh_demo_network_start_finish (MhDemoNetwork *self, GAsyncResult *result,
                                       GError **error);

/* Opens the app's own station (a desk of the demo hospital
 * MH_DEMO_STATION_HOSPITAL) once the network has started. */
MhNode *mh_demo_network_open_station (MhDemoNetwork *self, GError **error);

/* ::node-exited (const char *name) tells when a child ends while the
 * network runs (a crash): the demo goes on without it. */

/* Terminates every child (SIGTERM, then SIGKILL after a few seconds),
 * waits for them and deletes the folder. Idempotent. */
void mh_demo_network_stop (MhDemoNetwork *self);

gboolean mh_demo_network_is_running (MhDemoNetwork *self);
const char *mh_demo_network_get_dir (MhDemoNetwork *self);
const char *mh_demo_network_get_station_dir (MhDemoNetwork *self);
/* The data folders of the served nodes, the hub first. */
const char *const *mh_demo_network_get_node_dirs (MhDemoNetwork *self);
/* The process ids of the running children (nodes and simulator). */
GArray *mh_demo_network_get_pids (MhDemoNetwork *self);

/* medhead-node: $MEDHEAD_NODE_BIN, else next to this program (installed)
 * or in the build tree (../node/), else the installed bindir. */
char *mh_demo_find_node_program (void);

/* Lariboisière: the hospital whose desk the app is in the demo. */
#define MH_DEMO_STATION_HOSPITAL "0b7327dd-9bbf-5237-ab5d-13cad5f9acb5"

G_END_DECLS

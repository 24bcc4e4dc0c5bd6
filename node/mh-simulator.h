/* mh-simulator.h: life for a demo network, through the nodes' REST APIs
 *
 * A simulator drives running `medhead-node serve` processes the way their
 * users would: hospital desks change their bed counts, crews report their
 * units' positions, and everyone posts chat messages. It learns each
 * node's URL and token from its data directory (api-url, api-token) and
 * its role from GET /api/v1/status (asked again each round until it
 * answers), so it writes only what that node may write. A node that does
 * not hold its own hospital or unit yet (the registry has not reached it)
 * is left alone until it does.
 *
 * Requests use the synchronous libsoup API: the servers are other
 * processes, so no main loop is needed.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MH_TYPE_SIMULATOR (mh_simulator_get_type ())

G_DECLARE_FINAL_TYPE (MhSimulator, mh_simulator, MH, SIMULATOR, GObject)

/* data_dirs: the running nodes to drive; channels: extra chat channels to
 * post to besides "broadcast" and the hospital nodes' own ("hospital:ID"). */
MhSimulator *mh_simulator_new (const char *const *data_dirs, const char *const *channels,
                               guint32 seed, GError **error);

/* One round: every crew moves, one desk changes a bed count, and now and
 * then someone posts a message. Returns the number of writes made; a node
 * that refuses or does not answer is reported in error, and the round goes
 * on with the others (error is set only if no write at all succeeded while
 * some were tried). */
guint mh_simulator_step (MhSimulator *self, GError **error);

/* How many writes of each kind were made so far. */
void mh_simulator_get_counts (MhSimulator *self, guint *beds, guint *moves, guint *messages);

G_END_DECLS

/* The peer link in one process: real stores, real identities, real TLS
 * WebSockets on 127.0.0.1. The same code runs between processes in the
 * integration tests. */
#include "config.h"

#include <libsoup/soup.h>

#include "mh-identity.h"
#include "mh-peers.h"
#include "mh-replicator.h"
#include "mh-sync.h"
#include "mh-test-util.h"

/* Generous: the waits end as soon as the condition holds, and under ASan on
 * a loaded machine each TLS handshake alone takes seconds. */
#define WAIT_MS 60000

typedef struct
{
  char *dir;
  MhIdentity *identity;
  MhStore *store;
  MhReplicator *replicator;
  guint16 port;
  char *url;
} Node;

static MhSchema *
test_schema (void)
{
  MhSchema *schema = mh_schema_new (1);
  guint registry = mh_schema_add_lane (schema, "registry", 4);
  guint beds = mh_schema_add_lane (schema, "beds", 3);
  guint positions = mh_schema_add_lane (schema, "positions", 1);

  g_assert_true (mh_schema_add_table (schema, "site", registry, MH_TABLE_NONE, NULL));
  mh_schema_add_register (schema, "site", "info", MH_REGISTER_NONE, "name", MH_COLUMN_TEXT, NULL);
  g_assert_true (mh_schema_add_table (schema, "beds", beds, MH_TABLE_NONE, NULL));
  mh_schema_add_register (schema, "beds", "reported", MH_REGISTER_HISTORY, "available",
                          MH_COLUMN_INTEGER, "baseline", MH_COLUMN_INTEGER, NULL);
  g_assert_true (mh_schema_add_table (schema, "position", positions, MH_TABLE_NONE, NULL));
  mh_schema_add_register (schema, "position", "at", MH_REGISTER_NONE, "lat", MH_COLUMN_REAL,
                          "lon", MH_COLUMN_REAL, NULL);
  return schema;
}

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static Node *
node_new (const char *base, const char *name, MhSchema *schema, gboolean listen)
{
  Node *node = g_new0 (Node, 1);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  node->dir = g_build_filename (base, name, NULL);
  g_mkdir_with_parents (node->dir, 0700);
  node->identity = mh_identity_load_or_create (node->dir, &error);
  g_assert_no_error (error);
  path = g_build_filename (node->dir, "replica.db", NULL);
  node->store = mh_store_open (path, schema, mh_identity_get_site_id (node->identity), &error);
  g_assert_no_error (error);
  sqlite3_exec (mh_store_get_db (node->store), "PRAGMA synchronous = OFF", NULL, NULL, NULL);
  node->replicator = mh_replicator_new (node->store,
                                        mh_identity_get_tls_certificate (node->identity),
                                        mh_identity_get_fingerprint (node->identity), name);
  mh_replicator_set_max_backoff (node->replicator, 300);
  if (listen)
    {
      g_assert_true (mh_replicator_listen (node->replicator, "127.0.0.1:0", &node->port, &error));
      g_assert_no_error (error);
      node->url = g_strdup_printf ("https://127.0.0.1:%u", node->port);
    }
  return node;
}

/* Lets closings in flight complete. Clients and servers share this main
 * loop: a server torn down while a client's handshake is half done would
 * wait for that client forever. */
static void
settle (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, timeout_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
node_free (Node *node)
{
  mh_replicator_stop (node->replicator);
  settle (200);
  g_clear_object (&node->replicator);
  g_clear_object (&node->store);
  g_clear_object (&node->identity);
  g_free (node->url);
  g_free (node->dir);
  g_free (node);
}

/* a knows b; with @dial, a calls b at its URL. */
static void
pin (Node *a, Node *b, gboolean dial)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_peers_add (a->store, mh_identity_get_fingerprint (b->identity),
                               dial ? b->url : NULL, &error));
  g_assert_no_error (error);
}

static gboolean
digests_equal (Node *a, Node *b)
{
  g_autoptr(GHashTable) da = mh_store_list_digests (a->store);
  g_autoptr(GHashTable) db = mh_store_list_digests (b->store);
  GHashTableIter iter;
  const char *bucket, *value;

  if (g_hash_table_size (da) != g_hash_table_size (db))
    return FALSE;
  g_hash_table_iter_init (&iter, da);
  while (g_hash_table_iter_next (&iter, (gpointer *) &bucket, (gpointer *) &value))
    if (g_strcmp0 (value, g_hash_table_lookup (db, bucket)) != 0)
      return FALSE;
  return TRUE;
}

typedef gboolean (*Predicate) (gpointer data);

/* Runs the main loop until @pred holds, for at most @ms. */
static gboolean
wait_for (Predicate pred, gpointer data, guint ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (ms, timeout_cb, &timed_out);

  while (!pred (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return pred (data);
}

typedef struct
{
  Node *a, *b, *c;
} Trio;

static gboolean
all_equal (gpointer data)
{
  Trio *t = data;
  return digests_equal (t->a, t->b) && (t->c == NULL || digests_equal (t->b, t->c));
}

static gint64
get_available (Node *node, const char *row)
{
  g_autoptr(GVariant) values = mh_store_get_row (node->store, "beds", row);
  gint64 v = -1;

  if (values)
    g_variant_lookup (values, "available", "x", &v);
  return v;
}

static void
put_beds (Node *node, const char *row, gint64 available)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mh_store_upsert (node->store, "beds", row,
                                  g_variant_new_parsed ("{'available': <%x>, 'baseline': <%x>}",
                                                        available, (gint64) 20),
                                  &error));
  g_assert_no_error (error);
}

typedef struct
{
  Node *node;
  const char *row;
  gint64 value;
} Expect;

static gboolean
has_value (gpointer data)
{
  Expect *e = data;
  return get_available (e->node, e->row) == e->value;
}

/* Whether every peer of @data's node has nothing waiting: its own changes,
 * which are never sent back to it, do not count. */
static gboolean
nothing_waiting (gpointer data)
{
  Node *node = data;
  g_autoptr(JsonArray) status = mh_replicator_get_peer_status (node->replicator);

  for (guint i = 0; i < json_array_get_length (status); i++)
    if (json_object_get_int_member (json_array_get_object_element (status, i), "changes_waiting")
        != 0)
      return FALSE;
  return TRUE;
}

/* hospital - hub - ambulance, where only the ambulance knows the hub's
 * address and the hub knows nobody's: changes still flow both ways. */
static void
test_replicator_line (void)
{
  g_autofree char *base = mh_test_make_tmpdir ("mh-repl");
  g_autoptr(MhSchema) schema = test_schema ();
  Node *hospital = node_new (base, "hospital", schema, TRUE);
  Node *hub = node_new (base, "hub", schema, TRUE);
  Node *ambulance = node_new (base, "ambulance", schema, FALSE);
  Trio trio = { hospital, hub, ambulance };
  Expect e;

  pin (hospital, hub, FALSE);
  pin (hub, hospital, TRUE);
  pin (hub, ambulance, FALSE);
  pin (ambulance, hub, TRUE);
  mh_replicator_start (hospital->replicator);
  mh_replicator_start (hub->replicator);
  mh_replicator_start (ambulance->replicator);

  put_beds (hospital, "h1/icu", 3);
  e = (Expect) { ambulance, "h1/icu", 3 };
  g_assert_true (wait_for (has_value, &e, WAIT_MS));

  /* From the ambulance, which nobody can call, to the hospital. */
  put_beds (ambulance, "h2/icu", 7);
  e = (Expect) { hospital, "h2/icu", 7 };
  g_assert_true (wait_for (has_value, &e, WAIT_MS));

  /* Live: a later update follows at once over the open links. */
  put_beds (hospital, "h1/icu", 2);
  e = (Expect) { ambulance, "h1/icu", 2 };
  g_assert_true (wait_for (has_value, &e, WAIT_MS));
  g_assert_true (wait_for (all_equal, &trio, WAIT_MS));

  /* Reals travel bit for bit, including those json-glib prints wrongly. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) row = NULL;
    double lat = 0;

    g_assert_true (mh_store_upsert (hospital->store, "position", "u1",
                                    g_variant_new_parsed ("{'lat': <1e22>, 'lon': <0.1>}"),
                                    &error));
    g_assert_no_error (error);
    g_assert_true (wait_for (all_equal, &trio, WAIT_MS));
    row = mh_store_get_row (ambulance->store, "position", "u1");
    g_assert_nonnull (row);
    g_assert_true (g_variant_lookup (row, "lat", "d", &lat));
    g_assert_cmpfloat (lat, ==, 1e22);
  }

  {
    g_autoptr(JsonArray) status = mh_replicator_get_peer_status (ambulance->replicator);
    JsonObject *peer = json_array_get_object_element (status, 0);
    g_assert_cmpuint (json_array_get_length (status), ==, 1);
    g_assert_true (json_object_get_boolean_member (peer, "connected"));
    g_assert_cmpstr (json_object_get_string_member (peer, "direction"), ==, "outgoing");
    g_assert_cmpint (json_object_get_int_member (peer, "bytes_sent"), >, 0);
    g_assert_cmpint (json_object_get_int_member (peer, "bytes_received"), >, 0);
  }
  /* The hub relays both ways: each end's own changes sit in its log and are
   * never sent back to their origin. */
  g_assert_true (wait_for (nothing_waiting, hub, WAIT_MS));
  g_assert_true (wait_for (nothing_waiting, hospital, WAIT_MS));

  node_free (ambulance);
  node_free (hub);
  node_free (hospital);
  mh_test_rm_rf (base);
}

typedef struct
{
  Node *node;
  guint n;
} Connected;

static gboolean
is_connected (gpointer data)
{
  Connected *c = data;
  return mh_replicator_get_n_connected (c->node->replicator) >= c->n;
}

/* A peer that is not pinned is refused before any data moves. */
static void
test_replicator_refuses_unknown (void)
{
  g_autofree char *base = mh_test_make_tmpdir ("mh-repl");
  g_autoptr(MhSchema) schema = test_schema ();
  Node *hub = node_new (base, "hub", schema, TRUE);
  Node *stranger = node_new (base, "stranger", schema, FALSE);
  Node *liar = node_new (base, "liar", schema, FALSE);
  Connected c = { stranger, 1 };

  /* The stranger knows the hub, the hub does not know the stranger. */
  pin (stranger, hub, TRUE);
  /* The liar pins the hub under someone else's fingerprint. */
  g_assert_true (mh_peers_add (liar->store, mh_identity_get_fingerprint (stranger->identity),
                               hub->url, NULL));
  pin (hub, liar, FALSE);
  mh_replicator_start (hub->replicator);
  mh_replicator_start (stranger->replicator);
  mh_replicator_start (liar->replicator);
  put_beds (stranger, "x/icu", 9);
  put_beds (hub, "y/icu", 4);

  g_assert_false (wait_for (is_connected, &c, 1500));
  c.node = liar;
  g_assert_false (wait_for (is_connected, &c, 500));
  g_assert_cmpint (get_available (hub, "x/icu"), ==, -1);
  g_assert_cmpint (get_available (stranger, "y/icu"), ==, -1);
  g_assert_cmpint (get_available (liar, "y/icu"), ==, -1);

  node_free (liar);
  node_free (stranger);
  node_free (hub);
  mh_test_rm_rf (base);
}

/* A mesh with a loop: every change arrives everywhere, and applying it
 * again through the other path adds nothing to the logs. */
static void
test_replicator_loop (void)
{
  g_autofree char *base = mh_test_make_tmpdir ("mh-repl");
  g_autoptr(MhSchema) schema = test_schema ();
  Node *a = node_new (base, "a", schema, TRUE);
  Node *b = node_new (base, "b", schema, TRUE);
  Node *c = node_new (base, "c", schema, TRUE);
  Trio trio = { a, b, c };
  gint64 seq_b, seq_c;

  pin (a, b, TRUE);
  pin (b, a, FALSE);
  pin (b, c, TRUE);
  pin (c, b, FALSE);
  pin (c, a, TRUE);
  pin (a, c, FALSE);
  mh_replicator_start (a->replicator);
  mh_replicator_start (b->replicator);
  mh_replicator_start (c->replicator);

  for (int i = 0; i < 50; i++)
    {
      g_autofree char *row = g_strdup_printf ("h%d/icu", i % 7);
      put_beds (i % 3 == 0 ? a : i % 3 == 1 ? b : c, row, i);
    }
  g_assert_true (wait_for (all_equal, &trio, WAIT_MS));
  seq_b = mh_store_get_last_seq (b->store);
  seq_c = mh_store_get_last_seq (c->store);
  /* Quiet now: nothing circulates. */
  settle (500);
  g_assert_cmpint (mh_store_get_last_seq (b->store), ==, seq_b);
  g_assert_cmpint (mh_store_get_last_seq (c->store), ==, seq_c);

  node_free (c);
  node_free (b);
  node_free (a);
  mh_test_rm_rf (base);
}

/* Need to know on the sending side, with a toy rule: a beds row
 * "private/..." may be held only by a site for which a row "grant/SITE"
 * is here (or travels in the same batch). Writing that grant brings the
 * private rows to the site at once, although its cursor passed them. */
static gboolean
has_grant (MhStore *store, const char *site_id, GPtrArray *context)
{
  g_autofree char *grant = g_strconcat ("grant/", site_id, NULL);

  if (mh_store_get_row_state (store, "beds", grant) == MH_ROW_LIVE)
    return TRUE;
  for (guint i = 0; context != NULL && i < context->len; i++)
    {
      MhChange *other = g_ptr_array_index (context, i);
      if (other != NULL && g_strcmp0 (other->row, grant) == 0)
        return TRUE;
    }
  return FALSE;
}

static MhAudience
private_audience (MhStore *store, const MhChange *change, const char *site_id,
                  GPtrArray *context, gpointer user_data)
{
  if (!g_str_has_prefix (change->row, "private/"))
    return MH_AUDIENCE_YES;
  return has_grant (store, site_id, context) ? MH_AUDIENCE_YES : MH_AUDIENCE_NO;
}

static GPtrArray *
private_growth (MhStore *store, const MhChange *change, const char *site_id, gpointer user_data)
{
  g_autofree char *grant = g_strconcat ("grant/", site_id, NULL);
  GPtrArray *rows;

  if (strcmp (change->row, grant) != 0)
    return NULL;
  rows = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (rows, g_strdup ("beds"));
  g_ptr_array_add (rows, g_strdup ("private/x"));
  return rows;
}

static void
test_replicator_audience (void)
{
  g_autofree char *base = mh_test_make_tmpdir ("mh-repl");
  g_autoptr(MhSchema) schema = test_schema ();
  Node *hub = node_new (base, "hub", schema, TRUE);
  Node *hospital = node_new (base, "hospital", schema, FALSE);
  g_autofree char *grant = g_strconcat ("grant/", mh_store_get_site_id (hospital->store), NULL);
  Expect e;

  mh_store_set_audience (hub->store, private_audience, private_growth, NULL, NULL);
  mh_store_set_audience (hospital->store, private_audience, private_growth, NULL, NULL);
  pin (hub, hospital, FALSE);
  pin (hospital, hub, TRUE);
  mh_replicator_start (hub->replicator);
  mh_replicator_start (hospital->replicator);

  put_beds (hub, "private/x", 5);
  put_beds (hub, "public/y", 1);
  e = (Expect) { hospital, "public/y", 1 };
  g_assert_true (wait_for (has_value, &e, WAIT_MS));
  put_beds (hub, "public/y", 2);
  e = (Expect) { hospital, "public/y", 2 };
  g_assert_true (wait_for (has_value, &e, WAIT_MS));
  g_assert_cmpint (mh_store_get_row_state (hospital->store, "beds", "private/x"), ==,
                   MH_ROW_ABSENT);

  /* The audience grows: the row comes as it stands, its cursor long past. */
  put_beds (hub, grant, 1);
  e = (Expect) { hospital, "private/x", 5 };
  g_assert_true (wait_for (has_value, &e, WAIT_MS));
  /* And from then on as any other change. */
  put_beds (hub, "private/x", 6);
  e = (Expect) { hospital, "private/x", 6 };
  g_assert_true (wait_for (has_value, &e, WAIT_MS));
  g_assert_cmpuint (mh_store_get_parked_count (hospital->store), ==, 0);
  g_assert_cmpuint (mh_store_get_rejected_count (hospital->store), ==, 0);

  node_free (hospital);
  node_free (hub);
  mh_test_rm_rf (base);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/replicator/line", test_replicator_line);
  g_test_add_func ("/replicator/refuses-unknown", test_replicator_refuses_unknown);
  g_test_add_func ("/replicator/loop", test_replicator_loop);
  g_test_add_func ("/replicator/audience", test_replicator_audience);
  return g_test_run ();
}

/* test-chat.c: the chat model, the chat view and the network page, in
 * process (two real nodes linked over TLS on 127.0.0.1 where it matters) */
#include "config.h"

#include "desktop-test-common.h"
#include "mh-chat-model.h"
#include "mh-chat-view.h"
#include "mh-network-view.h"
#include "mh-test-util.h"

typedef struct
{
  char *tmpdir;
  MhNode *a;
  MhNode *b;
} Fixture;

static gboolean have_display;

static gboolean
timeout_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until CONDITION holds, or fails after 20 s. */
#define WAIT_FOR(condition)                                                                     \
  G_STMT_START                                                                                  \
  {                                                                                             \
    gboolean timed_out_ = FALSE;                                                                \
    guint id_ = g_timeout_add_seconds (20, timeout_cb, &timed_out_);                            \
    while (!(condition) && !timed_out_)                                                         \
      g_main_context_iteration (NULL, TRUE);                                                    \
    if (!timed_out_)                                                                            \
      g_source_remove (id_);                                                                    \
    g_assert_true (condition);                                                                  \
  }                                                                                             \
  G_STMT_END

static MhNode *
open_node (const char *tmpdir, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_build_filename (tmpdir, name, NULL);
  MhNode *node;

  g_assert_true (mh_node_init_data_dir (dir, name, MH_ROLE_HUB, NULL, NULL, &error));
  g_assert_no_error (error);
  node = mh_node_open (dir, &error);
  g_assert_no_error (error);
  return node;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmpdir = mh_test_make_tmpdir ("desktop-chat");
  f->a = open_node (f->tmpdir, "a");
  f->b = open_node (f->tmpdir, "b");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->a);
  g_clear_object (&f->b);
  drain_main_loop ();
  mh_test_rm_rf (f->tmpdir);
  g_free (f->tmpdir);
}

/* Links a (listening) and b (calling a). */
static void
link_nodes (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL;
  guint16 port = 0;

  g_assert_true (mh_node_add_peer (f->a, mh_node_get_fingerprint (f->b), NULL, &error));
  g_assert_true (mh_node_start_sync (f->a, "127.0.0.1:0", &port, &error));
  g_assert_no_error (error);
  url = g_strdup_printf ("https://127.0.0.1:%u", port);
  g_assert_true (mh_node_add_peer (f->b, mh_node_get_fingerprint (f->a), url, &error));
  g_assert_true (mh_node_start_sync (f->b, NULL, NULL, &error));
  g_assert_no_error (error);
  mh_replicator_set_max_backoff (mh_node_get_replicator (f->b), 250);
}

static void
items_changed_cb (GListModel *model, guint position, guint removed, guint added, guint *log)
{
  log[0] = position;
  log[1] = removed;
  log[2] = added;
}

static void
test_model_paging (Fixture *f, gconstpointer data)
{
  g_autoptr (MhChatModel) model = NULL;
  const guint n = 3 * MH_CHAT_MODEL_PAGE_SIZE + 5;
  guint log[3] = { 0 };

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *body = g_strdup_printf ("message %u", i);
      g_autofree char *id = mh_node_post_message (f->a, "broadcast", body, NULL);
      g_assert_nonnull (id);
    }
  g_assert_null (mh_node_post_message (f->a, "no-such-channel", "x", NULL));
  {
    g_autofree char *elsewhere = mh_node_post_message (f->a, "hospital:h1", "elsewhere", NULL);

    g_assert_nonnull (elsewhere);
  }

  model = mh_chat_model_new (f->a, "broadcast");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, n);
  g_assert_cmpuint (mh_chat_model_get_n_page_reads (model), ==, 0);

  /* Random access reads only the page asked for. */
  {
    g_autoptr (MhChatMessage) last = g_list_model_get_item (G_LIST_MODEL (model), n - 1);
    g_autoptr (MhChatMessage) first = g_list_model_get_item (G_LIST_MODEL (model), 0);
    g_autoptr (MhChatMessage) again = g_list_model_get_item (G_LIST_MODEL (model), 1);
    g_autofree char *expected = g_strdup_printf ("message %u", n - 1);

    g_assert_cmpstr (mh_chat_message_get_body (last), ==, expected);
    g_assert_cmpstr (mh_chat_message_get_body (first), ==, "message 0");
    g_assert_cmpstr (mh_chat_message_get_body (again), ==, "message 1");
    g_assert_true (mh_chat_message_get_mine (first));
    /* No peer: every message written here is local-only. */
    g_assert_true (mh_chat_message_get_local_only (first));
    g_assert_cmpuint (mh_chat_model_get_n_page_reads (model), ==, 2);
    g_assert_null (g_list_model_get_item (G_LIST_MODEL (model), n));
  }
  g_assert_cmpuint (mh_chat_model_get_n_cached_pages (model), <=, MH_CHAT_MODEL_MAX_PAGES);

  /* Every position, from the end back (pages in the second half are
   * counted back from the last message), in arrival order. */
  for (guint i = n; i-- > 0;)
    {
      g_autoptr (MhChatMessage) item = g_list_model_get_item (G_LIST_MODEL (model), i);
      g_autofree char *expected = g_strdup_printf ("message %u", i);

      g_assert_cmpstr (mh_chat_message_get_body (item), ==, expected);
    }

  /* A new message is an append. */
  g_signal_connect (model, "items-changed", G_CALLBACK (items_changed_cb), log);
  g_free (mh_node_post_message (f->a, "broadcast", "one more", NULL));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, n + 1);
  g_assert_cmpuint (log[0], ==, n);
  g_assert_cmpuint (log[1], ==, 0);
  g_assert_cmpuint (log[2], ==, 1);
  {
    g_autoptr (MhChatMessage) added = g_list_model_get_item (G_LIST_MODEL (model), n);
    g_autoptr (MhChatMessage) before = g_list_model_get_item (G_LIST_MODEL (model), n - 1);
    g_autofree char *expected = g_strdup_printf ("message %u", n - 1);

    g_assert_cmpstr (mh_chat_message_get_body (added), ==, "one more");
    g_assert_cmpstr (mh_chat_message_get_body (before), ==, expected);
  }
  g_assert_cmpuint (mh_node_count_messages (f->a, "hospital:h1"), ==, 1);
}

typedef struct
{
  MhNode *node;
  guint first;
  guint n;
} Batch;

/* n messages in one transaction, as a bulk import brings them: broadcast,
 * with every third one in another channel; written through the store, not
 * posted, so none is local-only. */
static gboolean
insert_batch (MhStore *store, gpointer user_data, GError **error)
{
  Batch *batch = user_data;

  for (guint i = batch->first; i < batch->first + batch->n; i++)
    {
      const char *site_id = mh_node_get_site_id (batch->node);
      g_autofree char *id = g_strdup_printf ("%s/m%05u", site_id, i);
      g_autofree char *body = g_strdup_printf ("synced %u", i);
      GVariantBuilder values;

      g_variant_builder_init (&values, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&values, "{sv}", "channel",
                             g_variant_new_string (i % 3 == 2 ? "hospital:h1" : "broadcast"));
      g_variant_builder_add (&values, "{sv}", "author_site", g_variant_new_string (site_id));
      g_variant_builder_add (&values, "{sv}", "author_name", g_variant_new_string ("Other"));
      g_variant_builder_add (&values, "{sv}", "body", g_variant_new_string (body));
      g_variant_builder_add (&values, "{sv}", "sent", g_variant_new_int64 (mh_store_now (store)));
      if (!mh_store_insert (store, "message", id, g_variant_builder_end (&values), error))
        return FALSE;
    }
  return TRUE;
}

/* The model's item at @position is the node's at the same offset (an
 * ORDER BY ... LIMIT 1 OFFSET position of the channel), field by field. */
static void
assert_item_at (MhNode *node, MhChatModel *model, guint position)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonArray) expected = mh_node_list_messages_at (node, "broadcast", position, 1,
                                                             &error);
  g_autoptr (MhChatMessage) item = g_list_model_get_item (G_LIST_MODEL (model), position);
  JsonObject *want;

  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (expected), ==, 1);
  want = json_array_get_object_element (expected, 0);
  g_assert_nonnull (item);
  g_assert_cmpstr (mh_chat_message_get_id (item), ==, json_object_get_string_member (want, "id"));
  g_assert_cmpstr (mh_chat_message_get_body (item), ==,
                   json_object_get_string_member (want, "body"));
  g_assert_cmpint (mh_chat_message_get_local_only (item), ==,
                   json_object_get_boolean_member (want, "local_only"));
}

static void
assert_items_at_random (MhNode *node, MhChatModel *model, GRand *rand, guint n_probes)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (model));

  assert_item_at (node, model, 0);
  assert_item_at (node, model, n - 1);
  for (guint i = 0; i < n_probes; i++)
    assert_item_at (node, model, g_rand_int_range (rand, 0, n));
}

/* Moves the newest arrival to the middle of the history before the model
 * hears of it: the node stamps arrivals in order, so only a replica
 * written by something else looks like this. */
static void
move_newest_to_middle_cb (MhNode *node, gpointer user_data)
{
  sqlite3 *db = mh_store_get_db (mh_node_get_store (node));
  sqlite3_stmt *stmt = NULL;

  g_assert_cmpint (sqlite3_prepare_v2 (db,
                                       "UPDATE node_message_arrival SET arrived_at ="
                                       " (SELECT arrived_at FROM node_message_arrival"
                                       "  WHERE channel = 'broadcast'"
                                       "  ORDER BY arrived_at, id LIMIT 1 OFFSET 100)"
                                       " WHERE id = (SELECT id FROM node_message_arrival"
                                       "  ORDER BY arrived_at DESC, id DESC LIMIT 1)",
                                       -1, &stmt, NULL),
                   ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_finalize (stmt);
}

/* Pages far from the end are read by key from boundaries taken in one
 * pass: every position still holds what an OFFSET read gives, after an
 * append, and after a message lands in the middle. */
static void
test_model_keyset (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MhChatModel) model = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (6);
  Batch batch = { f->a, 0, 15 * MH_CHAT_MODEL_PAGE_SIZE + 10 };
  guint n, n_bounds;
  guint log[3] = { 0 };
  gulong mover;

  g_assert_true (mh_store_transact (mh_node_get_store (f->a), insert_batch, &batch, &error));
  g_assert_no_error (error);
  /* Some of this node's own, local-only, at the end. */
  for (guint i = 0; i < 3; i++)
    g_free (mh_node_post_message (f->a, "broadcast", "own", NULL));
  n = mh_node_count_messages (f->a, "broadcast");
  g_assert_cmpuint (n, ==, 10 * MH_CHAT_MODEL_PAGE_SIZE + 7 + 3);

  model = mh_chat_model_new (f->a, "broadcast");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, n);
  /* Opening at the end takes no boundaries. */
  {
    g_autoptr (MhChatMessage) last = g_list_model_get_item (G_LIST_MODEL (model), n - 1);

    g_assert_true (mh_chat_message_get_local_only (last));
    g_assert_cmpuint (mh_chat_model_get_n_bounds (model), ==, 0);
  }
  /* The start is an offset walk too; a jump to the middle takes them all,
   * once. */
  assert_item_at (f->a, model, 1);
  assert_item_at (f->a, model, MH_CHAT_MODEL_BACK_PAGES * MH_CHAT_MODEL_PAGE_SIZE - 1);
  g_assert_cmpuint (mh_chat_model_get_n_bounds (model), ==, 0);
  assert_item_at (f->a, model, n / 2);
  n_bounds = mh_chat_model_get_n_bounds (model);
  g_assert_cmpuint (n_bounds, ==, (n + MH_CHAT_MODEL_PAGE_SIZE - 1) / MH_CHAT_MODEL_PAGE_SIZE);
  assert_items_at_random (f->a, model, rand, 300);
  g_assert_cmpuint (mh_chat_model_get_n_bounds (model), ==, n_bounds);
  g_assert_cmpuint (mh_chat_model_get_n_cached_pages (model), <=, MH_CHAT_MODEL_MAX_PAGES);

  /* Appends: the list grows at its end, and boundaries follow. */
  g_signal_connect (model, "items-changed", G_CALLBACK (items_changed_cb), log);
  for (guint i = 0; i < MH_CHAT_MODEL_PAGE_SIZE + 2; i++)
    g_free (mh_node_post_message (f->a, "broadcast", "appended", NULL));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==,
                    n + MH_CHAT_MODEL_PAGE_SIZE + 2);
  g_assert_cmpuint (log[0], ==, n + MH_CHAT_MODEL_PAGE_SIZE + 1);
  g_assert_cmpuint (log[1], ==, 0);
  g_assert_cmpuint (log[2], ==, 1);
  n += MH_CHAT_MODEL_PAGE_SIZE + 2;
  assert_items_at_random (f->a, model, rand, 300);
  for (guint i = n - 2 * MH_CHAT_MODEL_PAGE_SIZE; i < n; i++)
    assert_item_at (f->a, model, i);
  /* More than the pages read back from the end, in one batch: the
   * boundaries are extended from the last one known. */
  batch.first = batch.n;
  batch.n = 3 * (MH_CHAT_MODEL_BACK_PAGES + 2) * MH_CHAT_MODEL_PAGE_SIZE / 2;
  g_assert_true (mh_store_transact (mh_node_get_store (f->a), insert_batch, &batch, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (log[0], ==, n);
  g_assert_cmpuint (log[2], ==, 2 * batch.n / 3);
  n += 2 * batch.n / 3;
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, n);
  for (guint i = n - (MH_CHAT_MODEL_BACK_PAGES + 3) * MH_CHAT_MODEL_PAGE_SIZE; i < n; i++)
    assert_item_at (f->a, model, i);
  g_assert_cmpuint (mh_chat_model_get_n_bounds (model), ==,
                    (n + MH_CHAT_MODEL_PAGE_SIZE - 1) / MH_CHAT_MODEL_PAGE_SIZE);
  assert_items_at_random (f->a, model, rand, 300);

  /* One in the middle: the model starts over, whole. The mover runs
   * before the model hears of the new message. */
  g_signal_handlers_disconnect_by_data (model, log);
  g_clear_object (&model);
  mover = g_signal_connect (f->a, "messages-changed", G_CALLBACK (move_newest_to_middle_cb), NULL);
  model = mh_chat_model_new (f->a, "broadcast");
  assert_items_at_random (f->a, model, rand, 50);
  g_signal_connect (model, "items-changed", G_CALLBACK (items_changed_cb), log);
  {
    g_autofree char *id = mh_node_post_message (f->a, "broadcast", "late", NULL);
    g_autoptr (MhChatMessage) moved = NULL;

    g_assert_nonnull (id);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, n + 1);
    g_assert_cmpuint (log[0], ==, 0);
    g_assert_cmpuint (log[1], ==, n);
    g_assert_cmpuint (log[2], ==, n + 1);
    n++;
    /* It sorts right after the message it took the arrival time of. */
    for (guint i = 99; i <= 102 && moved == NULL; i++)
      {
        g_autoptr (MhChatMessage) item = g_list_model_get_item (G_LIST_MODEL (model), i);

        if (g_str_equal (mh_chat_message_get_id (item), id))
          moved = g_steal_pointer (&item);
      }
    g_assert_nonnull (moved);
    g_assert_cmpstr (mh_chat_message_get_body (moved), ==, "late");
  }
  g_signal_handler_disconnect (f->a, mover);
  assert_items_at_random (f->a, model, rand, 300);
  for (guint i = 90; i < 120; i++)
    assert_item_at (f->a, model, i);

  /* Then an append again, on the rebuilt boundaries. */
  g_free (mh_node_post_message (f->a, "broadcast", "after", NULL));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, n + 1);
  g_assert_cmpuint (log[0], ==, n);
  g_assert_cmpuint (log[2], ==, 1);
  n++;
  assert_items_at_random (f->a, model, rand, 300);
  /* The other channel was never in the way. */
  g_assert_cmpuint (mh_node_count_messages (f->a, "hospital:h1"), ==,
                    (batch.first + batch.n) / 3);
}

/* The message rows of the history (a list view's rows are its children),
 * as (body label, shown in the scroller) pairs. */
static void
collect_rows (MhChatView *view, GPtrArray *bodies, GPtrArray *shown)
{
  GtkWidget *scroller = mh_chat_view_get_message_list (view);
  GtkWidget *list = gtk_scrolled_window_get_child (GTK_SCROLLED_WINDOW (scroller));
  graphene_rect_t port, bounds;

  g_assert_true (gtk_widget_compute_bounds (scroller, scroller, &port));
  for (GtkWidget *row = gtk_widget_get_first_child (list); row != NULL;
       row = gtk_widget_get_next_sibling (row))
    {
      GtkWidget *box = gtk_widget_get_first_child (row);
      GtkWidget *body;

      if (box == NULL || !gtk_widget_get_visible (row))
        continue;
      body = gtk_widget_get_last_child (box);
      g_assert_true (GTK_IS_LABEL (body));
      g_ptr_array_add (bodies, body);
      g_ptr_array_add (shown, GINT_TO_POINTER (gtk_widget_get_mapped (row)
                                                 && gtk_widget_compute_bounds (row, scroller, &bounds)
                                                 && graphene_rect_intersection (&port, &bounds,
                                                                                NULL)));
    }
}

typedef struct
{
  MhChatView *view;
  guint n_painted;
  guint n_shown;
  guint n_blank;
} JumpCheck;

/* Connected after GTK's own handler: what this frame painted. */
static void
jump_paint_cb (GdkFrameClock *clock, JumpCheck *check)
{
  g_autoptr (GPtrArray) bodies = g_ptr_array_new ();
  g_autoptr (GPtrArray) shown = g_ptr_array_new ();

  if (check->n_painted++ > 0)
    return;
  collect_rows (check->view, bodies, shown);
  g_assert_cmpuint (bodies->len, >, 100);
  for (guint i = 0; i < bodies->len; i++)
    {
      const char *text = gtk_label_get_text (g_ptr_array_index (bodies, i));

      if (GPOINTER_TO_INT (g_ptr_array_index (shown, i)))
        {
          g_assert_true (g_str_has_prefix (text, "synced "));
          check->n_shown++;
        }
      check->n_blank += *text == '\0';
    }
}

static gboolean
all_filled (GPtrArray *bodies)
{
  for (guint i = 0; i < bodies->len; i++)
    if (!g_str_has_prefix (gtk_label_get_text (g_ptr_array_index (bodies, i)), "synced "))
      return FALSE;
  return TRUE;
}

/* A jump far into a long history: the rows on screen show their message
 * in the frame that jumps, the others (GTK binds some 200) are filled
 * once the view is still. */
static void
test_view_jump (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Batch batch = { f->a, 0, 3000 };
  GtkWidget *window;
  MhChatView *view;
  GtkAdjustment *adjustment;
  g_autoptr (GPtrArray) bodies = g_ptr_array_new ();
  g_autoptr (GPtrArray) shown = g_ptr_array_new ();
  JumpCheck check = { 0 };
  GdkFrameClock *clock;
  gulong paint_id;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_true (mh_store_transact (mh_node_get_store (f->a), insert_batch, &batch, &error));
  g_assert_no_error (error);
  view = g_object_new (MH_TYPE_CHAT_VIEW, NULL);
  window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (window), 1024, 600);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (view));
  mh_chat_view_set_node (view, f->a);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (mh_chat_view_show_channel (view, "broadcast"));
  gtk_test_widget_wait_for_draw (window);
  /* The view goes to the end of the channel in a few steps: let it. */
  {
    gboolean waited = FALSE;

    g_timeout_add (500, timeout_cb, &waited);
    while (!waited)
      g_main_context_iteration (NULL, TRUE);
  }
  drain_main_loop ();

  adjustment = gtk_scrolled_window_get_vadjustment (
    GTK_SCROLLED_WINDOW (mh_chat_view_get_message_list (view)));
  check.view = view;
  clock = gtk_widget_get_frame_clock (window);
  paint_id = g_signal_connect (clock, "paint", G_CALLBACK (jump_paint_cb), &check);
  gtk_adjustment_set_value (adjustment, gtk_adjustment_get_upper (adjustment) / 2);
  gtk_test_widget_wait_for_draw (window);
  g_signal_handler_disconnect (clock, paint_id);
  g_assert_cmpuint (check.n_painted, >=, 1);
  g_assert_cmpuint (check.n_shown, >=, 5);
  g_assert_cmpuint (check.n_blank, >, 0);

  /* Still for a moment: every row filled. */
  WAIT_FOR ((g_ptr_array_set_size (bodies, 0), g_ptr_array_set_size (shown, 0),
             collect_rows (view, bodies, shown), all_filled (bodies)));

  gtk_window_destroy (GTK_WINDOW (window));
  drain_main_loop ();
}

static void
local_only_notify_cb (MhChatMessage *message, GParamSpec *pspec, guint *count)
{
  (*count)++;
}

/* Across a real link: unread counts on the receiving side, and the
 * local-only mark flipping on the sending side once the peer has it. */
static void
test_delivery_and_unread (Fixture *f, gconstpointer data)
{
  g_autoptr (MhChatModel) sent = NULL;
  g_autoptr (MhChatModel) received = NULL;
  g_autoptr (MhChatMessage) mine = NULL;
  guint flips = 0;

  g_free (mh_node_post_message (f->a, "broadcast", "typed before any link", NULL));
  sent = mh_chat_model_new (f->a, "broadcast");
  received = mh_chat_model_new (f->b, "broadcast");
  mine = g_list_model_get_item (G_LIST_MODEL (sent), 0);
  g_assert_true (mh_chat_message_get_local_only (mine));
  g_signal_connect (mine, "notify::local-only", G_CALLBACK (local_only_notify_cb), &flips);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (received)), ==, 0);

  link_nodes (f);
  WAIT_FOR (g_list_model_get_n_items (G_LIST_MODEL (received)) == 1);
  WAIT_FOR (!mh_chat_message_get_local_only (mine));
  g_assert_cmpuint (flips, ==, 1);
  {
    g_autoptr (MhChatMessage) theirs = g_list_model_get_item (G_LIST_MODEL (received), 0);
    g_assert_false (mh_chat_message_get_mine (theirs));
    g_assert_false (mh_chat_message_get_local_only (theirs));
    g_assert_cmpstr (mh_chat_message_get_body (theirs), ==, "typed before any link");
  }

  /* Unread on b: a's messages, not b's own. */
  g_assert_cmpuint (mh_node_count_unread (f->b, "broadcast"), ==, 1);
  g_free (mh_node_post_message (f->b, "broadcast", "b's own", NULL));
  g_assert_cmpuint (mh_node_count_unread (f->b, "broadcast"), ==, 1);
  g_assert_true (mh_node_mark_channel_read (f->b, "broadcast", NULL));
  g_assert_cmpuint (mh_node_count_unread (f->b, "broadcast"), ==, 0);
  g_free (mh_node_post_message (f->a, "broadcast", "later", NULL));
  g_free (mh_node_post_message (f->a, "hospital:h2", "to h2", NULL));
  WAIT_FOR (mh_node_count_unread (f->b, "broadcast") == 1);
  WAIT_FOR (mh_node_count_unread (f->b, "hospital:h2") == 1);
  {
    g_autoptr (JsonObject) unread = mh_node_list_unread (f->b);
    g_assert_cmpint (json_object_get_int_member_with_default (unread, "broadcast", 0), ==, 1);
    g_assert_cmpint (json_object_get_int_member_with_default (unread, "hospital:h2", 0), ==, 1);
  }
  /* Sent while linked: delivered, in place, on a's model. */
  WAIT_FOR (g_list_model_get_n_items (G_LIST_MODEL (sent)) == 3);
  {
    g_autoptr (MhChatMessage) later = g_list_model_get_item (G_LIST_MODEL (sent), 2);
    WAIT_FOR (!mh_chat_message_get_local_only (later));
  }
}

static void
test_view_unread (Fixture *f, gconstpointer data)
{
  GtkWidget *window;
  MhChatView *view;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  view = g_object_new (MH_TYPE_CHAT_VIEW, NULL);
  window = gtk_window_new ();
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (view));
  mh_chat_view_set_node (view, f->b);
  gtk_window_present (GTK_WINDOW (window));
  gtk_test_widget_wait_for_draw (window);
  g_assert_true (mh_chat_view_show_channel (view, "hospital:h9"));
  g_assert_false (mh_chat_view_show_channel (view, "nonsense"));
  g_assert_cmpstr (mh_chat_view_get_channel (view), ==, "hospital:h9");

  link_nodes (f);
  g_free (mh_node_post_message (f->a, "broadcast", "for everyone", NULL));
  WAIT_FOR (mh_chat_view_get_channel_unread (view, "broadcast") == 1);
  g_assert_cmpuint (mh_chat_view_get_unread (view), ==, 1);

  g_assert_true (mh_chat_view_show_channel (view, "broadcast"));
  g_assert_cmpuint (g_list_model_get_n_items (mh_chat_view_get_messages (view)), ==, 1);
  /* Sending goes through the node, into the open channel. */
  g_assert_true (mh_chat_view_send (view, "reply"));
  g_assert_cmpuint (mh_node_count_messages (f->b, "broadcast"), ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (mh_chat_view_get_messages (view)), ==, 2);

  /* A hospital registered after the list was built gets its channel at
   * once, and the open channel stays open. */
  {
    GListModel *channels = mh_chat_view_get_channels (view);
    guint before = g_list_model_get_n_items (channels);
    g_autoptr (JsonObject) fields = json_object_new ();
    g_autoptr (GError) error = NULL;
    g_autofree char *id = NULL;
    g_autofree char *channel = NULL;
    gboolean listed = FALSE;

    json_object_set_string_member (fields, "name", "Late General");
    json_object_set_double_member (fields, "lat", 48.85);
    json_object_set_double_member (fields, "lon", 2.35);
    id = mh_node_create_hospital (f->b, fields, &error);
    g_assert_no_error (error);
    channel = g_strdup_printf ("hospital:%s", id);
    /* ...and "hospital:h9", opened before but unknown to the replica and
     * no longer open, has gone. */
    g_assert_cmpuint (g_list_model_get_n_items (channels), ==, before);
    for (guint i = 0; i < before; i++)
      {
        g_autoptr (GObject) item = g_list_model_get_item (channels, i);
        g_autofree char *item_id = NULL;

        g_object_get (item, "id", &item_id, NULL);
        listed |= g_strcmp0 (item_id, channel) == 0;
        g_assert_cmpstr (item_id, !=, "hospital:h9");
      }
    g_assert_true (listed);
    g_assert_cmpstr (mh_chat_view_get_channel (view), ==, "broadcast");
  }
  gtk_window_destroy (GTK_WINDOW (window));
  drain_main_loop ();
}

static void
test_network_state (Fixture *f, gconstpointer data)
{
  GtkWidget *window;
  MhNetworkView *view;
  MhNetworkState state = { 0 };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  link_nodes (f);
  view = g_object_new (MH_TYPE_NETWORK_VIEW, NULL);
  window = gtk_window_new ();
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (view));
  mh_network_view_set_node (view, f->b);
  gtk_window_present (GTK_WINDOW (window));
  gtk_test_widget_wait_for_draw (window);

  /* Live: the link opens after the page was built. */
  mh_network_view_get_state (view, &state);
  g_assert_cmpuint (state.n_peers, ==, 1);
  mh_network_state_clear (&state);
  WAIT_FOR ((mh_network_view_get_state (view, &state), mh_network_state_clear (&state),
             mh_replicator_get_n_connected (mh_node_get_replicator (f->b)) == 1));
  drain_main_loop ();
  mh_network_view_get_state (view, &state);
  g_assert_cmpuint (state.n_connected, ==, 1);
  g_assert_cmpuint (state.rejected, ==, 0);
  g_assert_null (state.error);
  mh_network_state_clear (&state);

  /* Bad input: a message on the page, nothing added. */
  g_assert_false (mh_network_view_add_peer (view, "", "https://127.0.0.1:1"));
  mh_network_view_get_state (view, &state);
  g_assert_nonnull (state.error);
  mh_network_state_clear (&state);
  g_assert_false (mh_network_view_add_peer (view, "not a fingerprint!", NULL));
  g_assert_false (mh_network_view_add_peer (view, "AAAA-BBBB-CCCC-DDDD-EEEE", "ftp://x"));
  mh_network_view_get_state (view, &state);
  g_assert_nonnull (state.error);
  g_assert_cmpuint (state.n_peers, ==, 1);
  mh_network_state_clear (&state);

  /* A good one clears the message and shows up. */
  g_assert_true (mh_network_view_add_peer (view, mh_node_get_fingerprint (f->b) [0] == 'A'
                                                   ? "BBBB-BBBB-BBBB-BBBB-BBBB"
                                                   : "AAAA-AAAA-AAAA-AAAA-AAAA",
                                           NULL));
  mh_network_view_get_state (view, &state);
  g_assert_null (state.error);
  g_assert_cmpuint (state.n_peers, ==, 2);
  g_assert_cmpuint (state.n_connected, ==, 1);
  mh_network_state_clear (&state);

  gtk_window_destroy (GTK_WINDOW (window));
  drain_main_loop ();
}

static void
test_format_age (void)
{
  g_autofree char *never = mh_format_age (1000000, 0);
  g_autofree char *seconds = mh_format_age (100000, 95000);
  g_autofree char *minutes = mh_format_age (10 * 60000, 0 + 1);
  g_autofree char *hours = mh_format_age (3 * 3600000 + 5, 5);

  g_assert_cmpstr (never, ==, "never");
  g_assert_cmpstr (seconds, ==, "5 seconds ago");
  g_assert_cmpstr (minutes, ==, "9 minutes ago");
  g_assert_cmpstr (hours, ==, "3 hours ago");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  have_display = desktop_test_init_gtk ();

  g_test_add ("/desktop/chat/model-paging", Fixture, NULL, fixture_setup, test_model_paging,
              fixture_teardown);
  g_test_add ("/desktop/chat/model-keyset", Fixture, NULL, fixture_setup, test_model_keyset,
              fixture_teardown);
  g_test_add ("/desktop/chat/delivery-and-unread", Fixture, NULL, fixture_setup,
              test_delivery_and_unread, fixture_teardown);
  g_test_add ("/desktop/chat/view-unread", Fixture, NULL, fixture_setup, test_view_unread,
              fixture_teardown);
  g_test_add ("/desktop/chat/view-jump", Fixture, NULL, fixture_setup, test_view_jump,
              fixture_teardown);
  g_test_add ("/desktop/network/state", Fixture, NULL, fixture_setup, test_network_state,
              fixture_teardown);
  g_test_add_func ("/desktop/network/format-age", test_format_age);
  return g_test_run ();
}

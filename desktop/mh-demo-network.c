/* mh-demo-network.c: a live demo network of real medhead-node processes */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "mh-application.h"
#include "mh-demo-network.h"

/* A node that has not written its api-url by then is not coming. */
#define START_TIMEOUT_MS 30000
#define POLL_MS 50
/* How long stop waits for SIGTERM before SIGKILL. */
#define STOP_TIMEOUT_MS 5000
#define SIMULATE_INTERVAL_MS "1500"

typedef struct
{
  const char *key; /* folder name */
  const char *name;
  const char *role;
  const char *for_id; /* hospital or unit id */
} Member;

/* Real ids of data/demo/region-idf.json. The hub comes first, the app's
 * own station last. */
static const Member members[] = {
  { "hub", "SAMU de Paris (demo hub)", "hub", NULL },
  { "pitie", "Pitié-Salpêtrière desk", "hospital", "c05b6f66-3efe-57e1-9eb1-e7f8fd74cb49" },
  { "hegp", "Georges-Pompidou desk", "hospital", "d22d10c6-3c4c-5610-a650-7c1409d46d19" },
  { "bichat", "Bichat desk", "hospital", "6b16d4a6-c38f-5083-94ee-c021f982ad05" },
  { "necker", "SMUR Necker 1 crew", "ambulance", "f0e43881-d193-5adf-bdbf-4c60c5b6ac1c" },
  { "vsav", "VSAV Paris 12 crew", "ambulance", "b8733969-fe7b-59c3-8ef5-3ee559343df9" },
  { "station", "Lariboisière desk", "hospital", MH_DEMO_STATION_HOSPITAL },
};
#define N_MEMBERS G_N_ELEMENTS (members)
#define STATION (N_MEMBERS - 1)

typedef enum
{
  STAGE_HUB,
  STAGE_NODES,
} Stage;

struct _MhDemoNetwork
{
  GObject parent_instance;

  char *node_program;
  char *registry;
  char *dir;
  char *dirs[N_MEMBERS];
  char *fingerprints[N_MEMBERS];
  char *hub_sync_url;
  /* Served node folders, the hub first, NULL-terminated. */
  GPtrArray *node_dirs;
  GPtrArray *processes; /* of GSubprocess: serve and simulate */
  GCancellable *watch;  /* of the children's exits; cancelled by stop */
  gboolean running;
};

enum
{
  NODE_EXITED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MhDemoNetwork, mh_demo_network, G_TYPE_OBJECT)
G_DEFINE_QUARK (mh-demo-network-error-quark, mh_demo_network_error)

typedef struct
{
  Stage stage;
  gint64 deadline;
  guint poll_id;
} StartData;

static void
start_data_free (StartData *data)
{
  g_clear_handle_id (&data->poll_id, g_source_remove);
  g_free (data);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static void
die_with_parent (gpointer user_data)
{
#ifdef __linux__
  /* Sent when the spawning thread ends: children must be spawned from a
   * thread that lives as long as the app (the main thread). */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
#endif
}

static GSubprocessLauncher *
new_launcher (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  /* Straight to 127.0.0.1, with no proxy lookup. */
  g_subprocess_launcher_setenv (launcher, "GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  return launcher;
}

static char *
last_lines (const char *text, gsize max)
{
  gsize length = strlen (text);

  return g_strstrip (g_strdup (length > max ? text + length - max : text));
}

/* Runs medhead-node to completion (a worker thread may call it). */
static char *
run_cli (MhDemoNetwork *self, GCancellable *cancellable, GError **error, ...)
{
  g_autoptr (GSubprocessLauncher) launcher = new_launcher (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                          | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) process = NULL;
  g_autofree char *output = NULL;
  const char *arg;
  va_list args;

  g_ptr_array_add (argv, self->node_program);
  va_start (args, error);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  if (process == NULL)
    return NULL;
  if (!g_subprocess_communicate_utf8 (process, NULL, cancellable, &output, NULL, error))
    return NULL;
  if (!g_subprocess_get_successful (process))
    {
      g_autofree char *tail = last_lines (output ? output : "", 600);

      g_set_error (error, MH_DEMO_NETWORK_ERROR, MH_DEMO_NETWORK_ERROR_FAILED,
                   _("“medhead-node %s” failed: %s"), (const char *) argv->pdata[1], tail);
      return NULL;
    }
  return g_steal_pointer (&output);
}

static char *
parse_fingerprint (const char *output)
{
  g_auto (GStrv) lines = g_strsplit (output, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "fingerprint: "))
      return g_strstrip (g_strdup (lines[i] + strlen ("fingerprint: ")));
  return NULL;
}

static char *
read_trimmed (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL) || *g_strstrip (text) == '\0')
    return NULL;
  return g_steal_pointer (&text);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          remove_tree (child);
        else if (g_unlink (child) != 0)
          g_warning ("cannot remove %s: %s", child, g_strerror (errno));
      }
  if (g_rmdir (path) != 0 && errno != ENOENT)
    g_warning ("cannot remove %s: %s", path, g_strerror (errno));
}

static void
child_exited_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  MhDemoNetwork *self;

  /* Cancelled by stop (self may be gone since): nothing to say. */
  if (!g_subprocess_wait_finish (G_SUBPROCESS (object), result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = user_data;
  if (self->running)
    g_signal_emit (self, signals[NODE_EXITED], 0,
                   g_object_get_data (object, "mh-demo-name"));
}

/* Starts `medhead-node ARGS…` in the background, its output in LOG. */
static gboolean
spawn_child (MhDemoNetwork *self, const char *name, const char *log, GError **error,
             const char *const *args)
{
  g_autoptr (GSubprocessLauncher) launcher = new_launcher (G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  GSubprocess *process;

  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  g_ptr_array_add (argv, self->node_program);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  if (process == NULL)
    return FALSE;
  g_object_set_data_full (G_OBJECT (process), "mh-demo-name", g_strdup (name), g_free);
  g_subprocess_wait_async (process, self->watch, child_exited_cb, self);
  g_ptr_array_add (self->processes, process);
  return TRUE;
}

static gboolean
spawn_serve (MhDemoNetwork *self, guint member, GError **error)
{
  g_autofree char *log = g_build_filename (self->dirs[member], "serve.log", NULL);
  g_autofree char *api_url = g_build_filename (self->dirs[member], "api-url", NULL);
  const char *hub_args[] = { "serve", "--data-dir", self->dirs[member], "--api", "127.0.0.1:0",
                             "--listen", "127.0.0.1:0", NULL };
  const char *args[] = { "serve", "--data-dir", self->dirs[member], "--api", "127.0.0.1:0",
                         NULL };

  g_unlink (api_url);
  return spawn_child (self, members[member].name, log, error, member == 0 ? hub_args : args);
}

static gboolean
spawn_simulator (MhDemoNetwork *self, GError **error)
{
  g_autofree char *log = g_build_filename (self->dir, "simulate.log", NULL);
  g_autofree char *channel = g_strdup_printf ("hospital:%s", MH_DEMO_STATION_HOSPITAL);
  g_autoptr (GPtrArray) args = g_ptr_array_new ();

  g_ptr_array_add (args, (gpointer) "simulate");
  g_ptr_array_add (args, (gpointer) "--interval");
  g_ptr_array_add (args, (gpointer) SIMULATE_INTERVAL_MS);
  g_ptr_array_add (args, (gpointer) "--channel");
  g_ptr_array_add (args, channel);
  for (guint i = 0; i < self->node_dirs->len - 1; i++)
    {
      g_ptr_array_add (args, (gpointer) "--data-dir");
      g_ptr_array_add (args, g_ptr_array_index (self->node_dirs, i));
    }
  g_ptr_array_add (args, NULL);
  return spawn_child (self, "simulator", log, error, (const char *const *) args->pdata);
}

/* The tail of a node's log, to say why it did not start. */
static char *
describe_failure (MhDemoNetwork *self, guint member)
{
  g_autofree char *log = g_build_filename (self->dirs[member], "serve.log", NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (log, &text, NULL, NULL))
    return g_strdup ("");
  return last_lines (text, 400);
}

/* A folder left by an app that was killed (SIGKILL, a power cut) names
 * its owner in OWNER_FILE: once that process is gone, the folder goes. */
#define OWNER_FILE "app.pid"

static void
sweep_stale_folders (void)
{
  g_autoptr (GDir) tmp = g_dir_open (g_get_tmp_dir (), 0, NULL);
  const char *name;

  if (tmp == NULL)
    return;
  while ((name = g_dir_read_name (tmp)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *owner = NULL;
      gint64 pid;

      if (!g_str_has_prefix (name, "medhead-demo-"))
        continue;
      path = g_build_filename (g_get_tmp_dir (), name, NULL);
      owner = read_trimmed (path, OWNER_FILE);
      /* No owner file: not ours (node/run-demo makes such folders too). */
      if (owner == NULL)
        continue;
      pid = g_ascii_strtoll (owner, NULL, 10);
      if (pid > 1 && kill ((pid_t) pid, 0) != 0 && errno == ESRCH)
        remove_tree (path);
    }
}

/* ------------------------------------------------------------------------ */
/* Starting                                                                 */

static void start_stage (GTask *task);
static void stage_done_cb (GObject *object, GAsyncResult *result, gpointer user_data);

/* Every member's folder, identity and pins, except the stations' pins on
 * the hub's address, which is known only once it listens. */
static void
prepare_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  MhDemoNetwork *self = source;
  g_autoptr (GError) error = NULL;
  g_autofree char *owner_path = g_build_filename (self->dir, OWNER_FILE, NULL);
  g_autofree char *owner = g_strdup_printf ("%d\n", (int) getpid ());

  sweep_stale_folders ();
  if (!g_file_set_contents (owner_path, owner, -1, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  for (guint i = 0; i < N_MEMBERS; i++)
    {
      const Member *m = &members[i];
      g_autofree char *out = NULL;
      const char *for_flag = g_str_equal (m->role, "hospital")    ? "--hospital"
                             : g_str_equal (m->role, "ambulance") ? "--unit"
                                                                  : NULL;

      self->dirs[i] = g_build_filename (self->dir, m->key, NULL);
      /* For the hub, for_flag is NULL and ends the arguments early. */
      out = run_cli (self, cancellable, &error, "init", "--data-dir", self->dirs[i], "--name",
                     m->name, "--role", m->role, for_flag, m->for_id, NULL);
      g_clear_pointer (&out, g_free);
      if (error == NULL)
        out = run_cli (self, cancellable, &error, "id", "--data-dir", self->dirs[i], NULL);
      if (error != NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      self->fingerprints[i] = parse_fingerprint (out);
      if (self->fingerprints[i] == NULL)
        {
          g_task_return_new_error (task, MH_DEMO_NETWORK_ERROR, MH_DEMO_NETWORK_ERROR_FAILED,
                                   _("“medhead-node id” printed no fingerprint"));
          return;
        }
    }

  /* Only the hub holds the registry; the others learn their own hospital
   * or unit from it, as they would in a real region. */
  {
    g_autofree char *out = run_cli (self, cancellable, &error, "import", "--data-dir",
                                    self->dirs[0], self->registry, NULL);

    if (out == NULL)
      {
        g_task_return_error (task, g_steal_pointer (&error));
        return;
      }
  }
  /* The hub admits every station: they call it, it never calls them. */
  for (guint i = 1; i < N_MEMBERS; i++)
    {
      g_autofree char *out = run_cli (self, cancellable, &error, "peer", "add", "--data-dir",
                                      self->dirs[0], self->fingerprints[i], NULL);

      if (out == NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
    }
  g_task_return_boolean (task, TRUE);
}

static void
link_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  MhDemoNetwork *self = source;
  g_autoptr (GError) error = NULL;

  for (guint i = 1; i < N_MEMBERS; i++)
    {
      g_autofree char *out = run_cli (self, cancellable, &error, "peer", "add", "--data-dir",
                                      self->dirs[i], self->fingerprints[0], "--url",
                                      self->hub_sync_url, NULL);

      if (out == NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
    }
  g_task_return_boolean (task, TRUE);
}

static void
fail_start (GTask *task, GError *error)
{
  MhDemoNetwork *self = g_task_get_source_object (task);

  mh_demo_network_stop (self);
  g_task_return_error (task, error);
}

static gboolean
poll_started_cb (gpointer user_data)
{
  GTask *task = user_data;
  MhDemoNetwork *self = g_task_get_source_object (task);
  StartData *data = g_task_get_task_data (task);
  guint first = data->stage == STAGE_HUB ? 0 : 1;
  guint last = data->stage == STAGE_HUB ? 1 : STATION;
  GError *error = NULL;

  if (g_task_return_error_if_cancelled (task))
    {
      data->poll_id = 0;
      mh_demo_network_stop (self);
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }

  for (guint i = first; i < last; i++)
    {
      g_autofree char *url = read_trimmed (self->dirs[i], "api-url");
      GSubprocess *process = g_ptr_array_index (self->processes, i);

      if (url != NULL)
        continue;
      if (g_subprocess_get_identifier (process) == NULL
          || g_get_monotonic_time () > data->deadline)
        {
          g_autofree char *why = describe_failure (self, i);

          error = g_error_new (MH_DEMO_NETWORK_ERROR,
                               g_subprocess_get_identifier (process) == NULL
                                 ? MH_DEMO_NETWORK_ERROR_FAILED
                                 : MH_DEMO_NETWORK_ERROR_TIMEOUT,
                               _("The demo node “%s” did not start: %s"), members[i].name, why);
          data->poll_id = 0;
          fail_start (task, error);
          g_object_unref (task);
          return G_SOURCE_REMOVE;
        }
      return G_SOURCE_CONTINUE;
    }

  data->poll_id = 0;
  if (data->stage == STAGE_HUB)
    {
      /* serve writes sync-url before api-url. */
      self->hub_sync_url = read_trimmed (self->dirs[0], "sync-url");
      if (self->hub_sync_url == NULL)
        {
          fail_start (task, g_error_new (MH_DEMO_NETWORK_ERROR, MH_DEMO_NETWORK_ERROR_FAILED,
                                         _("The demo hub wrote no peer address")));
          g_object_unref (task);
          return G_SOURCE_REMOVE;
        }
      data->stage = STAGE_NODES;
      {
        /* Pinning the hub's address takes a few short processes: off the
         * main loop, then on to starting the stations. stage_done_cb
         * takes over the reference to task. */
        g_autoptr (GTask) link = g_task_new (self, g_task_get_cancellable (task), stage_done_cb,
                                            task);

        g_task_run_in_thread (link, link_thread);
      }
      return G_SOURCE_REMOVE;
    }

  /* Everything answers: bring the network to life. */
  if (!spawn_simulator (self, &error))
    {
      fail_start (task, error);
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }
  self->running = TRUE;
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static void
start_stage (GTask *task)
{
  MhDemoNetwork *self = g_task_get_source_object (task);
  StartData *data = g_task_get_task_data (task);
  GError *error = NULL;

  if (data->stage == STAGE_HUB)
    {
      if (!spawn_serve (self, 0, &error))
        {
          fail_start (task, error);
          g_object_unref (task);
          return;
        }
    }
  else
    {
      for (guint i = 1; i < STATION; i++)
        if (!spawn_serve (self, i, &error))
          {
            fail_start (task, error);
            g_object_unref (task);
            return;
          }
    }
  data->deadline = g_get_monotonic_time () + START_TIMEOUT_MS * 1000;
  data->poll_id = g_timeout_add (POLL_MS, poll_started_cb, task); /* owns task */
}

/* A step run in a thread (preparing the folders, pinning the hub's
 * address) is done: on to the next stage, which takes over the reference
 * to task. */
static void
stage_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      fail_start (task, error);
      g_object_unref (task);
      return;
    }
  start_stage (task);
}

/* ------------------------------------------------------------------------ */
/* GObject                                                                  */

static void
mh_demo_network_dispose (GObject *object)
{
  mh_demo_network_stop (MH_DEMO_NETWORK (object));
  G_OBJECT_CLASS (mh_demo_network_parent_class)->dispose (object);
}

static void
mh_demo_network_finalize (GObject *object)
{
  MhDemoNetwork *self = MH_DEMO_NETWORK (object);

  for (guint i = 0; i < N_MEMBERS; i++)
    {
      g_free (self->dirs[i]);
      g_free (self->fingerprints[i]);
    }
  g_free (self->node_program);
  g_free (self->registry);
  g_free (self->dir);
  g_free (self->hub_sync_url);
  g_ptr_array_unref (self->node_dirs);
  g_ptr_array_unref (self->processes);
  g_object_unref (self->watch);
  G_OBJECT_CLASS (mh_demo_network_parent_class)->finalize (object);
}

static void
mh_demo_network_class_init (MhDemoNetworkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mh_demo_network_dispose;
  object_class->finalize = mh_demo_network_finalize;

  /**
   * MhDemoNetwork::node-exited:
   * @name: the node's name, or "simulator"
   *
   * A child ended while the network was running (not by stop).
   */
  signals[NODE_EXITED] = g_signal_new ("node-exited", G_TYPE_FROM_CLASS (klass),
                                       G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                       G_TYPE_STRING);
}

static void
mh_demo_network_init (MhDemoNetwork *self)
{
  self->node_dirs = g_ptr_array_new_with_free_func (g_free);
  self->processes = g_ptr_array_new_with_free_func (g_object_unref);
  self->watch = g_cancellable_new ();
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

char *
mh_demo_find_node_program (void)
{
  const char *env = g_getenv ("MEDHEAD_NODE_BIN");
  g_autofree char *self_path = g_file_read_link ("/proc/self/exe", NULL);

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  if (self_path != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (self_path);
      const char *const candidates[] = { "medhead-node", "../node/medhead-node" };

      for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
        {
          g_autofree char *path = g_build_filename (dir, candidates[i], NULL);

          if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
            return g_canonicalize_filename (path, NULL);
        }
    }
  return g_build_filename (BINDIR, "medhead-node", NULL);
}

MhDemoNetwork *
mh_demo_network_new (const char *node_program, const char *registry)
{
  MhDemoNetwork *self = g_object_new (MH_TYPE_DEMO_NETWORK, NULL);

  self->node_program = node_program ? g_strdup (node_program) : mh_demo_find_node_program ();
  self->registry = registry ? g_strdup (registry) : mh_demo_registry_path ();
  return self;
}

void
mh_demo_network_start_async (MhDemoNetwork *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) prepare = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (MH_IS_DEMO_NETWORK (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mh_demo_network_start_async);
  g_task_set_task_data (task, g_new0 (StartData, 1), (GDestroyNotify) start_data_free);

  if (self->dir != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_BUSY,
                               _("The demo network is started already"));
      return;
    }
  if (!g_file_test (self->node_program, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_task_return_new_error (task, MH_DEMO_NETWORK_ERROR, MH_DEMO_NETWORK_ERROR_NO_PROGRAM,
                               _("Cannot find the node program %s (set MEDHEAD_NODE_BIN)"),
                               self->node_program);
      return;
    }
  self->dir = g_dir_make_tmp ("medhead-demo-XXXXXX", &error);
  if (self->dir == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  for (guint i = 0; i < STATION; i++)
    g_ptr_array_add (self->node_dirs, g_build_filename (self->dir, members[i].key, NULL));
  g_ptr_array_add (self->node_dirs, NULL);

  prepare = g_task_new (self, cancellable, stage_done_cb, g_object_ref (task));
  g_task_run_in_thread (prepare, prepare_thread);
}

gboolean
mh_demo_network_start_finish (MhDemoNetwork *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mh_demo_network_start_async,
                        FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

MhNode *
mh_demo_network_open_station (MhDemoNetwork *self, GError **error)
{
  g_return_val_if_fail (MH_IS_DEMO_NETWORK (self), NULL);

  if (!self->running)
    {
      g_set_error (error, MH_DEMO_NETWORK_ERROR, MH_DEMO_NETWORK_ERROR_FAILED,
                   _("The demo network is not running"));
      return NULL;
    }
  return mh_node_open_full (self->dirs[STATION], MH_NODE_OPEN_EMBEDDED, error);
}

void
mh_demo_network_stop (MhDemoNetwork *self)
{
  gint64 deadline;
  gboolean alive;

  g_return_if_fail (MH_IS_DEMO_NETWORK (self));

  self->running = FALSE;
  g_cancellable_cancel (self->watch);
  for (guint i = 0; i < self->processes->len; i++)
    g_subprocess_send_signal (g_ptr_array_index (self->processes, i), SIGTERM);

  /* GLib reaps children on its worker thread: a process is gone once its
   * identifier is. */
  deadline = g_get_monotonic_time () + STOP_TIMEOUT_MS * 1000;
  do
    {
      alive = FALSE;
      for (guint i = 0; i < self->processes->len; i++)
        alive |= g_subprocess_get_identifier (g_ptr_array_index (self->processes, i)) != NULL;
      if (alive)
        g_usleep (10 * 1000);
    }
  while (alive && g_get_monotonic_time () < deadline);

  for (guint i = 0; i < self->processes->len; i++)
    {
      GSubprocess *process = g_ptr_array_index (self->processes, i);

      if (g_subprocess_get_identifier (process) != NULL)
        {
          g_warning ("demo node %s did not stop; killing it",
                     g_subprocess_get_identifier (process));
          g_subprocess_force_exit (process);
          g_subprocess_wait (process, NULL, NULL);
        }
    }
  g_ptr_array_set_size (self->processes, 0);

  if (self->dir != NULL && g_getenv ("MEDHEAD_KEEP_DEMO") == NULL)
    remove_tree (self->dir);
}

gboolean
mh_demo_network_is_running (MhDemoNetwork *self)
{
  g_return_val_if_fail (MH_IS_DEMO_NETWORK (self), FALSE);
  return self->running;
}

const char *
mh_demo_network_get_dir (MhDemoNetwork *self)
{
  g_return_val_if_fail (MH_IS_DEMO_NETWORK (self), NULL);
  return self->dir;
}

const char *
mh_demo_network_get_station_dir (MhDemoNetwork *self)
{
  g_return_val_if_fail (MH_IS_DEMO_NETWORK (self), NULL);
  return self->dirs[STATION];
}

const char *const *
mh_demo_network_get_node_dirs (MhDemoNetwork *self)
{
  g_return_val_if_fail (MH_IS_DEMO_NETWORK (self), NULL);
  return self->node_dirs->len > 0 ? (const char *const *) self->node_dirs->pdata : NULL;
}

GArray *
mh_demo_network_get_pids (MhDemoNetwork *self)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (GPid));

  g_return_val_if_fail (MH_IS_DEMO_NETWORK (self), pids);

  for (guint i = 0; i < self->processes->len; i++)
    {
      const char *id = g_subprocess_get_identifier (g_ptr_array_index (self->processes, i));

      if (id != NULL)
        {
          GPid pid = (GPid) g_ascii_strtoll (id, NULL, 10);

          g_array_append_val (pids, pid);
        }
    }
  return pids;
}

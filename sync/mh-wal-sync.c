/* mh-wal-sync.c: the WAL made durable behind the writer
 *
 * Copyright 2026 MedHead Emergency contributors
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * With synchronous=NORMAL a commit is in the WAL file, in the kernel's
 * page cache, when COMMIT returns: visible to readers and safe from a
 * crash of the process, not from a power cut. A thread here calls
 * fdatasync() on the WAL file behind the writer; each commit takes a
 * ticket, and whoever promises durability (a REST reply) waits for its
 * ticket. Several commits made during one sync share the next one.
 *
 * A failed sync is sticky: the disk dropped data it had accepted, so no
 * later wait can be trusted either (every waiter gets the error).
 */
#include "config.h"

#include "mh-wal-sync.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>

#include "mh-sync-error.h"

struct _MhWalSync
{
  gint ref_count;
  GMutex lock;
  GCond cond;
  guint64 requested; /* the last ticket given */
  guint64 done;      /* every ticket up to this one is on the disk */
  int failed;        /* errno of a failed sync, 0 none: sticky */
  gboolean quit;
  gboolean dispatch_queued;
  char *path;
  int fd;
  GThread *thread;
  GMainContext *context;
  GQueue waiters; /* GTask*, tickets in order; touched in @context only */
};

static MhWalSync *
wal_sync_ref (MhWalSync *sync)
{
  g_atomic_int_inc (&sync->ref_count);
  return sync;
}

static void
wal_sync_unref (MhWalSync *sync)
{
  if (!g_atomic_int_dec_and_test (&sync->ref_count))
    return;
  g_assert (g_queue_is_empty (&sync->waiters));
  if (sync->fd >= 0)
    close (sync->fd);
  g_mutex_clear (&sync->lock);
  g_cond_clear (&sync->cond);
  g_main_context_unref (sync->context);
  g_free (sync->path);
  g_free (sync);
}

/* One fdatasync() of the WAL file; 0 or an errno. The file is opened
 * again if it was replaced; one that does not exist holds nothing. */
static int
sync_once (MhWalSync *sync)
{
  struct stat held, named;

  if (sync->fd >= 0
      && (fstat (sync->fd, &held) != 0 || stat (sync->path, &named) != 0
          || held.st_ino != named.st_ino || held.st_dev != named.st_dev))
    {
      close (sync->fd);
      sync->fd = -1;
    }
  if (sync->fd < 0)
    {
      sync->fd = open (sync->path, O_RDONLY | O_CLOEXEC);
      if (sync->fd < 0)
        return errno == ENOENT ? 0 : errno;
    }
  if (fdatasync (sync->fd) != 0)
    return errno;
  return 0;
}

static gboolean
dispatch_waiters (gpointer data)
{
  MhWalSync *sync = data;
  guint64 done;
  int failed;

  g_mutex_lock (&sync->lock);
  sync->dispatch_queued = FALSE;
  done = sync->done;
  failed = sync->failed;
  g_mutex_unlock (&sync->lock);

  for (GList *l = sync->waiters.head, *next; l != NULL; l = next)
    {
      GTask *task = l->data;
      guint64 ticket = *(guint64 *) g_task_get_task_data (task);

      next = l->next;
      if (ticket > done && failed == 0)
        continue;
      g_queue_delete_link (&sync->waiters, l);
      if (failed != 0)
        g_task_return_new_error (task, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED,
                                 _("could not write to the disk: %s"), g_strerror (failed));
      else
        g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
  return G_SOURCE_REMOVE;
}

/* Tells the waiters from an idle of their context (never directly: this
 * may run with the lock held, or inside the caller). Lock held. */
static void
queue_dispatch (MhWalSync *sync)
{
  g_autoptr(GSource) source = NULL;

  if (sync->dispatch_queued)
    return;
  sync->dispatch_queued = TRUE;
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, dispatch_waiters, wal_sync_ref (sync),
                         (GDestroyNotify) wal_sync_unref);
  g_source_set_static_name (source, "mh-wal-sync");
  g_source_attach (source, sync->context);
}

static gpointer
wal_sync_run (gpointer data)
{
  MhWalSync *sync = data;

  g_mutex_lock (&sync->lock);
  for (;;)
    {
      guint64 target;
      int failed;

      while (sync->done >= sync->requested && !sync->quit)
        g_cond_wait (&sync->cond, &sync->lock);
      if (sync->done >= sync->requested)
        break;
      target = sync->requested;
      g_mutex_unlock (&sync->lock);

      failed = sync_once (sync);
      if (failed != 0)
        g_warning ("syncing %s: %s", sync->path, g_strerror (failed));

      g_mutex_lock (&sync->lock);
      sync->done = target;
      if (failed != 0 && sync->failed == 0)
        sync->failed = failed;
      g_cond_broadcast (&sync->cond);
      queue_dispatch (sync);
    }
  g_mutex_unlock (&sync->lock);
  return NULL;
}

/**
 * mh_wal_sync_new:
 * @wal_path: the WAL file of a database in WAL mode
 *
 * Starts the thread. Waiters are told in the thread-default main context
 * of the caller.
 */
MhWalSync *
mh_wal_sync_new (const char *wal_path)
{
  MhWalSync *sync = g_new0 (MhWalSync, 1);

  sync->ref_count = 1;
  g_mutex_init (&sync->lock);
  g_cond_init (&sync->cond);
  sync->path = g_strdup (wal_path);
  sync->fd = -1;
  sync->context = g_main_context_ref_thread_default ();
  g_queue_init (&sync->waiters);
  sync->thread = g_thread_new ("mh-wal-sync", wal_sync_run, sync);
  return sync;
}

/* Syncs what is left, stops the thread. Waiters still queued hold the
 * source object of their task, so none is left when the store goes. */
void
mh_wal_sync_free (MhWalSync *sync)
{
  g_mutex_lock (&sync->lock);
  sync->quit = TRUE;
  g_cond_signal (&sync->cond);
  g_mutex_unlock (&sync->lock);
  g_thread_join (sync->thread);
  wal_sync_unref (sync);
}

/* After a commit: its ticket. */
guint64
mh_wal_sync_request (MhWalSync *sync)
{
  guint64 ticket;

  g_mutex_lock (&sync->lock);
  ticket = ++sync->requested;
  g_cond_signal (&sync->cond);
  g_mutex_unlock (&sync->lock);
  return ticket;
}

gboolean
mh_wal_sync_is_done (MhWalSync *sync, guint64 ticket)
{
  gboolean done;

  g_mutex_lock (&sync->lock);
  done = sync->done >= ticket && sync->failed == 0;
  g_mutex_unlock (&sync->lock);
  return done;
}

/* Blocks until @ticket is on the disk. */
gboolean
mh_wal_sync_wait (MhWalSync *sync, guint64 ticket, GError **error)
{
  int failed;

  g_mutex_lock (&sync->lock);
  while (sync->done < ticket && sync->failed == 0)
    g_cond_wait (&sync->cond, &sync->lock);
  failed = sync->failed;
  g_mutex_unlock (&sync->lock);
  if (failed != 0)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, _("could not write to the disk: %s"),
                   g_strerror (failed));
      return FALSE;
    }
  return TRUE;
}

/* Completes a GTask of @source (a boolean) once @ticket is on the disk;
 * call from the context the syncer was made in. */
void
mh_wal_sync_wait_async (MhWalSync *sync, GObject *source, guint64 ticket,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  GTask *task = g_task_new (source, cancellable, callback, user_data);
  guint64 *data = g_new (guint64, 1);

  *data = ticket;
  g_task_set_task_data (task, data, g_free);
  g_task_set_source_tag (task, mh_wal_sync_wait_async);
  g_queue_push_tail (&sync->waiters, task);
  /* Done already, or failed: told from an idle all the same. */
  g_mutex_lock (&sync->lock);
  if (sync->done >= ticket || sync->failed != 0)
    queue_dispatch (sync);
  g_mutex_unlock (&sync->lock);
}

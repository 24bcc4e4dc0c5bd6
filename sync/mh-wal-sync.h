/* mh-wal-sync.h: the WAL made durable behind the writer (internal)
 *
 * Copyright 2026 MedHead Emergency contributors
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _MhWalSync MhWalSync;

MhWalSync *mh_wal_sync_new (const char *wal_path);
void mh_wal_sync_free (MhWalSync *sync);
guint64 mh_wal_sync_request (MhWalSync *sync);
gboolean mh_wal_sync_is_done (MhWalSync *sync, guint64 ticket);
gboolean mh_wal_sync_wait (MhWalSync *sync, guint64 ticket, GError **error);
void mh_wal_sync_wait_async (MhWalSync *sync, GObject *source, guint64 ticket,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);

G_END_DECLS

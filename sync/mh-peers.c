#include "config.h"

#include <sqlite3.h>

#include <glib/gi18n-lib.h>

#include "mh-peers.h"
#include "mh-sync-error.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

void
mh_peer_info_free (MhPeerInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->fingerprint);
  g_free (info->url);
  g_free (info->site_id);
  g_free (info->name);
  g_free (info->last_error);
  g_free (info);
}

static sqlite3_stmt *
prepare (MhStore *store, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (mh_store_get_db (store), sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s",
                   sqlite3_errmsg (mh_store_get_db (store)));
      return NULL;
    }
  return stmt;
}

static gboolean
step_done (MhStore *store, sqlite3_stmt *stmt, GError **error)
{
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s",
                   sqlite3_errmsg (mh_store_get_db (store)));
      return FALSE;
    }
  return TRUE;
}

/**
 * mh_peer_url_validate:
 *
 * A peer URL is `https://HOST:PORT` (the link is always TLS); a path, a
 * query or another scheme is refused.
 */
gboolean
mh_peer_url_validate (const char *url, GError **error)
{
  g_autoptr(GUri) uri = NULL;

  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "https") != 0
      || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0'
      || g_uri_get_port (uri) <= 0
      || (g_uri_get_path (uri)[0] != '\0' && g_strcmp0 (g_uri_get_path (uri), "/") != 0)
      || g_uri_get_query (uri) != NULL)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED,
                   _("“%s” is not a peer URL: expected https://HOST:PORT"), url);
      return FALSE;
    }
  return TRUE;
}

gboolean
mh_peers_add (MhStore *store, const char *fingerprint, const char *url, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (store), FALSE);
  g_return_val_if_fail (fingerprint != NULL, FALSE);

  if (url != NULL && !mh_peer_url_validate (url, error))
    return FALSE;
  stmt = prepare (store, "INSERT INTO _mh_peers (fingerprint, url, added_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (fingerprint) DO UPDATE SET url = excluded.url", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, fingerprint, -1, SQLITE_STATIC);
  if (url)
    sqlite3_bind_text (stmt, 2, url, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time () / 1000);
  return step_done (store, stmt, error);
}

gboolean
mh_peers_remove (MhStore *store, const char *fingerprint, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (store), FALSE);

  stmt = prepare (store, "DELETE FROM _mh_peers WHERE fingerprint = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, fingerprint, -1, SQLITE_STATIC);
  if (!step_done (store, stmt, error))
    return FALSE;
  if (sqlite3_changes (mh_store_get_db (store)) == 0)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_NOT_FOUND, _("no peer %s"), fingerprint);
      return FALSE;
    }
  return TRUE;
}

static MhPeerInfo *
read_info (sqlite3_stmt *stmt)
{
  MhPeerInfo *info = g_new0 (MhPeerInfo, 1);

  info->fingerprint = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  info->url = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  info->site_id = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  info->name = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
  info->added_at_ms = sqlite3_column_int64 (stmt, 4);
  info->last_contact_ms = sqlite3_column_int64 (stmt, 5);
  info->last_error = g_strdup ((const char *) sqlite3_column_text (stmt, 6));
  info->bytes_sent = sqlite3_column_int64 (stmt, 7);
  info->bytes_received = sqlite3_column_int64 (stmt, 8);
  return info;
}

#define PEER_COLUMNS \
  "fingerprint, url, site_id, name, added_at, last_contact, last_error, bytes_sent, bytes_received"

GPtrArray *
mh_peers_list (MhStore *store)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GPtrArray *result = g_ptr_array_new_with_free_func ((GDestroyNotify) mh_peer_info_free);

  g_return_val_if_fail (MH_IS_STORE (store), result);

  stmt = prepare (store, "SELECT " PEER_COLUMNS " FROM _mh_peers ORDER BY added_at, fingerprint",
                  NULL);
  while (stmt && sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (result, read_info (stmt));
  return result;
}

MhPeerInfo *
mh_peers_lookup (MhStore *store, const char *fingerprint)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (MH_IS_STORE (store), NULL);

  stmt = prepare (store, "SELECT " PEER_COLUMNS " FROM _mh_peers WHERE fingerprint = ?", NULL);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, fingerprint, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return NULL;
  return read_info (stmt);
}

gboolean
mh_peers_record_contact (MhStore *store, const char *fingerprint, const char *site_id,
                         const char *name, gint64 bytes_sent, gint64 bytes_received)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  stmt = prepare (store, "UPDATE _mh_peers SET site_id = coalesce (?, site_id), "
                         "name = coalesce (?, name), last_contact = ?, last_error = NULL, "
                         "bytes_sent = ?, bytes_received = ? WHERE fingerprint = ?", NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, site_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time () / 1000);
  sqlite3_bind_int64 (stmt, 4, bytes_sent);
  sqlite3_bind_int64 (stmt, 5, bytes_received);
  sqlite3_bind_text (stmt, 6, fingerprint, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_DONE;
}

gboolean
mh_peers_record_error (MhStore *store, const char *fingerprint, const char *message)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  stmt = prepare (store, "UPDATE _mh_peers SET last_error = ? WHERE fingerprint = ?", NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, message, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, fingerprint, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_DONE;
}

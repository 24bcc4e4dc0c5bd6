#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MH_SYNC_ERROR (mh_sync_error_quark ())

/**
 * MhSyncError:
 * @MH_SYNC_ERROR_FAILED: an unexpected failure (SQLite, I/O)
 * @MH_SYNC_ERROR_UNKNOWN_TABLE: the table is not declared in the schema
 * @MH_SYNC_ERROR_UNKNOWN_COLUMN: the column or register is not declared
 * @MH_SYNC_ERROR_TYPE: a value does not have the declared type
 * @MH_SYNC_ERROR_EXISTS: an insert names a row that already exists
 * @MH_SYNC_ERROR_NOT_FOUND: an update names a row that does not exist
 * @MH_SYNC_ERROR_DELETED: the row was deleted; ids are never reused
 * @MH_SYNC_ERROR_INSERT_ONLY: the table only accepts inserts
 * @MH_SYNC_ERROR_REJECTED: the validator refused the write
 * @MH_SYNC_ERROR_MALFORMED: an encoded change batch is malformed
 * @MH_SYNC_ERROR_TOO_LARGE: an input exceeds a bound
 * @MH_SYNC_ERROR_SCHEMA: the schema is invalid or incompatible with the replica
 * @MH_SYNC_ERROR_SITE: the replica belongs to another site
 */
typedef enum
{
  MH_SYNC_ERROR_FAILED,
  MH_SYNC_ERROR_UNKNOWN_TABLE,
  MH_SYNC_ERROR_UNKNOWN_COLUMN,
  MH_SYNC_ERROR_TYPE,
  MH_SYNC_ERROR_EXISTS,
  MH_SYNC_ERROR_NOT_FOUND,
  MH_SYNC_ERROR_DELETED,
  MH_SYNC_ERROR_INSERT_ONLY,
  MH_SYNC_ERROR_REJECTED,
  MH_SYNC_ERROR_MALFORMED,
  MH_SYNC_ERROR_TOO_LARGE,
  MH_SYNC_ERROR_SCHEMA,
  MH_SYNC_ERROR_SITE,
} MhSyncError;

GQuark mh_sync_error_quark (void);

G_END_DECLS

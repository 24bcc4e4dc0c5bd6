#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MH_NODE_ERROR (mh_node_error_quark ())

/**
 * MhNodeError:
 * @MH_NODE_ERROR_FAILED: an unexpected failure (storage, I/O): HTTP 500
 * @MH_NODE_ERROR_INVALID: a malformed request or an invalid field; the
 *   message starts with the field name, as in `lat: must be between -90 and 90`: HTTP 400
 * @MH_NODE_ERROR_FORBIDDEN: this site does not own what it tries to write: HTTP 403
 * @MH_NODE_ERROR_NOT_FOUND: no such row: HTTP 404
 * @MH_NODE_ERROR_CONFLICT: the id exists, was deleted, or the transition
 *   is not allowed from the current state: HTTP 409
 * @MH_NODE_ERROR_CONFIG: the data directory is missing, corrupt or already initialised
 */
typedef enum
{
  MH_NODE_ERROR_FAILED,
  MH_NODE_ERROR_INVALID,
  MH_NODE_ERROR_FORBIDDEN,
  MH_NODE_ERROR_NOT_FOUND,
  MH_NODE_ERROR_CONFLICT,
  MH_NODE_ERROR_CONFIG,
} MhNodeError;

GQuark mh_node_error_quark (void);

G_END_DECLS

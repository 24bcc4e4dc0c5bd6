/* mh-test-node.h: real medhead-node processes for the integration tests
 *
 * A test node is a data directory made by `medhead-node init` and, once
 * started, a `medhead-node serve --api 127.0.0.1:0` child process whose URL
 * is read from DIR/api-url. Requests use the synchronous SoupSession API:
 * the server lives in another process, so no main loop is needed, and each
 * thread of a concurrency test has a session of its own.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct
{
  char *dir;
  char *url;   /* http://127.0.0.1:PORT once started */
  char *token; /* the API token, read when started */
  GSubprocess *process;
  SoupSession *session;
  /* Set before mh_test_node_start(): the node runs with every message on
   * (G_MESSAGES_DEBUG=all), its stdout and stderr into this file instead
   * of a pipe (a chatty node never blocks on it). */
  char *log_path;
} MhTestNode;

typedef struct
{
  guint status;
  char *body;
  JsonNode *json; /* NULL unless the body is JSON */
  SoupMessageHeaders *headers;
} MhTestReply;

/* A session that goes straight to 127.0.0.1: no proxy from the environment,
 * and no GSettings lookup for one (tests isolate their XDG dirs). */
SoupSession *mh_test_session_new (void);

/* The medhead-node program under test (MEDHEAD_NODE_BIN). */
const char *mh_test_node_program (void);
/* A file of the source tree, e.g. "data/demo/region-idf.json". */
char *mh_test_source_file (const char *relative);

/* Runs medhead-node with the arguments; returns its exit status. */
int mh_test_cli (char **out, char **err, const char *first, ...) G_GNUC_NULL_TERMINATED;
int mh_test_cli_argv (const char *const *args, char **out, char **err);

/* role: "hospital", "ambulance" or "hub"; for_id: the hospital or unit id. */
MhTestNode *mh_test_node_new (const char *role, const char *name, const char *for_id);
void mh_test_node_import (MhTestNode *node, const char *relative_file);
/* Imports part of a registry file: only the hospital and the unit named
 * (NULL: none). A hospital site imports only its own hospital, an
 * ambulance only its own unit. */
void mh_test_node_import_document (MhTestNode *node, JsonNode *document);
void mh_test_node_import_part (MhTestNode *node, const char *relative_file,
                               const char *hospital_id, const char *unit_id);
void mh_test_node_start (MhTestNode *node);
int mh_test_node_stop (MhTestNode *node, int signal_number);
void mh_test_node_free (MhTestNode *node);

/* Requests with the node's token; body is JSON text or NULL. */
MhTestReply *mh_test_node_request (MhTestNode *node, const char *method, const char *path,
                                   const char *body);
MhTestReply *mh_test_node_requestf (MhTestNode *node, const char *method, const char *body,
                                    const char *path_format, ...) G_GNUC_PRINTF (4, 5);
/* Everything explicit: token NULL sends no Authorization header, content_type
 * NULL sends none. */
MhTestReply *mh_test_request (SoupSession *session, const char *url, const char *method,
                              const char *path, const char *token, const char *content_type,
                              const char *body, gssize length);
void mh_test_reply_free (MhTestReply *reply);

JsonObject *mh_test_reply_object (MhTestReply *reply);
JsonArray *mh_test_reply_array (MhTestReply *reply);
/* Asserts an error answer: status, JSON error code, and field (NULL: any). */
void mh_test_assert_error (MhTestReply *reply, guint status, const char *code,
                           const char *field);
/* The digest answer as text, to tell whether anything changed. */
char *mh_test_node_digest (MhTestNode *node);
JsonObject *mh_test_node_get_object (MhTestNode *node, const char *path);

/* Reads a whole file of JSON; aborts the test on failure. */
JsonNode *mh_test_load_json (const char *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhTestNode, mh_test_node_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhTestReply, mh_test_reply_free)

G_END_DECLS

/* mh-store-private.h: internals shared by the store's source files and tests */
#pragma once

#include "mh-store.h"

G_BEGIN_DECLS

/* A column value as SQLite holds it. */
typedef struct
{
  int type; /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_FLOAT or SQLITE_TEXT */
  gint64 i;
  double d;
  char *s;
} MhCell;

/* What the log knows of one register of one row. hlc == 0: never written. */
typedef struct
{
  MhHlc hlc;
  guint origin;  /* index into _mh_sites, local to this replica */
  gint64 oseq;
  gint64 lseq;
  GBytes *sig;
  guint sv; /* the writer's schema version; 0: this replica's own */
} MhRegMeta;

struct _MhRow
{
  const MhTableDef *table;
  char *id;
  gint64 rid; /* 0 until stored */
  MhCell *cells;
  MhRegMeta *meta;
};

G_END_DECLS

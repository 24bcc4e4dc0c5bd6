/* mh-schema.h: the tables, registers and lanes declared to a store
 *
 * A schema is built once, then frozen when a store opens with it. It knows
 * nothing of what the tables mean: the layer above declares them.
 */
#pragma once

#include "mh-sync-types.h"

G_BEGIN_DECLS

#define MH_TYPE_SCHEMA (mh_schema_get_type ())

typedef enum
{
  MH_COLUMN_TEXT,
  MH_COLUMN_INTEGER,
  MH_COLUMN_REAL,
} MhColumnType;

/**
 * MhTableFlags:
 * @MH_TABLE_NONE: registers are last-writer-wins
 * @MH_TABLE_INSERT_ONLY: each row is written once, never updated; the same
 *   key with other content is a conflict, settled the same way on every node
 *   (the change with the greater clock wins, the other is rejected)
 */
typedef enum
{
  MH_TABLE_NONE = 0,
  MH_TABLE_INSERT_ONLY = 1 << 0,
} MhTableFlags;

/**
 * MhRegisterFlags:
 * @MH_REGISTER_NONE: no flags
 * @MH_REGISTER_HISTORY: keep every losing value, local or remote
 */
typedef enum
{
  MH_REGISTER_NONE = 0,
  MH_REGISTER_HISTORY = 1 << 0,
} MhRegisterFlags;

typedef struct
{
  char *name;
  MhColumnType type;
  guint reg; /* index of its register in the table */
} MhColumnDef;

typedef struct
{
  char *name;
  MhRegisterFlags flags;
  guint first_column;
  guint n_columns;
} MhRegisterDef;

typedef struct
{
  char *name;
  guint index;
  guint lane;
  MhTableFlags flags;
  GPtrArray *columns;   /* MhColumnDef, in register order */
  GPtrArray *registers; /* MhRegisterDef */
  char *bucket;         /* digest bucket name */
  gboolean bucket_by_row_prefix;
} MhTableDef;

typedef struct
{
  char *name;
  guint index;
  guint weight;
} MhLaneDef;

GType mh_schema_get_type (void) G_GNUC_CONST;

MhSchema *mh_schema_new (guint version);
MhSchema *mh_schema_ref (MhSchema *self);
void mh_schema_unref (MhSchema *self);

guint mh_schema_get_version (MhSchema *self);

guint mh_schema_add_lane (MhSchema *self, const char *name, guint weight);
gboolean mh_schema_add_table (MhSchema *self, const char *name, guint lane, MhTableFlags flags,
                              GError **error);
gboolean mh_schema_add_register (MhSchema *self, const char *table, const char *reg,
                                 MhRegisterFlags flags, const char *first_column,
                                 ...) G_GNUC_NULL_TERMINATED;
gboolean mh_schema_set_bucket (MhSchema *self, const char *table, const char *bucket,
                               gboolean by_row_prefix);

guint mh_schema_get_n_lanes (MhSchema *self);
const MhLaneDef *mh_schema_get_lane (MhSchema *self, guint lane);
guint mh_schema_get_n_tables (MhSchema *self);
const MhTableDef *mh_schema_get_table (MhSchema *self, guint index);
const MhTableDef *mh_schema_lookup_table (MhSchema *self, const char *name);
const MhRegisterDef *mh_table_def_lookup_register (const MhTableDef *table, const char *reg,
                                                   guint *out_index);
const MhColumnDef *mh_table_def_lookup_column (const MhTableDef *table, const char *column,
                                               guint *out_index);
char *mh_table_def_bucket_for_row (const MhTableDef *table, const char *row);

void mh_schema_freeze (MhSchema *self);
gboolean mh_schema_is_frozen (MhSchema *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhSchema, mh_schema_unref)

G_END_DECLS

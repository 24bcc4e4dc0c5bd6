/* mh-change.h: one register change, as stamped by its origin
 *
 * A change is what travels between replicas. Relays hand it on with its
 * origin, clock, origin sequence number and signature untouched.
 */
#pragma once

#include "mh-sync-types.h"

G_BEGIN_DECLS

#define MH_TYPE_CHANGE (mh_change_get_type ())

typedef enum
{
  MH_CHANGE_SET,
  MH_CHANGE_DELETE,
} MhChangeKind;

/**
 * MhChange:
 * @kind: a register write or a row deletion
 * @table: the table name
 * @row: the row id (text, chosen by the writer; never reused after a delete)
 * @reg: the register name; %NULL for a deletion
 * @value: for a write, a #GVariant of type `av` holding one value per column
 *   of the register, in declared order: `x` (integer), `d` (real), `s`
 *   (text) or `mv` nothing (NULL); %NULL for a deletion
 * @hlc: the origin's clock when it wrote
 * @origin: the site id of the writer
 * @origin_seq: the writer's own sequence number for this change
 * @signature: (nullable): opaque bytes from the origin, stored and relayed verbatim
 * @schema_version: the writer's schema version
 * @local_seq: set by mh_store_read_lane(): where the change sits in this replica's log
 */
struct _MhChange
{
  MhChangeKind kind;
  char *table;
  char *row;
  char *reg;
  GVariant *value;
  MhHlc hlc;
  char *origin;
  gint64 origin_seq;
  GBytes *signature;
  guint schema_version;
  gint64 local_seq;

  /*< private >*/
  gint ref_count;
};

GType mh_change_get_type (void) G_GNUC_CONST;

MhChange *mh_change_new_set (const char *table, const char *row, const char *reg,
                             GVariant *value, MhHlc hlc, const char *origin, gint64 origin_seq);
MhChange *mh_change_new_delete (const char *table, const char *row, MhHlc hlc,
                                const char *origin, gint64 origin_seq);
MhChange *mh_change_ref (MhChange *self);
void mh_change_unref (MhChange *self);
gboolean mh_change_equal (const MhChange *a, const MhChange *b);
int mh_change_compare_clock (MhHlc hlc_a, const char *origin_a, MhHlc hlc_b,
                             const char *origin_b);

GBytes *mh_change_canonical_bytes (const MhChange *change);

GVariant *mh_value_null (void);
gboolean mh_value_is_null (GVariant *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhChange, mh_change_unref)

G_END_DECLS

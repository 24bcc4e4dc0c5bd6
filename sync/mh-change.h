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
 * @signature: (nullable): opaque bytes from the origin, stored and relayed
 *   verbatim; for a change covered by a seal, the one byte %MH_SEAL_MARKER
 * @schema_version: the writer's schema version
 * @local_seq: set by mh_store_read_lane(): where the change sits in this replica's log
 * @seal: (nullable): the origin's seal that covers this change, when it is
 *   sealed rather than signed alone (see #MhSeal)
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
  MhSeal *seal;

  /*< private >*/
  gint ref_count;
};

/**
 * MhSeal:
 * @origin: the site id of the origin that signed it
 * @first_oseq: the origin sequence number of the first change it covers
 * @n: how many changes it covers (1 to %MH_SEAL_MAX), of contiguous
 *   sequence numbers
 * @sig: the origin's raw Ed25519 public key (32 bytes) and its signature
 *   (64 bytes) of mh_seal_message()
 * @hashes: 32 * @n bytes: the SHA-256 of the canonical bytes of the change
 *   numbered @first_oseq + i, at offset 32 * i
 *
 * One signature for the changes of one local commit (docs/protocol.md,
 * "Signed changes"). A change it covers is checked by hashing it and finding
 * the hash in the seal; the seal's signature is checked once.
 */
struct _MhSeal
{
  char *origin;
  gint64 first_oseq;
  guint n;
  GBytes *sig;
  GBytes *hashes;

  /*< private >*/
  int verified; /* atomic: 0 not checked, 1 good, -1 bad */
  gint ref_count;
};

#define MH_SEAL_MAX 256
#define MH_SEAL_HASH_SIZE 32
/* The signature field of a change a seal covers, in storage and in memory. */
#define MH_SEAL_MARKER 0x01

#define MH_TYPE_SEAL (mh_seal_get_type ())

GType mh_seal_get_type (void) G_GNUC_CONST;
MhSeal *mh_seal_new (const char *origin, gint64 first_oseq, guint n, GBytes *sig,
                     GBytes *hashes);
MhSeal *mh_seal_ref (MhSeal *self);
void mh_seal_unref (MhSeal *self);
gboolean mh_seal_equal (const MhSeal *a, const MhSeal *b);
gboolean mh_seal_covers (const MhSeal *self, const char *origin, gint64 oseq);
const guint8 *mh_seal_get_hash (const MhSeal *self, gint64 oseq);
GBytes *mh_seal_message (const char *origin, gint64 first_oseq, guint n, const guint8 *hashes);

GBytes *mh_seal_marker (void);
gboolean mh_change_is_sealed (const MhChange *change);
void mh_change_set_seal (MhChange *change, MhSeal *seal);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhSeal, mh_seal_unref)

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

/* mh-volume.h: is a folder on an encrypted volume?
 *
 * A laptop's disk may be stolen (docs/security.md): the replica holds
 * patient data, so the app and `medhead-node status` warn when the data
 * folder is not on an encrypted volume. On Linux a folder counts as
 * encrypted when its block device is, or sits on, a dm-crypt mapping
 * (LUKS or plain, found through /sys/dev/block and the dm uuid "CRYPT-…",
 * LVM over LUKS included), when the folder itself has an fscrypt policy,
 * or when it is on eCryptfs. Anything else we cannot see through (network
 * or FUSE file systems, a self-encrypting drive) is "unknown", which warns
 * too.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  MH_VOLUME_UNKNOWN,
  MH_VOLUME_ENCRYPTED,
  MH_VOLUME_NOT_ENCRYPTED,
} MhVolumeEncryption;

/* @how: (out) (optional): "dm-crypt", "fscrypt", "ecryptfs", "tmpfs",
 * "none" or a reason it is unknown. */
MhVolumeEncryption mh_volume_check (const char *path, char **how);
/* The block device MAJOR:MINOR under @sysfs_root ("/sys" normally). */
MhVolumeEncryption mh_volume_check_device (const char *sysfs_root, guint major, guint minor,
                                           char **how);
const char *mh_volume_encryption_to_string (MhVolumeEncryption encryption);

G_END_DECLS

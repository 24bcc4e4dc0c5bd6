/* mh-volume.c: is a folder on an encrypted volume? (Linux) */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/fs.h>
#endif

#include <glib/gstdio.h>

#include "mh-volume.h"

#define MAX_DEPTH 8

const char *
mh_volume_encryption_to_string (MhVolumeEncryption encryption)
{
  switch (encryption)
    {
    case MH_VOLUME_ENCRYPTED: return "encrypted";
    case MH_VOLUME_NOT_ENCRYPTED: return "not_encrypted";
    case MH_VOLUME_UNKNOWN:
    default: return "unknown";
    }
}

static void
set_how (char **how, const char *text)
{
  if (how != NULL)
    {
      g_free (*how);
      *how = g_strdup (text);
    }
}

/* @dir: a block device's folder in sysfs (…/block/dm-0, …/sda/sda2).
 * Encrypted if it is a dm-crypt mapping or every device under it (its
 * "slaves", for LVM or RAID over LUKS) is. */
static MhVolumeEncryption
check_sysfs_dir (const char *dir, guint depth)
{
  g_autofree char *uuid_path = g_build_filename (dir, "dm", "uuid", NULL);
  g_autofree char *slaves_path = g_build_filename (dir, "slaves", NULL);
  g_autofree char *uuid = NULL;
  g_autoptr(GDir) slaves = NULL;
  const char *name;
  guint n = 0;

  if (depth > MAX_DEPTH)
    return MH_VOLUME_UNKNOWN;
  if (g_file_get_contents (uuid_path, &uuid, NULL, NULL) && g_str_has_prefix (uuid, "CRYPT-"))
    return MH_VOLUME_ENCRYPTED;
  /* A partition's slaves are none: its disk is the parent folder, and a
   * disk is not encrypted by itself (as far as Linux can tell). */
  slaves = g_dir_open (slaves_path, 0, NULL);
  if (slaves == NULL)
    return MH_VOLUME_NOT_ENCRYPTED;
  while ((name = g_dir_read_name (slaves)) != NULL)
    {
      g_autofree char *link = g_build_filename (slaves_path, name, NULL);
      g_autofree char *target = g_file_read_link (link, NULL);
      g_autofree char *resolved = NULL;

      if (target == NULL)
        return MH_VOLUME_UNKNOWN;
      resolved = g_path_is_absolute (target) ? g_strdup (target)
                                             : g_build_filename (slaves_path, target, NULL);
      if (check_sysfs_dir (resolved, depth + 1) != MH_VOLUME_ENCRYPTED)
        return MH_VOLUME_NOT_ENCRYPTED;
      n++;
    }
  return n > 0 ? MH_VOLUME_ENCRYPTED : MH_VOLUME_NOT_ENCRYPTED;
}

MhVolumeEncryption
mh_volume_check_device (const char *sysfs_root, guint major, guint minor, char **how)
{
  g_autofree char *name = g_strdup_printf ("%u:%u", major, minor);
  g_autofree char *dir = g_build_filename (sysfs_root, "dev", "block", name, NULL);
  MhVolumeEncryption result;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      set_how (how, "no block device");
      return MH_VOLUME_UNKNOWN;
    }
  result = check_sysfs_dir (dir, 0);
  set_how (how, result == MH_VOLUME_ENCRYPTED ? "dm-crypt"
                : result == MH_VOLUME_NOT_ENCRYPTED ? "none" : "unknown device");
  return result;
}

/* The file system type and source of the mount holding @st's device,
 * from /proc/self/mountinfo (the last mount of that device wins). */
static gboolean
find_mount (dev_t dev, char **fstype, char **source)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *wanted = g_strdup_printf ("%u:%u", major (dev), minor (dev));
  gboolean found = FALSE;

  if (!g_file_get_contents ("/proc/self/mountinfo", &text, NULL, NULL))
    return FALSE;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (lines[i], " ", -1);
      guint n = g_strv_length (fields), dash;

      if (n < 10 || !g_str_equal (fields[2], wanted))
        continue;
      for (dash = 6; dash < n && !g_str_equal (fields[dash], "-"); dash++)
        ;
      if (dash + 2 >= n)
        continue;
      g_free (*fstype);
      g_free (*source);
      *fstype = g_strdup (fields[dash + 1]);
      *source = g_strdup (fields[dash + 2]);
      found = TRUE;
    }
  return found;
}

static gboolean
has_fscrypt_policy (const char *path)
{
#ifdef FS_IOC_GET_ENCRYPTION_POLICY
  struct fscrypt_policy policy;
  int fd = g_open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  gboolean encrypted;

  if (fd < 0)
    return FALSE;
  encrypted = ioctl (fd, FS_IOC_GET_ENCRYPTION_POLICY, &policy) == 0
              || errno == EINVAL; /* a v2 policy, which the v1 call cannot describe */
  close (fd);
  return encrypted;
#else
  return FALSE;
#endif
}

/**
 * mh_volume_check:
 * @path: an existing folder
 * @how: (out) (optional) (transfer full): how, or why unknown
 *
 * Returns: whether @path is on an encrypted volume, as far as we can tell
 */
MhVolumeEncryption
mh_volume_check (const char *path, char **how)
{
  GStatBuf st;
  g_autofree char *fstype = NULL;
  g_autofree char *source = NULL;
  MhVolumeEncryption result;

  g_return_val_if_fail (path != NULL, MH_VOLUME_UNKNOWN);

  if (how != NULL)
    *how = NULL;
  if (g_stat (path, &st) != 0)
    {
      set_how (how, "cannot stat the folder");
      return MH_VOLUME_UNKNOWN;
    }
  if (has_fscrypt_policy (path))
    {
      set_how (how, "fscrypt");
      return MH_VOLUME_ENCRYPTED;
    }
  find_mount (st.st_dev, &fstype, &source);
  if (g_strcmp0 (fstype, "ecryptfs") == 0)
    {
      set_how (how, "ecryptfs");
      return MH_VOLUME_ENCRYPTED;
    }
  if (g_strcmp0 (fstype, "tmpfs") == 0 || g_strcmp0 (fstype, "ramfs") == 0)
    {
      /* Gone at power-off: nothing on a disk to steal. */
      set_how (how, "tmpfs");
      return MH_VOLUME_ENCRYPTED;
    }
  result = mh_volume_check_device ("/sys", major (st.st_dev), minor (st.st_dev), how);
  /* Btrfs and some others report an anonymous device: ask the mount's
   * source device instead. */
  if (result == MH_VOLUME_UNKNOWN && source != NULL && g_str_has_prefix (source, "/dev/"))
    {
      GStatBuf dev_st;

      if (g_stat (source, &dev_st) == 0 && S_ISBLK (dev_st.st_mode))
        result = mh_volume_check_device ("/sys", major (dev_st.st_rdev), minor (dev_st.st_rdev),
                                         how);
    }
  if (result == MH_VOLUME_UNKNOWN && fstype != NULL)
    {
      g_autofree char *reason = g_strdup_printf ("file system %s", fstype);
      set_how (how, reason);
    }
  return result;
}

/* test-volume.c: telling whether a data folder is on an encrypted volume,
 * on fake sysfs trees (the real one is whatever this machine has) */

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mh-test-util.h"
#include "mh-volume.h"

static char *sysfs;

static void
make_device (const char *name, const char *dev, const char *uuid)
{
  g_autofree char *dir = g_build_filename (sysfs, "devices", name, NULL);
  g_autofree char *link = g_build_filename (sysfs, "dev", "block", dev, NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  if (uuid != NULL)
    {
      g_autofree char *dm = g_build_filename (dir, "dm", NULL);
      g_autofree char *uuid_path = g_build_filename (dm, "uuid", NULL);
      g_autofree char *text = g_strdup_printf ("%s\n", uuid);

      g_assert_cmpint (g_mkdir_with_parents (dm, 0755), ==, 0);
      g_assert_true (g_file_set_contents (uuid_path, text, -1, NULL));
    }
  g_assert_cmpint (symlink (dir, link), ==, 0);
}

static void
add_slave (const char *name, const char *slave)
{
  g_autofree char *slaves = g_build_filename (sysfs, "devices", name, "slaves", NULL);
  g_autofree char *link = g_build_filename (slaves, slave, NULL);
  g_autofree char *target = g_build_filename ("..", "..", slave, NULL);

  g_assert_cmpint (g_mkdir_with_parents (slaves, 0755), ==, 0);
  g_assert_cmpint (symlink (target, link), ==, 0);
}

static void
setup_tree (void)
{
  g_autofree char *block = NULL;

  sysfs = mh_test_make_tmpdir ("medhead-sysfs");
  block = g_build_filename (sysfs, "dev", "block", NULL);
  g_assert_cmpint (g_mkdir_with_parents (block, 0755), ==, 0);
  /* sda2: a plain partition; dm-0: LUKS on sda3; dm-1: LVM on dm-0;
   * dm-2: LVM on sda2 (no encryption); dm-3: LVM over dm-0 and sda2. */
  make_device ("sda2", "8:2", NULL);
  make_device ("sda3", "8:3", NULL);
  make_device ("dm-0", "253:0", "CRYPT-LUKS2-0123456789abcdef-luks-root");
  add_slave ("dm-0", "sda3");
  make_device ("dm-1", "253:1", "LVM-abcdef");
  add_slave ("dm-1", "dm-0");
  make_device ("dm-2", "253:2", "LVM-ghijkl");
  add_slave ("dm-2", "sda2");
  make_device ("dm-3", "253:3", "LVM-mnopqr");
  add_slave ("dm-3", "dm-0");
  add_slave ("dm-3", "sda2");
}

static void
check (guint major, guint minor, MhVolumeEncryption expected, const char *expected_how)
{
  g_autofree char *how = NULL;

  g_assert_cmpstr (mh_volume_encryption_to_string (mh_volume_check_device (sysfs, major, minor,
                                                                           &how)),
                   ==, mh_volume_encryption_to_string (expected));
  g_assert_cmpstr (how, ==, expected_how);
}

static void
test_devices (void)
{
  check (8, 2, MH_VOLUME_NOT_ENCRYPTED, "none");
  check (253, 0, MH_VOLUME_ENCRYPTED, "dm-crypt");
  check (253, 1, MH_VOLUME_ENCRYPTED, "dm-crypt");
  check (253, 2, MH_VOLUME_NOT_ENCRYPTED, "none");
  /* Part of it is in the clear: not encrypted. */
  check (253, 3, MH_VOLUME_NOT_ENCRYPTED, "none");
  check (0, 42, MH_VOLUME_UNKNOWN, "no block device");
}

/* On this machine: whatever the answer, it comes with a reason, and a
 * folder that does not exist is unknown. */
static void
test_real_folder (void)
{
  g_autofree char *dir = mh_test_make_tmpdir ("medhead-volume");
  g_autofree char *how = NULL;
  g_autofree char *missing_how = NULL;
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  MhVolumeEncryption result = mh_volume_check (dir, &how);

  g_test_message ("%s: %s (%s)", dir, mh_volume_encryption_to_string (result), how);
  g_assert_nonnull (how);
  g_assert_cmpint (mh_volume_check (missing, &missing_how), ==, MH_VOLUME_UNKNOWN);
  mh_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  setup_tree ();
  g_test_add_func ("/volume/devices", test_devices);
  g_test_add_func ("/volume/real-folder", test_real_folder);
  status = g_test_run ();
  mh_test_rm_rf (sysfs);
  g_free (sysfs);
  return status;
}

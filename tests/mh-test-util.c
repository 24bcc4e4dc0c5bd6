#include "config.h"

#include <glib/gstdio.h>
#include <stdlib.h>

#include "mh-test-util.h"

void
mh_test_rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            mh_test_rm_rf (child);
          else
            g_unlink (child);
        }
    }
  g_rmdir (path);
}

char *
mh_test_make_tmpdir (const char *prefix)
{
  g_autofree char *template = g_strdup_printf ("%s-XXXXXX", prefix);
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp (template, &error);

  g_assert_no_error (error);
  return dir;
}

guint32
mh_test_seed_from_env (guint32 fallback)
{
  const char *env = g_getenv ("MEDHEAD_SEED");

  if (env != NULL && *env != '\0')
    return (guint32) g_ascii_strtoull (env, NULL, 10);
  return fallback;
}

/* test-labels.c: translated specialty names match the reference list */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "mh-labels.h"
#include "mh-node.h"

/* The list xgettext reads must name every specialty of the reference
 * file, id for id, or a specialty would show untranslated. */
static void
test_specialty_msgids (void)
{
  guint count = mh_specialty_count ();

  g_assert_cmpuint (count, >=, 80);
  for (guint id = 1; id <= count; id++)
    {
      g_test_message ("specialty %u", id);
      g_assert_cmpstr (mh_specialty_label_msgid (id), ==, mh_specialty_name (id));
    }
  g_assert_null (mh_specialty_label_msgid (count + 1));
  g_assert_null (mh_specialty_label (count + 1));
}

static void
test_specialty_french (void)
{
  const char *localedir = g_getenv ("MEDHEAD_LOCALEDIR");

  if (localedir == NULL)
    {
      g_test_skip ("MEDHEAD_LOCALEDIR is not set");
      return;
    }
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  g_setenv ("LANGUAGE", "fr", TRUE);
  setlocale (LC_ALL, "C.UTF-8");
  g_assert_cmpstr (mh_specialty_label (21), ==, "Cardiologie");
  g_assert_cmpstr (mh_specialty_label (17), ==, "Médecine d’urgence");
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/desktop/labels/specialty-msgids", test_specialty_msgids);
  g_test_add_func ("/desktop/labels/specialty-french", test_specialty_french);
  return g_test_run ();
}

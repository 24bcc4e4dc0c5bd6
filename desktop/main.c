/* main.c: MedHead Emergency, the desktop app */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "mh-application.h"

int
main (int argc, char **argv)
{
  g_autoptr (MhApplication) app = NULL;
  /* Translations of an uninstalled build (_build/po), for trying it out. */
  const char *localedir = g_getenv ("MEDHEAD_LOCALEDIR");

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, localedir && *localedir ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = mh_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}

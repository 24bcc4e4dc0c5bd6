/* mh-settings.c: the app's GSettings, installed or from the build tree */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include "mh-settings.h"

/* Returns the app's settings. An installed schema wins; an uninstalled
 * build (and its tests) falls back to the schema compiled in the build
 * tree, so `_build/desktop/medhead` runs without GSETTINGS_SCHEMA_DIR. */
GSettings *
mh_settings_new (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APP_ID, TRUE);
#ifdef MH_BUILD_SCHEMADIR
  if (schema == NULL)
    {
      g_autoptr (GSettingsSchemaSource) build_source = NULL;

      build_source = g_settings_schema_source_new_from_directory (MH_BUILD_SCHEMADIR, source,
                                                                  FALSE, NULL);
      if (build_source != NULL)
        schema = g_settings_schema_source_lookup (build_source, APP_ID, TRUE);
    }
#endif
  if (schema == NULL)
    g_error ("the GSettings schema %s is not installed", APP_ID);
  return g_settings_new_full (schema, NULL, NULL);
}

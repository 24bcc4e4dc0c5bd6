/* mh-specialties.c: the NHS list of specialties, parsed once */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "mh-node.h"
#include "mh-node-resources.h"
#include "mh-specialties.h"

#define SPECIALTIES_PATH "/com/medhead/Emergency/node/nhs-specialties.tsv"
#define MAX_SPECIALTIES 80

typedef struct
{
  char *group;
  char *name;
} Specialty;

typedef struct
{
  guint count;
  Specialty by_id[MAX_SPECIALTIES + 1]; /* slot 0 unused: ids start at 1 */
} SpecialtyTable;

/* Parsed on first use and kept for the life of the process: it is a
 * constant of the program, like a string literal. */
static const SpecialtyTable *
specialty_table (void)
{
  static SpecialtyTable *table;

  if (g_once_init_enter (&table))
    {
      SpecialtyTable *parsed = g_new0 (SpecialtyTable, 1);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) lines = NULL;

      /* Looked up in our own resource rather than the global registry: a
       * static library's resource constructor may be dropped by the linker. */
      bytes = g_resource_lookup_data (mh_node_get_resource (), SPECIALTIES_PATH,
                                      G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
      if (bytes == NULL)
        g_error ("the embedded specialties list is missing: %s", error->message);

      {
        g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL),
                                           g_bytes_get_size (bytes));
        lines = g_strsplit (text, "\n", -1);
      }
      /* The first line is the header: id, group, specialty. */
      for (guint i = 1; lines[i] != NULL; i++)
        {
          g_auto(GStrv) fields = NULL;
          guint64 id;

          g_strchomp (lines[i]);
          if (lines[i][0] == '\0')
            continue;
          fields = g_strsplit (lines[i], "\t", 3);
          if (g_strv_length (fields) != 3
              || !g_ascii_string_to_unsigned (fields[0], 10, 1, MAX_SPECIALTIES, &id, NULL)
              || parsed->by_id[id].name != NULL)
            g_error ("the embedded specialties list is malformed at line %u", i + 1);
          parsed->by_id[id].group = g_strdup (fields[1]);
          parsed->by_id[id].name = g_strdup (fields[2]);
          parsed->count = MAX (parsed->count, (guint) id);
        }
      g_once_init_leave (&table, parsed);
    }
  return table;
}

/**
 * mh_specialty_name:
 * @id: a specialty id, from 1 to mh_specialty_count()
 *
 * Returns: (nullable): the specialty's English name, or %NULL for an unknown id
 */
const char *
mh_specialty_name (guint id)
{
  const SpecialtyTable *table = specialty_table ();

  if (id == 0 || id > table->count)
    return NULL;
  return table->by_id[id].name;
}

const char *
mh_specialty_group (guint id)
{
  const SpecialtyTable *table = specialty_table ();

  if (id == 0 || id > table->count)
    return NULL;
  return table->by_id[id].group;
}

guint
mh_specialty_count (void)
{
  return specialty_table ()->count;
}

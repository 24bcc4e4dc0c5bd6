/* nearest-gen.h: generated hospitals, and a brute-force nearest search
 * over them, for test-nearest.c and bench-nearest.c
 *
 * Most hospitals lie in a box the size of France, some anywhere on Earth
 * (near the poles and the antimeridian too), so that the search boxes are
 * tried at every size. The brute force is the reference: it looks at
 * every hospital, with the same rules and the same distance formula.
 */
#pragma once

#include <math.h>
#include <string.h>

#include "mh-node.h"

#define GEN_EARTH_RADIUS_M 6371008.8

typedef struct
{
  char id[37];
  double lat;
  double lon;
  guint64 specialties[2]; /* bit i: specialty i (1..80) */
  const char *ems_traffic; /* NULL: no status row */
  gint64 available[16];    /* by index in mh_bed_categories (); -1: no row */
} GenHospital;

typedef struct
{
  const GenHospital *hospital;
  double distance;
  gint64 free;
} GenHit;

static inline gboolean
gen_has_specialty (const GenHospital *h, guint specialty)
{
  return (h->specialties[specialty / 64] >> (specialty % 64)) & 1;
}

static inline guint
gen_n_categories (void)
{
  return g_strv_length ((char **) mh_bed_categories ());
}

static inline int
gen_category_index (const char *category)
{
  const char *const *known = mh_bed_categories ();

  for (int i = 0; known[i] != NULL; i++)
    if (strcmp (known[i], category) == 0)
      return i;
  return -1;
}

/* @n hospitals from @rand. */
static inline GenHospital *
gen_hospitals (GRand *rand, guint n)
{
  static const char *const statuses[] = { "normal", "normal", "normal", "normal", "normal",
                                          "normal", "normal", "advisory", "closed",
                                          "not_applicable", NULL };
  GenHospital *all = g_new0 (GenHospital, n);
  guint n_categories = gen_n_categories ();

  for (guint i = 0; i < n; i++)
    {
      GenHospital *h = &all[i];
      guint n_specialties = (guint) g_rand_int_range (rand, 0, 15);

      g_snprintf (h->id, sizeof h->id, "%08x-0000-4000-8000-%012x", i, g_rand_int (rand));
      if (g_rand_int_range (rand, 0, 100) < 95)
        {
          h->lat = g_rand_double_range (rand, 42.0, 51.0);
          h->lon = g_rand_double_range (rand, -5.0, 8.0);
        }
      else
        {
          h->lat = g_rand_double_range (rand, -89.9, 89.9);
          h->lon = g_rand_double_range (rand, -180.0, 180.0);
        }
      for (guint s = 0; s < n_specialties; s++)
        {
          /* Never 80: searches for it test the fallback. */
          guint id = (guint) g_rand_int_range (rand, 1, 80);
          h->specialties[id / 64] |= G_GUINT64_CONSTANT (1) << (id % 64);
        }
      h->ems_traffic = statuses[g_rand_int_range (rand, 0, G_N_ELEMENTS (statuses))];
      for (guint c = 0; c < G_N_ELEMENTS (h->available); c++)
        h->available[c] = -1;
      for (guint c = 0; c < n_categories; c++)
        if (g_rand_int_range (rand, 0, 100) < 30)
          h->available[c] = g_rand_int_range (rand, 0, 5);
    }
  return all;
}

/* The registry file holding them. */
static inline JsonNode *
gen_document (const GenHospital *all, guint n)
{
  JsonObject *root = json_object_new ();
  JsonArray *hospitals = json_array_new ();
  const char *const *known = mh_bed_categories ();

  for (guint i = 0; i < n; i++)
    {
      const GenHospital *h = &all[i];
      JsonObject *object = json_object_new ();
      JsonArray *specialties = json_array_new ();
      JsonObject *beds = json_object_new ();
      g_autofree char *name = g_strdup_printf ("Generated %u", i);

      json_object_set_string_member (object, "id", h->id);
      json_object_set_string_member (object, "name", name);
      json_object_set_double_member (object, "lat", h->lat);
      json_object_set_double_member (object, "lon", h->lon);
      for (guint s = 1; s <= 80; s++)
        if (gen_has_specialty (h, s))
          json_array_add_int_element (specialties, s);
      json_object_set_array_member (object, "specialties", specialties);
      if (h->ems_traffic != NULL)
        {
          json_object_set_string_member (object, "ems_traffic", h->ems_traffic);
          if (strcmp (h->ems_traffic, "advisory") == 0 || strcmp (h->ems_traffic, "closed") == 0)
            json_object_set_string_member (object, "ems_traffic_reason", "generated");
        }
      for (guint c = 0; known[c] != NULL; c++)
        if (h->available[c] >= 0)
          {
            JsonObject *bed = json_object_new ();

            json_object_set_int_member (bed, "available", h->available[c]);
            json_object_set_int_member (bed, "baseline", 10);
            json_object_set_object_member (beds, known[c], bed);
          }
      json_object_set_object_member (object, "beds", beds);
      json_array_add_object_element (hospitals, object);
    }
  json_object_set_string_member (root, "format", "medhead-registry/1");
  json_object_set_array_member (root, "hospitals", hospitals);
  return json_node_init_object (json_node_alloc (), root);
}

/* The same formula, operation for operation, as the node's. */
static inline double
gen_haversine_m (double lat1, double lon1, double lat2, double lon2)
{
  double dlat = (lat2 - lat1) * G_PI / 180.0;
  double dlon = (lon2 - lon1) * G_PI / 180.0;
  double a = sin (dlat / 2) * sin (dlat / 2)
             + cos (lat1 * G_PI / 180.0) * cos (lat2 * G_PI / 180.0) * sin (dlon / 2)
                 * sin (dlon / 2);

  return 2 * GEN_EARTH_RADIUS_M * asin (MIN (1.0, sqrt (a)));
}

static inline int
gen_compare_hits (gconstpointer a, gconstpointer b)
{
  const GenHit *x = a, *y = b;

  if (x->distance != y->distance)
    return x->distance < y->distance ? -1 : 1;
  return strcmp (x->hospital->id, y->hospital->id);
}

/* Looks at every hospital. Returns the hits nearest first, at most @limit,
 * with *fallback set when nothing matched and any free bed was searched. */
static inline GArray *
gen_brute_force (const GenHospital *all, guint n, double lat, double lon, guint specialty,
                 const char *category, guint limit, gboolean *fallback)
{
  GArray *hits = g_array_new (FALSE, FALSE, sizeof (GenHit));
  int wanted = category ? gen_category_index (category) : -1;
  guint n_categories = gen_n_categories ();

  *fallback = FALSE;
  for (;;)
    {
      for (guint i = 0; i < n; i++)
        {
          const GenHospital *h = &all[i];
          GenHit hit = { h, 0, 0 };

          if (h->ems_traffic != NULL && strcmp (h->ems_traffic, "closed") == 0)
            continue;
          if (specialty != 0 && !gen_has_specialty (h, specialty))
            continue;
          if (wanted >= 0)
            hit.free = MAX (0, h->available[wanted]);
          else
            for (guint c = 0; c < n_categories; c++)
              hit.free += MAX (0, h->available[c]);
          if (hit.free <= 0)
            continue;
          hit.distance = gen_haversine_m (lat, lon, h->lat, h->lon);
          g_array_append_val (hits, hit);
        }
      if (hits->len > 0 || (specialty == 0 && wanted < 0))
        break;
      specialty = 0;
      wanted = -1;
      *fallback = TRUE;
    }
  g_array_sort (hits, gen_compare_hits);
  if (hits->len > limit)
    g_array_set_size (hits, limit);
  return hits;
}

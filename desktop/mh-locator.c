/* mh-locator.c: where this station is, from GeoClue when the system has it
 *
 * A crew's laptop usually has a GPS or Wi-Fi positioning behind GeoClue
 * (through the location portal inside Flatpak). Without it, or when the
 * user refuses, the locator simply never reports a position and the app
 * falls back on the unit's last known position or the map centre.
 *
 * MEDHEAD_LOCATION=LAT,LON stands in for a positioning device (a vehicle
 * PC with a serial GPS fed by another program, a demo, the tests).
 */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <stdlib.h>

#ifdef HAVE_GEOCLUE
#include <gclue-simple.h>
#endif

#include "mh-locator.h"

struct _MhLocator
{
  GObject parent_instance;

  GCancellable *cancellable;
#ifdef HAVE_GEOCLUE
  GClueSimple *simple;
#endif
  gboolean located;
  double latitude;
  double longitude;
  double accuracy;
};

G_DEFINE_FINAL_TYPE (MhLocator, mh_locator, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_LOCATED,
  PROP_LATITUDE,
  PROP_LONGITUDE,
  PROP_ACCURACY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Reported moves smaller than this are GPS jitter, not travel. */
#define DISTANCE_THRESHOLD_M 25
#define TIME_THRESHOLD_S 10

static void
set_location (MhLocator *self, double latitude, double longitude, double accuracy)
{
  if (latitude < -90 || latitude > 90 || longitude < -180 || longitude > 180)
    return;
  g_object_freeze_notify (G_OBJECT (self));
  self->latitude = latitude;
  self->longitude = longitude;
  self->accuracy = accuracy;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LATITUDE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LONGITUDE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACCURACY]);
  if (!self->located)
    {
      self->located = TRUE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOCATED]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

static gboolean
parse_override (const char *text, double *latitude, double *longitude)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", 3);
  char *end = NULL;

  if (g_strv_length (parts) != 2)
    return FALSE;
  *latitude = g_ascii_strtod (parts[0], &end);
  if (end == parts[0] || *end != '\0')
    return FALSE;
  *longitude = g_ascii_strtod (parts[1], &end);
  return end != parts[1] && *end == '\0';
}

#ifdef HAVE_GEOCLUE
static void
location_changed_cb (MhLocator *self, GParamSpec *pspec, GClueSimple *simple)
{
  GClueLocation *location = gclue_simple_get_location (simple);

  if (location != NULL)
    set_location (self, gclue_location_get_latitude (location),
                  gclue_location_get_longitude (location), gclue_location_get_accuracy (location));
}

static void
simple_ready_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (MhLocator) self = data;
  g_autoptr (GError) error = NULL;
  GClueSimple *simple = gclue_simple_new_with_thresholds_finish (result, &error);

  if (simple == NULL)
    {
      /* No GeoClue service, no device, or the user said no: not an error
       * worth a dialog, the other sources of a position take over. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_message ("no location from GeoClue: %s", error->message);
      return;
    }
  self->simple = simple;
  g_signal_connect_object (simple, "notify::location", G_CALLBACK (location_changed_cb), self,
                           G_CONNECT_SWAPPED);
  location_changed_cb (self, NULL, simple);
}
#endif

/**
 * mh_locator_start:
 *
 * Asks for this station's position; #MhLocator:located turns %TRUE with
 * the first fix, and the coordinates are notified as the station moves.
 */
void
mh_locator_start (MhLocator *self)
{
  const char *override = g_getenv ("MEDHEAD_LOCATION");
  double latitude, longitude;

  g_return_if_fail (MH_IS_LOCATOR (self));

  if (self->cancellable != NULL)
    return;
  self->cancellable = g_cancellable_new ();

  if (override != NULL && *override != '\0')
    {
      if (parse_override (override, &latitude, &longitude))
        set_location (self, latitude, longitude, 0);
      else
        g_warning ("MEDHEAD_LOCATION=%s is not LAT,LON", override);
      return;
    }
#ifdef HAVE_GEOCLUE
  gclue_simple_new_with_thresholds (APP_ID, GCLUE_ACCURACY_LEVEL_EXACT, TIME_THRESHOLD_S,
                                    DISTANCE_THRESHOLD_M, self->cancellable, simple_ready_cb,
                                    g_object_ref (self));
#endif
}

void
mh_locator_stop (MhLocator *self)
{
  g_return_if_fail (MH_IS_LOCATOR (self));

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
#ifdef HAVE_GEOCLUE
  if (self->simple != NULL)
    g_signal_handlers_disconnect_by_data (self->simple, self);
  g_clear_object (&self->simple);
#endif
}

gboolean
mh_locator_get_located (MhLocator *self)
{
  g_return_val_if_fail (MH_IS_LOCATOR (self), FALSE);
  return self->located;
}

double
mh_locator_get_latitude (MhLocator *self)
{
  g_return_val_if_fail (MH_IS_LOCATOR (self), 0);
  return self->latitude;
}

double
mh_locator_get_longitude (MhLocator *self)
{
  g_return_val_if_fail (MH_IS_LOCATOR (self), 0);
  return self->longitude;
}

/* Metres; 0 when unknown. */
double
mh_locator_get_accuracy (MhLocator *self)
{
  g_return_val_if_fail (MH_IS_LOCATOR (self), 0);
  return self->accuracy;
}

static void
mh_locator_dispose (GObject *object)
{
  mh_locator_stop (MH_LOCATOR (object));
  G_OBJECT_CLASS (mh_locator_parent_class)->dispose (object);
}

static void
mh_locator_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MhLocator *self = MH_LOCATOR (object);

  switch (prop_id)
    {
    case PROP_LOCATED:
      g_value_set_boolean (value, self->located);
      break;
    case PROP_LATITUDE:
      g_value_set_double (value, self->latitude);
      break;
    case PROP_LONGITUDE:
      g_value_set_double (value, self->longitude);
      break;
    case PROP_ACCURACY:
      g_value_set_double (value, self->accuracy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_locator_class_init (MhLocatorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mh_locator_dispose;
  object_class->get_property = mh_locator_get_property;

  properties[PROP_LOCATED] = g_param_spec_boolean ("located", NULL, NULL, FALSE,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_LATITUDE] = g_param_spec_double ("latitude", NULL, NULL, -90, 90, 0,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_LONGITUDE] = g_param_spec_double ("longitude", NULL, NULL, -180, 180, 0,
                                                    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ACCURACY] = g_param_spec_double ("accuracy", NULL, NULL, 0, G_MAXDOUBLE, 0,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mh_locator_init (MhLocator *self)
{
}

MhLocator *
mh_locator_new (void)
{
  return g_object_new (MH_TYPE_LOCATOR, NULL);
}

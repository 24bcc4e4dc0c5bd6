/* mh-grid-layer.c: a neutral base for the map: a graticule, no tiles
 *
 * With no tile server the map still needs a sense of place and movement:
 * lines of latitude and longitude at a round step for the zoom level, drawn
 * over the widget's CSS background. */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include <math.h>

#include "mh-grid-layer.h"

struct _MhGridLayer
{
  ShumateLayer parent_instance;
};

G_DEFINE_FINAL_TYPE (MhGridLayer, mh_grid_layer, SHUMATE_TYPE_LAYER)

/* The round step (1, 2 or 5 times a power of ten) giving at least span/8. */
static double
round_step (double span)
{
  double raw = span / 8.0;
  double power = pow (10.0, floor (log10 (raw)));

  if (raw <= power)
    return power;
  if (raw <= 2 * power)
    return 2 * power;
  if (raw <= 5 * power)
    return 5 * power;
  return 10 * power;
}

static void
viewport_changed_cb (MhGridLayer *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
mh_grid_layer_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  ShumateViewport *viewport = shumate_layer_get_viewport (SHUMATE_LAYER (widget));
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  double north, west, south, east, step, x, y;
  GdkRGBA color;

  if (width <= 0 || height <= 0 || shumate_viewport_get_reference_map_source (viewport) == NULL)
    return;

  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &color);
  color.alpha = 0.12f;

  shumate_viewport_widget_coords_to_location (viewport, widget, 0, 0, &north, &west);
  shumate_viewport_widget_coords_to_location (viewport, widget, width, height, &south, &east);
  step = round_step (MAX (east - west, 1e-6));
  if (!isfinite (step) || step <= 0)
    return;

  for (double lon = ceil (west / step) * step; lon <= east; lon += step)
    {
      shumate_viewport_location_to_widget_coords (viewport, widget, north, lon, &x, &y);
      gtk_snapshot_append_color (snapshot, &color,
                                 &GRAPHENE_RECT_INIT ((float) floor (x), 0, 1, height));
    }
  for (double lat = ceil (south / step) * step; lat <= north; lat += step)
    {
      shumate_viewport_location_to_widget_coords (viewport, widget, lat, west, &x, &y);
      gtk_snapshot_append_color (snapshot, &color,
                                 &GRAPHENE_RECT_INIT (0, (float) floor (y), width, 1));
    }
}

static void
mh_grid_layer_constructed (GObject *object)
{
  MhGridLayer *self = MH_GRID_LAYER (object);
  ShumateViewport *viewport;

  G_OBJECT_CLASS (mh_grid_layer_parent_class)->constructed (object);

  viewport = shumate_layer_get_viewport (SHUMATE_LAYER (self));
  g_signal_connect_object (viewport, "notify", G_CALLBACK (viewport_changed_cb), self,
                           G_CONNECT_SWAPPED);
}

static void
mh_grid_layer_class_init (MhGridLayerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = mh_grid_layer_constructed;
  widget_class->snapshot = mh_grid_layer_snapshot;
  gtk_widget_class_set_css_name (widget_class, "mh-grid-layer");
}

static void
mh_grid_layer_init (MhGridLayer *self)
{
  gtk_widget_set_can_target (GTK_WIDGET (self), FALSE);
}

MhGridLayer *
mh_grid_layer_new (ShumateViewport *viewport)
{
  return g_object_new (MH_TYPE_GRID_LAYER, "viewport", viewport, NULL);
}

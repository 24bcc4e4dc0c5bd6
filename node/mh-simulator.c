/* mh-simulator.c: life for a demo network, through the nodes' REST APIs */

#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "mh-node-error.h"
#include "mh-simulator.h"

/* Long enough for a node busy with a first sync under a sanitizer. */
#define REQUEST_TIMEOUT_S 20
/* A crew moves about 300 m a round: a fast ambulance in town at one round
 * every second or two. */
#define STEP_DEGREES 0.0027
/* One round in this many posts a message. */
#define MESSAGE_EVERY 4

typedef struct
{
  char *dir;
  char *url;
  char *token;
  char *name;
  char *role;
  char *hospital_id; /* a hospital desk's own hospital */
  char *unit_id;     /* a crew's own unit */
  /* A crew's position and heading, learnt from its unit once it is there. */
  gboolean located;
  double lat, lon, heading;
} Target;

struct _MhSimulator
{
  GObject parent_instance;

  SoupSession *session;
  GRand *rand;
  GPtrArray *targets; /* of Target */
  GPtrArray *channels;
  guint n_beds, n_moves, n_messages;
  guint round;
};

G_DEFINE_FINAL_TYPE (MhSimulator, mh_simulator, G_TYPE_OBJECT)

static const char *const message_bodies[] = {
  "Bed count checked after the round.",
  "Two discharges expected this afternoon.",
  "CT scanner back in service.",
  "Crew available again, returning to base.",
  "On scene, patient stable, will announce shortly.",
  "ED busy: expect 20 min offload delay.",
  "Traffic heavy on the périphérique, ETA +10 min.",
  "Cardiology on call until 20:00.",
  "Stroke unit can take one more patient.",
  "Helicopter pad closed for maintenance until 18:00.",
};

static void
target_free (Target *target)
{
  g_free (target->dir);
  g_free (target->url);
  g_free (target->token);
  g_free (target->name);
  g_free (target->role);
  g_free (target->hospital_id);
  g_free (target->unit_id);
  g_free (target);
}

static char *
read_trimmed (const char *dir, const char *name, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  if (*g_strstrip (text) == '\0')
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG, _("%s is empty"), path);
      return NULL;
    }
  return g_steal_pointer (&text);
}

/* Sends a request with the target's token; returns the JSON answer when
 * the status is 2xx, else NULL with error set. */
static JsonNode *
request (MhSimulator *self, Target *target, const char *method, const char *path,
         const char *body, GError **error)
{
  g_autofree char *uri = g_strconcat (target->url, path, NULL);
  g_autofree char *authorization = g_strdup_printf ("Bearer %s", target->token);
  g_autoptr(SoupMessage) message = soup_message_new (method, uri);
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(JsonParser) parser = NULL;
  guint status;

  if (message == NULL)
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_CONFIG, _("%s: not a URL"), uri);
      return NULL;
    }
  soup_message_headers_replace (soup_message_get_request_headers (message), "Authorization",
                                authorization);
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (message, "application/json", bytes);
    }
  reply = soup_session_send_and_read (self->session, message, NULL, error);
  if (reply == NULL)
    return NULL;
  status = soup_message_get_status (message);
  if (status < 200 || status >= 300)
    {
      g_set_error (error, MH_NODE_ERROR,
                   status == 404 ? MH_NODE_ERROR_NOT_FOUND : MH_NODE_ERROR_FAILED,
                   _("%s %s on %s: HTTP %u: %.*s"), method, path, target->name, status,
                   (int) MIN (g_bytes_get_size (reply), 300),
                   (const char *) g_bytes_get_data (reply, NULL));
      return NULL;
    }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, g_bytes_get_data (reply, NULL),
                                   (gssize) g_bytes_get_size (reply), error))
    return NULL;
  return json_node_ref (json_parser_get_root (parser));
}

static JsonObject *
request_object (MhSimulator *self, Target *target, const char *method, const char *path,
                const char *body, GError **error)
{
  g_autoptr(JsonNode) node = request (self, target, method, path, body, error);

  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, MH_NODE_ERROR, MH_NODE_ERROR_FAILED, _("%s %s on %s: not an object"),
                   method, path, target->name);
      return NULL;
    }
  return json_object_ref (json_node_get_object (node));
}

static Target *
target_new (const char *dir, GError **error)
{
  Target *target = g_new0 (Target, 1);

  target->dir = g_strdup (dir);
  target->name = g_strdup (dir);
  target->url = read_trimmed (dir, "api-url", error);
  if (target->url == NULL)
    goto failed;
  target->token = read_trimmed (dir, "api-token", error);
  if (target->token == NULL)
    goto failed;
  return target;

failed:
  target_free (target);
  return NULL;
}

/* Learns who the target is, once: a node busy sending a first sync to its
 * peers may not answer in time, and is asked again the next round. */
static gboolean
target_identify (MhSimulator *self, Target *target, GError **error)
{
  g_autoptr(JsonObject) status = NULL;

  if (target->role != NULL)
    return TRUE;
  status = request_object (self, target, "GET", "/api/v1/status", NULL, error);
  if (status == NULL)
    return FALSE;
  g_free (target->name);
  target->name = g_strdup (json_object_get_string_member_with_default (status, "name",
                                                                        target->dir));
  target->hospital_id = g_strdup (
    json_object_get_string_member_with_default (status, "hospital_id", NULL));
  target->unit_id = g_strdup (json_object_get_string_member_with_default (status, "unit_id", NULL));
  target->role = g_strdup (json_object_get_string_member_with_default (status, "role", "hub"));
  if (target->hospital_id != NULL)
    g_ptr_array_add (self->channels, g_strdup_printf ("hospital:%s", target->hospital_id));
  return TRUE;
}

/* The target's own hospital or unit, or NULL while it has not reached it. */
static JsonObject *
get_own (MhSimulator *self, Target *target, const char *kind, const char *id)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/%s/%s", kind, id);
  g_autoptr(GError) error = NULL;
  JsonObject *object = request_object (self, target, "GET", path, NULL, &error);

  if (object == NULL && !g_error_matches (error, MH_NODE_ERROR, MH_NODE_ERROR_NOT_FOUND))
    g_message ("%s", error->message);
  return object;
}

static gboolean
change_beds (MhSimulator *self, Target *target, GError **error)
{
  g_autoptr(JsonObject) hospital = get_own (self, target, "hospitals", target->hospital_id);
  g_autoptr(GList) categories = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  JsonObject *beds, *bed;
  const char *category;
  gint64 available, baseline, next;

  if (hospital == NULL || !json_object_has_member (hospital, "beds"))
    return FALSE;
  beds = json_object_get_object_member (hospital, "beds");
  categories = json_object_get_members (beds);
  if (categories == NULL)
    return FALSE;
  category = g_list_nth_data (categories,
                              (guint) g_rand_int_range (self->rand, 0,
                                                        (gint32) g_list_length (categories)));
  bed = json_object_get_object_member (beds, category);
  available = json_object_get_int_member_with_default (bed, "available", 0);
  baseline = json_object_get_int_member_with_default (bed, "baseline", 0);
  if (baseline <= 0)
    baseline = MAX (available, 4);
  /* A walk within 0..baseline: a bed frees up, another is taken. */
  next = available + (g_rand_boolean (self->rand) ? 1 : -1) * g_rand_int_range (self->rand, 1, 3);
  if (next < 0 || next > baseline)
    next = available + (available > baseline / 2 ? -1 : 1);
  next = CLAMP (next, 0, baseline);

  path = g_strdup_printf ("/api/v1/hospitals/%s/beds/%s", target->hospital_id, category);
  body = g_strdup_printf ("{\"available\": %" G_GINT64_FORMAT ", \"baseline\": %" G_GINT64_FORMAT
                          "}", next, baseline);
  answer = request_object (self, target, "PUT", path, body, error);
  if (answer == NULL)
    return FALSE;
  g_print ("%s: %s %" G_GINT64_FORMAT " -> %" G_GINT64_FORMAT " free of %" G_GINT64_FORMAT "\n",
           target->name, category, available, next, baseline);
  self->n_beds++;
  return TRUE;
}

static gboolean
move_unit (MhSimulator *self, Target *target, GError **error)
{
  g_autoptr(JsonObject) answer = NULL;
  g_autofree char *path = g_strdup_printf ("/api/v1/units/%s", target->unit_id);
  g_autofree char *body = NULL;
  char lat_text[G_ASCII_DTOSTR_BUF_SIZE], lon_text[G_ASCII_DTOSTR_BUF_SIZE];

  if (!target->located)
    {
      g_autoptr(JsonObject) unit = get_own (self, target, "units", target->unit_id);

      if (unit == NULL)
        return FALSE;
      /* A unit with no position yet starts from the centre of Paris. */
      target->lat = json_object_get_double_member_with_default (unit, "lat", 48.8566);
      target->lon = json_object_get_double_member_with_default (unit, "lon", 2.3522);
      if (json_object_get_null_member (unit, "lat"))
        target->lat = 48.8566, target->lon = 2.3522;
      target->heading = g_rand_double_range (self->rand, 0, 2 * G_PI);
      target->located = TRUE;
    }

  /* Mostly straight on, sometimes a turn; kept within Ile-de-France. */
  target->heading += g_rand_double_range (self->rand, -0.5, 0.5);
  target->lat += STEP_DEGREES * cos (target->heading);
  target->lon += STEP_DEGREES * sin (target->heading) / cos (target->lat * G_PI / 180);
  if (target->lat < 48.5 || target->lat > 49.1 || target->lon < 1.9 || target->lon > 2.9)
    {
      target->heading += G_PI;
      target->lat = CLAMP (target->lat, 48.5, 49.1);
      target->lon = CLAMP (target->lon, 1.9, 2.9);
    }

  g_ascii_formatd (lat_text, sizeof lat_text, "%.5f", target->lat);
  g_ascii_formatd (lon_text, sizeof lon_text, "%.5f", target->lon);
  body = g_strdup_printf ("{\"lat\": %s, \"lon\": %s, \"accuracy_m\": 15}", lat_text, lon_text);
  answer = request_object (self, target, "PATCH", path, body, error);
  if (answer == NULL)
    return FALSE;
  g_print ("%s: at %s, %s\n", target->name, lat_text, lon_text);
  self->n_moves++;
  return TRUE;
}

static gboolean
post_message (MhSimulator *self, Target *target, GError **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autofree char *body = NULL;
  const char *channel = "broadcast";
  const char *text;
  guint n_channels = self->channels->len;

  /* Half to a hospital's channel, half to everyone. */
  if (n_channels > 0 && g_rand_boolean (self->rand))
    channel = g_ptr_array_index (self->channels,
                                 (guint) g_rand_int_range (self->rand, 0, (gint32) n_channels));
  text = message_bodies[g_rand_int_range (self->rand, 0, G_N_ELEMENTS (message_bodies))];

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "channel");
  json_builder_add_string_value (builder, channel);
  json_builder_set_member_name (builder, "body");
  json_builder_add_string_value (builder, text);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  body = json_to_string (root, FALSE);

  answer = request_object (self, target, "POST", "/api/v1/messages", body, error);
  if (answer == NULL)
    return FALSE;
  g_print ("%s to %s: %s\n", target->name, channel, text);
  self->n_messages++;
  return TRUE;
}

static void
keep_first_error (GError **error, GError *local_error)
{
  if (local_error == NULL)
    return;
  if (error != NULL && *error == NULL)
    g_propagate_error (error, local_error);
  else
    g_error_free (local_error);
}

static void
mh_simulator_finalize (GObject *object)
{
  MhSimulator *self = MH_SIMULATOR (object);

  g_clear_object (&self->session);
  g_clear_pointer (&self->rand, g_rand_free);
  g_clear_pointer (&self->targets, g_ptr_array_unref);
  g_clear_pointer (&self->channels, g_ptr_array_unref);
  G_OBJECT_CLASS (mh_simulator_parent_class)->finalize (object);
}

static void
mh_simulator_class_init (MhSimulatorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mh_simulator_finalize;
}

static void
mh_simulator_init (MhSimulator *self)
{
  g_autoptr(GProxyResolver) direct = g_simple_proxy_resolver_new (NULL, NULL);

  /* Loopback only: no proxy, and no GSettings lookup for one. */
  self->session = soup_session_new_with_options ("timeout", REQUEST_TIMEOUT_S, "proxy-resolver",
                                                 direct, NULL);
  self->targets = g_ptr_array_new_with_free_func ((GDestroyNotify) target_free);
  self->channels = g_ptr_array_new_with_free_func (g_free);
}

MhSimulator *
mh_simulator_new (const char *const *data_dirs, const char *const *channels, guint32 seed,
                  GError **error)
{
  g_autoptr(MhSimulator) self = NULL;

  g_return_val_if_fail (data_dirs != NULL, NULL);

  self = g_object_new (MH_TYPE_SIMULATOR, NULL);
  self->rand = g_rand_new_with_seed (seed);
  for (guint i = 0; data_dirs[i] != NULL; i++)
    {
      Target *target = target_new (data_dirs[i], error);

      if (target == NULL)
        return NULL;
      g_ptr_array_add (self->targets, target);
    }
  for (guint i = 0; channels != NULL && channels[i] != NULL; i++)
    g_ptr_array_add (self->channels, g_strdup (channels[i]));
  if (self->targets->len == 0)
    {
      g_set_error_literal (error, MH_NODE_ERROR, MH_NODE_ERROR_INVALID,
                           _("no node to drive: give at least one data directory"));
      return NULL;
    }
  return g_steal_pointer (&self);
}

guint
mh_simulator_step (MhSimulator *self, GError **error)
{
  g_autoptr(GPtrArray) desks = g_ptr_array_new ();
  GError *first_error = NULL;
  guint writes = 0;
  gboolean tried = FALSE;

  g_return_val_if_fail (MH_IS_SIMULATOR (self), 0);

  self->round++;
  for (guint i = 0; i < self->targets->len; i++)
    {
      Target *target = g_ptr_array_index (self->targets, i);
      GError *local_error = NULL;

      if (!target_identify (self, target, &local_error))
        {
          tried = TRUE;
          keep_first_error (&first_error, local_error);
          continue;
        }
      if (target->unit_id != NULL)
        {
          tried = TRUE;
          if (move_unit (self, target, &local_error))
            writes++;
          keep_first_error (&first_error, local_error);
        }
      if (target->hospital_id != NULL)
        g_ptr_array_add (desks, target);
    }

  if (desks->len > 0)
    {
      Target *desk = g_ptr_array_index (desks, (guint) g_rand_int_range (self->rand, 0,
                                                                       (gint32) desks->len));
      GError *local_error = NULL;

      tried = TRUE;
      if (change_beds (self, desk, &local_error))
        writes++;
      keep_first_error (&first_error, local_error);
    }

  if (self->round % MESSAGE_EVERY == 1)
    {
      Target *author = g_ptr_array_index (self->targets,
                                          (guint) g_rand_int_range (self->rand, 0,
                                                                    (gint32) self->targets->len));
      GError *local_error = NULL;

      tried = TRUE;
      if (author->role != NULL && post_message (self, author, &local_error))
        writes++;
      keep_first_error (&first_error, local_error);
    }

  if (first_error != NULL)
    {
      if (writes == 0 && tried)
        g_propagate_error (error, first_error);
      else
        {
          g_message ("%s", first_error->message);
          g_error_free (first_error);
        }
    }
  return writes;
}

void
mh_simulator_get_counts (MhSimulator *self, guint *beds, guint *moves, guint *messages)
{
  g_return_if_fail (MH_IS_SIMULATOR (self));

  if (beds)
    *beds = self->n_beds;
  if (moves)
    *moves = self->n_moves;
  if (messages)
    *messages = self->n_messages;
}

/* mh-hospital-list.c: the node's hospitals as a live GListModel
 *
 * MhHospitalList holds one MhHospitalItem per hospital the node knows, in
 * the order of mh_node_list_hospitals () (name, then id). It reads them all
 * once; after that the store's "changed" signal names each row a commit
 * wrote, and only the hospitals behind those rows are read again, at the
 * next idle (a catch-up writes many rows of one hospital at once). An item
 * whose values changed notifies those properties, and "hospital" whenever
 * anything did; items-changed is emitted only when a hospital appears,
 * goes, or moves because it was renamed. */
#define G_LOG_DOMAIN "medhead"

#include "config.h"

#include "mh-hospital-list.h"
#include "mh-json.h"

/* ------------------------------------------------------------------------ */
/* MhHospitalItem                                                           */

struct _MhHospitalItem
{
  GObject parent_instance;

  /* Owned References */
  char *id;
  JsonObject *hospital;
};

G_DEFINE_FINAL_TYPE (MhHospitalItem, mh_hospital_item, G_TYPE_OBJECT)

enum
{
  ITEM_PROP_0,
  ITEM_PROP_ID,
  ITEM_PROP_NAME,
  ITEM_PROP_CITY,
  ITEM_PROP_LATITUDE,
  ITEM_PROP_LONGITUDE,
  ITEM_PROP_EMS_TRAFFIC,
  ITEM_PROP_FACILITY,
  ITEM_PROP_CLINICAL,
  ITEM_PROP_OFFLOAD,
  ITEM_PROP_FREE_BEDS,
  ITEM_PROP_STALE,
  ITEM_PROP_BEDS,
  ITEM_PROP_HOSPITAL,
  N_ITEM_PROPS
};

static GParamSpec *item_properties[N_ITEM_PROPS];

/* The string members behind the string properties, in property order. */
static const struct
{
  guint prop;
  const char *member;
} string_members[] = {
  { ITEM_PROP_NAME, "name" },
  { ITEM_PROP_CITY, "city" },
  { ITEM_PROP_EMS_TRAFFIC, "ems_traffic" },
  { ITEM_PROP_FACILITY, "facility" },
  { ITEM_PROP_CLINICAL, "clinical" },
  { ITEM_PROP_OFFLOAD, "offload" },
};

static double
get_double (JsonObject *object, const char *member)
{
  if (object == NULL || !json_object_has_member (object, member)
      || json_object_get_null_member (object, member))
    return 0;
  return json_object_get_double_member (object, member);
}

static JsonObject *
get_beds (JsonObject *hospital)
{
  if (hospital == NULL || !json_object_has_member (hospital, "beds")
      || json_object_get_null_member (hospital, "beds"))
    return NULL;
  return json_object_get_object_member (hospital, "beds");
}

static gint64
free_beds_of (JsonObject *hospital, const char *category)
{
  JsonObject *beds = get_beds (hospital);
  g_autoptr (GList) members = NULL;
  gint64 total = 0;

  if (beds == NULL)
    return 0;
  members = json_object_get_members (beds);
  for (GList *l = members; l != NULL; l = l->next)
    if (category == NULL || g_str_equal (category, l->data))
      total += json_object_get_int_member_with_default (json_object_get_object_member (beds,
                                                                                       l->data),
                                                        "free", 0);
  return total;
}

/* Stale unless some count in @category (any when NULL) is fresh. */
static gboolean
stale_of (JsonObject *hospital, const char *category)
{
  JsonObject *beds = get_beds (hospital);
  g_autoptr (GList) members = NULL;

  if (beds == NULL)
    return TRUE;
  members = json_object_get_members (beds);
  for (GList *l = members; l != NULL; l = l->next)
    if ((category == NULL || g_str_equal (category, l->data))
        && !json_object_get_boolean_member_with_default (json_object_get_object_member (beds,
                                                                                        l->data),
                                                         "stale", FALSE))
      return FALSE;
  return TRUE;
}

static gboolean
objects_equal (JsonObject *a, JsonObject *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return json_object_equal (a, b);
}

/* Takes @hospital and notifies what differs from the values before. */
static gboolean
item_set_hospital (MhHospitalItem *self, JsonObject *hospital)
{
  g_autoptr (JsonObject) old = self->hospital;

  if (old != NULL && json_object_equal (old, hospital))
    {
      self->hospital = json_object_ref (old);
      json_object_unref (hospital);
      return FALSE;
    }
  self->hospital = hospital;
  if (old == NULL)
    return TRUE;

  g_object_freeze_notify (G_OBJECT (self));
  for (gsize i = 0; i < G_N_ELEMENTS (string_members); i++)
    if (g_strcmp0 (mh_json_get_string (old, string_members[i].member),
                   mh_json_get_string (hospital, string_members[i].member))
        != 0)
      g_object_notify_by_pspec (G_OBJECT (self), item_properties[string_members[i].prop]);
  if (get_double (old, "lat") != get_double (hospital, "lat"))
    g_object_notify_by_pspec (G_OBJECT (self), item_properties[ITEM_PROP_LATITUDE]);
  if (get_double (old, "lon") != get_double (hospital, "lon"))
    g_object_notify_by_pspec (G_OBJECT (self), item_properties[ITEM_PROP_LONGITUDE]);
  if (!objects_equal (get_beds (old), get_beds (hospital)))
    g_object_notify_by_pspec (G_OBJECT (self), item_properties[ITEM_PROP_BEDS]);
  if (free_beds_of (old, NULL) != free_beds_of (hospital, NULL))
    g_object_notify_by_pspec (G_OBJECT (self), item_properties[ITEM_PROP_FREE_BEDS]);
  if (stale_of (old, NULL) != stale_of (hospital, NULL))
    g_object_notify_by_pspec (G_OBJECT (self), item_properties[ITEM_PROP_STALE]);
  g_object_notify_by_pspec (G_OBJECT (self), item_properties[ITEM_PROP_HOSPITAL]);
  g_object_thaw_notify (G_OBJECT (self));
  return TRUE;
}

static void
mh_hospital_item_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MhHospitalItem *self = MH_HOSPITAL_ITEM (object);

  for (gsize i = 0; i < G_N_ELEMENTS (string_members); i++)
    if (string_members[i].prop == prop_id)
      {
        g_value_set_string (value, mh_json_get_string (self->hospital, string_members[i].member));
        return;
      }
  switch (prop_id)
    {
    case ITEM_PROP_ID:
      g_value_set_string (value, self->id);
      break;
    case ITEM_PROP_LATITUDE:
      g_value_set_double (value, get_double (self->hospital, "lat"));
      break;
    case ITEM_PROP_LONGITUDE:
      g_value_set_double (value, get_double (self->hospital, "lon"));
      break;
    case ITEM_PROP_FREE_BEDS:
      g_value_set_int64 (value, free_beds_of (self->hospital, NULL));
      break;
    case ITEM_PROP_STALE:
      g_value_set_boolean (value, stale_of (self->hospital, NULL));
      break;
    case ITEM_PROP_BEDS:
      g_value_set_boxed (value, get_beds (self->hospital));
      break;
    case ITEM_PROP_HOSPITAL:
      g_value_set_boxed (value, self->hospital);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mh_hospital_item_finalize (GObject *object)
{
  MhHospitalItem *self = MH_HOSPITAL_ITEM (object);

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->hospital, json_object_unref);
  G_OBJECT_CLASS (mh_hospital_item_parent_class)->finalize (object);
}

static void
mh_hospital_item_class_init (MhHospitalItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mh_hospital_item_get_property;
  object_class->finalize = mh_hospital_item_finalize;

  item_properties[ITEM_PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_CITY] = g_param_spec_string ("city", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_LATITUDE] = g_param_spec_double ("latitude", NULL, NULL, -90, 90, 0,
                                                             flags);
  item_properties[ITEM_PROP_LONGITUDE] = g_param_spec_double ("longitude", NULL, NULL, -180, 180,
                                                              0, flags);
  item_properties[ITEM_PROP_EMS_TRAFFIC] = g_param_spec_string ("ems-traffic", NULL, NULL, NULL,
                                                                flags);
  item_properties[ITEM_PROP_FACILITY] = g_param_spec_string ("facility", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_CLINICAL] = g_param_spec_string ("clinical", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_OFFLOAD] = g_param_spec_string ("offload", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_FREE_BEDS] = g_param_spec_int64 ("free-beds", NULL, NULL, 0,
                                                             G_MAXINT64, 0, flags);
  item_properties[ITEM_PROP_STALE] = g_param_spec_boolean ("stale", NULL, NULL, TRUE, flags);
  item_properties[ITEM_PROP_BEDS] = g_param_spec_boxed ("beds", NULL, NULL, JSON_TYPE_OBJECT,
                                                        flags);
  item_properties[ITEM_PROP_HOSPITAL] = g_param_spec_boxed ("hospital", NULL, NULL,
                                                            JSON_TYPE_OBJECT, flags);
  g_object_class_install_properties (object_class, N_ITEM_PROPS, item_properties);
}

static void
mh_hospital_item_init (MhHospitalItem *self)
{
}

static MhHospitalItem *
mh_hospital_item_new (const char *id, JsonObject *hospital)
{
  MhHospitalItem *self = g_object_new (MH_TYPE_HOSPITAL_ITEM, NULL);

  self->id = g_strdup (id);
  self->hospital = hospital;
  return self;
}

const char *
mh_hospital_item_get_id (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), NULL);
  return self->id;
}

const char *
mh_hospital_item_get_name (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), NULL);
  return mh_json_get_string (self->hospital, "name");
}

const char *
mh_hospital_item_get_city (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), NULL);
  return mh_json_get_string (self->hospital, "city");
}

double
mh_hospital_item_get_latitude (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), 0);
  return get_double (self->hospital, "lat");
}

double
mh_hospital_item_get_longitude (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), 0);
  return get_double (self->hospital, "lon");
}

const char *
mh_hospital_item_get_ems_traffic (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), NULL);
  return mh_json_get_string (self->hospital, "ems_traffic");
}

const char *
mh_hospital_item_get_facility (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), NULL);
  return mh_json_get_string (self->hospital, "facility");
}

const char *
mh_hospital_item_get_clinical (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), NULL);
  return mh_json_get_string (self->hospital, "clinical");
}

const char *
mh_hospital_item_get_offload (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), NULL);
  return mh_json_get_string (self->hospital, "offload");
}

gint64
mh_hospital_item_get_free_beds (MhHospitalItem *self, const char *category)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), 0);
  return free_beds_of (self->hospital, category);
}

gboolean
mh_hospital_item_get_stale (MhHospitalItem *self, const char *category)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), TRUE);
  return stale_of (self->hospital, category);
}

JsonObject *
mh_hospital_item_get_hospital (MhHospitalItem *self)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_ITEM (self), NULL);
  return self->hospital;
}

/* ------------------------------------------------------------------------ */
/* MhHospitalList                                                           */

struct _MhHospitalList
{
  GObject parent_instance;

  /* Borrowed References */
  MhNode *node; /* weak: the node may hold this list (get_for_node) */

  /* Owned References */
  GPtrArray *items;    /* MhHospitalItem, by name then id */
  GHashTable *by_id;   /* id -> MhHospitalItem (borrowed from items) */
  GHashTable *pending; /* ids of hospitals to read again */
  gboolean reload_pending;
  guint flush_id;
  guint stale_timer_id;
};

static void mh_hospital_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MhHospitalList, mh_hospital_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      mh_hospital_list_model_init))

/* Counts turn stale with time alone: read everything again this often. */
#define STALE_CHECK_SECONDS 60

/* The order of mh_node_list_hospitals (): SQLite's binary collation. */
static int
compare_keys (const char *name_a, const char *id_a, const char *name_b, const char *id_b)
{
  int c = g_strcmp0 (name_a, name_b);

  return c != 0 ? c : g_strcmp0 (id_a, id_b);
}

/* Where an item named @name with @id goes among the items. */
static guint
find_position (MhHospitalList *self, const char *name, const char *id)
{
  guint low = 0, high = self->items->len;

  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      MhHospitalItem *item = g_ptr_array_index (self->items, middle);

      if (compare_keys (mh_hospital_item_get_name (item), item->id, name, id) < 0)
        low = middle + 1;
      else
        high = middle;
    }
  return low;
}

static gboolean
find_item (MhHospitalList *self, MhHospitalItem *item, guint *position)
{
  return g_ptr_array_find (self->items, item, position);
}

static void
remove_item (MhHospitalList *self, MhHospitalItem *item)
{
  guint position;

  if (!find_item (self, item, &position))
    return;
  g_hash_table_remove (self->by_id, item->id);
  g_ptr_array_remove_index (self->items, position);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 0);
}

static void
insert_item (MhHospitalList *self, MhHospitalItem *item, gboolean emit)
{
  guint position = find_position (self, mh_hospital_item_get_name (item), item->id);

  g_ptr_array_insert (self->items, (int) position, item);
  g_hash_table_insert (self->by_id, item->id, item);
  if (emit)
    g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
}

/* Brings one hospital up to date from @hospital (taken), or removes it
 * when @hospital is NULL. */
static void
apply_hospital (MhHospitalList *self, const char *id, JsonObject *hospital, gboolean emit)
{
  MhHospitalItem *item = g_hash_table_lookup (self->by_id, id);
  g_autofree char *old_name = NULL;
  guint position;

  if (hospital == NULL)
    {
      if (item != NULL)
        remove_item (self, item);
      return;
    }
  if (item == NULL)
    {
      insert_item (self, mh_hospital_item_new (id, hospital), emit);
      return;
    }
  old_name = g_strdup (mh_hospital_item_get_name (item));
  if (!item_set_hospital (item, hospital))
    return;
  if (g_strcmp0 (old_name, mh_hospital_item_get_name (item)) == 0)
    return;
  /* Renamed: it moves to keep the order. */
  g_object_ref (item);
  if (find_item (self, item, &position))
    {
      g_ptr_array_remove_index (self->items, position);
      g_hash_table_remove (self->by_id, item->id);
      g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 0);
    }
  insert_item (self, item, emit);
}

static void
load_all (MhHospitalList *self, gboolean emit)
{
  g_autoptr (JsonArray) hospitals = NULL;
  g_autoptr (GHashTable) seen = NULL;
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GError) error = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (self->node == NULL)
    return;
  hospitals = mh_node_list_hospitals (self->node, &error);
  if (hospitals == NULL)
    {
      g_warning ("listing hospitals: %s", error->message);
      return;
    }
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (!emit && self->items->len == 0)
    {
      /* The first load: already in order. */
      for (guint i = 0; i < json_array_get_length (hospitals); i++)
        {
          JsonObject *h = json_array_get_object_element (hospitals, i);
          const char *id = mh_json_get_string (h, "id");
          MhHospitalItem *item;

          if (id == NULL || g_hash_table_contains (self->by_id, id))
            continue;
          item = mh_hospital_item_new (id, json_object_ref (h));
          g_ptr_array_add (self->items, item);
          g_hash_table_insert (self->by_id, item->id, item);
        }
      return;
    }
  for (guint i = 0; i < json_array_get_length (hospitals); i++)
    {
      JsonObject *h = json_array_get_object_element (hospitals, i);
      const char *id = mh_json_get_string (h, "id");

      if (id == NULL)
        continue;
      g_hash_table_add (seen, g_strdup (id));
      apply_hospital (self, id, json_object_ref (h), emit);
    }
  g_hash_table_iter_init (&iter, self->by_id);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (seen, key))
      g_ptr_array_add (gone, g_object_ref (value));
  for (guint i = 0; i < gone->len; i++)
    remove_item (self, g_ptr_array_index (gone, i));
}

static gboolean
flush_idle_cb (gpointer user_data)
{
  MhHospitalList *self = user_data;

  self->flush_id = 0;
  mh_hospital_list_flush (self);
  return G_SOURCE_REMOVE;
}

static gboolean
stale_timer_cb (gpointer user_data)
{
  mh_hospital_list_reload (user_data);
  return G_SOURCE_CONTINUE;
}

/* The hospital a row of these tables belongs to: hospital and
 * hospital_status rows are the hospital's id, beds rows "ID/CATEGORY". */
static void
store_changed_cb (MhHospitalList *self, const char *table, const char *row, MhStore *store)
{
  const char *slash;

  if (g_strcmp0 (table, "hospital") != 0 && g_strcmp0 (table, "hospital_status") != 0
      && g_strcmp0 (table, "beds") != 0)
    return;
  if (row == NULL)
    self->reload_pending = TRUE;
  else if (g_str_equal (table, "beds") && (slash = strchr (row, '/')) != NULL)
    g_hash_table_add (self->pending, g_strndup (row, (gsize) (slash - row)));
  else
    g_hash_table_add (self->pending, g_strdup (row));
  /* Before the redraw (G_PRIORITY_HIGH_IDLE + 20) that would show it. */
  if (self->flush_id == 0)
    self->flush_id = g_idle_add_full (G_PRIORITY_HIGH_IDLE, flush_idle_cb, self, NULL);
}

static GType
mh_hospital_list_get_item_type (GListModel *model)
{
  return MH_TYPE_HOSPITAL_ITEM;
}

static guint
mh_hospital_list_get_n_items (GListModel *model)
{
  return MH_HOSPITAL_LIST (model)->items->len;
}

static gpointer
mh_hospital_list_get_item (GListModel *model, guint position)
{
  MhHospitalList *self = MH_HOSPITAL_LIST (model);

  if (position >= self->items->len)
    return NULL;
  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
mh_hospital_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = mh_hospital_list_get_item_type;
  iface->get_n_items = mh_hospital_list_get_n_items;
  iface->get_item = mh_hospital_list_get_item;
}

static void
mh_hospital_list_dispose (GObject *object)
{
  MhHospitalList *self = MH_HOSPITAL_LIST (object);

  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_clear_handle_id (&self->stale_timer_id, g_source_remove);
  if (self->node != NULL)
    {
      g_signal_handlers_disconnect_by_data (mh_node_get_store (self->node), self);
      g_object_remove_weak_pointer (G_OBJECT (self->node), (gpointer *) &self->node);
      self->node = NULL;
    }
  G_OBJECT_CLASS (mh_hospital_list_parent_class)->dispose (object);
}

static void
mh_hospital_list_finalize (GObject *object)
{
  MhHospitalList *self = MH_HOSPITAL_LIST (object);

  g_clear_pointer (&self->by_id, g_hash_table_unref);
  g_clear_pointer (&self->items, g_ptr_array_unref);
  g_clear_pointer (&self->pending, g_hash_table_unref);
  G_OBJECT_CLASS (mh_hospital_list_parent_class)->finalize (object);
}

static void
mh_hospital_list_class_init (MhHospitalListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mh_hospital_list_dispose;
  object_class->finalize = mh_hospital_list_finalize;
}

static void
mh_hospital_list_init (MhHospitalList *self)
{
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * mh_hospital_list_new:
 * @node: the node to follow; not kept alive by the list
 *
 * Returns: (transfer full): the hospitals of @node, kept current
 */
MhHospitalList *
mh_hospital_list_new (MhNode *node)
{
  MhHospitalList *self;

  g_return_val_if_fail (MH_IS_NODE (node), NULL);

  self = g_object_new (MH_TYPE_HOSPITAL_LIST, NULL);
  self->node = node;
  g_object_add_weak_pointer (G_OBJECT (node), (gpointer *) &self->node);
  g_signal_connect_object (mh_node_get_store (node), "changed", G_CALLBACK (store_changed_cb),
                           self, G_CONNECT_SWAPPED);
  load_all (self, FALSE);
  self->stale_timer_id = g_timeout_add_seconds (STALE_CHECK_SECONDS, stale_timer_cb, self);
  return self;
}

/**
 * mh_hospital_list_get_for_node:
 *
 * Returns: (transfer none): the list that @node keeps for its views
 */
MhHospitalList *
mh_hospital_list_get_for_node (MhNode *node)
{
  MhHospitalList *self;

  g_return_val_if_fail (MH_IS_NODE (node), NULL);

  self = g_object_get_data (G_OBJECT (node), "mh-hospital-list");
  if (self == NULL)
    {
      self = mh_hospital_list_new (node);
      g_object_set_data_full (G_OBJECT (node), "mh-hospital-list", self, g_object_unref);
    }
  return self;
}

MhHospitalItem *
mh_hospital_list_lookup (MhHospitalList *self, const char *id)
{
  g_return_val_if_fail (MH_IS_HOSPITAL_LIST (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);
  return g_hash_table_lookup (self->by_id, id);
}

void
mh_hospital_list_flush (MhHospitalList *self)
{
  g_autoptr (GHashTable) pending = NULL;
  GHashTableIter iter;
  gpointer key;

  g_return_if_fail (MH_IS_HOSPITAL_LIST (self));

  g_clear_handle_id (&self->flush_id, g_source_remove);
  if (self->node == NULL)
    return;
  if (self->reload_pending)
    {
      self->reload_pending = FALSE;
      g_hash_table_remove_all (self->pending);
      load_all (self, TRUE);
      return;
    }
  /* Taken first: a handler of the signals below may write to the store. */
  pending = g_steal_pointer (&self->pending);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_iter_init (&iter, pending);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autoptr (GError) error = NULL;
      JsonObject *hospital = mh_node_get_hospital (self->node, key, &error);

      if (hospital == NULL && !g_error_matches (error, MH_NODE_ERROR, MH_NODE_ERROR_NOT_FOUND))
        {
          g_warning ("hospital %s: %s", (const char *) key, error->message);
          continue;
        }
      apply_hospital (self, key, hospital, TRUE);
    }
}

void
mh_hospital_list_reload (MhHospitalList *self)
{
  g_return_if_fail (MH_IS_HOSPITAL_LIST (self));

  g_clear_handle_id (&self->flush_id, g_source_remove);
  self->reload_pending = FALSE;
  g_hash_table_remove_all (self->pending);
  load_all (self, TRUE);
}

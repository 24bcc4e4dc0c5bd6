/* mh-trust.c: admissions and revocations, signed, chained to the network key
 *
 * A record:
 *   {"type": "admission" | "revocation", "network": NETWORK_KEY,
 *    "subject": SITE_ID or FINGERPRINT, "role": "hub"|"hospital"|"ambulance"
 *    (admission), "cutoff": OSEQ (revocation), "issuer_key": KEY,
 *    "issued_at": UNIX_SECONDS, "chain": [ISSUER_ADMISSION] (hub issuers),
 *    "sig": BASE64}
 * The signature covers a fixed text made of the fields (signed_text()), so
 * no JSON canonicalisation is needed: the same fields sign the same bytes
 * on every node. The chain is not signed by the issuer: it is checked on
 * its own (an admission of the issuer's key, as a hub, by the network key).
 *
 * Subjects are compared by the 20 first base32 characters of the site id
 * (the fingerprint's 100 bits): a station may be admitted by the
 * fingerprint people read out, or by its site id or public key.
 *
 * The rules, the same on every node given the same records:
 * - a hub is admitted by an admission with role hub signed by the network key;
 * - a station is admitted by an admission signed by a hub key whose chain
 *   holds that hub's valid admission, and that hub is not revoked;
 * - a revocation counts when the network key signed it, or when a hub
 *   signed it for a site that hub admitted (or for itself); its cut-off is
 *   the lowest among those that count;
 * - a revoked site is refused whatever its admissions, and so are the
 *   stations of a revoked hub (they must be admitted again by another hub).
 */
#include "config.h"

#include <sqlite3.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "mh-sync-error.h"
#include "mh-trust.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

#define SIGNED_PREFIX "medhead-trust/1\n"
#define SUBJECT_KEY_CHARS 20
#define MAX_KEY_FILE 4096
/* Where mh_trust_install_filter() leaves the records on the store. */
#define STORE_QUARK_NAME "mh-trust"

/* ------------------------------------------------------------------------ */
/* Records                                                                  */

static gboolean
fail (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
fail (GError **error, const char *format, ...)
{
  va_list args;

  if (error == NULL || *error != NULL)
    return FALSE;
  va_start (args, format);
  *error = g_error_new_valist (MH_SYNC_ERROR, MH_SYNC_ERROR_MALFORMED, format, args);
  va_end (args);
  return FALSE;
}

/**
 * mh_trust_subject_key:
 * @subject: a site id (26 lowercase base32 characters) or a fingerprint
 *   (with or without dashes, any case)
 *
 * Returns: (transfer full) (nullable): the 20 upper-case characters both
 *   share, or %NULL if @subject is neither
 */
char *
mh_trust_subject_key (const char *subject)
{
  g_autofree char *fingerprint = NULL;
  GString *key;

  if (subject == NULL)
    return NULL;
  if (strlen (subject) == MH_SITE_ID_LENGTH)
    {
      for (const char *p = subject; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '2' && *p <= '7')))
          return NULL;
      return g_ascii_strup (subject, SUBJECT_KEY_CHARS);
    }
  fingerprint = mh_fingerprint_normalize (subject, NULL);
  if (fingerprint == NULL)
    return NULL;
  key = g_string_new (NULL);
  for (const char *p = fingerprint; *p; p++)
    if (*p != '-')
      g_string_append_c (key, *p);
  if (key->len != SUBJECT_KEY_CHARS)
    {
      g_string_free (key, TRUE);
      return NULL;
    }
  return g_string_free (key, FALSE);
}

/* A subject is written one way only, so that no two records sign the same
 * text: a site id, or a fingerprint as mh_fingerprint_normalize() spells it. */
static gboolean
subject_is_canonical (const char *subject)
{
  g_autofree char *key = mh_trust_subject_key (subject);
  g_autofree char *fingerprint = NULL;

  if (key == NULL)
    return FALSE;
  if (strlen (subject) == MH_SITE_ID_LENGTH)
    return TRUE;
  fingerprint = mh_fingerprint_normalize (subject, NULL);
  return g_strcmp0 (fingerprint, subject) == 0;
}

static char *
signed_text (const char *type, const char *network, const char *subject, const char *role,
             gint64 cutoff, const char *issuer_key, gint64 issued_at)
{
  return g_strdup_printf (SIGNED_PREFIX "%s\n%s\n%s\n%s\n%" G_GINT64_FORMAT "\n%s\n%"
                          G_GINT64_FORMAT "\n", type, network, subject, role ? role : "",
                          cutoff, issuer_key, issued_at);
}

static JsonNode *
make_record (MhIdentity *issuer, const char *type, const char *network_key, const char *subject,
             const char *role, gint64 cutoff, JsonNode *issuer_admission, gint64 issued_at,
             GError **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(GBytes) sig = NULL;
  g_autofree char *text = NULL;
  g_autofree char *sig_b64 = NULL;
  const char *issuer_key = mh_identity_get_signing_public_key (issuer);

  if (!subject_is_canonical (subject))
    {
      fail (error, _("“%s” is neither a site id nor a fingerprint"), subject);
      return NULL;
    }
  if (!mh_public_key_get_ids (network_key, NULL, NULL))
    {
      fail (error, _("“%s” is not a network key"), network_key);
      return NULL;
    }
  text = signed_text (type, network_key, subject, role, cutoff, issuer_key, issued_at);
  if (!mh_identity_sign (issuer, (const guint8 *) text, strlen (text), &sig, error))
    return NULL;
  sig_b64 = g_base64_encode (g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type);
  json_builder_set_member_name (builder, "network");
  json_builder_add_string_value (builder, network_key);
  json_builder_set_member_name (builder, "subject");
  json_builder_add_string_value (builder, subject);
  if (role != NULL)
    {
      json_builder_set_member_name (builder, "role");
      json_builder_add_string_value (builder, role);
    }
  else
    {
      json_builder_set_member_name (builder, "cutoff");
      json_builder_add_int_value (builder, cutoff);
    }
  json_builder_set_member_name (builder, "issuer_key");
  json_builder_add_string_value (builder, issuer_key);
  json_builder_set_member_name (builder, "issued_at");
  json_builder_add_int_value (builder, issued_at);
  if (issuer_admission != NULL)
    {
      json_builder_set_member_name (builder, "chain");
      json_builder_begin_array (builder);
      json_builder_add_value (builder, json_node_copy (issuer_admission));
      json_builder_end_array (builder);
    }
  json_builder_set_member_name (builder, "sig");
  json_builder_add_string_value (builder, sig_b64);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/**
 * mh_trust_make_admission:
 * @issuer: the network key (for a hub) or an admitted hub (for a station)
 * @subject: the admitted site: site id or fingerprint
 * @role: "hub", "hospital" or "ambulance"
 * @issuer_admission: (nullable): the issuer's own admission when it is a hub
 */
JsonNode *
mh_trust_make_admission (MhIdentity *issuer, const char *network_key, const char *subject,
                         const char *role, JsonNode *issuer_admission, gint64 issued_at,
                         GError **error)
{
  g_return_val_if_fail (MH_IS_IDENTITY (issuer), NULL);
  g_return_val_if_fail (role != NULL, NULL);
  return make_record (issuer, "admission", network_key, subject, role, 0, issuer_admission,
                      issued_at, error);
}

/**
 * mh_trust_make_revocation:
 * @cutoff: the last sequence number of @subject's own changes that stay
 */
JsonNode *
mh_trust_make_revocation (MhIdentity *issuer, const char *network_key, const char *subject,
                          gint64 cutoff, JsonNode *issuer_admission, gint64 issued_at,
                          GError **error)
{
  g_return_val_if_fail (MH_IS_IDENTITY (issuer), NULL);
  return make_record (issuer, "revocation", network_key, subject, NULL, cutoff,
                      issuer_admission, issued_at, error);
}

typedef struct
{
  const char *type;
  const char *subject;
  const char *role;
  gint64 cutoff;
  const char *issuer_key;
  gint64 issued_at;
  JsonNode *chain; /* the issuer's admission, or NULL */
} Record;

static const char *
get_string (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
get_int (JsonObject *object, const char *name, gint64 *out)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
verify (const char *network_key, JsonNode *node, guint depth, Record *out, GError **error)
{
  JsonObject *object;
  const char *network, *sig_b64;
  g_autofree char *text = NULL;
  g_autofree guint8 *sig = NULL;
  g_autoptr(GBytes) sig_bytes = NULL;
  gsize sig_len = 0;
  Record record = { 0 };
  JsonNode *chain_node;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, _("a trust record is a JSON object"));
  object = json_node_get_object (node);
  record.type = get_string (object, "type");
  network = get_string (object, "network");
  record.subject = get_string (object, "subject");
  record.issuer_key = get_string (object, "issuer_key");
  sig_b64 = get_string (object, "sig");
  if (record.type == NULL || network == NULL || record.subject == NULL
      || record.issuer_key == NULL || sig_b64 == NULL
      || !get_int (object, "issued_at", &record.issued_at))
    return fail (error, _("a trust record lacks a field"));
  if (g_strcmp0 (network, network_key) != 0)
    return fail (error, _("the record belongs to another network"));
  if (!subject_is_canonical (record.subject))
    return fail (error, _("the record's subject is neither a site id nor a fingerprint"));
  if (g_str_equal (record.type, "admission"))
    {
      record.role = get_string (object, "role");
      if (record.role == NULL
          || !(g_str_equal (record.role, "hub") || g_str_equal (record.role, "hospital")
               || g_str_equal (record.role, "ambulance")))
        return fail (error, _("an admission needs a role: hub, hospital or ambulance"));
    }
  else if (g_str_equal (record.type, "revocation"))
    {
      if (!get_int (object, "cutoff", &record.cutoff) || record.cutoff < 0)
        return fail (error, _("a revocation needs a cut-off"));
    }
  else
    return fail (error, _("unknown trust record type"));

  text = signed_text (record.type, network, record.subject, record.role, record.cutoff,
                      record.issuer_key, record.issued_at);
  sig = g_base64_decode (sig_b64, &sig_len);
  sig_bytes = g_bytes_new (sig, sig_len);
  if (!mh_identity_verify (record.issuer_key, (const guint8 *) text, strlen (text), sig_bytes))
    return fail (error, _("the record's signature does not verify"));

  chain_node = json_object_get_member (object, "chain");
  if (g_str_equal (record.issuer_key, network_key))
    {
      if (chain_node != NULL)
        return fail (error, _("a record of the network key has no chain"));
      if (record.role != NULL && !g_str_equal (record.role, "hub"))
        return fail (error, _("the network key admits hubs only"));
    }
  else
    {
      JsonArray *chain;
      Record issuer = { 0 };
      g_autofree char *issuer_site = NULL;
      g_autofree char *issuer_subject = NULL;
      g_autofree char *issuer_of_key = NULL;

      if (depth > 0)
        return fail (error, _("a hub's admission must be signed by the network key"));
      if (chain_node == NULL || !JSON_NODE_HOLDS_ARRAY (chain_node)
          || json_array_get_length (chain = json_node_get_array (chain_node)) != 1)
        return fail (error, _("a record of a hub carries the hub's admission"));
      if (!verify (network_key, json_array_get_element (chain, 0), depth + 1, &issuer, error))
        {
          g_prefix_error (error, _("the issuer's admission: "));
          return FALSE;
        }
      if (!g_str_equal (issuer.type, "admission") || !g_str_equal (issuer.role, "hub"))
        return fail (error, _("the issuer is not admitted as a hub"));
      if (!mh_public_key_get_ids (record.issuer_key, &issuer_site, NULL))
        return fail (error, _("the issuer's key is not an Ed25519 key"));
      issuer_subject = mh_trust_subject_key (issuer.subject);
      issuer_of_key = mh_trust_subject_key (issuer_site);
      if (g_strcmp0 (issuer_subject, issuer_of_key) != 0)
        return fail (error, _("the issuer's admission is for another site"));
      if (record.role != NULL && g_str_equal (record.role, "hub"))
        return fail (error, _("only the network key admits hubs"));
      record.chain = json_array_get_element (chain, 0);
    }
  if (out != NULL)
    *out = record;
  return TRUE;
}

/**
 * mh_trust_verify_record:
 *
 * Checks a record and its chain against @network_key alone (revocations
 * and the state of the issuer are the store's business).
 */
gboolean
mh_trust_verify_record (const char *network_key, JsonNode *record, GError **error)
{
  g_return_val_if_fail (network_key != NULL, FALSE);
  return verify (network_key, record, 0, NULL, error);
}

/* ------------------------------------------------------------------------ */
/* The network key file                                                     */

/**
 * mh_trust_parse_network_key:
 * @key_or_file: the key in base64, or a file that holds it
 *   (`network.pub`, as `medhead-node network create` writes it)
 */
char *
mh_trust_parse_network_key (const char *key_or_file, GError **error)
{
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (mh_public_key_get_ids (key_or_file, NULL, NULL))
    return g_strdup (key_or_file);
  if (g_file_test (key_or_file, G_FILE_TEST_IS_REGULAR))
    {
      if (!g_file_get_contents (key_or_file, &contents, &length, error))
        return NULL;
      g_strstrip (contents);
      if (length < MAX_KEY_FILE && mh_public_key_get_ids (contents, NULL, NULL))
        return g_steal_pointer (&contents);
    }
  fail (error, _("“%s” is neither a network key nor a file holding one"), key_or_file);
  return NULL;
}

/**
 * mh_trust_read_network_key:
 *
 * Returns: (transfer full) (nullable): the network key of the data folder
 *   @dir, or %NULL (without an error) when it has none
 */
char *
mh_trust_read_network_key (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, MH_TRUST_NETWORK_KEY_FILE, NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  return mh_trust_parse_network_key (path, error);
}

gboolean
mh_trust_write_network_key (const char *dir, const char *network_key, GError **error)
{
  g_autofree char *path = g_build_filename (dir, MH_TRUST_NETWORK_KEY_FILE, NULL);
  g_autofree char *text = g_strconcat (network_key, "\n", NULL);

  if (!mh_public_key_get_ids (network_key, NULL, NULL))
    return fail (error, _("“%s” is not a network key"), network_key);
  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error);
}

/* ------------------------------------------------------------------------ */
/* A replica's records                                                      */

typedef struct
{
  char *issuer_key; /* of the admission */
  char *issuer_subject; /* NULL: the network key */
  char *role;
  JsonNode *record;
} Admission;

static void
admission_free (gpointer data)
{
  Admission *admission = data;

  g_free (admission->issuer_key);
  g_free (admission->issuer_subject);
  g_free (admission->role);
  json_node_unref (admission->record);
  g_free (admission);
}

/* A record already checked, and what counts of it. */
typedef struct
{
  JsonNode *record;
  gboolean admission; /* or a revocation */
  char *key;          /* the subject's */
  char *role;
  gint64 cutoff;
  char *issuer_key;
  char *issuer_subject; /* the issuing hub's subject key; NULL: the network key */
} Entry;

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  json_node_unref (entry->record);
  g_free (entry->key);
  g_free (entry->role);
  g_free (entry->issuer_key);
  g_free (entry->issuer_subject);
  g_free (entry);
}

struct _MhTrust
{
  GObject parent_instance;

  MhStore *store;
  char *network_key;
  GPtrArray *records;      /* Entry*, each valid on its own */
  GHashTable *hashes;      /* hash of the record's text */
  GHashTable *admissions;  /* subject key -> GPtrArray of Admission* */
  GHashTable *cutoffs;     /* subject key -> gint64* (lowest counting cut-off) */
  GHashTable *seen;        /* subject key -> gint64* highest oseq applied */
  GHashTable *taken_back;  /* "key:cutoff" set: revocations already made retroactive */
  gint64 last_rowid;
};

G_DEFINE_FINAL_TYPE (MhTrust, mh_trust, G_TYPE_OBJECT)

static void
mh_trust_finalize (GObject *object)
{
  MhTrust *self = MH_TRUST (object);

  if (self->store != NULL)
    {
      mh_store_set_origin_filter (self->store, NULL, NULL);
      if (g_object_get_data (G_OBJECT (self->store), STORE_QUARK_NAME) == self)
        g_object_set_data (G_OBJECT (self->store), STORE_QUARK_NAME, NULL);
    }
  g_clear_object (&self->store);
  g_free (self->network_key);
  g_ptr_array_unref (self->records);
  g_hash_table_unref (self->hashes);
  g_hash_table_unref (self->admissions);
  g_hash_table_unref (self->cutoffs);
  g_hash_table_unref (self->taken_back);
  g_hash_table_unref (self->seen);
  G_OBJECT_CLASS (mh_trust_parent_class)->finalize (object);
}

static void
mh_trust_class_init (MhTrustClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mh_trust_finalize;
}

static void
mh_trust_init (MhTrust *self)
{
  self->records = g_ptr_array_new_with_free_func (entry_free);
  self->hashes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->admissions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) g_ptr_array_unref);
  self->cutoffs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->taken_back = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

static gboolean
exec (MhTrust *self, const char *sql, GError **error)
{
  char *message = NULL;

  if (sqlite3_exec (mh_store_get_db (self->store), sql, NULL, NULL, &message) != SQLITE_OK)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, _("trust records: %s"),
                   message ? message : "?");
      sqlite3_free (message);
      return FALSE;
    }
  return TRUE;
}

static char *
record_text (JsonNode *record)
{
  return json_to_string (record, FALSE);
}

/* Rebuilds the admissions and cut-offs from the records: the result depends
 * on the set of records only, never on their order. No signature is
 * checked again: every entry was checked when it was kept. */
static void
recompute (MhTrust *self)
{
  g_hash_table_remove_all (self->admissions);
  g_hash_table_remove_all (self->cutoffs);

  for (guint i = 0; i < self->records->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->records, i);
      Admission *admission;
      GPtrArray *list;

      if (!entry->admission)
        continue;
      admission = g_new0 (Admission, 1);
      admission->issuer_key = g_strdup (entry->issuer_key);
      admission->issuer_subject = g_strdup (entry->issuer_subject);
      admission->role = g_strdup (entry->role);
      admission->record = json_node_ref (entry->record);
      list = g_hash_table_lookup (self->admissions, entry->key);
      if (list == NULL)
        {
          list = g_ptr_array_new_with_free_func (admission_free);
          g_hash_table_insert (self->admissions, g_strdup (entry->key), list);
        }
      g_ptr_array_add (list, admission);
    }

  for (guint i = 0; i < self->records->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->records, i);
      gboolean counts;
      gint64 *cutoff;

      if (entry->admission)
        continue;
      if (entry->issuer_subject == NULL)
        counts = TRUE;
      else
        {
          /* a hub revokes itself, or a site it admitted */
          GPtrArray *list = g_hash_table_lookup (self->admissions, entry->key);

          counts = g_strcmp0 (entry->issuer_subject, entry->key) == 0;
          for (guint j = 0; !counts && list != NULL && j < list->len; j++)
            counts = g_str_equal (((Admission *) g_ptr_array_index (list, j))->issuer_key,
                                  entry->issuer_key);
        }
      if (!counts)
        continue;
      cutoff = g_hash_table_lookup (self->cutoffs, entry->key);
      if (cutoff == NULL)
        {
          cutoff = g_new (gint64, 1);
          *cutoff = entry->cutoff;
          g_hash_table_insert (self->cutoffs, g_strdup (entry->key), cutoff);
        }
      else if (entry->cutoff < *cutoff)
        *cutoff = entry->cutoff;
    }
}

/* Checks a record and keeps it once, as a copy of its own (the node may
 * belong to a parser's tree). Returns TRUE if it was new; FALSE with
 * @error set if it is not valid. */
static gboolean
remember (MhTrust *self, JsonNode *node, char **out_text, GError **error)
{
  g_autofree char *text = NULL;
  char *hash;
  Record record = { 0 };
  Entry *entry;

  if (!verify (self->network_key, node, 0, &record, error))
    return FALSE;
  text = record_text (node);
  hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
  if (g_hash_table_contains (self->hashes, hash))
    {
      g_free (hash);
      return FALSE;
    }
  g_hash_table_add (self->hashes, hash);
  entry = g_new0 (Entry, 1);
  entry->record = json_from_string (text, NULL);
  entry->admission = g_str_equal (record.type, "admission");
  entry->key = mh_trust_subject_key (record.subject);
  entry->role = g_strdup (record.role);
  entry->cutoff = record.cutoff;
  entry->issuer_key = g_strdup (record.issuer_key);
  if (record.chain != NULL)
    entry->issuer_subject =
      mh_trust_subject_key (get_string (json_node_get_object (record.chain), "subject"));
  g_ptr_array_add (self->records, entry);
  if (out_text != NULL)
    *out_text = g_steal_pointer (&text);
  return TRUE;
}

/**
 * mh_trust_reload:
 *
 * Reads the records another process (the command line) wrote since.
 *
 * Returns: %TRUE if anything new was read
 */
gboolean
mh_trust_reload (MhTrust *self)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gboolean changed = FALSE;

  g_return_val_if_fail (MH_IS_TRUST (self), FALSE);

  if (sqlite3_prepare_v2 (mh_store_get_db (self->store),
                          "SELECT rowid, record FROM _mh_trust WHERE rowid > ? ORDER BY rowid", -1,
                          &stmt, NULL) != SQLITE_OK)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, self->last_rowid);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      const char *text = (const char *) sqlite3_column_text (stmt, 1);

      self->last_rowid = sqlite3_column_int64 (stmt, 0);
      if (text == NULL || !json_parser_load_from_data (parser, text, -1, NULL))
        continue;
      changed |= remember (self, json_parser_get_root (parser), NULL, NULL);
    }
  if (changed)
    recompute (self);
  return changed;
}

/**
 * mh_trust_new:
 * @network_key: the network's public key, as the node was configured with it
 */
MhTrust *
mh_trust_new (MhStore *store, const char *network_key, GError **error)
{
  g_autoptr(MhTrust) self = NULL;

  g_return_val_if_fail (MH_IS_STORE (store), NULL);

  if (!mh_public_key_get_ids (network_key, NULL, NULL))
    {
      fail (error, _("“%s” is not a network key"), network_key);
      return NULL;
    }
  self = g_object_new (MH_TYPE_TRUST, NULL);
  self->store = g_object_ref (store);
  self->network_key = g_strdup (network_key);
  if (!exec (self, "CREATE TABLE IF NOT EXISTS _mh_trust (hash TEXT PRIMARY KEY,"
                   " record TEXT NOT NULL, added_at INTEGER);"
                   "CREATE TABLE IF NOT EXISTS _mh_trust_seen (subject TEXT PRIMARY KEY,"
                   " oseq INTEGER NOT NULL) WITHOUT ROWID;", error))
    return NULL;
  mh_trust_reload (self);
  return g_steal_pointer (&self);
}

const char *
mh_trust_get_network_key (MhTrust *self)
{
  g_return_val_if_fail (MH_IS_TRUST (self), NULL);
  return self->network_key;
}

/**
 * mh_trust_get_network_id:
 *
 * Returns: (transfer full): the network id: the fingerprint of its key
 */
char *
mh_trust_get_network_id (MhTrust *self)
{
  char *fingerprint = NULL;

  g_return_val_if_fail (MH_IS_TRUST (self), NULL);
  mh_public_key_get_ids (self->network_key, NULL, &fingerprint);
  return fingerprint;
}

/**
 * mh_trust_add:
 * @record: a record, with its chain
 *
 * Checks @record and keeps it (in the replica, and so for the peers).
 *
 * Returns: 1 if it was new, 0 if it was known or refused (@error set)
 */
guint
mh_trust_add (MhTrust *self, JsonNode *record, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *text = NULL;
  g_autofree char *hash = NULL;
  sqlite3 *db;

  g_return_val_if_fail (MH_IS_TRUST (self), 0);

  if (!remember (self, record, &text, error))
    return 0;
  recompute (self);
  hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
  db = mh_store_get_db (self->store);
  if (sqlite3_prepare_v2 (db, "INSERT OR IGNORE INTO _mh_trust (hash, record, added_at) "
                              "VALUES (?, ?, ?)", -1, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s", sqlite3_errmsg (db));
      return 0;
    }
  sqlite3_bind_text (stmt, 1, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, text, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time () / 1000);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      /* Kept in memory, for this run only. */
      g_set_error (error, MH_SYNC_ERROR, MH_SYNC_ERROR_FAILED, "%s", sqlite3_errmsg (db));
      return 0;
    }
  return 1;
}

/**
 * mh_trust_list:
 *
 * Returns: (transfer full): every valid record known, to hand to a peer
 */
JsonArray *
mh_trust_list (MhTrust *self)
{
  JsonArray *array = json_array_new ();

  g_return_val_if_fail (MH_IS_TRUST (self), array);
  for (guint i = 0; i < self->records->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->records, i);
      json_array_add_element (array, json_node_copy (entry->record));
    }
  return array;
}

static gboolean
is_revoked (MhTrust *self, const char *key, gint64 *out_cutoff)
{
  gint64 *cutoff = g_hash_table_lookup (self->cutoffs, key);

  if (cutoff == NULL)
    return FALSE;
  if (out_cutoff != NULL)
    *out_cutoff = *cutoff;
  return TRUE;
}

static Admission *
valid_admission (MhTrust *self, const char *key)
{
  GPtrArray *list = g_hash_table_lookup (self->admissions, key);

  for (guint i = 0; list != NULL && i < list->len; i++)
    {
      Admission *admission = g_ptr_array_index (list, i);

      /* by the network key (a hub), or by a hub that is not revoked */
      if (admission->issuer_subject == NULL
          || !is_revoked (self, admission->issuer_subject, NULL))
        return admission;
    }
  return NULL;
}

/**
 * mh_trust_check_site:
 * @out_role: (out) (optional): the role it was admitted with
 * @out_cutoff: (out) (optional): the cut-off when it is revoked
 */
MhTrustState
mh_trust_check_site (MhTrust *self, const char *site_id, char **out_role, gint64 *out_cutoff)
{
  g_autofree char *key = mh_trust_subject_key (site_id);
  Admission *admission;

  g_return_val_if_fail (MH_IS_TRUST (self), MH_TRUST_NONE);

  if (key == NULL)
    return MH_TRUST_NONE;
  if (is_revoked (self, key, out_cutoff))
    return MH_TRUST_REVOKED;
  admission = valid_admission (self, key);
  if (admission == NULL)
    return MH_TRUST_NONE;
  if (out_role != NULL)
    *out_role = g_strdup (admission->role);
  return MH_TRUST_ADMITTED;
}

/**
 * mh_trust_get_role:
 * @site_id: a site id
 *
 * The role @site_id was admitted with, for ownership and need to know: its
 * site row only claims one. A revoked site keeps the role its changes up to
 * the cut-off were written under. Valid admissions that disagree (two hubs
 * admitting one station as hospital and ambulance) give no role, so that
 * every node decides the same whatever order they arrived in; the network's
 * own admission (hub) wins over a hub's.
 *
 * Returns: (transfer none) (nullable): "hub", "hospital" or "ambulance", or
 *   %NULL when @site_id has no valid admission, or contradictory ones
 */
const char *
mh_trust_get_role (MhTrust *self, const char *site_id)
{
  g_autofree char *key = mh_trust_subject_key (site_id);
  GPtrArray *list;
  const char *role = NULL;

  g_return_val_if_fail (MH_IS_TRUST (self), NULL);
  if (key == NULL || (list = g_hash_table_lookup (self->admissions, key)) == NULL)
    return NULL;
  for (guint i = 0; i < list->len; i++)
    {
      Admission *admission = g_ptr_array_index (list, i);

      if (admission->issuer_subject == NULL)
        return "hub";
      if (is_revoked (self, admission->issuer_subject, NULL))
        continue;
      if (role != NULL && strcmp (role, admission->role) != 0)
        {
          /* unless the network admitted it as a hub, further on */
          for (guint j = i + 1; j < list->len; j++)
            if (((Admission *) g_ptr_array_index (list, j))->issuer_subject == NULL)
              return "hub";
          return NULL;
        }
      role = admission->role;
    }
  return role;
}

/**
 * mh_trust_from_store:
 *
 * Returns: (transfer none) (nullable): the records @store's origin filter
 *   was installed from (mh_trust_install_filter()), or %NULL: no network,
 *   roles are what the sites claim
 */
MhTrust *
mh_trust_from_store (MhStore *store)
{
  g_return_val_if_fail (MH_IS_STORE (store), NULL);
  return g_object_get_data (G_OBJECT (store), STORE_QUARK_NAME);
}

/**
 * mh_trust_get_admission:
 *
 * Returns: (transfer full) (nullable): a valid admission of @site_id, to
 *   show to peers or to chain a station's admission to
 */
JsonNode *
mh_trust_get_admission (MhTrust *self, const char *site_id)
{
  g_autofree char *key = mh_trust_subject_key (site_id);
  Admission *admission;

  g_return_val_if_fail (MH_IS_TRUST (self), NULL);
  if (key == NULL || is_revoked (self, key, NULL)
      || (admission = valid_admission (self, key)) == NULL)
    return NULL;
  return json_node_ref (admission->record);
}

/**
 * mh_trust_get_highest_seen:
 *
 * Returns: the highest sequence number of @site_id's own changes this
 *   replica has accepted from peers (0: none): the default cut-off
 */
gint64
mh_trust_get_highest_seen (MhTrust *self, const char *site_id)
{
  g_autofree char *key = mh_trust_subject_key (site_id);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 seen = 0;

  g_return_val_if_fail (MH_IS_TRUST (self), 0);
  if (key == NULL)
    return 0;
  if (sqlite3_prepare_v2 (mh_store_get_db (self->store),
                          "SELECT oseq FROM _mh_trust_seen WHERE subject = ?", -1, &stmt,
                          NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    seen = sqlite3_column_int64 (stmt, 0);
  return seen;
}

static gboolean
origin_filter (MhStore *store, const char *origin, gint64 origin_seq, char **reason,
               gpointer user_data)
{
  MhTrust *self = user_data;
  g_autofree char *key = mh_trust_subject_key (origin);
  gint64 cutoff = 0;
  gint64 *seen;

  if (key == NULL)
    return FALSE;
  if (is_revoked (self, key, &cutoff) && origin_seq > cutoff)
    {
      g_autofree char *why = NULL;

      /* "revoked: " is a prefix for programs and tests: untranslated. */
      why = g_strdup_printf (_("the site's changes after %lld are refused"), (long long) cutoff);
      *reason = g_strconcat ("revoked: ", why, NULL);
      return TRUE;
    }
  /* The highest sequence number seen, for the default cut-off: written in
   * the transaction that applies the change. */
  seen = g_hash_table_lookup (self->seen, key);
  if (seen == NULL || origin_seq > *seen)
    {
      g_autoptr(sqlite3_stmt) stmt = NULL;

      if (seen == NULL)
        {
          seen = g_new0 (gint64, 1);
          g_hash_table_insert (self->seen, g_strdup (key), seen);
        }
      *seen = origin_seq;
      if (sqlite3_prepare_v2 (mh_store_get_db (store),
                              "INSERT INTO _mh_trust_seen (subject, oseq) VALUES (?, ?) "
                              "ON CONFLICT (subject) DO UPDATE "
                              "SET oseq = max (oseq, excluded.oseq)",
                              -1, &stmt, NULL) == SQLITE_OK)
        {
          sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (stmt, 2, origin_seq);
          sqlite3_step (stmt);
        }
    }
  return FALSE;
}

/**
 * mh_trust_install_filter:
 *
 * Makes the store refuse the changes of revoked sites past their cut-off,
 * and lets the store's validator and audience find @self
 * (mh_trust_from_store()). Both go with @self.
 */
void
mh_trust_install_filter (MhTrust *self)
{
  g_return_if_fail (MH_IS_TRUST (self));
  mh_store_set_origin_filter (self->store, origin_filter, self);
  /* The validator and the audience read admitted roles from it. */
  g_object_set_data (G_OBJECT (self->store), STORE_QUARK_NAME, self);
}

/**
 * mh_trust_take_back_revoked:
 *
 * Makes every revocation known here hold for the past too: what this
 * replica applied of a revoked site past its cut-off, before the
 * revocation arrived, is taken back (mh_store_forget_after()). Each
 * revocation is done once per process; calling again costs a lookup.
 *
 * Returns: how many changes were taken back
 */
guint
mh_trust_take_back_revoked (MhTrust *self)
{
  GHashTableIter iter;
  gpointer key, value;
  g_autoptr(GPtrArray) sites = g_ptr_array_new_with_free_func (g_free);
  gboolean sites_read = FALSE;
  guint taken = 0;

  g_return_val_if_fail (MH_IS_TRUST (self), 0);

  g_hash_table_iter_init (&iter, self->cutoffs);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      gint64 cutoff = *(gint64 *) value;
      g_autofree char *done = g_strdup_printf ("%s:%" G_GINT64_FORMAT, (char *) key, cutoff);

      if (g_hash_table_contains (self->taken_back, done))
        continue;
      if (!sites_read)
        {
          g_autoptr(sqlite3_stmt) stmt = NULL;

          sites_read = TRUE;
          if (sqlite3_prepare_v2 (mh_store_get_db (self->store), "SELECT site FROM _mh_sites", -1,
                                  &stmt, NULL) == SQLITE_OK)
            while (sqlite3_step (stmt) == SQLITE_ROW)
              g_ptr_array_add (sites, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
        }
      for (guint i = 0; i < sites->len; i++)
        {
          g_autofree char *site_key = mh_trust_subject_key (g_ptr_array_index (sites, i));
          g_autoptr(GError) error = NULL;
          guint n = 0;

          if (g_strcmp0 (site_key, key) != 0)
            continue;
          if (!mh_store_forget_after (self->store, g_ptr_array_index (sites, i), cutoff, &n,
                                      &error))
            {
              g_warning ("taking back the changes of revoked site %s: %s",
                         (char *) g_ptr_array_index (sites, i), error->message);
              continue;
            }
          taken += n;
        }
      g_hash_table_add (self->taken_back, g_steal_pointer (&done));
    }
  return taken;
}

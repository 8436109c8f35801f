/* models.c -- SQL for trained models. */
#include "db.h"

#include "format/format.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static atomic_ulong names_generation;

unsigned long store_model_names_generation(void) { return atomic_load(&names_generation); }
void db_model_names_moved(void) { atomic_fetch_add(&names_generation, 1); }

void model_free(struct model *m)
{
    if (!m)
        return;
    free(m->job_name);
    free(m->name);
    json_decref(m->aliases);
    json_decref(m->network);
    json_decref(m->classes);
    json_decref(m->metrics);
    json_decref(m->columns);
    free(m->scaler);
    free(m->label_scaler);
    free(m->net);
    memset(m, 0, sizeof *m);
}

/* The next version of name, counted on from the last given out under it: 1 for a new
 * name. Inside a transaction. A version, or STORE_ERROR. */
static int next_version(const char *name)
{
    static const char sql[] =
        "INSERT INTO model_names (name, versions) VALUES (?1, 1) ON CONFLICT (name) DO "
        "UPDATE SET versions = versions + 1 RETURNING versions";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st || db_bind_text(st, 1, name)) {
        db_done(st);
        return STORE_ERROR;
    }
    int rc = sqlite3_step(st), version = 0;
    if (rc == SQLITE_ROW) {
        version = sqlite3_column_int(st, 0);
        rc = sqlite3_step(st);
    }
    db_done(st);
    return rc == SQLITE_DONE && version > 0 ? version : db_failed("numbering a model");
}

int sqlite_model_insert(const struct model *m)
{
    static const char sql[] =
        "INSERT INTO models (id, job_id, job_name, created_at, network, dataset_id, "
        "label_kind, classes, metrics, scaler, net, columns, label_scaler, name, version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    int version = m->name ? next_version(m->name) : 0;
    if (version < 0)
        return STORE_ERROR;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    char now[32];
    now_iso(now);
    db_bind_text(st, 1, m->id);
    db_bind_text(st, 2, m->job_id);
    db_bind_text(st, 3, m->job_name);
    db_bind_text(st, 4, *m->created_at ? m->created_at : now);
    db_bind_json(st, 5, m->network);
    db_bind_text(st, 6, m->dataset_id);
    db_bind_text(st, 7, label_kind_name(m->label_kind));
    db_bind_json(st, 8, m->classes);
    db_bind_json(st, 9, m->metrics);
    if (m->scaler)
        sqlite3_bind_blob64(st, 10, m->scaler, m->scaler_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 10);
    sqlite3_bind_blob64(st, 11, m->net, m->net_len, SQLITE_STATIC);
    db_bind_json(st, 12, m->columns);
    if (m->label_scaler)
        sqlite3_bind_blob64(st, 13, m->label_scaler, m->label_scaler_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 13);
    db_bind_text(st, 14, m->name);
    if (version)
        sqlite3_bind_int(st, 15, version);
    else
        sqlite3_bind_null(st, 15);
    return db_exec(st) == 0 ? STORE_OK : STORE_ERROR;
}

/* The columns of a model row; the aliases pointing at it as a JSON array of names. */
#define MODEL_COLS "id, job_id, job_name, created_at, network, dataset_id, label_kind, " \
                   "classes, metrics, scaler, columns, label_scaler, name, version, " \
                   "(SELECT json_group_array(alias) FROM (SELECT alias FROM model_aliases a " \
                   "WHERE a.name = models.name AND a.version = models.version ORDER BY alias))"
#define MODEL_NET_COL 15   /* net, after MODEL_COLS */

/* A row of MODEL_COLS into item. */
static int model_read(sqlite3_stmt *st, void *item)
{
    struct model *m = item;
    db_column_copy(st, 0, m->id, sizeof m->id);
    db_column_copy(st, 1, m->job_id, sizeof m->job_id);
    m->job_name = db_column_dup(st, 2);
    db_column_copy(st, 3, m->created_at, sizeof m->created_at);
    m->network = db_column_json(st, 4);
    db_column_copy(st, 5, m->dataset_id, sizeof m->dataset_id);
    int kind = label_kind_parse((const char *)sqlite3_column_text(st, 6));
    m->label_kind = kind >= 0 ? (enum label_kind)kind : LABELS_NUMBERS;
    m->classes = db_column_json(st, 7);
    m->metrics = db_column_json(st, 8);
    m->scaler = db_column_blob(st, 9, &m->scaler_len);
    m->standardized = m->scaler != NULL;
    m->columns = sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL : db_column_json(st, 10);
    m->label_scaler = db_column_blob(st, 11, &m->label_scaler_len);
    m->name = db_column_dup(st, 12);
    m->version = sqlite3_column_int(st, 13);
    m->aliases = db_column_json(st, 14);
    return m->network && m->metrics && (m->scaler || !m->scaler_len) &&
                   (m->label_scaler || !m->label_scaler_len) &&
                   (m->columns || sqlite3_column_type(st, 10) == SQLITE_NULL) &&
                   (m->name || sqlite3_column_type(st, 12) == SQLITE_NULL) &&
                   json_is_array(m->aliases)
               ? 0 : -1;
}

static void model_item_free(void *item) { model_free(item); }

/* A row of MODEL_COLS, then the network buffer. */
static int model_read_blobs(sqlite3_stmt *st, void *item)
{
    struct model *m = item;
    if (model_read(st, m) < 0)
        return -1;
    m->net = db_column_blob(st, MODEL_NET_COL, &m->net_len);
    return m->net ? 0 : -1;
}

/* One model by id, with its blobs when `blobs`. */
static int model_by_id(const char *id, struct model *m, int blobs)
{
    static const char sql[] = "SELECT " MODEL_COLS " FROM models WHERE id = ?";
    static const char sql_blobs[] = "SELECT " MODEL_COLS ", net FROM models WHERE id = ?";
    memset(m, 0, sizeof *m);
    int rc = db_row(blobs ? sql_blobs : sql, id, blobs ? model_read_blobs : model_read, m,
                    "reading a model");
    if (rc != STORE_OK)
        model_free(m);
    return rc;
}

int sqlite_model_get(const char *id, struct model *m) { return model_by_id(id, m, 0); }
int sqlite_model_load(const char *id, struct model *m) { return model_by_id(id, m, 1); }

int sqlite_model_list(const char *name, int limit, const char *after, struct model **items,
                     int *n, int *more)
{
    static const char sql[] =
        "SELECT " MODEL_COLS " FROM models WHERE rowid > COALESCE((SELECT rowid FROM models "
        "WHERE id = ?1), 0) ORDER BY rowid LIMIT ?2";
    static const char known[] = "SELECT 1 FROM models WHERE id = ?1";
    /* a name's versions, newest first, after the version of `after` */
    static const char sql_name[] =
        "SELECT " MODEL_COLS " FROM models WHERE name = ?3 AND version < COALESCE((SELECT "
        "version FROM models WHERE id = ?1), 9223372036854775807) ORDER BY version DESC "
        "LIMIT ?2";
    static const char known_name[] = "SELECT 1 FROM models WHERE id = ?1 AND name = ?2";
    *items = NULL;
    *n = *more = 0;
    int e = STORE_OK;
    if (after && name) {
        sqlite3_stmt *k = db_prepare(known_name);
        if (!k || db_bind_text(k, 1, after) || db_bind_text(k, 2, name)) {
            db_done(k);
            return STORE_ERROR;
        }
        int s = sqlite3_step(k);
        db_done(k);
        e = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_NOT_FOUND
                                                          : db_failed("finding a model");
    } else if (after) {
        e = db_row(known, after, NULL, NULL, "finding a model");
    }
    if (e != STORE_OK)
        return e;
    sqlite3_stmt *st = db_prepare(name ? sql_name : sql);
    if (!st || db_bind_text(st, 1, after) || sqlite3_bind_int(st, 2, limit + 1) != SQLITE_OK ||
        (name && db_bind_text(st, 3, name))) {
        db_done(st);
        return STORE_ERROR;
    }
    return db_page(st, limit, sizeof **items, model_read, model_item_free, (void **)items, n,
                   more);
}

struct model_delete {
    const char *id;
    json_t *aliases;           /* out: the aliases that hold it */
};

/* The names of the aliases pointing at model id, into d->aliases; then, when there are
 * none, the delete. */
static int delete_tx(void *arg)
{
    static const char held[] =
        "SELECT a.alias FROM model_aliases a JOIN models m ON a.name = m.name AND "
        "a.version = m.version WHERE m.id = ?1 ORDER BY a.alias";
    static const char sql[] = "DELETE FROM models WHERE id = ?";
    struct model_delete *d = arg;
    json_decref(d->aliases);   /* from a run before, when the transaction ran twice */
    d->aliases = json_array();
    sqlite3_stmt *st = db_prepare(held);
    if (!d->aliases || !st || db_bind_text(st, 1, d->id)) {
        db_done(st);
        return STORE_ERROR;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(d->aliases,
                              json_string((const char *)sqlite3_column_text(st, 0)));
    db_done(st);
    if (rc != SQLITE_DONE)
        return db_failed("finding a model's aliases");
    if (json_array_size(d->aliases))
        return STORE_CONFLICT;
    st = db_prepare(sql);
    if (!st || db_bind_text(st, 1, d->id) || db_exec(st) < 0) {
        db_done(st);
        return STORE_ERROR;
    }
    return sqlite3_changes(db_conn()) ? STORE_OK : STORE_NOT_FOUND;
}

int sqlite_model_delete(const char *id, json_t **aliases)
{
    struct model_delete d = {id, NULL};
    int rc = db_transaction(DB_SHRINKS, delete_tx, &d);
    db_model_names_moved();
    if (rc == STORE_CONFLICT && aliases)
        *aliases = json_incref(d.aliases);
    json_decref(d.aliases);
    return rc;
}

/* ---- names, versions, aliases ---- */

int sqlite_model_name_known(const char *name)
{
    static const char sql[] = "SELECT 1 FROM model_names WHERE name = ?1";
    return db_row(sql, name, NULL, NULL, "finding a model name");
}

int sqlite_model_find(const char *name, int version, const char *alias, char *id, int *known)
{
    static const char by_version[] = "SELECT id FROM models WHERE name = ?1 AND version = ?2";
    static const char latest[] =
        "SELECT id FROM models WHERE name = ?1 ORDER BY version DESC LIMIT 1";
    static const char by_alias[] =
        "SELECT m.id FROM model_aliases a JOIN models m ON m.name = a.name AND "
        "m.version = a.version WHERE a.name = ?1 AND a.alias = ?2";
    *known = 0;
    *id = 0;
    sqlite3_stmt *st = db_prepare(alias ? by_alias : version > 0 ? by_version : latest);
    if (!st || db_bind_text(st, 1, name) ||
        (alias ? db_bind_text(st, 2, alias)
               : version > 0 && sqlite3_bind_int(st, 2, version) != SQLITE_OK)) {
        db_done(st);
        return STORE_ERROR;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        db_column_copy(st, 0, id, 32);
    db_done(st);
    if (rc == SQLITE_ROW)
        return (*known = 1), STORE_OK;
    if (rc != SQLITE_DONE)
        return db_failed("finding a model by name");
    rc = sqlite_model_name_known(name);
    *known = rc == STORE_OK;
    return rc == STORE_ERROR ? STORE_ERROR : STORE_NOT_FOUND;
}

int sqlite_alias_list(const char *name, json_t **out)
{
    static const char sql[] =
        "SELECT a.alias, a.version, m.id FROM model_aliases a JOIN models m ON m.name = "
        "a.name AND m.version = a.version WHERE a.name = ?1 ORDER BY a.alias";
    *out = NULL;
    int rc = sqlite_model_name_known(name);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = db_prepare(sql);
    json_t *a = json_array();
    if (!a || !st || db_bind_text(st, 1, name)) {
        db_done(st);
        json_decref(a);
        return STORE_ERROR;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(a, json_pack("{s:s, s:i, s:s}", "alias",
                                           (const char *)sqlite3_column_text(st, 0), "version",
                                           sqlite3_column_int(st, 1), "model",
                                           (const char *)sqlite3_column_text(st, 2)));
    db_done(st);
    if (rc != SQLITE_DONE) {
        json_decref(a);
        return db_failed("listing aliases");
    }
    *out = a;
    return STORE_OK;
}

struct alias_set {
    const char *name, *alias;
    int version;
    int created, known;        /* out */
    char model[32];            /* out */
};

/* The version must exist; the alias is then created or moved. */
static int alias_set_tx(void *arg)
{
    static const char had[] = "SELECT 1 FROM model_aliases WHERE name = ?1 AND alias = ?2";
    static const char upsert[] =
        "INSERT INTO model_aliases (name, alias, version) VALUES (?1, ?2, ?3) ON CONFLICT "
        "(name, alias) DO UPDATE SET version = excluded.version";
    struct alias_set *a = arg;
    int rc = sqlite_model_find(a->name, a->version, NULL, a->model, &a->known);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = db_prepare(had);
    if (!st || db_bind_text(st, 1, a->name) || db_bind_text(st, 2, a->alias)) {
        db_done(st);
        return STORE_ERROR;
    }
    rc = sqlite3_step(st);
    db_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_failed("finding an alias");
    a->created = rc == SQLITE_DONE;
    st = db_prepare(upsert);
    if (!st || db_bind_text(st, 1, a->name) || db_bind_text(st, 2, a->alias) ||
        sqlite3_bind_int(st, 3, a->version) != SQLITE_OK || db_exec(st) < 0) {
        db_done(st);
        return STORE_ERROR;
    }
    return STORE_OK;
}

int sqlite_alias_set(const char *name, const char *alias, int version, int *created,
                    char *model, int *known)
{
    struct alias_set a = {name, alias, version, 0, 0, ""};
    int rc = db_transaction(DB_GROWS, alias_set_tx, &a);
    db_model_names_moved();
    *created = a.created;
    *known = a.known;
    snprintf(model, 32, "%s", a.model);
    return rc;
}

struct alias_delete {
    const char *name, *alias;
};

static int alias_delete_tx(void *arg)
{
    static const char sql[] = "DELETE FROM model_aliases WHERE name = ?1 AND alias = ?2";
    struct alias_delete *a = arg;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st || db_bind_text(st, 1, a->name) || db_bind_text(st, 2, a->alias) ||
        db_exec(st) < 0) {
        db_done(st);
        return STORE_ERROR;
    }
    return sqlite3_changes(db_conn()) ? STORE_OK : STORE_NOT_FOUND;
}

int sqlite_alias_delete(const char *name, const char *alias)
{
    struct alias_delete a = {name, alias};
    int rc = db_transaction(DB_SHRINKS, alias_delete_tx, &a);
    db_model_names_moved();
    return rc;
}

/* pg.c -- the PostgreSQL backend (backend.h): every call of store.h on a database named by
 * a libpq connection string, with the contracts store.h gives them.
 *
 * DESIGN. Each thread that touches the database gets its own connection on first use, as
 * with SQLite, closed when the thread ends (a server's connection slots are few: threads
 * that come and go must not keep theirs); store_close closes the rest.
 *
 * Losing the database. A call that cannot reach the database -- no connection can be
 * made, or the connection broke during the call (its status bad, SQLSTATE class 08, or
 * 57P01-57P03: the server shutting down or starting up) -- answers STORE_UNAVAILABLE
 * instead of STORE_ERROR (the wrappers at the end of this file), and nothing it would
 * have written was committed (but for a COMMIT whose answer was lost, which the callers'
 * writes tolerate being tried again). A connection is checked before each use without a
 * round trip (PQconsumeInput reads the server's goodbye after a restart) and reset when
 * broken; a statement or transaction that finds its connection broken before COMMIT is
 * tried once more on a new one, so the first call after the database came back
 * succeeds. Connecting gives up after CONNECT_TIMEOUT seconds (unless the connection
 * string says otherwise) and, while the database is away, is tried at most once a
 * RECONNECT_EVERY by all threads together: the others answer STORE_UNAVAILABLE at once.
 * TCP keepalives and tcp_user_timeout notice a server whose host or network vanished.
 * (A server frozen on a live host still answers TCP, and a call waits for it.) The log says
 * once when the database is lost and once when it is reached again.
 *
 * Every write is one pg_transaction: BEGIN ISOLATION LEVEL SERIALIZABLE, the caller's
 * function, COMMIT, run again (up to TX_TRIES times) when PostgreSQL reports a
 * serialization failure or a deadlock. Serializable transactions keep the semantics of
 * SQLite's one writer at a time -- a queue counted and a job inserted in one transaction,
 * a version given out once, a job claimed by one worker -- across every connection and
 * every node sharing the database. The queue's writes on a job's row -- a claim, a lease
 * renewal, a trainer's progress, epoch, checkpoint and end -- are read committed instead
 * (transaction_locked): each locks the rows it works on, a claim skipping those locked
 * (FOR UPDATE SKIP LOCKED) so that workers do not all aim at the same one, and a
 * trainer's write reading its job's row FOR UPDATE to check its attempt (fence).
 * Serializable, nodes that poll the queue while others train fail one another's
 * transactions over and over.
 *
 * Results come in binary (every value as its bytes: BYTEA columns without an escape),
 * read by the col_* helpers whatever the column's type. Parameters go as text, BYTEA
 * ones in binary. Arrays are float32 little-endian as on SQLite; JSON documents text.
 *
 * Large values -- a dataset's x and y, a checkpoint's network and best weights, a model's
 * network -- are stored in chunks of 4 MB, rows of a chunk table beside their owner's
 * (migrations/pg/NNNN_chunks.sql), deleted with it by their foreign key. They are written
 * with one INSERT per chunk whose parameter points into the caller's buffer, and read in
 * single-row mode into a buffer allocated once at the size the owner's row gives, a
 * chunk's result freed before the next: neither way is the value held twice in memory,
 * nor sent as one message (PostgreSQL's limit is 1 GB). Chunks that do not add up to the
 * stored size are an error, never read past. A read of a row and its chunks runs in one
 * read-only snapshot (a checkpoint replaced meanwhile cannot mix two).
 *
 * The schema is migrations/pg/NNNN_*.sql, numbered as migrations/, embedded in the
 * binary; store_open applies the pending ones, each in one transaction with the version
 * in table schema_version, under an advisory lock: nodes that start together apply them
 * once, one after the other.
 */
#include "backend.h"

#include "format/format.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char *const pg_migrations[];   /* generated from migrations/pg/ */
extern const int pg_nmigrations;

#define TX_TRIES 20            /* a serializable write tried at most this many times */
#define CONNECT_TIMEOUT "5"    /* seconds a connection may take, unless --db says */
#define RECONNECT_EVERY 1.0    /* seconds between attempts while the database is away */
#define MAX_ARGS 16

/* PostgreSQL's type oids (catalog/pg_type_d.h, not a client header) */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_FLOAT4 700
#define OID_FLOAT8 701

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG_ENDIAN 1
#else
#define HOST_BIG_ENDIAN 0
#endif

struct thread_pg {
    PGconn *conn;
    struct thread_pg *next;
};

static char conninfo[4096];
static char label[600];        /* "PostgreSQL database NAME": the database in messages */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_pg *all;
static _Thread_local struct thread_pg *mine;
static pthread_key_t ending;   /* its destructor closes an ending thread's connection */
static pthread_once_t ending_once = PTHREAD_ONCE_INIT;
static _Atomic int lost;       /* a connection broke and none connected since */
static _Atomic long long failed_at;   /* when a connection last failed to open (ms); 0 once
                                        one opened since */
/* this thread's last failure was a serialization failure or a deadlock: try again */
static _Thread_local int retry;
/* this thread's last failure was the database out of reach (STORE_UNAVAILABLE) */
static _Thread_local int unreachable;
static _Thread_local int in_tx;   /* inside transaction(): a statement is not run again alone */

/* ---- connections ---- */

/* A thread ends: its connection is closed, unless store_close closed it already. */
static void thread_ends(void *arg)
{
    pthread_mutex_lock(&all_lock);
    for (struct thread_pg **p = &all; *p; p = &(*p)->next) {
        if (*p == arg) {
            struct thread_pg *t = *p;
            *p = t->next;
            PQfinish(t->conn);
            free(t);
            break;
        }
    }
    pthread_mutex_unlock(&all_lock);
}

static void ending_key(void) { pthread_key_create(&ending, thread_ends); }

/* libpq's message msg on one line into out (cap bytes): its runs of white space one space. */
void pg_one_line(const char *msg, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = msg; *p && n < cap - 1; p++)
        if (!isspace((unsigned char)*p) || (n && out[n - 1] != ' '))
            out[n++] = isspace((unsigned char)*p) ? ' ' : *p;
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = 0;
}

/* Notes that the database is out of reach: for this thread's call (unreachable), and for
 * everyone (lost), logging it once for the outage with PostgreSQL's message. */
static void out_of_reach(const char *msg)
{
    unreachable = 1;
    if (!atomic_exchange(&lost, 1)) {
        char one[400];
        pg_one_line(msg, one, sizeof one);
        fprintf(stderr, "neurond: %s cannot be reached: %s; requests that need it answer "
                "503 and training waits until it is back\n", label, one);
    }
}

static int connection_state(const char *state);

/* What the server says outside an answer: its notices at warning and above (each
 * connection sets client_min_messages), to the log; not the goodbye of each connection
 * as the server shuts down ("terminating connection due to ..."), which out_of_reach
 * says once for them all. */
void pg_notice(void *arg, const PGresult *r)
{
    (void)arg;
    if (!connection_state(PQresultErrorField(r, PG_DIAG_SQLSTATE)))
        fprintf(stderr, "neurond: PostgreSQL: %s", PQresultErrorMessage(r));
}

static long long now_ms(void) { return (long long)(clock_s() * 1000); }

/* A new connection, with a connect timeout and TCP keepalives (a server gone from an idle
 * connection is noticed within 25 s; one that stops acknowledging what was sent, within
 * 30 s) that the connection string may override (it is expanded last, and its keywords
 * win). */
static PGconn *connect_db(void)
{
    static const char *const keys[] = {"connect_timeout", "keepalives", "keepalives_idle",
                                       "keepalives_interval", "keepalives_count",
                                       "tcp_user_timeout", "dbname", NULL};
    const char *const values[] = {CONNECT_TIMEOUT, "1", "10", "5", "3", "30000", conninfo,
                                  NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (c)
        PQsetNoticeReceiver(c, pg_notice, NULL);
    return c;
}

/* Is a connection that was fine still open? Reads what the server sent meanwhile without
 * waiting (after a restart: its goodbye, then the end of the stream). */
static int still_open(PGconn *c)
{
    return PQstatus(c) == CONNECTION_OK && PQconsumeInput(c) && PQstatus(c) == CONNECTION_OK;
}

/* This thread's connection, opened on first use and reset when broken; NULL when the
 * database cannot be reached (unreachable set, logged once for the outage). While it is
 * away, a connection is tried at most once a RECONNECT_EVERY by all the threads. */
static PGconn *conn(void)
{
    if (!mine) {
        struct thread_pg *t = calloc(1, sizeof *t);
        if (!t)
            return NULL;
        pthread_once(&ending_once, ending_key);
        pthread_mutex_lock(&all_lock);
        t->next = all;
        all = t;
        pthread_mutex_unlock(&all_lock);
        mine = t;
        pthread_setspecific(ending, t);
    }
    if (mine->conn && still_open(mine->conn))
        return mine->conn;
    /* the database was found out of reach a moment ago: wait a second between tries (a
       connection lost with a server that is back opens at once) */
    long long failed = atomic_load(&failed_at);
    if (failed && now_ms() - failed < (long long)(RECONNECT_EVERY * 1000)) {
        unreachable = 1;
        return NULL;
    }
    if (mine->conn)
        PQreset(mine->conn);
    else
        mine->conn = connect_db();
    if (PQstatus(mine->conn) != CONNECTION_OK) {
        atomic_store(&failed_at, now_ms());
        out_of_reach(PQerrorMessage(mine->conn));
        return NULL;
    }
    atomic_store(&failed_at, 0);
    PQclear(PQexec(mine->conn, "SET client_min_messages = warning"));
    if (atomic_exchange(&lost, 0))
        fprintf(stderr, "neurond: %s reached again\n", label);
    return mine->conn;
}

/* ---- parameters ---- */

struct args {
    int n;
    const char *v[MAX_ARGS];
    int len[MAX_ARGS], fmt[MAX_ARGS];
    char num[MAX_ARGS][32];
    char *own[MAX_ARGS];       /* JSON texts, freed by args_free */
    int failed;                /* out of memory */
};

static void args_free(struct args *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->own[i]);
    a->n = 0;
}

static void a_text(struct args *a, const char *s)
{
    a->v[a->n] = s;
    a->len[a->n] = 0;
    a->fmt[a->n] = 0;
    a->own[a->n] = NULL;
    a->n++;
}

static void a_int(struct args *a, long long v)
{
    snprintf(a->num[a->n], sizeof a->num[0], "%lld", v);
    a_text(a, a->num[a->n]);
}

/* NaN as NULL, as SQLite stores it. */
static void a_double(struct args *a, double v)
{
    if (isnan(v)) {
        a_text(a, NULL);
        return;
    }
    snprintf(a->num[a->n], sizeof a->num[0], "%.17g", v);
    a_text(a, a->num[a->n]);
}

/* A JSON value as its compact text (NULL for NULL), as db_bind_json writes it. */
static void a_json(struct args *a, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))
                : NULL;
    if (v && !s)
        a->failed = 1;
    a_text(a, s);
    a->own[a->n - 1] = s;
}

/* Bytes in binary (NULL for NULL). */
static void a_blob(struct args *a, const void *p, size_t len)
{
    a_text(a, p);
    a->len[a->n - 1] = (int)len;
    a->fmt[a->n - 1] = 1;
}

/* ---- running statements ---- */

/* Whether a failure means the database is out of reach: the connection broke, or
 * PostgreSQL said so (SQLSTATE class 08, connection exceptions; 57P01 admin shutdown,
 * 57P02 crash shutdown, 57P03 cannot connect now). */
static int connection_state(const char *state)
{
    return state && (!strncmp(state, "08", 2) || !strcmp(state, "57P01") ||
                     !strcmp(state, "57P02") || !strcmp(state, "57P03"));
}

static int connection_failed(PGresult *r)
{
    if (!mine || !mine->conn || PQstatus(mine->conn) != CONNECTION_OK)
        return 1;
    return connection_state(r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
}

/* Logs a failed statement (what it was for, and PostgreSQL's message), notes whether it
 * may succeed when tried again (retry) or failed for the database out of reach
 * (unreachable: logged once for the outage), and returns STORE_ERROR. */
static int failed(const char *what, PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    retry = state && (!strcmp(state, "40001") || !strcmp(state, "40P01"));
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (!*msg && mine && mine->conn)
        msg = PQerrorMessage(mine->conn);
    if (!retry && connection_failed(r)) {
        out_of_reach(msg);
    } else if (!retry) {
        fprintf(stderr, "neurond: %s failed: %s%s", what, msg,
                *msg && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
    }
    PQclear(r);
    return STORE_ERROR;
}

/* Is a text parameter bytes PostgreSQL refuses (not UTF-8)? */
static int refused_text(const struct args *a)
{
    for (int i = 0; i < a->n; i++)
        if (a->v[i] && !a->fmt[i] && !utf8_valid(a->v[i], strlen(a->v[i])))
            return 1;
    return 0;
}

/* Runs sql with the parameters of a (freed here), results in binary. The result of a
 * statement that ran (rows or none), or NULL on an error (logged as `what`). A lookup
 * by a text that is not UTF-8 (an id in a URL can be any bytes) finds nothing, as on
 * SQLite, rather than failing: no row holds such text, for every one stored was checked. */
static PGresult *run(const char *sql, struct args *a, const char *what)
{
    PGconn *c = conn();
    if (!c || a->failed) {
        args_free(a);
        if (c)
            fprintf(stderr, "neurond: %s failed: out of memory\n", what);
        return NULL;
    }
    if (strncmp(sql, "INSERT", 6) != 0 && refused_text(a)) {
        args_free(a);
        return PQmakeEmptyPGresult(c, PGRES_TUPLES_OK);
    }
    PGresult *r = PQexecParams(c, sql, a->n, NULL, a->v, a->len, a->fmt, 1);
    if (!in_tx && PQresultStatus(r) == PGRES_FATAL_ERROR && connection_failed(r) &&
        PQstatus(c) != CONNECTION_OK) {
        /* the connection had broken while idle (a restart of the server): once more on a
         * new one; inside a transaction, transaction() does this for the whole of it */
        PQclear(r);
        r = NULL;
        if ((c = conn()))
            r = PQexecParams(c, sql, a->n, NULL, a->v, a->len, a->fmt, 1);
    }
    args_free(a);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (r && (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK))
        return r;
    if (r || c)
        failed(what, r);
    return NULL;
}

/* A statement whose rows do not matter: 0, or STORE_ERROR. */
static int exec(const char *sql, struct args *a, const char *what)
{
    PGresult *r = run(sql, a, what);
    PQclear(r);
    return r ? 0 : STORE_ERROR;
}

/* Rows a statement changed. */
static long changes(PGresult *r) { return atol(PQcmdTuples(r)); }

/* ---- reading results (binary) ---- */

static int is_null(PGresult *r, int row, int col) { return PQgetisnull(r, row, col); }

static uint64_t be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

static uint32_t be32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

/* An integer column (of any integer type, bool, float, or text), 0 for NULL. */
static long long col_int(PGresult *r, int row, int col)
{
    if (is_null(r, row, col))
        return 0;
    const char *p = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case OID_BOOL: return *p != 0;
    case OID_INT2: return (int16_t)(((unsigned char)p[0] << 8) | (unsigned char)p[1]);
    case OID_INT4: return (int32_t)be32(p);
    case OID_INT8: return (int64_t)be64(p);
    case OID_FLOAT8: {
        uint64_t u = be64(p);
        double d;
        memcpy(&d, &u, 8);
        return (long long)d;
    }
    default: return strtoll(p, NULL, 10);
    }
}

/* A number column, NAN for NULL. */
static double col_double(PGresult *r, int row, int col)
{
    if (is_null(r, row, col))
        return NAN;
    const char *p = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case OID_FLOAT8: {
        uint64_t u = be64(p);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    case OID_FLOAT4: {
        uint32_t u = be32(p);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case OID_BOOL: case OID_INT2: case OID_INT4: case OID_INT8:
        return (double)col_int(r, row, col);
    default: return strtod(p, NULL);
    }
}

/* A text column: the result's own string, NULL for NULL. */
static const char *col_text(PGresult *r, int row, int col)
{
    return is_null(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static void col_copy(PGresult *r, int row, int col, char *out, size_t cap)
{
    const char *s = col_text(r, row, col);
    snprintf(out, cap, "%s", s ? s : "");
}

static char *col_dup(PGresult *r, int row, int col)
{
    const char *s = col_text(r, row, col);
    return s ? strdup(s) : NULL;
}

static json_t *col_json(PGresult *r, int row, int col)
{
    const char *s = col_text(r, row, col);
    return s ? json_loadb(s, (size_t)PQgetlength(r, row, col), JSON_DECODE_ANY, NULL) : NULL;
}

/* A BYTEA column copied: new, NULL for NULL (or without memory); *len its size. */
static void *col_blob(PGresult *r, int row, int col, size_t *len)
{
    *len = 0;
    if (is_null(r, row, col))
        return NULL;
    size_t n = (size_t)PQgetlength(r, row, col);
    void *p = malloc(n ? n : 1);
    if (!p)
        return NULL;
    memcpy(p, PQgetvalue(r, row, col), n);
    *len = n;
    return p;
}

/* ---- shapes of reads ---- */

/* The first row of sql (bound with a) read by row(r, item) when row is not NULL (0, or -1
 * without memory). STORE_OK, STORE_NOT_FOUND, STORE_ERROR. */
static int one_row(const char *sql, struct args *a, int (*row)(PGresult *r, int i, void *item),
                   void *item, const char *what)
{
    PGresult *r = run(sql, a, what);
    if (!r)
        return STORE_ERROR;
    int rc = PQntuples(r) == 0 ? STORE_NOT_FOUND
             : !row || row(r, 0, item) == 0 ? STORE_OK : STORE_ERROR;
    PQclear(r);
    return rc;
}

/* The row of a one-parameter query, as db_row. */
static int id_row(const char *sql, const char *id, int (*row)(PGresult *r, int i, void *item),
                  void *item, const char *what)
{
    struct args a = {0};
    a_text(&a, id);
    return one_row(sql, &a, row, item, what);
}

/* A page of a list, as db_page: sql bound with a (its LIMIT limit + 1). */
static int page(const char *sql, struct args *a, int limit, size_t size,
                int (*row)(PGresult *r, int i, void *item), void (*item_free)(void *item),
                void **items, int *n, int *more)
{
    *items = NULL;
    *n = *more = 0;
    PGresult *r = run(sql, a, "listing");
    if (!r)
        return STORE_ERROR;
    int rows = PQntuples(r), k = rows > limit ? limit : rows;
    char *out = calloc((size_t)limit + 1, size);
    for (int i = 0; out && i < k; i++) {
        if (row(r, i, out + (size_t)i * size) < 0) {
            for (int j = 0; j <= i; j++)
                item_free(out + (size_t)j * size);
            free(out);
            out = NULL;
        }
    }
    PQclear(r);
    if (!out)
        return STORE_ERROR;
    *items = out;
    *n = k;
    *more = rows > limit;
    return STORE_OK;
}

/* ---- transactions ---- */

static int simple(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        return failed(sql, r);
    PQclear(r);
    return 0;
}

/* Runs fn(ctx) in a transaction begun with `begin`, committing unless it returns < 0, and
 * runs it again when PostgreSQL asks (fn binds its statements itself), and once more on a
 * new connection when the connection broke before COMMIT (nothing of it was committed).
 * fn's result, or STORE_ERROR when the transaction failed (unreachable set when the
 * database could not be reached). */
static int transaction_as(const char *begin, int (*fn)(void *ctx), void *ctx)
{
    int reconnected = 0;
    for (int tries = 0; tries < TX_TRIES; tries++) {
        PGconn *c = conn();
        if (!c)
            return STORE_ERROR;
        retry = unreachable = 0;
        in_tx = 1;
        int rc = simple(c, begin) < 0 ? STORE_ERROR : fn(ctx);
        in_tx = 0;
        if (rc < 0) {
            int again = retry, broke = unreachable;
            if (!broke)
                PQclear(PQexec(c, "ROLLBACK"));
            if (again || (broke && !reconnected++))
                continue;
            return rc;
        }
        if (simple(c, "COMMIT") == 0)
            return rc;
        if (!retry)
            return STORE_ERROR;   /* a COMMIT cut off is not run again: it may have landed */
    }
    fprintf(stderr, "neurond: a write was refused %d times for conflicts with others; "
            "giving up\n", TX_TRIES);
    return STORE_ERROR;
}

/* A serializable transaction: what most writes need. */
static int transaction(int (*fn)(void *ctx), void *ctx)
{
    return transaction_as("BEGIN ISOLATION LEVEL SERIALIZABLE", fn, ctx);
}

/* The queue's writes on a job's row -- claims, renewals, a trainer's progress, epochs,
 * checkpoints and end -- read committed: each locks the rows it works on (a claim skips
 * those locked), which is all they need, whereas serializable ones would fail one
 * another over and over as nodes poll the queue while others train. */
static int transaction_locked(int (*fn)(void *ctx), void *ctx)
{
    return transaction_as("BEGIN ISOLATION LEVEL READ COMMITTED", fn, ctx);
}

/* Runs fn(ctx) in a read-only transaction of one snapshot, for a read of several
 * statements (a row, then its chunks) that must see one state of the database: a
 * checkpoint replaced between them would leave the row's size and the chunks at odds.
 * Such a transaction never fails for conflicts. fn's result, or STORE_ERROR. */
static int snapshot(int (*fn)(void *ctx), void *ctx)
{
    PGconn *c = conn();
    if (!c || simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") < 0)
        return STORE_ERROR;
    int rc = fn(ctx);
    PQclear(PQexec(c, "ROLLBACK"));   /* a read keeps nothing */
    return rc;
}

/* Floats between the host's order and little-endian, in place. */
static void swap_floats(float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &a[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&a[i], &u, 4);
    }
}

/* ---- chunks ----
 *
 * A large value (a dataset's x or y, a checkpoint's network, the best weights, a model's
 * network) is stored as rows of a chunk table (migrations/pg/NNNN_chunks.sql): (owner,
 * col, part, bytes), parts numbered from 0, each CHUNK bytes but the last (a value moved
 * there by the migration is one chunk of any size). The owner's row holds its size. */

#define CHUNK ((size_t)4 << 20)

/* Writes the len bytes at p as the chunks of value col of owner in table (a chunk table;
 * the owner's row must exist), inside the caller's transaction: one INSERT per chunk whose
 * parameter points into p, so the value is never copied whole (libpq copies one chunk into
 * its buffer to send it). floats: p holds floats, stored little-endian -- on a big-endian
 * host each chunk is swapped in a buffer of one chunk. 0, or STORE_ERROR.
 *
 * A value it replaces has its chunks overwritten in place (INSERT ... ON CONFLICT DO
 * UPDATE); any past the new value's (a longer value before it) stay until their owner is
 * deleted, and are never read (chunks_get reads the parts of the size). So a checkpoint
 * replaced every epoch reads nothing, neither its chunks nor its row: a read in a
 * serializable transaction takes predicate locks (of a whole small table, read by a
 * sequential scan), and the transactions of workers saving at once would then fail each
 * other's commits. */
static int chunks_put(const char *table, const char *owner, const char *col, const void *p,
                      size_t len, int floats)
{
    char sql[200];
    snprintf(sql, sizeof sql, "INSERT INTO %s (owner, col, part, bytes) VALUES ($1, $2, $3, "
             "$4) ON CONFLICT (owner, col, part) DO UPDATE SET bytes = excluded.bytes", table);
    float *swapped = NULL;
    if (floats && HOST_BIG_ENDIAN && len && !(swapped = malloc(len < CHUNK ? len : CHUNK)))
        return STORE_ERROR;
    int rc = 0;
    for (size_t off = 0, part = 0; rc == 0 && off < len; off += CHUNK, part++) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        const char *bytes = (const char *)p + off;
        if (swapped) {
            memcpy(swapped, bytes, n);
            swap_floats(swapped, n / sizeof(float));
            bytes = (const char *)swapped;
        }
        struct args a = {0};
        a_text(&a, owner);
        a_text(&a, col);
        a_int(&a, (long long)part);
        a_blob(&a, bytes, n);
        rc = exec(sql, &a, "storing a value's chunks");
    }
    free(swapped);
    return rc;
}

/* Reads value col of owner from table into out, which holds exactly its len bytes, in
 * single-row mode: each chunk is one PGresult, copied to its place and freed before the
 * next arrives, so the value is never held twice. It reads the parts a value of len
 * bytes has (those past them are a longer value's before it; a value the migration moved
 * is all in part 0). floats: out receives floats (swapped back on a big-endian host). 0;
 * STORE_ERROR (logged as `what`) when the database fails, or when the chunks are not
 * parts 0, 1, ... adding up to len -- a chunk missing, or one longer than the room left,
 * which is never written past. */
static int chunks_get(const char *table, const char *owner, const char *col, void *out,
                      size_t len, int floats, const char *what)
{
    PGconn *c = conn();
    if (!c)
        return STORE_ERROR;
    char sql[160], parts[32];
    snprintf(sql, sizeof sql, "SELECT part, bytes FROM %s WHERE owner = $1 AND col = $2 "
             "AND part < $3 ORDER BY part", table);
    snprintf(parts, sizeof parts, "%zu", len / CHUNK + (len % CHUNK != 0));
    const char *v[3] = {owner, col, parts};
    if (!PQsendQueryParams(c, sql, 3, NULL, v, NULL, NULL, 1)) {
        fprintf(stderr, "neurond: %s failed: %s", what, PQerrorMessage(c));
        return STORE_ERROR;
    }
    PQsetSingleRowMode(c);
    size_t off = 0;
    long long part = 0;
    int rc = 0, bad = 0;
    PGresult *r;
    while ((r = PQgetResult(c))) {   /* to the end, whatever happened: the connection is
                                        then ready for the next statement */
        ExecStatusType s = PQresultStatus(r);
        if (s != PGRES_SINGLE_TUPLE && s != PGRES_TUPLES_OK) {
            if (rc == 0) {
                failed(what, r);   /* clears r */
                rc = STORE_ERROR;
            } else {
                PQclear(r);
            }
            continue;
        }
        for (int i = 0; rc == 0 && i < PQntuples(r); i++) {   /* one row in single-row mode */
            size_t n = (size_t)PQgetlength(r, i, 1);
            if (col_int(r, i, 0) != part || n > len - off) {
                bad = 1;
                rc = STORE_ERROR;
            } else {
                memcpy((char *)out + off, PQgetvalue(r, i, 1), n);
                off += n;
                part++;
            }
        }
        PQclear(r);
    }
    if (rc == 0 && off != len)
        bad = 1, rc = STORE_ERROR;
    if (bad)
        fprintf(stderr, "neurond: %s failed: the stored chunks of %s of %s (%s) are not whole: "
                "%zu of its %zu bytes in its first %lld chunks, then one missing, out of "
                "place or too long\n", what, col, owner, table, off, len, part);
    if (rc == 0 && floats && HOST_BIG_ENDIAN)
        swap_floats(out, len / sizeof(float));
    return rc;
}

/* ---- the database ---- */

/* Tries the database on this thread's connection (SELECT 1): STORE_OK, or
 * STORE_UNAVAILABLE when it cannot be reached now. */
static int pg_condition(void)
{
    struct args a = {0};
    unreachable = 0;
    PGresult *r = run("SELECT 1", &a, "trying the database");
    PQclear(r);
    return r ? STORE_OK : unreachable ? STORE_UNAVAILABLE : STORE_ERROR;
}

static int pg_schema_latest(void) { return pg_nmigrations; }

static int version_row(PGresult *r, int i, void *item)
{
    *(int *)item = (int)col_int(r, i, 0);
    return 0;
}

static int pg_schema_version(void)
{
    struct args a = {0};
    int v = -1;
    return one_row("SELECT COALESCE(max(version), 0) FROM schema_version", &a, version_row,
                   &v, "reading the schema version") == STORE_OK ? v : -1;
}

/* Applies the next pending migration in one transaction, under the advisory lock (nodes
 * that start together take turns; the later ones find it applied). 1 when it applied
 * one, 0 when none is pending, -1 with err filled. */
static int migrate_one(PGconn *c, char *err, size_t errlen)
{
    /* the lock's key: "neur" (0x6e657572) */
    PGresult *r = PQexec(c, "BEGIN; SELECT pg_advisory_xact_lock(1852143986); "
                            "CREATE TABLE IF NOT EXISTS schema_version "
                            "(version INTEGER NOT NULL)");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s: starting a migration: %s", label, PQresultErrorMessage(r));
        PQclear(r);
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    PQclear(r);
    r = PQexec(c, "SELECT COALESCE(max(version), 0) FROM schema_version");
    int v = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    int done = 0;
    if (v < 0) {
        snprintf(err, errlen, "%s: reading its schema version: %s", label, PQerrorMessage(c));
    } else if (v > pg_nmigrations) {
        snprintf(err, errlen, "%s has schema version %d, newer than this neurond knows "
                 "(%d): use a newer neurond or another --db", label, v, pg_nmigrations);
        v = -1;
    } else if (v < pg_nmigrations) {
        char set[128];
        snprintf(set, sizeof set, "DELETE FROM schema_version; "
                 "INSERT INTO schema_version (version) VALUES (%d)", v + 1);
        r = PQexec(c, pg_migrations[v]);
        if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
            PQclear(r);
            r = PQexec(c, set);
        }
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "%s: migration %d failed: %s", label, v + 1,
                     PQresultErrorMessage(r));
            v = -1;
        }
        PQclear(r);
        done = 1;
    }
    if (v < 0) {
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    r = PQexec(c, "COMMIT");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "%s: committing a migration: %s", label, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? done : -1;
}

static int pg_open(const char *path, char *err, size_t errlen)
{
    snprintf(conninfo, sizeof conninfo, "%s", path);
    atomic_store(&lost, 0);
    PGconn *c = connect_db();
    if (PQstatus(c) != CONNECTION_OK) {
        char *msg = PQerrorMessage(c);
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
            msg[--n] = 0;
        snprintf(err, errlen, "PostgreSQL database cannot be reached: %s", msg);
        PQfinish(c);
        return -1;
    }
    snprintf(label, sizeof label, "PostgreSQL database %s", PQdb(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));   /* no NOTICEs on stderr */
    int rc;
    while ((rc = migrate_one(c, err, errlen)) > 0)
        ;
    PQfinish(c);
    return rc < 0 ? -1 : 0;
}

const char *pg_conninfo(void) { return conninfo; }

int pg_exec_text(const char *sql, const char *arg, const char *what)
{
    struct args a = {0};
    a_text(&a, arg);
    return exec(sql, &a, what);
}

static void pg_close(void)
{
    pthread_mutex_lock(&all_lock);
    while (all) {
        struct thread_pg *t = all;
        all = t->next;
        PQfinish(t->conn);
        free(t);
    }
    mine = NULL;
    pthread_setspecific(ending, NULL);
    pthread_mutex_unlock(&all_lock);
}

/* The advisory lock that queueing a job and deleting a dataset take in turns (its key is
 * "nque", 0x6e717565): each then reads what the other committed. */
#define QUEUE_LOCK "SELECT pg_advisory_xact_lock(1853978981)"

/* ---- datasets ---- */

static size_t row_values(const struct dataset *d)
{
    return (size_t)d->features * (size_t)(d->timesteps > 0 ? d->timesteps : 1);
}

#define DESC_COLUMNS "id, name, created_at, rows, features, label_kind, label_cols, classes, " \
                     "columns, label_column, (SELECT timesteps FROM dataset_timesteps " \
                     "WHERE dataset_id = datasets.id)"

static int ds_insert_tx(void *ctx)
{
    static const char sql[] =
        "INSERT INTO datasets (id, name, created_at, rows, features, label_kind, label_cols, "
        "classes, columns, stats, label_column) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    struct dataset *d = ctx;
    size_t nx = (size_t)d->rows * row_values(d), ny = (size_t)d->rows * (size_t)d->label_cols;
    struct args a = {0};
    a_text(&a, d->id);
    a_text(&a, d->name);
    a_text(&a, d->created_at);
    a_int(&a, d->rows);
    a_int(&a, d->features);
    a_text(&a, label_kind_name(d->label_kind));
    a_int(&a, d->label_cols);
    a_json(&a, d->classes);
    a_json(&a, d->columns);
    a_json(&a, d->stats);
    a_json(&a, d->label_column);
    int rc = exec(sql, &a, "storing a dataset");
    if (rc == 0)
        rc = chunks_put("dataset_chunks", d->id, "x", d->x, nx * sizeof(float), 1);
    if (rc == 0)
        rc = chunks_put("dataset_chunks", d->id, "y", d->y, ny * sizeof(float), 1);
    if (rc == 0 && d->timesteps > 0) {
        struct args s = {0};
        a_text(&s, d->id);
        a_int(&s, d->timesteps);
        rc = exec("INSERT INTO dataset_timesteps (dataset_id, timesteps) VALUES ($1, $2)", &s,
                  "storing a dataset");
    }
    return rc;
}

static int pg_dataset_insert(struct dataset *d)
{
    new_id(d->id, "ds_");
    now_iso(d->created_at);
    int rc = transaction(ds_insert_tx, d);
    if (rc != STORE_OK)
        d->id[0] = d->created_at[0] = 0;
    return rc;
}

static int ds_read(PGresult *r, int i, struct dataset *d, int with_stats)
{
    col_copy(r, i, 0, d->id, sizeof d->id);
    d->name = col_dup(r, i, 1);
    col_copy(r, i, 2, d->created_at, sizeof d->created_at);
    d->rows = (int)col_int(r, i, 3);
    d->features = (int)col_int(r, i, 4);
    int kind = label_kind_parse(col_text(r, i, 5));
    d->label_kind = kind >= 0 ? (enum label_kind)kind : LABELS_NUMBERS;
    d->label_cols = (int)col_int(r, i, 6);
    d->classes = col_json(r, i, 7);
    d->columns = col_json(r, i, 8);
    d->label_column = col_json(r, i, 9);
    d->timesteps = (int)col_int(r, i, 10);
    if (with_stats)
        d->stats = col_json(r, i, 11);
    return d->name && d->columns && (!with_stats || d->stats) ? 0 : -1;
}

static int ds_list_row(PGresult *r, int i, void *item) { return ds_read(r, i, item, 0); }
static int ds_get_row(PGresult *r, int i, void *item) { return ds_read(r, i, item, 1); }
static void ds_item_free(void *item) { dataset_free(item); }

static int pg_dataset_get(const char *id, struct dataset *d)
{
    memset(d, 0, sizeof *d);
    int rc = id_row("SELECT " DESC_COLUMNS ", stats FROM datasets WHERE id = $1", id,
                    ds_get_row, d, "reading a dataset");
    if (rc != STORE_OK)
        dataset_free(d);
    return rc;
}

static int pg_dataset_list(int limit, const char *after, struct dataset **items, int *n,
                           int *more)
{
    static const char sql[] =
        "SELECT " DESC_COLUMNS " FROM datasets ORDER BY created_at, id LIMIT $1";
    static const char sql_after[] =
        "SELECT " DESC_COLUMNS " FROM datasets "
        "WHERE (created_at, id) > (SELECT created_at, id FROM datasets WHERE id = $2) "
        "ORDER BY created_at, id LIMIT $1";
    *items = NULL;
    *n = *more = 0;
    if (after) {
        int e = id_row("SELECT 1 FROM datasets WHERE id = $1", after, NULL, NULL,
                       "finding a dataset");
        if (e != STORE_OK)
            return e;
    }
    struct args a = {0};
    a_int(&a, limit + 1);
    if (after)
        a_text(&a, after);
    return page(after ? sql_after : sql, &a, limit, sizeof **items, ds_list_row, ds_item_free,
                (void **)items, n, more);
}

/* Under the lock that queueing a job takes (QUEUE_LOCK), read committed: a job queued
 * on the dataset before is seen, and one queued after finds the dataset gone. */
static int ds_delete_tx(void *ctx)
{
    const char *id = ctx;
    struct args none = {0};
    if (exec(QUEUE_LOCK, &none, "deleting a dataset") < 0)
        return STORE_ERROR;
    int e = id_row("SELECT 1 FROM datasets WHERE id = $1", id, NULL, NULL,
                   "finding a dataset");
    if (e != STORE_OK)
        return e;
    e = id_row("SELECT 1 FROM jobs WHERE (dataset_id = $1 OR val_dataset_id = $1) "
               "AND state IN ('queued', 'running') LIMIT 1", id, NULL, NULL,
               "deleting a dataset");
    if (e != STORE_NOT_FOUND)
        return e == STORE_OK ? STORE_IN_USE : e;
    struct args a = {0}, b = {0};
    a_text(&a, id);
    a_text(&b, id);
    if (exec("DELETE FROM dataset_timesteps WHERE dataset_id = $1", &a, "deleting a dataset") ||
        exec("DELETE FROM datasets WHERE id = $1", &b, "deleting a dataset"))
        return STORE_ERROR;
    return STORE_OK;
}

static int pg_dataset_delete(const char *id)
{
    return transaction_locked(ds_delete_tx, (void *)id);
}

/* n floats of value col of a dataset, read from its chunks: new, NULL when they cannot
 * be read (logged). */
static float *ds_floats(const char *id, const char *col, size_t n)
{
    float *a = malloc(n * sizeof(float) + 1);
    if (a && chunks_get("dataset_chunks", id, col, a, n * sizeof(float), 1,
                        "loading a dataset") == 0)
        return a;
    free(a);
    return NULL;
}

struct ds_load {
    const char *id;
    struct dataset *d;
    int with_x;
};

static int ds_load_row(PGresult *r, int i, void *item)
{
    struct dataset *d = item;
    d->rows = (int)col_int(r, i, 0);
    d->features = (int)col_int(r, i, 1);
    int kind = label_kind_parse(col_text(r, i, 2));
    d->label_kind = kind >= 0 ? (enum label_kind)kind : LABELS_NUMBERS;
    d->label_cols = (int)col_int(r, i, 3);
    if (!is_null(r, i, 4)) {
        json_t *c = col_json(r, i, 4);
        d->classes = json_is_array(c) ? c : NULL;
        if (!d->classes)
            json_decref(c);
    }
    d->timesteps = (int)col_int(r, i, 5);
    if (d->rows > 0 && d->features > 0 && d->label_cols > 0 && d->timesteps >= 0)
        return 0;
    fprintf(stderr, "neurond: dataset %s: its stored shape cannot be read\n", d->id);
    return -1;
}

/* The row, then y and (with_x) x from their chunks, in one snapshot. */
static int ds_load_tx(void *ctx)
{
    static const char sql[] =
        "SELECT rows, features, label_kind, label_cols, classes, "
        "(SELECT timesteps FROM dataset_timesteps WHERE dataset_id = datasets.id) "
        "FROM datasets WHERE id = $1";
    struct ds_load *l = ctx;
    struct dataset *d = l->d;
    int rc = id_row(sql, l->id, ds_load_row, d, "loading a dataset");
    if (rc != STORE_OK)
        return rc;
    if (!(d->y = ds_floats(l->id, "y", (size_t)d->rows * (size_t)d->label_cols)) ||
        (l->with_x && !(d->x = ds_floats(l->id, "x", (size_t)d->rows * row_values(d)))))
        return STORE_ERROR;
    return STORE_OK;
}

static int dataset_arrays(const char *id, struct dataset *d, int with_x)
{
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", id);
    struct ds_load l = {id, d, with_x};
    int rc = snapshot(ds_load_tx, &l);
    if (rc != STORE_OK)
        dataset_free(d);
    return rc;
}

static int pg_dataset_load(const char *id, struct dataset *d)
{
    return dataset_arrays(id, d, 1);
}

static int pg_dataset_label_range(const char *id, float *lo, float *hi)
{
    struct dataset d;
    int rc = dataset_arrays(id, &d, 0);
    if (rc != STORE_OK)
        return rc;
    size_t n = (size_t)d.rows * (size_t)d.label_cols;
    *lo = *hi = d.y[0];
    for (size_t i = 1; i < n; i++) {
        *lo = d.y[i] < *lo ? d.y[i] : *lo;
        *hi = d.y[i] > *hi ? d.y[i] : *hi;
    }
    dataset_free(&d);
    return STORE_OK;
}

/* ---- networks ---- */

static int net_insert_tx(void *ctx)
{
    const struct network *n = ctx;
    struct args a = {0};
    a_text(&a, n->id);
    a_text(&a, n->name);
    a_text(&a, n->created_at);
    a_json(&a, n->definition);
    a_json(&a, n->summary);
    a_json(&a, n->warnings);
    return exec("INSERT INTO networks (id, name, created_at, definition, summary, warnings) "
                "VALUES ($1, $2, $3, $4, $5, $6)", &a, "storing a network");
}

static int pg_network_insert(const struct network *n)
{
    return transaction(net_insert_tx, (void *)n);
}

static int net_head(PGresult *r, int i, struct network *n)
{
    col_copy(r, i, 0, n->id, sizeof n->id);
    n->name = col_dup(r, i, 1);
    col_copy(r, i, 2, n->created_at, sizeof n->created_at);
    return is_null(r, i, 1) || n->name ? 0 : -1;
}

static int net_row(PGresult *r, int i, void *item)
{
    struct network *n = item;
    if (net_head(r, i, n) < 0)
        return -1;
    n->definition = col_json(r, i, 3);
    n->summary = col_json(r, i, 4);
    n->warnings = col_json(r, i, 5);
    return n->definition && n->summary && n->warnings ? 0 : -1;
}

static int pg_network_get(const char *id, struct network *n)
{
    memset(n, 0, sizeof *n);
    int rc = id_row("SELECT id, name, created_at, definition, summary, warnings FROM networks "
                    "WHERE id = $1", id, net_row, n, "reading a network");
    if (rc != STORE_OK)
        network_free(n);
    return rc;
}

static int net_list_row(PGresult *r, int i, void *item)
{
    struct network *n = item;
    n->inputs = (int)col_double(r, i, 3);
    n->outputs = (int)col_double(r, i, 4);
    n->params = (int64_t)col_double(r, i, 5);
    return net_head(r, i, n);
}

static void net_item_free(void *item) { network_free(item); }

static int pg_network_list(int limit, const char *after, struct network **items, int *n,
                           int *more)
{
    static const char sql[] =
        "SELECT id, name, created_at, summary::json->>'inputs', summary::json->>'outputs', "
        "summary::json->>'params' FROM networks WHERE seq > COALESCE((SELECT seq FROM "
        "networks WHERE id = $1), 0) ORDER BY seq LIMIT $2";
    *items = NULL;
    *n = *more = 0;
    if (after) {
        int rc = id_row("SELECT 1 FROM networks WHERE id = $1", after, NULL, NULL,
                        "finding a network");
        if (rc != STORE_OK)
            return rc;
    }
    struct args a = {0};
    a_text(&a, after);
    a_int(&a, limit + 1);
    return page(sql, &a, limit, sizeof **items, net_list_row, net_item_free, (void **)items,
                n, more);
}

/* A one-parameter DELETE: STORE_OK when it deleted a row, else STORE_NOT_FOUND. */
static int delete_one(const char *sql, const char *id, const char *what)
{
    struct args a = {0};
    a_text(&a, id);
    PGresult *r = run(sql, &a, what);
    if (!r)
        return STORE_ERROR;
    int rc = changes(r) > 0 ? STORE_OK : STORE_NOT_FOUND;
    PQclear(r);
    return rc;
}

static int net_delete_tx(void *ctx)
{
    return delete_one("DELETE FROM networks WHERE id = $1", ctx, "deleting a network");
}

static int pg_network_delete(const char *id)
{
    return transaction(net_delete_tx, (void *)id);
}

/* ---- jobs ---- */

/* Counts the queue and inserts in one transaction, as SQLite's. Read committed, under an
 * advisory lock that only inserts take: inserts take turns, each counting (in a statement
 * begun once it holds the lock) every job queued before it, so the limits hold; claims
 * and ends of other jobs, which only shorten the queue, go on beside them. As a
 * serializable transaction, the count conflicted with them, and a busy queue refused
 * jobs after retrying. */
static int job_insert_tx(void *ctx)
{
    static const char count[] =
        "SELECT count(*) >= $1::bigint, $2::text IS NOT NULL AND "
        "count(*) FILTER (WHERE owner = $2::text) >= $3::bigint FROM jobs WHERE state = 'queued'";
    static const char sql[] =
        "INSERT INTO jobs (id, state, request, network_id, dataset_id, val_dataset_id, epochs, "
        "created_at, owner) SELECT $1::text, 'queued', $2::text, $3::text, $4::text, "
        "$5::text, $6::integer, $7::text, $8::text WHERE EXISTS "
        "(SELECT 1 FROM datasets WHERE id = $4::text) AND ($5::text IS NULL OR EXISTS "
        "(SELECT 1 FROM datasets WHERE id = $5::text))";
    struct job_new *in = ctx;
    struct args c = {0};
    a_int(&c, in->max_queued);
    a_text(&c, in->owner);
    a_int(&c, in->max_queued_owner);
    struct args none = {0};
    if (exec(QUEUE_LOCK, &none, "waiting to queue a job") < 0)
        return STORE_ERROR;
    PGresult *r = run(count, &c, "counting the queue");
    if (!r)
        return STORE_ERROR;
    int all_full = (int)col_int(r, 0, 0);
    in->owner_full = (int)col_int(r, 0, 1);
    PQclear(r);
    if (all_full || in->owner_full)
        return STORE_LIMIT;
    char now[32];
    now_iso(now);
    struct args a = {0};
    a_text(&a, in->id);
    a_json(&a, in->request);
    a_text(&a, in->network_id);
    a_text(&a, in->dataset_id);
    a_text(&a, in->val_dataset_id);
    a_int(&a, in->epochs);
    a_text(&a, now);
    a_text(&a, in->owner);
    if (!(r = run(sql, &a, "queueing a job")))
        return STORE_ERROR;
    int rc = changes(r) == 1 ? STORE_OK : STORE_NOT_FOUND;
    PQclear(r);
    return rc;
}

static int pg_job_insert(struct job_new *j)
{
    j->owner_full = 0;
    return transaction_locked(job_insert_tx, j);
}

#define JOB_COLS "id, state, request, epoch, epochs, progress, latest, eta_seconds, error, " \
                 "model_id, created_at, started_at, finished_at, seq, " \
                 "model_id IS NOT NULL AND NOT EXISTS " \
                 "(SELECT 1 FROM models WHERE models.id = jobs.model_id), node, attempt"

static int job_row(PGresult *r, int i, void *item)
{
    struct job *j = item;
    col_copy(r, i, 0, j->id, sizeof j->id);
    int state = job_state_parse(col_text(r, i, 1));
    j->state = state >= 0 ? (enum job_state)state : JOB_FAILED;
    j->request = col_json(r, i, 2);
    j->epoch = (int)col_int(r, i, 3);
    j->epochs = (int)col_int(r, i, 4);
    j->progress = col_double(r, i, 5);
    j->latest = col_json(r, i, 6);
    j->eta = col_double(r, i, 7);
    j->error = col_json(r, i, 8);
    col_copy(r, i, 9, j->model_id, sizeof j->model_id);
    col_copy(r, i, 10, j->created_at, sizeof j->created_at);
    col_copy(r, i, 11, j->started_at, sizeof j->started_at);
    col_copy(r, i, 12, j->finished_at, sizeof j->finished_at);
    j->model_deleted = (int)col_int(r, i, 14);
    col_copy(r, i, 15, j->node, sizeof j->node);
    j->attempt = (int)col_int(r, i, 16);
    if (j->model_deleted)
        j->model_id[0] = 0;
    return j->request ? 0 : -1;
}

static void job_item_free(void *item) { job_free(item); }

static int pg_job_get(const char *id, struct job *j)
{
    memset(j, 0, sizeof *j);
    int rc = id_row("SELECT " JOB_COLS " FROM jobs WHERE id = $1", id, job_row, j,
                    "reading a job");
    if (rc != STORE_OK)
        job_free(j);
    return rc;
}

static int state_row(PGresult *r, int i, void *item)
{
    int v = job_state_parse(col_text(r, i, 0));
    *(enum job_state *)item = v >= 0 ? (enum job_state)v : JOB_FAILED;
    return 0;
}

static int pg_job_state(const char *id, enum job_state *state)
{
    return id_row("SELECT state FROM jobs WHERE id = $1", id, state_row, state,
                  "reading a job's state");
}

static int pg_job_list(int state, int limit, const char *after, struct job **items, int *n,
                       int *more)
{
    static const char sql[] =
        "SELECT " JOB_COLS " FROM jobs WHERE ($1::text IS NULL OR state = $1::text) AND seq > "
        "COALESCE((SELECT seq FROM jobs WHERE id = $2), 0) ORDER BY seq LIMIT $3";
    *items = NULL;
    *n = *more = 0;
    enum job_state was;
    int e = after ? pg_job_state(after, &was) : STORE_OK;
    if (e != STORE_OK)
        return e;
    struct args a = {0};
    a_text(&a, job_state_name(state));
    a_text(&a, after);
    a_int(&a, limit + 1);
    return page(sql, &a, limit, sizeof **items, job_row, job_item_free, (void **)items, n,
                more);
}

/* Inside a write: STORE_FENCED unless the job runs `attempt` (0: no check). The row is
 * locked, so that a claim that takes the job over waits for this write or makes it fail
 * and run again, to be fenced then. A trainer frozen in the middle of the transaction
 * (SIGSTOP, a pause of its machine) would keep that lock, and with it the job, from
 * every other node: the server ends such a transaction after FENCE_IDLE_MS idle. */
#define FENCE_IDLE_MS "10000"
static int fence(const char *id, int attempt)
{
    if (attempt == 0)
        return 0;
    struct args a = {0};
    a_text(&a, id);
    a_int(&a, attempt);
    int rc = one_row("SELECT set_config('idle_in_transaction_session_timeout', '"
                     FENCE_IDLE_MS "', true) FROM jobs WHERE id = $1 AND attempt = $2 AND "
                     "state = 'running' FOR UPDATE", &a, NULL, NULL, "reading a job");
    return rc == STORE_NOT_FOUND ? STORE_FENCED : rc == STORE_OK ? 0 : rc;
}

static int drop_checkpoint(const char *id);
static int flag_row(PGresult *r, int i, void *item);

/* Running jobs whose attempt died, counted one more dead attempt: lapsed ones (their
 * lease ended, on the database's clock) when node is NULL, else every one held by node.
 * Those at max end (failed, or cancelled when a cancel was answered 202) with
 * store_dead_error, their checkpoint dropped; with requeue the others go back to queued.
 * Rows another transaction holds are skipped. *n (may be NULL) counts them. */
static int bury(const char *node, int max, int requeue, int *n)
{
    static const char pick[] =
        "SELECT id, dead_attempts + 1, node FROM jobs WHERE state = 'running' AND "
        "CASE WHEN $1::text IS NULL THEN lease_until IS NULL OR lease_until < now() "
        "ELSE node = $1::text END AND ($3::integer <> 0 OR dead_attempts + 1 >= $2::integer) "
        "FOR UPDATE SKIP LOCKED";
    static const char end[] =
        "UPDATE jobs SET state = CASE WHEN cancel <> 0 THEN 'cancelled' ELSE 'failed' END, "
        "error = $1, dead_attempts = dead_attempts + 1, lease_until = NULL, "
        "eta_seconds = NULL, finished_at = $2 WHERE id = $3";
    static const char back[] =
        "UPDATE jobs SET state = 'queued', dead_attempts = dead_attempts + 1, "
        "lease_until = NULL WHERE id = $1";
    struct args a = {0};
    a_text(&a, node);
    a_int(&a, max);
    a_int(&a, requeue);
    PGresult *r = run(pick, &a, "reading the running jobs");
    if (!r)
        return STORE_ERROR;
    char now[32];
    now_iso(now);
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        const char *id = col_text(r, i, 0), *last = col_text(r, i, 2);
        int attempts = (int)col_int(r, i, 1), ends = attempts >= max;
        struct args b = {0};
        json_t *e = ends ? store_dead_error(attempts, last) : NULL;
        if (ends) {
            a_json(&b, e);
            a_text(&b, now);
        }
        a_text(&b, id);
        int rc = exec(ends ? end : back, &b, "ending a job that died");
        json_decref(e);
        if (rc < 0 || (ends && drop_checkpoint(id) < 0)) {
            PQclear(r);
            return STORE_ERROR;
        }
        if (ends)
            fprintf(stderr, "neurond: job %s died in %d attempts, the last on node %s: it is "
                    "not claimed again\n", id, attempts, last ? last : "(unknown)");
    }
    PQclear(r);
    if (n)
        *n = rows;
    return 0;
}

struct claim {
    const struct claimer *by;
    char *id;
    int attempt;
};

/* The oldest job that is queued or running with a lapsed lease (those marked to be
 * cancelled first), locked so that another worker skips it rather than waits for it.
 * Lapsed jobs at their last attempt end first, so that the claim does not take them. */
static int claim_tx(void *ctx)
{
    static const char sql[] =
        "UPDATE jobs SET state = 'running', error = NULL, started_at = COALESCE(started_at, $1), "
        "dead_attempts = dead_attempts + CASE WHEN state = 'running' THEN 1 ELSE 0 END, "
        "attempt = attempt + 1, node = $2, lease_until = now() + $3::integer * interval '1 second' "
        "WHERE seq = (SELECT seq FROM jobs WHERE state IN ('queued', 'running') AND "
        "(state = 'queued' OR lease_until IS NULL OR lease_until < now()) "
        "ORDER BY cancel DESC, seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, attempt";
    struct claim *c = ctx;
    if (bury(NULL, c->by->max_attempts, 0, NULL) < 0)
        return STORE_ERROR;
    char now[32];
    now_iso(now);
    struct args a = {0};
    a_text(&a, now);
    a_text(&a, c->by->node);
    a_int(&a, c->by->lease);
    PGresult *r = run(sql, &a, "claiming a job");
    if (!r)
        return STORE_ERROR;
    int got = PQntuples(r) > 0;
    if (got) {
        col_copy(r, 0, 0, c->id, 32);
        c->attempt = (int)col_int(r, 0, 1);
    }
    PQclear(r);
    return got ? STORE_OK : STORE_NOT_FOUND;
}

static const struct claimer default_claimer = {"", 30, 3};

static int pg_job_claim(const struct claimer *by, char *id, int *attempt)
{
    struct claim c = {by ? by : &default_claimer, id, 0};
    int rc = transaction_locked(claim_tx, &c);
    if (rc == STORE_OK && attempt)
        *attempt = c.attempt;
    return rc;
}

struct renew {
    const char *id;
    int attempt, lease, cancel;
};

static int renew_tx(void *ctx)
{
    struct renew *w = ctx;
    struct args a = {0};
    a_int(&a, w->lease);
    a_text(&a, w->id);
    a_int(&a, w->attempt);
    int rc = one_row("UPDATE jobs SET lease_until = now() + $1::integer * interval '1 second' "
                     "WHERE id = $2 AND attempt = $3 AND state = 'running' RETURNING cancel",
                     &a, flag_row, &w->cancel, "renewing a job's lease");
    return rc == STORE_NOT_FOUND ? STORE_FENCED : rc;
}

static int pg_job_renew(const char *id, int attempt, int lease, int *cancel)
{
    struct renew w = {id, attempt, lease, 0};
    int rc = transaction_locked(renew_tx, &w);
    if (rc == STORE_OK && cancel)
        *cancel = w.cancel;
    return rc;
}

struct requeue {
    const char *node;
    int max, n;
};

static int requeue_tx(void *ctx)
{
    struct requeue *q = ctx;
    return bury(q->node, q->max, 1, &q->n);
}

/* Only the starting node's own jobs: the others' are trained by their nodes, or will be
 * claimed once their leases lapse. */
static int pg_job_requeue_running(const char *node, int max_attempts)
{
    struct requeue q = {node ? node : "", max_attempts, 0};
    return transaction_locked(requeue_tx, &q) == STORE_OK ? q.n : -1;
}

/* The epoch's row and the job's latest, inside the caller's transaction. */
static int epoch_write(const char *id, int epoch, const json_t *row, double progress,
                       double eta)
{
    struct args a = {0}, b = {0};
    a_text(&a, id);
    a_int(&a, epoch);
    a_json(&a, row);
    if (exec("INSERT INTO epochs (job_id, epoch, metrics) VALUES ($1, $2, $3) "
             "ON CONFLICT (job_id, epoch) DO UPDATE SET metrics = excluded.metrics", &a,
             "storing an epoch") < 0)
        return STORE_ERROR;
    a_int(&b, epoch);
    a_double(&b, progress);
    a_json(&b, row);
    a_double(&b, eta);
    a_text(&b, id);
    return exec("UPDATE jobs SET epoch = $1, progress = $2, latest = $3, eta_seconds = $4 "
                "WHERE id = $5", &b, "storing an epoch");
}

struct epoch {
    const char *id;
    int attempt;
    int epoch;
    const json_t *row;
    double progress, eta;
};

static int epoch_tx(void *ctx)
{
    const struct epoch *e = ctx;
    int rc = fence(e->id, e->attempt);
    if (rc)
        return rc;
    if (e->row)
        return epoch_write(e->id, e->epoch, e->row, e->progress, e->eta);
    struct args a = {0};
    a_double(&a, e->progress);
    a_double(&a, e->eta);
    a_text(&a, e->id);
    return exec("UPDATE jobs SET progress = $1, eta_seconds = $2 WHERE id = $3", &a,
                "storing a job's progress");
}

static int pg_job_epoch(const char *id, int epoch, const json_t *row, double progress,
                        double eta)
{
    struct epoch e = {id, 0, epoch, row, progress, eta};
    return row ? transaction(epoch_tx, &e) : STORE_ERROR;
}

static int pg_job_progress(const char *id, int attempt, double progress, double eta)
{
    struct epoch e = {id, attempt, 0, NULL, progress, eta};
    return transaction_locked(epoch_tx, &e);
}

static int drop_checkpoint(const char *id)
{
    struct args a = {0}, b = {0};
    a_text(&a, id);
    a_text(&b, id);
    return exec("DELETE FROM checkpoints WHERE job_id = $1", &a, "dropping a checkpoint") ||
                   exec("DELETE FROM checkpoint_best WHERE job_id = $1", &b,
                        "dropping a checkpoint")
               ? STORE_ERROR : 0;
}

struct finish {
    const char *id;
    int attempt;
    enum job_state state;
    const json_t *error;
    const struct model *model;
    enum job_state ended;
};

static int model_insert(const struct model *m);

static int finish_tx(void *ctx)
{
    static const char sql[] =
        "UPDATE jobs SET state = CASE WHEN cancel <> 0 AND $1::text IN ('succeeded', 'failed') "
        "THEN 'cancelled' ELSE $1::text END, error = $2, model_id = COALESCE($3, model_id), "
        "finished_at = CASE WHEN $1::text = 'queued' THEN NULL ELSE $4 END, "
        "progress = CASE WHEN $1::text = 'succeeded' AND cancel = 0 THEN 1 ELSE progress END, "
        "eta_seconds = CASE WHEN $1::text = 'queued' THEN eta_seconds ELSE NULL END, "
        "lease_until = NULL WHERE id = $5 RETURNING state";
    struct finish *f = ctx;
    if (f->model) {
        /* tried again after a COMMIT whose answer was lost with the connection: it landed
           when the job holds the model already */
        struct args m = {0};
        a_text(&m, f->id);
        a_text(&m, f->model->id);
        enum job_state now_in;
        int rc = one_row("SELECT state FROM jobs WHERE id = $1 AND model_id = $2", &m,
                         state_row, &now_in, "ending a job");
        if (rc != STORE_NOT_FOUND) {
            if (rc == STORE_OK)
                f->ended = now_in;
            return rc;
        }
    }
    int fenced = fence(f->id, f->attempt);
    if (fenced)
        return fenced;
    if (f->model && model_insert(f->model) != STORE_OK)
        return STORE_ERROR;
    char now[32];
    now_iso(now);
    struct args a = {0};
    a_text(&a, job_state_name(f->state));
    a_json(&a, f->error);
    a_text(&a, f->model ? f->model->id : NULL);
    a_text(&a, now);
    a_text(&a, f->id);
    PGresult *r = run(sql, &a, "ending a job");
    if (!r)
        return STORE_ERROR;
    if (PQntuples(r) > 0)
        f->ended = job_state_parse(col_text(r, 0, 0));
    PQclear(r);
    return f->ended == JOB_QUEUED ? 0 : drop_checkpoint(f->id);
}

static int pg_job_finish(const char *id, int attempt, enum job_state state,
                         const json_t *error, const struct model *model, enum job_state *ended)
{
    struct finish f = {id, attempt, state, error, model, state};
    int rc = transaction_locked(finish_tx, &f);
    if (model)
        pg_names_moved();   /* a new version of its name */
    if (rc == STORE_OK && ended)
        *ended = f.ended;
    return rc;
}

struct cancel {
    const char *id;
    enum job_state *was;
};

/* One statement of cancel_tx ($1 the id, $2 if given the time): 1 when it changed the
 * job, 0 when not, STORE_ERROR. */
static int cancel_step(const char *sql, const char *id, int with_time)
{
    char now[32];
    now_iso(now);
    struct args a = {0};
    a_text(&a, id);
    if (with_time)
        a_text(&a, now);
    PGresult *r = run(sql, &a, "cancelling a job");
    if (!r)
        return STORE_ERROR;
    int changed = PQntuples(r) > 0;
    PQclear(r);
    return changed;
}

static int cancel_tx(void *ctx)
{
    static const char now_sql[] =
        "UPDATE jobs SET state = 'cancelled', finished_at = $2 "
        "WHERE id = $1 AND state = 'queued' AND cancel = 0 RETURNING 1";
    static const char mark_sql[] =
        "UPDATE jobs SET cancel = 1 WHERE id = $1 AND state IN ('queued', 'running') "
        "RETURNING 1";
    const struct cancel *c = ctx;
    int rc = cancel_step(now_sql, c->id, 1);
    if (rc == 1) {
        *c->was = JOB_QUEUED;
        return drop_checkpoint(c->id) < 0 ? STORE_ERROR : STORE_OK;
    }
    if (rc < 0 || (rc = cancel_step(mark_sql, c->id, 0)) < 0)
        return STORE_ERROR;
    if (rc == 1) {
        *c->was = JOB_RUNNING;
        return STORE_OK;
    }
    rc = pg_job_state(c->id, c->was);
    return rc == STORE_OK ? STORE_CONFLICT : rc;
}

static int pg_job_cancel(const char *id, enum job_state *was)
{
    struct cancel c = {id, was};
    return transaction(cancel_tx, &c);
}

static int flag_row(PGresult *r, int i, void *item)
{
    *(int *)item = col_int(r, i, 0) != 0;
    return 0;
}

static int pg_job_cancelling(const char *id)
{
    int on = 0;
    int rc = id_row("SELECT cancel FROM jobs WHERE id = $1", id, flag_row, &on,
                    "reading a job");
    return rc == STORE_ERROR ? STORE_ERROR : on;
}

static int pg_job_epochs(const char *id, int after, int limit, json_t **out)
{
    static const char sql[] =
        "SELECT metrics FROM epochs WHERE job_id = $1 AND epoch > $2 ORDER BY epoch "
        "LIMIT $3";
    *out = NULL;
    enum job_state state;
    int e = after == 0 ? pg_job_state(id, &state) : STORE_OK;
    if (e != STORE_OK)
        return e;
    struct args a = {0};
    a_text(&a, id);
    a_int(&a, after);
    if (limit < 0)
        a_text(&a, NULL);   /* LIMIT NULL: all */
    else
        a_int(&a, limit);
    PGresult *r = run(sql, &a, "reading a job's epochs");
    json_t *rows = r ? json_array() : NULL;
    if (!rows) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *v = col_json(r, i, 0);
        if (json_is_object(v))
            json_array_append_new(rows, v);
        else
            json_decref(v);
    }
    PQclear(r);
    *out = rows;
    return STORE_OK;
}

static int pg_job_counts(long counts[JOB_STATE_COUNT])
{
    for (int i = 0; i < JOB_STATE_COUNT; i++)
        counts[i] = 0;
    struct args a = {0};
    PGresult *r = run("SELECT state, count(*) FROM jobs GROUP BY state", &a, "counting jobs");
    if (!r)
        return STORE_ERROR;
    for (int i = 0; i < PQntuples(r); i++) {
        int state = job_state_parse(col_text(r, i, 0));
        if (state >= 0)
            counts[state] = (long)col_int(r, i, 1);
    }
    PQclear(r);
    return STORE_OK;
}

/* ---- checkpoints ---- */

/* A stored size: a BIGINT column, -1 for NULL (no such value). */
static long long col_size(PGresult *r, int i, int col)
{
    return is_null(r, i, col) ? -1 : col_int(r, i, col);
}

struct cp_write {
    const char *id;
    int attempt;
    const struct checkpoint *c;
    const json_t *row;
    double progress, eta;
};

static int cp_write_tx(void *ctx)
{
    struct cp_write *w = ctx;
    int fenced = fence(w->id, w->attempt);
    if (fenced)
        return fenced;
    if (w->row && epoch_write(w->id, w->c->epoch, w->row, w->progress, w->eta) < 0)
        return STORE_ERROR;
    struct args a = {0};
    a_text(&a, w->id);
    a_int(&a, w->c->epoch);
    a_int(&a, (long long)w->c->net_len);
    a_blob(&a, w->c->rng, w->c->rng_len);
    a_json(&a, w->c->state);
    if (exec("INSERT INTO checkpoints (job_id, epoch, net_bytes, rng, state) VALUES "
             "($1, $2, $3, $4, $5) ON CONFLICT (job_id) DO UPDATE SET epoch = excluded.epoch, "
             "net_bytes = excluded.net_bytes, rng = excluded.rng, state = excluded.state", &a,
             "storing a checkpoint") < 0 ||
        chunks_put("checkpoint_chunks", w->id, "net", w->c->net, w->c->net_len, 0) < 0)
        return STORE_ERROR;
    if (!w->c->best_changed)
        return 0;
    struct args b = {0};
    a_text(&b, w->id);
    if (!w->c->best)   /* its chunks go with it */
        return exec("DELETE FROM checkpoint_best WHERE job_id = $1", &b,
                    "storing a checkpoint");
    a_int(&b, (long long)w->c->best_len);
    return exec("INSERT INTO checkpoint_best (job_id, net_bytes) VALUES ($1, $2) ON CONFLICT "
                "(job_id) DO UPDATE SET net_bytes = excluded.net_bytes", &b,
                "storing a checkpoint") < 0 ||
                   chunks_put("checkpoint_best_chunks", w->id, "net", w->c->best,
                              w->c->best_len, 0) < 0
               ? STORE_ERROR : 0;
}

static int pg_checkpoint_save(const char *id, int attempt, const struct checkpoint *c,
                              const json_t *row, double progress, double eta)
{
    struct cp_write w = {id, attempt, c, row, progress, eta};
    return transaction_locked(cp_write_tx, &w);
}

/* Value 'net' of owner, of len bytes (>= 0), read from its chunks in table: new, NULL
 * when it cannot be read (logged) or len is not a size. */
static void *chunks_new(const char *table, const char *owner, long long len,
                        const char *what)
{
    void *p = len >= 0 && (unsigned long long)len < SIZE_MAX ? malloc((size_t)len + 1) : NULL;
    if (p && chunks_get(table, owner, "net", p, (size_t)len, 0, what) == 0)
        return p;
    if (!p)
        fprintf(stderr, "neurond: %s failed: %lld bytes cannot be held\n", what, len);
    free(p);
    return NULL;
}

struct cp_load {
    const char *id;
    struct checkpoint *c;
    long long net_len, best_len;
};

static int cp_row(PGresult *r, int i, void *item)
{
    struct cp_load *l = item;
    struct checkpoint *c = l->c;
    c->epoch = (int)col_int(r, i, 0);
    l->net_len = col_size(r, i, 1);
    c->rng = col_blob(r, i, 2, &c->rng_len);
    l->best_len = col_size(r, i, 3);
    c->state = col_json(r, i, 4);
    return c->rng ? 0 : -1;
}

/* The row, then the network and the best weights from their chunks, in one snapshot. */
static int cp_load_tx(void *ctx)
{
    struct cp_load *l = ctx;
    struct checkpoint *c = l->c;
    int rc = id_row("SELECT c.epoch, c.net_bytes, c.rng, b.net_bytes, c.state FROM "
                    "checkpoints c LEFT JOIN checkpoint_best b ON b.job_id = c.job_id "
                    "WHERE c.job_id = $1", l->id, cp_row, l, "reading a checkpoint");
    if (rc != STORE_OK)
        return rc;
    if (!(c->net = chunks_new("checkpoint_chunks", l->id, l->net_len, "reading a checkpoint")))
        return STORE_ERROR;
    c->net_len = (size_t)l->net_len;
    if (l->best_len < 0)
        return STORE_OK;
    if (!(c->best = chunks_new("checkpoint_best_chunks", l->id, l->best_len,
                               "reading a checkpoint")))
        return STORE_ERROR;
    c->best_len = (size_t)l->best_len;
    return STORE_OK;
}

static int pg_checkpoint_load(const char *id, struct checkpoint *c)
{
    memset(c, 0, sizeof *c);
    struct cp_load l = {id, c, -1, -1};
    int rc = snapshot(cp_load_tx, &l);
    if (rc != STORE_OK)
        checkpoint_free(c);
    return rc;
}

/* ---- models ---- */

static int next_version_row(PGresult *r, int i, void *item)
{
    *(int *)item = (int)col_int(r, i, 0);
    return 0;
}

/* Inside finish_tx's transaction. */
static int model_insert(const struct model *m)
{
    static const char sql[] =
        "INSERT INTO models (id, job_id, job_name, created_at, network, dataset_id, "
        "label_kind, classes, metrics, scaler, net_bytes, columns, label_scaler, name, "
        "version) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
    int version = 0;
    if (m->name) {
        struct args v = {0};
        a_text(&v, m->name);
        if (one_row("INSERT INTO model_names (name, versions) VALUES ($1, 1) ON CONFLICT "
                    "(name) DO UPDATE SET versions = model_names.versions + 1 "
                    "RETURNING versions", &v, next_version_row, &version,
                    "numbering a model") != STORE_OK || version <= 0)
            return STORE_ERROR;
    }
    char now[32];
    now_iso(now);
    struct args a = {0};
    a_text(&a, m->id);
    a_text(&a, m->job_id);
    a_text(&a, m->job_name);
    a_text(&a, *m->created_at ? m->created_at : now);
    a_json(&a, m->network);
    a_text(&a, m->dataset_id);
    a_text(&a, label_kind_name(m->label_kind));
    a_json(&a, m->classes);
    a_json(&a, m->metrics);
    a_blob(&a, m->scaler, m->scaler_len);
    a_int(&a, (long long)m->net_len);
    a_json(&a, m->columns);
    a_blob(&a, m->label_scaler, m->label_scaler_len);
    a_text(&a, m->name);
    if (version)
        a_int(&a, version);
    else
        a_text(&a, NULL);
    return exec(sql, &a, "storing a model") < 0 ||
                   chunks_put("model_chunks", m->id, "net", m->net, m->net_len, 0) < 0
               ? STORE_ERROR : STORE_OK;
}

static int model_insert_tx(void *ctx) { return model_insert(ctx); }

static int pg_model_insert(const struct model *m)
{
    return transaction(model_insert_tx, (void *)m);
}

#define MODEL_COLS "id, job_id, job_name, created_at, network, dataset_id, label_kind, " \
                   "classes, metrics, scaler, columns, label_scaler, name, version, " \
                   "(SELECT COALESCE(json_agg(alias ORDER BY alias), '[]')::text FROM " \
                   "model_aliases a WHERE a.name = models.name AND a.version = models.version)"
#define MODEL_NET_COL 15

static int model_row(PGresult *r, int i, void *item)
{
    struct model *m = item;
    col_copy(r, i, 0, m->id, sizeof m->id);
    col_copy(r, i, 1, m->job_id, sizeof m->job_id);
    m->job_name = col_dup(r, i, 2);
    col_copy(r, i, 3, m->created_at, sizeof m->created_at);
    m->network = col_json(r, i, 4);
    col_copy(r, i, 5, m->dataset_id, sizeof m->dataset_id);
    int kind = label_kind_parse(col_text(r, i, 6));
    m->label_kind = kind >= 0 ? (enum label_kind)kind : LABELS_NUMBERS;
    m->classes = col_json(r, i, 7);
    m->metrics = col_json(r, i, 8);
    m->scaler = col_blob(r, i, 9, &m->scaler_len);
    m->standardized = m->scaler != NULL;
    m->columns = col_json(r, i, 10);
    m->label_scaler = col_blob(r, i, 11, &m->label_scaler_len);
    m->name = col_dup(r, i, 12);
    m->version = (int)col_int(r, i, 13);
    m->aliases = col_json(r, i, 14);
    return m->network && m->metrics && (m->scaler || is_null(r, i, 9)) &&
                   (m->label_scaler || is_null(r, i, 11)) &&
                   (m->columns || is_null(r, i, 10)) && (m->name || is_null(r, i, 12)) &&
                   json_is_array(m->aliases)
               ? 0 : -1;
}

struct model_load {
    const char *id;
    struct model *m;
    long long net_len;
};

static int model_row_size(PGresult *r, int i, void *item)
{
    struct model_load *l = item;
    l->net_len = col_size(r, i, MODEL_NET_COL);
    return model_row(r, i, l->m);
}

/* The row, then the network from its chunks, in one snapshot. */
static int model_load_tx(void *ctx)
{
    struct model_load *l = ctx;
    int rc = id_row("SELECT " MODEL_COLS ", net_bytes FROM models WHERE id = $1", l->id,
                    model_row_size, l, "reading a model");
    if (rc != STORE_OK)
        return rc;
    if (!(l->m->net = chunks_new("model_chunks", l->id, l->net_len, "reading a model")))
        return STORE_ERROR;
    l->m->net_len = (size_t)l->net_len;
    return STORE_OK;
}

static void model_item_free(void *item) { model_free(item); }

static int model_by_id(const char *id, struct model *m, int blobs)
{
    memset(m, 0, sizeof *m);
    struct model_load l = {id, m, -1};
    int rc = blobs ? snapshot(model_load_tx, &l)
                   : id_row("SELECT " MODEL_COLS " FROM models WHERE id = $1", id, model_row,
                            m, "reading a model");
    if (rc != STORE_OK)
        model_free(m);
    return rc;
}

static int pg_model_get(const char *id, struct model *m) { return model_by_id(id, m, 0); }
static int pg_model_load(const char *id, struct model *m) { return model_by_id(id, m, 1); }

static int pg_model_list(const char *name, int limit, const char *after, struct model **items,
                         int *n, int *more)
{
    static const char sql[] =
        "SELECT " MODEL_COLS " FROM models WHERE seq > COALESCE((SELECT seq FROM models "
        "WHERE id = $1), 0) ORDER BY seq LIMIT $2";
    static const char sql_name[] =
        "SELECT " MODEL_COLS " FROM models WHERE name = $3 AND version < COALESCE((SELECT "
        "version FROM models WHERE id = $1), 2147483647) ORDER BY version DESC LIMIT $2";
    *items = NULL;
    *n = *more = 0;
    int e = STORE_OK;
    if (after && name) {
        struct args k = {0};
        a_text(&k, after);
        a_text(&k, name);
        e = one_row("SELECT 1 FROM models WHERE id = $1 AND name = $2", &k, NULL, NULL,
                    "finding a model");
    } else if (after) {
        e = id_row("SELECT 1 FROM models WHERE id = $1", after, NULL, NULL, "finding a model");
    }
    if (e != STORE_OK)
        return e;
    struct args a = {0};
    a_text(&a, after);
    a_int(&a, limit + 1);
    if (name)
        a_text(&a, name);
    return page(name ? sql_name : sql, &a, limit, sizeof **items, model_row, model_item_free,
                (void **)items, n, more);
}

struct model_delete {
    const char *id;
    json_t *aliases;
};

static int model_delete_tx(void *ctx)
{
    struct model_delete *d = ctx;
    json_decref(d->aliases);   /* from a run before, when the transaction ran again */
    d->aliases = json_array();
    struct args a = {0};
    a_text(&a, d->id);
    PGresult *r = d->aliases ? run("SELECT a.alias FROM model_aliases a JOIN models m ON "
                                   "a.name = m.name AND a.version = m.version WHERE m.id = $1 "
                                   "ORDER BY a.alias", &a, "finding a model's aliases")
                             : NULL;
    if (!r)
        return STORE_ERROR;
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(d->aliases, json_string(col_text(r, i, 0)));
    PQclear(r);
    if (json_array_size(d->aliases))
        return STORE_CONFLICT;
    return delete_one("DELETE FROM models WHERE id = $1", d->id, "deleting a model");
}

static int pg_model_delete(const char *id, json_t **aliases)
{
    struct model_delete d = {id, NULL};
    int rc = transaction(model_delete_tx, &d);
    pg_names_moved();
    if (rc == STORE_CONFLICT && aliases)
        *aliases = json_incref(d.aliases);
    json_decref(d.aliases);
    return rc;
}

/* ---- names, versions, aliases ---- */

static int pg_model_name_known(const char *name)
{
    return id_row("SELECT 1 FROM model_names WHERE name = $1", name, NULL, NULL,
                  "finding a model name");
}

static int id_col_row(PGresult *r, int i, void *item)
{
    col_copy(r, i, 0, item, 32);
    return 0;
}

static int pg_model_find(const char *name, int version, const char *alias, char *id,
                         int *known)
{
    *known = 0;
    *id = 0;
    struct args a = {0};
    a_text(&a, name);
    const char *sql;
    if (alias) {
        a_text(&a, alias);
        sql = "SELECT m.id FROM model_aliases a JOIN models m ON m.name = a.name AND "
              "m.version = a.version WHERE a.name = $1 AND a.alias = $2";
    } else if (version > 0) {
        a_int(&a, version);
        sql = "SELECT id FROM models WHERE name = $1 AND version = $2";
    } else {
        sql = "SELECT id FROM models WHERE name = $1 ORDER BY version DESC LIMIT 1";
    }
    int rc = one_row(sql, &a, id_col_row, id, "finding a model by name");
    if (rc == STORE_OK)
        return (*known = 1), STORE_OK;
    if (rc == STORE_ERROR)
        return rc;
    rc = pg_model_name_known(name);
    *known = rc == STORE_OK;
    return rc == STORE_ERROR ? STORE_ERROR : STORE_NOT_FOUND;
}

static int pg_alias_list(const char *name, json_t **out)
{
    *out = NULL;
    int rc = pg_model_name_known(name);
    if (rc != STORE_OK)
        return rc;
    struct args a = {0};
    a_text(&a, name);
    PGresult *r = run("SELECT a.alias, a.version, m.id FROM model_aliases a JOIN models m ON "
                      "m.name = a.name AND m.version = a.version WHERE a.name = $1 "
                      "ORDER BY a.alias", &a, "listing aliases");
    json_t *list = r ? json_array() : NULL;
    if (!list) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(list, json_pack("{s:s, s:i, s:s}", "alias", col_text(r, i, 0),
                                              "version", (int)col_int(r, i, 1), "model",
                                              col_text(r, i, 2)));
    PQclear(r);
    *out = list;
    return STORE_OK;
}

struct alias_set {
    const char *name, *alias;
    int version;
    int created, known;
    char model[32];
};

static int alias_set_tx(void *ctx)
{
    struct alias_set *a = ctx;
    int rc = pg_model_find(a->name, a->version, NULL, a->model, &a->known);
    if (rc != STORE_OK)
        return rc;
    struct args h = {0};
    a_text(&h, a->name);
    a_text(&h, a->alias);
    rc = one_row("SELECT 1 FROM model_aliases WHERE name = $1 AND alias = $2", &h, NULL, NULL,
                 "finding an alias");
    if (rc == STORE_ERROR)
        return rc;
    a->created = rc == STORE_NOT_FOUND;
    struct args u = {0};
    a_text(&u, a->name);
    a_text(&u, a->alias);
    a_int(&u, a->version);
    return exec("INSERT INTO model_aliases (name, alias, version) VALUES ($1, $2, $3) "
                "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version", &u,
                "setting an alias") < 0 ? STORE_ERROR : STORE_OK;
}

static int pg_alias_set(const char *name, const char *alias, int version, int *created,
                        char *model, int *known)
{
    struct alias_set a = {name, alias, version, 0, 0, ""};
    int rc = transaction(alias_set_tx, &a);
    pg_names_moved();
    *created = a.created;
    *known = a.known;
    snprintf(model, 32, "%s", a.model);
    return rc;
}

struct alias_delete {
    const char *name, *alias;
};

static int alias_delete_tx(void *ctx)
{
    struct alias_delete *d = ctx;
    struct args a = {0};
    a_text(&a, d->name);
    a_text(&a, d->alias);
    PGresult *r = run("DELETE FROM model_aliases WHERE name = $1 AND alias = $2", &a,
                      "deleting an alias");
    if (!r)
        return STORE_ERROR;
    int rc = changes(r) > 0 ? STORE_OK : STORE_NOT_FOUND;
    PQclear(r);
    return rc;
}

static int pg_alias_delete(const char *name, const char *alias)
{
    struct alias_delete d = {name, alias};
    int rc = transaction(alias_delete_tx, &d);
    pg_names_moved();
    return rc;
}

/* ---- the backend ---- */

/* A call's STORE_ERROR as STORE_UNAVAILABLE when it failed for the database out of reach;
 * not for the calls that answer a number (how many jobs went back to the queue, whether
 * a job is marked to be cancelled), whose failure stays -1. */
static int reach(int rc, const char *call)
{
    if (rc != STORE_ERROR || !unreachable || !strcmp(call, "job_requeue_running") ||
        !strcmp(call, "job_cancelling"))
        return rc;
    return STORE_UNAVAILABLE;
}

#define PG_REACH(ret, name, params, args) \
    static ret reach_##name params { unreachable = 0; return reach(pg_##name args, #name); }
STORE_CALLS(PG_REACH)
#undef PG_REACH

const struct store_backend store_pg = {
    .name = "PostgreSQL",
    .open = pg_open,
    .close = pg_close,
    .condition = pg_condition,
    .schema_version = pg_schema_version,
    .schema_latest = pg_schema_latest,
    .announce = pg_announce,
    .watch = pg_watch,
#define PG_ENTRY(ret, name, params, args) .name = reach_##name,
    STORE_CALLS(PG_ENTRY)
#undef PG_ENTRY
};

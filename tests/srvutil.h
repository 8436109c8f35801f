/* srvutil.h -- what the service's suites share: a temporary database, calling a handler
 * directly, and the real binary on 127.0.0.1 driven with libcurl. */
#ifndef SRVUTIL_H
#define SRVUTIL_H

#include "http/http.h"

#include <check.h>
#include <jansson.h>
#include <sys/types.h>

/* A new temporary directory /tmp/neurond-<what>-XXXXXX, its path in dir (cap bytes);
 * fails the test when it cannot be made. su_rmdir removes it with all it holds. */
void su_tmpdir(char *dir, size_t cap, const char *what);
void su_rmdir(const char *dir);

/* NEUROND_TEST_DB when it names a PostgreSQL database (tests/pg.sh uri): the suites then
 * run on PostgreSQL, each su_db_open and each su_start (from an empty s->dir) on a new
 * database created beside it and dropped by su_db_close or su_cleanup. NULL: SQLite. */
const char *su_pg(void);
/* On PostgreSQL, prints "skipped on PostgreSQL: why" and returns 1 (the test returns);
 * 0 on SQLite. For the tests that look at SQLite's file itself. */
int su_pg_skip(const char *why);
/* A new empty database beside NEUROND_TEST_DB's: its connection string (NEUROND_TEST_DB's
 * keywords, dbname the new one's) into out; su_pg_drop drops it. */
void su_pg_create(char *out, size_t cap);
void su_pg_drop(const char *conninfo);
/* Runs one statement (no rows) on a PostgreSQL database; fails the test when it fails. */
void su_pg_exec(const char *conninfo, const char *sql);
/* The same for a query whose rows do not matter. */
void su_pg_exec_rows(const char *conninfo, const char *sql);
/* Opens a fresh database in a new temporary directory (removed by su_db_close), or on
 * PostgreSQL (su_pg) a new database. */
void su_db_open(void);
void su_db_close(void);
/* su_db_open's PostgreSQL database (its connection string), "" on SQLite. */
const char *su_db_pg(void);

/* A direct call of a handler: a JSON body (or NULL), the path parameters and query
 * key/value pairs (NULL-terminated, may be NULL). Returns the reply; su_json parses its
 * body (new). */
struct reply su_call(handler_fn fn, const char *method, const char *body, const char *param0,
                     const char *const *query);
json_t *su_json(const struct reply *rp);
void su_reply_free(struct reply *rp);
/* The app the direct calls see: the service's defaults (config_defaults, set by
 * su_db_open) on one engine thread; no queue. */
extern struct app su_app;

/* The real binary. */
struct server {
    pid_t pid;
    int port;
    char dir[256];             /* temporary directory holding the database */
    char db[1024];             /* the file, or a PostgreSQL connection string (su_pg) */
    char base[64];             /* "http://127.0.0.1:PORT" */
    uid_t uid;                 /* not 0: the service runs as this user (and its group) */
    char token[128];           /* sent as Authorization: Bearer when not empty */
};
/* Starts build/neurond on a free port with a database in a new temporary directory (or
 * in s->dir when it is already set, to restart on the same database), waits until
 * /healthz answers. extra: more arguments, NULL-terminated (may be NULL). */
void su_start(struct server *s, const char *const *extra);
/* SIGTERM and wait (kill = 1: SIGKILL). Keeps the directory. */
void su_stop(struct server *s, int kill);
/* Removes the server's temporary directory. */
void su_cleanup(struct server *s);

struct http_reply {
    long status;
    char *body;                /* new, NUL-terminated */
    size_t len;
    char ctype[128];
    char location[256];
    char allow[128];
    char retry_after[16];
    char connection[32];       /* the Connection header */
    int closed;                /* su_raw: the server closed the connection after it */
    char request_id[128];      /* X-Request-Id */
    char headers[4096];        /* every header line as received (su_header reads one) */
};
/* One request with libcurl: method, path (appended to s->base), body (may be NULL) of
 * content type ctype; with s->token as a bearer token when it has one. */
struct http_reply su_http(const struct server *s, const char *method, const char *path,
                          const char *body, size_t len, const char *ctype);
/* The same with more request headers ("Name: value"; "Name:" leaves out one curl or the
 * token would send), NULL-terminated (may be NULL). */
struct http_reply su_http_h(const struct server *s, const char *method, const char *path,
                            const char *body, size_t len, const char *ctype,
                            const char *const *headers);
/* A header of the reply into out (cap bytes; "" when absent); returns out. */
char *su_header(const struct http_reply *h, const char *name, char *out, size_t cap);
void su_http_free(struct http_reply *h);
/* Raw HTTP, for what client libraries would not send. A new connection to the server
 * from address `from` of the loopback ("127.0.0.2"; NULL: the system's choice), or -1
 * when it cannot connect. */
int su_connect(const struct server *s, const char *from);
/* Sends all of buf on fd; 0, or -1 when the connection broke. */
int su_send(int fd, const void *buf, size_t len);
/* Reads one reply from fd: status line, headers, a body of its Content-Length, waiting
 * up to `seconds`. Status 0 when none came (the connection closed, or the time ran
 * out). When it says Connection: close, waits as long for the end of the connection and
 * sets closed. */
struct http_reply su_read_reply(int fd, int seconds);
/* Waits up to `seconds` for the server to close fd's connection (reading and dropping
 * what comes); 1 when it did. */
int su_wait_closed(int fd, int seconds);
/* One request as raw bytes, on a connection of its own, and its reply (su_read_reply,
 * 30 s). */
struct http_reply su_raw(const struct server *s, const char *req, size_t len);
/* The reply body as JSON, failing the test when it is not. New. */
json_t *su_http_json(const struct http_reply *h);

/* A JSON object's member as a string or an integer; fails the test when it is not one. */
const char *su_str(const json_t *o, const char *key);
long su_int(const json_t *o, const char *key);
/* Seconds on the monotonic clock. */
double su_now(void);
/* How many times needle occurs in text, without overlaps. */
int su_count(const char *text, const char *needle);

/* A 3-class dataset body for POST /v1/datasets: class c = row % 3 has its features
 * around 2c; labels are "red", "green", "blue" when named, else 0, 1, 2. New string. */
char *su_blobs_json(int rows, int features, int named);
/* POSTs a JSON body, expects status `want`, returns the answer's "id" (new string). */
char *su_post_id(const struct server *s, const char *path, const char *body, long want);
/* A dataset of su_blobs_json posted; its id (new). */
char *su_dataset(const struct server *s, int rows, int features, int named);
/* A network posted: inputs -> dense(hidden, relu) -> dense(3, softmax); its id (new). */
char *su_network(const struct server *s, int inputs, int hidden);
/* GET path, expecting 200 and JSON (new). */
json_t *su_get_json(const struct server *s, const char *path);
/* Polls a job until its state is `until` (may be NULL) or an end state, up to `seconds`;
 * the job (new). Fails the test when it does not get there. */
json_t *su_job_wait(const struct server *s, const char *id, const char *until, int seconds);
/* Polls a job until it has stored `epoch` epochs, up to `seconds`; fails the test when it
 * does not get there. */
void su_job_wait_epoch(const struct server *s, const char *id, int epoch, int seconds);

#endif

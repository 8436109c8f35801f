/* pg_notify.c -- changes between nodes on PostgreSQL (store_announce, store_watch in
 * store.h): NOTIFY and LISTEN on one channel.
 *
 * DESIGN. A change is one notification on the channel "neurond", its payload one line
 * of text: "<kind> <tag> <id> <n>", then for progress " <JSON>". kind is the letter of
 * enum store_change; id a job's or a model's ("-" for none); n the epoch (else 0); tag
 * 16 random hex digits drawn once per process, so that a node's listener, which hears
 * every notification on the channel, its own process's included, drops its own. A
 * notification is sent by the thread that announces, on its own connection, outside any
 * transaction and after the change it tells of was committed: PostgreSQL delivers it
 * once that statement ends, and delivers the notifications of one connection in the
 * order they were sent, so a worker's epochs arrive in order and before its final state.
 *
 * The listener is one thread with a connection of its own that does nothing but LISTEN:
 * it waits in poll on the connection's socket and on a pipe that stops it, reads what
 * came (PQconsumeInput) and hands each notification to the watcher. store_watch returns
 * once it listens (or has failed to, or after FIRST_WAIT seconds), so that a node
 * answers requests only when it hears what the others say. When the connection breaks
 * (the server restarted, the network failed; TCP keepalives find a connection to a
 * server that vanished) it connects again, once a second, without blocking its stop.
 * Notifications sent meanwhile are lost, so after connecting again it tells the watcher
 * to look at everything again (CHANGE_RESYNC) and moves the names generation itself. A
 * notification that does not parse is dropped: the channel is the service's, but any
 * client of the database may NOTIFY on it.
 */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL "neurond"
#define NOTIFY_MAX 7999        /* bytes of a payload PostgreSQL takes (less than 8000) */
#define CONNECT_STEP_MS 10000  /* a step of connecting that takes longer fails */

static char tag[17];
static pthread_once_t tag_once = PTHREAD_ONCE_INIT;

#define FIRST_WAIT 5           /* seconds store_watch waits for the listener's LISTEN */

static struct {
    pthread_mutex_t lock;      /* start and stop */
    pthread_mutex_t first_lock;   /* for the two below */
    pthread_cond_t first;      /* signalled after the listener's first attempt */
    int tried;                 /* the listener made its first attempt */
    int late;                  /* store_watch returned before it did */
    pthread_t th;
    int running;
    int stop[2];               /* a pipe: a byte in it stops the listener */
    store_watch_fn fn;
    void *ctx;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER, .first_lock = PTHREAD_MUTEX_INITIALIZER,
       .first = PTHREAD_COND_INITIALIZER, .stop = {-1, -1}};

static void tag_make(void)
{
    unsigned char b[8] = {0};
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* no entropy source: the pid and the address of a stack variable, which differ
         * between the processes of one machine at least */
        unsigned long v = (unsigned long)getpid() ^ (unsigned long)(uintptr_t)&b;
        memcpy(b, &v, sizeof b < sizeof v ? sizeof b : sizeof v);
    }
    for (int i = 0; i < 8; i++)
        snprintf(tag + 2 * i, 3, "%02x", b[i]);
}

/* An id travels as one word: at most 31 bytes, no white space, nothing to escape. */
static int id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 31)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (id[i] <= ' ' || id[i] > '~')
            return 0;
    return 1;
}

void pg_announce(enum store_change kind, const char *id, int n, const json_t *payload)
{
    pthread_once(&tag_once, tag_make);
    if (!id || !*id)
        id = "-";
    if (!id_ok(id))
        return;
    char *json = payload ? json_dumps(payload, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    if (payload && !json)
        return;
    char *text = NULL;
    int len = json ? asprintf(&text, "%c %s %s %d %s", (char)kind, tag, id, n, json)
                   : asprintf(&text, "%c %s %s %d", (char)kind, tag, id, n);
    free(json);
    if (len < 0)
        return;   /* asprintf leaves text undefined */
    if (len <= NOTIFY_MAX)
        pg_exec_text("SELECT pg_notify('" CHANNEL "', $1)", text, "announcing a change");
    free(text);
}

void pg_names_moved(void)
{
    db_model_names_moved();
    pg_announce(CHANGE_NAMES, NULL, 0, NULL);
}

/* ---- the listener ---- */

/* Waits up to ms (-1: for ever) for the stop pipe; 1 when the listener must stop. */
static int stopped(int ms)
{
    struct pollfd p = {L.stop[0], POLLIN, 0};
    return poll(&p, 1, ms) > 0;
}

/* A connection that LISTENs, or NULL (*stop set when the stop pipe spoke meanwhile).
 * Connects without blocking, so that a stop is heard while a server does not answer. */
static PGconn *listen_connect(int *stop)
{
    /* TCP keepalives, so that a connection to a server that vanished without closing it
     * (a machine or a network gone) is found broken in about 25 s rather than never:
     * the listener only reads. They come after the connection string, and so win. */
    static const char *const keys[] = {"dbname", "keepalives", "keepalives_idle",
                                       "keepalives_interval", "keepalives_count", NULL};
    const char *const values[] = {pg_conninfo(), "1", "10", "5", "3", NULL};
    PGconn *c = PQconnectStartParams(keys, values, 1);
    if (!c || PQstatus(c) == CONNECTION_BAD) {
        PQfinish(c);
        return NULL;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            PQfinish(c);
            return NULL;
        }
        struct pollfd p[2] = {{PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0},
                              {L.stop[0], POLLIN, 0}};
        int r = poll(p, 2, CONNECT_STEP_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || p[1].revents) {
            *stop = r > 0;
            PQfinish(c);
            return NULL;
        }
        st = PQconnectPoll(c);
    }
    PQsetNoticeReceiver(c, pg_notice, NULL);
    PGresult *r = PQexec(c, "LISTEN " CHANNEL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQsetnonblocking(c, 1) != 0) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* One notification's payload, to the watcher unless it is this process's own. */
static void deliver(const char *text)
{
    char kind, tok[17], id[32];
    int n, used = 0;
    if (sscanf(text, "%c %16s %31s %d%n", &kind, tok, id, &n, &used) != 4 || used == 0)
        return;
    if (strcmp(tok, tag) == 0 || !kind || !strchr("escpdn", kind))
        return;
    json_t *payload = NULL;
    if (text[used] == ' ' && kind == CHANGE_PROGRESS)
        payload = json_loads(text + used + 1, 0, NULL);
    if (kind == CHANGE_PROGRESS && !json_is_object(payload)) {
        json_decref(payload);
        return;
    }
    if (kind == CHANGE_NAMES)
        db_model_names_moved();
    L.fn(L.ctx, (enum store_change)kind, strcmp(id, "-") ? id : "", n, payload);
    json_decref(payload);
}

static void *listen_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "neurond-listen");
    PGconn *c = NULL;
    int stop = 0, heard = 0, said_lost = 0;
    while (!stop) {
        if (!c) {
            c = listen_connect(&stop);
            pthread_mutex_lock(&L.first_lock);
            if (!L.tried) {   /* store_watch returns: from now on, followers may come */
                L.tried = 1;
                /* a first LISTEN that failed, or came after store_watch gave up waiting,
                 * is late: whatever was said before it, look at it again then */
                heard = !c || L.late;
                pthread_cond_signal(&L.first);
            }
            pthread_mutex_unlock(&L.first_lock);
            if (!c) {
                if (!stop && !said_lost++)
                    fprintf(stderr, "neurond: cannot listen to the other nodes' changes; "
                            "trying again every second\n");
                stop = stop || stopped(1000);
                continue;
            }
            if (heard) {   /* what was said while it was away is lost */
                fprintf(stderr, "neurond: listening to the other nodes' changes again\n");
                db_model_names_moved();
                L.fn(L.ctx, CHANGE_RESYNC, "", 0, NULL);
            }
            heard = 1;
            said_lost = 0;
        }
        struct pollfd p[2] = {{PQsocket(c), POLLIN, 0}, {L.stop[0], POLLIN, 0}};
        int r = poll(p, 2, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || p[1].revents) {
            stop = 1;
            break;
        }
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
            char why[400];
            pg_one_line(PQerrorMessage(c), why, sizeof why);
            fprintf(stderr, "neurond: the connection that listens to the other nodes' "
                    "changes broke: %s\n", why);
            PQfinish(c);
            c = NULL;
            said_lost = 1;
            continue;
        }
        PGnotify *n;
        while ((n = PQnotifies(c))) {
            deliver(n->extra);
            PQfreemem(n);
        }
    }
    PQfinish(c);
    return NULL;
}

/* Under L.lock: stops the listener and waits for it. */
static void listen_stop(void)
{
    if (L.running) {
        ssize_t w = write(L.stop[1], "x", 1);
        (void)w;
        pthread_join(L.th, NULL);
        L.running = 0;
    }
    for (int i = 0; i < 2; i++) {
        if (L.stop[i] >= 0)
            close(L.stop[i]);
        L.stop[i] = -1;
    }
}

int pg_watch(store_watch_fn fn, void *ctx)
{
    pthread_once(&tag_once, tag_make);
    pthread_mutex_lock(&L.lock);
    listen_stop();
    int rc = 0;
    if (fn) {
        L.fn = fn;
        L.ctx = ctx;
        L.tried = L.late = 0;   /* no listener runs now */
        if (pipe2(L.stop, O_CLOEXEC) < 0) {
            L.stop[0] = L.stop[1] = -1;
            rc = -1;
        } else if (pthread_create(&L.th, NULL, listen_main, NULL) != 0) {
            listen_stop();
            rc = -1;
        } else {
            L.running = 1;
            /* the node answers once it listens, so that nothing said after its start is
             * missed; a database that does not answer delays the start at most this */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += FIRST_WAIT;
            pthread_mutex_lock(&L.first_lock);
            while (!L.tried && pthread_cond_timedwait(&L.first, &L.first_lock, &until) == 0)
                ;
            L.late = !L.tried;
            pthread_mutex_unlock(&L.first_lock);
        }
    }
    pthread_mutex_unlock(&L.lock);
    return rc;
}

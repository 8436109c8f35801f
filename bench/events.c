/* events.c -- a load client for GET /v1/jobs/{id}/events (make bench-events): N
 * connections to 127.0.0.1:PORT on one thread (epoll, non-blocking sockets, HTTP/1.1
 * with chunked decoding), the server-sent events of each stream parsed.
 *
 * usage: events latency PORT JOB [N=200] [timeout_s=300]
 *        events idle PORT JOB PID [N=200] [seconds=30]
 *
 * latency: follows JOB until the service ends every stream (the job's final status).
 *   For every epoch event that comes after its stream's first status event (live, not
 *   replayed) it takes the receipt time minus the row's ended_at, both CLOCK_REALTIME,
 *   and prints the median, p90, p99 and max over all streams; then, per epoch, when the
 *   first stream had it (the service's delay before publishing) and how much later the
 *   last. Each stream must carry epochs 1..E exactly once, replay and live together, E
 *   being the epoch of its final status; a stream that fails or breaks this is named.
 * idle: opens N streams on JOB, waits until each has had its first status (caught up),
 *   then holds them SECONDS and prints what arrived and the CPU the service (PID) used
 *   meanwhile, from /proc/PID/task/{tid}/stat: its threads by name (the training
 *   workers and their engine threads are "neurond-work", the thread that checkpoints
 *   their database writes "neurond-ckpt"; neither counts as the streams' cost), and the
 *   whole process.
 *   With N = 0 it measures the same window with no streams: the baseline.
 *
 * DESIGN. Receipt time is read once when epoll_wait returns, for every socket it reports:
 * the bytes were there by then, and the time this client then spends on the other
 * sockets of the batch is not charged to the service. ended_at has millisecond
 * resolution and is cut, not rounded, so a latency reads up to 1 ms high.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EPOCH 1000        /* epochs a stream may carry in this bench */
#define LINE_MAX_ 32768       /* one SSE line (a status line is the job, ~1-2 KB) */

enum { CONNECTING, HEADERS, BODY, ENDED, FAILED };

struct conn {
    int fd, state;
    char why[128];                  /* why it failed */
    char hdr[4096];                 /* the response head so far */
    size_t hlen;
    int chunked;
    long left;                      /* bytes left in the current chunk */
    char sz[32];                    /* a chunk-size line (or the CRLF after a chunk) */
    size_t szlen;
    char line[LINE_MAX_];           /* the SSE line being read */
    size_t llen;
    char event[32], id[32];         /* the event being read: its fields so far */
    char data[LINE_MAX_];
    size_t dlen;
    int has_data;
    int live;                       /* a status came: later epochs are live */
    int final;                      /* a final status came */
    int final_epoch;
    unsigned char seen[MAX_EPOCH + 1];
    int live_epochs, replayed;
};

static struct {
    double *lat;                    /* ms, one per live epoch event */
    size_t nlat, cap;
    double first[MAX_EPOCH + 1], last[MAX_EPOCH + 1];   /* per epoch, over the streams */
    int got[MAX_EPOCH + 1];
    long bytes, heartbeats, epochs, statuses, progress, other;
} tot;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("events: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static __attribute__((format(printf, 2, 3))) void fail(struct conn *c, const char *fmt, ...)
{
    if (c->state == FAILED)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    c->state = FAILED;
}

static double now(clockid_t clk)
{
    struct timespec t;
    clock_gettime(clk, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* "2026-11-25T22:05:41.720Z" as seconds since the epoch, or NAN. */
static double parse_iso(const char *s)
{
    struct tm tm = {0};
    int ms;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return NAN;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + ms / 1000.0;
}

static int terminal(const char *state)
{
    return state && (!strcmp(state, "succeeded") || !strcmp(state, "failed") ||
                     !strcmp(state, "cancelled"));
}

/* ---- server-sent events ---- */

/* A whole event has come (at time t): check it and count it. */
static void dispatch(struct conn *c, double t)
{
    if (!c->has_data) {   /* a comment, or an event with no data: nothing to dispatch */
        c->event[0] = c->id[0] = 0;
        return;
    }
    c->data[c->dlen] = 0;
    json_t *j = json_loads(c->data, 0, NULL);
    if (!j) {
        fail(c, "event '%s' whose data is not JSON", c->event);
    } else if (!strcmp(c->event, "epoch")) {
        tot.epochs++;
        int e = (int)json_integer_value(json_object_get(j, "epoch"));
        double ended = parse_iso(json_string_value(json_object_get(j, "ended_at")));
        if (e < 1 || e > MAX_EPOCH || atoi(c->id) != e || isnan(ended))
            fail(c, "epoch event with id '%s', epoch %d, ended_at %s", c->id, e,
                 isnan(ended) ? "missing" : "ok");
        else if (c->seen[e]++)
            fail(c, "epoch %d came twice", e);
        else if (c->final)
            fail(c, "epoch %d came after the final status", e);
        else if (c->live) {
            c->live_epochs++;
            if (tot.nlat == tot.cap) {
                tot.cap = tot.cap ? 2 * tot.cap : 4096;
                if (!(tot.lat = realloc(tot.lat, tot.cap * sizeof *tot.lat)))
                    die("out of memory");
            }
            double ms = (t - ended) * 1000;
            tot.lat[tot.nlat++] = ms;
            if (!tot.got[e]++ || ms < tot.first[e])
                tot.first[e] = ms;
            if (tot.got[e] == 1 || ms > tot.last[e])
                tot.last[e] = ms;
        } else {
            c->replayed++;
        }
    } else if (!strcmp(c->event, "status")) {
        tot.statuses++;
        const char *state = json_string_value(json_object_get(j, "state"));
        if (!state)
            fail(c, "status event without a state");
        c->live = 1;
        if (terminal(state)) {
            c->final = 1;
            c->final_epoch = (int)json_integer_value(json_object_get(j, "epoch"));
        }
    } else if (!strcmp(c->event, "progress")) {
        tot.progress++;
    } else {
        tot.other++;
    }
    json_decref(j);
    c->event[0] = c->id[0] = 0;
    c->dlen = 0;
    c->has_data = 0;
}

/* One line of the stream, without its end of line. */
static void sse_line(struct conn *c, double t)
{
    char *l = c->line;
    if (c->llen > 0 && l[c->llen - 1] == '\r')
        c->llen--;
    l[c->llen] = 0;
    if (c->llen == 0) {
        dispatch(c, t);
        return;
    }
    if (l[0] == ':') {
        tot.heartbeats += !strcmp(l, ": heartbeat");
        return;
    }
    char *v = strchr(l, ':');
    if (v) {
        *v++ = 0;
        if (*v == ' ')
            v++;
    } else {
        v = "";
    }
    if (!strcmp(l, "event")) {
        snprintf(c->event, sizeof c->event, "%s", v);
    } else if (!strcmp(l, "id")) {
        snprintf(c->id, sizeof c->id, "%s", v);
    } else if (!strcmp(l, "data")) {
        size_t n = strlen(v);
        if (c->dlen + n + 2 > sizeof c->data) {
            fail(c, "an event's data is over %zu bytes", sizeof c->data);
            return;
        }
        if (c->has_data)   /* several data lines join with newlines */
            c->data[c->dlen++] = '\n';
        memcpy(c->data + c->dlen, v, n);
        c->dlen += n;
        c->has_data = 1;
    }
}

static void sse(struct conn *c, const char *p, size_t n, double t)
{
    for (; n > 0 && c->state == BODY; p++, n--) {
        if (*p == '\n') {
            sse_line(c, t);
            c->llen = 0;
        } else if (c->llen + 1 < sizeof c->line) {
            c->line[c->llen++] = *p;
        } else {
            fail(c, "a line over %zu bytes", sizeof c->line);
        }
    }
}

/* ---- HTTP ---- */

/* Body bytes: through the chunked decoding when the reply is chunked. */
static void body(struct conn *c, const char *p, size_t n, double t)
{
    if (!c->chunked) {
        sse(c, p, n, t);
        return;
    }
    while (n > 0 && c->state == BODY) {
        if (c->left > 0) {
            size_t k = (size_t)c->left < n ? (size_t)c->left : n;
            sse(c, p, k, t);
            p += k, n -= k, c->left -= (long)k;
            continue;
        }
        /* between chunks: the CRLF ending a chunk's data, or a chunk-size line */
        char ch = *p++;
        n--;
        if (ch != '\n') {
            if (c->szlen + 1 < sizeof c->sz)
                c->sz[c->szlen++] = ch;
            continue;
        }
        c->sz[c->szlen] = 0;
        c->szlen = 0;
        if (c->sz[0] == '\r' || c->sz[0] == 0)
            continue;
        char *end;
        long size = strtol(c->sz, &end, 16);
        if (end == c->sz || size < 0) {
            fail(c, "a bad chunk size line '%.20s'", c->sz);
        } else if (size == 0) {   /* the last chunk: the service ended the stream */
            if (!c->final)
                fail(c, "the stream ended without a final status");
            else
                c->state = ENDED;
        }
        c->left = size;
    }
}

/* Bytes from the socket. */
static void take(struct conn *c, const char *p, size_t n, double t)
{
    if (c->state == HEADERS) {
        size_t k = sizeof c->hdr - 1 - c->hlen < n ? sizeof c->hdr - 1 - c->hlen : n;
        memcpy(c->hdr + c->hlen, p, k);
        c->hlen += k;
        c->hdr[c->hlen] = 0;
        char *end = strstr(c->hdr, "\r\n\r\n");
        if (!end) {
            if (c->hlen == sizeof c->hdr - 1)
                fail(c, "a response head over %zu bytes", sizeof c->hdr);
            return;
        }
        *end = 0;
        if (strncmp(c->hdr, "HTTP/1.1 200 ", 13) != 0) {
            fail(c, "%.60s", c->hdr);
            return;
        }
        if (!strcasestr(c->hdr, "\r\ncontent-type: text/event-stream")) {
            fail(c, "a reply that is not text/event-stream");
            return;
        }
        c->chunked = strcasestr(c->hdr, "\r\ntransfer-encoding: chunked") != NULL;
        c->state = BODY;
        size_t used = (size_t)(end + 4 - c->hdr) - (c->hlen - k);   /* of these n bytes */
        p += used, n -= used;
    }
    tot.bytes += (long)n;
    body(c, p, n, t);
}

static void open_conn(struct conn *c, int ep, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        fail(c, "connect: %s", strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->state = CONNECTING;
}

/* The socket is ready: send the request, or read what came. */
static void ready(struct conn *c, int ep, const char *req, double t)
{
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail(c, "connect: %s", strerror(err));
            return;
        }
        size_t n = strlen(req);   /* a fresh socket takes a short request at once */
        if (send(c->fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
            fail(c, "send: %s", strerror(errno));
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->state = HEADERS;
        return;
    }
    static char buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n > 0)
        take(c, buf, (size_t)n, t);
    else if (n == 0 && c->state == BODY && !c->chunked && c->final)
        c->state = ENDED;
    else if (n == 0)
        fail(c, "the service closed the connection %s",
             c->state == HEADERS ? "before replying" : "in the middle of the stream");
    else if (errno != EAGAIN && errno != EINTR)
        fail(c, "recv: %s", strerror(errno));
}

static void close_conn(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);   /* also takes it out of the epoll set */
    c->fd = -1;
}

/* Runs the streams until `until` (CLOCK_MONOTONIC), or until stop(conns) says so. */
static void pump(struct conn *cs, int n, int ep, const char *req, double until,
                 int (*stop)(const struct conn *, int))
{
    struct epoll_event evs[256];
    while (!(stop && stop(cs, n))) {
        double left = until - now(CLOCK_MONOTONIC);
        if (left <= 0)
            break;
        int k = epoll_wait(ep, evs, 256, left > 1 ? 1000 : (int)(left * 1000) + 1);
        if (k < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        double t = now(CLOCK_REALTIME);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            ready(c, ep, req, t);
            if (c->state == ENDED || c->state == FAILED)
                close_conn(c);
        }
    }
}

static int all_over(const struct conn *cs, int n)
{
    for (int i = 0; i < n; i++)
        if (cs[i].state != ENDED && cs[i].state != FAILED)
            return 0;
    return 1;
}

static int all_live(const struct conn *cs, int n)
{
    for (int i = 0; i < n; i++)
        if (!cs[i].live && cs[i].state != FAILED && cs[i].state != ENDED)
            return 0;
    return 1;
}

/* ---- the service's CPU, from /proc ---- */

#define MAX_TASKS 1024

struct task {
    int tid;
    long ticks;                     /* utime + stime */
    char name[32];
};

struct sample {
    struct task t[MAX_TASKS];
    int n;
    long process;                   /* the whole process, exited threads too */
};

/* utime + stime of a /proc stat file, and the name in its parentheses. */
static long stat_ticks(const char *path, char *name, size_t len)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return -1;
    if (name)
        snprintf(name, len, "%.*s", (int)(close - open - 1), open + 1);
    /* after the name: state is field 3, utime 14 and stime 15 */
    unsigned long ut, st;
    if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

static void sample(int pid, struct sample *s)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if ((s->process = stat_ticks(path, NULL, 0)) < 0)
        die("cannot read %s: is the service (pid %d) running?", path, pid);
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        die("cannot read %s", path);
    s->n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && s->n < MAX_TASKS) {
        if (e->d_name[0] == '.')
            continue;
        struct task *t = &s->t[s->n];
        char p[300];
        snprintf(p, sizeof p, "/proc/%d/task/%s/stat", pid, e->d_name);
        t->tid = atoi(e->d_name);
        if ((t->ticks = stat_ticks(p, t->name, sizeof t->name)) >= 0)
            s->n++;
    }
    closedir(d);
}

/* CPU seconds between two samples of the threads named name (with not_, of the others).
 * A thread that ended between them is missed; the whole process counts it. */
static double cpu_of(const struct sample *a, const struct sample *b, const char *name,
                     int not_)
{
    long ticks = 0;
    for (int i = 0; i < b->n; i++) {
        if ((strcmp(b->t[i].name, name) == 0) == !!not_)
            continue;
        long before = 0;
        for (int k = 0; k < a->n; k++)
            if (a->t[k].tid == b->t[i].tid)
                before = a->t[k].ticks;
        ticks += b->t[i].ticks - before;
    }
    return (double)ticks / sysconf(_SC_CLK_TCK);
}

/* ---- the two modes ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p% of the values at or below it. */
static double pct(const double *v, size_t n, double p)
{
    size_t k = (size_t)ceil(p / 100 * (double)n);
    return v[k > 0 ? k - 1 : 0];
}

/* The median of v[n], which it sorts. */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n ? pct(v, n, 50) : NAN;
}

static int latency(struct conn *cs, int n, int ep, const char *req, const char *job,
                   double timeout)
{
    double t0 = now(CLOCK_MONOTONIC);
    pump(cs, n, ep, req, t0 + timeout, all_over);
    double took = now(CLOCK_MONOTONIC) - t0;
    int ended = 0, shown = 0, lo = MAX_EPOCH, hi = 0;   /* the streams' last epochs */
    long live = 0, replayed = 0;
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        if (c->state != ENDED && c->state != FAILED)
            fail(c, "still open after %.0f s", timeout);
        for (int e = 1; e <= MAX_EPOCH && c->state == ENDED; e++)   /* 1..E, each once */
            if ((e <= c->final_epoch) != (c->seen[e] == 1))
                fail(c, "epoch %d %s", e, e <= c->final_epoch ? "missing" : "extra");
        if (c->state == ENDED) {
            ended++;
            lo = c->final_epoch < lo ? c->final_epoch : lo;
            hi = c->final_epoch > hi ? c->final_epoch : hi;
        } else if (shown++ < 10) {
            printf("  stream %d: %s\n", i, c->why);
        }
        live += c->live_epochs;
        replayed += c->replayed;
    }
    printf("%d streams of job %s, %.1f s: %d ended with the job, %d failed\n", n, job, took,
           ended, n - ended);
    if (ended > 0 && lo == hi)
        printf("epochs: 1..%d on each stream that ended, each exactly once\n", hi);
    else if (ended > 0)
        printf("epochs: 1..%d to 1..%d on the streams that ended, each exactly once\n", lo, hi);
    printf("epoch events: %ld live (%.1f per stream), %ld replayed; also %ld progress, "
           "%ld status, %ld heartbeats\n", live, n ? (double)live / n : 0, replayed,
           tot.progress, tot.statuses, tot.heartbeats);
    if (tot.nlat == 0)
        return 1;
    qsort(tot.lat, tot.nlat, sizeof *tot.lat, cmp_double);
    double *v = tot.lat;
    size_t k = tot.nlat;
    printf("latency, an epoch's end to its live event (%zu events): median %.1f ms, p90 %.1f ms, "
           "p99 %.1f ms, max %.1f ms\n", k, pct(v, k, 50), pct(v, k, 90), pct(v, k, 99),
           v[k - 1]);
    /* the first stream to get an epoch shows the delay before the service published it;
     * the last, how long it then took to reach all of them */
    double first[MAX_EPOCH], spread[MAX_EPOCH];
    size_t ne = 0;
    int worst = 0;
    for (int e = 1; e <= MAX_EPOCH; e++)
        if (tot.got[e]) {
            first[ne] = tot.first[e];
            spread[ne++] = tot.last[e] - tot.first[e];
            if (!worst || tot.last[e] > tot.last[worst])
                worst = e;
        }
    printf("  per epoch (median of %zu): first stream %.1f ms, last stream %.1f ms after the "
           "first; slowest, epoch %d: %.1f to %.1f ms\n", ne, median(first, ne),
           median(spread, ne), worst, tot.first[worst], tot.last[worst]);
    return ended == n ? 0 : 1;
}

static int idle(struct conn *cs, int n, int ep, const char *req, const char *job, int pid,
                double secs)
{
    pump(cs, n, ep, req, now(CLOCK_MONOTONIC) + 60, all_live);
    int caught = 0;
    for (int i = 0; i < n; i++)
        caught += cs[i].live && cs[i].state == BODY;
    long bytes = tot.bytes, beats = tot.heartbeats, events = tot.epochs + tot.statuses +
                                                              tot.progress + tot.other;
    static struct sample a, b;
    sample(pid, &a);
    double t0 = now(CLOCK_MONOTONIC);
    pump(cs, n, ep, req, t0 + secs, NULL);
    sample(pid, &b);
    double took = now(CLOCK_MONOTONIC) - t0;
    int open = 0;
    for (int i = 0; i < n; i++) {
        open += cs[i].state == BODY;
        if (cs[i].state == FAILED)
            printf("  stream %d: %s\n", i, cs[i].why);
    }
    if (n > 0)
        printf("%d streams of job %s, %d caught up, then held %.1f s: %d still open; they got "
               "%ld bytes, %ld heartbeats, %ld events\n", n, job, caught, took, open,
               tot.bytes - bytes, tot.heartbeats - beats,
               tot.epochs + tot.statuses + tot.progress + tot.other - events);
    else
        printf("no streams, %.1f s\n", took);
    /* the training: its workers and the thread that checkpoints what they store */
    double rest = cpu_of(&a, &b, "neurond-work", 1) - cpu_of(&a, &b, "neurond-ckpt", 0);
    double all = (double)(b.process - a.process) / sysconf(_SC_CLK_TCK);
    printf("service CPU: %.2f s outside training = %.2f%% of one core; whole process %.2f s = "
           "%.0f%%\n", rest, 100 * rest / took, all, 100 * all / took);
    printf("  by thread name:");
    for (int i = 0, shown = 0; i < b.n; i++) {   /* each name once, at its first thread */
        int first = 1;
        for (int k = 0; k < i; k++)
            first &= strcmp(b.t[k].name, b.t[i].name) != 0;
        if (first)
            printf("%s %s %.2f s", shown++ ? "," : "", b.t[i].name,
                   cpu_of(&a, &b, b.t[i].name, 0));
    }
    printf("\n");
    return open == n ? 0 : 1;
}

static long arg(const char *s, const char *name, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        die("%s must be a whole number from %ld to %ld, not '%s'", name, lo, hi, s);
    return v;
}

int main(int argc, char **argv)
{
    int lat = argc >= 4 && !strcmp(argv[1], "latency") && argc <= 6;
    int idl = argc >= 5 && !strcmp(argv[1], "idle") && argc <= 7;
    if (!lat && !idl) {
        fprintf(stderr, "usage: events latency PORT JOB [N=200] [timeout_s=300]\n"
                        "       events idle PORT JOB PID [N=200] [seconds=30]\n");
        return 2;
    }
    int port = (int)arg(argv[2], "PORT", 1, 65535);
    const char *job = argv[3];
    int pid = idl ? (int)arg(argv[4], "PID", 1, 1 << 30) : 0;
    int at = idl ? 5 : 4;
    int n = argc > at ? (int)arg(argv[at], "N", 0, 10000) : 200;
    long secs = argc > at + 1 ? arg(argv[at + 1], idl ? "seconds" : "timeout_s", 1, 86400)
                              : idl ? 30 : 300;
    char req[256];
    snprintf(req, sizeof req, "GET /v1/jobs/%.64s/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Accept: text/event-stream\r\n\r\n", job, port);
    struct conn *cs = calloc((size_t)n + 1, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || ep < 0)
        die("cannot start: %s", strerror(errno));
    for (int i = 0; i < n; i++)
        open_conn(&cs[i], ep, port);
    int rc = lat ? latency(cs, n, ep, req, job, (double)secs)
                 : idle(cs, n, ep, req, job, pid, (double)secs);
    for (int i = 0; i < n; i++)
        close_conn(&cs[i]);
    close(ep);
    free(cs);
    free(tot.lat);
    return rc;
}

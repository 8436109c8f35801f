/* config.c -- the settings: defaults, NEUROND_* variables, flags (config.h). A bad value
 * is a startup failure: one line on stderr that says what to do. */
#include "config.h"

#include "format/format.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: neurond [options]\n"
    "  --port N        port to listen on (NEUROND_PORT, default 8080)\n"
    "  --bind ADDR     address to listen on (NEUROND_BIND, default 127.0.0.1)\n"
    "  --db FILE|URI   SQLite database file, or a PostgreSQL connection string\n"
    "                  (postgresql://...) (NEUROND_DB, default ./var/neurond.db)\n"
    "  --workers N     training worker threads (NEUROND_WORKERS, default 1; 0: a node\n"
    "                  that trains nothing and leaves the queue to the others)\n"
    "  --threads N     engine threads per worker (NEUROND_THREADS, default: cores)\n"
    "  --max-body N    largest body held whole that is not JSON (a CSV prediction), in\n"
    "                  bytes, k/M/G suffixes (NEUROND_MAX_BODY, default 64M)\n"
    "  --max-upload N  largest dataset upload (NEUROND_MAX_UPLOAD, default 1G)\n"
    "  --max-queued N  jobs waiting to run at once; more get 429 (NEUROND_MAX_QUEUED,\n"
    "                  default 1000)\n"
    "  --max-queued-per-token N  of them, queued with one token (--token-file)\n"
    "                  (NEUROND_MAX_QUEUED_PER_TOKEN, default 100)\n"
    "  --max-epoch-rows N  a job's epochs times its dataset's rows; more get 422\n"
    "                  (NEUROND_MAX_EPOCH_ROWS, default 10G; k, M, G: 10^3, 10^6, 10^9)\n"
    "  --max-dataset-values N  float32 values of one dataset, features and labels; a\n"
    "                  CSV upload past it gets 413 as it crosses (NEUROND_MAX_DATASET_VALUES,\n"
    "                  default and most 250M: 1 GB, SQLite's largest row)\n"
    "  --heartbeat S   seconds between heartbeats on idle event streams\n"
    "                  (NEUROND_HEARTBEAT, default 15)\n"
    "  --max-json N    largest JSON body (NEUROND_MAX_JSON, default 8M)\n"
    "  --max-connections N\n"
    "                  connections open at once (NEUROND_MAX_CONNECTIONS, default 1000)\n"
    "  --max-connections-per-ip N\n"
    "                  connections open at once from one address, 0 for no limit\n"
    "                  (NEUROND_MAX_CONNECTIONS_PER_IP, default 128)\n"
    "  --idle-timeout S\n"
    "                  seconds a connection may move no byte, an event stream whose\n"
    "                  client takes nothing too (NEUROND_IDLE_TIMEOUT, default 60)\n"
    "  --header-timeout S\n"
    "                  seconds for a request's line and headers, from the connection's\n"
    "                  opening or its previous reply (NEUROND_HEADER_TIMEOUT, default 30)\n"
    "  --body-timeout S\n"
    "                  seconds for a body, from its headers (NEUROND_BODY_TIMEOUT, 60) ...\n"
    "  --body-min-rate N\n"
    "                  ... plus one for every N bytes it brings (NEUROND_BODY_MIN_RATE, 64k)\n"
    "  --max-streams-per-client N\n"
    "                  event streams open at once from one address\n"
    "                  (NEUROND_MAX_STREAMS_PER_CLIENT, default 32)\n"
    "  --max-streams-per-job N\n"
    "                  event streams open at once on one job\n"
    "                  (NEUROND_MAX_STREAMS_PER_JOB, default 256)\n"
    "  --request-threads N\n"
    "                  threads that run the handlers of requests with a body of 64k or\n"
    "                  more, or a CSV upload (NEUROND_REQUEST_THREADS, default 2)\n"
    "prediction batching (rows of concurrent requests to one model in one forward pass):\n"
    "  --max-batch N   rows in one batch at most; 0 turns batching off (NEUROND_MAX_BATCH,\n"
    "                  default 256)\n"
    "  --batch-window US  microseconds a batch waits for more rows, on a batch thread; 0:\n"
    "                  the rows an HTTP thread reads in one turn go together\n"
    "                  (NEUROND_BATCH_WINDOW, default 0)\n"
    "  --predict-threads N  batch threads: they run the passes too long for an HTTP\n"
    "                  thread and, with a window, every batch (NEUROND_PREDICT_THREADS,\n"
    "                  default: the number of cores)\n"
    "  --tensorboard-dir DIR  write each job's TensorBoard events there as it trains,\n"
    "                  one folder per job (NEUROND_TENSORBOARD_DIR; default none)\n"
    "  --default-model REF  the model MLflow's POST /invocations answers with when the\n"
    "                  request names none: an id, a name, name@version or name@alias\n"
    "                  (NEUROND_DEFAULT_MODEL; default none)\n"
    "nodes sharing one PostgreSQL database:\n"
    "  --node-id ID    this node's id, shown on the jobs it trains: 1 to 100 letters, digits,\n"
    "                  '.', '_', '-' (NEUROND_NODE_ID, default: host name '-' pid)\n"
    "  --lease S       seconds a worker's claim on a job holds unless renewed; a job whose\n"
    "                  lease lapsed is taken by another node (NEUROND_LEASE, default 30)\n"
    "  --max-attempts N  attempts that die (node killed, lease lapsed) before a job ends\n"
    "                  failed (NEUROND_MAX_ATTEMPTS, default 3)\n"
    "who may ask, and the access log:\n"
    "  --token-file FILE  bearer tokens, one a line, each optionally followed by read or\n"
    "                  write and a name (NEUROND_TOKEN_FILE; default none: no tokens, and\n"
    "                  only a loopback address may be served)\n"
    "  --metrics-token  GET /metrics needs a token too (NEUROND_METRICS_TOKEN=1)\n"
    "  --insecure-no-auth  serve an address other than loopback without tokens\n"
    "                  (NEUROND_INSECURE_NO_AUTH=1)\n"
    "  --allowed-hosts LIST  Host names answered, comma-separated, * for any\n"
    "                  (NEUROND_ALLOWED_HOSTS; default the --bind address, localhost, 127.0.0.1)\n"
    "  --cors-origin LIST  origins that may call from other sites, comma-separated\n"
    "                  (NEUROND_CORS_ORIGIN; default none)\n"
    "  --log-format F  the access log: text or json (NEUROND_LOG_FORMAT, default text)\n"
    "  --help, --version\n";

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "neurond: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    return -1;
}

/* A positive integer with an optional k/M/G suffix. */
static int parse_size(const char *name, const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mul = *end == 'k' || *end == 'K' ? 1ull << 10
                             : *end == 'M'              ? 1ull << 20
                             : *end == 'G'              ? 1ull << 30
                                                        : 1;
    if (mul > 1)
        end++;
    if (errno || end == s || *end || v == 0 || *s == '-' || v > (1ull << 40) / mul)
        return fail("%s: '%s' is not a size (a number, optionally with k, M or G)", name, s);
    *out = (size_t)(v * mul);
    return 0;
}

/* A positive count with an optional k/M/G suffix (10^3, 10^6, 10^9), at most max. */
static int parse_count(const char *name, const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    double mul = *end == 'k' || *end == 'K' ? 1e3 : *end == 'M' ? 1e6 : *end == 'G' ? 1e9 : 1;
    if (mul > 1)
        end++;
    if (errno || end == s || *end || v == 0 || *s == '-' || (double)v * mul > max) {
        fprintf(stderr, "neurond: %s: '%s' is not a count from 1 to %.0f (a number, "
                "optionally with k, M or G for 10^3, 10^6, 10^9)\n", name, s, max);
        return -1;
    }
    *out = (double)v * mul;
    return 0;
}

static int parse_int(const char *name, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "neurond: %s: '%s' is not a whole number from %d to %d\n", name, s, lo,
                hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* true, 1, yes or false, 0, no. */
static int parse_bool(const char *name, const char *s, int *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes"))
        return *out = 1, 0;
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no"))
        return *out = 0, 0;
    return fail("%s: '%s' is neither true nor false", name, s);
}

/* Is the address loopback (127.0.0.0/8, ::1)? -1 when it is no address (http_start says
 * so). */
static int loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return memcmp(&a6, &in6addr_loopback, sizeof a6) == 0;
    return -1;
}

/* Applies one setting, from a flag or the environment. */
static int set(struct config *c, const char *key, const char *v)
{
    if (!strcmp(key, "port"))
        return parse_int("--port", v, 1, 65535, &c->port);
    if (!strcmp(key, "bind"))
        return c->bind = v, 0;
    if (!strcmp(key, "db"))
        return c->db = v, 0;
    if (!strcmp(key, "workers"))
        return parse_int("--workers", v, 0, 64, &c->workers);
    if (!strcmp(key, "threads"))
        return parse_int("--threads", v, 1, 256, &c->threads);
    if (!strcmp(key, "max-body"))
        return parse_size("--max-body", v, &c->max_body);
    if (!strcmp(key, "max-upload"))
        return parse_size("--max-upload", v, &c->max_upload);
    double n;
    if (!strcmp(key, "max-queued"))
        return parse_count("--max-queued", v, 1e9, &n) < 0 ? -1 : (c->max_queued = (long)n, 0);
    if (!strcmp(key, "max-queued-per-token"))
        return parse_count("--max-queued-per-token", v, 1e9, &n) < 0
                   ? -1
                   : (c->max_queued_per_token = (long)n, 0);
    if (!strcmp(key, "max-epoch-rows"))
        return parse_count("--max-epoch-rows", v, 1e18, &c->max_epoch_rows);
    if (!strcmp(key, "max-dataset-values"))
        return parse_count("--max-dataset-values", v, (double)DATASET_MAX_VALUES, &n) < 0
                   ? -1
                   : (c->max_dataset_values = (long)n, 0);
    if (!strcmp(key, "heartbeat"))
        return parse_int("--heartbeat", v, 1, 3600, &c->heartbeat);
    if (!strcmp(key, "max-json"))
        return parse_size("--max-json", v, &c->max_json);
    if (!strcmp(key, "max-connections"))
        return parse_int("--max-connections", v, 1, 65536, &c->max_connections);
    if (!strcmp(key, "max-connections-per-ip"))
        return parse_int("--max-connections-per-ip", v, 0, 65536, &c->max_connections_per_ip);
    if (!strcmp(key, "idle-timeout"))
        return parse_int("--idle-timeout", v, 1, 86400, &c->idle_timeout);
    if (!strcmp(key, "header-timeout"))
        return parse_int("--header-timeout", v, 1, 3600, &c->header_timeout);
    if (!strcmp(key, "body-timeout"))
        return parse_int("--body-timeout", v, 1, 86400, &c->body_timeout);
    if (!strcmp(key, "body-min-rate"))
        return parse_size("--body-min-rate", v, &c->body_min_rate);
    if (!strcmp(key, "max-streams-per-client"))
        return parse_int("--max-streams-per-client", v, 1, 65536, &c->max_streams_per_client);
    if (!strcmp(key, "max-streams-per-job"))
        return parse_int("--max-streams-per-job", v, 1, 65536, &c->max_streams_per_job);
    if (!strcmp(key, "request-threads"))
        return parse_int("--request-threads", v, 1, 64, &c->request_threads);
    if (!strcmp(key, "max-batch"))
        return parse_int("--max-batch", v, 0, PREDICT_MAX_BATCH, &c->max_batch);
    if (!strcmp(key, "batch-window"))
        return parse_int("--batch-window", v, 0, 10000000, &c->batch_window);
    if (!strcmp(key, "predict-threads"))
        return parse_int("--predict-threads", v, 1, 64, &c->predict_threads);
    if (!strcmp(key, "tensorboard-dir")) {
        if (!*v)
            return fail("--tensorboard-dir needs a directory%s%s", "", "");
        return c->tensorboard_dir = v, 0;
    }
    if (!strcmp(key, "default-model")) {
        if (!*v)
            return fail("--default-model needs a model: an id, a name, name@version or "
                        "name@alias%s%s", "", "");
        return c->default_model = v, 0;
    }
    if (!strcmp(key, "node-id")) {
        size_t n = strlen(v), ok = n >= 1 && n <= 100;
        for (size_t i = 0; ok && i < n; i++)
            ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
                 (v[i] >= '0' && v[i] <= '9') || v[i] == '.' || v[i] == '_' || v[i] == '-';
        if (!ok)
            return fail("--node-id: '%s' is not a node id (1 to 100 letters, digits, '.', "
                        "'_' and '-')%s", v, "");
        snprintf(c->node_id, sizeof c->node_id, "%s", v);
        return 0;
    }
    if (!strcmp(key, "lease"))
        return parse_int("--lease", v, 1, 3600, &c->lease);
    if (!strcmp(key, "max-attempts"))
        return parse_int("--max-attempts", v, 1, 1000, &c->max_attempts);
    /* who may ask */
    if (!strcmp(key, "token-file"))
        return c->token_file = v, 0;
    if (!strcmp(key, "metrics-token"))
        return parse_bool("--metrics-token", v, &c->metrics_token);
    if (!strcmp(key, "insecure-no-auth"))
        return parse_bool("--insecure-no-auth", v, &c->insecure_no_auth);
    if (!strcmp(key, "allowed-hosts"))
        return c->allowed_hosts = v, 0;
    if (!strcmp(key, "cors-origin"))
        return c->cors_origin = v, 0;
    if (!strcmp(key, "log-format")) {
        if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)
            return fail("--log-format: '%s' is neither text nor json%s", v, "");
        return c->log_json = !strcmp(v, "json"), 0;
    }
    return fail("unknown option --%s (see --help)%s", key, "");
}

void config_defaults(struct config *c)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *c = (struct config){.bind = "127.0.0.1", .port = 8080, .db = "var/neurond.db",
                         .workers = 1, .threads = cores > 0 ? (int)cores : 1,
                         .max_body = 64u << 20, .max_upload = 1u << 30, .max_params = 50000000,
                         .max_queued = 1000, .max_queued_per_token = 100,
                         .max_epoch_rows = 1e10,
                         .max_dataset_values = DATASET_MAX_VALUES, .http_threads = 2,
                         .heartbeat = 15, .max_json = 8u << 20, .max_connections = 1000,
                         .max_connections_per_ip = 128, .idle_timeout = 60,
                         .header_timeout = 30, .body_timeout = 60, .body_min_rate = 64u << 10,
                         .max_streams_per_client = 32, .max_streams_per_job = 256,
                         .request_threads = 2, .token_file = NULL, .metrics_token = 0,
                         .insecure_no_auth = 0, .allowed_hosts = NULL, .cors_origin = NULL,
                         .log_json = 0, .tensorboard_dir = NULL, .lease = 30,
                         .max_attempts = 3, .max_batch = 256, .batch_window = 0,
                         .predict_threads = cores > 0 ? (int)(cores < 64 ? cores : 64) : 1};
    /* the host name, made a node id (a character it may not hold becomes '_'), and the pid */
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) < 0 || !*host)
        snprintf(host, sizeof host, "node");
    for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            *p = '_';
    snprintf(c->node_id, sizeof c->node_id, "%s-%ld", host, (long)getpid());
}

int config_load(struct config *c, int argc, char **argv)
{
    static const char *const keys[] = {"port", "bind", "db", "workers", "threads",
                                       "max-body", "max-upload", "max-queued",
                                       "max-queued-per-token", "max-epoch-rows",
                                       "max-dataset-values", "heartbeat",
                                       "max-json", "max-connections", "max-connections-per-ip",
                                       "idle-timeout", "header-timeout", "body-timeout",
                                       "body-min-rate", "max-streams-per-client",
                                       "max-streams-per-job", "request-threads", "default-model",
                                       "max-batch", "batch-window", "predict-threads",
                                       "tensorboard-dir", "node-id", "lease", "max-attempts",
                                       /* who may ask */
                                       "token-file", "metrics-token", "insecure-no-auth",
                                       "allowed-hosts", "cors-origin", "log-format"};
    /* switches: given alone they mean true; --switch=false says otherwise */
    static const char *const switches[] = {"metrics-token", "insecure-no-auth"};
    config_defaults(c);
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char env[64];
        snprintf(env, sizeof env, "NEUROND_%s", keys[i]);
        for (char *p = env; *p; p++)
            *p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        const char *v = getenv(env);
        if (v && *v && set(c, keys[i], v) < 0)
            return fail("(from the environment variable %s)%s", env, "");
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            printf("neurond %s\n", NEUROND_VERSION);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0)
            return fail("unexpected argument '%s' (see --help)%s", a, "");
        char key[32];
        const char *eq = strchr(a + 2, '='), *v;
        size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (n >= sizeof key)
            return fail("unknown option %s (see --help)%s", a, "");
        memcpy(key, a + 2, n);
        key[n] = 0;
        int known = 0, sw = 0;
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            known |= !strcmp(keys[k], key);
        for (size_t k = 0; k < sizeof switches / sizeof *switches; k++)
            sw |= !strcmp(switches[k], key);
        if (!known)
            return fail("unknown option %s (see --help)%s", a, "");
        if (eq)
            v = eq + 1;
        else if (sw)
            v = "true";
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return fail("--%s needs a value%s", key, "");
        if (set(c, key, v) < 0)
            return -1;
    }
    if (!c->token_file && !c->insecure_no_auth && loopback(c->bind) == 0)
        return fail("refusing to serve %s without tokens: give --token-file FILE, or bind a "
                    "loopback address (--bind 127.0.0.1), or pass --insecure-no-auth%s",
                    c->bind, "");
    return 0;
}


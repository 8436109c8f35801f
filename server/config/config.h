/* config.h -- the service's settings and the state every handler sees.
 *
 * The settings come from flags and NEUROND_* environment variables (config.c). Their
 * defaults exist once, in config_defaults, which main, the tests and the fuzz harnesses
 * all start from. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

#define NEUROND_VERSION "0.1.0"
#define PREDICT_MAX_BATCH 65536   /* the largest --max-batch */

struct config {
    const char *bind;          /* address to listen on */
    int port;
    const char *db;            /* SQLite file, or PostgreSQL connection string */
    int workers;               /* training worker threads */
    int threads;               /* engine threads per worker */
    size_t max_body;           /* largest body held whole that is not JSON (a CSV
                                  prediction), bytes */
    size_t max_upload;         /* largest dataset upload, bytes */
    size_t max_params;         /* largest network, parameters */
    long max_queued;           /* jobs waiting in the queue at once */
    long max_queued_per_token; /* ... of them queued with one token */
    double max_epoch_rows;     /* a job's epochs times its dataset's rows */
    long max_dataset_values;   /* a dataset's float32 values, features and labels */
    int http_threads;
    int heartbeat;             /* seconds between heartbeats on idle event streams */

    /* limits on requests and connections (http/, events/) */
    size_t max_json;           /* largest JSON body, bytes */
    int max_connections;       /* connections open at once */
    int max_connections_per_ip;   /* from one address; 0: no limit */
    int idle_timeout;          /* seconds a connection may move no byte (a stream too, while
                                  it has bytes its client does not take) */
    int header_timeout;        /* seconds for a request's line and headers, from the
                                  connection's opening or its previous reply */
    int body_timeout;          /* seconds for a body, from its headers ... */
    size_t body_min_rate;      /* ... plus one second for every this many bytes it brings */
    int max_streams_per_client;   /* event streams open at once from one address */
    int max_streams_per_job;   /* event streams open at once on one job */
    int request_threads;       /* threads that run the handlers of requests with a large
                                  body (64 KiB or more) or a CSV upload */
    /* prediction batching (domain/batch.c) */
    int max_batch;             /* rows in one batched forward pass at most; 0: no batching */
    int batch_window;          /* microseconds a batch waits for more rows (0: none) */
    int predict_threads;       /* batch threads (runners) */
    /* who may ask, and the access log (server/http/guard.c, log.c) */
    const char *token_file;    /* bearer tokens, one a line; NULL: no authentication */
    int metrics_token;         /* GET /metrics needs a token too */
    int insecure_no_auth;      /* serve an address other than loopback without tokens */
    const char *allowed_hosts; /* Host names answered, comma-separated ("*": any); NULL:
                                  the bound address, localhost and 127.0.0.1 */
    const char *cors_origin;   /* origins answered cross-origin, comma-separated; NULL: none */
    int log_json;              /* the access log as JSON lines, not text */
    const char *tensorboard_dir;  /* where the workers write each job's TensorBoard events
                                     as it trains (queue/tensorboard.c); NULL: nowhere */
    const char *default_model; /* the model POST /invocations answers with when the
                                  request names none (api/mlflow.c); NULL: none */
    /* nodes sharing one database (queue/queue.c, store.h's leases) */
    char node_id[128];         /* this process's id among the nodes: --node-id, else the
                                  host name, '-', the pid */
    int lease;                 /* seconds a worker's claim on a job holds unless renewed */
    int max_attempts;          /* attempts that die (a lapsed lease, a process gone) before
                                  a job ends failed */
};

struct queue;

/* What the handlers see: the settings and the job queue (NULL where nothing trains, as in
 * tests that call handlers directly). */
struct app {
    struct config cfg;
    struct queue *queue;
};

/* The defaults: 127.0.0.1:8080, var/neurond.db, one worker with one engine thread per
 * core, 64 MiB bodies, 1 GiB uploads, 50 million parameters, 1,000 queued jobs, 10^10
 * epoch rows a job, datasets as large as the store holds (DATASET_MAX_VALUES), two HTTP
 * threads, a heartbeat every 15 s; 8 MiB JSON bodies, 1000 connections (128 from one
 * address), idle for 60 s at most, headers within 30 s, bodies within 60 s plus a second
 * per 64 KiB, 32 event streams per address and 256 per job, two threads for requests
 * with a large body; no tokens (so loopback only), /metrics without a token, the default
 * hosts, no cross-origin callers, a text access log; no TensorBoard directory; the node id
 * of the host name and pid, 30 s leases, 3 attempts; batches of up to 256 rows, no
 * window, one batch at a time. */
void config_defaults(struct config *c);

/* The defaults, then NEUROND_* variables, then flags (--help and --version print and
 * exit 0). Returns 0, or -1 after printing a one-line message on stderr; also when the
 * address to listen on is not loopback (127.0.0.0/8, ::1) and neither tokens nor
 * --insecure-no-auth are given. The strings of c point into argv and the environment. */
int config_load(struct config *c, int argc, char **argv);

#endif

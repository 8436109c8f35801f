/* main.c -- neurond: the settings, the database, the workers, the event hub, the HTTP
 * daemon with the route table, and a clean stop on SIGTERM or SIGINT. The modules and the
 * order they depend on each other in are drawn in docs/DESIGN.md. */
#include "api/api.h"
#include "config/config.h"
#include "domain/domain.h"
#include "events/events.h"
#include "http/http.h"
#include "queue/queue.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Creates a SQLite database's directory (one level) when it is missing. */
static int ensure_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "neurond: cannot create the directory %s for the database: %s\n", dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* A change another node made (store_watch), on the store's listener thread: events to
 * this node's followers, a cancel to the worker that trains the job here, a deleted model
 * out of the loaded models; after announcements were lost, everything looked at again. */
static void on_change(void *ctx, enum store_change kind, const char *id, int n,
                      const json_t *payload)
{
    struct app *app = ctx;
    if (kind == CHANGE_CANCEL)
        queue_cancel_running(app->queue, id);
    else if (kind == CHANGE_MODEL_DELETED)
        predictor_drop(id);
    else if (kind == CHANGE_RESYNC)
        predictor_drop_all();
    hub_remote(kind, id, n, payload);
}

int main(int argc, char **argv)
{
    struct app app = {0};
    char err[1024];
    if (config_load(&app.cfg, argc, argv) < 0 ||
        (store_is_file(app.cfg.db) && ensure_dir(app.cfg.db) < 0))
        return 2;
    if (store_open(app.cfg.db, err, sizeof err) < 0) {
        fprintf(stderr, "neurond: %s\n", err);
        return 1;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);   /* every thread started below inherits it */
    signal(SIGPIPE, SIG_IGN);
    if (!(app.queue = queue_start(&app.cfg, err, sizeof err))) {
        fprintf(stderr, "neurond: %s\n", err);
        return 1;
    }
    hub_limits(app.cfg.max_streams_per_client, app.cfg.max_streams_per_job);
    struct http *http = NULL;
    if (predictor_batching(app.cfg.max_batch, app.cfg.batch_window, app.cfg.predict_threads) < 0)
        fprintf(stderr, "neurond: cannot start the prediction batch threads\n");
    else if (hub_start(app.cfg.heartbeat) == 0 && store_watch(on_change, &app) == 0)
        http = http_start(&app, routes, nroutes);
    if (!http) {
        predictor_batching_stop();
        store_watch(NULL, NULL);
        hub_stop();
        queue_stop(app.queue);
        store_close();
        return 1;
    }
    fprintf(stderr, "neurond %s listening on %s:%d, database %s, %d worker(s) x %d thread(s), "
            "node %s\n", NEUROND_VERSION, app.cfg.bind, app.cfg.port, app.cfg.db,
            app.cfg.workers, app.cfg.threads, app.cfg.node_id);
    if (!app.cfg.token_file && app.cfg.insecure_no_auth)
        fprintf(stderr, "neurond: no tokens (--insecure-no-auth): whoever reaches %s:%d may do "
                "anything\n", app.cfg.bind, app.cfg.port);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "neurond: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    store_watch(NULL, NULL);   /* no more changes to the hub, the queue, the models */
    hub_stop();   /* ends the event streams: the daemon stops only without paused ones */
    predictor_batching_stop();   /* answers the predictions waiting for a batch, likewise */
    http_stop(http);
    queue_stop(app.queue);
    store_close();
    return 0;
}

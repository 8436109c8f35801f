/* events.h -- live job events for the clients that follow a job (GET /v1/jobs/{id}/events as
 * server-sent events, GET /v1/jobs/{id}/metrics?follow=true as NDJSON).
 *
 * The training workers and the handlers publish (an epoch, progress, a state change);
 * the hub appends the formatted event to each follower's buffer and wakes its paused
 * connection. Followers hold no thread: a connection with nothing to send is paused in
 * libmicrohttpd until the next event. One thread beats the heartbeat and notices clients
 * that went away.
 */
#ifndef EVENTS_H
#define EVENTS_H

#include "store/store.h"

#include <jansson.h>
#include <sys/types.h>

/* Starts the heartbeat thread: a comment every `heartbeat` seconds on idle event streams.
 * -1 when the thread cannot start. */
int hub_start(double heartbeat);
/* Ends every stream (the clients see them close) and stops the thread; later subscribes
 * fail. Call before stopping the HTTP daemon, which may not stop with paused
 * connections. */
void hub_stop(void);

enum hub_format { HUB_SSE, HUB_NDJSON };

/* Caps on the followers at once: from one client (its address) and of one job; 0: no
 * cap (the default). */
void hub_limits(int per_client, int per_job);

/* Why hub_subscribe refused. */
enum hub_refusal { HUB_STOPPED = 1, HUB_CLIENT_FULL, HUB_JOB_FULL };

/* A new follower of job `id` on connection conn (the glue's, see http_pause) for client
 * (its address, which the cap per client counts): it replays the stored epochs after
 * `after`, then the job's state, then live events; it ends after the job's final state.
 * NULL with *why set when the hub is stopped (or out of memory: HUB_STOPPED too) or a
 * cap is reached. */
struct sub *hub_subscribe(const char *id, enum hub_format fmt, int after, void *conn,
                          const char *client, int *why);
/* The follower's next bytes into buf: their count, 0 after pausing the connection (no
 * event yet), -1 at the end of the stream. */
ssize_t hub_read(void *sub, char *buf, size_t max);
/* Forgets a follower (its connection is closed). */
void hub_release(void *sub);
/* Followers connected now. */
int hub_followers(void);

/* Publishing, to this node's followers, and announced to the other nodes sharing the
 * database (store_announce). An epoch's metrics row, as stored (after it is committed). */
void hub_epoch(const char *id, int epoch, const json_t *row);
/* Progress inside an epoch (SSE only; dropped for a follower that lags). */
void hub_progress(const char *id, const json_t *progress);
/* The job's state changed (after it is committed): sends the job as GET shows it. */
void hub_status(const char *id);
/* What another node published (store_watch's kind, id, n and payload): an epoch (n),
 * progress (payload), a state, or CHANGE_RESYNC (every follower reads the database
 * again). Other kinds do nothing. Not announced again. */
void hub_remote(enum store_change kind, const char *id, int n, const json_t *payload);

#endif

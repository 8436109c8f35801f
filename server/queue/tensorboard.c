/* tensorboard.c -- a running job's TensorBoard event file, written as it trains under
 * --tensorboard-dir (queue.h), so that `tensorboard --logdir DIR` shows every job as a
 * run of its own.
 *
 * DESIGN. A worker opens the job's file when it claims the job: DIR/<folder>/
 * events.out.tfevents.<creation>.<host>, the folder named by tb_folder (domain.h). The
 * file is rewritten whole then, from the epoch rows already stored, and other event files
 * in the folder are removed: a job resumed after a restart (or back from a full disk)
 * keeps one file with one event per epoch, never a step twice. Each epoch's event is
 * appended and flushed once its row is committed. The file is a copy of what the
 * database holds: a write that fails is logged once, the file is given up, and the job
 * trains on.
 */
#include "queue.h"

#include "domain/domain.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tb_live {
    char id[32];
    char path[4096];
    json_t *job;               /* as job_json shows it */
    FILE *f;                   /* NULL once given up */
};

/* Logs why the file is given up (once: afterwards f is NULL) and closes it. */
static void give_up(struct tb_live *t, const char *what, int err)
{
    fprintf(stderr, "neurond: job %s: cannot %s %s (%s); its TensorBoard events are not "
            "written, the job trains on\n", t->id, what, t->path, strerror(err));
    if (t->f)
        fclose(t->f);
    t->f = NULL;
}

/* Removes the event files in folder other than `keep` (a previous run's, on another
 * host). */
static void remove_others(const char *folder, const char *keep)
{
    DIR *d = opendir(folder);
    if (!d)
        return;
    struct dirent *e;
    char path[4096 + 256];
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "events.out.tfevents.", 20) && strcmp(e->d_name, keep)) {
            snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
            remove(path);
        }
    closedir(d);
}

struct tb_live *tb_live_open(const char *dir, const char *id)
{
    struct tb_live *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->path, sizeof t->path, "%s", dir);
    struct job j;
    json_t *rows = NULL;
    if (store_job_get(id, &j) != STORE_OK) {
        give_up(t, "read the job for", EIO);
        return t;
    }
    t->job = job_json(&j);
    job_free(&j);
    if (!t->job || store_job_epochs(id, 0, -1, &rows) != STORE_OK) {
        give_up(t, "read the job's epochs for", EIO);
        return t;
    }
    char folder[256], name[320];
    tb_folder(folder, sizeof folder, t->job);
    tb_file_name(name, sizeof name, t->job);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        give_up(t, "make the directory", errno);
        json_decref(rows);
        return t;
    }
    snprintf(t->path, sizeof t->path, "%s/%s", dir, folder);
    if (mkdir(t->path, 0755) < 0 && errno != EEXIST) {
        give_up(t, "make the directory", errno);
        json_decref(rows);
        return t;
    }
    remove_others(t->path, name);
    snprintf(t->path, sizeof t->path, "%s/%s/%s", dir, folder, name);
    errno = 0;
    if (!(t->f = fopen(t->path, "wb")))
        give_up(t, "open", errno);
    else if (tb_write_job(t->f, t->job, rows) < 0 || fflush(t->f) != 0)
        give_up(t, "write", errno ? errno : EIO);
    json_decref(rows);
    return t;
}

void tb_live_epoch(struct tb_live *t, const json_t *row)
{
    if (!t || !t->f)
        return;
    errno = 0;
    if (tb_write_epoch(t->f, t->job, row) < 0 || fflush(t->f) != 0)
        give_up(t, "write", errno ? errno : EIO);
}

void tb_live_close(struct tb_live *t)
{
    if (!t)
        return;
    if (t->f && fclose(t->f) != 0) {
        t->f = NULL;
        give_up(t, "write", errno);
    }
    json_decref(t->job);
    free(t);
}

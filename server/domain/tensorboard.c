/* tensorboard.c -- a job's epochs as a TensorBoard event file (domain.h): which values
 * of an epoch row become which scalar, under which tag, and the names of the file and of
 * a job's folder. The bytes themselves are format/tfevents.c's.
 *
 * The tags, grouped by TensorBoard at their first '/':
 *   loss, val_loss                        the epoch's losses
 *   metrics/<name>, val_metrics/<name>    each recorded metric (accuracy, mae, mse)
 *   grad_norm/layers/0, ...               each layer's gradient norm, by its path
 *   dead_relu/layers/0, ...               each relu layer's fraction of dead units
 *   learning_rate                         the optimizer's (constant over a job)
 *   samples_per_second                    the epoch's training throughput
 * A value the row does not hold (no validation) or holds as null (not finite) is left
 * out of its event. A recurrent layer's grad_over_time (a norm per time step, not per
 * epoch) is not written: gradients.svg?over=time draws it.
 */
#include "domain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_MAX 160

/* The job's wall time for its file: its creation (which a job resumed after a restart
 * keeps, so that its file keeps its name). */
static double created(const json_t *job)
{
    double t = time_parse_iso(json_string_value(json_object_get(job, "created_at")));
    return isfinite(t) ? t : 0;
}

int tb_write_head(FILE *f, const json_t *job)
{
    double t = time_parse_iso(json_string_value(json_object_get(job, "started_at")));
    return tfevents_version(f, isfinite(t) ? t : created(job));
}

/* Adds the scalar tag = v when v is a number. */
static void add(struct tf_scalar *s, char (*tags)[TAG_MAX], int *n, const char *prefix,
                const char *name, const json_t *v)
{
    if (!json_is_number(v))
        return;
    snprintf(tags[*n], TAG_MAX, "%s%s", prefix, name);
    s[*n] = (struct tf_scalar){tags[*n], (float)json_number_value(v)};
    (*n)++;
}

int tb_write_epoch(FILE *f, const json_t *job, const json_t *row)
{
    static const char *const groups[][2] = {{"metrics", "metrics/"},
                                             {"val_metrics", "val_metrics/"},
                                             {"grad_norms", "grad_norm"},   /* "/layers/0" */
                                             {"dead_relu", "dead_relu"}};
    size_t cap = 4;
    for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
        cap += json_object_size(json_object_get(row, groups[g][0]));
    struct tf_scalar *s = calloc(cap, sizeof *s);
    char(*tags)[TAG_MAX] = calloc(cap, sizeof *tags);
    int n = 0, rc = -1;
    if (s && tags) {
        add(s, tags, &n, "", "loss", json_object_get(row, "loss"));
        add(s, tags, &n, "", "val_loss", json_object_get(row, "val_loss"));
        for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
            const char *key;
            const json_t *v;
            json_object_foreach(json_object_get(row, groups[g][0]), key, v)
                add(s, tags, &n, groups[g][1], key, v);
        }
        add(s, tags, &n, "", "learning_rate",
            json_object_get(json_object_get(job, "optimizer"), "learning_rate"));
        add(s, tags, &n, "", "samples_per_second", json_object_get(row, "samples_per_second"));
        double t = time_parse_iso(json_string_value(json_object_get(row, "ended_at")));
        rc = tfevents_scalars(f, isfinite(t) ? t : 0,
                              json_integer_value(json_object_get(row, "epoch")), s, n);
    }
    free(s);
    free(tags);
    return rc;
}

int tb_write_job(FILE *f, const json_t *job, const json_t *rows)
{
    if (tb_write_head(f, job) < 0)
        return -1;
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
        if (tb_write_epoch(f, job, row) < 0)
            return -1;
    return 0;
}

void tb_file_name(char *buf, size_t cap, const json_t *job)
{
    tfevents_name(buf, cap, created(job));
}

void tb_folder(char *buf, size_t cap, const json_t *job)
{
    const char *id = json_string_value(json_object_get(job, "id"));
    const char *name = json_string_value(json_object_get(job, "name"));
    if (!id)
        id = "job";
    if (!name || !*name) {
        snprintf(buf, cap, "%s", id);
        return;
    }
    /* At most 100 bytes of the name, cut between two characters, then "_<id>": the id
     * keeps folders apart and makes "." or ".." impossible. Bytes that are no printable
     * UTF-8, a path's separators and what shells and other systems balk at become '_';
     * so does a leading '.', which would hide the folder. */
    char safe[128];
    size_t n = strlen(name), k = 0;
    n = utf8_cut(name, n, 100);
    for (size_t i = 0; i < n && k + 4 < sizeof safe;) {
        unsigned char c = (unsigned char)name[i];
        size_t len = utf8_seq((const unsigned char *)name + i, n - i);
        if (len == 0) {
            safe[k++] = '_';
            i++;
        } else if (len > 1) {
            memcpy(safe + k, name + i, len);
            k += len;
            i += len;
        } else {
            int bad = c < 0x20 || c == 0x7f || strchr("/\\:*?\"<>|", c) || (k == 0 && c == '.');
            safe[k++] = bad ? '_' : (char)c;
            i++;
        }
    }
    safe[k] = 0;
    snprintf(buf, cap, "%s_%s", safe, id);
}

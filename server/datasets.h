/* datasets.h -- datasets: upload (JSON, or CSV parsed as it streams in), describe, list,
 * delete, and loading their arrays for training (h_datasets.c, db_datasets.c, csv.c).
 *
 * Labels are kept as floats, rows x label_cols, with a kind:
 *   "classes"  names (strings); y holds the index into `classes` (sorted names)
 *   "numbers"  one number per row; `classes` lists the distinct values when all are whole
 *              numbers from 0 to 1023 (so they can be class indices), else null
 *   "onehot"   rows of 0/1 with a single 1; `classes` is [0 .. label_cols-1]
 *   "vectors"  rows of numbers (regression with several outputs); `classes` null
 */
#ifndef DATASETS_H
#define DATASETS_H

#include <jansson.h>

struct dataset {
    char id[32];
    int rows, features, label_cols;
    char label_kind[16];
    json_t *classes;           /* new reference, or NULL */
    float *x;                  /* rows x features, new */
    float *y;                  /* rows x label_cols, new */
};

/* Loads a dataset for training. Returns 0, 1 when there is no such dataset, -1 on a
 * storage error. */
int dataset_load(const char *id, struct dataset *d);
void dataset_free(struct dataset *d);

/* The smallest and largest of a dataset's label values (its y, read without x). Returns
 * 0, 1 when there is no such dataset, -1 on a storage error. */
int dataset_label_range(const char *id, float *lo, float *hi);

/* The dataset's description, as GET /v1/datasets/{id} answers it; new, NULL when absent. */
json_t *dataset_describe(const char *id);

/* ---- creating, listing and deleting (h_datasets.c, csv.c, db_datasets.c) ---- */

#define DATASET_MAX_NAME 256               /* bytes of a name */
#define DATASET_MAX_CLASSES 65536          /* distinct class names */
#define DATASET_MAX_VALUES 250000000L      /* floats of x: 1 GB, SQLite's largest BLOB */

/* A dataset being created, before it has an id. */
struct dataset_build {
    struct dataset d;          /* rows, features, label_cols, label_kind, classes, x, y */
    json_t *columns;           /* feature names (strings), new */
    json_t *label_column;      /* CSV: the label's column name, or its index without a
                                  header; new, NULL for JSON uploads */
};
/* Frees what b holds; b itself is the caller's. NULL does nothing. */
void dataset_build_free(struct dataset_build *b);

/* The classes of "numbers" labels: their distinct values, sorted, when all are whole
 * numbers from 0 to 1023; else NULL. New. */
json_t *dataset_number_classes(const float *y, long rows);

/* Stores b under a new id with a name and per-feature stats (both borrowed); fills
 * b->d.id. Returns 0, -2 when the arrays are over the storage's largest BLOB, -1 on
 * a storage error. */
int db_dataset_insert(struct dataset_build *b, const char *name, json_t *stats);
/* One page of descriptions (without stats) in order of creation, after the dataset
 * with id `after` (NULL: from the start). Fills *items (new) and next (the page's last
 * id when more follow, else ""; at least 32 bytes). Returns 0, 1 when `after` is no
 * dataset's id, -1 on a storage error. */
int db_dataset_list(int limit, const char *after, json_t **items, char *next);
/* Deletes a dataset. Returns 0, 1 when there is none, 2 when a queued or running job
 * uses it (nothing deleted), -1 on a storage error. */
int db_dataset_delete(const char *id);

#endif

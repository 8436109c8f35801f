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

/* The dataset's description, as GET /v1/datasets/{id} answers it; new, NULL when absent. */
json_t *dataset_describe(const char *id);

#endif

/* fmnist_csv.c -- writes Fashion-MNIST's training set as CSV (pixels scaled to [0, 1],
 * then the label), with a header, for the service benchmark to upload.
 * usage: fmnist_csv > train.csv */
#include "idx.h"

#include <stdio.h>

int main(void)
{
    struct fmnist d;
    char err[512];
    if (fmnist_load(NULL, &d, err, sizeof err) < 0) {
        fprintf(stderr, "fmnist_csv: %s\n", err);
        return 1;
    }
    for (int j = 0; j < d.cols; j++)
        printf("p%d,", j);
    printf("label\n");
    for (int i = 0; i < d.train_rows; i++) {
        const float *x = d.train_x + (size_t)i * d.cols;
        for (int j = 0; j < d.cols; j++)
            x[j] == 0 ? fputs("0,", stdout) : printf("%.6g,", x[j]);
        printf("%d\n", (int)d.train_y[i]);
    }
    fmnist_free(&d);
    return 0;
}

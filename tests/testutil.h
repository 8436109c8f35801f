/* testutil.h -- what the check suites share: a central-difference gradient check, small
 * constructors, a near-equality assertion and reading a file whole. Tests may include
 * core/nn_internal.h for the engine's test hooks. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include "nn_internal.h"

#include <check.h>
#include <math.h>
#include <stddef.h>

/* Result of comparing analytic gradients with central differences. */
struct gradcheck {
    double max_rel;           /* largest relative error over the entries checked */
    double max_abs_grad;      /* largest |analytic gradient| seen (0 means nothing flows) */
    int checked;              /* entries compared */
};

/* Compares net_loss_grad's parameter gradients (every parameter) and, when check_dx, its
 * input gradients with central differences of the loss at x, y, with dropout key `key`.
 * Relative error per entry: |a - n| / max(|a| + |n|, floor), floor 1e-2. */
struct gradcheck gradcheck(struct nn_net *net, const float *x, const float *y, int ycols,
                           int rows, uint64_t key, int check_dx);

/* Asserts the check passed: max_rel below tol and a gradient that is not all zero. */
#define ck_gradcheck(g, tol)                                                               \
    do {                                                                                   \
        struct gradcheck g_ = (g);                                                         \
        ck_assert_int_gt(g_.checked, 0);                                                   \
        ck_assert_msg(g_.max_abs_grad > 1e-4, "gradient is all zero (%g)", g_.max_abs_grad); \
        ck_assert_msg(g_.max_rel < (tol), "gradient check: max relative error %g >= %g",   \
                      g_.max_rel, (double)(tol));                                          \
    } while (0)

/* Asserts |got - want| <= tol * (1 + |want|): a relative tolerance for large values, an
 * absolute one near zero (NaN never passes). The message names the expression and gives
 * what it got, what was expected and the tolerance that applied. */
#define ck_near(got, want, tol)                                                            \
    do {                                                                                   \
        double got_ = (got), want_ = (want), tol_ = (tol) * (1 + fabs(want_));             \
        ck_assert_msg(fabs(got_ - want_) <= tol_, "%s = %.9g, expected %.9g within %.3g",  \
                      #got, got_, want_, tol_);                                            \
    } while (0)

/* Reads a whole file: new, NUL-terminated, its length in *len (when len is not NULL).
 * Fails the test when the file cannot be read (paths are relative to the top of the
 * repository, where the suites run). */
char *tu_slurp(const char *path, size_t *len);

/* Builds a network or fails the test with the engine's message. */
struct nn_net *tu_spec_net(const struct nn_spec *s, uint64_t seed);
/* The same for a spec of these layers, with the accuracy metric. */
struct nn_net *tu_net(const struct nn_layer_spec *layers, int n, int inputs, enum nn_loss loss,
                      uint64_t seed);

/* Fills a[0..n) with uniform values in [lo, hi) from a seeded stream. */
void tu_fill(float *a, size_t n, float lo, float hi, uint64_t seed);

/* Runs a suite and returns the number of failures (for main). */
int tu_run(Suite *s);

#endif

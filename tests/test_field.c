/* test_field.c -- core/field.c: reading and writing a described field, defaults, the
 * `when` condition, and the one message nn_field_check gives for each kind of range. The
 * expected messages are written out by hand from nn.h; the rows are the engine's own
 * (found by name through the public descriptors), so a changed range shows here. */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <string.h>

/* Field `name` of the descriptor d; fails the test when it is not there. */
static const struct nn_field *field(const struct nn_kind_desc *d, const char *name)
{
    ck_assert_ptr_nonnull(d);
    const struct nn_field *f = nn_field_find(d->fields, d->nfields, name);
    ck_assert_msg(f != NULL, "%s has no field %s", d->name, name);
    return f;
}

/* Asserts that v is refused with exactly `want`. */
static void refused(const struct nn_field *f, double v, const char *want)
{
    char msg[NN_MSG] = "";
    ck_assert_msg(nn_field_check(f, v, msg, sizeof msg) == -1, "%s: %.17g accepted", f->name, v);
    ck_assert_str_eq(msg, want);
}

static void accepted(const struct nn_field *f, double v)
{
    char msg[NN_MSG] = "";
    ck_assert_msg(nn_field_check(f, v, msg, sizeof msg) == 0, "%s: %.17g refused: %s", f->name,
                  v, msg);
}

START_TEST(messages)
{
    const struct nn_kind_desc *dense = nn_kind_desc(NN_DENSE),
                              *dropout = nn_kind_desc(NN_DROPOUT),
                              *bn = nn_kind_desc(NN_BATCHNORM), *adam = nn_opt_desc(NN_ADAM),
                              *sgd = nn_opt_desc(NN_SGD), *res = nn_kind_desc(NN_RESIDUAL);
    /* the messages nn.h promises */
    refused(field(dense, "units"), 0, "units must be from 1 to 16777216, not 0");
    refused(field(dropout, "rate"), 1.5, "rate must be at least 0 and below 1, not 1.5");
    refused(field(bn, "epsilon"), 0, "epsilon must be above 0, not 0");
    refused(field(dense, "activation"), 9, "unknown activation 9");
    /* the other shapes of range and value */
    refused(field(dense, "units"), 1.5,
            "units must be a whole number from 1 to 16777216, not 1.5");
    refused(field(dense, "units"), 16777217, "units must be from 1 to 16777216, not 16777217");
    refused(field(dense, "units"), NAN, "units must be a whole number from 1 to 16777216, not nan");
    refused(field(dense, "init"), -1, "unknown init -1");
    refused(field(dense, "alpha"), NAN, "alpha must be a finite number, not nan");
    refused(field(dense, "alpha"), -INFINITY, "alpha must be a finite number, not -inf");
    refused(field(bn, "epsilon"), INFINITY, "epsilon must be a finite number above 0, not inf");
    refused(field(bn, "momentum"), 1.5, "momentum must be from 0 to 1, not 1.5");
    refused(field(adam, "beta1"), 0.9999995, "beta1 must be from 0 to 0.999999, not 0.9999995");
    refused(field(adam, "learning_rate"), 0, "learning_rate must be from 1e-12 to 1000000, not 0");
    refused(field(adam, "epsilon"), 0, "epsilon must be from 1e-30 to 1, not 0");
    refused(field(sgd, "nesterov"), 2, "nesterov must be true or false (1 or 0), not 2");
    refused(field(&nn_train_desc, "clip_norm"), 2e30,
            "clip_norm must be from 0 to 1e+30, not 2e+30");
    refused(field(&nn_train_desc, "batch_size"), 65537,
            "batch_size must be from 1 to 65536, not 65537");
    refused(field(res, "layers"), 0, "needs at least one layer");
    /* a float prints as the shortest decimal that reads back as that float, not its
     * double expansion (1.10000002384185791) */
    refused(field(dropout, "rate"), 1.1f, "rate must be at least 0 and below 1, not 1.1");
    refused(field(dropout, "rate"), -0.25, "rate must be at least 0 and below 1, not -0.25");
}
END_TEST

/* The ends of each range: in when closed, out when open; a FLOAT is judged as the float
 * the engine holds, so the bounds written in the tables are in range as floats too. */
START_TEST(range_ends)
{
    const struct nn_kind_desc *dense = nn_kind_desc(NN_DENSE),
                              *dropout = nn_kind_desc(NN_DROPOUT),
                              *bn = nn_kind_desc(NN_BATCHNORM), *adam = nn_opt_desc(NN_ADAM),
                              *sgd = nn_opt_desc(NN_SGD);
    accepted(field(dense, "units"), 1);
    accepted(field(dense, "units"), 16777216);
    accepted(field(dense, "activation"), NN_ACT_COUNT - 1);
    refused(field(dense, "activation"), NN_ACT_COUNT, "unknown activation 7");
    refused(field(dense, "activation"), 1.5, "unknown activation 1.5");
    accepted(field(dense, "alpha"), -1e30);
    accepted(field(dropout, "rate"), 0);
    accepted(field(dropout, "rate"), 0.999f);
    refused(field(dropout, "rate"), 1, "rate must be at least 0 and below 1, not 1");
    accepted(field(bn, "momentum"), 0);
    accepted(field(bn, "momentum"), 1);
    accepted(field(bn, "momentum"), 1.00000001);   /* the float is 1 */
    accepted(field(bn, "epsilon"), 1e-45);         /* the smallest float above 0 */
    refused(field(bn, "epsilon"), 1e-46, "epsilon must be above 0, not 0");   /* rounds to 0 */
    accepted(field(adam, "beta1"), 0.999999);
    accepted(field(adam, "beta1"), 0.999999f);
    accepted(field(adam, "beta1"), 0.999995f);
    accepted(field(adam, "learning_rate"), 1e-12f);
    accepted(field(adam, "learning_rate"), 1e6);
    refused(field(adam, "learning_rate"), 1.000001e6,
            "learning_rate must be from 1e-12 to 1000000, not 1000001");
    accepted(field(adam, "epsilon"), 1e-30f);
    accepted(field(adam, "epsilon"), 1);
    accepted(field(sgd, "momentum"), 0.999999f);
    accepted(field(sgd, "nesterov"), 0);
    accepted(field(sgd, "nesterov"), 1);
    accepted(field(&nn_train_desc, "clip_norm"), 1e30);
    accepted(field(&nn_train_desc, "clip_norm"), 1e30f);
    accepted(field(&nn_train_desc, "epochs"), 100000);
    refused(field(&nn_train_desc, "epochs"), 100001, "epochs must be from 1 to 100000, not 100001");
    accepted(field(nn_kind_desc(NN_RESIDUAL), "layers"), 1);
}
END_TEST

/* get, set and defaults land in the right member with the right type. */
START_TEST(get_set_default)
{
    const struct nn_kind_desc *dense = nn_kind_desc(NN_DENSE), *bn = nn_kind_desc(NN_BATCHNORM);
    struct nn_layer_spec l;
    memset(&l, 0, sizeof l);
    nn_field_set(field(dense, "units"), &l, 12);
    nn_field_set(field(dense, "alpha"), &l, 0.25);
    nn_field_set(field(dense, "init"), &l, NN_INIT_ZEROS);
    nn_field_set(field(bn, "epsilon"), &l, 0.5);
    ck_assert_int_eq(l.units, 12);
    ck_assert_float_eq(l.alpha, 0.25f);
    ck_assert_int_eq(l.init, NN_INIT_ZEROS);
    ck_assert_float_eq(l.epsilon, 0.5f);
    ck_assert_int_eq(l.act, 0);
    ck_assert_float_eq(l.momentum, 0);
    ck_assert(nn_field_get(field(dense, "units"), &l) == 12);
    ck_assert(nn_field_get(field(dense, "alpha"), &l) == 0.25);
    ck_assert(nn_field_get(field(bn, "epsilon"), &l) == 0.5);
    /* a value out of the member's type is clamped, never undefined */
    nn_field_set(field(dense, "units"), &l, 1e20);
    ck_assert_int_eq(l.units, INT_MAX);
    nn_field_set(field(dense, "units"), &l, -1e20);
    ck_assert_int_eq(l.units, INT_MIN);
    nn_field_set(field(dense, "alpha"), &l, 1e300);
    ck_assert(isinf(l.alpha));

    /* the body of a residual: the pair (layers, nlayers) */
    const struct nn_field *body = field(nn_kind_desc(NN_RESIDUAL), "layers");
    ck_assert_int_eq(body->type, NN_FT_LAYERS);
    struct nn_layer_spec two[2] = {nn_dense(2, NN_RELU), nn_dense(2, NN_LINEAR)};
    struct nn_layer_spec r = nn_residual(two, 2);
    ck_assert(nn_field_get(body, &r) == 2);
    nn_fields_default(nn_kind_desc(NN_RESIDUAL)->fields, nn_kind_desc(NN_RESIDUAL)->nfields, &r);
    ck_assert_ptr_null(r.layers);
    ck_assert_int_eq(r.nlayers, 0);

    /* a U64 field, in a table of this test's own */
    struct holder {
        int pad;
        uint64_t seed;
    } h = {0, 0};
    const struct nn_field u = {.name = "seed", .type = NN_FT_U64,
                               .offset = offsetof(struct holder, seed), .lo = 0,
                               .hi = 9007199254740992.0, .def = 42};
    nn_fields_default(&u, 1, &h);
    ck_assert_uint_eq(h.seed, 42);
    nn_field_set(&u, &h, 1e6);
    ck_assert_uint_eq(h.seed, 1000000);
    ck_assert(nn_field_get(&u, &h) == 1e6);
    accepted(&u, 9007199254740992.0);
    refused(&u, -1, "seed must be from 0 to 9007199254740992, not -1");
    refused(&u, 0.5, "seed must be a whole number from 0 to 9007199254740992, not 0.5");
    nn_field_set(&u, &h, -5);
    ck_assert_uint_eq(h.seed, 0);

    ck_assert_ptr_null(nn_field_find(dense->fields, dense->nfields, "no_such_field"));
    ck_assert_ptr_null(nn_field_find(dense->fields, dense->nfields, "type"));
    ck_assert_ptr_null(nn_field_find(dense->fields, dense->nfields, NULL));
}
END_TEST

/* alpha applies to leaky_relu only; fields without a condition always apply. */
START_TEST(applies)
{
    const struct nn_kind_desc *dense = nn_kind_desc(NN_DENSE), *act = nn_kind_desc(NN_ACTIVATION);
    const struct nn_field *alpha = field(dense, "alpha");
    char msg[NN_MSG] = "";
    struct nn_layer_spec l = nn_dense(4, NN_RELU);
    ck_assert_int_eq(nn_field_applies(dense->fields, dense->nfields, alpha, &l, msg, sizeof msg),
                     0);
    ck_assert_str_eq(msg, "alpha applies only to the leaky_relu activation, not relu");
    l.act = NN_LEAKY_RELU;
    ck_assert_int_eq(nn_field_applies(dense->fields, dense->nfields, alpha, &l, msg, sizeof msg),
                     1);
    ck_assert_int_eq(nn_field_applies(dense->fields, dense->nfields, field(dense, "units"), &l,
                                      msg, sizeof msg), 1);
    struct nn_layer_spec a = nn_activation(NN_SOFTMAX);
    const struct nn_field *aa = field(act, "alpha");
    ck_assert_int_eq(nn_field_applies(act->fields, act->nfields, aa, &a, msg, sizeof msg), 0);
    ck_assert_str_eq(msg, "alpha applies only to the leaky_relu activation, not softmax");
    ck_assert_int_eq(nn_field_applies(act->fields, act->nfields, aa, &a, NULL, 0), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("field");
    TCase *t = tcase_create("field");
    tcase_add_test(t, messages);
    tcase_add_test(t, range_ends);
    tcase_add_test(t, get_set_default);
    tcase_add_test(t, applies);
    suite_add_tcase(s, t);
    return tu_run(s) != 0;
}

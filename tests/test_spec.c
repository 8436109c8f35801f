/* test_spec.c -- core/spec.c and core/names.c: which specs nn_spec_check refuses and the
 * exact path (err.where) it names, the parameter count and cap, the warnings
 * nn_spec_warnings gives (and does not give), and the name tables. Expected paths,
 * counts and names are written out by hand from nn.h. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Checks a spec of `n` layers on `inputs` inputs; returns nn_spec_check's result. */
static int check(const struct nn_layer_spec *ls, int n, int inputs, enum nn_loss loss,
                 struct nn_error *e)
{
    struct nn_spec s = {.inputs = inputs, .layers = ls, .nlayers = n, .loss = loss};
    memset(e, 0, sizeof *e);
    return nn_spec_check(&s, 0, NULL, e);
}

/* Asserts the spec is refused at exactly `where`, by nn_spec_check and by nn_new. */
static void refused_at(const struct nn_layer_spec *ls, int n, int inputs, enum nn_loss loss,
                       const char *where)
{
    struct nn_error e;
    ck_assert_int_eq(check(ls, n, inputs, loss, &e), -1);
    ck_assert_str_eq(e.where, where);
    ck_assert_msg(e.msg[0] != '\0', "no message for %s", where);

    struct nn_spec s = {.inputs = inputs, .layers = ls, .nlayers = n, .loss = loss};
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    struct nn_error e2 = {{0}, {0}};
    struct nn_net *net = nn_new(&s, 0, &rng, &e2);
    ck_assert_ptr_null(net);
    ck_assert_str_eq(e2.where, where);
}

static void accepted(const struct nn_layer_spec *ls, int n, int inputs, enum nn_loss loss)
{
    struct nn_error e;
    int rc = check(ls, n, inputs, loss, &e);
    ck_assert_msg(rc == 0, "refused: %s: %s", e.where, e.msg);
}

/* ---- errors ---- */

START_TEST(err_inputs)
{
    struct nn_layer_spec ls[] = {nn_dense(2, NN_SOFTMAX)};
    refused_at(ls, 1, 0, NN_CCE, "/inputs");
    refused_at(ls, 1, -3, NN_CCE, "/inputs");
    refused_at(ls, 1, NN_MAX_WIDTH + 1, NN_CCE, "/inputs");
    accepted(ls, 1, 1, NN_CCE);
}
END_TEST

START_TEST(err_no_layers)
{
    struct nn_layer_spec ls[] = {nn_dense(2, NN_SOFTMAX)};
    refused_at(ls, 0, 4, NN_CCE, "/layers");
    refused_at(NULL, 3, 4, NN_CCE, "/layers");
    struct nn_error e;
    ck_assert_int_eq(nn_spec_check(NULL, 0, NULL, &e), -1);
}
END_TEST

START_TEST(err_units)
{
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dropout(0.1f), nn_dense(0, NN_RELU),
                                 nn_dense(2, NN_SOFTMAX)};
    refused_at(ls, 4, 4, NN_CCE, "/layers/2/units");
    ls[2].units = -5;
    refused_at(ls, 4, 4, NN_CCE, "/layers/2/units");
    ls[2].units = NN_MAX_WIDTH + 1;
    refused_at(ls, 4, 4, NN_CCE, "/layers/2/units");
    ls[2].units = 1;
    accepted(ls, 4, 4, NN_CCE);
}
END_TEST

START_TEST(err_activation)
{
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(2, NN_SOFTMAX)};
    ls[1].act = NN_ACT_COUNT;
    refused_at(ls, 2, 4, NN_CCE, "/layers/1/activation");
    ls[1].act = (enum nn_act)-1;
    refused_at(ls, 2, 4, NN_CCE, "/layers/1/activation");
    struct nn_layer_spec la[] = {nn_dense(8, NN_LINEAR), nn_activation(NN_RELU),
                                 nn_dense(2, NN_SOFTMAX)};
    la[1].act = (enum nn_act)99;
    refused_at(la, 3, 4, NN_CCE, "/layers/1/activation");
    /* leaky_relu needs a finite alpha */
    struct nn_layer_spec lk[] = {nn_dense(8, NN_LEAKY_RELU), nn_dense(2, NN_SOFTMAX)};
    lk[0].alpha = NAN;
    refused_at(lk, 2, 4, NN_CCE, "/layers/0/alpha");
}
END_TEST

START_TEST(err_dropout_rate)
{
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dropout(1.0f), nn_dense(2, NN_SOFTMAX)};
    refused_at(ls, 3, 4, NN_CCE, "/layers/1/rate");
    ls[1].rate = -0.1f;
    refused_at(ls, 3, 4, NN_CCE, "/layers/1/rate");
    ls[1].rate = NAN;
    refused_at(ls, 3, 4, NN_CCE, "/layers/1/rate");
    ls[1].rate = INFINITY;
    refused_at(ls, 3, 4, NN_CCE, "/layers/1/rate");
    ls[1].rate = 0.0f;
    accepted(ls, 3, 4, NN_CCE);
    ls[1].rate = 0.999f;
    accepted(ls, 3, 4, NN_CCE);
}
END_TEST

START_TEST(err_batchnorm)
{
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_batchnorm(), nn_dense(2, NN_SOFTMAX)};
    accepted(ls, 3, 4, NN_CCE);
    ls[1].epsilon = 0;
    refused_at(ls, 3, 4, NN_CCE, "/layers/1/epsilon");
    ls[1].epsilon = -1e-3f;
    refused_at(ls, 3, 4, NN_CCE, "/layers/1/epsilon");
    ls[1].epsilon = NAN;
    refused_at(ls, 3, 4, NN_CCE, "/layers/1/epsilon");
    ls[1].epsilon = 1e-3f;
    ls[1].momentum = 1.5f;
    refused_at(ls, 3, 4, NN_CCE, "/layers/1/momentum");
}
END_TEST

START_TEST(err_residual_width)
{
    /* input 8 wide, body ends 4 wide: the residual itself is at fault */
    struct nn_layer_spec body[] = {nn_dense(16, NN_RELU), nn_dense(4, NN_LINEAR)};
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_residual(body, 2),
                                 nn_dense(2, NN_SOFTMAX)};
    refused_at(ls, 3, 5, NN_CCE, "/layers/1");
    body[1].units = 8;
    accepted(ls, 3, 5, NN_CCE);
    /* an empty body */
    ls[1].nlayers = 0;
    refused_at(ls, 3, 5, NN_CCE, "/layers/1/layers");
}
END_TEST

START_TEST(err_nested_path)
{
    struct nn_layer_spec body[] = {nn_dense(0, NN_RELU), nn_dense(8, NN_LINEAR)};
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_residual(body, 2),
                                 nn_dense(2, NN_SOFTMAX)};
    refused_at(ls, 3, 5, NN_CCE, "/layers/1/layers/0/units");

    /* two levels: /layers/0/layers/1/layers/1/rate */
    struct nn_layer_spec inner[] = {nn_dense(6, NN_RELU), nn_dropout(2.0f)};
    struct nn_layer_spec mid[] = {nn_dense(6, NN_RELU), nn_residual(inner, 2)};
    struct nn_layer_spec top[] = {nn_residual(mid, 2), nn_dense(2, NN_SOFTMAX)};
    refused_at(top, 2, 6, NN_CCE, "/layers/0/layers/1/layers/1/rate");
    inner[1].rate = 0.5f;
    accepted(top, 2, 6, NN_CCE);
}
END_TEST

/* levels[k] is a residual around levels[k + 1]; the innermost is a dense layer. */
static void nest(struct nn_layer_spec *levels, int depth, struct nn_layer_spec leaf)
{
    for (int k = 0; k < depth; k++)
        levels[k] = nn_residual(&levels[k + 1], 1);
    levels[depth] = leaf;
}

START_TEST(err_nesting_depth)
{
    struct nn_layer_spec lv[NN_MAX_DEPTH + 3];
    struct nn_layer_spec out = nn_dense(2, NN_SOFTMAX);
    /* a few levels are fine */
    nest(lv, 3, nn_dense(4, NN_RELU));
    struct nn_layer_spec ls3[] = {lv[0], out};
    accepted(ls3, 2, 4, NN_CCE);
    /* deeper than NN_MAX_DEPTH is refused (at some residual on the chain) */
    nest(lv, NN_MAX_DEPTH + 1, nn_dense(4, NN_RELU));
    struct nn_layer_spec ls[] = {lv[0], out};
    struct nn_error e;
    ck_assert_int_eq(check(ls, 2, 4, NN_CCE, &e), -1);
    ck_assert_msg(strncmp(e.where, "/layers/0/layers/0", 18) == 0, "where: %s", e.where);
    ck_assert_ptr_nonnull(strstr(e.msg, "nested"));
}
END_TEST

/* err.where is the full path even for a layer nested a few residuals deep (the depth is
 * well inside NN_MAX_DEPTH): a truncated path would name a different field. */
START_TEST(err_deep_path_not_truncated)
{
    enum { D = 8 };
    struct nn_layer_spec lv[D + 1];
    nest(lv, D, nn_dense(0, NN_RELU));
    struct nn_layer_spec ls[] = {lv[0], nn_dense(2, NN_SOFTMAX)};
    char want[256] = "";
    for (int k = 0; k <= D; k++)
        strcat(want, "/layers/0");
    strcat(want, "/units");   /* 87 characters */
    struct nn_error e;
    ck_assert_int_eq(check(ls, 2, 4, NN_CCE, &e), -1);
    ck_assert_str_eq(e.where, want);
}
END_TEST

START_TEST(err_cce_one_output)
{
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(1, NN_SIGMOID)};
    refused_at(ls, 2, 4, NN_CCE, "/loss");
    accepted(ls, 2, 4, NN_BCE);
    struct nn_spec s = {.inputs = 4, .layers = ls, .nlayers = 2, .loss = NN_LOSS_COUNT};
    struct nn_error e;
    ck_assert_int_eq(nn_spec_check(&s, 0, NULL, &e), -1);
    ck_assert_str_eq(e.where, "/loss");
    s.loss = NN_BCE;
    s.metrics = 1u << NN_METRIC_COUNT;
    ck_assert_int_eq(nn_spec_check(&s, 0, NULL, &e), -1);
    ck_assert_str_eq(e.where, "/metrics");
}
END_TEST

START_TEST(param_count_and_cap)
{
    /* 784-256-128-10: 784*256+256 + 256*128+128 + 128*10+10 */
    const size_t want = 200960 + 32896 + 1290;
    ck_assert_uint_eq(want, 235146);
    struct nn_layer_spec ls[] = {nn_dense(256, NN_RELU), nn_dense(128, NN_RELU),
                                 nn_dense(10, NN_SOFTMAX)};
    struct nn_spec s = {.inputs = 784, .layers = ls, .nlayers = 3, .loss = NN_CCE};
    size_t n = 0;
    struct nn_error e;
    ck_assert_int_eq(nn_spec_check(&s, 0, &n, &e), 0);
    ck_assert_uint_eq(n, want);
    n = 0;
    ck_assert_int_eq(nn_spec_check(&s, want, &n, &e), 0);
    ck_assert_uint_eq(n, want);
    ck_assert_int_eq(nn_spec_check(&s, want - 1, &n, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "235146"));

    struct nn_rng rng;
    nn_rng_seed(&rng, 7);
    ck_assert_ptr_null(nn_new(&s, want - 1, &rng, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "235146"));
    struct nn_net *net = nn_new(&s, want, &rng, &e);
    ck_assert_ptr_nonnull(net);
    ck_assert_uint_eq(nn_param_count(net), want);
    nn_free(net);

    /* batchnorm and a residual: (4*8+8) + 2*8 + (8*8+8) + (8*3+3) */
    struct nn_layer_spec body[] = {nn_dense(8, NN_RELU), nn_dropout(0.2f)};
    struct nn_layer_spec l2[] = {nn_dense(8, NN_RELU), nn_batchnorm(), nn_residual(body, 2),
                                 nn_activation(NN_TANH), nn_dense(3, NN_SOFTMAX)};
    struct nn_spec s2 = {.inputs = 4, .layers = l2, .nlayers = 5, .loss = NN_CCE};
    ck_assert_int_eq(nn_spec_check(&s2, 0, &n, &e), 0);
    ck_assert_uint_eq(n, 40 + 16 + 72 + 27);
}
END_TEST

/* ---- every fault at once ---- */

/* What nn_spec_check_all reported, in order. */
struct seen {
    int n;
    char where[8][NN_WHERE];
    char msg[8][NN_MSG];
};

static void add_seen(void *ctx, const char *where, const char *msg)
{
    struct seen *s = ctx;
    if (s->n < 8) {
        snprintf(s->where[s->n], NN_WHERE, "%s", where);
        snprintf(s->msg[s->n], NN_MSG, "%s", msg);
        s->n++;
    }
}

/* Runs nn_spec_check_all over layers ls on `inputs`, with loss and max_params; the
 * faults land in *s. Returns its result, after checking that the count is right. */
static int check_all(const struct nn_layer_spec *ls, int n, int inputs, enum nn_loss loss,
                     size_t max_params, struct seen *s)
{
    struct nn_spec spec = {.inputs = inputs, .layers = ls, .nlayers = n, .loss = loss};
    memset(s, 0, sizeof *s);
    struct nn_faults f = {.add = add_seen, .ctx = s};
    int rc = nn_spec_check_all(&spec, max_params, NULL, &f);
    ck_assert_int_eq(f.n, s->n);
    ck_assert_int_eq(rc, s->n ? -1 : 0);
    return rc;
}

static int check_seq(const struct nn_layer_spec *ls, int n, int inputs, int T, enum nn_loss loss,
                     struct seen *s, size_t *nparams)
{
    struct nn_spec spec = {.inputs = inputs, .timesteps = T, .layers = ls, .nlayers = n,
                           .loss = loss};
    memset(s, 0, sizeof *s);
    struct nn_faults f = {.add = add_seen, .ctx = s};
    return nn_spec_check_all(&spec, 0, nparams, &f);
}

/* Sequences: a network with timesteps, the layers that read them, and the faults of
 * layers that cannot (paths and messages written out here). */
START_TEST(err_sequences)
{
    struct seen s;
    size_t np = 0;
    /* lstm 3 -> 4: 4*4*(3+4+1) = 128; gru 4 -> 2: 3*2*(4+2+1) + 3*2 = 48; dense 2 -> 1 */
    struct nn_layer_spec ok[] = {nn_lstm(4, 1), nn_dropout(0.2f), nn_gru(2, 0),
                                 nn_dense(1, NN_LINEAR)};
    ck_assert_int_eq(check_seq(ok, 4, 3, 10, NN_MSE, &s, &np), 0);
    ck_assert_uint_eq(np, 128 + 48 + 3);
    struct nn_spec spec = {.inputs = 3, .timesteps = 10, .layers = ok, .nlayers = 4};
    ck_assert_int_eq(nn_spec_outputs(&spec), 1);
    ok[2].return_sequences = 1;   /* the dense layer then applies to each of the 10 steps */
    ck_assert_int_eq(nn_spec_outputs(&spec), 10);
    /* rnn 3 -> 5: 5*(3+5+1) */
    struct nn_layer_spec r[] = {nn_rnn(5, 0)};
    ck_assert_int_eq(check_seq(r, 1, 3, 4, NN_MSE, &s, &np), 0);
    ck_assert_uint_eq(np, 45);

    /* without timesteps */
    ck_assert_int_eq(check_seq(r, 1, 3, 0, NN_MSE, &s, NULL), -1);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/0");
    ck_assert_str_eq(s.msg[0], "a rnn layer reads a sequence: give the network timesteps (and "
                               "return_sequences true to a recurrent layer before it)");
    /* after a layer that returns its last step only */
    struct nn_layer_spec two[] = {nn_lstm(4, 0), nn_gru(2, 0)};
    check_seq(two, 2, 3, 5, NN_MSE, &s, NULL);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/1");
    two[0].return_sequences = 1;
    ck_assert_int_eq(check_seq(two, 2, 3, 5, NN_MSE, &s, NULL), 0);
    /* timesteps out of range */
    check_seq(two, 2, 3, -1, NN_MSE, &s, NULL);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/timesteps");
    ck_assert_str_eq(s.msg[0], "timesteps must be from 0 to 65536, not -1");
    /* a row of at most 16777216 values, in and out */
    check_seq(two, 2, 4096, 4097, NN_MSE, &s, NULL);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/timesteps");
    ck_assert_str_eq(s.msg[0], "a row of 4097 steps of 4096 inputs is over 16777216 values");
    ck_assert_int_eq(check_seq(two, 2, 4096, 4096, NN_MSE, &s, NULL), 0);
    struct nn_layer_spec wide[] = {nn_lstm(2, 1), nn_dense(4097, NN_LINEAR)};
    check_seq(wide, 2, 1, 4096, NN_MSE, &s, NULL);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/1");
    ck_assert_str_eq(s.msg[0], "its output of 4096 steps of 4097 values is over 16777216 "
                               "values a row");
    wide[1].units = 4096;
    ck_assert_int_eq(check_seq(wide, 2, 1, 4096, NN_MSE, &s, NULL), 0);
    /* an rnn's activation: tanh or relu */
    r[0].act = NN_SIGMOID;
    check_seq(r, 1, 3, 4, NN_MSE, &s, NULL);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/0/activation");
    ck_assert_str_eq(s.msg[0], "an rnn layer's activation must be tanh or relu, not sigmoid");
    r[0].act = NN_RELU;
    ck_assert_int_eq(check_seq(r, 1, 3, 4, NN_MSE, &s, NULL), 0);
    /* what does not take a sequence: batchnorm, and a recurrent layer in a residual block */
    struct nn_layer_spec body[] = {nn_lstm(3, 1)};
    struct nn_layer_spec bad[] = {nn_lstm(3, 1), nn_batchnorm(), nn_dense(3, NN_SOFTMAX),
                                  nn_residual(body, 1)};
    check_seq(bad, 4, 3, 5, NN_CCE, &s, NULL);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.where[0], "/layers/1");
    ck_assert_str_eq(s.where[1], "/layers/3/layers/0");
    ck_assert_str_eq(s.msg[1], "a lstm layer cannot be inside a residual block");
    /* the same layers after the last step alone are fine */
    bad[0].return_sequences = 0;
    ck_assert_int_eq(check_seq(bad, 3, 3, 5, NN_CCE, &s, NULL), 0);
    /* softmax and categorical_crossentropy over a sequence: a class per step, with the
     * output's steps said by nn_spec_output_steps */
    struct nn_layer_spec cce[] = {nn_lstm(3, 1), nn_dense(4, NN_SOFTMAX)};
    ck_assert_int_eq(check_seq(cce, 2, 3, 5, NN_CCE, &s, NULL), 0);
    struct nn_spec cs = {.inputs = 3, .timesteps = 5, .layers = cce, .nlayers = 2,
                         .loss = NN_CCE};
    ck_assert_int_eq(nn_spec_outputs(&cs), 20);
    ck_assert_int_eq(nn_spec_output_steps(&cs), 5);
    cce[0].return_sequences = 0;
    ck_assert_int_eq(nn_spec_outputs(&cs), 4);
    ck_assert_int_eq(nn_spec_output_steps(&cs), 0);
}
END_TEST

START_TEST(warn_long_rnn)
{
    struct nn_layer_spec ls[] = {nn_rnn(8, 0), nn_dense(1, NN_LINEAR)};
    struct nn_spec s = {.inputs = 2, .timesteps = 31, .layers = ls, .nlayers = 2,
                        .loss = NN_MSE};
    struct nn_warning w[4];
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 1);
    ck_assert_str_eq(w[0].where, "/layers/0");
    ck_assert_ptr_nonnull(strstr(w[0].msg, "use lstm or gru"));
    s.timesteps = 30;
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 0);
    s.timesteps = 100;
    ls[0] = nn_lstm(8, 0);
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 0);
}
END_TEST

START_TEST(all_two_layers)
{
    /* two bad fields in different layers, and a third in a nested one */
    struct nn_layer_spec body[] = {nn_dense(8, NN_RELU), nn_dropout(-1)};
    struct nn_layer_spec ls[] = {nn_dense(0, NN_RELU), nn_dense(8, NN_RELU), nn_dropout(1.5f),
                                 nn_residual(body, 2), nn_dense(3, NN_SOFTMAX)};
    struct seen s;
    check_all(ls, 5, 4, NN_CCE, 0, &s);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.where[0], "/layers/0/units");
    ck_assert_str_eq(s.msg[0], "units must be from 1 to 16777216, not 0");
    ck_assert_str_eq(s.where[1], "/layers/2/rate");
    ck_assert_str_eq(s.msg[1], "rate must be at least 0 and below 1, not 1.5");
    ck_assert_str_eq(s.where[2], "/layers/3/layers/1/rate");
    /* nn_spec_check gives the first of them */
    struct nn_error e;
    ck_assert_int_eq(check(ls, 5, 4, NN_CCE, &e), -1);
    ck_assert_str_eq(e.where, "/layers/0/units");
    ck_assert_str_eq(e.msg, "units must be from 1 to 16777216, not 0");
    /* and all the top-level fields besides */
    struct nn_spec bad = {.inputs = 0, .layers = ls, .nlayers = 5, .loss = NN_LOSS_COUNT,
                          .metrics = 1u << NN_METRIC_COUNT};
    struct nn_faults f = {.add = add_seen, .ctx = &s};
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(nn_spec_check_all(&bad, 0, NULL, &f), -1);
    ck_assert_int_eq(s.n, 6);
    ck_assert_str_eq(s.where[0], "/inputs");
    ck_assert_str_eq(s.msg[0], "inputs must be from 1 to 16777216, not 0");
    ck_assert_str_eq(s.where[4], "/loss");
    ck_assert_str_eq(s.msg[4], "unknown loss 4");
    ck_assert_str_eq(s.where[5], "/metrics");
}
END_TEST

START_TEST(all_residual_and_field)
{
    /* a residual whose body narrows 8 to 4, next to an unrelated bad activation */
    struct nn_layer_spec body[] = {nn_dense(16, NN_RELU), nn_dense(4, NN_LINEAR)};
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_residual(body, 2),
                                 nn_dense(8, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    ls[2].act = (enum nn_act)9;
    struct seen s;
    check_all(ls, 4, 5, NN_CCE, 0, &s);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.where[0], "/layers/1");
    ck_assert_str_eq(s.msg[0], "a residual block must keep its width: its input is 8 wide but "
                               "its layers output 4");
    ck_assert_str_eq(s.where[1], "/layers/2/activation");
    ck_assert_str_eq(s.msg[1], "unknown activation 9");
    /* a bad field inside the body that does not decide the body's width: both */
    body[0].init = (enum nn_init)17;
    check_all(ls, 4, 5, NN_CCE, 0, &s);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.where[0], "/layers/1/layers/0/init");
    ck_assert_str_eq(s.msg[0], "unknown init 17");
    ck_assert_str_eq(s.where[1], "/layers/1");
    ck_assert_str_eq(s.where[2], "/layers/2/activation");
}
END_TEST

/* A layer with a faulty field has no width: what would follow from a width -- a residual's
 * width rule, the loss against the outputs, the parameter cap -- is not reported again.
 * Each case is first shown to report those faults when the width is known. */
START_TEST(all_no_derived_fault)
{
    struct nn_layer_spec body[] = {nn_dense(8, NN_RELU)};
    struct nn_layer_spec ls[] = {nn_dense(5, NN_RELU), nn_residual(body, 1), nn_batchnorm()};
    struct seen s;
    /* known widths: the loss (one output for categorical_crossentropy) and the cap (4*1+1
     * + 2 parameters) fault */
    struct nn_layer_spec one[] = {nn_dense(1, NN_RELU), nn_batchnorm()};
    check_all(one, 2, 4, NN_CCE, 5, &s);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.where[0], "/loss");
    ck_assert_str_eq(s.where[1], "");
    ck_assert_str_eq(s.msg[1], "the network has 7 parameters, over the limit of 5");
    /* the first layer's width unknown: only its own fault */
    one[0].units = 0;
    check_all(one, 2, 4, NN_CCE, 5, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/0/units");
    /* the same through a bad field that is not the width itself */
    one[0].units = 1;
    one[0].init = NN_INIT_COUNT;
    check_all(one, 2, 4, NN_CCE, 5, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/0/init");
    /* a residual's rule: 5 -> 8 faults when 5 is known, not when the 5 was refused */
    struct nn_layer_spec res[] = {nn_dense(5, NN_RELU), nn_residual(body, 1)};
    check_all(res, 2, 4, NN_MSE, 0, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/1");
    res[0].alpha = NAN;
    res[0].act = NN_LEAKY_RELU;
    check_all(res, 2, 4, NN_MSE, 0, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/0/alpha");
    /* a faulty residual has no width either: the loss after it is not judged */
    struct nn_layer_spec res1[] = {nn_dense(1, NN_RELU), nn_residual(body, 1)};
    check_all(res1, 2, 4, NN_CCE, 0, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/1");
    /* bad inputs: no width anywhere until a dense layer sets one */
    check_all(ls, 3, 5, NN_MSE, 0, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/1");
    check_all(ls, 3, 0, NN_MSE, 0, &s);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.where[0], "/inputs");
    ck_assert_str_eq(s.where[1], "/layers/1");   /* widths are known again after dense 5 */
    struct nn_layer_spec capped[] = {nn_dense(5, NN_RELU), nn_batchnorm()};
    check_all(capped, 2, 5, NN_MSE, 39, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.msg[0], "the network has 40 parameters, over the limit of 39");
    check_all(capped, 2, 0, NN_MSE, 39, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/inputs");
    struct nn_layer_spec bn_only[] = {nn_batchnorm()};
    check_all(bn_only, 1, 1, NN_CCE, 1, &s);
    ck_assert_int_eq(s.n, 2);   /* the loss (1 output) and the cap (2 parameters) */
    check_all(bn_only, 1, -3, NN_CCE, 1, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/inputs");
    /* an unknown kind has no width either */
    struct nn_layer_spec odd[] = {nn_batchnorm(), nn_dense(1, NN_SIGMOID)};
    odd[1].kind = NN_KIND_COUNT;
    check_all(odd, 2, 3, NN_CCE, 0, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/1/type");
    char unknown[64];
    snprintf(unknown, sizeof unknown, "unknown layer type %d", NN_KIND_COUNT);
    ck_assert_str_eq(s.msg[0], unknown);
}
END_TEST

/* The layer limit is reported once, where it is passed, and nothing after it. */
START_TEST(all_layer_limit)
{
    static struct nn_layer_spec many[NN_MAX_LAYERS + 10];
    for (int i = 0; i < NN_MAX_LAYERS + 10; i++)
        many[i] = nn_activation(NN_RELU);
    many[NN_MAX_LAYERS + 5].kind = NN_KIND_COUNT;   /* past the limit: not visited */
    struct seen s;
    check_all(many, NN_MAX_LAYERS + 10, 4, NN_MSE, 0, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.where[0], "/layers/4096");
    ck_assert_str_eq(s.msg[0], "more than 4096 layers in all");
}
END_TEST

/* ---- warnings ---- */

static int warnings(const struct nn_layer_spec *ls, int n, int inputs, enum nn_loss loss,
                    struct nn_warning *w, int max)
{
    struct nn_spec s = {.inputs = inputs, .layers = ls, .nlayers = n, .loss = loss};
    memset(w, 0, sizeof *w * (size_t)max);
    return nn_spec_warnings(&s, w, max);
}

START_TEST(warn_clean)
{
    struct nn_warning w[4];
    struct nn_layer_spec body[] = {nn_dense(16, NN_RELU), nn_batchnorm(), nn_dense(16, NN_LINEAR)};
    struct nn_layer_spec ls[] = {nn_dense(16, NN_RELU), nn_dropout(0.2f), nn_residual(body, 3),
                                 nn_dense(10, NN_SOFTMAX)};
    ck_assert_int_eq(warnings(ls, 4, 8, NN_CCE, w, 4), 0);
    /* softmax as its own layer, then dropout: still a softmax output */
    struct nn_layer_spec l2[] = {nn_dense(16, NN_RELU), nn_dense(10, NN_LINEAR),
                                 nn_activation(NN_SOFTMAX)};
    ck_assert_int_eq(warnings(l2, 3, 8, NN_CCE, w, 4), 0);
    struct nn_layer_spec l3[] = {nn_dense(16, NN_TANH), nn_dense(1, NN_SIGMOID)};
    ck_assert_int_eq(warnings(l3, 2, 8, NN_BCE, w, 4), 0);
    struct nn_layer_spec l4[] = {nn_dense(16, NN_RELU), nn_dense(1, NN_LINEAR)};
    ck_assert_int_eq(warnings(l4, 2, 8, NN_MSE, w, 4), 0);
}
END_TEST

START_TEST(warn_step)
{
    struct nn_warning w[4];
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(8, NN_STEP),
                                 nn_dense(1, NN_SIGMOID)};
    ck_assert_int_eq(warnings(ls, 3, 4, NN_BCE, w, 4), 1);
    ck_assert_str_eq(w[0].where, "/layers/1");
    ck_assert_ptr_nonnull(strstr(w[0].msg, "step"));
    /* a step activation layer after a dense layer */
    struct nn_layer_spec l2[] = {nn_dense(8, NN_LINEAR), nn_activation(NN_STEP),
                                 nn_dense(1, NN_SIGMOID)};
    ck_assert_int_eq(warnings(l2, 3, 4, NN_BCE, w, 4), 1);
    ck_assert_str_eq(w[0].where, "/layers/1");
    /* the same with relu instead: nothing */
    l2[1].act = NN_RELU;
    ck_assert_int_eq(warnings(l2, 3, 4, NN_BCE, w, 4), 0);
}
END_TEST

START_TEST(warn_sigmoid_stack)
{
    struct nn_warning w[4];
    struct nn_layer_spec ls[] = {nn_dense(8, NN_SIGMOID), nn_dense(8, NN_TANH),
                                 nn_dense(8, NN_SIGMOID), nn_dense(8, NN_TANH),
                                 nn_dense(1, NN_SIGMOID)};
    /* three in a row (the last is the output): fine */
    struct nn_layer_spec l3[] = {ls[0], ls[1], ls[4]};
    ck_assert_int_eq(warnings(l3, 3, 4, NN_BCE, w, 4), 0);
    /* four or more: one warning, at the fourth */
    ck_assert_int_eq(warnings(ls, 5, 4, NN_BCE, w, 4), 1);
    ck_assert_str_eq(w[0].where, "/layers/3");
    ck_assert_ptr_nonnull(strstr(w[0].msg, "vanishing"));
    /* a relu in between breaks the run */
    ls[2].act = NN_RELU;
    ck_assert_int_eq(warnings(ls, 5, 4, NN_BCE, w, 4), 0);
}
END_TEST

START_TEST(warn_output_vs_loss)
{
    struct nn_warning w[4];
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    ck_assert_int_eq(warnings(ls, 2, 4, NN_CCE, w, 4), 0);
    ck_assert_int_eq(warnings(ls, 2, 4, NN_BCE, w, 4), 1);   /* softmax + bce */
    ck_assert_str_eq(w[0].where, "/layers/1");
    ck_assert_ptr_nonnull(strstr(w[0].msg, "softmax"));
    ck_assert_ptr_nonnull(strstr(w[0].msg, "binary_crossentropy"));

    ls[1].act = NN_SIGMOID;                                   /* sigmoid + cce */
    ck_assert_int_eq(warnings(ls, 2, 4, NN_CCE, w, 4), 1);
    ck_assert_str_eq(w[0].where, "/layers/1");
    ck_assert_ptr_nonnull(strstr(w[0].msg, "sigmoid"));
    ck_assert_ptr_nonnull(strstr(w[0].msg, "categorical_crossentropy"));

    ls[1].act = NN_LINEAR;                                    /* no softmax before cce */
    ck_assert_int_eq(warnings(ls, 2, 4, NN_CCE, w, 4), 1);
    ck_assert_str_eq(w[0].where, "/layers/1");
    ck_assert_ptr_nonnull(strstr(w[0].msg, "softmax"));

    /* a trailing dropout does not hide the output activation */
    struct nn_layer_spec l2[] = {nn_dense(8, NN_RELU), nn_dense(3, NN_RELU), nn_dropout(0.1f)};
    ck_assert_int_eq(warnings(l2, 3, 4, NN_CCE, w, 4), 1);
    ck_assert_str_eq(w[0].where, "/layers/1");
}
END_TEST

/* accuracy asked of a regression: a warning at /metrics; not for a softmax or sigmoid
 * output (classes under mse), nor without accuracy, nor for a classification loss */
START_TEST(warn_accuracy_regression)
{
    struct nn_warning w[4];
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(1, NN_LINEAR)};
    struct nn_spec s = {.inputs = 4, .layers = ls, .nlayers = 2, .loss = NN_MSE,
                        .metrics = 1u << NN_METRIC_ACCURACY | 1u << NN_METRIC_MAE};
    memset(w, 0, sizeof w);
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 1);
    ck_assert_str_eq(w[0].where, "/metrics");
    ck_assert_ptr_nonnull(strstr(w[0].msg, "accuracy means nothing for a regression"));
    ck_assert_ptr_nonnull(strstr(w[0].msg, "mse over a linear output"));
    s.loss = NN_MAE;
    ls[1].act = NN_RELU;
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 1);
    ck_assert_ptr_nonnull(strstr(w[0].msg, "mae over a relu output"));
    s.metrics = 1u << NN_METRIC_MAE;
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 0);
    s.metrics = 1u << NN_METRIC_ACCURACY;
    ls[1].act = NN_SIGMOID;
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 0);
    ls[1] = nn_dense(3, NN_SOFTMAX);
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 0);
    s.loss = NN_CCE;
    ck_assert_int_eq(nn_spec_warnings(&s, w, 4), 0);
}
END_TEST

/* ---- what cannot learn ---- */

struct one_fault {
    int n;
    char where[NN_WHERE], msg[NN_MSG];
};

static void keep_fault(void *ctx, const char *where, const char *msg)
{
    struct one_fault *o = ctx;
    if (o->n++ == 0) {
        snprintf(o->where, sizeof o->where, "%s", where);
        snprintf(o->msg, sizeof o->msg, "%s", msg);
    }
}

/* Runs nn_spec_check_training on a spec nn_spec_check accepts; its faults into *o. */
static int training_faults(const struct nn_layer_spec *ls, int n, enum nn_loss loss,
                           struct one_fault *o)
{
    struct nn_spec s = {.inputs = 4, .layers = ls, .nlayers = n, .loss = loss};
    ck_assert_int_eq(nn_spec_check(&s, 0, NULL, NULL), 0);
    memset(o, 0, sizeof *o);
    struct nn_faults f = {keep_fault, o, 0};
    int rc = nn_spec_check_training(&s, &f);
    ck_assert_int_eq(f.n, o->n);
    ck_assert_int_eq(rc, o->n ? -1 : 0);
    return o->n;
}

/* categorical_crossentropy over an output that is not a probability per class is a fault
 * at the output layer's activation (or the layer, when it has none), saying to use
 * softmax; softmax and sigmoid outputs, and other losses, are not. */
START_TEST(check_training_cce_output)
{
    struct one_fault o;
    const enum nn_act bad[] = {NN_LINEAR, NN_RELU, NN_LEAKY_RELU, NN_TANH, NN_STEP};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(3, bad[k])};
        ck_assert_int_eq(training_faults(ls, 2, NN_CCE, &o), 1);
        ck_assert_str_eq(o.where, "/layers/1/activation");
        ck_assert_msg(strstr(o.msg, nn_act_name(bad[k])) && strstr(o.msg, "use softmax") &&
                      strstr(o.msg, "categorical_crossentropy"), "%s", o.msg);
        ck_assert_int_eq(training_faults(ls, 2, NN_MSE, &o), 0);
    }
    /* an activation layer, after a trailing dropout */
    struct nn_layer_spec l2[] = {nn_dense(3, NN_LINEAR), nn_activation(NN_RELU),
                                 nn_dropout(0.1f)};
    ck_assert_int_eq(training_faults(l2, 3, NN_CCE, &o), 1);
    ck_assert_str_eq(o.where, "/layers/1/activation");
    l2[1].act = NN_SOFTMAX;
    ck_assert_int_eq(training_faults(l2, 3, NN_CCE, &o), 0);
    l2[1].act = NN_SIGMOID;
    ck_assert_int_eq(training_faults(l2, 3, NN_CCE, &o), 0);
    /* a layer without an activation last */
    struct nn_layer_spec l3[] = {nn_dense(3, NN_SOFTMAX), nn_batchnorm()};
    ck_assert_int_eq(training_faults(l3, 2, NN_CCE, &o), 1);
    ck_assert_str_eq(o.where, "/layers/1");
    ck_assert_msg(strstr(o.msg, "batchnorm") && strstr(o.msg, "softmax"), "%s", o.msg);
}
END_TEST

START_TEST(warn_count_beyond_max)
{
    /* step, sigmoid stack and softmax+bce: three warnings, only max filled */
    struct nn_layer_spec ls[] = {nn_dense(8, NN_STEP), nn_dense(8, NN_SIGMOID),
                                 nn_dense(8, NN_SIGMOID), nn_dense(8, NN_SIGMOID),
                                 nn_dense(8, NN_SIGMOID), nn_dense(3, NN_SOFTMAX)};
    struct nn_warning w[4];
    ck_assert_int_eq(warnings(ls, 6, 4, NN_BCE, w, 4), 3);
    ck_assert_str_eq(w[0].where, "/layers/0");
    ck_assert_str_eq(w[1].where, "/layers/4");
    ck_assert_str_eq(w[2].where, "/layers/5");
    struct nn_warning one[2];
    memset(one, 0, sizeof one);
    struct nn_spec s = {.inputs = 4, .layers = ls, .nlayers = 6, .loss = NN_BCE};
    ck_assert_int_eq(nn_spec_warnings(&s, one, 1), 3);
    ck_assert_str_eq(one[0].where, "/layers/0");
    ck_assert_str_eq(one[1].where, "");   /* untouched */
    ck_assert_int_eq(nn_spec_warnings(&s, NULL, 0), 3);
}
END_TEST

/* ---- names ---- */

typedef const char *(*name_fn)(int);
typedef int (*parse_fn)(const char *);

static void round_trip(name_fn name, parse_fn parse, int count, const char *const *want)
{
    for (int i = 0; i < count; i++) {
        const char *s = name(i);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(s, want[i]);
        ck_assert_int_eq(parse(s), i);
    }
    ck_assert_ptr_null(name(count));
    ck_assert_ptr_null(name(-1));
    ck_assert_int_eq(parse("no_such_name"), -1);
    ck_assert_int_eq(parse(""), -1);
    ck_assert_int_eq(parse(NULL), -1);
    /* exact match only: no prefix, no case folding */
    char upper[64];
    snprintf(upper, sizeof upper, "%s", want[0]);
    upper[0] = (char)(upper[0] - 'a' + 'A');
    ck_assert_int_eq(parse(upper), -1);
    char longer[64];
    snprintf(longer, sizeof longer, "%sx", want[0]);
    ck_assert_int_eq(parse(longer), -1);
}

START_TEST(names_round_trip)
{
    static const char *const kinds[] = {"dense", "activation", "dropout", "batchnorm",
                                        "residual", "rnn", "lstm", "gru"};
    static const char *const acts[] = {"linear", "step", "sigmoid", "tanh", "relu",
                                       "leaky_relu", "softmax"};
    static const char *const inits[] = {"auto", "he_normal", "he_uniform", "glorot_normal",
                                        "glorot_uniform", "zeros"};
    static const char *const losses[] = {"mse", "mae", "binary_crossentropy",
                                         "categorical_crossentropy"};
    static const char *const metrics[] = {"accuracy", "mae", "mse"};
    static const char *const opts[] = {"sgd", "adam"};
    ck_assert_msg(NN_KIND_COUNT == 8, "%d layer kinds: a new kind's name belongs in kinds[] "
                  "above, its fields in kind_descriptors and its required fields in "
                  "descriptor_defaults_are_the_constructors", NN_KIND_COUNT);
    ck_assert_int_eq(NN_ACT_COUNT, 7);
    ck_assert_int_eq(NN_INIT_COUNT, 6);
    ck_assert_int_eq(NN_LOSS_COUNT, 4);
    ck_assert_int_eq(NN_METRIC_COUNT, 3);
    ck_assert_int_eq(NN_OPT_COUNT, 2);
    round_trip(nn_kind_name, nn_kind_parse, NN_KIND_COUNT, kinds);
    round_trip(nn_act_name, nn_act_parse, NN_ACT_COUNT, acts);
    round_trip(nn_init_name, nn_init_parse, NN_INIT_COUNT, inits);
    round_trip(nn_loss_name, nn_loss_parse, NN_LOSS_COUNT, losses);
    round_trip(nn_metric_name, nn_metric_parse, NN_METRIC_COUNT, metrics);
    round_trip(nn_opt_name, nn_opt_parse, NN_OPT_COUNT, opts);
    /* a name of one table is not a name of another */
    ck_assert_int_eq(nn_act_parse("dense"), -1);
    ck_assert_int_eq(nn_loss_parse("accuracy"), -1);
    ck_assert_int_eq(nn_metric_parse("mae"), NN_METRIC_MAE);
    ck_assert_int_eq(nn_loss_parse("mae"), NN_MAE);
}
END_TEST

START_TEST(constructors_defaults)
{
    struct nn_layer_spec d = nn_dense(7, NN_LEAKY_RELU);
    ck_assert_int_eq(d.kind, NN_DENSE);
    ck_assert_int_eq(d.units, 7);
    ck_assert_int_eq(d.act, NN_LEAKY_RELU);
    ck_assert_float_eq(d.alpha, 0.01f);
    ck_assert_int_eq(d.init, NN_INIT_AUTO);
    struct nn_layer_spec b = nn_batchnorm();
    ck_assert_int_eq(b.kind, NN_BATCHNORM);
    ck_assert_float_eq(b.momentum, 0.99f);
    ck_assert_float_eq(b.epsilon, 1e-3f);
    struct nn_layer_spec r = nn_residual(&d, 1);
    ck_assert_int_eq(r.kind, NN_RESIDUAL);
    ck_assert_ptr_eq(r.layers, &d);
    ck_assert_int_eq(r.nlayers, 1);
    struct nn_layer_spec p = nn_dropout(0.25f);
    ck_assert_int_eq(p.kind, NN_DROPOUT);
    ck_assert_float_eq(p.rate, 0.25f);
    struct nn_layer_spec a = nn_activation(NN_TANH);
    ck_assert_int_eq(a.kind, NN_ACTIVATION);
    ck_assert_int_eq(a.act, NN_TANH);
}
END_TEST

/* The descriptors: every kind has one, named as nn_kind_name names it, with the fields a
 * definition is written with, in that order (written out here by hand). */
START_TEST(kind_descriptors)
{
    static const char *const fields[NN_KIND_COUNT][5] = {
        [NN_DENSE] = {"units", "activation", "alpha", "init"},
        [NN_ACTIVATION] = {"activation", "alpha"},
        [NN_DROPOUT] = {"rate"},
        [NN_BATCHNORM] = {"momentum", "epsilon"},
        [NN_RESIDUAL] = {"layers"},
        [NN_RNN] = {"units", "activation", "return_sequences"},
        [NN_LSTM] = {"units", "return_sequences", "unit_forget_bias"},
        [NN_GRU] = {"units", "return_sequences"},
    };
    for (int k = 0; k < NN_KIND_COUNT; k++) {
        const struct nn_kind_desc *d = nn_kind_desc(k);
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d->name, nn_kind_name(k));
        int n = 0;
        while (n < 5 && fields[k][n])
            n++;
        ck_assert_msg(d->nfields == n, "kind %s has %d fields, this test's table lists %d: "
                      "write its fields in the table above", d->name, d->nfields, n);
        for (int i = 0; i < n; i++)
            ck_assert_str_eq(d->fields[i].name, fields[k][i]);
    }
    ck_assert_ptr_null(nn_kind_desc(NN_KIND_COUNT));
    ck_assert_ptr_null(nn_kind_desc(-1));
    ck_assert_str_eq(nn_spec_desc.fields[0].name, "inputs");
    ck_assert_str_eq(nn_spec_desc.fields[1].name, "layers");
    ck_assert_str_eq(nn_spec_desc.fields[2].name, "loss");
}
END_TEST

/* Every member of two layer specs, bit for bit. */
static void same_layer(const struct nn_layer_spec *a, const struct nn_layer_spec *b)
{
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert_int_eq(a->units, b->units);
    ck_assert_int_eq(a->act, b->act);
    ck_assert_int_eq(a->init, b->init);
    ck_assert(memcmp(&a->alpha, &b->alpha, sizeof(float)) == 0);
    ck_assert(memcmp(&a->rate, &b->rate, sizeof(float)) == 0);
    ck_assert(memcmp(&a->momentum, &b->momentum, sizeof(float)) == 0);
    ck_assert(memcmp(&a->epsilon, &b->epsilon, sizeof(float)) == 0);
    ck_assert_ptr_eq(a->layers, b->layers);
    ck_assert_int_eq(a->nlayers, b->nlayers);
    ck_assert_int_eq(a->return_sequences, b->return_sequences);
    ck_assert_int_eq(a->unit_forget_bias, b->unit_forget_bias);
}

/* A layer of kind k from its descriptor's defaults alone, every other member 0. */
static struct nn_layer_spec from_desc(enum nn_kind k)
{
    struct nn_layer_spec l;
    memset(&l, 0, sizeof l);
    l.kind = k;
    nn_fields_default(nn_kind_desc(k)->fields, nn_kind_desc(k)->nfields, &l);
    return l;
}

START_TEST(descriptor_defaults_are_the_constructors)
{
    /* each constructor with the defaults as its arguments (a required field's default is
     * 0: a value must be given) */
    struct nn_layer_spec d = from_desc(NN_DENSE), c = nn_dense(0, NN_LINEAR);
    same_layer(&d, &c);
    d = from_desc(NN_ACTIVATION), c = nn_activation(NN_LINEAR);
    same_layer(&d, &c);
    d = from_desc(NN_DROPOUT), c = nn_dropout(0);
    same_layer(&d, &c);
    d = from_desc(NN_BATCHNORM), c = nn_batchnorm();
    same_layer(&d, &c);
    d = from_desc(NN_RESIDUAL), c = nn_residual(NULL, 0);
    same_layer(&d, &c);
    d = from_desc(NN_RNN), c = nn_rnn(0, 0);
    same_layer(&d, &c);
    ck_assert_int_eq(d.act, NN_TANH);
    d = from_desc(NN_LSTM), c = nn_lstm(0, 0);
    same_layer(&d, &c);
    ck_assert_int_eq(d.unit_forget_bias, 1);
    ck_assert_int_eq(d.return_sequences, 0);
    d = from_desc(NN_GRU), c = nn_gru(0, 0);
    same_layer(&d, &c);
    /* and the defaults are the documented ones */
    d = from_desc(NN_DENSE);
    ck_assert_float_eq(d.alpha, 0.01f);
    ck_assert_int_eq(d.init, NN_INIT_AUTO);
    d = from_desc(NN_BATCHNORM);
    ck_assert_float_eq(d.momentum, 0.99f);
    ck_assert_float_eq(d.epsilon, 1e-3f);
    /* required: units, rate, the activation layer's activation, the body */
    const int required[NN_KIND_COUNT] = {[NN_DENSE] = 1, [NN_ACTIVATION] = 1, [NN_DROPOUT] = 1,
                                         [NN_BATCHNORM] = 0, [NN_RESIDUAL] = 1, [NN_RNN] = 1,
                                         [NN_LSTM] = 1, [NN_GRU] = 1};
    for (int k = 0; k < NN_KIND_COUNT; k++) {
        const struct nn_kind_desc *kd = nn_kind_desc(k);
        int n = 0;
        for (int i = 0; i < kd->nfields; i++)
            n += (kd->fields[i].flags & NN_FIELD_REQUIRED) != 0;
        ck_assert_msg(n == required[k], "%s: %d required fields", kd->name, n);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spec");
    TCase *e = tcase_create("errors");
    tcase_add_test(e, err_inputs);
    tcase_add_test(e, err_no_layers);
    tcase_add_test(e, err_units);
    tcase_add_test(e, err_activation);
    tcase_add_test(e, err_dropout_rate);
    tcase_add_test(e, err_batchnorm);
    tcase_add_test(e, err_residual_width);
    tcase_add_test(e, err_nested_path);
    tcase_add_test(e, err_nesting_depth);
    tcase_add_test(e, err_deep_path_not_truncated);
    tcase_add_test(e, err_cce_one_output);
    tcase_add_test(e, param_count_and_cap);
    tcase_add_test(e, err_sequences);
    tcase_add_test(e, warn_long_rnn);
    suite_add_tcase(s, e);
    TCase *a = tcase_create("all");
    tcase_add_test(a, all_two_layers);
    tcase_add_test(a, all_residual_and_field);
    tcase_add_test(a, all_no_derived_fault);
    tcase_add_test(a, all_layer_limit);
    suite_add_tcase(s, a);
    TCase *w = tcase_create("warnings");
    tcase_add_test(w, warn_clean);
    tcase_add_test(w, warn_step);
    tcase_add_test(w, warn_sigmoid_stack);
    tcase_add_test(w, warn_output_vs_loss);
    tcase_add_test(w, warn_count_beyond_max);
    tcase_add_test(w, warn_accuracy_regression);
    tcase_add_test(w, check_training_cce_output);
    suite_add_tcase(s, w);
    TCase *n = tcase_create("names");
    tcase_add_test(n, names_round_trip);
    tcase_add_test(n, constructors_defaults);
    tcase_add_test(n, kind_descriptors);
    tcase_add_test(n, descriptor_defaults_are_the_constructors);
    suite_add_tcase(s, n);
    return tu_run(s) != 0;
}

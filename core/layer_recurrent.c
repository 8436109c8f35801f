/* layer_recurrent.c -- recurrent layers over a sequence: rnn (Elman), lstm and gru, with
 * PyTorch's equations and gate layout, so that weights compare with torch.nn's:
 *
 *   rnn   h = act(W x + U h' + b)                         act tanh (default) or relu
 *   lstm  [i f g o] = W x + U h' + b   (i, f, o sigmoid; g tanh)
 *         c = f * c' + i * g           h = o * tanh(c)
 *   gru   [r z] = sigmoid(W_rz x + b_rz + U_rz h' + bh_rz)
 *         n = tanh(W_n x + b_n + r * (U_n h' + bh_n))      (the reset gate after U h')
 *         h = (1 - z) * n + z * h'
 *
 * where h' and c' are the previous step's (0 at the first). Shapes, with T steps, IN
 * inputs per step, H units and G gates (rnn 1, lstm 4, gru 3):
 *   inp (B, T*IN) time-major  W (G*H, IN)  U (G*H, H)  b (G*H)  [gru: bh (G*H)]
 *   out (B, T*H) with return_sequences, else (B, H): the last step's h.
 * W, U, b (and bh) lie back to back at params + o->p; a gru's b is PyTorch's b_ih, bh its
 * b_hh; rnn and lstm have one bias (PyTorch's b_ih + b_hh).
 *
 * DESIGN. The op is row-local: each batch row's sequence is its own, so a tile is a block
 * of rows and runs every step of them. Forward projects the inputs of all T steps at once
 * (one product over the tile's rows x T), then per step adds h' · Uᵀ (one product) and
 * applies the gates. Backward runs through time in the same tile and leaves the
 * gradients of the gate pre-activations of every step in the workspace, with the input
 * gradient (one product over all steps); the weight gradient (grad) then sums them over
 * the whole batch per block of gate units, after a barrier, so no two threads write one
 * weight and no sum depends on the tiling. The workspace (r->seq, sized when the network
 * is built) holds per row: A, the activated gates of every step (T*G*H); Hp, h' of every
 * step (T*H); C, the lstm's cell state or the gru's U_n h' + bh_n (T*H); an lstm's
 * tanh(c) (T*H); dA, the gates' pre-activation gradients (T*G*H); dU, a gru's gradients
 * at U h' (T*G*H; dA itself otherwise); and two H vectors and a gru's G*H product of the
 * step. Each array is laid out
 * (B, ...) so that products run over all rows of a tile, or of the batch, at once. The
 * gates of a row's step, forward and backward, are one loop per cell over restrict
 * pointers, with exp computed inline (exp_), so that the compiler vectorizes them: scalar,
 * with libm's expf, they took two thirds of the time of the products.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The parts of an op's workspace for a batch of B rows. */
struct seqv {
    float *A, *Hp, *C, *TC, *dA, *dU, *dh, *dc, *gh, *hn;
};

static size_t seq_floats(int T, int G, int H, int cell)
{
    size_t gh = (size_t)T * G * H, th = (size_t)T * H;
    int gru = cell == NN_GRU, lstm = cell == NN_LSTM;
    return gh + th + th + (lstm ? th : 0) + gh + (gru ? gh : 0) + 2 * (size_t)H +
           (gru ? (size_t)G * H : 0) + (size_t)recur_samples(T);
}

static struct seqv seq_view(const struct op *o, const struct run *r)
{
    const int T = o->steps, G = o->gates, H = o->units, gru = o->cell == NN_GRU;
    const size_t B = (size_t)r->B, gh = (size_t)T * G * H, th = (size_t)T * H;
    float *p = r->seq + B * o->sq;
    struct seqv v;
    v.A = p, p += B * gh;
    v.Hp = p, p += B * th;
    v.C = p, p += B * th;
    v.TC = p;
    if (o->cell == NN_LSTM)
        p += B * th;
    v.dA = p, p += B * gh;
    if (gru)
        v.dU = p, p += B * gh;
    else
        v.dU = v.dA;
    v.dh = p, p += B * H;
    v.dc = p, p += B * H;
    v.gh = p;
    if (gru)
        p += B * G * H;
    v.hn = p;
    return v;
}

/* e^x for the gates, without branches or calls so that the loops over units vectorize
 * (libm's expf is a call per value): Cephes's expf, 2^n by the exponent's bits times a
 * polynomial on [-ln2/2, ln2/2], within 2 ulp of expf. For x <= 0 only (the callers'
 * arguments), clamped at -87.3, where the result stays a normal float; a NaN stays NaN.
 * Everything on the bits is unsigned integer work, which vectorizes where a float
 * compare or a float-to-int conversion does not (and the conversion of a NaN is
 * undefined). */
static inline float exp_(float x)
{
    union { float f; uint32_t i; } u = {.f = x};
    uint32_t m = u.i & 0x7fffffffu;                     /* |x| */
    const uint32_t lim = 0x42ae999au;                   /* the bits of 87.3f */
    m = m > 0x7f800000u ? m : m < lim ? m : lim;        /* NaN kept */
    u.i = m | 0x80000000u;                              /* -|x| */
    x = u.f;
    union { float f; uint32_t i; } t = {.f = x * 1.44269504088896341f + 12582912.0f};
    float n = t.f - 12582912.0f;                        /* x / ln2 rounded to nearest */
    float r = x - n * 0.693359375f;
    r -= n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* t's low bits hold n (its ulp is 1): 2^n's exponent field is n + 127 */
    union { uint32_t i; float f; } sc = {.i = (t.i - 0x4b400000u + 127u) << 23};
    return p * sc.f;
}

/* tanh through exp_, within 1e-7 of tanh (libm's tanhf took half of an lstm's training
 * time). */
static inline float tanh_(float x)
{
    float e = exp_(-2.0f * fabsf(x)), t = (1.0f - e) / (1.0f + e);
    return copysignf(t, x);
}

/* The logistic function as 1/(1 + e^-|x|) mirrored for x < 0, by the sign's bits alone
 * (a branch would keep the loops from vectorizing). */
static inline float sigm(float x)
{
    float s = 1.0f / (1.0f + exp_(-fabsf(x)));   /* sigm(|x|) */
    return 0.5f + copysignf(s - 0.5f, x);
}

/* One row's step of an lstm: the gates' pre-activations ai, af, ag, ao become the gates,
 * c = f * c' + i * g, tc = tanh(c), h = o * tc. Apart, with restrict, so that it
 * vectorizes (the compiler gives up on checking the overlaps of eight pointers); always
 * inlined, as the other three below, so that each of recur_forward's target clones has
 * its own vectorized copy (not inlined, one baseline copy served them all). */
static inline __attribute__((always_inline)) void lstm_gates(int H, float *restrict ai, float *restrict af,
                              float *restrict ag, float *restrict ao, const float *restrict cp,
                              float *restrict c, float *restrict tc, float *restrict h)
{
    for (int j = 0; j < H; j++) {
        float ig = sigm(ai[j]), fg = sigm(af[j]), gg = tanh_(ag[j]), og = sigm(ao[j]);
        ai[j] = ig, af[j] = fg, ag[j] = gg, ao[j] = og;
        float cj = fg * cp[j] + ig * gg, t = tanh_(cj);
        c[j] = cj;
        tc[j] = t;
        h[j] = og * t;
    }
}

/* One row's step of a gru: ar, az, an (W x + b) become the gates r, z, n given g (U h' +
 * bh, G*H values), cn keeps U_n h' + bh_n, and h = (1 - z) * n + z * h'. */
static inline __attribute__((always_inline)) void gru_gates(int H, float *restrict ar, float *restrict az,
                             float *restrict an, const float *restrict g,
                             const float *restrict hp, float *restrict cn, float *restrict h)
{
    for (int j = 0; j < H; j++) {
        float rg = sigm(ar[j] + g[j]), zg = sigm(az[j] + g[H + j]);
        float ng = tanh_(an[j] + rg * g[2 * H + j]);
        ar[j] = rg, az[j] = zg, an[j] = ng;
        cn[j] = g[2 * H + j];
        h[j] = (1 - zg) * ng + zg * hp[j];
    }
}

/* Rows [r0, r1) of the tile, every step. */
NN_HOT static void recur_forward(const struct op *o, struct run *r, struct tile t)
{
    const int T = o->steps, G = o->gates, H = o->units, GH = G * H, IN = o->in / T;
    const int n = t.r1 - t.r0;
    const float *W = r->params + o->p, *U = W + (size_t)GH * IN, *b = U + (size_t)GH * H;
    const float *bh = b + GH;   /* gru only */
    const float *inp = r->act[o->src] + (size_t)t.r0 * T * IN;
    float *out = r->act[o->idx];
    struct seqv v = seq_view(o, r);
    float *A = v.A + (size_t)t.r0 * T * GH, *Hp = v.Hp + (size_t)t.r0 * T * H;
    float *C = v.C + (size_t)t.r0 * T * H, *gh = v.gh + (size_t)t.r0 * GH;
    float *TC = v.TC + (size_t)t.r0 * T * H;   /* lstm: tanh(c) */
    /* the input projection of every step at once */
    for (int k = 0; k < n * T; k++)
        memcpy(A + (size_t)k * GH, b, GH * sizeof *A);
    mm_forward(r, n * T, GH, IN, inp, IN, W, IN, A, GH);
    for (int i = 0; i < n; i++)
        memset(Hp + (size_t)i * T * H, 0, H * sizeof *Hp);
    for (int s = 0; s < T; s++) {
        float *As = A + (size_t)s * GH;       /* row i at As + i * T * GH */
        const float *Hs = Hp + (size_t)s * H; /* row i at Hs + i * T * H */
        if (o->cell == NN_GRU) {
            for (int i = 0; i < n; i++)
                memcpy(gh + (size_t)i * GH, bh, GH * sizeof *gh);
            if (s > 0)
                mm_forward(r, n, GH, H, Hs, T * H, U, H, gh, GH);
        } else if (s > 0) {
            mm_forward(r, n, GH, H, Hs, T * H, U, H, As, T * GH);
        }
        for (int i = 0; i < n; i++) {
            float *a = As + (size_t)i * T * GH;
            const float *hp = Hs + (size_t)i * T * H;
            float *c = C + ((size_t)i * T + s) * H, *tc = TC + ((size_t)i * T + s) * H;
            float *y = o->seqs ? out + ((size_t)(t.r0 + i) * T + s) * H
                               : s == T - 1 ? out + (size_t)(t.r0 + i) * H : NULL;
            /* h goes to the next step's h', or at the last step (where y is always set)
             * to the output */
            float *h = s + 1 < T ? Hp + ((size_t)i * T + s + 1) * H : y;
            /* one loop per cell, without branches, so that each vectorizes */
            if (o->cell == NN_RNN && o->act == NN_RELU) {
                for (int j = 0; j < H; j++)
                    h[j] = a[j] = a[j] > 0 ? a[j] : 0;
            } else if (o->cell == NN_RNN) {
                for (int j = 0; j < H; j++)
                    h[j] = a[j] = tanh_(a[j]);
            } else if (o->cell == NN_LSTM) {
                const float *cp = c - H;
                if (s == 0) {                         /* c' = 0 */
                    cp = v.dc + (size_t)(t.r0 + i) * H;
                    memset(v.dc + (size_t)(t.r0 + i) * H, 0, H * sizeof *c);
                }
                lstm_gates(H, a, a + H, a + 2 * H, a + 3 * H, cp, c, tc, h);
            } else {
                gru_gates(H, a, a + H, a + 2 * H, gh + (size_t)i * GH, hp, c, h);
            }
            if (y && y != h)
                memcpy(y, h, H * sizeof *y);
        }
    }
}

/* One row's step of an lstm backward: from a (the gates i, f, g, o of the step), tc
 * (tanh(c)), cp (c'), dh (into h) and dc (into c from the next step), the gates'
 * pre-activation gradients da; dc becomes the gradient into c', dh 0 (the product with U
 * adds dh' after). */
static inline __attribute__((always_inline)) void lstm_back(int H, const float *restrict a, const float *restrict tc,
                             const float *restrict cp, float *restrict dh, float *restrict dc,
                             float *restrict da)
{
    for (int j = 0; j < H; j++) {
        float ig = a[j], fg = a[H + j], gg = a[2 * H + j], og = a[3 * H + j];
        float d = dh[j], t = tc[j];
        float dcj = dc[j] + d * og * (1 - t * t);
        da[j] = dcj * gg * ig * (1 - ig);
        da[H + j] = dcj * cp[j] * fg * (1 - fg);
        da[2 * H + j] = dcj * ig * (1 - gg * gg);
        da[3 * H + j] = d * t * og * (1 - og);
        dc[j] = dcj * fg;
        dh[j] = 0;
    }
}

/* One row's step of a gru backward: from a (the gates r, z, n), hp (h'), cn (U_n h' +
 * bh_n) and dh, the gradients at W x + b (da) and at U h' + bh (du); dh becomes the part
 * of the gradient into h' that passes by z. */
static inline __attribute__((always_inline)) void gru_back(int H, const float *restrict a, const float *restrict hp,
                            const float *restrict cn, float *restrict dh, float *restrict da,
                            float *restrict du)
{
    for (int j = 0; j < H; j++) {
        float rg = a[j], zg = a[H + j], ng = a[2 * H + j], d = dh[j];
        float dn = d * (1 - zg) * (1 - ng * ng);
        float dz = d * (hp[j] - ng) * zg * (1 - zg);
        float dr = dn * cn[j] * rg * (1 - rg);
        da[j] = du[j] = dr;
        da[H + j] = du[H + j] = dz;
        da[2 * H + j] = dn;
        du[2 * H + j] = dn * rg;
        dh[j] = d * zg;   /* h = ... + z * h' */
    }
}

int recur_samples(int T) { return T < NN_TIME_SAMPLES ? T : NN_TIME_SAMPLES; }

int recur_sample_step(int T, int k)
{
    int K = recur_samples(T);
    return K > 1 ? (int)((int64_t)k * (T - 1) / (K - 1)) : T - 1;
}

void recur_time_norms(const struct op *o, const float *seq, int B, double *sum)
{
    struct run r = {.seq = (float *)seq, .B = B};
    const int K = recur_samples(o->steps);
    const float *hn = seq_view(o, &r).hn;
    for (int k = 0; k < K; k++) {
        double sq = 0;
        for (int i = 0; i < B; i++)   /* in row order, whatever the tiles */
            sq += hn[(size_t)i * K + k];
        sum[k] += sqrt(sq);
    }
}

/* Through time over rows [r0, r1): dA (and dU) of every step, the input gradient, and
 * the squared norm of each row's ∂L/∂h at the sampled steps (hn). */
NN_HOT static void recur_backward(const struct op *o, struct run *r, struct tile t)
{
    const int T = o->steps, G = o->gates, H = o->units, GH = G * H, IN = o->in / T;
    const int n = t.r1 - t.r0, K = recur_samples(T);
    const float *W = r->params + o->p, *U = W + (size_t)GH * IN;
    const float *dout = r->dact[o->idx];
    struct seqv v = seq_view(o, r);
    const float *A = v.A + (size_t)t.r0 * T * GH, *Hp = v.Hp + (size_t)t.r0 * T * H;
    const float *C = v.C + (size_t)t.r0 * T * H, *TC = v.TC + (size_t)t.r0 * T * H;
    float *dA = v.dA + (size_t)t.r0 * T * GH, *dU = v.dU + (size_t)t.r0 * T * GH;
    float *dh = v.dh + (size_t)t.r0 * H, *dc = v.dc + (size_t)t.r0 * H;
    float *hn = v.hn + (size_t)t.r0 * K;
    memset(dh, 0, (size_t)n * H * sizeof *dh);
    memset(dc, 0, (size_t)n * H * sizeof *dc);
    int k = K - 1;   /* the latest sampled step not yet passed */
    for (int s = T - 1; s >= 0; s--) {
        const int sampled = k >= 0 && s == recur_sample_step(T, k);
        for (int i = 0; i < n; i++) {
            const size_t at = (size_t)i * T + s;
            const float *a = A + at * GH, *hp = Hp + at * H, *c = C + at * H, *tcs = TC + at * H;
            float *da = dA + at * GH, *du = dU + at * GH;
            float *dhi = dh + (size_t)i * H, *dci = dc + (size_t)i * H;
            const float *g = o->seqs ? dout + ((size_t)(t.r0 + i) * T + s) * H
                             : s == T - 1 ? dout + (size_t)(t.r0 + i) * H : NULL;
            if (g)   /* dh: from the next step, plus the output's gradient */
                for (int j = 0; j < H; j++)
                    dhi[j] += g[j];
            if (sampled) {   /* dh is now ∂L/∂h of step s */
                float sq = 0;
                for (int j = 0; j < H; j++)
                    sq += dhi[j] * dhi[j];
                hn[(size_t)i * K + k] = sq;
            }
            if (o->cell == NN_RNN && o->act == NN_RELU) {
                for (int j = 0; j < H; j++) {
                    da[j] = a[j] > 0 ? dhi[j] : 0;
                    dhi[j] = 0;
                }
            } else if (o->cell == NN_RNN) {
                for (int j = 0; j < H; j++) {
                    da[j] = dhi[j] * (1 - a[j] * a[j]);
                    dhi[j] = 0;
                }
            } else if (o->cell == NN_LSTM) {
                lstm_back(H, a, tcs, s > 0 ? c - H : c, dhi, dci, da);
                if (s == 0)   /* c' = 0: nothing for the forget gate */
                    memset(da + H, 0, H * sizeof *da);
            } else {
                gru_back(H, a, hp, c, dhi, da, du);
            }
        }
        if (s > 0)   /* dh' += dU_s · U */
            mm(0, 0, n, H, GH, 1, dU + (size_t)s * GH, T * GH, U, H, 1, dh, H);
        k -= sampled;
    }
    float *dinp = r->dact[o->src];
    if (dinp)
        mm(0, 0, n * T, IN, GH, 1, dA, GH, W, IN, o->src_add ? 1 : 0,
           dinp + (size_t)t.r0 * T * IN, IN);
}

/* Gate units [u0, u1) over the whole batch: dW = dAᵀ · inp, dU = dUᵀ · h', db = Σ dA
 * (a gru's dbh = Σ dU). */
NN_HOT static void recur_grad(const struct op *o, struct run *r, int u0, int u1)
{
    const int T = o->steps, G = o->gates, H = o->units, GH = G * H, IN = o->in / T;
    const int rows = r->B * T;
    struct seqv v = seq_view(o, r);
    float *dW = r->grad + o->p, *dUk = dW + (size_t)GH * IN, *db = dUk + (size_t)GH * H;
    mm(1, 0, u1 - u0, IN, rows, 1, v.dA + u0, GH, r->act[o->src], IN, 0, dW + (size_t)u0 * IN,
       IN);
    mm(1, 0, u1 - u0, H, rows, 1, v.dU + u0, GH, v.Hp, H, 0, dUk + (size_t)u0 * H, H);
    for (int j = u0; j < u1; j++)
        db[j] = 0;
    for (int k = 0; k < rows; k++)
        for (int j = u0; j < u1; j++)
            db[j] += v.dA[(size_t)k * GH + j];
    if (o->cell == NN_GRU) {
        float *dbh = db + GH;
        for (int j = u0; j < u1; j++)
            dbh[j] = 0;
        for (int k = 0; k < rows; k++)
            for (int j = u0; j < u1; j++)
                dbh[j] += v.dU[(size_t)k * GH + j];
    }
}

const struct op_kind op_recur = {"recurrent", recur_forward, recur_backward, recur_grad};

/* ---- the layer kinds ---- */

#define FIELD_UNITS                                                                          \
    {.name = "units", .type = NN_FT_INT, .offset = offsetof(struct nn_layer_spec, units),    \
     .lo = 1, .hi = NN_MAX_WIDTH, .flags = NN_FIELD_REQUIRED,                                \
     .about = "the width of its state and of each step's output"}
#define FIELD_RETURN_SEQUENCES                                                               \
    {.name = "return_sequences", .type = NN_FT_BOOL,                                         \
     .offset = offsetof(struct nn_layer_spec, return_sequences), .def = 0,                   \
     .about = "whether it outputs every step (true) or the last step only (false)"}

static const struct nn_field rnn_fields[] = {
    FIELD_UNITS,
    {.name = "activation", .type = NN_FT_NAME, .offset = offsetof(struct nn_layer_spec, act),
     .def = NN_TANH, .names = names_act, .nnames = NN_ACT_COUNT,
     .about = "the function of its state: tanh or relu"},
    FIELD_RETURN_SEQUENCES,
};
static const struct nn_field lstm_fields[] = {
    FIELD_UNITS,
    FIELD_RETURN_SEQUENCES,
    {.name = "unit_forget_bias", .type = NN_FT_BOOL,
     .offset = offsetof(struct nn_layer_spec, unit_forget_bias), .def = 1,
     .about = "whether the forget gate's bias starts at 1"},
};
static const struct nn_field gru_fields[] = {
    FIELD_UNITS,
    FIELD_RETURN_SEQUENCES,
};

static int gates_of(int kind) { return kind == NN_LSTM ? 4 : kind == NN_GRU ? 3 : 1; }

static int rnn_check(const struct nn_layer_spec *l, int in, int body, const char *where,
                     struct nn_faults *f)
{
    (void)in;
    (void)body;
    if (l->act == NN_TANH || l->act == NN_RELU)
        return 0;
    char w[NN_WHERE];
    snprintf(w, sizeof w, "%s/activation", where);
    nn_fault(f, w, "an rnn layer's activation must be tanh or relu, not %s", nn_act_name(l->act));
    return -1;
}

static int recur_outputs(const struct nn_layer_spec *l, int in)
{
    (void)in;
    return l->units;
}

static int recur_steps(const struct nn_layer_spec *l, int steps)
{
    return l->return_sequences ? steps : 0;
}

static size_t recur_params(const struct nn_layer_spec *l, int in)
{
    size_t gh = (size_t)gates_of(l->kind) * l->units;
    return gh * ((size_t)in + l->units + 1) + (l->kind == NN_GRU ? gh : 0);
}

static int recur_flatten(struct flat *f, const struct nn_layer_spec *l, int *cur, int *w)
{
    struct op o = flat_op(f, l, OP_RECUR, *cur, *w);
    o.shape = SHAPE_ROWS;
    o.cell = l->kind;
    o.gates = gates_of(l->kind);
    o.units = l->units;
    o.seqs = l->return_sequences;
    o.act = l->kind == NN_RNN ? l->act : NN_TANH;
    o.out = l->units * (o.seqs ? o.steps : 1);
    o.gu = o.gates * o.units;
    o.p = f->p;
    o.np = recur_params(l, *w);
    o.ndecay = (size_t)o.gu * ((size_t)*w + o.units);   /* the kernels, not the biases */
    f->p += o.np;
    o.sq = f->sq;
    f->sq += seq_floats(o.steps, o.gates, o.units, o.cell);
    if ((*cur = flat_push(f, o)) < 0)
        return -1;
    *w = l->units;
    return 0;
}

/* Glorot uniform for W, orthogonal for each gate's block of U (Keras's
 * recurrent_initializer, per block of H x H as Keras draws the whole (H, G*H) matrix:
 * here each H x H block separately, by Gram-Schmidt of a normal draw), biases 0 and a
 * lstm's forget-gate bias 1 with unit_forget_bias. */
static void recur_init(struct nn_net *net, const struct op *o, struct nn_rng *rng)
{
    const struct nn_layer_spec *l = &net->lspec[o->layer];
    const int G = o->gates, H = o->units, GH = G * H, IN = o->in / o->steps;
    float *W = net->params + o->p, *U = W + (size_t)GH * IN, *b = U + (size_t)GH * H;
    if (o->cell == NN_LSTM && l->unit_forget_bias)
        for (int j = 0; j < H; j++)
            b[H + j] = 1;
    if (!rng)
        return;
    double lim = sqrt(6.0 / (IN + GH));
    for (size_t i = 0; i < (size_t)GH * IN; i++)
        W[i] = (float)(lim * (2 * nn_rng_uniform(rng) - 1));
    for (int g = 0; g < G; g++) {
        float *Q = U + (size_t)g * H * H;   /* rows j of the block: orthonormal */
        for (int j = 0; j < H; j++) {
            float *q = Q + (size_t)j * H;
            for (;;) {
                for (int k = 0; k < H; k++)
                    q[k] = (float)rng_normal(rng);
                for (int p = 0; p < j; p++) {
                    const float *e = Q + (size_t)p * H;
                    double dot = 0;
                    for (int k = 0; k < H; k++)
                        dot += (double)q[k] * e[k];
                    for (int k = 0; k < H; k++)
                        q[k] -= (float)(dot * e[k]);
                }
                double nrm = 0;
                for (int k = 0; k < H; k++)
                    nrm += (double)q[k] * q[k];
                if (nrm > 1e-12) {
                    for (int k = 0; k < H; k++)
                        q[k] = (float)(q[k] / sqrt(nrm));
                    break;
                }
            }
        }
    }
}

static int recur_tensors(struct nn_net *net, const struct op *o, struct nn_tensor *out, int max)
{
    const int GH = o->gates * o->units, H = o->units, IN = o->in / o->steps;
    float *p = net->params + o->p;
    const float *g = net->grad ? net->grad + o->p : NULL;
    size_t kw = (size_t)GH * IN, ku = kw + (size_t)GH * H, kb = ku + GH;
    net_tensor(out, max, 0, net, o, "kernel", GH, IN, p, g);
    net_tensor(out, max, 1, net, o, "recurrent_kernel", GH, H, p + kw, g ? g + kw : NULL);
    net_tensor(out, max, 2, net, o, "bias", 1, GH, p + ku, g ? g + ku : NULL);
    if (o->cell != NN_GRU)
        return 3;
    net_tensor(out, max, 3, net, o, "recurrent_bias", 1, GH, p + kb, g ? g + kb : NULL);
    return 4;
}

static struct nn_layer_spec recurrent(enum nn_kind k, int units, int return_sequences)
{
    struct nn_layer_spec l = layer_default(k);
    l.units = units;
    l.return_sequences = return_sequences;
    return l;
}

struct nn_layer_spec nn_rnn(int units, int rs) { return recurrent(NN_RNN, units, rs); }
struct nn_layer_spec nn_lstm(int units, int rs) { return recurrent(NN_LSTM, units, rs); }
struct nn_layer_spec nn_gru(int units, int rs) { return recurrent(NN_GRU, units, rs); }

#define RECURRENT_KIND(nm, fields, chk)                                                      \
    {.desc = {nm, fields, (int)(sizeof fields / sizeof *fields)}, .check = chk,              \
     .outputs = recur_outputs, .steps = recur_steps, .params = recur_params,                 \
     .flatten = recur_flatten, .init = recur_init, .tensors = recur_tensors}
const struct layer_kind layer_rnn = RECURRENT_KIND("rnn", rnn_fields, rnn_check);
const struct layer_kind layer_lstm = RECURRENT_KIND("lstm", lstm_fields, NULL);
const struct layer_kind layer_gru = RECURRENT_KIND("gru", gru_fields, NULL);

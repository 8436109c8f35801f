/* fuzz_nn_load.c -- core/serial.c, nn_load, on arbitrary bytes.
 *
 * Byte 0 chooses how the rest reaches nn_load: as it is (bit 0 clear), or with its last
 * 4 bytes replaced by the right CRC-32 of the bytes before them (bit 0 set), so that the
 * fuzzer also gets past the checksum into the layout. The buffer is an exact-size heap
 * copy, so any read past its end is caught. Checks that a refusal fills the error; and
 * that an accepted buffer gives a valid spec within max_params, whose nn_save loads
 * again into a network that saves to the very same bytes and predicts exactly the same
 * outputs (bit for bit, on one row, when its activations are small).
 *
 * The seeds are networks nn_save wrote (an MLP, and one of every layer kind after a few
 * Adam steps), in format version 1 (written before version 2, and still read) and in
 * version 2 (*_v2), each once as written and once with bit 0 set.
 */
#include "fuzz.h"

#include "nn.h"

#include <string.h>
#include <zlib.h>

#define MAX_PARAMS (1u << 20)
#define MAX_ACTS (1u << 20)     /* floats of one row's activations for a prediction */

/* Outputs of the network for one fixed row (new), or NULL when its activations are large. */
static float *predict_row(const struct nn_net *net)
{
    int rows = nn_summary(net, NULL, 0);
    struct nn_summary_row *sr = calloc((size_t)rows, sizeof *sr);
    CHECK(sr);
    nn_summary(net, sr, rows);
    size_t acts = (size_t)nn_inputs(net);
    for (int i = 0; i < rows; i++)
        acts += (size_t)sr[i].outputs;
    free(sr);
    if (acts > MAX_ACTS)
        return NULL;
    int F = nn_inputs(net), K = nn_outputs(net);
    float *x = malloc(sizeof(float) * (size_t)F), *y = malloc(sizeof(float) * (size_t)K);
    CHECK(x && y);
    for (int i = 0; i < F; i++)
        x[i] = (float)(i % 5) * 0.5f - 1.0f;
    struct nn_error err;
    CHECK(nn_predict(net, NULL, x, 1, y, &err) == 0);
    free(x);
    return y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    unsigned char *buf = malloc(len ? len : 1);
    CHECK(buf);
    memcpy(buf, data + 1, len);
    if ((data[0] & 1) && len >= 4) {
        uint32_t crc = (uint32_t)crc32(0, buf, (uInt)(len - 4));
        for (int i = 0; i < 4; i++)
            buf[len - 4 + i] = (unsigned char)(crc >> (8 * i));
    }
    struct nn_error err;
    memset(&err, 0, sizeof err);
    struct nn_net *net = nn_load(buf, len, MAX_PARAMS, &err);
    free(buf);
    if (!net) {
        CHECK(err.msg[0] != 0);
        CHECK(memchr(err.msg, 0, sizeof err.msg) && memchr(err.where, 0, sizeof err.where));
        return 0;
    }
    size_t np = 0;
    CHECK(nn_spec_check(nn_get_spec(net), MAX_PARAMS, &np, &err) == 0);
    CHECK(np == nn_param_count(net) && np <= MAX_PARAMS);
    CHECK(nn_epochs_done(net) >= 0);

    /* saved, it loads again, and saves to the same bytes */
    unsigned char *b1, *b2;
    size_t l1, l2;
    CHECK(nn_save(net, &b1, &l1, &err) == 0);
    struct nn_net *again = nn_load(b1, l1, MAX_PARAMS, &err);
    if (!again)
        fprintf(stderr, "nn_load of nn_save's buffer: %s %s\n", err.where, err.msg);
    CHECK(again);
    CHECK(nn_save(again, &b2, &l2, &err) == 0);
    CHECK(l1 == l2 && !memcmp(b1, b2, l1));
    CHECK(nn_epochs_done(again) == nn_epochs_done(net));

    float *y1 = predict_row(net), *y2 = predict_row(again);
    CHECK(!y1 == !y2);
    if (y1)
        CHECK(!memcmp(y1, y2, sizeof(float) * (size_t)nn_outputs(net)));
    free(y1);
    free(y2);
    free(b1);
    free(b2);
    nn_free(again);
    nn_free(net);
    return 0;
}

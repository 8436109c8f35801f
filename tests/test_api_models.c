/* test_api_models.c -- server/api/models.c and the model cache of server/domain/models.c,
 * called directly against a temporary database: a model deleted while requests predict
 * with it is gone for every request that begins after the delete answered, however the
 * requests and the delete interleave. */
#include "api/api.h"
#include "domain/domain.h"
#include "srvutil.h"
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { INPUTS = 64, HIDDEN = 512, ROUNDS = 150, THREADS = 3, AFTER = 20 };

static void setup(void) { su_db_open(); }
static void teardown(void) { su_db_close(); }

/* Stores a model of INPUTS -> dense(HIDDEN, relu) -> dense(3, softmax) under id, big
 * enough that loading it from the store takes a while. */
static void put_model(const char *id)
{
    static const char def[] =
        "{\"inputs\": 64, \"layers\": [{\"type\": \"dense\", \"units\": 512, \"activation\": "
        "\"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}], "
        "\"loss\": \"categorical_crossentropy\"}";
    json_t *network = json_loads(def, 0, NULL), *errors = NULL;
    struct spec_json sj;
    ck_assert_int_eq(spec_from_json(network, "", 1u << 24, &sj, &errors), 0);
    struct nn_rng rng;
    nn_rng_seed(&rng, 7);
    struct nn_error e;
    struct nn_net *net = nn_new(&sj.spec, 1u << 24, &rng, &e);
    ck_assert_msg(net != NULL, "%s", e.msg);
    struct model m = {.label_kind = LABELS_ONEHOT, .network = network,
                      .metrics = json_object()};
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.job_id, sizeof m.job_id, "job-%s", id);
    snprintf(m.dataset_id, sizeof m.dataset_id, "ds-%s", id);
    unsigned char *buf;
    ck_assert_int_eq(nn_save(net, &buf, &m.net_len, &e), 0);
    m.net = buf;
    ck_assert_int_eq(store_model_insert(&m), STORE_OK);
    free(buf);
    nn_free(net);
    spec_json_free(&sj);
    json_decref(network);
    json_decref(m.metrics);
}

/* One predicting thread of a round. */
struct round {
    const char *id;
    char body[1024];
    atomic_int deleted;        /* the delete has answered 204 */
    atomic_int go;
};
struct tally {
    struct round *r;
    int before200, before404, after200, after404, other;
};

static int predict(struct round *r)
{
    struct reply rp = su_call(h_models_predict, "POST", r->body, r->id, NULL);
    su_reply_free(&rp);
    return rp.status;
}

static void *predicting(void *arg)
{
    struct tally *t = arg;
    struct round *r = t->r;
    while (!atomic_load(&r->go))
        ;
    for (int after = 0; after < AFTER;) {
        int was_deleted = atomic_load(&r->deleted);
        int status = predict(r);
        if (was_deleted)
            after++;
        if (status == 200)
            was_deleted ? t->after200++ : t->before200++;
        else if (status == 404)
            was_deleted ? t->after404++ : t->before404++;
        else
            t->other++;
    }
    return NULL;
}

START_TEST(deleted_while_predicting)
{
    long before200 = 0, after404 = 0;
    for (int k = 0; k < ROUNDS; k++) {
        struct round r = {0};
        char id[16];
        snprintf(id, sizeof id, "model-%d", k);
        r.id = id;
        put_model(id);
        char *p = r.body;
        p += sprintf(p, "{\"inputs\": [[");
        for (int j = 0; j < INPUTS; j++)
            p += sprintf(p, "%s%d", j ? "," : "", j % 5);
        sprintf(p, "]]}");

        pthread_t th[THREADS];
        struct tally t[THREADS];
        for (int i = 0; i < THREADS; i++) {
            t[i] = (struct tally){.r = &r};
            ck_assert_int_eq(pthread_create(&th[i], NULL, predicting, &t[i]), 0);
        }
        atomic_store(&r.go, 1);
        /* the delete lands anywhere from before the first load to well after it */
        struct timespec ts = {0, (k % 10) * 50000L};
        nanosleep(&ts, NULL);
        struct reply rp = su_call(h_models_delete, "DELETE", NULL, id, NULL);
        ck_assert_int_eq(rp.status, 204);
        su_reply_free(&rp);
        atomic_store(&r.deleted, 1);
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            ck_assert_msg(t[i].after200 == 0, "round %d: %d predictions begun after the delete "
                          "answered still found the model", k, t[i].after200);
            ck_assert_int_eq(t[i].other, 0);
            before200 += t[i].before200;
            after404 += t[i].after404;
        }
        ck_assert_int_eq(predict(&r), 404);
    }
    /* the rounds did predict with the model before deleting it, and were refused after */
    ck_assert_int_gt(before200, 0);
    ck_assert_int_eq(after404, (long)ROUNDS * THREADS * AFTER);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("h_models");
    TCase *h = tcase_create("handlers");
    tcase_set_timeout(h, 120);
    tcase_add_checked_fixture(h, setup, teardown);
    tcase_add_test(h, deleted_while_predicting);
    suite_add_tcase(s, h);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}

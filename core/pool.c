/* pool.c -- a small team of threads that run one function together, with a barrier.
 *
 * DESIGN. The caller is thread 0; nn_pool_new starts threads 1..n-1, which wait for a
 * job. pool_run publishes (fn, arg) by bumping a generation counter; everyone runs fn and
 * meets at a final barrier. Waiting spins briefly (steps of a training run are a
 * millisecond apart) and then sleeps on a futex, so an idle pool costs no CPU. OpenBLAS
 * is set to one thread: these threads are the engine's only parallelism.
 */
#include "nn_internal.h"

#include <cblas.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPINS 2000               /* about 50 µs before sleeping */

struct nn_pool {
    int n;
    pthread_t *th;
    _Atomic int gen;              /* bumped once per job */
    _Atomic int quit;
    pool_fn fn;
    void *arg;
    _Atomic int arrived;          /* barrier: threads arrived in this phase */
    _Atomic int phase;            /* barrier: flips when all have arrived */
    int *sense;                   /* each thread's expected phase */
    _Atomic uint64_t ticket;      /* pool_grab's counter */
    struct worker { struct nn_pool *p; int tid; } *w;
};

static void futex_wait(_Atomic int *addr, int val)
{
    syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic int *addr)
{
    syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits until *addr != val: spin first, then sleep. */
static void wait_change(_Atomic int *addr, int val)
{
    for (int i = 0; i < SPINS; i++) {
        if (atomic_load_explicit(addr, memory_order_acquire) != val)
            return;
        cpu_relax();
    }
    while (atomic_load_explicit(addr, memory_order_acquire) == val)
        futex_wait(addr, val);
}

void pool_barrier(struct nn_pool *p, int tid)
{
    if (!p || p->n == 1)
        return;
    int s = p->sense[tid] = !p->sense[tid];
    if (atomic_fetch_add_explicit(&p->arrived, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&p->phase, s, memory_order_release);
        futex_wake(&p->phase);
    } else {
        wait_change(&p->phase, !s);
    }
}

int pool_grab(struct nn_pool *p, struct grab *g, int n)
{
    int t;
    if (!p || p->n == 1) {
        t = g->next++;
    } else {
        /* in a phase of n tasks every thread draws until it gets one past the end, so
         * the counter moves by exactly n + threads: each thread knows where the next
         * phase starts without asking the others */
        t = (int)(atomic_fetch_add_explicit(&p->ticket, 1, memory_order_relaxed) - g->base);
    }
    if (t < n)
        return t;
    g->base += (uint64_t)n + (p ? p->n : 1);
    g->next = 0;
    return -1;
}

static void *worker(void *arg)
{
    struct nn_pool *p = ((struct worker *)arg)->p;
    int tid = ((struct worker *)arg)->tid, seen = 0;
    for (;;) {
        wait_change(&p->gen, seen);
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (atomic_load(&p->quit))
            return NULL;
        p->fn(p->arg, tid);
        pool_barrier(p, tid);
    }
}

void pool_run(struct nn_pool *p, pool_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->ticket, 0, memory_order_relaxed);   /* every grab starts at 0 */
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    futex_wake(&p->gen);
    fn(arg, 0);
    pool_barrier(p, 0);
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_init(void) { openblas_set_num_threads(1); }
void blas_single_thread(void) { pthread_once(&blas_once, blas_init); }

struct nn_pool *nn_pool_new(int threads)
{
    blas_single_thread();
    if (threads < 1 || threads > 256)
        return NULL;
    struct nn_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = 1;
    p->th = calloc(threads, sizeof *p->th);
    p->sense = calloc(threads, sizeof *p->sense);
    p->w = calloc(threads, sizeof *p->w);
    if (!p->th || !p->sense || !p->w) {
        nn_pool_free(p);
        return NULL;
    }
    for (int i = 1; i < threads; i++) {
        p->w[i] = (struct worker){p, i};
        if (pthread_create(&p->th[i], NULL, worker, &p->w[i]) != 0) {
            nn_pool_free(p);
            return NULL;
        }
        p->n = i + 1;
    }
    return p;
}

void nn_pool_free(struct nn_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    futex_wake(&p->gen);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    free(p->th);
    free(p->sense);
    free(p->w);
    free(p);
}

int nn_pool_threads(const struct nn_pool *p) { return p ? p->n : 1; }

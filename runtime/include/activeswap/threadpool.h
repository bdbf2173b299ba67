/* SPDX-License-Identifier: MIT */
/*
 * A small persistent thread pool: N-1 workers plus the calling thread. as_tp_run()
 * calls fn(arg, ith, nth) once for every ith in [0, nth) and returns when all are done.
 * Which thread runs which ith is not fixed (shares are claimed by whoever is running, so
 * a descheduled worker does not hold up the caller). Workers spin briefly (2 ms, or
 * ACTIVESWAP_SPIN_US), then sleep, between jobs so per-matmul dispatch stays cheap.
 */
#ifndef ACTIVESWAP_THREADPOOL_H
#define ACTIVESWAP_THREADPOOL_H

struct as_threadpool;

typedef void (*as_task_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 (1 = no workers). NULL on failure with errno set. */
struct as_threadpool *as_tp_create(int n_threads);
void as_tp_destroy(struct as_threadpool *tp);
int as_tp_size(const struct as_threadpool *tp);
/* tp may be NULL: then fn(arg, 0, 1) runs on the caller. */
void as_tp_run(struct as_threadpool *tp, as_task_fn fn, void *arg);

#endif

// SPDX-License-Identifier: MIT
/*
 * Persistent thread pool: n-1 workers plus the caller. A job is published by bumping a
 * generation counter; workers spin on it for a short while (so back-to-back matvecs cost
 * only a cache-line round trip) and then sleep on a futex.
 *
 * The n shares of a job are claimed from a counter by whoever is running: the caller and
 * the workers that *join* the job. When the caller finds no share left it closes the job
 * and waits only for the workers that joined. A worker that was descheduled (the machine
 * is shared) when the job was published therefore costs nothing: it finds the job closed
 * when it runs again, instead of the caller waiting a whole time slice for it.
 *
 * state = generation << 32 | CLOSED | number of workers inside the job.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/threadpool.h"

#define AS_TP_MAX_THREADS 256
/*
 * How long a worker (or the waiting caller) spins before sleeping. Waking a sleeping
 * thread can cost ~1 ms on virtual machines whose idle vCPUs halt, far more than a
 * matvec, so spin long enough to bridge the gaps between the matvecs of a token.
 */
#define AS_TP_SPIN_NS 2000000ull

/* Spin budget in ns; ACTIVESWAP_SPIN_US overrides it (0 = sleep at once). Read once. */
static uint64_t spin_ns(void)
{
	static _Atomic int64_t cached = -1;
	int64_t v = atomic_load_explicit(&cached, memory_order_relaxed);

	if (v < 0) {
		const char *e = getenv("ACTIVESWAP_SPIN_US");
		char *end;
		long long us = e ? strtoll(e, &end, 10) : -1;

		if (!e || end == e || *end || us < 0 || us > 10000000)
			v = (int64_t)AS_TP_SPIN_NS;
		else
			v = (int64_t)us * 1000;
		atomic_store_explicit(&cached, v, memory_order_relaxed);
	}
	return (uint64_t)v;
}

#define ST_CLOSED (1ull << 31)
#define ST_COUNT 0x7fffffffull

struct as_threadpool {
	int n;
	pthread_t *threads;
	as_task_fn fn;                     /* written before the job is published */
	void *arg;
	_Alignas(64) atomic_uint gen;      /* job generation; futex word for idle workers */
	atomic_int stop;
	atomic_int sleepers;               /* workers in futex_wait on gen */
	_Alignas(64) atomic_uint_fast64_t state;
	atomic_int next_share;             /* next share index to claim */
	_Alignas(64) atomic_uint done;     /* bumped by the last worker out of a closed job */
	atomic_int waiter;                 /* caller sleeping on done */
};

static long futex(atomic_uint *uaddr, int op, unsigned int val)
{
	return syscall(SYS_futex, (unsigned int *)uaddr, op, val, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spin step: true while the spin budget started at *t0 (0 = not started) lasts. */
static bool keep_spinning(unsigned int *spins, uint64_t *t0)
{
	if (!spin_ns())
		return false;
	cpu_relax();
	if ((++*spins & 255) != 0)
		return true;
	/* let other runnable threads on this CPU go first (more threads than cores, or a
	 * machine shared with other work): spinning must not steal their time slice */
	sched_yield();
	if (!*t0) {
		*t0 = now_ns();
		return true;
	}
	return now_ns() - *t0 < spin_ns();
}

/* Run shares until none is left. */
static void run_shares(struct as_threadpool *tp)
{
	int i;

	while ((i = atomic_fetch_add_explicit(&tp->next_share, 1, memory_order_relaxed)) < tp->n)
		tp->fn(tp->arg, i, tp->n);
}

/* Enter job g if it is still open; true when joined. */
static bool join_job(struct as_threadpool *tp, unsigned int g)
{
	uint_fast64_t st = atomic_load(&tp->state);

	for (;;) {
		if ((unsigned int)(st >> 32) != g || (st & ST_CLOSED))
			return false;
		if (atomic_compare_exchange_weak(&tp->state, &st, st + 1))
			return true;
	}
}

static void leave_job(struct as_threadpool *tp)
{
	/* seq_cst: pairs with the caller's store to waiter then load of state */
	uint_fast64_t old = atomic_fetch_sub(&tp->state, 1);

	if ((old & ST_CLOSED) && (old & ST_COUNT) == 1) {
		atomic_fetch_add(&tp->done, 1);
		if (atomic_load(&tp->waiter))
			futex(&tp->done, FUTEX_WAKE_PRIVATE, 1);
	}
}

struct worker_arg {
	struct as_threadpool *tp;
	int ith;
};

static void *worker_main(void *p)
{
	struct as_threadpool *tp = ((struct worker_arg *)p)->tp;
	unsigned int seen = 0;

	free(p);
	for (;;) {
		unsigned int g, spins = 0;
		uint64_t t0 = 0;

		while ((g = atomic_load_explicit(&tp->gen, memory_order_acquire)) == seen) {
			if (keep_spinning(&spins, &t0))
				continue;
			atomic_fetch_add(&tp->sleepers, 1);
			/* re-check after announcing ourselves, then sleep while gen == seen */
			if (atomic_load(&tp->gen) == seen)
				futex(&tp->gen, FUTEX_WAIT_PRIVATE, seen);
			atomic_fetch_sub(&tp->sleepers, 1);
			spins = 0;
			t0 = 0;
		}
		seen = g;
		if (atomic_load_explicit(&tp->stop, memory_order_acquire))
			return NULL;
		if (!join_job(tp, g))
			continue; /* already closed: the others did the work */
		run_shares(tp);
		leave_job(tp);
	}
}

struct as_threadpool *as_tp_create(int n_threads)
{
	struct as_threadpool *tp;

	if (n_threads < 1 || n_threads > AS_TP_MAX_THREADS) {
		errno = EINVAL;
		return NULL;
	}
	tp = calloc(1, sizeof(*tp));
	if (!tp)
		return NULL;
	tp->n = n_threads;
	if (n_threads > 1) {
		tp->threads = calloc((size_t)n_threads - 1, sizeof(pthread_t));
		if (!tp->threads) {
			free(tp);
			return NULL;
		}
	}
	for (int i = 1; i < n_threads; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		int rc;

		if (!wa) {
			rc = ENOMEM;
		} else {
			wa->tp = tp;
			wa->ith = i;
			rc = pthread_create(&tp->threads[i - 1], NULL, worker_main, wa);
			if (rc)
				free(wa);
		}
		if (rc) {
			tp->n = i; /* only i-1 workers exist */
			as_tp_destroy(tp);
			errno = rc;
			return NULL;
		}
	}
	return tp;
}

void as_tp_destroy(struct as_threadpool *tp)
{
	if (!tp)
		return;
	atomic_store(&tp->stop, 1);
	atomic_fetch_add_explicit(&tp->gen, 1, memory_order_release);
	futex(&tp->gen, FUTEX_WAKE_PRIVATE, INT_MAX);
	for (int i = 1; i < tp->n; i++)
		pthread_join(tp->threads[i - 1], NULL);
	free(tp->threads);
	free(tp);
}

int as_tp_size(const struct as_threadpool *tp)
{
	return tp ? tp->n : 1;
}

void as_tp_run(struct as_threadpool *tp, as_task_fn fn, void *arg)
{
	unsigned int g, spins = 0;
	uint_fast64_t old;
	uint64_t t0 = 0;

	if (!tp || tp->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	/* No worker is inside a job here: the previous call waited for all that joined. */
	tp->fn = fn;
	tp->arg = arg;
	atomic_store_explicit(&tp->next_share, 0, memory_order_relaxed);
	g = atomic_load_explicit(&tp->gen, memory_order_relaxed) + 1;
	atomic_store(&tp->state, (uint_fast64_t)g << 32); /* open, nobody inside */
	atomic_store(&tp->gen, g); /* seq_cst: pairs with sleepers++ then gen re-check */
	if (atomic_load(&tp->sleepers))
		futex(&tp->gen, FUTEX_WAKE_PRIVATE, INT_MAX);
	run_shares(tp);
	old = atomic_fetch_or(&tp->state, ST_CLOSED);
	if (!(old & ST_COUNT))
		return;
	while (atomic_load(&tp->state) & ST_COUNT) {
		unsigned int d;

		if (keep_spinning(&spins, &t0))
			continue;
		atomic_store(&tp->waiter, 1);
		d = atomic_load(&tp->done);
		if (atomic_load(&tp->state) & ST_COUNT)
			futex(&tp->done, FUTEX_WAIT_PRIVATE, d);
		atomic_store(&tp->waiter, 0);
		spins = 0;
		t0 = 0;
	}
}

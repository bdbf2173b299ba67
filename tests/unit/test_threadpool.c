// SPDX-License-Identifier: MIT
/* Thread pool (runtime/threadpool.c): every share runs exactly once per job, results are
 * visible to the caller, no call outlives as_tp_run, workers come back from sleep, bad
 * sizes are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "activeswap/threadpool.h"

#define MAXT 8

struct rec {
	atomic_int calls[MAXT];
	int nth_seen[MAXT];
	long value[MAXT]; /* plain (non-atomic) writes: must be visible after as_tp_run */
	long round;
};

static void record(void *arg, int ith, int nth)
{
	struct rec *r = arg;

	atomic_fetch_add(&r->calls[ith], 1);
	r->nth_seen[ith] = nth;
	r->value[ith] = r->round * 100 + ith;
}

static void test_create_rejects(void **state)
{
	(void)state;
	errno = 0;
	assert_null(as_tp_create(0));
	assert_int_equal(errno, EINVAL);
	assert_null(as_tp_create(-3));
	assert_null(as_tp_create(100000));
	assert_int_equal(as_tp_size(NULL), 1);
}

static void test_null_pool_runs_inline(void **state)
{
	struct rec r;

	(void)state;
	memset(&r, 0, sizeof(r));
	as_tp_run(NULL, record, &r);
	assert_int_equal(atomic_load(&r.calls[0]), 1);
	assert_int_equal(r.nth_seen[0], 1);
}

static void run_many(int n, int rounds)
{
	struct as_threadpool *tp = as_tp_create(n);
	struct rec r;

	assert_non_null(tp);
	assert_int_equal(as_tp_size(tp), n);
	memset(&r, 0, sizeof(r));
	for (int k = 0; k < rounds; k++) {
		r.round = k;
		as_tp_run(tp, record, &r);
		for (int i = 0; i < n; i++) {
			assert_int_equal(atomic_load(&r.calls[i]), k + 1);
			assert_int_equal(r.nth_seen[i], n);
			assert_int_equal(r.value[i], k * 100 + i);
		}
		for (int i = n; i < MAXT; i++)
			assert_int_equal(atomic_load(&r.calls[i]), 0);
	}
	as_tp_destroy(tp);
}

static void test_each_share_once(void **state)
{
	(void)state;
	run_many(1, 100);
	run_many(2, 20000);
	run_many(4, 2000); /* more threads than cores */
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Idle longer than the spin budget so workers (and the caller's wait) go to sleep on the
 * futex, then make sure a new job wakes them. */
static void test_wakes_after_sleep(void **state)
{
	struct as_threadpool *tp = as_tp_create(3);
	struct rec r;

	(void)state;
	assert_non_null(tp);
	memset(&r, 0, sizeof(r));
	for (int k = 0; k < 5; k++) {
		r.round = k;
		sleep_ms(10);
		as_tp_run(tp, record, &r);
		for (int i = 0; i < 3; i++)
			assert_int_equal(atomic_load(&r.calls[i]), k + 1);
	}
	sleep_ms(10);
	as_tp_destroy(tp); /* must not hang with sleeping workers */
}

struct slow {
	atomic_int done;
};

/* The caller's share is quick, a worker's is slow: the caller must wait for it. */
static void uneven(void *arg, int ith, int nth)
{
	struct slow *s = arg;

	(void)nth;
	if (ith == 1)
		sleep_ms(5);
	atomic_fetch_add(&s->done, 1);
}

static void test_waits_for_slow_worker(void **state)
{
	struct as_threadpool *tp = as_tp_create(2);
	struct slow s;

	(void)state;
	atomic_init(&s.done, 0);
	assert_non_null(tp);
	for (int k = 1; k <= 3; k++) {
		as_tp_run(tp, uneven, &s);
		assert_int_equal(atomic_load(&s.done), 2 * k);
	}
	as_tp_destroy(tp);
	as_tp_destroy(NULL);
}

struct stress {
	atomic_int inside;     /* calls in progress */
	atomic_int calls[MAXT];
	atomic_uint seed;
};

/* Uneven, random work; some shares yield or sleep, as on a loaded machine. */
static void stress_fn(void *arg, int ith, int nth)
{
	struct stress *st = arg;
	unsigned int r = atomic_fetch_add(&st->seed, 2654435761u);
	volatile unsigned long x = 0;

	assert_true(ith >= 0 && ith < nth && nth <= MAXT);
	atomic_fetch_add(&st->inside, 1);
	for (unsigned long i = 0; i < (r >> 20); i++)
		x += i;
	if ((r & 63) == 0)
		sleep_ms(1);
	atomic_fetch_add(&st->calls[ith], 1);
	atomic_fetch_sub(&st->inside, 1);
}

/* When as_tp_run returns every share ran exactly once and no call is still running,
 * whichever thread ran it (the caller claims shares a late worker did not take). */
static void test_stress_no_call_outlives_run(void **state)
{
	for (int n = 2; n <= 4; n++) {
		struct as_threadpool *tp = as_tp_create(n);
		struct stress st;

		(void)state;
		assert_non_null(tp);
		memset(&st, 0, sizeof(st));
		for (int k = 1; k <= 3000; k++) {
			as_tp_run(tp, stress_fn, &st);
			assert_int_equal(atomic_load(&st.inside), 0);
			for (int i = 0; i < n; i++)
				assert_int_equal(atomic_load(&st.calls[i]), k);
			if (k % 1000 == 0)
				sleep_ms(3); /* let workers fall asleep now and then */
		}
		as_tp_destroy(tp);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_rejects),
		cmocka_unit_test(test_null_pool_runs_inline),
		cmocka_unit_test(test_each_share_once),
		cmocka_unit_test(test_wakes_after_sleep),
		cmocka_unit_test(test_waits_for_slow_worker),
		cmocka_unit_test(test_stress_no_call_outlives_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * Fetch storm: two compute threads post random bundle sets (preloads at random
 * priorities, cancellations, on-demand acquires) against a budget of about half the
 * store, and every byte of every acquired bundle is checked, for each backend.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "libswap.h"

#define SEED 7
#define ROUNDS 600

static char dir[256], path[300];
static struct swap_store *st;

static int setup_group(void **state)
{
	const char *t = getenv("AS_TMP");
	struct swap_store_desc d = { 0 };
	char err[256] = "";

	snprintf(dir, sizeof(dir), "%s/swapstormXXXXXX", t ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/storm.asw", dir);
	/* 7 layers in groups of 2 (a short last group), odd bundle sizes. */
	d.n_layers = 7;
	d.group = 2;
	d.kinds[SWAP_ATTN_IN] = (struct swap_kind_desc){ .in = 48, .n_mats = 3,
		.mats = { { 48, 8, 1734 }, { 16, 8, 578 }, { 16, 8, 578 } } };
	d.kinds[SWAP_ATTN_OUT] = (struct swap_kind_desc){ .in = 48, .n_mats = 1,
		.mats = { { 48, 2, 1728 } } };
	d.kinds[SWAP_FFN_IN] = (struct swap_kind_desc){ .in = 48, .n_mats = 2,
		.mats = { { 128, 8, 4352 }, { 128, 8, 4352 } } };
	d.kinds[SWAP_FFN_OUT] = (struct swap_kind_desc){ .in = 128, .n_mats = 1,
		.mats = { { 48, 8, 1632 } } };
	if (swap_store_write_synthetic(path, &d, SEED, err, sizeof(err)) ||
	    swap_store_open(&st, path, err, sizeof(err))) {
		fprintf(stderr, "# %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown_group(void **state)
{
	char cmd[400];

	swap_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct worker {
	struct swap_engine *e;
	unsigned seed;
	int fails;
	uint64_t checked;
};

static uint32_t rnd(unsigned *s, uint32_t n)
{
	return (uint32_t)(rand_r(s) % n);
}

static void *storm(void *arg)
{
	struct worker *w = arg;
	const struct swap_store_desc *d = swap_store_desc(st);
	struct swap_key keys[64];
	const void *ptrs[64];
	uint8_t *want = malloc(16384);

	for (int round = 0; round < ROUNDS && want; round++) {
		uint32_t kind = rnd(&w->seed, SWAP_KIND_COUNT), in = d->kinds[kind].in;
		uint32_t l0 = rnd(&w->seed, d->n_layers), n = 1 + rnd(&w->seed, 24), m = 0;
		uint64_t bb = swap_store_bundle_bytes(st, kind);

		/* preload a predicted set for the following layers at a random class */
		for (uint32_t i = 0; i < n; i++) {
			keys[m].layer = (l0 + 1 + rnd(&w->seed, 3)) % d->n_layers;
			keys[m].kind = kind;
			keys[m].channel = rnd(&w->seed, in);
			m++;
		}
		if (swap_request(w->e, keys, m, (enum swap_prio)(1 + rnd(&w->seed, 2)),
				 (uint64_t)round) != 0)
			w->fails++;
		if (rnd(&w->seed, 4) == 0)
			swap_cancel(w->e, (uint64_t)(round - 1), 0x6);
		/* on-demand set for this layer: distinct channels, sometimes a run */
		m = 0;
		if (rnd(&w->seed, 2)) {
			uint32_t c0 = rnd(&w->seed, in), len = 1 + rnd(&w->seed, 16);

			for (uint32_t c = c0; c < in && m < len; c++)
				keys[m++] = (struct swap_key){ l0, kind, c };
		} else {
			for (uint32_t c = rnd(&w->seed, 7); c < in && m < 20;
			     c += 1 + rnd(&w->seed, 9))
				keys[m++] = (struct swap_key){ l0, kind, c };
		}
		if (swap_acquire(w->e, keys, m, ptrs)) {
			w->fails++;
			continue;
		}
		for (uint32_t i = 0; i < m; i++) {
			swap_synthetic_bundle(SEED, keys[i], want, bb);
			if (memcmp(ptrs[i], want, bb)) {
				fprintf(stderr, "# wrong bytes: layer %u kind %u channel %u\n",
					keys[i].layer, keys[i].kind, keys[i].channel);
				w->fails++;
			}
			w->checked += bb;
		}
		if (rnd(&w->seed, 8) == 0)
			usleep(100); /* compute while others fetch */
		swap_release(w->e, keys, m);
	}
	free(want);
	return NULL;
}

static void run_storm(enum swap_backend_kind be, enum swap_policy_kind pol, uint32_t qd,
		      uint32_t flags)
{
	struct swap_engine_params p = { 0 };
	struct swap_engine *e = NULL;
	struct swap_stats s;
	struct worker w[2];
	pthread_t t[2];
	char err[256] = "";
	int r;

	p.policy = pol;
	p.backend = be;
	p.queue_depth = qd;
	p.max_read_bytes = 32 << 10;
	p.numa_node = -1;
	p.flags = SWAP_F_NO_MLOCK | flags;
	p.budget_bytes = swap_engine_min_budget(st, &p) + swap_store_swappable_bytes(st) / 5;
	r = swap_engine_create(&e, st, &p, err, sizeof(err));
	if (r && be == SWAP_BACKEND_URING) {
		fprintf(stderr, "# io_uring unavailable: %s\n", err);
		skip();
	}
	if (r)
		fail_msg("create: %s", err);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct worker){ e, 1234u + (unsigned)i * 77u + (unsigned)be, 0, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, storm, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	swap_engine_stats(e, &s);
	fprintf(stderr, "# %s/%s: %lu reads, %lu bytes, %lu hits, %lu misses, %lu evictions, "
		"checked %lu bytes\n", swap_engine_backend_name(e), swap_engine_policy_name(e),
		s.total.reads, s.total.bytes_read, s.total.hits, s.total.misses,
		s.total.evictions, w[0].checked + w[1].checked);
	assert_int_equal(w[0].fails + w[1].fails, 0);
	assert_true(s.total.evictions > 0); /* the budget really was exceeded by demand */
	assert_int_equal(s.slots_pinned, 0);
	assert_int_equal(s.total.read_errors, 0);
	assert_true(s.pool_bytes <= p.budget_bytes);
	swap_engine_destroy(e);
}

static void test_storm_uring(void **state)
{
	run_storm(SWAP_BACKEND_URING, SWAP_POLICY_FREQ, 16, 0);
}

static void test_storm_pread(void **state)
{
	run_storm(SWAP_BACKEND_PREAD, SWAP_POLICY_LRU, 8, 0);
}

static void test_storm_fault_backend_clean(void **state)
{
	/* the fault backend with an empty plan, crc verification on */
	run_storm(SWAP_BACKEND_FAULT, SWAP_POLICY_FREQ, 4, SWAP_F_VERIFY);
}

static void test_storm_auto(void **state)
{
	run_storm(SWAP_BACKEND_AUTO, SWAP_POLICY_LRU, 32, SWAP_F_VERIFY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_storm_uring),
		cmocka_unit_test(test_storm_pread),
		cmocka_unit_test(test_storm_fault_backend_clean),
		cmocka_unit_test(test_storm_auto),
	};

	return cmocka_run_group_tests_name("swap_storm", tests, setup_group, teardown_group);
}

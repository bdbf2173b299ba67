// SPDX-License-Identifier: MIT
/* libswap engine: pool accounting, eviction order of each policy, coalescing, priorities,
 * cancellation, pinning, fault injection, clear errors for a small budget or mlock, the
 * stall that swap_token_end returns. */
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "libswap.h"

#define SEED 42
#define BB 4096u /* every bundle is 4096 bytes in these tests */

static char dir[256], path[300];
static struct swap_store *st;

/* Every kind: `in` channels, one matrix, 4096-byte columns. */
static void make_store(uint32_t layers, uint32_t group, uint32_t in)
{
	struct swap_store_desc d = { 0 };
	char err[256] = "";

	d.n_layers = layers;
	d.group = group;
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		d.kinds[k] = (struct swap_kind_desc){ .in = in, .n_mats = 1,
			.mats = { { 1024, 0, BB } } };
	assert_int_equal(swap_store_write_synthetic(path, &d, SEED, err, sizeof(err)), 0);
	assert_int_equal(swap_store_open(&st, path, err, sizeof(err)), 0);
}

static int setup(void **state)
{
	const char *t = getenv("AS_TMP");

	snprintf(dir, sizeof(dir), "%s/swapengXXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/e.asw", dir);
	st = NULL;
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	swap_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct swap_engine_params params(enum swap_policy_kind pol, uint32_t extra_per_kind)
{
	struct swap_engine_params p = { 0 };

	p.policy = pol;
	p.backend = SWAP_BACKEND_PREAD;
	p.queue_depth = 4;
	p.max_read_bytes = 64 << 10;
	p.numa_node = -1;
	p.flags = SWAP_F_NO_MLOCK;
	p.budget_bytes = swap_engine_min_budget(st, &p) + (uint64_t)extra_per_kind * 4 * BB;
	return p;
}

static struct swap_engine *engine(const struct swap_engine_params *p)
{
	struct swap_engine *e = NULL;
	char err[256] = "";
	int r = swap_engine_create(&e, st, p, err, sizeof(err));

	if (r)
		fail_msg("swap_engine_create: %d %s", r, err);
	return e;
}

static void check_bytes(struct swap_key k, const void *p)
{
	uint8_t want[BB];

	swap_synthetic_bundle(SEED, k, want, BB);
	assert_memory_equal(p, want, BB);
}

static void get(struct swap_engine *e, struct swap_key k)
{
	const void *p;

	assert_int_equal(swap_acquire(e, &k, 1, &p), 0);
	check_bytes(k, p);
	swap_release(e, &k, 1);
}

static bool resident(struct swap_engine *e, struct swap_key k)
{
	const void *p = swap_pin(e, k);

	if (p)
		swap_unpin(e, k);
	return p != NULL;
}

static uint64_t vmlck_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %lu", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static void test_pool_accounting(void **state)
{
	struct swap_engine_params p;
	struct swap_engine *e = NULL;
	struct swap_stats s;
	char err[256] = "";
	uint64_t before = vmlck_kb();

	make_store(2, 1, 4);
	p = params(SWAP_POLICY_LRU, 1);
	p.flags = 0; /* mlock for real */
	if (swap_engine_create(&e, st, &p, err, sizeof(err))) {
		assert_non_null(strstr(err, "RLIMIT_MEMLOCK"));
		skip();
	}
	swap_engine_stats(e, &s);
	assert_true(s.pool_bytes <= p.budget_bytes);
	assert_true(s.staging_bytes + s.slot_bytes <= s.pool_bytes);
	assert_int_equal(s.slots_total, 4 * (4 + 1));
	assert_int_equal(s.slot_bytes, 4 * (4 + 1) * BB);
	assert_int_equal((vmlck_kb() - before) * 1024, s.pool_bytes);
	/* Fill far beyond the budget: the slot count never moves, nothing more is locked */
	for (uint32_t l = 0; l < 2; l++)
		for (uint32_t k = 0; k < 4; k++)
			for (uint32_t c = 0; c < 4; c++)
				get(e, (struct swap_key){ l, k, c });
	swap_engine_stats(e, &s);
	assert_int_equal(s.slots_valid, s.slots_total);
	assert_int_equal(s.total.misses, 32);
	assert_int_equal(s.total.evictions, 32 - 20);
	assert_int_equal((vmlck_kb() - before) * 1024, s.pool_bytes);
	swap_engine_destroy(e);
	assert_int_equal(vmlck_kb(), before);
}

static void test_budget_too_small(void **state)
{
	struct swap_engine_params p;
	struct swap_engine *e = NULL;
	char err[256] = "";

	make_store(4, 2, 8);
	p = params(SWAP_POLICY_FREQ, 0);
	p.budget_bytes -= 8192;
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -ENOSPC);
	assert_null(e);
	assert_non_null(strstr(err, "smaller than one layer group"));
	p.budget_bytes += 8192;
	e = engine(&p);
	swap_engine_destroy(e);
	/* NULL parameters: defaults, a budget that holds every bundle */
	assert_int_equal(swap_engine_create(&e, st, NULL, err, sizeof(err)), 0);
	struct swap_stats s;

	swap_engine_stats(e, &s);
	assert_int_equal(s.slots_total, swap_store_n_bundles(st));
	assert_string_equal(swap_engine_policy_name(e), "freq");
	swap_engine_destroy(e);
	/* kmod without the device (test_swap_kmod.c covers the backend) */
	setenv("ACTIVESWAP_KMOD_DEVICE", "/nonexistent/activeswap", 1);
	p.backend = SWAP_BACKEND_KMOD;
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -ENODEV);
	assert_null(e);
	unsetenv("ACTIVESWAP_KMOD_DEVICE");
	p.backend = SWAP_BACKEND_PREAD;
	p.queue_depth = 100000;
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -EINVAL);
}

/* 4 slots of kind 0: layer 0's channels fill them, layer 1 channel 0 needs a victim. */
static void test_lru_order(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_key k;

	make_store(2, 1, 4);
	p = params(SWAP_POLICY_LRU, 0);
	e = engine(&p);
	assert_string_equal(swap_engine_policy_name(e), "lru");
	for (uint32_t c = 0; c < 4; c++)
		get(e, (struct swap_key){ 0, 0, c });
	k = (struct swap_key){ 0, 0, 0 };
	assert_int_equal(swap_request(e, &k, 1, SWAP_PRIO_DEMAND, 0), 0); /* hit: now MRU */
	get(e, (struct swap_key){ 1, 0, 0 });
	assert_false(resident(e, (struct swap_key){ 0, 0, 1 })); /* least recently used */
	assert_true(resident(e, (struct swap_key){ 0, 0, 0 }));
	get(e, (struct swap_key){ 1, 0, 1 });
	assert_false(resident(e, (struct swap_key){ 0, 0, 2 }));
	get(e, (struct swap_key){ 1, 0, 2 });
	assert_false(resident(e, (struct swap_key){ 0, 0, 3 }));
	/* resident() pins, which counts as a use: layer 0 channel 0 is fresher now */
	get(e, (struct swap_key){ 1, 0, 3 });
	assert_false(resident(e, (struct swap_key){ 1, 0, 0 }));
	assert_true(resident(e, (struct swap_key){ 0, 0, 0 }));
	swap_engine_destroy(e);
}

static void touch(struct swap_engine *e, struct swap_key k, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(swap_request(e, &k, 1, SWAP_PRIO_DEMAND, 0), 0);
}

static void test_freq_order(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	int counts[4] = { 3, 1, 2, 4 };

	make_store(2, 1, 4);
	p = params(SWAP_POLICY_FREQ, 0);
	p.freq_decay = 0.5f;
	e = engine(&p);
	for (uint32_t c = 0; c < 4; c++) {
		get(e, (struct swap_key){ 0, 0, c }); /* one access each */
		touch(e, (struct swap_key){ 0, 0, c }, counts[c] - 1);
	}
	get(e, (struct swap_key){ 1, 0, 0 });
	assert_false(resident(e, (struct swap_key){ 0, 0, 1 })); /* count 1 */
	touch(e, (struct swap_key){ 1, 0, 0 }, 10);
	get(e, (struct swap_key){ 1, 0, 1 });
	assert_false(resident(e, (struct swap_key){ 0, 0, 2 })); /* count 2 */
	assert_true(resident(e, (struct swap_key){ 0, 0, 0 }));
	assert_true(resident(e, (struct swap_key){ 0, 0, 3 }));
	/* Decay: after 4 tokens at 0.5, one new access outweighs 4 old ones (16 > 4). */
	for (int t = 0; t < 4; t++) {
		swap_token_begin(e, (uint64_t)t);
		swap_token_end(e);
	}
	touch(e, (struct swap_key){ 1, 0, 0 }, 1);
	touch(e, (struct swap_key){ 1, 0, 1 }, 1);
	touch(e, (struct swap_key){ 0, 0, 0 }, 1); /* 3 old + 1 new  > 4 old */
	get(e, (struct swap_key){ 1, 0, 2 });
	assert_false(resident(e, (struct swap_key){ 0, 0, 3 })); /* 4 old accesses, decayed */
	assert_true(resident(e, (struct swap_key){ 0, 0, 0 }));
	swap_engine_destroy(e);
}

/* STATIC: the calibrated set stays, the rest is first-in first-out. */
static void test_static_order(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_key hot = { 0, 0, 0 };

	make_store(3, 1, 4);
	p = params(SWAP_POLICY_STATIC, 1); /* 5 slots per kind */
	e = engine(&p);
	assert_int_equal(swap_engine_set_static(e, &hot, 1), 0);
	for (uint32_t c = 0; c < 4; c++)
		get(e, (struct swap_key){ 1, 0, c });
	touch(e, (struct swap_key){ 1, 0, 0 }, 5); /* FIFO ignores accesses */
	get(e, (struct swap_key){ 2, 0, 0 });
	assert_false(resident(e, (struct swap_key){ 1, 0, 0 }));
	for (uint32_t c = 1; c < 4; c++)
		get(e, (struct swap_key){ 2, 0, c });
	assert_true(resident(e, hot));
	for (uint32_t c = 0; c < 4; c++)
		assert_false(resident(e, (struct swap_key){ 1, 0, c }));
	/* No room for a second hot bundle (one layer group must stay swappable). */
	hot.channel = 1;
	assert_int_equal(swap_engine_set_static(e, &hot, 1), -ENOSPC);
	swap_engine_destroy(e);
	p.policy = SWAP_POLICY_LRU;
	e = engine(&p);
	assert_int_equal(swap_engine_set_static(e, &hot, 1), -EINVAL);
	swap_engine_destroy(e);
}

/* Kinds with their own policy (own_policy): kind 2 ranked by FREQ while the others are
 * LRU; the same accesses then evict different bundles in kind 0 and kind 2. */
static void test_kind_policy(void **state)
{
	static const int counts[4] = { 4, 1, 2, 3 };
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_key hot = { 0, 0, 0 };
	char err[256];

	make_store(2, 1, 4);
	p = params(SWAP_POLICY_LRU, 0);
	p.own_policy = 1u << 2;
	p.kind_policy[2] = SWAP_POLICY_FREQ;
	e = engine(&p);
	assert_string_equal(swap_engine_policy_name(e), "lru");
	assert_string_equal(swap_engine_kind_policy_name(e, 0), "lru");
	assert_string_equal(swap_engine_kind_policy_name(e, 2), "freq");
	assert_null(swap_engine_kind_policy_name(e, SWAP_KIND_COUNT));
	for (uint32_t k = 0; k <= 2; k += 2)
		for (uint32_t c = 0; c < 4; c++) {
			get(e, (struct swap_key){ 0, k, c });
			touch(e, (struct swap_key){ 0, k, c }, counts[c] - 1);
		}
	get(e, (struct swap_key){ 1, 0, 0 });
	get(e, (struct swap_key){ 1, 2, 0 });
	/* LRU: channel 0 was used first; FREQ: channel 1 has the fewest uses */
	assert_false(resident(e, (struct swap_key){ 0, 0, 0 }));
	assert_false(resident(e, (struct swap_key){ 0, 2, 1 }));
	assert_true(resident(e, (struct swap_key){ 0, 0, 1 }));
	assert_true(resident(e, (struct swap_key){ 0, 2, 0 }));
	swap_engine_destroy(e);
	/* a static set only where the kind's policy is STATIC */
	swap_store_close(st);
	make_store(3, 1, 4);
	p = params(SWAP_POLICY_STATIC, 1);
	p.own_policy = 1u << 2;
	p.kind_policy[2] = SWAP_POLICY_FREQ;
	e = engine(&p);
	assert_int_equal(swap_engine_set_static(e, &hot, 1), 0);
	hot.kind = 2;
	assert_int_equal(swap_engine_set_static(e, &hot, 1), -EINVAL);
	swap_engine_destroy(e);
	/* an unknown policy or kind bit is refused */
	p.kind_policy[2] = (enum swap_policy_kind)7;
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -EINVAL);
	p.kind_policy[2] = SWAP_POLICY_FREQ;
	p.own_policy = 1u << SWAP_KIND_COUNT; /* a low-precision kind this store lacks */
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -EINVAL);
	p.own_policy = 0;
	p.skip_kinds = 1u << SWAP_KIND_MAX;
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -EINVAL);
}

/* Bundles larger than a staging buffer (max_buffer_bytes) are read in pieces into their
 * slots: the bytes are right (spans straddling pages), every piece is a read, crc32c is
 * checked over the whole bundle, a failed piece fails its bundle and a retry reads it. */
static void test_pieces(void **state)
{
	enum { COL = 3 * 4096 + 1000 }; /* 4 or 5 pages per bundle */
	struct swap_store_desc d = { 0 };
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_stats s;
	struct swap_key k = { 1, 2, 1 };
	const void *ptr;
	uint8_t *want = malloc(COL);
	char err[256] = "";

	assert_non_null(want);
	d.n_layers = 2;
	d.group = 1;
	for (int kd = 0; kd < SWAP_KIND_COUNT; kd++)
		d.kinds[kd] = (struct swap_kind_desc){ .in = 3, .n_mats = 1,
			.mats = { { COL / 4, 0, COL } } };
	assert_int_equal(swap_store_write_synthetic(path, &d, SEED, err, sizeof(err)), 0);
	assert_int_equal(swap_store_open(&st, path, err, sizeof(err)), 0);
	for (int f = 0; f < 2; f++) {
		p = params(SWAP_POLICY_LRU, 0);
		p.max_read_bytes = p.max_buffer_bytes = 4096;
		p.flags |= SWAP_F_VERIFY;
		p.budget_bytes = swap_engine_min_budget(st, &p);
		if (f) { /* the second read fails: the first bundle's second piece */
			p.backend = SWAP_BACKEND_FAULT;
			p.fault = (struct swap_fault_plan){ SWAP_FAULT_EIO, 2, 0 };
		}
		e = engine(&p);
		swap_engine_stats(e, &s);
		assert_int_equal(s.staging_bytes, 4 * 4096);
		if (f)
			assert_int_equal(swap_acquire(e, &k, 1, &ptr), -EIO);
		for (uint32_t l = 0; l < 2; l++)
			for (uint32_t c = 0; c < 3; c++)
				for (uint32_t kd = 0; kd < SWAP_KIND_COUNT; kd++) {
					struct swap_key x = { l, kd, c };

					assert_int_equal(swap_acquire(e, &x, 1, &ptr), 0);
					swap_synthetic_bundle(SEED, x, want, COL);
					assert_memory_equal(ptr, want, COL);
					swap_release(e, &x, 1);
				}
		swap_engine_stats(e, &s);
		/* 24 bundles of 4 or 5 pages each (and the failed attempt's pieces) */
		assert_true(s.total.reads >= 24 * 4 && s.total.reads <= 24 * 5 + 5);
		assert_int_equal(s.total.read_errors, (uint64_t)f);
		swap_engine_destroy(e);
	}
	free(want);
}

struct rec {
	int n;
	uint64_t bytes[64];
	int prio[64];
	uint64_t tag[64];
	uint32_t layer[64];
};

static void on_submit(void *arg, uint64_t tag, uint32_t layer, uint64_t bytes, int prio)
{
	struct rec *r = arg;

	if (r->n < 64) {
		r->bytes[r->n] = bytes;
		r->prio[r->n] = prio;
		r->tag[r->n] = tag;
		r->layer[r->n] = layer;
	}
	r->n++;
}

/* Adjacent bundles (same channel over a group's layers, then the next channel) become one
 * read up to the maximum read size. */
static void test_coalesce(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_stats s;
	struct swap_key keys[8];
	struct rec rec = { 0 };
	int i = 0;

	make_store(2, 2, 8);
	for (uint32_t c = 2; c < 6; c++)
		for (uint32_t l = 0; l < 2; l++)
			keys[i++] = (struct swap_key){ l, SWAP_FFN_IN, c };
	p = params(SWAP_POLICY_LRU, 0);
	p.on_submit = on_submit;
	p.cb_arg = &rec;
	e = engine(&p);
	assert_int_equal(swap_request(e, keys, 8, SWAP_PRIO_LATER, 9), 0);
	assert_int_equal(swap_wait(e, keys, 8), 0);
	swap_engine_stats(e, &s);
	assert_int_equal(s.total.reads, 1);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.bytes[0], 8 * BB);
	assert_int_equal(rec.tag[0], 9);
	assert_int_equal(s.total.bytes_read, 8 * BB);
	swap_engine_destroy(e);

	/* Limit 8 KiB: 4 reads of 2 bundles; non-adjacent sets are separate reads. */
	memset(&rec, 0, sizeof(rec));
	p.max_read_bytes = 2 * BB;
	e = engine(&p);
	assert_int_equal(swap_request(e, keys, 8, SWAP_PRIO_LATER, 1), 0);
	assert_int_equal(swap_wait(e, keys, 8), 0);
	swap_engine_stats(e, &s);
	assert_int_equal(s.total.reads, 4);
	assert_int_equal(s.total.bytes_read, 8 * BB);
	for (int j = 0; j < 4; j++)
		assert_int_equal(rec.bytes[j], 2 * BB);
	keys[0] = (struct swap_key){ 0, SWAP_ATTN_IN, 0 };
	keys[1] = (struct swap_key){ 0, SWAP_ATTN_IN, 2 };
	assert_int_equal(swap_wait(e, keys, 2), 0);
	swap_engine_stats(e, &s);
	assert_int_equal(s.total.reads, 6);
	for (i = 0; i < 2; i++)
		check_bytes(keys[i], swap_pin(e, keys[i]));
	swap_release(e, keys, 2);
	swap_engine_destroy(e);
}

static void test_priorities(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_stats s;
	struct rec rec = { 0 };
	struct swap_key a = { 0, 0, 0 }, b = { 0, 1, 0 }, c = { 0, 2, 0 }, d = { 0, 3, 0 };
	struct swap_key all[4] = { a, b, c, d };

	make_store(2, 1, 4);
	p = params(SWAP_POLICY_FREQ, 0);
	p.queue_depth = 1;
	p.on_submit = on_submit;
	p.cb_arg = &rec;
	e = engine(&p);
	swap_plug(e);
	assert_int_equal(swap_request(e, &a, 1, SWAP_PRIO_LATER, 1), 0);
	assert_int_equal(swap_request(e, &b, 1, SWAP_PRIO_NEXT, 2), 0);
	assert_int_equal(swap_request(e, &c, 1, SWAP_PRIO_DEMAND, 3), 0);
	assert_int_equal(swap_request(e, &d, 1, SWAP_PRIO_LATER, 4), 0);
	assert_int_equal(swap_request(e, &d, 1, SWAP_PRIO_NEXT, 4), 0); /* raised */
	swap_engine_stats(e, &s);
	assert_int_equal(s.total.reads, 0); /* plugged */
	assert_int_equal(s.queued, 4);
	assert_int_equal(s.total.misses, 4);
	assert_int_equal(s.total.hits, 1);
	swap_unplug(e);
	/* Let the queue drain by itself: waiting would raise everything to on-demand. */
	do {
		usleep(1000);
		swap_engine_stats(e, &s);
	} while (s.queued || s.inflight);
	assert_int_equal(swap_wait(e, all, 4), 0);
	assert_int_equal(rec.n, 4);
	assert_int_equal(rec.tag[0], 3); /* on-demand */
	assert_int_equal(rec.tag[1], 2); /* next, oldest first */
	assert_int_equal(rec.tag[2], 4); /* raised to next */
	assert_int_equal(rec.tag[3], 1); /* later */
	assert_int_equal(rec.prio[0], SWAP_PRIO_DEMAND);
	assert_int_equal(rec.prio[3], SWAP_PRIO_LATER);
	assert_int_equal(swap_request(e, &a, 1, (enum swap_prio)3, 0), -EINVAL);
	a.kind = 4;
	assert_int_equal(swap_request(e, &a, 1, SWAP_PRIO_DEMAND, 0), -EINVAL);
	assert_int_equal(swap_wait(e, &a, 1), -EINVAL);
	swap_engine_destroy(e);
}

static void test_cancel(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_stats s;
	struct swap_key A[4], B[2], D = { 1, 1, 1 };

	make_store(2, 1, 4);
	for (uint32_t c = 0; c < 4; c++)
		A[c] = (struct swap_key){ 0, 0, c };
	B[0] = A[2];
	B[1] = A[3];
	p = params(SWAP_POLICY_LRU, 0);
	e = engine(&p);
	swap_plug(e);
	assert_int_equal(swap_request(e, A, 4, SWAP_PRIO_LATER, 1), 0);
	assert_int_equal(swap_request(e, B, 2, SWAP_PRIO_LATER, 2), 0); /* newer prediction */
	assert_int_equal(swap_request(e, &D, 1, SWAP_PRIO_DEMAND, 1), 0);
	assert_int_equal(swap_cancel(e, 5, 1u << SWAP_PRIO_LATER), 0);
	assert_int_equal(swap_cancel(e, 1, (1u << SWAP_PRIO_LATER) | (1u << SWAP_PRIO_NEXT)), 2);
	swap_engine_stats(e, &s);
	assert_int_equal(s.queued, 3);
	swap_unplug(e);
	assert_int_equal(swap_wait(e, B, 2), 0);
	assert_int_equal(swap_wait(e, &D, 1), 0);
	assert_false(resident(e, A[0]));
	assert_false(resident(e, A[1]));
	assert_true(resident(e, A[2]));
	swap_engine_stats(e, &s);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.total.misses, 5);
	/* Waiting on a cancelled bundle fetches it on demand. */
	swap_plug(e);
	assert_int_equal(swap_request(e, &A[0], 1, SWAP_PRIO_NEXT, 7), 0);
	assert_int_equal(swap_cancel(e, SWAP_TAG_ANY, 0x7), 1);
	assert_int_equal(swap_wait(e, &A[0], 1), 0);
	assert_true(resident(e, A[0]));
	swap_engine_destroy(e);
}

/* A pinned bundle survives any amount of eviction pressure; more pins than slots is
 * refused up front. */
static void test_pinning(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_key k = { 0, 0, 0 }, five[5];
	const void *ptr, *ptrs[5];

	make_store(3, 1, 4);
	p = params(SWAP_POLICY_LRU, 0);
	e = engine(&p);
	assert_int_equal(swap_acquire(e, &k, 1, &ptr), 0);
	for (int round = 0; round < 3; round++)
		for (uint32_t l = 0; l < 3; l++)
			for (uint32_t c = 0; c < 4; c++)
				if (l || c)
					get(e, (struct swap_key){ l, 0, c });
	check_bytes(k, ptr);
	assert_true(resident(e, k));
	swap_release(e, &k, 1);
	for (uint32_t c = 0; c < 5; c++)
		five[c] = (struct swap_key){ c / 4, 0, c % 4 };
	assert_int_equal(swap_acquire(e, five, 5, ptrs), -ENOSPC);
	swap_engine_destroy(e);
}

/* A queued bundle whose kind has every slot pinned must not hold up the fetches of the
 * other kinds queued behind it; it is read once a slot of its kind is released. */
static void test_pinned_kind_does_not_block(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_key mine[4], waiting = { 1, 0, 0 }, other = { 1, 2, 3 };
	const void *ptrs[4];

	(void)state;
	make_store(2, 1, 4);
	p = params(SWAP_POLICY_LRU, 0); /* one layer of every kind: 4 slots each */
	e = engine(&p);
	for (uint32_t c = 0; c < 4; c++)
		mine[c] = (struct swap_key){ 0, 0, c };
	assert_int_equal(swap_acquire(e, mine, 4, ptrs), 0); /* every kind-0 slot pinned */
	assert_int_equal(swap_request(e, &waiting, 1, SWAP_PRIO_DEMAND, 1), 0);
	get(e, other); /* queued after 'waiting', of another kind */
	assert_false(resident(e, waiting));
	swap_release(e, mine, 4);
	assert_int_equal(swap_wait(e, &waiting, 1), 0);
	get(e, waiting);
	swap_engine_destroy(e);
}

static void test_faults(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_stats s;
	struct swap_key k[3] = { { 0, 0, 0 }, { 0, 0, 1 }, { 0, 2, 3 } };
	const void *ptrs[3];

	make_store(2, 1, 4);
	p = params(SWAP_POLICY_FREQ, 0);
	p.backend = SWAP_BACKEND_FAULT;
	p.fault = (struct swap_fault_plan){ SWAP_FAULT_EIO, 1, 0 };
	e = engine(&p);
	assert_string_equal(swap_engine_backend_name(e), "fault");
	assert_int_equal(swap_acquire(e, k, 1, ptrs), -EIO);
	swap_engine_stats(e, &s);
	assert_int_equal(s.total.read_errors, 1);
	assert_int_equal(s.slots_valid, 0);
	assert_int_equal(s.slots_pinned, 0);
	assert_null(swap_pin(e, k[0]));
	assert_int_equal(swap_acquire(e, k, 3, ptrs), 0); /* retried, read 2 and 3 fine */
	for (int i = 0; i < 3; i++)
		check_bytes(k[i], ptrs[i]);
	swap_release(e, k, 3);
	swap_engine_destroy(e);

	/* Short reads: never valid, the caller sees -EIO, other bundles unaffected. */
	p.fault = (struct swap_fault_plan){ SWAP_FAULT_SHORT, 0, 2 };
	e = engine(&p);
	assert_int_equal(swap_acquire(e, &k[0], 1, ptrs), 0);
	assert_int_equal(swap_acquire(e, &k[2], 1, ptrs), -EIO);
	swap_engine_stats(e, &s);
	assert_int_equal(s.slots_valid, 1);
	assert_int_equal(s.slots_pinned, 1);
	assert_null(swap_pin(e, k[2]));
	swap_release(e, &k[0], 1);
	swap_engine_destroy(e);

	/* Corruption: caught by SWAP_F_VERIFY with -EBADMSG, never left valid. */
	p.fault = (struct swap_fault_plan){ SWAP_FAULT_CORRUPT, 0, 1 };
	p.flags |= SWAP_F_VERIFY;
	e = engine(&p);
	assert_int_equal(swap_acquire(e, k, 2, ptrs), -EBADMSG);
	swap_engine_stats(e, &s);
	assert_true(s.slots_valid <= 1); /* one coalesced read, one flipped byte */
	assert_int_equal(s.slots_pinned, 0);
	for (int i = 0; i < 2; i++) {
		const void *q = swap_pin(e, k[i]);

		if (q) {
			check_bytes(k[i], q);
			swap_unpin(e, k[i]);
		}
	}
	swap_engine_destroy(e);
}

/* Without CAP_IPC_LOCK and with a small RLIMIT_MEMLOCK, creation fails with one clear
 * line naming the limit and both sizes. Runs in a child that drops the capability. */
static void test_mlock_error(void **state)
{
	struct swap_engine_params p;
	int status;
	pid_t pid;

	make_store(2, 1, 64);
	p = params(SWAP_POLICY_FREQ, 0);
	p.flags = 0;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct d[2];
		struct rlimit rl = { 64 << 10, 64 << 10 };
		struct swap_engine *e = NULL;
		char err[512] = "";
		int r;

		if (syscall(SYS_capget, &h, d) == 0) {
			d[0].effective &= ~(1u << CAP_IPC_LOCK);
			d[0].permitted &= ~(1u << CAP_IPC_LOCK);
			d[0].inheritable &= ~(1u << CAP_IPC_LOCK);
			if (syscall(SYS_capset, &h, d) != 0)
				_exit(3);
		}
		if (setrlimit(RLIMIT_MEMLOCK, &rl))
			_exit(3);
		r = swap_engine_create(&e, st, &p, err, sizeof(err));
		if (r == 0)
			_exit(4);
		fprintf(stderr, "# expected error: %s\n", err);
		_exit(strstr(err, "RLIMIT_MEMLOCK") && strstr(err, "65536") ? 0 : 5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 3)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* io_uring unavailable (sysctl-like override, or seccomp denying io_uring_setup): AUTO
 * falls back to the pread workers and still fetches correct bytes; URING says why. */
static void test_backend_fallback(void **state)
{
	struct swap_engine_params p;
	struct swap_engine *e = NULL;
	char err[256] = "";
	int status;
	pid_t pid;

	make_store(2, 1, 4);
	p = params(SWAP_POLICY_LRU, 0);
	p.backend = SWAP_BACKEND_AUTO;
	setenv("ACTIVESWAP_NO_URING", "1", 1);
	e = engine(&p);
	assert_string_equal(swap_engine_backend_name(e), "pread");
	get(e, (struct swap_key){ 1, 2, 3 });
	swap_engine_destroy(e);
	p.backend = SWAP_BACKEND_URING;
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "ACTIVESWAP_NO_URING"));
	unsetenv("ACTIVESWAP_NO_URING");

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
		const void *ptr;
		struct swap_key k = { 0, 1, 1 };
		uint8_t want[BB];

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(3);
		p.backend = SWAP_BACKEND_AUTO;
		if (swap_engine_create(&e, st, &p, err, sizeof(err)))
			_exit(4);
		if (strcmp(swap_engine_backend_name(e), "pread"))
			_exit(5);
		if (swap_acquire(e, &k, 1, &ptr))
			_exit(6);
		swap_synthetic_bundle(SEED, k, want, BB);
		if (memcmp(ptr, want, BB))
			_exit(7);
		swap_release(e, &k, 1);
		swap_engine_destroy(e);
		p.backend = SWAP_BACKEND_URING;
		if (swap_engine_create(&e, st, &p, err, sizeof(err)) != -EPERM)
			_exit(8);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 3)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_numa(void **state)
{
	struct swap_engine_params p;
	struct swap_engine *e = NULL;
	char err[256] = "";

	make_store(2, 1, 4);
	p = params(SWAP_POLICY_FREQ, 0);
	p.numa_node = 4095;
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUMA node 4095"));
	p.numa_node = 0;
	if (swap_engine_create(&e, st, &p, err, sizeof(err))) {
		fprintf(stderr, "# %s\n", err);
		skip(); /* no NUMA support here */
	}
	get(e, (struct swap_key){ 0, 0, 0 });
	swap_engine_destroy(e);
}

/* The submit observer sees exactly what the stats count (the USDT invariant). */
static void test_stats_match_submits(void **state)
{
	struct swap_engine *e;
	struct swap_engine_params p;
	struct swap_stats s;
	struct swap_layer_stats ls;
	struct rec rec = { 0 };
	uint64_t sum = 0, l1 = 0;
	struct swap_key k;

	make_store(4, 2, 8);
	p = params(SWAP_POLICY_FREQ, 2);
	p.on_submit = on_submit;
	p.cb_arg = &rec;
	e = engine(&p);
	for (uint32_t i = 0; i < 40; i++) {
		k = (struct swap_key){ (i * 7) % 4, (i * 3) % 4, (i * 5) % 8 };
		assert_int_equal(swap_request(e, &k, 1, (enum swap_prio)(i % 3), i), 0);
	}
	for (uint32_t i = 0; i < 40; i++) {
		k = (struct swap_key){ (i * 7) % 4, (i * 3) % 4, (i * 5) % 8 };
		assert_int_equal(swap_wait(e, &k, 1), 0);
	}
	swap_engine_stats(e, &s);
	assert_true(rec.n <= 64);
	for (int i = 0; i < rec.n; i++) {
		sum += rec.bytes[i];
		if (rec.layer[i] == 1)
			l1++;
	}
	assert_int_equal(rec.n, s.total.reads);
	assert_int_equal(sum, s.total.bytes_read);
	assert_int_equal(swap_engine_layer_stats(e, 1, &ls), 0);
	assert_int_equal(ls.reads, l1);
	assert_int_equal(swap_engine_layer_stats(e, 4, &ls), -EINVAL);
	assert_int_equal(s.total.hits + s.total.misses, 40);
	swap_engine_destroy(e);
}

/* kind_prio: the slots beyond the minimum go to the kinds in priority order, each up to
 * all of its bundles; bytes_used counts a read bundle once, when first pinned/acquired. */
static void test_kind_prio_bytes_used(void **state)
{
	struct swap_engine_params p;
	struct swap_engine *e;
	struct swap_stats s;
	struct swap_layer_stats ls;
	struct swap_key k = { 0, 1, 0 }, w = { 0, 2, 5 };
	const void *ptr;

	(void)state;
	make_store(4, 1, 8);
	p = params(SWAP_POLICY_LRU, 6); /* 24 slots beyond one layer of every kind */
	e = engine(&p);
	swap_engine_stats(e, &s);
	for (int i = 0; i < SWAP_KIND_COUNT; i++)
		assert_int_equal(s.kind_slots[i], 8 + 6); /* in proportion: equal kinds */
	swap_engine_destroy(e);
	p.kind_prio[1] = 3;
	p.kind_prio[3] = 2;
	p.kind_prio[2] = 1;
	e = engine(&p);
	swap_engine_stats(e, &s);
	assert_int_equal(s.kind_slots[1], 32); /* all of kind 1 (4 layers x 8) */
	assert_int_equal(s.kind_slots[3], 8);  /* nothing left beyond the minimum */
	assert_int_equal(s.kind_slots[2], 8);
	assert_int_equal(s.kind_slots[0], 8);
	/* used after its read: counted once */
	assert_int_equal(swap_acquire(e, &k, 1, &ptr), 0);
	check_bytes(k, ptr);
	swap_release(e, &k, 1);
	assert_int_equal(swap_acquire(e, &k, 1, &ptr), 0);
	swap_release(e, &k, 1);
	/* read but never used: not counted */
	assert_int_equal(swap_wait(e, &w, 1), 0);
	assert_int_equal(swap_engine_layer_stats(e, 0, &ls), 0);
	assert_int_equal(ls.bytes_used, BB);
	assert_true(ls.bytes_read >= 2 * BB);
	swap_engine_destroy(e);
}

/* swap_token_end returns the stall of the token it ends: what the statistics' stall_ns grew
 * by since swap_token_begin, > 0 for a token that waited for a read, 0 for one that only
 * hit, and not the sum over tokens. */
static void test_token_stall(void **state)
{
	struct swap_engine_params p;
	struct swap_engine *e;
	struct swap_stats s0, s1;
	struct swap_key a = { 0, 1, 2 }, b = { 1, 3, 0 };
	uint64_t stall = 0;

	(void)state;
	make_store(2, 1, 4);
	p = params(SWAP_POLICY_LRU, 0);
	p.backend = SWAP_BACKEND_FAULT; /* the pread workers, no fault planned */
	e = engine(&p);
	for (int t = 0; t < 3; t++) {
		swap_engine_stats(e, &s0);
		swap_token_begin(e, (uint64_t)t);
		get(e, t == 2 ? b : a); /* 0: a is read, 1: a hits, 2: b is read */
		stall = swap_token_end(e);
		swap_engine_stats(e, &s1);
		assert_int_equal(stall, s1.total.stall_ns - s0.total.stall_ns);
		if (t == 1) {
			assert_int_equal(s1.total.hits - s0.total.hits, 1);
			assert_int_equal(stall, 0);
		} else {
			assert_int_equal(s1.total.misses - s0.total.misses, 1);
			assert_true(stall > 0);
		}
	}
	/* ended again without a new begin: still that token's stall */
	assert_int_equal(swap_token_end(e), stall);
	swap_engine_destroy(e);
}

/* swap_kind_split, the pool's split among the kinds that planners predict with. */
static void test_kind_split(void **state)
{
	const uint64_t want[3] = { 6400, 3200, 6400 }, slot[3] = { 64, 128, 0 };
	const uint8_t same[3] = { 0, 0, 0 }, ranked[3] = { 1, 2, 2 };
	uint64_t add[3];

	(void)state;
	/* equal priorities: in proportion to the bytes (the slotless kind gets nothing) */
	swap_kind_split(3, want, slot, same, 4800, add);
	assert_int_equal(add[0], 3200 / 64);
	assert_int_equal(add[1], 1600 / 128);
	assert_int_equal(add[2], 0);
	/* ranked: kind 1 (priority 2) whole first, then kind 0 what is left */
	swap_kind_split(3, want, slot, ranked, 4800, add);
	assert_int_equal(add[1], 3200 / 128);
	assert_int_equal(add[0], 1600 / 64);
	assert_int_equal(add[2], 0);
	/* more than all want: each at most its want */
	swap_kind_split(3, want, slot, ranked, 1u << 20, add);
	assert_int_equal(add[0], 6400 / 64);
	assert_int_equal(add[1], 3200 / 128);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_pool_accounting), T(test_budget_too_small), T(test_lru_order),
		T(test_freq_order),      T(test_static_order),     T(test_coalesce),
		T(test_priorities),      T(test_cancel),           T(test_pinning),
		T(test_faults),          T(test_mlock_error),      T(test_stats_match_submits),
		T(test_backend_fallback), T(test_numa),       T(test_kind_prio_bytes_used),
		T(test_pinned_kind_does_not_block), T(test_token_stall), T(test_kind_policy),
		T(test_pieces),          cmocka_unit_test(test_kind_split),
	};

	if (getenv("SWAP_TEST_FILTER"))
		cmocka_set_test_filter(getenv("SWAP_TEST_FILTER"));
	return cmocka_run_group_tests_name("swap_engine", tests, NULL, NULL);
}

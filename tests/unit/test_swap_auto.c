// SPDX-License-Identifier: MIT
/*
 * as_swap_auto (runtime/swap_auto.c): the context it resolves, the policy, sparsity and
 * group it chooses or keeps, per-layer levels, the gap replay's conditions, errors, and
 * that its parameters open the store. The stores are made with as_mkmodel and as_convert
 * as in test_swaprun.c.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "activeswap/convert.h"
#include "activeswap/mkmodel.h"
#include "activeswap/swap.h"
#include "activeswap/swap_auto.h"
#include "activeswap/threadpool.h"
#include "fixtures.h"
#include "libswap.h"

static char dir[512], gguf[600], store1[600], store2[600], lv_good[600], lv_bad[600];
static char gguf_moe[600], store_moe[600];

#define MOE_EXPERTS 16
#define MOE_USED 4

/* The tiny shape with dim 128, hidden 352, 4/2 heads, 2 layers, context 48, q4_0, seed 7,
 * converted with layer groups 1 and 2. */
static int make_stores(void)
{
	const struct fx_shape sh = { 128, 352, 4, 2, 2, 48 };

	return fx_mkmodel(gguf, &sh, GGML_TYPE_Q4_0, 7) ||
	       fx_convert(gguf, store1, AS_CONVERT_KEEP, 1, false, false) ||
	       fx_convert(gguf, store2, AS_CONVERT_KEEP, 2, false, false) ? -1 : 0;
}

/* A generated qwen3moe model (16 experts, 4 per token, 8 layers, q4_0) converted with layer
 * groups of 2: no replay of the reads, so its predictions follow the speeds given. */
static int make_moe_store(void)
{
	struct as_mkmodel_params p;
	char err[512] = "";

	as_mkmodel_params_init(&p);
	p.shape.dim = 128;
	p.shape.hidden = 256;
	p.shape.layers = 8;
	p.shape.heads = 4;
	p.shape.kv_heads = 2;
	p.shape.head_dim = 64;
	p.shape.vocab = 512;
	p.shape.ctx = 256;
	p.arch = AS_ARCH_QWEN3MOE;
	p.experts = MOE_EXPERTS;
	p.experts_used = MOE_USED;
	p.expert_hidden = 64;
	p.type = GGML_TYPE_Q4_0;
	p.seed = 5;
	p.threads = 2;
	if (as_mkmodel(&p, gguf_moe, NULL, err, sizeof(err))) {
		fprintf(stderr, "# as_mkmodel %s: %s\n", gguf_moe, err);
		return -1;
	}
	return fx_convert(gguf_moe, store_moe, AS_CONVERT_KEEP, 2, false, false);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int setup(void **state)
{
	char text[512];
	size_t n = 0;

	(void)state;
	if (fx_tmpdir(dir, sizeof(dir), "swapauto"))
		return -1;
	snprintf(gguf, sizeof(gguf), "%s/m.gguf", dir);
	snprintf(store1, sizeof(store1), "%s/g1.asw", dir);
	snprintf(store2, sizeof(store2), "%s/g2.asw", dir);
	snprintf(lv_good, sizeof(lv_good), "%s/good.sparsity", dir);
	snprintf(lv_bad, sizeof(lv_bad), "%s/bad.sparsity", dir);
	snprintf(gguf_moe, sizeof(gguf_moe), "%s/moe.gguf", dir);
	snprintf(store_moe, sizeof(store_moe), "%s/moe.asw", dir);
	if (make_stores() || make_moe_store())
		return -1;
	/* layer 0 at 0.2, layer 1 at 0.4: the byte-weighted mean is 0.3 */
	n += (size_t)snprintf(text + n, sizeof(text) - n, "layers 2\n");
	for (int l = 0; l < 2; l++) {
		static const char *const kinds[] = { "attn_in", "attn_out", "ffn_in", "ffn_out" };

		for (int k = 0; k < 4; k++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%d %s %.1f\n", l,
					      kinds[k], l ? 0.4 : 0.2);
	}
	if (write_file(lv_good, text) || write_file(lv_bad, "layers 3\n"))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fx_rmdir(dir);
}

static const struct as_swap_auto_req given = {
	.sparsity = 0.5f, .group = 2, .max_sparsity = 0.5f, .policy_auto = true,
};

static void test_context(void **state)
{
	struct as_swap_auto a;
	struct as_swap_auto_req req = given;
	struct as_swap_params p = { 0 };
	char err[512];

	(void)state;
	/* 0: the default, capped at the training context (48) */
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	assert_int_equal(a.n_ctx_train, 48);
	assert_int_equal(a.n_ctx, 48);
	assert_int_equal(p.n_ctx, 48);
	assert_int_equal(a.n_layers, 2);
	assert_true(a.group1);
	assert_true(a.weight_bytes > 0);
	assert_true(a.budget.min > 0 && a.budget.min < a.budget.full);
	req.ctx_default = 20;
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	assert_int_equal(a.n_ctx, 20);
	/* a given context is kept, even past the training one */
	assert_int_equal(as_swap_auto_init(&a, &req, store2, &p, 60, err, sizeof(err)), 0);
	assert_int_equal(a.n_ctx, 60);
	assert_false(a.group1);
	/* errors name the file */
	err[0] = 0;
	assert_true(as_swap_auto_init(&a, &req, "/nonexistent/x.asw", &p, 0, err,
				      sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/x.asw: "));
}

static void test_given(void **state)
{
	struct as_swap_auto a;
	struct as_swap_params p = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(as_swap_auto_init(&a, &given, store1, &p, 0, err, sizeof(err)), 0);
	/* everything fits: all pinned (FREQ); given values kept, nothing measured */
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.full, &p, err, sizeof(err)),
			 0);
	assert_int_equal(p.budget_bytes, a.budget.full);
	assert_int_equal(p.policy, SWAP_POLICY_FREQ);
	assert_true(p.sparsity == 0.5f);
	assert_int_equal(p.group, 2);
	assert_false(a.auto_sparsity || a.auto_group);
	assert_true(a.flash_bps == 0 && a.compute_bps == 0);
	assert_false(a.gap_tried);
	assert_true(a.choice.hit_rate > 0.99);
	/* below it: the static prefix; a policy given stays */
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.min, &p, err, sizeof(err)), 0);
	assert_int_equal(p.policy, SWAP_POLICY_STATIC);
	assert_true(a.choice.hit_rate < 0.99);
	a.req.policy_auto = false;
	p.policy = SWAP_POLICY_LRU;
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.full, &p, err, sizeof(err)),
			 0);
	assert_int_equal(p.policy, SWAP_POLICY_LRU);
	as_swap_auto_free(&a);
}

static void test_chosen(void **state)
{
	struct as_swap_auto_req req = { .sparsity = -1, .max_sparsity = 0.1f, .policy_auto = true };
	struct as_swap_auto a;
	struct as_swap_params p = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	/* all cached: sparsity 0 */
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.full, &p, err, sizeof(err)),
			 0);
	assert_true(a.auto_sparsity && a.auto_group);
	assert_true(a.flash_bps > 0 && a.compute_bps > 0);
	assert_true(p.sparsity == 0);
	assert_true(p.group >= 1);
	/* the smallest budget (about 90% of this store cached): as sparse as allowed; no
	 * gap replay unless asked for */
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.min, &p, err, sizeof(err)), 0);
	assert_true(a.choice.hit_rate < 0.95);
	assert_true(p.sparsity == 0.1f);
	assert_false(a.gap_tried);
	assert_true(a.choice.tokens_per_s > 0);
	as_swap_auto_free(&a);
}

/* A slice of two (tensor parallelism) caches its own channels: a budget that holds the
 * whole slice predicts every read a hit, not half of them. */
static void test_slice_share(void **state)
{
	struct as_swap_auto_req req = { .sparsity = -1, .max_sparsity = 0.5f, .policy_auto = true };
	struct as_swap_auto a, whole;
	struct as_swap_params p = { .n_slices = 2, .slice = 1 }, pw = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(as_swap_auto_init(&whole, &req, store1, &pw, 0, err, sizeof(err)), 0);
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	assert_true(a.budget.slots_all < whole.weight_bytes * 3 / 4);
	assert_true(a.weight_bytes < whole.weight_bytes * 3 / 4);
	as_swap_auto_free(&whole);
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.full, &p, err, sizeof(err)),
			 0);
	assert_true(a.choice.hit_rate > 0.99);
	assert_true(p.sparsity == 0);
	as_swap_auto_free(&a);
}

static void test_levels(void **state)
{
	struct as_swap_auto_req req = { .sparsity = -1, .group = 1, .max_sparsity = 0.5f,
					.levels = lv_good };
	struct as_swap_auto a;
	struct as_swap_params p = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.full, &p, err, sizeof(err)),
			 0);
	assert_non_null(p.layer_sparsity);
	assert_true(p.layer_sparsity[0] > 0.19f && p.layer_sparsity[0] < 0.21f);
	assert_true(p.layer_sparsity[SWAP_KIND_COUNT] > 0.39f);
	assert_true(p.sparsity > 0.29f && p.sparsity < 0.31f);
	assert_false(a.auto_sparsity); /* the levels count as given */
	as_swap_auto_free(&a);
	assert_null(a.levels);

	req.levels = lv_bad; /* another layer count */
	err[0] = 0;
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.full, &p, err, sizeof(err)),
			 -EINVAL);
	assert_true(err[0] != 0);
	assert_null(a.levels);
}

static void test_gap_and_open(void **state)
{
	struct as_swap_auto_req req = given;
	struct as_swap_auto a;
	struct as_swap_params p = { 0 };
	struct as_swap_model *m = NULL;
	struct as_threadpool *tp = as_tp_create(2);
	char err[512];

	(void)state;
	assert_non_null(tp);
	req.gap_auto = true;
	p.tp = tp;
	p.backend = SWAP_BACKEND_PREAD;
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 16, err, sizeof(err)), 0);
	/* everything fits: no replay */
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.full, &p, err, sizeof(err)),
			 0);
	assert_false(a.gap_tried);
	assert_int_equal(p.gap_bytes, 0);
	/* swapping on a group-1 store (the smallest budget: some weights not cached): the
	 * replay picks one of its candidates */
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.min, &p, err, sizeof(err)), 0);
	assert_true(a.gap_tried && a.choice.hit_rate < 1);
	if (a.gap_measured) {
		assert_true(p.gap_bytes <= (128u << 10) && p.gap_bytes % (8u << 10) == 0);
		assert_int_equal(p.no_gap_fill, p.gap_bytes == 0);
		assert_true(a.estimate_replayed && a.choice.io_s > 0);
	} else {
		assert_int_equal(p.gap_bytes, AS_GAP_DEFAULT);
	}
	/* the parameters open the store, and the model runs */
	assert_int_equal(as_swap_open(&m, store1, &p, err, sizeof(err)), 0);
	as_swap_auto_free(&a);
	assert_int_equal(as_swap_n_ctx(m), 16);
	assert_true(as_swap_sparsity(m) > 0.49f && as_swap_sparsity(m) < 0.51f);
	assert_int_equal(as_swap_forward(m, 1, 0, true), 0);
	as_swap_close(m);
	as_tp_destroy(tp);
}

/* A synthetic cost model: 1 GB of weights, a quarter cached, reads at 1 GB/s, a compute
 * speed that never limits; predicted time per token = 0.75 (1 - s) s. */
static void synthetic(struct as_cost_inputs *in)
{
	memset(in, 0, sizeof(*in));
	in->weight_bytes = 1000000000;
	in->cache_bytes = 250000000;
	in->n_layers = 10;
	in->flash_bps = 1e9;
	in->compute_bps = 1e13;
	in->max_sparsity = 0.7f;
}

/* The latency chooser: the lowest sparsity meeting the target, monotone in the target,
 * never above the maximum, the fastest allowed when nothing meets it; the replayed read
 * cost (interpolated) when given. */
static void test_latency_chooser(void **state)
{
	struct as_cost_inputs in;
	struct as_cost_choice c;
	float prev = 1;

	(void)state;
	synthetic(&in);
	/* 0.75 (1 - s) <= 0.5 from s = 1/3: the grid's 0.35 */
	assert_true(as_cost_choose_latency(&in, 0.5, 0, &c));
	assert_true(fabsf(c.sparsity - 0.35f) < 1e-6f);
	assert_true(1 / c.tokens_per_s <= 0.5);
	assert_true(c.group >= 1);
	/* the step below (0.30) does not meet it */
	as_cost_choose(&in, 0.30f, 0, &c);
	assert_true(1 / c.tokens_per_s > 0.5);
	/* targets from tight to loose: sparsity never rises, never above the maximum */
	for (double t = 0.2; t < 1.0; t += 0.01) {
		bool met = as_cost_choose_latency(&in, t, 2, &c);

		assert_true(c.sparsity <= in.max_sparsity + 1e-6f);
		assert_true(c.sparsity <= prev + 1e-6f);
		assert_int_equal(c.group, 2); /* given: kept */
		assert_int_equal(met, 1 / c.tokens_per_s <= t);
		prev = c.sparsity;
	}
	assert_true(prev == 0); /* 0.75 s at sparsity 0 meets 0.99 */
	/* infeasible: 0.75 * 0.3 = 0.225 s at best; the fastest allowed, max itself even off
	 * the grid */
	in.max_sparsity = 0.62f;
	assert_false(as_cost_choose_latency(&in, 0.1, 0, &c));
	assert_true(c.sparsity == 0.62f);
	in.max_sparsity = 0;
	assert_false(as_cost_choose_latency(&in, 0.1, 0, &c));
	assert_true(c.sparsity == 0);
	/* replayed points: 3 ns per uncached byte at 0, 1 ns at 0.5 and beyond; 0.75e9
	 * uncached bytes: 2.25 s at 0, 1.5 s at 0.25 (interpolated), 0.75 s from 0.5 */
	synthetic(&in);
	in.n_points = 2;
	in.point_sparsity[0] = 0;
	in.point_sparsity[1] = 0.5f;
	in.point_s_per_byte[0] = 3e-9;
	in.point_s_per_byte[1] = 1e-9;
	as_cost_choose(&in, 0.25f, 1, &c);
	assert_true(fabs(c.io_s - 1.5) < 1e-6);
	as_cost_choose(&in, 0.6f, 1, &c);
	assert_true(fabs(c.io_s - 0.75) < 1e-6);
	assert_true(as_cost_choose_latency(&in, 1.6, 1, &c));
	assert_true(fabsf(c.sparsity - 0.25f) < 1e-6f);
	/* equally fast from 0.5 up: the lowest of them */
	assert_false(as_cost_choose_latency(&in, 0.5, 1, &c));
	assert_true(fabsf(c.sparsity - 0.5f) < 1e-6f);
	/* a fixed time per token adds to every setting */
	in.fixed_s = 0.2;
	assert_true(as_cost_choose_latency(&in, 1.6, 1, &c));
	assert_true(fabsf(c.sparsity - 0.30f) < 1e-6f);
}

/* The replay at several sparsities: a positive time per byte at each; group-1 only. */
static void test_replay_read_cost(void **state)
{
	const float sp[3] = { 0, 0.25f, 0.5f };
	const float bad[1] = { 1 };
	double spb[3] = { 0 };

	(void)state;
	assert_int_equal(as_replay_read_cost(store1, sp, 3, 8192, 4, SWAP_BACKEND_PREAD, NULL,
					     0.02, spb), 0);
	for (int i = 0; i < 3; i++)
		assert_true(spb[i] > 0);
	assert_int_equal(as_replay_read_cost(store2, sp, 3, 8192, 4, SWAP_BACKEND_PREAD, NULL,
					     0.02, spb), -EINVAL);
	assert_int_equal(as_replay_read_cost(store1, bad, 1, 8192, 4, SWAP_BACKEND_PREAD, NULL,
					     0.02, spb), -EINVAL);
	assert_int_equal(as_replay_read_cost(store1, sp, 0, 8192, 4, SWAP_BACKEND_PREAD, NULL,
					     0.02, spb), -EINVAL);
}

/* as_swap_auto with a latency target: a loose one gives sparsity 0, an impossible one the
 * fastest allowed (not met), swapping on a group-1 store replays the reads; a given
 * sparsity or levels file is refused. */
static void test_latency_auto(void **state)
{
	struct as_swap_auto_req req = { .sparsity = -1, .max_sparsity = 0.4f,
					.policy_auto = true, .latency_target_s = 1e6 };
	struct as_swap_auto a;
	struct as_swap_params p = { 0 };
	char err[512];

	(void)state;
	p.backend = SWAP_BACKEND_PREAD;
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.min, &p, err, sizeof(err)), 0);
	assert_true(a.latency_met && a.latency_replayed);
	assert_true(p.sparsity == 0);
	assert_true(as_swap_auto_predicted_s(&a) > 0 && as_swap_auto_predicted_s(&a) < 1e6);
	assert_int_equal(a.cost.n_points, 5);
	for (uint32_t i = 1; i < a.cost.n_points; i++) /* monotone after the replay */
		assert_true(a.cost.point_s_per_byte[i] <= a.cost.point_s_per_byte[i - 1]);
	a.req.latency_target_s = 1e-9;
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.min, &p, err, sizeof(err)), 0);
	assert_false(a.latency_met);
	assert_true(p.sparsity <= 0.4f);
	/* the fastest allowed: no sparsity is predicted faster */
	for (float s = 0; s <= 0.4f; s += 0.05f) {
		struct as_cost_choice c;

		as_cost_choose(&a.cost, s, a.choice.group, &c);
		assert_true(c.tokens_per_s <= a.choice.tokens_per_s * (1 + 1e-9));
	}
	/* the feedback's model: the cost model's time at 0, 0.05, ... 0.4 with the group
	 * picked, the gap never moved; a model as_latency_set_model() accepts */
	{
		struct as_latency_model lm;
		struct as_latency lc;

		as_swap_auto_latency_model(&a, &lm);
		assert_int_equal(lm.n, 9);
		for (uint32_t i = 0; i < lm.n; i++) {
			struct as_cost_choice c;

			assert_true(fabsf(lm.s[i] - 0.05f * (float)i) < 1e-6f);
			as_cost_choose(&a.cost, lm.s[i], a.choice.group, &c);
			assert_true(fabs(lm.t[i] * c.tokens_per_s - 1) < 1e-9);
			assert_true(lm.gap[i] == AS_LATENCY_NO_GAP);
		}
		as_latency_init(&lc, 1.0, p.sparsity, 0.4f);
		assert_int_equal(as_latency_set_model(&lc, &lm), 0);
		assert_true(lc.gap == AS_LATENCY_NO_GAP);
		/* a maximum off the grid is the last point */
		a.cost.max_sparsity = 0.12f;
		as_swap_auto_latency_model(&a, &lm);
		assert_int_equal(lm.n, 4);
		assert_true(lm.s[3] == 0.12f && lm.s[2] < 0.12f);
		a.cost.max_sparsity = 0.4f;
	}
	/* everything cached: no replay, still a prediction */
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.full, &p, err, sizeof(err)),
			 0);
	assert_false(a.latency_replayed);
	assert_true(as_swap_auto_predicted_s(&a) > 0);
	as_swap_auto_free(&a);
	/* the sparsity given: refused */
	req.sparsity = 0.2f;
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	err[0] = 0;
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.min, &p, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "latency target"));
	req.sparsity = -1;
	req.levels = lv_good;
	assert_int_equal(as_swap_auto_init(&a, &req, store1, &p, 0, err, sizeof(err)), 0);
	assert_int_equal(as_swap_auto_choose(&a, store1, a.budget.min, &p, err, sizeof(err)),
			 -EINVAL);
	as_swap_auto_free(&a);
}

/* as_cost_experts: the experts' flash bytes per token of each policy from the cached
 * shares, their ordering, the low share and accuracy cost, the time as the larger of the
 * reads and the compute. */
static void test_cost_experts(void **state)
{
	struct as_cost_expert_inputs in = { 0 };
	struct as_cost_expert_est off, lw, lwk, miss, prev = { 0 };

	(void)state;
	in.n_layers = 8;
	in.k = 4;
	in.in_bytes[0] = 69632;
	in.out_bytes[0] = 34816;
	in.in_bytes[1] = 36864;
	in.out_bytes[1] = 18432;
	in.flash_bps = 1e9;
	in.compute_bps = 1e10;
	for (int i = 0; i <= 10; i++) {
		double h = i / 10.0;

		in.in_share[0] = in.out_share[0] = h;
		in.in_share[1] = in.out_share[1] = 0.02;
		as_cost_experts(&in, AS_XPREC_OFF, 0, &off);
		as_cost_experts(&in, AS_XPREC_LOW_WEIGHT, 2, &lw);
		as_cost_experts(&in, AS_XPREC_LOW_WEIGHT, 4, &lwk);
		as_cost_experts(&in, AS_XPREC_MISS, 0, &miss);
		/* off: every chosen expert's uncached high bytes */
		assert_true(fabs(off.bytes - 8 * 4 * (1 - h) * 104448) < 1e-3);
		assert_true(off.low_share == 0 && off.acc == 0);
		/* low-weight with all k high is off */
		assert_true(fabs(lwk.bytes - off.bytes) < 1e-6 && lwk.low_share == 0);
		assert_true(fabs(lw.bytes - 8 * (2 * (1 - h) * 104448 + 2 * 0.98 * 55296)) < 1e-3);
		assert_true(lw.low_share == 0.5 && lw.acc == 0.5);
		/* miss: low when not cached high, its low bytes read unless cached */
		assert_true(fabs(miss.bytes - 8 * 4 * (1 - h) * 0.98 * 55296) < 1e-3);
		assert_true(fabs(miss.low_share - (1 - h)) < 1e-12);
		assert_true(fabs(miss.acc - AS_COST_MISS_ACC * (1 - h)) < 1e-12);
		assert_true(miss.bytes <= off.bytes);
		/* more cached: never more bytes */
		if (i)
			assert_true(off.bytes <= prev.bytes);
		prev = off;
		assert_true(off.s == fmax(off.io_s, off.compute_s));
		assert_true(fabs(off.io_s - off.bytes / 1e9) < 1e-12);
	}
	/* all cached: nothing read, low-weight now reads its low copies */
	assert_true(off.bytes == 0 && miss.bytes == 0 && lw.bytes > 0);
	/* the compute follows the weights, whatever their copy */
	assert_true(lw.compute_s == off.compute_s && miss.compute_s == off.compute_s);
}

/*
 * A store with experts under a latency target (and auto without one): the prediction
 * counts the k experts per layer a token reads whole, not every expert. With the speeds
 * fixed (flash 1 GB/s, the compute far faster) and a group-2 store (no replay) the time
 * per token is the predicted flash bytes at 1 GB/s, which the store's facts bound: at
 * most the k experts of every layer and all the attention, at least the k experts less
 * what the cache can hold of them (k / n_expert of it). The dense model (every expert
 * read, less the cache) predicts more than 1.5 times the upper bound here.
 */
static void test_latency_experts(void **state)
{
	struct as_swap_auto_req req = { .sparsity = -1, .max_sparsity = 0.5f,
					.policy_auto = true, .latency_target_s = 1e6,
					.flash_bps = 1e9, .compute_bps = 1e15 };
	struct as_swap_auto a;
	struct as_swap_params p = { 0 };
	struct as_latency_model lm;
	struct swap_store *st;
	double e, attn = 0, lo, hi, cache;
	uint32_t L;
	char err[512];

	(void)state;
	assert_int_equal(swap_store_open(&st, store_moe, err, sizeof(err)), 0);
	assert_int_equal(swap_store_desc(st)->n_expert, MOE_EXPERTS);
	L = swap_store_desc(st)->n_layers;
	e = (double)swap_store_bundle_bytes(st, SWAP_FFN_IN) +
	    (double)swap_store_bundle_bytes(st, SWAP_FFN_OUT);
	for (int k = 0; k < SWAP_FFN_IN; k++)
		attn += (double)L * swap_store_desc(st)->kinds[k].in *
			(double)swap_store_bundle_bytes(st, (enum swap_kind)k);
	swap_store_close(st);
	p.backend = SWAP_BACKEND_PREAD;
	assert_int_equal(as_swap_auto_init(&a, &req, store_moe, &p, 0, err, sizeof(err)), 0);
	assert_int_equal(a.experts_used, MOE_USED);
	/* a sixteenth of the way from the minimum to everything: most experts not cached */
	assert_int_equal(as_swap_auto_choose(&a, store_moe,
					     a.budget.min + (a.budget.full - a.budget.min) / 16,
					     &p, err, sizeof(err)), 0);
	cache = (double)(a.budget_bytes - a.budget.fixed - a.budget.staging);
	hi = (L * MOE_USED * e + attn) / 1e9 * (1 + 1e-9);
	lo = (L * MOE_USED * e - (double)MOE_USED / MOE_EXPERTS * cache) / 1e9 * (1 - 1e-9);
	assert_true(lo > 0 && lo < hi);
	/* the dense model's premise would be every expert read: far above hi */
	assert_true(((double)a.weight_bytes - cache) / 1e9 > 1.5 * hi);
	assert_true(a.latency_met && !a.latency_replayed && p.sparsity == 0);
	assert_true(a.xmodel && a.n_xcand == 1 && a.xcand[0].x == AS_XPREC_OFF);
	assert_true(as_swap_auto_predicted_s(&a) >= lo && as_swap_auto_predicted_s(&a) <= hi);
	/* the experts' bytes: k of n_expert per layer, less at most k / n of the cache */
	assert_true(a.xcand[0].est.bytes <= L * MOE_USED * e * (1 + 1e-9));
	assert_true(a.xcand[0].est.bytes >= lo * 1e9);
	/* the feedback's model: the same prediction at every sparsity, never more with more
	 * sparsity here (only the attention's columns depend on it) */
	as_swap_auto_latency_model(&a, &lm);
	assert_int_equal(lm.n, 11);
	assert_true(fabs(lm.t[0] - as_swap_auto_predicted_s(&a)) < 1e-12);
	for (uint32_t i = 0; i < lm.n; i++) {
		assert_true(lm.t[i] >= lo && lm.t[i] <= hi);
		assert_true(!i || lm.t[i] <= lm.t[i - 1] * (1 + 1e-9));
	}
	/* a target between the fastest and the slowest: the lowest sparsity meeting it */
	if (lm.t[lm.n - 1] < lm.t[0] * (1 - 1e-6)) {
		a.req.latency_target_s = (lm.t[0] + lm.t[lm.n - 1]) / 2;
		assert_int_equal(as_swap_auto_choose(&a, store_moe, a.budget_bytes, &p, err,
						     sizeof(err)), 0);
		assert_true(a.latency_met && p.sparsity > 0);
		assert_true(as_swap_auto_predicted_s(&a) <= a.req.latency_target_s);
		for (uint32_t i = 0; lm.s[i] < p.sparsity - 1e-6f; i++)
			assert_true(lm.t[i] > a.req.latency_target_s);
	} else {
		print_message("# the attention cached whole: the time flat in the sparsity\n");
	}
	/* out of reach: the fastest allowed, still no less than the experts' reads */
	a.req.latency_target_s = 1e-9;
	assert_int_equal(as_swap_auto_choose(&a, store_moe, a.budget_bytes, &p, err, sizeof(err)),
			 0);
	assert_false(a.latency_met);
	assert_true(as_swap_auto_predicted_s(&a) >= lo && as_swap_auto_predicted_s(&a) <= hi);
	for (uint32_t i = 0; i < lm.n; i++)
		assert_true(as_swap_auto_predicted_s(&a) <= lm.t[i] * (1 + 1e-9));
	/* no target: the sparsity at which what a token reads (the attention's kept columns,
	 * k experts per layer) fits the cache, rounded up to 0.05, at most the cap; the
	 * estimate the same model's at it */
	a.req.latency_target_s = 0;
	for (int i = 0; i < 2; i++) {
		uint64_t b = a.budget.min + (a.budget.full - a.budget.min) * (i ? 3 : 1) / 16;
		double fit, want;

		assert_int_equal(as_swap_auto_choose(&a, store_moe, b, &p, err, sizeof(err)), 0);
		cache = (double)(a.budget_bytes - a.budget.fixed - a.budget.staging);
		fit = 1 - (cache - L * MOE_USED * e) / attn;
		want = fmin(0.5, fmax(0, ceil(fit * 20 - 1e-9) / 20));
		lo = (L * MOE_USED * e - (double)MOE_USED / MOE_EXPERTS * cache) / 1e9 *
		     (1 - 1e-9);
		print_message("# no target, budget %llu: sparsity %.2f (what a token reads fits "
			      "at %.3f)\n", (unsigned long long)b, (double)p.sparsity, fit);
		assert_true(fabs(p.sparsity - want) < 1e-6);
		assert_true(a.xmodel && a.auto_sparsity);
		assert_true(as_swap_auto_predicted_s(&a) >= lo && as_swap_auto_predicted_s(&a) <= hi);
	}
	as_swap_auto_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_context),
		cmocka_unit_test(test_given),
		cmocka_unit_test(test_chosen),
		cmocka_unit_test(test_slice_share),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_gap_and_open),
		cmocka_unit_test(test_latency_chooser),
		cmocka_unit_test(test_replay_read_cost),
		cmocka_unit_test(test_latency_auto),
		cmocka_unit_test(test_cost_experts),
		cmocka_unit_test(test_latency_experts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

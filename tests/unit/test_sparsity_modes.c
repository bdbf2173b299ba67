// SPDX-License-Identifier: MIT
/*
 * Threshold sparsity (`--sparsity-mode threshold`) and head sparsity (`--head-sparsity`),
 * Documentation/swapping.md:
 * - as_threshold_select keeps |x| >= t in index order, any count from 0 to n;
 * - the activation histograms' quantiles (as_thr_hist_add, as_thr_quantile) leave the
 *   asked fraction below the threshold;
 * - levels files with thresholds ("format 2") are read, and malformed ones refused with
 *   one line; a file without them is -ENODATA when thresholds are asked for;
 * - over a generated store with thresholds calibrated like `activeswap calibrate` does
 *   (the dense model's activations), tokens and logits are bit-identical across budgets
 *   100/50/25%, io_uring and pread, preload on/off, 1 and 2 threads and a batched
 *   prompt, every bundle's crc32c checked at use; the number of channels kept varies;
 *   a token keeping every channel (thresholds 0 under an expected level of 0.5) still
 *   runs at 25% and equals sparsity 0; an op keeping none runs;
 * - as_head_skip zeroes the heads whose query has the smallest norm; with head sparsity
 *   over the store, O keeps at most the kept heads' channels and the output is again
 *   bit-identical across budgets, backends, threads and a batched prompt;
 * - the share of each kind held resident (as_swap_resident_share) and a layer's bytes of
 *   it (as_swap_kind_bytes), which calibrate --store weighs the levels by.
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
#include "activeswap/forward.h"
#include "activeswap/model.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "fixtures.h"

#define N_STEPS 6
#define N_CTX 32
#define N_LAYER 4
#define G (N_LAYER * SWAP_KIND_COUNT)

static char dir[512], gguf[600], store[600];
static float head_sparsity; /* of every run's params */

static int setup(void **state)
{
	struct fx_shape sh = { 128, 352, 4, 2, N_LAYER, 0 };

	(void)state;
	if (fx_tmpdir(dir, sizeof(dir), "sparsity_modes"))
		return -1;
	snprintf(gguf, sizeof(gguf), "%s/m.gguf", dir);
	snprintf(store, sizeof(store), "%s/m.asw", dir);
	if (fx_mkmodel(gguf, &sh, GGML_TYPE_Q4_0, 11) ||
	    fx_convert(gguf, store, AS_CONVERT_KEEP, 1, false, false))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fx_rmdir(dir);
}

static void test_select(void **state)
{
	const float x[8] = { 0.5f, -2.0f, 0.25f, -0.5f, 3.0f, 0.0f, -0.0f, NAN };
	uint32_t idx[8];

	(void)state;
	assert_int_equal(as_threshold_select(x, 8, 0.5f, idx), 5);
	assert_int_equal(idx[0], 0); /* equal to t: kept */
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], 3); /* |-0.5| */
	assert_int_equal(idx[3], 4);
	assert_int_equal(idx[4], 7); /* NaN above everything, as in as_topk_select */
	assert_int_equal(as_threshold_select(x, 8, 0.0f, idx), 8);
	assert_int_equal(as_threshold_select(x, 8, -1.0f, idx), 8);
	assert_int_equal(as_threshold_select(x, 7, 10.0f, idx), 0);
	assert_int_equal(as_threshold_select(x, 7, INFINITY, idx), 0);
}

static void test_quantile(void **state)
{
	uint64_t *h = calloc(AS_THR_BINS, sizeof(*h));
	float x[1000], t;
	uint32_t idx[1000];

	(void)state;
	assert_non_null(h);
	assert_true(as_thr_quantile(h, 0.5) == 0.0f); /* empty */
	for (int i = 0; i < 1000; i++)
		x[i] = (i % 2 ? -1.0f : 1.0f) * (float)(i + 1) / 100.0f;
	as_thr_hist_add(h, x, 1000);
	assert_true(as_thr_quantile(h, 0) == 0.0f);
	for (int q = 1; q < 10; q++) {
		size_t kept;

		t = as_thr_quantile(h, q / 10.0);
		kept = as_threshold_select(x, 1000, t, idx);
		/* bins are under 1% wide: within 1% of the values of the asked share */
		assert_true(fabs((double)kept - (1000 - q * 100)) <= 10 + 0.01 * (q * 100));
	}
	/* monotone */
	assert_true(as_thr_quantile(h, 0.3) <= as_thr_quantile(h, 0.6));
	free(h);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void test_levels_file(void **state)
{
	char path[600], err[256], text[2048];
	float lv[2 * SWAP_KIND_COUNT], thr[2 * SWAP_KIND_COUNT];
	static const char *const bad[] = {
		/* a threshold without format 2 */
		"layers 2\n0 attn_in 0.5 0.1\n",
		/* format 2 without one */
		"format 2\nlayers 2\n0 attn_in 0.5\n",
		/* negative, NaN, trailing junk */
		"format 2\nlayers 2\n0 attn_in 0.5 -0.1\n",
		"format 2\nlayers 2\n0 attn_in 0.5 nan\n",
		"format 2\nlayers 2\n0 attn_in 0.5 0.1 x\n",
		/* format after the entries, twice, unknown */
		"layers 2\nformat 2\n",
		"format 2\nformat 2\n",
		"format 3\n",
	};

	(void)state;
	snprintf(path, sizeof(path), "%s/lv.txt", dir);
	snprintf(text, sizeof(text), "# calibrated\nformat 2\nlayers 2\n");
	for (int l = 0; l < 2; l++)
		for (int k = 0; k < SWAP_KIND_COUNT; k++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text),
				 "%d %s 0.%d %g\n", l, swap_kind_name(k), k + 2,
				 0.125 * (l * SWAP_KIND_COUNT + k));
	assert_int_equal(write_file(path, text), 0);
	assert_int_equal(as_swap_load_levels_thr(path, 2, lv, thr, err, sizeof(err)), 0);
	for (int g = 0; g < 2 * SWAP_KIND_COUNT; g++) {
		assert_true(fabsf(lv[g] - (0.2f + 0.1f * (g % SWAP_KIND_COUNT))) < 1e-6f);
		assert_true(thr[g] == 0.125f * g);
	}
	/* the levels alone, as before */
	assert_int_equal(as_swap_load_levels(path, 2, lv, err, sizeof(err)), 0);
	assert_true(fabsf(lv[1] - 0.3f) < 1e-6f);

	/* a Top-K levels file has no thresholds */
	snprintf(text, sizeof(text), "layers 2\n");
	for (int l = 0; l < 2; l++)
		for (int k = 0; k < SWAP_KIND_COUNT; k++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%d %s 0.5\n",
				 l, swap_kind_name(k));
	assert_int_equal(write_file(path, text), 0);
	assert_int_equal(as_swap_load_levels(path, 2, lv, err, sizeof(err)), 0);
	assert_int_equal(as_swap_load_levels_thr(path, 2, lv, thr, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "--sparsity-mode threshold"));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(write_file(path, bad[i]), 0);
		err[0] = 0;
		assert_int_equal(as_swap_load_levels_thr(path, 2, lv, thr, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "lv.txt:"));
		assert_null(strchr(err, '\n'));
	}
	unlink(path);
}

/* ---- over a store --------------------------------------------------------------------- */

struct rec {
	uint64_t *hist; /* [G][AS_THR_BINS] */
};

static int kind_of_op(enum as_op op)
{
	return op == AS_OP_Q ? SWAP_ATTN_IN : op == AS_OP_O ? SWAP_ATTN_OUT :
	       op == AS_OP_GATE ? SWAP_FFN_IN : SWAP_FFN_OUT;
}

static void rec_pre(void *arg, uint32_t layer, enum as_op op, float *x, size_t n)
{
	struct rec *r = arg;

	as_thr_hist_add(r->hist + ((size_t)layer * SWAP_KIND_COUNT + kind_of_op(op)) *
				  AS_THR_BINS, x, n);
}

/* Thresholds at level s of every group, from the dense model's activations over a few
 * tokens (what calibrate does). */
static void calibrate(float s, float *thr)
{
	struct as_model *m;
	struct as_state *st;
	struct rec r = { calloc((size_t)G * AS_THR_BINS, sizeof(uint64_t)) };
	char err[256];

	assert_non_null(r.hist);
	assert_int_equal(as_model_load(&m, gguf, err, sizeof(err)), 0);
	assert_int_equal(as_state_new(&st, m, N_CTX, NULL), 0);
	st->hook.pre = rec_pre;
	st->hook.arg = &r;
	for (uint32_t i = 0; i < 16; i++)
		assert_int_equal(as_forward(st, (int32_t)(i * 37 % 500 + 1), i, false), 0);
	for (int g = 0; g < G; g++) {
		thr[g] = as_thr_quantile(r.hist + (size_t)g * AS_THR_BINS, s);
		assert_true(thr[g] > 0);
	}
	as_state_free(st);
	as_model_free(m);
	free(r.hist);
}

struct runres {
	int32_t tokens[N_STEPS];
	float logits[N_STEPS][512];
	struct as_swap_stats st;
	uint64_t evictions;
};

/* Greedy decode after a 5-token prompt (batched when batch > 1). */
static void decode(const struct as_swap_params *p, struct runres *res)
{
	struct as_swap_model *m;
	char err[512] = "";
	const int32_t prompt[5] = { 1, 17, 300, 42, 99 };
	struct swap_stats es;

	if (as_swap_open(&m, store, p, err, sizeof(err)))
		fail_msg("open: %s", err);
	if (p->batch > 1)
		assert_int_equal(as_swap_forward_batch(m, prompt, 5, 0, true), 0);
	else
		for (uint32_t i = 0; i < 5; i++)
			assert_int_equal(as_swap_forward(m, prompt[i], i, i == 4), 0);
	for (uint32_t s = 0; s < N_STEPS; s++) {
		const float *lg = as_swap_logits(m);
		int32_t best = 0;

		memcpy(res->logits[s], lg, sizeof(res->logits[s]));
		for (int32_t v = 1; v < 512; v++)
			if (lg[v] > lg[best])
				best = v;
		res->tokens[s] = best;
		assert_int_equal(as_swap_forward(m, best, 5 + s, true), 0);
	}
	as_swap_stats(m, &res->st);
	as_swap_io_stats(m, &es);
	res->evictions = es.total.evictions;
	as_swap_close(m);
}

static void params(struct as_swap_params *p, const float *lv, const float *thr)
{
	fx_swap_params(p, N_CTX, 0.5f);
	p->layer_sparsity = lv;
	p->layer_threshold = thr;
	p->head_sparsity = head_sparsity;
}

/* Every budget, backend, preload and thread count give ref's bits; the batched prompt
 * (a Q4_0 store's prompt batch is one product over the union of the selections, not
 * token by token's bits: a threshold turns that rounding into other selections
 * downstream, so no tolerance against ref here; on a generated Q4_0 store eval's PPL
 * with -b 1 and batched differ by 0.6% with thresholds, 2% with head sparsity, KL by 1%
 * and 0.2%) gives the same bits at every budget and backend. */
static void across(const float *lv, const float *thr, const struct runres *ref,
		   struct runres *x, bool check_evict)
{
	static const double pct[] = { 1.0, 0.5, 0.25 };
	static const enum swap_backend_kind be[] = { SWAP_BACKEND_URING, SWAP_BACKEND_PREAD };
	struct as_threadpool *tp2 = as_tp_create(2);
	struct runres *bref = calloc(1, sizeof(*bref));
	bool have_bref = false;
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[256];

	assert_non_null(bref);

	params(&p, lv, thr);
	assert_int_equal(as_swap_budget_info(store, &p, &bi, err, sizeof(err)), 0);
	for (size_t b = 0; b < 2; b++) {
		if (fx_backend_skipped(be[b]))
			continue;
		for (size_t i = 0; i < 3; i++) {
			for (int variant = 0; variant < 3; variant++) {
				params(&p, lv, thr);
				p.backend = be[b];
				p.budget_bytes = (uint64_t)(bi.full * pct[i]);
				if (p.budget_bytes < bi.min)
					p.budget_bytes = bi.min;
				p.no_preload = variant == 1;
				p.tp = variant == 2 ? tp2 : NULL;
				p.batch = variant == 2 ? 5 : 0;
				memset(x, 0, sizeof(*x));
				decode(&p, x);
				if (variant == 2 && !have_bref) {
					*bref = *x;
					have_bref = true;
				}
				{
					const struct runres *r = variant == 2 ? bref : ref;

					assert_memory_equal(x->tokens, r->tokens, sizeof(r->tokens));
					assert_memory_equal(x->logits, r->logits, sizeof(r->logits));
					assert_memory_equal(x->st.kept, r->st.kept,
							    sizeof(r->st.kept));
				}
				assert_true(x->st.checked > 0);
				if (check_evict && pct[i] <= 0.25)
					assert_true(x->evictions > 0);
			}
		}
	}
	free(bref);
	as_tp_destroy(tp2);
}

static void test_store_bit_identical(void **state)
{
	float lv[G], thr[G], thr0[G];
	struct runres *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));
	struct as_swap_params p;
	bool varies = false;

	(void)state;
	assert_non_null(ref);
	assert_non_null(x);
	calibrate(0.5f, thr);
	for (int g = 0; g < G; g++)
		lv[g] = 0.5f;
	params(&p, lv, thr);
	decode(&p, ref);
	/* about half kept, not exactly a Top-K's count */
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		double f = (double)ref->st.kept[k] / (double)ref->st.offered[k];

		assert_true(ref->st.offered[k] > 0);
		assert_true(f > 0.15 && f < 0.85);
	}
	across(lv, thr, ref, x, true);

	/* the thresholds are in effect: Top-K 0.5 computes something else */
	params(&p, lv, NULL);
	decode(&p, x);
	assert_true(memcmp(x->logits, ref->logits, sizeof(ref->logits)) != 0);
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		varies = varies || x->st.kept[k] != ref->st.kept[k];
	assert_true(varies);

	/* every channel kept under an expected 0.5: the budget still holds (25% evicts) and
	 * the output is sparsity 0's through the columns */
	memset(thr0, 0, sizeof(thr0));
	fx_swap_params(&p, N_CTX, 0.0f);
	p.no_rows = true;
	decode(&p, ref);
	across(lv, thr0, ref, x, true);
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		assert_true(x->st.kept[k] == x->st.offered[k]);

	/* no channel of O: an empty selection runs (O's output 0) */
	for (int g = 0; g < G; g++)
		thr0[g] = g % SWAP_KIND_COUNT == SWAP_ATTN_OUT ? 1e30f : thr[g];
	params(&p, lv, thr0);
	decode(&p, ref);
	assert_true(ref->st.kept[SWAP_ATTN_OUT] == 0 && ref->st.offered[SWAP_ATTN_OUT] > 0);
	across(lv, thr0, ref, x, false);

	/* hostile thresholds are refused */
	thr0[3] = NAN;
	params(&p, lv, thr0);
	{
		struct as_swap_model *m = NULL;
		char err[256] = "";

		assert_int_equal(as_swap_open(&m, store, &p, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "threshold"));
		thr0[3] = -1;
		assert_int_equal(as_swap_open(&m, store, &p, err, sizeof(err)), -EINVAL);
		assert_null(m);
	}
	free(ref);
	free(x);
}

static void test_head_skip(void **state)
{
	/* 4 heads of 2: norms 25, 1, 1, NaN */
	const float q[8] = { 3, 4, 1, 0, 0, -1, NAN, 0 };
	float out[8], score[4];

	(void)state;
	for (int i = 0; i < 8; i++)
		out[i] = (float)(i + 1);
	as_head_skip(q, out, 4, 2, 1, score);
	/* the tie goes to the lower head */
	assert_true(out[2] == 0 && out[3] == 0);
	assert_true(out[0] == 1 && out[4] == 5 && out[6] == 7);
	for (int i = 0; i < 8; i++)
		out[i] = (float)(i + 1);
	as_head_skip(q, out, 4, 2, 3, score);
	/* heads 1, 2 then 0; the NaN head never */
	for (int i = 0; i < 6; i++)
		assert_true(out[i] == 0);
	assert_true(out[6] == 7 && out[7] == 8);
}

static void test_store_heads(void **state)
{
	float lv[G], thr[G];
	struct runres *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));
	struct as_swap_params p;

	(void)state;
	assert_non_null(ref);
	assert_non_null(x);
	for (int g = 0; g < G; g++)
		lv[g] = 0.25f;
	/* Top-K at 0.25 with half the heads: O keeps at most half its channels */
	head_sparsity = 0.5f;
	params(&p, lv, NULL);
	decode(&p, ref);
	assert_true(ref->st.kept[SWAP_ATTN_OUT] * 2 <= ref->st.offered[SWAP_ATTN_OUT]);
	assert_true(ref->st.kept[SWAP_ATTN_OUT] > 0);
	/* and with thresholds */
	calibrate(0.4f, thr);
	params(&p, lv, thr);
	decode(&p, ref);
	across(lv, thr, ref, x, true);
	/* the heads are skipped: without, another output */
	head_sparsity = 0;
	params(&p, lv, thr);
	decode(&p, x);
	assert_true(memcmp(x->logits, ref->logits, sizeof(ref->logits)) != 0);
	assert_true(x->st.kept[SWAP_ATTN_OUT] > ref->st.kept[SWAP_ATTN_OUT]);
	/* out of range */
	head_sparsity = 1.0f;
	params(&p, lv, NULL);
	{
		struct as_swap_model *m = NULL;
		char err[256] = "";

		assert_int_equal(as_swap_open(&m, store, &p, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "head sparsity"));
	}
	head_sparsity = 0;
	free(ref);
	free(x);
}

/*
 * as_swap_resident_share and as_swap_kind_bytes (calibrate --store's flash weights): every
 * kind wholly resident when the budget pins everything; under the static hot set a part
 * of some kinds that fits the pool; nothing with a dynamic cache below 100% (the
 * frequency policy); out-of-range kinds 0.
 */
static void test_resident_share(void **state)
{
	struct as_swap_params p;
	struct as_swap_budget bi;
	struct as_swap_model *m;
	struct as_swap_stats st;
	char err[256] = "";
	double held = 0, all = 0, some = 0;

	(void)state;
	params(&p, NULL, NULL);
	assert_int_equal(as_swap_budget_info(store, &p, &bi, err, sizeof(err)), 0);
	p.budget_bytes = bi.full; /* everything pinned at open (a dynamic policy) */
	p.policy = SWAP_POLICY_FREQ;
	if (as_swap_open(&m, store, &p, err, sizeof(err)))
		fail_msg("open: %s", err);
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		assert_true(as_swap_resident_share(m, k) == 1.0);
		assert_true(as_swap_kind_bytes(m, k) > 0);
		all += (double)as_swap_kind_bytes(m, k) * N_LAYER;
	}
	/* every layer's bundles of every kind: the slots that hold everything */
	assert_true(all <= (double)bi.slots_all && all > 0.5 * (double)bi.slots_all);
	assert_true(as_swap_resident_share(m, -1) == 0);
	assert_true(as_swap_resident_share(m, SWAP_KIND_COUNT) == 0);
	assert_true(as_swap_kind_bytes(m, SWAP_KIND_COUNT) == 0);
	as_swap_close(m);

	p.budget_bytes = bi.min + (bi.full - bi.min) / 2;
	p.policy = SWAP_POLICY_STATIC;
	if (as_swap_open(&m, store, &p, err, sizeof(err)))
		fail_msg("open: %s", err);
	as_swap_stats(m, &st);
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		double sh = as_swap_resident_share(m, k);

		assert_true(sh >= 0 && sh <= 1);
		held += sh * (double)as_swap_kind_bytes(m, k) * N_LAYER;
		some += sh;
	}
	assert_true(some > 0 && some < SWAP_KIND_COUNT);
	assert_true(held <= (double)st.pool_bytes);
	as_swap_close(m);

	p.policy = SWAP_POLICY_FREQ;
	if (as_swap_open(&m, store, &p, err, sizeof(err)))
		fail_msg("open: %s", err);
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		assert_true(as_swap_resident_share(m, k) == 0);
	as_swap_close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_levels_file),
		cmocka_unit_test(test_store_bit_identical),
		cmocka_unit_test(test_head_skip),
		cmocka_unit_test(test_store_heads),
		cmocka_unit_test(test_resident_share),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/*
 * as_swap_auto (runtime/swap_auto.c): the context it resolves, the policy, sparsity and
 * group it chooses or keeps, per-layer levels, the gap replay's conditions, errors, and
 * that its parameters open the store. The stores are made with as_mkmodel and as_convert
 * as in test_swaprun.c.
 */
#include <errno.h>
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

static char dir[512], gguf[600], store1[600], store2[600], lv_good[600], lv_bad[600];

/* The tiny shape with dim 128, hidden 352, 4/2 heads, 2 layers, context 48, q4_0, seed 7,
 * converted with layer groups 1 and 2. */
static int make_stores(void)
{
	const struct fx_shape sh = { 128, 352, 4, 2, 2, 48 };

	return fx_mkmodel(gguf, &sh, GGML_TYPE_Q4_0, 7) ||
	       fx_convert(gguf, store1, AS_CONVERT_KEEP, 1, false, false) ||
	       fx_convert(gguf, store2, AS_CONVERT_KEEP, 2, false, false) ? -1 : 0;
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
	if (make_stores())
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_context),
		cmocka_unit_test(test_given),
		cmocka_unit_test(test_chosen),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_gap_and_open),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/*
 * Mixture-of-experts stores (Documentation/store-format.md, "Experts"): generated Mixtral
 * and qwen3moe models converted into stores whose FFN kinds hold one bundle per expert.
 * - greedy tokens and logits of the store are bit-identical for budgets of 100%, 50%,
 *   25% and 12% (the 12% budget holds the resident part and a few experts of a layer,
 *   so experts are evicted and re-read every token), for the io_uring and pread
 *   backends, with the three policies for the attention and for the experts, expert
 *   prediction 1 or 2 layers ahead or off, expert bundles read whole or in pieces (read
 *   buffers smaller than a bundle), and 1 or 2 threads in turn (f32 qwen3moe, and q8_0
 *   Mixtral in layer groups of 2);
 * - at sparsity 0 an f32 store equals the dense runtime on the GGUF: the experts are
 *   computed with the same kernels from the same bytes, the attention from columns
 *   (to rounding, as tests/unit/test_swaprun.c states for dense stores: 1e-4 of the
 *   largest logit), and the greedy tokens are the same;
 * - the expert statistics count every expert computed, all hits at 100%, misses below;
 * - Top-K inside experts (expert_sparsity 0.5): the same bit-identity over budgets,
 *   backends, policies and threads (q8_0 Mixtral); its tokens and logits are the dense
 *   runtime's at the same expert sparsity (as_state_expert_sparsity, to rounding) and
 *   differ from sparsity 0's; a sparsity that keeps every channel is sparsity 0's to the
 *   bit; out-of-range values and models without experts are refused;
 * - the header: version 3 with the expert count, refused when the count and the version
 *   disagree or the count is not the FFN kinds' bundle count;
 * - the gap replay of --gap auto (as_choose_gap_bytes, as_replay_read_cost) reads and
 *   computes on the attention columns only: the expert bundles hold rows, and the
 *   sparse column kernels once read their bytes as Q4_0 column scales (NaN and huge
 *   ones: a signed overflow in the integer kernels' preparation under UBSan);
 * - per-expert precision (convert --expert-types q8_0,q4_0 of the q8_0 Mixtral, store
 *   version 4): with the planner off the tokens and logits are the one-copy store's to
 *   the bit, at 100% and 25%; low-weight computes the second expert of each token from
 *   the low copy, bit-identically for budgets of 100% (table), 50% and 12% (io_uring)
 *   and 25% (pread), differs from off, and with every expert kept high is off to the
 *   bit; miss reads low copies only below 100% (the table holds every high copy: off's
 *   bits), and without prediction gives the same bits on both backends at 25%; at one
 *   budget (twice the minimum, static policy, no prediction) low-weight and miss read
 *   fewer flash bytes than off; the planner on a one-copy store, more experts kept high
 *   than a token uses, and bad type pairs are refused; a version 4 header without low
 *   kinds, or with a low kind whose bundle count is not the expert count, is refused.
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
#include "activeswap/model.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "fixtures.h"
#include "moefx.h"
#include "libswap.h"

#define N_STEPS MOEFX_STEPS
#define N_CTX 24
#define VOCAB MOEFX_VOCAB

static char dir[512], gguf_mx[600], store_mx[600], gguf_qw[600], store_qw[600];
static char gguf_q8[600], store_q8[600], gguf_q4[600], store_q4[600], store_q8p[600];

/* A generated MoE model of n layers (enough that 12% of it is a few experts of each). */
static int mkmoe(const char *out, enum as_arch arch, enum ggml_type type, uint64_t layers,
		 uint64_t seed)
{
	return moefx_mkmoe(out, arch, type, layers, seed, 128, 256,
			   arch == AS_ARCH_QWEN3MOE ? 64 : 256);
}

/* The GGUF at in converted with every expert in high and low (layer groups of 2, as
 * store_q8); err (may be NULL) gets the error line. */
static int convert_pair(const char *in, const char *out, int high, int low, char *err)
{
	struct as_convert_params p;
	char e[512] = "";
	int r;

	as_convert_params_init(&p);
	p.group = 2;
	p.verify = true;
	p.expert_pair = true;
	p.expert_types[0] = high;
	p.expert_types[1] = low;
	r = as_convert(in, out, &p, NULL, err ? err : e, 512);
	if (r && !err)
		fprintf(stderr, "# as_convert %s: %s\n", in, e);
	return r;
}

static int setup(void **state)
{
	(void)state;
	if (fx_tmpdir(dir, sizeof(dir), "moestore"))
		return -1;
	snprintf(gguf_mx, sizeof(gguf_mx), "%s/mx.gguf", dir);
	snprintf(store_mx, sizeof(store_mx), "%s/mx.asw", dir);
	snprintf(gguf_qw, sizeof(gguf_qw), "%s/qw.gguf", dir);
	snprintf(store_qw, sizeof(store_qw), "%s/qw.asw", dir);
	snprintf(gguf_q8, sizeof(gguf_q8), "%s/q8.gguf", dir);
	snprintf(store_q8, sizeof(store_q8), "%s/q8.asw", dir);
	snprintf(gguf_q4, sizeof(gguf_q4), "%s/q4.gguf", dir);
	snprintf(store_q4, sizeof(store_q4), "%s/q4.asw", dir);
	snprintf(store_q8p, sizeof(store_q8p), "%s/q8p.asw", dir);
	if (mkmoe(gguf_mx, AS_ARCH_LLAMA, GGML_TYPE_F32, 8, 11) ||
	    fx_convert(gguf_mx, store_mx, AS_CONVERT_KEEP, 1, false, true) ||
	    mkmoe(gguf_qw, AS_ARCH_QWEN3MOE, GGML_TYPE_F32, 12, 12) ||
	    fx_convert(gguf_qw, store_qw, AS_CONVERT_KEEP, 1, false, true) ||
	    mkmoe(gguf_q8, AS_ARCH_LLAMA, GGML_TYPE_Q8_0, 16, 13) ||
	    fx_convert(gguf_q8, store_q8, AS_CONVERT_KEEP, 2, false, false) ||
	    mkmoe(gguf_q4, AS_ARCH_QWEN3MOE, GGML_TYPE_Q4_0, 4, 5) ||
	    fx_convert(gguf_q4, store_q4, AS_CONVERT_KEEP, 1, false, true) ||
	    convert_pair(gguf_q8, store_q8p, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, NULL))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fx_rmdir(dir);
}

static void budgets_backends(const char *store, float es)
{
	static const enum swap_backend_kind be[] = { SWAP_BACKEND_URING, SWAP_BACKEND_PREAD };
	static const double pct[] = { 1.0, 0.5, 0.25, 0.12 };
	struct moefx_run *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));
	struct as_threadpool *tp2 = as_tp_create(2);
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512];

	assert_non_null(ref);
	assert_non_null(x);
	moefx_params(&p, N_CTX);
	assert_int_equal(as_swap_budget_info(store, &p, &bi, err, sizeof(err)), 0);
	/* 12% must be a real budget here (the minimum is a few experts per layer) */
	assert_true(bi.min <= (uint64_t)(bi.full * 0.12));
	p.backend = SWAP_BACKEND_PREAD;
	p.budget_bytes = bi.full;
	p.expert_sparsity = es;
	moefx_decode(store, &p, ref);
	assert_true(ref->st.total.expert_lookups > 0);
	assert_int_equal(ref->st.total.expert_hits, ref->st.total.expert_lookups);
	for (size_t b = 0; b < 2; b++) {
		const char *why;

		if (be[b] == SWAP_BACKEND_URING && !fx_uring_usable(&why)) {
			print_message("# io_uring half skipped: %s\n", why);
			continue;
		}
		for (size_t i = 0; i < 4; i++) {
			/* the policies and thread counts in turn */
			for (int variant = (int)(i + b) % 3, once = 1; once; once = 0) {
				moefx_params(&p, N_CTX);
				p.backend = be[b];
				p.budget_bytes = (uint64_t)(bi.full * pct[i]);
				p.tp = variant == 1 ? tp2 : NULL;
				p.expert_sparsity = es;
				p.policy = variant == 1 ? SWAP_POLICY_LRU :
					   variant == 2 ? SWAP_POLICY_STATIC : SWAP_POLICY_FREQ;
				/* the expert policy independently of the attention's, and
				 * expert prediction 1 layer ahead, 2 layers ahead or off */
				p.expert_policy = variant == 0 ? SWAP_POLICY_STATIC :
						  variant == 1 ? SWAP_POLICY_FREQ : SWAP_POLICY_LRU;
				p.expert_predict = variant == 1 ? 2 : 0;
				p.no_expert_predict = variant == 2;
				if (variant == 0) /* expert bundles read in 16 KiB pieces */
					p.max_read_bytes = p.max_buffer_bytes = 16384;
				memset(x, 0, sizeof(*x));
				moefx_decode(store, &p, x);
				assert_memory_equal(x->tokens, ref->tokens, sizeof(ref->tokens));
				assert_memory_equal(x->logits, ref->logits, sizeof(ref->logits));
				assert_int_equal(x->st.total.expert_lookups,
						 ref->st.total.expert_lookups);
				assert_true(x->st.checked > 0);
				if (pct[i] <= 0.25)
					assert_true(x->st.total.expert_hits <
						    x->st.total.expert_lookups);
				/* predictions are counted (below 100%: at 100% everything is
				 * pinned unless a policy is static), and only when on;
				 * precision and recall are fractions */
				if (variant == 2)
					assert_int_equal(x->st.total.expert_predicted, 0);
				else if (pct[i] < 1.0)
					assert_true(x->st.total.expert_predicted > 0);
				assert_true(x->st.total.expert_pred_used <=
					    x->st.total.expert_predicted);
				assert_true(x->st.total.expert_pred_used <=
					    x->st.total.expert_pred_needed);
			}
		}
	}
	as_tp_destroy(tp2);
	free(ref);
	free(x);
}

static void test_budgets_backends_bit_identical(void **state)
{
	(void)state;
	budgets_backends(store_qw, 0.0f);
	budgets_backends(store_q8, 0.0f);
	budgets_backends(store_q8, 0.5f); /* Top-K inside experts */
}

/* The store at sparsity 0 and expert sparsity es against the dense runtime on the same
 * GGUF at the same expert sparsity; *out (when given) gets the store's run. */
static void equals_dense(const char *gguf, const char *store, float es, struct moefx_run *out)
{
	struct moefx_run *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct as_swap_params p;

	assert_non_null(a);
	assert_non_null(b);
	moefx_params(&p, N_CTX);
	p.budget_bytes = 0; /* everything */
	p.expert_sparsity = es;
	moefx_decode(store, &p, a);
	moefx_decode_dense(gguf, es, N_CTX, b);
	moefx_assert_close(a, b);
	if (out)
		*out = *a;
	free(a);
	free(b);
}

static void test_sparsity0_equals_dense(void **state)
{
	(void)state;
	equals_dense(gguf_mx, store_mx, 0.0f, NULL);
	equals_dense(gguf_qw, store_qw, 0.0f, NULL);
}

/* Top-K inside experts: the dense runtime's numerics at the same expert sparsity, not
 * sparsity 0's; a level keeping every channel is sparsity 0 to the bit. */
static void test_expert_sparsity(void **state)
{
	struct moefx_run *r0 = calloc(1, sizeof(*r0)), *r5 = calloc(1, sizeof(*r5));
	struct moefx_run *rk = calloc(1, sizeof(*rk));
	struct as_swap_params p;
	double dif = 0;

	(void)state;
	assert_non_null(r0);
	assert_non_null(r5);
	assert_non_null(rk);
	equals_dense(gguf_mx, store_mx, 0.0f, r0);
	equals_dense(gguf_mx, store_mx, 0.5f, r5);
	equals_dense(gguf_qw, store_qw, 0.3f, NULL);
	for (uint32_t s = 0; s < N_STEPS; s++)
		for (int v = 0; v < VOCAB; v++)
			dif += fabs((double)r5->logits[s][v] - r0->logits[s][v]);
	assert_true(dif > 1e-3 * N_STEPS * VOCAB); /* the selection changes the output */
	/* 0.001: round(0.999 * 128) = 128 of dim and 256 of n_ff_exp: every channel */
	moefx_params(&p, N_CTX);
	p.expert_sparsity = 0.001f;
	moefx_decode(store_mx, &p, rk);
	assert_memory_equal(rk->tokens, r0->tokens, sizeof(r0->tokens));
	assert_memory_equal(rk->logits, r0->logits, sizeof(r0->logits));
	free(r0);
	free(r5);
	free(rk);
}

/* Expert sparsity outside [0, 1), or on a model without experts: refused. */
static void test_expert_sparsity_refused(void **state)
{
	static const float bad[] = { -0.1f, 1.0f, 2.0f, NAN };
	struct as_model *dm;
	struct as_state *ds;
	struct as_swap_model *m = NULL;
	struct as_swap_params p;
	char err[512] = "", gd[640], sd[640];

	(void)state;
	assert_int_equal(as_model_load(&dm, gguf_mx, err, sizeof(err)), 0);
	assert_int_equal(as_state_new(&ds, dm, N_CTX, NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(as_state_expert_sparsity(ds, bad[i]), -EINVAL);
		moefx_params(&p, N_CTX);
		p.expert_sparsity = bad[i];
		err[0] = 0;
		assert_int_equal(as_swap_open(&m, store_mx, &p, err, sizeof(err)), -EINVAL);
		assert_null(m);
		assert_non_null(strstr(err, "not in [0, 1)"));
	}
	assert_int_equal(as_state_expert_sparsity(ds, 0.5f), 0);
	assert_int_equal(ds->expert_topk[0], 64);
	assert_int_equal(ds->expert_topk[1], 128);
	assert_int_equal(as_state_expert_sparsity(ds, 0.0f), 0);
	assert_int_equal(ds->expert_topk[0], 0);
	as_state_free(ds);
	as_model_free(dm);
	/* a model without experts: the state and the store refuse it */
	snprintf(gd, sizeof(gd), "%s/dense.gguf", dir);
	snprintf(sd, sizeof(sd), "%s/dense.asw", dir);
	assert_int_equal(fx_mkmodel(gd, NULL, GGML_TYPE_F32, 3), 0);
	assert_int_equal(fx_convert(gd, sd, AS_CONVERT_KEEP, 1, false, false), 0);
	assert_int_equal(as_model_load(&dm, gd, err, sizeof(err)), 0);
	assert_int_equal(as_state_new(&ds, dm, N_CTX, NULL), 0);
	assert_int_equal(as_state_expert_sparsity(ds, 0.5f), -EINVAL);
	as_state_free(ds);
	as_model_free(dm);
	moefx_params(&p, N_CTX);
	p.expert_sparsity = 0.5f;
	assert_int_equal(as_swap_open(&m, sd, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the model has no experts"));
}

static void test_header(void **state)
{
	struct swap_store *st;
	char err[256], bad[700];

	(void)state;
	assert_int_equal(swap_store_open(&st, store_qw, err, sizeof(err)), 0);
	assert_int_equal(swap_store_version(st), 3);
	assert_int_equal(swap_store_desc(st)->n_expert, 16);
	assert_int_equal(swap_store_desc(st)->kinds[SWAP_FFN_IN].in, 16);
	assert_int_equal(swap_store_bundle_bytes(st, SWAP_FFN_IN), 2 * 64 * 128 * 4);
	assert_int_equal(swap_store_bundle_bytes(st, SWAP_FFN_OUT), 128 * 64 * 4);
	swap_store_close(st);
	snprintf(bad, sizeof(bad), "%s/bad.asw", dir);
	/* version 2 with experts, version 3 without, a count the kinds do not have */
	moefx_patch_header(store_qw, bad, 8, 2);
	assert_int_equal(swap_store_open(&st, bad, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "version 2 with 16 experts"));
	moefx_patch_header(store_qw, bad, 388, 0);
	assert_int_equal(swap_store_open(&st, bad, err, sizeof(err)), -EBADMSG);
	moefx_patch_header(store_qw, bad, 388, 8);
	assert_int_equal(swap_store_open(&st, bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expert count 8"));
	/* a version from the future: one line saying so */
	moefx_patch_header(store_qw, bad, 8, SWAP_STORE_VERSION + 1);
	assert_int_equal(swap_store_open(&st, bad, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "a newer activeswap wrote it"));
	/* version 4 without the low kinds' records */
	moefx_patch_header(store_qw, bad, 8, 4);
	assert_int_equal(swap_store_open(&st, bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version 4 without low-precision experts"));
	/* a two-copy store: version 4, its low kinds hold every expert in q4_0 */
	assert_int_equal(swap_store_open(&st, store_q8p, err, sizeof(err)), 0);
	assert_int_equal(swap_store_version(st), 4);
	assert_int_equal(swap_store_n_kinds(st), SWAP_KIND_MAX);
	assert_int_equal(swap_store_desc(st)->kinds[SWAP_FFN_OUT_LOW].in, 8);
	assert_int_equal(swap_store_desc(st)->kinds[SWAP_FFN_IN_LOW].mats[1].type,
			 GGML_TYPE_Q4_0);
	assert_int_equal(swap_store_bundle_bytes(st, SWAP_FFN_IN_LOW), 2 * 256 * 128 / 32 * 18);
	assert_int_equal(swap_store_bundle_bytes(st, SWAP_FFN_IN), 2 * 256 * 128 / 32 * 34);
	swap_store_close(st);
	/* a low kind whose bundle count is not the expert count; version 3 over it */
	moefx_patch_header(store_q8p, bad, 512, 7);
	assert_int_equal(swap_store_open(&st, bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "low-precision expert kinds with 7"));
	moefx_patch_header(store_q8p, bad, 8, 3);
	assert_int_not_equal(swap_store_open(&st, bad, err, sizeof(err)), 0);
	unlink(bad);
}

/* moefx_decode() of path with the precision planner x at a share of the full budget. */
static void decode_prec(const char *path, enum as_expert_precision x, uint32_t high,
			double share, enum swap_backend_kind be, struct moefx_run *res)
{
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512];

	moefx_params(&p, N_CTX);
	p.expert_precision = x;
	p.expert_high = high;
	p.backend = be;
	assert_int_equal(as_swap_budget_info(path, &p, &bi, err, sizeof(err)), 0);
	p.budget_bytes = (uint64_t)(bi.full * share);
	memset(res, 0, sizeof(*res));
	moefx_decode(path, &p, res);
}

static void assert_same_run(const struct moefx_run *a, const struct moefx_run *b)
{
	assert_memory_equal(a->tokens, b->tokens, sizeof(a->tokens));
	assert_memory_equal(a->logits, b->logits, sizeof(a->logits));
}

/* Off: the two-copy store is the one-copy store; all high: off. */
static void test_precision_off_unchanged(void **state)
{
	struct moefx_run *one = calloc(1, sizeof(*one)), *x = calloc(1, sizeof(*x));

	(void)state;
	assert_non_null(one);
	assert_non_null(x);
	decode_prec(store_q8, AS_XPREC_OFF, 0, 1.0, SWAP_BACKEND_PREAD, one);
	for (int i = 0; i < 2; i++) {
		decode_prec(store_q8p, AS_XPREC_OFF, 0, i ? 0.25 : 1.0, SWAP_BACKEND_PREAD, x);
		assert_same_run(x, one);
		assert_int_equal(x->st.total.expert_low + x->st.total.expert_high, 0);
	}
	decode_prec(store_q8p, AS_XPREC_LOW_WEIGHT, 2, 0.25, SWAP_BACKEND_PREAD, x);
	assert_same_run(x, one);
	assert_int_equal(x->st.total.expert_low, 0);
	assert_true(x->st.total.expert_high > 0);
	free(one);
	free(x);
}

/* Low-weight: a function of the router, the same bits whatever the budget and backend. */
static void test_precision_low_weight(void **state)
{
	/* each budget once, the backends alternating (io_uring falls back to pread where
	 * it cannot run), to stay a few decodes */
	static const enum swap_backend_kind be[] = { SWAP_BACKEND_URING, SWAP_BACKEND_PREAD,
						     SWAP_BACKEND_URING };
	static const double share[] = { 0.5, 0.25, 0.12 };
	struct moefx_run *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));
	const char *why;
	bool uring = fx_uring_usable(&why);
	double dif = 0;

	(void)state;
	assert_non_null(ref);
	assert_non_null(x);
	if (!uring)
		print_message("# io_uring runs read with pread: %s\n", why);
	decode_prec(store_q8p, AS_XPREC_LOW_WEIGHT, 0, 1.0, SWAP_BACKEND_PREAD, ref);
	/* k = 2: one high, one low per token and layer */
	assert_true(ref->st.total.expert_low > 0);
	assert_int_equal(ref->st.total.expert_low, ref->st.total.expert_high);
	assert_int_equal(ref->st.total.expert_saved_bytes,
			 ref->st.total.expert_low * (2 * 256 * 128 + 128 * 256) / 32 * 16);
	for (size_t i = 0; i < 3; i++) {
		decode_prec(store_q8p, AS_XPREC_LOW_WEIGHT, 0, share[i],
			    uring ? be[i] : SWAP_BACKEND_PREAD, x);
		assert_same_run(x, ref);
		assert_int_equal(x->st.total.expert_low, ref->st.total.expert_low);
		assert_true(x->st.checked > 0);
	}
	decode_prec(store_q8p, AS_XPREC_OFF, 0, 1.0, SWAP_BACKEND_PREAD, x);
	for (uint32_t s = 0; s < N_STEPS; s++)
		for (int v = 0; v < VOCAB; v++)
			dif += fabs((double)ref->logits[s][v] - x->logits[s][v]);
	assert_true(dif > 0); /* the low copies change the output */
	free(ref);
	free(x);
}

/* Miss: low copies for cold misses under a budget, none when everything is in DRAM. */
static void test_precision_miss(void **state)
{
	struct moefx_run *off = calloc(1, sizeof(*off)), *x = calloc(1, sizeof(*x));

	(void)state;
	assert_non_null(off);
	assert_non_null(x);
	decode_prec(store_q8p, AS_XPREC_OFF, 0, 1.0, SWAP_BACKEND_PREAD, off);
	decode_prec(store_q8p, AS_XPREC_MISS, 0, 1.0, SWAP_BACKEND_PREAD, x);
	assert_same_run(x, off);
	assert_int_equal(x->st.total.expert_low, 0);
	decode_prec(store_q8p, AS_XPREC_MISS, 0, 0.12, SWAP_BACKEND_PREAD, x);
	assert_true(x->st.total.expert_low > 0);
	assert_true(x->st.total.expert_high + x->st.total.expert_low ==
		    off->st.total.expert_lookups / 2);
	/* without prediction the cache's history is the tokens': the same bits on both
	 * backends at one budget (with it, preloads race the router) */
	{
		struct moefx_run *y = calloc(1, sizeof(*y));
		struct as_swap_params p;
		struct as_swap_budget bi;
		const char *why;
		char err[512];

		assert_non_null(y);
		moefx_params(&p, N_CTX);
		p.expert_precision = AS_XPREC_MISS;
		p.no_expert_predict = true;
		assert_int_equal(as_swap_budget_info(store_q8p, &p, &bi, err, sizeof(err)), 0);
		p.budget_bytes = (uint64_t)(bi.full * 0.25);
		p.backend = SWAP_BACKEND_PREAD;
		moefx_decode(store_q8p, &p, x);
		assert_true(x->st.total.expert_low > 0);
		if (fx_uring_usable(&why)) {
			p.backend = SWAP_BACKEND_URING;
			moefx_decode(store_q8p, &p, y);
			assert_same_run(x, y);
			assert_int_equal(x->st.total.expert_low, y->st.total.expert_low);
		} else {
			print_message("# io_uring half skipped: %s\n", why);
		}
		free(y);
	}
	free(off);
	free(x);
}

/* The low copies are really read: at one budget (the static policy caching the attention
 * first, the experts little, prediction off) low-weight and miss read fewer flash bytes
 * than off, by at least a quarter of the high bundles' bytes their low experts did not
 * need (measured: low-weight 98%, miss 53%: a high copy off would have cached is
 * sometimes read low, and miss's high cache fills more slowly). */
static void test_precision_reads_less(void **state)
{
	static const enum as_expert_precision xs[] = { AS_XPREC_LOW_WEIGHT, AS_XPREC_MISS };
	struct moefx_run *off = calloc(1, sizeof(*off)), *x = calloc(1, sizeof(*x));
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512];

	(void)state;
	assert_non_null(off);
	assert_non_null(x);
	moefx_params(&p, N_CTX);
	p.backend = SWAP_BACKEND_PREAD;
	p.no_expert_predict = true;
	p.policy = SWAP_POLICY_STATIC; /* the attention cached first, the experts' minimum */
	p.expert_precision = AS_XPREC_LOW_WEIGHT;
	assert_int_equal(as_swap_budget_info(store_q8p, &p, &bi, err, sizeof(err)), 0);
	/* twice the minimum: every attention bundle cached (at the minimum itself the low
	 * kinds' own minimum costs off's attention cache: low-weight reads more there) */
	p.budget_bytes = 2 * bi.min;
	p.expert_precision = AS_XPREC_OFF;
	moefx_decode(store_q8p, &p, off);
	assert_true(off->st.total.bytes_read > 0);
	for (size_t i = 0; i < 2; i++) {
		double rd, saved;

		p.expert_precision = xs[i];
		moefx_decode(store_q8p, &p, x);
		rd = (double)off->st.total.bytes_read - (double)x->st.total.bytes_read;
		saved = (double)x->st.total.expert_saved_bytes;
		print_message("# %s at %llu bytes: flash %llu vs off's %llu (%.0f fewer; %.0f of "
			      "high copies not needed)\n", as_expert_precision_name(xs[i]),
			      (unsigned long long)p.budget_bytes,
			      (unsigned long long)x->st.total.bytes_read,
			      (unsigned long long)off->st.total.bytes_read, rd, saved);
		assert_true(x->st.total.expert_low > 0);
		assert_true(rd > 0.25 * saved);
	}
	free(off);
	free(x);
}

/* The planner without low copies, too many experts kept high, bad type pairs. */
static void test_precision_refused(void **state)
{
	struct as_swap_model *m = NULL;
	struct as_swap_params p;
	char err[512] = "", out[640];

	(void)state;
	moefx_params(&p, N_CTX);
	p.expert_precision = AS_XPREC_LOW_WEIGHT;
	assert_int_equal(as_swap_open(&m, store_q8, &p, err, sizeof(err)), -EINVAL);
	assert_null(m);
	assert_non_null(strstr(err, "needs a store with low-precision experts"));
	p.expert_high = 3;
	assert_int_equal(as_swap_open(&m, store_q8p, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "3 experts kept high, over the 2"));
	p.expert_high = 0;
	p.expert_precision = AS_XPREC_COUNT;
	assert_int_equal(as_swap_open(&m, store_q8p, &p, err, sizeof(err)), -EINVAL);
	snprintf(out, sizeof(out), "%s/bad.asw", dir);
	/* low not smaller; q2_k's 256-value blocks do not divide dim 128 */
	assert_int_equal(convert_pair(gguf_q8, out, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, err),
			 -EINVAL);
	assert_non_null(strstr(err, "fewer bytes"));
	assert_int_equal(convert_pair(gguf_q8, out, GGML_TYPE_Q4_K, GGML_TYPE_Q2_K, err),
			 -EINVAL);
	assert_non_null(strstr(err, "do not divide dim 128"));
	assert_int_equal(convert_pair(gguf_q8, out, 999, GGML_TYPE_Q4_0, err), -EINVAL);
	assert_int_equal(access(out, F_OK), -1);
}

/* The bytes of the column kinds' channels one replayed layer covers (every kind but the
 * experts', at most 16 MiB + one bundle of each, as costmodel.c replays them). */
static double column_round_bytes(const char *path)
{
	struct swap_store *st;
	char err[256];
	double b = 0;

	assert_int_equal(swap_store_open(&st, path, err, sizeof(err)), 0);
	assert_true(swap_store_desc(st)->n_expert > 0);
	for (int k = SWAP_ATTN_IN; k <= SWAP_ATTN_OUT; k++) {
		uint64_t bb = swap_store_bundle_bytes(st, (enum swap_kind)k);
		uint64_t n = swap_store_desc(st)->kinds[k].in;

		if (n > (16u << 20) / bb)
			n = (16u << 20) / bb + 1;
		b += (double)n * (double)bb;
	}
	swap_store_close(st);
	return b;
}

/* The replay's bytes: whole rounds (2 to 16) of the column kinds, no expert bundle. */
static void replay_bytes_columns_only(const char *path, double keep)
{
	struct as_gap_replay rp;
	uint64_t gap = 1;
	double rb = column_round_bytes(path), rounds;

	assert_int_equal(as_choose_gap_bytes(path, keep, 4, SWAP_BACKEND_PREAD, NULL, 0.05, &gap,
					     &rp), 0);
	rounds = rp.bytes / rb;
	if (fmod(rp.bytes, rb) != 0 || rounds < 2 || rounds > 16)
		fail_msg("%s: the replay covered %g bytes, not 2 to 16 rounds of the column "
			 "kinds' %g", path, rp.bytes, rb);
}

static void test_gap_replay_columns_only(void **state)
{
	static const float sp[2] = { 0, 0.5f };
	double spb[2] = { 0, 0 };

	(void)state;
	/* Mixtral f32: the expert bundles are 16 times the attention's bytes */
	replay_bytes_columns_only(store_mx, 0.5);
	/* qwen3moe q4_0 (as `activeswap mkmodel --arch qwen3moe --type q4_0 --seed 5`):
	 * read as Q4_0 columns its expert rows gave NaN scales before huge ones */
	replay_bytes_columns_only(store_q4, 1.0);
	assert_int_equal(as_replay_read_cost(store_q4, sp, 2, 32768, 4, SWAP_BACKEND_PREAD, NULL,
					     0.05, spb), 0);
	assert_true(spb[0] > 0 && spb[1] > 0);
}

/* as_swap_set_expert_precision: opened off with the low kinds' slots (expert_low_slots)
 * the run is off's, bit for bit; set to low-weight before the first token it is the run
 * opened with low-weight, and back to off off's; refused without the low slots and for
 * more experts high than k. */
static void decode_set(const char *path, bool low_slots, enum as_expert_precision x,
		       uint32_t high, struct moefx_run *res)
{
	struct as_swap_params p;
	struct as_swap_budget bi;
	struct as_swap_model *m;
	char err[512] = "";

	moefx_params(&p, N_CTX);
	p.expert_low_slots = low_slots;
	p.backend = SWAP_BACKEND_PREAD;
	assert_int_equal(as_swap_budget_info(path, &p, &bi, err, sizeof(err)), 0);
	p.budget_bytes = (uint64_t)(bi.full * 0.25);
	memset(res, 0, sizeof(*res));
	if (as_swap_open(&m, path, &p, err, sizeof(err)))
		fail_msg("open %s: %s", path, err);
	if (!low_slots) {
		assert_int_equal(as_swap_set_expert_precision(m, x, high), -EOPNOTSUPP);
		as_swap_close(m);
		return;
	}
	assert_int_equal(as_swap_set_expert_precision(m, x, 3), -EINVAL); /* k is 2 */
	assert_int_equal(as_swap_set_expert_precision(m, AS_XPREC_COUNT, 0), -EINVAL);
	assert_int_equal(as_swap_set_expert_precision(m, AS_XPREC_MISS, 0), 0);
	assert_int_equal(as_swap_set_expert_precision(m, x, high), 0);
	assert_int_equal(as_swap_expert_precision(m), x);
	moefx_greedy(m, res);
}

static void test_precision_set(void **state)
{
	struct moefx_run *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));

	(void)state;
	assert_non_null(ref);
	assert_non_null(x);
	decode_prec(store_q8, AS_XPREC_OFF, 0, 1.0, SWAP_BACKEND_PREAD, ref);
	decode_set(store_q8p, true, AS_XPREC_OFF, 0, x);
	assert_same_run(x, ref);
	assert_int_equal(x->st.total.expert_low, 0);
	assert_true(x->st.total.expert_high > 0); /* counted: the precision could move */
	decode_prec(store_q8p, AS_XPREC_LOW_WEIGHT, 1, 0.25, SWAP_BACKEND_PREAD, ref);
	decode_set(store_q8p, true, AS_XPREC_LOW_WEIGHT, 1, x);
	assert_same_run(x, ref);
	assert_true(x->st.total.expert_low > 0);
	decode_set(store_q8p, false, AS_XPREC_LOW_WEIGHT, 1, x);
	free(ref);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_gap_replay_columns_only),
		cmocka_unit_test(test_sparsity0_equals_dense),
		cmocka_unit_test(test_expert_sparsity),
		cmocka_unit_test(test_expert_sparsity_refused),
		cmocka_unit_test(test_budgets_backends_bit_identical),
		cmocka_unit_test(test_precision_off_unchanged),
		cmocka_unit_test(test_precision_low_weight),
		cmocka_unit_test(test_precision_miss),
		cmocka_unit_test(test_precision_reads_less),
		cmocka_unit_test(test_precision_refused),
		cmocka_unit_test(test_precision_set),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

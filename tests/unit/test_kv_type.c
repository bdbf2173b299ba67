// SPDX-License-Identifier: MIT
/*
 * The KV cache's element type (enum as_kv_type, activeswap/attention.h):
 * - the F16 attention kernels (as_dot_f16, as_axpy_f16) at every SIMD level of the CPU
 *   give exactly what the F32 ones give on the rows converted to F32 (the conversion is
 *   exact, the order of operations the same), for lengths with and without a tail;
 * - an F16 cache holds K and V rounded to nearest even, and the logits stay within a
 *   stated tolerance of the F32 cache's while differing from them (the type is used): on
 *   a generated model with F32 weights, max |f16 - f32| <= 5e-3 of the largest |logit| at
 *   every position of a 40-token prompt (measured 9e-4; stories260K 5e-4). With quantized
 *   weights the gap is that of the activations' Q8_0 rounding instead (an input nudged by
 *   the F16 rounding moves to the next Q8_0 step): about 2e-2 on the Q4_0 model here;
 * - per type, the invariants: 1 and 2 threads, batched and token-by-token prompts, and a
 *   store (the row copy at sparsity 0, and the columns at sparsity 0.3 under budgets of
 *   100% and 50%) against the dense runtime or each other, bit for bit;
 * - the cache's bytes: as_kv_bytes, the store's budget (f32 - f16 = half the f32 cache),
 *   and bad types refused.
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
#include <cmocka.h>

#include "activeswap/convert.h"
#include "activeswap/forward.h"
#include "activeswap/kernels.h"
#include "activeswap/model.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "fixtures.h"

#define NPROMPT 40
#define N_CTX 48
#define TOL 5e-3 /* f16 against f32 logits, of the largest |logit| (F32 weights) */

static char dir[512], gguf[600], gguf_f32[600], store_rows[600], store_cols[600];

static int setup(void **st)
{
	struct fx_shape sh = { 128, 256, 4, 2, 3, 0 };

	(void)st;
	if (fx_tmpdir(dir, sizeof(dir), "kvtype"))
		return -1;
	snprintf(gguf, sizeof(gguf), "%s/m.gguf", dir);
	snprintf(store_rows, sizeof(store_rows), "%s/rows.asw", dir);
	snprintf(store_cols, sizeof(store_cols), "%s/cols.asw", dir);
	snprintf(gguf_f32, sizeof(gguf_f32), "%s/f32.gguf", dir);
	if (fx_mkmodel(gguf, &sh, GGML_TYPE_Q4_0, 11) ||
	    fx_mkmodel(gguf_f32, &sh, GGML_TYPE_F32, 11) ||
	    fx_convert(gguf, store_rows, AS_CONVERT_KEEP, 1, true, false) ||
	    fx_convert(gguf, store_cols, AS_CONVERT_KEEP, 1, false, false))
		return -1;
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	return fx_rmdir(dir);
}

static void test_kernels(void **st)
{
	static const size_t lens[] = { 1, 7, 8, 15, 16, 17, 64, 100, 128 };
	enum as_simd top = as_simd_detect(), was = as_simd_active();
	float a[128], b[128], y1[128], y2[128];
	as_fp16_t h[128];

	(void)st;
	for (int i = 0; i < 128; i++) {
		a[i] = sinf((float)i * 0.7f) * 3.0f;
		h[i] = as_fp32_to_fp16(cosf((float)i * 1.3f) * 2.0f + 0.001f * (float)i);
		b[i] = as_fp16_to_fp32(h[i]);
	}
	for (int lvl = AS_SIMD_SCALAR; lvl <= (int)top; lvl++) {
		as_kernels_force((enum as_simd)lvl);
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			size_t n = lens[k];
			float d16 = as_dot_f16(a, h, n), d32 = as_dot_f32(a, b, n);

			if (memcmp(&d16, &d32, sizeof(d16)))
				fail_msg("%s n %zu: dot f16 %.9g, f32 %.9g", as_simd_name(lvl), n,
					 (double)d16, (double)d32);
			memcpy(y1, a, sizeof(a));
			memcpy(y2, a, sizeof(a));
			as_axpy_f16(y1, 0.37f, h, n);
			as_axpy_f32(y2, 0.37f, b, n);
			assert_memory_equal(y1, y2, sizeof(y1));
			assert_true(y1[0] != a[0]); /* it did something */
		}
	}
	as_kernels_force(was);
}

static struct as_model *load_path(const char *path, bool repack)
{
	struct as_model_opts mo = { .repack = repack };
	struct as_model *m = NULL;
	char err[512] = "";

	if (as_model_load_opts(&m, path, &mo, err, sizeof(err)))
		fail_msg("load: %s", err);
	return m;
}

static struct as_model *load(bool repack)
{
	return load_path(gguf, repack);
}

static struct as_state *state(const struct as_model *m, struct as_threadpool *tp,
			      enum as_kv_type t)
{
	struct as_state *s;

	assert_int_equal(as_state_new(&s, m, N_CTX, tp), 0);
	assert_int_equal(s->kv_type, AS_KV_F32); /* the runtime's default */
	assert_int_equal(as_state_set_kv_type(s, t), 0);
	assert_int_equal(s->kv_type, t);
	return s;
}

static void prompt_of(const struct as_model *m, int32_t *p)
{
	for (int i = 0; i < NPROMPT; i++)
		p[i] = (int32_t)((i * 29 + 5) % (int)m->hp.n_vocab);
}

/* logits after every prompt position, token by token: out[NPROMPT][n_vocab] */
static void run_tokens(struct as_state *s, const int32_t *p, float *out)
{
	size_t nv = s->m->hp.n_vocab;

	for (uint32_t i = 0; i < NPROMPT; i++) {
		assert_int_equal(as_forward(s, p[i], i, true), 0);
		memcpy(out + i * nv, s->logits, nv * sizeof(float));
	}
}

static void test_f16_close_to_f32(void **st)
{
	struct as_model *m = load_path(gguf_f32, false);
	size_t nv = m->hp.n_vocab, kv_dim = (size_t)m->hp.n_head_kv * m->hp.head_dim;
	float *l16 = malloc(NPROMPT * nv * sizeof(float)), *l32 = malloc(NPROMPT * nv * sizeof(float));
	struct as_state *s16 = state(m, NULL, AS_KV_F16), *s32 = state(m, NULL, AS_KV_F32);
	int32_t p[NPROMPT];
	double worst = 0;
	bool differ = false;

	(void)st;
	assert_non_null(l16);
	assert_non_null(l32);
	prompt_of(m, p);
	run_tokens(s16, p, l16);
	run_tokens(s32, p, l32);
	for (int i = 0; i < NPROMPT; i++) {
		double mx = 0, dif = 0;

		for (size_t v = 0; v < nv; v++) {
			double a = l16[i * nv + v], b = l32[i * nv + v];

			if (fabs(b) > mx)
				mx = fabs(b);
			if (fabs(a - b) > dif)
				dif = fabs(a - b);
		}
		differ = differ || dif > 0;
		if (dif / mx > worst)
			worst = dif / mx;
	}
	fprintf(stderr, "# f16 vs f32 cache: max |diff| / max |logit| = %.3g (tolerance %g)\n",
		worst, TOL);
	assert_true(differ);
	assert_true(worst <= TOL);
	/* the cache holds the F32 cache's values rounded to nearest even */
	{
		const as_fp16_t *k16 = s16->k_cache, *v16 = s16->v_cache;
		const float *k32 = s32->k_cache, *v32 = s32->v_cache;

		/* layer 0, position 0: the same inputs, so exactly the rounded values */
		for (size_t j = 0; j < kv_dim; j++) {
			assert_int_equal(k16[j], as_fp32_to_fp16(k32[j]));
			assert_int_equal(v16[j], as_fp32_to_fp16(v32[j]));
		}
	}
	as_state_free(s16);
	as_state_free(s32);
	free(l16);
	free(l32);
	as_model_free(m);
}

/* Per type: 2 threads and batched prompts (chunks of 7 and the whole) give the 1-thread,
 * token-by-token logits bit for bit. */
static void test_invariants(void **st)
{
	struct as_model *m = load(true);
	size_t nv = m->hp.n_vocab;
	struct as_threadpool *tp = as_tp_create(2);
	float *ref = malloc(NPROMPT * nv * sizeof(float)), *x = malloc(NPROMPT * nv * sizeof(float));
	int32_t p[NPROMPT];

	(void)st;
	assert_non_null(tp);
	assert_non_null(ref);
	assert_non_null(x);
	prompt_of(m, p);
	for (int t = AS_KV_F32; t <= AS_KV_F16; t++) {
		struct as_state *a = state(m, NULL, (enum as_kv_type)t);
		struct as_state *b = state(m, tp, (enum as_kv_type)t);
		static const uint32_t bs[] = { 7, NPROMPT };

		run_tokens(a, p, ref);
		run_tokens(b, p, x);
		assert_memory_equal(ref, x, NPROMPT * nv * sizeof(float));
		for (size_t k = 0; k < 2; k++) {
			struct as_state *c = state(m, k ? tp : NULL, (enum as_kv_type)t);

			for (uint32_t p0 = 0; p0 < NPROMPT; p0 += bs[k]) {
				uint32_t n = NPROMPT - p0 < bs[k] ? NPROMPT - p0 : bs[k];

				assert_int_equal(as_forward_batch(c, p + p0, n, p0, true), 0);
				assert_memory_equal(c->logits, ref + (p0 + n - 1) * nv,
						    nv * sizeof(float));
			}
			as_state_free(c);
		}
		as_state_free(a);
		as_state_free(b);
	}
	as_tp_destroy(tp);
	free(ref);
	free(x);
	as_model_free(m);
}

static void swap_params(struct as_swap_params *p, enum as_kv_type t, float sparsity)
{
	fx_swap_params(p, N_CTX, sparsity);
	p->kv_type = t;
}

/* the store's logits after every prompt position: out[NPROMPT][n_vocab] */
static void run_store(const char *path, const struct as_swap_params *p, float *out)
{
	struct as_swap_model *sm;
	char err[512] = "";
	int32_t pr[NPROMPT];
	size_t nv;

	if (as_swap_open(&sm, path, p, err, sizeof(err)))
		fail_msg("open %s: %s", path, err);
	nv = as_swap_n_vocab(sm);
	assert_int_equal(as_swap_kv_type(sm), p->kv_type);
	for (int i = 0; i < NPROMPT; i++)
		pr[i] = (int32_t)((i * 29 + 5) % (int)nv);
	for (uint32_t i = 0; i < NPROMPT; i++) {
		assert_int_equal(as_swap_forward(sm, pr[i], i, true), 0);
		memcpy(out + i * nv, as_swap_logits(sm), nv * sizeof(float));
	}
	as_swap_close(sm);
}

/* Per type: the row copy at sparsity 0 equals the dense runtime; the columns at sparsity
 * 0.3 are the same under 100% and 50% budgets and with 2 threads. */
static void test_store(void **st)
{
	struct as_model *m = load(true);
	size_t nv = m->hp.n_vocab;
	float *ref = malloc(NPROMPT * nv * sizeof(float)), *x = malloc(NPROMPT * nv * sizeof(float));
	struct as_threadpool *tp = as_tp_create(2);
	int32_t p[NPROMPT];

	(void)st;
	assert_non_null(ref);
	assert_non_null(x);
	assert_non_null(tp);
	prompt_of(m, p);
	for (int t = AS_KV_F32; t <= AS_KV_F16; t++) {
		struct as_state *d = state(m, NULL, (enum as_kv_type)t);
		struct as_swap_params sp;
		struct as_swap_budget bi;
		char err[256];

		run_tokens(d, p, ref);
		as_state_free(d);
		swap_params(&sp, (enum as_kv_type)t, 0.0f);
		run_store(store_rows, &sp, x);
		assert_memory_equal(ref, x, NPROMPT * nv * sizeof(float));

		swap_params(&sp, (enum as_kv_type)t, 0.3f);
		run_store(store_cols, &sp, ref);
		assert_int_equal(as_swap_budget_info(store_cols, &sp, &bi, err, sizeof(err)), 0);
		sp.budget_bytes = bi.fixed + (bi.full - bi.fixed) / 2;
		if (sp.budget_bytes < bi.min)
			sp.budget_bytes = bi.min;
		assert_true(sp.budget_bytes < bi.full);
		sp.tp = tp;
		run_store(store_cols, &sp, x);
		assert_memory_equal(ref, x, NPROMPT * nv * sizeof(float));
	}
	as_tp_destroy(tp);
	free(ref);
	free(x);
	as_model_free(m);
}

static void test_bytes(void **st)
{
	struct as_model *m = load(false);
	const struct as_hparams *hp = &m->hp;
	uint64_t f32 = 2ull * hp->n_layer * N_CTX * hp->n_head_kv * hp->head_dim * 4;
	struct as_swap_params sp;
	struct as_swap_budget b16, b32;
	struct as_swap_model *sm;
	struct as_state *s;
	char err[256] = "";

	(void)st;
	assert_int_equal(as_kv_bytes(hp, N_CTX, AS_KV_F32), f32);
	assert_int_equal(as_kv_bytes(hp, N_CTX, AS_KV_F16), f32 / 2);
	swap_params(&sp, AS_KV_F16, 0.3f);
	assert_int_equal(as_swap_budget_info(store_cols, &sp, &b16, err, sizeof(err)), 0);
	swap_params(&sp, AS_KV_F32, 0.3f);
	assert_int_equal(as_swap_budget_info(store_cols, &sp, &b32, err, sizeof(err)), 0);
	assert_int_equal(b32.fixed - b16.fixed, f32 / 2);
	assert_int_equal(b32.full - b16.full, f32 / 2);
	assert_int_equal(as_swap_open(&sm, store_cols, &sp, err, sizeof(err)), 0);
	assert_int_equal(as_swap_kv_bytes(sm), f32);
	as_swap_close(sm);
	/* bad types: refused, the state keeps its cache */
	sp.kv_type = (enum as_kv_type)2;
	assert_int_equal(as_swap_open(&sm, store_cols, &sp, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "KV cache type"));
	assert_int_equal(as_state_new(&s, m, N_CTX, NULL), 0);
	assert_int_equal(as_state_set_kv_type(s, (enum as_kv_type)7), -EINVAL);
	assert_int_equal(s->kv_type, AS_KV_F32);
	assert_int_equal(as_forward(s, 1, 0, true), 0);
	as_state_free(s);
	assert_int_equal(as_kv_type_parse("f16"), AS_KV_F16);
	assert_int_equal(as_kv_type_parse("f32"), AS_KV_F32);
	assert_int_equal(as_kv_type_parse("F16"), -1);
	assert_int_equal(as_kv_type_parse("q8_0"), -1);
	assert_string_equal(as_kv_type_name(AS_KV_F16), "f16");
	as_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernels),
		cmocka_unit_test(test_f16_close_to_f32),
		cmocka_unit_test(test_invariants),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_bytes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

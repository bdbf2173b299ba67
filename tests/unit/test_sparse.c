// SPDX-License-Identifier: MIT
/*
 * Sparse gather-accumulate kernels and Top-K selection (runtime/sparse*.c).
 *
 * - every level against a double-precision dequantize-then-accumulate reference, with a
 *   tolerance of 1e-5 * sum |x_i * w_ir| per element (float rounding of n terms);
 * - small-integer data (every partial sum exact in float): all levels bit-identical;
 * - results independent of the row split (threads) and bit-exact across calls;
 * - the padded tail of a column never reaches y beyond r1;
 * - all channels selected (sparsity 0) equals the dense matrix-vector product;
 * - Top-K against a brute-force selection, with ties.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rs >> 32);
}

static float frand(void)
{
	return (float)(rnd() >> 8) * 0x1p-24f * 2.0f - 1.0f;
}

static const enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16,
					GGML_TYPE_Q8_0, GGML_TYPE_Q4_0 };
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static size_t padded(enum ggml_type t, size_t out)
{
	size_t be = as_type_block_elems(t);

	return (out + be - 1) / be * be;
}

static size_t col_bytes(enum ggml_type t, size_t out)
{
	return padded(t, out) / as_type_block_elems(t) * as_type_block_bytes(t);
}

/* n random columns of out values (padded with zeros); deq gets the dequantized values. */
static uint8_t *make_cols(enum ggml_type t, size_t out, size_t n, bool exact, float *deq,
			  const void **ptrs)
{
	size_t p = padded(t, out), cb = col_bytes(t, out);
	uint8_t *c = malloc(cb * n);
	float *tmp = calloc(p, sizeof(float));

	assert_non_null(c);
	assert_non_null(tmp);
	for (size_t i = 0; i < n; i++) {
		for (size_t r = 0; r < out; r++) {
			if (exact) {
				/* integers with one value of 127 per block: q8_0 scale 1 */
				int v = (int)(rnd() % 15) - 7;

				tmp[r] = (float)(r % 32 == 0 ? 127 : v);
				if (t == GGML_TYPE_Q4_0)
					tmp[r] = (float)(r % 32 == 0 ? -8 : (int)(rnd() % 15) - 7);
			} else {
				tmp[r] = frand();
			}
		}
		assert_int_equal(as_quant_row(t, tmp, c + i * cb, p), 0);
		as_dequant_row(t, c + i * cb, deq + i * p, p);
		ptrs[i] = c + i * cb;
	}
	free(tmp);
	return c;
}

static void check_type(enum ggml_type t, size_t out, size_t n, bool exact)
{
	size_t p = padded(t, out);
	float *deq = malloc(sizeof(float) * p * n), *x = malloc(sizeof(float) * n);
	const void **ptrs = malloc(sizeof(void *) * n);
	uint8_t *cols = make_cols(t, out, n, exact, deq, ptrs);
	float *y0 = malloc(sizeof(float) * (out + 8)), *ys[3];

	for (size_t i = 0; i < n; i++)
		x[i] = exact ? (float)((int)(rnd() % 9) - 4) : frand() * 3.0f;
	for (size_t r = 0; r < out; r++)
		y0[r] = exact ? (float)((int)(rnd() % 100) - 50) : frand();
	for (int l = 0; l < 3; l++) {
		ys[l] = malloc(sizeof(float) * (out + 8));
		memcpy(ys[l], y0, sizeof(float) * out);
		for (int k = 0; k < 8; k++)
			ys[l][out + k] = 1234.5f; /* sentinel after r1 */
		as_sparse_axpy_level((enum as_simd)l, t, ys[l], 0, out, (const void *const *)ptrs,
				     x, n);
		for (int k = 0; k < 8; k++)
			assert_true(ys[l][out + k] == 1234.5f);
	}
	for (size_t r = 0; r < out; r++) {
		double ref = y0[r], mag = fabs(y0[r]);

		for (size_t i = 0; i < n; i++) {
			ref += (double)x[i] * deq[i * p + r];
			mag += fabs((double)x[i] * deq[i * p + r]);
		}
		for (int l = 0; l < 3; l++) {
			if (exact) {
				if (ys[l][r] != (float)ref)
					fail_msg("%s out %zu level %d row %zu: %.9g != %.9g",
						 as_type_name(t), out, l, r, ys[l][r], ref);
			} else if (fabs(ys[l][r] - ref) > 1e-5 * mag + 1e-30) {
				fail_msg("%s out %zu level %d row %zu: %.9g vs %.9g (mag %g)",
					 as_type_name(t), out, l, r, ys[l][r], ref, mag);
			}
		}
	}
	/* row split at block multiples (as threads do) is bit-exact with one call */
	{
		float *yz = malloc(sizeof(float) * out);
		size_t cut = out / 2 / 32 * 32;

		memcpy(yz, y0, sizeof(float) * out);
		as_sparse_axpy(t, yz, 0, cut, (const void *const *)ptrs, x, n);
		as_sparse_axpy(t, yz, cut, out, (const void *const *)ptrs, x, n);
		assert_memory_equal(yz, ys[as_sparse_level()], sizeof(float) * out);
		free(yz);
	}
	for (int l = 0; l < 3; l++)
		free(ys[l]);
	free(y0);
	free(cols);
	free(deq);
	free(x);
	free(ptrs);
}

static void test_levels_vs_reference(void **state)
{
	static const size_t outs[] = { 32, 64, 172, 288, 1000 };
	static const size_t ns[] = { 1, 3, 4, 7, 64 };

	(void)state;
	for (size_t ti = 0; ti < N_TYPES; ti++)
		for (size_t oi = 0; oi < 5; oi++)
			for (size_t ni = 0; ni < 5; ni++)
				check_type(types[ti], outs[oi], ns[ni], false);
}

static void test_exact_data_bit_identical(void **state)
{
	(void)state;
	for (size_t ti = 0; ti < N_TYPES; ti++) {
		check_type(types[ti], 96, 9, true);
		check_type(types[ti], 172, 33, true);
	}
}

/* All channels selected == dense matvec of the dequantized matrix. */
static void test_all_channels_equals_dense(void **state)
{
	const size_t out = 172, in = 96;

	(void)state;
	for (size_t ti = 0; ti < N_TYPES; ti++) {
		enum ggml_type t = types[ti];
		size_t p = padded(t, out);
		float *deq = malloc(sizeof(float) * p * in), *x = malloc(sizeof(float) * in);
		float *W = malloc(sizeof(float) * out * in), *yd = malloc(sizeof(float) * out);
		float *ys = calloc(out, sizeof(float));
		const void **ptrs = malloc(sizeof(void *) * in);
		uint8_t *cols = make_cols(t, out, in, false, deq, ptrs);

		for (size_t j = 0; j < in; j++)
			x[j] = frand();
		for (size_t r = 0; r < out; r++)
			for (size_t j = 0; j < in; j++)
				W[r * in + j] = deq[j * p + r];
		as_matvec(NULL, GGML_TYPE_F32, W, out, in, x, yd);
		as_sparse_axpy(t, ys, 0, out, (const void *const *)ptrs, x, in);
		for (size_t r = 0; r < out; r++) {
			double mag = 0;

			for (size_t j = 0; j < in; j++)
				mag += fabs((double)x[j] * W[r * in + j]);
			assert_true(fabs((double)ys[r] - yd[r]) <= 2e-6 * mag + 1e-30);
		}
		free(deq);
		free(x);
		free(W);
		free(yd);
		free(ys);
		free(ptrs);
		free(cols);
	}
}

static void test_bad_args_are_noops(void **state)
{
	float y[64] = { 0 }, x[1] = { 1 };
	float c[64];
	const void *p[1] = { c };

	(void)state;
	for (int i = 0; i < 64; i++)
		c[i] = 1;
	as_sparse_axpy(GGML_TYPE_Q4_K, y, 0, 64, p, x, 1);
	as_sparse_axpy(GGML_TYPE_Q8_0, y, 1, 64, p, x, 1); /* r0 not a block multiple */
	as_sparse_axpy(GGML_TYPE_F32, y, 10, 10, p, x, 1);
	as_sparse_axpy(GGML_TYPE_F32, y, 0, 64, p, x, 0);
	for (int i = 0; i < 64; i++)
		assert_true(y[i] == 0);
	assert_false(as_sparse_type_ok(GGML_TYPE_Q6_K));
	assert_true(as_sparse_type_ok(GGML_TYPE_Q4_0));
}

static void brute_topk(const float *x, size_t n, size_t k, uint32_t *idx)
{
	char *used = calloc(n, 1);

	for (size_t m = 0; m < k; m++) {
		size_t best = n;

		for (size_t i = 0; i < n; i++)
			if (!used[i] && (best == n || fabsf(x[i]) > fabsf(x[best])))
				best = i;
		used[best] = 1;
	}
	for (size_t i = 0, m = 0; i < n; i++)
		if (used[i])
			idx[m++] = (uint32_t)i;
	free(used);
}

static void test_topk(void **state)
{
	(void)state;
	for (int it = 0; it < 400; it++) {
		size_t n = 1 + rnd() % 300, k = rnd() % (n + 2);
		float *x = malloc(sizeof(float) * n), *sc = malloc(sizeof(float) * n);
		uint32_t *a = malloc(4 * (n + 1)), *b = malloc(4 * (n + 1));
		size_t kk = k > n ? n : k, m;

		for (size_t i = 0; i < n; i++)
			x[i] = it % 3 ? frand() : (float)((int)(rnd() % 7) - 3); /* ties */
		m = as_topk_select(x, n, k, a, sc);
		assert_int_equal(m, kk);
		brute_topk(x, n, kk, b);
		assert_memory_equal(a, b, 4 * kk);
		free(x);
		free(sc);
		free(a);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_vs_reference),
		cmocka_unit_test(test_exact_data_bit_identical),
		cmocka_unit_test(test_all_channels_equals_dense),
		cmocka_unit_test(test_bad_args_are_noops),
		cmocka_unit_test(test_topk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

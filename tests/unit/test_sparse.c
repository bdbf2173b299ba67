// SPDX-License-Identifier: MIT
/*
 * Sparse gather-accumulate kernels and Top-K selection (runtime/sparse*.c).
 *
 * - every level against a double-precision dequantize-then-accumulate reference, with a
 *   tolerance of 1e-5 * sum |x_i * w_ir| per element (float rounding of n terms), plus for
 *   Q4_0 the bound of its int8 activations; Q4_0 columns decoded by the documented layout,
 *   and every level bit-identical to the kernel's definition re-implemented here;
 * - small-integer data (every partial sum exact in float): all levels bit-identical;
 * - results independent of the row split (threads) and bit-exact across calls;
 * - the padded tail of a column never reaches y beyond r1;
 * - all channels selected (sparsity 0) equals the dense matrix-vector product;
 * - Top-K against a brute-force selection, with ties.
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

#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"

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

static size_t col_bytes(enum ggml_type t, size_t out)
{
	return as_col_bytes(t, out);
}

/* ---- the Q4_0 column encoding and kernel semantics, written from the header's text ---- */

static float half_at(const uint8_t *col, size_t b)
{
	uint16_t h;

	memcpy(&h, col + 2 * b, 2);
	return as_fp16_to_fp32(h);
}

/* 4-bit code of row r of a Q4_0 column of `out` rows */
static int ref_code(const uint8_t *col, size_t out, size_t r)
{
	size_t p = (out + 127) / 128 * 128, c = r / 128, rr = r % 128;
	size_t hi = rr / 64, w = rr % 64, j = w / 16, l = (w % 16) / 4, t = w % 4;
	uint8_t byte = col[p / 32 * 2 + 64 * c + 16 * l + 4 * j + t];

	return hi ? byte >> 4 : byte & 15;
}

/*
 * y[r] after the Q4_0 kernel, computed from the definition in activeswap/sparse.h; also
 * the bound on |y - exact sum| that the int8 rounding of the activations allows.
 */
static void ref_q4(const uint8_t *const *cols, const float *x, size_t n, size_t out,
		   size_t r, float y0, float *y, double *bound)
{
	float yr = y0;
	double bd = 0;

	for (size_t g = 0; g < n; g += 32) {
		size_t m = n - g < 32 ? n - g : 32;
		float a[32], amax = 0, s, inv;
		int32_t acc = 0;
		int cs = 0;

		for (size_t i = 0; i < m; i++) {
			a[i] = x[g + i] * half_at(cols[g + i], r / 32);
			if (fabsf(a[i]) > amax)
				amax = fabsf(a[i]);
		}
		s = amax / 127.0f;
		inv = amax > 0 ? 127.0f / amax : 0.0f;
		for (size_t i = 0; i < m; i++) {
			int c = ref_code(cols[g + i], out, r) - 8;

			acc += (int32_t)lrintf(a[i] * inv) * c;
			cs += abs(c);
		}
		yr = fmaf(s, (float)acc, yr);
		bd += (double)amax / 254.0 * cs * 1.0001;
	}
	*y = yr;
	*bound = bd;
}

/* n random columns of out values; deq gets the decoded values (stride out). */
static uint8_t *make_cols(enum ggml_type t, size_t out, size_t n, bool exact, float *deq,
			  const void **ptrs)
{
	size_t cb = col_bytes(t, out);
	uint8_t *c = malloc(cb * n);
	float *tmp = calloc(out, sizeof(float));

	assert_non_null(c);
	assert_non_null(tmp);
	assert_true(cb > 0);
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
		assert_int_equal(as_col_encode(t, tmp, out, c + i * cb), 0);
		as_col_decode(t, c + i * cb, out, deq + i * out);
		ptrs[i] = c + i * cb;
		if (t == GGML_TYPE_Q4_0) {
			/* the layout as documented; codes within a step of the input (ggml clamps +8 to 7) */
			for (size_t r = 0; r < out; r++) {
				float d = half_at(c + i * cb, r / 32);

				assert_true(deq[i * out + r] ==
					    d * (float)(ref_code(c + i * cb, out, r) - 8));
				if (!(fabsf(deq[i * out + r] - tmp[r]) <= fabsf(d) * 1.01f + 1e-6f))
					fail_msg("q4_0 out %zu row %zu: %g encoded as %g (d %g)", out,
						 r, tmp[r], deq[i * out + r], d);
			}
		}
	}
	free(tmp);
	return c;
}

static void check_type(enum ggml_type t, size_t out, size_t n, bool exact)
{
	float *deq = malloc(sizeof(float) * out * n), *x = malloc(sizeof(float) * n);
	const void **ptrs = malloc(sizeof(void *) * n);
	uint8_t *cols = make_cols(t, out, n, exact, deq, ptrs);
	float *y0 = malloc(sizeof(float) * (out + 8)), *ys[3];
	bool q4 = t == GGML_TYPE_Q4_0;

	for (size_t i = 0; i < n; i++)
		x[i] = exact ? (float)((int)(rnd() % 9) - 4) : frand() * 3.0f;
	for (size_t r = 0; r < out; r++)
		y0[r] = exact ? (float)((int)(rnd() % 100) - 50) : frand();
	for (int l = 0; l < 3; l++) {
		ys[l] = malloc(sizeof(float) * (out + 8));
		memcpy(ys[l], y0, sizeof(float) * out);
		for (int k = 0; k < 8; k++)
			ys[l][out + k] = 1234.5f; /* sentinel after r1 */
		as_sparse_axpy_level((enum as_simd)l, t, ys[l], 0, out, out,
				     (const void *const *)ptrs, x, n);
		for (int k = 0; k < 8; k++)
			assert_true(ys[l][out + k] == 1234.5f);
	}
	for (size_t r = 0; r < out; r++) {
		double ref = y0[r], mag = fabs(y0[r]), bound = 0;

		for (size_t i = 0; i < n; i++) {
			ref += (double)x[i] * deq[i * out + r];
			mag += fabs((double)x[i] * deq[i * out + r]);
		}
		if (q4) {
			float yq;

			ref_q4((const uint8_t *const *)ptrs, x, n, out, r, y0[r], &yq, &bound);
			for (int l = 0; l < 3; l++)
				if (ys[l][r] != yq)
					fail_msg("q4_0 out %zu n %zu level %d row %zu: %.9g, by "
						 "definition %.9g", out, n, l, r, ys[l][r], yq);
		}
		for (int l = 0; l < 3; l++) {
			if (exact && !q4) {
				if (ys[l][r] != (float)ref)
					fail_msg("%s out %zu level %d row %zu: %.9g != %.9g",
						 as_type_name(t), out, l, r, ys[l][r], ref);
			} else if (fabs(ys[l][r] - ref) > bound + 1e-5 * mag + 1e-30) {
				fail_msg("%s out %zu level %d row %zu: %.9g vs %.9g (mag %g, bound %g)",
					 as_type_name(t), out, l, r, ys[l][r], ref, mag, bound);
			}
		}
	}
	/* row split at the alignment (as threads do) is bit-exact with one call */
	{
		float *yz = malloc(sizeof(float) * out);
		size_t al = as_col_align(t), cut = out / 2 / al * al;

		memcpy(yz, y0, sizeof(float) * out);
		as_sparse_axpy(t, yz, 0, cut, out, (const void *const *)ptrs, x, n);
		as_sparse_axpy(t, yz, cut, out, out, (const void *const *)ptrs, x, n);
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
	static const size_t outs[] = { 32, 64, 172, 288, 1000, 2500 };
	static const size_t ns[] = { 1, 3, 4, 7, 33, 64, 100 };

	(void)state;
	for (size_t ti = 0; ti < N_TYPES; ti++)
		for (size_t oi = 0; oi < 6; oi++)
			for (size_t ni = 0; ni < 7; ni++)
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
		float *deq = malloc(sizeof(float) * out * in), *x = malloc(sizeof(float) * in);
		float *W = malloc(sizeof(float) * out * in), *yd = malloc(sizeof(float) * out);
		float *ys = calloc(out, sizeof(float));
		const void **ptrs = malloc(sizeof(void *) * in);
		uint8_t *cols = make_cols(t, out, in, false, deq, ptrs);

		for (size_t j = 0; j < in; j++)
			x[j] = frand();
		for (size_t r = 0; r < out; r++)
			for (size_t j = 0; j < in; j++)
				W[r * in + j] = deq[j * out + r];
		as_matvec(NULL, GGML_TYPE_F32, W, out, in, x, yd);
		as_sparse_axpy(t, ys, 0, out, out, (const void *const *)ptrs, x, in);
		for (size_t r = 0; r < out; r++) {
			double mag = 0, bound = 0;
			float yq;

			for (size_t j = 0; j < in; j++)
				mag += fabs((double)x[j] * W[r * in + j]);
			if (t == GGML_TYPE_Q4_0)
				ref_q4((const uint8_t *const *)ptrs, x, in, out, r, 0.0f, &yq,
				       &bound);
			assert_true(fabs((double)ys[r] - yd[r]) <= bound + 2e-6 * mag + 1e-30);
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
	as_sparse_axpy(GGML_TYPE_Q4_K, y, 0, 64, 64, p, x, 1);
	as_sparse_axpy(GGML_TYPE_Q8_0, y, 1, 64, 64, p, x, 1); /* r0 not a block multiple */
	as_sparse_axpy(GGML_TYPE_Q4_0, y, 32, 64, 64, p, x, 1); /* not a chunk multiple */
	as_sparse_axpy(GGML_TYPE_F32, y, 10, 10, 64, p, x, 1);
	as_sparse_axpy(GGML_TYPE_F32, y, 0, 64, 64, p, x, 0);
	as_sparse_axpy(GGML_TYPE_F32, y, 0, 64, 63, p, x, 1); /* r1 > out */
	for (int i = 0; i < 64; i++)
		assert_true(y[i] == 0);
	assert_false(as_sparse_type_ok(GGML_TYPE_Q6_K));
	assert_true(as_sparse_type_ok(GGML_TYPE_Q4_0));
}

/* as_col_bytes' overflow guard and the encoder's/decoder's argument checks */
static void test_col_args(void **state)
{
	float v[40], d[40];
	uint8_t c[256];

	(void)state;
	for (int i = 0; i < 40; i++)
		v[i] = (float)i;
	for (size_t i = 0; i < N_TYPES; i++) {
		enum ggml_type t = types[i];

		assert_int_equal(as_col_bytes(t, 0), 0);
		assert_int_equal(as_col_bytes(t, SIZE_MAX), 0);
		assert_int_equal(as_col_bytes(t, SIZE_MAX / 2 + 1), 0);
		assert_true(as_col_bytes(t, 40) <= sizeof(c));
		assert_int_equal(as_col_encode(t, v, 0, c), -EINVAL);
		assert_int_equal(as_col_encode(t, v, SIZE_MAX, c), -EINVAL);
		assert_int_equal(as_col_encode(t, NULL, 40, c), -EINVAL);
		assert_int_equal(as_col_encode(t, v, 40, NULL), -EINVAL);
		assert_int_equal(as_col_encode(t, v, 40, c), 0);
		for (int r = 0; r < 40; r++)
			d[r] = -1.0f;
		as_col_decode(t, c, SIZE_MAX, d); /* no-ops: must not touch d */
		as_col_decode(t, c, 0, d);
		as_col_decode(t, NULL, 40, d);
		for (int r = 0; r < 40; r++)
			assert_true(d[r] == -1.0f);
	}
	assert_int_equal(as_col_bytes(GGML_TYPE_Q2_K, 256), 0);
	assert_int_equal(as_col_encode(GGML_TYPE_Q2_K, v, 40, c), -EINVAL);
	/* K-quant columns hold codes only (test_kqstore.c): no encoding from values */
	assert_int_equal(as_col_bytes(GGML_TYPE_Q6_K, 256), 192);
	assert_int_equal(as_col_encode(GGML_TYPE_Q6_K, v, 40, c), -EINVAL);
}

/*
 * Q4_0 columns with infinite or NaN scales (a hostile store's bytes): every level runs
 * without undefined behaviour (the sanitizer build checks) and gives the scalar result bit
 * for bit; only the rows of the bad block may be non-finite (with an infinite scale they
 * are).
 */
static void test_q4_nonfinite_scales(void **state)
{
	enum { OUT = 256, N = 40 };
	static const uint16_t bad[] = { 0x7c00, 0xfc00, 0x7e00 }; /* +inf, -inf, NaN */
	size_t cb = as_col_bytes(GGML_TYPE_Q4_0, OUT);
	uint8_t *c = malloc(cb * N);
	const void *p[N];
	float v[OUT], x[N], y[OUT], ys[OUT];

	(void)state;
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		for (int i = 0; i < N; i++) {
			for (int r = 0; r < OUT; r++)
				v[r] = frand();
			assert_int_equal(as_col_encode(GGML_TYPE_Q4_0, v, OUT, c + i * cb), 0);
			x[i] = frand();
			p[i] = c + i * cb;
		}
		/* block 2 (rows 64..95: high nibbles of chunk 0) of column 3 */
		memcpy(c + 3 * cb + 2 * 2, &bad[b], 2);
		x[3] = 0.5f;
		for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
			memset(y, 0, sizeof(y));
			as_sparse_axpy_level((enum as_simd)l, GGML_TYPE_Q4_0, y, 0, OUT, OUT, p, x, N);
			for (int r = 0; r < OUT; r++) {
				if (r < 64 || r >= 96)
					assert_true(isfinite(y[r]));
				else if (bad[b] != 0x7e00)
					assert_false(isfinite(y[r]));
			}
			if (l == AS_SIMD_SCALAR)
				memcpy(ys, y, sizeof(y));
			else
				assert_memory_equal(y, ys, sizeof(y));
		}
	}
	free(c);
}

/*
 * A NaN scale between huge and tiny ones in one block (what rows read as columns gave,
 * tests/unit/test_moe_store.c): the maximum restarts after the NaN as (v)maxps does, so
 * the columns before it quantize far past int8, some past int32. Every level runs without
 * undefined behaviour and gives the scalar result bit for bit (codes as cvtps2dq makes
 * them, sums wrapping as vpaddd); the other blocks' rows stay finite.
 */
static void test_q4_nan_after_huge_scales(void **state)
{
	enum { OUT = 256, N = 40 };
	size_t cb = as_col_bytes(GGML_TYPE_Q4_0, OUT);
	uint8_t *c = malloc(cb * N);
	const void *p[N];
	float v[OUT], x[N], y[OUT], ys[OUT];

	(void)state;
	assert_non_null(c);
	for (int i = 0; i < N; i++) {
		/* block 1 (rows 32..63): 65504 (cols 0-3), NaN (col 4), tiny after */
		uint16_t h = i < 4 ? 0x7bff : i == 4 ? 0x7e00 : 0x0001;

		for (int r = 0; r < OUT; r++)
			v[r] = frand();
		assert_int_equal(as_col_encode(GGML_TYPE_Q4_0, v, OUT, c + i * cb), 0);
		memcpy(c + i * cb + 1 * 2, &h, 2);
		x[i] = i < 4 ? 1.0f + (float)i : 1.0f;
		p[i] = c + i * cb;
	}
	for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
		memset(y, 0, sizeof(y));
		as_sparse_axpy_level((enum as_simd)l, GGML_TYPE_Q4_0, y, 0, OUT, OUT, p, x, N);
		for (int r = 0; r < OUT; r++)
			if (r < 32 || r >= 64)
				assert_true(isfinite(y[r]));
		if (l == AS_SIMD_SCALAR)
			memcpy(ys, y, sizeof(y));
		else if (memcmp(y, ys, sizeof(y)))
			fail_msg("level %d differs from the scalar reference", l);
	}
	free(c);
}

/*
 * as_choose_gap_bytes on a store whose column sizes are smaller than the kernels read
 * (the store itself only checks its layout): -EINVAL, not a read past the columns.
 */
static void test_gap_replay_checks_columns(void **state)
{
	struct swap_store_desc d;
	char path[300], err[256];
	const char *tmp = getenv("AS_TMP");
	uint64_t gap = 1;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/sparse_colsXXXXXX", tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	memset(&d, 0, sizeof(d));
	d.n_layers = 2;
	d.group = 1;
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		d.kinds[k].in = 64;
		d.kinds[k].n_mats = 1;
		d.kinds[k].mats[0].out = 256;
		d.kinds[k].mats[0].type = GGML_TYPE_Q4_0;
		d.kinds[k].mats[0].col_bytes = (uint32_t)as_col_bytes(GGML_TYPE_Q4_0, 256);
	}
	assert_int_equal(swap_store_write_synthetic(path, &d, 1, err, sizeof(err)), 0);
	assert_int_equal(as_choose_gap_bytes(path, 0.5, 4, SWAP_BACKEND_AUTO, NULL, 0.01, &gap,
					     NULL), 0);
	d.kinds[SWAP_FFN_IN].mats[0].col_bytes -= 64; /* one 128-row chunk short */
	assert_int_equal(swap_store_write_synthetic(path, &d, 1, err, sizeof(err)), 0);
	assert_int_equal(as_choose_gap_bytes(path, 0.5, 4, SWAP_BACKEND_AUTO, NULL, 0.01, &gap,
					     NULL), -EINVAL);
	d.kinds[SWAP_FFN_IN].mats[0].col_bytes += 64;
	d.kinds[SWAP_ATTN_OUT].mats[0].type = GGML_TYPE_Q6_K; /* no sparse kernel */
	assert_int_equal(swap_store_write_synthetic(path, &d, 1, err, sizeof(err)), 0);
	assert_int_equal(as_choose_gap_bytes(path, 0.5, 4, SWAP_BACKEND_AUTO, NULL, 0.01, &gap,
					     NULL), -EINVAL);
	unlink(path);
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
	for (int it = 0; it < 406; it++) {
		/* the last ones: model-sized inputs (4096, 11008) */
		size_t n = it < 400 ? 1 + rnd() % 300 : it % 2 ? 4096 : 11008;
		size_t k = it < 400 ? rnd() % (n + 2) : n / (2 + (size_t)it % 3);
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

/* Runs of a multiple of AS_SPARSE_Q4_GROUP columns, then the rest: the same sums as one
 * call (the runtime's chunks rely on it); a run of 16 does change the groups. */
static void test_q4_runs_equal_one_call(void **state)
{
	const size_t out = 256, n = 150;
	float *deq = malloc(sizeof(float) * out * n), *x = malloc(sizeof(float) * n);
	float y1[256] = { 0 }, y2[256] = { 0 }, y3[256] = { 0 };
	const void **ptrs = malloc(sizeof(void *) * n);
	uint8_t *cols = make_cols(GGML_TYPE_Q4_0, out, n, false, deq, ptrs);

	(void)state;
	for (size_t i = 0; i < n; i++)
		x[i] = frand() * (float)(1 + i % 5);
	as_sparse_axpy(GGML_TYPE_Q4_0, y1, 0, out, out, ptrs, x, n);
	as_sparse_axpy(GGML_TYPE_Q4_0, y2, 0, out, out, ptrs, x, 64);
	as_sparse_axpy(GGML_TYPE_Q4_0, y2, 0, out, out, ptrs + 64, x + 64, 32);
	as_sparse_axpy(GGML_TYPE_Q4_0, y2, 0, out, out, ptrs + 96, x + 96, n - 96);
	assert_memory_equal(y1, y2, sizeof(y1));
	as_sparse_axpy(GGML_TYPE_Q4_0, y3, 0, out, out, ptrs, x, 16);
	as_sparse_axpy(GGML_TYPE_Q4_0, y3, 0, out, out, ptrs + 16, x + 16, n - 16);
	assert_true(memcmp(y1, y3, sizeof(y1)) != 0);
	free(cols);
	free(deq);
	free(x);
	free(ptrs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_vs_reference),
		cmocka_unit_test(test_exact_data_bit_identical),
		cmocka_unit_test(test_all_channels_equals_dense),
		cmocka_unit_test(test_bad_args_are_noops),
		cmocka_unit_test(test_col_args),
		cmocka_unit_test(test_q4_nonfinite_scales),
		cmocka_unit_test(test_q4_nan_after_huge_scales),
		cmocka_unit_test(test_gap_replay_checks_columns),
		cmocka_unit_test(test_topk),
		cmocka_unit_test(test_q4_runs_equal_one_call),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

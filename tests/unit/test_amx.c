// SPDX-License-Identifier: MIT
/*
 * The AMX-INT8 tiles of repacked Q4_0 and Q8_0 (runtime/matmul_amx.c) against the AVX-512
 * kernels (Q4_0: the tile of matmul_avx512.c; Q8_0: the row kernel token by token) and the
 * scalar reference, through as_matmul_multi: rows that are not
 * multiples of 16 (partial groups), 1..40 tokens (partial 16-token tiles), 300 tokens
 * (more than one set of accumulators), cols of 32..4096 (partial 16-block runs), 1 and 2
 * threads. Every output must be bit-identical (tolerance 0) to both. Skipped, with the
 * reason, where the CPU lacks AMX or the kernel refuses the tile state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/threadpool.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* rows x cols random weights of type t (Q4_0 or Q8_0), repacked */
static void *make_w(enum ggml_type t, size_t rows, size_t cols, enum ggml_type *wt)
{
	uint64_t rb, bytes;
	float *row = malloc(cols * sizeof(float));
	uint8_t *w;
	void *p;

	assert_non_null(row);
	assert_int_equal(as_row_bytes(t, cols, &rb), 0);
	w = malloc(rows * rb);
	assert_non_null(w);
	for (size_t r = 0; r < rows; r++) {
		float scale = r % 7 == 3 ? 40.0f : 1.0f; /* some rows of large values */

		for (size_t i = 0; i < cols; i++)
			row[i] = frand() * scale;
		assert_int_equal(as_quant_row(t, row, w + r * rb, cols), 0);
	}
	assert_int_equal(as_repack_size(t, rows, cols, &bytes), 0);
	p = aligned_alloc(64, (bytes + 63) & ~(uint64_t)63);
	assert_non_null(p);
	*wt = (enum ggml_type)as_repack(t, w, rows, cols, p);
	assert_int_equal(*wt, as_repacked_type(t));
	free(w);
	free(row);
	return p;
}

/* y [n_tok][rows] at a level, AMX on or off */
static void run(struct as_threadpool *tp, enum as_simd lvl, bool amx, enum ggml_type wt,
		const void *w, size_t rows, size_t cols, const float *X, size_t n_tok, float *y)
{
	struct as_matvec_job j = { wt, w, rows, y };

	as_kernels_force(lvl);
	assert_int_equal(as_kernels_amx(amx), amx);
	as_matmul_multi(tp, &j, 1, cols, X, n_tok);
}

static int check_shape(struct as_threadpool *tp, enum ggml_type t, size_t rows, size_t cols,
		       size_t t_lo, size_t t_hi)
{
	size_t n = rows * t_hi;
	enum ggml_type wt;
	void *w = make_w(t, rows, cols, &wt);
	float *X = malloc(t_hi * cols * sizeof(float));
	float *ya = malloc(n * sizeof(float)), *yv = malloc(n * sizeof(float));
	float *ys = malloc(n * sizeof(float));
	int bad = 0;

	assert_non_null(X);
	assert_non_null(ya);
	assert_non_null(yv);
	assert_non_null(ys);
	for (size_t i = 0; i < t_hi * cols; i++)
		X[i] = frand() * (i % 97 == 5 ? 100.0f : 3.0f);
	for (size_t nt = t_lo; nt <= t_hi; nt++) {
		memset(ya, 0xff, n * sizeof(float));
		run(tp, AS_SIMD_AVX512, true, wt, w, rows, cols, X, nt, ya);
		run(tp, AS_SIMD_AVX512, false, wt, w, rows, cols, X, nt, yv);
		run(tp, AS_SIMD_SCALAR, false, wt, w, rows, cols, X, nt, ys);
		if (memcmp(ya, yv, rows * nt * sizeof(float)) ||
		    memcmp(ya, ys, rows * nt * sizeof(float))) {
			for (size_t i = 0; i < rows * nt; i++) {
				if (memcmp(&ya[i], &yv[i], 4) || memcmp(&ya[i], &ys[i], 4)) {
					fprintf(stderr, "# %s rows %zu cols %zu tokens %zu: token "
						"%zu row %zu amx %.9g avx512 %.9g scalar %.9g\n",
						as_type_name(t), rows, cols, nt, i / rows, i % rows,
						ya[i], yv[i], ys[i]);
					break;
				}
			}
			bad++;
		}
	}
	free(w);
	free(X);
	free(ya);
	free(yv);
	free(ys);
	return bad;
}

static void test_amx_bitexact(void **st)
{
	static const size_t shapes[][2] = {
		{ 1, 32 }, { 17, 64 }, { 40, 544 }, { 33, 1056 }, { 100, 4096 },
	};
	enum as_simd was = as_simd_active();
	bool amx_was = as_amx_active();
	int bad = 0;

	(void)st;
	if (as_simd_detect() < AS_SIMD_AVX512 || !as_amx_detect()) {
		fprintf(stderr, "# skip: %s\n", as_simd_detect() < AS_SIMD_AVX512 ?
			"no AVX-512 (the AMX tile is part of the AVX-512 level)" :
			"no AMX-TILE/AMX-INT8 on this CPU, or the kernel refused the tile state "
			"(arch_prctl ARCH_REQ_XCOMP_PERM)");
		skip();
	}
	for (int nth = 1; nth <= 2; nth++) {
		struct as_threadpool *tp = nth > 1 ? as_tp_create(nth) : NULL;

		for (int q8 = 0; q8 <= 1; q8++) {
			enum ggml_type t = q8 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q4_0;

			for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
				bad += check_shape(tp, t, shapes[s][0], shapes[s][1], 1, 40);
			bad += check_shape(tp, t, 23, 96, 300, 300);
		}
		as_tp_destroy(tp);
	}
	as_kernels_force(was);
	as_kernels_amx(amx_was);
	assert_int_equal(bad, 0);
}

/* Turning AMX off and on is honoured and reported; ACTIVESWAP_AMX=0 is the default's
 * only other input, so detected == active at start unless it is set. */
static void test_amx_switch(void **st)
{
	const char *env = getenv("ACTIVESWAP_AMX");
	bool off = env && !strcmp(env, "0");

	(void)st;
	assert_int_equal(as_amx_active(), as_amx_detect() && !off);
	if (off) /* the tile state was not even asked for */
		assert_false(as_amx_detect());
	assert_false(as_kernels_amx(false));
	assert_false(as_amx_active());
	assert_int_equal(as_kernels_amx(true), as_amx_detect());
	assert_int_equal(as_amx_active(), as_amx_detect());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_amx_switch),
		cmocka_unit_test(test_amx_bitexact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

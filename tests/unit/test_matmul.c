// SPDX-License-Identifier: MIT
/*
 * as_matmul_multi (runtime/matmul.c) against as_matvec token by token: for every weight
 * type (and the repacked X16 layouts of Q4_0, Q4_K, Q5_K and Q8_0), at every SIMD
 * level, with 1 and 2 threads, a job set of row counts that are not multiples of 16
 * (partial groups and tiles) and 5 or 9 tokens (partial matrix-matrix tiles), every output must be bit-identical (tolerance
 * 0). A corrupted call (unsupported type) sets every output to NaN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/threadpool.h"

#define COLS 512
#define MAXTOK 9

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* rows x COLS random weights of type t (repacked when x16) */
static void *make_w(enum ggml_type t, size_t rows, bool x16, enum ggml_type *wt)
{
	uint64_t rb, bytes;
	float row[COLS];
	uint8_t *w;

	assert_int_equal(as_row_bytes(t, COLS, &rb), 0);
	w = malloc(rows * rb);
	assert_non_null(w);
	for (size_t r = 0; r < rows; r++) {
		for (size_t i = 0; i < COLS; i++)
			row[i] = frand();
		assert_int_equal(as_quant_row(t, row, w + r * rb, COLS), 0);
	}
	*wt = t;
	if (x16) {
		void *p;

		assert_int_equal(as_repack_size(t, rows, COLS, &bytes), 0);
		p = aligned_alloc(64, (bytes + 63) & ~(uint64_t)63);
		assert_non_null(p);
		*wt = (enum ggml_type)as_repack(t, w, rows, COLS, p);
		assert_int_equal(*wt, as_repacked_type(t));
		assert_true(as_x16_plain_type(*wt) == t && *wt != t);
		free(w);
		return p;
	}
	return w;
}

static void check_type(enum ggml_type t, bool x16)
{
	static const size_t rows[3] = { 40, 17, 300 };
	struct as_matvec_job jobs[3];
	void *w[3];
	float *y[3], *ref = malloc(300 * sizeof(float));
	float *X = malloc(MAXTOK * COLS * sizeof(float));
	enum as_simd top = as_simd_detect(), was = as_simd_active();

	assert_non_null(ref);
	assert_non_null(X);
	for (size_t i = 0; i < MAXTOK * COLS; i++)
		X[i] = frand() * 3.0f;
	for (int j = 0; j < 3; j++) {
		enum ggml_type wt;

		w[j] = make_w(t, rows[j], x16, &wt);
		y[j] = malloc(MAXTOK * rows[j] * sizeof(float));
		assert_non_null(y[j]);
		jobs[j] = (struct as_matvec_job){ wt, w[j], rows[j], y[j] };
	}
	for (int lvl = AS_SIMD_SCALAR; lvl <= (int)top; lvl++) {
		for (int nth = 1; nth <= 2; nth++) {
			struct as_threadpool *tp = nth > 1 ? as_tp_create(nth) : NULL;

			as_kernels_force((enum as_simd)lvl);
			for (size_t n_tok = 5; n_tok <= MAXTOK; n_tok += 4) {
				as_matmul_multi(tp, jobs, 3, COLS, X, n_tok);
				for (int j = 0; j < 3; j++) {
					for (size_t k = 0; k < n_tok; k++) {
						as_matvec(tp, jobs[j].type, w[j], rows[j], COLS,
							  X + k * COLS, ref);
						if (memcmp(ref, y[j] + k * rows[j],
							   rows[j] * sizeof(float))) {
							fprintf(stderr, "# %s%s level %d threads %d "
								"job %d token %zu differs\n",
								as_type_name(t), x16 ? " x16" : "",
								lvl, nth, j, k);
							fail();
						}
					}
				}
			}
			as_tp_destroy(tp);
		}
	}
	as_kernels_force(was);
	for (int j = 0; j < 3; j++) {
		free(w[j]);
		free(y[j]);
	}
	free(ref);
	free(X);
}

static void test_types(void **st)
{
	static const enum ggml_type types[] = {
		GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
		GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_IQ4_NL,
		GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
		GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS,
	};

	(void)st;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		check_type(types[i], false);
	check_type(GGML_TYPE_Q4_0, true);
	check_type(GGML_TYPE_Q4_K, true);
	check_type(GGML_TYPE_Q5_K, true);
	check_type(GGML_TYPE_Q8_0, true);
}

static void test_bad_type(void **st)
{
	float X[2 * 32], Y[2 * 4];
	uint8_t W[4 * 128] = { 0 };
	struct as_matvec_job j = { (enum ggml_type)200, W, 4, Y };

	(void)st;
	memset(X, 0, sizeof(X));
	memset(Y, 0, sizeof(Y));
	as_matmul_multi(NULL, &j, 1, 32, X, 2);
	for (int i = 0; i < 8; i++)
		assert_true(isnan(Y[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_bad_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * Compute kernels (runtime/kernels*.c): every SIMD level against the scalar reference,
 * the scalar reference against dequantize-then-dot, thread-count independence, the
 * repacked Q4_0_X16 layout, and the float helpers.
 *
 * Tolerance for random data (see Documentation/kernels.md): the integer part of every
 * quantized block dot product is exact at every level, only the float accumulation order
 * differs, so |y_simd - y_scalar| <= 16 * sqrt(cols) * 2^-24 * sum_i |w_i x_i|
 * (a generous multiple of the expected rounding-error growth of a reordered sum). With
 * small-integer data every partial sum is exact in float, so there the levels must agree
 * bit for bit: that catches single wrong elements the tolerance could hide.
 */
#include <errno.h>
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

static uint64_t rs = 0x1234567;

static uint32_t rnd(void)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rs >> 32);
}

static float frand(void)
{
	return (float)(rnd() >> 8) * 0x1p-24f * 2.0f - 1.0f;
}

static const enum ggml_type all_types[] = {
	GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
	GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K,
	GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_IQ4_NL,
	GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q5_K, GGML_TYPE_IQ4_XS,
};

static void set_h(uint8_t *p, float v)
{
	as_fp16_t h = as_fp32_to_fp16(v);

	memcpy(p, &h, 2);
}

/*
 * Random blocks of the types added with the K-quant family (kernels_types.c): random bytes,
 * then the float fields set to 1 (exact) or small random values, and in exact mode the
 * scales kept small (0..3) so that every sum stays below 2^24.
 */
static bool fill_more(enum ggml_type t, uint8_t *row, size_t rb, bool exact)
{
	size_t bb = as_type_block_bytes(t);

	switch (t) {
	case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: case GGML_TYPE_IQ4_NL:
	case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: case GGML_TYPE_Q5_K: case GGML_TYPE_IQ4_XS:
		break;
	default:
		return false;
	}
	for (size_t i = 0; i < rb; i++)
		row[i] = (uint8_t)rnd();
	for (uint8_t *b = row; b < row + rb; b += bb) {
		float v1 = exact ? 1.0f : frand() * 0.01f, v2 = exact ? 1.0f : frand() * 0.01f;

		switch (t) {
		case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1:
			set_h(b, v1);
			set_h(b + 2, v2);
			break;
		case GGML_TYPE_Q5_0: case GGML_TYPE_IQ4_NL:
			set_h(b, v1);
			break;
		case GGML_TYPE_Q2_K:
			set_h(b + 80, v1);
			set_h(b + 82, v2);
			for (int j = 0; exact && j < 16; j++)
				b[j] &= 0x33;
			break;
		case GGML_TYPE_Q3_K: /* 6-bit scale = 32 + 0..3 */
			set_h(b + 108, v1);
			for (int j = 0; exact && j < 8; j++)
				b[96 + j] &= 0x33;
			for (int j = 8; exact && j < 12; j++)
				b[96 + j] = 0xaa;
			break;
		case GGML_TYPE_Q5_K:
			set_h(b, v1);
			set_h(b + 2, v2);
			for (int j = 0; exact && j < K_SCALE_SIZE; j++)
				b[4 + j] &= 0x03;
			break;
		default: /* IQ4_XS: ls = 32 + 0..3 */
			set_h(b, v1);
			if (exact) {
				b[2] = b[3] = 0xaa;
				for (int j = 0; j < 4; j++)
					b[4 + j] &= 0x33;
			}
			break;
		}
	}
	return true;
}
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

static size_t row_bytes(enum ggml_type t, size_t cols)
{
	uint64_t rb = 0;

	assert_int_equal(as_row_bytes(t, cols, &rb), 0);
	return (size_t)rb;
}

/* Random matrix of type t. exact: small integers so that every sum is exact. */
static uint8_t *make_matrix(enum ggml_type t, size_t rows, size_t cols, bool exact)
{
	size_t rb = row_bytes(t, cols);
	uint8_t *w = malloc(rb * rows);
	float *tmp = malloc(cols * sizeof(float));

	assert_non_null(w);
	assert_non_null(tmp);
	for (size_t r = 0; r < rows; r++) {
		uint8_t *row = w + r * rb;

		if (fill_more(t, row, rb, exact))
			continue;
		switch (t) {
		case GGML_TYPE_Q4_K:
			for (size_t i = 0; i < rb; i++)
				row[i] = (uint8_t)rnd();
			for (size_t b = 0; b < cols / QK_K; b++) {
				struct block_q4_K *k = (struct block_q4_K *)row + b;

				k->d = as_fp32_to_fp16(exact ? 1.0f : frand() * 0.01f);
				k->dmin = as_fp32_to_fp16(exact ? 1.0f : frand() * 0.01f);
				if (exact) /* 6-bit scales and mins <= 3: sums stay < 2^24 */
					for (int j = 0; j < K_SCALE_SIZE; j++)
						k->scales[j] &= 0x03;
			}
			continue;
		case GGML_TYPE_Q6_K:
			for (size_t i = 0; i < rb; i++)
				row[i] = (uint8_t)rnd();
			for (size_t b = 0; b < cols / QK_K; b++) {
				struct block_q6_K *k = (struct block_q6_K *)row + b;

				k->d = as_fp32_to_fp16(exact ? 1.0f : frand() * 0.01f);
				if (exact)
					for (int j = 0; j < QK_K / 16; j++)
						k->scales[j] = (int8_t)((int)(rnd() % 7) - 3);
			}
			continue;
		case GGML_TYPE_Q8_0:
			if (exact) {
				struct block_q8_0 *q = (struct block_q8_0 *)row;

				for (size_t b = 0; b < cols / 32; b++) {
					q[b].d = 0x3c00;
					for (int j = 0; j < 32; j++)
						q[b].qs[j] = (int8_t)((int)(rnd() % 7) - 3);
				}
				continue;
			}
			break;
		case GGML_TYPE_Q4_0:
			if (exact) {
				struct block_q4_0 *q = (struct block_q4_0 *)row;

				for (size_t b = 0; b < cols / 32; b++) {
					q[b].d = 0x3c00;
					for (int j = 0; j < 16; j++)
						q[b].qs[j] = (uint8_t)rnd();
				}
				continue;
			}
			break;
		default:
			break;
		}
		for (size_t i = 0; i < cols; i++)
			tmp[i] = exact ? (float)((int)(rnd() % 17) - 8) : frand();
		assert_int_equal(as_quant_row(t, tmp, row, cols), 0);
	}
	free(tmp);
	return w;
}

/* x: random, or (exact) integers with a 127 in every 32-block so Q8_0 quantizes them to
 * themselves (d = 1), small enough that every sum stays below 2^24. */
static float *make_x(size_t cols, bool exact)
{
	float *x = malloc(cols * sizeof(float));

	assert_non_null(x);
	for (size_t i = 0; i < cols; i++) {
		if (!exact)
			x[i] = frand();
		else if (i % 32 == 0)
			x[i] = 127.0f;
		else
			x[i] = (float)((int)(rnd() % 9) - 4);
	}
	return x;
}

/* sum_i |w_i x_i| per row, from the dequantized row. */
static void abs_dot(enum ggml_type t, const uint8_t *w, size_t rows, size_t cols,
		    const float *x, double *out)
{
	size_t rb = row_bytes(t, cols);
	float *d = malloc(cols * sizeof(float));

	assert_non_null(d);
	for (size_t r = 0; r < rows; r++) {
		double s = 0;

		as_dequant_row(t, w + r * rb, d, cols);
		for (size_t i = 0; i < cols; i++)
			s += fabs((double)d[i] * x[i]);
		out[r] = s;
	}
	free(d);
}

static const struct {
	size_t rows, cols;
} shapes[] = {
	{ 1, 256 }, { 3, 256 }, { 17, 512 }, { 1, 11008 }, { 17, 11008 }, { 4097, 512 },
	{ 33, 4096 }, { 5, 96 }, { 19, 800 }, /* odd block counts (K-quants skip these) */
};
#define N_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

static bool have(enum as_simd l)
{
	return as_simd_detect() >= l;
}

/*
 * On aarch64 the NEON and SDOT kernels of every quantized type keep the scalar kernel's
 * float steps in its order (Documentation/arm64.md), so there they must give its bits on
 * random data too; only F32/F16/BF16 reorder their sums.
 */
static bool same_bits(enum ggml_type t)
{
#if defined(__aarch64__)
	return t != GGML_TYPE_F32 && t != GGML_TYPE_F16 && t != GGML_TYPE_BF16;
#else
	(void)t;
	return false;
#endif
}

static void check_levels(bool exact)
{
	struct as_threadpool *tp = as_tp_create(2);
	enum as_simd saved = as_simd_active();
	int compared = 0;

	assert_non_null(tp);
	for (size_t s = 0; s < N_SHAPES; s++) {
		size_t rows = shapes[s].rows, cols = shapes[s].cols;
		float *x = make_x(cols, exact);
		float *yref = malloc(rows * sizeof(float)), *y = malloc(rows * sizeof(float));
		double *mag = malloc(rows * sizeof(double));

		assert_non_null(yref);
		assert_non_null(y);
		assert_non_null(mag);
		for (size_t k = 0; k < N_TYPES + 1; k++) {
			bool x16 = k == N_TYPES;
			enum ggml_type t = x16 ? GGML_TYPE_Q4_0 : all_types[k];
			uint8_t *w;
			void *wk;
			enum ggml_type tk = t;
			uint64_t rbytes;

			if (cols % as_type_block_elems(t))
				continue;
			w = make_matrix(t, rows, cols, exact);
			wk = w;
			if (x16) {
				assert_int_equal(as_repack_size(t, rows, cols, &rbytes), 0);
				wk = malloc(rbytes);
				assert_non_null(wk);
				assert_int_equal(as_repack(t, w, rows, cols, wk), AS_TYPE_Q4_0_X16);
				tk = AS_TYPE_Q4_0_X16;
			}
			abs_dot(t, w, rows, cols, x, mag);
			assert_int_equal(as_kernels_force(AS_SIMD_SCALAR), AS_SIMD_SCALAR);
			as_matvec(tp, tk, wk, rows, cols, x, yref);
			for (int l = AS_SIMD_AVX2; l <= AS_SIMD_AVX512; l++) {
				if (!have(l))
					continue;
				assert_int_equal(as_kernels_force(l), l);
				for (size_t r = 0; r < rows; r++)
					y[r] = NAN;
				as_matvec(tp, tk, wk, rows, cols, x, y);
				for (size_t r = 0; r < rows; r++) {
					double tol = exact || same_bits(t) ? 0.0 :
						16.0 * sqrt((double)cols) * 0x1p-24 * mag[r];

					if (!(fabs((double)y[r] - yref[r]) <= tol))
						fail_msg("%s%s %s rows %zu cols %zu row %zu: %.9g vs "
							 "scalar %.9g (tol %.3g)", as_type_name(t),
							 x16 ? "_x16" : "", as_simd_name(l), rows,
							 cols, r, y[r], yref[r], tol);
				}
				compared++;
			}
			if (x16)
				free(wk);
			free(w);
		}
		free(x);
		free(yref);
		free(y);
		free(mag);
	}
	as_kernels_force(saved);
	as_tp_destroy(tp);
	if (!compared)
		skip(); /* CPU without AVX2: nothing to compare */
}

static void test_simd_vs_scalar_random(void **state)
{
	(void)state;
	check_levels(false);
}

static void test_simd_vs_scalar_exact(void **state)
{
	(void)state;
	check_levels(true);
}

/* The scalar kernels against dequantize(W) . dequantize(quantize(x)) in double. */
static void test_scalar_vs_dequant(void **state)
{
	size_t rows = 9, cols = 1024;
	float *x = make_x(cols, false), *deq = malloc(cols * sizeof(float));
	float *xq = malloc(cols * sizeof(float)), *y = malloc(rows * sizeof(float));
	struct block_q8_0 *q8 = malloc(cols / 32 * sizeof(*q8));
	struct block_q8_K *q8k = malloc(cols / 256 * sizeof(*q8k));
	double *mag = malloc(rows * sizeof(double));

	(void)state;
	assert_non_null(deq);
	assert_non_null(xq);
	assert_non_null(y);
	assert_non_null(q8);
	assert_non_null(q8k);
	assert_non_null(mag);
	as_quant_q8_0_ref(x, q8, cols / 32);
	as_quant_q8_K_ref(x, q8k, cols / 256);
	for (size_t k = 0; k < N_TYPES; k++) {
		enum ggml_type t = all_types[k];
		uint8_t *w = make_matrix(t, rows, cols, false);
		size_t rb = row_bytes(t, cols);

		/* the x the kernel really multiplies with */
		if (t == GGML_TYPE_Q8_0 || t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q4_1 ||
		    t == GGML_TYPE_Q5_0 || t == GGML_TYPE_Q5_1 || t == GGML_TYPE_IQ4_NL)
			as_dequant_row(GGML_TYPE_Q8_0, q8, xq, cols);
		else if (as_type_block_elems(t) == QK_K)
			for (size_t i = 0; i < cols; i++)
				xq[i] = q8k[i / 256].d * q8k[i / 256].qs[i % 256];
		else
			memcpy(xq, x, cols * sizeof(float));
		abs_dot(t, w, rows, cols, xq, mag);
		as_matvec_level(AS_SIMD_SCALAR, NULL, t, w, rows, cols, x, y);
		for (size_t r = 0; r < rows; r++) {
			double ref = 0;

			as_dequant_row(t, w + r * rb, deq, cols);
			for (size_t i = 0; i < cols; i++)
				ref += (double)deq[i] * xq[i];
			if (!(fabs(ref - y[r]) <= 1e-5 * mag[r] + 1e-30))
				fail_msg("%s row %zu: %.9g vs dequant-dot %.9g", as_type_name(t), r,
					 y[r], ref);
		}
		free(w);
	}
	free(x);
	free(deq);
	free(xq);
	free(y);
	free(q8);
	free(q8k);
	free(mag);
}

/* Any thread count gives the same bits; so does one multi-job call vs separate calls. */
static void test_threads_bit_identical(void **state)
{
	size_t rows = 4097, cols = 512;
	float *x = make_x(cols, false);
	float *y1 = malloc(rows * sizeof(float)), *y3 = malloc(rows * sizeof(float));
	struct as_threadpool *tp1 = as_tp_create(1), *tp3 = as_tp_create(3);

	(void)state;
	assert_non_null(tp1);
	assert_non_null(tp3);
	assert_non_null(y1);
	assert_non_null(y3);
	for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
		for (size_t k = 0; k < N_TYPES; k++) {
			uint8_t *w = make_matrix(all_types[k], rows, cols, false);

			as_matvec_level(l, tp1, all_types[k], w, rows, cols, x, y1);
			as_matvec_level(l, tp3, all_types[k], w, rows, cols, x, y3);
			assert_memory_equal(y1, y3, rows * sizeof(float));
			as_matvec_level(l, NULL, all_types[k], w, rows, cols, x, y3);
			assert_memory_equal(y1, y3, rows * sizeof(float));
			free(w);
		}
	}
	/* multi: three jobs of different types and sizes sharing x */
	{
		enum ggml_type jt[3] = { GGML_TYPE_Q4_0, GGML_TYPE_Q6_K, GGML_TYPE_F16 };
		size_t jr[3] = { 100, 37, 5 };
		struct as_matvec_job jobs[3];
		float *ys[3], *yo[3];
		uint8_t *ws[3];

		for (int j = 0; j < 3; j++) {
			ws[j] = make_matrix(jt[j], jr[j], cols, false);
			ys[j] = malloc(jr[j] * sizeof(float));
			yo[j] = malloc(jr[j] * sizeof(float));
			assert_non_null(ys[j]);
			assert_non_null(yo[j]);
			jobs[j] = (struct as_matvec_job){ jt[j], ws[j], jr[j], ys[j] };
			as_matvec(tp1, jt[j], ws[j], jr[j], cols, x, yo[j]);
		}
		as_matvec_multi(tp3, jobs, 3, cols, x);
		for (int j = 0; j < 3; j++) {
			assert_memory_equal(ys[j], yo[j], jr[j] * sizeof(float));
			free(ws[j]);
			free(ys[j]);
			free(yo[j]);
		}
	}
	free(x);
	free(y1);
	free(y3);
	as_tp_destroy(tp1);
	as_tp_destroy(tp3);
}

/* Repacked Q4_0, Q4_K, Q5_K and Q8_0 equal their plain layouts bit for bit at the scalar level, and
 * the SIMD X16 kernels equal the scalar one bit for bit (they keep the reference's float
 * steps and order). */
static void test_repack(void **state)
{
	static const size_t rr[] = { 1, 15, 16, 17, 33, 100 };
	static const enum ggml_type types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
						GGML_TYPE_Q8_0 };
	static const size_t colss[] = { 1024, 768, 1024, 800 };
	float *x = make_x(1024, false);
	uint64_t sz = 0;

	(void)state;
	assert_int_equal(as_repack_size(GGML_TYPE_Q6_K, 16, 256, &sz), -EINVAL);
	assert_int_equal(as_repack_size(GGML_TYPE_Q8_0, 16, 48, &sz), -EINVAL);
	assert_int_equal(as_repack_size(GGML_TYPE_Q4_0, 16, 33, &sz), -EINVAL);
	assert_int_equal(as_repack_size(GGML_TYPE_Q4_0, 0, 32, &sz), -EINVAL);
	assert_int_equal(as_repack_size(GGML_TYPE_Q4_K, 16, 32, &sz), -EINVAL);
	assert_int_equal(as_repack_size(GGML_TYPE_Q4_0, SIZE_MAX, SIZE_MAX & ~(size_t)31, &sz),
			 -EOVERFLOW);
	assert_int_equal(as_repack_size(GGML_TYPE_Q4_K, SIZE_MAX, SIZE_MAX & ~(size_t)255, &sz),
			 -EOVERFLOW);
	assert_int_equal(as_repack_size(GGML_TYPE_Q4_0, 17, 64, &sz), 0);
	assert_int_equal(sz, 2 * 2 * sizeof(struct block_q4_0x16));
	assert_int_equal(as_repack_size(GGML_TYPE_Q4_K, 17, 512, &sz), 0);
	assert_int_equal(sz, 2 * 2 * sizeof(struct block_q4_Kx16));
	assert_int_equal(as_repack(GGML_TYPE_Q6_K, x, 16, 256, x), -EINVAL);
	assert_int_equal(as_repacked_type(GGML_TYPE_Q6_K), -EINVAL);
	assert_int_equal(as_x16_plain_type(AS_TYPE_Q5_K_X16), GGML_TYPE_Q5_K);
	assert_int_equal(as_x16_plain_type(GGML_TYPE_Q6_K), GGML_TYPE_Q6_K);

	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
		enum ggml_type t = types[ti];
		size_t cols = colss[ti];

		for (size_t i = 0; i < sizeof(rr) / sizeof(rr[0]); i++) {
			size_t rows = rr[i];
			uint8_t *w = make_matrix(t, rows, cols, false);
			float *yp = malloc(rows * sizeof(float)), *yx = malloc(rows * sizeof(float));
			void *rp;

			assert_non_null(yp);
			assert_non_null(yx);
			assert_int_equal(as_repack_size(t, rows, cols, &sz), 0);
			rp = malloc(sz);
			assert_non_null(rp);
			assert_int_equal(as_repack(t, w, rows, cols, rp), as_repacked_type(t));
			as_matvec_level(AS_SIMD_SCALAR, NULL, t, w, rows, cols, x, yp);
			for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
				memset(yx, 0, rows * sizeof(float));
				as_matvec_level(l, NULL, (enum ggml_type)as_repacked_type(t), rp,
						rows, cols, x, yx);
				if (memcmp(yp, yx, rows * sizeof(float)))
					fail_msg("%s x16 rows %zu level %s differs from scalar",
						 as_type_name(t), rows, as_simd_name(l));
			}
			free(w);
			free(rp);
			free(yp);
			free(yx);
		}
	}
	free(x);
}

static void test_float_helpers(void **state)
{
	enum { N = 77 };
	float x[N], w[N], out[N], y[N], z[N];
	double ss = 0, dot = 0, mx = -1e30, sum = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		x[i] = frand() * 3;
		w[i] = frand();
		ss += (double)x[i] * x[i];
		dot += (double)x[i] * w[i];
	}
	as_rmsnorm(out, x, w, N, 1e-5f);
	for (int i = 0; i < N; i++) {
		double ref = w[i] * x[i] / sqrt(ss / N + 1e-5);

		assert_true(fabs(out[i] - ref) <= 1e-5 * (fabs(ref) + 1e-3));
	}
	(void)dot;
	/* dot and axpy at every level, every length 0..N (vector bodies and tails) */
	for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
		as_kernels_force(l);
		for (int n = 0; n <= N; n++) {
			double ref = 0, mag = 0;

			for (int i = 0; i < n; i++) {
				ref += (double)x[i] * w[i];
				mag += fabs((double)x[i] * w[i]);
			}
			if (!(fabs(as_dot_f32(x, w, (size_t)n) - ref) <= 0x1p-20 * mag + 1e-30))
				fail_msg("dot level %d n %d", l, n);
			memcpy(y, w, sizeof(y));
			as_axpy_f32(y, 0.5f, x, (size_t)n);
			for (int i = 0; i < N; i++) {
				double e = i < n ? (double)w[i] + 0.5 * x[i] : w[i];

				if (!(fabs(y[i] - e) <= 0x1p-23 * (fabs(w[i]) + fabs(0.5 * x[i]))))
					fail_msg("axpy level %d n %d i %d", l, n, i);
			}
		}
	}
	as_kernels_force(as_simd_detect());
	memcpy(z, x, sizeof(z));
	z[5] = 1000.0f; /* large values must not overflow exp */
	as_softmax(z, N);
	for (int i = 0; i < N; i++)
		mx = fmax(mx, i == 5 ? 1000.0 : x[i]);
	for (int i = 0; i < N; i++) {
		double ref = exp((i == 5 ? 1000.0 : x[i]) - mx);

		sum += z[i];
		(void)ref;
		assert_true(z[i] >= 0.0f);
	}
	assert_true(fabs(sum - 1.0) < 1e-5);
	assert_true(z[5] > 0.999f);
	memcpy(z, x, sizeof(z));
	as_softmax(z, N);
	sum = 0;
	for (int i = 0; i < N; i++)
		sum += exp(x[i]);
	for (int i = 0; i < N; i++)
		assert_true(fabs(z[i] - exp(x[i]) / sum) <= 1e-6);
}

/* as_quantize_q8_0 gives the scalar reference's bits at every level, ties included. */
static void test_quantize_q8_0_levels(void **state)
{
	enum { N = 32 * 64 };
	float *x = malloc(N * sizeof(float));
	struct block_q8_0 *ref = malloc(N / 32 * sizeof(*ref)), *got = malloc(N / 32 * sizeof(*got));
	enum as_simd saved = as_simd_active();

	(void)state;
	assert_non_null(x);
	assert_non_null(ref);
	assert_non_null(got);
	for (int i = 0; i < N; i++)
		x[i] = frand() * (float)(1 << (i / 32 % 8)) * ((i / 32) % 9 ? 1.0f : 1e-30f);
	for (int j = 0; j < 32; j++) { /* block 1: amax 127 -> x / d = x: exact .5 ties */
		x[32 + j] = (float)j * (j & 1 ? 2.5f : -3.5f) + (j == 0 ? 127.0f : 0.5f);
		x[64 + j] = 0.0f; /* block 2: all zero */
	}
	x[32 + 2] = 127.0f;
	as_quant_q8_0_ref(x, ref, N / 32);
	for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
		as_kernels_force(l);
		memset(got, 0x55, N / 32 * sizeof(*got));
		as_quantize_q8_0(x, got, N);
		assert_memory_equal(ref, got, N / 32 * sizeof(*got));
	}
	as_kernels_force(saved);
	free(x);
	free(ref);
	free(got);
}

/* Calls that cannot be done leave NaN in every output instead of stale values. */
static void test_bad_calls_give_nan(void **state)
{
	float x[64] = { 0 }, y[4] = { 1, 2, 3, 4 }, y2[2] = { 5, 6 };
	uint8_t w[4 * 64 * 4] = { 0 };
	struct as_matvec_job jobs[2] = {
		{ GGML_TYPE_F32, w, 2, y2 },
		{ GGML_TYPE_Q8_K, w, 4, y }, /* no kernel for this type */
	};

	(void)state;
	as_matvec(NULL, GGML_TYPE_Q4_0, w, 4, 33, x, y); /* cols not a block multiple */
	for (int i = 0; i < 4; i++)
		assert_true(isnan(y[i]));
	as_matvec(NULL, AS_TYPE_Q4_0_X16, w, 4, 48, x, y);
	for (int i = 0; i < 4; i++)
		assert_true(isnan(y[i]));
	as_matvec_multi(NULL, jobs, 2, 64, x);
	assert_true(isnan(y2[0]) && isnan(y2[1]));
	/* and a good call after them works */
	as_matvec(NULL, GGML_TYPE_F32, w, 4, 64, x, y);
	for (int i = 0; i < 4; i++)
		assert_true(y[i] == 0.0f);
}

static void test_force_and_names(void **state)
{
	enum as_simd saved = as_simd_active();

	(void)state;
	assert_string_equal(as_simd_name(AS_SIMD_SCALAR), "scalar");
#if defined(__x86_64__)
	assert_string_equal(as_simd_name(AS_SIMD_AVX2), "avx2");
	assert_string_equal(as_simd_name(AS_SIMD_AVX512), "avx512");
	assert_int_equal(as_simd_parse("avx2"), AS_SIMD_AVX2);
	assert_int_equal(as_simd_parse("neon"), -1);
#elif defined(__aarch64__)
	assert_string_equal(as_simd_name(AS_SIMD_NEON), "neon");
	assert_string_equal(as_simd_name(AS_SIMD_DOTPROD), "dotprod");
	assert_int_equal(as_simd_parse("DotProd"), AS_SIMD_DOTPROD);
	assert_int_equal(as_simd_parse("avx2"), -1);
#endif
	assert_string_equal(as_simd_name((enum as_simd)7), "unknown");
	assert_int_equal(as_simd_parse("scalar"), AS_SIMD_SCALAR);
	assert_int_equal(as_simd_parse(""), -1);
	assert_int_equal(as_kernels_force(AS_SIMD_SCALAR), AS_SIMD_SCALAR);
	assert_int_equal(as_simd_active(), AS_SIMD_SCALAR);
	assert_int_equal(as_kernels_force(AS_SIMD_AVX512), as_simd_detect());
	assert_int_equal(as_kernels_force((enum as_simd)-5), AS_SIMD_SCALAR);
	assert_false(as_repack_useful(GGML_TYPE_Q4_0)); /* scalar: X16 is only a reference */
#if defined(__x86_64__)
	if (as_kernels_force(AS_SIMD_AVX2) == AS_SIMD_AVX2) {
		assert_true(as_repack_useful(GGML_TYPE_Q4_0));
		assert_false(as_repack_useful(GGML_TYPE_Q8_0));
		assert_false(as_repack_useful(GGML_TYPE_Q4_K)); /* no AVX2 Q4_K_X16 kernel */
	}
	if (as_kernels_force(AS_SIMD_AVX512) == AS_SIMD_AVX512) {
		assert_true(as_repack_useful(GGML_TYPE_Q4_K));
		assert_true(as_repack_useful(GGML_TYPE_Q5_K));
		assert_true(as_repack_useful(GGML_TYPE_Q8_0));
		assert_false(as_repack_useful(GGML_TYPE_Q6_K));
	}
#else
	as_kernels_force(as_simd_detect());
	assert_false(as_repack_useful(GGML_TYPE_Q4_0)); /* unmeasured: not yet */
#endif
	as_kernels_force(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_force_and_names),
		cmocka_unit_test(test_bad_calls_give_nan),
		cmocka_unit_test(test_quantize_q8_0_levels),
		cmocka_unit_test(test_scalar_vs_dequant),
		cmocka_unit_test(test_simd_vs_scalar_random),
		cmocka_unit_test(test_simd_vs_scalar_exact),
		cmocka_unit_test(test_threads_bit_identical),
		cmocka_unit_test(test_repack),
		cmocka_unit_test(test_float_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

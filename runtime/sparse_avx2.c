// SPDX-License-Identifier: MIT
/*
 * AVX2 + FMA + F16C sparse gather-accumulate (compiled with -mavx2 -mfma -mf16c, called
 * only after the cpuid check in sparse.c). Four columns are applied per pass over y, in
 * column order, so every element sees the same sequence of fused multiply-adds as with
 * one column at a time.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "sparse_impl.h"

#define COL(i) ((const uint8_t *)cols[i] + off)

/* Columns live in scattered slots and each is short (a few cache lines per thread), too
 * short for the hardware prefetcher: fetch the next columns while these are computed. */
static inline void prefetch_cols(const void *const *cols, size_t off, size_t i, size_t n,
				 size_t bytes)
{
	for (size_t j = i; j < i + 4 && j < n; j++)
		for (size_t b = 0; b < bytes; b += 64)
			_mm_prefetch((const char *)cols[j] + off + b, _MM_HINT_T0);
}

static void sp_f32(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		   size_t n)
{
	size_t v = ne / 8 * 8;

	for (size_t i = 0; i < n; i++) {
		const float *c = (const float *)COL(i);
		__m256 a = _mm256_set1_ps(x[i]);
		size_t r = 0;

		for (; r < v; r += 8)
			_mm256_storeu_ps(y + r, _mm256_fmadd_ps(a, _mm256_loadu_ps(c + r),
								_mm256_loadu_ps(y + r)));
		for (; r < ne; r++)
			y[r] = fmaf(x[i], c[r], y[r]);
	}
}

static void sp_f16(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		   size_t n)
{
	size_t v = ne / 8 * 8;

	for (size_t i = 0; i < n; i++) {
		const uint16_t *c = (const uint16_t *)COL(i);
		__m256 a = _mm256_set1_ps(x[i]);
		size_t r = 0;

		for (; r < v; r += 8) {
			__m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(c + r)));

			_mm256_storeu_ps(y + r, _mm256_fmadd_ps(a, w, _mm256_loadu_ps(y + r)));
		}
		for (; r < ne; r++)
			y[r] = fmaf(x[i], _cvtsh_ss(c[r]), y[r]);
	}
}

/* 32 int8 -> four vectors of 8 floats */
static inline void cvt32(const int8_t *q, __m256 *f)
{
	__m128i a = _mm_loadu_si128((const __m128i *)q);
	__m128i b = _mm_loadu_si128((const __m128i *)(q + 16));

	f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(a));
	f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(a, 8)));
	f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
	f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
}

/* Q4_0 block: 16 bytes, low nibbles = elements 0..15, high = 16..31, value - 8 */
static inline void cvt_q4(const uint8_t *qs, __m256 *f)
{
	__m128i q = _mm_loadu_si128((const __m128i *)qs);
	__m128i m = _mm_set1_epi8(0x0f), e = _mm_set1_epi8(8);
	__m128i lo = _mm_sub_epi8(_mm_and_si128(q, m), e);
	__m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m), e);

	f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
	f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
	f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
	f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

#define BLOCK_KERNEL(name, btype, CVT, QS)                                                  \
static void name(float *y, size_t ne, const void *const *cols, size_t off, const float *x,  \
		 size_t n)                                                                  \
{                                                                                           \
	size_t nb = ne / 32;                                                                \
	size_t i = 0;                                                                       \
                                                                                            \
	for (; i + 4 <= n; i += 4) {                                                        \
		const btype *c0 = (const btype *)COL(i), *c1 = (const btype *)COL(i + 1);   \
		prefetch_cols(cols, off, i + 4, n, nb * sizeof(btype));                     \
		const btype *c2 = (const btype *)COL(i + 2), *c3 = (const btype *)COL(i + 3); \
                                                                                            \
		for (size_t b = 0; b < nb; b++) {                                           \
			float *yb = y + b * 32;                                             \
			__m256 acc[4], f[4];                                                \
			__m256 s0 = _mm256_set1_ps(x[i] * _cvtsh_ss(c0[b].d));              \
			__m256 s1 = _mm256_set1_ps(x[i + 1] * _cvtsh_ss(c1[b].d));          \
			__m256 s2 = _mm256_set1_ps(x[i + 2] * _cvtsh_ss(c2[b].d));          \
			__m256 s3 = _mm256_set1_ps(x[i + 3] * _cvtsh_ss(c3[b].d));          \
                                                                                            \
			for (int k = 0; k < 4; k++)                                         \
				acc[k] = _mm256_loadu_ps(yb + 8 * k);                       \
			CVT(c0[b].QS, f);                                                   \
			for (int k = 0; k < 4; k++)                                         \
				acc[k] = _mm256_fmadd_ps(s0, f[k], acc[k]);                 \
			CVT(c1[b].QS, f);                                                   \
			for (int k = 0; k < 4; k++)                                         \
				acc[k] = _mm256_fmadd_ps(s1, f[k], acc[k]);                 \
			CVT(c2[b].QS, f);                                                   \
			for (int k = 0; k < 4; k++)                                         \
				acc[k] = _mm256_fmadd_ps(s2, f[k], acc[k]);                 \
			CVT(c3[b].QS, f);                                                   \
			for (int k = 0; k < 4; k++)                                         \
				acc[k] = _mm256_fmadd_ps(s3, f[k], acc[k]);                 \
			for (int k = 0; k < 4; k++)                                         \
				_mm256_storeu_ps(yb + 8 * k, acc[k]);                       \
		}                                                                           \
	}                                                                                   \
	for (; i < n; i++) {                                                                \
		const btype *c0 = (const btype *)COL(i);                                    \
                                                                                            \
		for (size_t b = 0; b < nb; b++) {                                           \
			float *yb = y + b * 32;                                             \
			__m256 f[4], s0 = _mm256_set1_ps(x[i] * _cvtsh_ss(c0[b].d));        \
                                                                                            \
			CVT(c0[b].QS, f);                                                   \
			for (int k = 0; k < 4; k++)                                         \
				_mm256_storeu_ps(yb + 8 * k,                                \
						 _mm256_fmadd_ps(s0, f[k],                  \
								 _mm256_loadu_ps(yb + 8 * k))); \
		}                                                                           \
	}                                                                                   \
}

BLOCK_KERNEL(sp_q8_0, struct block_q8_0, cvt32, qs)
BLOCK_KERNEL(sp_q4_0, struct block_q4_0, cvt_q4, qs)

void as_sparse_avx2_init(struct as_sparse_table *t)
{
	t->fn[AS_SP_F32] = sp_f32;
	t->fn[AS_SP_F16] = sp_f16;
	t->fn[AS_SP_Q8_0] = sp_q8_0;
	t->fn[AS_SP_Q4_0] = sp_q4_0;
}

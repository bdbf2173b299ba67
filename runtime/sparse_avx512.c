// SPDX-License-Identifier: MIT
/*
 * AVX-512 (F/BW/VL/DQ) sparse gather-accumulate, called only after the cpuid check in
 * sparse.c. Same order of operations per element as sparse_avx2.c: one fused
 * multiply-add per column, columns in order.
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
	size_t v = ne / 16 * 16;

	for (size_t i = 0; i < n; i++) {
		const float *c = (const float *)COL(i);
		__m512 a = _mm512_set1_ps(x[i]);
		size_t r = 0;

		for (; r < v; r += 16)
			_mm512_storeu_ps(y + r, _mm512_fmadd_ps(a, _mm512_loadu_ps(c + r),
								_mm512_loadu_ps(y + r)));
		for (; r < ne; r++)
			y[r] = fmaf(x[i], c[r], y[r]);
	}
}

static void sp_f16(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		   size_t n)
{
	size_t v = ne / 16 * 16;

	for (size_t i = 0; i < n; i++) {
		const uint16_t *c = (const uint16_t *)COL(i);
		__m512 a = _mm512_set1_ps(x[i]);
		size_t r = 0;

		for (; r < v; r += 16) {
			__m512 w = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c + r)));

			_mm512_storeu_ps(y + r, _mm512_fmadd_ps(a, w, _mm512_loadu_ps(y + r)));
		}
		for (; r < ne; r++)
			y[r] = fmaf(x[i], _cvtsh_ss(c[r]), y[r]);
	}
}

static inline void cvt_q8(const int8_t *q, __m512 *f)
{
	f[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
	f[1] = _mm512_cvtepi32_ps(
		_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 16))));
}

static inline void cvt_q4(const uint8_t *qs, __m512 *f)
{
	__m128i q = _mm_loadu_si128((const __m128i *)qs);
	__m128i m = _mm_set1_epi8(0x0f), e = _mm_set1_epi8(8);

	f[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(_mm_and_si128(q, m), e)));
	f[1] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
		_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m), e)));
}

#define BLOCK_KERNEL(name, btype, CVT)                                                      \
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
			__m512 f[2];                                                        \
			__m512 a0 = _mm512_loadu_ps(yb), a1 = _mm512_loadu_ps(yb + 16);     \
			__m512 s0 = _mm512_set1_ps(x[i] * _cvtsh_ss(c0[b].d));              \
			__m512 s1 = _mm512_set1_ps(x[i + 1] * _cvtsh_ss(c1[b].d));          \
			__m512 s2 = _mm512_set1_ps(x[i + 2] * _cvtsh_ss(c2[b].d));          \
			__m512 s3 = _mm512_set1_ps(x[i + 3] * _cvtsh_ss(c3[b].d));          \
                                                                                            \
			CVT(c0[b].qs, f);                                                   \
			a0 = _mm512_fmadd_ps(s0, f[0], a0);                                 \
			a1 = _mm512_fmadd_ps(s0, f[1], a1);                                 \
			CVT(c1[b].qs, f);                                                   \
			a0 = _mm512_fmadd_ps(s1, f[0], a0);                                 \
			a1 = _mm512_fmadd_ps(s1, f[1], a1);                                 \
			CVT(c2[b].qs, f);                                                   \
			a0 = _mm512_fmadd_ps(s2, f[0], a0);                                 \
			a1 = _mm512_fmadd_ps(s2, f[1], a1);                                 \
			CVT(c3[b].qs, f);                                                   \
			a0 = _mm512_fmadd_ps(s3, f[0], a0);                                 \
			a1 = _mm512_fmadd_ps(s3, f[1], a1);                                 \
			_mm512_storeu_ps(yb, a0);                                           \
			_mm512_storeu_ps(yb + 16, a1);                                      \
		}                                                                           \
	}                                                                                   \
	for (; i < n; i++) {                                                                \
		const btype *c0 = (const btype *)COL(i);                                    \
                                                                                            \
		for (size_t b = 0; b < nb; b++) {                                           \
			float *yb = y + b * 32;                                             \
			__m512 f[2], s0 = _mm512_set1_ps(x[i] * _cvtsh_ss(c0[b].d));        \
                                                                                            \
			CVT(c0[b].qs, f);                                                   \
			_mm512_storeu_ps(yb, _mm512_fmadd_ps(s0, f[0], _mm512_loadu_ps(yb))); \
			_mm512_storeu_ps(yb + 16,                                           \
					 _mm512_fmadd_ps(s0, f[1], _mm512_loadu_ps(yb + 16))); \
		}                                                                           \
	}                                                                                   \
}

BLOCK_KERNEL(sp_q8_0, struct block_q8_0, cvt_q8)
BLOCK_KERNEL(sp_q4_0, struct block_q4_0, cvt_q4)

void as_sparse_avx512_init(struct as_sparse_table *t)
{
	t->fn[AS_SP_F32] = sp_f32;
	t->fn[AS_SP_F16] = sp_f16;
	t->fn[AS_SP_Q8_0] = sp_q8_0;
	t->fn[AS_SP_Q4_0] = sp_q4_0;
}

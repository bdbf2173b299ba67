// SPDX-License-Identifier: MIT
/*
 * AVX2 + FMA + F16C kernel of the K-quant columns (sparse_kq.c has the scalar reference
 * and the dispatch; compiled with -mavx2 -mfma -mf16c, called only after the cpuid check).
 * One run of columns (one scale sub-block) over all the tiles of 64 rows: a tile keeps its
 * eight accumulators in registers over the run's columns, then applies the scales; every
 * operation is the reference's (activeswap/sparse.h), so the result is the same bit for
 * bit.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sparse_impl.h"
#include "sparse_kq_simd.h"

static inline __m256 cvt8(__m128i b, __m256i bias)
{
	return _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(b), bias));
}

/* y[0 .. 64) += D acc - M sx (Q6_K: D acc) for the rows r .. r+63, sub-block s of b. */
static inline void flush(int w, const uint8_t *base, size_t P, size_t s, size_t r, float *y,
			 const __m256 *acc, float sx)
{
	__m256 sxv = _mm256_set1_ps(sx);

	for (int g = 0; g < 8; g++) {
		size_t rr = r + 8 * (size_t)g;
		__m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(base + 2 * rr)));
		__m256 yv = _mm256_loadu_ps(y + 8 * g);

		if (w == 6) {
			__m128i sc = _mm_loadl_epi64((const __m128i *)(base + 2 * P + s * P + rr));
			__m256 D = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));

			yv = _mm256_fmadd_ps(D, acc[g], yv);
		} else {
			__m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
				(const __m128i *)(base + 4 * P + s * P + rr)));
			__m256 dm = _mm256_cvtph_ps(_mm_loadu_si128(
				(const __m128i *)(base + 2 * P + 2 * rr)));
			uint32_t nib;
			__m256i mm;
			__m256 D, M;

			/* m: 2 bits above the 6-bit scale, 4 in a nibble */
			memcpy(&nib, base + 12 * P + s * P / 2 + rr / 2, 4);
			mm = _mm256_srlv_epi32(_mm256_set1_epi32((int)nib),
					       _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
			mm = _mm256_and_si256(mm, _mm256_set1_epi32(15));
			mm = _mm256_or_si256(_mm256_slli_epi32(mm, 2), _mm256_srli_epi32(sc, 6));
			sc = _mm256_and_si256(sc, _mm256_set1_epi32(63));
			D = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc));
			M = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(mm));
			yv = _mm256_add_ps(yv, _mm256_fmsub_ps(D, acc[g], _mm256_mul_ps(M, sxv)));
		}
		_mm256_storeu_ps(y + 8 * g, yv);
	}
}

void as_kq_tile_avx2(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		     const void *table, const void *const *cols, const uint32_t *ch,
		     const float *x, size_t n)
{
	int w = as_kq_width(t);
	size_t cb = (size_t)w * 8, b = ch[0] / QK_K, s = (ch[0] % QK_K) / as_kq_sub(t);
	const uint8_t *base = (const uint8_t *)table + b * P * (w == 6 ? 18 : 16);
	__m256i bias = _mm256_set1_epi32(w == 6 ? 32 : 0);
	float sx = 0.0f;

	for (size_t i = 0; i < n; i++)
		sx += x[i];
	for (size_t k = 0; k < nt; k++) {
		size_t j = r / 64 + k;
		__m256 acc[8];

		for (int g = 0; g < 8; g++)
			acc[g] = _mm256_setzero_ps();
		for (size_t i = 0; i < n; i++) {
			const uint8_t *c = (const uint8_t *)cols[i] + j * cb;
			__m256 xb = _mm256_set1_ps(x[i]);
			__m256i lo, hi;
			__m128i l0, l1, h0, h1;

			if (k + 2 < nt) /* the column's chunk two tiles ahead */
				_mm_prefetch((const char *)c + 2 * cb, _MM_HINT_T0);
			codes64(w, c, &lo, &hi);
			l0 = _mm256_castsi256_si128(lo);
			l1 = _mm256_extracti128_si256(lo, 1);
			h0 = _mm256_castsi256_si128(hi);
			h1 = _mm256_extracti128_si256(hi, 1);
			acc[0] = _mm256_fmadd_ps(xb, cvt8(l0, bias), acc[0]);
			acc[1] = _mm256_fmadd_ps(xb, cvt8(_mm_srli_si128(l0, 8), bias), acc[1]);
			acc[2] = _mm256_fmadd_ps(xb, cvt8(l1, bias), acc[2]);
			acc[3] = _mm256_fmadd_ps(xb, cvt8(_mm_srli_si128(l1, 8), bias), acc[3]);
			acc[4] = _mm256_fmadd_ps(xb, cvt8(h0, bias), acc[4]);
			acc[5] = _mm256_fmadd_ps(xb, cvt8(_mm_srli_si128(h0, 8), bias), acc[5]);
			acc[6] = _mm256_fmadd_ps(xb, cvt8(h1, bias), acc[6]);
			acc[7] = _mm256_fmadd_ps(xb, cvt8(_mm_srli_si128(h1, 8), bias), acc[7]);
		}
		flush(w, base, P, s, r + 64 * k, y + 64 * k, acc, sx);
	}
}

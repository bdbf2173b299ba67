// SPDX-License-Identifier: MIT
/*
 * AVX-512 kernel of the K-quant columns (compiled with the AVX-512 flags, called only
 * after the cpuid check): the AVX2 kernel's operations, sixteen rows per vector (four
 * accumulators per 64-row tile, a run of one sub-block's columns over all the tiles), so
 * the result is the scalar reference's bit for bit
 * (activeswap/sparse.h).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sparse_impl.h"
#include "sparse_kq_simd.h"

static inline __m512 cvt16(__m128i b, __m512i bias)
{
	return _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(b), bias));
}

/* Scales of the 16 rows rr .. rr+15 for sub-block s: D = d sc, M = dmin m (Q6_K: M unused). */
static inline void scales16(int w, const uint8_t *base, size_t P, size_t s, size_t rr,
			    __m512 *D, __m512 *M)
{
	__m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(base + 2 * rr)));

	if (w == 6) {
		__m128i sc = _mm_loadu_si128((const __m128i *)(base + 2 * P + s * P + rr));

		*D = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)));
		return;
	}
	{
		__m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(
			(const __m128i *)(base + 4 * P + s * P + rr)));
		__m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(
			(const __m256i *)(base + 2 * P + 2 * rr)));
		uint32_t lo, hi;
		__m512i nb, mm;

		memcpy(&lo, base + 12 * P + s * P / 2 + rr / 2, 4);
		memcpy(&hi, base + 12 * P + s * P / 2 + rr / 2 + 4, 4);
		nb = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int)lo)),
					_mm256_set1_epi32((int)hi), 1);
		mm = _mm512_and_si512(_mm512_srlv_epi32(nb, _mm512_setr_epi32(
			0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28)),
			_mm512_set1_epi32(15));
		mm = _mm512_or_si512(_mm512_slli_epi32(mm, 2), _mm512_srli_epi32(sc, 6));
		sc = _mm512_and_si512(sc, _mm512_set1_epi32(63));
		*D = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
		*M = _mm512_mul_ps(dm, _mm512_cvtepi32_ps(mm));
	}
}

void as_kq_tile_avx512(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		       const void *table, const void *const *cols, const uint32_t *ch,
		       const float *x, size_t n)
{
	int w = as_kq_width(t);
	size_t cb = (size_t)w * 8, b = ch[0] / QK_K, s = (ch[0] % QK_K) / as_kq_sub(t);
	const uint8_t *base = (const uint8_t *)table + b * P * (w == 6 ? 18 : 16);
	__m512i bias = _mm512_set1_epi32(w == 6 ? 32 : 0);
	float sx = 0.0f;
	__m512 sxv;

	for (size_t i = 0; i < n; i++)
		sx += x[i];
	sxv = _mm512_set1_ps(sx);
	for (size_t k = 0; k < nt; k++) {
		size_t j = r / 64 + k;
		__m512 acc[4];

		for (int g = 0; g < 4; g++)
			acc[g] = _mm512_setzero_ps();
		for (size_t i = 0; i < n; i++) {
			const uint8_t *c = (const uint8_t *)cols[i] + j * cb;
			__m512 xb = _mm512_set1_ps(x[i]);
			__m256i lo, hi;

			if (k + 2 < nt) /* the column's chunk two tiles ahead */
				_mm_prefetch((const char *)c + 2 * cb, _MM_HINT_T0);
			codes64(w, c, &lo, &hi);
			acc[0] = _mm512_fmadd_ps(xb, cvt16(_mm256_castsi256_si128(lo), bias),
						 acc[0]);
			acc[1] = _mm512_fmadd_ps(xb, cvt16(_mm256_extracti128_si256(lo, 1), bias),
						 acc[1]);
			acc[2] = _mm512_fmadd_ps(xb, cvt16(_mm256_castsi256_si128(hi), bias),
						 acc[2]);
			acc[3] = _mm512_fmadd_ps(xb, cvt16(_mm256_extracti128_si256(hi, 1), bias),
						 acc[3]);
		}
		/* the sub-block's scales, once per row */
		for (int g = 0; g < 4; g++) {
			float *yg = y + 64 * k + 16 * (size_t)g;
			__m512 yv = _mm512_loadu_ps(yg), D, M;

			scales16(w, base, P, s, r + 64 * k + 16 * (size_t)g, &D, &M);
			if (w == 6)
				yv = _mm512_fmadd_ps(D, acc[g], yv);
			else
				yv = _mm512_add_ps(yv, _mm512_fmsub_ps(D, acc[g],
								 _mm512_mul_ps(M, sxv)));
			_mm512_storeu_ps(yg, yv);
		}
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * The AVX-512 form of the Q4_0 column kernels' activation preparation (as_q4_prep_scalar,
 * sparse_impl.h), shared by the single-token kernel (sparse_avx512.c) and the batch's
 * union product (sparse_gemm_avx512.c). Only for files compiled with AVX-512. Not public.
 */
#ifndef ACTIVESWAP_SPARSE_Q4_AVX512_H
#define ACTIVESWAP_SPARSE_Q4_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "sparse_impl.h"

/*
 * One group's preparation for 16 blocks (mask: the blocks that exist), the vector form of
 * as_q4_prep_scalar: the same multiplies, maxima, divisions and round-to-nearest-even
 * conversions, so the codes and scales are identical.
 */
static inline void as_q4_prep16(const void *const *cols, const float *x, size_t m,
				size_t b, __mmask16 k, uint32_t *qa, size_t stride,
				float *sa, int32_t *corr)
{
	__m512 a[AS_Q4_GROUP], amax = _mm512_setzero_ps(), inv;
	__m512i sum = _mm512_setzero_si512();

	for (size_t i = 0; i < m; i++) {
		__m256i h = _mm256_maskz_loadu_epi16(k, (const uint16_t *)cols[i] + b);

		a[i] = _mm512_mul_ps(_mm512_set1_ps(x[i]), _mm512_cvtph_ps(h));
		amax = _mm512_max_ps(amax, _mm512_abs_ps(a[i]));
	}
	_mm512_mask_storeu_ps(sa, k, _mm512_div_ps(amax, _mm512_set1_ps(127.0f)));
	inv = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_GT_OQ),
				  _mm512_set1_ps(127.0f), amax);
	for (size_t s4 = 0; s4 < (m + 3) / 4; s4++) {
		__m128i qb[4];

		for (size_t t = 0; t < 4; t++) {
			size_t i = 4 * s4 + t;
			__m512i q = _mm512_setzero_si512();

			if (i < m)
				q = _mm512_cvtps_epi32(_mm512_mul_ps(a[i], inv));
			sum = _mm512_add_epi32(sum, q);
			qb[t] = _mm512_cvtepi32_epi8(q);
		}
		{
			__m128i l01 = _mm_unpacklo_epi8(qb[0], qb[1]);
			__m128i h01 = _mm_unpackhi_epi8(qb[0], qb[1]);
			__m128i l23 = _mm_unpacklo_epi8(qb[2], qb[3]);
			__m128i h23 = _mm_unpackhi_epi8(qb[2], qb[3]);
			__m512i w = _mm512_inserti32x4(
				_mm512_inserti32x4(
					_mm512_inserti32x4(
						_mm512_castsi128_si512(_mm_unpacklo_epi16(l01, l23)),
						_mm_unpackhi_epi16(l01, l23), 1),
					_mm_unpacklo_epi16(h01, h23), 2),
				_mm_unpackhi_epi16(h01, h23), 3);

			_mm512_mask_storeu_epi32(qa + s4 * stride, k, w);
		}
	}
	_mm512_mask_storeu_epi32(corr, k, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-8)));
}

#endif

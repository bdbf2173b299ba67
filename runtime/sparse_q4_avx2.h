/* SPDX-License-Identifier: MIT */
/*
 * The AVX2 form of the Q4_0 column kernels' activation preparation (as_q4_prep_scalar,
 * sparse_impl.h), shared by the single-token kernel (sparse_avx2.c) and the batch's
 * union product (sparse_gemm_avx2.c). Only for files compiled with AVX2. Not public.
 */
#ifndef ACTIVESWAP_SPARSE_Q4_AVX2_H
#define ACTIVESWAP_SPARSE_Q4_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#include "sparse_impl.h"

/*
 * One group's preparation for 8 blocks, the vector form of as_q4_prep_scalar: the same
 * multiplies, maxima, divisions and round-to-nearest-even conversions.
 */
static inline void as_q4_prep8(const void *const *cols, const float *x, size_t m,
			       size_t b, uint32_t *qa, size_t stride, float *sa, int32_t *corr)
{
	__m256 a[AS_Q4_GROUP], amax = _mm256_setzero_ps(), inv;
	const __m256 sign = _mm256_set1_ps(-0.0f), c127 = _mm256_set1_ps(127.0f);
	const __m256i ff = _mm256_set1_epi32(0xff);
	__m256i sum = _mm256_setzero_si256();

	for (size_t i = 0; i < m; i++) {
		__m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)cols[i] + b));

		a[i] = _mm256_mul_ps(_mm256_set1_ps(x[i]), _mm256_cvtph_ps(h));
		amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, a[i]));
	}
	_mm256_storeu_ps(sa, _mm256_div_ps(amax, c127));
	inv = _mm256_and_ps(_mm256_div_ps(c127, amax),
			    _mm256_cmp_ps(amax, _mm256_setzero_ps(), _CMP_GT_OQ));
	for (size_t s4 = 0; s4 < (m + 3) / 4; s4++) {
		__m256i w = _mm256_setzero_si256();

		for (int t = 0; t < 4; t++) {
			size_t i = 4 * s4 + (size_t)t;
			__m256i q = _mm256_setzero_si256();

			if (i < m)
				q = _mm256_cvtps_epi32(_mm256_mul_ps(a[i], inv));
			sum = _mm256_add_epi32(sum, q);
			w = _mm256_or_si256(w, _mm256_sll_epi32(_mm256_and_si256(q, ff),
								_mm_cvtsi32_si128(8 * t)));
		}
		_mm256_storeu_si256((__m256i *)(qa + s4 * stride), w);
	}
	_mm256_storeu_si256((__m256i *)corr, _mm256_mullo_epi32(sum, _mm256_set1_epi32(-8)));
}

#endif

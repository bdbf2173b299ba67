/* SPDX-License-Identifier: MIT */
/*
 * Code unpacking shared by the AVX2 and AVX-512 K-quant column kernels (sparse_kq_avx2.c,
 * sparse_kq_avx512.c; both compiled with AVX2 available). Not public.
 */
#ifndef ACTIVESWAP_SPARSE_KQ_SIMD_H
#define ACTIVESWAP_SPARSE_KQ_SIMD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* The 64 codes of one chunk as two vectors of bytes (rows 0..31, 32..63). */
static inline void codes64(int w, const uint8_t *c, __m256i *lo, __m256i *hi)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m256i v = _mm256_loadu_si256((const __m256i *)c);

	*lo = _mm256_and_si256(v, m4);
	*hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
	if (w == 5) {
		uint64_t h;
		__m256i hb, one = _mm256_set1_epi8(1);

		memcpy(&h, c + 32, 8);
		hb = _mm256_set1_epi64x((long long)h);
		*lo = _mm256_add_epi8(*lo, _mm256_slli_epi16(_mm256_and_si256(
			_mm256_srlv_epi64(hb, _mm256_setr_epi64x(0, 1, 2, 3)), one), 4));
		*hi = _mm256_add_epi8(*hi, _mm256_slli_epi16(_mm256_and_si256(
			_mm256_srlv_epi64(hb, _mm256_setr_epi64x(4, 5, 6, 7)), one), 4));
	} else if (w == 6) {
		__m256i hb = _mm256_broadcastsi128_si256(
			_mm_loadu_si128((const __m128i *)(c + 32)));
		__m256i three = _mm256_set1_epi8(3);

		*lo = _mm256_add_epi8(*lo, _mm256_slli_epi16(_mm256_and_si256(
			_mm256_srlv_epi64(hb, _mm256_setr_epi64x(0, 0, 2, 2)), three), 4));
		*hi = _mm256_add_epi8(*hi, _mm256_slli_epi16(_mm256_and_si256(
			_mm256_srlv_epi64(hb, _mm256_setr_epi64x(4, 4, 6, 6)), three), 4));
	}
}

#endif

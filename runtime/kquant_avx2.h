/* SPDX-License-Identifier: MIT */
/*
 * AVX2 helpers shared by the Q4_K and Q5_K row kernels (kernels_avx2.c,
 * kernels_types_avx2.c): the block's six-bit scales and mins unpacked in vector registers
 * instead of byte by byte. Private; include after <immintrin.h>.
 */
#ifndef ACTIVESWAP_KQUANT_AVX2_H
#define ACTIVESWAP_KQUANT_AVX2_H

#include <stdint.h>
#include <string.h>

/*
 * The 12 scale bytes of a Q4_K / Q5_K block: words w0 (low six bits of sc[0..3], the two
 * high bits of sc[4..7]), w1 (the same for the mins m), w2 (low nibbles of sc[4..7], high
 * nibbles of m[4..7]). *sc16 receives sc[0..7] as int16 in each 128-bit lane (for
 * kq_bcast16); the result is m[j] * (bsums[2j] + bsums[2j+1]) in int32 lane j.
 */
static inline __m256i kq45_prep(const uint8_t *scales, const int16_t *bsums, __m256i *sc16)
{
	uint32_t w[3];
	uint64_t sc, mn;

	memcpy(w, scales, 12);
	sc = (w[0] & 0x3f3f3f3fu) |
	     (uint64_t)((w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u)) << 32;
	mn = (w[1] & 0x3f3f3f3fu) |
	     (uint64_t)(((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 2) & 0x30303030u)) << 32;

	__m128i s8 = _mm_cvtsi64_si128((long long)sc), m8 = _mm_cvtsi64_si128((long long)mn);

	*sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(s8));
	return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums),
				 _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)));
}

/* int16 element k (0..7) of each lane of sc16 in every int16 lane */
static inline __m256i kq_bcast16(__m256i sc16, int k)
{
	return _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0100 + 0x0202 * k)));
}

#endif

// SPDX-License-Identifier: MIT
/*
 * AVX-512 (F BW) row kernel of Q6_K against x as Q8_K, compiled with the AVX-512 flags and
 * installed only after the cpuid check in kernels.c. 64 weights per step: unsigned 6-bit
 * values times the Q8_K bytes through vpmaddubsw (pairs fit int16), then vpmaddwd against
 * each unit's scale (its 16 int8 scales permuted into place with vpermw). The integer
 * block sums equal the scalar reference's; only the float accumulation order differs.
 * Q4_K and Q5_K have no AVX-512 kernel: the AVX2 ones (scales unpacked in vector
 * registers, kquant_avx2.h) ran 1.29x and 1.38x faster than the 512-bit ones did, which
 * unpacked them in scalar code (Intel Xeon host, 2026-12-03, `bench kernels -t 1`, CPU
 * time per matvec), so the AVX-512 level keeps AVX2's.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels_impl.h"

#define ROW(W, rb, r) ((const uint8_t *)(W) + (size_t)(r) * (rb))

static inline float h2f(as_fp16_t h)
{
	return _cvtsh_ss(h);
}

static inline __m512i join(__m256i lo, __m256i hi)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __m256i load32(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* vpermw indices: int16 lane l of step c takes unit 4c + l / 8 of a 16-unit scale vector */
static inline __m512i unit_idx(int c)
{
	return _mm512_add_epi16(_mm512_set1_epi16((short)(4 * c)),
				_mm512_srli_epi16(_mm512_set_epi16(
					31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
					16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3));
}

/* 64 unsigned bytes times 64 Q8_K bytes, each 16-byte unit times its scale: 16 int32 */
static inline __m512i step(__m512i v, const int8_t *xq, __m512i sc16, __m512i idx)
{
	__m512i p = _mm512_maddubs_epi16(v, _mm512_loadu_si512((const void *)xq));

	return _mm512_madd_epi16(p, _mm512_permutexvar_epi16(idx, sc16));
}

static void rows_q6_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
	__m512i idx[4];

	for (int c = 0; c < 4; c++)
		idx[c] = unit_idx(c);
	for (size_t r = r0; r < r1; r++) {
		const struct block_q6_K *w = (const void *)ROW(W, rb, r);
		__m512 acc = _mm512_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			__m256i s16 = _mm256_cvtepi8_epi16(
				_mm_loadu_si128((const __m128i *)w[b].scales));
			__m512i sc16 = _mm512_castsi256_si512(s16);
			__m512i isum = _mm512_setzero_si512();
			/* sum (q - 32) x = sum q x - 32 sum_c sc[c] bsums[c] */
			__m256i corr = _mm256_madd_epi16(load32(xb->bsums), s16);

			for (int n = 0; n < 2; n++) {
				const uint8_t *ql = w[b].ql + 64 * n;
				__m256i l0 = load32(ql), l1 = load32(ql + 32);
				__m256i h = load32(w[b].qh + 32 * n);
				__m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
					_mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
				__m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
					_mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
				__m256i q2 = _mm256_or_si256(
					_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
					_mm256_and_si256(h, m30));
				__m256i q3 = _mm256_or_si256(
					_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
					_mm256_and_si256(_mm256_srli_epi16(h, 2), m30));

				isum = _mm512_add_epi32(isum, step(join(q0, q1), xb->qs + 128 * n,
								   sc16, idx[2 * n]));
				isum = _mm512_add_epi32(isum, step(join(q2, q3),
								   xb->qs + 128 * n + 64, sc16,
								   idx[2 * n + 1]));
			}
			isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(
				_mm256_slli_epi32(corr, 5)));
			acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum),
					      _mm512_set1_ps(h2f(w[b].d) * xb->d), acc);
		}
		y[r] = _mm512_reduce_add_ps(acc);
	}
}

void as_kernels_kquant_avx512_init(struct as_kernel_table *t)
{
	t->rows[AS_K_Q6_K] = rows_q6_K;
}

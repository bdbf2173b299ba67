// SPDX-License-Identifier: MIT
/*
 * AVX2 + FMA micro-kernel of the union product (sparse_gemm.h): AS_SG_MR positions by one
 * strip of 16 rows held in twelve accumulators, one vfmadd per (position, column, 8 rows):
 * the scalar reference's fmaf, in the same order. Fewer positions (the batch's last
 * block) compute the first one's in the free lanes and store only theirs.
 */
#include <immintrin.h>
#include <stdint.h>

#include "sparse_gemm.h"

_Static_assert(AS_SG_MR == 6 && AS_SG_STRIP == 16, "the kernel's registers");

#define ACC_INIT(t)                                                                  \
	do {                                                                         \
		a##t##0 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(Y + t * ldy); \
		a##t##1 = first ? _mm256_setzero_ps() :                              \
				  _mm256_loadu_ps(Y + t * ldy + 8);                  \
	} while (0)
#define ACC_STEP(t)                                                \
	do {                                                       \
		__m256 b = _mm256_broadcast_ss(x##t + j);          \
		a##t##0 = _mm256_fmadd_ps(b, w0, a##t##0);         \
		a##t##1 = _mm256_fmadd_ps(b, w1, a##t##1);         \
	} while (0)
#define ACC_STORE(t)                                               \
	do {                                                       \
		if (t < m) {                                       \
			_mm256_storeu_ps(Y + t * ldy, a##t##0);    \
			_mm256_storeu_ps(Y + t * ldy + 8, a##t##1); \
		}                                                  \
	} while (0)

void as_sg_kern_avx2(float *Y, size_t ldy, const float *p, const float *x, size_t ldx,
		     size_t kc, size_t m, bool first)
{
	/* positions past m compute position 0's again, unstored */
	const float *x0 = x, *x1 = x + (m > 1 ? ldx : 0), *x2 = x + (m > 2 ? 2 * ldx : 0);
	const float *x3 = x + (m > 3 ? 3 * ldx : 0), *x4 = x + (m > 4 ? 4 * ldx : 0);
	const float *x5 = x + (m > 5 ? 5 * ldx : 0);
	__m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;

	ACC_INIT(0);
	a10 = a20 = a30 = a40 = a50 = a00;
	a11 = a21 = a31 = a41 = a51 = a01;
	if (m > 1)
		ACC_INIT(1);
	if (m > 2)
		ACC_INIT(2);
	if (m > 3)
		ACC_INIT(3);
	if (m > 4)
		ACC_INIT(4);
	if (m > 5)
		ACC_INIT(5);
	for (size_t j = 0; j < kc; j++) {
		__m256 w0 = _mm256_loadu_ps(p + j * AS_SG_STRIP);
		__m256 w1 = _mm256_loadu_ps(p + j * AS_SG_STRIP + 8);

		ACC_STEP(0);
		ACC_STEP(1);
		ACC_STEP(2);
		ACC_STEP(3);
		ACC_STEP(4);
		ACC_STEP(5);
	}
	ACC_STORE(0);
	ACC_STORE(1);
	ACC_STORE(2);
	ACC_STORE(3);
	ACC_STORE(4);
	ACC_STORE(5);
}

/* q4_chunk of sparse_gemm.c: the chunk's 4 x 16 bytes as a 4 x 4 transpose of dwords
 * (strip s is dword s of each 16 bytes), nibbles widened to floats, times the scale. */
void as_sg_q4_chunk_avx2(const uint8_t *col, size_t qoff, size_t c, const float *d,
			 float *panel, size_t kc, size_t j)
{
	const uint8_t *q = col + qoff + 64 * c;
	__m128i v0 = _mm_loadu_si128((const __m128i *)q);
	__m128i v1 = _mm_loadu_si128((const __m128i *)(q + 16));
	__m128i v2 = _mm_loadu_si128((const __m128i *)(q + 32));
	__m128i v3 = _mm_loadu_si128((const __m128i *)(q + 48));
	__m128i t0 = _mm_unpacklo_epi32(v0, v1), t1 = _mm_unpacklo_epi32(v2, v3);
	__m128i t2 = _mm_unpackhi_epi32(v0, v1), t3 = _mm_unpackhi_epi32(v2, v3);
	__m128i st[4] = { _mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1),
			  _mm_unpacklo_epi64(t2, t3), _mm_unpackhi_epi64(t2, t3) };
	const __m128i m4 = _mm_set1_epi8(15);
	const __m256i eight = _mm256_set1_epi32(8);

	for (size_t s = 0; s < 4; s++) {
		__m128i nib[2] = { _mm_and_si128(st[s], m4),
				   _mm_and_si128(_mm_srli_epi16(st[s], 4), m4) };

		for (size_t h = 0; h < 2; h++) {
			__m256 sc = _mm256_set1_ps(d[2 * h + (s >> 1)]);
			__m256i a = _mm256_sub_epi32(_mm256_cvtepu8_epi32(nib[h]), eight);
			__m256i b = _mm256_sub_epi32(
				_mm256_cvtepu8_epi32(_mm_srli_si128(nib[h], 8)), eight);
			float *o = panel + ((s + 4 * h) * kc + j) * AS_SG_STRIP;

			_mm256_storeu_ps(o, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(a)));
			_mm256_storeu_ps(o + 8, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(b)));
		}
	}
}

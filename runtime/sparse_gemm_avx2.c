// SPDX-License-Identifier: MIT
/*
 * AVX2 + FMA + F16C forms of the union product's pieces (sparse_gemm.h): the panel laid
 * out by the single-token kernel's transpose of four columns, the activations prepared
 * by as_q4_prep8, and a micro-kernel of AS_SG_MR positions by 16 rows that adds a
 * group's vpmaddubsw pair sums in int16 (each at most 2 * 127 * 15 = 3810, a group of 8
 * steps at most 30480: exact) and widens them once per group: the scalar reference's
 * integers, then its fmaf. Fewer positions (the batch's last block) compute the first
 * one's in the free registers and store only theirs.
 */
#include <immintrin.h>
#include <stdint.h>

#include "sparse_gemm.h"
#include "sparse_q4_avx2.h"

_Static_assert(AS_SG_MR == 4 && AS_SG_STRIP == 16, "the kernel's registers");
_Static_assert(AS_SG_GROUP <= 32, "a group's pair sums add up in int16");

/*
 * Four columns' 32-byte half h of a chunk, interleaved so that every dword holds one
 * byte of each (unpack 8 then 16): dword k of o[k] is rows 16 k + 8 h .. + 7 of the
 * chunk in its low nibbles and 64 + the same in its high ones (sparse_avx2.c's q4_half).
 */
void as_sg_pack_avx2(const void *const *cols, size_t ns4, size_t qoff, size_t c0,
		     size_t nch, uint8_t *w)
{
	static const uint8_t zero[64];
	const __m256i lo4 = _mm256_set1_epi8(0x0f);

	for (size_t s4 = 0; s4 < ns4; s4++) {
		uint8_t *ws = w + s4 * AS_SG_WST;

		for (size_t c = 0; c < nch; c++)
			for (size_t h = 0; h < 2; h++) {
				__m256i v[4];

				for (int i = 0; i < 4; i++) {
					const uint8_t *col = cols[4 * s4 + (size_t)i];
					const uint8_t *src = col ? col + qoff + 64 * (c0 + c) : zero;

					v[i] = _mm256_loadu_si256((const __m256i *)(src + 32 * h));
				}
				__m256i l01 = _mm256_unpacklo_epi8(v[0], v[1]);
				__m256i h01 = _mm256_unpackhi_epi8(v[0], v[1]);
				__m256i l23 = _mm256_unpacklo_epi8(v[2], v[3]);
				__m256i h23 = _mm256_unpackhi_epi8(v[2], v[3]);
				__m256i o[4] = { _mm256_unpacklo_epi16(l01, l23),
						 _mm256_unpackhi_epi16(l01, l23),
						 _mm256_unpacklo_epi16(h01, h23),
						 _mm256_unpackhi_epi16(h01, h23) };

				for (size_t k = 0; k < 4; k++) {
					size_t row = 128 * c + 16 * k + 8 * h;

					_mm256_storeu_si256((__m256i *)(ws + 4 * row),
							    _mm256_and_si256(o[k], lo4));
					_mm256_storeu_si256(
						(__m256i *)(ws + 4 * (row + 64)),
						_mm256_and_si256(_mm256_srli_epi16(o[k], 4), lo4));
				}
			}
	}
}

/* The last 4 blocks of a tile (a share's odd chunk) also go through as_q4_prep8: it reads
 * 4 scales past them, still inside the column (its codes follow its scales: at least 64
 * bytes), and writes 4 unused lanes of qa, sa and corr (AS_SG_TILE entries each). */
void as_sg_prep_avx2(const void *const *cols, const float *x, size_t m, size_t b0,
		     size_t nb, uint32_t *qa, size_t stride, float *sa, int32_t *corr)
{
	size_t j = 0;

	for (; j + 4 <= nb && stride >= j + 8; j += 8)
		as_q4_prep8(cols, x, m, b0 + j, qa + j, stride, sa + j, corr + j);
	if (j < nb)
		as_q4_prep_scalar(cols, x, m, b0 + j, nb - j, qa + j, stride, sa + j, corr + j);
}

#define STEP(p)                                                                      \
	do {                                                                         \
		__m256i b = _mm256_set1_epi32((int)q##p[qi]);                        \
		a##p##0 = _mm256_add_epi16(a##p##0, _mm256_maddubs_epi16(w0, b));    \
		a##p##1 = _mm256_add_epi16(a##p##1, _mm256_maddubs_epi16(w1, b));    \
	} while (0)
#define FLUSH1(p, h)                                                                 \
	do {                                                                         \
		__m256i s = _mm256_add_epi32(_mm256_madd_epi16(a##p##h, ones),       \
					     _mm256_set1_epi32(corr[p * pst + gi])); \
		float *yp = Y + p * ldy + 8 * h;                                     \
		_mm256_storeu_ps(yp, _mm256_fmadd_ps(_mm256_set1_ps(sa[p * pst + gi]), \
						     _mm256_cvtepi32_ps(s),          \
						     _mm256_loadu_ps(yp)));          \
	} while (0)
#define FLUSH(p)                         \
	do {                             \
		if (p < m) {             \
			FLUSH1(p, 0);    \
			FLUSH1(p, 1);    \
		}                        \
	} while (0)

void as_sg_kern_avx2(float *Y, size_t ldy, const uint8_t *w, const uint32_t *qa, size_t qst,
		     const float *sa, const int32_t *corr, size_t pst, const uint32_t *gs,
		     size_t ng, size_t m)
{
	const __m256i ones = _mm256_set1_epi16(1);

	for (size_t g = 0; g < ng; g++) {
		/* positions past m compute position 0's again, unstored */
		const uint32_t *q0 = qa + g * AS_SG_QG;
		const uint32_t *q1 = q0 + (m > 1 ? qst : 0), *q2 = q0 + (m > 2 ? 2 * qst : 0);
		const uint32_t *q3 = q0 + (m > 3 ? 3 * qst : 0);
		__m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00;
		__m256i a20 = a00, a21 = a00, a30 = a00, a31 = a00;
		size_t gi = g * AS_SG_TILE;

		for (size_t s4 = gs[g] / 4, qi = 0; s4 < gs[g + 1] / 4; s4++, qi += AS_SG_TILE) {
			const uint8_t *ws = w + s4 * AS_SG_WST;
			__m256i w0 = _mm256_loadu_si256((const __m256i *)ws);
			__m256i w1 = _mm256_loadu_si256((const __m256i *)(ws + 32));

			STEP(0);
			STEP(1);
			STEP(2);
			STEP(3);
		}
		FLUSH(0);
		FLUSH(1);
		FLUSH(2);
		FLUSH(3);
	}
}

// SPDX-License-Identifier: MIT
/*
 * AVX-512 (F/BW/VL/DQ/VNNI) forms of the union product's pieces (sparse_gemm.h): the
 * activations prepared by as_q4_prep16 (16 blocks a vector, masked to the tile's), and a
 * micro-kernel of AS_SG_MR positions by 16 rows (one vector) whose vpdpbusd adds, per
 * dword of the panel, a row's 4 codes times a position's 4 int8 activations into int32:
 * the scalar reference's integers (two accumulators a position, even and odd steps,
 * added before the group's correction: integer sums, the same bits), then its fmaf per
 * group. The outputs stay in registers over the panel's groups. Fewer positions (the
 * batch's last block) compute the first one's in the free registers and store only theirs.
 */
#include <immintrin.h>
#include <stdint.h>

#include "sparse_gemm.h"
#include "sparse_q4_avx512.h"

_Static_assert(AS_SG_MR == 4 && AS_SG_STRIP == 16, "the kernel's registers");

void as_sg_prep_avx512(const void *const *cols, const float *x, size_t m, size_t b0,
		       size_t nb, uint32_t *qa, size_t stride, float *sa, int32_t *corr)
{
	for (size_t j = 0; j < nb; j += 16)
		as_q4_prep16(cols, x, m, b0 + j,
			     (__mmask16)(nb - j >= 16 ? 0xffff : (1u << (nb - j)) - 1), qa + j,
			     stride, sa + j, corr + j);
}

#define STEP(p, acc, k)                                                              \
	acc##p = _mm512_dpbusd_epi32(acc##p, k, _mm512_set1_epi32((int)q##p[qi]))
#define FLUSH(p, c)                                                                  \
	do {                                                                         \
		__m512i s = _mm512_add_epi32(_mm512_add_epi32(a##p, b##p),          \
					     _mm512_set1_epi32(corr[(c) + gi]));     \
		y##p = _mm512_fmadd_ps(_mm512_set1_ps(sa[(c) + gi]),                 \
				       _mm512_cvtepi32_ps(s), y##p);                 \
	} while (0)

void as_sg_kern_avx512(float *Y, size_t ldy, const uint8_t *w, const uint32_t *qa,
		       size_t qst, const float *sa, const int32_t *corr, size_t pst,
		       const uint32_t *gs, size_t ng, size_t m)
{
	/* positions past m compute position 0's again, unstored */
	size_t o1 = m > 1 ? 1 : 0, o2 = m > 2 ? 2 : 0, o3 = m > 3 ? 3 : 0;
	__m512 y0 = _mm512_loadu_ps(Y), y1 = _mm512_loadu_ps(Y + o1 * ldy);
	__m512 y2 = _mm512_loadu_ps(Y + o2 * ldy), y3 = _mm512_loadu_ps(Y + o3 * ldy);

	for (size_t g = 0; g < ng; g++) {
		const uint32_t *q0 = qa + g * AS_SG_QG, *q1 = q0 + o1 * qst;
		const uint32_t *q2 = q0 + o2 * qst, *q3 = q0 + o3 * qst;
		const __m512i z = _mm512_setzero_si512();
		__m512i a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
		size_t s4 = gs[g] / 4, e4 = gs[g + 1] / 4, qi = 0, gi = g * AS_SG_TILE;
		size_t c1 = o1 * pst, c2 = o2 * pst, c3 = o3 * pst;

		for (; s4 + 2 <= e4; s4 += 2) {
			__m512i k0 = _mm512_loadu_si512(w + s4 * AS_SG_WST);
			__m512i k1 = _mm512_loadu_si512(w + (s4 + 1) * AS_SG_WST);

			STEP(0, a, k0);
			STEP(1, a, k0);
			STEP(2, a, k0);
			STEP(3, a, k0);
			qi += AS_SG_TILE;
			STEP(0, b, k1);
			STEP(1, b, k1);
			STEP(2, b, k1);
			STEP(3, b, k1);
			qi += AS_SG_TILE;
		}
		if (s4 < e4) {
			__m512i k0 = _mm512_loadu_si512(w + s4 * AS_SG_WST);

			STEP(0, a, k0);
			STEP(1, a, k0);
			STEP(2, a, k0);
			STEP(3, a, k0);
		}
		FLUSH(0, 0);
		FLUSH(1, c1);
		FLUSH(2, c2);
		FLUSH(3, c3);
	}
	_mm512_storeu_ps(Y, y0);
	if (m > 1)
		_mm512_storeu_ps(Y + ldy, y1);
	if (m > 2)
		_mm512_storeu_ps(Y + 2 * ldy, y2);
	if (m > 3)
		_mm512_storeu_ps(Y + 3 * ldy, y3);
}

// SPDX-License-Identifier: MIT
/*
 * AVX-512 (F/BW/VL/DQ/VNNI) sparse gather-accumulate, called only after kernels.c's
 * cpuid check (as_simd_detect). Same order of operations per element as sparse_avx2.c:
 * one fused multiply-add per column, columns in order.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "sparse_impl.h"
#include "sparse_q4_avx512.h"

#define COL(i) ((const uint8_t *)cols[i] + off)
#define QCOL(i) ((const struct block_q8_0 *)COL(i))

/* Columns live in scattered slots and each is short (a few cache lines per thread), too
 * short for the hardware prefetcher: fetch the next columns while these are computed. */
static inline void prefetch_cols(const void *const *cols, size_t off, size_t i, size_t n,
				 size_t bytes)
{
	for (size_t j = i; j < i + 4 && j < n; j++)
		for (size_t b = 0; b < bytes; b += 64)
			_mm_prefetch((const char *)cols[j] + off + b, _MM_HINT_T0);
}

static void sp_f32(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		   size_t n)
{
	size_t v = ne / 16 * 16;

	for (size_t i = 0; i < n; i++) {
		const float *c = (const float *)COL(i);
		__m512 a = _mm512_set1_ps(x[i]);
		size_t r = 0;

		for (; r < v; r += 16)
			_mm512_storeu_ps(y + r, _mm512_fmadd_ps(a, _mm512_loadu_ps(c + r),
								_mm512_loadu_ps(y + r)));
		for (; r < ne; r++)
			y[r] = fmaf(x[i], c[r], y[r]);
	}
}

static void sp_f16(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		   size_t n)
{
	size_t v = ne / 16 * 16;

	for (size_t i = 0; i < n; i++) {
		const uint16_t *c = (const uint16_t *)COL(i);
		__m512 a = _mm512_set1_ps(x[i]);
		size_t r = 0;

		for (; r < v; r += 16) {
			__m512 w = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c + r)));

			_mm512_storeu_ps(y + r, _mm512_fmadd_ps(a, w, _mm512_loadu_ps(y + r)));
		}
		for (; r < ne; r++)
			y[r] = fmaf(x[i], _cvtsh_ss(c[r]), y[r]);
	}
}

static inline void cvt_q8(const int8_t *q, __m512 *f)
{
	f[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
	f[1] = _mm512_cvtepi32_ps(
		_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 16))));
}

/* Q8_0 columns, four per pass over y */
static void sp_q8_0(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		    size_t n)
{
	size_t nb = ne / 32;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		const struct block_q8_0 *c[4] = { QCOL(i), QCOL(i + 1), QCOL(i + 2), QCOL(i + 3) };

		prefetch_cols(cols, off, i + 4, n, nb * sizeof(struct block_q8_0));

		for (size_t b = 0; b < nb; b++) {
			float *yb = y + b * 32;
			__m512 f[2];
			__m512 a0 = _mm512_loadu_ps(yb), a1 = _mm512_loadu_ps(yb + 16);

			_Pragma("GCC unroll 4")
			for (int u = 0; u < 4; u++) { /* columns in order */
				__m512 su = _mm512_set1_ps(x[i + u] * _cvtsh_ss(c[u][b].d));

				cvt_q8(c[u][b].qs, f);
				a0 = _mm512_fmadd_ps(su, f[0], a0);
				a1 = _mm512_fmadd_ps(su, f[1], a1);
			}
			_mm512_storeu_ps(yb, a0);
			_mm512_storeu_ps(yb + 16, a1);
		}
	}
	for (; i < n; i++) {
		const struct block_q8_0 *c0 = QCOL(i);

		for (size_t b = 0; b < nb; b++) {
			float *yb = y + b * 32;
			__m512 f[2], s0 = _mm512_set1_ps(x[i] * _cvtsh_ss(c0[b].d));

			cvt_q8(c0[b].qs, f);
			_mm512_storeu_ps(yb, _mm512_fmadd_ps(s0, f[0], _mm512_loadu_ps(yb)));
			_mm512_storeu_ps(yb + 16,
					 _mm512_fmadd_ps(s0, f[1], _mm512_loadu_ps(yb + 16)));
		}
	}
}

/* ---- Q4_0 columns: int8 activations x 4-bit codes with VNNI ------------------------- */

static void sp_q4_0(float *y, size_t c0, size_t c1, size_t qoff, const void *const *cols,
		    const float *x, size_t n)
{
	uint32_t qa[AS_Q4_GROUP / 4 * AS_Q4_TILE] __attribute__((aligned(64)));
	float sa[AS_Q4_TILE] __attribute__((aligned(64)));
	int32_t corr[AS_Q4_TILE] __attribute__((aligned(64)));
	const __m512i lo4 = _mm512_set1_epi8(0x0f);

	for (size_t t0 = c0; t0 < c1; t0 += AS_Q4_TILE / 4) {
		size_t t1 = c1 - t0 < AS_Q4_TILE / 4 ? c1 : t0 + AS_Q4_TILE / 4;
		size_t nb = (t1 - t0) * 4;

		for (size_t g = 0; g < n; g += AS_Q4_GROUP) {
			size_t m = n - g < AS_Q4_GROUP ? n - g : AS_Q4_GROUP, ns = (m + 3) / 4;
			const uint8_t *cp[AS_Q4_GROUP];
			const char *np[AS_Q4_GROUP];

			for (size_t j = 0; j < nb; j += 16)
				as_q4_prep16(cols + g, x + g, m, t0 * 4 + j,
					  (__mmask16)(nb - j >= 16 ? 0xffff : (1u << (nb - j)) - 1),
					  qa + j, AS_Q4_TILE, sa + j, corr + j);
			size_t cend = 0;
			size_t nm = as_q4_prefetch_next(cols, n, g, t0, t1, c1, qoff, np, &cend);

			for (size_t i = 0; i < 4 * ns; i++)
				cp[i] = (const uint8_t *)cols[g + (i < m ? i : m - 1)] + qoff;
			for (size_t c = t0; c < t1; c++) {
				size_t jb = (c - t0) * 4;
				float *yc = y + (c - c0) * 128;
				__m512i acc[8];

				for (size_t i = 0; c < cend && i < nm; i++)
					_mm_prefetch(np[i] + 64 * c, _MM_HINT_T0);
				/* acc[0..3]: rows 0..63 (low nibbles); acc[4..7]: rows 64..127
				 * (high nibbles, masked in place: 16 x the codes, 16 x corr; the
				 * product wraps like the lanes do: a column's non-finite scale makes
				 * corr huge, and the result NaN anyway) */
				for (int j = 0; j < 4; j++) {
					acc[j] = _mm512_set1_epi32(corr[jb + j / 2]);
					acc[j + 4] = _mm512_set1_epi32(
						(int)((uint32_t)corr[jb + 2 + j / 2] * 16u));
				}
				for (size_t s4 = 0; s4 < ns; s4++) {
					const uint32_t *q = qa + s4 * AS_Q4_TILE + jb;
					const uint8_t *const *cq = cp + 4 * s4;
					__m512i v0 = _mm512_loadu_si512(cq[0] + 64 * c);
					__m512i v1 = _mm512_loadu_si512(cq[1] + 64 * c);
					__m512i v2 = _mm512_loadu_si512(cq[2] + 64 * c);
					__m512i v3 = _mm512_loadu_si512(cq[3] + 64 * c);
					__m512i l01 = _mm512_unpacklo_epi8(v0, v1);
					__m512i h01 = _mm512_unpackhi_epi8(v0, v1);
					__m512i l23 = _mm512_unpacklo_epi8(v2, v3);
					__m512i h23 = _mm512_unpackhi_epi8(v2, v3);
					__m512i w[4];
					__m512i q0 = _mm512_set1_epi32((int)q[0]);
					__m512i q1 = _mm512_set1_epi32((int)q[1]);
					__m512i q2 = _mm512_set1_epi32((int)q[2]);
					__m512i q3 = _mm512_set1_epi32((int)q[3]);

					/* dword lane l of w[j]: the 4 columns' bytes of row 16 j + l */
					w[0] = _mm512_unpacklo_epi16(l01, l23);
					w[1] = _mm512_unpackhi_epi16(l01, l23);
					w[2] = _mm512_unpacklo_epi16(h01, h23);
					w[3] = _mm512_unpackhi_epi16(h01, h23);
					acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_and_si512(w[0], lo4), q0);
					acc[1] = _mm512_dpbusd_epi32(acc[1], _mm512_and_si512(w[1], lo4), q0);
					acc[2] = _mm512_dpbusd_epi32(acc[2], _mm512_and_si512(w[2], lo4), q1);
					acc[3] = _mm512_dpbusd_epi32(acc[3], _mm512_and_si512(w[3], lo4), q1);
					acc[4] = _mm512_dpbusd_epi32(acc[4], _mm512_andnot_si512(lo4, w[0]), q2);
					acc[5] = _mm512_dpbusd_epi32(acc[5], _mm512_andnot_si512(lo4, w[1]), q2);
					acc[6] = _mm512_dpbusd_epi32(acc[6], _mm512_andnot_si512(lo4, w[2]), q3);
					acc[7] = _mm512_dpbusd_epi32(acc[7], _mm512_andnot_si512(lo4, w[3]), q3);
				}
				for (int j = 4; j < 8; j++)
					acc[j] = _mm512_srai_epi32(acc[j], 4); /* exact: 16 x integer */
				for (int j = 0; j < 8; j++)
					_mm512_storeu_ps(yc + 16 * j,
							 _mm512_fmadd_ps(_mm512_set1_ps(sa[jb + j / 2]),
									 _mm512_cvtepi32_ps(acc[j]),
									 _mm512_loadu_ps(yc + 16 * j)));
			}
		}
	}
}

void as_sparse_avx512_init(struct as_sparse_table *t)
{
	t->fn[AS_SP_F32] = sp_f32;
	t->fn[AS_SP_F16] = sp_f16;
	t->fn[AS_SP_Q8_0] = sp_q8_0;
	t->q4 = sp_q4_0;
}

// SPDX-License-Identifier: MIT
/*
 * AVX2 + FMA + F16C sparse gather-accumulate (compiled with -mavx2 -mfma -mf16c, called
 * only after kernels.c's cpuid check, as_simd_detect). Four columns are applied per pass
 * over y, in column order, so every element sees the same sequence of fused multiply-adds
 * as with one column at a time.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "sparse_impl.h"
#include "sparse_q4_avx2.h"

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
	size_t v = ne / 8 * 8;

	for (size_t i = 0; i < n; i++) {
		const float *c = (const float *)COL(i);
		__m256 a = _mm256_set1_ps(x[i]);
		size_t r = 0;

		for (; r < v; r += 8)
			_mm256_storeu_ps(y + r, _mm256_fmadd_ps(a, _mm256_loadu_ps(c + r),
								_mm256_loadu_ps(y + r)));
		for (; r < ne; r++)
			y[r] = fmaf(x[i], c[r], y[r]);
	}
}

static void sp_f16(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		   size_t n)
{
	size_t v = ne / 8 * 8;

	for (size_t i = 0; i < n; i++) {
		const uint16_t *c = (const uint16_t *)COL(i);
		__m256 a = _mm256_set1_ps(x[i]);
		size_t r = 0;

		for (; r < v; r += 8) {
			__m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(c + r)));

			_mm256_storeu_ps(y + r, _mm256_fmadd_ps(a, w, _mm256_loadu_ps(y + r)));
		}
		for (; r < ne; r++)
			y[r] = fmaf(x[i], _cvtsh_ss(c[r]), y[r]);
	}
}

/* 32 int8 -> four vectors of 8 floats */
static inline void cvt32(const int8_t *q, __m256 *f)
{
	__m128i a = _mm_loadu_si128((const __m128i *)q);
	__m128i b = _mm_loadu_si128((const __m128i *)(q + 16));

	f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(a));
	f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(a, 8)));
	f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
	f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
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
			__m256 acc[4], f[4];

			for (int k = 0; k < 4; k++)
				acc[k] = _mm256_loadu_ps(yb + 8 * k);
			_Pragma("GCC unroll 4")
			for (int u = 0; u < 4; u++) { /* columns in order */
				__m256 su = _mm256_set1_ps(x[i + u] * _cvtsh_ss(c[u][b].d));

				cvt32(c[u][b].qs, f);
				for (int k = 0; k < 4; k++)
					acc[k] = _mm256_fmadd_ps(su, f[k], acc[k]);
			}
			for (int k = 0; k < 4; k++)
				_mm256_storeu_ps(yb + 8 * k, acc[k]);
		}
	}
	for (; i < n; i++) {
		const struct block_q8_0 *c0 = QCOL(i);

		for (size_t b = 0; b < nb; b++) {
			float *yb = y + b * 32;
			__m256 f[4], s0 = _mm256_set1_ps(x[i] * _cvtsh_ss(c0[b].d));

			cvt32(c0[b].qs, f);
			for (int k = 0; k < 4; k++)
				_mm256_storeu_ps(yb + 8 * k,
						 _mm256_fmadd_ps(s0, f[k],
								 _mm256_loadu_ps(yb + 8 * k)));
		}
	}
}

/*
 * One 32-byte half h of chunk c for one group: 64 rows (32 low nibbles, 32 high).
 * Four columns' bytes are interleaved once (unpack 8 then 16) so that every dword holds
 * byte p of the four columns; both nibbles are taken from that one transpose. vpmaddubsw
 * against the four int8 activations gives per row two int16 pair sums, each at most
 * 2 * 127 * 15 = 3810 in magnitude, so a whole group (8 steps of 4 columns) adds up in
 * int16 exactly (<= 30480) and is widened once (vpmaddwd by 1) at the end: the same
 * integers as the scalar reference. Dword k of the transpose is rows 16 k + 8 h .. +7 of
 * the low nibbles (block k / 2) and 64 + the same of the high ones (block 2 + k / 2).
 */
static inline void q4_half(float *yc, int h, const uint8_t *const *cp, size_t ns, size_t off,
			   const uint32_t *q, const float *sa, const int32_t *corr,
			   const char *const *pf, size_t npf, size_t pfo)
{
	const __m256i lo4 = _mm256_set1_epi8(0x0f);
	size_t p0 = 16 * (size_t)h, p1 = p0 + 16 < npf ? p0 + 16 : npf;
	__m256i a[8];

	for (int k = 0; k < 8; k++)
		a[k] = _mm256_setzero_si256();
	for (size_t s4 = 0; s4 < ns; s4++) {
		/* the prefetches (pf[p0 .. p1) + pfo) two per step: a burst of 32 stalls on
		 * the miss buffers */
		for (int u = 0; u < 2 && p0 < p1; u++)
			_mm_prefetch(pf[p0++] + pfo, _MM_HINT_T0);
		const uint32_t *qs = q + s4 * AS_Q4_TILE;
		const uint8_t *const *p = cp + 4 * s4;
		__m256i v0 = _mm256_loadu_si256((const __m256i *)(p[0] + off));
		__m256i v1 = _mm256_loadu_si256((const __m256i *)(p[1] + off));
		__m256i v2 = _mm256_loadu_si256((const __m256i *)(p[2] + off));
		__m256i v3 = _mm256_loadu_si256((const __m256i *)(p[3] + off));
		__m256i l01 = _mm256_unpacklo_epi8(v0, v1), h01 = _mm256_unpackhi_epi8(v0, v1);
		__m256i l23 = _mm256_unpacklo_epi8(v2, v3), h23 = _mm256_unpackhi_epi8(v2, v3);
		__m256i o[4] = { _mm256_unpacklo_epi16(l01, l23), _mm256_unpackhi_epi16(l01, l23),
				 _mm256_unpacklo_epi16(h01, h23), _mm256_unpackhi_epi16(h01, h23) };

		_Pragma("GCC unroll 4")
		for (int k = 0; k < 4; k++) {
			__m256i bl = _mm256_set1_epi32((int)qs[k / 2]);
			__m256i bh = _mm256_set1_epi32((int)qs[2 + k / 2]);
			__m256i nl = _mm256_and_si256(o[k], lo4);
			__m256i nh = _mm256_and_si256(_mm256_srli_epi16(o[k], 4), lo4);

			a[k] = _mm256_add_epi16(a[k], _mm256_maddubs_epi16(nl, bl));
			a[4 + k] = _mm256_add_epi16(a[4 + k], _mm256_maddubs_epi16(nh, bh));
		}
	}
	while (p0 < p1)
		_mm_prefetch(pf[p0++] + pfo, _MM_HINT_T0);
	_Pragma("GCC unroll 8")
	for (int k = 0; k < 8; k++) {
		int blk = (k >> 2) * 2 + (k & 3) / 2;
		float *yp = yc + 64 * (k >> 2) + 16 * (k & 3) + 8 * h;
		__m256i s = _mm256_add_epi32(_mm256_madd_epi16(a[k], _mm256_set1_epi16(1)),
					     _mm256_set1_epi32(corr[blk]));

		_mm256_storeu_ps(yp, _mm256_fmadd_ps(_mm256_set1_ps(sa[blk]), _mm256_cvtepi32_ps(s),
						     _mm256_loadu_ps(yp)));
	}
}

_Static_assert(AS_Q4_GROUP <= 32, "q4_half adds a group's pair sums in int16");

/*
 * Q4_0 columns: int8 activations x 4-bit codes (vpmaddubsw, exact integers)
 * (activeswap/sparse.h has the definition).
 */
static void sp_q4_0(float *y, size_t c0, size_t c1, size_t qoff, const void *const *cols,
		    const float *x, size_t n)
{
	uint32_t qa[AS_Q4_GROUP / 4 * AS_Q4_TILE];
	float sa[AS_Q4_TILE];
	int32_t corr[AS_Q4_TILE];

	for (size_t t0 = c0; t0 < c1; t0 += AS_Q4_TILE / 4) {
		size_t t1 = c1 - t0 < AS_Q4_TILE / 4 ? c1 : t0 + AS_Q4_TILE / 4;

		for (size_t g = 0; g < n; g += AS_Q4_GROUP) {
			size_t m = n - g < AS_Q4_GROUP ? n - g : AS_Q4_GROUP, ns = (m + 3) / 4;
			const uint8_t *cp[AS_Q4_GROUP];

			{
				size_t nb = (t1 - t0) * 4, j = 0;

				for (; j + 8 <= nb; j += 8)
					as_q4_prep8(cols + g, x + g, m, t0 * 4 + j, qa + j, AS_Q4_TILE,
						 sa + j, corr + j);
				if (j < nb)
					as_q4_prep_scalar(cols + g, x + g, m, t0 * 4 + j, nb - j, qa + j,
							  AS_Q4_TILE, sa + j, corr + j);
			}
			const char *np[AS_Q4_GROUP];
			size_t cend = 0;
			size_t nm = as_q4_prefetch_next(cols, n, g, t0, t1, c1, qoff, np, &cend);

			for (size_t i = 0; i < 4 * ns; i++)
				cp[i] = (const uint8_t *)cols[g + (i < m ? i : m - 1)] + qoff;
			for (size_t c = t0; c < t1; c++) {
				size_t jb = (c - t0) * 4;

				for (int h = 0; h < 2; h++)
					q4_half(y + (c - c0) * 128, h, cp, ns, 64 * c + 32 * (size_t)h,
						qa + jb, sa + jb, corr + jb, np, c < cend ? nm : 0,
						64 * c);
			}
		}
	}
}

void as_sparse_avx2_init(struct as_sparse_table *t)
{
	t->fn[AS_SP_F32] = sp_f32;
	t->fn[AS_SP_F16] = sp_f16;
	t->fn[AS_SP_Q8_0] = sp_q8_0;
	t->q4 = sp_q4_0;
}

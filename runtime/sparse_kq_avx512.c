// SPDX-License-Identifier: MIT
/*
 * AVX-512 kernel of the K-quant columns (compiled with the AVX-512 flags, called only
 * after the cpuid check): the AVX2 kernel's operations, sixteen rows per vector (the 64
 * codes of a column in one register, two columns' int16 pairs into vpdpwssd, four int32
 * accumulators per 64-row tile over a run of one sub-block's columns), so the result is
 * the scalar reference's bit for bit (activeswap/sparse.h).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sparse_impl.h"
#include "sparse_kq_simd.h"

/* Scales of the 16 rows rr .. rr+15 for sub-block s: D = d sc, M = dmin m (Q6_K: M unused). */
static inline void scales16(int w, const uint8_t *base, size_t P, size_t s, size_t rr,
			    __m512 *D, __m512 *M)
{
	__m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(base + 2 * rr)));

	if (w == 6) {
		__m128i sc = _mm_loadu_si128((const __m128i *)(base + 2 * P + s * P + rr));

		*D = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)));
		return;
	}
	{
		__m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(
			(const __m128i *)(base + 4 * P + s * P + rr)));
		__m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(
			(const __m256i *)(base + 2 * P + 2 * rr)));
		uint32_t lo, hi;
		__m512i nb, mm;

		memcpy(&lo, base + 12 * P + s * P / 2 + rr / 2, 4);
		memcpy(&hi, base + 12 * P + s * P / 2 + rr / 2 + 4, 4);
		nb = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int)lo)),
					_mm256_set1_epi32((int)hi), 1);
		mm = _mm512_and_si512(_mm512_srlv_epi32(nb, _mm512_setr_epi32(
			0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28)),
			_mm512_set1_epi32(15));
		mm = _mm512_or_si512(_mm512_slli_epi32(mm, 2), _mm512_srli_epi32(sc, 6));
		sc = _mm512_and_si512(sc, _mm512_set1_epi32(63));
		*D = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
		*M = _mm512_mul_ps(dm, _mm512_cvtepi32_ps(mm));
	}
}

/* The 64 codes of a chunk in one register: 128-bit lane L holds rows 16 L .. 16 L + 15. */
static inline __m512i codes512(int w, const uint8_t *c)
{
	__m256i lo, hi;

	codes64(w, c, &lo, &hi);
	return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

void as_kq_tile_avx512(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		       const void *table, const void *const *cols,
		       const struct as_kq_run *run)
{
	int w = as_kq_width(t);
	size_t cb = (size_t)w * 8, n = run->n, b = run->ch / QK_K;
	size_t s = (run->ch % QK_K) / as_kq_sub(t);
	const uint8_t *base = (const uint8_t *)table + b * P * (w == 6 ? 18 : 16);
	const __m512i z = _mm512_setzero_si512();
	__m512i xx[16], bias;
	__m512 sxv = _mm512_set1_ps(run->sx), sv = _mm512_set1_ps(run->s);

	for (size_t i = 0; i < n; i += 2) {
		uint16_t qa = (uint16_t)run->q[i], qb = i + 1 < n ? (uint16_t)run->q[i + 1] : 0;

		xx[i / 2] = _mm512_set1_epi32((int32_t)((uint32_t)qa | (uint32_t)qb << 16));
	}
	bias = _mm512_set1_epi32(w == 6 ? 32 * run->sq : 0); /* the codes' offset: Q6_K's 32 */
	for (size_t k = 0; k < nt; k++) {
		size_t j = r / 64 + k;
		__m512i acc[4], t0, t1, t2, t3, o[4];

		for (int g = 0; g < 4; g++)
			acc[g] = _mm512_setzero_si512();
		for (size_t i = 0; i < n; i += 2) {
			const uint8_t *ca = (const uint8_t *)cols[i] + j * cb;
			const uint8_t *cb2 = i + 1 < n ? (const uint8_t *)cols[i + 1] + j * cb : ca;
			__m512i a, bb, p0, p1;

			if (k + 2 < nt) { /* the columns' chunks two tiles ahead */
				_mm_prefetch((const char *)ca + 2 * cb, _MM_HINT_T0);
				_mm_prefetch((const char *)cb2 + 2 * cb, _MM_HINT_T0);
			}
			a = codes512(w, ca);
			bb = codes512(w, cb2);
			p0 = _mm512_unpacklo_epi8(a, bb);
			p1 = _mm512_unpackhi_epi8(a, bb);
			/* lanes of acc[g]: rows 16 L + 4 g .. 16 L + 4 g + 3 */
			/* vpdpwssd (AVX-512 VNNI, which the level requires): acc += the pair
			 * products, exact in int32 as vpmaddwd + vpaddd */
			acc[0] = _mm512_dpwssd_epi32(acc[0], _mm512_unpacklo_epi8(p0, z), xx[i / 2]);
			acc[1] = _mm512_dpwssd_epi32(acc[1], _mm512_unpackhi_epi8(p0, z), xx[i / 2]);
			acc[2] = _mm512_dpwssd_epi32(acc[2], _mm512_unpacklo_epi8(p1, z), xx[i / 2]);
			acc[3] = _mm512_dpwssd_epi32(acc[3], _mm512_unpackhi_epi8(p1, z), xx[i / 2]);
		}
		/* back in row order: o[L] = rows 16 L .. 16 L + 15 (a 4 x 4 transpose of lanes) */
		t0 = _mm512_shuffle_i32x4(acc[0], acc[1], _MM_SHUFFLE(2, 0, 2, 0));
		t1 = _mm512_shuffle_i32x4(acc[2], acc[3], _MM_SHUFFLE(2, 0, 2, 0));
		t2 = _mm512_shuffle_i32x4(acc[0], acc[1], _MM_SHUFFLE(3, 1, 3, 1));
		t3 = _mm512_shuffle_i32x4(acc[2], acc[3], _MM_SHUFFLE(3, 1, 3, 1));
		o[0] = _mm512_shuffle_i32x4(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
		o[1] = _mm512_shuffle_i32x4(t2, t3, _MM_SHUFFLE(2, 0, 2, 0));
		o[2] = _mm512_shuffle_i32x4(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
		o[3] = _mm512_shuffle_i32x4(t2, t3, _MM_SHUFFLE(3, 1, 3, 1));
		/* the sub-block's scales, once per row */
		for (int g = 0; g < 4; g++) {
			float *yg = y + 64 * k + 16 * (size_t)g;
			__m512 yv = _mm512_loadu_ps(yg), D, M;
			__m512 av = _mm512_cvtepi32_ps(_mm512_sub_epi32(o[g], bias));

			scales16(w, base, P, s, r + 64 * k + 16 * (size_t)g, &D, &M);
			D = _mm512_mul_ps(D, sv);
			if (w == 6)
				yv = _mm512_fmadd_ps(D, av, yv);
			else
				yv = _mm512_add_ps(yv, _mm512_fmsub_ps(D, av,
								 _mm512_mul_ps(M, sxv)));
			_mm512_storeu_ps(yg, yv);
		}
	}
}

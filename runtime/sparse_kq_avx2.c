// SPDX-License-Identifier: MIT
/*
 * AVX2 + FMA + F16C kernel of the K-quant columns (sparse_kq.c has the scalar reference,
 * the activations' quantization and the dispatch; compiled with -mavx2 -mfma -mf16c,
 * called only after the cpuid check). One run of columns (one scale sub-block, its
 * activations as int16) over all the tiles of 64 rows: the codes of two columns are
 * interleaved row by row into int16 pairs and multiplied by the pair of activations with
 * vpmaddwd (the output rows are the lanes), eight int32 accumulators per tile over the
 * run's columns; then one float fma per row with the sub-block's scales. The integer sums
 * are exact and the float operations the reference's (activeswap/sparse.h), so the
 * result is the same bit for bit.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sparse_impl.h"
#include "sparse_kq_simd.h"

/* y[0 .. 64) += Ds acc - M sx (Q6_K: Ds acc) for the rows r .. r+63, sub-block s of b. */
static inline void flush(int w, const uint8_t *base, size_t P, size_t s, size_t r, float *y,
			 const __m256i *acc, const struct as_kq_run *run)
{
	__m256 sxv = _mm256_set1_ps(run->sx), sv = _mm256_set1_ps(run->s);

	for (int g = 0; g < 8; g++) {
		size_t rr = r + 8 * (size_t)g;
		__m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(base + 2 * rr)));
		__m256 yv = _mm256_loadu_ps(y + 8 * g), a = _mm256_cvtepi32_ps(acc[g]);

		if (w == 6) {
			__m128i sc = _mm_loadl_epi64((const __m128i *)(base + 2 * P + s * P + rr));
			__m256 D = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));

			yv = _mm256_fmadd_ps(_mm256_mul_ps(D, sv), a, yv);
		} else {
			__m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
				(const __m128i *)(base + 4 * P + s * P + rr)));
			__m256 dm = _mm256_cvtph_ps(_mm_loadu_si128(
				(const __m128i *)(base + 2 * P + 2 * rr)));
			uint32_t nib;
			__m256i mm;
			__m256 D, M;

			/* m: 2 bits above the 6-bit scale, 4 in a nibble */
			memcpy(&nib, base + 12 * P + s * P / 2 + rr / 2, 4);
			mm = _mm256_srlv_epi32(_mm256_set1_epi32((int)nib),
					       _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
			mm = _mm256_and_si256(mm, _mm256_set1_epi32(15));
			mm = _mm256_or_si256(_mm256_slli_epi32(mm, 2), _mm256_srli_epi32(sc, 6));
			sc = _mm256_and_si256(sc, _mm256_set1_epi32(63));
			D = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc));
			M = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(mm));
			yv = _mm256_add_ps(yv, _mm256_fmsub_ps(_mm256_mul_ps(D, sv), a,
							       _mm256_mul_ps(M, sxv)));
		}
		_mm256_storeu_ps(y + 8 * g, yv);
	}
}

/*
 * acc[0..3] += the products of rows 0..31 of columns a and b (bytes, row k in byte k)
 * with the activation pair xx (int16 qa | qb << 16 in every dword). Lanes: acc[0] rows
 * 0-3 and 16-19, acc[1] 4-7 and 20-23, acc[2] 8-11 and 24-27, acc[3] 12-15 and 28-31.
 */
static inline void pair32(__m256i a, __m256i b, __m256i xx, __m256i *acc)
{
	const __m256i z = _mm256_setzero_si256();
	__m256i p0 = _mm256_unpacklo_epi8(a, b), p1 = _mm256_unpackhi_epi8(a, b);

	acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_unpacklo_epi8(p0, z), xx));
	acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(_mm256_unpackhi_epi8(p0, z), xx));
	acc[2] = _mm256_add_epi32(acc[2], _mm256_madd_epi16(_mm256_unpacklo_epi8(p1, z), xx));
	acc[3] = _mm256_add_epi32(acc[3], _mm256_madd_epi16(_mm256_unpackhi_epi8(p1, z), xx));
}

/* pair32's lanes back in row order: rows 0-7, 8-15, 16-23, 24-31 into o[0..3]. */
static inline void rows32(const __m256i *acc, __m256i *o)
{
	o[0] = _mm256_permute2x128_si256(acc[0], acc[1], 0x20);
	o[1] = _mm256_permute2x128_si256(acc[2], acc[3], 0x20);
	o[2] = _mm256_permute2x128_si256(acc[0], acc[1], 0x31);
	o[3] = _mm256_permute2x128_si256(acc[2], acc[3], 0x31);
}

/* The tile for code width w (a constant in each instance below). */
static inline __attribute__((always_inline)) void tile(int w, enum ggml_type t, float *y,
							size_t r, size_t nt, size_t P,
							const void *table,
							const void *const *cols,
							const struct as_kq_run *run)
{
	size_t cb = (size_t)w * 8, n = run->n, b = run->ch / QK_K;
	size_t s = (run->ch % QK_K) / as_kq_sub(t);
	const uint8_t *base = (const uint8_t *)table + b * P * (w == 6 ? 18 : 16);
	__m256i xx[16], bias;

	/* the activation pairs; the odd column's partner has q = 0 */
	for (size_t i = 0; i < n; i += 2) {
		uint16_t qa = (uint16_t)run->q[i], qb = i + 1 < n ? (uint16_t)run->q[i + 1] : 0;

		xx[i / 2] = _mm256_set1_epi32((int32_t)((uint32_t)qa | (uint32_t)qb << 16));
	}
	bias = _mm256_set1_epi32(w == 6 ? 32 * run->sq : 0); /* the codes' offset: Q6_K's 32 */
	for (size_t k = 0; k < nt; k++) {
		size_t j = r / 64 + k;
		__m256i acc[8], o[8];

		for (int g = 0; g < 8; g++)
			acc[g] = _mm256_setzero_si256();
		for (size_t i = 0; i < n; i += 2) {
			const uint8_t *ca = (const uint8_t *)cols[i] + j * cb;
			const uint8_t *cb2 = i + 1 < n ? (const uint8_t *)cols[i + 1] + j * cb : ca;
			__m256i alo, ahi, blo, bhi;

			if (k + 2 < nt) { /* the columns' chunks two tiles ahead */
				_mm_prefetch((const char *)ca + 2 * cb, _MM_HINT_T0);
				_mm_prefetch((const char *)cb2 + 2 * cb, _MM_HINT_T0);
			}
			codes64(w, ca, &alo, &ahi);
			codes64(w, cb2, &blo, &bhi);
			pair32(alo, blo, xx[i / 2], acc);
			pair32(ahi, bhi, xx[i / 2], acc + 4);
		}
		rows32(acc, o);
		rows32(acc + 4, o + 4);
		for (int g = 0; g < 8; g++)
			o[g] = _mm256_sub_epi32(o[g], bias);
		flush(w, base, P, s, r + 64 * k, y + 64 * k, o, run);
	}
}

void as_kq_tile_avx2(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		     const void *table, const void *const *cols, const struct as_kq_run *run)
{
	switch (as_kq_width(t)) {
	case 4:
		tile(4, t, y, r, nt, P, table, cols, run);
		break;
	case 5:
		tile(5, t, y, r, nt, P, table, cols, run);
		break;
	case 6:
		tile(6, t, y, r, nt, P, table, cols, run);
		break;
	}
}

// SPDX-License-Identifier: MIT
/*
 * AVX2 row kernels of Q4_1, Q5_0, Q5_1, IQ4_NL (against x as Q8_0) and Q2_K, Q3_K, Q5_K,
 * IQ4_XS (against x as Q8_K); compiled with -mavx2 -mfma -mf16c and installed only after
 * the cpuid check in kernels.c. The integer block sums equal the scalar reference's
 * (kernels_types.c); only the float accumulation order differs. Byte products go through
 * vpmaddubsw (unsigned x signed): the weights are made unsigned (nibbles, 5-bit values)
 * or, for the signed IQ4 levels, |w| against x with w's sign, so that no pair of products
 * exceeds int16.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels_impl.h"
#include "kquant_avx2.h"

#define ROW(W, rb, r) ((const uint8_t *)(W) + (size_t)(r) * (rb))

static inline float h2f(as_fp16_t h)
{
	return _cvtsh_ss(h);
}

static inline float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* u8 a times s8 b, pairs summed to int16 then to 8 int32 lanes */
static inline __m256i dot_u8s8(__m256i a, __m256i b)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

/* s8 a (|a| <= 127) times s8 b */
static inline __m256i dot_s8s8(__m256i a, __m256i b)
{
	return dot_u8s8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0..15), then high ones */
static inline __m256i nibbles32(const uint8_t *qs)
{
	__m128i q = _mm_loadu_si128((const __m128i *)qs);

	return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q),
				_mm256_set1_epi8(0x0f));
}

/* bit j of the 32-bit little-endian qh as 16 in byte j (0 otherwise) */
static inline __m256i bit5(const uint8_t *qh)
{
	uint32_t v;

	memcpy(&v, qh, 4);
	const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
					     2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	__m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), sel);

	b = _mm256_cmpeq_epi8(_mm256_and_si256(b, bits), bits);
	return _mm256_and_si256(b, _mm256_set1_epi8(16));
}

static inline __m256i iq4_levels(__m256i idx)
{
	const __m128i t = _mm_loadu_si128((const __m128i *)as_kvalues_iq4nl);

	return _mm256_shuffle_epi8(_mm256_set_m128i(t, t), idx);
}

static inline __m256i load32(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* ---- 32-element blocks against Q8_0 ---------------------------------------------------- */

static void rows_q4_1(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_1;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_1 *w = (const void *)ROW(W, rb, r);
		__m256 acc = _mm256_setzero_ps();
		float macc = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			__m256i s = dot_u8s8(nibbles32(w[b].qs), load32(x->q8[b].qs));

			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
					      _mm256_set1_ps(h2f(w[b].d) * h2f(x->q8[b].d)), acc);
			macc += h2f(w[b].m) * x->q8s1[b];
		}
		y[r] = hsum8(acc) + macc;
	}
}

static void rows_q5_1(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK5_1;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_1 *w = (const void *)ROW(W, rb, r);
		__m256 acc = _mm256_setzero_ps();
		float macc = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			__m256i v = _mm256_or_si256(nibbles32(w[b].qs), bit5(w[b].qh));
			__m256i s = dot_u8s8(v, load32(x->q8[b].qs));

			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
					      _mm256_set1_ps(h2f(w[b].d) * h2f(x->q8[b].d)), acc);
			macc += h2f(w[b].m) * x->q8s1[b];
		}
		y[r] = hsum8(acc) + macc;
	}
}

static void rows_q5_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK5_0;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_0 *w = (const void *)ROW(W, rb, r);
		__m256 acc = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			__m256i v = _mm256_or_si256(nibbles32(w[b].qs), bit5(w[b].qh));
			__m256i s = dot_u8s8(v, load32(x->q8[b].qs));

			/* sum (v - 16) x = sum v x - 16 sum x; q8sum is 8 sum x */
			s = _mm256_sub_epi32(s, _mm256_setr_epi32(2 * x->q8sum[b], 0, 0, 0, 0, 0, 0, 0));
			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
					      _mm256_set1_ps(h2f(w[b].d) * h2f(x->q8[b].d)), acc);
		}
		y[r] = hsum8(acc);
	}
}

static void rows_iq4_nl(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_NL;

	for (size_t r = r0; r < r1; r++) {
		const struct block_iq4_nl *w = (const void *)ROW(W, rb, r);
		__m256 acc = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			__m256i s = dot_s8s8(iq4_levels(nibbles32(w[b].qs)), load32(x->q8[b].qs));

			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
					      _mm256_set1_ps(h2f(w[b].d) * h2f(x->q8[b].d)), acc);
		}
		y[r] = hsum8(acc);
	}
}

/* ---- 256-element blocks against Q8_K -------------------------------------------------- */

/* int16 lanes 0-7 times a, 8-15 times b (two 16-element sub-blocks of one maddubs) */
static inline __m256i scale2(__m256i p16, int a, int b)
{
	return _mm256_madd_epi16(p16, _mm256_set_m128i(_mm_set1_epi16((short)b),
						       _mm_set1_epi16((short)a)));
}

static void rows_q2_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const __m256i m3 = _mm256_set1_epi8(3);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q2_K *w = (const void *)ROW(W, rb, r);
		__m256 acc = _mm256_setzero_ps();
		float macc = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			const uint8_t *sc = w[b].scales;
			__m256i isum = _mm256_setzero_si256();
			int msum = 0;

			for (int s = 0; s < 16; s++)
				msum += (sc[s] >> 4) * xb->bsums[s];
			for (int n = 0; n < 2; n++) {
				__m256i q = load32(w[b].qs + 32 * n);

				for (int j = 0; j < 4; j++) {
					__m256i v = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
					__m256i p = _mm256_maddubs_epi16(
						v, load32(xb->qs + 128 * n + 32 * j));
					int s = 8 * n + 2 * j;

					isum = _mm256_add_epi32(isum, scale2(p, sc[s] & 0xf,
									     sc[s + 1] & 0xf));
				}
			}
			float dx = xb->d;

			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
					      _mm256_set1_ps(h2f(w[b].d) * dx), acc);
			macc += h2f(w[b].dmin) * dx * (float)msum;
		}
		y[r] = hsum8(acc) - macc;
	}
}

static void rows_q3_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q3_K *w = (const void *)ROW(W, rb, r);
		__m256 acc = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			__m256i isum = _mm256_setzero_si256();
			__m256i hm = load32(w[b].hmask);
			int sc[16], corr = 0;

			for (int s = 0; s < 16; s++) {
				sc[s] = as_q3k_scale(s, w[b].scales) - 32;
				corr += sc[s] * xb->bsums[s];
			}
			for (int n = 0; n < 2; n++) {
				__m256i q = load32(w[b].qs + 32 * n);

				for (int j = 0; j < 4; j++) {
					__m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
					__m256i hi = _mm256_and_si256(
						_mm256_srli_epi16(hm, 4 * n + j), one);
					__m256i v = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
					__m256i p = _mm256_maddubs_epi16(
						v, load32(xb->qs + 128 * n + 32 * j));
					int s = 8 * n + 2 * j;

					isum = _mm256_add_epi32(isum, scale2(p, sc[s], sc[s + 1]));
				}
			}
			/* sum (v - 4) x: subtract 4 * sum_s sc[s] * bsums[s] in lane 0 */
			isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(4 * corr, 0, 0, 0, 0, 0, 0, 0));
			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
					      _mm256_set1_ps(h2f(w[b].d) * xb->d), acc);
		}
		y[r] = hsum8(acc);
	}
}

static void rows_q5_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_K *w = (const void *)ROW(W, rb, r);
		__m256 acc = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			__m256i sc16, msum = kq45_prep(w[b].scales, xb->bsums, &sc16);
			__m256i il = _mm256_setzero_si256(), ih = _mm256_setzero_si256();
			__m256i qh = load32(w[b].qh);

			_Pragma("GCC unroll 4")
			for (int j = 0; j < 4; j++) {
				__m256i ql = load32(w[b].qs + 32 * j);
				/* bit 2j of qh to bit 4 of the low value, bit 2j+1 of the high */
				__m256i lo = _mm256_or_si256(
					_mm256_and_si256(ql, m4),
					_mm256_and_si256(j < 2 ? _mm256_slli_epi16(qh, 4 - 2 * j)
							       : _mm256_srli_epi16(qh, 2 * j - 4),
							 b4));
				__m256i hi = _mm256_or_si256(
					_mm256_and_si256(_mm256_srli_epi16(ql, 4), m4),
					_mm256_and_si256(j < 2 ? _mm256_slli_epi16(qh, 3 - 2 * j)
							       : _mm256_srli_epi16(qh, 2 * j - 3),
							 b4));

				/* values <= 31: byte pairs fit int16 */
				il = _mm256_add_epi32(il, _mm256_madd_epi16(
					_mm256_maddubs_epi16(lo, load32(xb->qs + 64 * j)),
					kq_bcast16(sc16, 2 * j)));
				ih = _mm256_add_epi32(ih, _mm256_madd_epi16(
					_mm256_maddubs_epi16(hi, load32(xb->qs + 64 * j + 32)),
					kq_bcast16(sc16, 2 * j + 1)));
			}
			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(il, ih)),
					      _mm256_set1_ps(h2f(w[b].d) * xb->d), acc);
			acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum),
					       _mm256_set1_ps(h2f(w[b].dmin) * xb->d), acc);
		}
		y[r] = hsum8(acc);
	}
}

static void rows_iq4_xs(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;

	for (size_t r = r0; r < r1; r++) {
		const struct block_iq4_xs *w = (const void *)ROW(W, rb, r);
		__m256 acc = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			__m256i isum = _mm256_setzero_si256();

			for (int ib = 0; ib < 8; ib++) {
				int ls = ((w[b].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) |
					 (((w[b].scales_h >> (2 * ib)) & 3) << 4);
				__m256i v = iq4_levels(nibbles32(w[b].qs + 16 * ib));
				__m256i xv = load32(xb->qs + 32 * ib);
				/* |v| <= 127 and |x| <= 127: pairs fit int16 */
				__m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v),
								 _mm256_sign_epi8(xv, v));

				isum = _mm256_add_epi32(isum, _mm256_madd_epi16(
					p, _mm256_set1_epi16((short)(ls - 32))));
			}
			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
					      _mm256_set1_ps(h2f(w[b].d) * xb->d), acc);
		}
		y[r] = hsum8(acc);
	}
}

void as_kernels_types_avx2_init(struct as_kernel_table *t)
{
	t->rows[AS_K_Q4_1] = rows_q4_1;
	t->rows[AS_K_Q5_0] = rows_q5_0;
	t->rows[AS_K_Q5_1] = rows_q5_1;
	t->rows[AS_K_IQ4_NL] = rows_iq4_nl;
	t->rows[AS_K_Q2_K] = rows_q2_K;
	t->rows[AS_K_Q3_K] = rows_q3_K;
	t->rows[AS_K_Q5_K] = rows_q5_K;
	t->rows[AS_K_IQ4_XS] = rows_iq4_xs;
}

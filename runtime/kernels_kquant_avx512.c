// SPDX-License-Identifier: MIT
/*
 * AVX-512 (F BW) row kernel of Q6_K against x as Q8_K, compiled with the AVX-512 flags and
 * installed only after the cpuid check in kernels.c. 64 weights per step: unsigned 6-bit
 * values times the Q8_K bytes through vpmaddubsw (pairs fit int16), then vpmaddwd against
 * each unit's scale (its 16 int8 scales permuted into place with vpermw). The integer
 * block sums equal the scalar reference's; only the float accumulation order differs.
 * Plain Q4_K and Q5_K have no AVX-512 kernel: the AVX2 ones (scales unpacked in vector
 * registers, kquant_avx2.h) ran 1.29x and 1.38x faster than the 512-bit ones did, which
 * unpacked them in scalar code (Intel Xeon host, 2026-12-03, `bench kernels -t 1`, CPU
 * time per matvec), so the AVX-512 level keeps AVX2's.
 *
 * The repacked Q4_K_X16 and Q5_K_X16 kernels (kernels.h) compute 16 rows at once, one
 * int32 lane per row: vpdpbusd of 4 unsigned 4- (5-) bit codes of each row against 4
 * broadcast Q8_K bytes, each 32-element sub-block's sum times its 6-bit scale (vpmulld),
 * the mins against the Q8_K block sums (vpdpwssd), then the scalar reference's float
 * steps in its order with the *_round_ps intrinsics (no FMA contraction): bit-identical
 * to the scalar kernel. Q8_0_X16 the same way over codes stored + 128.
 */
#include <immintrin.h>
#include <stddef.h>
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

/* ---- Q4_K_X16: 16 rows per group ---------------------------------------------------- */

#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#ifndef KX16_PREFETCH
#define KX16_PREFETCH 1 /* superblocks ahead; 1 ran 6-8% faster than 0 and 2, 2 threads */
#endif

static inline int32_t ld32(const void *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* byte k (0..3) of every int32 lane, zero-extended */
static inline __m512i byte_k(__m512i v, int k)
{
	return _mm512_and_si512(_mm512_srli_epi32(v, 8 * k), _mm512_set1_epi32(0xff));
}

/*
 * The 32-element sums of sub-blocks 2q (low nibbles) and 2q + 1 (high nibbles) of quarter
 * q, per row. qh (Q5_K) adds the fifth bits: bit 2q of its byte for the low nibble's code,
 * 2q + 1 for the high one's (kernels.h).
 */
static inline __attribute__((always_inline)) void
k45_quarter(const uint8_t *qs, const uint8_t *qh, int q, const int8_t *xq, __m512i *lo,
	    __m512i *hi)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), m10 = _mm512_set1_epi8(0x10);
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, b0 = a0, b1 = a0;

	for (int c = 0; c < 8; c++) {
		__m512i v = _mm512_loadu_si512((const void *)(qs + c * 64));
		__m512i l = _mm512_and_si512(v, m4);
		__m512i h = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);

		if (qh) {
			/* the two bits at 2q, 2q + 1 of every byte moved to bit 4 (16-bit shifts:
			 * the bit kept never crosses its byte) */
			__m512i hb = _mm512_srli_epi16(
				_mm512_loadu_si512((const void *)(qh + c * 64)), 2 * q);

			l = _mm512_or_si512(l, _mm512_and_si512(_mm512_slli_epi16(hb, 4), m10));
			h = _mm512_or_si512(h, _mm512_and_si512(_mm512_slli_epi16(hb, 3), m10));
		}
		if (c & 1) {
			a1 = _mm512_dpbusd_epi32(a1, l, _mm512_set1_epi32(ld32(xq + 4 * c)));
			b1 = _mm512_dpbusd_epi32(b1, h, _mm512_set1_epi32(ld32(xq + 32 + 4 * c)));
		} else {
			a0 = _mm512_dpbusd_epi32(a0, l, _mm512_set1_epi32(ld32(xq + 4 * c)));
			b0 = _mm512_dpbusd_epi32(b0, h, _mm512_set1_epi32(ld32(xq + 32 + 4 * c)));
		}
	}
	*lo = _mm512_add_epi32(a0, a1);
	*hi = _mm512_add_epi32(b0, b1);
}

static inline int32_t bs_pair(const struct block_q8_K *xb, int j, int k)
{
	int32_t a = xb->bsums[2 * j] + xb->bsums[2 * j + 1];
	int32_t b = xb->bsums[2 * k] + xb->bsums[2 * k + 1];

	return (int32_t)(((uint32_t)b << 16) | ((uint32_t)a & 0xffff));
}

/*
 * One 16-row group of Q4_K_X16 (qh_off 0) or Q5_K_X16 (qh at qh_off): the two layouts
 * share d, dmin and sc at the start and end with qs; gb is the group block's bytes.
 */
static inline __attribute__((always_inline)) void
group_k45_x16(const uint8_t *g, size_t gb, size_t qh_off, size_t nb, const struct as_xin *x,
	      float *out16)
{
	const __m512i m3f = _mm512_set1_epi32(0x3f3f3f3f), m0f = _mm512_set1_epi32(0x0f0f0f0f);
	const __m512i m30 = _mm512_set1_epi32(0x30303030), mw = _mm512_set1_epi32(0x00ff00ff);
	__m512 acc = _mm512_setzero_ps();

	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = g + b * gb;
		const struct block_q4_Kx16 *k4 = (const void *)blk;
		const uint8_t *qh = qh_off ? blk + qh_off : NULL, *qs = blk + gb - 16 * QK_K / 2;
		const struct block_q8_K *xb = &x->q8k[b];
		const char *pf = (const char *)blk + KX16_PREFETCH * gb;

		for (size_t i = 0; KX16_PREFETCH && i < gb; i += 256) {
			_mm_prefetch(pf + i, _MM_HINT_T0);
			_mm_prefetch(pf + i + 64, _MM_HINT_T0);
			_mm_prefetch(pf + i + 128, _MM_HINT_T0);
			_mm_prefetch(pf + i + 192, _MM_HINT_T0);
		}

		/* the six-bit scales and mins of sub-blocks 0..3 and 4..7, a byte each */
		__m512i w0 = _mm512_loadu_si512((const void *)k4->sc[0]);
		__m512i w1 = _mm512_loadu_si512((const void *)k4->sc[1]);
		__m512i w2 = _mm512_loadu_si512((const void *)k4->sc[2]);
		__m512i sc[2] = {
			_mm512_and_si512(w0, m3f),
			_mm512_or_si512(_mm512_and_si512(w2, m0f),
					_mm512_and_si512(_mm512_srli_epi32(w0, 2), m30)),
		};
		__m512i mn0 = _mm512_and_si512(w1, m3f);
		__m512i mn1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 4), m0f),
					      _mm512_and_si512(_mm512_srli_epi32(w1, 2), m30));
		/* msum = sum_j m_j * (bsums[2j] + bsums[2j + 1]), mins as int16 pairs */
		__m512i msum = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_and_si512(mn0, mw),
						   _mm512_set1_epi32(bs_pair(xb, 0, 2)));

		msum = _mm512_dpwssd_epi32(msum, _mm512_and_si512(_mm512_srli_epi32(mn0, 8), mw),
					   _mm512_set1_epi32(bs_pair(xb, 1, 3)));
		msum = _mm512_dpwssd_epi32(msum, _mm512_and_si512(mn1, mw),
					   _mm512_set1_epi32(bs_pair(xb, 4, 6)));
		msum = _mm512_dpwssd_epi32(msum, _mm512_and_si512(_mm512_srli_epi32(mn1, 8), mw),
					   _mm512_set1_epi32(bs_pair(xb, 5, 7)));

		__m512i isum = _mm512_setzero_si512();

		for (int q = 0; q < 4; q++) {
			__m512i lo, hi;
			int j = 2 * q;

			k45_quarter(qs + q * 512, qh, q, xb->qs + q * 64, &lo, &hi);
			isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(
				lo, byte_k(sc[j >> 2], j & 3)));
			isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(
				hi, byte_k(sc[(j + 1) >> 2], (j + 1) & 3)));
		}

		/* d * dx * isum - dmin * dx * msum, as the reference rounds it */
		__m512 dx = _mm512_set1_ps(xb->d);
		__m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)k4->d));
		__m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)k4->dmin));
		__m512 t = _mm512_mul_round_ps(_mm512_mul_round_ps(d, dx, RN),
					       _mm512_cvtepi32_ps(isum), RN);
		__m512 u = _mm512_mul_round_ps(_mm512_mul_round_ps(dm, dx, RN),
					       _mm512_cvtepi32_ps(msum), RN);

		acc = _mm512_add_round_ps(acc, _mm512_sub_round_ps(t, u, RN), RN);
	}
	_mm512_storeu_ps(out16, acc);
}

static void group_q4_K_x16(const void *g, size_t nb, const struct as_xin *x, float *out16)
{
	group_k45_x16(g, sizeof(struct block_q4_Kx16), 0, nb, x, out16);
}

static void group_q5_K_x16(const void *g, size_t nb, const struct as_xin *x, float *out16)
{
	group_k45_x16(g, sizeof(struct block_q5_Kx16), offsetof(struct block_q5_Kx16, qh), nb,
		      x, out16);
}

/* ---- Q8_0_X16 ------------------------------------------------------------------------- */

#ifndef Q8X16_PREFETCH
#define Q8X16_PREFETCH 4 /* blocks ahead (4 * 544 bytes) */
#endif

/* Codes stored + 128: sum (q + 128) x - 128 sum x, and q8sum is 8 sum x. */
static void group_q8_0_x16(const void *gp, size_t nb, const struct as_xin *x, float *out16)
{
	const struct block_q8_0x16 *g = gp;
	__m512 acc = _mm512_setzero_ps();

	for (size_t b = 0; b < nb; b++) {
		const struct block_q8_0x16 *blk = &g[b];
		const int8_t *xq = x->q8[b].qs;
		const char *pf = (const char *)(blk + Q8X16_PREFETCH);
		__m512i s0 = _mm512_setzero_si512(), s1 = s0;

		for (int i = 0; Q8X16_PREFETCH && i < (int)sizeof(*blk); i += 64)
			_mm_prefetch(pf + i, _MM_HINT_T0);
		for (int c = 0; c < 8; c += 2) {
			s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(blk->qs + c * 64),
						 _mm512_set1_epi32(ld32(xq + 4 * c)));
			s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(blk->qs + c * 64 + 64),
						 _mm512_set1_epi32(ld32(xq + 4 * c + 4)));
		}
		__m512i si = _mm512_sub_epi32(_mm512_add_epi32(s0, s1),
					      _mm512_set1_epi32(16 * x->q8sum[b]));
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk->d));
		__m512 dd = _mm512_mul_round_ps(dw, _mm512_set1_ps(h2f(x->q8[b].d)), RN);

		acc = _mm512_add_round_ps(acc, _mm512_mul_round_ps(_mm512_cvtepi32_ps(si), dd, RN),
					  RN);
	}
	_mm512_storeu_ps(out16, acc);
}

static void rows_q4_K_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			  const struct as_xin *x, float *y)
{
	(void)rb;
	x16_rows(group_q4_K_x16, sizeof(struct block_q4_Kx16), W, r0, r1, cols / QK_K, x, y);
}

static void rows_q5_K_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			  const struct as_xin *x, float *y)
{
	(void)rb;
	x16_rows(group_q5_K_x16, sizeof(struct block_q5_Kx16), W, r0, r1, cols / QK_K, x, y);
}

static void rows_q8_0_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			  const struct as_xin *x, float *y)
{
	(void)rb;
	x16_rows(group_q8_0_x16, sizeof(struct block_q8_0x16), W, r0, r1, cols / QK8_0, x, y);
}

void as_kernels_kquant_avx512_init(struct as_kernel_table *t)
{
	t->rows[AS_K_Q6_K] = rows_q6_K;
	t->rows[AS_K_Q4_K_X16] = rows_q4_K_x16;
	t->rows[AS_K_Q5_K_X16] = rows_q5_K_x16;
	t->rows[AS_K_Q8_0_X16] = rows_q8_0_x16;
}

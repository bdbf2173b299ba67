/* SPDX-License-Identifier: MIT */
/*
 * aarch64 Advanced SIMD row kernels of Q4_1, Q5_0, Q5_1, IQ4_NL (against x as Q8_0) and
 * Q2_K, Q3_K, Q5_K, IQ4_XS (against x as Q8_K), included by kernels_types_neon.c (plain
 * NEON) and kernels_types_dotprod.c (+dotprod, AS_NEON_DOT 1). The weights are unpacked to
 * int8 in vectors (codes, 5th bits by bit test, IQ4 levels by table lookup), every block's
 * or sub-block's integer sum is exact, and the float steps are the scalar reference's
 * (kernels_types.c) in its order, unfused: the results are the scalar kernels' bits.
 * Not a public header.
 */
#ifndef ACTIVESWAP_KERNELS_TYPES_NEON_H
#define ACTIVESWAP_KERNELS_TYPES_NEON_H

#include <arm_neon.h>
#include <string.h>

#include "kernels_impl.h"
#include "kernels_neon_dot.h"

#define TROW(W, rb, r) ((const uint8_t *)(W) + (size_t)(r) * (rb))

/* the 16 bytes of packed nibbles as elements 0..15 (low) and 16..31 (high) */
static inline void nib32(const uint8_t *qs, uint8x16_t *lo, uint8x16_t *hi)
{
	uint8x16_t q = vld1q_u8(qs);

	*lo = vandq_u8(q, vdupq_n_u8(0x0f));
	*hi = vshrq_n_u8(q, 4);
}

/* 16 in byte j where bit j of the little-endian qh[4] is set (elements 0..15, 16..31) */
static inline void bit5_32(const uint8_t *qh, uint8x16_t *lo, uint8x16_t *hi)
{
	static const uint8_t bits[16] = { 1, 2, 4, 8, 16, 32, 64, 128,
					  1, 2, 4, 8, 16, 32, 64, 128 };
	const uint8x16_t m = vld1q_u8(bits), sixteen = vdupq_n_u8(16);
	uint8x16_t b0 = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
	uint8x16_t b1 = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));

	*lo = vandq_u8(vtstq_u8(b0, m), sixteen);
	*hi = vandq_u8(vtstq_u8(b1, m), sixteen);
}

static inline int8x16_t s8(uint8x16_t v)
{
	return vreinterpretq_s8_u8(v);
}

/* ---- 32-element blocks against Q8_0 ---------------------------------------------------- */

static void trows_q4_1(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_1;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_1 *w = (const void *)TROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			float dx = h2f(x->q8[b].d);
			uint8x16_t lo, hi;

			nib32(w[b].qs, &lo, &hi);
			s += (float)dot32(s8(lo), s8(hi), x->q8[b].qs) * (h2f(w[b].d) * dx) +
			     h2f(w[b].m) * x->q8s1[b];
		}
		y[r] = s;
	}
}

static void trows_q5_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK5_0;
	const int8x16_t k16 = vdupq_n_s8(16);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_0 *w = (const void *)TROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			uint8x16_t lo, hi, h0, h1;
			int8x16_t a0, a1;

			nib32(w[b].qs, &lo, &hi);
			bit5_32(w[b].qh, &h0, &h1);
			a0 = vsubq_s8(s8(vorrq_u8(lo, h0)), k16);
			a1 = vsubq_s8(s8(vorrq_u8(hi, h1)), k16);
			s += (float)dot32(a0, a1, x->q8[b].qs) * (h2f(w[b].d) * h2f(x->q8[b].d));
		}
		y[r] = s;
	}
}

static void trows_q5_1(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK5_1;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_1 *w = (const void *)TROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			float dx = h2f(x->q8[b].d);
			uint8x16_t lo, hi, h0, h1;

			nib32(w[b].qs, &lo, &hi);
			bit5_32(w[b].qh, &h0, &h1);
			s += (float)dot32(s8(vorrq_u8(lo, h0)), s8(vorrq_u8(hi, h1)),
					  x->q8[b].qs) * (h2f(w[b].d) * dx) +
			     h2f(w[b].m) * x->q8s1[b];
		}
		y[r] = s;
	}
}

static void trows_iq4_nl(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			 const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_NL;
	const int8x16_t lv = vld1q_s8(as_kvalues_iq4nl);

	for (size_t r = r0; r < r1; r++) {
		const struct block_iq4_nl *w = (const void *)TROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			uint8x16_t lo, hi;

			nib32(w[b].qs, &lo, &hi);
			s += (float)dot32(vqtbl1q_s8(lv, lo), vqtbl1q_s8(lv, hi), x->q8[b].qs) *
			     (h2f(w[b].d) * h2f(x->q8[b].d));
		}
		y[r] = s;
	}
}

/* ---- 256-element super-blocks against Q8_K -------------------------------------------- */

/* sum of a[0..15] * b[0..15] */
static inline int dot16s(int8x16_t a, const int8_t *b)
{
	return vaddvq_s32(dot16(vdupq_n_s32(0), a, vld1q_s8(b)));
}

static void trows_q2_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const uint8x16_t m3 = vdupq_n_u8(3);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q2_K *w = (const void *)TROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0, msum = 0;

			/* elements 128 n + 32 j + l: bits 2j of qs[32 n + l] */
			for (int n = 0; n < 2; n++) {
				uint8x16_t q0 = vld1q_u8(w[b].qs + 32 * n);
				uint8x16_t q1 = vld1q_u8(w[b].qs + 32 * n + 16);

				for (int j = 0; j < 4; j++) {
					int sb = 8 * n + 2 * j, e = 16 * sb;
					int8x16_t sh = vdupq_n_s8((int8_t)(-2 * j));
					int8x16_t v0 = s8(vandq_u8(vshlq_u8(q0, sh), m3));
					int8x16_t v1 = s8(vandq_u8(vshlq_u8(q1, sh), m3));

					isum += (w[b].scales[sb] & 0xf) * dot16s(v0, xb->qs + e);
					isum += (w[b].scales[sb + 1] & 0xf) *
						dot16s(v1, xb->qs + e + 16);
				}
			}
			for (int k = 0; k < QK_K / 16; k++)
				msum += (w[b].scales[k] >> 4) * xb->bsums[k];
			s += h2f(w[b].d) * xb->d * (float)isum - h2f(w[b].dmin) * xb->d * (float)msum;
		}
		y[r] = s;
	}
}

/* the 16 6-bit scales of a Q3_K block minus 32 (as_q3k_scale(s) - 32 for s = 0..15) */
static inline void q3_K_scales(const uint8_t *sc, int8_t *out)
{
	static const int8_t shr[16] = { 0, 0, 0, 0, -2, -2, -2, -2,
					-4, -4, -4, -4, -6, -6, -6, -6 };
	uint8x8_t a = vld1_u8(sc);
	uint8x16_t lo = vcombine_u8(vand_u8(a, vdup_n_u8(0x0f)), vshr_n_u8(a, 4));
	uint32_t h4;
	uint8x16_t hi;

	memcpy(&h4, sc + 8, 4);
	hi = vreinterpretq_u8_u32(vdupq_n_u32(h4)); /* sc[8 + s % 4] in byte s */
	hi = vandq_u8(vshlq_u8(hi, vld1q_s8(shr)), vdupq_n_u8(3));
	vst1q_s8(out, vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4))),
			       vdupq_n_s8(32)));
}

static void trows_q3_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q3_K *w = (const void *)TROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			uint8x16_t h0 = vld1q_u8(w[b].hmask), h1 = vld1q_u8(w[b].hmask + 16);
			int8_t sc[16];
			int isum = 0;

			q3_K_scales(w[b].scales, sc);

			/* element 128 n + 32 j + l: bits 2j of qs[32 n + l], bit 4n+j of
			 * hmask[l] as 4, minus 4 */
			for (int n = 0; n < 2; n++) {
				uint8x16_t q0 = vld1q_u8(w[b].qs + 32 * n);
				uint8x16_t q1 = vld1q_u8(w[b].qs + 32 * n + 16);

				for (int j = 0; j < 4; j++) {
					int sb = 8 * n + 2 * j, e = 16 * sb;
					int8x16_t sh = vdupq_n_s8((int8_t)(-2 * j));
					uint8x16_t hb = vdupq_n_u8((uint8_t)(1u << (4 * n + j)));
					uint8x16_t u0 = vorrq_u8(vandq_u8(vshlq_u8(q0, sh), m3),
								 vandq_u8(vtstq_u8(h0, hb), four));
					uint8x16_t u1 = vorrq_u8(vandq_u8(vshlq_u8(q1, sh), m3),
								 vandq_u8(vtstq_u8(h1, hb), four));
					int8x16_t v0 = vsubq_s8(s8(u0), s8(four));
					int8x16_t v1 = vsubq_s8(s8(u1), s8(four));

					isum += sc[sb] * dot16s(v0, xb->qs + e);
					isum += sc[sb + 1] * dot16s(v1, xb->qs + e + 16);
				}
			}
			s += h2f(w[b].d) * xb->d * (float)isum;
		}
		y[r] = s;
	}
}

static void trows_q5_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const uint8x16_t m4 = vdupq_n_u8(0x0f), sixteen = vdupq_n_u8(16);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_K *w = (const void *)TROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			uint8x16_t h0 = vld1q_u8(w[b].qh), h1 = vld1q_u8(w[b].qh + 16);
			int isum = 0, msum = 0;

			/* sub-block j (32 elements): nibble j & 1 of qs[32 (j / 2) + l], the 5th
			 * bit in bit j of qh[l] */
			for (int j = 0; j < QK_K / 32; j++) {
				const uint8_t *q = w[b].qs + 32 * (j / 2);
				uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
				uint8x16_t hb = vdupq_n_u8((uint8_t)(1u << j));
				uint8_t sc, m;

				if (j & 1) {
					q0 = vshrq_n_u8(q0, 4);
					q1 = vshrq_n_u8(q1, 4);
				} else {
					q0 = vandq_u8(q0, m4);
					q1 = vandq_u8(q1, m4);
				}
				q0 = vorrq_u8(q0, vandq_u8(vtstq_u8(h0, hb), sixteen));
				q1 = vorrq_u8(q1, vandq_u8(vtstq_u8(h1, hb), sixteen));
				as_q4k_scale_min(j, w[b].scales, &sc, &m);
				isum += sc * dot32(s8(q0), s8(q1), xb->qs + 32 * j);
				msum += m * (xb->bsums[2 * j] + xb->bsums[2 * j + 1]);
			}
			s += h2f(w[b].d) * xb->d * (float)isum - h2f(w[b].dmin) * xb->d * (float)msum;
		}
		y[r] = s;
	}
}

static void trows_iq4_xs(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			 const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const int8x16_t lv = vld1q_s8(as_kvalues_iq4nl);

	for (size_t r = r0; r < r1; r++) {
		const struct block_iq4_xs *w = (const void *)TROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0;

			for (int ib = 0; ib < QK_K / 32; ib++) {
				int ls = ((w[b].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) |
					 (((w[b].scales_h >> (2 * ib)) & 3) << 4);
				uint8x16_t lo, hi;

				nib32(w[b].qs + 16 * ib, &lo, &hi);
				isum += (ls - 32) * dot32(vqtbl1q_s8(lv, lo), vqtbl1q_s8(lv, hi),
							  xb->qs + 32 * ib);
			}
			s += h2f(w[b].d) * xb->d * (float)isum;
		}
		y[r] = s;
	}
}

static inline void as_neon_types_fill(struct as_kernel_table *t)
{
	t->rows[AS_K_Q4_1] = trows_q4_1;
	t->rows[AS_K_Q5_0] = trows_q5_0;
	t->rows[AS_K_Q5_1] = trows_q5_1;
	t->rows[AS_K_IQ4_NL] = trows_iq4_nl;
	t->rows[AS_K_Q2_K] = trows_q2_K;
	t->rows[AS_K_Q3_K] = trows_q3_K;
	t->rows[AS_K_Q5_K] = trows_q5_K;
	t->rows[AS_K_IQ4_XS] = trows_iq4_xs;
}

#endif

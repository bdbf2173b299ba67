/* SPDX-License-Identifier: MIT */
/*
 * The aarch64 Advanced SIMD row kernels, included by kernels_neon.c (plain NEON) and
 * kernels_dotprod.c (compiled with +dotprod, AS_NEON_DOT 1): the two differ only in the
 * 16-byte signed dot product, SDOT or widening multiplies. Not a public header.
 *
 * Numerics: every integer block sum is exact, and the quantized kernels then do the
 * scalar reference's float operations in its order (the aarch64 build compiles with
 * -ffp-contract=off, and these kernels fuse nothing either), so F32-free types give the
 * scalar kernels' bits. F32, F16 and BF16 rows accumulate in 4 lanes with FMA (within
 * the documented tolerance, Documentation/kernels.md).
 */
#ifndef ACTIVESWAP_KERNELS_NEON_H
#define ACTIVESWAP_KERNELS_NEON_H

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels_impl.h"
#include "kernels_neon_dot.h"

#ifndef AS_NEON_DOT
#error "define AS_NEON_DOT (0 or 1) before including kernels_neon.h"
#endif

#define NROW(W, rb, r) ((const uint8_t *)(W) + (size_t)(r) * (rb))

static void nrows_q8_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK8_0;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q8_0 *w = (const struct block_q8_0 *)NROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			int sumi = dot32(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), x->q8[b].qs);

			s += (float)sumi * (h2f(w[b].d) * h2f(x->q8[b].d));
		}
		y[r] = s;
	}
}

/* the 32 codes of a Q4_0 block minus 8: elements 0..15 (low nibbles), 16..31 (high) */
static inline void q4_0_codes(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi)
{
	uint8x16_t q = vld1q_u8(qs);
	int8x16_t eight = vdupq_n_s8(8);

	*lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), eight);
	*hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
}

static void nrows_q4_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_0;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_0 *w = (const struct block_q4_0 *)NROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			int8x16_t lo, hi;

			q4_0_codes(w[b].qs, &lo, &hi);
			s += (float)dot32(lo, hi, x->q8[b].qs) *
			     (h2f(w[b].d) * h2f(x->q8[b].d));
		}
		y[r] = s;
	}
}

#if AS_NEON_DOT
/*
 * Repacked Q4_0, four rows at a time: the 16 bytes at qs[c * 64 + 16 * q4] are rows
 * 4 q4 .. 4 q4 + 3's bytes 4c .. 4c+3, so one SDOT by lane c of x gives the four rows'
 * partial sums. Per row the float steps are the scalar kernel's.
 */
static void nrows_q4_0_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			   const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_0;
	const struct block_q4_0x16 *base = W;
	const uint8x16_t m4 = vdupq_n_u8(0x0f);
	const int8x16_t eight = vdupq_n_s8(8);

	(void)rb;
	for (size_t r = r0; r < r1;) {
		const struct block_q4_0x16 *g = base + (r / AS_X16_ROWS) * nb;
		size_t ri = r % AS_X16_ROWS, q4 = ri / 4;
		float32x4_t s = vdupq_n_f32(0.0f);
		float out[4];

		for (size_t b = 0; b < nb; b++) {
			int8x16_t xl = vld1q_s8(x->q8[b].qs), xh = vld1q_s8(x->q8[b].qs + 16);
			int32x4_t acc = vdupq_n_s32(0);
			float16x4_t dh;
			uint16_t d4[4];

			for (int c = 0; c < 4; c++) {
				uint8x16_t q = vld1q_u8(&g[b].qs[c * 64 + 16 * q4]);
				int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, m4));
				int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));

				lo = vsubq_s8(lo, eight);
				hi = vsubq_s8(hi, eight);

				switch (c) { /* the lane must be a constant */
				case 0:
					acc = vdotq_laneq_s32(acc, lo, xl, 0);
					acc = vdotq_laneq_s32(acc, hi, xh, 0);
					break;
				case 1:
					acc = vdotq_laneq_s32(acc, lo, xl, 1);
					acc = vdotq_laneq_s32(acc, hi, xh, 1);
					break;
				case 2:
					acc = vdotq_laneq_s32(acc, lo, xl, 2);
					acc = vdotq_laneq_s32(acc, hi, xh, 2);
					break;
				default:
					acc = vdotq_laneq_s32(acc, lo, xl, 3);
					acc = vdotq_laneq_s32(acc, hi, xh, 3);
					break;
				}
			}
			memcpy(d4, &g[b].d[4 * q4], sizeof(d4));
			dh = vreinterpret_f16_u16(vld1_u16(d4));
			/* s += (float)sumi * (dw * dx), unfused, lane by lane */
			s = vaddq_f32(s, vmulq_f32(vcvtq_f32_s32(acc),
						   vmulq_n_f32(vcvt_f32_f16(dh), h2f(x->q8[b].d))));
		}
		vst1q_f32(out, s);
		for (size_t k = ri % 4; k < 4 && r < r1; k++, r++)
			y[r] = out[k];
	}
}
#else
/* Repacked Q4_0 without SDOT: each row's 16 code bytes gathered from the four words. */
static void nrows_q4_0_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			   const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_0;
	const struct block_q4_0x16 *base = W;

	(void)rb;
	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_0x16 *g = base + (r / AS_X16_ROWS) * nb;
		size_t ri = r % AS_X16_ROWS;
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			uint8_t qs[16];
			int8x16_t lo, hi;

			for (int c = 0; c < 4; c++)
				memcpy(&qs[c * 4], &g[b].qs[c * 64 + ri * 4], 4);
			q4_0_codes(qs, &lo, &hi);
			s += (float)dot32(lo, hi, x->q8[b].qs) *
			     (h2f(g[b].d[ri]) * h2f(x->q8[b].d));
		}
		y[r] = s;
	}
}
#endif

static void nrows_q4_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const uint8x16_t m4 = vdupq_n_u8(0x0f);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_K *w = (const struct block_q4_K *)NROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0, msum = 0;

			for (int j = 0; j < QK_K / 32; j += 2) {
				const uint8_t *q = w[b].qs + 16 * j;
				uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
				uint8_t sc, m;
				int sub;

				/* sub-block j: low nibbles, j + 1: high nibbles (codes 0..15) */
				as_q4k_scale_min(j, w[b].scales, &sc, &m);
				sub = dot32(vreinterpretq_s8_u8(vandq_u8(q0, m4)),
					    vreinterpretq_s8_u8(vandq_u8(q1, m4)), xb->qs + 32 * j);
				isum += sc * sub;
				msum += m * (xb->bsums[2 * j] + xb->bsums[2 * j + 1]);
				as_q4k_scale_min(j + 1, w[b].scales, &sc, &m);
				sub = dot32(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)),
					    vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)),
					    xb->qs + 32 * j + 32);
				isum += sc * sub;
				msum += m * (xb->bsums[2 * j + 2] + xb->bsums[2 * j + 3]);
			}
			s += h2f(w[b].d) * xb->d * (float)isum -
			     h2f(w[b].dmin) * xb->d * (float)msum;
		}
		y[r] = s;
	}
}

/* Signed 6-bit values of a Q6_K block in element order (the scalar unpack_q6_K's). */
static inline void q6_K_unpack(const struct block_q6_K *b, int8_t *out)
{
	const uint8_t *ql = b->ql, *qh = b->qh;
	const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(0x03);
	const int8x16_t k32 = vdupq_n_s8(32);

	for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32) {
		for (int l = 0; l < 32; l += 16) {
			uint8x16_t a = vld1q_u8(ql + l), c = vld1q_u8(ql + l + 32);
			uint8x16_t h = vld1q_u8(qh + l);
			uint8x16_t v0 = vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(h, m3), 4));
			uint8x16_t v1 = vorrq_u8(vandq_u8(c, m4),
						 vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 2), m3), 4));
			uint8x16_t v2 = vorrq_u8(vshrq_n_u8(a, 4),
						 vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 4), m3), 4));
			uint8x16_t v3 = vorrq_u8(vshrq_n_u8(c, 4), vshlq_n_u8(vshrq_n_u8(h, 6), 4));

			vst1q_s8(out + n + l, vsubq_s8(vreinterpretq_s8_u8(v0), k32));
			vst1q_s8(out + n + l + 32, vsubq_s8(vreinterpretq_s8_u8(v1), k32));
			vst1q_s8(out + n + l + 64, vsubq_s8(vreinterpretq_s8_u8(v2), k32));
			vst1q_s8(out + n + l + 96, vsubq_s8(vreinterpretq_s8_u8(v3), k32));
		}
	}
}

static void nrows_q6_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		       const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	int8_t q[QK_K];

	for (size_t r = r0; r < r1; r++) {
		const struct block_q6_K *w = (const struct block_q6_K *)NROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0;

			q6_K_unpack(&w[b], q);
			for (int c = 0; c < QK_K / 16; c++) {
				int32x4_t d = dot16(vdupq_n_s32(0), vld1q_s8(q + 16 * c),
						    vld1q_s8(xb->qs + 16 * c));

				isum += w[b].scales[c] * vaddvq_s32(d);
			}
			s += h2f(w[b].d) * xb->d * (float)isum;
		}
		y[r] = s;
	}
}

/* ---- float rows: four lanes, FMA, the tail scalar ------------------------------------ */

static inline float32x4_t ld4_f16(const as_fp16_t *p)
{
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static inline float32x4_t ld4_bf16(const as_bf16_t *p)
{
	return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

#define NROWS_FLOAT(name, T, LOAD, ONE)                                                   \
	static void name(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,     \
			 const struct as_xin *x, float *y)                                 \
	{                                                                                 \
		for (size_t r = r0; r < r1; r++) {                                        \
			const T *w = (const T *)NROW(W, rb, r);                           \
			float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);       \
			size_t i = 0;                                                     \
			float s;                                                          \
                                                                                          \
			for (; i + 8 <= cols; i += 8) {                                   \
				a0 = vfmaq_f32(a0, LOAD(w + i), vld1q_f32(x->f32 + i));   \
				a1 = vfmaq_f32(a1, LOAD(w + i + 4),                       \
					       vld1q_f32(x->f32 + i + 4));                \
			}                                                                 \
			s = vaddvq_f32(vaddq_f32(a0, a1));                                \
			for (; i < cols; i++)                                             \
				s += ONE(w[i]) * x->f32[i];                               \
			y[r] = s;                                                         \
		}                                                                         \
	}

static inline float f32_1(float v)
{
	return v;
}

NROWS_FLOAT(nrows_f32, float, vld1q_f32, f32_1)
NROWS_FLOAT(nrows_f16, as_fp16_t, ld4_f16, as_fp16_to_fp32)
NROWS_FLOAT(nrows_bf16, as_bf16_t, ld4_bf16, as_bf16_to_fp32)

/* ---- x -> Q8_0, bit for bit as_quant_q8_0_ref (finite x) ------------------------------ */

static void nquant_q8_0(const float *x, struct block_q8_0 *y, int32_t *sums, size_t nb)
{
	for (size_t b = 0; b < nb; b++) {
		const float *p = x + b * QK8_0;
		float32x4_t v[8], mx = vdupq_n_f32(0.0f);
		float amax, d, id;
		int16x8_t h[4];

		for (int k = 0; k < 8; k++) {
			v[k] = vld1q_f32(p + 4 * k);
			mx = vmaxq_f32(mx, vabsq_f32(v[k]));
		}
		amax = vmaxvq_f32(mx);
		d = amax / 127.0f;
		id = d ? 1.0f / d : 0.0f;
		y[b].d = as_fp32_to_fp16(d);
		/* roundf: to nearest, ties away from zero (FCVTAS) */
		for (int k = 0; k < 4; k++) {
			int32x4_t a = vcvtaq_s32_f32(vmulq_n_f32(v[2 * k], id));
			int32x4_t c = vcvtaq_s32_f32(vmulq_n_f32(v[2 * k + 1], id));

			h[k] = vcombine_s16(vqmovn_s32(a), vqmovn_s32(c));
		}
		int8x16_t q0 = vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1]));
		int8x16_t q1 = vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3]));

		vst1q_s8(y[b].qs, q0);
		vst1q_s8(y[b].qs + 16, q1);
		if (sums)
			sums[b] = 8 * (vaddlvq_s8(q0) + vaddlvq_s8(q1));
	}
}

/* ---- attention helpers ------------------------------------------------------------------ */

/* ndot_SFX(a, b) and naxpy_SFX(y += a * x) with the second operand of T elements: LD4 loads
 * 4 of them as floats, ONE converts one (exactly). */
#define NFLOAT_HELPERS(SFX, T, LD4, ONE)                                                \
	static float ndot_##SFX(const float *a, const T *b, size_t n)                   \
	{                                                                               \
		float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);             \
		size_t i = 0;                                                           \
		float s;                                                                \
                                                                                        \
		for (; i + 8 <= n; i += 8) {                                            \
			s0 = vfmaq_f32(s0, vld1q_f32(a + i), LD4(b + i));               \
			s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), LD4(b + i + 4));       \
		}                                                                       \
		s = vaddvq_f32(vaddq_f32(s0, s1));                                      \
		for (; i < n; i++)                                                      \
			s += a[i] * ONE(b[i]);                                          \
		return s;                                                               \
	}                                                                               \
                                                                                        \
	static void naxpy_##SFX(float *y, float a, const T *x, size_t n)                \
	{                                                                               \
		size_t i = 0;                                                           \
                                                                                        \
		for (; i + 4 <= n; i += 4)                                              \
			vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), LD4(x + i), a)); \
		for (; i < n; i++)                                                      \
			y[i] += a * ONE(x[i]);                                          \
	}

static inline float none_f32(float v)
{
	return v;
}

NFLOAT_HELPERS(f32, float, vld1q_f32, none_f32)
NFLOAT_HELPERS(f16, as_fp16_t, ld4_f16, as_fp16_to_fp32)

static inline void as_neon_fill(struct as_kernel_table *t)
{
	t->dot_f16 = ndot_f16;
	t->axpy_f16 = naxpy_f16;
	t->rows[AS_K_F32] = nrows_f32;
	t->rows[AS_K_F16] = nrows_f16;
	t->rows[AS_K_BF16] = nrows_bf16;
	t->rows[AS_K_Q8_0] = nrows_q8_0;
	t->rows[AS_K_Q4_0] = nrows_q4_0;
	t->rows[AS_K_Q4_K] = nrows_q4_K;
	t->rows[AS_K_Q6_K] = nrows_q6_K;
	t->rows[AS_K_Q4_0_X16] = nrows_q4_0_x16;
	t->quant_q8_0 = nquant_q8_0;
	t->q4_0_wants_pairs = false;
	t->dot_f32 = ndot_f32;
	t->axpy_f32 = naxpy_f32;
}

#endif

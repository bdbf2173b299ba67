// SPDX-License-Identifier: MIT
/*
 * aarch64 Advanced SIMD kernel of the K-quant columns (sparse_kq.c has the scalar
 * reference, the activations' quantization and the dispatch; used on the neon and
 * dotprod levels). One run of columns (one scale sub-block, its activations as int16)
 * over all the tiles of 64 rows: a tile keeps its sixteen int32 accumulators of 4 rows
 * in registers over the run's columns (SMLAL: exact integer sums), then applies the
 * scales with the reference's float operations: the result is the scalar tile's, bit for
 * bit.
 */
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "sparse_impl.h"

/* The 64 codes of one chunk minus the bias (32 for Q6_K), rows 16 g .. 16 g + 15 in q[g]. */
static inline void codes64(int w, const uint8_t *c, int8x16_t *q)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f);
	uint8x16_t v0 = vld1q_u8(c), v1 = vld1q_u8(c + 16);
	uint8x16_t u[4] = { vandq_u8(v0, m4), vandq_u8(v1, m4), vshrq_n_u8(v0, 4),
			    vshrq_n_u8(v1, 4) };

	if (w == 5) {
		/* row k: bit k >> 3 of c[32 + (k & 7)] */
		uint8x8_t h8 = vld1_u8(c + 32);
		uint8x16_t h = vcombine_u8(h8, h8), sixteen = vdupq_n_u8(16);

		for (int g = 0; g < 4; g++) {
			uint8x16_t m = vcombine_u8(vdup_n_u8((uint8_t)(1u << (2 * g))),
						   vdup_n_u8((uint8_t)(1u << (2 * g + 1))));

			u[g] = vorrq_u8(u[g], vandq_u8(vtstq_u8(h, m), sixteen));
		}
	} else if (w == 6) {
		/* row k: bits 2 (k >> 4) of c[32 + (k & 15)] */
		uint8x16_t h = vld1q_u8(c + 32), three = vdupq_n_u8(3);

		for (int g = 0; g < 4; g++) {
			uint8x16_t b = vandq_u8(vshlq_u8(h, vdupq_n_s8((int8_t)(-2 * g))), three);

			u[g] = vorrq_u8(u[g], vshlq_n_u8(b, 4));
		}
	}
	for (int g = 0; g < 4; g++)
		q[g] = vsubq_s8(vreinterpretq_s8_u8(u[g]), vdupq_n_s8(w == 6 ? 32 : 0));
}

/* y[0 .. 64) += Ds acc - M sx (Q6_K: Ds acc) for the rows r .. r+63, sub-block s. */
static inline void flush(int w, const uint8_t *base, size_t P, size_t s, size_t r, float *y,
			 const int32x4_t *acc, const struct as_kq_run *run)
{
	for (int g = 0; g < 16; g++) {
		size_t rr = r + 4 * (size_t)g;
		float32x4_t d = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(base + 2 * rr)));
		float32x4_t yv = vld1q_f32(y + 4 * g), a = vcvtq_f32_s32(acc[g]);
		const uint8_t *sc = w == 6 ? base + 2 * P + s * P + rr : base + 4 * P + s * P + rr;
		int32_t sv[4], mv[4];

		if (w == 6) {
			for (int k = 0; k < 4; k++)
				sv[k] = (int8_t)sc[k];
			yv = vfmaq_f32(yv, vmulq_n_f32(vmulq_f32(d, vcvtq_f32_s32(vld1q_s32(sv))),
						       run->s), a);
		} else {
			const uint8_t *mh = base + 12 * P + s * P / 2 + rr / 2; /* rr is even */
			float32x4_t dm = vcvt_f32_f16(vreinterpret_f16_u8(
				vld1_u8(base + 2 * P + 2 * rr)));
			float32x4_t D, M;

			for (int k = 0; k < 4; k++) {
				sv[k] = sc[k] & 63;
				mv[k] = (sc[k] >> 6) | ((mh[k / 2] >> (k & 1 ? 4 : 0)) & 15) << 2;
			}
			D = vmulq_n_f32(vmulq_f32(d, vcvtq_f32_s32(vld1q_s32(sv))), run->s);
			M = vmulq_f32(dm, vcvtq_f32_s32(vld1q_s32(mv)));
			/* y += fmaf(Ds, acc, -(M sx)) */
			yv = vaddq_f32(yv, vfmaq_f32(vnegq_f32(vmulq_n_f32(M, run->sx)), D, a));
		}
		vst1q_f32(y + 4 * g, yv);
	}
}

void as_kq_tile_neon(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		     const void *table, const void *const *cols, const struct as_kq_run *run)
{
	int w = as_kq_width(t);
	size_t cb = (size_t)w * 8, n = run->n, b = run->ch / QK_K;
	size_t s = (run->ch % QK_K) / as_kq_sub(t);
	const uint8_t *base = (const uint8_t *)table + b * P * (w == 6 ? 18 : 16);

	for (size_t k = 0; k < nt; k++) {
		size_t j = r / 64 + k;
		int32x4_t acc[16];

		for (int g = 0; g < 16; g++)
			acc[g] = vdupq_n_s32(0);
		for (size_t i = 0; i < n; i++) {
			const uint8_t *c = (const uint8_t *)cols[i] + j * cb;
			int16_t xq = run->q[i];
			int8x16_t q[4];

			if (k + 2 < nt) /* the column's chunk two tiles ahead */
				__builtin_prefetch(c + 2 * cb, 0, 3);
			codes64(w, c, q);
			for (int g = 0; g < 4; g++) {
				int16x8_t lo = vmovl_s8(vget_low_s8(q[g]));
				int16x8_t hi = vmovl_high_s8(q[g]);
				int32x4_t *a = &acc[4 * g];

				/* acc += q code, exact in int32 */
				a[0] = vmlal_n_s16(a[0], vget_low_s16(lo), xq);
				a[1] = vmlal_high_n_s16(a[1], lo, xq);
				a[2] = vmlal_n_s16(a[2], vget_low_s16(hi), xq);
				a[3] = vmlal_high_n_s16(a[3], hi, xq);
			}
		}
		flush(w, base, P, s, r + 64 * k, y + 64 * k, acc, run);
	}
}

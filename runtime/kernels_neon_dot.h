/* SPDX-License-Identifier: MIT */
/*
 * The 16- and 32-byte signed dot products shared by the aarch64 row kernels
 * (kernels_neon.h, kernels_types_neon.h): SDOT when the including file is compiled with
 * +dotprod (AS_NEON_DOT 1), widening multiplies and pairwise adds otherwise. Both are
 * exact for int8 operands. Not a public header.
 */
#ifndef ACTIVESWAP_KERNELS_NEON_DOT_H
#define ACTIVESWAP_KERNELS_NEON_DOT_H

#include <arm_neon.h>

#include "kernels_impl.h"

#ifndef AS_NEON_DOT
#error "define AS_NEON_DOT (0 or 1) before including kernels_neon_dot.h"
#endif

/* acc + the 4 sums of 4 adjacent products of a and b */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if AS_NEON_DOT
	return vdotq_s32(acc, a, b);
#else
	int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
	int16x8_t hi = vmull_high_s8(a, b);

	return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

/* sum of a[0..31] * b[0..31] (two 16-byte halves each) */
static inline int dot32(int8x16_t a0, int8x16_t a1, const int8_t *b)
{
	int32x4_t s = dot16(vdupq_n_s32(0), a0, vld1q_s8(b));

	return vaddvq_s32(dot16(s, a1, vld1q_s8(b + 16)));
}

static inline float h2f(as_fp16_t h)
{
	return as_fp16_to_fp32(h);
}

#endif

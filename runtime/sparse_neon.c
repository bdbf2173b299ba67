// SPDX-License-Identifier: MIT
/*
 * aarch64 Advanced SIMD column kernels for the swapping runtime (runtime/sparse.c; both
 * aarch64 levels use them: SDOT sums along the wrong axis for column-major codes).
 *
 * F32, F16, BF16 and Q8_0 do the scalar reference's operations per element in its order
 * (multiply, then add, columns 0..n-1; the aarch64 build does not contract them), so they
 * give its bits. Q4_0 prepares each group of columns with as_q4_prep_scalar, sums codes
 * times int8 activations exactly (16-bit products, widened before they can overflow) and
 * ends with the reference's fmaf: its bits too.
 */
#include <arm_neon.h>
#include <string.h>

#include "sparse_impl.h"

#define COL(cols, i, off) ((const uint8_t *)(cols)[i] + (off))

static inline float32x4_t ld4_f16(const as_fp16_t *p)
{
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static inline float32x4_t ld4_bf16(const as_bf16_t *p)
{
	return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

/* y[r] += a_i * col_i[r] for i = 0..n-1, 8 rows per pass, the tail scalar */
#define SP_FLOAT(name, T, LOAD, ONE)                                                      \
	static void name(float *y, size_t ne, const void *const *cols, size_t off,        \
			 const float *x, size_t n)                                         \
	{                                                                                 \
		size_t r = 0;                                                             \
                                                                                          \
		for (; r + 8 <= ne; r += 8) {                                             \
			float32x4_t y0 = vld1q_f32(y + r), y1 = vld1q_f32(y + r + 4);     \
                                                                                          \
			for (size_t i = 0; i < n; i++) {                                  \
				const T *c = (const T *)COL(cols, i, off) + r;            \
                                                                                          \
				y0 = vaddq_f32(y0, vmulq_n_f32(LOAD(c), x[i]));           \
				y1 = vaddq_f32(y1, vmulq_n_f32(LOAD(c + 4), x[i]));       \
			}                                                                 \
			vst1q_f32(y + r, y0);                                             \
			vst1q_f32(y + r + 4, y1);                                         \
		}                                                                         \
		for (; r < ne; r++)                                                       \
			for (size_t i = 0; i < n; i++)                                    \
				y[r] += x[i] * ONE(((const T *)COL(cols, i, off))[r]);    \
	}

static inline float f32_1(float v)
{
	return v;
}

SP_FLOAT(sp_f32, float, vld1q_f32, f32_1)
SP_FLOAT(sp_f16, as_fp16_t, ld4_f16, as_fp16_to_fp32)
SP_FLOAT(sp_bf16, as_bf16_t, ld4_bf16, as_bf16_to_fp32)

/* y[32 b + k] += (x_i * d_ib) * q_ib[k], columns in order, one block (8 vectors) a pass */
static void sp_q8_0(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		    size_t n)
{
	size_t nb = ne / QK8_0;

	for (size_t b = 0; b < nb; b++) {
		float32x4_t acc[8];
		float *yb = y + b * QK8_0;

		for (int k = 0; k < 8; k++)
			acc[k] = vld1q_f32(yb + 4 * k);
		for (size_t i = 0; i < n; i++) {
			const struct block_q8_0 *c = (const void *)COL(cols, i, off);
			float s = x[i] * as_fp16_to_fp32(c[b].d);

			for (int h = 0; h < 2; h++) {
				int8x16_t q = vld1q_s8(c[b].qs + 16 * h);
				int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
				float32x4_t f[4] = {
					vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))),
					vcvtq_f32_s32(vmovl_high_s16(lo)),
					vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))),
					vcvtq_f32_s32(vmovl_high_s16(hi)),
				};

				for (int k = 0; k < 4; k++)
					acc[4 * h + k] = vaddq_f32(acc[4 * h + k],
								   vmulq_n_f32(f[k], s));
			}
		}
		for (int k = 0; k < 8; k++)
			vst1q_f32(yb + 4 * k, acc[k]);
	}
}

/*
 * One chunk c (128 rows) of a column group: acc[a][l][j] = the sums over the group's m
 * columns of q x code for the rows of vector l, nibble a, bytes 4j..4j+3. int16 products
 * code (0..15) x q (|q| <= 128) accumulate 16 columns (at most 30720) before widening.
 */
static void q4_chunk(const void *const *cols, size_t m, size_t qoff, size_t c,
		     const uint32_t *qa, size_t jb, int32x4_t acc[2][4][4])
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f);

	for (int a = 0; a < 2; a++)
		for (int l = 0; l < 4; l++)
			for (int j = 0; j < 4; j++)
				acc[a][l][j] = vdupq_n_s32(0);
	for (size_t i0 = 0; i0 < m; i0 += 16) {
		int16x8_t s[2][4][2];
		size_t i1 = m - i0 < 16 ? m : i0 + 16;

		memset(s, 0, sizeof(s));
		for (size_t i = i0; i < i1; i++) {
			const uint8_t *ch = COL(cols, i, qoff) + 64 * c;
			int8x8_t q[4]; /* q of column i for blocks jb .. jb+3 */

			for (int k = 0; k < 4; k++)
				q[k] = vdup_n_s8((int8_t)(qa[i / 4 * AS_Q4_TILE + jb + k] >>
							  (8 * (i % 4))));
			/* byte 4 j + t of vector l is row 16 j + 4 l + t of the nibble's half:
			 * bytes 0-7 (rows < 32) of block 2 a, bytes 8-15 of block 2 a + 1 */
			for (int l = 0; l < 4; l++) {
				uint8x16_t v = vld1q_u8(ch + 16 * l);
				int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(v, m4));
				int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));

				s[0][l][0] = vmlal_s8(s[0][l][0], vget_low_s8(lo), q[0]);
				s[0][l][1] = vmlal_s8(s[0][l][1], vget_high_s8(lo), q[1]);
				s[1][l][0] = vmlal_s8(s[1][l][0], vget_low_s8(hi), q[2]);
				s[1][l][1] = vmlal_s8(s[1][l][1], vget_high_s8(hi), q[3]);
			}
		}
		for (int a = 0; a < 2; a++) {
			for (int l = 0; l < 4; l++) {
				for (int h = 0; h < 2; h++) {
					int32x4_t *d = &acc[a][l][2 * h];

					d[0] = vaddw_s16(d[0], vget_low_s16(s[a][l][h]));
					d[1] = vaddw_high_s16(d[1], s[a][l][h]);
				}
			}
		}
	}
}

/* y[64 a + 16 j + 4 l + t] = fmaf(sa, corr + acc, y) for the rows of one chunk */
static void q4_store(float *yc, int32x4_t acc[2][4][4], const float *sa,
		     const int32_t *corr)
{
	for (int a = 0; a < 2; a++) {
		for (int j = 0; j < 4; j++) {
			float32x4_t sv = vdupq_n_f32(sa[2 * a + j / 2]);
			int32x4_t cv = vdupq_n_s32(corr[2 * a + j / 2]);

			for (int l = 0; l < 4; l++) {
				float *yr = yc + 64 * a + 16 * j + 4 * l;
				float32x4_t v = vcvtq_f32_s32(vaddq_s32(acc[a][l][j], cv));

				vst1q_f32(yr, vfmaq_f32(vld1q_f32(yr), sv, v));
			}
		}
	}
}

/*
 * Q4_0 columns (activeswap/sparse.h): for chunk c (128 rows), the 64 code bytes of a
 * column hold row w (0..63) in the low nibble and row 64 + w in the high nibble of byte
 * 16 l + 4 j + t for w = 16 j + 4 l + t.
 */
static void sp_q4_0(float *y, size_t c0, size_t c1, size_t qoff, const void *const *cols,
		    const float *x, size_t n)
{
	uint32_t qa[AS_Q4_GROUP / 4 * AS_Q4_TILE];
	float sa[AS_Q4_TILE];
	int32_t corr[AS_Q4_TILE];
	int32x4_t acc[2][4][4];

	for (size_t t0 = c0; t0 < c1; t0 += AS_Q4_TILE / 4) {
		size_t t1 = c1 - t0 < AS_Q4_TILE / 4 ? c1 : t0 + AS_Q4_TILE / 4;

		for (size_t g = 0; g < n; g += AS_Q4_GROUP) {
			size_t m = n - g < AS_Q4_GROUP ? n - g : AS_Q4_GROUP;

			as_q4_prep_scalar(cols + g, x + g, m, t0 * 4, (t1 - t0) * 4, qa, AS_Q4_TILE,
					  sa, corr);
			for (size_t c = t0; c < t1; c++) {
				size_t jb = (c - t0) * 4;

				q4_chunk(cols + g, m, qoff, c, qa, jb, acc);
				q4_store(y + (c - c0) * 128, acc, sa + jb, corr + jb);
			}
		}
	}
}

void as_sparse_neon_init(struct as_sparse_table *t)
{
	t->fn[AS_SP_F32] = sp_f32;
	t->fn[AS_SP_F16] = sp_f16;
	t->fn[AS_SP_BF16] = sp_bf16;
	t->fn[AS_SP_Q8_0] = sp_q8_0;
	t->q4 = sp_q4_0;
}

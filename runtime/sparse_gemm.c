// SPDX-License-Identifier: MIT
/*
 * The union product of a batch (sparse_gemm.h): Q4_0 columns decoded a panel at a time
 * (AS_SG_ROWS rows of AS_SG_KC columns, laid out strip by strip) and multiplied into the
 * outputs of every position by a register-blocked micro-kernel (AS_SG_MR positions by
 * AS_SG_STRIP rows). The scalar micro-kernel here is the reference; sparse_gemm_avx2.c
 * computes the same fused multiply-adds in the same order.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "sparse_gemm.h"

bool as_sg_type_ok(enum ggml_type t)
{
	return t == GGML_TYPE_Q4_0;
}

void as_sg_kern_scalar(float *Y, size_t ldy, const float *p, const float *x, size_t ldx,
		       size_t kc, size_t m, bool first)
{
	for (size_t t = 0; t < m; t++) {
		for (size_t e = 0; e < AS_SG_STRIP; e++) {
			float acc = first ? 0.0f : Y[t * ldy + e];

			for (size_t j = 0; j < kc; j++)
				acc = fmaf(x[t * ldx + j], p[j * AS_SG_STRIP + e], acc);
			Y[t * ldy + e] = acc;
		}
	}
}

/* Byte p = 16 L + 4 q + b of a chunk holds rows 16 q + 4 L + b (low nibble) and
 * 64 + 16 q + 4 L + b (high) of it (sparse.h). */
void as_sg_q4_chunk_scalar(const uint8_t *col, size_t qoff, size_t c, const float *d,
			   float *panel, size_t kc, size_t j)
{
	const uint8_t *q = col + qoff + 64 * c;

	for (size_t p = 0; p < 64; p++) {
		size_t L = p >> 4, s = (p >> 2) & 3, e = 4 * L + (p & 3);
		float *lo = panel + (s * kc + j) * AS_SG_STRIP + e;
		float *hi = panel + ((s + 4) * kc + j) * AS_SG_STRIP + e;

		*lo = d[s >> 1] * (float)((int)(q[p] & 15) - 8);
		*hi = d[2 + (s >> 1)] * (float)((int)(q[p] >> 4) - 8);
	}
}

/* Chunk c of the column col into column j of the panel. */
static void q4_chunk(as_sg_q4_fn dec, const uint8_t *col, size_t qoff, size_t c, float *panel,
		     size_t kc, size_t j)
{
	float d[4];

	for (int b = 0; b < 4; b++) {
		as_fp16_t h;

		memcpy(&h, col + 2 * (4 * c + (size_t)b), sizeof(h));
		d[b] = as_fp16_to_fp32(h);
	}
	dec(col, qoff, c, d, panel, kc, j);
}

/* Strip rows [r, r + 16) of positions [t0, t0 + m) over a panel block; the rows past
 * r1 (the share's end) go through a local copy. */
static void strip(as_sg_kern_fn kern, float *Y, size_t ldy, size_t r, size_t r1,
		  const float *p, const float *x, size_t ldx, size_t kc, size_t m, bool first)
{
	float tmp[AS_SG_MR * AS_SG_STRIP];
	size_t w = r1 - r;

	if (w >= AS_SG_STRIP) {
		kern(Y + r, ldy, p, x, ldx, kc, m, first);
		return;
	}
	for (size_t t = 0; t < m; t++)
		for (size_t e = 0; e < AS_SG_STRIP; e++)
			tmp[t * AS_SG_STRIP + e] = e < w && !first ? Y[t * ldy + r + e] : 0.0f;
	kern(tmp, AS_SG_STRIP, p, x, ldx, kc, m, first);
	for (size_t t = 0; t < m; t++)
		memcpy(Y + t * ldy + r, tmp + t * AS_SG_STRIP, w * sizeof(float));
}

void as_sg_share(enum as_simd level, enum ggml_type t, float *Y, size_t ldy, size_t out,
		 const void *const *cols, const float *xm, size_t k, size_t n, float *panel,
		 int ith, int nth)
{
	as_sg_kern_fn kern = as_sg_kern_scalar;
	as_sg_q4_fn dec = as_sg_q4_chunk_scalar;
	size_t r0, r1, qoff = (out + 127) / 128 * 128 / 16; /* the P/32 fp16 scales */

	if (!as_sg_type_ok(t))
		return;
#if defined(__x86_64__)
	if (level >= AS_SIMD_AVX2 && as_simd_detect() >= AS_SIMD_AVX2) {
		kern = as_sg_kern_avx2;
		dec = as_sg_q4_chunk_avx2;
	}
#endif
	(void)level;
	as_sparse_rows(out, ith, nth, &r0, &r1);
	for (size_t r = r0; r < r1; r += AS_SG_ROWS) {
		size_t re = r + AS_SG_ROWS < r1 ? r + AS_SG_ROWS : r1;

		if (!k) {
			for (size_t i = 0; i < n; i++)
				memset(Y + i * ldy + r, 0, (re - r) * sizeof(float));
			continue;
		}
		for (size_t j0 = 0; j0 < k; j0 += AS_SG_KC) {
			size_t kc = k - j0 < AS_SG_KC ? k - j0 : AS_SG_KC;

			for (size_t j = 0; j < kc; j++)
				q4_chunk(dec, cols[j0 + j], qoff, r / 128, panel, kc, j);
			for (size_t t0 = 0; t0 < n; t0 += AS_SG_MR) {
				size_t m = n - t0 < AS_SG_MR ? n - t0 : AS_SG_MR;

				for (size_t s = 0; s * AS_SG_STRIP < re - r; s++)
					strip(kern, Y + t0 * ldy, ldy, r + s * AS_SG_STRIP, re,
					      panel + s * kc * AS_SG_STRIP, xm + t0 * k + j0, k,
					      kc, m, j0 == 0);
			}
		}
	}
}

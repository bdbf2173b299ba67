// SPDX-License-Identifier: MIT
/*
 * Scalar reference row kernels of Q4_1, Q5_0, Q5_1, IQ4_NL (against x as Q8_0, as
 * llama.cpp does; Q4_1 / Q5_1 take the offset term from llama.cpp's Q8_1 block sum) and of Q2_K,
 * Q3_K, Q5_K, IQ4_XS (against x as Q8_K). Every block's integer dot product is exact; the
 * SIMD kernels (kernels_types_avx2.c) compute the same integers and differ only in the
 * float accumulation order.
 */
#include <string.h>

#include "kernels_impl.h"

#define ROW(W, rb, r) ((const uint8_t *)(W) + (size_t)(r) * (rb))

static inline float h2f(as_fp16_t h)
{
	return as_fp16_to_fp32(h);
}

/* 4-bit values of a 32-element block (low nibbles first), plus a 5th bit from qh. */
static inline void unpack32(const uint8_t *qs, uint32_t qh, int *q)
{
	for (int j = 0; j < 16; j++) {
		q[j] = (qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
		q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
	}
}

static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline int dot32(const int *q, const int8_t *x)
{
	int s = 0;

	for (int j = 0; j < 32; j++)
		s += q[j] * x[j];
	return s;
}

static void rows_q4_1(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_1;
	int q[32];

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_1 *w = (const void *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			float dx = h2f(x->q8[b].d);

			unpack32(w[b].qs, 0, q);
			s += (float)dot32(q, x->q8[b].qs) * (h2f(w[b].d) * dx) +
			     h2f(w[b].m) * x->q8s1[b];
		}
		y[r] = s;
	}
}

static void rows_q5_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK5_0;
	int q[32];

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_0 *w = (const void *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			unpack32(w[b].qs, le32(w[b].qh), q);
			for (int j = 0; j < 32; j++)
				q[j] -= 16;
			s += (float)dot32(q, x->q8[b].qs) * (h2f(w[b].d) * h2f(x->q8[b].d));
		}
		y[r] = s;
	}
}

static void rows_q5_1(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK5_1;
	int q[32];

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_1 *w = (const void *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			float dx = h2f(x->q8[b].d);

			unpack32(w[b].qs, le32(w[b].qh), q);
			s += (float)dot32(q, x->q8[b].qs) * (h2f(w[b].d) * dx) +
			     h2f(w[b].m) * x->q8s1[b];
		}
		y[r] = s;
	}
}

static void rows_iq4_nl(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_NL;
	int q[32];

	for (size_t r = r0; r < r1; r++) {
		const struct block_iq4_nl *w = (const void *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			unpack32(w[b].qs, 0, q);
			for (int j = 0; j < 32; j++)
				q[j] = as_kvalues_iq4nl[q[j]];
			s += (float)dot32(q, x->q8[b].qs) * (h2f(w[b].d) * h2f(x->q8[b].d));
		}
		y[r] = s;
	}
}

static void rows_q2_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q2_K *w = (const void *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0, msum = 0;

			for (int e0 = 0; e0 < QK_K; e0 += 16) {
				int sc = w[b].scales[e0 / 16], sub = 0;

				for (int e = e0; e < e0 + 16; e++) {
					int v = (w[b].qs[32 * (e / 128) + e % 32] >>
						 (2 * ((e % 128) / 32))) & 3;

					sub += v * xb->qs[e];
				}
				isum += (sc & 0xf) * sub;
				msum += (sc >> 4) * xb->bsums[e0 / 16];
			}
			s += h2f(w[b].d) * xb->d * (float)isum - h2f(w[b].dmin) * xb->d * (float)msum;
		}
		y[r] = s;
	}
}

static void rows_q3_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q3_K *w = (const void *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0;

			for (int e0 = 0; e0 < QK_K; e0 += 16) {
				int sub = 0;

				for (int e = e0; e < e0 + 16; e++) {
					int n = e / 128, j = (e % 128) / 32, l = e % 32;
					int v = ((w[b].qs[32 * n + l] >> (2 * j)) & 3) |
						((w[b].hmask[l] >> (4 * n + j)) & 1) << 2;

					sub += (v - 4) * xb->qs[e];
				}
				isum += (as_q3k_scale(e0 / 16, w[b].scales) - 32) * sub;
			}
			s += h2f(w[b].d) * xb->d * (float)isum;
		}
		y[r] = s;
	}
}

static void rows_q5_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q5_K *w = (const void *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0, msum = 0;

			for (int j = 0; j < QK_K / 32; j++) {
				uint8_t sc, m;
				int sub = 0;

				as_q4k_scale_min(j, w[b].scales, &sc, &m);
				for (int l = 0; l < 32; l++) {
					uint8_t lo = w[b].qs[32 * (j / 2) + l];
					int v = ((j & 1) ? lo >> 4 : lo & 0x0f) |
						((w[b].qh[l] >> j) & 1) << 4;

					sub += v * xb->qs[j * 32 + l];
				}
				isum += sc * sub;
				msum += m * (xb->bsums[2 * j] + xb->bsums[2 * j + 1]);
			}
			s += h2f(w[b].d) * xb->d * (float)isum - h2f(w[b].dmin) * xb->d * (float)msum;
		}
		y[r] = s;
	}
}

static void rows_iq4_xs(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	int q[32];

	for (size_t r = r0; r < r1; r++) {
		const struct block_iq4_xs *w = (const void *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0;

			for (int ib = 0; ib < QK_K / 32; ib++) {
				int ls = ((w[b].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) |
					 (((w[b].scales_h >> (2 * ib)) & 3) << 4);

				unpack32(w[b].qs + 16 * ib, 0, q);
				for (int j = 0; j < 32; j++)
					q[j] = as_kvalues_iq4nl[q[j]];
				isum += (ls - 32) * dot32(q, xb->qs + 32 * ib);
			}
			s += h2f(w[b].d) * xb->d * (float)isum;
		}
		y[r] = s;
	}
}

void as_kernels_types_scalar_init(struct as_kernel_table *t)
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

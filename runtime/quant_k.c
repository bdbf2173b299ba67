// SPDX-License-Identifier: MIT
/*
 * Scalar reference dequantization of Q2_K, Q3_K, Q5_K and IQ4_XS (ggml's exact float
 * steps, checked bit for bit against blocks llama.cpp wrote: tests/fixtures/quant/), and
 * our own quantizers for every type beyond F32 F16 BF16 Q8_0 Q4_0. The quantizers are
 * simple and deterministic (range fits, a short scale search for the non-linear IQ4
 * levels); they do not reproduce ggml's search, but their blocks are valid GGUF blocks
 * that llama.cpp reads unchanged.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "activeswap/quant.h"

/* ---- dequantize ---------------------------------------------------------------- */

static void dequant_q2_K(const struct block_q2_K *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = as_fp16_to_fp32(x[i].d), dmin = as_fp16_to_fp32(x[i].dmin);
		const uint8_t *q = x[i].qs;
		int is = 0;

		for (int n = 0; n < QK_K; n += 128, q += 32) {
			for (int j = 0; j < 4; j++) {
				for (int h = 0; h < 2; h++) {
					uint8_t sc = x[i].scales[is++];
					float dl = d * (sc & 0xf), ml = dmin * (sc >> 4);

					for (int l = 0; l < 16; l++)
						*y++ = dl * ((q[l + 16 * h] >> (2 * j)) & 3) - ml;
				}
			}
		}
	}
}

int as_q3k_scale(int s, const uint8_t *sc)
{
	int lo = (sc[s % 8] >> (4 * (s / 8))) & 0xf;
	int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;

	return lo | hi << 4;
}

static void dequant_q3_K(const struct block_q3_K *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = as_fp16_to_fp32(x[i].d);
		const uint8_t *q = x[i].qs;
		int is = 0;

		for (int n = 0; n < 2; n++, q += 32) {
			for (int j = 0; j < 4; j++) {
				uint8_t m = (uint8_t)(1u << (4 * n + j));

				for (int h = 0; h < 2; h++) {
					float dl = d * (as_q3k_scale(is++, x[i].scales) - 32);

					for (int l = 16 * h; l < 16 * h + 16; l++)
						*y++ = dl * (((q[l] >> (2 * j)) & 3) -
							     ((x[i].hmask[l] & m) ? 0 : 4));
				}
			}
		}
	}
}

static void dequant_q5_K(const struct block_q5_K *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = as_fp16_to_fp32(x[i].d), dmin = as_fp16_to_fp32(x[i].dmin);
		const uint8_t *ql = x[i].qs, *qh = x[i].qh;

		for (int j = 0; j < 4; j++, ql += 32) {
			uint8_t sc, m;

			as_q4k_scale_min(2 * j, x[i].scales, &sc, &m);
			float d1 = d * sc, m1 = dmin * m;
			as_q4k_scale_min(2 * j + 1, x[i].scales, &sc, &m);
			float d2 = d * sc, m2 = dmin * m;

			for (int l = 0; l < 32; l++)
				*y++ = d1 * ((ql[l] & 0xf) + ((qh[l] >> (2 * j)) & 1) * 16) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * ((ql[l] >> 4) + ((qh[l] >> (2 * j + 1)) & 1) * 16) - m2;
		}
	}
}

static void dequant_iq4_xs(const struct block_iq4_xs *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = as_fp16_to_fp32(x[i].d);
		const uint8_t *qs = x[i].qs;

		for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, y += 32) {
			int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) |
				 (((x[i].scales_h >> (2 * ib)) & 3) << 4);
			float dl = d * (ls - 32);

			for (int j = 0; j < 16; j++) {
				y[j] = dl * as_kvalues_iq4nl[qs[j] & 0xf];
				y[j + 16] = dl * as_kvalues_iq4nl[qs[j] >> 4];
			}
		}
	}
}

void as_dequant_kq(enum ggml_type t, const void *src, float *dst, size_t nb)
{
	switch (t) {
	case GGML_TYPE_Q2_K:
		dequant_q2_K(src, dst, nb);
		break;
	case GGML_TYPE_Q3_K:
		dequant_q3_K(src, dst, nb);
		break;
	case GGML_TYPE_Q5_K:
		dequant_q5_K(src, dst, nb);
		break;
	case GGML_TYPE_IQ4_XS:
		dequant_iq4_xs(src, dst, nb);
		break;
	default:
		for (size_t i = 0; i < nb * as_type_block_elems(t); i++)
			dst[i] = NAN;
		break;
	}
}

/* ---- quantizer helpers ------------------------------------------------------------ */

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* round(v / s) clamped to [lo, hi]; 0 -> lo..hi's value nearest 0 when s == 0 */
static int qround(float v, float s, int lo, int hi)
{
	if (s == 0.0f)
		return clampi(0, lo, hi);
	return clampi((int)lrintf(v / s), lo, hi);
}

/* The element of largest magnitude (its sign kept). */
static float signed_max(const float *x, int n)
{
	float amax = 0.0f, mx = 0.0f;

	for (int i = 0; i < n; i++) {
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			mx = x[i];
		}
	}
	return mx;
}

/* x ~ scale * q - off with q in 0..nmax: the range fit, off >= 0 (min clamped to 0). */
static void fit_min(const float *x, int n, int nmax, float *scale, float *off)
{
	float mn = x[0], mx = x[0];

	for (int i = 1; i < n; i++) {
		mn = fminf(mn, x[i]);
		mx = fmaxf(mx, x[i]);
	}
	if (mn > 0.0f)
		mn = 0.0f;
	*scale = (mx - mn) / (float)nmax;
	*off = -mn;
}

/* Index of the IQ4_NL level nearest v. */
static int iq4_index(float v)
{
	int best = 0;
	float bd = fabsf(v - as_kvalues_iq4nl[0]);

	for (int k = 1; k < 16; k++) {
		float dd = fabsf(v - as_kvalues_iq4nl[k]);

		if (dd < bd) {
			bd = dd;
			best = k;
		}
	}
	return best;
}

/* Scale s for x ~ s * kvalues[q]: the largest magnitude on -127, then a small search. */
static float iq4_fit(const float *x, int n)
{
	float mx = signed_max(x, n), best_s = mx / -127.0f, best_e = INFINITY;

	if (mx == 0.0f)
		return 0.0f;
	for (int k = -6; k <= 6; k++) {
		float s = mx / (-127.0f + 4.0f * (float)k), e = 0.0f;

		for (int i = 0; i < n; i++) {
			float r = x[i] - s * as_kvalues_iq4nl[iq4_index(x[i] / s)];

			e += r * r;
		}
		if (e < best_e) {
			best_e = e;
			best_s = s;
		}
	}
	return best_s;
}

static void put_q5_bits(uint8_t *qs, uint8_t *qh4, const int *q)
{
	uint32_t qh = 0;

	for (int j = 0; j < 16; j++)
		qs[j] = (uint8_t)((q[j] & 0xf) | (q[j + 16] & 0xf) << 4);
	for (int j = 0; j < 32; j++)
		qh |= (uint32_t)((q[j] >> 4) & 1) << j;
	for (int k = 0; k < 4; k++)
		qh4[k] = (uint8_t)(qh >> (8 * k));
}

/* ---- 32-element types ---------------------------------------------------------------- */

static void quant_q4_1(const float *x, struct block_q4_1 *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32) {
		float mn = x[0], mx = x[0];
		int q[32];

		for (int j = 1; j < 32; j++) {
			mn = fminf(mn, x[j]);
			mx = fmaxf(mx, x[j]);
		}
		y[i].d = as_fp32_to_fp16((mx - mn) / 15.0f);
		y[i].m = as_fp32_to_fp16(mn);
		float d = as_fp16_to_fp32(y[i].d), m = as_fp16_to_fp32(y[i].m);

		for (int j = 0; j < 32; j++)
			q[j] = qround(x[j] - m, d, 0, 15);
		for (int j = 0; j < 16; j++)
			y[i].qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
	}
}

static void quant_q5_0(const float *x, struct block_q5_0 *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32) {
		int q[32];

		y[i].d = as_fp32_to_fp16(signed_max(x, 32) / -16.0f);
		float d = as_fp16_to_fp32(y[i].d);

		for (int j = 0; j < 32; j++)
			q[j] = qround(x[j], d, -16, 15) + 16;
		put_q5_bits(y[i].qs, y[i].qh, q);
	}
}

static void quant_q5_1(const float *x, struct block_q5_1 *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32) {
		float mn = x[0], mx = x[0];
		int q[32];

		for (int j = 1; j < 32; j++) {
			mn = fminf(mn, x[j]);
			mx = fmaxf(mx, x[j]);
		}
		y[i].d = as_fp32_to_fp16((mx - mn) / 31.0f);
		y[i].m = as_fp32_to_fp16(mn);
		float d = as_fp16_to_fp32(y[i].d), m = as_fp16_to_fp32(y[i].m);

		for (int j = 0; j < 32; j++)
			q[j] = qround(x[j] - m, d, 0, 31);
		put_q5_bits(y[i].qs, y[i].qh, q);
	}
}

static void quant_iq4_nl(const float *x, struct block_iq4_nl *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32) {
		y[i].d = as_fp32_to_fp16(iq4_fit(x, 32));
		float d = as_fp16_to_fp32(y[i].d);

		for (int j = 0; j < 16; j++) {
			int a = d ? iq4_index(x[j] / d) : 8, b = d ? iq4_index(x[j + 16] / d) : 8;

			y[i].qs[j] = (uint8_t)(a | b << 4);
		}
	}
}

/* ---- K-quants ------------------------------------------------------------------------ */

/*
 * Super-block of ns sub-blocks of 256/ns elements, x ~ d*ls[s]*q - dmin*lm[s], q in
 * 0..nmax, ls and lm in 0..smax (Q2_K, Q4_K, Q5_K). Writes d, dmin and the q's.
 */
static void kq_min_block(const float *x, int ns, int nmax, int smax, as_fp16_t *dh,
			 as_fp16_t *dminh, uint8_t *ls, uint8_t *lm, uint8_t *q)
{
	int sl = QK_K / ns;
	float sc[16], off[16], msc = 0.0f, moff = 0.0f;

	for (int s = 0; s < ns; s++) {
		fit_min(x + s * sl, sl, nmax, &sc[s], &off[s]);
		msc = fmaxf(msc, sc[s]);
		moff = fmaxf(moff, off[s]);
	}
	*dh = as_fp32_to_fp16(msc / (float)smax);
	*dminh = as_fp32_to_fp16(moff / (float)smax);
	float d = as_fp16_to_fp32(*dh), dmin = as_fp16_to_fp32(*dminh);

	for (int s = 0; s < ns; s++) {
		ls[s] = (uint8_t)qround(sc[s], d, 0, smax);
		lm[s] = (uint8_t)qround(off[s], dmin, 0, smax);
		/* the offset must not be rounded below the sub-block's minimum */
		if (dmin * lm[s] < off[s] && lm[s] < smax)
			lm[s]++;
		float ds = d * ls[s], ms = dmin * lm[s];

		for (int l = 0; l < sl; l++)
			q[s * sl + l] = (uint8_t)qround(x[s * sl + l] + ms, ds, 0, nmax);
	}
}

static void quant_q2_K(const float *x, struct block_q2_K *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K) {
		uint8_t ls[16], lm[16], q[QK_K];

		kq_min_block(x, 16, 3, 15, &y[i].d, &y[i].dmin, ls, lm, q);
		for (int s = 0; s < 16; s++)
			y[i].scales[s] = (uint8_t)(ls[s] | lm[s] << 4);
		memset(y[i].qs, 0, sizeof(y[i].qs));
		for (int e = 0; e < QK_K; e++)
			y[i].qs[32 * (e / 128) + e % 32] |= (uint8_t)(q[e] << (2 * ((e % 128) / 32)));
	}
}

static void put_q4k_scales(uint8_t *sc, const uint8_t *ls, const uint8_t *lm)
{
	memset(sc, 0, K_SCALE_SIZE);
	for (int j = 0; j < 8; j++) {
		if (j < 4) {
			sc[j] = ls[j];
			sc[j + 4] = lm[j];
		} else {
			sc[j + 4] = (uint8_t)((ls[j] & 0xf) | (lm[j] & 0xf) << 4);
			sc[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
			sc[j] |= (uint8_t)((lm[j] >> 4) << 6);
		}
	}
}

static void quant_q4_K(const float *x, struct block_q4_K *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K) {
		uint8_t ls[8], lm[8], q[QK_K];

		kq_min_block(x, 8, 15, 63, &y[i].d, &y[i].dmin, ls, lm, q);
		put_q4k_scales(y[i].scales, ls, lm);
		for (int j = 0; j < 4; j++)
			for (int l = 0; l < 32; l++)
				y[i].qs[32 * j + l] = (uint8_t)(q[64 * j + l] |
								 q[64 * j + 32 + l] << 4);
	}
}

static void quant_q5_K(const float *x, struct block_q5_K *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K) {
		uint8_t ls[8], lm[8], q[QK_K];

		kq_min_block(x, 8, 31, 63, &y[i].d, &y[i].dmin, ls, lm, q);
		put_q4k_scales(y[i].scales, ls, lm);
		memset(y[i].qh, 0, sizeof(y[i].qh));
		for (int j = 0; j < 4; j++) {
			for (int l = 0; l < 32; l++) {
				int a = q[64 * j + l], b = q[64 * j + 32 + l];

				y[i].qs[32 * j + l] = (uint8_t)((a & 0xf) | (b & 0xf) << 4);
				y[i].qh[l] |= (uint8_t)((a >> 4) << (2 * j) | (b >> 4) << (2 * j + 1));
			}
		}
	}
}

/*
 * Signed super-block: 16 sub-blocks of 16, x ~ d * l[s] * q with q in qlo..qhi and l in
 * llo..lhi (Q3_K, Q6_K). The sub-block scale maps its largest magnitude to qlo.
 */
static void kq_signed_block(const float *x, int qlo, int qhi, int llo, int lhi, as_fp16_t *dh,
			    int *l, int *q)
{
	float sc[16], mx = 0.0f;

	for (int s = 0; s < 16; s++) {
		sc[s] = signed_max(x + 16 * s, 16) / (float)qlo;
		if (fabsf(sc[s]) > fabsf(mx))
			mx = sc[s];
	}
	*dh = as_fp32_to_fp16(mx / (float)llo);
	float d = as_fp16_to_fp32(*dh);

	for (int s = 0; s < 16; s++) {
		l[s] = qround(sc[s], d, llo, lhi);
		for (int k = 0; k < 16; k++)
			q[16 * s + k] = qround(x[16 * s + k], d * l[s], qlo, qhi);
	}
}

static void quant_q3_K(const float *x, struct block_q3_K *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K) {
		int l[16], q[QK_K];

		kq_signed_block(x, -4, 3, -32, 31, &y[i].d, l, q);
		memset(y[i].scales, 0, sizeof(y[i].scales));
		for (int s = 0; s < 16; s++) {
			int v = l[s] + 32;

			y[i].scales[s % 8] |= (uint8_t)((v & 0xf) << (4 * (s / 8)));
			y[i].scales[8 + s % 4] |= (uint8_t)((v >> 4) << (2 * (s / 4)));
		}
		memset(y[i].qs, 0, sizeof(y[i].qs));
		memset(y[i].hmask, 0, sizeof(y[i].hmask));
		for (int e = 0; e < QK_K; e++) {
			int v = q[e] + 4, n = e / 128, j = (e % 128) / 32, k = e % 32;

			y[i].qs[32 * n + k] |= (uint8_t)((v & 3) << (2 * j));
			y[i].hmask[k] |= (uint8_t)((v >> 2) << (4 * n + j));
		}
	}
}

static void quant_q6_K(const float *x, struct block_q6_K *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K) {
		int l[16], q[QK_K];

		kq_signed_block(x, -32, 31, -128, 127, &y[i].d, l, q);
		for (int s = 0; s < 16; s++)
			y[i].scales[s] = (int8_t)l[s];
		memset(y[i].ql, 0, sizeof(y[i].ql));
		memset(y[i].qh, 0, sizeof(y[i].qh));
		for (int e = 0; e < QK_K; e++) {
			int v = q[e] + 32, n = e / 128, r = e % 128, k = r % 32, g = r / 32;

			y[i].ql[64 * n + k + 32 * (g & 1)] |= (uint8_t)((v & 0xf) << (4 * (g >> 1)));
			y[i].qh[32 * n + k] |= (uint8_t)((v >> 4) << (2 * g));
		}
	}
}

static void quant_iq4_xs(const float *x, struct block_iq4_xs *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K) {
		float sc[8], mx = 0.0f;

		for (int s = 0; s < 8; s++) {
			sc[s] = iq4_fit(x + 32 * s, 32);
			if (fabsf(sc[s]) > fabsf(mx))
				mx = sc[s];
		}
		y[i].d = as_fp32_to_fp16(mx / -32.0f);
		float d = as_fp16_to_fp32(y[i].d);

		y[i].scales_h = 0;
		memset(y[i].scales_l, 0, sizeof(y[i].scales_l));
		for (int s = 0; s < 8; s++) {
			int l = qround(sc[s], d, -32, 31), v = l + 32;
			float dl = d * l;

			y[i].scales_l[s / 2] |= (uint8_t)((v & 0xf) << (4 * (s % 2)));
			y[i].scales_h |= (uint16_t)((v >> 4) << (2 * s));
			for (int j = 0; j < 16; j++) {
				const float *b = x + 32 * s;
				int a = dl ? iq4_index(b[j] / dl) : 8;
				int c = dl ? iq4_index(b[j + 16] / dl) : 8;

				y[i].qs[16 * s + j] = (uint8_t)(a | c << 4);
			}
		}
	}
}

int as_quant_kq(enum ggml_type t, const float *src, void *dst, size_t nb)
{
	switch (t) {
	case GGML_TYPE_Q4_1:
		quant_q4_1(src, dst, nb);
		return 0;
	case GGML_TYPE_Q5_0:
		quant_q5_0(src, dst, nb);
		return 0;
	case GGML_TYPE_Q5_1:
		quant_q5_1(src, dst, nb);
		return 0;
	case GGML_TYPE_IQ4_NL:
		quant_iq4_nl(src, dst, nb);
		return 0;
	case GGML_TYPE_Q2_K:
		quant_q2_K(src, dst, nb);
		return 0;
	case GGML_TYPE_Q3_K:
		quant_q3_K(src, dst, nb);
		return 0;
	case GGML_TYPE_Q4_K:
		quant_q4_K(src, dst, nb);
		return 0;
	case GGML_TYPE_Q5_K:
		quant_q5_K(src, dst, nb);
		return 0;
	case GGML_TYPE_Q6_K:
		quant_q6_K(src, dst, nb);
		return 0;
	case GGML_TYPE_IQ4_XS:
		quant_iq4_xs(src, dst, nb);
		return 0;
	default:
		return -EINVAL;
	}
}

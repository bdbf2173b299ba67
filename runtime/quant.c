// SPDX-License-Identifier: MIT
/*
 * Tensor element types: names, block sizes, fp16/bf16 conversions and the scalar
 * reference dequantize/quantize routines. The rounding rules follow ggml's reference
 * implementations exactly, so rows we write are read identically by llama.cpp.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "activeswap/quant.h"

static const struct {
	enum ggml_type t;
	const char *name;
	size_t blk_elems;
	size_t blk_bytes;
} type_table[] = {
	{ GGML_TYPE_F32, "f32", 1, 4 },
	{ GGML_TYPE_F16, "f16", 1, 2 },
	{ GGML_TYPE_BF16, "bf16", 1, 2 },
	{ GGML_TYPE_Q8_0, "q8_0", QK8_0, sizeof(struct block_q8_0) },
	{ GGML_TYPE_Q4_0, "q4_0", QK4_0, sizeof(struct block_q4_0) },
	{ GGML_TYPE_Q4_1, "q4_1", QK4_1, sizeof(struct block_q4_1) },
	{ GGML_TYPE_Q5_0, "q5_0", QK5_0, sizeof(struct block_q5_0) },
	{ GGML_TYPE_Q5_1, "q5_1", QK5_1, sizeof(struct block_q5_1) },
	{ GGML_TYPE_IQ4_NL, "iq4_nl", QK4_NL, sizeof(struct block_iq4_nl) },
	{ GGML_TYPE_Q2_K, "q2_K", QK_K, sizeof(struct block_q2_K) },
	{ GGML_TYPE_Q3_K, "q3_K", QK_K, sizeof(struct block_q3_K) },
	{ GGML_TYPE_Q4_K, "q4_K", QK_K, sizeof(struct block_q4_K) },
	{ GGML_TYPE_Q5_K, "q5_K", QK_K, sizeof(struct block_q5_K) },
	{ GGML_TYPE_Q6_K, "q6_K", QK_K, sizeof(struct block_q6_K) },
	{ GGML_TYPE_IQ4_XS, "iq4_xs", QK_K, sizeof(struct block_iq4_xs) },
};

/* Names of types we recognise but cannot compute with. */
static const struct {
	enum ggml_type t;
	const char *name;
} other_names[] = {
	{ GGML_TYPE_Q8_1, "q8_1" }, { GGML_TYPE_Q8_K, "q8_K" },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int type_index(enum ggml_type t)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_table); i++)
		if (type_table[i].t == t)
			return (int)i;
	return -1;
}

bool as_type_supported(enum ggml_type t)
{
	return type_index(t) >= 0;
}

const char *as_type_name(enum ggml_type t)
{
	int i = type_index(t);

	if (i >= 0)
		return type_table[i].name;
	for (size_t j = 0; j < ARRAY_SIZE(other_names); j++)
		if (other_names[j].t == t)
			return other_names[j].name;
	return "unknown";
}

int as_type_from_name(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(type_table); i++)
		if (!strcasecmp(name, type_table[i].name))
			return (int)type_table[i].t;
	for (size_t j = 0; j < ARRAY_SIZE(other_names); j++)
		if (!strcasecmp(name, other_names[j].name))
			return (int)other_names[j].t;
	return -1;
}

size_t as_type_block_elems(enum ggml_type t)
{
	int i = type_index(t);

	return i < 0 ? 0 : type_table[i].blk_elems;
}

size_t as_type_block_bytes(enum ggml_type t)
{
	int i = type_index(t);

	return i < 0 ? 0 : type_table[i].blk_bytes;
}

int as_row_bytes(enum ggml_type t, uint64_t n, uint64_t *out)
{
	int i = type_index(t);
	uint64_t nb, bytes;

	if (i < 0 || !out)
		return -EINVAL;
	if (n % type_table[i].blk_elems)
		return -EINVAL;
	nb = n / type_table[i].blk_elems;
	if (__builtin_mul_overflow(nb, (uint64_t)type_table[i].blk_bytes, &bytes))
		return -EOVERFLOW;
	*out = bytes;
	return 0;
}

/* ---- fp16 / bf16 ---------------------------------------------------------------- */

static inline uint32_t f2u(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline float u2f(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

float as_fp16_to_fp32(as_fp16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;

	if (exp == 0x1f) /* inf / nan: keep payload */
		return u2f(sign | 0x7f800000u | (man << 13));
	if (exp == 0) {
		if (!man)
			return u2f(sign);
		/* subnormal: man * 2^-24, exact in fp32 */
		float v = (float)man * 0x1p-24f;
		return sign ? -v : v;
	}
	return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

as_fp16_t as_fp32_to_fp16(float f)
{
	uint32_t u = f2u(f);
	uint32_t sign = (u >> 16) & 0x8000;
	uint32_t a = u & 0x7fffffffu;

	if (a > 0x7f800000u) /* nan: quiet, like F16C and ggml */
		return (as_fp16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
	if (a >= 0x477ff000u) /* rounds to >= 65520: inf */
		return (as_fp16_t)(sign | 0x7c00);
	if (a < 0x38800000u) {
		/* result is subnormal or zero: round a * 2^24 to an integer, nearest even */
		float v = u2f(a) * 0x1p24f; /* exact: scaling by a power of two */
		uint32_t r = (uint32_t)v;
		float frac = v - (float)r;

		if (frac > 0.5f || (frac == 0.5f && (r & 1)))
			r++;
		return (as_fp16_t)(sign | r); /* r == 0x400 becomes the smallest normal */
	}
	/* normal: rebias exponent, round mantissa to 10 bits, nearest even */
	uint32_t e = ((a >> 23) - 112) << 10;
	uint32_t m = a & 0x7fffff;
	uint32_t h = e | (m >> 13);
	uint32_t rest = m & 0x1fff;

	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++; /* carry into the exponent is correct */
	return (as_fp16_t)(sign | h);
}

float as_bf16_to_fp32(as_bf16_t h)
{
	return u2f((uint32_t)h << 16);
}

as_bf16_t as_fp32_to_bf16(float f)
{
	uint32_t u = f2u(f);

	if ((u & 0x7fffffffu) > 0x7f800000u) /* nan: force quiet, as ggml does */
		return (as_bf16_t)((u >> 16) | 64);
	return (as_bf16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

/* ---- dequantize ---------------------------------------------------------------- */

static void dequant_q8_0(const struct block_q8_0 *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = as_fp16_to_fp32(x[i].d);

		for (int j = 0; j < QK8_0; j++)
			y[i * QK8_0 + j] = x[i].qs[j] * d;
	}
}

static void dequant_q4_0(const struct block_q4_0 *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = as_fp16_to_fp32(x[i].d);

		for (int j = 0; j < QK4_0 / 2; j++) {
			int x0 = (x[i].qs[j] & 0x0f) - 8;
			int x1 = (x[i].qs[j] >> 4) - 8;

			y[i * QK4_0 + j] = x0 * d;
			y[i * QK4_0 + j + QK4_0 / 2] = x1 * d;
		}
	}
}

const int8_t as_kvalues_iq4nl[16] = {
	-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

static void dequant_q4_1(const struct block_q4_1 *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += QK4_1) {
		float d = as_fp16_to_fp32(x[i].d), m = as_fp16_to_fp32(x[i].m);

		for (int j = 0; j < QK4_1 / 2; j++) {
			y[j] = (x[i].qs[j] & 0x0f) * d + m;
			y[j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
		}
	}
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* 5-bit value j (0..31) of a Q5_0 / Q5_1 block */
static inline int q5_val(const uint8_t *qs, uint32_t qh, int j)
{
	int lo = j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4;

	return lo | (int)((qh >> j) & 1) << 4;
}

static void dequant_q5_0(const struct block_q5_0 *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += QK5_0) {
		float d = as_fp16_to_fp32(x[i].d);
		uint32_t qh = le32(x[i].qh);

		for (int j = 0; j < QK5_0; j++)
			y[j] = (q5_val(x[i].qs, qh, j) - 16) * d;
	}
}

static void dequant_q5_1(const struct block_q5_1 *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += QK5_1) {
		float d = as_fp16_to_fp32(x[i].d), m = as_fp16_to_fp32(x[i].m);
		uint32_t qh = le32(x[i].qh);

		for (int j = 0; j < QK5_1; j++)
			y[j] = q5_val(x[i].qs, qh, j) * d + m;
	}
}

static void dequant_iq4_nl(const struct block_iq4_nl *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += QK4_NL) {
		float d = as_fp16_to_fp32(x[i].d);

		for (int j = 0; j < QK4_NL / 2; j++) {
			y[j] = d * as_kvalues_iq4nl[x[i].qs[j] & 0x0f];
			y[j + QK4_NL / 2] = d * as_kvalues_iq4nl[x[i].qs[j] >> 4];
		}
	}
}

/* 6-bit scale and min of sub-block j (0..7) of a Q4_K block. */
void as_q4k_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

static void dequant_q4_K(const struct block_q4_K *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		const uint8_t *q = x[i].qs;
		float d = as_fp16_to_fp32(x[i].d);
		float dmin = as_fp16_to_fp32(x[i].dmin);

		for (int j = 0; j < QK_K / 64; j++) {
			uint8_t sc, m;

			as_q4k_scale_min(2 * j, x[i].scales, &sc, &m);
			float d1 = d * sc, m1 = dmin * m;
			as_q4k_scale_min(2 * j + 1, x[i].scales, &sc, &m);
			float d2 = d * sc, m2 = dmin * m;

			for (int l = 0; l < 32; l++)
				*y++ = d1 * (q[l] & 0xf) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (q[l] >> 4) - m2;
			q += 32;
		}
	}
}

static void dequant_q6_K(const struct block_q6_K *x, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = as_fp16_to_fp32(x[i].d);
		const uint8_t *ql = x[i].ql, *qh = x[i].qh;
		const int8_t *sc = x[i].scales;

		for (int n = 0; n < QK_K; n += 128) {
			for (int l = 0; l < 32; l++) {
				int is = l / 16;
				int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
				int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
				int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;

				y[l + 0] = d * sc[is + 0] * q1;
				y[l + 32] = d * sc[is + 2] * q2;
				y[l + 64] = d * sc[is + 4] * q3;
				y[l + 96] = d * sc[is + 6] * q4;
			}
			y += 128;
			ql += 64;
			qh += 32;
			sc += 8;
		}
	}
}

void as_dequant_row(enum ggml_type t, const void *src, float *dst, size_t n)
{
	size_t be = as_type_block_elems(t);

	if (!be || n % be) { /* cannot decode: make it visible rather than leave stale data */
		for (size_t i = 0; i < n; i++)
			dst[i] = NAN;
		return;
	}
	switch (t) {
	case GGML_TYPE_F32:
		memcpy(dst, src, n * sizeof(float));
		break;
	case GGML_TYPE_F16:
		for (size_t i = 0; i < n; i++)
			dst[i] = as_fp16_to_fp32(((const as_fp16_t *)src)[i]);
		break;
	case GGML_TYPE_BF16:
		for (size_t i = 0; i < n; i++)
			dst[i] = as_bf16_to_fp32(((const as_bf16_t *)src)[i]);
		break;
	case GGML_TYPE_Q8_0:
		dequant_q8_0(src, dst, n / be);
		break;
	case GGML_TYPE_Q4_0:
		dequant_q4_0(src, dst, n / be);
		break;
	case GGML_TYPE_Q4_K:
		dequant_q4_K(src, dst, n / be);
		break;
	case GGML_TYPE_Q6_K:
		dequant_q6_K(src, dst, n / be);
		break;
	case GGML_TYPE_Q4_1:
		dequant_q4_1(src, dst, n / be);
		break;
	case GGML_TYPE_Q5_0:
		dequant_q5_0(src, dst, n / be);
		break;
	case GGML_TYPE_Q5_1:
		dequant_q5_1(src, dst, n / be);
		break;
	case GGML_TYPE_IQ4_NL:
		dequant_iq4_nl(src, dst, n / be);
		break;
	default:
		as_dequant_kq(t, src, dst, n / be);
		break;
	}
}

/* ---- quantize (ggml reference rounding) --------------------------------------- */

void as_quant_q8_0_ref(const float *x, struct block_q8_0 *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float amax = 0.0f;

		for (int j = 0; j < QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[i * QK8_0 + j]));
		float d = amax / 127.0f;
		float id = d ? 1.0f / d : 0.0f;

		y[i].d = as_fp32_to_fp16(d);
		for (int j = 0; j < QK8_0; j++)
			y[i].qs[j] = (int8_t)roundf(x[i * QK8_0 + j] * id);
	}
}

static void quant_q4_0(const float *x, struct block_q4_0 *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		const float *b = x + i * QK4_0;
		float amax = 0.0f, max = 0.0f;

		for (int j = 0; j < QK4_0; j++) {
			if (amax < fabsf(b[j])) {
				amax = fabsf(b[j]);
				max = b[j];
			}
		}
		float d = max / -8.0f;
		float id = d ? 1.0f / d : 0.0f;

		y[i].d = as_fp32_to_fp16(d);
		for (int j = 0; j < QK4_0 / 2; j++) {
			float x0 = b[j] * id;
			float x1 = b[j + QK4_0 / 2] * id;
			int xi0 = (int8_t)(x0 + 8.5f);
			int xi1 = (int8_t)(x1 + 8.5f);

			if (xi0 > 15)
				xi0 = 15;
			if (xi1 > 15)
				xi1 = 15;
			y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
		}
	}
}

int as_quant_row(enum ggml_type t, const float *src, void *dst, size_t n)
{
	size_t be = as_type_block_elems(t);

	if (!be || n % be)
		return -EINVAL;
	switch (t) {
	case GGML_TYPE_F32:
		memcpy(dst, src, n * sizeof(float));
		return 0;
	case GGML_TYPE_F16:
		for (size_t i = 0; i < n; i++)
			((as_fp16_t *)dst)[i] = as_fp32_to_fp16(src[i]);
		return 0;
	case GGML_TYPE_BF16:
		for (size_t i = 0; i < n; i++)
			((as_bf16_t *)dst)[i] = as_fp32_to_bf16(src[i]);
		return 0;
	case GGML_TYPE_Q8_0:
		as_quant_q8_0_ref(src, dst, n / be);
		return 0;
	case GGML_TYPE_Q4_0:
		quant_q4_0(src, dst, n / be);
		return 0;
	default:
		return as_quant_kq(t, src, dst, n / be);
	}
}

void as_quant_q8_K_ref(const float *x, struct block_q8_K *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K) {
		float amax = 0.0f, max = 0.0f;

		for (int j = 0; j < QK_K; j++) {
			float ax = fabsf(x[j]);

			if (ax > amax) {
				amax = ax;
				max = x[j];
			}
		}
		if (amax == 0.0f) {
			memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		float iscale = -127.0f / max;

		for (int j = 0; j < QK_K; j++) {
			int v = (int)lrintf(iscale * x[j]);

			y[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
		}
		for (int j = 0; j < QK_K / 16; j++) {
			int sum = 0;

			for (int k = 0; k < 16; k++)
				sum += y[i].qs[j * 16 + k];
			y[i].bsums[j] = (int16_t)sum;
		}
		y[i].d = 1.0f / iscale;
	}
}

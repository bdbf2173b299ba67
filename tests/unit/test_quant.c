// SPDX-License-Identifier: MIT
/* Tensor types, fp16/bf16 conversions, reference dequantize/quantize (runtime/quant.c). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "activeswap/quant.h"

static uint32_t f2u(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float u2f(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static uint64_t rs = 12345;

static float frand(void)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((rs >> 40) * 0x1p-24) * 2.0f - 1.0f;
}

static void test_type_table(void **state)
{
	uint64_t b = 0;

	(void)state;
	assert_true(as_type_supported(GGML_TYPE_Q4_0));
	assert_true(as_type_supported(GGML_TYPE_Q6_K));
	assert_true(as_type_supported(GGML_TYPE_Q5_1));
	assert_true(as_type_supported(GGML_TYPE_IQ4_XS));
	assert_false(as_type_supported(GGML_TYPE_Q8_K));
	assert_false(as_type_supported((enum ggml_type)16)); /* iq2_xxs */
	assert_false(as_type_supported((enum ggml_type)39));
	assert_string_equal(as_type_name(GGML_TYPE_Q4_K), "q4_K");
	assert_string_equal(as_type_name(GGML_TYPE_BF16), "bf16");
	assert_string_equal(as_type_name(GGML_TYPE_Q5_1), "q5_1");
	assert_string_equal(as_type_name((enum ggml_type)77), "unknown");
	assert_int_equal(as_type_from_name("Q4_0"), GGML_TYPE_Q4_0);
	assert_int_equal(as_type_from_name("q6_k"), GGML_TYPE_Q6_K);
	assert_int_equal(as_type_from_name("f32"), GGML_TYPE_F32);
	assert_int_equal(as_type_from_name("q9_9"), -1);
	assert_int_equal(as_type_from_name(NULL), -1);
	assert_int_equal(as_type_block_elems(GGML_TYPE_Q4_K), 256);
	assert_int_equal(as_type_block_bytes(GGML_TYPE_Q4_K), 144);
	assert_int_equal(as_type_block_bytes(GGML_TYPE_Q8_0), 34);
	assert_int_equal(as_type_block_bytes(GGML_TYPE_F16), 2);
	assert_int_equal(as_type_block_bytes(GGML_TYPE_Q5_0), 22);
	assert_int_equal(as_type_block_bytes(GGML_TYPE_Q8_K), 0);

	assert_int_equal(as_row_bytes(GGML_TYPE_Q4_0, 4096, &b), 0);
	assert_int_equal(b, 4096 / 32 * 18);
	assert_int_equal(as_row_bytes(GGML_TYPE_Q6_K, 11008, &b), 0);
	assert_int_equal(b, 11008 / 256 * 210);
	assert_int_equal(as_row_bytes(GGML_TYPE_F32, 3, &b), 0);
	assert_int_equal(b, 12);
	assert_int_equal(as_row_bytes(GGML_TYPE_Q4_0, 33, &b), -EINVAL);
	assert_int_equal(as_row_bytes(GGML_TYPE_Q5_0, 32, &b), 0);
	assert_int_equal(b, 22);
	assert_int_equal(as_row_bytes(GGML_TYPE_Q8_K, 256, &b), -EINVAL);
	assert_int_equal(as_row_bytes(GGML_TYPE_F32, 1ull << 63, &b), -EOVERFLOW);
	/* (2^59 - 1) blocks * 34 bytes > 2^64 */
	assert_int_equal(as_row_bytes(GGML_TYPE_Q8_0, UINT64_MAX & ~31ull, &b), -EOVERFLOW);
	assert_int_equal(as_row_bytes(GGML_TYPE_Q4_0, UINT64_MAX & ~31ull, &b), 0);
	assert_int_equal(b, ((UINT64_MAX >> 5)) * 18);
	assert_int_equal(as_row_bytes(GGML_TYPE_F32, 4, NULL), -EINVAL);
}

/* fp16 -> fp32 from the IEEE definition, computed in double. */
static double fp16_ref(uint16_t h)
{
	int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
	double v;

	if (e == 0)
		v = ldexp(m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexp(1024 + m, e - 25);
	return s ? -v : v;
}

static void test_fp16_exhaustive(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = as_fp16_to_fp32((as_fp16_t)h);
		double r = fp16_ref((uint16_t)h);

		if (isnan(r)) {
			assert_true(isnan(f));
			/* NaN stays NaN, sign kept */
			assert_true(as_fp32_to_fp16(f) & 0x200);
			assert_int_equal((as_fp32_to_fp16(f) & 0x7c00), 0x7c00);
			assert_int_equal(as_fp32_to_fp16(f) >> 15, h >> 15);
			continue;
		}
		assert_true((double)f == r);
		assert_int_equal(signbit(f) != 0, (h >> 15) != 0);
		/* exact round trip */
		assert_int_equal(as_fp32_to_fp16(f), h);
	}
}

/* Round to nearest even: midpoints between neighbours go to the even one, and anything
 * just off a midpoint goes to the nearer one. Neighbours of every finite fp16 value. */
static void test_fp16_rounding(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 0x7bff; h++) {
		double a = fp16_ref((uint16_t)h), b = fp16_ref((uint16_t)(h + 1));
		float mid = (float)((a + b) / 2); /* exact: needs one more bit than fp16 */
		uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;

		assert_true((double)mid == (a + b) / 2);
		assert_int_equal(as_fp32_to_fp16(mid), even);
		assert_int_equal(as_fp32_to_fp16(-mid), even | 0x8000);
		assert_int_equal(as_fp32_to_fp16(nextafterf(mid, 0)), h);
		assert_int_equal(as_fp32_to_fp16(nextafterf(mid, INFINITY)), h + 1);
	}
	/* overflow: 65520 is the midpoint between 65504 and the next (inf) */
	assert_int_equal(as_fp32_to_fp16(65504.0f), 0x7bff);
	assert_int_equal(as_fp32_to_fp16(nextafterf(65520.0f, 0)), 0x7bff);
	assert_int_equal(as_fp32_to_fp16(65520.0f), 0x7c00);
	assert_int_equal(as_fp32_to_fp16(1e10f), 0x7c00);
	assert_int_equal(as_fp32_to_fp16(-INFINITY), 0xfc00);
	/* below half the smallest subnormal: zero; just above: smallest subnormal */
	assert_int_equal(as_fp32_to_fp16(0x1p-25f), 0x0000);
	assert_int_equal(as_fp32_to_fp16(nextafterf(0x1p-25f, 1)), 0x0001);
	assert_int_equal(as_fp32_to_fp16(-1e-30f), 0x8000);
	assert_int_equal(as_fp32_to_fp16(1e-45f), 0x0000);
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t f16c_cvt(float f)
{
	return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

static bool have_hw_fp16(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("f16c");
}
#elif defined(__aarch64__)
/* FCVT (single to half, round to nearest even): every aarch64 CPU has it. */
static uint16_t f16c_cvt(float f)
{
	__fp16 h = (__fp16)f;
	uint16_t u;

	memcpy(&u, &h, 2);
	return u;
}

static bool have_hw_fp16(void)
{
	return true;
}
#else
static uint16_t f16c_cvt(float f)
{
	return as_fp32_to_fp16(f);
}

static bool have_hw_fp16(void)
{
	return false;
}
#endif

/* Against the hardware converter (what ggml uses: F16C on x86, FCVT on aarch64) on a
 * million random bit patterns. */
static void test_fp16_vs_f16c(void **state)
{
	(void)state;
	if (!have_hw_fp16())
		skip();
	for (int i = 0; i < 1000000; i++) {
		uint32_t u;
		float f;

		rs = rs * 6364136223846793005ull + 1442695040888963407ull;
		u = (uint32_t)(rs >> 32);
		/* concentrate on the fp16 exponent range */
		if (i & 1)
			u = (u & 0x807fffffu) | ((uint32_t)(100 + (u >> 23) % 48) << 23);
		f = u2f(u);
		if (isnan(f))
			continue;
		assert_int_equal(as_fp32_to_fp16(f), f16c_cvt(f));
	}
}

static void test_bf16_exhaustive(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = as_bf16_to_fp32((as_bf16_t)h);
		int e = (h >> 7) & 0xff, m = h & 0x7f;
		double r;

		if (e == 0xff) {
			assert_true(m ? isnan(f) : isinf(f));
			if (m) { /* quiet NaN, payload top bits kept */
				assert_true(as_fp32_to_bf16(f) & 0x40);
				assert_int_equal(as_fp32_to_bf16(f) & 0xffbf, h & 0xffbf);
			} else {
				assert_int_equal(as_fp32_to_bf16(f), h);
			}
			continue;
		}
		r = e ? ldexp(128 + m, e - 134) : ldexp(m, -133);
		if (h >> 15)
			r = -r;
		assert_true((double)f == r);
		assert_int_equal(as_fp32_to_bf16(f), h);
		/* midpoint to the next value up in magnitude rounds to even */
		if ((h & 0x7fff) < 0x7f7f) {
			uint32_t mid = ((uint32_t)h << 16) | 0x8000;
			uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;

			assert_int_equal(as_fp32_to_bf16(u2f(mid)), even);
			assert_int_equal(as_fp32_to_bf16(u2f(mid - 1)), h);
			assert_int_equal(as_fp32_to_bf16(u2f(mid + 1)), h + 1);
		}
	}
	assert_int_equal(as_fp32_to_bf16(u2f(0x7f7fffff)), 0x7f80); /* FLT_MAX -> inf */
	(void)f2u;
}

/* ---- dequantize against hand-computed blocks ---------------------------------------- */

static void test_dequant_q4_0(void **state)
{
	struct block_q4_0 b[2];
	float y[64];

	(void)state;
	b[0].d = 0x3800; /* 0.5 */
	b[1].d = 0xc000; /* -2.0 */
	for (int j = 0; j < 16; j++) {
		b[0].qs[j] = (uint8_t)(j | ((15 - j) << 4));
		b[1].qs[j] = 0x08 | 0x90;
	}
	as_dequant_row(GGML_TYPE_Q4_0, b, y, 64);
	for (int j = 0; j < 16; j++) {
		assert_true(y[j] == (j - 8) * 0.5f);
		assert_true(y[j + 16] == (7 - j) * 0.5f);
		assert_true(y[32 + j] == 0.0f);
		assert_true(y[48 + j] == -2.0f);
	}
}

static void test_dequant_q8_0(void **state)
{
	struct block_q8_0 b;
	float y[32];

	(void)state;
	b.d = 0x3400; /* 0.25 */
	for (int j = 0; j < 32; j++)
		b.qs[j] = (int8_t)(j * 8 - 128);
	as_dequant_row(GGML_TYPE_Q8_0, &b, y, 32);
	for (int j = 0; j < 32; j++)
		assert_true(y[j] == (j * 8 - 128) * 0.25f);
}

static void test_dequant_f16_bf16(void **state)
{
	as_fp16_t h[4] = { 0x3c00, 0xc000, 0x0001, 0x7bff };
	as_bf16_t g[4] = { 0x3f80, 0xc040, 0x0000, 0x4780 };
	float y[4];

	(void)state;
	as_dequant_row(GGML_TYPE_F16, h, y, 4);
	assert_true(y[0] == 1.0f && y[1] == -2.0f && y[2] == 0x1p-24f && y[3] == 65504.0f);
	as_dequant_row(GGML_TYPE_BF16, g, y, 4);
	assert_true(y[0] == 1.0f && y[1] == -3.0f && y[2] == 0.0f && y[3] == 65536.0f);
}

static const uint8_t k_sc[8] = { 1, 2, 3, 4, 33, 47, 50, 63 };
static const uint8_t k_m[8] = { 0, 5, 17, 31, 32, 48, 60, 63 };

/* Pack 6-bit scales/mins the way llama.cpp's Q4_K does (12 bytes). */
static void pack_q4k_scales(uint8_t *s)
{
	memset(s, 0, 12);
	for (int j = 0; j < 4; j++) {
		s[j] = k_sc[j];
		s[j + 4] = k_m[j];
	}
	for (int j = 4; j < 8; j++) {
		s[j + 4] = (uint8_t)((k_sc[j] & 0xf) | ((k_m[j] & 0xf) << 4));
		s[j - 4] |= (uint8_t)((k_sc[j] >> 4) << 6);
		s[j] |= (uint8_t)((k_m[j] >> 4) << 6);
	}
}

static void test_dequant_q4_K(void **state)
{
	struct block_q4_K b;
	float y[256];

	(void)state;
	b.d = 0x3c00;    /* 1.0 */
	b.dmin = 0x3800; /* 0.5 */
	pack_q4k_scales(b.scales);
	for (int j = 0; j < 8; j++) {
		uint8_t sc, m;

		as_q4k_scale_min(j, b.scales, &sc, &m);
		assert_int_equal(sc, k_sc[j]);
		assert_int_equal(m, k_m[j]);
	}
	for (int i = 0; i < 128; i++)
		b.qs[i] = (uint8_t)((i % 16) | ((15 - i % 16) << 4));
	as_dequant_row(GGML_TYPE_Q4_K, &b, y, 256);
	/* element e: sub-block j = e / 32; even j -> low nibbles of qs[32*(j/2) + l],
	 * odd j -> high nibbles; value = d * sc[j] * q - dmin * m[j] */
	for (int e = 0; e < 256; e++) {
		int j = e / 32, l = e % 32;
		int q = (j & 1) ? 15 - l % 16 : l % 16;

		assert_true(y[e] == 1.0f * k_sc[j] * q - 0.5f * k_m[j]);
	}
}

static void test_dequant_q6_K(void **state)
{
	struct block_q6_K b;
	float y[256];

	(void)state;
	memset(&b, 0, sizeof(b));
	b.d = 0x3800; /* 0.5 */
	for (int c = 0; c < 16; c++)
		b.scales[c] = (int8_t)(c * 9 - 70);
	/* value of element e (-32..31) is ((e * 7) % 64) - 32, stored per the Q6_K layout:
	 * in each 128-element half, element l + 32k (l < 32) has its low 4 bits in ql[l + 32 *
	 * (k & 1)] (high nibble when k >= 2) and its high 2 bits in qh[l] bits 2k..2k+1 */
	for (int e = 0; e < 256; e++) {
		int v = (e * 7) % 64, half = e / 128, r = e % 128, k = r / 32, l = r % 32;
		uint8_t *ql = &b.ql[half * 64 + l + 32 * (k & 1)];

		*ql |= (uint8_t)((v & 0xf) << (k >= 2 ? 4 : 0));
		b.qh[half * 32 + l] |= (uint8_t)((v >> 4) << (2 * k));
	}
	as_dequant_row(GGML_TYPE_Q6_K, &b, y, 256);
	for (int e = 0; e < 256; e++)
		assert_true(y[e] == 0.5f * (float)b.scales[e / 16] * (float)((e * 7) % 64 - 32));
}

/* ---- quantize: ggml's rounding rules and error bounds -------------------------------- */

static void test_quant_q8_0_rules(void **state)
{
	float x[32];
	struct block_q8_0 b;

	(void)state;
	for (int j = 0; j < 32; j++)
		x[j] = 0.0f;
	x[0] = 127.0f; /* amax 127 -> d = 1, id = 1 */
	x[1] = 2.5f;   /* roundf: half away from zero (not to even) */
	x[2] = -2.5f;
	x[3] = 3.5f;
	x[4] = -126.4f;
	assert_int_equal(as_quant_row(GGML_TYPE_Q8_0, x, &b, 32), 0);
	assert_int_equal(b.d, 0x3c00);
	assert_int_equal(b.qs[0], 127);
	assert_int_equal(b.qs[1], 3);
	assert_int_equal(b.qs[2], -3);
	assert_int_equal(b.qs[3], 4);
	assert_int_equal(b.qs[4], -126);
	assert_int_equal(b.qs[5], 0);
	/* all zero: d = 0 and q = 0 */
	memset(x, 0, sizeof(x));
	as_quant_row(GGML_TYPE_Q8_0, x, &b, 32);
	assert_int_equal(b.d, 0);
	for (int j = 0; j < 32; j++)
		assert_int_equal(b.qs[j], 0);
}

static void test_quant_q4_0_rules(void **state)
{
	float x[32];
	struct block_q4_0 b;

	(void)state;
	for (int j = 0; j < 32; j++)
		x[j] = (float)(j - 20); /* max |x| is -20 -> d = -20 / -8 = 2.5, id = 0.4 */
	assert_int_equal(as_quant_row(GGML_TYPE_Q4_0, x, &b, 32), 0);
	assert_int_equal(b.d, as_fp32_to_fp16(2.5f));
	for (int j = 0; j < 32; j++) {
		/* q = min(15, (int8_t)(x * id + 8.5)), truncating */
		int want = (int)((float)(j - 20) * 0.4f + 8.5f);

		if (want > 15)
			want = 15;
		int got = j < 16 ? (b.qs[j] & 0xf) : (b.qs[j - 16] >> 4);

		assert_int_equal(got, want);
	}
	assert_int_equal(b.qs[0] & 0xf, 0); /* -20 -> 0 */
	/* the max-magnitude element positive: it maps to -8 (q = 0) and +max clamps at 15 */
	memset(x, 0, sizeof(x));
	x[3] = 8.0f;
	x[4] = -8.0f + 1e-3f;
	as_quant_row(GGML_TYPE_Q4_0, x, &b, 32);
	assert_int_equal(b.d, as_fp32_to_fp16(-1.0f));
	assert_int_equal(b.qs[3] & 0xf, 0);
	assert_int_equal(b.qs[4] & 0xf, 15);
	assert_int_equal(b.qs[5], 0x88);
	memset(x, 0, sizeof(x));
	as_quant_row(GGML_TYPE_Q4_0, x, &b, 32);
	assert_int_equal(b.d, 0x8000); /* 0.0f / -8 = -0.0, as ggml stores it */
	assert_int_equal(b.qs[0], 0x88);
}

static void test_quant_roundtrip_bounds(void **state)
{
	enum { N = 32 * 256 };
	float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
	uint8_t *q = malloc(N * 4);

	(void)state;
	assert_non_null(x);
	assert_non_null(y);
	assert_non_null(q);
	for (int i = 0; i < N; i++)
		x[i] = frand() * (float)(1 + i % 7) * ((i / 32) % 3 ? 1.0f : 1e-3f);

	/* Q8_0: |err| <= d/2 + 127 * |d - fp16(d)| <= d * (0.5 + 127 * 2^-11) */
	assert_int_equal(as_quant_row(GGML_TYPE_Q8_0, x, q, N), 0);
	as_dequant_row(GGML_TYPE_Q8_0, q, y, N);
	for (int b = 0; b < N / 32; b++) {
		float amax = 0;

		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[b * 32 + j]));
		float d = amax / 127.0f;

		for (int j = 0; j < 32; j++)
			assert_true(fabsf(y[b * 32 + j] - x[b * 32 + j]) <=
				    d * (0.5f + 127.0f / 2048.0f) * 1.0001f);
	}
	/* Q4_0: d = |max| / 8; values on the max's side are within d/2, the clamped
	 * opposite extreme within d (plus fp16 rounding of d times at most 8) */
	assert_int_equal(as_quant_row(GGML_TYPE_Q4_0, x, q, N), 0);
	as_dequant_row(GGML_TYPE_Q4_0, q, y, N);
	for (int b = 0; b < N / 32; b++) {
		float amax = 0;

		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[b * 32 + j]));
		float d = amax / 8.0f;

		for (int j = 0; j < 32; j++)
			assert_true(fabsf(y[b * 32 + j] - x[b * 32 + j]) <=
				    d * (1.0f + 8.0f / 2048.0f) * 1.0001f);
	}
	/* F16 / BF16: relative 2^-11 / 2^-8 in the normal range; F32 exact */
	assert_int_equal(as_quant_row(GGML_TYPE_F16, x, q, N), 0);
	as_dequant_row(GGML_TYPE_F16, q, y, N);
	for (int i = 0; i < N; i++)
		if (fabsf(x[i]) > 1e-4f)
			assert_true(fabsf(y[i] - x[i]) <= fabsf(x[i]) * 0x1p-11f);
	assert_int_equal(as_quant_row(GGML_TYPE_BF16, x, q, N), 0);
	as_dequant_row(GGML_TYPE_BF16, q, y, N);
	for (int i = 0; i < N; i++)
		assert_true(fabsf(y[i] - x[i]) <= fabsf(x[i]) * 0x1p-8f);
	assert_int_equal(as_quant_row(GGML_TYPE_F32, x, q, N), 0);
	as_dequant_row(GGML_TYPE_F32, q, y, N);
	assert_memory_equal(x, y, N * sizeof(float));

	assert_int_equal(as_quant_row(GGML_TYPE_Q8_K, x, q, 256), -EINVAL);
	as_dequant_row(GGML_TYPE_Q8_K, q, y, 32); /* no decoder: NaN, not stale values */
	assert_true(isnan(y[0]) && isnan(y[31]));
	as_dequant_row(GGML_TYPE_Q4_0, q, y, 40); /* not a block multiple */
	assert_true(isnan(y[0]) && isnan(y[39]));
	assert_int_equal(as_quant_row(GGML_TYPE_Q8_0, x, q, 33), -EINVAL);
	free(x);
	free(y);
	free(q);
}

static void test_quant_q8_K(void **state)
{
	float x[512];
	struct block_q8_K b[2];

	(void)state;
	for (int i = 0; i < 512; i++)
		x[i] = frand();
	x[7] = -1.5f; /* block 0's max magnitude, negative: iscale = -127 / -1.5 */
	for (int i = 256; i < 512; i++)
		x[i] = 0.0f;
	as_quant_q8_K_ref(x, b, 2);
	assert_true(b[0].qs[7] == -127);
	for (int j = 0; j < 16; j++) {
		int s = 0;

		for (int k = 0; k < 16; k++)
			s += b[0].qs[j * 16 + k];
		assert_int_equal(b[0].bsums[j], s);
	}
	for (int i = 0; i < 256; i++)
		assert_true(fabsf(b[0].d * b[0].qs[i] - x[i]) <= fabsf(b[0].d) * 0.5001f);
	assert_true(b[1].d == 0.0f);
	assert_int_equal(b[1].qs[100], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_fp16_exhaustive),
		cmocka_unit_test(test_fp16_rounding),
		cmocka_unit_test(test_fp16_vs_f16c),
		cmocka_unit_test(test_bf16_exhaustive),
		cmocka_unit_test(test_dequant_q4_0),
		cmocka_unit_test(test_dequant_q8_0),
		cmocka_unit_test(test_dequant_f16_bf16),
		cmocka_unit_test(test_dequant_q4_K),
		cmocka_unit_test(test_dequant_q6_K),
		cmocka_unit_test(test_quant_q8_0_rules),
		cmocka_unit_test(test_quant_q4_0_rules),
		cmocka_unit_test(test_quant_roundtrip_bounds),
		cmocka_unit_test(test_quant_q8_K),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

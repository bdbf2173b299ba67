// SPDX-License-Identifier: MIT
/*
 * Our dequantization against ggml's, bit for bit, on blocks ggml's quantizer wrote
 * (tests/fixtures/quant/, README there); and our quantizers on the same row: valid blocks
 * whose error is of the order of ggml's.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "activeswap/quant.h"

#define N 512

static const char *const names[] = {
	"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K",
	"iq4_nl", "iq4_xs", "bf16",
};

/* The row of the fixtures (README). */
static void gen(float *x)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < N; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		int32_t u = (int32_t)(s >> 40) - 8388608;
		float sc = 1.0f + (float)((i / 64) % 5) * 0.5f;

		x[i] = (float)u * (1.0f / 8388608.0f) * sc;
		if (i >= 480)
			x[i] = 0.0f;
	}
}

/* Reads the fixture of type t: *q = its blocks (row bytes), want = ggml's floats. */
static void load(const char *name, enum ggml_type t, uint8_t **q, float *want)
{
	const char *top = getenv("AS_TOP");
	char path[512];
	uint64_t rb;
	FILE *f;

	assert_int_equal(as_row_bytes(t, N, &rb), 0);
	snprintf(path, sizeof(path), "%s/tests/fixtures/quant/%s.bin", top && *top ? top : ".",
		 name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	*q = malloc(rb);
	assert_non_null(*q);
	assert_int_equal(fread(*q, 1, rb, f), rb);
	assert_int_equal(fread(want, sizeof(float), N, f), N);
	assert_int_equal(fgetc(f), EOF);
	fclose(f);
}

static double sq_err(const float *a, const float *b)
{
	double e = 0.0;

	for (int i = 0; i < N; i++)
		e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	return e;
}

static void test_dequant_bit_exact(void **state)
{
	float x[N], want[N], got[N];

	(void)state;
	gen(x);
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		int t = as_type_from_name(names[k]);
		uint8_t *q;

		assert_true(t >= 0 && as_type_supported((enum ggml_type)t));
		load(names[k], (enum ggml_type)t, &q, want);
		as_dequant_row((enum ggml_type)t, q, got, N);
		for (int i = 0; i < N; i++)
			if (memcmp(&got[i], &want[i], 4))
				fail_msg("%s element %d: ours %.9g, ggml %.9g", names[k], i,
					 got[i], want[i]);
		/* the fixture is the quantized row: close to x (not a stale file) */
		assert_true(sq_err(want, x) < 0.1 * sq_err(x, (float[N]){ 0 }));
		for (int i = 480; i < N; i++)
			assert_true(want[i] == 0.0f);
		print_message("# %-6s %d elements bit-identical to ggml\n", names[k], N);
		free(q);
	}
}

/*
 * Our quantizer on the same row: the blocks decode (no NaN), keep the zero block at zero,
 * and the squared error is within 1.6x ggml's (ours is a plain range fit where ggml
 * searches; measured 0.9-1.5x).
 */
static void test_quant_vs_ggml(void **state)
{
	float x[N], want[N], got[N];
	uint8_t buf[N * 4];

	(void)state;
	gen(x);
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		int t = as_type_from_name(names[k]);
		uint8_t *q;

		load(names[k], (enum ggml_type)t, &q, want);
		free(q);
		assert_int_equal(as_quant_row((enum ggml_type)t, x, buf, N), 0);
		as_dequant_row((enum ggml_type)t, buf, got, N);
		for (int i = 0; i < N; i++)
			assert_false(isnan(got[i]));
		for (int i = 480; i < N; i++)
			assert_true(fabsf(got[i]) < 1e-6f);
		double ours = sq_err(got, x), theirs = sq_err(want, x);

		print_message("# %-6s squared error ours %.4g, ggml %.4g (x%.2f)\n", names[k],
			      ours, theirs, theirs > 0 ? ours / theirs : 1.0);
		assert_true(ours <= 1.6 * theirs + 1e-12);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dequant_bit_exact),
		cmocka_unit_test(test_quant_vs_ggml),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The union product of a batch (runtime/sparse_gemm.c, sparse_gemm.h) on Q4_0 columns:
 * - every level equals, bit for bit, the definition re-implemented here (the columns
 *   decoded by as_col_decode, one fmaf per column in order from 0), on shapes that cut
 *   the panel (k > AS_SG_KC), the strip (out not a multiple of 16 or 128) and the
 *   micro-kernel (n not a multiple of AS_SG_MR);
 * - the result is the same for 1, 2 and 3 threads' shares;
 * - a position's result depends only on its own selection: the masked product equals
 *   the product over the position's selected columns alone (another batch, another
 *   union), and it is within 1e-5 * sum |terms| of a double-precision reference;
 * - a wrong activation changes the result (the comparisons can fail).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "activeswap/kernels.h"
#include "activeswap/sparse.h"
#include "../../runtime/sparse_gemm.h"

static uint64_t rs = 0x243f6a8885a308d3ull;

static uint32_t rnd(void)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rs >> 32);
}

static float frand(void)
{
	return (float)(rnd() >> 8) * 0x1p-24f * 2.0f - 1.0f;
}

struct prob {
	size_t out, k, n, cb;
	uint8_t *cols;     /* k encoded columns of cb bytes */
	const void **cp;   /* their starts */
	float *dec;        /* [k][out] decoded */
	float *xm;         /* [n][k], about half masked to 0 */
};

static void make(struct prob *p, size_t out, size_t k, size_t n)
{
	float *v = malloc(out * sizeof(float));

	p->out = out;
	p->k = k;
	p->n = n;
	p->cb = as_col_bytes(GGML_TYPE_Q4_0, out);
	assert_true(p->cb > 0);
	p->cols = malloc(k * p->cb);
	p->cp = malloc(k * sizeof(void *));
	p->dec = malloc(k * out * sizeof(float));
	p->xm = malloc(n * k * sizeof(float));
	assert_non_null(v);
	assert_non_null(p->cols);
	assert_non_null(p->cp);
	assert_non_null(p->dec);
	assert_non_null(p->xm);
	for (size_t i = 0; i < k; i++) {
		for (size_t r = 0; r < out; r++)
			v[r] = frand() * (1.0f + (float)(i % 7));
		assert_int_equal(as_col_encode(GGML_TYPE_Q4_0, v, out, p->cols + i * p->cb), 0);
		p->cp[i] = p->cols + i * p->cb;
		as_col_decode(GGML_TYPE_Q4_0, p->cp[i], out, p->dec + i * out);
	}
	for (size_t i = 0; i < n * k; i++)
		p->xm[i] = rnd() & 1 ? frand() * 3.0f : 0.0f;
	free(v);
}

static void drop(struct prob *p)
{
	free(p->cols);
	free(p->cp);
	free(p->dec);
	free(p->xm);
}

/* The definition: Y[t][r] = fmaf chain over i in order, from 0. */
static void reference(const struct prob *p, float *Y)
{
	for (size_t t = 0; t < p->n; t++)
		for (size_t r = 0; r < p->out; r++) {
			float acc = 0.0f;

			for (size_t i = 0; i < p->k; i++)
				acc = fmaf(p->xm[t * p->k + i], p->dec[i * p->out + r], acc);
			Y[t * p->out + r] = acc;
		}
}

/* All nth shares of the product, one after the other, each with its own panel. */
static void run(enum as_simd level, const struct prob *p, const float *xm, float *Y, int nth)
{
	float *panel = malloc(AS_SG_PANEL * sizeof(float));

	assert_non_null(panel);
	for (size_t i = 0; i < p->n * p->out; i++)
		Y[i] = NAN; /* every element must be written */
	for (int ith = 0; ith < nth; ith++)
		as_sg_share(level, GGML_TYPE_Q4_0, Y, p->out, p->out, p->cp, xm, p->k, p->n,
			    panel, ith, nth);
	free(panel);
}

static void test_definition_levels_threads(void **state)
{
	static const size_t shapes[][3] = { { 300, 300, 13 }, { 256, 64, 6 }, { 1000, 530, 7 },
					    { 40, 3, 1 } };
	enum as_simd top = as_simd_detect();

	(void)state;
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct prob p;
		float *ref, *y;

		make(&p, shapes[s][0], shapes[s][1], shapes[s][2]);
		ref = malloc(p.n * p.out * sizeof(float));
		y = malloc(p.n * p.out * sizeof(float));
		assert_non_null(ref);
		assert_non_null(y);
		reference(&p, ref);
		for (int lv = 0; lv <= (int)top; lv++)
			for (int nth = 1; nth <= 3; nth++) {
				run((enum as_simd)lv, &p, p.xm, y, nth);
				if (memcmp(y, ref, p.n * p.out * sizeof(float)))
					fail_msg("shape %zu (out %zu k %zu n %zu) level %s, %d "
						 "thread(s): differs from the definition", s,
						 p.out, p.k, p.n, as_simd_name((enum as_simd)lv),
						 nth);
			}
		/* one activation changed: the result changes */
		p.xm[p.k / 2] += 1.0f;
		run(top, &p, p.xm, y, 1);
		assert_true(memcmp(y, ref, p.n * p.out * sizeof(float)) != 0);
		free(ref);
		free(y);
		drop(&p);
	}
}

/* Position t of a masked batch equals a batch of t alone over its own columns. */
static void test_masked_equals_own_selection(void **state)
{
	struct prob p, q;
	float *y, y1[1000];
	const void **own;
	float *xo;

	(void)state;
	make(&p, 1000, 530, 9);
	y = malloc(p.n * p.out * sizeof(float));
	own = malloc(p.k * sizeof(void *));
	xo = malloc(p.k * sizeof(float));
	assert_non_null(y);
	assert_non_null(own);
	assert_non_null(xo);
	run(as_simd_detect(), &p, p.xm, y, 2);
	for (size_t t = 0; t < p.n; t++) {
		size_t m = 0;

		for (size_t i = 0; i < p.k; i++)
			if (p.xm[t * p.k + i] != 0.0f) {
				own[m] = p.cp[i];
				xo[m++] = p.xm[t * p.k + i];
			}
		q = p;
		q.cp = own;
		q.k = m;
		q.n = 1;
		run(as_simd_detect(), &q, xo, y1, 1);
		if (memcmp(y1, y + t * p.out, p.out * sizeof(float)))
			fail_msg("position %zu: the masked product differs from its own "
				 "selection's", t);
		for (size_t r = 0; r < p.out; r++) {
			double s = 0, a = 0;

			for (size_t i = 0; i < p.k; i++) {
				double term = (double)p.xm[t * p.k + i] * p.dec[i * p.out + r];

				s += term;
				a += fabs(term);
			}
			assert_true(fabs(s - y[t * p.out + r]) <= 1e-5 * a + 1e-30);
		}
	}
	free(y);
	free(own);
	free(xo);
	drop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_definition_levels_threads),
		cmocka_unit_test(test_masked_equals_own_selection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

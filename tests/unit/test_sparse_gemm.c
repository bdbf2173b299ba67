// SPDX-License-Identifier: MIT
/*
 * The union product of a batch (runtime/sparse_gemm.c, sparse_gemm.h) on Q4_0 columns:
 * - the groups of a union (as_sg_layout): by channel / 32, each a multiple of 4 slots;
 * - every level equals, bit for bit, the definition re-implemented here from the column
 *   encoding (int8 activations per group and block, exact integer sums, one fmaf per
 *   group from +0), on shapes that cut the panel (more than AS_SG_PGROUPS groups), the
 *   tile and strip (out not a multiple of 16, 128 or 512), the micro-kernel (n not a
 *   multiple of AS_SG_MR), sparse and dense unions; the panel layouts of the levels are
 *   the same bytes;
 * - the result is the same for 1, 2 and 3 threads' shares;
 * - a position's result depends only on its own selection: the masked product equals
 *   the product over the union of the position's selected columns alone (another batch,
 *   another union), and it is within the int8 quantization's bound of a double-precision
 *   reference;
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
#include "activeswap/quant.h"
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

/* A batch over a union of k channels (of in) with n positions. */
struct prob {
	size_t out, k, n, cb, ng, slots;
	uint32_t *ch;      /* the union's channels, increasing */
	uint8_t *cols;     /* k encoded columns of cb bytes */
	uint32_t gs[160], gm[160]; /* 4000 channels at most */
	const void **sc;   /* [slots] the column of each slot, NULL when empty */
	float *x;          /* [n][k] activations, about half masked to 0 */
	float *xm;         /* [n][slots] the same by slot */
};

/* Code and scale of row r of an encoded column (sparse.h's layout, read here anew). */
static unsigned code_at(const uint8_t *col, size_t out, size_t r)
{
	size_t qoff = (out + 127) / 128 * 128 / 16, c = r / 128, rr = r % 128;
	size_t h = rr / 64, w = rr % 64, j = w / 16, l = (w / 4) % 4, t = w % 4;
	uint8_t b = col[qoff + 64 * c + 16 * l + 4 * j + t];

	return h ? b >> 4 : b & 15;
}

static float scale_at(const uint8_t *col, size_t r)
{
	as_fp16_t h;

	memcpy(&h, col + 2 * (r / 32), 2);
	return as_fp16_to_fp32(h);
}

static void layout(struct prob *p)
{
	p->ng = as_sg_layout(p->ch, p->k, p->gs, p->gm);
	p->slots = p->gs[p->ng];
	free(p->sc);
	free(p->xm);
	p->sc = calloc(p->slots ? p->slots : 1, sizeof(void *));
	p->xm = calloc(p->n * p->slots + 1, sizeof(float));
	assert_non_null(p->sc);
	assert_non_null(p->xm);
	for (size_t g = 0, i = 0; g < p->ng; g++)
		for (size_t j = 0; j < p->gm[g]; j++, i++) {
			p->sc[p->gs[g] + j] = p->cols + i * p->cb;
			for (size_t t = 0; t < p->n; t++)
				p->xm[t * p->slots + p->gs[g] + j] = p->x[t * p->k + i];
		}
}

/* k channels of in (every one when k == in, else a random subset), n positions. */
static void make(struct prob *p, size_t out, size_t in, size_t k, size_t n)
{
	float *v = malloc(out * sizeof(float));
	uint8_t *pick = calloc(in, 1);

	memset(p, 0, sizeof(*p));
	p->out = out;
	p->k = k;
	p->n = n;
	p->cb = as_col_bytes(GGML_TYPE_Q4_0, out);
	assert_true(p->cb > 0);
	p->ch = malloc(k * sizeof(uint32_t));
	p->cols = malloc(k * p->cb);
	p->x = malloc(n * k * sizeof(float));
	assert_non_null(v);
	assert_non_null(pick);
	assert_non_null(p->ch);
	assert_non_null(p->cols);
	assert_non_null(p->x);
	for (size_t m = 0; m < k;) {
		size_t c = k == in ? m : rnd() % in;

		if (!pick[c]) {
			pick[c] = 1;
			m++;
		}
	}
	for (size_t c = 0, i = 0; c < in; c++)
		if (pick[c])
			p->ch[i++] = (uint32_t)c;
	for (size_t i = 0; i < k; i++) {
		for (size_t r = 0; r < out; r++)
			v[r] = frand() * (1.0f + (float)(i % 7));
		assert_int_equal(as_col_encode(GGML_TYPE_Q4_0, v, out, p->cols + i * p->cb), 0);
	}
	for (size_t i = 0; i < n * k; i++)
		p->x[i] = rnd() & 1 ? frand() * 3.0f : 0.0f;
	layout(p);
	free(v);
	free(pick);
}

static void drop(struct prob *p)
{
	free(p->ch);
	free(p->cols);
	free(p->sc);
	free(p->x);
	free(p->xm);
}

/* The definition (sparse_gemm.h), from the columns' codes and scales. */
static void reference(const struct prob *p, float *Y)
{
	for (size_t t = 0; t < p->n; t++)
		for (size_t r = 0; r < p->out; r++) {
			float y = 0.0f;

			for (size_t i0 = 0; i0 < p->k;) {
				size_t i1 = i0;
				float a[32], amax = 0.0f, s, inv;
				int32_t acc = 0;

				while (i1 < p->k && p->ch[i1] / 32 == p->ch[i0] / 32)
					i1++;
				for (size_t i = i0; i < i1; i++) {
					a[i - i0] = p->x[t * p->k + i] *
						    scale_at(p->cols + i * p->cb, r);
					amax = fmaxf(amax, fabsf(a[i - i0]));
				}
				s = amax / 127.0f;
				inv = amax > 0.0f ? 127.0f / amax : 0.0f;
				for (size_t i = i0; i < i1; i++) {
					int32_t q = (int32_t)lrintf(a[i - i0] * inv);

					acc += q * ((int32_t)code_at(p->cols + i * p->cb, p->out, r) - 8);
				}
				y = fmaf(s, (float)acc, y);
				i0 = i1;
			}
			Y[t * p->out + r] = y;
		}
}

/* All nth shares of the product, one after the other, each with its own scratch. */
static void run(enum as_simd level, const struct prob *p, const float *xm, float *Y, int nth)
{
	void *scratch = malloc(AS_SG_SCRATCH);

	assert_non_null(scratch);
	for (size_t i = 0; i < p->n * p->out; i++)
		Y[i] = NAN; /* every element must be written */
	for (int ith = 0; ith < nth; ith++)
		as_sg_share(level, GGML_TYPE_Q4_0, Y, p->out, p->out, p->sc, xm, p->gs, p->gm,
			    p->ng, p->n, scratch, ith, nth);
	free(scratch);
}

static void test_layout(void **state)
{
	static const uint32_t ch[] = { 0, 1, 2, 3, 4, 31, 32, 70, 71, 72, 73, 74, 75, 76, 77, 95 };
	uint32_t gs[8], gm[8];
	size_t ng;

	(void)state;
	ng = as_sg_layout(ch, 16, gs, gm);
	assert_int_equal(ng, 3);
	assert_int_equal(gm[0], 6);  /* 0..31: 6 columns, 8 slots */
	assert_int_equal(gm[1], 1);  /* 32: 4 slots */
	assert_int_equal(gm[2], 9);  /* 64..95: 12 slots */
	assert_int_equal(gs[0], 0);
	assert_int_equal(gs[1], 8);
	assert_int_equal(gs[2], 12);
	assert_int_equal(gs[3], 24);
	assert_int_equal(as_sg_layout(ch, 0, gs, gm), 0);
	assert_int_equal(gs[0], 0);
}

static void test_pack_levels(void **state)
{
	struct prob p;
	uint8_t *w0 = malloc(AS_SG_SCRATCH), *w1 = malloc(AS_SG_SCRATCH);
	size_t qoff, ns4;

	(void)state;
	assert_non_null(w0);
	assert_non_null(w1);
	make(&p, 700, 300, 50, 1);
	qoff = (p.out + 127) / 128 * 128 / 16;
	ns4 = p.gs[p.ng < 8 ? p.ng : 8] / 4;
	for (size_t c0 = 0; c0 + 2 <= 6; c0 += 2) {
		memset(w0, 0xaa, AS_SG_SCRATCH);
		as_sg_pack_scalar(p.sc, ns4, qoff, c0, 2, w0);
		for (size_t s = 0; s < 4 * ns4; s++)
			for (size_t row = 0; row < 256; row++) {
				uint8_t want = p.sc[s] ? (uint8_t)code_at(p.sc[s], p.out,
									   128 * c0 + row) : 0;

				assert_int_equal(w0[s / 4 * AS_SG_WST + 4 * row + s % 4], want);
			}
#if defined(__x86_64__)
		if (as_simd_detect() >= AS_SIMD_AVX2) {
			memset(w1, 0xaa, AS_SG_SCRATCH);
			as_sg_pack_avx2(p.sc, ns4, qoff, c0, 2, w1);
			assert_memory_equal(w0, w1, ns4 * AS_SG_WST);
		}
#endif
	}
	free(w0);
	free(w1);
	drop(&p);
}

static void test_definition_levels_threads(void **state)
{
	/* out, in, k, n: panels of more than 8 groups, sparse unions (groups of 1-3
	 * columns), tails of tile and strip, one position */
	static const size_t shapes[][4] = { { 300, 300, 300, 13 }, { 256, 64, 64, 6 },
					    { 1000, 1100, 530, 7 }, { 40, 96, 3, 1 },
					    { 520, 4000, 90, 5 } };
	enum as_simd top = as_simd_detect();

	(void)state;
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct prob p;
		float *ref, *y;

		make(&p, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
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
		for (size_t i = 0; i < p.slots; i++)
			if (p.sc[i]) {
				p.xm[i] += 1.0f;
				break;
			}
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
	struct prob p;
	float *y, *y1;

	(void)state;
	make(&p, 1000, 600, 530, 9);
	y = malloc(p.n * p.out * sizeof(float));
	y1 = malloc(p.out * sizeof(float));
	assert_non_null(y);
	assert_non_null(y1);
	run(as_simd_detect(), &p, p.xm, y, 2);
	for (size_t t = 0; t < p.n; t++) {
		struct prob q = p;
		size_t m = 0;

		q.ch = malloc(p.k * sizeof(uint32_t));
		q.cols = malloc(p.k * p.cb);
		q.x = malloc(p.k * sizeof(float));
		q.sc = NULL;
		q.xm = NULL;
		assert_non_null(q.ch);
		assert_non_null(q.cols);
		assert_non_null(q.x);
		for (size_t i = 0; i < p.k; i++)
			if (p.x[t * p.k + i] != 0.0f) {
				q.ch[m] = p.ch[i];
				memcpy(q.cols + m * p.cb, p.cols + i * p.cb, p.cb);
				q.x[m++] = p.x[t * p.k + i];
			}
		q.k = m;
		q.n = 1;
		layout(&q);
		run(as_simd_detect(), &q, q.xm, y1, 1);
		if (memcmp(y1, y + t * p.out, p.out * sizeof(float)))
			fail_msg("position %zu: the masked product differs from its own "
				 "selection's", t);
		/* within the quantization's bound: per group and row, |a_i - s q_i| <= s / 2
		 * for every column, times |code - 8| */
		for (size_t r = 0; r < p.out; r++) {
			double e = 0, a = 0, bound = 0;

			for (size_t i0 = 0; i0 < p.k;) {
				size_t i1 = i0;
				double amax = 0, codes = 0;

				while (i1 < p.k && p.ch[i1] / 32 == p.ch[i0] / 32)
					i1++;
				for (size_t i = i0; i < i1; i++) {
					const uint8_t *col = p.cols + i * p.cb;
					double ai = (double)p.x[t * p.k + i] * scale_at(col, r);
					double c = (double)code_at(col, p.out, r) - 8.0;

					amax = fmax(amax, fabs(ai));
					codes += fabs(c);
					e += ai * c;
					a += fabs(ai * c);
				}
				bound += amax / 127.0 / 2.0 * codes * 1.0001;
				i0 = i1;
			}
			if (fabs(e - y[t * p.out + r]) > bound + 1e-5 * a + 1e-30)
				fail_msg("position %zu row %zu: %g vs %g, bound %g", t, r,
					 (double)y[t * p.out + r], e, bound);
		}
		drop(&q);
	}
	free(y);
	free(y1);
	drop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_pack_levels),
		cmocka_unit_test(test_definition_levels_threads),
		cmocka_unit_test(test_masked_equals_own_selection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

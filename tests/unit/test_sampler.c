// SPDX-License-Identifier: MIT
/* Sampler: greedy, top-k, top-p, min-p, repeat penalty, temperature, seeds, and the draw's
 * distribution. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/sampler.h"

#define NV 300

static void random_logits(float *l, size_t n, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++)
		l[i] = (float)(as_rng_uniform(rng) * 20.0 - 10.0);
}

static void test_greedy_is_argmax(void **state)
{
	struct as_sampler_params p = { .temp = 0, .top_k = 40, .top_p = 0.9f, .seed = 1 };
	struct as_sampler *s = as_sampler_new(&p, NV);
	uint64_t rng = 99;
	float l[NV];

	(void)state;
	assert_non_null(s);
	for (int it = 0; it < 200; it++) {
		int32_t best = 0;

		random_logits(l, NV, &rng);
		for (int i = 1; i < NV; i++)
			if (l[i] > l[best])
				best = i;
		assert_int_equal(as_sample(s, l), best);
		assert_int_equal(as_argmax(l, NV), best);
	}
	/* Ties: the lowest id. */
	for (int i = 0; i < NV; i++)
		l[i] = 1.0f;
	assert_int_equal(as_sample(s, l), 0);
	as_sampler_free(s);
}

static void test_top_k_one_is_argmax(void **state)
{
	struct as_sampler_params p = { .temp = 1.5f, .top_k = 1, .top_p = 1.0f, .seed = 7 };
	struct as_sampler *s = as_sampler_new(&p, NV);
	uint64_t rng = 5;
	float l[NV];

	(void)state;
	for (int it = 0; it < 200; it++) {
		random_logits(l, NV, &rng);
		assert_int_equal(as_sample(s, l), as_argmax(l, NV));
	}
	as_sampler_free(s);
}

static void test_top_k_cut(void **state)
{
	struct as_sampler_params p = { .temp = 5.0f, .top_k = 3, .top_p = 1.0f, .seed = 3 };
	struct as_sampler *s = as_sampler_new(&p, 10);
	/* The three largest are ids 7, 2, 9. */
	float l[10] = { 0, 0.1f, 3, 0, 0, 0.2f, 0, 4, 0, 2 };
	int seen[10] = { 0 };

	(void)state;
	for (int it = 0; it < 3000; it++)
		seen[as_sample(s, l)]++;
	for (int i = 0; i < 10; i++) {
		if (i == 7 || i == 2 || i == 9)
			assert_true(seen[i] > 0);
		else
			assert_int_equal(seen[i], 0);
	}
	as_sampler_free(s);
}

static void test_seed_reproducible(void **state)
{
	struct as_sampler_params p = { .temp = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42 };
	struct as_sampler *a = as_sampler_new(&p, NV), *b = as_sampler_new(&p, NV), *c;
	float l[NV];
	int differ = 0;

	(void)state;
	p.seed = 43;
	c = as_sampler_new(&p, NV);
	for (int i = 0; i < NV; i++)
		l[i] = (float)(i % 7) * 0.1f;
	for (int it = 0; it < 500; it++) {
		int32_t x = as_sample(a, l), y = as_sample(b, l), z = as_sample(c, l);

		assert_int_equal(x, y);
		differ += x != z;
	}
	assert_true(differ > 100);
	as_sampler_free(a);
	as_sampler_free(b);
	as_sampler_free(c);
}

/* softmax([ln .5, ln .3, ln .15, ln .05]) = [.5, .3, .15, .05]: top-p 0.7 keeps {0, 1}. */
static void test_top_p_cut(void **state)
{
	struct as_sampler_params p = { .temp = 1.0f, .top_k = 0, .top_p = 0.7f, .seed = 9 };
	float l[4] = { logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f) };
	struct as_sampler *s = as_sampler_new(&p, 4);
	int seen[4] = { 0 }, n = 20000;

	(void)state;
	for (int it = 0; it < n; it++)
		seen[as_sample(s, l)]++;
	assert_int_equal(seen[2], 0);
	assert_int_equal(seen[3], 0);
	/* Renormalized: 0.625 / 0.375. */
	assert_true(fabs((double)seen[0] / n - 0.625) < 0.02);
	as_sampler_free(s);
	/* top-p 0.85 also keeps id 2 (cumulative 0.95 >= 0.85 first reached there). */
	p.top_p = 0.85f;
	s = as_sampler_new(&p, 4);
	memset(seen, 0, sizeof(seen));
	for (int it = 0; it < n; it++)
		seen[as_sample(s, l)]++;
	assert_true(seen[2] > 0);
	assert_int_equal(seen[3], 0);
	as_sampler_free(s);
}

/* Without cuts the draw follows softmax(logits / temp). */
static void test_distribution(void **state)
{
	struct as_sampler_params p = { .temp = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 2024 };
	float l[3] = { logf(0.6f), logf(0.3f), logf(0.1f) };
	struct as_sampler *s = as_sampler_new(&p, 3);
	int seen[3] = { 0 }, n = 30000;

	(void)state;
	for (int it = 0; it < n; it++)
		seen[as_sample(s, l)]++;
	assert_true(fabs((double)seen[0] / n - 0.6) < 0.015);
	assert_true(fabs((double)seen[1] / n - 0.3) < 0.015);
	assert_true(fabs((double)seen[2] / n - 0.1) < 0.015);
	as_sampler_free(s);
	/* temp 0.5 squares the odds: 36:9:1. */
	p.temp = 0.5f;
	s = as_sampler_new(&p, 3);
	memset(seen, 0, sizeof(seen));
	for (int it = 0; it < n; it++)
		seen[as_sample(s, l)]++;
	assert_true(fabs((double)seen[0] / n - 36.0 / 46) < 0.015);
	assert_true(fabs((double)seen[2] / n - 1.0 / 46) < 0.01);
	as_sampler_free(s);
}

static void test_rng_uniform(void **state)
{
	uint64_t st = 1;
	double sum = 0;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		double u = as_rng_uniform(&st);

		assert_true(u >= 0 && u < 1);
		sum += u;
	}
	assert_true(fabs(sum / 100000 - 0.5) < 0.01);
	assert_null(as_sampler_new(&(struct as_sampler_params){ 0 }, 0));
}

/* min-p keeps the tokens at least min_p times as likely as the best (untempered). */
static void test_min_p_cut(void **state)
{
	struct as_sampler_params p = { .temp = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 11,
				       .min_p = 0.4f };
	struct as_sampler *s = as_sampler_new(&p, 4);
	/* probabilities 1 : 0.5 : 0.2 : 0.45 of the best */
	float l[4] = { 0, logf(0.5f), logf(0.2f), logf(0.45f) };
	int seen[4] = { 0 };

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 4000; i++)
		seen[as_sample(s, l)]++;
	assert_int_equal(seen[2], 0);
	assert_true(seen[0] > 0 && seen[1] > 0 && seen[3] > 0);
	as_sampler_free(s);
	/* min-p 1: only the best, at any temperature */
	p.min_p = 1.0f;
	p.temp = 3.0f;
	s = as_sampler_new(&p, 4);
	for (int i = 0; i < 200; i++)
		assert_int_equal(as_sample(s, l), 0);
	as_sampler_free(s);
}

/* llama.cpp's repeat penalty: positive logits divided, others multiplied, once per
 * distinct token of the last repeat_last_n accepted; greedy too. */
static void test_repeat_penalty(void **state)
{
	struct as_sampler_params p = { .temp = 0, .top_p = 1.0f, .repeat_penalty = 1.5f,
				       .repeat_last_n = 2 };
	struct as_sampler *s = as_sampler_new(&p, 3);
	float l[3] = { 2.0f, 1.2f, -5.0f };
	float n[3] = { -1.0f, -1.4f, -5.0f };

	(void)state;
	assert_non_null(s);
	assert_int_equal(as_sample(s, l), 0);
	as_sampler_accept(s, 0);
	as_sampler_accept(s, 0);
	/* 2.0 / 1.5 = 1.33 > 1.2 (twice would be 0.89 < 1.2): once per distinct token */
	assert_int_equal(as_sample(s, l), 0);
	/* -1.0 * 1.5 = -1.5 < -1.4 */
	assert_int_equal(as_sample(s, n), 1);
	/* the window is the last 2: token 0 leaves it */
	as_sampler_accept(s, 2);
	as_sampler_accept(s, 1);
	assert_int_equal(as_sample(s, n), 0);
	/* out-of-vocabulary ids are ignored */
	as_sampler_accept(s, 3);
	as_sampler_accept(s, -1);
	assert_int_equal(as_sample(s, n), 0);
	as_sampler_free(s);
	/* penalty 1: nothing kept, nothing changes */
	p.repeat_penalty = 1.0f;
	s = as_sampler_new(&p, 3);
	as_sampler_accept(s, 0);
	assert_int_equal(as_sample(s, n), 0);
	as_sampler_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greedy_is_argmax),
		cmocka_unit_test(test_top_k_one_is_argmax),
		cmocka_unit_test(test_top_k_cut),
		cmocka_unit_test(test_seed_reproducible),
		cmocka_unit_test(test_top_p_cut),
		cmocka_unit_test(test_distribution),
		cmocka_unit_test(test_rng_uniform),
		cmocka_unit_test(test_min_p_cut),
		cmocka_unit_test(test_repeat_penalty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The latency target's feedback (as_latency_step, runtime/latency.c) against a
 * simulated device: a token costs (fixed + per_keep * (1 - s)) * load seconds, times a
 * noise factor. It must settle near a reachable target from either side with or without
 * a model (one of the wrong shape, as the cost model's is), bring the request's mean to
 * the target, follow a load that changes, stay at the cap (or at 0) when the target is
 * out of reach, ride out single outliers, keep its bounds, and move the gap limit with
 * the sparsity as its model says.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "activeswap/latency.h"

struct device {
	double fixed, per_keep, noise; /* noise: +- this fraction, uniform */
	double load;                   /* a factor on everything (1: idle) */
	uint64_t x;
};

static double token_s(struct device *d, float s)
{
	double u;

	d->x ^= d->x << 13;
	d->x ^= d->x >> 7;
	d->x ^= d->x << 17;
	u = (double)(d->x >> 11) / (double)(1ull << 53); /* [0, 1) */
	return (d->fixed + d->per_keep * (1.0 - s)) * d->load * (1.0 + d->noise * (2 * u - 1));
}

/* Mean time of the last `tail` of n tokens. */
static double run(struct as_latency *c, struct device *d, int n, int tail)
{
	double sum = 0;

	for (int i = 0; i < n; i++) {
		double dt = token_s(d, c->s);
		float s0 = c->s;

		if (i >= n - tail)
			sum += dt;
		as_latency_step(c, dt);
		/* never above the cap, never more than one step per token */
		assert_true(c->s >= 0 && c->s <= c->s_max);
		assert_true(fabsf(c->s - s0) <= (float)AS_LATENCY_MAX_STEP + 1e-6f);
	}
	return sum / tail;
}

/* The model the cost model would give for the device: time proportional to the kept
 * fraction (it sees no fixed part) and wrong by a factor 2. */
static void keep_model(struct as_latency_model *m, float s_max)
{
	m->n = 0;
	for (int i = 0; i <= 20; i++) {
		float s = i * 0.05f > s_max ? s_max : i * 0.05f;

		m->s[m->n] = s;
		m->t[m->n] = 0.5 * (1.0 - s);
		m->gap[m->n++] = AS_LATENCY_NO_GAP;
		if (s >= s_max)
			break;
	}
}

/* Reachable targets, from a start too slow and a start too fast, with 10% noise and a
 * fixed part that no model knows, without and with the (wrong) model: within 10% over
 * the last 16 of 24 tokens, and the whole request's mean (warm-up included) within 12%. */
static void test_settles(void **state)
{
	const double targets[] = { 0.6, 0.75, 0.9 }; /* device: 0.5 (s 0.7) .. 1.2 (s 0) */
	const float starts[] = { 0.0f, 0.7f };

	(void)state;
	for (int model = 0; model < 2; model++)
		for (size_t i = 0; i < 3; i++)
			for (size_t j = 0; j < 2; j++) {
				struct device d = { 0.2, 1.0, 0.10, 1.0,
						    0x9e3779b97f4a7c15ull + i * 7 + j };
				struct as_latency c;
				struct as_latency_model lm;
				double m, all;

				as_latency_init(&c, targets[i], starts[j], 0.7f);
				if (model) {
					keep_model(&lm, 0.7f);
					assert_int_equal(as_latency_set_model(&c, &lm), 0);
				}
				m = run(&c, &d, 24, 16);
				all = as_latency_mean_s(&c);
				if (fabs(m / targets[i] - 1) > 0.10 ||
				    fabs(all / targets[i] - 1) > 0.12)
					fail_msg("model %d target %.2f from s %.1f: mean %.3f s "
						 "(request %.3f) at s %.2f", model, targets[i],
						 (double)starts[j], m, all, (double)c.s);
				assert_true(c.changes > 0);
				assert_true(c.s_lo <= c.s && c.s <= c.s_hi);
				assert_true(c.ratio > 0 && c.ratio_lo <= c.ratio &&
					    c.ratio <= c.ratio_hi);
			}
}

/* The load changes in the middle of a request (1 -> 1.4, the way another process's build
 * slows every token): the sparsity rises and the time comes back within 10% of the
 * target; the ratio measured / predicted follows the load. */
static void test_load_change(void **state)
{
	struct device d = { 0.2, 1.0, 0.05, 1.0, 777 };
	struct as_latency c;
	struct as_latency_model lm;
	double before, after;
	float s_before;

	(void)state;
	as_latency_init(&c, 0.9, 0.3f, 0.7f);
	keep_model(&lm, 0.7f);
	assert_int_equal(as_latency_set_model(&c, &lm), 0);
	run(&c, &d, 20, 1);
	s_before = c.s;
	before = c.ratio;
	d.load = 1.4;
	after = run(&c, &d, 30, 10);
	if (fabs(after / 0.9 - 1) > 0.10)
		fail_msg("after the load change: mean %.3f s at s %.2f", after, (double)c.s);
	assert_true(c.s > s_before + 0.1f);
	assert_true(c.ratio > 1.2 * before);
}

/* Out of reach: too fast a target ends at the cap, too slow a one at 0. */
static void test_bounds(void **state)
{
	struct device d = { 0.2, 1.0, 0.05, 1.0, 12345 };
	struct as_latency c;

	(void)state;
	as_latency_init(&c, 0.1, 0.2f, 0.5f);
	run(&c, &d, 30, 1);
	assert_true(c.s == 0.5f);
	as_latency_init(&c, 100, 0.45f, 0.5f);
	run(&c, &d, 30, 1);
	assert_true(c.s == 0.0f);
	assert_true(c.s_lo == 0.0f && c.s_hi == 0.45f);
	/* the cap itself is bounded: a kept fraction of at least 2% */
	as_latency_init(&c, 1e-9, 0.99f, 1.5f);
	assert_true(c.s <= 0.98f && c.s_max <= 0.98f);
	as_latency_init(&c, 1, -3.0f, 0.5f);
	assert_true(c.s == 0.0f);
}

/* A first slow token (a cold cache) moves the sparsity by at most AS_LATENCY_MAX_STEP and
 * is forgotten at the next one; later, one outlier leaves the ratio as it was (the
 * median) and only its debt is paid back; a token on target moves nothing; nonsense
 * times (0, negative, NaN, infinite) move nothing and are logged as 0. */
static void test_steps(void **state)
{
	struct as_latency c;
	double r;

	(void)state;
	as_latency_init(&c, 1.0, 0.3f, 0.9f);
	assert_true(as_latency_step(&c, 50.0));
	assert_true(fabsf(c.s - (0.3f + (float)AS_LATENCY_MAX_STEP)) < 1e-6f);
	as_latency_step(&c, 1.0);
	assert_true(fabs(c.ratio - 1.0 / 0.45) < 1e-6);

	as_latency_init(&c, 1.0, 0.3f, 0.9f);
	for (int i = 0; i < 3; i++)
		assert_false(as_latency_step(&c, 1.0));
	r = c.ratio;
	assert_true(as_latency_step(&c, 10.0));
	assert_true(c.ratio == r);
	/* 9 s lost: the allowance is half the target until it is paid back */
	assert_true(fabsf(c.s - (0.3f + (float)AS_LATENCY_MAX_STEP)) < 1e-6f);

	as_latency_init(&c, 1.0, 0.3f, 0.9f);
	assert_false(as_latency_step(&c, 1.02));
	assert_false(as_latency_step(&c, 0));
	assert_false(as_latency_step(&c, -1));
	assert_false(as_latency_step(&c, NAN));
	assert_false(as_latency_step(&c, INFINITY));
	assert_true(fabsf(c.s - 0.3f) < 1e-6f);
	assert_int_equal(c.steps, 5);
	assert_int_equal(c.changes, 0);
	assert_true(fabsf(c.dt_log[0] - 1.02f) < 1e-6f);
	for (int i = 1; i < 5; i++)
		assert_true(c.dt_log[i] == 0.0f);
	assert_true(fabsf(as_latency_mean_sparsity(&c) - 0.3f) < 1e-6f);
	assert_true(fabs(as_latency_mean_s(&c) - 1.02 / 5) < 1e-9);
}

/* The model: refused when malformed, made non-increasing, interpolated; its gap limits
 * follow the sparsity the feedback picks. */
static void test_model(void **state)
{
	struct as_latency c;
	struct as_latency_model m = { 3, { 0.0f, 0.4f, 0.8f }, { 2.0, 1.0, 1.5 },
				      { 32768, 8192, 0 } };
	struct as_latency_model bad;

	(void)state;
	as_latency_init(&c, 1.0, 0.0f, 0.8f);
	assert_true(c.gap == AS_LATENCY_NO_GAP);
	assert_true(fabs(as_latency_predict(&c, 0.25f) - 0.75) < 1e-9); /* no model: 1 - s */
	bad = m;
	bad.n = 0;
	assert_int_equal(as_latency_set_model(&c, &bad), -EINVAL);
	bad.n = AS_LATENCY_MAX_POINTS + 1;
	assert_int_equal(as_latency_set_model(&c, &bad), -EINVAL);
	bad = m;
	bad.s[0] = 0.1f;
	assert_int_equal(as_latency_set_model(&c, &bad), -EINVAL);
	bad = m;
	bad.s[2] = 0.4f;
	assert_int_equal(as_latency_set_model(&c, &bad), -EINVAL);
	bad = m;
	bad.t[1] = NAN;
	assert_int_equal(as_latency_set_model(&c, &bad), -EINVAL);
	bad.t[1] = 0;
	assert_int_equal(as_latency_set_model(&c, &bad), -EINVAL);
	assert_int_equal(c.model.n, 0);
	assert_int_equal(as_latency_set_model(&c, &m), 0);
	assert_true(c.gap == 32768 && c.gap_start == 32768);
	assert_true(fabs(as_latency_predict(&c, 0.2f) - 1.5) < 1e-6);
	assert_true(fabs(as_latency_predict(&c, 0.8f) - 1.0) < 1e-9); /* made 1.0, not 1.5 */
	assert_true(fabs(as_latency_predict(&c, 0.9f) - 1.0) < 1e-9);
	/* target 1.5 s, 2 s at s 0: ratio 1, 0.5 s lost so the allowance is
	 * 1.5 - 0.5 / 8: s 0.23 (predicted 1.425), still the first segment's gap */
	as_latency_init(&c, 1.5, 0.0f, 0.8f);
	assert_int_equal(as_latency_set_model(&c, &m), 0);
	assert_true(as_latency_step(&c, 2.0));
	assert_true(fabsf(c.s - 0.23f) < 1e-6f);
	assert_true(c.gap == 32768);
	/* slower: the sparsity rises (the first two tokens' smaller ratio, 1, still),
	 * then, nothing meeting the allowance, towards the cap by the largest step, past
	 * 0.4 where the gap is 8 KiB */
	assert_true(as_latency_step(&c, 4.0));
	assert_true(fabsf(c.s - 0.35f) < 1e-6f && c.gap == 32768);
	assert_true(as_latency_step(&c, 4.0));
	assert_true(fabsf(c.s - (0.35f + (float)AS_LATENCY_MAX_STEP)) < 1e-6f);
	assert_true(c.gap == 8192);
	assert_int_equal(c.gap_changes, 1);
}

/* Precision rungs (as_latency_set_rungs): a device whose token costs (fixed + per_keep *
 * (1 - s) * f[rung]) * load, rung r reading f[r] of rung 0's bytes; the model (each
 * rung's time proportional to its keep, no fixed part) wrong by 2x. A target the first
 * rung meets never leaves it; one only rung 2 meets (at some sparsity) ends there, met
 * within 10%; when the load then falls, the feedback comes back down a rung. */
static void test_rungs(void **state)
{
	static const double f[4] = { 1.0, 0.8, 0.6, 0.45 };
	struct as_latency_rungs r;
	struct as_latency_model lm;

	(void)state;
	keep_model(&lm, 0.5f);
	memset(&r, 0, sizeof(r));
	r.n = 4;
	for (uint32_t k = 0; k < r.n; k++) {
		r.id[k] = 100 + k;
		for (uint32_t i = 0; i < lm.n; i++)
			r.t[k][i] = 0.5 * (1.0 - lm.s[i]) * f[k];
	}
	for (int tgt = 0; tgt < 2; tgt++) {
		/* rung 0 at s 0.5: 0.2 + 0.5 = 0.7 s; rung 2 at s 0.5: 0.2 + 0.3 = 0.5 */
		const double target = tgt ? 0.55 : 0.9;
		struct as_latency c;
		double m = 0;

		as_latency_init(&c, target, 0.0f, 0.5f);
		assert_int_equal(as_latency_set_model(&c, &lm), 0);
		assert_int_equal(as_latency_set_rungs(&c, &r), 0);
		assert_int_equal(c.rung, 0);
		for (int i = 0; i < 40; i++) {
			double dt = (0.2 + 1.0 * (1.0 - c.s) * f[c.rung]) *
				    (1.0 + 0.03 * ((i * 7919) % 11 - 5) / 5.0);
			uint32_t r0 = c.rung;

			if (i >= 24)
				m += dt / 16;
			as_latency_step(&c, dt);
			/* at most one rung per token */
			assert_true(c.rung <= r0 + 1 && c.rung + 1 >= r0);
		}
		if (!tgt) {
			assert_int_equal(c.rung, 0);
			assert_int_equal(c.rung_changes, 0);
		} else {
			if (c.rung != 2 || fabs(m / target - 1) > 0.10)
				fail_msg("target %.2f: rung %u at s %.2f, mean %.3f s", target, c.rung,
					 (double)c.s, m);
			/* the load falls to 0.6: back to a rung of less accuracy cost */
			for (int i = 0; i < 24; i++)
				as_latency_step(&c, (0.2 + 1.0 * (1.0 - c.s) * f[c.rung]) * 0.6);
			assert_true(c.rung < 2);
		}
	}
	/* refused: no model yet, a start past the rungs, a time not > 0 */
	{
		struct as_latency c;

		as_latency_init(&c, 1.0, 0.0f, 0.5f);
		assert_int_equal(as_latency_set_rungs(&c, &r), -EINVAL);
		assert_int_equal(as_latency_set_model(&c, &lm), 0);
		r.start = 4;
		assert_int_equal(as_latency_set_rungs(&c, &r), -EINVAL);
		r.start = 0;
		r.t[1][0] = 0;
		assert_int_equal(as_latency_set_rungs(&c, &r), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settles),
		cmocka_unit_test(test_load_change),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_rungs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The latency target's feedback (as_latency_step, runtime/latency.c) against a
 * simulated device: a token costs fixed + per_keep * (1 - s) seconds, times a noise
 * factor. It must settle near a reachable target from either side, stay at the cap (or
 * at 0) when the target is out of reach, ride out single outliers, and keep its bounds.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "activeswap/latency.h"

struct device {
	double fixed, per_keep, noise; /* noise: +- this fraction, uniform */
	uint64_t x;
};

static double token_s(struct device *d, float s)
{
	double u;

	d->x ^= d->x << 13;
	d->x ^= d->x >> 7;
	d->x ^= d->x << 17;
	u = (double)(d->x >> 11) / (double)(1ull << 53); /* [0, 1) */
	return (d->fixed + d->per_keep * (1.0 - s)) * (1.0 + d->noise * (2 * u - 1));
}

/* Mean time of the last `tail` of n tokens. */
static double run(struct as_latency *c, struct device *d, int n, int tail)
{
	double sum = 0;

	for (int i = 0; i < n; i++) {
		double dt = token_s(d, c->s);

		if (i >= n - tail)
			sum += dt;
		as_latency_step(c, dt);
		assert_true(c->s >= 0 && c->s <= c->s_max);
	}
	return sum / tail;
}

/* Reachable targets, from a start too slow and a start too fast, with 10% noise and a
 * fixed part the controller's model does not know: within 10% after 40 tokens. */
static void test_settles(void **state)
{
	const double targets[] = { 0.6, 0.75, 0.9 }; /* device: 0.5 (s 0.7) .. 1.2 (s 0) */
	const float starts[] = { 0.0f, 0.7f };

	(void)state;
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 2; j++) {
			struct device d = { 0.2, 1.0, 0.10, 0x9e3779b97f4a7c15ull + i * 7 + j };
			struct as_latency c;
			double m;

			as_latency_init(&c, targets[i], starts[j], 0.7f);
			m = run(&c, &d, 60, 20);
			if (fabs(m / targets[i] - 1) > 0.10)
				fail_msg("target %.2f from s %.1f: mean %.3f s at s %.2f",
					 targets[i], (double)starts[j], m, (double)c.s);
			assert_true(c.changes > 0);
			assert_true(c.s_lo <= c.s && c.s <= c.s_hi);
		}
}

/* Out of reach: too fast a target ends at the cap, too slow a one at 0. */
static void test_bounds(void **state)
{
	struct device d = { 0.2, 1.0, 0.05, 12345 };
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

/* One slow token moves the sparsity by at most 0.1 and a token on target not at all;
 * nonsense times (0, negative, NaN) move nothing. */
static void test_steps(void **state)
{
	struct as_latency c;

	(void)state;
	as_latency_init(&c, 1.0, 0.3f, 0.9f);
	assert_true(as_latency_step(&c, 50.0));
	assert_true(fabsf(c.s - 0.4f) < 1e-6f);
	assert_false(as_latency_step(&c, 1.02));
	assert_false(as_latency_step(&c, 0));
	assert_false(as_latency_step(&c, -1));
	assert_false(as_latency_step(&c, NAN));
	assert_true(fabsf(c.s - 0.4f) < 1e-6f);
	assert_int_equal(c.steps, 5);
	assert_int_equal(c.changes, 1);
	assert_true(fabsf(as_latency_mean_sparsity(&c) - (0.3f + 4 * 0.4f) / 5) < 1e-6f);
	assert_true(fabs(as_latency_mean_s(&c) - 51.02 / 5) < 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settles),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_steps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The closed-form level allocation of `activeswap calibrate` (as_levels_allocate,
 * runtime/swap_levels.c): the weighted average is the target, the cheaper curve gets
 * the higher level, convex curves end with equal marginal costs, a curve's bumps are
 * bridged by its lower convex hull, and hostile inputs are refused.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "activeswap/swap.h"

static const float grid5[5] = { 0, 0.2f, 0.4f, 0.6f, 0.8f };

static double avg(const float *lv, const double *w, uint32_t n)
{
	double a = 0, ws = 0;

	for (uint32_t g = 0; g < n; g++) {
		a += lv[g] * w[g];
		ws += w[g];
	}
	return a / ws;
}

/* Linear curves: all of the target goes to the cheapest per weight first. */
static void test_linear(void **state)
{
	/* group 0: 1 per level, group 1: 4 per level, group 2: 2 per level */
	double cost[15], w[3] = { 1, 1, 2 };
	float lv[3];

	(void)state;
	for (int i = 0; i < 5; i++) {
		cost[i] = grid5[i];
		cost[5 + i] = 4 * grid5[i];
		cost[10 + i] = 2 * grid5[i] * 2; /* twice the weight: 2 per level and weight */
	}
	assert_int_equal(as_levels_allocate(3, 5, grid5, cost, w, 0.5, lv), 0);
	/* 0.5 * 4 = 2 weighted units: group 0 takes 0.8, then group 2 takes 0.6 */
	assert_true(fabsf(lv[0] - 0.8f) < 1e-6f);
	assert_true(fabsf(lv[1] - 0.0f) < 1e-6f);
	assert_true(fabsf(lv[2] - 0.6f) < 1e-6f);
	assert_true(fabs(avg(lv, w, 3) - 0.5) < 1e-6);
	/* the whole grid: everything at the top */
	assert_int_equal(as_levels_allocate(3, 5, grid5, cost, w, 0.8, lv), 0);
	for (int g = 0; g < 3; g++)
		assert_true(fabsf(lv[g] - 0.8f) < 1e-6f);
	assert_int_equal(as_levels_allocate(3, 5, grid5, cost, w, 0, lv), 0);
	for (int g = 0; g < 3; g++)
		assert_true(lv[g] == 0.0f);
}

/* Convex curves s^2 and 3 s^2 at equal weight: the marginal costs meet (2 s0 = 6 s1),
 * s0 = 3 s1 on the grid's resolution; with a bump (non-convex) the hull bridges it. */
static void test_convex_and_hull(void **state)
{
	static const float grid[9] = { 0, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f };
	double cost[18], w[2] = { 1, 1 };
	float lv[2];

	(void)state;
	for (int i = 0; i < 9; i++) {
		cost[i] = grid[i] * grid[i];
		cost[9 + i] = 3 * grid[i] * grid[i];
	}
	assert_int_equal(as_levels_allocate(2, 9, grid, cost, w, 0.4, lv), 0);
	assert_true(fabs(avg(lv, w, 2) - 0.4) < 1e-6);
	assert_true(lv[0] > 0.55f && lv[0] < 0.65f);
	assert_true(lv[1] > 0.15f && lv[1] < 0.25f);

	/* group 1: a bump at 0.1 (measured noise) over a flat curve; group 0 linear */
	for (int i = 0; i < 9; i++) {
		cost[i] = grid[i];
		cost[9 + i] = i == 1 ? 5 : 0.01 * grid[i];
	}
	assert_int_equal(as_levels_allocate(2, 9, grid, cost, w, 0.4, lv), 0);
	/* the hull from 0 to 0.2 skips the bump: group 1 takes all of it */
	assert_true(fabsf(lv[1] - 0.8f) < 1e-6f);
	assert_true(fabsf(lv[0] - 0.0f) < 1e-6f);
}

static void test_refused(void **state)
{
	static const float bad_grid[3] = { 0, 0.5f, 0.5f }, top_grid[2] = { 0, 1.0f },
			   off_grid[2] = { 0.1f, 0.5f };
	double cost[10] = { 0 }, w[2] = { 1, 1 }, w0[2] = { 1, 0 };
	float lv[2];

	(void)state;
	assert_int_equal(as_levels_allocate(2, 5, grid5, cost, w, 0.9, lv), -EINVAL);
	assert_int_equal(as_levels_allocate(2, 5, grid5, cost, w, -0.1, lv), -EINVAL);
	assert_int_equal(as_levels_allocate(2, 5, grid5, cost, w, NAN, lv), -EINVAL);
	assert_int_equal(as_levels_allocate(2, 5, grid5, cost, w0, 0.5, lv), -EINVAL);
	assert_int_equal(as_levels_allocate(2, 3, bad_grid, cost, w, 0.3, lv), -EINVAL);
	assert_int_equal(as_levels_allocate(2, 2, top_grid, cost, w, 0.3, lv), -EINVAL);
	assert_int_equal(as_levels_allocate(2, 2, off_grid, cost, w, 0.3, lv), -EINVAL);
	assert_int_equal(as_levels_allocate(0, 5, grid5, cost, w, 0.3, lv), -EINVAL);
	assert_int_equal(as_levels_allocate(2, 1, grid5, cost, w, 0, lv), -EINVAL);
	cost[7] = INFINITY;
	assert_int_equal(as_levels_allocate(2, 5, grid5, cost, w, 0.3, lv), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linear),
		cmocka_unit_test(test_convex_and_hull),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

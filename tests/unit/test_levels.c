// SPDX-License-Identifier: MIT
/*
 * The closed-form level allocation of `activeswap calibrate` (as_levels_allocate,
 * runtime/swap_levels.c): the weighted average is the target, the cheaper curve gets
 * the higher level, convex curves end with equal marginal costs, a curve's bumps are
 * bridged by its lower convex hull, and hostile inputs are refused; and its flash cost
 * weights (as_levels_flash_weights).
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

/*
 * Flash weights (as_levels_flash_weights): bytes times the share not resident, floored;
 * allocated with them, a wholly resident kind keeps its channels and the others carry
 * the average, so the flash bytes kept are uniform's; bad inputs refused.
 */
static void test_flash_weights(void **state)
{
	/* attn_in, attn_out, ffn_in, ffn_out: one layer's bytes and resident shares */
	const double bytes[4] = { 300, 100, 600, 300 }, res[4] = { 0.5, 1, 0, 1 };
	const double bad_res[4] = { 0.5, 1.01, 0, 1 }, bad_bytes[4] = { 300, 0, 600, 300 };
	double w[8], cost[8 * 5], flash_u = 0, flash_c = 0;
	float lv[8];

	(void)state;
	assert_int_equal(as_levels_flash_weights(2, bytes, res, w), 0);
	for (int l = 0; l < 2; l++) {
		assert_true(fabs(w[l * 4 + 0] - 150) < 1e-9);
		assert_true(fabs(w[l * 4 + 1] - 100 * AS_FLASH_FLOOR) < 1e-9);
		assert_true(fabs(w[l * 4 + 2] - 600) < 1e-9);
		assert_true(fabs(w[l * 4 + 3] - 300 * AS_FLASH_FLOOR) < 1e-9);
	}
	/* every group's error linear in its level, the resident kinds the cheapest per level:
	 * by number of bytes they would take the most sparsity; by flash bytes it is not
	 * worth their weight, and what flash reads is uniform's at the same average (up to
	 * the floor) */
	for (int g = 0; g < 8; g++)
		for (int i = 0; i < 5; i++)
			cost[g * 5 + i] = grid5[i] * (g % 2 ? 1.0 : 2.0);
	assert_int_equal(as_levels_allocate(8, 5, grid5, cost, w, 0.5, lv), 0);
	for (int g = 0; g < 8; g++) {
		double u = 1 - res[g % 4];

		flash_u += bytes[g % 4] * u * 0.5;
		flash_c += bytes[g % 4] * u * (1 - lv[g]);
		if (g % 2)
			assert_true(lv[g] == 0.0f);
	}
	assert_true(fabs(avg(lv, w, 8) - 0.5) < 1e-6);
	/* the floor's weight: the non-resident kinds carry slightly more than S */
	assert_true(flash_c <= flash_u && flash_c > (1 - 4 * AS_FLASH_FLOOR) * flash_u);

	assert_int_equal(as_levels_flash_weights(0, bytes, res, w), -EINVAL);
	assert_int_equal(as_levels_flash_weights(2, bytes, bad_res, w), -EINVAL);
	assert_int_equal(as_levels_flash_weights(2, bad_bytes, res, w), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linear),
		cmocka_unit_test(test_convex_and_hull),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_flash_weights),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

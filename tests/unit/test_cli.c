// SPDX-License-Identifier: MIT
/* Flag parsing shared by every subcommand. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli.h"

static void test_size_suffixes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(cli_size("t", "--x", "4096", 0, &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(cli_size("t", "--x", "64K", 0, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(cli_size("t", "--x", "1.5G", 0, &v), 0);
	assert_int_equal(v, 1610612736ull);
	assert_int_equal(cli_size("t", "--x", "2MiB", 0, &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(cli_size("t", "--x", "50%", 1000, &v), 0);
	assert_int_equal(v, 500);
}

static void test_size_rejects(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(cli_size("t", "--x", "", 0, &v), -1);
	assert_int_equal(cli_size("t", "--x", "-1", 0, &v), -1);
	assert_int_equal(cli_size("t", "--x", "12Q", 0, &v), -1);
	assert_int_equal(cli_size("t", "--x", "50%", 0, &v), -1);
	assert_int_equal(cli_size("t", "--x", "150%", 100, &v), -1);
	assert_int_equal(cli_size("t", "--x", "1e30", 0, &v), -1);
	assert_int_equal(cli_size("t", "--x", "nan", 0, &v), -1);
	assert_int_equal(v, 7);
}

static void test_long_ranges(void **state)
{
	long v = 3;
	double d;

	(void)state;
	assert_int_equal(cli_long("t", "-n", "12", 0, 100, &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(cli_long("t", "-n", "101", 0, 100, &v), -1);
	assert_int_equal(cli_long("t", "-n", "1x", 0, 100, &v), -1);
	assert_int_equal(cli_long("t", "-n", "99999999999999999999", 0, 100, &v), -1);
	assert_int_equal(cli_double("t", "--temp", "0.7", 0, 10, &d), 0);
	assert_true(d > 0.69 && d < 0.71);
	assert_int_equal(cli_double("t", "--temp", "inf", 0, 10, &d), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_rejects),
		cmocka_unit_test(test_long_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

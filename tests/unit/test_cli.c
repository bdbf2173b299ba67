// SPDX-License-Identifier: MIT
/* Flag parsing shared by every subcommand: the cli_* value parsers and args_parse. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <unistd.h>
#include <cmocka.h>

#include "args.h"
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

/* ---- args_parse ------------------------------------------------------------------- */

struct opts {
	bool json, seen_n;
	const char *model, *pin, *word;
	long n;
	double temp;
	uint64_t size;
	int fn_calls;
	char **rest;
};

static int fn_even(void *ptr, const char *sub, const char *flag, const char *v)
{
	struct opts *o = ptr;
	long x;

	o->fn_calls++;
	if (cli_long(sub, flag, v, 0, 100, &x))
		return -1;
	if (x % 2) {
		cli_err(sub, "bad value for %s: '%s' (odd)", flag, v);
		return -1;
	}
	return 0;
}

static int fn_pin(void *ptr, const char *sub, const char *flag, const char *v)
{
	(void)sub;
	(void)flag;
	*(const char **)ptr = v ? v : "default";
	return 0;
}

static bool absolute(const char *w)
{
	return w[0] == '/';
}

static int one_word(void *arg, const char *sub, const char *w)
{
	struct opts *o = arg;

	if (o->word) {
		cli_err(sub, "more than one word");
		return -1;
	}
	o->word = w;
	return 0;
}

static char err_text[512];

/* args_parse on a NULL-terminated list, its stderr in err_text */
static int parse_list(struct opts *o, bool with_words, const char *const *list)
{
	const struct arg_opt t1[] = {
		ARG_OPT_BOOL("--json", NULL, &o->json),
		ARG_OPT_STR("--model", "-m", &o->model),
		{ .name = "--n", .alias = "-n", .kind = ARG_LONG, .ptr = &o->n, .lmin = 1,
		  .lmax = 10, .seen = &o->seen_n },
		ARG_OPT_END,
	};
	const struct arg_opt t2[] = {
		ARG_OPT_DOUBLE("--temp", NULL, &o->temp, 0, 2),
		ARG_OPT_SIZE("--size", NULL, &o->size),
		ARG_OPT_FN("--even", NULL, o, fn_even),
		{ .name = "--pin", .kind = ARG_FN, .flags = ARG_OPTIONAL, .ptr = &o->pin,
		  .fn = fn_pin, .takes_next = absolute },
		ARG_OPT_LONG("--model", NULL, &o->n, 0, 0), /* shadowed by t1's */
		ARG_OPT_END,
	};
	const struct arg_spec spec = {
		.sub = "t", .tables = { t1, t2 }, .usage = "usage: t\n",
		.positional = with_words ? one_word : NULL, .positional_arg = o,
		.rest = with_words ? &o->rest : NULL,
	};
	char *argv[32];
	int argc = 0, saved, rc;
	FILE *f = tmpfile();
	size_t n;

	assert_non_null(f);
	argv[argc++] = "t";
	for (; *list; list++)
		argv[argc++] = (char *)*list;
	argv[argc] = NULL;
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(f), STDERR_FILENO);
	rc = args_parse(&spec, argc, argv);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(err_text, 1, sizeof(err_text) - 1, f);
	err_text[n] = 0;
	fclose(f);
	return rc;
}

#define PARSE(o, words, ...) parse_list(o, words, (const char *const[]){ __VA_ARGS__, NULL })

static void test_args_values(void **state)
{
	struct opts o = { .n = 3 };

	(void)state;
	assert_int_equal(PARSE(&o, false, "-m", "-x.gguf", "--json", "--temp=0.5", "--size",
			       "64K", "--even", "4", "--pin"), -1);
	assert_string_equal(err_text, "");
	assert_true(o.json);
	assert_string_equal(o.model, "-x.gguf"); /* a value may start with '-' */
	assert_true(o.temp > 0.49 && o.temp < 0.51);
	assert_int_equal(o.size, 65536);
	assert_int_equal(o.fn_calls, 1);
	assert_string_equal(o.pin, "default");
	assert_int_equal(o.n, 3);
	assert_false(o.seen_n);

	memset(&o, 0, sizeof(o));
	assert_int_equal(PARSE(&o, false, "--model=a=b", "-n", "7", "--pin", "/p", "--n=9",
			       "--pin=rel"), -1);
	assert_string_equal(o.model, "a=b");
	assert_int_equal(o.n, 9);
	assert_true(o.seen_n);
	assert_string_equal(o.pin, "rel");

	memset(&o, 0, sizeof(o));
	assert_int_equal(PARSE(&o, false, "--pin", "rel"), 2); /* not taken: a word */
	assert_string_equal(err_text, "activeswap t: unknown option 'rel' (see --help)\n");
}

static void test_args_errors(void **state)
{
	struct opts o = { 0 };

	(void)state;
	assert_int_equal(PARSE(&o, false, "--json", "-m"), 2);
	assert_string_equal(err_text, "activeswap t: -m needs a value\n");
	assert_int_equal(PARSE(&o, false, "--temp"), 2);
	assert_string_equal(err_text, "activeswap t: --temp needs a value\n");
	assert_int_equal(PARSE(&o, false, "--bogus", "1"), 2);
	assert_string_equal(err_text, "activeswap t: unknown option '--bogus' (see --help)\n");
	assert_int_equal(PARSE(&o, false, "--json=1"), 2); /* a bool takes no value */
	assert_string_equal(err_text, "activeswap t: unknown option '--json=1' (see --help)\n");
	assert_int_equal(PARSE(&o, false, "-n", "11"), 2);
	assert_string_equal(err_text,
			    "activeswap t: bad value for -n: '11' (must be in [1, 10])\n");
	assert_int_equal(PARSE(&o, false, "--n=x"), 2);
	assert_string_equal(err_text, "activeswap t: bad value for --n: 'x' (not an integer)\n");
	assert_int_equal(PARSE(&o, false, "--even", "3"), 2);
	assert_string_equal(err_text, "activeswap t: bad value for --even: '3' (odd)\n");
	assert_int_equal(PARSE(&o, false, "--size", "12Q"), 2);
	assert_int_equal(PARSE(&o, false, "word"), 2);
	assert_string_equal(err_text, "activeswap t: unknown option 'word' (see --help)\n");
	assert_int_equal(PARSE(&o, false, "--"), 2);
	/* --help wins where it stands: after a bad option the error comes first */
	assert_int_equal(PARSE(&o, false, "-n", "0", "--help"), 2);
}

static void test_args_words(void **state)
{
	struct opts o = { 0 };
	FILE *out;
	int saved;

	(void)state;
	assert_int_equal(PARSE(&o, true, "model.gguf", "--json", "--", "cmd", "-x"), -1);
	assert_string_equal(o.word, "model.gguf");
	assert_true(o.json);
	assert_non_null(o.rest);
	assert_string_equal(o.rest[0], "cmd");
	assert_string_equal(o.rest[1], "-x");
	assert_null(o.rest[2]);
	memset(&o, 0, sizeof(o));
	assert_int_equal(PARSE(&o, true, "-", "b"), 2);
	assert_string_equal(o.word, "-");
	assert_string_equal(err_text, "activeswap t: more than one word\n");

	/* --help: the usage on stdout, exit status 0, nothing on stderr */
	out = tmpfile();
	assert_non_null(out);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fileno(out), STDOUT_FILENO);
	assert_int_equal(PARSE(&o, true, "--json", "-h", "--bogus"), 0);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(out);
	{
		char buf[64] = "";

		assert_non_null(fgets(buf, sizeof(buf), out));
		assert_string_equal(buf, "usage: t\n");
	}
	fclose(out);
	assert_string_equal(err_text, "");
}

static void test_args_peek(void **state)
{
	char *argv[] = { "run", "-m", "a.gguf", "-p", "x", "--model=b.asw", "-m", NULL };
	char *none[] = { "run", "-p", "-m", NULL };

	(void)state;
	/* the last complete one; a trailing -m without a value gives none */
	assert_string_equal(args_peek(7, argv, "--model", "-m"), "b.asw");
	assert_string_equal(args_peek(3, argv, "--model", "-m"), "a.gguf");
	assert_null(args_peek(3, none, "--model", "-m"));
	assert_null(args_peek(1, argv, "--model", "-m"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_rejects),
		cmocka_unit_test(test_long_ranges),
		cmocka_unit_test(test_args_values),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_words),
		cmocka_unit_test(test_args_peek),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * One argv loop for every subcommand, driven by tables of option descriptors.
 *
 * A subcommand describes its options (long name, short name, whether a value follows and
 * where it goes: a bool, a string, a range-checked number through the cli_* parsers, or a
 * callback) and args_parse() walks argv once:
 *   -h, --help                     the usage on stdout, exit status 0
 *   --name VALUE, -n VALUE          the next word is the value, whatever it looks like
 *   --name=VALUE                    for long names that take a value
 *   an option missing its value     "activeswap SUB: FLAG needs a value", exit status 2
 *   an unknown option               "activeswap SUB: unknown option 'X' (see --help)", 2
 *   a bad value                     the cli_* parser's one line, 2
 *   a word not starting with '-'    (or "-" alone) to the positional callback if any,
 *                                   otherwise an unknown option
 *   --                              with spec->rest: the words after it, parsing stops
 * Options are looked up in the tables in order, so an earlier table can take over a name a
 * later (shared) one also has.
 */
#ifndef ACTIVESWAP_ARGS_H
#define ACTIVESWAP_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum arg_kind {
	ARG_END = 0, /* terminates a table */
	ARG_BOOL,    /* no value: *(bool *)ptr = true */
	ARG_STR,     /* *(const char **)ptr = the value */
	ARG_LONG,    /* cli_long in [lmin, lmax] into *(long *)ptr */
	ARG_U64,     /* cli_u64 in [umin, umax] into *(uint64_t *)ptr */
	ARG_DOUBLE,  /* cli_double in [dmin, dmax] into *(double *)ptr */
	ARG_SIZE,    /* cli_size (no percentage) into *(uint64_t *)ptr */
	ARG_FN,      /* fn(ptr, sub, flag, value): 0, or -1 after printing one line */
};

/* ARG_FN options: the value may be left out (fn gets NULL): it is the "=VALUE" part, or
 * the next word when takes_next(word) says so. */
#define ARG_OPTIONAL 1u

struct arg_opt {
	const char *name;  /* "--model", or NULL */
	const char *alias; /* "-m", or NULL */
	enum arg_kind kind;
	unsigned flags;
	void *ptr;
	long lmin, lmax;
	uint64_t umin, umax;
	double dmin, dmax;
	int (*fn)(void *ptr, const char *sub, const char *flag, const char *val);
	bool (*takes_next)(const char *word); /* ARG_OPTIONAL */
	bool *seen;        /* optional: set when the option is given */
};

#define ARG_OPT_BOOL(n, a, p) { .name = (n), .alias = (a), .kind = ARG_BOOL, .ptr = (p) }
#define ARG_OPT_STR(n, a, p) { .name = (n), .alias = (a), .kind = ARG_STR, .ptr = (p) }
#define ARG_OPT_LONG(n, a, p, lo, hi) \
	{ .name = (n), .alias = (a), .kind = ARG_LONG, .ptr = (p), .lmin = (lo), .lmax = (hi) }
#define ARG_OPT_U64(n, a, p, lo, hi) \
	{ .name = (n), .alias = (a), .kind = ARG_U64, .ptr = (p), .umin = (lo), .umax = (hi) }
#define ARG_OPT_DOUBLE(n, a, p, lo, hi) \
	{ .name = (n), .alias = (a), .kind = ARG_DOUBLE, .ptr = (p), .dmin = (lo), .dmax = (hi) }
#define ARG_OPT_SIZE(n, a, p) { .name = (n), .alias = (a), .kind = ARG_SIZE, .ptr = (p) }
#define ARG_OPT_FN(n, a, p, f) { .name = (n), .alias = (a), .kind = ARG_FN, .ptr = (p), .fn = (f) }
#define ARG_OPT_END { .kind = ARG_END }

#define ARGS_MAX_TABLES 4

struct arg_spec {
	const char *sub;                                /* "run", "bench io", ... */
	const struct arg_opt *tables[ARGS_MAX_TABLES];  /* NULL-terminated list */
	const char *usage;                              /* --help text, or */
	void (*usage_fn)(FILE *f);                      /* a function printing it */
	/* words that are not options; NULL: they are unknown options. 0 or -1 (printed). */
	int (*positional)(void *arg, const char *sub, const char *word);
	void *positional_arg;
	char ***rest;                                   /* "--" ends the options */
};

/* -1: go on; otherwise the exit status to return (0 after --help, 2 on a usage error,
 * with one line printed on stderr). */
int args_parse(const struct arg_spec *spec, int argc, char **argv);

/* The value the last -alias/--name VALUE (or --name=VALUE) in argv gives, before parsing
 * (for choosing the tables, e.g. by the model's kind); NULL if none. */
const char *args_peek(int argc, char **argv, const char *name, const char *alias);

#endif

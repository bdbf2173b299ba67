// SPDX-License-Identifier: MIT
/* The subcommands' argv loop (see args.h). */
#include "args.h"

#include <string.h>

#include "cli.h"

static bool is_help(const char *a)
{
	return !strcmp(a, "-h") || !strcmp(a, "--help");
}

static bool takes_value(const struct arg_opt *o)
{
	return o->kind != ARG_BOOL && !(o->kind == ARG_FN && (o->flags & ARG_OPTIONAL));
}

/* The option word a names; *eq points at the value after "--name=" when given so. */
static const struct arg_opt *lookup(const struct arg_spec *s, const char *a, const char **eq)
{
	*eq = NULL;
	for (int t = 0; t < ARGS_MAX_TABLES && s->tables[t]; t++) {
		for (const struct arg_opt *o = s->tables[t]; o->kind != ARG_END; o++) {
			size_t n;

			if ((o->name && !strcmp(a, o->name)) || (o->alias && !strcmp(a, o->alias)))
				return o;
			if (!o->name || o->kind == ARG_BOOL)
				continue;
			n = strlen(o->name);
			if (!strncmp(a, o->name, n) && a[n] == '=') {
				*eq = a + n + 1;
				return o;
			}
		}
	}
	return NULL;
}

static int store(const struct arg_opt *o, const char *sub, const char *flag, const char *v)
{
	switch (o->kind) {
	case ARG_BOOL:
		*(bool *)o->ptr = true;
		return 0;
	case ARG_STR:
		*(const char **)o->ptr = v;
		return 0;
	case ARG_LONG:
		return cli_long(sub, flag, v, o->lmin, o->lmax, o->ptr);
	case ARG_U64:
		return cli_u64(sub, flag, v, o->umin, o->umax, o->ptr);
	case ARG_DOUBLE:
		return cli_double(sub, flag, v, o->dmin, o->dmax, o->ptr);
	case ARG_SIZE:
		return cli_size(sub, flag, v, 0, o->ptr);
	case ARG_FN:
		return o->fn(o->ptr, sub, flag, v);
	case ARG_END:
		break;
	}
	return -1;
}

int args_parse(const struct arg_spec *s, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL, *eq, *flag;
		const struct arg_opt *o;

		if (is_help(a)) {
			if (s->usage)
				fputs(s->usage, stdout);
			else if (s->usage_fn)
				s->usage_fn(stdout);
			return 0;
		}
		if (s->rest && !strcmp(a, "--")) {
			*s->rest = argv + i + 1;
			return -1;
		}
		if (a[0] != '-' || !a[1]) {
			if (!s->positional) {
				cli_err(s->sub, "unknown option '%s' (see --help)", a);
				return 2;
			}
			if (s->positional(s->positional_arg, s->sub, a))
				return 2;
			continue;
		}
		o = lookup(s, a, &eq);
		if (!o) {
			cli_err(s->sub, "unknown option '%s' (see --help)", a);
			return 2;
		}
		flag = eq ? o->name : a; /* as named in messages: what was typed, not "=VALUE" */
		if (eq) {
			v = eq;
		} else if (takes_value(o)) {
			if (i + 1 >= argc) {
				cli_err(s->sub, "%s needs a value", flag);
				return 2;
			}
			v = argv[++i];
		} else if (o->kind == ARG_FN && i + 1 < argc && o->takes_next &&
			   o->takes_next(argv[i + 1])) {
			v = argv[++i];
		}
		if (store(o, s->sub, flag, v))
			return 2;
		if (o->seen)
			*o->seen = true;
	}
	return -1;
}

const char *args_peek(int argc, char **argv, const char *name, const char *alias)
{
	const char *v = NULL;
	size_t n = name ? strlen(name) : 0;

	for (int i = 1; i < argc; i++) {
		if (((name && !strcmp(argv[i], name)) || (alias && !strcmp(argv[i], alias))) &&
		    i + 1 < argc)
			v = argv[++i];
		else if (name && !strncmp(argv[i], name, n) && argv[i][n] == '=')
			v = argv[i] + n + 1;
	}
	return v;
}

// SPDX-License-Identifier: MIT
/*
 * activeswap convert IN.gguf -o OUT.asw [--type keep|q8_0|q4_0|f16|f32] [--group N]
 *                    [--rows] [--threads N] [--expert-types HIGH,LOW]
 *                    [--expert-layout rows|columns] [--verify] [--quiet]
 * activeswap convert --verify STORE.asw
 *
 * The command line around as_convert() and as_convert_verify() (runtime/convert.c,
 * activeswap/convert.h; the store is Documentation/store-format.md): flags,
 * SIGINT/SIGTERM as the conversion's cancel flag, progress bars, the summary lines. Exit
 * 0, 1 for a failure, 2 for bad flags, 130 when interrupted (no store left behind).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "activeswap/convert.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "args.h"
#include "cli.h"

#define SUB "convert"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: activeswap convert IN.gguf -o OUT.asw [--type keep|q8_0|q4_0|f16|f32]\n"
		"                          [--group N] [--rows] [--threads N]\n"
		"                          [--expert-types HIGH,LOW] [--expert-layout L]\n"
		"                          [--verify] [--quiet]\n"
		"       activeswap convert --verify STORE.asw\n"
		"\n"
		"  -o PATH      output store (written as PATH.tmp.PID, renamed when complete)\n"
		"  --type T     element type of the swappable columns; keep (default) uses each\n"
		"               matrix's own type when it can be re-encoded (f32 f16 bf16 q8_0\n"
		"               q4_0) or kept (q4_K q5_K q6_K in every layer: their codes and\n"
		"               scales as they are), q8_0 otherwise\n"
		"  --group N    layer-group size: the N layers' bundles of a channel lie side by\n"
		"               side, for preloads N layers ahead (default 1: then the bundles\n"
		"               of a kind's channels are adjacent and reads fill small gaps,\n"
		"               the fastest layout measured under a DRAM budget)\n"
		"  --rows       also keep every layer matrix in its GGUF row encoding (the row\n"
		"               copy: about twice the file); runs at sparsity 0 then use the\n"
		"               dense kernels, as fast as the dense runtime when it fits DRAM\n"
		"  --threads N  encode each matrix's columns on N threads (default 1; the same\n"
		"               bytes on any number)\n"
		"  --expert-types HIGH,LOW\n"
		"               mixture of experts: keep every expert twice, in HIGH (the GGUF's\n"
		"               bytes when already HIGH) and requantized to LOW, e.g. q4_k,q2_k\n"
		"               or q8_0,q4_0 (store version 4); run --expert-precision picks\n"
		"               which copy a token reads\n"
		"  --expert-layout rows|columns\n"
		"               mixture of experts: each expert in its GGUF rows (default), or\n"
		"               in columns (f32 f16 bf16 q8_0 q4_0 experts; store version 5):\n"
		"               run --expert-sparsity then reads only a missing expert's\n"
		"               selected columns\n"
		"  --verify     check every crc32c of the written (or given) store\n"
		"  --quiet      no progress bar or summary\n");
}

/* One progress bar per stage, drawn by cli_progress (on a TTY only). */
struct bar {
	struct cli_progress pr;
	bool started;
	enum as_convert_stage stage;
};

static void bar_end(struct bar *b)
{
	if (b->started)
		cli_progress_end(&b->pr);
	b->started = false;
}

static void on_progress(void *arg, enum as_convert_stage stage, uint64_t done, uint64_t total)
{
	struct bar *b = arg;

	if (!b->started || b->stage != stage) {
		bar_end(b);
		cli_progress_start(&b->pr, stage == AS_CONVERT_VERIFY ? "verify" : "convert",
				   total);
		b->started = true;
		b->stage = stage;
	}
	if (done > b->pr.done)
		cli_progress_add(&b->pr, done - b->pr.done);
}

static void on_warn(void *arg, const char *msg)
{
	cli_err(SUB, "%s", msg);
}

static int verify_store(const char *path, bool quiet)
{
	struct as_convert_params p;
	struct as_convert_result res;
	struct bar bar = { .started = false };
	char err[512] = "";
	double t0 = cli_now();
	int r;

	as_convert_params_init(&p);
	if (!quiet) {
		p.progress = on_progress;
		p.arg = &bar;
	}
	r = as_convert_verify(path, &p, &res, err, sizeof(err));
	bar_end(&bar);
	if (r) {
		cli_err(SUB, "%s", err);
		return 1;
	}
	if (!quiet)
		printf("%s: %llu bundles and %u resident tensors verified (crc32c) in %.1f s\n",
		       path, (unsigned long long)res.n_bundles, res.n_resident, cli_now() - t0);
	return 0;
}

/* the one IN argument */
static int opt_in(void *arg, const char *sub, const char *word)
{
	const char **in = arg;

	if (*in) {
		cli_err(sub, "unexpected argument '%s'", word);
		return -1;
	}
	*in = word;
	return 0;
}

int cmd_convert(int argc, char **argv)
{
	const char *in = NULL, *outp = NULL, *type_s = "keep", *xtypes = NULL,
		   *xlayout = NULL;
	long group = 1, threads = 1;
	bool verify = false, quiet = false, rows = false;
	struct as_convert_params p;
	struct as_convert_result res;
	struct bar bar = { .started = false };
	char err[512] = "";
	int forced = AS_CONVERT_KEEP, r;
	double t0 = cli_now();
	struct sigaction sa, old_int, old_term;

	const struct arg_opt opts[] = {
		ARG_OPT_STR(NULL, "-o", &outp),
		ARG_OPT_STR("--type", NULL, &type_s),
		ARG_OPT_LONG("--group", NULL, &group, 1, AS_CONVERT_GROUP_MAX),
		ARG_OPT_LONG("--threads", NULL, &threads, 1, AS_CONVERT_MAX_THREADS),
		ARG_OPT_BOOL("--verify", NULL, &verify),
		ARG_OPT_BOOL("--rows", NULL, &rows),
		ARG_OPT_STR("--expert-types", NULL, &xtypes),
		ARG_OPT_STR("--expert-layout", NULL, &xlayout),
		ARG_OPT_BOOL("--quiet", "-q", &quiet),
		ARG_OPT_END,
	};
	const struct arg_spec spec = {
		.sub = SUB, .tables = { opts }, .usage_fn = usage,
		.positional = opt_in, .positional_arg = &in,
	};

	r = args_parse(&spec, argc, argv);
	if (r >= 0)
		return r;
	if (!in) {
		/* no arguments at all: the usage, as 'activeswap' alone; else one line */
		if (argc <= 1)
			usage(stderr);
		else
			cli_err(SUB, "missing IN.gguf (see --help)");
		return 2;
	}
	if (!outp) {
		if (verify)
			return verify_store(in, quiet);
		cli_err(SUB, "missing -o OUT.asw");
		return 2;
	}
	{
		struct stat si, so;

		/* the store replaces -o when complete: never the model it is made from */
		if (!stat(in, &si) && !stat(outp, &so) && si.st_dev == so.st_dev &&
		    si.st_ino == so.st_ino) {
			cli_err(SUB, "-o %s is the input model itself; choose another path", outp);
			return 2;
		}
	}
	if (strcmp(type_s, "keep")) {
		forced = as_type_from_name(type_s);
		if (forced < 0 || !as_convert_type_ok(forced)) {
			cli_err(SUB, "bad value for --type: '%s' (keep, q8_0, q4_0, f16, bf16 or f32)",
				type_s);
			return 2;
		}
	}
	as_convert_params_init(&p);
	if (xtypes) {
		const char *comma = strchr(xtypes, ',');
		char hi[32];

		if (comma && (size_t)(comma - xtypes) < sizeof(hi)) {
			memcpy(hi, xtypes, (size_t)(comma - xtypes));
			hi[comma - xtypes] = 0;
			p.expert_types[0] = as_type_from_name(hi);
			p.expert_types[1] = as_type_from_name(comma + 1);
		}
		if (!comma || p.expert_types[0] < 0 || p.expert_types[1] < 0 ||
		    as_convert_expert_types_ok(p.expert_types[0], p.expert_types[1], 0, 0, err,
					       sizeof(err))) {
			cli_err(SUB, "bad value for --expert-types: '%s' (HIGH,LOW: two types the "
				"kernels compute, LOW the smaller, e.g. q4_k,q2_k)", xtypes);
			return 2;
		}
		p.expert_pair = true;
	}
	if (xlayout && strcmp(xlayout, "rows") && strcmp(xlayout, "columns")) {
		cli_err(SUB, "bad value for --expert-layout: '%s' (rows or columns)", xlayout);
		return 2;
	}
	p.expert_columns = xlayout && !strcmp(xlayout, "columns");
	if (p.expert_columns && p.expert_pair) {
		cli_err(SUB, "--expert-layout columns does not take --expert-types (the low "
			"copies are kept in rows only)");
		return 2;
	}
	p.type = forced;
	p.group = (uint32_t)group;
	p.rows = rows;
	p.threads = (int)threads;
	/* verified below, after the summary and with the default signal actions back */
	p.verify = false;
	if (!quiet) {
		p.progress = on_progress;
		p.warn = on_warn;
		p.arg = &bar;
	}
	p.cancel = &interrupted;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	r = as_convert(in, outp, &p, &res, err, sizeof(err));
	bar_end(&bar);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (r == -ECANCELED) {
		cli_err(SUB, "interrupted; %s was not written", outp);
		return 130;
	}
	if (r) {
		cli_err(SUB, "%s", err);
		return 1;
	}
	if (!quiet) {
		double dt = cli_now() - t0;

		printf("%s: %u layers, group %u, %llu bundles (%s/%s/%s/%s), %u resident "
		       "tensors, %.1f MB in %.1f s (%.0f MB/s)\n", outp, res.n_layers, res.group,
		       (unsigned long long)res.n_bundles, as_type_name(res.type[AS_OP_Q]),
		       as_type_name(res.type[AS_OP_O]), as_type_name(res.type[AS_OP_GATE]),
		       as_type_name(res.type[AS_OP_DOWN]), res.n_resident,
		       res.file_size / 1e6, dt, res.file_size / 1e6 / (dt > 0 ? dt : 1));
	}
	return verify ? verify_store(outp, quiet) : 0;
}

// SPDX-License-Identifier: MIT
/*
 * activeswap: the command-line front end, the dispatch to the subcommands. One file per
 * subcommand (cmd_*.c; bench's benchmarks in bench_*.c); the helpers they share
 * (cli.c, args.c, swap_cli.c, generate.c) call none of them.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "tp.h"

/* Subcommands land one file at a time; a missing one says so instead of failing to link. */
#pragma weak cmd_run
#pragma weak cmd_eval
#pragma weak cmd_convert
#pragma weak cmd_mkmodel
#pragma weak cmd_trace
#pragma weak cmd_info
#pragma weak cmd_calibrate
#pragma weak cmd_tokenize
#pragma weak cmd_chat
#pragma weak bench_io_main
#pragma weak bench_decode_main

/* activeswap bench WHAT: benchmarks (numbers, not tests).
 *   kernels   matvec throughput per type / layout / SIMD level (tools/bench_kernels.c)
 *   io        flash read bandwidth (tools/bench_io.c, when built)
 *   decode    end-to-end decode (tools/bench_decode.c, when built) */
static void bench_usage(FILE *f)
{
	fprintf(f, "usage: activeswap bench kernels|io|decode [options]  (--help after WHAT)\n");
}

static int cmd_bench(int argc, char **argv)
{
	int (*fn)(int, char **) = NULL;

	if (argc < 2) {
		bench_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		/* every benchmark's flags, one after the other */
		int (*const all[])(int, char **) = { bench_kernels_main, bench_io_main,
						     bench_decode_main };
		char name[] = "bench", help[] = "--help";
		char *av[] = { name, help, NULL };

		bench_usage(stdout);
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
			if (!all[i])
				continue;
			putchar('\n');
			fflush(stdout);
			all[i](2, av);
		}
		return 0;
	}
	if (!strcmp(argv[1], "kernels"))
		fn = bench_kernels_main;
	else if (!strcmp(argv[1], "io"))
		fn = bench_io_main;
	else if (!strcmp(argv[1], "decode"))
		fn = bench_decode_main;
	else {
		cli_err("bench", "unknown benchmark '%s' (kernels, io or decode)", argv[1]);
		return 2;
	}
	if (!fn) {
		cli_err("bench", "'%s' is not in this build", argv[1]);
		return 1;
	}
	return fn(argc - 1, argv + 1);
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
	{ "run", cmd_run, "generate text from a GGUF model or a store" },
	{ "eval", cmd_eval, "perplexity (and sparsity accuracy) on a text file" },
	{ "convert", cmd_convert, "convert a GGUF model into an activeswap store" },
	{ "mkmodel", cmd_mkmodel, "write a Llama GGUF with random weights" },
	{ "bench", cmd_bench, "benchmarks: kernels, io, decode" },
	{ "trace", cmd_trace, "live eBPF view of swapping" },
	{ "info", cmd_info, "architecture, shapes, types and sizes of a model" },
	{ "calibrate", cmd_calibrate, "per-layer sparsity levels from a text" },
	{ "tokenize", cmd_tokenize, "print the tokens of a text (as llama-tokenize)" },
	{ "chat", cmd_chat, "talk with a model, with its chat template" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: activeswap <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s%s\n", cmds[i].name, cmds[i].help,
			cmds[i].fn ? "" : " (not in this build)");
	fprintf(f, "\n'activeswap <command> --help' describes a command's options;\n"
		"'activeswap --version' prints the version.\n");
	fprintf(f, "%s", tp_usage);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("activeswap %s\n", AS_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		if (!cmds[i].fn) {
			cli_err(NULL, "'%s' is not available in this build", argv[1]);
			return 2;
		}
		/* under mpirun, each rank a slice (tools/tp.h); alone, one process */
		if (tp_init(&argc, &argv))
			return 1;
		return tp_exit(cmds[i].fn(argc - 1, argv + 1));
	}
	cli_err(NULL, "unknown command '%s' (see activeswap --help)", argv[1]);
	return 2;
}

// SPDX-License-Identifier: MIT
/* activeswap: the command-line front end. One file per subcommand (cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Subcommands land one file at a time; a missing one says so instead of failing to link. */
#pragma weak cmd_run
#pragma weak cmd_eval
#pragma weak cmd_convert
#pragma weak cmd_mkmodel
#pragma weak cmd_bench
#pragma weak cmd_trace
#pragma weak cmd_info
#pragma weak cmd_calibrate

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
	{ "run", cmd_run, "generate text from a GGUF model or a store" },
	{ "eval", cmd_eval, "perplexity (and sparsity accuracy) on a text file" },
	{ "convert", cmd_convert, "convert a GGUF model into an activeswap store" },
	{ "mkmodel", cmd_mkmodel, "write a Llama GGUF with random weights" },
	{ "bench", cmd_bench, "benchmarks: io, decode" },
	{ "trace", cmd_trace, "live eBPF view of swapping" },
	{ "info", cmd_info, "architecture, shapes, types and sizes of a model" },
	{ "calibrate", cmd_calibrate, "per-layer sparsity levels from a text" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: activeswap <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s%s\n", cmds[i].name, cmds[i].help,
			cmds[i].fn ? "" : " (not in this build)");
	fprintf(f, "\n'activeswap <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
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
		return cmds[i].fn(argc - 1, argv + 1);
	}
	cli_err(NULL, "unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}

// SPDX-License-Identifier: MIT
/*
 * activeswap bench WHAT: benchmark dispatcher (numbers, not tests).
 *   kernels   matvec throughput per type / layout / SIMD level (tools/bench_kernels.c)
 *   io        flash read bandwidth (tools/bench_io.c, when built)
 *   decode    end-to-end decode (when built)
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int bench_kernels_main(int argc, char **argv);
int bench_io_main(int argc, char **argv);
int bench_decode_main(int argc, char **argv);
#pragma weak bench_io_main
#pragma weak bench_decode_main

static void usage(FILE *f)
{
	fprintf(f, "usage: activeswap bench kernels|io|decode [options]  (--help after WHAT)\n");
}

int cmd_bench(int argc, char **argv)
{
	int (*fn)(int, char **) = NULL;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "kernels"))
		fn = bench_kernels_main;
	else if (!strcmp(argv[1], "io"))
		fn = bench_io_main;
	else if (!strcmp(argv[1], "decode"))
		fn = bench_decode_main;
	else {
		cli_err("bench", "unknown benchmark '%s'", argv[1]);
		usage(stderr);
		return 2;
	}
	if (!fn) {
		cli_err("bench", "'%s' is not in this build", argv[1]);
		return 1;
	}
	return fn(argc - 1, argv + 1);
}

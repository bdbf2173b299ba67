/* SPDX-License-Identifier: MIT */
/*
 * Private interface of `activeswap bench kernels` between its dense timing
 * (bench_kernels.c: options, matvec and --batch products, the shared helpers) and its
 * sparse column kernel timing (bench_kernels_sparse.c, --sparsity).
 */
#ifndef ACTIVESWAP_BENCH_KERNELS_H
#define ACTIVESWAP_BENCH_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/kernels.h"
#include "activeswap/threadpool.h"

struct bk_opts {
	long rows, cols, threads;
	int type;       /* -1: default set */
	int simd;       /* -1: every level the CPU has */
	int layout;     /* -1: both where possible, 0 plain, 1 repacked */
	double seconds;
	uint64_t working_set;
	bool json;
	long batch;      /* --batch: also time the matrix-matrix product of this many tokens */
	int n_sp;        /* --sparsity values: also time the sparse column kernel */
	double sp[8];
};

struct timing {
	double mean, median, best; /* seconds per matvec */
	double cpu; /* CPU seconds of the calling thread per matvec (mean) */
};

/* The run's random numbers (one stream, splitmix64) and a float in [-1, 1). */
uint64_t bk_rng(void);
float bk_frand(void);
/* Anonymous memory advised MADV_HUGEPAGE, or NULL. */
void *bk_alloc_big(size_t bytes);
/* {"bench":"kernels","type":..,"layout":..,"simd":.. of a JSON line */
void bk_json_head(const char *type, const char *layout, enum as_simd lvl);
/* Time run(ctx, it) for it = 0, 1, ... (two untimed warm-up calls first) for at least
 * `seconds` and 3 calls: median, mean and best seconds per call, and CPU time. */
void bk_time_runs(void (*run)(void *ctx, long it), void *ctx, double seconds,
		  struct timing *tm);
/* The n copies of a `bytes` matrix at w + i * stride read alone, one load per 64-byte
 * line over the pool's threads (layout "read": what memory gives the dense matvec). */
void bk_time_read(struct as_threadpool *tp, const uint8_t *w, size_t stride, size_t n,
		  size_t bytes, double seconds, struct timing *tm);
/* --sparsity: the sparse column kernel of type t at each of o->sp against the rows x cols
 * matrix w (row bytes rb) and input x; dense_s and read_s are the dense matvec's and the
 * whole matrix's read time for the ratios printed. 0, or 1 after a message. */
int bk_sparse(const struct bk_opts *o, struct as_threadpool *tp, enum ggml_type t, long rows,
	      long cols, const float *x, const uint8_t *w, uint64_t rb, double dense_s,
	      double read_s);

#endif

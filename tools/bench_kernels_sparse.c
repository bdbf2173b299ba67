// SPDX-License-Identifier: MIT
/*
 * activeswap bench kernels --sparsity: the sparse column kernel (the swapping runtime's
 * y += W[:, S] x[S] over the columns of the Top-K selection, Q4_0/Q8_0/float columns and
 * the K-quant columns with their scale tables) at each sparsity, against the dense
 * matvec and against reading the whole matrix, as bench_kernels.c measures them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "bench.h"
#include "bench_kernels.h"
#include "cli.h"

#define SUB "bench kernels"

static void print_sparse(const struct bk_opts *o, const char *type, const char *layout,
			 enum as_simd lvl, long rows, long cols, double sp, size_t k,
			 uint64_t bytes, const struct timing *tm, double dense_s)
{
	double gbps = (double)bytes / tm->median / 1e9;
	double gflops = 2.0 * (double)rows * (double)k / tm->median / 1e9;
	double vs = dense_s > 0 ? dense_s / tm->median : 0;

	if (o->json) {
		bk_json_head(type, layout, lvl);
		printf(",\"rows\":%ld,\"cols\":%ld,\"sparsity\":%.3f,\"selected\":%zu,"
		       "\"threads\":%ld,\"us\":%.2f,\"us_mean\":%.2f,\"us_best\":%.2f,"
		       "\"cpu_us\":%.2f,\"gbps\":%.3f,\"gflops\":%.3f,\"%s\":%.3f}\n",
		       rows, cols, sp, k, o->threads, tm->median * 1e6, tm->mean * 1e6,
		       tm->best * 1e6, tm->cpu * 1e6, gbps, gflops,
		       strcmp(layout, "read") ? "vs_dense" : "vs_read_all", vs);
	} else {
		printf("%-6s %-6s %-7s %6ld x %-6ld %3ld thr %10.1f us %8.2f GB/s %8.2f GFLOP/s"
		       " sparsity %.2f",
		       type, layout, as_simd_name(lvl), rows, cols, o->threads, tm->median * 1e6,
		       gbps, gflops, sp);
		if (vs > 0 && !strcmp(layout, "read"))
			printf(": %.2fx the time of reading the whole matrix", vs);
		else if (vs > 0)
			printf(": %.2fx the dense %s matvec", vs, as_simd_name(lvl));
		printf("\n");
	}
	fflush(stdout);
}

struct sp_task {
	struct as_threadpool *tp;
	enum as_simd lvl;
	enum ggml_type t;
	float *y;
	const void **ptr; /* n pools' selections of k columns, cols apart */
	size_t n, cols;
	const void *const *sel; /* the selection in use */
	const float *x;
	size_t rows, k;
	/* K-quant columns: the channels of each pool's selection (cols apart), the scale
	 * table, and the channels in use */
	const uint32_t *chp, *ch;
	const void *table;
};

/* rows split over threads as the swapping runtime splits them */
static void sp_task_fn(void *arg, int ith, int nth)
{
	const struct sp_task *a = arg;

	if (a->table)
		as_kq_axpy_share(a->lvl, a->t, a->y, a->rows, a->cols, a->table, a->sel, a->ch,
				 a->x, a->k, ith, nth);
	else
		as_sparse_axpy_share(a->lvl, a->t, a->y, a->rows, a->sel, a->x, a->k, ith,
				     nth);
}

/* one sparse product on pool it % n */
static void sp_run(void *ctx, long it)
{
	struct sp_task *a = ctx;

	a->sel = a->ptr + (size_t)it % a->n * a->cols;
	if (a->chp)
		a->ch = a->chp + (size_t)it % a->n * a->cols;
	as_tp_run(a->tp, sp_task_fn, a);
}

/*
 * Memory reads alone, one load per 64-byte line, with the kernels' access patterns: what
 * the memory system gives for them, whatever the arithmetic. Layout "read" of the
 * dense matvec: every thread's share of the matrix, sequentially; of a sparsity: the
 * selected columns' bytes of each thread's rows, in the sparse kernel's order.
 */
struct rd_task {
	struct as_threadpool *tp;
	const uint8_t *base;
	size_t stride, n, bytes; /* dense: n copies of `bytes` */
	struct sp_task *sp;      /* columns: the sparse kernel's task */
	const uint8_t *cur;
	uint64_t sum[8];
};

static uint64_t touch(const uint8_t *p, size_t len)
{
	uint64_t s = 0, v;

	for (size_t o = 0; o < len; o += 64) {
		memcpy(&v, p + o, 8);
		s += v;
	}
	return s;
}

static void rd_dense_fn(void *arg, int ith, int nth)
{
	struct rd_task *a = arg;
	size_t lines = (a->bytes + 63) / 64;
	size_t l0 = lines * (size_t)ith / (size_t)nth, l1 = lines * (size_t)(ith + 1) / nth;
	size_t end = 64 * l1 < a->bytes ? 64 * l1 : a->bytes;

	if (64 * l0 < end)
		a->sum[ith % 8] += touch(a->cur + 64 * l0, end - 64 * l0);
}

static void rd_dense_run(void *ctx, long it)
{
	struct rd_task *a = ctx;

	a->cur = a->base + (size_t)it % a->n * a->stride;
	as_tp_run(a->tp, rd_dense_fn, a);
}

void bk_time_read(struct as_threadpool *tp, const uint8_t *w, size_t stride, size_t n,
		  size_t bytes, double seconds, struct timing *tm)
{
	struct rd_task rd = { .tp = tp, .base = w, .stride = stride, .n = n, .bytes = bytes };

	bk_time_runs(rd_dense_run, &rd, seconds, tm);
}

#define RD_AHEAD 8

static void rd_cols_fn(void *arg, int ith, int nth)
{
	struct rd_task *a = arg;
	const struct sp_task *t = a->sp;
	size_t r0, r1, qoff = (t->rows + 127) / 128 * 4 * 2;
	uint64_t s = 0;

	as_sparse_rows(t->rows, ith, nth, &r0, &r1);
	if (r0 >= r1)
		return;
	for (size_t i = 0; i < t->k; i++) {
		const uint8_t *c = t->sel[i];

		if (i + RD_AHEAD < t->k) { /* as the kernel: the next columns prefetched */
			const uint8_t *nc = t->sel[i + RD_AHEAD];

			for (size_t o = 0; o < (r1 - r0 + 31) / 32 * 2; o += 64)
				__builtin_prefetch(nc + r0 / 32 * 2 + o, 0, 3);
			for (size_t o = 0; o < (r1 - r0 + 1) / 2; o += 64)
				__builtin_prefetch(nc + qoff + r0 / 2 + o, 0, 3);
		}
		s += touch(c + r0 / 32 * 2, (r1 - r0 + 31) / 32 * 2);
		s += touch(c + qoff + r0 / 2, (r1 - r0 + 1) / 2);
	}
	a->sum[ith % 8] += s;
}

static void rd_cols_run(void *ctx, long it)
{
	struct rd_task *a = ctx;

	a->sp->sel = a->sp->ptr + (size_t)it % a->sp->n * a->sp->cols;
	as_tp_run(a->tp, rd_cols_fn, a);
}

/*
 * A K-quant matrix w (rows of rb bytes) as a store holds it: column j's codes into the
 * slot perm[j], the scales into table (as_kq_table_bytes). 0, -ENOMEM or -EINVAL.
 */
static int kq_columns(enum ggml_type t, const uint8_t *w, uint64_t rb, long rows, long cols,
		      uint8_t *mem, size_t slot, const uint32_t *perm, void *table)
{
	uint8_t *codes = malloc((size_t)rows * (size_t)cols), *col = malloc((size_t)rows);
	int r = codes && col ? 0 : -ENOMEM;

	for (long i = 0; !r && i < rows; i++)
		r = as_kq_split_row(t, w + (size_t)i * rb, (size_t)cols, (size_t)rows,
				    (size_t)i, codes + (size_t)i * (size_t)cols, table);
	for (long j = 0; !r && j < cols; j++) {
		for (long i = 0; i < rows; i++)
			col[i] = codes[(size_t)i * (size_t)cols + (size_t)j];
		r = as_kq_col_encode(t, col, (size_t)rows, mem + (size_t)perm[j] * slot);
	}
	free(codes);
	free(col);
	return r;
}

/*
 * The sparse column kernel on the same matrix: columns encoded as a store holds them,
 * one per 64-byte aligned slot, slots shuffled over n pools (the working set), a random
 * sorted selection of k columns per pool. K-quant types take the GGUF rows w (rb bytes
 * each): their columns keep w's codes, the scales go to one resident table.
 */
int bk_sparse(const struct bk_opts *o, struct as_threadpool *tp, enum ggml_type t,
			long rows, long cols, const float *x, const uint8_t *w, uint64_t rb,
			double dense_s, double read_s)
{
	size_t cb = as_col_bytes(t, (size_t)rows), slot = (cb + 63) & ~(size_t)63, pool, n;
	size_t tb = as_kq_type(t) ? as_kq_table_bytes(t, (size_t)rows, (size_t)cols) : 0;
	float *tmp = malloc((size_t)rows * sizeof(float)), *y = calloc((size_t)rows, 4);
	uint8_t *mem = NULL;
	const void **ptr = NULL;
	uint32_t *perm = malloc((size_t)cols * sizeof(uint32_t)), *chp = NULL;
	void *table = tb ? calloc(1, tb) : NULL;
	int rc = 1;

	if (!cb || !tmp || !y || !perm || (as_kq_type(t) && !table)) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	pool = slot * (size_t)cols;
	n = (size_t)((o->working_set + pool - 1) / pool);
	n = n < 1 ? 1 : n > 64 ? 64 : n;
	mem = bk_alloc_big(pool * n);
	ptr = malloc(sizeof(void *) * (size_t)cols * n);
	if (table)
		chp = malloc(sizeof(uint32_t) * (size_t)cols * n);
	if (!mem || !ptr || (table && !chp)) {
		cli_err(SUB, "out of memory (%zu pools of %zu bytes)", n, pool);
		goto out;
	}
	for (long j = 0; j < cols; j++)
		perm[j] = (uint32_t)j;
	for (long j = cols - 1; j > 0; j--) {
		size_t r = bk_rng() % (size_t)(j + 1);
		uint32_t v = perm[j];

		perm[j] = perm[r];
		perm[r] = v;
	}
	if (table) {
		int r = kq_columns(t, w, rb, rows, cols, mem, slot, perm, table);

		if (r) {
			cli_err(SUB, "%s columns: %s", as_type_name(t), strerror(-r));
			goto out;
		}
	}
	for (long j = 0; !table && j < cols; j++) {
		for (long r = 0; r < rows; r++)
			tmp[r] = bk_frand() * 0.05f;
		as_col_encode(t, tmp, (size_t)rows, mem + (size_t)perm[j] * slot);
	}
	for (size_t p = 1; p < n; p++)
		memcpy(mem + p * pool, mem, pool);
	for (int si = 0; si < o->n_sp; si++) {
		size_t k = as_swap_topk_count((float)o->sp[si], (uint32_t)cols);
		float *xs = malloc(sizeof(float) * k); /* k >= 1 */

		if (!xs) {
			cli_err(SUB, "out of memory");
			goto out;
		}
		/* selection: every column with probability k/cols, then trimmed to k */
		for (size_t p = 0; p < n; p++) {
			size_t m = 0;

			for (long j = 0; j < cols && m < k; j++) {
				if ((size_t)(cols - j) > k - m && bk_rng() % (size_t)cols >= k)
					continue;
				if (chp)
					chp[p * (size_t)cols + m] = (uint32_t)j;
				ptr[p * (size_t)cols + m++] = mem + p * pool +
							      (size_t)perm[j] * slot;
			}
		}
		for (size_t i = 0; i < k; i++)
			xs[i] = x[i];
		for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
			struct sp_task a = { tp, (enum as_simd)l, t, y, ptr, n, (size_t)cols, NULL,
					     xs, (size_t)rows, k, chp, NULL, table };
			struct timing tm;

			if (o->simd >= 0 && l != o->simd)
				continue;
			bk_time_runs(sp_run, &a, o->seconds, &tm);
			print_sparse(o, as_type_name(t), "cols", (enum as_simd)l, rows, cols,
				     o->sp[si], k, (uint64_t)k * cb, &tm,
				     l == (int)as_simd_detect() ? dense_s : 0);
		}
		if (t == GGML_TYPE_Q4_0 && read_s > 0) {
			struct sp_task a = { tp, AS_SIMD_SCALAR, t, y, ptr, n, (size_t)cols, NULL,
					     xs, (size_t)rows, k, NULL, NULL, NULL };
			struct rd_task rd = { .tp = tp, .sp = &a };
			struct timing tm;

			bk_time_runs(rd_cols_run, &rd, o->seconds, &tm);
			print_sparse(o, as_type_name(t), "read", AS_SIMD_SCALAR, rows, cols,
				     o->sp[si], k, (uint64_t)k * cb, &tm, read_s);
		}
		free(xs);
	}
	rc = 0;
out:
	if (mem)
		munmap(mem, pool * n);
	free(ptr);
	free(perm);
	free(chp);
	free(table);
	free(tmp);
	free(y);
	return rc;
}

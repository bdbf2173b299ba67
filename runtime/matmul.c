// SPDX-License-Identifier: MIT
/*
 * Matrix-matrix products for batched prompt processing (as_matmul_multi, kernels.h).
 *
 * Every token's input is prepared once (quantized to Q8_0 / Q8_K as the weight types
 * need, as_mv_xin); the rows of the jobs are cut into tiles of about AS_MM_TILE_BYTES of
 * weights (or the rows the kernel asks for, as_mv_plan.mm_rows: the AMX tile's),
 * claimed by the threads from a shared counter, and each tile is run against
 * every token of the batch while its weights are in the core's cache: the weights are
 * read from memory once per batch instead of once per token. A row of a tile is computed
 * by as_matvec's own row kernel of the same level with the same prepared input, so every
 * output is bit-identical to as_matvec's for that token, whatever the batch or the tile.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/kernels.h"
#include "kernels_impl.h"

/* Weights per tile: with the tile's rows the token inputs stream through the cache. */
#define AS_MM_TILE_BYTES (128u << 10)

struct mm_ctx {
	const struct as_matvec_job *jobs;
	const struct as_mv_plan *p;
	const struct as_xin *xin; /* [n_tok] */
	size_t cols, n_tok;
	size_t tile_rows[AS_MV_MAX_JOBS]; /* rows per tile (a multiple of 16) */
	uint64_t first[AS_MV_MAX_JOBS + 1]; /* first tile of each job; first[n_jobs] = all */
	int n_jobs;
	atomic_uint_fast64_t next;
};

static void mm_tile(const struct mm_ctx *c, uint64_t i)
{
	int j = 0;

	while (i >= c->first[j + 1])
		j++;
	const struct as_matvec_job *jb = &c->jobs[j];
	size_t r0 = (size_t)(i - c->first[j]) * c->tile_rows[j];
	size_t r1 = r0 + c->tile_rows[j] < jb->rows ? r0 + c->tile_rows[j] : jb->rows;

	if (c->p->fn_mm[j]) {
		c->p->fn_mm[j](jb->W, c->p->row_bytes[j], r0, r1, c->cols, c->xin, c->n_tok,
			       jb->y, jb->rows);
		return;
	}
	for (size_t t = 0; t < c->n_tok; t++)
		c->p->fn[j](jb->W, c->p->row_bytes[j], r0, r1, c->cols, &c->xin[t],
			    jb->y + t * jb->rows);
}

static void mm_task(void *arg, int ith, int nth)
{
	struct mm_ctx *c = arg;
	uint64_t i, n = c->first[c->n_jobs];

	(void)ith;
	(void)nth;
	while ((i = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed)) < n)
		mm_tile(c, i);
}

static void fail_all(const struct as_matvec_job *jobs, int n_jobs, size_t n_tok)
{
	for (int j = 0; j < n_jobs; j++)
		for (size_t r = 0; r < jobs[j].rows * n_tok; r++)
			jobs[j].y[r] = NAN;
}

struct prep_ctx {
	const struct as_mv_plan *p;
	const float *X;
	uint8_t *buf;
	struct as_xin *xin;
	size_t cols, n_tok;
};

static void prep_task(void *arg, int ith, int nth)
{
	const struct prep_ctx *c = arg;

	for (size_t t = c->n_tok * (size_t)ith / (size_t)nth;
	     t < c->n_tok * (size_t)(ith + 1) / (size_t)nth; t++)
		as_mv_xin(c->p, c->X + t * c->cols, c->cols,
			  c->buf ? c->buf + t * c->p->xin_bytes : NULL, &c->xin[t]);
}

/* The batch's Q8_0 inputs in AMX tiles (kernels_impl.h, as_xin.q8t), chunks of 16
 * tokens spread over the threads. */
struct q8t_ctx {
	const struct as_xin *xin;
	uint8_t *t;
	size_t nb, n_tok, nch;
};

static void q8t_task(void *arg, int ith, int nth)
{
	const struct q8t_ctx *c = arg;

	for (size_t ch = c->nch * (size_t)ith / (size_t)nth;
	     ch < c->nch * (size_t)(ith + 1) / (size_t)nth; ch++) {
		for (size_t b = 0; b < c->nb; b++) {
			uint8_t *d = c->t + (ch * c->nb + b) * AS_Q8T_BYTES;
			float dx[16];
			int32_t corr[16];

			for (size_t i = 0; i < 16; i++) {
				size_t t = ch * 16 + i;

				if (t < c->n_tok) {
					memcpy(d + 32 * i, c->xin[t].q8[b].qs, 32);
					dx[i] = as_fp16_to_fp32(c->xin[t].q8[b].d);
					corr[i] = 16 * c->xin[t].q8sum[b]; /* q8sum: 8 * sum */
				} else {
					memset(d + 32 * i, 0, 32);
					dx[i] = 0.0f;
					corr[i] = 0;
				}
			}
			memcpy(d + AS_Q8T_DX, dx, sizeof(dx));
			memcpy(d + AS_Q8T_DX + sizeof(dx), corr, sizeof(corr));
		}
	}
}

void as_matmul_multi(struct as_threadpool *tp, const struct as_matvec_job *jobs, int n_jobs,
		     size_t cols, const float *X, size_t n_tok)
{
	struct as_mv_plan p;
	struct mm_ctx c;
	struct prep_ctx pc;
	size_t bytes;
	uint8_t *q8t = NULL;

	if (n_jobs <= 0 || !cols || !n_tok)
		return;
	if (n_jobs > AS_MV_MAX_JOBS) {
		as_matmul_multi(tp, jobs, AS_MV_MAX_JOBS, cols, X, n_tok);
		as_matmul_multi(tp, jobs + AS_MV_MAX_JOBS, n_jobs - AS_MV_MAX_JOBS, cols, X,
				n_tok);
		return;
	}
	if (as_mv_plan(as_simd_active(), jobs, n_jobs, cols, &p) ||
	    __builtin_mul_overflow(p.xin_bytes, n_tok, &bytes)) {
		fail_all(jobs, n_jobs, n_tok);
		return;
	}
	memset(&c, 0, sizeof(c));
	pc = (struct prep_ctx){ &p, X, NULL, calloc(n_tok, sizeof(struct as_xin)), cols, n_tok };
	if (bytes)
		pc.buf = aligned_alloc(64, bytes);
	if (!pc.xin || (bytes && !pc.buf)) {
		fail_all(jobs, n_jobs, n_tok);
		goto out;
	}
	as_tp_run(tp, prep_task, &pc);
	if (p.need_q8t) {
		struct q8t_ctx qc = { pc.xin, NULL, cols / QK8_0, n_tok, (n_tok + 15) / 16 };
		size_t tb;

		if (__builtin_mul_overflow(qc.nch * qc.nb, (size_t)AS_Q8T_BYTES, &tb) ||
		    !(q8t = aligned_alloc(64, tb))) {
			fail_all(jobs, n_jobs, n_tok);
			goto out;
		}
		qc.t = q8t;
		as_tp_run(tp, q8t_task, &qc);
		pc.xin[0].q8t = q8t;
	}
	c.jobs = jobs;
	c.p = &p;
	c.xin = pc.xin;
	c.cols = cols;
	c.n_tok = n_tok;
	c.n_jobs = n_jobs;
	for (int j = 0; j < n_jobs; j++) {
		size_t tr = p.mm_rows[j] ? p.mm_rows[j] :
			    AS_MM_TILE_BYTES / (p.row_bytes[j] * AS_X16_ROWS) * AS_X16_ROWS;

		c.tile_rows[j] = tr ? tr : AS_X16_ROWS;
		c.first[j + 1] = c.first[j] + (jobs[j].rows + c.tile_rows[j] - 1) / c.tile_rows[j];
	}
	atomic_init(&c.next, 0);
	if (c.first[n_jobs] == 1)
		mm_task(&c, 0, 1);
	else
		as_tp_run(tp, mm_task, &c);
out:
	free(q8t);
	free(pc.buf);
	free(pc.xin);
}

/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between runtime/sparse.c and its per-ISA files (sparse_avx2.c,
 * sparse_avx512.c, sparse_neon.c). Not public.
 */
#ifndef ACTIVESWAP_SPARSE_IMPL_H
#define ACTIVESWAP_SPARSE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "activeswap/sparse.h"

/*
 * y[0 .. nelem) += sum_i x[i] * column_i[0 .. nelem), where column i starts at
 * (const uint8_t *)cols[i] + off bytes. For block types nelem is a multiple of 32.
 * Columns are accumulated in order i = 0 .. n-1 for every element.
 */
typedef void (*as_sparse_fn)(float *y, size_t nelem, const void *const *cols, size_t off,
			     const float *x, size_t n);

enum as_sparse_kind { AS_SP_F32, AS_SP_F16, AS_SP_BF16, AS_SP_Q8_0, AS_SP_Q4_0, AS_SP_COUNT };

/*
 * Q4_0 columns (the encoding in activeswap/sparse.h): y[128 c0 .. 128 c1) += ... over the
 * chunks c0 .. c1-1 of columns whose scales take qoff bytes (quants start at
 * cols[i] + qoff). y points at row 128 c0 and holds 128 (c1 - c0) floats.
 */
typedef void (*as_sparse_q4_fn)(float *y, size_t c0, size_t c1, size_t qoff,
				const void *const *cols, const float *x, size_t n);

struct as_sparse_table {
	as_sparse_fn fn[AS_SP_COUNT]; /* NULL: the level below */
	as_sparse_q4_fn q4;
};

/* Columns per activation-quantization group of the Q4_0 kernels, and the tile of blocks
 * one preparation covers. */
#define AS_Q4_GROUP AS_SPARSE_Q4_GROUP
#define AS_Q4_TILE 64 /* blocks (2048 rows); a multiple of 16 */

/*
 * Scalar preparation of one group (m <= AS_Q4_GROUP columns) for the blocks
 * b0 .. b0+nb-1, as every level defines it: sa[j] the scale of block b0+j, corr[j] =
 * -8 * sum of the codes, and qa[s * stride + j] the four int8 codes of columns
 * 4s .. 4s+3 (zero past m) packed little-endian in a dword.
 */
void as_q4_prep_scalar(const void *const *cols, const float *x, size_t m, size_t b0,
		       size_t nb, uint32_t *qa, size_t stride, float *sa, int32_t *corr);

/*
 * Prefetch for the Q4_0 kernels. The columns are scattered over the cache's slots and
 * each thread reads a short run of each, too short for the hardware prefetcher: while
 * group g of tile [t0, t1) (chunks, the call's range ends at c1) is computed, the next
 * group's (or the next tile's first group's) scales are fetched here and its codes chunk
 * by chunk: while chunk c is computed, the kernel fetches np[i] + 64 c for the returned
 * number of columns i, if c < *cend (the next tile may be shorter).
 */
static inline size_t as_q4_prefetch_next(const void *const *cols, size_t n, size_t g,
					 size_t t0, size_t t1, size_t c1, size_t qoff,
					 const char **np, size_t *cend)
{
	size_t ng = g + AS_Q4_GROUP, nt0 = t0, nm;

	if (ng >= n) {
		ng = 0;
		nt0 = t1;
	}
	if (nt0 >= c1)
		return 0;
	nm = n - ng < AS_Q4_GROUP ? n - ng : AS_Q4_GROUP;
	for (size_t i = 0; i < nm; i++) {
		const char *pc = (const char *)cols[ng + i] + nt0 * 8; /* scale of block 4 nt0 */

		__builtin_prefetch(pc, 0, 3);
		__builtin_prefetch(pc + 64, 0, 3);
		np[i] = (const char *)cols[ng + i] + qoff + 64 * (nt0 - t0);
	}
	*cend = c1 - (nt0 - t0) < t1 ? c1 - (nt0 - t0) : t1;
	return nm;
}

/*
 * K-quant columns (sparse_kq.c): one run of n <= 32 selected columns of one scale
 * sub-block (channels of one ch / as_kq_sub(t)), its activations already quantized by
 * the dispatch (as_kq_quant_run: q[i] int16, scale s, their sum sq and sx = s sq),
 * over nt tiles of 64 rows: y[0 .. 64 nt) += their product over the rows r .. r + 64 nt - 1
 * of the matrix (r a multiple of 64; P the padded rows, table the scale table): per row
 * the exact integer acc = sum_i q[i] code_i (Q6_K: code_i - 32), then the sub-block's
 * scales once (activeswap/sparse.h). Every level computes the same operations, bit for
 * bit.
 */
struct as_kq_run {
	int16_t q[32];
	float s, sx; /* sx = s * sq */
	int32_t sq;  /* sum of q */
	uint32_t ch; /* the run's first channel */
	uint32_t n;  /* columns */
};
void as_kq_quant_run(const float *x, const uint32_t *ch, size_t n, struct as_kq_run *run);
typedef void (*as_kq_tile_fn)(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
			      const void *table, const void *const *cols,
			      const struct as_kq_run *run);
void as_kq_tile_scalar(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		       const void *table, const void *const *cols,
		       const struct as_kq_run *run);
void as_kq_tile_avx2(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		     const void *table, const void *const *cols, const struct as_kq_run *run);
void as_kq_tile_avx512(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		       const void *table, const void *const *cols,
		       const struct as_kq_run *run);
void as_kq_tile_neon(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		     const void *table, const void *const *cols, const struct as_kq_run *run);

void as_sparse_avx2_init(struct as_sparse_table *t);
void as_sparse_avx512_init(struct as_sparse_table *t);
void as_sparse_neon_init(struct as_sparse_table *t);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The batch's product over the union of its selections (internal to the runtime; used by
 * the stores' batched prompt path, runtime/swap_union.c; Documentation/swapping.md,
 * "Prompts: one product over the union").
 *
 * A batch of n positions, each with its own Top-K selection of a group's input channels,
 * is computed as ONE dense matrix-matrix product over the k channels of the union of
 * their selections: every union column is decoded to floats once per batch and applied
 * to every position, with the activations of the channels a position did not select set
 * to 0 (masked). For every output element of every position the union's columns are
 * accumulated in order i = 0 .. k-1 from 0 with one fused multiply-add each:
 *
 *     Y[t][r] = fma(xm[t][k-1], w_{k-1}[r], ... fma(xm[t][0], w_0[r], 0))
 *
 * A masked column adds an exact zero, so a position's result depends only on its own
 * activations and selection: not on the other positions of the batch, the chunking of
 * the prompt, the thread count, where the columns live (budget, backend), nor on the SIMD
 * level (the scalar code uses fmaf, the AVX2 code vfmadd: the same roundings). Decoded
 * Q4_0 values d * (code - 8) are exact in float. It is not the single-token column
 * kernel's arithmetic (which quantizes the activations to int8, sparse.h), so a batch
 * agrees with token-by-token processing to rounding, not bit for bit.
 */
#ifndef ACTIVESWAP_SPARSE_GEMM_H
#define ACTIVESWAP_SPARSE_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/kernels.h"

#define AS_SG_ROWS 128 /* rows of a decoded panel (one Q4_0 chunk of a column) */
#define AS_SG_KC 256   /* columns of a decoded panel */
#define AS_SG_STRIP 16 /* rows of a strip: the micro-kernel's width */
#define AS_SG_MR 6     /* positions of the micro-kernel */
#define AS_SG_PANEL ((size_t)AS_SG_ROWS * AS_SG_KC) /* floats of one thread's panel */

/* Column types the union product takes (Q4_0). */
bool as_sg_type_ok(enum ggml_type t);

/*
 * Thread ith of nth's share (the rows as_sparse_rows(out, ith, nth)) of
 *     Y[t * ldy + r] = sum_i xm[t * k + i] * column_i[r]    (t < n, r < out, i < k)
 * in the order stated above. cols[i] points at an encoded column of `out` values of
 * type t (sparse.h), panel at AS_SG_PANEL floats of the calling thread's own. Y's rows
 * of the share are overwritten.
 */
void as_sg_share(enum as_simd level, enum ggml_type t, float *Y, size_t ldy, size_t out,
		 const void *const *cols, const float *xm, size_t k, size_t n, float *panel,
		 int ith, int nth);

/*
 * Micro-kernel: m <= AS_SG_MR positions by one strip of AS_SG_STRIP rows over kc columns:
 * Y[t * ldy + e] = fma chain over j < kc of (x[t * ldx + j], p[j * AS_SG_STRIP + e]),
 * starting from 0 when first, else from Y. Levels compute the same bits.
 */
typedef void (*as_sg_kern_fn)(float *Y, size_t ldy, const float *p, const float *x,
			      size_t ldx, size_t kc, size_t m, bool first);
void as_sg_kern_scalar(float *Y, size_t ldy, const float *p, const float *x, size_t ldx,
		       size_t kc, size_t m, bool first);
void as_sg_kern_avx2(float *Y, size_t ldy, const float *p, const float *x, size_t ldx,
		     size_t kc, size_t m, bool first);

/*
 * Decode chunk c (rows 128 c .. 128 c + 127) of a Q4_0 column (quants from qoff, d: the
 * chunk's four block scales) into column j of a panel of kc columns:
 * panel[(s * kc + j) * AS_SG_STRIP + e] = row 128 c + 16 s + e. Exact at every level.
 */
typedef void (*as_sg_q4_fn)(const uint8_t *col, size_t qoff, size_t c, const float *d,
			    float *panel, size_t kc, size_t j);
void as_sg_q4_chunk_scalar(const uint8_t *col, size_t qoff, size_t c, const float *d,
			   float *panel, size_t kc, size_t j);
void as_sg_q4_chunk_avx2(const uint8_t *col, size_t qoff, size_t c, const float *d,
			 float *panel, size_t kc, size_t j);

#endif

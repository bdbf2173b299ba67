/* SPDX-License-Identifier: MIT */
/*
 * Sparse gather-accumulate kernels: the matrix-vector product of activation sparsity
 * over weight *columns* (one per input channel, quantized along the output dimension, as
 * the store's bundles hold them, Documentation/store-format.md):
 *
 *     y[r] += sum_{i = 0 .. n-1} x[i] * dequant(cols[i])[r]      for r in [r0, r1)
 *
 * cols[i] is the column of the i-th selected input channel and x[i] its activation. For
 * every output element the columns are accumulated in the order i = 0, 1, ..., so the
 * result depends only on (x, cols, their order, the SIMD level), never on how the rows
 * are split between threads or on where the columns live in memory: the swapping
 * runtime's bit-identity across DRAM budgets and backends rests on this.
 *
 * Column types: F32, F16, BF16 (one value per element), Q8_0 and Q4_0 (blocks of 32
 * along the output dimension; a column of `out` values is padded with zeros to a whole
 * number of blocks). Per element the scalar reference computes y += (x_i * d_b) * q and the
 * SIMD versions fuse the multiply-add (fma), so levels agree to rounding (tests use a
 * relative tolerance of 1e-5 of the sum of |terms|).
 */
#ifndef ACTIVESWAP_SPARSE_H
#define ACTIVESWAP_SPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "activeswap/kernels.h"
#include "activeswap/quant.h"

/* Types a column may have. */
bool as_sparse_type_ok(enum ggml_type t);

/*
 * y[r0 .. r1) += sum_i x[i] * column_i[r0 .. r1) with the active level (the best the CPU
 * supports for these kernels, or ACTIVESWAP_SIMD=scalar|avx2|avx512). r0 must be a
 * multiple of the type's block size (32 for Q8_0/Q4_0); r1 may end inside a block (the
 * padded tail of a column is never written to y). y points at element 0 (not r0).
 */
void as_sparse_axpy(enum ggml_type t, float *y, size_t r0, size_t r1,
		    const void *const *cols, const float *x, size_t n);

/* Same with an explicit level (clamped to what the CPU supports). */
void as_sparse_axpy_level(enum as_simd level, enum ggml_type t, float *y, size_t r0,
			  size_t r1, const void *const *cols, const float *x, size_t n);

/* Level as_sparse_axpy uses. */
enum as_simd as_sparse_level(void);

/*
 * Top-K by magnitude: writes to idx the k indices of the largest |x[i]| in increasing
 * index order (ties: the lower index wins), k = n keeps all. scratch holds n floats.
 * Deterministic. Returns k.
 */
size_t as_topk_select(const float *x, size_t n, size_t k, uint32_t *idx, float *scratch);

#endif

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
 * along the output dimension, encoded as below). For the float and Q8_0 columns the scalar
 * reference computes y += (x_i * d_b) * q per element and the SIMD versions fuse the
 * multiply-add (fma), so levels agree to rounding (tests use a relative tolerance of
 * 1e-5 of the sum of |terms|); Q4_0 columns go through integer dot products that every
 * level computes identically (below).
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
 * Column encoding (what a store's bundle holds for one matrix and one input channel,
 * Documentation/store-format.md, "Columns"). F32, F16, BF16 and Q8_0 columns are the
 * ggml row encoding of the column's values, padded with zeros to a whole block. Q4_0
 * columns use a layout made for the integer kernels: the values are padded with zeros to
 * P = a multiple of 128, quantized per block of 32 rows exactly like ggml's Q4_0, and
 * stored as the P/32 fp16 scales d[0..P/32) followed by P/128 chunks of 64 bytes; in
 * chunk c, byte p = 16 L + 4 j + t (L, j, t in 0..3) holds the 4-bit code of row
 * 128 c + 16 j + 4 L + t in its low nibble and of row 128 c + 64 + 16 j + 4 L + t in its
 * high nibble. Row r's value is d[r / 32] * (code - 8).
 */
/* Rows a column is padded to a multiple of (128 for Q4_0, 64 for the K-quant codes, 32 for
 * Q8_0, 1 otherwise);
 * also the granularity of r0 for as_sparse_axpy. 0 for an unsupported type. */
size_t as_col_align(enum ggml_type t);
/* Encoded bytes of a column of `out` values; 0 for an unsupported type or overflow. */
size_t as_col_bytes(enum ggml_type t, size_t out);
/* Encode src[0 .. out) into dst (as_col_bytes(t, out) bytes). 0 or -EINVAL (also when
 * as_col_bytes(t, out) is 0). */
int as_col_encode(enum ggml_type t, const float *src, size_t out, void *dst);
/* Decode a column: dst[0 .. out) (no padding written); nothing when as_col_bytes(t, out)
 * is 0. */
void as_col_decode(enum ggml_type t, const void *src, size_t out, float *dst);

/*
 * y[r0 .. r1) += sum_i x[i] * column_i[r0 .. r1) with the active level, the dense kernels'
 * (as_simd_active(): detected, ACTIVESWAP_SIMD or as_kernels_force()). cols[i] points at
 * the start of an encoded column of `out` values; r0 must be a multiple of
 * as_col_align(t) and r1 <= out (the padded tail of a column is never written to y).
 * y points at element 0 (not r0). Arguments out of these bounds make it a no-op.
 *
 * Q4_0 columns are integer kernels: for every block b of 32 rows and every group of 32
 * consecutive selected columns (i = 32 g .. 32 g + 31, the last group shorter), the
 * products a_i = x[i] * d_i[b] are quantized to int8 with one scale,
 *     s = max_i |a_i| / 127,  q_i = round-to-nearest-even(a_i * (127 / max_i |a_i|)),
 * the dot products acc[r] = sum_i q_i * (code_i[r] - 8) are exact integers, and
 *     y[r] = fma(s, (float)acc[r], y[r])          for the groups in increasing order.
 * Every level computes exactly these operations, so the levels agree bit for bit. Calls
 * over consecutive runs of a selection give the same result as one call when every run
 * but the last is a multiple of AS_SPARSE_Q4_GROUP columns long.
 */
#define AS_SPARSE_Q4_GROUP 32
void as_sparse_axpy(enum ggml_type t, float *y, size_t r0, size_t r1, size_t out,
		    const void *const *cols, const float *x, size_t n);

/* Same with an explicit level (clamped to what the CPU supports). */
void as_sparse_axpy_level(enum as_simd level, enum ggml_type t, float *y, size_t r0,
			  size_t r1, size_t out, const void *const *cols, const float *x,
			  size_t n);

/*
 * Thread ith of nth's share [*r0, *r1) of `out` rows (empty: *r0 >= *r1): contiguous runs
 * of 128 rows, a multiple of every as_col_align(), as the swapping runtime splits them.
 */
void as_sparse_rows(size_t out, int ith, int nth, size_t *r0, size_t *r1);

/*
 * Thread ith of nth's share of the whole product: as_sparse_axpy_level over the rows
 * as_sparse_rows(out, ith, nth) gives it (nothing for an empty share). For as_tp_run
 * tasks; the result does not depend on nth.
 */
void as_sparse_axpy_share(enum as_simd level, enum ggml_type t, float *y, size_t out,
			  const void *const *cols, const float *x, size_t n, int ith, int nth);

/* Level as_sparse_axpy uses (= as_simd_active()). */
enum as_simd as_sparse_level(void);

/*
 * K-quant columns (Documentation/store-format.md, "K-quant columns"): a Q4_K, Q5_K or Q6_K
 * matrix of `out` rows and `in` inputs (in a multiple of 256) keeps its codes in the
 * columns (4, 5 or 6 bits per row, padded to 64 rows, as_col_bytes()) and its scales in
 * one scale table (as_kq_table_bytes()). as_col_encode/decode do not take these types.
 */
bool as_kq_type(enum ggml_type t);   /* Q4_K, Q5_K, Q6_K */
int as_kq_width(enum ggml_type t);   /* bits per code: 4, 5, 6; 0 for other types */
size_t as_kq_sub(enum ggml_type t);  /* channels per scale sub-block: 32, 32, 16; else 0 */
/* A selection may be cut into chunks (calls) only between channels c and c' of different
 * c / AS_KQ_CUT: the sub-blocks then end at the same place in every cut. */
#define AS_KQ_CUT 32
/* Bytes of the scale table; 0 for another type, in not a multiple of 256, or too large. */
size_t as_kq_table_bytes(enum ggml_type t, size_t out, size_t in);
/* Row r of the matrix in its GGUF encoding (src: in / 256 blocks of type t) into codes
 * [0 .. in) (one byte per code) and row r's entries of the table. 0 or -EINVAL. */
int as_kq_split_row(enum ggml_type t, const void *src, size_t in, size_t out, size_t r,
		    uint8_t *codes, void *table);
/* The column of codes[0 .. out) (each < 2^width: else -EINVAL) into dst
 * (as_col_bytes(t, out) bytes). */
int as_kq_col_encode(enum ggml_type t, const uint8_t *codes, size_t out, void *dst);
/* The values of column c: dst[0 .. out). Nothing on bad arguments. */
void as_kq_col_decode(enum ggml_type t, const void *col, const void *table, size_t out,
		      size_t in, size_t c, float *dst);
/*
 * y[r0 .. r1) += sum_i x[i] * column ch[i] of the matrix, for columns cols[i] of channels
 * ch[i] (strictly increasing, < in: otherwise a no-op, as for r0 not a multiple of 64,
 * r1 > out or a bad type/shape). Per run of selected channels in one sub-block
 * (s = ch / as_kq_sub(t); a run also ends with the call), in order, the run's activations
 * are rounded to int16 with one scale:
 *     amax = max_i |x_i|,  q_i = rint(x_i / amax * AS_KQ_QMAX),  S = amax / AS_KQ_QMAX
 *     sx   = S * (sum_i q_i)            (the rounded activations' sum: the mins cancel)
 * (all q_i = 0 when amax = 0; S = NaN when an x_i is not finite); for every row the
 * integer sum acc = sum_i q_i code_i (Q6_K: code_i - 32) is exact, and
 *     y = y + fma(D S, acc, -(M * sx))        Q4_K, Q5_K: D = d sc, M = dmin m
 *     y = fma(D S, acc, y)                    Q6_K:       D = d sc
 * (D S, M sx: float products). The rounding error is at most amax / (2 AS_KQ_QMAX) per
 * activation, below 2e-5 of the run's largest: the float product's to about 1e-5 of the
 * sum of |terms|. Every level computes exactly these operations, so the levels agree bit
 * for bit, and so do calls over consecutive runs of a selection cut as AS_KQ_CUT says.
 */
#define AS_KQ_QMAX 32767
void as_kq_axpy_level(enum as_simd level, enum ggml_type t, float *y, size_t r0, size_t r1,
		      size_t out, size_t in, const void *table, const void *const *cols,
		      const uint32_t *ch, const float *x, size_t n);
/* Thread ith of nth's rows (as_sparse_rows) of as_kq_axpy_level. */
void as_kq_axpy_share(enum as_simd level, enum ggml_type t, float *y, size_t out, size_t in,
		      const void *table, const void *const *cols, const uint32_t *ch,
		      const float *x, size_t n, int ith, int nth);

/*
 * Top-K by magnitude: writes to idx the k indices of the largest |x[i]| in increasing
 * index order (ties: the lower index wins), k = n keeps all. scratch holds n floats.
 * Deterministic. Returns k.
 */
size_t as_topk_select(const float *x, size_t n, size_t k, uint32_t *idx, float *scratch);

/*
 * Threshold by magnitude (TEAL-style): writes to idx the indices i with |x[i]| >= t in
 * increasing order (compared as IEEE bits like as_topk_select: NaNs above infinity;
 * t <= 0 keeps all) and returns their count, anything from 0 to n.
 */
size_t as_threshold_select(const float *x, size_t n, float t, uint32_t *idx);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The batch's product over the union of its selections (internal to the runtime; used by
 * the stores' batched prompt path, runtime/swap_union.c; Documentation/swapping.md,
 * "Prompts: one product over the union").
 *
 * A batch of n positions, each with its own Top-K selection of a group's input channels,
 * is computed as ONE matrix-matrix product over the union of their selections, in
 * integers as the single-token Q4_0 kernel computes (sparse.h): the union's Q4_0 columns
 * are re-laid once per batch and tile of rows into a row-major panel of 4-bit codes (one
 * byte each, four columns per dword), every position's activations, masked to its own
 * selection (0 where it did not select a channel), are quantized to int8, and exact
 * integer dot products (vpdpbusd on AVX-512 VNNI, vpmaddubsw on AVX2) run over all
 * positions against the panel.
 *
 * Groups: the union's channels are grouped by channel / AS_SG_GROUP (the input's block,
 * not the place in the union); each group takes the next (its size rounded up to 4)
 * slots, in increasing channel order, the slots past its columns empty. For position t
 * and output row r in block b = r / 32 of the columns, Y[t][r] starts at +0 and for every
 * group, in order:
 *     a_i = x[t][i] * d_i[b]                 (the group's columns; x 0 where t did not
 *                                             select channel i)
 *     s, q_i, corr: as_q4_prep_scalar's (sparse_impl.h): s = max |a_i| / 127,
 *                   q_i = round-to-nearest-even(a_i * (127 / max |a_i|)) (0 when the
 *                   max is 0), corr = -8 * sum q_i
 *     acc = corr + sum_i q_i * code_i[r]     (exact integers)
 *     Y[t][r] = fmaf(s, (float)acc, Y[t][r])
 * A group in which t selected nothing adds fmaf(0, 0, Y) = Y (Y is never -0), so a
 * position's result depends only on its own activations and selection: not on the other
 * positions of the batch, the chunking of the prompt, the thread count, where the columns
 * live (budget, backend), nor on the SIMD level (every level computes these integers,
 * roundings and fused multiply-adds). The groups are the single-token kernel's (32
 * consecutive selected columns) only when every channel is selected: then a batch equals
 * token-by-token processing bit for bit; with a Top-K it agrees to rounding only.
 */
#ifndef ACTIVESWAP_SPARSE_GEMM_H
#define ACTIVESWAP_SPARSE_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/kernels.h"

#define AS_SG_GROUP 32   /* channels per activation group (channel / 32) */
#define AS_SG_TILE 16    /* blocks of 32 rows per tile of rows (512 rows) */
#define AS_SG_PGROUPS 8  /* groups per panel (at most 256 slots) */
#define AS_SG_MR 4       /* positions of the micro-kernel */
#define AS_SG_STRIP 16   /* rows of the micro-kernel */
/* Bytes of a tile's panel per four slots (AS_SG_TILE * 32 rows of 4 codes). */
#define AS_SG_WST ((size_t)AS_SG_TILE * 32 * 4)
/* The quantized activations of one position and group: 8 dwords of 4 codes per block. */
#define AS_SG_QG ((size_t)AS_SG_GROUP / 4 * AS_SG_TILE)
/* Bytes of one thread's scratch: the panel, then the MR positions' int8 activations,
 * scales and corrections. */
#define AS_SG_SCRATCH                                                             \
	((size_t)AS_SG_PGROUPS * AS_SG_GROUP / 4 * AS_SG_WST +                    \
	 (size_t)AS_SG_MR * AS_SG_PGROUPS * (AS_SG_QG * 4 + AS_SG_TILE * 8))

/* Column types the union product takes (Q4_0). */
bool as_sg_type_ok(enum ggml_type t);

/* Slots a union of channels below `in` may take: in rounded up to AS_SG_GROUP. */
static inline size_t as_sg_slots_max(size_t in)
{
	return (in + AS_SG_GROUP - 1) / AS_SG_GROUP * AS_SG_GROUP;
}

/*
 * The groups of a union of k channels ch[0 .. k) (strictly increasing): group g holds
 * gm[g] columns (union members ch[sum of gm[0 .. g) ..]) in slots gs[g] .. gs[g] + gm[g]
 * and its slots end at gs[g + 1] (a multiple of 4). gs and gm hold at least
 * (ch[k - 1] / AS_SG_GROUP + 2) entries. Returns the number of groups; gs[ng] is the
 * number of slots.
 */
size_t as_sg_layout(const uint32_t *ch, size_t k, uint32_t *gs, uint32_t *gm);

/*
 * Thread ith of nth's share (the rows as_sparse_rows(out, ith, nth)) of the product
 * above for n positions: cols[s] the encoded column (sparse.h, `out` values of type t) in
 * slot s of the layout gs, gm, ng (NULL in an empty slot), xm[p * gs[ng] + s] position
 * p's masked activation of slot s (0 in an empty slot), Y[p * ldy + r] its output. The
 * share's rows of Y are overwritten. scratch: AS_SG_SCRATCH bytes of the calling
 * thread's own.
 */
void as_sg_share(enum as_simd level, enum ggml_type t, float *Y, size_t ldy, size_t out,
		 const void *const *cols, const float *xm, const uint32_t *gs,
		 const uint32_t *gm, size_t ng, size_t n, void *scratch, int ith, int nth);

/*
 * Panel of a tile: the codes of the rows 128 c0 .. 128 (c0 + nch) - 1 (nch <= 2) of the
 * columns cols[0 .. 4 ns4) (NULL: codes 0) into
 *     w[(s / 4) * AS_SG_WST + 4 * row + s % 4] = code of column s at row 128 c0 + row
 * (qoff: the bytes of a column's scales). Every level writes the same bytes.
 */
typedef void (*as_sg_pack_fn)(const void *const *cols, size_t ns4, size_t qoff, size_t c0,
			      size_t nch, uint8_t *w);
void as_sg_pack_scalar(const void *const *cols, size_t ns4, size_t qoff, size_t c0,
		       size_t nch, uint8_t *w);
void as_sg_pack_avx2(const void *const *cols, size_t ns4, size_t qoff, size_t c0,
		     size_t nch, uint8_t *w);

/* One group's as_q4_prep_scalar for the blocks b0 .. b0 + nb - 1, at a level. */
typedef void (*as_sg_prep_fn)(const void *const *cols, const float *x, size_t m, size_t b0,
			      size_t nb, uint32_t *qa, size_t stride, float *sa,
			      int32_t *corr);
void as_sg_prep_avx2(const void *const *cols, const float *x, size_t m, size_t b0,
		     size_t nb, uint32_t *qa, size_t stride, float *sa, int32_t *corr);
void as_sg_prep_avx512(const void *const *cols, const float *x, size_t m, size_t b0,
		       size_t nb, uint32_t *qa, size_t stride, float *sa, int32_t *corr);

/*
 * Micro-kernel: positions p < m (m <= AS_SG_MR) by AS_SG_STRIP rows e, over the groups
 * g < ng of a panel (slots gs[g] .. gs[g + 1], gs[0] = 0), in order:
 *     acc = corr[p * pst + g * AS_SG_TILE]
 *           + sum over slots s of the group of q(p, g, s) * w[(s / 4) * AS_SG_WST + 4 e + s % 4]
 *     Y[p * ldy + e] = fmaf(sa[p * pst + g * AS_SG_TILE], (float)acc, Y[p * ldy + e])
 * where q(p, g, s) is byte s % 4 of qa[p * qst + g * AS_SG_QG + (s - gs[g]) / 4 *
 * AS_SG_TILE] as int8. Levels compute the same bits.
 */
typedef void (*as_sg_kern_fn)(float *Y, size_t ldy, const uint8_t *w, const uint32_t *qa,
			      size_t qst, const float *sa, const int32_t *corr, size_t pst,
			      const uint32_t *gs, size_t ng, size_t m);
void as_sg_kern_scalar(float *Y, size_t ldy, const uint8_t *w, const uint32_t *qa,
		       size_t qst, const float *sa, const int32_t *corr, size_t pst,
		       const uint32_t *gs, size_t ng, size_t m);
void as_sg_kern_avx2(float *Y, size_t ldy, const uint8_t *w, const uint32_t *qa, size_t qst,
		     const float *sa, const int32_t *corr, size_t pst, const uint32_t *gs,
		     size_t ng, size_t m);
void as_sg_kern_avx512(float *Y, size_t ldy, const uint8_t *w, const uint32_t *qa,
		       size_t qst, const float *sa, const int32_t *corr, size_t pst,
		       const uint32_t *gs, size_t ng, size_t m);

#endif

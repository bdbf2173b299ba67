/* SPDX-License-Identifier: MIT */
/* The conversion's state, shared by convert.c and convert_experts.c (not installed). */
#ifndef ACTIVESWAP_CONVERT_IMPL_H
#define ACTIVESWAP_CONVERT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "activeswap/convert.h"
#include "activeswap/model.h"
#include "libswap.h"

struct as_threadpool;

struct conv {
	const struct as_convert_params *p;
	const struct as_model *m;
	struct swap_writer *w;
	enum ggml_type type[AS_OP_COUNT]; /* target type per op */
	uint32_t outp[AS_OP_COUNT];       /* padded output length */
	uint64_t colb[AS_OP_COUNT];       /* bytes per encoded column */
	bool kq[AS_OP_COUNT];             /* K-quant codes + scale tables (sparse_kq.c) */
	uint32_t *kq_res;                 /* [n_layer][AS_OP_COUNT]: resident index of a table */
	uint64_t done, total;             /* progress, bytes */
	const struct as_convert_source *src; /* NULL: every tensor is in the mapping */
	struct as_threadpool *tp;         /* p->threads; NULL for one */
};

/* Columns transposed per thread at a time (convert.c's encode_matrix). */
#define AS_CONVERT_TBLK 16

bool conv_cancelled(const struct as_convert_params *p);
/* Every column of one matrix encoded (cv->type[op], padded to cv->outp[op]) into kb at
 * kb + j * stride + moff, on cv's threads; rows: the matrix dequantized (rows x cols
 * floats), cols: col_floats per thread. */
int conv_encode_matrix(struct conv *cv, const struct as_weight *wt, enum as_op op,
		       uint8_t *kb, uint64_t stride, uint64_t moff, float *rows, float *cols,
		       uint64_t col_floats);
void conv_progress_add(struct conv *cv, uint64_t n);

/* convert_experts.c: a mixture-of-experts model's expert kinds (store-format.md,
 * "Experts" and "Low-precision experts"): described into d (0 or -EINVAL with one
 * line), then layer l's expert bundles written (after its other kinds, before a
 * layer-by-layer source drops it). */
int describe_experts(struct conv *cv, struct swap_store_desc *d, char *err, size_t errlen);
int convert_experts(struct conv *cv, uint32_t l);

#endif

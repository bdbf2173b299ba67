/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between runtime/sparse.c and its per-ISA files (sparse_avx2.c,
 * sparse_avx512.c). Not public.
 */
#ifndef ACTIVESWAP_SPARSE_IMPL_H
#define ACTIVESWAP_SPARSE_IMPL_H

#include <stddef.h>

#include "activeswap/sparse.h"

/*
 * y[0 .. nelem) += sum_i x[i] * column_i[0 .. nelem), where column i starts at
 * (const uint8_t *)cols[i] + off bytes. For block types nelem is a multiple of 32.
 * Columns are accumulated in order i = 0 .. n-1 for every element.
 */
typedef void (*as_sparse_fn)(float *y, size_t nelem, const void *const *cols, size_t off,
			     const float *x, size_t n);

enum as_sparse_kind { AS_SP_F32, AS_SP_F16, AS_SP_BF16, AS_SP_Q8_0, AS_SP_Q4_0, AS_SP_COUNT };

struct as_sparse_table {
	as_sparse_fn fn[AS_SP_COUNT]; /* NULL: the level below */
};

void as_sparse_avx2_init(struct as_sparse_table *t);
void as_sparse_avx512_init(struct as_sparse_table *t);

#endif

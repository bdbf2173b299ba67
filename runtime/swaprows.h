/* SPDX-License-Identifier: MIT */
/*
 * The dense row copy of a store (internal to the runtime; Documentation/swapping.md,
 * "Sparsity 0: the row copy").
 *
 * `activeswap convert --rows` also writes every layer matrix in its GGUF row encoding as a
 * resident tensor under its GGUF name (blk.L.attn_q.weight, ...). With every sparsity level
 * at 0 the runtime computes from these rows with the dense runtime's matvec kernels instead
 * of accumulating columns: the layers that fit the budget are read once at open, the
 * others are streamed a layer at a time
 * through two buffers by a reader thread, the next streamed layer read while the current
 * one computes. Resident and streamed layers are repacked alike (Q4_0 into the dense
 * loader's Q4_0_X16 layout, whose kernels round differently from the plain ones), so the
 * numerics do not depend on which layers are resident.
 */
#ifndef ACTIVESWAP_SWAPROWS_H
#define ACTIVESWAP_SWAPROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "activeswap/model.h"
#include "libswap.h"

struct as_rows;

/*
 * The attention's widths as the store's bundle kinds state them (runtime/swap_open.c checks
 * them against the hyper-parameters): q, the attention width n_head * head_dim (O's input),
 * and kv, the K/V rows (0 when ATTN_IN has no K matrix: nothing then matches it).
 */
static inline void as_rows_widths(const struct swap_store_desc *d, uint64_t *q, uint64_t *kv)
{
	*q = d->kinds[SWAP_ATTN_OUT].in;
	*kv = d->kinds[SWAP_ATTN_IN].n_mats > 1 ? d->kinds[SWAP_ATTN_IN].mats[1].out : 0;
}

/* Is name the GGUF name of a layer matrix (blk.N.attn_q.weight ... blk.N.ffn_down.weight)? */
bool as_rows_is_matrix_name(const char *name);

/*
 * Does the store hold a complete row copy? 0: yes, and *total / *max_layer (may be NULL)
 * get the bytes of all layers / of the largest layer as held in memory (every matrix
 * rounded up to SWAP_ALIGN); -ENOENT: no row matrix at all; -EINVAL with one line in err:
 * a partial copy or a matrix of the wrong type or shape.
 */
int as_rows_check(const struct swap_store *st, uint64_t *total, uint64_t *max_layer,
		  char *err, size_t errlen);

/*
 * Plan and load: the leading layers that fit `avail` bytes (UINT64_MAX: all) beside the
 * streaming buffers are read now; verify checks every matrix's crc32c when read (-EBADMSG).
 * -ENOENT: the store has no row copy. -ENOSPC (err states the minimum) when avail holds
 * neither everything nor two layers.
 */
int as_rows_open(struct as_rows **out, const struct swap_store *st, uint64_t avail,
		 bool verify, char *err, size_t errlen);
void as_rows_close(struct as_rows *r);

/* Layer l's matrices in w[AS_OP_COUNT]; waits for its read when it is streamed (that wait
 * is the layer's stall). Valid until as_rows_layer_done(l). 0 or the read's error. */
int as_rows_layer(struct as_rows *r, uint32_t layer, struct as_weight *w);
/* The compute of layer l is over: its buffer takes the next streamed layer. */
void as_rows_layer_done(struct as_rows *r, uint32_t layer);

uint32_t as_rows_resident_layers(const struct as_rows *r);
uint64_t as_rows_mem_bytes(const struct as_rows *r); /* resident layers + buffers */
const char *as_rows_io_name(const struct as_rows *r); /* "rows-odirect" / "rows-buffered" */
void as_rows_layer_stats(struct as_rows *r, uint32_t layer, uint64_t *reads,
			 uint64_t *bytes, uint64_t *stall_ns);
/* The stall of every layer so far (the sum of the layers' stall_ns). */
uint64_t as_rows_stall_ns(struct as_rows *r);

#endif

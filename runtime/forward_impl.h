/* SPDX-License-Identifier: MIT */
/*
 * Internal to the forward pass: the per-position arithmetic that forward.c (one token)
 * and forward_batch.c (a batch) share, so that both compute every position alike.
 */
#ifndef ACTIVESWAP_FORWARD_IMPL_H
#define ACTIVESWAP_FORWARD_IMPL_H

#include <stddef.h>

#include "activeswap/forward.h"

/* x += b when the op has a bias (b not NULL) */
void as_fw_add_bias(float *x, const float *b, size_t n);
/* hb = silu(hb) * hb2 */
void as_fw_swiglu(float *hb, const float *hb2, size_t n);
/* Q, K and V of one position after their products: biases, per-head norms, RoPE with the
 * position's table rope (as_rope_table_scaled) */
void as_fw_qk_finish(const struct as_hparams *hp, const struct as_layer *L, float *q,
		     float *k, float *v, const float *rope);
/* Free s->batch (forward_batch.c), for as_state_free. */
void as_fw_batch_free(struct as_state *s);

#endif

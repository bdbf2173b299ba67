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
/* Position pos of layer's part of the KV cache `cache` (s->k_cache or s->v_cache) */
void *as_fw_kv_at(const struct as_state *s, void *cache, uint32_t layer, uint32_t pos);
/* n positions' K and V rows k, v [n][kv_dim], computed in F32, into an F16 cache at
 * positions pos.. of layer (rounded to nearest even); nothing for an F32 cache, where
 * they were computed in place. */
void as_fw_kv_store(struct as_state *s, uint32_t layer, uint32_t pos, uint32_t n,
		    const float *k, const float *v);
/* Free s->batch (forward_batch.c), for as_state_free. */
void as_fw_batch_free(struct as_state *s);

#endif

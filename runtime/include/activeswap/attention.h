/* SPDX-License-Identifier: MIT */
/*
 * The attention pieces of the forward pass (forward.c): RoPE in llama.cpp's "normal" mode
 * and causal multi-head attention with grouped KV heads over an F32 KV cache.
 */
#ifndef ACTIVESWAP_ATTENTION_H
#define ACTIVESWAP_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

/* tab[n_rot] = (cos, sin) pairs for position pos, computed as ggml does
 * (theta_i = pos * base^(-2i/n_rot), accumulated by repeated multiplication). */
void as_rope_table(float *tab, uint32_t n_rot, float base, uint32_t pos);

/* Rotate the adjacent pairs (2i, 2i+1) of the first n_rot dims of each of n_heads heads
 * of head_dim values (v is n_heads * head_dim). */
void as_rope_apply(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot,
		   const float *tab);

/* Geometry of one layer's KV cache: positions of kv_dim = n_kv_heads * head_dim floats. */
struct as_attn_geom {
	size_t head_dim;
	size_t kv_dim;
	size_t group;      /* query heads per KV head */
	size_t att_stride; /* floats between the score rows of two heads (>= pos + 1) */
};

/* Heads [h0, h1): out[h] = softmax(q[h] . K[0..pos] / sqrt(head_dim)) V[0..pos], with
 * K/V of KV head h / group; att holds each head's score row. */
void as_attention_heads(const struct as_attn_geom *g, const float *q, const float *kc,
			const float *vc, uint32_t pos, float *att, float *out, size_t h0,
			size_t h1);

#endif

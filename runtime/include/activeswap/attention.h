/* SPDX-License-Identifier: MIT */
/*
 * The attention pieces of the forward pass (forward.c): RoPE in llama.cpp's "normal" and
 * "neox" modes, with linear scaling and per-pair frequency factors, and causal multi-head
 * attention with grouped KV heads over a KV cache of F32 or F16 elements.
 */
#ifndef ACTIVESWAP_ATTENTION_H
#define ACTIVESWAP_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

/* tab[n_rot] = (cos, sin) pairs for position pos, computed as ggml does
 * (theta_i = pos * base^(-2i/n_rot), accumulated by repeated multiplication). */
void as_rope_table(float *tab, uint32_t n_rot, float base, uint32_t pos);

/* The same with ggml's scaling: the angle of pair i is freq_scale * (theta_i / ff[i]),
 * ff = freq_factors (n_rot / 2 values, a Llama 3.1 rope_freqs tensor) or 1 when NULL.
 * With freq_scale 1 and no factors the table is as_rope_table's, bit for bit. */
void as_rope_table_scaled(float *tab, uint32_t n_rot, float base, float freq_scale,
			  const float *freq_factors, uint32_t pos);

/* Rotate the adjacent pairs (2i, 2i+1) of the first n_rot dims of each of n_heads heads
 * of head_dim values (v is n_heads * head_dim). */
void as_rope_apply(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot,
		   const float *tab);

/* NEOX mode (qwen2, qwen3): rotate the pairs (i, i + n_rot/2), i < n_rot/2, of each head
 * with the angle of table entry i (tab[2i], tab[2i+1]). */
void as_rope_apply_neox(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot,
			const float *tab);

/*
 * The KV cache's element type. F16 (llama.cpp's default cache type) halves the cache:
 * K and V are computed in F32 and rounded to F16 (to nearest even) as they are stored;
 * attention reads them back exactly. 0 is F32, the runtime's own default (as_state_new);
 * the CLI and the library default to F16.
 */
enum as_kv_type {
	AS_KV_F32 = 0,
	AS_KV_F16 = 1,
};

/* Bytes of one cached element: 4 or 2. */
static inline size_t as_kv_elem_bytes(enum as_kv_type t)
{
	return t == AS_KV_F16 ? 2 : 4;
}
/* "f32" / "f16" */
const char *as_kv_type_name(enum as_kv_type t);
/* The type named name ("f16", "f32"), or -1. */
int as_kv_type_parse(const char *name);

/* Geometry of one layer's KV cache: positions of kv_dim = n_kv_heads * head_dim elements
 * of type kv_type. */
struct as_attn_geom {
	size_t head_dim;
	size_t kv_dim;
	size_t group;      /* query heads per KV head */
	size_t att_stride; /* floats between the score rows of two heads (>= pos + 1) */
	enum as_kv_type kv_type;
};

/* Heads [h0, h1): out[h] = softmax(q[h] . K[0..pos] / sqrt(head_dim)) V[0..pos], with
 * K/V of KV head h / group (kc, vc: the layer's cache, elements of g->kv_type); att holds
 * each head's score row. */
void as_attention_heads(const struct as_attn_geom *g, const float *q, const void *kc,
			const void *vc, uint32_t pos, float *att, float *out, size_t h0,
			size_t h1);

#endif

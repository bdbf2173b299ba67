// SPDX-License-Identifier: MIT
#include <math.h>
#include <string.h>

#include "activeswap/attention.h"
#include "activeswap/kernels.h"

void as_rope_table(float *tab, uint32_t n_rot, float base, uint32_t pos)
{
	float theta_scale = powf(base, -2.0f / (float)n_rot);
	float theta = (float)pos;

	for (uint32_t i = 0; i < n_rot; i += 2) {
		tab[i] = cosf(theta);
		tab[i + 1] = sinf(theta);
		theta *= theta_scale;
	}
}

void as_rope_table_scaled(float *tab, uint32_t n_rot, float base, float freq_scale,
			  const float *freq_factors, uint32_t pos)
{
	float theta_scale = powf(base, -2.0f / (float)n_rot);
	float theta = (float)pos;

	for (uint32_t i = 0; i < n_rot; i += 2) {
		float ff = freq_factors ? freq_factors[i / 2] : 1.0f;
		float t = freq_scale * (theta / ff);

		tab[i] = cosf(t);
		tab[i + 1] = sinf(t);
		theta *= theta_scale;
	}
}

void as_rope_apply_neox(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot,
			const float *tab)
{
	uint32_t half = n_rot / 2;

	for (uint32_t h = 0; h < n_heads; h++) {
		float *p = v + (size_t)h * head_dim;

		for (uint32_t i = 0; i < half; i++) {
			float c = tab[2 * i], sn = tab[2 * i + 1], a = p[i], b = p[i + half];

			p[i] = a * c - b * sn;
			p[i + half] = a * sn + b * c;
		}
	}
}

void as_rope_apply(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot,
		   const float *tab)
{
	for (uint32_t h = 0; h < n_heads; h++) {
		float *p = v + (size_t)h * head_dim;

		for (uint32_t i = 0; i < n_rot; i += 2) {
			float c = tab[i], sn = tab[i + 1], a = p[i], b = p[i + 1];

			p[i] = a * c - b * sn;
			p[i + 1] = a * sn + b * c;
		}
	}
}

const char *as_kv_type_name(enum as_kv_type t)
{
	return t == AS_KV_F16 ? "f16" : "f32";
}

int as_kv_type_parse(const char *name)
{
	if (!strcmp(name, "f16"))
		return AS_KV_F16;
	if (!strcmp(name, "f32"))
		return AS_KV_F32;
	return -1;
}

/* name(): score row a[0..pos] of query head qh over KV head kvh of a cache of T
 * elements (dot), softmax, then o = the rows of V weighted by it (axpy). */
#define ATTN_HEAD(name, T, dot, axpy)                                                    \
	static void name(const struct as_attn_geom *g, const float *qh, const T *kc,     \
			 const T *vc, size_t kvh, uint32_t pos, float scale, float *a,   \
			 float *o)                                                       \
	{                                                                                \
		size_t hd = g->head_dim;                                                 \
                                                                                         \
		for (uint32_t t = 0; t <= pos; t++)                                      \
			a[t] = dot(qh, kc + t * g->kv_dim + kvh * hd, hd) * scale;       \
		as_softmax(a, pos + 1);                                                  \
		memset(o, 0, hd * sizeof(float));                                        \
		for (uint32_t t = 0; t <= pos; t++)                                      \
			axpy(o, a[t], vc + t * g->kv_dim + kvh * hd, hd);                \
	}

ATTN_HEAD(head_f32, float, as_dot_f32, as_axpy_f32)
ATTN_HEAD(head_f16, as_fp16_t, as_dot_f16, as_axpy_f16)

void as_attention_heads(const struct as_attn_geom *g, const float *q, const void *kc,
			const void *vc, uint32_t pos, float *att, float *out, size_t h0,
			size_t h1)
{
	size_t hd = g->head_dim;
	float scale = 1.0f / sqrtf((float)hd);

	for (size_t h = h0; h < h1; h++) {
		const float *qh = q + h * hd;
		size_t kvh = h / g->group;
		float *a = att + h * g->att_stride, *o = out + h * hd;

		if (g->kv_type == AS_KV_F16)
			head_f16(g, qh, kc, vc, kvh, pos, scale, a, o);
		else
			head_f32(g, qh, kc, vc, kvh, pos, scale, a, o);
	}
}

// SPDX-License-Identifier: MIT
/*
 * The tensors of a generated model (runtime/mkmodel.c): their names, shapes and types
 * in file order (llama's nine per layer, the architectures' extras, the experts, a
 * K-quant mix's choices), and their seeded values, quantized row by row.
 *
 * Weights are uniform with standard deviation 1/sqrt(fan_in) (fan_in = ne[0], the row
 * length), norms are 1.0, so activations keep unit scale through every layer. Each row
 * is generated from its own PRNG stream keyed by (seed, tensor, row): the output is
 * identical whatever the thread count.
 */
#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/quant.h"
#include "mkmodel_impl.h"

/* ---- random numbers ----------------------------------------------------------------- */

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct xrng {
	uint64_t s[4];
};

static void xrng_seed(struct xrng *r, uint64_t seed, uint64_t tensor, uint64_t row)
{
	uint64_t k = seed ^ (tensor * 0xd1b54a32d192ed03ull) ^ (row * 0x8cb92ba72f3d8dd7ull);

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&k);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256+ (the low bits are weak; only the top 24 of each half are used) */
static inline uint64_t xrng_next(struct xrng *r)
{
	uint64_t *s = r->s, res = s[0] + s[3], t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* n uniform values in [-a, a) */
static void fill_uniform(struct xrng *r, float *x, size_t n, float a)
{
	const float k = 2.0f * a / 16777216.0f;
	size_t i = 0;

	for (; i + 1 < n; i += 2) {
		uint64_t v = xrng_next(r);

		x[i] = (float)(uint32_t)(v >> 40) * k - a;
		x[i + 1] = (float)(uint32_t)((v >> 8) & 0xffffff) * k - a;
	}
	if (i < n)
		x[i] = (float)(uint32_t)(xrng_next(r) >> 40) * k - a;
}

/* ---- tensor generation -------------------------------------------------------------- */

/*
 * Llama 3.1's RoPE scaling as divisors of each pair's frequency (what llama.cpp's
 * converter writes as rope_freqs.weight): 1 for wavelengths under 8192 / 4, 8 over
 * 8192 / 1, a smooth blend between.
 */
static void llama3_rope_factors(float *out, uint64_t n_pairs, float base)
{
	const double factor = 8.0, lo = 1.0, hi = 4.0, orig = 8192.0;
	const double pi = 3.14159265358979323846;

	for (uint64_t i = 0; i < n_pairs; i++) {
		double freq = 1.0 / pow(base, (double)(2 * i) / (double)(2 * n_pairs));
		double wavelen = 2.0 * pi / freq, smooth;

		if (wavelen < orig / hi) {
			out[i] = 1.0f;
		} else if (wavelen > orig / lo) {
			out[i] = (float)factor;
		} else {
			smooth = (orig / wavelen - lo) / (hi - lo);
			out[i] = (float)(1.0 / ((1.0 - smooth) / factor + smooth));
		}
	}
}

/*
 * --draw-blocks: a row of Q4_0 or Q8_0 blocks drawn as codes and scales instead of
 * quantized floats. Codes are uniform (Q4_0: 0..15, the value (q - 8) d; Q8_0:
 * -127..127), taken from the upper 32 bits of each output; each block's scale has a
 * random sign and a magnitude in [0.9, 1) of a / 8 (Q4_0) or a / 127 (Q8_0), so that the
 * block spans about [-a, a) as the floats' quantization would: a standard deviation of
 * about 0.55 a against the floats' a / sqrt(3) = 0.58 a.
 */
static void draw_row(struct xrng *r, enum ggml_type type, uint8_t *dst, uint64_t n, float a)
{
	const float k = 0.1f / 16777216.0f;
	bool q4 = type == GGML_TYPE_Q4_0;
	uint64_t nb = n / 32, bytes = q4 ? QK4_0 / 2 : QK8_0;
	size_t bsz = q4 ? sizeof(struct block_q4_0) : sizeof(struct block_q8_0);

	for (uint64_t b = 0; b < nb; b++) {
		uint8_t *blk = dst + b * bsz, *qs = blk + sizeof(as_fp16_t);
		uint64_t v = xrng_next(r);
		float d = a / (q4 ? 8.0f : 127.0f) * (0.9f + (float)(uint32_t)(v >> 40) * k);
		as_fp16_t h = as_fp32_to_fp16(v & (1ull << 39) ? -d : d);

		memcpy(blk, &h, sizeof(h));
		for (uint64_t i = 0; i < bytes; i += 4) {
			uint32_t w = (uint32_t)(xrng_next(r) >> 32);

			memcpy(qs + i, &w, 4);
		}
		for (uint64_t i = 0; !q4 && i < bytes; i++)
			if (qs[i] == 0x80)
				qs[i] = 0x81; /* -128 -> -127 */
	}
}

/* Does tensor t get drawn blocks? Q4_0 / Q8_0 weights, not the expert topics' rows. */
static bool mk_draws(const struct mk_tdesc *t, bool draw_blocks)
{
	return draw_blocks && t->gen == GEN_WEIGHT && !t->topics &&
	       (t->type == GGML_TYPE_Q4_0 || t->type == GGML_TYPE_Q8_0);
}

void *mk_gen_rows(void *arg)
{
	struct mk_job *j = arg;
	const struct mk_tdesc *t = j->t;
	float a = sqrtf(3.0f / (float)t->ne[0]);
	struct xrng r;

	j->rc = 0;
	for (uint64_t i = 0; i < j->nrows; i++) {
		uint64_t row = j->row0 + i;

		if (mk_draws(t, j->draw_blocks)) {
			xrng_seed(&r, j->seed, j->tensor_idx, row);
			draw_row(&r, t->type, j->out + i * t->row_bytes, t->ne[0], a);
			continue;
		}
		if (t->gen == GEN_ROPE_FREQS) {
			llama3_rope_factors(j->tmp, t->ne[0], t->rope_base);
		} else if (t->gen == GEN_ONES) {
			for (uint64_t k = 0; k < t->ne[0]; k++)
				j->tmp[k] = 1.0f;
		} else {
			xrng_seed(&r, j->seed, j->tensor_idx, row);
			fill_uniform(&r, j->tmp, t->ne[0], t->gen == GEN_BIAS ? 0.5f :
				     t->gen == GEN_NEAR_ONE ? 0.25f : a);
			for (uint64_t k = 0; t->gen == GEN_NEAR_ONE && k < t->ne[0]; k++)
				j->tmp[k] += 1.0f;
		}
		if (t->topics)
			j->tmp[row % t->topics] += t->topic_amp;
		j->rc = as_quant_row(t->type, j->tmp, j->out + i * t->row_bytes, t->ne[0]);
		if (j->rc)
			break;
	}
	return NULL;
}

/* Per-layer tensors of an architecture beyond Llama's nine. */
static size_t arch_extra_count(enum as_arch a)
{
	return a == AS_ARCH_QWEN2 ? 3 : a == AS_ARCH_QWEN3 || a == AS_ARCH_QWEN3MOE ? 2 : 0;
}

/* Describe layer l's extra tensors into t (F32 vectors); returns how many. */
static size_t arch_extras(enum as_arch a, uint64_t l, uint64_t hd, uint64_t q_dim,
			  uint64_t kv_dim, struct mk_tdesc *t)
{
	static const char *const qwen2[] = { "attn_q.bias", "attn_k.bias", "attn_v.bias" };
	static const char *const qwen3[] = { "attn_q_norm.weight", "attn_k_norm.weight" };
	size_t n = arch_extra_count(a);

	for (size_t i = 0; i < n; i++) {
		snprintf(t[i].name, sizeof(t[i].name), "blk.%llu.%s", (unsigned long long)l,
			 a == AS_ARCH_QWEN2 ? qwen2[i] : qwen3[i]);
		t[i].type = GGML_TYPE_F32;
		t[i].n_dims = 1;
		t[i].ne[0] = a != AS_ARCH_QWEN2 ? hd : i == 0 ? q_dim : kv_dim;
		t[i].ne[1] = 1;
		t[i].ne[2] = 1;
		t[i].norm = true;
		t[i].gen = a == AS_ARCH_QWEN2 ? GEN_BIAS : GEN_NEAR_ONE;
	}
	return n;
}

/*
 * Expert topics (--expert-topics N): token t and expert e belong to topic t % N and
 * e % N; t's embedding has MK_EMBD_TOPIC at coordinate t % N (as much as the rest of the
 * row: the residual stream carries its token's topic), t's output row and e's router
 * row lean towards their topic's coordinate. So greedy decoding stays among the tokens of
 * the topic it is in and the router picks among that topic's experts: a per-sequence
 * subset with temporal locality, for showing an expert cache's effect.
 */
#define MK_EMBD_TOPIC 2.0f
#define MK_OUTPUT_TOPIC 2.0f
#define MK_ROUTER_TOPIC 0.5f

/*
 * Layer l's MoE tensor for ffn slot b (0 gate, 1 up, 2 down) into t: before the gate,
 * the router ffn_gate_inp {dim, experts} (F32, as llama-quantize leaves it, uniform with
 * the weights' 1/sqrt(dim) scale: logits of about unit spread, so the top-k choice is
 * rarely near a tie; a larger scale would not help, it scales the logits' differences
 * and their numeric noise alike); then ffn_{gate,up,down}_exps, 3-D. Returns how many.
 */
static size_t moe_tensors(const struct as_mkmodel_params *o, uint64_t l, size_t b,
			  struct mk_tdesc *t)
{
	static const char *const exps[] = { "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps" };
	const struct as_mkmodel_shape *s = &o->shape;
	size_t k = 0;

	if (b == 0) {
		snprintf(t[k].name, sizeof(t[k].name), "blk.%llu.ffn_gate_inp.weight",
			 (unsigned long long)l);
		t[k].type = GGML_TYPE_F32;
		t[k].n_dims = 2;
		t[k].ne[0] = s->dim;
		t[k].ne[1] = o->experts;
		t[k].ne[2] = 1;
		t[k].gen = GEN_WEIGHT;
		t[k].topics = (uint32_t)o->expert_topics;
		t[k].topic_amp = MK_ROUTER_TOPIC;
		k++;
	}
	snprintf(t[k].name, sizeof(t[k].name), "blk.%llu.%s.weight", (unsigned long long)l,
		 exps[b]);
	t[k].type = o->type;
	t[k].n_dims = 3;
	t[k].ne[0] = b == 2 ? o->expert_hidden : s->dim;
	t[k].ne[1] = b == 2 ? s->dim : o->expert_hidden;
	t[k].ne[2] = o->experts;
	t[k].gen = GEN_WEIGHT;
	return k + 1;
}

int mk_build_tensors(const struct as_mkmodel_params *o, struct mk_tdesc **out,
			 size_t *n_out)
{
	static const char *const blk[] = { "attn_norm", "attn_q", "attn_k", "attn_v",
					   "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
					   "ffn_down" };
	const struct as_mkmodel_shape *s = &o->shape;
	uint64_t hd = s->head_dim ? s->head_dim : s->dim / s->heads;
	uint64_t kv_dim = hd * s->kv_heads, q_dim = hd * s->heads;
	size_t n = 3 + (9 + !!o->experts + arch_extra_count(o->arch)) * s->layers +
		   o->rope_freqs, k = 0;
	struct mk_tdesc *t = calloc(n, sizeof(*t));
	uint32_t layer = 0, n_layers = (uint32_t)s->layers;

	if (!t)
		return -ENOMEM;
#define T(nm, norm_, ne0, ne1) do {                                             \
		snprintf(t[k].name, sizeof(t[k].name), "%s", nm);                \
		t[k].norm = norm_;                                               \
		t[k].gen = norm_ ? GEN_ONES : GEN_WEIGHT;                        \
		t[k].type = norm_ ? GGML_TYPE_F32 :                              \
			as_quant_mix_type(o->mix, o->type, nm, layer, n_layers, ne0); \
		t[k].n_dims = norm_ ? 1 : 2;                                     \
		t[k].ne[0] = ne0;                                                \
		t[k].ne[1] = ne1;                                                \
		t[k].ne[2] = 1;                                                  \
		k++;                                                             \
	} while (0)
	T("token_embd.weight", false, s->dim, s->vocab);
	for (uint64_t l = 0; l < s->layers; l++) {
		layer = (uint32_t)l;
		for (size_t b = 0; b < 9; b++) {
			char nm[64];
			uint64_t ne0 = s->dim, ne1 = s->dim;
			bool norm = strstr(blk[b], "norm") != NULL;

			snprintf(nm, sizeof(nm), "blk.%llu.%s.weight", (unsigned long long)l,
				 blk[b]);
			if (!strcmp(blk[b], "attn_q"))
				ne1 = q_dim;
			else if (!strcmp(blk[b], "attn_output"))
				ne0 = q_dim;
			else if (!strcmp(blk[b], "attn_k") || !strcmp(blk[b], "attn_v"))
				ne1 = kv_dim;
			else if (!strcmp(blk[b], "ffn_gate") || !strcmp(blk[b], "ffn_up"))
				ne1 = s->hidden;
			else if (!strcmp(blk[b], "ffn_down"))
				ne0 = s->hidden;
			if (norm)
				ne1 = 1;
			if (o->experts && b >= 6) {
				k += moe_tensors(o, l, b - 6, t + k);
				continue;
			}
			T(nm, norm, ne0, ne1);
			if (!strcmp(blk[b], "attn_v"))
				k += arch_extras(o->arch, l, hd, q_dim, kv_dim, t + k);
		}
	}
	T("output_norm.weight", true, s->dim, 1);
	T("output.weight", false, s->dim, s->vocab);
	t[k - 1].topics = (uint32_t)o->expert_topics;
	t[k - 1].topic_amp = MK_OUTPUT_TOPIC;
	t[0].topics = (uint32_t)o->expert_topics; /* token_embd */
	t[0].topic_amp = MK_EMBD_TOPIC;
	if (o->rope_freqs) {
		T("rope_freqs.weight", true, hd / 2, 1);
		t[k - 1].gen = GEN_ROPE_FREQS;
		t[k - 1].rope_base = 10000.0f;
	}
#undef T
	for (size_t i = 0; i < n; i++) {
		t[i].rows = t[i].ne[1] * t[i].ne[2];
		if (as_row_bytes(t[i].type, t[i].ne[0], &t[i].row_bytes)) {
			free(t);
			return -EINVAL;
		}
	}
	*out = t;
	*n_out = n;
	return 0;
}

/* The longest row of any tensor: dim, hidden, an expert's width or the attention
 * width. */
uint64_t mk_widest_row(const struct as_mkmodel_params *o)
{
	const struct as_mkmodel_shape *s = &o->shape;
	uint64_t w = s->dim > s->hidden ? s->dim : s->hidden;
	uint64_t q = (s->head_dim ? s->head_dim : s->dim / s->heads) * s->heads;

	w = o->expert_hidden > w ? o->expert_hidden : w;
	return q > w ? q : w;
}

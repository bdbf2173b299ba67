// SPDX-License-Identifier: MIT
/*
 * A llama, qwen2, qwen3 or qwen3moe GGUF (llama with experts: Mixtral) with seeded
 * random weights and a working byte-level SentencePiece vocabulary
 * (activeswap/mkmodel.h, Documentation/gguf.md).
 *
 * Weights are uniform with standard deviation 1/sqrt(fan_in) (fan_in = ne[0], the row
 * length), norms are 1.0, so activations keep unit scale through every layer. Each row
 * is generated from its own PRNG stream keyed by (seed, tensor, row): the output is
 * identical whatever the thread count. Data is produced in chunks of rows by worker
 * threads and streamed to OUT.tmp.PID (a new file: O_EXCL | O_NOFOLLOW) through the GGUF
 * writer (never more than a few chunks in memory), fsync'ed and renamed to OUT at the end,
 * then the directory fsync'ed; on failure the temporary file is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activeswap/gguf.h"
#include "activeswap/hfvocab.h"
#include "activeswap/mkmodel.h"
#include "activeswap/quant.h"
#include "errmsg.h"

#define CHUNK_BYTES (4u << 20)
#define MAX_THREADS AS_MKMODEL_MAX_THREADS
#define PATH_MAX_LEN 4200 /* OUT.tmp.PID, NUL included */

static const struct as_mkmodel_shape shapes[] = {
	{ "tiny", 256, 768, 4, 8, 4, 512, 512, 0 },
	{ "1b", 2048, 8192, 16, 32, 8, 512, 2048, 0 },   /* Llama-3.2-1B */
	{ "7b", 4096, 11008, 32, 32, 32, 512, 2048, 0 }, /* Llama-2-7B */
	{ "8b", 4096, 14336, 32, 32, 8, 512, 2048, 0 },  /* Llama-3-8B */
	/* Mixtral-8x7B and Qwen3-30B-A3B (config.json), their vocabulary sizes */
	{ "mixtral-8x7b", 4096, 14336, 32, 32, 8, 32000, 4096, 0 },
	{ "qwen3-30b-a3b", 2048, 6144, 48, 32, 4, 151936, 4096, 128 },
	{ "mixtral-tiny", 256, 512, 2, 8, 4, 512, 512, 0 },
	{ "qwen3moe-tiny", 256, 768, 2, 8, 4, 512, 512, 64 },
};

/* The MoE presets' architecture and experts (experts, used, one expert's width) */
static const struct {
	const char *name;
	enum as_arch arch;
	uint64_t experts, used, width;
} moe_shapes[] = {
	{ "mixtral-8x7b", AS_ARCH_LLAMA, 8, 2, 14336 },
	{ "qwen3-30b-a3b", AS_ARCH_QWEN3MOE, 128, 8, 768 },
	{ "mixtral-tiny", AS_ARCH_LLAMA, 8, 2, 512 },
	{ "qwen3moe-tiny", AS_ARCH_QWEN3MOE, 16, 4, 128 },
};

int as_mkmodel_preset(const char *name, struct as_mkmodel_shape *s)
{
	for (size_t k = 0; name && k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		if (!strcmp(name, shapes[k].name)) {
			*s = shapes[k];
			return 0;
		}
	}
	return -ENOENT;
}

int as_mkmodel_preset_params(const char *name, struct as_mkmodel_params *p)
{
	int rc = as_mkmodel_preset(name, &p->shape);

	p->arch = AS_ARCH_LLAMA;
	p->experts = p->experts_used = p->expert_hidden = 0;
	for (size_t k = 0; !rc && k < sizeof(moe_shapes) / sizeof(moe_shapes[0]); k++) {
		if (!strcmp(name, moe_shapes[k].name)) {
			p->arch = moe_shapes[k].arch;
			p->experts = moe_shapes[k].experts;
			p->experts_used = moe_shapes[k].used;
			p->expert_hidden = moe_shapes[k].width;
		}
	}
	return rc;
}

void as_mkmodel_params_init(struct as_mkmodel_params *p)
{
	memset(p, 0, sizeof(*p));
	p->shape = shapes[0];
	p->type = GGML_TYPE_Q4_0;
	p->seed = 1;
}

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

/* ---- vocabulary --------------------------------------------------------------------- */

#define SPM_SPACE "\xe2\x96\x81" /* U+2581 */

static const char *const words[] = {
	"the", "and", "to", "a", "was", "he", "she", "it", "of", "in", "they", "her", "his",
	"you", "with", "said", "on", "for", "that", "day", "had", "is", "big", "so", "but",
	"up", "Lily", "were", "one", "Tim", "play", "saw", "not", "very", "happy", "there",
	"time", "Once", "upon", "little", "friend", "wanted", "mom", "all", "at", "be", "can",
	"go", "we", "like", "what", "did", "out", "then", "them", "have", "help", "make",
	"new", "park", "ball", "dog", "cat", "bird", "tree", "sun", "fun", "look", "went",
	"home", "love", "good", "too", "do", "are", "me", "my", "from", "this", "no", "an",
	"as", "by", "are", "ran", "toy", "box", "red", "man", "girl", "boy", "named", "loved",
	"felt", "sad", "nice", "smiled", "saw", "liked", "found", "thank", "yes", "when",
	"how", "why", "who", "will", "would", "could", "after", "again", "away", "back",
	"down", "each", "every", "eat", "ate", "food", "water", "tall", "small", "kind",
	"best", "many", "some", "other", "people", "because", "about", "into", "over",
	"under", "always", "never", "together", "learned", "careful", "idea", "funny",
};

struct vocab {
	char **text;
	float *scores;
	int32_t *types;
	uint32_t n, cap;
};

static int vocab_has(const struct vocab *v, const char *s)
{
	/* Small vocabularies; called only while building (O(n^2) on a few thousand). */
	for (uint32_t i = 3 + 256; i < v->n; i++)
		if (!strcmp(v->text[i], s))
			return 1;
	return 0;
}

static int vocab_add(struct vocab *v, const char *s, int32_t type, float score)
{
	if (v->n >= v->cap)
		return 0;
	v->text[v->n] = strdup(s);
	if (!v->text[v->n])
		return -ENOMEM;
	v->types[v->n] = type;
	v->scores[v->n] = score;
	v->n++;
	return 0;
}

/* Add s and every prefix of s that ends on a character boundary (so merges reach it). */
static int vocab_add_closure(struct vocab *v, const char *s)
{
	char buf[64];
	size_t len = strlen(s);

	if (len >= sizeof(buf))
		return 0;
	for (size_t i = 1; i <= len && v->n < v->cap; i++) {
		if (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			continue; /* inside a UTF-8 sequence */
		memcpy(buf, s, i);
		buf[i] = 0;
		if (strlen(buf) > 1 && !vocab_has(v, buf)) {
			int rc = vocab_add(v, buf, 1, -(float)v->n);

			if (rc)
				return rc;
		}
	}
	return 0;
}

static void vocab_free(struct vocab *v)
{
	if (v->text)
		for (uint32_t i = 0; i < v->n; i++)
			free(v->text[i]);
	free(v->text);
	free(v->scores);
	free(v->types);
}

static int vocab_build(struct vocab *v, uint32_t n)
{
	static const char singles[] = "etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ"
				      "0123456789.,!?'\"-:;()";
	char buf[64];
	int rc = 0;

	v->cap = n;
	v->text = calloc(n, sizeof(*v->text));
	v->scores = calloc(n, sizeof(*v->scores));
	v->types = calloc(n, sizeof(*v->types));
	if (!v->text || !v->scores || !v->types)
		return -ENOMEM;
	rc |= vocab_add(v, "<unk>", 2, 0);
	rc |= vocab_add(v, "<s>", 3, 0);
	rc |= vocab_add(v, "</s>", 3, 0);
	for (int b = 0; b < 256; b++) {
		snprintf(buf, sizeof(buf), "<0x%02X>", b);
		rc |= vocab_add(v, buf, 6, 0);
	}
	if (rc)
		return -ENOMEM;
	/* single characters, most frequent first, then the word-boundary marker */
	rc = vocab_add(v, SPM_SPACE, 1, -(float)v->n);
	for (const char *c = singles; !rc && *c; c++) {
		buf[0] = *c;
		buf[1] = 0;
		rc = vocab_add(v, buf, 1, -(float)v->n);
	}
	/* common words with the word prefix, each reachable by pairwise merges */
	for (size_t i = 0; !rc && i < sizeof(words) / sizeof(words[0]) && v->n < n; i++) {
		snprintf(buf, sizeof(buf), SPM_SPACE "%s", words[i]);
		rc = vocab_add_closure(v, buf);
	}
	/* letter pairs, then word-initial pairs */
	for (int pass = 0; !rc && pass < 2 && v->n < n; pass++)
		for (const char *a = singles; !rc && a < singles + 26 && v->n < n; a++)
			for (const char *b = singles; !rc && b < singles + 26 && v->n < n; b++) {
				snprintf(buf, sizeof(buf), "%s%c%c", pass ? SPM_SPACE : "", *a,
					 *b);
				if (pass)
					rc = vocab_add_closure(v, buf);
				else if (!vocab_has(v, buf))
					rc = vocab_add(v, buf, 1, -(float)v->n);
			}
	/* anything left is an unused placeholder */
	for (uint32_t i = 0; !rc && v->n < n; i++) {
		snprintf(buf, sizeof(buf), "<unused%u>", i);
		rc = vocab_add(v, buf, 5, -1e9f);
	}
	return rc;
}

/* ---- tensor generation -------------------------------------------------------------- */

/* What a tensor's values are: weights (uniform, std 1/sqrt(fan_in)), norms (1.0), or
 * the F32 vectors of qwen2/qwen3: biases (uniform in [-0.5, 0.5)) and the Q/K norms
 * (uniform in [0.75, 1.25), so that a wrong head's weight shows). */
enum gen_kind { GEN_WEIGHT, GEN_ONES, GEN_BIAS, GEN_NEAR_ONE, GEN_ROPE_FREQS };

struct tdesc {
	char name[64];
	enum ggml_type type;
	uint32_t n_dims;
	uint64_t ne[3];   /* ne[2] = 1 unless 3-D (the experts') */
	uint64_t rows;    /* ne[1] * ne[2] */
	uint64_t row_bytes;
	bool norm;
	enum gen_kind gen;
	float rope_base; /* GEN_ROPE_FREQS: rope.freq_base; ne[0] = n_rot / 2 */
};

struct job {
	const struct tdesc *t;
	uint64_t tensor_idx;
	uint64_t seed;
	uint64_t row0, nrows;
	uint8_t *out;
	float *tmp;
	int rc;
};

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

static void *gen_rows(void *arg)
{
	struct job *j = arg;
	const struct tdesc *t = j->t;
	float a = sqrtf(3.0f / (float)t->ne[0]);
	struct xrng r;

	j->rc = 0;
	for (uint64_t i = 0; i < j->nrows; i++) {
		uint64_t row = j->row0 + i;

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
		j->rc = as_quant_row(t->type, j->tmp, j->out + i * t->row_bytes, t->ne[0]);
		if (j->rc)
			break;
	}
	return NULL;
}

static int add_meta(struct gguf_writer *w, const struct as_mkmodel_params *o,
		    const struct vocab *v)
{
	const struct as_mkmodel_shape *s = &o->shape;
	uint32_t head_dim = (uint32_t)(s->head_dim ? s->head_dim : s->dim / s->heads);
	const char *arch = as_arch_name(o->arch);
	char name[96], key[96];
	int rc = 0;

	snprintf(name, sizeof(name), "activeswap-random-%s%s%s-%s",
		 o->arch == AS_ARCH_LLAMA ? "" : arch, o->arch == AS_ARCH_LLAMA ? "" : "-",
		 s->name ? s->name : "custom",
		 o->mix ? as_quant_mix_name(o->mix) : as_type_name(o->type));
#define K(suffix) (snprintf(key, sizeof(key), "%s." suffix, arch), key)
	rc |= gguf_w_str(w, "general.architecture", arch);
	rc |= gguf_w_str(w, "general.name", name);
	rc |= gguf_w_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
	rc |= gguf_w_u32(w, "general.file_type", as_file_type(o->type, o->mix));
	rc |= gguf_w_u32(w, "general.quantization_version", 2);
	rc |= gguf_w_u32(w, K("context_length"), (uint32_t)s->ctx);
	rc |= gguf_w_u32(w, K("embedding_length"), (uint32_t)s->dim);
	rc |= gguf_w_u32(w, K("feed_forward_length"), (uint32_t)s->hidden);
	rc |= gguf_w_u32(w, K("block_count"), (uint32_t)s->layers);
	rc |= gguf_w_u32(w, K("attention.head_count"), (uint32_t)s->heads);
	rc |= gguf_w_u32(w, K("attention.head_count_kv"), (uint32_t)s->kv_heads);
	rc |= gguf_w_u32(w, K("rope.dimension_count"), head_dim);
	rc |= gguf_w_f32(w, K("rope.freq_base"), 10000.0f);
	rc |= gguf_w_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
	rc |= gguf_w_u32(w, K("vocab_size"), (uint32_t)s->vocab);
	if (s->head_dim) {
		rc |= gguf_w_u32(w, K("attention.key_length"), head_dim);
		rc |= gguf_w_u32(w, K("attention.value_length"), head_dim);
	}
	if (o->experts) {
		rc |= gguf_w_u32(w, K("expert_count"), (uint32_t)o->experts);
		rc |= gguf_w_u32(w, K("expert_used_count"), (uint32_t)o->experts_used);
		if (o->arch == AS_ARCH_QWEN3MOE)
			rc |= gguf_w_u32(w, K("expert_feed_forward_length"),
					 (uint32_t)o->expert_hidden);
	}
#undef K
	if (o->hf_vocab)
		return rc || as_hf_vocab_write(o->hf_vocab, w) ? -EINVAL : 0;
	rc |= gguf_w_str(w, "tokenizer.ggml.model", "llama");
	rc |= gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->text, v->n);
	rc |= gguf_w_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, v->n);
	rc |= gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, v->n);
	rc |= gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
	rc |= gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
	rc |= gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);
	rc |= gguf_w_bool(w, "tokenizer.ggml.add_bos_token", true);
	rc |= gguf_w_bool(w, "tokenizer.ggml.add_eos_token", false);
	return rc ? -EINVAL : 0;
}

/* Per-layer tensors of an architecture beyond Llama's nine. */
static size_t arch_extra_count(enum as_arch a)
{
	return a == AS_ARCH_QWEN2 ? 3 : a == AS_ARCH_QWEN3 || a == AS_ARCH_QWEN3MOE ? 2 : 0;
}

/* Describe layer l's extra tensors into t (F32 vectors); returns how many. */
static size_t arch_extras(enum as_arch a, uint64_t l, uint64_t hd, uint64_t q_dim,
			  uint64_t kv_dim, struct tdesc *t)
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
 * Layer l's MoE tensor for ffn slot b (0 gate, 1 up, 2 down) into t: before the gate,
 * the router ffn_gate_inp {dim, experts} (F32, as llama-quantize leaves it, uniform with
 * the weights' 1/sqrt(dim) scale: logits of about unit spread, so the top-k choice is
 * rarely near a tie; a larger scale would not help, it scales the logits' differences
 * and their numeric noise alike); then ffn_{gate,up,down}_exps, 3-D. Returns how many.
 */
static size_t moe_tensors(const struct as_mkmodel_params *o, uint64_t l, size_t b,
			  struct tdesc *t)
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

static int build_tensors(const struct as_mkmodel_params *o, struct tdesc **out,
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
	struct tdesc *t = calloc(n, sizeof(*t));
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
static uint64_t widest_row(const struct as_mkmodel_params *o)
{
	const struct as_mkmodel_shape *s = &o->shape;
	uint64_t w = s->dim > s->hidden ? s->dim : s->hidden;
	uint64_t q = (s->head_dim ? s->head_dim : s->dim / s->heads) * s->heads;

	w = o->expert_hidden > w ? o->expert_hidden : w;
	return q > w ? q : w;
}

static bool cancelled(const struct as_mkmodel_params *p)
{
	return p->cancel && *p->cancel;
}

static int write_model(const struct as_mkmodel_params *o, const char *out, int nth, int fd,
		       uint64_t *bytes_out, char *err, size_t errlen)
{
	struct gguf_writer *w = gguf_writer_new();
	struct vocab v = { 0 };
	struct tdesc *t = NULL;
	struct job jobs[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	uint64_t total = 0, done = 0;
	size_t n_t = 0;
	int rc;

	memset(jobs, 0, sizeof(jobs));
	if (!w) {
		as_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = o->hf_vocab ? 0 : vocab_build(&v, (uint32_t)o->shape.vocab);
	if (!rc)
		rc = build_tensors(o, &t, &n_t);
	if (!rc)
		rc = add_meta(w, o, &v);
	for (size_t i = 0; !rc && i < n_t; i++) {
		int idx = gguf_w_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne);

		if (idx < 0)
			rc = idx;
		total += t[i].row_bytes * t[i].rows;
	}
	if (rc) {
		as_seterr(err, errlen, "cannot describe the model: %s", strerror(-rc));
		goto out;
	}
	for (int i = 0; i < nth; i++) {
		jobs[i].out = malloc(CHUNK_BYTES);
		jobs[i].tmp = malloc(sizeof(float) * widest_row(o));
		if (!jobs[i].out || !jobs[i].tmp) {
			rc = -ENOMEM;
			as_seterr(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = gguf_w_begin(w, fd);
	if (rc) {
		as_seterr(err, errlen, "%s: write: %s", out, strerror(-rc));
		goto out;
	}
	if (o->progress)
		o->progress(o->arg, 0, total);
	for (size_t i = 0; !rc && i < n_t; i++) {
		uint64_t rows_per = CHUNK_BYTES / t[i].row_bytes, row = 0;

		if (rows_per == 0)
			rows_per = 1; /* a row larger than a chunk cannot happen below 1M cols */
		while (!rc && row < t[i].rows) {
			int used = 0;

			for (; used < nth && row < t[i].rows; used++) {
				struct job *j = &jobs[used];

				j->t = &t[i];
				j->tensor_idx = i;
				j->seed = o->seed;
				j->row0 = row;
				j->nrows = t[i].rows - row < rows_per ? t[i].rows - row : rows_per;
				row += j->nrows;
			}
			if (used == 1) {
				gen_rows(&jobs[0]);
			} else {
				bool started[MAX_THREADS] = { false };

				for (int k = 1; k < used; k++)
					started[k] = !pthread_create(&th[k], NULL, gen_rows,
								     &jobs[k]);
				gen_rows(&jobs[0]);
				for (int k = 1; k < used; k++) {
					if (started[k])
						pthread_join(th[k], NULL);
					else
						gen_rows(&jobs[k]);
				}
			}
			for (int k = 0; !rc && k < used; k++) {
				uint64_t len = jobs[k].nrows * t[i].row_bytes;

				rc = jobs[k].rc;
				if (rc) {
					as_seterr(err, errlen, "quantizing %s: %s", t[i].name,
						  strerror(-rc));
					break;
				}
				rc = gguf_w_data(w, jobs[k].out, (size_t)len);
				if (rc) {
					as_seterr(err, errlen, "%s: write: %s", out,
						  strerror(-rc));
					break;
				}
				done += len;
				if (o->progress)
					o->progress(o->arg, done, total);
			}
			if (!rc && cancelled(o)) {
				rc = -ECANCELED;
				as_seterr(err, errlen, "cancelled");
			}
		}
	}
	if (!rc) {
		rc = gguf_w_end(w);
		if (rc)
			as_seterr(err, errlen, "%s: write: %s", out, strerror(-rc));
	}
	*bytes_out = total;
out:
	for (int i = 0; i < nth; i++) {
		free(jobs[i].out);
		free(jobs[i].tmp);
	}
	free(t);
	vocab_free(&v);
	gguf_writer_free(w);
	return rc;
}

/* An explicit head size: even (RoPE), at most 4096, and heads * head_dim within dim's
 * limit. */
static int check_head_dim(const struct as_mkmodel_shape *s, char *err, size_t errlen)
{
	if (s->head_dim % 2 || s->head_dim > 4096 ||
	    s->head_dim * s->heads > AS_MKMODEL_MAX_DIM) {
		as_seterr(err, errlen, "--head-dim (%llu) must be even, at most 4096 and at most "
			  "%u / --heads (%llu)", (unsigned long long)s->head_dim,
			  AS_MKMODEL_MAX_DIM, (unsigned long long)s->heads);
		return -EINVAL;
	}
	return 0;
}

/* The experts: llama (Mixtral, experts as wide as hidden) or qwen3moe (which needs
 * them), 1 <= used <= experts <= AS_MAX_EXPERTS, a width a multiple of 32. */
static int check_experts(const struct as_mkmodel_params *p, char *err, size_t errlen)
{
	const struct as_mkmodel_shape *s = &p->shape;

	if (!p->experts && p->arch != AS_ARCH_QWEN3MOE)
		return 0;
	if (p->arch != AS_ARCH_LLAMA && p->arch != AS_ARCH_QWEN3MOE) {
		as_seterr(err, errlen, "--experts is for --arch mixtral or qwen3moe only");
		return -EINVAL;
	}
	if (p->experts < 1 || p->experts > AS_MAX_EXPERTS || p->experts_used < 1 ||
	    p->experts_used > p->experts) {
		as_seterr(err, errlen, "--experts (%llu) must be in [1, %u] and --experts-used "
			  "(%llu) in [1, --experts]", (unsigned long long)p->experts,
			  AS_MAX_EXPERTS, (unsigned long long)p->experts_used);
		return -EINVAL;
	}
	if (p->expert_hidden < 32 || p->expert_hidden % 32 ||
	    p->expert_hidden > AS_MKMODEL_MAX_HIDDEN ||
	    (p->arch == AS_ARCH_LLAMA && p->expert_hidden != s->hidden)) {
		as_seterr(err, errlen, "--expert-hidden (%llu) must be a multiple of 32 in "
			  "[32, %u]%s", (unsigned long long)p->expert_hidden,
			  AS_MKMODEL_MAX_HIDDEN, p->arch == AS_ARCH_LLAMA ?
			  " and equal --hidden for mixtral" : "");
		return -EINVAL;
	}
	return 0;
}

int as_mkmodel_check(const struct as_mkmodel_params *p, const char *out, char *err,
		     size_t errlen)
{
	static const char *const names[7] = { "--dim", "--hidden", "--layers", "--heads",
					      "--kv-heads", "--vocab", "--ctx" };
	static const uint64_t maxv[7] = {
		AS_MKMODEL_MAX_DIM, AS_MKMODEL_MAX_HIDDEN, AS_MKMODEL_MAX_LAYERS,
		AS_MKMODEL_MAX_LAYERS, AS_MKMODEL_MAX_LAYERS, AS_MKMODEL_MAX_VOCAB,
		AS_MKMODEL_MAX_CTX
	};
	const struct as_mkmodel_shape *s;
	uint64_t v[7];
	int rc;

	if (!p) {
		as_seterr(err, errlen, "no parameters");
		return -EINVAL;
	}
	if (!out || !*out) {
		as_seterr(err, errlen, "missing output path");
		return -EINVAL;
	}
	s = &p->shape;
	v[0] = s->dim;
	v[1] = s->hidden;
	v[2] = s->layers;
	v[3] = s->heads;
	v[4] = s->kv_heads;
	v[5] = s->vocab;
	v[6] = s->ctx;
	for (int k = 0; k < 7; k++) {
		if (v[k] < 1 || v[k] > maxv[k]) {
			as_seterr(err, errlen, "%s (%llu) must be in [1, %llu]", names[k],
				  (unsigned long long)v[k], (unsigned long long)maxv[k]);
			return -EINVAL;
		}
	}
	if (!as_type_supported(p->type) || (p->mix && !as_quant_mix_name(p->mix))) {
		as_seterr(err, errlen, "type %d is not a supported type", (int)p->type);
		return -EINVAL;
	}
	if (p->threads < 0 || p->threads > MAX_THREADS) {
		as_seterr(err, errlen, "%d threads: not in [0, %d]", p->threads, MAX_THREADS);
		return -EINVAL;
	}
	if (s->dim % 32 || s->hidden % 32) {
		as_seterr(err, errlen, "--dim (%llu) and --hidden (%llu) must be multiples of 32",
			  (unsigned long long)s->dim, (unsigned long long)s->hidden);
		return -EINVAL;
	}
	if ((unsigned)p->arch >= AS_ARCH_COUNT) {
		as_seterr(err, errlen, "architecture %d is not llama, qwen2, qwen3 or qwen3moe",
			  (int)p->arch);
		return -EINVAL;
	}
	rc = check_experts(p, err, errlen);
	if (rc)
		return rc;
	if (p->rope_freqs && p->arch != AS_ARCH_LLAMA) {
		as_seterr(err, errlen, "--rope-freqs is for --arch llama only");
		return -EINVAL;
	}
	if (s->head_dim) {
		rc = check_head_dim(s, err, errlen);
		if (rc)
			return rc;
	} else if (s->dim % s->heads) {
		as_seterr(err, errlen, "--dim (%llu) must be a multiple of --heads (%llu)",
			  (unsigned long long)s->dim, (unsigned long long)s->heads);
		return -EINVAL;
	} else if ((s->dim / s->heads) % 2) {
		as_seterr(err, errlen, "head dimension %llu (dim/heads) must be even for RoPE",
			  (unsigned long long)(s->dim / s->heads));
		return -EINVAL;
	}
	if (!p->mix && as_type_block_elems(p->type) > 32) {
		uint64_t be = as_type_block_elems(p->type);
		uint64_t q = (s->head_dim ? s->head_dim : s->dim / s->heads) * s->heads;

		if (s->dim % be || s->hidden % be || q % be) {
			as_seterr(err, errlen, "--type %s needs --dim (%llu), --hidden (%llu) and "
				  "the attention width (%llu) to be multiples of %llu",
				  as_type_name(p->type), (unsigned long long)s->dim,
				  (unsigned long long)s->hidden, (unsigned long long)q,
				  (unsigned long long)be);
			return -EINVAL;
		}
	}
	if (s->kv_heads > s->heads || s->heads % s->kv_heads) {
		as_seterr(err, errlen, "--heads (%llu) must be a multiple of --kv-heads (%llu)",
			  (unsigned long long)s->heads, (unsigned long long)s->kv_heads);
		return -EINVAL;
	}
	if (p->hf_vocab && p->hf_vocab->n != s->vocab) {
		as_seterr(err, errlen, "--vocab (%llu) differs from the size of the --vocab-from "
			  "vocabulary (%u)", (unsigned long long)s->vocab, p->hf_vocab->n);
		return -EINVAL;
	}
	if (!p->hf_vocab && s->vocab < 259) {
		as_seterr(err, errlen, "--vocab (%llu) must be at least 259 (3 specials + 256 bytes)",
			  (unsigned long long)s->vocab);
		return -EINVAL;
	}
	if (strlen(out) + sizeof(".tmp.") + 12 > PATH_MAX_LEN) {
		as_seterr(err, errlen, "output path too long");
		return -EINVAL;
	}
	return 0;
}

/* fsync the directory holding path, so the rename survives a crash; best effort (some
 * filesystems refuse it) */
static void sync_parent_dir(const char *path)
{
	char dir[PATH_MAX_LEN];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int as_mkmodel(const struct as_mkmodel_params *p, const char *out, uint64_t *tensor_bytes,
	       char *err, size_t errlen)
{
	char tmp[PATH_MAX_LEN];
	uint64_t bytes = 0;
	long ncpu;
	int fd, rc, nth;

	rc = as_mkmodel_check(p, out, err, errlen);
	if (rc)
		return rc;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	nth = p->threads ? p->threads : (ncpu >= 2 ? 2 : 1);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", out, (int)getpid());
	/* a new file: never truncate or follow what another user placed under this name */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		as_seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		return rc;
	}
	rc = write_model(p, out, nth, fd, &bytes, err, errlen);
	if (!rc && fsync(fd) < 0) {
		rc = -errno;
		as_seterr(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
	}
	if (close(fd) < 0 && !rc) {
		rc = -errno;
		as_seterr(err, errlen, "%s: close: %s", tmp, strerror(errno));
	}
	if (!rc && rename(tmp, out) < 0) {
		rc = -errno;
		as_seterr(err, errlen, "rename %s -> %s: %s", tmp, out, strerror(errno));
	}
	if (rc) {
		unlink(tmp);
		return rc;
	}
	sync_parent_dir(out);
	if (tensor_bytes)
		*tensor_bytes = bytes;
	return 0;
}

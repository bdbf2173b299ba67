/* SPDX-License-Identifier: MIT */
/*
 * A llama, qwen2, qwen3, Mixtral-style llama or qwen3moe GGUF with seeded random
 * weights and a working byte-level SentencePiece vocabulary, as a library call
 * (`activeswap mkmodel` is a thin command line around it; Documentation/gguf.md
 * describes the file).
 *
 * Weights are uniform with standard deviation 1/sqrt(fan_in), norms 1.0. Every row comes
 * from its own PRNG stream keyed by (seed, tensor, row): the bytes depend on the shape,
 * type and seed only, never on the thread count. The file is streamed to OUT.tmp, fsync'ed
 * and renamed to OUT; on any failure or cancellation OUT.tmp is removed.
 */
#ifndef ACTIVESWAP_MKMODEL_H
#define ACTIVESWAP_MKMODEL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "activeswap/quantmix.h"

struct as_hf_vocab;
struct as_convert_params;
struct as_convert_result;

#define AS_MKMODEL_MAX_THREADS 16
/* Largest value of each dimension (the smallest is 1; the vocabulary needs 259) */
#define AS_MKMODEL_MAX_DIM 65536u
#define AS_MKMODEL_MAX_HIDDEN 262144u
#define AS_MKMODEL_MAX_LAYERS 1024u /* also heads and kv_heads */
#define AS_MKMODEL_MAX_VOCAB 1000000u
#define AS_MKMODEL_MAX_CTX (1u << 24)

struct as_mkmodel_shape {
	const char *name; /* in general.name: "activeswap-random-NAME-TYPE" */
	uint64_t dim, hidden, layers, heads, kv_heads, vocab, ctx;
	/* Head size: 0 for dim / heads; otherwise written as attention.key_length and
	 * value_length (qwen3 only, as Qwen3-0.6B's 128 over a 1024-wide stream). */
	uint64_t head_dim;
};

struct as_mkmodel_params {
	struct as_mkmodel_shape shape;
	/* general.architecture and what comes with it, as llama.cpp loads it: llama (the
	 * default), qwen2 (+ F32 Q/K/V biases, uniform in [-0.5, 0.5)), qwen3 (+ F32
	 * per-head Q/K norms, uniform in [0.75, 1.25)), qwen3moe (qwen3's + experts).
	 * llama with shape.experts > 0 is Mixtral: router ffn_gate_inp (F32, the weights'
	 * scale) and 3-D ffn_{gate,up,down}_exps in place of ffn_gate/up/down. */
	enum as_arch arch;
	/* llama only: write rope_freqs.weight with Llama 3.1's "llama3" RoPE scaling (factor
	 * 8, low/high frequency factors 1 and 4, original context 8192), the factors
	 * computed as llama.cpp's converter does. */
	bool rope_freqs;
	/* Mixture of experts (0 experts: dense FFN): expert_count, expert_used_count and
	 * one expert's FFN width (qwen3moe's expert_feed_forward_length; a llama
	 * (Mixtral) expert is shape.hidden wide, so there it must equal shape.hidden). */
	uint64_t experts, experts_used, expert_hidden;
	/* 0, or 1 .. experts: a router with locality. Tokens and experts fall into this many
	 * topics (t % N, e % N); embeddings, output rows and router rows lean towards their
	 * topic, so a greedy sequence stays in one topic and its layers' routers choose among
	 * that topic's experts (mkmodel_tensors.c). */
	uint64_t expert_topics;
	/* Of every matrix: any as_type_supported() type (norms are f32; the K-quants and
	 * IQ4_XS need dim, hidden and the attention width to be multiples of 256) ... */
	enum ggml_type type;
	/* ... or, with a mix, its base type and llama.cpp's per-tensor rules (quantmix.h) */
	enum as_quant_mix mix;
	uint64_t seed;
	/* Q4_0 / Q8_0 only: draw every weight matrix's blocks (codes uniform, each block's
	 * scale a random sign times [0.9, 1) of the range a uniform row of the same standard
	 * deviation would quantize to) straight from the generator instead of quantizing
	 * floats: several times faster, other bytes (mkmodel_tensors.c). Norms, biases,
	 * routers and the expert topics' rows are as without it. */
	bool draw_blocks;
	/* 1 .. AS_MKMODEL_MAX_THREADS generating threads; 0: 2 when 2 CPUs are online,
	 * else 1 */
	int threads;
	/* Called with done = 0 when the tensor data starts, then as bytes are written; may be
	 * NULL. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *arg;
	/* When not NULL and *cancel becomes non-zero, generation stops after the chunk of
	 * rows in progress, OUT.tmp is removed and -ECANCELED returned. */
	const volatile sig_atomic_t *cancel;
	/* When not NULL: this Hugging Face BPE vocabulary (activeswap/hfvocab.h) instead of
	 * the generated SentencePiece one; shape.vocab must equal its size. */
	const struct as_hf_vocab *hf_vocab;
};

/* The named shapes: tiny, 1b (Llama-3.2-1B), 7b (Llama-2-7B), 8b (Llama-3-8B), all with
 * a vocabulary of 512; mixtral-8x7b and qwen3-30b-a3b (the real models' shapes and
 * vocabulary sizes), mixtral-tiny and qwen3moe-tiny (small ones for tests). 0, or
 * -ENOENT for another name. */
int as_mkmodel_preset(const char *name, struct as_mkmodel_shape *s);
/* The same into p: the shape, and the architecture and experts of the MoE presets
 * (llama and no experts for the others). */
int as_mkmodel_preset_params(const char *name, struct as_mkmodel_params *p);

/* The tiny shape, q4_0, seed 1, default threads, no callbacks. */
void as_mkmodel_params_init(struct as_mkmodel_params *p);

/*
 * Check p and the output path without writing anything: every dimension in range (the
 * limits above), dim and hidden multiples of 32, dim a multiple of heads, an even head
 * dimension, heads a multiple of kv_heads, a supported type, threads in range, experts
 * only for llama / qwen3moe (qwen3moe needs them) with 1 <= used <= experts <=
 * AS_MAX_EXPERTS and an expert width a multiple of 32, and a path short enough for
 * OUT.tmp. 0 or -EINVAL with one line in err (the messages name the
 * values after `activeswap mkmodel`'s flags).
 */
int as_mkmodel_check(const struct as_mkmodel_params *p, const char *out, char *err,
		     size_t errlen);

/*
 * Write the model to out (after as_mkmodel_check). tensor_bytes (may be NULL) gets the
 * tensor data size. 0, -EINVAL, -ECANCELED or the negative errno of the first failure,
 * with one line in err.
 */
int as_mkmodel(const struct as_mkmodel_params *p, const char *out, uint64_t *tensor_bytes,
	       char *err, size_t errlen);

/*
 * Write the model straight to a store at out: byte for byte the store as_convert(cp)
 * makes of the GGUF as_mkmodel(p) writes, without that GGUF on disk (runtime/mkstore.c:
 * the GGUF is laid out in an anonymous mapping, its layers generated one at a time as
 * the conversion reaches them and dropped after; memory is the resident tensors plus
 * about one layer). cp NULL: as_convert_params_init's; cp->threads 0: p's generating
 * threads; cp->rows is refused (-EOPNOTSUPP). res (may be NULL) as as_convert's. 0, -EINVAL, -ECANCELED (through
 * cp->cancel) or the negative errno of the first failure, with one line in err; on
 * failure no store (nor OUT.tmp.PID) is left.
 */
int as_mkmodel_store(const struct as_mkmodel_params *p, const struct as_convert_params *cp,
		     const char *out, struct as_convert_result *res, char *err,
		     size_t errlen);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Dense model: hyper-parameters and weights from a GGUF file. The decoding state and the
 * forward pass, shared by every weight source, are in activeswap/forward.h.
 *
 * Architectures (general.architecture): llama (Llama 2, Llama 3.x, Mistral; Mixtral when
 * expert_count > 0), qwen2 (Qwen2.5: Q/K/V biases), qwen3 (per-head RMSNorm of Q and K)
 * and qwen3moe (qwen3's attention, mixture-of-experts FFN). All are: token
 * embedding; n_layer blocks of RMSNorm -> multi-head attention with grouped KV heads
 * (GQA), optional biases, optional per-head Q/K norms and RoPE (llama.cpp's NORM mode for
 * llama: adjacent pairs (2i, 2i+1) of the first n_rot dimensions of every head; NEOX mode
 * for qwen2/qwen3: pairs (i, i + n_rot/2)) -> residual, RMSNorm -> SwiGLU FFN ->
 * residual (or, in a mixture-of-experts layer, the router's top-k experts' SwiGLU FFNs,
 * weighted: Documentation/runtime.md, "Mixture of experts"); final RMSNorm and the
 * output head (token_embd when the file has no
 * output.weight). The layer matrices are the dense weight source of the forward pass;
 * a store-backed model (swap.h) fills only the shape and the resident tensors.
 *
 * Weights are pointers into the read-only mapping of the GGUF file: never copied.
 */
#ifndef ACTIVESWAP_MODEL_H
#define ACTIVESWAP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/quant.h"

struct gguf_file;
struct as_threadpool;

/* The linear ops of one layer. Ops that share an input are adjacent: Q,K,V and
 * GATE,UP. */
enum as_op {
	AS_OP_Q,
	AS_OP_K,
	AS_OP_V,
	AS_OP_O,
	AS_OP_GATE,
	AS_OP_UP,
	AS_OP_DOWN,
	AS_OP_COUNT
};

/* The matrices of one expert of a mixture-of-experts layer (ffn_gate_exps ...). */
enum as_exp {
	AS_EXP_GATE,
	AS_EXP_UP,
	AS_EXP_DOWN,
	AS_EXP_COUNT
};

/* Name used in GGUF tensor names: "attn_q", ..., "ffn_down". */
const char *as_op_name(enum as_op op);

/* general.architecture values the loader knows (as_arch_name). */
enum as_arch {
	AS_ARCH_LLAMA, /* also Mistral 7B; Llama 3.x with rope_freqs */
	AS_ARCH_QWEN2, /* Q/K/V biases, NEOX RoPE */
	AS_ARCH_QWEN3, /* per-head Q/K RMSNorm, NEOX RoPE, head_dim from key_length */
	AS_ARCH_QWEN3MOE, /* qwen3's attention, experts with renormalised top-k weights */
	AS_ARCH_COUNT
};

/* "llama", "qwen2", "qwen3", "qwen3moe"; "unknown" out of range. */
const char *as_arch_name(enum as_arch a);

/* llama.cpp's rope types: which dimensions of a head form a rotated pair. */
enum as_rope_mode {
	AS_ROPE_NORM, /* (2i, 2i + 1) */
	AS_ROPE_NEOX, /* (i, i + n_rot / 2) */
};

struct as_hparams {
	enum as_arch arch;    /* zero (llama) for a store-backed model */
	enum as_rope_mode rope_mode;
	uint32_t n_vocab;
	uint32_t dim;         /* embedding_length */
	uint32_t hidden;      /* feed_forward_length */
	uint32_t n_layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t head_dim;    /* attention.key_length, default dim / n_head */
	uint32_t n_rot;       /* rope.dimension_count (even, <= head_dim) */
	uint32_t n_ctx_train; /* context_length */
	float rope_base;      /* rope.freq_base, default 10000 */
	/* Linear RoPE scaling: positions are multiplied by this, 1 / rope.scaling.factor
	 * for rope.scaling.type "linear"; 1 without scaling. 0 is taken as 1. */
	float rope_freq_scale;
	float eps;            /* attention.layer_norm_rms_epsilon */
	/* Mixture of experts (0 experts: a dense FFN). expert_count, expert_used_count and
	 * the width of one expert's FFN: expert_feed_forward_length for qwen3moe (default
	 * feed_forward_length / n_expert_used, as llama.cpp), feed_forward_length for
	 * llama (Mixtral). expert_norm: the k chosen weights are divided by their sum. */
	uint32_t n_expert;
	uint32_t n_expert_used;
	uint32_t n_ff_exp;
	bool expert_norm;
};

#define AS_MAX_EXPERTS 512u

/* Width of the attention: n_head * head_dim (Q rows, the O input). Equals dim unless the
 * file says key_length (Qwen3 0.6B, Mistral Nemo). */
static inline uint32_t as_q_dim(const struct as_hparams *hp)
{
	return hp->n_head * hp->head_dim;
}

/* A weight matrix: rows x cols (cols contiguous), i.e. GGUF ne = {cols, rows}. */
struct as_weight {
	enum ggml_type type;
	const void *data;
	uint64_t rows;
	uint64_t cols;
	uint64_t row_bytes;
};

struct as_layer {
	const float *attn_norm;   /* [dim], F32 */
	const float *ffn_norm;    /* [dim], F32 */
	struct as_weight w[AS_OP_COUNT];
	/* Optional F32 biases added to each op's output (blk.N.attn_q.bias ...; qwen2 has
	 * Q, K and V), NULL when absent. */
	const float *bias[AS_OP_COUNT];
	/* Optional per-head RMSNorm weights of Q and K, [head_dim] F32, applied to every
	 * head after the bias and before RoPE (qwen3); NULL when absent. */
	const float *q_norm;
	const float *k_norm;
	/* Mixture-of-experts layers (hp.n_expert > 0; w[GATE], w[UP], w[DOWN] are then
	 * empty): the router ffn_gate_inp (n_expert rows of dim) and the experts' matrices
	 * ffn_{gate,up,down}_exps, each the shape of ONE expert (n_ff_exp x dim, dim x
	 * n_ff_exp) with data pointing at expert 0; expert e follows at e * rows *
	 * row_bytes (as_expert_weight). */
	struct as_weight router;
	struct as_weight exps[AS_EXP_COUNT];
};

/* Expert e's matrix x (AS_EXP_GATE ...) of layer L; e < hp.n_expert. */
static inline struct as_weight as_expert_weight(const struct as_layer *L, enum as_exp x,
						uint32_t e)
{
	struct as_weight w = L->exps[x];

	w.data = (const uint8_t *)w.data + (uint64_t)e * w.rows * w.row_bytes;
	return w;
}

struct as_model {
	struct as_hparams hp;
	struct gguf_file *gguf;
	bool owns_gguf;
	struct as_weight tok_embd;     /* n_vocab rows of dim */
	struct as_weight output;       /* n_vocab rows of dim (== tok_embd when tied) */
	bool tied_output;
	const float *output_norm;      /* [dim], F32 */
	/* rope_freqs.weight, [n_rot / 2] F32 (Llama 3.1 scaling): the angle of pair i is
	 * divided by rope_freqs[i], as llama.cpp's freq_factors. NULL when absent. */
	const float *rope_freqs;
	struct as_layer *layers;
	uint64_t weight_bytes;         /* bytes of all tensors used */
	void *repacked;                /* anonymous mapping holding repacked matrices */
	size_t repacked_bytes;
	uint32_t n_repacked;           /* matrices in it */
};

/* Load options (zero-initialized = defaults). */
struct as_model_opts {
	/*
	 * Repack Q4_0 layer matrices into the in-memory Q4_0_X16 layout (kernels.h) in one
	 * anonymous mapping (MADV_HUGEPAGE), spread over tp's threads; the file pages of
	 * the originals are dropped from this process afterwards (MADV_DONTNEED). Faster
	 * decode; costs one pass over the weights at load time. Other types are untouched.
	 */
	bool repack;
	struct as_threadpool *tp;   /* for repacking; may be NULL */
};

/*
 * Open path and build the model. Every tensor is checked for presence, a supported
 * type and the shape the hyper-parameters imply; any problem gives a negative errno
 * and one line in err naming the tensor or key.
 */
int as_model_load(struct as_model **out, const char *path, char *err, size_t errlen);
int as_model_load_opts(struct as_model **out, const char *path,
		       const struct as_model_opts *opts, char *err, size_t errlen);
/* Same over an already open file; the model does not take ownership of f. */
int as_model_from_gguf(struct as_model **out, struct gguf_file *f, char *err,
		       size_t errlen);
void as_model_free(struct as_model *m);

/*
 * From f's metadata only: hp->arch (general.architecture), hp->rope_mode and
 * hp->rope_freq_scale (rope.scaling.*), as as_model_from_gguf reads them; for a store,
 * whose shape comes from its own header. 0, or -EINVAL / -EOPNOTSUPP with one line.
 */
int as_hparams_arch(const struct gguf_file *f, struct as_hparams *hp, char *err,
		    size_t errlen);

/*
 * The same for the mixture-of-experts keys (n_expert, n_expert_used, n_ff_exp), after
 * as_hparams_arch and with hp->hidden set: as as_model_from_gguf reads them.
 */
int as_hparams_experts(const struct gguf_file *f, struct as_hparams *hp, char *err,
		       size_t errlen);

/* Every one of the n rope_freqs factors positive and finite (true for ff == NULL). */
bool as_rope_freqs_ok(const float *ff, uint32_t n);

/* The decoding state and the forward pass over these weights (or another source). */
#include "activeswap/forward.h"

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Dense Llama model: hyper-parameters and weights from a GGUF file. The decoding state
 * and the forward pass, shared by every weight source, are in activeswap/forward.h.
 *
 * Architecture: token embedding; n_layer blocks of RMSNorm -> multi-head attention with
 * grouped KV heads (GQA) and RoPE (llama.cpp "normal" mode: adjacent pairs (2i, 2i+1)
 * of the first n_rot dimensions of every head) -> residual, RMSNorm -> SwiGLU FFN ->
 * residual; final RMSNorm and the output head (token_embd when the file has no
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

/* Name used in GGUF tensor names: "attn_q", ..., "ffn_down". */
const char *as_op_name(enum as_op op);

struct as_hparams {
	uint32_t n_vocab;
	uint32_t dim;         /* embedding_length */
	uint32_t hidden;      /* feed_forward_length */
	uint32_t n_layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t head_dim;    /* dim / n_head */
	uint32_t n_rot;       /* rope.dimension_count (even, <= head_dim) */
	uint32_t n_ctx_train; /* context_length */
	float rope_base;      /* rope.freq_base, default 10000 */
	float eps;            /* attention.layer_norm_rms_epsilon */
};

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
};

struct as_model {
	struct as_hparams hp;
	struct gguf_file *gguf;
	bool owns_gguf;
	struct as_weight tok_embd;     /* n_vocab rows of dim */
	struct as_weight output;       /* n_vocab rows of dim (== tok_embd when tied) */
	bool tied_output;
	const float *output_norm;      /* [dim], F32 */
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

/* The decoding state and the forward pass over these weights (or another source). */
#include "activeswap/forward.h"

#endif

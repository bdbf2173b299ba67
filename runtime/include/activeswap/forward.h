/* SPDX-License-Identifier: MIT */
/*
 * The forward pass, once, over a weight source (Documentation/design.md, "One forward
 * pass").
 *
 * as_forward() computes one token: the embedding, n_layer blocks of RMSNorm -> attention
 * (RoPE, grouped KV heads, the KV cache) -> residual, RMSNorm -> SwiGLU FFN -> residual,
 * the final norm and the output head; in a mixture-of-experts layer the FFN is the
 * router's top-k experts, weighted (Documentation/runtime.md, "Mixture of experts").
 * The arithmetic between the matrix products lives
 * here and nowhere else. The products of the layer matrices go through a *weight source*:
 * an ops table that, for (layer, op group, selected input channels), makes the weights
 * available, computes the group's products and lets them go again, and takes a hint at
 * each layer's start to prefetch what later layers will need.
 *
 * Sources: the dense model (forward.c: every matrix in DRAM, from the GGUF's mapping or
 * repacked), and over a store (swap.h, swap_sources.c): the row copy, the
 * all-resident column table and the swapping engine. Embeddings, norms and the output
 * head are resident tensors of struct as_model for every source.
 */
#ifndef ACTIVESWAP_FORWARD_H
#define ACTIVESWAP_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/attention.h"
#include "activeswap/model.h"

struct as_threadpool;
struct as_batch;

/*
 * The op groups of a layer: the linear ops that share one input, in the order the
 * layer computes them. They are libswap's bundle kinds (enum swap_kind) by number.
 */
enum as_group {
	AS_GROUP_QKV,     /* attn_q, attn_k, attn_v: input rmsnorm(h), dim channels */
	AS_GROUP_O,       /* attn_output: input the attention output, n_head * head_dim */
	AS_GROUP_GATE_UP, /* ffn_gate, ffn_up: input rmsnorm(h), dim channels */
	AS_GROUP_DOWN,    /* ffn_down: input silu(gate) * up, hidden channels */
	AS_GROUP_COUNT
};

#define AS_GROUP_MAX_OPS 3

/* The ops of group g (AS_OP_Q, AS_OP_K, AS_OP_V for QKV ...) and how many there are. */
const enum as_op *as_group_ops(enum as_group g, uint32_t *n);
/* Input channels of group g: hidden for DOWN, n_head * head_dim for O, dim otherwise. */
uint32_t as_group_in(const struct as_hparams *hp, enum as_group g);

/* Selected input channels: idx[0..n) in increasing order. */
struct as_sel {
	const uint32_t *idx;
	uint32_t n;
};

/*
 * A weight source. ctx is the source's own state. Every hook but linear may be NULL.
 *
 * linear: ys[i] = W_i x for the ops of group g of layer (as_group_ops order), each y of
 *   its matrix's output size. sel == NULL: every channel of x; otherwise only the
 *   channels sel->idx (the state's Top-K), the others are taken as 0 (the dense source
 *   takes no selection: -EOPNOTSUPP; its sparsity is the hook's). 0 or a negative errno
 *   (a fetch error), which ends the token.
 * layer_begin: layer starts; x is its attention input (rmsnorm(h)), from which the
 *   source may predict and prefetch what this and later layers need.
 * token_begin / token_end: around every token (statistics, the engine's token marks).
 *   token_end is called for every token whose token_begin returned 0, failed or not.
 *
 * Mixture-of-experts layers (hp.n_expert > 0), whose FFN is no GATE_UP / DOWN of
 * linear but the router's choice of experts (the router itself is a resident tensor):
 * experts_chosen: the router has chosen ids[0..n) (n = n_expert_used, decreasing
 *   weight, weights w[0..n)) for layer; x is the FFN input, sel the selection of it the
 *   experts' gate/up will be computed on (the state's Top-K inside experts; NULL: every
 *   channel), the one expert_linear then gets for AS_GROUP_GATE_UP. Called before any of
 *   them is computed: a source may start reading them all (and predict later layers').
 *   May be NULL.
 * linear_batch: as linear for n inputs at once: X is [n][in] and Ys[i] is [n][rows of
 *   op i] (token t's outputs at Ys[i] + t * rows); sels NULL: every channel, otherwise
 *   sels[t] is token t's selection (the state's Top-K of its input), each output exactly
 *   what linear gives for that token and selection. A source fetches the weights once for
 *   the batch (the stores: the union of the selections, see swap_sources.c). May be NULL:
 *   as_forward_batch then runs the batch token by token through linear. Only used when no
 *   hook is set and the model has no experts.
 * expert_linear: as linear, for group g (AS_GROUP_GATE_UP or AS_GROUP_DOWN) of expert
 *   e of layer, DOWN's input n_ff_exp channels. Required when the model has experts
 *   (as_state_new_src refuses a source without it: -EOPNOTSUPP). sel NULL: every
 *   channel; otherwise the state's Top-K inside experts (as_state_expert_sparsity) and
 *   x already has the other channels at 0, so a source holding the expert's rows
 *   computes on x as it is (the same numerics as the dense source's).
 */
struct as_wsource_ops {
	const char *name;
	int (*token_begin)(void *ctx);
	void (*token_end)(void *ctx);
	void (*layer_begin)(void *ctx, uint32_t layer, const float *x);
	int (*linear)(void *ctx, uint32_t layer, enum as_group g, const float *x,
		      const struct as_sel *sel, float *const *ys);
	int (*linear_batch)(void *ctx, uint32_t layer, enum as_group g, const float *X,
			    uint32_t n, const struct as_sel *sels, float *const *Ys);
	void (*experts_chosen)(void *ctx, uint32_t layer, const uint32_t *ids,
			       const float *w, uint32_t n, const float *x,
			       const struct as_sel *sel);
	int (*expert_linear)(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
			     const float *x, const struct as_sel *sel, float *const *ys);
};

struct as_wsource {
	const struct as_wsource_ops *ops;
	void *ctx;
};

/*
 * ys[i] = W_i x with the dense kernels for the ops of group g, W the layer's matrices
 * w[AS_OP_COUNT] (as_matvec for one op, as_matvec_multi for two or three). Every source
 * holding rows computes with it, so their numerics are the dense runtime's.
 */
void as_group_matvec(struct as_threadpool *tp, const struct as_weight *w, enum as_group g,
		     const float *x, float *const *ys);

/* The same for n inputs X [n][in] at once (as_matmul_multi), Ys[i] [n][rows]: every output
 * bit-identical to as_group_matvec's for its token. */
void as_group_matmul(struct as_threadpool *tp, const struct as_weight *w, enum as_group g,
		     const float *X, uint32_t n, float *const *Ys);

/* The same for expert e's group g (GATE_UP or DOWN) of the dense layer L. */
void as_expert_matvec(struct as_threadpool *tp, const struct as_layer *L, uint32_t e,
		      enum as_group g, const float *x, float *const *ys);

/*
 * The router's choice from its logits p[0..n_expert) (replaced by their softmax):
 * ids[0..k) the k most probable experts in decreasing probability, ties to the order of
 * llama.cpp's CPU argsort (a selection by swaps, ids[] its n_expert-long scratch), and
 * w[0..k) their probabilities, divided by their sum when norm.
 */
void as_moe_route(float *p, uint32_t n_expert, uint32_t k, bool norm, uint32_t *ids,
		  float *w);

/*
 * Called with the input vector of a group of linear ops before they run (once for
 * Q/K/V with AS_OP_Q, once for O, once for GATE/UP with AS_OP_GATE, once for DOWN).
 * It may change x in place, e.g. keep only the Top-K channels (activation sparsity).
 */
struct as_linear_hook {
	void (*pre)(void *arg, uint32_t layer, enum as_op op, float *x, size_t n);
	void *arg;
};

/* Decoding state: KV cache for n_ctx positions, scratch buffers and the weight source. */
struct as_state {
	const struct as_model *m;
	struct as_threadpool *tp;      /* may be NULL: single-threaded */
	uint32_t n_ctx;
	struct as_linear_hook hook;    /* pre == NULL: dense (not called for experts) */
	struct as_wsource src;         /* as_dense_source(m, tp) unless replaced */
	/* Channels kept of every group's input, [n_layer][AS_GROUP_COUNT]: the largest
	 * |x| are selected (as_topk_select) and handed to the source. NULL: every channel. */
	const uint32_t *topk;
	/* With topk set: thresholds of every group's input, [n_layer][AS_GROUP_COUNT]; the
	 * channels with |x| >= the threshold are selected instead (as_threshold_select), a
	 * variable number per token (topk is then the expected count). NULL: Top-K. */
	const float *thresh;
	/* Head sparsity (Deja Vu): in every layer and token, the attention output of the
	 * head_skip heads whose query has the smallest norm is zeroed (as_head_skip) and
	 * the O input channels that are 0 are then left out of O's selection, so their
	 * columns are not fetched. 0: every head. */
	uint32_t head_skip;
	float *x;       /* residual stream [dim] */
	float *xb;      /* [dim] */
	float *xb2;     /* [n_head * head_dim] attention output */
	float *hb;      /* [max(hidden, n_ff_exp)] */
	float *hb2;     /* [max(hidden, n_ff_exp)] */
	float *q;       /* [n_head * head_dim] */
	float *att;     /* [n_head][n_ctx] attention scores */
	float *rope;    /* [n_rot] cos/sin pairs for the current position */
	void *k_cache;  /* [n_layer][n_ctx][kv_dim] elements of kv_type */
	void *v_cache;  /* [n_layer][n_ctx][kv_dim] elements of kv_type */
	enum as_kv_type kv_type; /* AS_KV_F32 unless as_state_set_kv_type() */
	float *kv_k;    /* [kv_dim] one position's K before an F16 cache stores it */
	float *kv_v;    /* [kv_dim] its V */
	float *logits;  /* [n_vocab] */
	uint32_t *sel_idx; /* [max(dim, hidden, n_ff_exp, n_head * head_dim)] selection */
	float *sel_tmp;    /* [the same] selection scratch */
	/* mixture of experts (NULL for a dense FFN) */
	float *moe_p;      /* [n_expert] router logits, then probabilities */
	uint32_t *moe_ids; /* [n_expert] the chosen experts first (as_moe_route) */
	float *moe_w;      /* [n_expert_used] their weights */
	float *moe_y;      /* [dim] one expert's output */
	float *moe_acc;    /* [dim] the weighted sum */
	float *moe_x;      /* [dim] the experts' input, Top-K selected (expert_topk) */
	uint32_t *moe_sel; /* [dim] its selection */
	/* Top-K inside experts: channels kept of the experts' gate/up input (of dim) and of
	 * their down input (of n_ff_exp); 0: every channel (as_state_expert_sparsity). */
	uint32_t expert_topk[2];
	/* as_forward_batch's scratch for batch_cap positions (as_state_reserve_batch), kept
	 * from one batch to the next */
	struct as_batch *batch;
	uint32_t batch_cap;
};

/* The channels of x (n of them, group g's input of layer) the state selects: its Top-K or
 * its threshold (s->topk must be set); idx in increasing order, scratch n floats. */
uint32_t as_state_select(const struct as_state *s, uint32_t layer, enum as_group g,
			 const float *x, size_t n, uint32_t *idx, float *scratch);

/* Zero out[h * head_dim ..] for the n_skip heads h of the n_head whose q rows (head_dim
 * each) have the smallest sum of squares (ties: the lower head first; a NaN norm is
 * never skipped). score holds n_head floats. */
void as_head_skip(const float *q, float *out, uint32_t n_head, uint32_t head_dim,
		  uint32_t n_skip, float *score);

/* n_ctx >= 1. The KV cache is allocated lazily by the kernel (calloc), so a large
 * n_ctx only costs what is used. The source is the dense one over m's matrices.
 * 0 or -ENOMEM / -EOVERFLOW / -EINVAL. */
int as_state_new(struct as_state **out, const struct as_model *m, uint32_t n_ctx,
		 struct as_threadpool *tp);
/* The same with another weight source (m then needs no matrices, only the shape and the
 * resident tensors). */
int as_state_new_src(struct as_state **out, const struct as_model *m, uint32_t n_ctx,
		     struct as_threadpool *tp, struct as_wsource src);
void as_state_free(struct as_state *s);
/*
 * Top-K input-channel sparsity inside the experts of a mixture-of-experts model: of each
 * chosen expert's gate/up input (the layer's normed FFN input) and down input (its
 * hidden activation) only the round((1 - sparsity) n) largest |x| are used, the others
 * taken as 0 (as_swap_topk_count). 0 (the default): every channel, today's numerics.
 * -EINVAL unless 0 <= sparsity < 1 and the model has experts.
 */
int as_state_expert_sparsity(struct as_state *s, float sparsity);

/*
 * The KV cache's element type (as_state_new makes an F32 cache). The cache is made anew,
 * empty and lazily allocated as before: set the type before the first token (what the
 * cache held is gone; decoding starts again at position 0). 0, or -EINVAL (an unknown
 * type), -EOVERFLOW, -ENOMEM (the state then keeps its cache and type).
 */
int as_state_set_kv_type(struct as_state *s, enum as_kv_type t);

/* Bytes of the KV cache (K and V) of n_ctx positions of a model of shape hp in type t. */
uint64_t as_kv_bytes(const struct as_hparams *hp, uint32_t n_ctx, enum as_kv_type t);

/*
 * Run token at position pos (0 <= pos < n_ctx); the KV cache must hold positions
 * 0..pos-1 of the same sequence (positions at or after pos are overwritten). With
 * want_logits, s->logits holds the n_vocab next-token logits afterwards.
 * 0, or -EINVAL (token out of range) / -ERANGE (pos out of range), or the source's error.
 */
int as_forward(struct as_state *s, int32_t token, uint32_t pos, bool want_logits);

/*
 * Run tokens[0..n) at positions pos0 .. pos0 + n - 1 (pos0 + n <= n_ctx) as one batch
 * (prompt processing): each layer takes all n positions together, its products through
 * the source's linear_batch (the weights read once for the batch), attention causal over
 * the cache and the batch. The cache must hold positions 0..pos0-1. With
 * want_logits_last, s->logits holds the next-token logits after the last token. The
 * result is the one as_forward gives token by token, bit for bit (same kernels, same
 * order per position; with a Top-K, each position's own selection). Sources without
 * linear_batch, a hook or experts: token by token through as_forward. 0, or -EINVAL (n == 0, a token out of range), -ERANGE
 * (positions past n_ctx), -ENOMEM, or the source's error.
 */
int as_forward_batch(struct as_state *s, const int32_t *tokens, uint32_t n, uint32_t pos0,
		     bool want_logits_last);

/*
 * Allocate as_forward_batch's scratch for batches of up to n positions now (n <= n_ctx),
 * so that no batch allocates (a larger batch later grows it). 0, -EINVAL or -ENOMEM.
 */
int as_state_reserve_batch(struct as_state *s, uint32_t n);

/*
 * Bytes of that scratch for batches of n positions of a model of shape hp with n_ctx
 * positions and `threads` threads (attention score rows), with per-position Top-K
 * selections when topk (what a budget that counts activations adds for -b n).
 */
uint64_t as_batch_bytes(const struct as_hparams *hp, uint32_t n_ctx, uint32_t n, int threads,
			bool topk);

#endif

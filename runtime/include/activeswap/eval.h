/* SPDX-License-Identifier: MIT */
/*
 * Perplexity exactly as llama.cpp's llama-perplexity computes it: the token stream
 * (whole file, BOS prepended once) is cut into chunks of n_ctx tokens (the remainder
 * is dropped); in each chunk the first token is replaced by BOS, all n_ctx positions
 * are evaluated from an empty KV cache, and the negative log-likelihood of the next
 * token is summed over positions n_ctx/2 .. n_ctx-2. PPL = exp(mean NLL).
 *
 * With a reference state (e.g. the dense model while s runs with a sparsity hook),
 * the same positions also give the mean KL(reference || s) and the top-1 agreement.
 */
#ifndef ACTIVESWAP_EVAL_H
#define ACTIVESWAP_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/model.h"

struct as_state;

struct as_eval_result {
	uint32_t chunks;        /* chunks done so far */
	uint64_t tokens_scored;
	double nll;             /* mean NLL (nats) over scored positions */
	double ppl;             /* exp(nll) */
	bool have_ref;
	double kl;              /* mean KL(ref || s), nats, when have_ref */
	double top1;            /* fraction of positions with the same argmax */
};

/* Called after every chunk with the running figures. */
typedef void (*as_eval_chunk_fn)(void *arg, uint32_t chunk, uint32_t n_chunks,
				 const struct as_eval_result *so_far);

/*
 * Any model the perplexity loop can drive: the dense as_state (as_perplexity) or the
 * store-backed model (tools/swap_cli.c). forward() runs token at pos, leaving the
 * next-token logits at logits() when want_logits; it returns 0 or a negative errno.
 * forward_batch (may be NULL) runs tokens[0..n) at pos0.. as one batch, the logits of
 * the last one when want_logits_last (as_forward_batch); prompts are fed through it in
 * chunks of n_batch tokens (as_eval_feed).
 */
struct as_eval_model {
	int (*forward)(void *ctx, int32_t token, uint32_t pos, bool want_logits);
	const float *(*logits)(void *ctx);
	void *ctx;
	size_t n_vocab;
	uint32_t n_ctx; /* positions it can hold */
	int (*forward_batch)(void *ctx, const int32_t *tokens, uint32_t n, uint32_t pos0,
			     bool want_logits_last);
	uint32_t n_batch; /* tokens per batch; 0 or 1: one by one through forward */
};

/*
 * Run tokens[0..n) at positions pos0 .. pos0 + n - 1 (n >= 1), in batches of
 * m->n_batch when m has forward_batch, else one by one; the logits of the last position
 * when want_logits_last. 0, or the first error (*done, when not NULL, gets the positions
 * run before it: a batch that fails counts as not run).
 */
/* em over the dense state s, batches of n_batch tokens through as_forward_batch (0 or 1:
 * token by token). */
void as_eval_model_state(struct as_eval_model *em, struct as_state *s, uint32_t n_batch);

int as_eval_feed(const struct as_eval_model *m, const int32_t *tokens, size_t n, size_t pos0,
		 bool want_logits_last, size_t *done);

/*
 * s (and ref when not NULL) must have n_ctx positions at least; n_ctx >= 4 and the
 * stream must hold at least one chunk. bos < 0 keeps each chunk's first token.
 * 0, -EINVAL for bad arguments, or the forward pass's error.
 */
int as_perplexity_model(const struct as_eval_model *s, const struct as_eval_model *ref,
			const int32_t *tokens, size_t n_tokens, uint32_t n_ctx, int32_t bos,
			as_eval_chunk_fn cb, void *arg, struct as_eval_result *res);
/* The same over dense decoding states. */
int as_perplexity(struct as_state *s, struct as_state *ref, const int32_t *tokens,
		  size_t n_tokens, uint32_t n_ctx, int32_t bos, as_eval_chunk_fn cb,
		  void *arg, struct as_eval_result *res);

/* log softmax(logits)[tok], computed like llama.cpp (max-shifted, double sum). */
double as_log_softmax_at(const float *logits, size_t n, int32_t tok);

/*
 * Uniform Top-K activation sparsity as a linear hook: keeps the
 * K = round((1 - sparsity) * n) inputs of largest magnitude and zeroes the rest
 * (ties: lower index kept). Set s->hook = { as_topk_hook, &topk }.
 */
struct as_topk {
	float sparsity;         /* 0 .. 1 */
	/* Ops whose input is sparsified, as bits (1u << AS_OP_Q etc.); 0 = all. The hook
	 * is called with AS_OP_Q for Q/K/V and AS_OP_GATE for GATE/UP. */
	uint32_t op_mask;
	float *scratch;         /* internal; NULL initially, freed by as_topk_free */
	size_t scratch_n;
};
void as_topk_hook(void *arg, uint32_t layer, enum as_op op, float *x, size_t n);
/* Parse a comma-separated list of op groups ("qkv", "o", "gateup", "down", "all") into
 * an op_mask; -EINVAL (mask untouched) on an unknown or empty name. */
int as_topk_parse_ops(const char *list, uint32_t *mask);
void as_topk_free(struct as_topk *t);

#endif

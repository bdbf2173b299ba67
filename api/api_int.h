/* SPDX-License-Identifier: MIT */
/*
 * Internals of the public library (include/activeswap.h): the handle, and what the CLI
 * (tools/, linked with the static objects) may use beyond the public API. Nothing here is
 * exported from libactiveswap.so (mk/libactiveswap.map).
 */
#ifndef ACTIVESWAP_API_INT_H
#define ACTIVESWAP_API_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "activeswap.h"
#include "activeswap/eval.h"
#include "activeswap/latency.h"

struct as_model;
struct as_state;
struct as_swap_model;
struct as_threadpool;
struct as_tokenizer;

#define ASW_ERRLEN 512

struct asw_model {
	char err[ASW_ERRLEN];            /* the last failure, one line */
	bool owned;                      /* opened by asw_open (else asw_adopt: borrowed) */
	struct as_threadpool *tp;
	struct as_model *dm;             /* a GGUF: the weights and the decoding state */
	struct as_state *st;
	struct as_swap_model *sm;        /* a store */
	const struct as_tokenizer *tok;
	struct as_tokenizer *own_tok;
	struct as_eval_model em;         /* forward / logits over dm or sm */
	uint32_t n_past, threads;
	bool have_logits;
	uint64_t tokens;
	double decode_s;
	uint64_t full_bytes;             /* a store's 100% budget */
	uint32_t n_ctx_train;
	double predicted_s;              /* with a latency target: the cost model's figure */
	bool latency_met;
	/* with a latency target: the feedback moving sm's sparsity after each generated
	 * token (one-token asw_decode), NULL when fixed; own_lat or the CLI's */
	struct as_latency *lat;
	struct as_swap_model *lat_sm;
	struct as_latency own_lat;
};

struct asw_sampler {
	struct as_sampler *s;
	uint32_t n_vocab;
};

/* The message of m (when not NULL), one line. */
void asw_seterr(asw_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * For the CLI, whose commands open models with their own flags and messages: a handle
 * over an open model em (a dense state or a store, through as_eval_model) and its
 * tokenizer, both borrowed (asw_close frees only the handle). n_past starts at 0.
 * 0, or -EINVAL / -ENOMEM.
 */
int asw_adopt(asw_model **out, const struct as_eval_model *em, const struct as_tokenizer *tok);

/*
 * With a latency target: after each generated token (a one-token asw_decode) c moves
 * sm's sparsity towards the target (activeswap/latency.h); c is borrowed. 0, or
 * -EOPNOTSUPP when sm's sparsity cannot move (row mode: c is then not used).
 */
int asw_set_latency(asw_model *m, struct as_swap_model *sm, struct as_latency *c);

/*
 * Copy the caller's struct of size src_size into dst (holding the defaults, dst_size
 * bytes): -EINVAL when src_size < min_size, -E2BIG when src_size > dst_size and the bytes
 * beyond are not all zero.
 */
int asw_take_struct(void *dst, size_t dst_size, const void *src, uint32_t src_size,
		    size_t min_size);

#endif

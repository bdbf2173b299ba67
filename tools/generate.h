/* SPDX-License-Identifier: MIT */
/* Text generation for `activeswap run` and `activeswap chat`, the same loop over a GGUF
 * and over a store, through the public library (include/activeswap.h). */
#ifndef ACTIVESWAP_GENERATE_H
#define ACTIVESWAP_GENERATE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap.h"
#include "args.h"

/* The flags run and chat share: -n, -t, -c, -b, --kv-type, --temp, --top-k, --top-p, --min-p,
 * --repeat-penalty, --repeat-last-n, -s/--seed. */
struct gen_params {
	long n_predict, threads, ctx, top_k, repeat_last_n;
	long batch; /* prompt tokens per batch (-b, default GEN_BATCH_DEFAULT) */
	int kv_type; /* --kv-type: enum as_kv_type, default F16 */
	double temp, top_p, min_p, repeat_penalty;
	uint64_t seed;
	bool have_seed;
};

/* n_predict tokens, threads for a GGUF (the cores, at most 8) or a store (2), the
 * sampler's defaults. */
void gen_params_init(struct gen_params *g, long n_predict, bool store);
#define GEN_BATCH_DEFAULT 512 /* as llama.cpp's -ub */
#define GEN_NOPTS 13 /* with the end */
/* The option table of those flags over g (-n at least min_predict; -1: until the end of
 * generation or of the context, for the caller to resolve). */
void gen_args(struct gen_params *g, long min_predict, struct arg_opt opts[GEN_NOPTS]);
/* After parsing: a seed from the clock and the pid when none was given. */
void gen_params_done(struct gen_params *g);
/* g's --kv-type as the library's enum asw_kv_type */
int32_t gen_asw_kv_type(const struct gen_params *g);
/* A sampler with g's settings for m's vocabulary; NULL when out of memory. */
asw_sampler *gen_sampler(const struct gen_params *g, asw_model *m);

struct run_gen {
	long n_gen;                 /* tokens printed */
	double t_prompt, t_decode;  /* seconds */
	bool ctx_full;              /* stopped at the end of the context */
	bool eog;                   /* stopped at an end-of-generation token (not printed) */
	bool interrupted;           /* stopped because *stop was set */
	size_t n_past;              /* positions in the KV cache afterwards */
	/* When ids is not NULL (gen_decode's caller sets it up), every printed token is
	 * appended to ids[0 .. n_ids) (growing cap); the first n_past - pos0 of them are in
	 * the cache. */
	int32_t *ids;
	size_t n_ids, cap;
};

/* Run ids[0 .. n) at positions pos0 .. pos0 + n - 1 (pos0 <= what m's cache holds: the
 * rest is dropped, asw_kv_trim), logits for the last one only, in m's batches
 * (asw_decode). 0, or -1 with a message printed ("activeswap SUB: ..."). */
int gen_feed(const char *sub, asw_model *m, const int32_t *ids, size_t n, size_t pos0);

/*
 * With the logits of position pos - 1 current (pos = asw_n_past(m)): sample, print (the
 * token's bytes as they are, so UTF-8 split across tokens comes out byte-exact), and feed
 * back at pos, pos + 1, ... until n_predict tokens, an end-of-generation token
 * (asw_token_is_eog, not printed), position ctx, or *stop set (checked before every
 * token; stop may be NULL); every sampled token goes to asw_sampler_accept.
 * g->n_gen, t_decode, the stop reasons, n_past (and ids when kept) are set; g->ids is
 * kept as the caller set it. 0, or -1 with a message printed.
 */
int gen_decode(const char *sub, asw_model *m, asw_sampler *smp, long n_predict, long ctx,
	       const volatile sig_atomic_t *stop, struct run_gen *g);

/* Before a line on stderr after the generated text: end the text with a newline when
 * stdout shows on a terminal or is the same file as stderr (piped or redirected alone, it
 * stays exactly the text; a pipe with stderr on a terminal gets the newline on stderr). */
void gen_end_text(void);

/* run: echo the prompt, feed it (from position 0; its tokens to the sampler's repeat
 * window), then gen_decode (stop as there). */
int run_generate(const char *sub, asw_model *m, asw_sampler *smp, const int32_t *ids,
		 size_t n_ids, long n_predict, long ctx, const volatile sig_atomic_t *stop,
		 struct run_gen *g);

#endif

/* SPDX-License-Identifier: MIT */
/* Text generation for `activeswap run`, the same loop over a GGUF and over a store. */
#ifndef ACTIVESWAP_GENERATE_H
#define ACTIVESWAP_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct as_eval_model;
struct as_tokenizer;
struct as_sampler;

struct run_gen {
	long n_gen;                 /* tokens printed */
	double t_prompt, t_decode;  /* seconds */
	bool ctx_full;              /* stopped at the end of the context */
};

/* Echo and run the prompt (logits for its last position only), then sample, print and
 * feed back until n_predict tokens, EOS or position ctx. 0, or -1 with a message printed
 * ("activeswap SUB: ..."). */
int run_generate(const char *sub, const struct as_eval_model *em,
		 const struct as_tokenizer *tok, struct as_sampler *smp, const int32_t *ids,
		 size_t n_ids, long n_predict, long ctx, struct run_gen *g);

#endif

// SPDX-License-Identifier: MIT
/* Text generation shared by run over a GGUF and over a store (see generate.h). */
#include <stdio.h>
#include <string.h>

#include "activeswap/eval.h"
#include "activeswap/sampler.h"
#include "activeswap/tokenizer.h"
#include "cli.h"
#include "generate.h"

static void put_piece(const struct as_tokenizer *tok, int32_t id)
{
	size_t len;
	const char *p = as_token_piece(tok, id, &len);

	fwrite(p, 1, len, stdout);
	fflush(stdout);
}

int run_generate(const char *sub, const struct as_eval_model *em,
		 const struct as_tokenizer *tok, struct as_sampler *smp, const int32_t *ids,
		 size_t n_ids, long n_predict, long ctx, struct run_gen *g)
{
	double t0;
	int r;

	memset(g, 0, sizeof(*g));
	/* Prompt: echo it, then run it; logits only for the last position. */
	for (size_t i = 0; i < n_ids; i++)
		put_piece(tok, ids[i]);
	t0 = cli_now();
	for (size_t i = 0; i < n_ids; i++) {
		r = em->forward(em->ctx, ids[i], (uint32_t)i, i + 1 == n_ids);
		if (r) {
			cli_err(sub, "forward failed at prompt position %zu: %s", i, strerror(-r));
			return -1;
		}
	}
	g->t_prompt = cli_now() - t0;

	/* Generation: sample from the current logits, print, feed back. */
	t0 = cli_now();
	for (size_t pos = n_ids; g->n_gen < n_predict; pos++) {
		int32_t next = as_sample(smp, em->logits(em->ctx));

		if (next == as_tokenizer_eos(tok))
			break;
		put_piece(tok, next);
		g->n_gen++;
		if (g->n_gen == n_predict)
			break;
		if (pos >= (size_t)ctx) {
			g->ctx_full = true;
			break;
		}
		r = em->forward(em->ctx, next, (uint32_t)pos, true);
		if (r) {
			cli_err(sub, "forward failed at position %zu: %s", pos, strerror(-r));
			return -1;
		}
	}
	g->t_decode = cli_now() - t0;
	return 0;
}

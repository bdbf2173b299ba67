/* SPDX-License-Identifier: MIT */
/*
 * What the mixture-of-experts store tests share (tests/unit/moefx.c): a greedy run of a
 * store or of the dense runtime on its GGUF, from the prompt { 1, 17, 300 }, keeping
 * every step's logits, and a header patch.
 */
#ifndef AS_TEST_MOEFX_H
#define AS_TEST_MOEFX_H

#include <stddef.h>
#include <stdint.h>

#include "activeswap/mkmodel.h"
#include "activeswap/swap.h"

#define MOEFX_STEPS 8
#define MOEFX_VOCAB 512 /* the tests' models' vocabulary */

struct moefx_run {
	int32_t tokens[MOEFX_STEPS];
	float logits[MOEFX_STEPS][MOEFX_VOCAB];
	struct as_swap_stats st;
};

/* n_ctx positions, 4 reads in flight, every expert's crc32c checked when computed from;
 * the rest 0. */
void moefx_params(struct as_swap_params *p, uint32_t n_ctx);
/* The prompt, then MOEFX_STEPS greedy tokens: their logits, ids and m's statistics;
 * closes m. */
void moefx_greedy(struct as_swap_model *m, struct moefx_run *res);
/* The same on the store at path with p (a failed open fails the test). */
void moefx_decode(const char *path, const struct as_swap_params *p, struct moefx_run *res);
/* The same with the dense runtime on gguf at expert sparsity es. */
void moefx_decode_dense(const char *gguf, float es, uint32_t n_ctx, struct moefx_run *res);
/* a's tokens are b's and every step's logits within 1e-4 of b's largest |logit|
 * (+ 1e-6): the store's columns against the dense rows (test_swaprun.c's bound). */
void moefx_assert_close(const struct moefx_run *a, const struct moefx_run *b);
/* A generated MoE model (as_mkmodel, 2 threads, vocabulary MOEFX_VOCAB, 4 heads of which 2
 * KV, context 256): arch AS_ARCH_LLAMA a Mixtral (8 experts, 2 used), AS_ARCH_QWEN3MOE a
 * Qwen3-MoE (16 experts, 4 used, head size 64: attention wider than dim); dim, the dense
 * hidden and the experts' width xw as given. Prints as_mkmodel's error; returns it. */
int moefx_mkmoe(const char *out, enum as_arch arch, enum ggml_type type, uint64_t layers,
		uint64_t seed, uint64_t dim, uint64_t hidden, uint64_t xw);
/* A copy of the store at src with the header's u32 at off set to v (checksum redone). */
void moefx_patch_header(const char *src, const char *dst, size_t off, uint32_t v);

#endif

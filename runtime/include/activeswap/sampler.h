/* SPDX-License-Identifier: MIT */
/*
 * Token sampler: greedy, or top-k -> top-p -> min-p -> temperature -> random draw, in the
 * order llama.cpp's default chain applies them (top-p and min-p are cut on the untempered
 * probabilities), after the repetition penalty (both greedy and sampled) over the last
 * repeat_last_n tokens given to as_sampler_accept(). The random numbers come from an own
 * seeded PRNG (SplitMix64), so a given seed reproduces the same tokens on every machine
 * and build.
 */
#ifndef ACTIVESWAP_SAMPLER_H
#define ACTIVESWAP_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct as_sampler_params {
	float temp;     /* <= 0: greedy (argmax, lowest id on ties) */
	int top_k;      /* <= 0: no top-k cut */
	float top_p;    /* >= 1: no top-p cut */
	uint64_t seed;
	float min_p;    /* <= 0: no min-p cut; else keep p >= min_p * p(most likely) */
	/* 1 or repeat_last_n 0: none; else llama.cpp's repeat penalty: the logit of every
	 * distinct token among the last repeat_last_n accepted is divided by it (when
	 * positive) or multiplied by it (otherwise) */
	float repeat_penalty;
	int repeat_last_n;
};

/* llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95. */
#define AS_SAMPLER_DEFAULT_TEMP 0.8f
#define AS_SAMPLER_DEFAULT_TOP_K 40
#define AS_SAMPLER_DEFAULT_TOP_P 0.95f

struct as_sampler;

/* NULL on allocation failure or n_vocab == 0. */
struct as_sampler *as_sampler_new(const struct as_sampler_params *p, size_t n_vocab);
void as_sampler_free(struct as_sampler *s);

/* Pick a token from n_vocab logits (not modified). */
int32_t as_sample(struct as_sampler *s, const float *logits);
/* A token of the context (prompt or generated), for the repeat penalty's window; ids
 * outside the vocabulary are ignored. */
void as_sampler_accept(struct as_sampler *s, int32_t id);

/* Index of the largest value (first one on ties). */
int32_t as_argmax(const float *x, size_t n);

/* The PRNG on its own (for tests): next value, and a uniform double in [0, 1). */
uint64_t as_rng_next(uint64_t *state);
double as_rng_uniform(uint64_t *state);

#endif

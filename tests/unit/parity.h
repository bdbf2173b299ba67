/* SPDX-License-Identifier: MIT */
/*
 * Greedy parity with llama.cpp, shared by tests/unit/test_arch_parity.c (generated
 * vocabularies) and test_vocab_parity.c (real ones): a continuation llama.cpp produced
 * must be ours up to a near-tie, free-running and teacher-forced (parity.c).
 */
#ifndef AS_TEST_PARITY_H
#define AS_TEST_PARITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/model.h"

#define PARITY_MAXIDS 256

/*
 * A near-tie: our logit of token t is within PARITY_TIE of our top logit. The largest
 * logit difference to llama.cpp measured on the generated models (logits of standard
 * deviation ~1) is 0.039: one Q8_0 rounding of an activation landing the other way.
 * Below that margin the greedy choice is ill-posed and either answer is right.
 */
#define PARITY_TIE 0.05f
/*
 * Models with K-quant or IQ4_XS matrices multiply them with activations quantized to Q8_K
 * (one scale per 256 values, so one rounding step is coarser) and sum in an order that
 * differs from llama.cpp's in the last bits: where one Q8_K rounding lands the other way,
 * the logits move by up to 0.156 (measured, teacher-forced over the 121-token prompt; they
 * are bit-identical until then). Their margin is PARITY_TIE_K and their teacher-forced
 * top-1 must reach 0.95 (measured 0.97-1.0 per model) instead of 0.99.
 */
#define PARITY_TIE_K 0.16f

struct parity_tally {
	int seqs, equal, bad, steps, agree, ties;
};

/* FNV-1a 64 of a file (fails the test when it cannot be read). */
uint64_t parity_fnv1a_file(const char *path);
/* "1,2,3" into ids[max]: the count, or -1 on a malformed list. */
int parity_parse_ids(const char *s, int32_t *ids, int max);
/* ids as "1,2,3" into out[len] (cut short when it does not fit). */
void parity_fmt_ids(const int32_t *ids, int n, char *out, size_t len);
/* The argmax, lowest id on ties (llama.cpp's greedy sampler keeps the first). */
int32_t parity_argmax(const float *x, uint32_t n);

/*
 * One prompt and llama.cpp's greedy continuation want[0..ng):
 *  - free-running, our greedy continuation must equal want up to the first step where
 *    ours is a near-tie between our token and llama.cpp's (then the two may part);
 *  - teacher-forced on want, at every step our top-1 must be llama.cpp's token or a
 *    near-tie with it (counted for the 0.99 agreement over all steps).
 * tie is the near-tie margin (PARITY_TIE or PARITY_TIE_K). Our free-running continuation goes to got[0..ng) when got is not NULL; a step that is
 * no near-tie is printed and counted in st->bad.
 */
void parity_check_sequence(const struct as_model *m, const char *nm, const int32_t *prompt,
			   int np, const int32_t *want, int ng, float tie, struct parity_tally *st,
			   int32_t *got);
/* a += b */
void parity_tally_add(struct parity_tally *a, const struct parity_tally *b);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The latency target's feedback (ELMS): the cost model picks a sparsity at open
 * (swap_auto.h); this keeps the measured time per generated token at the target while
 * decoding, moving the sparsity between 0 and the cap after each token.
 *
 * Model: a token's time is roughly proportional to the channels it keeps (1 - s): reads
 * and compute both scale with them. After a token of time dt at sparsity s, the kept
 * fraction moves by the square root of target / dt (half the step in log space, which
 * smooths single slow or fast tokens), at most MAX_STEP in sparsity per token, rounded
 * to 0.01; within a dead band of 5% around the target nothing moves. The fixed part of a
 * token (attention, the output head) makes the model optimistic; the loop converges on
 * the target anyway, a few tokens later.
 *
 * The output then depends on timing: with a latency target it is not reproducible
 * (--latency-fixed keeps the open's choice for the whole run).
 */
#ifndef ACTIVESWAP_LATENCY_H
#define ACTIVESWAP_LATENCY_H

#include <stdbool.h>
#include <stdint.h>

struct as_latency {
	double target_s;  /* per generated token */
	float s;          /* the sparsity now */
	float s_max;      /* never above */
	float s_start;    /* the open's choice */
	float s_lo, s_hi; /* the range used */
	double sum_s;     /* over the steps: for the mean */
	double sum_dt;
	uint64_t steps;
	uint64_t changes;
};

/* Start at s0 (the cost model's choice), capped at s_max (both in [0, 1)). */
void as_latency_init(struct as_latency *c, double target_s, float s0, float s_max);

/* A generated token took dt_s at c->s: c->s becomes the next token's sparsity. True
 * when it changed. */
bool as_latency_step(struct as_latency *c, double dt_s);

/* Mean sparsity and time over the steps (the start values before any). */
float as_latency_mean_sparsity(const struct as_latency *c);
double as_latency_mean_s(const struct as_latency *c);

#endif

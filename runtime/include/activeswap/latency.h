/* SPDX-License-Identifier: MIT */
/*
 * The latency target's feedback (ELMS): the cost model picks a setting at open
 * (swap_auto.h); this keeps the measured time per generated token at the target while
 * decoding, moving the sparsity between 0 and the cap (and with it, when the model says
 * so, the gap filling limit) after each token.
 *
 * Model: the cost model's predicted time per token at a few sparsities (as_latency_model,
 * e.g. as_swap_auto_latency_model()), or without one a time proportional to the kept
 * fraction 1 - s. The machine's load, a cache that warms up and what the cost model does
 * not see (attention, the output head) make the measured time differ from it by a factor,
 * the ratio measured / predicted at the sparsity the token ran, taken as the median of
 * the last three tokens' (one outlier is left out; the smaller of the first two, as the
 * first may pay for a cold cache). The next token's sparsity is the lowest on a 0.01
 * grid whose predicted time times the ratio meets the allowance, else the cap; the
 * allowance is the target plus the time the request saved so far (negative: lost) spread
 * over the next AS_LATENCY_HORIZON tokens, within [0.5, 1.5] x target: the target is
 * about the request's mean. Within a dead band of 5% of the allowance nothing moves; a
 * move is at most AS_LATENCY_MAX_STEP. Optional rungs beyond the sparsity (the precision
 * planner's, as_latency_set_rungs) move one at a time when the cap is not enough.
 *
 * The output then depends on timing: with a latency target it is not reproducible
 * (--latency-fixed keeps the open's choice for the whole run).
 */
#ifndef ACTIVESWAP_LATENCY_H
#define ACTIVESWAP_LATENCY_H

#include <stdbool.h>
#include <stdint.h>

#define AS_LATENCY_MAX_POINTS 24
#define AS_LATENCY_HORIZON 8   /* tokens over which a debt is paid back */
#define AS_LATENCY_MAX_STEP 0.25 /* sparsity moved per token at most */
#define AS_LATENCY_NO_GAP UINT64_MAX /* gap limit not moved by the feedback */
#define AS_LATENCY_LOG 64         /* the first tokens' times kept (dt_log) */

/* The predicted time per token t[i] > 0 at ascending sparsities s[i] (s[0] = 0), and the
 * gap filling limit to use from s[i] up to s[i + 1] (AS_LATENCY_NO_GAP: never moved). */
struct as_latency_model {
	uint32_t n;
	float s[AS_LATENCY_MAX_POINTS];
	double t[AS_LATENCY_MAX_POINTS];
	uint64_t gap[AS_LATENCY_MAX_POINTS];
};

/*
 * Optional knobs beyond the sparsity (the precision planner's rungs under
 * `--expert-precision auto`), by increasing accuracy cost: t[r][i] the predicted time at
 * rung r and the model's s[i]; id[r] the caller's name of rung r (applied by the caller
 * when c->rung changes); start the rung the open chose. With n > 1, the feedback moves to
 * the next rung when the cap's sparsity does not meet the allowance, and back to the
 * previous one when that one meets it, with the margin of the dead band, at the cap.
 */
#define AS_LATENCY_MAX_RUNGS 18
struct as_latency_rungs {
	uint32_t n, start;
	double t[AS_LATENCY_MAX_RUNGS][AS_LATENCY_MAX_POINTS];
	uint32_t id[AS_LATENCY_MAX_RUNGS];
};

struct as_latency {
	double target_s;  /* per generated token */
	float s;          /* the sparsity now */
	float s_max;      /* never above */
	float s_start;    /* the open's choice */
	float s_lo, s_hi; /* the range used */
	uint64_t gap, gap_start; /* the gap limit now and at the start (AS_LATENCY_NO_GAP) */
	struct as_latency_model model; /* n 0: time proportional to the kept fraction */
	double ratio;     /* measured / predicted now (0 before the first token) */
	double ratio_lo, ratio_hi; /* its range */
	double hist[3];   /* the last three tokens' ratios */
	uint32_t n_hist, i_hist; /* how many (at most 3), the next one's place */
	double sum_s;     /* over the steps: for the mean */
	double sum_dt;
	uint64_t steps;
	uint64_t changes; /* of the sparsity */
	uint64_t gap_changes;
	float dt_log[AS_LATENCY_LOG]; /* the first steps' times (warm-up or load?) */
	struct as_latency_rungs rungs; /* n 0 or 1: none (as_latency_set_rungs) */
	uint32_t rung, rung_start;     /* the rung now and at the start */
	uint64_t rung_changes;
};

/* Start at s0 (the cost model's choice), capped at s_max (both in [0, 1)); no model. */
void as_latency_init(struct as_latency *c, double target_s, float s0, float s_max);

/* The model to scale (copied; its times made non-increasing in s, as fewer channels never
 * cost more): 0, or -EINVAL for n outside [1, AS_LATENCY_MAX_POINTS], s not ascending from
 * 0 in [0, 1) or a time not finite and > 0 (c unchanged). Sets the gap limit for c->s. */
int as_latency_set_model(struct as_latency *c, const struct as_latency_model *m);

/* The rungs (after the model, at its sparsities: -EINVAL otherwise or for a time not
 * finite and > 0); their times made non-increasing in s as the model's; c->rung = start. */
int as_latency_set_rungs(struct as_latency *c, const struct as_latency_rungs *r);

/* The model's predicted time per token at sparsity s (linear between the points; with
 * rungs, the current rung's). */
double as_latency_predict(const struct as_latency *c, float s);

/* A generated token took dt_s at c->s (and c->gap): c->s and c->gap become the next
 * token's. True when either changed. */
bool as_latency_step(struct as_latency *c, double dt_s);

/* Mean sparsity and time over the steps (the start values before any). */
float as_latency_mean_sparsity(const struct as_latency *c);
double as_latency_mean_s(const struct as_latency *c);

#endif

/* SPDX-License-Identifier: MIT */
/* Inside the auto choices (swap_auto.c): the precision planner's choice, swap_auto_xprec.c. */
#ifndef ACTIVESWAP_SWAP_AUTO_INT_H
#define ACTIVESWAP_SWAP_AUTO_INT_H

#include "activeswap/swap_auto.h"

/* req.expert_precision_auto: p->expert_precision (and expert_high) from the candidates'
 * estimates at p->budget_bytes and p->sparsity, or with a latency target the rung and
 * sparsity (the caller sets p->sparsity from xcand[xpick]). */
void sw_auto_xprec(struct as_swap_auto *a, const char *path, const struct as_cost_inputs *ci,
		   struct as_swap_params *p);
/* A store with experts without the planner's pick: a->xmodel, the candidate xcand[0] of
 * p's precision at p->sparsity, or with a latency target at the lowest sparsity of the
 * grid predicted to meet it, else the fastest (a->latency_met). */
void sw_auto_xmodel(struct as_swap_auto *a, const struct as_cost_inputs *ci,
		    const struct as_swap_params *p);
/* The cost model's estimate for policy x (high: low-weight's) at sparsity s. */
void sw_auto_xprec_estimate(const struct as_swap_auto *a, const struct as_cost_inputs *ci,
			    const struct as_swap_params *p, enum as_expert_precision x,
			    uint32_t high, float s, struct as_cost_expert_est *out);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The "auto" choices of the swapping runtime, as a library call: from a store, a DRAM
 * budget and what the caller fixed, the parameters of as_swap_open() (the context, the
 * policy, sparsity and preload group by the cost model, the gap filling limit by replay).
 * Built on the public API of activeswap/swap.h only; the CLI (tools/swap_cli.c) parses the
 * flags into it and prints what it chose. Documentation/swapping.md, "auto".
 *
 * Use:
 *   memset(&p, 0, sizeof(p)); set p.backend, p.queue_depth, p.tp, ... (fixed by the caller)
 *   as_swap_auto_init(&a, &req, path, &p, n_ctx, err, errlen);   store facts, budget info
 *   budget = ... (e.g. a percentage of a.budget.full)
 *   as_swap_auto_choose(&a, path, budget, &p, err, errlen);       measures, chooses
 *   as_swap_open(&m, path, &p, ...);
 *   as_swap_auto_free(&a);                                          p.layer_sparsity too
 */
#ifndef ACTIVESWAP_SWAP_AUTO_H
#define ACTIVESWAP_SWAP_AUTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/latency.h"
#include "activeswap/swap.h"

/* What the caller fixed, and what it leaves to the choice. */
struct as_swap_auto_req {
	float sparsity;       /* < 0: chosen by the cost model */
	uint32_t group;       /* 0: chosen by the cost model */
	float max_sparsity;   /* upper bound of a chosen sparsity */
	const char *levels;   /* per-layer levels file (activeswap calibrate), or NULL */
	/* select by the levels file's thresholds (p->layer_threshold), not a Top-K: needs a
	 * file written by calibrate --sparsity-mode threshold (-EINVAL / -ENODATA otherwise) */
	bool threshold;
	bool policy_auto;     /* p->policy: FREQ (all pinned) when everything fits, else
	                       * STATIC (a static prefix of every layer's channels) */
	bool gap_auto;        /* p->gap_bytes by replay (group-1 store, when swapping) */
	uint32_t ctx_default; /* positions when n_ctx is 0 (0 or above 2048: 2048) */
	/* > 0: a latency target in seconds per generated token (ELMS): the sparsity is the
	 * lowest the cost model predicts to meet it (as_cost_choose_latency; on a store
	 * with experts the cost model with experts, xmodel), never above max_sparsity;
	 * needs sparsity < 0 and no levels file (-EINVAL otherwise) */
	double latency_target_s;
	/* the precision planner chosen too (`--expert-precision auto`; a store with low
	 * copies, else off): from the cost model's expert bytes and time per token at the
	 * budget (as_cost_experts), or with latency_target_s the least accuracy cost that
	 * meets the target (off first). p->expert_high, when given, is low-weight's. */
	bool expert_precision_auto;
	/* > 0: the flash read bandwidth and the compute speed (bytes/s) taken as measured,
	 * the probes skipped (tests and experiments: ACTIVESWAP_AUTO_SPEEDS in the CLI) */
	double flash_bps, compute_bps;
};

/* One candidate of the precision choice: the policy, its experts kept high (low-weight),
 * the sparsity it ran at and the cost model's estimate (as_cost_experts). */
#define AS_XPREC_CANDS 18
struct as_swap_xprec_cand {
	enum as_expert_precision x;
	uint32_t high;
	float sparsity;
	bool fits;                     /* the budget holds its minimum */
	struct as_cost_expert_est est;
};

/* A precision candidate as a latency rung's id (as_latency_rungs.id): x << 16 | high, and
 * back. */
static inline uint32_t as_xprec_rung_id(enum as_expert_precision x, uint32_t high)
{
	return (uint32_t)x << 16 | (high & 0xffff);
}
static inline enum as_expert_precision as_xprec_rung_x(uint32_t id)
{
	return (enum as_expert_precision)(id >> 16);
}
static inline uint32_t as_xprec_rung_high(uint32_t id)
{
	return id & 0xffff;
}

struct as_swap_auto {
	struct as_swap_auto_req req;
	/* as_swap_auto_init */
	uint32_t n_ctx;                /* the context used (p->n_ctx) */
	uint32_t n_ctx_train;          /* the store's training context (0: unknown) */
	struct as_swap_budget budget;  /* for n_ctx */
	uint64_t weight_bytes;         /* the bundles held: all, or the slice's (p->n_slices) */
	uint32_t n_layers;
	bool group1;                   /* a group-1 store (gap filling possible) */
	double kind_bytes[SWAP_KIND_COUNT]; /* one layer's bytes of each kind */
	/* as_swap_auto_choose */
	uint64_t budget_bytes;         /* p->budget_bytes (at most budget.full) */
	uint64_t budget_asked;         /* the budget given, when above budget.full */
	bool budget_capped;            /* ... and so capped at budget.full */
	bool auto_sparsity, auto_group;
	double flash_bps, compute_bps; /* measured (0 when nothing was chosen) */
	struct as_cost_choice choice;  /* the cost model's choice and estimates */
	bool gap_tried;                /* the gap replay ran */
	bool gap_measured;             /* ... and chose p->gap_bytes (else AS_GAP_DEFAULT) */
	bool estimate_replayed;        /* choice.io_s / tokens_per_s from the replay's times */
	struct as_gap_replay replay;   /* when gap_measured */
	float *levels;                 /* p->layer_sparsity (owned; as_swap_auto_free) */
	float *thresholds;             /* p->layer_threshold (req.threshold; owned) */
	/* with req.latency_target_s: the target is predicted to be met (else the fastest
	 * allowed setting runs); the read cost was replayed at the n_points sparsities of
	 * cost (group-1 store, swapping) rather than taken from the bandwidth */
	bool latency_met;
	bool latency_replayed;
	struct as_cost_inputs cost;    /* the cost model's inputs of the choice */
	/* per-expert precision: the store's experts (n_expert 0: none), its low copies, the
	 * facts of the carve of the cache (one bundle's bytes and channels per kind) */
	uint32_t n_expert, experts_used, store_group;
	bool low_experts;
	double bundle_bytes[SWAP_KIND_MAX], slot_bytes[SWAP_KIND_MAX]; /* swap_slot_bytes */
	uint32_t kind_in[SWAP_KIND_MAX];
	/* expert columns (store version 5): columns per gate/up and per down bundle (0:
	 * rows), their bytes (one column of every matrix of the kind) */
	uint32_t expert_cols[2];
	/* req.expert_precision_auto: the candidates (off, low-weight, miss; under a latency
	 * target every rung tried), the pick xcand[xpick] (p->expert_precision, expert_high),
	 * why (one phrase), the slots' bytes with the planner off and on */
	bool xprec_chosen, xprec_latency;
	uint32_t n_xcand, xpick;
	struct as_swap_xprec_cand xcand[AS_XPREC_CANDS];
	const char *xprec_why;
	double xcache[2];
	enum swap_policy_kind xpolicy; /* p->policy, uniform_cache, expert_sparsity of the */
	bool xuniform;                 /* carve and of the reads the candidates were */
	float xsparsity;               /* estimated with */
	bool xlow_slots;               /* p->expert_low_slots set (the rungs can move) */
	float xshare_high;             /* the high experts' cached share, planner off */
	/* a store with experts and no pick of the planner (not asked, no low copies): the
	 * one candidate xcand[0] (xpick 0) of the precision the open runs (p's
	 * expert_precision and expert_high), at the sparsity chosen (under a latency target
	 * the lowest predicted to meet it, else the fastest); choice's times, the predicted
	 * time per token and the latency model are then its (as_cost_experts: k experts per
	 * layer read whole unless cached), not the dense model's */
	bool xmodel;
};

/* The predicted time per token of a->choice, in seconds. */
double as_swap_auto_predicted_s(const struct as_swap_auto *a);
/* After a choice with a latency target: the model the feedback scales by the ratio
 * measured / predicted (activeswap/latency.h), the cost model's predicted time at the
 * sparsities 0, AS_COST_STEP, ... up to req.max_sparsity with the group picked, and the
 * gap limit picked (the feedback does not move it: AS_LATENCY_NO_GAP). */
void as_swap_auto_latency_model(const struct as_swap_auto *a, struct as_latency_model *m);

/* After a choice with a latency target and req.expert_precision_auto on a store with low
 * copies: the precision rungs of the ladder (xcand, by increasing accuracy cost) at the
 * sparsities of m (as_swap_auto_latency_model's), their id x << 16 | expert_high, the
 * start the rung picked; r->n 0 otherwise (and when the open has no low slots). */
void as_swap_auto_latency_rungs(const struct as_swap_auto *a, const struct as_latency_model *m,
				struct as_latency_rungs *r);

/* Read the store's header for the cost model, resolve the context (n_ctx 0:
 * req->ctx_default, never past the training context) into a->n_ctx and p->n_ctx, and
 * compute the budget's parts for it with p as given. 0, or a negative errno with one line
 * in err naming the file. */
int as_swap_auto_init(struct as_swap_auto *a, const struct as_swap_auto_req *req,
		      const char *path, struct as_swap_params *p, uint32_t n_ctx, char *err,
		      size_t errlen);

/* With a budget in bytes, fill p: budget_bytes (a budget above budget.full, what holding
 * everything takes, is capped at it: budget_capped, budget_asked), policy (req->policy_auto), sparsity and
 * group (chosen or given; the levels file's byte-weighted mean when one is given, whose
 * levels go to p->layer_sparsity; on a store with experts a chosen sparsity is the one
 * at which the kept columns and k of n_expert experts per layer fit the cache), gap_bytes / no_gap_fill (req->gap_auto). Measures the
 * flash and the compute when something is chosen, replays gaps when req->gap_auto applies.
 * With req->latency_target_s, the sparsity (and the group when chosen) meets the target
 * as predicted, after replaying the reads at a few sparsities when the store is group-1
 * and the budget swaps (latency_met, latency_replayed; Documentation/swapping.md,
 * "Latency target"). 0, or a negative errno with one line in err. */
int as_swap_auto_choose(struct as_swap_auto *a, const char *path, uint64_t budget_bytes,
			struct as_swap_params *p, char *err, size_t errlen);

void as_swap_auto_free(struct as_swap_auto *a);

#endif

// SPDX-License-Identifier: MIT
/* The swapping runtime's auto choices (see activeswap/swap_auto.h and costmodel.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/swap_auto.h"
#include "swap_auto_int.h"

#define AUTO_CTX_MAX 2048
#define AUTO_FLASH_BS (256u << 10) /* bytes per read of the flash measurement */
#define AUTO_FLASH_S 0.3
#define AUTO_COMPUTE_S 0.1
#define AUTO_REPLAY_S 0.8
#define AUTO_REPLAY_QD 32          /* the queue depth replayed when p has none */
#define AUTO_PROBE_FULL (256ull << 20) /* weights from which the probes take their full time */
#define AUTO_PROBE_MIN 30.0        /* ... and at most this many times shorter */
#define AUTO_LAT_POINTS 5          /* sparsities the latency target's replay times */
#define AUTO_LAT_REPLAY_S 1.0
#define AS_GAP_LIB_DEFAULT 8192    /* as_swap_params.gap_bytes 0 (swap_sources.c) */

/*
 * The time of a probe whose full time is full_s: scaled to the model's weights (a store
 * of a few MB is measured in milliseconds, not in a second), and the shortest when the
 * budget holds everything (the choice is sparsity 0 whatever the speeds: they only feed
 * the printed estimate).
 */
static double probe_s(const struct as_swap_auto *a, uint64_t budget_bytes, double full_s)
{
	double s = full_s * (double)a->weight_bytes / (double)AUTO_PROBE_FULL;

	if (budget_bytes >= a->budget.full || s < full_s / AUTO_PROBE_MIN)
		s = full_s / AUTO_PROBE_MIN;
	return s > full_s ? full_s : s;
}

/* "path: e", naming the file once: the store's own messages may name it already. */
static void named_err(char *err, size_t errlen, const char *path, const char *e)
{
	size_t n = strlen(path);

	if (!strncmp(e, path, n) && e[n] == ':')
		snprintf(err, errlen, "%s", e);
	else
		snprintf(err, errlen, "%s: %s", path, e);
}

int as_swap_auto_init(struct as_swap_auto *a, const struct as_swap_auto_req *req,
		      const char *path, struct as_swap_params *p, uint32_t n_ctx, char *err,
		      size_t errlen)
{
	struct swap_store *st;
	const struct swap_store_desc *d;
	char e[512] = "";
	int r;

	memset(a, 0, sizeof(*a));
	a->req = *req;
	r = swap_store_open(&st, path, e, sizeof(e));
	if (r) {
		named_err(err, errlen, path, e);
		return r;
	}
	d = swap_store_desc(st);
	/* the bundles this process holds: its slice's channels under tensor parallelism
	 * (the whole store otherwise), which the cache's share and the probes are of */
	for (int k = 0; k < (int)swap_store_n_kinds(st) && k < SWAP_KIND_MAX; k++) {
		uint32_t lo, hi;

		as_swap_slice(d, p->n_slices, p->slice, k, &lo, &hi);
		a->weight_bytes += (uint64_t)(hi - lo) * d->n_layers *
				   swap_store_bundle_bytes(st, (enum swap_kind)k);
	}
	a->n_layers = d->n_layers;
	a->group1 = d->group == 1;
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		a->kind_bytes[k] = (double)d->kinds[k].in *
				   (double)swap_store_bundle_bytes(st, (enum swap_kind)k);
	a->n_ctx_train = d->hp.n_ctx;
	a->n_expert = d->n_expert;
	a->experts_used = d->n_expert ? as_swap_store_experts_used(st) : 0;
	a->store_group = d->group;
	a->low_experts = d->n_expert && swap_store_n_kinds(st) == SWAP_KIND_MAX;
	for (int k = 0; k < (int)swap_store_n_kinds(st) && k < SWAP_KIND_MAX; k++) {
		a->bundle_bytes[k] = (double)swap_store_bundle_bytes(st, (enum swap_kind)k);
		a->slot_bytes[k] = (double)swap_slot_bytes(st, (enum swap_kind)k);
		a->kind_in[k] = d->kinds[k].in;
	}
	a->expert_cols[0] = d->kinds[SWAP_FFN_IN].cols;
	a->expert_cols[1] = d->kinds[SWAP_FFN_OUT].cols;
	swap_store_close(st);
	/* 0: the default (at most 2048) and never past the training context (the store
	 * header's copy of it), as for a GGUF */
	if (!n_ctx) {
		n_ctx = req->ctx_default && req->ctx_default < AUTO_CTX_MAX ? req->ctx_default :
									      AUTO_CTX_MAX;
		if (a->n_ctx_train && n_ctx > a->n_ctx_train)
			n_ctx = a->n_ctx_train;
	}
	p->n_ctx = a->n_ctx = n_ctx;
	r = as_swap_budget_info(path, p, &a->budget, e, sizeof(e));
	if (r)
		named_err(err, errlen, path, e);
	return r;
}

/* The levels file's levels into a->levels and their mean weighted by bytes: the share of
 * the swappable bytes left out, the sparsity the cost model reasons with (calibrate keeps
 * it, weighted by weights). */
static int load_levels(struct as_swap_auto *a, float *mean, char *err, size_t errlen)
{
	size_t n = (size_t)a->n_layers * SWAP_KIND_COUNT;
	double avg = 0, wsum = 0;
	int r;

	a->levels = calloc(n ? n : 1, sizeof(float));
	if (a->req.threshold)
		a->thresholds = calloc(n ? n : 1, sizeof(float));
	if (!a->levels || (a->req.threshold && !a->thresholds)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = as_swap_load_levels_thr(a->req.levels, a->n_layers, a->levels, a->thresholds,
				    err, errlen);
	if (r)
		return r;
	for (size_t i = 0; i < n; i++) {
		avg += a->levels[i] * a->kind_bytes[i % SWAP_KIND_COUNT];
		wsum += a->kind_bytes[i % SWAP_KIND_COUNT];
	}
	*mean = wsum > 0 ? (float)(avg / wsum) : 0;
	return 0;
}

/*
 * A store with experts, the sparsity chosen without a target: as_cost_choose's rule (what
 * a token reads fits the cache) with what a token of a store with experts reads: the
 * column kinds' kept channels and k of n_expert experts per layer, whole (their sparsity
 * does not apply to the experts). So the rule is asked with the column kinds' bytes as
 * the weights and the cache less the chosen experts' share of it.
 */
static float expert_fit_sparsity(const struct as_swap_auto *a, const struct as_cost_inputs *ci)
{
	struct as_cost_inputs c = *ci;
	struct as_cost_choice ch;
	double cols = 0, experts = 0, cache;

	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		*(k >= SWAP_FFN_IN ? &experts : &cols) += a->n_layers * a->kind_bytes[k];
	cache = (double)ci->cache_bytes - experts * a->experts_used / a->n_expert;
	c.weight_bytes = (uint64_t)cols;
	c.cache_bytes = cache > 0 ? (uint64_t)cache : 0;
	as_cost_choose(&c, -1, 1, &ch);
	return ch.sparsity;
}

/* --gap auto: the limit whose replayed reads of a random Top-K were fastest
 * (costmodel.c), and the read time per token from that replay, which includes what the
 * bandwidth alone misses: the gap-filled bytes (read amplification) and the cost of every
 * read. */
static void replay_gap(struct as_swap_auto *a, const char *path, struct as_cost_inputs *ci,
		       struct as_swap_params *p)
{
	double keep = 1.0 - (double)p->sparsity;
	uint32_t qd = p->queue_depth ? p->queue_depth : AUTO_REPLAY_QD;

	a->gap_tried = true;
	if (as_choose_gap_bytes(path, keep > 0.01 ? keep : 0.01, qd, p->backend, p->tp,
				probe_s(a, p->budget_bytes, AUTO_REPLAY_S), &p->gap_bytes,
				&a->replay))
		p->gap_bytes = AS_GAP_DEFAULT;
	else
		a->gap_measured = true;
	if (!p->gap_bytes)
		p->no_gap_fill = true;
	if (a->gap_measured && a->replay.bytes > 0) {
		double tb = a->replay.t[0];

		for (int c = 1; c < AS_GAP_CANDIDATES; c++)
			tb = fmin(tb, a->replay.t[c]);
		ci->read_s_per_byte = tb / a->replay.bytes;
		as_cost_choose(ci, p->sparsity, p->group, &a->choice);
		a->estimate_replayed = true;
	}
}

/*
 * --latency-target: the read cost replayed at AUTO_LAT_POINTS sparsities from 0 to
 * max_sparsity with the gap limit chosen (group-1 store, swapping; otherwise the
 * bandwidth model stays), into ci.
 */
static void replay_latency(struct as_swap_auto *a, const char *path,
			   struct as_cost_inputs *ci, const struct as_swap_params *p)
{
	uint32_t qd = p->queue_depth ? p->queue_depth : AUTO_REPLAY_QD;
	uint64_t gap = p->no_gap_fill ? 0 : p->gap_bytes ? p->gap_bytes : AS_GAP_LIB_DEFAULT;
	float sp[AUTO_LAT_POINTS];
	double spb[AUTO_LAT_POINTS];

	a->latency_replayed = false;
	for (int i = 0; i < AUTO_LAT_POINTS; i++)
		sp[i] = (float)(ci->max_sparsity * i / (AUTO_LAT_POINTS - 1));
	if (a->group1 && a->budget_bytes < a->budget.full && a->budget_bytes >= a->budget.min &&
	    !as_replay_read_cost(path, sp, AUTO_LAT_POINTS, gap, qd, p->backend, p->tp,
				 probe_s(a, a->budget_bytes, AUTO_LAT_REPLAY_S), spb)) {
		/* fewer channels never cost more per uncached byte: what the replay
		 * shows otherwise is noise (other load), kept out of the choice */
		for (int i = 1; i < AUTO_LAT_POINTS; i++)
			spb[i] = fmin(spb[i], spb[i - 1]);
		ci->n_points = AUTO_LAT_POINTS;
		memcpy(ci->point_sparsity, sp, sizeof(sp));
		memcpy(ci->point_s_per_byte, spb, sizeof(spb));
		a->latency_replayed = true;
	}
}

/* --latency-target without experts: the replay, then the lowest sparsity predicted to
 * meet the target. */
static void choose_latency(struct as_swap_auto *a, const char *path,
			   struct as_cost_inputs *ci, struct as_swap_params *p, uint32_t grp)
{
	replay_latency(a, path, ci, p);
	a->latency_met = as_cost_choose_latency(ci, a->req.latency_target_s, grp, &a->choice);
	p->sparsity = a->choice.sparsity;
	p->group = a->choice.group;
}

/* A store with experts: the choice at the sparsity of xcand[xpick] (the planner's pick or
 * the xmodel's candidate), the group as the cost model sets it for that sparsity, the
 * times the candidate's (the cost model with experts). */
static void choice_experts(struct as_swap_auto *a, const struct as_cost_inputs *ci,
			   struct as_swap_params *p, uint32_t grp)
{
	const struct as_swap_xprec_cand *c = &a->xcand[a->xpick];

	as_cost_choose(ci, c->sparsity, grp, &a->choice);
	a->choice.tokens_per_s = c->est.s > 0 ? 1.0 / c->est.s : 0;
	a->choice.io_s = c->est.io_s;
	a->choice.compute_s = c->est.compute_s;
	p->sparsity = a->choice.sparsity;
	p->group = a->choice.group;
}

/*
 * --latency-target with --expert-precision auto on a store with low copies: the reads
 * replayed as above, then the rungs of the precision planner by accuracy cost, each at
 * the lowest sparsity the cost model with experts (as_cost_experts) predicts to meet the
 * target (swap_auto_xprec.c); the group as the cost model sets it for that sparsity.
 */
static void choose_latency_xprec(struct as_swap_auto *a, const char *path,
				 struct as_cost_inputs *ci, struct as_swap_params *p,
				 uint32_t grp)
{
	replay_latency(a, path, ci, p);
	sw_auto_xprec(a, path, ci, p);
	choice_experts(a, ci, p, grp);
}

double as_swap_auto_predicted_s(const struct as_swap_auto *a)
{
	return a->choice.tokens_per_s > 0 ? 1.0 / a->choice.tokens_per_s : 0;
}

/* every candidate can be a rung of the feedback */
_Static_assert(AS_XPREC_CANDS <= AS_LATENCY_MAX_RUNGS, "a candidate without a rung");

/* The model with experts' time per token at candidate i of the precision choice and
 * sparsity s (> 0). */
static double xprec_time(const struct as_swap_auto *a, uint32_t i, float s)
{
	struct as_cost_expert_est xe;
	struct as_swap_params q = { .policy = a->xpolicy, .uniform_cache = a->xuniform,
				    .expert_sparsity = a->xsparsity };

	sw_auto_xprec_estimate(a, &a->cost, &q, a->xcand[i].x, a->xcand[i].high, s, &xe);
	if (!isfinite(xe.s))
		return 1e9; /* unreadable at these speeds: the slowest, never the fastest */
	return xe.s > 0 ? xe.s : 1e-6;
}

void as_swap_auto_latency_rungs(const struct as_swap_auto *a, const struct as_latency_model *m,
				struct as_latency_rungs *r)
{
	memset(r, 0, sizeof(*r));
	if (!a->xprec_latency || !a->xprec_chosen || !a->xlow_slots || a->n_xcand < 2)
		return;
	for (uint32_t k = 0; k < a->n_xcand && k < AS_LATENCY_MAX_RUNGS; k++) {
		r->id[k] = as_xprec_rung_id(a->xcand[k].x, a->xcand[k].high);
		for (uint32_t i = 0; i < m->n; i++)
			r->t[k][i] = xprec_time(a, k, m->s[i]);
		r->n = k + 1;
	}
	r->start = a->xpick < r->n ? a->xpick : 0;
}

void as_swap_auto_latency_model(const struct as_swap_auto *a, struct as_latency_model *m)
{
	float max = a->cost.max_sparsity > 0 ? a->cost.max_sparsity : 0;

	m->n = 0;
	for (int i = 0; m->n < AS_LATENCY_MAX_POINTS; i++) {
		/* in float, as the maximum is: 0.4f is above 0.4, and the grid's 0.4 must
		 * not be followed by the maximum as a second, equal point */
		float s = (float)(i * AS_COST_STEP);
		struct as_cost_choice c;

		if (s > max - 1e-6f)
			s = max;
		as_cost_choose(&a->cost, s, a->choice.group, &c);
		/* the rung picked or the one candidate, with experts */
		if ((a->xprec_latency && a->xprec_chosen) || a->xmodel)
			c.tokens_per_s = 1.0 / xprec_time(a, a->xpick, s);
		m->s[m->n] = s;
		/* nothing to read or compute (an empty store): any time > 0 will do */
		m->t[m->n] = c.tokens_per_s > 0 && isfinite(c.tokens_per_s) ?
				     1.0 / c.tokens_per_s : 1e-6;
		m->gap[m->n++] = AS_LATENCY_NO_GAP;
		if (s >= max)
			break;
	}
}

int as_swap_auto_choose(struct as_swap_auto *a, const char *path, uint64_t budget_bytes,
			struct as_swap_params *p, char *err, size_t errlen)
{
	const struct as_swap_budget *bi = &a->budget;
	struct as_cost_inputs ci = { 0 };
	float sp = a->req.sparsity < 0 ? -1 : a->req.sparsity;
	uint32_t grp = a->req.group;
	int r;

	if (a->req.threshold && !a->req.levels) {
		snprintf(err, errlen, "thresholds come from a levels file: --sparsity-mode "
			 "threshold needs --sparsity-file (activeswap calibrate --sparsity-mode "
			 "threshold)");
		return -EINVAL;
	}
	/* a prompt batch whose scratch does not fit is halved, as as_swap_open will do, so
	 * that the figures below (the minimum, the cache) are the ones the open will see */
	while (p->batch > 1 && budget_bytes < bi->min) {
		char e[512] = "";

		p->batch /= 2;
		r = as_swap_budget_info(path, p, &a->budget, e, sizeof(e));
		if (r) {
			named_err(err, errlen, path, e);
			return r;
		}
	}
	/* never allocate more than holding everything takes */
	if (budget_bytes > bi->full) {
		a->budget_asked = budget_bytes;
		a->budget_capped = true;
		budget_bytes = bi->full;
	}
	a->budget_bytes = p->budget_bytes = budget_bytes;
	if (a->req.policy_auto)
		p->policy = budget_bytes >= bi->full ? SWAP_POLICY_FREQ : SWAP_POLICY_STATIC;
	a->auto_sparsity = sp < 0;
	a->auto_group = grp == 0;
	if (a->req.latency_target_s > 0 && (!a->auto_sparsity || a->req.levels)) {
		snprintf(err, errlen, "a latency target needs the sparsity chosen (not given, "
			 "not from a levels file)");
		return -EINVAL;
	}
	ci.weight_bytes = a->weight_bytes;
	ci.n_layers = a->n_layers;
	ci.cache_bytes = budget_bytes > bi->fixed + bi->staging ?
			 budget_bytes - bi->fixed - bi->staging : 0;
	if (ci.cache_bytes > ci.weight_bytes)
		ci.cache_bytes = ci.weight_bytes;
	ci.max_sparsity = a->req.max_sparsity;
	if (a->auto_sparsity || a->auto_group || a->req.expert_precision_auto) {
		ci.flash_bps = a->flash_bps = a->req.flash_bps > 0 ? a->req.flash_bps :
			as_measure_flash_bps(path, AUTO_FLASH_BS,
					     probe_s(a, budget_bytes, AUTO_FLASH_S));
		ci.compute_bps = a->compute_bps = a->req.compute_bps > 0 ? a->req.compute_bps :
			as_measure_compute_bps(p->tp, probe_s(a, budget_bytes, AUTO_COMPUTE_S));
	}
	if (a->req.levels) {
		r = load_levels(a, &sp, err, errlen);
		if (r) {
			as_swap_auto_free(a);
			return r;
		}
		p->layer_sparsity = a->levels;
		p->layer_threshold = a->thresholds;
		a->auto_sparsity = false;
	}
	if (sp < 0 && a->n_expert && a->experts_used && !(a->req.latency_target_s > 0))
		sp = expert_fit_sparsity(a, &ci);
	as_cost_choose(&ci, sp, grp, &a->choice);
	p->sparsity = a->choice.sparsity;
	p->group = a->choice.group;
	/* only group-1 stores fill gaps, and only when swapping */
	if (a->req.gap_auto && !p->gap_bytes && a->group1 && budget_bytes < bi->full &&
	    budget_bytes >= bi->min)
		replay_gap(a, path, &ci, p);
	a->xprec_chosen = a->xprec_latency = a->xlow_slots = a->xmodel = false;
	a->xprec_why = NULL;
	if (a->req.expert_precision_auto && a->req.latency_target_s > 0 && a->low_experts) {
		choose_latency_xprec(a, path, &ci, p, grp);
	} else {
		if (a->req.latency_target_s > 0 && a->n_expert)
			replay_latency(a, path, &ci, p); /* the choice: the model with experts */
		else if (a->req.latency_target_s > 0)
			choose_latency(a, path, &ci, p, grp);
		if (a->req.expert_precision_auto)
			sw_auto_xprec(a, path, &ci, p);
		/* a store with experts: its predictions are the cost model's with experts,
		 * which counts the k experts per layer a token reads, not every expert */
		if (a->n_expert && !a->xprec_chosen)
			sw_auto_xmodel(a, &ci, p);
		if (a->n_expert)
			choice_experts(a, &ci, p, grp);
	}
	a->cost = ci;
	return 0;
}

void as_swap_auto_free(struct as_swap_auto *a)
{
	free(a->levels);
	a->levels = NULL;
	free(a->thresholds);
	a->thresholds = NULL;
}

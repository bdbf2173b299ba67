// SPDX-License-Identifier: MIT
/*
 * The auto choice of the per-expert precision planner (`--expert-precision auto`;
 * activeswap/swap_auto.h, Documentation/swapping.md "auto picks the precision"):
 *
 * The cache the budget leaves is carved as libswap carves it for the runtime (its own
 * split, swap_kind_split, with the priorities sw_plan_reads gives): every kind its minimum (a layer group of
 * the attention's columns, k experts per group of each expert kind), then under the
 * STATIC policy the attention's columns first, the high experts' two kinds next in
 * proportion to their bytes, the low copies last; under another policy all in proportion
 * to their bytes. The shares of each kind held are the hit rates of as_cost_experts()
 * (random routing), which predicts each candidate's flash bytes and time per token.
 *
 * Without a latency target (and off when the cache holds XPREC_MAX_SHARE of the high
 * experts or more): off, low-weight (half of k high, or --expert-high) and miss, taken by
 * increasing accuracy cost (as_cost_experts' acc: the share computed low, twice for
 * miss): each replaces the pick when it is predicted to save at least XPREC_GAIN of the
 * pick's time per token, so a higher accuracy cost is paid only for that much.
 *
 * With a target: the rungs off, low-weight with k-1, k-2, ... 1 high, miss, by increasing
 * accuracy cost, each at the sparsities 0, 0.05, ... max; the first (rung, sparsity)
 * predicted to meet it, so the low copies are never read when off meets it at some
 * sparsity; none: the fastest. Every rung is kept (xcand) for the feedback, which moves
 * between them while decoding (as_swap_auto_latency_rungs, activeswap/latency.h); the
 * open then has the low kinds' slots (as_swap_params.expert_low_slots).
 */
#include <math.h>
#include <string.h>

#include "activeswap/swap_auto.h"
#include "swap_auto_int.h"

#define XPREC_GAIN 0.10 /* the share of the time per token a higher accuracy cost must save */
/* The cached share of the high experts from which the planner is not used without a
 * target: measured on generated MoE stores (benchmarks.md, "auto picks the precision"),
 * the contextual cache then hits far above its share (routing has locality, prediction
 * preloads) and off reads less than the model says, while miss, whose misses never bring
 * a high copy in, reads more: miss against off, 24-42% fewer bytes at 5-21% cached on the
 * tiny stores and 26-28% at 5% on a 4-layer cut of the Qwen3-30B-A3B shape, -7..+3% at
 * 19% there, +21..+34% at 35%, +7..+73% at 44-73% on the tiny stores (but -25% at 42% on
 * the tiny Mixtral: the threshold is an empirical compromise). */
#define XPREC_MAX_SHARE 0.25

/* The cached share of each kind's bundles with `cache` bytes of slots at sparsity s:
 * every kind its minimum, the rest split by libswap's own rule (swap_kind_split). */
static void kind_shares(const struct as_swap_auto *a, const struct as_swap_params *p,
			bool low, double cache, double s, double share[SWAP_KIND_MAX])
{
	double mn[SWAP_KIND_MAX] = { 0 }, all[SWAP_KIND_MAX] = { 0 }, extra = cache, kn;
	double saved[SWAP_KIND_COUNT];
	uint64_t want[SWAP_KIND_MAX] = { 0 }, slot[SWAP_KIND_MAX] = { 0 }, add[SWAP_KIND_MAX];
	uint8_t prio[SWAP_KIND_MAX] = { 0 };
	int nk = low ? SWAP_KIND_MAX : SWAP_KIND_COUNT;
	bool ordered = p->policy == SWAP_POLICY_STATIC && !p->uniform_cache;

	kn = a->n_expert ? (double)a->experts_used / a->n_expert : 0;
	for (int k = 0; k < nk; k++) {
		double ss = a->slot_bytes[k], in = a->kind_in[k], km = in;
		bool expert = a->n_expert && k >= SWAP_FFN_IN;

		if (expert && a->experts_used < in)
			km = a->experts_used;
		mn[k] = a->store_group * km * ss;
		all[k] = a->n_layers * in * ss;
		want[k] = all[k] > mn[k] ? (uint64_t)(all[k] - mn[k]) : 0;
		slot[k] = (uint64_t)ss;
		extra -= mn[k];
		/* sw_plan_reads under STATIC: an expert kind saves k / n of its bytes per byte
		 * cached, a column at least 1 - s (the gap and page terms left out) */
		if (k < SWAP_KIND_COUNT)
			saved[k] = expert ? kn : 1 - s;
	}
	if (ordered) /* ranked as the open ranks them; the low kinds not (0) */
		as_cost_kind_prio(SWAP_KIND_COUNT, saved, prio);
	swap_kind_split(nk, want, slot, prio, extra > 0 ? (uint64_t)extra : 0, add);
	for (int k = 0; k < SWAP_KIND_MAX; k++)
		share[k] = k < nk && all[k] > 0 ?
			   fmin(1, (mn[k] + (double)add[k] * (double)slot[k]) / all[k]) : 0;
}

void sw_auto_xprec_estimate(const struct as_swap_auto *a, const struct as_cost_inputs *ci,
			    const struct as_swap_params *p, enum as_expert_precision x,
			    uint32_t high, float s, struct as_cost_expert_est *out)
{
	bool on = x != AS_XPREC_OFF;
	double share[SWAP_KIND_MAX], rspb, fb = ci->flash_bps > 0 ? ci->flash_bps : 1e9;
	struct as_cost_expert_inputs in = { 0 };

	kind_shares(a, p, on, a->xcache[on], s, share);
	in.n_layers = a->n_layers;
	in.k = a->experts_used;
	in.flash_bps = ci->flash_bps;
	in.compute_bps = ci->compute_bps;
	for (int c = 0; c < 2; c++) {
		int d = c ? SWAP_FFN_IN_LOW - SWAP_FFN_IN : 0;

		in.in_bytes[c] = a->bundle_bytes[SWAP_FFN_IN + d];
		in.out_bytes[c] = a->bundle_bytes[SWAP_FFN_OUT + d];
		in.in_share[c] = on || !c ? share[SWAP_FFN_IN + d] : 0;
		in.out_share[c] = on || !c ? share[SWAP_FFN_OUT + d] : 0;
	}
	/* expert columns under Top-K inside experts: a miss reads its selected columns
	 * (swapping.md, "Experts"; whole when every read is checked), every expert is
	 * computed on them */
	if (a->expert_cols[0] && a->expert_cols[1] && p->expert_sparsity > 0) {
		double keep = 1.0 - (double)p->expert_sparsity;

		bool verify = p->engine_flags & SWAP_F_VERIFY;

		in.in_read = as_cost_expert_read_share(keep, in.in_bytes[0] / a->expert_cols[0],
						       verify);
		in.out_read = as_cost_expert_read_share(keep, in.out_bytes[0] / a->expert_cols[1],
							verify);
		in.compute_share = keep;
	}
	/* the attention's columns: the uncached ones at the replayed time per byte of
	 * channels, else their Top-K at the bandwidth */
	rspb = as_cost_read_s_per_byte(ci, s);
	if (!(rspb > 0))
		rspb = (1.0 - (double)s) / fb;
	for (int k = 0; k < SWAP_FFN_IN; k++) {
		double b = (double)a->n_layers * a->kind_in[k] * a->bundle_bytes[k];

		in.attn_io_s += (1 - share[k]) * b * rspb;
		in.attn_compute_bytes += (1.0 - (double)s) * b;
	}
	as_cost_experts(&in, x, high, out);
}

static void add_cand(struct as_swap_auto *a, const struct as_cost_inputs *ci,
		     const struct as_swap_params *p, enum as_expert_precision x, uint32_t high,
		     float s, bool fits)
{
	struct as_swap_xprec_cand *c;

	if (a->n_xcand >= AS_XPREC_CANDS)
		return;
	c = &a->xcand[a->n_xcand++];
	c->x = x;
	c->high = x == AS_XPREC_LOW_WEIGHT ? high : x == AS_XPREC_OFF ? a->experts_used : 0;
	c->sparsity = s;
	c->fits = fits;
	sw_auto_xprec_estimate(a, ci, p, x, high, s, &c->est);
}

/* Without a target: from off, by increasing accuracy cost, a candidate replaces the pick
 * when it is predicted to save XPREC_GAIN of the pick's time per token. */
static void choose_budget(struct as_swap_auto *a, const struct as_cost_inputs *ci,
			  const struct as_swap_params *p, bool fits_on, uint32_t high)
{
	uint32_t order[AS_XPREC_CANDS], n;

	add_cand(a, ci, p, AS_XPREC_OFF, 0, p->sparsity, true);
	if (a->experts_used > 1)
		add_cand(a, ci, p, AS_XPREC_LOW_WEIGHT, high, p->sparsity, fits_on);
	add_cand(a, ci, p, AS_XPREC_MISS, 0, p->sparsity, fits_on);
	n = a->n_xcand;
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 1 && a->xcand[order[j]].est.acc <
						  a->xcand[order[j - 1]].est.acc; j--) {
			uint32_t t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	a->xpick = 0;
	if (a->xshare_high >= XPREC_MAX_SHARE) {
		a->xprec_why = "the cache holds 25% of the high experts or more (measured: off "
			       "then reads less than the model says)";
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		const struct as_swap_xprec_cand *c = &a->xcand[order[i]];

		if (c->fits && c->est.s <= (1 - XPREC_GAIN) * a->xcand[a->xpick].est.s)
			a->xpick = order[i];
	}
	if (!fits_on)
		a->xprec_why = "the budget is below the planner's minimum";
	else if (a->xpick)
		a->xprec_why = "predicted to save 10% of the time per token over the lower "
			       "accuracy costs";
	else
		a->xprec_why = "no policy is predicted to save 10% of the time per token";
}

/* With a target: the rungs by increasing accuracy cost, each at the lowest sparsity that
 * meets it; the first that does, else the fastest of all. */
static void choose_latency(struct as_swap_auto *a, const struct as_cost_inputs *ci,
			   const struct as_swap_params *p, bool fits_on, uint32_t given_high)
{
	struct as_swap_xprec_cand rung[AS_XPREC_CANDS];
	uint32_t nr = 0, k = a->experts_used;
	double max = ci->max_sparsity > 0 ? ci->max_sparsity : 0;
	bool have = false;

	memset(rung, 0, sizeof(rung));
	rung[nr].x = AS_XPREC_OFF;
	rung[nr++].high = k;
	for (uint32_t h = k - 1; fits_on && h >= 1 && h < k && nr < AS_XPREC_CANDS - 1; h--)
		if (!given_high || h == given_high) {
			rung[nr].x = AS_XPREC_LOW_WEIGHT;
			rung[nr++].high = h;
		}
	if (fits_on)
		rung[nr++].x = AS_XPREC_MISS;
	for (uint32_t i = 0; i < nr; i++)
		rung[i].fits = true;
	for (uint32_t i = 0; i < nr; i++)
		sw_auto_xprec_estimate(a, ci, p, rung[i].x, rung[i].high, 0, &rung[i].est);
	/* by accuracy cost (stable: off, then fewer low experts first) */
	for (uint32_t i = 1; i < nr; i++)
		for (uint32_t j = i; j > 1 && rung[j].est.acc < rung[j - 1].est.acc; j--) {
			struct as_swap_xprec_cand t = rung[j];

			rung[j] = rung[j - 1];
			rung[j - 1] = t;
		}
	a->latency_met = false;
	/* every rung (the feedback may move to any of them), each at its best: the lowest
	 * sparsity that meets the target, else its fastest (the cap) */
	for (uint32_t i = 0; i < nr; i++) {
		struct as_swap_xprec_cand c = rung[i];
		bool met = false;

		for (int j = 0;; j++) {
			double s = j * AS_COST_STEP;

			if (s > max - 1e-9)
				s = max;
			c.sparsity = (float)s;
			sw_auto_xprec_estimate(a, ci, p, c.x, c.high, c.sparsity, &c.est);
			met = c.est.s <= a->req.latency_target_s;
			if (met || s >= max)
				break;
		}
		a->xcand[a->n_xcand++] = c;
		if (met && !a->latency_met) {
			a->latency_met = true;
			a->xpick = a->n_xcand - 1;
			a->xprec_why = c.x == AS_XPREC_OFF ? "met without the low copies" :
							     "the least accuracy cost meeting the target";
		}
		if (!a->latency_met && (!have || c.est.s < a->xcand[a->xpick].est.s))
			a->xpick = a->n_xcand - 1;
		have = true;
	}
	if (!a->latency_met)
		a->xprec_why = "no rung meets the target: the fastest";
}

void sw_auto_xprec(struct as_swap_auto *a, const char *path, const struct as_cost_inputs *ci,
		   struct as_swap_params *p)
{
	struct as_swap_params q = *p;
	struct as_swap_budget b[2];
	bool fits_on;
	uint32_t high = p->expert_high ? p->expert_high : (a->experts_used + 1) / 2;
	char e[512];

	a->n_xcand = a->xpick = 0;
	a->xprec_chosen = true;
	a->xpolicy = p->policy;
	a->xuniform = p->uniform_cache;
	a->xsparsity = p->expert_sparsity;
	p->expert_precision = AS_XPREC_OFF;
	if (p->expert_high > a->experts_used) { /* the open refuses it, with its line */
		a->xprec_why = "more experts kept high than a token uses";
		a->xprec_chosen = false;
		return;
	}
	if (!a->n_expert || !a->low_experts) {
		a->xprec_why = a->n_expert ? "the store has no low-precision copies" :
					     "the store has no experts";
		a->xprec_chosen = false;
		return;
	}
	for (int on = 0; on < 2; on++) {
		q.expert_precision = on ? AS_XPREC_LOW_WEIGHT : AS_XPREC_OFF;
		if (as_swap_budget_info(path, &q, &b[on], e, sizeof(e))) {
			a->xprec_why = "the store's budget could not be read";
			a->xprec_chosen = false;
			return;
		}
		a->xcache[on] = p->budget_bytes > b[on].fixed + b[on].staging ?
					(double)(p->budget_bytes - b[on].fixed - b[on].staging) : 0;
	}
	fits_on = p->budget_bytes >= b[1].min;
	{
		double share[SWAP_KIND_MAX];

		kind_shares(a, p, false, a->xcache[0], p->sparsity, share);
		a->xshare_high = (float)fmin(share[SWAP_FFN_IN], share[SWAP_FFN_OUT]);
	}
	if (high > a->experts_used)
		high = a->experts_used;
	a->xprec_latency = a->req.latency_target_s > 0;
	if (a->xprec_latency) {
		choose_latency(a, ci, p, fits_on, p->expert_high);
	} else if (p->budget_bytes >= b[0].full) {
		add_cand(a, ci, p, AS_XPREC_OFF, 0, p->sparsity, true);
		a->xprec_why = "everything fits in DRAM";
	} else {
		choose_budget(a, ci, p, fits_on, high);
	}
	p->expert_precision = a->xcand[a->xpick].x;
	if (p->expert_precision == AS_XPREC_LOW_WEIGHT)
		p->expert_high = a->xcand[a->xpick].high;
	/* the feedback may move to another rung: the low kinds' slots from the start,
	 * unless everything fits (nothing to read) */
	p->expert_low_slots = a->xprec_latency && a->n_xcand > 1 && p->budget_bytes < b[0].full;
	a->xlow_slots = p->expert_low_slots;
}

void sw_auto_xmodel(struct as_swap_auto *a, const struct as_cost_inputs *ci,
		    const struct as_swap_params *p)
{
	struct as_swap_xprec_cand *c = &a->xcand[0];
	enum as_expert_precision x = a->low_experts ? p->expert_precision : AS_XPREC_OFF;
	uint32_t k = a->experts_used;
	double max = ci->max_sparsity > 0 ? ci->max_sparsity : 0;
	struct as_swap_xprec_cand best;
	bool have = false;

	a->xmodel = true;
	a->n_xcand = 1;
	a->xpick = 0;
	a->xpolicy = p->policy;
	a->xuniform = p->uniform_cache;
	a->xsparsity = p->expert_sparsity;
	/* the open's cache: the budget's, with the slots of the precision it runs */
	a->xcache[x != AS_XPREC_OFF] = (double)ci->cache_bytes;
	memset(c, 0, sizeof(*c));
	c->x = x;
	c->high = x == AS_XPREC_LOW_WEIGHT ? (p->expert_high ? p->expert_high : (k + 1) / 2) :
		  x == AS_XPREC_OFF ? k : 0;
	c->fits = true;
	if (!(a->req.latency_target_s > 0)) {
		c->sparsity = p->sparsity;
		sw_auto_xprec_estimate(a, ci, p, c->x, c->high, c->sparsity, &c->est);
		return;
	}
	/* the grid of as_cost_choose_latency: the lowest that meets the target, else the
	 * fastest (the lowest of equally fast ones) */
	a->latency_met = false;
	for (int j = 0;; j++) {
		double s = j * AS_COST_STEP;

		if (s > max - 1e-9)
			s = max;
		c->sparsity = (float)s;
		sw_auto_xprec_estimate(a, ci, p, c->x, c->high, c->sparsity, &c->est);
		if (c->est.s <= a->req.latency_target_s) {
			a->latency_met = true;
			return;
		}
		if (!have || c->est.s < best.est.s)
			best = *c;
		have = true;
		if (s >= max)
			break;
	}
	*c = best;
}

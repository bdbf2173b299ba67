// SPDX-License-Identifier: MIT
/*
 * The mixture-of-experts hooks of the store's column sources (activeswap/forward.h,
 * swapmodel.h; Documentation/store-format.md, "Experts"): in a store with experts, bundle
 * (layer, SWAP_FFN_IN, e) holds expert e's gate and up matrices and (layer, SWAP_FFN_OUT,
 * e) its down matrix. In their row encoding (versions 3, 4) an expert is computed from
 * them with the dense runtime's kernels (as_group_matvec), so its numerics are the dense
 * model's, whichever source, budget or backend supplied the bytes; with Top-K inside
 * experts (as_state_expert_sparsity) the forward pass hands x with the unselected
 * channels at 0 and the selection, the whole bundle is read and the dense kernels run on
 * that x. In the column layout (version 5, "Expert columns") an expert is computed with
 * the sparse column kernels over the selected columns (all at sparsity 0), and a
 * missing one under Top-K has only its selected columns read, past the cache
 * (swap_read_parts), packed: the same sums as from the whole bundle.
 *
 *   table   every bundle pinned at open: the expert's rows looked up;
 *   engine  experts_chosen pins the router's k experts' bundles in DRAM at that moment
 *           (hits) and requests the others on demand before the first is computed, so
 *           the reads of the later ones overlap the compute of the first (but those
 *           read in part, m->xpart); expert_linear takes the pinned bundle, or pins
 *           it when it is in, or reads its selected columns (read in part, no read of it
 *           in flight), or acquires it (waiting for its read); computes and releases.
 *
 * Expert prediction (engine): experts_chosen of layer L also applies the routers of
 * L+1 .. L+xp_ahead to L's FFN input x = rmsnorm(h) * g_L rescaled to T's FFN norm
 * (x / g_L * g_T: L's residual h as T's norm would weigh it; T sees h plus what the
 * layers in between add), and preloads
 * their top-k experts (NEXT for L+1, LATER beyond), each prediction under a tag of its
 * own. When T's router has chosen, T's chosen experts are requested on demand first (a
 * queued bundle takes the tag of its latest request) and then T's prediction tag is
 * cancelled: only the wrongly predicted experts still queued are dropped. What is
 * preloaded never changes what is computed, only when its bytes arrive.
 *
 * Per-expert precision (a store with low copies, version 4, and as_swap_params.
 * expert_precision on): when the router has chosen, plan() marks each chosen expert
 * high or low (m->xlow), and its bundles are then the FFN kinds' or their low copies'
 * (SWAP_FFN_IN_LOW, SWAP_FFN_OUT_LOW), computed with the same dense kernels in the low
 * copy's type. low-weight: the router's first xhigh experts (ids come by decreasing
 * weight) high, the others low: a function of the router alone, so the numerics do not
 * depend on the budget, backend or source. miss: high when both its bundles are in DRAM
 * or being read at that moment (cached, or preloaded by the prediction, which asks
 * for the high copies), low otherwise: it depends on the cache, so on the budget. The
 * table source holds everything, so miss computes every expert high there.
 *
 * Each count of expert lookups and hits also fires the USDT probe
 * activeswap:expert_lookup(layer, lookups, hits), which `activeswap trace` sums per layer
 * (Documentation/tracing.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

#include "activeswap/kernels.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "swapmodel.h"

/* The kind of group g of expert e: the high copy's, or the low copy's when planned. */
static int kind_of(const struct as_swap_model *m, uint32_t e, enum as_group g)
{
	int k = g == AS_GROUP_GATE_UP ? SWAP_FFN_IN : g == AS_GROUP_DOWN ? SWAP_FFN_OUT : -1;

	if (k >= 0 && m->xlow && e < m->rm.hp.n_expert && m->xlow[e])
		k += SWAP_FFN_IN_LOW - SWAP_FFN_IN;
	return k;
}

/* Expert e's two bundles (gate/up, down) of the high or the low copy at keys. */
static void expert_pair(uint32_t layer, uint32_t e, bool low, struct swap_key *keys)
{
	uint32_t d = low ? SWAP_FFN_IN_LOW - SWAP_FFN_IN : 0;

	keys[0] = (struct swap_key){ layer, SWAP_FFN_IN + d, e };
	keys[1] = (struct swap_key){ layer, SWAP_FFN_OUT + d, e };
}

/* The planner: which copy each of the n chosen experts ids (by decreasing router weight)
 * is computed from, into m->xlow, counted per precision. in_dram: all in DRAM (table). */
static void plan(struct as_swap_model *m, uint32_t layer, const uint32_t *ids, uint32_t n,
		 bool in_dram)
{
	struct as_swap_layer_stats *ls = &m->ls[layer];
	uint64_t saved = 0;

	if (!m->xprec) { /* off; with the low slots (a precision that may change) counted */
		if (m->xlow)
			ls->expert_high += n;
		return;
	}
	for (int k = SWAP_FFN_IN; k <= SWAP_FFN_OUT; k++)
		saved += swap_store_bundle_bytes(m->st, k) -
			 swap_store_bundle_bytes(m->st, k + SWAP_FFN_IN_LOW - SWAP_FFN_IN);
	for (uint32_t i = 0; i < n; i++) {
		bool low;

		if (m->xprec == AS_XPREC_LOW_WEIGHT) {
			low = i >= m->xhigh;
		} else {
			struct swap_key hk[2];

			expert_pair(layer, ids[i], false, hk);
			low = !in_dram && swap_count_coming(m->eng, hk, 2) < 2;
		}
		m->xlow[ids[i]] = low;
		if (low) {
			ls->expert_low++;
			ls->expert_saved_bytes += saved;
		} else {
			ls->expert_high++;
		}
	}
}

/* The weights of one expert bundle at p, as the dense kernels take them. */
static void bundle_weights(const struct as_swap_model *m, int kind, const void *p,
			   struct as_weight *w)
{
	for (uint32_t i = 0; i < m->n_mats[kind]; i++) {
		const struct sw_mat *mt = &m->mats[kind][i];
		uint64_t rb = 0;

		as_row_bytes(mt->type, mt->in, &rb); /* checked at open */
		w[mt->op] = (struct as_weight){ mt->type, (const uint8_t *)p + mt->off, mt->out,
						mt->in, rb };
	}
}

/* ---- expert columns (version 5) ---------------------------------------------------- */

/*
 * Whether a missing bundle of the kind has only its selected columns read: expert
 * columns, Top-K inside experts on, and a selection that skips pages: the cost model's
 * share of the bundle such a read covers (as_cost_expert_read_share: the selected
 * columns and a page per run of them) at most AS_COST_PART_MAX, found once at open
 * (m->xshare). Columns much smaller than a page share pages (Qwen3-30B-A3B's 864-byte gate/up pair in Q4_0: a 50% selection
 * touches nearly every page), so such a bundle is read whole and cached instead. An
 * engine that checks every read (SWAP_F_VERIFY) reads misses whole: a bundle's crc32c
 * covers all of it, so a part could not be checked.
 */
void sw_expert_shares(struct as_swap_model *m)
{
	for (int kind = SWAP_FFN_IN; kind <= SWAP_FFN_OUT; kind++) {
		uint32_t k, in;

		m->xshare[kind == SWAP_FFN_OUT] = 1;
		if (!m->xcols || !m->eng || !m->s)
			continue;
		k = m->s->expert_topk[kind == SWAP_FFN_OUT];
		in = m->mats[kind][0].in;
		m->xshare[kind == SWAP_FFN_OUT] = as_cost_expert_read_share(
			(double)k / in, (double)swap_store_bundle_bytes(m->st, kind) / in,
			m->verify_reads);
	}
}

static bool partial_kind(const struct as_swap_model *m, int kind)
{
	double share;

	if (kind != SWAP_FFN_IN && kind != SWAP_FFN_OUT)
		return false;
	share = m->xshare[kind == SWAP_FFN_OUT];
	/* and only while the part costs less than a whole read after the hits a cache of
	 * whole reads would have had (its ghost's recent hit rate) */
	return share > 0 && share < 1 && share <= 1.0 - m->xg[kind == SWAP_FFN_OUT].hit_rate;
}

unsigned as_swap_expert_partial(const struct as_swap_model *m)
{
	return (partial_kind(m, SWAP_FFN_IN) ? 1u : 0u) | (partial_kind(m, SWAP_FFN_OUT) ? 2u : 0u);
}

/* Whether the layer being computed reads a miss of the kind in part (m->xpart, set when
 * its router chose). */
static bool part_of(const struct as_swap_model *m, int kind)
{
	return kind == SWAP_FFN_IN ? m->xpart & 1u : kind == SWAP_FFN_OUT && (m->xpart & 2u);
}

struct xtask {
	struct as_swap_model *m;
	int kind;
	float *const *ys;
	size_t n, in;
};

static void xcol_fn(void *arg, int ith, int nth)
{
	const struct xtask *t = arg;

	for (uint32_t mi = 0; mi < t->m->n_mats[t->kind]; mi++) {
		const struct sw_mat *mt = &t->m->mats[t->kind][mi];

		as_sparse_axpy_share(as_sparse_level(), mt->type, t->ys[mi], mt->out,
				     t->m->xcolp + mi * t->in, t->m->xcx, t->n, ith, nth);
	}
}

/* Bytes of one column of every matrix of the kind (a column-layout expert bundle is in
 * of them, the expert's input width). */
static uint64_t xstride(const struct as_swap_model *m, int kind)
{
	return swap_store_bundle_bytes(m->st, kind) / m->mats[kind][0].in;
}

/*
 * ys = the expert's products over its columns: the selection's (sel; x has the others at
 * 0) or all of them, from a whole bundle at base, or (packed) from the selected columns
 * one after the other. The sparse column kernels, rows split over the threads as the
 * column kinds' are: the same sums from a whole bundle and from a partial read.
 */
static void xcol_compute(struct as_swap_model *m, int kind, const uint8_t *base, bool packed,
			 const float *x, const struct as_sel *sel, float *const *ys)
{
	size_t in = m->mats[kind][0].in, n = sel ? sel->n : in;
	uint64_t stride = xstride(m, kind);
	struct xtask t = { m, kind, ys, n, in };

	for (size_t i = 0; i < n; i++) {
		size_t j = sel ? sel->idx[i] : i;

		m->xcx[i] = x[j];
		for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
			m->xcolp[mi * in + i] = base + (packed ? i : j) * stride +
						m->mats[kind][mi].off;
	}
	for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
		memset(ys[mi], 0, sizeof(float) * m->mats[kind][mi].out);
	as_tp_run(m->tp, xcol_fn, &t);
}

/* The parts of a bundle of columns of stride bytes that hold the selected columns idx[0..n)
 * (increasing): runs of adjacent channels as one part each, landing packed (the i-th
 * selected column at i x stride) or at their places in the bundle. Returns the count. */
static size_t sel_parts(const uint32_t *idx, uint32_t n, uint64_t stride, bool packed,
			struct swap_part *parts)
{
	size_t np = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = (uint64_t)idx[i] * stride;

		if (np && parts[np - 1].off + parts[np - 1].len == off)
			parts[np - 1].len += stride;
		else
			parts[np++] = (struct swap_part){ off, stride,
							  packed ? (uint64_t)i * stride : off };
	}
	return np;
}

/* The selected columns of bundle key read past the cache into m->xbuf, packed
 * (swap_read_parts). */
static int xcol_read(struct as_swap_model *m, struct swap_key key, const struct as_sel *sel)
{
	uint64_t stride = xstride(m, (int)key.kind), need;

	if (__builtin_mul_overflow((uint64_t)sel->n, stride, &need))
		return -EOVERFLOW;
	if (need > m->xbuf_cap) {
		uint8_t *b = realloc(m->xbuf, need);

		if (!b)
			return -ENOMEM;
		m->xbuf = b;
		m->xbuf_cap = need;
	}
	m->ls[key.layer].expert_part_reads++;
	return swap_read_parts(m->eng, key, m->xparts,
			       sel_parts(sel->idx, sel->n, stride, true, m->xparts), m->xbuf);
}

/* ys = the expert's products from its bundle at p (check_use: its crc32c first). */
static int compute(struct as_swap_model *m, struct swap_key key, const void *p,
		   enum as_group g, const float *x, const struct as_sel *sel, float *const *ys)
{
	struct as_weight w[AS_OP_COUNT] = { 0 };

	if (m->check_use) {
		m->checked++;
		if (swap_crc32c(0, p, swap_store_bundle_bytes(m->st, key.kind)) !=
		    swap_store_bundle_crc(m->st, key))
			return -EBADMSG;
	}
	if (m->xcols) {
		xcol_compute(m, (int)key.kind, p, false, x, sel, ys);
		return 0;
	}
	bundle_weights(m, (int)key.kind, p, w);
	as_group_matvec(m->tp, w, g, x, ys);
	return 0;
}

static int expert_fail(struct as_swap_model *m, int r, uint32_t layer, int kind)
{
	if (r)
		sw_describe_error(m, r, layer, kind, m->errmsg, sizeof(m->errmsg));
	return r;
}

void sw_table_experts_chosen(void *ctx, uint32_t layer, const uint32_t *ids, const float *w,
			     uint32_t n, const float *x, const struct as_sel *sel)
{
	(void)w;
	(void)x;
	(void)sel;
	plan(ctx, layer, ids, n, true);
}

int sw_table_expert_linear(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
			   const float *x, const struct as_sel *sel, float *const *ys)
{
	struct as_swap_model *m = ctx;
	int kind = kind_of(m, e, g);
	struct swap_key key = { layer, (uint32_t)kind, e };

	/* rows: x has the unselected channels at 0, computed on as it is */
	if (kind < 0 || e >= m->rm.hp.n_expert)
		return -EINVAL;
	m->ls[layer].expert_lookups++;
	m->ls[layer].expert_hits++;
	DTRACE_PROBE3(activeswap, expert_lookup, (int32_t)layer, 1u, 1u);
	return expert_fail(m, compute(m, key, m->all[m->all_off[layer * SWAP_KIND_MAX + kind] +
						     e], g, x, sel, ys), layer, kind);
}

/* n experts' bundles into m->fkeys, in the order they are computed: gate/up then down of
 * the first, then the next. Which copy: planned, as plan() marked them; else (a
 * prediction, ids by decreasing predicted weight) low-weight's rule, and the high copy
 * for miss (a preloaded expert is computed high). */
static uint32_t expert_keys(struct as_swap_model *m, uint32_t layer, const uint32_t *ids,
			    uint32_t n, bool planned)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n && k + 2 <= sw_max_in(&m->rm.hp); i++, k += 2) {
		bool low = planned ? m->xlow && m->xlow[ids[i]] :
				     m->xprec == AS_XPREC_LOW_WEIGHT && i >= m->xhigh;

		expert_pair(layer, ids[i], low, m->fkeys + k);
	}
	return k;
}

/* The router chose ids for layer: how the prediction made for it this token fared. */
static void count_prediction(struct as_swap_model *m, uint32_t layer, const uint32_t *ids,
			     uint32_t n)
{
	uint32_t k = m->rm.hp.n_expert_used, hit = 0;
	const uint32_t *pred = m->xp_set + (size_t)layer * k;

	if (m->xp_tok[layer] != m->token + 1)
		return;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < k; j++)
			if (ids[i] == pred[j]) {
				hit++;
				break;
			}
	m->ls[layer].expert_predicted += k;
	m->ls[layer].expert_pred_used += hit;
	m->ls[layer].expert_pred_needed += n;
}

static void cancel_tag(struct as_swap_model *m, uint64_t tag)
{
	int nc = swap_cancel(m->eng, tag, (1u << SWAP_PRIO_NEXT) | (1u << SWAP_PRIO_LATER));

	if (nc > 0)
		m->cancelled += (uint64_t)nc;
}

/* Preload the experts the routers of layer+1 .. layer+xp_ahead pick for x. */
static void predict_experts(struct as_swap_model *m, uint32_t layer, const float *x)
{
	const struct as_hparams *hp = &m->rm.hp;
	uint32_t k = hp->n_expert_used;
	const float *g = m->rm.layers[layer].ffn_norm;

	for (uint32_t j = 1; j <= m->xp_ahead && layer + j < hp->n_layer; j++) {
		uint32_t t = layer + j;
		const float *gt = m->rm.layers[t].ffn_norm;
		const struct as_weight *R = &m->rm.layers[t].router;
		uint64_t tag = SW_XP_TAG | ++m->xp_seq;

		for (uint32_t i = 0; i < hp->dim; i++)
			m->xp_x[i] = g[i] != 0.0f ? x[i] / g[i] * gt[i] : 0.0f;
		as_matvec(m->tp, R->type, R->data, R->rows, R->cols, m->xp_x, m->xp_p);
		as_moe_route(m->xp_p, hp->n_expert, k, false, m->xp_ids, m->xp_w);
		memcpy(m->xp_set + (size_t)t * k, m->xp_ids, sizeof(*m->xp_ids) * k);
		m->xp_tok[t] = m->token + 1;
		swap_request(m->eng, m->fkeys, expert_keys(m, t, m->xp_ids, k, false),
			     j == 1 ? SWAP_PRIO_NEXT : SWAP_PRIO_LATER, tag);
		if (m->xp_tag[t])
			cancel_tag(m, m->xp_tag[t]); /* an older prediction for t */
		m->xp_tag[t] = tag;
	}
}

/* One started read-ahead of a gate/up in part: waited for (its error, or 0), its slot
 * returned unless keep (then in *slot and *p), and taken off the list. */
static int finish_ahead(struct as_swap_model *m, uint32_t i, bool keep, int32_t *slot,
			const uint8_t **p)
{
	int r = swap_read_parts_wait(m->eng, m->xrd[i]);

	if (keep) {
		*slot = m->xslot[i];
		*p = m->xslotp[i];
	} else {
		swap_slot_return(m->eng, m->xslot[i]);
	}
	m->xrdn--;
	m->xrd[i] = m->xrd[m->xrdn];
	m->xrde[i] = m->xrde[m->xrdn];
	m->xslot[i] = m->xslot[m->xrdn];
	m->xslotp[i] = m->xslotp[m->xrdn];
	return r;
}

void sw_experts_drain(struct as_swap_model *m)
{
	while (m->xrdn)
		finish_ahead(m, 0, false, NULL, NULL);
	for (uint32_t i = 0; i < m->xpn; i++)
		if (m->xpp[i])
			swap_unpin(m->eng, m->xpk[i]);
	m->xpn = 0;
}

/*
 * With gate/up read in part: for every chosen gate/up neither in DRAM nor being read, the
 * columns of sel (the experts' input selection, experts_chosen's) read into a free slot
 * the engine lends (none free: read when computed, into the scratch), so that the reads
 * of the later experts overlap the compute of the first. sel is kept to check that
 * expert_linear computes on the same one.
 */
static void read_ahead(struct as_swap_model *m, const struct as_sel *sel)
{
	size_t np = sel_parts(sel->idx, sel->n, xstride(m, SWAP_FFN_IN), false, m->xparts_in);

	memcpy(m->xsel_idx, sel->idx, sizeof(*sel->idx) * sel->n);
	m->xsel_n = sel->n;
	for (uint32_t i = 0; i < m->xpn && m->xrdn < m->rm.hp.n_expert_used; i++) {
		struct swap_key key = m->xpk[i];
		uint32_t j = m->xrdn;
		void *p;

		if (key.kind != SWAP_FFN_IN || m->xpp[i] || swap_count_coming(m->eng, &key, 1))
			continue;
		p = swap_slot_lend(m->eng, SWAP_FFN_IN, &m->xslot[j]);
		if (!p)
			break;
		if (swap_read_parts_start(m->eng, key, m->xparts_in, np, p, &m->xrd[j])) {
			swap_slot_return(m->eng, m->xslot[j]);
			continue;
		}
		m->xrde[j] = key.channel;
		m->xslotp[j] = p;
		m->xrdn++;
		m->ls[key.layer].expert_part_reads++;
	}
}

void sw_engine_experts_chosen(void *ctx, uint32_t layer, const uint32_t *ids, const float *w,
			      uint32_t n, const float *x, const struct as_sel *sel)
{
	struct as_swap_model *m = ctx;
	uint32_t nk, hits = 0;

	(void)w;
	plan(m, layer, ids, n, false);
	nk = expert_keys(m, layer, ids, n, true);
	count_prediction(m, layer, ids, n);
	/* a hit: in DRAM when the router chose it (cached, or preloaded in time), pinned
	 * until computed */
	sw_experts_drain(m);
	for (uint32_t i = 0; i < nk; i++) {
		m->xpk[i] = m->fkeys[i];
		m->xpp[i] = swap_pin(m->eng, m->fkeys[i]);
		hits += m->xpp[i] != NULL;
	}
	m->xpn = nk;
	m->ls[layer].expert_lookups += nk;
	m->ls[layer].expert_hits += hits;
	DTRACE_PROBE3(activeswap, expert_lookup, (int32_t)layer, nk, hits);
	/* an error (a bad key) comes back from the acquire; a bundle read in part has its
	 * selected columns read when it is computed */
	if (m->xcols)
		for (uint32_t i = 0; i < n; i++)
			for (int g = 0; g < 2; g++)
				sw_xghost_use(&m->xg[g], layer * m->rm.hp.n_expert + ids[i],
					      m->token);
	m->xpart = as_swap_expert_partial(m);
	if (!m->xpart) {
		swap_request(m->eng, m->fkeys, nk, SWAP_PRIO_DEMAND, 0);
	} else {
		uint32_t nw = 0;

		for (uint32_t i = 0; i < nk; i++)
			if (!part_of(m, (int)m->fkeys[i].kind))
				m->fkeys[nw++] = m->fkeys[i];
		swap_request(m->eng, m->fkeys, nw, SWAP_PRIO_DEMAND, 0);
		if (sel && part_of(m, SWAP_FFN_IN))
			read_ahead(m, sel);
	}
	if (m->xp_tag[layer]) {
		cancel_tag(m, m->xp_tag[layer]); /* the wrong guesses still queued */
		m->xp_tag[layer] = 0;
	}
	if (m->xp_ahead)
		predict_experts(m, layer, x);
}

/* Bundle key's bytes if experts_chosen pinned it (then it is no longer listed there). */
static const void *take_pinned(struct as_swap_model *m, struct swap_key key)
{
	for (uint32_t i = 0; i < m->xpn; i++) {
		if (m->xpp[i] && m->xpk[i].layer == key.layer && m->xpk[i].kind == key.kind &&
		    m->xpk[i].channel == key.channel) {
			const void *p = m->xpp[i];

			m->xpp[i] = NULL;
			return p;
		}
	}
	return NULL;
}

int sw_engine_expert_linear(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
			    const float *x, const struct as_sel *sel, float *const *ys)
{
	struct as_swap_model *m = ctx;
	int kind = kind_of(m, e, g), r;
	struct swap_key key = { layer, (uint32_t)kind, e };
	const void *p;
	bool same;

	if (kind < 0 || e >= m->rm.hp.n_expert)
		return -EINVAL;
	/* counted in experts_chosen */
	p = take_pinned(m, key);
	for (uint32_t i = 0; !p && kind == SWAP_FFN_IN && i < m->xrdn; i++) {
		int32_t slot;
		const uint8_t *b;

		if (m->xrde[i] != e)
			continue;
		/* read ahead: for the selection the forward pass made (the same one) */
		same = sel && sel->n == m->xsel_n &&
		       !memcmp(sel->idx, m->xsel_idx, sizeof(*sel->idx) * sel->n);
		r = finish_ahead(m, i, same, &slot, &b);
		if (!same)
			break;
		if (!r)
			xcol_compute(m, kind, b, false, x, sel, ys);
		swap_slot_return(m->eng, slot);
		return expert_fail(m, r, layer, kind);
	}
	if (!p)
		p = swap_pin(m->eng, key);
	if (!p && sel && part_of(m, kind) && !swap_count_coming(m->eng, &key, 1)) {
		r = xcol_read(m, key, sel);
		if (!r)
			xcol_compute(m, kind, m->xbuf, true, x, sel, ys);
		return expert_fail(m, r, layer, kind);
	}
	if (!p) {
		r = swap_acquire(m->eng, &key, 1, &p);
		if (r)
			return expert_fail(m, r, layer, kind);
	}
	r = compute(m, key, p, g, x, sel, ys);
	swap_release(m->eng, &key, 1);
	return expert_fail(m, r, layer, kind);
}

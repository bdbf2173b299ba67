// SPDX-License-Identifier: MIT
/*
 * Budget maths and placement for the store-backed model (swapmodel.h): what the budget
 * is made of, the engine's parameters, pinning every bundle when everything fits, the
 * STATIC policy's hot set and the gap filling plan (Documentation/swapping.md).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/gguf.h"
#include "activeswap/threadpool.h"
#include "swapmodel.h"
#include "swaprows.h"

uint64_t sw_fixed_bytes(const struct swap_store *st, uint32_t n_ctx, uint32_t batch,
			int threads, enum as_kv_type kv_type)
{
	const struct swap_store_desc *d = swap_store_desc(st);
	uint64_t b = 0, dim = d->hp.dim, hid = d->hp.hidden, q, kv, wide;

	for (uint32_t i = 0; i < d->n_resident; i++)
		if (!as_rows_is_matrix_name(d->resident[i].name)) /* the row copy: not here */
			b += d->resident[i].size;
	as_rows_widths(d, &q, &kv); /* q: n_head * head_dim, which may differ from dim */
	wide = dim > hid ? dim : hid;
	if (q > wide)
		wide = q;
	b += 2ull * d->n_layers * n_ctx * kv * as_kv_elem_bytes(kv_type); /* KV cache */
	b += (3 * dim + 2 * q + 3 * hid + d->hp.vocab +                /* activations */
	      (uint64_t)d->hp.n_heads * n_ctx) * 4;
	b += wide * (4 + 4 + 24 + 3 * 8 + 8 + 1 + 1 + 12 + 8);         /* bookkeeping */
	if (batch > 1) {
		/* as_forward_batch's scratch (at most: the selections counted too, and rope
		 * rows of head_dim) */
		struct as_hparams hp = { .dim = dim, .hidden = hid, .n_head = d->hp.n_heads,
					 .n_head_kv = d->hp.n_kv_heads };

		hp.head_dim = d->hp.n_heads ? (uint32_t)(q / d->hp.n_heads) : 0;
		hp.n_rot = hp.head_dim;
		b += as_batch_bytes(&hp, n_ctx, batch < n_ctx ? batch : n_ctx, threads, true);
		b += sw_union_bytes(wide, batch < n_ctx ? batch : n_ctx, threads);
	}
	b += (uint64_t)d->n_layers * SW_N_PRED * dim * 4;                  /* preload stamps */
	/* libswap's per-bundle records and the store's tables (~40 bytes per bundle); the
	 * per-slot records are counted by sw_slot_records() */
	b += swap_store_n_bundles(st) * 40;
	return b;
}

/* libswap's record per cache slot (struct slot and the policy's index), outside its pool */
#define SLOT_REC 40u

/* Bytes of slot records for a pool of `pool` bytes: as many slots as it could hold if all
 * were of the smallest kind, at most one per bundle. */
uint64_t sw_slot_records(const struct swap_store *st, uint64_t pool)
{
	uint64_t mins = UINT64_MAX, n;

	for (int k = 0; k < (int)swap_store_n_kinds(st); k++) {
		uint64_t ss = swap_slot_bytes(st, (enum swap_kind)k);

		if (ss < mins)
			mins = ss;
	}
	n = pool / (mins + SLOT_REC);
	if (n > swap_store_n_bundles(st))
		n = swap_store_n_bundles(st);
	return n * SLOT_REC;
}

uint32_t sw_default_ctx(const struct swap_store *st, uint32_t want)
{
	uint32_t c = swap_store_desc(st)->hp.n_ctx;

	if (want)
		return want;
	if (!c || c > 2048)
		c = 2048;
	return c;
}

/* Small stores get a small read queue, so the read buffers do not dwarf the weights: reads
 * of at most 64 KiB, and for a tiny store (a few MB) of 1/64 of its weights (16 KiB at
 * least), so that half its size still holds a layer group and the buffers. */
/* A store with experts: the experts one token uses per layer (expert_used_count in the
 * metadata; 1 when it cannot be read, the open refuses such a store anyway). */
uint32_t as_swap_store_experts_used(const struct swap_store *st)
{
	const struct swap_store_desc *d = swap_store_desc(st);
	struct as_hparams hp = { 0 };
	struct gguf_file *g;
	char e[256];
	uint32_t k = 1;

	if (!d->n_expert || !d->meta_len || gguf_parse(&g, d->meta, d->meta_len, e, sizeof(e)))
		return 1;
	hp.hidden = d->hp.hidden;
	if (!as_hparams_arch(g, &hp, e, sizeof(e)) && !as_hparams_experts(g, &hp, e, sizeof(e)) &&
	    hp.n_expert_used)
		k = hp.n_expert_used;
	gguf_close(g);
	return k;
}

void sw_engine_params(const struct swap_store *st, const struct as_swap_params *p,
			  struct swap_engine_params *ep)
{
	uint64_t wb = swap_store_swappable_bytes(st);
	bool small = wb < (256ull << 20);
	uint32_t rd = 64u << 10;

	if (wb / 64 < rd)
		rd = wb / 64 < (16u << 10) ? 16u << 10 : (uint32_t)((wb / 64 + 4095) & ~4095ull);

	memset(ep, 0, sizeof(*ep));
	ep->policy = p->policy;
	ep->backend = p->backend;
	ep->queue_depth = p->queue_depth ? p->queue_depth : small ? 4 : 0;
	ep->max_read_bytes = p->max_read_bytes ? p->max_read_bytes : small ? rd : 0;
	ep->max_buffer_bytes = p->max_buffer_bytes;
	ep->numa_node = p->numa_bind ? p->numa_node : -1;
	ep->flags = p->engine_flags;
	ep->fault = p->fault;
	/* experts: a layer needs the ones the router chose, not all of them; their slots
	 * are ranked by the expert policy (contextual unless asked otherwise) */
	if (swap_store_desc(st)->n_expert) {
		ep->kind_min[SWAP_FFN_IN] = ep->kind_min[SWAP_FFN_OUT] = as_swap_store_experts_used(st);
		ep->own_policy = 1u << SWAP_FFN_IN | 1u << SWAP_FFN_OUT;
		ep->kind_policy[SWAP_FFN_IN] = ep->kind_policy[SWAP_FFN_OUT] = p->expert_policy;
	}
	/* low-precision experts: slots only when the planner reads them, as many as a
	 * token may want (the whole top-k when a layer's experts are all cold misses) */
	if (swap_store_n_kinds(st) == SWAP_KIND_MAX) {
		if (p->expert_precision == AS_XPREC_OFF && !p->expert_low_slots) {
			ep->skip_kinds = 1u << SWAP_FFN_IN_LOW | 1u << SWAP_FFN_OUT_LOW;
		} else {
			ep->kind_min[SWAP_FFN_IN_LOW] = ep->kind_min[SWAP_FFN_OUT_LOW] =
				as_swap_store_experts_used(st);
			ep->own_policy |= 1u << SWAP_FFN_IN_LOW | 1u << SWAP_FFN_OUT_LOW;
			ep->kind_policy[SWAP_FFN_IN_LOW] = ep->kind_policy[SWAP_FFN_OUT_LOW] =
				p->expert_policy;
		}
	}
	/* a tensor-parallel slice: slots for its channels only (at least one per kind) */
	for (int k = 0; k < SWAP_KIND_COUNT && p->n_slices > 1; k++) {
		uint32_t lo, hi;

		as_swap_slice(swap_store_desc(st), p->n_slices, p->slice, k, &lo, &hi);
		ep->kind_use[k] = ep->kind_min[k] = hi > lo ? hi - lo : 1;
	}
}

void as_swap_slice(const struct swap_store_desc *d, uint32_t n_slices, uint32_t slice,
		   int kind, uint32_t *lo, uint32_t *hi)
{
	uint64_t in = d->kinds[kind].in, g = (in + 31) / 32;

	if (n_slices <= 1) {
		*lo = 0;
		*hi = (uint32_t)in;
		return;
	}
	*lo = (uint32_t)(g * slice / n_slices * 32);
	*hi = (uint32_t)(g * (slice + 1) / n_slices * 32);
	*lo = *lo < in ? *lo : (uint32_t)in;
	*hi = *hi < in ? *hi : (uint32_t)in;
}

uint32_t sw_static_kinds(const struct swap_store *st, const struct as_swap_params *p)
{
	struct swap_engine_params ep;
	uint32_t mask = 0;

	sw_engine_params(st, p, &ep);
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		if (((ep.own_policy >> k) & 1 ? ep.kind_policy[k] : ep.policy) ==
		    SWAP_POLICY_STATIC)
			mask |= 1u << k;
	return mask;
}

void sw_budget(const struct swap_store *st, const struct as_swap_params *p,
		      struct as_swap_budget *b)
{
	struct swap_engine_params ep;
	uint64_t minb, grp = 0;
	const struct swap_store_desc *d = swap_store_desc(st);

	memset(b, 0, sizeof(*b));
	sw_engine_params(st, p, &ep);
	{
		uint32_t n_ctx = sw_default_ctx(st, p->n_ctx);

		b->fixed = sw_fixed_bytes(st, n_ctx, p->batch, as_tp_size(p->tp), p->kv_type);
	}
	minb = swap_engine_min_budget(st, &ep);
	for (int k = 0; k < (int)swap_store_n_kinds(st); k++) {
		uint64_t ss = swap_slot_bytes(st, (enum swap_kind)k), in, km;
		uint32_t lo, hi;

		if ((ep.skip_kinds >> k) & 1)
			continue; /* low experts the planner does not read */
		/* a slice holds only its channels (tensor parallelism) */
		as_swap_slice(d, p->n_slices, p->slice, k, &lo, &hi);
		in = hi - lo;
		km = ep.kind_min[k] && ep.kind_min[k] < in ? ep.kind_min[k] : in;

		b->slots_all += (uint64_t)d->n_layers * in * ss + 64;
		grp += (uint64_t)d->group * km * ss + 64;
	}
	b->staging = minb > grp ? minb - grp : 0;
	b->min = b->fixed + minb + sw_slot_records(st, minb);
	b->full = b->fixed + b->staging + b->slots_all + 4096 +
		  swap_store_n_bundles(st) * SLOT_REC;
	/* a row copy held whole (row mode, every level 0) must fit a 100% budget too;
	 * slices compute from the columns */
	if (p->n_slices <= 1) {
		uint64_t rows;

		if (!as_rows_check(st, &rows, NULL, NULL, 0) && b->fixed + rows > b->full)
			b->full = b->fixed + rows;
	}
}

int as_swap_budget_info(const char *path, const struct as_swap_params *p,
			struct as_swap_budget *b, char *err, size_t errlen)
{
	struct swap_store *st;
	int r = swap_store_open(&st, path, err, errlen);

	if (r)
		return r;
	sw_budget(st, p, b);
	swap_store_close(st);
	return 0;
}


/* Budget for everything: fetch and pin every bundle once; ops then look their columns up
 * in a table (no engine calls per token). Falls back to swapping when it does not fit. */
int sw_pin_all(struct as_swap_model *m)
{
	const struct swap_store_desc *d = swap_store_desc(m->st);
	uint64_t n = 0;
	int r = 0;

	int nk = (int)swap_store_n_kinds(m->st);

	m->all_off = calloc((size_t)m->rm.hp.n_layer * SWAP_KIND_MAX, sizeof(uint64_t));
	if (!m->all_off)
		return -ENOMEM;
	for (uint32_t l = 0; l < m->rm.hp.n_layer; l++)
		for (int k = 0; k < nk; k++) {
			m->all_off[l * SWAP_KIND_MAX + k] = n;
			n += d->kinds[k].in;
		}
	m->all = calloc(n, sizeof(void *));
	if (!m->all)
		return -ENOMEM;
	for (uint32_t l = 0; l < m->rm.hp.n_layer && !r; l++) {
		for (int k = 0; k < nk && !r; k++) {
			uint32_t in = m->hi[k];
			const void **dst = m->all + m->all_off[l * SWAP_KIND_MAX + k];

			/* the slice's channels (all of them without tensor parallelism) */
			for (uint32_t c0 = m->lo[k]; c0 < in && !r; c0 += m->chunk) {
				uint32_t c1 = c0 + m->chunk < in ? c0 + m->chunk : in;

				for (uint32_t c = c0; c < c1; c++)
					m->keys[c - c0] = (struct swap_key){ l, (uint32_t)k, c };
				r = swap_acquire(m->eng, m->keys, c1 - c0, dst + c0);
				if (!r)
					continue;
				/* release what was pinned and give up */
				for (uint32_t l2 = 0; l2 <= l; l2++)
					for (int k2 = 0; k2 < nk; k2++) {
						const void **t = m->all + m->all_off[l2 * SWAP_KIND_MAX + k2];

						for (uint32_t c = 0; c < d->kinds[k2].in; c++) {
							if (!t[c])
								continue;
							m->keys[0] = (struct swap_key){ l2, (uint32_t)k2, c };
							swap_release(m->eng, m->keys, 1);
						}
					}
			}
		}
	}
	if (r) {
		free(m->all);
		m->all = NULL;
	} else {
		for (int k = 0; k < SWAP_KIND_COUNT; k++)
			m->resident[k] = m->hi[k] - m->lo[k];
	}
	return r;
}

/*
 * STATIC policy: pin a leading part of the channels of every (layer, kind), as much as
 * the kind's slots hold with one layer group of slots left for the rest (the same
 * fraction of every layer; how much of each kind is the engine's slot split, see
 * sw_plan_reads()). With weights that have no contextual locality any set is as good as
 * another, and a contiguous one leaves the uncached channels contiguous too, so gap
 * filling turns their fetches into long sequential reads.
 */
int sw_static_prefix(struct as_swap_model *m, const uint64_t *kind_slots, uint32_t kinds)
{
	const struct swap_store_desc *d = swap_store_desc(m->st);
	uint64_t n = 0;
	uint32_t cnt[SWAP_KIND_COUNT];
	struct swap_key *keys;
	int r = -ENOSPC;

	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		/* the slice's channels (all of them without tensor parallelism) */
		uint64_t in = m->hi[k] - m->lo[k], sl = kind_slots[k];
		uint64_t grp = (uint64_t)d->group * in;

		cnt[k] = (uint32_t)(sl > grp ? (sl - grp) / m->rm.hp.n_layer : 0);
		if (!((kinds >> k) & 1))
			cnt[k] = 0;
		if (cnt[k] > in)
			cnt[k] = (uint32_t)in;
		n += (uint64_t)d->n_layers * in;
	}
	keys = malloc(sizeof(*keys) * n);
	if (!keys)
		return -ENOMEM;
	/* on -ENOSPC (rounding), 2% less of every kind */
	for (int tries = 0; tries < 50 && r == -ENOSPC; tries++) {
		bool any = false;

		n = 0;
		for (uint32_t l = 0; l < m->rm.hp.n_layer; l++)
			for (int k = 0; k < SWAP_KIND_COUNT; k++)
				for (uint32_t c = m->lo[k]; c < m->lo[k] + cnt[k]; c++)
					keys[n++] = (struct swap_key){ l, (uint32_t)k, c };
		r = n ? swap_engine_set_static(m->eng, keys, n) : -ENOSPC;
		if (!r)
			memcpy(m->resident, cnt, sizeof(cnt));
		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			uint32_t cut = (m->hi[k] - m->lo[k]) / 50 + 1;

			cnt[k] = cnt[k] > cut ? cnt[k] - cut : 0;
			any |= cnt[k] > 0;
		}
		if (!any)
			break;
	}
	free(keys);
	return r;
}

/* O and down (off the residual stream, not predicted): when gap filling reads (nearly)
 * all of their uncached channels anyway (under 2% unread in every layer), the whole kind
 * is requested at the layer's start so its reads overlap the compute before their input
 * is known (STATIC policy only: its hot set is fixed, so the extra requests are hits or
 * reads that gap filling would make). */
void sw_plan_whole(struct as_swap_model *m)
{
	for (int k = SWAP_ATTN_OUT; k <= SWAP_FFN_OUT; k += 2) {
		bool ok = m->whole_ok && m->gap[k] && !(k == SWAP_FFN_OUT && m->rm.hp.n_expert);

		for (uint32_t l = 0; l < m->rm.hp.n_layer && ok; l++) {
			double x = m->sp[l * SWAP_KIND_COUNT + k], n = (double)m->gap[k] + 1;

			ok = pow(x, n) * (n - (n - 1) * x) < 0.02;
		}
		m->whole[k] = ok;
	}
}

void sw_plan_gaps(struct as_swap_model *m, uint64_t gap_bytes)
{
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		uint64_t g = m->gap_ok ? gap_bytes : 0, bb = swap_store_bundle_bytes(m->st, k);

		if (g > m->max_read)
			g = m->max_read;
		m->gap_bytes[k] = g;
		m->gap[k] = g ? (uint32_t)((g + bb - 1) / bb) - 1 : 0;
	}
	sw_plan_whole(m);
}

/*
 * Gap filling (group-1 stores, where a kind's channels are adjacent in the file): bundles
 * between two needed ones are fetched too when the gap is at most gap_bytes (default
 * 8 KiB; the CLI replays reads to pick it, as_choose_gap_bytes()), so a random Top-K
 * becomes a few long reads instead of one small read per channel. A gap wider than the
 * engine's largest read could never be bridged. Sets gap, gap_bytes and whole, and, for
 * the STATIC policy, the order in which the kinds get the cache (kind_prio).
 */
void sw_plan_reads(struct as_swap_model *m, const struct as_swap_params *p,
		   struct swap_engine_params *ep)
{
	const struct swap_store_desc *d = swap_store_desc(m->st);
	double saved[SWAP_KIND_COUNT];

	m->max_read = ep->max_read_bytes ? ep->max_read_bytes : 256u << 10;
	m->gap_ok = d->group == 1;
	m->whole_ok = p->policy == SWAP_POLICY_STATIC && !m->no_preload;
	sw_plan_gaps(m, p->no_gap_fill ? 0 : p->gap_bytes ? p->gap_bytes : 8192);
	/*
	 * With needed channels at random (probability q = 1 - s, x = s), a channel stays
	 * unread only inside a run of more than gap unneeded ones between needed ones: a
	 * fraction x^n (n - (n - 1) x) of the channels, n = gap + 1; and there are about
	 * q x^n such runs per channel, each ending a read with half a page of slack on
	 * both sides. So an uncached bundle of kind k costs saved[k] of its bytes per token
	 * in reads (mean over the layers): caching it saves that much per byte.
	 */
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		double bb = (double)swap_store_bundle_bytes(m->st, k), n = (double)m->gap[k] + 1;

		saved[k] = 0;
		if (d->n_expert && k >= SWAP_FFN_IN) {
			/* an expert: read whole when one of the k chosen of n (at random) */
			saved[k] = (double)m->rm.hp.n_expert_used / d->n_expert;
			continue;
		}
		for (uint32_t l = 0; l < m->rm.hp.n_layer; l++) {
			double x = m->sp[l * SWAP_KIND_COUNT + k], xn = pow(x, n);

			saved[k] += (1 - xn * (n - (n - 1) * x) + (1 - x) * xn * 4096 / bb) /
				    m->rm.hp.n_layer;
		}
	}
	/* STATIC: the cache goes to the kinds that save the most read bytes per byte */
	if (p->policy == SWAP_POLICY_STATIC && !p->uniform_cache)
		as_cost_kind_prio(SWAP_KIND_COUNT, saved, ep->kind_prio);
}

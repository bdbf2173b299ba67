// SPDX-License-Identifier: MIT
/*
 * The mixture-of-experts hooks of the store's column sources (activeswap/forward.h,
 * swapmodel.h; Documentation/store-format.md, "Experts"): in a store with experts, bundle
 * (layer, SWAP_FFN_IN, e) holds expert e's gate and up rows and (layer, SWAP_FFN_OUT, e)
 * its down rows, in the GGUF's row encoding. An expert is computed from them with the
 * dense runtime's kernels (as_group_matvec), so its numerics are the dense model's,
 * whichever source, budget or backend supplied the bytes.
 *
 *   table   every bundle pinned at open: the expert's rows looked up;
 *   engine  experts_chosen requests the router's k experts (both bundles each) on demand
 *           before the first is computed, so the reads of the later ones overlap the
 *           compute of the first; expert_linear pins the bundle when it is in (a hit) or
 *           acquires it (waiting for its read), computes and releases it.
 */
#include <errno.h>
#include <stdio.h>

#include "swapmodel.h"

static int kind_of(enum as_group g)
{
	return g == AS_GROUP_GATE_UP ? SWAP_FFN_IN : g == AS_GROUP_DOWN ? SWAP_FFN_OUT : -1;
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

/* ys = the expert's products from its bundle at p (check_use: its crc32c first). */
static int compute(struct as_swap_model *m, struct swap_key key, const void *p,
		   enum as_group g, const float *x, float *const *ys)
{
	struct as_weight w[AS_OP_COUNT] = { 0 };

	if (m->check_use) {
		m->checked++;
		if (swap_crc32c(0, p, swap_store_bundle_bytes(m->st, key.kind)) !=
		    swap_store_bundle_crc(m->st, key))
			return -EBADMSG;
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

int sw_table_expert_linear(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
			   const float *x, const struct as_sel *sel, float *const *ys)
{
	struct as_swap_model *m = ctx;
	int kind = kind_of(g);
	struct swap_key key = { layer, (uint32_t)kind, e };

	if (sel || kind < 0 || e >= m->rm.hp.n_expert)
		return -EINVAL;
	m->ls[layer].expert_lookups++;
	m->ls[layer].expert_hits++;
	return expert_fail(m, compute(m, key, m->all[m->all_off[layer * SWAP_KIND_COUNT + kind] +
						     e], g, x, ys), layer, kind);
}

void sw_engine_experts_chosen(void *ctx, uint32_t layer, const uint32_t *ids, const float *w,
			      uint32_t n, const float *x)
{
	struct as_swap_model *m = ctx;
	uint32_t k = 0;

	(void)w;
	(void)x;
	/* in the order they are computed: gate/up then down of the first, then the next */
	for (uint32_t i = 0; i < n && k + 2 <= sw_max_in(&m->rm.hp); i++) {
		m->fkeys[k++] = (struct swap_key){ layer, SWAP_FFN_IN, ids[i] };
		m->fkeys[k++] = (struct swap_key){ layer, SWAP_FFN_OUT, ids[i] };
	}
	/* an error (a bad key) comes back from the acquire */
	swap_request(m->eng, m->fkeys, k, SWAP_PRIO_DEMAND, 0);
}

int sw_engine_expert_linear(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
			    const float *x, const struct as_sel *sel, float *const *ys)
{
	struct as_swap_model *m = ctx;
	int kind = kind_of(g), r;
	struct swap_key key = { layer, (uint32_t)kind, e };
	const void *p;

	if (sel || kind < 0 || e >= m->rm.hp.n_expert)
		return -EINVAL;
	m->ls[layer].expert_lookups++;
	p = swap_pin(m->eng, key);
	if (p) {
		m->ls[layer].expert_hits++;
	} else {
		r = swap_acquire(m->eng, &key, 1, &p);
		if (r)
			return expert_fail(m, r, layer, kind);
	}
	r = compute(m, key, p, g, x, ys);
	swap_release(m->eng, &key, 1);
	return expert_fail(m, r, layer, kind);
}

// SPDX-License-Identifier: MIT
/*
 * The contextual frequency policy ("freq", the CLI's "contextual"): a decayed access
 * counter per bundle, resident or not (per layer and channel, as ActiveFlow's contextual
 * counters); the victim is the evictable slot whose bundle has the smallest counter.
 *
 * Each access adds inc and each token multiplies inc by 1/decay, which ranks bundles as
 * decaying every counter by `decay` per token would, but leaves the counters of resident
 * bundles unchanged between accesses, so one min-heap of slots per kind stays ordered.
 * When inc grows past 1e20 every counter is scaled down and inc starts again at 1.
 */
#include <errno.h>
#include <stdlib.h>

#include "swap_int.h"

struct swap_policy {
	float *score;     /* per bundle */
	float inc, decay;
	uint64_t n_bundles;
	int32_t *heap;    /* per kind: heap[base[k] .. base[k] + n[k]) holds slot indices */
	int32_t *pos;     /* per slot: its index in its kind's heap (while evictable) */
	uint32_t *bundle; /* per slot: the bundle it holds (while evictable) */
	uint64_t base[SWAP_KIND_MAX], n[SWAP_KIND_MAX];
};

static float sc(const struct swap_policy *p, int32_t si)
{
	return p->score[p->bundle[si]];
}

static void heap_swap(struct swap_policy *p, int32_t *h, uint64_t a, uint64_t b)
{
	int32_t t = h[a];

	h[a] = h[b];
	h[b] = t;
	p->pos[h[a]] = (int32_t)a;
	p->pos[h[b]] = (int32_t)b;
}

static void heap_up(struct swap_policy *p, unsigned kind, uint64_t i)
{
	int32_t *h = p->heap + p->base[kind];

	while (i > 0) {
		uint64_t up = (i - 1) / 2;

		if (!(sc(p, h[i]) < sc(p, h[up])))
			break;
		heap_swap(p, h, i, up);
		i = up;
	}
}

static void heap_down(struct swap_policy *p, unsigned kind, uint64_t i)
{
	int32_t *h = p->heap + p->base[kind];
	uint64_t n = p->n[kind];

	for (;;) {
		uint64_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && sc(p, h[l]) < sc(p, h[m]))
			m = l;
		if (r < n && sc(p, h[r]) < sc(p, h[m]))
			m = r;
		if (m == i)
			break;
		heap_swap(p, h, i, m);
		i = m;
	}
}

static void freq_destroy(struct swap_policy *p)
{
	if (!p)
		return;
	free(p->score);
	free(p->heap);
	free(p->pos);
	free(p->bundle);
	free(p);
}

static int freq_create(struct swap_policy **out, const struct swap_policy_cfg *cfg)
{
	struct swap_policy *p = calloc(1, sizeof(*p));
	uint64_t ns = cfg->n_slots ? cfg->n_slots : 1;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->n_bundles = cfg->n_bundles;
	p->score = calloc(cfg->n_bundles ? cfg->n_bundles : 1, sizeof(*p->score));
	p->heap = calloc(ns, sizeof(*p->heap));
	p->pos = calloc(ns, sizeof(*p->pos));
	p->bundle = calloc(ns, sizeof(*p->bundle));
	if (!p->score || !p->heap || !p->pos || !p->bundle) {
		freq_destroy(p);
		return -ENOMEM;
	}
	for (int k = 0; k < SWAP_KIND_MAX; k++)
		p->base[k] = cfg->kind_base[k];
	p->inc = 1.0f;
	p->decay = cfg->freq_decay;
	*out = p;
	return 0;
}

static void freq_insert(struct swap_policy *p, int32_t si, unsigned kind, uint64_t b)
{
	uint64_t i = p->n[kind]++;

	p->bundle[si] = (uint32_t)b;
	p->heap[p->base[kind] + i] = si;
	p->pos[si] = (int32_t)i;
	heap_up(p, kind, i);
}

static void freq_remove(struct swap_policy *p, int32_t si, unsigned kind)
{
	uint64_t i = (uint64_t)p->pos[si], last = p->n[kind] - 1;

	if (i != last) {
		heap_swap(p, p->heap + p->base[kind], i, last);
		p->n[kind]--;
		heap_up(p, kind, i);
		heap_down(p, kind, i);
	} else {
		p->n[kind]--;
	}
}

static void freq_access(struct swap_policy *p, uint64_t b, int32_t si, unsigned kind)
{
	p->score[b] += p->inc;
	if (si >= 0)
		heap_down(p, kind, (uint64_t)p->pos[si]);
}

static int32_t freq_victim(struct swap_policy *p, unsigned kind)
{
	return p->n[kind] ? p->heap[p->base[kind]] : -1;
}

static void freq_token(struct swap_policy *p)
{
	p->inc /= p->decay;
	if (p->inc > 1e20f) {
		float f = 1.0f / p->inc;

		for (uint64_t i = 0; i < p->n_bundles; i++)
			p->score[i] *= f;
		p->inc = 1.0f;
	}
}

const struct swap_policy_ops swap_policy_freq_ops = {
	.name = "freq",
	.create = freq_create,
	.destroy = freq_destroy,
	.insert = freq_insert,
	.remove = freq_remove,
	.access = freq_access,
	.victim = freq_victim,
	.token = freq_token,
};

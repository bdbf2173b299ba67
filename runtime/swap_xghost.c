// SPDX-License-Identifier: MIT
/*
 * The ghost of an expert cache (swapmodel.h, struct sw_xghost): the bundle ids an LRU
 * cache of the kind's slots would hold if every miss were read whole and cached, without
 * their bytes, and the rate at which the chosen experts hit it. Under Top-K inside
 * experts a column store reads a miss in part, which caches nothing; the ghost tells how
 * much reading whole would have hit, so swap_experts.c reads in part only while the part
 * is smaller than what a whole read would cost after its hits (a router with locality
 * hits 60-95% of a small cache, a uniform one about the cached fraction).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "swapmodel.h"

#define NONE UINT32_MAX

int sw_xghost_init(struct sw_xghost *g, uint32_t n_ids, uint32_t cap)
{
	memset(g, 0, sizeof(*g));
	g->head = g->tail = NONE;
	g->cap = cap;
	if (!n_ids)
		return 0;
	g->prev = malloc((size_t)n_ids * sizeof(*g->prev));
	g->next = malloc((size_t)n_ids * sizeof(*g->next));
	g->in = calloc(n_ids, 1);
	if (!g->prev || !g->next || !g->in) {
		sw_xghost_free(g);
		return -ENOMEM;
	}
	g->n_ids = n_ids;
	return 0;
}

void sw_xghost_free(struct sw_xghost *g)
{
	free(g->prev);
	free(g->next);
	free(g->in);
	memset(g, 0, sizeof(*g));
}

static void unlink_id(struct sw_xghost *g, uint32_t id)
{
	if (g->prev[id] != NONE)
		g->next[g->prev[id]] = g->next[id];
	else
		g->head = g->next[id];
	if (g->next[id] != NONE)
		g->prev[g->next[id]] = g->prev[id];
	else
		g->tail = g->prev[id];
	g->in[id] = 0;
	g->n--;
}

static void push_front(struct sw_xghost *g, uint32_t id)
{
	g->prev[id] = NONE;
	g->next[id] = g->head;
	if (g->head != NONE)
		g->prev[g->head] = id;
	g->head = id;
	if (g->tail == NONE)
		g->tail = id;
	g->in[id] = 1;
	g->n++;
}

bool sw_xghost_use(struct sw_xghost *g, uint32_t id)
{
	bool hit;

	if (id >= g->n_ids || !g->cap)
		return false;
	hit = g->in[id];
	if (hit)
		unlink_id(g, id);
	else if (g->n >= g->cap)
		unlink_id(g, g->tail);
	push_front(g, id);
	g->lookups++;
	g->hits += hit;
	g->hit_rate += ((hit ? 1.0 : 0.0) - g->hit_rate) / SW_XGHOST_WINDOW;
	return hit;
}

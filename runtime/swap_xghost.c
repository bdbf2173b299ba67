// SPDX-License-Identifier: MIT
/*
 * The ghost of an expert cache (swapmodel.h, struct sw_xghost): the bundle ids a cache of
 * the kind's slots would hold if every miss were read whole and cached, without their
 * bytes, and the rate at which the chosen experts hit it. Under Top-K inside experts a
 * column store reads a miss in part, which caches nothing; the ghost tells how much
 * reading whole would have hit, so swap_experts.c reads in part only while the part is
 * smaller than what a whole read would cost after its hits.
 *
 * It evicts as the expert cache's policy does: the contextual one (libswap's
 * policy_freq.c: a decayed counter per bundle, resident or not, decay 0.9 per token; the
 * victim has the smallest counter), else LRU. The counters are kept as libswap keeps
 * them: each use adds inc and each token divides inc by the decay. The layers' experts
 * are used in a cycle, so a plain LRU of fewer slots than a token's experts never hits,
 * where the counters keep a steady subset (a Mixtral-8x7B cut with a router of 4 topics,
 * 10 gate/up slots: 41% hits with the contextual policy, 6% with LRU).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "swapmodel.h"

#define GHOST_DECAY 0.9 /* libswap's default freq_decay */

int sw_xghost_init(struct sw_xghost *g, uint32_t n_ids, uint32_t cap, bool lru)
{
	memset(g, 0, sizeof(*g));
	g->lru = lru;
	g->inc = 1.0;
	if (!n_ids)
		return 0;
	g->cap = cap < n_ids ? cap : n_ids;
	g->score = calloc(n_ids, sizeof(*g->score));
	g->pos = malloc((size_t)n_ids * sizeof(*g->pos));
	g->res = malloc(((size_t)g->cap + 1) * sizeof(*g->res)); /* + 1: never malloc(0) */
	if (!g->score || !g->pos || !g->res) {
		sw_xghost_free(g);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n_ids; i++)
		g->pos[i] = UINT32_MAX;
	g->n_ids = n_ids;
	return 0;
}

void sw_xghost_free(struct sw_xghost *g)
{
	free(g->score);
	free(g->pos);
	free(g->res);
	memset(g, 0, sizeof(*g));
}

/* A new token: later uses count 1/decay as much (LRU: a use's time). */
static void next_token(struct sw_xghost *g, uint64_t token)
{
	if (g->lru)
		return;
	for (; g->token < token; g->token++) {
		g->inc /= GHOST_DECAY;
		if (g->inc > 1e100) {
			for (uint32_t i = 0; i < g->n_ids; i++)
				g->score[i] /= g->inc;
			g->inc = 1.0;
		}
	}
}

bool sw_xghost_use(struct sw_xghost *g, uint32_t id, uint64_t token)
{
	bool hit;

	if (id >= g->n_ids || !g->cap)
		return false;
	next_token(g, token);
	g->token = token; /* LRU, or a new sequence that starts over */
	hit = g->pos[id] != UINT32_MAX;
	if (!hit) {
		if (g->n >= g->cap) { /* evict the smallest counter (LRU: the oldest use) */
			uint32_t v = 0, victim;

			for (uint32_t i = 1; i < g->n; i++)
				if (g->score[g->res[i]] < g->score[g->res[v]])
					v = i;
			victim = g->res[v];
			if (v != --g->n) {
				g->res[v] = g->res[g->n];
				g->pos[g->res[v]] = v;
			}
			g->pos[victim] = UINT32_MAX;
		}
		g->res[g->n] = id;
		g->pos[id] = g->n++;
	}
	if (g->lru)
		g->score[id] = (double)++g->clock;
	else
		g->score[id] += g->inc;
	g->lookups++;
	g->hits += hit;
	g->hit_rate += ((hit ? 1.0 : 0.0) - g->hit_rate) / SW_XGHOST_WINDOW;
	return hit;
}

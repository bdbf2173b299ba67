// SPDX-License-Identifier: MIT
/*
 * List policies: one doubly linked list of evictable slots per kind, the head being the
 * next victim and new entries going to the tail.
 *
 * - lru: a request of an evictable bundle moves its slot to the tail (least recently
 *   requested or released first; a pin takes a slot out, its release puts it back last).
 * - static: first in, first out (requests change nothing). The calibrated hot set that
 *   swap_engine_set_static() pins never enters the list: the engine keeps static slots
 *   out of the evictable set.
 */
#include <errno.h>
#include <stdlib.h>

#include "swap_int.h"

#define NIL (-1)

struct link {
	int32_t prev, next;
};

struct swap_policy {
	struct link *l; /* per slot */
	int32_t head[SWAP_KIND_MAX], tail[SWAP_KIND_MAX];
};

static int list_create(struct swap_policy **out, const struct swap_policy_cfg *cfg)
{
	struct swap_policy *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->l = malloc((cfg->n_slots ? cfg->n_slots : 1) * sizeof(*p->l));
	if (!p->l) {
		free(p);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < cfg->n_slots; i++)
		p->l[i].prev = p->l[i].next = NIL;
	for (int k = 0; k < SWAP_KIND_MAX; k++)
		p->head[k] = p->tail[k] = NIL;
	*out = p;
	return 0;
}

static void list_destroy(struct swap_policy *p)
{
	if (!p)
		return;
	free(p->l);
	free(p);
}

static void list_insert(struct swap_policy *p, int32_t si, unsigned kind, uint64_t b)
{
	struct link *x = &p->l[si];

	x->next = NIL;
	x->prev = p->tail[kind];
	if (p->tail[kind] != NIL)
		p->l[p->tail[kind]].next = si;
	else
		p->head[kind] = si;
	p->tail[kind] = si;
}

static void list_remove(struct swap_policy *p, int32_t si, unsigned kind)
{
	struct link *x = &p->l[si];

	if (x->prev != NIL)
		p->l[x->prev].next = x->next;
	else
		p->head[kind] = x->next;
	if (x->next != NIL)
		p->l[x->next].prev = x->prev;
	else
		p->tail[kind] = x->prev;
}

static void lru_access(struct swap_policy *p, uint64_t b, int32_t si, unsigned kind)
{
	if (si == NIL)
		return;
	list_remove(p, si, kind);
	list_insert(p, si, kind, b);
}

static void fifo_access(struct swap_policy *p, uint64_t b, int32_t si, unsigned kind)
{
}

static int32_t list_victim(struct swap_policy *p, unsigned kind)
{
	return p->head[kind];
}

const struct swap_policy_ops swap_policy_lru_ops = {
	.name = "lru",
	.create = list_create,
	.destroy = list_destroy,
	.insert = list_insert,
	.remove = list_remove,
	.access = lru_access,
	.victim = list_victim,
};

const struct swap_policy_ops swap_policy_static_ops = {
	.name = "static",
	.static_set = true,
	.create = list_create,
	.destroy = list_destroy,
	.insert = list_insert,
	.remove = list_remove,
	.access = fifo_access,
	.victim = list_victim,
};

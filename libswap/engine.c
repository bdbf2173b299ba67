// SPDX-License-Identifier: MIT
/*
 * The swap engine's cache: slots and their eviction through the policy table, bundle
 * states, and the public calls that request, wait for, pin and cancel bundles, the
 * static set, token/layer markers and statistics. The state, its locking and the bundle
 * states are described in engine_int.h; reads are scheduled in sched.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

#include "engine_int.h"

/* ---- eviction policies ------------------------------------------------------------- */
/*
 * The policies are behind e->pol[kind] (struct swap_policy_ops in swap_int.h; policy_*.c),
 * each kind's slots ranked by its policy's instance e->ps[kind].
 * Only VALID, unpinned, non-static slots are in the policy's structure ("evictable"): the
 * engine keeps that flag and tells the policy when a slot enters or leaves the set.
 */
static void pol_insert(struct swap_engine *e, int32_t si)
{
	struct slot *sl = &e->slots[si];

	if (sl->evictable || sl->is_static)
		return;
	sl->evictable = 1;
	e->pol[sl->kind]->insert(e->ps[sl->kind], si, sl->kind, (uint64_t)sl->bidx);
}

static void pol_remove(struct swap_engine *e, int32_t si)
{
	struct slot *sl = &e->slots[si];

	if (!sl->evictable)
		return;
	sl->evictable = 0;
	e->pol[sl->kind]->remove(e->ps[sl->kind], si, sl->kind);
}

/* Bundle b is requested: the policy counts the access (its slot, if evictable). */
static void pol_access(struct swap_engine *e, uint64_t b)
{
	int32_t si = e->ent[b].slot;
	unsigned kind = swap_key_of(e->s, b).kind;

	if (si == NIL || !e->slots[si].evictable)
		si = NIL;
	e->pol[kind]->access(e->ps[kind], b, si, kind);
}

/* A VALID bundle becomes evictable once nobody pins it and no waiter still has to
 * collect it (otherwise a freshly loaded on-demand bundle would be the first victim of
 * the next completion and the waiter could starve). */
void swap_settle(struct swap_engine *e, uint64_t b)
{
	struct ent *x = &e->ent[b];

	if (x->state == ST_VALID && !x->waiters && !e->slots[x->slot].pin)
		pol_insert(e, x->slot);
}

/* ---- slots ------------------------------------------------------------------------- */

int32_t swap_slot_get(struct swap_engine *e, int kind)
{
	struct kclass *k = &e->kc[kind];
	int32_t si;
	struct slot *sl;
	struct swap_key key;

	if (k->n_free)
		return k->free[--k->n_free];
	si = e->pol[kind]->victim(e->ps[kind], (unsigned)kind);
	if (si == NIL)
		return NIL;
	sl = &e->slots[si];
	pol_remove(e, si);
	key = swap_key_of(e->s, (uint64_t)sl->bidx);
	e->ent[sl->bidx].state = ST_ABSENT;
	e->ent[sl->bidx].slot = NIL;
	e->ent[sl->bidx].fresh = 0;
	e->ls[key.layer].evictions++;
	if (SWAP_PROBES_ON(e))
		DTRACE_PROBE3(activeswap, cache_evict, (int32_t)key.layer, key.channel,
			      (int32_t)key.kind);
	sl->bidx = -1;
	e->n_valid--;
	return si;
}

void swap_slot_put(struct swap_engine *e, int32_t si)
{
	struct slot *sl = &e->slots[si];
	struct kclass *k = &e->kc[sl->kind];

	sl->bidx = -1;
	k->free[k->n_free++] = si;
}

/* ---- public API -------------------------------------------------------------------- */

/* A VALID bundle is being used (pinned or acquired): the first use after its read counts
 * its bytes as useful. */
static void note_use(struct swap_engine *e, uint64_t b)
{
	struct ent *x = &e->ent[b];

	if (x->fresh) {
		struct swap_key k = swap_key_of(e->s, b);

		x->fresh = 0;
		e->ls[k.layer].bytes_used += e->s->bundle_bytes[k.kind];
	}
}

static int check_keys(struct swap_engine *e, const struct swap_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!swap_key_ok(e->s, keys[i]))
			return -EINVAL;
	return 0;
}

static void queue_miss(struct swap_engine *e, uint64_t b, struct swap_key k, int prio,
		       uint64_t tag)
{
	e->ls[k.layer].misses++;
	if (SWAP_PROBES_ON(e))
		DTRACE_PROBE3(activeswap, cache_miss, (int32_t)k.layer, k.channel, (int32_t)k.kind);
	e->ent[b].state = ST_QUEUED;
	e->ent[b].err = 0;
	e->ent[b].tag = tag;
	swap_plist_add(e, b, prio);
}

static void request_locked(struct swap_engine *e, const struct swap_key *keys, size_t n,
			   int prio, uint64_t tag)
{
	for (size_t i = 0; i < n; i++) {
		struct swap_key k = keys[i];
		uint64_t b = swap_bidx(e->s, k);
		struct ent *x = &e->ent[b];

		pol_access(e, b);
		if (x->state == ST_ABSENT) {
			queue_miss(e, b, k, prio, tag);
			continue;
		}
		if (x->state == ST_ERROR) {
			/* Not resident, and not retried yet: the failed read's error is kept
			 * for the next swap_wait/swap_acquire, so the caller always sees it. */
			e->ls[k.layer].misses++;
			if (SWAP_PROBES_ON(e))
				DTRACE_PROBE3(activeswap, cache_miss, (int32_t)k.layer, k.channel,
					      (int32_t)k.kind);
			continue;
		}
		e->ls[k.layer].hits++;
		if (SWAP_PROBES_ON(e))
			DTRACE_PROBE3(activeswap, cache_hit, (int32_t)k.layer, k.channel,
				      (int32_t)k.kind);
		if (x->state == ST_QUEUED) {
			x->tag = tag; /* the newer prediction owns it now */
			if (prio < x->prio) {
				swap_plist_del(e, b);
				swap_plist_add(e, b, prio);
			}
		}
	}
}

int swap_request(struct swap_engine *e, const struct swap_key *keys, size_t n,
		 enum swap_prio prio, uint64_t tag)
{
	int r;

	if ((unsigned)prio >= SWAP_PRIO_COUNT)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	r = check_keys(e, keys, n);
	if (!r) {
		request_locked(e, keys, n, prio, tag);
		swap_dispatch(e);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

static void unpin_locked(struct swap_engine *e, int32_t si)
{
	struct slot *sl = &e->slots[si];

	if (!sl->pin)
		return;
	if (--sl->pin == 0) {
		e->n_pinned--;
		swap_settle(e, (uint64_t)sl->bidx);
	}
}

static int wait_locked(struct swap_engine *e, const struct swap_key *keys, size_t n,
		       const void **ptrs)
{
	uint8_t *done = calloc(n ? n : 1, 1);
	size_t remaining = n;
	uint64_t t0 = 0;
	int32_t stall_layer = -1;
	int ret = 0;

	if (!done)
		return -ENOMEM;
	e->plugged = false;
	for (size_t i = 0; i < n; i++)
		e->ent[swap_bidx(e->s, keys[i])].waiters++;
	for (;;) {
		for (size_t i = 0; i < n && !ret; i++) {
			uint64_t b;
			struct ent *x;

			if (done[i])
				continue;
			b = swap_bidx(e->s, keys[i]);
			x = &e->ent[b];
			switch (x->state) {
			case ST_VALID:
				done[i] = 1;
				remaining--;
				x->waiters--;
				if (ptrs) {
					struct slot *sl = &e->slots[x->slot];

					note_use(e, b);
					if (!sl->pin++) {
						e->n_pinned++;
						pol_remove(e, x->slot);
					}
					ptrs[i] = swap_slot_mem(e, x->slot);
				} else {
					swap_settle(e, b);
				}
				break;
			case ST_ERROR:
				ret = x->err ? x->err : -EIO;
				e->err_key = keys[i];
				e->err_code = ret;
				x->state = ST_ABSENT;
				x->err = 0;
				break;
			case ST_ABSENT:
				queue_miss(e, b, keys[i], SWAP_PRIO_DEMAND, 0);
				break;
			case ST_QUEUED:
				if (x->prio != SWAP_PRIO_DEMAND) {
					swap_plist_del(e, b);
					swap_plist_add(e, b, SWAP_PRIO_DEMAND);
				}
				break;
			default:
				break;
			}
			if (!done[i] && stall_layer < 0 && t0 == 0)
				stall_layer = (int32_t)keys[i].layer;
		}
		if (ret || !remaining)
			break;
		swap_dispatch(e);
		if (!t0)
			t0 = swap_now_ns();
		pthread_cond_wait(&e->cond, &e->lock);
	}
	if (t0) {
		uint64_t st = swap_now_ns() - t0;

		if (stall_layer < 0)
			stall_layer = 0;
		e->ls[stall_layer].stall_ns += st;
		e->token_stall += st;
		if (SWAP_PROBES_ON(e))
			DTRACE_PROBE2(activeswap, stall, stall_layer, st);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t b = swap_bidx(e->s, keys[i]);

		if (done[i])
			continue;
		e->ent[b].waiters--;
		swap_settle(e, b);
	}
	if (ret && ptrs) {
		for (size_t i = 0; i < n; i++) {
			if (!done[i])
				continue;
			unpin_locked(e, e->ent[swap_bidx(e->s, keys[i])].slot);
			ptrs[i] = NULL;
		}
	}
	free(done);
	return ret;
}

static int check_room(struct swap_engine *e, const struct swap_key *keys, size_t n)
{
	uint64_t per[SWAP_KIND_MAX] = { 0 };

	for (size_t i = 0; i < n; i++)
		per[keys[i].kind]++;
	for (int k = 0; k < (int)e->s->n_kinds; k++)
		if (per[k] > e->kc[k].n - e->kc[k].static_n)
			return -ENOSPC; /* could never all be resident at once */
	return 0;
}

int swap_wait(struct swap_engine *e, const struct swap_key *keys, size_t n)
{
	int r;

	pthread_mutex_lock(&e->lock);
	r = check_keys(e, keys, n);
	if (!r)
		r = check_room(e, keys, n);
	if (!r)
		r = wait_locked(e, keys, n, NULL);
	pthread_mutex_unlock(&e->lock);
	return r;
}

int swap_acquire(struct swap_engine *e, const struct swap_key *keys, size_t n,
		 const void **ptrs)
{
	int r;

	pthread_mutex_lock(&e->lock);
	r = check_keys(e, keys, n);
	if (!r)
		r = check_room(e, keys, n);
	if (!r) {
		request_locked(e, keys, n, SWAP_PRIO_DEMAND, 0);
		r = wait_locked(e, keys, n, ptrs);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

void swap_release(struct swap_engine *e, const struct swap_key *keys, size_t n)
{
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < n; i++) {
		if (!swap_key_ok(e->s, keys[i]))
			continue;
		int32_t si = e->ent[swap_bidx(e->s, keys[i])].slot;

		if (si != NIL && e->ent[swap_bidx(e->s, keys[i])].state == ST_VALID &&
		    !e->slots[si].is_static)
			unpin_locked(e, si);
	}
	swap_dispatch(e);
	pthread_mutex_unlock(&e->lock);
}

int swap_last_error(struct swap_engine *e, struct swap_key *key)
{
	int r;

	pthread_mutex_lock(&e->lock);
	r = e->err_code;
	*key = e->err_key;
	pthread_mutex_unlock(&e->lock);
	return r;
}

const void *swap_pin(struct swap_engine *e, struct swap_key key)
{
	const void *p = NULL;

	pthread_mutex_lock(&e->lock);
	if (swap_key_ok(e->s, key)) {
		struct ent *x = &e->ent[swap_bidx(e->s, key)];

		if (x->state == ST_VALID) {
			note_use(e, swap_bidx(e->s, key));
			if (!e->slots[x->slot].pin++) {
				e->n_pinned++;
				pol_remove(e, x->slot);
			}
			p = swap_slot_mem(e, x->slot);
		}
	}
	pthread_mutex_unlock(&e->lock);
	return p;
}

void swap_unpin(struct swap_engine *e, struct swap_key key)
{
	swap_release(e, &key, 1);
}

void *swap_slot_lend(struct swap_engine *e, int kind, int32_t *slot)
{
	void *p = NULL;

	*slot = NIL;
	if (kind < 0 || kind >= SWAP_KIND_MAX)
		return NULL;
	pthread_mutex_lock(&e->lock);
	if (e->kc[kind].n_free) {
		*slot = e->kc[kind].free[--e->kc[kind].n_free];
		e->slots[*slot].bidx = -1;
		p = swap_slot_mem(e, *slot);
	}
	pthread_mutex_unlock(&e->lock);
	return p;
}

void swap_slot_return(struct swap_engine *e, int32_t slot)
{
	if (slot < 0 || (uint64_t)slot >= e->n_slots)
		return;
	pthread_mutex_lock(&e->lock);
	swap_slot_put(e, slot);
	swap_dispatch(e); /* a queued bundle may have waited for the slot */
	pthread_mutex_unlock(&e->lock);
}

static size_t count_state(struct swap_engine *e, const struct swap_key *keys, size_t n,
			  bool loading)
{
	size_t c = 0;

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < n; i++) {
		int st;

		if (!swap_key_ok(e->s, keys[i]))
			continue;
		st = e->ent[swap_bidx(e->s, keys[i])].state;
		c += st == ST_VALID || (loading && st == ST_LOADING);
	}
	pthread_mutex_unlock(&e->lock);
	return c;
}

size_t swap_count_resident(struct swap_engine *e, const struct swap_key *keys, size_t n)
{
	return count_state(e, keys, n, false);
}

size_t swap_count_coming(struct swap_engine *e, const struct swap_key *keys, size_t n)
{
	return count_state(e, keys, n, true);
}

int swap_cancel(struct swap_engine *e, uint64_t tag, unsigned prio_mask)
{
	int n = 0;

	pthread_mutex_lock(&e->lock);
	for (int p = 0; p < SWAP_PRIO_COUNT; p++) {
		int32_t b = e->ph[p];

		if (!(prio_mask & (1u << p)))
			continue;
		while (b != NIL) {
			int32_t next = e->ent[b].next;

			if (tag == SWAP_TAG_ANY || e->ent[b].tag == tag) {
				swap_plist_del(e, (uint64_t)b);
				e->ent[b].state = ST_ABSENT;
				n++;
			}
			b = next;
		}
	}
	pthread_cond_broadcast(&e->cond); /* waiters re-request what they still need */
	pthread_mutex_unlock(&e->lock);
	return n;
}

int swap_engine_set_static(struct swap_engine *e, const struct swap_key *keys, size_t n)
{
	uint64_t per[SWAP_KIND_MAX] = { 0 };
	const void **ptrs;
	int r = 0;

	pthread_mutex_lock(&e->lock);
	r = check_keys(e, keys, n);
	for (size_t i = 0; i < n && !r; i++)
		if (!e->pol[keys[i].kind]->static_set)
			r = -EINVAL;
	for (size_t i = 0; i < n && !r; i++)
		per[keys[i].kind]++;
	for (int k = 0; k < (int)e->s->n_kinds && !r; k++) {
		uint64_t need = swap_kind_min(e->s, &e->p, k);

		if (e->kc[k].static_n + per[k] + need > e->kc[k].n)
			r = -ENOSPC;
	}
	pthread_mutex_unlock(&e->lock);
	if (r)
		return r;
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!ptrs)
		return -ENOMEM;
	r = swap_acquire(e, keys, n, ptrs);
	free(ptrs);
	if (r)
		return r;
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < n; i++) {
		struct slot *sl = &e->slots[e->ent[swap_bidx(e->s, keys[i])].slot];

		if (!sl->is_static) {
			sl->is_static = 1;
			e->kc[sl->kind].static_n++;
		} else {
			unpin_locked(e, e->ent[swap_bidx(e->s, keys[i])].slot);
		}
	}
	pthread_mutex_unlock(&e->lock);
	return 0;
}

void swap_plug(struct swap_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->plugged = true;
	pthread_mutex_unlock(&e->lock);
}

void swap_unplug(struct swap_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->plugged = false;
	swap_dispatch(e);
	pthread_mutex_unlock(&e->lock);
}

void swap_token_begin(struct swap_engine *e, uint64_t token)
{
	pthread_mutex_lock(&e->lock);
	e->token = token;
	e->token_stall = 0;
	for (int i = 0; i < SWAP_N_POLICIES; i++)
		if (e->inst[i] && e->pol_of[i]->token)
			e->pol_of[i]->token(e->inst[i]);
	pthread_mutex_unlock(&e->lock);
	if (SWAP_PROBES_ON(e))
		DTRACE_PROBE1(activeswap, token_begin, token);
}

uint64_t swap_token_end(struct swap_engine *e)
{
	uint64_t t, st;

	pthread_mutex_lock(&e->lock);
	t = e->token;
	st = e->token_stall;
	pthread_mutex_unlock(&e->lock);
	if (SWAP_PROBES_ON(e))
		DTRACE_PROBE2(activeswap, token_end, t, st);
	return st;
}

void swap_layer_begin(struct swap_engine *e, uint32_t layer)
{
	uint64_t t;

	pthread_mutex_lock(&e->lock);
	t = e->token;
	pthread_mutex_unlock(&e->lock);
	if (SWAP_PROBES_ON(e))
		DTRACE_PROBE2(activeswap, layer_begin, (int32_t)layer, t);
}

void swap_engine_stats(struct swap_engine *e, struct swap_stats *o)
{
	memset(o, 0, sizeof(*o));
	pthread_mutex_lock(&e->lock);
	for (uint32_t l = 0; l < e->s->d.n_layers; l++) {
		const struct swap_layer_stats *x = &e->ls[l];

		o->total.hits += x->hits;
		o->total.misses += x->misses;
		o->total.evictions += x->evictions;
		o->total.reads += x->reads;
		o->total.bytes_read += x->bytes_read;
		o->total.read_errors += x->read_errors;
		o->total.stall_ns += x->stall_ns;
		o->total.bytes_used += x->bytes_used;
	}
	o->slots_total = e->n_slots;
	o->slots_valid = e->n_valid;
	o->slots_pinned = e->n_pinned;
	o->inflight = e->inflight;
	o->queued = e->n_queued;
	o->pool_bytes = e->pool.size;
	o->pool_locked = e->pool.locked || e->pool.kmod;
	o->staging_bytes = (uint64_t)e->qd * e->sb;
	for (int k = 0; k < (int)e->s->n_kinds; k++) {
		o->slot_bytes += e->kc[k].n * e->kc[k].size;
		o->kind_slots[k] = e->kc[k].n;
	}
	pthread_mutex_unlock(&e->lock);
}

int swap_engine_layer_stats(struct swap_engine *e, uint32_t layer,
			    struct swap_layer_stats *out)
{
	if (layer >= e->s->d.n_layers)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	*out = e->ls[layer];
	pthread_mutex_unlock(&e->lock);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * The swap engine: slots over the DRAM pool, the hot-weight cache with its eviction
 * policies, and the fetch scheduler (priorities, coalescing, queue depth, cancellation).
 *
 * One mutex protects all engine state; compute threads take it in request/wait/pin and
 * the backend's completion thread in on_complete. Reads land in a staging buffer (the
 * 4 KiB aligned span covering a run of adjacent bundles) and are copied into the slots,
 * so slot sizes need no O_DIRECT alignment (see Documentation/libswap.md).
 *
 * Bundle states: ABSENT -> QUEUED (in a priority list, no slot) -> LOADING (slot taken,
 * read in flight) -> VALID (slot holds verified bytes) -> ABSENT when evicted. A failed
 * read turns its bundles to ERROR (slot freed) until a waiter collects the error (requests
 * do not retry them before that); the next request or wait fetches them again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sdt.h>
#include <unistd.h>

#include "swap_int.h"

enum { ST_ABSENT, ST_QUEUED, ST_LOADING, ST_VALID, ST_ERROR };

#define NIL (-1)
#define SLOT_ALIGN 64u

struct ent {
	int32_t slot;
	int32_t prev, next; /* priority list links (QUEUED) */
	uint8_t state, prio;
	int16_t err;
	uint16_t waiters; /* threads in swap_wait/acquire that have not collected it yet */
	uint8_t fresh;    /* read from flash and not used since (bytes_used accounting) */
	uint64_t tag;
};

struct slot {
	int64_t bidx; /* bundle held, -1 when free */
	uint32_t pin;
	uint8_t kind;
	uint8_t evictable; /* in the policy's structure */
	uint8_t is_static;
};

struct rd {
	struct swap_key first;
	uint32_t count;
	uint64_t file_off, len;
	uint64_t tag;
	int prio;
	uint64_t t_submit;
};

struct kclass {
	uint64_t base, n;  /* global slot index range */
	uint64_t size;     /* bytes per slot */
	uint8_t *mem;
	int32_t *free;     /* stack */
	uint64_t n_free;
	uint64_t static_n;
};

struct swap_engine {
	struct swap_store *s;
	struct swap_engine_params p;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct swap_pool pool;
	uint8_t *staging;
	uint64_t sb; /* bytes per staging buffer = max read */
	uint32_t qd, inflight;
	uint32_t *rd_free, n_rd_free;
	struct rd *rds;
	struct ent *ent;
	const struct swap_policy_ops *pol;
	struct swap_policy *ps;
	struct slot *slots;
	uint64_t n_slots;
	struct kclass kc[SWAP_KIND_COUNT];
	int32_t ph[SWAP_PRIO_COUNT], pt[SWAP_PRIO_COUNT];
	uint64_t n_queued;
	struct swap_layer_stats *ls;
	uint64_t *per; /* scratch: bytes per layer of one read */
	const struct swap_backend_ops *bops;
	struct swap_backend *be;
	uint64_t token, token_stall;
	uint64_t n_pinned, n_valid;
	bool plugged;
};

/* ---- eviction policies ------------------------------------------------------------- */
/*
 * The policies are behind e->pol (struct swap_policy_ops in swap_int.h; policy_*.c).
 * Only VALID, unpinned, non-static slots are in the policy's structure ("evictable"): the
 * engine keeps that flag and tells the policy when a slot enters or leaves the set.
 */
static const struct swap_policy_ops *const policies[] = {
	[SWAP_POLICY_FREQ] = &swap_policy_freq_ops,
	[SWAP_POLICY_LRU] = &swap_policy_lru_ops,
	[SWAP_POLICY_STATIC] = &swap_policy_static_ops,
};
#define N_POLICIES (sizeof(policies) / sizeof(policies[0]))

static void pol_insert(struct swap_engine *e, int32_t si)
{
	struct slot *sl = &e->slots[si];

	if (sl->evictable || sl->is_static)
		return;
	sl->evictable = 1;
	e->pol->insert(e->ps, si, sl->kind, (uint64_t)sl->bidx);
}

static void pol_remove(struct swap_engine *e, int32_t si)
{
	struct slot *sl = &e->slots[si];

	if (!sl->evictable)
		return;
	sl->evictable = 0;
	e->pol->remove(e->ps, si, sl->kind);
}

/* Bundle b is requested: the policy counts the access (its slot, if evictable). */
static void pol_access(struct swap_engine *e, uint64_t b)
{
	int32_t si = e->ent[b].slot;
	unsigned kind = 0;

	if (si != NIL && e->slots[si].evictable)
		kind = e->slots[si].kind;
	else
		si = NIL;
	e->pol->access(e->ps, b, si, kind);
}

/* A VALID bundle becomes evictable once nobody pins it and no waiter still has to
 * collect it (otherwise a freshly loaded on-demand bundle would be the first victim of
 * the next completion and the waiter could starve). */
static void settle(struct swap_engine *e, uint64_t b)
{
	struct ent *x = &e->ent[b];

	if (x->state == ST_VALID && !x->waiters && !e->slots[x->slot].pin)
		pol_insert(e, x->slot);
}

/* ---- slots ------------------------------------------------------------------------- */

static uint8_t *slot_mem(struct swap_engine *e, int32_t si)
{
	struct kclass *k = &e->kc[e->slots[si].kind];

	return k->mem + ((uint64_t)si - k->base) * k->size;
}

static int32_t slot_get(struct swap_engine *e, int kind)
{
	struct kclass *k = &e->kc[kind];
	int32_t si;
	struct slot *sl;
	struct swap_key key;

	if (k->n_free)
		return k->free[--k->n_free];
	si = e->pol->victim(e->ps, (unsigned)kind);
	if (si == NIL)
		return NIL;
	sl = &e->slots[si];
	pol_remove(e, si);
	key = swap_key_of(e->s, (uint64_t)sl->bidx);
	e->ent[sl->bidx].state = ST_ABSENT;
	e->ent[sl->bidx].slot = NIL;
	e->ent[sl->bidx].fresh = 0;
	e->ls[key.layer].evictions++;
	DTRACE_PROBE3(activeswap, cache_evict, (int32_t)key.layer, key.channel,
		      (int32_t)key.kind);
	sl->bidx = -1;
	e->n_valid--;
	return si;
}

static void slot_put(struct swap_engine *e, int32_t si)
{
	struct slot *sl = &e->slots[si];
	struct kclass *k = &e->kc[sl->kind];

	sl->bidx = -1;
	k->free[k->n_free++] = si;
}

/* ---- priority lists ---------------------------------------------------------------- */

static void plist_del(struct swap_engine *e, uint64_t b)
{
	struct ent *x = &e->ent[b];

	if (x->prev != NIL)
		e->ent[x->prev].next = x->next;
	else
		e->ph[x->prio] = x->next;
	if (x->next != NIL)
		e->ent[x->next].prev = x->prev;
	else
		e->pt[x->prio] = x->prev;
	x->prev = x->next = NIL;
	e->n_queued--;
}

static void plist_add(struct swap_engine *e, uint64_t b, int prio)
{
	struct ent *x = &e->ent[b];

	x->prio = (uint8_t)prio;
	x->next = NIL;
	x->prev = e->pt[prio];
	if (e->pt[prio] != NIL)
		e->ent[e->pt[prio]].next = (int32_t)b;
	else
		e->ph[prio] = (int32_t)b;
	e->pt[prio] = (int32_t)b;
	e->n_queued++;
}

/* ---- scheduler --------------------------------------------------------------------- */

static void complete_locked(struct swap_engine *e, uint32_t ri, int64_t res);

/* Start reads while the queue depth allows: the oldest bundle of the highest priority,
 * extended over queued neighbours in file order up to the maximum read size. */
static void dispatch(struct swap_engine *e)
{
	const struct swap_store *s = e->s;
	unsigned blocked = 0; /* kinds whose slots are all pinned or loading */

	while (!e->plugged && e->inflight < e->qd && e->n_queued) {
		int p;
		uint64_t b = 0, off0, off1, bb;
		struct swap_key k0 = { 0 }, start, end, nb;
		uint32_t n = 1, ri;
		int32_t si = NIL;
		struct rd *r;
		struct swap_extent x;
		int err;

		/* The oldest bundle of the highest class whose kind can get a slot; a kind
		 * with every slot pinned must not hold up the others' fetches. */
		for (p = 0; p < SWAP_PRIO_COUNT && si == NIL; p++) {
			int32_t c = e->ph[p];

			for (int scan = 0; c != NIL && scan < 256; scan++, c = e->ent[c].next) {
				struct swap_key kc = swap_key_of(s, (uint64_t)c);

				if (blocked & (1u << kc.kind))
					continue;
				si = slot_get(e, (int)kc.kind);
				if (si != NIL) {
					b = (uint64_t)c;
					k0 = kc;
					break;
				}
				blocked |= 1u << kc.kind;
				if (blocked == (1u << SWAP_KIND_COUNT) - 1)
					return;
			}
		}
		if (si == NIL)
			return; /* retried on unpin and on completion */
		p--; /* the loop stepped past the class it found b in */
		bb = s->bundle_bytes[k0.kind];
		plist_del(e, b);
		e->ent[b].slot = si;
		e->ent[b].state = ST_LOADING;
		e->slots[si].bidx = (int64_t)b;
		start = end = k0;
		off0 = swap_bundle_off(s, k0);
		off1 = off0 + bb;
		/* backwards */
		while (swap_file_prev(s, start, &nb)) {
			uint64_t nbi = swap_bidx(s, nb), o = swap_bundle_off(s, nb);

			if (e->ent[nbi].state != ST_QUEUED ||
			    swap_align_up(off1) - swap_align_down(o) > e->sb)
				break;
			si = slot_get(e, (int)k0.kind);
			if (si == NIL)
				break;
			plist_del(e, nbi);
			e->ent[nbi].slot = si;
			e->ent[nbi].state = ST_LOADING;
			e->slots[si].bidx = (int64_t)nbi;
			start = nb;
			off0 = o;
			n++;
		}
		while (swap_file_next(s, end, &nb)) {
			uint64_t nbi = swap_bidx(s, nb), o = swap_bundle_off(s, nb);

			if (e->ent[nbi].state != ST_QUEUED ||
			    swap_align_up(o + bb) - swap_align_down(off0) > e->sb)
				break;
			si = slot_get(e, (int)k0.kind);
			if (si == NIL)
				break;
			plist_del(e, nbi);
			e->ent[nbi].slot = si;
			e->ent[nbi].state = ST_LOADING;
			e->slots[si].bidx = (int64_t)nbi;
			end = nb;
			off1 = o + bb;
			n++;
		}
		ri = e->rd_free[--e->n_rd_free];
		r = &e->rds[ri];
		r->first = start;
		r->count = n;
		r->file_off = swap_align_down(off0);
		r->len = swap_align_up(off1) - r->file_off;
		r->tag = e->ent[b].tag;
		r->prio = p;
		r->t_submit = swap_now_ns();
		e->inflight++;
		/* Stats and probes: one read, its bytes split by layer (slack to the first). */
		e->ls[start.layer].reads++;
		DTRACE_PROBE4(activeswap, fetch_submit, r->tag, (int32_t)start.layer, r->len,
			      (int32_t)p);
		if (e->p.on_submit)
			e->p.on_submit(e->p.cb_arg, r->tag, start.layer, r->len, p);
		{
			uint32_t first = start.layer / s->d.group * s->d.group;
			uint64_t slack = r->len - (uint64_t)n * bb;
			struct swap_key k = start;

			/* A span never leaves its (group, kind) section. */
			memset(e->per, 0, sizeof(*e->per) * s->d.group);
			for (uint32_t i = 0; i < n; i++) {
				e->per[k.layer - first] += bb;
				swap_file_next(s, k, &k);
			}
			e->per[start.layer - first] += slack;
			for (uint32_t l = 0; l < s->d.group; l++) {
				uint64_t v = e->per[l];

				if (!v)
					continue;
				e->ls[first + l].bytes_read += v;
				DTRACE_PROBE2(activeswap, bundle_bytes, (int32_t)(first + l), v);
			}
		}
		x.file_off = r->file_off;
		x.len = r->len;
		x.region_off = (uint64_t)ri * e->sb;
		x.cookie = ri;
		x.prio = (uint32_t)p;
		err = e->bops->submit(e->be, &x, 1);
		if (err)
			complete_locked(e, ri, err);
	}
}

/*
 * Copy a finished read's bundles from its staging buffer into their slots and check
 * their crc32c, without the engine lock: LOADING bundles and their slots belong to the
 * read until complete_locked() publishes them (nobody evicts, cancels or frees them), so
 * compute threads are not held up by the copy. A bad checksum is left in ent.err.
 */
static void copy_out(struct swap_engine *e, const struct rd *r, const uint8_t *buf)
{
	const struct swap_store *s = e->s;
	uint64_t bb = s->bundle_bytes[r->first.kind];
	struct swap_key k = r->first;
	/* the read's bundles are neighbours in file order: back to back from the first */
	const uint8_t *src = buf + (swap_bundle_off(s, k) - r->file_off);

	for (uint32_t i = 0; i < r->count; i++, src += bb) {
		uint64_t b = swap_bidx(s, k);
		uint8_t *dst = slot_mem(e, e->ent[b].slot);

		memcpy(dst, src, bb);
		if ((e->p.flags & SWAP_F_VERIFY) && swap_crc32c(0, dst, bb) != s->crc[b])
			e->ent[b].err = -EBADMSG;
		swap_file_next(s, k, &k);
	}
}

/* Publish a finished (or failed) read: bundles become VALID, or ERROR with the slot
 * freed; the staging buffer and the queue slot are returned. */
static void complete_locked(struct swap_engine *e, uint32_t ri, int64_t res)
{
	const struct swap_store *s = e->s;
	struct rd *r = &e->rds[ri];
	struct swap_key k = r->first;
	int err = 0;

	DTRACE_PROBE5(activeswap, fetch_complete, r->tag, (int32_t)r->first.layer, r->len, res,
		      swap_now_ns() - r->t_submit);
	if (res < 0)
		err = (int)res;
	else if ((uint64_t)res != r->len)
		err = -EIO; /* short read: the bytes past res are not the file's */
	if (err)
		e->ls[r->first.layer].read_errors++;
	for (uint32_t i = 0; i < r->count; i++) {
		uint64_t b = swap_bidx(s, k);
		struct ent *x = &e->ent[b];
		int32_t si = x->slot;
		int berr = err ? err : x->err;

		if (berr) {
			slot_put(e, si);
			x->slot = NIL;
			x->state = ST_ERROR;
			x->err = (int16_t)berr;
		} else {
			x->state = ST_VALID;
			x->fresh = 1;
			e->n_valid++;
			settle(e, b);
		}
		swap_file_next(s, k, &k);
	}
	e->rd_free[e->n_rd_free++] = ri;
	e->inflight--;
	pthread_cond_broadcast(&e->cond);
}

static void on_complete(void *ctx, uint64_t cookie, int64_t res)
{
	struct swap_engine *e = ctx;
	struct rd *r = &e->rds[cookie];

	if (res >= 0 && (uint64_t)res == r->len)
		copy_out(e, r, e->staging + cookie * e->sb);
	pthread_mutex_lock(&e->lock);
	complete_locked(e, (uint32_t)cookie, res);
	dispatch(e);
	pthread_mutex_unlock(&e->lock);
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
	DTRACE_PROBE3(activeswap, cache_miss, (int32_t)k.layer, k.channel, (int32_t)k.kind);
	e->ent[b].state = ST_QUEUED;
	e->ent[b].err = 0;
	e->ent[b].tag = tag;
	plist_add(e, b, prio);
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
			DTRACE_PROBE3(activeswap, cache_miss, (int32_t)k.layer, k.channel,
				      (int32_t)k.kind);
			continue;
		}
		e->ls[k.layer].hits++;
		DTRACE_PROBE3(activeswap, cache_hit, (int32_t)k.layer, k.channel,
			      (int32_t)k.kind);
		if (x->state == ST_QUEUED) {
			x->tag = tag; /* the newer prediction owns it now */
			if (prio < x->prio) {
				plist_del(e, b);
				plist_add(e, b, prio);
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
		dispatch(e);
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
		settle(e, (uint64_t)sl->bidx);
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
					ptrs[i] = slot_mem(e, x->slot);
				} else {
					settle(e, b);
				}
				break;
			case ST_ERROR:
				ret = x->err ? x->err : -EIO;
				x->state = ST_ABSENT;
				x->err = 0;
				break;
			case ST_ABSENT:
				queue_miss(e, b, keys[i], SWAP_PRIO_DEMAND, 0);
				break;
			case ST_QUEUED:
				if (x->prio != SWAP_PRIO_DEMAND) {
					plist_del(e, b);
					plist_add(e, b, SWAP_PRIO_DEMAND);
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
		dispatch(e);
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
		DTRACE_PROBE2(activeswap, stall, stall_layer, st);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t b = swap_bidx(e->s, keys[i]);

		if (done[i])
			continue;
		e->ent[b].waiters--;
		settle(e, b);
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
	uint64_t per[SWAP_KIND_COUNT] = { 0 };

	for (size_t i = 0; i < n; i++)
		per[keys[i].kind]++;
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
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
	dispatch(e);
	pthread_mutex_unlock(&e->lock);
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
			p = slot_mem(e, x->slot);
		}
	}
	pthread_mutex_unlock(&e->lock);
	return p;
}

void swap_unpin(struct swap_engine *e, struct swap_key key)
{
	swap_release(e, &key, 1);
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
				plist_del(e, (uint64_t)b);
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
	uint64_t per[SWAP_KIND_COUNT] = { 0 };
	const void **ptrs;
	int r = 0;

	if (!e->pol->static_set)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	r = check_keys(e, keys, n);
	for (size_t i = 0; i < n && !r; i++)
		per[keys[i].kind]++;
	for (int k = 0; k < SWAP_KIND_COUNT && !r; k++) {
		uint64_t need = (uint64_t)e->s->d.group * e->s->d.kinds[k].in;

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
	dispatch(e);
	pthread_mutex_unlock(&e->lock);
}

void swap_token_begin(struct swap_engine *e, uint64_t token)
{
	pthread_mutex_lock(&e->lock);
	e->token = token;
	e->token_stall = 0;
	if (e->pol->token)
		e->pol->token(e->ps);
	pthread_mutex_unlock(&e->lock);
	DTRACE_PROBE1(activeswap, token_begin, token);
}

void swap_token_end(struct swap_engine *e)
{
	uint64_t t, st;

	pthread_mutex_lock(&e->lock);
	t = e->token;
	st = e->token_stall;
	pthread_mutex_unlock(&e->lock);
	DTRACE_PROBE2(activeswap, token_end, t, st);
}

void swap_layer_begin(struct swap_engine *e, uint32_t layer)
{
	uint64_t t;

	pthread_mutex_lock(&e->lock);
	t = e->token;
	pthread_mutex_unlock(&e->lock);
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
	o->staging_bytes = (uint64_t)e->qd * e->sb;
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
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

/* ---- creation ---------------------------------------------------------------------- */

static void fill_defaults(struct swap_engine_params *p)
{
	if (!p->queue_depth)
		p->queue_depth = 32;
	if (!p->max_read_bytes)
		p->max_read_bytes = 256u << 10;
	if (!(p->freq_decay > 0.0f && p->freq_decay <= 1.0f))
		p->freq_decay = 0.9f;
}

static uint64_t staging_buf(const struct swap_store *s, const struct swap_engine_params *p)
{
	uint64_t sb = swap_align_up(p->max_read_bytes);

	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		uint64_t one = swap_align_up(s->bundle_bytes[k]) + SWAP_ALIGN;

		if (sb < one)
			sb = one;
	}
	return sb;
}

static uint64_t slot_size(const struct swap_store *s, int k)
{
	return (s->bundle_bytes[k] + SLOT_ALIGN - 1) & ~(uint64_t)(SLOT_ALIGN - 1);
}

uint64_t swap_engine_min_budget(const struct swap_store *s,
				const struct swap_engine_params *pin)
{
	struct swap_engine_params p = { 0 };
	uint64_t t, page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (pin)
		p = *pin;
	fill_defaults(&p);
	t = staging_buf(s, &p) * p.queue_depth;
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		t += (uint64_t)s->d.group * s->d.kinds[k].in * slot_size(s, k) + SLOT_ALIGN;
	return (t + page - 1) & ~(page - 1);
}

static void engine_free(struct swap_engine *e)
{
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		free(e->kc[k].free);
	if (e->ps)
		e->pol->destroy(e->ps);
	free(e->slots);
	free(e->ent);
	free(e->ls);
	free(e->per);
	free(e->rds);
	free(e->rd_free);
	swap_pool_destroy(&e->pool);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e);
}

int swap_engine_create(struct swap_engine **out, struct swap_store *s,
		       const struct swap_engine_params *pin, char *err, size_t errlen)
{
	struct swap_engine *e;
	struct swap_backend_cfg cfg;
	uint64_t minb, staging, usable, need_min = 0, want_all = 0, extra, wsum = 0;
	uint64_t w[SWAP_KIND_COUNT], nk[SWAP_KIND_COUNT];
	uint8_t *mem;
	int r;

	*out = NULL;
	if (s->n_bundles > INT32_MAX) {
		swap_seterr(err, errlen, "store has too many bundles for this engine");
		return -EOVERFLOW;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	e->s = s;
	if (pin) {
		e->p = *pin;
	} else {
		e->p.numa_node = -1;
		e->p.budget_bytes = 0;
	}
	fill_defaults(&e->p);
	if (e->p.queue_depth > 4096 || e->p.max_read_bytes > (64u << 20) ||
	    (unsigned)e->p.policy >= N_POLICIES ||
	    (unsigned)e->p.backend > SWAP_BACKEND_KMOD) {
		swap_seterr(err, errlen, "bad engine parameters (queue depth <= 4096, max read "
			    "<= 64 MiB, known policy and backend)");
		engine_free(e);
		return -EINVAL;
	}
	e->pol = policies[e->p.policy];
	e->qd = e->p.queue_depth;
	e->sb = staging_buf(s, &e->p);
	staging = e->sb * e->qd;
	minb = swap_engine_min_budget(s, &e->p);
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		need_min += (uint64_t)s->d.group * s->d.kinds[k].in * slot_size(s, k);
		want_all += (uint64_t)s->d.n_layers * s->d.kinds[k].in * slot_size(s, k) +
			    SLOT_ALIGN;
	}
	if (!e->p.budget_bytes)
		e->p.budget_bytes = staging + want_all + (uint64_t)sysconf(_SC_PAGESIZE);
	if (e->p.budget_bytes < minb) {
		swap_seterr(err, errlen, "DRAM budget %llu bytes is smaller than one layer group "
			    "(group %u needs at least %llu bytes: %llu of slots + %llu of "
			    "read buffers)", (unsigned long long)e->p.budget_bytes, s->d.group,
			    (unsigned long long)minb, (unsigned long long)need_min,
			    (unsigned long long)staging);
		engine_free(e);
		return -ENOSPC;
	}
	/* The backend choice, made once: kmod (explicit, or auto with a usable
	 * /dev/activeswap) needs the pool to be the module's region; otherwise io_uring,
	 * else pread (at backend start). */
	r = -ENODEV;
	if (e->p.backend == SWAP_BACKEND_KMOD ||
	    (e->p.backend == SWAP_BACKEND_AUTO && !swap_kmod_unavailable()))
		r = swap_kmod_pool_create(&e->pool, e->p.budget_bytes, e->p.numa_node,
					  e->p.flags, err, errlen);
	if (r && e->p.backend != SWAP_BACKEND_KMOD)
		r = swap_pool_create(&e->pool, e->p.budget_bytes, e->p.numa_node, e->p.flags,
				     err, errlen);
	if (r) {
		engine_free(e);
		return r;
	}
	/* Carve: staging buffers first (4 KiB aligned), then one slot class per kind. */
	e->staging = e->pool.base;
	usable = e->pool.size - staging - SWAP_KIND_COUNT * SLOT_ALIGN;
	extra = usable - need_min;
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		w[k] = (uint64_t)(s->d.n_layers - s->d.group) * s->d.kinds[k].in * slot_size(s, k);
		wsum += w[k];
	}
	mem = e->staging + staging;
	{
		bool ordered = false;

		for (int k = 1; k < SWAP_KIND_COUNT; k++)
			ordered |= e->p.kind_prio[k] != e->p.kind_prio[0];
		for (int k = 0; k < SWAP_KIND_COUNT; k++)
			nk[k] = (uint64_t)s->d.group * s->d.kinds[k].in;
		if (!ordered) {
			for (int k = 0; k < SWAP_KIND_COUNT && wsum; k++)
				nk[k] += (uint64_t)((long double)extra * w[k] / wsum) / slot_size(s, k);
		} else {
			/* highest priority first (ties: lower kind first), each up to all */
			uint64_t left = extra;

			for (int pr = 255; pr >= 0; pr--) {
				for (int k = 0; k < SWAP_KIND_COUNT; k++) {
					uint64_t add;

					if (e->p.kind_prio[k] != pr)
						continue;
					add = left / slot_size(s, k);
					if (add > w[k] / slot_size(s, k))
						add = w[k] / slot_size(s, k);
					nk[k] += add;
					left -= add * slot_size(s, k);
				}
			}
		}
	}
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		struct kclass *kc = &e->kc[k];
		uint64_t all = (uint64_t)s->d.n_layers * s->d.kinds[k].in;
		uint64_t n = nk[k];

		if (n > all)
			n = all;
		kc->base = e->n_slots;
		kc->n = n;
		kc->size = slot_size(s, k);
		mem = (uint8_t *)(((uintptr_t)mem + SLOT_ALIGN - 1) & ~(uintptr_t)(SLOT_ALIGN - 1));
		kc->mem = mem;
		mem += n * kc->size;
		e->n_slots += n;
	}
	if ((uint64_t)(mem - (uint8_t *)e->pool.base) > e->pool.size || e->n_slots > INT32_MAX) {
		swap_seterr(err, errlen, "internal error: slot carving exceeds the pool");
		engine_free(e);
		return -EOVERFLOW;
	}
	e->slots = calloc(e->n_slots, sizeof(*e->slots));
	e->ent = calloc(s->n_bundles, sizeof(*e->ent));
	e->ls = calloc(s->d.n_layers, sizeof(*e->ls));
	e->per = calloc(s->d.group, sizeof(*e->per));
	e->rds = calloc(e->qd, sizeof(*e->rds));
	e->rd_free = calloc(e->qd, sizeof(*e->rd_free));
	{
		struct swap_policy_cfg pc = { .n_slots = e->n_slots, .n_bundles = s->n_bundles,
					      .freq_decay = e->p.freq_decay };

		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			pc.kind_base[k] = e->kc[k].base;
			pc.kind_n[k] = e->kc[k].n;
		}
		r = e->pol->create(&e->ps, &pc);
	}
	if (r || !e->slots || !e->ent || !e->ls || !e->per || !e->rds || !e->rd_free) {
		swap_seterr(err, errlen, "out of memory for engine tables");
		engine_free(e);
		return -ENOMEM;
	}
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		struct kclass *kc = &e->kc[k];

		kc->free = calloc(kc->n + 1, sizeof(*kc->free));
		if (!kc->free) {
			engine_free(e);
			return -ENOMEM;
		}
		for (uint64_t i = 0; i < kc->n; i++) {
			int32_t si = (int32_t)(kc->base + kc->n - 1 - i);

			e->slots[si].bidx = -1;
			e->slots[si].kind = (uint8_t)k;
			kc->free[kc->n_free++] = si;
		}
	}
	for (uint64_t b = 0; b < s->n_bundles; b++) {
		e->ent[b].slot = NIL;
		e->ent[b].prev = e->ent[b].next = NIL;
	}
	for (int p = 0; p < SWAP_PRIO_COUNT; p++)
		e->ph[p] = e->pt[p] = NIL;
	for (uint32_t i = 0; i < e->qd; i++)
		e->rd_free[e->n_rd_free++] = e->qd - 1 - i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.path = s->path;
	cfg.region = e->staging;
	cfg.region_len = staging;
	cfg.queue_depth = e->qd;
	cfg.threads = e->p.pread_threads;
	cfg.complete = on_complete;
	cfg.ctx = e;
	cfg.dev_fd = e->pool.kmod ? e->pool.dev_fd : -1;
	cfg.dev_base = e->pool.kmod ? e->pool.base : NULL;
	r = -EINVAL;
	if (e->pool.kmod) {
		e->bops = &swap_backend_kmod_ops;
		r = e->bops->start(&e->be, &cfg, err, errlen);
	}
	if (e->pool.kmod && !(r && e->p.backend == SWAP_BACKEND_AUTO)) {
		/* kmod started, or an explicit kmod failed */
	} else if (e->p.backend == SWAP_BACKEND_AUTO || e->p.backend == SWAP_BACKEND_URING) {
		/* auto: also when the module cannot serve this store; the other backends
		 * read into the region's mapping like into any memory */
		e->bops = &swap_backend_uring_ops;
		r = e->bops->start(&e->be, &cfg, err, errlen);
		if (r && e->p.backend == SWAP_BACKEND_AUTO) {
			e->bops = &swap_backend_pread_ops;
			r = e->bops->start(&e->be, &cfg, err, errlen);
		}
	} else if (e->p.backend == SWAP_BACKEND_PREAD || e->p.backend == SWAP_BACKEND_FAULT) {
		cfg.fault = e->p.fault;
		cfg.fault_on = e->p.backend == SWAP_BACKEND_FAULT;
		e->bops = &swap_backend_pread_ops;
		r = e->bops->start(&e->be, &cfg, err, errlen);
	}
	if (r) {
		engine_free(e);
		return r;
	}
	*out = e;
	return 0;
}

void swap_engine_destroy(struct swap_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->plugged = false;
	for (int p = 0; p < SWAP_PRIO_COUNT; p++) {
		while (e->ph[p] != NIL) {
			int32_t b = e->ph[p];

			plist_del(e, (uint64_t)b);
			e->ent[b].state = ST_ABSENT;
		}
	}
	while (e->inflight)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
	e->bops->stop(e->be);
	engine_free(e);
}

const char *swap_engine_backend_name(const struct swap_engine *e)
{
	if (e->p.backend == SWAP_BACKEND_FAULT)
		return "fault";
	return e->bops->name;
}

const char *swap_engine_policy_name(const struct swap_engine *e)
{
	return e->pol->name;
}

int swap_backend_from_name(const char *name)
{
	static const char *const n[] = { "auto", "uring", "pread", "fault", "kmod" };

	if (!strcasecmp(name, "io_uring"))
		return SWAP_BACKEND_URING;
	for (int i = 0; i < 5; i++)
		if (!strcasecmp(name, n[i]))
			return i;
	return -EINVAL;
}

int swap_policy_from_name(const char *name)
{
	for (unsigned i = 0; i < N_POLICIES; i++)
		if (policies[i] && !strcasecmp(name, policies[i]->name))
			return (int)i;
	return -EINVAL;
}

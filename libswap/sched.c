// SPDX-License-Identifier: MIT
/*
 * The fetch scheduler: bundles wait in one FIFO list per priority class; dispatch turns
 * the oldest of the highest class into a read grown over queued neighbours in file order
 * (coalescing), within the queue depth; completions copy the bundles out of the staging
 * buffer and publish them (engine_int.h for the engine's state and locking).
 */
#include <errno.h>
#include <string.h>
#include <sys/sdt.h>

#include "engine_int.h"

/* ---- priority lists ---------------------------------------------------------------- */

void swap_plist_del(struct swap_engine *e, uint64_t b)
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

void swap_plist_add(struct swap_engine *e, uint64_t b, int prio)
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
void swap_dispatch(struct swap_engine *e)
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
				si = swap_slot_get(e, (int)kc.kind);
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
		swap_plist_del(e, b);
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
			si = swap_slot_get(e, (int)k0.kind);
			if (si == NIL)
				break;
			swap_plist_del(e, nbi);
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
			si = swap_slot_get(e, (int)k0.kind);
			if (si == NIL)
				break;
			swap_plist_del(e, nbi);
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
		if (SWAP_PROBES_ON(e))
			DTRACE_PROBE4(activeswap, fetch_submit, r->tag, (int32_t)start.layer,
				      r->len, (int32_t)p);
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
				if (SWAP_PROBES_ON(e))
					DTRACE_PROBE2(activeswap, bundle_bytes,
						      (int32_t)(first + l), v);
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
		uint8_t *dst = swap_slot_mem(e, e->ent[b].slot);

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

	if (SWAP_PROBES_ON(e))
		DTRACE_PROBE5(activeswap, fetch_complete, r->tag, (int32_t)r->first.layer,
			      r->len, res, swap_now_ns() - r->t_submit);
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
			swap_slot_put(e, si);
			x->slot = NIL;
			x->state = ST_ERROR;
			x->err = (int16_t)berr;
		} else {
			x->state = ST_VALID;
			x->fresh = 1;
			e->n_valid++;
			swap_settle(e, b);
		}
		swap_file_next(s, k, &k);
	}
	e->rd_free[e->n_rd_free++] = ri;
	e->inflight--;
	pthread_cond_broadcast(&e->cond);
}

void swap_on_complete(void *ctx, uint64_t cookie, int64_t res)
{
	struct swap_engine *e = ctx;
	struct rd *r = &e->rds[cookie];

	if (res >= 0 && (uint64_t)res == r->len)
		copy_out(e, r, e->staging + cookie * e->sb);
	pthread_mutex_lock(&e->lock);
	complete_locked(e, (uint32_t)cookie, res);
	swap_dispatch(e);
	pthread_mutex_unlock(&e->lock);
}

// SPDX-License-Identifier: MIT
/*
 * The fetch scheduler: bundles wait in one FIFO list per priority class; dispatch turns
 * the oldest of the highest class into a read grown over queued neighbours in file order
 * (coalescing), within the queue depth; completions copy the bundles out of the staging
 * buffer and publish them (engine_int.h for the engine's state and locking).
 */
#include <errno.h>
#include <stdlib.h>
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

/* Submit read ri (first, count, file_off, len, piece_off, tag and prio set): statistics
 * and probes (one read, its bytes split by layer, slack to the first), the backend. */
static void issue(struct swap_engine *e, uint32_t ri)
{
	const struct swap_store *s = e->s;
	struct rd *r = &e->rds[ri];
	struct swap_key start = r->first;
	uint32_t first = start.layer / s->d.group * s->d.group;
	struct swap_extent x;
	int err;

	r->t_submit = swap_now_ns();
	e->inflight++;
	e->ls[start.layer].reads++;
	if (SWAP_PROBES_ON(e))
		DTRACE_PROBE4(activeswap, fetch_submit, r->tag, (int32_t)start.layer, r->len,
			      (int32_t)r->prio);
	if (e->p.on_submit)
		e->p.on_submit(e->p.cb_arg, r->tag, start.layer, r->len, r->prio);
	memset(e->per, 0, sizeof(*e->per) * s->d.group);
	if (r->count) {
		uint64_t bb = s->bundle_bytes[start.kind];
		struct swap_key k = start;

		/* A span never leaves its (group, kind) section. */
		for (uint32_t i = 0; i < r->count; i++) {
			e->per[k.layer - first] += bb;
			swap_file_next(s, k, &k);
		}
		e->per[start.layer - first] += r->len - (uint64_t)r->count * bb;
	} else {
		e->per[start.layer - first] = r->len; /* a piece */
	}
	for (uint32_t l = 0; l < s->d.group; l++) {
		uint64_t v = e->per[l];

		if (!v)
			continue;
		e->ls[first + l].bytes_read += v;
		if (SWAP_PROBES_ON(e))
			DTRACE_PROBE2(activeswap, bundle_bytes, (int32_t)(first + l), v);
	}
	x.file_off = r->file_off;
	x.len = r->len;
	x.region_off = (uint64_t)ri * e->sb;
	x.cookie = ri;
	x.prio = (uint32_t)r->prio;
	err = e->bops->submit(e->be, &x, 1);
	if (err)
		complete_locked(e, ri, err);
}

/* The next piece of the bundle read in pieces (e->pc_b): the next staging buffer's worth
 * of its 4 KiB aligned span. */
static void issue_piece(struct swap_engine *e)
{
	const struct swap_store *s = e->s;
	uint64_t b = (uint64_t)e->pc_b;
	struct swap_key k = swap_key_of(s, b);
	uint64_t off = swap_bundle_off(s, k);
	uint64_t end = swap_align_up(off + s->bundle_bytes[k.kind]);
	uint32_t ri = e->rd_free[--e->n_rd_free];
	struct rd *r = &e->rds[ri];

	r->first = k;
	r->count = 0;
	r->job = NULL;
	r->file_off = e->pc_next;
	r->len = end - r->file_off < e->sb ? end - r->file_off : e->sb;
	r->piece_off = r->file_off > off ? r->file_off - off : 0;
	r->tag = e->ent[b].tag;
	r->prio = e->pc_prio;
	e->pc_next += r->len;
	if (e->pc_next >= end)
		e->pc_b = NIL;
	issue(e, ri);
}

/* File range of part i of job j. */
static uint64_t part_lo(const struct pjob *j, size_t i) { return j->boff + j->parts[i].off; }
static uint64_t part_hi(const struct pjob *j, size_t i)
{
	return part_lo(j, i) + j->parts[i].len;
}

/*
 * The next read of the oldest job with parts left: from its next byte, the 4 KiB aligned
 * span over as many of its next parts as fit a staging buffer while their aligned spans
 * touch (so no read carries a gap of unwanted blocks); a part longer than a buffer is
 * read in buffer-sized pieces. The job leaves the list with its last read.
 */
static void issue_job(struct swap_engine *e)
{
	struct pjob *j = e->jobs;
	uint32_t ri = e->rd_free[--e->n_rd_free];
	struct rd *r = &e->rds[ri];
	uint64_t lo = swap_align_down(part_lo(j, j->part) + j->done), hi;

	r->first = j->key;
	r->count = 0;
	r->job = j;
	r->p0 = j->part;
	hi = swap_align_up(part_hi(j, j->part));
	if (hi - lo > e->sb) { /* a piece of the part */
		hi = lo + e->sb;
		j->done = hi - part_lo(j, j->part);
	} else {
		j->part++;
		j->done = 0;
		while (j->part < j->n && swap_align_down(part_lo(j, j->part)) <= hi &&
		       swap_align_up(part_hi(j, j->part)) - lo <= e->sb)
			hi = swap_align_up(part_hi(j, j->part++));
	}
	r->p1 = j->part < j->n && j->done ? j->part : j->part - 1;
	r->file_off = lo;
	r->len = hi - lo;
	r->piece_off = 0;
	r->tag = 0;
	r->prio = SWAP_PRIO_DEMAND;
	j->pending++;
	if (j->part >= j->n)
		e->jobs = j->next;
	issue(e, ri);
}

/* Start reads while the queue depth allows: swap_read_parts' reads first, then the
 * oldest bundle of the highest priority, extended over queued neighbours in file order
 * up to the maximum read size. */
void swap_dispatch(struct swap_engine *e)
{
	const struct swap_store *s = e->s;
	unsigned blocked = 0; /* kinds whose slots are all pinned or loading */

	while (!e->plugged && e->inflight < e->qd &&
	       (e->n_queued || e->pc_b != NIL || e->jobs)) {
		int p;
		uint64_t b = 0, off0, off1, bb;
		struct swap_key k0 = { 0 }, start, end, nb;
		uint32_t n = 1, ri;
		int32_t si = NIL;
		struct rd *r;

		if (e->jobs) {
			issue_job(e);
			continue;
		}
		if (e->pc_b != NIL) {
			issue_piece(e);
			continue;
		}
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
				if (blocked == (1u << s->n_kinds) - 1)
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
		if (swap_align_up(off1) - swap_align_down(off0) > e->sb) {
			/* too big for one staging buffer: its pieces go next */
			e->pc_b = (int64_t)b;
			e->pc_next = swap_align_down(off0);
			e->pc_prio = p;
			e->ent[b].pieces = (uint32_t)((swap_align_up(off1) - e->pc_next +
						       e->sb - 1) / e->sb);
			continue;
		}
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
		r->job = NULL;
		r->file_off = swap_align_down(off0);
		r->len = swap_align_up(off1) - r->file_off;
		r->piece_off = 0;
		r->tag = e->ent[b].tag;
		r->prio = p;
		issue(e, ri);
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
	uint64_t off = swap_bundle_off(s, k);
	/* the read's bundles are neighbours in file order: back to back from the first */
	const uint8_t *src = buf + (off > r->file_off ? off - r->file_off : 0);

	if (r->job) { /* the read's share of each of its parts */
		const struct pjob *j = r->job;

		for (size_t i = r->p0; i <= r->p1; i++) {
			uint64_t a = part_lo(j, i), z = part_hi(j, i);
			uint64_t s0 = a > r->file_off ? a : r->file_off;
			uint64_t s1 = z < r->file_off + r->len ? z : r->file_off + r->len;

			if (s0 < s1)
				memcpy(j->dst + j->parts[i].dst_off + (s0 - a),
				       buf + (s0 - r->file_off), s1 - s0);
		}
		return;
	}
	if (!r->count) { /* a piece: its part of the bundle (checked when all are in) */
		uint64_t lo = off > r->file_off ? off : r->file_off;
		uint64_t hi = r->file_off + r->len < off + bb ? r->file_off + r->len : off + bb;

		memcpy(swap_slot_mem(e, e->ent[swap_bidx(s, k)].slot) + r->piece_off, src,
		       hi - lo);
		return;
	}

	for (uint32_t i = 0; i < r->count; i++, src += bb) {
		uint64_t b = swap_bidx(s, k);
		uint8_t *dst = swap_slot_mem(e, e->ent[b].slot);

		memcpy(dst, src, bb);
		if ((e->p.flags & SWAP_F_VERIFY) && swap_crc32c(0, dst, bb) != s->crc[b])
			e->ent[b].err = -EBADMSG;
		swap_file_next(s, k, &k);
	}
}

/* Bundle b's read is over: VALID, or ERROR (berr) with its slot freed. */
static void publish(struct swap_engine *e, uint64_t b, int berr)
{
	struct ent *x = &e->ent[b];

	if (berr) {
		swap_slot_put(e, x->slot);
		x->slot = NIL;
		x->state = ST_ERROR;
		x->err = (int16_t)berr;
	} else {
		x->state = ST_VALID;
		x->fresh = 1;
		e->n_valid++;
		swap_settle(e, b);
	}
}

/* Publish a finished (or failed) read: its bundles (or, with its last piece, its bundle)
 * become VALID or ERROR; the staging buffer and the queue slot are returned. */
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
	if (r->job) {
		if (err && !r->job->err)
			r->job->err = err;
		r->job->pending--;
	} else if (!r->count) { /* a piece: the bundle is published with its last piece */
		uint64_t b = swap_bidx(s, k);
		struct ent *x = &e->ent[b];

		if (err && !x->err)
			x->err = (int16_t)err;
		if (--x->pieces == 0) {
			if (!x->err && (e->p.flags & SWAP_F_VERIFY) &&
			    swap_crc32c(0, swap_slot_mem(e, x->slot), s->bundle_bytes[k.kind]) !=
			    s->crc[b])
				x->err = -EBADMSG;
			publish(e, b, x->err);
		}
	}
	for (uint32_t i = 0; i < r->count; i++) {
		uint64_t b = swap_bidx(s, k);

		publish(e, b, err ? err : e->ent[b].err);
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

int swap_read_parts_start(struct swap_engine *e, struct swap_key key,
			  const struct swap_part *parts, size_t n, void *dst, struct swap_read **out)
{
	const struct swap_store *s = e->s;
	struct pjob *j;
	uint64_t bb, want = 0;

	*out = NULL;
	if (!swap_key_ok(s, key) || !n || !parts || !dst)
		return -EINVAL;
	bb = s->bundle_bytes[key.kind];
	for (size_t i = 0; i < n; i++) {
		uint64_t end;

		if (!parts[i].len || __builtin_add_overflow(parts[i].off, parts[i].len, &end) ||
		    end > bb || (i && parts[i].off < parts[i - 1].off + parts[i - 1].len))
			return -EINVAL;
		want += parts[i].len;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	*j = (struct pjob){ .key = key, .parts = parts, .n = n, .dst = dst, .want = want,
			    .boff = swap_bundle_off(s, key) };
	pthread_mutex_lock(&e->lock);
	if (e->plugged) {
		pthread_mutex_unlock(&e->lock);
		free(j);
		return -EBUSY;
	}
	if (!e->jobs) {
		e->jobs = j;
	} else {
		struct pjob *t = e->jobs;

		while (t->next)
			t = t->next;
		t->next = j;
	}
	swap_dispatch(e);
	pthread_mutex_unlock(&e->lock);
	*out = (struct swap_read *)j;
	return 0;
}

int swap_read_parts_wait(struct swap_engine *e, struct swap_read *rd)
{
	struct pjob *j = (struct pjob *)rd;
	uint64_t t0 = 0;
	int r;

	if (!j)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	while (j->part < j->n || j->pending) {
		if (!t0)
			t0 = swap_now_ns();
		pthread_cond_wait(&e->cond, &e->lock);
	}
	if (t0) {
		t0 = swap_now_ns() - t0;
		e->ls[j->key.layer].stall_ns += t0;
		e->token_stall += t0;
		if (SWAP_PROBES_ON(e))
			DTRACE_PROBE2(activeswap, stall, (int32_t)j->key.layer, t0);
	}
	r = j->err;
	if (r) {
		e->err_key = j->key;
		e->err_code = r;
	} else {
		e->ls[j->key.layer].bytes_used += j->want; /* the rest was alignment */
	}
	pthread_mutex_unlock(&e->lock);
	free(j);
	return r;
}

int swap_read_parts(struct swap_engine *e, struct swap_key key, const struct swap_part *parts,
		    size_t n, void *dst)
{
	struct swap_read *rd;
	int r;

	if (!n && swap_key_ok(e->s, key))
		return 0;
	r = swap_read_parts_start(e, key, parts, n, dst, &rd);
	return r ? r : swap_read_parts_wait(e, rd);
}

/* SPDX-License-Identifier: MIT */
/*
 * The swap engine's state, shared by its files (not installed):
 *   engine.c         the cache: slots, bundle states, requests, waits, pins, statistics
 *   sched.c          the fetch scheduler: priority lists, coalescing, completions
 *   engine_create.c  creation (pool carving, slot split, policy and backend), teardown
 * and the eviction policies behind struct swap_policy_ops (policy_*.c, swap_int.h).
 *
 * One mutex protects all engine state; compute threads take it in request/wait/pin and
 * the backend's completion thread in swap_on_complete. Reads land in a staging buffer
 * (the 4 KiB aligned span covering a run of adjacent bundles) and are copied into the
 * slots, so slot sizes need no O_DIRECT alignment (see Documentation/libswap.md). A
 * bundle larger than a staging buffer (a Mixtral-8x7B expert) is read in pieces, each
 * copied to its place in the slot; the bundle is VALID when the last piece is in.
 *
 * Bundle states: ABSENT -> QUEUED (in a priority list, no slot) -> LOADING (slot taken,
 * read in flight) -> VALID (slot holds verified bytes) -> ABSENT when evicted. A failed
 * read turns its bundles to ERROR (slot freed) until a waiter collects the error (requests
 * do not retry them before that); the next request or wait fetches them again.
 */
#ifndef LIBSWAP_ENGINE_INT_H
#define LIBSWAP_ENGINE_INT_H

#include <pthread.h>

#include "swap_int.h"

/* USDT probes fire unless the engine was made with SWAP_F_NO_PROBES. */
#define SWAP_PROBES_ON(e) (!((e)->p.flags & SWAP_F_NO_PROBES))

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
	uint32_t pieces;  /* a bundle read in pieces: pieces not completed yet */
	uint64_t tag;
};

struct slot {
	int64_t bidx; /* bundle held, -1 when free */
	uint32_t pin;
	uint8_t kind;
	uint8_t evictable; /* in the policy's structure */
	uint8_t is_static;
};

/* A partial read (swap_read_parts_start .. _wait; struct swap_read to callers), in the
 * engine's job list until all its reads are issued: the next byte to read is part
 * `part`, `done` bytes in; `boff` is the bundle's file offset, `want` the parts' bytes. */
struct pjob {
	struct pjob *next;
	struct swap_key key;
	const struct swap_part *parts;
	size_t n, part;
	uint64_t done, boff, want;
	uint8_t *dst;
	uint32_t pending; /* reads in flight */
	int err;
};

struct rd {
	struct swap_key first;
	uint32_t count;   /* bundles, or 0: one piece of bundle `first` (or of a job's) */
	struct pjob *job; /* a swap_read_parts read: its parts p0..p1 (no slot) */
	size_t p0, p1;
	uint64_t file_off, len;
	uint64_t piece_off; /* a piece: where its bytes go in the bundle */
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
	/* per kind: the policy ranking its slots and that policy's instance (one instance
	 * per policy in use, in inst[], shared by the kinds it ranks) */
	const struct swap_policy_ops *pol[SWAP_KIND_MAX];
	struct swap_policy *ps[SWAP_KIND_MAX];
	struct swap_policy *inst[SWAP_N_POLICIES];
	const struct swap_policy_ops *pol_of[SWAP_N_POLICIES];
	struct slot *slots;
	uint64_t n_slots;
	struct kclass kc[SWAP_KIND_MAX];
	int32_t ph[SWAP_PRIO_COUNT], pt[SWAP_PRIO_COUNT];
	uint64_t n_queued;
	struct swap_layer_stats *ls;
	uint64_t *per; /* scratch: bytes per layer of one read */
	const struct swap_backend_ops *bops;
	struct swap_backend *be;
	uint64_t token, token_stall;
	uint64_t n_pinned, n_valid;
	bool plugged;
	/* A bundle larger than a staging buffer is read in pieces, straight after it took
	 * its slot: pc_b (NIL when none) and the file offset of its next piece. */
	int64_t pc_b;
	uint64_t pc_next;
	int pc_prio;
	struct pjob *jobs; /* swap_read_parts calls with parts still to read, oldest first */
	struct swap_key err_key; /* the key of the last error swap_wait/acquire returned */
	int err_code;
};

static inline uint8_t *swap_slot_mem(struct swap_engine *e, int32_t si)
{
	struct kclass *k = &e->kc[e->slots[si].kind];

	return k->mem + ((uint64_t)si - k->base) * k->size;
}

/* engine.c, under the lock */
/* A free slot of the kind, else the policy's victim evicted; -1 when no slot of the kind
 * is free or evictable (all pinned, loading, static or still to be collected). */
int32_t swap_slot_get(struct swap_engine *e, int kind);
void swap_slot_put(struct swap_engine *e, int32_t si);
/* Make bundle b's slot evictable if it is VALID, unpinned and nobody waits for it. */
void swap_settle(struct swap_engine *e, uint64_t b);

/* sched.c, under the lock (but swap_on_complete) */
void swap_plist_add(struct swap_engine *e, uint64_t b, int prio);
void swap_plist_del(struct swap_engine *e, uint64_t b);
/* Start reads while the queue depth allows (not while plugged). */
void swap_dispatch(struct swap_engine *e);
/* The backends' completion callback (cfg.complete); takes the lock. */
void swap_on_complete(void *ctx, uint64_t cookie, int64_t res);

#endif

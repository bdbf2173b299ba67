// SPDX-License-Identifier: MIT
/*
 * Creating and destroying a swap engine: parameter defaults and checks, the DRAM pool
 * (anonymous or the kernel module's region) cut into staging buffers and one slot class
 * per kind, the eviction policy and the backend; and the policy and backend names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine_int.h"

/* The eviction policies (struct swap_policy_ops in swap_int.h), by enum swap_policy_kind. */
static const struct swap_policy_ops *const policies[] = {
	[SWAP_POLICY_FREQ] = &swap_policy_freq_ops,
	[SWAP_POLICY_LRU] = &swap_policy_lru_ops,
	[SWAP_POLICY_STATIC] = &swap_policy_static_ops,
};
#define N_POLICIES (sizeof(policies) / sizeof(policies[0]))
_Static_assert(N_POLICIES == SWAP_N_POLICIES, "SWAP_N_POLICIES counts policies[]");

static void fill_defaults(struct swap_engine_params *p)
{
	if (!p->queue_depth)
		p->queue_depth = 32;
	if (!p->max_read_bytes)
		p->max_read_bytes = 256u << 10;
	if (!(p->freq_decay > 0.0f && p->freq_decay <= 1.0f))
		p->freq_decay = 0.9f;
}

/* The policy ranking kind k's slots. */
static enum swap_policy_kind kind_policy(const struct swap_engine_params *p, int k)
{
	return (p->own_policy >> k) & 1 ? p->kind_policy[k] : p->policy;
}

static bool bad_kind_policy(const struct swap_store *s, const struct swap_engine_params *p)
{
	/* a policy only for a kind the store has; skipping an absent kind is harmless */
	if (p->own_policy >> s->n_kinds || p->skip_kinds >> SWAP_KIND_MAX)
		return true;
	for (int k = 0; k < SWAP_KIND_MAX; k++)
		if ((unsigned)kind_policy(p, k) >= N_POLICIES)
			return true;
	return false;
}

/* One instance per policy in use, shared by the kinds it ranks (every instance sees the
 * whole slot and bundle ranges; it is only ever given its own kinds). */
static int make_policies(struct swap_engine *e, const struct swap_policy_cfg *pc)
{
	for (int k = 0; k < (int)e->s->n_kinds; k++) {
		enum swap_policy_kind pk = kind_policy(&e->p, k);

		if (!e->inst[pk]) {
			int r = policies[pk]->create(&e->inst[pk], pc);

			if (r)
				return r;
			e->pol_of[pk] = policies[pk];
		}
		e->ps[k] = e->inst[pk];
	}
	return 0;
}

/* A staging buffer holds the longest read: max_read_bytes, or one bundle when that is
 * more, up to max_buffer_bytes (default PIECE_BUF); a larger bundle (a Mixtral-8x7B expert, 66 MB in Q4_0) is read
 * in pieces of a buffer each (sched.c), so the buffers never grow with the bundles. */
#define PIECE_BUF (4ull << 20)

static uint64_t staging_buf(const struct swap_store *s, const struct swap_engine_params *p)
{
	uint64_t sb = swap_align_up(p->max_read_bytes);

	uint64_t cap = p->max_buffer_bytes ? swap_align_up(p->max_buffer_bytes) : PIECE_BUF;

	for (int k = 0; k < (int)s->n_kinds; k++) {
		uint64_t one = swap_align_up(s->bundle_bytes[k]) + SWAP_ALIGN;

		if (one > cap)
			one = cap;
		if (sb < one)
			sb = one;
	}
	return sb;
}

static uint64_t slot_size(const struct swap_store *s, int k)
{
	return (s->bundle_bytes[k] + SLOT_ALIGN - 1) & ~(uint64_t)(SLOT_ALIGN - 1);
}

uint64_t swap_slot_bytes(const struct swap_store *s, enum swap_kind k)
{
	return (unsigned)k < SWAP_KIND_MAX ? slot_size(s, (int)k) : 0;
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
	for (int k = 0; k < (int)s->n_kinds; k++)
		t += swap_kind_min(s, &p, k) * slot_size(s, k) + SLOT_ALIGN;
	return (t + page - 1) & ~(page - 1);
}

static void engine_free(struct swap_engine *e)
{
	for (int k = 0; k < SWAP_KIND_MAX; k++)
		free(e->kc[k].free);
	for (int i = 0; i < SWAP_N_POLICIES; i++)
		if (e->inst[i])
			e->pol_of[i]->destroy(e->inst[i]);
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

void swap_kind_split(int n_kinds, const uint64_t *want, const uint64_t *slot,
		     const uint8_t *prio, uint64_t extra, uint64_t *add)
{
	bool ordered = false;
	uint64_t wsum = 0, left = extra;

	for (int k = 0; k < n_kinds; k++) {
		add[k] = 0;
		wsum += slot[k] ? want[k] : 0; /* no slots, nothing to give */
		ordered |= prio[k] != prio[0];
	}
	if (!ordered) {
		for (int k = 0; k < n_kinds && wsum; k++)
			if (slot[k])
				add[k] = (uint64_t)((long double)extra * want[k] / wsum) / slot[k];
		return;
	}
	/* highest priority first, each up to all; kinds of the same priority share what is
	 * left in proportion to their bytes */
	for (int pr = 255; pr >= 0; pr--) {
		uint64_t wl = 0, avail = left;

		for (int k = 0; k < n_kinds; k++)
			wl += prio[k] == pr && slot[k] ? want[k] : 0;
		for (int k = 0; k < n_kinds && wl; k++) {
			uint64_t n;

			if (prio[k] != pr || !slot[k])
				continue;
			n = avail >= wl ? want[k] / slot[k] :
			    (uint64_t)((long double)avail * want[k] / wl) / slot[k];
			add[k] += n;
			left -= n * slot[k];
		}
	}
}

int swap_engine_create(struct swap_engine **out, struct swap_store *s,
		       const struct swap_engine_params *pin, char *err, size_t errlen)
{
	struct swap_engine *e;
	struct swap_backend_cfg cfg;
	uint64_t minb, staging, usable, need_min = 0, want_all = 0, extra;
	uint64_t w[SWAP_KIND_MAX] = { 0 }, ss[SWAP_KIND_MAX] = { 0 }, nk[SWAP_KIND_MAX];
	uint64_t add[SWAP_KIND_MAX];
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
	    e->p.max_buffer_bytes > (64u << 20) ||
	    (unsigned)e->p.policy >= N_POLICIES || bad_kind_policy(s, &e->p) ||
	    (unsigned)e->p.backend > SWAP_BACKEND_KMOD) {
		swap_seterr(err, errlen, "bad engine parameters (queue depth <= 4096, max read "
			    "and buffer <= 64 MiB, known policies and backend)");
		engine_free(e);
		return -EINVAL;
	}
	for (int k = 0; k < (int)s->n_kinds; k++)
		e->pol[k] = policies[kind_policy(&e->p, k)];
	e->qd = e->p.queue_depth;
	e->sb = staging_buf(s, &e->p);
	staging = e->sb * e->qd;
	minb = swap_engine_min_budget(s, &e->p);
	for (int k = 0; k < (int)s->n_kinds; k++) {
		need_min += swap_kind_min(s, &e->p, k) * slot_size(s, k);
		want_all += swap_kind_use(s, &e->p, k) * slot_size(s, k) + SLOT_ALIGN;
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
	usable = e->pool.size - staging - s->n_kinds * SLOT_ALIGN;
	extra = usable - need_min;
	for (int k = 0; k < (int)s->n_kinds; k++) {
		uint64_t use = swap_kind_use(s, &e->p, k), kmin = swap_kind_min(s, &e->p, k);

		ss[k] = slot_size(s, k);
		w[k] = (use > kmin ? use - kmin : 0) * ss[k];
	}
	mem = e->staging + staging;
	swap_kind_split((int)s->n_kinds, w, ss, e->p.kind_prio, extra, add);
	for (int k = 0; k < (int)s->n_kinds; k++)
		nk[k] = swap_kind_min(s, &e->p, k) + add[k];
	for (int k = 0; k < (int)s->n_kinds; k++) {
		struct kclass *kc = &e->kc[k];
		uint64_t all = swap_kind_use(s, &e->p, k), n = nk[k];

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

		for (int k = 0; k < (int)s->n_kinds; k++) {
			pc.kind_base[k] = e->kc[k].base;
			pc.kind_n[k] = e->kc[k].n;
		}
		r = make_policies(e, &pc);
	}
	if (r || !e->slots || !e->ent || !e->ls || !e->per || !e->rds || !e->rd_free) {
		swap_seterr(err, errlen, "out of memory for engine tables");
		engine_free(e);
		return -ENOMEM;
	}
	for (int k = 0; k < (int)s->n_kinds; k++) {
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
	e->pc_b = NIL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.path = s->path;
	cfg.region = e->staging;
	cfg.region_len = staging;
	cfg.queue_depth = e->qd;
	cfg.threads = e->p.pread_threads;
	cfg.complete = swap_on_complete;
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

			swap_plist_del(e, (uint64_t)b);
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
	return policies[e->p.policy]->name;
}

const char *swap_engine_kind_policy_name(const struct swap_engine *e, int kind)
{
	if (kind < 0 || kind >= (int)e->s->n_kinds)
		return NULL;
	return e->pol[kind]->name;
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

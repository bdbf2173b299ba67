/* SPDX-License-Identifier: MIT */
/* libswap internals shared between its source files (not installed). */
#ifndef LIBSWAP_INT_H
#define LIBSWAP_INT_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "libswap.h"

/* On-disk header layout, see Documentation/store-format.md. */
#define SWAP_MAGIC "ASWSTORE"
#define SWAP_HDR_BYTES 4096u
#define SWAP_HDR_CRC_OFF (SWAP_HDR_BYTES - 4)
#define SWAP_RDIR_ENTRY 128u
#define SWAP_MAX_LAYERS 4096u
#define SWAP_MAX_CHANNELS (1u << 24)

struct swap_store {
	char *path;
	int fd;                 /* buffered, read-only */
	uint64_t file_size;
	struct swap_store_desc d;
	uint32_t n_groups;
	uint32_t n_kinds;       /* SWAP_KIND_COUNT, or SWAP_KIND_MAX with low experts */
	uint64_t bundle_bytes[SWAP_KIND_MAX]; /* 0 for a kind the store does not have */
	uint64_t per_layer;     /* bundles per layer (sum of kinds' in) */
	uint64_t kind_base[SWAP_KIND_MAX]; /* index of channel 0 within a layer */
	uint64_t n_bundles;
	uint64_t *sect;         /* n_groups * n_kinds section offsets */
	uint32_t *crc;          /* n_bundles, order (layer, kind, channel) */
	void *meta;
	struct swap_resident *res;
	struct swap_resident_desc *res_desc;
	uint64_t data_off, data_len;
};

static inline uint64_t swap_align_up(uint64_t v)
{
	return (v + SWAP_ALIGN - 1) & ~(uint64_t)(SWAP_ALIGN - 1);
}

static inline uint64_t swap_align_down(uint64_t v)
{
	return v & ~(uint64_t)(SWAP_ALIGN - 1);
}

static inline uint64_t swap_bidx(const struct swap_store *s, struct swap_key k)
{
	return k.layer * s->per_layer + s->kind_base[k.kind] + k.channel;
}

static inline bool swap_key_ok(const struct swap_store *s, struct swap_key k)
{
	return k.layer < s->d.n_layers && k.kind < s->n_kinds &&
	       k.channel < s->d.kinds[k.kind].in;
}

/* Slots of kind k one layer group needs at least (swap_engine_params.kind_min). */
static inline uint64_t swap_kind_min(const struct swap_store *s,
				     const struct swap_engine_params *p, int k)
{
	uint64_t in = s->d.kinds[k].in, m = p->kind_min[k];

	if ((p->skip_kinds >> k) & 1)
		return 0;
	return (uint64_t)s->d.group * (m && m < in ? m : in);
}

/* Bundles of kind k the caller uses in all layers (swap_engine_params.kind_use). */
static inline uint64_t swap_kind_use(const struct swap_store *s,
				     const struct swap_engine_params *p, int k)
{
	uint64_t in = s->d.kinds[k].in, u = p->kind_use[k];

	if ((p->skip_kinds >> k) & 1)
		return 0;
	return (uint64_t)s->d.n_layers * (u && u < in ? u : in);
}

struct swap_key swap_key_of(const struct swap_store *s, uint64_t bidx);
/* File offset of a bundle (key assumed valid). */
uint64_t swap_bundle_off(const struct swap_store *s, struct swap_key k);
/* Neighbours in file order inside the same (group, kind) section; false at its ends. */
bool swap_file_next(const struct swap_store *s, struct swap_key k, struct swap_key *out);
bool swap_file_prev(const struct swap_store *s, struct swap_key k, struct swap_key *out);
/* Layout computation shared by writer and reader (fills sect, sizes; returns file size
 * or 0 when the description is invalid, with a message). */
int swap_layout(struct swap_store *s, uint64_t *file_size, char *err, size_t errlen);

/* The offsets of the tables, computed from the description (writer and reader agree). */
struct store_layout {
	uint64_t meta_off, rdir_off, crc_off, sect_off, res_start, data_off, data_len, size;
};
/* swap_layout's computation with every offset (0 or -EINVAL/-EOVERFLOW, message in err);
 * the header block of SWAP_HDR_BYTES for it (store.c, for the writer). */
int swap_store_layout(struct swap_store *s, struct store_layout *L, char *err, size_t errlen);
void swap_store_encode_header(const struct swap_store *s, const struct store_layout *L,
			      uint8_t *h);

void swap_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline uint64_t swap_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- pool ------------------------------------------------------------------------- */
struct swap_pool {
	void *base;
	uint64_t size;
	bool locked;
	bool kmod;  /* a region of /dev/activeswap (swap_kmod_pool_create) */
	int dev_fd; /* with kmod: the device, closed after the region is unmapped */
};
int swap_pool_create(struct swap_pool *p, uint64_t size, int numa_node, uint32_t flags,
		     char *err, size_t errlen);
void swap_pool_destroy(struct swap_pool *p);
/* The pool as a region of /dev/activeswap, for the kmod backend (backend_kmod.c). */
int swap_kmod_pool_create(struct swap_pool *p, uint64_t size, int numa_node, uint32_t flags,
			  char *err, size_t errlen);

/* ---- eviction policies ------------------------------------------------------------ */
/*
 * The engine keeps one class of slots per kind (global slot indices kind_base[k] ..
 * kind_base[k] + kind_n[k] - 1). A slot is *evictable* while it holds a VALID bundle that
 * nobody pins, no waiter still has to collect and that is not static; the engine tells
 * the policy when a slot enters and leaves that set and asks it for the victim of a kind
 * among the evictable slots. Every hook runs under the engine lock. A new policy gets a
 * value in enum swap_policy_kind (libswap.h), its own policy_NAME.c with an ops table
 * declared here, and an entry in engine_create.c's policies[].
 */
struct swap_policy_cfg {
	uint64_t n_slots, n_bundles;
	uint64_t kind_base[SWAP_KIND_MAX], kind_n[SWAP_KIND_MAX]; /* n 0: kind absent */
	float freq_decay; /* in (0,1] */
};

struct swap_policy;
struct swap_policy_ops {
	const char *name;        /* as swap_policy_from_name() spells it */
	bool static_set;         /* swap_engine_set_static() is allowed */
	int (*create)(struct swap_policy **out, const struct swap_policy_cfg *cfg); /* -ENOMEM */
	void (*destroy)(struct swap_policy *p);
	/* Slot si of kind `kind`, holding bundle b, became evictable. */
	void (*insert)(struct swap_policy *p, int32_t si, unsigned kind, uint64_t b);
	/* Evictable slot si is no longer (pinned, or taken as a victim). */
	void (*remove)(struct swap_policy *p, int32_t si, unsigned kind);
	/* Bundle b was requested (hit or miss); si is its slot when evictable, else -1. */
	void (*access)(struct swap_policy *p, uint64_t b, int32_t si, unsigned kind);
	/* The next victim among the evictable slots of a kind (not removed), -1 if none. */
	int32_t (*victim)(struct swap_policy *p, unsigned kind);
	/* A token begins (swap_token_begin); NULL when the policy does not care. */
	void (*token)(struct swap_policy *p);
};

extern const struct swap_policy_ops swap_policy_freq_ops;   /* policy_freq.c */
extern const struct swap_policy_ops swap_policy_lru_ops;    /* policy_list.c */
extern const struct swap_policy_ops swap_policy_static_ops; /* policy_list.c (FIFO) */
#define SWAP_N_POLICIES 3 /* values of enum swap_policy_kind */

/* ---- backends --------------------------------------------------------------------- */
/*
 * A backend reads extents of the store file into a registered memory region and reports
 * each completion through cfg.complete (on its own thread, never inside submit). The
 * shape matches the kernel module's ABI: one region, batches of extents, completion
 * records carrying the caller's cookie.
 */
struct swap_extent {
	uint64_t file_off; /* SWAP_ALIGN aligned */
	uint64_t len;      /* SWAP_ALIGN aligned */
	uint64_t region_off; /* SWAP_ALIGN aligned */
	uint64_t cookie;
	uint32_t prio;     /* enum swap_prio (the kmod backend passes it to the module) */
};

struct swap_backend_cfg {
	const char *path;
	void *region;
	uint64_t region_len;
	uint32_t queue_depth;
	uint32_t threads;
	struct swap_fault_plan fault;
	bool fault_on;
	void (*complete)(void *ctx, uint64_t cookie, int64_t result);
	void *ctx;
	int dev_fd;     /* kmod: the device holding the region (-1 otherwise) */
	void *dev_base; /* kmod: start of the device region's mapping (region is inside) */
};

struct swap_backend;
struct swap_backend_ops {
	const char *name;
	int (*start)(struct swap_backend **out, const struct swap_backend_cfg *cfg, char *err,
		     size_t errlen);
	/* 0 when all n extents were queued, else -errno (none queued). */
	int (*submit)(struct swap_backend *b, const struct swap_extent *x, unsigned n);
	void (*stop)(struct swap_backend *b); /* after every submitted read completed */
};

extern const struct swap_backend_ops swap_backend_pread_ops;
extern const struct swap_backend_ops swap_backend_uring_ops;
extern const struct swap_backend_ops swap_backend_kmod_ops;
/* Why /dev/activeswap cannot be used here (NULL when it can). */
const char *swap_kmod_unavailable(void);
/* Why io_uring cannot be used here (NULL when it probably can). */
const char *swap_uring_unavailable(void);

#endif

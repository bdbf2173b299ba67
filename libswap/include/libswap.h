/* SPDX-License-Identifier: MIT */
/*
 * libswap: the flash-to-DRAM weight swap engine of activeswap.
 *
 * A *store* (.asw, Documentation/store-format.md) holds a model's resident tensors and its
 * swappable *bundles*: for one layer, one kind and one input channel, the columns of all
 * matrices sharing that input, quantized along the output dimension. An *engine* keeps a
 * subset of the bundles in a fixed DRAM budget (one mlock'ed allocation cut into slots),
 * fetches missing ones from the store with a backend (io_uring, pread threads, the kernel
 * module's /dev/activeswap, a fault-injecting test backend) and evicts with one of its
 * policies (enum swap_policy_kind; each behind an internal ops table, so a new one is a
 * file of its own, see Documentation/libswap.md).
 *
 * Threading: any number of compute threads may call the engine functions concurrently;
 * completions run on the backend's own thread(s). Errors are negative errno values;
 * functions taking (err, errlen) also write one line (no newline) describing the problem.
 *
 * This is libswap's only public header. It does not depend on the runtime's headers:
 * element types are stored as plain integers (ggml numbering) and interpreted by callers.
 */
#ifndef LIBSWAP_H
#define LIBSWAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Versions this build reads: 2 (dense layers), 3 (mixture-of-experts layers, whose FFN
 * kinds hold one bundle per expert: struct swap_store_desc.n_expert), 4 (version 3 with
 * every expert also in a second, lower precision: kinds SWAP_FFN_IN_LOW/SWAP_FFN_OUT_LOW),
 * 5 (version 3 with the experts in columns: swap_kind_desc.cols). The writer writes 2 for
 * a store without experts and 3 for one without low copies or columns, byte for byte
 * what it always wrote. */
#define SWAP_STORE_VERSION 5
#define SWAP_STORE_VERSION_MIN 2
#define SWAP_MAX_EXPERTS 4096u
#define SWAP_ALIGN 4096u          /* O_DIRECT alignment of offsets and lengths */
#define SWAP_MAX_MATS 3           /* matrices per bundle (q,k,v) */
#define SWAP_NAME_MAX 64          /* resident tensor name, with its NUL */

/* Which matrices a bundle holds (the columns of all matrices sharing one input). */
enum swap_kind {
	SWAP_ATTN_IN = 0,  /* attn_q, attn_k, attn_v (input: rmsnorm(h), dim channels) */
	SWAP_ATTN_OUT = 1, /* attn_output (input: attention output, n_heads * head size) */
	SWAP_FFN_IN = 2,   /* ffn_gate, ffn_up (input: rmsnorm(h), dim channels) */
	SWAP_FFN_OUT = 3,  /* ffn_down (input: silu(gate)*up, hidden channels) */
	SWAP_KIND_COUNT,   /* the kinds every store has */
	/* Version 4 only: the experts' low-precision copies (the same experts as FFN_IN and
	 * FFN_OUT, in the kind's own types; in = 0 in stores without them). */
	SWAP_FFN_IN_LOW = SWAP_KIND_COUNT,
	SWAP_FFN_OUT_LOW = 5,
	SWAP_KIND_MAX
};

/* The kind's name as the CLI, calibrate's level files and info spell it ("attn_in",
 * "attn_out", "ffn_in", "ffn_out", "ffn_in_low", "ffn_out_low"); NULL for a value
 * outside the enum. */
const char *swap_kind_name(enum swap_kind kind);

/* Fetch priority classes, highest first. */
enum swap_prio {
	SWAP_PRIO_DEMAND = 0, /* needed by the layer being computed */
	SWAP_PRIO_NEXT = 1,   /* preload for the next layer (group) */
	SWAP_PRIO_LATER = 2,  /* preload for later layers */
	SWAP_PRIO_COUNT
};

struct swap_key {
	uint32_t layer;
	uint32_t kind;    /* enum swap_kind */
	uint32_t channel; /* input channel (column index) */
};

/* ---- store ------------------------------------------------------------------------ */

struct swap_mat_desc {
	uint32_t out;       /* output rows of the matrix (values in one column) */
	uint32_t type;      /* element type of the column data (ggml numbering) */
	uint32_t col_bytes; /* bytes of one quantized column (may include zero padding) */
};

struct swap_kind_desc {
	uint32_t in;      /* input channels = bundles per layer of this kind */
	uint32_t n_mats;  /* 1..SWAP_MAX_MATS; bundle = concatenated columns */
	struct swap_mat_desc mats[SWAP_MAX_MATS];
	/* Columns of every matrix in one bundle: 0 = one (a column bundle, or an expert in
	 * its row encoding whose col_bytes is the whole matrix). An expert in the column
	 * layout (version 5, the FFN kinds only) holds cols = the expert's input width
	 * columns, column j of each matrix after column j-1's: bundle bytes = cols x the
	 * sum of col_bytes (Documentation/store-format.md, "Expert columns"). */
	uint32_t cols;
};

/* Model hyper-parameters copied into the store header (the full GGUF metadata is kept in
 * the embedded metadata blob, see swap_store_meta()). */
struct swap_hparams {
	uint32_t dim, hidden, n_heads, n_kv_heads, vocab, n_ctx;
	float rms_eps, rope_theta;
};

struct swap_resident_desc {
	char name[SWAP_NAME_MAX];
	uint32_t type; /* ggml numbering, stored verbatim from the source */
	uint32_t n_dims;
	uint64_t ne[4];
	uint64_t size; /* bytes */
};

/* A resident tensor in an open store: desc plus where its bytes are. */
struct swap_resident {
	struct swap_resident_desc d;
	uint64_t offset; /* absolute file offset, SWAP_ALIGN aligned */
	uint32_t crc;    /* crc32c of the bytes */
};

struct swap_store_desc {
	uint32_t n_layers;
	uint32_t group; /* layer-group size N (1..n_layers) */
	struct swap_hparams hp;
	/* kinds[SWAP_FFN_IN_LOW], kinds[SWAP_FFN_OUT_LOW]: in = 0 (none), or n_expert with
	 * the low copies of the experts (version 4) */
	struct swap_kind_desc kinds[SWAP_KIND_MAX];
	const void *meta; /* opaque metadata blob (activeswap: a GGUF with KVs, no tensors) */
	uint64_t meta_len;
	uint32_t n_resident;
	const struct swap_resident_desc *resident;
	/*
	 * Mixture of experts (version 3; 0: dense layers, version 2). Kinds SWAP_FFN_IN and
	 * SWAP_FFN_OUT then hold experts, not columns: in = n_expert, channel = the expert,
	 * and a bundle is expert e's matrices (FFN_IN: gate then up; FFN_OUT: down), each in
	 * its row encoding, col_bytes = the whole matrix (Documentation/store-format.md);
	 * or, in version 5, in the column layout (kinds[k].cols > 0).
	 */
	uint32_t n_expert;
};

struct swap_store;

/* Open and validate a store (header checksum, every table bounded by the file). */
int swap_store_open(struct swap_store **out, const char *path, char *err, size_t errlen);
void swap_store_close(struct swap_store *s);
const char *swap_store_path(const struct swap_store *s);
/* The file's format version (2, 3 for a store with experts, 4 with their low copies). */
uint32_t swap_store_version(const struct swap_store *s);
/* The kinds the store has: SWAP_KIND_COUNT, or SWAP_KIND_MAX with low-precision experts. */
uint32_t swap_store_n_kinds(const struct swap_store *s);
/* The description the store was written with (meta and resident point into the store). */
const struct swap_store_desc *swap_store_desc(const struct swap_store *s);
uint64_t swap_store_file_size(const struct swap_store *s);
uint64_t swap_store_bundle_bytes(const struct swap_store *s, enum swap_kind kind);
uint64_t swap_store_n_bundles(const struct swap_store *s);
/* Total bytes of all bundles (without alignment padding). */
uint64_t swap_store_swappable_bytes(const struct swap_store *s);
/* File offset and length of one bundle; -EINVAL for a key outside the model. */
int swap_store_bundle_loc(const struct swap_store *s, struct swap_key key, uint64_t *off,
			  uint64_t *len);
uint32_t swap_store_bundle_crc(const struct swap_store *s, struct swap_key key);
/* Read one bundle with pread (buffered; for tools and tests). */
int swap_store_read_bundle(const struct swap_store *s, struct swap_key key, void *dst);
/* Resident tensors. */
uint32_t swap_store_n_resident(const struct swap_store *s);
const struct swap_resident *swap_store_resident(const struct swap_store *s, uint32_t i);
const struct swap_resident *swap_store_find_resident(const struct swap_store *s,
						     const char *name);
int swap_store_read_resident(const struct swap_store *s, const struct swap_resident *r,
			     void *dst);
/* Check every crc32c (bundles, resident tensors). progress (may be NULL) gets bytes done.
 * Returns 0, -EBADMSG naming the first bad bundle in err, or an I/O error. */
int swap_store_verify(const struct swap_store *s, void (*progress)(void *, uint64_t),
		      void *arg, char *err, size_t errlen);

/* Writer: the file is written as PATH.tmp.PID and renamed to PATH by finish, so an
 * interrupted conversion never leaves a partial store under the final name. Bundles and
 * resident tensors may be written in any order; finish fails if one is missing. */
struct swap_writer;
int swap_writer_create(struct swap_writer **out, const char *path,
		       const struct swap_store_desc *d, char *err, size_t errlen);
int swap_writer_resident(struct swap_writer *w, uint32_t idx, const void *data,
			 uint64_t len);
/* One bundle: swap_store_bundle_bytes(kind) bytes, the mats' columns concatenated. */
int swap_writer_bundle(struct swap_writer *w, struct swap_key key, const void *data);
uint64_t swap_writer_bundle_bytes(const struct swap_writer *w, enum swap_kind kind);
int swap_writer_finish(struct swap_writer *w, char *err, size_t errlen); /* frees w */
void swap_writer_abort(struct swap_writer *w); /* unlinks the temporary file, frees w */

uint32_t swap_crc32c(uint32_t crc, const void *buf, size_t len);
/* The table version swap_crc32c falls back to, and whether swap_crc32c uses the CPU's
 * instruction (SSE4.2 or ARMv8 CRC32C; not with ACTIVESWAP_CRC32C=soft). For tests. */
uint32_t swap_crc32c_soft(uint32_t crc, const void *buf, size_t len);
bool swap_crc32c_hw(void);

/* pread len bytes at off, retrying short reads and EINTR, stopping at the end of the file:
 * the bytes read, or -errno. For readers of a store through their own descriptor (O_DIRECT
 * with aligned lengths that may run past the end of the file). */
int64_t swap_pread(int fd, void *buf, uint64_t len, uint64_t off);

/* Synthetic stores for tests and benchmarks: every bundle's bytes are a pseudo-random
 * function of (seed, key), so a reader can check any fetched bundle without the file.
 * d->meta/resident may be empty; resident tensors get pseudo-random bytes too. */
int swap_store_write_synthetic(const char *path, const struct swap_store_desc *d,
			       uint64_t seed, char *err, size_t errlen);
void swap_synthetic_bundle(uint64_t seed, struct swap_key key, void *dst, uint64_t len);

/* ---- engine ----------------------------------------------------------------------- */

enum swap_policy_kind {
	SWAP_POLICY_FREQ = 0, /* contextual frequency: decayed per-bundle counters (default) */
	SWAP_POLICY_LRU = 1,
	SWAP_POLICY_STATIC = 2, /* swap_engine_set_static() pins the hottest; rest FIFO */
};

enum swap_backend_kind {
	SWAP_BACKEND_AUTO = 0, /* kmod if /dev/activeswap is usable, else io_uring, else pread */
	SWAP_BACKEND_URING = 1,
	SWAP_BACKEND_PREAD = 2,
	SWAP_BACKEND_FAULT = 3, /* pread threads with injected faults (tests) */
	SWAP_BACKEND_KMOD = 4,  /* /dev/activeswap; -ENODEV when the module is absent */
};

/* Fault plan for SWAP_BACKEND_FAULT. Reads are numbered from 1 in submission order. */
enum swap_fault_mode {
	SWAP_FAULT_EIO = 0,     /* the read fails with -EIO */
	SWAP_FAULT_SHORT = 1,   /* the read returns half its length */
	SWAP_FAULT_CORRUPT = 2, /* full length but one flipped byte (caught by SWAP_F_VERIFY) */
};
struct swap_fault_plan {
	enum swap_fault_mode mode;
	uint64_t nth;   /* fault read number nth (0: none) */
	uint64_t every; /* and every read whose number is a multiple (0: none) */
};

#define SWAP_F_NO_MLOCK 0x1u    /* do not mlock the pool (for unprivileged benchmarks) */
#define SWAP_F_NO_HUGEPAGE 0x2u /* no MADV_HUGEPAGE */
#define SWAP_F_VERIFY 0x4u      /* check every fetched bundle's crc32c (-EBADMSG) */
#define SWAP_F_NO_PROBES 0x8u   /* fire no USDT probes (a measurement engine beside the
                                 * one traced: `activeswap trace` counts only the other) */
/* mlock the pool when RLIMIT_MEMLOCK (or CAP_IPC_LOCK) allows, else run it unlocked
 * (swap_stats.pool_locked false) instead of failing */
#define SWAP_F_MLOCK_TRY 0x10u

struct swap_engine_params {
	uint64_t budget_bytes;        /* whole DRAM footprint of the pool (slots + staging) */
	enum swap_policy_kind policy;
	enum swap_backend_kind backend;
	uint32_t queue_depth;         /* reads in flight; 0 = 32 */
	uint64_t max_read_bytes;      /* coalescing limit per read; 0 = 256 KiB */
	/* Largest staging buffer (rounded up to 4 KiB, at least max_read_bytes): a bundle
	 * whose 4 KiB aligned span is larger is read in pieces of a buffer each, straight
	 * after taking its slot; 0 = 4 MiB. At most 64 MiB. */
	uint64_t max_buffer_bytes;
	int numa_node;                /* bind the pool to this node; -1 = no binding */
	uint32_t flags;               /* SWAP_F_* */
	uint32_t pread_threads;       /* pread/fault backends; 0 = queue_depth capped at 16 */
	float freq_decay;             /* FREQ: per-token counter decay in (0,1]; 0 = 0.9 */
	struct swap_fault_plan fault; /* SWAP_BACKEND_FAULT only */
	/* Optional observer called for every read issued (after coalescing), under the
	 * engine lock: it must not call back into the engine. For tests and tools. */
	void (*on_submit)(void *arg, uint64_t tag, uint32_t layer, uint64_t bytes, int prio);
	void *cb_arg;
	/* Split of the slots beyond the minimum (one layer group of every kind): all equal
	 * (default 0) = in proportion to the kinds' bytes; otherwise the kinds get them in
	 * decreasing kind_prio order, each up to all of its bundles (kinds of equal
	 * kind_prio sharing in proportion to their bytes: a MoE store's two expert kinds). */
	uint8_t kind_prio[SWAP_KIND_MAX];
	/* Slots of kind k that every layer of a group needs at least (the minimum budget):
	 * 0 or more than the kind's bundles per layer = all of them (the default; a column
	 * kind's Top-K may want any channel). A store's expert kinds need only the experts
	 * one token uses (the runtime passes n_expert_used). */
	uint32_t kind_min[SWAP_KIND_MAX];
	/* Channels of kind k per layer the caller will ever use (a tensor-parallel slice
	 * holds some of every kind's): the slots of kind k are at most that many per layer
	 * and the split above weighs the kinds by it. 0 or more than the kind has = all. */
	uint32_t kind_use[SWAP_KIND_MAX];

	/* Kinds with an eviction policy of their own: bit k set = kind k's slots are ranked
	 * by kind_policy[k] instead of policy (the swapping runtime gives a store's expert
	 * kinds the contextual policy, or --expert-policy). 0 = every kind uses policy. A bit
	 * of a kind the store does not have (swap_store_n_kinds) is refused (-EINVAL). */
	uint32_t own_policy;
	enum swap_policy_kind kind_policy[SWAP_KIND_MAX];
	/* Kinds the caller never uses (bit k: kind k gets no slots and no minimum; its keys
	 * are refused by swap_acquire with -ENOSPC): a store's low-precision experts when
	 * the precision planner is off. Bits of absent kinds are ignored; beyond
	 * SWAP_KIND_MAX refused. */
	uint32_t skip_kinds;
};

/* Per-layer statistics. Each counter moves exactly where the USDT probe of the same name
 * fires (Documentation/usdt.md). */
struct swap_layer_stats {
	uint64_t hits, misses, evictions;
	uint64_t reads, bytes_read, read_errors;
	uint64_t stall_ns;
	/* Bytes of the bundles read from flash that were then used (pinned or acquired)
	 * before their eviction, each counted once per read: bytes_read - bytes_used is
	 * what the reads carried for nothing (alignment, gap filling, unused preloads). */
	uint64_t bytes_used;
};

struct swap_stats {
	struct swap_layer_stats total;
	uint64_t slots_total, slots_valid, slots_pinned;
	uint64_t inflight, queued;
	uint64_t pool_bytes; /* bytes of the pool mapping (<= budget) */
	bool pool_locked;    /* mlock'ed, or pinned by the module (kmod) */
	uint64_t staging_bytes;
	uint64_t slot_bytes; /* bytes of all slots */
	uint64_t kind_slots[SWAP_KIND_MAX]; /* slots of every kind */
};

struct swap_engine;

/*
 * The engine's split of the pool among the kinds (swap_engine_create), for planners that
 * predict it: beyond each kind's minimum, kind k wants want[k] bytes of slots of slot[k]
 * bytes. With every prio[k] equal, each kind gets extra * want[k] / sum(want) bytes;
 * otherwise the highest priority first, each up to all it wants, kinds of one priority in
 * proportion to their bytes. add[k]: whole slots, at most want[k] / slot[k].
 */
/* Bytes of a cache slot of kind k: its bundle rounded up to 64 (the engine's carve). */
uint64_t swap_slot_bytes(const struct swap_store *s, enum swap_kind k);
void swap_kind_split(int n_kinds, const uint64_t *want, const uint64_t *slot,
		     const uint8_t *prio, uint64_t extra, uint64_t *add);
/* Minimum budget for a store and parameters: staging + one layer group of every kind. */
uint64_t swap_engine_min_budget(const struct swap_store *s,
				const struct swap_engine_params *p);
/* p may be NULL for defaults with budget = whole store. The store must outlive it. */
int swap_engine_create(struct swap_engine **out, struct swap_store *s,
		       const struct swap_engine_params *p, char *err, size_t errlen);
/* Waits for reads in flight; pinned pointers become invalid. */
void swap_engine_destroy(struct swap_engine *e);
const char *swap_engine_backend_name(const struct swap_engine *e);
const char *swap_engine_policy_name(const struct swap_engine *e);
/* The policy ranking kind k's slots (swap_engine_params.own_policy); NULL when k is out
 * of range. */
const char *swap_engine_kind_policy_name(const struct swap_engine *e, int kind);

/* Ask for bundles at a priority; returns immediately (0 or -EINVAL for a bad key). A key
 * already queued at a lower priority is raised. tag groups preloads for cancellation. A
 * key whose last read failed is not retried here: its error waits for swap_wait. */
int swap_request(struct swap_engine *e, const struct swap_key *keys, size_t n,
		 enum swap_prio prio, uint64_t tag);
/* Block until every key has been resident at least once since the call (keys not queued
 * are requested on demand; queued ones are raised to on-demand). Returns 0 or the error
 * of a failed read of one of them (the bundle goes back to absent; a new call retries). */
int swap_wait(struct swap_engine *e, const struct swap_key *keys, size_t n);
/* request + wait + pin: ptrs[i] points at bundle i's bytes until swap_release(). On error
 * nothing stays pinned. */
int swap_acquire(struct swap_engine *e, const struct swap_key *keys, size_t n,
		 const void **ptrs);
void swap_release(struct swap_engine *e, const struct swap_key *keys, size_t n);
/* The last error swap_wait/swap_acquire returned (0: none yet) and the key of the failed
 * bundle in *key (-EBADMSG: its crc32c did not match, SWAP_F_VERIFY), for messages. */
int swap_last_error(struct swap_engine *e, struct swap_key *key);
/* Plugging (as in the block layer): while plugged, requests are queued but no read is
 * issued, so a caller can post several sets (on-demand plus preloads) and let the
 * scheduler order and coalesce all of them at unplug. swap_wait/swap_acquire unplug. */
void swap_plug(struct swap_engine *e);
void swap_unplug(struct swap_engine *e);
/* A byte range of one bundle (off + len <= its bytes, len > 0) and where it goes. */
struct swap_part {
	uint64_t off, len;
	uint64_t dst_off; /* bytes [off, off + len) land at dst + dst_off */
};
/*
 * Read parts of bundle key straight into dst, past the cache (no slot, nothing cached):
 * for a caller that needs only some of a bundle, an expert's selected columns
 * (Documentation/libswap.md, "Partial reads"). parts in increasing off, not overlapping.
 * Their reads go out before any queued bundle, up to the queue depth: parts whose 4 KiB
 * aligned spans touch share one read of at most a staging buffer, a longer part is read
 * in pieces. Blocks until all are in (counted as the layer's reads, bytes_read and
 * stall_ns). The bundle's crc32c covers the whole bundle, so parts are not checked
 * (SWAP_F_VERIFY neither). 0, -EINVAL (a bad key or part), -EBUSY while plugged, or the
 * first read's error (also swap_last_error's).
 */
int swap_read_parts(struct swap_engine *e, struct swap_key key, const struct swap_part *parts,
		    size_t n, void *dst);
/* The same in two steps, so a caller can compute while the parts arrive: _start queues
 * the reads (0, -EINVAL for n = 0 or a bad key or part, -EBUSY while plugged, -ENOMEM)
 * and gives a handle; parts and dst must stay valid until swap_read_parts_wait, which
 * blocks until all are in (counted as stall_ns only if it had to wait), frees the
 * handle and returns 0 or the first read's error. Every started read must be waited
 * for, before swap_engine_destroy too. */
struct swap_read;
int swap_read_parts_start(struct swap_engine *e, struct swap_key key,
			  const struct swap_part *parts, size_t n, void *dst,
			  struct swap_read **out);
int swap_read_parts_wait(struct swap_engine *e, struct swap_read *r);
/* A free slot of the kind lent to the caller as a buffer of the kind's bundle bytes
 * (NULL when none is free: nothing is evicted for it) until swap_slot_return, with *slot
 * its handle: for reads that are not to be cached (swap_read_parts_start into it), in
 * memory the budget already counts. */
void *swap_slot_lend(struct swap_engine *e, int kind, int32_t *slot);
void swap_slot_return(struct swap_engine *e, int32_t slot);
/* Pin one bundle if it is resident now (NULL otherwise; no fetch). */
const void *swap_pin(struct swap_engine *e, struct swap_key key);
void swap_unpin(struct swap_engine *e, struct swap_key key);
/* How many of the keys are resident now (VALID), without pinning, fetching or telling
 * the policy (an expert cache's hit count at the moment the router chose). */
size_t swap_count_resident(struct swap_engine *e, const struct swap_key *keys, size_t n);
/* The same, counting also the keys whose read is in flight (issued, not yet complete):
 * bundles that will be in DRAM without a new read. */
size_t swap_count_coming(struct swap_engine *e, const struct swap_key *keys, size_t n);

#define SWAP_TAG_ANY UINT64_MAX
/* Drop queued (not yet submitted) requests whose tag matches (SWAP_TAG_ANY: all) and
 * whose priority is in prio_mask (bit 1 << prio). Reads already in flight complete.
 * Returns the number of bundles dropped. */
int swap_cancel(struct swap_engine *e, uint64_t tag, unsigned prio_mask);

/* STATIC policy: load and pin these bundles for the engine's lifetime (calibrated hot
 * set). -ENOSPC when they leave no room for one layer group, -EINVAL when a key's kind
 * is ranked by another policy. */
int swap_engine_set_static(struct swap_engine *e, const struct swap_key *keys, size_t n);

/* Boundary markers (USDT token_begin/token_end/layer_begin; FREQ decays per token). */
void swap_token_begin(struct swap_engine *e, uint64_t token);
/* Returns the token's stall: the ns that swap_wait/swap_acquire blocked since the last
 * swap_token_begin (what the token_end probe reports; the same time the statistics'
 * stall_ns grew by meanwhile), so a caller needs no statistics to learn it. */
uint64_t swap_token_end(struct swap_engine *e);
void swap_layer_begin(struct swap_engine *e, uint32_t layer);

void swap_engine_stats(struct swap_engine *e, struct swap_stats *out);
/* -EINVAL for a layer out of range. */
int swap_engine_layer_stats(struct swap_engine *e, uint32_t layer,
			    struct swap_layer_stats *out);

/* Names for the CLI: "auto", "uring", "pread", "fault", "kmod"; "freq", "lru", "static". */
int swap_backend_from_name(const char *name);
int swap_policy_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif

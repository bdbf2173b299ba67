/* SPDX-License-Identifier: MIT */
/*
 * Swapping inference: a Llama model run from an activeswap store (.asw, written by
 * `activeswap convert`) with only a DRAM budget's worth of it in memory
 * (Documentation/swapping.md).
 *
 * Resident tensors (embeddings, norms, output head), the KV cache and the activations are
 * held in plain memory; the seven layer matrices live in the store as column bundles and
 * come through a libswap engine whose pool gets the rest of the budget. For every linear
 * op group (QKV, O, gate/up, down) the runtime keeps the Top-K input channels by
 * magnitude, makes their bundles resident (pinning those already in the hot cache,
 * fetching the others on demand, a chunk at a time so compute overlaps the reads) and
 * accumulates x_j * column_j in increasing channel order with the sparse kernels.
 * Cross-layer preloading: the Top-K of layer L's attention input is also requested, at
 * lower priority, for the attention and FFN inputs of layers L+1 .. L+group (and the FFN
 * input of L); the previous layer's still-queued preloads are cancelled.
 *
 * The token runs through the one forward pass of activeswap/forward.h; the store's row
 * copy, the all-resident column table and the engine are its weight sources.
 *
 * Numerics: the output depends on the store, the sparsity levels, the SIMD level and
 * nothing else: budgets, backends, policies, preloading and thread counts give
 * bit-identical logits (the sparse kernels' column order is fixed).
 */
#ifndef ACTIVESWAP_SWAP_H
#define ACTIVESWAP_SWAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/attention.h"
#include "libswap.h"

struct as_threadpool;
struct gguf_file;

/* Which copy of a chosen expert a token reads, in a store with low-precision experts
 * (version 4, `convert --expert-types`; Documentation/swapping.md, "Per-expert
 * precision"). */
enum as_expert_precision {
	AS_XPREC_OFF = 0,        /* always the high copy: the numerics of the one-copy store */
	AS_XPREC_LOW_WEIGHT = 1, /* the router's first expert_high (by weight) high, the rest low */
	AS_XPREC_MISS = 2,       /* high when in DRAM or being read when the router chose, else low */
	AS_XPREC_COUNT
};

struct as_swap_params {
	/* Whole DRAM budget: resident tensors + KV cache + activations + the engine's
	 * pool. 0 = enough for everything (as_swap_full_bytes()). */
	uint64_t budget_bytes;
	float sparsity;              /* uniform Top-K sparsity in [0, 1) */
	/* Optional per-layer, per-kind sparsity [n_layers * SWAP_KIND_COUNT] (calibrated
	 * levels); overrides sparsity. Copied. */
	const float *layer_sparsity;
	/* Optional thresholds [n_layers * SWAP_KIND_COUNT] (`calibrate --sparsity-mode
	 * threshold`): each group's input keeps the channels with |x| >= its threshold, a
	 * variable number per token (0 .. the group's width), instead of a Top-K; the levels
	 * above are then the expected sparsity, which preloading (the Top-K of that many
	 * channels) and the cost model use. Each finite and >= 0. Copied. */
	const float *layer_threshold;
	/* Head sparsity in [0, 1): the share of every layer's attention heads skipped per
	 * token, those whose query has the smallest norm (as_state.head_skip =
	 * round(head_sparsity * n_head), at most n_head - 1); their O columns are not
	 * fetched. 0: every head. */
	float head_sparsity;
	uint32_t group;              /* preload depth in layers; 0 = the store's group */
	bool no_preload;             /* on-demand fetches only */
	enum swap_policy_kind policy;
	/* A store with experts: the policy ranking the expert bundles' slots (the FFN kinds),
	 * whatever policy ranks the attention's; the default (0) is the contextual one. */
	enum swap_policy_kind expert_policy;
	/* A store with experts: while layer L computes, the routers of L+1 .. L+expert_predict
	 * are applied to L's FFN input and their experts preloaded (0 = 1 layer ahead, when
	 * the expert cache holds at least two layers' chosen gate/up bundles and gate/up
	 * misses are read whole, else off: as_swap_expert_predict); no_expert_predict (or
	 * no_preload) turns it off: experts fetched when chosen. */
	uint32_t expert_predict;
	bool no_expert_predict;
	/* A store with experts: Top-K sparsity inside the chosen experts, in [0, 1)
	 * (as_state_expert_sparsity; 0 = every channel). */
	float expert_sparsity;
	/* A store with low-precision experts: the precision planner (off by default; any
	 * other value on a store without low copies is refused at open), and for
	 * low-weight the experts of the top-k kept high (0 = half of k, rounded up). */
	enum as_expert_precision expert_precision;
	uint32_t expert_high;
	/* ... and with expert_low_slots the low kinds' slots (their minimum, as when the
	 * planner is on) even with expert_precision off, so that
	 * as_swap_set_expert_precision() can change it while decoding (the latency target's
	 * feedback under `--expert-precision auto`) */
	bool expert_low_slots;
	enum swap_backend_kind backend;
	uint32_t engine_flags;       /* SWAP_F_* */
	bool numa_bind;              /* place the engine's pool on numa_node (libnuma) */
	int numa_node;
	uint32_t queue_depth;        /* 0 = libswap default */
	uint64_t max_read_bytes;     /* 0 = libswap default */
	uint64_t max_buffer_bytes;   /* larger bundles read in pieces; 0 = libswap default */
	uint32_t n_ctx;              /* KV cache positions; 0 = min(store n_ctx, 2048) */
	enum as_kv_type kv_type;     /* the KV cache's elements (0: F32), in the budget */
	uint32_t chunk;              /* channels per on-demand acquire; 0 = 256; rounded up
	                              * to a multiple of AS_SPARSE_Q4_GROUP */
	struct as_threadpool *tp;    /* may be NULL */
	struct swap_fault_plan fault; /* SWAP_BACKEND_FAULT */
	/* Check every bundle's crc32c at the moment the compute reads it (tests: proves
	 * no slot is used before its read completed or after it was reused); a mismatch
	 * fails the token with -EBADMSG. */
	bool check_use;
	/* Check every resident tensor's crc32c at open: -EBADMSG naming the tensor (also
	 * done with check_use or engine_flags & SWAP_F_VERIFY, which checks every bundle
	 * read and the row copy's matrices as they are read). */
	bool verify_resident;
	/* With a budget that holds every bundle, they are all fetched and pinned at open
	 * and looked up without engine calls per token; this disables that. */
	bool no_pin_all;
	bool no_gap_fill;            /* fetch exactly the needed bundles (see swapping.md) */
	/* Largest gap filled, in bytes (at most the engine's read size); 0 = 8 KiB. The CLI
	 * picks it with as_choose_gap_bytes() (--gap auto). */
	uint64_t gap_bytes;
	/* STATIC policy: the same fraction of every kind in the hot set, instead of the
	 * kinds whose uncached bundles cost the most reads per byte first (swapping.md) */
	bool uniform_cache;
	/* With every level 0, compute from the columns even when the store has a row copy */
	bool no_rows;
	/* Prompt tokens per batch (as_swap_forward_batch); > 1: its scratch is allocated at
	 * open and counted in the budget, the batch halved (down to 1) while the budget is
	 * too small for it (as_swap_batch() tells). 0 or 1: none reserved. */
	uint32_t batch;
	/* Tensor parallelism (Documentation/tensor-parallel.md): with n_slices > 1 this
	 * process holds, caches and computes only slice `slice` of every kind's input
	 * channels (as_swap_slice()), and reduce(reduce_arg, y, n) sums each partial product
	 * y[0..n) over the slices in place, the same result in every slice (the CLI's
	 * MPI_Allreduce); 0 or a negative errno, which fails the token. Columns only (no row
	 * copy), no experts. n_slices 0 or 1: the whole model. */
	uint32_t n_slices, slice;
	int (*reduce)(void *arg, float *y, size_t n);
	void *reduce_arg;
};

/* Per-layer counters of the runtime (not of the engine). A lookup is one bundle the
 * layer's compute needed; a hit is one that was resident at that moment. Preload
 * precision = used / predicted, recall = predicted / used, over the predicted kinds. */
struct as_swap_layer_stats {
	uint64_t lookups, hits;
	uint64_t predicted, used, predicted_used;
	uint64_t bytes_read, stall_ns; /* from the engine */
	uint64_t bytes_used;           /* engine: read bytes of bundles then used */
	/* mixture of experts: expert bundles computed from, and those already in DRAM;
	 * expert prediction: experts predicted for the layer, those the router then chose
	 * (pred_used) and the experts it chose when a prediction existed (pred_needed):
	 * precision = pred_used / predicted, recall = pred_used / pred_needed */
	uint64_t expert_lookups, expert_hits;
	uint64_t expert_predicted, expert_pred_used, expert_pred_needed;
	/* per-expert precision: chosen experts computed from the high and the low copy, and
	 * the bytes the low ones did not need (high bundles' bytes - low bundles') */
	uint64_t expert_high, expert_low, expert_saved_bytes;
	/* expert columns (store version 5) under Top-K inside experts: missing expert
	 * bundles of which only the selected columns were read (past the cache) */
	uint64_t expert_part_reads;
};

struct as_swap_stats {
	uint64_t tokens;
	struct as_swap_layer_stats total;
	uint64_t budget_bytes, fixed_bytes, pool_bytes;
	uint64_t cancelled;  /* queued preloads dropped because a newer prediction replaced them */
	uint64_t checked;    /* bundles whose crc was checked at use (check_use) */
	uint64_t gap_bytes[SWAP_KIND_COUNT]; /* gap filling limit per kind in effect (0: off) */
	/* input channels the compute selected, and offered, per kind over all layers and
	 * tokens (the column sources; 0 in row mode): 1 - kept / offered is the sparsity
	 * realized, which varies with the text under thresholds */
	uint64_t kept[SWAP_KIND_COUNT], offered[SWAP_KIND_COUNT];
	double compute_s, wall_s;
};

struct as_swap_model;

/* Open a store and build the model and its engine. Errors: negative errno and one line
 * in err (-ENOSPC: budget below the minimum, which the message states). */
int as_swap_open(struct as_swap_model **out, const char *path,
		 const struct as_swap_params *p, char *err, size_t errlen);
/* The input channels [*lo, *hi) of `kind` that slice `slice` of n_slices holds: the
 * kind's channels cut into n_slices contiguous runs at multiples of 32 (the Q4_0 and
 * K-quant groups), so a run may be empty when a kind has few channels. */
void as_swap_slice(const struct swap_store_desc *d, uint32_t n_slices, uint32_t slice,
		   int kind, uint32_t *lo, uint32_t *hi);
void as_swap_close(struct as_swap_model *m);

/* True when path starts with the store magic. */
bool as_swap_is_store(const char *path);

/* What a budget is made of, for n_ctx positions: the resident part (tensors, KV cache,
 * activations), the engine's read buffers, the slots of every bundle; min is the smallest
 * budget accepted (resident + buffers + one layer group of slots), full what holding
 * everything takes (a 100% budget). */
struct as_swap_budget {
	uint64_t fixed, staging, slots_all, min, full;
};
int as_swap_budget_info(const char *path, const struct as_swap_params *p,
			struct as_swap_budget *b, char *err, size_t errlen);

/* Run token at pos (the KV cache holds 0..pos-1). want_logits: as_swap_logits() valid.
 * 0, -EINVAL (token), -ERANGE (pos) or a fetch error. */
int as_swap_forward(struct as_swap_model *m, int32_t token, uint32_t pos, bool want_logits);
/* Run tokens[0..n) at pos0.. as one batch (as_forward_batch): the union of the tokens'
 * Top-K fetched once per layer and op group, each token computed over its own selection,
 * so the logits are those of as_swap_forward token by token, bit for bit. The logits of
 * the last token when want_logits_last. 0 or as as_forward_batch. */
int as_swap_forward_batch(struct as_swap_model *m, const int32_t *tokens, uint32_t n,
			  uint32_t pos0, bool want_logits_last);
/* as_swap_params.batch as opened (clamped to the context), 0 or 1 when none. */
uint32_t as_swap_batch(const struct as_swap_model *m);
const float *as_swap_logits(const struct as_swap_model *m);
/* What made the last as_swap_forward() fail, as one line naming the layer and the bundle
 * kind (a crc32c mismatch: "... crc32c mismatch ..."); "" before any failure. */
const char *as_swap_error(const struct as_swap_model *m);

/* Channels the runtime keeps of n at sparsity s: round((1 - s) n), at least 1 (n > 0).
 * Anything that must select exactly as the runtime does (calibrate) calls this. */
uint32_t as_swap_topk_count(float s, uint32_t n);

uint32_t as_swap_n_vocab(const struct as_swap_model *m);
uint32_t as_swap_n_layers(const struct as_swap_model *m);
uint32_t as_swap_n_experts(const struct as_swap_model *m); /* per layer; 0: dense */
/* The precision planner in use (AS_XPREC_OFF without low copies) and its name ("off",
 * "low-weight", "miss"); as_expert_precision_from_name: the value or -EINVAL. */
enum as_expert_precision as_swap_expert_precision(const struct as_swap_model *m);
const char *as_expert_precision_name(enum as_expert_precision x);
int as_expert_precision_from_name(const char *name);
/* A store's experts used per token (its metadata's expert_used_count; 1 for a store
 * without experts or when it cannot be read, which the open refuses). */
uint32_t as_swap_store_experts_used(const struct swap_store *st);
/*
 * The precision planner from the next token on (the latency target's feedback): x and
 * for low-weight the experts kept high (1 .. k; 0: half of k). Only what is read and
 * computed changes, the cache split made at open stays. -EOPNOTSUPP when the model was
 * opened without the low kinds' slots (expert_precision off without expert_low_slots),
 * -EINVAL for a bad value.
 */
int as_swap_set_expert_precision(struct as_swap_model *m, enum as_expert_precision x,
				 uint32_t high);
/* Whether the store holds every expert also in a lower precision (version 4). */
bool as_swap_has_low_experts(const struct as_swap_model *m);
/* The experts are in the column layout (store version 5): Top-K inside experts reads
 * only a missing expert's selected columns. */
bool as_swap_expert_columns(const struct as_swap_model *m);
/* Which expert bundles a miss reads in part at the current expert sparsity (columns that
 * skip pages, swap_experts.c): bit 0 gate/up, bit 1 down; 0: whole bundles. */
unsigned as_swap_expert_partial(const struct as_swap_model *m);
/* A column store's expert caches' ghosts (swap_xghost.c) per kind (0 gate/up, 1 down):
 * the chosen experts' bundles looked up and how many a cache of the kind's slots would
 * have held had every miss been read whole; 0 and 0 without experts in columns. */
void as_swap_expert_ghost(const struct as_swap_model *m, int kind, uint64_t *lookups,
			  uint64_t *hits);
/* Why expert prediction is off although expert_predict did not say so: the expert cache
 * holds fewer gate/up bundles than two layers' chosen experts, or a gate/up miss is read
 * in part (as_swap_expert_partial), which a preload of the whole bundle would not save. */
enum as_xp_off { AS_XP_NOT_OFF = 0, AS_XP_OFF_CACHE, AS_XP_OFF_PARTIAL };
/* Layers ahead whose experts are predicted (0: off); *why (may be NULL): AS_XP_NOT_OFF, or
 * why the default turned it off. */
uint32_t as_swap_expert_predict(const struct as_swap_model *m, enum as_xp_off *why);
uint32_t as_swap_n_ctx(const struct as_swap_model *m);
/* The KV cache's type (as_swap_params.kv_type) and bytes (K and V, n_ctx positions) */
enum as_kv_type as_swap_kv_type(const struct as_swap_model *m);
uint64_t as_swap_kv_bytes(const struct as_swap_model *m);
uint32_t as_swap_group(const struct as_swap_model *m);
float as_swap_sparsity(const struct as_swap_model *m); /* mean over all ops */
/*
 * Every op's sparsity to s in [0, 1) from the next token on (the latency target's
 * feedback, activeswap/latency.h): the Top-K counts change and whether O and down are
 * requested whole is planned again; the cache split made at open and the gap limit stay.
 * -EINVAL outside [0, 1), -EOPNOTSUPP in row mode (sparsity 0 from the row copy).
 */
int as_swap_set_sparsity(struct as_swap_model *m, float s);
/*
 * The gap filling limit (bytes between two needed bundles read too; 0: off, capped at
 * the engine's largest read) from the next token on; only which bundles are read
 * changes, never a result. The limit in effect: as_swap_stats.gap_bytes. -EOPNOTSUPP in
 * row mode and for a limit > 0 on a store whose layout cannot fill gaps (group > 1).
 */
int as_swap_set_gap(struct as_swap_model *m, uint64_t gap_bytes);
/* The embedded metadata as a GGUF (tokenizer, hyper-parameters); owned by m. */
const struct gguf_file *as_swap_meta(const struct as_swap_model *m);
/* The share of kind's input channels (the same in every layer) held in DRAM for the whole
 * run: 1 when the budget pins everything, the static hot set's prefix under the STATIC
 * policy (auto), 0 with a dynamic cache (contextual, lru), in row mode or for a kind
 * outside [0, SWAP_KIND_COUNT). What is not resident is what a token reads from flash. */
double as_swap_resident_share(const struct as_swap_model *m, int kind);
/* One layer's bytes of kind's bundles in the store (this slice's channels; 0 for a kind
 * outside [0, SWAP_KIND_COUNT)). */
uint64_t as_swap_kind_bytes(const struct as_swap_model *m, int kind);
/* The engine; NULL in row mode (every level 0 over a store with a row copy). */
struct swap_engine *as_swap_engine(struct as_swap_model *m);
/* Row mode: every sparsity level is 0 and the store has a row copy (`convert --rows`), so
 * the layers are computed from it with the dense runtime's kernels, bit-identical to the
 * dense runtime on the source GGUF (Documentation/swapping.md, "Sparsity 0: the row
 * copy"). Layers beyond the budget are streamed through two buffers. */
bool as_swap_row_mode(const struct as_swap_model *m);
/* Is name the GGUF name of a layer matrix (blk.N.attn_q.weight ... blk.N.ffn_down.weight):
 * a matrix convert cuts into columns, and a tensor of the row copy? */
bool as_swap_is_matrix_name(const char *name);
/* The bytes of a store's row copy as held in memory: 0, -ENOENT (none) or -EINVAL (partial
 * or malformed: one line in err). */
int as_swap_row_copy_bytes(const struct swap_store *st, uint64_t *bytes, char *err,
			   size_t errlen);
/* The engine's backend and policy names, or "rows-odirect"/"rows-buffered" and "rows". */
const char *as_swap_backend_name(const struct as_swap_model *m);
const char *as_swap_policy_name(const struct as_swap_model *m);
/* The policy of the expert bundles' slots ("table" when all are pinned, "rows" never:
 * a store with experts has no row copy). */
const char *as_swap_expert_policy_name(const struct as_swap_model *m);
/* The engine's statistics, or in row mode the row reader's (reads, bytes, stalls; hits
 * and misses count op groups of resident and streamed layers). */
void as_swap_io_stats(struct as_swap_model *m, struct swap_stats *out);
int as_swap_io_layer_stats(struct as_swap_model *m, uint32_t layer,
			   struct swap_layer_stats *out);

void as_swap_stats(struct as_swap_model *m, struct as_swap_stats *out);
int as_swap_layer_stats(struct as_swap_model *m, uint32_t layer,
			struct as_swap_layer_stats *out);

/* Read per-layer levels written by `activeswap calibrate` ("layers N" then lines
 * "LAYER KIND LEVEL", KIND one of attn_in attn_out ffn_in ffn_out, '#' comments) into
 * out[n_layers * SWAP_KIND_COUNT]. -EINVAL (one line in err) for a malformed file or
 * another layer count; every entry must be given exactly once. */
int as_swap_load_levels(const char *path, uint32_t n_layers, float *out, char *err,
			size_t errlen);
/* The same, and the thresholds into thr[n_layers * SWAP_KIND_COUNT] when thr is not NULL:
 * a file with thresholds says "format 2" before its entries, each "LAYER KIND LEVEL
 * THRESHOLD" (older readers refuse it at that line). -ENODATA (one line in err) when thr
 * is given and the file has none. as_swap_load_levels reads such a file's levels only. */
int as_swap_load_levels_thr(const char *path, uint32_t n_layers, float *out, float *thr,
			    char *err, size_t errlen);

/*
 * Thresholds from activation histograms (`calibrate --sparsity-mode threshold`): hist has
 * AS_THR_BINS counts, bin b for the |x| whose IEEE bits >> 16 are b (relative width under
 * 1%). as_thr_hist_add counts x[0..n); as_thr_quantile returns the threshold (a bin's lower
 * edge) below which the fraction of the counted |x| is closest to s (0 for s <= 0 or an
 * empty histogram), so that keeping |x| >= it leaves about 1 - s of them.
 */
#define AS_THR_BINS 32768u
void as_thr_hist_add(uint64_t *hist, const float *x, size_t n);
float as_thr_quantile(const uint64_t *hist, double s);

/*
 * Closed-form level allocation from measured sensitivity curves (`activeswap calibrate`):
 * cost[g * n_points + i] is group g's measured error with its level at grid[i] (grid
 * ascending in [0, 1), grid[0] = 0), w[g] > 0 its weight. Fills out[n_groups] with the
 * levels that minimise the sum of the groups' costs (each curve replaced by its lower
 * convex hull, levels between grid points interpolated) under sum(w * out) = target *
 * sum(w): from all groups at 0, the hull segments are taken in order of cost per unit of
 * weighted level (ties: lower group first), the last one in part. -EINVAL for a target
 * outside [0, grid[n_points - 1]], a non-finite cost, a weight <= 0 or a bad grid.
 */
int as_levels_allocate(uint32_t n_groups, uint32_t n_points, const float *grid,
		       const double *cost, const double *w, double target, float *out);

/*
 * Flash cost weights of the (layer, kind) groups (`activeswap calibrate --store`): group
 * (l, k) weighs bytes[k] (one layer's bundles of kind k) times the share of them not
 * resident, 1 - resident[k] (as_swap_resident_share at the budget), at least
 * AS_FLASH_FLOOR: the bytes a token reads per unit of its level's keep, so that levels
 * averaged with these weights keep the flash bytes of a uniform level at that average.
 * (The floor keeps a wholly resident kind's weight positive: an allocation then keeps
 * nearly all of its channels, which costs compute only.) Fills w[n_layers *
 * SWAP_KIND_COUNT]; -EINVAL for n_layers 0, a byte count <= 0 or a share outside [0, 1].
 */
#define AS_FLASH_FLOOR 0.001
int as_levels_flash_weights(uint32_t n_layers, const double *bytes, const double *resident,
			    double *w);

/* ---- cost model (runtime/costmodel.c) ------------------------------------------------ */

/*
 * Picks sparsity and preload depth from the budget, the flash bandwidth and the compute
 * speed (after ActiveFlow): the sparsity is what makes the active weights fit the cache,
 * 1 - cache / weights, rounded up to 0.05 and never above max_sparsity; the group is the
 * largest preload depth whose bytes in flight stay within a quarter of the cache (so
 * preloads do not evict what the current layers need) and whose reads take no longer than
 * the compute of the layers they run under plus one layer. Estimates assume reads
 * overlap compute and, for random weights, a hit rate equal to the cached fraction.
 */
#define AS_COST_MAX_POINTS 16
#define AS_COST_STEP 0.05 /* the sparsity grid of the chosen settings */
struct as_cost_inputs {
	uint64_t cache_bytes;  /* bundle slots the budget leaves */
	uint64_t weight_bytes; /* all bundles of the store */
	uint32_t n_layers;
	double flash_bps;      /* measured read bandwidth, bytes/s */
	double compute_bps;    /* sparse kernel speed over the threads, bytes/s */
	/* seconds per byte of uncached channels (needed or not) at the sparsity, e.g. from
	 * the gap replay (as_gap_replay: t / bytes); 0 = active bytes at flash_bps */
	double read_s_per_byte;
	/* optional, overrides read_s_per_byte: its value at n_points sparsities (ascending),
	 * e.g. from as_replay_read_cost(), interpolated linearly between them */
	uint32_t n_points;
	float point_sparsity[AS_COST_MAX_POINTS];
	double point_s_per_byte[AS_COST_MAX_POINTS];
	double fixed_s;        /* per token beyond the swapped matrices (0: none) */
	float max_sparsity;
};
struct as_cost_choice {
	float sparsity;
	uint32_t group;
	double hit_rate, io_s, compute_s, tokens_per_s; /* estimates per token */
};
/* The time per uncached byte of channels at sparsity s: the replayed points interpolated
 * linearly (the nearest end outside them), else read_s_per_byte (0: none, the bandwidth
 * model's). */
double as_cost_read_s_per_byte(const struct as_cost_inputs *in, double s);
/* sparsity < 0 / group == 0: choose; otherwise keep the given value and estimate. */
void as_cost_choose(const struct as_cost_inputs *in, float sparsity, uint32_t group,
		    struct as_cost_choice *out);
/*
 * Latency target (ELMS): the lowest sparsity of 0, AS_COST_STEP, 2 AS_COST_STEP, ...,
 * max_sparsity (itself the last) whose predicted time per token, 1 / tokens_per_s, is at
 * most target_s; the group as as_cost_choose() sets it (0: chosen, else kept). True when
 * one meets it; false when none does, and *out is then the fastest allowed setting (the
 * lowest sparsity of the equally fast ones). A larger target never gives a higher
 * sparsity.
 */
bool as_cost_choose_latency(const struct as_cost_inputs *in, double target_s,
			    uint32_t group, struct as_cost_choice *out);
/*
 * Experts in the cost model (a store with experts and low copies, the auto choice of the
 * precision planner; Documentation/swapping.md, "auto picks the precision"): per token,
 * each layer's k chosen experts are read whole when not cached, hit rates being the
 * cached shares of each kind's bundles (random routing: no locality, no prediction):
 *   off          every expert from its high copy;
 *   low-weight   the first `high` (by weight) high, the others from the low copy;
 *   miss         an expert high when both its high bundles are cached (the smaller of
 *                the two shares), else read (unless cached) and computed low.
 * Bytes are the expected flash bytes of the experts; io_s adds attn_io_s, compute_s the
 * attention's compute bytes to the experts' (the high copy's for both: the kernels' time
 * follows the weights, not their encoding); s = max(io_s, compute_s)
 * as as_cost_choose() overlaps them. low_share: the expected share of the chosen experts
 * computed low; acc: a relative accuracy cost, low_share times AS_COST_MISS_ACC for miss
 * (measured: miss costs about twice low-weight's KL per expert computed low, benchmarks.md
 * "Per-expert precision").
 */
#define AS_COST_MISS_ACC 2.0
struct as_cost_expert_inputs {
	uint32_t n_layers, k;        /* layers with experts, experts chosen per token */
	double in_bytes[2], out_bytes[2]; /* one expert's gate/up and down bundles: [0] high,
					   * [1] low copy */
	double in_share[2], out_share[2]; /* the shares of those bundles cached, in [0, 1] */
	double attn_io_s;            /* per token, the attention columns' reads */
	double attn_compute_bytes;   /* per token, the attention columns computed on */
	double flash_bps, compute_bps; /* bytes/s (0: 1e9, 1e10 as as_cost_choose) */
	/* the share of a missing high gate/up and down bundle read, and of an expert's
	 * weights computed on (0: 1, whole bundles; expert columns under expert sparsity:
	 * less, as_cost_column_read_share) */
	double in_read, out_read, compute_share;
};
/* The expected share of a bundle of columns of stride bytes read when a random fraction
 * keep of them is selected: the share of its 4 KiB pages (reads cover whole pages) that
 * one of the 1 + 4096 / stride columns a page touches is selected in,
 * 1 - (1 - keep)^(1 + 4096 / stride). */
double as_cost_column_read_share(double keep, double stride);
/* The STATIC policy's order of the kinds for the cache (swap_engine_params.kind_prio):
 * by the read bytes a cached byte of each of n kinds saves per token (saved[k]), kinds
 * within 0.005 of each other equal; the open (sw_plan_reads) and the precision planner's
 * prediction of the carve both rank with it. */
void as_cost_kind_prio(int n, const double *saved, uint8_t *prio);
/* A miss of an expert kind is read in part when that share is at most this, else whole
 * (swap_experts.c; the cost model counts it so). */
#define AS_COST_PART_MAX 0.9
/* The share of a missing expert bundle of columns of stride bytes read under a selection
 * of keep of them: as_cost_column_read_share, or 1 (read whole) above AS_COST_PART_MAX,
 * with keep outside (0, 1), or when every read is checked (verify: a bundle's crc32c
 * covers all of it). The runtime (sw_expert_shares) and the cost model both ask it. */
double as_cost_expert_read_share(double keep, double stride, bool verify);
struct as_cost_expert_est {
	double bytes, low_share, io_s, compute_s, s, acc;
};
void as_cost_experts(const struct as_cost_expert_inputs *in, enum as_expert_precision x,
		     uint32_t high, struct as_cost_expert_est *out);
/* Gap filling limit when the replay below cannot run. */
#define AS_GAP_DEFAULT (32u << 10)
/*
 * Gap filling limit by replay: on a group-1 store, through a libswap engine of the
 * smallest budget with queue depth qd and the given backend (pool not locked), reads a
 * random Top-K keeping the fraction `keep` of the first 16 MiB of channels of every column
 * kind of a layer (not a store's expert kinds: an expert is read whole when a router
 * picks it) the way the decode does (gaps of at most G bytes between needed bundles
 * requested too, the needed ones acquired 256 at a time and computed on with the sparse
 * kernels on tp, which may be NULL) for each G of 0 (no filling), 8, 16, 32, 64 and
 * 128 KiB, in alternating rounds on successive layers for about `seconds` (at least two
 * rounds). *gap is the G that took the least time in all; *out (optional) the times and
 * the bytes of channels (needed or not) each candidate covered, so t[c] / bytes is the
 * time per byte of uncached channels at this sparsity: what the CLI's estimate uses.
 * The engine's own cost per read (submission, completion, copy, wake-ups) is part of
 * what is measured, which a raw device curve would miss. 0 or a negative errno
 * (-EINVAL: not a group-1 store).
 */
#define AS_GAP_CANDIDATES 6
struct as_gap_replay {
	double t[AS_GAP_CANDIDATES]; /* seconds, G = 0, 8, 16, 32, 64, 128 KiB */
	double bytes;                /* channel bytes each candidate covered */
};
int as_choose_gap_bytes(const char *path, double keep, uint32_t qd,
			enum swap_backend_kind backend, struct as_threadpool *tp, double seconds,
			uint64_t *gap, struct as_gap_replay *out);
/*
 * The same replay at n (at most AS_COST_MAX_POINTS) sparsities with one gap limit
 * (0: no filling): s_per_byte[i] is the time per byte of uncached channels at
 * sparsity[i] (each in [0, 1)), the cost model's point_s_per_byte. 0 or a negative errno
 * (-EINVAL: not a group-1 store, or bad arguments).
 */
int as_replay_read_cost(const char *path, const float *sparsity, uint32_t n,
			uint64_t gap_bytes, uint32_t qd, enum swap_backend_kind backend,
			struct as_threadpool *tp, double seconds, double *s_per_byte);
/* Random O_DIRECT reads of `bs` bytes from path by 4 threads for about `seconds`. */
double as_measure_flash_bps(const char *path, uint64_t bs, double seconds);
/* Sparse Q4_0 gather-accumulate speed (bytes of columns per second) with tp. */
double as_measure_compute_bps(struct as_threadpool *tp, double seconds);

#endif

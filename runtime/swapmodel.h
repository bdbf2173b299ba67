/* SPDX-License-Identifier: MIT */
/*
 * The store-backed model (activeswap/swap.h), internal to the runtime. Its files, one job
 * each:
 *   swap_open.c     open and close: the shape, the resident tensors, the source chosen
 *   swap_place.c    budget maths and placement: what the budget holds, the engine's
 *                   parameters, pinning everything, the static hot set, gap filling
 *   swap_sources.c  the weight sources of the forward pass: the row copy, the
 *                   all-resident column table, the swapping engine (with preloading)
 *   swap_experts.c  their mixture-of-experts hooks (expert bundles, dense kernels)
 *   swap_stats.c    getters and statistics
 *   swap_levels.c   the levels file of `activeswap calibrate`
 * The forward pass itself is forward.c's, the same as the dense model's.
 */
#ifndef ACTIVESWAP_SWAPMODEL_H
#define ACTIVESWAP_SWAPMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "activeswap/forward.h"
#include "activeswap/swap.h"
#include "libswap.h"

#define SW_DEF_CHUNK 256u
#define SW_N_PRED 2 /* predicted kinds: ATTN_IN, FFN_IN */
/* the tags of expert predictions (swap_experts.c), apart from the Top-K preloads' */
#define SW_XP_TAG (1ull << 62)

/* One matrix of a bundle kind. */
struct sw_mat {
	enum ggml_type type;
	uint32_t out;
	uint64_t off; /* byte offset of this matrix's column inside the bundle */
	enum as_op op;
	uint32_t in;
	bool kq;      /* K-quant codes: each layer's scale table in kqt */
};

/*
 * swap_xghost.c: the ghost of an expert cache, the bundle ids (layer * n_expert + expert)
 * a cache of cap slots would hold, without their bytes, evicting as the expert policy
 * does (the contextual policy's decayed counters, or LRU): whether the chosen experts
 * would hit it if every miss were read whole and cached. hit_rate is decayed: each use
 * moves it 1/SW_XGHOST_WINDOW of the way to 1 (a hit) or 0.
 */
#define SW_XGHOST_WINDOW 64.0
struct sw_xghost {
	uint32_t n_ids, cap, n;
	bool lru;
	double *score;  /* [n_ids]: decayed use counter (LRU: the last use's clock) */
	uint32_t *pos;  /* [n_ids]: index in res, UINT32_MAX when not held */
	uint32_t *res;  /* [cap]: the ids held */
	double inc;     /* what a use adds (divided by the decay per token) */
	uint64_t token, clock;
	double hit_rate;
	uint64_t lookups, hits;
};
int sw_xghost_init(struct sw_xghost *g, uint32_t n_ids, uint32_t cap, bool lru);
void sw_xghost_free(struct sw_xghost *g);
/* A chosen expert's bundle id at a token: whether the ghost held it; now it does. */
bool sw_xghost_use(struct sw_xghost *g, uint32_t id, uint64_t token);

struct as_swap_model {
	struct swap_store *st;
	struct swap_engine *eng; /* NULL in row mode */
	struct as_rows *rows;    /* row mode: every level 0 and a row copy (swaprows.h) */
	struct as_weight lw[AS_OP_COUNT]; /* row mode: the current layer's matrices */
	struct gguf_file *meta;
	struct as_threadpool *tp;

	/* The model's shape (rm.hp, the only copy) and its resident tensors (embeddings,
	 * norms, output head); rm.layers[].w stay unset: the matrices come from the source. */
	struct as_model rm;
	struct as_state *s; /* activations, KV cache and the forward pass over the source */

	uint32_t n_ctx, group, chunk;
	enum as_kv_type kv_type;
	bool no_preload, check_use;
	bool verify;          /* crc32c of resident tensors at open (SWAP_F_VERIFY) */
	bool verify_reads;    /* SWAP_F_VERIFY: the engine checks every bundle it reads */
	char errmsg[224];     /* the last failed token, described (as_swap_error()) */
	uint64_t cancelled, checked;
	float *sp;      /* [n_layer][SWAP_KIND_COUNT] */
	uint32_t *topk; /* [n_layer][SWAP_KIND_COUNT]: channels kept, from sp */
	float *thr;     /* [n_layer][SWAP_KIND_COUNT] thresholds, or NULL: Top-K */
	uint64_t kept[SWAP_KIND_COUNT], offered[SWAP_KIND_COUNT]; /* channels selected */
	struct sw_mat mats[SWAP_KIND_MAX][SWAP_MAX_MATS];
	uint32_t n_mats[SWAP_KIND_MAX];

	/* memory of the resident tensors that rm points into */
	void *tok_embd, *output; /* output == tok_embd when tied */
	float *out_norm, *norms; /* norms: [n_layer][2][dim] attn, ffn */
	void **extra;            /* the architecture's vectors (biases, Q/K norms, rope_freqs) */
	uint32_t n_extra;

	/* the column sources' buffers */
	float *scratch, *xs;
	uint32_t *pidx;
	struct swap_key *keys, *mkeys, *fkeys;
	uint32_t gap[SWAP_KIND_COUNT]; /* channels of gap filled between needed bundles */
	uint64_t gap_bytes[SWAP_KIND_COUNT];
	/* what sw_plan_gaps() needs after open: the engine's largest read, whether the
	 * store's layout lets gaps be filled (group 1) and whether O and down may be
	 * requested whole (STATIC policy, preloading) */
	uint64_t max_read;
	bool gap_ok, whole_ok;
	/* kinds off the residual stream (O, down) whose uncached channels gap filling reads
	 * (nearly) all anyway: requested whole at the layer's start, so their reads overlap
	 * the compute before their input is known */
	bool whole[SWAP_KIND_COUNT];
	const void **ptrs, **mptrs, **colp;
	/* K-quant columns: the selection is cut between 32-channel sub-blocks only, and the
	 * scale tables are resident ([n_layer][AS_OP_COUNT], NULL for other matrices) */
	bool kq;
	void **kqt;
	uint8_t *kqtyp;
	uint32_t *chs; /* channels of the chunk being computed */
	uint8_t *pinned;
	/* a batch (engine_linear_batch): the union of its selections, as a mask, its keys,
	 * and the bundle of each of its channels while held */
	uint8_t *umask;
	struct swap_key *ukeys;
	const void **chan;
	/* the union product of a batch (swap_union.c, with a batch scratch and Q4_0
	 * columns): the masked activations [ucap][slots], each channel's slot, the
	 * union's groups (first slots ugs, columns ugm: sparse_gemm.h), its columns per
	 * matrix [SWAP_MAX_MATS][slots] and a scratch (AS_SG_SCRATCH) for each of upanels
	 * threads; allocated at open for the reserved batch, grown for a larger one */
	float *uxm;
	uint8_t *upanel;
	uint32_t *upos, *ugs, *ugm;
	const void **ucols;
	uint32_t upanels, ucap;

	/* preload bookkeeping */
	uint32_t *stamp;      /* [n_layer][SW_N_PRED][dim]: prediction sequence number */
	uint32_t *pred_seq;   /* [n_layer][SW_N_PRED] */
	uint64_t *pred_tok;   /* [n_layer][SW_N_PRED]: token + 1 of that prediction */
	uint32_t *pred_n;     /* [n_layer][SW_N_PRED] */
	uint32_t seq;
	uint64_t last_tag;

	/* expert prediction (swap_experts.c): layers ahead (0: off); scratch; per layer the
	 * experts last predicted for it (xp_set [n_layer][n_expert_used]), for which token
	 * + 1 (xp_tok) and under which tag (xp_tag, 0: nothing queued) */
	uint32_t xp_ahead;
	enum as_xp_off xp_auto_off; /* why the default turned it off (as_swap_expert_predict) */
	float *xp_x, *xp_p, *xp_w;
	uint32_t *xp_ids, *xp_set;
	uint64_t *xp_tok, *xp_tag, xp_seq;

	/* per-expert precision (swap_experts.c): the planner, the experts kept high among
	 * the top-k (low-weight), and whether each expert of the layer being computed uses
	 * its low copy ([n_expert], set when the router has chosen) */
	enum as_expert_precision xprec;
	uint32_t xhigh;
	uint8_t *xlow;

	/* expert columns (a version 5 store, swap_experts.c): the bundles hold one column
	 * of each matrix after the other; an expert product's column pointers [2][max in]
	 * and activations [max in]; a miss under Top-K inside experts reads the selected
	 * columns (xparts [max in]) packed into xbuf (grown to xbuf_cap bytes) */
	bool xcols;
	/* the chosen experts' bundles that were in DRAM when the router chose, pinned from
	 * then until they are computed (a preload for a later layer must not evict them):
	 * xpn keys and their bytes */
	struct swap_key *xpk;
	const void **xpp;
	uint32_t xpn;
	const void **xcolp;
	float *xcx;
	struct swap_part *xparts;
	uint8_t *xbuf;
	size_t xbuf_cap;
	/* which expert kinds a miss is read in part for in the layer being computed (bit 0
	 * gate/up, bit 1 down; set when its router has chosen); the gate/up of missing
	 * experts read in part ahead, into free slots lent by the engine (experts_chosen):
	 * the layer's selection of the experts' input (a copy: xsel_idx, xsel_n), its parts
	 * at their places in the bundle (xparts_in), per started read (xrdn of them) its
	 * handle, expert, slot and the slot's bytes */
	unsigned xpart;
	/* per expert kind (gate/up, down): the share of a bundle a read of its selected
	 * columns covers (as_cost_expert_read_share; 1, or 0 before the open set it: read
	 * whole), set at open by sw_expert_shares */
	double xshare[2];
	/* per expert kind (gate/up, down) of a column store with an engine: the ghost of its
	 * expert cache (swap_xghost.c), which decides whether a miss is read in part */
	struct sw_xghost xg[2];
	uint32_t *xsel_idx;
	uint32_t xsel_n;
	struct swap_part *xparts_in;
	struct swap_read **xrd;
	uint32_t *xrde;
	int32_t *xslot;
	const uint8_t **xslotp;
	uint32_t xrdn;

	/* all-resident mode: every bundle pinned once at open, looked up without the engine */
	const void **all;
	uint64_t *all_off; /* [n_layer][SWAP_KIND_MAX] first index in all */

	/* tensor parallelism: the slice's input channels [lo, hi) of every kind (the whole
	 * kind without slices) and the sum over the slices (NULL: one process) */
	uint32_t lo[SWAP_KIND_MAX], hi[SWAP_KIND_MAX]; /* unused low experts: 0, 0 */
	/* channels of every layer's slice held for the whole run: the static hot set's
	 * prefix, or all of them when everything is pinned (as_swap_resident_share) */
	uint32_t resident[SWAP_KIND_COUNT];
	int (*reduce)(void *arg, float *y, size_t n);
	void *reduce_arg;
	float *red; /* a group's outputs side by side: one reduce per group */

	uint64_t token;
	uint32_t batch_n;   /* tokens of the batch in progress (counted at token_end) */
	uint32_t batch;     /* as_swap_params.batch: positions of the reserved batch scratch */
	double t_token;     /* when the current token began */
	uint64_t stall0;    /* row mode: the reader's stall total then (the engine keeps its own) */
	struct as_swap_layer_stats *ls;
	uint64_t fixed_bytes, budget_bytes, pool_bytes;
	double compute_s, wall_s;
};

/* The widest bundle input: dim, hidden or the attention width (O's input). */
static inline size_t sw_max_in(const struct as_hparams *hp)
{
	size_t w = hp->dim > hp->hidden ? hp->dim : hp->hidden;

	return as_q_dim(hp) > w ? as_q_dim(hp) : w;
}

static inline uint32_t sw_kv_dim(const struct as_swap_model *m)
{
	return m->rm.hp.n_head_kv * m->rm.hp.head_dim;
}

/* The slice's part of a selection sorted by channel: the sub-run in [lo[kind], hi[kind]). */
static inline struct as_sel sw_slice_sel(const struct as_swap_model *m, int kind,
					 const uint32_t *idx, uint32_t n)
{
	uint32_t a = 0, b;

	while (a < n && idx[a] < m->lo[kind])
		a++;
	for (b = a; b < n && idx[b] < m->hi[kind]; b++)
		;
	return (struct as_sel){ idx + a, b - a };
}

/* swap_resident.c: the resident tensors (checked shapes, crc32c when m->verify) and the
 * K-quant scale tables, read at open. 0 or a negative errno with a line in err. */
int sw_load_tensors(struct as_swap_model *m, char *err, size_t errlen);
int sw_load_kq_tables(struct as_swap_model *m, char *err, size_t errlen);

/* swap_place.c */
uint64_t sw_fixed_bytes(const struct swap_store *st, uint32_t n_ctx, uint32_t batch,
			int threads, enum as_kv_type kv_type);
uint64_t sw_slot_records(const struct swap_store *st, uint64_t pool);
uint32_t sw_default_ctx(const struct swap_store *st, uint32_t want);
void sw_engine_params(const struct swap_store *st, const struct as_swap_params *p,
		      struct swap_engine_params *ep);
void sw_budget(const struct swap_store *st, const struct as_swap_params *p,
	       struct as_swap_budget *b);
int sw_pin_all(struct as_swap_model *m);
int sw_static_prefix(struct as_swap_model *m, const uint64_t *kind_slots, uint32_t kinds);
/* Bit k set: kind k's slots are ranked by the STATIC policy (its hot set is loaded). */
uint32_t sw_static_kinds(const struct swap_store *st, const struct as_swap_params *p);
void sw_plan_reads(struct as_swap_model *m, const struct as_swap_params *p,
		   struct swap_engine_params *ep);
/* The gap filling limit (0: off) and the whole-kind requests, for the sparsities now:
 * at open and whenever the latency feedback moves either (never changes a result). */
void sw_plan_gaps(struct as_swap_model *m, uint64_t gap_bytes);
void sw_plan_whole(struct as_swap_model *m);

/* swap_experts.c: the mixture-of-experts hooks of the table and engine sources */
int sw_table_expert_linear(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
			   const float *x, const struct as_sel *sel, float *const *ys);
void sw_table_experts_chosen(void *ctx, uint32_t layer, const uint32_t *ids, const float *w,
			     uint32_t n, const float *x, const struct as_sel *sel);
void sw_engine_experts_chosen(void *ctx, uint32_t layer, const uint32_t *ids, const float *w,
			      uint32_t n, const float *x, const struct as_sel *sel);
/* The reads experts_chosen started and the pins it took that were not used (a token that
 * ended on an error): waited for, the lent slots returned, unpinned. */
void sw_experts_drain(struct as_swap_model *m);
/* The column read shares of the expert kinds (m->xshare) from the store, the expert
 * sparsity and the engine's flags; once at open, when the expert sparsity is set. */
void sw_expert_shares(struct as_swap_model *m);
int sw_engine_expert_linear(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
			    const float *x, const struct as_sel *sel, float *const *ys);

/* swap_union.c: a batch's group as one product over the union of its selections, held
 * in m->chan[m->pidx[0 .. k)] (sparse_gemm.h). sw_union_ok: the group's columns allow
 * it (Q4_0). sw_union_bytes: the scratch, in sw_fixed_bytes. */
uint64_t sw_union_bytes(uint64_t wide, uint32_t batch, int threads);
int sw_union_alloc(struct as_swap_model *m);
void sw_union_free(struct as_swap_model *m);
bool sw_union_ok(const struct as_swap_model *m, int kind);
int sw_union_product(struct as_swap_model *m, uint32_t layer, int kind, const float *X,
		     uint32_t n, const struct as_sel *sels, uint32_t k, float *const *Ys);

/* swap_sources.c: the source for m as opened (row copy, all-resident table or engine) */
struct as_wsource sw_source(struct as_swap_model *m);
/* Describe error r of (layer, kind) in buf (the engine's failed key when it has one);
 * kind < 0: the row copy. */
void sw_describe_error(struct as_swap_model *m, int r, uint32_t layer, int kind, char *buf,
		       size_t len);

#endif

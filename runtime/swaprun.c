// SPDX-License-Identifier: MIT
/*
 * Swapping inference: the Llama forward pass over a store through libswap, with Top-K
 * activation sparsity, cross-layer preloading and on-demand fetches (activeswap/swap.h,
 * Documentation/swapping.md).
 *
 * The dense runtime (model.c) maps a whole GGUF; here the matrices exist only as column
 * bundles in the engine's slots, so the per-op product is a gather-accumulate over the
 * Top-K channels (sparse.c). Attention, RoPE and the norms follow model.c's definitions.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/attention.h"
#include "activeswap/gguf.h"
#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "swaprows.h"

#define DEF_CHUNK 256u
#define N_PRED 2 /* predicted kinds: ATTN_IN, FFN_IN */

struct mat {
	enum ggml_type type;
	uint32_t out;
	uint64_t off; /* byte offset of this matrix's column inside the bundle */
};

struct as_swap_model {
	struct swap_store *st;
	struct swap_engine *eng; /* NULL in row mode */
	struct as_rows *rows;    /* row mode: every level 0 and a row copy (swaprows.h) */
	struct as_weight lw[AS_OP_COUNT]; /* row mode: the current layer's matrices */
	struct gguf_file *meta;
	struct as_threadpool *tp;

	uint32_t dim, hidden, n_layers, n_heads, n_kv, head_dim, kv_dim, n_rot, vocab;
	float eps, rope_base;
	uint32_t n_ctx, group, chunk;
	bool no_preload, check_use;
	uint64_t cancelled, checked;
	float *sp; /* [n_layers][SWAP_KIND_COUNT] */
	uint32_t *topk; /* [n_layers][SWAP_KIND_COUNT]: channels kept, from sp */
	struct mat mats[SWAP_KIND_COUNT][SWAP_MAX_MATS];
	uint32_t n_mats[SWAP_KIND_COUNT];

	/* resident tensors */
	enum ggml_type tok_type, out_type;
	uint64_t tok_row_bytes;
	void *tok_embd, *output; /* output == tok_embd when tied */
	float *out_norm, *norms; /* norms: [n_layers][2][dim] attn, ffn */

	/* activations */
	float *x, *xb, *xb2, *hb, *hb2, *q, *att, *rope, *kc, *vc, *logits, *scratch, *xs;
	uint32_t *idx, *pidx;
	struct swap_key *keys, *mkeys, *fkeys;
	uint32_t gap[SWAP_KIND_COUNT]; /* channels of gap filled between needed bundles */
	uint64_t gap_bytes[SWAP_KIND_COUNT];
	/* kinds off the residual stream (O, down) whose uncached channels gap filling reads
	 * (nearly) all anyway: requested whole at the layer's start, so their reads overlap
	 * the compute before their input is known */
	bool whole[SWAP_KIND_COUNT];
	const void **ptrs, **mptrs, **colp;
	uint8_t *pinned;

	/* preload bookkeeping */
	uint32_t *stamp;      /* [n_layers][N_PRED][dim]: prediction sequence number */
	uint32_t *pred_seq;   /* [n_layers][N_PRED] */
	uint64_t *pred_tok;   /* [n_layers][N_PRED]: token + 1 of that prediction */
	uint32_t *pred_n;     /* [n_layers][N_PRED] */
	uint32_t seq;
	uint64_t last_tag;

	/* all-resident mode: every bundle pinned once at open, looked up without the engine */
	const void **all;
	uint64_t *all_off; /* [n_layers][SWAP_KIND_COUNT] first index in all */

	uint64_t token;
	struct as_swap_layer_stats *ls;
	uint64_t fixed_bytes, budget_bytes, pool_bytes;
	double compute_s, wall_s;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool as_swap_is_store(const char *path)
{
	char magic[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool r;

	if (fd < 0)
		return false;
	r = pread(fd, magic, 8, 0) == 8 && !memcmp(magic, "ASWSTORE", 8);
	close(fd);
	return r;
}

/* ---- loading ---------------------------------------------------------------------- */

static int check_hparams(struct as_swap_model *m, const struct swap_store_desc *d, char *err,
			 size_t errlen)
{
	const struct swap_hparams *hp = &d->hp;
	uint32_t n_rot;

	if (!hp->dim || !hp->hidden || !hp->n_heads || !hp->n_kv_heads || !hp->vocab ||
	    hp->dim % hp->n_heads || hp->n_heads % hp->n_kv_heads || !d->n_layers ||
	    hp->dim > (1u << 20) || hp->hidden > (1u << 22) || hp->vocab > (1u << 24) ||
	    d->n_layers > 4096 || (hp->dim / hp->n_heads) % 2) {
		snprintf(err, errlen, "store: bad hyper-parameters (dim %u, hidden %u, heads "
			 "%u/%u, vocab %u, layers %u)", hp->dim, hp->hidden, hp->n_heads,
			 hp->n_kv_heads, hp->vocab, d->n_layers);
		return -EINVAL;
	}
	m->dim = hp->dim;
	m->hidden = hp->hidden;
	m->n_layers = d->n_layers;
	m->n_heads = hp->n_heads;
	m->n_kv = hp->n_kv_heads;
	m->head_dim = hp->dim / hp->n_heads;
	m->kv_dim = m->n_kv * m->head_dim;
	m->vocab = hp->vocab;
	m->eps = hp->rms_eps > 0 && hp->rms_eps < 1 ? hp->rms_eps : 1e-5f;
	m->rope_base = hp->rope_theta >= 1 ? hp->rope_theta : 10000.0f;
	m->n_rot = m->head_dim;
	if (m->meta && !gguf_get_u32(m->meta, "llama.rope.dimension_count", &n_rot)) {
		if (n_rot < 2 || n_rot > m->head_dim || n_rot % 2) {
			snprintf(err, errlen, "store: bad rope.dimension_count %u", n_rot);
			return -EINVAL;
		}
		m->n_rot = n_rot;
	}
	/* bundle kinds must have the shapes of a Llama layer */
	{
		const uint32_t in[SWAP_KIND_COUNT] = { m->dim, m->dim, m->dim, m->hidden };
		const uint32_t nm[SWAP_KIND_COUNT] = { 3, 1, 2, 1 };
		const uint32_t outs[SWAP_KIND_COUNT][3] = {
			{ m->dim, m->kv_dim, m->kv_dim }, { m->dim }, { m->hidden, m->hidden },
			{ m->dim } };

		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			const struct swap_kind_desc *kd = &d->kinds[k];
			uint64_t off = 0;

			if (kd->in != in[k] || kd->n_mats != nm[k])
				goto bad;
			for (uint32_t i = 0; i < nm[k]; i++) {
				enum ggml_type t = (enum ggml_type)kd->mats[i].type;
				uint64_t need;

				if (kd->mats[i].out != outs[k][i] || !as_sparse_type_ok(t))
					goto bad;
				need = as_col_bytes(t, kd->mats[i].out);
				if (!need || kd->mats[i].col_bytes < need)
					goto bad;
				m->mats[k][i].type = t;
				m->mats[k][i].out = kd->mats[i].out;
				m->mats[k][i].off = off;
				off += kd->mats[i].col_bytes;
			}
			if (off > swap_store_bundle_bytes(m->st, k))
				goto bad;
			m->n_mats[k] = nm[k];
			continue;
bad:
			snprintf(err, errlen, "store: bundle kind %d does not match a Llama layer "
				 "of dim %u, hidden %u (or has an unsupported column type)", k,
				 m->dim, m->hidden);
			return -EINVAL;
		}
	}
	return 0;
}

/* Read a resident tensor of the expected shape into malloc'ed memory. */
static int load_resident(struct as_swap_model *m, const char *name, bool f32_only,
			 uint64_t ne0, uint64_t ne1, void **out, enum ggml_type *type,
			 char *err, size_t errlen)
{
	const struct swap_resident *r = swap_store_find_resident(m->st, name);
	uint64_t rb;
	int rc;

	*out = NULL;
	if (!r) {
		snprintf(err, errlen, "store: resident tensor %s missing", name);
		return -ENOENT;
	}
	if ((f32_only && r->d.type != GGML_TYPE_F32) ||
	    !as_type_supported((enum ggml_type)r->d.type) || r->d.ne[0] != ne0 ||
	    (ne1 > 1 && (r->d.n_dims != 2 || r->d.ne[1] != ne1)) ||
	    as_row_bytes((enum ggml_type)r->d.type, ne0, &rb) || rb * ne1 != r->d.size) {
		snprintf(err, errlen, "store: resident tensor %s has the wrong type or shape",
			 name);
		return -EINVAL;
	}
	*out = malloc(r->d.size ? r->d.size : 1);
	if (!*out)
		return -ENOMEM;
	rc = swap_store_read_resident(m->st, r, *out);
	if (rc) {
		snprintf(err, errlen, "store: reading %s: %s", name, strerror(-rc));
		free(*out);
		*out = NULL;
		return rc;
	}
	if (type)
		*type = (enum ggml_type)r->d.type;
	return 0;
}

static uint64_t fixed_bytes_of(const struct swap_store *st, uint32_t n_ctx)
{
	const struct swap_store_desc *d = swap_store_desc(st);
	uint64_t b = 0, dim = d->hp.dim, hid = d->hp.hidden, kv;

	for (uint32_t i = 0; i < d->n_resident; i++)
		if (!as_rows_is_matrix_name(d->resident[i].name)) /* the row copy: not here */
			b += d->resident[i].size;
	kv = (uint64_t)d->hp.n_kv_heads * (d->hp.n_heads ? dim / d->hp.n_heads : 0);
	b += 2ull * d->n_layers * n_ctx * kv * 4;                      /* KV cache */
	b += (5 * dim + 3 * hid + d->hp.vocab + (uint64_t)d->hp.n_heads * n_ctx) * 4; /* acts */
	b += (uint64_t)(dim > hid ? dim : hid) * (4 + 4 + 24 + 3 * 8 + 8 + 1);  /* bookkeeping */
	b += (uint64_t)d->n_layers * N_PRED * dim * 4;                  /* preload stamps */
	/* libswap's per-bundle records and the store's tables (~40 bytes per bundle); the
	 * per-slot records are counted by slot_records() */
	b += swap_store_n_bundles(st) * 40;
	return b;
}

/* libswap's record per cache slot (struct slot and the policy's index), outside its pool */
#define SLOT_REC 40u

/* Bytes of slot records for a pool of `pool` bytes: as many slots as it could hold if all
 * were of the smallest kind, at most one per bundle. */
static uint64_t slot_records(const struct swap_store *st, uint64_t pool)
{
	uint64_t mins = UINT64_MAX, n;

	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		uint64_t ss = (swap_store_bundle_bytes(st, k) + 63) & ~63ull;

		if (ss < mins)
			mins = ss;
	}
	n = pool / (mins + SLOT_REC);
	if (n > swap_store_n_bundles(st))
		n = swap_store_n_bundles(st);
	return n * SLOT_REC;
}

static uint32_t default_ctx(const struct swap_store *st, uint32_t want)
{
	uint32_t c = swap_store_desc(st)->hp.n_ctx;

	if (want)
		return want;
	if (!c || c > 2048)
		c = 2048;
	return c;
}

/* Small stores get a small read queue, so the read buffers do not dwarf the weights. */
static void engine_params(const struct swap_store *st, const struct as_swap_params *p,
			  struct swap_engine_params *ep)
{
	bool small = swap_store_swappable_bytes(st) < (256ull << 20);

	memset(ep, 0, sizeof(*ep));
	ep->policy = p->policy;
	ep->backend = p->backend;
	ep->queue_depth = p->queue_depth ? p->queue_depth : small ? 4 : 0;
	ep->max_read_bytes = p->max_read_bytes ? p->max_read_bytes : small ? 64u << 10 : 0;
	ep->numa_node = -1;
	ep->flags = p->engine_flags;
	ep->fault = p->fault;
}

static void budget_of(const struct swap_store *st, const struct as_swap_params *p,
		      struct as_swap_budget *b)
{
	struct swap_engine_params ep;
	uint64_t minb, grp = 0;
	const struct swap_store_desc *d = swap_store_desc(st);

	memset(b, 0, sizeof(*b));
	engine_params(st, p, &ep);
	b->fixed = fixed_bytes_of(st, default_ctx(st, p->n_ctx));
	minb = swap_engine_min_budget(st, &ep);
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		uint64_t ss = (swap_store_bundle_bytes(st, k) + 63) & ~63ull;

		b->slots_all += (uint64_t)d->n_layers * d->kinds[k].in * ss + 64;
		grp += (uint64_t)d->group * d->kinds[k].in * ss + 64;
	}
	b->staging = minb > grp ? minb - grp : 0;
	b->min = b->fixed + minb + slot_records(st, minb);
	b->full = b->fixed + b->staging + b->slots_all + 4096 +
		  swap_store_n_bundles(st) * SLOT_REC;
	/* a row copy held whole (row mode, every level 0) must fit a 100% budget too */
	{
		uint64_t rows;

		if (!as_rows_check(st, &rows, NULL, NULL, 0) && b->fixed + rows > b->full)
			b->full = b->fixed + rows;
	}
}

int as_swap_budget_info(const char *path, const struct as_swap_params *p,
			struct as_swap_budget *b, char *err, size_t errlen)
{
	struct swap_store *st;
	int r = swap_store_open(&st, path, err, errlen);

	if (r)
		return r;
	budget_of(st, p, b);
	swap_store_close(st);
	return 0;
}

void as_swap_close(struct as_swap_model *m)
{
	if (!m)
		return;
	if (m->eng)
		swap_engine_destroy(m->eng);
	as_rows_close(m->rows);
	if (m->meta)
		gguf_close(m->meta);
	if (m->st)
		swap_store_close(m->st);
	if (m->output != m->tok_embd)
		free(m->output);
	free(m->tok_embd);
	free(m->out_norm);
	free(m->norms);
	free(m->sp);
	free(m->topk);
	free(m->x);
	free(m->xb);
	free(m->xb2);
	free(m->hb);
	free(m->hb2);
	free(m->q);
	free(m->att);
	free(m->rope);
	free(m->kc);
	free(m->vc);
	free(m->logits);
	free(m->scratch);
	free(m->xs);
	free(m->idx);
	free(m->pidx);
	free(m->keys);
	free(m->mkeys);
	free(m->fkeys);
	free(m->ptrs);
	free(m->mptrs);
	free(m->colp);
	free(m->pinned);
	free(m->stamp);
	free(m->pred_seq);
	free(m->pred_tok);
	free(m->pred_n);
	free(m->all);
	free(m->all_off);
	free(m->ls);
	free(m);
}

/* Budget for everything: fetch and pin every bundle once; ops then look their columns up
 * in a table (no engine calls per token). Falls back to swapping when it does not fit. */
static int pin_all(struct as_swap_model *m)
{
	const struct swap_store_desc *d = swap_store_desc(m->st);
	uint64_t n = 0;
	int r = 0;

	m->all_off = calloc((size_t)m->n_layers * SWAP_KIND_COUNT, sizeof(uint64_t));
	if (!m->all_off)
		return -ENOMEM;
	for (uint32_t l = 0; l < m->n_layers; l++)
		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			m->all_off[l * SWAP_KIND_COUNT + k] = n;
			n += d->kinds[k].in;
		}
	m->all = calloc(n, sizeof(void *));
	if (!m->all)
		return -ENOMEM;
	for (uint32_t l = 0; l < m->n_layers && !r; l++) {
		for (int k = 0; k < SWAP_KIND_COUNT && !r; k++) {
			uint32_t in = d->kinds[k].in;
			const void **dst = m->all + m->all_off[l * SWAP_KIND_COUNT + k];

			for (uint32_t c0 = 0; c0 < in && !r; c0 += m->chunk) {
				uint32_t c1 = c0 + m->chunk < in ? c0 + m->chunk : in;

				for (uint32_t c = c0; c < c1; c++)
					m->keys[c - c0] = (struct swap_key){ l, (uint32_t)k, c };
				r = swap_acquire(m->eng, m->keys, c1 - c0, dst + c0);
				if (!r)
					continue;
				/* release what was pinned and give up */
				for (uint32_t l2 = 0; l2 <= l; l2++)
					for (int k2 = 0; k2 < SWAP_KIND_COUNT; k2++) {
						const void **t = m->all + m->all_off[l2 * SWAP_KIND_COUNT + k2];

						for (uint32_t c = 0; c < d->kinds[k2].in; c++) {
							if (!t[c])
								continue;
							m->keys[0] = (struct swap_key){ l2, (uint32_t)k2, c };
							swap_release(m->eng, m->keys, 1);
						}
					}
			}
		}
	}
	if (r) {
		free(m->all);
		m->all = NULL;
	}
	return r;
}

/*
 * STATIC policy: pin a leading part of the channels of every (layer, kind), as much as
 * the kind's slots hold with one layer group of slots left for the rest (the same
 * fraction of every layer; how much of each kind is the engine's slot split, see
 * plan_reads()). With weights that have no contextual locality any set is as good as
 * another, and a contiguous one leaves the uncached channels contiguous too, so gap
 * filling turns their fetches into long sequential reads.
 */
static int set_static_prefix(struct as_swap_model *m, const uint64_t *kind_slots)
{
	const struct swap_store_desc *d = swap_store_desc(m->st);
	uint64_t n = 0;
	uint32_t cnt[SWAP_KIND_COUNT];
	struct swap_key *keys;
	int r = -ENOSPC;

	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		uint64_t in = d->kinds[k].in, sl = kind_slots[k], grp = (uint64_t)d->group * in;

		cnt[k] = (uint32_t)(sl > grp ? (sl - grp) / m->n_layers : 0);
		if (cnt[k] > in)
			cnt[k] = (uint32_t)in;
		n += (uint64_t)d->n_layers * in;
	}
	keys = malloc(sizeof(*keys) * n);
	if (!keys)
		return -ENOMEM;
	/* on -ENOSPC (rounding), 2% less of every kind */
	for (int tries = 0; tries < 50 && r == -ENOSPC; tries++) {
		bool any = false;

		n = 0;
		for (uint32_t l = 0; l < m->n_layers; l++)
			for (int k = 0; k < SWAP_KIND_COUNT; k++)
				for (uint32_t c = 0; c < cnt[k]; c++)
					keys[n++] = (struct swap_key){ l, (uint32_t)k, c };
		r = n ? swap_engine_set_static(m->eng, keys, n) : -ENOSPC;
		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			uint32_t cut = d->kinds[k].in / 50 + 1;

			cnt[k] = cnt[k] > cut ? cnt[k] - cut : 0;
			any |= cnt[k] > 0;
		}
		if (!any)
			break;
	}
	free(keys);
	return r;
}

/*
 * Gap filling (group-1 stores, where a kind's channels are adjacent in the file): bundles
 * between two needed ones are fetched too when the gap is at most gap_bytes (default
 * 8 KiB; the CLI replays reads to pick it, as_choose_gap_bytes()), so a random Top-K
 * becomes a few long reads instead of one small read per channel. A gap wider than the
 * engine's largest read could never be bridged. Sets gap, gap_bytes and whole, and, for
 * the STATIC policy, the order in which the kinds get the cache (kind_prio).
 */
static void plan_reads(struct as_swap_model *m, const struct as_swap_params *p,
		       struct swap_engine_params *ep)
{
	const struct swap_store_desc *d = swap_store_desc(m->st);
	uint64_t gap_bytes = p->gap_bytes ? p->gap_bytes : 8192;
	uint64_t max_read = ep->max_read_bytes ? ep->max_read_bytes : 256u << 10;
	double saved[SWAP_KIND_COUNT];

	for (int k = 0; k < SWAP_KIND_COUNT && d->group == 1 && !p->no_gap_fill; k++) {
		uint64_t g = gap_bytes, bb = swap_store_bundle_bytes(m->st, k);

		if (g > max_read)
			g = max_read;
		m->gap_bytes[k] = g;
		m->gap[k] = g ? (uint32_t)((g + bb - 1) / bb) - 1 : 0;
	}
	/*
	 * With needed channels at random (probability q = 1 - s, x = s), a channel stays
	 * unread only inside a run of more than gap unneeded ones between needed ones: a
	 * fraction x^n (n - (n - 1) x) of the channels, n = gap + 1; and there are about
	 * q x^n such runs per channel, each ending a read with half a page of slack on
	 * both sides. So an uncached bundle of kind k costs saved[k] of its bytes per token
	 * in reads (mean over the layers): caching it saves that much per byte.
	 */
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		double bb = (double)swap_store_bundle_bytes(m->st, k), n = (double)m->gap[k] + 1;

		saved[k] = 0;
		for (uint32_t l = 0; l < m->n_layers; l++) {
			double x = m->sp[l * SWAP_KIND_COUNT + k], xn = pow(x, n);

			saved[k] += (1 - xn * (n - (n - 1) * x) + (1 - x) * xn * 4096 / bb) /
				    m->n_layers;
		}
	}
	/* O and down (off the residual stream, not predicted): when gap filling reads
	 * (nearly) all of their uncached channels anyway (under 2% unread in every layer),
	 * the whole kind is requested at the layer's start so its reads overlap the compute
	 * before their input is known (STATIC policy only: its hot set is fixed, so the
	 * extra requests are hits or reads that gap filling would make). */
	for (int k = SWAP_ATTN_OUT; k <= SWAP_FFN_OUT && p->policy == SWAP_POLICY_STATIC &&
				    m->gap[k] && !m->no_preload; k += 2) {
		bool ok = true;

		for (uint32_t l = 0; l < m->n_layers && ok; l++) {
			double x = m->sp[l * SWAP_KIND_COUNT + k], n = (double)m->gap[k] + 1;

			ok = pow(x, n) * (n - (n - 1) * x) < 0.02;
		}
		m->whole[k] = ok;
	}
	/* STATIC: the cache goes to the kinds that save the most read bytes per byte */
	if (p->policy == SWAP_POLICY_STATIC && !p->uniform_cache)
		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			int rank = 0;

			for (int j = 0; j < SWAP_KIND_COUNT; j++)
				rank += saved[j] > saved[k] + 0.005;
			ep->kind_prio[k] = (uint8_t)(SWAP_KIND_COUNT - rank);
		}
}

uint32_t as_swap_topk_count(float s, uint32_t n)
{
	double k = floor((1.0 - (double)s) * (double)n + 0.5);

	if (k < 1)
		k = 1;
	return k > n ? n : (uint32_t)k;
}

/* Row mode: the budget beyond the resident part holds row-copy layers and buffers.
 * -ENOENT when the store has no row copy. */
static int open_rows(struct as_swap_model *m, const struct as_swap_params *p, char *err,
		     size_t errlen)
{
	uint64_t avail = UINT64_MAX;
	int r;

	if (p->budget_bytes)
		avail = p->budget_bytes > m->fixed_bytes ? p->budget_bytes - m->fixed_bytes : 0;
	r = as_rows_open(&m->rows, m->st, avail,
			 p->check_use || (p->engine_flags & SWAP_F_VERIFY), err, errlen);
	if (r == -ENOSPC) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "DRAM budget %.1f MiB is too small: the resident part "
			 "(tensors, KV cache for %u positions, activations) takes %.1f MiB; %s",
			 p->budget_bytes / 1048576.0, m->n_ctx, m->fixed_bytes / 1048576.0, why);
	}
	if (r)
		return r;
	m->pool_bytes = as_rows_mem_bytes(m->rows);
	m->budget_bytes = p->budget_bytes ? p->budget_bytes : m->fixed_bytes + m->pool_bytes;
	return 0;
}

int as_swap_open(struct as_swap_model **out, const char *path,
		 const struct as_swap_params *p, char *err, size_t errlen)
{
	struct as_swap_model *m;
	const struct swap_store_desc *d;
	struct swap_engine_params ep;
	uint64_t kv_elems, maxio;
	char name[64];
	int r;

	*out = NULL;
	if (!(p->sparsity >= 0.0f && p->sparsity < 1.0f)) {
		snprintf(err, errlen, "sparsity %g outside [0, 1)", (double)p->sparsity);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = swap_store_open(&m->st, path, err, errlen);
	if (r)
		goto fail;
	d = swap_store_desc(m->st);
	if (d->meta_len) {
		char merr[256];

		/* the blob lives in the store's mapping, which outlives meta */
		if (gguf_parse(&m->meta, d->meta, d->meta_len, merr, sizeof(merr)))
			m->meta = NULL; /* tokenizer-less store: run by token ids */
	}
	r = check_hparams(m, d, err, errlen);
	if (r)
		goto fail;
	m->tp = p->tp;
	m->n_ctx = default_ctx(m->st, p->n_ctx);
	m->group = p->group ? p->group : d->group;
	if (m->group > m->n_layers)
		m->group = m->n_layers;
	m->no_preload = p->no_preload;
	m->check_use = p->check_use;
	/* a multiple of the Q4_0 kernels' group: the sums then do not depend on how an op's
	 * selection is cut into chunks (activeswap/sparse.h), so the all-resident path can
	 * take it in one pass and stay bit-identical to swapping */
	{
		uint64_t c = p->chunk ? p->chunk : DEF_CHUNK;

		c = (c + AS_SPARSE_Q4_GROUP - 1) / AS_SPARSE_Q4_GROUP * AS_SPARSE_Q4_GROUP;
		m->chunk = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c; /* clamped to maxio below */
	}
	m->sp = malloc(sizeof(float) * m->n_layers * SWAP_KIND_COUNT);
	m->topk = malloc(sizeof(uint32_t) * m->n_layers * SWAP_KIND_COUNT);
	if (!m->sp || !m->topk)
		goto nomem;
	for (uint32_t i = 0; i < m->n_layers * SWAP_KIND_COUNT; i++) {
		float s = p->layer_sparsity ? p->layer_sparsity[i] : p->sparsity;

		if (!(s >= 0.0f && s < 1.0f)) {
			snprintf(err, errlen, "layer sparsity %g outside [0, 1)", (double)s);
			r = -EINVAL;
			goto fail;
		}
		m->sp[i] = s;
		m->topk[i] = as_swap_topk_count(s, d->kinds[i % SWAP_KIND_COUNT].in);
	}

	/* resident tensors */
	r = load_resident(m, "token_embd.weight", false, m->dim, m->vocab, &m->tok_embd,
			  &m->tok_type, err, errlen);
	if (r)
		goto fail;
	as_row_bytes(m->tok_type, m->dim, &m->tok_row_bytes);
	if (swap_store_find_resident(m->st, "output.weight")) {
		r = load_resident(m, "output.weight", false, m->dim, m->vocab, &m->output,
				  &m->out_type, err, errlen);
		if (r)
			goto fail;
	} else {
		m->output = m->tok_embd;
		m->out_type = m->tok_type;
	}
	if (m->out_type != GGML_TYPE_F32 && m->dim % 32) {
		snprintf(err, errlen, "store: quantized output head needs dim %% 32 == 0");
		r = -EINVAL;
		goto fail;
	}
	r = load_resident(m, "output_norm.weight", true, m->dim, 1, (void **)&m->out_norm,
			  NULL, err, errlen);
	if (r)
		goto fail;
	m->norms = malloc(sizeof(float) * 2 * m->dim * m->n_layers);
	if (!m->norms)
		goto nomem;
	for (uint32_t l = 0; l < m->n_layers; l++) {
		for (int k = 0; k < 2; k++) {
			void *buf;

			snprintf(name, sizeof(name), "blk.%u.%s.weight", l,
				 k ? "ffn_norm" : "attn_norm");
			r = load_resident(m, name, true, m->dim, 1, &buf, NULL, err, errlen);
			if (r)
				goto fail;
			memcpy(m->norms + ((size_t)l * 2 + k) * m->dim, buf, sizeof(float) * m->dim);
			free(buf);
		}
	}

	/* activations and bookkeeping */
	maxio = m->dim > m->hidden ? m->dim : m->hidden;
	if (__builtin_mul_overflow((uint64_t)m->kv_dim, (uint64_t)m->n_ctx * m->n_layers,
				   &kv_elems) || kv_elems > SIZE_MAX / 8) {
		r = -EOVERFLOW;
		snprintf(err, errlen, "KV cache size overflows");
		goto fail;
	}
	m->x = calloc(m->dim, 4);
	m->xb = calloc(m->dim, 4);
	m->xb2 = calloc(m->dim, 4);
	m->q = calloc(m->dim, 4);
	m->hb = calloc(m->hidden, 4);
	m->hb2 = calloc(m->hidden, 4);
	m->att = calloc((size_t)m->n_heads * m->n_ctx, 4);
	m->rope = calloc(m->n_rot, 4);
	m->kc = calloc(kv_elems, 4);
	m->vc = calloc(kv_elems, 4);
	m->logits = calloc(m->vocab, 4);
	m->scratch = calloc(maxio, 4);
	m->xs = calloc(maxio, 4);
	m->idx = calloc(maxio, 4);
	m->pidx = calloc(maxio, 4);
	m->keys = calloc(maxio, sizeof(*m->keys));
	m->mkeys = calloc(maxio, sizeof(*m->mkeys));
	m->fkeys = calloc(maxio, sizeof(*m->fkeys));
	m->ptrs = calloc(maxio, sizeof(void *));
	m->mptrs = calloc(maxio, sizeof(void *));
	if (m->chunk > maxio)
		m->chunk = (uint32_t)maxio;
	m->colp = calloc((size_t)m->chunk * SWAP_MAX_MATS, sizeof(void *));
	m->pinned = calloc(maxio, 1);
	m->stamp = calloc((size_t)m->n_layers * N_PRED * m->dim, 4);
	m->pred_seq = calloc((size_t)m->n_layers * N_PRED, 4);
	m->pred_tok = calloc((size_t)m->n_layers * N_PRED, 8);
	m->pred_n = calloc((size_t)m->n_layers * N_PRED, 4);
	m->ls = calloc(m->n_layers, sizeof(*m->ls));
	if (!m->x || !m->xb || !m->xb2 || !m->q || !m->hb || !m->hb2 || !m->att || !m->rope ||
	    !m->kc || !m->vc || !m->logits || !m->scratch || !m->xs || !m->idx || !m->pidx || !m->keys ||
	    !m->mkeys || !m->fkeys || !m->ptrs || !m->mptrs || !m->colp || !m->pinned || !m->stamp ||
	    !m->pred_seq || !m->pred_tok || !m->pred_n || !m->ls)
		goto nomem;

	m->fixed_bytes = fixed_bytes_of(m->st, m->n_ctx);
	if (!p->no_rows) {
		bool dense = true;

		for (uint32_t i = 0; i < m->n_layers * SWAP_KIND_COUNT; i++)
			dense = dense && m->sp[i] == 0.0f;
		r = dense ? open_rows(m, p, err, errlen) : -ENOENT;
		if (!r) {
			*out = m;
			return 0;
		}
		if (r != -ENOENT)
			goto fail;
		r = 0; /* no row copy: the columns */
		if (errlen)
			err[0] = 0;
	}

	/* the engine gets what the budget leaves */
	engine_params(m->st, p, &ep);
	if (p->budget_bytes) {
		uint64_t minb = swap_engine_min_budget(m->st, &ep);

		uint64_t recs = slot_records(m->st, minb);

		if (p->budget_bytes < m->fixed_bytes + minb + recs) {
			snprintf(err, errlen, "DRAM budget %.1f MiB is too small: the resident part "
				 "(tensors, KV cache for %u positions, activations) takes %.1f MiB "
				 "and one layer group of bundles plus read buffers %.1f MiB; at "
				 "least %.1f MiB", p->budget_bytes / 1048576.0, m->n_ctx,
				 m->fixed_bytes / 1048576.0, (minb + recs) / 1048576.0,
				 (m->fixed_bytes + minb + recs) / 1048576.0);
			r = -ENOSPC;
			goto fail;
		}
		/* the pool and the records of the slots carved from it fit the rest */
		ep.budget_bytes = p->budget_bytes - m->fixed_bytes;
		ep.budget_bytes -= slot_records(m->st, ep.budget_bytes);
		if (ep.budget_bytes < minb)
			ep.budget_bytes = minb;
	}
	plan_reads(m, p, &ep);
	r = swap_engine_create(&m->eng, m->st, &ep, err, errlen);
	if (r)
		goto fail;
	{
		struct swap_stats s;

		swap_engine_stats(m->eng, &s);
		m->pool_bytes = s.pool_bytes;
		if (p->policy == SWAP_POLICY_STATIC) {
			r = set_static_prefix(m, s.kind_slots);
			if (r && r != -ENOSPC) {
				snprintf(err, errlen, "loading the static hot set: %s", strerror(-r));
				goto fail;
			}
		}
	}
	m->budget_bytes = p->budget_bytes ? p->budget_bytes : m->fixed_bytes + m->pool_bytes;
	if (!p->no_pin_all && p->policy != SWAP_POLICY_STATIC) {
		struct as_swap_budget bi;

		budget_of(m->st, p, &bi);
		if (m->budget_bytes >= bi.full && !pin_all(m)) {
			/* nothing to acquire per op: the whole selection in one pass of the
			 * threads (the chunks only bound the pins of the swapping path) */
			const void **cp = calloc(maxio * SWAP_MAX_MATS, sizeof(void *));

			if (cp) {
				free(m->colp);
				m->colp = cp;
				m->chunk = (uint32_t)maxio;
			}
		}
	}
	*out = m;
	return 0;
nomem:
	r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
fail:
	as_swap_close(m);
	return r;
}

/* keys for the channels idx[0..k) of (layer, kind) plus the small gaps between them */
static size_t fill_gaps(struct as_swap_model *m, uint32_t layer, int kind, const uint32_t *idx,
			uint32_t k, struct swap_key *out)
{
	size_t n = 0;

	for (uint32_t i = 0; i < k; i++) {
		out[n++] = (struct swap_key){ layer, (uint32_t)kind, idx[i] };
		if (i + 1 < k && idx[i + 1] - idx[i] - 1 <= m->gap[kind])
			for (uint32_t c = idx[i] + 1; c < idx[i + 1]; c++)
				out[n++] = (struct swap_key){ layer, (uint32_t)kind, c };
	}
	return n;
}

/* ---- sparse op groups -------------------------------------------------------------- */

struct op_task {
	struct as_swap_model *m;
	int kind;
	float *const *ys;
	const float *xs;
	size_t n;
};

/* Rows of every matrix split over threads at multiples of 128 (bit-identical for any
 * thread count: each element sees the same operations). */
static void op_task_fn(void *arg, int ith, int nth)
{
	const struct op_task *t = arg;
	struct as_swap_model *m = t->m;

	for (uint32_t mi = 0; mi < m->n_mats[t->kind]; mi++) {
		const struct mat *mt = &m->mats[t->kind][mi];

		as_sparse_axpy_share(as_sparse_level(), mt->type, t->ys[mi], mt->out,
				     (const void *const *)(m->colp + (size_t)mi * m->chunk),
				     t->xs, t->n, ith, nth);
	}
}

/*
 * Accumulate the chunk [c0, c1) of the selection (bundles at ptrs[c0..c1), activations
 * xs[c0..c1)) into ys. With check_use, every bundle's crc is checked first: -EBADMSG.
 */
static int run_chunk(struct as_swap_model *m, int kind, float *const *ys, uint32_t c0,
		     uint32_t c1)
{
	struct op_task t = { m, kind, ys, m->xs + c0, c1 - c0 };

	for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
		for (uint32_t i = c0; i < c1; i++)
			m->colp[(size_t)mi * m->chunk + (i - c0)] =
				(const uint8_t *)m->ptrs[i] + m->mats[kind][mi].off;
	if (m->check_use) {
		uint64_t bb = swap_store_bundle_bytes(m->st, kind);

		for (uint32_t i = c0; i < c1; i++) {
			m->checked++;
			if (swap_crc32c(0, m->ptrs[i], bb) !=
			    swap_store_bundle_crc(m->st, m->keys[i]))
				return -EBADMSG;
		}
	}
	as_tp_run(m->tp, op_task_fn, &t);
	return 0;
}

/* Row mode: ys[i] = W_i x with the dense runtime's kernels (model.c's linear and
 * linear_multi), the layer's matrices from the row copy. */
static int rows_op(struct as_swap_model *m, uint32_t layer, int kind, const float *x,
		   float *const *ys)
{
	static const enum as_op ops[SWAP_KIND_COUNT][SWAP_MAX_MATS] = {
		[SWAP_ATTN_IN] = { AS_OP_Q, AS_OP_K, AS_OP_V },
		[SWAP_ATTN_OUT] = { AS_OP_O },
		[SWAP_FFN_IN] = { AS_OP_GATE, AS_OP_UP },
		[SWAP_FFN_OUT] = { AS_OP_DOWN },
	};
	struct as_swap_layer_stats *ls = &m->ls[layer];
	const struct as_weight *w = &m->lw[ops[kind][0]];

	if (kind == SWAP_ATTN_IN) {
		int r = as_rows_layer(m->rows, layer, m->lw);

		if (r)
			return r;
	}
	ls->lookups++;
	ls->hits += layer < as_rows_resident_layers(m->rows);
	if (m->n_mats[kind] == 1) {
		as_matvec(m->tp, w->type, w->data, w->rows, w->cols, x, ys[0]);
	} else {
		struct as_matvec_job jobs[SWAP_MAX_MATS];

		for (uint32_t i = 0; i < m->n_mats[kind]; i++) {
			const struct as_weight *wi = &m->lw[ops[kind][i]];

			jobs[i] = (struct as_matvec_job){ wi->type, wi->data, wi->rows, ys[i] };
		}
		as_matvec_multi(m->tp, jobs, (int)m->n_mats[kind], w->cols, x);
	}
	if (kind == SWAP_FFN_OUT)
		as_rows_layer_done(m->rows, layer);
	return 0;
}

/*
 * ys[i] = W_i x restricted to the Top-K channels of x, W_i the matrices of bundle kind
 * `kind` of `layer`. Hot bundles are pinned, the rest fetched on demand and consumed a
 * chunk at a time in increasing channel order.
 */
static int run_op(struct as_swap_model *m, uint32_t layer, int kind, const float *x,
		  float *const *ys)
{
	const struct swap_kind_desc *kd = &swap_store_desc(m->st)->kinds[kind];
	struct as_swap_layer_stats *ls = &m->ls[layer];
	uint32_t n = kd->in, k = m->topk[layer * SWAP_KIND_COUNT + kind];
	uint32_t hits = 0;
	int r = 0;

	if (m->rows)
		return rows_op(m, layer, kind, x, ys);
	k = (uint32_t)as_topk_select(x, n, k, m->idx, m->scratch);
	for (uint32_t i = 0; i < k; i++) {
		m->keys[i] = (struct swap_key){ layer, (uint32_t)kind, m->idx[i] };
		m->xs[i] = x[m->idx[i]];
	}
	/* preload accounting: the latest prediction for this (layer, kind) in this token */
	if (kind == SWAP_ATTN_IN || kind == SWAP_FFN_IN) {
		size_t pk = (size_t)layer * N_PRED + (kind == SWAP_FFN_IN);

		if (m->pred_tok[pk] == m->token + 1) {
			const uint32_t *st = m->stamp + pk * m->dim;
			uint64_t tp = 0;

			for (uint32_t i = 0; i < k; i++)
				tp += st[m->idx[i]] == m->pred_seq[pk];
			ls->predicted += m->pred_n[pk];
			ls->predicted_used += tp;
			ls->used += k;
		}
	}
	for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
		memset(ys[mi], 0, sizeof(float) * m->mats[kind][mi].out);
	if (m->all) {
		const void **t = m->all + m->all_off[layer * SWAP_KIND_COUNT + kind];

		ls->lookups += k;
		ls->hits += k;
		for (uint32_t i = 0; i < k; i++)
			m->ptrs[i] = t[m->idx[i]];
		for (uint32_t c0 = 0; c0 < k && !r; c0 += m->chunk)
			r = run_chunk(m, kind, ys, c0, c0 + m->chunk < k ? c0 + m->chunk : k);
		return r;
	}
	swap_plug(m->eng);
	r = swap_request(m->eng, m->fkeys, fill_gaps(m, layer, kind, m->idx, k, m->fkeys),
			 SWAP_PRIO_DEMAND, 0);
	for (uint32_t i = 0; i < k && !r; i++) {
		m->ptrs[i] = swap_pin(m->eng, m->keys[i]);
		m->pinned[i] = m->ptrs[i] != NULL;
		hits += m->pinned[i];
	}
	swap_unplug(m->eng);
	if (r)
		return r;
	ls->lookups += k;
	ls->hits += hits;
	for (uint32_t c0 = 0; c0 < k; c0 += m->chunk) {
		uint32_t c1 = c0 + m->chunk < k ? c0 + m->chunk : k, nm = 0;

		for (uint32_t i = c0; i < c1; i++)
			if (!m->pinned[i])
				m->mkeys[nm++] = m->keys[i];
		if (nm) {
			r = swap_acquire(m->eng, m->mkeys, nm, m->mptrs);
			if (r) {
				for (uint32_t i = c0; i < k; i++)
					if (m->pinned[i])
						swap_release(m->eng, &m->keys[i], 1);
				return r;
			}
			for (uint32_t i = c0, j = 0; i < c1; i++)
				if (!m->pinned[i])
					m->ptrs[i] = m->mptrs[j++];
		}
		r = run_chunk(m, kind, ys, c0, c1);
		if (r) {
			for (uint32_t i = c0; i < k; i++)
				if (i < c1 || m->pinned[i])
					swap_release(m->eng, &m->keys[i], 1);
			return r;
		}
		swap_release(m->eng, m->keys + c0, c1 - c0);
	}
	return 0;
}

/* ---- preloading ------------------------------------------------------------------- */

static void predict(struct as_swap_model *m, uint32_t layer, int kind, const uint32_t *idx,
		    uint32_t k, enum swap_prio prio, uint64_t tag)
{
	size_t pk = (size_t)layer * N_PRED + (kind == SWAP_FFN_IN);
	uint32_t *st = m->stamp + pk * m->dim;
	uint32_t seq = ++m->seq;

	for (uint32_t i = 0; i < k; i++) {
		m->mkeys[i] = (struct swap_key){ layer, (uint32_t)kind, idx[i] };
		st[idx[i]] = seq;
	}
	m->pred_seq[pk] = seq;
	m->pred_tok[pk] = m->token + 1;
	m->pred_n[pk] = k;
	swap_request(m->eng, m->fkeys, fill_gaps(m, layer, kind, idx, k, m->fkeys), prio, tag);
}

/*
 * The Top-K of layer L's attention input (a residual-stream norm) predicts the FFN input
 * of L and both inputs of L+1 .. L+group. The preloads of the previous prediction that
 * are still queued and were not predicted again are cancelled.
 */
static void preload(struct as_swap_model *m, uint32_t layer, const float *x)
{
	uint64_t tag = m->token * m->n_layers + layer + 1;
	uint32_t last = layer + m->group;

	if (m->no_preload || m->all || m->rows)
		return;
	if (last >= m->n_layers)
		last = m->n_layers - 1;
	swap_plug(m->eng);
	for (uint32_t l = layer, sel = UINT32_MAX; l <= last; l++) {
		for (int kind = SWAP_ATTN_IN; kind <= SWAP_FFN_OUT; kind++) {
			uint32_t k;

			if (kind == SWAP_ATTN_OUT || kind == SWAP_FFN_OUT) {
				/* in the order the layer needs them: O, gate/up, down */
				if (l == layer && m->whole[kind]) {
					uint32_t in = swap_store_desc(m->st)->kinds[kind].in;

					for (uint32_t i = 0; i < in; i++)
						m->fkeys[i] = (struct swap_key){ l, (uint32_t)kind, i };
					swap_request(m->eng, m->fkeys, in, SWAP_PRIO_NEXT, tag);
				}
				continue;
			}
			if (l == layer && kind == SWAP_ATTN_IN)
				continue; /* needed now: on demand */
			k = m->topk[l * SWAP_KIND_COUNT + kind];
			if (k != sel) { /* one selection per distinct K */
				as_topk_select(x, m->dim, k, m->pidx, m->scratch);
				sel = k;
			}
			predict(m, l, kind, m->pidx, k,
				l <= layer + 1 ? SWAP_PRIO_NEXT : SWAP_PRIO_LATER, tag);
		}
	}
	if (m->last_tag) {
		int nc = swap_cancel(m->eng, m->last_tag,
				     (1u << SWAP_PRIO_NEXT) | (1u << SWAP_PRIO_LATER));

		if (nc > 0)
			m->cancelled += (uint64_t)nc;
	}
	m->last_tag = tag;
	swap_unplug(m->eng);
}

/* ---- forward ---------------------------------------------------------------------- */

static void attention(struct as_swap_model *m, uint32_t layer, uint32_t pos)
{
	struct as_attn_geom g = { m->head_dim, m->kv_dim, m->n_heads / m->n_kv, m->n_ctx };
	size_t off = (size_t)layer * m->n_ctx * m->kv_dim;

	as_attention_heads(&g, m->q, m->kc + off, m->vc + off, pos, m->att, m->xb2, 0,
			   m->n_heads);
}

int as_swap_forward(struct as_swap_model *m, int32_t token, uint32_t pos, bool want_logits)
{
	size_t dim = m->dim;
	double t0 = now_s();
	uint64_t stall0 = 0;
	struct swap_stats es;
	int r = 0;

	if (token < 0 || (uint32_t)token >= m->vocab)
		return -EINVAL;
	if (pos >= m->n_ctx)
		return -ERANGE;
	as_swap_io_stats(m, &es);
	stall0 = es.total.stall_ns;
	if (m->eng)
		swap_token_begin(m->eng, m->token);
	as_dequant_row(m->tok_type, (const uint8_t *)m->tok_embd + (size_t)token * m->tok_row_bytes,
		       m->x, dim);
	as_rope_table(m->rope, m->n_rot, m->rope_base, pos);
	for (uint32_t l = 0; l < m->n_layers && !r; l++) {
		size_t kv_off = ((size_t)l * m->n_ctx + pos) * m->kv_dim;
		float *k = m->kc + kv_off, *v = m->vc + kv_off;
		float *qkv[3] = { m->q, k, v }, *o[1] = { m->xb }, *gu[2] = { m->hb, m->hb2 };
		const float *an = m->norms + (size_t)l * 2 * dim, *fn = an + dim;

		if (m->eng)
			swap_layer_begin(m->eng, l);
		as_rmsnorm(m->xb, m->x, an, dim, m->eps);
		preload(m, l, m->xb);
		r = run_op(m, l, SWAP_ATTN_IN, m->xb, qkv);
		if (r)
			break;
		as_rope_apply(m->q, m->n_heads, m->head_dim, m->n_rot, m->rope);
		as_rope_apply(k, m->n_kv, m->head_dim, m->n_rot, m->rope);
		attention(m, l, pos);
		r = run_op(m, l, SWAP_ATTN_OUT, m->xb2, o);
		if (r)
			break;
		for (size_t i = 0; i < dim; i++)
			m->x[i] += m->xb[i];
		as_rmsnorm(m->xb, m->x, fn, dim, m->eps);
		r = run_op(m, l, SWAP_FFN_IN, m->xb, gu);
		if (r)
			break;
		for (size_t i = 0; i < m->hidden; i++) {
			float g = m->hb[i];

			m->hb[i] = g / (1.0f + expf(-g)) * m->hb2[i];
		}
		r = run_op(m, l, SWAP_FFN_OUT, m->hb, o);
		if (r)
			break;
		for (size_t i = 0; i < dim; i++)
			m->x[i] += m->xb[i];
	}
	if (!r && want_logits) {
		as_rmsnorm(m->xb, m->x, m->out_norm, dim, m->eps);
		as_matvec(m->tp, m->out_type, m->output, m->vocab, dim, m->xb, m->logits);
	}
	if (m->eng)
		swap_token_end(m->eng);
	m->token++;
	as_swap_io_stats(m, &es);
	m->wall_s += now_s() - t0;
	m->compute_s += now_s() - t0 - (double)(es.total.stall_ns - stall0) * 1e-9;
	return r;
}

const float *as_swap_logits(const struct as_swap_model *m)
{
	return m->logits;
}

uint32_t as_swap_n_vocab(const struct as_swap_model *m)
{
	return m->vocab;
}

uint32_t as_swap_n_layers(const struct as_swap_model *m)
{
	return m->n_layers;
}

uint32_t as_swap_n_ctx(const struct as_swap_model *m)
{
	return m->n_ctx;
}

uint32_t as_swap_group(const struct as_swap_model *m)
{
	return m->no_preload ? 0 : m->group;
}

float as_swap_sparsity(const struct as_swap_model *m)
{
	double s = 0;

	for (uint32_t i = 0; i < m->n_layers * SWAP_KIND_COUNT; i++)
		s += m->sp[i];
	return (float)(s / (m->n_layers * SWAP_KIND_COUNT));
}

const struct gguf_file *as_swap_meta(const struct as_swap_model *m)
{
	return m->meta;
}

struct swap_engine *as_swap_engine(struct as_swap_model *m)
{
	return m->eng;
}

bool as_swap_is_matrix_name(const char *name)
{
	return as_rows_is_matrix_name(name);
}

int as_swap_row_copy_bytes(const struct swap_store *st, uint64_t *bytes, char *err,
			   size_t errlen)
{
	return as_rows_check(st, bytes, NULL, err, errlen);
}

bool as_swap_row_mode(const struct as_swap_model *m)
{
	return m->rows != NULL;
}

const char *as_swap_backend_name(const struct as_swap_model *m)
{
	return m->rows ? as_rows_io_name(m->rows) : swap_engine_backend_name(m->eng);
}

const char *as_swap_policy_name(const struct as_swap_model *m)
{
	return m->rows ? "rows" : swap_engine_policy_name(m->eng);
}

void as_swap_io_stats(struct as_swap_model *m, struct swap_stats *out)
{
	if (m->eng) {
		swap_engine_stats(m->eng, out);
		return;
	}
	memset(out, 0, sizeof(*out));
	out->pool_bytes = m->pool_bytes;
	for (uint32_t l = 0; l < m->n_layers; l++) {
		struct swap_layer_stats x;

		as_swap_io_layer_stats(m, l, &x);
		out->total.reads += x.reads;
		out->total.bytes_read += x.bytes_read;
		out->total.bytes_used += x.bytes_used;
		out->total.stall_ns += x.stall_ns;
		out->total.hits += x.hits;
		out->total.misses += x.misses;
	}
}

int as_swap_io_layer_stats(struct as_swap_model *m, uint32_t layer, struct swap_layer_stats *out)
{
	if (layer >= m->n_layers)
		return -EINVAL;
	if (m->eng)
		return swap_engine_layer_stats(m->eng, layer, out);
	memset(out, 0, sizeof(*out));
	as_rows_layer_stats(m->rows, layer, &out->reads, &out->bytes_read, &out->stall_ns);
	out->bytes_used = out->bytes_read; /* a streamed layer is read whole and used whole */
	out->hits = m->ls[layer].hits;
	out->misses = m->ls[layer].lookups - m->ls[layer].hits;
	return 0;
}

int as_swap_layer_stats(struct as_swap_model *m, uint32_t layer,
			struct as_swap_layer_stats *out)
{
	struct swap_layer_stats es;

	if (layer >= m->n_layers)
		return -EINVAL;
	*out = m->ls[layer];
	as_swap_io_layer_stats(m, layer, &es);
	out->bytes_read = es.bytes_read;
	out->stall_ns = es.stall_ns;
	out->bytes_used = es.bytes_used;
	return 0;
}

void as_swap_stats(struct as_swap_model *m, struct as_swap_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->tokens = m->token;
	for (uint32_t l = 0; l < m->n_layers; l++) {
		struct as_swap_layer_stats x;

		as_swap_layer_stats(m, l, &x);
		out->total.lookups += x.lookups;
		out->total.hits += x.hits;
		out->total.predicted += x.predicted;
		out->total.used += x.used;
		out->total.predicted_used += x.predicted_used;
		out->total.bytes_read += x.bytes_read;
		out->total.stall_ns += x.stall_ns;
		out->total.bytes_used += x.bytes_used;
	}
	out->budget_bytes = m->budget_bytes;
	out->fixed_bytes = m->fixed_bytes;
	out->pool_bytes = m->pool_bytes;
	out->cancelled = m->cancelled;
	out->checked = m->checked;
	memcpy(out->gap_bytes, m->gap_bytes, sizeof(out->gap_bytes));
	out->compute_s = m->compute_s;
	out->wall_s = m->wall_s;
}

int as_swap_load_levels(const char *path, uint32_t n_layers, float *out, char *err,
			size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[256];
	uint32_t layers = 0, seen = 0, ln = 0;
	bool have_layers = false;
	const char *why = NULL;

	if (!f) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	for (uint32_t i = 0; i < n_layers * SWAP_KIND_COUNT; i++)
		out[i] = -1;
	while (!why && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		unsigned l;
		char kind[32];
		float v;
		int k, end = -1;

		ln++;
		/* a line fgets cut in two must not be read as two lines: skip the rest of a
		 * long comment (calibrate writes paths in one), refuse anything else */
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			int c;

			if (line[0] != '#') {
				why = "line too long";
				break;
			}
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == '#' || !line[strspn(line, " \t")])
			continue;
		if (sscanf(line, "layers %u %n", &l, &end) == 1 && end > 0 && !line[end]) {
			if (have_layers)
				why = "second \"layers\" line";
			layers = l;
			have_layers = true;
			continue;
		}
		if (sscanf(line, "%u %31s %f %n", &l, kind, &v, &end) != 3 || end < 0 ||
		    line[end] || l >= n_layers || !(v >= 0.0f && v < 1.0f)) {
			why = "expected LAYER KIND LEVEL";
			break;
		}
		for (k = 0; k < SWAP_KIND_COUNT && strcmp(kind, swap_kind_name(k)); k++)
			;
		if (k == SWAP_KIND_COUNT)
			why = "unknown KIND";
		else if (out[l * SWAP_KIND_COUNT + k] >= 0)
			why = "entry given twice";
		else {
			out[l * SWAP_KIND_COUNT + k] = v;
			seen++;
		}
	}
	fclose(f);
	if (why) {
		snprintf(err, errlen, "%s:%u: %s (layer < %u, KIND attn_in, attn_out, ffn_in or "
			 "ffn_out, level in [0, 1))", path, ln, why, n_layers);
		return -EINVAL;
	}
	if (layers != n_layers || seen != n_layers * SWAP_KIND_COUNT) {
		snprintf(err, errlen, "%s: levels for %u layers (%u entries), the model has %u",
			 path, layers, seen, n_layers);
		return -EINVAL;
	}
	return 0;
}

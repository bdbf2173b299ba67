// SPDX-License-Identifier: MIT
/*
 * The weight sources of a store-backed model (activeswap/forward.h, swapmodel.h):
 *
 *   rows    every level 0 and a row copy: the layer's rows from the row reader
 *           (resident or streamed), multiplied with the dense kernels;
 *   table   a budget that holds every bundle: all pinned at open, the selected columns
 *           looked up in a table and accumulated in one pass;
 *   engine  swapping: the selected bundles pinned when hot, fetched on demand otherwise
 *           and consumed a chunk at a time in increasing channel order, with cross-layer
 *           preloading at each layer's start.
 *
 * The column sources accumulate x_j * column_j over the selection with the sparse kernels
 * (sparse.h), whose order of operations is fixed: the logits do not depend on which
 * source, budget, backend, policy or thread count computed them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "activeswap/sparse.h"
#include "activeswap/threadpool.h"
#include "swapmodel.h"
#include "swaprows.h"

_Static_assert((int)AS_GROUP_COUNT == (int)SWAP_KIND_COUNT &&
	       (int)AS_GROUP_QKV == (int)SWAP_ATTN_IN && (int)AS_GROUP_O == (int)SWAP_ATTN_OUT &&
	       (int)AS_GROUP_GATE_UP == (int)SWAP_FFN_IN &&
	       (int)AS_GROUP_DOWN == (int)SWAP_FFN_OUT, "op groups are bundle kinds");

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- tokens: counting and timing, the engine's token marks ------------------------ */

static int token_begin(void *ctx)
{
	struct as_swap_model *m = ctx;

	m->t_token = now_s();
	if (m->eng)
		swap_token_begin(m->eng, m->token);
	else
		m->stall0 = as_rows_stall_ns(m->rows);
	return 0;
}

static void token_end(void *ctx)
{
	struct as_swap_model *m = ctx;
	uint64_t stall;
	double t;

	if (m->eng)
		stall = swap_token_end(m->eng);
	else
		stall = as_rows_stall_ns(m->rows) - m->stall0;
	m->token += m->batch_n ? m->batch_n : 1;
	m->batch_n = 0;
	t = now_s() - m->t_token;
	m->wall_s += t;
	m->compute_s += t - (double)stall * 1e-9;
}

/* ---- errors ---------------------------------------------------------------------- */

#define BADMSG_WHY "crc32c mismatch (the store is corrupt or a read returned wrong bytes)"

void sw_describe_error(struct as_swap_model *m, int r, uint32_t layer, int kind, char *buf,
		       size_t len)
{
	struct swap_key k;
	const char *why = r == -EBADMSG ? BADMSG_WHY : strerror(r < 0 ? -r : r);

	if (kind < 0) {
		snprintf(buf, len, "layer %u, row copy: %s", layer, why);
		return;
	}
	if (m->eng && swap_last_error(m->eng, &k) == r && r)
		snprintf(buf, len, "layer %u, %s, channel %u: %s", k.layer,
			 swap_kind_name((enum swap_kind)k.kind), k.channel, why);
	else
		snprintf(buf, len, "layer %u, %s: %s", layer, swap_kind_name((enum swap_kind)kind),
			 why);
}

static int fail(struct as_swap_model *m, int r, uint32_t layer, int kind)
{
	if (r)
		sw_describe_error(m, r, layer, kind, m->errmsg, sizeof(m->errmsg));
	return r;
}

const char *as_swap_error(const struct as_swap_model *m)
{
	return m->errmsg;
}

/* ---- rows: the row copy with the dense kernels ----------------------------------- */

/* Group g of layer from the row copy (taken at Q/K/V, let go after down): one input x
 * (n == 0, as_group_matvec) or n inputs X [n][in] (as_group_matmul: each output the same
 * bits as as_group_matvec's). */
static int rows_run(struct as_swap_model *m, uint32_t layer, enum as_group g, const float *x,
		    uint32_t n, float *const *ys)
{
	struct as_swap_layer_stats *ls = &m->ls[layer];

	if (g == AS_GROUP_QKV) {
		int r = as_rows_layer(m->rows, layer, m->lw);

		if (r)
			return fail(m, r, layer, -1);
	}
	ls->lookups++;
	ls->hits += layer < as_rows_resident_layers(m->rows);
	if (n)
		as_group_matmul(m->tp, m->lw, g, x, n, ys);
	else
		as_group_matvec(m->tp, m->lw, g, x, ys);
	if (g == AS_GROUP_DOWN)
		as_rows_layer_done(m->rows, layer);
	return 0;
}

static int rows_linear(void *ctx, uint32_t layer, enum as_group g, const float *x,
		       const struct as_sel *sel, float *const *ys)
{
	(void)sel; /* every level is 0: no selection */
	return rows_run(ctx, layer, g, x, 0, ys);
}

/*
 * A batch's group starts: its tokens are counted at token_end; the engine's layer mark.
 * The outputs of token t of the batch are Ys[i] + t * rows (token_ys).
 */
static void batch_group(struct as_swap_model *m, uint32_t layer, enum as_group g, uint32_t n)
{
	m->batch_n = n;
	if (m->eng && g == AS_GROUP_QKV)
		swap_layer_begin(m->eng, layer);
}

static void token_ys(const uint32_t *rows, uint32_t n_ops, float *const *Ys, uint32_t t,
		     float **yt)
{
	for (uint32_t i = 0; i < n_ops; i++)
		yt[i] = Ys[i] + (size_t)t * rows[i];
}

/* The row copy: the layer read once (resident or streamed) for the whole batch, every
 * product through the dense matrix-matrix kernels. */
static int rows_linear_batch(void *ctx, uint32_t layer, enum as_group g, const float *X,
			     uint32_t n, const struct as_sel *sels, float *const *Ys)
{
	if (sels)
		return -EOPNOTSUPP; /* every level is 0: no selection */
	batch_group(ctx, layer, g, n);
	return rows_run(ctx, layer, g, X, n, Ys);
}

/* ---- columns: gather-accumulate over the selection -------------------------------- */

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

struct op_task {
	struct as_swap_model *m;
	uint32_t layer;
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
		const struct sw_mat *mt = &m->mats[t->kind][mi];

		if (mt->kq) {
			size_t li = (size_t)t->layer * AS_OP_COUNT + mt->op;

			as_kq_axpy_share(as_sparse_level(), (enum ggml_type)m->kqtyp[li],
					 t->ys[mi], mt->out, mt->in, m->kqt[li],
					 (const void *const *)(m->colp + (size_t)mi * m->chunk),
					 m->chs, t->xs, t->n, ith, nth);
			continue;
		}
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
	struct op_task t = { m, m->keys[c0].layer, kind, ys, m->xs + c0, c1 - c0 };

	if (m->kq)
		for (uint32_t i = c0; i < c1; i++)
			m->chs[i - c0] = m->keys[i].channel;
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

/*
 * The end of the chunk of the selection that starts at c0: chunk channels, or fewer with
 * K-quant columns, so that it ends between two sub-blocks (activeswap/sparse.h,
 * AS_KQ_CUT): the same sums whatever the chunk size, so swapping stays bit-identical to
 * the all-resident table's single pass.
 */
static uint32_t chunk_end(const struct as_swap_model *m, uint32_t c0, uint32_t k)
{
	uint32_t c1 = c0 + m->chunk < k ? c0 + m->chunk : k, c = c1;

	if (!m->kq || c1 >= k)
		return c1;
	while (c > c0 + 1 && m->keys[c - 1].channel / AS_KQ_CUT == m->keys[c].channel / AS_KQ_CUT)
		c--;
	return c > c0 + 1 || m->keys[c0].channel / AS_KQ_CUT != m->keys[c].channel / AS_KQ_CUT ?
	       c : c1;
}

/*
 * What both column sources do first: keys and activations of the selection, the preload
 * accounting (the latest prediction for this (layer, kind) in this token) and zeroed
 * outputs.
 */
static void cols_prepare(struct as_swap_model *m, uint32_t layer, int kind, const float *x,
			 const struct as_sel *sel, float *const *ys)
{
	struct as_swap_layer_stats *ls = &m->ls[layer];
	uint32_t k = sel->n;

	for (uint32_t i = 0; i < k; i++) {
		m->keys[i] = (struct swap_key){ layer, (uint32_t)kind, sel->idx[i] };
		m->xs[i] = x[sel->idx[i]];
	}
	m->kept[kind] += k;
	m->offered[kind] += m->hi[kind] - m->lo[kind];
	if (kind == SWAP_ATTN_IN || kind == SWAP_FFN_IN) {
		size_t pk = (size_t)layer * SW_N_PRED + (kind == SWAP_FFN_IN);

		if (m->pred_tok[pk] == m->token + 1) {
			const uint32_t *st = m->stamp + pk * m->rm.hp.dim;
			uint64_t tp = 0;

			for (uint32_t i = 0; i < k; i++)
				tp += st[sel->idx[i]] == m->pred_seq[pk];
			ls->predicted += m->pred_n[pk];
			ls->predicted_used += tp;
			ls->used += k;
		}
	}
	for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
		memset(ys[mi], 0, sizeof(float) * m->mats[kind][mi].out);
}

/* The selection's bundles looked up by channel in t (all in memory), accumulated in
 * chunks. */
static int cols_lookup(struct as_swap_model *m, int kind, float *const *ys,
		       const struct as_sel *sel, const void *const *t)
{
	uint32_t k = sel->n;
	int r = 0;

	for (uint32_t i = 0; i < k; i++)
		m->ptrs[i] = t[sel->idx[i]];
	for (uint32_t c0 = 0, c1; c0 < k && !r; c0 = c1) {
		c1 = chunk_end(m, c0, k);
		r = run_chunk(m, kind, ys, c0, c1);
	}
	return r;
}

/* Every bundle pinned at open: look the selection up, one pass of the threads. */
static int table_linear(void *ctx, uint32_t layer, enum as_group g, const float *x,
			const struct as_sel *sel, float *const *ys)
{
	struct as_swap_model *m = ctx;
	struct as_swap_layer_stats *ls = &m->ls[layer];

	cols_prepare(m, layer, (int)g, x, sel, ys);
	ls->lookups += sel->n;
	ls->hits += sel->n;
	return fail(m, cols_lookup(m, (int)g, ys, sel,
				   m->all + m->all_off[layer * SWAP_KIND_MAX + g]),
		    layer, (int)g);
}

/* The output rows of group g's matrices. */
static uint32_t group_rows(const struct as_swap_model *m, int kind, uint32_t *rows)
{
	for (uint32_t i = 0; i < m->n_mats[kind]; i++)
		rows[i] = m->mats[kind][i].out;
	return m->n_mats[kind];
}

/* The union of a batch's selections of an input of `in` channels, in increasing channel
 * order, into m->pidx; returns its size. */
static uint32_t union_of(struct as_swap_model *m, size_t in, uint32_t n,
			 const struct as_sel *sels)
{
	uint32_t k = 0;

	memset(m->umask, 0, in);
	for (uint32_t t = 0; t < n; t++)
		for (uint32_t i = 0; i < sels[t].n; i++)
			m->umask[sels[t].idx[i]] = 1;
	for (uint32_t c = 0; c < in; c++)
		if (m->umask[c])
			m->pidx[k++] = c;
	return k;
}

/* A batch over the pinned table: nothing to fetch. With Q4_0 columns one product over
 * the union (swap_union.c), else token by token. */
static int table_linear_batch(void *ctx, uint32_t layer, enum as_group g, const float *X,
			      uint32_t n, const struct as_sel *sels, float *const *Ys)
{
	struct as_swap_model *m = ctx;
	uint32_t rows[SWAP_MAX_MATS], no = group_rows(m, (int)g, rows);
	size_t in = as_group_in(&m->rm.hp, g);
	float *yt[SWAP_MAX_MATS];
	int r = 0;

	if (!sels)
		return -EOPNOTSUPP;
	batch_group(m, layer, g, n);
	if (sw_union_ok(m, (int)g)) {
		const void *const *tab = m->all + m->all_off[layer * SWAP_KIND_MAX + g];
		uint32_t k = union_of(m, in, n, sels);

		for (uint32_t i = 0; i < k; i++)
			m->chan[m->pidx[i]] = tab[m->pidx[i]];
		m->ls[layer].lookups += k;
		m->ls[layer].hits += k;
		return fail(m, sw_union_product(m, layer, (int)g, X, n, sels, k, Ys), layer,
			    (int)g);
	}
	for (uint32_t t = 0; t < n && !r; t++) {
		token_ys(rows, no, Ys, t, yt);
		r = table_linear(ctx, layer, g, X + t * in, &sels[t], yt);
	}
	return r;
}

/*
 * Swapping: hot bundles are pinned, the rest requested on demand (with the gaps between
 * them) and acquired a chunk at a time, each chunk computed on as soon as it is in and
 * released after.
 */
static int engine_linear(void *ctx, uint32_t layer, enum as_group g, const float *x,
			 const struct as_sel *sel, float *const *ys)
{
	struct as_swap_model *m = ctx;
	struct as_swap_layer_stats *ls = &m->ls[layer];
	int kind = (int)g;
	uint32_t k = sel->n, hits = 0;
	int r;

	cols_prepare(m, layer, kind, x, sel, ys);
	swap_plug(m->eng);
	r = swap_request(m->eng, m->fkeys, fill_gaps(m, layer, kind, sel->idx, k, m->fkeys),
			 SWAP_PRIO_DEMAND, 0);
	for (uint32_t i = 0; i < k && !r; i++) {
		m->ptrs[i] = swap_pin(m->eng, m->keys[i]);
		m->pinned[i] = m->ptrs[i] != NULL;
		hits += m->pinned[i];
	}
	swap_unplug(m->eng);
	if (r)
		return fail(m, r, layer, kind);
	ls->lookups += k;
	ls->hits += hits;
	for (uint32_t c0 = 0, c1; c0 < k; c0 = c1) {
		uint32_t nm = 0;

		c1 = chunk_end(m, c0, k);

		for (uint32_t i = c0; i < c1; i++)
			if (!m->pinned[i])
				m->mkeys[nm++] = m->keys[i];
		if (nm) {
			r = swap_acquire(m->eng, m->mkeys, nm, m->mptrs);
			if (r) {
				for (uint32_t i = c0; i < k; i++)
					if (m->pinned[i])
						swap_release(m->eng, &m->keys[i], 1);
				return fail(m, r, layer, kind);
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
			return fail(m, r, layer, kind);
		}
		swap_release(m->eng, m->keys + c0, c1 - c0);
	}
	return 0;
}

/*
 * While a batch computes group g of layer, the next group (or the next layer's Q/K/V) is
 * read whole: with a batch whose union covers half of g's channels or more, the next
 * union is most of the next group too.
 */
static void batch_prefetch(struct as_swap_model *m, uint32_t layer, int kind)
{
	uint32_t l = kind == SWAP_FFN_OUT ? layer + 1 : layer, in;
	int next = kind == SWAP_FFN_OUT ? SWAP_ATTN_IN : kind + 1;

	if (l >= m->rm.hp.n_layer)
		return;
	in = swap_store_desc(m->st)->kinds[next].in;
	for (uint32_t i = 0; i < in; i++)
		m->fkeys[i] = (struct swap_key){ l, (uint32_t)next, i };
	swap_request(m->eng, m->fkeys, in, SWAP_PRIO_NEXT, 0);
}

/*
 * Swapping, a batch: the union of the tokens' selections is fetched once (with the gaps
 * between its channels, the resident ones pinned) and held while it is computed, and the
 * next group is read meanwhile. With Q4_0 columns the group is one product over the
 * union (swap_union.c: every column decoded once for the batch); otherwise every token
 * computes over its own selection exactly as engine_linear would (the same bundles,
 * chunks cut alike: the same bits).
 */
static int engine_linear_batch(void *ctx, uint32_t layer, enum as_group g, const float *X,
			       uint32_t n, const struct as_sel *sels, float *const *Ys)
{
	struct as_swap_model *m = ctx;
	struct as_swap_layer_stats *ls = &m->ls[layer];
	int kind = (int)g;
	uint32_t in = as_group_in(&m->rm.hp, g), k = 0, nm = 0, hits = 0, ck;
	uint32_t rows[SWAP_MAX_MATS], no = group_rows(m, kind, rows);
	float *yt[SWAP_MAX_MATS];
	int r;

	if (!sels)
		return -EOPNOTSUPP;
	batch_group(m, layer, g, n);
	k = union_of(m, in, n, sels);
	swap_plug(m->eng);
	r = swap_request(m->eng, m->fkeys, fill_gaps(m, layer, kind, m->pidx, k, m->fkeys),
			 SWAP_PRIO_DEMAND, 0);
	if (r) {
		swap_unplug(m->eng);
		return fail(m, r, layer, kind);
	}
	for (uint32_t i = 0; i < k; i++) {
		uint32_t c = m->pidx[i];

		m->ukeys[i] = (struct swap_key){ layer, (uint32_t)kind, c };
		m->chan[c] = swap_pin(m->eng, m->ukeys[i]);
		m->pinned[i] = m->chan[c] != NULL;
		hits += m->pinned[i];
		if (!m->pinned[i])
			m->mkeys[nm++] = m->ukeys[i];
	}
	swap_unplug(m->eng);
	if (nm)
		r = swap_acquire(m->eng, m->mkeys, nm, m->mptrs);
	if (r) {
		for (uint32_t i = 0; i < k; i++)
			if (m->pinned[i])
				swap_release(m->eng, &m->ukeys[i], 1);
		return fail(m, r, layer, kind);
	}
	for (uint32_t i = 0, j = 0; i < k; i++)
		if (!m->pinned[i])
			m->chan[m->pidx[i]] = m->mptrs[j++];
	ls->lookups += k;
	ls->hits += hits;
	if (2 * k >= in)
		batch_prefetch(m, layer, kind);
	if (sw_union_ok(m, kind)) {
		r = sw_union_product(m, layer, kind, X, n, sels, k, Ys);
		swap_release(m->eng, m->ukeys, k);
		return fail(m, r, layer, kind);
	}
	/* every token's whole selection is held: one pass of the threads per token (any
	 * cut of a selection that chunk_end allows gives the same sums) */
	ck = m->chunk;
	m->chunk = (uint32_t)sw_max_in(&m->rm.hp);
	for (uint32_t t = 0; t < n && !r; t++) {
		token_ys(rows, no, Ys, t, yt);
		cols_prepare(m, layer, kind, X + (size_t)t * in, &sels[t], yt);
		r = cols_lookup(m, kind, yt, &sels[t], m->chan);
	}
	m->chunk = ck;
	swap_release(m->eng, m->ukeys, k);
	return fail(m, r, layer, kind);
}

/* ---- tensor parallelism: the slice's channels, then the sum over the slices ------- */

typedef int (*cols_fn)(void *ctx, uint32_t layer, enum as_group g, const float *x,
		       const struct as_sel *sel, float *const *ys);

/*
 * The slice's part of the selection through fn (its partial products), then the group's
 * outputs summed over the slices in one reduce. Every slice reduces every group, even
 * with an empty part, so that none waits for another's; a failed fetch ends this process
 * (the launcher then ends the others).
 */
static int sliced(struct as_swap_model *m, cols_fn fn, uint32_t layer, enum as_group g,
		  const float *x, const struct as_sel *sel, float *const *ys)
{
	struct as_sel part = sw_slice_sel(m, (int)g, sel->idx, sel->n);
	size_t n = 0;
	int r = 0;

	if (part.n)
		r = fn(m, layer, g, x, &part, ys);
	else
		for (uint32_t mi = 0; mi < m->n_mats[g]; mi++)
			memset(ys[mi], 0, sizeof(float) * m->mats[g][mi].out);
	if (r)
		return r;
	/* one reduce for the group (Q, K and V; gate and up): the latency is per call */
	for (uint32_t mi = 0; mi < m->n_mats[g]; mi++) {
		memcpy(m->red + n, ys[mi], sizeof(float) * m->mats[g][mi].out);
		n += m->mats[g][mi].out;
	}
	r = m->reduce(m->reduce_arg, m->red, n);
	for (uint32_t mi = 0, o = 0; mi < m->n_mats[g] && !r; o += m->mats[g][mi++].out)
		memcpy(ys[mi], m->red + o, sizeof(float) * m->mats[g][mi].out);
	if (r && !m->errmsg[0])
		snprintf(m->errmsg, sizeof(m->errmsg), "layer %u, %s: the sum over the slices "
			 "failed: %s", layer, swap_kind_name((enum swap_kind)g), strerror(-r));
	return r;
}

static int table_linear_tp(void *ctx, uint32_t layer, enum as_group g, const float *x,
			   const struct as_sel *sel, float *const *ys)
{
	return sliced(ctx, table_linear, layer, g, x, sel, ys);
}

static int engine_linear_tp(void *ctx, uint32_t layer, enum as_group g, const float *x,
			    const struct as_sel *sel, float *const *ys)
{
	return sliced(ctx, engine_linear, layer, g, x, sel, ys);
}

/* ---- preloading ------------------------------------------------------------------- */

static void predict(struct as_swap_model *m, uint32_t layer, int kind, const uint32_t *idx,
		    uint32_t k, enum swap_prio prio, uint64_t tag)
{
	size_t pk = (size_t)layer * SW_N_PRED + (kind == SWAP_FFN_IN);
	uint32_t *st = m->stamp + pk * m->rm.hp.dim;
	uint32_t seq = ++m->seq;
	struct as_sel part = sw_slice_sel(m, kind, idx, k); /* the slice's (tensor parallel) */

	idx = part.idx;
	k = part.n;

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
	uint32_t n_layer = m->rm.hp.n_layer;
	uint64_t tag = m->token * n_layer + layer + 1;
	uint32_t last = layer + m->group;

	if (last >= n_layer)
		last = n_layer - 1;
	swap_plug(m->eng);
	for (uint32_t l = layer, sel = UINT32_MAX; l <= last; l++) {
		for (int kind = SWAP_ATTN_IN; kind <= SWAP_FFN_OUT; kind++) {
			uint32_t k;

			if (m->rm.hp.n_expert && kind >= SWAP_FFN_IN)
				break; /* experts: requested when the router has chosen */

			if (kind == SWAP_ATTN_OUT || kind == SWAP_FFN_OUT) {
				/* in the order the layer needs them: O, gate/up, down */
				if (l == layer && m->whole[kind]) {
					uint32_t lo = m->lo[kind], n = m->hi[kind] - lo;

					for (uint32_t i = 0; i < n; i++)
						m->fkeys[i] = (struct swap_key){ l, (uint32_t)kind,
										 lo + i };
					swap_request(m->eng, m->fkeys, n, SWAP_PRIO_NEXT, tag);
				}
				continue;
			}
			if (l == layer && kind == SWAP_ATTN_IN)
				continue; /* needed now: on demand */
			k = m->topk[l * SWAP_KIND_COUNT + kind];
			if (k != sel) { /* one selection per distinct K */
				as_topk_select(x, m->rm.hp.dim, k, m->pidx, m->scratch);
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

static void layer_begin(void *ctx, uint32_t layer, const float *x)
{
	struct as_swap_model *m = ctx;

	swap_layer_begin(m->eng, layer);
	if (!m->no_preload && !m->all)
		preload(m, layer, x);
}

/* ---- the tables ------------------------------------------------------------------- */

static const struct as_wsource_ops rows_ops = {
	.name = "rows",
	.token_begin = token_begin,
	.token_end = token_end,
	.linear = rows_linear,
	.linear_batch = rows_linear_batch,
};

static const struct as_wsource_ops table_ops = {
	.name = "table",
	.token_begin = token_begin,
	.token_end = token_end,
	.layer_begin = layer_begin,
	.linear = table_linear,
	.linear_batch = table_linear_batch,
	.experts_chosen = sw_table_experts_chosen,
	.expert_linear = sw_table_expert_linear,
};

static const struct as_wsource_ops engine_ops = {
	.name = "engine",
	.token_begin = token_begin,
	.token_end = token_end,
	.layer_begin = layer_begin,
	.linear = engine_linear,
	.linear_batch = engine_linear_batch,
	.experts_chosen = sw_engine_experts_chosen,
	.expert_linear = sw_engine_expert_linear,
};

/* tensor parallelism: a slice of the columns, summed over the slices */
static const struct as_wsource_ops table_tp_ops = {
	.name = "table-slice",
	.token_begin = token_begin,
	.token_end = token_end,
	.layer_begin = layer_begin,
	.linear = table_linear_tp,
};

static const struct as_wsource_ops engine_tp_ops = {
	.name = "engine-slice",
	.token_begin = token_begin,
	.token_end = token_end,
	.layer_begin = layer_begin,
	.linear = engine_linear_tp,
};

struct as_wsource sw_source(struct as_swap_model *m)
{
	const struct as_wsource_ops *ops = m->rows ? &rows_ops : m->all ? &table_ops :
				     &engine_ops;

	if (m->reduce)
		ops = m->all ? &table_tp_ops : &engine_tp_ops;

	return (struct as_wsource){ ops, m };
}

int as_swap_forward(struct as_swap_model *m, int32_t token, uint32_t pos, bool want_logits)
{
	return as_forward(m->s, token, pos, want_logits);
}

int as_swap_forward_batch(struct as_swap_model *m, const int32_t *tokens, uint32_t n,
			  uint32_t pos0, bool want_logits_last)
{
	return as_forward_batch(m->s, tokens, n, pos0, want_logits_last);
}

// SPDX-License-Identifier: MIT
/*
 * Opening and closing a store-backed model (activeswap/swap.h, swapmodel.h): the shape from
 * the store's hyper-parameters, the resident tensors, the sparsity levels, and the weight
 * source chosen for the budget (row copy, all-resident table or swapping engine; see
 * swap_place.c for the budget maths, swap_resident.c for the resident tensors and
 * swap_sources.c for the sources).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activeswap/gguf.h"
#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/threadpool.h"
#include "swapmodel.h"
#include "swaprows.h"

bool as_swap_is_store(const char *path)
{
	char magic[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool r;

	if (fd < 0)
		return false;
	r = swap_pread(fd, magic, 8, 0) == 8 && !memcmp(magic, "ASWSTORE", 8);
	close(fd);
	return r;
}

/* ---- loading ---------------------------------------------------------------------- */

/*
 * The architecture from the metadata the store keeps (model.c's reading of it) and the
 * head size: ARCH.attention.key_length when the metadata says it (Qwen3 0.6B: 128 over
 * 1024 / 16), else dim / head_count, which must then divide. value_length, when given,
 * must equal it, as for a GGUF.
 */
static int check_arch(struct as_swap_model *m, struct as_hparams *mh, char *err,
		      size_t errlen)
{
	char key[96], e[256];
	uint32_t kl;
	int r;

	if (m->meta) {
		r = as_hparams_arch(m->meta, mh, e, sizeof(e));
		if (r) {
			snprintf(err, errlen, "store: %s", e);
			return r;
		}
		r = as_hparams_experts(m->meta, mh, e, sizeof(e));
		if (r) {
			snprintf(err, errlen, "store: %s", e);
			return r;
		}
		snprintf(key, sizeof(key), "%s.attention.key_length", as_arch_name(mh->arch));
		if (!gguf_get_u32(m->meta, key, &kl)) {
			if (kl < 2 || kl > 4096) {
				snprintf(err, errlen, "store: %s %u outside 2..4096", key, kl);
				return -EINVAL;
			}
			mh->head_dim = kl;
		}
	}
	if (!mh->head_dim) {
		if (mh->dim % mh->n_head) {
			snprintf(err, errlen, "store: bad hyper-parameters (dim %u is not a "
				 "multiple of head_count %u)", mh->dim, mh->n_head);
			return -EINVAL;
		}
		mh->head_dim = mh->dim / mh->n_head;
	}
	if ((uint64_t)mh->n_head * mh->head_dim > (1u << 20)) {
		snprintf(err, errlen, "store: head_count %u x head size %u is too wide",
			 mh->n_head, mh->head_dim);
		return -EINVAL;
	}
	if (m->meta) {
		snprintf(key, sizeof(key), "%s.attention.value_length", as_arch_name(mh->arch));
		if (!gguf_get_u32(m->meta, key, &kl) && kl != mh->head_dim) {
			snprintf(err, errlen, "store: %s %u is not the head size %u", key, kl,
				 mh->head_dim);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * An expert kind (store version 3): n_expert bundles, each the rows of one expert's
 * matrices (FFN_IN gate and up, n_ff_exp x dim; FFN_OUT down, dim x n_ff_exp) in a type
 * the dense kernels take, exactly rows x row bytes each.
 */
static int sw_check_experts(struct as_swap_model *m, int k, char *err, size_t errlen)
{
	const struct swap_kind_desc *kd = &swap_store_desc(m->st)->kinds[k];
	const struct as_hparams *mh = &m->rm.hp;
	bool in = k == SWAP_FFN_IN || k == SWAP_FFN_IN_LOW;
	uint32_t rows = in ? mh->n_ff_exp : mh->dim, cols = in ? mh->dim : mh->n_ff_exp;
	uint64_t off = 0, stride;

	if (kd->in != mh->n_expert || kd->n_mats != (in ? 2u : 1u) ||
	    (kd->cols && kd->cols != cols))
		goto bad;
	for (uint32_t i = 0; i < kd->n_mats; i++) {
		enum ggml_type t = (enum ggml_type)kd->mats[i].type;
		uint64_t rb, need;

		if (kd->cols) { /* columns (version 5): the sparse kernels' encodings */
			if (!as_sparse_type_ok(t) || kd->mats[i].out != rows ||
			    !(need = as_col_bytes(t, rows)) || kd->mats[i].col_bytes != need)
				goto bad;
		} else if (!as_type_supported(t) || kd->mats[i].out != rows ||
			   as_row_bytes(t, cols, &rb) ||
			   __builtin_mul_overflow(rb, (uint64_t)rows, &need) ||
			   kd->mats[i].col_bytes != need) {
			goto bad;
		}
		m->mats[k][i] = (struct sw_mat){ .type = t, .out = rows, .off = off,
			.op = in ? (i ? AS_OP_UP : AS_OP_GATE) : AS_OP_DOWN, .in = cols };
		off += need;
	}
	/* a column of every matrix after the other: cols x that */
	stride = kd->cols ? off * cols : off;
	if (stride != swap_store_bundle_bytes(m->st, k))
		goto bad;
	m->n_mats[k] = kd->n_mats;
	m->xcols = kd->cols != 0;
	return 0;
bad:
	snprintf(err, errlen, "store: expert kind %s does not match %u experts of dim %u, "
		 "width %u (or has a type the %s kernels do not take)",
		 swap_kind_name((enum swap_kind)k), mh->n_expert, mh->dim, mh->n_ff_exp,
		 kd->cols ? "column" : "dense");
	return -EINVAL;
}

static int check_hparams(struct as_swap_model *m, const struct swap_store_desc *d, char *err,
			 size_t errlen)
{
	const struct swap_hparams *hp = &d->hp;
	struct as_hparams *mh = &m->rm.hp;
	uint32_t n_rot, kv_dim, q_dim;
	char key[96];
	int r;

	if (!hp->dim || !hp->hidden || !hp->n_heads || !hp->n_kv_heads || !hp->vocab ||
	    hp->n_heads % hp->n_kv_heads || !d->n_layers || hp->n_heads > hp->dim ||
	    hp->dim > (1u << 20) || hp->hidden > (1u << 22) || hp->vocab > (1u << 24) ||
	    d->n_layers > 4096) {
		snprintf(err, errlen, "store: bad hyper-parameters (dim %u, hidden %u, heads "
			 "%u/%u, vocab %u, layers %u)", hp->dim, hp->hidden, hp->n_heads,
			 hp->n_kv_heads, hp->vocab, d->n_layers);
		return -EINVAL;
	}
	mh->dim = hp->dim;
	mh->hidden = hp->hidden;
	mh->n_layer = d->n_layers;
	mh->n_head = hp->n_heads;
	mh->n_head_kv = hp->n_kv_heads;
	mh->head_dim = 0;
	mh->n_vocab = hp->vocab;
	mh->n_ctx_train = hp->n_ctx;
	mh->eps = hp->rms_eps > 0 && hp->rms_eps < 1 ? hp->rms_eps : 1e-5f;
	mh->rope_base = hp->rope_theta >= 1 ? hp->rope_theta : 10000.0f;
	mh->rope_freq_scale = 1.0f;
	r = check_arch(m, mh, err, errlen);
	if (r)
		return r;
	if (mh->n_expert != d->n_expert) {
		snprintf(err, errlen, "store: %u experts in the header, %u in the metadata",
			 d->n_expert, mh->n_expert);
		return -EINVAL;
	}
	mh->n_rot = mh->head_dim;
	snprintf(key, sizeof(key), "%s.rope.dimension_count", as_arch_name(mh->arch));
	if (m->meta && !gguf_get_u32(m->meta, key, &n_rot)) {
		if (n_rot < 2 || n_rot > mh->head_dim) {
			snprintf(err, errlen, "store: bad rope.dimension_count %u", n_rot);
			return -EINVAL;
		}
		mh->n_rot = n_rot;
	}
	if (mh->n_rot % 2) {
		snprintf(err, errlen, "store: rope dimension %u is odd", mh->n_rot);
		return -EINVAL;
	}
	/* bundle kinds must have the shapes of a Llama layer */
	kv_dim = mh->n_head_kv * mh->head_dim;
	q_dim = as_q_dim(mh);
	{
		const uint32_t in[SWAP_KIND_COUNT] = { mh->dim, q_dim, mh->dim, mh->hidden };
		const uint32_t nm[SWAP_KIND_COUNT] = { 3, 1, 2, 1 };
		const uint32_t outs[SWAP_KIND_COUNT][3] = {
			{ q_dim, kv_dim, kv_dim }, { mh->dim }, { mh->hidden, mh->hidden },
			{ mh->dim } };
		static const enum as_op ops[SWAP_KIND_COUNT][3] = {
			{ AS_OP_Q, AS_OP_K, AS_OP_V }, { AS_OP_O }, { AS_OP_GATE, AS_OP_UP },
			{ AS_OP_DOWN } };

		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			const struct swap_kind_desc *kd = &d->kinds[k];
			uint64_t off = 0;

			if (mh->n_expert && (k == SWAP_FFN_IN || k == SWAP_FFN_OUT)) {
				r = sw_check_experts(m, k, err, errlen);
				/* version 4: the same experts in a lower precision */
				if (!r && swap_store_n_kinds(m->st) == SWAP_KIND_MAX)
					r = sw_check_experts(m, k + SWAP_FFN_IN_LOW - SWAP_FFN_IN,
							     err, errlen);
				if (r)
					return r;
				continue;
			}
			if (kd->in != in[k] || kd->n_mats != nm[k])
				goto bad;
			for (uint32_t i = 0; i < nm[k]; i++) {
				enum ggml_type t = (enum ggml_type)kd->mats[i].type;
				uint64_t need;

				if (kd->mats[i].out != outs[k][i] ||
				    !(as_sparse_type_ok(t) || as_kq_type(t)) ||
				    (as_kq_type(t) && !as_kq_table_bytes(t, kd->mats[i].out,
									 in[k])))
					goto bad;
				need = as_col_bytes(t, kd->mats[i].out);
				if (!need || kd->mats[i].col_bytes < need)
					goto bad;
				m->mats[k][i].type = t;
				m->mats[k][i].out = kd->mats[i].out;
				m->mats[k][i].off = off;
				m->mats[k][i].op = ops[k][i];
				m->mats[k][i].in = in[k];
				m->mats[k][i].kq = as_kq_type(t);
				m->kq = m->kq || as_kq_type(t);
				off += kd->mats[i].col_bytes;
			}
			if (off > swap_store_bundle_bytes(m->st, k))
				goto bad;
			m->n_mats[k] = nm[k];
			continue;
bad:
			snprintf(err, errlen, "store: bundle kind %d does not match a layer of "
				 "dim %u, hidden %u, attention %u (or has an unsupported column "
				 "type)", k, mh->dim, mh->hidden, q_dim);
			return -EINVAL;
		}
	}
	return 0;
}

void as_swap_close(struct as_swap_model *m)
{
	if (!m)
		return;
	if (m->eng) {
		sw_experts_drain(m); /* reads started for a token that failed */
		swap_engine_destroy(m->eng);
	}
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
	for (uint32_t i = 0; i < m->n_extra; i++)
		free(m->extra[i]);
	free(m->extra);
	free(m->sp);
	free(m->thr);
	free(m->red);
	free(m->topk);
	as_state_free(m->s);
	free(m->rm.layers);
	free(m->scratch);
	free(m->xs);
	free(m->pidx);
	free(m->keys);
	free(m->mkeys);
	free(m->fkeys);
	free(m->ptrs);
	free(m->mptrs);
	free(m->colp);
	free(m->pinned);
	free(m->chs);
	free(m->umask);
	free(m->ukeys);
	free(m->chan);
	sw_union_free(m);
	if (m->kqt)
		for (uint32_t i = 0; i < m->rm.hp.n_layer * AS_OP_COUNT; i++)
			free(m->kqt[i]);
	free(m->kqt);
	free(m->kqtyp);
	free(m->stamp);
	free(m->pred_seq);
	free(m->pred_tok);
	free(m->pred_n);
	free(m->all);
	free(m->all_off);
	free(m->ls);
	free(m->xp_x);
	free(m->xp_p);
	free(m->xp_w);
	free(m->xp_ids);
	free(m->xp_set);
	free(m->xlow);
	free(m->xp_tok);
	free(m->xp_tag);
	free(m->xpk);
	free(m->xpp);
	free(m->xcolp);
	free(m->xcx);
	free(m->xsel_idx);
	free(m->xparts_in);
	free(m->xrd);
	free(m->xrde);
	free(m->xslot);
	free(m->xslotp);
	free(m->xparts);
	free(m->xbuf);
	sw_xghost_free(&m->xg[0]);
	sw_xghost_free(&m->xg[1]);
	free(m);
}

uint32_t as_swap_topk_count(float s, uint32_t n)
{
	double k = floor((1.0 - (double)s) * (double)n + 0.5);

	if (k < 1)
		k = 1;
	return k > n ? n : (uint32_t)k;
}

int as_swap_set_expert_precision(struct as_swap_model *m, enum as_expert_precision x,
				 uint32_t high)
{
	uint32_t k = m->rm.hp.n_expert_used;

	if (!m->xlow)
		return -EOPNOTSUPP;
	if ((unsigned)x >= AS_XPREC_COUNT || high > k)
		return -EINVAL;
	m->xprec = x;
	m->xhigh = high ? high : (k + 1) / 2;
	if (x == AS_XPREC_OFF) /* plan() does not run: every expert high */
		memset(m->xlow, 0, m->rm.hp.n_expert);
	return 0;
}

int as_swap_set_sparsity(struct as_swap_model *m, float s)
{
	const struct swap_store_desc *d = swap_store_desc(m->st);

	if (!(s >= 0.0f && s < 1.0f))
		return -EINVAL;
	if (m->rows)
		return -EOPNOTSUPP; /* the row copy takes every channel */
	for (uint32_t i = 0; i < m->rm.hp.n_layer * SWAP_KIND_COUNT; i++) {
		m->sp[i] = s;
		m->topk[i] = as_swap_topk_count(s, d->kinds[i % SWAP_KIND_COUNT].in);
	}
	sw_plan_whole(m); /* O and down requested whole only while gaps read them anyway */
	return 0;
}

int as_swap_set_gap(struct as_swap_model *m, uint64_t gap_bytes)
{
	if (m->rows)
		return -EOPNOTSUPP;
	if (!m->gap_ok)
		return gap_bytes ? -EOPNOTSUPP : 0; /* a group-N store: nothing to fill */
	sw_plan_gaps(m, gap_bytes);
	return 0;
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

/* The column sources' buffers and the statistics. */
static int alloc_buffers(struct as_swap_model *m)
{
	const struct as_hparams *hp = &m->rm.hp;
	size_t maxio = sw_max_in(hp);
	size_t npred = (size_t)hp->n_layer * SW_N_PRED;

	m->scratch = calloc(maxio, 4);
	m->xs = calloc(maxio, 4);
	m->pidx = calloc(maxio, 4);
	m->keys = calloc(maxio, sizeof(*m->keys));
	m->mkeys = calloc(maxio, sizeof(*m->mkeys));
	m->fkeys = calloc(maxio, sizeof(*m->fkeys));
	m->ptrs = calloc(maxio, sizeof(void *));
	m->mptrs = calloc(maxio, sizeof(void *));
	if (m->chunk > maxio)
		m->chunk = (uint32_t)maxio;
	/* for a whole selection at once (all pinned, or held by a batch) */
	m->colp = calloc(maxio * SWAP_MAX_MATS, sizeof(void *));
	m->pinned = calloc(maxio, 1);
	m->chs = calloc(maxio, 4);
	m->umask = calloc(maxio, 1);
	m->ukeys = calloc(maxio, sizeof(*m->ukeys));
	m->chan = calloc(maxio, sizeof(void *));
	m->stamp = calloc(npred * hp->dim, 4);
	m->pred_seq = calloc(npred, 4);
	m->pred_tok = calloc(npred, 8);
	m->pred_n = calloc(npred, 4);
	m->ls = calloc(hp->n_layer, sizeof(*m->ls));
	if (!m->scratch || !m->xs || !m->pidx || !m->keys || !m->mkeys || !m->fkeys ||
	    !m->ptrs || !m->mptrs || !m->colp || !m->pinned || !m->stamp || !m->pred_seq ||
	    !m->pred_tok || !m->pred_n || !m->ls || !m->chs || !m->umask || !m->ukeys ||
	    !m->chan)
		return -ENOMEM;
	if (hp->n_expert) {
		m->xp_x = calloc(hp->dim, 4);
		m->xp_p = calloc(hp->n_expert, 4);
		m->xp_w = calloc(hp->n_expert, 4);
		m->xp_ids = calloc(hp->n_expert, 4);
		m->xp_set = calloc((size_t)hp->n_layer * hp->n_expert_used, 4);
		m->xp_tok = calloc(hp->n_layer, 8);
		m->xp_tag = calloc(hp->n_layer, 8);
		m->xpk = calloc(2 * (size_t)hp->n_expert_used, sizeof(*m->xpk));
		m->xpp = calloc(2 * (size_t)hp->n_expert_used, sizeof(*m->xpp));
		if (!m->xp_x || !m->xp_p || !m->xp_w || !m->xp_ids || !m->xp_set ||
		    !m->xp_tok || !m->xp_tag || !m->xpk || !m->xpp)
			return -ENOMEM;
		if (m->xcols) {
			size_t xin = hp->dim > hp->n_ff_exp ? hp->dim : hp->n_ff_exp;

			size_t ku = hp->n_expert_used;

			m->xcolp = calloc(2 * xin, sizeof(*m->xcolp));
			m->xcx = calloc(xin, sizeof(float));
			m->xparts = calloc(xin, sizeof(*m->xparts));
			m->xsel_idx = calloc(hp->dim, sizeof(*m->xsel_idx));
			m->xparts_in = calloc(hp->dim, sizeof(*m->xparts_in));
			m->xrd = calloc(ku, sizeof(*m->xrd));
			m->xrde = calloc(ku, sizeof(*m->xrde));
			m->xslot = calloc(ku, sizeof(*m->xslot));
			m->xslotp = calloc(ku, sizeof(*m->xslotp));
			if (!m->xcolp || !m->xcx || !m->xparts || !m->xsel_idx ||
			    !m->xparts_in || !m->xrd || !m->xrde || !m->xslot || !m->xslotp)
				return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Expert prediction, unless asked for (expert_predict), only with room in the expert
 * cache for two layers' chosen experts: with fewer gate/up slots a layer's preloads
 * compete with its own misses for them and every wrong guess (a third to a half) is a
 * whole expert read for nothing (Mixtral-8x7B 7-layer cut at 12%, 2-3 slots: 0.79 tok/s
 * with prediction, 1.26 without; benchmarks.md, "Expert columns"). Nor when a gate/up
 * miss is read in part (expert columns under Top-K, as_swap_expert_partial): a preload
 * reads the whole bundle where the miss it may save reads the selected columns (Mixtral
 * 7-layer cut at 25%, columns, S 0.5: 1.04 GB and 1.25-1.55 tok/s with prediction, 0.94 GB
 * and 1.59-1.65 tok/s without). Called once the expert sparsity is set.
 */
static void expert_predict_default(struct as_swap_model *m, const struct as_swap_params *p)
{
	struct swap_stats s;

	if (!m->rm.hp.n_expert || !m->xp_ahead || p->expert_predict || !m->eng)
		return;
	swap_engine_stats(m->eng, &s);
	if (s.kind_slots[SWAP_FFN_IN] < 2ull * m->rm.hp.n_expert_used)
		m->xp_auto_off = AS_XP_OFF_CACHE;
	else if (as_swap_expert_partial(m) & 1u)
		m->xp_auto_off = AS_XP_OFF_PARTIAL;
	if (m->xp_auto_off)
		m->xp_ahead = 0;
}

/* A column store's expert caches get their ghosts (swap_xghost.c), of their slots: the
 * contextual policy's, or LRU for the others (static pins a fixed set, which LRU
 * approximates from below). */
static int expert_ghosts(struct as_swap_model *m, const struct as_swap_params *p)
{
	uint64_t ids = (uint64_t)m->rm.hp.n_layer * m->rm.hp.n_expert;
	struct swap_stats s;
	int r = 0;

	if (!m->xcols || !m->eng || !m->rm.hp.n_expert)
		return 0;
	if (ids >= UINT32_MAX)
		return -EOVERFLOW;
	swap_engine_stats(m->eng, &s);
	for (int g = 0; g < 2 && !r; g++) {
		uint64_t cap = s.kind_slots[g ? SWAP_FFN_OUT : SWAP_FFN_IN];

		r = sw_xghost_init(&m->xg[g], (uint32_t)ids, (uint32_t)(cap < ids ? cap : ids),
				   p->expert_policy != SWAP_POLICY_FREQ);
	}
	return r;
}

/* The engine gets what the budget leaves; with a budget for everything, every bundle is
 * pinned now (the table source). */
static int open_engine(struct as_swap_model *m, const struct as_swap_params *p, char *err,
		       size_t errlen)
{
	const struct as_hparams *hp = &m->rm.hp;
	size_t maxio = sw_max_in(hp);
	struct swap_engine_params ep;
	struct swap_stats s;
	uint32_t static_kinds = sw_static_kinds(m->st, p);
	int r;

	sw_engine_params(m->st, p, &ep);
	if (p->budget_bytes) {
		uint64_t minb = swap_engine_min_budget(m->st, &ep);
		uint64_t recs = sw_slot_records(m->st, minb);
		uint64_t budget = p->budget_bytes;
		struct as_swap_budget full;

		/* a budget above what holding everything takes gets just that: the pool is
		 * allocated whole, never more than the model needs */
		sw_budget(m->st, p, &full);
		if (budget > full.full)
			budget = full.full;
		if (budget < m->fixed_bytes + minb + recs) {
			snprintf(err, errlen, "DRAM budget %.1f MiB is too small: the resident part "
				 "(tensors, KV cache for %u positions, activations) takes %.1f MiB "
				 "and one layer group of bundles plus read buffers %.1f MiB; at "
				 "least %.1f MiB", p->budget_bytes / 1048576.0, m->n_ctx,
				 m->fixed_bytes / 1048576.0, (minb + recs) / 1048576.0,
				 (m->fixed_bytes + minb + recs) / 1048576.0);
			return -ENOSPC;
		}
		/* the pool and the records of the slots carved from it fit the rest */
		ep.budget_bytes = budget - m->fixed_bytes;
		ep.budget_bytes -= sw_slot_records(m->st, ep.budget_bytes);
		if (ep.budget_bytes < minb)
			ep.budget_bytes = minb;
	}
	sw_plan_reads(m, p, &ep);
	r = swap_engine_create(&m->eng, m->st, &ep, err, errlen);
	if (r)
		return r;
	swap_engine_stats(m->eng, &s);
	m->pool_bytes = s.pool_bytes;
	if (static_kinds) {
		r = sw_static_prefix(m, s.kind_slots, static_kinds);
		if (r && r != -ENOSPC) {
			char why[200];

			sw_describe_error(m, r, 0, 0, why, sizeof(why));
			snprintf(err, errlen, "loading the static hot set: %s", why);
			return r;
		}
	}
	m->budget_bytes = p->budget_bytes ? p->budget_bytes : m->fixed_bytes + m->pool_bytes;
	if (!p->no_pin_all && !static_kinds) {
		struct as_swap_budget bi;

		sw_budget(m->st, p, &bi);
		/* nothing to acquire per op: the whole selection in one pass of the threads
		 * (the chunks only bound the pins of the swapping path) */
		if (m->budget_bytes >= bi.full && !sw_pin_all(m))
			m->chunk = (uint32_t)maxio;
	}
	return 0;
}

/*
 * The batch whose scratch the budget holds: p->batch (at most n_ctx), halved while the
 * smallest budget accepted with it exceeds the budget given (a prompt then takes more
 * batches; 1: token by token, no scratch).
 */
static uint32_t fit_batch(const struct swap_store *st, const struct as_swap_params *p,
			  uint32_t n_ctx)
{
	uint32_t b = p->batch > n_ctx ? n_ctx : p->batch;

	while (p->budget_bytes && b > 1) {
		struct as_swap_params q = *p;
		struct as_swap_budget bi;

		q.batch = b;
		sw_budget(st, &q, &bi);
		if (p->budget_bytes >= bi.min)
			break;
		b /= 2;
	}
	return b;
}

/* Sparsity levels per (layer, kind) and the channels they keep. */
static int set_levels(struct as_swap_model *m, const struct as_swap_params *p, char *err,
		      size_t errlen)
{
	const struct swap_store_desc *d = swap_store_desc(m->st);
	uint32_t n = m->rm.hp.n_layer * SWAP_KIND_COUNT;

	m->sp = malloc(sizeof(float) * n);
	m->topk = malloc(sizeof(uint32_t) * n);
	if (!m->sp || !m->topk)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		float s = p->layer_sparsity ? p->layer_sparsity[i] : p->sparsity;

		if (!(s >= 0.0f && s < 1.0f)) {
			snprintf(err, errlen, "layer sparsity %g outside [0, 1)", (double)s);
			return -EINVAL;
		}
		m->sp[i] = s;
		m->topk[i] = as_swap_topk_count(s, d->kinds[i % SWAP_KIND_COUNT].in);
	}
	if (!p->layer_threshold)
		return 0;
	m->thr = malloc(sizeof(float) * n);
	if (!m->thr)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		float t = p->layer_threshold[i];

		if (!(t >= 0.0f) || !isfinite(t)) {
			snprintf(err, errlen, "layer threshold %g is not a finite value >= 0",
				 (double)t);
			return -EINVAL;
		}
		m->thr[i] = t;
	}
	return 0;
}

/* The expert precision planner (swap_experts.c): only with low copies in the store. */
static int set_precision(struct as_swap_model *m, const struct as_swap_params *p, char *err,
			 size_t errlen)
{
	uint32_t k = m->rm.hp.n_expert_used;

	if ((unsigned)p->expert_precision >= AS_XPREC_COUNT) {
		snprintf(err, errlen, "unknown expert precision policy %d",
			 (int)p->expert_precision);
		return -EINVAL;
	}
	if (p->expert_precision == AS_XPREC_OFF && !p->expert_low_slots)
		return 0;
	if (swap_store_n_kinds(m->st) != SWAP_KIND_MAX && p->expert_precision == AS_XPREC_OFF)
		return 0; /* nothing to change to later: as without expert_low_slots */
	if (swap_store_n_kinds(m->st) != SWAP_KIND_MAX) {
		snprintf(err, errlen, "expert precision %s needs a store with low-precision "
			 "experts (convert --expert-types HIGH,LOW)",
			 as_expert_precision_name(p->expert_precision));
		return -EINVAL;
	}
	if (p->expert_high > k) {
		snprintf(err, errlen, "%u experts kept high, over the %u a token uses",
			 p->expert_high, k);
		return -EINVAL;
	}
	m->xprec = p->expert_precision;
	m->xhigh = p->expert_high ? p->expert_high : (k + 1) / 2;
	m->xlow = calloc(m->rm.hp.n_expert, 1);
	return m->xlow ? 0 : -ENOMEM;
}

/* Tensor parallelism: the slice's channels of every kind and the sum over the slices. */
static int set_slice(struct as_swap_model *m, const struct swap_store_desc *d,
		     const struct as_swap_params *p, char *err, size_t errlen)
{
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		as_swap_slice(d, p->n_slices, p->slice, k, &m->lo[k], &m->hi[k]);
	/* the low experts when the planner reads them (no slices with experts) */
	for (int k = SWAP_FFN_IN_LOW; k < SWAP_KIND_MAX && m->xlow; k++)
		m->hi[k] = d->kinds[k].in;
	if (p->n_slices <= 1)
		return 0;
	if (p->slice >= p->n_slices || !p->reduce) {
		snprintf(err, errlen, "tensor parallelism: slice %u of %u, or no reduction",
			 p->slice, p->n_slices);
		return -EINVAL;
	}
	if (d->n_expert) {
		snprintf(err, errlen, "tensor parallelism over a mixture-of-experts store is not "
			 "supported");
		return -EOPNOTSUPP;
	}
	m->reduce = p->reduce;
	m->reduce_arg = p->reduce_arg;
	{
		uint64_t w = 0;

		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			uint64_t o = 0;

			for (uint32_t i = 0; i < d->kinds[k].n_mats; i++)
				o += d->kinds[k].mats[i].out;
			w = o > w ? o : w;
		}
		m->red = malloc(sizeof(float) * w);
	}
	return m->red ? 0 : -ENOMEM;
}

int as_swap_open(struct as_swap_model **out, const char *path,
		 const struct as_swap_params *p, char *err, size_t errlen)
{
	struct as_swap_model *m;
	const struct swap_store_desc *d;
	int r;

	*out = NULL;
	if (errlen)
		err[0] = 0;
	if (!(p->sparsity >= 0.0f && p->sparsity < 1.0f)) {
		snprintf(err, errlen, "sparsity %g outside [0, 1)", (double)p->sparsity);
		return -EINVAL;
	}
	if (!(p->head_sparsity >= 0.0f && p->head_sparsity < 1.0f)) {
		snprintf(err, errlen, "head sparsity %g outside [0, 1)",
			 (double)p->head_sparsity);
		return -EINVAL;
	}
	if (p->kv_type != AS_KV_F32 && p->kv_type != AS_KV_F16) {
		snprintf(err, errlen, "unknown KV cache type %d", (int)p->kv_type);
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
	if (!r)
		r = set_precision(m, p, err, errlen);
	if (r)
		goto fail;
	r = set_slice(m, d, p, err, errlen);
	if (r)
		goto fail;
	m->tp = p->tp;
	m->n_ctx = sw_default_ctx(m->st, p->n_ctx);
	m->group = p->group ? p->group : d->group;
	if (m->group > m->rm.hp.n_layer)
		m->group = m->rm.hp.n_layer;
	m->no_preload = p->no_preload;
	/* experts of the next layer(s) predicted from this one's FFN input (not on demand
	 * only) */
	m->xp_ahead = p->no_preload || p->no_expert_predict ? 0 :
		      p->expert_predict ? p->expert_predict : 1;
	m->check_use = p->check_use;
	m->verify = p->verify_resident || p->check_use || (p->engine_flags & SWAP_F_VERIFY);
	m->verify_reads = p->engine_flags & SWAP_F_VERIFY;
	/* a multiple of the Q4_0 kernels' group: the sums then do not depend on how an op's
	 * selection is cut into chunks (activeswap/sparse.h), so the all-resident path can
	 * take it in one pass and stay bit-identical to swapping */
	{
		uint64_t c = p->chunk ? p->chunk : SW_DEF_CHUNK;

		c = (c + AS_SPARSE_Q4_GROUP - 1) / AS_SPARSE_Q4_GROUP * AS_SPARSE_Q4_GROUP;
		m->chunk = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c; /* clamped to maxio */
	}
	r = set_levels(m, p, err, errlen);
	if (!r)
		r = sw_load_tensors(m, err, errlen);
	if (!r)
		r = alloc_buffers(m);
	if (r)
		goto fail;
	m->batch = fit_batch(m->st, p, m->n_ctx);
	m->kv_type = p->kv_type;
	m->fixed_bytes = sw_fixed_bytes(m->st, m->n_ctx, m->batch, as_tp_size(m->tp),
					m->kv_type);
	r = -ENOENT;
	if (!p->no_rows && !m->reduce) {
		bool dense = true;

		for (uint32_t i = 0; i < m->rm.hp.n_layer * SWAP_KIND_COUNT; i++)
			dense = dense && m->sp[i] == 0.0f && (!m->thr || m->thr[i] == 0.0f);
		r = dense ? open_rows(m, p, err, errlen) : -ENOENT;
		/* the row copy's streaming buffers can need more than the engine's minimum
		 * (fit_batch's measure): a smaller batch's scratch leaves them room */
		while (r == -ENOSPC && m->batch > 1) {
			m->batch /= 2;
			m->fixed_bytes = sw_fixed_bytes(m->st, m->n_ctx, m->batch,
							as_tp_size(m->tp), m->kv_type);
			r = open_rows(m, p, err, errlen);
		}
		if (r && r != -ENOENT)
			goto fail;
		if (r && errlen)
			err[0] = 0; /* no row copy: the columns */
	}
	if (r) {
		r = open_engine(m, p, err, errlen);
		if (!r && m->kq)
			r = sw_load_kq_tables(m, err, errlen);
		if (r)
			goto fail;
	}
	/* the forward pass over the source: the row copy takes every channel */
	r = as_state_new_src(&m->s, &m->rm, m->n_ctx, m->tp, sw_source(m));
	if (r == -EOVERFLOW) {
		snprintf(err, errlen, "KV cache size overflows");
		goto fail;
	}
	if (!r)
		r = as_state_set_kv_type(m->s, m->kv_type);
	if (r)
		goto fail;
	if (!m->rows) {
		m->s->topk = m->topk;
		m->s->thresh = m->thr;
	}
	{
		uint32_t nh = m->rm.hp.n_head;
		double sk = floor((double)p->head_sparsity * nh + 0.5);

		m->s->head_skip = sk >= nh ? nh - 1 : (uint32_t)sk;
	}
	if (p->expert_sparsity != 0.0f) {
		r = m->rm.hp.n_expert ? as_state_expert_sparsity(m->s, p->expert_sparsity) :
					-EINVAL;
		if (r) {
			snprintf(err, errlen, "expert sparsity %g: %s", (double)p->expert_sparsity,
				 m->rm.hp.n_expert ? "not in [0, 1)" : "the model has no experts");
			goto fail;
		}
	}
	sw_expert_shares(m);
	expert_predict_default(m, p);
	r = expert_ghosts(m, p);
	if (r) {
		if (r == -EOVERFLOW)
			snprintf(err, errlen, "too many experts (%u layers of %u)",
				 m->rm.hp.n_layer, m->rm.hp.n_expert);
		goto fail;
	}
	/* the batch scratch is in the budget (sw_fixed_bytes): allocated now, once */
	if (m->batch > 1) {
		r = as_state_reserve_batch(m->s, m->batch);
		if (!r)
			r = sw_union_alloc(m);
		if (r)
			goto fail;
	}
	*out = m;
	return 0;
fail:
	if (r == -ENOMEM && errlen && !err[0])
		snprintf(err, errlen, "out of memory");
	as_swap_close(m);
	return r;
}

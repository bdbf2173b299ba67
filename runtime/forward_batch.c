// SPDX-License-Identifier: MIT
/*
 * The forward pass for a batch of positions (as_forward_batch, activeswap/forward.h):
 * prompt processing. Each layer runs all n positions together: the products of each op
 * group once for the batch through the source's linear_batch (the dense source: one
 * as_matmul_multi, the weights read once), the per-position arithmetic (norms, biases,
 * RoPE, SwiGLU) as forward.c does it (forward_impl.h), and causal attention of every
 * position over the cache, which holds the batch's own K/V rows by then. Every position
 * is computed with the same steps in the same order as as_forward, so the logits are
 * the same bit for bit. With a Top-K (the stores' sparsity) every position selects its
 * own channels of each group input, as as_forward would, and the source gets them all
 * at once (a store fetches their union once for the batch). The scratch lives in the
 * state (as_state_reserve_batch): a batch allocates nothing once it is reserved.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/attention.h"
#include "activeswap/forward.h"
#include "activeswap/kernels.h"
#include "activeswap/sparse.h"
#include "activeswap/threadpool.h"
#include "forward_impl.h"

/* Scratch of a batch of up to cap positions, [n][...] rows, kept in the state. */
struct as_batch {
	uint32_t cap, n, pos0;
	float *x;    /* [n][dim] residual stream */
	float *xb;   /* [n][dim] normed input, then a group's output */
	float *q;    /* [n][q_dim] */
	float *xb2;  /* [n][q_dim] attention output */
	float *hb;   /* [n][hidden] */
	float *hb2;  /* [n][hidden] */
	float *rope; /* [n][n_rot] */
	float *att;  /* [threads][n_ctx] scores */
	float *kf;   /* [n][kv_dim] K before an F16 cache stores it (F16 only) */
	float *vf;   /* [n][kv_dim] V, the same */
	int n_att;
	/* with a Top-K: every position's selection of a group's input */
	struct as_sel *sels; /* [n] */
	uint32_t *sel_idx;   /* [n][widest input] */
};

/* The widest input of a group: dim, hidden or the attention width. */
static size_t widest_in(const struct as_hparams *hp)
{
	size_t w = hp->dim > hp->hidden ? hp->dim : hp->hidden;

	return as_q_dim(hp) > w ? as_q_dim(hp) : w;
}

static int att_rows(int threads)
{
	return threads > 0 ? threads : 1;
}

uint64_t as_batch_bytes(const struct as_hparams *hp, uint32_t n_ctx, uint32_t n, int threads,
			bool topk)
{
	/* with the K/V rows an F16 cache needs (counted for either type) */
	uint64_t row = 2 * (uint64_t)hp->dim + 2 * as_q_dim(hp) + 2 * (uint64_t)hp->hidden +
		       (hp->n_rot ? hp->n_rot : 1) + 2 * (uint64_t)hp->n_head_kv * hp->head_dim;
	uint64_t b = sizeof(struct as_batch) + (uint64_t)n * row * sizeof(float) +
		     (uint64_t)att_rows(threads) * n_ctx * sizeof(float);

	if (topk)
		b += (uint64_t)n * (sizeof(struct as_sel) + widest_in(hp) * sizeof(uint32_t));
	return b;
}

void as_fw_batch_free(struct as_state *s)
{
	struct as_batch *b = s->batch;

	if (!b)
		return;
	free(b->x);
	free(b->xb);
	free(b->q);
	free(b->xb2);
	free(b->hb);
	free(b->hb2);
	free(b->rope);
	free(b->att);
	free(b->kf);
	free(b->vf);
	free(b->sels);
	free(b->sel_idx);
	free(b);
	s->batch = NULL;
	s->batch_cap = 0;
}

static void *rows_alloc(uint32_t n, size_t width, size_t size)
{
	return calloc((size_t)n * (width ? width : 1), size);
}

int as_state_reserve_batch(struct as_state *s, uint32_t n)
{
	const struct as_hparams *hp = &s->m->hp;
	size_t q_dim = as_q_dim(hp);
	struct as_batch *b;

	if (!n || n > s->n_ctx)
		return -EINVAL;
	if (n <= s->batch_cap && (!s->topk || s->batch->sels) &&
	    (s->kv_type != AS_KV_F16 || s->batch->kf))
		return 0; /* (a Top-K or an F16 cache set since the scratch was made needs
			   * the selections or the K/V rows) */
	as_fw_batch_free(s);
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	s->batch = b;
	b->cap = n;
	b->n_att = att_rows(as_tp_size(s->tp));
	b->x = rows_alloc(n, hp->dim, sizeof(float));
	b->xb = rows_alloc(n, hp->dim, sizeof(float));
	b->q = rows_alloc(n, q_dim, sizeof(float));
	b->xb2 = rows_alloc(n, q_dim, sizeof(float));
	b->hb = rows_alloc(n, hp->hidden, sizeof(float));
	b->hb2 = rows_alloc(n, hp->hidden, sizeof(float));
	b->rope = rows_alloc(n, hp->n_rot, sizeof(float));
	b->att = rows_alloc((uint32_t)b->n_att, s->n_ctx, sizeof(float));
	if (s->kv_type == AS_KV_F16) {
		b->kf = rows_alloc(n, (size_t)hp->n_head_kv * hp->head_dim, sizeof(float));
		b->vf = rows_alloc(n, (size_t)hp->n_head_kv * hp->head_dim, sizeof(float));
	}
	if (s->topk) {
		b->sels = rows_alloc(n, 1, sizeof(*b->sels));
		b->sel_idx = rows_alloc(n, widest_in(hp), sizeof(uint32_t));
	}
	if (!b->x || !b->xb || !b->q || !b->xb2 || !b->hb || !b->hb2 || !b->rope || !b->att ||
	    (s->topk && (!b->sels || !b->sel_idx)) ||
	    (s->kv_type == AS_KV_F16 && (!b->kf || !b->vf))) {
		as_fw_batch_free(s);
		return -ENOMEM;
	}
	s->batch_cap = n;
	return 0;
}

struct battn {
	struct as_state *s;
	struct as_batch *b;
	uint32_t layer;
};

/* (position, head) pairs [ith * n / nth, (ith + 1) * n / nth), scores in the thread's
 * own row: every pair is computed as attention_task of forward.c computes its head. */
static void battn_task(void *arg, int ith, int nth)
{
	const struct battn *a = arg;
	struct as_state *s = a->s;
	const struct as_hparams *hp = &s->m->hp;
	size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim, q_dim = as_q_dim(hp);
	size_t total = (size_t)a->b->n * hp->n_head;
	const void *kc = as_fw_kv_at(s, s->k_cache, a->layer, 0);
	const void *vc = as_fw_kv_at(s, s->v_cache, a->layer, 0);
	struct as_attn_geom g = { hp->head_dim, kv_dim, hp->n_head / hp->n_head_kv, 0,
				  s->kv_type };
	float *att = a->b->att + (size_t)(ith % a->b->n_att) * s->n_ctx;

	for (size_t i = total * (size_t)ith / (size_t)nth;
	     i < total * (size_t)(ith + 1) / (size_t)nth; i++) {
		size_t t = i / hp->n_head, h = i % hp->n_head;

		/* att_stride 0: head h's scores at att itself */
		as_attention_heads(&g, a->b->q + t * q_dim, kc, vc, a->b->pos0 + (uint32_t)t, att,
				   a->b->xb2 + t * q_dim, h, h + 1);
	}
}

static void add_rows(float *x, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

/*
 * Ys = the products of group g of layer l on the batch's inputs X [n][in]: with a Top-K,
 * every position's own selection (as_forward's linear takes it alike).
 */
static int batch_linear(struct as_state *s, struct as_batch *b, uint32_t l, enum as_group g,
			const float *X, float *const *Ys)
{
	const struct as_wsource *src = &s->src;
	size_t in = as_group_in(&s->m->hp, g), w = widest_in(&s->m->hp);

	if (!s->topk)
		return src->ops->linear_batch(src->ctx, l, g, X, b->n, NULL, Ys);
	for (uint32_t t = 0; t < b->n; t++) {
		uint32_t *idx = b->sel_idx + t * w;

		b->sels[t].n = as_state_select(s, l, g, X + t * in, in, idx, s->sel_tmp);
		b->sels[t].idx = idx;
	}
	return src->ops->linear_batch(src->ctx, l, g, X, b->n, b->sels, Ys);
}

static int batch_layer(struct as_state *s, struct as_batch *b, uint32_t l)
{
	const struct as_hparams *hp = &s->m->hp;
	const struct as_layer *L = &s->m->layers[l];
	size_t dim = hp->dim, q_dim = as_q_dim(hp), hid = hp->hidden;
	size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
	bool f16 = s->kv_type == AS_KV_F16; /* (else K and V straight into the cache) */
	float *k = f16 ? b->kf : as_fw_kv_at(s, s->k_cache, l, b->pos0);
	float *v = f16 ? b->vf : as_fw_kv_at(s, s->v_cache, l, b->pos0);
	float *qkv[3] = { b->q, k, v }, *o[1] = { b->xb }, *gu[2] = { b->hb, b->hb2 };
	struct battn a = { s, b, l };
	int r;

	for (uint32_t t = 0; t < b->n; t++)
		as_rmsnorm(b->xb + t * dim, b->x + t * dim, L->attn_norm, dim, hp->eps);
	r = batch_linear(s, b, l, AS_GROUP_QKV, b->xb, qkv);
	if (r)
		return r;
	for (uint32_t t = 0; t < b->n; t++)
		as_fw_qk_finish(hp, L, b->q + t * q_dim, k + t * kv_dim, v + t * kv_dim,
				b->rope + (size_t)t * hp->n_rot);
	as_fw_kv_store(s, l, b->pos0, b->n, k, v);
	as_tp_run(s->tp, battn_task, &a);
	for (uint32_t t = 0; t < b->n && s->head_skip; t++)
		as_head_skip(b->q + t * q_dim, b->xb2 + t * q_dim, hp->n_head, hp->head_dim,
			     s->head_skip, s->sel_tmp);
	r = batch_linear(s, b, l, AS_GROUP_O, b->xb2, o);
	if (r)
		return r;
	for (uint32_t t = 0; t < b->n; t++) {
		as_fw_add_bias(b->xb + t * dim, L->bias[AS_OP_O], dim);
		add_rows(b->x + t * dim, b->xb + t * dim, dim);
		as_rmsnorm(b->xb + t * dim, b->x + t * dim, L->ffn_norm, dim, hp->eps);
	}
	r = batch_linear(s, b, l, AS_GROUP_GATE_UP, b->xb, gu);
	if (r)
		return r;
	for (uint32_t t = 0; t < b->n; t++) {
		as_fw_add_bias(b->hb + t * hid, L->bias[AS_OP_GATE], hid);
		as_fw_add_bias(b->hb2 + t * hid, L->bias[AS_OP_UP], hid);
		as_fw_swiglu(b->hb + t * hid, b->hb2 + t * hid, hid);
	}
	r = batch_linear(s, b, l, AS_GROUP_DOWN, b->hb, o);
	if (r)
		return r;
	for (uint32_t t = 0; t < b->n; t++) {
		as_fw_add_bias(b->xb + t * dim, L->bias[AS_OP_DOWN], dim);
		add_rows(b->x + t * dim, b->xb + t * dim, dim);
	}
	return 0;
}

static int token_by_token(struct as_state *s, const int32_t *tokens, uint32_t n, uint32_t pos0,
			  bool want_logits_last)
{
	for (uint32_t i = 0; i < n; i++) {
		int r = as_forward(s, tokens[i], pos0 + i, want_logits_last && i + 1 == n);

		if (r)
			return r;
	}
	return 0;
}

int as_forward_batch(struct as_state *s, const int32_t *tokens, uint32_t n, uint32_t pos0,
		     bool want_logits_last)
{
	const struct as_model *m = s->m;
	const struct as_hparams *hp = &m->hp;
	const struct as_wsource_ops *src = s->src.ops;
	struct as_batch *b;
	int r;

	if (!n || !tokens)
		return -EINVAL;
	if (pos0 >= s->n_ctx || n > s->n_ctx - pos0)
		return -ERANGE;
	for (uint32_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
			return -EINVAL;
	if (!src->linear_batch || s->hook.pre || hp->n_expert || n == 1)
		return token_by_token(s, tokens, n, pos0, want_logits_last);
	r = as_state_reserve_batch(s, n);
	if (r)
		return r;
	b = s->batch;
	b->n = n;
	b->pos0 = pos0;
	if (src->token_begin) {
		r = src->token_begin(s->src.ctx);
		if (r)
			return r;
	}
	for (uint32_t t = 0; t < n; t++) {
		as_dequant_row(m->tok_embd.type,
			       (const uint8_t *)m->tok_embd.data +
				       (size_t)tokens[t] * m->tok_embd.row_bytes,
			       b->x + (size_t)t * hp->dim, hp->dim);
		as_rope_table_scaled(b->rope + (size_t)t * hp->n_rot, hp->n_rot, hp->rope_base,
				     hp->rope_freq_scale > 0.0f ? hp->rope_freq_scale : 1.0f,
				     m->rope_freqs, pos0 + t);
	}
	for (uint32_t l = 0; l < hp->n_layer && !r; l++)
		r = batch_layer(s, b, l);
	if (!r && want_logits_last) {
		as_rmsnorm(s->xb, b->x + (size_t)(n - 1) * hp->dim, m->output_norm, hp->dim,
			   hp->eps);
		as_matvec(s->tp, m->output.type, m->output.data, m->output.rows,
			  m->output.cols, s->xb, s->logits);
	}
	if (src->token_end)
		src->token_end(s->src.ctx);
	return r;
}

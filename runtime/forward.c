// SPDX-License-Identifier: MIT
/*
 * The forward pass over a weight source (activeswap/forward.h), in the spirit of
 * llama2.c's forward(): the model's arithmetic in one function, the matrix products of
 * the layers handed to the source, SIMD in the kernels and I/O in the sources.
 */
#include "activeswap/forward.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/attention.h"
#include "activeswap/kernels.h"
#include "activeswap/sparse.h"
#include "activeswap/threadpool.h"
#include "forward_impl.h"

/* ---- op groups ---------------------------------------------------------------------- */

static const enum as_op group_ops[AS_GROUP_COUNT][AS_GROUP_MAX_OPS] = {
	[AS_GROUP_QKV] = { AS_OP_Q, AS_OP_K, AS_OP_V },
	[AS_GROUP_O] = { AS_OP_O },
	[AS_GROUP_GATE_UP] = { AS_OP_GATE, AS_OP_UP },
	[AS_GROUP_DOWN] = { AS_OP_DOWN },
};
static const uint32_t group_n[AS_GROUP_COUNT] = { 3, 1, 2, 1 };

const enum as_op *as_group_ops(enum as_group g, uint32_t *n)
{
	*n = group_n[g];
	return group_ops[g];
}

uint32_t as_group_in(const struct as_hparams *hp, enum as_group g)
{
	return g == AS_GROUP_DOWN ? hp->hidden : g == AS_GROUP_O ? as_q_dim(hp) : hp->dim;
}

void as_group_matvec(struct as_threadpool *tp, const struct as_weight *w, enum as_group g,
		     const float *x, float *const *ys)
{
	const enum as_op *ops = group_ops[g];
	struct as_matvec_job jobs[AS_GROUP_MAX_OPS];

	if (group_n[g] == 1) {
		const struct as_weight *w0 = &w[ops[0]];

		as_matvec(tp, w0->type, w0->data, w0->rows, w0->cols, x, ys[0]);
		return;
	}
	for (uint32_t i = 0; i < group_n[g]; i++) {
		const struct as_weight *wi = &w[ops[i]];

		jobs[i] = (struct as_matvec_job){ wi->type, wi->data, wi->rows, ys[i] };
	}
	as_matvec_multi(tp, jobs, (int)group_n[g], w[ops[0]].cols, x);
}

void as_group_matmul(struct as_threadpool *tp, const struct as_weight *w, enum as_group g,
		     const float *X, uint32_t n, float *const *Ys)
{
	const enum as_op *ops = group_ops[g];
	struct as_matvec_job jobs[AS_GROUP_MAX_OPS];

	for (uint32_t i = 0; i < group_n[g]; i++) {
		const struct as_weight *wi = &w[ops[i]];

		jobs[i] = (struct as_matvec_job){ wi->type, wi->data, wi->rows, Ys[i] };
	}
	as_matmul_multi(tp, jobs, (int)group_n[g], w[ops[0]].cols, X, n);
}

void as_expert_matvec(struct as_threadpool *tp, const struct as_layer *L, uint32_t e,
		      enum as_group g, const float *x, float *const *ys)
{
	struct as_weight w[AS_OP_COUNT] = { 0 };

	w[AS_OP_GATE] = as_expert_weight(L, AS_EXP_GATE, e);
	w[AS_OP_UP] = as_expert_weight(L, AS_EXP_UP, e);
	w[AS_OP_DOWN] = as_expert_weight(L, AS_EXP_DOWN, e);
	as_group_matvec(tp, w, g, x, ys);
}

/* ---- the router ------------------------------------------------------------------- */

/* In place, as ggml's soft_max: exp(p - max) summed in double, scaled by 1 / sum. */
static void softmax(float *p, uint32_t n)
{
	float mx = p[0], inv;
	double sum = 0.0;

	for (uint32_t i = 1; i < n; i++)
		mx = p[i] > mx ? p[i] : mx;
	for (uint32_t i = 0; i < n; i++) {
		p[i] = expf(p[i] - mx);
		sum += p[i];
	}
	inv = (float)(1.0 / sum);
	for (uint32_t i = 0; i < n; i++)
		p[i] *= inv;
}

void as_moe_route(float *p, uint32_t n_expert, uint32_t k, bool norm, uint32_t *ids,
		  float *w)
{
	double sum = 0.0;

	softmax(p, n_expert);
	/* llama.cpp's top-k is its CPU argsort (descending) cut to k: position j takes the
	 * first strictly larger value met while scanning j+1.., swapping as it goes. Its
	 * first k positions depend only on the first k passes. */
	for (uint32_t i = 0; i < n_expert; i++)
		ids[i] = i;
	for (uint32_t j = 0; j < k; j++) {
		for (uint32_t i = j + 1; i < n_expert; i++) {
			if (p[ids[j]] < p[ids[i]]) {
				uint32_t t = ids[j];

				ids[j] = ids[i];
				ids[i] = t;
			}
		}
	}
	for (uint32_t j = 0; j < k; j++) {
		w[j] = p[ids[j]];
		sum += w[j];
	}
	for (uint32_t j = 0; norm && j < k; j++)
		w[j] /= (float)sum;
}

/* ---- the dense source: every matrix of the model in memory ------------------------- */

struct dense_src {
	const struct as_model *m;
	struct as_threadpool *tp;
};

static int dense_linear(void *ctx, uint32_t layer, enum as_group g, const float *x,
			const struct as_sel *sel, float *const *ys)
{
	const struct dense_src *d = ctx;

	if (sel)
		return -EOPNOTSUPP; /* a selection on dense weights is the hook's job */
	as_group_matvec(d->tp, d->m->layers[layer].w, g, x, ys);
	return 0;
}

static int dense_expert_linear(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
			       const float *x, const struct as_sel *sel, float *const *ys)
{
	const struct dense_src *d = ctx;

	(void)sel; /* x has the unselected channels at 0 */
	as_expert_matvec(d->tp, &d->m->layers[layer], e, g, x, ys);
	return 0;
}

static int dense_linear_batch(void *ctx, uint32_t layer, enum as_group g, const float *X,
			      uint32_t n, const struct as_sel *sels, float *const *Ys)
{
	const struct dense_src *d = ctx;

	if (sels)
		return -EOPNOTSUPP;
	as_group_matmul(d->tp, d->m->layers[layer].w, g, X, n, Ys);
	return 0;
}

static const struct as_wsource_ops dense_ops = {
	.name = "dense",
	.linear = dense_linear,
	.linear_batch = dense_linear_batch,
	.expert_linear = dense_expert_linear,
};

/* ---- state ------------------------------------------------------------------------ */

void as_state_free(struct as_state *s)
{
	if (!s)
		return;
	if (s->src.ops == &dense_ops)
		free(s->src.ctx);
	free(s->x);
	free(s->xb);
	free(s->xb2);
	free(s->hb);
	free(s->hb2);
	free(s->q);
	free(s->att);
	free(s->rope);
	free(s->k_cache);
	free(s->v_cache);
	free(s->kv_k);
	free(s->kv_v);
	free(s->logits);
	free(s->sel_idx);
	free(s->sel_tmp);
	free(s->moe_p);
	free(s->moe_ids);
	free(s->moe_w);
	free(s->moe_y);
	free(s->moe_acc);
	free(s->moe_x);
	free(s->moe_sel);
	as_fw_batch_free(s);
	free(s);
}

static int moe_alloc(struct as_state *s, const struct as_hparams *hp)
{
	s->moe_p = calloc(hp->n_expert, sizeof(float));
	s->moe_ids = calloc(hp->n_expert, sizeof(uint32_t));
	s->moe_w = calloc(hp->n_expert_used, sizeof(float));
	s->moe_y = calloc(hp->dim, sizeof(float));
	s->moe_acc = calloc(hp->dim, sizeof(float));
	s->moe_x = calloc(hp->dim, sizeof(float));
	s->moe_sel = calloc(hp->dim, sizeof(uint32_t));
	return s->moe_p && s->moe_ids && s->moe_w && s->moe_y && s->moe_acc && s->moe_x &&
			       s->moe_sel ? 0 : -ENOMEM;
}

static uint32_t keep_of(float sparsity, uint32_t n)
{
	double k = floor((1.0 - (double)sparsity) * (double)n + 0.5);

	return k < 1 ? 1 : k > n ? n : (uint32_t)k;
}

int as_state_expert_sparsity(struct as_state *s, float sparsity)
{
	const struct as_hparams *hp = &s->m->hp;

	if (!hp->n_expert || !(sparsity >= 0.0f && sparsity < 1.0f))
		return -EINVAL;
	s->expert_topk[0] = sparsity > 0.0f ? keep_of(sparsity, hp->dim) : 0;
	s->expert_topk[1] = sparsity > 0.0f ? keep_of(sparsity, hp->n_ff_exp) : 0;
	return 0;
}

int as_state_new_src(struct as_state **out, const struct as_model *m, uint32_t n_ctx,
		     struct as_threadpool *tp, struct as_wsource src)
{
	const struct as_hparams *hp = &m->hp;
	uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim, kv_elems;
	size_t q_dim = as_q_dim(hp), maxin = hp->dim > hp->hidden ? hp->dim : hp->hidden;
	size_t ffn = hp->n_ff_exp > hp->hidden ? hp->n_ff_exp : hp->hidden;
	struct as_state *s;

	*out = NULL;
	if (!n_ctx || !src.ops || !src.ops->linear)
		return -EINVAL;
	if (hp->n_expert && (!src.ops->expert_linear || !hp->n_expert_used ||
			     hp->n_expert_used > hp->n_expert))
		return -EOPNOTSUPP;
	if (__builtin_mul_overflow(kv_dim, (uint64_t)n_ctx * hp->n_layer, &kv_elems) ||
	    kv_elems > SIZE_MAX / sizeof(float))
		return -EOVERFLOW;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->m = m;
	s->tp = tp;
	s->n_ctx = n_ctx;
	s->src = src;
	s->x = calloc(hp->dim, sizeof(float));
	s->xb = calloc(hp->dim, sizeof(float));
	s->xb2 = calloc(q_dim, sizeof(float));
	if (q_dim > maxin)
		maxin = q_dim;
	if (ffn > maxin) /* n_ff_exp: the experts' down input */
		maxin = ffn;
	s->q = calloc(q_dim, sizeof(float));
	s->hb = calloc(ffn, sizeof(float));
	s->hb2 = calloc(ffn, sizeof(float));
	s->att = calloc((size_t)n_ctx * hp->n_head, sizeof(float));
	s->rope = calloc(hp->n_rot, sizeof(float));
	s->logits = calloc(hp->n_vocab, sizeof(float));
	s->k_cache = calloc(kv_elems, sizeof(float));
	s->v_cache = calloc(kv_elems, sizeof(float));
	s->kv_k = calloc(kv_dim ? kv_dim : 1, sizeof(float));
	s->kv_v = calloc(kv_dim ? kv_dim : 1, sizeof(float));
	s->sel_idx = calloc(maxin, sizeof(uint32_t));
	s->sel_tmp = calloc(maxin, sizeof(float));
	if (!s->x || !s->xb || !s->xb2 || !s->q || !s->hb || !s->hb2 || !s->att ||
	    !s->rope || !s->logits || !s->k_cache || !s->v_cache || !s->kv_k || !s->kv_v ||
	    !s->sel_idx || !s->sel_tmp || (hp->n_expert && moe_alloc(s, hp))) {
		s->src.ops = NULL; /* on failure the caller keeps the source */
		as_state_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

uint64_t as_kv_bytes(const struct as_hparams *hp, uint32_t n_ctx, enum as_kv_type t)
{
	return 2ull * hp->n_layer * n_ctx * hp->n_head_kv * hp->head_dim * as_kv_elem_bytes(t);
}

int as_state_set_kv_type(struct as_state *s, enum as_kv_type t)
{
	const struct as_hparams *hp = &s->m->hp;
	uint64_t elems = (uint64_t)hp->n_head_kv * hp->head_dim * s->n_ctx * hp->n_layer;
	void *k, *v;

	if (t != AS_KV_F32 && t != AS_KV_F16)
		return -EINVAL;
	if (elems > SIZE_MAX / as_kv_elem_bytes(t))
		return -EOVERFLOW;
	k = calloc(elems, as_kv_elem_bytes(t));
	v = calloc(elems, as_kv_elem_bytes(t));
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	free(s->k_cache);
	free(s->v_cache);
	s->k_cache = k;
	s->v_cache = v;
	s->kv_type = t;
	return 0;
}

void *as_fw_kv_at(const struct as_state *s, void *cache, uint32_t layer, uint32_t pos)
{
	const struct as_hparams *hp = &s->m->hp;
	size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;

	return (char *)cache +
	       ((size_t)layer * s->n_ctx + pos) * kv_dim * as_kv_elem_bytes(s->kv_type);
}

void as_fw_kv_store(struct as_state *s, uint32_t layer, uint32_t pos, uint32_t n,
		    const float *k, const float *v)
{
	const struct as_hparams *hp = &s->m->hp;
	size_t m = (size_t)n * hp->n_head_kv * hp->head_dim;
	as_fp16_t *kc, *vc;

	if (s->kv_type != AS_KV_F16)
		return; /* computed in place */
	kc = as_fw_kv_at(s, s->k_cache, layer, pos);
	vc = as_fw_kv_at(s, s->v_cache, layer, pos);
	for (size_t i = 0; i < m; i++) {
		kc[i] = as_fp32_to_fp16(k[i]);
		vc[i] = as_fp32_to_fp16(v[i]);
	}
}

int as_state_new(struct as_state **out, const struct as_model *m, uint32_t n_ctx,
		 struct as_threadpool *tp)
{
	struct dense_src *d = malloc(sizeof(*d));
	int r;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->m = m;
	d->tp = tp;
	r = as_state_new_src(out, m, n_ctx, tp, (struct as_wsource){ &dense_ops, d });
	if (r)
		free(d);
	return r;
}

/* ---- forward ---------------------------------------------------------------------- */

uint32_t as_state_select(const struct as_state *s, uint32_t layer, enum as_group g,
			 const float *x, size_t n, uint32_t *idx, float *scratch)
{
	size_t i = (size_t)layer * AS_GROUP_COUNT + g;
	uint32_t k, m = 0;

	if (s->thresh)
		k = (uint32_t)as_threshold_select(x, n, s->thresh[i], idx);
	else
		k = (uint32_t)as_topk_select(x, n, s->topk[i], idx, scratch);
	if (!s->head_skip || g != AS_GROUP_O)
		return k;
	/* the skipped heads' channels (and any other exact 0) add nothing: not fetched */
	for (uint32_t j = 0; j < k; j++)
		if (x[idx[j]] != 0.0f)
			idx[m++] = idx[j];
	return m;
}

void as_head_skip(const float *q, float *out, uint32_t n_head, uint32_t head_dim,
		  uint32_t n_skip, float *score)
{
	for (uint32_t h = 0; h < n_head; h++) {
		float a = 0;

		for (uint32_t d = 0; d < head_dim; d++)
			a += q[(size_t)h * head_dim + d] * q[(size_t)h * head_dim + d];
		score[h] = a;
	}
	for (uint32_t i = 0; i < n_skip; i++) {
		uint32_t best = n_head;

		for (uint32_t h = 0; h < n_head; h++)
			if (score[h] < INFINITY && (best == n_head || score[h] < score[best]))
				best = h;
		if (best == n_head)
			return;
		score[best] = INFINITY;
		memset(out + (size_t)best * head_dim, 0, sizeof(float) * head_dim);
	}
}

/*
 * ys = the products of group g of layer on x: the hook may change x first, then the
 * state's Top-K or threshold (if any) selects the channels the source is to use.
 */
static int linear(struct as_state *s, uint32_t layer, enum as_group g, float *x,
		  float *const *ys)
{
	uint32_t n = as_group_in(&s->m->hp, g);
	struct as_sel sel;

	if (s->hook.pre)
		s->hook.pre(s->hook.arg, layer, group_ops[g][0], x, n);
	if (!s->topk)
		return s->src.ops->linear(s->src.ctx, layer, g, x, NULL, ys);
	sel.n = as_state_select(s, layer, g, x, n, s->sel_idx, s->sel_tmp);
	sel.idx = s->sel_idx;
	return s->src.ops->linear(s->src.ctx, layer, g, x, &sel, ys);
}

struct attn_args {
	struct as_state *s;
	uint32_t layer;
	uint32_t pos;
};

/* Heads [ith * n / nth, (ith + 1) * n / nth): each head has its own score row. */
static void attention_task(void *arg, int ith, int nth)
{
	const struct attn_args *a = arg;
	struct as_state *s = a->s;
	const struct as_hparams *hp = &s->m->hp;
	size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
	struct as_attn_geom g = { hp->head_dim, kv_dim, hp->n_head / hp->n_head_kv, s->n_ctx,
				  s->kv_type };

	as_attention_heads(&g, s->q, as_fw_kv_at(s, s->k_cache, a->layer, 0),
			   as_fw_kv_at(s, s->v_cache, a->layer, 0), a->pos, s->att, s->xb2,
			   (size_t)ith * hp->n_head / (size_t)nth,
			   (size_t)(ith + 1) * hp->n_head / (size_t)nth);
}

/* Causal attention of q over positions 0..pos; output in s->xb2. Heads are spread over
 * the pool once the context makes it worth a dispatch (every head is computed alike
 * whichever thread takes it). */
static void attention(struct as_state *s, uint32_t layer, uint32_t pos)
{
	struct attn_args a = { s, layer, pos };
	uint64_t work = (uint64_t)(pos + 1) * s->m->hp.n_head * s->m->hp.head_dim;

	if (s->tp && work >= (1u << 16))
		as_tp_run(s->tp, attention_task, &a);
	else
		attention_task(&a, 0, 1);
}

static void add(float *x, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

/* x += b when the op has a bias (forward_impl.h) */
void as_fw_add_bias(float *x, const float *b, size_t n)
{
	if (b)
		add(x, b, n);
}

/* RMSNorm of each of n_heads heads of v by w [head_dim] (qwen3's Q/K norms), in place */
static void head_norm(float *v, const float *w, uint32_t n_heads, uint32_t head_dim,
		      float eps)
{
	if (!w)
		return;
	for (uint32_t h = 0; h < n_heads; h++)
		as_rmsnorm(v + (size_t)h * head_dim, v + (size_t)h * head_dim, w, head_dim, eps);
}

void as_fw_qk_finish(const struct as_hparams *hp, const struct as_layer *L, float *q,
		     float *k, float *v, const float *rope)
{
	size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;

	as_fw_add_bias(q, L->bias[AS_OP_Q], as_q_dim(hp));
	as_fw_add_bias(k, L->bias[AS_OP_K], kv_dim);
	as_fw_add_bias(v, L->bias[AS_OP_V], kv_dim);
	head_norm(q, L->q_norm, hp->n_head, hp->head_dim, hp->eps);
	head_norm(k, L->k_norm, hp->n_head_kv, hp->head_dim, hp->eps);
	if (hp->rope_mode == AS_ROPE_NEOX) {
		as_rope_apply_neox(q, hp->n_head, hp->head_dim, hp->n_rot, rope);
		as_rope_apply_neox(k, hp->n_head_kv, hp->head_dim, hp->n_rot, rope);
	} else {
		as_rope_apply(q, hp->n_head, hp->head_dim, hp->n_rot, rope);
		as_rope_apply(k, hp->n_head_kv, hp->head_dim, hp->n_rot, rope);
	}
}

void as_fw_swiglu(float *hb, const float *hb2, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float g = hb[i];

		hb[i] = g / (1.0f + expf(-g)) * hb2[i];
	}
}

/*
 * Keep the k largest |x[0..n)| (0: all, no selection): the others set to 0 in place,
 * sel the kept channels (s->sel_idx).
 */
static const struct as_sel *expert_select(struct as_state *s, float *x, uint32_t n,
					  uint32_t k, struct as_sel *sel)
{
	if (!k || k >= n)
		return NULL;
	sel->n = (uint32_t)as_topk_select(x, n, k, s->sel_idx, s->sel_tmp);
	sel->idx = s->sel_idx;
	for (uint32_t i = 0, j = 0; i < n; i++) {
		if (j < sel->n && sel->idx[j] == i)
			j++;
		else
			x[i] = 0.0f;
	}
	return sel;
}

/*
 * The mixture-of-experts FFN of layer l on s->xb (the normed stream), added to s->x:
 * the router's probabilities, its k experts, sum_i w_i down_i(silu(gate_i x) * up_i x)
 * accumulated in the router's order as llama.cpp's build_moe_ffn. With Top-K inside
 * experts, gate/up see x's expert_topk[0] largest channels (the router sees all of x)
 * and down its input's expert_topk[1] largest.
 */
static int moe_ffn(struct as_state *s, uint32_t l)
{
	const struct as_hparams *hp = &s->m->hp;
	const struct as_layer *L = &s->m->layers[l];
	const struct as_wsource_ops *src = s->src.ops;
	uint32_t k = hp->n_expert_used;
	float *gu[2] = { s->hb, s->hb2 }, *y[1] = { s->moe_y };
	const struct as_sel *xsel, *hsel;
	struct as_sel xs, hs;
	int r;

	as_matvec(s->tp, L->router.type, L->router.data, L->router.rows, L->router.cols,
		  s->xb, s->moe_p);
	as_moe_route(s->moe_p, hp->n_expert, k, hp->expert_norm, s->moe_ids, s->moe_w);
	memcpy(s->moe_x, s->xb, sizeof(float) * hp->dim);
	xsel = expert_select(s, s->moe_x, hp->dim, s->expert_topk[0], &xs);
	if (xsel) { /* its own copy: sel_idx is reused for down */
		memcpy(s->moe_sel, xs.idx, sizeof(uint32_t) * xs.n);
		xs.idx = s->moe_sel;
	}
	if (src->experts_chosen)
		src->experts_chosen(s->src.ctx, l, s->moe_ids, s->moe_w, k, s->xb, xsel);
	for (uint32_t i = 0; i < k; i++) {
		uint32_t e = s->moe_ids[i];
		float w = s->moe_w[i];

		r = src->expert_linear(s->src.ctx, l, e, AS_GROUP_GATE_UP, s->moe_x, xsel, gu);
		if (r)
			return r;
		as_fw_swiglu(s->hb, s->hb2, hp->n_ff_exp);
		hsel = expert_select(s, s->hb, hp->n_ff_exp, s->expert_topk[1], &hs);
		r = src->expert_linear(s->src.ctx, l, e, AS_GROUP_DOWN, s->hb, hsel, y);
		if (r)
			return r;
		for (uint32_t j = 0; j < hp->dim; j++) {
			float v = s->moe_y[j] * w;

			s->moe_acc[j] = i ? s->moe_acc[j] + v : v;
		}
	}
	add(s->x, s->moe_acc, hp->dim);
	return 0;
}

static int layers(struct as_state *s, uint32_t pos)
{
	const struct as_model *m = s->m;
	const struct as_hparams *hp = &m->hp;
	const struct as_wsource_ops *src = s->src.ops;
	size_t dim = hp->dim;
	bool f16 = s->kv_type == AS_KV_F16;
	int r;

	for (uint32_t l = 0; l < hp->n_layer; l++) {
		const struct as_layer *L = &m->layers[l];
		/* K and V straight into an F32 cache; an F16 one stores them rounded */
		float *k = f16 ? s->kv_k : as_fw_kv_at(s, s->k_cache, l, pos);
		float *v = f16 ? s->kv_v : as_fw_kv_at(s, s->v_cache, l, pos);
		float *qkv[3] = { s->q, k, v }, *o[1] = { s->xb }, *gu[2] = { s->hb, s->hb2 };

		/* attention */
		as_rmsnorm(s->xb, s->x, L->attn_norm, dim, hp->eps);
		if (src->layer_begin)
			src->layer_begin(s->src.ctx, l, s->xb);
		r = linear(s, l, AS_GROUP_QKV, s->xb, qkv);
		if (r)
			return r;
		as_fw_qk_finish(hp, L, s->q, k, v, s->rope);
		as_fw_kv_store(s, l, pos, 1, k, v);
		attention(s, l, pos);
		if (s->head_skip)
			as_head_skip(s->q, s->xb2, hp->n_head, hp->head_dim, s->head_skip,
				     s->sel_tmp);
		r = linear(s, l, AS_GROUP_O, s->xb2, o);
		if (r)
			return r;
		as_fw_add_bias(s->xb, L->bias[AS_OP_O], dim);
		add(s->x, s->xb, dim);

		/* feed-forward: down(silu(gate x) * up x), or the experts' */
		as_rmsnorm(s->xb, s->x, L->ffn_norm, dim, hp->eps);
		if (hp->n_expert) {
			r = moe_ffn(s, l);
			if (r)
				return r;
			continue;
		}
		r = linear(s, l, AS_GROUP_GATE_UP, s->xb, gu);
		if (r)
			return r;
		as_fw_add_bias(s->hb, L->bias[AS_OP_GATE], hp->hidden);
		as_fw_add_bias(s->hb2, L->bias[AS_OP_UP], hp->hidden);
		as_fw_swiglu(s->hb, s->hb2, hp->hidden);
		r = linear(s, l, AS_GROUP_DOWN, s->hb, o);
		if (r)
			return r;
		as_fw_add_bias(s->xb, L->bias[AS_OP_DOWN], dim);
		add(s->x, s->xb, dim);
	}
	return 0;
}

int as_forward(struct as_state *s, int32_t token, uint32_t pos, bool want_logits)
{
	const struct as_model *m = s->m;
	const struct as_hparams *hp = &m->hp;
	const struct as_wsource_ops *src = s->src.ops;
	int r;

	if (token < 0 || (uint32_t)token >= hp->n_vocab)
		return -EINVAL;
	if (pos >= s->n_ctx)
		return -ERANGE;
	if (src->token_begin) {
		r = src->token_begin(s->src.ctx);
		if (r)
			return r;
	}
	as_dequant_row(m->tok_embd.type,
		       (const uint8_t *)m->tok_embd.data + (size_t)token * m->tok_embd.row_bytes,
		       s->x, hp->dim);
	as_rope_table_scaled(s->rope, hp->n_rot, hp->rope_base,
			     hp->rope_freq_scale > 0.0f ? hp->rope_freq_scale : 1.0f,
			     m->rope_freqs, pos);
	r = layers(s, pos);
	if (!r && want_logits) {
		as_rmsnorm(s->xb, s->x, m->output_norm, hp->dim, hp->eps);
		as_matvec(s->tp, m->output.type, m->output.data, m->output.rows,
			  m->output.cols, s->xb, s->logits);
	}
	if (src->token_end)
		src->token_end(s->src.ctx);
	return r;
}

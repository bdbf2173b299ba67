// SPDX-License-Identifier: MIT
/*
 * Mixture-of-experts layers (model.c's loader, forward.c's router and expert FFN):
 * Mixtral-style llama and qwen3moe, each on a tiny F32 GGUF written here, against a naive
 * whole-sequence reference in double written independently below (softmax over all
 * router logits, the k largest, their weights renormalised, the weighted sum of the k
 * experts' SwiGLU FFNs); the router's choice itself (as_moe_route: order, ties,
 * normalisation); what a weight source sees (experts_chosen, expert_linear); and the
 * refusals of hostile expert metadata and tensors, in the loader and in mkmodel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activeswap/gguf.h"
#include "activeswap/mkmodel.h"
#include "activeswap/model.h"
#include "fixtures.h"

#define DIM 64
#define HID 96  /* feed_forward_length (Mixtral: one expert's width) */
#define FEXP 32 /* qwen3moe: expert_feed_forward_length */
#define NE 6    /* experts */
#define NK 2    /* used per token */
#define NL 2
#define NH 4
#define NKV 2
#define HD 24   /* qwen3moe head size (key_length), != DIM / NH */
#define NV 40
#define MAXT 40
#define NPOS 8

struct cfg {
	const char *arch;
	bool qwen;            /* qwen3moe: NEOX, Q/K norms, key_length HD, width FEXP */
	/* mutations for the refusal tests */
	int n_expert;         /* expert_count written (-1: not written) */
	int n_used;           /* expert_used_count written (-1: not written) */
	const char *skip;     /* leave this tensor out */
	const char *grow;     /* one more element in ne[0] */
	const char *shrink3;  /* one matrix fewer in ne[2] */
};

struct tdef {
	char name[64];
	uint64_t ne[3];
	uint32_t n_dims;
	float *v;
};

struct mdl {
	struct tdef t[MAXT];
	int n;
};

static uint64_t rng;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void def(struct mdl *m, const char *name, uint64_t ne0, uint64_t ne1, uint64_t ne2,
		float scale, float offset)
{
	struct tdef *t = &m->t[m->n++];
	uint64_t n = ne0 * ne1 * ne2;

	assert_true(m->n <= MAXT);
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	t->ne[2] = ne2;
	t->n_dims = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
	t->v = malloc(n * sizeof(float));
	assert_non_null(t->v);
	for (uint64_t i = 0; i < n; i++)
		t->v[i] = offset + scale * frand();
}

static int hd_of(const struct cfg *c)
{
	return c->qwen ? HD : DIM / NH;
}

static void build(const struct cfg *c, struct mdl *m)
{
	int hd = hd_of(c), fx = c->qwen ? FEXP : HID;
	char nm[64];

	rng = 0x3e11;
	m->n = 0;
	def(m, "token_embd.weight", DIM, NV, 1, 1.0f, 0);
	def(m, "output_norm.weight", DIM, 1, 1, 0.2f, 1.0f);
	def(m, "output.weight", DIM, NV, 1, 0.3f, 0);
	for (int l = 0; l < NL; l++) {
#define L(s, a, b, e, sc, off) (snprintf(nm, sizeof(nm), "blk.%d.%s", l, s), \
				def(m, nm, a, b, e, sc, off))
		L("attn_norm.weight", DIM, 1, 1, 0.2f, 1.0f);
		L("attn_q.weight", DIM, NH * hd, 1, 0.3f, 0);
		L("attn_k.weight", DIM, NKV * hd, 1, 0.3f, 0);
		L("attn_v.weight", DIM, NKV * hd, 1, 0.3f, 0);
		if (c->qwen) {
			L("attn_q_norm.weight", hd, 1, 1, 0.5f, 1.0f);
			L("attn_k_norm.weight", hd, 1, 1, 0.5f, 1.0f);
		}
		L("attn_output.weight", NH * hd, DIM, 1, 0.2f, 0);
		L("ffn_norm.weight", DIM, 1, 1, 0.2f, 1.0f);
		L("ffn_gate_inp.weight", DIM, NE, 1, 0.5f, 0);
		L("ffn_gate_exps.weight", DIM, fx, NE, 0.2f, 0);
		L("ffn_up_exps.weight", DIM, fx, NE, 0.2f, 0);
		L("ffn_down_exps.weight", fx, DIM, NE, 0.2f, 0);
#undef L
	}
}

static void mdl_free(struct mdl *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->t[i].v);
}

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

static const char *write_gguf(const struct cfg *c, const struct mdl *m)
{
	static char path[64];
	struct gguf_writer *w = gguf_writer_new();
	const char *tokens[NV];
	char tokbuf[NV][16], key[96];
	int fd;

	assert_non_null(w);
	snprintf(path, sizeof(path), "/tmp/as-test-moe-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (int i = 0; i < NV; i++) {
		snprintf(tokbuf[i], sizeof(tokbuf[i]), "t%d", i);
		tokens[i] = tokbuf[i];
	}
#define K(suffix) (snprintf(key, sizeof(key), "%s.%s", c->arch, suffix), key)
	assert_int_equal(gguf_w_str(w, "general.architecture", c->arch), 0);
	assert_int_equal(gguf_w_u32(w, K("embedding_length"), DIM), 0);
	assert_int_equal(gguf_w_u32(w, K("feed_forward_length"), HID), 0);
	assert_int_equal(gguf_w_u32(w, K("block_count"), NL), 0);
	assert_int_equal(gguf_w_u32(w, K("attention.head_count"), NH), 0);
	assert_int_equal(gguf_w_u32(w, K("attention.head_count_kv"), NKV), 0);
	if (c->qwen) {
		assert_int_equal(gguf_w_u32(w, K("attention.key_length"), HD), 0);
		assert_int_equal(gguf_w_u32(w, K("expert_feed_forward_length"), FEXP), 0);
	}
	assert_int_equal(gguf_w_u32(w, K("rope.dimension_count"), hd_of(c)), 0);
	assert_int_equal(gguf_w_f32(w, K("rope.freq_base"), 5000.0f), 0);
	assert_int_equal(gguf_w_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f), 0);
	if (c->n_expert >= 0)
		assert_int_equal(gguf_w_u32(w, K("expert_count"), (uint32_t)c->n_expert), 0);
	if (c->n_used >= 0)
		assert_int_equal(gguf_w_u32(w, K("expert_used_count"), (uint32_t)c->n_used), 0);
#undef K
	assert_int_equal(gguf_w_arr_str(w, "tokenizer.ggml.tokens", tokens, NV), 0);
	for (int i = 0; i < m->n; i++) {
		uint64_t ne[3] = { m->t[i].ne[0], m->t[i].ne[1], m->t[i].ne[2] };

		if (is(c->skip, m->t[i].name))
			continue;
		ne[0] += is(c->grow, m->t[i].name);
		ne[2] -= is(c->shrink3, m->t[i].name);
		assert_true(gguf_w_tensor(w, m->t[i].name, GGML_TYPE_F32, m->t[i].n_dims, ne) >=
			    0);
	}
	assert_int_equal(gguf_w_begin(w, fd), 0);
	for (int i = 0; i < m->n; i++) {
		const struct tdef *t = &m->t[i];
		size_t n = t->ne[0] * t->ne[1] * t->ne[2];

		if (is(c->skip, t->name))
			continue;
		if (is(c->grow, t->name)) {
			float *g = calloc(n + t->ne[1] * t->ne[2], sizeof(float));

			assert_non_null(g);
			assert_int_equal(gguf_w_data(w, g, (n + t->ne[1] * t->ne[2]) * 4), 0);
			free(g);
			continue;
		}
		if (is(c->shrink3, t->name))
			n -= t->ne[0] * t->ne[1];
		assert_int_equal(gguf_w_data(w, t->v, n * 4), 0);
	}
	assert_int_equal(gguf_w_end(w), 0);
	gguf_writer_free(w);
	close(fd);
	return path;
}

/* ---- the reference: whole sequence, doubles, formulas ------------------------------ */

static const float *T(const struct mdl *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->t[i].name, name))
			return m->t[i].v;
	fail_msg("no tensor %s", name);
	return NULL;
}

static void mv(const float *w, int rows, int cols, const float *x, double *y)
{
	for (int r = 0; r < rows; r++) {
		double s = 0;

		for (int k = 0; k < cols; k++)
			s += (double)w[r * cols + k] * x[k];
		y[r] = s;
	}
}

static void rms(const float *x, const float *g, float *y, int n)
{
	double ss = 0;

	for (int i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	for (int i = 0; i < n; i++)
		y[i] = (float)(x[i] / sqrt(ss / n + 1e-6) * g[i]);
}

static void rope(const struct cfg *c, float *v, int n_heads, int pos)
{
	int hd = hd_of(c);

	for (int h = 0; h < n_heads; h++) {
		float *p = v + h * hd;

		for (int i = 0; i < hd / 2; i++) {
			double th = pos * pow(5000.0, -2.0 * i / hd);
			int a = c->qwen ? i : 2 * i, b = c->qwen ? i + hd / 2 : 2 * i + 1;
			double x0 = p[a], x1 = p[b];

			p[a] = (float)(x0 * cos(th) - x1 * sin(th));
			p[b] = (float)(x0 * sin(th) + x1 * cos(th));
		}
	}
}

/* The experts' FFN of xb: softmax of the router, the NK largest by a full sort,
 * weights / their sum, sum of w * down(silu(gate x) * up x). */
static void ref_moe(const struct cfg *c, const struct mdl *m, int l, const float *xb,
		    double *out)
{
	int fx = c->qwen ? FEXP : HID, order[NE];
	double lg[NE], mx = -1e30, sum = 0, wsum = 0, g[HID], u[HID], d[DIM];
	float h[HID];
	char nm[64];

	snprintf(nm, sizeof(nm), "blk.%d.ffn_gate_inp.weight", l);
	mv(T(m, nm), NE, DIM, xb, lg);
	for (int e = 0; e < NE; e++)
		mx = lg[e] > mx ? lg[e] : mx;
	for (int e = 0; e < NE; e++) {
		lg[e] = exp(lg[e] - mx);
		sum += lg[e];
		order[e] = e;
	}
	for (int i = 0; i < NE; i++) /* insertion sort, decreasing */
		for (int j = i; j > 0 && lg[order[j]] > lg[order[j - 1]]; j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < NK; i++)
		wsum += lg[order[i]] / sum;
	memset(out, 0, DIM * sizeof(double));
	for (int i = 0; i < NK; i++) {
		int e = order[i];
		double w = lg[e] / sum / wsum;

		snprintf(nm, sizeof(nm), "blk.%d.ffn_gate_exps.weight", l);
		mv(T(m, nm) + (size_t)e * fx * DIM, fx, DIM, xb, g);
		snprintf(nm, sizeof(nm), "blk.%d.ffn_up_exps.weight", l);
		mv(T(m, nm) + (size_t)e * fx * DIM, fx, DIM, xb, u);
		for (int k = 0; k < fx; k++)
			h[k] = (float)(g[k] / (1.0 + exp(-g[k])) * u[k]);
		snprintf(nm, sizeof(nm), "blk.%d.ffn_down_exps.weight", l);
		mv(T(m, nm) + (size_t)e * DIM * fx, DIM, fx, h, d);
		for (int k = 0; k < DIM; k++)
			out[k] += w * d[k];
	}
}

static void ref_forward(const struct cfg *c, const struct mdl *m, const int *toks, int n,
			float *logits)
{
	static float x[NPOS][DIM], q[NPOS][NH * HD], k[NPOS][NKV * HD], v[NPOS][NKV * HD];
	int hd = hd_of(c);
	float xb[DIM], o[NH * HD], att[NPOS];
	double t[DIM], qq[NH * HD], kk[NKV * HD], vv[NKV * HD], lo[NV];
	char nm[64];

	for (int p = 0; p < n; p++)
		memcpy(x[p], T(m, "token_embd.weight") + toks[p] * DIM, sizeof(x[p]));
	for (int l = 0; l < NL; l++) {
#define LW(s) (snprintf(nm, sizeof(nm), "blk.%d.%s", l, s), T(m, nm))
		for (int p = 0; p < n; p++) {
			rms(x[p], LW("attn_norm.weight"), xb, DIM);
			mv(LW("attn_q.weight"), NH * hd, DIM, xb, qq);
			mv(LW("attn_k.weight"), NKV * hd, DIM, xb, kk);
			mv(LW("attn_v.weight"), NKV * hd, DIM, xb, vv);
			for (int i = 0; i < NH * hd; i++)
				q[p][i] = (float)qq[i];
			for (int i = 0; i < NKV * hd; i++) {
				k[p][i] = (float)kk[i];
				v[p][i] = (float)vv[i];
			}
			for (int h = 0; c->qwen && h < NH; h++)
				rms(q[p] + h * hd, LW("attn_q_norm.weight"), q[p] + h * hd, hd);
			for (int h = 0; c->qwen && h < NKV; h++)
				rms(k[p] + h * hd, LW("attn_k_norm.weight"), k[p] + h * hd, hd);
			rope(c, q[p], NH, p);
			rope(c, k[p], NKV, p);
		}
		for (int p = 0; p < n; p++) {
			for (int h = 0; h < NH; h++) {
				int kh = h / (NH / NKV);
				double mx = -1e30, sum = 0;

				for (int s = 0; s <= p; s++) {
					double d = 0;

					for (int i = 0; i < hd; i++)
						d += (double)q[p][h * hd + i] * k[s][kh * hd + i];
					att[s] = (float)(d / sqrt((double)hd));
					mx = att[s] > mx ? att[s] : mx;
				}
				for (int s = 0; s <= p; s++)
					sum += exp(att[s] - mx);
				for (int i = 0; i < hd; i++) {
					double acc = 0;

					for (int s = 0; s <= p; s++)
						acc += exp(att[s] - mx) / sum * v[s][kh * hd + i];
					o[h * hd + i] = (float)acc;
				}
			}
			mv(LW("attn_output.weight"), DIM, NH * hd, o, t);
			for (int i = 0; i < DIM; i++)
				x[p][i] += (float)t[i];
			rms(x[p], LW("ffn_norm.weight"), xb, DIM);
			ref_moe(c, m, l, xb, t);
			for (int i = 0; i < DIM; i++)
				x[p][i] += (float)t[i];
		}
#undef LW
	}
	rms(x[n - 1], T(m, "output_norm.weight"), xb, DIM);
	mv(T(m, "output.weight"), NV, DIM, xb, lo);
	for (int i = 0; i < NV; i++)
		logits[i] = (float)lo[i];
}

static const int seq[NPOS] = { 1, 5, 17, 3, 39, 9, 30, 2 };

static const struct cfg mixtral = { .arch = "llama", .n_expert = NE, .n_used = NK };
static const struct cfg qwen3moe = { .arch = "qwen3moe", .qwen = true, .n_expert = NE,
				     .n_used = NK };

static struct as_model *load(const struct cfg *c, struct mdl *m)
{
	struct as_model *am = NULL;
	char err[256];
	const char *path;
	int rc;

	build(c, m);
	path = write_gguf(c, m);
	rc = as_model_load(&am, path, err, sizeof(err));
	unlink(path);
	if (rc)
		fail_msg("load %s: %s", c->arch, err);
	return am;
}

/* Decode seq with the KV cache and compare every position's logits. */
static void check_against_reference(const struct cfg *c, enum as_arch arch)
{
	struct mdl m;
	struct as_model *am = load(c, &m);
	struct as_state *s;
	float ref[NV];

	assert_int_equal(am->hp.arch, arch);
	assert_int_equal(am->hp.n_expert, NE);
	assert_int_equal(am->hp.n_expert_used, NK);
	assert_int_equal(am->hp.n_ff_exp, c->qwen ? FEXP : HID);
	assert_true(am->hp.expert_norm);
	assert_int_equal(as_state_new(&s, am, NPOS, NULL), 0);
	for (int p = 0; p < NPOS; p++) {
		float diff = 0, scale = 0;

		assert_int_equal(as_forward(s, seq[p], (uint32_t)p, true), 0);
		ref_forward(c, &m, seq, p + 1, ref);
		for (int i = 0; i < NV; i++) {
			assert_true(isfinite(s->logits[i]));
			diff = fmaxf(diff, fabsf(s->logits[i] - ref[i]));
			scale = fmaxf(scale, fabsf(ref[i]));
		}
		if (diff > 1e-4f * (1 + scale))
			fail_msg("%s position %d: logits differ from the reference by %g (scale "
				 "%g)", c->arch, p, diff, scale);
	}
	as_state_free(s);
	as_model_free(am);
	mdl_free(&m);
}

static void test_mixtral(void **state)
{
	(void)state;
	check_against_reference(&mixtral, AS_ARCH_LLAMA);
}

static void test_qwen3moe(void **state)
{
	(void)state;
	check_against_reference(&qwen3moe, AS_ARCH_QWEN3MOE);
}

/* ---- the router's choice ------------------------------------------------------------ */

static void test_route(void **state)
{
	float p[8], w[8];
	uint32_t ids[8];
	double s = 0;

	(void)state;
	/* order by probability, weights the softmax's, renormalised */
	memcpy(p, (float[]){ 0.5f, 2.0f, -1.0f, 1.0f, 3.0f, 0.0f }, 6 * sizeof(float));
	as_moe_route(p, 6, 3, false, ids, w);
	assert_int_equal(ids[0], 4);
	assert_int_equal(ids[1], 1);
	assert_int_equal(ids[2], 3);
	for (int i = 0; i < 6; i++)
		s += p[i];
	assert_true(fabs(s - 1.0) < 1e-6);
	assert_true(fabsf(w[0] - p[4]) == 0 && fabsf(w[2] - p[3]) == 0);
	assert_true(fabsf(w[0] / w[1] - expf(1.0f)) < 1e-5f);
	memcpy(p, (float[]){ 0.5f, 2.0f, -1.0f, 1.0f, 3.0f, 0.0f }, 6 * sizeof(float));
	as_moe_route(p, 6, 3, true, ids, w);
	assert_true(fabsf(w[0] + w[1] + w[2] - 1.0f) < 1e-6f);
	assert_true(w[0] > w[1] && w[1] > w[2]);
	/* exact ties go to the lower index, as llama.cpp's argsort leaves them */
	memcpy(p, (float[]){ 1.0f, 3.0f, 3.0f, 3.0f }, 4 * sizeof(float));
	as_moe_route(p, 4, 2, true, ids, w);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 2);
	assert_true(w[0] == 0.5f && w[1] == 0.5f);
	memcpy(p, (float[]){ 2.0f, 1.0f, 3.0f, 3.0f }, 4 * sizeof(float));
	as_moe_route(p, 4, 2, false, ids, w);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 3);
	/* k = n: every expert, in order */
	memcpy(p, (float[]){ 0.1f, 0.3f, 0.2f }, 3 * sizeof(float));
	as_moe_route(p, 3, 3, true, ids, w);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 2);
	assert_int_equal(ids[2], 0);
}

/* ---- what a weight source sees ------------------------------------------------------ */

struct spy {
	const struct as_model *m;
	int chosen, linear, bad;
	uint32_t last[NK];
};

static int spy_linear(void *ctx, uint32_t layer, enum as_group g, const float *x,
		      const struct as_sel *sel, float *const *ys)
{
	struct spy *sp = ctx;

	if (g == AS_GROUP_GATE_UP || g == AS_GROUP_DOWN)
		sp->bad++; /* a MoE layer has no dense FFN */
	as_group_matvec(NULL, sp->m->layers[layer].w, g, x, ys);
	return 0;
}

static void spy_chosen(void *ctx, uint32_t layer, const uint32_t *ids, const float *w,
		       uint32_t n, const float *x, const struct as_sel *sel)
{
	struct spy *sp = ctx;
	float sum = 0;

	sp->chosen++;
	if (n != NK || layer >= NL || !x || sel) /* no Top-K inside experts here */
		sp->bad++;
	for (uint32_t i = 0; i < n; i++) {
		sum += w[i];
		if (ids[i] >= NE || (i && (ids[i] == ids[0] || w[i] > w[i - 1])))
			sp->bad++;
		sp->last[i] = ids[i];
	}
	if (fabsf(sum - 1.0f) > 1e-5f)
		sp->bad++;
}

static int spy_expert(void *ctx, uint32_t layer, uint32_t e, enum as_group g,
		      const float *x, const struct as_sel *sel, float *const *ys)
{
	struct spy *sp = ctx;

	sp->linear++;
	if (sel || (e != sp->last[0] && e != sp->last[1]) ||
	    (g != AS_GROUP_GATE_UP && g != AS_GROUP_DOWN))
		sp->bad++;
	as_expert_matvec(NULL, &sp->m->layers[layer], e, g, x, ys);
	return 0;
}

static void test_source(void **state)
{
	struct as_wsource_ops ops = { .name = "spy", .linear = spy_linear };
	struct mdl m;
	struct as_model *am = load(&mixtral, &m);
	struct as_state *s = NULL, *d = NULL;
	struct spy sp = { .m = am };

	(void)state;
	/* a source that cannot compute experts is refused */
	assert_int_equal(as_state_new_src(&s, am, NPOS, NULL, (struct as_wsource){ &ops, &sp }),
			 -EOPNOTSUPP);
	assert_null(s);
	ops.expert_linear = spy_expert;
	ops.experts_chosen = spy_chosen;
	assert_int_equal(as_state_new_src(&s, am, NPOS, NULL, (struct as_wsource){ &ops, &sp }),
			 0);
	assert_int_equal(as_state_new(&d, am, NPOS, NULL), 0);
	for (int p = 0; p < NPOS; p++) {
		assert_int_equal(as_forward(s, seq[p], (uint32_t)p, true), 0);
		assert_int_equal(as_forward(d, seq[p], (uint32_t)p, true), 0);
		/* through the source, the dense source's numbers bit for bit */
		assert_memory_equal(s->logits, d->logits, NV * sizeof(float));
	}
	assert_int_equal(sp.chosen, NPOS * NL);
	assert_int_equal(sp.linear, NPOS * NL * NK * 2);
	assert_int_equal(sp.bad, 0);
	as_state_free(s);
	as_state_free(d);
	as_model_free(am);
	mdl_free(&m);
}

/* ---- refusals ----------------------------------------------------------------------- */

static void expect_refused(struct cfg c, const char *needle)
{
	struct mdl m;
	struct as_model *am = NULL;
	char err[256] = "";
	const char *path;
	int rc;

	build(&c, &m);
	path = write_gguf(&c, &m);
	rc = as_model_load(&am, path, err, sizeof(err));
	unlink(path);
	mdl_free(&m);
	if (rc >= 0)
		fail_msg("%s model loaded; expected '%s'", c.arch, needle);
	assert_null(am);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not contain '%s'", err, needle);
	assert_null(strchr(err, '\n'));
}

static void test_refusals(void **state)
{
	struct cfg c;

	(void)state;
	c = mixtral;
	c.n_expert = AS_MAX_EXPERTS + 1;
	expect_refused(c, "llama.expert_count is not an integer in [0, 512]");
	c = mixtral;
	c.n_used = NE + 1;
	expect_refused(c, "llama.expert_used_count is not an integer in [1, 6]");
	c = mixtral;
	c.n_used = 0;
	expect_refused(c, "llama.expert_used_count is not an integer in [1, 6]");
	c = mixtral;
	c.n_used = -1;
	expect_refused(c, "missing metadata key llama.expert_used_count");
	c = mixtral;
	c.n_expert = -1; /* a used count without experts */
	expect_refused(c, "llama.expert_used_count is not an integer in [0, 0]");
	c = mixtral;
	c.n_expert = NE - 1; /* tensors of NE experts */
	expect_refused(c, "blk.0.ffn_gate_inp.weight has shape");
	c = qwen3moe;
	c.n_expert = -1;
	c.n_used = -1;
	expect_refused(c, "missing metadata key qwen3moe.expert_count");
	c = mixtral;
	c.skip = "blk.1.ffn_down_exps.weight";
	expect_refused(c, "missing tensor blk.1.ffn_down_exps.weight");
	c = mixtral;
	c.skip = "blk.0.ffn_gate_inp.weight";
	expect_refused(c, "missing tensor blk.0.ffn_gate_inp.weight");
	c = qwen3moe;
	c.grow = "blk.1.ffn_up_exps.weight";
	expect_refused(c, "blk.1.ffn_up_exps.weight has shape [65, 32, 6], expected "
		       "[64, 32, 6]");
	c = qwen3moe;
	c.shrink3 = "blk.0.ffn_down_exps.weight";
	expect_refused(c, "blk.0.ffn_down_exps.weight has shape [32, 64, 5]");
	c = qwen3moe;
	c.skip = "blk.0.attn_q_norm.weight";
	expect_refused(c, "missing tensor blk.0.attn_q_norm.weight");
}

/* mkmodel refuses what llama.cpp would not load, before writing anything */
static void test_mkmodel_refusals(void **state)
{
	struct as_mkmodel_params p;
	char err[256];

	(void)state;
	as_mkmodel_params_init(&p);
	assert_int_equal(as_mkmodel_preset_params("qwen3moe-tiny", &p), 0);
	assert_int_equal(p.arch, AS_ARCH_QWEN3MOE);
	assert_int_equal(as_mkmodel_check(&p, "/tmp/x.gguf", err, sizeof(err)), 0);
	p.experts_used = p.experts + 1;
	assert_int_equal(as_mkmodel_check(&p, "/tmp/x.gguf", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--experts-used"));
	p.experts_used = 2;
	p.expert_hidden = 100;
	assert_int_equal(as_mkmodel_check(&p, "/tmp/x.gguf", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--expert-hidden (100)"));
	p.expert_hidden = 128;
	p.experts = 0;
	assert_int_equal(as_mkmodel_check(&p, "/tmp/x.gguf", err, sizeof(err)), -EINVAL);
	assert_int_equal(as_mkmodel_preset_params("mixtral-tiny", &p), 0);
	assert_int_equal(p.arch, AS_ARCH_LLAMA);
	assert_int_equal(as_mkmodel_check(&p, "/tmp/x.gguf", err, sizeof(err)), 0);
	p.expert_hidden = p.shape.hidden / 2; /* a Mixtral expert is hidden wide */
	assert_int_equal(as_mkmodel_check(&p, "/tmp/x.gguf", err, sizeof(err)), -EINVAL);
	p.expert_hidden = p.shape.hidden;
	p.expert_topics = p.experts + 1; /* more topics than experts */
	assert_int_equal(as_mkmodel_check(&p, "/tmp/x.gguf", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--expert-topics"));
	p.expert_topics = 0;
	p.arch = AS_ARCH_QWEN2;
	assert_int_equal(as_mkmodel_check(&p, "/tmp/x.gguf", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "mixtral or qwen3moe"));
}

#define TV 320 /* the topic models' vocabulary (at least 3 specials + 256 bytes) */

/* A generated F32 Mixtral-style model of vocab TV, 8 experts, with `topics` topics. */
static struct as_model *topic_model(const char *path, uint64_t topics)
{
	struct as_mkmodel_params p;
	struct as_model *am = NULL;
	char err[256] = "";

	as_mkmodel_params_init(&p);
	assert_int_equal(as_mkmodel_preset_params("mixtral-tiny", &p), 0);
	p.shape.dim = 64;
	p.shape.hidden = p.expert_hidden = 64;
	p.shape.layers = 2;
	p.shape.heads = 4;
	p.shape.kv_heads = 2;
	p.shape.vocab = TV;
	p.shape.ctx = 64;
	p.experts = 8;
	p.experts_used = 2;
	p.expert_topics = topics;
	p.type = GGML_TYPE_F32;
	p.seed = 9;
	if (as_mkmodel(&p, path, NULL, err, sizeof(err)) ||
	    as_model_load(&am, path, err, sizeof(err)))
		fail_msg("%s: %s", path, err);
	return am;
}

/* rows x cols F32 a and b differ by amp at column r % topics of row r, nowhere else. */
static void topic_rows(const struct as_weight *a, const struct as_weight *b, uint32_t topics,
		       float amp)
{
	const float *x = a->data, *y = b->data;

	assert_int_equal(a->type, GGML_TYPE_F32);
	for (size_t r = 0; r < a->rows; r++)
		for (size_t c = 0; c < a->cols; c++) {
			float d = x[r * a->cols + c] - y[r * a->cols + c];

			if (c == r % topics)
				assert_true(fabsf(d - amp) < 1e-5f);
			else
				assert_true(d == 0.0f);
		}
}

/* mkmodel --expert-topics: embeddings, output rows and routers lean towards their
 * topic's coordinate (nothing else changes), so greedy decoding stays in one topic. */
static void test_expert_topics(void **state)
{
	char dir[256], a[300], b[300];
	struct as_model *ma, *mb;
	struct as_state *s;
	int32_t tok = 5;

	(void)state;
	assert_int_equal(fx_tmpdir(dir, sizeof(dir), "topics"), 0);
	snprintf(a, sizeof(a), "%s/a.gguf", dir);
	snprintf(b, sizeof(b), "%s/b.gguf", dir);
	ma = topic_model(a, 4);
	mb = topic_model(b, 0);
	topic_rows(&ma->tok_embd, &mb->tok_embd, 4, 2.0f);
	topic_rows(&ma->output, &mb->output, 4, 2.0f);
	for (int l = 0; l < 2; l++) {
		topic_rows(&ma->layers[l].router, &mb->layers[l].router, 4, 0.5f);
		for (int x = 0; x < AS_EXP_COUNT; x++) {
			struct as_weight wa = as_expert_weight(&ma->layers[l], (enum as_exp)x, 7);
			struct as_weight wb = as_expert_weight(&mb->layers[l], (enum as_exp)x, 7);

			assert_memory_equal(wa.data, wb.data, wa.rows * wa.row_bytes);
		}
	}
	assert_int_equal(as_state_new(&s, ma, 24, NULL), 0);
	for (uint32_t pos = 0; pos < 24; pos++) {
		assert_int_equal(as_forward(s, tok, pos, true), 0);
		tok = 0;
		for (int32_t v = 1; v < TV; v++)
			if (s->logits[v] > s->logits[tok])
				tok = v;
		assert_int_equal(tok % 4, 5 % 4); /* token 5's topic */
	}
	as_state_free(s);
	as_model_free(ma);
	as_model_free(mb);
	assert_int_equal(fx_rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixtral),
		cmocka_unit_test(test_qwen3moe),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mkmodel_refusals),
		cmocka_unit_test(test_expert_topics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The architectures of the loader and the one layer loop (model.c, forward.c): qwen2
 * (Q/K/V biases, NEOX RoPE), qwen3 (per-head Q/K RMSNorm, a head size from key_length
 * that is not dim / n_head, NEOX RoPE) and llama with Llama 3.1's rope_freqs and linear
 * RoPE scaling, each on a tiny F32 GGUF written here, against a naive whole-sequence
 * reference written independently below (angles in double, from the formulas, not from
 * the runtime's table). Then the refusals: unknown architecture, missing or misshapen
 * tensors of each architecture, unsupported RoPE scaling, bad head sizes.
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

#include "activeswap/convert.h"
#include "activeswap/gguf.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "activeswap/swap.h"

#define DIM 64
#define HID 96
#define NL 2
#define NH 4
#define NKV 2
#define NV 40
#define MAXT 64
#define MAXHD 32
#define NPOS 10

struct cfg {
	const char *arch;      /* general.architecture */
	int hd;                /* head size; key_length written when != DIM / NH */
	int n_rot;
	bool neox;             /* reference: NEOX pairs */
	bool bias_qkv, bias_o; /* write these biases */
	bool qk_norm;          /* write attn_q_norm / attn_k_norm */
	bool rope_freqs;       /* write rope_freqs.weight */
	float scale_factor;    /* rope.scaling.factor (0: not written) */
	const char *scale_type; /* rope.scaling.type (NULL: not written) */
	bool tied;             /* no output.weight */
	/* mutations for the refusal tests */
	const char *skip;      /* leave this tensor out */
	const char *grow;      /* give this tensor one more element in ne[0] */
	int value_length;      /* write attention.value_length (0: not written) */
	int key_length;        /* write this key_length instead (0: from hd) */
	bool zero_ff;          /* make rope_freqs[1] zero */
};

struct tdef {
	char name[64];
	uint64_t ne[2];
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

static void def(struct mdl *m, const char *name, uint64_t ne0, uint64_t ne1, float scale,
		float offset)
{
	struct tdef *t = &m->t[m->n++];

	assert_true(m->n <= MAXT);
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	t->n_dims = ne1 > 1 ? 2 : 1;
	t->v = malloc(ne0 * ne1 * sizeof(float));
	assert_non_null(t->v);
	for (uint64_t i = 0; i < ne0 * ne1; i++)
		t->v[i] = offset + scale * frand();
}

static void build(const struct cfg *c, struct mdl *m)
{
	int qd = NH * c->hd, kvd = NKV * c->hd;
	char nm[64];

	rng = 0x5eed;
	m->n = 0;
	def(m, "token_embd.weight", DIM, NV, 1.0f, 0);
	def(m, "output_norm.weight", DIM, 1, 0.2f, 1.0f);
	if (!c->tied)
		def(m, "output.weight", DIM, NV, 0.3f, 0);
	if (c->rope_freqs)
		def(m, "rope_freqs.weight", c->n_rot / 2, 1, 1.5f, 2.0f); /* factors in [0.5, 3.5] */
	if (c->rope_freqs && c->zero_ff)
		m->t[m->n - 1].v[1] = 0.0f;
	for (int l = 0; l < NL; l++) {
#define L(s, a, b, sc, off) (snprintf(nm, sizeof(nm), "blk.%d.%s", l, s), \
			     def(m, nm, a, b, sc, off))
		L("attn_norm.weight", DIM, 1, 0.2f, 1.0f);
		L("attn_q.weight", DIM, qd, 0.3f, 0);
		L("attn_k.weight", DIM, kvd, 0.3f, 0);
		L("attn_v.weight", DIM, kvd, 0.3f, 0);
		if (c->bias_qkv) {
			L("attn_q.bias", qd, 1, 0.5f, 0);
			L("attn_k.bias", kvd, 1, 0.5f, 0);
			L("attn_v.bias", kvd, 1, 0.5f, 0);
		}
		if (c->qk_norm) {
			L("attn_q_norm.weight", c->hd, 1, 0.5f, 1.0f);
			L("attn_k_norm.weight", c->hd, 1, 0.5f, 1.0f);
		}
		L("attn_output.weight", qd, DIM, 0.2f, 0);
		if (c->bias_o)
			L("attn_output.bias", DIM, 1, 0.3f, 0);
		L("ffn_norm.weight", DIM, 1, 0.2f, 1.0f);
		L("ffn_gate.weight", DIM, HID, 0.2f, 0);
		L("ffn_up.weight", DIM, HID, 0.2f, 0);
		L("ffn_down.weight", HID, DIM, 0.2f, 0);
#undef L
	}
}

static void mdl_free(struct mdl *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->t[i].v);
}

static const char *write_gguf(const struct cfg *c, const struct mdl *m)
{
	static char path[64];
	struct gguf_writer *w = gguf_writer_new();
	const char *tokens[NV];
	char tokbuf[NV][16], key[96];
	int fd;

	assert_non_null(w);
	snprintf(path, sizeof(path), "/tmp/as-test-arch-XXXXXX");
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
	if (c->key_length || c->hd != DIM / NH)
		assert_int_equal(gguf_w_u32(w, K("attention.key_length"),
					    c->key_length ? c->key_length : c->hd), 0);
	if (c->value_length)
		assert_int_equal(gguf_w_u32(w, K("attention.value_length"), c->value_length),
				 0);
	assert_int_equal(gguf_w_u32(w, K("rope.dimension_count"), c->n_rot), 0);
	assert_int_equal(gguf_w_f32(w, K("rope.freq_base"), 5000.0f), 0);
	if (c->scale_factor)
		assert_int_equal(gguf_w_f32(w, K("rope.scaling.factor"), c->scale_factor), 0);
	if (c->scale_type)
		assert_int_equal(gguf_w_str(w, K("rope.scaling.type"), c->scale_type), 0);
	assert_int_equal(gguf_w_u32(w, K("context_length"), 64), 0);
	assert_int_equal(gguf_w_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f), 0);
#undef K
	assert_int_equal(gguf_w_arr_str(w, "tokenizer.ggml.tokens", tokens, NV), 0);
	for (int i = 0; i < m->n; i++) {
		uint64_t ne[2] = { m->t[i].ne[0], m->t[i].ne[1] };

		if (c->skip && !strcmp(c->skip, m->t[i].name))
			continue;
		if (c->grow && !strcmp(c->grow, m->t[i].name))
			ne[0]++;
		assert_true(gguf_w_tensor(w, m->t[i].name, GGML_TYPE_F32, m->t[i].n_dims, ne) >= 0);
	}
	assert_int_equal(gguf_w_begin(w, fd), 0);
	for (int i = 0; i < m->n; i++) {
		size_t n = m->t[i].ne[0] * m->t[i].ne[1];

		if (c->skip && !strcmp(c->skip, m->t[i].name))
			continue;
		if (c->grow && !strcmp(c->grow, m->t[i].name)) {
			float *g = calloc(n + m->t[i].ne[1], sizeof(float));

			assert_non_null(g);
			assert_int_equal(gguf_w_data(w, g, (n + m->t[i].ne[1]) * 4), 0);
			free(g);
			continue;
		}
		assert_int_equal(gguf_w_data(w, m->t[i].v, n * 4), 0);
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
	return NULL;
}

static void mv(const float *w, int rows, int cols, const float *x, float *y)
{
	for (int r = 0; r < rows; r++) {
		double s = 0;

		for (int k = 0; k < cols; k++)
			s += (double)w[r * cols + k] * x[k];
		y[r] = (float)s;
	}
}

static void rms(const float *x, const float *g, float *y, int n, double eps)
{
	double ss = 0;

	for (int i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	for (int i = 0; i < n; i++)
		y[i] = (float)(x[i] / sqrt(ss / n + eps) * g[i]);
}

static void ref_rope(const struct cfg *c, const struct mdl *m, float *v, int n_heads, int pos)
{
	const float *ff = T(m, "rope_freqs.weight");
	double scale = c->scale_factor && (!c->scale_type || strcmp(c->scale_type, "none")) ?
		       1.0 / c->scale_factor : 1.0;

	for (int h = 0; h < n_heads; h++) {
		float *p = v + h * c->hd;

		for (int i = 0; i < c->n_rot / 2; i++) {
			double th = pos * pow(5000.0, -2.0 * i / c->n_rot) * scale;
			int a = c->neox ? i : 2 * i, b = c->neox ? i + c->n_rot / 2 : 2 * i + 1;
			double x0 = p[a], x1 = p[b];

			if (ff)
				th /= ff[i];
			p[a] = (float)(x0 * cos(th) - x1 * sin(th));
			p[b] = (float)(x0 * sin(th) + x1 * cos(th));
		}
	}
}

static void ref_forward(const struct cfg *c, const struct mdl *m, const int *toks, int n,
			float *logits)
{
	static float x[NPOS][DIM], q[NPOS][NH * MAXHD], k[NPOS][NKV * MAXHD],
		v[NPOS][NKV * MAXHD];
	float xb[DIM], o[NH * MAXHD], t[DIM], g[HID], u[HID], att[NPOS];
	int hd = c->hd, qd = NH * hd, kvd = NKV * hd;
	char nm[64];

	for (int p = 0; p < n; p++)
		memcpy(x[p], T(m, "token_embd.weight") + toks[p] * DIM, sizeof(x[p]));
	for (int l = 0; l < NL; l++) {
#define LW(s) (snprintf(nm, sizeof(nm), "blk.%d.%s", l, s), T(m, nm))
		for (int p = 0; p < n; p++) {
			rms(x[p], LW("attn_norm.weight"), xb, DIM, 1e-6);
			mv(LW("attn_q.weight"), qd, DIM, xb, q[p]);
			mv(LW("attn_k.weight"), kvd, DIM, xb, k[p]);
			mv(LW("attn_v.weight"), kvd, DIM, xb, v[p]);
			if (c->bias_qkv) {
				for (int i = 0; i < qd; i++)
					q[p][i] += LW("attn_q.bias")[i];
				for (int i = 0; i < kvd; i++) {
					k[p][i] += LW("attn_k.bias")[i];
					v[p][i] += LW("attn_v.bias")[i];
				}
			}
			if (c->qk_norm) {
				for (int h = 0; h < NH; h++)
					rms(q[p] + h * hd, LW("attn_q_norm.weight"), q[p] + h * hd,
					    hd, 1e-6);
				for (int h = 0; h < NKV; h++)
					rms(k[p] + h * hd, LW("attn_k_norm.weight"), k[p] + h * hd,
					    hd, 1e-6);
			}
			ref_rope(c, m, q[p], NH, p);
			ref_rope(c, m, k[p], NKV, p);
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
			mv(LW("attn_output.weight"), DIM, qd, o, t);
			for (int i = 0; i < DIM; i++)
				x[p][i] += t[i] + (c->bias_o ? LW("attn_output.bias")[i] : 0.0f);
			rms(x[p], LW("ffn_norm.weight"), xb, DIM, 1e-6);
			mv(LW("ffn_gate.weight"), HID, DIM, xb, g);
			mv(LW("ffn_up.weight"), HID, DIM, xb, u);
			for (int i = 0; i < HID; i++)
				g[i] = (float)(g[i] / (1.0 + exp(-g[i])) * u[i]);
			mv(LW("ffn_down.weight"), DIM, HID, g, t);
			for (int i = 0; i < DIM; i++)
				x[p][i] += t[i];
		}
#undef LW
	}
	rms(x[n - 1], T(m, "output_norm.weight"), xb, DIM, 1e-6);
	mv(c->tied ? T(m, "token_embd.weight") : T(m, "output.weight"), NV, DIM, xb, logits);
}

static const int seq[NPOS] = { 1, 5, 17, 3, 39, 9, 9, 30, 2, 0 };

/* Load c's model, decode seq with the KV cache and compare every position's logits. */
static void check_against_reference(const struct cfg *c, enum as_arch arch)
{
	struct mdl m;
	struct as_model *am = NULL;
	struct as_state *s;
	char err[256];
	const char *path;
	float ref[NV];
	int rc;

	build(c, &m);
	path = write_gguf(c, &m);
	rc = as_model_load(&am, path, err, sizeof(err));
	unlink(path);
	if (rc)
		fail_msg("load %s: %s", c->arch, err);
	assert_int_equal(am->hp.arch, arch);
	assert_int_equal(am->hp.head_dim, c->hd);
	assert_int_equal(am->hp.rope_mode, c->neox ? AS_ROPE_NEOX : AS_ROPE_NORM);
	assert_int_equal(am->tied_output, c->tied);
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

static void test_qwen2(void **state)
{
	struct cfg c = { .arch = "qwen2", .hd = DIM / NH, .n_rot = DIM / NH, .neox = true,
			 .bias_qkv = true, .tied = true };

	(void)state;
	check_against_reference(&c, AS_ARCH_QWEN2);
	c.tied = false;
	check_against_reference(&c, AS_ARCH_QWEN2);
}

static void test_qwen3(void **state)
{
	/* head size 32 with 4 heads: Q is 128 wide over a 64-wide residual stream */
	struct cfg c = { .arch = "qwen3", .hd = 32, .n_rot = 32, .neox = true,
			 .qk_norm = true };

	(void)state;
	check_against_reference(&c, AS_ARCH_QWEN3);
	c.hd = c.n_rot = 8; /* narrower than dim / n_head */
	check_against_reference(&c, AS_ARCH_QWEN3);
}

static void test_llama_rope_scaling(void **state)
{
	struct cfg c = { .arch = "llama", .hd = DIM / NH, .n_rot = 12, .rope_freqs = true };

	(void)state;
	check_against_reference(&c, AS_ARCH_LLAMA);
	c.rope_freqs = false;
	c.scale_factor = 4.0f; /* rope.scaling.type defaults to linear, as in llama.cpp */
	check_against_reference(&c, AS_ARCH_LLAMA);
	c.scale_type = "none";
	check_against_reference(&c, AS_ARCH_LLAMA);
	c.scale_type = "linear";
	c.bias_qkv = c.bias_o = true; /* llama's optional biases */
	c.hd = c.n_rot = 32;          /* key_length != dim / n_head */
	check_against_reference(&c, AS_ARCH_LLAMA);
}

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
		fail_msg("%s model (%s) loaded; expected '%s'", c.arch,
			 c.skip ? c.skip : c.grow ? c.grow : "", needle);
	assert_null(am);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not contain '%s'", err, needle);
	assert_null(strchr(err, '\n'));
}

static void test_refusals(void **state)
{
	const struct cfg q2 = { .arch = "qwen2", .hd = 16, .n_rot = 16, .neox = true,
				.bias_qkv = true };
	const struct cfg q3 = { .arch = "qwen3", .hd = 32, .n_rot = 32, .neox = true,
				.qk_norm = true };
	const struct cfg ll = { .arch = "llama", .hd = 16, .n_rot = 16, .rope_freqs = true };
	struct cfg c;

	(void)state;
	c = q2;
	c.arch = "gemma";
	expect_refused(c, "unsupported architecture 'gemma' (supported: llama, qwen2, qwen3, "
		       "qwen3moe)");
	c = q2;
	c.skip = "blk.1.attn_k.bias";
	expect_refused(c, "missing tensor blk.1.attn_k.bias");
	c = q2;
	c.grow = "blk.0.attn_v.bias";
	expect_refused(c, "blk.0.attn_v.bias has shape");
	c = q3;
	c.skip = "blk.0.attn_k_norm.weight";
	expect_refused(c, "missing tensor blk.0.attn_k_norm.weight");
	c = q3;
	c.grow = "blk.1.attn_q_norm.weight";
	expect_refused(c, "blk.1.attn_q_norm.weight has shape");
	c = q3;
	c.grow = "blk.0.attn_q.weight"; /* must be [dim, n_head * key_length] */
	expect_refused(c, "blk.0.attn_q.weight has shape");
	c = q3;
	c.value_length = 16;
	expect_refused(c, "value_length");
	c = q3;
	c.key_length = 100000;
	expect_refused(c, "key_length");
	c = ll;
	c.grow = "rope_freqs.weight";
	expect_refused(c, "rope_freqs.weight has shape");
	c = ll;
	c.scale_factor = 8.0f;
	c.scale_type = "yarn";
	expect_refused(c, "rope.scaling.type 'yarn' is not supported");
	c = ll;
	c.scale_factor = -2.0f;
	expect_refused(c, "rope.scaling.factor");
	c = ll;
	c.scale_factor = 1e-5f;
	expect_refused(c, "RoPE scaling factor 1e-05 is not 0 or in [0.001, 1e6]");
	c = ll;
	c.zero_ff = true;
	expect_refused(c, "rope_freqs.weight holds a value that is not a positive finite");
}

/*
 * A qwen3 model whose attention (NH x 32) is wider than dim, written by this test's own
 * writer: converted to a store, it runs from the row copy and from the columns at
 * sparsity 0 and matches the independent reference at every position (test_arch_store
 * checks the bit-identities on mkmodel's models).
 */
static void test_convert_wide(void **state)
{
	const struct cfg c = { .arch = "qwen3", .hd = 32, .n_rot = 32, .neox = true,
			       .qk_norm = true };
	struct as_convert_params p;
	struct as_convert_result res;
	struct mdl m;
	char err[256] = "", out[80];
	const char *path;
	float ref[NV];

	(void)state;
	build(&c, &m);
	path = write_gguf(&c, &m);
	snprintf(out, sizeof(out), "%s.asw", path);
	as_convert_params_init(&p);
	p.rows = true;
	if (as_convert(path, out, &p, &res, err, sizeof(err)))
		fail_msg("convert: %s", err);
	unlink(path);
	for (int cols = 0; cols < 2; cols++) {
		struct as_swap_params sp;
		struct as_swap_model *sm;

		memset(&sp, 0, sizeof(sp));
		sp.n_ctx = NPOS;
		sp.no_rows = cols;
		if (as_swap_open(&sm, out, &sp, err, sizeof(err)))
			fail_msg("open: %s", err);
		for (int pos = 0; pos < NPOS; pos++) {
			const float *lg;
			float diff = 0, scale = 0;

			assert_int_equal(as_swap_forward(sm, seq[pos], (uint32_t)pos, true), 0);
			lg = as_swap_logits(sm);
			ref_forward(&c, &m, seq, pos + 1, ref);
			for (int i = 0; i < NV; i++) {
				assert_true(isfinite(lg[i]));
				diff = fmaxf(diff, fabsf(lg[i] - ref[i]));
				scale = fmaxf(scale, fabsf(ref[i]));
			}
			if (diff > 1e-4f * (1 + scale))
				fail_msg("store (%s) position %d: logits differ from the reference "
					 "by %g (scale %g)", cols ? "columns" : "rows", pos, diff,
					 scale);
		}
		as_swap_close(sm);
	}
	unlink(out);
	mdl_free(&m);
}

/* Load buf as a model and, if it loads, run two positions: must not crash (ASan). */
static int try_load(const uint8_t *buf, size_t size)
{
	struct gguf_file *f;
	struct as_model *m;
	struct as_state *s;
	char err[256] = "";
	int rc;

	rc = gguf_parse(&f, buf, size, err, sizeof(err));
	if (rc)
		return rc;
	rc = as_model_from_gguf(&m, f, err, sizeof(err));
	if (rc) {
		assert_true(err[0] != 0);
		assert_null(strchr(err, '\n'));
	} else {
		assert_int_equal(as_state_new(&s, m, 2, NULL), 0);
		assert_int_equal(as_forward(s, 1, 0, false), 0);
		assert_int_equal(as_forward(s, 2, 1, true), 0);
		for (uint32_t i = 0; i < m->hp.n_vocab; i++)
			if (!isfinite(s->logits[i]))
				fail_msg("a model that loads gives logit %u = %g", i, s->logits[i]);
		as_state_free(s);
		as_model_free(m);
	}
	gguf_close(f);
	return rc;
}

/*
 * Hostile hyper-parameters: every u32 and f32 metadata value of a qwen3 and a llama model
 * (with rope_freqs and linear scaling) set in turn to edge values (0, 1, odd, huge,
 * negative, NaN, infinity): each either loads and runs to finite logits or is refused
 * with one line.
 */
static void test_hostile_metadata(void **state)
{
	static const uint32_t u32s[] = { 0, 1, 3, 7, 31, 33, 4097, 65535, 65536, 1u << 24,
					 0x7fffffffu, 0xffffffffu };
	static const float f32s[] = { 0.0f, -1.0f, 1e-30f, 1e30f, NAN, INFINITY };
	const struct cfg cs[2] = {
		{ .arch = "qwen3", .hd = 32, .n_rot = 32, .neox = true, .qk_norm = true },
		{ .arch = "llama", .hd = 16, .n_rot = 12, .rope_freqs = true,
		  .scale_factor = 2.0f, .scale_type = "linear" },
	};
	int loaded = 0, refused = 0;

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct mdl m;
		const char *path;
		uint8_t *orig, *buf;
		size_t size, off;
		FILE *fp;
		struct gguf_file *f;
		char err[256];

		build(&cs[k], &m);
		path = write_gguf(&cs[k], &m);
		mdl_free(&m);
		fp = fopen(path, "rb");
		assert_non_null(fp);
		fseek(fp, 0, SEEK_END);
		size = (size_t)ftell(fp);
		fseek(fp, 0, SEEK_SET);
		orig = malloc(size);
		buf = malloc(size);
		assert_true(orig && buf && fread(orig, 1, size, fp) == size);
		fclose(fp);
		unlink(path);
		assert_int_equal(gguf_parse(&f, orig, size, err, sizeof(err)), 0);
		for (uint64_t i = 0; i < f->n_kv; i++) {
			const struct gguf_kv *kv = &f->kv[i];

			if (kv->type != GGUF_TYPE_UINT32 && kv->type != GGUF_TYPE_FLOAT32)
				continue;
			off = (size_t)((const uint8_t *)kv->data - orig);
			for (size_t j = 0; j < 12; j++) {
				memcpy(buf, orig, size);
				if (kv->type == GGUF_TYPE_UINT32)
					memcpy(buf + off, &u32s[j], 4);
				else if (j < 6)
					memcpy(buf + off, &f32s[j], 4);
				else
					break;
				if (try_load(buf, size))
					refused++;
				else
					loaded++;
			}
		}
		gguf_close(f);
		free(orig);
		free(buf);
	}
	/* both outcomes happen: the edits reach the loader's checks */
	assert_true(loaded > 0 && refused > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qwen2),
		cmocka_unit_test(test_qwen3),
		cmocka_unit_test(test_llama_rope_scaling),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_convert_wide),
		cmocka_unit_test(test_hostile_metadata),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

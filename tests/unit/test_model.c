// SPDX-License-Identifier: MIT
/*
 * Dense model on tiny Llama GGUFs written here with the GGUF writer: finite logits, the
 * forward pass against a naive full-sequence reference written independently below,
 * incremental decoding == recomputation, threads, quantized weights, tied output, and
 * rejection of bad tensors and hyper-parameters.
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

#include "activeswap/eval.h"
#include "activeswap/gguf.h"
#include "activeswap/kernels.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "activeswap/threadpool.h"
#include "activeswap/tokenizer.h"

#define DIM 64
#define HID 96
#define NL 2
#define NH 4
#define NKV 2
#define HD (DIM / NH)
#define NV 48
#define NROT 12 /* < HD: the last dims of every head are not rotated */

struct spec {
	enum ggml_type wtype;     /* type of the 2-D matrices */
	bool tied;                /* no output.weight */
	const char *skip;         /* omit this tensor */
	const char *bad_shape;    /* give this tensor one row too many */
	const char *bad_type;     /* patch this tensor's type to q8_K (unsupported) */
	const char *f16_norm;     /* store this norm as f16 (norms must be f32) */
	int head_count_kv;        /* metadata value (default NKV) */
	const char *ovr_key;      /* write this u32 key with ovr_val instead */
	uint32_t ovr_val;
	const char *drop_key;     /* leave this metadata key out */
	bool no_matrices;         /* leave out every per-layer matrix */
};

struct tensor_def {
	char name[64];
	uint64_t ne[2];
	uint32_t n_dims;
	enum ggml_type type;
	float *f32;               /* the values (before quantization) */
};

static uint64_t rng = 77;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Deterministic weights: the same values for every spec (reset rng before). */
static void fill(struct tensor_def *t, float scale, float offset)
{
	uint64_t n = t->ne[0] * t->ne[1];

	t->f32 = malloc(n * sizeof(float));
	assert_non_null(t->f32);
	for (uint64_t i = 0; i < n; i++)
		t->f32[i] = offset + scale * frand();
}

static bool is_layer_matrix(const struct tensor_def *d)
{
	return d->n_dims == 2 && !strncmp(d->name, "blk.", 4);
}

static int build_defs(struct tensor_def *d)
{
	int n = 0;

	rng = 77;
#define DEF(nm, c, r, nd, ty, sc, off)                                                   \
	do {                                                                             \
		snprintf(d[n].name, sizeof(d[n].name), "%s", nm);                       \
		d[n].ne[0] = (c);                                                        \
		d[n].ne[1] = (r);                                                        \
		d[n].n_dims = (nd);                                                      \
		d[n].type = (ty);                                                        \
		fill(&d[n], (sc), (off));                                                \
		n++;                                                                     \
	} while (0)
	DEF("token_embd.weight", DIM, NV, 2, GGML_TYPE_F32, 1.0f, 0);
	DEF("output_norm.weight", DIM, 1, 1, GGML_TYPE_F32, 0.2f, 1.0f);
	DEF("output.weight", DIM, NV, 2, GGML_TYPE_F32, 0.3f, 0);
	for (int l = 0; l < NL; l++) {
		char nm[64];

#define LDEF(suffix, c, r, nd, ty, sc, off)                                              \
	do {                                                                             \
		snprintf(nm, sizeof(nm), "blk.%d.%s", l, suffix);                       \
		DEF(nm, c, r, nd, ty, sc, off);                                          \
	} while (0)
		LDEF("attn_norm.weight", DIM, 1, 1, GGML_TYPE_F32, 0.2f, 1.0f);
		LDEF("attn_q.weight", DIM, DIM, 2, GGML_TYPE_F32, 0.3f, 0);
		LDEF("attn_k.weight", DIM, NKV * HD, 2, GGML_TYPE_F32, 0.3f, 0);
		LDEF("attn_v.weight", DIM, NKV * HD, 2, GGML_TYPE_F32, 0.3f, 0);
		LDEF("attn_output.weight", DIM, DIM, 2, GGML_TYPE_F32, 0.2f, 0);
		LDEF("ffn_norm.weight", DIM, 1, 1, GGML_TYPE_F32, 0.2f, 1.0f);
		LDEF("ffn_gate.weight", DIM, HID, 2, GGML_TYPE_F32, 0.2f, 0);
		LDEF("ffn_up.weight", DIM, HID, 2, GGML_TYPE_F32, 0.2f, 0);
		LDEF("ffn_down.weight", HID, DIM, 2, GGML_TYPE_F32, 0.2f, 0);
#undef LDEF
	}
#undef DEF
	return n;
}

static void free_defs(struct tensor_def *d, int n)
{
	for (int i = 0; i < n; i++)
		free(d[i].f32);
}

/* Rewrite the type of tensor name in the directory to q8_K (no GGUF tensor type). */
static void patch_type(int fd, const char *name, struct tensor_def *d, int nd)
{
	static uint8_t file[1 << 20];
	ssize_t n = pread(fd, file, sizeof(file), 0);
	size_t nl = strlen(name);
	uint32_t q8_K = GGML_TYPE_Q8_K, n_dims = 0;

	assert_true(n > 0);
	for (int i = 0; i < nd; i++)
		if (!strcmp(d[i].name, name))
			n_dims = d[i].n_dims;
	for (ssize_t o = 8; o + (ssize_t)nl + 4 < n; o++) {
		uint64_t len;

		memcpy(&len, file + o - 8, 8);
		if (len != nl || memcmp(file + o, name, nl))
			continue;
		o += (ssize_t)nl + 4 + 8 * (ssize_t)n_dims;
		assert_int_equal(pwrite(fd, &q8_K, 4, o), 4);
		return;
	}
	fail_msg("tensor %s not found in the file", name);
}

/* Write a model following spec to a temporary file; returns its path (static). */
static const char *write_model(const struct spec *sp, struct tensor_def *d, int nd)
{
	static char path[64];
	struct gguf_writer *w = gguf_writer_new();
	const char *tokens[NV];
	char tokbuf[NV][16];
	int fd;

	assert_non_null(w);
	snprintf(path, sizeof(path), "/tmp/as-test-model-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (int i = 0; i < NV; i++) {
		snprintf(tokbuf[i], sizeof(tokbuf[i]), "t%d", i);
		tokens[i] = tokbuf[i];
	}
	if (sp->ovr_key)
		assert_int_equal(gguf_w_u32(w, sp->ovr_key, sp->ovr_val), 0);
#define KEY_U32(k, v)                                                                    \
	do {                                                                             \
		if ((!sp->ovr_key || strcmp(sp->ovr_key, k)) &&                          \
		    (!sp->drop_key || strcmp(sp->drop_key, k)))                          \
			assert_int_equal(gguf_w_u32(w, k, v), 0);                        \
	} while (0)
	assert_int_equal(gguf_w_str(w, "general.architecture", "llama"), 0);
	KEY_U32("llama.embedding_length", DIM);
	KEY_U32("llama.feed_forward_length", HID);
	KEY_U32("llama.block_count", NL);
	KEY_U32("llama.attention.head_count", NH);
	KEY_U32("llama.attention.head_count_kv", sp->head_count_kv ? sp->head_count_kv : NKV);
	KEY_U32("llama.rope.dimension_count", NROT);
#undef KEY_U32
	assert_int_equal(gguf_w_f32(w, "llama.rope.freq_base", 10000.0f), 0);
	assert_int_equal(gguf_w_u32(w, "llama.context_length", 64), 0);
	assert_int_equal(gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f), 0);
	assert_int_equal(gguf_w_str(w, "tokenizer.ggml.model", "llama"), 0);
	assert_int_equal(gguf_w_arr_str(w, "tokenizer.ggml.tokens", tokens, NV), 0);
	for (int i = 0; i < nd; i++) {
		enum ggml_type ty = d[i].type;
		uint64_t ne[2] = { d[i].ne[0], d[i].ne[1] };

		if (sp->skip && !strcmp(sp->skip, d[i].name))
			continue;
		if (sp->no_matrices && is_layer_matrix(&d[i]))
			continue;
		if (sp->tied && !strcmp(d[i].name, "output.weight"))
			continue;
		if (d[i].n_dims == 2 && strcmp(d[i].name, "token_embd.weight"))
			ty = sp->wtype;
		if (sp->f16_norm && !strcmp(sp->f16_norm, d[i].name))
			ty = GGML_TYPE_F16;
		if (sp->bad_shape && !strcmp(sp->bad_shape, d[i].name))
			ne[1] += 1;
		assert_true(gguf_w_tensor(w, d[i].name, ty, d[i].n_dims, ne) >= 0);
	}
	assert_int_equal(gguf_w_begin(w, fd), 0);
	for (int i = 0; i < nd; i++) {
		enum ggml_type ty = d[i].type;
		uint64_t rows = d[i].ne[1], cols = d[i].ne[0], rb;
		uint8_t *buf;

		if (sp->skip && !strcmp(sp->skip, d[i].name))
			continue;
		if (sp->no_matrices && is_layer_matrix(&d[i]))
			continue;
		if (sp->tied && !strcmp(d[i].name, "output.weight"))
			continue;
		if (d[i].n_dims == 2 && strcmp(d[i].name, "token_embd.weight"))
			ty = sp->wtype;
		if (sp->f16_norm && !strcmp(sp->f16_norm, d[i].name))
			ty = GGML_TYPE_F16;
		if (sp->bad_shape && !strcmp(sp->bad_shape, d[i].name))
			rows += 1;
		assert_int_equal(as_row_bytes(ty, cols, &rb), 0);
		buf = calloc(rows, rb);
		assert_non_null(buf);
		for (uint64_t r = 0; r < rows && r < d[i].ne[1]; r++)
			assert_int_equal(as_quant_row(ty, d[i].f32 + r * cols, buf + r * rb, cols),
					 0);
		assert_int_equal(gguf_w_data(w, buf, rows * rb), 0);
		free(buf);
	}
	assert_int_equal(gguf_w_end(w), 0);
	gguf_writer_free(w);
	if (sp->bad_type)
		patch_type(fd, sp->bad_type, d, nd);
	close(fd);
	return path;
}

static struct as_model *load(const struct spec *sp, struct tensor_def *d, int nd, int *rc,
			     char *err, size_t errlen)
{
	const char *path = write_model(sp, d, nd);
	struct as_model *m = NULL;

	*rc = as_model_load(&m, path, err, errlen);
	unlink(path);
	return m;
}

/* ---- an independent reference: whole sequence, no KV cache ----------------------- */

static const float *W(struct tensor_def *d, int nd, const char *name)
{
	for (int i = 0; i < nd; i++)
		if (!strcmp(d[i].name, name))
			return d[i].f32;
	fail_msg("no tensor %s", name);
	return NULL;
}

static void ref_matvec(const float *w, int rows, int cols, const float *x, float *y)
{
	for (int r = 0; r < rows; r++) {
		double s = 0;

		for (int c = 0; c < cols; c++)
			s += (double)w[r * cols + c] * x[c];
		y[r] = (float)s;
	}
}

static void ref_rmsnorm(const float *x, const float *g, float *y)
{
	double ss = 0;

	for (int i = 0; i < DIM; i++)
		ss += (double)x[i] * x[i];
	for (int i = 0; i < DIM; i++)
		y[i] = (float)(x[i] / sqrt(ss / DIM + 1e-5) * g[i]);
}

static void ref_rope(float *v, int n_heads, int pos)
{
	for (int h = 0; h < n_heads; h++)
		for (int i = 0; i < NROT; i += 2) {
			double th = pos * pow(10000.0, -(double)i / NROT);
			float a = v[h * HD + i], b = v[h * HD + i + 1];

			v[h * HD + i] = (float)(a * cos(th) - b * sin(th));
			v[h * HD + i + 1] = (float)(a * sin(th) + b * cos(th));
		}
}

/* Logits of the last position of toks[0..n). */
static void ref_forward(struct tensor_def *d, int nd, const int *toks, int n, float *logits)
{
	static float x[16][DIM], xb[DIM], q[16][DIM], k[16][NKV * HD], v[16][NKV * HD];
	float att[16], o[DIM], t[DIM], g[HID], u[HID];
	char nm[64];

	assert_true(n <= 16);
	for (int p = 0; p < n; p++)
		memcpy(x[p], W(d, nd, "token_embd.weight") + toks[p] * DIM, sizeof(x[p]));
	for (int l = 0; l < NL; l++) {
#define LW(s) (snprintf(nm, sizeof(nm), "blk.%d.%s", l, s), W(d, nd, nm))
		for (int p = 0; p < n; p++) {
			ref_rmsnorm(x[p], LW("attn_norm.weight"), xb);
			ref_matvec(LW("attn_q.weight"), DIM, DIM, xb, q[p]);
			ref_matvec(LW("attn_k.weight"), NKV * HD, DIM, xb, k[p]);
			ref_matvec(LW("attn_v.weight"), NKV * HD, DIM, xb, v[p]);
			ref_rope(q[p], NH, p);
			ref_rope(k[p], NKV, p);
		}
		for (int p = 0; p < n; p++) {
			for (int h = 0; h < NH; h++) {
				int kh = h / (NH / NKV);
				double mx = -1e30, sum = 0;

				for (int s = 0; s <= p; s++) {
					double dt = 0;

					for (int i = 0; i < HD; i++)
						dt += (double)q[p][h * HD + i] * k[s][kh * HD + i];
					att[s] = (float)(dt / sqrt((double)HD));
					if (att[s] > mx)
						mx = att[s];
				}
				for (int s = 0; s <= p; s++)
					sum += exp(att[s] - mx);
				for (int i = 0; i < HD; i++) {
					double acc = 0;

					for (int s = 0; s <= p; s++)
						acc += exp(att[s] - mx) / sum * v[s][kh * HD + i];
					o[h * HD + i] = (float)acc;
				}
			}
			ref_matvec(LW("attn_output.weight"), DIM, DIM, o, t);
			for (int i = 0; i < DIM; i++)
				x[p][i] += t[i];
			ref_rmsnorm(x[p], LW("ffn_norm.weight"), xb);
			ref_matvec(LW("ffn_gate.weight"), HID, DIM, xb, g);
			ref_matvec(LW("ffn_up.weight"), HID, DIM, xb, u);
			for (int i = 0; i < HID; i++)
				g[i] = (float)(g[i] / (1.0 + exp(-g[i])) * u[i]);
			ref_matvec(LW("ffn_down.weight"), DIM, HID, g, t);
			for (int i = 0; i < DIM; i++)
				x[p][i] += t[i];
		}
		/* Later positions in this layer used k/v of this layer only: recomputing
		 * per layer above is exact because position p only reads s <= p. */
#undef LW
	}
	ref_rmsnorm(x[n - 1], W(d, nd, "output_norm.weight"), xb);
	ref_matvec(W(d, nd, "output.weight"), NV, DIM, xb, logits);
}

static float max_abs_diff(const float *a, const float *b, int n, float *scale)
{
	float m = 0, s = 0;

	for (int i = 0; i < n; i++) {
		if (fabsf(a[i] - b[i]) > m)
			m = fabsf(a[i] - b[i]);
		if (fabsf(b[i]) > s)
			s = fabsf(b[i]);
	}
	if (scale)
		*scale = s;
	return m;
}

static const int seq[12] = { 1, 5, 17, 3, 44, 9, 9, 30, 2, 47, 0, 12 };

static void test_matches_reference(void **state)
{
	struct tensor_def d[3 + 9 * NL];
	int nd = build_defs(d), rc;
	struct spec sp = { .wtype = GGML_TYPE_F32 };
	char err[256];
	struct as_model *m = load(&sp, d, nd, &rc, err, sizeof(err));
	struct as_state *s;
	float ref[NV];

	(void)state;
	if (rc)
		fail_msg("load: %s", err);
	assert_int_equal(m->hp.n_rot, NROT);
	assert_int_equal(m->hp.n_head_kv, NKV);
	assert_false(m->tied_output);
	assert_int_equal(as_state_new(&s, m, 16, NULL), 0);
	for (int p = 0; p < 12; p++) {
		float diff, scale;

		assert_int_equal(as_forward(s, seq[p], (uint32_t)p, true), 0);
		for (int i = 0; i < NV; i++)
			assert_true(isfinite(s->logits[i]));
		ref_forward(d, nd, seq, p + 1, ref);
		diff = max_abs_diff(s->logits, ref, NV, &scale);
		if (diff > 1e-4f * (1 + scale))
			fail_msg("position %d: logits differ from the reference by %g (scale %g)",
				 p, diff, scale);
	}
	as_state_free(s);
	as_model_free(m);
	free_defs(d, nd);
}

/* Decoding token by token with the KV cache == recomputing every prefix from scratch,
 * single-threaded and with a 2-thread pool. */
static void test_incremental_equals_recompute(void **state)
{
	struct tensor_def d[3 + 9 * NL];
	int nd = build_defs(d), rc;
	struct spec sp = { .wtype = GGML_TYPE_F32 };
	char err[256];
	struct as_model *m = load(&sp, d, nd, &rc, err, sizeof(err));
	struct as_threadpool *tp = as_tp_create(2);
	struct as_state *inc, *fresh, *thr;

	(void)state;
	assert_int_equal(rc, 0);
	assert_non_null(tp);
	assert_int_equal(as_state_new(&inc, m, 12, NULL), 0);
	assert_int_equal(as_state_new(&thr, m, 12, tp), 0);
	for (int p = 0; p < 12; p++) {
		assert_int_equal(as_forward(inc, seq[p], (uint32_t)p, true), 0);
		assert_int_equal(as_forward(thr, seq[p], (uint32_t)p, true), 0);
		assert_int_equal(as_state_new(&fresh, m, 12, NULL), 0);
		for (int j = 0; j <= p; j++)
			assert_int_equal(as_forward(fresh, seq[j], (uint32_t)j, j == p), 0);
		assert_memory_equal(inc->logits, fresh->logits, NV * sizeof(float));
		assert_true(max_abs_diff(thr->logits, inc->logits, NV, NULL) < 1e-5f);
		as_state_free(fresh);
	}
	/* Rewinding: running position 3 again with another token and continuing gives
	 * what a fresh run of that sequence gives. */
	assert_int_equal(as_forward(inc, 7, 3, true), 0);
	assert_int_equal(as_state_new(&fresh, m, 12, NULL), 0);
	for (int j = 0; j < 3; j++)
		assert_int_equal(as_forward(fresh, seq[j], (uint32_t)j, false), 0);
	assert_int_equal(as_forward(fresh, 7, 3, true), 0);
	assert_memory_equal(inc->logits, fresh->logits, NV * sizeof(float));
	/* Range checks. */
	assert_int_equal(as_forward(inc, 0, 12, true), -ERANGE);
	assert_int_equal(as_forward(inc, NV, 0, true), -EINVAL);
	assert_int_equal(as_forward(inc, -1, 0, true), -EINVAL);
	as_state_free(fresh);
	as_state_free(inc);
	as_state_free(thr);
	as_tp_destroy(tp);
	as_model_free(m);
	free_defs(d, nd);
}

/* Quantized matrices and a tied output head still track the F32 reference. */
static void test_quantized_and_tied(void **state)
{
	static const enum ggml_type types[] = { GGML_TYPE_F16, GGML_TYPE_Q8_0,
						GGML_TYPE_Q4_0 };
	static const float tol[] = { 0.02f, 0.05f, 0.5f };
	struct tensor_def d[3 + 9 * NL];
	int nd = build_defs(d), rc;
	char err[256];
	float ref[NV];

	(void)state;
	ref_forward(d, nd, seq, 6, ref);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct spec sp = { .wtype = types[t] };
		struct as_model *m = load(&sp, d, nd, &rc, err, sizeof(err));
		struct as_state *s;
		float diff, scale;

		if (rc)
			fail_msg("%s: %s", as_type_name(types[t]), err);
		assert_int_equal(m->layers[0].w[AS_OP_DOWN].type, types[t]);
		assert_int_equal(as_state_new(&s, m, 8, NULL), 0);
		for (int p = 0; p < 6; p++)
			assert_int_equal(as_forward(s, seq[p], (uint32_t)p, p == 5), 0);
		diff = max_abs_diff(s->logits, ref, NV, &scale);
		if (diff > tol[t] * scale)
			fail_msg("%s: logits differ by %g (scale %g)", as_type_name(types[t]),
				 diff, scale);
		as_state_free(s);
		as_model_free(m);
	}
	{
		struct spec sp = { .wtype = GGML_TYPE_F32, .tied = true };
		struct as_model *m = load(&sp, d, nd, &rc, err, sizeof(err));
		struct as_state *s;
		float y[NV];

		assert_int_equal(rc, 0);
		assert_true(m->tied_output);
		assert_ptr_equal(m->output.data, m->tok_embd.data);
		assert_int_equal(as_state_new(&s, m, 4, NULL), 0);
		assert_int_equal(as_forward(s, 3, 0, true), 0);
		/* logits = token_embd · rmsnorm(x): recompute the last step by hand. */
		ref_rmsnorm(s->x, W(d, nd, "output_norm.weight"), s->xb);
		ref_matvec(W(d, nd, "token_embd.weight"), NV, DIM, s->xb, y);
		assert_true(max_abs_diff(s->logits, y, NV, NULL) < 1e-4f);
		as_state_free(s);
		as_model_free(m);
	}
	free_defs(d, nd);
}

/* Repacked Q4_0 (anonymous memory, Q4_0_X16) computes exactly what the file's Q4_0 does. */
static void test_repack_identical(void **state)
{
	struct tensor_def d[3 + 9 * NL];
	int nd = build_defs(d);
	struct spec sp = { .wtype = GGML_TYPE_Q4_0 };
	const char *path = write_model(&sp, d, nd);
	struct as_threadpool *tp = as_tp_create(2);
	struct as_model_opts o = { .repack = true, .tp = tp };
	struct as_model *plain, *rep;
	struct as_state *a, *b;
	char err[256];

	(void)state;
	if (!as_repack_useful(GGML_TYPE_Q4_0)) { /* the loader repacks only then */
		print_message("# no repacking at SIMD level %s\n", as_simd_name(as_simd_active()));
		unlink(path);
		as_tp_destroy(tp);
		skip();
	}
	assert_int_equal(as_model_load(&plain, path, err, sizeof(err)), 0);
	assert_int_equal(as_model_load_opts(&rep, path, &o, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(plain->n_repacked, 0);
	assert_int_equal(rep->n_repacked, NL * AS_OP_COUNT);
	assert_int_equal(rep->layers[1].w[AS_OP_DOWN].type, AS_TYPE_Q4_0_X16);
	assert_int_equal(as_state_new(&a, plain, 12, NULL), 0);
	assert_int_equal(as_state_new(&b, rep, 12, tp), 0);
	for (int p = 0; p < 12; p++) {
		assert_int_equal(as_forward(a, seq[p], (uint32_t)p, true), 0);
		assert_int_equal(as_forward(b, seq[p], (uint32_t)p, true), 0);
		assert_memory_equal(a->logits, b->logits, NV * sizeof(float));
	}
	as_state_free(a);
	as_state_free(b);
	as_model_free(plain);
	as_model_free(rep);
	as_tp_destroy(tp);
	free_defs(d, nd);
}

/* A model without its layer matrices is refused, naming the first one missing. */
static void test_no_layer_weights_refused(void **state)
{
	struct tensor_def d[3 + 9 * NL];
	int nd = build_defs(d);
	struct spec bare = { .wtype = GGML_TYPE_Q8_0, .no_matrices = true };
	const char *path;
	struct as_model *nw = NULL;
	char err[256];

	(void)state;
	path = write_model(&bare, d, nd);
	assert_true(as_model_load(&nw, path, err, sizeof(err)) < 0);
	assert_null(nw);
	assert_non_null(strstr(err, "missing tensor blk.0.attn_q.weight"));
	unlink(path);
	free_defs(d, nd);
}

static void expect_reject(struct spec sp, const char *needle)
{
	struct tensor_def d[3 + 9 * NL];
	int nd = build_defs(d), rc;
	char err[256] = "";
	struct as_model *m = load(&sp, d, nd, &rc, err, sizeof(err));

	assert_true(rc < 0);
	assert_null(m);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not name '%s'", err, needle);
	free_defs(d, nd);
}

static void test_bad_tensors(void **state)
{
	(void)state;
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32, .skip = "blk.1.ffn_up.weight" },
		      "missing tensor blk.1.ffn_up.weight");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .bad_shape = "blk.0.attn_k.weight" },
		      "blk.0.attn_k.weight has shape");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .bad_shape = "token_embd.weight" },
		      "token_embd.weight has shape");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .bad_type = "blk.1.attn_output.weight" },
		      "blk.1.attn_output.weight");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .f16_norm = "blk.0.ffn_norm.weight" },
		      "blk.0.ffn_norm.weight has unsupported type f16 (must be f32)");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32, .skip = "output_norm.weight" },
		      "missing tensor output_norm.weight");
	/* Hyper-parameters. */
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .ovr_key = "llama.attention.head_count", .ovr_val = 0 },
		      "llama.attention.head_count is not an integer in");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .ovr_key = "llama.rope.dimension_count", .ovr_val = 7 },
		      "rope.dimension_count 7 is odd");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .ovr_key = "llama.rope.dimension_count", .ovr_val = 64 },
		      "llama.rope.dimension_count is not an integer in");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .ovr_key = "llama.block_count", .ovr_val = 3 },
		      "missing tensor blk.2.attn_norm.weight");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .ovr_key = "llama.block_count", .ovr_val = 1u << 30 },
		      "llama.block_count is not an integer in");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .ovr_key = "llama.feed_forward_length", .ovr_val = 95 },
		      "blk.0.ffn_gate.weight has shape");
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32,
				     .drop_key = "llama.embedding_length" },
		      "missing metadata key llama.embedding_length");
	/* head_count_kv 3 does not divide 4 heads. */
	expect_reject((struct spec){ .wtype = GGML_TYPE_F32, .head_count_kv = 3 },
		      "do not divide");
}

/*
 * The real model with random byte mutations in its metadata and tensor directory: the
 * loaders either reject it with a message or the result runs; never a crash (ASan/UBSan).
 */
static void test_mutated_real_model(void **state)
{
	const char *shared = getenv("AS_SHARED");
	char path[4096], err[256];
	struct gguf_file *f;
	uint8_t *orig, *buf;
	uint64_t size, head;
	int loaded = 0, ran = 0;

	(void)state;
	if (!shared)
		skip();
	snprintf(path, sizeof(path), "%s/models/stories260K.gguf", shared);
	if (access(path, R_OK))
		skip();
	assert_int_equal(gguf_open(&f, path, err, sizeof(err)), 0);
	size = f->size;
	head = f->data_offset;
	orig = malloc(size);
	buf = malloc(size);
	assert_non_null(orig);
	assert_non_null(buf);
	memcpy(orig, f->map, size);
	gguf_close(f);
	rng = 4242;
	for (int it = 0; it < 1000; it++) {
		struct gguf_file *g;
		struct as_model *m;
		struct as_tokenizer *t;
		int nmut = 1 + (int)((frand() + 1) * 2);

		memcpy(buf, orig, size);
		for (int k = 0; k < nmut; k++) {
			uint64_t off = (uint64_t)((frand() + 1) * 0.5 * (double)head) % head;

			buf[off] = (uint8_t)((frand() + 1) * 128);
		}
		if (gguf_parse(&g, buf, size, err, sizeof(err)))
			continue;
		if (as_model_from_gguf(&m, g, err, sizeof(err)) == 0) {
			loaded++;
			if (as_tokenizer_load(&t, g, err, sizeof(err)) == 0) {
				struct as_state *st;
				int32_t *ids;
				size_t n;

				assert_int_equal(as_tokenize(t, "Once upon a time", 16, true,
							     &ids, &n), 0);
				if (as_state_new(&st, m, 4, NULL) == 0) {
					for (size_t i = 0; i < n && i < 4; i++)
						if ((uint32_t)ids[i] < m->hp.n_vocab)
							as_forward(st, ids[i], (uint32_t)i, true);
					ran++;
					as_state_free(st);
				}
				free(ids);
				as_tokenizer_free(t);
			}
			as_model_free(m);
		} else {
			assert_true(strlen(err) > 0);
		}
		gguf_close(g);
	}
	print_message("# %d of 1000 mutated files loaded, %d ran\n", loaded, ran);
	/* Most single-byte changes hit strings and leave the model loadable. */
	assert_true(loaded > 0 && ran > 0);
	free(orig);
	free(buf);
}

/* Top-K hook: keeps exactly K of the largest magnitudes, ties by index. */
static void test_topk_hook(void **state)
{
	struct as_topk tk = { .sparsity = 0.5f };
	float x[8] = { 0.1f, -5, 3, 0.2f, -0.3f, 4, 1, 1 };
	float y[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };

	(void)state;
	as_topk_hook(&tk, 0, AS_OP_Q, x, 8);
	assert_true(x[0] == 0 && x[1] == -5 && x[2] == 3 && x[3] == 0 && x[4] == 0 &&
		    x[5] == 4 && x[6] == 1 && x[7] == 0);
	tk.sparsity = 0.75f;
	as_topk_hook(&tk, 0, AS_OP_Q, y, 8);
	assert_true(y[0] == 1 && y[1] == 1 && y[2] == 0 && y[7] == 0);
	as_topk_free(&tk);
}

/* --sparsity-ops lists: known groups, "all", nothing empty or unknown. */
static void test_topk_parse_ops(void **state)
{
	uint32_t mask = 7;

	(void)state;
	assert_int_equal(as_topk_parse_ops("qkv,down", &mask), 0);
	assert_int_equal(mask, (1u << AS_OP_Q) | (1u << AS_OP_DOWN));
	assert_int_equal(as_topk_parse_ops("o", &mask), 0);
	assert_int_equal(mask, 1u << AS_OP_O);
	assert_int_equal(as_topk_parse_ops("gateup,all", &mask), 0);
	assert_int_equal(mask, 0);
	mask = 7;
	assert_int_equal(as_topk_parse_ops("", &mask), -EINVAL);
	assert_int_equal(as_topk_parse_ops("qkv,", &mask), -EINVAL);
	assert_int_equal(as_topk_parse_ops(",qkv", &mask), -EINVAL);
	assert_int_equal(as_topk_parse_ops("qkv,,o", &mask), -EINVAL);
	assert_int_equal(as_topk_parse_ops("qk", &mask), -EINVAL);
	assert_int_equal(mask, 7);
}

/* ---- the weight-source seam of the forward pass ------------------------------------ */

#define MAX_CALLS 64

/* A source over the dense matrices that records what the loop asks of it. */
struct rec_src {
	const struct as_model *m;
	int log[MAX_CALLS]; /* 'B' token_begin, 'E' token_end, 'L' layer_begin, '0'+g linear */
	uint32_t layer[MAX_CALLS];
	uint32_t sel_n[MAX_CALLS];
	int n;
	int fail_layer, fail_group, fail_rc; /* linear of (layer, group) returns fail_rc */
	bool sel_ok;                        /* every selection was the Top-K, in order */
	const float *xs[MAX_CALLS];
};

static void rec(struct rec_src *r, int what, uint32_t layer, uint32_t sel_n)
{
	if (r->n < MAX_CALLS) {
		r->log[r->n] = what;
		r->layer[r->n] = layer;
		r->sel_n[r->n] = sel_n;
		r->n++;
	}
}

static int rec_token_begin(void *ctx)
{
	rec(ctx, 'B', 0, 0);
	return 0;
}

static void rec_token_end(void *ctx)
{
	rec(ctx, 'E', 0, 0);
}

static void rec_layer_begin(void *ctx, uint32_t layer, const float *x)
{
	rec(ctx, 'L', layer, 0);
}

static int rec_linear(void *ctx, uint32_t layer, enum as_group g, const float *x,
		      const struct as_sel *sel, float *const *ys)
{
	struct rec_src *r = ctx;
	uint32_t n = as_group_in(&r->m->hp, g);

	rec(r, '0' + (int)g, layer, sel ? sel->n : UINT32_MAX);
	if ((int)layer == r->fail_layer && (int)g == r->fail_group)
		return r->fail_rc;
	if (sel) {
		/* increasing indices; no channel left out is larger than one kept */
		float min_kept = INFINITY, max_left = 0;
		uint32_t j = 0;

		for (uint32_t i = 0; i < sel->n; i++) {
			if (i && sel->idx[i] <= sel->idx[i - 1])
				r->sel_ok = false;
			if (fabsf(x[sel->idx[i]]) < min_kept)
				min_kept = fabsf(x[sel->idx[i]]);
		}
		for (uint32_t c = 0; c < n; c++) {
			if (j < sel->n && sel->idx[j] == c) {
				j++;
				continue;
			}
			if (fabsf(x[c]) > max_left)
				max_left = fabsf(x[c]);
		}
		if (j != sel->n || max_left > min_kept)
			r->sel_ok = false;
		/* multiply the selected channels only, to show the output follows them */
		{
			float xm[HID] = { 0 };

			for (uint32_t i = 0; i < sel->n; i++)
				xm[sel->idx[i]] = x[sel->idx[i]];
			as_group_matvec(NULL, r->m->layers[layer].w, g, xm, ys);
		}
		return 0;
	}
	as_group_matvec(NULL, r->m->layers[layer].w, g, x, ys);
	return 0;
}

static const struct as_wsource_ops rec_ops = {
	.name = "recording",
	.token_begin = rec_token_begin,
	.token_end = rec_token_end,
	.layer_begin = rec_layer_begin,
	.linear = rec_linear,
};

/*
 * as_forward over a source: the calls come in the layer loop's order, the output equals
 * the dense source's bit for bit, a source error ends the token (token_end still called,
 * nothing after it), a bad token never reaches the source, and the state's Top-K hands
 * the source the largest channels in increasing order.
 */
static void test_weight_source(void **state)
{
	struct tensor_def d[3 + 9 * NL];
	int nd = build_defs(d), rc;
	struct spec sp = { .wtype = GGML_TYPE_Q8_0 };
	char err[256];
	struct as_model *m = load(&sp, d, nd, &rc, err, sizeof(err));
	struct rec_src r = { .fail_layer = -1, .fail_group = -1, .sel_ok = true };
	struct as_state *dense, *s;
	uint32_t topk[NL * AS_GROUP_COUNT];
	float keep[NV];

	(void)state;
	if (rc)
		fail_msg("load: %s", err);
	r.m = m;
	assert_int_equal(as_state_new(&dense, m, 16, NULL), 0);
	assert_int_equal(as_state_new_src(&s, m, 16, NULL,
					  (struct as_wsource){ &rec_ops, &r }), 0);
	for (int p = 0; p < 4; p++) {
		assert_int_equal(as_forward(dense, seq[p], (uint32_t)p, true), 0);
		r.n = 0;
		assert_int_equal(as_forward(s, seq[p], (uint32_t)p, true), 0);
		assert_memory_equal(s->logits, dense->logits, NV * sizeof(float));
		assert_int_equal(r.n, 2 + NL * 5);
		assert_int_equal(r.log[0], 'B');
		for (uint32_t l = 0; l < NL; l++) {
			const int *c = &r.log[1 + l * 5];

			assert_int_equal(c[0], 'L');
			for (int g = 0; g < AS_GROUP_COUNT; g++) {
				assert_int_equal(c[1 + g], '0' + g);
				assert_int_equal(r.layer[1 + l * 5 + 1 + g], l);
				assert_int_equal(r.sel_n[1 + l * 5 + 1 + g], UINT32_MAX);
			}
		}
		assert_int_equal(r.log[r.n - 1], 'E');
	}

	/* a failing source: the token ends there */
	r.n = 0;
	r.fail_layer = 1;
	r.fail_group = AS_GROUP_O;
	r.fail_rc = -EIO;
	assert_int_equal(as_forward(s, seq[4], 4, true), -EIO);
	assert_int_equal(r.n, 1 + 5 + 3 + 1);
	assert_int_equal(r.log[r.n - 2], '0' + AS_GROUP_O);
	assert_int_equal(r.log[r.n - 1], 'E');
	r.fail_layer = -1;

	/* out-of-range token or position: refused before the source hears of it */
	r.n = 0;
	assert_int_equal(as_forward(s, NV, 0, true), -EINVAL);
	assert_int_equal(as_forward(s, 0, 16, true), -ERANGE);
	assert_int_equal(r.n, 0);

	/* Top-K selection by the loop */
	for (uint32_t l = 0; l < NL; l++) {
		topk[l * AS_GROUP_COUNT + AS_GROUP_QKV] = DIM / 2;
		topk[l * AS_GROUP_COUNT + AS_GROUP_O] = DIM;
		topk[l * AS_GROUP_COUNT + AS_GROUP_GATE_UP] = 5;
		topk[l * AS_GROUP_COUNT + AS_GROUP_DOWN] = HID / 3;
	}
	s->topk = topk;
	r.n = 0;
	assert_int_equal(as_forward(s, seq[0], 0, true), 0);
	assert_true(r.sel_ok);
	for (int i = 0; i < r.n; i++) {
		if (r.log[i] < '0' || r.log[i] >= '0' + AS_GROUP_COUNT)
			continue;
		assert_int_equal(r.sel_n[i], topk[r.layer[i] * AS_GROUP_COUNT + (r.log[i] - '0')]);
	}
	memcpy(keep, s->logits, sizeof(keep));
	assert_int_equal(as_forward(dense, seq[0], 0, true), 0);
	assert_memory_not_equal(keep, dense->logits, sizeof(keep)); /* the selection counted */
	/* the dense source takes no selection (its sparsity is the hook's) */
	dense->topk = topk;
	assert_int_equal(as_forward(dense, seq[0], 0, true), -EOPNOTSUPP);

	as_state_free(s);
	as_state_free(dense);
	as_model_free(m);
	free_defs(d, nd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_incremental_equals_recompute),
		cmocka_unit_test(test_quantized_and_tied),
		cmocka_unit_test(test_repack_identical),
		cmocka_unit_test(test_no_layer_weights_refused),
		cmocka_unit_test(test_topk_parse_ops),
		cmocka_unit_test(test_bad_tensors),
		cmocka_unit_test(test_mutated_real_model),
		cmocka_unit_test(test_topk_hook),
		cmocka_unit_test(test_weight_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * as_convert (runtime/convert.c): every bundle column equals the source matrix's column
 * (exactly for f32, within the quantization step otherwise) (decoded with as_col_decode),
 * resident tensors and the GGUF metadata are carried over verbatim, and a failed or
 * cancelled conversion leaves no file; progress, notes and verification.
 * Uses a generated Q4_0 model (always) and the real stories260K model (when AS_SHARED
 * points at ../shared). The CLI's exit codes are checked by tests/integration/convert.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "activeswap/convert.h"
#include "activeswap/eval.h"
#include "activeswap/gguf.h"
#include "activeswap/mkmodel.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/tokenizer.h"
#include "fixtures.h"
#include "libswap.h"

static char dir[256];

static int setup(void **state)
{
	return fx_tmpdir(dir, sizeof(dir), "swapconv");
}

static int teardown(void **state)
{
	return fx_rmdir(dir);
}

/* as_convert with a type (AS_CONVERT_KEEP or a ggml type) and a layer group. */
static int convert(const char *in, const char *out, int type, uint32_t group, bool verify)
{
	return fx_convert(in, out, type, group, false, verify);
}

/* The tiny shape with overrides (0 keeps the shape's value). */
static int mkmodel(const char *out, uint64_t layers, uint64_t hidden, enum ggml_type type,
		   uint64_t seed)
{
	struct fx_shape sh = { .layers = layers, .hidden = hidden };

	return fx_mkmodel(out, &sh, type, seed);
}

static const struct {
	enum swap_kind kind;
	int n;
	enum as_op ops[3];
} kinds[] = {
	{ SWAP_ATTN_IN, 3, { AS_OP_Q, AS_OP_K, AS_OP_V } },
	{ SWAP_ATTN_OUT, 1, { AS_OP_O } },
	{ SWAP_FFN_IN, 2, { AS_OP_GATE, AS_OP_UP } },
	{ SWAP_FFN_OUT, 1, { AS_OP_DOWN } },
};

/* Column c of the row-major rows x cols matrix src against the decoded column: equal
 * when exact, else within the 4-bit step of each 32-value block. */
static void compare_column(const float *src, uint64_t rows, uint64_t cols, uint32_t c,
			   const float *col, bool exact, double *worst)
{
	for (uint64_t b0 = 0; b0 < rows; b0 += 32) {
		uint64_t end = b0 + 32 < rows ? b0 + 32 : rows;
		double amax = 0;

		for (uint64_t i = b0; i < end; i++)
			amax = fmax(amax, fabs(src[i * cols + c]));
		for (uint64_t i = b0; i < end; i++) {
			double e = fabs(col[i] - src[i * cols + c]);

			if (exact)
				assert_true(col[i] == src[i * cols + c]);
			else
				assert_true(e <= amax / 7.0 + 1e-7);
			if (amax > 0 && e / amax > *worst)
				*worst = e / amax;
		}
	}
}

/* Compare every column of every swapped matrix with the source; exact when the store
 * keeps f32 or the K-quant codes (with the layer's scale table). Returns the largest
 * relative error seen. */
static double check_store(const char *gguf, const char *store, bool exact)
{
	struct gguf_file *f;
	struct as_model *m;
	struct swap_store *s;
	char err[512] = "";
	double worst = 0;

	assert_int_equal(gguf_open(&f, gguf, err, sizeof(err)), 0);
	assert_int_equal(as_model_from_gguf(&m, f, err, sizeof(err)), 0);
	assert_int_equal(swap_store_open(&s, store, err, sizeof(err)), 0);
	const struct swap_store_desc *d = swap_store_desc(s);

	assert_int_equal(d->n_layers, m->hp.n_layer);
	assert_int_equal(d->hp.dim, m->hp.dim);
	assert_int_equal(d->hp.hidden, m->hp.hidden);
	assert_int_equal(d->hp.n_kv_heads, m->hp.n_head_kv);
	assert_int_equal(d->hp.vocab, m->hp.n_vocab);
	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		for (int ki = 0; ki < 4; ki++) {
			const struct swap_kind_desc *kd = &d->kinds[kinds[ki].kind];
			uint64_t bb = swap_store_bundle_bytes(s, kinds[ki].kind);
			uint8_t *bun = malloc(bb);
			uint64_t moff = 0;

			assert_int_equal(kd->n_mats, kinds[ki].n);
			for (int mi = 0; mi < kinds[ki].n; mi++) {
				const struct as_weight *w = &m->layers[l].w[kinds[ki].ops[mi]];
				const struct swap_mat_desc *md = &kd->mats[mi];
				float *src = malloc(w->rows * w->cols * sizeof(float));
				float *col = malloc(w->rows * sizeof(float));

				assert_int_equal(md->out, w->rows);
				assert_int_equal(kd->in, w->cols);
				assert_int_equal(md->col_bytes, as_col_bytes(md->type, w->rows));
				for (uint64_t i = 0; i < w->rows; i++) {
					const uint8_t *row = w->data;

					as_dequant_row(w->type, row + i * w->row_bytes,
						       src + i * w->cols, w->cols);
				}
				void *tbl = NULL;

				if (as_kq_type(md->type)) {
					char tn[64];
					const struct swap_resident *tr;

					snprintf(tn, sizeof(tn), "blk.%u.%s.kscale", l,
						 as_op_name(kinds[ki].ops[mi]));
					tr = swap_store_find_resident(s, tn);
					assert_non_null(tr);
					assert_int_equal(tr->d.type, w->type);
					tbl = malloc(tr->d.size);
					assert_int_equal(swap_store_read_resident(s, tr, tbl), 0);
				}
				for (uint32_t c = 0; c < kd->in; c++) {
					struct swap_key key = { l, kinds[ki].kind, c };

					assert_int_equal(swap_store_read_bundle(s, key, bun), 0);
					if (tbl)
						as_kq_col_decode(w->type, bun + moff, tbl, w->rows,
								 w->cols, c, col);
					else
						as_col_decode(md->type, bun + moff, w->rows, col);
					compare_column(src, w->rows, w->cols, c, col,
						       exact || tbl, &worst);
				}
				free(tbl);
				moff += md->col_bytes;
				free(src);
				free(col);
			}
			assert_int_equal(moff, bb);
			free(bun);
		}
	}
	/* Resident tensors: byte for byte; the swapped ones are not among them. */
	uint32_t n_res = 0;

	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		char name[SWAP_NAME_MAX] = "";

		memcpy(name, t->name.s, t->name.len < 63 ? t->name.len : 63);
		const struct swap_resident *r = swap_store_find_resident(s, name);

		if (strstr(name, ".attn_q.") || strstr(name, ".attn_k.") ||
		    strstr(name, ".attn_v.") || strstr(name, ".attn_output.") ||
		    strstr(name, ".ffn_gate.") || strstr(name, ".ffn_up.") ||
		    strstr(name, ".ffn_down.")) {
			assert_null(r);
			continue;
		}
		assert_non_null(r);
		n_res++;
		assert_int_equal(r->d.type, t->type);
		assert_int_equal(r->d.size, t->size);
		void *buf = malloc(t->size);

		assert_int_equal(swap_store_read_resident(s, r, buf), 0);
		assert_memory_equal(buf, t->data, t->size);
		free(buf);
	}
	for (uint32_t i = 0; i < swap_store_n_resident(s); i++)
		n_res += strstr(swap_store_resident(s, i)->d.name, ".kscale") != NULL;
	assert_int_equal(n_res, swap_store_n_resident(s));
	/* Metadata: a parseable GGUF with every key of the source and no tensors. */
	{
		struct gguf_file *mf;
		const struct gguf_kv *kv;
		struct gguf_str a;

		assert_int_equal(gguf_parse(&mf, d->meta, d->meta_len, err, sizeof(err)), 0);
		assert_int_equal(mf->n_tensors, 0);
		assert_int_equal(mf->n_kv, f->n_kv);
		assert_int_equal(gguf_get_str(mf, "general.architecture", &a), 0);
		assert_true(gguf_str_eq(a, "llama"));
		kv = gguf_find_kv(mf, "tokenizer.ggml.tokens");
		if (gguf_find_kv(f, "tokenizer.ggml.tokens")) {
			assert_non_null(kv);
			assert_int_equal(kv->arr_n, m->hp.n_vocab);
		}
		gguf_close(mf);
	}
	assert_int_equal(swap_store_verify(s, NULL, NULL, err, sizeof(err)), 0);
	swap_store_close(s);
	as_model_free(m);
	gguf_close(f);
	return worst;
}

static void test_generated_q4_0(void **state)
{
	char g[300], o[300], o8[300];
	struct stat st;

	snprintf(g, sizeof(g), "%s/tiny.gguf", dir);
	snprintf(o, sizeof(o), "%s/tiny.asw", dir);
	snprintf(o8, sizeof(o8), "%s/tiny8.asw", dir);

	assert_int_equal(mkmodel(g, 3, 224, GGML_TYPE_Q4_0, 1), 0);
	assert_int_equal(convert(g, o, AS_CONVERT_KEEP, 2, false), 0);
	double w4 = check_store(g, o, false);
	assert_int_equal(convert(g, o8, GGML_TYPE_Q8_0, 1, true), 0);
	double w8 = check_store(g, o8, false);

	fprintf(stderr, "# worst |err|/block amax: q4_0 %.4f, q8_0 %.4f\n", w4, w8);
	assert_true(w8 < 0.01);
	assert_true(w4 > w8);
	assert_int_equal(stat(o, &st), 0);
	assert_int_equal(st.st_size % SWAP_ALIGN, 0);
}

static void test_real_model(void **state)
{
	const char *sh = getenv("AS_SHARED");
	char g[512], o[300], oq[300];

	if (!sh) {
		fprintf(stderr, "# AS_SHARED not set\n");
		skip();
	}
	snprintf(g, sizeof(g), "%s/models/stories260K.gguf", sh);
	if (access(g, R_OK)) {
		fprintf(stderr, "# %s missing\n", g);
		skip();
	}
	snprintf(o, sizeof(o), "%s/s.asw", dir);
	snprintf(oq, sizeof(oq), "%s/sq.asw", dir);

	assert_int_equal(convert(g, o, AS_CONVERT_KEEP, 1, false), 0);
	check_store(g, o, true); /* f32 kept: every column bit-identical */
	assert_int_equal(convert(g, oq, GGML_TYPE_Q8_0, 5, false), 0);
	check_store(g, oq, false); /* hidden 172 pads to 192 for q8_0 */
}

/* Replace every swapped matrix of m by the f32 matrix rebuilt from the store's columns
 * (what a fully resident store computes with). Buffers go to bufs[]. */
static void rebuild_from_store(struct as_model *m, struct swap_store *s, float **bufs)
{
	const struct swap_store_desc *d = swap_store_desc(s);
	int nb = 0;

	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		for (int ki = 0; ki < 4; ki++) {
			const struct swap_kind_desc *kd = &d->kinds[kinds[ki].kind];
			uint64_t bb = swap_store_bundle_bytes(s, kinds[ki].kind), moff = 0;
			uint8_t *bun = malloc(bb);

			for (int mi = 0; mi < kinds[ki].n; mi++) {
				struct as_weight *w = &m->layers[l].w[kinds[ki].ops[mi]];
				const struct swap_mat_desc *md = &kd->mats[mi];
				uint64_t in = kd->in;
				float *W = malloc(md->out * in * sizeof(float));
				float *col = malloc(md->out * sizeof(float));

				for (uint32_t c = 0; c < in; c++) {
					struct swap_key key = { l, kinds[ki].kind, c };

					assert_int_equal(swap_store_read_bundle(s, key, bun), 0);
					as_col_decode(md->type, bun + moff, md->out, col);
					for (uint32_t i = 0; i < md->out; i++)
						W[(uint64_t)i * in + c] = col[i];
				}
				w->type = GGML_TYPE_F32;
				w->data = W;
				w->rows = md->out;
				w->cols = in;
				w->row_bytes = in * sizeof(float);
				bufs[nb++] = W;
				moff += md->col_bytes;
				free(col);
			}
			free(bun);
		}
	}
}

/* The conversion's numerical cost on the real model: perplexity of the store's weights
 * (fully resident) against the GGUF, KL per token and top-1 agreement. */
static void test_numerical_cost(void **state)
{
	const char *sh = getenv("AS_SHARED");
	static const char *const types[] = { "keep", "q8_0", "q4_0" };
	static const int type_ids[] = { AS_CONVERT_KEEP, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0 };
	char g[512], txt[512], o[300], err[512] = "";
	struct gguf_file *f;
	struct as_model *ref, *m;
	struct as_tokenizer *tok;
	struct as_state *sr, *sm;
	struct as_eval_result rr, rm;
	int32_t *ids;
	size_t n_ids, tl;
	char *text;
	FILE *fp;

	if (!sh)
		skip();
	snprintf(g, sizeof(g), "%s/models/stories260K.gguf", sh);
	snprintf(txt, sizeof(txt), "%s/golden/tinystories-dev.txt", sh);
	if (access(g, R_OK) || access(txt, R_OK))
		skip();
	fp = fopen(txt, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	tl = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	text = malloc(tl + 1);
	assert_int_equal(fread(text, 1, tl, fp), tl);
	fclose(fp);
	assert_int_equal(gguf_open(&f, g, err, sizeof(err)), 0);
	assert_int_equal(as_model_from_gguf(&ref, f, err, sizeof(err)), 0);
	assert_int_equal(as_tokenizer_load(&tok, f, err, sizeof(err)), 0);
	assert_int_equal(as_tokenize(tok, text, tl, true, &ids, &n_ids), 0);
	assert_int_equal(as_state_new(&sr, ref, 128, NULL), 0);
	assert_int_equal(as_perplexity(sr, NULL, ids, n_ids, 128, as_tokenizer_bos(tok), NULL,
				       NULL, &rr), 0);
	for (int ti = 0; ti < 3; ti++) {
		struct swap_store *s;
		float *bufs[7 * 64] = { 0 };

		snprintf(o, sizeof(o), "%s/cost-%s.asw", dir, types[ti]);
		assert_int_equal(convert(g, o, type_ids[ti], 1, false), 0);
		assert_int_equal(swap_store_open(&s, o, err, sizeof(err)), 0);
		assert_int_equal(as_model_from_gguf(&m, f, err, sizeof(err)), 0);
		assert_true(m->hp.n_layer <= 64);
		rebuild_from_store(m, s, bufs);
		assert_int_equal(as_state_new(&sm, m, 128, NULL), 0);
		assert_int_equal(as_perplexity(sm, sr, ids, n_ids, 128, as_tokenizer_bos(tok), NULL,
					       NULL, &rm), 0);
		fprintf(stderr, "# stories260K store --type %s: PPL %.4f (GGUF %.4f), KL %.6f "
			"nats/token, top-1 agreement %.4f, %llu tokens\n", types[ti], rm.ppl,
			rr.ppl, rm.kl, rm.top1, (unsigned long long)rm.tokens_scored);
		if (ti == 0) { /* f32 kept: identical weights, identical results */
			assert_true(rm.kl == 0.0);
			assert_true(rm.ppl == rr.ppl);
		} else {
			assert_true(rm.kl < (ti == 1 ? 0.01 : 0.5));
			assert_true(fabs(rm.ppl - rr.ppl) / rr.ppl < (ti == 1 ? 0.02 : 0.5));
		}
		as_state_free(sm);
		as_model_free(m);
		for (int i = 0; i < 7 * 64; i++)
			free(bufs[i]);
		swap_store_close(s);
	}
	as_state_free(sr);
	as_model_free(ref);
	as_tokenizer_free(tok);
	free(ids);
	free(text);
	gguf_close(f);
}

/* Refusals of the library call (the CLI's exit codes: tests/integration/convert.sh). */
static void test_bad_params(void **state)
{
	struct as_convert_params p;
	struct stat st;
	char o[300], err[512];

	snprintf(o, sizeof(o), "%s/never.asw", dir);
	as_convert_params_init(&p);
	err[0] = 0;
	assert_int_equal(as_convert("/nonexistent.gguf", o, &p, NULL, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent.gguf"));
	p.type = GGML_TYPE_Q5_K;
	assert_int_equal(as_convert("x.gguf", o, &p, NULL, err, sizeof(err)), -EINVAL);
	p.type = AS_CONVERT_KEEP;
	p.group = 0;
	assert_int_equal(as_convert("x.gguf", o, &p, NULL, err, sizeof(err)), -EINVAL);
	p.group = AS_CONVERT_GROUP_MAX + 1;
	assert_int_equal(as_convert("x.gguf", o, &p, NULL, err, sizeof(err)), -EINVAL);
	p.group = 1;
	assert_int_equal(as_convert("x.gguf", NULL, &p, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(as_convert("x.gguf", "", &p, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(as_convert(NULL, o, &p, NULL, err, sizeof(err)), -EINVAL);
	err[0] = 0;
	assert_true(as_convert_verify("/nonexistent.asw", NULL, NULL, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent.asw"));
	assert_int_equal(stat(o, &st), -1);
	assert_true(as_convert_type_ok(GGML_TYPE_F32) && as_convert_type_ok(GGML_TYPE_F16) &&
		    as_convert_type_ok(GGML_TYPE_BF16) && as_convert_type_ok(GGML_TYPE_Q8_0) &&
		    as_convert_type_ok(GGML_TYPE_Q4_0));
	assert_false(as_convert_type_ok(GGML_TYPE_Q4_1) || as_convert_type_ok(GGML_TYPE_Q5_K) ||
		     as_convert_type_ok(AS_CONVERT_KEEP) || as_convert_type_ok(1000));
}

/* Nothing in dir but the files named (no OUT.tmp.PID, no OUT.tmp). */
static int dir_entries(void)
{
	char cmd[400];
	FILE *f;
	int n = 0, c;

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	pclose(f);
	return n;
}

struct prog {
	int calls[2];
	uint64_t last[2], total[2];
	int bad;                     /* calls that went backwards or past total */
	uint64_t cancel_at;          /* WRITE bytes at which to raise cancel (0: never) */
	volatile sig_atomic_t cancel;
};

static void on_progress(void *arg, enum as_convert_stage st, uint64_t done, uint64_t total)
{
	struct prog *g = arg;

	assert_true(st == AS_CONVERT_WRITE || st == AS_CONVERT_VERIFY);
	if (g->calls[st] == 0) {
		if (done != 0)
			g->bad++;
		g->total[st] = total;
	} else if (done < g->last[st] || total != g->total[st]) {
		g->bad++;
	}
	if (done > total)
		g->bad++;
	g->calls[st]++;
	g->last[st] = done;
	if (st == AS_CONVERT_WRITE && g->cancel_at && done >= g->cancel_at)
		g->cancel = 1;
}

/* Progress runs 0 .. total once per stage; the result agrees with the store. */
static void test_progress_result(void **state)
{
	struct as_convert_params p;
	struct as_convert_result res;
	struct prog g;
	struct swap_store *s;
	char gg[300], o[300], err[512] = "";

	snprintf(gg, sizeof(gg), "%s/p.gguf", dir);
	snprintf(o, sizeof(o), "%s/p.asw", dir);
	assert_int_equal(mkmodel(gg, 2, 0, GGML_TYPE_Q8_0, 4), 0);
	memset(&g, 0, sizeof(g));
	as_convert_params_init(&p);
	p.progress = on_progress;
	p.arg = &g;
	p.group = AS_CONVERT_GROUP_MAX; /* more than the layers: the layer count */
	p.verify = true;
	p.type = GGML_TYPE_F16;
	assert_int_equal(as_convert(gg, o, &p, &res, err, sizeof(err)), 0);
	assert_int_equal(g.bad, 0);
	assert_true(g.calls[AS_CONVERT_WRITE] > 2 && g.calls[AS_CONVERT_VERIFY] >= 2);
	assert_true(g.total[AS_CONVERT_WRITE] > 0);
	assert_int_equal(g.last[AS_CONVERT_WRITE], g.total[AS_CONVERT_WRITE]);
	assert_int_equal(g.last[AS_CONVERT_VERIFY], g.total[AS_CONVERT_VERIFY]);
	assert_int_equal(swap_store_open(&s, o, err, sizeof(err)), 0);
	assert_int_equal(res.n_layers, 2);
	assert_int_equal(res.group, 2);
	assert_int_equal(res.group, swap_store_desc(s)->group);
	assert_int_equal(res.n_bundles, swap_store_n_bundles(s));
	assert_int_equal(res.n_resident, swap_store_n_resident(s));
	assert_int_equal(res.file_size, swap_store_file_size(s));
	assert_int_equal(g.total[AS_CONVERT_VERIFY], swap_store_swappable_bytes(s));
	for (int op = 0; op < AS_OP_COUNT; op++)
		assert_int_equal(res.type[op], GGML_TYPE_F16);
	swap_store_close(s);
	memset(&res, 0, sizeof(res));
	assert_int_equal(as_convert_verify(o, NULL, &res, err, sizeof(err)), 0);
	assert_int_equal(res.n_layers, 2);
	assert_int_equal(res.n_resident, 7); /* embedding, output norm and head, 2 x 2 norms */
	assert_true(res.n_bundles > 0 && res.file_size > 0);
}

/* A raised cancel flag stops the conversion and removes its partial output; a flipped
 * byte fails the verification with the store named. */
static void test_cancel_and_verify(void **state)
{
	struct as_convert_params p;
	struct prog g;
	struct stat st;
	char gg[300], o[300], err[512] = "";
	uint64_t off, len;
	FILE *f;
	int c;

	snprintf(gg, sizeof(gg), "%s/c.gguf", dir);
	snprintf(o, sizeof(o), "%s/c.asw", dir);
	assert_int_equal(mkmodel(gg, 3, 0, GGML_TYPE_Q4_0, 2), 0);
	assert_int_equal(dir_entries(), 1);
	memset(&g, 0, sizeof(g));
	as_convert_params_init(&p);
	p.progress = on_progress;
	p.arg = &g;
	p.cancel = &g.cancel;
	g.cancel = 1; /* before the start */
	assert_int_equal(as_convert(gg, o, &p, NULL, err, sizeof(err)), -ECANCELED);
	assert_int_equal(g.calls[AS_CONVERT_WRITE], 0);
	g.cancel = 0;
	g.cancel_at = 1; /* after the first resident tensor */
	assert_int_equal(as_convert(gg, o, &p, NULL, err, sizeof(err)), -ECANCELED);
	assert_non_null(strstr(err, "c.asw"));
	assert_true(g.last[AS_CONVERT_WRITE] < g.total[AS_CONVERT_WRITE]);
	assert_int_equal(stat(o, &st), -1);
	assert_int_equal(dir_entries(), 1);
	/* now complete, then damage the last bundle's bytes */
	memset(&g, 0, sizeof(g));
	assert_int_equal(as_convert(gg, o, &p, NULL, err, sizeof(err)), 0);
	assert_int_equal(dir_entries(), 2);
	assert_int_equal(as_convert_verify(o, NULL, NULL, err, sizeof(err)), 0);
	{
		struct swap_store *s;
		struct swap_key key = { 2, SWAP_FFN_OUT, 5 };

		assert_int_equal(swap_store_open(&s, o, err, sizeof(err)), 0);
		assert_int_equal(swap_store_bundle_loc(s, key, &off, &len), 0);
		swap_store_close(s);
	}
	f = fopen(o, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)(off + len / 2), SEEK_SET), 0);
	c = fgetc(f);
	assert_int_equal(fseek(f, -1, SEEK_CUR), 0);
	fputc(c ^ 0x5a, f);
	fclose(f);
	err[0] = 0;
	assert_true(as_convert_verify(o, NULL, NULL, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "verify failed"));
	assert_non_null(strstr(err, "c.asw"));
}

struct trunc_ctx {
	const char *path;
	int calls, at;
};

static void truncate_on_progress(void *arg, enum as_convert_stage st, uint64_t done,
				 uint64_t total)
{
	struct trunc_ctx *t = arg;

	(void)st;
	(void)done;
	(void)total;
	if (++t->calls == t->at)
		assert_int_equal(truncate(t->path, 4096), 0);
}

/* The input truncated while it is converted (after its header was parsed): before the
 * resident tensors are written from its mapping (the write gets EFAULT) or while the layers
 * are read from it (SIGBUS, absorbed by the guard): an error naming the input, no output,
 * no temporary file, the previous SIGBUS action back. */
static void test_truncated_under(void **state)
{
	struct as_convert_params p;
	struct trunc_ctx t;
	struct sigaction before, after;
	struct stat st;
	char gg[300], o[300], err[512] = "";
	const int at[] = { 1, 12 };

	snprintf(gg, sizeof(gg), "%s/t.gguf", dir);
	snprintf(o, sizeof(o), "%s/t.asw", dir);
	assert_int_equal(sigaction(SIGBUS, NULL, &before), 0);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		assert_int_equal(mkmodel(gg, 3, 0, GGML_TYPE_Q4_0, 2), 0);
		as_convert_params_init(&p);
		t = (struct trunc_ctx){ gg, 0, at[i] };
		p.progress = truncate_on_progress;
		p.arg = &t;
		err[0] = 0;
		assert_int_equal(as_convert(gg, o, &p, NULL, err, sizeof(err)), -EIO);
		assert_true(t.calls >= at[i]);
		assert_non_null(strstr(err, "t.gguf: the input shrank"));
		assert_non_null(strstr(err, "t.asw was not written"));
		if (at[i] > 1) /* the fault's offset, past the new end: the SIGBUS path */
			assert_null(strstr(err, "(at byte 4096)"));
		assert_int_equal(stat(o, &st), -1);
		assert_int_equal(dir_entries(), 1);
		assert_int_equal(sigaction(SIGBUS, NULL, &after), 0);
		assert_true(after.sa_handler == before.sa_handler);
	}
	/* the whole file again: converts */
	assert_int_equal(mkmodel(gg, 3, 0, GGML_TYPE_Q4_0, 2), 0);
	assert_int_equal(as_convert(gg, o, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(dir_entries(), 2);
}

/* Retype tensor name of the GGUF at path from Q4_0 to Q4_K in place: a Q4_0 row of 256
 * values (8 blocks of 18 bytes) has the size of one Q4_K block (144 bytes). Each block's
 * dmin (bytes 2..3) is zeroed so that it decodes to finite values. */
static void retype_q4_k(const char *path, const char *name)
{
	const struct gguf_tensor *t;
	struct gguf_file *f;
	uint32_t type = GGML_TYPE_Q4_K;
	uint64_t toff, doff, size;
	uint16_t zero = 0;
	char err[256] = "";
	int fd;

	assert_int_equal(gguf_open(&f, path, err, sizeof(err)), 0);
	t = gguf_find_tensor(f, name);
	assert_non_null(t);
	assert_int_equal(t->type, GGML_TYPE_Q4_0);
	assert_int_equal(t->ne[0], 256);
	toff = (uint64_t)((const uint8_t *)t->name.s - f->map) + t->name.len + 4 +
	       8ull * t->n_dims;
	doff = t->offset;
	size = t->size;
	gguf_close(f);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &type, 4, (off_t)toff), 4);
	for (uint64_t o = 0; o < size; o += 144)
		assert_int_equal(pwrite(fd, &zero, 2, (off_t)(doff + o + 2)), 2);
	close(fd);
}

struct notes {
	int n;
	char msg[4][256];
};

static void on_warn(void *arg, const char *msg)
{
	struct notes *nt = arg;

	if (nt->n < 4)
		snprintf(nt->msg[nt->n], sizeof(nt->msg[0]), "%s", msg);
	nt->n++;
}

/* A matrix type that cannot be re-encoded becomes q8_0 columns, layers of different types
 * take layer 0's: one note each through params.warn, and the columns still match. A matrix
 * that is a K-quant in every layer keeps its codes (store-format.md), without a note. */
static void test_warnings(void **state)
{
	struct as_convert_params p;
	struct as_convert_result res;
	struct notes nt;
	char g[300], o[300], err[512] = "";

	snprintf(g, sizeof(g), "%s/w.gguf", dir);
	snprintf(o, sizeof(o), "%s/w.asw", dir);
	assert_int_equal(mkmodel(g, 2, 0, GGML_TYPE_Q4_0, 9), 0);
	retype_q4_k(g, "blk.0.attn_q.weight");
	retype_q4_k(g, "blk.0.attn_k.weight");
	retype_q4_k(g, "blk.1.attn_k.weight");
	retype_q4_k(g, "blk.1.attn_output.weight");
	memset(&nt, 0, sizeof(nt));
	as_convert_params_init(&p);
	p.warn = on_warn;
	p.arg = &nt;
	assert_int_equal(as_convert(g, o, &p, &res, err, sizeof(err)), 0);
	for (int i = 0; i < nt.n && i < 4; i++)
		fprintf(stderr, "# note: %s\n", nt.msg[i]);
	assert_int_equal(nt.n, 3);
	assert_non_null(strstr(nt.msg[0], "attn_q columns: q4_K cannot be re-encoded, using "
			       "q8_0"));
	assert_non_null(strstr(nt.msg[1], "attn_q: layer 1 is q4_0, layer 0 is q4_K; every "
			       "layer's columns become q8_0"));
	assert_non_null(strstr(nt.msg[2], "attn_output: layer 1 is q4_K, layer 0 is q4_0; every "
			       "layer's columns become q4_0"));
	assert_int_equal(res.type[AS_OP_Q], GGML_TYPE_Q8_0);
	assert_int_equal(res.type[AS_OP_K], GGML_TYPE_Q4_K);
	assert_int_equal(res.type[AS_OP_V], GGML_TYPE_Q4_0);
	assert_int_equal(res.type[AS_OP_O], GGML_TYPE_Q4_0);
	check_store(g, o, false);
	/* a forced type: nothing to say */
	memset(&nt, 0, sizeof(nt));
	p.type = GGML_TYPE_Q8_0;
	assert_int_equal(as_convert(g, o, &p, &res, err, sizeof(err)), 0);
	assert_int_equal(nt.n, 0);
	assert_int_equal(res.type[AS_OP_O], GGML_TYPE_Q8_0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generated_q4_0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numerical_cost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_under, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warnings, setup, teardown),
	};

	return cmocka_run_group_tests_name("swap_convert", tests, NULL, NULL);
}

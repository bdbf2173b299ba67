// SPDX-License-Identifier: MIT
/*
 * activeswap convert: every bundle column equals the source matrix's column (exactly for
 * f32, within the quantization step otherwise) (decoded with as_col_decode), resident tensors and the
 * GGUF metadata are carried over verbatim, and a failed conversion leaves no file.
 * Uses a generated Q4_0 model (always) and the real stories260K model (when AS_SHARED
 * points at ../shared).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "activeswap/eval.h"
#include "activeswap/gguf.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/tokenizer.h"
#include "cli.h"
#include "libswap.h"

static char dir[256];

static int setup(void **state)
{
	const char *t = getenv("AS_TMP");

	snprintf(dir, sizeof(dir), "%s/swapconvXXXXXX", t ? t : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int run(int (*fn)(int, char **), const char *const *args)
{
	char *argv[32];
	int n = 0;

	while (args[n] && n < 31) {
		argv[n] = (char *)args[n];
		n++;
	}
	argv[n] = NULL;
	return fn(n, argv);
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
 * keeps f32. Returns the largest relative error seen. */
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
				for (uint32_t c = 0; c < kd->in; c++) {
					struct swap_key key = { l, kinds[ki].kind, c };

					assert_int_equal(swap_store_read_bundle(s, key, bun), 0);
					as_col_decode(md->type, bun + moff, w->rows, col);
					compare_column(src, w->rows, w->cols, c, col, exact,
						       &worst);
				}
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
	const char *mk[] = { "mkmodel", "-o", g, "--shape", "tiny", "--layers", "3", "--hidden",
			     "224", NULL };
	const char *cv[] = { "convert", g, "-o", o, "--group", "2", "--quiet", NULL };
	const char *cv8[] = { "convert", g, "-o", o8, "--type", "q8_0", "--quiet", "--verify",
			      NULL };

	assert_int_equal(run(cmd_mkmodel, mk), 0);
	assert_int_equal(run(cmd_convert, cv), 0);
	double w4 = check_store(g, o, false);
	assert_int_equal(run(cmd_convert, cv8), 0);
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
	const char *cv[] = { "convert", g, "-o", o, "--quiet", NULL };
	const char *cvq[] = { "convert", g, "-o", oq, "--type", "q8_0", "--group", "5", "--quiet",
			      NULL };

	assert_int_equal(run(cmd_convert, cv), 0);
	check_store(g, o, true); /* f32 kept: every column bit-identical */
	assert_int_equal(run(cmd_convert, cvq), 0);
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
		const char *cv[] = { "convert", g, "-o", o, "--type", types[ti], "--quiet", NULL };

		snprintf(o, sizeof(o), "%s/cost-%s.asw", dir, types[ti]);
		assert_int_equal(run(cmd_convert, cv), 0);
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

static void test_bad_args(void **state)
{
	char o[300];
	struct stat st;

	snprintf(o, sizeof(o), "%s/never.asw", dir);
	const char *a1[] = { "convert", "/nonexistent.gguf", "-o", o, NULL };
	const char *a2[] = { "convert", "x.gguf", "-o", o, "--type", "q5_k", NULL };
	const char *a3[] = { "convert", "x.gguf", "-o", o, "--group", "0", NULL };
	const char *a4[] = { "convert", "x.gguf", NULL };
	const char *a5[] = { "convert", "--verify", "/nonexistent.asw", NULL };

	assert_int_equal(run(cmd_convert, a1), 1);
	assert_int_equal(run(cmd_convert, a2), 2);
	assert_int_equal(run(cmd_convert, a3), 2);
	assert_int_equal(run(cmd_convert, a4), 2);
	assert_int_equal(run(cmd_convert, a5), 1);
	assert_int_equal(stat(o, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generated_q4_0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numerical_cost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	};

	return cmocka_run_group_tests_name("swap_convert", tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * activeswap convert: every bundle column equals the source matrix's column (exactly for
 * f32, within the quantization step otherwise), padding is zero, resident tensors and the
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

#include "activeswap/gguf.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
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
				uint64_t be = as_type_block_elems(md->type);
				uint64_t outp = (w->rows + be - 1) / be * be;
				float *src = malloc(w->rows * w->cols * sizeof(float));
				float *col = malloc(outp * sizeof(float));

				assert_int_equal(md->out, w->rows);
				assert_int_equal(kd->in, w->cols);
				assert_int_equal(md->col_bytes, outp / be * as_type_block_bytes(md->type));
				for (uint64_t i = 0; i < w->rows; i++)
					as_dequant_row(w->type, (const uint8_t *)w->data + i * w->row_bytes,
						       src + i * w->cols, w->cols);
				for (uint32_t c = 0; c < kd->in; c++) {
					struct swap_key key = { l, kinds[ki].kind, c };

					assert_int_equal(swap_store_read_bundle(s, key, bun), 0);
					as_dequant_row(md->type, bun + moff, col, outp);
					for (uint64_t b0 = 0; b0 < w->rows; b0 += 32) {
						double amax = 0;

						for (uint64_t i = b0; i < b0 + 32 && i < w->rows; i++)
							amax = fmax(amax, fabs(src[i * w->cols + c]));
						for (uint64_t i = b0; i < b0 + 32 && i < w->rows; i++) {
							double e = fabs(col[i] - src[i * w->cols + c]);

							if (exact)
								assert_true(col[i] == src[i * w->cols + c]);
							else
								assert_true(e <= amax / 7.0 + 1e-7);
							if (amax > 0 && e / amax > worst)
								worst = e / amax;
						}
					}
					for (uint64_t i = w->rows; i < outp; i++)
						assert_true(col[i] == 0.0f); /* padding */
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
		cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	};

	return cmocka_run_group_tests_name("swap_convert", tests, NULL, NULL);
}

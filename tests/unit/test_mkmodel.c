// SPDX-License-Identifier: MIT
/*
 * as_mkmodel (runtime/mkmodel.c): the bytes depend on the shape, type and seed only (1 and
 * 3 threads agree, another seed differs), the reported tensor bytes are the file's,
 * progress runs 0 .. total, a cancelled or failed generation leaves neither OUT nor
 * OUT.tmp, and every refused shape gets -EINVAL with the message the CLI prints.
 * The file's contents (metadata, vocabulary, shapes) and the CLI are checked by
 * tests/integration/mkmodel.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "activeswap/gguf.h"
#include "activeswap/mkmodel.h"
#include "activeswap/quant.h"
#include "fixtures.h"

static char dir[256];

static int setup(void **state)
{
	return fx_tmpdir(dir, sizeof(dir), "mkmodel");
}

static int teardown(void **state)
{
	return fx_rmdir(dir);
}

/* Entries in dir (an OUT.tmp left behind counts). */
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

struct mkprog {
	uint64_t last, total;
	int calls, bad;
	volatile sig_atomic_t cancel;
	bool cancel_half;
};

static void on_mk_progress(void *arg, uint64_t done, uint64_t total)
{
	struct mkprog *g = arg;

	if ((g->calls == 0 && done != 0) || done < g->last || done > total)
		g->bad++;
	g->calls++;
	g->last = done;
	g->total = total;
	if (g->cancel_half && done > total / 2)
		g->cancel = 1;
}

static void read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	*buf = malloc((size_t)n);
	assert_non_null(*buf);
	assert_int_equal(fread(*buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
}

/* The same bytes on 1 and 3 threads, other bytes for another seed, the reported tensor
 * bytes, progress to the total, cancellation (neither OUT nor OUT.tmp left). */
static void test_bytes_progress_cancel(void **state)
{
	struct as_mkmodel_params p;
	struct mkprog g;
	struct gguf_file *f;
	struct stat st;
	char a[300], b[300], c[300], x[300], err[512] = "";
	uint8_t *ba, *bb;
	size_t la, lb;
	uint64_t tb = 0, sum = 0;

	snprintf(a, sizeof(a), "%s/a.gguf", dir);
	snprintf(b, sizeof(b), "%s/b.gguf", dir);
	snprintf(c, sizeof(c), "%s/c.gguf", dir);
	snprintf(x, sizeof(x), "%s/x.gguf", dir);
	as_mkmodel_params_init(&p);
	assert_int_equal(as_mkmodel_preset("7b", &p.shape), 0);
	assert_int_equal(p.shape.hidden, 11008);
	assert_int_equal(as_mkmodel_preset("70b", &p.shape), 0);
	assert_int_equal(p.shape.layers, 80);
	assert_int_equal(p.shape.kv_heads, 8);
	assert_int_equal(p.shape.vocab, 32000);
	assert_int_equal(as_mkmodel_preset("13b", &p.shape), -ENOENT);
	assert_int_equal(as_mkmodel_preset("tiny", &p.shape), 0);
	p.shape.dim = 128;
	p.shape.hidden = 256;
	p.shape.layers = 2;
	p.type = GGML_TYPE_Q8_0;
	p.seed = 11;
	p.threads = 1;
	memset(&g, 0, sizeof(g));
	p.progress = on_mk_progress;
	p.arg = &g;
	assert_int_equal(as_mkmodel(&p, a, &tb, err, sizeof(err)), 0);
	assert_int_equal(g.bad, 0);
	assert_true(g.calls > 2);
	assert_int_equal(g.last, g.total);
	assert_int_equal(g.total, tb);
	assert_int_equal(gguf_open(&f, a, err, sizeof(err)), 0);
	for (uint64_t i = 0; i < f->n_tensors; i++)
		sum += f->tensors[i].size;
	gguf_close(f);
	assert_int_equal(sum, tb);
	p.threads = 3;
	p.progress = NULL;
	assert_int_equal(as_mkmodel(&p, b, NULL, err, sizeof(err)), 0);
	read_file(a, &ba, &la);
	read_file(b, &bb, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(bb);
	p.seed = 12;
	assert_int_equal(as_mkmodel(&p, c, NULL, err, sizeof(err)), 0);
	read_file(c, &bb, &lb);
	assert_int_equal(la, lb);
	assert_true(memcmp(ba, bb, la) != 0);
	free(ba);
	free(bb);
	/* cancelled half way: neither OUT nor OUT.tmp */
	memset(&g, 0, sizeof(g));
	g.cancel_half = true;
	p.progress = on_mk_progress;
	p.cancel = &g.cancel;
	p.shape.layers = 8;
	assert_int_equal(as_mkmodel(&p, x, NULL, err, sizeof(err)), -ECANCELED);
	assert_true(g.last < g.total);
	assert_int_equal(stat(x, &st), -1);
	assert_int_equal(dir_entries(), 3);
}

/* Every refusal: -EINVAL, the message the CLI prints, nothing written; an unwritable
 * output gives the open error. */
static void test_refusals(void **state)
{
	struct as_mkmodel_params p;
	struct stat st;
	char x[300], err[512] = "";

	snprintf(x, sizeof(x), "%s/x.gguf", dir);
	as_mkmodel_params_init(&p);
	p.shape.dim = 128;
	p.shape.hidden = 256;
	p.shape.layers = 2;
	p.type = GGML_TYPE_Q8_0;
	{
		static const struct {
			uint64_t dim, hidden, heads, kv, vocab, layers;
			int type, threads;
			const char *msg;
		} bad[] = {
			{ 100, 256, 4, 2, 512, 2, GGML_TYPE_Q8_0, 0, "multiples of 32" },
			{ 128, 688, 4, 2, 512, 2, GGML_TYPE_Q8_0, 0, "multiples of 32" },
			{ 128, 256, 3, 3, 512, 2, GGML_TYPE_Q8_0, 0, "multiple of --heads" },
			{ 128, 256, 4, 3, 512, 2, GGML_TYPE_Q8_0, 0, "multiple of --kv-heads" },
			{ 128, 256, 4, 8, 512, 2, GGML_TYPE_Q8_0, 0, "multiple of --kv-heads" },
			{ 96, 256, 32, 32, 512, 2, GGML_TYPE_Q8_0, 0, "must be even" },
			{ 128, 256, 4, 2, 100, 2, GGML_TYPE_Q8_0, 0, "at least 259" },
			{ 128, 256, 4, 2, 512, 0, GGML_TYPE_Q8_0, 0, "--layers (0)" },
			{ 128, 256, 0, 2, 512, 2, GGML_TYPE_Q8_0, 0, "--heads (0)" },
			{ 128, 256, 4, 0, 512, 2, GGML_TYPE_Q8_0, 0, "--kv-heads (0)" },
			{ 131072, 256, 4, 2, 512, 2, GGML_TYPE_Q8_0, 0, "--dim (131072)" },
			{ 128, 256, 4, 2, 2000000, 2, GGML_TYPE_Q8_0, 0, "--vocab (2000000)" },
			{ 128, 256, 4, 2, 512, 2, GGML_TYPE_Q8_K, 0, "not a supported type" },
			{ 128, 256, 4, 2, 512, 2, GGML_TYPE_Q5_K, 0, "multiples of 256" },
			{ 256, 288, 4, 2, 512, 2, GGML_TYPE_IQ4_XS, 0, "multiples of 256" },
			{ 128, 256, 4, 2, 512, 2, GGML_TYPE_Q8_0, 17, "threads" },
			{ 128, 256, 4, 2, 512, 2, GGML_TYPE_Q8_0, -1, "threads" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct as_mkmodel_params q = p;

			q.shape.dim = bad[i].dim;
			q.shape.hidden = bad[i].hidden;
			q.shape.heads = bad[i].heads;
			q.shape.kv_heads = bad[i].kv;
			q.shape.vocab = bad[i].vocab;
			q.shape.layers = bad[i].layers;
			q.type = (enum ggml_type)bad[i].type;
			q.threads = bad[i].threads;
			err[0] = 0;
			assert_int_equal(as_mkmodel_check(&q, x, err, sizeof(err)), -EINVAL);
			if (!strstr(err, bad[i].msg))
				fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
			assert_int_equal(as_mkmodel(&q, x, NULL, err, sizeof(err)), -EINVAL);
		}
		assert_int_equal(as_mkmodel_check(&p, x, err, sizeof(err)), 0);
		assert_int_equal(as_mkmodel_check(&p, "", err, sizeof(err)), -EINVAL);
		assert_int_equal(as_mkmodel_check(&p, NULL, err, sizeof(err)), -EINVAL);
		assert_int_equal(as_mkmodel_check(NULL, x, err, sizeof(err)), -EINVAL);
		{
			char *longp = malloc(5000);

			assert_non_null(longp);
			memset(longp, 'a', 4999);
			longp[4999] = 0;
			assert_int_equal(as_mkmodel(&p, longp, NULL, err, sizeof(err)), -EINVAL);
			assert_non_null(strstr(err, "too long"));
			free(longp);
		}
	}
	assert_int_equal(stat(x, &st), -1);
	assert_int_equal(dir_entries(), 0);
	/* an unwritable output: the open error, nothing left */
	snprintf(x, sizeof(x), "%s/no/such/dir/x.gguf", dir);
	err[0] = 0;
	assert_int_equal(as_mkmodel(&p, x, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "x.gguf.tmp"));
	assert_int_equal(dir_entries(), 0);
}

/* The temporary file is new (O_EXCL | O_NOFOLLOW): a symlink planted under its name is
 * neither followed nor truncated nor removed, and the call fails with its errno. */
static void test_tmp_is_new(void **state)
{
	struct as_mkmodel_params p;
	char out[300], tmp[340], victim[300], err[512] = "";
	struct stat st;
	FILE *f;

	snprintf(out, sizeof(out), "%s/o.gguf", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", out, (int)getpid());
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("keep me", f);
	fclose(f);
	assert_int_equal(symlink(victim, tmp), 0);
	as_mkmodel_params_init(&p);
	assert_int_equal(as_mkmodel_preset("tiny", &p.shape), 0);
	p.shape.dim = 64;
	p.shape.hidden = 128;
	p.shape.layers = 1;
	p.threads = 1;
	assert_int_equal(as_mkmodel(&p, out, NULL, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, ".tmp."));
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 7);
	assert_int_equal(lstat(tmp, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(out, &st), -1);
	/* once the name is free, the model is written and no temporary file is left */
	assert_int_equal(unlink(tmp), 0);
	assert_int_equal(as_mkmodel(&p, out, NULL, err, sizeof(err)), 0);
	assert_int_equal(lstat(tmp, &st), -1);
	assert_int_equal(dir_entries(), 2);
}

/* llama.cpp's Q4_K_M / Q5_K_M rules, checked on a generated model's tensor types. */
static void test_mixes(void **state)
{
	struct as_mkmodel_params p;
	enum ggml_type t;
	enum as_quant_mix mix;
	struct gguf_file *g;
	char x[300], err[256];
	int n6 = 0;

	(void)state;
	assert_int_equal(as_quant_mix_parse("Q4_K_M", &t, &mix), 0);
	assert_true(t == GGML_TYPE_Q4_K && mix == AS_MIX_Q4_K_M);
	assert_int_equal(as_quant_mix_parse("iq4_xs", &t, &mix), 0);
	assert_true(t == GGML_TYPE_IQ4_XS && mix == AS_MIX_NONE);
	assert_int_equal(as_quant_mix_parse("q8_K", &t, &mix), -EINVAL);
	assert_int_equal(as_quant_mix_parse("q4_k_s", &t, &mix), -EINVAL);
	/* 32 layers: Q6_K for attn_v / ffn_down in layers 0-3, 28-31 and every 3rd between */
	for (uint32_t l = 0; l < 32; l++) {
		bool more = l < 4 || l >= 28 || (l - 4) % 3 == 2;
		char nm[64];

		snprintf(nm, sizeof(nm), "blk.%u.ffn_down.weight", l);
		assert_int_equal(as_quant_mix_type(AS_MIX_Q4_K_M, GGML_TYPE_Q4_K, nm, l, 32, 11008),
				 more ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K);
		snprintf(nm, sizeof(nm), "blk.%u.attn_v.weight", l);
		assert_int_equal(as_quant_mix_type(AS_MIX_Q5_K_M, GGML_TYPE_Q5_K, nm, l, 32, 4096),
				 more ? GGML_TYPE_Q6_K : GGML_TYPE_Q5_K);
		snprintf(nm, sizeof(nm), "blk.%u.attn_q.weight", l);
		assert_int_equal(as_quant_mix_type(AS_MIX_Q4_K_M, GGML_TYPE_Q4_K, nm, l, 32, 4096),
				 GGML_TYPE_Q4_K);
		n6 += more;
	}
	assert_int_equal(n6, 16);
	assert_int_equal(as_quant_mix_type(AS_MIX_Q4_K_M, GGML_TYPE_Q4_K, "output.weight", 0, 32,
					   4096), GGML_TYPE_Q6_K);
	assert_int_equal(as_quant_mix_type(AS_MIX_Q4_K_M, GGML_TYPE_Q4_K, "token_embd.weight", 0,
					   32, 4096), GGML_TYPE_Q4_K);
	/* llama.cpp's fallbacks for widths that are not multiples of 256 */
	assert_int_equal(as_quant_mix_type(AS_MIX_Q4_K_M, GGML_TYPE_Q4_K, "blk.5.attn_q.weight",
					   5, 32, 288), GGML_TYPE_Q5_0);
	assert_int_equal(as_quant_mix_type(AS_MIX_Q5_K_M, GGML_TYPE_Q5_K, "blk.5.attn_q.weight",
					   5, 32, 288), GGML_TYPE_Q5_1);
	assert_int_equal(as_quant_mix_type(AS_MIX_Q5_K_M, GGML_TYPE_Q5_K, "output.weight",
					   0, 32, 288), GGML_TYPE_Q8_0);
	assert_int_equal(as_quant_mix_type(AS_MIX_NONE, GGML_TYPE_Q2_K, "output.weight", 0, 32,
					   4096), GGML_TYPE_Q2_K);
	assert_string_equal(as_file_type_name(as_file_type(GGML_TYPE_Q4_K, AS_MIX_Q4_K_M)),
			    "Q4_K - Medium");

	/* a written q4_k_m model: 2 layers (both get more bits), hidden 288 (ffn_down falls
	 * back to Q8_0 from Q6_K) */
	snprintf(x, sizeof(x), "%s/mix.gguf", dir);
	as_mkmodel_params_init(&p);
	p.shape.dim = 256;
	p.shape.hidden = 288;
	p.shape.layers = 2;
	p.type = GGML_TYPE_Q4_K;
	p.mix = AS_MIX_Q4_K_M;
	assert_int_equal(as_mkmodel(&p, x, NULL, err, sizeof(err)), 0);
	assert_int_equal(gguf_open(&g, x, err, sizeof(err)), 0);
	{
		static const struct {
			const char *name;
			enum ggml_type t;
		} want[] = {
			{ "token_embd.weight", GGML_TYPE_Q4_K },
			{ "output.weight", GGML_TYPE_Q6_K },
			{ "blk.0.attn_q.weight", GGML_TYPE_Q4_K },
			{ "blk.1.attn_v.weight", GGML_TYPE_Q6_K },
			{ "blk.1.ffn_down.weight", GGML_TYPE_Q8_0 },
			{ "blk.0.ffn_up.weight", GGML_TYPE_Q4_K },
			{ "blk.0.attn_norm.weight", GGML_TYPE_F32 },
		};
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			const struct gguf_tensor *tt = gguf_find_tensor(g, want[i].name);

			assert_non_null(tt);
			assert_int_equal(tt->type, want[i].t);
		}
	}
	gguf_close(g);
	unlink(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bytes_progress_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_is_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mixes, setup, teardown),
	};

	return cmocka_run_group_tests_name("mkmodel", tests, NULL, NULL);
}

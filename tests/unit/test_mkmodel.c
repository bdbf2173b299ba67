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
			{ 128, 256, 4, 2, 512, 2, GGML_TYPE_Q5_K, 0, "not q4_0" },
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bytes_progress_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_is_new, setup, teardown),
	};

	return cmocka_run_group_tests_name("mkmodel", tests, NULL, NULL);
}

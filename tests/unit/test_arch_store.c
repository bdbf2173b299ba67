// SPDX-License-Identifier: MIT
/*
 * The architectures over a store (convert.c, swap_open.c): a qwen2 model (Q/K/V biases),
 * a qwen3 model (per-head Q/K norms) and a Llama 3.1-style model (rope_freqs), generated
 * with as_mkmodel and converted with as_convert, keep their extra tensors resident and
 * run the same forward pass:
 *  - at sparsity 0 with the row copy, the store's logits equal the dense runtime's on the
 *    GGUF bit for bit (so biases, norms and RoPE factors are all applied);
 *  - at sparsity 0.5 the logits are bit-identical across budgets (everything, half, the
 *    minimum) and I/O backends (io_uring, pread);
 * and a store's metadata that names an unknown architecture is refused at open. Two qwen3
 * models have an attention of another width than dim (attention.key_length x head_count:
 * 4 x 64 = 256 and 4 x 16 = 64 over dim 128, as Qwen3-0.6B's 16 x 128 over 1024): the
 * store's Q rows and O input are that width, the head size comes from its metadata, and
 * a metadata head size that disagrees with the bundles or is out of range is refused.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "activeswap/convert.h"
#include "activeswap/mkmodel.h"
#include "activeswap/model.h"
#include "activeswap/swap.h"
#include "fixtures.h"

#define N_STEPS 8
#define N_CTX 32
#define NV 512

static char dir[512];

struct arch_case {
	const char *name;
	enum as_arch arch;
	enum ggml_type type;
	bool rope_freqs;
	uint64_t head_dim; /* 0: dim / heads (32) */
};

static const struct arch_case cases[] = {
	{ "qwen2", AS_ARCH_QWEN2, GGML_TYPE_Q8_0, false, 0 },
	{ "qwen3", AS_ARCH_QWEN3, GGML_TYPE_Q4_0, false, 0 },
	{ "llama31", AS_ARCH_LLAMA, GGML_TYPE_Q8_0, true, 0 },
	{ "qwen3wide", AS_ARCH_QWEN3, GGML_TYPE_Q8_0, false, 64 },   /* attention 256 */
	{ "qwen3narrow", AS_ARCH_QWEN3, GGML_TYPE_Q4_0, false, 16 }, /* attention 64 */
};

static int setup(void **state)
{
	const char *t = getenv("AS_TMP");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/archstoreXXXXXX", t ? t : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rmdir(dir);
	return 0;
}

static void paths(const struct arch_case *c, char *gguf, char *store, size_t len)
{
	snprintf(gguf, len, "%s/%s.gguf", dir, c->name);
	snprintf(store, len, "%s/%s.asw", dir, c->name);
}

/* The model and its store (columns kept, with the row copy). */
static void make(const struct arch_case *c, const char *gguf, const char *store)
{
	struct as_mkmodel_params p;
	struct as_convert_params cp;
	char err[512] = "";

	as_mkmodel_params_init(&p);
	p.shape = (struct as_mkmodel_shape){ "tiny", 128, 256, 2, 4, 2, NV, 64, c->head_dim };
	p.arch = c->arch;
	p.type = c->type;
	p.seed = 11;
	p.rope_freqs = c->rope_freqs;
	if (as_mkmodel(&p, gguf, NULL, err, sizeof(err)))
		fail_msg("mkmodel %s: %s", c->name, err);
	as_convert_params_init(&cp);
	cp.rows = true;
	if (as_convert(gguf, store, &cp, NULL, err, sizeof(err)))
		fail_msg("convert %s: %s", c->name, err);
}

/* Greedy decode of N_STEPS after a 3-token prompt; every step's logits into lg. */
static void decode_store(const char *store, const struct as_swap_params *p,
			 float lg[N_STEPS][NV])
{
	static const int32_t prompt[3] = { 1, 17, 300 };
	struct as_swap_model *m;
	char err[512] = "";
	int32_t tok;

	if (as_swap_open(&m, store, p, err, sizeof(err)))
		fail_msg("open %s: %s", store, err);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(as_swap_forward(m, prompt[i], i, i == 2), 0);
	for (uint32_t s = 0; s < N_STEPS; s++) {
		const float *l = as_swap_logits(m);

		memcpy(lg[s], l, sizeof(lg[s]));
		tok = 0;
		for (int32_t v = 1; v < NV; v++)
			if (l[v] > l[tok])
				tok = v;
		assert_int_equal(as_swap_forward(m, tok, 3 + s, true), 0);
	}
	as_swap_close(m);
}

static void decode_dense(const char *gguf, float lg[N_STEPS][NV])
{
	static const int32_t prompt[3] = { 1, 17, 300 };
	struct as_model_opts mo = { .repack = true };
	struct as_model *dm;
	struct as_state *ds;
	char err[512] = "";
	int32_t tok;

	if (as_model_load_opts(&dm, gguf, &mo, err, sizeof(err)))
		fail_msg("load %s: %s", gguf, err);
	assert_int_equal(as_state_new(&ds, dm, N_CTX, NULL), 0);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(as_forward(ds, prompt[i], i, i == 2), 0);
	for (uint32_t s = 0; s < N_STEPS; s++) {
		memcpy(lg[s], ds->logits, sizeof(lg[s]));
		tok = 0;
		for (int32_t v = 1; v < NV; v++)
			if (ds->logits[v] > ds->logits[tok])
				tok = v;
		assert_int_equal(as_forward(ds, tok, 3 + s, true), 0);
	}
	as_state_free(ds);
	as_model_free(dm);
}

static void base(struct as_swap_params *p, float sparsity)
{
	fx_swap_params(p, N_CTX, sparsity);
}

static void test_store_runs_architectures(void **state)
{
	static float ref[N_STEPS][NV], x[N_STEPS][NV];
	static const enum swap_backend_kind be[] = { SWAP_BACKEND_URING, SWAP_BACKEND_PREAD };

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct arch_case *c = &cases[k];
		char gguf[600], store[600], err[512] = "";
		struct as_swap_params p;
		struct as_swap_budget bi;

		paths(c, gguf, store, sizeof(gguf));
		make(c, gguf, store);
		/* sparsity 0, row copy: the dense runtime bit for bit */
		decode_dense(gguf, ref);
		base(&p, 0.0f);
		decode_store(store, &p, x);
		if (memcmp(ref, x, sizeof(ref)))
			fail_msg("%s: the store at sparsity 0 differs from the dense runtime",
				 c->name);
		/* sparsity 0.5: the same logits under every budget and backend */
		base(&p, 0.5f);
		assert_int_equal(as_swap_budget_info(store, &p, &bi, err, sizeof(err)), 0);
		p.budget_bytes = bi.full;
		decode_store(store, &p, ref);
		for (size_t b = 0; b < 2; b++) {
			const char *why;

			if (be[b] == SWAP_BACKEND_URING && !fx_uring_usable(&why)) {
				print_message("# %s: io_uring half skipped: %s\n", c->name, why);
				continue;
			}
			for (int i = 0; i < 3; i++) {
				base(&p, 0.5f);
				p.backend = be[b];
				p.budget_bytes = i == 0 ? bi.full : i == 1 ? bi.full / 2 : bi.min;
				if (p.budget_bytes < bi.min)
					p.budget_bytes = bi.min;
				decode_store(store, &p, x);
				if (memcmp(ref, x, sizeof(ref)))
					fail_msg("%s: budget %llu backend %d changes the logits",
						 c->name, (unsigned long long)p.budget_bytes, (int)b);
			}
		}
		/* and the sparsity matters (the comparison can fail) */
		base(&p, 0.3f);
		decode_store(store, &p, x);
		assert_true(memcmp(ref, x, sizeof(ref)) != 0);
		unlink(gguf);
		unlink(store);
	}
}

/* Set the u32 value of metadata key `key` in the store file at path (its only mention). */
static void patch_meta_u32(const char *path, const char *key, uint32_t v)
{
	FILE *f = fopen(path, "r+b");
	static uint8_t buf[1 << 16];
	size_t n, kl = strlen(key);
	uint8_t *hit = NULL;
	uint32_t t;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	for (size_t i = 0; i + kl + 8 <= n && !hit; i++)
		if (!memcmp(buf + i, key, kl))
			hit = buf + i + kl;
	if (!hit)
		fail_msg("%s: no key %s in the first %zu bytes", path, key, n);
	memcpy(&t, hit, 4);
	assert_int_equal(t, 4); /* GGUF_TYPE_UINT32 */
	assert_int_equal(fseek(f, (long)(hit + 4 - buf), SEEK_SET), 0);
	assert_int_equal(fwrite(&v, 4, 1, f), 1);
	fclose(f);
}

/*
 * A store's head size comes from its metadata: a key_length that disagrees with the
 * bundles, is out of range, or a value_length other than it, is refused at open with one
 * line, never run.
 */
static void test_hostile_head_size(void **state)
{
	static const struct {
		uint32_t kl, vl;
		const char *needle;
	} bad[] = {
		{ 32, 32, "bundle kind 0 does not match a layer" }, /* 4 x 32 != Q rows 256 */
		{ 16, 16, "bundle kind 0 does not match a layer" },
		{ 5000, 64, "key_length 5000 outside 2..4096" },
		{ 0, 64, "key_length 0 outside 2..4096" },
		{ 64, 32, "value_length 32 is not the head size 64" },
	};
	const struct arch_case *c = &cases[3];
	char gguf[600], store[600], bad_path[640], cmd[1400], err[512];
	struct as_swap_params p;

	(void)state;
	assert_int_equal(c->head_dim, 64);
	paths(c, gguf, store, sizeof(gguf));
	make(c, gguf, store);
	snprintf(bad_path, sizeof(bad_path), "%s/bad.asw", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct as_swap_model *m = NULL;
		int r;

		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", store, bad_path);
		assert_int_equal(system(cmd), 0);
		patch_meta_u32(bad_path, "qwen3.attention.key_length", bad[i].kl);
		patch_meta_u32(bad_path, "qwen3.attention.value_length", bad[i].vl);
		if (bad[i].kl >= 2 && bad[i].kl < 64) /* RoPE within the head, as a file would */
			patch_meta_u32(bad_path, "qwen3.rope.dimension_count", bad[i].kl);
		base(&p, 0.5f);
		err[0] = 0;
		r = as_swap_open(&m, bad_path, &p, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, bad[i].needle) || strchr(err, '\n'))
			fail_msg("case %zu: rc %d, '%s' (expected '%s')", i, r, err,
				 bad[i].needle);
		assert_null(m);
	}
	/* the unpatched copy opens (the patching is what is refused) */
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", store, bad_path);
	assert_int_equal(system(cmd), 0);
	patch_meta_u32(bad_path, "qwen3.attention.key_length", 64);
	{
		struct as_swap_model *m = NULL;

		base(&p, 0.5f);
		if (as_swap_open(&m, bad_path, &p, err, sizeof(err)))
			fail_msg("open %s: %s", bad_path, err);
		as_swap_close(m);
	}
	unlink(bad_path);
	unlink(gguf);
	unlink(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_runs_architectures),
		cmocka_unit_test(test_hostile_head_size),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/*
 * Parity with llama.cpp on generated models of each architecture and type: the models
 * are regenerated here with as_mkmodel (what `activeswap mkmodel` runs; same parameters,
 * same bytes, checked by an FNV-1a hash of the file), and the greedy continuation of a
 * few prompts given as token ids must equal the one llama.cpp produced on the same file.
 * llama.cpp's outputs are fixtures (tests/fixtures/arch/parity.txt, the commands that
 * made them in its README): llama.cpp is not needed here.
 *
 * Fixture lines:  model ARCH TYPE FNV1A64      (one per generated model)
 *                 greedy ARCH TYPE PROMPT_IDS GREEDY_IDS   (comma-separated ids)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activeswap/mkmodel.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"

#define MAXIDS 256

static char tmpdir[256];

static int setup(void **state)
{
	const char *t = getenv("AS_TMP");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");
	return 0;
}

/* The fixture shape (README): dim 256, hidden 512, 2 layers, 8 heads / 4 KV heads,
 * vocabulary 512, context 256, seed 7; qwen3 with head_dim 64 (Q 512 wide). */
static void params(struct as_mkmodel_params *p, enum as_arch arch, enum ggml_type type)
{
	as_mkmodel_params_init(p); /* the tiny preset: its name is in general.name */
	p->shape = (struct as_mkmodel_shape){ "tiny", 256, 512, 2, 8, 4, 512, 256,
					      arch == AS_ARCH_QWEN3 ? 64 : 0 };
	p->arch = arch;
	p->type = type;
	p->seed = 7;
	p->threads = 1;
}

static uint64_t fnv1a_file(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char buf[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ull;
	fclose(f);
	return h;
}

static int parse_ids(const char *s, int32_t *ids, int max)
{
	int n = 0;

	while (*s && n < max) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s || v < 0 || v > INT32_MAX)
			return -1;
		ids[n++] = (int32_t)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return n;
}

static void fmt_ids(const int32_t *ids, int n, char *out, size_t len)
{
	size_t o = 0;

	out[0] = 0;
	for (int i = 0; i < n && o + 12 < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%d", i ? "," : "", ids[i]);
}

/* Greedy: the argmax, lowest id on ties (llama.cpp's greedy sampler keeps the first). */
static int32_t argmax(const float *x, uint32_t n)
{
	uint32_t b = 0;

	for (uint32_t i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return (int32_t)b;
}

struct model_case {
	enum as_arch arch;
	enum ggml_type type;
	struct as_model *m;
	char path[320];
};

/* Check every greedy line of the fixture for the models generated here. */
static void test_parity(void **state)
{
	static struct model_case mc[AS_ARCH_COUNT * 2];
	const char *top = getenv("AS_TOP");
	char fx[512], line[4096], err[256], a[16], t[16], p_ids[2048], g_ids[2048];
	int n_models = 0, n_greedy = 0, n_bad = 0;
	FILE *f;

	(void)state;
	snprintf(fx, sizeof(fx), "%s/tests/fixtures/arch/parity.txt", top && *top ? top : ".");
	f = fopen(fx, "r");
	if (!f)
		fail_msg("cannot open %s", fx);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long want;
		struct model_case *c = NULL;
		enum as_arch arch = AS_ARCH_COUNT;
		int ty;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "model %15s %15s %llx", a, t, &want) == 3) {
			struct as_mkmodel_params p;

			for (int k = 0; k < AS_ARCH_COUNT; k++)
				if (!strcmp(a, as_arch_name((enum as_arch)k)))
					arch = (enum as_arch)k;
			ty = as_type_from_name(t);
			assert_true(arch < AS_ARCH_COUNT && ty >= 0 &&
				    n_models < AS_ARCH_COUNT * 2);
			c = &mc[n_models++];
			c->arch = arch;
			c->type = (enum ggml_type)ty;
			snprintf(c->path, sizeof(c->path), "%s/as-parity-%s-%s.gguf", tmpdir, a,
				 t);
			params(&p, arch, c->type);
			if (as_mkmodel(&p, c->path, NULL, err, sizeof(err)))
				fail_msg("mkmodel %s %s: %s", a, t, err);
			if (fnv1a_file(c->path) != want)
				fail_msg("%s %s: the generated file is not the one llama.cpp ran "
					 "(fnv1a64 %016llx, fixture %016llx): regenerate the "
					 "fixtures (README)", a, t,
					 (unsigned long long)fnv1a_file(c->path), want);
			if (as_model_load(&c->m, c->path, err, sizeof(err)))
				fail_msg("load %s: %s", c->path, err);
			unlink(c->path);
			continue;
		}
		if (sscanf(line, "greedy %15s %15s %2047s %2047s", a, t, p_ids, g_ids) == 4) {
			int32_t prompt[MAXIDS], want_ids[MAXIDS], got[MAXIDS];
			int np = parse_ids(p_ids, prompt, MAXIDS);
			int ng = parse_ids(g_ids, want_ids, MAXIDS);
			struct as_state *s;
			char buf[2048];

			for (int k = 0; k < n_models; k++)
				if (!strcmp(as_arch_name(mc[k].arch), a) &&
				    !strcmp(as_type_name(mc[k].type), t))
					c = &mc[k];
			if (!c || np < 1 || ng < 1)
				fail_msg("bad fixture line: %s", line);
			assert_int_equal(as_state_new(&s, c->m, (uint32_t)(np + ng), NULL), 0);
			for (int i = 0; i < np; i++)
				assert_int_equal(as_forward(s, prompt[i], (uint32_t)i, i == np - 1),
						 0);
			for (int i = 0; i < ng; i++) {
				got[i] = argmax(s->logits, c->m->hp.n_vocab);
				if (i + 1 < ng)
					assert_int_equal(as_forward(s, got[i], (uint32_t)(np + i),
								    true), 0);
			}
			as_state_free(s);
			n_greedy++;
			if (memcmp(got, want_ids, sizeof(int32_t) * (size_t)ng)) {
				fmt_ids(got, ng, buf, sizeof(buf));
				print_message("# %s %s prompt %s:\n#   llama.cpp %s\n#   ours      "
					      "%s\n", a, t, p_ids, g_ids, buf);
				n_bad++;
			}
			continue;
		}
		fail_msg("bad fixture line: %s", line);
	}
	fclose(f);
	for (int k = 0; k < n_models; k++)
		as_model_free(mc[k].m);
	assert_true(n_models >= 1 && n_greedy >= n_models);
	if (n_bad)
		fail_msg("%d of %d greedy continuations differ from llama.cpp's", n_bad,
			 n_greedy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_parity, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

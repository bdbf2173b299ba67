// SPDX-License-Identifier: MIT
/*
 * Batched prompt processing (as_forward_batch, runtime/forward_batch.c, over
 * as_matmul_multi, runtime/matmul.c) against the token-by-token forward pass: the same
 * prompt fed in chunks of 1, 3, 64 and the whole prompt, and a prompt longer than the
 * batch, must leave the same next-token logits after every chunk and the same KV cache
 * (checked by one more decode step on both), bit for bit (tolerance 0: the batch runs
 * the same row kernels on the same quantized inputs in the same order). Over llama (F16,
 * repacked Q4_0, Llama 3.1 rope_freqs), qwen2 (Q/K/V biases, Q8_0), qwen3 (Q/K head
 * norms, head size != dim / heads, F32; Q4_K through the generic path), a Mixtral (token
 * by token fallback), at every SIMD level of the CPU with 1 thread and at the best with 2.
 * Then the argument checks, and the scratch kept in the state from one batch to the next.
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

#include "activeswap/forward.h"
#include "activeswap/kernels.h"
#include "activeswap/mkmodel.h"
#include "activeswap/model.h"
#include "activeswap/threadpool.h"
#include "fixtures.h"

#define NPROMPT 70

struct mcase {
	const char *name;
	enum as_arch arch;
	enum ggml_type type;
	bool repack, rope_freqs;
	uint64_t head_dim, experts;
	uint64_t dim, hidden; /* 0: 128 and 256 */
};

static const struct mcase cases[] = {
	{ "llama-f16-ropefreqs", AS_ARCH_LLAMA, GGML_TYPE_F16, false, true, 0, 0, 0, 0 },
	{ "llama-q4_0-x16", AS_ARCH_LLAMA, GGML_TYPE_Q4_0, true, false, 0, 0, 0, 0 },
	{ "llama-q4_0", AS_ARCH_LLAMA, GGML_TYPE_Q4_0, false, false, 0, 0, 0, 0 },
	{ "qwen2-q8_0", AS_ARCH_QWEN2, GGML_TYPE_Q8_0, false, false, 0, 0, 0, 0 },
	{ "qwen3-f32-hd64", AS_ARCH_QWEN3, GGML_TYPE_F32, false, false, 64, 0, 0, 0 },
	{ "qwen3-q4_K", AS_ARCH_QWEN3, GGML_TYPE_Q4_K, false, false, 0, 0, 256, 512 },
	{ "llama-q4_K-x16", AS_ARCH_LLAMA, GGML_TYPE_Q4_K, true, false, 0, 0, 256, 512 },
	{ "mixtral-q8_0", AS_ARCH_LLAMA, GGML_TYPE_Q8_0, false, false, 0, 4, 0, 0 },
};

static char dir[256];

static int setup(void **st)
{
	(void)st;
	return fx_tmpdir(dir, sizeof(dir), "fwbatch");
}

static int teardown(void **st)
{
	(void)st;
	return fx_rmdir(dir);
}

static struct as_model *make_model(const struct mcase *c)
{
	struct as_mkmodel_params p;
	struct as_model_opts o = { .repack = c->repack };
	struct as_model *m = NULL;
	char path[512], err[512] = "";
	int r;

	snprintf(path, sizeof(path), "%s/%s.gguf", dir, c->name);
	as_mkmodel_params_init(&p);
	p.arch = c->arch;
	p.type = c->type;
	p.rope_freqs = c->rope_freqs;
	p.shape.head_dim = c->head_dim;
	p.shape.layers = 2;
	p.shape.dim = c->dim ? c->dim : 128;
	p.shape.hidden = c->hidden ? c->hidden : 256;
	p.shape.heads = 4;
	p.shape.kv_heads = 2;
	if (c->experts) {
		p.experts = c->experts;
		p.experts_used = 2;
		p.expert_hidden = p.shape.hidden;
	}
	p.seed = 7;
	p.threads = 2;
	r = as_mkmodel(&p, path, NULL, err, sizeof(err));
	if (r)
		fprintf(stderr, "# mkmodel %s: %s\n", c->name, err);
	assert_int_equal(r, 0);
	r = as_model_load_opts(&m, path, &o, err, sizeof(err));
	if (r)
		fprintf(stderr, "# load %s: %s\n", c->name, err);
	assert_int_equal(r, 0);
	/* the loader repacks where it pays off (not on aarch64 today) */
	assert_int_equal(m->n_repacked > 0, c->repack && as_repack_useful(c->type));
	return m;
}

/* Feed prompt[0..n) in chunks of bs into b and compare with a's logits of each chunk's
 * last position; then one decode step on both. a holds the token-by-token logits. */
static void check_batches(const struct as_model *m, struct as_threadpool *tp,
			  const int32_t *prompt, float *const *ref, const float *ref_next,
			  uint32_t bs, const char *name)
{
	struct as_state *b;
	size_t nv = m->hp.n_vocab;

	assert_int_equal(as_state_new(&b, m, NPROMPT + 1, tp), 0);
	for (uint32_t p0 = 0; p0 < NPROMPT; p0 += bs) {
		uint32_t n = NPROMPT - p0 < bs ? NPROMPT - p0 : bs;

		assert_int_equal(as_forward_batch(b, prompt + p0, n, p0, true), 0);
		if (memcmp(b->logits, ref[p0 + n - 1], nv * sizeof(float))) {
			fprintf(stderr, "# %s batch %u: logits differ after position %u\n", name,
				bs, p0 + n - 1);
			fail();
		}
	}
	assert_int_equal(as_forward(b, 3, NPROMPT, true), 0);
	if (memcmp(b->logits, ref_next, nv * sizeof(float))) {
		fprintf(stderr, "# %s batch %u: decode after the prompt differs\n", name, bs);
		fail();
	}
	as_state_free(b);
}

static void run_case(const struct mcase *c)
{
	static const uint32_t batches[] = { 1, 3, 64, NPROMPT };
	struct as_model *m = make_model(c);
	size_t nv = m->hp.n_vocab;
	int32_t prompt[NPROMPT];
	float *ref[NPROMPT], *ref_next = malloc(nv * sizeof(float));
	enum as_simd top = as_simd_detect(), was = as_simd_active();

	assert_non_null(ref_next);
	for (int i = 0; i < NPROMPT; i++) {
		prompt[i] = (int32_t)((i * 37 + 11) % (int)nv);
		ref[i] = malloc(nv * sizeof(float));
		assert_non_null(ref[i]);
	}
	/* every level single-threaded, the top one with 2 threads as well */
	for (int lvl = AS_SIMD_SCALAR; lvl <= (int)top; lvl++) {
		for (int nth = 1; nth <= (lvl == (int)top ? 2 : 1); nth++) {
			struct as_threadpool *tp = nth > 1 ? as_tp_create(nth) : NULL;
			struct as_state *a;

			as_kernels_force((enum as_simd)lvl);
			assert_int_equal(as_state_new(&a, m, NPROMPT + 1, tp), 0);
			for (uint32_t i = 0; i < NPROMPT; i++) {
				assert_int_equal(as_forward(a, prompt[i], i, true), 0);
				memcpy(ref[i], a->logits, nv * sizeof(float));
			}
			assert_int_equal(as_forward(a, 3, NPROMPT, true), 0);
			memcpy(ref_next, a->logits, nv * sizeof(float));
			as_state_free(a);
			for (size_t k = 0; k < sizeof(batches) / sizeof(batches[0]); k++)
				check_batches(m, tp, prompt, ref, ref_next, batches[k], c->name);
			as_tp_destroy(tp);
		}
	}
	as_kernels_force(was);
	for (int i = 0; i < NPROMPT; i++)
		free(ref[i]);
	free(ref_next);
	as_model_free(m);
}

#define CASE_TEST(i)                                  \
	static void test_case_##i(void **st)          \
	{                                             \
		(void)st;                             \
		run_case(&cases[i]);                  \
	}
CASE_TEST(0)
CASE_TEST(1)
CASE_TEST(2)
CASE_TEST(3)
CASE_TEST(4)
CASE_TEST(5)
CASE_TEST(6)

/* The batch's logits differ from another prompt's: the comparison can fail. */
static void test_sensitive(void **st)
{
	struct as_model *m = make_model(&cases[3]);
	struct as_state *a, *b;
	int32_t p1[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, p2[8] = { 1, 2, 3, 4, 5, 6, 7, 9 };

	(void)st;
	assert_int_equal(as_state_new(&a, m, 16, NULL), 0);
	assert_int_equal(as_state_new(&b, m, 16, NULL), 0);
	assert_int_equal(as_forward_batch(a, p1, 8, 0, true), 0);
	assert_int_equal(as_forward_batch(b, p2, 8, 0, true), 0);
	assert_true(memcmp(a->logits, b->logits, m->hp.n_vocab * sizeof(float)) != 0);
	as_state_free(a);
	as_state_free(b);
	as_model_free(m);
}

static void test_args(void **st)
{
	struct as_model *m = make_model(&cases[3]);
	struct as_state *s;
	int32_t t[4] = { 1, 2, 3, 4 }, bad[2] = { 1, -1 };

	(void)st;
	assert_int_equal(as_state_new(&s, m, 8, NULL), 0);
	assert_int_equal(as_forward_batch(s, t, 0, 0, true), -EINVAL);
	assert_int_equal(as_forward_batch(s, NULL, 2, 0, true), -EINVAL);
	assert_int_equal(as_forward_batch(s, bad, 2, 0, true), -EINVAL);
	bad[1] = (int32_t)m->hp.n_vocab;
	assert_int_equal(as_forward_batch(s, bad, 2, 0, true), -EINVAL);
	assert_int_equal(as_forward_batch(s, t, 4, 5, true), -ERANGE);
	assert_int_equal(as_forward_batch(s, t, 4, 8, true), -ERANGE);
	assert_int_equal(as_forward_batch(s, t, 4, UINT32_MAX - 1, true), -ERANGE);
	assert_int_equal(as_forward_batch(s, t, 4, 4, true), 0);
	/* the scratch is kept: reserved once, reused by smaller batches, grown by larger */
	assert_int_equal(as_state_reserve_batch(s, 0), -EINVAL);
	assert_int_equal(as_state_reserve_batch(s, 9), -EINVAL);
	assert_int_equal(s->batch_cap, 4);
	{
		struct as_batch *kept = s->batch;

		assert_non_null(kept);
		assert_int_equal(as_state_reserve_batch(s, 3), 0);
		assert_int_equal(as_forward_batch(s, t, 3, 0, true), 0);
		assert_ptr_equal(s->batch, kept);
		assert_int_equal(s->batch_cap, 4);
	}
	assert_int_equal(as_state_reserve_batch(s, 8), 0);
	assert_int_equal(s->batch_cap, 8);
	assert_int_equal(as_forward_batch(s, t, 4, 0, true), 0);
	assert_int_equal(s->batch_cap, 8);
	/* what a budget counts for it grows with the batch */
	assert_true(as_batch_bytes(&m->hp, 8, 8, 1, false) >
		    as_batch_bytes(&m->hp, 8, 4, 1, false));
	assert_true(as_batch_bytes(&m->hp, 8, 4, 1, true) >
		    as_batch_bytes(&m->hp, 8, 4, 1, false));
	as_state_free(s);
	as_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_case_0), cmocka_unit_test(test_case_1),
		cmocka_unit_test(test_case_2), cmocka_unit_test(test_case_3),
		cmocka_unit_test(test_case_4), cmocka_unit_test(test_case_5),
		cmocka_unit_test(test_case_6), cmocka_unit_test(test_sensitive),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

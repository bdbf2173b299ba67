// SPDX-License-Identifier: MIT
/* Helpers of the mixture-of-experts store tests (moefx.h). */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "activeswap/forward.h"
#include "activeswap/model.h"
#include "fixtures.h"
#include "libswap.h"
#include "moefx.h"

static const int32_t prompt[3] = { 1, 17, 300 };

int moefx_mkmoe(const char *out, enum as_arch arch, enum ggml_type type, uint64_t layers,
		uint64_t seed, uint64_t dim, uint64_t hidden, uint64_t xw)
{
	bool qw = arch == AS_ARCH_QWEN3MOE;
	struct as_mkmodel_params p;

	as_mkmodel_params_init(&p);
	p.shape.dim = dim;
	p.shape.hidden = hidden;
	p.shape.layers = layers;
	p.shape.heads = 4;
	p.shape.kv_heads = 2;
	p.shape.vocab = MOEFX_VOCAB;
	p.shape.ctx = 256;
	if (qw)
		p.shape.head_dim = 64;
	p.arch = arch;
	p.experts = qw ? 16 : 8;
	p.experts_used = qw ? 4 : 2;
	p.expert_hidden = xw;
	return fx_mkmodel_params(&p, out, type, seed);
}

void moefx_params(struct as_swap_params *p, uint32_t n_ctx)
{
	memset(p, 0, sizeof(*p));
	p->n_ctx = n_ctx;
	p->queue_depth = 4;
	p->check_use = true;
}

static int32_t argmax(const float *lg)
{
	int32_t best = 0;

	for (int32_t v = 1; v < MOEFX_VOCAB; v++)
		if (lg[v] > lg[best])
			best = v;
	return best;
}

void moefx_greedy(struct as_swap_model *m, struct moefx_run *res)
{
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(as_swap_forward(m, prompt[i], i, i == 2), 0);
	for (uint32_t s = 0; s < MOEFX_STEPS; s++) {
		memcpy(res->logits[s], as_swap_logits(m), sizeof(res->logits[s]));
		res->tokens[s] = argmax(res->logits[s]);
		assert_int_equal(as_swap_forward(m, res->tokens[s], 3 + s, true), 0);
	}
	as_swap_stats(m, &res->st);
	as_swap_close(m);
}

void moefx_decode(const char *path, const struct as_swap_params *p, struct moefx_run *res)
{
	struct as_swap_model *m;
	char err[512] = "";

	if (as_swap_open(&m, path, p, err, sizeof(err)))
		fail_msg("open %s: %s", path, err);
	moefx_greedy(m, res);
}

void moefx_decode_dense(const char *gguf, float es, uint32_t n_ctx, struct moefx_run *res)
{
	struct as_model *dm;
	struct as_state *ds;
	char err[512] = "";

	assert_int_equal(as_model_load(&dm, gguf, err, sizeof(err)), 0);
	assert_int_equal(as_state_new(&ds, dm, n_ctx, NULL), 0);
	assert_int_equal(as_state_expert_sparsity(ds, es), 0);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(as_forward(ds, prompt[i], i, i == 2), 0);
	for (uint32_t s = 0; s < MOEFX_STEPS; s++) {
		memcpy(res->logits[s], ds->logits, sizeof(res->logits[s]));
		res->tokens[s] = argmax(ds->logits);
		assert_int_equal(as_forward(ds, res->tokens[s], 3 + s, true), 0);
	}
	as_state_free(ds);
	as_model_free(dm);
}

void moefx_assert_close(const struct moefx_run *a, const struct moefx_run *b)
{
	assert_memory_equal(a->tokens, b->tokens, sizeof(a->tokens));
	for (uint32_t s = 0; s < MOEFX_STEPS; s++) {
		double mx = 0, dif = 0;

		/* plain compares, not fmax() (gcc 12 for aarch64, see test_swaprun.c) */
		for (int v = 0; v < MOEFX_VOCAB; v++) {
			double fb = fabs(b->logits[s][v]);
			double d = fabs((double)a->logits[s][v] - b->logits[s][v]);

			if (fb > mx)
				mx = fb;
			if (d > dif)
				dif = d;
		}
		if (dif > 1e-4 * mx + 1e-6)
			fail_msg("step %u: max |store - dense| = %g (max |logit| %g)", s, dif, mx);
	}
}

void moefx_patch_header(const char *src, const char *dst, size_t off, uint32_t v)
{
	static uint8_t buf[1 << 16];
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;
	bool first = true;
	uint32_t crc;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (first) {
			memcpy(buf + off, &v, 4);
			crc = swap_crc32c(0, buf, 4092);
			memcpy(buf + 4092, &crc, 4);
			first = false;
		}
		assert_int_equal(write(out, buf, (size_t)n), n);
	}
	close(in);
	close(out);
}

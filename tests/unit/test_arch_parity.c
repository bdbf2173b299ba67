// SPDX-License-Identifier: MIT
/*
 * Parity with llama.cpp on generated models of each architecture and type: the models
 * are regenerated here with as_mkmodel (what `activeswap mkmodel` runs; same parameters,
 * same bytes, checked by an FNV-1a hash of the file), and the greedy continuation of a
 * few prompts given as token ids must equal the one llama.cpp produced on the same file.
 * llama.cpp's outputs are fixtures (tests/fixtures/arch/parity.txt, the commands that
 * made them in its README): llama.cpp is not needed here.
 *
 * Fixture lines:  model NAME ARCH TYPE OPTS FNV1A64   (one per generated model; TYPE is
 *                       a type or a mix (q4_k_m, q5_k_m) as mkmodel --type takes it; OPTS is
 *                       "-" or a '+'-joined list of "rope_freqs" (mkmodel --rope-freqs),
 *                       "head_dim=N" and "experts=E/K/F" (--experts E --experts-used K
 *                       --expert-hidden F; with ARCH llama: mkmodel --arch mixtral))
 *                 greedy NAME PROMPT_IDS GREEDY_IDS   (comma-separated ids)
 *                 logits NAME PROMPT_IDS POS ID:LOGIT,...  (llama.cpp's 8 largest logits
 *                       after PROMPT_IDS[0..POS]; f16 models, checked within 0.02)
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

#include "activeswap/mkmodel.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "parity.h"

#define MAXIDS PARITY_MAXIDS
#define MAXMODELS 32

static char tmpdir[256];

static int setup(void **state)
{
	const char *t = getenv("AS_TMP");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");
	return 0;
}

/* The fixture shape (README): dim 256, hidden 512, 2 layers, 8 heads / 4 KV heads,
 * vocabulary 512, context 256, seed 7, and the options of the model line. */
static void params(struct as_mkmodel_params *p, enum as_arch arch, const char *type,
		   const char *opts)
{
	unsigned hd = 0, e, k, f;
	char buf[64], *tok, *save = NULL;

	as_mkmodel_params_init(p); /* the tiny preset: its name is in general.name */
	p->shape = (struct as_mkmodel_shape){ "tiny", 256, 512, 2, 8, 4, 512, 256, 0 };
	p->arch = arch;
	if (as_quant_mix_parse(type, &p->type, &p->mix))
		fail_msg("unknown type '%s'", type);
	p->seed = 7;
	p->threads = 1;
	if (!strcmp(opts, "-"))
		return;
	snprintf(buf, sizeof(buf), "%s", opts);
	for (tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
		if (!strcmp(tok, "rope_freqs")) {
			p->rope_freqs = true;
		} else if (sscanf(tok, "head_dim=%u", &hd) == 1) {
			p->shape.head_dim = hd;
		} else if (sscanf(tok, "experts=%u/%u/%u", &e, &k, &f) == 3) {
			p->experts = e;
			p->experts_used = k;
			p->expert_hidden = f;
		} else {
			fail_msg("unknown model options '%s'", opts);
		}
	}
}

/*
 * Teacher-forced logits after prompt[0..pos] against llama.cpp's largest ones: within
 * 0.02 (measured: at most 0.004 on the f16 models, while e.g. ignoring Llama 3.1's
 * rope_freqs moves them by 0.17 at position 200).
 */
static void check_logits(const struct as_model *m, const char *nm, const int32_t *prompt,
			 int pos, const char *top)
{
	struct as_state *s;
	int n = 0;

	assert_int_equal(as_state_new(&s, m, (uint32_t)pos + 1, NULL), 0);
	for (int i = 0; i <= pos; i++)
		assert_int_equal(as_forward(s, prompt[i], (uint32_t)i, i == pos), 0);
	while (*top) {
		char *end;
		long id = strtol(top, &end, 10);
		float want;

		if (*end != ':' || id < 0 || (uint32_t)id >= m->hp.n_vocab)
			fail_msg("%s: bad logits list at '%.20s'", nm, top);
		want = strtof(end + 1, &end);
		if (fabsf(s->logits[id] - want) > 0.02f)
			fail_msg("%s position %d: logit of %ld is %g, llama.cpp's %g", nm, pos, id,
				 s->logits[id], want);
		n++;
		top = *end == ',' ? end + 1 : end;
	}
	assert_true(n >= 1);
	as_state_free(s);
}

struct model_case {
	char name[32];
	bool q8k; /* has matrices computed against Q8_K activations */
	struct parity_tally st;
	struct as_model *m;
	char path[320];
};

/* Check every greedy line of the fixture for the models generated here. */
static void test_parity(void **state)
{
	static struct model_case mc[MAXMODELS];
	const char *top = getenv("AS_TOP");
	char fx[512], line[4096], err[256], nm[32], a[16], t[16], o[32], p_ids[2048],
		g_ids[2048];
	struct parity_tally st = { 0 }, stk = { 0 };
	int n_models = 0, n_logits = 0, pos;
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

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "model %31s %15s %15s %31s %llx", nm, a, t, o, &want) == 5) {
			struct as_mkmodel_params p;

			for (int k = 0; k < AS_ARCH_COUNT; k++)
				if (!strcmp(a, as_arch_name((enum as_arch)k)))
					arch = (enum as_arch)k;
			assert_true(arch < AS_ARCH_COUNT && n_models < MAXMODELS);
			c = &mc[n_models++];
			snprintf(c->name, sizeof(c->name), "%s", nm);
			snprintf(c->path, sizeof(c->path), "%s/as-parity-%s.gguf", tmpdir, nm);
			params(&p, arch, t, o);
			c->q8k = as_type_block_elems(p.type) == QK_K;
			if (as_mkmodel(&p, c->path, NULL, err, sizeof(err)))
				fail_msg("mkmodel %s: %s", nm, err);
			if (parity_fnv1a_file(c->path) != want)
				fail_msg("%s: the generated file is not the one llama.cpp ran "
					 "(fnv1a64 %016llx, fixture %016llx): regenerate the "
					 "fixtures (README)", nm,
					 (unsigned long long)parity_fnv1a_file(c->path), want);
			if (as_model_load(&c->m, c->path, err, sizeof(err)))
				fail_msg("load %s: %s", c->path, err);
			unlink(c->path);
			continue;
		}
		if (sscanf(line, "greedy %31s %2047s %2047s", nm, p_ids, g_ids) == 3) {
			int32_t prompt[MAXIDS], want_ids[MAXIDS];
			int np = parity_parse_ids(p_ids, prompt, MAXIDS);
			int ng = parity_parse_ids(g_ids, want_ids, MAXIDS);

			for (int k = 0; k < n_models; k++)
				if (!strcmp(mc[k].name, nm))
					c = &mc[k];
			if (!c || np < 1 || ng < 1 || np + ng > MAXIDS)
				fail_msg("bad fixture line: %s", line);
			parity_check_sequence(c->m, nm, prompt, np, want_ids, ng,
					      c->q8k ? PARITY_TIE_K : PARITY_TIE, &c->st, NULL);
			continue;
		}
		if (sscanf(line, "logits %31s %2047s %d %2047s", nm, p_ids, &pos, g_ids) == 4) {
			int32_t prompt[MAXIDS];
			int np = parity_parse_ids(p_ids, prompt, MAXIDS);

			for (int k = 0; k < n_models; k++)
				if (!strcmp(mc[k].name, nm))
					c = &mc[k];
			if (!c || pos < 0 || pos >= np)
				fail_msg("bad fixture line: %s", line);
			check_logits(c->m, nm, prompt, pos, g_ids);
			n_logits++;
			continue;
		}
		fail_msg("bad fixture line: %s", line);
	}
	fclose(f);
	for (int k = 0; k < n_models; k++) {
		const struct parity_tally *y = &mc[k].st;

		print_message("# %-13s continuations equal %d/%d, teacher-forced top-1 %d/%d "
			      "(%d near-ties)\n", mc[k].name, y->equal, y->seqs, y->agree,
			      y->steps, y->ties);
		parity_tally_add(mc[k].q8k ? &stk : &st, y);
		as_model_free(mc[k].m);
	}
	assert_true(n_models >= 1 && st.seqs + stk.seqs >= n_models);
	print_message("# %d logits checks passed\n", n_logits);
	for (int k = 0; k < 2; k++) {
		const struct parity_tally *g = k ? &stk : &st;

		print_message("# %s: %d continuations: %d equal to llama.cpp's, the others up to "
			      "a near-tie; teacher-forced top-1 %d/%d (%d near-ties)\n",
			      k ? "Q8_K-activation models" : "other models", g->seqs, g->equal,
			      g->agree, g->steps, g->ties);
		if (g->bad)
			fail_msg("%d continuations differ from llama.cpp's where the choice was "
				 "clear", g->bad);
		if (g->agree < (k ? 0.95 : 0.99) * g->steps)
			fail_msg("teacher-forced top-1 agreement %d/%d is under %.2f", g->agree,
				 g->steps, k ? 0.95 : 0.99);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_parity, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

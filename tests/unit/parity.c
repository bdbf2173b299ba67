// SPDX-License-Identifier: MIT
/* Greedy parity with llama.cpp (parity.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"

uint64_t parity_fnv1a_file(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char buf[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		fail_msg("cannot open %s", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ull;
	fclose(f);
	return h;
}

int parity_parse_ids(const char *s, int32_t *ids, int max)
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
	return *s ? -1 : n;
}

void parity_fmt_ids(const int32_t *ids, int n, char *out, size_t len)
{
	size_t o = 0;

	out[0] = 0;
	for (int i = 0; i < n && o + 12 < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%d", i ? "," : "", ids[i]);
}

int32_t parity_argmax(const float *x, uint32_t n)
{
	uint32_t b = 0;

	for (uint32_t i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return (int32_t)b;
}

static bool near_tie(const float *logits, int32_t top, int32_t t, float tie)
{
	return logits[top] - logits[t] < tie;
}

void parity_check_sequence(const struct as_model *m, const char *nm, const int32_t *prompt,
			   int np, const int32_t *want, int ng, float tie, struct parity_tally *st,
			   int32_t *out)
{
	uint32_t nv = m->hp.n_vocab;
	int32_t got[PARITY_MAXIDS];
	struct as_state *s;
	bool parted = false;
	char a[2048], b[2048];

	assert_true(np >= 1 && ng >= 1 && ng <= PARITY_MAXIDS);
	for (int i = 0; i < ng; i++)
		if (want[i] < 0 || (uint32_t)want[i] >= nv)
			fail_msg("%s: llama.cpp's token %d is outside the vocabulary", nm, want[i]);
	assert_int_equal(as_state_new(&s, m, (uint32_t)(np + ng), NULL), 0);
	for (int i = 0; i < np; i++)
		assert_int_equal(as_forward(s, prompt[i], (uint32_t)i, i == np - 1), 0);
	for (int i = 0; i < ng; i++) {
		got[i] = parity_argmax(s->logits, nv);
		if (!parted && got[i] != want[i]) {
			parted = true;
			if (!near_tie(s->logits, got[i], want[i], tie)) {
				parity_fmt_ids(want, ng, a, sizeof(a));
				parity_fmt_ids(got, i + 1, b, sizeof(b));
				print_message("# %s (prompt of %d): step %d is no tie (%g vs %g)\n"
					      "#   llama.cpp %s\n#   ours      %s\n", nm, np, i,
					      s->logits[got[i]], s->logits[want[i]], a, b);
				st->bad++;
			}
		}
		if (i + 1 < ng)
			assert_int_equal(as_forward(s, got[i], (uint32_t)(np + i), true), 0);
	}
	if (out)
		memcpy(out, got, (size_t)ng * sizeof(*got));
	st->seqs++;
	st->equal += !parted;
	/* teacher-forced */
	for (int i = 0; i < np; i++)
		assert_int_equal(as_forward(s, prompt[i], (uint32_t)i, i == np - 1), 0);
	for (int i = 0; i < ng; i++) {
		int32_t top = parity_argmax(s->logits, nv);

		st->steps++;
		if (top == want[i]) {
			st->agree++;
		} else if (near_tie(s->logits, top, want[i], tie)) {
			st->ties++;
		} else {
			print_message("# %s (prompt of %d), teacher-forced step %d: ours %d, "
				      "llama.cpp %d (%g vs %g)\n", nm, np, i, top, want[i],
				      s->logits[top], s->logits[want[i]]);
			st->bad++;
		}
		if (i + 1 < ng)
			assert_int_equal(as_forward(s, want[i], (uint32_t)(np + i), true), 0);
	}
	as_state_free(s);
}

void parity_tally_add(struct parity_tally *a, const struct parity_tally *b)
{
	a->seqs += b->seqs;
	a->equal += b->equal;
	a->bad += b->bad;
	a->steps += b->steps;
	a->agree += b->agree;
	a->ties += b->ties;
}

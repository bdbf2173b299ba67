// SPDX-License-Identifier: MIT
/* Token sampling. See sampler.h. */
#include "activeswap/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

struct cand {
	int32_t id;
	float logit;
	float p;
};

struct as_sampler {
	struct as_sampler_params p;
	size_t n_vocab;
	uint64_t rng;
	struct cand *c;
	int32_t *hist;     /* the last repeat_last_n accepted tokens (a ring) */
	size_t hist_n, hist_pos;
};

static bool penalizing(const struct as_sampler *s)
{
	return s->hist && s->hist_n && s->p.repeat_penalty != 1.0f;
}

uint64_t as_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double as_rng_uniform(uint64_t *state)
{
	return (double)(as_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

int32_t as_argmax(const float *x, size_t n)
{
	size_t best = 0;

	for (size_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return (int32_t)best;
}

struct as_sampler *as_sampler_new(const struct as_sampler_params *p, size_t n_vocab)
{
	struct as_sampler *s;

	if (!n_vocab || n_vocab > INT32_MAX)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->p = *p;
	s->n_vocab = n_vocab;
	s->rng = p->seed;
	s->c = malloc(n_vocab * sizeof(*s->c));
	if (p->repeat_last_n > 0 && p->repeat_penalty > 0 && p->repeat_penalty != 1.0f)
		s->hist = malloc((size_t)p->repeat_last_n * sizeof(*s->hist));
	if (!s->c || (p->repeat_last_n > 0 && p->repeat_penalty > 0 &&
		      p->repeat_penalty != 1.0f && !s->hist)) {
		as_sampler_free(s);
		return NULL;
	}
	return s;
}

void as_sampler_free(struct as_sampler *s)
{
	if (!s)
		return;
	free(s->c);
	free(s->hist);
	free(s);
}

void as_sampler_accept(struct as_sampler *s, int32_t id)
{
	if (!s->hist || id < 0 || (size_t)id >= s->n_vocab)
		return;
	s->hist[s->hist_pos] = id;
	s->hist_pos = (s->hist_pos + 1) % (size_t)s->p.repeat_last_n;
	if (s->hist_n < (size_t)s->p.repeat_last_n)
		s->hist_n++;
}

/* c[i] = token i (in id order) with the repeat penalty applied once per distinct token
 * of the window. */
static void penalize(struct as_sampler *s, struct cand *c)
{
	float pen = s->p.repeat_penalty;

	for (size_t i = 0; i < s->hist_n; i++) {
		int32_t id = s->hist[i];
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = s->hist[j] == id;
		if (seen)
			continue;
		c[id].logit = c[id].logit > 0 ? c[id].logit / pen : c[id].logit * pen;
	}
}

/* Descending by logit, then ascending id: a total order, so results do not depend
 * on the qsort implementation. */
static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Softmax of c[0..n) (sorted descending) at temperature temp into c[].p. */
static void cand_softmax(struct cand *c, size_t n, float temp)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		c[i].p = expf((c[i].logit - c[0].logit) / temp);
		sum += c[i].p;
	}
	for (size_t i = 0; i < n; i++)
		c[i].p = (float)(c[i].p / sum);
}

int32_t as_sample(struct as_sampler *s, const float *logits)
{
	struct cand *c = s->c;
	size_t n = s->n_vocab;
	double r, acc;

	if (!(s->p.temp > 0) && !penalizing(s))
		return as_argmax(logits, n);
	for (size_t i = 0; i < n; i++) {
		c[i].id = (int32_t)i;
		c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
	}
	if (penalizing(s)) {
		penalize(s, c);
		if (!(s->p.temp > 0)) {
			size_t best = 0;

			for (size_t i = 1; i < n; i++)
				if (c[i].logit > c[best].logit)
					best = i;
			return (int32_t)best;
		}
	}
	qsort(c, n, sizeof(*c), cand_cmp);
	if (s->p.top_k > 0 && (size_t)s->p.top_k < n)
		n = (size_t)s->p.top_k;
	if (s->p.top_p < 1.0f) {
		double cum = 0;
		size_t keep = n;

		cand_softmax(c, n, 1.0f);
		for (size_t i = 0; i < n; i++) {
			cum += c[i].p;
			if (cum >= s->p.top_p) {
				keep = i + 1;
				break;
			}
		}
		n = keep;
	}
	if (s->p.min_p > 0) {
		/* p_i >= min_p * p_0  <=>  logit_i >= logit_0 + log(min_p) (sorted) */
		float lim = c[0].logit + logf(s->p.min_p);
		size_t keep = 1;

		while (keep < n && c[keep].logit >= lim)
			keep++;
		n = keep;
	}
	cand_softmax(c, n, s->p.temp);
	r = as_rng_uniform(&s->rng);
	acc = 0;
	for (size_t i = 0; i < n; i++) {
		acc += c[i].p;
		if (r < acc)
			return c[i].id;
	}
	return c[n - 1].id;
}

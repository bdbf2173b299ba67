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
};

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
	if (!s->c) {
		free(s);
		return NULL;
	}
	return s;
}

void as_sampler_free(struct as_sampler *s)
{
	if (!s)
		return;
	free(s->c);
	free(s);
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

	if (!(s->p.temp > 0))
		return as_argmax(logits, n);
	for (size_t i = 0; i < n; i++) {
		c[i].id = (int32_t)i;
		c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
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

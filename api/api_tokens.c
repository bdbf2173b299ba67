// SPDX-License-Identifier: MIT
/* The public library's tokens and sampling (include/activeswap.h; the handle: api.c). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/sampler.h"
#include "activeswap/tokenizer.h"
#include "api_int.h"

#define SAMPLER_SIZE_0 (offsetof(struct asw_sampler_params, seed) + sizeof(uint64_t))

int64_t asw_tokenize(asw_model *m, const char *text, size_t len, uint32_t flags,
		     int32_t *out, size_t cap)
{
	struct as_tokenize_opts o;
	int32_t *ids = NULL;
	size_t n = 0;
	int r;

	if (!m)
		return -EINVAL;
	if ((!text && len) || (!out && cap) || (flags & ~(ASW_TOK_BOS | ASW_TOK_SPECIAL))) {
		asw_seterr(m, "asw_tokenize: %s", flags & ~(ASW_TOK_BOS | ASW_TOK_SPECIAL) ?
			   "unknown flags" : "NULL buffer");
		return -EINVAL;
	}
	if (len > (size_t)INT64_MAX / 2) {
		asw_seterr(m, "asw_tokenize: text of %zu bytes is too long", len);
		return -EOVERFLOW;
	}
	o.add_bos = (flags & ASW_TOK_BOS) && as_tokenizer_add_bos(m->tok);
	o.parse_special = flags & ASW_TOK_SPECIAL;
	r = as_tokenize_ex(m->tok, text ? text : "", len, &o, &ids, &n);
	if (r) {
		asw_seterr(m, "asw_tokenize: %s", strerror(-r));
		return r;
	}
	if (out && n)
		memcpy(out, ids, (n < cap ? n : cap) * sizeof(*ids));
	free(ids);
	return (int64_t)n;
}

const char *asw_token_piece(const asw_model *m, int32_t id, size_t *len)
{
	size_t l;
	const char *p;

	if (!m || id < 0 || (uint32_t)id >= as_tokenizer_n_vocab(m->tok))
		return NULL;
	p = as_token_piece(m->tok, id, &l);
	if (len)
		*len = l;
	return p;
}

int64_t asw_detokenize(asw_model *m, const int32_t *ids, size_t n, char *buf, size_t cap)
{
	uint64_t total = 0;

	if (!m)
		return -EINVAL;
	if ((!ids && n) || (!buf && cap)) {
		asw_seterr(m, "asw_detokenize: NULL buffer");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t l;
		const char *p = asw_token_piece(m, ids[i], &l);

		if (!p) {
			asw_seterr(m, "asw_detokenize: token %zu (%d) is not in the vocabulary", i,
				   ids[i]);
			return -EINVAL;
		}
		if (total < cap) {
			size_t k = cap - 1 - total < l ? cap - 1 - total : l;

			memcpy(buf + total, p, k);
		}
		total += l;
		if (total > (uint64_t)INT64_MAX / 2) {
			asw_seterr(m, "asw_detokenize: text too long");
			return -EOVERFLOW;
		}
	}
	if (cap)
		buf[total < cap ? total : cap - 1] = 0;
	return (int64_t)total;
}

int32_t asw_token_bos(const asw_model *m)
{
	return m ? as_tokenizer_bos(m->tok) : -1;
}

int32_t asw_token_eos(const asw_model *m)
{
	return m ? as_tokenizer_eos(m->tok) : -1;
}

int asw_token_is_eog(const asw_model *m, int32_t id)
{
	return m && as_tokenizer_is_eog(m->tok, id);
}

void asw_sampler_params_init(struct asw_sampler_params *p)
{
	if (!p)
		return;
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	p->temp = AS_SAMPLER_DEFAULT_TEMP;
	p->top_k = AS_SAMPLER_DEFAULT_TOP_K;
	p->top_p = AS_SAMPLER_DEFAULT_TOP_P;
	p->repeat_penalty = 1;
	p->repeat_last_n = 64;
}

int asw_sampler_new(asw_sampler **out, asw_model *m, const struct asw_sampler_params *params)
{
	struct asw_sampler_params p;
	struct as_sampler_params sp;
	asw_sampler *s;
	int r;

	if (out)
		*out = NULL;
	if (!out || !m) {
		asw_seterr(m, "asw_sampler_new: NULL out");
		return -EINVAL;
	}
	asw_sampler_params_init(&p);
	if (params) {
		r = asw_take_struct(&p, sizeof(p), params, params->size, SAMPLER_SIZE_0);
		if (r) {
			asw_seterr(m, "asw_sampler_params: size %u %s", params->size, r == -E2BIG ?
				   "holds options this library does not know" : "is too small");
			return r;
		}
	}
	if (p.temp != p.temp || p.top_p != p.top_p || p.min_p != p.min_p ||
	    !(p.repeat_penalty > 0 && p.repeat_penalty <= 100) || p.repeat_last_n < 0) {
		asw_seterr(m, "asw_sampler_params: NaN, repeat_penalty not in (0, 100] or "
			   "repeat_last_n < 0");
		return -EINVAL;
	}
	sp = (struct as_sampler_params){
		.temp = p.temp, .top_k = p.top_k, .top_p = p.top_p, .seed = p.seed,
		.min_p = p.min_p, .repeat_penalty = p.repeat_penalty,
		.repeat_last_n = p.repeat_last_n,
	};
	s = calloc(1, sizeof(*s));
	if (s)
		s->s = as_sampler_new(&sp, m->em.n_vocab);
	if (!s || !s->s) {
		free(s);
		asw_seterr(m, "asw_sampler_new: out of memory");
		return -ENOMEM;
	}
	s->n_vocab = (uint32_t)m->em.n_vocab;
	*out = s;
	return 0;
}

void asw_sampler_free(asw_sampler *s)
{
	if (!s)
		return;
	as_sampler_free(s->s);
	free(s);
}

int32_t asw_sample(asw_sampler *s, const asw_model *m)
{
	const float *logits = asw_logits(m);

	if (!s || !logits || m->em.n_vocab != s->n_vocab)
		return -EINVAL;
	return as_sample(s->s, logits);
}

void asw_sampler_accept(asw_sampler *s, int32_t id)
{
	if (s)
		as_sampler_accept(s->s, id);
}

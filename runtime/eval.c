// SPDX-License-Identifier: MIT
/* Perplexity (llama.cpp's method), KL / top-1 against a reference, Top-K sparsity. */
#include "activeswap/eval.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/forward.h"
#include "activeswap/sampler.h"

double as_log_softmax_at(const float *logits, size_t n, int32_t tok)
{
	float max = logits[0];
	double sum = 0;

	for (size_t i = 1; i < n; i++)
		if (logits[i] > max)
			max = logits[i];
	for (size_t i = 0; i < n; i++)
		sum += exp((double)logits[i] - max);
	return (double)logits[tok] - max - log(sum);
}

/* KL(p || q) for p = softmax(a), q = softmax(b). */
static double kl_div(const float *a, const float *b, size_t n)
{
	float ma = a[0], mb = b[0];
	double sa = 0, sb = 0, kl = 0, lsa, lsb;

	for (size_t i = 1; i < n; i++) {
		if (a[i] > ma)
			ma = a[i];
		if (b[i] > mb)
			mb = b[i];
	}
	for (size_t i = 0; i < n; i++) {
		sa += exp((double)a[i] - ma);
		sb += exp((double)b[i] - mb);
	}
	lsa = log(sa);
	lsb = log(sb);
	for (size_t i = 0; i < n; i++) {
		double lpa = (double)a[i] - ma - lsa, lpb = (double)b[i] - mb - lsb;

		kl += exp(lpa) * (lpa - lpb);
	}
	return kl;
}

int as_perplexity_model(const struct as_eval_model *s, const struct as_eval_model *ref,
			const int32_t *tokens, size_t n_tokens, uint32_t n_ctx, int32_t bos,
			as_eval_chunk_fn cb, void *arg, struct as_eval_result *res)
{
	size_t n_vocab = s->n_vocab;
	size_t n_chunks;
	double nll = 0, kl = 0;
	uint64_t count = 0, agree = 0;
	int32_t *head;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (n_ctx < 4 || !n_vocab || s->n_ctx < n_ctx ||
	    (ref && (ref->n_ctx < n_ctx || ref->n_vocab != n_vocab)))
		return -EINVAL;
	n_chunks = n_tokens / n_ctx;
	if (!n_chunks || n_chunks > UINT32_MAX)
		return -EINVAL;
	res->have_ref = ref != NULL;
	head = malloc(n_ctx / 2 * sizeof(*head));
	if (!head)
		return -ENOMEM;
	for (size_t c = 0; c < n_chunks; c++) {
		const int32_t *chunk = tokens + c * n_ctx;

		/* the unscored first half as one feed (batched when the model can) */
		memcpy(head, chunk, n_ctx / 2 * sizeof(*head));
		if (bos >= 0)
			head[0] = bos;
		rc = as_eval_feed(s, head, n_ctx / 2, 0, false, NULL);
		if (!rc && ref)
			rc = as_eval_feed(ref, head, n_ctx / 2, 0, false, NULL);
		if (rc)
			goto out;
		for (uint32_t j = n_ctx / 2; j + 1 < n_ctx; j++) {
			int32_t tok = (j == 0 && bos >= 0) ? bos : chunk[j];
			bool score = j >= n_ctx / 2;
			const float *lg, *rl;

			rc = s->forward(s->ctx, tok, j, score);
			if (!rc && ref)
				rc = ref->forward(ref->ctx, tok, j, score);
			if (rc)
				goto out;
			if (!score)
				continue;
			if ((size_t)chunk[j + 1] >= n_vocab || chunk[j + 1] < 0) {
				rc = -EINVAL;
				goto out;
			}
			lg = s->logits(s->ctx);
			nll -= as_log_softmax_at(lg, n_vocab, chunk[j + 1]);
			if (ref) {
				rl = ref->logits(ref->ctx);
				kl += kl_div(rl, lg, n_vocab);
				agree += as_argmax(rl, n_vocab) == as_argmax(lg, n_vocab);
			}
			count++;
		}
		res->chunks = (uint32_t)(c + 1);
		res->tokens_scored = count;
		res->nll = nll / count;
		res->ppl = exp(res->nll);
		if (ref) {
			res->kl = kl / count;
			res->top1 = (double)agree / count;
		}
		if (cb)
			cb(arg, (uint32_t)c, (uint32_t)n_chunks, res);
	}
out:
	free(head);
	return rc;
}

int as_eval_feed(const struct as_eval_model *m, const int32_t *tokens, size_t n, size_t pos0,
		 bool want_logits_last, size_t *done)
{
	size_t i = 0;
	int r = 0;

	if (done)
		*done = 0;
	if (!n || pos0 > UINT32_MAX || n > UINT32_MAX - pos0)
		return -EINVAL;
	while (i < n && !r) {
		size_t k = n - i;

		if (m->forward_batch && m->n_batch > 1) {
			if (k > m->n_batch)
				k = m->n_batch;
			r = m->forward_batch(m->ctx, tokens + i, (uint32_t)k, (uint32_t)(pos0 + i),
					     want_logits_last && i + k == n);
		} else {
			k = 1;
			r = m->forward(m->ctx, tokens[i], (uint32_t)(pos0 + i),
				       want_logits_last && i + 1 == n);
		}
		if (!r)
			i += k;
	}
	if (done)
		*done = i;
	return r;
}

static int state_forward(void *ctx, int32_t token, uint32_t pos, bool want_logits)
{
	return as_forward(ctx, token, pos, want_logits);
}

static const float *state_logits(void *ctx)
{
	return ((struct as_state *)ctx)->logits;
}

static int state_forward_batch(void *ctx, const int32_t *tokens, uint32_t n, uint32_t pos0,
			       bool want_logits_last)
{
	return as_forward_batch(ctx, tokens, n, pos0, want_logits_last);
}

void as_eval_model_state(struct as_eval_model *em, struct as_state *s, uint32_t n_batch)
{
	*em = (struct as_eval_model){
		.forward = state_forward,
		.logits = state_logits,
		.ctx = s,
		.n_vocab = s->m->hp.n_vocab,
		.n_ctx = s->n_ctx,
		.forward_batch = n_batch > 1 ? state_forward_batch : NULL,
		.n_batch = n_batch,
	};
}

int as_perplexity(struct as_state *s, struct as_state *ref, const int32_t *tokens,
		  size_t n_tokens, uint32_t n_ctx, int32_t bos, as_eval_chunk_fn cb,
		  void *arg, struct as_eval_result *res)
{
	struct as_eval_model ms, mr;

	as_eval_model_state(&ms, s, 0);
	if (ref)
		as_eval_model_state(&mr, ref, 0);
	return as_perplexity_model(&ms, ref ? &mr : NULL, tokens, n_tokens, n_ctx, bos, cb,
				   arg, res);
}

struct mag {
	float a;
	uint32_t i;
};

void as_topk_hook(void *arg, uint32_t layer, enum as_op op, float *x, size_t n)
{
	struct as_topk *t = arg;
	size_t k = (size_t)lround((1.0 - (double)t->sparsity) * (double)n);
	float thr;
	size_t above = 0, keep_eq;

	if (k >= n || (t->op_mask && !(t->op_mask & (1u << op))))
		return;
	if (t->scratch_n < n) {
		float *ns = realloc(t->scratch, n * sizeof(*ns));

		if (!ns)
			return; /* stays dense rather than failing the token */
		t->scratch = ns;
		t->scratch_n = n;
	}
	if (k == 0) {
		memset(x, 0, n * sizeof(*x));
		return;
	}
	/* k-th largest magnitude by quickselect on a copy. */
	for (size_t i = 0; i < n; i++)
		t->scratch[i] = fabsf(x[i]);
	{
		float *a = t->scratch;
		size_t lo = 0, hi = n - 1, want = k - 1; /* index in descending order */

		while (lo < hi) {
			float pivot = a[(lo + hi) / 2];
			size_t i = lo, j = hi;

			while (i <= j) {
				while (a[i] > pivot)
					i++;
				while (a[j] < pivot)
					j--;
				if (i <= j) {
					float tmp = a[i];

					a[i] = a[j];
					a[j] = tmp;
					i++;
					if (j == 0)
						break;
					j--;
				}
			}
			if (want <= j)
				hi = j;
			else if (want >= i)
				lo = i;
			else
				break;
		}
		thr = a[want];
	}
	for (size_t i = 0; i < n; i++)
		above += fabsf(x[i]) > thr;
	keep_eq = k - above;
	for (size_t i = 0; i < n; i++) {
		float m = fabsf(x[i]);

		if (m > thr)
			continue;
		if (m == thr && keep_eq) {
			keep_eq--;
			continue;
		}
		x[i] = 0.0f;
	}
}

void as_topk_free(struct as_topk *t)
{
	free(t->scratch);
	t->scratch = NULL;
	t->scratch_n = 0;
}

int as_topk_parse_ops(const char *list, uint32_t *mask)
{
	static const struct {
		const char *name;
		uint32_t bits;
	} groups[] = {
		{ "qkv", 1u << AS_OP_Q },
		{ "o", 1u << AS_OP_O },
		{ "gateup", 1u << AS_OP_GATE },
		{ "down", 1u << AS_OP_DOWN },
		{ "all", 0 },
	};
	uint32_t m = 0;
	bool all = false;

	while (*list) {
		size_t len = strcspn(list, ",");
		bool found = false;

		for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
			if (strlen(groups[i].name) == len && !strncmp(groups[i].name, list, len)) {
				m |= groups[i].bits;
				all |= !groups[i].bits;
				found = true;
			}
		}
		if (!found)
			return -EINVAL;
		list += len;
		if (*list == ',' && !*++list)
			return -EINVAL; /* trailing comma: an empty name */
	}
	if (!m && !all)
		return -EINVAL; /* empty list */
	*mask = all ? 0 : m;
	return 0;
}

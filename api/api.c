// SPDX-License-Identifier: MIT
/*
 * The public library (include/activeswap.h): opening a GGUF or a store with its decoding
 * state, decoding, the KV cache, statistics. Tokens and sampling: api_tokens.c.
 * Built on the runtime's headers; Documentation/api.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/model.h"
#include "activeswap/swap.h"
#include "activeswap/swap_auto.h"
#include "activeswap/threadpool.h"
#include "activeswap/tokenizer.h"
#include "api_int.h"
#include "../runtime/errmsg.h"

#define CTX_MAX_DEFAULT 2048
#define BATCH_DEFAULT 512
#define THREADS_MAX 256
/* The first version's struct sizes: what every caller must pass at least. When a struct
 * grows, these stay. */
#define PARAMS_SIZE_0 (offsetof(struct asw_params, n_batch) + sizeof(uint32_t))

void asw_seterr(asw_model *m, const char *fmt, ...)
{
	va_list ap;

	if (!m)
		return;
	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	as_err_oneline(m->err); /* one line, whatever a file's names held */
}

int asw_take_struct(void *dst, size_t dst_size, const void *src, uint32_t src_size,
		    size_t min_size)
{
	if (src_size < min_size)
		return -EINVAL;
	for (size_t i = dst_size; i < src_size; i++)
		if (((const unsigned char *)src)[i])
			return -E2BIG;
	memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
	return 0;
}

void asw_params_init(struct asw_params *p)
{
	if (!p)
		return;
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	p->sparsity = -1;
	p->max_sparsity = 0.5f;
	p->backend = ASW_BACKEND_AUTO;
}

const char *asw_version(void)
{
	return "0.3.0";
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The parameters, checked: one line in err for the first bad one. */
static int check_params(const struct asw_params *p, char *err, size_t errlen)
{
	const uint32_t known = ASW_F_NO_REPACK | ASW_F_NO_PRELOAD | ASW_F_VERIFY |
			       ASW_F_LATENCY_FIXED;

	if (p->flags & ~known) {
		as_seterr(err, errlen, "unknown flags 0x%x", p->flags & ~known);
		return -EINVAL;
	}
	if (!(p->budget_fraction >= 0 && p->budget_fraction <= 1)) {
		as_seterr(err, errlen, "budget_fraction %g is not in [0, 1]",
			(double)p->budget_fraction);
		return -EINVAL;
	}
	if (!(p->sparsity < 0 || p->sparsity <= 0.99f) || p->sparsity != p->sparsity) {
		as_seterr(err, errlen, "sparsity %g is not in [0, 0.99] (or < 0: auto)",
			(double)p->sparsity);
		return -EINVAL;
	}
	if (!(p->max_sparsity >= 0 && p->max_sparsity <= 0.99f)) {
		as_seterr(err, errlen, "max_sparsity %g is not in [0, 0.99]",
			(double)p->max_sparsity);
		return -EINVAL;
	}
	if (!(p->latency_target_ms >= 0 && p->latency_target_ms <= 3600000.0f)) {
		as_seterr(err, errlen, "latency_target_ms %g is not in [0, 3600000]",
			(double)p->latency_target_ms);
		return -EINVAL;
	}
	if (p->latency_target_ms > 0 && p->sparsity >= 0) {
		as_seterr(err, errlen, "latency_target_ms chooses the sparsity: not with "
			"sparsity %g", (double)p->sparsity);
		return -EINVAL;
	}
	if (p->threads > THREADS_MAX) {
		as_seterr(err, errlen, "threads %u is more than %u", p->threads, THREADS_MAX);
		return -EINVAL;
	}
	if (p->backend < ASW_BACKEND_AUTO || p->backend > ASW_BACKEND_KMOD) {
		as_seterr(err, errlen, "backend %d is not an enum asw_backend", p->backend);
		return -EINVAL;
	}
	if (p->kv_type != ASW_KV_F16 && p->kv_type != ASW_KV_F32) {
		as_seterr(err, errlen, "kv_type %d is not an enum asw_kv_type", p->kv_type);
		return -EINVAL;
	}
	if (p->n_batch > (1u << 16)) {
		as_seterr(err, errlen, "n_batch %u is more than 65536", p->n_batch);
		return -EINVAL;
	}
	return 0;
}

static enum as_kv_type kv_type_of(const struct asw_params *p)
{
	return p->kv_type == ASW_KV_F32 ? AS_KV_F32 : AS_KV_F16;
}

static int dense_open(asw_model *m, const char *path, const struct asw_params *p)
{
	struct as_model_opts mo = { .repack = !(p->flags & ASW_F_NO_REPACK), .tp = m->tp };
	uint32_t ctx = p->n_ctx;
	char e[ASW_ERRLEN - 64];
	int r;

	r = as_model_load_opts(&m->dm, path, &mo, m->err, sizeof(m->err));
	if (r)
		return r;
	r = as_tokenizer_load(&m->own_tok, m->dm->gguf, e, sizeof(e));
	if (r) {
		asw_seterr(m, "%s: %s", path, e);
		return r;
	}
	m->tok = m->own_tok;
	if (as_tokenizer_n_vocab(m->tok) != m->dm->hp.n_vocab) {
		asw_seterr(m, "%s: tokenizer has %u tokens, model %u", path,
			   as_tokenizer_n_vocab(m->tok), m->dm->hp.n_vocab);
		return -EINVAL;
	}
	m->n_ctx_train = m->dm->hp.n_ctx_train;
	if (ctx == ASW_CTX_TRAIN)
		ctx = m->n_ctx_train ? m->n_ctx_train : CTX_MAX_DEFAULT;
	else if (!ctx)
		ctx = m->n_ctx_train && m->n_ctx_train < CTX_MAX_DEFAULT ? m->n_ctx_train :
		      CTX_MAX_DEFAULT;
	r = as_state_new(&m->st, m->dm, ctx, m->tp);
	if (!r)
		r = as_state_set_kv_type(m->st, kv_type_of(p));
	if (r) {
		asw_seterr(m, "cannot allocate the state for %u positions: %s", ctx, strerror(-r));
		return r;
	}
	as_eval_model_state(&m->em, m->st, p->n_batch ? p->n_batch : BATCH_DEFAULT);
	return 0;
}

static int store_forward(void *ctx, int32_t token, uint32_t pos, bool want_logits)
{
	return as_swap_forward(ctx, token, pos, want_logits);
}

static int store_forward_batch(void *ctx, const int32_t *tokens, uint32_t n, uint32_t pos0,
			       bool want_logits_last)
{
	return as_swap_forward_batch(ctx, tokens, n, pos0, want_logits_last);
}

static const float *store_logits(void *ctx)
{
	return as_swap_logits(ctx);
}

static const enum swap_backend_kind backends[] = {
	[ASW_BACKEND_AUTO] = SWAP_BACKEND_AUTO,
	[ASW_BACKEND_URING] = SWAP_BACKEND_URING,
	[ASW_BACKEND_PREAD] = SWAP_BACKEND_PREAD,
	[ASW_BACKEND_KMOD] = SWAP_BACKEND_KMOD,
};

/* As the CLI's store options with their defaults: the runtime's auto choices
 * (activeswap/swap_auto.h), quietly. */
static int store_open(asw_model *m, const char *path, const struct asw_params *p)
{
	const struct as_swap_auto_req req = {
		.sparsity = p->sparsity < 0 ? -1 : p->sparsity,
		.group = p->group,
		.max_sparsity = p->max_sparsity,
		.policy_auto = true,
		.gap_auto = true,
		.latency_target_s = p->latency_target_ms / 1000.0,
	};
	struct as_swap_auto a;
	struct as_swap_params sp;
	uint64_t budget;
	uint32_t nb;
	int r;

	memset(&sp, 0, sizeof(sp));
	sp.backend = backends[p->backend];
	sp.tp = m->tp;
	sp.no_preload = p->flags & ASW_F_NO_PRELOAD;
	/* the batch's scratch is reserved at open and counted in the budget */
	sp.batch = p->n_batch ? p->n_batch : BATCH_DEFAULT;
	sp.kv_type = kv_type_of(p);
	sp.verify_resident = true;
	sp.engine_flags = SWAP_F_MLOCK_TRY | (p->flags & ASW_F_VERIFY ? SWAP_F_VERIFY : 0);
	r = as_swap_auto_init(&a, &req, path, &sp, p->n_ctx == ASW_CTX_TRAIN ? 0 : p->n_ctx,
			      m->err, sizeof(m->err));
	if (!r && p->n_ctx == ASW_CTX_TRAIN) { /* again, with the context the store gives */
		uint32_t ctx = a.n_ctx_train ? a.n_ctx_train : CTX_MAX_DEFAULT;

		as_swap_auto_free(&a);
		r = as_swap_auto_init(&a, &req, path, &sp, ctx, m->err, sizeof(m->err));
	}
	if (r)
		return r;
	m->n_ctx_train = a.n_ctx_train;
	if (a.req.group > a.n_layers)
		a.req.group = a.n_layers;
	m->full_bytes = a.budget.full;
	budget = p->budget_bytes ? p->budget_bytes :
		 p->budget_fraction > 0 ? (uint64_t)((double)a.budget.full * p->budget_fraction) :
		 a.budget.full;
	if (!budget)
		budget = 1;
	r = as_swap_auto_choose(&a, path, budget, &sp, m->err, sizeof(m->err));
	if (!r && p->latency_target_ms > 0) {
		m->predicted_s = as_swap_auto_predicted_s(&a);
		m->latency_met = a.latency_met;
	}
	if (!r) {
		char e[ASW_ERRLEN] = "";

		r = as_swap_open(&m->sm, path, &sp, e, sizeof(e));
		if (r && !strncmp(e, path, strlen(path)) && e[strlen(path)] == ':')
			asw_seterr(m, "%s", e);
		else if (r)
			asw_seterr(m, "%s: %s", path, e);
	}
	as_swap_auto_free(&a);
	if (r)
		return r;
	if (!as_swap_meta(m->sm) ||
	    as_tokenizer_load(&m->own_tok, as_swap_meta(m->sm), m->err, sizeof(m->err))) {
		asw_seterr(m, "%s: no usable tokenizer in the store's metadata", path);
		return -EINVAL;
	}
	m->tok = m->own_tok;
	if (p->latency_target_ms > 0 && !(p->flags & ASW_F_LATENCY_FIXED)) {
		struct as_latency_model lm;

		as_latency_init(&m->own_lat, p->latency_target_ms / 1000.0,
				as_swap_sparsity(m->sm), p->max_sparsity);
		as_swap_auto_latency_model(&a, &lm);
		as_latency_set_model(&m->own_lat, &lm); /* valid by construction */
		asw_set_latency(m, m->sm, &m->own_lat); /* row mode: fixed at 0 */
	}
	nb = as_swap_batch(m->sm); /* the open may have halved it to fit the budget */
	m->em = (struct as_eval_model){ store_forward, store_logits, m->sm,
					as_swap_n_vocab(m->sm), as_swap_n_ctx(m->sm),
					nb > 1 ? store_forward_batch : NULL, nb };
	return 0;
}

int asw_open(asw_model **out, const char *path, const struct asw_params *params,
	     char *err, size_t errlen)
{
	struct asw_params p;
	asw_model *m;
	long n_cpu;
	bool store;
	int r;

	if (err && errlen)
		err[0] = 0;
	if (!out || !path) {
		as_seterr(err, errlen, "asw_open: NULL %s", out ? "path" : "out");
		return -EINVAL;
	}
	*out = NULL;
	asw_params_init(&p);
	if (params) {
		r = asw_take_struct(&p, sizeof(p), params, params->size, PARAMS_SIZE_0);
		if (r) {
			if (r == -E2BIG)
				as_seterr(err, errlen, "asw_params: size %u holds options this "
					"library (%s) does not know", params->size, asw_version());
			else
				as_seterr(err, errlen, "asw_params: size %u is too small (set it "
					"with asw_params_init)", params->size);
			return r;
		}
	}
	r = check_params(&p, err, errlen);
	if (r)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m) {
		as_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->owned = true;
	store = as_swap_is_store(path);
	n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
	m->threads = p.threads ? p.threads : store ? 2 : n_cpu < 1 ? 1 : n_cpu > 8 ? 8 :
		     (uint32_t)n_cpu;
	m->tp = as_tp_create((int)m->threads);
	if (!m->tp) {
		r = errno ? -errno : -ENOMEM;
		asw_seterr(m, "cannot start %u threads: %s", m->threads, strerror(-r));
	} else {
		r = store ? store_open(m, path, &p) : dense_open(m, path, &p);
	}
	if (r) {
		as_seterr(err, errlen, "%s", m->err[0] ? m->err : strerror(-r));
		asw_close(m);
		return r;
	}
	*out = m;
	return 0;
}

int asw_adopt(asw_model **out, const struct as_eval_model *em, const struct as_tokenizer *tok)
{
	asw_model *m;

	if (!out || !em || !tok || !em->forward || !em->logits)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->em = *em;
	m->tok = tok;
	*out = m;
	return 0;
}

void asw_close(asw_model *m)
{
	if (!m)
		return;
	if (m->owned) {
		as_swap_close(m->sm);
		as_state_free(m->st);
		as_tokenizer_free(m->own_tok);
		as_model_free(m->dm);
		if (m->tp)
			as_tp_destroy(m->tp);
	}
	free(m);
}

const char *asw_errmsg(const asw_model *m)
{
	return m ? m->err : "NULL handle";
}

uint32_t asw_n_vocab(const asw_model *m)
{
	return m ? (uint32_t)m->em.n_vocab : 0;
}

uint32_t asw_n_ctx(const asw_model *m)
{
	return m ? m->em.n_ctx : 0;
}

uint32_t asw_n_past(const asw_model *m)
{
	return m ? m->n_past : 0;
}

int asw_set_latency(asw_model *m, struct as_swap_model *sm, struct as_latency *c)
{
	m->lat = NULL;
	if (as_swap_row_mode(sm))
		return -EOPNOTSUPP;
	m->lat = c;
	m->lat_sm = sm;
	return 0;
}

int asw_decode(asw_model *m, const int32_t *tokens, size_t n)
{
	size_t done = 0;
	double t0, dt;
	int r;

	if (!m)
		return -EINVAL;
	if (!tokens || !n) {
		asw_seterr(m, "asw_decode: no tokens");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (tokens[i] < 0 || (size_t)tokens[i] >= m->em.n_vocab) {
			asw_seterr(m, "asw_decode: token %zu (%d) is not in the vocabulary of %zu",
				   i, tokens[i], m->em.n_vocab);
			return -EINVAL;
		}
	}
	if (n > m->em.n_ctx - m->n_past) {
		asw_seterr(m, "asw_decode: %zu tokens after %u do not fit the context of %u",
			   n, m->n_past, m->em.n_ctx);
		return -ERANGE;
	}
	m->have_logits = false;
	t0 = now_s();
	r = as_eval_feed(&m->em, tokens, n, m->n_past, true, &done);
	dt = now_s() - t0;
	m->decode_s += dt;
	/* a generated token: the latency target's feedback sets the next one's sparsity
	 * (the values it takes are all in [0, 1): no failure) */
	if (!r && n == 1 && m->lat && as_latency_step(m->lat, dt)) {
		as_swap_set_sparsity(m->lat_sm, m->lat->s);
		if (m->lat->gap != AS_LATENCY_NO_GAP)
			as_swap_set_gap(m->lat_sm, m->lat->gap);
		/* the precision rung (--expert-precision auto); the open allocated the low
		 * kinds' slots, else -EOPNOTSUPP and nothing moves */
		if (m->lat->rungs.n > 1) {
			uint32_t id = m->lat->rungs.id[m->lat->rung];

			as_swap_set_expert_precision(m->lat_sm, as_xprec_rung_x(id),
						     as_xprec_rung_high(id));
		}
	}
	m->n_past += (uint32_t)done;
	m->tokens += done;
	if (r) {
		const char *why = m->sm ? as_swap_error(m->sm) : "";

		asw_seterr(m, "forward failed at position %u: %s%s%s", m->n_past,
			   strerror(-r), why[0] ? ": " : "", why);
		return r;
	}
	m->have_logits = true;
	return 0;
}

const float *asw_logits(const asw_model *m)
{
	return m && m->have_logits ? m->em.logits(m->em.ctx) : NULL;
}

int asw_kv_trim(asw_model *m, uint32_t n_keep)
{
	if (!m)
		return -EINVAL;
	if (n_keep > m->n_past) {
		asw_seterr(m, "asw_kv_trim: %u positions asked, %u held", n_keep, m->n_past);
		return -ERANGE;
	}
	m->n_past = n_keep;
	m->have_logits = false;
	return 0;
}

int asw_kv_clear(asw_model *m)
{
	return asw_kv_trim(m, 0);
}

static void store_stats(asw_model *m, struct asw_stats *s)
{
	struct as_swap_stats ss;
	struct swap_stats es;

	as_swap_stats(m->sm, &ss);
	as_swap_io_stats(m->sm, &es);
	s->is_store = 1;
	s->n_layers = as_swap_n_layers(m->sm);
	s->budget_bytes = ss.budget_bytes;
	s->full_bytes = m->full_bytes;
	s->sparsity = as_swap_sparsity(m->sm);
	s->group = as_swap_group(m->sm);
	s->flash_bytes = es.total.bytes_read;
	s->lookups = ss.total.lookups;
	s->hits = ss.total.hits;
	s->stall_ns = es.total.stall_ns;
	s->backend = as_swap_backend_name(m->sm);
}

int asw_get_stats(asw_model *m, struct asw_stats *out)
{
	struct asw_stats s;

	if (!m || !out)
		return -EINVAL;
	if (out->size < offsetof(struct asw_stats, backend) + sizeof(s.backend)) {
		asw_seterr(m, "asw_stats: size %u is too small", out->size);
		return -EINVAL;
	}
	memset(&s, 0, sizeof(s));
	s.n_ctx = m->em.n_ctx;
	s.n_past = m->n_past;
	s.n_vocab = (uint32_t)m->em.n_vocab;
	s.threads = m->threads;
	s.tokens = m->tokens;
	s.decode_s = m->decode_s;
	s.backend = "";
	s.n_ctx_train = m->n_ctx_train;
	s.predicted_s_per_token = m->predicted_s;
	s.latency_met = m->latency_met;
	if (m->dm)
		s.n_layers = m->dm->hp.n_layer;
	if (m->st) {
		s.kv_type = as_kv_type_name(m->st->kv_type);
		s.kv_bytes = as_kv_bytes(&m->dm->hp, m->st->n_ctx, m->st->kv_type);
	} else if (m->sm) {
		s.kv_type = as_kv_type_name(as_swap_kv_type(m->sm));
		s.kv_bytes = as_swap_kv_bytes(m->sm);
	} else {
		s.kv_type = "";
	}
	if (m->sm)
		store_stats(m, &s);
	if (m->lat) {
		s.latency_sparsity_start = m->lat->s_start;
		s.latency_sparsity_mean = as_latency_mean_sparsity(m->lat);
		s.latency_ratio = m->lat->ratio;
		s.latency_changes = m->lat->changes;
	}
	s.size = out->size < sizeof(s) ? out->size : (uint32_t)sizeof(s);
	memcpy(out, &s, s.size);
	return 0;
}

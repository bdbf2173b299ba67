// SPDX-License-Identifier: MIT
/* Text generation shared by run and chat over a GGUF and over a store (see generate.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "activeswap.h"
#include "activeswap/attention.h"
#include "activeswap/sampler.h"
#include "cli.h"
#include "generate.h"
#include "tp.h"

void gen_params_init(struct gen_params *g, long n_predict, bool store)
{
	long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);

	*g = (struct gen_params){
		.n_predict = n_predict,
		.threads = store ? 2 : n_cpu < 1 ? 1 : n_cpu > 8 ? 8 : n_cpu,
		.top_k = AS_SAMPLER_DEFAULT_TOP_K,
		.temp = AS_SAMPLER_DEFAULT_TEMP,
		.top_p = AS_SAMPLER_DEFAULT_TOP_P,
		.repeat_penalty = 1.0,
		.repeat_last_n = 64,
		.batch = GEN_BATCH_DEFAULT,
		.kv_type = AS_KV_F16,
	};
}

void gen_args(struct gen_params *g, long min_predict, struct arg_opt opts[GEN_NOPTS])
{
	const struct arg_opt t[GEN_NOPTS] = {
		ARG_OPT_LONG("--n-predict", "-n", &g->n_predict, min_predict, 1 << 24),
		ARG_OPT_LONG("--threads", "-t", &g->threads, 1, 256),
		ARG_OPT_LONG("--ctx-size", "-c", &g->ctx, 1, 1 << 24),
		ARG_OPT_LONG("--batch-size", "-b", &g->batch, 1, 1 << 16),
		ARG_OPT_FN("--kv-type", NULL, &g->kv_type, cli_kv_type),
		ARG_OPT_DOUBLE("--temp", NULL, &g->temp, 0, 100),
		ARG_OPT_LONG("--top-k", NULL, &g->top_k, 0, 1 << 24),
		ARG_OPT_DOUBLE("--top-p", NULL, &g->top_p, 0, 1),
		ARG_OPT_DOUBLE("--min-p", NULL, &g->min_p, 0, 1),
		ARG_OPT_DOUBLE("--repeat-penalty", NULL, &g->repeat_penalty, 0.01, 100),
		ARG_OPT_LONG("--repeat-last-n", NULL, &g->repeat_last_n, 0, 1 << 16),
		{ .name = "--seed", .alias = "-s", .kind = ARG_U64, .ptr = &g->seed,
		  .umax = UINT64_MAX, .seen = &g->have_seed },
		ARG_OPT_END,
	};

	memcpy(opts, t, sizeof(t));
}

void gen_params_done(struct gen_params *g)
{
	if (!g->have_seed)
		g->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	/* under mpirun every rank samples the same (replicated) logits: rank 0's seed */
	tp_bcast_u64(&g->seed);
}

int32_t gen_asw_kv_type(const struct gen_params *g)
{
	return g->kv_type == AS_KV_F32 ? ASW_KV_F32 : ASW_KV_F16;
}

asw_sampler *gen_sampler(const struct gen_params *g, asw_model *m)
{
	struct asw_sampler_params sp;
	asw_sampler *s;

	asw_sampler_params_init(&sp);
	sp.temp = (float)g->temp;
	sp.top_k = (int32_t)g->top_k;
	sp.top_p = (float)g->top_p;
	sp.seed = g->seed;
	sp.min_p = (float)g->min_p;
	sp.repeat_penalty = (float)g->repeat_penalty;
	sp.repeat_last_n = (int32_t)g->repeat_last_n;
	return asw_sampler_new(&s, m, &sp) ? NULL : s;
}

static bool text_open; /* the text on stdout does not end with a newline */

static void put_piece(const asw_model *m, int32_t id)
{
	size_t len = 0;
	const char *p = asw_token_piece(m, id, &len);

	if (p)
		fwrite(p, 1, len, stdout);
	fflush(stdout);
	if (len)
		text_open = p[len - 1] != '\n';
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

void gen_end_text(void)
{
	struct stat so;

	if (!text_open)
		return;
	text_open = false;
	if (isatty(STDOUT_FILENO) || same_file(STDOUT_FILENO, STDERR_FILENO)) {
		putchar('\n');
		fflush(stdout);
	} else if (!fstat(STDOUT_FILENO, &so) && S_ISFIFO(so.st_mode) &&
		   isatty(STDERR_FILENO)) {
		fputc('\n', stderr);
	}
}

int gen_feed(const char *sub, asw_model *m, const int32_t *ids, size_t n, size_t pos0)
{
	int r;

	if (!n)
		return 0;
	r = pos0 > UINT32_MAX ? -ERANGE : asw_kv_trim(m, (uint32_t)pos0);
	if (!r)
		r = asw_decode(m, ids, n);
	if (r) {
		cli_err(sub, "%s", asw_errmsg(m));
		return -1;
	}
	return 0;
}

static int keep_id(struct run_gen *g, int32_t id)
{
	if (g->n_ids == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		int32_t *p = realloc(g->ids, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		g->ids = p;
		g->cap = cap;
	}
	g->ids[g->n_ids++] = id;
	return 0;
}

int gen_decode(const char *sub, asw_model *m, asw_sampler *smp, long n_predict, long ctx,
	       const volatile sig_atomic_t *stop, struct run_gen *g)
{
	size_t pos = asw_n_past(m);
	double t0 = cli_now();
	bool keep = g->ids != NULL;
	int r;

	g->n_gen = 0;
	g->ctx_full = g->eog = g->interrupted = false;
	g->n_past = pos;
	/* Sample from the current logits, print, feed back. */
	while (g->n_gen < n_predict) {
		int32_t next;

		if (stop && *stop) {
			g->interrupted = true;
			break;
		}
		next = asw_sample(smp, m);
		if (next < 0) {
			cli_err(sub, "no logits to sample from at position %zu", pos);
			return -1;
		}
		if (asw_token_is_eog(m, next)) {
			g->eog = true;
			break;
		}
		put_piece(m, next);
		asw_sampler_accept(smp, next);
		g->n_gen++;
		if (keep && keep_id(g, next)) {
			cli_err(sub, "out of memory");
			return -1;
		}
		if (g->n_gen == n_predict)
			break;
		if (pos >= (size_t)ctx) {
			g->ctx_full = true;
			break;
		}
		r = asw_decode(m, &next, 1);
		if (r) {
			cli_err(sub, "%s", asw_errmsg(m));
			return -1;
		}
		g->n_past = ++pos;
	}
	g->t_decode = cli_now() - t0;
	return 0;
}

int run_generate(const char *sub, asw_model *m, asw_sampler *smp, const int32_t *ids,
		 size_t n_ids, long n_predict, long ctx, const volatile sig_atomic_t *stop,
		 struct run_gen *g)
{
	int32_t *keep = g->ids;
	size_t cap = g->cap;
	double t0;

	memset(g, 0, sizeof(*g));
	g->ids = keep;
	g->cap = cap;
	/* Prompt: echo it, then run it; logits only for the last position. */
	for (size_t i = 0; i < n_ids; i++) {
		put_piece(m, ids[i]);
		asw_sampler_accept(smp, ids[i]);
	}
	t0 = cli_now();
	if (gen_feed(sub, m, ids, n_ids, 0))
		return -1;
	g->t_prompt = cli_now() - t0;
	return gen_decode(sub, m, smp, n_predict, ctx, stop, g);
}

// SPDX-License-Identifier: MIT
/*
 * activeswap run: generate text from a dense GGUF model, or from a store (.asw, by magic)
 * through the swapping runtime under a DRAM budget.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "activeswap.h"
#include "activeswap/eval.h"
#include "activeswap/threadpool.h"
#include "activeswap/tokenizer.h"
#include "activeswap/swap.h"
#include "api_int.h"
#include "args.h"
#include "cli.h"
#include "generate.h"
#include "swap_cli.h"
#include "tp.h"

static const char run_usage[] =
	"usage: activeswap run -m MODEL [options]\n"
	"\n"
	"Generate text: prints the prompt and the continuation as it is generated, then one\n"
	"summary line (load time, prompt and decode tokens/s, peak RSS) on stderr.\n"
	"\n"
	"  -m, --model PATH      GGUF model (llama, qwen2, qwen3; MoE: Mixtral, qwen3moe)\n"
	"  -p, --prompt TEXT     prompt (default: empty, BOS only)\n"
	"  -f, --file PATH       prompt from a file (instead of -p)\n"
	"  -n, --n-predict N     tokens to generate (default 128; -1: until the context\n"
	"                        is full; stops early at an end-of-generation token:\n"
	"                        EOS, EOT)\n"
	"      --no-special      control tokens written in the prompt (\"<|im_start|>\")\n"
	"                        are plain text (default: they are tokens)\n"
	"      --temp T          temperature; 0 = greedy (default 0.8)\n"
	"      --top-k K         top-k cut, 0 = off (default 40)\n"
	"      --top-p P         top-p cut, 1 = off (default 0.95)\n"
	"      --min-p P         min-p cut: keep tokens at least P times as likely as\n"
	"                        the most likely one, 0 = off (default 0)\n"
	"      --repeat-penalty R  penalize the tokens of the last --repeat-last-n N\n"
	"                        (default 64) as llama.cpp does, 1 = off (default 1)\n"
	"  -s, --seed S          PRNG seed (default: from the clock)\n"
	"  -t, --threads N       compute threads (default: online CPUs, at most 8)\n"
	"  -c, --ctx-size N      context positions (default: prompt + n, at most the\n"
	"                        model's context_length; with -n -1 that length)\n"
	"  -b, --batch-size N    prompt tokens per batch (default 512; 1: one by one)\n"
	CLI_KV_TYPE_USAGE
	"      --no-repack       use the weights in place (default: repack Q4_0, and at\n"
	"                        AVX-512 Q4_K Q5_K Q8_0, into anonymous memory for faster\n"
	"                        matvecs)\n"
	"      --json            after the text, one JSON object with the figures and the\n"
	"                        generated token ids (generated_ids) on stdout\n"
	"      --print-token-ids print the prompt's token ids as [a, b, ...] and exit\n"
	"  -h, --help            this text\n"
	"\nCtrl-C stops the generation and prints the summary of what was generated (exit\n"
	"status 130).\n"
	"\nA store made by 'activeswap convert' (-m MODEL.asw) runs under a DRAM budget with\n"
	"active-weight swapping, with these options too (not --no-repack, --print-token-ids):\n"
	"\n"
	SWAP_CLI_USAGE;

#define SUB "run"
static const char run_store_usage[] =
	"usage: activeswap run -m STORE.asw [options]   (a GGUF runs dense; see run --help)\n"
	"\n"
	"  -p, --prompt TEXT   -f, --file PATH   -n, --n-predict N   --temp T   --top-k K\n"
	"  --top-p P   --min-p P   --repeat-penalty R   --repeat-last-n N   -s, --seed S\n"
	"  -t, --threads N   -c, --ctx-size N   --no-special   --json   as for a GGUF\n"
	"                      (-n -1: until the context, by default 2048, is full)\n"
	"  -b, --batch-size N  prompt tokens per batch (default 512; 1: one by one): each\n"
	"                      layer's weights fetched once per batch; its scratch is in\n"
	"                      the budget\n"
	"  --kv-type f16|f32   the KV cache's element type (default f16), in the budget\n"
	SWAP_CLI_USAGE;

struct run_opts {
	const char *model, *prompt, *file;
	char *file_text; /* -f: the prompt read from the file (owned) */
	struct gen_params gen; /* -n, -t, -c, sampling */
	bool json, print_ids, no_repack, no_special;
	struct swap_cli swap; /* a store's options */
};

/* -1: go on, else the exit status. A store takes the store options, a GGUF
 * --print-token-ids; --no-repack is accepted by both (a store has nothing to repack). */
static int parse(struct run_opts *o, bool store, int argc, char **argv)
{
	const struct arg_opt common[] = {
		ARG_OPT_STR("--model", "-m", &o->model),
		ARG_OPT_STR("--prompt", "-p", &o->prompt),
		ARG_OPT_STR("--file", "-f", &o->file),
		ARG_OPT_BOOL("--json", NULL, &o->json),
		ARG_OPT_BOOL("--no-repack", NULL, &o->no_repack),
		ARG_OPT_BOOL("--no-special", NULL, &o->no_special),
		ARG_OPT_END,
	};
	const struct arg_opt dense[] = {
		ARG_OPT_BOOL("--print-token-ids", NULL, &o->print_ids),
		ARG_OPT_END,
	};
	struct arg_opt gen[GEN_NOPTS], swap[SWAP_CLI_NOPTS];
	const struct arg_spec spec = {
		.sub = SUB,
		.tables = { common, gen, store ? swap : dense },
		.usage = store ? run_store_usage : run_usage,
	};

	gen_args(&o->gen, -1, gen);
	swap_cli_args(&o->swap, swap);
	return args_parse(&spec, argc, argv);
}

/* BOS as the vocabulary asks; control tokens in the text parsed unless --no-special.
 * 0, or -1 (out of memory). */
static int tokenize_prompt(const struct run_opts *o, asw_model *m, int32_t **ids,
			   size_t *n_ids)
{
	uint32_t flags = ASW_TOK_BOS | (o->no_special ? 0 : ASW_TOK_SPECIAL);
	size_t len = strlen(o->prompt);
	int64_t n = asw_tokenize(m, o->prompt, len, flags, NULL, 0);

	*ids = n > 0 ? malloc((size_t)n * sizeof(**ids)) : NULL;
	if (n < 0 || (n > 0 && !*ids))
		return -1;
	*n_ids = (size_t)n;
	return n ? (asw_tokenize(m, o->prompt, len, flags, *ids, (size_t)n) == n ? 0 : -1) : 0;
}

/* With --json, keep the generated ids for its generated_ids list. */
static int keep_ids(const struct run_opts *o, struct run_gen *g)
{
	if (!o->json)
		return 0;
	g->ids = malloc(256 * sizeof(*g->ids));
	if (!g->ids) {
		cli_err(SUB, "out of memory");
		return -1;
	}
	g->cap = 256;
	return 0;
}

static void json_ids(const struct run_gen *g)
{
	printf(", \"generated_ids\": [");
	for (size_t i = 0; i < g->n_ids; i++)
		printf("%s%d", i ? ", " : "", g->ids[i]);
	printf("]");
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Ctrl-C during the generation: stop after the current token, print the summary. */
static void catch_sigint(bool on)
{
	static struct sigaction old;
	struct sigaction sa;

	if (!on) {
		sigaction(SIGINT, &old, NULL);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, &old);
}

/* -n -1: as many as the context holds */
static long n_predict_of(const struct run_opts *o)
{
	return o->gen.n_predict < 0 ? LONG_MAX : o->gen.n_predict;
}

static int run_dense(struct run_opts *o)
{
	struct asw_params p;
	struct asw_stats st = { .size = sizeof(st) };
	asw_model *m = NULL;
	asw_sampler *smp = NULL;
	int32_t *ids = NULL;
	size_t n_ids = 0;
	long ctx = o->gen.ctx;
	struct run_gen g = { 0 };
	double t0, t_load;
	char err[512];
	int rc = 1, r;

	t0 = cli_now();
	asw_params_init(&p);
	p.threads = (uint32_t)o->gen.threads;
	p.n_batch = (uint32_t)o->gen.batch;
	p.kv_type = gen_asw_kv_type(&o->gen);
	/* -c, else every position the model has (the KV cache is allocated lazily) */
	p.n_ctx = ctx ? (uint32_t)ctx : ASW_CTX_TRAIN;
	if (o->no_repack || o->print_ids)
		p.flags |= ASW_F_NO_REPACK;
	r = asw_open(&m, o->model, &p, err, sizeof(err));
	if (r) {
		cli_model_err(SUB, o->model, err);
		goto out;
	}
	asw_get_stats(m, &st);
	if (tokenize_prompt(o, m, &ids, &n_ids)) {
		cli_err(SUB, "out of memory tokenizing the prompt");
		goto out;
	}
	if (o->print_ids) {
		printf("[");
		for (size_t i = 0; i < n_ids; i++)
			printf("%s%d", i ? ", " : "", ids[i]);
		printf("]\n");
		rc = 0;
		goto out;
	}
	if (!n_ids) {
		cli_err(SUB, "empty prompt and the model has no BOS token");
		goto out;
	}
	if (!ctx) {
		ctx = o->gen.n_predict < 0 ? (long)st.n_ctx_train :
					     (long)n_ids + o->gen.n_predict;
		if (ctx > (long)st.n_ctx_train)
			ctx = st.n_ctx_train;
	} else if (ctx > (long)st.n_ctx_train) {
		fprintf(stderr, "activeswap %s: warning: context %ld is beyond the model's "
			"training context (%u)\n", SUB, ctx, st.n_ctx_train);
	}
	if ((size_t)ctx < n_ids) {
		cli_err(SUB, "prompt has %zu tokens, more than the context (%ld)", n_ids, ctx);
		rc = 2;
		goto out;
	}
	smp = gen_sampler(&o->gen, m);
	if (!smp) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	t_load = cli_now() - t0;

	catch_sigint(true);
	r = keep_ids(o, &g) ? -1 :
	    run_generate(SUB, m, smp, ids, n_ids, n_predict_of(o), ctx, &interrupted, &g);
	catch_sigint(false);
	if (r)
		goto out;
	rc = g.interrupted ? 130 : 0;
	{
		long runs = g.n_gen > 1 ? g.n_gen - 1 : 0;
		double pps = g.t_prompt > 0 ? (double)n_ids / g.t_prompt : 0;
		double dps = g.t_decode > 0 && runs ? (double)runs / g.t_decode : 0;
		uint64_t rss = cli_peak_rss_bytes();

		gen_end_text();
		fprintf(stderr, "activeswap run: load %.3f s, prompt %zu tokens %.2f tok/s, "
			"decode %ld tokens %.2f tok/s%s, %ld threads, peak RSS %.1f MiB\n", t_load,
			n_ids, pps, g.n_gen, dps, g.ctx_full ? " (context full)" :
			g.interrupted ? " (interrupted)" : "", o->gen.threads, (double)rss / (1 << 20));
		if (o->json) {
			printf("\n{\"model\": ");
			cli_json_str(stdout, o->model);
			printf(", \"threads\": %ld, \"ctx\": %ld, \"load_s\": %.6f, "
			       "\"prompt_tokens\": %zu, \"prompt_tokens_per_s\": %.3f, "
			       "\"n_generated\": %ld, \"tokens_per_s\": %.3f, \"prompt_s\": %.6f, "
			       "\"decode_s\": %.6f, \"context_full\": %s, \"interrupted\": %s, "
			       "\"peak_rss_bytes\": %llu, \"seed\": %llu", o->gen.threads, ctx,
			       t_load, n_ids, pps, g.n_gen, dps, g.t_prompt, g.t_decode,
			       g.ctx_full ? "true" : "false", g.interrupted ? "true" : "false",
			       (unsigned long long)rss, (unsigned long long)o->gen.seed);
			asw_get_stats(m, &st); /* (the KV cache as made) */
			printf(", \"kv_type\": \"%s\", \"kv_bytes\": %llu", st.kv_type,
			       (unsigned long long)st.kv_bytes);
			json_ids(&g);
			printf("}\n");
		}
	}
out:
	fflush(stdout);
	free(ids);
	free(g.ids);
	asw_sampler_free(smp);
	asw_close(m);
	return rc;
}

static int run_store(struct run_opts *o)
{
	struct swap_cli *so = &o->swap;
	struct as_threadpool *tp = NULL;
	struct as_swap_model *m = NULL;
	struct as_tokenizer *tok = NULL;
	struct as_eval_model em;
	asw_model *am = NULL; /* the library's handle over m (generate.c) */
	asw_sampler *smp = NULL;
	int32_t *ids = NULL;
	size_t n_ids = 0;
	long ctx = o->gen.ctx;
	uint64_t open_stall_ns = 0;
	struct run_gen g = { 0 };
	double t0, t_load;
	char err[256];
	int rc = 1, r;

	t0 = cli_now();
	tp = as_tp_create((int)o->gen.threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads: %s", o->gen.threads, strerror(errno));
		goto out;
	}
	so->ctx_default = o->gen.n_predict < 0 || o->gen.n_predict + 64 > 2048 ?
			  2048 : (uint32_t)o->gen.n_predict + 64;
	so->batch = (uint32_t)o->gen.batch;
	so->kv_type = o->gen.kv_type;
	if (swap_cli_open(so, SUB, o->model, tp, (uint32_t)ctx, false, &m))
		goto out;
	if (ctx && so->aut.n_ctx_train && ctx > (long)so->aut.n_ctx_train)
		fprintf(stderr, "activeswap %s: warning: context %ld is beyond the model's "
			"training context (%u)\n", SUB, ctx, so->aut.n_ctx_train);
	ctx = so->aut.n_ctx;
	{
		struct swap_stats es;

		/* waits at open (pinned bundles) are outside every token */
		as_swap_io_stats(m, &es);
		open_stall_ns = es.total.stall_ns;
	}
	if (!as_swap_meta(m) ||
	    as_tokenizer_load(&tok, as_swap_meta(m), err, sizeof(err))) {
		cli_err(SUB, "%s: no usable tokenizer in the store's metadata", o->model);
		goto out;
	}
	swap_cli_eval_model(m, (uint32_t)ctx, &em);
	if (asw_adopt(&am, &em, tok)) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	swap_cli_latency_attach(so, SUB, am, m);
	if (tokenize_prompt(o, am, &ids, &n_ids) || !n_ids) {
		cli_err(SUB, "cannot tokenize the prompt (or empty prompt without BOS)");
		goto out;
	}
	if ((long)n_ids >= ctx) {
		cli_err(SUB, "prompt has %zu tokens, context is %ld", n_ids, ctx);
		rc = 2;
		goto out;
	}
	smp = gen_sampler(&o->gen, am);
	if (!smp)
		goto out;
	t_load = cli_now() - t0;
	catch_sigint(true);
	r = keep_ids(o, &g) ? -1 :
	    run_generate(SUB, am, smp, ids, n_ids, n_predict_of(o), ctx, &interrupted, &g);
	catch_sigint(false);
	if (r)
		goto out;
	gen_end_text();
	{
		long runs = g.n_gen > 1 ? g.n_gen - 1 : 0;
		double dps = g.t_decode > 0 && runs ? runs / g.t_decode : 0;
		/* the decode's forward passes (one per token but the last, one per token at
		 * an end-of-generation token) */
		double per_tok = g.n_past > n_ids ? g.t_decode / (double)(g.n_past - n_ids) : 0;

		if (!tp_rank()) /* under mpirun: rank 0's (tools/tp.h) */
			fprintf(stderr, "activeswap run: load %.3f s, prompt %zu tokens %.2f "
				"tok/s, decode %ld tokens %.2f tok/s%s, %ld threads, sparsity "
				"%.2f, group %u, budget %.1f MiB, peak RSS %.1f MiB\n", t_load,
				n_ids, g.t_prompt > 0 ? n_ids / g.t_prompt : 0, g.n_gen, dps,
				g.ctx_full ? " (context full)" :
				g.interrupted ? " (interrupted)" : "",
				o->gen.threads, (double)as_swap_sparsity(m), as_swap_group(m),
				so->aut.budget_bytes / 1048576.0,
				cli_peak_rss_bytes() / 1048576.0);
		if (so->stats)
			swap_cli_print_stats(m, stderr);
		if (so->stats || so->latency_ms > 0)
			swap_cli_print_latency(so, SUB, per_tok, stderr);
		if (o->json) {
			printf("\n{\"model\": ");
			cli_json_str(stdout, o->model);
			printf(", \"threads\": %ld, \"ctx\": %ld, \"load_s\": %.6f, "
			       "\"prompt_tokens\": %zu, \"prompt_tokens_per_s\": %.3f, "
			       "\"prompt_s\": %.6f, \"batch\": %u, "
			       "\"n_generated\": %ld, \"tokens_per_s\": %.3f, \"decode_s\": %.6f, "
			       "\"context_full\": %s, "
			       "\"interrupted\": %s, \"peak_rss_bytes\": %llu, \"seed\": %llu",
			       o->gen.threads, ctx, t_load, n_ids,
			       g.t_prompt > 0 ? n_ids / g.t_prompt : 0, g.t_prompt,
			       as_swap_batch(m) > 1 ? as_swap_batch(m) : 1, g.n_gen, dps,
			       g.t_decode, g.ctx_full ? "true" : "false",
			       g.interrupted ? "true" : "false",
			       (unsigned long long)cli_peak_rss_bytes(),
			       (unsigned long long)o->gen.seed);
			if (so->stats)
				swap_cli_json_layers(m, open_stall_ns, stdout);
			swap_cli_json(m, so, stdout);
			swap_cli_json_latency(so, per_tok, stdout);
			json_ids(&g);
			printf("}\n");
		}
	}
	rc = g.interrupted ? 130 : 0;
out:
	fflush(stdout);
	free(ids);
	free(g.ids);
	asw_sampler_free(smp);
	asw_close(am);
	as_tokenizer_free(tok);
	as_swap_close(m);
	if (tp)
		as_tp_destroy(tp);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	bool store = swap_cli_store_arg(argc, argv); /* the options depend on it */
	struct run_opts o = { .prompt = "" };
	int rc;

	gen_params_init(&o.gen, 128, store);
	swap_cli_init(&o.swap);
	rc = parse(&o, store, argc, argv);
	if (rc >= 0)
		return rc;
	if (store && swap_cli_check(&o.swap, SUB))
		return 2;
	if (!o.model) {
		cli_err(SUB, "-m MODEL is required (see --help)");
		return 2;
	}
	if (o.file) {
		size_t len;

		if (o.prompt[0]) {
			cli_err(SUB, "-p and -f both give the prompt: choose one");
			return 2;
		}
		if (swap_cli_read_text(SUB, o.file, &o.file_text, &len))
			return 1;
		if (strlen(o.file_text) != len) {
			cli_err(SUB, "%s: the prompt file holds a NUL byte", o.file);
			free(o.file_text);
			return 1;
		}
		o.prompt = o.file_text;
	}
	gen_params_done(&o.gen);
	rc = store ? run_store(&o) : run_dense(&o);
	free(o.file_text);
	return rc;
}

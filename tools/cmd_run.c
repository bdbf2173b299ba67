// SPDX-License-Identifier: MIT
/* activeswap run: generate text from a dense GGUF model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/eval.h"
#include "activeswap/model.h"
#include "activeswap/sampler.h"
#include "activeswap/threadpool.h"
#include "activeswap/tokenizer.h"
#include "activeswap/swap.h"
#include "cli.h"
#include "swap_cli.h"

static const char run_usage[] =
	"usage: activeswap run -m MODEL [options]\n"
	"\n"
	"Generate text: prints the prompt and the continuation as it is generated, then one\n"
	"summary line (load time, prompt and decode tokens/s, peak RSS) on stderr.\n"
	"\n"
	"  -m, --model PATH      GGUF model (llama architecture)\n"
	"  -p, --prompt TEXT     prompt (default: empty, BOS only)\n"
	"  -n, --n-predict N     tokens to generate (default 128; stops early at EOS)\n"
	"      --temp T          temperature; 0 = greedy (default 0.8)\n"
	"      --top-k K         top-k cut, 0 = off (default 40)\n"
	"      --top-p P         top-p cut, 1 = off (default 0.95)\n"
	"      --seed S          PRNG seed (default: from the clock)\n"
	"  -t, --threads N       compute threads (default: online CPUs, at most 8)\n"
	"  -c, --ctx-size N      context positions (default: prompt + n, at most the\n"
	"                        model's context_length)\n"
	"      --no-repack       use Q4_0 weights in place (default: repack them into\n"
	"                        anonymous memory for faster matvecs)\n"
	"      --json            after the text, one JSON object with the figures on stdout\n"
	"      --print-token-ids print the prompt's token ids as [a, b, ...] and exit\n"
	"  -h, --help            this text\n"
	"\nA store made by 'activeswap convert' (-m MODEL.asw) runs under a DRAM budget with\n"
	"active-weight swapping: 'activeswap run -m MODEL.asw --help' lists those options.\n";

#define SUB "run"

/* Value of flag argv[*i] (advances *i); NULL and a message when missing. */
static const char *flag_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		cli_err(SUB, "%s needs a value", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static int default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > 8 ? 8 : (int)n;
}

static void put_piece(const struct as_tokenizer *tok, int32_t id)
{
	size_t len;
	const char *p = as_token_piece(tok, id, &len);

	fwrite(p, 1, len, stdout);
	fflush(stdout);
}

static int dense_forward(void *st, int32_t token, uint32_t pos, bool want_logits)
{
	return as_forward(st, token, pos, want_logits);
}

static const float *dense_logits(void *st)
{
	return ((struct as_state *)st)->logits;
}

int run_generate(const char *sub, const struct as_eval_model *em,
		 const struct as_tokenizer *tok, struct as_sampler *smp, const int32_t *ids,
		 size_t n_ids, long n_predict, long ctx, struct run_gen *g)
{
	double t0;
	int r;

	memset(g, 0, sizeof(*g));
	/* Prompt: echo it, then run it; logits only for the last position. */
	for (size_t i = 0; i < n_ids; i++)
		put_piece(tok, ids[i]);
	t0 = cli_now();
	for (size_t i = 0; i < n_ids; i++) {
		r = em->forward(em->ctx, ids[i], (uint32_t)i, i + 1 == n_ids);
		if (r) {
			cli_err(sub, "forward failed at prompt position %zu: %s", i, strerror(-r));
			return -1;
		}
	}
	g->t_prompt = cli_now() - t0;

	/* Generation: sample from the current logits, print, feed back. */
	t0 = cli_now();
	for (size_t pos = n_ids; g->n_gen < n_predict; pos++) {
		int32_t next = as_sample(smp, em->logits(em->ctx));

		if (next == as_tokenizer_eos(tok))
			break;
		put_piece(tok, next);
		g->n_gen++;
		if (g->n_gen == n_predict)
			break;
		if (pos >= (size_t)ctx) {
			g->ctx_full = true;
			break;
		}
		r = em->forward(em->ctx, next, (uint32_t)pos, true);
		if (r) {
			cli_err(sub, "forward failed at position %zu: %s", pos, strerror(-r));
			return -1;
		}
	}
	g->t_decode = cli_now() - t0;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	const char *model_path = NULL, *prompt = "";
	long n_predict = 128, threads = default_threads(), ctx = 0, top_k =
		AS_SAMPLER_DEFAULT_TOP_K;
	double temp = AS_SAMPLER_DEFAULT_TEMP, top_p = AS_SAMPLER_DEFAULT_TOP_P;
	uint64_t seed = 0;
	bool have_seed = false, json = false, print_ids = false, repack = true;
	bool ctx_full = false;
	struct as_model_opts mo = { 0 };
	struct as_sampler_params sp;
	struct as_model *m = NULL;
	struct as_tokenizer *tok = NULL;
	struct as_threadpool *tp = NULL;
	struct as_state *st = NULL;
	struct as_sampler *smp = NULL;
	int32_t *ids = NULL;
	size_t n_ids = 0;
	long n_gen = 0;
	double t0, t_load, t_prompt = 0, t_decode = 0;
	char err[256];
	int rc = 1, r;

	/* A store (.asw, by magic) runs through the swapping runtime (tools/swap_cli.c). */
	for (int i = 1; i + 1 < argc; i++)
		if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) &&
		    as_swap_is_store(argv[i + 1]))
			return run_store_main(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(run_usage, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--no-repack")) {
			repack = false;
		} else if (!strcmp(a, "--print-token-ids")) {
			print_ids = true;
		} else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
			if (!(model_path = flag_value(argc, argv, &i)))
				return 2;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
			if (!(prompt = flag_value(argc, argv, &i)))
				return 2;
		} else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_long(SUB, a, v, 0, 1 << 24, &n_predict))
				return 2;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_long(SUB, a, v, 1, 256, &threads))
				return 2;
		} else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_long(SUB, a, v, 1, 1 << 24, &ctx))
				return 2;
		} else if (!strcmp(a, "--temp")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_double(SUB, a, v, 0, 100, &temp))
				return 2;
		} else if (!strcmp(a, "--top-k")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_long(SUB, a, v, 0, 1 << 24, &top_k))
				return 2;
		} else if (!strcmp(a, "--top-p")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_double(SUB, a, v, 0, 1, &top_p))
				return 2;
		} else if (!strcmp(a, "--seed")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_u64(SUB, a, v, 0, UINT64_MAX, &seed))
				return 2;
			have_seed = true;
		} else {
			cli_err(SUB, "unknown option '%s' (see --help)", a);
			return 2;
		}
	}
	if (!model_path) {
		cli_err(SUB, "-m MODEL is required (see --help)");
		return 2;
	}
	if (!have_seed)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

	t0 = cli_now();
	tp = as_tp_create((int)threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads: %s", threads, strerror(errno));
		goto out;
	}
	mo.repack = repack && !print_ids;
	mo.tp = tp;
	r = as_model_load_opts(&m, model_path, &mo, err, sizeof(err));
	if (r) {
		cli_err(SUB, "%s", err);
		goto out;
	}
	r = as_tokenizer_load(&tok, m->gguf, err, sizeof(err));
	if (r) {
		cli_err(SUB, "%s: %s", model_path, err);
		goto out;
	}
	if (as_tokenizer_n_vocab(tok) != m->hp.n_vocab) {
		cli_err(SUB, "%s: tokenizer has %u tokens, model %u", model_path,
			as_tokenizer_n_vocab(tok), m->hp.n_vocab);
		goto out;
	}
	if (as_tokenize(tok, prompt, strlen(prompt), as_tokenizer_add_bos(tok), &ids, &n_ids)) {
		cli_err(SUB, "out of memory tokenizing the prompt");
		goto out;
	}
	if (print_ids) {
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
		ctx = (long)n_ids + n_predict;
		if (ctx > (long)m->hp.n_ctx_train)
			ctx = m->hp.n_ctx_train;
	} else if (ctx > (long)m->hp.n_ctx_train) {
		fprintf(stderr, "activeswap %s: warning: context %ld is beyond the model's "
			"training context (%u)\n", SUB, ctx, m->hp.n_ctx_train);
	}
	if ((size_t)ctx < n_ids) {
		cli_err(SUB, "prompt has %zu tokens, more than the context (%ld)", n_ids, ctx);
		rc = 2;
		goto out;
	}
	r = as_state_new(&st, m, (uint32_t)ctx, tp);
	if (r) {
		cli_err(SUB, "cannot allocate the state for %ld positions: %s", ctx, strerror(-r));
		goto out;
	}
	sp.temp = (float)temp;
	sp.top_k = (int)top_k;
	sp.top_p = (float)top_p;
	sp.seed = seed;
	smp = as_sampler_new(&sp, m->hp.n_vocab);
	if (!smp) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	t_load = cli_now() - t0;

	{
		struct as_eval_model em = { dense_forward, dense_logits, st, m->hp.n_vocab,
					    (uint32_t)ctx };
		struct run_gen g;

		if (run_generate(SUB, &em, tok, smp, ids, n_ids, n_predict, ctx, &g))
			goto out;
		n_gen = g.n_gen;
		t_prompt = g.t_prompt;
		t_decode = g.t_decode;
		ctx_full = g.ctx_full;
	}
	rc = 0;
	{
		long runs = n_gen > 1 ? n_gen - 1 : 0;
		double pps = t_prompt > 0 ? (double)n_ids / t_prompt : 0;
		double dps = t_decode > 0 && runs ? (double)runs / t_decode : 0;
		uint64_t rss = cli_peak_rss_bytes();

		/* Piped output is exactly the text; on a terminal end the line first. */
		if (isatty(STDOUT_FILENO)) {
			putchar('\n');
			fflush(stdout);
		}
		fprintf(stderr, "activeswap run: load %.3f s, prompt %zu tokens %.2f tok/s, "
			"decode %ld tokens %.2f tok/s%s, %ld threads, peak RSS %.1f MiB\n", t_load,
			n_ids, pps, n_gen, dps, ctx_full ? " (context full)" : "", threads,
			(double)rss / (1 << 20));
		if (json) {
			printf("\n{\"model\": ");
			cli_json_str(stdout, model_path);
			printf(", \"threads\": %ld, \"ctx\": %ld, \"load_s\": %.6f, "
			       "\"prompt_tokens\": %zu, \"prompt_tokens_per_s\": %.3f, "
			       "\"n_generated\": %ld, \"tokens_per_s\": %.3f, \"prompt_s\": %.6f, "
			       "\"decode_s\": %.6f, \"context_full\": %s, \"peak_rss_bytes\": %llu, "
			       "\"seed\": %llu}\n", threads, ctx, t_load, n_ids, pps, n_gen, dps,
			       t_prompt, t_decode, ctx_full ? "true" : "false",
			       (unsigned long long)rss, (unsigned long long)seed);
		}
	}
out:
	fflush(stdout);
	free(ids);
	as_sampler_free(smp);
	as_state_free(st);
	if (tp)
		as_tp_destroy(tp);
	as_tokenizer_free(tok);
	as_model_free(m);
	return rc;
}

// SPDX-License-Identifier: MIT
/* activeswap eval: perplexity (llama.cpp's method) and Top-K sparsity accuracy. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activeswap/eval.h"
#include "activeswap/model.h"
#include "activeswap/threadpool.h"
#include "activeswap/tokenizer.h"
#include "activeswap/swap.h"
#include "cli.h"
#include "swap_cli.h"

static const char eval_usage[] =
	"usage: activeswap eval -m MODEL -f TEXT [options]\n"
	"\n"
	"Perplexity exactly as llama-perplexity computes it: the whole file is tokenized\n"
	"(BOS once), cut into chunks of CTX tokens (remainder dropped), each chunk starts\n"
	"with BOS, and the NLL of positions CTX/2 .. CTX-2 is averaged. Prints the running\n"
	"PPL after every chunk and the final estimate.\n"
	"\n"
	"  -m, --model PATH      GGUF model (llama architecture)\n"
	"  -f, --file PATH       text file\n"
	"  -c, --ctx-size N      chunk size in tokens (default 512, at least 4)\n"
	"      --chunks N        evaluate at most N chunks (default: all)\n"
	"      --sparsity S      uniform Top-K activation sparsity S in [0, 1) on the input of\n"
	"                        every linear op; also reports KL and top-1 against dense\n"
	"      --sparsity-ops L  only these op inputs: comma-separated qkv, o, gateup, down\n"
	"                        (default all)\n"
	"  -t, --threads N       compute threads (default: online CPUs, at most 8)\n"
	"      --no-repack       use Q4_0 weights in place (default: repack them into\n"
	"                        anonymous memory for faster matvecs)\n"
	"      --json            one JSON object on stdout (progress goes to stderr)\n"
	"  -h, --help            this text\n";

#define SUB "eval"

static const char *flag_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		cli_err(SUB, "%s needs a value", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

struct progress {
	bool json;
};

static void on_chunk(void *arg, uint32_t chunk, uint32_t n_chunks,
		     const struct as_eval_result *r)
{
	struct progress *p = arg;
	FILE *f = p->json ? stderr : stdout;

	fprintf(f, "[%u]%.4f,", chunk + 1, r->ppl);
	if (chunk + 1 == n_chunks)
		fputc('\n', f);
	fflush(f);
}

int cmd_eval(int argc, char **argv)
{
	const char *model_path = NULL, *text_path = NULL;
	long ctx = 512, threads, max_chunks = 0;
	double sparsity = -1;
	bool json = false, repack = true;
	struct as_model *m = NULL;
	struct as_tokenizer *tok = NULL;
	struct as_threadpool *tp = NULL;
	struct as_state *st = NULL, *ref = NULL;
	struct as_topk topk = { 0 };
	struct as_eval_result res;
	struct progress prog;
	struct as_model_opts mo = { 0 };
	char *text = NULL, err[256];
	size_t text_len, n_ids;
	int32_t *ids = NULL;
	double t0, t_eval;
	int rc = 1, r;
	long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);

	/* A store (.asw, by magic) is evaluated by the swapping runtime (tools/swap_cli.c). */
	for (int i = 1; i + 1 < argc; i++)
		if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) &&
		    as_swap_is_store(argv[i + 1]))
			return eval_store_main(argc, argv);

	threads = n_cpu < 1 ? 1 : n_cpu > 8 ? 8 : n_cpu;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(eval_usage, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--no-repack")) {
			repack = false;
		} else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
			if (!(model_path = flag_value(argc, argv, &i)))
				return 2;
		} else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
			if (!(text_path = flag_value(argc, argv, &i)))
				return 2;
		} else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_long(SUB, a, v, 4, 1 << 20, &ctx))
				return 2;
		} else if (!strcmp(a, "--chunks")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_long(SUB, a, v, 1, 1L << 30, &max_chunks))
				return 2;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_long(SUB, a, v, 1, 256, &threads))
				return 2;
		} else if (!strcmp(a, "--sparsity-ops")) {
			if (!(v = flag_value(argc, argv, &i)))
				return 2;
			if (as_topk_parse_ops(v, &topk.op_mask)) {
				cli_err(SUB, "bad value for %s: '%s' (a list of qkv, o, gateup, down)",
					a, v);
				return 2;
			}
		} else if (!strcmp(a, "--sparsity")) {
			if (!(v = flag_value(argc, argv, &i)) ||
			    cli_double(SUB, a, v, 0, 0.999, &sparsity))
				return 2;
		} else {
			cli_err(SUB, "unknown option '%s' (see --help)", a);
			return 2;
		}
	}
	if (topk.op_mask && sparsity < 0) {
		cli_err(SUB, "--sparsity-ops needs --sparsity");
		return 2;
	}
	if (!model_path || !text_path) {
		cli_err(SUB, "-m MODEL and -f TEXT are required (see --help)");
		return 2;
	}
	if (swap_cli_read_text(SUB, text_path, &text, &text_len))
		goto out;
	tp = as_tp_create((int)threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads: %s", threads, strerror(errno));
		goto out;
	}
	mo.repack = repack;
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
	if (as_tokenize(tok, text, text_len, as_tokenizer_add_bos(tok), &ids, &n_ids)) {
		cli_err(SUB, "out of memory tokenizing %s", text_path);
		goto out;
	}
	if (n_ids < (size_t)ctx) {
		cli_err(SUB, "%s has %zu tokens, fewer than one chunk of %ld", text_path, n_ids,
			ctx);
		goto out;
	}
	if (max_chunks && n_ids / (size_t)ctx > (size_t)max_chunks)
		n_ids = (size_t)max_chunks * (size_t)ctx;
	r = as_state_new(&st, m, (uint32_t)ctx, tp);
	if (!r && sparsity >= 0)
		r = as_state_new(&ref, m, (uint32_t)ctx, tp);
	if (r) {
		cli_err(SUB, "cannot allocate the state for %ld positions: %s", ctx, strerror(-r));
		goto out;
	}
	if (sparsity >= 0) {
		topk.sparsity = (float)sparsity;
		st->hook.pre = as_topk_hook;
		st->hook.arg = &topk;
	}
	prog.json = json;
	fprintf(json ? stderr : stdout, "%s: %zu tokens, %zu chunks of %ld\n", text_path,
		n_ids, n_ids / (size_t)ctx, ctx);
	t0 = cli_now();
	r = as_perplexity(st, ref, ids, n_ids, (uint32_t)ctx, as_tokenizer_bos(tok), on_chunk,
			  &prog, &res);
	t_eval = cli_now() - t0;
	if (r) {
		cli_err(SUB, "evaluation failed: %s", strerror(-r));
		goto out;
	}
	rc = 0;
	if (!json) {
		printf("Final estimate: PPL = %.4f (NLL %.6f over %llu tokens, %u chunks)\n",
		       res.ppl, res.nll, (unsigned long long)res.tokens_scored, res.chunks);
		if (res.have_ref)
			printf("Sparsity %.3f: KL(dense || sparse) = %.6f, top-1 agreement = "
			       "%.4f\n", sparsity, res.kl, res.top1);
		printf("%.2f s, %.1f tokens/s\n", t_eval,
		       t_eval > 0 ? (double)res.chunks * (double)ctx / t_eval : 0.0);
	} else {
		printf("{\"model\": ");
		cli_json_str(stdout, model_path);
		printf(", \"file\": ");
		cli_json_str(stdout, text_path);
		printf(", \"ctx\": %ld, \"chunks\": %u, \"tokens_scored\": %llu, \"nll\": %.8f, "
		       "\"ppl\": %.6f", ctx, res.chunks, (unsigned long long)res.tokens_scored,
		       res.nll, res.ppl);
		if (res.have_ref)
			printf(", \"sparsity\": %.6f, \"kl\": %.8f, \"top1_agreement\": %.6f", sparsity,
			       res.kl, res.top1);
		printf(", \"eval_s\": %.6f, \"peak_rss_bytes\": %llu}\n", t_eval,
		       (unsigned long long)cli_peak_rss_bytes());
	}
out:
	free(text);
	free(ids);
	as_topk_free(&topk);
	as_state_free(st);
	as_state_free(ref);
	if (tp)
		as_tp_destroy(tp);
	as_tokenizer_free(tok);
	as_model_free(m);
	return rc;
}

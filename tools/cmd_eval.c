// SPDX-License-Identifier: MIT
/*
 * activeswap eval: perplexity (llama.cpp's method) and Top-K sparsity accuracy, of a dense
 * GGUF model or of a store (.asw, by magic) through the swapping runtime.
 */
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
#include "args.h"
#include "cli.h"
#include "swap_cli.h"
#include "tp.h"

static const char eval_usage[] =
	"usage: activeswap eval -m MODEL -f TEXT [options]\n"
	"\n"
	"Perplexity exactly as llama-perplexity computes it: the whole file is tokenized\n"
	"(BOS once), cut into chunks of CTX tokens (remainder dropped), each chunk starts\n"
	"with BOS, and the NLL of positions CTX/2 .. CTX-2 is averaged. Prints the running\n"
	"PPL after every chunk and the final estimate.\n"
	"\n"
	"  -m, --model PATH      GGUF model (llama, qwen2, qwen3; MoE: Mixtral, qwen3moe)\n"
	"  -f, --file PATH       text file\n"
	"  -c, --ctx-size N      chunk size in tokens (default 512, at least 4)\n"
	"  -b, --batch-size N    tokens per batch of each chunk's unscored first half\n"
	"                        (default 512; 1: one by one)\n"
	CLI_KV_TYPE_USAGE
	"      --chunks N        evaluate at most N chunks (default: all)\n"
	"      --sparsity S      uniform Top-K activation sparsity S in [0, 0.99] on the input of\n"
	"                        every linear op; also reports KL and top-1 against dense\n"
	"      --sparsity-ops L  only these op inputs: comma-separated qkv, o, gateup, down\n"
	"                        (default all)\n"
	"  -t, --threads N       compute threads (default: online CPUs, at most 8)\n"
	"      --no-repack       use the weights in place (default: repack Q4_0, and at\n"
	"                        AVX-512 Q4_K Q5_K Q8_0, into anonymous memory for faster\n"
	"                        matvecs)\n"
	"      --json            one JSON object on stdout (progress goes to stderr)\n"
	"  -h, --help            this text\n"
	"\nA store (-m STORE.asw, activeswap convert) takes -m -f -c -b --kv-type --chunks -t\n"
	"--json and these instead of --sparsity-ops and --no-repack:\n"
	"\n"
	SWAP_CLI_USAGE;

static const char eval_store_usage[] =
	"usage: activeswap eval -m STORE.asw -f TEXT [-c CTX] [--chunks N] "
	"[-t N] [-b N] [--kv-type f16|f32] [--json] [store options]\n"
	"Perplexity as llama-perplexity computes it; with a sparsity (given or "
	"auto) or an expert precision policy also KL and top-1 agreement against "
	"the same store at sparsity 0 (and expert precision off).\n"
	"  --ref-gguf PATH   compare against this GGUF run dense instead (KL and top-1;\n"
	"                    e.g. the store's source, at any sparsity)\n"
	SWAP_CLI_USAGE;

#define SUB "eval"

struct eval_opts {
	const char *model, *text, *ref_gguf;
	long ctx, threads, max_chunks, batch;
	int kv_type;           /* --kv-type */
	bool json, no_repack;
	double sparsity;       /* GGUF: < 0 none */
	struct as_topk topk;   /* GGUF: --sparsity-ops */
	struct swap_cli swap;  /* a store's options */
};

static int opt_ops(void *ptr, const char *sub, const char *flag, const char *v)
{
	if (as_topk_parse_ops(v, ptr)) {
		cli_err(sub, "bad value for %s: '%s' (a list of qkv, o, gateup, down)", flag, v);
		return -1;
	}
	return 0;
}

/* -1: go on, else the exit status. The ranges of -c and --chunks are the runtimes'. */
static int parse(struct eval_opts *o, bool store, int argc, char **argv)
{
	const struct arg_opt common[] = {
		ARG_OPT_STR("--model", "-m", &o->model),
		ARG_OPT_STR("--file", "-f", &o->text),
		ARG_OPT_LONG("--ctx-size", "-c", &o->ctx, 4, store ? 1 << 16 : 1 << 20),
		ARG_OPT_LONG("--chunks", NULL, &o->max_chunks, 1, store ? 1 << 24 : 1L << 30),
		ARG_OPT_LONG("--threads", "-t", &o->threads, 1, 256),
		ARG_OPT_LONG("--batch-size", "-b", &o->batch, 1, 1 << 16),
		ARG_OPT_FN("--kv-type", NULL, &o->kv_type, cli_kv_type),
		ARG_OPT_BOOL("--json", NULL, &o->json),
		ARG_OPT_END,
	};
	const struct arg_opt dense[] = {
		ARG_OPT_BOOL("--no-repack", NULL, &o->no_repack),
		ARG_OPT_FN("--sparsity-ops", NULL, &o->topk.op_mask, opt_ops),
		ARG_OPT_DOUBLE("--sparsity", NULL, &o->sparsity, 0, CLI_SPARSITY_MAX),
		ARG_OPT_END,
	};
	const struct arg_opt storeo[] = {
		ARG_OPT_STR("--ref-gguf", NULL, &o->ref_gguf),
		ARG_OPT_END,
	};
	struct arg_opt swap[SWAP_CLI_NOPTS];
	const struct arg_spec spec = {
		.sub = SUB,
		.tables = { common, store ? swap : dense, store ? storeo : NULL },
		.usage = store ? eval_store_usage : eval_usage,
	};

	swap_cli_args(&o->swap, swap);
	return args_parse(&spec, argc, argv);
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

static int eval_dense(struct eval_opts *o)
{
	const char *model_path = o->model, *text_path = o->text;
	long ctx = o->ctx, max_chunks = o->max_chunks;
	double sparsity = o->sparsity;
	bool json = o->json;
	struct as_model *m = NULL;
	struct as_tokenizer *tok = NULL;
	struct as_threadpool *tp = NULL;
	struct as_state *st = NULL, *ref = NULL;
	struct as_eval_result res;
	struct as_eval_model ems, emr;
	struct progress prog;
	struct as_model_opts mo = { 0 };
	char *text = NULL, err[256];
	size_t text_len, n_ids;
	int32_t *ids = NULL;
	double t0, t_eval;
	int rc = 1, r;

	if (swap_cli_read_text(SUB, text_path, &text, &text_len))
		goto out;
	tp = as_tp_create((int)o->threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads: %s", o->threads, strerror(errno));
		goto out;
	}
	mo.repack = !o->no_repack;
	mo.tp = tp;
	r = as_model_load_opts(&m, model_path, &mo, err, sizeof(err));
	if (r) {
		cli_model_err(SUB, model_path, err);
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
	if (!r)
		r = as_state_set_kv_type(st, (enum as_kv_type)o->kv_type);
	if (!r && sparsity >= 0)
		r = as_state_new(&ref, m, (uint32_t)ctx, tp);
	if (!r && ref)
		r = as_state_set_kv_type(ref, (enum as_kv_type)o->kv_type);
	if (r) {
		cli_err(SUB, "cannot allocate the state for %ld positions: %s", ctx, strerror(-r));
		goto out;
	}
	if (sparsity >= 0) {
		o->topk.sparsity = (float)sparsity;
		st->hook.pre = as_topk_hook;
		st->hook.arg = &o->topk;
	}
	prog.json = json;
	fprintf(json ? stderr : stdout, "%s: %zu tokens, %zu chunks of %ld\n", text_path,
		n_ids, n_ids / (size_t)ctx, ctx);
	t0 = cli_now();
	as_eval_model_state(&ems, st, (uint32_t)o->batch);
	if (ref)
		as_eval_model_state(&emr, ref, (uint32_t)o->batch);
	r = as_perplexity_model(&ems, ref ? &emr : NULL, ids, n_ids, (uint32_t)ctx,
				as_tokenizer_bos(tok), on_chunk, &prog, &res);
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
		printf(", \"kv_type\": \"%s\"", as_kv_type_name(st->kv_type));
		printf(", \"eval_s\": %.6f, \"peak_rss_bytes\": %llu}\n", t_eval,
		       (unsigned long long)cli_peak_rss_bytes());
	}
out:
	free(text);
	free(ids);
	as_topk_free(&o->topk);
	as_state_free(st);
	as_state_free(ref);
	if (tp)
		as_tp_destroy(tp);
	as_tokenizer_free(tok);
	as_model_free(m);
	return rc;
}

static void store_eval_chunk(void *arg, uint32_t chunk, uint32_t n_chunks,
			     const struct as_eval_result *r)
{
	(void)arg;
	if (!tp_rank()) /* under mpirun: rank 0's (tools/tp.h) */
		fprintf(stderr, "[%u/%u] PPL %.4f\n", chunk + 1, n_chunks, r->ppl);
}

static int eval_store(struct eval_opts *eo)
{
	const char *path = eo->model, *tpath = eo->text;
	long ctx = eo->ctx, max_chunks = eo->max_chunks;
	bool json = eo->json;
	struct swap_cli *o = &eo->swap, oref;
	struct as_threadpool *tp = NULL;
	struct as_swap_model *m = NULL, *ref = NULL;
	struct as_model *dm = NULL;
	struct as_state *ds = NULL;
	struct as_tokenizer *tok = NULL;
	int32_t *ids = NULL;
	size_t n_ids = 0, n_chunks;
	char *text = NULL;
	struct as_eval_model em, er;
	struct as_eval_result res;
	char err[256];
	int rc = 1, r;

	if (swap_cli_read_text(SUB, tpath, &text, &n_ids))
		return 1;
	tp = as_tp_create((int)eo->threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads: %s", eo->threads, strerror(errno));
		goto out;
	}
	o->kv_type = eo->kv_type;
	/* each chunk's unscored first half in batches: the weights fetched once per batch
	 * (the batch's scratch in the budget, halved while it does not fit) */
	o->batch = (uint32_t)eo->batch;
	if (swap_cli_open(o, SUB, path, tp, (uint32_t)ctx, json, &m))
		goto out;
	if (!as_swap_meta(m) || as_tokenizer_load(&tok, as_swap_meta(m), err, sizeof(err))) {
		cli_err(SUB, "%s: no usable tokenizer in the store's metadata", path);
		goto out;
	}
	if (as_tokenize(tok, text, n_ids, as_tokenizer_add_bos(tok), &ids, &n_ids)) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	n_chunks = n_ids / (size_t)ctx;
	if (max_chunks && n_chunks > (size_t)max_chunks)
		n_chunks = (size_t)max_chunks;
	if (!n_chunks) {
		cli_err(SUB, "%s has %zu tokens, less than one chunk of %ld", tpath, n_ids, ctx);
		rc = 2;
		goto out;
	}
	if (eo->ref_gguf) {
		r = as_model_load(&dm, eo->ref_gguf, err, sizeof(err));
		if (!r && dm->hp.n_vocab != as_swap_n_vocab(m)) {
			snprintf(err, sizeof(err), "vocabulary %u, the store's is %u",
				 dm->hp.n_vocab, as_swap_n_vocab(m));
			r = -EINVAL;
		}
		if (!r)
			r = as_state_new(&ds, dm, (uint32_t)ctx, tp);
		if (!r)
			r = as_state_set_kv_type(ds, (enum as_kv_type)eo->kv_type);
		if (r) {
			cli_err(SUB, "%s: %s", eo->ref_gguf, r == -ENOMEM ? "out of memory" : err);
			goto out;
		}
		as_eval_model_state(&er, ds, (uint32_t)eo->batch);
	} else if (as_swap_sparsity(m) > 0 || o->head_sparsity > 0 ||
		   as_swap_expert_precision(m) != AS_XPREC_OFF) {
		/* the reference: sparsity 0, every expert from its high copy */
		swap_cli_init(&oref);
		oref.sparsity = 0;
		oref.group = 1;
		oref.budget = o->budget;
		oref.backend = o->backend; /* the same I/O as the run it is compared with */
		oref.queue_depth = o->queue_depth;
		oref.kv_type = o->kv_type;
		oref.batch = o->batch;
		if (swap_cli_open(&oref, SUB, path, tp, (uint32_t)ctx, true, &ref))
			goto out;
	}
	swap_cli_eval_model(m, as_swap_n_ctx(m), &em);
	if (ref)
		swap_cli_eval_model(ref, as_swap_n_ctx(ref), &er);
	r = as_perplexity_model(&em, ref || ds ? &er : NULL, ids, n_chunks * (size_t)ctx,
				(uint32_t)ctx, as_tokenizer_bos(tok),
				json ? NULL : store_eval_chunk, NULL, &res);
	if (r) {
		cli_err(SUB, "evaluation failed: %s", strerror(-r));
		goto out;
	}
	if (json) {
		printf("{\"model\": ");
		cli_json_str(stdout, path);
		printf(", \"ctx\": %ld, \"chunks\": %zu, \"tokens_scored\": %llu, \"ppl\": %.6f",
		       ctx, n_chunks, (unsigned long long)res.tokens_scored, res.ppl);
		if (ref || ds)
			printf(", \"kl\": %.8f, \"top1_agreement\": %.6f", res.kl, res.top1);
		swap_cli_json(m, o, stdout);
		printf("}\n");
	} else {
		printf("PPL %.4f over %llu tokens", res.ppl, (unsigned long long)res.tokens_scored);
		if (ref || ds)
			printf(", KL %.3g, top-1 agreement %.4f (against %s)", res.kl, res.top1,
			       ds ? "the GGUF run dense" :
			       as_swap_expert_precision(m) ? "the store at sparsity 0, "
			       "expert precision off" : "the store at sparsity 0");
		printf("\n");
	}
	rc = 0;
out:
	free(text);
	free(ids);
	as_tokenizer_free(tok);
	as_swap_close(m);
	as_swap_close(ref);
	as_state_free(ds);
	as_model_free(dm);
	if (tp)
		as_tp_destroy(tp);
	return rc;
}

int cmd_eval(int argc, char **argv)
{
	bool store = swap_cli_store_arg(argc, argv); /* the options depend on it */
	long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct eval_opts o = {
		.ctx = 512,
		.threads = store ? 2 : n_cpu < 1 ? 1 : n_cpu > 8 ? 8 : n_cpu,
		.sparsity = -1,
		.batch = 512,
		.kv_type = AS_KV_F16,
	};
	int rc;

	swap_cli_init(&o.swap);
	rc = parse(&o, store, argc, argv);
	if (rc >= 0)
		return rc;
	if (store) {
		if (!o.model || !o.text) {
			cli_err(SUB, "-m STORE and -f TEXT are required");
			return 2;
		}
		return eval_store(&o);
	}
	if (o.topk.op_mask && o.sparsity < 0) {
		cli_err(SUB, "--sparsity-ops needs --sparsity");
		return 2;
	}
	if (!o.model || !o.text) {
		cli_err(SUB, "-m MODEL and -f TEXT are required (see --help)");
		return 2;
	}
	return eval_dense(&o);
}

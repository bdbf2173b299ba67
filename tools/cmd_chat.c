// SPDX-License-Identifier: MIT
/*
 * activeswap chat -m MODEL [--system TEXT] [--template NAME] [run's options]: an
 * interactive conversation with a GGUF model or a store (under a DRAM budget).
 *
 * Each user line becomes a message; the whole conversation is formatted with the model's
 * chat template (runtime/chat.c, as llama.cpp's llama_chat_apply_template) and tokenized
 * with control tokens parsed; only the tokens past the longest prefix already in the KV
 * cache are run, so the cache is kept across turns. The reply streams out token by token
 * and stops at an end-of-generation token (EOS, EOT), after -n tokens, at the end of the
 * context (said on stderr, and the session ends), or on Ctrl-C (the reply ends, the
 * session goes on). EOF on stdin ends the session. Under mpirun (a store, tensor
 * parallelism) rank 0 reads stdin and broadcasts each line (tools/tp.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/chat.h"
#include "activeswap/eval.h"
#include "activeswap/gguf.h"
#include "activeswap/model.h"
#include "activeswap/sampler.h"
#include "activeswap/threadpool.h"
#include "activeswap/tokenizer.h"
#include "activeswap/swap.h"
#include "api_int.h"
#include "args.h"
#include "cli.h"
#include "generate.h"
#include "swap_cli.h"
#include "tp.h"

#define SUB "chat"
#define CHAT_CTX_DEFAULT 4096

static const char chat_usage[] =
	"usage: activeswap chat -m MODEL [options]\n"
	"\n"
	"Talk with a model: each line read from stdin is a user message (a '> ' prompt\n"
	"on a terminal), the reply streams to stdout. The conversation is formatted with\n"
	"the model's chat template (tokenizer.chat_template) and the KV cache is kept\n"
	"across turns. Ctrl-C ends the current reply, EOF (Ctrl-D) ends the session.\n"
	"\n"
	"  -m, --model PATH      GGUF model, or a store (activeswap convert)\n"
	"      --system TEXT     system message at the start of the conversation\n"
	"      --template NAME   chat template instead of the model's: chatml, llama2,\n"
	"                        llama2-sys, llama2-sys-bos, llama2-sys-strip, llama3,\n"
	"                        mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7\n"
	"  -n, --n-predict N     at most N tokens per reply (default: until EOS/EOT)\n"
	"  -c, --ctx-size N      context positions for the whole conversation (default\n"
	"                        4096, at most the model's context_length)\n"
	"      --temp T   --top-k K   --top-p P   --min-p P   --repeat-penalty R\n"
	"      --repeat-last-n N   -s, --seed S   -t, --threads N   -b, --batch-size N\n"
	"                        as for run\n"
	CLI_KV_TYPE_USAGE
	"  -h, --help            this text\n"
	"\nA store takes the swapping options of 'activeswap run -m STORE.asw --help'; under\n"
	"'mpirun -np N' every rank holds a slice of it and rank 0 reads stdin.\n";

static const char chat_store_usage[] =
	"usage: activeswap chat -m STORE.asw [options]   (see chat --help for a GGUF)\n"
	"\n"
	"  --system TEXT   --template NAME   -n N   -c N   --temp T   --top-k K   --top-p P\n"
	"  --min-p P   --repeat-penalty R   --repeat-last-n N   -s, --seed S   -t N\n"
	"  -b N   --kv-type f16|f32          as for a GGUF\n"
	SWAP_CLI_USAGE;

struct chat_opts {
	const char *model, *system, *tmpl;
	struct gen_params gen; /* -n, -t, -c, sampling */
	struct swap_cli swap;
};

/* What the session runs on, dense or store. */
struct chat_model {
	struct as_eval_model em;
	asw_model *am; /* the library's handle over em (generate.c) */
	const struct gguf_file *meta;
	struct as_tokenizer *tok;
	long ctx;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int parse(struct chat_opts *o, bool store, int argc, char **argv)
{
	const struct arg_opt common[] = {
		ARG_OPT_STR("--model", "-m", &o->model),
		ARG_OPT_STR("--system", NULL, &o->system),
		ARG_OPT_STR("--template", NULL, &o->tmpl),
		ARG_OPT_END,
	};
	struct arg_opt gen[GEN_NOPTS], swap[SWAP_CLI_NOPTS];
	const struct arg_spec spec = {
		.sub = SUB,
		.tables = { common, gen, store ? swap : NULL },
		.usage = store ? chat_store_usage : chat_usage,
	};

	gen_args(&o->gen, 1, gen);
	swap_cli_args(&o->swap, swap);
	return args_parse(&spec, argc, argv);
}

/* The template: --template NAME, else the model's tokenizer.chat_template. 0, -1 (no
 * usable template) or -2 (an unknown name: a usage error), with one line printed. */
static int pick_template(const struct chat_opts *o, const struct gguf_file *meta,
			 enum as_chat_tmpl *t)
{
	struct gguf_str s;
	const char *other = NULL;

	if (o->tmpl) {
		*t = as_chat_tmpl_from_name(o->tmpl);
		if (*t == AS_CHAT_UNKNOWN) {
			cli_err(SUB, "unknown --template '%s' (known: %s)", o->tmpl,
				as_chat_tmpl_names());
			return -2;
		}
		return 0;
	}
	if (!meta || gguf_get_str(meta, "tokenizer.chat_template", &s)) {
		cli_err(SUB, "%s has no tokenizer.chat_template: name one with --template "
			"(%s)", o->model, as_chat_tmpl_names());
		return -1;
	}
	*t = as_chat_tmpl_detect(s.s, (size_t)s.len, &other);
	if (*t != AS_CHAT_UNKNOWN)
		return 0;
	if (other)
		cli_err(SUB, "the model's chat template is '%s', which chat does not support: "
			"name one with --template (%s)", other, as_chat_tmpl_names());
	else
		cli_err(SUB, "the model's chat template is not one chat knows: name one with "
			"--template (%s)", as_chat_tmpl_names());
	return -1;
}

struct dense {
	struct as_model *m;
	struct as_state *st;
};

static int open_dense(struct chat_opts *o, struct as_threadpool *tp, struct dense *d,
		      struct chat_model *cm)
{
	struct as_model_opts mo = { .repack = true, .tp = tp };
	char err[256];
	int r;

	r = as_model_load_opts(&d->m, o->model, &mo, err, sizeof(err));
	if (r) {
		cli_model_err(SUB, o->model, err);
		return -1;
	}
	if (as_tokenizer_load(&cm->tok, d->m->gguf, err, sizeof(err))) {
		cli_err(SUB, "%s: %s", o->model, err);
		return -1;
	}
	if (as_tokenizer_n_vocab(cm->tok) != d->m->hp.n_vocab) {
		cli_err(SUB, "%s: tokenizer has %u tokens, model %u", o->model,
			as_tokenizer_n_vocab(cm->tok), d->m->hp.n_vocab);
		return -1;
	}
	cm->ctx = o->gen.ctx ? o->gen.ctx : CHAT_CTX_DEFAULT;
	if (cm->ctx > (long)d->m->hp.n_ctx_train) {
		if (o->gen.ctx)
			fprintf(stderr, "activeswap %s: warning: context %ld is beyond the "
				"model's training context (%u)\n", SUB, cm->ctx,
				d->m->hp.n_ctx_train);
		else
			cm->ctx = d->m->hp.n_ctx_train;
	}
	r = as_state_new(&d->st, d->m, (uint32_t)cm->ctx, tp);
	if (!r)
		r = as_state_set_kv_type(d->st, (enum as_kv_type)o->gen.kv_type);
	if (r) {
		cli_err(SUB, "cannot allocate the state for %ld positions: %s", cm->ctx,
			strerror(-r));
		return -1;
	}
	as_eval_model_state(&cm->em, d->st, (uint32_t)o->gen.batch);
	cm->meta = d->m->gguf;
	return 0;
}

static int open_store(struct chat_opts *o, struct as_threadpool *tp,
		      struct as_swap_model **m, struct chat_model *cm)
{
	struct swap_cli *so = &o->swap;
	char err[256];

	so->ctx_default = CHAT_CTX_DEFAULT;
	so->batch = (uint32_t)o->gen.batch;
	so->kv_type = o->gen.kv_type;
	if (swap_cli_open(so, SUB, o->model, tp, (uint32_t)o->gen.ctx, false, m))
		return -1;
	if (o->gen.ctx && so->aut.n_ctx_train && o->gen.ctx > (long)so->aut.n_ctx_train)
		fprintf(stderr, "activeswap %s: warning: context %ld is beyond the model's "
			"training context (%u)\n", SUB, o->gen.ctx, so->aut.n_ctx_train);
	cm->ctx = so->aut.n_ctx;
	cm->meta = as_swap_meta(*m);
	if (!cm->meta || as_tokenizer_load(&cm->tok, cm->meta, err, sizeof(err))) {
		cli_err(SUB, "%s: no usable tokenizer in the store's metadata", o->model);
		return -1;
	}
	swap_cli_eval_model(*m, (uint32_t)cm->ctx, &cm->em);
	return 0;
}

/* The conversation: messages with malloc'd contents. */
struct convo {
	struct as_chat_msg *msg;
	size_t n, cap;
};

static int convo_add(struct convo *c, const char *role, const char *text, size_t len)
{
	char *s;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct as_chat_msg *p = realloc(c->msg, cap * sizeof(*p));

		if (!p)
			return -1;
		c->msg = p;
		c->cap = cap;
	}
	s = malloc(len + 1);
	if (!s)
		return -1;
	memcpy(s, text, len);
	s[len] = 0;
	c->msg[c->n].role = role;
	c->msg[c->n].content = s;
	c->n++;
	return 0;
}

static void convo_pop(struct convo *c)
{
	free((char *)c->msg[--c->n].content);
}

static void convo_free(struct convo *c)
{
	while (c->n)
		convo_pop(c);
	free(c->msg);
}

struct session {
	const struct chat_opts *o;
	struct chat_model *cm;
	enum as_chat_tmpl tmpl;
	asw_sampler *smp;
	struct convo conv;
	int32_t *cache; /* the tokens at positions 0 .. n_past - 1 */
	size_t n_past;
	struct run_gen g;
};

/* One turn: the user's line in, the reply out. 0 on to the next turn, 1 the session
 * ends (context full), -1 error. */
static int turn(struct session *s, const char *line, size_t len)
{
	const struct as_tokenizer *tok = s->cm->tok;
	struct as_tokenize_opts to = { .add_bos = as_tokenizer_add_bos(tok),
				       .parse_special = true };
	size_t plen, n_ids = 0, k = 0, rlen;
	int32_t *ids = NULL;
	char *prompt, *reply;
	long ctx = s->cm->ctx;
	int rc = -1;

	if (convo_add(&s->conv, "user", line, len))
		goto oom;
	prompt = as_chat_apply(s->tmpl, s->conv.msg, s->conv.n, true, &plen);
	if (!prompt)
		goto oom;
	if (as_tokenize_ex(tok, prompt, plen, &to, &ids, &n_ids)) {
		free(prompt);
		goto oom;
	}
	free(prompt);
	if (!n_ids || (long)n_ids >= ctx) {
		cli_err(SUB, "context full: the conversation takes %zu tokens, the context "
			"holds %ld (-c); ending the session", n_ids, ctx);
		convo_pop(&s->conv);
		free(ids);
		return 1;
	}
	/* Run only what the cache does not hold yet (at least the last token, for its
	 * logits); positions past it are overwritten. */
	while (k < s->n_past && k < n_ids && s->cache[k] == ids[k])
		k++;
	if (k == n_ids)
		k--;
	if (gen_feed(SUB, s->cm->am, ids + k, n_ids - k, k))
		goto out;
	for (size_t i = k; i < n_ids; i++)
		asw_sampler_accept(s->smp, ids[i]);
	memcpy(s->cache + k, ids + k, (n_ids - k) * sizeof(*ids));
	s->n_past = n_ids;

	s->g.n_ids = 0;
	if (gen_decode(SUB, s->cm->am, s->smp, s->o->gen.n_predict, ctx, &interrupted, &s->g))
		goto out;
	/* the fed part of the reply is in the cache now */
	memcpy(s->cache + s->n_past, s->g.ids, (s->g.n_past - s->n_past) * sizeof(*ids));
	s->n_past = s->g.n_past;
	putchar('\n');
	fflush(stdout);
	reply = as_detokenize(tok, s->g.ids, s->g.n_ids, false, &rlen);
	if (!reply || convo_add(&s->conv, "assistant", reply, rlen)) {
		free(reply);
		goto oom;
	}
	free(reply);
	if (s->g.interrupted)
		fprintf(stderr, "activeswap %s: reply interrupted\n", SUB);
	/* store options only (a GGUF's table has none): the reply's time per token */
	if (!tp_rank() && (s->o->swap.stats || s->o->swap.latency_ms > 0))
		swap_cli_print_latency(&s->o->swap, SUB, s->g.n_past > n_ids ?
				       s->g.t_decode / (double)(s->g.n_past - n_ids) : 0, stderr);
	if (s->g.ctx_full) {
		cli_err(SUB, "context full (%ld positions, -c): ending the session", ctx);
		rc = 1;
		goto out;
	}
	rc = 0;
	goto out;
oom:
	cli_err(SUB, "out of memory");
out:
	free(ids);
	return rc;
}

static int session(struct session *s)
{
	bool tty = isatty(STDIN_FILENO);
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	s->cache = malloc((size_t)s->cm->ctx * sizeof(*s->cache));
	s->g.ids = malloc(256 * sizeof(*s->g.ids));
	s->g.cap = 256;
	if (!s->cache || !s->g.ids) {
		cli_err(SUB, "out of memory");
		rc = 1;
		goto out;
	}
	if (s->o->system && convo_add(&s->conv, "system", s->o->system, strlen(s->o->system))) {
		cli_err(SUB, "out of memory");
		rc = 1;
		goto out;
	}
	for (;;) {
		ssize_t n;
		int r;

		if (tty) {
			fputs("> ", stdout);
			fflush(stdout);
		}
		interrupted = 0;
		errno = 0;
		/* under mpirun, rank 0 reads (mpirun hands it stdin) and every rank gets the
		 * line: they tokenize, run and sample it alike (the same sums, the same seed) */
		n = tp_getline(&line, &cap, stdin);
		if (n < 0) {
			if (errno == EINTR && interrupted) {
				/* Ctrl-C at the prompt: drop the line, ask again */
				clearerr(stdin);
				putchar('\n');
				continue;
			}
			if (tty)
				putchar('\n');
			break;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (!n)
			continue;
		interrupted = 0;
		r = turn(s, line, (size_t)n);
		if (r < 0) {
			rc = 1;
			break;
		}
		if (r > 0)
			break;
	}
out:
	fflush(stdout);
	free(line);
	free(s->cache);
	free(s->g.ids);
	convo_free(&s->conv);
	return rc;
}

int cmd_chat(int argc, char **argv)
{
	bool store = swap_cli_store_arg(argc, argv);
	struct chat_opts o = { 0 };
	struct chat_model cm = { 0 };
	struct session s = { 0 };
	struct as_threadpool *tp = NULL;
	struct as_swap_model *sm = NULL;
	struct dense d = { 0 };
	struct sigaction sa = { 0 }, old_sa;
	int rc, r;

	gen_params_init(&o.gen, 1 << 24, store);
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
	gen_params_done(&o.gen);
	rc = 1;
	tp = as_tp_create((int)o.gen.threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads: %s", o.gen.threads, strerror(errno));
		goto out;
	}
	if (store ? open_store(&o, tp, &sm, &cm) : open_dense(&o, tp, &d, &cm))
		goto out;
	r = pick_template(&o, cm.meta, &s.tmpl);
	if (r) {
		rc = r == -2 ? 2 : 1;
		goto out;
	}
	if (asw_adopt(&cm.am, &cm.em, cm.tok) || !(s.smp = gen_sampler(&o.gen, cm.am))) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	if (sm)
		swap_cli_latency_attach(&o.swap, SUB, cm.am, sm);
	if (!tp_rank())
		fprintf(stderr, "activeswap %s: template %s, context %ld positions%s\n", SUB,
			as_chat_tmpl_name(s.tmpl), cm.ctx,
			isatty(STDIN_FILENO) ? "; Ctrl-C ends a reply, Ctrl-D the session" : "");
	/* SIGINT ends the reply (and interrupts a pending read), not the process; under
	 * mpirun it ends the job (a reply cut on one rank only would stall the others) */
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	if (tp_size() == 1)
		sigaction(SIGINT, &sa, &old_sa);
	s.o = &o;
	s.cm = &cm;
	rc = session(&s);
	if (tp_size() == 1)
		sigaction(SIGINT, &old_sa, NULL);
out:
	fflush(stdout);
	asw_sampler_free(s.smp);
	asw_close(cm.am);
	as_tokenizer_free(cm.tok);
	as_state_free(d.st);
	as_model_free(d.m);
	as_swap_close(sm);
	if (tp)
		as_tp_destroy(tp);
	return rc;
}

// SPDX-License-Identifier: MIT
/*
 * activeswap mkmodel: write a llama, qwen2, qwen3, mixtral or qwen3moe GGUF with seeded
 * random weights and a working byte-level SentencePiece vocabulary.
 *
 * The command line around as_mkmodel() (runtime/mkmodel.c, activeswap/mkmodel.h): flags,
 * SIGINT/SIGTERM as its cancel flag, the progress bar and the closing line. Exit 0, 1 for
 * a failure (OUT.tmp.PID removed), 2 for bad flags or a refused shape.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "activeswap/convert.h"
#include "activeswap/hfvocab.h"
#include "activeswap/mkmodel.h"
#include "activeswap/quant.h"
#include "args.h"
#include "cli.h"

#define SUB "mkmodel"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: activeswap mkmodel -o OUT.gguf|OUT.asw [--shape NAME] [--dim N]\n"
		"         [--hidden N] [--layers N] [--heads N] [--kv-heads N] [--vocab N]\n"
		"         [--ctx N] [--type TYPE] [--seed S] [--threads N] [--draw-blocks]\n"
		"         [--vocab-from DIR [--pre NAME]]\n"
		"         [--arch llama|qwen2|qwen3|mixtral|qwen3moe] [--head-dim N] [--rope-freqs]\n"
		"         [--experts N] [--experts-used K] [--expert-hidden F]\n"
		"         [--expert-topics T]\n"
		"Writes a GGUF with seeded random weights (default: llama, tiny, q4_0, seed 1);\n"
		"an OUT ending in .asw gets the store `activeswap convert` makes of that GGUF\n"
		"(the same bytes, layer by layer, without the GGUF on disk).\n"
		"qwen2 adds Q/K/V biases, qwen3 per-head Q/K norms; --head-dim sets\n"
		"attention.key_length (default dim/heads); --rope-freqs adds Llama 3.1's\n"
		"rope_freqs.weight (llama only).\n"
		"mixtral (a llama with experts) and qwen3moe (qwen3 with experts): N experts\n"
		"(default 8), K used per token (default 2), qwen3moe's expert FFN width F\n"
		"(default --hidden; a mixtral expert is --hidden wide). --expert-topics T:\n"
		"a router with locality: tokens and experts fall into T topics, a greedy\n"
		"sequence stays in one and the routers choose among its experts.\n"
		"TYPE (of every matrix; norms are f32): f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0\n"
		"  q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs (the 256-blocks need dim, hidden and\n"
		"  heads*head-dim multiples of 256), or the mixes q4_k_m q5_k_m (llama.cpp's\n"
		"  rules: q6_K output, attn_v and ffn_down in some layers).\n"
		"--draw-blocks (q4_0, q8_0): draw each weight block's codes and scale from the\n"
		"  generator instead of quantizing floats (faster, other bytes, same scale).\n"
		"Shapes: tiny 256/768/4 layers/8 heads/4 kv; 1b 2048/8192/16/32/8;\n"
		"        7b 4096/11008/32/32/32 (ctx 2048); 8b 4096/14336/32/32/8. Vocab 512.\n"
		"        70b 8192/28672/80/64/8, vocab 32000, ctx 4096 (Llama-2-70B);\n"
		"        mixtral-8x7b 4096/14336/32/32/8, 8 experts 2 used, vocab 32000;\n"
		"        qwen3-30b-a3b 2048/48 layers/32/4, head dim 128, 128 experts 8 used\n"
		"        768 wide, vocab 151936; mixtral-tiny, qwen3moe-tiny (small, vocab 512).\n"
		"--vocab-from DIR: the BPE vocabulary of a Hugging Face tokenizer folder\n"
		"  (tokenizer.json, tokenizer_config.json) instead of the generated one:\n"
		"  byte-level (Llama 3, Qwen) or SentencePiece-style (Llama 2, written as a\n"
		"  SentencePiece vocabulary); --pre NAME overrides the detected byte-level\n"
		"  pre-tokenizer (llama-bpe, qwen2, gpt-2...).\n");
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct bar {
	struct cli_progress pr;
	bool started;
};

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct bar *b = arg;

	if (!b->started) {
		cli_progress_start(&b->pr, "mkmodel", total);
		b->started = true;
	}
	if (done > b->pr.done)
		cli_progress_add(&b->pr, done - b->pr.done);
}

static void on_store_progress(void *arg, enum as_convert_stage stage, uint64_t done,
			      uint64_t total)
{
	(void)stage;
	on_progress(arg, done, total);
}

static void on_warn(void *arg, const char *msg)
{
	(void)arg;
	cli_err(SUB, "%s", msg);
}

/* OUT's kind: 1 a store (.asw), 0 a GGUF (.gguf or any other name), -1 a case variant
 * of either (.ASW, .Gguf: which was meant?) */
static int out_kind(const char *out)
{
	const char *dot = strrchr(out, '.');

	if (!dot || strchr(dot, '/'))
		return 0;
	if (!strcmp(dot, ".asw"))
		return 1;
	if (!strcmp(dot, ".gguf"))
		return 0;
	return strcasecmp(dot, ".asw") && strcasecmp(dot, ".gguf") ? 0 : -1;
}

/* The model into out: a GGUF, or the store (cancel, bar as o's); 0 or a negative errno
 * with one line in err; *bytes: the tensor bytes or the store's size. */
static int write_out(const struct as_mkmodel_params *o, const char *out, bool store,
		     uint64_t *bytes, char *err, size_t errlen)
{
	struct as_convert_params cp;
	struct as_convert_result res;
	int rc;

	if (!store)
		return as_mkmodel(o, out, bytes, err, errlen);
	as_convert_params_init(&cp);
	cp.progress = on_store_progress;
	cp.warn = on_warn;
	cp.arg = o->arg;
	cp.cancel = o->cancel;
	rc = as_mkmodel_store(o, &cp, out, &res, err, errlen);
	*bytes = rc ? 0 : res.file_size;
	return rc;
}

#define TYPES "f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl " \
	"iq4_xs q4_k_m q5_k_m"

/* --type: a type or a mix (ptr: the params) */
static int opt_type(void *ptr, const char *sub, const char *flag, const char *val)
{
	struct as_mkmodel_params *p = ptr;

	if (as_quant_mix_parse(val, &p->type, &p->mix)) {
		cli_err(sub, "bad value for %s: '%s' (one of " TYPES ")", flag, val);
		return -1;
	}
	return 0;
}

/* --arch: the architectures the generator writes; mixtral is a llama with experts (the
 * value AS_ARCH_COUNT here, resolved in cmd_mkmodel) */
static int opt_arch(void *ptr, const char *sub, const char *flag, const char *val)
{
	for (int a = 0; a < AS_ARCH_COUNT; a++) {
		if (!strcmp(val, as_arch_name((enum as_arch)a))) {
			*(int *)ptr = a;
			return 0;
		}
	}
	if (!strcmp(val, "mixtral")) {
		*(int *)ptr = AS_ARCH_COUNT;
		return 0;
	}
	cli_err(sub, "bad value for %s: '%s' (llama, qwen2 or qwen3; mixtral or qwen3moe)",
		flag, val);
	return -1;
}

/* The shape's overrides (--dim ... --ctx), applied over the --shape preset once it is
 * known: each into ov[k] of cmd_mkmodel, set[k] when given. */
enum { DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, CTX, EXPERTS, USED, EXP_HIDDEN, N_SHAPE };

#define SHAPE_OPT(n, k, max) \
	{ .name = (n), .kind = ARG_U64, .ptr = &ov[k], .umin = 1, .umax = (max), .seen = &set[k] }

/* --vocab-from DIR [--pre NAME]: the vocabulary, and the shape's vocab size from it.
 * 0, or the exit status after one line. */
static int load_vocab(struct as_mkmodel_params *o, struct as_hf_vocab *hv, const char *dir,
		      const char *pre, bool vocab_set)
{
	char err[512];

	if (!dir) {
		if (pre) {
			cli_err(SUB, "--pre needs --vocab-from DIR");
			return 2;
		}
		return 0;
	}
	if (as_hf_vocab_load(hv, dir, pre, err, sizeof(err))) {
		cli_err(SUB, "--vocab-from: %s", err);
		return 1;
	}
	o->hf_vocab = hv;
	if (!vocab_set)
		o->shape.vocab = hv->n;
	return 0;
}

/*
 * The architecture (--arch, else the shape's) and, for mixtral / qwen3moe over a shape
 * without experts, 8 experts, 2 used, each --hidden wide (hidden the --hidden given, or
 * 0 for the shape's); a dense --arch drops a MoE shape's experts.
 */
static void moe_defaults(struct as_mkmodel_params *o, int arch, uint64_t hidden)
{
	bool moe = arch == AS_ARCH_COUNT || arch == AS_ARCH_QWEN3MOE;

	if (arch >= 0)
		o->arch = arch == AS_ARCH_COUNT ? AS_ARCH_LLAMA : (enum as_arch)arch;
	if (arch >= 0 && !moe) {
		o->experts = o->experts_used = o->expert_hidden = 0;
		return;
	}
	if (moe && !o->experts) {
		o->experts = 8;
		o->experts_used = 2;
		o->expert_hidden = 0;
	}
	if (o->experts && (!o->expert_hidden || o->arch == AS_ARCH_LLAMA))
		o->expert_hidden = hidden ? hidden : o->shape.hidden;
}

int cmd_mkmodel(int argc, char **argv)
{
	struct as_mkmodel_params o;
	const char *out = NULL;
	uint64_t ov[N_SHAPE];
	bool set[N_SHAPE] = { false };
	const char *shape = "tiny", *vocab_from = NULL, *pre = NULL;
	struct as_hf_vocab hv;
	char err[4400] = "";
	uint64_t data_bytes = 0, threads = 0, head_dim = 0, topics = 0;
	int arch = -1;
	bool rope_freqs = false, draw_blocks = false;
	struct sigaction sa;
	struct bar bar = { .started = false };
	double t0;
	int rc;

	const struct arg_opt opts[] = {
		ARG_OPT_STR("--out", "-o", &out),
		ARG_OPT_STR("--shape", NULL, &shape),
		SHAPE_OPT("--dim", DIM, AS_MKMODEL_MAX_DIM),
		SHAPE_OPT("--hidden", HIDDEN, AS_MKMODEL_MAX_HIDDEN),
		SHAPE_OPT("--layers", LAYERS, AS_MKMODEL_MAX_LAYERS),
		SHAPE_OPT("--heads", HEADS, AS_MKMODEL_MAX_LAYERS),
		SHAPE_OPT("--kv-heads", KV_HEADS, AS_MKMODEL_MAX_LAYERS),
		SHAPE_OPT("--vocab", VOCAB, AS_MKMODEL_MAX_VOCAB),
		SHAPE_OPT("--ctx", CTX, AS_MKMODEL_MAX_CTX),
		SHAPE_OPT("--experts", EXPERTS, AS_MAX_EXPERTS),
		SHAPE_OPT("--experts-used", USED, AS_MAX_EXPERTS),
		SHAPE_OPT("--expert-hidden", EXP_HIDDEN, AS_MKMODEL_MAX_HIDDEN),
		ARG_OPT_FN("--type", NULL, &o, opt_type),
		ARG_OPT_U64("--seed", NULL, &o.seed, 0, UINT64_MAX),
		ARG_OPT_BOOL("--draw-blocks", NULL, &draw_blocks),
		ARG_OPT_U64("--threads", NULL, &threads, 1, AS_MKMODEL_MAX_THREADS),
		ARG_OPT_STR("--vocab-from", NULL, &vocab_from),
		ARG_OPT_STR("--pre", NULL, &pre),
		ARG_OPT_FN("--arch", NULL, &arch, opt_arch),
		ARG_OPT_U64("--head-dim", NULL, &head_dim, 2, 4096),
		ARG_OPT_BOOL("--rope-freqs", NULL, &rope_freqs),
		ARG_OPT_U64("--expert-topics", NULL, &topics, 1, AS_MAX_EXPERTS),
		ARG_OPT_END,
	};
	const struct arg_spec spec = { .sub = SUB, .tables = { opts }, .usage_fn = usage };

	as_mkmodel_params_init(&o);
	rc = args_parse(&spec, argc, argv);
	if (rc >= 0)
		return rc;
	if (!out || !*out) {
		cli_err(SUB, "missing -o OUT.gguf or -o OUT.asw (see --help)");
		return 2;
	}
	if (out_kind(out) < 0) {
		cli_err(SUB, "-o %s: name a GGUF OUT.gguf or a store OUT.asw (lower case)", out);
		return 2;
	}
	if (as_mkmodel_preset_params(shape, &o)) {
		cli_err(SUB, "bad value for --shape: '%s' (tiny, 1b, 7b, 8b, 70b, mixtral-8x7b, "
			"qwen3-30b-a3b, mixtral-tiny or qwen3moe-tiny)", shape);
		return 2;
	}
	moe_defaults(&o, arch, set[HIDDEN] ? ov[HIDDEN] : 0);
	o.expert_topics = topics;
	{
		uint64_t *field[N_SHAPE] = { &o.shape.dim, &o.shape.hidden, &o.shape.layers,
					     &o.shape.heads, &o.shape.kv_heads, &o.shape.vocab,
					     &o.shape.ctx, &o.experts, &o.experts_used,
					     &o.expert_hidden };

		for (int k = 0; k < N_SHAPE; k++)
			if (set[k])
				*field[k] = ov[k];
	}
	if (arch == AS_ARCH_COUNT && !o.experts) {
		cli_err(SUB, "--arch mixtral needs --experts N >= 1");
		return 2;
	}
	if (!set[KV_HEADS] && set[HEADS] && o.shape.kv_heads > o.shape.heads)
		o.shape.kv_heads = o.shape.heads;
	o.threads = (int)threads;
	if (head_dim)
		o.shape.head_dim = head_dim;
	o.rope_freqs = rope_freqs;
	o.draw_blocks = draw_blocks;
	rc = load_vocab(&o, &hv, vocab_from, pre, set[VOCAB]);
	if (rc)
		return rc;
	/* the combination: one line and exit 2 before anything is written */
	if (as_mkmodel_check(&o, out, err, sizeof(err))) {
		cli_err(SUB, "%s", err);
		rc = 2;
		goto out;
	}
	o.progress = on_progress;
	o.arg = &bar;
	o.cancel = &interrupted;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t0 = cli_now();
	rc = write_out(&o, out, out_kind(out) == 1, &data_bytes, err, sizeof(err));
	if (bar.started)
		cli_progress_end(&bar.pr);
	if (rc == -ECANCELED) {
		cli_err(SUB, "interrupted");
		rc = 1;
		goto out;
	}
	if (rc) {
		cli_err(SUB, "%s", err);
		rc = 1;
		goto out;
	}
	bool custom = false;

	for (int k = 0; k < N_SHAPE; k++)
		custom |= set[k];
	custom |= head_dim != 0;
	fprintf(stderr, "mkmodel: wrote %s (%s %s%s, %s, dim %llu hidden %llu layers %llu heads "
		"%llu/%llu vocab %llu, %llu %s bytes) in %.1f s\n", out,
		o.experts && o.arch == AS_ARCH_LLAMA ? "mixtral" : as_arch_name(o.arch),
		o.shape.name, custom ? " shape changed by flags" : "",
		o.mix ? as_quant_mix_name(o.mix) : as_type_name(o.type),
		(unsigned long long)o.shape.dim,
		(unsigned long long)o.shape.hidden, (unsigned long long)o.shape.layers,
		(unsigned long long)o.shape.heads, (unsigned long long)o.shape.kv_heads,
		(unsigned long long)o.shape.vocab, (unsigned long long)data_bytes,
		out_kind(out) == 1 ? "store" : "tensor", cli_now() - t0);
	rc = 0;
out:
	if (o.hf_vocab)
		as_hf_vocab_free(&hv);
	return rc;
}

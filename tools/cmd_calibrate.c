// SPDX-License-Identifier: MIT
/*
 * activeswap calibrate -m MODEL.gguf -f TEXT --sparsity S [-o OUT] [-c CTX] [--chunks N]
 *                      [--val-fraction F] [--step D] [--rounds R] [-t N] [--json]
 *                      [--sparsity-mode topk|threshold] [--uniform]
 *                      [--search all|kinds|teal|groups]
 *                      [--store STORE --dram-budget SIZE|N% [--gap SIZE|auto]]
 *
 * Per-layer, per-op-group Top-K sparsity levels with the same weighted average S (each
 * (layer, bundle kind) weighted by its number of weights) that lower the output error on
 * text the search did not see. TEXT's chunks are split in two. On the first ones (search
 * split) the search makes candidates: a TEAL-style greedy with the levels tied per kind
 * across layers ("kinds"), a closed-form allocation from each (layer, kind) group's
 * sensitivity curve (its KL with its level at 0, D, 2D, ... and every other group at S;
 * as_levels_allocate: "groups"), both halfway back to uniform ("kinds/2", "groups/2"),
 * and with --rounds a greedy refinement of the best. The last F of the chunks
 * (validation split) choose among them and uniform, so the choice is never worse than
 * uniform there. The levels are written as text (Documentation/swapping.md) to OUT
 * (default MODEL.sparsity), with the split and both splits' figures in its comments, for
 * run/eval/bench decode --sparsity-file.
 *
 * With --sparsity-mode threshold every measurement selects by magnitude thresholds
 * instead (TEAL): a level s of a group is the threshold below which a fraction s of its
 * input's |x| fell on the search split at every level 0 (as_thr_quantile of the recorded
 * histograms), so the same search allocates levels, and the file also carries each
 * group's threshold ("format 2") for --sparsity-mode threshold.
 *
 * With --store STORE --dram-budget B the average is over flash bytes instead of weights:
 * each group weighs its bytes in the store times the share of its kind that the budget
 * does not hold resident (as_levels_flash_weights), so levels at average S read what a
 * uniform S reads per token at that budget.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/eval.h"
#include "activeswap/model.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "activeswap/tokenizer.h"
#include "args.h"
#include "cli.h"
#include "calibrate.h"
#include "swap_cli.h"


static const char calibrate_usage[] =
	"usage: activeswap calibrate -m MODEL.gguf -f TEXT --sparsity S [options]\n"
	"\n"
	"Per-layer, per-op-group Top-K sparsity levels with the weighted average S that lower\n"
	"the KL to the dense model: searched on the first chunks of TEXT (each group's\n"
	"sensitivity curve, a closed-form allocation), chosen on the last ones (validation);\n"
	"the levels file is for run/eval/bench decode --sparsity-file on the model's store.\n"
	"\n"
	"  -m, --model PATH      GGUF model (dense runtime)\n"
	"  -f, --file PATH       text to measure on\n"
	"      --sparsity S      the average level (over weights, or flash bytes with\n"
	"                        --store), in [0, 0.95]\n"
	"  -o, --output PATH     levels file (default MODEL.sparsity)\n"
	"  -c, --ctx-size N      chunk size in tokens (default 256)\n"
	"      --chunks N        use at most N chunks of TEXT (default: all)\n"
	"      --val-fraction F  the last F of the chunks (at least one) choose among the\n"
	"                        search's candidates and are never searched on (default 0.3;\n"
	"                        0: search and choose on all chunks)\n"
	"      --step D          level spacing of the sensitivity curves and of a refinement\n"
	"                        move (default 0.1)\n"
	"      --rounds R        at most R rounds of greedy refinement on the search split\n"
	"                        (default 0)\n"
	"      --sparsity-mode topk|threshold  levels of a Top-K (default), or magnitude\n"
	"                        thresholds from the search split's activations at those\n"
	"                        levels (written beside them, for --sparsity-mode threshold)\n"
	"      --uniform         no search: every group at S (with --sparsity-mode threshold:\n"
	"                        TEAL's uniform thresholds)\n"
	"      --search all|kinds|teal|groups  the candidates: all (default: kinds tied\n"
	"                        across layers, the groups' closed-form allocation, their\n"
	"                        halves), kinds (and kinds/2 only: 4 x fewer measurements),\n"
	"                        teal (TEAL's greedy over every (layer, kind) group, and\n"
	"                        half), groups (the closed-form allocation and half only)\n"
	"      --store STORE     the average S is over the flash bytes a token reads from\n"
	"                        STORE (the model's store) at --dram-budget: each group\n"
	"                        weighs its bytes not held resident (default: over weights)\n"
	"      --dram-budget SIZE|N%  with --store: the budget of the runs (as for run)\n"
	"      --gap SIZE|auto   with --store: the gap filling limit (default auto), which\n"
	"                        orders the kinds in the hot set\n"
	"  -t, --threads N       compute threads (default 2)\n"
	CLI_KV_TYPE_USAGE
	"      --json            print the result as one JSON object (default: a summary)\n"
	"  -h, --help            this text\n";

static int kind_of_op(enum as_op op)
{
	switch (op) {
	case AS_OP_Q: return SWAP_ATTN_IN;
	case AS_OP_O: return SWAP_ATTN_OUT;
	case AS_OP_GATE: return SWAP_FFN_IN;
	default: return SWAP_FFN_OUT;
	}
}

/* Keep the Top-K channels exactly as the swapping runtime selects them. */
static void lv_pre(void *arg, uint32_t layer, enum as_op op, float *x, size_t n)
{
	struct lv_hook *h = arg;
	size_t g = (size_t)layer * SWAP_KIND_COUNT + (size_t)kind_of_op(op), k;

	if (h->hist)
		as_thr_hist_add(h->hist + g * AS_THR_BINS, x, n);
	if (h->thr) {
		/* the runtime's selection (as_state_select): |x| >= the threshold */
		k = as_threshold_select(x, n, h->thr[g], h->idx);
		h->kept[g] += k;
		h->seen[g] += n;
	} else {
		k = as_swap_topk_count(h->lv[g], (uint32_t)n);
		if (k >= n)
			return;
		k = as_topk_select(x, n, k, h->idx, h->scratch);
	}
	if (k >= n)
		return;
	memset(h->tmp, 0, n * sizeof(float));
	for (size_t i = 0; i < k; i++)
		h->tmp[h->idx[i]] = x[h->idx[i]];
	memcpy(x, h->tmp, n * sizeof(float));
}

static int split_forward(void *ctx, int32_t token, uint32_t pos, bool want)
{
	struct split *sp = ctx;

	if (sp->recording) {
		int r = as_forward(sp->st, token, pos, want);

		if (r || !want)
			return r;
		if (sp->at >= sp->n_scored)
			return -EINVAL;
		memcpy(sp->ref + sp->at++ * sp->n_vocab, sp->st->logits,
		       sp->n_vocab * sizeof(float));
		return 0;
	}
	if (!want)
		return 0;
	if (sp->at >= sp->n_scored)
		return -EINVAL;
	sp->cur = sp->ref + sp->at++ * sp->n_vocab;
	return 0;
}

static const float *split_logits(void *ctx)
{
	struct split *sp = ctx;

	return sp->recording ? sp->st->logits : sp->cur;
}

static struct as_eval_model split_model(struct split *sp, uint32_t n_ctx)
{
	return (struct as_eval_model){
		.forward = split_forward, .logits = split_logits, .ctx = sp,
		.n_vocab = sp->n_vocab, .n_ctx = n_ctx,
	};
}

/* Record the dense logits of sp (the hook at level 0 everywhere keeps every channel). */
static int split_record(struct cal *c, struct split *sp, const float *zeros)
{
	struct as_eval_model ms;
	struct as_eval_result r;
	size_t per = c->n_ctx - 1 - c->n_ctx / 2, n_chunks = sp->n_ids / c->n_ctx;
	int rc;

	sp->n_vocab = c->st->m->hp.n_vocab;
	sp->n_scored = n_chunks * per;
	if (sp->n_scored > SIZE_MAX / sizeof(float) / sp->n_vocab)
		return -ENOMEM;
	sp->ref = malloc(sp->n_scored * sp->n_vocab * sizeof(float));
	if (!sp->ref)
		return -ENOMEM;
	sp->st = c->st;
	sp->recording = true;
	sp->at = 0;
	c->h.lv = zeros;
	ms = split_model(sp, c->n_ctx);
	rc = as_perplexity_model(&ms, NULL, sp->ids, sp->n_ids, c->n_ctx, c->bos, NULL, NULL,
				 &r);
	sp->recording = false;
	if (!rc && sp->at != sp->n_scored)
		rc = -EINVAL;
	sp->dense_ppl = r.ppl;
	return rc;
}

/* Threshold mode: c->thr = the thresholds of the levels lv (the search split's quantiles). */
static void measure_thresholds(struct cal *c, const float *lv)
{
	for (size_t g = 0; g < c->G; g++)
		c->thr[g] = as_thr_quantile(c->hist + g * AS_THR_BINS, lv[g]);
}

/* KL to dense (and PPL, top-1 into res) of the levels lv on sp; INFINITY on failure. */
double cal_measure(struct cal *c, struct split *sp, const float *lv,
		   struct as_eval_result *res)
{
	struct as_eval_model ms, mr = split_model(sp, c->n_ctx);
	struct as_eval_result r;

	c->evals++;
	c->h.lv = lv;
	sp->at = 0;
	if (c->hist) {
		measure_thresholds(c, lv);
		for (size_t g = 0; g < c->G; g++)
			c->h.kept[g] = c->h.seen[g] = 0;
		c->h.thr = c->thr;
	}
	as_eval_model_state(&ms, c->st, 0);
	if (as_perplexity_model(&ms, &mr, sp->ids, sp->n_ids, c->n_ctx, c->bos, NULL, NULL,
				&r))
		return INFINITY;
	if (res)
		*res = r;
	if (c->hist) {
		double keep = 0;

		for (size_t g = 0; g < c->G; g++)
			keep += c->w[g] / c->wsum * (c->h.seen[g] ? (double)c->h.kept[g] /
								    (double)c->h.seen[g] : 1.0);
		c->realized = 1.0 - keep;
	}
	return r.kl;
}

/* lv's average weighted by w (sum wsum): the search's weights, or the number of weights */
static double avg_by(const struct cal *c, const double *w, double wsum, const float *lv)
{
	double a = 0;

	for (size_t g = 0; g < c->G; g++)
		a += lv[g] * w[g] / wsum;
	return a;
}

static double weighted_avg(const struct cal *c, const float *lv)
{
	return avg_by(c, c->w, c->wsum, lv);
}

static void print_res(FILE *f, const char *pre, const struct as_eval_result *r, bool json)
{
	if (json)
		fprintf(f, "\"%sppl\": %.4f, \"%skl\": %.5f, \"%stop1\": %.4f, ", pre, r->ppl,
			pre, r->kl, pre, r->top1);
	else
		fprintf(f, "PPL %.4f KL %.5f top-1 %.4f", r->ppl, r->kl, r->top1);
}

static int write_levels(const struct opts *o, const struct cal *c, uint32_t n_layer,
			const struct split *se, const struct split *va, const struct cand *cd,
			size_t nc, size_t best, const struct as_eval_result *uni)
{
	FILE *f = fopen(o->opath, "w");

	if (!f) {
		cli_err(SUB, "cannot write %s: %s", o->opath, strerror(errno));
		return -1;
	}
	fprintf(f, "# activeswap sparsity levels (activeswap calibrate)\n"
		"# model %s, text %s, chunks of %u tokens, weighted average %.4f\n"
		"# split: search tokens [0, %zu), validation tokens [%zu, %zu) of the text's\n"
		"# tokenization (BOS first); the search never saw the validation tokens\n",
		o->mpath, o->tpath, c->n_ctx, weighted_avg(c, cd[best].lv), se->n_ids,
		se->n_ids, se->n_ids + va->n_ids);
	if (o->spath)
		fprintf(f, "# averaged over flash bytes: %s at --dram-budget %s, resident shares "
			"attn_in %.4f attn_out %.4f ffn_in %.4f ffn_out %.4f; over weights %.4f\n",
			o->spath, o->budget ? o->budget : "100%", c->share[0], c->share[1],
			c->share[2], c->share[3], avg_by(c, c->nw, c->nwsum, cd[best].lv));
	fprintf(f, "# chosen: %s on the %s split; search KL:", cd[best].name,
		va->n_ids ? "validation" : "search");
	for (size_t i = 0; i < nc; i++)
		fprintf(f, " %s %.5f", cd[i].name, cd[i].search_kl);
	if (va->n_ids) {
		fprintf(f, "\n# validation KL:");
		for (size_t i = 0; i < nc; i++)
			fprintf(f, " %s %.5f", cd[i].name, cd[i].val.kl);
	}
	if (c->hist)
		fprintf(f, "\n# thresholds: |x| quantiles of the search split at the levels; "
			"%s sparsity realized by the chosen ones %.4f", va->n_ids ? "validation" :
			"search", cd[best].realized);
	fprintf(f, "\n# %s split, dense PPL %.4f: uniform %.2f: ",
		va->n_ids ? "validation" : "search", va->n_ids ? va->dense_ppl : se->dense_ppl,
		o->S);
	print_res(f, "", uni, false);
	fprintf(f, "; calibrated: ");
	print_res(f, "", &cd[best].val, false);
	fprintf(f, "\n%slayers %u\n", c->hist ? "format 2\n" : "", n_layer);
	for (size_t g = 0; g < c->G; g++) {
		fprintf(f, "%zu %s %.4f", g / 4, swap_kind_name((int)(g % 4)),
			(double)cd[best].lv[g]);
		if (c->hist)
			fprintf(f, " %.9g", (double)as_thr_quantile(c->hist + g * AS_THR_BINS,
								    cd[best].lv[g]));
		fprintf(f, "\n");
	}
	if (ferror(f) | fclose(f)) { /* both: fclose also flushes */
		/* not removed: -o may name something that is not ours */
		cli_err(SUB, "cannot write %s: %s (incomplete)", o->opath, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * --store: one layer's bytes of every kind in the store and the share of it the budget
 * holds resident, opened at the levels file lv (NULL: uniform S) and a context of CTX
 * positions, as the runs will. 0, or
 * the exit status (said) on failure.
 */
static int store_shares(const struct opts *o, struct as_threadpool *tp,
			const struct as_model *m, const char *lv, double *bytes, double *share)
{
	struct swap_cli so;
	struct as_swap_model *sm = NULL;
	int rc = 1;

	swap_cli_init(&so);
	so.budget = o->budget;
	so.sparsity = lv ? -1 : (float)o->S;
	so.levels = lv;
	so.kv_type = o->kv_type;
	if (o->gap && strcmp(o->gap, "auto")) {
		so.gap_auto = false;
		if (cli_size(SUB, "--gap", o->gap, 0, &so.gap_bytes))
			return 2;
	}
	/* the budget's context: the chunk size (what eval -c CTX holds) */
	if (swap_cli_open(&so, SUB, o->spath, tp, (uint32_t)o->ctx, true, &sm))
		return 1;
	if (as_swap_n_layers(sm) != m->hp.n_layer || as_swap_n_experts(sm) ||
	    as_swap_n_vocab(sm) != m->hp.n_vocab) {
		cli_err(SUB, "%s is not a store of %s (%u layers, %u experts, vocabulary %u)",
			o->spath, o->mpath, as_swap_n_layers(sm), as_swap_n_experts(sm),
			as_swap_n_vocab(sm));
		goto out;
	}
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		bytes[k] = (double)as_swap_kind_bytes(sm, k);
		share[k] = as_swap_resident_share(sm, k);
	}
	fprintf(stderr, "activeswap calibrate: %s at %.1f MiB, %s: resident attn_in %.3f "
		"attn_out %.3f ffn_in %.3f ffn_out %.3f\n", o->spath,
		so.aut.budget_bytes / 1048576.0, lv ? "the chosen levels" : "uniform",
		share[0], share[1], share[2], share[3]);
	rc = 0;
out:
	as_swap_close(sm);
	return rc;
}

/* --store: w[G] becomes each group's flash cost weight (as_levels_flash_weights) */
static int store_weights(const struct opts *o, struct as_threadpool *tp,
			 const struct as_model *m, double *w, double *share)
{
	double bytes[SWAP_KIND_COUNT];
	int rc = store_shares(o, tp, m, NULL, bytes, share);

	if (!rc && as_levels_flash_weights(m->hp.n_layer, bytes, share, w)) {
		cli_err(SUB, "%s: a kind without bundles", o->spath);
		rc = 1;
	}
	return rc;
}

static int opt_search(void *ptr, const char *sub, const char *flag, const char *v)
{
	static const char *const names[] = { "all", "kinds", "teal", "groups" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(v, names[i])) {
			*(int *)ptr = i; /* enum cal_search_kind */
			return 0;
		}
	cli_err(sub, "bad value for %s: '%s' (all, kinds, teal or groups)", flag, v);
	return -1;
}

static int parse(struct opts *o, int argc, char **argv)
{
	const struct arg_opt opts[] = {
		ARG_OPT_STR("--model", "-m", &o->mpath),
		ARG_OPT_STR("--file", "-f", &o->tpath),
		ARG_OPT_STR("--output", "-o", &o->opath),
		ARG_OPT_DOUBLE("--sparsity", NULL, &o->S, 0, MAX_LEVEL),
		ARG_OPT_DOUBLE("--step", NULL, &o->step, 0.02, 0.5),
		ARG_OPT_DOUBLE("--val-fraction", NULL, &o->val_frac, 0, 0.9),
		ARG_OPT_LONG("--ctx-size", "-c", &o->ctx, 4, 1 << 16),
		ARG_OPT_LONG("--chunks", NULL, &o->chunks, 1, 1 << 20),
		ARG_OPT_LONG("--rounds", NULL, &o->rounds, 0, 1000),
		ARG_OPT_LONG("--threads", "-t", &o->threads, 1, 256),
		ARG_OPT_FN("--kv-type", NULL, &o->kv_type, cli_kv_type),
		ARG_OPT_BOOL("--json", NULL, &o->json),
		ARG_OPT_FN("--sparsity-mode", NULL, &o->threshold, swap_cli_sparsity_mode),
		ARG_OPT_BOOL("--uniform", NULL, &o->uniform),
		ARG_OPT_FN("--search", NULL, &o->search, opt_search),
		ARG_OPT_STR("--store", NULL, &o->spath),
		ARG_OPT_STR("--dram-budget", NULL, &o->budget),
		ARG_OPT_STR("--gap", NULL, &o->gap),
		ARG_OPT_END,
	};
	const struct arg_spec spec = {
		.sub = SUB, .tables = { opts },
		.usage = calibrate_usage,
	};
	int rc = args_parse(&spec, argc, argv);

	if (rc >= 0)
		return rc;
	if (!o->mpath || !o->tpath || o->S < 0) {
		cli_err(SUB, "-m MODEL, -f TEXT and --sparsity S are required");
		return 2;
	}
	if ((o->budget || o->gap) && !o->spath) {
		cli_err(SUB, "--dram-budget and --gap weigh the levels by a store: give --store");
		return 2;
	}
	return -1;
}

int cmd_calibrate(int argc, char **argv)
{
	struct opts o = { .S = -1, .step = 0.1, .val_frac = 0.3, .ctx = 256, .threads = 2,
			  .kv_type = AS_KV_F16 };
	struct as_model *m = NULL;
	struct as_tokenizer *tok = NULL;
	struct as_threadpool *tp = NULL;
	struct cal c = { 0 };
	struct split se = { 0 }, va = { 0 };
	struct cand cd[N_CAND + 1] = { 0 };
	struct as_eval_result uni, val_uni;
	char *text = NULL, err[256], defout[4096];
	int32_t *ids = NULL;
	size_t n_ids = 0, maxin, n_chunks, n_val, nc = 0, best = 0;
	float *zeros = NULL;
	double *w = NULL, *fw = NULL, uni_kl, chosen_share[SWAP_KIND_COUNT] = { 0 };
	bool lv_ok = true;
	int rc;

	rc = parse(&o, argc, argv);
	if (rc >= 0)
		return rc;
	rc = 1;
	if (!o.opath) {
		snprintf(defout, sizeof(defout), "%s.sparsity", o.mpath);
		o.opath = defout;
	}
	tp = as_tp_create((int)o.threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads", o.threads);
		goto out;
	}
	if (as_model_load(&m, o.mpath, err, sizeof(err))) {
		cli_model_err(SUB, o.mpath, err);
		goto out;
	}
	if (as_tokenizer_load(&tok, m->gguf, err, sizeof(err))) {
		cli_err(SUB, "%s: %s", o.mpath, err);
		goto out;
	}
	if (swap_cli_read_text(SUB, o.tpath, &text, &n_ids))
		goto out;
	if (as_tokenize(tok, text, n_ids, as_tokenizer_add_bos(tok), &ids, &n_ids)) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	n_chunks = n_ids / (size_t)o.ctx;
	if (o.chunks && n_chunks > (size_t)o.chunks)
		n_chunks = (size_t)o.chunks;
	n_val = o.val_frac > 0 ? (size_t)lround(o.val_frac * (double)n_chunks) : 0;
	if (o.val_frac > 0 && n_val < 1)
		n_val = 1;
	if (n_chunks < 1 + n_val) {
		cli_err(SUB, "%s has %zu tokens, %zu chunks of %ld: too few for a search and a "
			"validation split (--val-fraction 0 to search and choose on all of it)",
			o.tpath, n_ids, n_chunks, o.ctx);
		rc = 2;
		goto out;
	}
	se.ids = ids;
	se.n_ids = (n_chunks - n_val) * (size_t)o.ctx;
	va.ids = ids + se.n_ids;
	va.n_ids = n_val * (size_t)o.ctx;
	c.G = (size_t)m->hp.n_layer * SWAP_KIND_COUNT;
	c.n_ctx = (uint32_t)o.ctx;
	c.bos = as_tokenizer_bos(tok);
	zeros = calloc(c.G, sizeof(float));
	w = malloc(c.G * sizeof(double));
	/* the widest input of a group: dim, hidden or the attention (as_group_in) */
	maxin = m->hp.hidden > m->hp.dim ? m->hp.hidden : m->hp.dim;
	if (as_q_dim(&m->hp) > maxin)
		maxin = as_q_dim(&m->hp);
	c.h.idx = malloc(sizeof(uint32_t) * maxin);
	c.h.scratch = malloc(sizeof(float) * maxin);
	c.h.tmp = malloc(sizeof(float) * maxin);
	for (size_t i = 0; i < N_CAND + 1; i++) {
		cd[i].lv = malloc(c.G * sizeof(float));
		lv_ok &= cd[i].lv != NULL;
	}
	if (!lv_ok || !zeros || !w || !c.h.idx || !c.h.scratch || !c.h.tmp ||
	    as_state_new(&c.st, m, (uint32_t)o.ctx, tp) ||
	    as_state_set_kv_type(c.st, (enum as_kv_type)o.kv_type)) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		const struct as_layer *L = &m->layers[l];

		w[l * 4 + SWAP_ATTN_IN] = (double)L->w[AS_OP_Q].cols *
					  (L->w[AS_OP_Q].rows + L->w[AS_OP_K].rows + L->w[AS_OP_V].rows);
		w[l * 4 + SWAP_ATTN_OUT] = (double)L->w[AS_OP_O].cols * L->w[AS_OP_O].rows;
		w[l * 4 + SWAP_FFN_IN] = (double)L->w[AS_OP_GATE].cols *
					 (L->w[AS_OP_GATE].rows + L->w[AS_OP_UP].rows);
		w[l * 4 + SWAP_FFN_OUT] = (double)L->w[AS_OP_DOWN].cols * L->w[AS_OP_DOWN].rows;
	}
	c.nw = w;
	for (size_t g = 0; g < c.G; g++)
		c.nwsum += w[g];
	c.w = w;
	if (o.spath) {
		fw = malloc(c.G * sizeof(double));
		rc = fw ? store_weights(&o, tp, m, fw, c.share) : 1;
		if (rc) {
			if (!fw)
				cli_err(SUB, "out of memory");
			goto out;
		}
		rc = 1;
		c.w = fw;
	}
	for (size_t g = 0; g < c.G; g++)
		c.wsum += c.w[g];
	c.st->hook.pre = lv_pre;
	c.st->hook.arg = &c.h;
	if (o.threshold) {
		c.hist = calloc(c.G * AS_THR_BINS, sizeof(uint64_t));
		c.thr = calloc(c.G, sizeof(float));
		c.h.kept = calloc(c.G, sizeof(uint64_t));
		c.h.seen = calloc(c.G, sizeof(uint64_t));
		if (!c.hist || !c.thr || !c.h.kept || !c.h.seen) {
			cli_err(SUB, "out of memory");
			goto out;
		}
	}
	/* the search split's dense pass counts its activations (threshold mode) */
	c.h.hist = c.hist;
	rc = split_record(&c, &se, zeros);
	c.h.hist = NULL;
	rc = rc ? rc : va.n_ids ? split_record(&c, &va, zeros) : 0;
	if (rc) {
		rc = 1;
		cli_err(SUB, "%s: the dense pass failed (out of memory?)", o.mpath);
		goto out;
	}
	rc = 1;

	/* the search: uniform, the sensitivity curves and their allocation */
	for (size_t g = 0; g < c.G; g++)
		cd[0].lv[g] = (float)o.S;
	uni_kl = cal_measure(&c, &se, cd[0].lv, &uni);
	fprintf(stderr, "activeswap calibrate: search split %zu tokens, validation %zu; "
		"uniform %.2f on search: PPL %.4f KL %.5f top-1 %.4f\n", se.n_ids, va.n_ids, o.S,
		uni.ppl, uni.kl, uni.top1);
	cd[0].name = "uniform";
	cd[0].search_kl = uni_kl;
	nc = o.uniform ? 1 : cal_search(&c, &se, &o, cd, uni_kl);
	if (!nc)
		goto out;

	/* the choice: on validation when there is one (ties: the earlier, more uniform) */
	best = 0;
	for (size_t i = 0; i < nc; i++) {
		if (va.n_ids)
			cal_measure(&c, &va, cd[i].lv, &cd[i].val);
		else
			cal_measure(&c, &se, cd[i].lv, &cd[i].val);
		cd[i].realized = c.realized;
		fprintf(stderr, "activeswap calibrate: %s: search KL %.5f, %s KL %.5f\n",
			cd[i].name, cd[i].search_kl, va.n_ids ? "validation" : "search",
			cd[i].val.kl);
		if (cd[i].val.kl < cd[best].val.kl)
			best = i;
	}
	val_uni = cd[0].val;
	if (write_levels(&o, &c, m->hp.n_layer, &se, &va, cd, nc, best, &val_uni))
		goto out;
	if (o.spath) {
		/* the hot set's split follows the levels (plan_reads): the same split? */
		double bytes[SWAP_KIND_COUNT];

		if (store_shares(&o, tp, m, o.opath, bytes, chosen_share))
			goto out;
	}
	if (!o.json) {
		printf("levels for sparsity %.2f (average %.4f over %s, %.4f over weights, %s) "
		       "written to %s\n  on %s (%zu tokens): uniform: ", o.S,
		       weighted_avg(&c, cd[best].lv), o.spath ? "flash bytes" : "weights",
		       avg_by(&c, c.nw, c.nwsum, cd[best].lv), cd[best].name, o.opath,
		       va.n_ids ? "validation" : "search",
		       va.n_ids ? va.n_ids : se.n_ids);
		print_res(stdout, "", &val_uni, false);
		printf("; calibrated: ");
		print_res(stdout, "", &cd[best].val, false);
		printf("\n  search (%zu tokens): uniform KL %.5f, calibrated KL %.5f (%llu "
		       "evaluations)\n", se.n_ids, uni_kl, cd[best].search_kl,
		       (unsigned long long)c.evals);
		if (o.threshold)
			printf("  thresholds: %s sparsity realized %.4f (uniform's %.4f)\n",
			       va.n_ids ? "validation" : "search", cd[best].realized,
			       cd[0].realized);
	} else {
		printf("{\"sparsity\": %.4f, \"weighted_average\": %.4f, \"search_tokens\": %zu, "
		       "\"val_tokens\": %zu, \"chosen\": \"%s\", \"chosen_on\": \"%s\", "
		       "\"dense_ppl\": %.4f, ", o.S, weighted_avg(&c, cd[best].lv), se.n_ids,
		       va.n_ids, cd[best].name, va.n_ids ? "validation" : "search",
		       va.n_ids ? va.dense_ppl : se.dense_ppl);
		print_res(stdout, "uniform_", &val_uni, true);
		print_res(stdout, "calibrated_", &cd[best].val, true);
		printf("\"search_uniform_kl\": %.5f, \"search_calibrated_kl\": %.5f, "
		       "\"evals\": %llu, \"sparsity_mode\": \"%s\", ", uni_kl,
		       cd[best].search_kl, (unsigned long long)c.evals,
		       o.threshold ? "threshold" : "topk");
		if (o.threshold)
			printf("\"uniform_realized_sparsity\": %.4f, "
			       "\"calibrated_realized_sparsity\": %.4f, ", cd[0].realized,
			       cd[best].realized);
		printf("\"average_over\": \"%s\", \"weights_average\": %.4f, ",
		       o.spath ? "flash" : "weights", avg_by(&c, c.nw, c.nwsum, cd[best].lv));
		if (o.spath)
			printf("\"resident_share\": [%.4f, %.4f, %.4f, %.4f], "
			       "\"chosen_resident_share\": [%.4f, %.4f, %.4f, %.4f], ",
			       c.share[0], c.share[1], c.share[2], c.share[3], chosen_share[0],
			       chosen_share[1], chosen_share[2], chosen_share[3]);
		printf("\"file\": ");
		cli_json_str(stdout, o.opath);
		printf("}\n");
	}
	rc = 0;
out:
	free(text);
	free(ids);
	free(zeros);
	free(w);
	free(fw);
	free(se.ref);
	free(va.ref);
	for (size_t i = 0; i < N_CAND + 1; i++)
		free(cd[i].lv);
	free(c.h.idx);
	free(c.h.scratch);
	free(c.h.tmp);
	free(c.hist);
	free(c.thr);
	free(c.h.kept);
	free(c.h.seen);
	as_state_free(c.st);
	as_tokenizer_free(tok);
	as_model_free(m);
	if (tp)
		as_tp_destroy(tp);
	return rc;
}

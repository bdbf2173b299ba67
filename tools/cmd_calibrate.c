// SPDX-License-Identifier: MIT
/*
 * activeswap calibrate -m MODEL.gguf -f TEXT --sparsity S [-o OUT] [-c CTX] [--chunks N]
 *                      [--val-fraction F] [--step D] [--rounds R] [-t N] [--json]
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
#include "swap_cli.h"

#define SUB "calibrate"
#define MAX_LEVEL 0.95
#define N_CAND 5 /* uniform, kinds, kinds/2, groups, groups/2 (+ refined) */

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
	"      --sparsity S      the weighted average level, in [0, 0.95]\n"
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
	"  -t, --threads N       compute threads (default 2)\n"
	CLI_KV_TYPE_USAGE
	"      --json            print the result as one JSON object (default: a summary)\n"
	"  -h, --help            this text\n";

struct lv_hook {
	const float *lv; /* [n_layer][SWAP_KIND_COUNT] */
	uint32_t *idx;
	float *scratch, *tmp;
};

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
	size_t k = as_swap_topk_count(h->lv[layer * SWAP_KIND_COUNT + kind_of_op(op)],
				      (uint32_t)n);

	if (k >= n)
		return;
	k = as_topk_select(x, n, k, h->idx, h->scratch);
	memset(h->tmp, 0, n * sizeof(float));
	for (size_t i = 0; i < k; i++)
		h->tmp[h->idx[i]] = x[h->idx[i]];
	memcpy(x, h->tmp, n * sizeof(float));
}

/*
 * One split of the text, with the dense model's logits at its scored positions, recorded
 * once: every measurement then runs the sparse model only and replays them.
 */
struct split {
	const int32_t *ids;
	size_t n_ids, n_scored, at;
	float *ref;	   /* [n_scored][n_vocab] */
	size_t n_vocab;
	bool recording;
	struct as_state *st;
	const float *cur;
	double dense_ppl;
};

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

struct cal {
	struct as_state *st;
	struct lv_hook h;
	uint32_t n_ctx;
	int32_t bos;
	size_t G;
	const double *w;
	double wsum;
	uint64_t evals;
};

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

/* KL to dense (and PPL, top-1 into res) of the levels lv on sp; INFINITY on failure. */
static double measure(struct cal *c, struct split *sp, const float *lv,
		      struct as_eval_result *res)
{
	struct as_eval_model ms, mr = split_model(sp, c->n_ctx);
	struct as_eval_result r;

	c->evals++;
	c->h.lv = lv;
	sp->at = 0;
	as_eval_model_state(&ms, c->st, 0);
	if (as_perplexity_model(&ms, &mr, sp->ids, sp->n_ids, c->n_ctx, c->bos, NULL, NULL,
				&r))
		return INFINITY;
	if (res)
		*res = r;
	return r.kl;
}

/*
 * Greedy refinement on the search split from lv (KL *base): each round measures every
 * group raised and lowered by step; of the three cheapest raises (KL per weight) and the
 * three best lowerings it applies the first pair that lowers the KL, moving the same
 * number of weights. Stops after `rounds` or when no pair helps.
 */
static int refine(struct cal *c, struct split *sp, float *lv, double *base, long rounds,
		  double step)
{
	size_t G = c->G;
	const double *w = c->w;
	float *trial = malloc(G * sizeof(float));
	double *cu = malloc(G * sizeof(double)), *cd = malloc(G * sizeof(double));
	int rc = 0;

	if (!trial || !cu || !cd) {
		rc = -ENOMEM;
		goto out;
	}
	for (long rd = 0; rd < rounds; rd++) {
		size_t ua[3] = { G, G, G }, db[3] = { G, G, G };
		bool moved = false;

		for (size_t g = 0; g < G; g++) {
			cu[g] = INFINITY;
			cd[g] = -INFINITY;
			memcpy(trial, lv, G * sizeof(float));
			if (lv[g] + step <= MAX_LEVEL) {
				trial[g] = lv[g] + (float)step;
				cu[g] = (measure(c, sp, trial, NULL) - *base) / w[g];
				trial[g] = lv[g];
			}
			if (lv[g] - step >= 0) {
				trial[g] = lv[g] - (float)step;
				cd[g] = (*base - measure(c, sp, trial, NULL)) / w[g];
			}
		}
		for (size_t g = 0; g < G; g++) {
			for (int i = 0; i < 3; i++) {
				if (isfinite(cu[g]) && (ua[i] == G || cu[g] < cu[ua[i]])) {
					memmove(ua + i + 1, ua + i, (2 - i) * sizeof(size_t));
					ua[i] = g;
					break;
				}
			}
			for (int i = 0; i < 3; i++) {
				if (isfinite(cd[g]) && (db[i] == G || cd[g] > cd[db[i]])) {
					memmove(db + i + 1, db + i, (2 - i) * sizeof(size_t));
					db[i] = g;
					break;
				}
			}
		}
		for (int i = 0; i < 3 && !moved; i++) {
			for (int j = 0; j < 3 && !moved; j++) {
				size_t ga = ua[i], gb = db[j];
				double kl;

				if (ga == G || gb == G || ga == gb || cd[gb] <= cu[ga])
					continue;
				memcpy(trial, lv, G * sizeof(float));
				trial[ga] += (float)step;
				trial[gb] -= (float)(step * w[ga] / w[gb]);
				if (trial[gb] < 0) {
					/* keep the average: give back what gb could not take */
					trial[ga] -= (float)(-trial[gb] * w[gb] / w[ga]);
					trial[gb] = 0;
				}
				kl = measure(c, sp, trial, NULL);
				if (!(kl < *base))
					continue;
				*base = kl;
				memcpy(lv, trial, G * sizeof(float));
				moved = true;
				fprintf(stderr, "activeswap calibrate: round %ld: blk.%zu.%s up, "
					"blk.%zu.%s down: KL %.5f\n", rd + 1, ga / 4,
					swap_kind_name((int)(ga % 4)), gb / 4,
					swap_kind_name((int)(gb % 4)), kl);
			}
		}
		if (!moved)
			break;
	}
out:
	free(trial);
	free(cu);
	free(cd);
	return rc;
}

/*
 * The closed-form allocation on the search split: each group's KL with its level at
 * every grid point and the others at S, allocated by as_levels_allocate into out.
 */
static int allocate(struct cal *c, struct split *sp, double S, double uni_kl, double step,
		    float *out)
{
	size_t G = c->G, np = 0;
	float grid[64], *trial = malloc(G * sizeof(float));
	double *cost = NULL;
	int rc;

	while (np < 63 && np * step <= MAX_LEVEL + 1e-9) {
		grid[np] = (float)(np * step);
		np++;
	}
	if (grid[np - 1] < MAX_LEVEL - 1e-6)
		grid[np++] = (float)MAX_LEVEL;
	cost = malloc(G * np * sizeof(double));
	if (!trial || !cost) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t g = 0; g < G; g++) {
		for (size_t j = 0; j < G; j++)
			trial[j] = (float)S;
		for (size_t i = 0; i < np; i++) {
			trial[g] = grid[i];
			cost[g * np + i] = fabs(grid[i] - S) < 1e-6 ? uni_kl
								    : measure(c, sp, trial, NULL);
		}
	}
	rc = as_levels_allocate((uint32_t)G, (uint32_t)np, grid, cost, c->w, S, out);
out:
	free(trial);
	free(cost);
	return rc;
}

/*
 * TEAL-style greedy allocation on the search split, with the levels tied within blocks
 * (group g is in block g % nb: nb = SWAP_KIND_COUNT ties each kind across the layers):
 * from every level at 0, each step raises by `step` the block whose raise costs the
 * least KL per weight, measured on the current levels, until the weighted average is S
 * (the last step exactly so much).
 */
static int greedy(struct cal *c, struct split *sp, double S, double step, size_t nb,
		  float *out)
{
	size_t G = c->G;
	float *trial = malloc(G * sizeof(float));
	double *bw = calloc(nb, sizeof(double)), cur = 0, left = S * c->wsum;

	if (!trial || !bw) {
		free(trial);
		free(bw);
		return -ENOMEM;
	}
	for (size_t g = 0; g < G; g++) {
		out[g] = 0;
		bw[g % nb] += c->w[g];
	}
	while (left > 1e-9 * c->wsum) {
		size_t best = nb;
		double bc = INFINITY, bkl = 0, bd = 0;

		for (size_t b = 0; b < nb; b++) {
			double d = step, kl;

			if (out[b] + 1e-6 >= MAX_LEVEL)
				continue;
			if (out[b] + d > MAX_LEVEL)
				d = MAX_LEVEL - out[b];
			if (d * bw[b] > left)
				d = left / bw[b];
			memcpy(trial, out, G * sizeof(float));
			for (size_t g = b; g < G; g += nb)
				trial[g] = (float)(out[g] + d);
			kl = measure(c, sp, trial, NULL);
			if ((kl - cur) / (d * bw[b]) < bc) {
				bc = (kl - cur) / (d * bw[b]);
				best = b;
				bkl = kl;
				bd = d;
			}
		}
		if (best == nb)
			break;
		for (size_t g = best; g < G; g += nb)
			out[g] = (float)(out[g] + bd);
		cur = bkl;
		left -= bd * bw[best];
	}
	free(trial);
	free(bw);
	return left > 1e-6 * c->wsum ? -EIO : 0;
}

struct cand {
	const char *name;
	float *lv;
	double search_kl;
	struct as_eval_result val;
};

struct opts {
	const char *mpath, *tpath, *opath;
	double S, step, val_frac;
	long ctx, chunks, rounds, threads;
	int kv_type; /* --kv-type */
	bool json;
};

static double weighted_avg(const struct cal *c, const float *lv)
{
	double a = 0;

	for (size_t g = 0; g < c->G; g++)
		a += lv[g] * c->w[g] / c->wsum;
	return a;
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
	fprintf(f, "# chosen: %s on the %s split; search KL:", cd[best].name,
		va->n_ids ? "validation" : "search");
	for (size_t i = 0; i < nc; i++)
		fprintf(f, " %s %.5f", cd[i].name, cd[i].search_kl);
	if (va->n_ids) {
		fprintf(f, "\n# validation KL:");
		for (size_t i = 0; i < nc; i++)
			fprintf(f, " %s %.5f", cd[i].name, cd[i].val.kl);
	}
	fprintf(f, "\n# %s split, dense PPL %.4f: uniform %.2f: ",
		va->n_ids ? "validation" : "search", va->n_ids ? va->dense_ppl : se->dense_ppl,
		o->S);
	print_res(f, "", uni, false);
	fprintf(f, "; calibrated: ");
	print_res(f, "", &cd[best].val, false);
	fprintf(f, "\nlayers %u\n", n_layer);
	for (size_t g = 0; g < c->G; g++)
		fprintf(f, "%zu %s %.4f\n", g / 4, swap_kind_name((int)(g % 4)),
			(double)cd[best].lv[g]);
	if (ferror(f) | fclose(f)) { /* both: fclose also flushes */
		/* not removed: -o may name something that is not ours */
		cli_err(SUB, "cannot write %s: %s (incomplete)", o->opath, strerror(errno));
		return -1;
	}
	return 0;
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
	double *w = NULL, uni_kl;
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
	c.w = w;
	for (size_t g = 0; g < c.G; g++)
		c.wsum += w[g];
	c.st->hook.pre = lv_pre;
	c.st->hook.arg = &c.h;
	if (split_record(&c, &se, zeros) || (va.n_ids && split_record(&c, &va, zeros))) {
		cli_err(SUB, "%s: the dense pass failed (out of memory?)", o.mpath);
		goto out;
	}

	/* the search: uniform, the sensitivity curves and their allocation */
	for (size_t g = 0; g < c.G; g++)
		cd[0].lv[g] = (float)o.S;
	uni_kl = measure(&c, &se, cd[0].lv, &uni);
	fprintf(stderr, "activeswap calibrate: search split %zu tokens, validation %zu; "
		"uniform %.2f on search: PPL %.4f KL %.5f top-1 %.4f\n", se.n_ids, va.n_ids, o.S,
		uni.ppl, uni.kl, uni.top1);
	if (greedy(&c, &se, o.S, o.step, SWAP_KIND_COUNT, cd[1].lv) ||
	    allocate(&c, &se, o.S, uni_kl, o.step, cd[3].lv)) {
		cli_err(SUB, "the search failed (a measurement failed or out of memory)");
		goto out;
	}
	cd[0].name = "uniform";
	cd[1].name = "kinds";
	cd[2].name = "kinds/2";
	cd[3].name = "groups";
	cd[4].name = "groups/2";
	/* the halves: halfway between uniform and the allocation (same average) */
	for (size_t g = 0; g < c.G; g++) {
		cd[2].lv[g] = (float)(o.S + 0.5 * ((double)cd[1].lv[g] - o.S));
		cd[4].lv[g] = (float)(o.S + 0.5 * ((double)cd[3].lv[g] - o.S));
	}
	for (size_t i = 0; i < N_CAND; i++) {
		cd[i].search_kl = i ? measure(&c, &se, cd[i].lv, NULL) : uni_kl;
		if (cd[i].search_kl < cd[best].search_kl)
			best = i;
	}
	nc = N_CAND;
	if (o.rounds) {
		double base = cd[best].search_kl;

		memcpy(cd[nc].lv, cd[best].lv, c.G * sizeof(float));
		if (refine(&c, &se, cd[nc].lv, &base, o.rounds, o.step)) {
			cli_err(SUB, "out of memory");
			goto out;
		}
		cd[nc].name = "refined";
		cd[nc++].search_kl = base;
	}

	/* the choice: on validation when there is one (ties: the earlier, more uniform) */
	best = 0;
	for (size_t i = 0; i < nc; i++) {
		if (va.n_ids)
			measure(&c, &va, cd[i].lv, &cd[i].val);
		else
			measure(&c, &se, cd[i].lv, &cd[i].val);
		fprintf(stderr, "activeswap calibrate: %s: search KL %.5f, %s KL %.5f\n",
			cd[i].name, cd[i].search_kl, va.n_ids ? "validation" : "search",
			cd[i].val.kl);
		if (cd[i].val.kl < cd[best].val.kl)
			best = i;
	}
	val_uni = cd[0].val;
	if (write_levels(&o, &c, m->hp.n_layer, &se, &va, cd, nc, best, &val_uni))
		goto out;
	if (!o.json) {
		printf("levels for sparsity %.2f (weighted average %.4f, %s) written to %s\n"
		       "  on %s (%zu tokens): uniform: ", o.S, weighted_avg(&c, cd[best].lv),
		       cd[best].name, o.opath, va.n_ids ? "validation" : "search",
		       va.n_ids ? va.n_ids : se.n_ids);
		print_res(stdout, "", &val_uni, false);
		printf("; calibrated: ");
		print_res(stdout, "", &cd[best].val, false);
		printf("\n  search (%zu tokens): uniform KL %.5f, calibrated KL %.5f (%llu "
		       "evaluations)\n", se.n_ids, uni_kl, cd[best].search_kl,
		       (unsigned long long)c.evals);
	} else {
		printf("{\"sparsity\": %.4f, \"weighted_average\": %.4f, \"search_tokens\": %zu, "
		       "\"val_tokens\": %zu, \"chosen\": \"%s\", \"chosen_on\": \"%s\", "
		       "\"dense_ppl\": %.4f, ", o.S, weighted_avg(&c, cd[best].lv), se.n_ids,
		       va.n_ids, cd[best].name, va.n_ids ? "validation" : "search",
		       va.n_ids ? va.dense_ppl : se.dense_ppl);
		print_res(stdout, "uniform_", &val_uni, true);
		print_res(stdout, "calibrated_", &cd[best].val, true);
		printf("\"search_uniform_kl\": %.5f, \"search_calibrated_kl\": %.5f, "
		       "\"evals\": %llu, \"file\": ", uni_kl, cd[best].search_kl,
		       (unsigned long long)c.evals);
		cli_json_str(stdout, o.opath);
		printf("}\n");
	}
	rc = 0;
out:
	free(text);
	free(ids);
	free(zeros);
	free(w);
	free(se.ref);
	free(va.ref);
	for (size_t i = 0; i < N_CAND + 1; i++)
		free(cd[i].lv);
	free(c.h.idx);
	free(c.h.scratch);
	free(c.h.tmp);
	as_state_free(c.st);
	as_tokenizer_free(tok);
	as_model_free(m);
	if (tp)
		as_tp_destroy(tp);
	return rc;
}

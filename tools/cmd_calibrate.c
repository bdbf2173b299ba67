// SPDX-License-Identifier: MIT
/*
 * activeswap calibrate -m MODEL.gguf -f TEXT --sparsity S [-o OUT] [-c CTX] [--chunks N]
 *                      [--step D] [--rounds R] [-t N] [--json]
 *
 * Per-layer, per-op-group Top-K sparsity levels with the same weighted average S (each
 * (layer, bundle kind) weighted by its number of weights) that lower the output error:
 * a greedy allocation measured on TEXT with the dense runtime. Every round measures, for
 * each group, the KL to dense with its level raised and lowered by D; the group whose
 * raise costs least per weight goes up by D, the one whose lowering gains most goes
 * down by the same number of weights; it stops when no move lowers the KL. The levels
 * are written as text (Documentation/swapping.md) to OUT (default MODEL.sparsity) and
 * used by run/bench decode with --sparsity-file.
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

static const char calibrate_usage[] =
	"usage: activeswap calibrate -m MODEL.gguf -f TEXT --sparsity S [options]\n"
	"\n"
	"Per-layer, per-op-group Top-K sparsity levels with the weighted average S that lower\n"
	"the KL to the dense model on TEXT (a greedy allocation); the levels file is for\n"
	"run/eval/bench decode --sparsity-file on the model's store.\n"
	"\n"
	"  -m, --model PATH      GGUF model (dense runtime)\n"
	"  -f, --file PATH       text to measure on\n"
	"      --sparsity S      the weighted average level, in [0, 0.95]\n"
	"  -o, --output PATH     levels file (default MODEL.sparsity)\n"
	"  -c, --ctx-size N      chunk size in tokens (default 256)\n"
	"      --chunks N        measure on at most N chunks (default: all of TEXT)\n"
	"      --step D          level step of one move (default 0.05)\n"
	"      --rounds R        at most R rounds of moves (default 12; 0: uniform)\n"
	"  -t, --threads N       compute threads (default 2)\n"
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

struct ctx {
	struct as_state *st, *ref;
	const int32_t *ids;
	size_t n_ids;
	uint32_t n_ctx;
	int32_t bos;
	uint64_t evals;
};

static double measure(struct ctx *c, struct as_eval_result *res)
{
	struct as_eval_result r;

	c->evals++;
	if (as_perplexity(c->st, c->ref, c->ids, c->n_ids, c->n_ctx, c->bos, NULL, NULL, &r))
		return INFINITY;
	if (res)
		*res = r;
	return r.kl;
}

int cmd_calibrate(int argc, char **argv)
{
	const char *mpath = NULL, *tpath = NULL, *opath = NULL;
	double S = -1, step = 0.05;
	long ctx = 256, chunks = 0, rounds = 12, threads = 2;
	struct as_model *m = NULL;
	struct as_tokenizer *tok = NULL;
	struct as_threadpool *tp = NULL;
	struct ctx c = { 0 };
	struct lv_hook h = { 0 };
	char *text = NULL, err[256], defout[4096];
	int32_t *ids = NULL;
	size_t n_ids = 0, G, maxin;
	float *lv = NULL, *trial = NULL;
	double *w = NULL, *cu = NULL, *cd = NULL, wsum = 0, base;
	struct as_eval_result uni, cal;
	FILE *f;
	bool json = false;
	int rc = 1;

	{
		const struct arg_opt opts[] = {
			ARG_OPT_STR("--model", "-m", &mpath),
			ARG_OPT_STR("--file", "-f", &tpath),
			ARG_OPT_STR("--output", "-o", &opath),
			ARG_OPT_DOUBLE("--sparsity", NULL, &S, 0, 0.95),
			ARG_OPT_DOUBLE("--step", NULL, &step, 0.005, 0.5),
			ARG_OPT_LONG("--ctx-size", "-c", &ctx, 4, 1 << 16),
			ARG_OPT_LONG("--chunks", NULL, &chunks, 1, 1 << 20),
			ARG_OPT_LONG("--rounds", NULL, &rounds, 0, 1000),
			ARG_OPT_LONG("--threads", "-t", &threads, 1, 256),
			ARG_OPT_BOOL("--json", NULL, &json),
			ARG_OPT_END,
		};
		const struct arg_spec spec = {
			.sub = SUB, .tables = { opts },
			.usage = calibrate_usage,
		};

		rc = args_parse(&spec, argc, argv);
		if (rc >= 0)
			return rc;
		rc = 1;
	}
	if (!mpath || !tpath || S < 0) {
		cli_err(SUB, "-m MODEL, -f TEXT and --sparsity S are required");
		return 2;
	}
	if (!opath) {
		snprintf(defout, sizeof(defout), "%s.sparsity", mpath);
		opath = defout;
	}
	tp = as_tp_create((int)threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads", threads);
		goto out;
	}
	if (as_model_load(&m, mpath, err, sizeof(err))) {
		cli_model_err(SUB, mpath, err);
		goto out;
	}
	if (as_tokenizer_load(&tok, m->gguf, err, sizeof(err))) {
		cli_err(SUB, "%s: %s", mpath, err);
		goto out;
	}
	if (swap_cli_read_text(SUB, tpath, &text, &n_ids))
		goto out;
	if (as_tokenize(tok, text, n_ids, as_tokenizer_add_bos(tok), &ids, &n_ids)) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	if (chunks && n_ids > (size_t)(chunks * ctx))
		n_ids = (size_t)(chunks * ctx);
	if (n_ids < (size_t)ctx) {
		cli_err(SUB, "%s has %zu tokens, less than one chunk of %ld", tpath, n_ids, ctx);
		rc = 2;
		goto out;
	}
	G = (size_t)m->hp.n_layer * SWAP_KIND_COUNT;
	lv = malloc(G * sizeof(float));
	trial = malloc(G * sizeof(float));
	w = malloc(G * sizeof(double));
	/* the widest input of a group: dim, hidden or the attention (as_group_in) */
	maxin = m->hp.hidden > m->hp.dim ? m->hp.hidden : m->hp.dim;
	if (as_q_dim(&m->hp) > maxin)
		maxin = as_q_dim(&m->hp);
	h.idx = malloc(sizeof(uint32_t) * maxin);
	h.scratch = malloc(sizeof(float) * maxin);
	h.tmp = malloc(sizeof(float) * maxin);
	if (!lv || !trial || !w || !h.idx || !h.scratch || !h.tmp ||
	    as_state_new(&c.st, m, (uint32_t)ctx, tp) || as_state_new(&c.ref, m, (uint32_t)ctx, tp)) {
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
	for (size_t g = 0; g < G; g++) {
		lv[g] = (float)S;
		wsum += w[g];
	}
	c.ids = ids;
	c.n_ids = n_ids;
	c.n_ctx = (uint32_t)ctx;
	c.bos = as_tokenizer_bos(tok);
	h.lv = trial;
	c.st->hook.pre = lv_pre;
	c.st->hook.arg = &h;
	memcpy(trial, lv, G * sizeof(float));
	base = measure(&c, &uni);
	fprintf(stderr, "activeswap calibrate: uniform %.2f: PPL %.4f KL %.5f top-1 %.4f\n", S,
		uni.ppl, uni.kl, uni.top1);
	cu = malloc(G * sizeof(double));
	cd = malloc(G * sizeof(double));
	if (!cu || !cd) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	for (long rd = 0; rd < rounds; rd++) {
		size_t ua[3] = { G, G, G }, db[3] = { G, G, G };
		bool moved = false;

		/* marginal KL per weight of raising / lowering each group by one step */
		for (size_t g = 0; g < G; g++) {
			cu[g] = INFINITY;
			cd[g] = -INFINITY;
			memcpy(trial, lv, G * sizeof(float));
			if (lv[g] + step <= 0.95) {
				trial[g] = lv[g] + (float)step;
				cu[g] = (measure(&c, NULL) - base) / w[g];
				trial[g] = lv[g];
			}
			if (lv[g] - step >= 0) {
				trial[g] = lv[g] - (float)step;
				cd[g] = (base - measure(&c, NULL)) / w[g];
			}
		}
		/* the three cheapest raises and the three best lowerings */
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
		/* first pair (in order of predicted gain) that really lowers the KL */
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
				kl = measure(&c, NULL);
				if (!(kl < base))
					continue;
				base = kl;
				memcpy(lv, trial, G * sizeof(float));
				moved = true;
				fprintf(stderr, "activeswap calibrate: round %ld: blk.%zu.%s up, "
					"blk.%zu.%s down: KL %.5f\n", rd + 1, ga / 4,
					swap_kind_name(ga % 4), gb / 4, swap_kind_name(gb % 4), kl);
			}
		}
		if (!moved)
			break;
	}
	memcpy(trial, lv, G * sizeof(float));
	measure(&c, &cal);
	{
		double avg = 0;

		for (size_t g = 0; g < G; g++)
			avg += lv[g] * w[g] / wsum;
		f = fopen(opath, "w");
		if (!f) {
			cli_err(SUB, "cannot write %s: %s", opath, strerror(errno));
			goto out;
		}
		fprintf(f, "# activeswap sparsity levels (activeswap calibrate)\n"
			"# model %s, text %s, %zu tokens, weighted average %.4f\n"
			"# uniform %.2f: PPL %.4f KL %.5f top-1 %.4f; calibrated: PPL %.4f KL %.5f "
			"top-1 %.4f\n", mpath, tpath, n_ids, avg, S, uni.ppl, uni.kl, uni.top1,
			cal.ppl, cal.kl, cal.top1);
		fprintf(f, "layers %u\n", m->hp.n_layer);
		for (size_t g = 0; g < G; g++)
			fprintf(f, "%zu %s %.4f\n", g / 4, swap_kind_name(g % 4), (double)lv[g]);
		if (ferror(f) | fclose(f)) { /* both: fclose also flushes */
			/* not removed: -o may name something that is not ours */
			cli_err(SUB, "cannot write %s: %s (incomplete)", opath, strerror(errno));
			goto out;
		}
		if (!json) {
			printf("levels for sparsity %.2f (weighted average %.4f) written to %s\n"
			       "  uniform:    PPL %.4f  KL %.5f  top-1 %.4f\n"
			       "  calibrated: PPL %.4f  KL %.5f  top-1 %.4f   (%llu evaluations, "
			       "%zu tokens)\n", S, avg, opath, uni.ppl, uni.kl, uni.top1, cal.ppl,
			       cal.kl, cal.top1, (unsigned long long)c.evals, n_ids);
			rc = 0;
			goto out;
		}
		printf("{\"sparsity\": %.4f, \"weighted_average\": %.4f, \"uniform_ppl\": %.4f, "
		       "\"uniform_kl\": %.5f, \"uniform_top1\": %.4f, \"calibrated_ppl\": %.4f, "
		       "\"calibrated_kl\": %.5f, \"calibrated_top1\": %.4f, \"evals\": %llu, "
		       "\"file\": ", S, avg, uni.ppl, uni.kl, uni.top1, cal.ppl, cal.kl, cal.top1,
		       (unsigned long long)c.evals);
		cli_json_str(stdout, opath);
		printf("}\n");
	}
	rc = 0;
out:
	free(text);
	free(ids);
	free(lv);
	free(trial);
	free(w);
	free(cu);
	free(cd);
	free(h.idx);
	free(h.scratch);
	free(h.tmp);
	as_state_free(c.st);
	as_state_free(c.ref);
	as_tokenizer_free(tok);
	as_model_free(m);
	if (tp)
		as_tp_destroy(tp);
	return rc;
}

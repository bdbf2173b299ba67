/* SPDX-License-Identifier: MIT */
/*
 * activeswap calibrate's parts (tools/cmd_calibrate.c: the command, the splits, the
 * measurement and the levels file; tools/calibrate_search.c: the search's candidates).
 */
#ifndef ACTIVESWAP_CALIBRATE_H
#define ACTIVESWAP_CALIBRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/eval.h"
#include "activeswap/forward.h"

#define SUB "calibrate"
#define MAX_LEVEL 0.95
#define N_CAND 5 /* uniform, kinds, kinds/2, groups, groups/2 (+ refined) */

/* --search: which candidates the search makes beside uniform */
enum cal_search_kind {
	CAL_SEARCH_ALL,	  /* kinds, kinds/2, groups, groups/2 */
	CAL_SEARCH_KINDS, /* kinds, kinds/2 (4 x fewer measurements than the curves) */
	CAL_SEARCH_TEAL,  /* teal, teal/2: the greedy over every (layer, kind) group */
	CAL_SEARCH_GROUPS, /* groups, groups/2: the closed-form allocation only */
};

struct lv_hook {
	const float *lv; /* [n_layer][SWAP_KIND_COUNT] */
	uint32_t *idx;
	float *scratch, *tmp;
	/* threshold mode: thresholds [G] applied instead of lv's Top-K; hist [G][AS_THR_BINS]
	 * counts every group input while not NULL (the search split's dense pass); kept and
	 * seen [G] count the channels selected and offered */
	const float *thr;
	uint64_t *hist, *kept, *seen;
};

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

struct cal {
	struct as_state *st;
	struct lv_hook h;
	float *thr;      /* threshold mode: the thresholds of the levels measured [G] */
	uint64_t *hist;  /* threshold mode: the search split's histograms [G][AS_THR_BINS] */
	double realized; /* threshold mode: the last measurement's weighted sparsity */
	uint32_t n_ctx;
	int32_t bos;
	size_t G;
	const double *w;   /* the average's weights [G]: nw, or flash bytes (--store) */
	double wsum;
	const double *nw;  /* each group's number of weights [G] */
	double nwsum;
	double share[4];   /* --store: each kind's resident share at the budget */
	uint64_t evals;
};

struct cand {
	const char *name;
	float *lv;
	double search_kl;
	double realized; /* threshold mode: the weighted sparsity on the choosing split */
	struct as_eval_result val;
};

struct opts {
	const char *mpath, *tpath, *opath;
	const char *spath, *budget, *gap; /* --store, --dram-budget, --gap: flash weights */
	double S, step, val_frac;
	long ctx, chunks, rounds, threads;
	int kv_type; /* --kv-type */
	int search;  /* enum cal_search_kind */
	bool json, threshold, uniform;
};

/* KL to dense (and PPL, top-1 into res) of the levels lv on sp; INFINITY on failure. */
double cal_measure(struct cal *c, struct split *sp, const float *lv,
		   struct as_eval_result *res);

/*
 * The candidates beside uniform (cd[0], measured) that --search asks for (all: kinds,
 * kinds/2, groups, groups/2; kinds: the first two; teal: teal, teal/2; groups: the last
 * two) and with --rounds the refined best, each with its search KL. Their count with
 * uniform, or 0 (said) on failure.
 */
size_t cal_search(struct cal *c, struct split *se, const struct opts *o, struct cand *cd,
		  double uni_kl);

#endif

// SPDX-License-Identifier: MIT
/*
 * activeswap calibrate's search on the search split (tools/calibrate.h): TEAL-style greedy
 * with the levels tied per kind, the closed-form allocation from each group's sensitivity
 * curve, or TEAL's greedy over every group (--search teal), their halves towards uniform
 * and the optional greedy refinement.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/swap.h"
#include "calibrate.h"
#include "cli.h"

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
				cu[g] = (cal_measure(c, sp, trial, NULL) - *base) / w[g];
				trial[g] = lv[g];
			}
			if (lv[g] - step >= 0) {
				trial[g] = lv[g] - (float)step;
				cd[g] = (*base - cal_measure(c, sp, trial, NULL)) / w[g];
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
				kl = cal_measure(c, sp, trial, NULL);
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
								    : cal_measure(c, sp, trial, NULL);
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
 * (group g is in block g % nb: nb = SWAP_KIND_COUNT ties each kind across the layers,
 * nb = G leaves every group alone, as TEAL does with its blocks):
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
			kl = cal_measure(c, sp, trial, NULL);
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

/* cd[at] (measured into lv) and cd[at + 1] halfway back to uniform (the same average) */
static void add_pair(const struct cal *c, double S, struct cand *cd, size_t at,
		     const char *name, const char *half)
{
	cd[at].name = name;
	cd[at + 1].name = half;
	for (size_t g = 0; g < c->G; g++)
		cd[at + 1].lv[g] = (float)(S + 0.5 * ((double)cd[at].lv[g] - S));
}

size_t cal_search(struct cal *c, struct split *se, const struct opts *o, struct cand *cd,
		  double uni_kl)
{
	size_t best = 0, nc = 1;
	int r;

	if (o->search == CAL_SEARCH_TEAL) {
		/* TEAL's block-wise greedy, every (layer, kind) group a block */
		r = greedy(c, se, o->S, o->step, c->G, cd[nc].lv);
		if (!r)
			add_pair(c, o->S, cd, nc, "teal", "teal/2");
		nc += 2;
	} else {
		r = 0;
		if (o->search != CAL_SEARCH_GROUPS) {
			r = greedy(c, se, o->S, o->step, SWAP_KIND_COUNT, cd[nc].lv);
			if (!r)
				add_pair(c, o->S, cd, nc, "kinds", "kinds/2");
			nc += 2;
		}
		if (!r && o->search != CAL_SEARCH_KINDS) {
			r = allocate(c, se, o->S, uni_kl, o->step, cd[nc].lv);
			if (!r)
				add_pair(c, o->S, cd, nc, "groups", "groups/2");
			nc += 2;
		}
	}
	if (r) {
		cli_err(SUB, "the search failed (a measurement failed or out of memory)");
		return 0;
	}
	for (size_t i = 1; i < nc; i++) {
		cd[i].search_kl = cal_measure(c, se, cd[i].lv, NULL);
		if (cd[i].search_kl < cd[best].search_kl)
			best = i;
	}
	if (o->rounds) {
		double base = cd[best].search_kl;

		memcpy(cd[nc].lv, cd[best].lv, c->G * sizeof(float));
		if (refine(c, se, cd[nc].lv, &base, o->rounds, o->step)) {
			cli_err(SUB, "out of memory");
			return 0;
		}
		cd[nc].name = "refined";
		cd[nc++].search_kl = base;
	}
	return nc;
}

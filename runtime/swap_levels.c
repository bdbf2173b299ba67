// SPDX-License-Identifier: MIT
/*
 * The per-layer sparsity levels file written by `activeswap calibrate` (swap.h,
 * as_swap_load_levels), calibrate's closed-form allocation of levels from measured
 * sensitivity curves (as_levels_allocate) and its flash cost weights (as_levels_flash_weights).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "activeswap/swap.h"

int as_swap_load_levels(const char *path, uint32_t n_layers, float *out, char *err,
			size_t errlen)
{
	return as_swap_load_levels_thr(path, n_layers, out, NULL, err, errlen);
}

int as_swap_load_levels_thr(const char *path, uint32_t n_layers, float *out, float *thr,
			    char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[256];
	uint32_t layers = 0, seen = 0, ln = 0, format = 1;
	bool have_layers = false;
	const char *why = NULL;

	if (!f) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	for (uint32_t i = 0; i < n_layers * SWAP_KIND_COUNT; i++)
		out[i] = -1;
	while (!why && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		unsigned l;
		char kind[32];
		float v, t = 0;
		int k, end = -1;

		ln++;
		/* a line fgets cut in two must not be read as two lines: skip the rest of a
		 * long comment (calibrate writes paths in one), refuse anything else */
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			int c;

			if (line[0] != '#') {
				why = "line too long";
				break;
			}
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == '#' || !line[strspn(line, " \t")])
			continue;
		if (sscanf(line, "layers %u %n", &l, &end) == 1 && end > 0 && !line[end]) {
			if (have_layers)
				why = "second \"layers\" line";
			layers = l;
			have_layers = true;
			continue;
		}
		if (sscanf(line, "format %u %n", &l, &end) == 1 && end > 0 && !line[end]) {
			if (seen || have_layers || format != 1 || l < 1 || l > 2)
				why = "\"format 1\" or \"format 2\" once, before the entries";
			format = l;
			continue;
		}
		if (sscanf(line, "%u %31s %f %n", &l, kind, &v, &end) != 3 || end < 0 ||
		    l >= n_layers || !(v >= 0.0f && v < 1.0f)) {
			why = format == 2 ? "expected LAYER KIND LEVEL THRESHOLD" :
					    "expected LAYER KIND LEVEL";
			break;
		}
		if (format == 2) {
			int e2 = -1;

			if (sscanf(line + end, "%f %n", &t, &e2) != 1 || e2 < 0 ||
			    line[end + e2] || !(t >= 0.0f) || !isfinite(t)) {
				why = "expected LAYER KIND LEVEL THRESHOLD (threshold >= 0)";
				break;
			}
		} else if (line[end]) {
			why = "expected LAYER KIND LEVEL";
			break;
		}
		for (k = 0; k < SWAP_KIND_COUNT && strcmp(kind, swap_kind_name(k)); k++)
			;
		if (k == SWAP_KIND_COUNT)
			why = "unknown KIND";
		else if (out[l * SWAP_KIND_COUNT + k] >= 0)
			why = "entry given twice";
		else {
			out[l * SWAP_KIND_COUNT + k] = v;
			if (thr)
				thr[l * SWAP_KIND_COUNT + k] = t;
			seen++;
		}
	}
	fclose(f);
	if (why) {
		snprintf(err, errlen, "%s:%u: %s (layer < %u, KIND attn_in, attn_out, ffn_in or "
			 "ffn_out, level in [0, 1))", path, ln, why, n_layers);
		return -EINVAL;
	}
	if (layers != n_layers || seen != n_layers * SWAP_KIND_COUNT) {
		snprintf(err, errlen, "%s: levels for %u layers (%u entries), the model has %u",
			 path, layers, seen, n_layers);
		return -EINVAL;
	}
	if (thr && format != 2) {
		snprintf(err, errlen, "%s: levels without thresholds (write them with activeswap "
			 "calibrate --sparsity-mode threshold)", path);
		return -ENODATA;
	}
	return 0;
}

void as_thr_hist_add(uint64_t *hist, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t b;

		memcpy(&b, &x[i], 4);
		hist[(b & 0x7fffffffu) >> 16]++;
	}
}

float as_thr_quantile(const uint64_t *hist, double s)
{
	uint64_t total = 0, below = 0;
	uint32_t best = 0, tb;
	double want, bd;
	float t;

	for (uint32_t b = 0; b < AS_THR_BINS; b++)
		total += hist[b];
	if (!(s > 0) || !total)
		return 0;
	want = s * (double)total;
	bd = want; /* bin 0's edge: nothing below */
	for (uint32_t b = 1; b < AS_THR_BINS; b++) {
		double d;

		below += hist[b - 1];
		d = fabs((double)below - want);
		if (d < bd) {
			bd = d;
			best = b;
		}
		if ((double)below > want)
			break;
	}
	tb = best << 16;
	memcpy(&t, &tb, 4);
	return t;
}

/* Lower convex hull of (grid[i], c[i]): its point indices into hull, their count. */
static uint32_t lower_hull(uint32_t n, const float *grid, const double *c, uint32_t *hull)
{
	uint32_t h = 0;

	for (uint32_t i = 0; i < n; i++) {
		/* drop the last point while it lies on or above the chord to point i */
		while (h >= 2) {
			uint32_t a = hull[h - 2], b = hull[h - 1];
			double cross = ((double)grid[b] - grid[a]) * (c[i] - c[a]) -
				       (c[b] - c[a]) * ((double)grid[i] - grid[a]);

			if (cross > 0)
				break;
			h--;
		}
		hull[h++] = i;
	}
	return h;
}

int as_levels_allocate(uint32_t n_groups, uint32_t n_points, const float *grid,
		       const double *cost, const double *w, double target, float *out)
{
	uint32_t *hull, *nh, *at;
	double wsum = 0, left;
	int rc = 0;

	if (!n_groups || n_points < 2 || grid[0] != 0.0f || !(target >= 0) ||
	    !(target <= grid[n_points - 1]))
		return -EINVAL;
	for (uint32_t i = 1; i < n_points; i++)
		if (!(grid[i] > grid[i - 1]) || !(grid[i] < 1.0f))
			return -EINVAL;
	for (uint32_t g = 0; g < n_groups; g++) {
		if (!(w[g] > 0) || !isfinite(w[g]))
			return -EINVAL;
		wsum += w[g];
		for (uint32_t i = 0; i < n_points; i++)
			if (!isfinite(cost[(size_t)g * n_points + i]))
				return -EINVAL;
	}
	if ((size_t)n_groups > SIZE_MAX / sizeof(uint32_t) / n_points)
		return -EINVAL;
	hull = malloc((size_t)n_groups * n_points * sizeof(*hull));
	nh = malloc(n_groups * sizeof(*nh));
	at = calloc(n_groups, sizeof(*at));
	if (!hull || !nh || !at) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t g = 0; g < n_groups; g++) {
		nh[g] = lower_hull(n_points, grid, cost + (size_t)g * n_points,
				   hull + (size_t)g * n_points);
		out[g] = 0;
	}
	left = target * wsum;
	while (left > 0) {
		uint32_t best = n_groups;
		double bs = INFINITY, span;

		/* each hull is convex: a group's next segment is its cheapest */
		for (uint32_t g = 0; g < n_groups; g++) {
			const uint32_t *hg = hull + (size_t)g * n_points;
			const double *cg = cost + (size_t)g * n_points;
			double slope;

			if (at[g] + 1 >= nh[g])
				continue;
			slope = (cg[hg[at[g] + 1]] - cg[hg[at[g]]]) /
				(((double)grid[hg[at[g] + 1]] - grid[hg[at[g]]]) * w[g]);
			if (slope < bs) {
				bs = slope;
				best = g;
			}
		}
		if (best == n_groups)
			break; /* every group at the grid's top: target == grid[n - 1] */
		{
			const uint32_t *hg = hull + (size_t)best * n_points;
			double lo = grid[hg[at[best]]], hi = grid[hg[at[best] + 1]];

			span = (hi - lo) * w[best];
			if (span < left) {
				out[best] = (float)hi;
				left -= span;
				at[best]++;
			} else {
				out[best] = (float)(lo + left / w[best]);
				left = 0;
			}
		}
	}
out:
	free(hull);
	free(nh);
	free(at);
	return rc;
}

int as_levels_flash_weights(uint32_t n_layers, const double *bytes, const double *resident,
			    double *w)
{
	if (!n_layers)
		return -EINVAL;
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		if (!(bytes[k] > 0) || !isfinite(bytes[k]) || !(resident[k] >= 0) ||
		    !(resident[k] <= 1))
			return -EINVAL;
	for (uint32_t l = 0; l < n_layers; l++)
		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			double u = 1 - resident[k];

			w[(size_t)l * SWAP_KIND_COUNT + k] = bytes[k] * (u > AS_FLASH_FLOOR ? u :
									 AS_FLASH_FLOOR);
		}
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * The per-layer sparsity levels file written by `activeswap calibrate` (swap.h,
 * as_swap_load_levels).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "activeswap/swap.h"

int as_swap_load_levels(const char *path, uint32_t n_layers, float *out, char *err,
			size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[256];
	uint32_t layers = 0, seen = 0, ln = 0;
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
		float v;
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
		if (sscanf(line, "%u %31s %f %n", &l, kind, &v, &end) != 3 || end < 0 ||
		    line[end] || l >= n_layers || !(v >= 0.0f && v < 1.0f)) {
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
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * `activeswap trace`: the reports on stdout, as tables with log2 histograms or as one JSON
 * object per report (Documentation/tracing.md describes both). Only in builds with BPF
 * support.
 */
#ifndef ACTIVESWAP_TRACE_REPORT_H
#define ACTIVESWAP_TRACE_REPORT_H

#include <stdbool.h>

#include "trace_snapshot.h"

/*
 * One live report: what happened between the snapshots prev and cur; toks[0..ntok) are
 * the tokens that ended in between. kmod: the module's tracepoints are attached (their
 * counters are reported).
 */
void trace_report_interval(const struct snapshot *cur, const struct snapshot *prev,
			   const struct token_row *toks, int ntok, bool kmod, bool json);

/* The summary at the end: everything in cur, toks[0..ntok) every token that ended;
 * pin_dir, when not NULL, is where the maps are pinned. */
void trace_report_summary(const struct snapshot *cur, const struct token_row *toks, int ntok,
			  bool kmod, bool json, const char *pin_dir);

#endif

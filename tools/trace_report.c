// SPDX-License-Identifier: MIT
/*
 * `activeswap trace`: the reports, as tables with log2 histograms or as JSON.
 * See trace_report.h and Documentation/tracing.md.
 */
#ifdef AS_HAVE_BPF

#include "trace_report.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "trace_helpers.h"

static double hit_pct(__u64 hits, __u64 misses)
{
	return hits + misses ? 100.0 * (double)hits / (double)(hits + misses) : 0.0;
}

static void print_layer_table(const struct layer_row *rows, int n)
{
	printf("%6s %9s %13s %9s %9s %6s %8s %6s %10s %10s %7s\n", "LAYER", "READS", "BYTES",
	       "HITS", "MISSES", "HIT%", "EVICTS", "ERRORS", "AVG_LAT_us", "STALL_ms", "XP_HIT%");
	for (int i = 0; i < n; i++) {
		const struct as_layer_stats *s = &rows[i].s;
		char xp[16] = "-"; /* the experts' hit rate at the router (a MoE store) */

		if (s->expert_lookups)
			snprintf(xp, sizeof(xp), "%.1f",
				 hit_pct(s->expert_hits, s->expert_lookups - s->expert_hits));
		printf("%6d %9llu %13llu %9llu %9llu %6.1f %8llu %6llu %10.1f %10.3f %7s\n",
		       rows[i].layer, (unsigned long long)s->reads, (unsigned long long)s->bytes,
		       (unsigned long long)s->hits, (unsigned long long)s->misses,
		       hit_pct(s->hits, s->misses), (unsigned long long)s->evicts,
		       (unsigned long long)s->errors,
		       s->completes ? (double)s->lat_ns / (double)s->completes / 1e3 : 0.0,
		       (double)s->stall_ns / 1e6, xp);
	}
}

static void json_hist(const __u64 *h)
{
	printf("[");
	for (int i = 0; i < AS_HIST_SLOTS; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)h[i]);
	printf("]");
}

/* Field names for JSON, in struct order (every field is a __u64 counter). */
#define F(st, f) { #f, offsetof(struct st, f) }
static const struct field {
	const char *name;
	size_t off;
} layer_fields[] = {
	F(as_layer_stats, reads),    F(as_layer_stats, read_bytes), F(as_layer_stats, bytes),
	F(as_layer_stats, completes), F(as_layer_stats, errors),    F(as_layer_stats, lat_ns),
	F(as_layer_stats, hits),     F(as_layer_stats, misses),     F(as_layer_stats, evicts),
	F(as_layer_stats, passes),   F(as_layer_stats, stalls),     F(as_layer_stats, stall_ns),
	F(as_layer_stats, expert_lookups), F(as_layer_stats, expert_hits),
}, total_fields[] = {
	F(as_totals, fetch_submit),	  F(as_totals, fetch_complete),
	F(as_totals, fetch_errors),	  F(as_totals, submit_bytes),
	F(as_totals, complete_bytes),	  F(as_totals, bundle_bytes),
	F(as_totals, cache_hit),	  F(as_totals, cache_miss),
	F(as_totals, cache_evict),	  F(as_totals, token_begin),
	F(as_totals, token_end),	  F(as_totals, stall_ns),
	F(as_totals, layer_begin),	  F(as_totals, stalls),
	F(as_totals, stall_wait_ns),	  F(as_totals, layer_overflow),
	F(as_totals, token_overflow),	  F(as_totals, expert_lookups),
	F(as_totals, expert_hits),
}, kmod_fields[] = {
	F(as_kmod_stats, region_create),  F(as_kmod_stats, region_free),
	F(as_kmod_stats, fetch_submit),	  F(as_kmod_stats, submit_bytes),
	F(as_kmod_stats, fetch_complete), F(as_kmod_stats, complete_bytes),
	F(as_kmod_stats, errors),	  F(as_kmod_stats, lat_ns),
	F(as_kmod_stats, fetch_cancel),
};
#undef F
_Static_assert(sizeof(layer_fields) / sizeof(layer_fields[0]) ==
		       offsetof(struct as_layer_stats, hist) / sizeof(__u64),
	       "layer_fields must list every counter of struct as_layer_stats");
_Static_assert(sizeof(total_fields) / sizeof(total_fields[0]) ==
		       sizeof(struct as_totals) / sizeof(__u64),
	       "total_fields must list every field of struct as_totals");
_Static_assert(sizeof(kmod_fields) / sizeof(kmod_fields[0]) ==
		       offsetof(struct as_kmod_stats, hist) / sizeof(__u64),
	       "kmod_fields must list every counter of struct as_kmod_stats");

static void json_fields(const void *st, const struct field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		__u64 v;

		memcpy(&v, (const char *)st + f[i].off, sizeof(v));
		printf("%s\"%s\":%llu", i ? "," : "", f[i].name, (unsigned long long)v);
	}
}

static void json_layers(const struct layer_row *rows, int n)
{
	printf("\"layers\":[");
	for (int i = 0; i < n; i++) {
		const struct as_layer_stats *s = &rows[i].s;

		printf("%s{\"layer\":%d,", i ? "," : "", rows[i].layer);
		json_fields(s, layer_fields, sizeof(layer_fields) / sizeof(layer_fields[0]));
		printf(",\"hit_rate\":%.4f,", hit_pct(s->hits, s->misses) / 100);
		if (s->expert_lookups)
			printf("\"expert_hit_rate\":%.4f,",
			       hit_pct(s->expert_hits, s->expert_lookups - s->expert_hits) / 100);
		printf("\"hist_log2_us\":");
		json_hist(s->hist);
		printf("}");
	}
	printf("]");
}

static void json_totals(const struct as_totals *t)
{
	printf("\"totals\":{");
	json_fields(t, total_fields, sizeof(total_fields) / sizeof(total_fields[0]));
	printf("}");
}

static void json_kmod(const struct as_kmod_stats *k)
{
	printf("\"kmod\":{");
	json_fields(k, kmod_fields, sizeof(kmod_fields) / sizeof(kmod_fields[0]));
	printf(",\"hist_log2_us\":");
	json_hist(k->hist);
	printf("}");
}

static void json_tokens(const struct token_row *t, int n)
{
	printf("\"tokens\":[");
	for (int i = 0; i < n; i++)
		printf("%s{\"token\":%llu,\"stall_ns\":%llu,\"wall_ns\":%llu}", i ? "," : "",
		       (unsigned long long)t[i].token, (unsigned long long)t[i].s.stall_ns,
		       (unsigned long long)(t[i].s.begin_ns && t[i].s.end_ns > t[i].s.begin_ns
						    ? t[i].s.end_ns - t[i].s.begin_ns
						    : 0));
	printf("]");
}

static void json_blk(const struct snapshot *s, const struct snapshot *prev)
{
	printf("\"block\":[");
	for (int i = 0; i < s->nblk; i++) {
		struct as_blk_stats d;

		trace_blk_delta(s, prev, i, &d);
		printf("%s{\"dev\":\"%u:%u\",\"requests\":%llu,\"bytes\":%llu,\"errors\":%llu,"
		       "\"untimed\":%llu,\"lat_ns\":%llu,\"hist_log2_us\":",
		       i ? "," : "", s->blk[i].dev >> 20, s->blk[i].dev & 0xfffff,
		       (unsigned long long)d.requests, (unsigned long long)d.bytes,
		       (unsigned long long)d.errors, (unsigned long long)d.untimed,
		       (unsigned long long)d.lat_ns);
		json_hist(d.hist);
		printf("}");
	}
	printf("]");
}

static void text_tokens(const struct token_row *t, int n, bool all)
{
	__u64 sum = 0, max = 0;

	if (!n)
		return;
	for (int i = 0; i < n; i++) {
		sum += t[i].s.stall_ns;
		if (t[i].s.stall_ns > max)
			max = t[i].s.stall_ns;
	}
	printf("tokens: %d, I/O stall total %.3f ms, mean %.3f ms, max %.3f ms\n", n,
	       (double)sum / 1e6, (double)sum / n / 1e6, (double)max / 1e6);
	if (!all && n > 16) {
		t += n - 16;
		n = 16;
		printf("last 16:\n");
	}
	printf("%10s %12s %12s\n", "TOKEN", "STALL_ms", "WALL_ms");
	for (int i = 0; i < n; i++)
		printf("%10llu %12.3f %12.3f\n", (unsigned long long)t[i].token,
		       (double)t[i].s.stall_ns / 1e6,
		       t[i].s.begin_ns && t[i].s.end_ns > t[i].s.begin_ns
			       ? (double)(t[i].s.end_ns - t[i].s.begin_ns) / 1e6
			       : 0.0);
}

static void text_blk(const struct snapshot *s, const struct snapshot *prev, bool hist)
{
	__u64 timed;

	for (int i = 0; i < s->nblk; i++) {
		struct as_blk_stats d;

		trace_blk_delta(s, prev, i, &d);
		if (!d.requests)
			continue;
		timed = d.requests > d.untimed ? d.requests - d.untimed : 0;
		printf("block %u:%u: %llu requests, %llu bytes, %llu errors, mean %.1f us",
		       s->blk[i].dev >> 20, s->blk[i].dev & 0xfffff,
		       (unsigned long long)d.requests, (unsigned long long)d.bytes,
		       (unsigned long long)d.errors,
		       timed ? (double)d.lat_ns / (double)timed / 1e3 : 0.0);
		if (d.untimed)
			printf(" (%llu not timed: issued before the trace or issue not seen)",
			       (unsigned long long)d.untimed);
		printf("\n");
		if (hist)
			trace_print_log2_hist(stdout, d.hist, AS_HIST_SLOTS, "usecs");
	}
}

void trace_report_interval(const struct snapshot *cur, const struct snapshot *prev,
			   const struct token_row *toks, int ntok, bool kmod, bool json)
{
	struct layer_row *rows = calloc(cur->nlayers ? cur->nlayers : 1, sizeof(*rows));
	int n = 0;

	if (!rows)
		return;
	for (int i = 0; i < cur->nlayers; i++) {
		const struct as_layer_stats *p = trace_find_layer(prev, cur->layers[i].layer);

		rows[n].layer = cur->layers[i].layer;
		trace_sub_u64s((__u64 *)&rows[n].s, (const __u64 *)&cur->layers[i].s,
			       (const __u64 *)p, sizeof(rows[n].s) / sizeof(__u64));
		if (rows[n].s.reads || rows[n].s.hits || rows[n].s.misses ||
		    rows[n].s.completes || rows[n].s.evicts || rows[n].s.bytes ||
		    rows[n].s.stalls || rows[n].s.passes || rows[n].s.expert_lookups)
			n++;
	}

	if (json) {
		struct as_totals d;

		trace_sub_u64s((__u64 *)&d, (const __u64 *)&cur->tot, (const __u64 *)&prev->tot,
			       sizeof(d) / sizeof(__u64));
		printf("{\"type\":\"interval\",\"time\":%.3f,", cli_now());
		json_totals(&d);
		printf(",\"lost_events\":%llu,", (unsigned long long)(cur->lost - prev->lost));
		if (kmod) {
			struct as_kmod_stats dk;

			trace_sub_u64s((__u64 *)&dk, (const __u64 *)&cur->kmod,
				       (const __u64 *)&prev->kmod, sizeof(dk) / sizeof(__u64));
			json_kmod(&dk);
			printf(",");
		}
		json_layers(rows, n);
		printf(",");
		json_tokens(toks, ntok > 0 ? ntok : 0);
		printf(",");
		json_blk(cur, prev);
		printf("}\n");
	} else {
		char ts[16];
		time_t now = time(NULL);
		struct tm tm;

		strftime(ts, sizeof(ts), "%H:%M:%S", localtime_r(&now, &tm));
		printf("\n%s  reads %llu  completes %llu  hits %llu  misses %llu\n", ts,
		       (unsigned long long)(cur->tot.fetch_submit - prev->tot.fetch_submit),
		       (unsigned long long)(cur->tot.fetch_complete - prev->tot.fetch_complete),
		       (unsigned long long)(cur->tot.cache_hit - prev->tot.cache_hit),
		       (unsigned long long)(cur->tot.cache_miss - prev->tot.cache_miss));
		if (n) {
			__u64 all[AS_HIST_SLOTS] = { 0 };

			print_layer_table(rows, n);
			for (int i = 0; i < n; i++)
				for (int j = 0; j < AS_HIST_SLOTS; j++)
					all[j] += rows[i].s.hist[j];
			printf("fetch latency, all layers:\n");
			/* per layer: JSON and the summary */
			trace_print_log2_hist(stdout, all, AS_HIST_SLOTS, "usecs");
		}
		text_tokens(toks, ntok > 0 ? ntok : 0, false);
		text_blk(cur, prev, false);
	}
	fflush(stdout);
	free(rows);
}

void trace_report_summary(const struct snapshot *cur, const struct token_row *toks, int ntok,
			  bool kmod, bool json, const char *pin_dir)
{
	if (json) {
		printf("{\"type\":\"summary\",\"time\":%.3f,", cli_now());
		json_totals(&cur->tot);
		printf(",\"lost_events\":%llu", (unsigned long long)cur->lost);
		printf(",\"kmod_attached\":%s,", kmod ? "true" : "false");
		json_kmod(&cur->kmod);
		printf(",");
		json_layers(cur->layers, cur->nlayers);
		printf(",");
		json_tokens(toks, ntok);
		printf(",");
		json_blk(cur, NULL);
		printf(",\"pinned\":");
		if (pin_dir)
			cli_json_str(stdout, pin_dir);
		else
			printf("null");
		printf("}\n");
	} else {
		const struct as_totals *t = &cur->tot;

		printf("\n=== activeswap trace summary ===\n");
		printf("fetches: %llu submitted (%llu bytes), %llu completed (%llu bytes), "
		       "%llu errors\n",
		       (unsigned long long)t->fetch_submit, (unsigned long long)t->submit_bytes,
		       (unsigned long long)t->fetch_complete,
		       (unsigned long long)t->complete_bytes, (unsigned long long)t->fetch_errors);
		printf("cache: %llu hits, %llu misses (%.1f%% hit rate), %llu evictions\n",
		       (unsigned long long)t->cache_hit, (unsigned long long)t->cache_miss,
		       hit_pct(t->cache_hit, t->cache_miss), (unsigned long long)t->cache_evict);
		if (t->expert_lookups)
			printf("experts: %llu bundle lookups at the router, %llu in DRAM (%.1f%% "
			       "hit rate)\n", (unsigned long long)t->expert_lookups,
			       (unsigned long long)t->expert_hits,
			       hit_pct(t->expert_hits, t->expert_lookups - t->expert_hits));
		if (kmod) {
			const struct as_kmod_stats *k = &cur->kmod;

			printf("module: %llu regions created, %llu freed; fetches %llu submitted "
			       "(%llu bytes), %llu completed (%llu bytes), %llu errors, "
			       "%llu cancelled\n",
			       (unsigned long long)k->region_create,
			       (unsigned long long)k->region_free,
			       (unsigned long long)k->fetch_submit,
			       (unsigned long long)k->submit_bytes,
			       (unsigned long long)k->fetch_complete,
			       (unsigned long long)k->complete_bytes,
			       (unsigned long long)k->errors, (unsigned long long)k->fetch_cancel);
			trace_print_log2_hist(stdout, k->hist, AS_HIST_SLOTS, "usecs");
		}
		if (cur->nlayers)
			print_layer_table(cur->layers, cur->nlayers);
		for (int i = 0; i < cur->nlayers; i++) {
			if (!cur->layers[i].s.completes)
				continue;
			printf("\nlayer %d fetch latency:\n", cur->layers[i].layer);
			trace_print_log2_hist(stdout, cur->layers[i].s.hist, AS_HIST_SLOTS,
					      "usecs");
		}
		if (ntok)
			putchar('\n');
		text_tokens(toks, ntok, false);
		if (cur->nblk)
			putchar('\n');
		text_blk(cur, NULL, true);
		if (cur->lost)
			printf("\n%llu events lost: the kernel skipped a program that was already "
			       "running on that CPU (the counts above lack them)\n",
			       (unsigned long long)cur->lost);
		if (pin_dir)
			printf("\nmaps pinned in %s (bpftool map dump pinned %s/layer_stats)\n",
			       pin_dir, pin_dir);
	}
	fflush(stdout);
}

#endif /* AS_HAVE_BPF */

// SPDX-License-Identifier: MIT
/*
 * What a swapping run reports (swap_cli.h): the --stats table, the --json members of the
 * store's figures, the latency target's figures and line, the per-layer I/O counters,
 * and the precision planner's labels the auto line and those share.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "swap_cli.h"
#include "tp.h"

/* "low-weight (2 of 4 high)", "miss", "off" */
const char *swap_cli_xprec_label(char *buf, size_t n, const struct as_swap_xprec_cand *c,
				 uint32_t k)
{
	if (c->x == AS_XPREC_LOW_WEIGHT)
		snprintf(buf, n, "low-weight (%u of %u high)", c->high, k);
	else
		snprintf(buf, n, "%s", as_expert_precision_name(c->x));
	return buf;
}

/* "a/b" as a percentage, or "n/a" when nothing was predicted (sparsity 0: no preloads). */
static const char *pct(char buf[16], uint64_t a, uint64_t b)
{
	if (!b)
		return "n/a";
	snprintf(buf, 16, "%.1f%%", 100.0 * (double)a / (double)b);
	return buf;
}

_Static_assert(sizeof(struct as_swap_layer_stats) % sizeof(uint64_t) == 0,
	      "layer statistics are counters");

/* Layer l's counters, summed over the ranks under mpirun (tools/tp.h; collective). */
static void layer_stats(struct as_swap_model *m, uint32_t l, struct as_swap_layer_stats *x)
{
	as_swap_layer_stats(m, l, x);
	tp_sum_u64((uint64_t *)x, sizeof(*x) / sizeof(uint64_t));
}

enum expert_rate { EXPERT_HITS, EXPERT_PRECISION, EXPERT_RECALL };

/* One expert rate of every layer: " 12.5%" each (n/a: nothing counted), or with json
 * ", 0.1250" (null). */
static void expert_rates(struct as_swap_model *m, FILE *f, enum expert_rate what, bool json)
{
	for (uint32_t l = 0; l < as_swap_n_layers(m); l++) {
		struct as_swap_layer_stats x;
		uint64_t a, b;
		char pr[16];

		as_swap_layer_stats(m, l, &x);
		a = what == EXPERT_HITS ? x.expert_hits : x.expert_pred_used;
		b = what == EXPERT_HITS ? x.expert_lookups :
		    what == EXPERT_PRECISION ? x.expert_predicted : x.expert_pred_needed;
		if (!json)
			fprintf(f, " %s", pct(pr, a, b));
		else if (b)
			fprintf(f, "%s%.4f", l ? ", " : "", (double)a / (double)b);
		else
			fprintf(f, "%snull", l ? ", " : "");
	}
}

/* A column store's expert cache ghosts: lookups and hits per kind (gate/up, down). */
static bool ghost(const struct as_swap_model *m, uint64_t gl[2], uint64_t gh[2])
{
	if (!as_swap_expert_columns(m))
		return false;
	for (int k = 0; k < 2; k++)
		as_swap_expert_ghost(m, k, &gl[k], &gh[k]);
	return true;
}

void swap_cli_print_stats(struct as_swap_model *m, FILE *f)
{
	struct as_swap_stats s;
	uint64_t nt, gl[2], gh[2];

	as_swap_stats(m, &s);
	tp_sum_u64((uint64_t *)&s.total, sizeof(s.total) / sizeof(uint64_t));
	nt = s.tokens ? s.tokens : 1;
	char pr[16], rc[16];

	if (tp_rank()) { /* rank 0 prints the sums */
		for (uint32_t l = 0; l < as_swap_n_layers(m); l++) {
			struct as_swap_layer_stats x;

			layer_stats(m, l, &x);
		}
		return;
	}
	fprintf(f, "layer  hit-rate  flash-MB/tok  stall-ms/tok  precision  recall\n");
	for (uint32_t l = 0; l < as_swap_n_layers(m); l++) {
		struct as_swap_layer_stats x;

		layer_stats(m, l, &x);
		fprintf(f, "%5u  %7.1f%%  %12.3f  %12.3f  %9s  %6s\n", l,
			x.lookups ? 100.0 * x.hits / x.lookups : 0, x.bytes_read / 1e6 / nt,
			x.stall_ns / 1e6 / nt, pct(pr, x.predicted_used, x.predicted),
			pct(rc, x.predicted_used, x.used));
	}
	fprintf(f, "total  %7.1f%%  %12.3f  %12.3f  %9s  %6s   (%llu tokens, %llu "
		"preloads cancelled; budget %.1f MiB = resident %.1f + pool %.1f; useful "
		"%.3f MB/tok of the flash bytes)\n",
		s.total.lookups ? 100.0 * s.total.hits / s.total.lookups : 0,
		s.total.bytes_read / 1e6 / nt, s.total.stall_ns / 1e6 / nt,
		pct(pr, s.total.predicted_used, s.total.predicted),
		pct(rc, s.total.predicted_used, s.total.used),
		(unsigned long long)s.tokens, (unsigned long long)s.cancelled,
		s.budget_bytes / 1048576.0, s.fixed_bytes / 1048576.0, s.pool_bytes / 1048576.0,
		s.total.bytes_used / 1e6 / nt);
	fprintf(f, "kv cache: %s, %.1f MiB (%u positions, in the resident part)\n",
		as_kv_type_name(as_swap_kv_type(m)), as_swap_kv_bytes(m) / 1048576.0,
		as_swap_n_ctx(m));
	tp_print_stats(f, s.tokens);
	if (!s.total.expert_lookups)
		return;
	/* a mixture of experts: the experts computed and those already in DRAM */
	fprintf(f, "experts: hit-rate per layer");
	expert_rates(m, f, EXPERT_HITS, false);
	fprintf(f, "; total %s of %llu expert bundles used (%.1f per token; policy %s)\n",
		pct(pr, s.total.expert_hits, s.total.expert_lookups),
		(unsigned long long)s.total.expert_lookups, (double)s.total.expert_lookups / nt,
		as_swap_expert_policy_name(m));
	if (s.total.expert_part_reads)
		fprintf(f, "experts: %llu missing bundles read in part (the selected columns, "
			"%.1f per token, not cached)\n",
			(unsigned long long)s.total.expert_part_reads,
			(double)s.total.expert_part_reads / nt);
	if (ghost(m, gl, gh) && (gl[0] || gl[1])) {
		char p2[16];

		fprintf(f, "experts: a cache of whole reads would have hit gate/up %s, down %s "
			"(a miss is read in part only while that reads less)\n",
			pct(pr, gh[0], gl[0]), pct(p2, gh[1], gl[1]));
	}
	if (!(s.total.expert_high + s.total.expert_low) && as_swap_has_low_experts(m))
		fprintf(f, "experts: precision off: %llu computed from the high copy, 0 from the "
			"low (0.0%%)\n", (unsigned long long)s.total.expert_lookups / 2);
	if (s.total.expert_high + s.total.expert_low)
		fprintf(f, "experts: precision %s: %llu computed from the high copy, %llu from the "
			"low (%s); %.3f MB/tok of high copies not needed\n",
			as_expert_precision_name(as_swap_expert_precision(m)),
			(unsigned long long)s.total.expert_high,
			(unsigned long long)s.total.expert_low,
			pct(pr, s.total.expert_low, s.total.expert_high + s.total.expert_low),
			s.total.expert_saved_bytes / 1e6 / nt);
	if (!s.total.expert_predicted)
		return;
	fprintf(f, "experts: prediction precision per layer");
	expert_rates(m, f, EXPERT_PRECISION, false);
	fprintf(f, "; recall");
	expert_rates(m, f, EXPERT_RECALL, false);
	fprintf(f, "; total %s, %s\n", pct(pr, s.total.expert_pred_used, s.total.expert_predicted),
		pct(rc, s.total.expert_pred_used, s.total.expert_pred_needed));
}

/* 1 - the kept share of the input channels the compute was offered, each kind weighted
 * by its bytes (the share of the swappable bytes left out, as the levels' mean); the
 * levels' mean before any token (and in row mode: 0). */
static double realized_sparsity(const struct swap_cli *o, const struct as_swap_stats *s)
{
	double kept = 0, all = 0;

	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		if (!s->offered[k])
			continue;
		kept += o->aut.kind_bytes[k] * (double)s->kept[k] / (double)s->offered[k];
		all += o->aut.kind_bytes[k];
	}
	return all > 0 ? 1.0 - kept / all : 0;
}

void swap_cli_json(struct as_swap_model *m, const struct swap_cli *o, FILE *f)
{
	struct as_swap_stats s;
	struct swap_stats es;
	uint64_t nt, gl[2], gh[2];

	as_swap_stats(m, &s);
	as_swap_io_stats(m, &es);
	fprintf(f, ", \"kv_type\": \"%s\", \"kv_bytes\": %llu",
		as_kv_type_name(as_swap_kv_type(m)), (unsigned long long)as_swap_kv_bytes(m));
	fprintf(f, ", \"row_mode\": %s", as_swap_row_mode(m) ? "true" : "false");
	fprintf(f, ", \"sparsity_mode\": \"%s\", \"realized_sparsity\": %.4f, "
		"\"head_sparsity\": %.4f", o->threshold ? "threshold" : "topk",
		realized_sparsity(o, &s), o->head_sparsity);
	if (s.total.expert_lookups) {
		fprintf(f, ", \"expert_hit_rate\": %.4f, \"expert_lookups\": %llu, "
			"\"expert_part_reads\": %llu, \"expert_predict\": %u, \"expert_policy\": ",
			(double)s.total.expert_hits / s.total.expert_lookups,
			(unsigned long long)s.total.expert_lookups,
			(unsigned long long)s.total.expert_part_reads,
			as_swap_expert_predict(m, NULL));
		cli_json_str(f, as_swap_expert_policy_name(m));
		if (ghost(m, gl, gh))
			fprintf(f, ", \"expert_ghost_hit_rate\": [%.4f, %.4f]",
				gl[0] ? (double)gh[0] / gl[0] : 0.0,
				gl[1] ? (double)gh[1] / gl[1] : 0.0);
		fprintf(f, ", \"expert_hit_rate_layers\": [");
		expert_rates(m, f, EXPERT_HITS, true);
		fprintf(f, "]");
	}
	if (s.total.expert_predicted) {
		fprintf(f, ", \"expert_prediction_precision\": %.4f, "
			"\"expert_prediction_recall\": %.4f, \"expert_prediction_precision_layers\": [",
			(double)s.total.expert_pred_used / s.total.expert_predicted,
			(double)s.total.expert_pred_used / s.total.expert_pred_needed);
		expert_rates(m, f, EXPERT_PRECISION, true);
		fprintf(f, "], \"expert_prediction_recall_layers\": [");
		expert_rates(m, f, EXPERT_RECALL, true);
		fprintf(f, "]");
	}
	fprintf(f, ", \"reads\": %llu, \"read_bytes\": %llu, \"evictions\": %llu",
		(unsigned long long)es.total.reads, (unsigned long long)es.total.bytes_read,
		(unsigned long long)es.total.evictions);
	nt = s.tokens ? s.tokens : 1;
	fprintf(f, ", \"backend\": ");
	cli_json_str(f, as_swap_backend_name(m));
	fprintf(f, ", \"policy\": ");
	cli_json_str(f, as_swap_policy_name(m));
	if (as_swap_n_experts(m))
		fprintf(f, ", \"expert_sparsity\": %.4f", o->expert_sparsity);
	if (as_swap_has_low_experts(m))
		fprintf(f, ", \"expert_precision\": \"%s\", \"expert_reads_high\": %llu, "
			"\"expert_reads_low\": %llu, \"expert_bytes_saved_per_token\": %.1f",
			as_expert_precision_name(as_swap_expert_precision(m)),
			(unsigned long long)s.total.expert_high,
			(unsigned long long)s.total.expert_low,
			(double)s.total.expert_saved_bytes / nt);
	if (o->expert_precision_auto) {
		const struct as_swap_auto *a = &o->aut;

		fprintf(f, ", \"expert_precision_auto\": true, \"expert_precision_why\": ");
		cli_json_str(f, a->xprec_why ? a->xprec_why : "");
		fprintf(f, ", \"expert_precision_candidates\": [");
		for (uint32_t i = 0; a->xprec_chosen && i < a->n_xcand; i++) {
			const struct as_swap_xprec_cand *c = &a->xcand[i];

			fprintf(f, "%s{\"policy\": \"%s\", \"expert_high\": %u, \"sparsity\": %.4f, "
				"\"fits\": %s, \"picked\": %s, \"predicted_bytes_per_token\": %.1f, "
				"\"predicted_s_per_token\": %.6f, \"predicted_low_share\": %.4f}",
				i ? ", " : "", as_expert_precision_name(c->x), c->high,
				(double)c->sparsity, c->fits ? "true" : "false",
				i == a->xpick ? "true" : "false", c->est.bytes, c->est.s,
				c->est.low_share);
		}
		fprintf(f, "]");
	}
	fprintf(f, ", \"budget_bytes\": %llu, \"full_bytes\": %llu, \"sparsity\": %.4f, "
		"\"sparsity_auto\": %s, \"group\": %u, \"group_auto\": %s, "
		"\"flash_bytes_per_token\": %.1f, \"stall_s_per_token\": %.6f, "
		"\"hit_rate\": %.4f, \"preload_precision\": %.4f, \"preload_recall\": %.4f, "
		"\"preloads_cancelled\": %llu, \"measured_flash_bps\": %.0f, "
		"\"measured_compute_bps\": %.0f, \"estimated_tokens_per_s\": %.3f, "
		"\"useful_bytes_per_token\": %.1f, \"gap_bytes\": [%llu, %llu, %llu, %llu], "
		"\"gap_auto\": %s, \"estimate_replayed\": %s, \"estimated_io_s_per_token\": %.6f",
		(unsigned long long)s.budget_bytes, (unsigned long long)o->aut.budget.full,
		(double)as_swap_sparsity(m), o->aut.auto_sparsity ? "true" : "false",
		as_swap_group(m), o->aut.auto_group ? "true" : "false",
		(double)s.total.bytes_read / nt, s.total.stall_ns * 1e-9 / nt,
		s.total.lookups ? (double)s.total.hits / s.total.lookups : 0,
		s.total.predicted ? (double)s.total.predicted_used / s.total.predicted : 0,
		s.total.used ? (double)s.total.predicted_used / s.total.used : 0,
		(unsigned long long)s.cancelled, o->aut.flash_bps, o->aut.compute_bps,
		o->aut.choice.tokens_per_s, (double)s.total.bytes_used / nt,
		(unsigned long long)s.gap_bytes[0], (unsigned long long)s.gap_bytes[1],
		(unsigned long long)s.gap_bytes[2], (unsigned long long)s.gap_bytes[3],
		o->aut.gap_measured ? "true" : "false", o->aut.estimate_replayed ? "true" : "false",
		o->aut.choice.io_s);
}

/* The cost model's time per token, 0 when it chose nothing (its speeds unmeasured). */
static double predicted_s(const struct swap_cli *o)
{
	return o->aut.auto_sparsity || o->aut.auto_group ? as_swap_auto_predicted_s(&o->aut) :
							   0;
}

void swap_cli_json_latency(const struct swap_cli *o, double measured_s, FILE *f)
{
	if (o->latency_ms > 0)
		fprintf(f, ", \"latency_target_s\": %.6f, \"latency_met\": %s, "
			"\"latency_replayed\": %s, \"latency_adaptive\": %s",
			o->latency_ms * 1e-3, o->aut.latency_met ? "true" : "false",
			o->aut.latency_replayed ? "true" : "false",
			o->lat.steps ? "true" : "false");
	if (o->lat.target_s > 0) { /* run and chat (swap_cli_latency_attach) */
		const struct as_latency *c = &o->lat;

		fprintf(f, ", \"latency_sparsity_start\": %.4f, \"latency_sparsity_mean\": %.4f, "
			"\"latency_sparsity_end\": %.4f, \"latency_sparsity_changes\": %llu, "
			"\"latency_ratio\": %.4f, \"latency_ratio_lo\": %.4f, "
			"\"latency_ratio_hi\": %.4f, \"latency_gap_start\": %lld, "
			"\"latency_gap_end\": %lld, \"latency_gap_changes\": %llu, ",
			(double)c->s_start,
			(double)as_latency_mean_sparsity(c), (double)c->s,
			(unsigned long long)c->changes, c->ratio, c->ratio_lo, c->ratio_hi,
			c->gap_start == AS_LATENCY_NO_GAP ? -1LL : (long long)c->gap_start,
			c->gap == AS_LATENCY_NO_GAP ? -1LL : (long long)c->gap,
			(unsigned long long)c->gap_changes);
		if (c->rungs.n > 1) {
			uint32_t i0 = c->rungs.id[c->rung_start], i1 = c->rungs.id[c->rung];

			fprintf(f, "\"latency_expert_precision_start\": \"%s\", "
				"\"latency_expert_high_start\": %u, "
				"\"latency_expert_precision_end\": \"%s\", "
				"\"latency_expert_high_end\": %u, \"latency_rung_changes\": %llu, ",
				as_expert_precision_name(as_xprec_rung_x(i0)), as_xprec_rung_high(i0),
				as_expert_precision_name(as_xprec_rung_x(i1)), as_xprec_rung_high(i1),
				(unsigned long long)c->rung_changes);
		}
		fprintf(f, "\"latency_token_s\": [");
		for (uint64_t i = 0; i < c->steps && i < AS_LATENCY_LOG; i++)
			fprintf(f, "%s%.4f", i ? ", " : "", (double)c->dt_log[i]);
		fprintf(f, "]");
	}
	fprintf(f, ", \"predicted_s_per_token\": %.6f, \"measured_s_per_token\": %.6f",
		predicted_s(o), measured_s);
}

/* A precision rung's id (as_xprec_rung_id) as the auto line names it. */
static const char *rung_label(char *buf, size_t n, uint32_t id, uint32_t k)
{
	struct as_swap_xprec_cand c = { .x = as_xprec_rung_x(id), .high = as_xprec_rung_high(id) };

	return swap_cli_xprec_label(buf, n, &c, k);
}

void swap_cli_print_latency(const struct swap_cli *o, const char *sub, double measured_s,
			    FILE *f)
{
	char target[64] = "", pred[32] = "n/a", gap[256] = "";

	if (o->latency_ms > 0)
		snprintf(target, sizeof(target), " (target %.1f ms%s)", o->latency_ms,
			 o->aut.latency_met ? "" : ", not predicted to be met");
	if (predicted_s(o) > 0)
		snprintf(pred, sizeof(pred), "%.1f ms", predicted_s(o) * 1e3);
	if (o->lat.gap_changes)
		snprintf(gap, sizeof(gap), ", gap %llu -> %llu KiB",
			 (unsigned long long)o->lat.gap_start >> 10,
			 (unsigned long long)o->lat.gap >> 10);
	fprintf(f, "activeswap %s: time per token: predicted %s, measured %.1f ms%s\n", sub,
		pred, measured_s * 1e3, target);
	if (o->lat.rungs.n > 1) {
		char a[64], b[64];
		size_t n = strlen(gap);

		snprintf(gap + n, sizeof(gap) - n, ", precision %s -> %s (%llu changes)",
			 rung_label(a, sizeof(a), o->lat.rungs.id[o->lat.rung_start],
				    o->aut.experts_used),
			 rung_label(b, sizeof(b), o->lat.rungs.id[o->lat.rung],
				    o->aut.experts_used),
			 (unsigned long long)o->lat.rung_changes);
	}
	if (o->lat.steps)
		fprintf(f, "activeswap %s: latency feedback: sparsity %.2f -> %.2f (mean %.2f, "
			"%.2f-%.2f, %llu changes over %llu tokens), measured/predicted %.2f (%.2f-%.2f)%s\n",
			sub, (double)o->lat.s_start, (double)o->lat.s,
			(double)as_latency_mean_sparsity(&o->lat), (double)o->lat.s_lo,
			(double)o->lat.s_hi, (unsigned long long)o->lat.changes,
			(unsigned long long)o->lat.steps, o->lat.ratio, o->lat.ratio_lo,
			o->lat.ratio_hi, gap);
}

void swap_cli_json_layers(struct as_swap_model *m, uint64_t open_stall_ns, FILE *f)
{
	struct swap_engine *e = as_swap_engine(m);
	struct swap_stats es;
	struct as_swap_stats s;

	/* Settle first: drop queued preloads, wait for reads in flight (at most ~5 s), so
	 * that every read counted has completed and nothing moves after this. */
	if (e)
		swap_cancel(e, SWAP_TAG_ANY, (1u << SWAP_PRIO_COUNT) - 1);
	for (int i = 0; i < 5000; i++) {
		as_swap_io_stats(m, &es);
		if (!es.inflight && !es.queued)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	as_swap_stats(m, &s);
	fprintf(f, ", \"tokens\": %llu, \"stall_ns\": %llu, \"token_stall_ns\": %llu, "
		"\"inflight\": %llu, \"layers\": [", (unsigned long long)s.tokens,
		(unsigned long long)es.total.stall_ns,
		(unsigned long long)(es.total.stall_ns - open_stall_ns),
		(unsigned long long)(es.inflight + es.queued));
	for (uint32_t l = 0; l < as_swap_n_layers(m); l++) {
		struct swap_layer_stats x;

		if (as_swap_io_layer_stats(m, l, &x))
			memset(&x, 0, sizeof(x));
		fprintf(f, "%s{\"layer\": %u, \"reads\": %llu, \"bytes\": %llu, \"hits\": %llu, "
			"\"misses\": %llu, \"evicts\": %llu, \"errors\": %llu, \"stall_ns\": %llu",
			l ? ", " : "", l, (unsigned long long)x.reads,
			(unsigned long long)x.bytes_read, (unsigned long long)x.hits,
			(unsigned long long)x.misses, (unsigned long long)x.evictions,
			(unsigned long long)x.read_errors, (unsigned long long)x.stall_ns);
		if (as_swap_n_experts(m)) { /* the runtime's, at router time */
			struct as_swap_layer_stats r;

			as_swap_layer_stats(m, l, &r);
			fprintf(f, ", \"expert_lookups\": %llu, \"expert_hits\": %llu",
				(unsigned long long)r.expert_lookups,
				(unsigned long long)r.expert_hits);
		}
		fprintf(f, "}");
	}
	fprintf(f, "]");
}

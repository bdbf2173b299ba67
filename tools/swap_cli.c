// SPDX-License-Identifier: MIT
/*
 * Command-line side of the swapping runtime: the store options, opening a store with the
 * runtime's auto choices (activeswap/swap_auto.h) and printing them, the latency target's
 * feedback. What a run reports afterwards is swap_report.c. See swap_cli.h and
 * Documentation/swapping.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activeswap/eval.h"
#include "api_int.h"
#include "cli.h"
#include "swap_cli.h"
#include "tp.h"

void swap_cli_init(struct swap_cli *o)
{
	memset(o, 0, sizeof(*o));
	o->sparsity = -1;
	o->max_sparsity = 0.5;
	o->policy = -1; /* auto: static prefix hot set (see swapping.md) */
	o->expert_predict = -1;
	o->backend = SWAP_BACKEND_AUTO;
	o->gap_auto = true;
	o->numa_node = -1;
	o->kv_type = AS_KV_F16;
}

int swap_cli_read_text(const char *sub, const char *path, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		cli_err(sub, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SWAP_CLI_MAX_TEXT) {
		cli_err(sub, "%s: not a regular file of at most 1 GiB", path);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		cli_err(sub, "%s: out of memory", path);
		goto fail;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			cli_err(sub, "%s: read failed: %s", path, n ? strerror(errno) :
				"file shrank");
			goto fail;
		}
		off += (size_t)n;
	}
	buf[off] = 0;
	close(fd);
	*out = buf;
	*len = off;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

bool swap_cli_store_arg(int argc, char **argv)
{
	const char *model = args_peek(argc, argv, "--model", "-m");

	return model && as_swap_is_store(model);
}

static int opt_sparsity(void *ptr, const char *sub, const char *flag, const char *v)
{
	double d;

	if (!strcmp(v, "auto")) {
		*(float *)ptr = -1;
		return 0;
	}
	if (cli_double(sub, flag, v, 0, CLI_SPARSITY_MAX, &d))
		return -1;
	*(float *)ptr = strtof(v, NULL);
	return 0;
}

/* SIZE or N%: checked here (a usage error), turned into bytes at the open, against the
 * store's full footprint. 0 and 0% are refused: nothing runs without DRAM. */
static int opt_budget(void *ptr, const char *sub, const char *flag, const char *v)
{
	uint64_t b;

	if (cli_size(sub, flag, v, 1ull << 40, &b))
		return -1;
	if (!b) {
		cli_err(sub, "bad value for %s: '%s' (must be above 0)", flag, v);
		return -1;
	}
	*(const char **)ptr = v;
	return 0;
}

static int opt_latency(void *ptr, const char *sub, const char *flag, const char *v)
{
	if (cli_double(sub, flag, v, 0, 3600e3, ptr))
		return -1;
	if (!(*(double *)ptr > 0)) {
		cli_err(sub, "bad value for %s: '%s' (must be above 0 ms)", flag, v);
		return -1;
	}
	return 0;
}

int swap_cli_check(const struct swap_cli *o, const char *sub)
{
	if (o->verify && o->no_verify) {
		cli_err(sub, "--verify and --no-verify exclude each other");
		return 2;
	}
	if (o->latency_fixed && !(o->latency_ms > 0)) {
		cli_err(sub, "--latency-fixed needs --latency-target");
		return 2;
	}
	if (o->threshold && !o->levels) {
		cli_err(sub, "--sparsity-mode threshold needs --sparsity-file (thresholds from "
			"activeswap calibrate --sparsity-mode threshold)");
		return 2;
	}
	if (o->latency_ms > 0 && (o->sparsity >= 0 || o->levels)) {
		cli_err(sub, "--latency-target chooses the sparsity: not with %s",
			o->levels ? "--sparsity-file" : "--sparsity S");
		return 2;
	}
	return 0;
}

int swap_cli_sparsity_mode(void *ptr, const char *sub, const char *flag, const char *v)
{
	bool *threshold = ptr;

	if (strcmp(v, "topk") && strcmp(v, "threshold")) {
		cli_err(sub, "bad value for %s: '%s' (topk or threshold)", flag, v);
		return -1;
	}
	*threshold = !strcmp(v, "threshold");
	return 0;
}

static int opt_group(void *ptr, const char *sub, const char *flag, const char *v)
{
	if (!strcmp(v, "auto")) {
		*(long *)ptr = 0;
		return 0;
	}
	return cli_long(sub, flag, v, 1, 4096, ptr);
}

static int opt_gap(void *ptr, const char *sub, const char *flag, const char *v)
{
	struct swap_cli *o = ptr;

	o->gap_auto = !strcmp(v, "auto");
	return o->gap_auto ? 0 : cli_size(sub, flag, v, 0, &o->gap_bytes);
}

static int opt_policy(void *ptr, const char *sub, const char *flag, const char *v)
{
	int *policy = ptr;

	(void)flag;
	*policy = !strcmp(v, "auto") ? -1 :
		  swap_policy_from_name(!strcmp(v, "contextual") ? "freq" : v);
	if (*policy < 0 && strcmp(v, "auto")) {
		cli_err(sub, "bad value for --policy: '%s' (auto, contextual, lru or static)", v);
		return -1;
	}
	return 0;
}

static int opt_expert_policy(void *ptr, const char *sub, const char *flag, const char *v)
{
	int *policy = ptr;

	(void)flag;
	*policy = swap_policy_from_name(!strcmp(v, "contextual") ? "freq" : v);
	if (*policy < 0) {
		cli_err(sub, "bad value for --expert-policy: '%s' (contextual, lru or static)", v);
		return -1;
	}
	return 0;
}

static int opt_expert_precision(void *ptr, const char *sub, const char *flag, const char *v)
{
	struct swap_cli *o = ptr;

	(void)flag;
	o->expert_precision_auto = !strcmp(v, "auto");
	o->expert_precision = o->expert_precision_auto ? AS_XPREC_OFF :
							 as_expert_precision_from_name(v);
	if (o->expert_precision < 0) {
		cli_err(sub, "bad value for --expert-precision: '%s' (off, low-weight, miss or "
			"auto)", v);
		return -1;
	}
	return 0;
}

int swap_cli_backend(void *ptr, const char *sub, const char *flag, const char *v)
{
	int *backend = ptr;

	(void)flag;
	*backend = swap_backend_from_name(v);
	if (*backend < 0 || *backend == SWAP_BACKEND_FAULT) {
		cli_err(sub, "bad value for --backend: '%s' (auto, uring, pread or kmod)", v);
		return -1;
	}
	return 0;
}

void swap_cli_args(struct swap_cli *o, struct arg_opt opts[SWAP_CLI_NOPTS])
{
	const struct arg_opt t[SWAP_CLI_NOPTS] = {
		ARG_OPT_BOOL("--stats", NULL, &o->stats),
		ARG_OPT_BOOL("--no-preload", NULL, &o->no_preload),
		ARG_OPT_BOOL("--no-rows", NULL, &o->no_rows),
		ARG_OPT_BOOL("--verify", NULL, &o->verify),
		ARG_OPT_BOOL("--no-verify", NULL, &o->no_verify),
		ARG_OPT_BOOL("--mlock", NULL, &o->mlock),
		ARG_OPT_LONG("--numa-node", NULL, &o->numa_node, 0, 4095),
		ARG_OPT_FN("--dram-budget", NULL, &o->budget, opt_budget),
		ARG_OPT_FN("--sparsity", NULL, &o->sparsity, opt_sparsity),
		ARG_OPT_STR("--sparsity-file", NULL, &o->levels),
		ARG_OPT_FN("--sparsity-mode", NULL, &o->threshold, swap_cli_sparsity_mode),
		ARG_OPT_DOUBLE("--head-sparsity", NULL, &o->head_sparsity, 0, 0.95),
		ARG_OPT_DOUBLE("--max-sparsity", NULL, &o->max_sparsity, 0, CLI_SPARSITY_MAX),
		ARG_OPT_FN("--latency-target", NULL, &o->latency_ms, opt_latency),
		ARG_OPT_BOOL("--latency-fixed", NULL, &o->latency_fixed),
		ARG_OPT_FN("--group", NULL, &o->group, opt_group),
		ARG_OPT_LONG("--queue-depth", NULL, &o->queue_depth, 1, 4096),
		ARG_OPT_FN("--gap", NULL, o, opt_gap),
		ARG_OPT_FN("--policy", NULL, &o->policy, opt_policy),
		ARG_OPT_FN("--expert-policy", NULL, &o->expert_policy, opt_expert_policy),
		ARG_OPT_LONG("--expert-predict", NULL, &o->expert_predict, 0, 64),
		ARG_OPT_DOUBLE("--expert-sparsity", NULL, &o->expert_sparsity, 0,
			       CLI_SPARSITY_MAX),
		ARG_OPT_FN("--expert-precision", NULL, o, opt_expert_precision),
		ARG_OPT_LONG("--expert-high", NULL, &o->expert_high, 1, 4096),
		ARG_OPT_FN("--backend", NULL, &o->backend, swap_cli_backend),
		ARG_OPT_END,
	};

	_Static_assert(sizeof(t) / sizeof(t[0]) == SWAP_CLI_NOPTS,
		       "SWAP_CLI_NOPTS counts the table above");
	memcpy(opts, t, sizeof(t));
}

/* The pool could not be locked (RLIMIT_MEMLOCK, no CAP_IPC_LOCK): one line, even with
 * --json (stderr), since the budget then holds but the kernel may page the cache out. */
static void note_unlocked(const char *sub, struct as_swap_model *m)
{
	struct swap_engine *e = as_swap_engine(m);
	struct swap_stats s;
	struct rlimit rl = { 0, 0 };

	if (!e)
		return;
	swap_engine_stats(e, &s);
	if (s.pool_locked)
		return;
	getrlimit(RLIMIT_MEMLOCK, &rl);
	if (rl.rlim_cur == RLIM_INFINITY)
		fprintf(stderr, "activeswap %s: note: the %.1f MiB weight cache is not locked in "
			"memory (mlock failed); --mlock to insist\n", sub,
			s.pool_bytes / 1048576.0);
	else
		fprintf(stderr, "activeswap %s: note: the %.1f MiB weight cache is not locked in "
			"memory (RLIMIT_MEMLOCK is %llu KiB); --mlock to insist\n", sub,
			s.pool_bytes / 1048576.0, (unsigned long long)rl.rlim_cur >> 10);
}

/* A store with experts: the expert cache the budget left (slots of the two expert kinds
 * against every layer's experts), its policy and the prediction depth, on one line. */
static void note_experts(const char *sub, struct as_swap_model *m,
			 const struct as_swap_params *p)
{
	struct swap_engine *e = as_swap_engine(m);
	uint64_t all = (uint64_t)as_swap_n_layers(m) * as_swap_n_experts(m);
	static const char *const part_note[4] = {
		" (columns; a miss read whole)", " (columns; a miss reads its selected gate/up "
		"columns, down whole)", " (columns; a miss reads gate/up whole, its selected "
		"down columns)", " (columns; a miss reads its selected columns)",
	};
	enum as_xp_off why = AS_XP_NOT_OFF;
	uint32_t ahead = as_swap_expert_predict(m, &why);
	struct swap_stats s;
	char pred[64];

	if (!all)
		return;
	if (as_swap_has_low_experts(m))
		fprintf(stderr, "activeswap %s: experts: two copies each, precision %s\n", sub,
			as_expert_precision_name(as_swap_expert_precision(m)));
	if (!e || !strcmp(as_swap_expert_policy_name(m), "table")) {
		fprintf(stderr, "activeswap %s: experts: all %llu in DRAM, sparsity inside %.2f\n",
			sub, (unsigned long long)all, (double)p->expert_sparsity);
		return;
	}
	swap_engine_stats(e, &s);
	if (why == AS_XP_OFF_CACHE)
		snprintf(pred, sizeof(pred), "off (under two layers' experts cached)");
	else if (why == AS_XP_OFF_PARTIAL)
		snprintf(pred, sizeof(pred), "off (misses read in part)");
	else if (!ahead)
		snprintf(pred, sizeof(pred), "off");
	else
		snprintf(pred, sizeof(pred), "%u layer%s ahead", ahead, ahead > 1 ? "s" : "");
	fprintf(stderr, "activeswap %s: experts: cache of %llu gate/up + %llu down bundles of "
		"%llu experts (%.0f%%), policy %s, prediction %s, sparsity inside %.2f%s\n", sub,
		(unsigned long long)s.kind_slots[SWAP_FFN_IN],
		(unsigned long long)s.kind_slots[SWAP_FFN_OUT], (unsigned long long)all,
		50.0 * (double)(s.kind_slots[SWAP_FFN_IN] + s.kind_slots[SWAP_FFN_OUT]) / all,
		as_swap_expert_policy_name(m), pred, (double)p->expert_sparsity,
		!as_swap_expert_columns(m) ? "" : part_note[as_swap_expert_partial(m) & 3]);
}

/* --expert-precision auto: what was picked and why, with every candidate's predicted
 * expert flash bytes and time per token (and sparsity under a latency target). */
static void note_xprec(const char *sub, const struct as_swap_auto *a)
{
	char line[1536], lab[64];
	size_t n = 0;

	if (!a->xprec_chosen) {
		fprintf(stderr, "activeswap %s: auto: expert precision off (%s)\n", sub,
			a->xprec_why ? a->xprec_why : "not chosen");
		return;
	}
	line[0] = 0;
	for (uint32_t i = 0; i < a->n_xcand && n < sizeof(line); i++) {
		const struct as_swap_xprec_cand *c = &a->xcand[i];
		int w;

		w = snprintf(line + n, sizeof(line) - n, "%s%s %.3f MB %.2f ms", i ? ", " : "",
			     swap_cli_xprec_label(lab, sizeof(lab), c, a->experts_used), c->est.bytes / 1e6,
			     c->est.s * 1e3);
		if (w > 0)
			n += (size_t)w;
		if (a->xprec_latency && n < sizeof(line)) {
			w = snprintf(line + n, sizeof(line) - n, " at sparsity %.2f",
				     (double)c->sparsity);
			n += w > 0 ? (size_t)w : 0;
		}
		if (!c->fits && n < sizeof(line)) {
			w = snprintf(line + n, sizeof(line) - n, " (does not fit)");
			n += w > 0 ? (size_t)w : 0;
		}
	}
	fprintf(stderr, "activeswap %s: auto: expert precision %s: %s (predicted expert reads "
		"and time per token: %s; high experts cached %.0f%%; %.0f%% computed low)\n", sub,
		swap_cli_xprec_label(lab, sizeof(lab), &a->xcand[a->xpick], a->experts_used), a->xprec_why,
		line, 100.0 * (double)a->xshare_high, 100.0 * a->xcand[a->xpick].est.low_share);
}

/* Tests and experiments: ACTIVESWAP_AUTO_SPEEDS="FLASH,COMPUTE", bytes/s instead of the
 * probes; both in 1e3..1e15, nothing else in the value, or a usage error. */
static int auto_speeds(const char *sub, const char *v, struct as_swap_auto_req *req)
{
	char *end;
	double f, c;

	if (!v)
		return 0;
	f = strtod(v, &end);
	if (end != v && *end == ',') {
		const char *cs = end + 1;

		c = strtod(cs, &end);
		/* 1 KB/s .. 1 PB/s: anything else is a typo, and an infinite time */
		if (end != cs && !*end && f >= 1e3 && f <= 1e15 && c >= 1e3 && c <= 1e15) {
			req->flash_bps = f;
			req->compute_bps = c;
			return 0;
		}
	}
	cli_err(sub, "ACTIVESWAP_AUTO_SPEEDS='%s': give FLASH,COMPUTE in bytes/s, both in "
		"1e3..1e15", v);
	return -EINVAL;
}

int swap_cli_open(struct swap_cli *o, const char *sub, const char *path,
		  struct as_threadpool *tp, uint32_t n_ctx, bool quiet,
		  struct as_swap_model **out)
{
	struct as_swap_auto *a = &o->aut;
	struct as_swap_auto_req req = {
		.sparsity = o->sparsity,
		.group = (uint32_t)o->group,
		.max_sparsity = (float)o->max_sparsity,
		.levels = o->levels,
		.threshold = o->threshold,
		.policy_auto = o->policy < 0,
		.gap_auto = o->gap_auto,
		.ctx_default = o->ctx_default,
		.latency_target_s = o->latency_ms * 1e-3,
		.expert_precision_auto = o->expert_precision_auto,
	};
	struct as_swap_params p;
	uint64_t budget;
	char err[512] = "";
	int r;

	memset(&p, 0, sizeof(p));
	p.policy = o->policy < 0 ? SWAP_POLICY_STATIC : (enum swap_policy_kind)o->policy;
	p.expert_policy = (enum swap_policy_kind)o->expert_policy;
	p.expert_predict = o->expert_predict > 0 ? (uint32_t)o->expert_predict : 0;
	p.no_expert_predict = o->expert_predict == 0;
	p.expert_sparsity = (float)o->expert_sparsity;
	p.expert_precision = (enum as_expert_precision)o->expert_precision;
	p.expert_high = (uint32_t)o->expert_high;
	p.backend = (enum swap_backend_kind)o->backend;
	p.queue_depth = (uint32_t)o->queue_depth;
	p.tp = tp;
	p.no_preload = o->no_preload;
	p.no_rows = o->no_rows;
	p.head_sparsity = (float)o->head_sparsity;
	p.batch = o->batch;
	p.kv_type = (enum as_kv_type)o->kv_type;
	tp_params(&p); /* under mpirun: this rank's slice */
	quiet = quiet || tp_rank(); /* the other ranks print errors only */
	if (swap_cli_check(o, sub))
		return -EINVAL;
	p.verify_resident = !o->no_verify;
	if (o->verify)
		p.engine_flags |= SWAP_F_VERIFY;
	if (!o->mlock)
		p.engine_flags |= SWAP_F_MLOCK_TRY;
	p.numa_bind = o->numa_node >= 0;
	p.numa_node = (int)o->numa_node;
	if (!o->gap_auto) {
		p.gap_bytes = o->gap_bytes;
		p.no_gap_fill = !o->gap_bytes; /* --gap 0 */
	}
	p.uniform_cache = getenv("ACTIVESWAP_UNIFORM_CACHE") != NULL; /* experiments */
	if (auto_speeds(sub, getenv("ACTIVESWAP_AUTO_SPEEDS"), &req))
		return -EINVAL;
	r = as_swap_auto_init(a, &req, path, &p, n_ctx, err, sizeof(err));
	if (r) {
		cli_err(sub, "%s", err);
		return r;
	}
	if (a->req.group > a->n_layers) {
		/* nothing silently: the group used is printed (and in the auto line) */
		if (!quiet)
			fprintf(stderr, "activeswap %s: --group %u is more than the store's %u "
				"layers: using %u\n", sub, a->req.group, a->n_layers, a->n_layers);
		a->req.group = a->n_layers;
	}
	budget = a->budget.full;
	if (o->budget && cli_size(sub, "--dram-budget", o->budget, a->budget.full, &budget))
		return -EINVAL;
	r = as_swap_auto_choose(a, path, budget, &p, err, sizeof(err));
	if (r) {
		cli_err(sub, "%s", err);
		return r;
	}
	if (!quiet && a->budget_capped)
		fprintf(stderr, "activeswap %s: budget %.1f MiB capped at %.1f MiB: what holding "
			"the whole model takes\n", sub, a->budget_asked / 1048576.0,
			a->budget.full / 1048576.0);
	if (!quiet && a->gap_measured)
		fprintf(stderr, "activeswap %s: auto: gap %llu KiB (replayed reads: 0 KiB "
			"%.0f ms, 8 %.0f, 16 %.0f, 32 %.0f, 64 %.0f, 128 %.0f)\n", sub,
			(unsigned long long)p.gap_bytes >> 10, a->replay.t[0] * 1e3,
			a->replay.t[1] * 1e3, a->replay.t[2] * 1e3, a->replay.t[3] * 1e3,
			a->replay.t[4] * 1e3, a->replay.t[5] * 1e3);
	else if (!quiet && a->gap_tried)
		fprintf(stderr, "activeswap %s: auto: gap %llu KiB (default: the replay "
			"failed)\n", sub, (unsigned long long)p.gap_bytes >> 10);
	if (!quiet && (a->auto_sparsity || a->auto_group))
		fprintf(stderr, "activeswap %s: auto: budget %.1f MiB of %.1f MiB (cache %.0f%% of "
			"the weights), flash %.0f MB/s, compute %.0f MB/s -> sparsity %.2f%s, "
			"group %u%s (estimate %.2f tok/s%s)\n", sub, a->budget_bytes / 1048576.0,
			a->budget.full / 1048576.0, 100.0 * a->choice.hit_rate, a->flash_bps / 1e6,
			a->compute_bps / 1e6, (double)p.sparsity,
			a->auto_sparsity ? "" : " (given)", p.group,
			a->auto_group ? "" : " (given)", a->choice.tokens_per_s,
			a->estimate_replayed ? ", reads timed by the gap replay" : "");
	if (!quiet && o->latency_ms > 0)
		fprintf(stderr, "activeswap %s: latency target %.1f ms/token%s -> sparsity %.2f, "
			"group %u (predicted %.1f ms/token%s)\n", sub, o->latency_ms,
			a->latency_met ? "" : " cannot be met: running the fastest allowed",
			(double)p.sparsity, p.group, as_swap_auto_predicted_s(a) * 1e3,
			a->latency_replayed ? ", reads replayed" : "");
	if (!quiet && o->expert_precision_auto)
		note_xprec(sub, a);
	r = as_swap_open(out, path, &p, err, sizeof(err));
	as_swap_auto_free(a);
	if (r && !strncmp(err, path, strlen(path)) && err[strlen(path)] == ':')
		cli_err(sub, "%s", err); /* the store's message names the file already */
	else if (r)
		cli_err(sub, "%s: %s", path, err);
	else if (!quiet && as_swap_row_mode(*out))
		fprintf(stderr, "activeswap %s: sparsity 0: computing from the store's row copy "
			"(dense kernels)\n", sub);
	if (!r && !quiet)
		note_experts(sub, *out, &p);
	if (!r)
		note_unlocked(sub, *out);
	return r;
}

static int store_forward(void *ctx, int32_t token, uint32_t pos, bool want_logits)
{
	int r = as_swap_forward(ctx, token, pos, want_logits);

	/* the layer and kind that failed; the caller's line gives the position */
	if (r && as_swap_error(ctx)[0])
		fprintf(stderr, "activeswap: %s\n", as_swap_error(ctx));
	return r;
}

static int store_forward_batch(void *ctx, const int32_t *tokens, uint32_t n, uint32_t pos0,
			       bool want_logits_last)
{
	int r = as_swap_forward_batch(ctx, tokens, n, pos0, want_logits_last);

	if (r && as_swap_error(ctx)[0])
		fprintf(stderr, "activeswap: %s\n", as_swap_error(ctx));
	return r;
}

static const float *store_logits(void *ctx)
{
	return as_swap_logits(ctx);
}

void swap_cli_eval_model(struct as_swap_model *m, uint32_t n_ctx, struct as_eval_model *em)
{
	uint32_t nb = as_swap_batch(m);

	/* batches of the size the store was opened for (its scratch is in the budget) */
	*em = (struct as_eval_model){ store_forward, store_logits, m, as_swap_n_vocab(m), n_ctx,
				      nb > 1 ? store_forward_batch : NULL, nb };
}

void swap_cli_latency_attach(struct swap_cli *o, const char *sub, struct asw_model *am,
			     struct as_swap_model *m)
{
	struct as_latency_model lm;

	if (!(o->latency_ms > 0))
		return;
	/* the pick, for --json also when it stays */
	as_latency_init(&o->lat, o->latency_ms * 1e-3, as_swap_sparsity(m),
			(float)o->max_sparsity);
	as_swap_auto_latency_model(&o->aut, &lm);
	if (as_latency_set_model(&o->lat, &lm)) { /* valid by construction: a bug if not */
		fprintf(stderr, "activeswap %s: latency target: the cost model's curve was "
			"refused; the feedback assumes time proportional to the kept channels\n",
			sub);
	} else {
		static struct as_latency_rungs rungs; /* 3.5 KB: not on the stack */

		/* --expert-precision auto: the precision rungs the feedback may move to */
		as_swap_auto_latency_rungs(&o->aut, &lm, &rungs);
		if (rungs.n > 1 && as_latency_set_rungs(&o->lat, &rungs))
			fprintf(stderr, "activeswap %s: latency target: the precision rungs were "
				"refused; the precision stays\n", sub);
	}
	if (o->latency_fixed)
		return;
	if (tp_size() > 1) { /* every rank would time and move its own slice */
		if (!tp_rank())
			fprintf(stderr, "activeswap %s: latency target: the sparsity stays as "
				"chosen under mpirun\n", sub);
		return;
	}
	if (asw_set_latency(am, m, &o->lat))
		fprintf(stderr, "activeswap %s: latency target: sparsity 0 from the row copy "
			"stays (--no-rows lets it move)\n", sub);
}

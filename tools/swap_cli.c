// SPDX-License-Identifier: MIT
/*
 * Command-line side of the swapping runtime: flags, auto cost model, statistics, and
 * `activeswap run` over a store. See swap_cli.h and Documentation/swapping.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/eval.h"
#include "activeswap/sampler.h"
#include "activeswap/threadpool.h"
#include "activeswap/tokenizer.h"
#include "cli.h"
#include "swap_cli.h"

void swap_cli_init(struct swap_cli *o)
{
	memset(o, 0, sizeof(*o));
	o->max_sparsity = 0.5;
	o->policy = -1; /* auto: static prefix hot set (see swapping.md) */
	o->backend = SWAP_BACKEND_AUTO;
}

static const char *val(const char *sub, int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		cli_err(sub, "%s needs a value", argv[*i]);
		return NULL;
	}
	return argv[++*i];
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

int swap_cli_flag(struct swap_cli *o, const char *sub, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *v;
	double d;
	long n;

	if (!strcmp(a, "--stats")) {
		o->stats = true;
	} else if (!strcmp(a, "--no-preload")) {
		o->no_preload = true;
	} else if (!strcmp(a, "--no-rows")) {
		o->no_rows = true;
	} else if (!strcmp(a, "--dram-budget")) {
		if (!(v = val(sub, argc, argv, i)))
			return -1;
		o->budget = v;
	} else if (!strcmp(a, "--sparsity")) {
		if (!(v = val(sub, argc, argv, i)))
			return -1;
		if (strcmp(v, "auto") && cli_double(sub, a, v, 0, 0.99, &d))
			return -1;
		o->sparsity = v;
	} else if (!strcmp(a, "--sparsity-file")) {
		if (!(v = val(sub, argc, argv, i)))
			return -1;
		o->levels = v;
	} else if (!strcmp(a, "--max-sparsity")) {
		if (!(v = val(sub, argc, argv, i)) || cli_double(sub, a, v, 0, 0.99, &o->max_sparsity))
			return -1;
	} else if (!strcmp(a, "--group")) {
		if (!(v = val(sub, argc, argv, i)))
			return -1;
		if (strcmp(v, "auto") && cli_long(sub, a, v, 1, 4096, &n))
			return -1;
		o->group = v;
	} else if (!strcmp(a, "--queue-depth")) {
		if (!(v = val(sub, argc, argv, i)) || cli_long(sub, a, v, 1, 4096, &o->queue_depth))
			return -1;
	} else if (!strcmp(a, "--gap")) {
		uint64_t g;

		if (!(v = val(sub, argc, argv, i)))
			return -1;
		if (strcmp(v, "auto") && cli_size(sub, a, v, 0, &g))
			return -1;
		o->gap = v;
	} else if (!strcmp(a, "--policy")) {
		if (!(v = val(sub, argc, argv, i)))
			return -1;
		o->policy = !strcmp(v, "auto") ? -1 :
			    swap_policy_from_name(!strcmp(v, "contextual") ? "freq" : v);
		if (o->policy < 0 && strcmp(v, "auto")) {
			cli_err(sub, "bad value for --policy: '%s' (auto, contextual, lru or static)",
				v);
			return -1;
		}
	} else if (!strcmp(a, "--backend")) {
		if (!(v = val(sub, argc, argv, i)))
			return -1;
		o->backend = swap_backend_from_name(v);
		if (o->backend < 0 || o->backend == SWAP_BACKEND_FAULT) {
			cli_err(sub, "bad value for --backend: '%s' (auto, uring, pread or kmod)", v);
			return -1;
		}
	} else {
		return 0;
	}
	return 1;
}

int swap_cli_open(struct swap_cli *o, const char *sub, const char *path,
		  struct as_threadpool *tp, uint32_t n_ctx, bool quiet,
		  struct as_swap_model **out)
{
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512] = "";
	struct as_cost_inputs ci;
	float sp = -1;
	double kind_bytes[SWAP_KIND_COUNT];
	uint32_t grp = 0;
	bool group1 = false;
	int r;

	memset(&p, 0, sizeof(p));
	p.policy = o->policy < 0 ? SWAP_POLICY_STATIC : (enum swap_policy_kind)o->policy;
	p.backend = (enum swap_backend_kind)o->backend;
	p.queue_depth = (uint32_t)o->queue_depth;
	p.tp = tp;
	p.no_preload = o->no_preload;
	p.no_rows = o->no_rows;
	if (o->gap && strcmp(o->gap, "auto") &&
	    cli_size(sub, "--gap", o->gap, 0, &p.gap_bytes))
		return -EINVAL;
	if (o->gap && strcmp(o->gap, "auto") && !p.gap_bytes)
		p.no_gap_fill = true; /* --gap 0 */
	p.uniform_cache = getenv("ACTIVESWAP_UNIFORM_CACHE") != NULL; /* experiments */
	{
		struct swap_store *st;

		r = swap_store_open(&st, path, err, sizeof(err));
		if (r) {
			cli_err(sub, "%s: %s", path, err);
			return r;
		}
		ci.weight_bytes = swap_store_swappable_bytes(st);
		ci.n_layers = swap_store_desc(st)->n_layers;
		group1 = swap_store_desc(st)->group == 1;
		for (int k = 0; k < SWAP_KIND_COUNT; k++) /* one layer's bytes of each kind */
			kind_bytes[k] = (double)swap_store_desc(st)->kinds[k].in *
					(double)swap_store_bundle_bytes(st, (enum swap_kind)k);
		o->n_ctx_train = swap_store_desc(st)->hp.n_ctx;
		swap_store_close(st);
	}
	/* 0: o->ctx_default positions (at most 2048), and never past the training context
	 * (the store header's copy of it), as for a GGUF */
	if (!n_ctx) {
		n_ctx = o->ctx_default && o->ctx_default < 2048 ? o->ctx_default : 2048;
		if (o->n_ctx_train && n_ctx > o->n_ctx_train)
			n_ctx = o->n_ctx_train;
	}
	p.n_ctx = o->n_ctx = n_ctx;
	r = as_swap_budget_info(path, &p, &bi, err, sizeof(err));
	if (r) {
		cli_err(sub, "%s: %s", path, err);
		return r;
	}
	o->full_bytes = bi.full;
	o->budget_bytes = bi.full;
	if (o->budget && cli_size(sub, "--dram-budget", o->budget, bi.full, &o->budget_bytes))
		return -EINVAL;
	p.budget_bytes = o->budget_bytes;
	/* auto policy: everything pinned at open when it all fits, else the static prefix */
	if (o->policy < 0 && o->budget_bytes >= bi.full)
		p.policy = SWAP_POLICY_FREQ;
	if (o->sparsity && strcmp(o->sparsity, "auto"))
		sp = strtof(o->sparsity, NULL);
	if (o->group && strcmp(o->group, "auto"))
		grp = (uint32_t)strtoul(o->group, NULL, 10);
	o->auto_sparsity = sp < 0;
	o->auto_group = grp == 0;
	ci.cache_bytes = o->budget_bytes > bi.fixed + bi.staging ?
			 o->budget_bytes - bi.fixed - bi.staging : 0;
	if (ci.cache_bytes > ci.weight_bytes)
		ci.cache_bytes = ci.weight_bytes;
	ci.max_sparsity = (float)o->max_sparsity;
	ci.flash_bps = 0;
	ci.compute_bps = 0;
	ci.read_s_per_byte = 0;
	if (o->auto_sparsity || o->auto_group) {
		ci.flash_bps = o->flash_bps = as_measure_flash_bps(path, 256 << 10, 0.3);
		ci.compute_bps = o->compute_bps = as_measure_compute_bps(tp, 0.1);
	}
	if (o->levels) {
		float *lv = calloc((size_t)ci.n_layers * SWAP_KIND_COUNT, sizeof(float));
		double avg = 0, wsum = 0;

		if (!lv)
			return -ENOMEM;
		r = as_swap_load_levels(o->levels, ci.n_layers, lv, err, sizeof(err));
		if (r) {
			cli_err(sub, "%s", err);
			free(lv);
			return r;
		}
		/* the cost model's sparsity: the average weighted by bytes, i.e. the share of
		 * the swappable bytes left out (calibrate keeps it, weighted by weights) */
		for (uint32_t i = 0; i < ci.n_layers * SWAP_KIND_COUNT; i++) {
			avg += lv[i] * kind_bytes[i % SWAP_KIND_COUNT];
			wsum += kind_bytes[i % SWAP_KIND_COUNT];
		}
		p.layer_sparsity = lv; /* copied by as_swap_open */
		sp = wsum > 0 ? (float)(avg / wsum) : 0;
		o->auto_sparsity = false;
	}
	as_cost_choose(&ci, sp, grp, &o->choice);
	p.sparsity = o->choice.sparsity;
	p.group = o->choice.group;
	/* --gap auto: only group-1 stores fill gaps, and only when swapping; the limit is
	 * the one whose replayed reads of a random Top-K were fastest (costmodel.c) */
	if ((!o->gap || !strcmp(o->gap, "auto")) && !p.gap_bytes && group1 &&
	    o->budget_bytes < bi.full && o->budget_bytes >= bi.min) {
		double keep = 1.0 - (double)p.sparsity;
		struct as_gap_replay rp;

		if (as_choose_gap_bytes(path, keep > 0.01 ? keep : 0.01, o->queue_depth ?
					(uint32_t)o->queue_depth : 32, p.backend, tp, 0.8,
					&p.gap_bytes, &rp))
			p.gap_bytes = AS_GAP_DEFAULT;
		else
			o->gap_measured = true;
		if (!p.gap_bytes)
			p.no_gap_fill = true;
		if (o->gap_measured && rp.bytes > 0) {
			/* The read time per token from the replay, which includes what the
			 * bandwidth alone misses: the gap-filled bytes (read amplification)
			 * and the cost of every read. */
			double tb = rp.t[0];

			for (int c = 1; c < AS_GAP_CANDIDATES; c++)
				tb = fmin(tb, rp.t[c]);
			ci.read_s_per_byte = tb / rp.bytes;
			as_cost_choose(&ci, p.sparsity, p.group, &o->choice);
			o->estimate_replayed = true;
		}
		if (!quiet && o->gap_measured)
			fprintf(stderr, "activeswap %s: auto: gap %llu KiB (replayed reads: 0 KiB "
				"%.0f ms, 8 %.0f, 16 %.0f, 32 %.0f, 64 %.0f, 128 %.0f)\n", sub,
				(unsigned long long)p.gap_bytes >> 10, rp.t[0] * 1e3, rp.t[1] * 1e3,
				rp.t[2] * 1e3, rp.t[3] * 1e3, rp.t[4] * 1e3, rp.t[5] * 1e3);
		else if (!quiet)
			fprintf(stderr, "activeswap %s: auto: gap %llu KiB (default: the replay "
				"failed)\n", sub, (unsigned long long)p.gap_bytes >> 10);
	}
	if (!quiet && (o->auto_sparsity || o->auto_group))
		fprintf(stderr, "activeswap %s: auto: budget %.1f MiB of %.1f MiB (cache %.0f%% of "
			"the weights), flash %.0f MB/s, compute %.0f MB/s -> sparsity %.2f%s, "
			"group %u%s (estimate %.2f tok/s%s)\n", sub, o->budget_bytes / 1048576.0,
			bi.full / 1048576.0, 100.0 * o->choice.hit_rate, o->flash_bps / 1e6,
			o->compute_bps / 1e6, (double)p.sparsity,
			o->auto_sparsity ? "" : " (given)", p.group, o->auto_group ? "" : " (given)",
			o->choice.tokens_per_s,
			o->estimate_replayed ? ", reads timed by the gap replay" : "");
	r = as_swap_open(out, path, &p, err, sizeof(err));
	free((void *)p.layer_sparsity);
	if (r)
		cli_err(sub, "%s: %s", path, err);
	else if (!quiet && as_swap_row_mode(*out))
		fprintf(stderr, "activeswap %s: sparsity 0: computing from the store's row copy "
			"(dense kernels)\n", sub);
	return r;
}

void swap_cli_print_stats(struct as_swap_model *m, FILE *f)
{
	struct as_swap_stats s;
	uint64_t nt;

	as_swap_stats(m, &s);
	nt = s.tokens ? s.tokens : 1;
	fprintf(f, "layer  hit-rate  flash-MB/tok  stall-ms/tok  precision  recall\n");
	for (uint32_t l = 0; l < as_swap_n_layers(m); l++) {
		struct as_swap_layer_stats x;

		as_swap_layer_stats(m, l, &x);
		fprintf(f, "%5u  %7.1f%%  %12.3f  %12.3f  %8.1f%%  %5.1f%%\n", l,
			x.lookups ? 100.0 * x.hits / x.lookups : 0, x.bytes_read / 1e6 / nt,
			x.stall_ns / 1e6 / nt, x.predicted ? 100.0 * x.predicted_used / x.predicted : 0,
			x.used ? 100.0 * x.predicted_used / x.used : 0);
	}
	fprintf(f, "total  %7.1f%%  %12.3f  %12.3f  %8.1f%%  %5.1f%%   (%llu tokens, %llu "
		"preloads cancelled; budget %.1f MiB = resident %.1f + pool %.1f; useful "
		"%.3f MB/tok of the flash bytes)\n",
		s.total.lookups ? 100.0 * s.total.hits / s.total.lookups : 0,
		s.total.bytes_read / 1e6 / nt, s.total.stall_ns / 1e6 / nt,
		s.total.predicted ? 100.0 * s.total.predicted_used / s.total.predicted : 0,
		s.total.used ? 100.0 * s.total.predicted_used / s.total.used : 0,
		(unsigned long long)s.tokens, (unsigned long long)s.cancelled,
		s.budget_bytes / 1048576.0, s.fixed_bytes / 1048576.0, s.pool_bytes / 1048576.0,
		s.total.bytes_used / 1e6 / nt);
}

void swap_cli_json(struct as_swap_model *m, const struct swap_cli *o, FILE *f)
{
	struct as_swap_stats s;
	struct swap_stats es;
	uint64_t nt;

	as_swap_stats(m, &s);
	as_swap_io_stats(m, &es);
	fprintf(f, ", \"row_mode\": %s", as_swap_row_mode(m) ? "true" : "false");
	fprintf(f, ", \"reads\": %llu, \"read_bytes\": %llu, \"evictions\": %llu",
		(unsigned long long)es.total.reads, (unsigned long long)es.total.bytes_read,
		(unsigned long long)es.total.evictions);
	nt = s.tokens ? s.tokens : 1;
	fprintf(f, ", \"backend\": ");
	cli_json_str(f, as_swap_backend_name(m));
	fprintf(f, ", \"policy\": ");
	cli_json_str(f, as_swap_policy_name(m));
	fprintf(f, ", \"budget_bytes\": %llu, \"full_bytes\": %llu, \"sparsity\": %.4f, "
		"\"sparsity_auto\": %s, \"group\": %u, \"group_auto\": %s, "
		"\"flash_bytes_per_token\": %.1f, \"stall_s_per_token\": %.6f, "
		"\"hit_rate\": %.4f, \"preload_precision\": %.4f, \"preload_recall\": %.4f, "
		"\"preloads_cancelled\": %llu, \"measured_flash_bps\": %.0f, "
		"\"measured_compute_bps\": %.0f, \"estimated_tokens_per_s\": %.3f, "
		"\"useful_bytes_per_token\": %.1f, \"gap_bytes\": [%llu, %llu, %llu, %llu], "
		"\"gap_auto\": %s, \"estimate_replayed\": %s, \"estimated_io_s_per_token\": %.6f",
		(unsigned long long)s.budget_bytes, (unsigned long long)o->full_bytes,
		(double)as_swap_sparsity(m), o->auto_sparsity ? "true" : "false",
		as_swap_group(m), o->auto_group ? "true" : "false",
		(double)s.total.bytes_read / nt, s.total.stall_ns * 1e-9 / nt,
		s.total.lookups ? (double)s.total.hits / s.total.lookups : 0,
		s.total.predicted ? (double)s.total.predicted_used / s.total.predicted : 0,
		s.total.used ? (double)s.total.predicted_used / s.total.used : 0,
		(unsigned long long)s.cancelled, o->flash_bps, o->compute_bps,
		o->choice.tokens_per_s, (double)s.total.bytes_used / nt,
		(unsigned long long)s.gap_bytes[0], (unsigned long long)s.gap_bytes[1],
		(unsigned long long)s.gap_bytes[2], (unsigned long long)s.gap_bytes[3],
		o->gap_measured ? "true" : "false", o->estimate_replayed ? "true" : "false",
		o->choice.io_s);
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
			"\"misses\": %llu, \"evicts\": %llu, \"errors\": %llu, \"stall_ns\": %llu}",
			l ? ", " : "", l, (unsigned long long)x.reads,
			(unsigned long long)x.bytes_read, (unsigned long long)x.hits,
			(unsigned long long)x.misses, (unsigned long long)x.evictions,
			(unsigned long long)x.read_errors, (unsigned long long)x.stall_ns);
	}
	fprintf(f, "]");
}

/* ---- activeswap run over a store ----------------------------------------------------- */

#define SUB "run"

static int store_forward(void *ctx, int32_t token, uint32_t pos, bool want_logits)
{
	return as_swap_forward(ctx, token, pos, want_logits);
}

static const float *store_logits(void *ctx)
{
	return as_swap_logits(ctx);
}

static const char run_store_usage[] =
	"usage: activeswap run -m STORE.asw [options]   (a GGUF runs dense; see run --help)\n"
	"\n"
	"  -p, --prompt TEXT   -n, --n-predict N   --temp T   --top-k K   --top-p P\n"
	"  --seed S   -t, --threads N   -c, --ctx-size N   --json    as for a GGUF\n"
	SWAP_CLI_USAGE;

int run_store_main(int argc, char **argv)
{
	const char *path = NULL, *prompt = "";
	long n_predict = 128, threads = 2, ctx = 0, top_k = AS_SAMPLER_DEFAULT_TOP_K;
	double temp = AS_SAMPLER_DEFAULT_TEMP, top_p = AS_SAMPLER_DEFAULT_TOP_P;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	bool json = false;
	uint64_t open_stall_ns = 0;
	struct swap_cli o;
	struct as_threadpool *tp = NULL;
	struct as_swap_model *m = NULL;
	struct as_tokenizer *tok = NULL;
	struct as_sampler *smp = NULL;
	struct as_sampler_params sp;
	int32_t *ids = NULL;
	size_t n_ids = 0;
	struct run_gen g;
	double t0, t_load;
	char err[256];
	int rc = 1, r;

	swap_cli_init(&o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		r = swap_cli_flag(&o, SUB, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r)
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(run_store_usage, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--no-repack")) {
			/* dense-only option: nothing to repack in a store */
		} else if (i + 1 >= argc) {
			cli_err(SUB, "unknown option '%s' or missing value (see --help)", a);
			return 2;
		} else if (v = argv[i + 1], !strcmp(a, "-m") || !strcmp(a, "--model")) {
			path = v;
			i++;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
			prompt = v;
			i++;
		} else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
			if (cli_long(SUB, a, v, 0, 1 << 24, &n_predict))
				return 2;
			i++;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
			if (cli_long(SUB, a, v, 1, 256, &threads))
				return 2;
			i++;
		} else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
			if (cli_long(SUB, a, v, 1, 1 << 24, &ctx))
				return 2;
			i++;
		} else if (!strcmp(a, "--temp")) {
			if (cli_double(SUB, a, v, 0, 100, &temp))
				return 2;
			i++;
		} else if (!strcmp(a, "--top-k")) {
			if (cli_long(SUB, a, v, 0, 1 << 24, &top_k))
				return 2;
			i++;
		} else if (!strcmp(a, "--top-p")) {
			if (cli_double(SUB, a, v, 0, 1, &top_p))
				return 2;
			i++;
		} else if (!strcmp(a, "--seed")) {
			if (cli_u64(SUB, a, v, 0, UINT64_MAX, &seed))
				return 2;
			i++;
		} else {
			cli_err(SUB, "unknown option '%s' (see --help)", a);
			return 2;
		}
	}
	if (!path) {
		cli_err(SUB, "-m MODEL is required (see --help)");
		return 2;
	}
	t0 = cli_now();
	tp = as_tp_create((int)threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads: %s", threads, strerror(errno));
		goto out;
	}
	o.ctx_default = n_predict + 64 > 2048 ? 2048 : (uint32_t)n_predict + 64;
	if (swap_cli_open(&o, SUB, path, tp, (uint32_t)ctx, false, &m))
		goto out;
	if (ctx && o.n_ctx_train && ctx > (long)o.n_ctx_train)
		fprintf(stderr, "activeswap %s: warning: context %ld is beyond the model's "
			"training context (%u)\n", SUB, ctx, o.n_ctx_train);
	ctx = o.n_ctx;
	{
		struct swap_stats es;

		/* waits at open (pinned bundles) are outside every token */
		as_swap_io_stats(m, &es);
		open_stall_ns = es.total.stall_ns;
	}
	if (!as_swap_meta(m) ||
	    as_tokenizer_load(&tok, as_swap_meta(m), err, sizeof(err))) {
		cli_err(SUB, "%s: no usable tokenizer in the store's metadata", path);
		goto out;
	}
	if (as_tokenize(tok, prompt, strlen(prompt), as_tokenizer_add_bos(tok), &ids, &n_ids) ||
	    !n_ids) {
		cli_err(SUB, "cannot tokenize the prompt (or empty prompt without BOS)");
		goto out;
	}
	if ((long)n_ids >= ctx) {
		cli_err(SUB, "prompt has %zu tokens, context is %ld", n_ids, ctx);
		rc = 2;
		goto out;
	}
	sp.temp = (float)temp;
	sp.top_k = (int)top_k;
	sp.top_p = (float)top_p;
	sp.seed = seed;
	smp = as_sampler_new(&sp, as_swap_n_vocab(m));
	if (!smp)
		goto out;
	t_load = cli_now() - t0;
	{
		struct as_eval_model em = { store_forward, store_logits, m, as_swap_n_vocab(m),
					    (uint32_t)ctx };

		if (run_generate(SUB, &em, tok, smp, ids, n_ids, n_predict, ctx, &g))
			goto out;
	}
	if (isatty(STDOUT_FILENO))
		putchar('\n');
	{
		long runs = g.n_gen > 1 ? g.n_gen - 1 : 0;
		double dps = g.t_decode > 0 && runs ? runs / g.t_decode : 0;

		fprintf(stderr, "activeswap run: load %.3f s, prompt %zu tokens %.2f tok/s, decode "
			"%ld tokens %.2f tok/s%s, %ld threads, sparsity %.2f, group %u, budget %.1f "
			"MiB, peak RSS %.1f MiB\n", t_load, n_ids,
			g.t_prompt > 0 ? n_ids / g.t_prompt : 0, g.n_gen, dps,
			g.ctx_full ? " (context full)" : "", threads,
			(double)as_swap_sparsity(m), as_swap_group(m), o.budget_bytes / 1048576.0,
			cli_peak_rss_bytes() / 1048576.0);
		if (o.stats)
			swap_cli_print_stats(m, stderr);
		if (json) {
			printf("\n{\"model\": ");
			cli_json_str(stdout, path);
			printf(", \"threads\": %ld, \"ctx\": %ld, \"n_generated\": %ld, "
			       "\"tokens_per_s\": %.3f, \"context_full\": %s, "
			       "\"peak_rss_bytes\": %llu", threads, ctx, g.n_gen, dps,
			       g.ctx_full ? "true" : "false",
			       (unsigned long long)cli_peak_rss_bytes());
			if (o.stats)
				swap_cli_json_layers(m, open_stall_ns, stdout);
			swap_cli_json(m, &o, stdout);
			printf("}\n");
		}
	}
	rc = 0;
out:
	fflush(stdout);
	free(ids);
	as_sampler_free(smp);
	as_tokenizer_free(tok);
	as_swap_close(m);
	if (tp)
		as_tp_destroy(tp);
	return rc;
}

/* ---- activeswap eval over a store ---------------------------------------------------- */

#undef SUB
#define SUB "eval"

static void store_eval_chunk(void *arg, uint32_t chunk, uint32_t n_chunks,
			     const struct as_eval_result *r)
{
	(void)arg;
	fprintf(stderr, "[%u/%u] PPL %.4f\n", chunk + 1, n_chunks, r->ppl);
}

int eval_store_main(int argc, char **argv)
{
	const char *path = NULL, *tpath = NULL;
	long ctx = 512, threads = 2, max_chunks = 0;
	bool json = false;
	struct swap_cli o, oref;
	struct as_threadpool *tp = NULL;
	struct as_swap_model *m = NULL, *ref = NULL;
	struct as_tokenizer *tok = NULL;
	int32_t *ids = NULL;
	size_t n_ids = 0, n_chunks;
	char *text = NULL;
	struct as_eval_model em, er;
	struct as_eval_result res;
	char err[256];
	int rc = 1, r;

	swap_cli_init(&o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		r = swap_cli_flag(&o, SUB, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r)
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: activeswap eval -m STORE.asw -f TEXT [-c CTX] [--chunks N] "
			       "[-t N] [--json] [store options]\n"
			       "Perplexity as llama-perplexity computes it; with a sparsity (given or "
			       "auto) also KL and top-1 agreement against the same store at sparsity "
			       "0.\n");
			fputs(SWAP_CLI_USAGE, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (i + 1 >= argc) {
			cli_err(SUB, "unknown option '%s' or missing value (see --help)", a);
			return 2;
		} else if (v = argv[++i], !strcmp(a, "-m") || !strcmp(a, "--model")) {
			path = v;
		} else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
			tpath = v;
		} else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
			if (cli_long(SUB, a, v, 4, 1 << 16, &ctx))
				return 2;
		} else if (!strcmp(a, "--chunks")) {
			if (cli_long(SUB, a, v, 1, 1 << 24, &max_chunks))
				return 2;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
			if (cli_long(SUB, a, v, 1, 256, &threads))
				return 2;
		} else {
			cli_err(SUB, "unknown option '%s' (see --help)", a);
			return 2;
		}
	}
	if (!path || !tpath) {
		cli_err(SUB, "-m STORE and -f TEXT are required");
		return 2;
	}
	if (swap_cli_read_text(SUB, tpath, &text, &n_ids))
		return 1;
	tp = as_tp_create((int)threads);
	if (!tp) {
		cli_err(SUB, "cannot start %ld threads: %s", threads, strerror(errno));
		goto out;
	}
	if (swap_cli_open(&o, SUB, path, tp, (uint32_t)ctx, json, &m))
		goto out;
	if (!as_swap_meta(m) || as_tokenizer_load(&tok, as_swap_meta(m), err, sizeof(err))) {
		cli_err(SUB, "%s: no usable tokenizer in the store's metadata", path);
		goto out;
	}
	if (as_tokenize(tok, text, n_ids, as_tokenizer_add_bos(tok), &ids, &n_ids)) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	n_chunks = n_ids / (size_t)ctx;
	if (max_chunks && n_chunks > (size_t)max_chunks)
		n_chunks = (size_t)max_chunks;
	if (!n_chunks) {
		cli_err(SUB, "%s has %zu tokens, less than one chunk of %ld", tpath, n_ids, ctx);
		rc = 2;
		goto out;
	}
	if (as_swap_sparsity(m) > 0) {
		swap_cli_init(&oref);
		oref.sparsity = "0";
		oref.group = "1";
		oref.budget = o.budget;
		oref.backend = o.backend; /* the same I/O as the run it is compared with */
		oref.queue_depth = o.queue_depth;
		if (swap_cli_open(&oref, SUB, path, tp, (uint32_t)ctx, true, &ref))
			goto out;
	}
	em = (struct as_eval_model){ store_forward, store_logits, m, as_swap_n_vocab(m),
				     as_swap_n_ctx(m) };
	if (ref)
		er = (struct as_eval_model){ store_forward, store_logits, ref,
					     as_swap_n_vocab(ref), as_swap_n_ctx(ref) };
	r = as_perplexity_model(&em, ref ? &er : NULL, ids, n_chunks * (size_t)ctx,
				(uint32_t)ctx, as_tokenizer_bos(tok), json ? NULL : store_eval_chunk,
				NULL, &res);
	if (r) {
		cli_err(SUB, "evaluation failed: %s", strerror(-r));
		goto out;
	}
	if (json) {
		printf("{\"model\": ");
		cli_json_str(stdout, path);
		printf(", \"ctx\": %ld, \"chunks\": %zu, \"tokens_scored\": %llu, \"ppl\": %.6f",
		       ctx, n_chunks, (unsigned long long)res.tokens_scored, res.ppl);
		if (ref)
			printf(", \"kl\": %.8f, \"top1_agreement\": %.6f", res.kl, res.top1);
		swap_cli_json(m, &o, stdout);
		printf("}\n");
	} else {
		printf("PPL %.4f over %llu tokens", res.ppl, (unsigned long long)res.tokens_scored);
		if (ref)
			printf(", KL %.5f, top-1 agreement %.4f (against the store at sparsity 0)",
			       res.kl, res.top1);
		printf("\n");
	}
	rc = 0;
out:
	free(text);
	free(ids);
	as_tokenizer_free(tok);
	as_swap_close(m);
	as_swap_close(ref);
	if (tp)
		as_tp_destroy(tp);
	return rc;
}

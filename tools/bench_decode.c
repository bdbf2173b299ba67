// SPDX-License-Identifier: MIT
/*
 * activeswap bench decode -m MODEL [-n N] [-t N] [--json] [swapping options]
 *
 * End-to-end greedy decode speed. A store (.asw) runs through the swapping runtime under
 * --dram-budget; a GGUF runs through the dense runtime, either with its weights in
 * anonymous memory (--backend dense: repacked, like an all-in-DRAM run) or straight from
 * the file mapping (--backend mmap: pages come from flash on demand, like llama.cpp's
 * mmap; run it inside a memory cgroup of the budget's size to make that a budget). Flash
 * bytes per token are the process's storage reads (/proc/self/io read_bytes) for the
 * GGUF backends and the engine's reads for a store.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/model.h"
#include "activeswap/sampler.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "args.h"
#include "bench.h"
#include "cli.h"
#include "swap_cli.h"

#define SUB "bench decode"

static void usage(FILE *f)
{
	fprintf(f, "usage: activeswap bench decode -m MODEL [-n TOKENS] [-t THREADS] [--warmup N]\n"
		"                               [--backend dense|mmap] [--json] [options]\n"
		"\n"
		"  -m PATH          store (.asw: swapping runtime) or GGUF (dense runtime)\n"
		"  -n N             tokens timed (default 16), after --warmup N (default 2)\n"
		"  -t N             threads (default 2)\n"
		"  --backend dense  GGUF weights repacked into anonymous memory (default for GGUF)\n"
		"  --backend mmap   GGUF weights used in place from the file mapping\n"
		"  --kv-type f16|f32  the KV cache's element type (default f16)\n"
		"  --label TEXT     a name for this result in the JSON\n"
		"  --keep-cache     do not drop the model file from the page cache first\n"
		"  --print-budget   print the bytes --dram-budget means for this store, exit\n"
		"  --json           one JSON object on stdout\n"
		"store options:\n");
	fputs(SWAP_CLI_USAGE, f);
}

/* Drop the file's pages from the page cache, so a run (mmap especially) starts cold and
 * its pages are charged to this process's memory cgroup when faulted in. */
static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

static uint64_t io_read_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "read_bytes: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* --backend: dense or mmap for a GGUF, else a store's backend */
struct backend_arg {
	const char **gguf;
	int *store;
};

static int opt_backend(void *ptr, const char *sub, const char *flag, const char *v)
{
	struct backend_arg *b = ptr;

	if (!strcmp(v, "mmap") || !strcmp(v, "dense")) {
		*b->gguf = v;
		return 0;
	}
	return swap_cli_backend(b->store, sub, flag, v);
}

int bench_decode_main(int argc, char **argv)
{
	const char *path = NULL, *label = NULL, *gguf_backend = NULL;
	long n = 16, threads = 2, warmup = 2;
	bool json = false, store, keep_cache = false, print_budget = false;
	struct swap_cli o;
	struct as_threadpool *tp = NULL;
	struct as_swap_model *sm = NULL;
	struct as_model *dm = NULL;
	struct as_state *ds = NULL;
	const float *logits;
	uint32_t vocab;
	int32_t tok = 1;
	double t0 = 0, dt;
	uint64_t io0 = 0, budget = 0;
	struct as_swap_stats s0, s1;
	char err[512];
	int rc = 1, r;

	swap_cli_init(&o);
	{
		struct backend_arg ba = { &gguf_backend, &o.backend };
		const struct arg_opt own[] = {
			ARG_OPT_FN("--backend", NULL, &ba, opt_backend),
			ARG_OPT_BOOL("--json", NULL, &json),
			ARG_OPT_BOOL("--print-budget", NULL, &print_budget),
			ARG_OPT_BOOL("--keep-cache", NULL, &keep_cache),
			ARG_OPT_FN("--kv-type", NULL, &o.kv_type, cli_kv_type),
			ARG_OPT_STR(NULL, "-m", &path),
			ARG_OPT_STR("--label", NULL, &label),
			ARG_OPT_LONG(NULL, "-n", &n, 1, 1 << 20),
			ARG_OPT_LONG("--warmup", NULL, &warmup, 0, 1 << 20),
			ARG_OPT_LONG(NULL, "-t", &threads, 1, 256),
			ARG_OPT_END,
		};
		struct arg_opt swap[SWAP_CLI_NOPTS];
		const struct arg_spec spec = {
			.sub = SUB, .tables = { own, swap }, .usage_fn = usage,
		};

		swap_cli_args(&o, swap);
		r = args_parse(&spec, argc, argv);
		if (r >= 0)
			return r;
	}
	if (!path) {
		cli_err(SUB, "-m MODEL is required");
		return 2;
	}
	store = as_swap_is_store(path);
	if (print_budget) {
		/* the budget in bytes --dram-budget means for this store (for scripts) */
		struct as_swap_params p = { 0 };
		struct as_swap_budget bi;
		uint64_t b;

		p.n_ctx = (uint32_t)(n + warmup + 1); /* as the run will */
		p.kv_type = (enum as_kv_type)o.kv_type;
		if (!store || as_swap_budget_info(path, &p, &bi, err, sizeof(err))) {
			cli_err(SUB, "--print-budget needs a store");
			return 1;
		}
		b = bi.full;
		if (o.budget && cli_size(SUB, "--dram-budget", o.budget, bi.full, &b))
			return 2;
		printf("%llu\n", (unsigned long long)b);
		return 0;
	}
	if (!keep_cache)
		drop_cache(path);
	if (store && gguf_backend) {
		cli_err(SUB, "--backend %s needs a GGUF, %s is a store", gguf_backend, path);
		return 2;
	}
	tp = as_tp_create((int)threads);
	if (!tp) {
		cli_err(SUB, "cannot start threads: %s", strerror(errno));
		return 1;
	}
	if (store) {
		if (swap_cli_open(&o, SUB, path, tp, (uint32_t)(n + warmup + 1), json, &sm))
			goto out;
		vocab = as_swap_n_vocab(sm);
		budget = o.aut.budget_bytes;
	} else {
		struct as_model_opts mo = { 0 };

		if (!gguf_backend)
			gguf_backend = "dense";
		mo.repack = !strcmp(gguf_backend, "dense");
		mo.tp = tp;
		r = as_model_load_opts(&dm, path, &mo, err, sizeof(err));
		if (r) {
			cli_model_err(SUB, path, err);
			goto out;
		}
		r = as_state_new(&ds, dm, (uint32_t)(n + warmup + 1), tp);
		if (!r)
			r = as_state_set_kv_type(ds, (enum as_kv_type)o.kv_type);
		if (r) {
			cli_err(SUB, "state: %s", strerror(-r));
			goto out;
		}
		vocab = dm->hp.n_vocab;
		if (o.budget && cli_size(SUB, "--dram-budget", o.budget, dm->weight_bytes, &budget)) {
			rc = 2;
			goto out;
		}
	}
	for (long i = 0; i < warmup + n; i++) {
		if (i == warmup) {
			t0 = cli_now();
			io0 = io_read_bytes();
			if (sm)
				as_swap_stats(sm, &s0);
		}
		r = sm ? as_swap_forward(sm, tok, (uint32_t)i, true) :
			 as_forward(ds, tok, (uint32_t)i, true);
		if (r) {
			cli_err(SUB, "forward failed at %ld: %s", i, strerror(-r));
			goto out;
		}
		logits = sm ? as_swap_logits(sm) : ds->logits;
		tok = as_argmax(logits, vocab);
	}
	dt = cli_now() - t0;
	{
		double tps = n / dt, fb, st = 0, hit = -1, ub = 0;
		uint64_t rss = cli_peak_rss_bytes();

		if (sm) {
			as_swap_stats(sm, &s1);
			fb = (double)(s1.total.bytes_read - s0.total.bytes_read) / n;
			ub = (double)(s1.total.bytes_used - s0.total.bytes_used) / n;
			st = (double)(s1.total.stall_ns - s0.total.stall_ns) * 1e-9 / n;
			hit = s1.total.lookups - s0.total.lookups ?
				      (double)(s1.total.hits - s0.total.hits) /
					      (double)(s1.total.lookups - s0.total.lookups) : 0;
		} else {
			fb = (double)(io_read_bytes() - io0) / n;
		}
		if (json) {
			printf("{\"bench\": \"decode\", \"label\": ");
			cli_json_str(stdout, label ? label : (sm ? "activeswap" : gguf_backend));
			printf(", \"model\": ");
			cli_json_str(stdout, path);
			printf(", \"threads\": %ld, \"tokens\": %ld, \"tokens_per_s\": %.4f, "
			       "\"peak_rss_bytes\": %llu", threads, n, tps, (unsigned long long)rss);
			if (sm) {
				swap_cli_json(sm, &o, stdout);
				swap_cli_json_latency(&o, dt / n, stdout);
				/* per-window figures override the whole-run ones above */
				printf(", \"window_flash_bytes_per_token\": %.1f, "
				       "\"window_stall_s_per_token\": %.6f, \"window_hit_rate\": %.4f, "
				       "\"window_useful_bytes_per_token\": %.1f", fb, st, hit, ub);
			} else {
				printf(", \"backend\": ");
				cli_json_str(stdout, gguf_backend);
				printf(", \"kv_type\": \"%s\"", as_kv_type_name(ds->kv_type));
				printf(", \"budget_bytes\": %llu, \"sparsity\": 0, \"group\": 0, "
				       "\"flash_bytes_per_token\": %.1f, \"stall_s_per_token\": null, "
				       "\"hit_rate\": null", (unsigned long long)budget, fb);
			}
			printf("}\n");
		} else {
			/* dense and mmap have no weight cache and no stall measure */
			char hs[32] = "n/a", ss[32] = "n/a";

			if (sm) {
				snprintf(hs, sizeof(hs), "%.1f%%", hit < 0 ? 0 : hit * 100);
				snprintf(ss, sizeof(ss), "%.1f", st * 1e3);
			}
			printf("%s: %.3f tok/s, flash %.2f MB/token, stall %s ms/token, hit %s, "
			       "peak RSS %.1f MiB\n", sm ? "activeswap" : gguf_backend, tps, fb / 1e6,
			       ss, hs, rss / 1048576.0);
			if (sm && o.stats)
				swap_cli_print_stats(sm, stdout);
			if (sm && (o.stats || o.latency_ms > 0))
				swap_cli_print_latency(&o, SUB, dt / n, stdout);
		}
	}
	rc = 0;
out:
	as_swap_close(sm);
	as_state_free(ds);
	as_model_free(dm);
	as_tp_destroy(tp);
	return rc;
}

// SPDX-License-Identifier: MIT
/*
 * activeswap bench io -m STORE [--bs 64K] [--qd 32] [--seconds S] [--backend B]
 *                     [--budget SIZE] [--check] [--no-fio] [--json]
 *
 * Bundle-fetch bandwidth through libswap: a stream of random spans of adjacent bundles
 * (all layers of a group for a few consecutive channels, about --bs bytes each) is
 * requested as preloads and collected with swap_acquire, keeping the engine's queue full.
 * When fio is installed, fio's random read with the same block size and depth (io_uring,
 * O_DIRECT) runs on the same file in the same invocation and the ratio is printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "bench.h"
#include "cli.h"
#include "swap_cli.h"
#include "libswap.h"

#define SUB "bench io"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: activeswap bench io -m STORE [--bs 64K] [--qd 32] [--seconds S]\n"
		"                           [--backend auto|uring|pread|kmod] [--budget SIZE|N%%]\n"
		"                           [--policy freq|lru] [--rounds N] [--check]\n"
		"                           [--no-fio] [--json]\n"
		"\n"
		"  --bs SIZE      bytes per read (the engine's coalescing limit; default 64K)\n"
		"  --qd N         reads in flight (default 32)\n"
		"  --seconds S    total duration of each side's measurement (default 5)\n"
		"  --backend B    libswap's reads: auto (default), uring, pread or kmod\n"
		"  --policy P     the engine's cache policy: lru (default) or freq\n"
		"  --rounds N     alternate libswap and fio N times (default 5), for fairness\n"
		"                 on a busy machine\n"
		"  --budget SIZE  DRAM budget (default: the minimum plus 64 MiB); N%% of the\n"
		"                 store's swappable bytes\n"
		"  --check        compare every fetched bundle with its crc32c and with the\n"
		"                 file's bytes (pread)\n"
		"  --no-fio       skip the fio comparison\n"
		"  --json         one JSON object on stdout\n");
}

#define SPAN_MAX 1024

struct span {
	struct swap_key keys[SPAN_MAX];
	uint32_t n;
};

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * One read's worth of adjacent bundles: starting at a bundle chosen uniformly over the
 * bytes of all bundles (like fio's uniform offsets), the following bundles in file order
 * (the same channel's layers, then the next channels) while the 4 KiB aligned span stays
 * within bs. Spans are independent, so each becomes exactly one random read.
 */
static void make_span(const struct swap_store *s, uint64_t bs, uint64_t *rng, struct span *sp)
{
	const struct swap_store_desc *d = swap_store_desc(s);
	uint64_t per_layer = 0, u, acc = 0, bb, off0, len;
	uint32_t first = 0, kind = 0, nl = 0, in, idx, total;

	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		per_layer += d->kinds[k].in * swap_store_bundle_bytes(s, k);
	u = xs(rng) % (per_layer * d->n_layers);
	for (first = 0; first < d->n_layers; first += d->group) {
		nl = d->n_layers - first < d->group ? d->n_layers - first : d->group;
		if (u < acc + per_layer * nl)
			break;
		acc += per_layer * nl;
	}
	for (kind = 0; kind < SWAP_KIND_COUNT - 1; kind++) {
		uint64_t sz = nl * d->kinds[kind].in * swap_store_bundle_bytes(s, kind);

		if (u < acc + sz)
			break;
		acc += sz;
	}
	in = d->kinds[kind].in;
	bb = swap_store_bundle_bytes(s, kind);
	total = in * nl;
	idx = (uint32_t)((u - acc) / bb); /* bundle index in file order within the section */
	if (idx >= total)
		idx = total - 1;
	sp->n = 0;
	off0 = 0;
	for (uint32_t i = idx; i < total && sp->n < SPAN_MAX; i++) {
		struct swap_key k = { first + i % nl, kind, i / nl };
		uint64_t o;

		swap_store_bundle_loc(s, k, &o, &len);
		if (!sp->n)
			off0 = o;
		if (sp->n && ((o + bb + SWAP_ALIGN - 1) & ~(uint64_t)(SWAP_ALIGN - 1)) -
				     (off0 & ~(uint64_t)(SWAP_ALIGN - 1)) > bs)
			break;
		sp->keys[sp->n++] = k;
	}
}

/* fio random read, same bs/qd, io_uring + O_DIRECT; bytes/s or -1. fio runs without a
 * shell (the path is never parsed as shell words); its own filename syntax treats ':' as
 * a separator, so those are escaped. */
static double run_fio(const char *path, uint64_t bs, uint32_t qd, double secs)
{
	char fname[PATH_MAX * 2 + 16], a_bs[48], a_qd[32], a_rt[48], *buf = NULL, *p;
	size_t cap = 0, len = 0, o = 0;
	double bw = -1;
	int pfd[2], status;
	pid_t pid;

	o = (size_t)snprintf(fname, sizeof(fname), "--filename=");
	for (const char *c = path; *c; c++) {
		if (o + 3 >= sizeof(fname))
			return -1;
		if (*c == ':')
			fname[o++] = '\\';
		fname[o++] = *c;
	}
	fname[o] = 0;
	snprintf(a_bs, sizeof(a_bs), "--bs=%llu", (unsigned long long)bs);
	snprintf(a_qd, sizeof(a_qd), "--iodepth=%u", qd);
	snprintf(a_rt, sizeof(a_rt), "--runtime=%.0f", secs < 1 ? 1 : secs);
	char *const argv[] = { "fio", "--name=activeswap-bench-io", fname, "--readonly",
			       "--rw=randread", a_bs, a_qd, "--ioengine=io_uring", "--direct=1",
			       "--time_based", a_rt, "--ramp_time=0", "--norandommap",
			       "--output-format=json", NULL };

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(pfd[1], STDOUT_FILENO);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		execvp("fio", argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!nb)
				break;
			buf = nb;
		}
		ssize_t n = read(pfd[0], buf + len, cap - len - 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!buf || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(buf);
		return -1;
	}
	buf[len] = 0;
	p = strstr(buf, "\"read\"");
	if (p)
		p = strstr(p, "\"bw_bytes\"");
	if (p && (p = strchr(p, ':')))
		bw = strtod(p + 1, NULL);
	free(buf);
	return bw > 0 ? bw : -1;
}

static int opt_bs(void *ptr, const char *sub, const char *flag, const char *v)
{
	uint64_t *bs = ptr;

	if (cli_size(sub, flag, v, 0, bs))
		return -1;
	if (*bs < SWAP_ALIGN || *bs > (64u << 20) || *bs % SWAP_ALIGN) {
		cli_err(sub, "bad value for --bs: must be a multiple of 4K up to 64M");
		return -1;
	}
	return 0;
}

static int opt_policy(void *ptr, const char *sub, const char *flag, const char *v)
{
	int *policy = ptr;

	(void)flag;
	*policy = swap_policy_from_name(v);
	if (*policy < 0 || *policy == SWAP_POLICY_STATIC) {
		cli_err(sub, "bad value for --policy: '%s' (freq or lru)", v);
		return -1;
	}
	return 0;
}

int bench_io_main(int argc, char **argv)
{
	const char *path = NULL;
	uint64_t bs = 64 << 10, budget = 0, qd = 32;
	double secs = 5, t0, t1, fio_bw = -1, bw, wall = 0;
	uint64_t bytes = 0, reads = 0;
	long rounds = 5;
	bool fio_missing = false;
	int backend = SWAP_BACKEND_AUTO, policy = SWAP_POLICY_LRU;
	bool json = false, check = false, fio = true, no_fio = false;
	struct swap_store *s = NULL;
	struct swap_engine *e = NULL;
	struct swap_engine_params p;
	struct swap_stats st0, st1 = { 0 };
	struct span *win = NULL;
	const void **ptrs = NULL;
	uint8_t *cmp = NULL;
	uint64_t maxbb = 0;
	char err[512] = "";
	uint64_t rng = 0x9e3779b97f4a7c15ull, bad = 0, spans = 0;
	uint32_t W, head = 0, count = 0;
	int r, rc = 1;
	const char *budget_s = NULL;

	{
		const struct arg_opt opts[] = {
			ARG_OPT_STR(NULL, "-m", &path),
			ARG_OPT_FN("--bs", NULL, &bs, opt_bs),
			ARG_OPT_U64("--qd", NULL, &qd, 1, 4096),
			ARG_OPT_DOUBLE("--seconds", NULL, &secs, 0.1, 3600),
			ARG_OPT_FN("--backend", NULL, &backend, swap_cli_backend),
			ARG_OPT_FN("--policy", NULL, &policy, opt_policy),
			ARG_OPT_STR("--budget", NULL, &budget_s),
			ARG_OPT_LONG("--rounds", NULL, &rounds, 1, 100),
			ARG_OPT_BOOL("--check", NULL, &check),
			ARG_OPT_BOOL("--no-fio", NULL, &no_fio),
			ARG_OPT_BOOL("--json", NULL, &json),
			ARG_OPT_END,
		};
		const struct arg_spec spec = { .sub = SUB, .tables = { opts }, .usage_fn = usage };

		r = args_parse(&spec, argc, argv);
		if (r >= 0)
			return r;
		fio = !no_fio;
	}
	if (!path) {
		cli_err(SUB, "missing -m STORE");
		usage(stderr);
		return 2;
	}
	r = swap_store_open(&s, path, err, sizeof(err));
	if (r) {
		cli_err(SUB, "%s", err);
		return 1;
	}
	if (budget_s && cli_size(SUB, "--budget", budget_s, swap_store_swappable_bytes(s),
				 &budget)) {
		swap_store_close(s);
		return 2;
	}
	memset(&p, 0, sizeof(p));
	p.policy = (enum swap_policy_kind)policy;
	p.backend = (enum swap_backend_kind)backend;
	p.queue_depth = (uint32_t)qd;
	p.max_read_bytes = bs;
	p.numa_node = -1;
	p.flags = check ? SWAP_F_VERIFY : 0;
	p.budget_bytes = budget ? budget : swap_engine_min_budget(s, &p) + (64u << 20);
	r = swap_engine_create(&e, s, &p, err, sizeof(err));
	if (r && strstr(err, "RLIMIT_MEMLOCK")) {
		fprintf(stderr, "activeswap bench io: %s; continuing without mlock\n", err);
		p.flags |= SWAP_F_NO_MLOCK;
		r = swap_engine_create(&e, s, &p, err, sizeof(err));
	}
	if (r) {
		cli_err(SUB, "%s", err);
		goto out;
	}
	/* One read per span: qd in flight and 7 x qd queued behind them, so the engine's
	 * completion thread can keep the device busy for a while even when this thread
	 * is not scheduled (the machine may be busy). */
	W = (uint32_t)(qd * 8 < 8 ? 8 : qd * 8);
	win = calloc(W, sizeof(*win));
	ptrs = calloc(SPAN_MAX, sizeof(*ptrs));
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		if (swap_store_bundle_bytes(s, k) > maxbb)
			maxbb = swap_store_bundle_bytes(s, k);
	cmp = malloc(maxbb);
	if (!win || !ptrs || !cmp) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	/* Alternate libswap and fio in `rounds` slices so both see the same machine load. */
	for (int round = 0; round < rounds; round++) {
		swap_engine_stats(e, &st0);
		t0 = cli_now();
		t1 = t0;
		while (t1 - t0 < secs / rounds) {
			while (count < W) {
				struct span *sp = &win[(head + count) % W];

				make_span(s, bs, &rng, sp);
				if (swap_request(e, sp->keys, sp->n, SWAP_PRIO_NEXT, spans + count)) {
					cli_err(SUB, "request failed");
					goto out;
				}
				count++;
			}
			struct span *sp = &win[head];

			r = swap_acquire(e, sp->keys, sp->n, ptrs);
			if (r) {
				cli_err(SUB, "fetch failed: %s", strerror(-r));
				goto out;
			}
			for (uint32_t i = 0; i < sp->n && check; i++) {
				uint64_t bb = swap_store_bundle_bytes(s, sp->keys[i].kind);

				/* the stored crc32c, and the bytes read back through the page
				 * cache with pread */
				if (swap_crc32c(0, ptrs[i], bb) != swap_store_bundle_crc(s, sp->keys[i]) ||
				    swap_store_read_bundle(s, sp->keys[i], cmp) ||
				    memcmp(cmp, ptrs[i], bb))
					bad++;
			}
			swap_release(e, sp->keys, sp->n);
			head = (head + 1) % W;
			count--;
			spans++;
			t1 = cli_now();
		}
		swap_engine_stats(e, &st1);
		bytes += st1.total.bytes_read - st0.total.bytes_read;
		reads += st1.total.reads - st0.total.reads;
		wall += t1 - t0;
		if (fio) {
			double fb;

			/* drain our queue first so fio gets the device alone */
			swap_cancel(e, SWAP_TAG_ANY, (1u << SWAP_PRIO_COUNT) - 1);
			for (int w = 0; w < 5000; w++) { /* at most ~5 s: a stuck read */
				swap_engine_stats(e, &st1);
				if (!st1.inflight && !st1.queued)
					break;
				usleep(1000);
			}
			count = 0;
			fb = run_fio(path, bs, (uint32_t)qd, secs / rounds);
			if (fb > 0) {
				fio_bw = fio_bw < 0 ? 0 : fio_bw;
				fio_bw += fb / rounds;
			} else {
				fio = false;
				fio_missing = true;
			}
		}
	}
	bw = (double)bytes / wall;
	{
		const char *bname = swap_engine_backend_name(e);
		double avg = reads ? (double)bytes / (double)reads : 0.0;

		if (fio_missing)
			fio_bw = -1;
		if (json) {
			printf("{\"bench\": \"io\", \"store\": ");
			cli_json_str(stdout, path);
			printf(", \"backend\": \"%s\", \"bs\": %llu, \"qd\": %llu, \"seconds\": %.3f, "
			       "\"rounds\": %ld, \"bandwidth_bytes_per_s\": %.0f, \"reads\": %llu, "
			       "\"avg_read_bytes\": %.0f, \"bad_bundles\": %llu, "
			       "\"fio_bandwidth_bytes_per_s\": ", bname, (unsigned long long)bs,
			       (unsigned long long)qd, wall, rounds, bw, (unsigned long long)reads,
			       avg, (unsigned long long)bad);
			if (fio_bw > 0)
				printf("%.0f, \"ratio\": %.4f}\n", fio_bw, bw / fio_bw);
			else
				printf("null, \"ratio\": null}\n");
		} else {
			printf("store      %s\nbackend    %s, bs %llu, qd %llu, %.1f s in %ld rounds\n",
			       path, bname, (unsigned long long)bs, (unsigned long long)qd, wall,
			       rounds);
			printf("libswap    %.1f MB/s (%llu reads, %.0f bytes per read)\n", bw / 1e6,
			       (unsigned long long)reads, avg);
			if (check)
				printf("check      %llu bad bundles\n", (unsigned long long)bad);
			if (fio_bw > 0)
				printf("fio        %.1f MB/s (randread, io_uring, O_DIRECT)\n"
				       "ratio      %.3f\n", fio_bw / 1e6, bw / fio_bw);
			else if (fio_missing)
				printf("fio        not available\n");
		}
	}
	rc = bad ? 1 : 0;
out:
	free(win);
	free(ptrs);
	free(cmp);
	swap_engine_destroy(e);
	swap_store_close(s);
	return rc;
}

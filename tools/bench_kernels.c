// SPDX-License-Identifier: MIT
/*
 * activeswap bench kernels: y = W x throughput for each weight type, layout (plain GGUF
 * rows or the repacked X16 layouts) and SIMD level, with a thread pool of -t threads.
 *
 * Weights live in anonymous memory with MADV_HUGEPAGE, as the model loader keeps them.
 * To measure memory streaming rather than cache hits, enough copies of the matrix are
 * allocated to exceed --working-set (default 512 MiB) and the timed loop cycles through
 * them. GB/s counts weight bytes read per second; GFLOP/s counts 2 * rows * cols. The
 * figures use the median time per matvec (robust on a shared machine); the best time is
 * printed too.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "args.h"
#include "bench.h"
#include "bench_kernels.h"
#include "cli.h"

#define SUB "bench kernels"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: activeswap bench kernels [--rows R --cols C] [--type T] [-t N]\n"
		"                                [--simd LEVEL] [--layout plain|x16]\n"
		"                                [--seconds S] [--working-set SIZE] [--json]\n"
		"                                [--sparsity S[,S...]] [--batch N]\n"
		"\n"
		"  --rows R --cols C   one matrix shape (default: 4096x11008 and 11008x4096)\n"
		"  --type T            weight type: q4_0 (default), q8_0, q4_K, q5_K, q6_K, f16,\n"
		"                      bf16, f32 (q4_0 q4_K q5_K q8_0 also repacked: x16)\n"
		"  -t, --threads N     threads (default: online CPUs, at most 256)\n"
		"  --simd LEVEL        only this SIMD level (default: every one the CPU has)\n"
		"  --layout L          only this weight layout: plain or x16 (repacked)\n"
		"  --seconds S         time per measurement (default 0.5)\n"
		"  --working-set SIZE  copies of the matrix cycled through, so that the reads\n"
		"                      come from DRAM, not cache (default 512M)\n"
		"  --sparsity S,...    also time the sparse column kernel at these sparsities\n"
		"                      (each in [0, 0.99])\n"
		"  --batch N           also time the matrix-matrix product of N tokens (batched\n"
		"                      prompt processing, as_matmul_multi) at each level; at\n"
		"                      avx512 with AMX usable, both with AMX tiles (\"avx512+amx\",\n"
		"                      the x16 layouts of q4_0 and q8_0) and without\n"
		"  --json              one JSON object per result line\n"
		"\n"
		"Without --rows/--cols: the Llama-2-7B matvec shapes 4096x11008 and 11008x4096.\n"
		"LEVEL: scalar, avx2, avx512 on x86-64; scalar, neon, dotprod on aarch64.\n"
		"Without --type: q4_0. Prints the median us per matvec, weight GB/s and GFLOP/s\n"
		"(and the best GB/s). --sparsity also times the swapping runtime's sparse kernel\n"
		"(layout \"cols\": the store's column encoding, one column per cache slot, slots\n"
		"in random order, a random (1-S) fraction of the columns selected); its GB/s and\n"
		"GFLOP/s count the selected columns only, and \"vs_dense\" is its speed over the\n"
		"dense matvec of the same shape measured in the same run. q4_K, q5_K and q6_K\n"
		"use the store's K columns (the matrix's codes per column; its scales in one\n"
		"resident table, read but not counted in GB/s). For q4_0 without\n"
		"--simd, layout \"read\" times the memory reads alone (one load per 64-byte\n"
		"line): of the whole matrix, and of the selected columns in the sparse kernel's\n"
		"order, with its time relative to the whole matrix's: the ceiling a sparse\n"
		"kernel could reach on this memory system.\n");
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

uint64_t bk_rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

float bk_frand(void)
{
	return (float)((bk_rng() >> 40) * 0x1p-24) * 2.0f - 1.0f;
}

void *bk_alloc_big(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

/* CPU seconds the calling thread has run: with -t 1 the pool runs the kernels in it, so
 * this is their CPU time, which other tenants of a loaded machine change far less than
 * the elapsed time. */
static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* {"bench":"kernels","type":..,"layout":..,"simd":.. of a JSON line */
void bk_json_head(const char *type, const char *layout, enum as_simd lvl)
{
	printf("{\"bench\":\"kernels\",\"type\":");
	cli_json_str(stdout, type);
	printf(",\"layout\":");
	cli_json_str(stdout, layout);
	printf(",\"simd\":");
	cli_json_str(stdout, as_simd_name(lvl));
}

static void print_result(const struct bk_opts *o, const char *type, const char *layout,
			 enum as_simd lvl, long rows, long cols, uint64_t bytes,
			 const struct timing *tm)
{
	double gbps = (double)bytes / tm->median / 1e9;
	double gflops = 2.0 * (double)rows * (double)cols / tm->median / 1e9;
	double best = (double)bytes / tm->best / 1e9;

	if (o->json) {
		bk_json_head(type, layout, lvl);
		printf(",\"rows\":%ld,\"cols\":%ld,\"threads\":%ld,\"us\":%.2f,\"us_mean\":%.2f,"
		       "\"us_best\":%.2f,\"cpu_us\":%.2f,\"gbps\":%.3f,\"gbps_best\":%.3f,"
		       "\"gflops\":%.3f}\n",
		       rows, cols, o->threads, tm->median * 1e6, tm->mean * 1e6, tm->best * 1e6,
		       tm->cpu * 1e6, gbps, best, gflops);
	} else {
		printf("%-6s %-6s %-7s %6ld x %-6ld %3ld thr %10.1f us %8.2f GB/s %8.2f GFLOP/s"
		       " (best %.2f GB/s)\n",
		       type, layout, as_simd_name(lvl), rows, cols, o->threads, tm->median * 1e6,
		       gbps, gflops, best);
	}
	fflush(stdout);
}

/* a --batch result: seconds per product of o->batch tokens */
static void print_batch(const struct bk_opts *o, const char *type, const char *layout,
			enum as_simd lvl, bool amx, long rows, long cols, const struct timing *tm)
{
	double gflops = 2.0 * (double)rows * (double)cols * (double)o->batch / tm->median / 1e9;
	double tps = (double)o->batch / tm->median;

	if (o->json) {
		bk_json_head(type, layout, lvl);
		printf(",\"amx\":%s,\"batch\":%ld,\"rows\":%ld,\"cols\":%ld,\"threads\":%ld,"
		       "\"us\":%.2f,\"us_mean\":%.2f,\"us_best\":%.2f,\"cpu_us\":%.2f,"
		       "\"tokens_per_s\":%.2f,\"gflops\":%.3f}\n",
		       amx ? "true" : "false", o->batch, rows, cols, o->threads, tm->median * 1e6,
		       tm->mean * 1e6, tm->best * 1e6, tm->cpu * 1e6, tps, gflops);
	} else {
		char name[32];

		snprintf(name, sizeof(name), "%s%s", as_simd_name(lvl), amx ? "+amx" : "");
		printf("%-6s %-6s %-10s %6ld x %-6ld %3ld thr batch %ld %10.1f us %8.2f GFLOP/s"
		       " %9.1f tokens/s\n",
		       type, layout, name, rows, cols, o->threads, o->batch, tm->median * 1e6,
		       gflops, tps);
	}
	fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Time run(ctx, it) for it = 0, 1, ... (two untimed warm-up calls first) for at least
 * `seconds` and 3 calls: median, mean and best seconds per call.
 */
#define BK_MAX_SAMPLES 100000
void bk_time_runs(void (*run)(void *ctx, long it), void *ctx, double seconds,
		      struct timing *tm)
{
	static double samples[BK_MAX_SAMPLES];
	double t0, el, prev, c0;
	long it = 0;

	for (long i = 0; i < 2; i++)
		run(ctx, i);
	c0 = thread_cpu();
	t0 = prev = cli_now();
	do {
		double now;

		run(ctx, it);
		now = cli_now();
		if (it < BK_MAX_SAMPLES)
			samples[it] = now - prev;
		prev = now;
		it++;
		el = now - t0;
	} while (el < seconds || it < 3);
	tm->mean = el / (double)it;
	tm->cpu = (thread_cpu() - c0) / (double)it;
	if (it > BK_MAX_SAMPLES)
		it = BK_MAX_SAMPLES;
	qsort(samples, (size_t)it, sizeof(double), cmp_double);
	tm->median = samples[it / 2];
	tm->best = samples[0];
}

struct mv_run {
	struct as_threadpool *tp;
	enum as_simd lvl;
	enum ggml_type t;
	uint8_t *base;
	size_t stride;
	int n;
	long rows, cols;
	const float *x;
	float *y;
};

/* one matvec on copy it % n */
static void mv_run(void *ctx, long it)
{
	const struct mv_run *a = ctx;

	as_matvec_level(a->lvl, a->tp, a->t, a->base + (size_t)(it % a->n) * a->stride,
			(size_t)a->rows, (size_t)a->cols, a->x, a->y);
}

/* Time matvecs cycling through n copies. */
static void time_matvec(struct as_threadpool *tp, enum as_simd lvl, enum ggml_type t,
			uint8_t *base, size_t stride, int n, long rows, long cols, const float *x,
			float *y, double seconds, struct timing *tm)
{
	struct mv_run a = { tp, lvl, t, base, stride, n, rows, cols, x, y };

	bk_time_runs(mv_run, &a, seconds, tm);
}

struct mm_run {
	struct as_threadpool *tp;
	enum ggml_type t;
	uint8_t *base;
	size_t stride;
	int n;
	long rows, cols, batch;
	const float *X;
	float *Y;
};

/* one product of batch tokens on copy it % n, at the active level */
static void mm_run(void *ctx, long it)
{
	const struct mm_run *a = ctx;
	struct as_matvec_job j = { a->t, a->base + (size_t)(it % a->n) * a->stride,
				   (size_t)a->rows, a->Y };

	as_matmul_multi(a->tp, &j, 1, (size_t)a->cols, a->X, (size_t)a->batch);
}

/* --batch: the product at every level (and with and without AMX where it is usable) */
static int bench_batch(const struct bk_opts *o, struct as_threadpool *tp, enum ggml_type t,
		       const char *tname, const char *layout, uint8_t *base, size_t stride,
		       int n, long rows, long cols)
{
	size_t nx, ny;
	float *X, *Y;
	enum as_simd was = as_simd_active();
	bool amx_was = as_amx_active();

	if (__builtin_mul_overflow((size_t)o->batch, (size_t)cols, &nx) ||
	    __builtin_mul_overflow((size_t)o->batch, (size_t)rows, &ny) ||
	    nx > (SIZE_MAX / sizeof(float)) || ny > (SIZE_MAX / sizeof(float))) {
		cli_err(SUB, "--batch %ld: too large", o->batch);
		return 1;
	}
	X = malloc(nx * sizeof(float));
	Y = malloc(ny * sizeof(float));
	if (!X || !Y) {
		free(X);
		free(Y);
		cli_err(SUB, "out of memory for --batch %ld", o->batch);
		return 1;
	}
	for (size_t i = 0; i < nx; i++)
		X[i] = bk_frand();
	for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
		if (o->simd >= 0 && l != o->simd)
			continue;
		for (int amx = 0; amx <= 1; amx++) {
			struct mm_run a = { tp, t, base, stride, n, rows, cols, o->batch, X, Y };
			struct timing tm;

			if (amx && (l != AS_SIMD_AVX512 || !as_amx_detect() ||
				    (t != AS_TYPE_Q4_0_X16 && t != AS_TYPE_Q8_0_X16)))
				continue;
			as_kernels_force((enum as_simd)l);
			as_kernels_amx(amx);
			bk_time_runs(mm_run, &a, o->seconds, &tm);
			print_batch(o, tname, layout, (enum as_simd)l, amx, rows, cols, &tm);
		}
	}
	as_kernels_force(was);
	as_kernels_amx(amx_was);
	free(X);
	free(Y);
	return 0;
}

static int bench_shape(const struct bk_opts *o, struct as_threadpool *tp, enum ggml_type t,
		       long rows, long cols)
{
	uint64_t rb, bytes, rbytes = 0;
	size_t stride, rstride = 0;
	uint8_t *w = NULL, *rp = NULL;
	float *x = NULL, *y = NULL, *tmp = NULL;
	double dense_s = 0, read_s = 0;
	int n, rc = 1;

	if (as_row_bytes(t, (uint64_t)cols, &rb)) {
		cli_err(SUB, "--cols %ld is not a multiple of %s's block size (%zu)", cols,
			as_type_name(t), as_type_block_elems(t));
		return 2;
	}
	if (__builtin_mul_overflow(rb, (uint64_t)rows, &bytes) || bytes > (1ull << 36)) {
		cli_err(SUB, "matrix too large");
		return 2;
	}
	n = (int)((o->working_set + bytes - 1) / bytes);
	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	stride = ((size_t)bytes + 4095) & ~(size_t)4095;
	w = bk_alloc_big(stride * (size_t)n);
	x = malloc((size_t)cols * sizeof(float));
	y = malloc((size_t)rows * sizeof(float));
	tmp = malloc((size_t)cols * sizeof(float));
	if (!w || !x || !y || !tmp) {
		cli_err(SUB, "out of memory (%d copies of %llu bytes)", n, (unsigned long long)bytes);
		goto out;
	}
	for (long i = 0; i < cols; i++)
		x[i] = bk_frand();
	for (long r = 0; r < rows; r++) {
		for (long i = 0; i < cols; i++)
			tmp[i] = bk_frand() * 0.05f;
		as_quant_row(t, tmp, w + (size_t)r * rb, (size_t)cols);
	}
	for (int i = 1; i < n; i++)
		memcpy(w + (size_t)i * stride, w, (size_t)bytes);

	if (as_repacked_type(t) >= 0 && o->layout != 0 &&
	    !as_repack_size(t, (size_t)rows, (size_t)cols, &rbytes)) {
		rstride = ((size_t)rbytes + 4095) & ~(size_t)4095;
		rp = bk_alloc_big(rstride * (size_t)n);
		if (!rp) {
			cli_err(SUB, "out of memory for the repacked copies");
			goto out;
		}
		for (int i = 0; i < n; i++)
			as_repack(t, w, (size_t)rows, (size_t)cols, rp + (size_t)i * rstride);
	}
	for (int l = AS_SIMD_SCALAR; l <= (int)as_simd_detect(); l++) {
		struct timing tm;

		if (o->simd >= 0 && l != o->simd)
			continue;
		if (o->layout != 1) {
			time_matvec(tp, l, t, w, stride, n, rows, cols, x, y, o->seconds, &tm);
			print_result(o, as_type_name(t), "plain", l, rows, cols, bytes, &tm);
			if (l == (int)as_simd_detect())
				dense_s = tm.median;
		}
		if (rp) {
			time_matvec(tp, l, (enum ggml_type)as_repacked_type(t), rp, rstride, n,
				    rows, cols, x, y, o->seconds, &tm);
			print_result(o, as_type_name(t), "x16", l, rows, cols, rbytes, &tm);
			if (l == (int)as_simd_detect())
				dense_s = tm.median; /* the faster layout, as the runtime uses */
		}
	}
	if (o->batch && o->layout != 1 &&
	    bench_batch(o, tp, t, as_type_name(t), "plain", w, stride, n, rows, cols))
		goto out;
	if (o->batch && rp &&
	    bench_batch(o, tp, (enum ggml_type)as_repacked_type(t), as_type_name(t), "x16", rp,
			rstride, n, rows, cols))
		goto out;
	if (o->n_sp && t == GGML_TYPE_Q4_0 && o->simd < 0) {
		struct timing tm;

		bk_time_read(tp, w, stride, (size_t)n, (size_t)bytes, o->seconds, &tm);
		print_result(o, as_type_name(t), "read", AS_SIMD_SCALAR, rows, cols, bytes, &tm);
		read_s = tm.median; /* the whole matrix, read alone */
	}
	if (o->n_sp) {
		if (!as_sparse_type_ok(t) && !as_kq_type(t)) {
			cli_err(SUB, "--sparsity: no sparse kernel for %s", as_type_name(t));
			rc = 2;
			goto out;
		}
		if (w && !as_kq_type(t)) { /* K types encode their columns from w */
			munmap(w, stride * (size_t)n);
			w = NULL;
		}
		if (rp) {
			munmap(rp, rstride * (size_t)n);
			rp = NULL;
		}
		if (bk_sparse(o, tp, t, rows, cols, x, w, rb, dense_s, read_s))
			goto out;
	}
	rc = 0;
out:
	if (w)
		munmap(w, stride * (size_t)n);
	if (rp)
		munmap(rp, rstride * (size_t)n);
	free(x);
	free(y);
	free(tmp);
	return rc;
}

static void noop(void *arg, int ith, int nth)
{
	(void)arg;
	(void)ith;
	(void)nth;
}

static void bench_dispatch(const struct bk_opts *o, struct as_threadpool *tp)
{
	double t0 = cli_now(), el;
	long it = 0;

	for (int i = 0; i < 100; i++)
		as_tp_run(tp, noop, NULL);
	t0 = cli_now();
	do {
		for (int i = 0; i < 100; i++)
			as_tp_run(tp, noop, NULL);
		it += 100;
		el = cli_now() - t0;
	} while (el < 0.2);
	if (o->json)
		printf("{\"bench\":\"threadpool\",\"threads\":%ld,\"dispatch_us\":%.3f}\n",
		       o->threads, el / (double)it * 1e6);
	else
		printf("thread-pool dispatch (%ld threads): %.3f us\n", o->threads,
		       el / (double)it * 1e6);
}

static int opt_type(void *ptr, const char *sub, const char *flag, const char *v)
{
	int *type = ptr;

	(void)flag;
	*type = as_type_from_name(v);
	if (*type < 0 || !as_type_supported((enum ggml_type)*type)) {
		cli_err(sub, "bad value for --type: '%s' (f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 "
			"q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs)", v);
		return -1;
	}
	return 0;
}

static int opt_simd(void *ptr, const char *sub, const char *flag, const char *v)
{
	int *simd = ptr;

	(void)flag;
	*simd = as_simd_parse(v);
	if (*simd < 0) {
		cli_err(sub, "bad value for --simd: '%s' (%s %s %s)", v, as_simd_name(0),
			as_simd_name(1), as_simd_name(2));
		return -1;
	}
	if (*simd > (int)as_simd_detect()) {
		cli_err(sub, "--simd %s: this CPU supports at most %s", v,
			as_simd_name(as_simd_detect()));
		return -1;
	}
	return 0;
}

/* a comma-separated list of at most 8 levels */
static int opt_sparsity(void *ptr, const char *sub, const char *flag, const char *v)
{
	struct bk_opts *o = ptr;
	char buf[256], *save = NULL;

	if (strlen(v) >= sizeof(buf)) {
		cli_err(sub, "--sparsity: list too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	o->n_sp = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->n_sp == 8) {
			cli_err(sub, "--sparsity: at most 8 values");
			return -1;
		}
		if (cli_double(sub, flag, tok, 0, CLI_SPARSITY_MAX, &o->sp[o->n_sp]))
			return -1;
		o->n_sp++;
	}
	if (!o->n_sp) {
		cli_err(sub, "--sparsity needs a value");
		return -1;
	}
	return 0;
}

static int opt_layout(void *ptr, const char *sub, const char *flag, const char *v)
{
	int *layout = ptr;

	(void)flag;
	if (!strcmp(v, "plain"))
		*layout = 0;
	else if (!strcmp(v, "x16"))
		*layout = 1;
	else {
		cli_err(sub, "bad value for --layout: '%s' (plain x16)", v);
		return -1;
	}
	return 0;
}

int bench_kernels_main(int argc, char **argv)
{
	struct bk_opts o = { .rows = 0, .cols = 0, .threads = 0, .type = -1, .simd = -1,
			     .layout = -1, .seconds = 0.5, .working_set = 512ull << 20 };
	struct as_threadpool *tp;
	int rc = 0;

	{
		const struct arg_opt opts[] = {
			ARG_OPT_BOOL("--json", NULL, &o.json),
			ARG_OPT_LONG("--rows", NULL, &o.rows, 1, 1L << 24),
			ARG_OPT_LONG("--cols", NULL, &o.cols, 1, 1L << 24),
			ARG_OPT_LONG("--batch", NULL, &o.batch, 1, 4096),
			ARG_OPT_LONG("--threads", "-t", &o.threads, 1, 256),
			ARG_OPT_DOUBLE("--seconds", NULL, &o.seconds, 0.001, 60),
			ARG_OPT_SIZE("--working-set", NULL, &o.working_set),
			ARG_OPT_FN("--type", NULL, &o.type, opt_type),
			ARG_OPT_FN("--simd", NULL, &o.simd, opt_simd),
			ARG_OPT_FN("--sparsity", NULL, &o, opt_sparsity),
			ARG_OPT_FN("--layout", NULL, &o.layout, opt_layout),
			ARG_OPT_END,
		};
		const struct arg_spec spec = { .sub = SUB, .tables = { opts }, .usage_fn = usage };

		rc = args_parse(&spec, argc, argv);
		if (rc >= 0)
			return rc;
		rc = 0;
	}
	if ((o.rows == 0) != (o.cols == 0)) {
		cli_err(SUB, "give both --rows and --cols, or neither");
		return 2;
	}
	if (o.rows) {
		enum ggml_type tt = o.type < 0 ? GGML_TYPE_Q4_0 : (enum ggml_type)o.type;
		uint64_t rb;

		if (as_row_bytes(tt, (uint64_t)o.cols, &rb)) {
			cli_err(SUB, "--cols %ld is not a multiple of %s's block size (%zu)", o.cols,
				as_type_name(tt), as_type_block_elems(tt));
			return 2;
		}
	}
	if (!o.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o.threads = n < 1 ? 1 : n > 256 ? 256 : n;
	}
	tp = as_tp_create((int)o.threads);
	if (!tp) {
		cli_err(SUB, "cannot create %ld threads: %s", o.threads, strerror(errno));
		return 1;
	}
	if (!o.json)
		printf("# SIMD detected: %s, active: %s (ACTIVESWAP_SIMD); weights in anonymous "
		       "memory (MADV_HUGEPAGE)\n", as_simd_name(as_simd_detect()),
		       as_simd_name(as_simd_active()));
	bench_dispatch(&o, tp);
	enum ggml_type t = o.type < 0 ? GGML_TYPE_Q4_0 : (enum ggml_type)o.type;

	if (o.rows) {
		rc = bench_shape(&o, tp, t, o.rows, o.cols);
	} else {
		rc = bench_shape(&o, tp, t, 4096, 11008);
		if (!rc)
			rc = bench_shape(&o, tp, t, 11008, 4096);
	}
	as_tp_destroy(tp);
	return rc;
}

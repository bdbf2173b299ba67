// SPDX-License-Identifier: MIT
/*
 * The auto cost model of the swapping runtime and the two measurements it needs (flash
 * read bandwidth, sparse compute speed). See activeswap/swap.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double as_cost_read_s_per_byte(const struct as_cost_inputs *in, double s)
{
	uint32_t n = in->n_points < AS_COST_MAX_POINTS ? in->n_points : AS_COST_MAX_POINTS;
	const float *x = in->point_sparsity;
	const double *y = in->point_s_per_byte;

	if (!n)
		return in->read_s_per_byte;
	if (s <= x[0])
		return y[0];
	for (uint32_t i = 1; i < n; i++)
		if (s <= x[i])
			return x[i] > x[i - 1] ? y[i - 1] + (y[i] - y[i - 1]) * (s - x[i - 1]) /
							   (x[i] - x[i - 1]) :
						 y[i];
	return y[n - 1];
}

void as_cost_choose(const struct as_cost_inputs *in, float sparsity, uint32_t group,
		    struct as_cost_choice *out)
{
	double w = in->weight_bytes ? (double)in->weight_bytes : 1;
	double c = (double)in->cache_bytes / w, s, active, miss, layer_io, layer_c, rspb;
	double fb = in->flash_bps > 0 ? in->flash_bps : 1e9;
	double cb = in->compute_bps > 0 ? in->compute_bps : 1e10;
	uint32_t L = in->n_layers ? in->n_layers : 1;

	if (c > 1)
		c = 1;
	if (sparsity < 0) {
		s = ceil((1.0 - c) * 20.0 - 1e-9) / 20.0;
		if (s > in->max_sparsity)
			s = in->max_sparsity;
		if (!(s > 0))
			s = 0; /* and not -0: printed "-0.00" */
	} else {
		s = sparsity;
	}
	active = (1.0 - s) * w;
	miss = 1.0 - c;
	rspb = as_cost_read_s_per_byte(in, s);
	layer_io = rspb > 0 ? w / L * miss * rspb : active / L * miss / fb;
	layer_c = active / L / cb;
	if (!group) {
		/* everything cached: one layer ahead is enough (and cheap) */
		group = 1;
		for (uint32_t n = 2; n < L && miss > 0.001; n++) {
			if ((double)n * active / L * miss > 0.25 * (double)in->cache_bytes)
				break;
			if ((double)n * layer_io > (double)(n + 1) * layer_c && miss > 0)
				break;
			group = n;
		}
	}
	out->sparsity = (float)s;
	out->group = group;
	out->hit_rate = c;
	out->io_s = layer_io * L;
	out->compute_s = layer_c * L;
	out->tokens_per_s = 1.0 / (fmax(out->io_s, out->compute_s) + in->fixed_s);
}

bool as_cost_choose_latency(const struct as_cost_inputs *in, double target_s,
			    uint32_t group, struct as_cost_choice *out)
{
	double max = in->max_sparsity > 0 ? in->max_sparsity : 0;
	bool have = false;

	/* the steps of AS_COST_STEP from 0, then max itself; the lowest that meets the
	 * target, else the fastest (the lowest of equally fast ones) */
	for (int i = 0;; i++) {
		double s = i * AS_COST_STEP;
		struct as_cost_choice c;

		if (s > max - 1e-9)
			s = max;
		as_cost_choose(in, (float)s, group, &c);
		if (1.0 / c.tokens_per_s <= target_s) {
			*out = c;
			return true;
		}
		if (!have || c.tokens_per_s > out->tokens_per_s)
			*out = c;
		have = true;
		if (s >= max)
			return false;
	}
}

/* xorshift64 */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

struct replay {
	struct swap_engine *e;
	const struct swap_kind_desc *kd;
	struct as_threadpool *tp;
	struct swap_key *need, *all;
	const void **ptrs, **cols; /* cols: [SWAP_MAX_MATS][256] */
	float *x, *y;
	size_t n;
	uint32_t ch[256];  /* K-quant columns: the chunk's channels */
	void *table;       /* and a zero scale table as large as the largest */
};

/* The decode's compute on an acquired chunk: every matrix of the bundle, rows split over
 * the threads as swap_sources.c's op_task_fn splits them. */
static void replay_task(void *arg, int ith, int nth)
{
	const struct replay *rp = arg;

	for (uint32_t mi = 0; mi < rp->kd->n_mats; mi++) {
		const struct swap_mat_desc *md = &rp->kd->mats[mi];
		size_t r0, r1;

		as_sparse_rows(md->out, ith, nth, &r0, &r1);
		if (r0 < r1 && as_kq_type((enum ggml_type)md->type))
			as_kq_axpy_level(as_sparse_level(), (enum ggml_type)md->type, rp->y, r0,
					 r1, md->out, rp->kd->in, rp->table,
					 rp->cols + (size_t)mi * 256, rp->ch, rp->x, rp->n);
		else if (r0 < r1)
			as_sparse_axpy((enum ggml_type)md->type, rp->y, r0, r1, md->out,
				       rp->cols + (size_t)mi * 256, rp->x, rp->n);
	}
}

/*
 * One replayed op of the decode for a candidate gap: a random Top-K (fraction keep) over
 * the first n channels of (layer, kind), the gaps of at most gap channels between two
 * needed ones requested too (as swap_sources.c does), then the needed bundles acquired 256 at
 * a time, computed on with the sparse kernels, and released. 0 or a negative errno.
 */
static int replay_op(struct replay *rp, uint32_t layer, int kind, uint32_t n, double keep,
		     uint32_t gap, uint64_t *seed)
{
	struct swap_engine *e = rp->e;
	struct swap_key *need = rp->need, *all = rp->all;
	const void **ptrs = rp->ptrs;
	size_t nn = 0, na = 0;
	int r;

	for (uint32_t c = 0; c < n; c++)
		if ((double)(rnd(seed) >> 11) * 0x1p-53 < keep)
			need[nn++] = (struct swap_key){ layer, (uint32_t)kind, c };
	for (size_t i = 0; i < nn; i++) {
		all[na++] = need[i];
		if (i + 1 < nn && need[i + 1].channel - need[i].channel - 1 <= gap)
			for (uint32_t c = need[i].channel + 1; c < need[i + 1].channel; c++)
				all[na++] = (struct swap_key){ layer, (uint32_t)kind, c };
	}
	r = swap_request(e, all, na, SWAP_PRIO_DEMAND, 0);
	for (size_t i = 0; i < nn && !r; i += 256) {
		size_t m = nn - i < 256 ? nn - i : 256;

		r = swap_acquire(e, need + i, m, ptrs);
		if (r)
			break;
		for (size_t j = 0; j < m; j++)
			rp->ch[j] = need[i + j].channel;
		for (uint32_t mi = 0, off = 0; mi < rp->kd->n_mats; mi++) {
			for (size_t j = 0; j < m; j++)
				rp->cols[(size_t)mi * 256 + j] = (const uint8_t *)ptrs[j] + off;
			off += rp->kd->mats[mi].col_bytes;
		}
		rp->n = m;
		as_tp_run(rp->tp, replay_task, rp);
		swap_release(e, need + i, m);
	}
	return r;
}

/* The kinds the replay reads and computes on as the decode does: the column kinds. A
 * store's expert kinds hold each expert's matrices in their row encoding (libswap.h,
 * n_expert), read whole when a router picks the expert, never by Top-K with gaps, and
 * computed with the dense kernels: not columns for the sparse ones. */
static bool column_kind(const struct swap_store_desc *d, int k)
{
	return !d->n_expert || (k != SWAP_FFN_IN && k != SWAP_FFN_OUT);
}

/* The replay's engine of the smallest budget on the store at path and its buffers; on
 * error everything is released (replay_close). */
struct replay_ctx {
	struct swap_store *st;
	const struct swap_store_desc *d;
	struct replay rp;
};

static void replay_close(struct replay_ctx *c)
{
	free(c->rp.need);
	free(c->rp.all);
	free(c->rp.ptrs);
	free(c->rp.cols);
	free(c->rp.x);
	free(c->rp.y);
	free(c->rp.table);
	swap_engine_destroy(c->rp.e);
	swap_store_close(c->st);
	memset(c, 0, sizeof(*c));
}

static int replay_open(struct replay_ctx *c, const char *path, uint32_t qd,
		       enum swap_backend_kind backend, struct as_threadpool *tp)
{
	struct swap_engine_params ep;
	const struct swap_store_desc *d;
	struct replay *rp = &c->rp;
	uint64_t maxout = 0, maxin = 0, maxtab = 0;
	char err[256];
	int r;

	memset(c, 0, sizeof(*c));
	if (!qd || qd > 4096)
		return -EINVAL;
	r = swap_store_open(&c->st, path, err, sizeof(err));
	if (r)
		return r;
	d = c->d = swap_store_desc(c->st);
	if (d->group != 1 || d->n_layers < 2) {
		r = -EINVAL; /* gap filling needs adjacent channels */
		goto fail;
	}
	/* The store checks its layout, not the column types: the kernels read
	 * as_col_bytes(type, out) bytes of every column, which must be there. */
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		if (!column_kind(d, k))
			continue;
		for (uint32_t mi = 0; mi < d->kinds[k].n_mats; mi++) {
			const struct swap_mat_desc *md = &d->kinds[k].mats[mi];
			enum ggml_type ct = (enum ggml_type)md->type;
			size_t need = as_col_bytes(ct, md->out);

			if (!(as_sparse_type_ok(ct) || as_kq_type(ct)) || !need ||
			    md->col_bytes < need ||
			    (as_kq_type(ct) && !as_kq_table_bytes(ct, md->out, d->kinds[k].in))) {
				r = -EINVAL;
				goto fail;
			}
			if (as_kq_type(ct) && as_kq_table_bytes(ct, md->out, d->kinds[k].in) >
					     maxtab)
				maxtab = as_kq_table_bytes(ct, md->out, d->kinds[k].in);
		}
	}
	memset(&ep, 0, sizeof(ep));
	ep.policy = SWAP_POLICY_LRU;
	ep.backend = backend;
	ep.queue_depth = qd;
	ep.numa_node = -1;
	/* a short measurement: no need to lock its pool; its reads are none of the traced
	 * run's (activeswap trace equals the run's statistics) */
	ep.flags = SWAP_F_NO_MLOCK | SWAP_F_NO_PROBES;
	/* Experts are read whole and never gap-filled: replay_layer leaves them out, their
	 * slots stay at one each and the read buffers are sized for the other kinds (by
	 * default the minimum would hold every expert of a layer and a buffer of the
	 * largest expert per read in flight: far beyond the budget the run was given). */
	if (d->n_expert) {
		for (int k = SWAP_FFN_IN; k <= SWAP_FFN_OUT; k++)
			ep.kind_min[k] = ep.kind_use[k] = 1;
		/* low-precision copies (version 4): not replayed either */
		ep.skip_kinds = 1u << SWAP_FFN_IN_LOW | 1u << SWAP_FFN_OUT_LOW;
		for (int k = SWAP_ATTN_IN; k <= SWAP_ATTN_OUT; k++)
			if (swap_store_bundle_bytes(c->st, (enum swap_kind)k) > ep.max_buffer_bytes)
				ep.max_buffer_bytes = swap_store_bundle_bytes(c->st,
									      (enum swap_kind)k);
	}
	ep.budget_bytes = swap_engine_min_budget(c->st, &ep);
	r = swap_engine_create(&rp->e, c->st, &ep, err, sizeof(err));
	if (r)
		goto fail;
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		if (d->kinds[k].in > maxin)
			maxin = d->kinds[k].in;
		for (uint32_t mi = 0; mi < d->kinds[k].n_mats && mi < SWAP_MAX_MATS; mi++)
			if (d->kinds[k].mats[mi].out > maxout)
				maxout = d->kinds[k].mats[mi].out;
	}
	rp->tp = tp;
	rp->need = malloc(sizeof(*rp->need) * maxin);
	rp->all = malloc(sizeof(*rp->all) * maxin);
	rp->ptrs = malloc(sizeof(*rp->ptrs) * 256);
	rp->cols = malloc(sizeof(*rp->cols) * 256 * SWAP_MAX_MATS);
	rp->x = malloc(sizeof(float) * 256);
	rp->y = calloc(maxout + 128, sizeof(float));
	rp->table = maxtab ? calloc(maxtab, 1) : NULL;
	if (!rp->need || !rp->all || !rp->ptrs || !rp->cols || !rp->x || !rp->y ||
	    (maxtab && !rp->table)) {
		r = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < 256; i++)
		rp->x[i] = 1e-3f * (float)(i + 1);
	return 0;
fail:
	replay_close(c);
	return r;
}

/* One replayed layer: every column kind's first 16 MiB of channels (at least one) at keep
 * with gaps of at most gap_bytes filled (0: none). *bytes (optional) gets the channel
 * bytes covered. 0 or a negative errno. */
static int replay_layer(struct replay_ctx *c, uint32_t layer, double keep, uint64_t gap_bytes,
			uint64_t *seed, double *bytes)
{
	enum { REGION = 16u << 20 };
	int r = 0;

	for (int k = 0; k < SWAP_KIND_COUNT && !r; k++) {
		uint64_t bb = swap_store_bundle_bytes(c->st, (enum swap_kind)k);
		uint32_t n = c->d->kinds[k].in, g;

		if (!column_kind(c->d, k))
			continue;
		if (n > REGION / bb)
			n = (uint32_t)(REGION / bb) + 1;
		g = gap_bytes ? (uint32_t)((gap_bytes + bb - 1) / bb) - 1 : 0;
		c->rp.kd = &c->d->kinds[k];
		r = replay_op(&c->rp, layer, k, n, keep, g, seed);
		if (bytes)
			*bytes += (double)n * (double)bb;
	}
	return r;
}

/*
 * Rounds over n candidates in turn (a new layer each time, so nothing is resident; the
 * order rotates so that no candidate always follows another), at least two, at most 16,
 * until the time is used: t[c] the time of candidate c in all, *bytes the channel bytes
 * one candidate covered in all (the same for every candidate).
 */
static int replay_rounds(struct replay_ctx *c, int n, const double *keep,
			 const uint64_t *gap, double seconds, double *t, double *bytes)
{
	uint64_t seed = 0x243f6a8885a308d3ull;
	double t_end = now_s() + seconds;
	uint32_t next_layer = (uint32_t)(rnd(&seed) % c->d->n_layers);
	int r = 0;

	*bytes = 0;
	for (int i = 0; i < n; i++)
		t[i] = 0;
	for (int round = 0; round < 16 && !r; round++) {
		for (int cc = 0; cc < n && !r; cc++) {
			int ci = (cc + round) % n;
			double t0 = now_s();

			r = replay_layer(c, next_layer, keep[ci], gap[ci], &seed,
					 cc ? NULL : bytes);
			next_layer = (next_layer + 1) % c->d->n_layers;
			t[ci] += now_s() - t0;
		}
		if (round >= 1 && now_s() > t_end)
			break;
	}
	return r;
}

int as_choose_gap_bytes(const char *path, double keep, uint32_t qd,
			enum swap_backend_kind backend, struct as_threadpool *tp, double seconds,
			uint64_t *gap, struct as_gap_replay *out)
{
	static const uint64_t cand[AS_GAP_CANDIDATES] = { 0, 8192, 16384, 32768, 65536,
							  131072 };
	double keeps[AS_GAP_CANDIDATES], t[AS_GAP_CANDIDATES], bytes;
	struct replay_ctx c;
	int r, best = -1;

	if (!(keep > 0 && keep <= 1) || !(seconds > 0))
		return -EINVAL;
	r = replay_open(&c, path, qd, backend, tp);
	if (r)
		return r;
	for (int i = 0; i < AS_GAP_CANDIDATES; i++)
		keeps[i] = keep;
	r = replay_rounds(&c, AS_GAP_CANDIDATES, keeps, cand, seconds, t, &bytes);
	replay_close(&c);
	if (r)
		return r;
	for (int i = 0; i < AS_GAP_CANDIDATES; i++)
		if (best < 0 || t[i] < t[best])
			best = i;
	*gap = cand[best];
	if (out) {
		memcpy(out->t, t, sizeof(t));
		out->bytes = bytes;
	}
	return 0;
}

int as_replay_read_cost(const char *path, const float *sparsity, uint32_t n,
			uint64_t gap_bytes, uint32_t qd, enum swap_backend_kind backend,
			struct as_threadpool *tp, double seconds, double *s_per_byte)
{
	double keep[AS_COST_MAX_POINTS], t[AS_COST_MAX_POINTS], bytes;
	uint64_t gap[AS_COST_MAX_POINTS];
	struct replay_ctx c;
	int r;

	if (!n || n > AS_COST_MAX_POINTS || !(seconds > 0))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (!(sparsity[i] >= 0 && sparsity[i] < 1))
			return -EINVAL;
		keep[i] = 1.0 - (double)sparsity[i];
		gap[i] = gap_bytes;
	}
	r = replay_open(&c, path, qd, backend, tp);
	if (r)
		return r;
	r = replay_rounds(&c, (int)n, keep, gap, seconds, t, &bytes);
	replay_close(&c);
	if (r)
		return r;
	for (uint32_t i = 0; i < n; i++)
		s_per_byte[i] = bytes > 0 ? t[i] / bytes : 0;
	return 0;
}

struct flash_arg {
	const char *path;
	uint64_t bs, size;
	double until;
	uint64_t bytes;
	unsigned seed;
};

static void *flash_thread(void *p)
{
	struct flash_arg *a = p;
	int fd = open(a->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	void *buf = NULL;
	uint64_t blocks = a->size / a->bs;

	if (fd < 0 || posix_memalign(&buf, 4096, a->bs) || !blocks)
		goto out;
	/* at least one read, even when the thread starts after the deadline (a short probe
	 * on a loaded machine or under emulation): a rate of 0 would mean "no flash" */
	do {
		uint64_t off = (uint64_t)(rand_r(&a->seed) % blocks) * a->bs;
		ssize_t r = pread(fd, buf, a->bs, (off_t)off);

		if (r <= 0)
			break;
		a->bytes += (uint64_t)r;
	} while (now_s() < a->until);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return NULL;
}

double as_measure_flash_bps(const char *path, uint64_t bs, double seconds)
{
	struct flash_arg a[4];
	pthread_t th[4];
	struct stat st;
	double t0 = now_s(), dt;
	uint64_t tot = 0;
	int started = 0;

	if (stat(path, &st) || !bs || bs % 4096)
		return 0;
	for (; started < 4; started++) {
		a[started] = (struct flash_arg){ path, bs, (uint64_t)st.st_size, t0 + seconds, 0,
						 (unsigned)(started * 7919 + 1) };
		if (pthread_create(&th[started], NULL, flash_thread, &a[started]))
			break;
	}
	/* the threads started use a[]: wait for them even when one failed to start */
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		tot += a[i].bytes;
	}
	if (started < 4)
		return 0;
	dt = now_s() - t0;
	return dt > 0 ? (double)tot / dt : 0;
}

struct comp_arg {
	const void **cols;
	float *x, *y;
	size_t out, n;
};

static void comp_task(void *p, int ith, int nth)
{
	const struct comp_arg *a = p;

	as_sparse_axpy_share(as_sparse_level(), GGML_TYPE_Q4_0, a->y, a->out, a->cols, a->x,
			     a->n, ith, nth);
}

double as_measure_compute_bps(struct as_threadpool *tp, double seconds)
{
	const size_t out = 4096, n = 1024, cb = as_col_bytes(GGML_TYPE_Q4_0, out);
	uint8_t *data = calloc(n, cb);
	const void **cols = calloc(n, sizeof(void *));
	float *x = calloc(n, sizeof(float)), *y = calloc(out, sizeof(float));
	struct comp_arg a = { cols, x, y, out, n };
	double t0, dt;
	uint64_t it = 0;

	if (!data || !cols || !x || !y) {
		free(data);
		free(cols);
		free(x);
		free(y);
		return 0;
	}
	for (size_t i = 0; i < n * cb; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < n; i++) {
		cols[i] = data + i * cb;
		x[i] = 0.001f * (float)i;
		/* keep the fp16 scales (the column's first out / 32 halves) finite */
		memset(data + i * cb, 0x10, out / 32 * 2);
	}
	t0 = now_s();
	do {
		as_tp_run(tp, comp_task, &a);
		it++;
		dt = now_s() - t0;
	} while (dt < seconds);
	free(data);
	free(cols);
	free(x);
	free(y);
	return dt > 0 ? (double)it * (double)(n * cb) / dt : 0;
}

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

double as_cost_column_read_share(double keep, double stride)
{
	if (!(keep > 0) || keep >= 1 || !(stride > 0))
		return 1;
	/* a page is read when one of the 1 + 4096 / stride columns it touches is selected */
	return 1 - pow(1 - keep, 1 + 4096.0 / stride);
}

double as_cost_expert_read_share(double keep, double stride, bool verify)
{
	double share = as_cost_column_read_share(keep, stride);

	return verify || share > AS_COST_PART_MAX ? 1 : share;
}

void as_cost_kind_prio(int n, const double *saved, uint8_t *prio)
{
	for (int k = 0; k < n; k++) {
		int rank = 0;

		for (int j = 0; j < n; j++)
			rank += saved[j] > saved[k] + 0.005;
		prio[k] = (uint8_t)(n - rank);
	}
}

void as_cost_experts(const struct as_cost_expert_inputs *in, enum as_expert_precision x,
		     uint32_t high, struct as_cost_expert_est *out)
{
	double fb = in->flash_bps > 0 ? in->flash_bps : 1e9;
	double cb = in->compute_bps > 0 ? in->compute_bps : 1e10;
	double hi_rd = 0, lo_rd = 0, hi_b = 0, p_hi, n_hi, n_lo;
	double fin = in->in_read > 0 ? in->in_read : 1, fout = in->out_read > 0 ? in->out_read : 1;
	uint32_t k = in->k;

	for (int c = 0; c < 2; c++) {
		double *rd = c ? &lo_rd : &hi_rd;

		*rd = (1 - clamp01(in->in_share[c])) * in->in_bytes[c] * (c ? 1 : fin) +
		      (1 - clamp01(in->out_share[c])) * in->out_bytes[c] * (c ? 1 : fout);
	}
	hi_b = (in->in_bytes[0] + in->out_bytes[0]) *
	       (in->compute_share > 0 ? in->compute_share : 1);
	memset(out, 0, sizeof(*out));
	if (x == AS_XPREC_LOW_WEIGHT) {
		n_hi = high < k ? high : k;
		n_lo = k - n_hi;
		out->bytes = n_hi * hi_rd + n_lo * lo_rd;
	} else if (x == AS_XPREC_MISS) {
		/* high only when both high bundles are in: the smaller share */
		p_hi = fmin(clamp01(in->in_share[0]), clamp01(in->out_share[0]));
		n_hi = k * p_hi;
		n_lo = k - n_hi;
		out->bytes = n_lo * lo_rd;
	} else {
		n_hi = k;
		n_lo = 0;
		out->bytes = k * hi_rd;
	}
	out->bytes *= in->n_layers;
	out->low_share = k ? n_lo / k : 0;
	out->acc = out->low_share * (x == AS_XPREC_MISS ? AS_COST_MISS_ACC : 1.0);
	out->io_s = in->attn_io_s + out->bytes / fb;
	/* the kernels' time follows the weights, not their encoding: a low copy is read
	 * faster, not computed faster (q4_0 unpacks its nibbles) */
	out->compute_s = (in->attn_compute_bytes + in->n_layers * k * hi_b) / cb;
	out->s = fmax(out->io_s, out->compute_s);
}

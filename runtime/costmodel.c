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

void as_cost_choose(const struct as_cost_inputs *in, float sparsity, uint32_t group,
		    struct as_cost_choice *out)
{
	double w = in->weight_bytes ? (double)in->weight_bytes : 1;
	double c = (double)in->cache_bytes / w, s, active, miss, layer_io, layer_c;
	double fb = in->flash_bps > 0 ? in->flash_bps : 1e9;
	double cb = in->compute_bps > 0 ? in->compute_bps : 1e10;
	uint32_t L = in->n_layers ? in->n_layers : 1;

	if (c > 1)
		c = 1;
	if (sparsity < 0) {
		s = ceil((1.0 - c) * 20.0 - 1e-9) / 20.0;
		if (s > in->max_sparsity)
			s = in->max_sparsity;
		if (s < 0)
			s = 0;
	} else {
		s = sparsity;
	}
	active = (1.0 - s) * w;
	miss = 1.0 - c;
	layer_io = active / L * miss / fb;
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
	out->tokens_per_s = 1.0 / fmax(out->io_s, out->compute_s);
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
	while (now_s() < a->until) {
		uint64_t off = (uint64_t)(rand_r(&a->seed) % blocks) * a->bs;
		ssize_t r = pread(fd, buf, a->bs, (off_t)off);

		if (r <= 0)
			break;
		a->bytes += (uint64_t)r;
	}
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

	if (stat(path, &st) || !bs || bs % 4096)
		return 0;
	for (int i = 0; i < 4; i++) {
		a[i] = (struct flash_arg){ path, bs, (uint64_t)st.st_size, t0 + seconds, 0,
					   (unsigned)(i * 7919 + 1) };
		if (pthread_create(&th[i], NULL, flash_thread, &a[i]))
			return 0;
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		tot += a[i].bytes;
	}
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
	size_t units = a->out / 128, u0 = units * ith / nth, u1 = units * (ith + 1) / nth;

	if (u0 < u1)
		as_sparse_axpy(GGML_TYPE_Q4_0, a->y, u0 * 128, u1 * 128, a->out, a->cols, a->x,
			       a->n);
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

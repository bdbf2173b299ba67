// SPDX-License-Identifier: MIT
/*
 * Fallback backend: a few worker threads doing pread() with O_DIRECT. Also the fault
 * injecting test backend (SWAP_BACKEND_FAULT): the same workers, but chosen reads fail
 * with EIO, come back short or come back with a flipped byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swap_int.h"

struct swap_backend {
	struct swap_backend_cfg cfg;
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct swap_extent *q; /* ring of capacity cap */
	unsigned cap, head, count;
	bool stopping;
	uint64_t nr_submitted; /* read numbering for the fault plan */
	uint64_t *seq;         /* sequence number of queued entries */
	unsigned n_threads;
	pthread_t *threads;
};

static int64_t do_read(struct swap_backend *b, const struct swap_extent *x, uint64_t seq)
{
	uint8_t *dst = (uint8_t *)b->cfg.region + x->region_off;
	const struct swap_fault_plan *f = &b->cfg.fault;
	bool fault = b->cfg.fault_on && ((f->nth && seq == f->nth) ||
					 (f->every && seq % f->every == 0));
	uint64_t len = x->len;
	int64_t done;

	if (fault && f->mode == SWAP_FAULT_EIO)
		return -EIO;
	if (fault && f->mode == SWAP_FAULT_SHORT)
		len = swap_align_down(len / 2);
	done = swap_pread(b->fd, dst, len, x->file_off);
	if (fault && f->mode == SWAP_FAULT_CORRUPT && done > 0)
		dst[done / 2] ^= 0x5a;
	return done;
}

static void *worker(void *arg)
{
	struct swap_backend *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		struct swap_extent x;
		uint64_t seq;
		int64_t res;

		while (!b->count && !b->stopping)
			pthread_cond_wait(&b->cond, &b->lock);
		if (!b->count)
			break;
		x = b->q[b->head];
		seq = b->seq[b->head];
		b->head = (b->head + 1) % b->cap;
		b->count--;
		pthread_mutex_unlock(&b->lock);
		res = do_read(b, &x, seq);
		b->cfg.complete(b->cfg.ctx, x.cookie, res);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static void pread_stop(struct swap_backend *b)
{
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; i < b->n_threads; i++)
		pthread_join(b->threads[i], NULL);
	if (b->fd >= 0)
		close(b->fd);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	free(b->threads);
	free(b->q);
	free(b->seq);
	free(b);
}

static int pread_start(struct swap_backend **out, const struct swap_backend_cfg *cfg,
		       char *err, size_t errlen)
{
	struct swap_backend *b = calloc(1, sizeof(*b));
	unsigned nt;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->cap = cfg->queue_depth ? cfg->queue_depth : 1;
	nt = cfg->threads ? cfg->threads : (b->cap < 16 ? b->cap : 16);
	b->q = calloc(b->cap, sizeof(*b->q));
	b->seq = calloc(b->cap, sizeof(*b->seq));
	b->threads = calloc(nt, sizeof(*b->threads));
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->fd = open(cfg->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (b->fd < 0 && errno == EINVAL) /* file system without O_DIRECT (tmpfs) */
		b->fd = open(cfg->path, O_RDONLY | O_CLOEXEC);
	if (b->fd < 0 || !b->q || !b->seq || !b->threads) {
		int e = b->fd < 0 ? errno : ENOMEM;

		swap_seterr(err, errlen, "pread backend: %s: %s", cfg->path, strerror(e));
		pread_stop(b);
		return -e;
	}
	for (unsigned i = 0; i < nt; i++) {
		if (pthread_create(&b->threads[i], NULL, worker, b)) {
			swap_seterr(err, errlen, "pread backend: cannot start threads");
			pread_stop(b);
			return -EAGAIN;
		}
		b->n_threads++;
	}
	*out = b;
	return 0;
}

static int pread_submit(struct swap_backend *b, const struct swap_extent *x, unsigned n)
{
	pthread_mutex_lock(&b->lock);
	if (b->count + n > b->cap) {
		pthread_mutex_unlock(&b->lock);
		return -EAGAIN;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned t = (b->head + b->count) % b->cap;

		b->q[t] = x[i];
		b->seq[t] = ++b->nr_submitted;
		b->count++;
	}
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

const struct swap_backend_ops swap_backend_pread_ops = {
	.name = "pread",
	.start = pread_start,
	.submit = pread_submit,
	.stop = pread_stop,
};

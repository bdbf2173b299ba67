// SPDX-License-Identifier: MIT
/*
 * Default backend: io_uring with O_DIRECT, the store file registered (IOSQE_FIXED_FILE)
 * and the staging region registered as a fixed buffer (IORING_OP_READ_FIXED). Submission
 * happens on the caller's thread under a lock; one completion thread reaps the CQ.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swap_int.h"

#define STOP_COOKIE UINT64_MAX

struct swap_backend {
	struct swap_backend_cfg cfg;
	struct io_uring ring;
	bool ring_ok;
	int fd;
	pthread_mutex_t lock;
	pthread_t thread;
	bool thread_ok;
};

const char *swap_uring_unavailable(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	int v = 0;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	if (v == 2)
		return "io_uring is disabled (kernel.io_uring_disabled = 2)";
	if (getenv("ACTIVESWAP_NO_URING"))
		return "io_uring disabled by ACTIVESWAP_NO_URING";
	return NULL;
}

/* Reap completions in batches: one wakeup handles every CQE that is ready. */
static void *reaper(void *arg)
{
	struct swap_backend *b = arg;
	uint64_t cookie[64];
	int64_t res[64];

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		bool stop = false;
		int r = io_uring_wait_cqe(&b->ring, &cqe);

		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0) {
			fprintf(stderr, "libswap: io_uring_wait_cqe: %s\n", strerror(-r));
			break;
		}
		io_uring_for_each_cqe(&b->ring, head, cqe) {
			if (n == 64)
				break;
			cookie[n] = cqe->user_data;
			res[n] = cqe->res;
			n++;
		}
		io_uring_cq_advance(&b->ring, n);
		for (unsigned i = 0; i < n; i++) {
			if (cookie[i] == STOP_COOKIE)
				stop = true;
			else
				b->cfg.complete(b->cfg.ctx, cookie[i], res[i]);
		}
		if (stop)
			break;
	}
	return NULL;
}

static void uring_stop(struct swap_backend *b)
{
	if (b->thread_ok) {
		struct io_uring_sqe *sqe;

		pthread_mutex_lock(&b->lock);
		sqe = io_uring_get_sqe(&b->ring);
		if (sqe) {
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data64(sqe, STOP_COOKIE);
			io_uring_submit(&b->ring);
		}
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->thread, NULL);
	}
	if (b->ring_ok)
		io_uring_queue_exit(&b->ring);
	if (b->fd >= 0)
		close(b->fd);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static int uring_start(struct swap_backend **out, const struct swap_backend_cfg *cfg,
		       char *err, size_t errlen)
{
	struct swap_backend *b;
	const char *why = swap_uring_unavailable();
	struct iovec iov;
	unsigned depth = cfg->queue_depth ? cfg->queue_depth : 32;
	int r;

	*out = NULL;
	if (why) {
		swap_seterr(err, errlen, "%s", why);
		return -EPERM;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	pthread_mutex_init(&b->lock, NULL);
	b->fd = open(cfg->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (b->fd < 0 && errno == EINVAL)
		b->fd = open(cfg->path, O_RDONLY | O_CLOEXEC);
	if (b->fd < 0) {
		r = -errno;
		swap_seterr(err, errlen, "io_uring backend: %s: %s", cfg->path, strerror(-r));
		goto fail;
	}
	/* +1 for the stop NOP. */
	r = io_uring_queue_init(depth + 1, &b->ring, 0);
	if (r < 0) {
		swap_seterr(err, errlen, "io_uring_queue_init: %s", strerror(-r));
		goto fail;
	}
	b->ring_ok = true;
	r = io_uring_register_files(&b->ring, &b->fd, 1);
	if (r < 0) {
		swap_seterr(err, errlen, "io_uring_register_files: %s", strerror(-r));
		goto fail;
	}
	iov.iov_base = cfg->region;
	iov.iov_len = cfg->region_len;
	r = io_uring_register_buffers(&b->ring, &iov, 1);
	if (r < 0) {
		swap_seterr(err, errlen, "io_uring_register_buffers (%llu bytes): %s",
			    (unsigned long long)cfg->region_len, strerror(-r));
		goto fail;
	}
	if (pthread_create(&b->thread, NULL, reaper, b)) {
		r = -EAGAIN;
		swap_seterr(err, errlen, "io_uring backend: cannot start its thread");
		goto fail;
	}
	b->thread_ok = true;
	*out = b;
	return 0;
fail:
	uring_stop(b);
	return r;
}

static int uring_submit(struct swap_backend *b, const struct swap_extent *x, unsigned n)
{
	int r;

	pthread_mutex_lock(&b->lock);
	if (io_uring_sq_space_left(&b->ring) < n) {
		pthread_mutex_unlock(&b->lock);
		return -EAGAIN;
	}
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

		io_uring_prep_read_fixed(sqe, 0, (uint8_t *)b->cfg.region + x[i].region_off,
					 (unsigned)x[i].len, x[i].file_off, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data64(sqe, x[i].cookie);
	}
	/* Once prepared, SQEs cannot be taken back: keep submitting until the kernel has
	 * them all (transient errors), so a read is never both failed and in flight. */
	for (int fails = 0;;) {
		r = io_uring_submit(&b->ring);
		if (r >= 0 && io_uring_sq_ready(&b->ring) == 0)
			break;
		/* only hard errors count towards giving up, not a long run of transient ones */
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			if (!fails)
				fprintf(stderr, "libswap: io_uring_submit: %s\n", strerror(-r));
			if (++fails > 1000)
				abort(); /* the ring is unusable; reads would be lost */
		}
		if (r <= 0)
			sched_yield();
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

const struct swap_backend_ops swap_backend_uring_ops = {
	.name = "io_uring",
	.start = uring_start,
	.submit = uring_submit,
	.stop = uring_stop,
};

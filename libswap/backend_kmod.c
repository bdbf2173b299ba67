// SPDX-License-Identifier: MIT
/*
 * Kernel module backend: /dev/activeswap (Documentation/kernel-module.md).
 *
 * The engine's whole DRAM pool is the module's region: swap_kmod_pool_create() opens the
 * device, creates a region of the budget's size (pinned, zeroed, charged to the memory
 * cgroup and RLIMIT_MEMLOCK by the module) and maps it, so the module's direct reads land
 * straight in the engine's staging buffers. The backend attaches the store, submits
 * extents in batches with ACTIVESWAP_IOC_SUBMIT and reaps completion records with poll()
 * and read() on one completion thread. An engine read longer than the module's
 * max_extent_len is split into several extents; its completion is reported once, when
 * the last part is back (the first error wins, else the sum of the bytes read). When the
 * completion channel fails (poll or read error, POLLERR/POLLHUP/POLLNVAL on the device),
 * every read in flight completes with the error, said once on stderr, and every later
 * submit returns it.
 *
 * Each kernel extent's tag is the index of its entry in the backend's operation table,
 * which has one entry per engine read in flight (queue_depth), so the module never holds
 * more than queue_depth * parts-per-read requests.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/activeswap.h>

#include "swap_int.h"

#define KMOD_BATCH 64 /* completion records per read() */

struct kop {
	uint64_t cookie;
	uint32_t parts;  /* kernel extents still out */
	bool used;
	int64_t done;    /* bytes read by finished parts */
	int64_t err;     /* first error */
};

struct swap_backend {
	struct swap_backend_cfg cfg;
	int dev, store, evfd;
	uint64_t base_off;    /* offset of cfg.region in the device region */
	uint32_t max_ext_len; /* bytes per kernel extent */
	uint32_t max_extents; /* extents per SUBMIT */
	pthread_mutex_t lock;
	struct kop *ops;
	uint32_t n_ops;
	uint32_t *free, n_free;
	struct activeswap_extent *xbuf; /* submit scratch, max_extents entries */
	pthread_t thread;
	bool thread_ok;
	int failed; /* -errno once the completion channel broke: submits return it */
};

/* Path of the device; ACTIVESWAP_DEVICE unless overridden for tests. */
static const char *kmod_dev_path(void)
{
	const char *p = getenv("ACTIVESWAP_KMOD_DEVICE");

	return p && *p ? p : ACTIVESWAP_DEVICE;
}

static int kmod_open(struct activeswap_version *v, char *err, size_t errlen)
{
	const char *path = kmod_dev_path();
	int fd, e;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT || e == ENXIO || e == ENODEV)
			swap_seterr(err, errlen, "kmod backend: %s is absent (load the module "
				    "with 'insmod activeswap.ko', see "
				    "Documentation/kernel-module.md)", path);
		else
			swap_seterr(err, errlen, "kmod backend: cannot open %s: %s", path,
				    strerror(e));
		return e == ENOENT || e == ENXIO ? -ENODEV : -e;
	}
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	if (ioctl(fd, ACTIVESWAP_IOC_VERSION, v) < 0) {
		e = errno;
		swap_seterr(err, errlen, "kmod backend: %s is not the activeswap device "
			    "(ACTIVESWAP_IOC_VERSION: %s)", path, strerror(e));
		close(fd);
		return e == ENOTTY || e == EINVAL ? -ENODEV : -e;
	}
	if (v->abi_version != ACTIVESWAP_ABI_VERSION ||
	    !(v->features & ACTIVESWAP_FEAT_DIRECT)) {
		swap_seterr(err, errlen, "kmod backend: %s speaks ABI %u (features 0x%llx), "
			    "libswap needs ABI %u with direct reads", path, v->abi_version,
			    (unsigned long long)v->features, ACTIVESWAP_ABI_VERSION);
		close(fd);
		return -EPROTO;
	}
	return fd;
}

const char *swap_kmod_unavailable(void)
{
	static __thread char why[256];
	struct activeswap_version v;
	int fd;

	if (getenv("ACTIVESWAP_NO_KMOD"))
		return "kmod backend disabled by ACTIVESWAP_NO_KMOD";
	fd = kmod_open(&v, why, sizeof(why));
	if (fd < 0)
		return why;
	close(fd);
	return NULL;
}

static int region_try(int fd, uint64_t size, int node, uint32_t flags, uint64_t *mmap_off)
{
	struct activeswap_region_create rc;

	memset(&rc, 0, sizeof(rc));
	rc.size = sizeof(rc);
	rc.flags = flags;
	rc.length = size;
	rc.node = node;
	if (ioctl(fd, ACTIVESWAP_IOC_CREATE_REGION, &rc) < 0)
		return -errno;
	*mmap_off = rc.mmap_offset;
	return 0;
}

int swap_kmod_pool_create(struct swap_pool *p, uint64_t size, int numa_node, uint32_t flags,
			  char *err, size_t errlen)
{
	struct activeswap_version v;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), huge = 2ull << 20, moff = 0;
	int fd, r = -EINVAL;
	void *m;

	memset(p, 0, sizeof(*p));
	p->dev_fd = -1;
	size &= ~(page - 1);
	if (!size) {
		swap_seterr(err, errlen, "DRAM budget smaller than one page");
		return -EINVAL;
	}
	fd = kmod_open(&v, err, errlen);
	if (fd < 0)
		return fd;
	if (size > (uint64_t)v.max_region_mb << 20) {
		swap_seterr(err, errlen, "kmod backend: a %llu-byte pool exceeds the module's "
			    "max_region_mb=%u", (unsigned long long)size, v.max_region_mb);
		close(fd);
		return -E2BIG;
	}
	/* 2 MiB pages when the size allows it, else (or when none are free) small pages. */
	if (!(flags & SWAP_F_NO_HUGEPAGE) && (v.features & ACTIVESWAP_FEAT_HUGE) &&
	    !(size % huge))
		r = region_try(fd, size, numa_node < 0 ? ACTIVESWAP_NODE_ANY : numa_node,
			       ACTIVESWAP_REGION_HUGE, &moff);
	if (r)
		r = region_try(fd, size, numa_node < 0 ? ACTIVESWAP_NODE_ANY : numa_node, 0,
			       &moff);
	if (r) {
		struct rlimit rl = { 0, 0 };
		char lim[32];

		getrlimit(RLIMIT_MEMLOCK, &rl);
		if (rl.rlim_cur == RLIM_INFINITY)
			snprintf(lim, sizeof(lim), "unlimited");
		else
			snprintf(lim, sizeof(lim), "%llu bytes", (unsigned long long)rl.rlim_cur);
		if (r == -ENOMEM)
			swap_seterr(err, errlen, "kmod backend: cannot create a %llu-byte region: "
				    "%s (pinned memory counts against RLIMIT_MEMLOCK = %s and "
				    "the memory cgroup; raise 'ulimit -l', grant CAP_IPC_LOCK or "
				    "lower the budget)", (unsigned long long)size, strerror(-r), lim);
		else if (r == -EINVAL && numa_node >= 0)
			swap_seterr(err, errlen, "kmod backend: NUMA node %d is not available",
				    numa_node);
		else
			swap_seterr(err, errlen, "kmod backend: cannot create a %llu-byte region: "
				    "%s", (unsigned long long)size, strerror(-r));
		close(fd);
		return r;
	}
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)moff);
	if (m == MAP_FAILED) {
		r = -errno;
		swap_seterr(err, errlen, "kmod backend: mmap of the %llu-byte region: %s",
			    (unsigned long long)size, strerror(-r));
		close(fd);
		return r;
	}
	p->base = m;
	p->size = size;
	p->locked = true; /* the module's pages are never swapped out */
	p->kmod = true;
	p->dev_fd = fd;
	return 0;
}

/*
 * The completion channel broke: no record will come back. Mark the backend failed, so
 * that later submits return err instead of queueing reads nobody reaps, and complete every
 * read in flight with its first error, else err, so that nobody waits for it forever.
 */
static void kmod_fail(struct swap_backend *b, const char *what, int err)
{
	uint32_t n = 0;

	pthread_mutex_lock(&b->lock);
	b->failed = err;
	for (uint32_t i = 0; i < b->n_ops; i++)
		n += b->ops[i].used;
	pthread_mutex_unlock(&b->lock);
	fprintf(stderr, "libswap: kmod: %s: %s; failing the %u read%s in flight and every "
		"later one\n", what, strerror(-err), n, n == 1 ? "" : "s");
	/* No op becomes used any more (submit checks failed under the lock). */
	for (uint32_t i = 0; i < b->n_ops; i++) {
		struct kop *o = &b->ops[i];
		uint64_t cookie;
		int64_t res;

		pthread_mutex_lock(&b->lock);
		if (!o->used) {
			pthread_mutex_unlock(&b->lock);
			continue;
		}
		cookie = o->cookie;
		res = o->err ? o->err : err;
		o->used = false;
		b->free[b->n_free++] = i;
		pthread_mutex_unlock(&b->lock);
		b->cfg.complete(b->cfg.ctx, cookie, res);
	}
}

static void *reaper(void *arg)
{
	struct swap_backend *b = arg;
	struct activeswap_completion rec[KMOD_BATCH];
	const char *what = NULL;
	int err = 0;

	for (;;) {
		struct pollfd pf[2] = { { b->dev, POLLIN, 0 }, { b->evfd, POLLIN, 0 } };
		ssize_t n;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			what = "poll";
			break;
		}
		/* A hung-up fd polls ready at once without POLLIN: the loop would spin. */
		if (pf[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			err = pf[0].revents & POLLNVAL ? -EBADF : -EIO;
			what = pf[0].revents & POLLNVAL ? "invalid device fd" :
			       pf[0].revents & POLLERR ? "device error" : "device hung up";
			break;
		}
		if (!(pf[0].revents & POLLIN)) {
			if (pf[1].revents & POLLIN)
				break; /* stop: every read has completed */
			continue;
		}
		n = read(b->dev, rec, sizeof(rec));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			what = "read";
			break;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(rec[0]); i++) {
			struct kop *o;
			uint64_t cookie;
			int64_t res;

			if (rec[i].tag >= b->n_ops) {
				fprintf(stderr, "libswap: kmod: completion with unknown tag %llu\n",
					(unsigned long long)rec[i].tag);
				continue;
			}
			pthread_mutex_lock(&b->lock);
			o = &b->ops[rec[i].tag];
			if (!o->used || !o->parts) {
				pthread_mutex_unlock(&b->lock);
				fprintf(stderr, "libswap: kmod: stray completion (tag %llu)\n",
					(unsigned long long)rec[i].tag);
				continue;
			}
			if (rec[i].result < 0) {
				if (!o->err)
					o->err = rec[i].result;
			} else {
				o->done += rec[i].result;
			}
			if (--o->parts) {
				pthread_mutex_unlock(&b->lock);
				continue;
			}
			cookie = o->cookie;
			res = o->err ? o->err : o->done;
			o->used = false;
			b->free[b->n_free++] = (uint32_t)rec[i].tag;
			pthread_mutex_unlock(&b->lock);
			b->cfg.complete(b->cfg.ctx, cookie, res);
		}
	}
	if (err)
		kmod_fail(b, what, err);
	return NULL;
}

/* Stop the completion thread through the eventfd and wait for it. */
static void kmod_join(struct swap_backend *b)
{
	uint64_t one = 1;

	if (!b->thread_ok)
		return;
	if (write(b->evfd, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, "libswap: kmod: cannot wake the completion thread\n");
	pthread_join(b->thread, NULL);
	b->thread_ok = false;
}

static void kmod_stop(struct swap_backend *b)
{
	if (b->thread_ok) {
		struct activeswap_cancel c;

		/* Nothing should be queued (the engine waited for its reads); be safe. */
		memset(&c, 0, sizeof(c));
		c.size = sizeof(c);
		c.flags = ACTIVESWAP_CANCEL_ALL;
		(void)ioctl(b->dev, ACTIVESWAP_IOC_CANCEL, &c);
		kmod_join(b);
	}
	if (b->evfd >= 0)
		close(b->evfd);
	if (b->store >= 0)
		close(b->store);
	/* The device fd belongs to the pool (closed after the region is unmapped). */
	pthread_mutex_destroy(&b->lock);
	free(b->ops);
	free(b->free);
	free(b->xbuf);
	free(b);
}

static int kmod_start(struct swap_backend **out, const struct swap_backend_cfg *cfg,
		      char *err, size_t errlen)
{
	struct swap_backend *b;
	struct activeswap_version v;
	struct activeswap_store_attach st;
	struct activeswap_stats ss;
	uint32_t qd = cfg->queue_depth ? cfg->queue_depth : 32;
	uint64_t per_read, parts;
	int r;

	*out = NULL;
	if (cfg->dev_fd < 0 || !cfg->dev_base) {
		swap_seterr(err, errlen, "kmod backend: the pool is not a device region");
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->dev = cfg->dev_fd;
	b->store = -1;
	b->evfd = -1;
	pthread_mutex_init(&b->lock, NULL);
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	memset(&ss, 0, sizeof(ss));
	ss.size = sizeof(ss);
	if (ioctl(b->dev, ACTIVESWAP_IOC_VERSION, &v) < 0 ||
	    ioctl(b->dev, ACTIVESWAP_IOC_STATS, &ss) < 0) {
		r = -errno;
		swap_seterr(err, errlen, "kmod backend: device query: %s", strerror(-r));
		goto fail;
	}
	if ((uint8_t *)cfg->region < (uint8_t *)cfg->dev_base ||
	    (uint64_t)((uint8_t *)cfg->region - (uint8_t *)cfg->dev_base) > ss.region_bytes ||
	    cfg->region_len > ss.region_bytes -
			      (uint64_t)((uint8_t *)cfg->region - (uint8_t *)cfg->dev_base)) {
		swap_seterr(err, errlen, "kmod backend: staging buffers outside the region");
		r = -EINVAL;
		goto fail;
	}
	b->base_off = (uint64_t)((uint8_t *)cfg->region - (uint8_t *)cfg->dev_base);
	b->max_ext_len = v.max_extent_len & ~(SWAP_ALIGN - 1);
	b->max_extents = v.max_extents;
	per_read = cfg->region_len / qd;
	parts = b->max_ext_len ? (per_read + b->max_ext_len - 1) / b->max_ext_len : 0;
	if (!b->max_ext_len || !b->max_extents || !parts || parts > b->max_extents ||
	    qd * parts > v.max_queued || qd > 1024) {
		swap_seterr(err, errlen, "kmod backend: the module's limits (max_extent_kb, "
			    "max_extents, max_queued) cannot carry %u reads of %llu bytes",
			    qd, (unsigned long long)per_read);
		r = -EINVAL;
		goto fail;
	}
	b->store = open(cfg->path, O_RDONLY | O_CLOEXEC);
	if (b->store < 0) {
		r = -errno;
		swap_seterr(err, errlen, "kmod backend: %s: %s", cfg->path, strerror(-r));
		goto fail;
	}
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.fd = b->store;
	st.queue_depth = qd;
	r = ioctl(b->dev, ACTIVESWAP_IOC_ATTACH_STORE, &st) < 0 ? -errno : 0;
	if (r == -EOPNOTSUPP) {
		/* No direct I/O on this filesystem (tmpfs): buffered reads, as the pread
		 * backend falls back to. */
		st.flags = ACTIVESWAP_STORE_ALLOW_BUFFERED;
		r = ioctl(b->dev, ACTIVESWAP_IOC_ATTACH_STORE, &st) < 0 ? -errno : 0;
	}
	if (r) {
		swap_seterr(err, errlen, "kmod backend: attaching %s: %s", cfg->path,
			    strerror(-r));
		goto fail;
	}
	if (!st.align || st.align > SWAP_ALIGN || SWAP_ALIGN % st.align) {
		swap_seterr(err, errlen, "kmod backend: %s needs %u-byte alignment (libswap "
			    "reads are %u-byte aligned)", cfg->path, st.align, SWAP_ALIGN);
		r = -EINVAL;
		goto fail;
	}
	b->n_ops = qd;
	b->ops = calloc(qd, sizeof(*b->ops));
	b->free = calloc(qd, sizeof(*b->free));
	b->xbuf = calloc(b->max_extents, sizeof(*b->xbuf));
	if (!b->ops || !b->free || !b->xbuf) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < qd; i++)
		b->free[b->n_free++] = qd - 1 - i;
	b->evfd = eventfd(0, EFD_CLOEXEC);
	if (b->evfd < 0 || fcntl(b->dev, F_SETFL, fcntl(b->dev, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		swap_seterr(err, errlen, "kmod backend: %s", strerror(-r));
		goto fail;
	}
	if (pthread_create(&b->thread, NULL, reaper, b)) {
		r = -EAGAIN;
		swap_seterr(err, errlen, "kmod backend: cannot start its thread");
		goto fail;
	}
	b->thread_ok = true;
	*out = b;
	return 0;
fail:
	kmod_stop(b);
	return r;
}

static int kmod_submit(struct swap_backend *b, const struct swap_extent *x, unsigned n)
{
	struct activeswap_submit sub;
	uint32_t cnt = 0, first_op;
	unsigned i;
	int r = 0;

	pthread_mutex_lock(&b->lock);
	if (b->failed || n > b->n_free) {
		r = b->failed ? b->failed : -EAGAIN;
		pthread_mutex_unlock(&b->lock);
		return r;
	}
	first_op = b->n_free;
	for (i = 0; i < n; i++) {
		uint32_t oi = b->free[--b->n_free];
		struct kop *o = &b->ops[oi];

		if (!x[i].len || x[i].region_off > b->cfg.region_len ||
		    x[i].len > b->cfg.region_len - x[i].region_off) {
			r = -EINVAL;
			break;
		}
		memset(o, 0, sizeof(*o));
		o->used = true;
		o->cookie = x[i].cookie;
		for (uint64_t off = 0; off < x[i].len; off += b->max_ext_len) {
			struct activeswap_extent *k;
			uint64_t len = x[i].len - off;

			if (cnt == b->max_extents) {
				r = -EAGAIN; /* more parts than one SUBMIT carries */
				break;
			}
			k = &b->xbuf[cnt++];
			memset(k, 0, sizeof(*k));
			k->file_offset = x[i].file_off + off;
			k->region_offset = b->base_off + x[i].region_off + off;
			k->tag = oi;
			k->length = (uint32_t)(len < b->max_ext_len ? len : b->max_ext_len);
			k->priority = (uint16_t)(x[i].prio < ACTIVESWAP_NR_PRIO ?
						 x[i].prio : ACTIVESWAP_PRIO_LOW);
			o->parts++;
		}
		if (r)
			break;
	}
	if (!r) {
		memset(&sub, 0, sizeof(sub));
		sub.size = sizeof(sub);
		sub.extents = (uint64_t)(uintptr_t)b->xbuf;
		sub.count = cnt;
		sub.extent_size = sizeof(*b->xbuf);
		while (ioctl(b->dev, ACTIVESWAP_IOC_SUBMIT, &sub) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
	}
	if (r) {
		/* All or nothing: give back every operation taken above. */
		for (uint32_t j = b->n_free; j < first_op; j++)
			b->ops[b->free[j]].used = false;
		b->n_free = first_op;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

const struct swap_backend_ops swap_backend_kmod_ops = {
	.name = "kmod",
	.start = kmod_start,
	.submit = kmod_submit,
	.stop = kmod_stop,
};

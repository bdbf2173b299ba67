// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of /dev/activeswap: submitting extents (hostile arguments, fetched bytes ==
 * the store's, small unaligned memory, fsnotify, read() semantics, concurrent submitters,
 * the queue limit, blocking reads), cancelling, priority order, closing with reads in
 * flight, and an indicative throughput.  The other areas: as_test.h.
 */
#include "as_fixture_io.h"

TEST_F(io, submit_hostile)
{
	struct activeswap_extent e[2];
	struct activeswap_submit s;
	unsigned char big[64];
	uint32_t idx = 0;
	int fd2;

	NEED_STORE();

	memset(e, 0, sizeof(e));
	e[0].length = self->align;
	e[1].length = self->align;
	e[1].tag = 1;

	/* a sane pair first */
	ASSERT_EQ(0, submit(self->fd, e, 2, NULL));

#define BAD(field, val, err)                                                   \
	do {                                                                   \
		struct activeswap_extent b[2];                                 \
		memcpy(b, e, sizeof(b));                                       \
		b[1].field = (val);                                            \
		EXPECT_EQ(err, submit(self->fd, b, 2, &idx));                  \
		EXPECT_EQ(1, idx);                                             \
	} while (0)

	BAD(length, 0, -EINVAL);
	BAD(length, self->align + 1, -EINVAL);
	BAD(length, 0xffffffffu, -EINVAL);
	BAD(length, 64 * MIB, -EINVAL);
	BAD(file_offset, 1, -EINVAL);
	BAD(file_offset, self->ssize, -EINVAL);
	BAD(file_offset, ~0ULL & ~4095ULL, -EINVAL);
	BAD(file_offset, 1ULL << 63, -EINVAL);
	BAD(region_offset, 512 / 2, -EINVAL);
	BAD(region_offset, self->rlen, -EINVAL);
	BAD(region_offset, ~0ULL & ~4095ULL, -EINVAL);
	BAD(priority, ACTIVESWAP_NR_PRIO, -EINVAL);
	BAD(priority, 0xffff, -EINVAL);
	BAD(reserved, 1, -EINVAL);
	{
		/* aligned, starts inside the store, ends past it */
		struct activeswap_extent b[2];

		memcpy(b, e, sizeof(b));
		b[1].file_offset = self->ssize - self->align;
		b[1].length = 2 * self->align;
		EXPECT_EQ(-EINVAL, submit(self->fd, b, 2, &idx));
		EXPECT_EQ(1, idx);
		/* the same, ending exactly at the end, is fine */
		b[1].length = self->align;
		EXPECT_EQ(0, submit(self->fd, b, 2, NULL));
	}

	/* the struct around the extents */
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.extents = (uintptr_t)e;
	s.count = 2;
	s.extent_size = sizeof(e[0]);
	s.flags = 1;
	EXPECT_EQ(-EINVAL, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	s.flags = 0;
	s.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	s.reserved[0] = 0;
	s.extent_size = 16;
	EXPECT_EQ(-EINVAL, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	s.extent_size = 1u << 20;
	EXPECT_EQ(-EINVAL, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	s.extent_size = sizeof(e[0]);
	s.count = 1u << 30;
	EXPECT_EQ(-EINVAL, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	s.count = 0xffffffffu;
	EXPECT_EQ(-EINVAL, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	s.count = 2;
	s.extents = 0;
	EXPECT_EQ(-EFAULT, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	s.extents = (uintptr_t)-64;
	EXPECT_EQ(-EFAULT, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	s.extents = 0x1000;
	EXPECT_EQ(-EFAULT, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	/* a larger extent struct (newer caller): zero tail fine, non-zero tail E2BIG */
	memset(big, 0, sizeof(big));
	memcpy(big, &e[0], sizeof(e[0]));
	s.extents = (uintptr_t)big;
	s.count = 1;
	s.extent_size = sizeof(big);
	EXPECT_EQ(0, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	EXPECT_EQ(1, s.submitted);
	big[40] = 1;
	EXPECT_EQ(-E2BIG, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	/* count 0 is a no-op */
	s.count = 0;
	EXPECT_EQ(0, ioc(self->fd, ACTIVESWAP_IOC_SUBMIT, &s));
	EXPECT_EQ(0, s.submitted);

	/* before a region or a store exists */
	fd2 = dev_open();
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-EINVAL, submit(fd2, e, 1, NULL));
	ASSERT_EQ(0, attach(fd2, self->sfd, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, submit(fd2, e, 1, NULL));
	close(fd2);
}

TEST_F(io, fetch_equals_file)
{
	const uint32_t chunk = 256 * 1024;
	const unsigned int n = self->rlen / chunk;
	struct activeswap_extent e[64];
	struct activeswap_completion c[64];
	struct activeswap_stats st;
	unsigned int i, slot;
	int seen[64] = { 0 };

	NEED_STORE();

	ASSERT_GE(64, n);
	memset(self->map, 0xee, self->rlen);
	/* chunk i of the file goes to a permuted slot of the region */
	for (i = 0; i < n; i++) {
		slot = (i * 7 + 3) % n;
		e[i] = (struct activeswap_extent){
			.file_offset = (uint64_t)i * chunk, .region_offset = (uint64_t)slot * chunk,
			.tag = 1000 + i, .length = chunk, .priority = i % ACTIVESWAP_NR_PRIO,
		};
	}
	ASSERT_EQ(0, submit(self->fd, e, n, NULL));
	ASSERT_EQ(0, reap(self->fd, c, n, 20000));
	for (i = 0; i < n; i++) {
		ASSERT_LE(1000, c[i].tag);
		ASSERT_GT(1000 + n, c[i].tag);
		EXPECT_EQ(chunk, c[i].result);
		EXPECT_EQ(0, c[i].flags);
		EXPECT_EQ((c[i].tag - 1000) % ACTIVESWAP_NR_PRIO, c[i].priority);
		seen[c[i].tag - 1000]++;
	}
	for (i = 0; i < n; i++) {
		EXPECT_EQ(1, seen[i]);
		slot = (i * 7 + 3) % n;
		EXPECT_TRUE(same_as_store(self->sfd, self->map, (uint64_t)slot * chunk,
					  (uint64_t)i * chunk, chunk));
	}
	/* and the store is what the generator wrote */
	EXPECT_EQ(pattern_word(0), *(uint64_t *)(self->map + 3 * chunk));
	EXPECT_EQ(pattern_word(chunk / 8 + 5), *(uint64_t *)(self->map + 10 * chunk + 40));

	ASSERT_EQ(0, stats(self->fd, &st));
	EXPECT_EQ(n + 0, st.submitted);
	EXPECT_EQ(n + 0, st.completed);
	EXPECT_EQ((uint64_t)n * chunk, st.bytes_read);
	EXPECT_EQ(0, st.errors);
	EXPECT_EQ(0, st.in_flight);
	EXPECT_EQ(0, st.queued);
	EXPECT_EQ(0, st.unreaped);
	/* nothing outstanding: read returns 0 at once, poll reports nothing */
	EXPECT_EQ(0, read(self->fd, c, sizeof(c)));
	{
		struct pollfd p = { .fd = self->fd, .events = POLLIN };

		EXPECT_EQ(0, poll(&p, 1, 0));
	}
}

TEST_F(io, small_unaligned_memory)
{
	/* extents at sub-page region offsets, shorter than a page, crossing pages */
	struct activeswap_extent e[3];
	struct activeswap_completion c[3];
	uint32_t a = self->align;
	int i;

	NEED_STORE();

	if (a >= 4096)
		SKIP(return, "store alignment %u leaves no sub-page case", a);
	e[0] = (struct activeswap_extent){ .file_offset = a * 3, .region_offset = a,
					   .tag = 1, .length = a };
	e[1] = (struct activeswap_extent){ .file_offset = 1 * MIB, .region_offset = 4096 - a,
					   .tag = 2, .length = 4 * a };
	e[2] = (struct activeswap_extent){ .file_offset = 2 * MIB + a, .region_offset = 3 * 4096 - a,
					   .tag = 3, .length = 4096 + 2 * a };
	ASSERT_EQ(0, submit(self->fd, e, 3, NULL));
	ASSERT_EQ(0, reap(self->fd, c, 3, 10000));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(e[c[i].tag - 1].length, c[i].result);
	for (i = 0; i < 3; i++)
		EXPECT_TRUE(same_as_store(self->sfd, self->map, e[i].region_offset,
					  e[i].file_offset, e[i].length));
}

/* an unmapped user address the compiler cannot reason about */
static volatile uintptr_t bad_ptr = 8;

/* A read through the module raises an access event on the store, as read(2) does. */
TEST_F(io, fsnotify_access)
{
	struct activeswap_extent e = { .length = self->align, .tag = 7 };
	struct activeswap_completion c;
	char ev[4096] __attribute__((aligned(8)));
	int in, got = 0;
	ssize_t n;

	NEED_STORE();
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ASSERT_LE(0, in);
	ASSERT_LE(0, inotify_add_watch(in, store_path(), IN_ACCESS));
	ASSERT_EQ(0, submit(self->fd, &e, 1, NULL));
	ASSERT_EQ(0, reap(self->fd, &c, 1, 10000));
	EXPECT_EQ((int64_t)self->align, c.result);
	for (int i = 0; i < 50 && !got; i++) {
		n = read(in, ev, sizeof(ev));
		if (n > 0) {
			const struct inotify_event *x = (const void *)ev;

			got = !!(x->mask & IN_ACCESS);
		} else {
			usleep(10 * 1000);
		}
	}
	EXPECT_TRUE(got);
	close(in);
}

TEST_F(io, read_semantics)
{
	struct activeswap_completion c[2];
	struct activeswap_extent e = { .length = self->align, .tag = 77 };
	char small[16];
	int fl;

	NEED_STORE();

	EXPECT_EQ(-1, read(self->fd, small, sizeof(small)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, read(self->fd, c, sizeof(c)));
	ASSERT_EQ(0, submit(self->fd, &e, 1, NULL));
	/* a faulting buffer keeps the record */
	{
		struct pollfd p = { .fd = self->fd, .events = POLLIN };

		ASSERT_EQ(1, poll(&p, 1, 10000));
		EXPECT_TRUE(p.revents & POLLIN);
	}
	EXPECT_EQ(-1, read(self->fd, (void *)bad_ptr, sizeof(c)));
	EXPECT_EQ(EFAULT, errno);
	/* odd sizes return whole records only */
	EXPECT_EQ((ssize_t)sizeof(c[0]), read(self->fd, c, sizeof(c[0]) + 7));
	EXPECT_EQ(77, c[0].tag);
	EXPECT_EQ(self->align, c[0].result);
	/* non-blocking with nothing ready but something in flight is -EAGAIN; with nothing at
	 * all it is 0 */
	fl = fcntl(self->fd, F_GETFL);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, fl | O_NONBLOCK));
	EXPECT_EQ(0, read(self->fd, c, sizeof(c)));
	/* lseek is refused on the stream */
	EXPECT_EQ(-1, lseek(self->fd, 0, SEEK_SET));
}

struct thr_arg {
	int fd;
	unsigned int base;
	unsigned int n;
	int err;
};

static void *submitter(void *p)
{
	struct thr_arg *t = p;
	struct activeswap_extent e[8];
	unsigned int i, k;

	for (i = 0; i < t->n; i += 8) {
		for (k = 0; k < 8; k++) {
			unsigned int j = t->base + i + k;

			e[k] = (struct activeswap_extent){
				.file_offset = (uint64_t)j * 16384,
				.region_offset = (uint64_t)j * 16384,
				.tag = j, .length = 16384, .priority = j % 4,
			};
		}
		t->err = submit(t->fd, e, 8, NULL);
		if (t->err)
			return NULL;
	}
	return NULL;
}

TEST_F(io, concurrent_submit)
{
	const unsigned int per = 128;
	struct activeswap_completion *c = calloc(2 * per, sizeof(*c));
	struct thr_arg a[2] = { { self->fd, 0, per, 0 }, { self->fd, per, per, 0 } };
	unsigned char seen[256] = { 0 };
	pthread_t th[2];
	unsigned int i;

	NEED_STORE();

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, pthread_create(&th[0], NULL, submitter, &a[0]));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, submitter, &a[1]));
	ASSERT_EQ(0, reap(self->fd, c, 2 * per, 30000));
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	EXPECT_EQ(0, a[0].err);
	EXPECT_EQ(0, a[1].err);
	for (i = 0; i < 2 * per; i++) {
		ASSERT_GT(2 * per, c[i].tag);
		EXPECT_EQ(16384, c[i].result);
		seen[c[i].tag]++;
	}
	for (i = 0; i < 2 * per; i++)
		EXPECT_EQ(1, seen[i]);
	EXPECT_TRUE(same_as_store(self->sfd, self->map, 0, 0, 2 * per * 16384));
	free(c);
}

TEST_F(io, queue_limit)
{
	struct activeswap_version v = { .size = sizeof(v) };
	struct activeswap_extent *e;
	struct activeswap_completion *c;
	unsigned int n, i, total = 0;
	int ret;

	NEED_STORE();

	ASSERT_EQ(0, ioc(self->fd, ACTIVESWAP_IOC_VERSION, &v));
	n = v.max_extents;
	e = calloc(n + 1, sizeof(*e));
	c = calloc(v.max_queued, sizeof(*c));
	ASSERT_NE(NULL, e);
	ASSERT_NE(NULL, c);
	for (i = 0; i <= n; i++)
		e[i] = (struct activeswap_extent){ .file_offset = (uint64_t)(i % 512) * 4096,
						   .region_offset = (uint64_t)(i % 512) * 4096,
						   .tag = i, .length = 4096 };
	/* one more than max_extents is refused outright */
	EXPECT_EQ(-EINVAL, submit(self->fd, e, n + 1, NULL));
	/* fill up to max_queued without reaping; the next batch must be -EAGAIN */
	for (;;) {
		ret = submit(self->fd, e, n, NULL);
		if (ret)
			break;
		total += n;
		ASSERT_GE(v.max_queued, total);
	}
	EXPECT_EQ(-EAGAIN, ret);
	EXPECT_LT(v.max_queued - n, total);
	ASSERT_EQ(0, reap(self->fd, c, total, 60000));
	for (i = 0; i < total; i++)
		EXPECT_EQ(4096, c[i].result);
	EXPECT_EQ(0, submit(self->fd, e, n, NULL));
	ASSERT_EQ(0, reap(self->fd, c, n, 60000));
	free(e);
	free(c);
}

TEST(cancel_queued)
{
	const unsigned int n = 256;
	struct activeswap_extent e[256];
	struct activeswap_completion c[256];
	struct activeswap_cancel k;
	struct activeswap_stats st;
	uint32_t by_prio = 0, by_tag = 0, by_all = 0, ncanc = 0, nok = 0;
	int fd = dev_open(), sfd = store_fd();
	unsigned int i;

	ASSERT_LE(0, fd);
	if (sfd < 0)
		SKIP(return, "no store at %s", store_path());
	ASSERT_EQ(0, create_region(fd, n * 4096, 0, ACTIVESWAP_NODE_ANY));
	/* queue depth 1: almost everything stays queued long enough to be cancelled */
	ASSERT_EQ(0, attach(fd, sfd, 0, 1, NULL));

	/* hostile selectors */
	EXPECT_EQ(-EINVAL, as_cancel(fd, 0, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, as_cancel(fd, ACTIVESWAP_CANCEL_TAG | ACTIVESWAP_CANCEL_ALL, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, as_cancel(fd, 1u << 7, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, as_cancel(fd, ACTIVESWAP_CANCEL_PRIORITY, 0, ACTIVESWAP_NR_PRIO, NULL));
	EXPECT_EQ(-EINVAL, as_cancel(fd, ACTIVESWAP_CANCEL_PRIORITY, 5, 1, NULL));
	EXPECT_EQ(-EINVAL, as_cancel(fd, ACTIVESWAP_CANCEL_ALL, 1, 0, NULL));
	EXPECT_EQ(-EINVAL, as_cancel(fd, ACTIVESWAP_CANCEL_TAG, 1, 1, NULL));
	memset(&k, 0, sizeof(k));
	k.size = sizeof(k);
	k.flags = ACTIVESWAP_CANCEL_ALL;
	k.reserved[4] = 1;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_CANCEL, &k));
	EXPECT_EQ(0, as_cancel(fd, ACTIVESWAP_CANCEL_ALL, 0, 0, &by_all));
	EXPECT_EQ(0, by_all);

	for (i = 0; i < n; i++)
		e[i] = (struct activeswap_extent){ .file_offset = (uint64_t)i * 4096,
						   .region_offset = (uint64_t)i * 4096,
						   .tag = i, .length = 4096, .priority = i % 4 };
	ASSERT_EQ(0, submit(fd, e, n, NULL));
	ASSERT_EQ(0, as_cancel(fd, ACTIVESWAP_CANCEL_PRIORITY, 0, 3, &by_prio));
	ASSERT_EQ(0, as_cancel(fd, ACTIVESWAP_CANCEL_TAG, 250, 0, &by_tag));
	ASSERT_EQ(0, as_cancel(fd, ACTIVESWAP_CANCEL_ALL, 0, 0, &by_all));
	EXPECT_LT(0, by_prio);
	EXPECT_GE(64, by_prio);
	EXPECT_GE(1, by_tag);
	ASSERT_EQ(0, reap(fd, c, n, 20000));
	for (i = 0; i < n; i++) {
		if (c[i].result == -ECANCELED) {
			EXPECT_EQ(ACTIVESWAP_COMPLETION_CANCELLED, c[i].flags);
			ncanc++;
		} else {
			EXPECT_EQ(4096, c[i].result);
			EXPECT_EQ(0, c[i].flags);
			nok++;
		}
	}
	EXPECT_EQ(by_prio + by_tag + by_all, ncanc);
	EXPECT_EQ(n, ncanc + nok);
	EXPECT_LT(n / 2, ncanc);
	ASSERT_EQ(0, stats(fd, &st));
	EXPECT_EQ(ncanc, st.cancelled);
	EXPECT_EQ(nok, st.completed);
	EXPECT_EQ(n, st.submitted);
	close(sfd);
	close(fd);
}

/* With one read in flight at a time, queued extents go out by priority class, FIFO within
 * a class. */
TEST(priority_order)
{
	const unsigned int n = 64;
	struct activeswap_extent e[64];
	struct activeswap_completion c[64];
	int fd = dev_open(), sfd = store_fd();
	unsigned int i;

	ASSERT_LE(0, fd);
	if (sfd < 0)
		SKIP(return, "no store at %s", store_path());
	ASSERT_EQ(0, create_region(fd, n * 4096, 0, ACTIVESWAP_NODE_ANY));
	ASSERT_EQ(0, attach(fd, sfd, 0, 1, NULL));
	for (i = 0; i < n; i++)
		e[i] = (struct activeswap_extent){ .file_offset = (uint64_t)i * 4096,
						   .region_offset = (uint64_t)i * 4096,
						   .tag = i, .length = 4096, .priority = 3 - i % 4 };
	ASSERT_EQ(0, submit(fd, e, n, NULL));
	ASSERT_EQ(0, reap(fd, c, n, 20000));
	for (i = 0; i < n; i++) {
		EXPECT_EQ(4096, c[i].result);
		EXPECT_EQ(e[c[i].tag].priority, c[i].priority);
		if (i) {
			EXPECT_LE(c[i - 1].priority, c[i].priority);
			if (c[i - 1].priority == c[i].priority)
				EXPECT_LT(c[i - 1].tag, c[i].tag);
		}
	}
	close(sfd);
	close(fd);
}

/* Close the fd, unmap, or exit the process while reads are in flight. */
TEST(close_in_flight)
{
	struct activeswap_extent e[128];
	int round, sfd = store_fd(), status;
	unsigned int i;
	pid_t pid;

	if (sfd < 0)
		SKIP(return, "no store at %s", store_path());
	for (i = 0; i < 128; i++)
		e[i] = (struct activeswap_extent){ .file_offset = (uint64_t)i * 65536,
						   .region_offset = (uint64_t)i * 65536,
						   .tag = i, .length = 65536 };
	for (round = 0; round < 12; round++) {
		int fd = dev_open();
		unsigned char *p;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, create_region(fd, 8 * MIB, 0, ACTIVESWAP_NODE_ANY));
		ASSERT_EQ(0, attach(fd, sfd, 0, round % 3 ? 0 : 128, NULL));
		p = mmap(NULL, 8 * MIB, PROT_READ, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		ASSERT_EQ(0, submit(fd, e, 128, NULL));
		switch (round % 3) {
		case 0:		/* close first, mapping stays and is still readable */
			close(fd);
			EXPECT_EQ(0, p[8 * MIB - 1] & 0);
			munmap(p, 8 * MIB);
			break;
		case 1:		/* unmap first */
			munmap(p, 8 * MIB);
			close(fd);
			break;
		case 2:		/* a child with its own fd exits with reads in flight */
			munmap(p, 8 * MIB);
			close(fd);
			pid = fork();
			ASSERT_LE(0, pid);
			if (!pid) {
				int cfd = dev_open();

				if (cfd < 0 || create_region(cfd, 8 * MIB, 0, -1) ||
				    attach(cfd, sfd, 0, 64, NULL) || submit(cfd, e, 128, NULL))
					_exit(1);
				if (!mmap(NULL, 8 * MIB, PROT_READ, MAP_SHARED, cfd, 0))
					_exit(1);
				_exit(0);
			}
			ASSERT_EQ(pid, waitpid(pid, &status, 0));
			EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			break;
		}
	}
	/* killed by a signal mid-flight */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int cfd = dev_open();

		if (cfd < 0 || create_region(cfd, 8 * MIB, 0, -1) || attach(cfd, sfd, 0, 0, NULL))
			_exit(1);
		for (;;)
			if (submit(cfd, e, 128, NULL) == -EAGAIN)
				usleep(1000);
	}
	usleep(200 * 1000);
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	close(sfd);
	/* the device still works afterwards */
	{
		int fd = dev_open();

		ASSERT_LE(0, fd);
		EXPECT_EQ(0, create_region(fd, 4096, 0, ACTIVESWAP_NODE_ANY));
		close(fd);
	}
}

/* A blocked read() wakes for a record from another thread, and for a signal. */
struct waker {
	int fd;
	struct activeswap_extent e;
};

static void *late_submit(void *p)
{
	struct waker *w = p;

	usleep(200 * 1000);
	submit(w->fd, &w->e, 1, NULL);
	return NULL;
}

TEST_F(io, blocking_read)
{
	struct activeswap_completion c;
	struct waker w;
	pthread_t th;

	NEED_STORE();
	w.fd = self->fd;
	w.e = (struct activeswap_extent){ .length = 4096, .tag = 31 };
	/* something outstanding, so read() blocks rather than returning 0 */
	ASSERT_EQ(0, pthread_create(&th, NULL, late_submit, &w));
	usleep(50 * 1000);
	/* races with the submitter: either it blocked and woke, or the record was there */
	{
		ssize_t r;

		do
			r = read(self->fd, &c, sizeof(c));
		while (r == 0);
		EXPECT_EQ((ssize_t)sizeof(c), r);
	}
	pthread_join(th, NULL);
	EXPECT_EQ(31, c.tag);
	EXPECT_EQ(4096, c.result);
	/* closing with extents queued and in flight */
	{
		int fd2 = dev_open();
		struct activeswap_extent many[64];
		unsigned int i;

		ASSERT_LE(0, fd2);
		ASSERT_EQ(0, create_region(fd2, 64 * 4096, 0, -1));
		ASSERT_EQ(0, attach(fd2, self->sfd, 0, 1, NULL));
		for (i = 0; i < 64; i++)
			many[i] = (struct activeswap_extent){ .file_offset = i * 4096ULL,
							      .region_offset = i * 4096ULL,
							      .tag = i, .length = 4096 };
		ASSERT_EQ(0, submit(fd2, many, 64, NULL));
		close(fd2);
	}
}
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Indicative numbers only (a TCG guest): module fetch vs pread(O_DIRECT) of the same bytes. */
TEST_F(io, throughput)
{
	const uint32_t chunk = 128 * 1024;
	const unsigned int n = self->rlen / chunk, rounds = 4;
	struct activeswap_extent e[64];
	struct activeswap_completion c[64];
	double t0, t_kmod, t_pread;
	unsigned int i, r;
	void *buf;
	int dfd;

	NEED_STORE();
	ASSERT_GE(64, n);
	for (i = 0; i < n; i++)
		e[i] = (struct activeswap_extent){ .file_offset = (uint64_t)i * chunk,
						   .region_offset = (uint64_t)i * chunk,
						   .tag = i, .length = chunk };
	t0 = now_s();
	for (r = 0; r < rounds; r++) {
		ASSERT_EQ(0, submit(self->fd, e, n, NULL));
		ASSERT_EQ(0, reap(self->fd, c, n, 30000));
	}
	t_kmod = now_s() - t0;
	for (i = 0; i < n; i++)
		ASSERT_EQ(chunk, c[i].result);

	dfd = open(store_path(), O_RDONLY | O_DIRECT);
	ASSERT_LE(0, dfd);
	ASSERT_EQ(0, posix_memalign(&buf, 4096, chunk));
	t0 = now_s();
	for (r = 0; r < rounds; r++)
		for (i = 0; i < n; i++)
			ASSERT_EQ((ssize_t)chunk, pread(dfd, buf, chunk, (off_t)i * chunk));
	t_pread = now_s() - t0;
	close(dfd);
	free(buf);
	printf("# throughput: %u x %u MiB in %u KiB extents: module %.0f MiB/s, "
	       "pread(O_DIRECT) %.0f MiB/s (QEMU TCG guest, indicative only)\n",
	       rounds, (unsigned int)(self->rlen / MIB), chunk / 1024,
	       rounds * self->rlen / MIB / t_kmod, rounds * self->rlen / MIB / t_pread);
}

AS_TEST_ORDER()

int main(int argc, char **argv)
{
	return test_harness_run(argc, argv);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of /dev/activeswap (uapi/linux/activeswap.h): the version, regions (hostile
 * sizes, mmap, huge pages) and stores (hostile attaches, read-only fds, pseudo files,
 * buffered and direct reads, a raw block device).  Also the store generator of the guest
 * image: "activeswap_test --gen FILE MIB".  The other areas: as_test.h.
 */
#include "as_test.h"

/* ------------------------------------------------------------------ version */

TEST(version)
{
	struct activeswap_version v;
	unsigned char big[128];
	int fd = dev_open();

	ASSERT_LE(0, fd);
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	ASSERT_EQ(0, ioc(fd, ACTIVESWAP_IOC_VERSION, &v));
	EXPECT_EQ(ACTIVESWAP_ABI_VERSION, v.abi_version);
	EXPECT_EQ(sizeof(v), v.size);
	EXPECT_TRUE(v.features & ACTIVESWAP_FEAT_DIRECT);
	EXPECT_LT(0, v.max_extents);
	EXPECT_LT(0, v.max_extent_len);
	EXPECT_LT(0, v.queue_depth);
	EXPECT_LT(0, v.max_queued);

	/* too small a size, no size at all */
	memset(&v, 0, sizeof(v));
	v.size = ACTIVESWAP_VERSION_SIZE_VER0 - 8;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_VERSION, &v));
	v.size = 0;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_VERSION, &v));
	v.size = 1u << 20;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_VERSION, &v));
	/* a newer caller: larger struct with a zero tail works, a non-zero tail does not */
	memset(big, 0, sizeof(big));
	*(uint32_t *)big = sizeof(big);
	EXPECT_EQ(0, ioc(fd, ACTIVESWAP_IOC_VERSION, big));
	EXPECT_EQ(ACTIVESWAP_ABI_VERSION, ((struct activeswap_version *)big)->abi_version);
	memset(big, 0, sizeof(big));
	*(uint32_t *)big = sizeof(big);
	big[100] = 1;
	EXPECT_EQ(-E2BIG, ioc(fd, ACTIVESWAP_IOC_VERSION, big));
	/* reserved */
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	v.reserved[2] = 1;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_VERSION, &v));
	/* bad pointers */
	EXPECT_EQ(-EFAULT, ioc(fd, ACTIVESWAP_IOC_VERSION, NULL));
	EXPECT_EQ(-EFAULT, ioc(fd, ACTIVESWAP_IOC_VERSION, (void *)-4096L));
	/* unknown commands */
	EXPECT_EQ(-ENOTTY, ioc(fd, _IOWR(ACTIVESWAP_IOC_MAGIC, 0x4f, struct activeswap_version), &v));
	EXPECT_EQ(-ENOTTY, ioc(fd, _IOWR('x', 0x40, struct activeswap_version), &v));
	EXPECT_EQ(-ENOTTY, ioc(fd, _IO(ACTIVESWAP_IOC_MAGIC, 0x40) + 0x80000000u, &v));
	close(fd);
}

/* ------------------------------------------------------------------ regions */

TEST(region_create_hostile)
{
	struct activeswap_region_create r;
	int fd = dev_open();

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, create_region(fd, 0, 0, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, 4095, 0, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, 4096 + 1, 0, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, ~0ULL, 0, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, ~0ULL & ~4095ULL, 0, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, 1ULL << 62, 0, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, 4096, 0x2, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, 4096, 0x80000000u, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, 4096, ACTIVESWAP_REGION_HUGE, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, 3 * MIB, ACTIVESWAP_REGION_HUGE, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EINVAL, create_region(fd, 4096, 0, -2));
	EXPECT_EQ(-EINVAL, create_region(fd, 4096, 0, 1 << 20));
	EXPECT_EQ(-EINVAL, create_region(fd, 4096, 0, 0x7fffffff));
	/* more than the machine has: refused before allocating */
	EXPECT_EQ(-ENOMEM, create_region(fd, 32ULL << 30, 0, ACTIVESWAP_NODE_ANY));
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.length = 4096;
	r.node = ACTIVESWAP_NODE_ANY;
	r.reserved0 = 1;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_CREATE_REGION, &r));
	r.reserved0 = 0;
	r.reserved[3] = 1;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_CREATE_REGION, &r));
	r.reserved[3] = 0;
	r.size = 8;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_CREATE_REGION, &r));
	EXPECT_EQ(-EFAULT, ioc(fd, ACTIVESWAP_IOC_CREATE_REGION, (void *)16));
	/* still no region after all that */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0));
	EXPECT_EQ(ENODEV, errno);
	/* and a good one works afterwards, once */
	EXPECT_EQ(0, create_region(fd, 4096, 0, 0));
	EXPECT_EQ(-EBUSY, create_region(fd, 4096, 0, ACTIVESWAP_NODE_ANY));
	close(fd);
}

TEST(region_mmap)
{
	const size_t len = 1 * MIB;
	struct activeswap_stats st;
	unsigned char *p, *q;
	size_t i;
	int fd = dev_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, create_region(fd, len, 0, ACTIVESWAP_NODE_ANY));
	ASSERT_EQ(0, stats(fd, &st));
	EXPECT_EQ(len, st.region_bytes);

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < len; i++)
		if (p[i])
			break;
	EXPECT_EQ(len, i);	/* zeroed */
	memset(p, 0x5a, len);
	/* a second mapping of a part sees the same pages */
	q = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 4 * 4096);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(0x5a, q[0]);
	p[4 * 4096] = 0xa5;
	EXPECT_EQ(0xa5, q[0]);
	EXPECT_EQ(0, munmap(q, 8192));

	/* out of bounds, private, past the end */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len + 4096, PROT_READ, MAP_SHARED, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, len));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, len - 4096));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 1ULL << 44));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	/* cannot grow in place or moved */
	EXPECT_EQ(MAP_FAILED, mremap(p, len, len + 4096, MREMAP_MAYMOVE));

	/* the mapping outlives the fd; the region with it */
	close(fd);
	EXPECT_EQ(0x5a, p[len - 1]);
	p[0] = 1;
	EXPECT_EQ(0, munmap(p, len));
}

TEST(region_huge)
{
	unsigned char *p;
	int fd = dev_open(), ret;

	ASSERT_LE(0, fd);
	ret = create_region(fd, 4 * MIB, ACTIVESWAP_REGION_HUGE, ACTIVESWAP_NODE_ANY);
	if (ret == -ENOMEM) {
		close(fd);
		SKIP(return, "no free 2 MiB pages");
	}
	ASSERT_EQ(0, ret);
	p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, p[3 * MIB + 5]);
	memset(p, 7, 4 * MIB);
	EXPECT_EQ(7, p[2 * MIB + 4096]);
	EXPECT_EQ(0, munmap(p, 4 * MIB));
	close(fd);
}

/* ------------------------------------------------------------------ stores */

TEST(attach_hostile)
{
	struct activeswap_store_attach a;
	char tmp[] = "/tmp/as-attach-XXXXXX";
	int fd = dev_open(), wfd, dfd, pfd[2], nfd, sfd;

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBADF, attach(fd, -1, 0, 0, NULL));
	EXPECT_EQ(-EBADF, attach(fd, 100000, 0, 0, NULL));
	wfd = mkstemp(tmp);
	ASSERT_LE(0, wfd);
	ASSERT_EQ(8192, write(wfd, memset(alloca(8192), 1, 8192), 8192));
	close(wfd);
	wfd = open(tmp, O_WRONLY);
	ASSERT_LE(0, wfd);
	EXPECT_EQ(-EBADF, attach(fd, wfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL));
	close(wfd);
	dfd = open("/", O_PATH);
	EXPECT_EQ(-EBADF, attach(fd, dfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL));
	close(dfd);
	dfd = open("/", O_RDONLY | O_DIRECTORY);
	EXPECT_EQ(-EINVAL, attach(fd, dfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL));
	close(dfd);
	ASSERT_EQ(0, pipe(pfd));
	EXPECT_EQ(-EINVAL, attach(fd, pfd[0], ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL));
	close(pfd[0]);
	close(pfd[1]);
	nfd = open("/dev/null", O_RDONLY);
	EXPECT_EQ(-EINVAL, attach(fd, nfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL));
	close(nfd);
	EXPECT_EQ(-EINVAL, attach(fd, fd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL));

	/* a ramfs/tmpfs file cannot do direct I/O: refused unless buffered is allowed */
	sfd = open(tmp, O_RDONLY);
	ASSERT_LE(0, sfd);
	EXPECT_EQ(-EOPNOTSUPP, attach(fd, sfd, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, attach(fd, sfd, 0x8, 0, NULL));
	EXPECT_EQ(-EINVAL, attach(fd, sfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 5000, NULL));
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.fd = sfd;
	a.flags = ACTIVESWAP_STORE_ALLOW_BUFFERED;
	a.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, ioc(fd, ACTIVESWAP_IOC_ATTACH_STORE, &a));
	EXPECT_EQ(-EFAULT, ioc(fd, ACTIVESWAP_IOC_ATTACH_STORE, (void *)8));

	ASSERT_EQ(0, attach(fd, sfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, &a));
	EXPECT_EQ(8192, a.store_size);
	EXPECT_EQ(0, a.out_flags & ACTIVESWAP_STORE_DIRECT);
	EXPECT_LE(512, a.align);
	EXPECT_EQ(-EBUSY, attach(fd, sfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL));
	/* the module keeps its own reference: closing and unlinking is fine */
	close(sfd);
	unlink(tmp);
	close(fd);
}

/* State-changing ioctls need the device open for writing (issue #18). */
TEST(rdonly_fd)
{
	struct activeswap_extent e = { .length = 4096 };
	struct activeswap_version v = { .size = sizeof(v) };
	struct activeswap_stats st;
	int fd = open(ACTIVESWAP_DEVICE, O_RDONLY | O_CLOEXEC);
	int sfd = open("/proc/version", O_RDONLY | O_CLOEXEC);
	uint32_t n;

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioc(fd, ACTIVESWAP_IOC_VERSION, &v));
	EXPECT_EQ(0, stats(fd, &st));
	EXPECT_EQ(-EBADF, create_region(fd, 4096, 0, ACTIVESWAP_NODE_ANY));
	EXPECT_EQ(-EBADF, attach(fd, sfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL));
	EXPECT_EQ(-EBADF, submit(fd, &e, 1, NULL));
	EXPECT_EQ(-EBADF, as_cancel(fd, ACTIVESWAP_CANCEL_ALL, 0, 0, &n));
	close(sfd);
	close(fd);
}

/* Pseudo files are no stores, even buffered: procfs, sysfs (issue #18). */
TEST(pseudo_file_store)
{
	static const char *const paths[] = {
		"/proc/version", "/proc/self/status", "/sys/kernel/mm/transparent_hugepage/enabled",
		"/sys/kernel/uevent_seqnum",
	};
	int tried = 0;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int fd = dev_open(), sfd = open(paths[i], O_RDONLY | O_CLOEXEC);

		ASSERT_LE(0, fd);
		if (sfd >= 0) {
			EXPECT_EQ(-EINVAL, attach(fd, sfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL))
				TH_LOG("%s", paths[i]);
			tried++;
			close(sfd);
		}
		close(fd);
	}
	EXPECT_LE(2, tried);
}

/* A tmpfs store with ALLOW_BUFFERED: synchronous buffered reads, same bytes. */
TEST(fetch_buffered)
{
	char tmp[] = "/tmp/as-buffered-XXXXXX";
	struct activeswap_store_attach a;
	struct activeswap_extent e[4];
	struct activeswap_completion c[4];
	uint64_t words[4096];
	unsigned char *p;
	int fd = dev_open(), wfd, sfd, i;

	ASSERT_LE(0, fd);
	wfd = mkstemp(tmp);
	ASSERT_LE(0, wfd);
	for (i = 0; i < 4096; i++)
		words[i] = pattern_word(i * 3 + 1);
	ASSERT_EQ((ssize_t)sizeof(words), write(wfd, words, sizeof(words)));
	close(wfd);
	sfd = open(tmp, O_RDONLY);
	ASSERT_LE(0, sfd);
	unlink(tmp);
	ASSERT_EQ(0, create_region(fd, 64 * 1024, 0, ACTIVESWAP_NODE_ANY));
	ASSERT_EQ(0, attach(fd, sfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, &a));
	EXPECT_EQ(0, a.out_flags & ACTIVESWAP_STORE_DIRECT);
	EXPECT_EQ(512, a.align);
	for (i = 0; i < 4; i++)
		e[i] = (struct activeswap_extent){ .file_offset = 32768 - (i + 1) * 8192,
						   .region_offset = 512 + i * 8192,
						   .tag = i, .length = 8192 };
	ASSERT_EQ(0, submit(fd, e, 4, NULL));
	ASSERT_EQ(0, reap(fd, c, 4, 10000));
	p = mmap(NULL, 64 * 1024, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(8192, c[i].result);
		EXPECT_EQ(0, memcmp(p + e[i].region_offset,
				    (unsigned char *)words + e[i].file_offset, 8192));
	}
	munmap(p, 64 * 1024);
	close(sfd);
	close(fd);
}

TEST(attach_direct)
{
	struct activeswap_store_attach a;
	int fd = dev_open(), sfd = store_fd();

	ASSERT_LE(0, fd);
	if (sfd < 0)
		SKIP(return, "no store at %s", store_path());
	ASSERT_EQ(0, attach(fd, sfd, 0, 0, &a));
	EXPECT_TRUE(a.out_flags & ACTIVESWAP_STORE_DIRECT);
	EXPECT_FALSE(a.out_flags & ACTIVESWAP_STORE_IS_BLKDEV);
	EXPECT_EQ(lseek(sfd, 0, SEEK_END), (off_t)a.store_size);
	EXPECT_LE(512, a.align);
	EXPECT_GE(4096, a.align);
	close(sfd);
	close(fd);
}

/* A raw block device as the store: the bytes are the pattern. */
TEST(blkdev_store)
{
	const char *dev = getenv("AS_RAWDEV");
	struct activeswap_store_attach a;
	struct activeswap_extent e[8];
	struct activeswap_completion c[8];
	uint64_t *p;
	int fd, bfd, i, k;

	if (!dev)
		SKIP(return, "AS_RAWDEV not set");
	bfd = open(dev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, bfd);
	fd = dev_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, create_region(fd, 1 * MIB, 0, ACTIVESWAP_NODE_ANY));
	ASSERT_EQ(0, attach(fd, bfd, 0, 0, &a));
	EXPECT_TRUE(a.out_flags & ACTIVESWAP_STORE_IS_BLKDEV);
	EXPECT_TRUE(a.out_flags & ACTIVESWAP_STORE_DIRECT);
	EXPECT_EQ(16 * MIB, a.store_size);
	for (i = 0; i < 8; i++)
		e[i] = (struct activeswap_extent){ .file_offset = (uint64_t)i * 2 * MIB,
						   .region_offset = (uint64_t)i * 131072,
						   .tag = i, .length = 131072 };
	ASSERT_EQ(0, submit(fd, e, 8, NULL));
	ASSERT_EQ(0, reap(fd, c, 8, 10000));
	p = mmap(NULL, 1 * MIB, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < 8; i++) {
		EXPECT_EQ(131072, c[i].result);
		for (k = 0; k < 131072 / 8; k += 97)
			EXPECT_EQ(pattern_word(i * 2 * MIB / 8 + k), p[i * 131072 / 8 + k]);
	}
	munmap(p, 1 * MIB);
	close(bfd);
	close(fd);
}

AS_TEST_ORDER()

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--gen"))
		return gen_store(argv[2], atoi(argv[3]));
	return test_harness_run(argc, argv);
}

// SPDX-License-Identifier: GPL-2.0
/* Helpers of the activeswap kselftests (as_util.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "as_util.h"

_Static_assert(sizeof(struct activeswap_version) == ACTIVESWAP_VERSION_SIZE_VER0, "abi");
_Static_assert(sizeof(struct activeswap_region_create) == ACTIVESWAP_REGION_CREATE_SIZE_VER0,
	       "abi");
_Static_assert(sizeof(struct activeswap_store_attach) == ACTIVESWAP_STORE_ATTACH_SIZE_VER0,
	       "abi");
_Static_assert(sizeof(struct activeswap_extent) == ACTIVESWAP_EXTENT_SIZE_VER0, "abi");
_Static_assert(sizeof(struct activeswap_submit) == ACTIVESWAP_SUBMIT_SIZE_VER0, "abi");
_Static_assert(sizeof(struct activeswap_cancel) == ACTIVESWAP_CANCEL_SIZE_VER0, "abi");
_Static_assert(sizeof(struct activeswap_stats) == ACTIVESWAP_STATS_SIZE_VER0, "abi");
_Static_assert(sizeof(struct activeswap_completion) == ACTIVESWAP_COMPLETION_SIZE, "abi");

uint64_t pattern_word(uint64_t i)
{
	uint64_t z = i + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int gen_store(const char *path, unsigned int mib)
{
	uint64_t buf[8192];
	uint64_t w = 0;
	FILE *f = fopen(path, "wb");
	unsigned int i, k;

	if (!f)
		return 1;
	for (i = 0; i < mib * (MIB / sizeof(buf)); i++) {
		for (k = 0; k < 8192; k++)
			buf[k] = pattern_word(w++);
		if (fwrite(buf, sizeof(buf), 1, f) != 1)
			return 1;
	}
	return fclose(f) != 0;
}

const char *store_path(void)
{
	const char *p = getenv("AS_STORE");

	return p ? p : "/mnt/store.bin";
}

int dev_open(void)
{
	return open(ACTIVESWAP_DEVICE, O_RDWR | O_CLOEXEC);
}

int ioc(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

int create_region(int fd, uint64_t len, uint32_t flags, int node)
{
	struct activeswap_region_create r = {
		.size = sizeof(r), .flags = flags, .length = len, .node = node,
	};

	return ioc(fd, ACTIVESWAP_IOC_CREATE_REGION, &r);
}

int attach(int fd, int sfd, uint32_t flags, uint32_t qd, struct activeswap_store_attach *out)
{
	struct activeswap_store_attach a = {
		.size = sizeof(a), .flags = flags, .fd = sfd, .queue_depth = qd,
	};
	int ret = ioc(fd, ACTIVESWAP_IOC_ATTACH_STORE, &a);

	if (out)
		*out = a;
	return ret;
}

int submit(int fd, struct activeswap_extent *e, uint32_t n, uint32_t *err_index)
{
	struct activeswap_submit s = {
		.size = sizeof(s), .extents = (uintptr_t)e, .count = n,
		.extent_size = sizeof(*e),
	};
	int ret = ioc(fd, ACTIVESWAP_IOC_SUBMIT, &s);

	if (err_index)
		*err_index = s.error_index;
	if (!ret && s.submitted != n)
		return -EPROTO;
	return ret;
}

int stats(int fd, struct activeswap_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioc(fd, ACTIVESWAP_IOC_STATS, st);
}

int as_cancel(int fd, uint32_t flags, uint64_t tag, uint32_t prio, uint32_t *n)
{
	struct activeswap_cancel c = {
		.size = sizeof(c), .flags = flags, .tag = tag, .priority = prio,
	};
	int ret = ioc(fd, ACTIVESWAP_IOC_CANCEL, &c);

	if (n)
		*n = c.cancelled;
	return ret;
}

int reap(int fd, struct activeswap_completion *c, unsigned int n, int timeout_ms)
{
	unsigned int got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		r = read(fd, c + got, (n - got) * sizeof(*c));
		if (r < 0)
			return -errno;
		if (r == 0 || r % sizeof(*c))
			return -EPROTO;
		got += r / sizeof(*c);
	}
	return 0;
}

int store_fd(void)
{
	return open(store_path(), O_RDONLY | O_CLOEXEC);
}

int same_as_store(int sfd, const unsigned char *map, uint64_t roff, uint64_t foff,
		  size_t len)
{
	unsigned char *buf = malloc(len);
	int ok;

	if (!buf || pread(sfd, buf, len, foff) != (ssize_t)len)
		return 0;
	ok = !memcmp(buf, map + roff, len);
	free(buf);
	return ok;
}

int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -errno;
}

long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atol(buf) : -1;
}

// SPDX-License-Identifier: MIT
/*
 * LD_PRELOAD fault shim for userspace reads of a store (tests/integration/faults.sh).
 * Built by the test with `cc -shared -fPIC`; wraps pread()/pread64() and counts the reads
 * of files whose name ends in AS_SHIM_SUFFIX (default ".asw"). From the read numbered
 * AS_SHIM_FIRST on (1 = the first), every AS_SHIM_EVERY-th read (0: only that one) gets
 * AS_SHIM_MODE:
 *   eio    fails with EIO
 *   short  returns half the bytes asked for, rounded down to 4 KiB as an O_DIRECT read
 *          cut short is (reads of at most 4 KiB are not cut)
 *   flip   returns every byte but with one flipped in the middle
 * AS_SHIM_LOG, when set, is a file the shim appends one line to per fault it injected.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);

static unsigned long long n_reads;

static int is_target(int fd)
{
	const char *suf = getenv("AS_SHIM_SUFFIX");
	char link[64], path[PATH_MAX];
	ssize_t n;
	size_t ls;

	if (!suf)
		suf = ".asw";
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = 0;
	ls = strlen(suf);
	return (size_t)n >= ls && !strcmp(path + n - ls, suf);
}

static unsigned long long env_ull(const char *name, unsigned long long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 10) : dflt;
}

static void note(const char *mode, unsigned long long nr, size_t len, off_t off)
{
	const char *path = getenv("AS_SHIM_LOG");
	FILE *f;

	if (!path)
		return;
	f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "%s read %llu len %zu off %lld\n", mode, nr, len, (long long)off);
	fclose(f);
}

static ssize_t shim(pread_fn real, int fd, void *buf, size_t len, off_t off)
{
	const char *mode = getenv("AS_SHIM_MODE");
	unsigned long long first = env_ull("AS_SHIM_FIRST", 1), every, nr;
	ssize_t r;

	if (!mode || !len || !is_target(fd) || (!strcmp(mode, "short") && len < 8192))
		return real(fd, buf, len, off);
	every = env_ull("AS_SHIM_EVERY", 0);
	nr = __atomic_add_fetch(&n_reads, 1, __ATOMIC_SEQ_CST);
	if (nr < first || (nr != first && (!every || (nr - first) % every)))
		return real(fd, buf, len, off);
	note(mode, nr, len, off);
	if (!strcmp(mode, "eio")) {
		errno = EIO;
		return -1;
	}
	if (!strcmp(mode, "short"))
		return real(fd, buf, len / 2 & ~(size_t)4095, off);
	r = real(fd, buf, len, off);
	if (!strcmp(mode, "flip") && r > 0)
		((unsigned char *)buf)[r / 2] ^= 0x5a;
	return r;
}

static pread_fn real_pread(const char *name)
{
	return (pread_fn)dlsym(RTLD_NEXT, name);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	static pread_fn real;

	if (!real)
		real = real_pread("pread");
	return shim(real, fd, buf, len, off);
}

ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	static pread_fn real;

	if (!real)
		real = real_pread("pread64");
	return shim(real, fd, buf, len, off);
}

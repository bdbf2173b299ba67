/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the activeswap kselftests (as_util.c), shared by the test programs: the
 * store's pattern, the device and its ioctls, small sysfs/cgroup file accesses.  No
 * harness here: kselftest_harness.h keeps its state per program (as_test.h).
 */
#ifndef AS_UTIL_H
#define AS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <linux/activeswap.h>

#define MIB (1024ULL * 1024)

/* The store's content: 64-bit words from splitmix64 of their index. */
uint64_t pattern_word(uint64_t i);
/* Write MIB MiB of the pattern to path ("activeswap_test --gen"); 0 on success. */
int gen_store(const char *path, unsigned int mib);
/* $AS_STORE, else /mnt/store.bin; store_fd() opens it read-only. */
const char *store_path(void);
int store_fd(void);

/* The ioctls, 0 or -errno. */
int dev_open(void);
int ioc(int fd, unsigned long cmd, void *arg);
int create_region(int fd, uint64_t len, uint32_t flags, int node);
int attach(int fd, int sfd, uint32_t flags, uint32_t qd, struct activeswap_store_attach *out);
int submit(int fd, struct activeswap_extent *e, uint32_t n, uint32_t *err_index);
int stats(int fd, struct activeswap_stats *st);
int as_cancel(int fd, uint32_t flags, uint64_t tag, uint32_t prio, uint32_t *n);
/* Collect exactly n records (poll + read), or fail after timeout_ms. */
int reap(int fd, struct activeswap_completion *c, unsigned int n, int timeout_ms);
/* region bytes [roff, roff+len) equal store bytes [foff, foff+len) */
int same_as_store(int sfd, const unsigned char *map, uint64_t roff, uint64_t foff,
		  size_t len);

/* A short string into a sysfs/cgroup file (0 or -errno); a number from one (-1). */
int write_file(const char *path, const char *s);
long read_long(const char *path);

#endif

// SPDX-License-Identifier: MIT
/*
 * The DRAM budget: one anonymous mapping of exactly the budget (rounded down to pages),
 * transparent huge pages requested, optionally bound to a NUMA node, and mlock'ed so the
 * kernel never pages swapped-in weights back out behind our back.
 */
#include <errno.h>
#include <numa.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "swap_int.h"

#define HUGE_ALIGN (2ull << 20)

/*
 * Map exactly size bytes starting on a 2 MiB boundary (when size allows a huge page), so
 * transparent huge pages can back the whole pool: reserve size + 2 MiB of address space,
 * then unmap the unaligned head and the tail. Only size bytes stay mapped.
 */
static void *map_aligned(uint64_t size)
{
	const int prot = PROT_READ | PROT_WRITE, fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	uint8_t *m, *a;
	uint64_t head;

	if (size < HUGE_ALIGN)
		return mmap(NULL, size, prot, fl, -1, 0);
	m = mmap(NULL, size + HUGE_ALIGN, prot, fl, -1, 0);
	if (m == MAP_FAILED)
		return mmap(NULL, size, prot, fl, -1, 0);
	a = (uint8_t *)(((uintptr_t)m + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
	head = (uint64_t)(a - m);
	if (head)
		munmap(m, head);
	munmap(a + size, HUGE_ALIGN - head);
	return a;
}

int swap_pool_create(struct swap_pool *p, uint64_t size, int numa_node, uint32_t flags,
		     char *err, size_t errlen)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	void *m;

	memset(p, 0, sizeof(*p));
	size &= ~(page - 1);
	if (!size) {
		swap_seterr(err, errlen, "DRAM budget smaller than one page");
		return -EINVAL;
	}
	m = map_aligned(size);
	if (m == MAP_FAILED) {
		int e = errno;

		swap_seterr(err, errlen, "mmap of the %llu-byte DRAM pool failed: %s",
			    (unsigned long long)size, strerror(e));
		return -e;
	}
	if (!(flags & SWAP_F_NO_HUGEPAGE))
		(void)madvise(m, size, MADV_HUGEPAGE); /* best effort: THP may be off */
	if (numa_node >= 0) {
		if (numa_available() < 0 || numa_node > numa_max_node()) {
			swap_seterr(err, errlen, "NUMA node %d is not available on this system",
				    numa_node);
			munmap(m, size);
			return -EINVAL;
		}
		numa_tonode_memory(m, size, numa_node);
	}
	if (!(flags & SWAP_F_NO_MLOCK)) {
		/* The raw system call: sanitizer runtimes turn mlock() into a no-op. */
		if (syscall(SYS_mlock, m, (size_t)size) < 0) {
			int e = errno;
			struct rlimit rl = { 0, 0 };

			getrlimit(RLIMIT_MEMLOCK, &rl);
			if ((flags & SWAP_F_MLOCK_TRY) &&
			    (e == ENOMEM || e == EPERM || e == EAGAIN)) {
				/* unlocked: the caller says so (swap_stats.pool_locked) */
				for (uint64_t o = 0; o < size; o += page)
					((volatile char *)m)[o] = 0;
				p->base = m;
				p->size = size;
				return 0;
			}
			if (e == ENOMEM || e == EPERM || e == EAGAIN) {
				char lim[32];

				if (rl.rlim_cur == RLIM_INFINITY)
					snprintf(lim, sizeof(lim), "unlimited");
				else
					snprintf(lim, sizeof(lim), "%llu",
						 (unsigned long long)rl.rlim_cur);
				swap_seterr(err, errlen, "cannot mlock the DRAM pool: needs %llu "
					    "bytes, RLIMIT_MEMLOCK allows %s bytes (%s); raise "
					    "'ulimit -l', grant CAP_IPC_LOCK, or lower the budget",
					    (unsigned long long)size, lim, strerror(e));
			} else {
				swap_seterr(err, errlen, "cannot mlock the DRAM pool: %s",
					    strerror(e));
			}
			munmap(m, size);
			return e == EAGAIN ? -ENOMEM : -e;
		}
		p->locked = true;
	} else {
		/* Still fault the pages in once so the first fetches don't pay for it. */
		for (uint64_t o = 0; o < size; o += page)
			((volatile char *)m)[o] = 0;
	}
	p->base = m;
	p->size = size;
	return 0;
}

void swap_pool_destroy(struct swap_pool *p)
{
	if (p->base)
		munmap(p->base, p->size);
	if (p->kmod)
		close(p->dev_fd);
	memset(p, 0, sizeof(*p));
}

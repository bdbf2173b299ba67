// SPDX-License-Identifier: MIT
/* SIGBUS guard for reading a file mapping the file may shrink under (mapguard.h). */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mapguard.h"

static atomic_int g_busy;
static uintptr_t g_base, g_len;
static volatile sig_atomic_t g_hit;
static uint64_t g_off;
static struct sigaction g_old;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	(void)uc;
	if (a >= g_base && a - g_base < g_len) {
		void *p = (void *)(a & ~(page - 1));

		/* a page of zeros in its place: the faulting access then succeeds */
		if (mmap(p, page, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) !=
		    MAP_FAILED) {
			if (!g_hit)
				g_off = a - g_base;
			g_hit = 1;
			return;
		}
	}
	/* not ours (or no page could be put there): the previous action, on the retry */
	sigaction(sig, &g_old, NULL);
}

int as_mapguard_begin(const void *base, size_t len)
{
	struct sigaction sa;
	int expect = 0;

	if (!atomic_compare_exchange_strong(&g_busy, &expect, 1))
		return -EBUSY;
	g_base = (uintptr_t)base;
	g_len = len;
	g_hit = 0;
	g_off = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &g_old) < 0) {
		int e = errno;

		atomic_store(&g_busy, 0);
		return -e;
	}
	return 0;
}

bool as_mapguard_hit(uint64_t *off)
{
	if (g_hit && off)
		*off = g_off;
	return g_hit;
}

bool as_mapguard_end(uint64_t *off)
{
	bool hit = as_mapguard_hit(off);

	sigaction(SIGBUS, &g_old, NULL);
	g_base = 0;
	g_len = 0;
	atomic_store(&g_busy, 0);
	return hit;
}

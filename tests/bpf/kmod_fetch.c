// SPDX-License-Identifier: MIT
/*
 * kmod_fetch: a fetch workload on /dev/activeswap for `activeswap trace` in the QEMU guest
 * (tests/qemu/trace-guest.sh). Creates a region, attaches STORE, submits COUNT extents of
 * random aligned offsets and lengths in batches (every third batch at the lowest priority,
 * then cancelled by priority: whatever was still queued completes as cancelled), reaps
 * every completion record, and prints one JSON line with the module's own counters
 * (ACTIVESWAP_IOC_STATS, read before close) under the field names of the tracer's "kmod"
 * object, plus a log2(us) histogram of the records' latencies (uncancelled ones: the
 * latency the fetch_complete tracepoint carries) binned as bpf/activeswap.bpf.c does:
 *
 *   {"fetch_submit":N,"fetch_complete":N,"errors":N,"complete_bytes":N,"fetch_cancel":N,
 *    "hist_log2_us":[...],"records":N,"record_bytes":N,"record_cancelled":N}
 *
 * The last three are what the records said; they must agree with the module's counters
 * (exit status 1 otherwise). Built static (mk/ktrace.mk) so it runs in the busybox guest.
 *
 * usage: kmod_fetch STORE COUNT SEED
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/activeswap.h>

#define HIST_SLOTS 26 /* AS_HIST_SLOTS of bpf/activeswap_maps.h */
#define REGION (4u << 20)
#define MAX_LEN (64u << 10)
#define BATCH 32

static uint64_t rng;

static uint32_t rnd(void)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng >> 33);
}

static unsigned slot(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned s = 0;

	while (us > 1) {
		us >>= 1;
		s++;
	}
	return s < HIST_SLOTS ? s : HIST_SLOTS - 1;
}

/* What the completion records said. */
struct tally {
	uint64_t hist[HIST_SLOTS];
	uint64_t records, rbytes, rcancel, rerr;
};

static void tally(struct tally *t, const struct activeswap_completion *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		t->records++;
		if (recs[i].flags & ACTIVESWAP_COMPLETION_CANCELLED) {
			t->rcancel++;
			continue;
		}
		t->hist[slot(recs[i].latency_ns)]++;
		if (recs[i].result < 0)
			t->rerr++;
		else
			t->rbytes += (uint64_t)recs[i].result;
	}
}

static int die(const char *what)
{
	fprintf(stderr, "kmod_fetch: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct activeswap_version ver = { .size = sizeof(ver) };
	struct activeswap_region_create reg = { .size = sizeof(reg) };
	struct activeswap_store_attach st = { .size = sizeof(st) };
	struct activeswap_stats ss = { .size = sizeof(ss) };
	struct activeswap_completion recs[64];
	struct tally t = { .records = 0 };
	long count, done = 0;
	uint32_t align;
	int dev, sfd;
	void *p;

	if (argc != 4 || (count = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: kmod_fetch STORE COUNT SEED\n");
		return 2;
	}
	rng = strtoull(argv[3], NULL, 10);
	dev = open(ACTIVESWAP_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return die(ACTIVESWAP_DEVICE);
	if (ioctl(dev, ACTIVESWAP_IOC_VERSION, &ver))
		return die("ACTIVESWAP_IOC_VERSION");
	reg.length = REGION;
	reg.node = ACTIVESWAP_NODE_ANY;
	if (ioctl(dev, ACTIVESWAP_IOC_CREATE_REGION, &reg))
		return die("ACTIVESWAP_IOC_CREATE_REGION");
	p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, dev, (off_t)reg.mmap_offset);
	if (p == MAP_FAILED)
		return die("mmap");
	sfd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return die(argv[1]);
	st.fd = sfd;
	st.flags = ACTIVESWAP_STORE_ALLOW_BUFFERED;
	if (ioctl(dev, ACTIVESWAP_IOC_ATTACH_STORE, &st))
		return die("ACTIVESWAP_IOC_ATTACH_STORE");
	align = st.align ? st.align : 512;
	if (st.store_size < MAX_LEN || ver.max_extent_len < align) {
		fprintf(stderr, "kmod_fetch: store of %llu bytes is too small\n",
			(unsigned long long)st.store_size);
		return 1;
	}

	for (long b = 0; done < count; b++) {
		struct activeswap_extent ext[BATCH];
		struct activeswap_submit sub = { .size = sizeof(sub) };
		uint32_t maxlen = ver.max_extent_len < MAX_LEN ? ver.max_extent_len : MAX_LEN;
		uint32_t n = count - done < BATCH ? (uint32_t)(count - done) : BATCH;
		uint16_t prio = b % 3 == 2 ? ACTIVESWAP_PRIO_LOW : ACTIVESWAP_PRIO_URGENT;

		if (n > ver.max_extents)
			n = ver.max_extents;
		memset(ext, 0, sizeof(ext));
		for (uint32_t i = 0; i < n; i++) {
			uint32_t len = (1 + rnd() % (maxlen / align)) * align;

			ext[i].length = len;
			ext[i].file_offset = (rnd() % ((st.store_size - len) / align + 1)) * align;
			ext[i].region_offset = (rnd() % ((REGION - len) / align + 1)) * align;
			ext[i].tag = (uint64_t)done + i;
			ext[i].priority = prio;
		}
		sub.extents = (uintptr_t)ext;
		sub.count = n;
		sub.extent_size = sizeof(ext[0]);
		if (ioctl(dev, ACTIVESWAP_IOC_SUBMIT, &sub))
			return die("ACTIVESWAP_IOC_SUBMIT");
		done += n;
		if (prio == ACTIVESWAP_PRIO_LOW) {
			struct activeswap_cancel c = { .size = sizeof(c) };

			c.flags = ACTIVESWAP_CANCEL_PRIORITY;
			c.priority = ACTIVESWAP_PRIO_LOW;
			if (ioctl(dev, ACTIVESWAP_IOC_CANCEL, &c))
				return die("ACTIVESWAP_IOC_CANCEL");
		}
		/* reap what is ready; read() returns 0 only when nothing is outstanding */
		for (;;) {
			struct pollfd pfd = { .fd = dev, .events = POLLIN };
			ssize_t r;

			if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
				break;
			r = read(dev, recs, sizeof(recs));
			if (r <= 0)
				break;
			tally(&t, recs, (size_t)r / sizeof(recs[0]));
		}
	}
	for (;;) {
		ssize_t r = read(dev, recs, sizeof(recs));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return die("read");
		if (r == 0)
			break;
		tally(&t, recs, (size_t)r / sizeof(recs[0]));
	}
	if (ioctl(dev, ACTIVESWAP_IOC_STATS, &ss))
		return die("ACTIVESWAP_IOC_STATS");
	printf("{\"fetch_submit\":%llu,\"fetch_complete\":%llu,\"errors\":%llu,"
	       "\"complete_bytes\":%llu,\"fetch_cancel\":%llu,\"hist_log2_us\":[",
	       (unsigned long long)ss.submitted, (unsigned long long)ss.completed,
	       (unsigned long long)ss.errors, (unsigned long long)ss.bytes_read,
	       (unsigned long long)ss.cancelled);
	for (int i = 0; i < HIST_SLOTS; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)t.hist[i]);
	printf("],\"records\":%llu,\"record_bytes\":%llu,\"record_cancelled\":%llu}\n",
	       (unsigned long long)t.records, (unsigned long long)t.rbytes,
	       (unsigned long long)t.rcancel);
	fflush(stdout);
	munmap(p, REGION);
	close(sfd);
	close(dev);
	if (t.records != (uint64_t)count || t.records != ss.submitted ||
	    t.rcancel != ss.cancelled || t.rbytes != ss.bytes_read || t.rerr != ss.errors ||
	    ss.completed + ss.cancelled != ss.submitted) {
		fprintf(stderr, "kmod_fetch: the records disagree with ACTIVESWAP_IOC_STATS\n");
		return 1;
	}
	return 0;
}

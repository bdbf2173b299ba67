// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of /dev/activeswap as a module: random ioctl arguments (fuzz), the
 * tracepoints, rmmod refused while a file is open.  The other areas: as_test.h.
 */
#include "as_test.h"

/* ------------------------------------------------------------------ fuzz */

static uint64_t fz_state = 0x2545f4914f6cdd1dULL;

static uint64_t fz(void)
{
	fz_state ^= fz_state << 13;
	fz_state ^= fz_state >> 7;
	fz_state ^= fz_state << 17;
	return fz_state;
}

/* an "interesting" 64-bit value: boundaries, alignments, small numbers, random */
static uint64_t fz_val(uint64_t near)
{
	switch (fz() % 8) {
	case 0: return 0;
	case 1: return fz() % 4096;
	case 2: return near + (fz() % 3) * 512 - 512;
	case 3: return ~0ULL - fz() % 4096;
	case 4: return (fz() % 64) * 4096;
	case 5: return 1ULL << (fz() % 64);
	case 6: return near;
	default: return fz();
	}
}

/*
 * Random ioctls (random command bits, sizes, pointers, field values biased to edge
 * cases), reads, polls and mmaps on contexts in every state; the device must keep
 * answering and dmesg must stay clean (checked by the guest's init afterwards).
 */
TEST(fuzz_ioctls)
{
	static const unsigned long cmds[] = {
		ACTIVESWAP_IOC_VERSION, ACTIVESWAP_IOC_CREATE_REGION, ACTIVESWAP_IOC_ATTACH_STORE,
		ACTIVESWAP_IOC_SUBMIT, ACTIVESWAP_IOC_CANCEL, ACTIVESWAP_IOC_STATS,
	};
	struct activeswap_extent ext[16];
	struct activeswap_completion c[32];
	union {
		uint32_t w[1024];
		uint64_t q[512];
		unsigned char b[4096];
	} u;
	int fds[4], sfd = store_fd(), i, k, iters;
	const char *it = getenv("AS_FUZZ_ITERS");
	unsigned int okc[6] = { 0 }, nsub = 0;

	iters = it ? atoi(it) : 20000;
	for (k = 0; k < 4; k++) {
		fds[k] = dev_open();
		ASSERT_LE(0, fds[k]);
	}
	/* states: empty; region only; region + store; store only */
	ASSERT_EQ(0, create_region(fds[1], 256 * 1024, 0, -1));
	ASSERT_EQ(0, create_region(fds[2], 256 * 1024, 0, -1));
	if (sfd >= 0) {
		ASSERT_EQ(0, attach(fds[2], sfd, 0, 2, NULL));
		ASSERT_EQ(0, attach(fds[3], sfd, 0, 0, NULL));
	}
	for (i = 0; i < iters; i++) {
		int fd = fds[fz() % 4];
		unsigned long cmd = cmds[fz() % 6];
		uint32_t size;
		void *arg = &u;

		memset(&u, 0, sizeof(u));
		switch (fz() % 10) {
		case 0: cmd ^= 1UL << (fz() % 32); break;		/* any bit flipped */
		case 1: cmd = (cmd & ~0x3fff0000UL) | ((fz() % 0x4000) << 16); break;
		default: break;
		}
		switch (fz() % 8) {
		case 0: size = fz() % 200; break;
		case 1: size = 4096 + fz() % 8; break;
		case 2: size = fz(); break;
		default: size = (cmd & 0xff) == 0x45 ? 128 : 64; break;
		}
		u.w[0] = size;
		/* fill the fields with edge values, sometimes with random tail bytes */
		for (k = 1; k < 16; k++)
			u.q[k] = fz() % 4 ? 0 : fz_val(4096);
		u.w[1] = fz() % 3 ? 0 : (uint32_t)fz_val(1);
		switch (cmd & 0xff) {
		case 0x41:	/* create region: lengths that must not allocate much */
			u.q[1] = fz() % 2 ? fz_val(4096) % (64 * MIB) : fz_val(4096);
			u.w[4] = fz() % 2 ? -1 : (uint32_t)fz_val(0);
			break;
		case 0x42:	/* attach: a plausible fd */
			u.w[2] = fz() % 2 ? (uint32_t)sfd : (uint32_t)(fz() % 16);
			u.w[3] = fz() % 3;
			break;
		case 0x43:	/* submit: a clean batch, then maybe one field mutated */
			for (k = 0; k < 16; k++)
				ext[k] = (struct activeswap_extent){
					.file_offset = (fz() % 64) * 4096,
					.region_offset = (fz() % 60) * 4096,
					.tag = fz(), .length = 4096 * (1 + fz() % 4),
					.priority = fz() % 4,
				};
			if (fz() % 2) {
				struct activeswap_extent *x = &ext[fz() % 16];

				switch (fz() % 5) {
				case 0: x->file_offset = fz_val(x->file_offset); break;
				case 1: x->region_offset = fz_val(x->region_offset); break;
				case 2: x->length = (uint32_t)fz_val(x->length); break;
				case 3: x->priority = fz() % 8; break;
				default: x->reserved = 1; break;
				}
			}
			if (fz() % 2)
				memset(u.b + 4, 0, 60);	/* clean header */
			u.q[1] = fz() % 16 ? (uintptr_t)ext : fz_val(4096);
			u.w[4] = fz() % 8 ? 1 + fz() % 16 : (uint32_t)fz_val(16);
			u.w[5] = fz() % 8 ? 32 : (uint32_t)fz_val(32);
			break;
		case 0x44:	/* cancel */
			u.w[1] = 1u << (fz() % 4);
			break;
		}
		if (fz() % 16 == 0)
			arg = (void *)(uintptr_t)fz_val(4096);
		if (!ioctl(fd, cmd, arg) && (cmd & 0xff) >= 0x40 && (cmd & 0xff) <= 0x45) {
			okc[(cmd & 0xff) - 0x40]++;
			if ((cmd & 0xff) == 0x43)
				nsub += u.w[6];
		}

		switch (fz() % 16) {
		case 0:
			(void)!read(fd, fz() % 4 ? (void *)c : (void *)(uintptr_t)fz_val(4096),
				    fz() % 4 ? sizeof(c) : fz() % 100);
			break;
		case 1: {
			void *p = mmap(NULL, 4096 * (1 + fz() % 80), PROT_READ | PROT_WRITE,
				       fz() % 4 ? MAP_SHARED : MAP_PRIVATE, fd,
				       fz_val(0) & ~4095ULL);

			if (p != MAP_FAILED) {
				((volatile unsigned char *)p)[0] = 1;
				munmap(p, 4096);
			}
			break;
		}
		case 2: {
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			poll(&pf, 1, 0);
			break;
		}
		default:
			break;
		}
	}
	printf("# fuzz: %d calls; accepted version %u, create %u, attach %u, submit %u (%u extents), cancel %u, stats %u\n",
	       iters, okc[0], okc[1], okc[2], okc[3], nsub, okc[4], okc[5]);
	/* drain and check the contexts still answer sanely */
	for (k = 0; k < 4; k++) {
		struct activeswap_stats st;

		ASSERT_EQ(0, as_cancel(fds[k], ACTIVESWAP_CANCEL_ALL, 0, 0, NULL));
		ASSERT_EQ(0, stats(fds[k], &st));
		while (st.in_flight + st.unreaped + st.queued) {
			ssize_t r = read(fds[k], c, sizeof(c));

			ASSERT_LE(0, r);
			ASSERT_EQ(0, stats(fds[k], &st));
		}
		EXPECT_EQ(st.submitted, st.completed + st.cancelled);
		close(fds[k]);
	}
	if (sfd >= 0)
		close(sfd);
}

/* ------------------------------------------------------------------ tracepoints */

TEST(tracepoints)
{
	const char *tr = "/sys/kernel/tracing";
	struct activeswap_extent e = { .length = 4096, .tag = 0x5157 };
	struct activeswap_completion c;
	char path[256], *buf;
	int fd, sfd, tfd;
	ssize_t n, got = 0;

	snprintf(path, sizeof(path), "%s/events/activeswap/enable", tr);
	if (access(path, W_OK))
		SKIP(return, "tracefs not mounted at %s", tr);
	sfd = store_fd();
	if (sfd < 0)
		SKIP(return, "no store at %s", store_path());
	snprintf(path, sizeof(path), "%s/trace", tr);
	ASSERT_EQ(0, write_file(path, ""));
	snprintf(path, sizeof(path), "%s/events/activeswap/enable", tr);
	ASSERT_EQ(0, write_file(path, "1"));
	fd = dev_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, create_region(fd, 1 * MIB, 0, ACTIVESWAP_NODE_ANY));
	ASSERT_EQ(0, attach(fd, sfd, 0, 0, NULL));
	ASSERT_EQ(0, submit(fd, &e, 1, NULL));
	ASSERT_EQ(0, reap(fd, &c, 1, 10000));
	close(fd);
	close(sfd);
	usleep(200 * 1000);	/* the region is freed from a work item */
	ASSERT_EQ(0, write_file(path, "0"));
	snprintf(path, sizeof(path), "%s/trace", tr);
	tfd = open(path, O_RDONLY);
	ASSERT_LE(0, tfd);
	buf = calloc(1, 1 << 20);
	ASSERT_NE(NULL, buf);
	while ((n = read(tfd, buf + got, (1 << 20) - 1 - got)) > 0)
		got += n;
	close(tfd);
	EXPECT_NE(NULL, strstr(buf, "activeswap_region_create:"));
	EXPECT_NE(NULL, strstr(buf, "activeswap_fetch_submit: ctx="));
	EXPECT_NE(NULL, strstr(buf, "tag=20823 result=4096"));
	EXPECT_NE(NULL, strstr(buf, "activeswap_region_free:"));
	free(buf);

	/* the record layouts BPF programs rely on (Documentation/kernel-module.md) */
	{
		static const char *const want[][2] = {
			{ "activeswap_fetch_submit", "field:u64 tag;\toffset:16;\tsize:8;" },
			{ "activeswap_fetch_submit", "field:u64 file_offset;\toffset:24;\tsize:8;" },
			{ "activeswap_fetch_submit", "field:u64 region_offset;\toffset:32;\tsize:8;" },
			{ "activeswap_fetch_submit", "field:u32 length;\toffset:40;\tsize:4;" },
			{ "activeswap_fetch_submit", "field:u16 priority;\toffset:44;\tsize:2;" },
			{ "activeswap_fetch_complete", "field:s64 result;\toffset:24;\tsize:8;" },
			{ "activeswap_fetch_complete", "field:u64 latency_ns;\toffset:32;\tsize:8;" },
			{ "activeswap_fetch_cancel", "field:u16 priority;\toffset:24;\tsize:2;" },
			{ "activeswap_region_create", "field:int ret;\toffset:32;\tsize:4;" },
			{ "activeswap_region_free", "field:u64 length;\toffset:16;\tsize:8;" },
		};
		char fmt[4096];
		unsigned int k;

		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
			snprintf(path, sizeof(path), "%s/events/activeswap/%s/format", tr,
				 want[k][0]);
			tfd = open(path, O_RDONLY);
			ASSERT_LE(0, tfd);
			n = read(tfd, fmt, sizeof(fmt) - 1);
			close(tfd);
			ASSERT_LT(0, n);
			fmt[n] = 0;
			EXPECT_NE(NULL, strstr(fmt, want[k][1]))
				TH_LOG("%s: no \"%s\"", want[k][0], want[k][1]);
		}
	}
}

/* ------------------------------------------------------------------ module refcount */

TEST(rmmod_refused_while_open)
{
	int fd = dev_open();
	long ret;

	ASSERT_LE(0, fd);
	ret = syscall(SYS_delete_module, "activeswap", O_NONBLOCK);
	if (ret && errno == EPERM)
		SKIP(close(fd); return, "needs CAP_SYS_MODULE");
	EXPECT_EQ(-1, ret);
	EXPECT_TRUE(errno == EWOULDBLOCK || errno == EBUSY);
	/* the device still answers */
	EXPECT_EQ(0, create_region(fd, 4096, 0, ACTIVESWAP_NODE_ANY));
	close(fd);
}

AS_TEST_ORDER()

int main(int argc, char **argv)
{
	return test_harness_run(argc, argv);
}

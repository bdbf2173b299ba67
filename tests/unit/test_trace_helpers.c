// SPDX-License-Identifier: MIT
/* tools/trace_helpers.c: the parts of `activeswap trace` that need no BPF (log2 histogram
 * printer, bpffs checks, PATH lookup, process watch, clock). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "trace_helpers.h"

#define SLOTS 26

/* What trace_print_log2_hist printed, in a malloc'd string. */
static char *hist_text(const __u64 *h, int nslots)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	trace_print_log2_hist(f, h, nslots, "usecs");
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_hist_rows(void **state)
{
	__u64 h[SLOTS] = { 0 };
	char *s;

	(void)state;
	h[1] = 3;
	h[3] = 6;
	s = hist_text(h, SLOTS);
	assert_string_equal(s,
		"     usecs               : count    distribution\n"
		"         2 -> 3          : 3        |********************                    |\n"
		"         4 -> 7          : 0        |                                        |\n"
		"         8 -> 15         : 6        |****************************************|\n");
	free(s);
}

static void test_hist_ends(void **state)
{
	__u64 h[SLOTS] = { 0 };
	char *s;

	(void)state;
	h[0] = 1;
	h[SLOTS - 1] = 80; /* one star is 2 counts: slot 0 rounds 0.5 up */
	s = hist_text(h, SLOTS);
	assert_non_null(strstr(s, "         0 -> 1          : 1        |*       "));
	assert_non_null(strstr(s, "  33554432 -> inf        : 80       |********"));
	assert_null(strstr(s, "67108863"));
	free(s);

	memset(h, 0, sizeof(h));
	s = hist_text(h, SLOTS); /* all empty: nothing */
	assert_string_equal(s, "");
	free(s);
	h[2] = 1;
	s = hist_text(h, 0); /* out of range slot counts: nothing */
	assert_string_equal(s, "");
	free(s);
	s = hist_text(h, 65);
	assert_string_equal(s, "");
	free(s);
}

static void test_bpffs_refuses(void **state)
{
	char dir[] = "/tmp/as-trace-XXXXXX", sub[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/pins", dir);
	/* the parent is no bpf filesystem (and not /sys/fs/bpf, which it may mount) */
	assert_int_equal(trace_bpffs_prepare(sub), -1);
	assert_int_equal(access(sub, F_OK), -1); /* nothing created */
	assert_int_equal(trace_bpffs_prepare("relative/pins"), -1);
	assert_int_equal(trace_bpffs_prepare("/nonexistent-as-trace/pins"), -1);
	assert_int_equal(rmdir(dir), 0);
}

static void test_resolve_cmd(void **state)
{
	char dir[] = "/tmp/as-trace-XXXXXX", exe[64], plain[64], path[PATH_MAX + 16];
	char out[PATH_MAX], *old = getenv("PATH"), *saved = old ? strdup(old) : NULL;
	char *longname;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(exe, sizeof(exe), "%s/as-tool", dir);
	snprintf(plain, sizeof(plain), "%s/as-data", dir);
	f = fopen(exe, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(exe, 0755), 0);
	f = fopen(plain, "w");
	assert_non_null(f);
	fclose(f);

	/* empty entries are skipped; the first executable match wins */
	snprintf(path, sizeof(path), "::/nonexistent-as-trace:%s", dir);
	setenv("PATH", path, 1);
	assert_int_equal(trace_resolve_cmd("as-tool", out), 0);
	assert_string_equal(out, exe);
	/* a file that is not executable is not a command */
	errno = 0;
	assert_int_equal(trace_resolve_cmd("as-data", out), -1);
	assert_int_equal(errno, ENOENT);
	/* with a '/', the path itself, resolved */
	snprintf(path, sizeof(path), "%s/../%s/as-tool", dir, strrchr(dir, '/') + 1);
	assert_int_equal(trace_resolve_cmd(path, out), 0);
	assert_string_equal(out, exe);
	/* a name too long for any directory is not found (and nothing overflows) */
	longname = malloc(PATH_MAX + 1);
	assert_non_null(longname);
	memset(longname, 'a', PATH_MAX);
	longname[PATH_MAX] = 0;
	assert_int_equal(trace_resolve_cmd(longname, out), -1);
	free(longname);

	if (saved) {
		setenv("PATH", saved, 1);
		free(saved);
	} else {
		unsetenv("PATH");
	}
	unlink(exe);
	unlink(plain);
	assert_int_equal(rmdir(dir), 0);
}

static void test_process_gone(void **state)
{
	pid_t child;
	int status;

	(void)state;
	assert_false(trace_process_gone(getpid()));
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(0);
	/* a zombie (exited, not reaped) is gone */
	for (int i = 0; i < 500 && !trace_process_gone(child); i++)
		usleep(10000);
	assert_true(trace_process_gone(child));
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(trace_process_gone(child)); /* reaped: no such process */
}

static void test_clock(void **state)
{
	struct timespec ts;
	__u64 a, b, c;

	(void)state;
	a = trace_ktime_ns();
	trace_sleep(0.02);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	b = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	c = trace_ktime_ns();
	assert_true(b - a >= 20000000ULL); /* slept at least 20 ms, on CLOCK_MONOTONIC */
	assert_true(c >= b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_rows),
		cmocka_unit_test(test_hist_ends),
		cmocka_unit_test(test_bpffs_refuses),
		cmocka_unit_test(test_resolve_cmd),
		cmocka_unit_test(test_process_gone),
		cmocka_unit_test(test_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * Helpers of `activeswap trace` that know nothing of its BPF programs: the log2 histogram
 * printer, bpffs, the command's executable, the traced process, BTF probes, time.
 * See trace_helpers.h.
 */
#include "trace_helpers.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifdef AS_HAVE_BPF
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#endif

#define SUB "trace"
#define BPF_FS_MAGIC_ 0xcafe4a11

/* ---- the log2 histogram ---- */

static void print_stars(FILE *f, unsigned long long v, unsigned long long max, int width)
{
	int n = max ? (int)((double)v * width / (double)max + 0.5) : 0;

	if (n > width)
		n = width;
	fputc('|', f);
	for (int i = 0; i < width; i++)
		fputc(i < n ? '*' : ' ', f);
	fputc('|', f);
}

void trace_print_log2_hist(FILE *f, const __u64 *h, int nslots, const char *unit)
{
	int first = -1, last = -1;
	__u64 max = 0;

	if (nslots < 1 || nslots > 64)
		return;
	for (int i = 0; i < nslots; i++) {
		if (h[i] && first < 0)
			first = i;
		if (h[i])
			last = i;
		if (h[i] > max)
			max = h[i];
	}
	if (last < 0)
		return;
	fprintf(f, "%*s%-*s : count    distribution\n", 10, unit, 14, "");
	for (int i = first; i <= last; i++) {
		unsigned long long lo = i ? 1ULL << i : 0;

		if (i == nslots - 1)
			fprintf(f, "%10llu -> %-10s : %-8llu ", lo, "inf",
				(unsigned long long)h[i]);
		else
			fprintf(f, "%10llu -> %-10llu : %-8llu ", lo, (1ULL << (i + 1)) - 1,
				(unsigned long long)h[i]);
		print_stars(f, h[i], max, 40);
		fputc('\n', f);
	}
}

/* ---- bpffs ---- */

int trace_bpffs_prepare(const char *dir)
{
	struct statfs sf;
	char parent[PATH_MAX];
	char *slash;

	if (dir[0] != '/' || strlen(dir) >= sizeof(parent)) {
		cli_err(SUB, "--pin %s: not an absolute path shorter than %d bytes", dir,
			PATH_MAX);
		return -1;
	}
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = 0;
	else
		snprintf(parent, sizeof(parent), "/");
	if (statfs(parent, &sf)) {
		cli_err(SUB, "--pin %s: %s: %s", dir, parent, strerror(errno));
		return -1;
	}
	if ((unsigned long)sf.f_type != BPF_FS_MAGIC_) {
		if (strcmp(parent, "/sys/fs/bpf") ||
		    mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			cli_err(SUB, "--pin %s: %s is not a bpf filesystem (mount -t bpf bpf %s)",
				dir, parent, parent);
			return -1;
		}
		fprintf(stderr, "activeswap trace: mounted bpffs on /sys/fs/bpf\n");
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		cli_err(SUB, "--pin: mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

#ifdef AS_HAVE_BPF
int trace_pin_maps(struct bpf_map *const *maps, size_t n, const char *dir)
{
	char path[PATH_MAX];

	if (trace_bpffs_prepare(dir))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = bpf_map__name(maps[i]);

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
			cli_err(SUB, "pin %s/%s: path too long", dir, name);
			return -1;
		}
		unlink(path); /* a previous run's map */
		if (bpf_map__pin(maps[i], path)) {
			cli_err(SUB, "pin %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}
#endif

/* ---- the traced command and process ---- */

int trace_resolve_cmd(const char *cmd, char *out)
{
	const char *path = getenv("PATH");
	size_t clen = strlen(cmd);
	char buf[PATH_MAX];

	if (strchr(cmd, '/'))
		return realpath(cmd, out) ? 0 : -1;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");

		/* an empty entry is skipped, as is one too long to hold dir/cmd */
		if (len && len + clen + 2 <= sizeof(buf)) {
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, cmd);
			if (!access(buf, X_OK) && realpath(buf, out))
				return 0;
		}
		path += len;
		if (*path == ':')
			path++;
	}
	errno = ENOENT;
	return -1;
}

bool trace_process_gone(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	bool gone = false;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')'); /* comm may contain anything; the state follows ") " */
		gone = p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
	}
	fclose(f);
	return gone;
}

/* ---- the running kernel ---- */

#ifdef AS_HAVE_BPF
int trace_tp_nargs(const struct btf *btf, const char *tp)
{
	char name[128];
	const struct btf_type *t;
	int id;

	if ((size_t)snprintf(name, sizeof(name), "btf_trace_%s", tp) >= sizeof(name))
		return -1;
	id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, btf__resolve_type(btf, id));
	if (!t || !btf_is_ptr(t))
		return -1;
	t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_func_proto(t))
		return -1;
	return btf_vlen(t) - 1; /* the first parameter is the tracepoint's private data */
}
#endif

/* ---- time ---- */

__u64 trace_ktime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

void trace_sleep(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * activeswap trace: a live eBPF view of swapping, in the style of libbpf-tools.
 *
 * Loads bpf/activeswap.bpf.c (through the skeleton bpftool generated at build time),
 * attaches it to libswap's USDT probes in the traced binary, to the block layer's request
 * issue/complete tracepoints and, when the kernel module is loaded, to its activeswap:
 * tracepoints; prints per-layer fetch latency histograms, reads, bytes, hit rates and
 * per-token I/O stall time every interval and a summary at the end. With --pin the maps
 * stay pinned in bpffs for bpftool. Documentation/tracing.md describes it all.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef AS_HAVE_BPF

int cmd_trace(int argc, char **argv)
{
	cli_err("trace", "this build has no BPF support (clang, bpftool, libbpf-dev or the "
		"kernel BTF were missing when it was built; see mk/bpf.mk)");
	return 1;
}

#else

#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "activeswap.skel.h"
#include "args.h"
#include "trace_attach.h"
#include "trace_helpers.h"
#include "trace_report.h"
#include "trace_snapshot.h"

#define SUB "trace"
#define DEFAULT_PIN_DIR "/sys/fs/bpf/activeswap"
#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

struct trace_opts {
	pid_t pid;		/* -p */
	const char *binary;	/* --binary */
	double interval;	/* --interval, 0 = summary only */
	double duration;	/* --duration, 0 = until Ctrl-C / the process ends */
	const char *pin_dir;	/* --pin, NULL = do not pin */
	bool json;
	bool verbose;
	char **cmd;		/* -- COMMAND ... */
};

static volatile sig_atomic_t stop_flag;
static bool verbose_libbpf;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* our own messages say what failed; libbpf's details only with -v */
	if (level == LIBBPF_DEBUG || !verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: activeswap trace [-p PID] [--binary PATH] [--interval S] [--duration S]\n"
		"                        [--pin [DIR]] [--json] [-v] [-- COMMAND [ARGS...]]\n"
		"\n"
		"Live eBPF view of swapping: per layer the fetch latency histogram (log2 us),\n"
		"reads, bytes, hit rate; per token the I/O stall time; block device latency.\n"
		"Summary on Ctrl-C, at the end of --duration, or when PID / COMMAND exits.\n"
		"\n"
		"  -p PID          trace only this process (its executable unless --binary)\n"
		"  --binary PATH   executable holding libswap's USDT probes (default: COMMAND,\n"
		"                  /proc/PID/exe, or this activeswap binary)\n"
		"  --interval S    seconds between live reports (default 1; 0 = summary only)\n"
		"  --duration S    stop after S seconds\n"
		"  --pin [DIR]     pin the maps in bpffs (default %s) for\n"
		"                  'bpftool map dump pinned DIR/<map>'; they stay after exit\n"
		"  --json          one JSON object per report instead of tables\n"
		"  -v              libbpf warnings and attach details on stderr\n"
		"  -- COMMAND      run COMMAND and trace it until it exits\n"
		"\nNeeds CAP_BPF and CAP_PERFMON (or root) and a kernel with BTF.\n",
		DEFAULT_PIN_DIR);
}

static int opt_binary(void *ptr, const char *sub, const char *flag, const char *val)
{
	if (!*val) {
		cli_err(sub, "%s needs a path", flag);
		return -1;
	}
	*(const char **)ptr = val;
	return 0;
}

static int opt_interval(void *ptr, const char *sub, const char *flag, const char *val)
{
	double *interval = ptr;

	if (cli_double(sub, flag, val, 0, 86400, interval))
		return -1;
	if (*interval > 0 && *interval < 0.01) {
		cli_err(sub, "bad value for %s: must be 0 or >= 0.01", flag);
		return -1;
	}
	return 0;
}

/* --pin [DIR]: DIR is the next word when it is an absolute path */
static bool pin_takes(const char *word)
{
	return word[0] == '/';
}

static int opt_pin(void *ptr, const char *sub, const char *flag, const char *val)
{
	if (!val) {
		val = DEFAULT_PIN_DIR;
	} else if (val[0] != '/') {
		cli_err(sub, "bad value for %s: '%s' (must be an absolute path)", flag, val);
		return -1;
	}
	*(const char **)ptr = val;
	return 0;
}

/* -1: go on; otherwise the exit status (0 after --help, 2 after one line). */
static int parse_args(int argc, char **argv, struct trace_opts *o)
{
	long pid = 0;
	const struct arg_opt opts[] = {
		ARG_OPT_LONG("--pid", "-p", &pid, 1, INT_MAX),
		ARG_OPT_FN("--binary", NULL, &o->binary, opt_binary),
		ARG_OPT_FN("--interval", NULL, &o->interval, opt_interval),
		ARG_OPT_DOUBLE("--duration", NULL, &o->duration, 0.01, 1e7),
		{ .name = "--pin", .kind = ARG_FN, .flags = ARG_OPTIONAL, .ptr = &o->pin_dir,
		  .fn = opt_pin, .takes_next = pin_takes },
		ARG_OPT_BOOL("--json", NULL, &o->json),
		ARG_OPT_BOOL("--verbose", "-v", &o->verbose),
		ARG_OPT_END,
	};
	const struct arg_spec spec = {
		.sub = SUB, .tables = { opts }, .usage_fn = usage, .rest = &o->cmd,
	};
	int rc;

	memset(o, 0, sizeof(*o));
	o->interval = 1.0;
	rc = args_parse(&spec, argc, argv);
	if (rc >= 0)
		return rc;
	o->pid = (pid_t)pid;
	if (o->cmd && !o->cmd[0]) {
		cli_err(SUB, "-- needs a command");
		return 2;
	}
	if (o->pid && o->cmd) {
		cli_err(SUB, "-p and -- COMMAND exclude each other");
		return 2;
	}
	if (o->pin_dir && strlen(o->pin_dir) > PATH_MAX - 32) {
		cli_err(SUB, "bad value for --pin: path too long");
		return 2;
	}
	return -1;
}

/* ---- prerequisites: say exactly what is missing ---- */

static bool have_cap(const struct __user_cap_data_struct d[2], int cap)
{
	return d[cap >> 5].effective & (1u << (cap & 31));
}

static int check_privileges(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (access(VMLINUX_BTF, R_OK)) {
		cli_err(SUB, "the kernel has no BTF (%s: %s); a kernel built with "
			"CONFIG_DEBUG_INFO_BTF=y is needed", VMLINUX_BTF, strerror(errno));
		return -1;
	}
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d)) {
		cli_err(SUB, "capget: %s", strerror(errno));
		return -1;
	}
	if (have_cap(d, CAP_SYS_ADMIN))
		return 0;
	if (!have_cap(d, CAP_BPF) || !have_cap(d, CAP_PERFMON)) {
		cli_err(SUB, "missing capability %s%s%s: run as root or grant CAP_BPF and "
			"CAP_PERFMON", have_cap(d, CAP_BPF) ? "" : "CAP_BPF",
			!have_cap(d, CAP_BPF) && !have_cap(d, CAP_PERFMON) ? " and " : "",
			have_cap(d, CAP_PERFMON) ? "" : "CAP_PERFMON");
		return -1;
	}
	return 0;
}

/* ---- the command ---- */

/* Pins the maps the tracer fills (not the programs' internal ones) in dir. */
static int pin_maps(struct activeswap_bpf *skel, const char *dir)
{
	struct bpf_map *maps[] = { skel->maps.layer_stats, skel->maps.token_stats,
				   skel->maps.blk_stats, skel->maps.totals,
				   skel->maps.kmod_stats };

	return trace_pin_maps(maps, sizeof(maps) / sizeof(maps[0]), dir);
}

/* One live report: the maps now against prev, and the tokens that ended since
 * *tokens_seen_ns (then moved on to now). */
static void report_interval(struct activeswap_bpf *skel, struct snapshot *cur,
			    const struct snapshot *prev, __u64 *tokens_seen_ns, bool kmod,
			    bool json)
{
	struct token_row *toks = NULL;
	__u64 cutoff;
	int ntok;

	trace_read_snapshot(skel, cur);
	cutoff = trace_ktime_ns();
	ntok = trace_read_tokens(skel, *tokens_seen_ns, cutoff, &toks);
	*tokens_seen_ns = cutoff;
	trace_report_interval(cur, prev, toks, ntok > 0 ? ntok : 0, kmod, json);
	free(toks);
}

static void report_summary(struct activeswap_bpf *skel, struct snapshot *cur, bool kmod,
			   bool json, const char *pin_dir)
{
	struct token_row *toks = NULL;
	int ntok;

	trace_read_snapshot(skel, cur);
	ntok = trace_read_tokens(skel, 0, UINT64_MAX, &toks);
	trace_report_summary(cur, toks, ntok > 0 ? ntok : 0, kmod, json, pin_dir);
	free(toks);
}

int cmd_trace(int argc, char **argv)
{
	struct trace_opts o;
	struct activeswap_bpf *skel = NULL;
	struct btf *vmlinux = NULL;
	struct trace_links links = { .n = 0 };
	struct snapshot cur = { 0 }, prev = { 0 };
	char binary[PATH_MAX];
	int gate[2] = { -1, -1 };
	pid_t child = 0;
	int child_status = 0, rc = 1, err;
	__u64 tokens_seen_ns = 0;
	double t0, next_report;
	struct sigaction sa;

	err = parse_args(argc, argv, &o);
	if (err >= 0)
		return err;
	verbose_libbpf = o.verbose;
	libbpf_set_print(libbpf_print);

	if (o.binary) {
		if (!realpath(o.binary, binary)) {
			cli_err(SUB, "--binary %s: %s", o.binary, strerror(errno));
			return 2;
		}
	} else if (o.cmd) {
		if (trace_resolve_cmd(o.cmd[0], binary)) {
			cli_err(SUB, "%s: command not found", o.cmd[0]);
			return 2;
		}
	} else {
		char exe[64];

		snprintf(exe, sizeof(exe), "/proc/%d/exe", o.pid ? (int)o.pid : (int)getpid());
		if (!realpath(exe, binary)) {
			if (o.pid)
				cli_err(SUB, "-p %d: %s", (int)o.pid, strerror(errno));
			else
				cli_err(SUB, "%s: %s", exe, strerror(errno));
			return o.pid ? 2 : 1;
		}
	}
	if (check_privileges())
		return 1;

	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		cli_err(SUB, "cannot read the kernel BTF (%s): %s", VMLINUX_BTF, strerror(errno));
		return 1;
	}
	skel = activeswap_bpf__open();
	if (!skel) {
		cli_err(SUB, "opening the BPF object failed: %s", strerror(errno));
		goto out;
	}
	trace_select_block_progs(skel, vmlinux, o.verbose);
	err = activeswap_bpf__load(skel);
	if (err) {
		cli_err(SUB, "loading the BPF programs failed: %s%s", strerror(-err),
			err == -EPERM || err == -EACCES
				? " (needs CAP_BPF and CAP_PERFMON, or root; a lockdown or "
				  "kernel.unprivileged_bpf_disabled policy may also refuse it)"
				: " (run with -v for the verifier log)");
		goto out;
	}
	if (o.pin_dir && pin_maps(skel, o.pin_dir))
		goto out;

	if (o.cmd) {
		/* The child waits on the gate until the probes are attached and filtered to it,
		 * so none of its events is missed. */
		if (pipe2(gate, O_CLOEXEC)) {
			cli_err(SUB, "pipe: %s", strerror(errno));
			goto out;
		}
		fflush(NULL);
		child = fork();
		if (child < 0) {
			cli_err(SUB, "fork: %s", strerror(errno));
			goto out;
		}
		if (!child) {
			char c;
			ssize_t r;

			close(gate[1]);
			do
				r = read(gate[0], &c, 1);
			while (r < 0 && errno == EINTR);
			if (r != 1)
				_exit(127);
			execvp(o.cmd[0], o.cmd);
			fprintf(stderr, "activeswap trace: exec %s: %s\n", o.cmd[0],
				strerror(errno));
			_exit(127);
		}
		close(gate[0]);
		gate[0] = -1;
		skel->bss->filter_tgid = (__u32)child;
	} else if (o.pid) {
		skel->bss->filter_tgid = (__u32)o.pid;
	}

	trace_attach_all(skel, vmlinux, o.pid, binary, &links, o.verbose);
	if (o.verbose)
		fprintf(stderr, "trace: %d USDT probes in %s, %d block tracepoints, %d module "
			"tracepoints\n", links.usdt, binary, links.blk, links.kmod);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	cur.layers = calloc(AS_MAX_LAYERS, sizeof(*cur.layers));
	prev.layers = calloc(AS_MAX_LAYERS, sizeof(*prev.layers));
	if (!cur.layers || !prev.layers) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	if (child) {
		if (write(gate[1], "g", 1) != 1) {
			cli_err(SUB, "starting %s: %s", o.cmd[0], strerror(errno));
			goto out;
		}
		close(gate[1]);
		gate[1] = -1;
	} else if (!o.json) {
		fprintf(stderr, "Tracing %s%s... Hit Ctrl-C to end.\n", binary,
			o.pid ? " (one process)" : "");
	}

	t0 = cli_now();
	next_report = o.interval > 0 ? t0 + o.interval : 0;
	while (!stop_flag) {
		double now = cli_now(), wait = 0.1;

		if (child) {
			pid_t w = waitpid(child, &child_status, WNOHANG);

			if (w == child) {
				child = 0;
				break;
			}
		} else if (o.pid && trace_process_gone(o.pid)) {
			break;
		}
		if (o.duration > 0 && now - t0 >= o.duration)
			break;
		if (next_report && now >= next_report) {
			report_interval(skel, &cur, &prev, &tokens_seen_ns, links.kmod > 0,
					o.json);
			struct layer_row *tmp = prev.layers;
			prev = cur;
			cur.layers = tmp;
			next_report += o.interval;
			if (next_report < now)
				next_report = now + o.interval;
		}
		if (next_report && next_report - now < wait)
			wait = next_report - now;
		if (o.duration > 0 && t0 + o.duration - now < wait)
			wait = t0 + o.duration - now;
		if (wait > 0)
			trace_sleep(wait);
	}
	if (child) {
		/* interrupted: stop the command too (SIGKILL after 2 s), and reap it */
		kill(child, SIGTERM);
		for (int i = 0; waitpid(child, &child_status, WNOHANG) == 0; i++) {
			if (i == 200)
				kill(child, SIGKILL);
			trace_sleep(0.01);
		}
		child = 0;
	}
	report_summary(skel, &cur, links.kmod > 0, o.json, o.pin_dir);
	rc = 0;
	if (o.cmd && WIFEXITED(child_status) && WEXITSTATUS(child_status)) {
		fprintf(stderr, "activeswap trace: %s exited with status %d\n", o.cmd[0],
			WEXITSTATUS(child_status));
		rc = 1;
	} else if (o.cmd && WIFSIGNALED(child_status)) {
		fprintf(stderr, "activeswap trace: %s killed by signal %d\n", o.cmd[0],
			WTERMSIG(child_status));
		rc = 1;
	}
out:
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	if (gate[0] >= 0)
		close(gate[0]);
	if (gate[1] >= 0)
		close(gate[1]);
	free(cur.layers);
	free(prev.layers);
	trace_links_destroy(&links);
	activeswap_bpf__destroy(skel); /* pinned maps live on in bpffs */
	btf__free(vmlinux);
	return rc;
}

#endif /* AS_HAVE_BPF */

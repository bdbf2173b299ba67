/* SPDX-License-Identifier: MIT */
/*
 * Helpers of `activeswap trace` that know nothing of its BPF programs, in the manner of
 * libbpf-tools' trace_helpers.c: the log2 histogram printer, bpffs (mount check, pinning
 * maps), finding the executable of a command, watching the traced process, reading the
 * running kernel's BTF, time. See Documentation/tracing.md.
 *
 * The functions that take libbpf types exist only in builds with BPF support (AS_HAVE_BPF);
 * the others are always built.
 */
#ifndef ACTIVESWAP_TRACE_HELPERS_H
#define ACTIVESWAP_TRACE_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <linux/types.h>

struct bpf_map;
struct btf;

/*
 * A log2 histogram of nslots (1..64) slots as a table with a bar of up to 40 stars per
 * slot, from the first to the last non-empty slot: slot i counts values in [2^i, 2^(i+1)),
 * slot 0 also 0, the last slot everything from 2^(nslots-1) on ("inf"). unit heads the
 * value column. Prints nothing when every slot is 0.
 */
void trace_print_log2_hist(FILE *f, const __u64 *h, int nslots, const char *unit);

/*
 * Prepares dir for pinning: its parent must be a bpf filesystem (one is mounted on
 * /sys/fs/bpf when that is the parent and none is there yet), and dir is created (mode
 * 0700) unless it exists. dir is an absolute path shorter than PATH_MAX. Says what is
 * wrong on stderr and returns -1.
 */
int trace_bpffs_prepare(const char *dir);

/* trace_bpffs_prepare(dir), then pins maps[0..n) as dir/<map name>, replacing a previous
 * run's map of that name. Says what failed on stderr and returns -1. */
int trace_pin_maps(struct bpf_map *const *maps, size_t n, const char *dir);

/*
 * The resolved absolute path of the executable execvp() would run for cmd, into
 * out[PATH_MAX]: cmd itself when it holds a '/', else the first executable cmd in a
 * directory of $PATH (default "/usr/local/bin:/usr/bin:/bin"). -1 with errno otherwise.
 */
int trace_resolve_cmd(const char *cmd, char *out);

/* Whether process pid has ended: it no longer exists or is a zombie (or dead) its parent
 * has not reaped yet. */
bool trace_process_gone(pid_t pid);

/* The number of arguments of tracepoint tp in btf (the prototype of its btf_trace_<tp>
 * typedef, without the tracepoint's private data), or -1 when btf has no such tracepoint. */
int trace_tp_nargs(const struct btf *btf, const char *tp);

/* Now on CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns(). */
__u64 trace_ktime_ns(void);

/* Sleeps s seconds (s >= 0); a signal ends it early. */
void trace_sleep(double s);

#endif

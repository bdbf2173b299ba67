/* SPDX-License-Identifier: MIT */
/*
 * `activeswap trace`: attaching the programs of bpf/activeswap.bpf.c to libswap's USDT
 * probes, the block layer's request tracepoints and the kernel module's tracepoints, in
 * the variants the running kernel's BTF calls for. Only in builds with BPF support.
 */
#ifndef ACTIVESWAP_TRACE_ATTACH_H
#define ACTIVESWAP_TRACE_ATTACH_H

#include <stdbool.h>
#include <sys/types.h>

struct activeswap_bpf;
struct bpf_link;
struct btf;

/* The links of a trace, and how many of each kind are attached. */
struct trace_links {
	struct bpf_link *l[64];
	int n;
	int usdt;	/* USDT probes attached */
	int blk;	/* block tracepoints attached */
	int kmod;	/* module tracepoints attached */
};

/* Before loading: have only the block tracepoint programs load that match vmlinux's
 * prototypes of block_rq_issue/block_rq_complete (none, with a warning, when neither
 * does). */
void trace_select_block_progs(struct activeswap_bpf *skel, const struct btf *vmlinux,
			      bool verbose);

/*
 * After loading: attaches the USDT programs to the probes in binary (of process pid; 0:
 * of every process), the block programs that were loaded and, when the module is loaded,
 * its tracepoints whose argument count its BTF confirms. What cannot be attached is left
 * out with a warning (the USDT probes, as a whole, and the tracepoints) or, with verbose,
 * a note; what is attached is counted in ls.
 */
void trace_attach_all(struct activeswap_bpf *skel, struct btf *vmlinux, pid_t pid,
		      const char *binary, struct trace_links *ls, bool verbose);

/* Detaches and frees every link in ls. */
void trace_links_destroy(struct trace_links *ls);

#endif

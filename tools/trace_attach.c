// SPDX-License-Identifier: MIT
/*
 * `activeswap trace`: attaching the BPF programs to libswap's USDT probes, the block
 * layer and the kernel module's tracepoints. See trace_attach.h.
 */
#ifdef AS_HAVE_BPF

#include "trace_attach.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "activeswap.skel.h"
#include "trace_helpers.h"

#define MODULE_BTF "/sys/kernel/btf/activeswap"

static void links_add(struct trace_links *ls, struct bpf_link *l)
{
	if (ls->n < (int)(sizeof(ls->l) / sizeof(ls->l[0])))
		ls->l[ls->n++] = l;
	else
		bpf_link__destroy(l);
}

void trace_links_destroy(struct trace_links *ls)
{
	while (ls->n)
		bpf_link__destroy(ls->l[--ls->n]);
}

/* The module's tracepoints (module/activeswap_trace.h), when the module is loaded. With
 * the module's BTF, each one is attached only if its argument count is the one the program
 * was written for; without it (a module built without BTF) the kernel's own check remains:
 * it refuses a raw tracepoint program that reads past the last argument. */
static void attach_kmod(struct activeswap_bpf *skel, struct btf *vmlinux,
			struct trace_links *ls, bool verbose)
{
	const struct {
		const char *name;
		int nargs;
		struct bpf_program *prog;
	} tps[] = {
		{ "activeswap_region_create", 5, skel->progs.kmod_region_create },
		{ "activeswap_region_free", 2, skel->progs.kmod_region_free },
		{ "activeswap_fetch_submit", 6, skel->progs.kmod_fetch_submit },
		{ "activeswap_fetch_complete", 4, skel->progs.kmod_fetch_complete },
		{ "activeswap_fetch_cancel", 3, skel->progs.kmod_fetch_cancel },
	};
	struct btf *mbtf = NULL;

	if (access("/sys/module/activeswap", F_OK))
		return; /* module not loaded */
	if (!access(MODULE_BTF, R_OK)) {
		mbtf = btf__load_module_btf("activeswap", vmlinux);
		if (!mbtf && verbose)
			fprintf(stderr, "trace: %s: cannot read module BTF\n", MODULE_BTF);
	}
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++) {
		int have = mbtf ? trace_tp_nargs(mbtf, tps[i].name) : tps[i].nargs;
		struct bpf_link *l;

		if (have < 0) {
			if (verbose)
				fprintf(stderr, "trace: the module has no tracepoint %s\n",
					tps[i].name);
			continue;
		}
		if (have != tps[i].nargs) {
			fprintf(stderr, "activeswap trace: module tracepoint %s has %d arguments, "
				"this tracer knows %d; not attached\n", tps[i].name, have,
				tps[i].nargs);
			continue;
		}
		l = bpf_program__attach_raw_tracepoint(tps[i].prog, tps[i].name);
		if (!l) {
			fprintf(stderr, "activeswap trace: module tracepoint %s: %s\n", tps[i].name,
				strerror(errno));
			continue;
		}
		links_add(ls, l);
		ls->kmod++;
		if (verbose)
			fprintf(stderr, "trace: attached module tracepoint %s\n", tps[i].name);
	}
	btf__free(mbtf);
}

static const char *const usdt_names[] = {
	"fetch_submit", "fetch_complete", "bundle_bytes", "cache_hit", "cache_miss",
	"cache_evict", "stall", "token_begin", "token_end", "layer_begin", "expert_lookup",
};

static struct bpf_program *usdt_prog(struct activeswap_bpf *skel, int i)
{
	struct bpf_program *p[] = {
		skel->progs.fetch_submit, skel->progs.fetch_complete, skel->progs.bundle_bytes,
		skel->progs.cache_hit,	  skel->progs.cache_miss,     skel->progs.cache_evict,
		skel->progs.stall,	  skel->progs.token_begin,    skel->progs.token_end,
		skel->progs.layer_begin,  skel->progs.expert_lookup,
	};
	return p[i];
}

void trace_attach_all(struct activeswap_bpf *skel, struct btf *vmlinux, pid_t pid,
		      const char *binary, struct trace_links *ls, bool verbose)
{
	const int nusdt = (int)(sizeof(usdt_names) / sizeof(usdt_names[0]));
	struct bpf_link *l;

	for (int i = 0; i < nusdt; i++) {
		l = bpf_program__attach_usdt(usdt_prog(skel, i), pid ? pid : -1, binary,
					     "activeswap", usdt_names[i], NULL);
		if (!l) {
			if (verbose)
				fprintf(stderr, "trace: USDT activeswap:%s in %s: %s\n",
					usdt_names[i], binary, strerror(errno));
			continue;
		}
		links_add(ls, l);
		ls->usdt++;
	}
	if (!ls->usdt)
		fprintf(stderr, "activeswap trace: warning: no activeswap USDT probes in %s "
			"(is libswap linked into it? 'readelf -n' lists stapsdt notes); "
			"tracing the block layer only\n", binary);

	struct bpf_program *blk[] = { skel->progs.blk_issue, skel->progs.blk_issue_q,
				      skel->progs.blk_complete };
	for (size_t i = 0; i < sizeof(blk) / sizeof(blk[0]); i++) {
		if (!bpf_program__autoload(blk[i]))
			continue;
		l = bpf_program__attach(blk[i]);
		if (!l) {
			fprintf(stderr, "activeswap trace: block tracepoint %s: %s\n",
				bpf_program__name(blk[i]), strerror(errno));
			continue;
		}
		links_add(ls, l);
		ls->blk++;
	}
	attach_kmod(skel, vmlinux, ls, verbose);
}

/* Choose the block tracepoint programs that match this kernel's BTF. */
void trace_select_block_progs(struct activeswap_bpf *skel, const struct btf *vmlinux,
			      bool verbose)
{
	int issue = trace_tp_nargs(vmlinux, "block_rq_issue");
	int complete = trace_tp_nargs(vmlinux, "block_rq_complete");

	bpf_program__set_autoload(skel->progs.blk_issue, issue == 1 && complete == 3);
	bpf_program__set_autoload(skel->progs.blk_issue_q, issue == 2 && complete == 3);
	bpf_program__set_autoload(skel->progs.blk_complete, (issue == 1 || issue == 2) &&
							    complete == 3);
	if (complete != 3 || (issue != 1 && issue != 2))
		fprintf(stderr, "activeswap trace: warning: block_rq_issue/block_rq_complete "
			"have an unknown form in this kernel's BTF (%d/%d args); no device "
			"latency\n", issue, complete);
	else if (verbose)
		fprintf(stderr, "trace: block_rq_issue takes %d argument(s)\n", issue);
}

#endif /* AS_HAVE_BPF */

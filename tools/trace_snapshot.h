/* SPDX-License-Identifier: MIT */
/*
 * `activeswap trace`: reading the BPF maps (bpf/activeswap_maps.h) into snapshots, and the
 * deltas between two snapshots. Every map value is a cumulative counter; a live report
 * shows the difference between two snapshots. Only in builds with BPF support.
 */
#ifndef ACTIVESWAP_TRACE_SNAPSHOT_H
#define ACTIVESWAP_TRACE_SNAPSHOT_H

#include <stddef.h>

#include <linux/types.h>
#include "activeswap_maps.h"

struct activeswap_bpf;

struct layer_row {
	__s32 layer;
	struct as_layer_stats s;
};

struct token_row {
	__u64 token;
	struct as_token_stats s;
};

/* The maps at one moment: layers (an array of AS_MAX_LAYERS the caller allocates) by
 * layer number, the totals, the module's counters, the block devices; and lost, the times
 * the kernel skipped one of the programs because it was already running on that CPU (the
 * programs' recursion_misses, summed). */
struct snapshot {
	struct layer_row *layers;
	int nlayers;
	struct as_totals tot;
	struct as_kmod_stats kmod;
	struct {
		__u32 dev;
		struct as_blk_stats s;
	} blk[AS_MAX_DEVS];
	int nblk;
	__u64 lost;
};

void trace_read_snapshot(struct activeswap_bpf *skel, struct snapshot *s);

/*
 * The tokens that ended in (since_ns, until_ns], by end time, into *out (an array the
 * caller frees); returns their number, or -1 when out of memory. Times are
 * bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC (trace_ktime_ns()): a cut-off taken before the
 * scan makes consecutive intervals see every token exactly once although the map changes
 * while it is iterated.
 */
int trace_read_tokens(struct activeswap_bpf *skel, __u64 since_ns, __u64 until_ns,
		      struct token_row **out);

/* d = cur - prev for n counters (prev NULL: d = cur). */
void trace_sub_u64s(__u64 *d, const __u64 *cur, const __u64 *prev, size_t n);

/* Layer layer's counters in s, or NULL when s has none. */
const struct as_layer_stats *trace_find_layer(const struct snapshot *s, __s32 layer);

/* The counters of block device i of s minus the same device's in prev (prev NULL, or
 * without that device: s's own). */
void trace_blk_delta(const struct snapshot *s, const struct snapshot *prev, int i,
		     struct as_blk_stats *d);

#endif

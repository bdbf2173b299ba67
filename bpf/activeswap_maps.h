/* SPDX-License-Identifier: MIT */
/*
 * Types shared by the BPF programs in bpf/activeswap.bpf.c and `activeswap trace`
 * (tools/cmd_trace.c, tools/trace_snapshot.c, tools/trace_report.c). These are the value
 * layouts of the maps the tracer pins, so `bpftool map dump pinned
 * /sys/fs/bpf/activeswap/<map>` prints them with these field names (the maps carry BTF).
 * See Documentation/tracing.md.
 *
 * Only fixed-width integer types: the header is compiled both against vmlinux.h (BPF side)
 * and <stdint.h>/<linux/types.h> (userspace).
 */
#ifndef ACTIVESWAP_MAPS_H
#define ACTIVESWAP_MAPS_H

/* log2(µs) histogram slots: slot i counts latencies in [2^i, 2^(i+1)) µs, slot 0 also < 1 µs;
 * the last slot collects everything >= 2^(AS_HIST_SLOTS-1) µs (~33 s). */
#define AS_HIST_SLOTS 26

/* Map sizes. Layers beyond AS_MAX_LAYERS distinct keys are counted in totals only. */
#define AS_MAX_LAYERS 1024
#define AS_MAX_TOKENS 65536
#define AS_MAX_DEVS 64
#define AS_MAX_INFLIGHT_RQ 16384

/* Per layer, summed from libswap's USDT probes (map "layer_stats", key: __s32 layer). */
struct as_layer_stats {
	__u64 reads;		/* fetch_submit with this first layer */
	__u64 read_bytes;	/* fetch_submit bytes with this first layer */
	__u64 bytes;		/* bundle_bytes: this layer's share of all reads */
	__u64 completes;	/* fetch_complete */
	__u64 errors;		/* fetch_complete with result < 0 */
	__u64 lat_ns;		/* sum of fetch_complete latency */
	__u64 hits;		/* cache_hit */
	__u64 misses;		/* cache_miss */
	__u64 evicts;		/* cache_evict */
	__u64 passes;		/* layer_begin */
	__u64 stalls;		/* stall: waits that blocked */
	__u64 stall_ns;		/* stall: their time */
	__u64 expert_lookups;	/* expert_lookup: bundles of the experts the router chose */
	__u64 expert_hits;	/* expert_lookup: those in DRAM at that moment */
	__u64 hist[AS_HIST_SLOTS]; /* fetch_complete latency, log2 µs */
};

/* Per token (map "token_stats", key: __u64 token). */
struct as_token_stats {
	__u64 begin_ns;		/* bpf_ktime_get_ns() at token_begin, 0 if not seen */
	__u64 end_ns;		/* at token_end, 0 while the token is open */
	__u64 stall_ns;		/* token_end's I/O stall argument */
};

/* Per block device (map "blk_stats", key: __u32 dev = major << 20 | minor). */
struct as_blk_stats {
	__u64 requests;		/* completions (block_rq_complete) */
	__u64 bytes;		/* their completed bytes */
	__u64 errors;		/* completions with a non-zero status */
	__u64 untimed;		/* completions whose issue was not seen: in flight when the
				 * trace began, or the issue event was lost */
	__u64 lat_ns;		/* sum of issue -> complete time of the others */
	__u64 hist[AS_HIST_SLOTS]; /* issue -> complete, log2 µs: requests - untimed */
};

/* Event counters (map "totals", one entry, key 0). */
struct as_totals {
	__u64 fetch_submit;
	__u64 fetch_complete;
	__u64 fetch_errors;
	__u64 submit_bytes;
	__u64 complete_bytes;	/* sum of positive fetch_complete results */
	__u64 bundle_bytes;
	__u64 cache_hit;
	__u64 cache_miss;
	__u64 cache_evict;
	__u64 token_begin;
	__u64 token_end;
	__u64 stall_ns;		/* sum of token_end stall_ns */
	__u64 layer_begin;
	__u64 stalls;		/* stall probe count (its time is in stall_wait_ns) */
	__u64 stall_wait_ns;	/* sum of the stall probe's stall_ns */
	__u64 layer_overflow;	/* events whose layer did not fit in layer_stats */
	__u64 token_overflow;	/* tokens that did not fit in token_stats */
	__u64 expert_lookups;	/* expert_lookup (a store with experts) */
	__u64 expert_hits;
};

/* The kernel module's activeswap: tracepoints, when it is loaded (map "kmod_stats", one
 * entry, key 0). Arguments as in module/activeswap_trace.h. */
struct as_kmod_stats {
	__u64 region_create;	/* activeswap_region_create */
	__u64 region_free;	/* activeswap_region_free */
	__u64 fetch_submit;	/* activeswap_fetch_submit */
	__u64 submit_bytes;	/* its length */
	__u64 fetch_complete;	/* activeswap_fetch_complete */
	__u64 complete_bytes;	/* its result when >= 0 */
	__u64 errors;		/* its result when < 0 */
	__u64 lat_ns;		/* sum of its latency_ns */
	__u64 fetch_cancel;	/* activeswap_fetch_cancel */
	__u64 hist[AS_HIST_SLOTS]; /* fetch_complete latency_ns, log2 µs */
};

#endif

// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * activeswap tracer, BPF side (CO-RE). Loaded by `activeswap trace` (tools/cmd_trace.c)
 * through the skeleton bpftool generates from this file.
 *
 * Sources of events:
 *  - libswap's USDT probes (provider "activeswap", Documentation/usdt.md): fetch
 *    submit/complete, per-layer bytes, cache hit/miss/evict, stalls, token and layer
 *    boundaries.
 *    Every counter here is a plain sum of probe arguments, so it equals libswap's own stats.
 *  - the block layer's request issue/complete tracepoints (BTF-typed, tp_btf), for device
 *    latency; userspace picks the variant matching the running kernel's BTF.
 *  - the kernel module's activeswap: tracepoints when the module is loaded (raw_tp, attached
 *    by name from userspace; counted only, their fields are not read).
 *
 * All maps are cumulative: userspace computes interval deltas, and pinned maps show totals.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>

#include "activeswap_maps.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by userspace (the .bss is mmapped): only count USDT events of this process (tgid);
 * 0 counts every process that runs the traced binary. */
__u32 filter_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AS_MAX_LAYERS);
	__type(key, __s32);
	__type(value, struct as_layer_stats);
} layer_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AS_MAX_TOKENS);
	__type(key, __u64);
	__type(value, struct as_token_stats);
} token_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AS_MAX_DEVS);
	__type(key, __u32);
	__type(value, struct as_blk_stats);
} blk_stats SEC(".maps");

/* request pointer -> issue time */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AS_MAX_INFLIGHT_RQ);
	__type(key, __u64);
	__type(value, __u64);
} blk_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct as_totals);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct as_kmod_stats);
} kmod_stats SEC(".maps");

#define ADD(field, v) __sync_fetch_and_add(&(field), (v))

static __always_inline bool wanted(void)
{
	__u32 want = filter_tgid;

	return !want || (__u32)(bpf_get_current_pid_tgid() >> 32) == want;
}

static __always_inline struct as_totals *tot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&totals, &zero);
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	/* bounded loop the verifier unrolls: at most 64 steps */
#pragma unroll
	for (int i = 32; i > 0; i >>= 1) {
		if (v >= (1ULL << i)) {
			v >>= i;
			r += i;
		}
	}
	return r;
}

static __always_inline __u32 hist_slot(__u64 ns)
{
	__u64 us = ns / 1000;
	__u32 s = us ? log2_u64(us) : 0;

	return s < AS_HIST_SLOTS ? s : AS_HIST_SLOTS - 1;
}

/* The stats of a layer, created zeroed on first use; NULL (counted) when the map is full. */
static struct as_layer_stats *layer(__s32 l)
{
	static const struct as_layer_stats zero;
	struct as_layer_stats *s;
	struct as_totals *t;

	s = bpf_map_lookup_elem(&layer_stats, &l);
	if (s)
		return s;
	bpf_map_update_elem(&layer_stats, &l, &zero, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&layer_stats, &l);
	if (!s && (t = tot()))
		ADD(t->layer_overflow, 1);
	return s;
}

static struct as_token_stats *token(__u64 tok)
{
	static const struct as_token_stats zero;
	struct as_token_stats *s;
	struct as_totals *t;

	s = bpf_map_lookup_elem(&token_stats, &tok);
	if (s)
		return s;
	bpf_map_update_elem(&token_stats, &tok, &zero, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&token_stats, &tok);
	if (!s && (t = tot()))
		ADD(t->token_overflow, 1);
	return s;
}

/* ---- libswap USDT probes (argument lists: Documentation/usdt.md) ---- */

SEC("usdt")
int BPF_USDT(fetch_submit, __u64 tag, __s32 lay, __u64 bytes, __s32 prio)
{
	struct as_layer_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot())) {
		ADD(t->fetch_submit, 1);
		ADD(t->submit_bytes, bytes);
	}
	if ((s = layer(lay))) {
		ADD(s->reads, 1);
		ADD(s->read_bytes, bytes);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(fetch_complete, __u64 tag, __s32 lay, __u64 bytes, __s64 result, __u64 lat_ns)
{
	struct as_layer_stats *s;
	struct as_totals *t;
	__u32 slot = hist_slot(lat_ns);

	if (!wanted())
		return 0;
	if ((t = tot())) {
		ADD(t->fetch_complete, 1);
		if (result < 0)
			ADD(t->fetch_errors, 1);
		else
			ADD(t->complete_bytes, (__u64)result);
	}
	if ((s = layer(lay))) {
		ADD(s->completes, 1);
		if (result < 0)
			ADD(s->errors, 1);
		ADD(s->lat_ns, lat_ns);
		if (slot < AS_HIST_SLOTS)
			ADD(s->hist[slot], 1);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(bundle_bytes, __s32 lay, __u64 bytes)
{
	struct as_layer_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot()))
		ADD(t->bundle_bytes, bytes);
	if ((s = layer(lay)))
		ADD(s->bytes, bytes);
	return 0;
}

SEC("usdt")
int BPF_USDT(cache_hit, __s32 lay, __u32 channel, __s32 kind)
{
	struct as_layer_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot()))
		ADD(t->cache_hit, 1);
	if ((s = layer(lay)))
		ADD(s->hits, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(cache_miss, __s32 lay, __u32 channel, __s32 kind)
{
	struct as_layer_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot()))
		ADD(t->cache_miss, 1);
	if ((s = layer(lay)))
		ADD(s->misses, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(expert_lookup, __s32 lay, __u32 lookups, __u32 hits)
{
	struct as_layer_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot())) {
		ADD(t->expert_lookups, lookups);
		ADD(t->expert_hits, hits);
	}
	if ((s = layer(lay))) {
		ADD(s->expert_lookups, lookups);
		ADD(s->expert_hits, hits);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(cache_evict, __s32 lay, __u32 channel, __s32 kind)
{
	struct as_layer_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot()))
		ADD(t->cache_evict, 1);
	if ((s = layer(lay)))
		ADD(s->evicts, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(stall, __s32 lay, __u64 stall_ns)
{
	struct as_layer_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot())) {
		ADD(t->stalls, 1);
		ADD(t->stall_wait_ns, stall_ns);
	}
	if ((s = layer(lay))) {
		ADD(s->stalls, 1);
		ADD(s->stall_ns, stall_ns);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(token_begin, __u64 tok)
{
	struct as_token_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot()))
		ADD(t->token_begin, 1);
	if ((s = token(tok)))
		s->begin_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("usdt")
int BPF_USDT(token_end, __u64 tok, __u64 stall_ns)
{
	struct as_token_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot())) {
		ADD(t->token_end, 1);
		ADD(t->stall_ns, stall_ns);
	}
	if ((s = token(tok))) {
		s->stall_ns = stall_ns;
		s->end_ns = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(layer_begin, __s32 lay, __u64 tok)
{
	struct as_layer_stats *s;
	struct as_totals *t;

	if (!wanted())
		return 0;
	if ((t = tot()))
		ADD(t->layer_begin, 1);
	if ((s = layer(lay)))
		ADD(s->passes, 1);
	return 0;
}

/* ---- block layer: device latency, every process ---- */

static __always_inline int rq_issue(struct request *rq)
{
	__u64 key = (__u64)(unsigned long)rq;
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&blk_start, &key, &now, BPF_ANY);
	return 0;
}

static __always_inline int rq_complete(struct request *rq, int error, unsigned int nr_bytes)
{
	static const struct as_blk_stats zero;
	__u64 key = (__u64)(unsigned long)rq;
	struct as_blk_stats *s;
	struct gendisk *disk;
	__u64 *start, delta = 0;
	__u32 dev, slot;

	/* A completion without its issue is still counted (requests, bytes), only not
	 * timed: a request in flight when the trace began, or one whose issue event the
	 * kernel skipped (a program already running on that CPU) or the map refused. */
	start = bpf_map_lookup_elem(&blk_start, &key);
	if (start) {
		delta = bpf_ktime_get_ns() - *start;
		bpf_map_delete_elem(&blk_start, &key);
	}

	disk = BPF_CORE_READ(rq, q, disk);
	dev = disk ? ((__u32)BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor)
		   : 0;
	s = bpf_map_lookup_elem(&blk_stats, &dev);
	if (!s) {
		bpf_map_update_elem(&blk_stats, &dev, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&blk_stats, &dev);
		if (!s)
			return 0;
	}
	ADD(s->requests, 1);
	ADD(s->bytes, nr_bytes);
	if (error)
		ADD(s->errors, 1);
	if (!start) {
		ADD(s->untimed, 1);
		return 0;
	}
	slot = hist_slot(delta);
	ADD(s->lat_ns, delta);
	if (slot < AS_HIST_SLOTS)
		ADD(s->hist[slot], 1);
	return 0;
}

/* Since 5.11: block_rq_issue(struct request *rq). */
SEC("tp_btf/block_rq_issue")
int BPF_PROG(blk_issue, struct request *rq)
{
	return rq_issue(rq);
}

/* Before 5.11: block_rq_issue(struct request_queue *q, struct request *rq). */
SEC("tp_btf/block_rq_issue")
int BPF_PROG(blk_issue_q, struct request_queue *q, struct request *rq)
{
	return rq_issue(rq);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(blk_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	return rq_complete(rq, error, nr_bytes);
}

/* ---- the kernel module's tracepoints (attached by name when present) ----
 * Raw tracepoints: ctx->args[] are the TP_PROTO arguments of module/activeswap_trace.h,
 * each widened to 64 bits. The kernel refuses the attachment when a program reads more
 * arguments than the tracepoint has, and userspace checks the count in the module's BTF
 * first. */

static __always_inline struct as_kmod_stats *kmod(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&kmod_stats, &zero);
}

/* activeswap_region_create(u64 ctx_id, u64 length, int node, u32 flags, int ret) */
SEC("raw_tp")
int kmod_region_create(struct bpf_raw_tracepoint_args *ctx)
{
	struct as_kmod_stats *k = kmod();

	if (k && (int)ctx->args[4] == 0)
		ADD(k->region_create, 1);
	return 0;
}

/* activeswap_region_free(u64 ctx_id, u64 length) */
SEC("raw_tp")
int kmod_region_free(struct bpf_raw_tracepoint_args *ctx)
{
	struct as_kmod_stats *k = kmod();

	if (k)
		ADD(k->region_free, 1);
	return 0;
}

/* activeswap_fetch_submit(u64 ctx_id, u64 tag, u64 file_offset, u64 region_offset,
 *                         u32 length, u16 priority) */
SEC("raw_tp")
int kmod_fetch_submit(struct bpf_raw_tracepoint_args *ctx)
{
	struct as_kmod_stats *k = kmod();

	if (k) {
		ADD(k->fetch_submit, 1);
		ADD(k->submit_bytes, ctx->args[4] & 0xffffffffULL);
	}
	return 0;
}

/* activeswap_fetch_complete(u64 ctx_id, u64 tag, s64 result, u64 latency_ns) */
SEC("raw_tp")
int kmod_fetch_complete(struct bpf_raw_tracepoint_args *ctx)
{
	struct as_kmod_stats *k = kmod();
	__s64 result = (__s64)ctx->args[2];
	__u64 lat = ctx->args[3];
	__u32 slot = hist_slot(lat);

	if (!k)
		return 0;
	ADD(k->fetch_complete, 1);
	if (result < 0)
		ADD(k->errors, 1);
	else
		ADD(k->complete_bytes, (__u64)result);
	ADD(k->lat_ns, lat);
	if (slot < AS_HIST_SLOTS)
		ADD(k->hist[slot], 1);
	return 0;
}

/* activeswap_fetch_cancel(u64 ctx_id, u64 tag, u16 priority) */
SEC("raw_tp")
int kmod_fetch_cancel(struct bpf_raw_tracepoint_args *ctx)
{
	struct as_kmod_stats *k = kmod();

	if (k)
		ADD(k->fetch_cancel, 1);
	return 0;
}

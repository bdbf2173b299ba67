/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the activeswap module (system "activeswap").  The fields are part of
 * the interface BPF programs attach to; see Documentation/kernel-module.md.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM activeswap

#if !defined(_ACTIVESWAP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _ACTIVESWAP_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(activeswap_region_create,
	TP_PROTO(u64 ctx_id, u64 length, int node, u32 flags, int ret),
	TP_ARGS(ctx_id, length, node, flags, ret),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, length)
		__field(int, node)
		__field(u32, flags)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->length = length;
		__entry->node = node;
		__entry->flags = flags;
		__entry->ret = ret;
	),
	TP_printk("ctx=%llu length=%llu node=%d flags=0x%x ret=%d",
		  __entry->ctx_id, __entry->length, __entry->node, __entry->flags,
		  __entry->ret)
);

TRACE_EVENT(activeswap_region_free,
	TP_PROTO(u64 ctx_id, u64 length),
	TP_ARGS(ctx_id, length),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, length)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->length = length;
	),
	TP_printk("ctx=%llu length=%llu", __entry->ctx_id, __entry->length)
);

TRACE_EVENT(activeswap_fetch_submit,
	TP_PROTO(u64 ctx_id, u64 tag, u64 file_offset, u64 region_offset, u32 length,
		 u16 priority),
	TP_ARGS(ctx_id, tag, file_offset, region_offset, length, priority),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, tag)
		__field(u64, file_offset)
		__field(u64, region_offset)
		__field(u32, length)
		__field(u16, priority)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->tag = tag;
		__entry->file_offset = file_offset;
		__entry->region_offset = region_offset;
		__entry->length = length;
		__entry->priority = priority;
	),
	TP_printk("ctx=%llu tag=%llu file_offset=%llu region_offset=%llu length=%u prio=%u",
		  __entry->ctx_id, __entry->tag, __entry->file_offset,
		  __entry->region_offset, __entry->length, __entry->priority)
);

TRACE_EVENT(activeswap_fetch_complete,
	TP_PROTO(u64 ctx_id, u64 tag, s64 result, u64 latency_ns),
	TP_ARGS(ctx_id, tag, result, latency_ns),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, tag)
		__field(s64, result)
		__field(u64, latency_ns)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->tag = tag;
		__entry->result = result;
		__entry->latency_ns = latency_ns;
	),
	TP_printk("ctx=%llu tag=%llu result=%lld latency_ns=%llu",
		  __entry->ctx_id, __entry->tag, __entry->result, __entry->latency_ns)
);

TRACE_EVENT(activeswap_fetch_cancel,
	TP_PROTO(u64 ctx_id, u64 tag, u16 priority),
	TP_ARGS(ctx_id, tag, priority),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, tag)
		__field(u16, priority)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->tag = tag;
		__entry->priority = priority;
	),
	TP_printk("ctx=%llu tag=%llu prio=%u", __entry->ctx_id, __entry->tag,
		  __entry->priority)
);

#endif /* _ACTIVESWAP_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE activeswap_trace
#include <trace/define_trace.h>

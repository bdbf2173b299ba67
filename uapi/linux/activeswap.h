/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * activeswap: user ABI of /dev/activeswap.
 *
 * The device owns pinned weight memory ("regions") and reads weight columns from a
 * flash-resident store straight into it with asynchronous direct I/O.  One open file
 * description of /dev/activeswap holds at most one region and one store:
 *
 *   fd = open("/dev/activeswap", O_RDWR | O_CLOEXEC);
 *   ioctl(fd, ACTIVESWAP_IOC_VERSION, &ver);          ABI version and features
 *   ioctl(fd, ACTIVESWAP_IOC_CREATE_REGION, &reg);    pinned, zeroed, charged memory
 *   p = mmap(NULL, reg.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, reg.mmap_offset);
 *   ioctl(fd, ACTIVESWAP_IOC_ATTACH_STORE, &st);      the file (or block device) to read
 *   ioctl(fd, ACTIVESWAP_IOC_SUBMIT, &sub);           a batch of fetch extents
 *   poll(fd, POLLIN); read(fd, recs, n * sizeof(*recs));   reap completion records
 *
 * Every argument struct starts with a __u32 "size" that the caller sets to the size of
 * the struct it was compiled with (sizeof).  The kernel accepts any size from the first
 * published version (ACTIVESWAP_*_SIZE_VER0) up to 4096: bytes it does not know must be
 * zero (else -E2BIG), bytes the caller did not pass read as zero, and results are written
 * back only up to the caller's size.  The ioctl numbers are matched without their size
 * bits, so a caller built against a newer header keeps working on an older module.
 * All structs are 64-bit clean: explicit widths, no implicit padding, the same layout on
 * i386 and x86-64 (compat callers need no translation).  Every field named reserved*
 * must be zero on input and is zero on output.
 *
 * Full description: Documentation/kernel-module.md.
 */
#ifndef _UAPI_LINUX_ACTIVESWAP_H
#define _UAPI_LINUX_ACTIVESWAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define ACTIVESWAP_ABI_VERSION		1
#define ACTIVESWAP_DEVICE		"/dev/activeswap"

/* Features reported by ACTIVESWAP_IOC_VERSION. */
#define ACTIVESWAP_FEAT_HUGE		(1ULL << 0)	/* ACTIVESWAP_REGION_HUGE */
#define ACTIVESWAP_FEAT_NUMA		(1ULL << 1)	/* region node placement */
#define ACTIVESWAP_FEAT_DIRECT		(1ULL << 2)	/* async direct reads */
#define ACTIVESWAP_FEAT_CANCEL		(1ULL << 3)	/* ACTIVESWAP_IOC_CANCEL */
#define ACTIVESWAP_FEAT_BLKDEV		(1ULL << 4)	/* a block device as store */
#define ACTIVESWAP_FEAT_TRACE		(1ULL << 5)	/* activeswap: tracepoints */

/* Priority classes of a fetch extent: 0 is dispatched first. */
#define ACTIVESWAP_PRIO_URGENT		0
#define ACTIVESWAP_PRIO_LOW		3
#define ACTIVESWAP_NR_PRIO		4

/**
 * struct activeswap_version - ACTIVESWAP_IOC_VERSION
 * @size:		in: sizeof(struct activeswap_version)
 * @abi_version:	out: ACTIVESWAP_ABI_VERSION of the module
 * @features:		out: ACTIVESWAP_FEAT_* bits
 * @max_extents:	out: most extents one ACTIVESWAP_IOC_SUBMIT accepts
 * @max_extent_len:	out: most bytes one extent may read
 * @queue_depth:	out: default reads in flight per open file
 * @max_queued:		out: most requests one open file may hold (queued, in flight
 *			or completed and not yet read)
 * @max_region_mb:	out: largest region the module allows, in MiB
 * @reserved0:		zero
 * @reserved:		zero
 */
struct activeswap_version {
	__u32 size;
	__u32 abi_version;
	__u64 features;
	__u32 max_extents;
	__u32 max_extent_len;
	__u32 queue_depth;
	__u32 max_queued;
	__u32 max_region_mb;
	__u32 reserved0;
	__u64 reserved[3];
};
#define ACTIVESWAP_VERSION_SIZE_VER0	64

/* Flags of struct activeswap_region_create. */
#define ACTIVESWAP_REGION_HUGE		(1U << 0)	/* back with 2 MiB pages */
#define ACTIVESWAP_REGION_FLAGS		(ACTIVESWAP_REGION_HUGE)

#define ACTIVESWAP_NODE_ANY		(-1)

/**
 * struct activeswap_region_create - ACTIVESWAP_IOC_CREATE_REGION
 * @size:		in: sizeof(struct activeswap_region_create)
 * @flags:		in: ACTIVESWAP_REGION_* flags
 * @length:		in: bytes; a multiple of the page size (of 2 MiB with
 *			ACTIVESWAP_REGION_HUGE)
 * @node:		in: NUMA node of the pages, or ACTIVESWAP_NODE_ANY
 * @reserved0:		zero
 * @mmap_offset:	out: the offset to pass to mmap() (currently 0)
 * @reserved:		zero
 *
 * The pages are allocated zeroed, stay resident (they are never swapped or migrated),
 * are charged to the caller's memory cgroup and count against the caller's
 * RLIMIT_MEMLOCK (unless it has CAP_IPC_LOCK).  One region per open file.
 */
struct activeswap_region_create {
	__u32 size;
	__u32 flags;
	__u64 length;
	__s32 node;
	__u32 reserved0;
	__u64 mmap_offset;
	__u64 reserved[4];
};
#define ACTIVESWAP_REGION_CREATE_SIZE_VER0	64

/* Input flags of struct activeswap_store_attach. */
#define ACTIVESWAP_STORE_ALLOW_BUFFERED	(1U << 0)	/* accept a store without direct I/O */
#define ACTIVESWAP_STORE_FLAGS		(ACTIVESWAP_STORE_ALLOW_BUFFERED)
/* Output flags (out_flags). */
#define ACTIVESWAP_STORE_DIRECT		(1U << 0)	/* reads bypass the page cache */
#define ACTIVESWAP_STORE_IS_BLKDEV	(1U << 1)	/* the store is a block device */

/**
 * struct activeswap_store_attach - ACTIVESWAP_IOC_ATTACH_STORE
 * @size:		in: sizeof(struct activeswap_store_attach)
 * @flags:		in: ACTIVESWAP_STORE_* input flags
 * @fd:			in: a regular file or block device open for reading
 * @queue_depth:	in: reads in flight at once, 0 for the module default
 * @store_size:		out: size of the store in bytes
 * @align:		out: file offsets, lengths and region offsets of extents must be
 *			multiples of this (the logical block size for direct I/O)
 * @out_flags:		out: ACTIVESWAP_STORE_DIRECT, ACTIVESWAP_STORE_IS_BLKDEV
 * @reserved:		zero
 *
 * Without ACTIVESWAP_STORE_ALLOW_BUFFERED, a store whose filesystem cannot do direct
 * I/O is refused with -EOPNOTSUPP.  One store per open file.
 */
struct activeswap_store_attach {
	__u32 size;
	__u32 flags;
	__s32 fd;
	__u32 queue_depth;
	__u64 store_size;
	__u32 align;
	__u32 out_flags;
	__u64 reserved[4];
};
#define ACTIVESWAP_STORE_ATTACH_SIZE_VER0	64

/**
 * struct activeswap_extent - one fetch: read @length bytes at @file_offset of the store
 * into the region at @region_offset
 * @file_offset:	byte offset in the store
 * @region_offset:	byte offset in the region
 * @tag:		opaque, returned in the completion record
 * @length:		bytes, > 0 and <= max_extent_len
 * @priority:		0 (dispatched first) .. ACTIVESWAP_NR_PRIO - 1
 * @reserved:		zero
 */
struct activeswap_extent {
	__u64 file_offset;
	__u64 region_offset;
	__u64 tag;
	__u32 length;
	__u16 priority;
	__u16 reserved;
};
#define ACTIVESWAP_EXTENT_SIZE_VER0	32

/**
 * struct activeswap_submit - ACTIVESWAP_IOC_SUBMIT
 * @size:		in: sizeof(struct activeswap_submit)
 * @flags:		in: zero (no flags defined yet)
 * @extents:		in: user pointer to @count extents, @extent_size bytes apart
 * @count:		in: number of extents, <= max_extents (0 is a no-op)
 * @extent_size:	in: sizeof(struct activeswap_extent)
 * @submitted:		out: extents queued (all of them, or 0 on error)
 * @error_index:	out: index of the extent that failed validation (any per-extent error)
 * @reserved:		zero
 *
 * The batch is all or nothing: every extent is validated (alignment, inside the region,
 * inside the store, no overflow, priority, reserved) before any is queued, and -EAGAIN
 * means the per-file request limit (max_queued) would be exceeded: read completions
 * first.  Each queued extent produces exactly one completion record.
 */
struct activeswap_submit {
	__u32 size;
	__u32 flags;
	__u64 extents;
	__u32 count;
	__u32 extent_size;
	__u32 submitted;
	__u32 error_index;
	__u64 reserved[4];
};
#define ACTIVESWAP_SUBMIT_SIZE_VER0	64

/* Selectors of struct activeswap_cancel (exactly one). */
#define ACTIVESWAP_CANCEL_TAG		(1U << 0)	/* queued extents with tag == @tag */
#define ACTIVESWAP_CANCEL_PRIORITY	(1U << 1)	/* queued extents of class @priority */
#define ACTIVESWAP_CANCEL_ALL		(1U << 2)	/* every queued extent */

/**
 * struct activeswap_cancel - ACTIVESWAP_IOC_CANCEL
 * @size:		in: sizeof(struct activeswap_cancel)
 * @flags:		in: exactly one ACTIVESWAP_CANCEL_* selector
 * @tag:		in: with ACTIVESWAP_CANCEL_TAG, else zero
 * @priority:		in: with ACTIVESWAP_CANCEL_PRIORITY, else zero
 * @cancelled:		out: number of extents cancelled
 * @reserved:		zero
 *
 * Only extents not yet handed to the filesystem can be cancelled; each one completes
 * with result -ECANCELED.  Reads already in flight complete normally.
 */
struct activeswap_cancel {
	__u32 size;
	__u32 flags;
	__u64 tag;
	__u32 priority;
	__u32 cancelled;
	__u64 reserved[5];
};
#define ACTIVESWAP_CANCEL_SIZE_VER0	64

/**
 * struct activeswap_stats - ACTIVESWAP_IOC_STATS, counters of this open file
 * @size:		in: sizeof(struct activeswap_stats)
 * @reserved0:		zero
 * @region_bytes:	length of the region (0 before one is created)
 * @bytes_read:		bytes read by completed extents
 * @submitted:		extents accepted by ACTIVESWAP_IOC_SUBMIT
 * @completed:		extents completed, with success or an error (not cancelled)
 * @errors:		extents completed with a negative result (not cancelled)
 * @cancelled:		extents cancelled
 * @in_flight:		reads currently handed to the filesystem
 * @queued:		extents waiting to be dispatched
 * @unreaped:		completion records not yet read
 * @reserved:		zero
 */
struct activeswap_stats {
	__u32 size;
	__u32 reserved0;
	__u64 region_bytes;
	__u64 bytes_read;
	__u64 submitted;
	__u64 completed;
	__u64 errors;
	__u64 cancelled;
	__u64 in_flight;
	__u64 queued;
	__u64 unreaped;
	__u64 reserved[6];
};
#define ACTIVESWAP_STATS_SIZE_VER0	128

/* Flags of a completion record. */
#define ACTIVESWAP_COMPLETION_CANCELLED	(1U << 0)

/**
 * struct activeswap_completion - one record returned by read() on the device
 * @tag:		the extent's tag
 * @result:		bytes read (the extent's length unless the store is shorter), or a
 *			negative errno: the I/O error, or -ECANCELED
 * @latency_ns:		nanoseconds from submission to completion
 * @priority:		the extent's priority class
 * @flags:		ACTIVESWAP_COMPLETION_* bits
 * @reserved:		zero
 *
 * read() takes a buffer of at least one record (else -EINVAL) and returns whole records,
 * as many as are ready and fit.  It blocks until one is ready unless O_NONBLOCK
 * (-EAGAIN); it returns 0 at once when nothing is queued, in flight or unread.
 * poll() reports EPOLLIN while a record is ready.
 */
struct activeswap_completion {
	__u64 tag;
	__s64 result;
	__u64 latency_ns;
	__u16 priority;
	__u16 flags;
	__u32 reserved;
};
#define ACTIVESWAP_COMPLETION_SIZE	32

#define ACTIVESWAP_IOC_MAGIC		0xA5
#define ACTIVESWAP_IOC_VERSION		_IOWR(ACTIVESWAP_IOC_MAGIC, 0x40, struct activeswap_version)
#define ACTIVESWAP_IOC_CREATE_REGION	\
	_IOWR(ACTIVESWAP_IOC_MAGIC, 0x41, struct activeswap_region_create)
#define ACTIVESWAP_IOC_ATTACH_STORE	\
	_IOWR(ACTIVESWAP_IOC_MAGIC, 0x42, struct activeswap_store_attach)
#define ACTIVESWAP_IOC_SUBMIT		_IOWR(ACTIVESWAP_IOC_MAGIC, 0x43, struct activeswap_submit)
#define ACTIVESWAP_IOC_CANCEL		_IOWR(ACTIVESWAP_IOC_MAGIC, 0x44, struct activeswap_cancel)
#define ACTIVESWAP_IOC_STATS		_IOWR(ACTIVESWAP_IOC_MAGIC, 0x45, struct activeswap_stats)

#endif /* _UAPI_LINUX_ACTIVESWAP_H */

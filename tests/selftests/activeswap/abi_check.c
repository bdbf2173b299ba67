// SPDX-License-Identifier: GPL-2.0
/*
 * Compile-time ABI check of uapi/linux/activeswap.h, built by tests/integration/kernel.sh
 * for x86-64 and i386 with -Wpadded -Werror (no implicit padding anywhere) and as C++:
 * the sizes and field offsets below are the ABI and must be identical on both.
 */
#include <stddef.h>
#include <linux/activeswap.h>

#ifdef __cplusplus
#define AS_ASSERT(c) static_assert(c, #c)
#else
#define AS_ASSERT(c) _Static_assert(c, #c)
#endif
#define OFF(s, f, o) AS_ASSERT(offsetof(struct s, f) == (o))

AS_ASSERT(sizeof(struct activeswap_version) == ACTIVESWAP_VERSION_SIZE_VER0);
OFF(activeswap_version, features, 8);
OFF(activeswap_version, max_extents, 16);
OFF(activeswap_version, max_region_mb, 32);
OFF(activeswap_version, reserved, 40);

AS_ASSERT(sizeof(struct activeswap_region_create) == ACTIVESWAP_REGION_CREATE_SIZE_VER0);
OFF(activeswap_region_create, length, 8);
OFF(activeswap_region_create, node, 16);
OFF(activeswap_region_create, mmap_offset, 24);
OFF(activeswap_region_create, reserved, 32);

AS_ASSERT(sizeof(struct activeswap_store_attach) == ACTIVESWAP_STORE_ATTACH_SIZE_VER0);
OFF(activeswap_store_attach, fd, 8);
OFF(activeswap_store_attach, queue_depth, 12);
OFF(activeswap_store_attach, store_size, 16);
OFF(activeswap_store_attach, align, 24);
OFF(activeswap_store_attach, out_flags, 28);
OFF(activeswap_store_attach, reserved, 32);

AS_ASSERT(sizeof(struct activeswap_extent) == ACTIVESWAP_EXTENT_SIZE_VER0);
OFF(activeswap_extent, region_offset, 8);
OFF(activeswap_extent, tag, 16);
OFF(activeswap_extent, length, 24);
OFF(activeswap_extent, priority, 28);
OFF(activeswap_extent, reserved, 30);

AS_ASSERT(sizeof(struct activeswap_submit) == ACTIVESWAP_SUBMIT_SIZE_VER0);
OFF(activeswap_submit, extents, 8);
OFF(activeswap_submit, count, 16);
OFF(activeswap_submit, extent_size, 20);
OFF(activeswap_submit, submitted, 24);
OFF(activeswap_submit, error_index, 28);
OFF(activeswap_submit, reserved, 32);

AS_ASSERT(sizeof(struct activeswap_cancel) == ACTIVESWAP_CANCEL_SIZE_VER0);
OFF(activeswap_cancel, tag, 8);
OFF(activeswap_cancel, priority, 16);
OFF(activeswap_cancel, cancelled, 20);
OFF(activeswap_cancel, reserved, 24);

AS_ASSERT(sizeof(struct activeswap_stats) == ACTIVESWAP_STATS_SIZE_VER0);
OFF(activeswap_stats, region_bytes, 8);
OFF(activeswap_stats, unreaped, 72);
OFF(activeswap_stats, reserved, 80);

AS_ASSERT(sizeof(struct activeswap_completion) == ACTIVESWAP_COMPLETION_SIZE);
OFF(activeswap_completion, result, 8);
OFF(activeswap_completion, latency_ns, 16);
OFF(activeswap_completion, priority, 24);
OFF(activeswap_completion, flags, 26);
OFF(activeswap_completion, reserved, 28);

/* the ioctl numbers encode these sizes; they must not drift from the structs */
AS_ASSERT(ACTIVESWAP_IOC_VERSION == 0xc040a540u);
AS_ASSERT(ACTIVESWAP_IOC_STATS == 0xc080a545u);

int activeswap_abi_check;

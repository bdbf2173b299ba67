/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The common start of an activeswap kselftest program: the headers the tests use, the
 * harness (kselftest_harness.h, from the linux-source tarball at build time: mk/kernel.mk)
 * and the helpers (as_util.h).  Each program is one area: activeswap_test (version,
 * regions, stores; also "--gen FILE MIB", the store generator), activeswap_io_test
 * (submit, completions, cancel), activeswap_limits_test (resource limits, I/O errors,
 * lifetime), activeswap_module_test (ioctl fuzzing, tracepoints, module refcount),
 * activeswap_user_test (uid 1000 in the group of a 0660 node: limits, fd modes, stores).
 *
 * Run as root inside the QEMU guest that tests/qemu builds: the module is loaded, AS_STORE
 * names a pattern file on an ext4 virtio disk.  Every ioctl is tried with good and
 * hostile arguments; fetched bytes are compared with pread() of the store.
 */
#ifndef AS_TEST_H
#define AS_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/dm-ioctl.h>

#include <linux/activeswap.h>

#include "kselftest_harness.h"

#include "as_util.h"

/* a slow TCG guest on a busy host with slab debugging: allow more than 30 s per test */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 120

/*
 * What TEST_HARNESS_MAIN does (the tests run in the order they are declared), with
 * main() left to the program.
 */
#define AS_TEST_ORDER()                                                        \
	static void __attribute__((constructor)) as_constructor_order_last(void) \
	{                                                                      \
		if (!__constructor_order)                                      \
			__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;     \
	}

#endif

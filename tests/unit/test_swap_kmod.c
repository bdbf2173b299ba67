// SPDX-License-Identifier: MIT
/*
 * libswap's kmod backend on a host without the kernel module (this machine cannot load
 * modules; tests/integration/kernel.sh runs the backend for real inside the QEMU guest):
 * an explicit kmod engine fails with -ENODEV and one line naming the device, a character
 * device that is not activeswap is refused, auto falls back to io_uring/pread, and
 * ACTIVESWAP_NO_KMOD disables it. ACTIVESWAP_KMOD_DEVICE points the backend at a chosen
 * path so the tests do not depend on the host's /dev.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "libswap.h"
#include "../../libswap/swap_int.h"

static char dir[256], path[300];
static struct swap_store *st;

static int setup(void **state)
{
	const char *t = getenv("AS_TMP");
	struct swap_store_desc d = { 0 };
	char err[256] = "";

	snprintf(dir, sizeof(dir), "%s/swapkmodXXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k.asw", dir);
	d.n_layers = 2;
	d.group = 1;
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		d.kinds[k] = (struct swap_kind_desc){ .in = 8, .n_mats = 1,
			.mats = { { 1024, 0, 4096 } } };
	assert_int_equal(swap_store_write_synthetic(path, &d, 5, err, sizeof(err)), 0);
	assert_int_equal(swap_store_open(&st, path, err, sizeof(err)), 0);
	unsetenv("ACTIVESWAP_NO_KMOD");
	return 0;
}

static int teardown(void **state)
{
	swap_store_close(st);
	unlink(path);
	rmdir(dir);
	unsetenv("ACTIVESWAP_KMOD_DEVICE");
	unsetenv("ACTIVESWAP_NO_KMOD");
	return 0;
}

static struct swap_engine_params params(enum swap_backend_kind b)
{
	struct swap_engine_params p = { 0 };

	p.backend = b;
	p.queue_depth = 4;
	p.numa_node = -1;
	p.flags = SWAP_F_NO_MLOCK;
	p.budget_bytes = swap_engine_min_budget(st, &p) + (64 << 10);
	return p;
}

static void test_absent_device(void **state)
{
	struct swap_engine_params p = params(SWAP_BACKEND_KMOD);
	struct swap_engine *e = (void *)1;
	char err[256] = "";
	const char *why;

	setenv("ACTIVESWAP_KMOD_DEVICE", "/nonexistent/activeswap", 1);
	why = swap_kmod_unavailable();
	assert_non_null(why);
	assert_non_null(strstr(why, "/nonexistent/activeswap is absent"));
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -ENODEV);
	assert_null(e);
	assert_non_null(strstr(err, "/nonexistent/activeswap is absent"));
	assert_non_null(strstr(err, "insmod"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(swap_backend_from_name("kmod"), SWAP_BACKEND_KMOD);
}

static void test_not_the_device(void **state)
{
	struct swap_engine_params p = params(SWAP_BACKEND_KMOD);
	struct swap_engine *e = NULL;
	char err[256] = "";

	/* A character device that answers no activeswap ioctl. */
	setenv("ACTIVESWAP_KMOD_DEVICE", "/dev/null", 1);
	assert_non_null(swap_kmod_unavailable());
	if (swap_engine_create(&e, st, &p, err, sizeof(err)) == -ENOSYS) {
		/* qemu-user answers ioctls it does not know itself, with ENOSYS */
		print_message("# ioctl on /dev/null: ENOSYS (qemu-user?): %s\n", err);
		unsetenv("ACTIVESWAP_KMOD_DEVICE");
		skip();
	}
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), -ENODEV);
	assert_null(e);
	assert_non_null(strstr(err, "not the activeswap device"));
	/* A directory cannot even be opened read-write. */
	setenv("ACTIVESWAP_KMOD_DEVICE", dir, 1);
	err[0] = 0;
	assert_true(swap_engine_create(&e, st, &p, err, sizeof(err)) < 0);
	assert_null(e);
	assert_non_null(strstr(err, "kmod backend"));
}

static void test_auto_falls_back(void **state)
{
	struct swap_engine_params p = params(SWAP_BACKEND_AUTO);
	struct swap_engine *e = NULL;
	char err[256] = "";
	const void *ptr;
	struct swap_key k = { 1, SWAP_FFN_OUT, 3 };
	uint8_t want[4096];

	setenv("ACTIVESWAP_KMOD_DEVICE", "/dev/null", 1);
	assert_int_equal(swap_engine_create(&e, st, &p, err, sizeof(err)), 0);
	assert_string_not_equal(swap_engine_backend_name(e), "kmod");
	assert_int_equal(swap_acquire(e, &k, 1, &ptr), 0);
	swap_synthetic_bundle(5, k, want, sizeof(want));
	assert_memory_equal(ptr, want, sizeof(want));
	swap_release(e, &k, 1);
	swap_engine_destroy(e);
}

static void test_disabled_by_env(void **state)
{
	const char *why;

	setenv("ACTIVESWAP_KMOD_DEVICE", "/dev/null", 1);
	setenv("ACTIVESWAP_NO_KMOD", "1", 1);
	why = swap_kmod_unavailable();
	assert_non_null(why);
	assert_non_null(strstr(why, "ACTIVESWAP_NO_KMOD"));
}

static void test_backend_needs_region(void **state)
{
	struct swap_backend_cfg cfg;
	struct swap_backend *b = (void *)1;
	char err[256] = "";
	char buf[4096];

	/* start() refuses a pool that is not a device region. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = path;
	cfg.region = buf;
	cfg.region_len = sizeof(buf);
	cfg.queue_depth = 1;
	cfg.dev_fd = -1;
	assert_int_equal(swap_backend_kmod_ops.start(&b, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(b);
	assert_non_null(strstr(err, "not a device region"));
	/* The pool creation itself fails cleanly without the device. */
	setenv("ACTIVESWAP_KMOD_DEVICE", "/nonexistent/activeswap", 1);
	{
		struct swap_pool pool;

		assert_int_equal(swap_kmod_pool_create(&pool, 1 << 20, -1, 0, err,
						       sizeof(err)), -ENODEV);
		assert_null(pool.base);
		assert_false(pool.kmod);
		swap_pool_destroy(&pool);
	}
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_absent_device),
		T(test_not_the_device),
		T(test_auto_falls_back),
		T(test_disabled_by_env),
		T(test_backend_needs_region),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

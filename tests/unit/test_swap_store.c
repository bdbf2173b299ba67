// SPDX-License-Identifier: MIT
/* libswap store format: writer/reader round trip, layout, checksums, hostile files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "libswap.h"

static char dir[256];
static char path[300];

static struct swap_resident_desc res[2] = {
	{ .name = "token_embd.weight", .type = 0, .n_dims = 2, .ne = { 16, 10, 1, 1 },
	  .size = 640 },
	{ .name = "output_norm.weight", .type = 0, .n_dims = 1, .ne = { 16, 1, 1, 1 },
	  .size = 64 },
};

static const char meta[] = "GGUF-metadata-stand-in";

/* Odd sizes on purpose: bundles of 300, 100, 200 and 100 bytes. */
static struct swap_store_desc desc(uint32_t layers, uint32_t group)
{
	struct swap_store_desc d = { 0 };

	d.n_layers = layers;
	d.group = group;
	d.hp.dim = 16;
	d.hp.hidden = 24;
	d.kinds[SWAP_ATTN_IN] = (struct swap_kind_desc){ .in = 16, .n_mats = 3,
		.mats = { { 16, 0, 100 }, { 8, 0, 100 }, { 8, 0, 100 } } };
	d.kinds[SWAP_ATTN_OUT] = (struct swap_kind_desc){ .in = 16, .n_mats = 1,
		.mats = { { 16, 0, 100 } } };
	d.kinds[SWAP_FFN_IN] = (struct swap_kind_desc){ .in = 16, .n_mats = 2,
		.mats = { { 24, 0, 100 }, { 24, 0, 100 } } };
	d.kinds[SWAP_FFN_OUT] = (struct swap_kind_desc){ .in = 24, .n_mats = 1,
		.mats = { { 16, 0, 100 } } };
	d.meta = meta;
	d.meta_len = sizeof(meta);
	d.n_resident = 2;
	d.resident = res;
	return d;
}

static int setup(void **state)
{
	const char *t = getenv("AS_TMP");

	snprintf(dir, sizeof(dir), "%s/swapstoreXXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.asw", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The kinds' names, as level files and info spell them; nothing outside the enum. */
static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(swap_kind_name(SWAP_ATTN_IN), "attn_in");
	assert_string_equal(swap_kind_name(SWAP_ATTN_OUT), "attn_out");
	assert_string_equal(swap_kind_name(SWAP_FFN_IN), "ffn_in");
	assert_string_equal(swap_kind_name(SWAP_FFN_OUT), "ffn_out");
	assert_string_equal(swap_kind_name(SWAP_FFN_IN_LOW), "ffn_in_low");
	assert_string_equal(swap_kind_name(SWAP_FFN_OUT_LOW), "ffn_out_low");
	assert_null(swap_kind_name(SWAP_KIND_MAX));
	assert_null(swap_kind_name((enum swap_kind)-1));
}

static void test_roundtrip(void **state)
{
	struct swap_store_desc d = desc(5, 2);
	struct swap_store *s;
	char err[256] = "";
	uint8_t buf[512], want[512];

	assert_int_equal(swap_store_write_synthetic(path, &d, 7, err, sizeof(err)), 0);
	assert_int_equal(swap_store_open(&s, path, err, sizeof(err)), 0);
	const struct swap_store_desc *g = swap_store_desc(s);

	assert_int_equal(g->n_layers, 5);
	assert_int_equal(g->group, 2);
	assert_int_equal(g->hp.hidden, 24);
	assert_int_equal(g->kinds[SWAP_ATTN_IN].n_mats, 3);
	assert_int_equal(g->kinds[SWAP_FFN_OUT].in, 24);
	assert_int_equal(g->meta_len, sizeof(meta));
	assert_memory_equal(g->meta, meta, sizeof(meta));
	assert_int_equal(swap_store_bundle_bytes(s, SWAP_ATTN_IN), 300);
	assert_int_equal(swap_store_bundle_bytes(s, SWAP_FFN_IN), 200);
	assert_int_equal(swap_store_n_bundles(s), 5 * (16 + 16 + 16 + 24));
	assert_int_equal(swap_store_file_size(s) % SWAP_ALIGN, 0);
	assert_int_equal(swap_store_n_resident(s), 2);
	const struct swap_resident *r = swap_store_find_resident(s, "output_norm.weight");

	assert_non_null(r);
	assert_int_equal(r->d.size, 64);
	assert_int_equal(r->offset % SWAP_ALIGN, 0);
	assert_null(swap_store_find_resident(s, "nope"));
	assert_int_equal(swap_store_read_resident(s, r, buf), 0);
	for (uint32_t l = 0; l < 5; l++) {
		for (uint32_t k = 0; k < SWAP_KIND_COUNT; k++) {
			for (uint32_t c = 0; c < g->kinds[k].in; c++) {
				struct swap_key key = { l, k, c };
				uint64_t len = swap_store_bundle_bytes(s, k);

				assert_int_equal(swap_store_read_bundle(s, key, buf), 0);
				swap_synthetic_bundle(7, key, want, len);
				assert_memory_equal(buf, want, len);
				assert_int_equal(swap_crc32c(0, buf, len),
						 swap_store_bundle_crc(s, key));
			}
		}
	}
	assert_int_equal(swap_store_verify(s, NULL, NULL, err, sizeof(err)), 0);
	swap_store_close(s);
}

/* Within a group, one channel's bundles of all layers are adjacent, channels follow each
 * other, every (group, kind) section starts 4 KiB aligned. */
static void test_layout(void **state)
{
	struct swap_store_desc d = desc(5, 2);
	struct swap_store *s;
	char err[256];
	uint64_t o1, o2, len;
	struct swap_key bad = { 5, 0, 0 };

	assert_int_equal(swap_store_write_synthetic(path, &d, 1, err, sizeof(err)), 0);
	assert_int_equal(swap_store_open(&s, path, err, sizeof(err)), 0);
	for (uint32_t k = 0; k < SWAP_KIND_COUNT; k++) {
		for (uint32_t g = 0; g < 3; g++) {
			uint32_t first = g * 2, nl = g < 2 ? 2 : 1;
			struct swap_key a = { first, k, 0 };

			assert_int_equal(swap_store_bundle_loc(s, a, &o1, &len), 0);
			assert_int_equal(o1 % SWAP_ALIGN, 0);
			for (uint32_t c = 0; c < d.kinds[k].in; c++) {
				for (uint32_t l = 0; l < nl; l++) {
					struct swap_key x = { first + l, k, c };

					assert_int_equal(swap_store_bundle_loc(s, x, &o2, &len), 0);
					assert_int_equal(o2, o1 + ((uint64_t)c * nl + l) * len);
				}
			}
		}
	}
	assert_int_equal(swap_store_bundle_loc(s, bad, &o1, &len), -EINVAL);
	bad = (struct swap_key){ 0, 4, 0 };
	assert_int_equal(swap_store_bundle_loc(s, bad, &o1, &len), -EINVAL);
	bad = (struct swap_key){ 0, SWAP_FFN_OUT, 24 };
	assert_int_equal(swap_store_bundle_loc(s, bad, &o1, &len), -EINVAL);
	swap_store_close(s);
}

static void poke(uint64_t off, uint8_t x)
{
	int fd = open(path, O_RDWR);
	uint8_t v;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &v, 1, (off_t)off), 1);
	v ^= x;
	assert_int_equal(pwrite(fd, &v, 1, (off_t)off), 1);
	close(fd);
}

static void test_corrupt_bundle(void **state)
{
	struct swap_store_desc d = desc(3, 3);
	struct swap_store *s;
	char err[256] = "";
	uint64_t off, len;
	struct swap_key key = { 2, SWAP_FFN_IN, 7 };

	assert_int_equal(swap_store_write_synthetic(path, &d, 3, err, sizeof(err)), 0);
	assert_int_equal(swap_store_open(&s, path, err, sizeof(err)), 0);
	assert_int_equal(swap_store_bundle_loc(s, key, &off, &len), 0);
	swap_store_close(s);
	poke(off + 5, 0x10);
	assert_int_equal(swap_store_open(&s, path, err, sizeof(err)), 0);
	assert_int_equal(swap_store_verify(s, NULL, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "layer 2 kind 2 channel 7"));
	swap_store_close(s);
}

static void test_hostile_header(void **state)
{
	struct swap_store_desc d = desc(2, 1);
	struct swap_store *s = NULL;
	char err[256];

	assert_int_equal(swap_store_write_synthetic(path, &d, 3, err, sizeof(err)), 0);
	poke(0, 1); /* magic */
	assert_int_equal(swap_store_open(&s, path, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "magic"));
	poke(0, 1);
	poke(30, 0x40); /* group field: header checksum catches it */
	assert_int_equal(swap_store_open(&s, path, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "checksum"));
	poke(30, 0x40);
	assert_int_equal(swap_store_open(&s, path, err, sizeof(err)), 0);
	swap_store_close(s);
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 4096), 0);
	assert_true(swap_store_open(&s, path, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(truncate(path, 100), 0);
	assert_true(swap_store_open(&s, path, err, sizeof(err)) < 0);
	assert_int_equal(swap_store_open(&s, "/nonexistent/x.asw", err, sizeof(err)), -ENOENT);
	assert_null(s);
}

/* A store is never visible under its final name before finish. */
static void test_writer_atomic(void **state)
{
	struct swap_store_desc d = desc(2, 1);
	struct swap_writer *w;
	char err[256], tmp[400];
	uint8_t buf[300] = { 0 };
	struct stat st;

	unlink(path);
	assert_int_equal(swap_writer_create(&w, path, &d, err, sizeof(err)), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(swap_writer_bundle(w, (struct swap_key){ 0, 0, 0 }, buf), 0);
	assert_int_equal(swap_writer_bundle(w, (struct swap_key){ 2, 0, 0 }, buf), -EINVAL);
	assert_int_equal(swap_writer_resident(w, 0, buf, 3), -EINVAL);
	/* missing bundles: finish fails and leaves nothing behind */
	assert_int_equal(swap_writer_finish(w, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "never written"));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(swap_writer_create(&w, path, &d, err, sizeof(err)), 0);
	swap_writer_abort(w);
	assert_int_equal(stat(tmp, &st), -1);
	/* bad descriptions */
	d.group = 3;
	assert_int_equal(swap_writer_create(&w, path, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "group"));
	d = desc(2, 1);
	d.kinds[1].n_mats = 4;
	assert_int_equal(swap_writer_create(&w, path, &d, err, sizeof(err)), -EINVAL);
	/* a name planted where the temporary file goes (a symlink to someone's file) is
	 * refused, and the file it points to is left as it was */
	{
		char victim[420];
		FILE *f;

		d = desc(2, 1);
		snprintf(victim, sizeof(victim), "%s.victim", path);
		f = fopen(victim, "w");
		assert_non_null(f);
		fputs("keep me", f);
		fclose(f);
		unlink(tmp);
		assert_int_equal(symlink(victim, tmp), 0);
		assert_true(swap_writer_create(&w, path, &d, err, sizeof(err)) < 0);
		assert_int_equal(stat(victim, &st), 0);
		assert_int_equal(st.st_size, 7);
		unlink(tmp);
		unlink(victim);
	}
}

/* Mutated headers with a recomputed checksum (so validation, not the crc, must catch
 * them), mutated tables and truncations: open fails with one message or the store is
 * consistent enough to verify and read; never a crash (ASan/UBSan build). */
static void test_hostile_mutations(void **state)
{
	struct swap_store_desc d = desc(3, 2);
	char err[256];
	uint8_t *good, *bad;
	long size;
	FILE *f;
	unsigned seed = 12345;
	int opened = 0, refused = 0;

	assert_int_equal(swap_store_write_synthetic(path, &d, 9, err, sizeof(err)), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	good = malloc((size_t)size);
	bad = malloc((size_t)size);
	assert_int_equal(fread(good, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	for (int it = 0; it < 400; it++) {
		struct swap_store *s = NULL;
		long len = size;
		int nflip = 1 + rand_r(&seed) % 4;

		memcpy(bad, good, (size_t)size);
		for (int j = 0; j < nflip; j++) {
			long off;

			if (it % 2 == 0)
				off = rand_r(&seed) % 400; /* header fields */
			else
				off = rand_r(&seed) % (size < 5 * 4096 ? size : 5 * 4096); /* tables */
			bad[off] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
			if (rand_r(&seed) % 4 == 0)
				bad[off] = 0xff;
		}
		if (it % 2 == 0) {
			uint32_t c = swap_crc32c(0, bad, 4092);

			memcpy(bad + 4092, &c, 4);
		}
		if (it % 7 == 0)
			len = rand_r(&seed) % size;
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(bad, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		err[0] = 0;
		if (swap_store_open(&s, path, err, sizeof(err))) {
			assert_null(s);
			assert_true(err[0] != 0);
			refused++;
			continue;
		}
		opened++;
		(void)swap_store_verify(s, NULL, NULL, err, sizeof(err));
		const struct swap_store_desc *g = swap_store_desc(s);
		uint8_t *buf = malloc(swap_store_bundle_bytes(s, SWAP_ATTN_IN) + 1);

		struct swap_key k = { g->n_layers - 1, SWAP_ATTN_IN, g->kinds[0].in - 1 };
		(void)swap_store_read_bundle(s, k, buf);
		free(buf);
		swap_store_close(s);
	}
	fprintf(stderr, "# %d mutated stores refused, %d opened\n", refused, opened);
	assert_true(refused > 100);
	free(good);
	free(bad);
}

static void test_crc32c(void **state)
{
	/* RFC 3720 test vectors */
	uint8_t z[32] = { 0 }, o[32];

	memset(o, 0xff, sizeof(o));
	assert_int_equal(swap_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(swap_crc32c(0, z, 32), 0x8a9136aa);
	assert_int_equal(swap_crc32c(0, o, 32), 0x62a8ab43);
	assert_int_equal(swap_crc32c(swap_crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
	assert_int_equal(swap_crc32c_soft(0, "123456789", 9), 0xe3069283);
	assert_int_equal(swap_crc32c_soft(0, o, 32), 0x62a8ab43);
}

/* The instruction path (SSE4.2 / ARMv8 CRC32C, when the CPU has it) against the table on
 * every length and alignment around the 8-byte steps. */
static void test_crc32c_hw_vs_soft(void **state)
{
	uint8_t buf[300];
	uint64_t rs = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		rs = rs * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (uint8_t)(rs >> 56);
	}
	print_message("# crc32c: %s\n", swap_crc32c_hw() ? "instruction" : "table");
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 1 + len / 16)
			assert_int_equal(swap_crc32c(0x1234u * (uint32_t)len, buf + off, len),
					 swap_crc32c_soft(0x1234u * (uint32_t)len, buf + off, len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_crc32c_hw_vs_soft),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_bundle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_mutations, setup, teardown),
	};

	return cmocka_run_group_tests_name("swap_store", tests, NULL, NULL);
}

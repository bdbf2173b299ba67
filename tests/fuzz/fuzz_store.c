// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for libswap's store reader: the input is written to a memfd and opened
 * with swap_store_open() through /proc/self/fd. When it opens, everything a reader can
 * reach is exercised: the description, every kind's first and last bundle of the first
 * and last layer (location, crc, read), the resident tensors, and the whole-file
 * verification. A crash, a sanitizer report or a location outside the file fails.
 *
 * The header's crc32c is recomputed over the mutated input before it is written, so the
 * mutations reach the checks of the header's fields and tables behind it instead of all
 * stopping at the checksum (which tests/unit/test_swap_store.c covers).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libswap.h"
#include "swap_int.h" /* SWAP_HDR_BYTES, SWAP_HDR_CRC_OFF */

static void check_bundle(const struct swap_store *s, uint32_t layer, uint32_t kind,
			 uint32_t ch, uint64_t file_size, void *buf, uint64_t cap)
{
	struct swap_key k = { layer, kind, ch };
	uint64_t off = 0, len = 0;

	if (swap_store_bundle_loc(s, k, &off, &len))
		return;
	if (off > file_size || len > file_size - off)
		abort(); /* the reader promised a location inside the file */
	(void)swap_store_bundle_crc(s, k);
	if (swap_store_bundle_bytes(s, (enum swap_kind)kind) <= cap)
		(void)swap_store_read_bundle(s, k, buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static uint8_t buf[1u << 20];
	struct swap_store *s;
	const struct swap_store_desc *d;
	char err[512];
	uint64_t fs;

	if (fd < 0) {
		fd = memfd_create("fuzz_store", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	if (size >= SWAP_HDR_BYTES) {
		uint32_t crc = swap_crc32c(0, data, SWAP_HDR_CRC_OFF);
		uint8_t le[4] = { (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
				  (uint8_t)(crc >> 24) };

		if (pwrite(fd, le, 4, SWAP_HDR_CRC_OFF) != 4)
			abort();
	}
	if (swap_store_open(&s, path, err, sizeof(err)))
		return 0;
	d = swap_store_desc(s);
	fs = swap_store_file_size(s);
	if (fs != size)
		abort();
	(void)swap_store_n_bundles(s);
	(void)swap_store_swappable_bytes(s);
	for (uint32_t k = 0; k < SWAP_KIND_MAX; k++) { /* absent low kinds: in 0 */
		uint32_t n = d->kinds[k].in;
		uint32_t layers[2] = { 0, d->n_layers ? d->n_layers - 1 : 0 };

		for (int li = 0; li < 2; li++) {
			check_bundle(s, layers[li], k, 0, fs, buf, sizeof(buf));
			if (n)
				check_bundle(s, layers[li], k, n - 1, fs, buf, sizeof(buf));
			check_bundle(s, layers[li], k, n, fs, buf, sizeof(buf)); /* past the end */
		}
	}
	for (uint32_t i = 0; i < swap_store_n_resident(s) && i < 64; i++) {
		const struct swap_resident *r = swap_store_resident(s, i);

		if (!r)
			abort();
		if (r->offset > fs || r->d.size > fs - r->offset)
			abort();
		if (swap_store_find_resident(s, r->d.name) == NULL)
			abort();
		if (r->d.size <= sizeof(buf))
			(void)swap_store_read_resident(s, r, buf);
	}
	(void)swap_store_verify(s, NULL, NULL, err, sizeof(err));
	swap_store_close(s);
	return 0;
}

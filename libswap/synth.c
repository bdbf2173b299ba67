// SPDX-License-Identifier: MIT
/* Synthetic stores: deterministic pseudo-random bundle bytes for tests and benchmarks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "swap_int.h"

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static void fill(uint64_t st, uint8_t *p, uint64_t len)
{
	uint64_t i = 0;

	for (; i + 8 <= len; i += 8) {
		st += 0x9e3779b97f4a7c15ull;
		uint64_t v = mix(st);

		memcpy(p + i, &v, 8);
	}
	if (i < len) {
		uint64_t v = mix(st + 0x9e3779b97f4a7c15ull);

		memcpy(p + i, &v, len - i);
	}
}

void swap_synthetic_bundle(uint64_t seed, struct swap_key k, void *dst, uint64_t len)
{
	fill(mix(seed ^ mix(((uint64_t)k.layer << 40) ^ ((uint64_t)k.kind << 32) ^ k.channel)),
	     dst, len);
}

int swap_store_write_synthetic(const char *path, const struct swap_store_desc *d,
			       uint64_t seed, char *err, size_t errlen)
{
	struct swap_writer *w;
	uint64_t maxb = 0;
	uint8_t *buf;
	int r = swap_writer_create(&w, path, d, err, errlen);

	if (r)
		return r;
	for (int k = 0; k < SWAP_KIND_MAX; k++)
		if (swap_writer_bundle_bytes(w, k) > maxb)
			maxb = swap_writer_bundle_bytes(w, k);
	for (uint32_t i = 0; i < d->n_resident; i++)
		if (d->resident[i].size > maxb)
			maxb = d->resident[i].size;
	buf = malloc(maxb ? maxb : 1);
	if (!buf) {
		swap_writer_abort(w);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < d->n_resident && !r; i++) {
		fill(mix(seed + 1000003ull * (i + 1)), buf, d->resident[i].size);
		r = swap_writer_resident(w, i, buf, d->resident[i].size);
	}
	for (uint32_t l = 0; l < d->n_layers && !r; l++) {
		for (uint32_t k = 0; k < SWAP_KIND_MAX && !r; k++) {
			uint64_t bb = swap_writer_bundle_bytes(w, k);

			for (uint32_t c = 0; c < d->kinds[k].in && !r; c++) {
				struct swap_key key = { l, k, c };

				swap_synthetic_bundle(seed, key, buf, bb);
				r = swap_writer_bundle(w, key, buf);
			}
		}
	}
	free(buf);
	if (r) {
		swap_seterr(err, errlen, "%s: writing: %s", path, strerror(-r));
		swap_writer_abort(w);
		return r;
	}
	return swap_writer_finish(w, err, errlen);
}

// SPDX-License-Identifier: MIT
/*
 * A fetch storm through libswap for tests/integration/bpf_trace.sh: writes a small
 * generated store, runs a decode-shaped request pattern through an engine whose DRAM budget
 * holds only part of it (so there are hits, misses, evictions, coalesced reads and
 * cancelled preloads), waits until no read is queued or in flight, and prints libswap's own
 * per-layer statistics as one JSON object laid out like `activeswap trace --json`
 * ("layers": [{"layer", "reads", "bytes", "hits", "misses", "evicts", "errors",
 * "stall_ns"}], "fetches": reads issued = reads completed).
 *
 * usage: swap_storm DIR TOKENS SEED [BACKEND [EIO_EVERY]]
 *   BACKEND: auto | uring | pread | fault (fault: every EIO_EVERY-th read fails with EIO)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libswap.h"

#define LAYERS 6
#define GROUP 2
#define DIM 64
#define HIDDEN 172
#define TYPE_F32 0 /* ggml numbering */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

static void set_mat(struct swap_kind_desc *k, uint32_t in, const uint32_t *outs, uint32_t n)
{
	k->in = in;
	k->n_mats = n;
	for (uint32_t i = 0; i < n; i++) {
		k->mats[i].out = outs[i];
		k->mats[i].type = TYPE_F32;
		k->mats[i].col_bytes = outs[i] * 4;
	}
}

static int write_store(const char *path)
{
	static const char meta[] = "swap_storm test store";
	const uint32_t qkv[] = { DIM, DIM / 2, DIM / 2 }, o[] = { DIM }, gu[] = { HIDDEN, HIDDEN },
		       down[] = { DIM };
	struct swap_store_desc d;
	struct swap_writer *w;
	char err[256];
	uint8_t *buf;
	int r;

	memset(&d, 0, sizeof(d));
	d.n_layers = LAYERS;
	d.group = GROUP;
	d.hp = (struct swap_hparams){ .dim = DIM, .hidden = HIDDEN, .n_heads = 8,
				      .n_kv_heads = 4, .vocab = 512, .n_ctx = 128,
				      .rms_eps = 1e-5f, .rope_theta = 10000.0f };
	set_mat(&d.kinds[SWAP_ATTN_IN], DIM, qkv, 3);
	set_mat(&d.kinds[SWAP_ATTN_OUT], DIM, o, 1);
	set_mat(&d.kinds[SWAP_FFN_IN], DIM, gu, 2);
	set_mat(&d.kinds[SWAP_FFN_OUT], HIDDEN, down, 1);
	d.meta = meta;
	d.meta_len = sizeof(meta);
	r = swap_writer_create(&w, path, &d, err, sizeof(err));
	if (r) {
		fprintf(stderr, "swap_storm: create %s: %s\n", path, err);
		return r;
	}
	buf = malloc(4 * 2 * HIDDEN);
	if (!buf) {
		swap_writer_abort(w);
		return -ENOMEM;
	}
	for (uint32_t l = 0; l < LAYERS; l++)
		for (uint32_t k = 0; k < SWAP_KIND_COUNT; k++)
			for (uint32_t c = 0; c < d.kinds[k].in; c++) {
				struct swap_key key = { l, k, c };

				for (uint64_t i = 0; i < swap_writer_bundle_bytes(w, k); i++)
					buf[i] = (uint8_t)(l * 31 + k * 7 + c + i);
				r = swap_writer_bundle(w, key, buf);
				if (r) {
					fprintf(stderr, "swap_storm: bundle: %s\n", strerror(-r));
					free(buf);
					swap_writer_abort(w);
					return r;
				}
			}
	free(buf);
	r = swap_writer_finish(w, err, sizeof(err));
	if (r)
		fprintf(stderr, "swap_storm: finish: %s\n", err);
	return r;
}

/* A Top-K-like pick: a hot half of the channels most of the time, the rest sometimes. */
static size_t pick(struct swap_key *keys, uint32_t layer, uint32_t kind, uint32_t in, size_t k)
{
	size_t n = 0;

	for (size_t i = 0; i < k; i++) {
		uint32_t c = rnd() % 4 ? rnd() % (in / 2) : in / 2 + rnd() % (in - in / 2);
		bool dup = false;

		for (size_t j = 0; j < n; j++)
			dup |= keys[j].channel == c;
		if (!dup)
			keys[n++] = (struct swap_key){ layer, kind, c };
	}
	return n;
}

int main(int argc, char **argv)
{
	struct swap_engine_params p;
	struct swap_store *s;
	struct swap_engine *e;
	struct swap_stats st;
	struct swap_key keys[256];
	const void *ptrs[256];
	char path[4096], err[256];
	long tokens;
	uint64_t retries = 0;
	int r;

	if (argc < 4 || (tokens = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: swap_storm DIR TOKENS SEED [BACKEND [EIO_EVERY]]\n");
		return 2;
	}
	rng_state = strtoull(argv[3], NULL, 10);
	snprintf(path, sizeof(path), "%s/swap_storm.asw", argv[1]);
	if (write_store(path))
		return 1;
	r = swap_store_open(&s, path, err, sizeof(err));
	if (r) {
		fprintf(stderr, "swap_storm: open: %s\n", err);
		return 1;
	}
	memset(&p, 0, sizeof(p));
	p.policy = SWAP_POLICY_FREQ;
	p.backend = argc > 4 ? swap_backend_from_name(argv[4]) : SWAP_BACKEND_AUTO;
	if ((int)p.backend < 0) {
		fprintf(stderr, "swap_storm: unknown backend %s\n", argv[4]);
		return 2;
	}
	if (p.backend == SWAP_BACKEND_FAULT) {
		p.fault.mode = SWAP_FAULT_EIO;
		p.fault.every = argc > 5 ? strtoull(argv[5], NULL, 10) : 7;
	}
	p.queue_depth = 8;
	p.max_read_bytes = 64 * 1024;
	p.numa_node = -1;
	p.flags = SWAP_F_NO_MLOCK;
	/* room for a bit more than the minimum: most bundles must be fetched again */
	p.budget_bytes = swap_engine_min_budget(s, &p) + swap_store_swappable_bytes(s) / 4;
	r = swap_engine_create(&e, s, &p, err, sizeof(err));
	if (r) {
		fprintf(stderr, "swap_storm: engine: %s\n", err);
		swap_store_close(s);
		return 1;
	}

	for (long t = 0; t < tokens; t++) {
		swap_token_begin(e, (uint64_t)t);
		for (uint32_t l = 0; l < LAYERS; l++) {
			swap_layer_begin(e, l);
			for (uint32_t k = 0; k < SWAP_KIND_COUNT; k++) {
				uint32_t in = k == SWAP_FFN_OUT ? HIDDEN : DIM;
				size_t n = pick(keys, l, k, in, in / 3);

				/* preload the next layer's likely channels, cancel half of them */
				if (l + 1 < LAYERS) {
					struct swap_key pre[64];
					size_t np = pick(pre, l + 1, k, in, 16);

					swap_request(e, pre, np, SWAP_PRIO_NEXT, (uint64_t)t);
					if (rnd() % 2)
						swap_cancel(e, (uint64_t)t, 1u << SWAP_PRIO_NEXT);
				}
				for (int tries = 0; (r = swap_acquire(e, keys, n, ptrs)); tries++) {
					if (r != -EIO || tries > 100) {
						fprintf(stderr, "swap_storm: acquire: %s\n",
							strerror(-r));
						return 1;
					}
					retries++; /* injected EIO: a new call retries */
				}
				swap_release(e, keys, n);
			}
		}
		swap_token_end(e);
	}
	/* nothing queued, nothing in flight: every read issued has completed */
	swap_cancel(e, SWAP_TAG_ANY, (1u << SWAP_PRIO_COUNT) - 1);
	for (int i = 0;; i++) {
		swap_engine_stats(e, &st);
		if (!st.inflight && !st.queued)
			break;
		if (i > 10000) {
			fprintf(stderr, "swap_storm: reads still in flight\n");
			return 1;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	printf("{\"backend\":\"%s\",\"fetches\":%llu,\"retries\":%llu,\"tokens\":%ld,\"layers\":[",
	       swap_engine_backend_name(e), (unsigned long long)st.total.reads,
	       (unsigned long long)retries, tokens);
	for (uint32_t l = 0; l < LAYERS; l++) {
		struct swap_layer_stats ls;

		if (swap_engine_layer_stats(e, l, &ls))
			return 1;
		printf("%s{\"layer\":%u,\"reads\":%llu,\"bytes\":%llu,\"hits\":%llu,"
		       "\"misses\":%llu,\"evicts\":%llu,\"errors\":%llu,\"stall_ns\":%llu}",
		       l ? "," : "", l, (unsigned long long)ls.reads,
		       (unsigned long long)ls.bytes_read, (unsigned long long)ls.hits,
		       (unsigned long long)ls.misses, (unsigned long long)ls.evictions,
		       (unsigned long long)ls.read_errors, (unsigned long long)ls.stall_ns);
	}
	printf("]}\n");
	fflush(stdout);
	swap_engine_destroy(e);
	swap_store_close(s);
	return 0;
}

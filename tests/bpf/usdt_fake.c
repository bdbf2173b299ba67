// SPDX-License-Identifier: MIT
/*
 * A stand-in for libswap in the BPF tracer test: fires the activeswap USDT probes of
 * Documentation/usdt.md in a fixed pseudo-random pattern and prints the per-layer counts it
 * fired as one JSON object, laid out like the tracer's ("layers": [...], "totals": {...}).
 * tests/integration/bpf_trace.sh uses it only when the real engine cannot be driven.
 *
 * usage: usdt_fake TOKENS LAYERS SEED
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

#define MAX_LAYERS 64

struct counts {
	uint64_t reads, bytes, hits, misses, evicts, completes, errors, stalls, stall_ns, passes;
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

int main(int argc, char **argv)
{
	static struct counts c[MAX_LAYERS];
	uint64_t tag = 0, fetches = 0, token_stall_sum = 0;
	long tokens, layers;

	if (argc != 4 || (tokens = atol(argv[1])) <= 0 || (layers = atol(argv[2])) <= 0 ||
	    layers > MAX_LAYERS) {
		fprintf(stderr, "usage: usdt_fake TOKENS LAYERS(1..%d) SEED\n", MAX_LAYERS);
		return 2;
	}
	rng_state = strtoull(argv[3], NULL, 10);
	for (uint64_t t = 0; t < (uint64_t)tokens; t++) {
		uint64_t token_stall = 0;

		DTRACE_PROBE1(activeswap, token_begin, t);
		for (int32_t l = 0; l < layers; l++) {
			uint32_t nch = 8 + rnd() % 24, missed = 0;

			DTRACE_PROBE2(activeswap, layer_begin, l, t);
			c[l].passes++;
			for (uint32_t ch = 0; ch < nch; ch++) {
				int32_t kind = (int32_t)(rnd() % 4);

				if (rnd() % 3) {
					DTRACE_PROBE3(activeswap, cache_hit, l, ch, kind);
					c[l].hits++;
				} else {
					DTRACE_PROBE3(activeswap, cache_miss, l, ch, kind);
					c[l].misses++;
					missed++;
					if (rnd() % 2) {
						DTRACE_PROBE3(activeswap, cache_evict, l, ch, kind);
						c[l].evicts++;
					}
				}
			}
			/* the misses go out as one read covering this layer and, sometimes, the
			 * next one (as a coalesced group read would) */
			if (missed) {
				uint64_t own = 4096ULL * missed, next = 0;
				int32_t prio = (int32_t)(rnd() % 3);
				/* latencies from ~0.5 µs to ~16 ms, spread over the log2 slots */
				uint64_t lat = 500ULL << (rnd() % 16);
				int64_t result;

				if (l + 1 < layers && rnd() % 2)
					next = 4096ULL * (1 + rnd() % 4);
				result = rnd() % 50 ? (int64_t)(own + next) : -5; /* some EIO */
				tag++;
				DTRACE_PROBE4(activeswap, fetch_submit, tag, l, own + next, prio);
				c[l].reads++;
				DTRACE_PROBE2(activeswap, bundle_bytes, l, own);
				c[l].bytes += own;
				if (next) {
					DTRACE_PROBE2(activeswap, bundle_bytes, l + 1, next);
					c[l + 1].bytes += next;
				}
				DTRACE_PROBE5(activeswap, fetch_complete, tag, l, own + next, result,
					      lat);
				c[l].completes++;
				fetches++;
				if (result < 0)
					c[l].errors++;
				if (prio == 0) {
					DTRACE_PROBE2(activeswap, stall, l, lat);
					c[l].stalls++;
					c[l].stall_ns += lat;
					token_stall += lat;
				}
			}
		}
		DTRACE_PROBE2(activeswap, token_end, t, token_stall);
		token_stall_sum += token_stall;
	}
	printf("{\"fetches\":%llu,\"tokens\":%ld,\"token_stall_ns\":%llu,\"layers\":[",
	       (unsigned long long)fetches, tokens, (unsigned long long)token_stall_sum);
	for (int l = 0; l < layers; l++)
		printf("%s{\"layer\":%d,\"reads\":%llu,\"bytes\":%llu,\"hits\":%llu,"
		       "\"misses\":%llu,\"evicts\":%llu,\"completes\":%llu,\"errors\":%llu,"
		       "\"stalls\":%llu,\"stall_ns\":%llu,\"passes\":%llu}",
		       l ? "," : "", l, (unsigned long long)c[l].reads,
		       (unsigned long long)c[l].bytes, (unsigned long long)c[l].hits,
		       (unsigned long long)c[l].misses, (unsigned long long)c[l].evicts,
		       (unsigned long long)c[l].completes, (unsigned long long)c[l].errors,
		       (unsigned long long)c[l].stalls, (unsigned long long)c[l].stall_ns,
		       (unsigned long long)c[l].passes);
	printf("]}\n");
	return 0;
}

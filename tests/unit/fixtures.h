/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the unit tests (tests/unit/fixtures.c, linked into every test): a
 * scratch directory, and models and stores made through the library calls behind
 * `activeswap mkmodel` and `activeswap convert`.
 */
#ifndef AS_TEST_FIXTURES_H
#define AS_TEST_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/quant.h"

/* mkdtemp of $AS_TMP/TAGXXXXXX (or /tmp/...) into dir[n]: 0 or -1. */
int fx_tmpdir(char *dir, size_t n, const char *tag);
/* rm -rf dir: 0 or -1. */
int fx_rmdir(const char *dir);

/* Overrides of mkmodel's tiny shape; 0 keeps the shape's value. */
struct fx_shape {
	uint64_t dim, hidden, heads, kv_heads, layers, ctx;
};
/* as_mkmodel of the tiny shape with s's overrides (s may be NULL), 2 threads; the error
 * line goes to stderr. 0 or a negative errno. */
int fx_mkmodel(const char *out, const struct fx_shape *s, enum ggml_type type, uint64_t seed);
struct as_mkmodel_params;
/* as_mkmodel of p (its shape and architecture set) in type with seed, 2 threads; the error
 * line goes to stderr. 0 or a negative errno. */
int fx_mkmodel_params(struct as_mkmodel_params *p, const char *out, enum ggml_type type,
		      uint64_t seed);
/* as_convert with a column type (AS_CONVERT_KEEP or a ggml type), a layer group, the row
 * copy and verification; the error line goes to stderr. */
int fx_convert(const char *in, const char *out, int type, uint32_t group, bool rows,
	       bool verify);

struct as_swap_params;
/* Swap parameters for tiny stores: n_ctx positions, the sparsity, 4 reads in flight of
 * at most 16 KiB, 16-channel chunks (several acquires per op: compute overlaps reads),
 * every bundle's crc32c checked at use; the rest 0 (defaults, budget for everything). */
void fx_swap_params(struct as_swap_params *p, uint32_t n_ctx, float sparsity);

/* Whether a loop over backends skips be: io_uring where this process cannot set one up
 * (the reason printed as a TAP comment). */
bool fx_backend_skipped(int be);

/* Whether this process can set up an io_uring (not under qemu-user, seccomp, or with
 * ACTIVESWAP_NO_URING set); when not, *why says why (a static string). */
bool fx_uring_usable(const char **why);

#endif

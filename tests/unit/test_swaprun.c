// SPDX-License-Identifier: MIT
/*
 * Swapping inference (runtime/swaprun.c) on generated stores:
 * - the invariant: for a given store and sparsity, greedy tokens and logits are
 *   bit-identical for budgets of 100%, 50% and 25% and for the io_uring and pread
 *   backends, with preloading on or off, with 1 or 2 threads, with and without gap
 *   filling, contextual, LRU and static (prefix hot set) policies; at 25% every token
 *   evicts (the store holds 4 layers, the pool about one);
 * - preload, cancel and on-demand paths all run, and every bundle's crc32c is checked at
 *   the moment the compute reads it (no slot used before its read completed);
 * - sparsity 0 from an f32 store equals the dense runtime (model.c) to rounding;
 * - a failing read fails the token with the read's error, and a too small budget is
 *   refused with -ENOSPC;
 * - a store header that lies about the model, and malformed levels files, are refused
 *   with one line.
 * Models are made with as_mkmodel and as_convert (the library calls behind the CLI's
 * mkmodel and convert).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "activeswap/convert.h"
#include "activeswap/kernels.h"
#include "activeswap/mkmodel.h"
#include "activeswap/model.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "fixtures.h"

#define N_STEPS 10
#define N_CTX 32

static char dir[512], gguf_q4[600], store_q4[600], gguf_f32[600], store_f32[600];
static char store_q8[600], store_rows[600], gguf_rows[600], store_norows[600];

/* A generated model: the tiny shape with these dimensions. */
static int mkmodel(const char *out, uint64_t dim, uint64_t hidden, uint64_t heads,
		   uint64_t kv_heads, uint64_t layers, enum ggml_type type, uint64_t seed)
{
	struct fx_shape sh = { dim, hidden, heads, kv_heads, layers, 0 };

	return fx_mkmodel(out, &sh, type, seed);
}

/* as_convert: type AS_CONVERT_KEEP or a column type, layer group, row copy. */
static int convert(const char *in, const char *out, int type, uint32_t group, bool rows)
{
	return fx_convert(in, out, type, group, rows, false);
}

static int setup(void **state)
{
	(void)state;
	if (fx_tmpdir(dir, sizeof(dir), "swaprun"))
		return -1;
	snprintf(gguf_q4, sizeof(gguf_q4), "%s/m.gguf", dir);
	snprintf(store_q4, sizeof(store_q4), "%s/m.asw", dir);
	snprintf(gguf_f32, sizeof(gguf_f32), "%s/f.gguf", dir);
	snprintf(store_f32, sizeof(store_f32), "%s/f.asw", dir);
	snprintf(store_q8, sizeof(store_q8), "%s/q8.asw", dir);
	snprintf(store_rows, sizeof(store_rows), "%s/rows.asw", dir);
	snprintf(gguf_rows, sizeof(gguf_rows), "%s/rows.gguf", dir);
	snprintf(store_norows, sizeof(store_norows), "%s/norows.asw", dir);
	if (mkmodel(gguf_q4, 128, 352, 4, 2, 4, GGML_TYPE_Q4_0, 7) ||
	    convert(gguf_q4, store_q4, AS_CONVERT_KEEP, 1, false))
		return -1;
	/* dim 384: large enough for the repacked Q4_0 kernels to round differently from the
	 * plain ones (they agree bit for bit on the dim-128 model) */
	if (mkmodel(gguf_rows, 384, 768, 8, 4, 4, GGML_TYPE_Q4_0, 5) ||
	    convert(gguf_rows, store_rows, AS_CONVERT_KEEP, 1, true) ||
	    convert(gguf_rows, store_norows, AS_CONVERT_KEEP, 1, false))
		return -1;
	/* f32; layer groups of 2: the layout without gap filling; and q8_0 columns (the q4_0
	 * store covers the other block type) */
	if (mkmodel(gguf_f32, 64, 160, 4, 2, 2, GGML_TYPE_F32, 3) ||
	    convert(gguf_f32, store_f32, AS_CONVERT_KEEP, 2, false) ||
	    convert(gguf_f32, store_q8, GGML_TYPE_Q8_0, 1, false))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(gguf_q4);
	unlink(store_q4);
	unlink(gguf_f32);
	unlink(store_f32);
	unlink(store_q8);
	unlink(store_rows);
	unlink(gguf_rows);
	unlink(store_norows);
	rmdir(dir);
	return 0;
}

struct runres {
	int32_t tokens[N_STEPS];
	float logits[N_STEPS][512];
	struct as_swap_stats st;
	uint64_t evictions;
};

static void base_params(struct as_swap_params *p)
{
	memset(p, 0, sizeof(*p));
	p->n_ctx = N_CTX;
	p->queue_depth = 4;
	p->max_read_bytes = 16 << 10;
	p->chunk = 16; /* several acquires per op: compute overlaps reads */
	p->check_use = true;
}

/* decode(): move the gap limit (0 and 64 KiB in turn, ending at 64) and set the same
 * sparsity again after every token, as the latency feedback would (no result changes) */
static bool move_knobs;

/* Greedy decode of N_STEPS tokens after a 3-token prompt. */
static void decode(const char *path, const struct as_swap_params *p, struct runres *res)
{
	struct as_swap_model *m;
	char err[512] = "";
	int32_t tok = 1;
	const int32_t prompt[3] = { 1, 17, 300 };
	struct swap_stats es;
	int r = as_swap_open(&m, path, p, err, sizeof(err));

	if (r)
		fail_msg("open: %s", err);
	assert_int_equal(as_swap_n_vocab(m), 512);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(as_swap_forward(m, prompt[i], i, i == 2), 0);
	for (uint32_t s = 0; s < N_STEPS; s++) {
		const float *lg = as_swap_logits(m);
		int32_t best = 0;

		memcpy(res->logits[s], lg, sizeof(res->logits[s]));
		for (int32_t v = 1; v < 512; v++)
			if (lg[v] > lg[best])
				best = v;
		res->tokens[s] = best;
		tok = best;
		if (move_knobs) {
			assert_int_equal(as_swap_set_gap(m, s % 2 ? 65536 : 0), 0);
			assert_int_equal(as_swap_set_sparsity(m, p->sparsity), 0);
		}
		assert_int_equal(as_swap_forward(m, tok, 3 + s, true), 0);
	}
	as_swap_stats(m, &res->st);
	as_swap_io_stats(m, &es);
	res->evictions = es.total.evictions;
	as_swap_close(m);
}

static void budgets_backends(const char *store)
{
	struct as_swap_params p;
	struct as_swap_budget bi;
	uint64_t full, minb;
	char err[512];
	struct runres *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));
	static const enum swap_backend_kind be[] = { SWAP_BACKEND_URING, SWAP_BACKEND_PREAD };
	static const double pct[] = { 1.0, 0.5, 0.25 };
	struct as_threadpool *tp2 = as_tp_create(2);

	base_params(&p);
	p.sparsity = 0.5f;
	assert_int_equal(as_swap_budget_info(store, &p, &bi, err, sizeof(err)), 0);
	full = bi.full;
	minb = bi.min;
	assert_true(bi.fixed < minb && minb < full);
	p.backend = SWAP_BACKEND_PREAD;
	p.budget_bytes = full;
	decode(store, &p, ref);
	assert_int_equal(ref->evictions, 0);
	for (size_t b = 0; b < 2; b++) {
		const char *why;

		if (be[b] == SWAP_BACKEND_URING && !fx_uring_usable(&why)) {
			print_message("# io_uring half skipped: %s\n", why);
			continue;
		}
		for (size_t i = 0; i < 3; i++) {
			for (int variant = 0; variant < 7; variant++) {
				base_params(&p);
				p.sparsity = 0.5f;
				p.backend = be[b];
				p.budget_bytes = (uint64_t)(full * pct[i]);
				if (p.budget_bytes < minb)
					p.budget_bytes = minb;
				p.no_preload = variant == 1;
				p.no_gap_fill = variant == 3;
				/* one read in flight: later preloads are still queued when the
				 * next prediction supersedes them, so cancel is exercised
				 * whatever the machine's speed */
				p.queue_depth = variant == 3 ? 1 : 0;
				p.tp = variant == 2 ? tp2 : NULL;
				p.policy = variant == 2 ? SWAP_POLICY_LRU :
					   variant >= 4 ? SWAP_POLICY_STATIC : SWAP_POLICY_FREQ;
				/* static hot set: by reads saved per byte, or uniform */
				p.uniform_cache = variant == 5;
				move_knobs = variant == 6;
				memset(x, 0, sizeof(*x));
				decode(store, &p, x);
				move_knobs = false;
				for (int k = 0; k < SWAP_KIND_COUNT && variant == 6; k++)
					assert_int_equal(x->st.gap_bytes[k], 16 << 10); /* max read */
				assert_memory_equal(x->tokens, ref->tokens, sizeof(ref->tokens));
				assert_memory_equal(x->logits, ref->logits, sizeof(ref->logits));
				assert_true(x->st.checked > 0);
				/* useful bytes: bundles used after their read, at most what
				 * the reads carried */
				assert_true(x->st.total.bytes_used <= x->st.total.bytes_read);
				assert_true(x->st.total.bytes_used > 0 || !x->st.total.bytes_read);
				if (pct[i] <= 0.25) {
					/* every token re-reads: more than the whole store */
					assert_true(x->evictions > 0);
					assert_true(x->st.total.bytes_read > 4 * (full - minb) / 3);
					if (!p.no_preload) {
						assert_true(x->st.total.predicted > 0);
						assert_true(x->st.cancelled > 0 || variant != 3);
					}
				}
			}
		}
	}
	/* a different sparsity changes the output (the comparison can fail) */
	base_params(&p);
	p.sparsity = 0.3f;
	decode(store, &p, x);
	assert_true(memcmp(x->logits, ref->logits, sizeof(ref->logits)) != 0);
	as_tp_destroy(tp2);
	free(ref);
	free(x);
}

static void test_budgets_backends_bit_identical(void **state)
{
	(void)state;
	budgets_backends(store_q4);
	budgets_backends(store_q8);
}

/* Sparsity 0 from an f32 store: the dense runtime's logits to rounding. */
static void test_sparsity0_equals_dense(void **state)
{
	struct as_swap_params p;
	struct as_swap_model *sm;
	struct as_model *dm;
	struct as_state *ds;
	char err[512] = "";
	const int32_t toks[6] = { 1, 5, 99, 300, 2, 511 };

	(void)state;
	base_params(&p);
	p.sparsity = 0.0f;
	assert_int_equal(as_swap_open(&sm, store_f32, &p, err, sizeof(err)), 0);
	/* layer groups of 2: no gaps to fill, so none can be set (0 is what it is) */
	assert_int_equal(as_swap_set_gap(sm, 8192), -EOPNOTSUPP);
	assert_int_equal(as_swap_set_gap(sm, 0), 0);
	assert_int_equal(as_swap_set_sparsity(sm, 1.0f), -EINVAL);
	assert_int_equal(as_swap_set_sparsity(sm, 0.0f), 0);
	assert_int_equal(as_model_load(&dm, gguf_f32, err, sizeof(err)), 0);
	assert_int_equal(as_state_new(&ds, dm, N_CTX, NULL), 0);
	for (uint32_t i = 0; i < 6; i++) {
		const float *a, *b;
		double mx = 0, dif = 0;

		assert_int_equal(as_swap_forward(sm, toks[i], i, true), 0);
		assert_int_equal(as_forward(ds, toks[i], i, true), 0);
		a = as_swap_logits(sm);
		b = ds->logits;
		/* plain compares, not fmax(): gcc 12 for aarch64 fails to vectorize fmax here
		 * (internal compiler error); the same result, NaN ignored as fmax does */
		for (int v = 0; v < 512; v++) {
			double fb = fabs(b[v]), d = fabs((double)a[v] - b[v]);

			if (fb > mx)
				mx = fb;
			if (d > dif)
				dif = d;
		}
		if (dif > 1e-4 * mx + 1e-6)
			fail_msg("token %u: max |swap - dense| = %g (max |logit| %g)", i, dif, mx);
	}
	as_state_free(ds);
	as_model_free(dm);
	as_swap_close(sm);
}

/* Greedy decode with the dense runtime, logits like decode(). */
static void decode_dense(const char *gguf, bool repack, struct runres *res)
{
	struct as_model_opts mo = { .repack = repack };
	struct as_model *dm;
	struct as_state *ds;
	char err[512] = "";
	const int32_t prompt[3] = { 1, 17, 300 };

	assert_int_equal(as_model_load_opts(&dm, gguf, &mo, err, sizeof(err)), 0);
	assert_int_equal(as_state_new(&ds, dm, N_CTX, NULL), 0);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(as_forward(ds, prompt[i], i, i == 2), 0);
	for (uint32_t s = 0; s < N_STEPS; s++) {
		int32_t best = 0;

		memcpy(res->logits[s], ds->logits, sizeof(res->logits[s]));
		for (int32_t v = 1; v < 512; v++)
			if (ds->logits[v] > ds->logits[best])
				best = v;
		res->tokens[s] = best;
		assert_int_equal(as_forward(ds, best, 3 + s, true), 0);
	}
	as_state_free(ds);
	as_model_free(dm);
}

/*
 * The row copy (convert --rows): at sparsity 0 the store runs the dense runtime's kernels
 * on it, bit-identical to the dense runtime on the GGUF (repacked, its default load),
 * whether all layers are resident or some are streamed through the two buffers, with 1 or
 * 2 threads; other levels and --no-rows use the columns, exactly as a store without the
 * copy does.
 */
static void test_row_copy(void **state)
{
	struct as_swap_params p;
	struct as_swap_model *m;
	struct as_swap_stats st;
	struct runres *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));
	struct as_threadpool *tp2 = as_tp_create(2);
	uint64_t fixed, layer;
	char err[512] = "";

	(void)state;
	decode_dense(gguf_rows, true, ref);
	/* plain Q4_0 rounds differently (so a layer left unrepacked is caught below) when
	 * the machine has the repacked kernels */
	decode_dense(gguf_rows, false, x);
	if (as_repack_useful(GGML_TYPE_Q4_0))
		assert_true(memcmp(x->logits, ref->logits, sizeof(ref->logits)) != 0);

	base_params(&p);
	p.sparsity = 0.0f;
	assert_int_equal(as_swap_open(&m, store_rows, &p, err, sizeof(err)), 0);
	assert_true(as_swap_row_mode(m));
	assert_null(as_swap_engine(m));
	/* the row copy takes every channel: nothing for the latency feedback to move */
	assert_int_equal(as_swap_set_sparsity(m, 0.3f), -EOPNOTSUPP);
	assert_int_equal(as_swap_set_gap(m, 8192), -EOPNOTSUPP);
	as_swap_stats(m, &st);
	fixed = st.fixed_bytes;
	layer = st.pool_bytes / 4; /* 4 equal layers, all resident */
	assert_true(layer > 0 && layer % 4096 == 0);
	as_swap_close(m);

	/* budget: all resident; 2 layers (none resident: both buffers); 3 layers (one
	 * resident); a bit less than everything */
	{
		const uint64_t budgets[] = { 0, fixed + 2 * layer, fixed + 3 * layer,
					     fixed + 4 * layer - 4096 };

		for (size_t b = 0; b < 4; b++) {
			for (int t = 0; t < 2; t++) {
				struct swap_stats es;

				base_params(&p);
				p.budget_bytes = budgets[b];
				p.tp = t ? tp2 : NULL;
				memset(x, 0, sizeof(*x));
				decode(store_rows, &p, x);
				assert_memory_equal(x->tokens, ref->tokens, sizeof(ref->tokens));
				assert_memory_equal(x->logits, ref->logits, sizeof(ref->logits));
				assert_int_equal(as_swap_open(&m, store_rows, &p, err, sizeof(err)), 0);
				assert_int_equal(as_swap_forward(m, 1, 0, true), 0);
				as_swap_io_stats(m, &es);
				as_swap_stats(m, &st);
				if (b == 0) {
					assert_int_equal(es.total.bytes_read, 0);
					assert_int_equal(st.total.hits, st.total.lookups);
				} else {
					/* every streamed layer read once per token */
					uint64_t streamed = b == 1 ? 4 : 3;

					assert_int_equal(es.total.bytes_read % layer, 0);
					assert_true(es.total.bytes_read >= streamed * layer);
					assert_int_equal(st.total.lookups - st.total.hits,
							 streamed * 4);
				}
				assert_true(st.pool_bytes + st.fixed_bytes <= st.budget_bytes ||
					    !budgets[b]);
				as_swap_close(m);
			}
		}
	}
	/* below two layers of buffers: refused with the minimum */
	base_params(&p);
	p.budget_bytes = fixed + 2 * layer - 4096;
	assert_int_equal(as_swap_open(&m, store_rows, &p, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "two layers of the row copy"));

	/* --no-rows and sparsity 0.5: the columns, as in the store without the copy */
	base_params(&p);
	p.no_rows = true;
	decode(store_rows, &p, x);
	assert_true(memcmp(x->logits, ref->logits, sizeof(ref->logits)) != 0);
	{
		struct runres *y = calloc(1, sizeof(*y));

		base_params(&p);
		decode(store_norows, &p, y);
		assert_memory_equal(x->logits, y->logits, sizeof(y->logits));
		p.sparsity = 0.5f;
		decode(store_norows, &p, y);
		decode(store_rows, &p, x);
		assert_memory_equal(x->logits, y->logits, sizeof(y->logits));
		free(y);
	}
	as_tp_destroy(tp2);
	free(ref);
	free(x);
}

/* A corrupt row copy: caught by crc32c at open (resident layer) or when a streamed layer
 * is read (the token fails with -EBADMSG, and again when retried). */
static void test_row_copy_corrupt(void **state)
{
	struct as_swap_params p;
	struct as_swap_model *m;
	struct as_swap_stats st;
	struct swap_store *s;
	char path[640], err[512] = "";
	uint64_t off, fixed, layer;
	FILE *in, *out;
	int c, r = 0;

	(void)state;
	assert_int_equal(swap_store_open(&s, store_rows, err, sizeof(err)), 0);
	off = swap_store_find_resident(s, "blk.3.ffn_down.weight")->offset + 100;
	swap_store_close(s);
	snprintf(path, sizeof(path), "%s/bad.asw", dir);
	in = fopen(store_rows, "rb");
	out = fopen(path, "wb");
	assert_true(in && out);
	for (uint64_t i = 0; (c = fgetc(in)) != EOF; i++)
		fputc(i == off ? c ^ 0x20 : c, out);
	fclose(in);
	fclose(out);

	base_params(&p);
	assert_int_equal(as_swap_open(&m, store_rows, &p, err, sizeof(err)), 0);
	as_swap_stats(m, &st);
	fixed = st.fixed_bytes;
	layer = st.pool_bytes / 4;
	as_swap_close(m);
	/* all resident: at open */
	assert_int_equal(as_swap_open(&m, path, &p, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "layer 3"));
	/* streamed: layer 3 of every token */
	p.budget_bytes = fixed + 3 * layer;
	assert_int_equal(as_swap_open(&m, path, &p, err, sizeof(err)), 0);
	r = as_swap_forward(m, 1, 0, true);
	assert_int_equal(r, -EBADMSG);
	assert_int_equal(as_swap_forward(m, 1, 0, true), -EBADMSG);
	as_swap_close(m);
	/* without verification the bytes are used as read */
	p.check_use = false;
	assert_int_equal(as_swap_open(&m, path, &p, err, sizeof(err)), 0);
	assert_int_equal(as_swap_forward(m, 1, 0, true), 0);
	as_swap_close(m);
	unlink(path);
}

/* A hostile row copy: a partial one or one matrix of the wrong shape is refused at
 * sparsity 0 with one line (and ignored at other levels); a complete one of the right
 * shapes opens in row mode. Synthetic stores with the q4 store's description. */
static void test_row_copy_hostile(void **state)
{
	static const char *const ops[7] = { "attn_q", "attn_k", "attn_v", "attn_output",
					    "ffn_gate", "ffn_up", "ffn_down" };
	/* rows x cols of the dim-128 model: dim 128, kv 64, hidden 352 */
	static const uint64_t shape[7][2] = { { 128, 128 }, { 64, 128 }, { 64, 128 },
					      { 128, 128 }, { 352, 128 }, { 352, 128 },
					      { 128, 352 } };
	struct swap_store *s;
	struct swap_store_desc d;
	struct swap_resident_desc *res;
	struct as_swap_params p;
	struct as_swap_model *m;
	char path[640], err[512] = "";
	uint32_t n0;

	(void)state;
	snprintf(path, sizeof(path), "%s/hostile-rows.asw", dir);
	assert_int_equal(swap_store_open(&s, store_q4, err, sizeof(err)), 0);
	d = *swap_store_desc(s);
	n0 = d.n_resident;
	res = calloc(n0 + 28, sizeof(*res));
	assert_non_null(res);
	memcpy(res, d.resident, n0 * sizeof(*res));
	for (uint32_t l = 0; l < 4; l++)
		for (int op = 0; op < 7; op++) {
			struct swap_resident_desc *x = &res[n0 + l * 7 + op];

			snprintf(x->name, sizeof(x->name), "blk.%u.%s.weight", l, ops[op]);
			x->type = GGML_TYPE_Q4_0;
			x->n_dims = 2;
			x->ne[0] = shape[op][1];
			x->ne[1] = shape[op][0];
			x->ne[2] = x->ne[3] = 1;
			x->size = shape[op][0] * shape[op][1] / 32 * 18;
		}
	d.resident = res;
	base_params(&p);
	for (int c = 0; c < 3; c++) {
		d.n_resident = c == 0 ? n0 + 1 : n0 + 28;
		/* case 1: blk.2.ffn_down with its dimensions swapped */
		res[n0 + 2 * 7 + 6].ne[0] = c == 1 ? 128 : 352;
		res[n0 + 2 * 7 + 6].ne[1] = c == 1 ? 352 : 128;
		assert_int_equal(swap_store_write_synthetic(path, &d, 9, err, sizeof(err)), 0);
		p.sparsity = 0.0f;
		err[0] = 0;
		if (c < 2) {
			assert_int_equal(as_swap_open(&m, path, &p, err, sizeof(err)), -EINVAL);
			assert_non_null(strstr(err, c == 0 ? "incomplete row copy" :
					       "blk.2.ffn_down.weight has the wrong type or shape"));
			assert_null(strchr(err, '\n'));
			p.sparsity = 0.5f; /* the copy is not used: the store opens */
			assert_int_equal(as_swap_open(&m, path, &p, err, sizeof(err)), 0);
			assert_false(as_swap_row_mode(m));
		} else {
			assert_int_equal(as_swap_open(&m, path, &p, err, sizeof(err)), 0);
			assert_true(as_swap_row_mode(m));
			assert_int_equal(as_swap_forward(m, 1, 0, true), 0);
		}
		as_swap_close(m);
	}
	swap_store_close(s);
	free(res);
	unlink(path);
}

/* --gap auto's replay: a time per candidate, the chosen gap one of them; group-1 only. */
/* The cost model: sparsity from the cached fraction (capped), and the read time from the
 * bandwidth over the active uncached bytes or, when given, from a time per uncached byte. */
static void test_cost_choose(void **state)
{
	struct as_cost_inputs in = { 0 };
	struct as_cost_choice c;

	(void)state;
	in.weight_bytes = 1000000000;
	in.cache_bytes = 250000000;
	in.n_layers = 10;
	in.flash_bps = 1e9;
	in.compute_bps = 1e11;
	in.max_sparsity = 0.5f;
	as_cost_choose(&in, -1, 0, &c);
	assert_true(fabsf(c.sparsity - 0.5f) < 1e-6f); /* 1 - 0.25 = 0.75, capped at 0.5 */
	assert_true(fabs(c.hit_rate - 0.25) < 1e-9);
	/* active 0.5e9, uncached 75% of it, at 1e9 B/s */
	assert_true(fabs(c.io_s - 0.375) < 1e-9);
	assert_true(fabs(c.compute_s - 0.005) < 1e-9);
	assert_true(fabs(c.tokens_per_s - 1 / 0.375) < 1e-9);
	/* 2 ns per uncached byte, needed or not: 0.75e9 bytes -> 1.5 s; sparsity and group
	 * given are kept */
	in.read_s_per_byte = 2e-9;
	as_cost_choose(&in, 0.5f, 3, &c);
	assert_int_equal(c.group, 3);
	assert_true(fabs(c.io_s - 1.5) < 1e-9);
	assert_true(fabs(c.tokens_per_s - 1 / 1.5) < 1e-9);
}

static void test_choose_gap(void **state)
{
	static const uint64_t cand[AS_GAP_CANDIDATES] = { 0, 8192, 16384, 32768, 65536,
							  131072 };
	struct as_gap_replay rp;
	struct swap_store *st;
	char err[256];
	double round_bytes = 0;
	uint64_t gap = 1;
	int found = 0;

	(void)state;
	assert_int_equal(as_choose_gap_bytes(store_q4, 0.5, 4, SWAP_BACKEND_AUTO, NULL, 0.05, &gap, &rp), 0);
	for (int c = 0; c < AS_GAP_CANDIDATES; c++) {
		assert_true(rp.t[c] > 0);
		found += gap == cand[c];
	}
	assert_int_equal(found, 1);
	/* bytes: every kind's channels (at most 16 MiB + one bundle of each) per round, at
	 * least two rounds */
	assert_int_equal(swap_store_open(&st, store_q4, err, sizeof(err)), 0);
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		uint64_t bb = swap_store_bundle_bytes(st, (enum swap_kind)k);
		uint64_t n = swap_store_desc(st)->kinds[k].in;

		if (n > (16u << 20) / bb)
			n = (16u << 20) / bb + 1;
		round_bytes += (double)n * (double)bb;
	}
	swap_store_close(st);
	assert_true(round_bytes > 0 && rp.bytes >= 2 * round_bytes);
	assert_true(fmod(rp.bytes, round_bytes) == 0);
	/* group-2 store: nothing to fill */
	assert_int_equal(as_choose_gap_bytes(store_f32, 0.5, 4, SWAP_BACKEND_AUTO, NULL, 0.05, &gap, NULL), -EINVAL);
	assert_int_equal(as_choose_gap_bytes(store_q4, 0, 4, SWAP_BACKEND_AUTO, NULL, 0.05, &gap, NULL), -EINVAL);
	assert_int_equal(as_choose_gap_bytes(store_q4, 0.5, 0, SWAP_BACKEND_AUTO, NULL, 0.05, &gap, NULL), -EINVAL);
	assert_true(as_choose_gap_bytes("/nonexistent/x.asw", 0.5, 4, SWAP_BACKEND_AUTO, NULL, 0.05, &gap, NULL) < 0);
}

static void test_read_error_and_small_budget(void **state)
{
	struct as_swap_params p;
	struct as_swap_model *m;
	struct as_swap_budget bi;
	char err[512] = "";
	int r = 0;

	(void)state;
	base_params(&p);
	p.sparsity = 0.5f;
	p.backend = SWAP_BACKEND_FAULT;
	p.fault.mode = SWAP_FAULT_EIO;
	p.fault.nth = 5;
	assert_int_equal(as_swap_open(&m, store_q4, &p, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < 4 && !r; i++)
		r = as_swap_forward(m, 1, i, true);
	assert_int_equal(r, -EIO);
	as_swap_close(m);

	base_params(&p);
	assert_int_equal(as_swap_budget_info(store_q4, &p, &bi, err, sizeof(err)), 0);
	p.budget_bytes = bi.min - 4096;
	assert_int_equal(as_swap_open(&m, store_q4, &p, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "too small"));
	p.budget_bytes = 0;
	p.sparsity = 1.0f;
	assert_int_equal(as_swap_open(&m, store_q4, &p, err, sizeof(err)), -EINVAL);
	assert_false(as_swap_is_store(gguf_q4));
	assert_true(as_swap_is_store(store_q4));
}

/* Write text to dir/lv.txt and parse it for 2 layers. */
static int parse_levels(const char *text, float *lv, char *err, size_t errlen)
{
	char path[640];
	FILE *f;

	snprintf(path, sizeof(path), "%s/lv.txt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	err[0] = 0;
	return as_swap_load_levels(path, 2, lv, err, errlen);
}

/* Calibrated levels files: the format calibrate writes is read back; hostile ones (cut
 * lines, trailing junk, duplicates, values out of range, missing entries) are refused
 * with one line naming the file. */
static void test_load_levels(void **state)
{
	static const char *const kinds[4] = { "attn_in", "attn_out", "ffn_in", "ffn_out" };
	char good[2048], bad[4096], longc[600], err[512];
	float lv[2 * SWAP_KIND_COUNT];
	size_t n = 0;

	(void)state;
	memset(longc, 'x', sizeof(longc) - 2);
	longc[0] = '#';
	longc[sizeof(longc) - 2] = '\n';
	longc[sizeof(longc) - 1] = 0;
	n += (size_t)snprintf(good + n, sizeof(good) - n, "# levels\r\n%s\nlayers 2\n\n", longc);
	for (int i = 0; i < 8; i++)
		n += (size_t)snprintf(good + n, sizeof(good) - n, "%d %s 0.%d\n", i / 4,
				      kinds[i % 4], i + 1);
	assert_int_equal(parse_levels(good, lv, err, sizeof(err)), 0);
	for (int i = 0; i < 8; i++)
		assert_true(fabsf(lv[i] - (float)(i + 1) / 10) < 1e-6f);

	/* a long non-comment line is not read as two lines */
	memset(bad, ' ', 300);
	snprintf(bad + 300, sizeof(bad) - 300, "0 attn_in 0.5\n%s", good);
	assert_int_equal(parse_levels(bad, lv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "lv.txt:1: line too long"));
	snprintf(bad, sizeof(bad), "%s1 ffn_out 0.5 junk\n", good);
	assert_int_equal(parse_levels(bad, lv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expected LAYER KIND LEVEL"));
	snprintf(bad, sizeof(bad), "%s1 ffn_out 0.5\n", good);
	assert_int_equal(parse_levels(bad, lv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	snprintf(bad, sizeof(bad), "%slayers 2\n", good);
	assert_int_equal(parse_levels(bad, lv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "layers"));
	assert_int_equal(parse_levels("layers 2\n0 attn_in nan\n", lv, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(parse_levels("layers 2\n2 attn_in 0.5\n", lv, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(parse_levels("layers 2\n0 attn_mid 0.5\n", lv, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "unknown KIND"));
	assert_int_equal(parse_levels("layers 2\n0 attn_in 0.5\n", lv, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "1 entries"));
	assert_int_equal(as_swap_load_levels("/nonexistent/lv.txt", 2, lv, err, sizeof(err)),
			 -ENOENT);
}

/* The Top-K count every selection (runtime, calibrate) shares. */
static void test_topk_count(void **state)
{
	(void)state;
	assert_int_equal(as_swap_topk_count(0.5f, 128), 64);
	assert_int_equal(as_swap_topk_count(0.0f, 7), 7);
	assert_int_equal(as_swap_topk_count(0.25f, 10), 8);
	assert_int_equal(as_swap_topk_count(0.999f, 10), 1);
	assert_int_equal(as_swap_topk_count(0.3f, 4096), 2867);
}

/* Copy store_q4 with the u32 at header offset `off` set to v (header crc redone). */
static void patch_store(const char *dst, uint32_t off, uint32_t v)
{
	FILE *in = fopen(store_q4, "rb"), *out = fopen(dst, "wb");
	uint8_t buf[65536];
	size_t n;
	bool first = true;

	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (first) {
			uint32_t crc;

			assert_true(n >= 4096);
			memcpy(buf + off, &v, 4); /* the format is little-endian, like x86 */
			crc = swap_crc32c(0, buf, 4092);
			memcpy(buf + 4092, &crc, 4);
			first = false;
		}
		assert_int_equal(fwrite(buf, 1, n, out), n);
	}
	fclose(in);
	fclose(out);
}

/* A store whose header lies about the model (hyper-parameters that do not divide, or do
 * not match its bundles or resident tensors) is refused with one line, never run. */
static void test_hostile_header(void **state)
{
	static const struct {
		uint32_t off, v;
		const char *needle;
	} cases[] = {
		{ 96 + 8, 3, "bad hyper-parameters" },        /* dim 128 % 3 heads */
		{ 96 + 8, 0, "bad hyper-parameters" },        /* no heads */
		{ 96 + 12, 3, "bad hyper-parameters" },       /* 4 heads % 3 kv heads */
		{ 96 + 8, 2, "does not match a layer" }, /* kv_dim no longer the K/V rows */
		{ 96 + 4, 353, "does not match a layer" }, /* hidden != the bundles' */
		{ 96 + 16, 1000, "token_embd.weight" },        /* vocab != the embeddings' rows */
		{ 96 + 0, 1u << 30, "bad hyper-parameters" }, /* absurd dim */
	};
	struct as_swap_params p;
	char path[640], err[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/bad.asw", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct as_swap_model *m = NULL;
		int r;

		patch_store(path, cases[i].off, cases[i].v);
		base_params(&p);
		p.sparsity = 0.5f;
		err[0] = 0;
		r = as_swap_open(&m, path, &p, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, cases[i].needle))
			fail_msg("case %zu: rc %d, '%s' (expected -EINVAL, '%s')", i, r, err,
				 cases[i].needle);
		assert_null(m);
		assert_null(strchr(err, '\n'));
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budgets_backends_bit_identical),
		cmocka_unit_test(test_sparsity0_equals_dense),
		cmocka_unit_test(test_row_copy),
		cmocka_unit_test(test_row_copy_corrupt),
		cmocka_unit_test(test_row_copy_hostile),
		cmocka_unit_test(test_cost_choose),
		cmocka_unit_test(test_read_error_and_small_budget),
		cmocka_unit_test(test_choose_gap),
		cmocka_unit_test(test_load_levels),
		cmocka_unit_test(test_topk_count),
		cmocka_unit_test(test_hostile_header),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

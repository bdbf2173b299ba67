// SPDX-License-Identifier: MIT
/*
 * Experts in the column layout (Documentation/store-format.md, "Expert columns", store
 * version 5; convert's expert_columns) and libswap's partial reads (swap_read_parts):
 * - the header: version 5 with the columns per bundle (dim for FFN_IN, the expert width
 *   for FFN_OUT), bundle bytes = columns x the column bytes; refused without columns,
 *   with columns on a version 3 store's kinds, with a column count the model does not
 *   have; convert refuses K-quant experts and the low-precision pair, one line each;
 * - at sparsity 0 (every column), and at expert sparsity 0.5, an f32 column store equals
 *   the dense runtime on the GGUF at the same expert sparsity (to rounding: 1e-4 of the
 *   largest logit, the same greedy tokens);
 * - a column store's greedy tokens and logits are bit-identical for budgets of 100%, 50%,
 *   25% and 12% (or the minimum), the io_uring and pread backends, prediction on or
 *   off, 1 or 2 threads, at expert sparsity 0 and 0.5: a missing expert's selected
 *   columns read past the cache give the bits of the whole bundle in DRAM (f32, 4 KiB
 *   gate/up column pairs); with columns much smaller than a page (q8_0, 544 bytes) a
 *   miss is read whole under Top-K too;
 * - at a tight budget and expert sparsity 0.5 the column store reads fewer flash bytes
 *   than the row store of the same model, with partial reads counted, and none at
 *   expert sparsity 0;
 * - expert prediction is off by default when the expert cache holds fewer gate/up
 *   bundles than two layers' chosen experts, on with more or when asked for;
 * - the cost model counts a missing expert's selected columns (and the pages their runs
 *   straddle), not the whole bundle, and computes on the selected share;
 * - swap_read_parts: parts (within one read, across reads, longer than a read buffer)
 *   land packed where asked with the bundle's bytes; bad keys and parts are refused;
 *   two started at once into lent slots both land; the free slots of a kind are lent
 *   until none is left (nothing evicted) and lent again once returned.
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
#include "activeswap/mkmodel.h"
#include "activeswap/model.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "fixtures.h"
#include "moefx.h"
#include "libswap.h"
#include "../../runtime/swapmodel.h"

#define N_CTX 24
#define VOCAB MOEFX_VOCAB
#define DIM 128
#define XW 256 /* expert width */

static char dir[512], gguf_f[600], store_f[600], gguf_q8[600], store_q8[600], rows_q8[600];
/* f32, expert width 512: a gate/up column pair is one 4 KiB page */
static char gguf_w[600], store_w[600], rows_w[600];

/* A Mixtral whose experts are as wide as its hidden */
static int mkmoe_shape(const char *out, enum ggml_type type, uint64_t layers, uint64_t seed,
		       uint64_t dim, uint64_t xw)
{
	return moefx_mkmoe(out, AS_ARCH_LLAMA, type, layers, seed, dim, xw, xw);
}

static int mkmoe(const char *out, enum ggml_type type, uint64_t layers, uint64_t seed)
{
	return mkmoe_shape(out, type, layers, seed, DIM, XW);
}

/* in converted with the experts in columns (cols) or rows; err gets the line. */
static int convert(const char *in, const char *out, bool cols, bool pair, char *err)
{
	struct as_convert_params p;

	as_convert_params_init(&p);
	p.verify = true;
	p.expert_columns = cols;
	p.expert_pair = pair;
	p.expert_types[0] = GGML_TYPE_Q8_0;
	p.expert_types[1] = GGML_TYPE_Q4_0;
	return as_convert(in, out, &p, NULL, err, 512);
}

static int setup(void **state)
{
	char err[512] = "";

	(void)state;
	if (fx_tmpdir(dir, sizeof(dir), "moecols"))
		return -1;
	snprintf(gguf_f, sizeof(gguf_f), "%s/f.gguf", dir);
	snprintf(store_f, sizeof(store_f), "%s/f.asw", dir);
	snprintf(gguf_q8, sizeof(gguf_q8), "%s/q8.gguf", dir);
	snprintf(store_q8, sizeof(store_q8), "%s/q8.asw", dir);
	snprintf(rows_q8, sizeof(rows_q8), "%s/q8r.asw", dir);
	snprintf(gguf_w, sizeof(gguf_w), "%s/w.gguf", dir);
	snprintf(store_w, sizeof(store_w), "%s/w.asw", dir);
	snprintf(rows_w, sizeof(rows_w), "%s/wr.asw", dir);
	if (mkmoe_shape(gguf_w, GGML_TYPE_F32, 4, 23, DIM, 512) ||
	    convert(gguf_w, store_w, true, false, err) ||
	    convert(gguf_w, rows_w, false, false, err) ||
	    mkmoe(gguf_f, GGML_TYPE_F32, 6, 21) || convert(gguf_f, store_f, true, false, err) ||
	    mkmoe(gguf_q8, GGML_TYPE_Q8_0, 12, 22) ||
	    convert(gguf_q8, store_q8, true, false, err) ||
	    convert(gguf_q8, rows_q8, false, false, err)) {
		fprintf(stderr, "# setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fx_rmdir(dir);
}

static void test_header(void **state)
{
	struct swap_store *st;
	struct as_swap_model *m = NULL;
	struct as_swap_params p;
	char err[512], bad[700], kq[700], out[700];
	uint64_t in_col, out_col;

	(void)state;
	assert_int_equal(swap_store_open(&st, store_q8, err, sizeof(err)), 0);
	assert_int_equal(swap_store_version(st), 5);
	assert_int_equal(swap_store_desc(st)->kinds[SWAP_FFN_IN].cols, DIM);
	assert_int_equal(swap_store_desc(st)->kinds[SWAP_FFN_OUT].cols, XW);
	assert_int_equal(swap_store_desc(st)->kinds[SWAP_ATTN_IN].cols, 0);
	/* q8_0 columns: ceil(out / 32) blocks of 34 bytes; gate and up, then down */
	in_col = 2 * (XW / 32) * 34;
	out_col = (DIM / 32) * 34;
	assert_int_equal(swap_store_bundle_bytes(st, SWAP_FFN_IN), DIM * in_col);
	assert_int_equal(swap_store_bundle_bytes(st, SWAP_FFN_OUT), XW * out_col);
	swap_store_close(st);
	snprintf(bad, sizeof(bad), "%s/bad.asw", dir);
	/* version 5 without the columns; a version 3 store called 5 */
	moefx_patch_header(store_q8, bad, 392, 0);
	assert_int_not_equal(swap_store_open(&st, bad, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "version 5 without expert columns"));
	moefx_patch_header(rows_q8, bad, 8, 5);
	assert_int_not_equal(swap_store_open(&st, bad, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "version 5 without expert columns"));
	/* a column count that changes the bundle size: the layout disagrees */
	moefx_patch_header(store_q8, bad, 392, DIM / 2);
	assert_int_not_equal(swap_store_open(&st, bad, err, sizeof(err)), 0);
	/* the columns of a 3-D expert nobody has: libswap takes it, the runtime does not */
	moefx_patch_header(store_q8, bad, 396, XW + 1);
	if (swap_store_open(&st, bad, err, sizeof(err)) == 0) {
		swap_store_close(st);
		moefx_params(&p, N_CTX);
		assert_int_equal(as_swap_open(&m, bad, &p, err, sizeof(err)), -EINVAL);
		assert_null(m);
	}
	/* K-quant experts and the low-precision pair: refused, one line */
	snprintf(kq, sizeof(kq), "%s/kq.gguf", dir);
	snprintf(out, sizeof(out), "%s/kq.asw", dir);
	assert_int_equal(mkmoe_shape(kq, GGML_TYPE_Q4_K, 1, 3, 256, 256), 0);
	assert_int_equal(convert(kq, out, true, false, err), -EINVAL);
	assert_non_null(strstr(err, "columns take f32, f16, bf16, q8_0 or q4_0"));
	assert_int_equal(convert(gguf_q8, out, true, true, err), -EINVAL);
	assert_non_null(strstr(err, "does not take --expert-types"));
	assert_int_equal(access(out, F_OK), -1);
}

/* The f32 column store against the dense runtime at the same expert sparsity. */
static void equals_dense(float es)
{
	struct moefx_run *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct as_swap_params p;

	assert_non_null(a);
	assert_non_null(b);
	moefx_params(&p, N_CTX);
	p.expert_sparsity = es;
	moefx_decode(store_f, &p, a);
	moefx_decode_dense(gguf_f, es, N_CTX, b);
	moefx_assert_close(a, b);
	free(a);
	free(b);
}

static void test_equals_dense(void **state)
{
	(void)state;
	equals_dense(0.0f);
	equals_dense(0.5f);
}

/* store at budgets, backends, thread counts and prediction on or off, expert sparsity es:
 * bit-identical; parts: whether misses are read in part there (the column sizes). */
static void budgets_backends(const char *store, float es, bool parts)
{
	static const enum swap_backend_kind be[] = { SWAP_BACKEND_URING, SWAP_BACKEND_PREAD };
	static const double pct[] = { 0.5, 0.25, 0.12 };
	struct moefx_run *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));
	struct as_threadpool *tp2 = as_tp_create(2);
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512];

	assert_non_null(ref);
	assert_non_null(x);
	moefx_params(&p, N_CTX);
	assert_int_equal(as_swap_budget_info(store, &p, &bi, err, sizeof(err)), 0);
	p.expert_sparsity = es;
	p.budget_bytes = bi.full;
	moefx_decode(store, &p, ref); /* 100%: every bundle in DRAM */
	assert_int_equal(ref->st.total.expert_hits, ref->st.total.expert_lookups);
	for (size_t b = 0; b < 2; b++) {
		const char *why;

		if (be[b] == SWAP_BACKEND_URING && !fx_uring_usable(&why)) {
			print_message("# io_uring half skipped: %s\n", why);
			continue;
		}
		for (size_t i = 0; i < 3; i++) {
			int variant = (int)(i + b) % 3;

			moefx_params(&p, N_CTX);
			p.backend = be[b];
			p.budget_bytes = (uint64_t)(bi.full * pct[i]);
			if (p.budget_bytes < bi.min)
				p.budget_bytes = bi.min;
			p.expert_sparsity = es;
			p.tp = variant == 1 ? tp2 : NULL;
			/* prediction asked for (the default leaves it off when misses are
			 * read in part or the cache is small), or off */
			p.expert_predict = variant == 2 ? 0 : 1;
			p.no_expert_predict = variant == 2;
			if (variant == 0) /* parts and bundles read in 8 KiB pieces */
				p.max_read_bytes = p.max_buffer_bytes = 8192;
			memset(x, 0, sizeof(*x));
			moefx_decode(store, &p, x);
			assert_memory_equal(x->tokens, ref->tokens, sizeof(ref->tokens));
			assert_memory_equal(x->logits, ref->logits, sizeof(ref->logits));
			if (pct[i] <= 0.25)
				assert_true(x->st.total.expert_hits < x->st.total.expert_lookups);
			/* a miss is read in part only under Top-K inside experts, with
			 * columns of a page or more */
			if (es == 0.0f || !parts)
				assert_int_equal(x->st.total.expert_part_reads, 0);
			else if (pct[i] <= 0.25)
				assert_true(x->st.total.expert_part_reads > 0);
		}
	}
	as_tp_destroy(tp2);
	free(ref);
	free(x);
}

static void test_budgets_backends_bit_identical(void **state)
{
	(void)state;
	budgets_backends(store_q8, 0.0f, false);
	budgets_backends(store_q8, 0.5f, false); /* 544-byte gate/up columns: whole */
	budgets_backends(store_w, 0.0f, true);
	budgets_backends(store_w, 0.5f, true); /* 4 KiB gate/up columns: in part */
}

/* At a tight budget, Top-K inside experts: the columns read fewer flash bytes (with
 * columns of a page or more; smaller ones share pages, which are read whole). */
static void test_reads_less(void **state)
{
	struct moefx_run *r = calloc(1, sizeof(*r)), *c = calloc(1, sizeof(*c));
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512];

	(void)state;
	assert_non_null(r);
	assert_non_null(c);
	moefx_params(&p, N_CTX);
	assert_int_equal(as_swap_budget_info(rows_w, &p, &bi, err, sizeof(err)), 0);
	p.budget_bytes = bi.min;
	assert_int_equal(as_swap_budget_info(store_w, &p, &bi, err, sizeof(err)), 0);
	if (bi.min > p.budget_bytes)
		p.budget_bytes = bi.min;
	/* a quarter over the larger minimum: a few experts of a layer cached */
	p.budget_bytes += p.budget_bytes / 4;
	p.backend = SWAP_BACKEND_PREAD;
	p.expert_sparsity = 0.5f;
	p.no_expert_predict = true;
	moefx_decode(rows_w, &p, r);
	moefx_decode(store_w, &p, c);
	print_message("# flash bytes at 1.25x the minimum, expert sparsity 0.5: rows %llu, "
		      "columns %llu (%llu partial reads)\n",
		      (unsigned long long)r->st.total.bytes_read,
		      (unsigned long long)c->st.total.bytes_read,
		      (unsigned long long)c->st.total.expert_part_reads);
	assert_int_equal(r->st.total.expert_part_reads, 0);
	assert_true(c->st.total.expert_part_reads > 0);
	assert_true((double)c->st.total.bytes_read < 0.9 * (double)r->st.total.bytes_read);
	free(r);
	free(c);
}

/* Expert prediction by default only with room for two layers' chosen experts, and not
 * when gate/up misses are read in part. */
static void test_predict_default(void **state)
{
	static const struct {
		const char *path;
		double budget;	/* of the store, 0: the minimum */
		uint32_t ask;	/* expert_predict */
		float es;
		uint32_t want;
		enum as_xp_off why;
	} c[] = {
		{ rows_w, 0, 0, 0.0f, 0, AS_XP_OFF_CACHE },   /* 2 gate/up slots */
		{ rows_w, 0.6, 0, 0.0f, 1, AS_XP_NOT_OFF },
		{ rows_w, 0, 1, 0.0f, 1, AS_XP_NOT_OFF },     /* asked for */
		{ store_w, 0.6, 0, 0.5f, 0, AS_XP_OFF_PARTIAL }, /* 4 KiB gate/up columns */
		{ store_w, 0.6, 0, 0.0f, 1, AS_XP_NOT_OFF },  /* no Top-K: read whole */
		{ store_w, 0.6, 1, 0.5f, 1, AS_XP_NOT_OFF },
	};
	struct as_swap_model *m;
	struct as_swap_params p;
	struct as_swap_budget bi;
	struct swap_stats s;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		enum as_xp_off why = AS_XP_NOT_OFF;
		uint32_t got;

		moefx_params(&p, N_CTX);
		assert_int_equal(as_swap_budget_info(c[i].path, &p, &bi, err, sizeof(err)), 0);
		p.budget_bytes = c[i].budget ? (uint64_t)(bi.full * c[i].budget) : bi.min;
		p.expert_predict = c[i].ask;
		p.expert_sparsity = c[i].es;
		assert_int_equal(as_swap_open(&m, c[i].path, &p, err, sizeof(err)), 0);
		swap_engine_stats(as_swap_engine(m), &s);
		got = as_swap_expert_predict(m, &why);
		print_message("# case %zu: %llu gate/up slots, prediction %u (why %d)\n", i,
			      (unsigned long long)s.kind_slots[SWAP_FFN_IN], got, (int)why);
		if (c[i].why == AS_XP_OFF_CACHE)
			assert_true(s.kind_slots[SWAP_FFN_IN] < 4);
		else if (!c[i].ask)
			assert_true(s.kind_slots[SWAP_FFN_IN] >= 4);
		assert_int_equal(got, c[i].want);
		assert_int_equal(why, c[i].why);
		as_swap_close(m);
	}
}

/* Which misses are read in part: gate/up of the wide f32 store (4 KiB column pairs: a
 * selection of half or less skips pages; of 70% it touches 0.91 of them, read whole),
 * not its down (512-byte columns), nothing of the q8_0 store's (544 and 136 bytes),
 * nothing without Top-K, nothing when the engine checks every read (SWAP_F_VERIFY). */
static void test_partial_kinds(void **state)
{
	static const struct { float es; unsigned want; unsigned flags; } c[] = {
		{ 0.5f, 1, 0 }, { 0.0f, 0, 0 }, { 0.5f, 0, 0 }, { 0.3f, 0, 0 }, { 0.6f, 1, 0 },
		{ 0.5f, 0, SWAP_F_VERIFY },
	};
	const char *paths[6] = { store_w, store_w, store_q8, store_w, store_w, store_w };
	struct as_swap_model *m;
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512];

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		moefx_params(&p, N_CTX);
		assert_int_equal(as_swap_budget_info(paths[i], &p, &bi, err, sizeof(err)), 0);
		p.budget_bytes = bi.min;
		p.expert_sparsity = c[i].es;
		p.engine_flags = c[i].flags;
		assert_int_equal(as_swap_open(&m, paths[i], &p, err, sizeof(err)), 0);
		assert_true(as_swap_expert_columns(m));
		assert_int_equal(as_swap_expert_partial(m), c[i].want);
		as_swap_close(m);
	}
	moefx_params(&p, N_CTX);
	assert_int_equal(as_swap_open(&m, rows_w, &p, err, sizeof(err)), 0);
	assert_false(as_swap_expert_columns(m));
	as_swap_close(m);
}

/* The ghost of an expert cache: ids without bytes, evicting by LRU or by the contextual
 * policy's decayed counters; its hits and decayed rate. */
static void test_xghost(void **state)
{
	static const struct { uint32_t id; bool hit; } seq[] = {
		{ 0, false }, { 1, false }, { 0, true },  /* 0 most recent, then 1 */
		{ 2, false },                             /* evicts 1 */
		{ 1, false },                             /* evicts 0 */
		{ 2, true },  { 1, true },  { 0, false }, /* evicts 2 */
		{ 2, false }, { 9, false },               /* 9: not an id */
	};
	struct sw_xghost g;
	double rate = 0;

	(void)state;
	assert_int_equal(sw_xghost_init(&g, 4, 2, true), 0);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		assert_int_equal(sw_xghost_use(&g, seq[i].id, i / 3), seq[i].hit);
		if (seq[i].id < 4)
			rate += ((seq[i].hit ? 1.0 : 0.0) - rate) / SW_XGHOST_WINDOW;
		assert_true(g.n <= 2);
	}
	assert_int_equal(g.lookups, 9);
	assert_int_equal(g.hits, 3);
	assert_float_equal(g.hit_rate, rate, 1e-12);
	sw_xghost_free(&g);

	/* two slots, experts 0 and 1 used every token and then 2 or 3 in turn (a cycle
	 * longer than the cache, as the layers' experts are): LRU never hits, the decayed
	 * counters keep 0 or 1 */
	for (int lru = 0; lru < 2; lru++) {
		assert_int_equal(sw_xghost_init(&g, 4, 2, lru), 0);
		for (uint64_t t = 0; t < 10; t++)
			for (uint32_t j = 0; j < 3; j++)
				sw_xghost_use(&g, j < 2 ? j : 2 + (uint32_t)(t & 1), t);
		print_message("# %s: %llu hits of %llu\n", lru ? "lru" : "contextual",
			      (unsigned long long)g.hits, (unsigned long long)g.lookups);
		assert_int_equal(g.lookups, 30);
		if (lru)
			assert_int_equal(g.hits, 0);
		else
			assert_true(g.hits >= 5); /* about one a token */
		sw_xghost_free(&g);
	}

	assert_int_equal(sw_xghost_init(&g, 4, 0, false), 0); /* no slots: never a hit */
	assert_false(sw_xghost_use(&g, 1, 0));
	assert_false(sw_xghost_use(&g, 1, 0));
	sw_xghost_free(&g);
}

/* A miss is read in part only while the part is at most 1 - the ghost's hit rate: the
 * wide f32 store's gate/up at S 0.5 covers 0.75 of the bundle (4 KiB column pairs). */
static void test_partial_follows_ghost(void **state)
{
	struct as_swap_model *m;
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512];

	(void)state;
	moefx_params(&p, N_CTX);
	assert_int_equal(as_swap_budget_info(store_w, &p, &bi, err, sizeof(err)), 0);
	p.budget_bytes = (uint64_t)(bi.full * 0.5);
	p.expert_sparsity = 0.5f;
	assert_int_equal(as_swap_open(&m, store_w, &p, err, sizeof(err)), 0);
	assert_true(m->xg[0].cap >= 2 && m->xg[0].n_ids == m->rm.hp.n_layer * m->rm.hp.n_expert);
	assert_false(m->xg[0].lru); /* the contextual policy by default */
	assert_int_equal(as_swap_expert_partial(m) & 1u, 1);
	m->xg[0].hit_rate = 0.2;
	assert_int_equal(as_swap_expert_partial(m) & 1u, 1);
	m->xg[0].hit_rate = 0.3; /* 0.75 > 0.7: whole, cached */
	assert_int_equal(as_swap_expert_partial(m) & 1u, 0);
	m->xg[0].hit_rate = 0;
	as_swap_close(m);
}

/* The cost model's share of a column bundle read under a selection, and the experts'
 * bytes and compute with it. */
static void test_cost_columns(void **state)
{
	struct as_cost_expert_inputs in = { 0 };
	struct as_cost_expert_est whole, part;

	(void)state;
	/* Mixtral-8x7B Q4_0: a gate+up column pair of 16128 bytes (0.58), down's of 2304
	 * (0.85); columns of a page: each page is one of them, one column of two */
	assert_float_equal(as_cost_column_read_share(0.5, 16128),
			   1 - pow(0.5, 1 + 4096 / 16128.0), 1e-12);
	assert_float_equal(as_cost_column_read_share(0.5, 2304), 1 - pow(0.5, 1 + 4096 / 2304.0),
			   1e-12);
	assert_float_equal(as_cost_column_read_share(0.5, 4096), 0.75, 1e-12);
	/* what a miss reads: that share, or whole above AS_COST_PART_MAX or when verified */
	assert_float_equal(as_cost_expert_read_share(0.5, 4096, false), 0.75, 1e-12);
	assert_float_equal(as_cost_expert_read_share(0.5, 4096, true), 1, 0);
	assert_float_equal(as_cost_expert_read_share(0.5, 864, false), 1, 0);
	assert_float_equal(as_cost_expert_read_share(0, 4096, false), 1, 0);
	/* columns much smaller than a page: nearly whole (Qwen3-30B-A3B's 864 bytes: 0.98);
	 * no selection: whole */
	assert_true(as_cost_column_read_share(0.5, 864) > 0.98);
	assert_float_equal(as_cost_column_read_share(1, 16128), 1, 0);
	assert_float_equal(as_cost_column_read_share(0, 16128), 1, 0);
	in.n_layers = 4;
	in.k = 2;
	in.in_bytes[0] = 1000;
	in.out_bytes[0] = 500;
	in.in_share[0] = 0.25;
	in.out_share[0] = 0.5;
	as_cost_experts(&in, AS_XPREC_OFF, 0, &whole);
	assert_float_equal(whole.bytes, 4 * 2 * (0.75 * 1000 + 0.5 * 500), 1e-9);
	in.in_read = 0.5;
	in.out_read = 0.8;
	in.compute_share = 0.5;
	as_cost_experts(&in, AS_XPREC_OFF, 0, &part);
	assert_float_equal(part.bytes, 4 * 2 * (0.75 * 1000 * 0.5 + 0.5 * 500 * 0.8), 1e-9);
	assert_float_equal(part.compute_s, whole.compute_s * 0.5, 1e-15);
}

/* swap_read_parts against whole bundles read by the store. */
static void test_read_parts(void **state)
{
	struct swap_store *st;
	struct swap_engine *e;
	struct swap_engine_params ep;
	char err[512];
	struct swap_key key = { 3, SWAP_FFN_IN, 5 };
	uint64_t bb;
	uint8_t *whole, *got;

	(void)state;
	assert_int_equal(swap_store_open(&st, store_q8, err, sizeof(err)), 0);
	memset(&ep, 0, sizeof(ep));
	ep.policy = SWAP_POLICY_LRU;
	ep.backend = SWAP_BACKEND_PREAD;
	ep.queue_depth = 4;
	ep.numa_node = -1;
	ep.flags = SWAP_F_NO_MLOCK | SWAP_F_NO_PROBES;
	ep.max_read_bytes = ep.max_buffer_bytes = 8192; /* parts longer than a read */
	ep.budget_bytes = swap_engine_min_budget(st, &ep);
	assert_int_equal(swap_engine_create(&e, st, &ep, err, sizeof(err)), 0);
	bb = swap_store_bundle_bytes(st, SWAP_FFN_IN);
	whole = malloc(bb);
	got = calloc(1, bb);
	assert_non_null(whole);
	assert_non_null(got);
	assert_int_equal(swap_store_read_bundle(st, key, whole), 0);
	{
		/* small parts near each other (one read), one far (another read), one
		 * longer than a read buffer, and the last byte */
		const struct swap_part parts[] = {
			{ 10, 7, 0 }, { 100, 50, 7 }, { 9000, 3, 57 },
			{ 20000, 20000, 60 }, { bb - 1, 1, 20060 },
		};
		struct swap_stats s0, s1;

		swap_engine_stats(e, &s0);
		assert_int_equal(swap_read_parts(e, key, parts, 5, got), 0);
		swap_engine_stats(e, &s1);
		for (size_t i = 0; i < 5; i++)
			assert_memory_equal(got + parts[i].dst_off, whole + parts[i].off,
					    parts[i].len);
		assert_true(s1.total.bytes_read - s0.total.bytes_read >= 20061);
		assert_true(s1.total.bytes_read - s0.total.bytes_read < bb);
		assert_int_equal(swap_read_parts(e, key, parts, 0, got), 0);
	}
	{
		const struct swap_part overlap[] = { { 0, 10, 0 }, { 5, 10, 10 } };
		const struct swap_part past[] = { { bb - 4, 5, 0 } };
		const struct swap_part empty[] = { { 0, 0, 0 } };
		const struct swap_part huge[] = { { UINT64_MAX - 1, 4, 0 } };
		struct swap_key nokey = { 99, SWAP_FFN_IN, 0 }, nochan = { 0, SWAP_FFN_IN, 8 };

		assert_int_equal(swap_read_parts(e, key, overlap, 2, got), -EINVAL);
		assert_int_equal(swap_read_parts(e, key, past, 1, got), -EINVAL);
		assert_int_equal(swap_read_parts(e, key, empty, 1, got), -EINVAL);
		assert_int_equal(swap_read_parts(e, key, huge, 1, got), -EINVAL);
		assert_int_equal(swap_read_parts(e, nokey, past, 1, got), -EINVAL);
		assert_int_equal(swap_read_parts(e, nochan, past, 1, got), -EINVAL);
		assert_int_equal(swap_read_parts(e, key, NULL, 1, got), -EINVAL);
	}
	{
		/* two reads in flight at once, into lent slots; every free slot lent, then
		 * none (nothing evicted), returned and lent again */
		const struct swap_part parts[] = { { 4096, 100, 4096 }, { 30000, 5000, 30000 } };
		struct swap_key k2 = { 5, SWAP_FFN_IN, 1 };
		struct swap_read *r1, *r2;
		struct swap_stats ss;
		int32_t sl[64];
		uint8_t *b[64], *w2 = malloc(bb);
		size_t nl = 0;

		assert_non_null(w2);
		assert_int_equal(swap_store_read_bundle(st, k2, w2), 0);
		swap_engine_stats(e, &ss);
		assert_true(ss.kind_slots[SWAP_FFN_IN] >= 2 && ss.kind_slots[SWAP_FFN_IN] <= 64);
		while (nl < 64 && (b[nl] = swap_slot_lend(e, SWAP_FFN_IN, &sl[nl])) != NULL)
			nl++;
		assert_int_equal(nl, ss.kind_slots[SWAP_FFN_IN]);
		assert_int_equal(sl[nl], -1);
		assert_int_equal(swap_read_parts_start(e, key, parts, 2, b[0], &r1), 0);
		assert_int_equal(swap_read_parts_start(e, k2, parts, 2, b[1], &r2), 0);
		assert_int_equal(swap_read_parts_wait(e, r2), 0);
		assert_int_equal(swap_read_parts_wait(e, r1), 0);
		for (size_t i = 0; i < 2; i++) {
			assert_memory_equal(b[0] + parts[i].off, whole + parts[i].off,
					    parts[i].len);
			assert_memory_equal(b[1] + parts[i].off, w2 + parts[i].off, parts[i].len);
		}
		assert_int_equal(swap_read_parts_start(e, key, parts, 0, b[0], &r1), -EINVAL);
		assert_null(r1);
		swap_slot_return(e, sl[0]);
		assert_non_null(swap_slot_lend(e, SWAP_FFN_IN, &sl[0]));
		assert_null(swap_slot_lend(e, SWAP_KIND_MAX, &sl[nl]));
		for (size_t i = 0; i < nl; i++)
			swap_slot_return(e, sl[i]);
		free(w2);
	}
	free(whole);
	free(got);
	swap_engine_destroy(e);
	swap_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_read_parts),
		cmocka_unit_test(test_equals_dense),
		cmocka_unit_test(test_budgets_backends_bit_identical),
		cmocka_unit_test(test_reads_less),
		cmocka_unit_test(test_predict_default),
		cmocka_unit_test(test_cost_columns),
		cmocka_unit_test(test_partial_kinds),
		cmocka_unit_test(test_xghost),
		cmocka_unit_test(test_partial_follows_ghost),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

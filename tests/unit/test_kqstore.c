// SPDX-License-Identifier: MIT
/*
 * K-quant columns (runtime/sparse_kq.c, Documentation/store-format.md "K-quant columns"):
 * - splitting Q4_K / Q5_K / Q6_K rows into codes and a scale table and encoding the columns
 *   keeps every weight exactly (the columns decode to the GGUF rows' values, bit for bit);
 * - the sparse kernel: scalar, AVX2 and AVX-512 equal bit for bit, on odd row counts; equal to
 *   a double-precision sum of the decoded weights within 1e-5 of the sum of |terms| (the
 *   activations are rounded to int16); the same for any row split and any cut of the
 *   selection between 32-channel sub-blocks; hostile arguments no-op; a non-finite
 *   activation makes the rows NaN at every level;
 * - a generated Q4_K_M-like model (Q4_K with Q6_K attn_v / ffn_down in some layers)
 *   converts to a store with K columns (at most 1.10x the GGUF's bytes), whose logits at
 *   sparsity 0 equal an f32 model of the same weights within 5e-4 of the largest and KL
 *   1e-6, and the dense runtime on the GGUF within KL 1e-3, and which decodes bit-identically for budgets of 100%, 50%
 *   and 25%, the io_uring and pread backends, 1 or 2 threads, with and without preloading;
 * - the gap chooser (as_choose_gap_bytes) replays K columns;
 * - a store whose scale table is missing or misshapen is refused with one line.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "activeswap/convert.h"
#include "activeswap/gguf.h"
#include "activeswap/kernels.h"
#include "activeswap/model.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "fixtures.h"

/* ---- a small K-quant quantizer (test data only: simple min/max rules) ------------ */

static uint64_t rng = 88172645463325252ull;

static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) * 0x1p-53;
}

static float nrand(void)
{
	return (float)(sqrt(-2.0 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()));
}

static int clampi(long v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : (int)v;
}

/* Q4_K (nmax 15) or Q5_K (nmax 31) block of 256 values: 176 or 144 bytes at dst. */
static void quant_q45k(const float *x, uint8_t *dst, int nmax)
{
	float scale[8], mins[8], ms = 0, mm = 0, d, dm;
	uint8_t sc[8], m[8], q[256];
	as_fp16_t hd, hm;

	for (int s = 0; s < 8; s++) {
		float lo = 0, hi = -1e30f;

		for (int i = 0; i < 32; i++) {
			lo = fminf(lo, x[32 * s + i]);
			hi = fmaxf(hi, x[32 * s + i]);
		}
		scale[s] = (hi - lo) / (float)nmax;
		mins[s] = -lo;
		ms = fmaxf(ms, scale[s]);
		mm = fmaxf(mm, mins[s]);
	}
	hd = as_fp32_to_fp16(ms / 63);
	hm = as_fp32_to_fp16(mm / 63);
	d = as_fp16_to_fp32(hd);
	dm = as_fp16_to_fp32(hm);
	for (int s = 0; s < 8; s++) {
		float D, M;

		sc[s] = (uint8_t)(d > 0 ? clampi(lrintf(scale[s] / d), 0, 63) : 0);
		m[s] = (uint8_t)(dm > 0 ? clampi(lrintf(mins[s] / dm), 0, 63) : 0);
		D = d * sc[s];
		M = dm * m[s];
		for (int i = 0; i < 32; i++)
			q[32 * s + i] = (uint8_t)(D > 0 ? clampi(lrintf((x[32 * s + i] + M) / D), 0,
								 nmax) : 0);
	}
	memset(dst, 0, nmax == 15 ? 144 : 176);
	memcpy(dst, &hd, 2);
	memcpy(dst + 2, &hm, 2);
	for (int j = 0; j < 4; j++) {
		dst[4 + j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
		dst[4 + j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
		dst[4 + j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
	}
	{
		uint8_t *qh = dst + 16, *qs = dst + (nmax == 15 ? 16 : 48);

		for (int e = 0; e < 256; e++) {
			int j = e / 64, l = e % 32;

			qs[32 * j + l] |= (uint8_t)((q[e] & 15) << ((e % 64) < 32 ? 0 : 4));
			if (nmax == 31)
				qh[l] |= (uint8_t)(((q[e] >> 4) & 1) << (e / 32));
		}
	}
}

static void quant_q6k(const float *x, struct block_q6_K *b)
{
	float scale[16], ms = 0, d;
	as_fp16_t hd;

	memset(b, 0, sizeof(*b));
	for (int s = 0; s < 16; s++) {
		float a = 0;

		for (int i = 0; i < 16; i++)
			a = fmaxf(a, fabsf(x[16 * s + i]));
		scale[s] = a / 31;
		ms = fmaxf(ms, scale[s]);
	}
	hd = as_fp32_to_fp16(ms / 127);
	d = as_fp16_to_fp32(hd);
	b->d = hd;
	for (int s = 0; s < 16; s++)
		b->scales[s] = (int8_t)(d > 0 ? clampi(lrintf(scale[s] / d), -128, 127) : 0);
	for (int e = 0; e < 256; e++) {
		float D = d * b->scales[e / 16];
		int q = D > 0 ? clampi(lrintf(x[e] / D) + 32, 0, 63) : 32;
		int h = e / 128, k = (e % 128) / 32, l = e % 32;

		b->ql[64 * h + l + 32 * (k & 1)] |= (uint8_t)((q & 15) << (k & 2 ? 4 : 0));
		b->qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * k));
	}
}

static size_t kq_block_bytes(enum ggml_type t)
{
	return t == GGML_TYPE_Q4_K ? 144 : t == GGML_TYPE_Q5_K ? 176 : 210;
}

/* n values (a multiple of 256) of N(0, sd) quantized as type t into dst. */
static void quant_row(enum ggml_type t, const float *x, size_t n, uint8_t *dst)
{
	for (size_t b = 0; b < n / 256; b++) {
		uint8_t *o = dst + b * kq_block_bytes(t);

		if (t == GGML_TYPE_Q6_K)
			quant_q6k(x + 256 * b, (struct block_q6_K *)o);
		else
			quant_q45k(x + 256 * b, o, t == GGML_TYPE_Q4_K ? 15 : 31);
	}
}

/* The value of element e of a Q5_K row (quant.c has no Q5_K yet): ggml's rule. */
static float q5k_value(const uint8_t *row, size_t e)
{
	const uint8_t *b = row + e / 256 * 176;
	size_t i = e % 256, l = i % 32, j = i / 64;
	uint8_t sc, m;
	unsigned q;
	uint16_t hd, hm;

	memcpy(&hd, b, 2);
	memcpy(&hm, b + 2, 2);
	as_q4k_scale_min((int)(i / 32), b + 4, &sc, &m);
	q = (b[48 + 32 * j + l] >> ((i % 64) < 32 ? 0 : 4)) & 15;
	q |= ((b[16 + l] >> (i / 32)) & 1) << 4;
	return as_fp16_to_fp32(hd) * sc * (float)q - as_fp16_to_fp32(hm) * m;
}

static void row_values(enum ggml_type t, const uint8_t *row, size_t in, float *dst)
{
	if (t == GGML_TYPE_Q5_K)
		for (size_t e = 0; e < in; e++)
			dst[e] = q5k_value(row, e);
	else
		as_dequant_row(t, row, dst, in);
}

/* ---- the kernel ------------------------------------------------------------------- */

struct kqmat {
	enum ggml_type t;
	size_t out, in, cb;
	uint8_t *rows, *cols, *table;
	float *w; /* [out][in] values */
};

static void kqmat_make(struct kqmat *k, enum ggml_type t, size_t out, size_t in)
{
	size_t rb = in / 256 * kq_block_bytes(t);
	uint8_t *codes = malloc(out * in), *col = malloc(out);
	float *x = malloc(sizeof(float) * in);

	k->t = t;
	k->out = out;
	k->in = in;
	k->cb = as_col_bytes(t, out);
	assert_true(k->cb > 0);
	k->rows = malloc(out * rb);
	k->cols = malloc(in * k->cb);
	k->table = calloc(as_kq_table_bytes(t, out, in), 1);
	k->w = malloc(sizeof(float) * out * in);
	for (size_t r = 0; r < out; r++) {
		for (size_t c = 0; c < in; c++)
			x[c] = 0.05f * nrand() + (c % 7 == 0 ? 0.02f : 0.0f);
		quant_row(t, x, in, k->rows + r * rb);
		row_values(t, k->rows + r * rb, in, k->w + r * in);
		assert_int_equal(as_kq_split_row(t, k->rows + r * rb, in, out, r, codes + r * in,
						 k->table), 0);
	}
	for (size_t c = 0; c < in; c++) {
		for (size_t r = 0; r < out; r++)
			col[r] = codes[r * in + c];
		assert_int_equal(as_kq_col_encode(t, col, out, k->cols + c * k->cb), 0);
	}
	free(codes);
	free(col);
	free(x);
}

static void kqmat_free(struct kqmat *k)
{
	free(k->rows);
	free(k->cols);
	free(k->table);
	free(k->w);
}

/* Columns decode to the GGUF rows' values exactly. */
static void test_split_exact(void **state)
{
	static const enum ggml_type ts[] = { GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
	static const size_t outs[] = { 200, 64, 1 };

	(void)state;
	for (size_t ti = 0; ti < 3; ti++) {
		for (size_t oi = 0; oi < 3; oi++) {
			struct kqmat k;
			float *v = malloc(sizeof(float) * outs[oi]);

			kqmat_make(&k, ts[ti], outs[oi], 512);
			for (size_t c = 0; c < k.in; c++) {
				as_kq_col_decode(k.t, k.cols + c * k.cb, k.table, k.out, k.in, c,
						 v);
				for (size_t r = 0; r < k.out; r++)
					if (memcmp(&v[r], &k.w[r * k.in + c], 4))
						fail_msg("%s out %zu: (%zu, %zu): %g != %g",
							 as_type_name(k.t), k.out, r, c, v[r],
							 k.w[r * k.in + c]);
			}
			free(v);
			kqmat_free(&k);
		}
	}
	/* a code too wide for the type is refused */
	{
		uint8_t codes[64] = { 16 }, out[64];

		assert_int_equal(as_kq_col_encode(GGML_TYPE_Q4_K, codes, 64, out), -EINVAL);
		assert_int_equal(as_kq_col_encode(GGML_TYPE_Q5_K, codes, 64, out), 0);
		assert_int_equal(as_kq_col_encode(GGML_TYPE_Q8_0, codes, 64, out), -EINVAL);
		assert_int_equal(as_kq_table_bytes(GGML_TYPE_Q4_K, 64, 300), 0);
		assert_int_equal(as_kq_table_bytes(GGML_TYPE_Q4_0, 64, 256), 0);
	}
}

static void run_kq(enum as_simd lvl, const struct kqmat *k, float *y, size_t r0, size_t r1,
		   const uint32_t *ch, const float *x, size_t n)
{
	const void **cols = malloc(sizeof(void *) * (n ? n : 1));

	for (size_t i = 0; i < n; i++)
		cols[i] = k->cols + ch[i] * k->cb;
	as_kq_axpy_level(lvl, k->t, y, r0, r1, k->out, k->in, k->table, cols, ch, x, n);
	free(cols);
}

/* Scalar and SIMD bit for bit; the reference sum to the activations' int16 rounding; row
 * splits and cuts. */
static void test_kernel(void **state)
{
	static const enum ggml_type ts[] = { GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
	static const size_t outs[] = { 200, 320, 1000 };

	(void)state;
	for (size_t ti = 0; ti < 3; ti++) {
		struct kqmat k;
		size_t out = outs[ti], in = 768, n = 0;
		uint32_t *ch = malloc(4 * in);
		float *x = malloc(4 * in), *ys = calloc(out, 4), *yv = calloc(out, 4);
		float *yc = calloc(out, 4), *yr = calloc(out, 4);

		kqmat_make(&k, ts[ti], out, in);
		for (uint32_t c = 0; c < in; c++) {
			if (urand() < 0.55) {
				ch[n] = c;
				x[n++] = nrand();
			}
		}
		for (size_t r = 0; r < out; r++)
			ys[r] = yv[r] = yc[r] = yr[r] = 0.25f * (float)r / (float)out;
		run_kq(AS_SIMD_SCALAR, &k, ys, 0, out, ch, x, n);
		for (int lv = AS_SIMD_AVX2; lv <= AS_SIMD_AVX512; lv++) {
			for (size_t r = 0; r < out; r++)
				yv[r] = 0.25f * (float)r / (float)out;
			run_kq((enum as_simd)lv, &k, yv, 0, out, ch, x, n); /* clamped to the CPU */
			if (memcmp(ys, yv, 4 * out))
				fail_msg("%s: SIMD level %d differs from scalar", as_type_name(k.t),
					 lv);
		}
		/* the double reference */
		for (size_t r = 0; r < out; r++) {
			double s = 0.25 * (double)r / (double)out, mag = fabs(s);

			for (size_t i = 0; i < n; i++) {
				s += (double)x[i] * k.w[r * in + ch[i]];
				mag += fabs((double)x[i] * k.w[r * in + ch[i]]);
			}
			if (fabs(s - ys[r]) > 1e-5 * mag + 1e-6)
				fail_msg("%s row %zu: %g, reference %g", as_type_name(k.t), r,
					 (double)ys[r], s);
		}
		/* rows split as three threads would; the selection cut between sub-blocks */
		for (int ith = 0; ith < 3; ith++) {
			size_t r0, r1, c0 = 0;

			as_sparse_rows(out, ith, 3, &r0, &r1);
			while (c0 < n) {
				size_t c1 = c0 + 37 < n ? c0 + 37 : n;

				while (c1 < n && ch[c1 - 1] / AS_KQ_CUT == ch[c1] / AS_KQ_CUT)
					c1++;
				run_kq(as_simd_detect(), &k, yc, r0, r1, ch + c0, x + c0, c1 - c0);
				c0 = c1;
			}
		}
		assert_memory_equal(yc, ys, 4 * out);
		/* a cut inside a sub-block changes the rounding somewhere (the test can fail) */
		run_kq(as_simd_detect(), &k, yr, 0, out, ch, x, 5);
		run_kq(as_simd_detect(), &k, yr, 0, out, ch + 5, x + 5, n - 5);
		assert_true(memcmp(yr, ys, 4 * out) != 0);
		/* hostile arguments: nothing written */
		memcpy(yr, ys, 4 * out);
		run_kq(AS_SIMD_SCALAR, &k, yr, 32, out, ch, x, n);     /* r0 % 64 */
		run_kq(AS_SIMD_SCALAR, &k, yr, 0, out + 1, ch, x, n);  /* r1 > out */
		{
			uint32_t bad[2] = { 5, 3 }, far[1] = { (uint32_t)in };

			run_kq(AS_SIMD_SCALAR, &k, yr, 0, out, bad, x, 2); /* not increasing */
			as_kq_axpy_level(AS_SIMD_SCALAR, k.t, yr, 0, out, k.out, k.in, k.table,
					 (const void *const *)&k.cols, far, x, 1);
		}
		assert_memory_equal(yr, ys, 4 * out);
		/* an infinite activation: NaN rows at every level, not a silent finite sum */
		for (int lv = AS_SIMD_SCALAR; lv <= AS_SIMD_AVX512; lv++) {
			float x0 = x[0];

			x[0] = INFINITY;
			memset(yr, 0, 4 * out);
			run_kq((enum as_simd)lv, &k, yr, 0, out, ch, x, n);
			x[0] = x0;
			for (size_t r = 0; r < out; r++)
				if (!isnan(yr[r]))
					fail_msg("%s level %d row %zu: %g with an infinite activation",
						 as_type_name(k.t), lv, r, (double)yr[r]);
		}
		kqmat_free(&k);
		free(ch);
		free(x);
		free(ys);
		free(yv);
		free(yc);
		free(yr);
	}
}

/* ---- a generated Q4_K_M-like model ------------------------------------------------ */

#define DIM 256
#define HIDDEN 512
#define HEADS 4
#define KV_HEADS 2
#define LAYERS 4
#define VOCAB 512
#define N_CTX 32
#define N_STEPS 8

static char dir[512], gguf_k[600], gguf_f[600], store_k[600], store_rows[600];

/* attn_v and ffn_down are Q6_K in layers 0 and 2 (the mix of llama.cpp's Q4_K_M). */
static enum ggml_type mat_type(const char *name, uint64_t layer)
{
	if ((strstr(name, "attn_v") || strstr(name, "ffn_down")) && layer % 2 == 0)
		return GGML_TYPE_Q6_K;
	return GGML_TYPE_Q4_K;
}

/* The model twice: K-quant matrices (kq) or the same values as f32. */
static int write_model(const char *path, bool kq)
{
	static const char *const blk[] = { "attn_norm", "attn_q", "attn_k", "attn_v",
					   "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
					   "ffn_down" };
	struct gguf_writer *w = gguf_writer_new();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc = 0;
	struct { char name[64]; enum ggml_type t; uint64_t ne[2]; int nd; uint64_t layer; } t[64];
	size_t nt = 0;

	if (!w || fd < 0)
		return -1;
	rc |= gguf_w_str(w, "general.architecture", "llama");
	rc |= gguf_w_u32(w, "llama.context_length", 64);
	rc |= gguf_w_u32(w, "llama.embedding_length", DIM);
	rc |= gguf_w_u32(w, "llama.feed_forward_length", HIDDEN);
	rc |= gguf_w_u32(w, "llama.block_count", LAYERS);
	rc |= gguf_w_u32(w, "llama.attention.head_count", HEADS);
	rc |= gguf_w_u32(w, "llama.attention.head_count_kv", KV_HEADS);
	rc |= gguf_w_f32(w, "llama.rope.freq_base", 10000.0f);
	rc |= gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	rc |= gguf_w_u32(w, "llama.vocab_size", VOCAB);
#define T(nm, ty, n0, n1, nd_, l_) do {                                          \
		snprintf(t[nt].name, 64, "%s", nm);                               \
		t[nt].t = ty; t[nt].ne[0] = n0; t[nt].ne[1] = n1; t[nt].nd = nd_; \
		t[nt].layer = l_; nt++;                                           \
	} while (0)
	T("token_embd.weight", GGML_TYPE_F32, DIM, VOCAB, 2, 0);
	for (uint64_t l = 0; l < LAYERS; l++) {
		for (size_t b = 0; b < 9; b++) {
			char nm[64];
			uint64_t n0 = DIM, n1 = DIM;

			snprintf(nm, sizeof(nm), "blk.%llu.%s.weight", (unsigned long long)l,
				 blk[b]);
			if (strstr(blk[b], "norm")) {
				T(nm, GGML_TYPE_F32, DIM, 1, 1, l);
				continue;
			}
			if (!strcmp(blk[b], "attn_k") || !strcmp(blk[b], "attn_v"))
				n1 = DIM / HEADS * KV_HEADS;
			else if (!strcmp(blk[b], "ffn_gate") || !strcmp(blk[b], "ffn_up"))
				n1 = HIDDEN;
			else if (!strcmp(blk[b], "ffn_down"))
				n0 = HIDDEN;
			T(nm, kq ? mat_type(blk[b], l) : GGML_TYPE_F32, n0, n1, 2, l);
		}
	}
	T("output_norm.weight", GGML_TYPE_F32, DIM, 1, 1, 0);
	T("output.weight", GGML_TYPE_F32, DIM, VOCAB, 2, 0);
#undef T
	for (size_t i = 0; i < nt && !rc; i++)
		rc = gguf_w_tensor(w, t[i].name, t[i].t, (uint32_t)t[i].nd, t[i].ne) < 0;
	rc = rc || gguf_w_begin(w, fd);
	rng = 12345; /* the same values in both files */
	for (size_t i = 0; i < nt && !rc; i++) {
		size_t n0 = t[i].ne[0], n1 = t[i].ne[1];
		enum ggml_type mt = t[i].nd == 2 && strncmp(t[i].name, "blk.", 4) == 0 ?
				    mat_type(t[i].name, t[i].layer) : GGML_TYPE_F32;
		float *x = malloc(sizeof(float) * n0);
		uint8_t *q = malloc(n0 / 256 * 210 + 256);

		for (size_t r = 0; r < n1 && !rc; r++) {
			for (size_t c = 0; c < n0; c++)
				x[c] = t[i].nd == 1 ? 1.0f + 0.1f * nrand() : 0.08f * nrand();
			if (mt != GGML_TYPE_F32) {
				quant_row(mt, x, n0, q);
				if (kq) {
					rc = gguf_w_data(w, q, n0 / 256 * kq_block_bytes(mt));
					continue;
				}
				as_dequant_row(mt, q, x, n0);
			}
			rc = gguf_w_data(w, x, sizeof(float) * n0);
		}
		free(x);
		free(q);
	}
	rc = rc || gguf_w_end(w);
	gguf_writer_free(w);
	close(fd);
	return rc ? -1 : 0;
}

static int setup(void **state)
{
	(void)state;
	if (fx_tmpdir(dir, sizeof(dir), "kqstore"))
		return -1;
	snprintf(gguf_k, sizeof(gguf_k), "%s/k.gguf", dir);
	snprintf(gguf_f, sizeof(gguf_f), "%s/f.gguf", dir);
	snprintf(store_k, sizeof(store_k), "%s/k.asw", dir);
	snprintf(store_rows, sizeof(store_rows), "%s/rows.asw", dir);
	if (write_model(gguf_k, true) || write_model(gguf_f, false) ||
	    fx_convert(gguf_k, store_k, AS_CONVERT_KEEP, 1, false, true) ||
	    fx_convert(gguf_k, store_rows, AS_CONVERT_KEEP, 1, true, false))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(gguf_k);
	unlink(gguf_f);
	unlink(store_k);
	unlink(store_rows);
	rmdir(dir);
	return 0;
}

static uint64_t file_bytes(const char *p)
{
	struct stat st;

	return stat(p, &st) ? 0 : (uint64_t)st.st_size;
}

/* K columns in the store, the widest type of the layers; bytes at most 1.10x. */
static void test_store_layout(void **state)
{
	struct swap_store *s;
	const struct swap_store_desc *d;
	char err[512];
	uint64_t gk = file_bytes(gguf_k), sk = file_bytes(store_k);

	(void)state;
	assert_int_equal(swap_store_open(&s, store_k, err, sizeof(err)), 0);
	d = swap_store_desc(s);
	assert_int_equal(d->kinds[SWAP_ATTN_IN].mats[0].type, GGML_TYPE_Q4_K);
	assert_int_equal(d->kinds[SWAP_ATTN_IN].mats[2].type, GGML_TYPE_Q6_K); /* mixed */
	assert_int_equal(d->kinds[SWAP_FFN_OUT].mats[0].type, GGML_TYPE_Q6_K);
	assert_int_equal(d->kinds[SWAP_FFN_IN].mats[1].col_bytes, HIDDEN / 2);
	assert_non_null(swap_store_find_resident(s, "blk.3.ffn_down.kscale"));
	assert_int_equal(swap_store_find_resident(s, "blk.3.ffn_down.kscale")->d.type,
			 GGML_TYPE_Q4_K);
	assert_int_equal(swap_store_find_resident(s, "blk.2.ffn_down.kscale")->d.type,
			 GGML_TYPE_Q6_K);
	swap_store_close(s);
	print_message("store %llu bytes, GGUF %llu: %.3fx\n", (unsigned long long)sk,
		      (unsigned long long)gk, (double)sk / (double)gk);
	/* codes and scale bits as in the GGUF; the excess is the Q4_K layers' columns padded
	 * to Q6_K width in the mixed matrices and the 4 KiB alignment of the sections */
	assert_true(sk > 0 && gk > 0);
	assert_true((double)sk / (double)gk <= 1.10);
}

static void base_params(struct as_swap_params *p)
{
	memset(p, 0, sizeof(*p));
	p->n_ctx = N_CTX;
	p->queue_depth = 4;
	p->max_read_bytes = 16 << 10;
	p->chunk = 32;
	p->check_use = true;
}

struct runres {
	int32_t tokens[N_STEPS];
	float logits[N_STEPS][VOCAB];
	uint64_t evictions;
};

static void decode(const char *path, const struct as_swap_params *p, struct runres *res)
{
	struct as_swap_model *m;
	char err[512] = "";
	const int32_t prompt[3] = { 1, 17, 300 };
	struct swap_stats es;
	int r = as_swap_open(&m, path, p, err, sizeof(err));

	if (r)
		fail_msg("open: %s", err);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(as_swap_forward(m, prompt[i], i, i == 2), 0);
	for (uint32_t s = 0; s < N_STEPS; s++) {
		const float *lg = as_swap_logits(m);
		int32_t best = 0;

		memcpy(res->logits[s], lg, sizeof(res->logits[s]));
		for (int32_t v = 1; v < VOCAB; v++)
			if (lg[v] > lg[best])
				best = v;
		res->tokens[s] = best;
		assert_int_equal(as_swap_forward(m, best, 3 + s, true), 0);
	}
	as_swap_io_stats(m, &es);
	res->evictions = es.total.evictions;
	as_swap_close(m);
}

static void test_budgets_backends(void **state)
{
	struct as_swap_params p;
	struct as_swap_budget bi;
	char err[512];
	struct runres *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));
	static const enum swap_backend_kind be[] = { SWAP_BACKEND_URING, SWAP_BACKEND_PREAD };
	static const double pct[] = { 1.0, 0.5, 0.25 };
	struct as_threadpool *tp2 = as_tp_create(2);

	(void)state;
	base_params(&p);
	p.sparsity = 0.5f;
	assert_int_equal(as_swap_budget_info(store_k, &p, &bi, err, sizeof(err)), 0);
	p.budget_bytes = bi.full;
	p.backend = SWAP_BACKEND_PREAD;
	decode(store_k, &p, ref);
	for (size_t b = 0; b < 2; b++) {
		const char *why;

		if (be[b] == SWAP_BACKEND_URING && !fx_uring_usable(&why)) {
			print_message("# io_uring half skipped: %s\n", why);
			continue;
		}
		for (size_t i = 0; i < 3; i++) {
			for (int variant = 0; variant < 3; variant++) {
				base_params(&p);
				p.sparsity = 0.5f;
				p.backend = be[b];
				p.budget_bytes = (uint64_t)(bi.full * pct[i]);
				if (p.budget_bytes < bi.min)
					p.budget_bytes = bi.min;
				p.no_preload = variant == 1;
				p.tp = variant == 2 ? tp2 : NULL;
				p.chunk = variant == 2 ? 96 : 32;
				memset(x, 0, sizeof(*x));
				decode(store_k, &p, x);
				assert_memory_equal(x->tokens, ref->tokens, sizeof(ref->tokens));
				assert_memory_equal(x->logits, ref->logits, sizeof(ref->logits));
				if (pct[i] <= 0.25)
					assert_true(x->evictions > 0);
			}
		}
	}
	/* a different sparsity changes the output (the comparison can fail) */
	base_params(&p);
	p.sparsity = 0.3f;
	decode(store_k, &p, x);
	assert_true(memcmp(x->logits, ref->logits, sizeof(ref->logits)) != 0);
	as_tp_destroy(tp2);
	free(ref);
	free(x);
}

/* KL(p || q) of two logit vectors. */
static double kl(const float *a, const float *b, int n)
{
	double ma = -1e30, mb = -1e30, sa = 0, sb = 0, k = 0;

	/* plain compares, not fmax: gcc 12 for aarch64 crashes vectorizing that reduction */
	for (int v = 0; v < n; v++) {
		if (a[v] > ma)
			ma = a[v];
		if (b[v] > mb)
			mb = b[v];
	}
	for (int v = 0; v < n; v++) {
		sa += exp(a[v] - ma);
		sb += exp(b[v] - mb);
	}
	for (int v = 0; v < n; v++) {
		double la = a[v] - ma - log(sa), lb = b[v] - mb - log(sb);

		k += exp(la) * (la - lb);
	}
	return k;
}

/*
 * Sparsity 0 from the K columns: the f32 model of the same weights to the int16 rounding
 * of the activations (the codes and scales are exact), and the dense runtime on the
 * K-quant GGUF (its own kernels quantize the activations to 8 bits) within KL 1e-3.
 */
static void test_sparsity0(void **state)
{
	struct as_swap_params p;
	struct as_swap_model *sm;
	struct as_model *fm, *km;
	struct as_state *fs, *ks;
	char err[512] = "";
	const int32_t toks[8] = { 1, 5, 99, 300, 2, 511, 42, 7 };
	double klmax = 0, klsum = 0, kfsum = 0;

	(void)state;
	base_params(&p);
	p.sparsity = 0.0f;
	if (as_swap_open(&sm, store_k, &p, err, sizeof(err)))
		fail_msg("open: %s", err);
	assert_false(as_swap_row_mode(sm));
	assert_int_equal(as_model_load(&fm, gguf_f, err, sizeof(err)), 0);
	assert_int_equal(as_model_load(&km, gguf_k, err, sizeof(err)), 0);
	assert_int_equal(as_state_new(&fs, fm, N_CTX, NULL), 0);
	assert_int_equal(as_state_new(&ks, km, N_CTX, NULL), 0);
	for (uint32_t i = 0; i < 8; i++) {
		const float *a;
		double mx = 0, dif = 0, k;

		assert_int_equal(as_swap_forward(sm, toks[i], i, true), 0);
		assert_int_equal(as_forward(fs, toks[i], i, true), 0);
		assert_int_equal(as_forward(ks, toks[i], i, true), 0);
		a = as_swap_logits(sm);
		for (int v = 0; v < VOCAB; v++) { /* compares: see kl() */
			double l = fabs(fs->logits[v]), d = fabs((double)a[v] - fs->logits[v]);

			if (l > mx)
				mx = l;
			if (d > dif)
				dif = d;
		}
		/* the column kernels round the activations to int16 (sparse.h): about 1.5e-4
		 * of the largest logit after the four layers here; KL to the f32 run ~1e-8 */
		if (dif > 5e-4 * mx + 1e-6)
			fail_msg("token %u: max |store - f32| = %g (max |logit| %g)", i, dif, mx);
		k = kl(a, fs->logits, VOCAB);
		if (k > 1e-6)
			fail_msg("token %u: KL(store || f32) = %g", i, k);
		k = kl(a, ks->logits, VOCAB);
		klmax = fmax(klmax, k);
		klsum += k;
		kfsum += kl(fs->logits, ks->logits, VOCAB);
	}
	/* the dense Q4_K/Q6_K kernels round the activations to 8 bits (Q8_K): that, not the
	 * store, is the distance to the dense run; the exact weights are as far */
	print_message("KL(store at sparsity 0 || dense GGUF): mean %.3g, max %.3g; "
		      "KL(f32 same weights || dense GGUF): mean %.3g\n", klsum / 8, klmax,
		      kfsum / 8);
	assert_true(klsum <= 1.02 * kfsum + 1e-7);
	as_state_free(fs);
	as_state_free(ks);
	as_model_free(fm);
	as_model_free(km);
	as_swap_close(sm);
}

/* The row copy of a K store runs the dense kernels (no tables needed): the dense runtime on
 * the GGUF bit for bit, loaded as `run` loads it (repacked where as_repack_useful says so,
 * as the row mode repacks its layers). */
static void test_row_copy(void **state)
{
	struct as_swap_params p;
	struct runres *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct as_swap_model *m;
	char err[512];

	(void)state;
	base_params(&p);
	assert_int_equal(as_swap_open(&m, store_rows, &p, err, sizeof(err)), 0);
	assert_true(as_swap_row_mode(m));
	as_swap_close(m);
	decode(store_rows, &p, a);
	p.no_rows = true;
	decode(store_rows, &p, b);
	/* the rows: the dense runtime on the GGUF */
	{
		struct as_model *km;
		struct as_state *ks;
		const int32_t prompt[3] = { 1, 17, 300 };

		struct as_model_opts mo = { .repack = true };

		assert_int_equal(as_model_load_opts(&km, gguf_k, &mo, err, sizeof(err)), 0);
		assert_int_equal(as_state_new(&ks, km, N_CTX, NULL), 0);
		for (uint32_t i = 0; i < 3; i++)
			assert_int_equal(as_forward(ks, prompt[i], i, i == 2), 0);
		for (int s = 0; s < N_STEPS; s++) {
			assert_memory_equal(ks->logits, a->logits[s], sizeof(a->logits[s]));
			assert_int_equal(as_forward(ks, a->tokens[s], 3 + (uint32_t)s, true), 0);
		}
		as_state_free(ks);
		as_model_free(km);
	}
	/* and the columns differ from them (different kernels), which the test can see */
	assert_true(memcmp(a->logits, b->logits, sizeof(a->logits)) != 0);
	free(a);
	free(b);
}

/* The gap chooser replays the decode's reads and compute on K columns too. */
static void test_gap_choice(void **state)
{
	uint64_t gap = 1;

	(void)state;
	assert_int_equal(as_choose_gap_bytes(store_k, 0.5, 4, SWAP_BACKEND_PREAD, NULL, 0.05,
					     &gap, NULL), 0);
	assert_true(gap <= 131072 && gap % 8192 == 0);
}

/* Copy src to dst with the resident directory entry `name` renamed or its type changed. */
static void patch_table(const char *dst, const char *name, const char *newname,
			uint32_t newtype)
{
	FILE *in = fopen(store_k, "rb"), *out = fopen(dst, "wb");
	uint8_t *buf;
	size_t n = (size_t)file_bytes(store_k);
	uint64_t rdir;
	uint32_t nres;

	assert_non_null(in);
	assert_non_null(out);
	buf = malloc(n);
	assert_int_equal(fread(buf, 1, n, in), n);
	memcpy(&nres, buf + 36, 4);
	memcpy(&rdir, buf + 56, 8);
	for (uint32_t i = 0; i < nres; i++) {
		uint8_t *e = buf + rdir + 128ull * i;

		if (strcmp((char *)e, name))
			continue;
		if (newname) {
			memset(e, 0, 64);
			strcpy((char *)e, newname);
		} else {
			memcpy(e + 64, &newtype, 4);
		}
	}
	assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	free(buf);
}

static void test_hostile_tables(void **state)
{
	char bad[700], err[512];
	struct as_swap_params p;
	struct as_swap_model *m;

	(void)state;
	snprintf(bad, sizeof(bad), "%s/bad.asw", dir);
	base_params(&p);
	p.sparsity = 0.5f;
	patch_table(bad, "blk.1.ffn_up.kscale", "blk.1.ffn_up.kscalx", 0);
	assert_int_equal(as_swap_open(&m, bad, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "blk.1.ffn_up.kscale missing"));
	/* a table wider than its kind's columns, or not a K type */
	patch_table(bad, "blk.1.ffn_up.kscale", NULL, GGML_TYPE_Q6_K);
	assert_int_equal(as_swap_open(&m, bad, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "wrong type, shape or size"));
	patch_table(bad, "blk.0.attn_q.kscale", NULL, GGML_TYPE_Q8_0);
	assert_int_equal(as_swap_open(&m, bad, &p, err, sizeof(err)), -EINVAL);
	unlink(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_exact),
		cmocka_unit_test(test_kernel),
		cmocka_unit_test(test_store_layout),
		cmocka_unit_test(test_budgets_backends),
		cmocka_unit_test(test_sparsity0),
		cmocka_unit_test(test_row_copy),
		cmocka_unit_test(test_gap_choice),
		cmocka_unit_test(test_hostile_tables),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

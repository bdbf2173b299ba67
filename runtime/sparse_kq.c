// SPDX-License-Identifier: MIT
/*
 * K-quant columns (Q4_K, Q5_K, Q6_K codes with a resident scale table): splitting GGUF rows
 * into codes and table, the column encoding, the scalar reference kernel and the dispatch.
 * See activeswap/sparse.h and Documentation/store-format.md, "K-quant columns".
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sparse_impl.h"

bool as_kq_type(enum ggml_type t)
{
	return t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K;
}

int as_kq_width(enum ggml_type t)
{
	return t == GGML_TYPE_Q4_K ? 4 : t == GGML_TYPE_Q5_K ? 5 : t == GGML_TYPE_Q6_K ? 6 : 0;
}

size_t as_kq_sub(enum ggml_type t)
{
	return t == GGML_TYPE_Q6_K ? 16 : as_kq_type(t) ? 32 : 0;
}

static size_t pad64(size_t out)
{
	return (out + 63) / 64 * 64;
}

size_t as_kq_table_bytes(enum ggml_type t, size_t out, size_t in)
{
	size_t per;

	if (!as_kq_type(t) || !out || !in || in % QK_K || out > ((size_t)1 << 30) ||
	    in > ((size_t)1 << 30))
		return 0;
	per = t == GGML_TYPE_Q6_K ? 18 : 16; /* bytes per padded row and super-block */
	return pad64(out) * per * (in / QK_K);
}

/* ---- GGUF rows -> codes + table --------------------------------------------------- */

int as_kq_split_row(enum ggml_type t, const void *src, size_t in, size_t out, size_t r,
		    uint8_t *codes, void *table)
{
	size_t P = pad64(out), nb = in / QK_K;
	uint8_t *tb = table;

	if (!as_kq_table_bytes(t, out, in) || r >= out || !src || !codes || !table)
		return -EINVAL;
	for (size_t b = 0; b < nb; b++) {
		uint8_t *base = tb + b * P * (t == GGML_TYPE_Q6_K ? 18 : 16);
		uint8_t *q = codes + b * QK_K;

		if (t == GGML_TYPE_Q6_K) {
			const struct block_q6_K *x = (const struct block_q6_K *)src + b;

			memcpy(base + 2 * r, &x->d, 2);
			for (int s = 0; s < 16; s++)
				base[2 * P + (size_t)s * P + r] = (uint8_t)x->scales[s];
			for (int e = 0; e < QK_K; e++) {
				int h = e / 128, k = (e % 128) / 32, l = e % 32;
				const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
				unsigned lo = (k & 1 ? ql[l + 32] : ql[l]) >> (k & 2 ? 4 : 0);

				q[e] = (uint8_t)((lo & 15) | (((qh[l] >> (2 * k)) & 3) << 4));
			}
			continue;
		}
		{
			/* Q4_K and Q5_K share the header: d, dmin, scales[12]; Q5_K adds qh[32]
			 * before qs[128] */
			const uint8_t *blk = (const uint8_t *)src +
					     b * (t == GGML_TYPE_Q4_K ? 144 : 176);
			const uint8_t *sc = blk + 4, *qh = blk + 16;
			const uint8_t *qs = blk + (t == GGML_TYPE_Q4_K ? 16 : 48);

			memcpy(base + 2 * r, blk, 2);
			memcpy(base + 2 * P + 2 * r, blk + 2, 2);
			for (int s = 0; s < 8; s++) {
				uint8_t d6, m6, *mh = base + 12 * P + (size_t)s * P / 2 + r / 2;

				as_q4k_scale_min(s, sc, &d6, &m6);
				base[4 * P + (size_t)s * P + r] = (uint8_t)(d6 | (m6 & 3) << 6);
				*mh = (uint8_t)((*mh & (r & 1 ? 0x0f : 0xf0)) |
						(m6 >> 2) << (r & 1 ? 4 : 0));
			}
			for (int e = 0; e < QK_K; e++) {
				int j = e / 64, l = e % 32;
				unsigned v = qs[32 * j + l] >> ((e % 64) < 32 ? 0 : 4) & 15;

				if (t == GGML_TYPE_Q5_K)
					v |= ((qh[l] >> (e / 32)) & 1) << 4;
				q[e] = (uint8_t)v;
			}
		}
	}
	return 0;
}

/* ---- columns ---------------------------------------------------------------------- */

/* Bytes of one 64-row chunk of a column. */
static size_t chunk_bytes(enum ggml_type t)
{
	return (size_t)as_kq_width(t) * 8;
}

int as_kq_col_encode(enum ggml_type t, const uint8_t *codes, size_t out, void *dst)
{
	size_t P = pad64(out), cb = chunk_bytes(t);
	int w = as_kq_width(t);
	uint8_t *d = dst;

	if (!w || !out || out > ((size_t)1 << 30) || !codes || !dst)
		return -EINVAL;
	memset(d, 0, P / 64 * cb);
	for (size_t r = 0; r < out; r++) {
		size_t j = r / 64, k = r % 64;
		unsigned q = codes[r];
		uint8_t *c = d + j * cb;

		if (q >> w)
			return -EINVAL;
		c[k & 31] |= (uint8_t)((q & 15) << (k < 32 ? 0 : 4));
		if (w == 5)
			c[32 + (k & 7)] |= (uint8_t)(((q >> 4) & 1) << (k >> 3));
		else if (w == 6)
			c[32 + (k & 15)] |= (uint8_t)(((q >> 4) & 3) << (2 * (k >> 4)));
	}
	return 0;
}

/* Code of row k (0..63) of a chunk. */
static inline unsigned kq_code(int w, const uint8_t *c, size_t k)
{
	unsigned q = (c[k & 31] >> (k < 32 ? 0 : 4)) & 15;

	if (w == 5)
		q |= ((c[32 + (k & 7)] >> (k >> 3)) & 1) << 4;
	else if (w == 6)
		q |= ((c[32 + (k & 15)] >> (2 * (k >> 4))) & 3) << 4;
	return q;
}

/* Scales of row r for sub-block s of super-block b: D = d sc, M = dmin m (0 for Q6_K). */
static inline void kq_scales(enum ggml_type t, const uint8_t *table, size_t P, size_t b,
			     size_t s, size_t r, float *D, float *M)
{
	uint16_t h;

	if (t == GGML_TYPE_Q6_K) {
		const uint8_t *base = table + b * P * 18;

		memcpy(&h, base + 2 * r, 2);
		*D = as_fp16_to_fp32(h) * (float)(int8_t)base[2 * P + s * P + r];
		*M = 0.0f;
		return;
	}
	{
		const uint8_t *base = table + b * P * 16;
		uint8_t sc = base[4 * P + s * P + r];
		unsigned m = (unsigned)(sc >> 6) |
			     ((base[12 * P + s * P / 2 + r / 2] >> (r & 1 ? 4 : 0)) & 15u) << 2;

		memcpy(&h, base + 2 * r, 2);
		*D = as_fp16_to_fp32(h) * (float)(sc & 63);
		memcpy(&h, base + 2 * P + 2 * r, 2);
		*M = as_fp16_to_fp32(h) * (float)m;
	}
}

void as_kq_col_decode(enum ggml_type t, const void *col, const void *table, size_t out,
		      size_t in, size_t c, float *dst)
{
	size_t P = pad64(out), cb = chunk_bytes(t), sub = as_kq_sub(t);
	int w = as_kq_width(t);

	if (!as_kq_table_bytes(t, out, in) || c >= in || !col || !table || !dst)
		return;
	for (size_t r = 0; r < out; r++) {
		unsigned q = kq_code(w, (const uint8_t *)col + r / 64 * cb, r % 64);
		float D, M;

		kq_scales(t, table, P, c / QK_K, (c % QK_K) / sub, r, &D, &M);
		dst[r] = w == 6 ? D * (float)((int)q - 32) : D * (float)q - M;
	}
}

/* ---- the activations of a run ------------------------------------------------------ */

/*
 * One scale for the run's activations: q[i] = rint(x[i] / amax * AS_KQ_QMAX) (nearest,
 * ties to even; |q| <= AS_KQ_QMAX), s = amax / AS_KQ_QMAX, sq = sum of the q[i] and
 * sx = s sq (the sum the rounded activations have, so that the mins cancel as in the
 * float product). A non-finite activation makes s and sx NaN (the run's rows become
 * NaN, as the float product's would be inf or NaN); an all-zero run has s = 0, q = 0.
 * Shared by every level, so the levels see the same integers. n <= 32: the channels of a
 * run are increasing and in one sub-block.
 */
void as_kq_quant_run(const float *x, const uint32_t *ch, size_t n, struct as_kq_run *run)
{
	float amax = 0.0f;
	bool finite = true;

	memset(run->q, 0, sizeof(run->q));
	for (size_t i = 0; i < n; i++) {
		float v = fabsf(x[i]);

		finite = finite && isfinite(v);
		amax = amax > v ? amax : v;
	}
	run->ch = ch[0];
	run->n = (uint32_t)n;
	run->sq = 0;
	if (!finite) {
		run->s = run->sx = NAN;
		return;
	}
	run->s = amax / (float)AS_KQ_QMAX;
	if (amax > 0.0f)
		for (size_t i = 0; i < n; i++) {
			run->q[i] = (int16_t)lrintf(x[i] / amax * (float)AS_KQ_QMAX);
			run->sq += run->q[i];
		}
	run->sx = run->s * (float)run->sq;
}

/* ---- scalar reference kernel ------------------------------------------------------ */

/* Flush a sub-block's integer sums into the 64 rows of tile y (rows r .. r+63). */
static void kq_flush(enum ggml_type t, const uint8_t *table, size_t P,
		     const struct as_kq_run *run, size_t r, float *y, const int32_t *acc)
{
	size_t b = run->ch / QK_K, s = (run->ch % QK_K) / as_kq_sub(t);

	for (size_t k = 0; k < 64; k++) {
		float D, M, Ds;

		kq_scales(t, table, P, b, s, r + k, &D, &M);
		Ds = D * run->s;
		if (t == GGML_TYPE_Q6_K)
			y[k] = fmaf(Ds, (float)acc[k], y[k]);
		else
			y[k] += fmaf(Ds, (float)acc[k], -(M * run->sx));
	}
}

void as_kq_tile_scalar(enum ggml_type t, float *y, size_t r, size_t nt, size_t P,
		       const void *table, const void *const *cols,
		       const struct as_kq_run *run)
{
	size_t cb = chunk_bytes(t);
	int w = as_kq_width(t);

	for (size_t k = 0; k < nt; k++) {
		size_t j = r / 64 + k;
		int32_t acc[64] = { 0 };

		for (size_t i = 0; i < run->n; i++) {
			const uint8_t *c = (const uint8_t *)cols[i] + j * cb;

			for (size_t e = 0; e < 64; e++)
				acc[e] += run->q[i] * ((int)kq_code(w, c, e) - (w == 6 ? 32 : 0));
		}
		kq_flush(t, table, P, run, r + 64 * k, y + 64 * k, acc);
	}
}

/* ---- dispatch --------------------------------------------------------------------- */

static as_kq_tile_fn tiles[AS_SIMD_LEVELS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* x86-64 has AVX2 and AVX-512 tiles, aarch64 a NEON one (its dotprod level uses it too:
 * the tile has no byte dot products); elsewhere every level runs the scalar one. */
static void init(void)
{
	for (int l = 0; l < AS_SIMD_LEVELS; l++)
		tiles[l] = as_kq_tile_scalar;
#if defined(__x86_64__)
	enum as_simd detected = as_simd_detect();

	if (detected >= AS_SIMD_AVX2)
		tiles[AS_SIMD_AVX2] = as_kq_tile_avx2;
	tiles[AS_SIMD_AVX512] = detected >= AS_SIMD_AVX512 ? as_kq_tile_avx512 :
				tiles[AS_SIMD_AVX2];
#elif defined(__aarch64__)
	if (as_simd_detect() >= AS_SIMD_NEON) {
		tiles[AS_SIMD_NEON] = as_kq_tile_neon;
		tiles[AS_SIMD_DOTPROD] = as_kq_tile_neon;
	}
#endif
}

void as_kq_axpy_level(enum as_simd level, enum ggml_type t, float *y, size_t r0, size_t r1,
		      size_t out, size_t in, const void *table, const void *const *cols,
		      const uint32_t *ch, const float *x, size_t n)
{
	size_t P = pad64(out);

	pthread_once(&once, init);
	if (!as_kq_table_bytes(t, out, in) || r1 <= r0 || !n || r1 > out || r0 % 64 || !table)
		return;
	for (size_t i = 0; i < n; i++)
		if (ch[i] >= in || (i && ch[i] <= ch[i - 1]))
			return; /* channels must be increasing and inside the matrix */
	if ((int)level < AS_SIMD_SCALAR)
		level = AS_SIMD_SCALAR;
	if (level > as_simd_detect())
		level = as_simd_detect();
	/* run by run (the columns of one sub-block), all the rows of each: every column is
	 * read from start to end once */
	for (size_t i0 = 0, i1; i0 < n; i0 = i1) {
		size_t sub = as_kq_sub(t), full = (r1 - r0) / 64;
		struct as_kq_run run;

		for (i1 = i0 + 1; i1 < n && ch[i1] / sub == ch[i0] / sub; i1++)
			;
		as_kq_quant_run(x + i0, ch + i0, i1 - i0, &run);
		if (full)
			tiles[level](t, y + r0, r0, full, P, table, cols + i0, &run);
		if (r0 + 64 * full < r1) {
			/* partial last tile: the same kernel on a padded copy */
			size_t r = r0 + 64 * full;
			float tmp[64] = { 0 };

			memcpy(tmp, y + r, (r1 - r) * sizeof(float));
			tiles[level](t, tmp, r, 1, P, table, cols + i0, &run);
			memcpy(y + r, tmp, (r1 - r) * sizeof(float));
		}
	}
}

void as_kq_axpy_share(enum as_simd level, enum ggml_type t, float *y, size_t out, size_t in,
		      const void *table, const void *const *cols, const uint32_t *ch,
		      const float *x, size_t n, int ith, int nth)
{
	size_t r0, r1;

	as_sparse_rows(out, ith, nth, &r0, &r1);
	if (r0 < r1)
		as_kq_axpy_level(level, t, y, r0, r1, out, in, table, cols, ch, x, n);
}

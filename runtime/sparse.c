// SPDX-License-Identifier: MIT
/*
 * Sparse gather-accumulate over weight columns (scalar reference, dispatch) and Top-K
 * selection. See activeswap/sparse.h.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sparse_impl.h"

/* ---- scalar reference ------------------------------------------------------------- */

static void sp_f32(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		   size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const float *c = (const float *)((const uint8_t *)cols[i] + off);
		float a = x[i];

		for (size_t r = 0; r < ne; r++)
			y[r] += a * c[r];
	}
}

static void sp_f16(float *y, size_t ne, const void *const *cols, size_t off, const float *x,
		   size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const as_fp16_t *c = (const as_fp16_t *)((const uint8_t *)cols[i] + off);
		float a = x[i];

		for (size_t r = 0; r < ne; r++)
			y[r] += a * as_fp16_to_fp32(c[r]);
	}
}

static void sp_bf16(float *y, size_t ne, const void *const *cols, size_t off,
		    const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const as_bf16_t *c = (const as_bf16_t *)((const uint8_t *)cols[i] + off);
		float a = x[i];

		for (size_t r = 0; r < ne; r++)
			y[r] += a * as_bf16_to_fp32(c[r]);
	}
}

static void sp_q8_0(float *y, size_t ne, const void *const *cols, size_t off,
		    const float *x, size_t n)
{
	size_t nb = ne / QK8_0;

	for (size_t i = 0; i < n; i++) {
		const struct block_q8_0 *c =
			(const struct block_q8_0 *)((const uint8_t *)cols[i] + off);

		for (size_t b = 0; b < nb; b++) {
			float s = x[i] * as_fp16_to_fp32(c[b].d);
			float *yb = y + b * QK8_0;

			for (int k = 0; k < QK8_0; k++)
				yb[k] += s * (float)c[b].qs[k];
		}
	}
}

/* ---- Q4_0 columns: encoding and the integer kernels' reference -------------------- */

/* Byte and nibble of row rr (0..127) of a 64-byte chunk. */
static inline unsigned q4_code(const uint8_t *chunk, size_t rr)
{
	size_t h = rr >> 6, w = rr & 63, j = w >> 4, l = (w >> 2) & 3, t = w & 3;
	uint8_t b = chunk[16 * l + 4 * j + t];

	return h ? b >> 4 : b & 0x0f;
}

/* v rounded to the nearest even integer as cvtps2dq rounds it: 0x80000000 for NaN and
 * what int32 cannot hold (a hostile column's scales), as an unsigned dword. */
static inline uint32_t q4_round(float v)
{
	return v >= -2147483648.0f && v < 2147483648.0f ? (uint32_t)(int32_t)lrintf(v) :
							   0x80000000u;
}

/* The int32 sums wrap as the SIMD levels' (vpaddd, vpmulld) do: no overflow. */
void as_q4_prep_scalar(const void *const *cols, const float *x, size_t m, size_t b0,
		       size_t nb, uint32_t *qa, size_t stride, float *sa, int32_t *corr)
{
	for (size_t j = 0; j < nb; j++) {
		float a[AS_Q4_GROUP], amax = 0.0f, inv;
		uint32_t sum = 0;

		for (size_t i = 0; i < m; i++) {
			uint16_t h;
			float v;

			memcpy(&h, (const uint8_t *)cols[i] + 2 * (b0 + j), 2);
			a[i] = x[i] * as_fp16_to_fp32(h);
			v = fabsf(a[i]);
			amax = amax > v ? amax : v; /* as (v)maxps: NaNs as the SIMD levels */
		}
		sa[j] = amax / 127.0f;
		inv = amax > 0.0f ? 127.0f / amax : 0.0f;
		for (size_t s4 = 0; s4 < (m + 3) / 4; s4++) {
			uint32_t w = 0;

			for (size_t t = 0; t < 4; t++) {
				size_t i = 4 * s4 + t;
				uint32_t q = i < m ? q4_round(a[i] * inv) : 0;

				sum += q;
				w |= (q & 0xff) << (8 * t);
			}
			qa[s4 * stride + j] = w;
		}
		corr[j] = (int32_t)(sum * (uint32_t)-8);
	}
}

static void sp_q4_0(float *y, size_t c0, size_t c1, size_t qoff, const void *const *cols,
		    const float *x, size_t n)
{
	uint32_t qa[AS_Q4_GROUP / 4 * AS_Q4_TILE];
	float sa[AS_Q4_TILE];
	int32_t corr[AS_Q4_TILE];

	for (size_t t0 = c0; t0 < c1; t0 += AS_Q4_TILE / 4) {
		size_t t1 = c1 - t0 < AS_Q4_TILE / 4 ? c1 : t0 + AS_Q4_TILE / 4;

		for (size_t g = 0; g < n; g += AS_Q4_GROUP) {
			size_t m = n - g < AS_Q4_GROUP ? n - g : AS_Q4_GROUP;

			as_q4_prep_scalar(cols + g, x + g, m, t0 * 4, (t1 - t0) * 4, qa, AS_Q4_TILE,
					  sa, corr);
			for (size_t c = t0; c < t1; c++) {
				for (size_t rr = 0; rr < 128; rr++) {
					size_t jb = (c - t0) * 4 + rr / 32;
					uint32_t acc = (uint32_t)corr[jb]; /* wraps as vpaddd */
					float *yr = y + (c - c0) * 128 + rr;

					for (size_t i = 0; i < m; i++) {
						const uint8_t *ch = (const uint8_t *)cols[g + i] +
								    qoff + 64 * c;
						int8_t q = (int8_t)(qa[i / 4 * AS_Q4_TILE + jb] >>
								    (8 * (i % 4)));

						acc += (uint32_t)((int32_t)q * (int32_t)q4_code(ch, rr));
					}
					*yr = fmaf(sa[jb], (float)(int32_t)acc, *yr);
				}
			}
		}
	}
}

size_t as_col_align(enum ggml_type t)
{
	switch (t) {
	case GGML_TYPE_F32:
	case GGML_TYPE_F16:
	case GGML_TYPE_BF16:
		return 1;
	case GGML_TYPE_Q8_0:
		return QK8_0;
	case GGML_TYPE_Q4_0:
		return 128;
	case GGML_TYPE_Q4_K:
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
		return 64; /* codes only: sparse_kq.c */
	default:
		return 0;
	}
}

size_t as_col_bytes(enum ggml_type t, size_t out)
{
	size_t al = as_col_align(t), be, bb;

	if (!al || !out || out > ((size_t)1 << 40))
		return 0;
	if (as_kq_type(t))
		return (out + al - 1) / al * al / 8 * (size_t)as_kq_width(t);
	be = as_type_block_elems(t);
	bb = as_type_block_bytes(t);
	return (out + al - 1) / al * al / be * bb;
}

int as_col_encode(enum ggml_type t, const float *src, size_t out, void *dst)
{
	size_t al = as_col_align(t), be, bb, full, p;
	float tail[128];

	if (!src || !dst || !as_col_bytes(t, out) || as_kq_type(t)) /* type, out, overflow */
		return -EINVAL;
	be = as_type_block_elems(t);
	bb = as_type_block_bytes(t);
	p = (out + al - 1) / al * al;
	if (t != GGML_TYPE_Q4_0) {
		int r = 0;

		full = out / be * be;
		if (full)
			r = as_quant_row(t, src, dst, full);
		if (!r && full < p) {
			memset(tail, 0, sizeof(float) * be);
			memcpy(tail, src + full, sizeof(float) * (out - full));
			r = as_quant_row(t, tail, (uint8_t *)dst + full / be * bb, be);
		}
		return r;
	}
	{
		uint8_t *d = dst, *q = d + p / 32 * 2;

		memset(q, 0, p / 2);
		for (size_t b = 0; b < p / 32; b++) {
			struct block_q4_0 blk;
			const float *v = src + b * 32;
			int r;

			if (b * 32 + 32 > out) {
				memset(tail, 0, sizeof(tail));
				if (b * 32 < out)
					memcpy(tail, src + b * 32, sizeof(float) * (out - b * 32));
				v = tail;
			}
			r = as_quant_row(GGML_TYPE_Q4_0, v, &blk, 32);
			if (r)
				return r;
			memcpy(d + 2 * b, &blk.d, 2);
			for (size_t k = 0; k < 32; k++) {
				size_t row = b * 32 + k, c = row / 128, rr = row % 128;
				size_t hi = rr >> 6, w = rr & 63;
				size_t pos = 16 * ((w >> 2) & 3) + 4 * (w >> 4) + (w & 3);
				unsigned code = k < 16 ? blk.qs[k] & 0x0f : blk.qs[k - 16] >> 4;

				q[64 * c + pos] |= (uint8_t)(code << (4 * hi));
			}
		}
	}
	return 0;
}

void as_col_decode(enum ggml_type t, const void *src, size_t out, float *dst)
{
	size_t be, bb, full;

	if (!src || !dst || !as_col_bytes(t, out) || as_kq_type(t)) /* type, out, overflow */
		return;
	if (t == GGML_TYPE_Q4_0) {
		size_t p = (out + 127) / 128 * 128;
		const uint8_t *d = src, *q = d + p / 32 * 2;

		for (size_t r = 0; r < out; r++) {
			uint16_t h;

			memcpy(&h, d + 2 * (r / 32), 2);
			dst[r] = as_fp16_to_fp32(h) *
				 (float)((int)q4_code(q + 64 * (r / 128), r % 128) - 8);
		}
		return;
	}
	be = as_type_block_elems(t);
	bb = as_type_block_bytes(t);
	full = out / be * be;
	if (full)
		as_dequant_row(t, src, dst, full);
	if (full < out) {
		float tail[QK8_0];

		as_dequant_row(t, (const uint8_t *)src + full / be * bb, tail, be);
		memcpy(dst + full, tail, sizeof(float) * (out - full));
	}
}

/* ---- dispatch --------------------------------------------------------------------- */

static struct as_sparse_table tables[AS_SIMD_LEVELS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The CPU check and the ACTIVESWAP_SIMD / as_kernels_force() choice are kernels.c's: the
 * sparse and the dense kernels always run at the same level. */
static void init(void)
{
	struct as_sparse_table *s = &tables[AS_SIMD_SCALAR];
	enum as_simd detected = as_simd_detect();

	s->fn[AS_SP_F32] = sp_f32;
	s->fn[AS_SP_F16] = sp_f16;
	s->fn[AS_SP_BF16] = sp_bf16;
	s->fn[AS_SP_Q8_0] = sp_q8_0;
	s->q4 = sp_q4_0;
#if defined(__x86_64__)
	tables[AS_SIMD_AVX2] = tables[AS_SIMD_SCALAR];
	if (detected >= AS_SIMD_AVX2)
		as_sparse_avx2_init(&tables[AS_SIMD_AVX2]);
	tables[AS_SIMD_AVX512] = tables[AS_SIMD_AVX2];
	if (detected >= AS_SIMD_AVX512)
		as_sparse_avx512_init(&tables[AS_SIMD_AVX512]);
#elif defined(__aarch64__)
	tables[AS_SIMD_NEON] = tables[AS_SIMD_SCALAR];
	if (detected >= AS_SIMD_NEON)
		as_sparse_neon_init(&tables[AS_SIMD_NEON]);
	tables[AS_SIMD_DOTPROD] = tables[AS_SIMD_NEON]; /* SDOT does not help columns */
#else
	(void)detected;
	for (int l = 1; l < AS_SIMD_LEVELS; l++)
		tables[l] = tables[AS_SIMD_SCALAR];
#endif
}

enum as_simd as_sparse_level(void)
{
	return as_simd_active();
}

static int kind_of(enum ggml_type t)
{
	switch (t) {
	case GGML_TYPE_F32:
		return AS_SP_F32;
	case GGML_TYPE_F16:
		return AS_SP_F16;
	case GGML_TYPE_BF16:
		return AS_SP_BF16;
	case GGML_TYPE_Q8_0:
		return AS_SP_Q8_0;
	case GGML_TYPE_Q4_0:
		return AS_SP_Q4_0;
	default:
		return -1;
	}
}

bool as_sparse_type_ok(enum ggml_type t)
{
	return kind_of(t) >= 0;
}

void as_sparse_axpy_level(enum as_simd level, enum ggml_type t, float *y, size_t r0,
			  size_t r1, size_t out, const void *const *cols, const float *x,
			  size_t n)
{
	size_t blk = as_type_block_elems(t), bb = as_type_block_bytes(t), full, off;
	int k = kind_of(t);
	as_sparse_fn fn;

	pthread_once(&once, init);
	if (k < 0 || r1 <= r0 || !n || r1 > out || r0 % as_col_align(t))
		return;
	if ((int)level < AS_SIMD_SCALAR)
		level = AS_SIMD_SCALAR;
	if (level > as_simd_detect())
		level = as_simd_detect();
	if (k == AS_SP_Q4_0) {
		size_t qoff = (out + 127) / 128 * 4 * 2, c0 = r0 / 128, c1 = r1 / 128;

		if (c1 > c0)
			tables[level].q4(y + r0, c0, c1, qoff, cols, x, n);
		if (r1 % 128) {
			/* partial last chunk: the same kernel on a padded copy */
			float tmp[128] = { 0 };

			memcpy(tmp, y + c1 * 128, (r1 - c1 * 128) * sizeof(float));
			tables[level].q4(tmp, c1, c1 + 1, qoff, cols, x, n);
			memcpy(y + c1 * 128, tmp, (r1 - c1 * 128) * sizeof(float));
		}
		return;
	}
	fn = tables[level].fn[k];
	off = r0 / blk * bb;
	full = (r1 - r0) / blk * blk;
	if (full)
		fn(y + r0, full, cols, off, x, n);
	if (r0 + full < r1) {
		/* partial last block: run the same kernel on a padded copy */
		float tmp[QK8_0] = { 0 };
		size_t rem = r1 - r0 - full;

		memcpy(tmp, y + r0 + full, rem * sizeof(float));
		fn(tmp, blk, cols, off + full / blk * bb, x, n);
		memcpy(y + r0 + full, tmp, rem * sizeof(float));
	}
}

void as_sparse_axpy(enum ggml_type t, float *y, size_t r0, size_t r1, size_t out,
		    const void *const *cols, const float *x, size_t n)
{
	as_sparse_axpy_level(as_sparse_level(), t, y, r0, r1, out, cols, x, n);
}

void as_sparse_rows(size_t out, int ith, int nth, size_t *r0, size_t *r1)
{
	size_t units = (out + 127) / 128;
	size_t u0 = units * (size_t)ith / (size_t)nth, u1 = units * (size_t)(ith + 1) / nth;

	*r0 = u0 * 128;
	*r1 = u1 * 128 > out ? out : u1 * 128;
}

void as_sparse_axpy_share(enum as_simd level, enum ggml_type t, float *y, size_t out,
			  const void *const *cols, const float *x, size_t n, int ith, int nth)
{
	size_t r0, r1;

	as_sparse_rows(out, ith, nth, &r0, &r1);
	if (r0 < r1)
		as_sparse_axpy_level(level, t, y, r0, r1, out, cols, x, n);
}

/* ---- Top-K ------------------------------------------------------------------------ */

/*
 * The k-th largest (1-based) of u[0..n) by a three-level radix select over the bit
 * patterns (11 + 11 + 10 bits): each level histograms the values that share the prefix
 * found so far. Exact, no reordering, about four passes over u.
 */
static uint32_t kth_largest_bits(const uint32_t *u, size_t n, size_t k)
{
	static const int sh[3] = { 21, 10, 0 }, nbits[3] = { 11, 11, 10 };
	uint32_t prefix = 0, mask = 0, hist[2048];

	for (int lv = 0; lv < 3; lv++) {
		uint32_t nb = 1u << nbits[lv];

		memset(hist, 0, sizeof(hist[0]) * nb);
		for (size_t i = 0; i < n; i++)
			if ((u[i] & mask) == prefix)
				hist[(u[i] >> sh[lv]) & (nb - 1)]++;
		for (uint32_t b = nb; b-- > 0;) {
			if (hist[b] >= k || b == 0) {
				prefix |= b << sh[lv];
				mask |= (nb - 1) << sh[lv];
				break;
			}
			k -= hist[b];
		}
	}
	return prefix;
}

size_t as_topk_select(const float *x, size_t n, size_t k, uint32_t *idx, float *scratch)
{
	uint32_t *u = (uint32_t *)(void *)scratch, thr;
	size_t above = 0, m = 0, eq_keep;

	if (k >= n) {
		for (size_t i = 0; i < n; i++)
			idx[i] = (uint32_t)i;
		return n;
	}
	if (!k)
		return 0;
	/* |x| as its IEEE bits: ordered like the magnitudes (NaNs above infinity) */
	for (size_t i = 0; i < n; i++) {
		uint32_t b;

		memcpy(&b, &x[i], 4);
		u[i] = b & 0x7fffffffu;
	}
	thr = kth_largest_bits(u, n, k);
	for (size_t i = 0; i < n; i++)
		above += u[i] > thr;
	eq_keep = k - above;
	for (size_t i = 0; i < n && m < k; i++) {
		if (u[i] > thr) {
			idx[m++] = (uint32_t)i;
		} else if (u[i] == thr && eq_keep) {
			idx[m++] = (uint32_t)i;
			eq_keep--;
		}
	}
	return m;
}

size_t as_threshold_select(const float *x, size_t n, float t, uint32_t *idx)
{
	uint32_t tb;
	size_t m = 0;

	if (!(t > 0)) /* 0, negative or NaN: every channel */
		tb = 0;
	else
		memcpy(&tb, &t, 4);
	for (size_t i = 0; i < n; i++) {
		uint32_t b;

		memcpy(&b, &x[i], 4);
		if ((b & 0x7fffffffu) >= tb)
			idx[m++] = (uint32_t)i;
	}
	return m;
}

// SPDX-License-Identifier: MIT
/*
 * Sparse gather-accumulate over weight columns (scalar reference, dispatch) and Top-K
 * selection. See activeswap/sparse.h.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static void sp_q4_0(float *y, size_t ne, const void *const *cols, size_t off,
		    const float *x, size_t n)
{
	size_t nb = ne / QK4_0;

	for (size_t i = 0; i < n; i++) {
		const struct block_q4_0 *c =
			(const struct block_q4_0 *)((const uint8_t *)cols[i] + off);

		for (size_t b = 0; b < nb; b++) {
			float s = x[i] * as_fp16_to_fp32(c[b].d);
			float *yb = y + b * QK4_0;

			for (int k = 0; k < QK4_0 / 2; k++) {
				yb[k] += s * (float)((c[b].qs[k] & 0x0f) - 8);
				yb[k + QK4_0 / 2] += s * (float)((c[b].qs[k] >> 4) - 8);
			}
		}
	}
}

/* ---- dispatch --------------------------------------------------------------------- */

static struct as_sparse_table tables[3];
static enum as_simd detected, active;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
	struct as_sparse_table *s = &tables[AS_SIMD_SCALAR];
	const char *env = getenv("ACTIVESWAP_SIMD");

	s->fn[AS_SP_F32] = sp_f32;
	s->fn[AS_SP_F16] = sp_f16;
	s->fn[AS_SP_BF16] = sp_bf16;
	s->fn[AS_SP_Q8_0] = sp_q8_0;
	s->fn[AS_SP_Q4_0] = sp_q4_0;
	detected = AS_SIMD_SCALAR;
	__builtin_cpu_init();
	/* No VNNI needed here (float FMAs only), unlike the matvec kernels. */
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	    __builtin_cpu_supports("f16c")) {
		detected = AS_SIMD_AVX2;
		if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
			detected = AS_SIMD_AVX512;
	}
	tables[AS_SIMD_AVX2] = tables[AS_SIMD_SCALAR];
	if (detected >= AS_SIMD_AVX2)
		as_sparse_avx2_init(&tables[AS_SIMD_AVX2]);
	tables[AS_SIMD_AVX512] = tables[AS_SIMD_AVX2];
	if (detected >= AS_SIMD_AVX512)
		as_sparse_avx512_init(&tables[AS_SIMD_AVX512]);
	active = detected;
	if (env) {
		if (!strcasecmp(env, "scalar"))
			active = AS_SIMD_SCALAR;
		else if (!strcasecmp(env, "avx2"))
			active = AS_SIMD_AVX2;
		else if (!strcasecmp(env, "avx512"))
			active = AS_SIMD_AVX512;
		if (active > detected)
			active = detected;
	}
}

enum as_simd as_sparse_level(void)
{
	pthread_once(&once, init);
	return active;
}

static int kind_of(enum ggml_type t, size_t *blk, size_t *bbytes)
{
	switch (t) {
	case GGML_TYPE_F32:
		*blk = 1;
		*bbytes = 4;
		return AS_SP_F32;
	case GGML_TYPE_F16:
		*blk = 1;
		*bbytes = 2;
		return AS_SP_F16;
	case GGML_TYPE_BF16:
		*blk = 1;
		*bbytes = 2;
		return AS_SP_BF16;
	case GGML_TYPE_Q8_0:
		*blk = QK8_0;
		*bbytes = sizeof(struct block_q8_0);
		return AS_SP_Q8_0;
	case GGML_TYPE_Q4_0:
		*blk = QK4_0;
		*bbytes = sizeof(struct block_q4_0);
		return AS_SP_Q4_0;
	default:
		return -1;
	}
}

bool as_sparse_type_ok(enum ggml_type t)
{
	size_t a, b;

	return kind_of(t, &a, &b) >= 0;
}

void as_sparse_axpy_level(enum as_simd level, enum ggml_type t, float *y, size_t r0,
			  size_t r1, const void *const *cols, const float *x, size_t n)
{
	size_t blk, bb, full, off;
	int k = kind_of(t, &blk, &bb);
	as_sparse_fn fn;

	pthread_once(&once, init);
	if (k < 0 || r1 <= r0 || !n || r0 % blk)
		return;
	if ((int)level < AS_SIMD_SCALAR)
		level = AS_SIMD_SCALAR;
	if (level > detected)
		level = detected;
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

void as_sparse_axpy(enum ggml_type t, float *y, size_t r0, size_t r1,
		    const void *const *cols, const float *x, size_t n)
{
	as_sparse_axpy_level(as_sparse_level(), t, y, r0, r1, cols, x, n);
}

/* ---- Top-K ------------------------------------------------------------------------ */

/* k-th largest (1-based) of a[0..n) by quickselect; reorders a. */
static float kth_largest(float *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1, want = k - 1;

	while (lo < hi) {
		float pivot = a[lo + (hi - lo) / 2];
		size_t i = lo, j = hi;

		for (;;) {
			while (a[i] > pivot)
				i++;
			while (a[j] < pivot)
				j--;
			if (i >= j)
				break;
			float t = a[i];

			a[i] = a[j];
			a[j] = t;
			i++;
			j--;
		}
		/* a[lo..j] >= pivot >= a[j+1..hi] */
		if (want <= j)
			hi = j;
		else
			lo = j + 1;
	}
	return a[want];
}

size_t as_topk_select(const float *x, size_t n, size_t k, uint32_t *idx, float *scratch)
{
	size_t above = 0, m = 0, eq_keep;
	float thr;

	if (k >= n) {
		for (size_t i = 0; i < n; i++)
			idx[i] = (uint32_t)i;
		return n;
	}
	if (!k)
		return 0;
	for (size_t i = 0; i < n; i++)
		scratch[i] = __builtin_fabsf(x[i]);
	thr = kth_largest(scratch, n, k);
	for (size_t i = 0; i < n; i++)
		above += __builtin_fabsf(x[i]) > thr;
	eq_keep = k - above;
	for (size_t i = 0; i < n && m < k; i++) {
		float a = __builtin_fabsf(x[i]);

		if (a > thr) {
			idx[m++] = (uint32_t)i;
		} else if (a == thr && eq_keep) {
			idx[m++] = (uint32_t)i;
			eq_keep--;
		}
	}
	return m;
}

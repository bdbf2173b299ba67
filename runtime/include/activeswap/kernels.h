/* SPDX-License-Identifier: MIT */
/*
 * Compute kernels. Every kernel has a scalar reference; AVX2 and AVX-512 versions are
 * chosen at run time from cpuid (override with as_kernels_force() or the environment
 * variable ACTIVESWAP_SIMD=scalar|avx2|avx512, used by the tests to compare paths).
 *
 * Matrices are row-major with the GGUF convention: a weight tensor with ne = {cols, rows}
 * stores `rows` rows of `cols` elements each; y = W x has `rows` outputs.
 */
#ifndef ACTIVESWAP_KERNELS_H
#define ACTIVESWAP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "activeswap/quant.h"
#include "activeswap/threadpool.h"

enum as_simd { AS_SIMD_SCALAR = 0, AS_SIMD_AVX2 = 1, AS_SIMD_AVX512 = 2 };

/* Best level this CPU supports. */
enum as_simd as_simd_detect(void);
/* Level in use (detected, or forced). */
enum as_simd as_simd_active(void);
/* Force a level (clamped to what the CPU supports); returns the level now active. */
enum as_simd as_kernels_force(enum as_simd level);
const char *as_simd_name(enum as_simd level);

/* y[rows] = W[rows x cols] * x[cols]; W of type t (any as_type_supported type).
 * cols must be a multiple of the type's block size. Split over tp's threads by rows.
 * Internally x is quantized once (Q8_0 / Q8_K) for the quantized types, as llama.cpp
 * does, so results match llama.cpp's numerics closely rather than exactly. */
void as_matvec(struct as_threadpool *tp, enum ggml_type t, const void *W, size_t rows,
	       size_t cols, const float *x, float *y);

/* Multiple independent matvecs sharing the same input x (e.g. Q, K, V or gate, up),
 * done in one thread-pool dispatch. */
struct as_matvec_job {
	enum ggml_type type;
	const void *W;
	size_t rows;
	float *y;
};
void as_matvec_multi(struct as_threadpool *tp, const struct as_matvec_job *jobs, int n_jobs,
		     size_t cols, const float *x);

/* Small float helpers used by the model code. */
void as_rmsnorm(float *out, const float *x, const float *w, size_t n, float eps);
void as_softmax(float *x, size_t n);
float as_dot_f32(const float *a, const float *b, size_t n);
/* y += a * x */
void as_axpy_f32(float *y, float a, const float *x, size_t n);

#endif

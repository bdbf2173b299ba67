/* SPDX-License-Identifier: MIT */
/*
 * Compute kernels. Every kernel has a scalar reference; SIMD versions are chosen at run
 * time: AVX2 and AVX-512 on x86-64 (from cpuid), NEON and NEON with the dot-product
 * instructions on aarch64 (from getauxval(AT_HWCAP)). Override with as_kernels_force() or
 * the environment variable ACTIVESWAP_SIMD=scalar|avx2|avx512 (x86-64) or
 * scalar|neon|dotprod (aarch64), used by the tests to compare paths.
 *
 * Matrices are row-major with the GGUF convention: a weight tensor with ne = {cols, rows}
 * stores `rows` rows of `cols` elements each; y = W x has `rows` outputs.
 */
#ifndef ACTIVESWAP_KERNELS_H
#define ACTIVESWAP_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/quant.h"
#include "activeswap/threadpool.h"

/*
 * Levels are ranks on the architecture the library was built for: every level includes
 * the ones below it, and code may loop from AS_SIMD_SCALAR to as_simd_detect(). The same
 * ranks carry x86-64's names and aarch64's; as_simd_name() gives the build's.
 */
enum as_simd {
	AS_SIMD_SCALAR = 0,
	AS_SIMD_AVX2 = 1,     /* x86-64: AVX2 + FMA + F16C */
	AS_SIMD_AVX512 = 2,   /* x86-64: AVX-512 F/BW/VL/DQ/VNNI */
	AS_SIMD_NEON = 1,     /* aarch64: Advanced SIMD (baseline) */
	AS_SIMD_DOTPROD = 2,  /* aarch64: Advanced SIMD + SDOT/UDOT (HWCAP_ASIMDDP) */
};
#define AS_SIMD_LEVELS 3

/* Best level this CPU supports. */
enum as_simd as_simd_detect(void);
/* Level in use (detected, or forced). */
enum as_simd as_simd_active(void);
/* Force a level (clamped to what the CPU supports); returns the level now active. */
enum as_simd as_kernels_force(enum as_simd level);
/*
 * AMX (x86-64): the AVX-512 level's matrix-matrix product of repacked Q4_0 and Q8_0
 * (as_matmul_multi) uses AMX-INT8 tiles when the CPU has AMX-TILE and AMX-INT8 and the kernel grants the
 * tile state (arch_prctl ARCH_REQ_XCOMP_PERM, asked once at the first kernel call); its
 * results are bit-identical to the AVX-512 kernels'. as_kernels_amx(false) turns it off
 * (the AVX-512 tile runs, as on a CPU without AMX); ACTIVESWAP_AMX=0 in the environment
 * also keeps the process from asking for the tile state (AMX is then as if absent).
 * as_amx_detect(): usable here; as_amx_active(): in use (detected and not turned off).
 * as_kernels_amx() returns the new state (false where AMX is not usable). Other levels
 * and architectures are unaffected.
 */
bool as_amx_detect(void);
bool as_amx_active(void);
bool as_kernels_amx(bool on);
/* The level's name on this build's architecture ("scalar", "avx2", "neon", ...). */
const char *as_simd_name(enum as_simd level);
/* The level named name on this architecture (as_simd_name's names), or -1. */
int as_simd_parse(const char *name);

/* y[rows] = W[rows x cols] * x[cols]; W of type t (any as_type_supported type).
 * cols must be a multiple of the type's block size. Rows are split over tp's threads.
 * Internally x is quantized once (Q8_0 / Q8_K) for the quantized types, as llama.cpp
 * does, so results match llama.cpp's numerics closely rather than exactly.
 * A call that cannot be done (unsupported type, cols not a block multiple, out of memory)
 * sets every y to NaN. The result does not depend on the number of threads. */
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

/*
 * The same jobs for n_tok inputs at once (batched prompt processing): X is [n_tok][cols]
 * and every job's y is [n_tok][rows] (token t's outputs at y + t * rows). Every value is
 * bit-identical to as_matvec's for that token at the active level (the same row kernels
 * on the same prepared input); the weights are read once per tile for all the tokens
 * (runtime/matmul.c). Failure (as as_matvec's, or out of memory) sets every y to NaN.
 */
void as_matmul_multi(struct as_threadpool *tp, const struct as_matvec_job *jobs, int n_jobs,
		     size_t cols, const float *X, size_t n_tok);

/*
 * Repacked Q4_0 ("Q4_0_X16"): an in-memory-only layout (never written to files) that the
 * model loader may build in anonymous memory (ideally madvise(MADV_HUGEPAGE)) for faster
 * decode. Rows are taken in groups of 16 (the last group padded with zero rows); for every
 * group and every 32-column block there is one struct block_q4_0x16: the 16 rows' scales,
 * then their 16-byte qs arrays interleaved by 4-byte words:
 *     qs[c * 64 + r * 4 + k] = row r's block.qs[c * 4 + k]    (c < 4, r < 16, k < 4)
 * Group g (rows 16g..16g+15) starts at W + g * (cols / 32) * sizeof(struct block_q4_0x16).
 * as_matvec accepts AS_TYPE_Q4_0_X16 (and the other X16 types below) as a weight type with
 * the usual rows/cols; they are not as_type_supported() file types. Its scalar reference is plain Q4_0's; the SIMD kernels
 * of the two layouts sum in different orders, so their results may differ in the last bits
 * (on AVX-512 from a few hundred columns on): code that needs bit-identical results must
 * use one layout throughout (swaprows.c repacks every layer it computes).
 */
#define AS_TYPE_Q4_0_X16 ((enum ggml_type)64)
#define AS_X16_ROWS 16
struct block_q4_0x16 {
	as_fp16_t d[AS_X16_ROWS];
	uint8_t qs[AS_X16_ROWS * QK4_0 / 2];
};
static_assert(sizeof(struct block_q4_0x16) == 16 * sizeof(struct block_q4_0), "x16 layout");

/*
 * Repacked Q4_K ("Q4_K_X16"), the same idea for 256-column superblocks: per 16-row group
 * and superblock one struct block_q4_Kx16 of exactly 16 plain blocks' bytes (so a group
 * can be repacked in place): the rows' d and dmin, their 12 scale bytes as three 32-bit
 * words each (sc[w][r] = bytes 4w..4w+3 of row r's scales), and their qs interleaved by
 * 4-byte words per 32-byte quarter q of the plain qs:
 *     qs[(q * 8 + c) * 64 + r * 4 + k] = row r's block.qs[q * 32 + c * 4 + k]
 *                                                   (q < 4, c < 8, r < 16, k < 4)
 * so that one 64-byte load holds 4 codes of each of the 16 rows (low nibbles: sub-block
 * 2q, high nibbles: 2q + 1). Group g starts at W + g * (cols / 256) * 2304. The kernels
 * of this and the two layouts below keep their plain type's scalar integer sums and float
 * steps: bit-identical to the scalar kernel at every level.
 */
#define AS_TYPE_Q4_K_X16 ((enum ggml_type)65)
struct block_q4_Kx16 {
	as_fp16_t d[AS_X16_ROWS];
	as_fp16_t dmin[AS_X16_ROWS];
	uint32_t sc[3][AS_X16_ROWS];
	uint8_t qs[AS_X16_ROWS * QK_K / 2];
};
static_assert(sizeof(struct block_q4_Kx16) == 16 * sizeof(struct block_q4_K), "x16 layout");

/*
 * Repacked Q5_K ("Q5_K_X16"): Q4_K_X16's layout plus the rows' qh interleaved the same
 * way, qh[c * 64 + r * 4 + k] = row r's block.qh[c * 4 + k] (c < 8): bit 2q of that byte
 * is the fifth bit of the low-nibble code at qs[(q * 8 + c) * 64 + r * 4 + k], bit 2q + 1
 * the high nibble's.
 */
#define AS_TYPE_Q5_K_X16 ((enum ggml_type)66)
struct block_q5_Kx16 {
	as_fp16_t d[AS_X16_ROWS];
	as_fp16_t dmin[AS_X16_ROWS];
	uint32_t sc[3][AS_X16_ROWS];
	uint8_t qh[AS_X16_ROWS * QK_K / 8];
	uint8_t qs[AS_X16_ROWS * QK_K / 2];
};
static_assert(sizeof(struct block_q5_Kx16) == 16 * sizeof(struct block_q5_K), "x16 layout");
/* the kernels read both through the Q4_K_X16 header and take qs as the last field */
static_assert(offsetof(struct block_q5_Kx16, sc) == offsetof(struct block_q4_Kx16, sc),
	      "x16 k45 header");
static_assert(offsetof(struct block_q4_Kx16, qs) ==
	      sizeof(struct block_q4_Kx16) - AS_X16_ROWS * QK_K / 2, "x16 k45 qs last");
static_assert(offsetof(struct block_q5_Kx16, qs) ==
	      sizeof(struct block_q5_Kx16) - AS_X16_ROWS * QK_K / 2, "x16 k45 qs last");

/*
 * Repacked Q8_0 ("Q8_0_X16"): per 16-row group and 32-column block the rows' scales, then
 * their codes interleaved by 4-byte words and offset to unsigned (for vpdpbusd):
 *     qs[c * 64 + r * 4 + k] = (uint8_t)(row r's block.qs[c * 4 + k] + 128)   (c < 8)
 */
#define AS_TYPE_Q8_0_X16 ((enum ggml_type)67)
struct block_q8_0x16 {
	as_fp16_t d[AS_X16_ROWS];
	uint8_t qs[AS_X16_ROWS * QK8_0];
};
static_assert(sizeof(struct block_q8_0x16) == 16 * sizeof(struct block_q8_0), "x16 layout");

/* Bytes of the repacked form of a rows x cols matrix of type t (GGML_TYPE_Q4_0, Q4_K,
 * Q5_K or Q8_0). 0 on success; -EINVAL (other type, cols not a block multiple,
 * rows == 0), -EOVERFLOW. */
int as_repack_size(enum ggml_type t, size_t rows, size_t cols, uint64_t *bytes);
/* Repack src (rows x cols of type t, plain GGUF rows) into dst (as_repack_size bytes).
 * Returns the new weight type (as_repacked_type(t)) or a negative errno. */
int as_repack(enum ggml_type t, const void *src, size_t rows, size_t cols, void *dst);
/* The type a matrix of type t becomes when repacked (AS_TYPE_Q4_0_X16 ... Q8_0_X16), or
 * -EINVAL when t has no repacked layout. */
int as_repacked_type(enum ggml_type t);
/* The plain type of a repacked type (its rows take that type's bytes); t itself
 * otherwise. */
enum ggml_type as_x16_plain_type(enum ggml_type t);

/* True when repacking weights of type t pays off at the active SIMD level (Q4_0 with AVX2 or
 * AVX-512, Q4_K, Q5_K and Q8_0 with AVX-512; the scalar X16 kernels are slow references;
 * false on aarch64, where the NEON Q4_0_X16 kernels' speed is unmeasured). Loaders should
 * check this. */
bool as_repack_useful(enum ggml_type t);

/* Matvec with an explicit SIMD level (tests/benchmarks compare levels without touching the
 * global choice); level is clamped to what the CPU supports. */
void as_matvec_level(enum as_simd level, struct as_threadpool *tp, enum ggml_type t,
		     const void *W, size_t rows, size_t cols, const float *x, float *y);

/* x[n] -> n/32 Q8_0 blocks (n a multiple of 32) with the active SIMD level; bit-identical
 * to the scalar reference as_quant_q8_0_ref() (ggml's rounding) for finite x. */
void as_quantize_q8_0(const float *x, struct block_q8_0 *y, size_t n);

/* Small float helpers used by the model code. */
void as_rmsnorm(float *out, const float *x, const float *w, size_t n, float eps);
void as_softmax(float *x, size_t n);
float as_dot_f32(const float *a, const float *b, size_t n);
/* y += a * x */
void as_axpy_f32(float *y, float a, const float *x, size_t n);
/* The same with the second operand an F16 row (an F16 KV cache): each element converted
 * exactly (as_fp16_to_fp32), then as the F32 helpers at the active level. */
float as_dot_f16(const float *a, const as_fp16_t *b, size_t n);
void as_axpy_f16(float *y, float a, const as_fp16_t *x, size_t n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the kernel dispatcher (kernels.c) and the per-ISA kernel
 * files (kernels_avx2.c, kernels_avx512.c on x86-64; kernels_neon.c, kernels_dotprod.c on
 * aarch64). Not installed, not public.
 */
#ifndef ACTIVESWAP_KERNELS_IMPL_H
#define ACTIVESWAP_KERNELS_IMPL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "activeswap/kernels.h"

/*
 * Two consecutive Q8_0 blocks of x (2p, 2p+1) rearranged for plain-layout Q4_0 kernels
 * that do two weight blocks per 512-bit vpdpbusd: int32 lane k belongs to block 2p + (k & 1)
 * and holds its elements 16 * (k >> 3) + 4 * ((k & 7) >> 1) + 0..3; corr[i] is -8 * sum(qs)
 * and d[i] the scale of block 2p + i. 80 bytes, so that x for 11008 columns (13.8 KB)
 * stays in L1 next to the weight stream.
 */
struct as_q8_pair {
	int8_t qs[64];
	int32_t corr[2];
	float d[2];
};

/* The input vector of a matvec in every form a kernel may want. */
struct as_xin {
	const float *f32;              /* x itself (cols floats) */
	const struct block_q8_0 *q8;   /* x as Q8_0, cols/32 blocks (NULL if cols % 32) */
	const int32_t *q8sum;          /* per Q8_0 block: 8 * sum(qs), for unsigned-nibble dots */
	const struct block_q8_K *q8k;  /* x as Q8_K, cols/256 blocks (NULL if cols % 256) */
	const struct as_q8_pair *q8p;  /* cols/64 pairs, when the table asks for them */
	const float *q8s1;             /* per Q8_0 block: llama.cpp's Q8_1 s, for Q4_1 / Q5_1 */
	/* Only in x[0] of a batch (as_matmul_multi) whose plan has need_q8t: the batch's Q8_0
	 * inputs in AMX tiles, AS_Q8T_BYTES per 16 tokens and block: for chunk c (tokens
	 * 16c..16c+15) and block b at q8t + (c * nblocks + b) * AS_Q8T_BYTES, the 16 tokens'
	 * qs (32 bytes each), then their scales as 16 floats (at AS_Q8T_DX), then 128 * sum(qs)
	 * as 16 int32 (at AS_Q8T_DX + 64, for unsigned Q8_0_X16 codes); tokens past the batch
	 * are 0. */
	const uint8_t *q8t;
};
#define AS_Q8T_DX (16 * 32)
#define AS_Q8T_BYTES (16 * 32 + 16 * 4 + 16 * 4)

/*
 * Row kernel: y[r] = dot(row r of W, x) for r in [r0, r1). Row r starts at
 * W + r * row_bytes (for the repacked type: group r/16, see kernels.h).
 */
typedef void (*as_rows_fn)(const void *W, size_t row_bytes, size_t r0, size_t r1,
			   size_t cols, const struct as_xin *x, float *y);

/*
 * Matrix-matrix row kernel (runtime/matmul.c): for the n_tok inputs x[0..n_tok),
 * y[t * ldy + r] for r in [r0, r1), each value bit-identical to the row kernel's of the
 * same level for that input (only the loop order differs: weights loaded once for
 * several tokens).
 */
typedef void (*as_rows_mm_fn)(const void *W, size_t row_bytes, size_t r0, size_t r1,
			      size_t cols, const struct as_xin *x, size_t n_tok, float *y,
			      size_t ldy);

enum as_ktype {
	AS_K_F32, AS_K_F16, AS_K_BF16, AS_K_Q8_0, AS_K_Q4_0, AS_K_Q4_K, AS_K_Q6_K,
	AS_K_Q4_0_X16,
	/* against Q8_0 activations */
	AS_K_Q4_1, AS_K_Q5_0, AS_K_Q5_1, AS_K_IQ4_NL,
	/* against Q8_K activations */
	AS_K_Q2_K, AS_K_Q3_K, AS_K_Q5_K, AS_K_IQ4_XS,
	/* repacked 16-row groups beside Q4_0_X16 (repack.c) */
	AS_K_Q4_K_X16, AS_K_Q5_K_X16, AS_K_Q8_0_X16,
	AS_K_COUNT
};

/* x -> Q8_0 blocks, bit-identical to as_quant_q8_0_ref; sums[b] = 8 * sum(qs) if non-NULL */
typedef void (*as_quant_q8_0_fn)(const float *x, struct block_q8_0 *y, int32_t *sums,
				 size_t nb);

struct as_kernel_table {
	as_rows_fn rows[AS_K_COUNT]; /* NULL: fall back to the scalar kernel */
	as_rows_mm_fn rows_mm[AS_K_COUNT]; /* NULL: rows, token by token */
	/* AMX tiles in place of rows_mm while as_amx_active() (NULL: none) */
	as_rows_mm_fn rows_mm_amx[AS_K_COUNT];
	as_quant_q8_0_fn quant_q8_0;
	bool q4_0_wants_pairs; /* the Q4_0 kernel reads as_xin.q8p */
	float (*dot_f32)(const float *a, const float *b, size_t n);
	void (*axpy_f32)(float *y, float a, const float *x, size_t n);
	/* the same over an F16 KV cache row (x, b as F16, converted exactly) */
	float (*dot_f16)(const float *a, const as_fp16_t *b, size_t n);
	void (*axpy_f16)(float *y, float a, const as_fp16_t *x, size_t n);
};

void as_kernels_avx2_init(struct as_kernel_table *t);
/* Scalar kernels of Q4_1 Q5_0 Q5_1 IQ4_NL Q2_K Q3_K Q5_K IQ4_XS (kernels_types.c). */
void as_kernels_types_scalar_init(struct as_kernel_table *t);
/* Their AVX2 kernels (kernels_types_avx2.c). */
void as_kernels_types_avx2_init(struct as_kernel_table *t);
/* Rows [r0, r1) of a repacked matrix (groups of gbytes per block, nb blocks per row)
 * through its 16-row group kernel: whole groups straight into y, a partial one through a
 * scratch (the SIMD files' rows functions; inlined with the group kernel). */
static inline __attribute__((always_inline)) void
x16_rows(void (*group)(const void *, size_t, const struct as_xin *, float *), size_t gbytes,
	 const void *W, size_t r0, size_t r1, size_t nb, const struct as_xin *x, float *y)
{
	float tmp[AS_X16_ROWS];

	while (r0 < r1) {
		size_t g = r0 / AS_X16_ROWS, gr0 = g * AS_X16_ROWS;
		size_t end = gr0 + AS_X16_ROWS < r1 ? gr0 + AS_X16_ROWS : r1;
		const uint8_t *gp = (const uint8_t *)W + g * nb * gbytes;

		if (r0 == gr0 && end == gr0 + AS_X16_ROWS) {
			group(gp, nb, x, y + gr0);
		} else {
			group(gp, nb, x, tmp);
			memcpy(y + r0, tmp + (r0 - gr0), (end - r0) * sizeof(float));
		}
		r0 = end;
	}
}

/* Scalar references of the repacked K-quant and Q8_0 layouts (repack.c): each row
 * unpacked to its plain blocks and computed by the plain type's scalar kernel, taken from
 * t (set before the call). */
void as_kernels_x16_scalar_init(struct as_kernel_table *t);
/* AVX-512 Q6_K and the Q4_K/Q5_K/Q8_0 X16 kernels (kernels_kquant_avx512.c). */
void as_kernels_kquant_avx512_init(struct as_kernel_table *t);
void as_kernels_avx512_init(struct as_kernel_table *t);
/* The AVX-512 matrix-matrix tiles (matmul_avx512.c). */
void as_matmul_avx512_init(struct as_kernel_table *t);
/* The AMX-INT8 tiles (matmul_amx.c): as_amx_request() checks cpuid and XCR0 and asks the
 * kernel for the tile state (arch_prctl), once; only then may as_matmul_amx_init's
 * kernels run. */
bool as_amx_request(void);
/* Rows per matmul.c tile for the AMX kernel: it reads each block of the inputs once for
 * all of them (matmul_amx.c computes 8 groups of 16 together). */
#define AS_MM_AMX_ROWS 128
void as_matmul_amx_init(struct as_kernel_table *t);
void as_kernels_neon_init(struct as_kernel_table *t);
void as_kernels_dotprod_init(struct as_kernel_table *t);
/* NEON and SDOT kernels of the types of kernels_types.c (kernels_types_neon.h). */
void as_kernels_types_neon_init(struct as_kernel_table *t);
void as_kernels_types_dotprod_init(struct as_kernel_table *t);

#define AS_MV_MAX_JOBS 16

/*
 * How jobs over one input of cols columns are computed at a level (kernels.c, shared by
 * as_matvec and as_matmul): every job's row kernel and row bytes, and the forms of x
 * they need, laid out in one scratch buffer of xin_bytes (a multiple of 64; 0 when the
 * kernels read x as floats only).
 */
struct as_mv_plan {
	const struct as_kernel_table *tab;
	as_rows_fn fn[AS_MV_MAX_JOBS];
	as_rows_mm_fn fn_mm[AS_MV_MAX_JOBS]; /* the level's matrix-matrix kernel, or NULL */
	size_t mm_rows[AS_MV_MAX_JOBS]; /* rows per matmul.c tile it wants (0: by weight bytes) */
	size_t row_bytes[AS_MV_MAX_JOBS];
	bool need_q8, need_q8k, need_pairs, need_s1;
	bool need_q8t; /* a batch's inputs in AMX tiles too (as_xin.q8t; matmul.c builds it) */
	size_t off_sum, off_p, off_s1, off_k, xin_bytes;
};

/* 0, or -EINVAL (no jobs, more than AS_MV_MAX_JOBS, unsupported type, cols not a block
 * multiple). level is clamped to the CPU's. */
int as_mv_plan(enum as_simd level, const struct as_matvec_job *jobs, int n_jobs, size_t cols,
	       struct as_mv_plan *p);
/* x in the plan's forms into buf (xin_bytes, 64-byte aligned), described by xin. */
void as_mv_xin(const struct as_mv_plan *p, const float *x, size_t cols, void *buf,
	       struct as_xin *xin);

#endif

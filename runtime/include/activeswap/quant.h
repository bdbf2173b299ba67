/* SPDX-License-Identifier: MIT */
/*
 * Tensor element types (ggml numbering, as stored in GGUF) and their block layouts.
 * Scalar reference conversions; the SIMD dot products live behind kernels.h.
 */
#ifndef ACTIVESWAP_QUANT_H
#define ACTIVESWAP_QUANT_H

#include <assert.h> /* static_assert: a C11 macro, a C++ keyword */
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum ggml_type {
	GGML_TYPE_F32 = 0,
	GGML_TYPE_F16 = 1,
	GGML_TYPE_Q4_0 = 2,
	GGML_TYPE_Q4_1 = 3,
	GGML_TYPE_Q5_0 = 6,
	GGML_TYPE_Q5_1 = 7,
	GGML_TYPE_Q8_0 = 8,
	GGML_TYPE_Q8_1 = 9,
	GGML_TYPE_Q2_K = 10,
	GGML_TYPE_Q3_K = 11,
	GGML_TYPE_Q4_K = 12,
	GGML_TYPE_Q5_K = 13,
	GGML_TYPE_Q6_K = 14,
	GGML_TYPE_Q8_K = 15,
	GGML_TYPE_IQ4_NL = 20,
	GGML_TYPE_IQ4_XS = 23,
	GGML_TYPE_BF16 = 30,
	GGML_TYPE_COUNT = 40 /* upper bound of the numbering we know about */
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t as_fp16_t;
typedef uint16_t as_bf16_t;

struct block_q4_0 {
	as_fp16_t d;
	uint8_t qs[QK4_0 / 2]; /* element j in low nibble of qs[j], j+16 in high nibble */
};

struct block_q4_1 {
	as_fp16_t d;
	as_fp16_t m;           /* x = d * q + m */
	uint8_t qs[QK4_1 / 2]; /* as Q4_0 */
};

struct block_q5_0 {
	as_fp16_t d;
	uint8_t qh[4];         /* bit j: 5th bit of element j (little-endian u32) */
	uint8_t qs[QK5_0 / 2]; /* low nibbles as Q4_0; x = d * (q - 16) */
};

struct block_q5_1 {
	as_fp16_t d;
	as_fp16_t m;
	uint8_t qh[4];
	uint8_t qs[QK5_1 / 2]; /* x = d * q + m */
};

/* x = d * kvalues_iq4nl[q] */
struct block_iq4_nl {
	as_fp16_t d;
	uint8_t qs[QK4_NL / 2];
};

struct block_q8_0 {
	as_fp16_t d;
	int8_t qs[QK8_0];
};

struct block_q4_K {
	as_fp16_t d;
	as_fp16_t dmin;
	uint8_t scales[K_SCALE_SIZE];
	uint8_t qs[QK_K / 2];
};

/* 16 sub-blocks of 16: x = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4), q in 0..3;
 * element 128n + 32j + l is bits 2j of qs[32n + l]. */
struct block_q2_K {
	uint8_t scales[QK_K / 16];
	uint8_t qs[QK_K / 4];
	as_fp16_t d;
	as_fp16_t dmin;
};

/* 16 sub-blocks of 16 with 6-bit scales (sc - 32): x = d * (sc - 32) * (q - 4), q in 0..7;
 * low 2 bits of q as Q2_K, the high bit is bit (4n + j) of hmask[l]. */
struct block_q3_K {
	uint8_t hmask[QK_K / 8];
	uint8_t qs[QK_K / 4];
	uint8_t scales[12];
	as_fp16_t d;
};

/* as Q4_K plus a 5th bit: element 64j + l in bit 2j of qh[l], 64j + 32 + l in bit 2j+1. */
struct block_q5_K {
	as_fp16_t d;
	as_fp16_t dmin;
	uint8_t scales[K_SCALE_SIZE];
	uint8_t qh[QK_K / 8];
	uint8_t qs[QK_K / 2];
};

/* 8 sub-blocks of 32 with 6-bit scales ls: x = d * (ls - 32) * kvalues_iq4nl[q]. */
struct block_iq4_xs {
	as_fp16_t d;
	uint16_t scales_h;          /* 2 high bits of ls of sub-block i at bits 2i */
	uint8_t scales_l[QK_K / 64]; /* 4 low bits of ls of sub-block i: nibble i % 2 of [i / 2] */
	uint8_t qs[QK_K / 2];       /* per sub-block 16 bytes, as Q4_0 */
};

struct block_q6_K {
	uint8_t ql[QK_K / 2];
	uint8_t qh[QK_K / 4];
	int8_t scales[QK_K / 16];
	as_fp16_t d;
};

/* Activation-side block for dot products with K-quants. */
struct block_q8_K {
	float d;
	int8_t qs[QK_K];
	int16_t bsums[QK_K / 16];
};

static_assert(sizeof(struct block_q4_0) == 18, "q4_0 layout");
static_assert(sizeof(struct block_q8_0) == 34, "q8_0 layout");
static_assert(sizeof(struct block_q4_K) == 144, "q4_K layout");
static_assert(sizeof(struct block_q6_K) == 210, "q6_K layout");
static_assert(sizeof(struct block_q4_1) == 20, "q4_1 layout");
static_assert(sizeof(struct block_q5_0) == 22, "q5_0 layout");
static_assert(sizeof(struct block_q5_1) == 24, "q5_1 layout");
static_assert(sizeof(struct block_iq4_nl) == 18, "iq4_nl layout");
static_assert(sizeof(struct block_q2_K) == 84, "q2_K layout");
static_assert(sizeof(struct block_q3_K) == 110, "q3_K layout");
static_assert(sizeof(struct block_q5_K) == 176, "q5_K layout");
static_assert(sizeof(struct block_iq4_xs) == 136, "iq4_xs layout");

/* The 16 non-linear levels of IQ4_NL / IQ4_XS. */
extern const int8_t as_kvalues_iq4nl[16];

/* True for the types the runtime can compute with: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0
 * Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS. */
bool as_type_supported(enum ggml_type t);
/* Name as llama.cpp prints it ("q4_0", "f16", ...); "unknown" for others. */
const char *as_type_name(enum ggml_type t);
/* Parse a name (case-insensitive); -1 when unknown. */
int as_type_from_name(const char *name);
/* Elements per block (1 for F32/F16/BF16), bytes per block; 0 for unsupported types. */
size_t as_type_block_elems(enum ggml_type t);
size_t as_type_block_bytes(enum ggml_type t);
/* Bytes of n elements: -EINVAL if n is not a multiple of the block size or the type is
 * unsupported, -EOVERFLOW on overflow; 0 and *out on success. */
int as_row_bytes(enum ggml_type t, uint64_t n, uint64_t *out);

float as_fp16_to_fp32(as_fp16_t h);
as_fp16_t as_fp32_to_fp16(float f);       /* round to nearest even */
float as_bf16_to_fp32(as_bf16_t h);
as_bf16_t as_fp32_to_bf16(float f);       /* round to nearest even */

/* Scalar reference: decode n elements (n a multiple of the block size; otherwise, or for
 * an unsupported type, dst gets n NaNs). */
void as_dequant_row(enum ggml_type t, const void *src, float *dst, size_t n);
/* Scalar reference: encode n elements of any supported type. F32 F16 BF16 Q8_0 Q4_0 use
 * ggml's rounding exactly; the others use our own quantizers (runtime/quant_k.c): valid
 * blocks, not necessarily ggml's choice of scales. Returns -EINVAL for other types. */
int as_quant_row(enum ggml_type t, const float *src, void *dst, size_t n);

/* Scalar reference helpers shared with the kernels (ggml's exact rules). */
/* Q8_0 quantization of n/32 blocks: d = amax/127, q = roundf(x/d). */
void as_quant_q8_0_ref(const float *x, struct block_q8_0 *y, size_t nb);
/* Q8_K quantization of nb blocks (activation side of K-quant dot products). */
void as_quant_q8_K_ref(const float *x, struct block_q8_K *y, size_t nb);
/* 6-bit scale and min of sub-block j (0..7) from a Q4_K scales[12] array. */
void as_q4k_scale_min(int j, const uint8_t *scales, uint8_t *d, uint8_t *m);
/* 6-bit scale s (0..15, stored value: scale + 32) of a Q3_K scales[12] array. */
int as_q3k_scale(int s, const uint8_t *scales);

/* Internal to quant.c / quant_k.c: the K-quant and IQ4 dequantizers and quantizers
 * (nb blocks). */
void as_dequant_kq(enum ggml_type t, const void *src, float *dst, size_t nb);
int as_quant_kq(enum ggml_type t, const float *src, void *dst, size_t nb);

#endif

// SPDX-License-Identifier: MIT
/*
 * AMX-INT8 matrix-matrix tiles of the repacked Q4_0_X16 and Q8_0_X16 layouts (kernels.h;
 * Q8_0: its codes are tile B as they are, tdpbsud, then - 128 * sum(x)) for batched
 * prompt processing (runtime/matmul.c), a sub-choice of the AVX-512 level (kernels.c:
 * used when the CPU has AMX-TILE and AMX-INT8 and the kernel grants the tile state).
 *
 * For one 32-column block, one 16-row group and 16 tokens, tdpbssd computes the 16 x 16
 * exact int32 dots of the tokens' Q8_0 bytes (tile A: a token per row, from the batch's
 * tile-ordered inputs as_xin.q8t, which matmul.c builds) with the group's weights as
 * signed bytes q - 8 (tile B: the block's low nibbles then its high nibbles, which is the
 * X16 layout's order, 4 bytes per row of the group): si = dot(q, x) - 8 * sum(x), as the
 * VNNI kernels compute it. Then, for every token, in the order of the X16 row kernels
 * (matmul_avx512.c, kernels.c): dd = dw * dx, p = si * dd, acc + p, each rounded, blocks
 * in order: every output is bit-identical to the AVX-512 tile's and the row kernels'.
 *
 * Weights are unpacked to bytes 16 blocks at a time (8 KiB per group, in L1) for up to
 * MM_GMAX groups, and each 16-token piece of the inputs feeds all of them; the
 * accumulators of up to MM_TSUP tokens per group live on the stack between the pieces.
 */
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernels_impl.h"

#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define MM_TT 16   /* tokens per tile (rows of tiles A and C) */
#ifndef MM_KB
#define MM_KB 16   /* blocks unpacked at a time */
#endif
#ifndef MM_TSUP
#define MM_TSUP 128 /* tokens whose accumulators are kept at once (a multiple of MM_TT) */
#endif
#ifndef MM_GMAX
#define MM_GMAX 8   /* 16-row groups computed together, each block of x read once for them */
#endif

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

bool as_amx_request(void)
{
	unsigned int a, b, c, d;
	unsigned long perm = 0;

	if (__get_cpuid_max(0, NULL) < 7 || !__get_cpuid(1, &a, &b, &c, &d) ||
	    !(c & bit_OSXSAVE))
		return false;
	__cpuid_count(7, 0, a, b, c, d);
	if (!(d & (1u << 24)) || !(d & (1u << 25))) /* AMX-TILE, AMX-INT8 */
		return false;
	if ((xgetbv0() & (3ull << 17)) != (3ull << 17)) /* XTILECFG, XTILEDATA */
		return false;
	if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA))
		return false;
	if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm))
		return false;
	return (perm & (1ul << XFEATURE_XTILEDATA)) != 0;
}

struct tilecfg {
	uint8_t palette, start_row, rsv[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

/* Tiles 0-3: C (16 tokens x 16 int32, two per step, alternate steps on 0, 1 and 2, 3);
 * 4, 5: A (16 tokens x 32 bytes); 6, 7: B (8 x 64 bytes). */
static void tiles_config(void)
{
	struct tilecfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.palette = 1;
	for (int i = 0; i < 4; i++) {
		cfg.rows[i] = MM_TT;
		cfg.colsb[i] = 64;
	}
	for (int i = 4; i < 6; i++) {
		cfg.rows[i] = MM_TT;
		cfg.colsb[i] = 32;
		cfg.rows[i + 2] = 8;
		cfg.colsb[i + 2] = 64;
	}
	/* not _tile_loadconfig(): gcc 12's asm names only the first 8 bytes of the
	 * configuration as its input, so the stores of the rest could be dropped */
	__asm__ volatile("ldtilecfg %0" : : "m"(cfg) : "memory");
}

/* acc[t] += the block's products, t < 16, from the C tile stored at c: Q4_0, the exact
 * si = dot(q - 8, x) = dot(q, x) - 8 * sum(x) of every row and token; Q8_0, dot(q + 128,
 * x), from which corr[t] = 128 * sum(x) is taken (as the VNNI kernels do) */
static inline __attribute__((always_inline)) void
epilogue(__m512 *acc, const int32_t *c, __m512 dw, const float *dx, const int32_t *corr,
	 const bool q8)
{
#pragma GCC unroll 16
	for (int t = 0; t < MM_TT; t++) {
		__m512i si = _mm512_load_si512(c + 16 * t);
		__m512 dd, p;

		if (q8)
			si = _mm512_sub_epi32(si, _mm512_set1_epi32(corr[t]));
		dd = _mm512_mul_round_ps(dw, _mm512_set1_ps(dx[t]), RN);
		p = _mm512_mul_round_ps(_mm512_cvtepi32_ps(si), dd, RN);
		acc[t] = _mm512_add_round_ps(acc[t], p, RN);
	}
}

/* blocks k and k + 1 (if k + 1 < kb) into C tiles C0, C1, stored at c[0], c[1]; B of
 * block k at wb + k * wbs: Q4_0 signed (tdpbssd), Q8_0 unsigned (tdpbsud) */
#define MM_STEP(C0, C1)                                                                   \
	do {                                                                              \
		_tile_zero(C0);                                                           \
		_tile_loadd(4, tq + (size_t)k * AS_Q8T_BYTES, 32);                       \
		_tile_loadd(6, wb + wbs * (size_t)k, 64);                                 \
		if (q8)                                                                   \
			_tile_dpbsud(C0, 4, 6);                                           \
		else                                                                      \
			_tile_dpbssd(C0, 4, 6);                                           \
		if (k + 1 < kb) {                                                         \
			_tile_zero(C1);                                                   \
			_tile_loadd(5, tq + (size_t)(k + 1) * AS_Q8T_BYTES, 32);         \
			_tile_loadd(7, wb + wbs * (size_t)(k + 1), 64);                   \
			if (q8)                                                           \
				_tile_dpbsud(C1, 5, 7);                                   \
			else                                                              \
				_tile_dpbssd(C1, 5, 7);                                   \
		}                                                                         \
		_tile_stored(C0, c[0], 64);                                               \
		if (k + 1 < kb)                                                           \
			_tile_stored(C1, c[1], 64);                                       \
	} while (0)

/*
 * 16 tokens (a chunk of as_xin.q8t, tq its first block's tile) against kb blocks of
 * weights (B tiles at wb, wbs apart); tokens past the batch have zero inputs and their
 * accumulators are not used. Two blocks per step; the tiles of step i are computed and
 * stored while the products of step i - 1 are summed, steps alternating between two
 * pairs of C tiles.
 */
static inline __attribute__((always_inline)) void
chunk16(const uint8_t *tq, int kb, const uint8_t *wb, size_t wbs, const __m512 *dw,
	float *accbuf, const bool q8)
{
	int32_t cb[2][2][256] __attribute__((aligned(64)));
	__m512 acc[MM_TT];
	int steps = (kb + 1) / 2;

#pragma GCC unroll 16
	for (int t = 0; t < MM_TT; t++)
		acc[t] = _mm512_loadu_ps(accbuf + 16 * t);
	for (int i = 0; i <= steps; i++) {
		if (i < steps) {
			int k = 2 * i;
			int32_t (*c)[256] = cb[i & 1];

			if (i & 1)
				MM_STEP(2, 3);
			else
				MM_STEP(0, 1);
		}
		if (i > 0) {
			int k = 2 * (i - 1), p = (i - 1) & 1;
			const uint8_t *dx = tq + (size_t)k * AS_Q8T_BYTES + AS_Q8T_DX;

			epilogue(acc, cb[p][0], dw[k], (const float *)dx,
				 (const int32_t *)(dx + 64), q8);
			if (k + 1 < kb)
				epilogue(acc, cb[p][1], dw[k + 1],
					 (const float *)(dx + AS_Q8T_BYTES),
					 (const int32_t *)(dx + AS_Q8T_BYTES + 64), q8);
		}
	}
#pragma GCC unroll 16
	for (int t = 0; t < MM_TT; t++)
		_mm512_storeu_ps(accbuf + 16 * t, acc[t]);
}

static __attribute__((noinline)) void chunk16_q4(const uint8_t *tq, int kb, const uint8_t *wb,
						   const __m512 *dw, float *accbuf)
{
	chunk16(tq, kb, wb, 512, dw, accbuf, false);
}

static __attribute__((noinline)) void chunk16_q8(const uint8_t *tq, int kb, const uint8_t *wb,
						   const __m512 *dw, float *accbuf)
{
	chunk16(tq, kb, wb, sizeof(struct block_q8_0x16), dw, accbuf, true);
}

/* Blocks [b0, b0 + kb) of a group to signed bytes q - 8: per block its low nibbles (4 x 64
 * bytes, the X16 order: word r of each 64 is row r), then its high nibbles; and its
 * scales. */
static void unpack(const struct block_q4_0x16 *g, size_t b0, int kb, uint8_t *wb, __m512 *dw)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), m8 = _mm512_set1_epi8(8);

	for (int k = 0; k < kb; k++) {
		const struct block_q4_0x16 *blk = &g[b0 + (size_t)k];

		dw[k] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk->d));
		for (int c = 0; c < 4; c++) {
			__m512i q = _mm512_loadu_si512(blk->qs + 64 * c);
			__m512i lo = _mm512_and_si512(q, m4);
			__m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);

			_mm512_store_si512(wb + 512 * k + 64 * c, _mm512_sub_epi8(lo, m8));
			_mm512_store_si512(wb + 512 * k + 256 + 64 * c, _mm512_sub_epi8(hi, m8));
		}
	}
}

/*
 * Rows [r0, r1) of a repacked Q4_0 (q8 false) or Q8_0 matrix for the batch x: up to
 * MM_GMAX groups at a time, their weights unpacked (Q4_0) or read in place (Q8_0, whose
 * X16 codes are already tile B's bytes) 16 blocks at a time.
 */
static inline __attribute__((always_inline)) void
rows_mm(const void *W, size_t gbytes, size_t r0, size_t r1, size_t nb, const uint8_t *q8t,
	size_t n_tok, float *y, size_t ldy, const bool q8)
{
	uint8_t wb[MM_GMAX][MM_KB * 512] __attribute__((aligned(64))); /* Q4_0 only */
	const uint8_t *wp[MM_GMAX];
	__m512 dw[MM_GMAX][MM_KB];
	float accbuf[MM_GMAX][MM_TSUP * 16] __attribute__((aligned(64)));

	tiles_config();
	for (size_t g0 = r0 / AS_X16_ROWS; g0 * AS_X16_ROWS < r1; g0 += MM_GMAX) {
		size_t g_end = (r1 + AS_X16_ROWS - 1) / AS_X16_ROWS;
		int ng = (int)(g_end - g0 < MM_GMAX ? g_end - g0 : MM_GMAX);

		for (size_t ts = 0; ts < n_tok; ts += MM_TSUP) {
			size_t nts = n_tok - ts < MM_TSUP ? n_tok - ts : MM_TSUP;

			for (int gi = 0; gi < ng; gi++) /* whole chunks: a tail's spare rows too */
				memset(accbuf[gi], 0, (nts + MM_TT - 1) / MM_TT * MM_TT * 16 *
						      sizeof(float));
			for (size_t b0 = 0; b0 < nb; b0 += MM_KB) {
				int kb = (int)(nb - b0 < MM_KB ? nb - b0 : MM_KB);

				for (int gi = 0; gi < ng; gi++) {
					const uint8_t *g = (const uint8_t *)W +
							   (g0 + (size_t)gi) * nb * gbytes;

					if (!q8) {
						unpack((const struct block_q4_0x16 *)g, b0, kb,
						       wb[gi], dw[gi]);
						wp[gi] = wb[gi];
						continue;
					}
					const struct block_q8_0x16 *blk =
						(const struct block_q8_0x16 *)g + b0;

					for (int k = 0; k < kb; k++)
						dw[gi][k] = _mm512_cvtph_ps(_mm256_loadu_si256(
							(const __m256i *)blk[k].d));
					wp[gi] = blk->qs;
				}
				for (size_t tc = 0; tc < nts; tc += MM_TT) {
					const uint8_t *tq = q8t + ((ts + tc) / MM_TT * nb + b0) *
									  AS_Q8T_BYTES;

					for (int gi = 0; gi < ng; gi++) {
						if (q8)
							chunk16_q8(tq, kb, wp[gi], dw[gi],
								   accbuf[gi] + 16 * tc);
						else
							chunk16_q4(tq, kb, wp[gi], dw[gi],
								   accbuf[gi] + 16 * tc);
					}
				}
			}
			for (int gi = 0; gi < ng; gi++) {
				size_t gr0 = (g0 + (size_t)gi) * AS_X16_ROWS;
				size_t lo = r0 > gr0 ? r0 - gr0 : 0;
				size_t hi = r1 < gr0 + AS_X16_ROWS ? r1 - gr0 : AS_X16_ROWS;
				__mmask16 om = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));

				for (size_t t = 0; t < nts; t++)
					_mm512_mask_storeu_ps(y + (ts + t) * ldy + gr0, om,
							      _mm512_loadu_ps(accbuf[gi] + 16 * t));
			}
		}
	}
	_tile_release();
}

/* Only through matmul.c, which lays the batch's inputs out in tiles (x[0].q8t) whenever it
 * picks these kernels (as_mv_plan's need_q8t), for rows r0 < r1 of whole blocks. */
static void rows_mm_q4_0_x16_amx(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
				 const struct as_xin *x, size_t n_tok, float *y, size_t ldy)
{
	(void)rb;
	rows_mm(W, sizeof(struct block_q4_0x16), r0, r1, cols / QK4_0, x[0].q8t, n_tok, y, ldy,
		false);
}

static void rows_mm_q8_0_x16_amx(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
				 const struct as_xin *x, size_t n_tok, float *y, size_t ldy)
{
	(void)rb;
	rows_mm(W, sizeof(struct block_q8_0x16), r0, r1, cols / QK8_0, x[0].q8t, n_tok, y, ldy,
		true);
}

void as_matmul_amx_init(struct as_kernel_table *t)
{
	t->rows_mm_amx[AS_K_Q4_0_X16] = rows_mm_q4_0_x16_amx;
	t->rows_mm_amx[AS_K_Q8_0_X16] = rows_mm_q8_0_x16_amx;
}

// SPDX-License-Identifier: MIT
/*
 * AVX-512 VNNI matrix-matrix tile of the repacked Q4_0_X16 layout (kernels.h) for
 * batched prompt processing (runtime/matmul.c): each 16-row group's weight block is
 * loaded and its nibbles unpacked once, then dotted with the same block of up to
 * MM_TOK tokens' Q8_0 inputs. For every token the steps and their order are those of
 * the X16 row kernels (vpdpbusd integer sums, which are exact, then dd = dw * dx,
 * p = si * dd and acc + p, each rounded, as the scalar reference), so every output is
 * bit-identical to the row kernels' at every level.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels_impl.h"

#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define MM_TOK 4

static inline int32_t load_i32(const void *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* 16 rows of group g against x[0..NT): out[t * ldo + i] for row i of the group */
static inline __attribute__((always_inline)) void
group_tile(const struct block_q4_0x16 *g, size_t nb, const struct as_xin *x, const int NT,
	   float *out, size_t ldo)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	__m512 acc[MM_TOK];

	for (int t = 0; t < NT; t++)
		acc[t] = _mm512_setzero_ps();
	for (size_t b = 0; b < nb; b++) {
		const struct block_q4_0x16 *blk = &g[b];
		__m512i lo[4], hi[4];
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk->d));

		_mm_prefetch((const char *)(blk + 8), _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + 8) + 64, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + 8) + 128, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + 8) + 192, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + 8) + 256, _MM_HINT_T0);
		for (int c = 0; c < 4; c++) {
			__m512i v = _mm512_loadu_si512(blk->qs + 64 * c);

			lo[c] = _mm512_and_si512(v, m4);
			hi[c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
		}
		for (int t = 0; t < NT; t++) {
			const int8_t *xq = x[t].q8[b].qs;
			__m512i sl = _mm512_setzero_si512(), sh = _mm512_setzero_si512();

			for (int c = 0; c < 4; c++) {
				sl = _mm512_dpbusd_epi32(sl, lo[c],
							 _mm512_set1_epi32(load_i32(xq + 4 * c)));
				sh = _mm512_dpbusd_epi32(sh, hi[c],
							 _mm512_set1_epi32(load_i32(xq + 16 + 4 * c)));
			}
			__m512i si = _mm512_sub_epi32(_mm512_add_epi32(sl, sh),
						      _mm512_set1_epi32(x[t].q8sum[b]));
			__m512 dd = _mm512_mul_round_ps(dw, _mm512_set1_ps(_cvtsh_ss(x[t].q8[b].d)),
							RN);
			__m512 p = _mm512_mul_round_ps(_mm512_cvtepi32_ps(si), dd, RN);

			acc[t] = _mm512_add_round_ps(acc[t], p, RN);
		}
	}
	for (int t = 0; t < NT; t++)
		_mm512_storeu_ps(out + (size_t)t * ldo, acc[t]);
}

static void group_any(const struct block_q4_0x16 *g, size_t nb, const struct as_xin *x,
		      size_t nt, float *out, size_t ldo)
{
	switch (nt) {
	case 1: group_tile(g, nb, x, 1, out, ldo); break;
	case 2: group_tile(g, nb, x, 2, out, ldo); break;
	case 3: group_tile(g, nb, x, 3, out, ldo); break;
	default: group_tile(g, nb, x, 4, out, ldo); break;
	}
}

static void rows_mm_q4_0_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			     const struct as_xin *x, size_t n_tok, float *y, size_t ldy)
{
	size_t nb = cols / QK4_0;
	const struct block_q4_0x16 *base = W;
	float tmp[MM_TOK * AS_X16_ROWS];

	(void)rb;
	for (size_t t0 = 0; t0 < n_tok; t0 += MM_TOK) {
		size_t nt = n_tok - t0 < MM_TOK ? n_tok - t0 : MM_TOK;

		for (size_t r = r0; r < r1;) {
			size_t g = r / AS_X16_ROWS, gr0 = g * AS_X16_ROWS;
			size_t end = gr0 + AS_X16_ROWS < r1 ? gr0 + AS_X16_ROWS : r1;

			group_any(base + g * nb, nb, x + t0, nt, tmp, AS_X16_ROWS);
			for (size_t t = 0; t < nt; t++)
				memcpy(y + (t0 + t) * ldy + r, tmp + t * AS_X16_ROWS + (r - gr0),
				       (end - r) * sizeof(float));
			r = end;
		}
	}
}

void as_matmul_avx512_init(struct as_kernel_table *t)
{
	t->rows_mm[AS_K_Q4_0_X16] = rows_mm_q4_0_x16;
}

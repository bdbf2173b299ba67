// SPDX-License-Identifier: MIT
/*
 * Driver for tests/qemu/arm64_insn.sh: REPS calls of one kernel at one SIMD level, on
 * seeded data. Usage: arm64_insn LEVEL REPS TYPE [sparse|kq]
 *   dense:  as_matvec_level on a 256 x 1024 matrix of TYPE (q4_0_x16: Q4_0 repacked);
 *   sparse: as_sparse_axpy_level over 64 columns of 256 rows of TYPE;
 *   kq:     as_kq_axpy_level over channels 0..63 of a 256 x 256 K-quant matrix (TYPE
 *           q4_K, q5_K or q6_K: the store's K-quant column tile).
 * Prints y[0] so the work cannot be optimized away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"

#define ROWS 256
#define COLS 1024
#define NCOLS 64
#define KQ_IN 256
#define QROWS 16 /* rows quantized (the K-quant quantizers are slow emulated) */

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static float frand(void)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (float)(rs >> 40) / 16777216.0f - 0.5f;
}

/* random K-quant blocks with finite scales (0.01 as fp16) */
static void k_blocks(enum ggml_type t, uint8_t *p, size_t nb)
{
	size_t bb = as_type_block_bytes(t);

	for (size_t i = 0; i < nb * bb; i++)
		p[i] = (uint8_t)(frand() * 256.0f + 128.0f);
	for (size_t b = 0; b < nb; b++) {
		as_fp16_t d = as_fp32_to_fp16(0.01f);

		if (t == GGML_TYPE_Q4_K) {
			struct block_q4_K *k = (struct block_q4_K *)(p + b * bb);

			k->d = d;
			k->dmin = d;
		} else {
			((struct block_q6_K *)(p + b * bb))->d = d;
		}
	}
}

/* REPS calls of the K-quant column tile: GGUF rows split into codes + table, columns
 * 0..NCOLS-1 encoded */
static int kq_run(enum as_simd lvl, int reps, enum ggml_type t, const float *x, float *y)
{
	static float row[KQ_IN];
	static uint8_t codes[ROWS][KQ_IN], col[ROWS];
	size_t tb = as_kq_table_bytes(t, ROWS, KQ_IN);
	size_t cb = (size_t)as_kq_width(t) * 8 * (ROWS / 64); /* bytes of a column */
	uint8_t *table = malloc(tb), *cols = malloc(cb * NCOLS), *src;
	const void *p[NCOLS];
	uint32_t ch[NCOLS];
	uint64_t rb;

	if (!tb || !table || !cols || as_row_bytes(t, KQ_IN, &rb) || !(src = malloc(rb)))
		return 1;
	for (size_t r = 0; r < ROWS; r++) {
		for (size_t i = 0; i < KQ_IN; i++)
			row[i] = frand();
		if (as_quant_row(t, row, src, KQ_IN) ||
		    as_kq_split_row(t, src, KQ_IN, ROWS, r, codes[r], table))
			return 1;
	}
	for (size_t i = 0; i < NCOLS; i++) {
		for (size_t r = 0; r < ROWS; r++)
			col[r] = codes[r][i];
		if (as_kq_col_encode(t, col, ROWS, cols + i * cb))
			return 1;
		p[i] = cols + i * cb;
		ch[i] = (uint32_t)i;
	}
	for (int k = 0; k < reps; k++)
		as_kq_axpy_level(lvl, t, y, 0, ROWS, ROWS, KQ_IN, table, p, ch, x, NCOLS);
	free(src);
	free(cols);
	free(table);
	return 0;
}

int main(int argc, char **argv)
{
	static float x[COLS], y[ROWS], tmp[COLS];
	int lvl, reps, t, x16 = argc > 3 && !strcmp(argv[3], "q4_0_x16");
	uint64_t rb;
	uint8_t *w;

	if (argc < 4 || (t = x16 ? GGML_TYPE_Q4_0 : as_type_from_name(argv[3])) < 0) {
		fprintf(stderr, "usage: %s LEVEL REPS TYPE [sparse]\n", argv[0]);
		return 2;
	}
	lvl = atoi(argv[1]);
	reps = atoi(argv[2]);
	for (size_t i = 0; i < COLS; i++)
		x[i] = frand();
	if (argc > 4 && !strcmp(argv[4], "kq")) {
		if (kq_run((enum as_simd)lvl, reps, (enum ggml_type)t, x, y))
			return 1;
		printf("%g\n", y[0]);
		return 0;
	}
	if (argc < 5) {
		if (as_row_bytes((enum ggml_type)t, COLS, &rb) || !(w = malloc(rb * ROWS)))
			return 1;
		for (size_t r = 0; r < ROWS; r++) {
			if (r >= QROWS) { /* the kernels do not branch on data: repeat rows */
				memcpy(w + r * rb, w + (r % QROWS) * rb, rb);
				continue;
			}
			for (size_t i = 0; i < COLS; i++)
				tmp[i] = frand();
			if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q6_K) /* no quantizer: bytes */
				k_blocks((enum ggml_type)t, w + r * rb, COLS / QK_K);
			else if (as_quant_row((enum ggml_type)t, tmp, w + r * rb, COLS))
				return 1;
		}
		if (x16) {
			uint8_t *wr;

			if (as_repack_size(GGML_TYPE_Q4_0, ROWS, COLS, &rb) || !(wr = malloc(rb)))
				return 1;
			t = as_repack(GGML_TYPE_Q4_0, w, ROWS, COLS, wr);
			free(w);
			w = wr;
		}
		for (int k = 0; k < reps; k++)
			as_matvec_level((enum as_simd)lvl, NULL, (enum ggml_type)t, w, ROWS, COLS, x,
					y);
	} else {
		size_t cb = as_col_bytes((enum ggml_type)t, ROWS);
		const void *p[NCOLS];

		if (!cb || !(w = malloc(cb * NCOLS)))
			return 1;
		for (size_t i = 0; i < NCOLS; i++) {
			for (size_t r = 0; r < ROWS; r++)
				tmp[r] = frand();
			if (as_col_encode((enum ggml_type)t, tmp, ROWS, w + i * cb))
				return 1;
			p[i] = w + i * cb;
		}
		for (int k = 0; k < reps; k++)
			as_sparse_axpy_level((enum as_simd)lvl, (enum ggml_type)t, y, 0, ROWS, ROWS, p,
					     x, NCOLS);
	}
	printf("%g\n", y[0]);
	free(w);
	return 0;
}

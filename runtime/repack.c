// SPDX-License-Identifier: MIT
/*
 * The repacked 16-row layouts of activeswap/kernels.h: their sizes, the repacking of
 * plain GGUF rows into them, and the scalar references of the K-quant and Q8_0 ones
 * (a row unpacked back to its plain blocks, then the plain type's scalar kernel: so the
 * reference is the plain type's by construction). Q4_0_X16's scalar kernel lives with
 * the Q4_0 one in kernels.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/kernels.h"
#include "kernels_impl.h"

struct x16_kind {
	enum ggml_type plain, packed;
	size_t block_elems, group_bytes;
};

static const struct x16_kind kinds[] = {
	{ GGML_TYPE_Q4_0, AS_TYPE_Q4_0_X16, QK4_0, sizeof(struct block_q4_0x16) },
	{ GGML_TYPE_Q4_K, AS_TYPE_Q4_K_X16, QK_K, sizeof(struct block_q4_Kx16) },
	{ GGML_TYPE_Q5_K, AS_TYPE_Q5_K_X16, QK_K, sizeof(struct block_q5_Kx16) },
	{ GGML_TYPE_Q8_0, AS_TYPE_Q8_0_X16, QK8_0, sizeof(struct block_q8_0x16) },
};

#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static const struct x16_kind *kind_of(enum ggml_type t)
{
	for (size_t i = 0; i < N_KINDS; i++)
		if (kinds[i].plain == t)
			return &kinds[i];
	return NULL;
}

int as_repacked_type(enum ggml_type t)
{
	const struct x16_kind *k = kind_of(t);

	return k ? (int)k->packed : -EINVAL;
}

enum ggml_type as_x16_plain_type(enum ggml_type t)
{
	for (size_t i = 0; i < N_KINDS; i++)
		if (kinds[i].packed == t)
			return kinds[i].plain;
	return t;
}

int as_repack_size(enum ggml_type t, size_t rows, size_t cols, uint64_t *bytes)
{
	const struct x16_kind *k = kind_of(t);
	uint64_t groups, per;

	if (!k || !rows || !cols || cols % k->block_elems || !bytes)
		return -EINVAL;
	groups = ((uint64_t)rows + AS_X16_ROWS - 1) / AS_X16_ROWS;
	if (__builtin_mul_overflow((uint64_t)(cols / k->block_elems), (uint64_t)k->group_bytes,
				   &per) ||
	    __builtin_mul_overflow(groups, per, bytes))
		return -EOVERFLOW;
	return 0;
}

/*
 * Measured on x86-64 (Documentation/kernels.md): Q4_0_X16 beats plain Q4_0 at AVX2 and
 * AVX-512; the K-quant and Q8_0 layouts have SIMD kernels at AVX-512 only. On aarch64 the
 * NEON Q4_0_X16 kernels exist and are tested, but their speed on a real core is
 * unmeasured: no repacking there yet.
 */
bool as_repack_useful(enum ggml_type t)
{
#if defined(__x86_64__)
	if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q8_0)
		return as_simd_active() >= AS_SIMD_AVX512;
	return t == GGML_TYPE_Q4_0 && as_simd_active() >= AS_SIMD_AVX2;
#else
	(void)t;
	return false;
#endif
}

/* 4-byte words c of 16 rows side by side: dst[c * 64 + ri * 4 + k] = src[c * 4 + k] */
static void put_words(uint8_t *dst, size_t ri, const uint8_t *src, int words, uint8_t flip)
{
	for (int c = 0; c < words; c++)
		for (int k = 0; k < 4; k++)
			dst[c * 64 + ri * 4 + k] = src[c * 4 + k] ^ flip;
}

static void get_words(uint8_t *dst, const uint8_t *src, size_t ri, int words, uint8_t flip)
{
	for (int c = 0; c < words; c++)
		for (int k = 0; k < 4; k++)
			dst[c * 4 + k] = src[c * 64 + ri * 4 + k] ^ flip;
}

/* The fields Q4_K and Q5_K share: d, dmin, the 12 scale bytes as three words, qs. */
static void pack_k45(as_fp16_t d, as_fp16_t dmin, const uint8_t *scales, const uint8_t *qs,
		     as_fp16_t *od, as_fp16_t *odmin, uint32_t (*osc)[AS_X16_ROWS], uint8_t *oqs,
		     size_t ri)
{
	od[ri] = d;
	odmin[ri] = dmin;
	for (int w = 0; w < 3; w++)
		memcpy(&osc[w][ri], scales + 4 * w, 4);
	for (int q = 0; q < 4; q++)
		put_words(oqs + q * 512, ri, qs + q * 32, 8, 0);
}

static void unpack_k45(const as_fp16_t *d, const as_fp16_t *dmin,
		       const uint32_t (*sc)[AS_X16_ROWS], const uint8_t *qs, as_fp16_t *od,
		       as_fp16_t *odmin, uint8_t *oscales, uint8_t *oqs, size_t ri)
{
	*od = d[ri];
	*odmin = dmin[ri];
	for (int w = 0; w < 3; w++)
		memcpy(oscales + 4 * w, &sc[w][ri], 4);
	for (int q = 0; q < 4; q++)
		get_words(oqs + q * 32, qs + q * 512, ri, 8, 0);
}

/* Block b of plain row `in` into row ri of the group block `out` (zeroed before). */
static void pack_block(enum ggml_type t, const void *in, void *out, size_t ri)
{
	switch ((int)t) {
	case GGML_TYPE_Q4_0: {
		const struct block_q4_0 *i = in;
		struct block_q4_0x16 *o = out;

		o->d[ri] = i->d;
		put_words(o->qs, ri, i->qs, 4, 0);
		break;
	}
	case GGML_TYPE_Q4_K: {
		const struct block_q4_K *i = in;
		struct block_q4_Kx16 *o = out;

		pack_k45(i->d, i->dmin, i->scales, i->qs, o->d, o->dmin, o->sc, o->qs, ri);
		break;
	}
	case GGML_TYPE_Q5_K: {
		const struct block_q5_K *i = in;
		struct block_q5_Kx16 *o = out;

		pack_k45(i->d, i->dmin, i->scales, i->qs, o->d, o->dmin, o->sc, o->qs, ri);
		put_words(o->qh, ri, i->qh, 8, 0);
		break;
	}
	case GGML_TYPE_Q8_0: {
		const struct block_q8_0 *i = in;
		struct block_q8_0x16 *o = out;

		o->d[ri] = i->d;
		put_words(o->qs, ri, (const uint8_t *)i->qs, 8, 0x80);
		break;
	}
	default: /* kind_of() admits only the types above */
		abort();
	}
}

/* Row ri of the group block `in` back to its plain block `out`. */
static void unpack_block(enum ggml_type t, const void *in, void *out, size_t ri)
{
	switch ((int)t) {
	case GGML_TYPE_Q4_0: {
		const struct block_q4_0x16 *i = in;
		struct block_q4_0 *o = out;

		o->d = i->d[ri];
		get_words(o->qs, i->qs, ri, 4, 0);
		break;
	}
	case GGML_TYPE_Q4_K: {
		const struct block_q4_Kx16 *i = in;
		struct block_q4_K *o = out;

		unpack_k45(i->d, i->dmin, i->sc, i->qs, &o->d, &o->dmin, o->scales, o->qs, ri);
		break;
	}
	case GGML_TYPE_Q5_K: {
		const struct block_q5_Kx16 *i = in;
		struct block_q5_K *o = out;

		unpack_k45(i->d, i->dmin, i->sc, i->qs, &o->d, &o->dmin, o->scales, o->qs, ri);
		get_words(o->qh, i->qh, ri, 8, 0);
		break;
	}
	case GGML_TYPE_Q8_0: {
		const struct block_q8_0x16 *i = in;
		struct block_q8_0 *o = out;

		o->d = i->d[ri];
		get_words((uint8_t *)o->qs, i->qs, ri, 8, 0x80);
		break;
	}
	default: /* kind_of() admits only the types above */
		abort();
	}
}

int as_repack(enum ggml_type t, const void *src, size_t rows, size_t cols, void *dst)
{
	const struct x16_kind *k = kind_of(t);
	uint64_t bytes, rb;
	size_t nb, pb;
	int rc = as_repack_size(t, rows, cols, &bytes);

	if (rc)
		return rc;
	if (!src || !dst || as_row_bytes(t, cols, &rb))
		return -EINVAL;
	nb = cols / k->block_elems;
	pb = (size_t)rb / nb;
	for (size_t g = 0; g * AS_X16_ROWS < rows; g++) {
		for (size_t b = 0; b < nb; b++) {
			uint8_t *o = (uint8_t *)dst + (g * nb + b) * k->group_bytes;

			memset(o, 0, k->group_bytes); /* padding rows: all zero */
			for (size_t ri = 0; ri < AS_X16_ROWS && g * AS_X16_ROWS + ri < rows; ri++)
				pack_block(t, (const uint8_t *)src +
					   (g * AS_X16_ROWS + ri) * (size_t)rb + b * pb, o, ri);
		}
	}
	return (int)k->packed;
}

/* ---- scalar references --------------------------------------------------------------- */

static as_rows_fn plain_fn[AS_K_COUNT];

static void rows_x16_ref(enum ggml_type t, as_rows_fn plain, const void *W, size_t r0,
			 size_t r1, size_t cols, const struct as_xin *x, float *y)
{
	const struct x16_kind *k = kind_of(t);
	size_t nb = cols / k->block_elems, pb = k->group_bytes / AS_X16_ROWS;
	uint8_t *row = malloc(nb * pb);

	if (!row) { /* the visible result of a call that cannot be done */
		for (size_t r = r0; r < r1; r++)
			y[r] = __builtin_nanf("");
		return;
	}
	for (size_t r = r0; r < r1; r++) {
		const uint8_t *g = (const uint8_t *)W + (r / AS_X16_ROWS) * nb * k->group_bytes;

		for (size_t b = 0; b < nb; b++)
			unpack_block(t, g + b * k->group_bytes, row + b * pb, r % AS_X16_ROWS);
		plain(row, nb * pb, 0, 1, cols, x, y + r);
	}
	free(row);
}

#define X16_REF(name, type, kt)                                                            \
	static void name(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,     \
			 const struct as_xin *x, float *y)                                  \
	{                                                                                   \
		(void)rb;                                                                   \
		rows_x16_ref(type, plain_fn[kt], W, r0, r1, cols, x, y);                    \
	}

X16_REF(rows_q4_K_x16, GGML_TYPE_Q4_K, AS_K_Q4_K)
X16_REF(rows_q5_K_x16, GGML_TYPE_Q5_K, AS_K_Q5_K)
X16_REF(rows_q8_0_x16, GGML_TYPE_Q8_0, AS_K_Q8_0)

void as_kernels_x16_scalar_init(struct as_kernel_table *t)
{
	plain_fn[AS_K_Q4_K] = t->rows[AS_K_Q4_K];
	plain_fn[AS_K_Q5_K] = t->rows[AS_K_Q5_K];
	plain_fn[AS_K_Q8_0] = t->rows[AS_K_Q8_0];
	t->rows[AS_K_Q4_K_X16] = rows_q4_K_x16;
	t->rows[AS_K_Q5_K_X16] = rows_q5_K_x16;
	t->rows[AS_K_Q8_0_X16] = rows_q8_0_x16;
}

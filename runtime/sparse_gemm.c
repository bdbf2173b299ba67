// SPDX-License-Identifier: MIT
/*
 * The union product of a batch (sparse_gemm.h) in integers: for every tile of 512 rows
 * and panel of up to AS_SG_PGROUPS groups, the union's Q4_0 codes are laid out once as a
 * row-major panel (one byte per code, four slots per dword), then for every AS_SG_MR
 * positions their activations are prepared per group and block as the single-token
 * kernel prepares them (as_q4_prep_scalar) and a register-blocked micro-kernel
 * (AS_SG_MR positions by AS_SG_STRIP rows) sums the integer products. The scalar code
 * here is the reference; sparse_gemm_avx2.c and sparse_gemm_avx512.c compute the same
 * integers and roundings.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "activeswap/sparse.h"
#include "sparse_gemm.h"
#include "sparse_impl.h"

bool as_sg_type_ok(enum ggml_type t)
{
	return t == GGML_TYPE_Q4_0;
}

size_t as_sg_layout(const uint32_t *ch, size_t k, uint32_t *gs, uint32_t *gm)
{
	size_t ng = 0;
	uint32_t s = 0;

	for (size_t i = 0; i < k;) {
		uint32_t g = ch[i] / AS_SG_GROUP, m = 0;

		while (i < k && ch[i] / AS_SG_GROUP == g) {
			i++;
			m++;
		}
		gs[ng] = s;
		gm[ng++] = m;
		s += (m + 3) / 4 * 4;
	}
	gs[ng] = s;
	return ng;
}

/* Byte p = 16 L + 4 j + t of a chunk holds rows 16 j + 4 L + t (low nibble) and 64 + the
 * same (high) of it (sparse.h). */
void as_sg_pack_scalar(const void *const *cols, size_t ns4, size_t qoff, size_t c0,
		       size_t nch, uint8_t *w)
{
	for (size_t s = 0; s < 4 * ns4; s++) {
		uint8_t *ws = w + s / 4 * AS_SG_WST + s % 4;

		for (size_t c = 0; c < nch; c++)
			for (size_t p = 0; p < 64; p++) {
				size_t row = 128 * c + 16 * ((p >> 2) & 3) + 4 * (p >> 4) + (p & 3);
				uint8_t b = cols[s] ? ((const uint8_t *)cols[s])[qoff + 64 * (c0 + c) + p]
						    : 0;

				ws[4 * row] = b & 15;
				ws[4 * (row + 64)] = b >> 4;
			}
	}
}

void as_sg_kern_scalar(float *Y, size_t ldy, const uint8_t *w, const uint32_t *qa,
		       size_t qst, const float *sa, const int32_t *corr, size_t pst,
		       const uint32_t *gs, size_t ng, size_t m)
{
	for (size_t p = 0; p < m; p++)
		for (size_t g = 0; g < ng; g++)
			for (size_t e = 0; e < AS_SG_STRIP; e++) {
				/* wraps as vpaddd (hostile scales: sparse.c) */
				uint32_t acc = (uint32_t)corr[p * pst + g * AS_SG_TILE];

				for (size_t s = gs[g]; s < gs[g + 1]; s++) {
					uint32_t d = qa[p * qst + g * AS_SG_QG +
							(s - gs[g]) / 4 * AS_SG_TILE];
					int8_t q = (int8_t)(d >> (8 * (s % 4)));

					acc += (uint32_t)(q * w[s / 4 * AS_SG_WST + 4 * e + s % 4]);
				}
				Y[p * ldy + e] = fmaf(sa[p * pst + g * AS_SG_TILE], (float)(int32_t)acc,
						      Y[p * ldy + e]);
			}
}

/* A share's call: the level's functions and the product's operands. */
struct sg_job {
	as_sg_kern_fn kern;
	as_sg_prep_fn prep;
	as_sg_pack_fn pack;
	float *Y;
	size_t ldy, qoff, n, slots;
	const void *const *cols;
	const float *xm;
	const uint32_t *gs, *gm;
};

/* Strip rows [r, r + 16) of positions t0 .. t0 + m - 1 over one panel; the rows past r1
 * (the share's end) go through a local copy. */
static void strip(const struct sg_job *j, size_t t0, size_t m, size_t r, size_t r1,
		  const uint8_t *w, const uint32_t *qa, const float *sa, const int32_t *corr,
		  const uint32_t *rg, size_t ng)
{
	const size_t qst = AS_SG_PGROUPS * AS_SG_QG, pst = AS_SG_PGROUPS * AS_SG_TILE;
	float tmp[AS_SG_MR * AS_SG_STRIP], *Y = j->Y + t0 * j->ldy;
	size_t wd = r1 - r;

	if (wd >= AS_SG_STRIP) {
		j->kern(Y + r, j->ldy, w, qa, qst, sa, corr, pst, rg, ng, m);
		return;
	}
	for (size_t t = 0; t < m; t++)
		for (size_t e = 0; e < AS_SG_STRIP; e++)
			tmp[t * AS_SG_STRIP + e] = e < wd ? Y[t * j->ldy + r + e] : 0.0f;
	j->kern(tmp, AS_SG_STRIP, w, qa, qst, sa, corr, pst, rg, ng, m);
	for (size_t t = 0; t < m; t++)
		memcpy(Y + t * j->ldy + r, tmp + t * AS_SG_STRIP, wd * sizeof(float));
}

/* The rows [rt, re) of a tile (512 rows, or a multiple of 128 at the share's end) over
 * the groups [g0, g1): the panel laid out, then every AS_SG_MR positions prepared and
 * multiplied. */
static void tile_panel(const struct sg_job *j, size_t rt, size_t re, size_t g0, size_t g1,
		       uint8_t *scratch)
{
	uint8_t *w = scratch;
	uint32_t *qa = (uint32_t *)(w + AS_SG_PGROUPS * AS_SG_GROUP / 4 * AS_SG_WST);
	float *sa = (float *)(qa + AS_SG_MR * AS_SG_PGROUPS * AS_SG_QG);
	int32_t *corr = (int32_t *)(sa + AS_SG_MR * AS_SG_PGROUPS * AS_SG_TILE);
	size_t nch = (re - rt + 127) / 128;
	uint32_t rg[AS_SG_PGROUPS + 1];

	for (size_t g = g0; g <= g1; g++)
		rg[g - g0] = j->gs[g] - j->gs[g0];
	j->pack(j->cols + j->gs[g0], (j->gs[g1] - j->gs[g0]) / 4, j->qoff, rt / 128, nch, w);
	for (size_t t0 = 0; t0 < j->n; t0 += AS_SG_MR) {
		size_t m = j->n - t0 < AS_SG_MR ? j->n - t0 : AS_SG_MR;

		for (size_t p = 0; p < m; p++)
			for (size_t g = g0; g < g1; g++) {
				size_t i = p * AS_SG_PGROUPS + (g - g0);

				j->prep(j->cols + j->gs[g], j->xm + (t0 + p) * j->slots + j->gs[g],
					j->gm[g], rt / 32, 4 * nch, qa + i * AS_SG_QG, AS_SG_TILE,
					sa + i * AS_SG_TILE, corr + i * AS_SG_TILE);
			}
		for (size_t r = rt; r < re; r += AS_SG_STRIP) {
			size_t b = (r - rt) / 32;

			strip(j, t0, m, r, re, w + 4 * (r - rt), qa + b, sa + b, corr + b, rg,
			      g1 - g0);
		}
	}
}

void as_sg_share(enum as_simd level, enum ggml_type t, float *Y, size_t ldy, size_t out,
		 const void *const *cols, const float *xm, const uint32_t *gs,
		 const uint32_t *gm, size_t ng, size_t n, void *scratch, int ith, int nth)
{
	struct sg_job j = { as_sg_kern_scalar, as_q4_prep_scalar, as_sg_pack_scalar, Y, ldy,
			    (out + 127) / 128 * 128 / 16, /* the P/32 fp16 scales */
			    n, gs[ng], cols, xm, gs, gm };
	size_t r0, r1;

	if (!as_sg_type_ok(t))
		return;
#if defined(__x86_64__)
	if (level >= AS_SIMD_AVX2 && as_simd_detect() >= AS_SIMD_AVX2) {
		j.kern = as_sg_kern_avx2;
		j.prep = as_sg_prep_avx2;
		j.pack = as_sg_pack_avx2;
	}
	if (level >= AS_SIMD_AVX512 && as_simd_detect() >= AS_SIMD_AVX512) {
		j.kern = as_sg_kern_avx512;
		j.prep = as_sg_prep_avx512;
	}
#endif
	(void)level;
	as_sparse_rows(out, ith, nth, &r0, &r1);
	if (r0 >= r1)
		return;
	for (size_t p = 0; p < n; p++)
		memset(Y + p * ldy + r0, 0, (r1 - r0) * sizeof(float));
	for (size_t rt = r0; rt < r1; rt += AS_SG_TILE * 32) {
		size_t re = r1 - rt < AS_SG_TILE * 32 ? r1 : rt + AS_SG_TILE * 32;

		for (size_t g0 = 0; g0 < ng; g0 += AS_SG_PGROUPS)
			tile_panel(&j, rt, re, g0, ng - g0 < AS_SG_PGROUPS ? ng : g0 + AS_SG_PGROUPS,
				   scratch);
	}
}

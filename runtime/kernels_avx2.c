// SPDX-License-Identifier: MIT
/*
 * AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; only called after the
 * cpuid check in kernels.c). Quantized dot products use vpmaddubsw (unsigned x signed
 * bytes to 16-bit pairs) and vpmaddwd against ones; the block integer sums are exact,
 * the float accumulation order differs from the scalar reference (see
 * Documentation/kernels.md for the tolerance). The AVX-512 level reuses the K-quant
 * kernels from this file.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels_impl.h"
#include "kquant_avx2.h"

static inline float fp16_1(as_fp16_t h)
{
	return _cvtsh_ss(h);
}

static inline float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* sum of u8 a[i] * s8 b[i] in 8 int32 lanes (|a*b| pairs fit int16: a <= 127 here) */
static inline __m256i dot_u8s8(__m256i a, __m256i b)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

static void rows_q4_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_0;
	const __m256i m4 = _mm256_set1_epi8(0x0f);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_0 *w = (const void *)((const uint8_t *)W + r * rb);
		__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			__m128i q = _mm_loadu_si128((const __m128i *)w[b].qs);
			__m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
			__m256i s = dot_u8s8(v, _mm256_loadu_si256((const __m256i *)x->q8[b].qs));

			/* subtract 8 * sum(x) (q8sum) in lane 0: sum (q - 8) * x */
			s = _mm256_sub_epi32(s, _mm256_setr_epi32(x->q8sum[b], 0, 0, 0, 0, 0, 0, 0));
			__m256 p = _mm256_cvtepi32_ps(s);
			__m256 d = _mm256_set1_ps(fp16_1(w[b].d) * fp16_1(x->q8[b].d));

			if (b & 1)
				acc1 = _mm256_fmadd_ps(p, d, acc1);
			else
				acc0 = _mm256_fmadd_ps(p, d, acc0);
		}
		y[r] = hsum256(_mm256_add_ps(acc0, acc1));
	}
}

static void rows_q8_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK8_0;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q8_0 *w = (const void *)((const uint8_t *)W + r * rb);
		__m256 acc = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			__m256i wq = _mm256_loadu_si256((const __m256i *)w[b].qs);
			__m256i xq = _mm256_loadu_si256((const __m256i *)x->q8[b].qs);
			/* |w| * (x with w's sign); |w| <= 128 and |x| <= 127: pairs fit int16
			 * except 2 * 128 * 127 = 32512 < 32767 */
			__m256i s = dot_u8s8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));

			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
					      _mm256_set1_ps(fp16_1(w[b].d) * fp16_1(x->q8[b].d)),
					      acc);
		}
		y[r] = hsum256(acc);
	}
}

/* Repacked Q4_0: 16 rows per group, two groups of 8 int32 lanes (rows 0-7, 8-15). */
static void group_q4_0_x16(const void *gv, size_t nb, const struct as_xin *x, float *out16)
{
	const struct block_q4_0x16 *g = gv;
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const __m256i ones = _mm256_set1_epi16(1);
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();

	for (size_t b = 0; b < nb; b++) {
		const struct block_q4_0x16 *blk = &g[b];
		const int8_t *xq = x->q8[b].qs;
		__m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();

		_mm_prefetch((const char *)(blk + 16), _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + 16) + 64, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + 16) + 128, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + 16) + 192, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + 16) + 256, _MM_HINT_T0);
		for (int c = 0; c < 4; c++) {
			int32_t lo, hi;

			memcpy(&lo, xq + 4 * c, 4);
			memcpy(&hi, xq + 16 + 4 * c, 4);
			__m256i xl = _mm256_set1_epi32(lo), xh = _mm256_set1_epi32(hi);
			__m256i v0 = _mm256_loadu_si256((const __m256i *)(blk->qs + c * 64));
			__m256i v1 = _mm256_loadu_si256((const __m256i *)(blk->qs + c * 64 + 32));

			/* each int32 lane: 4 nibbles of one row times 4 x bytes */
			s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(
				_mm256_maddubs_epi16(_mm256_and_si256(v0, m4), xl), ones));
			s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(
				_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m4), xh),
				ones));
			s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(
				_mm256_maddubs_epi16(_mm256_and_si256(v1, m4), xl), ones));
			s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(
				_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m4), xh),
				ones));
		}
		__m256i corr = _mm256_set1_epi32(x->q8sum[b]);
		__m256 dx = _mm256_set1_ps(fp16_1(x->q8[b].d));
		__m256 dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)&blk->d[0]));
		__m256 dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)&blk->d[8]));
		/* same float steps and order as the scalar reference: bit-identical */
		__m256 p0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s0, corr)),
					  _mm256_mul_ps(dw0, dx));
		__m256 p1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s1, corr)),
					  _mm256_mul_ps(dw1, dx));

		/* keep the product rounded before the add (no FMA contraction) */
		__asm__("" : "+x"(p0), "+x"(p1));
		acc0 = _mm256_add_ps(acc0, p0);
		acc1 = _mm256_add_ps(acc1, p1);
	}
	_mm256_storeu_ps(out16, acc0);
	_mm256_storeu_ps(out16 + 8, acc1);
}

static void rows_q4_0_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			  const struct as_xin *x, float *y)
{
	(void)rb;
	x16_rows(group_q4_0_x16, sizeof(struct block_q4_0x16), W, r0, r1, cols / QK4_0, x, y);
}

static void rows_f32(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		     const struct as_xin *x, float *y)
{
	for (size_t r = r0; r < r1; r++) {
		const float *w = (const void *)((const uint8_t *)W + r * rb);
		__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
		size_t i = 0;
		float t = 0.0f;

		for (; i + 16 <= cols; i += 16) {
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x->f32 + i), a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8),
					     _mm256_loadu_ps(x->f32 + i + 8), a1);
		}
		for (; i < cols; i++)
			t += w[i] * x->f32[i];
		y[r] = hsum256(_mm256_add_ps(a0, a1)) + t;
	}
}

static inline __m256 load8_f16(const as_fp16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static inline __m256 load8_bf16(const as_bf16_t *p)
{
	__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

#define ROWS_HALF(name, T, LOAD, CVT1)                                                      \
	static void name(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,      \
			 const struct as_xin *x, float *y)                                  \
	{                                                                                   \
		for (size_t r = r0; r < r1; r++) {                                          \
			const T *w = (const void *)((const uint8_t *)W + r * rb);           \
			__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();          \
			size_t i = 0;                                                       \
			float t = 0.0f;                                                     \
			for (; i + 16 <= cols; i += 16) {                                   \
				a0 = _mm256_fmadd_ps(LOAD(w + i), _mm256_loadu_ps(x->f32 + i), \
						     a0);                                   \
				a1 = _mm256_fmadd_ps(LOAD(w + i + 8),                       \
						     _mm256_loadu_ps(x->f32 + i + 8), a1);   \
			}                                                                   \
			for (; i < cols; i++)                                               \
				t += CVT1(w[i]) * x->f32[i];                                \
			y[r] = hsum256(_mm256_add_ps(a0, a1)) + t;                          \
		}                                                                           \
	}

static inline float bf16_1(as_bf16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

ROWS_HALF(rows_f16, as_fp16_t, load8_f16, fp16_1)
ROWS_HALF(rows_bf16, as_bf16_t, load8_bf16, bf16_1)

/* ---- K-quants against Q8_K ---------------------------------------------------------- */

static void rows_q4_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const __m256i m4 = _mm256_set1_epi8(0x0f);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_K *w = (const void *)((const uint8_t *)W + r * rb);
		__m256 acc = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			__m256i sc16, msum = kq45_prep(w[b].scales, xb->bsums, &sc16);
			__m256i il = _mm256_setzero_si256(), ih = _mm256_setzero_si256();

			_Pragma("GCC unroll 4")
			for (int j = 0; j < 4; j++) {
				__m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * j));
				__m256i lo = _mm256_and_si256(q, m4);
				__m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
				__m256i xl = _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * j));
				__m256i xh = _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * j + 32));

				/* nibbles <= 15, so byte pairs fit int16; the scale multiplies in
				 * vpmaddwd */
				il = _mm256_add_epi32(il, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl),
									    kq_bcast16(sc16, 2 * j)));
				ih = _mm256_add_epi32(ih, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh),
									    kq_bcast16(sc16, 2 * j + 1)));
			}
			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(il, ih)),
					      _mm256_set1_ps(fp16_1(w[b].d) * xb->d), acc);
			acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum),
					       _mm256_set1_ps(fp16_1(w[b].dmin) * xb->d), acc);
		}
		y[r] = hsum256(acc);
	}
}

static void rows_q6_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q6_K *w = (const void *)((const uint8_t *)W + r * rb);
		__m256 acc = _mm256_setzero_ps();

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			const int8_t *sc = w[b].scales;
			__m256i isum = _mm256_setzero_si256();
			/* sum (q - 32) * x = sum q * x - 32 * sum_c sc[c] * bsums[c] */
			__m128i sc8 = _mm_loadu_si128((const __m128i *)sc);
			__m256i corr = _mm256_madd_epi16(
				_mm256_loadu_si256((const __m256i *)xb->bsums),
				_mm256_cvtepi8_epi16(sc8));
			/* scales 8n .. 8n+7 as int16 in both lanes, for vpshufb */
			__m256i sch[2] = {
				_mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8)),
				_mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(sc8, 8)))
			};

			for (int n = 0; n < 2; n++) {
				const uint8_t *ql = w[b].ql + 64 * n, *qh = w[b].qh + 32 * n;
				__m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
				__m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
				__m256i h = _mm256_loadu_si256((const __m256i *)qh);
				__m256i q[4];

				q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
						       _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
				q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
						       _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
				q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
						       _mm256_and_si256(h, m30));
				q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
						       _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
				_Pragma("GCC unroll 4")
				for (int k = 0; k < 4; k++) {
					__m256i xv = _mm256_loadu_si256(
						(const __m256i *)(xb->qs + 128 * n + 32 * k));
					/* scale 8n + 2k in the low lane, 8n + 2k + 1 in the high */
					__m256i scv = _mm256_shuffle_epi8(sch[n], _mm256_set_m128i(
						_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * k + 1))),
						_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * k)))));

					/* q <= 63: byte pairs fit int16 */
					isum = _mm256_add_epi32(isum, _mm256_madd_epi16(
						_mm256_maddubs_epi16(q[k], xv), scv));
				}
			}
			isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(corr, 5));
			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
					      _mm256_set1_ps(fp16_1(w[b].d) * xb->d), acc);
		}
		y[r] = hsum256(acc);
	}
}

/* ---- float vector helpers ------------------------------------------------------------ */

/* dot_SFX(a, b) and axpy_SFX(y += a * x) with the second operand of T elements: LD8 loads
 * 8 of them as floats, ONE converts one (exactly). */
#define FLOAT_HELPERS(SFX, T, LD8, ONE)                                                 \
	static float dot_##SFX(const float *a, const T *b, size_t n)                    \
	{                                                                               \
		__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();             \
		size_t i = 0;                                                           \
		float t = 0.0f;                                                         \
                                                                                        \
		for (; i + 16 <= n; i += 16) {                                          \
			s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), LD8(b + i), s0);   \
			s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), LD8(b + i + 8), \
					     s1);                                       \
		}                                                                       \
		for (; i < n; i++)                                                      \
			t += a[i] * ONE(b[i]);                                          \
		return hsum256(_mm256_add_ps(s0, s1)) + t;                              \
	}                                                                               \
                                                                                        \
	static void axpy_##SFX(float *y, float a, const T *x, size_t n)                 \
	{                                                                               \
		__m256 av = _mm256_set1_ps(a);                                          \
		size_t i = 0;                                                           \
                                                                                        \
		for (; i + 8 <= n; i += 8)                                              \
			_mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, LD8(x + i),         \
								_mm256_loadu_ps(y + i))); \
		for (; i < n; i++) /* fmaf: the same rounding as the vector lanes */    \
			y[i] = fmaf(a, ONE(x[i]), y[i]);                                \
	}

static inline __m256 ld8_f32(const float *p)
{
	return _mm256_loadu_ps(p);
}

static inline float one_f32(float v)
{
	return v;
}

static inline __m256 ld8_f16(const as_fp16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

FLOAT_HELPERS(f32, float, ld8_f32, one_f32)
FLOAT_HELPERS(f16, as_fp16_t, ld8_f16, fp16_1)

void as_kernels_avx2_init(struct as_kernel_table *t)
{
	t->dot_f16 = dot_f16;
	t->axpy_f16 = axpy_f16;
	t->dot_f32 = dot_f32;
	t->axpy_f32 = axpy_f32;
	t->rows[AS_K_Q4_K] = rows_q4_K;
	t->rows[AS_K_Q6_K] = rows_q6_K;
	t->rows[AS_K_F32] = rows_f32;
	t->rows[AS_K_F16] = rows_f16;
	t->rows[AS_K_BF16] = rows_bf16;
	t->rows[AS_K_Q8_0] = rows_q8_0;
	t->rows[AS_K_Q4_0] = rows_q4_0;
	t->rows[AS_K_Q4_0_X16] = rows_q4_0_x16;
}

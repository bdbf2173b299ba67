// SPDX-License-Identifier: MIT
/*
 * AVX-512 (F BW VL DQ VNNI) kernels, compiled with the AVX-512 flags and only called
 * after the cpuid check in kernels.c.
 *
 * The repacked Q4_0_X16 kernel computes 16 rows at once: one int32 lane per row, fed by
 * vpdpbusd of 4 unsigned nibbles of each row against 4 broadcast Q8_0 bytes of x. Its
 * float steps are done with the *_round_ps intrinsics (which the compiler cannot fuse
 * into FMAs) in the scalar reference's order, so it is bit-identical to the scalar
 * kernel. The plain-layout kernels accumulate in a different order than the scalar
 * reference and match it within the tolerance documented in Documentation/kernels.md.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels_impl.h"

#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static inline float fp16_1(as_fp16_t h)
{
	return _cvtsh_ss(h);
}

static inline int32_t load_i32(const void *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* ---- Q4_0_X16: 16 rows per group ---------------------------------------------------- */

#ifndef X16_PREFETCH
#define X16_PREFETCH 16 /* blocks ahead (16 * 288 bytes); 0..32 all within noise here */
#endif

static void group_q4_0_x16(const void *gv, size_t nb, const struct as_xin *x, float *out16)
{
	const struct block_q4_0x16 *g = gv;
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	__m512 acc = _mm512_setzero_ps();

	for (size_t b = 0; b < nb; b++) {
		const struct block_q4_0x16 *blk = &g[b];
		const int8_t *xq = x->q8[b].qs;

		_mm_prefetch((const char *)(blk + X16_PREFETCH), _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + X16_PREFETCH) + 64, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + X16_PREFETCH) + 128, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + X16_PREFETCH) + 192, _MM_HINT_T0);
		_mm_prefetch((const char *)(blk + X16_PREFETCH) + 256, _MM_HINT_T0);

		__m512i v0 = _mm512_loadu_si512(blk->qs + 0);
		__m512i v1 = _mm512_loadu_si512(blk->qs + 64);
		__m512i v2 = _mm512_loadu_si512(blk->qs + 128);
		__m512i v3 = _mm512_loadu_si512(blk->qs + 192);
		__m512i sl = _mm512_setzero_si512();
		__m512i sh = _mm512_setzero_si512();

		sl = _mm512_dpbusd_epi32(sl, _mm512_and_si512(v0, m4),
					 _mm512_set1_epi32(load_i32(xq + 0)));
		sh = _mm512_dpbusd_epi32(sh, _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4),
					 _mm512_set1_epi32(load_i32(xq + 16)));
		sl = _mm512_dpbusd_epi32(sl, _mm512_and_si512(v1, m4),
					 _mm512_set1_epi32(load_i32(xq + 4)));
		sh = _mm512_dpbusd_epi32(sh, _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4),
					 _mm512_set1_epi32(load_i32(xq + 20)));
		sl = _mm512_dpbusd_epi32(sl, _mm512_and_si512(v2, m4),
					 _mm512_set1_epi32(load_i32(xq + 8)));
		sh = _mm512_dpbusd_epi32(sh, _mm512_and_si512(_mm512_srli_epi16(v2, 4), m4),
					 _mm512_set1_epi32(load_i32(xq + 24)));
		sl = _mm512_dpbusd_epi32(sl, _mm512_and_si512(v3, m4),
					 _mm512_set1_epi32(load_i32(xq + 12)));
		sh = _mm512_dpbusd_epi32(sh, _mm512_and_si512(_mm512_srli_epi16(v3, 4), m4),
					 _mm512_set1_epi32(load_i32(xq + 28)));
		/* sum (q - 8) * x = sum q * x - 8 * sum x */
		__m512i si = _mm512_sub_epi32(_mm512_add_epi32(sl, sh),
					      _mm512_set1_epi32(x->q8sum[b]));
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk->d));
		__m512 dd = _mm512_mul_round_ps(dw, _mm512_set1_ps(fp16_1(x->q8[b].d)), RN);
		__m512 p = _mm512_mul_round_ps(_mm512_cvtepi32_ps(si), dd, RN);

		acc = _mm512_add_round_ps(acc, p, RN);
	}
	_mm512_storeu_ps(out16, acc);
}

static void rows_q4_0_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			  const struct as_xin *x, float *y)
{
	(void)rb;
	x16_rows(group_q4_0_x16, sizeof(struct block_q4_0x16), W, r0, r1, cols / QK4_0, x, y);
}

/* ---- plain Q4_0 and Q8_0 (256-bit VNNI per block) --------------------------------- */

/* One weight block against x at 256 bits (the odd last block). */
static inline __m256 q4_0_block256(const struct block_q4_0 *w, const struct as_xin *x, size_t b,
				   __m256 acc)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m128i q = _mm_loadu_si128((const __m128i *)w->qs);
	__m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
	__m256i s = _mm256_dpbusd_epi32(_mm256_setr_epi32(-x->q8sum[b], 0, 0, 0, 0, 0, 0, 0), v,
					_mm256_loadu_si256((const __m256i *)x->q8[b].qs));

	return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
			       _mm256_set1_ps(fp16_1(w->d) * fp16_1(x->q8[b].d)), acc);
}

/*
 * Plain GGUF layout: two blocks per 512-bit vpdpbusd. The two blocks' 4-byte words are
 * interleaved (unpacklo/hi) so that every int32 lane belongs to one block, against x
 * prepared the same way (struct as_q8_pair), and the two fp16 scales become the
 * alternating lanes of one vcvtph2ps.
 */
static void rows_q4_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_0, np = nb / 2;
	const __m512i m4 = _mm512_set1_epi8(0x0f);

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_0 *w = (const void *)((const uint8_t *)W + r * rb);
		__m512 acc = _mm512_setzero_ps();
		__m256 acc256 = _mm256_setzero_ps();

		for (size_t p = 0; p < np; p++) {
			const struct block_q4_0 *b0 = &w[2 * p], *b1 = &w[2 * p + 1];
			const struct as_q8_pair *xp = &x->q8p[p];
			__m128i q0 = _mm_loadu_si128((const __m128i *)b0->qs);
			__m128i q1 = _mm_loadu_si128((const __m128i *)b1->qs);
			__m256i v = _mm256_set_m128i(_mm_unpackhi_epi32(q0, q1),
						     _mm_unpacklo_epi32(q0, q1));
			__m512i z = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(v),
									 _mm256_srli_epi16(v, 4), 1),
						     m4);
			/* corrections in lanes 0 and 1 only; scales alternate over all lanes */
			__m512i corr = _mm512_maskz_broadcast_i32x2(
				0x3, _mm_loadl_epi64((const __m128i *)xp->corr));
			__m512i s = _mm512_dpbusd_epi32(corr, z, _mm512_loadu_si512(xp->qs));
			__m512 dx = _mm512_broadcast_f32x2(_mm_castsi128_ps(
				_mm_loadl_epi64((const __m128i *)xp->d)));
			__m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(s), dx);
			uint32_t dd = (uint32_t)b0->d | ((uint32_t)b1->d << 16);
			__m512 dw = _mm512_cvtph_ps(_mm256_set1_epi32((int)dd));

			acc = _mm512_fmadd_ps(f, dw, acc);
		}
		if (nb & 1)
			acc256 = q4_0_block256(&w[nb - 1], x, nb - 1, acc256);
		y[r] = _mm512_reduce_add_ps(acc) + hsum256(acc256);
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
			/* |w| (unsigned) times x with w's sign moved onto it */
			__m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(),
							_mm256_abs_epi8(wq),
							_mm256_sign_epi8(xq, wq));

			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
					      _mm256_set1_ps(fp16_1(w[b].d) * fp16_1(x->q8[b].d)),
					      acc);
		}
		y[r] = hsum256(acc);
	}
}

/* ---- float rows ------------------------------------------------------------------- */

static void rows_f32(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		     const struct as_xin *x, float *y)
{
	for (size_t r = r0; r < r1; r++) {
		const float *w = (const void *)((const uint8_t *)W + r * rb);
		__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
		size_t i = 0;

		for (; i + 32 <= cols; i += 32) {
			a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x->f32 + i), a0);
			a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16),
					     _mm512_loadu_ps(x->f32 + i + 16), a1);
		}
		if (i < cols) {
			size_t n = cols - i;
			__mmask16 k0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
			__mmask16 k1 = (__mmask16)(n > 16 ? (1u << (n - 16)) - 1 : 0);

			a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k0, w + i),
					     _mm512_maskz_loadu_ps(k0, x->f32 + i), a0);
			a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k1, w + i + 16),
					     _mm512_maskz_loadu_ps(k1, x->f32 + i + 16), a1);
		}
		y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
	}
}

static inline __m512 load16_f16(const as_fp16_t *p, __mmask16 k)
{
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p));
}

static inline __m512 load16_bf16(const as_bf16_t *p, __mmask16 k)
{
	__m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p));

	return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

#define ROWS_HALF(name, T, LOAD)                                                            \
	static void name(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,      \
			 const struct as_xin *x, float *y)                                  \
	{                                                                                   \
		for (size_t r = r0; r < r1; r++) {                                          \
			const T *w = (const void *)((const uint8_t *)W + r * rb);           \
			__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();          \
			size_t i = 0;                                                       \
			for (; i + 32 <= cols; i += 32) {                                   \
				a0 = _mm512_fmadd_ps(LOAD(w + i, 0xffff),                   \
						     _mm512_loadu_ps(x->f32 + i), a0);       \
				a1 = _mm512_fmadd_ps(LOAD(w + i + 16, 0xffff),              \
						     _mm512_loadu_ps(x->f32 + i + 16), a1);  \
			}                                                                   \
			for (; i < cols; i += 16) {                                         \
				size_t n = cols - i;                                        \
				__mmask16 k = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1); \
				a0 = _mm512_fmadd_ps(LOAD(w + i, k),                        \
						     _mm512_maskz_loadu_ps(k, x->f32 + i), a0); \
			}                                                                   \
			y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));                 \
		}                                                                           \
	}

ROWS_HALF(rows_f16, as_fp16_t, load16_f16)
ROWS_HALF(rows_bf16, as_bf16_t, load16_bf16)

/* ---- x -> Q8_0, bit-identical to as_quant_q8_0_ref ---------------------------------- */

/* roundf(): half away from zero, exactly (|v| <= 127 here, so v - trunc(v) is exact) */
static inline __m512 round_away16(__m512 v)
{
	__m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m512 f = _mm512_abs_ps(_mm512_sub_ps(v, t));
	__mmask16 up = _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
	__m512 one = _mm512_or_ps(_mm512_and_ps(v, _mm512_set1_ps(-0.0f)), _mm512_set1_ps(1.0f));

	return _mm512_mask_add_ps(t, up, t, one);
}

static void quant_q8_0(const float *x, struct block_q8_0 *y, int32_t *sums, size_t nb)
{
	for (size_t b = 0; b < nb; b++, x += QK8_0) {
		__m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
		float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0),
								_mm512_abs_ps(v1)));
		float d = amax / 127.0f;
		float id = d ? 1.0f / d : 0.0f;
		__m512 idv = _mm512_set1_ps(id);
		__m512i q0 = _mm512_cvtps_epi32(round_away16(_mm512_mul_round_ps(v0, idv, RN)));
		__m512i q1 = _mm512_cvtps_epi32(round_away16(_mm512_mul_round_ps(v1, idv, RN)));

		y[b].d = (as_fp16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
		_mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtsepi32_epi8(q0));
		_mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtsepi32_epi8(q1));
		if (sums)
			sums[b] = 8 * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
	}
}

/* ---- float vector helpers ------------------------------------------------------------ */

/*
 * dot and axpy over F32 and over F16 (the KV cache's types), in one shape so that the F16
 * ones equal the F32 ones on the converted row bit for bit (attention.h); LD16(p, k)
 * loads the lanes of mask k as floats, zero elsewhere.
 */
#define FLOAT_HELPERS(SFX, T, LD16)                                                      \
	static float dot_##SFX(const float *a, const T *b, size_t n)                     \
	{                                                                                \
		__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();              \
		size_t i = 0;                                                            \
                                                                                         \
		for (; i + 32 <= n; i += 32) {                                           \
			s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), LD16(b + i, 0xffff), s0); \
			s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16),                \
					     LD16(b + i + 16, 0xffff), s1);              \
		}                                                                        \
		for (; i < n; i += 16) {                                                 \
			__mmask16 k = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1); \
                                                                                         \
			s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), LD16(b + i, k), \
					     s0);                                        \
		}                                                                        \
		return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));                      \
	}                                                                                \
                                                                                         \
	static void axpy_##SFX(float *y, float a, const T *x, size_t n)                  \
	{                                                                                \
		__m512 av = _mm512_set1_ps(a);                                           \
		size_t i = 0;                                                            \
                                                                                         \
		for (; i + 16 <= n; i += 16)                                             \
			_mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, LD16(x + i, 0xffff), \
								_mm512_loadu_ps(y + i))); \
		if (i < n) {                                                             \
			__mmask16 k = (__mmask16)((1u << (n - i)) - 1);                  \
                                                                                         \
			_mm512_mask_storeu_ps(y + i, k,                                  \
					      _mm512_fmadd_ps(av, LD16(x + i, k),        \
							      _mm512_maskz_loadu_ps(k, y + i))); \
		}                                                                        \
	}

static inline __m512 load16_f32(const float *p, __mmask16 k)
{
	return _mm512_maskz_loadu_ps(k, p);
}

FLOAT_HELPERS(f32, float, load16_f32)
FLOAT_HELPERS(f16, as_fp16_t, load16_f16)

void as_kernels_avx512_init(struct as_kernel_table *t)
{
	t->dot_f32 = dot_f32;
	t->axpy_f32 = axpy_f32;
	t->dot_f16 = dot_f16;
	t->axpy_f16 = axpy_f16;
	t->quant_q8_0 = quant_q8_0;
	t->rows[AS_K_F32] = rows_f32;
	t->rows[AS_K_F16] = rows_f16;
	t->rows[AS_K_BF16] = rows_bf16;
	t->rows[AS_K_Q8_0] = rows_q8_0;
	t->rows[AS_K_Q4_0] = rows_q4_0;
	t->q4_0_wants_pairs = true;
	t->rows[AS_K_Q4_0_X16] = rows_q4_0_x16;
}

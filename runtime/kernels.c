// SPDX-License-Identifier: MIT
/*
 * Kernel dispatcher and scalar reference kernels.
 *
 * as_matvec() prepares the input once (Q8_0 and/or Q8_K as the weight types need), then
 * cuts the rows of all jobs into contiguous pieces at 16-row boundaries, weighted by
 * bytes, that the threads claim from a shared counter. Every row is computed by the same
 * code whatever piece it lands in, so the result does not depend on the number of
 * threads.
 *
 * The scalar kernels below are the numerical reference that the SIMD kernels are tested
 * against. For the integer-quantized types every block's integer dot product is exact;
 * only the float accumulation order across blocks may differ between levels.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "activeswap/kernels.h"
#include "kernels_impl.h"

/* ---- scalar row kernels ---------------------------------------------------------- */

#define ROW(W, rb, r) ((const uint8_t *)(W) + (size_t)(r) * (rb))

static void rows_f32(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		     const struct as_xin *x, float *y)
{
	for (size_t r = r0; r < r1; r++) {
		const float *w = (const float *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t i = 0; i < cols; i++)
			s += w[i] * x->f32[i];
		y[r] = s;
	}
}

static void rows_f16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		     const struct as_xin *x, float *y)
{
	for (size_t r = r0; r < r1; r++) {
		const as_fp16_t *w = (const as_fp16_t *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t i = 0; i < cols; i++)
			s += as_fp16_to_fp32(w[i]) * x->f32[i];
		y[r] = s;
	}
}

static void rows_bf16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	for (size_t r = r0; r < r1; r++) {
		const as_bf16_t *w = (const as_bf16_t *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t i = 0; i < cols; i++)
			s += as_bf16_to_fp32(w[i]) * x->f32[i];
		y[r] = s;
	}
}

static void rows_q8_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK8_0;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q8_0 *w = (const struct block_q8_0 *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			int sumi = 0;

			for (int j = 0; j < QK8_0; j++)
				sumi += w[b].qs[j] * x->q8[b].qs[j];
			s += (float)sumi * (as_fp16_to_fp32(w[b].d) * as_fp16_to_fp32(x->q8[b].d));
		}
		y[r] = s;
	}
}

static inline float q4_0_block_dot(const struct block_q4_0 *w, const struct block_q8_0 *xb)
{
	int sumi = 0;

	for (int j = 0; j < QK4_0 / 2; j++) {
		sumi += ((w->qs[j] & 0x0f) - 8) * xb->qs[j];
		sumi += ((w->qs[j] >> 4) - 8) * xb->qs[j + QK4_0 / 2];
	}
	return (float)sumi * (as_fp16_to_fp32(w->d) * as_fp16_to_fp32(xb->d));
}

static void rows_q4_0(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_0;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_0 *w = (const struct block_q4_0 *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++)
			s += q4_0_block_dot(&w[b], &x->q8[b]);
		y[r] = s;
	}
}

/* Repacked Q4_0: unpack each row's block on the fly; same arithmetic as rows_q4_0. */
static void rows_q4_0_x16(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
			  const struct as_xin *x, float *y)
{
	size_t nb = cols / QK4_0;
	const struct block_q4_0x16 *base = W;

	(void)rb;
	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_0x16 *g = base + (r / AS_X16_ROWS) * nb;
		size_t ri = r % AS_X16_ROWS;
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			struct block_q4_0 blk;

			blk.d = g[b].d[ri];
			for (int c = 0; c < 4; c++)
				memcpy(&blk.qs[c * 4], &g[b].qs[c * 64 + ri * 4], 4);
			s += q4_0_block_dot(&blk, &x->q8[b]);
		}
		y[r] = s;
	}
}

static void rows_q4_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;

	for (size_t r = r0; r < r1; r++) {
		const struct block_q4_K *w = (const struct block_q4_K *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			const uint8_t *q = w[b].qs;
			int isum = 0, msum = 0;

			for (int j = 0; j < QK_K / 32; j++) {
				uint8_t sc, m;
				int sub = 0;

				as_q4k_scale_min(j, w[b].scales, &sc, &m);
				for (int l = 0; l < 32; l++) {
					int v = (j & 1) ? q[l] >> 4 : q[l] & 0x0f;

					sub += v * xb->qs[j * 32 + l];
				}
				if (j & 1)
					q += 32;
				isum += sc * sub;
				msum += m * (xb->bsums[2 * j] + xb->bsums[2 * j + 1]);
			}
			s += as_fp16_to_fp32(w[b].d) * xb->d * (float)isum -
			     as_fp16_to_fp32(w[b].dmin) * xb->d * (float)msum;
		}
		y[r] = s;
	}
}

/* Signed 6-bit values of a Q6_K block in element order. */
static void unpack_q6_K(const struct block_q6_K *b, int8_t *out)
{
	const uint8_t *ql = b->ql, *qh = b->qh;

	for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32) {
		for (int l = 0; l < 32; l++) {
			out[n + l + 0] = (int8_t)(((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32);
			out[n + l + 32] = (int8_t)(((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32);
			out[n + l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
			out[n + l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
		}
	}
}

static void rows_q6_K(const void *W, size_t rb, size_t r0, size_t r1, size_t cols,
		      const struct as_xin *x, float *y)
{
	size_t nb = cols / QK_K;
	int8_t q[QK_K];

	for (size_t r = r0; r < r1; r++) {
		const struct block_q6_K *w = (const struct block_q6_K *)ROW(W, rb, r);
		float s = 0.0f;

		for (size_t b = 0; b < nb; b++) {
			const struct block_q8_K *xb = &x->q8k[b];
			int isum = 0;

			unpack_q6_K(&w[b], q);
			for (int c = 0; c < QK_K / 16; c++) {
				int sub = 0;

				for (int l = 0; l < 16; l++)
					sub += q[c * 16 + l] * xb->qs[c * 16 + l];
				isum += w[b].scales[c] * sub;
			}
			s += as_fp16_to_fp32(w[b].d) * xb->d * (float)isum;
		}
		y[r] = s;
	}
}

static float dot_f32_scalar(const float *a, const float *b, size_t n)
{
	float s = 0.0f;

	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static void axpy_f32_scalar(float *y, float a, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

static float dot_f16_scalar(const float *a, const as_fp16_t *b, size_t n)
{
	float s = 0.0f;

	for (size_t i = 0; i < n; i++)
		s += a[i] * as_fp16_to_fp32(b[i]);
	return s;
}

static void axpy_f16_scalar(float *y, float a, const as_fp16_t *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += a * as_fp16_to_fp32(x[i]);
}

static void make_pairs(const struct block_q8_0 *q8, const int32_t *sums, struct as_q8_pair *p,
		       size_t np)
{
	for (size_t i = 0; i < np; i++) {
		for (int k = 0; k < 16; k++) {
			const struct block_q8_0 *b = &q8[2 * i + (k & 1)];

			memcpy(&p[i].qs[4 * k], &b->qs[16 * (k >> 3) + 4 * ((k & 7) >> 1)], 4);
		}
		for (int k = 0; k < 2; k++) {
			p[i].corr[k] = -sums[2 * i + k];
			p[i].d[k] = as_fp16_to_fp32(q8[2 * i + k].d);
		}
	}
}

static void quant_q8_0_scalar(const float *x, struct block_q8_0 *y, int32_t *sums, size_t nb)
{
	as_quant_q8_0_ref(x, y, nb);
	if (!sums)
		return;
	for (size_t b = 0; b < nb; b++) {
		int s = 0;

		for (int j = 0; j < QK8_0; j++)
			s += y[b].qs[j];
		sums[b] = 8 * s;
	}
}

/*
 * The s of llama.cpp's Q8_1 blocks (the activation side of Q4_1 / Q5_1): d * sum(qs)
 * rounded to fp16, with d = amax / 127 unrounded; the qs are Q8_0's (same rule).
 */
static void q8_1_sums(const float *x, const int32_t *sums, float *s1, size_t nb)
{
	for (size_t b = 0; b < nb; b++, x += QK8_0) {
		float amax = 0.0f;

		for (int j = 0; j < QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		s1[b] = as_fp16_to_fp32(as_fp32_to_fp16(amax / 127.0f * (float)(sums[b] / 8)));
	}
}

/* ---- SIMD level selection ---------------------------------------------------------- */

static struct as_kernel_table tables[AS_SIMD_LEVELS];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static enum as_simd detected;
static atomic_int active_level;
static bool amx_detected;
static atomic_bool amx_on;

#if defined(__x86_64__)
/* F16C from cpuid leaf 1 (clang's __builtin_cpu_supports does not know "f16c"); the
 * AVX2 check above it already covers the OS's YMM state. */
static bool have_f16c(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	return (c & bit_F16C) != 0;
}

static enum as_simd cpu_level(void)
{
	enum as_simd l = AS_SIMD_SCALAR;

	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && have_f16c()) {
		l = AS_SIMD_AVX2;
		if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
		    __builtin_cpu_supports("avx512vnni"))
			l = AS_SIMD_AVX512;
	}
	return l;
}

/* Each level starts from the one below and overrides what it implements. */
static void init_levels(void)
{
	tables[AS_SIMD_AVX2] = tables[AS_SIMD_SCALAR];
	if (detected >= AS_SIMD_AVX2) {
		as_kernels_avx2_init(&tables[AS_SIMD_AVX2]);
		as_kernels_types_avx2_init(&tables[AS_SIMD_AVX2]);
	}
	tables[AS_SIMD_AVX512] = tables[AS_SIMD_AVX2];
	if (detected >= AS_SIMD_AVX512) {
		as_kernels_avx512_init(&tables[AS_SIMD_AVX512]);
		as_kernels_kquant_avx512_init(&tables[AS_SIMD_AVX512]);
		as_matmul_avx512_init(&tables[AS_SIMD_AVX512]);
		/* ACTIVESWAP_AMX=0: the tile state is not even asked for (a granted one
		 * enlarges every signal frame) */
		const char *env = getenv("ACTIVESWAP_AMX");

		amx_detected = !(env && !strcmp(env, "0")) && as_amx_request();
		if (amx_detected)
			as_matmul_amx_init(&tables[AS_SIMD_AVX512]);
	}
}

static const char *const level_names[AS_SIMD_LEVELS] = { "scalar", "avx2", "avx512" };
#elif defined(__aarch64__)
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

/* Advanced SIMD is part of every Linux aarch64 CPU, but the kernel says so anyway. */
static enum as_simd cpu_level(void)
{
	unsigned long hw = getauxval(AT_HWCAP);

	if (!(hw & HWCAP_ASIMD))
		return AS_SIMD_SCALAR;
	return (hw & HWCAP_ASIMDDP) ? AS_SIMD_DOTPROD : AS_SIMD_NEON;
}

/* Each level starts from the one below and overrides what it implements. */
static void init_levels(void)
{
	tables[AS_SIMD_NEON] = tables[AS_SIMD_SCALAR];
	if (detected >= AS_SIMD_NEON) {
		as_kernels_neon_init(&tables[AS_SIMD_NEON]);
		as_kernels_types_neon_init(&tables[AS_SIMD_NEON]);
	}
	tables[AS_SIMD_DOTPROD] = tables[AS_SIMD_NEON];
	if (detected >= AS_SIMD_DOTPROD) {
		as_kernels_dotprod_init(&tables[AS_SIMD_DOTPROD]);
		as_kernels_types_dotprod_init(&tables[AS_SIMD_DOTPROD]);
	}
}

static const char *const level_names[AS_SIMD_LEVELS] = { "scalar", "neon", "dotprod" };
#else
static enum as_simd cpu_level(void)
{
	return AS_SIMD_SCALAR;
}

static void init_levels(void)
{
	for (int l = 1; l < AS_SIMD_LEVELS; l++)
		tables[l] = tables[AS_SIMD_SCALAR];
}

static const char *const level_names[AS_SIMD_LEVELS] = { "scalar", "simd1", "simd2" };
#endif

static void tables_init(void)
{
	struct as_kernel_table *s = &tables[AS_SIMD_SCALAR];

	s->rows[AS_K_F32] = rows_f32;
	s->rows[AS_K_F16] = rows_f16;
	s->rows[AS_K_BF16] = rows_bf16;
	s->rows[AS_K_Q8_0] = rows_q8_0;
	s->rows[AS_K_Q4_0] = rows_q4_0;
	s->rows[AS_K_Q4_K] = rows_q4_K;
	s->rows[AS_K_Q6_K] = rows_q6_K;
	s->rows[AS_K_Q4_0_X16] = rows_q4_0_x16;
	as_kernels_types_scalar_init(s);
	as_kernels_x16_scalar_init(s);
	s->quant_q8_0 = quant_q8_0_scalar;
	s->dot_f32 = dot_f32_scalar;
	s->axpy_f32 = axpy_f32_scalar;
	s->dot_f16 = dot_f16_scalar;
	s->axpy_f16 = axpy_f16_scalar;

	detected = cpu_level();
	init_levels();

	enum as_simd lvl = detected;
	const char *env = getenv("ACTIVESWAP_SIMD");

	if (env && as_simd_parse(env) >= 0) {
		lvl = (enum as_simd)as_simd_parse(env);
		if (lvl > detected)
			lvl = detected;
	}
	atomic_store(&active_level, (int)lvl);
	atomic_store(&amx_on, amx_detected);
}

static void ensure_init(void)
{
	pthread_once(&tables_once, tables_init);
}

enum as_simd as_simd_detect(void)
{
	ensure_init();
	return detected;
}

enum as_simd as_simd_active(void)
{
	ensure_init();
	return (enum as_simd)atomic_load(&active_level);
}

enum as_simd as_kernels_force(enum as_simd level)
{
	ensure_init();
	if ((int)level < AS_SIMD_SCALAR)
		level = AS_SIMD_SCALAR;
	if (level > detected)
		level = detected;
	atomic_store(&active_level, (int)level);
	return level;
}

bool as_amx_detect(void)
{
	ensure_init();
	return amx_detected;
}

bool as_amx_active(void)
{
	ensure_init();
	return atomic_load(&amx_on);
}

bool as_kernels_amx(bool on)
{
	ensure_init();
	atomic_store(&amx_on, on && amx_detected);
	return atomic_load(&amx_on);
}

const char *as_simd_name(enum as_simd level)
{
	if ((int)level < 0 || (int)level >= AS_SIMD_LEVELS)
		return "unknown";
	return level_names[level];
}

int as_simd_parse(const char *name)
{
	for (int l = 0; name && l < AS_SIMD_LEVELS; l++)
		if (!strcasecmp(name, level_names[l]))
			return l;
	return -1;
}

/* ---- matvec ------------------------------------------------------------------------- */

static int ktype_of(enum ggml_type t)
{
	switch ((int)t) {
	case GGML_TYPE_F32: return AS_K_F32;
	case GGML_TYPE_F16: return AS_K_F16;
	case GGML_TYPE_BF16: return AS_K_BF16;
	case GGML_TYPE_Q8_0: return AS_K_Q8_0;
	case GGML_TYPE_Q4_0: return AS_K_Q4_0;
	case GGML_TYPE_Q4_K: return AS_K_Q4_K;
	case GGML_TYPE_Q6_K: return AS_K_Q6_K;
	case (int)AS_TYPE_Q4_0_X16: return AS_K_Q4_0_X16;
	case (int)AS_TYPE_Q4_K_X16: return AS_K_Q4_K_X16;
	case (int)AS_TYPE_Q5_K_X16: return AS_K_Q5_K_X16;
	case (int)AS_TYPE_Q8_0_X16: return AS_K_Q8_0_X16;
	case GGML_TYPE_Q4_1: return AS_K_Q4_1;
	case GGML_TYPE_Q5_0: return AS_K_Q5_0;
	case GGML_TYPE_Q5_1: return AS_K_Q5_1;
	case GGML_TYPE_IQ4_NL: return AS_K_IQ4_NL;
	case GGML_TYPE_Q2_K: return AS_K_Q2_K;
	case GGML_TYPE_Q3_K: return AS_K_Q3_K;
	case GGML_TYPE_Q5_K: return AS_K_Q5_K;
	case GGML_TYPE_IQ4_XS: return AS_K_IQ4_XS;
	}
	return -1;
}

struct mv_ctx {
	const struct as_matvec_job *jobs;
	int n_jobs;
	size_t cols;
	struct as_xin xin;
	as_rows_fn fn[AS_MV_MAX_JOBS];
	size_t row_bytes[AS_MV_MAX_JOBS];
	uint64_t chunk_bytes[AS_MV_MAX_JOBS]; /* bytes of one 16-row chunk (split weight) */
	uint64_t offset[AS_MV_MAX_JOBS];      /* byte offset of the job in the split space */
	uint64_t total;
	uint64_t n_items;           /* pieces of the split space handed out dynamically */
	atomic_uint_fast64_t next;  /* next piece to take */
};

#define AS_MV_ITEM_BYTES (256u << 10) /* aim for pieces of about this many weight bytes */
#define AS_MV_ITEMS_PER_THREAD 8

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/* Compute the rows whose 16-row chunks start in split-space bytes [lo, hi). */
static void mv_range(const struct mv_ctx *c, uint64_t lo, uint64_t hi)
{
	for (int j = 0; j < c->n_jobs; j++) {
		const struct as_matvec_job *jb = &c->jobs[j];
		uint64_t chunks = ceil_div(jb->rows, AS_X16_ROWS);
		uint64_t o = c->offset[j], cb = c->chunk_bytes[j];
		uint64_t k0 = lo <= o ? 0 : ceil_div(lo - o, cb);
		uint64_t k1 = hi <= o ? 0 : ceil_div(hi - o, cb);
		size_t r0, r1;

		if (k0 > chunks)
			k0 = chunks;
		if (k1 > chunks)
			k1 = chunks;
		if (k0 >= k1)
			continue;
		r0 = (size_t)k0 * AS_X16_ROWS;
		r1 = (size_t)k1 * AS_X16_ROWS;
		if (r1 > jb->rows)
			r1 = jb->rows;
		c->fn[j](jb->W, c->row_bytes[j], r0, r1, c->cols, &c->xin, jb->y);
	}
}

/*
 * The split space is cut into n_items contiguous pieces that threads claim in order from
 * a shared counter: with the machine shared, a thread that is descheduled does not hold
 * up the others for more than the piece it is working on.
 */
static void mv_task(void *arg, int ith, int nth)
{
	struct mv_ctx *c = arg;
	uint64_t i;

	(void)ith;
	(void)nth;
	while ((i = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed)) < c->n_items)
		mv_range(c, c->total * i / c->n_items, c->total * (i + 1) / c->n_items);
}

/* Every output of the jobs set to NaN: the visible result of a call that cannot be done. */
static void fail_jobs(const struct as_matvec_job *jobs, int n_jobs)
{
	for (int j = 0; j < n_jobs; j++)
		for (size_t r = 0; r < jobs[j].rows; r++)
			jobs[j].y[r] = NAN;
}

/*
 * Per-thread scratch for the quantized x, kept between calls (decode does hundreds of
 * matvecs per token) and freed when the thread exits.
 */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

struct scratch {
	size_t size;
	void *p;
};

static void scratch_free(void *v)
{
	struct scratch *s = v;

	if (s) {
		free(s->p);
		free(s);
	}
}

static void scratch_key_init(void)
{
	if (pthread_key_create(&scratch_key, scratch_free))
		abort(); /* only fails for lack of keys: nothing works then */
}

static void *scratch_get(size_t size)
{
	struct scratch *s;

	pthread_once(&scratch_once, scratch_key_init);
	s = pthread_getspecific(scratch_key);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		if (pthread_setspecific(scratch_key, s)) {
			free(s);
			return NULL;
		}
	}
	if (s->size < size) {
		void *p = aligned_alloc(64, (size + 63) & ~(size_t)63);

		if (!p)
			return NULL;
		free(s->p);
		s->p = p;
		s->size = size;
	}
	return s->p;
}

int as_mv_plan(enum as_simd level, const struct as_matvec_job *jobs, int n_jobs, size_t cols,
	       struct as_mv_plan *p)
{
	const struct as_kernel_table *tab;

	ensure_init();
	if (level > detected)
		level = detected;
	tab = &tables[level];
	memset(p, 0, sizeof(*p));
	p->tab = tab;
	if (n_jobs <= 0 || n_jobs > AS_MV_MAX_JOBS || !cols)
		return -EINVAL;
	for (int j = 0; j < n_jobs; j++) {
		/* a repacked type's rows take its plain type's bytes and inputs */
		enum ggml_type pt = as_x16_plain_type(jobs[j].type);
		int k = ktype_of(jobs[j].type), kp = ktype_of(pt);
		uint64_t rb;

		if (k < 0 || kp < 0) /* unsupported type: a programming error */
			return -EINVAL;
		if (as_row_bytes(pt, cols, &rb))
			return -EINVAL;
		p->fn[j] = tab->rows[k] ? tab->rows[k] : tables[AS_SIMD_SCALAR].rows[k];
		p->fn_mm[j] = tab->rows[k] ? tab->rows_mm[k] : tables[AS_SIMD_SCALAR].rows_mm[k];
		if (tab->rows_mm_amx[k] && atomic_load(&amx_on)) {
			p->fn_mm[j] = tab->rows_mm_amx[k];
			p->mm_rows[j] = AS_MM_AMX_ROWS;
			p->need_q8t = true;
		}
		p->row_bytes[j] = (size_t)rb;
		if (kp == AS_K_Q8_0 || kp == AS_K_Q4_0 || (kp >= AS_K_Q4_1 && kp <= AS_K_IQ4_NL))
			p->need_q8 = true;
		if (kp == AS_K_Q4_1 || kp == AS_K_Q5_1)
			p->need_s1 = true;
		if (k == AS_K_Q4_0 && tab->q4_0_wants_pairs && p->fn[j] == tab->rows[k])
			p->need_pairs = true;
		if (kp == AS_K_Q4_K || kp == AS_K_Q6_K || (kp >= AS_K_Q2_K && kp <= AS_K_IQ4_XS))
			p->need_q8k = true;
	}
	if (p->need_q8 || p->need_q8k) {
		size_t nb8 = cols / QK8_0, nbk = cols / QK_K, sz = 0;

		if (p->need_q8) {
			sz = nb8 * sizeof(struct block_q8_0);
			sz = (sz + 63) & ~(size_t)63;
			p->off_sum = sz;
			sz += nb8 * sizeof(int32_t);
			sz = (sz + 63) & ~(size_t)63;
		}
		if (p->need_pairs) {
			p->off_p = sz;
			sz += nb8 / 2 * sizeof(struct as_q8_pair);
		}
		if (p->need_s1) {
			p->off_s1 = sz;
			sz += nb8 * sizeof(float);
		}
		p->off_k = sz;
		if (p->need_q8k)
			sz += nbk * sizeof(struct block_q8_K);
		p->xin_bytes = (sz + 63) & ~(size_t)63;
	}
	return 0;
}

void as_mv_xin(const struct as_mv_plan *p, const float *x, size_t cols, void *buf,
	       struct as_xin *xin)
{
	size_t nb8 = cols / QK8_0;

	memset(xin, 0, sizeof(*xin));
	xin->f32 = x;
	if (p->need_q8) {
		struct block_q8_0 *q8 = buf;
		int32_t *sums = (int32_t *)((uint8_t *)buf + p->off_sum);

		p->tab->quant_q8_0(x, q8, sums, nb8);
		xin->q8 = q8;
		xin->q8sum = sums;
		if (p->need_pairs) {
			struct as_q8_pair *pr = (void *)((uint8_t *)buf + p->off_p);

			make_pairs(q8, sums, pr, nb8 / 2);
			xin->q8p = pr;
		}
		if (p->need_s1) {
			float *s1 = (float *)((uint8_t *)buf + p->off_s1);

			q8_1_sums(x, sums, s1, nb8);
			xin->q8s1 = s1;
		}
	}
	if (p->need_q8k) {
		struct block_q8_K *qk = (struct block_q8_K *)((uint8_t *)buf + p->off_k);

		as_quant_q8_K_ref(x, qk, cols / QK_K);
		xin->q8k = qk;
	}
}

static void matvec_multi_level(enum as_simd level, struct as_threadpool *tp,
			       const struct as_matvec_job *jobs, int n_jobs, size_t cols,
			       const float *x)
{
	struct mv_ctx c;
	struct as_mv_plan p;
	void *scratch = NULL;

	if (n_jobs <= 0 || !cols)
		return;
	if (n_jobs > AS_MV_MAX_JOBS) { /* do them in batches */
		matvec_multi_level(level, tp, jobs, AS_MV_MAX_JOBS, cols, x);
		matvec_multi_level(level, tp, jobs + AS_MV_MAX_JOBS, n_jobs - AS_MV_MAX_JOBS, cols, x);
		return;
	}
	if (as_mv_plan(level, jobs, n_jobs, cols, &p)) {
		fail_jobs(jobs, n_jobs); /* make the programming error visible */
		return;
	}
	memset(&c, 0, sizeof(c));
	c.jobs = jobs;
	c.n_jobs = n_jobs;
	c.cols = cols;
	for (int j = 0; j < n_jobs; j++) {
		c.fn[j] = p.fn[j];
		c.row_bytes[j] = p.row_bytes[j];
		c.chunk_bytes[j] = (uint64_t)p.row_bytes[j] * AS_X16_ROWS;
		c.offset[j] = c.total;
		c.total += ceil_div(jobs[j].rows, AS_X16_ROWS) * c.chunk_bytes[j];
	}
	if (p.xin_bytes) {
		scratch = scratch_get(p.xin_bytes);
		if (!scratch) {
			fail_jobs(jobs, n_jobs);
			return;
		}
	}
	as_mv_xin(&p, x, cols, scratch, &c.xin);
	{
		uint64_t chunks = 0, n = (uint64_t)as_tp_size(tp) * AS_MV_ITEMS_PER_THREAD;

		for (int j = 0; j < n_jobs; j++)
			chunks += ceil_div(jobs[j].rows, AS_X16_ROWS);
		if (n > c.total / AS_MV_ITEM_BYTES)
			n = c.total / AS_MV_ITEM_BYTES;
		if (n > chunks)
			n = chunks;
		if (n < 1)
			n = 1;
		c.n_items = n;
		atomic_init(&c.next, 0);
	}
	if (c.n_items == 1)
		mv_task(&c, 0, 1); /* too small to be worth waking the workers */
	else
		as_tp_run(tp, mv_task, &c);
}

void as_quantize_q8_0(const float *x, struct block_q8_0 *y, size_t n)
{
	ensure_init();
	tables[as_simd_active()].quant_q8_0(x, y, NULL, n / QK8_0);
}

void as_matvec_multi(struct as_threadpool *tp, const struct as_matvec_job *jobs, int n_jobs,
		     size_t cols, const float *x)
{
	matvec_multi_level(as_simd_active(), tp, jobs, n_jobs, cols, x);
}

void as_matvec_level(enum as_simd level, struct as_threadpool *tp, enum ggml_type t,
		     const void *W, size_t rows, size_t cols, const float *x, float *y)
{
	struct as_matvec_job j = { .type = t, .W = W, .rows = rows, .y = y };

	matvec_multi_level(level, tp, &j, 1, cols, x);
}

void as_matvec(struct as_threadpool *tp, enum ggml_type t, const void *W, size_t rows,
	       size_t cols, const float *x, float *y)
{
	as_matvec_level(as_simd_active(), tp, t, W, rows, cols, x, y);
}

/* ---- attention helpers at the active level -------------------------------------- */

/* The active level's table (attention's helpers, per head and position). */
static const struct as_kernel_table *active_table(void)
{
	ensure_init();
	return &tables[atomic_load_explicit(&active_level, memory_order_relaxed)];
}

float as_dot_f32(const float *a, const float *b, size_t n)
{
	return active_table()->dot_f32(a, b, n);
}

void as_axpy_f32(float *y, float a, const float *x, size_t n)
{
	active_table()->axpy_f32(y, a, x, n);
}

float as_dot_f16(const float *a, const as_fp16_t *b, size_t n)
{
	return active_table()->dot_f16(a, b, n);
}

void as_axpy_f16(float *y, float a, const as_fp16_t *x, size_t n)
{
	active_table()->axpy_f16(y, a, x, n);
}

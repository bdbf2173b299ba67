// SPDX-License-Identifier: MIT
/*
 * GGUF reader and writer: the real model, truncation at every byte, seeded random
 * mutations, hand-crafted hostile files (each asserting its specific error), and a
 * writer round trip over every value type.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activeswap/gguf.h"

/* ---- helpers ----------------------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		close(fd);
		return NULL;
	}
	b = malloc((size_t)st.st_size);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return b;
}

static char model_path[4096];

static bool have_model(void)
{
	const char *sh = getenv("AS_SHARED");

	if (!sh || !*sh)
		return false;
	snprintf(model_path, sizeof(model_path), "%s/models/stories260K.gguf", sh);
	return access(model_path, R_OK) == 0;
}

#define NEED_MODEL()                                                         \
	do {                                                                 \
		if (!have_model()) {                                         \
			print_message("AS_SHARED model absent\n");           \
			skip();                                              \
		}                                                            \
	} while (0)

/* Parse exactly n bytes from a fresh heap copy so ASan sees any over-read. */
static int parse_copy(const uint8_t *src, size_t n, char *err, size_t errlen,
		      struct gguf_file **out)
{
	uint8_t *b = malloc(n ? n : 1);
	int rc;

	assert_non_null(b);
	memcpy(b, src, n);
	err[0] = 0;
	rc = gguf_parse(out, b, n, err, errlen);
	if (rc == 0) {
		gguf_close(*out);
		*out = NULL;
	}
	free(b);
	return rc;
}

/* A raw byte builder for crafted files. */
struct rb {
	uint8_t *b;
	size_t n, cap;
};

static void rb_put(struct rb *r, const void *p, size_t n)
{
	if (r->n + n > r->cap) {
		r->cap = (r->n + n) * 2 + 64;
		r->b = realloc(r->b, r->cap);
		assert_non_null(r->b);
	}
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void rb_u32(struct rb *r, uint32_t v)
{
	rb_put(r, &v, 4);
}

static void rb_u64(struct rb *r, uint64_t v)
{
	rb_put(r, &v, 8);
}

static void rb_str(struct rb *r, const char *s)
{
	rb_u64(r, strlen(s));
	rb_put(r, s, strlen(s));
}

static void rb_pad(struct rb *r, size_t a)
{
	static const uint8_t z[64];

	while (r->n % a)
		rb_put(r, z, 1);
	(void)z;
}

static void rb_zero(struct rb *r, size_t n)
{
	while (n--) {
		uint8_t z = 0;

		rb_put(r, &z, 1);
	}
}

static void rb_hdr(struct rb *r, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	rb_u32(r, GGUF_MAGIC);
	rb_u32(r, version);
	rb_u64(r, n_tensors);
	rb_u64(r, n_kv);
}

/* tensor directory entry */
static void rb_tensor(struct rb *r, const char *name, uint32_t n_dims, const uint64_t *ne,
		      uint32_t type, uint64_t off)
{
	rb_str(r, name);
	rb_u32(r, n_dims);
	for (uint32_t i = 0; i < n_dims; i++)
		rb_u64(r, ne[i]);
	rb_u32(r, type);
	rb_u64(r, off);
}

/* Parse r and expect failure rc with substring want in the message. */
static void expect_fail(struct rb *r, int want_rc, const char *want)
{
	struct gguf_file *f = NULL;
	char err[512];
	int rc = parse_copy(r->b, r->n, err, sizeof(err), &f);

	if (rc == 0 || (want_rc && rc != want_rc) || !strstr(err, want))
		print_error("rc=%d err='%s' (wanted %d '%s')\n", rc, err, want_rc, want);
	assert_int_not_equal(rc, 0);
	if (want_rc)
		assert_int_equal(rc, want_rc);
	assert_non_null(strstr(err, want));
	free(r->b);
	memset(r, 0, sizeof(*r));
}

static void expect_ok(struct rb *r)
{
	struct gguf_file *f = NULL;
	char err[512];
	int rc = parse_copy(r->b, r->n, err, sizeof(err), &f);

	if (rc)
		print_error("unexpected failure: %s\n", err);
	assert_int_equal(rc, 0);
	free(r->b);
	memset(r, 0, sizeof(*r));
}

/* A valid file with one F32 tensor [32] at offset 0: the base for tensor mutations. */
static void one_tensor(struct rb *r, uint32_t n_dims, const uint64_t *ne, uint32_t type,
		       uint64_t off, size_t data)
{
	rb_hdr(r, 3, 1, 1);
	rb_str(r, "general.architecture");
	rb_u32(r, GGUF_TYPE_STRING);
	rb_str(r, "llama");
	rb_tensor(r, "t", n_dims, ne, type, off);
	rb_pad(r, 32);
	rb_zero(r, data);
}

/* Start writing into a memfd; finish_buf() reads the result back into the heap. */
static int begin_memfd(struct gguf_writer *w)
{
	int fd = memfd_create("gguf", 0);

	assert_true(fd >= 0);
	assert_int_equal(gguf_w_begin(w, fd), 0);
	return fd;
}

static uint8_t *finish_buf(struct gguf_writer *w, int fd, size_t *n)
{
	struct stat st;
	uint8_t *b;

	assert_int_equal(gguf_w_end(w), 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return b;
}

/* ---- the real model ------------------------------------------------------------------ */

static void test_real_model(void **state)
{
	struct gguf_file *f;
	const struct gguf_tensor *t;
	const struct gguf_kv *kv;
	struct gguf_str s;
	char err[512];
	uint32_t u;
	float eps;
	enum gguf_type at;
	uint64_t n;

	(void)state;
	NEED_MODEL();
	assert_int_equal(gguf_open(&f, model_path, err, sizeof(err)), 0);
	assert_int_equal(f->version, 3);
	assert_int_equal(f->n_kv, 19);
	assert_int_equal(f->n_tensors, 48); /* 3 + 5 layers x 9 */
	assert_int_equal(f->alignment, 32);
	assert_int_equal(f->data_offset % 32, 0);
	assert_int_equal(gguf_get_str(f, "general.architecture", &s), 0);
	assert_true(gguf_str_eq(s, "llama"));
	assert_int_equal(gguf_get_u32(f, "llama.embedding_length", &u), 0);
	assert_int_equal(u, 64);
	assert_int_equal(gguf_get_u32(f, "llama.feed_forward_length", &u), 0);
	assert_int_equal(u, 172);
	assert_int_equal(gguf_get_u32(f, "llama.block_count", &u), 0);
	assert_int_equal(u, 5);
	assert_int_equal(gguf_get_u32(f, "llama.attention.head_count", &u), 0);
	assert_int_equal(u, 8);
	assert_int_equal(gguf_get_u32(f, "llama.attention.head_count_kv", &u), 0);
	assert_int_equal(u, 4);
	assert_int_equal(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps), 0);
	assert_true(eps > 0 && eps < 1e-3);
	assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.tokens", &at, &n, &kv), 0);
	assert_int_equal(at, GGUF_TYPE_STRING);
	assert_int_equal(n, 512);
	assert_non_null(kv->strs);
	/* byte tokens of a llama SentencePiece vocabulary */
	assert_true(gguf_str_eq(kv->strs[3], "<0x00>"));
	assert_true(gguf_str_eq(kv->strs[258], "<0xFF>"));
	assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.scores", &at, &n, NULL), 0);
	assert_int_equal(at, GGUF_TYPE_FLOAT32);
	assert_int_equal(n, 512);
	/* getters: wrong type, absent */
	assert_int_equal(gguf_get_u32(f, "general.architecture", &u), -EINVAL);
	assert_int_equal(gguf_get_u32(f, "no.such.key", &u), -ENOENT);
	assert_int_equal(gguf_get_str(f, "llama.block_count", &s), -EINVAL);

	t = gguf_find_tensor(f, "token_embd.weight");
	assert_non_null(t);
	assert_int_equal(t->n_dims, 2);
	assert_int_equal(t->ne[0], 64);
	assert_int_equal(t->ne[1], 512);
	assert_int_equal(t->type, GGML_TYPE_F32);
	assert_int_equal(t->size, 64 * 512 * 4);
	t = gguf_find_tensor(f, "blk.4.ffn_down.weight");
	assert_non_null(t);
	assert_int_equal(t->ne[0], 172);
	assert_int_equal(t->ne[1], 64);
	t = gguf_find_tensor(f, "blk.0.attn_k.weight");
	assert_non_null(t);
	assert_int_equal(t->ne[1], 32);
	assert_null(gguf_find_tensor(f, "blk.5.attn_k.weight"));
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		t = &f->tensors[i];
		assert_true(t->offset >= f->data_offset);
		assert_true(t->offset + t->size <= f->size);
		assert_ptr_equal(t->data, f->map + t->offset);
		assert_ptr_equal(gguf_find_tensor(f, "output_norm.weight")->data,
				 f->tensors[1].data);
	}
	gguf_close(f);
}

static void test_truncation(void **state)
{
	struct gguf_file *f;
	size_t n;
	uint8_t *b;
	char err[512];
	uint64_t data_off;

	(void)state;
	NEED_MODEL();
	b = slurp(model_path, &n);
	assert_non_null(b);
	assert_int_equal(gguf_parse(&f, b, n, err, sizeof(err)), 0);
	data_off = f->data_offset;
	gguf_close(f);
	/* every byte of header + metadata + directory, then a sample of the data */
	for (size_t len = 0; len < n; len += len <= data_off + 64 ? 1 : 997) {
		int rc = parse_copy(b, len, err, sizeof(err), &f);

		if (rc == 0)
			print_error("truncated at %zu parsed successfully\n", len);
		assert_true(rc < 0);
		assert_true(err[0] != 0);
	}
	assert_int_equal(parse_copy(b, n - 1, err, sizeof(err), &f), -EBADMSG);
	assert_non_null(strstr(err, "beyond end of file"));
	free(b);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void test_mutations(void **state)
{
	struct gguf_file *f;
	size_t n;
	uint8_t *b, *orig;
	char err[512];
	uint64_t data_off;
	int ok = 0, bad = 0;

	(void)state;
	NEED_MODEL();
	orig = slurp(model_path, &n);
	assert_non_null(orig);
	b = malloc(n);
	assert_non_null(b);
	memcpy(b, orig, n);
	assert_int_equal(gguf_parse(&f, b, n, err, sizeof(err)), 0);
	data_off = f->data_offset;
	gguf_close(f);
	rng_state = 20261123;
	for (int it = 0; it < 1000; it++) {
		int k = 1 + (int)(rng() % 8);
		size_t pos[8];

		for (int j = 0; j < k; j++) {
			pos[j] = (size_t)(rng() % data_off);
			switch (rng() % 4) {
			case 0: b[pos[j]] = (uint8_t)rng(); break;
			case 1: b[pos[j]] ^= (uint8_t)(1u << (rng() % 8)); break;
			case 2: b[pos[j]] = 0xff; break;
			default: b[pos[j]] = 0; break;
			}
		}
		err[0] = 0;
		if (gguf_parse(&f, b, n, err, sizeof(err)) == 0) {
			ok++;
			for (uint64_t i = 0; i < f->n_tensors; i++) {
				const struct gguf_tensor *t = &f->tensors[i];

				assert_true(t->offset >= f->data_offset);
				assert_true(t->offset <= n && t->size <= n - t->offset);
				assert_true(t->n_dims >= 1 && t->n_dims <= 4);
			}
			for (uint64_t i = 0; i < f->n_kv; i++)
				assert_true(f->kv[i].data + f->kv[i].data_len <= b + n);
			gguf_close(f);
		} else {
			bad++;
			assert_true(err[0] != 0);
		}
		for (int j = 0; j < k; j++)
			b[pos[j]] = orig[pos[j]];
	}
	print_message("mutations: %d parsed, %d rejected\n", ok, bad);
	assert_true(bad > 0);
	free(b);
	free(orig);
}

/* ---- crafted files -------------------------------------------------------------------- */

static void test_crafted_header(void **state)
{
	struct rb r = { 0 };

	(void)state;
	rb_hdr(&r, 3, 0, 0);
	expect_ok(&r);
	rb_u32(&r, 0x12345678);
	rb_u32(&r, 3);
	rb_u64(&r, 0);
	rb_u64(&r, 0);
	expect_fail(&r, -EBADMSG, "not a GGUF file");
	rb_hdr(&r, 1, 0, 0);
	expect_fail(&r, -EBADMSG, "version 1 is not supported");
	rb_hdr(&r, 4, 0, 0);
	expect_fail(&r, -EBADMSG, "unsupported GGUF version 4");
	rb_hdr(&r, 0x03000000u, 0, 0);
	expect_fail(&r, -EBADMSG, "big-endian GGUF files are not supported");
	rb_hdr(&r, 2, 0, 0);
	expect_ok(&r);
	rb_hdr(&r, 3, 0, 1ull << 63);
	expect_fail(&r, -EBADMSG, "metadata count 9223372036854775808 cannot fit");
	rb_hdr(&r, 3, 1ull << 63, 0);
	expect_fail(&r, -EBADMSG, "tensor count 9223372036854775808 cannot fit");
	rb_u32(&r, GGUF_MAGIC);
	rb_u32(&r, 3);
	expect_fail(&r, -EBADMSG, "tensor count at byte 8");
}

static void test_crafted_kv(void **state)
{
	struct rb r = { 0 };

	(void)state;
	/* key string length 2^64-1 */
	rb_hdr(&r, 3, 0, 1);
	rb_u64(&r, UINT64_MAX);
	rb_zero(&r, 16);
	expect_fail(&r, -EBADMSG, "string length 18446744073709551615 beyond end of file");
	/* value string length 2^64-1 */
	rb_hdr(&r, 3, 0, 1);
	rb_str(&r, "general.name");
	rb_u32(&r, GGUF_TYPE_STRING);
	rb_u64(&r, UINT64_MAX);
	expect_fail(&r, -EBADMSG, "key 0 'general.name' at byte 48: string length");
	/* unknown value type */
	rb_hdr(&r, 3, 0, 1);
	rb_str(&r, "a");
	rb_u32(&r, 13);
	rb_u32(&r, 0);
	expect_fail(&r, -EBADMSG, "key 0 'a': unknown value type 13");
	/* empty key */
	rb_hdr(&r, 3, 0, 1);
	rb_str(&r, "");
	rb_u32(&r, GGUF_TYPE_UINT8);
	rb_u32(&r, 0);
	expect_fail(&r, -EBADMSG, "empty key");
	/* duplicate key */
	rb_hdr(&r, 3, 0, 2);
	rb_str(&r, "k");
	rb_u32(&r, GGUF_TYPE_UINT32);
	rb_u32(&r, 1);
	rb_str(&r, "k");
	rb_u32(&r, GGUF_TYPE_UINT32);
	rb_u32(&r, 2);
	expect_fail(&r, -EBADMSG, "key 1 'k': duplicate key");
	/* nested arrays are rejected clearly */
	rb_hdr(&r, 3, 0, 1);
	rb_str(&r, "nest");
	rb_u32(&r, GGUF_TYPE_ARRAY);
	rb_u32(&r, GGUF_TYPE_ARRAY);
	rb_u64(&r, 1);
	rb_u32(&r, GGUF_TYPE_UINT8);
	rb_u64(&r, 0);
	expect_fail(&r, -EBADMSG, "arrays of arrays are not supported");
	/* huge numeric array */
	rb_hdr(&r, 3, 0, 1);
	rb_str(&r, "big");
	rb_u32(&r, GGUF_TYPE_ARRAY);
	rb_u32(&r, GGUF_TYPE_UINT32);
	rb_u64(&r, 1ull << 62);
	rb_zero(&r, 64);
	expect_fail(&r, -EBADMSG, "array of 4611686018427387904 u32 elements beyond end");
	/* huge string array (count bounded before allocating the index) */
	rb_hdr(&r, 3, 0, 1);
	rb_str(&r, "toks");
	rb_u32(&r, GGUF_TYPE_ARRAY);
	rb_u32(&r, GGUF_TYPE_STRING);
	rb_u64(&r, UINT64_MAX / 2);
	rb_zero(&r, 64);
	expect_fail(&r, -EBADMSG, "strings cannot fit");
	/* truncated scalar */
	rb_hdr(&r, 3, 0, 1);
	rb_str(&r, "x");
	rb_u32(&r, GGUF_TYPE_UINT64);
	rb_u32(&r, 0);
	expect_fail(&r, -EBADMSG, "needs 8 bytes but the file ends");
}

static void align_kv(struct rb *r, uint32_t a)
{
	rb_hdr(r, 3, 0, 1);
	rb_str(r, "general.alignment");
	rb_u32(r, GGUF_TYPE_UINT32);
	rb_u32(r, a);
}

static void test_crafted_alignment(void **state)
{
	struct rb r = { 0 };

	(void)state;
	align_kv(&r, 0);
	expect_fail(&r, -EBADMSG, "general.alignment = 0: must be a non-zero power of two");
	align_kv(&r, 3);
	expect_fail(&r, -EBADMSG, "general.alignment = 3");
	align_kv(&r, 64);
	expect_ok(&r);
	rb_hdr(&r, 3, 0, 1);
	rb_str(&r, "general.alignment");
	rb_u32(&r, GGUF_TYPE_STRING);
	rb_str(&r, "32");
	expect_fail(&r, -EBADMSG, "general.alignment: must be an unsigned integer");
}

static void test_crafted_tensors(void **state)
{
	struct rb r = { 0 };
	uint64_t ne[5] = { 32, 1, 1, 1, 1 };

	(void)state;
	one_tensor(&r, 1, ne, GGML_TYPE_F32, 0, 128);
	expect_ok(&r);
	one_tensor(&r, 5, ne, GGML_TYPE_F32, 0, 128);
	expect_fail(&r, -EBADMSG, "tensor 0 't': n_dims 5 (must be 1..4)");
	one_tensor(&r, 0, ne, GGML_TYPE_F32, 0, 128);
	expect_fail(&r, -EBADMSG, "n_dims 0");
	one_tensor(&r, 1, ne, 99, 0, 128);
	expect_fail(&r, -EBADMSG, "tensor 0 't': unknown or unsupported tensor type 99");
	one_tensor(&r, 1, ne, GGML_TYPE_F32, 128, 128);
	expect_fail(&r, -EBADMSG, "tensor 0 't': data [");
	one_tensor(&r, 1, ne, GGML_TYPE_F32, 0, 127);
	expect_fail(&r, -EBADMSG, "beyond end of file (size");
	one_tensor(&r, 1, ne, GGML_TYPE_F32, 16, 256);
	expect_fail(&r, -EBADMSG, "offset 16 is not a multiple of the alignment 32");
	one_tensor(&r, 1, ne, GGML_TYPE_F32, UINT64_MAX - 31, 128);
	expect_fail(&r, -EBADMSG, "beyond end of file");
	/* zero dimension */
	ne[1] = 0;
	one_tensor(&r, 2, ne, GGML_TYPE_F32, 0, 128);
	expect_fail(&r, -EBADMSG, "ne[1] = 0");
	/* element count overflow across dims */
	ne[1] = 1ull << 40;
	ne[2] = 1ull << 40;
	one_tensor(&r, 3, ne, GGML_TYPE_F32, 0, 128);
	expect_fail(&r, -EOVERFLOW, "element count overflows");
	/* row bytes overflow: 2^62 f32 */
	ne[0] = 1ull << 62;
	one_tensor(&r, 1, ne, GGML_TYPE_F32, 0, 128);
	expect_fail(&r, -EOVERFLOW, "row size overflows");
	/* size = row bytes * rows overflow */
	ne[0] = 1ull << 32;
	ne[1] = 1ull << 31;
	one_tensor(&r, 2, ne, GGML_TYPE_F32, 0, 128);
	expect_fail(&r, -EOVERFLOW, "data size overflows");
	/* ne[0] not a multiple of the block */
	ne[0] = 33;
	one_tensor(&r, 1, ne, GGML_TYPE_Q4_0, 0, 128);
	expect_fail(&r, -EBADMSG, "not a multiple of the q4_0 block size 32");
	/* negative (as int64) dimension */
	ne[0] = 1ull << 63;
	one_tensor(&r, 1, ne, GGML_TYPE_F32, 0, 128);
	expect_fail(&r, -EBADMSG, "ne[0] = 9223372036854775808");
	/* duplicate tensor names */
	ne[0] = 32;
	rb_hdr(&r, 3, 2, 0);
	rb_tensor(&r, "w", 1, ne, GGML_TYPE_F32, 0);
	rb_tensor(&r, "w", 1, ne, GGML_TYPE_F32, 128);
	rb_pad(&r, 32);
	rb_zero(&r, 256);
	expect_fail(&r, -EBADMSG, "tensor 1 'w': duplicate tensor name");
	/* data section itself beyond EOF */
	rb_hdr(&r, 3, 1, 0);
	rb_tensor(&r, "w", 1, ne, GGML_TYPE_F32, 0);
	expect_fail(&r, -EBADMSG, "beyond end of file");
}

/* Valid file from the writer, then one directory field of tensor "blk.b" patched. */
enum patch { P_TYPE, P_NDIMS, P_OFFSET, P_NE0, P_ALIGN };

static void writer_patched(enum patch what, uint64_t val, int want_rc, const char *want)
{
	struct gguf_writer *w = gguf_writer_new();
	uint64_t ne[2] = { 8, 3 }; /* 96 bytes: a multiple of 32, not of 64 */
	uint8_t data[8 * 3 * 4] = { 0 }, *buf, *p;
	struct rb r;
	size_t len;
	int fd;

	assert_int_equal(gguf_w_str(w, "general.architecture", "llama"), 0);
	assert_int_equal(gguf_w_u32(w, "general.alignment", 32), 0);
	assert_int_equal(gguf_w_tensor(w, "blk.a", GGML_TYPE_F32, 2, ne), 0);
	assert_int_equal(gguf_w_tensor(w, "blk.b", GGML_TYPE_F32, 2, ne), 1);
	fd = begin_memfd(w);
	assert_int_equal(gguf_w_data(w, data, sizeof(data)), 0);
	assert_int_equal(gguf_w_data(w, data, sizeof(data)), 0);
	buf = finish_buf(w, fd, &len);
	gguf_writer_free(w);
	/* the name is followed by n_dims, ne[2], type, offset */
	p = memmem(buf, len, "blk.b", 5);
	assert_non_null(p);
	p += 5;
	switch (what) {
	case P_NDIMS: { uint32_t v = (uint32_t)val; memcpy(p, &v, 4); break; }
	case P_NE0: memcpy(p + 4, &val, 8); break;
	case P_TYPE: { uint32_t v = (uint32_t)val; memcpy(p + 20, &v, 4); break; }
	case P_OFFSET: memcpy(p + 24, &val, 8); break;
	case P_ALIGN: {
		uint8_t *a = memmem(buf, len, "general.alignment", 17);
		uint32_t v = (uint32_t)val;

		assert_non_null(a);
		memcpy(a + 17 + 4, &v, 4);
		break;
	}
	}
	r.b = buf;
	r.n = len;
	r.cap = len;
	if (want)
		expect_fail(&r, want_rc, want);
	else
		expect_ok(&r);
}

static void test_crafted_via_writer(void **state)
{
	(void)state;
	writer_patched(P_TYPE, 0, 0, NULL); /* unpatched value: still valid */
	writer_patched(P_TYPE, 99, -EBADMSG,
		       "tensor 1 'blk.b': unknown or unsupported tensor type 99");
	writer_patched(P_NDIMS, 5, -EBADMSG, "tensor 1 'blk.b': n_dims 5");
	writer_patched(P_OFFSET, 96 + 8, -EBADMSG,
		       "offset 104 is not a multiple of the alignment 32");
	writer_patched(P_OFFSET, 1u << 20, -EBADMSG, "tensor 1 'blk.b': data [");
	writer_patched(P_NE0, 1ull << 62, -EOVERFLOW, "tensor 1 'blk.b': row size overflows");
	writer_patched(P_ALIGN, 0, -EBADMSG, "general.alignment = 0");
	writer_patched(P_ALIGN, 3, -EBADMSG, "general.alignment = 3");
	writer_patched(P_ALIGN, 64, -EBADMSG, "offset 96 is not a multiple of the alignment 64");
}

static void test_open_errors(void **state)
{
	struct gguf_file *f = (struct gguf_file *)1;
	char err[512], path[] = "/tmp/test_gguf.XXXXXX";
	int fd;

	(void)state;
	assert_int_equal(gguf_open(&f, "/nonexistent/x.gguf", err, sizeof(err)), -ENOENT);
	assert_null(f);
	assert_non_null(strstr(err, "/nonexistent/x.gguf"));
	assert_true(gguf_open(&f, "/tmp", err, sizeof(err)) < 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(gguf_open(&f, path, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too small"));
	assert_int_equal(write(fd, "GGUF\3\0\0\0" "\0\0\0\0\0\0\0\0" "\0\0\0\0\0\0\0\0", 24), 24);
	assert_int_equal(gguf_open(&f, path, err, sizeof(err)), 0);
	assert_int_equal(f->n_kv, 0);
	gguf_close(f);
	close(fd);
	unlink(path);
	gguf_close(NULL);
}

/* ---- writer ---------------------------------------------------------------------------- */

static const char *const rt_strs[] = { "<unk>", "", "\xe2\x96\x81the" };
static const int32_t rt_ints[4] = { -1, 0, 1, 1 << 30 };
static const float rt_floats[3] = { 0.5f, -2.0f, 1e-5f };

/* One key of every value type (17 keys, alignment 64). */
static void fill_all_types(struct gguf_writer *w)
{
	uint8_t u8 = 200;
	int8_t i8 = -100;
	uint16_t u16 = 60000;
	int16_t i16 = -30000;
	uint64_t u64 = 1ull << 40;
	int64_t i64 = -(1ll << 40);
	double f64 = 0.125;

	assert_int_equal(gguf_w_str(w, "general.architecture", "llama"), 0);
	assert_int_equal(gguf_w_u32(w, "u32", 4000000000u), 0);
	assert_int_equal(gguf_w_i32(w, "i32", -7), 0);
	assert_int_equal(gguf_w_f32(w, "f32", 1e-5f), 0);
	assert_int_equal(gguf_w_bool(w, "bool", true), 0);
	assert_int_equal(gguf_w_scalar(w, "u8", GGUF_TYPE_UINT8, &u8), 0);
	assert_int_equal(gguf_w_scalar(w, "i8", GGUF_TYPE_INT8, &i8), 0);
	assert_int_equal(gguf_w_scalar(w, "u16", GGUF_TYPE_UINT16, &u16), 0);
	assert_int_equal(gguf_w_scalar(w, "i16", GGUF_TYPE_INT16, &i16), 0);
	assert_int_equal(gguf_w_scalar(w, "u64", GGUF_TYPE_UINT64, &u64), 0);
	assert_int_equal(gguf_w_scalar(w, "i64", GGUF_TYPE_INT64, &i64), 0);
	assert_int_equal(gguf_w_scalar(w, "f64", GGUF_TYPE_FLOAT64, &f64), 0);
	assert_int_equal(gguf_w_arr_str(w, "strs", rt_strs, 3), 0);
	assert_int_equal(gguf_w_arr(w, "ints", GGUF_TYPE_INT32, rt_ints, 4), 0);
	assert_int_equal(gguf_w_arr(w, "floats", GGUF_TYPE_FLOAT32, rt_floats, 3), 0);
	assert_int_equal(gguf_w_arr(w, "empty", GGUF_TYPE_UINT8, NULL, 0), 0);
	assert_int_equal(gguf_w_u32(w, "general.alignment", 64), 0);
}

/* The same writer into memory: gguf_w_size is the file's size, gguf_w_begin_mem writes
 * the file's header bytes and says where the data starts; too small a buffer fails. */
static struct gguf_writer *mem_writer(void)
{
	struct gguf_writer *w = gguf_writer_new();

	assert_non_null(w);
	fill_all_types(w);
	assert_int_equal(gguf_w_tensor(w, "a", GGML_TYPE_F32, 2, (uint64_t[]){ 64, 3 }), 0);
	assert_int_equal(gguf_w_tensor(w, "b", GGML_TYPE_Q8_0, 1, (uint64_t[]){ 32 }), 1);
	return w;
}

static void test_writer_mem(void **state)
{
	struct gguf_writer *w = mem_writer();
	struct gguf_file *f;
	uint8_t data[64 * 3 * 4], *file, *mem;
	uint64_t size = 0, hdr = 0;
	char err[256];
	size_t n;
	int fd;

	(void)state;
	for (size_t k = 0; k < sizeof(data); k++)
		data[k] = (uint8_t)(k * 5 + 3);
	fd = begin_memfd(w);
	assert_int_equal(gguf_w_data(w, data, sizeof(data)), 0);
	assert_int_equal(gguf_w_data(w, data, 34), 0);
	file = finish_buf(w, fd, &n);
	gguf_writer_free(w);

	w = mem_writer();
	assert_int_equal(gguf_w_size(w, &size), 0);
	assert_int_equal(size, n);
	mem = calloc(1, n);
	assert_non_null(mem);
	assert_int_equal(gguf_w_begin_mem(w, mem, 100, &hdr), -ENOSPC);
	gguf_writer_free(w);
	w = mem_writer();
	assert_int_equal(gguf_w_begin_mem(w, mem, n, &hdr), 0);
	assert_int_equal(gguf_parse(&f, file, n, err, sizeof(err)), 0);
	assert_int_equal(hdr, f->data_offset);
	memcpy(mem + f->tensors[0].offset, data, sizeof(data));
	memcpy(mem + f->tensors[1].offset, data, 34);
	assert_memory_equal(mem, file, n);
	gguf_close(f);
	gguf_writer_free(w);
	free(mem);
	free(file);
}

static void test_writer_roundtrip(void **state)
{
	struct gguf_writer *w = gguf_writer_new();
	struct gguf_file *f;
	const char *const *strs = rt_strs;
	const int32_t *ia = rt_ints;
	const float *fa = rt_floats;
	int64_t i64 = -(1ll << 40);
	uint8_t *buf;
	uint64_t n;
	int fd;
	uint64_t ne2[2] = { 64, 3 }, ne1[1] = { 32 }, ne3[3] = { 32, 2, 2 };
	const struct gguf_kv *kv;
	enum gguf_type at;
	struct gguf_str s;
	char err[512];
	size_t len;
	uint32_t u;
	int32_t i;
	float fl;
	bool bo;
	uint8_t data[64 * 3 * 4];

	(void)state;
	assert_non_null(w);
	fill_all_types(w);
	/* rejected arguments */
	assert_int_equal(gguf_w_u32(w, "u32", 1), -EEXIST);
	assert_int_equal(gguf_w_arr(w, "bad", GGUF_TYPE_STRING, fa, 1), -EINVAL);
	assert_int_equal(gguf_w_tensor(w, "x", GGML_TYPE_Q4_0, 1, (uint64_t[]){ 33 }), -EINVAL);
	assert_int_equal(gguf_w_tensor(w, "x", GGML_TYPE_F32, 5, ne3), -EINVAL);

	assert_int_equal(gguf_w_tensor(w, "a", GGML_TYPE_F32, 2, ne2), 0);
	assert_int_equal(gguf_w_tensor(w, "b", GGML_TYPE_Q8_0, 1, ne1), 1);
	assert_int_equal(gguf_w_tensor(w, "c", GGML_TYPE_F16, 3, ne3), 2);
	assert_int_equal(gguf_w_tensor(w, "a", GGML_TYPE_F32, 1, ne1), -EEXIST);
	for (size_t k = 0; k < sizeof(data); k++)
		data[k] = (uint8_t)(k * 7 + 1);
	fd = begin_memfd(w);
	assert_int_equal(gguf_w_u32(w, "late", 1), -EBUSY);
	/* tensor a in two pieces, b (34 bytes), c (256 bytes) */
	assert_int_equal(gguf_w_data(w, data, 100), 0);
	assert_int_equal(gguf_w_data(w, data + 100, sizeof(data) - 100), 0);
	assert_int_equal(gguf_w_data(w, data, 34), 0);
	assert_int_equal(gguf_w_data(w, data, 256), 0);
	assert_int_equal(gguf_w_data(w, data, 1), -EFBIG);
	gguf_writer_free(w);
	/* the sticky error means end fails; redo the tensors without the extra byte */
	w = gguf_writer_new();
	fill_all_types(w);
	assert_int_equal(gguf_w_tensor(w, "a", GGML_TYPE_F32, 2, ne2), 0);
	assert_int_equal(gguf_w_tensor(w, "b", GGML_TYPE_Q8_0, 1, ne1), 1);
	assert_int_equal(gguf_w_tensor(w, "c", GGML_TYPE_F16, 3, ne3), 2);
	fd = begin_memfd(w);
	assert_int_equal(gguf_w_data(w, data, 100), 0);
	assert_int_equal(gguf_w_end(w), -ENODATA); /* incomplete: sticky from here */
	gguf_writer_free(w);
	close(fd);

	w = gguf_writer_new();
	fill_all_types(w);
	assert_int_equal(gguf_w_tensor(w, "a", GGML_TYPE_F32, 2, ne2), 0);
	assert_int_equal(gguf_w_tensor(w, "b", GGML_TYPE_Q8_0, 1, ne1), 1);
	assert_int_equal(gguf_w_tensor(w, "c", GGML_TYPE_F16, 3, ne3), 2);
	fd = begin_memfd(w);
	assert_int_equal(gguf_w_data(w, data, 100), 0);
	assert_int_equal(gguf_w_data(w, data + 100, sizeof(data) - 100), 0);
	assert_int_equal(gguf_w_data(w, data, 34), 0);
	assert_int_equal(gguf_w_data(w, data, 256), 0);
	buf = finish_buf(w, fd, &len);
	gguf_writer_free(w);

	assert_int_equal(gguf_parse(&f, buf, len, err, sizeof(err)), 0);
	assert_int_equal(f->version, 3);
	assert_int_equal(f->n_kv, 17);
	assert_int_equal(f->alignment, 64);
	assert_int_equal(f->data_offset % 64, 0);
	assert_int_equal(gguf_get_str(f, "general.architecture", &s), 0);
	assert_true(gguf_str_eq(s, "llama"));
	assert_int_equal(gguf_get_u32(f, "u32", &u), 0);
	assert_int_equal(u, 4000000000u);
	assert_int_equal(gguf_get_i32(f, "u32", &i), -EINVAL);
	assert_int_equal(gguf_get_i32(f, "i32", &i), 0);
	assert_int_equal(i, -7);
	assert_int_equal(gguf_get_u32(f, "i32", &u), -EINVAL);
	assert_int_equal(gguf_get_f32(f, "f32", &fl), 0);
	assert_true(fl == 1e-5f);
	assert_int_equal(gguf_get_bool(f, "bool", &bo), 0);
	assert_true(bo);
	assert_int_equal(gguf_get_u32(f, "u8", &u), 0);
	assert_int_equal(u, 200);
	assert_int_equal(gguf_get_i32(f, "i8", &i), 0);
	assert_int_equal(i, -100);
	assert_int_equal(gguf_get_u32(f, "u16", &u), 0);
	assert_int_equal(u, 60000);
	assert_int_equal(gguf_get_i32(f, "i16", &i), 0);
	assert_int_equal(i, -30000);
	assert_int_equal(gguf_get_u64(f, "u64", &n), 0);
	assert_int_equal(n, 1ull << 40);
	assert_int_equal(gguf_get_u32(f, "u64", &u), -EINVAL);
	assert_int_equal(gguf_get_i32(f, "i64", &i), -EINVAL);
	assert_int_equal(gguf_get_u64(f, "i64", &n), -EINVAL);
	kv = gguf_find_kv(f, "i64");
	assert_non_null(kv);
	assert_int_equal(kv->type, GGUF_TYPE_INT64);
	assert_memory_equal(kv->data, &i64, 8);
	assert_int_equal(gguf_get_f32(f, "f64", &fl), 0);
	assert_true(fl == 0.125f);
	assert_int_equal(gguf_get_arr(f, "strs", &at, &n, &kv), 0);
	assert_int_equal(at, GGUF_TYPE_STRING);
	assert_int_equal(n, 3);
	for (int k = 0; k < 3; k++)
		assert_true(gguf_str_eq(kv->strs[k], strs[k]));
	assert_int_equal(gguf_get_arr(f, "ints", &at, &n, &kv), 0);
	assert_int_equal(at, GGUF_TYPE_INT32);
	assert_int_equal(n, 4);
	assert_int_equal(kv->data_len, sizeof(rt_ints));
	assert_memory_equal(kv->data, ia, sizeof(rt_ints));
	assert_int_equal(gguf_get_arr(f, "floats", &at, &n, &kv), 0);
	assert_memory_equal(kv->data, fa, sizeof(rt_floats));
	assert_int_equal(gguf_get_arr(f, "empty", &at, &n, &kv), 0);
	assert_int_equal(n, 0);
	assert_int_equal(f->n_tensors, 3);
	assert_true(gguf_str_eq(f->tensors[0].name, "a"));
	assert_int_equal(f->tensors[0].ne[1], 3);
	assert_int_equal(f->tensors[0].size, sizeof(data));
	assert_memory_equal(f->tensors[0].data, data, sizeof(data));
	assert_int_equal(f->tensors[1].type, GGML_TYPE_Q8_0);
	assert_int_equal(f->tensors[1].size, 34);
	assert_memory_equal(f->tensors[1].data, data, 34);
	assert_int_equal(f->tensors[2].n_dims, 3);
	assert_int_equal(f->tensors[2].ne[2], 2);
	assert_int_equal(f->tensors[2].ne[3], 1);
	assert_int_equal(f->tensors[2].size, 256);
	assert_memory_equal(f->tensors[2].data, data, 256);
	for (int k = 0; k < 3; k++)
		assert_int_equal(f->tensors[k].offset % 64, 0);
	gguf_close(f);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_model),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_crafted_header),
		cmocka_unit_test(test_crafted_kv),
		cmocka_unit_test(test_crafted_alignment),
		cmocka_unit_test(test_crafted_tensors),
		cmocka_unit_test(test_crafted_via_writer),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_writer_roundtrip),
		cmocka_unit_test(test_writer_mem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

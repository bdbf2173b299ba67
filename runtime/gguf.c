// SPDX-License-Identifier: MIT
/*
 * GGUF v2/v3 reader.
 *
 * The input is hostile. Every read goes through a bounds-checked cursor, every count is
 * bounded by the bytes that remain in the file before anything is allocated (so a forged
 * n_kv of 2^63 fails immediately instead of allocating), and every size or offset is
 * computed with overflow checks. Failures produce one message naming the problem and
 * where it is (byte offset, key or tensor index and name).
 *
 * Layout (all little-endian):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { str key, u32 type, value },
 *   n_tensors x { str name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   padding to general.alignment, tensor data (offsets relative to here, aligned).
 *   str = u64 length + bytes (no NUL); array value = u32 elem type, u64 n, elements.
 */
#include "activeswap/gguf.h"
#include "errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Limits that keep messages and hash keys sane; far above anything real. */
#define GGUF_MAX_KEY_LEN 65535u
#define GGUF_MAX_NAME_LEN 1024u

/* Smallest possible encodings, used to bound counts by the bytes left in the file. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1)           /* key len, 1-byte key, type, u8 value */
#define MIN_TENSOR_BYTES (8 + 1 + 4 + 8 + 4 + 8) /* name len, name, n_dims, ne[0], type, off */

struct gguf_priv {
	struct gguf_file pub;
	uint32_t *kv_hash;   /* open addressing: index + 1, 0 = empty */
	uint64_t kv_hmask;
	uint32_t *t_hash;
	uint64_t t_hmask;
};

struct cur {
	const uint8_t *p;
	uint64_t size;
	uint64_t pos;
	char *err;
	size_t errlen;
};

static int fail(struct cur *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct cur *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
		as_err_oneline(c->err); /* keys and names are the file's bytes */
	}
	return rc;
}

static uint64_t left(const struct cur *c)
{
	return c->size - c->pos;
}

static int need(struct cur *c, uint64_t n, const char *what)
{
	if (n > left(c))
		return fail(c, -EBADMSG,
			    "%s at byte %llu: needs %llu bytes but the file ends at %llu",
			    what, (unsigned long long)c->pos, (unsigned long long)n,
			    (unsigned long long)c->size);
	return 0;
}

static int rd_u32(struct cur *c, uint32_t *v, const char *what)
{
	int rc = need(c, 4, what);

	if (rc)
		return rc;
	memcpy(v, c->p + c->pos, 4);
	c->pos += 4;
	return 0;
}

static int rd_u64(struct cur *c, uint64_t *v, const char *what)
{
	int rc = need(c, 8, what);

	if (rc)
		return rc;
	memcpy(v, c->p + c->pos, 8);
	c->pos += 8;
	return 0;
}

static int rd_str(struct cur *c, struct gguf_str *s, uint64_t max, const char *what)
{
	uint64_t at = c->pos;
	int rc = rd_u64(c, &s->len, what);

	if (rc)
		return rc;
	if (s->len > left(c))
		return fail(c, -EBADMSG,
			    "%s at byte %llu: string length %llu beyond end of file (size %llu)",
			    what, (unsigned long long)at, (unsigned long long)s->len,
			    (unsigned long long)c->size);
	if (s->len > max)
		return fail(c, -EBADMSG, "%s at byte %llu: string length %llu exceeds limit %llu",
			    what, (unsigned long long)at, (unsigned long long)s->len,
			    (unsigned long long)max);
	s->s = (const char *)c->p + c->pos;
	c->pos += s->len;
	return 0;
}

static const size_t type_size[GGUF_TYPE_COUNT] = {
	[GGUF_TYPE_UINT8] = 1,   [GGUF_TYPE_INT8] = 1,    [GGUF_TYPE_UINT16] = 2,
	[GGUF_TYPE_INT16] = 2,   [GGUF_TYPE_UINT32] = 4,  [GGUF_TYPE_INT32] = 4,
	[GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1,    [GGUF_TYPE_STRING] = 0,
	[GGUF_TYPE_ARRAY] = 0,   [GGUF_TYPE_UINT64] = 8,  [GGUF_TYPE_INT64] = 8,
	[GGUF_TYPE_FLOAT64] = 8,
};

static const char *const type_names[GGUF_TYPE_COUNT] = {
	[GGUF_TYPE_UINT8] = "u8",    [GGUF_TYPE_INT8] = "i8",     [GGUF_TYPE_UINT16] = "u16",
	[GGUF_TYPE_INT16] = "i16",   [GGUF_TYPE_UINT32] = "u32",  [GGUF_TYPE_INT32] = "i32",
	[GGUF_TYPE_FLOAT32] = "f32", [GGUF_TYPE_BOOL] = "bool",   [GGUF_TYPE_STRING] = "str",
	[GGUF_TYPE_ARRAY] = "arr",   [GGUF_TYPE_UINT64] = "u64",  [GGUF_TYPE_INT64] = "i64",
	[GGUF_TYPE_FLOAT64] = "f64",
};

const char *gguf_type_name(enum gguf_type t)
{
	if ((unsigned)t >= GGUF_TYPE_COUNT)
		return "unknown";
	return type_names[t];
}

bool gguf_str_eq(struct gguf_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && (n == 0 || memcmp(s.s, lit, n) == 0);
}

static uint64_t hash_bytes(const char *s, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint64_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static int hash_alloc(uint64_t n, uint32_t **tab, uint64_t *mask)
{
	uint64_t cap = 16;

	while (cap < 2 * n)
		cap <<= 1;
	*tab = calloc(cap, sizeof(**tab));
	if (!*tab)
		return -ENOMEM;
	*mask = cap - 1;
	return 0;
}

/*
 * Find name in a table whose entries index into an array of gguf_str at stride bytes.
 * Returns the index or -1; with ins >= 0 and the name absent, inserts ins.
 */
static int64_t hash_find(uint32_t *tab, uint64_t mask, const void *base, size_t stride,
			 const char *name, uint64_t len, int64_t ins)
{
	uint64_t i = hash_bytes(name, len) & mask;

	for (;; i = (i + 1) & mask) {
		const struct gguf_str *s;

		if (!tab[i]) {
			if (ins >= 0)
				tab[i] = (uint32_t)ins + 1;
			return -1;
		}
		s = (const struct gguf_str *)((const char *)base + (size_t)(tab[i] - 1) * stride);
		if (s->len == len && (len == 0 || !memcmp(s->s, name, len)))
			return tab[i] - 1;
	}
}

/*
 * Room for n elements in *p (capacity *cap, new entries zeroed), growing geometrically:
 * memory follows what was actually parsed, never a count read from the file.
 */
static int grow(void *pp, uint64_t *cap, uint64_t n, size_t elem)
{
	void **p = pp;
	uint64_t c = *cap ? *cap : 16;
	void *np;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	if (c > SIZE_MAX / elem)
		return -ENOMEM;
	np = realloc(*p, c * elem);
	if (!np)
		return -ENOMEM;
	memset((char *)np + *cap * elem, 0, (c - *cap) * elem);
	*p = np;
	*cap = c;
	return 0;
}

/* "key 3 'general.name'" with the key truncated for the message. */
static void kv_where(char *buf, size_t n, uint64_t i, const struct gguf_str *key)
{
	int klen = key && key->s ? (int)(key->len > 80 ? 80 : key->len) : 0;

	snprintf(buf, n, "key %llu '%.*s%s'", (unsigned long long)i, klen,
		 klen ? key->s : "", key && key->len > 80 ? "..." : "");
}

static int parse_kv(struct cur *c, struct gguf_file *f, uint64_t i)
{
	struct gguf_kv *kv = &f->kv[i];
	char where[128];
	uint32_t t;
	int rc;

	snprintf(where, sizeof(where), "key %llu", (unsigned long long)i);
	rc = rd_str(c, &kv->key, GGUF_MAX_KEY_LEN, where);
	if (rc)
		return rc;
	kv_where(where, sizeof(where), i, &kv->key);
	if (kv->key.len == 0)
		return fail(c, -EBADMSG, "%s at byte %llu: empty key", where,
			    (unsigned long long)(c->pos - 8));
	rc = rd_u32(c, &t, where);
	if (rc)
		return rc;
	if (t >= GGUF_TYPE_COUNT)
		return fail(c, -EBADMSG, "%s: unknown value type %u", where, t);
	kv->type = (enum gguf_type)t;
	if (t == GGUF_TYPE_STRING) {
		struct gguf_str s;

		rc = rd_str(c, &s, UINT64_MAX, where);
		if (rc)
			return rc;
		kv->data = (const uint8_t *)s.s;
		kv->data_len = s.len;
		return 0;
	}
	if (t != GGUF_TYPE_ARRAY) {
		rc = need(c, type_size[t], where);
		if (rc)
			return rc;
		kv->data = c->p + c->pos;
		kv->data_len = type_size[t];
		c->pos += type_size[t];
		return 0;
	}
	/* array */
	rc = rd_u32(c, &t, where);
	if (rc)
		return rc;
	if (t >= GGUF_TYPE_COUNT)
		return fail(c, -EBADMSG, "%s: array of unknown element type %u", where, t);
	if (t == GGUF_TYPE_ARRAY)
		return fail(c, -EBADMSG, "%s: arrays of arrays are not supported", where);
	kv->arr_type = (enum gguf_type)t;
	rc = rd_u64(c, &kv->arr_n, where);
	if (rc)
		return rc;
	kv->data = c->p + c->pos;
	if (t != GGUF_TYPE_STRING) {
		uint64_t bytes;

		if (__builtin_mul_overflow(kv->arr_n, (uint64_t)type_size[t], &bytes) ||
		    bytes > left(c))
			return fail(c, -EBADMSG,
				    "%s at byte %llu: array of %llu %s elements beyond end of file "
				    "(size %llu)", where, (unsigned long long)c->pos,
				    (unsigned long long)kv->arr_n, type_names[t],
				    (unsigned long long)c->size);
		kv->data_len = bytes;
		c->pos += bytes;
		return 0;
	}
	/* Each string element takes at least its 8-byte length. */
	if (kv->arr_n > left(c) / 8)
		return fail(c, -EBADMSG,
			    "%s at byte %llu: array of %llu strings cannot fit in the file (size %llu)",
			    where, (unsigned long long)c->pos, (unsigned long long)kv->arr_n,
			    (unsigned long long)c->size);
	uint64_t cap = 0;

	if (grow(&kv->strs, &cap, 1, sizeof(*kv->strs)))
		return fail(c, -ENOMEM, "%s: out of memory", where);
	for (uint64_t j = 0; j < kv->arr_n; j++) {
		char ewhere[160];

		if (grow(&kv->strs, &cap, j + 1, sizeof(*kv->strs)))
			return fail(c, -ENOMEM, "%s: out of memory for %llu strings", where,
				    (unsigned long long)kv->arr_n);
		snprintf(ewhere, sizeof(ewhere), "%s element %llu", where, (unsigned long long)j);
		rc = rd_str(c, &kv->strs[j], UINT64_MAX, ewhere);
		if (rc)
			return rc;
	}
	kv->data_len = (uint64_t)((const uint8_t *)c->p + c->pos - kv->data);
	return 0;
}

static int parse_tensor(struct cur *c, struct gguf_file *f, uint64_t i)
{
	struct gguf_tensor *t = &f->tensors[i];
	char where[160];
	uint64_t rows = 1;
	uint32_t ty;
	int rc;

	snprintf(where, sizeof(where), "tensor %llu", (unsigned long long)i);
	rc = rd_str(c, &t->name, GGUF_MAX_NAME_LEN, where);
	if (rc)
		return rc;
	snprintf(where, sizeof(where), "tensor %llu '%.*s'", (unsigned long long)i,
		 (int)(t->name.len > 80 ? 80 : t->name.len), t->name.s);
	if (t->name.len == 0)
		return fail(c, -EBADMSG, "%s: empty name", where);
	rc = rd_u32(c, &t->n_dims, where);
	if (rc)
		return rc;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return fail(c, -EBADMSG, "%s: n_dims %u (must be 1..%d)", where, t->n_dims,
			    GGUF_MAX_DIMS);
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (uint32_t d = 0; d < t->n_dims; d++) {
		rc = rd_u64(c, &t->ne[d], where);
		if (rc)
			return rc;
		if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
			return fail(c, -EBADMSG, "%s: ne[%u] = %llu (must be 1..2^63-1)", where, d,
				    (unsigned long long)t->ne[d]);
		if (d > 0 && __builtin_mul_overflow(rows, t->ne[d], &rows))
			return fail(c, -EOVERFLOW, "%s: element count overflows 64 bits", where);
	}
	rc = rd_u32(c, &ty, where);
	if (rc)
		return rc;
	t->type = (enum ggml_type)ty;
	if (as_type_block_bytes(t->type) == 0)
		return fail(c, -EBADMSG, "%s: unknown or unsupported tensor type %u", where, ty);
	rc = as_row_bytes(t->type, t->ne[0], &t->size);
	if (rc == -EOVERFLOW)
		return fail(c, -EOVERFLOW, "%s: row size overflows 64 bits", where);
	if (rc)
		return fail(c, -EBADMSG, "%s: ne[0] = %llu is not a multiple of the %s block "
			    "size %zu", where, (unsigned long long)t->ne[0],
			    as_type_name(t->type), as_type_block_elems(t->type));
	if (__builtin_mul_overflow(t->size, rows, &t->size))
		return fail(c, -EOVERFLOW, "%s: data size overflows 64 bits", where);
	/* relative for now; made absolute once the data section is known */
	return rd_u64(c, &t->offset, where);
}

static void free_tables(struct gguf_priv *pv)
{
	struct gguf_file *f = &pv->pub;

	if (f->kv)
		for (uint64_t i = 0; i < f->n_kv; i++)
			free(f->kv[i].strs);
	free(f->kv);
	free(f->tensors);
	free(pv->kv_hash);
	free(pv->t_hash);
}

static int get_int(const struct gguf_kv *kv, int64_t *si, uint64_t *ui, bool *neg);


static int parse(struct gguf_priv *pv, char *err, size_t errlen)
{
	struct gguf_file *f = &pv->pub;
	struct cur c = { .p = f->map, .size = f->size, .err = err, .errlen = errlen };
	uint32_t magic;
	uint64_t n_tensors, n_kv, off, cap = 0;
	const struct gguf_kv *akv;
	int rc;

	if (f->size < 4)
		return fail(&c, -EBADMSG, "file too small for a GGUF header (%llu bytes)",
			    (unsigned long long)f->size);
	rc = rd_u32(&c, &magic, "magic");
	if (rc)
		return rc;
	if (magic != GGUF_MAGIC)
		return fail(&c, -EBADMSG, "not a GGUF file (magic 0x%08x at byte 0)", magic);
	rc = rd_u32(&c, &f->version, "version");
	if (rc)
		return rc;
	if (f->version == 1)
		return fail(&c, -EBADMSG, "GGUF version 1 is not supported (re-convert the model)");
	if (f->version == 0x02000000u || f->version == 0x03000000u)
		return fail(&c, -EBADMSG, "big-endian GGUF files are not supported");
	if (f->version != 2 && f->version != 3)
		return fail(&c, -EBADMSG, "unsupported GGUF version %u (need 2 or 3)", f->version);
	rc = rd_u64(&c, &n_tensors, "tensor count");
	if (!rc)
		rc = rd_u64(&c, &n_kv, "metadata count");
	if (rc)
		return rc;
	if (n_kv > left(&c) / MIN_KV_BYTES || n_kv > UINT32_MAX - 1)
		return fail(&c, -EBADMSG, "metadata count %llu cannot fit in the file (size %llu)",
			    (unsigned long long)n_kv, (unsigned long long)c.size);
	if (n_tensors > left(&c) / MIN_TENSOR_BYTES || n_tensors > UINT32_MAX - 1)
		return fail(&c, -EBADMSG, "tensor count %llu cannot fit in the file (size %llu)",
			    (unsigned long long)n_tensors, (unsigned long long)c.size);
	for (uint64_t i = 0; i < n_kv; i++) {
		if (grow(&f->kv, &cap, i + 1, sizeof(*f->kv)))
			return fail(&c, -ENOMEM, "out of memory for %llu keys",
				    (unsigned long long)n_kv);
		f->n_kv = i + 1; /* so cleanup frees what this key allocated */
		rc = parse_kv(&c, f, i);
		if (rc)
			return rc;
	}
	f->n_kv = n_kv;
	if (hash_alloc(n_kv, &pv->kv_hash, &pv->kv_hmask))
		return fail(&c, -ENOMEM, "out of memory for %llu keys", (unsigned long long)n_kv);
	for (uint64_t i = 0; i < n_kv; i++) {
		const struct gguf_kv *kv = &f->kv[i];
		char where[128];

		if (hash_find(pv->kv_hash, pv->kv_hmask, f->kv, sizeof(*kv), kv->key.s,
			      kv->key.len, (int64_t)i) >= 0) {
			kv_where(where, sizeof(where), i, &kv->key);
			return fail(&c, -EBADMSG, "%s: duplicate key", where);
		}
	}

	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	akv = gguf_find_kv(f, "general.alignment");
	if (akv) {
		int64_t si;
		uint64_t ui;
		bool neg;

		if (get_int(akv, &si, &ui, &neg) || neg)
			return fail(&c, -EBADMSG, "general.alignment: must be an unsigned integer "
				    "(is %s)", gguf_type_name(akv->type));
		if (ui == 0 || (ui & (ui - 1)) || ui > (1u << 30))
			return fail(&c, -EBADMSG, "general.alignment = %llu: must be a non-zero "
				    "power of two up to 2^30", (unsigned long long)ui);
		f->alignment = ui;
	}

	cap = 0;
	for (uint64_t i = 0; i < n_tensors; i++) {
		if (grow(&f->tensors, &cap, i + 1, sizeof(*f->tensors)))
			return fail(&c, -ENOMEM, "out of memory for %llu tensors",
				    (unsigned long long)n_tensors);
		rc = parse_tensor(&c, f, i);
		if (rc)
			return rc;
		f->n_tensors = i + 1;
	}
	f->n_tensors = n_tensors;
	if (hash_alloc(n_tensors, &pv->t_hash, &pv->t_hmask))
		return fail(&c, -ENOMEM, "out of memory for %llu tensors",
			    (unsigned long long)n_tensors);
	for (uint64_t i = 0; i < n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];

		if (hash_find(pv->t_hash, pv->t_hmask, f->tensors, sizeof(*t), t->name.s,
			      t->name.len, (int64_t)i) >= 0)
			return fail(&c, -EBADMSG, "tensor %llu '%.*s': duplicate tensor name",
				    (unsigned long long)i,
				    (int)(t->name.len > 80 ? 80 : t->name.len), t->name.s);
	}

	/* data section: aligned end of the directory */
	off = c.pos;
	if (off % f->alignment)
		off += f->alignment - off % f->alignment;
	if (n_tensors && off > f->size)
		return fail(&c, -EBADMSG, "data section at byte %llu beyond end of file (size %llu)",
			    (unsigned long long)off, (unsigned long long)f->size);
	f->data_offset = off;
	for (uint64_t i = 0; i < n_tensors; i++) {
		struct gguf_tensor *t = &f->tensors[i];
		uint64_t rel = t->offset, end;
		int nl = (int)(t->name.len > 80 ? 80 : t->name.len);

		if (rel % f->alignment)
			return fail(&c, -EBADMSG, "tensor %llu '%.*s': offset %llu is not a multiple "
				    "of the alignment %llu", (unsigned long long)i, nl, t->name.s,
				    (unsigned long long)rel, (unsigned long long)f->alignment);
		if (__builtin_add_overflow(rel, off, &t->offset) ||
		    __builtin_add_overflow(t->offset, t->size, &end) || end > f->size)
			return fail(&c, -EBADMSG, "tensor %llu '%.*s': data [%llu, %llu+%llu) beyond "
				    "end of file (size %llu)", (unsigned long long)i, nl,
				    t->name.s, (unsigned long long)off + rel,
				    (unsigned long long)off + rel, (unsigned long long)t->size,
				    (unsigned long long)f->size);
		t->data = f->map + t->offset;
	}
	return 0;
}

static int finish(struct gguf_priv *pv, struct gguf_file **out, char *err, size_t errlen)
{
	int rc = parse(pv, err, errlen);

	if (rc) {
		if (err && errlen && !err[0])
			as_seterr(err, errlen, "malformed GGUF file");
		gguf_close(&pv->pub);
		*out = NULL;
		return rc;
	}
	*out = &pv->pub;
	return 0;
}

int gguf_parse(struct gguf_file **out, const void *buf, size_t size, char *err,
	       size_t errlen)
{
	struct gguf_priv *pv = calloc(1, sizeof(*pv));

	if (err && errlen)
		err[0] = 0;
	*out = NULL;
	if (!pv) {
		if (err && errlen)
			as_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pv->pub.map = buf;
	pv->pub.size = size;
	pv->pub.fd = -1;
	return finish(pv, out, err, errlen);
}

int gguf_open(struct gguf_file **out, const char *path, char *err, size_t errlen)
{
	struct gguf_priv *pv;
	struct stat st;
	void *map;
	int fd, rc;

	if (err && errlen)
		err[0] = 0;
	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		as_seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		as_seterr(err, errlen, "%s: stat: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		as_seterr(err, errlen, "%s: not a regular file", path);
		close(fd);
		return rc;
	}
	if (st.st_size < 24) {
		as_seterr(err, errlen, "%s: file too small for a GGUF header (%lld bytes)", path,
			 (long long)st.st_size);
		close(fd);
		return -EBADMSG;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		as_seterr(err, errlen, "%s: mmap: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	pv = calloc(1, sizeof(*pv));
	if (!pv) {
		munmap(map, (size_t)st.st_size);
		close(fd);
		as_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pv->pub.map = map;
	pv->pub.size = (uint64_t)st.st_size;
	pv->pub.fd = fd;
	pv->pub.owns_map = true;
	rc = finish(pv, out, err, errlen);
	if (rc && err && errlen) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", err);
		as_seterr(err, errlen, "%s: %s", path, tmp);
	}
	return rc;
}

void gguf_close(struct gguf_file *f)
{
	struct gguf_priv *pv;

	if (!f)
		return;
	pv = (struct gguf_priv *)f;
	free_tables(pv);
	if (f->owns_map && f->map)
		munmap((void *)f->map, f->size);
	if (f->fd >= 0)
		close(f->fd);
	free(pv);
}

const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key)
{
	const struct gguf_priv *pv = (const struct gguf_priv *)f;
	int64_t i;

	if (!f || !key || !pv->kv_hash)
		return NULL;
	i = hash_find(pv->kv_hash, pv->kv_hmask, f->kv, sizeof(*f->kv), key, strlen(key), -1);
	return i < 0 || (uint64_t)i >= f->n_kv ? NULL : &f->kv[i];
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
	const struct gguf_priv *pv = (const struct gguf_priv *)f;
	int64_t i;

	if (!f || !name || !pv->t_hash)
		return NULL;
	i = hash_find(pv->t_hash, pv->t_hmask, f->tensors, sizeof(*f->tensors), name,
		      strlen(name), -1);
	return i < 0 || (uint64_t)i >= f->n_tensors ? NULL : &f->tensors[i];
}

/* Any integer scalar as signed/unsigned; neg set when the value is negative. */
static int get_int(const struct gguf_kv *kv, int64_t *si, uint64_t *ui, bool *neg)
{
	const uint8_t *d = kv->data;
	union {
		uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
		uint64_t u64; int64_t i64;
	} v;

	*neg = false;
	switch (kv->type) {
	case GGUF_TYPE_UINT8: memcpy(&v.u8, d, 1); *ui = v.u8; break;
	case GGUF_TYPE_UINT16: memcpy(&v.u16, d, 2); *ui = v.u16; break;
	case GGUF_TYPE_UINT32: memcpy(&v.u32, d, 4); *ui = v.u32; break;
	case GGUF_TYPE_UINT64: memcpy(&v.u64, d, 8); *ui = v.u64; break;
	case GGUF_TYPE_INT8: memcpy(&v.i8, d, 1); *si = v.i8; goto sgn;
	case GGUF_TYPE_INT16: memcpy(&v.i16, d, 2); *si = v.i16; goto sgn;
	case GGUF_TYPE_INT32: memcpy(&v.i32, d, 4); *si = v.i32; goto sgn;
	case GGUF_TYPE_INT64: memcpy(&v.i64, d, 8); *si = v.i64; goto sgn;
	default:
		return -EINVAL;
	}
	*si = *ui > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)*ui;
	return 0;
sgn:
	*neg = *si < 0;
	*ui = *neg ? 0 : (uint64_t)*si;
	return 0;
}

static int find_int(const struct gguf_file *f, const char *key, int64_t *si, uint64_t *ui,
		    bool *neg)
{
	const struct gguf_kv *kv = gguf_find_kv(f, key);

	if (!kv)
		return -ENOENT;
	return get_int(kv, si, ui, neg);
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out)
{
	int64_t si;
	uint64_t ui;
	bool neg;
	int rc = find_int(f, key, &si, &ui, &neg);

	if (rc)
		return rc;
	if (neg || ui > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)ui;
	return 0;
}

int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out)
{
	int64_t si;
	uint64_t ui;
	bool neg;
	int rc = find_int(f, key, &si, &ui, &neg);

	if (rc)
		return rc;
	if (neg)
		return -EINVAL;
	*out = ui;
	return 0;
}

int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out)
{
	int64_t si;
	uint64_t ui;
	bool neg;
	int rc = find_int(f, key, &si, &ui, &neg);

	if (rc)
		return rc;
	if (!neg && ui > INT32_MAX)
		return -EINVAL;
	if (neg && si < INT32_MIN)
		return -EINVAL;
	*out = (int32_t)si;
	return 0;
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out)
{
	const struct gguf_kv *kv = gguf_find_kv(f, key);

	if (!kv)
		return -ENOENT;
	if (kv->type == GGUF_TYPE_FLOAT32) {
		memcpy(out, kv->data, 4);
		return 0;
	}
	if (kv->type == GGUF_TYPE_FLOAT64) {
		double d;

		memcpy(&d, kv->data, 8);
		*out = (float)d;
		return 0;
	}
	return -EINVAL;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out)
{
	const struct gguf_kv *kv = gguf_find_kv(f, key);

	if (!kv)
		return -ENOENT;
	if (kv->type != GGUF_TYPE_BOOL)
		return -EINVAL;
	*out = kv->data[0] != 0;
	return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out)
{
	const struct gguf_kv *kv = gguf_find_kv(f, key);

	if (!kv)
		return -ENOENT;
	if (kv->type != GGUF_TYPE_STRING)
		return -EINVAL;
	out->s = (const char *)kv->data;
	out->len = kv->data_len;
	return 0;
}

int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_type *type,
		 uint64_t *n, const struct gguf_kv **kvp)
{
	const struct gguf_kv *kv = gguf_find_kv(f, key);

	if (!kv)
		return -ENOENT;
	if (kv->type != GGUF_TYPE_ARRAY)
		return -EINVAL;
	if (type)
		*type = kv->arr_type;
	if (n)
		*n = kv->arr_n;
	if (kvp)
		*kvp = kv;
	return 0;
}

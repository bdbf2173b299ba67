// SPDX-License-Identifier: MIT
/*
 * Streaming GGUF v3 writer.
 *
 * Metadata and the tensor directory are collected in memory (they are small), then
 * gguf_w_begin() writes them and gguf_w_data() streams the tensor data in declaration
 * order through a 4 MiB buffer, inserting the alignment padding between tensors. Nothing
 * the size of a tensor is ever held here, so multi-GB models are written in constant
 * memory. The first error is sticky: later calls return it.
 */
#include "activeswap/gguf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OBUF_CAP (4u << 20)

struct wtensor {
	char *name;
	enum ggml_type type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t size;
	uint64_t off; /* relative to the data section */
};

struct gguf_writer {
	uint8_t *kv;          /* serialized metadata */
	size_t kv_len, kv_cap;
	uint64_t n_kv;
	char **keys;          /* for duplicate detection */
	struct wtensor *t;
	uint64_t n_t, cap_t;
	uint64_t alignment;
	uint64_t data_size;   /* bytes of the data section incl. padding */
	/* streaming state */
	int fd;
	int state;            /* 0 building, 1 writing data, 2 done */
	int err;
	uint64_t cur;         /* tensor being written */
	uint64_t cur_done;    /* bytes of it written */
	uint8_t *obuf;
	size_t olen;
	/* gguf_w_begin_mem: the header goes into mem (mem_cap bytes) instead of fd */
	uint8_t *mem;
	uint64_t mem_cap, mem_len;
};

struct gguf_writer *gguf_writer_new(void)
{
	struct gguf_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->alignment = GGUF_DEFAULT_ALIGNMENT;
	w->fd = -1;
	return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
	if (!w)
		return;
	for (uint64_t i = 0; i < w->n_kv; i++)
		free(w->keys[i]);
	for (uint64_t i = 0; i < w->n_t; i++)
		free(w->t[i].name);
	free(w->keys);
	free(w->t);
	free(w->kv);
	free(w->obuf);
	free(w);
}

static int kv_put(struct gguf_writer *w, const void *p, size_t n)
{
	if (n > SIZE_MAX / 2 - w->kv_len)
		return -EOVERFLOW;
	if (w->kv_len + n > w->kv_cap) {
		size_t cap = w->kv_cap ? w->kv_cap : 4096;
		uint8_t *nb;

		while (cap < w->kv_len + n)
			cap *= 2;
		nb = realloc(w->kv, cap);
		if (!nb)
			return -ENOMEM;
		w->kv = nb;
		w->kv_cap = cap;
	}
	if (n)
		memcpy(w->kv + w->kv_len, p, n);
	w->kv_len += n;
	return 0;
}

static int kv_u32(struct gguf_writer *w, uint32_t v)
{
	return kv_put(w, &v, 4);
}

static int kv_u64(struct gguf_writer *w, uint64_t v)
{
	return kv_put(w, &v, 8);
}

static int kv_strn(struct gguf_writer *w, const char *s, size_t n)
{
	int rc = kv_u64(w, n);

	return rc ? rc : kv_put(w, s, n);
}

/* Start a key: checks state, duplicates; appends key and type. */
static int kv_begin(struct gguf_writer *w, const char *key, enum gguf_type type)
{
	char **nk;
	int rc;

	if (!w || !key || !*key)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (w->state != 0)
		return -EBUSY;
	for (uint64_t i = 0; i < w->n_kv; i++)
		if (!strcmp(w->keys[i], key))
			return -EEXIST;
	nk = realloc(w->keys, (w->n_kv + 1) * sizeof(*nk));
	if (!nk)
		return -ENOMEM;
	w->keys = nk;
	nk[w->n_kv] = strdup(key);
	if (!nk[w->n_kv])
		return -ENOMEM;
	w->n_kv++;
	rc = kv_strn(w, key, strlen(key));
	if (!rc)
		rc = kv_u32(w, (uint32_t)type);
	if (rc)
		w->err = rc; /* the buffer is now inconsistent */
	return rc;
}

static size_t scalar_size(enum gguf_type t)
{
	switch (t) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL:
		return 1;
	case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
		return 2;
	case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32:
		return 4;
	case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64:
		return 8;
	default:
		return 0;
	}
}

static int sticky(struct gguf_writer *w, int rc)
{
	if (rc && !w->err)
		w->err = rc;
	return rc;
}

int gguf_w_scalar(struct gguf_writer *w, const char *key, enum gguf_type type, const void *v)
{
	size_t n = scalar_size(type);
	int rc;

	if (!n || !v)
		return -EINVAL;
	if (type == GGUF_TYPE_BOOL && *(const uint8_t *)v > 1)
		return -EINVAL;
	if (!strcmp(key ? key : "", "general.alignment")) {
		uint64_t a = 0;

		if (type != GGUF_TYPE_UINT32)
			return -EINVAL;
		memcpy(&a, v, 4);
		if (!a || (a & (a - 1)) || a > (1u << 30))
			return -EINVAL;
		if (w && w->state == 0 && !w->err)
			w->alignment = a;
	}
	rc = kv_begin(w, key, type);
	if (rc)
		return rc;
	return sticky(w, kv_put(w, v, n));
}

int gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	return gguf_w_scalar(w, key, GGUF_TYPE_UINT32, &v);
}

int gguf_w_i32(struct gguf_writer *w, const char *key, int32_t v)
{
	return gguf_w_scalar(w, key, GGUF_TYPE_INT32, &v);
}

int gguf_w_f32(struct gguf_writer *w, const char *key, float v)
{
	return gguf_w_scalar(w, key, GGUF_TYPE_FLOAT32, &v);
}

int gguf_w_bool(struct gguf_writer *w, const char *key, bool v)
{
	uint8_t b = v;

	return gguf_w_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

int gguf_w_str(struct gguf_writer *w, const char *key, const char *v)
{
	int rc;

	if (!v)
		return -EINVAL;
	rc = kv_begin(w, key, GGUF_TYPE_STRING);
	if (rc)
		return rc;
	return sticky(w, kv_strn(w, v, strlen(v)));
}

int gguf_w_arr(struct gguf_writer *w, const char *key, enum gguf_type elem_type,
	       const void *data, uint64_t n)
{
	size_t es = scalar_size(elem_type);
	uint64_t bytes;
	int rc;

	if (!es || (n && !data))
		return -EINVAL;
	if (__builtin_mul_overflow(n, (uint64_t)es, &bytes) || bytes > SIZE_MAX / 4)
		return -EOVERFLOW;
	rc = kv_begin(w, key, GGUF_TYPE_ARRAY);
	if (rc)
		return rc;
	rc = kv_u32(w, (uint32_t)elem_type);
	if (!rc)
		rc = kv_u64(w, n);
	if (!rc)
		rc = kv_put(w, data, (size_t)bytes);
	return sticky(w, rc);
}

int gguf_w_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
		   uint64_t n)
{
	int rc;

	if (n && !v)
		return -EINVAL;
	for (uint64_t i = 0; i < n; i++)
		if (!v[i])
			return -EINVAL;
	rc = kv_begin(w, key, GGUF_TYPE_ARRAY);
	if (rc)
		return rc;
	rc = kv_u32(w, GGUF_TYPE_STRING);
	if (!rc)
		rc = kv_u64(w, n);
	for (uint64_t i = 0; !rc && i < n; i++)
		rc = kv_strn(w, v[i], strlen(v[i]));
	return sticky(w, rc);
}

int gguf_w_tensor(struct gguf_writer *w, const char *name, enum ggml_type type,
		  uint32_t n_dims, const uint64_t *ne)
{
	struct wtensor *t;
	uint64_t size, rows = 1;
	int rc;

	if (!w || !name || !*name || strlen(name) > 1024 || !ne || n_dims < 1 ||
	    n_dims > GGUF_MAX_DIMS)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (w->state != 0)
		return -EBUSY;
	for (uint32_t d = 0; d < n_dims; d++) {
		if (!ne[d] || ne[d] > (uint64_t)INT64_MAX)
			return -EINVAL;
		if (d && __builtin_mul_overflow(rows, ne[d], &rows))
			return -EOVERFLOW;
	}
	rc = as_row_bytes(type, ne[0], &size);
	if (rc)
		return rc;
	if (__builtin_mul_overflow(size, rows, &size))
		return -EOVERFLOW;
	for (uint64_t i = 0; i < w->n_t; i++)
		if (!strcmp(w->t[i].name, name))
			return -EEXIST;
	if (w->n_t == w->cap_t) {
		uint64_t cap = w->cap_t ? w->cap_t * 2 : 64;
		struct wtensor *nt = realloc(w->t, cap * sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		w->t = nt;
		w->cap_t = cap;
	}
	t = &w->t[w->n_t];
	memset(t, 0, sizeof(*t));
	t->name = strdup(name);
	if (!t->name)
		return -ENOMEM;
	t->type = type;
	t->n_dims = n_dims;
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	t->size = size;
	return (int)w->n_t++;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = write(fd, b, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* into the memory sink, bounds-checked */
static int write_mem(struct gguf_writer *w, const void *p, size_t n)
{
	if (n > w->mem_cap - w->mem_len)
		return -ENOSPC;
	memcpy(w->mem + w->mem_len, p, n);
	w->mem_len += n;
	return 0;
}

static int flush(struct gguf_writer *w)
{
	int rc = 0;

	if (w->olen)
		rc = w->mem ? write_mem(w, w->obuf, w->olen) : write_all(w->fd, w->obuf, w->olen);
	w->olen = 0;
	return sticky(w, rc);
}

static int out(struct gguf_writer *w, const void *p, size_t n)
{
	int rc;

	if (n >= OBUF_CAP) {
		rc = flush(w);
		return rc ? rc : sticky(w, w->mem ? write_mem(w, p, n) : write_all(w->fd, p, n));
	}
	if (w->olen + n > OBUF_CAP) {
		rc = flush(w);
		if (rc)
			return rc;
	}
	memcpy(w->obuf + w->olen, p, n);
	w->olen += n;
	return 0;
}

static int out_zero(struct gguf_writer *w, uint64_t n)
{
	static const uint8_t zero[256];
	int rc = 0;

	while (n && !rc) {
		size_t k = n > sizeof(zero) ? sizeof(zero) : (size_t)n;

		rc = out(w, zero, k);
		n -= k;
	}
	return rc;
}

static uint64_t pad_to(uint64_t x, uint64_t a)
{
	return (a - x % a) % a;
}

/* The tensors' offsets in the data section, its size and the header's (metadata,
 * directory and padding) into *hdr_len. 0 or -EOVERFLOW. */
static int layout(struct gguf_writer *w, uint64_t *hdr_len)
{
	uint64_t off = 0, pos = 24 + w->kv_len;

	for (uint64_t i = 0; i < w->n_t; i++) {
		w->t[i].off = off;
		if (__builtin_add_overflow(off, w->t[i].size, &off) ||
		    __builtin_add_overflow(off, pad_to(off, w->alignment), &off))
			return -EOVERFLOW;
		pos += 8 + strlen(w->t[i].name) + 4 + 8 * w->t[i].n_dims + 4 + 8;
	}
	w->data_size = off;
	*hdr_len = pos + pad_to(pos, w->alignment);
	return 0;
}

int gguf_w_size(struct gguf_writer *w, uint64_t *size)
{
	uint64_t hdr;
	int rc;

	if (!w || !size)
		return -EINVAL;
	if (w->err)
		return w->err;
	rc = layout(w, &hdr);
	if (!rc && __builtin_add_overflow(hdr, w->data_size, size))
		rc = -EOVERFLOW;
	return rc;
}

int gguf_w_begin(struct gguf_writer *w, int fd)
{
	uint32_t hdr32[2] = { GGUF_MAGIC, 3 };
	uint64_t pos;
	int rc;

	if (!w || (fd < 0 && !w->mem))
		return -EINVAL;
	if (w->err)
		return w->err;
	if (w->state != 0)
		return -EBUSY;
	w->obuf = malloc(OBUF_CAP);
	if (!w->obuf)
		return sticky(w, -ENOMEM);
	w->fd = fd;
	w->state = 1;
	rc = layout(w, &pos);
	if (rc)
		return sticky(w, rc);
	rc = out(w, hdr32, sizeof(hdr32));
	if (!rc)
		rc = out(w, &w->n_t, 8);
	if (!rc)
		rc = out(w, &w->n_kv, 8);
	if (!rc)
		rc = out(w, w->kv, w->kv_len);
	pos = 24 + w->kv_len;
	for (uint64_t i = 0; !rc && i < w->n_t; i++) {
		struct wtensor *t = &w->t[i];
		uint64_t len = strlen(t->name);
		uint32_t u = t->n_dims;

		rc = out(w, &len, 8);
		if (!rc)
			rc = out(w, t->name, len);
		if (!rc)
			rc = out(w, &u, 4);
		if (!rc)
			rc = out(w, t->ne, 8 * t->n_dims);
		u = (uint32_t)t->type;
		if (!rc)
			rc = out(w, &u, 4);
		if (!rc)
			rc = out(w, &t->off, 8);
		pos += 8 + len + 4 + 8 * t->n_dims + 4 + 8;
	}
	if (!rc)
		rc = out_zero(w, pad_to(pos, w->alignment));
	w->cur = 0;
	w->cur_done = 0;
	return rc;
}

int gguf_w_begin_mem(struct gguf_writer *w, void *buf, uint64_t cap, uint64_t *hdr_len)
{
	int rc;

	if (!w || !buf || !hdr_len || w->state != 0)
		return -EINVAL;
	w->mem = buf;
	w->mem_cap = cap;
	w->mem_len = 0;
	rc = gguf_w_begin(w, -1);
	if (!rc)
		rc = flush(w);
	*hdr_len = w->mem_len;
	return rc;
}

int gguf_w_data(struct gguf_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	int rc;

	if (!w || (len && !data))
		return -EINVAL;
	if (w->err)
		return w->err;
	if (w->state != 1)
		return -EINVAL;
	while (len) {
		struct wtensor *t;
		uint64_t k;

		if (w->cur >= w->n_t)
			return sticky(w, -EFBIG); /* more data than the directory declares */
		t = &w->t[w->cur];
		k = t->size - w->cur_done;
		if (k > len)
			k = len;
		rc = out(w, p, (size_t)k);
		if (rc)
			return rc;
		p += k;
		len -= (size_t)k;
		w->cur_done += k;
		if (w->cur_done == t->size) {
			rc = out_zero(w, pad_to(t->off + t->size, w->alignment));
			if (rc)
				return rc;
			w->cur++;
			w->cur_done = 0;
		}
	}
	return 0;
}

int gguf_w_end(struct gguf_writer *w)
{
	int rc;

	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (w->state != 1)
		return -EINVAL;
	/* zero-sized tensors cannot exist (ne >= 1), so cur counts completed tensors */
	if (w->cur != w->n_t)
		return sticky(w, -ENODATA);
	rc = flush(w);
	if (rc)
		return rc;
	w->state = 2;
	return 0;
}

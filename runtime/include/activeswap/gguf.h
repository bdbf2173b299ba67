/* SPDX-License-Identifier: MIT */
/*
 * GGUF v2/v3 reader (and the small writer used by mkmodel and the tests).
 *
 * The reader treats the file as hostile: every count, length, dimension and offset is
 * validated with overflow checks before use, and a bad file yields one error message
 * naming the problem (never a crash or a huge allocation). The file is mapped read-only;
 * metadata strings and tensor data are pointers into that mapping, never copies.
 */
#ifndef ACTIVESWAP_GGUF_H
#define ACTIVESWAP_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "activeswap/quant.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT
};

/* A string inside the mapping: NOT NUL-terminated. */
struct gguf_str {
	const char *s;
	uint64_t len;
};

struct gguf_kv {
	struct gguf_str key;
	enum gguf_type type;      /* GGUF_TYPE_ARRAY for arrays */
	enum gguf_type arr_type;  /* element type when type == GGUF_TYPE_ARRAY */
	uint64_t arr_n;           /* element count when type == GGUF_TYPE_ARRAY */
	/*
	 * scalar: the value bytes (unaligned: memcpy them out, or use the getters);
	 * string: the characters (not NUL-terminated), data_len is the length;
	 * array: the first element (for strings: its u64 length prefix).
	 */
	const uint8_t *data;
	uint64_t data_len;        /* bytes of the value (all elements for arrays) */
	/*
	 * For arrays of strings: the parser builds an index (one entry per element) so
	 * element i is O(1). NULL for other types.
	 */
	struct gguf_str *strs;
};

struct gguf_tensor {
	struct gguf_str name;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];  /* ne[0] is the contiguous (row) dimension; unused = 1 */
	enum ggml_type type;
	uint64_t offset;             /* absolute offset in the file (data_offset + rel) */
	uint64_t size;               /* bytes */
	const void *data;            /* pointer into the mapping (map + offset) */
};

struct gguf_file {
	const uint8_t *map;      /* whole file, read-only */
	uint64_t size;
	int fd;                  /* -1 when parsed from memory */
	bool owns_map;
	uint32_t version;        /* 2 or 3 */
	uint64_t n_kv;
	struct gguf_kv *kv;
	uint64_t n_tensors;
	struct gguf_tensor *tensors;
	uint64_t alignment;
	uint64_t data_offset;    /* start of the tensor data section */
};

/*
 * Open and validate a GGUF file. On failure returns a negative errno and writes a
 * one-line message (without trailing newline) naming the problem into err.
 * -EINVAL/-EBADMSG for malformed content, -ENOENT etc. for I/O problems.
 */
int gguf_open(struct gguf_file **out, const char *path, char *err, size_t errlen);

/* Same validation over a buffer (used by the fuzzer). buf must outlive the result. */
int gguf_parse(struct gguf_file **out, const void *buf, size_t size, char *err,
	       size_t errlen);

void gguf_close(struct gguf_file *f);

const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);

/* Typed getters: 0 on success, -ENOENT when absent, -EINVAL on a type/range mismatch.
 * Integer getters accept any integer key type whose value fits. */
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out);
int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out); /* f32 or f64 */
int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out);
int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out);
/* Arrays: element type and count; data points at the first element in the file. */
int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_type *type,
		 uint64_t *n, const struct gguf_kv **kv);

const char *gguf_type_name(enum gguf_type t);
/* true when s (len bytes) equals the NUL-terminated lit */
bool gguf_str_eq(struct gguf_str s, const char *lit);

/* ---- writer -------------------------------------------------------------------- */
/*
 * Streaming writer: add all metadata and the tensor directory first, then write each
 * tensor's data in directory order. Produces GGUF v3, readable by llama.cpp.
 */
struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);
/*
 * Metadata setters: 0 or a negative errno (-EEXIST duplicate key, -EINVAL bad argument,
 * -EBUSY after gguf_w_begin). "general.alignment" (u32, power of two) also sets the
 * alignment the writer uses.
 */
/* Any scalar type (not STRING/ARRAY); v points at a value of that type. */
int gguf_w_scalar(struct gguf_writer *w, const char *key, enum gguf_type type, const void *v);
int gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_w_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_w_f32(struct gguf_writer *w, const char *key, float v);
int gguf_w_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_w_str(struct gguf_writer *w, const char *key, const char *v);
/* Arrays of numbers (elem_type not STRING/ARRAY) copy n elements from data. */
int gguf_w_arr(struct gguf_writer *w, const char *key, enum gguf_type elem_type,
	       const void *data, uint64_t n);
int gguf_w_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
		   uint64_t n);
/* Declare a tensor (ne[0] contiguous); returns its index or a negative errno. */
int gguf_w_tensor(struct gguf_writer *w, const char *name, enum ggml_type type,
		  uint32_t n_dims, const uint64_t *ne);
/* Write header + metadata + directory to fd; then call gguf_w_data for each tensor in
 * declaration order with exactly its size in bytes (may be called in pieces). */
int gguf_w_begin(struct gguf_writer *w, int fd);
int gguf_w_data(struct gguf_writer *w, const void *data, size_t len);
int gguf_w_end(struct gguf_writer *w); /* checks every tensor was fully written */
/* The whole file's size (header, directory, padding, tensor data) once everything is
 * declared: 0, or -EOVERFLOW / the writer's first error. */
int gguf_w_size(struct gguf_writer *w, uint64_t *size);
/* gguf_w_begin into memory: header, metadata, directory and padding into buf (cap
 * bytes, -ENOSPC beyond); *hdr_len gets their length, where the tensor data starts.
 * The data is then the caller's to place (at hdr_len plus each tensor's offset, as in
 * the file gguf_w_begin would write); gguf_w_data is not for this mode. */
int gguf_w_begin_mem(struct gguf_writer *w, void *buf, uint64_t cap, uint64_t *hdr_len);

#endif

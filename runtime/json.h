/* SPDX-License-Identifier: MIT */
/*
 * A small JSON reader (RFC 8259) for Hugging Face tokenizer files: the whole document
 * becomes a tree. The input is hostile: nesting deeper than JSON_MAX_DEPTH, invalid
 * escapes or UTF-16 surrogates, control characters in strings, trailing bytes and
 * documents over JSON_MAX_BYTES are one-line errors naming the byte offset. Not
 * installed (runtime/ only).
 */
#ifndef ACTIVESWAP_JSON_H
#define ACTIVESWAP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 64
#define JSON_MAX_BYTES (256u << 20)

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json {
	enum json_type type;
	bool b;
	double num;
	char *s;             /* JSON_STR: decoded UTF-8, NUL-terminated (may hold NULs) */
	size_t len;
	char *key;           /* a member of an object: its name (decoded), else NULL */
	size_t key_len;
	struct json *kids;   /* JSON_ARR elements / JSON_OBJ members, in document order */
	size_t n;
};

/* Parse len bytes. 0, or -EINVAL / -ENOMEM with one line in err. */
int json_parse(const char *buf, size_t len, struct json **out, char *err, size_t errlen);
void json_free(struct json *j);
/* The member of obj named key (the last one when repeated), or NULL. */
const struct json *json_get(const struct json *obj, const char *key);
/* The string of j when it is one, else NULL. */
const char *json_str(const struct json *j);

#endif

// SPDX-License-Identifier: MIT
/* JSON reader; see json.h. A recursive descent parser bounded by JSON_MAX_DEPTH. */
#include "json.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

struct parser {
	const char *p, *end, *start;
	char *err;
	size_t errlen;
	int rc;
};

static int fail(struct parser *ps, const char *what)
{
	if (!ps->rc) {
		if (ps->err && ps->errlen)
			snprintf(ps->err, ps->errlen, "byte %zu: %s", (size_t)(ps->p - ps->start),
				 what);
		ps->rc = -EINVAL;
	}
	return ps->rc;
}

static int nomem(struct parser *ps)
{
	if (!ps->rc) {
		if (ps->err && ps->errlen)
			snprintf(ps->err, ps->errlen, "out of memory");
		ps->rc = -ENOMEM;
	}
	return ps->rc;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
				   *ps->p == '\r'))
		ps->p++;
}

static void free_node(struct json *j)
{
	free(j->s);
	free(j->key);
	for (size_t i = 0; i < j->n; i++)
		free_node(&j->kids[i]);
	free(j->kids);
}

void json_free(struct json *j)
{
	if (!j)
		return;
	free_node(j);
	free(j);
}

static int hex4(struct parser *ps, uint32_t *v)
{
	*v = 0;
	if (ps->end - ps->p < 4)
		return fail(ps, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return fail(ps, "bad \\u escape");
	}
	return 0;
}

/* A string at ps->p (the opening quote) into a malloc'd buffer. */
static int parse_string(struct parser *ps, char **out, size_t *out_len)
{
	const char *q = ps->p + 1;
	size_t cap, o = 0;
	char *s;

	/* the decoded string is never longer than the raw one */
	while (q < ps->end && *q != '"')
		q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
	if (q >= ps->end)
		return fail(ps, "unterminated string");
	cap = (size_t)(q - ps->p);
	s = malloc(cap + 1);
	if (!s)
		return nomem(ps);
	ps->p++;
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p;

		if (c < 0x20) {
			free(s);
			return fail(ps, "control character in a string");
		}
		if (c != '\\') {
			s[o++] = (char)c;
			ps->p++;
			continue;
		}
		ps->p++;
		switch (*ps->p++) {
		case '"': s[o++] = '"'; break;
		case '\\': s[o++] = '\\'; break;
		case '/': s[o++] = '/'; break;
		case 'b': s[o++] = '\b'; break;
		case 'f': s[o++] = '\f'; break;
		case 'n': s[o++] = '\n'; break;
		case 'r': s[o++] = '\r'; break;
		case 't': s[o++] = '\t'; break;
		case 'u': {
			uint32_t v, lo;

			if (hex4(ps, &v))
				break;
			if (v >= 0xdc00 && v <= 0xdfff) {
				fail(ps, "lone low surrogate in \\u escape");
				break;
			}
			if (v >= 0xd800 && v <= 0xdbff) {
				if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
					fail(ps, "high surrogate without its low half");
					break;
				}
				ps->p += 2;
				if (hex4(ps, &lo))
					break;
				if (lo < 0xdc00 || lo > 0xdfff) {
					fail(ps, "high surrogate without its low half");
					break;
				}
				v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
			}
			/* \uXXXX is 6 raw bytes (12 for a pair): never more when encoded */
			o += as_utf8_encode(v, s + o);
			break;
		}
		default:
			fail(ps, "bad escape in a string");
		}
		if (ps->rc) {
			free(s);
			return ps->rc;
		}
	}
	ps->p++;
	s[o] = 0;
	*out = s;
	*out_len = o;
	return 0;
}

static int parse_value(struct parser *ps, struct json *j, int depth);

static int push_kid(struct parser *ps, struct json *j, size_t *cap, struct json *kid)
{
	if (j->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct json *nk = realloc(j->kids, nc * sizeof(*nk));

		if (!nk)
			return nomem(ps);
		j->kids = nk;
		*cap = nc;
	}
	j->kids[j->n++] = *kid;
	return 0;
}

static int parse_container(struct parser *ps, struct json *j, int depth, bool obj)
{
	size_t cap = 0;
	char close = obj ? '}' : ']';

	j->type = obj ? JSON_OBJ : JSON_ARR;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		struct json kid = { 0 };

		skip_ws(ps);
		if (obj) {
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, "expected a member name");
			if (parse_string(ps, &kid.key, &kid.key_len))
				return ps->rc;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				free(kid.key);
				return fail(ps, "expected ':'");
			}
			ps->p++;
		}
		if (parse_value(ps, &kid, depth + 1) || push_kid(ps, j, &cap, &kid)) {
			free_node(&kid);
			return ps->rc;
		}
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			return 0;
		}
		return fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static bool lit(struct parser *ps, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n))
		return false;
	ps->p += n;
	return true;
}

static int parse_number(struct parser *ps, struct json *j)
{
	const char *q = ps->p;
	char buf[64];

	if (q < ps->end && *q == '-')
		q++;
	if (q >= ps->end || *q < '0' || *q > '9')
		return fail(ps, "unexpected character");
	while (q < ps->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' ||
			       *q == 'E' || *q == '+' || *q == '-'))
		q++;
	if ((size_t)(q - ps->p) >= sizeof(buf))
		return fail(ps, "number too long");
	memcpy(buf, ps->p, (size_t)(q - ps->p));
	buf[q - ps->p] = 0;
	{
		char *e;

		j->num = strtod(buf, &e);
		if (*e)
			return fail(ps, "bad number");
	}
	j->type = JSON_NUM;
	ps->p = q;
	return 0;
}

static int parse_value(struct parser *ps, struct json *j, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return fail(ps, "nested too deep");
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end of the document");
	switch (*ps->p) {
	case '{':
		return parse_container(ps, j, depth, true);
	case '[':
		return parse_container(ps, j, depth, false);
	case '"':
		j->type = JSON_STR;
		return parse_string(ps, &j->s, &j->len);
	default:
		break;
	}
	if (lit(ps, "null")) {
		j->type = JSON_NULL;
		return 0;
	}
	if (lit(ps, "true") || lit(ps, "false")) {
		j->type = JSON_BOOL;
		j->b = ps->p[-1] == 'e' && ps->p[-2] == 'u';
		return 0;
	}
	return parse_number(ps, j);
}

int json_parse(const char *buf, size_t len, struct json **out, char *err, size_t errlen)
{
	struct parser ps = { .p = buf, .end = buf + len, .start = buf, .err = err,
			     .errlen = errlen };
	struct json *j;

	*out = NULL;
	if (len > JSON_MAX_BYTES) {
		if (err && errlen)
			snprintf(err, errlen, "document of %zu bytes (at most %u)", len,
				 JSON_MAX_BYTES);
		return -EINVAL;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return nomem(&ps);
	if (!parse_value(&ps, j, 0)) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			fail(&ps, "trailing bytes after the document");
	}
	if (ps.rc) {
		json_free(j);
		return ps.rc;
	}
	*out = j;
	return 0;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	const struct json *r = NULL;
	size_t n = strlen(key);

	if (!obj || obj->type != JSON_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (obj->kids[i].key_len == n && !memcmp(obj->kids[i].key, key, n))
			r = &obj->kids[i];
	return r;
}

const char *json_str(const struct json *j)
{
	return j && j->type == JSON_STR ? j->s : NULL;
}

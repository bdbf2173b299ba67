// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the byte-level BPE tokenizer and the JSON reader.
 *
 * Input: byte 0 picks the pre-tokenizer (0..3, or an unknown name) and the options; then
 * NUL-separated fields: tokens until an empty field, merges until an empty field, the
 * rest is the text. The 256 byte-level characters are always ids 0..255; a fuzzed token
 * "<...>" is a control token, "#..." user-defined. The vocabulary either fails with a
 * message or tokenizes the text (with and without special tokens) into ids inside the
 * vocabulary that detokenize without fault. The whole input is also given to the JSON
 * reader (which must fail with a message or give a tree). Built and run by
 * tests/fuzz/run.sh.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/tokenizer.h"
#include "../../runtime/json.h"

#define MAX_FIELDS 4096

static void byte_char(int b, char *out)
{
	int k = 0, c = b;

	if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
		for (int i = 0; i < b; i++)
			if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174))
				k++;
		c = 256 + k;
	}
	if (c < 128) {
		out[0] = (char)c;
		out[1] = 0;
	} else {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		out[2] = 0;
	}
}

static void walk(const struct json *j, int depth)
{
	if (depth > JSON_MAX_DEPTH + 1)
		abort();
	if (j->type == JSON_STR && (!j->s || j->s[j->len]))
		abort();
	for (size_t i = 0; i < j->n; i++)
		walk(&j->kids[i], depth + 1);
}

static void fuzz_json(const uint8_t *data, size_t size)
{
	struct json *j;
	char err[200] = "";

	if (json_parse((const char *)data, size, &j, err, sizeof(err))) {
		if (!err[0])
			abort();
		return;
	}
	walk(j, 0);
	json_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pres[] = { "default", "gpt-2", "llama-bpe", "qwen2", "nope" };
	static char bytes[256][4];
	const char **text = NULL;
	size_t *len = NULL, nt = 256, nm = 0, p = 1, tl;
	const char **merges = NULL;
	size_t *mlen = NULL;
	int32_t *types = NULL;
	struct as_tokenizer *t = NULL;
	struct as_vocab_desc d = { .bos = -1, .eos = -1, .unk = -1, .bpe = true };
	char err[256] = "";
	const char *s = (const char *)data;
	int phase = 0;

	fuzz_json(data, size);
	if (size < 1)
		return 0;
	text = malloc((256 + MAX_FIELDS) * sizeof(*text));
	len = malloc((256 + MAX_FIELDS) * sizeof(*len));
	types = malloc((256 + MAX_FIELDS) * sizeof(*types));
	merges = malloc(MAX_FIELDS * sizeof(*merges));
	mlen = malloc(MAX_FIELDS * sizeof(*mlen));
	if (!text || !len || !types || !merges || !mlen)
		abort();
	for (int b = 0; b < 256; b++) {
		byte_char(b, bytes[b]);
		text[b] = bytes[b];
		len[b] = strlen(bytes[b]);
		types[b] = AS_TOKEN_NORMAL;
	}
	while (phase < 2 && p < size) {
		const char *z = memchr(s + p, 0, size - p);
		size_t fl = z ? (size_t)(z - (s + p)) : size - p;

		if (!fl) {
			phase++;
		} else if (phase == 0 && nt < 256 + MAX_FIELDS) {
			text[nt] = s + p;
			len[nt] = fl;
			types[nt] = s[p] == '<' && s[p + fl - 1] == '>' ? AS_TOKEN_CONTROL :
				    s[p] == '#' ? AS_TOKEN_USER_DEFINED : AS_TOKEN_NORMAL;
			nt++;
		} else if (phase == 1 && nm < MAX_FIELDS) {
			merges[nm] = s + p;
			mlen[nm] = fl;
			nm++;
		}
		p += fl + 1;
	}
	d.n_vocab = (uint32_t)nt;
	d.text = text;
	d.text_len = len;
	d.types = types;
	d.pre = pres[(data[0] & 7) % 5];
	d.merges = merges;
	d.merges_len = mlen;
	d.n_merges = nm;
	d.bos = (data[0] & 8) ? (int32_t)(nt - 1) : -1;
	d.eos = d.bos;
	if (as_tokenizer_new(&t, &d, err, sizeof(err))) {
		if (!err[0] || t)
			abort();
		goto out;
	}
	tl = p < size ? size - p : 0;
	for (int special = 0; special < 2; special++) {
		struct as_tokenize_opts o = { .add_bos = data[0] & 16, .parse_special = special };
		int32_t *ids;
		size_t n, dl;
		char *dt;

		if (as_tokenize_ex(t, s + (size - tl), tl, &o, &ids, &n))
			abort();
		for (size_t i = 0; i < n; i++)
			if (ids[i] < 0 || (uint32_t)ids[i] >= nt)
				abort();
		dt = as_detokenize(t, ids, n, false, &dl);
		if (!dt)
			abort();
		free(dt);
		free(ids);
	}
out:
	as_tokenizer_free(t);
	free(text);
	free(len);
	free(types);
	free(merges);
	free(mlen);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the GGUF reader: any input either fails with a non-empty
 * message or yields a file whose every key, string and tensor lies inside the input.
 * libFuzzer hands over an exactly sized heap copy, so ASan flags any read past it; the
 * checks below touch the first and last byte of everything the parser points at. A
 * file that parses also goes through the tokenizer loader (SentencePiece or byte-level
 * BPE from tokenizer.ggml.*): it fails with a message or tokenizes a short text.
 * Built and run by tests/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/gguf.h"
#include "activeswap/tokenizer.h"

static volatile uint8_t sink;

static void touch(const void *p, uint64_t n, const uint8_t *base, size_t size)
{
	const uint8_t *b = p;

	if (!n)
		return;
	if (b < base || b > base + size || n > (uint64_t)(base + size - b))
		abort();
	sink ^= b[0];
	sink ^= b[n - 1];
}

static void tokenizer(const struct gguf_file *f)
{
	static const char text[] = "Hello <|im_start|> w\xc3\xb6rld's 12345\n\n  \xe4\xbd\xa0";
	struct as_tokenize_opts o = { .add_bos = true, .parse_special = true };
	struct as_tokenizer *t;
	char err[512] = "";
	int32_t *ids;
	size_t n;

	if (as_tokenizer_load(&t, f, err, sizeof(err))) {
		if (!err[0] || !memchr(err, 0, sizeof(err)))
			abort();
		return;
	}
	if (as_tokenize_ex(t, text, sizeof(text) - 1, &o, &ids, &n))
		abort();
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= as_tokenizer_n_vocab(t))
			abort();
	free(ids);
	as_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_file *f;
	char err[512], name[1100];
	int rc;

	err[0] = 0;
	rc = gguf_parse(&f, data, size, err, sizeof(err));
	if (rc) {
		if (rc >= 0 || !err[0] || !memchr(err, 0, sizeof(err)))
			abort();
		return 0;
	}
	if (f->version != 2 && f->version != 3)
		abort();
	if (!f->alignment || (f->alignment & (f->alignment - 1)))
		abort();
	for (uint64_t i = 0; i < f->n_kv; i++) {
		const struct gguf_kv *kv = &f->kv[i];
		uint32_t u32;
		uint64_t u64;
		int32_t i32;
		float fl;
		bool b;
		struct gguf_str s;

		touch(kv->key.s, kv->key.len, data, size);
		touch(kv->data, kv->data_len, data, size);
		if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING) {
			if (!kv->strs)
				abort();
			for (uint64_t j = 0; j < kv->arr_n; j++)
				touch(kv->strs[j].s, kv->strs[j].len, data, size);
		}
		if (kv->key.len >= sizeof(name) || memchr(kv->key.s, 0, kv->key.len))
			continue;
		memcpy(name, kv->key.s, kv->key.len);
		name[kv->key.len] = 0;
		if (gguf_find_kv(f, name) != kv)
			abort();
		gguf_get_u32(f, name, &u32);
		gguf_get_u64(f, name, &u64);
		gguf_get_i32(f, name, &i32);
		gguf_get_f32(f, name, &fl);
		gguf_get_bool(f, name, &b);
		if (gguf_get_str(f, name, &s) == 0)
			touch(s.s, s.len, data, size);
	}
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];

		if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
			abort();
		if (t->offset < f->data_offset || t->offset % f->alignment)
			abort();
		touch(t->data, t->size, data, size);
		touch(t->name.s, t->name.len, data, size);
		if (t->name.len >= sizeof(name) || memchr(t->name.s, 0, t->name.len))
			continue;
		memcpy(name, t->name.s, t->name.len);
		name[t->name.len] = 0;
		if (gguf_find_tensor(f, name) != t)
			abort();
	}
	tokenizer(f);
	gguf_close(f);
	return 0;
}

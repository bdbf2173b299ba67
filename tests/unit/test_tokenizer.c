// SPDX-License-Identifier: MIT
/* SentencePiece tokenizer: merge order, byte fallback, round trips, real vocabulary. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activeswap/gguf.h"
#include "activeswap/tokenizer.h"

/* ---- a vocabulary built here ------------------------------------------------------ */

/* ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the words below. */
static const struct {
	const char *text;
	float score;
} words[] = {
	{ "\xe2\x96\x81", -5 },       /* 259 "▁" */
	{ "a", -1 },                  /* 260 */
	{ "b", -1 },                  /* 261 */
	{ "c", -1 },                  /* 262 */
	{ "ab", 0 },                  /* 263 */
	{ "bc", 1 },                  /* 264 */
	{ "abc", 2 },                 /* 265 */
	{ "aa", 0 },                  /* 266 */
	{ "\xe2\x96\x81x", 3 },       /* 267 "▁x" */
	{ "x", -1 },                  /* 268 */
	{ "\xc3\xa9", -1 },           /* 269 "é" */
};

#define N_WORDS (sizeof(words) / sizeof(words[0]))
#define N_TEST_VOCAB (259 + N_WORDS)

static struct as_tokenizer *test_vocab(bool with_bytes)
{
	static char bytes[256][8];
	const char *text[N_TEST_VOCAB];
	float scores[N_TEST_VOCAB];
	int32_t types[N_TEST_VOCAB];
	struct as_vocab_desc d = {
		.n_vocab = N_TEST_VOCAB, .text = text, .scores = scores, .types = types,
		.bos = 1, .eos = 2, .unk = 0, .add_bos = true, .add_space_prefix = true,
	};
	struct as_tokenizer *t;
	char err[128];

	text[0] = "<unk>";
	text[1] = "<s>";
	text[2] = "</s>";
	types[0] = AS_TOKEN_UNKNOWN;
	types[1] = types[2] = AS_TOKEN_CONTROL;
	scores[0] = scores[1] = scores[2] = 0;
	for (int b = 0; b < 256; b++) {
		/* Without byte tokens, fill the slots with unreachable names. */
		snprintf(bytes[b], sizeof(bytes[b]), with_bytes ? "<0x%02X>" : "<z%02X>", b);
		text[3 + b] = bytes[b];
		types[3 + b] = with_bytes ? AS_TOKEN_BYTE : AS_TOKEN_USER_DEFINED;
		scores[3 + b] = 0;
	}
	for (size_t i = 0; i < N_WORDS; i++) {
		text[259 + i] = words[i].text;
		scores[259 + i] = words[i].score;
		types[259 + i] = AS_TOKEN_NORMAL;
	}
	assert_int_equal(as_tokenizer_new(&t, &d, err, sizeof(err)), 0);
	return t;
}

static void check_ids(const struct as_tokenizer *t, const char *s, bool bos,
		      const int32_t *want, size_t n_want)
{
	int32_t *ids;
	size_t n;

	assert_int_equal(as_tokenize(t, s, strlen(s), bos, &ids, &n), 0);
	if (n != n_want)
		print_error("'%s': got %zu tokens, want %zu\n", s, n, n_want);
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++) {
		if (ids[i] != want[i])
			print_error("'%s': token %zu is %d, want %d\n", s, i, ids[i], want[i]);
		assert_int_equal(ids[i], want[i]);
	}
	free(ids);
}

static void test_merge_order(void **state)
{
	struct as_tokenizer *t = test_vocab(true);

	(void)state;
	/* "bc" (1) merges before "ab" (0), then "abc" (2): not left-to-right greedy. */
	check_ids(t, "abc", true, (const int32_t[]){ 1, 259, 265 }, 3);
	/* Equal scores: the leftmost pair first. */
	check_ids(t, "aaa", true, (const int32_t[]){ 1, 259, 266, 260 }, 4);
	/* The space prefix merges with the first word when the vocabulary allows. */
	check_ids(t, "x", true, (const int32_t[]){ 1, 267 }, 2);
	check_ids(t, "a x", false, (const int32_t[]){ 259, 260, 267 }, 3);
	/* Empty text: BOS only, no space. */
	check_ids(t, "", true, (const int32_t[]){ 1 }, 1);
	check_ids(t, "", false, NULL, 0);
	as_tokenizer_free(t);
}

static void test_byte_fallback(void **state)
{
	struct as_tokenizer *t = test_vocab(true), *nb = test_vocab(false);

	(void)state;
	/* "é" is a word; "ü" (c3 bc) and "\n" are not: bytes. */
	check_ids(t, "\xc3\xa9", false, (const int32_t[]){ 259, 269 }, 2);
	check_ids(t, "\xc3\xbc\n", false, (const int32_t[]){ 259, 3 + 0xc3, 3 + 0xbc, 3 + 0x0a },
		  4);
	/* Invalid UTF-8 (a lone continuation byte, a truncated lead byte). */
	check_ids(t, "a\x80", false, (const int32_t[]){ 259, 260, 3 + 0x80 }, 3);
	check_ids(t, "a\xe2", false, (const int32_t[]){ 259, 260, 3 + 0xe2 }, 3);
	/* Without byte tokens the unknown id stands in. */
	check_ids(nb, "\n", false, (const int32_t[]){ 259, 0 }, 2);
	as_tokenizer_free(t);
	as_tokenizer_free(nb);
}

static void test_pieces(void **state)
{
	struct as_tokenizer *t = test_vocab(true);
	int32_t ids[] = { 1, 267, 3 + 'Q', 259, 269, 2, 0 };
	size_t len;
	char *s;

	(void)state;
	assert_int_equal(as_token_piece(t, 1, &len)[0], 0);
	assert_int_equal(len, 0);
	assert_memory_equal(as_token_piece(t, 267, &len), " x", 2);
	assert_int_equal(len, 2);
	assert_int_equal(as_token_piece(t, 3 + 0xff, &len)[0], (char)0xff);
	assert_int_equal(len, 1);
	as_token_piece(t, 9999, &len);
	assert_int_equal(len, 0);
	as_token_piece(t, -1, &len);
	assert_int_equal(len, 0);
	s = as_detokenize(t, ids, 7, false, &len);
	assert_string_equal(s, " xQ \xc3\xa9\xe2\x96\x85");
	free(s);
	s = as_detokenize(t, ids, 7, true, &len);
	assert_string_equal(s, "xQ \xc3\xa9\xe2\x96\x85");
	assert_int_equal(len, strlen(s));
	free(s);
	as_tokenizer_free(t);
}

static void check_special(const struct as_tokenizer *t, const char *s, bool bos, bool special,
			  const int32_t *want, size_t n_want)
{
	struct as_tokenize_opts o = { .add_bos = bos, .parse_special = special };
	int32_t *ids;
	size_t n;

	assert_int_equal(as_tokenize_ex(t, s, strlen(s), &o, &ids, &n), 0);
	if (n != n_want)
		print_error("'%s': got %zu tokens, want %zu\n", s, n, n_want);
	assert_int_equal(n, n_want);
	assert_memory_equal(ids, want, n * sizeof(*ids));
	free(ids);
}

/* Special tokens in the text (llama.cpp's partition): a piece of text gets the space
 * prefix when it starts the text or follows a special token. */
static void test_special_tokens(void **state)
{
	struct as_tokenizer *t = test_vocab(true);

	(void)state;
	check_special(t, "</s>a", false, true, (const int32_t[]){ 2, 259, 260 }, 3);
	check_special(t, "a</s>a", true, true, (const int32_t[]){ 1, 259, 260, 2, 259, 260 },
		      6);
	check_special(t, "<s><s>", false, true, (const int32_t[]){ 1, 1 }, 2);
	/* without parse_special: the old path, "<s>" is text */
	check_special(t, "x", true, false, (const int32_t[]){ 1, 267 }, 2);
	check_special(t, "<s>", false, false, (const int32_t[]){ 259, 3 + '<', 3 + 's',
		      3 + '>' }, 4);
	assert_int_equal(as_tokenizer_eot(t), -1);
	assert_true(as_tokenizer_is_eog(t, 2));
	assert_false(as_tokenizer_is_eog(t, 1));
	assert_string_equal(as_tokenizer_model(t), "llama");
	as_tokenizer_free(t);
}

static void test_bad_desc(void **state)
{
	const char *text[] = { "a", "b" };
	struct as_vocab_desc d = { .n_vocab = 2, .text = text, .bos = 5, .eos = -1, .unk = -1 };
	struct as_tokenizer *t = (void *)1;
	char err[128] = "";

	(void)state;
	assert_true(as_tokenizer_new(&t, &d, err, sizeof(err)) < 0);
	assert_null(t);
	assert_true(strlen(err) > 0);
	d.bos = -1;
	d.n_vocab = 0;
	assert_true(as_tokenizer_new(&t, &d, err, sizeof(err)) < 0);
}

/* ---- round trips ------------------------------------------------------------------ */

static uint64_t rng_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static size_t put_utf8(char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (char)(0xc0 | (cp >> 6));
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | (cp >> 12));
		p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | (cp >> 18));
	p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * kind 0: printable ASCII and spaces, 1: any code point, 2: any bytes but ' '. Never
 * "▁". (Invalid UTF-8 right before a space does not round-trip, in llama.cpp either:
 * the escaped space is split between character symbols and comes back as raw bytes.)
 */
static size_t random_text(char *buf, size_t max_chars, int kind)
{
	size_t n = rnd((uint32_t)max_chars + 1), o = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t cp;

		switch (kind) {
		case 0:
			cp = rnd(4) ? 0x20 + rnd(95) : (rnd(2) ? ' ' : '\n');
			o += put_utf8(buf + o, cp);
			break;
		case 1:
			do {
				uint32_t r = rnd(4);

				cp = r == 0 ? rnd(0x80) : r == 1 ? rnd(0x800) : r == 2 ?
					rnd(0x10000) : rnd(0x110000);
			} while ((cp >= 0xd800 && cp < 0xe000) || cp == 0x2581 || cp == 0);
			o += put_utf8(buf + o, cp);
			break;
		default:
			buf[o] = (char)(1 + rnd(255));
			if (buf[o] == ' ')
				buf[o] = 'y';
			if (o >= 2 && !memcmp(buf + o - 2, "\xe2\x96\x81", 3))
				buf[o] = 'z';
			o++;
			break;
		}
	}
	buf[o] = 0;
	return o;
}

static void round_trip(const struct as_tokenizer *t, int kind, int iters)
{
	char buf[4 * 64 + 1];

	for (int it = 0; it < iters; it++) {
		size_t len = random_text(buf, 64, kind), n, dl;
		int32_t *ids;
		char *back;

		assert_int_equal(as_tokenize(t, buf, len, true, &ids, &n), 0);
		assert_true(n >= 1);
		assert_int_equal(ids[0], as_tokenizer_bos(t));
		for (size_t i = 1; i < n; i++)
			assert_true(ids[i] > 0 && (uint32_t)ids[i] < as_tokenizer_n_vocab(t));
		back = as_detokenize(t, ids, n, true, &dl);
		assert_non_null(back);
		if (dl != len || memcmp(back, buf, len))
			print_error("round trip failed (kind %d): '%s' -> '%s'\n", kind, buf,
				    back);
		assert_int_equal(dl, len);
		assert_memory_equal(back, buf, len);
		free(back);
		free(ids);
	}
}

static void test_round_trip_built(void **state)
{
	struct as_tokenizer *t = test_vocab(true);

	(void)state;
	round_trip(t, 0, 300);
	round_trip(t, 1, 300);
	round_trip(t, 2, 300);
	as_tokenizer_free(t);
}

/* ---- the real vocabulary ---------------------------------------------------------- */

static struct as_tokenizer *real_vocab(void)
{
	const char *shared = getenv("AS_SHARED");
	char path[4096], err[256];
	struct gguf_file *f;
	struct as_tokenizer *t;
	FILE *probe;

	if (!shared)
		return NULL;
	snprintf(path, sizeof(path), "%s/models/stories260K.gguf", shared);
	probe = fopen(path, "rb");
	if (!probe)
		return NULL;
	fclose(probe);
	assert_int_equal(gguf_open(&f, path, err, sizeof(err)), 0);
	assert_int_equal(as_tokenizer_load(&t, f, err, sizeof(err)), 0);
	gguf_close(f); /* the tokenizer keeps its own copy */
	return t;
}

static void test_real_golden(void **state)
{
	struct as_tokenizer *t = real_vocab();

	(void)state;
	if (!t)
		skip();
	assert_int_equal(as_tokenizer_n_vocab(t), 512);
	assert_int_equal(as_tokenizer_bos(t), 1);
	assert_int_equal(as_tokenizer_eos(t), 2);
	check_ids(t, "Once upon a time", true, (const int32_t[]){ 1, 403, 407, 261, 378 }, 5);
	as_tokenizer_free(t);
}

static void test_real_round_trip(void **state)
{
	struct as_tokenizer *t = real_vocab();

	(void)state;
	if (!t)
		skip();
	round_trip(t, 0, 500);
	round_trip(t, 1, 300);
	round_trip(t, 2, 300);
	as_tokenizer_free(t);
}

/* A long text must not take quadratic time. */
static void test_real_long_text(void **state)
{
	struct as_tokenizer *t = real_vocab();
	static const char para[] = "Once upon a time, there was a little girl named Lily. "
		"She loved to play outside in the park.\n";
	size_t plen = sizeof(para) - 1, reps = 4000, n, dl;
	char *text, *back;
	int32_t *ids;
	clock_t c0;
	double secs;

	(void)state;
	if (!t)
		skip();
	text = malloc(plen * reps + 1);
	assert_non_null(text);
	for (size_t i = 0; i < reps; i++)
		memcpy(text + i * plen, para, plen);
	text[plen * reps] = 0;
	c0 = clock();
	assert_int_equal(as_tokenize(t, text, plen * reps, true, &ids, &n), 0);
	secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
	assert_true(n > reps * 10);
	/* ~370 KB: well under a second even with sanitizers; quadratic would take minutes. */
	assert_true(secs < 10.0);
	back = as_detokenize(t, ids, n, true, &dl);
	assert_int_equal(dl, plen * reps);
	assert_memory_equal(back, text, dl);
	free(back);
	free(ids);
	free(text);
	as_tokenizer_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_order),
		cmocka_unit_test(test_byte_fallback),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_special_tokens),
		cmocka_unit_test(test_bad_desc),
		cmocka_unit_test(test_round_trip_built),
		cmocka_unit_test(test_real_golden),
		cmocka_unit_test(test_real_round_trip),
		cmocka_unit_test(test_real_long_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

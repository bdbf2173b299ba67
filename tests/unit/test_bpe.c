// SPDX-License-Identifier: MIT
/* Byte-level BPE: pre-tokenizer split rules, merge order, special tokens, hostile
 * vocabularies, round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/tokenizer.h"
#include "../../runtime/tokenizer_impl.h"

/* ---- split rules ------------------------------------------------------------------ */

/* Split s with pre and compare the words with want (NULL-terminated). */
static void check_split(enum as_pretok pre, const char *s, const char *const *want)
{
	size_t n = strlen(s), ncp, nw, start = 0, k;
	uint32_t *cp = malloc((n + 1) * sizeof(*cp));
	size_t *ends = malloc((n + 1) * sizeof(*ends)), *tmp = malloc((n + 1) * sizeof(*tmp));
	char word[256];

	assert_non_null(cp);
	assert_non_null(ends);
	assert_non_null(tmp);
	ncp = as_utf8_decode(s, n, cp);
	nw = as_pretok_split(pre, cp, ncp, ends, tmp);
	for (k = 0; k < nw; k++) {
		size_t wl = 0;

		for (size_t i = start; i < ends[k]; i++)
			wl += as_utf8_encode(cp[i], word + wl);
		word[wl] = 0;
		start = ends[k];
		if (!want[k] || strcmp(word, want[k]))
			print_error("pre %d '%s': word %zu is '%s', want '%s'\n", pre, s, k,
				    word, want[k] ? want[k] : "(end)");
		assert_non_null(want[k]);
		assert_string_equal(word, want[k]);
	}
	if (want[k])
		print_error("pre %d '%s': %zu words, more wanted ('%s')\n", pre, s, k, want[k]);
	assert_null(want[k]);
	free(cp);
	free(ends);
	free(tmp);
}

static const char sample[] = "Hello world's  123456 x\n\n  y";

static void test_split_llama3(void **state)
{
	(void)state;
	check_split(AS_PRE_LLAMA3, sample, (const char *const[]){
		"Hello", " world", "'s", " ", " ", "123", "456", " x", "\n\n", " ", " y",
		NULL });
	/* case-insensitive contractions, a symbol run with its newlines, CJK, emoji */
	check_split(AS_PRE_LLAMA3, "I'M (ok)!\n\nx\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\x8b!",
		    (const char *const[]){ "I", "'M", " (", "ok", ")!\n\n", "x\xe4\xbd\xa0\xe5\xa5\xbd",
		    " \xf0\x9f\x91\x8b!", NULL });
	/* trailing spaces stay one word; a tab before letters joins them */
	check_split(AS_PRE_LLAMA3, "a  ", (const char *const[]){ "a", "  ", NULL });
	check_split(AS_PRE_LLAMA3, "\tif", (const char *const[]){ "\tif", NULL });
}

static void test_split_qwen2(void **state)
{
	(void)state;
	check_split(AS_PRE_QWEN2, sample, (const char *const[]){
		"Hello", " world", "'s", " ", " ", "1", "2", "3", "4", "5", "6", " x", "\n\n",
		" ", " y", NULL });
}

static void test_split_gpt2(void **state)
{
	(void)state;
	check_split(AS_PRE_GPT2, sample, (const char *const[]){
		"Hello", " world", "'s", " ", " 123456", " x", "\n\n ", " y", NULL });
	/* contractions are case-sensitive here */
	check_split(AS_PRE_GPT2, "I'M", (const char *const[]){ "I", "'", "M", NULL });
}

static void test_split_default(void **state)
{
	(void)state;
	/* punctuation runs first, numbers apart from their space, digits by three */
	check_split(AS_PRE_DEFAULT, "a+=b 12345", (const char *const[]){
		"a", "+=", "b", " ", "123", "45", NULL });
}

static void test_pre_names(void **state)
{
	(void)state;
	assert_int_equal(as_pretok_parse("llama-bpe", 9), AS_PRE_LLAMA3);
	assert_int_equal(as_pretok_parse("qwen2", 5), AS_PRE_QWEN2);
	assert_int_equal(as_pretok_parse("gpt-2", 5), AS_PRE_GPT2);
	assert_int_equal(as_pretok_parse("default", 7), AS_PRE_DEFAULT);
	assert_int_equal(as_pretok_parse("qwen", 4), -1);
	assert_int_equal(as_pretok_parse("qwen2x", 6), -1);
}

/* ---- a byte-level vocabulary built here ----------------------------------------------- */

/* GPT-2's byte-to-unicode, written out independently of bpe.c */
static void byte_char(int b, char *out)
{
	int k = 0, c;

	if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) {
		c = b;
	} else {
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

/* ids 0..255: the bytes; then these words, then the specials */
static const char *const extra[] = {
	"el",            /* 256 */
	"he",            /* 257 */
	"hel",           /* 258 */
	"ll",            /* 259 */
	"hell",          /* 260 */
	"hello",         /* 261 */
	"\xc4\xa0w",     /* 262 "Ġw" */
	"or",            /* 263 */
	"<|im_start|>",  /* 264 control */
	"<think>",       /* 265 user-defined */
	"<|endoftext|>", /* 266 control */
};

#define N_EXTRA (sizeof(extra) / sizeof(extra[0]))
#define NV (256 + N_EXTRA)

/* merge texts use the vocabulary's characters; "e l" ranks before "h e" */
static const char *const merges[] = {
	"e l", "h el", "l l", "h e", "hel l", "hell o", "\xc4\xa0 w", "o r",
};

static int new_vocab(struct as_tokenizer **t, const char *pre, const char *const *mg,
		     size_t n_mg, char *err, size_t errlen)
{
	static char bytes[256][4];
	const char *text[NV];
	int32_t types[NV];
	struct as_vocab_desc d = {
		.n_vocab = NV, .text = text, .types = types, .bos = 266, .eos = 266,
		.unk = -1, .bpe = true, .pre = pre, .merges = mg, .n_merges = n_mg,
	};

	for (int b = 0; b < 256; b++) {
		byte_char(b, bytes[b]);
		text[b] = bytes[b];
		types[b] = AS_TOKEN_NORMAL;
	}
	for (size_t i = 0; i < N_EXTRA; i++) {
		text[256 + i] = extra[i];
		types[256 + i] = AS_TOKEN_NORMAL;
	}
	types[264] = types[266] = AS_TOKEN_CONTROL;
	types[265] = AS_TOKEN_USER_DEFINED;
	return as_tokenizer_new(t, &d, err, errlen);
}

static struct as_tokenizer *vocab(const char *pre)
{
	struct as_tokenizer *t;
	char err[160];

	if (new_vocab(&t, pre, merges, sizeof(merges) / sizeof(merges[0]), err, sizeof(err)))
		fail_msg("%s", err);
	return t;
}

static void check(const struct as_tokenizer *t, const char *s, bool special,
		  const int32_t *want, size_t n_want)
{
	struct as_tokenize_opts o = { .add_bos = false, .parse_special = special };
	int32_t *ids;
	size_t n;

	assert_int_equal(as_tokenize_ex(t, s, strlen(s), &o, &ids, &n), 0);
	for (size_t i = 0; i < n && i < n_want; i++)
		if (ids[i] != want[i])
			print_error("'%s': token %zu is %d, want %d\n", s, i, ids[i], want[i]);
	if (n != n_want)
		print_error("'%s': %zu tokens, want %zu\n", s, n, n_want);
	assert_int_equal(n, n_want);
	assert_memory_equal(ids, want, n * sizeof(*ids));
	free(ids);
}

static void test_merges(void **state)
{
	struct as_tokenizer *t = vocab("gpt-2");

	(void)state;
	/* e+l (rank 0) before h+e (rank 3): h el -> hel, l l, hel l? no: "hel" + "l" */
	check(t, "hello", false, (const int32_t[]){ 261 }, 1);
	check(t, "hel", false, (const int32_t[]){ 258 }, 1);
	/* "he" alone: h e (rank 3) */
	check(t, "he", false, (const int32_t[]){ 257 }, 1);
	/* " world": "Ġw" merges, "or" merges, l, d stay bytes */
	check(t, " world", false, (const int32_t[]){ 262, 263, 'l', 'd' }, 4);
	/* a byte with no printable form: '\n' is the 10th moved byte (U+010A) */
	check(t, "\n", false, (const int32_t[]){ '\n' }, 1);
	as_tokenizer_free(t);
}

static void test_ignore_merges(void **state)
{
	/* llama-bpe takes a word that is a token whole, even without a merge path to it */
	static const char *const mg2[] = { "h e" };
	struct as_tokenizer *u;
	char err[160];

	(void)state;
	assert_int_equal(new_vocab(&u, "llama-bpe", mg2, 1, err, sizeof(err)), 0);
	check(u, "hello", false, (const int32_t[]){ 261 }, 1);
	as_tokenizer_free(u);
	assert_int_equal(new_vocab(&u, "gpt-2", mg2, 1, err, sizeof(err)), 0);
	check(u, "hello", false, (const int32_t[]){ 257, 'l', 'l', 'o' }, 4);
	as_tokenizer_free(u);
}

static void test_special(void **state)
{
	struct as_tokenizer *t = vocab("gpt-2");
	struct as_tokenize_opts o = { .add_bos = true, .parse_special = true };
	int32_t *ids;
	size_t n;

	(void)state;
	/* control tokens only when asked; user-defined ones always */
	check(t, "<|im_start|>he", true, (const int32_t[]){ 264, 257 }, 2);
	check(t, "<|im_start|>", false, (const int32_t[]){ '<', '|', 'i', 'm', '_', 's', 't',
	      'a', 'r', 't', '|', '>' }, 12);
	check(t, "he<think>he", false, (const int32_t[]){ 257, 265, 257 }, 3);
	check(t, "<|im_start|><|im_start|>", true, (const int32_t[]){ 264, 264 }, 2);
	/* a user-defined and a control token back to back */
	check(t, "<think><|endoftext|>", true, (const int32_t[]){ 265, 266 }, 2);
	/* as_tokenize never parses control tokens */
	assert_int_equal(as_tokenize(t, "<|endoftext|>", 13, false, &ids, &n), 0);
	assert_true(n > 1);
	free(ids);
	/* BOS from the options; EOT found by name */
	assert_int_equal(as_tokenize_ex(t, "he", 2, &o, &ids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 266);
	free(ids);
	assert_int_equal(as_tokenizer_eot(t), 266);
	assert_true(as_tokenizer_is_eog(t, 266));
	assert_false(as_tokenizer_is_eog(t, 264));
	assert_string_equal(as_tokenizer_model(t), "gpt2");
	as_tokenizer_free(t);
}

static void test_round_trip(void **state)
{
	struct as_tokenizer *t = vocab("llama-bpe");
	const char *texts[] = {
		"hello world", "  spaces\n\n\ttabs  ", "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\x8b",
		"x\x01\x7f\xc2\xa0y", "",
	};
	size_t len, pl;
	char *s;

	(void)state;
	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		int32_t *ids;
		size_t n;

		assert_int_equal(as_tokenize(t, texts[k], strlen(texts[k]), false, &ids, &n), 0);
		s = as_detokenize(t, ids, n, true, &len);
		assert_non_null(s);
		assert_int_equal(len, strlen(texts[k]));
		assert_memory_equal(s, texts[k], len);
		free(s);
		free(ids);
	}
	/* pieces: a byte-level character back to its byte, control tokens print nothing,
	 * user-defined ones their text */
	assert_memory_equal(as_token_piece(t, 262, &pl), " w", 2);
	assert_int_equal(pl, 2);
	as_token_piece(t, 264, &pl);
	assert_int_equal(pl, 0);
	assert_memory_equal(as_token_piece(t, 265, &pl), "<think>", 7);
	as_tokenizer_free(t);
}

static void test_hostile(void **state)
{
	static const char *const unknown[] = { "h e", "x\xc4\xa0 q" };
	static const char *const nospace[] = { "he" };
	static const char *const lead[] = { " he" };
	struct as_tokenizer *t = NULL;
	char err[200];
	char *big;
	const char *text[1];
	struct as_vocab_desc d = { .n_vocab = 1, .text = text, .bos = -1, .eos = -1,
				   .unk = -1, .bpe = true };

	(void)state;
	assert_int_equal(new_vocab(&t, "gpt-2", unknown, 2, err, sizeof(err)), -EINVAL);
	assert_null(t);
	assert_non_null(strstr(err, "merge 1 names a token that is not in the vocabulary"));
	assert_int_equal(new_vocab(&t, "gpt-2", nospace, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "merge 0 has no space"));
	assert_int_equal(new_vocab(&t, "gpt-2", lead, 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(new_vocab(&t, "qwen9", merges, 1, err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "unknown tokenizer.ggml.pre 'qwen9' (supported: default,"));
	/* an absurd token length */
	big = malloc(100000);
	assert_non_null(big);
	memset(big, 'a', 99999);
	big[99999] = 0;
	text[0] = big;
	assert_int_equal(as_tokenizer_new(&t, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "token 0 is 99999 bytes long"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_llama3),
		cmocka_unit_test(test_split_qwen2),
		cmocka_unit_test(test_split_gpt2),
		cmocka_unit_test(test_split_default),
		cmocka_unit_test(test_pre_names),
		cmocka_unit_test(test_merges),
		cmocka_unit_test(test_ignore_merges),
		cmocka_unit_test(test_special),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/* The JSON reader on hostile documents, and Hugging Face tokenizer folders read by
 * as_hf_vocab_load (mkmodel --vocab-from), good and bad. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activeswap/gguf.h"
#include "activeswap/hfvocab.h"
#include "activeswap/mkmodel.h"
#include "activeswap/tokenizer.h"
#include "../../runtime/json.h"

static void bad_json(const char *doc, const char *want)
{
	struct json *j = (struct json *)1;
	char err[160] = "";

	assert_int_equal(json_parse(doc, strlen(doc), &j, err, sizeof(err)), -EINVAL);
	assert_null(j);
	if (!strstr(err, want))
		print_error("'%s': error '%s', want '%s'\n", doc, err, want);
	assert_non_null(strstr(err, want));
}

static void test_json(void **state)
{
	const char *doc = "{\"a\": [1, -2.5e1, true, false, null], \"s\": \"x\\u00e9\\ud83d"
			  "\\udc4b\\n\\\"\", \"a\": {}}";
	struct json *j;
	const struct json *a;
	char err[160], deep[300];

	(void)state;
	assert_int_equal(json_parse(doc, strlen(doc), &j, err, sizeof(err)), 0);
	a = json_get(j, "a");
	assert_int_equal(a->type, JSON_OBJ); /* the last of repeated names */
	assert_string_equal(json_str(json_get(j, "s")), "x\xc3\xa9\xf0\x9f\x91\x8b\n\"");
	assert_int_equal(j->kids[0].n, 5);
	assert_true(j->kids[0].kids[1].num == -25.0);
	assert_true(j->kids[0].kids[2].b);
	assert_false(j->kids[0].kids[3].b);
	json_free(j);

	bad_json("", "unexpected end");
	bad_json("{\"a\" 1}", "expected ':'");
	bad_json("[1 2]", "expected ',' or ']'");
	bad_json("\"abc", "unterminated string");
	bad_json("\"a\\qb\"", "bad escape");
	bad_json("\"\\ud83d\"", "high surrogate without its low half");
	bad_json("\"\\udc4b\"", "lone low surrogate");
	bad_json("\"\\u12\"", "\\u escape");
	bad_json("\"\\u12x4\"", "bad \\u escape");
	bad_json("\"a\tb\"", "control character");
	bad_json("{} x", "trailing bytes");
	bad_json("[tru]", "unexpected character");
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = 0;
	bad_json(deep, "nested too deep");
}

/* ---- tokenizer folders ------------------------------------------------------------- */

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!text) {
		unlink(path);
		return;
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/as-hfvocab.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	put("tokenizer.json", NULL);
	put("tokenizer_config.json", NULL);
	return rmdir(dir);
}

#define QWEN_RE "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| " \
	"?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

/* ids 0..3 and 5 in the vocabulary, 4 missing, 6 and 7 added */
static const char good[] =
	"{\"added_tokens\": [{\"id\": 6, \"content\": \"<|im_end|>\", \"special\": true},"
	" {\"id\": 7, \"content\": \"<think>\", \"special\": false}],"
	" \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\","
	" \"pattern\": {\"Regex\": \"" QWEN_RE "\"}}, {\"type\": \"ByteLevel\","
	" \"use_regex\": false}]},"
	" \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2,"
	" \"\\u0120\": 3, \"\\u0120ab\": 5}, \"merges\": [\"a b\", [\" \", \"ab\"]]}}";

static void test_vocab_good(void **state)
{
	struct as_hf_vocab v;
	char err[256] = "";

	(void)state;
	put("tokenizer.json", good);
	put("tokenizer_config.json", "{\"eos_token\": {\"content\": \"<|im_end|>\"},"
	    " \"bos_token\": null, \"add_bos_token\": false,"
	    " \"chat_template\": [{\"name\": \"tool\", \"template\": \"T\"},"
	    " {\"name\": \"default\", \"template\": \"D\"}]}");
	if (as_hf_vocab_load(&v, dir, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(v.n, 8);
	assert_string_equal(v.tokens[3], "\xc4\xa0");
	assert_string_equal(v.tokens[4], "[PAD4]");
	assert_int_equal(v.types[4], AS_TOKEN_UNUSED);
	assert_int_equal(v.types[6], AS_TOKEN_CONTROL);
	assert_int_equal(v.types[7], AS_TOKEN_USER_DEFINED);
	assert_int_equal(v.types[0], AS_TOKEN_NORMAL);
	assert_int_equal(v.n_merges, 2);
	assert_string_equal(v.merges[0], "a b");
	/* a space inside a pair part is written as U+0120 */
	assert_string_equal(v.merges[1], "\xc4\xa0 ab");
	assert_string_equal(v.pre, "qwen2");
	assert_int_equal(v.eos, 6);
	assert_int_equal(v.bos, -1);
	assert_int_equal(v.add_bos, 0);
	assert_int_equal(v.add_eos, -1);
	assert_string_equal(v.chat_template, "D");
	as_hf_vocab_free(&v);
	/* --pre wins; no tokenizer_config.json is fine */
	put("tokenizer_config.json", NULL);
	assert_int_equal(as_hf_vocab_load(&v, dir, "llama-bpe", err, sizeof(err)), 0);
	assert_string_equal(v.pre, "llama-bpe");
	assert_null(v.chat_template);
	as_hf_vocab_free(&v);
}

/*
 * A SentencePiece-style BPE as Llama 2's tokenizer.json writes it. The merge ranks are not
 * the id order: "b c" (rank 0) makes id 9, "a b" (rank 1) id 8, so scores by id would
 * merge "ab" first where Hugging Face merges "bc".
 */
#define SPM_NORM "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [" \
	"{\"type\": \"Prepend\", \"prepend\": \"\u2581\"}, {\"type\": \"Replace\", " \
	"\"pattern\": {\"String\": \" \"}, \"content\": \"\u2581\"}]}, \"pre_tokenizer\": null"
static const char spm[] =
	"{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
	" {\"id\": 1, \"content\": \"<s>\", \"special\": true},"
	" {\"id\": 2, \"content\": \"</s>\", \"special\": true}], " SPM_NORM ","
	" \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"unk_token\": \"<unk>\","
	" \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"\u2581\": 3, \"a\": 4, \"b\": 5,"
	" \"c\": 6, \"\u2581a\": 7, \"ab\": 8, \"bc\": 9, \"\u2581ab\": 10, \"<0x7A>\": 11},"
	" \"merges\": [\"b c\", \"a b\", [\"\u2581\", \"a\"], \"\u2581a b\"]}}";

static void spm_ids(const struct as_tokenizer *t, const char *text, const int32_t *want,
		    size_t n)
{
	const struct as_tokenize_opts o = { .add_bos = true };
	int32_t *ids = NULL;
	size_t got = 0;

	assert_int_equal(as_tokenize_ex(t, text, strlen(text), &o, &ids, &got), 0);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ids[i], want[i]);
	free(ids);
}

static void test_vocab_spm(void **state)
{
	static const int32_t abc[] = { 1, 7, 9 };    /* ▁a bc, as Hugging Face */
	static const int32_t zab[] = { 1, 3, 11, 8 }; /* ▁ <0x7A> ab: z by byte fallback */
	struct as_mkmodel_params p;
	struct as_tokenizer *t;
	struct as_hf_vocab v;
	struct gguf_file *g;
	char err[256] = "", path[128];

	(void)state;
	put("tokenizer.json", spm);
	put("tokenizer_config.json", "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
	    " \"unk_token\": \"<unk>\", \"add_bos_token\": true}");
	if (as_hf_vocab_load(&v, dir, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(v.spm);
	assert_int_equal(v.n, 12);
	assert_int_equal(v.types[0], AS_TOKEN_UNKNOWN);
	assert_int_equal(v.types[1], AS_TOKEN_CONTROL);
	assert_int_equal(v.types[11], AS_TOKEN_BYTE);
	assert_int_equal(v.types[4], AS_TOKEN_NORMAL);
	assert_true(v.scores[9] == 0.0f && v.scores[8] == -1.0f && v.scores[7] == -2.0f &&
		    v.scores[10] == -3.0f && v.scores[4] == AS_HF_SPM_NO_MERGE);
	assert_int_equal(v.bos, 1);
	assert_int_equal(v.add_bos, 1);
	/* through a GGUF, as mkmodel --vocab-from writes it, to the tokenizer */
	as_mkmodel_params_init(&p);
	p.shape = (struct as_mkmodel_shape){ "tiny", 32, 32, 1, 1, 1, 12, 64, 0 };
	p.type = GGML_TYPE_F32;
	p.threads = 1;
	p.hf_vocab = &v;
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	if (as_mkmodel(&p, path, NULL, err, sizeof(err)))
		fail_msg("mkmodel: %s", err);
	as_hf_vocab_free(&v);
	if (gguf_open(&g, path, err, sizeof(err)) || as_tokenizer_load(&t, g, err, sizeof(err)))
		fail_msg("%s", err);
	spm_ids(t, "abc", abc, 3);
	spm_ids(t, "zab", zab, 4);
	as_tokenizer_free(t);
	gguf_close(g);
	unlink(path);
}

static void bad_vocab(const char *tok, const char *cfg, const char *pre, const char *want)
{
	struct as_hf_vocab v;
	char err[256] = "";

	put("tokenizer.json", tok);
	put("tokenizer_config.json", cfg);
	assert_int_not_equal(as_hf_vocab_load(&v, dir, pre, err, sizeof(err)), 0);
	if (!strstr(err, want))
		print_error("error '%s', want '%s'\n", err, want);
	assert_non_null(strstr(err, want));
	assert_null(v.tokens);
}

static void test_vocab_bad(void **state)
{
	(void)state;
	bad_vocab(NULL, NULL, NULL, "tokenizer.json: No such file");
	bad_vocab("{\"model\": {\"type\": \"WordPiece\"}}", NULL, NULL,
		  "model.type is 'WordPiece', only BPE");
	bad_vocab("{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true}}", NULL, NULL,
		  "SentencePiece-style BPE (byte_fallback) without Llama 2's normalizer");
	bad_vocab("{" SPM_NORM ", \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, "
		  "\"vocab\": {\"a\": 0, \"z\": 1}, \"merges\": [\"a z\"]}}", NULL, NULL,
		  "merge 0 makes 'az', which is not in the vocabulary");
	bad_vocab("{" SPM_NORM ", \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, "
		  "\"vocab\": {\"a\": 0, \"z\": 1}, \"merges\": [\"az\"]}}", NULL, NULL,
		  "merges entry 0 is neither");
	bad_vocab(spm, NULL, "llama-bpe", "--pre names byte-level BPE split rules");
	bad_vocab("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
		  NULL, NULL, "model.vocab entry 0 has a bad id");
	bad_vocab("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1e9}, \"merges\": []}}",
		  NULL, NULL, "model.vocab entry 0 has a bad id");
	bad_vocab("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, "
		  "\"merges\": []}}", NULL, NULL, "gives id 0 twice");
	bad_vocab("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\\u0000\": 0}, "
		  "\"merges\": []}}", NULL, NULL, "entry 0 is not a usable string");
	bad_vocab("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[1]]}}",
		  NULL, NULL, "merges entry 0 is neither");
	bad_vocab("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
		  NULL, NULL, "not a byte-level BPE");
	bad_vocab("{\"decoder\": {\"type\": \"ByteLevel\"}, \"pre_tokenizer\": {\"type\": "
		  "\"Split\", \"pattern\": {\"Regex\": \"x\"}}, \"model\": {\"type\": \"BPE\", "
		  "\"vocab\": {\"a\": 0}, \"merges\": []}}", NULL, NULL,
		  "unrecognised pre-tokenizer split rules; name them with --pre");
	bad_vocab(good, NULL, "qwen9", "unknown pre-tokenizer 'qwen9'");
	bad_vocab(good, "{\"eos_token\": \"<nope>\"}", NULL,
		  "eos_token is not a token of tokenizer.json");
	bad_vocab(good, "{\"eos_token\": ", NULL, "tokenizer_config.json: byte 14");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_vocab_good),
		cmocka_unit_test(test_vocab_spm),
		cmocka_unit_test(test_vocab_bad),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

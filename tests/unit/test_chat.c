// SPDX-License-Identifier: MIT
/* Chat templates: each family formats a conversation byte for byte as llama.cpp's
 * llama_chat_apply_template does (fixtures below), and tokenizer.chat_template texts are
 * recognised as llama.cpp recognises them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "activeswap/chat.h"

struct fixture {
	const char *name;
	const char *a; /* conversation A, assistant prefix added */
	const char *b; /* conversation B, no assistant prefix */
};

struct detect_case {
	const char *text;
	const char *name;
};

/* Made with llama.cpp (ggerganov, c392e509, Feb 2025) through ref-chat, a helper over
 * llama_chat_apply_template (outside the repo):
 *   A: ref-chat --tmpl NAME system=' You are helpful. ' user='Hi there' \
 *        assistant=' Hello! ' user=$'Bye\nnow '
 *   B: ref-chat --tmpl NAME --no-add-ass user=$'\tWhat is 2+2?' assistant=$'4\n'
 */
static const struct fixture fixtures[] = {
	{ "chatml",
	  "<|im_start|>system\n"
	  " You are helpful. <|im_end|>\n"
	  "<|im_start|>user\n"
	  "Hi there<|im_end|>\n"
	  "<|im_start|>assistant\n"
	  " Hello! <|im_end|>\n"
	  "<|im_start|>user\n"
	  "Bye\n"
	  "now <|im_end|>\n"
	  "<|im_start|>assistant\n",
	  "<|im_start|>user\n"
	  "\tWhat is 2+2?<|im_end|>\n"
	  "<|im_start|>assistant\n"
	  "4\n"
	  "<|im_end|>\n" },
	{ "llama2",
	  "[INST]  You are helpful. \n"
	  "Hi there [/INST] Hello! </s>[INST] Bye\n"
	  "now  [/INST]",
	  "[INST] \tWhat is 2+2? [/INST]4\n"
	  "</s>" },
	{ "llama2-sys",
	  "[INST] <<SYS>>\n"
	  " You are helpful. \n"
	  "<</SYS>>\n"
	  "\n"
	  "Hi there [/INST] Hello! </s>[INST] Bye\n"
	  "now  [/INST]",
	  "[INST] \tWhat is 2+2? [/INST]4\n"
	  "</s>" },
	{ "llama2-sys-bos",
	  "[INST] <<SYS>>\n"
	  " You are helpful. \n"
	  "<</SYS>>\n"
	  "\n"
	  "Hi there [/INST] Hello! </s><s>[INST] Bye\n"
	  "now  [/INST]",
	  "[INST] \tWhat is 2+2? [/INST]4\n"
	  "</s>" },
	{ "llama2-sys-strip",
	  "[INST] <<SYS>>\n"
	  "You are helpful.\n"
	  "<</SYS>>\n"
	  "\n"
	  "Hi there [/INST]Hello!</s>[INST] Bye\n"
	  "now [/INST]",
	  "[INST] What is 2+2? [/INST]4</s>" },
	{ "llama3",
	  "<|start_header_id|>system<|end_header_id|>\n"
	  "\n"
	  "You are helpful.<|eot_id|><|start_header_id|>user<|end_heade"
	  "r_id|>\n"
	  "\n"
	  "Hi there<|eot_id|><|start_header_id|>assistant<|end_header_i"
	  "d|>\n"
	  "\n"
	  "Hello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
	  "\n"
	  "Bye\n"
	  "now<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
	  "\n",
	  "<|start_header_id|>user<|end_header_id|>\n"
	  "\n"
	  "What is 2+2?<|eot_id|><|start_header_id|>assistant<|end_head"
	  "er_id|>\n"
	  "\n"
	  "4<|eot_id|>" },
	{ "mistral-v1",
	  " [INST]  You are helpful. \n"
	  "\n"
	  "Hi there [/INST]  Hello! </s> [INST] Bye\n"
	  "now  [/INST]",
	  " [INST] \tWhat is 2+2? [/INST] 4\n"
	  "</s>" },
	{ "mistral-v3",
	  "[INST]  You are helpful. \n"
	  "\n"
	  "Hi there[/INST] Hello!</s>[INST] Bye\n"
	  "now [/INST]",
	  "[INST] \tWhat is 2+2?[/INST] 4</s>" },
	{ "mistral-v3-tekken",
	  "[INST] You are helpful. \n"
	  "\n"
	  "Hi there[/INST] Hello! </s>[INST]Bye\n"
	  "now [/INST]",
	  "[INST]\tWhat is 2+2?[/INST]4\n"
	  "</s>" },
	{ "mistral-v7",
	  "[SYSTEM_PROMPT]  You are helpful. [/SYSTEM_PROMPT][INST] Hi "
	  "there[/INST]  Hello! </s>[INST] Bye\n"
	  "now [/INST]",
	  "[INST] \tWhat is 2+2?[/INST] 4\n"
	  "</s>" },
};
/* Detection: each text gives the same output as --tmpl NAME (and no other NAME) for
 * ref-chat --tmpl TEXT system=' s ' user=hi assistant=yo user=x */
static const struct detect_case detect_cases[] = {
	{ "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n'}}{% endfor %}", "chatml" },
	{ "<|im_start|>{{ m['role'] }}<|im_sep|>", "phi4" },
	{ "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' }}", "llama3" },
	{ "{{ bos_token }}[INST] {{ m['content'] }} [/INST]", "llama2" },
	{ "mistral", "llama2" },
	{ "[INST] <<SYS>>\\n{{ s }}\\n<</SYS>>", "llama2-sys" },
	{ "{{ bos_token + '[INST] ' + content }} <<SYS>>", "llama2-sys-bos" },
	{ "[INST] {{ content.strip() }}", "llama2-sys-strip" },
	{ "{{ '[SYSTEM_PROMPT]' }}[INST]", "mistral-v7" },
	{ "{{ ' [INST] ' + system_message }}", "mistral-v1" },
	{ "[AVAILABLE_TOOLS]{{ \"[INST]\" }}", "mistral-v3-tekken" },
	{ "[AVAILABLE_TOOLS][INST]", "mistral-v3" },
	{ "<start_of_turn>user", "gemma" },
	{ "<|user|>{{ x }}<|end|><|assistant|>", "phi3" },
};

static const struct as_chat_msg conv_a[] = {
	{ "system", " You are helpful. " },
	{ "user", "Hi there" },
	{ "assistant", " Hello! " },
	{ "user", "Bye\nnow " },
};

static const struct as_chat_msg conv_b[] = {
	{ "user", "\tWhat is 2+2?" },
	{ "assistant", "4\n" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_fixtures(void **state)
{
	for (size_t i = 0; i < N(fixtures); i++) {
		enum as_chat_tmpl t = as_chat_tmpl_from_name(fixtures[i].name);
		size_t len = 0;
		char *s;

		assert_int_not_equal(t, AS_CHAT_UNKNOWN);
		assert_string_equal(as_chat_tmpl_name(t), fixtures[i].name);
		s = as_chat_apply(t, conv_a, N(conv_a), true, &len);
		assert_non_null(s);
		assert_string_equal(s, fixtures[i].a);
		assert_int_equal(len, strlen(fixtures[i].a));
		free(s);
		s = as_chat_apply(t, conv_b, N(conv_b), false, &len);
		assert_non_null(s);
		assert_string_equal(s, fixtures[i].b);
		free(s);
	}
}

static void test_every_name_has_a_fixture(void **state)
{
	for (int t = AS_CHAT_UNKNOWN + 1; t < AS_CHAT_N; t++) {
		bool found = false;

		for (size_t i = 0; i < N(fixtures); i++)
			found |= !strcmp(fixtures[i].name, as_chat_tmpl_name(t));
		assert_true(found);
		assert_non_null(strstr(as_chat_tmpl_names(), as_chat_tmpl_name(t)));
	}
}

static void test_detect(void **state)
{
	for (size_t i = 0; i < N(detect_cases); i++) {
		const char *text = detect_cases[i].text, *other = "x";
		enum as_chat_tmpl t = as_chat_tmpl_detect(text, strlen(text), &other);
		enum as_chat_tmpl want = as_chat_tmpl_from_name(detect_cases[i].name);

		if (want == AS_CHAT_UNKNOWN) {
			/* a family llama.cpp knows that is not supported here */
			assert_int_equal(t, AS_CHAT_UNKNOWN);
			assert_non_null(other);
			assert_string_equal(other, detect_cases[i].name);
		} else {
			assert_int_equal(t, want);
			assert_null(other);
		}
	}
}

static void test_detect_names_and_unknown(void **state)
{
	const char *other = "x";

	for (int t = AS_CHAT_UNKNOWN + 1; t < AS_CHAT_N; t++) {
		const char *n = as_chat_tmpl_name(t);

		assert_int_equal(as_chat_tmpl_detect(n, strlen(n), NULL), t);
	}
	assert_int_equal(as_chat_tmpl_detect("phi3", 4, &other), AS_CHAT_UNKNOWN);
	assert_string_equal(other, "phi3");
	assert_int_equal(as_chat_tmpl_detect("{{ bogus }}", 11, &other), AS_CHAT_UNKNOWN);
	assert_null(other);
	assert_int_equal(as_chat_tmpl_detect("", 0, &other), AS_CHAT_UNKNOWN);
	/* a name is taken whole; a NUL inside the text does not end it */
	assert_int_equal(as_chat_tmpl_detect("chatml\0x", 8, NULL), AS_CHAT_UNKNOWN);
	assert_int_equal(as_chat_tmpl_detect("x\0<|im_start|>", 14, NULL), AS_CHAT_CHATML);
	assert_int_equal(as_chat_tmpl_from_name("ChatML"), AS_CHAT_UNKNOWN);
	assert_null(as_chat_tmpl_name(AS_CHAT_UNKNOWN));
	assert_null(as_chat_tmpl_name(AS_CHAT_N));
}

static void test_apply_edges(void **state)
{
	size_t len = 1;
	char *s = as_chat_apply(AS_CHAT_CHATML, NULL, 0, false, &len);

	assert_non_null(s);
	assert_int_equal(len, 0);
	assert_string_equal(s, "");
	free(s);
	assert_null(as_chat_apply(AS_CHAT_UNKNOWN, conv_a, N(conv_a), true, NULL));
	assert_null(as_chat_apply(AS_CHAT_N, conv_a, N(conv_a), true, NULL));
	/* the incremental turn: the conversation with one more user message (and the
	 * assistant prefix) extends the one before it */
	for (int t = AS_CHAT_UNKNOWN + 1; t < AS_CHAT_N; t++) {
		char *a = as_chat_apply(t, conv_a, 3, false, NULL);
		char *b = as_chat_apply(t, conv_a, 4, true, NULL);

		assert_non_null(a);
		assert_non_null(b);
		assert_memory_equal(a, b, strlen(a));
		free(a);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_every_name_has_a_fixture),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_detect_names_and_unknown),
		cmocka_unit_test(test_apply_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

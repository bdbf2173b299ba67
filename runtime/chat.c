// SPDX-License-Identifier: MIT
/* Chat templates without a Jinja engine, as llama.cpp recognises and applies them
 * (see activeswap/chat.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/chat.h"

static const char *const tmpl_names[AS_CHAT_N] = {
	[AS_CHAT_CHATML] = "chatml",
	[AS_CHAT_LLAMA2] = "llama2",
	[AS_CHAT_LLAMA2_SYS] = "llama2-sys",
	[AS_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
	[AS_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
	[AS_CHAT_MISTRAL_V1] = "mistral-v1",
	[AS_CHAT_MISTRAL_V3] = "mistral-v3",
	[AS_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
	[AS_CHAT_MISTRAL_V7] = "mistral-v7",
	[AS_CHAT_LLAMA3] = "llama3",
};

/* Names llama.cpp knows for families not supported here. */
static const char *const other_names[] = {
	"phi3", "phi4", "falcon3", "zephyr", "monarch", "gemma", "orion", "openchat",
	"vicuna", "vicuna-orca", "deepseek", "deepseek2", "deepseek3", "command-r",
	"chatglm3", "chatglm4", "glmedge", "minicpm", "exaone3", "rwkv-world", "granite",
	"gigachat", "megrez",
};

enum as_chat_tmpl as_chat_tmpl_from_name(const char *name)
{
	for (int i = 1; i < AS_CHAT_N; i++)
		if (!strcmp(name, tmpl_names[i]))
			return (enum as_chat_tmpl)i;
	return AS_CHAT_UNKNOWN;
}

const char *as_chat_tmpl_name(enum as_chat_tmpl t)
{
	return t > AS_CHAT_UNKNOWN && t < AS_CHAT_N ? tmpl_names[t] : NULL;
}

const char *as_chat_tmpl_names(void)
{
	return "chatml, llama2, llama2-sys, llama2-sys-bos, llama2-sys-strip, llama3, "
	       "mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7";
}

struct text {
	const char *s;
	size_t n;
};

static bool has(struct text t, const char *needle)
{
	size_t k = strlen(needle);

	if (k > t.n)
		return false;
	return memmem(t.s, t.n, needle, k) != NULL;
}

/* The [INST] families, in llama.cpp's order of checks. */
static enum as_chat_tmpl detect_inst(struct text t)
{
	if (has(t, "[SYSTEM_PROMPT]"))
		return AS_CHAT_MISTRAL_V7;
	if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
		if (has(t, " [INST]"))
			return AS_CHAT_MISTRAL_V1;
		if (has(t, "\"[INST]\""))
			return AS_CHAT_MISTRAL_V3_TEKKEN;
		return AS_CHAT_MISTRAL_V3;
	}
	if (has(t, "content.strip()"))
		return AS_CHAT_LLAMA2_SYS_STRIP;
	if (has(t, "bos_token + '[INST]"))
		return AS_CHAT_LLAMA2_SYS_BOS;
	if (has(t, "<<SYS>>"))
		return AS_CHAT_LLAMA2_SYS;
	return AS_CHAT_LLAMA2;
}

enum as_chat_tmpl as_chat_tmpl_detect(const char *tmpl, size_t len, const char **other)
{
	struct text t = { tmpl, len };
	const char *o = NULL;

	if (other)
		*other = NULL;
	/* a name, taken whole (the text may hold NULs: compare lengths) */
	for (int i = 1; i < AS_CHAT_N; i++)
		if (strlen(tmpl_names[i]) == len && !memcmp(tmpl, tmpl_names[i], len))
			return (enum as_chat_tmpl)i;
	for (size_t i = 0; i < sizeof(other_names) / sizeof(other_names[0]); i++)
		if (strlen(other_names[i]) == len && !memcmp(tmpl, other_names[i], len)) {
			if (other)
				*other = other_names[i];
			return AS_CHAT_UNKNOWN;
		}
	if (has(t, "<|im_start|>")) {
		if (!has(t, "<|im_sep|>"))
			return AS_CHAT_CHATML;
		o = "phi4";
	} else if ((len >= 7 && !memcmp(tmpl, "mistral", 7)) || has(t, "[INST]")) {
		return detect_inst(t);
	} else if (has(t, "<|assistant|>") && has(t, "<|end|>")) {
		o = "phi3";
	} else if (has(t, "<|assistant|>") && has(t, "<|user|>")) {
		o = has(t, "</s>") ? "falcon3" : "glmedge";
	} else if (has(t, "<|user|>") && has(t, "<|endoftext|>")) {
		o = "zephyr";
	} else if (has(t, "bos_token + message['role']")) {
		o = "monarch";
	} else if (has(t, "<start_of_turn>")) {
		o = "gemma";
	} else if (has(t, "'\\n\\nAssistant: ' + eos_token")) {
		o = "orion";
	} else if (has(t, "GPT4 Correct ")) {
		o = "openchat";
	} else if (has(t, "USER: ") && has(t, "ASSISTANT: ")) {
		o = has(t, "SYSTEM: ") ? "vicuna-orca" : "vicuna";
	} else if (has(t, "### Instruction:") && has(t, "<|EOT|>")) {
		o = "deepseek";
	} else if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>")) {
		o = "command-r";
	} else if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) {
		return AS_CHAT_LLAMA3;
	}
	if (other)
		*other = o;
	return AS_CHAT_UNKNOWN;
}

/* A growing string; on allocation failure ok turns false and appends do nothing. */
struct sbuf {
	char *p;
	size_t n, cap;
	bool ok;
};

static void put_n(struct sbuf *b, const char *s, size_t k)
{
	if (!b->ok)
		return;
	if (k > SIZE_MAX / 2 - b->n) {
		b->ok = false;
		return;
	}
	if (b->n + k + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->n + k + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->ok = false;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, k);
	b->n += k;
	b->p[b->n] = 0;
}

static void put(struct sbuf *b, const char *s)
{
	put_n(b, s, strlen(s));
}

/* llama.cpp's trim: ASCII white space (isspace in the C locale) at both ends. */
static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void put_trimmed(struct sbuf *b, const char *s)
{
	size_t a = 0, e = strlen(s);

	while (a < e && is_ws(s[a]))
		a++;
	while (e > a && is_ws(s[e - 1]))
		e--;
	put_n(b, s + a, e - a);
}

static void put_content(struct sbuf *b, const char *s, bool trim)
{
	if (trim)
		put_trimmed(b, s);
	else
		put(b, s);
}

static void apply_mistral(struct sbuf *b, enum as_chat_tmpl t, const struct as_chat_msg *m,
			  size_t n)
{
	const char *lead = t == AS_CHAT_MISTRAL_V1 ? " " : "";
	const char *trail = t == AS_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
	bool in_turn = false;

	for (size_t i = 0; i < n; i++) {
		if (!in_turn) {
			put(b, lead);
			put(b, "[INST]");
			put(b, trail);
			in_turn = true;
		}
		if (!strcmp(m[i].role, "system")) {
			put(b, m[i].content);
			put(b, "\n\n");
		} else if (!strcmp(m[i].role, "user")) {
			put(b, m[i].content);
			put(b, lead);
			put(b, "[/INST]");
		} else {
			put(b, trail);
			put_content(b, m[i].content, t == AS_CHAT_MISTRAL_V3);
			put(b, "</s>");
			in_turn = false;
		}
	}
}

static void apply_llama2(struct sbuf *b, enum as_chat_tmpl t, const struct as_chat_msg *m,
			 size_t n)
{
	bool sys = t != AS_CHAT_LLAMA2, strip = t == AS_CHAT_LLAMA2_SYS_STRIP;
	bool in_turn = true; /* the first [INST] comes without BOS */

	put(b, "[INST] ");
	for (size_t i = 0; i < n; i++) {
		if (!in_turn) {
			in_turn = true;
			put(b, t == AS_CHAT_LLAMA2_SYS_BOS ? "<s>[INST] " : "[INST] ");
		}
		if (!strcmp(m[i].role, "system")) {
			if (sys)
				put(b, "<<SYS>>\n");
			put_content(b, m[i].content, strip);
			put(b, sys ? "\n<</SYS>>\n\n" : "\n");
		} else if (!strcmp(m[i].role, "user")) {
			put_content(b, m[i].content, strip);
			put(b, " [/INST]");
		} else {
			put_content(b, m[i].content, strip);
			put(b, "</s>");
			in_turn = false;
		}
	}
}

char *as_chat_apply(enum as_chat_tmpl t, const struct as_chat_msg *m, size_t n, bool add_ass,
		    size_t *len)
{
	struct sbuf b = { .ok = true };

	put_n(&b, "", 0); /* an empty result is still a string */
	switch (t) {
	case AS_CHAT_CHATML:
		for (size_t i = 0; i < n; i++) {
			put(&b, "<|im_start|>");
			put(&b, m[i].role);
			put(&b, "\n");
			put(&b, m[i].content);
			put(&b, "<|im_end|>\n");
		}
		if (add_ass)
			put(&b, "<|im_start|>assistant\n");
		break;
	case AS_CHAT_MISTRAL_V7:
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(m[i].role, "system")) {
				put(&b, "[SYSTEM_PROMPT] ");
				put(&b, m[i].content);
				put(&b, "[/SYSTEM_PROMPT]");
			} else if (!strcmp(m[i].role, "user")) {
				put(&b, "[INST] ");
				put(&b, m[i].content);
				put(&b, "[/INST]");
			} else {
				put(&b, " ");
				put(&b, m[i].content);
				put(&b, "</s>");
			}
		}
		break;
	case AS_CHAT_MISTRAL_V1:
	case AS_CHAT_MISTRAL_V3:
	case AS_CHAT_MISTRAL_V3_TEKKEN:
		apply_mistral(&b, t, m, n);
		break;
	case AS_CHAT_LLAMA2:
	case AS_CHAT_LLAMA2_SYS:
	case AS_CHAT_LLAMA2_SYS_BOS:
	case AS_CHAT_LLAMA2_SYS_STRIP:
		apply_llama2(&b, t, m, n);
		break;
	case AS_CHAT_LLAMA3:
		for (size_t i = 0; i < n; i++) {
			put(&b, "<|start_header_id|>");
			put(&b, m[i].role);
			put(&b, "<|end_header_id|>\n\n");
			put_trimmed(&b, m[i].content);
			put(&b, "<|eot_id|>");
		}
		if (add_ass)
			put(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
		break;
	default:
		b.ok = false;
		break;
	}
	if (!b.ok) {
		free(b.p);
		return NULL;
	}
	if (len)
		*len = b.n;
	return b.p;
}

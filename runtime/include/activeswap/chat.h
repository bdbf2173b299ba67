/* SPDX-License-Identifier: MIT */
/*
 * Chat templates as llama.cpp's llama_chat_apply_template applies them, without a Jinja
 * engine: the template a model ships in tokenizer.chat_template is recognised by the
 * same substrings llama.cpp looks for (or named, e.g. "chatml"), and each family's
 * format is written out by hand.
 *
 * Supported: chatml (Qwen), llama3, llama2 (and llama2-sys, llama2-sys-bos,
 * llama2-sys-strip), mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7. Templates
 * llama.cpp recognises as another family (phi3, gemma, zephyr...) are refused by name.
 *
 * The result does not start with BOS: the tokenizer adds it when the vocabulary asks.
 */
#ifndef ACTIVESWAP_CHAT_H
#define ACTIVESWAP_CHAT_H

#include <stdbool.h>
#include <stddef.h>

enum as_chat_tmpl {
	AS_CHAT_UNKNOWN = 0,
	AS_CHAT_CHATML,
	AS_CHAT_LLAMA2,
	AS_CHAT_LLAMA2_SYS,
	AS_CHAT_LLAMA2_SYS_BOS,
	AS_CHAT_LLAMA2_SYS_STRIP,
	AS_CHAT_MISTRAL_V1,
	AS_CHAT_MISTRAL_V3,
	AS_CHAT_MISTRAL_V3_TEKKEN,
	AS_CHAT_MISTRAL_V7,
	AS_CHAT_LLAMA3,
	AS_CHAT_N,
};

struct as_chat_msg {
	const char *role;    /* "system", "user", "assistant" */
	const char *content; /* NUL-terminated */
};

/* The template named name ("chatml", "llama3", ...), or AS_CHAT_UNKNOWN. */
enum as_chat_tmpl as_chat_tmpl_from_name(const char *name);

/* The template a tokenizer.chat_template text (len bytes) stands for: a name, else the
 * substrings llama.cpp checks, in its order. AS_CHAT_UNKNOWN when it is none of the
 * supported ones; then *other (when not NULL) is the name of the family llama.cpp would
 * have recognised ("phi3", ...) or NULL. */
enum as_chat_tmpl as_chat_tmpl_detect(const char *tmpl, size_t len, const char **other);

/* "chatml", ...; NULL for AS_CHAT_UNKNOWN or out of range. */
const char *as_chat_tmpl_name(enum as_chat_tmpl t);

/* The supported names, comma-separated: "chatml, llama2, ...". */
const char *as_chat_tmpl_names(void);

/*
 * Format n messages with template t, with the assistant's prefix appended when add_ass
 * (for the templates that have one). Returns a malloc'd NUL-terminated string (*len
 * bytes without the NUL, when len is not NULL), NULL on allocation failure or an unknown
 * template.
 */
char *as_chat_apply(enum as_chat_tmpl t, const struct as_chat_msg *msgs, size_t n,
		    bool add_ass, size_t *len);

#endif

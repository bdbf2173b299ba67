/* SPDX-License-Identifier: MIT */
/*
 * Inside the tokenizer: the state shared by runtime/tokenizer.c (vocabulary, SPM),
 * runtime/bpe.c (byte-level BPE, special-token splitting) and runtime/pretok.c (the
 * pre-tokenizers). Not installed; include only from those files and the tests.
 */
#ifndef ACTIVESWAP_TOKENIZER_IMPL_H
#define ACTIVESWAP_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/tokenizer.h"
#include "utf8.h"

/* The tokenizer.ggml.pre split rules (llama.cpp's names in as_pretok_parse). */
enum as_pretok {
	AS_PRE_DEFAULT,
	AS_PRE_GPT2,
	AS_PRE_LLAMA3,
	AS_PRE_QWEN2,
};

/* most merges accepted (real vocabularies have a few hundred thousand) */
#define AS_TOK_MAX_MERGES (1u << 22)

#define AS_PRETOK_NAMES "default, gpt-2, llama-bpe (llama3, llama-v3), qwen2"

struct as_merge_ent {
	uint64_t key;  /* (left id << 32 | right id) + 1; 0 = empty */
	uint32_t rank;
};

struct as_tokenizer {
	uint32_t n;
	char *text;            /* all token texts back to back */
	uint64_t *text_off;    /* n + 1 offsets into text */
	char *piece;           /* all pieces back to back */
	uint64_t *piece_off;   /* n + 1 offsets into piece */
	float *scores;
	int32_t *types;
	uint32_t *ht;          /* open addressing: id + 1, 0 = empty */
	uint32_t ht_mask;
	int32_t byte_tok[256];
	int32_t bos, eos, unk, eot;
	bool add_bos;
	bool add_space_prefix;
	/* byte-level BPE (tokenizer.ggml.model "gpt2") */
	bool bpe;
	bool ignore_merges;    /* a word that is a token is not merged (llama-bpe) */
	enum as_pretok pre;
	struct as_merge_ent *mh;
	uint64_t mh_mask;
	/* control, user-defined and unknown tokens, longest text first */
	int32_t *special;
	uint32_t n_special;
};

/* Vocabulary id of the exact byte string s, or -1 (tokenizer.c). */
int32_t as_tok_find(const struct as_tokenizer *t, const char *s, size_t n);

/* SPM over one raw fragment, with or without the prefix space, no BOS (tokenizer.c) */
int as_spm_fragment(const struct as_tokenizer *t, const char *text, size_t len, bool prefix,
		    int32_t **out, size_t *n_out);

/* bpe.c */
int as_bpe_build(struct as_tokenizer *t, const struct as_vocab_desc *d, char *err,
		 size_t errlen);
/* The bytes a byte-level token text stands for (GPT-2 byte-to-unicode reversed); a
 * character outside the mapping is copied as it is. Returns the length (<= n). */
size_t as_bpe_decode_text(const char *s, size_t n, char *dst);

/* pretok.c */
int as_pretok_parse(const char *name, size_t len);
/* Split cp[0..n) into words: ends[] receives the end index of each word (increasing);
 * ends and tmp hold n entries each. Returns the word count. */
size_t as_pretok_split(enum as_pretok pre, const uint32_t *cp, size_t n, size_t *ends,
		       size_t *tmp);

#endif

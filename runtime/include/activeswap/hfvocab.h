/* SPDX-License-Identifier: MIT */
/*
 * A byte-level BPE vocabulary read from a Hugging Face tokenizer folder (tokenizer.json,
 * and tokenizer_config.json when present), turned into the tokenizer.ggml.* keys
 * llama.cpp's converter writes (Documentation/gguf.md): `activeswap mkmodel --vocab-from`.
 *
 * tokenizer.json must hold a BPE model with a byte-level pre-tokenizer: model.vocab
 * (text -> id), model.merges ("a b" strings or [a, b] pairs) and added_tokens. Token ids
 * may leave gaps: they become "[PADn]" unused tokens. Added tokens are control tokens
 * when marked special or when they look special (<|...|>, <pad>, <mask>...), else
 * user-defined. The pre-tokenizer name comes from the split regex (Llama 3: llama-bpe,
 * Qwen2/3: qwen2, plain ByteLevel: gpt-2) unless given. tokenizer_config.json gives
 * bos/eos/unk/pad tokens, add_bos_token/add_eos_token and chat_template.
 *
 * A SentencePiece-style BPE (model.byte_fallback, Llama 2's tokenizer.json: normalizer
 * Prepend "▁" + Replace " " -> "▁", no pre-tokenizer) becomes a SentencePiece ("llama")
 * vocabulary instead: the tokens as they are ("<0xHH>" byte tokens, model.unk_token
 * unknown), add_space_prefix, and scores made from the merges (minus the rank of the
 * first merge that makes the token), so that SentencePiece merging applies the merges in
 * Hugging Face's order. Other byte_fallback normalizers are refused.
 */
#ifndef ACTIVESWAP_HFVOCAB_H
#define ACTIVESWAP_HFVOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gguf_writer;

/* The score of a SentencePiece-style token that no merge makes */
#define AS_HF_SPM_NO_MERGE (-1e9f)

struct as_hf_vocab {
	bool spm;             /* SentencePiece-style: tokenizer.ggml.model "llama" */
	uint32_t n;           /* tokens (the vocabulary size) */
	char **tokens;        /* NUL-terminated texts */
	int32_t *types;       /* enum as_token_type */
	float *scores;        /* spm: the SentencePiece scores */
	uint64_t n_merges;
	char **merges;        /* "LEFT RIGHT" */
	char pre[32];         /* tokenizer.ggml.pre */
	int32_t bos, eos, unk, pad; /* -1: none */
	int add_bos, add_eos; /* -1: not said */
	char *chat_template;  /* or NULL */
};

/* Read DIR/tokenizer.json (+ DIR/tokenizer_config.json). pre: a tokenizer.ggml.pre name
 * to use instead of the detected one, or NULL. 0 or a negative errno with one line in
 * err. */
int as_hf_vocab_load(struct as_hf_vocab *v, const char *dir, const char *pre, char *err,
		     size_t errlen);
void as_hf_vocab_free(struct as_hf_vocab *v);

/* Add the tokenizer.* keys to w. 0 or a negative errno. */
int as_hf_vocab_write(const struct as_hf_vocab *v, struct gguf_writer *w);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The tokenizers of GGUF vocabularies, compatible with llama.cpp's: SentencePiece
 * (tokenizer.ggml.model "llama") and byte-level BPE ("gpt2").
 *
 * SentencePiece:
 *
 *   - a space is prepended to the text (tokenizer.ggml.add_space_prefix, default true)
 *     and every ' ' becomes U+2581 ("▁");
 *   - the text is split into UTF-8 characters, then the adjacent pair whose
 *     concatenation is a vocabulary entry with the highest score is merged, repeatedly
 *     (ties: leftmost pair first);
 *   - a symbol that is not in the vocabulary is emitted as its bytes ("<0xXX>" tokens);
 *   - BOS is prepended when asked (tokenizer.ggml.add_bos_token, default true).
 *
 * Encoding is O(n log n) in the text length, so whole files can be tokenized at once.
 * Decoding maps byte tokens to raw bytes, "▁" to ' ' and control tokens (BOS/EOS) to
 * nothing, exactly like llama.cpp's token-to-piece.
 *
 * Byte-level BPE (GPT-2, Llama 3, Qwen):
 *
 *   - the text is cut into words by the pre-tokenizer tokenizer.ggml.pre names (default,
 *     gpt-2, llama-bpe, qwen2: runtime/pretok.c);
 *   - each word's bytes are written as GPT-2's byte-to-unicode characters and merged
 *     pairwise by tokenizer.ggml.merges, lowest rank first (ties: leftmost);
 *   - a final symbol that is not a token falls back to its single-byte tokens;
 *   - BOS only when tokenizer.ggml.add_bos_token says so (default: false, true for
 *     llama-bpe); decoding maps the characters back to bytes.
 *
 * Special tokens (control, unknown, user-defined) are found in the text before either
 * encoder runs when asked (as_tokenize_ex, parse_special); user-defined tokens always
 * are for BPE. as_tokenize() never parses control tokens.
 */
#ifndef ACTIVESWAP_TOKENIZER_H
#define ACTIVESWAP_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gguf_file;
struct as_tokenizer;

/* Token types as stored in tokenizer.ggml.token_type (llama.cpp numbering). */
enum as_token_type {
	AS_TOKEN_NORMAL = 1,
	AS_TOKEN_UNKNOWN = 2,
	AS_TOKEN_CONTROL = 3,
	AS_TOKEN_USER_DEFINED = 4,
	AS_TOKEN_UNUSED = 5,
	AS_TOKEN_BYTE = 6,
};

/* A vocabulary given by the caller (used by the tests and by as_tokenizer_load). */
struct as_vocab_desc {
	uint32_t n_vocab;
	const char *const *text;   /* n_vocab strings */
	const size_t *text_len;    /* lengths, or NULL to use strlen() */
	const float *scores;       /* or NULL: all 0 */
	const int32_t *types;      /* enum as_token_type values, or NULL: all normal */
	int32_t bos, eos, unk;     /* -1 when absent */
	bool add_bos;
	bool add_space_prefix;
	/* byte-level BPE instead of SentencePiece */
	bool bpe;
	const char *pre;           /* tokenizer.ggml.pre (NUL-terminated), NULL: default */
	const char *const *merges; /* "LEFT RIGHT" token texts, rank order */
	const size_t *merges_len;  /* or NULL: strlen() */
	uint64_t n_merges;
	bool has_eot;              /* else EOT is found by name (<|eot_id|>, <|im_end|>...) */
	int32_t eot;
};

/* Build from a description (strings are copied). 0 or negative errno + message. */
int as_tokenizer_new(struct as_tokenizer **out, const struct as_vocab_desc *d, char *err,
		     size_t errlen);

/* Build from the tokenizer.ggml.* keys of a GGUF file (tokenizer.ggml.model "llama" or
 * "gpt2"). The file may be closed afterwards. */
int as_tokenizer_load(struct as_tokenizer **out, const struct gguf_file *f, char *err,
		      size_t errlen);

void as_tokenizer_free(struct as_tokenizer *t);

uint32_t as_tokenizer_n_vocab(const struct as_tokenizer *t);
int32_t as_tokenizer_bos(const struct as_tokenizer *t);
int32_t as_tokenizer_eos(const struct as_tokenizer *t);
/* End of turn (tokenizer.ggml.eot_token_id, else a token named <|eot_id|>, <|im_end|>,
 * <|end|>, <end_of_turn>, <|endoftext|> or <EOT>), or -1. */
int32_t as_tokenizer_eot(const struct as_tokenizer *t);
/* Whether generation stops at id: EOS, EOT, or another end-of-generation token by name. */
bool as_tokenizer_is_eog(const struct as_tokenizer *t, int32_t id);
/* "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
const char *as_tokenizer_model(const struct as_tokenizer *t);
/* enum as_token_type of id, 0 when out of range */
int32_t as_token_type(const struct as_tokenizer *t, int32_t id);
/* Whether the model wants BOS prepended (tokenizer.ggml.add_bos_token). */
bool as_tokenizer_add_bos(const struct as_tokenizer *t);

/*
 * Tokenize len bytes of text (any bytes; invalid UTF-8 falls back to byte tokens).
 * With add_bos, BOS is prepended (when the vocabulary has one). On success *out is a
 * malloc'd array of *n_out ids (free() it) and 0 is returned; -ENOMEM otherwise.
 */
int as_tokenize(const struct as_tokenizer *t, const char *text, size_t len, bool add_bos,
		int32_t **out, size_t *n_out);

struct as_tokenize_opts {
	bool add_bos;       /* prepend BOS (when the vocabulary has one) */
	bool parse_special; /* control tokens written in the text ("<|im_start|>") are
			     * tokens, not text */
};

/* as_tokenize with options; as_tokenize(...) is add_bos, !parse_special. */
int as_tokenize_ex(const struct as_tokenizer *t, const char *text, size_t len,
		   const struct as_tokenize_opts *o, int32_t **out, size_t *n_out);

/* The bytes one token prints as (not NUL-terminated); empty for control tokens and
 * for ids out of range. */
const char *as_token_piece(const struct as_tokenizer *t, int32_t id, size_t *len);

/* The vocabulary entry itself (with "▁", "<0x0A>", ...), for diagnostics. */
const char *as_token_text(const struct as_tokenizer *t, int32_t id, size_t *len);

/*
 * Concatenate the pieces of n tokens into a malloc'd NUL-terminated string (*len
 * bytes without the NUL). With strip_space, the space the tokenizer prefixed (the
 * first byte of the first piece after an optional BOS, when it is ' ' and the
 * vocabulary adds a space prefix) is dropped, so decode(encode(s)) == s.
 * NULL on allocation failure.
 */
char *as_detokenize(const struct as_tokenizer *t, const int32_t *ids, size_t n,
		    bool strip_space, size_t *len);

#endif

// SPDX-License-Identifier: MIT
/*
 * The vocabulary of a generated model (runtime/mkmodel.c): a working byte-level
 * SentencePiece vocabulary built from common words and letter pairs, every piece
 * reachable by pairwise merges, or the Hugging Face vocabulary of --vocab-from
 * (activeswap/hfvocab.h), written as the GGUF's tokenizer.* keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/hfvocab.h"
#include "mkmodel_impl.h"

#define SPM_SPACE "\xe2\x96\x81" /* U+2581 */

static const char *const words[] = {
	"the", "and", "to", "a", "was", "he", "she", "it", "of", "in", "they", "her", "his",
	"you", "with", "said", "on", "for", "that", "day", "had", "is", "big", "so", "but",
	"up", "Lily", "were", "one", "Tim", "play", "saw", "not", "very", "happy", "there",
	"time", "Once", "upon", "little", "friend", "wanted", "mom", "all", "at", "be", "can",
	"go", "we", "like", "what", "did", "out", "then", "them", "have", "help", "make",
	"new", "park", "ball", "dog", "cat", "bird", "tree", "sun", "fun", "look", "went",
	"home", "love", "good", "too", "do", "are", "me", "my", "from", "this", "no", "an",
	"as", "by", "are", "ran", "toy", "box", "red", "man", "girl", "boy", "named", "loved",
	"felt", "sad", "nice", "smiled", "saw", "liked", "found", "thank", "yes", "when",
	"how", "why", "who", "will", "would", "could", "after", "again", "away", "back",
	"down", "each", "every", "eat", "ate", "food", "water", "tall", "small", "kind",
	"best", "many", "some", "other", "people", "because", "about", "into", "over",
	"under", "always", "never", "together", "learned", "careful", "idea", "funny",
};

static int vocab_has(const struct mk_vocab *v, const char *s)
{
	/* Small vocabularies; called only while building (O(n^2) on a few thousand). */
	for (uint32_t i = 3 + 256; i < v->n; i++)
		if (!strcmp(v->text[i], s))
			return 1;
	return 0;
}

static int vocab_add(struct mk_vocab *v, const char *s, int32_t type, float score)
{
	if (v->n >= v->cap)
		return 0;
	v->text[v->n] = strdup(s);
	if (!v->text[v->n])
		return -ENOMEM;
	v->types[v->n] = type;
	v->scores[v->n] = score;
	v->n++;
	return 0;
}

/* Add s and every prefix of s that ends on a character boundary (so merges reach it). */
static int vocab_add_closure(struct mk_vocab *v, const char *s)
{
	char buf[64];
	size_t len = strlen(s);

	if (len >= sizeof(buf))
		return 0;
	for (size_t i = 1; i <= len && v->n < v->cap; i++) {
		if (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			continue; /* inside a UTF-8 sequence */
		memcpy(buf, s, i);
		buf[i] = 0;
		if (strlen(buf) > 1 && !vocab_has(v, buf)) {
			int rc = vocab_add(v, buf, 1, -(float)v->n);

			if (rc)
				return rc;
		}
	}
	return 0;
}

void mk_vocab_free(struct mk_vocab *v)
{
	if (v->text)
		for (uint32_t i = 0; i < v->n; i++)
			free(v->text[i]);
	free(v->text);
	free(v->scores);
	free(v->types);
}

int mk_vocab_build(struct mk_vocab *v, uint32_t n)
{
	static const char singles[] = "etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ"
				      "0123456789.,!?'\"-:;()";
	char buf[64];
	int rc = 0;

	v->cap = n;
	v->text = calloc(n, sizeof(*v->text));
	v->scores = calloc(n, sizeof(*v->scores));
	v->types = calloc(n, sizeof(*v->types));
	if (!v->text || !v->scores || !v->types)
		return -ENOMEM;
	rc |= vocab_add(v, "<unk>", 2, 0);
	rc |= vocab_add(v, "<s>", 3, 0);
	rc |= vocab_add(v, "</s>", 3, 0);
	for (int b = 0; b < 256; b++) {
		snprintf(buf, sizeof(buf), "<0x%02X>", b);
		rc |= vocab_add(v, buf, 6, 0);
	}
	if (rc)
		return -ENOMEM;
	/* single characters, most frequent first, then the word-boundary marker */
	rc = vocab_add(v, SPM_SPACE, 1, -(float)v->n);
	for (const char *c = singles; !rc && *c; c++) {
		buf[0] = *c;
		buf[1] = 0;
		rc = vocab_add(v, buf, 1, -(float)v->n);
	}
	/* common words with the word prefix, each reachable by pairwise merges */
	for (size_t i = 0; !rc && i < sizeof(words) / sizeof(words[0]) && v->n < n; i++) {
		snprintf(buf, sizeof(buf), SPM_SPACE "%s", words[i]);
		rc = vocab_add_closure(v, buf);
	}
	/* letter pairs, then word-initial pairs */
	for (int pass = 0; !rc && pass < 2 && v->n < n; pass++)
		for (const char *a = singles; !rc && a < singles + 26 && v->n < n; a++)
			for (const char *b = singles; !rc && b < singles + 26 && v->n < n; b++) {
				snprintf(buf, sizeof(buf), "%s%c%c", pass ? SPM_SPACE : "", *a,
					 *b);
				if (pass)
					rc = vocab_add_closure(v, buf);
				else if (!vocab_has(v, buf))
					rc = vocab_add(v, buf, 1, -(float)v->n);
			}
	/* anything left is an unused placeholder */
	for (uint32_t i = 0; !rc && v->n < n; i++) {
		snprintf(buf, sizeof(buf), "<unused%u>", i);
		rc = vocab_add(v, buf, 5, -1e9f);
	}
	return rc;
}

int mk_vocab_write(struct gguf_writer *w, const struct as_mkmodel_params *o,
		   const struct mk_vocab *v)
{
	int rc = 0;

	if (o->hf_vocab)
		return as_hf_vocab_write(o->hf_vocab, w) ? -EINVAL : 0;
	rc |= gguf_w_str(w, "tokenizer.ggml.model", "llama");
	rc |= gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->text, v->n);
	rc |= gguf_w_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, v->n);
	rc |= gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, v->n);
	rc |= gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
	rc |= gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
	rc |= gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);
	rc |= gguf_w_bool(w, "tokenizer.ggml.add_bos_token", true);
	rc |= gguf_w_bool(w, "tokenizer.ggml.add_eos_token", false);
	return rc ? -EINVAL : 0;
}

// SPDX-License-Identifier: MIT
/*
 * The vocabulary, and the SentencePiece tokenizer (llama.cpp "SPM" compatible). See
 * tokenizer.h; byte-level BPE is in bpe.c.
 *
 * Encoding: the escaped text is split into UTF-8 characters kept in a doubly linked
 * list; candidate merges (adjacent pairs whose concatenation is in the vocabulary) sit
 * in a binary max-heap ordered by the merged token's score, then by position. Popping a
 * stale candidate (one of its symbols changed since it was pushed) is skipped. Every
 * merge pushes at most two new candidates, so the whole text costs O(n log n).
 */
#include "activeswap/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/gguf.h"
#include "tokenizer_impl.h"

#define AS_TOK_MAX_VOCAB (1u << 24)
/* longest token text accepted (llama.cpp's longest real tokens are a few hundred bytes) */
#define AS_TOK_MAX_TEXT 4096

static void seterr(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

static const char *tok_text(const struct as_tokenizer *t, uint32_t id, size_t *len)
{
	*len = t->text_off[id + 1] - t->text_off[id];
	return t->text + t->text_off[id];
}

int32_t as_tok_find(const struct as_tokenizer *t, const char *s, size_t n)
{
	uint32_t i = hash_bytes(s, n) & t->ht_mask;

	for (;; i = (i + 1) & t->ht_mask) {
		uint32_t v = t->ht[i];
		const char *ts;
		size_t tl;

		if (!v)
			return -1;
		ts = tok_text(t, v - 1, &tl);
		if (tl == n && !memcmp(ts, s, n))
			return (int32_t)(v - 1);
	}
}

/* Later duplicates win, as in llama.cpp's token_to_id map. */
static void tok_insert(struct as_tokenizer *t, uint32_t id)
{
	size_t n;
	const char *s = tok_text(t, id, &n);
	uint32_t i = hash_bytes(s, n) & t->ht_mask;

	for (;; i = (i + 1) & t->ht_mask) {
		uint32_t v = t->ht[i];
		const char *ts;
		size_t tl;

		if (!v) {
			t->ht[i] = id + 1;
			return;
		}
		ts = tok_text(t, v - 1, &tl);
		if (tl == n && !memcmp(ts, s, n)) {
			t->ht[i] = id + 1;
			return;
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "<0xXX>" -> XX, or -1. */
static int parse_byte_token(const char *s, size_t n)
{
	int hi, lo;

	if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
		return -1;
	hi = hexval(s[3]);
	lo = hexval(s[4]);
	if (hi < 0 || lo < 0)
		return -1;
	return hi * 16 + lo;
}

/* Bytes token id prints as (llama.cpp token_to_piece, special tokens not rendered).
 * Writes into dst (at least 3 bytes or the text length) and returns the length. */
static size_t make_piece(const struct as_tokenizer *t, uint32_t id, char *dst)
{
	size_t n, o = 0;
	const char *s = tok_text(t, id, &n);
	int b;

	if (t->bpe) {
		/* llama.cpp's BPE token-to-piece without special rendering */
		switch (t->types[id]) {
		case AS_TOKEN_USER_DEFINED:
			memcpy(dst, s, n);
			return n;
		case AS_TOKEN_NORMAL:
			return as_bpe_decode_text(s, n, dst);
		default:
			return 0;
		}
	}
	switch (t->types[id]) {
	case AS_TOKEN_UNKNOWN:
		memcpy(dst, "\xe2\x96\x85", 3);
		return 3;
	case AS_TOKEN_CONTROL:
	case AS_TOKEN_UNUSED:
		return 0;
	case AS_TOKEN_BYTE:
		b = parse_byte_token(s, n);
		if (b < 0)
			return 0;
		dst[0] = (char)b;
		return 1;
	case AS_TOKEN_USER_DEFINED:
		memcpy(dst, s, n);
		return n;
	default:
		for (size_t i = 0; i < n; i++) {
			if (i + 2 < n && !memcmp(s + i, "\xe2\x96\x81", 3)) {
				dst[o++] = ' ';
				i += 2;
			} else {
				dst[o++] = s[i];
			}
		}
		return o;
	}
}

static const char *const eog_names[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
	"<|eom_id|>",
};

static int32_t find_eot(const struct as_tokenizer *t)
{
	for (size_t k = 0; k < 6; k++) {
		int32_t id = as_tok_find(t, eog_names[k], strlen(eog_names[k]));

		if (id >= 0)
			return id;
	}
	return -1;
}

struct len_id {
	uint64_t len;
	int32_t id;
};

static int by_len_desc(const void *a, const void *b)
{
	const struct len_id *x = a, *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id);
}

static bool is_special_type(int32_t ty)
{
	return ty == AS_TOKEN_CONTROL || ty == AS_TOKEN_USER_DEFINED || ty == AS_TOKEN_UNKNOWN;
}

/* The tokens found in the text before encoding: control, user-defined, unknown. */
static int build_special(struct as_tokenizer *t)
{
	struct len_id *li;
	uint32_t k = 0;

	for (uint32_t i = 0; i < t->n; i++)
		if (is_special_type(t->types[i]) && t->text_off[i + 1] > t->text_off[i])
			k++;
	t->special = malloc((k ? k : 1) * sizeof(*t->special));
	li = malloc((k ? k : 1) * sizeof(*li));
	if (!t->special || !li) {
		free(li);
		return -ENOMEM;
	}
	k = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		if (is_special_type(t->types[i]) && t->text_off[i + 1] > t->text_off[i]) {
			li[k].len = t->text_off[i + 1] - t->text_off[i];
			li[k++].id = (int32_t)i;
		}
	}
	qsort(li, k, sizeof(*li), by_len_desc);
	for (uint32_t i = 0; i < k; i++)
		t->special[i] = li[i].id;
	t->n_special = k;
	free(li);
	return 0;
}

void as_tokenizer_free(struct as_tokenizer *t)
{
	if (!t)
		return;
	free(t->text);
	free(t->text_off);
	free(t->piece);
	free(t->piece_off);
	free(t->scores);
	free(t->types);
	free(t->ht);
	free(t->mh);
	free(t->special);
	free(t);
}

int as_tokenizer_new(struct as_tokenizer **out, const struct as_vocab_desc *d, char *err,
		     size_t errlen)
{
	struct as_tokenizer *t;
	uint64_t total = 0;
	uint32_t cap = 1;
	char buf[8];

	*out = NULL;
	if (!d->n_vocab || d->n_vocab > AS_TOK_MAX_VOCAB) {
		seterr(err, errlen, "tokenizer: vocabulary size out of range");
		return -EINVAL;
	}
	if (d->bos >= (int64_t)d->n_vocab || d->eos >= (int64_t)d->n_vocab ||
	    d->unk >= (int64_t)d->n_vocab || (d->has_eot && d->eot >= (int64_t)d->n_vocab)) {
		seterr(err, errlen, "tokenizer: bos/eos/eot/unk id out of range");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < d->n_vocab; i++) {
		size_t l = d->text_len ? d->text_len[i] : strlen(d->text[i]);

		if (l > AS_TOK_MAX_TEXT) {
			if (err && errlen)
				snprintf(err, errlen, "tokenizer: token %u is %zu bytes long (at "
					 "most %d)", i, l, AS_TOK_MAX_TEXT);
			return -EINVAL;
		}
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto nomem;
	t->n = d->n_vocab;
	t->bos = d->bos < 0 ? -1 : d->bos;
	t->eos = d->eos < 0 ? -1 : d->eos;
	t->unk = d->unk < 0 ? -1 : d->unk;
	t->add_bos = d->add_bos;
	t->add_space_prefix = d->add_space_prefix && !d->bpe;
	t->bpe = d->bpe;
	for (uint32_t i = 0; i < t->n; i++)
		total += d->text_len ? d->text_len[i] : strlen(d->text[i]);
	t->text_off = malloc((t->n + 1ull) * sizeof(*t->text_off));
	t->piece_off = malloc((t->n + 1ull) * sizeof(*t->piece_off));
	t->scores = malloc(t->n * sizeof(*t->scores));
	t->types = malloc(t->n * sizeof(*t->types));
	t->text = malloc(total + 1);
	/* A piece is never longer than its text, except "unknown" (3 bytes). */
	t->piece = malloc(total + 3ull * t->n + 1);
	while (cap < 2 * t->n)
		cap <<= 1;
	t->ht = calloc(cap, sizeof(*t->ht));
	t->ht_mask = cap - 1;
	if (!t->text_off || !t->piece_off || !t->scores || !t->types || !t->text ||
	    !t->piece || !t->ht)
		goto nomem;
	total = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		size_t l = d->text_len ? d->text_len[i] : strlen(d->text[i]);
		int32_t ty = d->types ? d->types[i] : AS_TOKEN_NORMAL;

		memcpy(t->text + total, d->text[i], l);
		t->text_off[i] = total;
		total += l;
		t->scores[i] = d->scores ? d->scores[i] : 0.0f;
		t->types[i] = (ty >= AS_TOKEN_NORMAL && ty <= AS_TOKEN_BYTE) ? ty :
			AS_TOKEN_NORMAL;
	}
	t->text_off[t->n] = total;
	for (uint32_t i = 0; i < t->n; i++)
		tok_insert(t, i);
	total = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		t->piece_off[i] = total;
		total += make_piece(t, i, t->piece + total);
	}
	t->piece_off[t->n] = total;
	for (int b = 0; b < 256; b++) {
		snprintf(buf, sizeof(buf), "<0x%02X>", b);
		t->byte_tok[b] = as_tok_find(t, buf, 6);
		if (t->byte_tok[b] < 0) {
			buf[0] = (char)b;
			t->byte_tok[b] = as_tok_find(t, buf, 1);
		}
		if (t->byte_tok[b] < 0)
			t->byte_tok[b] = t->unk;
	}
	t->eot = d->has_eot && d->eot >= 0 ? d->eot : find_eot(t);
	if (build_special(t))
		goto nomem;
	if (t->bpe) {
		int rc = as_bpe_build(t, d, err, errlen);

		if (rc) {
			as_tokenizer_free(t);
			return rc;
		}
	}
	*out = t;
	return 0;
nomem:
	as_tokenizer_free(t);
	seterr(err, errlen, "tokenizer: out of memory");
	return -ENOMEM;
}

static int get_opt_id(const struct gguf_file *f, const char *key, int32_t def, uint32_t n,
		      int32_t *out)
{
	uint32_t v;
	int rc = gguf_get_u32(f, key, &v);

	if (rc == -ENOENT) {
		*out = def;
		return 0;
	}
	if (rc)
		return rc;
	/* llama.cpp writes 0xffffffff for "none". */
	*out = v >= n ? -1 : (int32_t)v;
	return 0;
}

/* tokenizer.ggml.pre and tokenizer.ggml.merges into d (pre: a buffer for the name) */
static int load_bpe(const struct gguf_file *f, struct as_vocab_desc *d, char *pre,
		    size_t pre_len, const char ***merges, size_t **mlen, char *err,
		    size_t errlen)
{
	const struct gguf_kv *kv;
	struct gguf_str s;
	enum gguf_type ty;
	uint64_t m;
	int rc;

	snprintf(pre, pre_len, "default");
	rc = gguf_get_str(f, "tokenizer.ggml.pre", &s);
	if (rc == 0) {
		if (s.len >= pre_len || memchr(s.s, 0, s.len) ||
		    as_pretok_parse(s.s, s.len) < 0) {
			if (err && errlen)
				snprintf(err, errlen, "tokenizer: unknown tokenizer.ggml.pre "
					 "'%.*s' (supported: %s)", (int)(s.len > 64 ? 64 : s.len),
					 s.s, AS_PRETOK_NAMES);
			return -EOPNOTSUPP;
		}
		memcpy(pre, s.s, s.len);
		pre[s.len] = 0;
	} else if (rc != -ENOENT) {
		seterr(err, errlen, "tokenizer: tokenizer.ggml.pre is not a string");
		return -EINVAL;
	}
	d->pre = pre;
	rc = gguf_get_arr(f, "tokenizer.ggml.merges", &ty, &m, &kv);
	if (rc || ty != GGUF_TYPE_STRING || !kv->strs) {
		seterr(err, errlen, "tokenizer: missing or bad tokenizer.ggml.merges (a gpt2 "
		       "vocabulary needs its merges)");
		return -EINVAL;
	}
	if (m > AS_TOK_MAX_MERGES) {
		seterr(err, errlen, "tokenizer: too many tokenizer.ggml.merges");
		return -EINVAL;
	}
	*merges = malloc((m ? m : 1) * sizeof(**merges));
	*mlen = malloc((m ? m : 1) * sizeof(**mlen));
	if (!*merges || !*mlen) {
		seterr(err, errlen, "tokenizer: out of memory");
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < m; i++) {
		(*merges)[i] = kv->strs[i].s;
		(*mlen)[i] = kv->strs[i].len;
	}
	d->merges = *merges;
	d->merges_len = *mlen;
	d->n_merges = m;
	return 0;
}

int as_tokenizer_load(struct as_tokenizer **out, const struct gguf_file *f, char *err,
		      size_t errlen)
{
	struct as_vocab_desc d = { 0 };
	const struct gguf_kv *kv_tok, *kv;
	struct gguf_str model;
	enum gguf_type ty;
	uint64_t n, m;
	const char **text = NULL, **merges = NULL;
	size_t *len = NULL, *mlen = NULL;
	char pre[80];
	float *scores = NULL;
	int32_t *types = NULL;
	bool b;
	int rc;

	*out = NULL;
	if (gguf_get_str(f, "tokenizer.ggml.model", &model) == 0 &&
	    !gguf_str_eq(model, "llama")) {
		if (!gguf_str_eq(model, "gpt2")) {
			if (err && errlen)
				snprintf(err, errlen, "tokenizer: unsupported tokenizer.ggml.model "
					 "'%.*s' (supported: llama, gpt2)",
					 (int)(model.len > 64 ? 64 : model.len), model.s);
			return -EOPNOTSUPP;
		}
		d.bpe = true;
	}
	rc = gguf_get_arr(f, "tokenizer.ggml.tokens", &ty, &n, &kv_tok);
	if (rc || ty != GGUF_TYPE_STRING || !kv_tok->strs) {
		seterr(err, errlen, "tokenizer: missing or bad tokenizer.ggml.tokens");
		return -EINVAL;
	}
	if (!n || n > AS_TOK_MAX_VOCAB) {
		seterr(err, errlen, "tokenizer: vocabulary size out of range");
		return -EINVAL;
	}
	text = malloc(n * sizeof(*text));
	len = malloc(n * sizeof(*len));
	if (!text || !len)
		goto nomem;
	for (uint64_t i = 0; i < n; i++) {
		text[i] = kv_tok->strs[i].s;
		len[i] = kv_tok->strs[i].len;
	}
	rc = gguf_get_arr(f, "tokenizer.ggml.scores", &ty, &m, &kv);
	if (rc == 0) {
		if (ty != GGUF_TYPE_FLOAT32 || m != n) {
			seterr(err, errlen, "tokenizer: tokenizer.ggml.scores is not one float32 "
			       "per token");
			rc = -EINVAL;
			goto out;
		}
		scores = malloc(n * sizeof(*scores));
		if (!scores)
			goto nomem;
		memcpy(scores, kv->data, n * sizeof(*scores));
	}
	rc = gguf_get_arr(f, "tokenizer.ggml.token_type", &ty, &m, &kv);
	if (rc == 0) {
		if ((ty != GGUF_TYPE_INT32 && ty != GGUF_TYPE_UINT32) || m != n) {
			seterr(err, errlen, "tokenizer: tokenizer.ggml.token_type is not one "
			       "int32 per token");
			rc = -EINVAL;
			goto out;
		}
		types = malloc(n * sizeof(*types));
		if (!types)
			goto nomem;
		memcpy(types, kv->data, n * sizeof(*types));
	}
	if (d.bpe) {
		rc = load_bpe(f, &d, pre, sizeof(pre), &merges, &mlen, err, errlen);
		if (rc)
			goto out;
	}
	d.n_vocab = (uint32_t)n;
	d.text = text;
	d.text_len = len;
	d.scores = scores;
	d.types = types;
	/* llama.cpp's defaults: SPM 1, 2, 0; BPE 11, 11, none */
	if (get_opt_id(f, "tokenizer.ggml.bos_token_id", d.bpe ? 11 : 1, d.n_vocab, &d.bos) ||
	    get_opt_id(f, "tokenizer.ggml.eos_token_id", d.bpe ? 11 : 2, d.n_vocab, &d.eos) ||
	    get_opt_id(f, "tokenizer.ggml.unknown_token_id", d.bpe ? -1 : 0, d.n_vocab,
			&d.unk) ||
	    get_opt_id(f, "tokenizer.ggml.eot_token_id", -1, d.n_vocab, &d.eot)) {
		seterr(err, errlen, "tokenizer: bad bos/eos/unknown token id type");
		rc = -EINVAL;
		goto out;
	}
	if (d.bos >= (int64_t)d.n_vocab)
		d.bos = -1;
	if (d.eos >= (int64_t)d.n_vocab)
		d.eos = -1;
	d.has_eot = d.eot >= 0;
	/* BPE: BOS only for llama-bpe unless the file says */
	d.add_bos = gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) == 0 ? b :
		(!d.bpe || as_pretok_parse(pre, strlen(pre)) == AS_PRE_LLAMA3);
	d.add_space_prefix = gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b) == 0 ? b :
		true;
	rc = as_tokenizer_new(out, &d, err, errlen);
	goto out;
nomem:
	seterr(err, errlen, "tokenizer: out of memory");
	rc = -ENOMEM;
out:
	free(text);
	free(len);
	free(merges);
	free(mlen);
	free(scores);
	free(types);
	return rc;
}

uint32_t as_tokenizer_n_vocab(const struct as_tokenizer *t)
{
	return t->n;
}

int32_t as_tokenizer_bos(const struct as_tokenizer *t)
{
	return t->bos;
}

int32_t as_tokenizer_eos(const struct as_tokenizer *t)
{
	return t->eos;
}

bool as_tokenizer_add_bos(const struct as_tokenizer *t)
{
	return t->add_bos;
}

int32_t as_tokenizer_eot(const struct as_tokenizer *t)
{
	return t->eot;
}

bool as_tokenizer_is_eog(const struct as_tokenizer *t, int32_t id)
{
	size_t n;
	const char *s;

	if (id < 0 || (uint32_t)id >= t->n)
		return false;
	if (id == t->eos || id == t->eot)
		return true;
	if (t->types[id] != AS_TOKEN_CONTROL)
		return false;
	s = tok_text(t, (uint32_t)id, &n);
	for (size_t k = 0; k < sizeof(eog_names) / sizeof(eog_names[0]); k++)
		if (strlen(eog_names[k]) == n && !memcmp(eog_names[k], s, n))
			return true;
	return false;
}

const char *as_tokenizer_model(const struct as_tokenizer *t)
{
	return t->bpe ? "gpt2" : "llama";
}

int32_t as_token_type(const struct as_tokenizer *t, int32_t id)
{
	if (id < 0 || (uint32_t)id >= t->n)
		return 0;
	return t->types[id];
}

const char *as_token_piece(const struct as_tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || (uint32_t)id >= t->n) {
		*len = 0;
		return "";
	}
	*len = t->piece_off[id + 1] - t->piece_off[id];
	return t->piece + t->piece_off[id];
}

const char *as_token_text(const struct as_tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || (uint32_t)id >= t->n) {
		*len = 0;
		return "";
	}
	return tok_text(t, (uint32_t)id, len);
}

/* ---- encoding ------------------------------------------------------------------- */

struct sym {
	int prev, next;
	const char *s;
	size_t n;
};

struct bigram {
	float score;
	int left, right;
	size_t size;
};

struct heap {
	struct bigram *a;
	size_t n, cap;
};

/* True when x must be popped before y: higher score, then the leftmost. */
static bool bg_before(const struct bigram *x, const struct bigram *y)
{
	return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static int heap_push(struct heap *h, struct bigram b)
{
	size_t i;

	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 64;
		struct bigram *na = realloc(h->a, nc * sizeof(*na));

		if (!na)
			return -ENOMEM;
		h->a = na;
		h->cap = nc;
	}
	i = h->n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!bg_before(&b, &h->a[p]))
			break;
		h->a[i] = h->a[p];
		i = p;
	}
	h->a[i] = b;
	return 0;
}

static struct bigram heap_pop(struct heap *h)
{
	struct bigram top = h->a[0], last = h->a[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && bg_before(&h->a[c + 1], &h->a[c]))
			c++;
		if (!bg_before(&h->a[c], &last))
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n)
		h->a[i] = last;
	return top;
}

static int try_bigram(const struct as_tokenizer *t, struct heap *h, const struct sym *sy,
		      int left, int right)
{
	size_t n;
	int32_t id;
	struct bigram b;

	if (left < 0 || right < 0)
		return 0;
	n = sy[left].n + sy[right].n;
	id = as_tok_find(t, sy[left].s, n);
	if (id < 0)
		return 0;
	b.score = t->scores[id];
	b.left = left;
	b.right = right;
	b.size = n;
	return heap_push(h, b);
}

static size_t utf8_len(uint8_t c)
{
	static const uint8_t lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };

	return lookup[c >> 4];
}

static int spm_encode(const struct as_tokenizer *t, const char *text, size_t len,
		      bool add_bos, bool prefix, int32_t **out, size_t *n_out)
{
	char *buf = NULL;
	struct sym *sy = NULL;
	struct heap h = { 0 };
	int32_t *ids = NULL;
	size_t bl = 0, nsym = 0, nid = 0;
	int rc = -ENOMEM;

	*out = NULL;
	*n_out = 0;
	if (len > (SIZE_MAX - 8) / 3 - 1)
		return -EOVERFLOW;
	buf = malloc(3 * (len + 1) + 1);
	ids = malloc((3 * (len + 1) + 1) * sizeof(*ids));
	if (!buf || !ids)
		goto out;
	if (add_bos && t->bos >= 0)
		ids[nid++] = t->bos;
	if (len == 0)
		goto done;
	if (prefix) {
		memcpy(buf, "\xe2\x96\x81", 3);
		bl = 3;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(buf + bl, "\xe2\x96\x81", 3);
			bl += 3;
		} else {
			buf[bl++] = text[i];
		}
	}
	if (bl > INT32_MAX) {
		rc = -EOVERFLOW;
		goto out;
	}
	sy = malloc(bl * sizeof(*sy));
	if (!sy)
		goto out;
	for (size_t off = 0; off < bl; nsym++) {
		size_t n = utf8_len((uint8_t)buf[off]);

		if (n > bl - off)
			n = bl - off;
		sy[nsym].s = buf + off;
		sy[nsym].n = n;
		sy[nsym].prev = (int)nsym - 1;
		sy[nsym].next = off + n < bl ? (int)nsym + 1 : -1;
		off += n;
	}
	for (size_t i = 1; i < nsym; i++)
		if (try_bigram(t, &h, sy, (int)i - 1, (int)i))
			goto out;
	while (h.n) {
		struct bigram b = heap_pop(&h);
		struct sym *l = &sy[b.left], *r = &sy[b.right];

		if (!l->n || !r->n || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			sy[r->next].prev = b.left;
		if (try_bigram(t, &h, sy, l->prev, b.left) ||
		    try_bigram(t, &h, sy, b.left, l->next))
			goto out;
	}
	for (int i = 0; i >= 0; i = sy[i].next) {
		int32_t id = as_tok_find(t, sy[i].s, sy[i].n);

		if (id >= 0) {
			ids[nid++] = id;
			continue;
		}
		for (size_t k = 0; k < sy[i].n; k++) {
			int32_t bt = t->byte_tok[(uint8_t)sy[i].s[k]];

			if (bt >= 0)
				ids[nid++] = bt;
		}
	}
done:
	*out = ids;
	*n_out = nid;
	ids = NULL;
	rc = 0;
out:
	free(ids);
	free(buf);
	free(sy);
	free(h.a);
	return rc;
}

int as_spm_fragment(const struct as_tokenizer *t, const char *text, size_t len, bool prefix,
		    int32_t **out, size_t *n_out)
{
	return spm_encode(t, text, len, false, prefix, out, n_out);
}

int as_tokenize(const struct as_tokenizer *t, const char *text, size_t len, bool add_bos,
		int32_t **out, size_t *n_out)
{
	struct as_tokenize_opts o = { .add_bos = add_bos, .parse_special = false };

	if (t->bpe)
		return as_tokenize_ex(t, text, len, &o, out, n_out);
	return spm_encode(t, text, len, add_bos, t->add_space_prefix, out, n_out);
}

char *as_detokenize(const struct as_tokenizer *t, const int32_t *ids, size_t n,
		    bool strip_space, size_t *len)
{
	size_t total = 0, o = 0;
	bool first = strip_space && t->add_space_prefix;
	char *s;

	for (size_t i = 0; i < n; i++) {
		size_t l;

		as_token_piece(t, ids[i], &l);
		total += l;
	}
	s = malloc(total + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t l;
		const char *p = as_token_piece(t, ids[i], &l);

		if (first && i == 0 && ids[i] == t->bos)
			continue;
		if (first && l && p[0] == ' ') {
			p++;
			l--;
		}
		first = false;
		memcpy(s + o, p, l);
		o += l;
	}
	s[o] = 0;
	if (len)
		*len = o;
	return s;
}

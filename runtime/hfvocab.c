// SPDX-License-Identifier: MIT
/* A Hugging Face BPE tokenizer folder as GGUF tokenizer keys; see hfvocab.h. */
#include "activeswap/hfvocab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/gguf.h"
#include "activeswap/tokenizer.h"
#include "json.h"
#include "tokenizer_impl.h"

#define MAX_ID (1u << 22)

/* Hugging Face's split regexes (as decoded from JSON) and the names llama.cpp gives them */
static const struct {
	const char *regex, *pre;
} known_splits[] = {
	{ "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}"
	  "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", "llama-bpe" },
	{ "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}"
	  "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", "qwen2" },
};

static char *read_file(const char *path, size_t *len, int *rc)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t cap = 0, n = 0, r;

	*rc = 0;
	if (!f) {
		*rc = -errno;
		return NULL;
	}
	do {
		if (n == cap) {
			if (cap > JSON_MAX_BYTES) {
				*rc = -EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 1 << 20;
			nb = realloc(buf, cap);
			if (!nb) {
				*rc = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r);
	if (ferror(f)) {
		*rc = -EIO;
		goto fail;
	}
	fclose(f);
	*len = n;
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

static int load_json(const char *dir, const char *name, struct json **out, bool optional,
		     char *err, size_t errlen)
{
	char path[4096], jerr[160];
	size_t len = 0;
	int rc;
	char *buf;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	buf = read_file(path, &len, &rc);
	if (!buf) {
		if (optional && rc == -ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = json_parse(buf, len, out, jerr, sizeof(jerr));
	free(buf);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, jerr);
	return rc;
}

static bool looks_special(const char *s)
{
	size_t n = strlen(s);

	if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") ||
	    !strcmp(s, "[@BOS@]"))
		return true;
	if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>"))
		return true;
	/* "<｜" ... "｜>" (fullwidth bars) */
	if (n >= 8 && !strncmp(s, "<\xef\xbd\x9c", 4) && !strcmp(s + n - 4, "\xef\xbd\x9c>"))
		return true;
	return n > 10 && !strncmp(s, "<start_of_", 10) && s[n - 1] == '>';
}

/* An id member: a non-negative integer below MAX_ID */
static int get_id(const struct json *j, uint32_t *id)
{
	if (!j || j->type != JSON_NUM || j->num < 0 || j->num >= MAX_ID ||
	    j->num != (double)(uint32_t)j->num)
		return -EINVAL;
	*id = (uint32_t)j->num;
	return 0;
}

static char *dup_text(const struct json *j)
{
	char *s;

	if (!j || j->type != JSON_STR || strlen(j->s) != j->len)
		return NULL; /* not a string, or one with a NUL inside */
	s = malloc(j->len + 1);
	if (s)
		memcpy(s, j->s, j->len + 1);
	return s;
}

/* "a b" from a pair, spaces inside a part written as U+0120 as llama.cpp's converter */
static char *join_pair(const struct json *p)
{
	const char *a, *b;
	size_t n, o = 0;
	char *s;

	if (p->type != JSON_ARR || p->n != 2 || !(a = json_str(&p->kids[0])) ||
	    !(b = json_str(&p->kids[1])) || strlen(a) != p->kids[0].len ||
	    strlen(b) != p->kids[1].len)
		return NULL;
	n = 2 * (p->kids[0].len + p->kids[1].len) + 2;
	s = malloc(n);
	if (!s)
		return NULL;
	for (int k = 0; k < 2; k++) {
		const char *t = k ? b : a;

		if (k)
			s[o++] = ' ';
		for (; *t; t++) {
			if (*t == ' ') {
				memcpy(s + o, "\xc4\xa0", 2);
				o += 2;
			} else {
				s[o++] = *t;
			}
		}
	}
	s[o] = 0;
	return s;
}

/* The pre-tokenizer name for tokenizer.json's pre_tokenizer, or NULL */
static const char *detect_pre(const struct json *pt)
{
	const char *ty = json_str(json_get(pt, "type"));

	if (!ty)
		return NULL;
	if (!strcmp(ty, "Sequence")) {
		const struct json *seq = json_get(pt, "pretokenizers");

		for (size_t i = 0; seq && seq->type == JSON_ARR && i < seq->n; i++) {
			const char *p = detect_pre(&seq->kids[i]);

			if (p)
				return p;
		}
		return NULL;
	}
	if (!strcmp(ty, "Split")) {
		const char *re = json_str(json_get(json_get(pt, "pattern"), "Regex"));

		for (size_t k = 0; re && k < sizeof(known_splits) / sizeof(known_splits[0]); k++)
			if (!strcmp(re, known_splits[k].regex))
				return known_splits[k].pre;
		return NULL;
	}
	if (!strcmp(ty, "ByteLevel")) {
		const struct json *ur = json_get(pt, "use_regex");

		if (!ur || (ur->type == JSON_BOOL && ur->b))
			return "gpt-2";
	}
	return NULL;
}

/* ---- SentencePiece-style BPE (Llama 2's tokenizer.json) ---------------------------- */

static bool is_str(const struct json *j, const char *key, const char *want)
{
	const char *s = json_str(json_get(j, key));

	return s && !strcmp(s, want);
}

/*
 * Llama 2's normalizer: Sequence [Prepend "▁", Replace " " -> "▁"] and no pre-tokenizer,
 * so the whole text, spaces as U+2581 and one in front, is one BPE word: what
 * SentencePiece (llama.cpp's "llama" vocabulary) does with add_space_prefix.
 */
static bool spm_normalizer(const struct json *tj)
{
	const struct json *n = json_get(tj, "normalizer"), *pt = json_get(tj, "pre_tokenizer");
	const struct json *l = json_get(n, "normalizers");

	if ((pt && pt->type != JSON_NULL) || !is_str(n, "type", "Sequence") || !l ||
	    l->type != JSON_ARR || l->n != 2)
		return false;
	return is_str(&l->kids[0], "type", "Prepend") &&
	       is_str(&l->kids[0], "prepend", "\xe2\x96\x81") &&
	       is_str(&l->kids[1], "type", "Replace") &&
	       is_str(json_get(&l->kids[1], "pattern"), "String", " ") &&
	       is_str(&l->kids[1], "content", "\xe2\x96\x81");
}

/* The text a merge makes: "a b" (exactly one space) or [a, b], concatenated. */
static char *spm_merge_text(const struct json *m)
{
	const char *a, *b, *sp;
	size_t la, lb;
	char *s;

	if (m->type == JSON_STR) {
		if (strlen(m->s) != m->len || !(sp = strchr(m->s, ' ')) || sp == m->s ||
		    !sp[1] || strchr(sp + 1, ' '))
			return NULL;
		a = m->s;
		la = (size_t)(sp - m->s);
		b = sp + 1;
		lb = m->len - la - 1;
	} else {
		if (m->type != JSON_ARR || m->n != 2 || !(a = json_str(&m->kids[0])) ||
		    !(b = json_str(&m->kids[1])))
			return NULL;
		la = m->kids[0].len;
		lb = m->kids[1].len;
		if (strlen(a) != la || strlen(b) != lb || !la || !lb)
			return NULL;
	}
	s = malloc(la + lb + 1);
	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb);
		s[la + lb] = 0;
	}
	return s;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/*
 * SentencePiece scores from the merges: a token's score is minus the rank of the first
 * merge that makes it, so llama.cpp's SentencePiece merging (the adjacent pair whose
 * concatenation is the best-scored token first, leftmost on ties) applies the merges in
 * Hugging Face's order; a token no merge makes gets AS_HF_SPM_NO_MERGE (merged last).
 * Every merge must make a token of the vocabulary.
 */
static int spm_scores(struct as_hf_vocab *v, const struct json *merges, char *err,
		      size_t errlen)
{
	size_t cap = 16, mask;
	uint32_t *tab; /* id + 1, 0 = empty */
	int rc = 0;

	while (cap < 2 * (size_t)v->n)
		cap *= 2;
	mask = cap - 1;
	tab = calloc(cap, sizeof(*tab));
	v->scores = malloc(v->n * sizeof(*v->scores));
	if (!tab || !v->scores) {
		free(tab);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < v->n; i++) {
		size_t h = (size_t)str_hash(v->tokens[i]) & mask;

		v->scores[i] = AS_HF_SPM_NO_MERGE;
		while (tab[h] && strcmp(v->tokens[tab[h] - 1], v->tokens[i]))
			h = (h + 1) & mask;
		if (!tab[h])
			tab[h] = i + 1; /* the first of equal texts, as a lookup by text */
	}
	for (size_t i = 0; i < merges->n && !rc; i++) {
		char *t = spm_merge_text(&merges->kids[i]);
		size_t h;

		if (!t) {
			snprintf(err, errlen, "tokenizer.json: model.merges entry %zu is neither "
				 "\"a b\" nor [a, b]", i);
			rc = -EINVAL;
			break;
		}
		h = (size_t)str_hash(t) & mask;
		while (tab[h] && strcmp(v->tokens[tab[h] - 1], t))
			h = (h + 1) & mask;
		if (!tab[h]) {
			snprintf(err, errlen, "tokenizer.json: merge %zu makes '%.32s', which is "
				 "not in the vocabulary", i, t);
			rc = -EINVAL;
		} else if (v->scores[tab[h] - 1] == AS_HF_SPM_NO_MERGE) {
			v->scores[tab[h] - 1] = -(float)i;
		}
		free(t);
	}
	free(tab);
	return rc;
}

/* "<0xHH>": a byte token of a byte_fallback vocabulary */
static bool byte_token(const char *s)
{
	return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>' &&
	       strchr("0123456789ABCDEF", s[3]) && strchr("0123456789ABCDEF", s[4]) &&
	       s[3] && s[4];
}

static int32_t find_token(const struct as_hf_vocab *v, const struct json *j)
{
	const char *s = json_str(j);

	if (!s)
		s = json_str(json_get(j, "content"));
	if (!s)
		return -1;
	for (uint32_t i = v->n; i-- > 0;)
		if (v->tokens[i] && !strcmp(v->tokens[i], s))
			return (int32_t)i;
	return -1;
}

static int load_config(struct as_hf_vocab *v, const struct json *c, char *err, size_t errlen)
{
	static const char *const names[] = { "bos_token", "eos_token", "unk_token",
					     "pad_token" };
	int32_t *ids[] = { &v->bos, &v->eos, &v->unk, &v->pad };
	const struct json *j;

	for (int k = 0; k < 4; k++) {
		j = json_get(c, names[k]);
		if (!j || j->type == JSON_NULL)
			continue;
		*ids[k] = find_token(v, j);
		if (*ids[k] < 0) {
			snprintf(err, errlen, "tokenizer_config.json: %s is not a token of "
				 "tokenizer.json", names[k]);
			return -EINVAL;
		}
	}
	j = json_get(c, "add_bos_token");
	if (j && j->type == JSON_BOOL)
		v->add_bos = j->b;
	j = json_get(c, "add_eos_token");
	if (j && j->type == JSON_BOOL)
		v->add_eos = j->b;
	j = json_get(c, "chat_template");
	if (j && j->type == JSON_ARR) {
		/* [{"name": ..., "template": ...}]: the one named "default", else the first */
		const struct json *pick = NULL;

		for (size_t i = 0; i < j->n; i++) {
			const char *nm = json_str(json_get(&j->kids[i], "name"));

			if (!pick || (nm && !strcmp(nm, "default")))
				pick = &j->kids[i];
		}
		j = pick ? json_get(pick, "template") : NULL;
	}
	if (j && j->type == JSON_STR) {
		v->chat_template = dup_text(j);
		if (!v->chat_template) {
			snprintf(err, errlen, "tokenizer_config.json: bad chat_template");
			return -EINVAL;
		}
	}
	return 0;
}

void as_hf_vocab_free(struct as_hf_vocab *v)
{
	for (uint32_t i = 0; v->tokens && i < v->n; i++)
		free(v->tokens[i]);
	for (uint64_t i = 0; v->merges && i < v->n_merges; i++)
		free(v->merges[i]);
	free(v->tokens);
	free(v->types);
	free(v->scores);
	free(v->merges);
	free(v->chat_template);
	memset(v, 0, sizeof(*v));
}

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); rc = -EINVAL; goto out; } while (0)

int as_hf_vocab_load(struct as_hf_vocab *v, const char *dir, const char *pre, char *err,
		     size_t errlen)
{
	struct json *tj = NULL, *cj = NULL;
	const struct json *model, *vocab, *added, *merges, *j;
	const char *ty, *found;
	uint32_t max_id = 0, id;
	bool any = false;
	int rc;

	memset(v, 0, sizeof(*v));
	v->bos = v->eos = v->unk = v->pad = -1;
	v->add_bos = v->add_eos = -1;
	rc = load_json(dir, "tokenizer.json", &tj, false, err, errlen);
	if (rc)
		goto out;
	model = json_get(tj, "model");
	ty = json_str(json_get(model, "type"));
	if (!ty || strcmp(ty, "BPE"))
		BAD("tokenizer.json: model.type is '%.32s', only BPE is supported", ty ? ty : "?");
	j = json_get(model, "byte_fallback");
	v->spm = j && j->type == JSON_BOOL && j->b;
	if (v->spm && !spm_normalizer(tj))
		BAD("tokenizer.json: a SentencePiece-style BPE (byte_fallback) without Llama 2's "
		    "normalizer; --vocab-from reads byte-level BPE and Llama 2-style ones");
	if (v->spm && pre)
		BAD("--pre names byte-level BPE split rules; this is a SentencePiece-style BPE");
	vocab = json_get(model, "vocab");
	merges = json_get(model, "merges");
	added = json_get(tj, "added_tokens");
	if (!vocab || vocab->type != JSON_OBJ || !vocab->n)
		BAD("tokenizer.json: model.vocab is missing or not an object");
	if (!merges || merges->type != JSON_ARR)
		BAD("tokenizer.json: model.merges is missing or not an array");
	if (added && added->type != JSON_ARR)
		BAD("tokenizer.json: added_tokens is not an array");
	for (size_t i = 0; i < vocab->n; i++) {
		if (get_id(&vocab->kids[i], &id))
			BAD("tokenizer.json: model.vocab entry %zu has a bad id", i);
		max_id = id > max_id ? id : max_id;
	}
	for (size_t i = 0; added && i < added->n; i++) {
		if (get_id(json_get(&added->kids[i], "id"), &id) ||
		    !json_str(json_get(&added->kids[i], "content")))
			BAD("tokenizer.json: added_tokens entry %zu has a bad id or content", i);
		max_id = id > max_id ? id : max_id;
	}
	v->n = max_id + 1;
	v->tokens = calloc(v->n, sizeof(*v->tokens));
	v->types = calloc(v->n, sizeof(*v->types));
	if (!v->tokens || !v->types)
		goto nomem;
	for (size_t i = 0; i < vocab->n; i++) {
		const struct json *e = &vocab->kids[i];
		struct json kj = { .type = JSON_STR, .s = e->key, .len = e->key_len };

		get_id(e, &id);
		if (v->tokens[id])
			BAD("tokenizer.json: model.vocab gives id %u twice", id);
		v->tokens[id] = dup_text(&kj);
		if (!v->tokens[id])
			BAD("tokenizer.json: model.vocab entry %zu is not a usable string", i);
		v->types[id] = v->spm && byte_token(v->tokens[id]) ? AS_TOKEN_BYTE :
			       AS_TOKEN_NORMAL;
	}
	for (size_t i = 0; added && i < added->n; i++) {
		const struct json *a = &added->kids[i], *sp = json_get(a, "special");
		char *s = dup_text(json_get(a, "content"));

		if (!s)
			BAD("tokenizer.json: added_tokens entry %zu is not a usable string", i);
		get_id(json_get(a, "id"), &id);
		free(v->tokens[id]);
		v->tokens[id] = s;
		if ((sp && sp->type == JSON_BOOL && sp->b) || looks_special(s)) {
			v->types[id] = AS_TOKEN_CONTROL;
		} else {
			char *p;

			v->types[id] = AS_TOKEN_USER_DEFINED;
			/* pre-normalized user-defined spaces: U+2581 -> ' ' */
			while (!v->spm && (p = strstr(s, "\xe2\x96\x81"))) {
				*p = ' ';
				memmove(p + 1, p + 3, strlen(p + 3) + 1);
			}
		}
	}
	for (uint32_t i = 0; i < v->n; i++) {
		char pad[32];

		if (v->tokens[i])
			continue;
		snprintf(pad, sizeof(pad), "[PAD%u]", i);
		v->tokens[i] = strdup(pad);
		if (!v->tokens[i])
			goto nomem;
		v->types[i] = AS_TOKEN_UNUSED;
	}
	if (v->spm) {
		j = json_get(model, "unk_token");
		id = (uint32_t)find_token(v, j); /* the unknown token, when there is one */
		if (j && j->type != JSON_NULL && id < v->n)
			v->types[id] = AS_TOKEN_UNKNOWN;
		rc = spm_scores(v, merges, err, errlen);
		if (!rc)
			rc = load_json(dir, "tokenizer_config.json", &cj, true, err, errlen);
		if (!rc && cj)
			rc = load_config(v, cj, err, errlen);
		goto out;
	}
	v->merges = calloc(merges->n ? merges->n : 1, sizeof(*v->merges));
	if (!v->merges)
		goto nomem;
	v->n_merges = merges->n;
	for (size_t i = 0; i < merges->n; i++) {
		const struct json *m = &merges->kids[i];

		v->merges[i] = m->type == JSON_STR ? dup_text(m) : join_pair(m);
		if (!v->merges[i])
			BAD("tokenizer.json: model.merges entry %zu is neither \"a b\" nor [a, b]",
			    i);
	}
	found = detect_pre(json_get(tj, "pre_tokenizer"));
	j = json_get(tj, "decoder");
	any = found || (json_str(json_get(j, "type")) &&
			!strcmp(json_str(json_get(j, "type")), "ByteLevel"));
	if (!any)
		BAD("tokenizer.json: not a byte-level BPE (no ByteLevel pre-tokenizer or "
		    "decoder)");
	if (pre) {
		if (as_pretok_parse(pre, strlen(pre)) < 0)
			BAD("unknown pre-tokenizer '%.32s' (supported: %s)", pre, AS_PRETOK_NAMES);
		found = pre;
	}
	if (!found)
		BAD("tokenizer.json: unrecognised pre-tokenizer split rules; name them with "
		    "--pre (%s)", AS_PRETOK_NAMES);
	snprintf(v->pre, sizeof(v->pre), "%s", found);
	rc = load_json(dir, "tokenizer_config.json", &cj, true, err, errlen);
	if (!rc && cj)
		rc = load_config(v, cj, err, errlen);
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
out:
	json_free(tj);
	json_free(cj);
	if (rc)
		as_hf_vocab_free(v);
	return rc;
}

int as_hf_vocab_write(const struct as_hf_vocab *v, struct gguf_writer *w)
{
	int rc = 0;

	if (v->spm) {
		rc |= gguf_w_str(w, "tokenizer.ggml.model", "llama");
		rc |= gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens,
				     v->n);
		rc |= gguf_w_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, v->n);
		rc |= gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, v->n);
		rc |= gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", true);
	} else {
		rc |= gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
		rc |= gguf_w_str(w, "tokenizer.ggml.pre", v->pre);
		rc |= gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens,
				     v->n);
		rc |= gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, v->n);
		rc |= gguf_w_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges,
				     v->n_merges);
	}
	if (v->bos >= 0)
		rc |= gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
	if (v->eos >= 0)
		rc |= gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
	if (v->unk >= 0)
		rc |= gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk);
	if (v->pad >= 0)
		rc |= gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad);
	if (v->add_bos >= 0)
		rc |= gguf_w_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
	if (v->add_eos >= 0)
		rc |= gguf_w_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
	if (v->chat_template)
		rc |= gguf_w_str(w, "tokenizer.chat_template", v->chat_template);
	return rc ? -EINVAL : 0;
}

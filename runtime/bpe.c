// SPDX-License-Identifier: MIT
/*
 * Byte-level BPE (tokenizer.ggml.model "gpt2", llama.cpp's BPE) and the special-token
 * splitting both kinds of vocabulary share. See tokenizer.h.
 *
 * Encoding one raw fragment: the text is decoded to code points, cut into words by the
 * pre-tokenizer (pretok.c), each word's UTF-8 bytes are mapped through GPT-2's
 * byte-to-unicode table, and the word's characters are merged pairwise, lowest merge rank
 * first (then leftmost), with the same heap-and-stale-check scheme as the SPM encoder. A
 * final symbol that is not a token falls back to the tokens of its single bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

/* ---- GPT-2 byte <-> unicode --------------------------------------------------------- */

/* The code point each byte is written as: printable Latin-1 stays, the other bytes move
 * to 256, 257, ... in byte order. Both tables are filled once (pthread_once). */
static uint16_t fwd[256];
static int16_t inv[324];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
	uint16_t k = 256;

	for (int i = 0; i < 324; i++)
		inv[i] = -1;
	for (int b = 0; b < 256; b++) {
		bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;

		fwd[b] = keep ? (uint16_t)b : k++;
		inv[fwd[b]] = (int16_t)b;
	}
}

static uint32_t byte_cp(uint8_t b)
{
	pthread_once(&tables_once, init_tables);
	return fwd[b];
}

/* Inverse of byte_cp, or -1 */
static int cp_byte(uint32_t c)
{
	pthread_once(&tables_once, init_tables);
	return c < 324 ? inv[c] : -1;
}

size_t as_bpe_decode_text(const char *s, size_t n, char *dst)
{
	size_t o = 0, i = 0;

	while (i < n) {
		uint32_t c;
		size_t l = 1;
		int b;

		if (((uint8_t)s[i] & 0xe0) == 0xc0 && i + 1 < n &&
		    ((uint8_t)s[i + 1] & 0xc0) == 0x80) {
			c = ((uint8_t)s[i] & 0x1fu) << 6 | ((uint8_t)s[i + 1] & 0x3fu);
			l = 2;
		} else {
			c = (uint8_t)s[i];
		}
		b = (l == 2 || c < 0x80) ? cp_byte(c) : -1;
		if (b >= 0) {
			dst[o++] = (char)b;
		} else {
			memcpy(dst + o, s + i, l);
			o += l;
		}
		i += l;
	}
	return o;
}

/* ---- merges ------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static int64_t merge_rank(const struct as_tokenizer *t, int32_t l, int32_t r)
{
	uint64_t key, i;

	if (l < 0 || r < 0 || !t->mh)
		return -1;
	key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
	for (i = mix64(key) & t->mh_mask;; i = (i + 1) & t->mh_mask) {
		if (!t->mh[i].key)
			return -1;
		if (t->mh[i].key == key)
			return t->mh[i].rank;
	}
}

int as_bpe_build(struct as_tokenizer *t, const struct as_vocab_desc *d, char *err,
		 size_t errlen)
{
	uint64_t cap = 1;
	int pre = d->pre ? as_pretok_parse(d->pre, strlen(d->pre)) : AS_PRE_DEFAULT;

	if (pre < 0) {
		if (err && errlen)
			snprintf(err, errlen, "tokenizer: unknown tokenizer.ggml.pre '%.64s' "
				 "(supported: %s)", d->pre, AS_PRETOK_NAMES);
		return -EOPNOTSUPP;
	}
	t->pre = (enum as_pretok)pre;
	t->ignore_merges = t->pre == AS_PRE_LLAMA3;
	if (d->n_merges > AS_TOK_MAX_MERGES) {
		if (err && errlen)
			snprintf(err, errlen, "tokenizer: %llu merges (at most %llu)",
				 (unsigned long long)d->n_merges, (unsigned long long)AS_TOK_MAX_MERGES);
		return -EINVAL;
	}
	if (!d->n_merges)
		return 0;
	while (cap < 2 * d->n_merges)
		cap <<= 1;
	t->mh = calloc(cap, sizeof(*t->mh));
	if (!t->mh) {
		if (err && errlen)
			snprintf(err, errlen, "tokenizer: out of memory");
		return -ENOMEM;
	}
	t->mh_mask = cap - 1;
	for (uint64_t k = 0; k < d->n_merges; k++) {
		const char *s = d->merges[k];
		size_t n = d->merges_len ? d->merges_len[k] : strlen(s);
		const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
		int32_t l, r;
		uint64_t key, i;

		if (!sp) {
			if (err && errlen)
				snprintf(err, errlen, "tokenizer: merge %llu has no space "
					 "between its two tokens", (unsigned long long)k);
			return -EINVAL;
		}
		l = as_tok_find(t, s, (size_t)(sp - s));
		r = as_tok_find(t, sp + 1, n - (size_t)(sp - s) - 1);
		if (l < 0 || r < 0) {
			if (err && errlen)
				snprintf(err, errlen, "tokenizer: merge %llu names a token that "
					 "is not in the vocabulary", (unsigned long long)k);
			return -EINVAL;
		}
		key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
		for (i = mix64(key) & t->mh_mask;; i = (i + 1) & t->mh_mask) {
			if (!t->mh[i].key) {
				t->mh[i].key = key;
				t->mh[i].rank = (uint32_t)k;
				break;
			}
			if (t->mh[i].key == key)
				break; /* the first (lowest) rank stays, as in llama.cpp */
		}
	}
	return 0;
}

/* ---- growing id list ---------------------------------------------------------------- */

struct ids {
	int32_t *a;
	size_t n, cap;
};

static int ids_push(struct ids *v, int32_t id)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 64;
		int32_t *na = realloc(v->a, nc * sizeof(*na));

		if (!na)
			return -ENOMEM;
		v->a = na;
		v->cap = nc;
	}
	v->a[v->n++] = id;
	return 0;
}

/* ---- BPE over one word -------------------------------------------------------------- */

struct bsym {
	int prev, next;
	size_t off, n;
	int32_t id;
};

struct bbig {
	uint32_t rank;
	int left, right;
	size_t size;
};

struct work {
	uint32_t *cp;
	size_t *ends, *tmp;
	char *enc;           /* byte-encoded word */
	struct bsym *sy;
	struct bbig *h;
	size_t hn, hcap;
};

static bool bb_before(const struct bbig *x, const struct bbig *y)
{
	return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}

static int bheap_push(struct work *w, struct bbig b)
{
	size_t i;

	if (w->hn == w->hcap) {
		size_t nc = w->hcap ? w->hcap * 2 : 64;
		struct bbig *na = realloc(w->h, nc * sizeof(*na));

		if (!na)
			return -ENOMEM;
		w->h = na;
		w->hcap = nc;
	}
	i = w->hn++;
	while (i > 0 && bb_before(&b, &w->h[(i - 1) / 2])) {
		w->h[i] = w->h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->h[i] = b;
	return 0;
}

static struct bbig bheap_pop(struct work *w)
{
	struct bbig top = w->h[0], last = w->h[--w->hn];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= w->hn)
			break;
		if (c + 1 < w->hn && bb_before(&w->h[c + 1], &w->h[c]))
			c++;
		if (!bb_before(&w->h[c], &last))
			break;
		w->h[i] = w->h[c];
		i = c;
	}
	if (w->hn)
		w->h[i] = last;
	return top;
}

static int add_bigram(const struct as_tokenizer *t, struct work *w, int l, int r)
{
	int64_t rank;
	struct bbig b;

	if (l < 0 || r < 0)
		return 0;
	rank = merge_rank(t, w->sy[l].id, w->sy[r].id);
	if (rank < 0)
		return 0;
	b.rank = (uint32_t)rank;
	b.left = l;
	b.right = r;
	b.size = w->sy[l].n + w->sy[r].n;
	return bheap_push(w, b);
}

static size_t enc_char_len(uint8_t c)
{
	return (c & 0xe0) == 0xc0 ? 2 : 1;
}

/* The word (UTF-8 bytes s[0..n)) as tokens. */
static int bpe_word(const struct as_tokenizer *t, struct work *w, const char *s, size_t n,
		    struct ids *out)
{
	size_t el = 0, nsym = 0;
	int32_t id;

	for (size_t i = 0; i < n; i++)
		el += as_utf8_encode(byte_cp((uint8_t)s[i]), w->enc + el);
	if (t->ignore_merges) {
		id = as_tok_find(t, w->enc, el);
		if (id >= 0)
			return ids_push(out, id);
	}
	for (size_t off = 0; off < el; nsym++) {
		size_t l = enc_char_len((uint8_t)w->enc[off]);

		w->sy[nsym].off = off;
		w->sy[nsym].n = l;
		w->sy[nsym].id = as_tok_find(t, w->enc + off, l);
		w->sy[nsym].prev = (int)nsym - 1;
		w->sy[nsym].next = off + l < el ? (int)nsym + 1 : -1;
		off += l;
	}
	w->hn = 0;
	for (size_t i = 1; i < nsym; i++)
		if (add_bigram(t, w, (int)i - 1, (int)i))
			return -ENOMEM;
	while (w->hn) {
		struct bbig b = bheap_pop(w);
		struct bsym *l = &w->sy[b.left], *r = &w->sy[b.right];

		if (!l->n || !r->n || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		l->id = as_tok_find(t, w->enc + l->off, l->n);
		if (r->next >= 0)
			w->sy[r->next].prev = b.left;
		if (add_bigram(t, w, l->prev, b.left) || add_bigram(t, w, b.left, l->next))
			return -ENOMEM;
	}
	for (int i = 0; nsym && i >= 0; i = w->sy[i].next) {
		const struct bsym *y = &w->sy[i];

		if (y->id >= 0) {
			if (ids_push(out, y->id))
				return -ENOMEM;
			continue;
		}
		for (size_t k = 0; k < y->n; k++) {
			id = as_tok_find(t, w->enc + y->off + k, 1);
			if (id >= 0 && ids_push(out, id))
				return -ENOMEM;
		}
	}
	return 0;
}

/* One raw fragment: pre-tokenize, then BPE each word. */
static int bpe_fragment(const struct as_tokenizer *t, const char *s, size_t n,
			struct ids *out)
{
	struct work w = { 0 };
	size_t ncp, nw, start = 0, maxb = 0;
	char *u8 = NULL;
	int rc = -ENOMEM;

	if (n > SIZE_MAX / 16)
		return -EOVERFLOW;
	w.cp = malloc(n * sizeof(*w.cp) + 1);
	w.ends = malloc(n * sizeof(*w.ends) + 1);
	w.tmp = malloc(n * sizeof(*w.tmp) + 1);
	if (!w.cp || !w.ends || !w.tmp)
		goto out;
	ncp = as_utf8_decode(s, n, w.cp);
	nw = as_pretok_split(t->pre, w.cp, ncp, w.ends, w.tmp);
	for (size_t k = 0; k < nw; k++) {
		char tmp[4];
		size_t b = 0;

		for (size_t i = start; i < w.ends[k]; i++)
			b += as_utf8_encode(w.cp[i], tmp);
		maxb = b > maxb ? b : maxb;
		start = w.ends[k];
	}
	/* the longest word: maxb bytes, 2 encoded bytes and at most one symbol per byte */
	u8 = malloc(maxb + 1);
	w.enc = malloc(2 * maxb + 1);
	w.sy = malloc((maxb + 1) * sizeof(*w.sy));
	if (!u8 || !w.enc || !w.sy)
		goto out;
	start = 0;
	for (size_t k = 0; k < nw; k++) {
		size_t bl = 0;

		for (size_t i = start; i < w.ends[k]; i++)
			bl += as_utf8_encode(w.cp[i], u8 + bl);
		start = w.ends[k];
		rc = bpe_word(t, &w, u8, bl, out);
		if (rc)
			goto out;
	}
	rc = 0;
out:
	free(u8);
	free(w.cp);
	free(w.ends);
	free(w.tmp);
	free(w.enc);
	free(w.sy);
	free(w.h);
	return rc;
}

/* ---- special tokens ----------------------------------------------------------------- */

struct frag {
	size_t off, len;
	int32_t id;          /* >= 0: a special token; -1: raw text */
};

struct frags {
	struct frag *a;
	size_t n, cap;
};

static int frag_push(struct frags *v, size_t off, size_t len, int32_t id)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 16;
		struct frag *na = realloc(v->a, nc * sizeof(*na));

		if (!na)
			return -ENOMEM;
		v->a = na;
		v->cap = nc;
	}
	v->a[v->n].off = off;
	v->a[v->n].len = len;
	v->a[v->n].id = id;
	v->n++;
	return 0;
}

/*
 * Cut the text at every special token it contains, longest tokens first (llama.cpp's
 * partition): control and unknown tokens only with parse_special, user-defined always.
 */
static int partition(const struct as_tokenizer *t, const char *text, size_t len,
		     bool parse_special, struct frags *out)
{
	struct frags cur = { 0 }, nxt = { 0 }, tmp;
	int rc = -ENOMEM;

	if (len && frag_push(&cur, 0, len, -1))
		goto out;
	for (uint32_t k = 0; k < t->n_special; k++) {
		int32_t id = t->special[k];
		size_t tl = t->text_off[id + 1] - t->text_off[id];
		const char *ts = t->text + t->text_off[id];

		if (!parse_special && t->types[id] != AS_TOKEN_USER_DEFINED)
			continue;
		nxt.n = 0;
		for (size_t f = 0; f < cur.n; f++) {
			struct frag fr = cur.a[f];
			size_t p = fr.off, e = fr.off + fr.len;

			if (fr.id >= 0) {
				if (frag_push(&nxt, fr.off, fr.len, fr.id))
					goto out;
				continue;
			}
			while (p < e) {
				const char *m = memmem(text + p, e - p, ts, tl);
				size_t mo;

				if (!m)
					break;
				mo = (size_t)(m - text);
				if ((mo > p && frag_push(&nxt, p, mo - p, -1)) ||
				    frag_push(&nxt, mo, tl, id))
					goto out;
				p = mo + tl;
			}
			if (p < e && frag_push(&nxt, p, e - p, -1))
				goto out;
		}
		tmp = cur;
		cur = nxt;
		nxt = tmp;
	}
	*out = cur;
	cur.a = NULL;
	rc = 0;
out:
	free(cur.a);
	free(nxt.a);
	return rc;
}

int as_tokenize_ex(const struct as_tokenizer *t, const char *text, size_t len,
		   const struct as_tokenize_opts *o, int32_t **out, size_t *n_out)
{
	struct frags fr = { 0 };
	struct ids v = { 0 };
	bool prev_special = true;
	int rc;

	*out = NULL;
	*n_out = 0;
	if (!t->bpe && !o->parse_special)
		return as_tokenize(t, text, len, o->add_bos, out, n_out);
	rc = partition(t, text, len, o->parse_special, &fr);
	if (rc)
		goto out;
	if (o->add_bos && t->bos >= 0 && (rc = ids_push(&v, t->bos)))
		goto out;
	for (size_t f = 0; f < fr.n; f++) {
		if (fr.a[f].id >= 0) {
			rc = ids_push(&v, fr.a[f].id);
			prev_special = true;
		} else if (t->bpe) {
			rc = bpe_fragment(t, text + fr.a[f].off, fr.a[f].len, &v);
		} else {
			int32_t *ids;
			size_t n;

			rc = as_spm_fragment(t, text + fr.a[f].off, fr.a[f].len,
					     t->add_space_prefix && prev_special, &ids, &n);
			for (size_t i = 0; !rc && i < n; i++)
				rc = ids_push(&v, ids[i]);
			free(ids);
			prev_special = false;
		}
		if (rc)
			goto out;
	}
	if (!v.a && !(v.a = malloc(sizeof(*v.a)))) {
		rc = -ENOMEM;
		goto out;
	}
	*out = v.a;
	*n_out = v.n;
	v.a = NULL;
	rc = 0;
out:
	free(v.a);
	free(fr.a);
	return rc;
}

// SPDX-License-Identifier: MIT
/*
 * The pre-tokenizers of byte-level BPE vocabularies: the text is cut into words before
 * merging, by the split rules tokenizer.ggml.pre names. llama.cpp writes them as regular
 * expressions; here each is a hand-written scanner that returns the length of the match
 * the expression would find at a position (leftmost alternative first, greedy, with the
 * same backtracking), so no regex engine is needed:
 *
 *   gpt-2      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 *   llama-bpe  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *              ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2      as llama-bpe with \p{N} (one digit per word)
 *   default    [\p{P}\$\+<=>\^~\|]+, then gpt-2, then \p{N}+, then [0-9][0-9][0-9], each
 *              pass splitting the words of the one before
 *
 * Text between matches is a word too. Where llama.cpp runs its own scanner (gpt-2 and
 * llama-bpe) an unmatched character is a word by itself and a code point without a
 * Unicode category is not "[^\s\p{L}\p{N}]"; where it runs std::regex (qwen2, the
 * other default passes) unmatched runs stay together and such a code point matches it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "unicode_tab.h"

enum { F_WS = 1, F_L = 2, F_N = 4, F_P = 8, F_UNDEF = 16 };

static bool in_ranges(const struct as_ucd_range *r, unsigned int n, uint32_t c)
{
	unsigned int lo = 0, hi = n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (c < r[mid].lo)
			hi = mid;
		else if (c > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool is_ws(uint32_t c)
{
	if (c < 128)
		return c == ' ' || (c >= 9 && c <= 13);
	return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
	       c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

static unsigned int flags(uint32_t c)
{
	unsigned int f = is_ws(c) ? F_WS : 0;

	if (c < 128) {
		if ((c | 32) >= 'a' && (c | 32) <= 'z')
			return F_L;
		if (c >= '0' && c <= '9')
			return F_N;
		if (strchr("!\"#%&'()*,-./:;?@[\\]_{}", (int)c) && c)
			return F_P;
		return f;
	}
	if (c > 0x10ffff || in_ranges(as_ucd_unassigned, as_ucd_unassigned_n, c))
		return f | F_UNDEF;
	if (in_ranges(as_ucd_letter, as_ucd_letter_n, c))
		return f | F_L;
	if (in_ranges(as_ucd_number, as_ucd_number_n, c))
		return f | F_N;
	if (in_ranges(as_ucd_punct, as_ucd_punct_n, c))
		return f | F_P;
	return f;
}

/* [^\s\p{L}\p{N}]; custom: llama.cpp's own scanners also refuse undefined code points */
static bool is_other(unsigned int f, bool custom)
{
	return !(f & (F_WS | F_L | F_N)) && !(custom && (f & F_UNDEF));
}

static uint32_t lower(uint32_t c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when fold */
static size_t m_contraction(const uint32_t *c, size_t p, size_t e, bool fold)
{
	uint32_t a, b;

	if (c[p] != '\'' || p + 1 >= e)
		return 0;
	a = fold ? lower(c[p + 1]) : c[p + 1];
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return 2;
	if (p + 2 >= e)
		return 0;
	b = fold ? lower(c[p + 2]) : c[p + 2];
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return 3;
	return 0;
}

/* Whitespace alternatives; nl: llama-bpe's \s*[\r\n]+ first, and \s+ last */
static size_t m_space(const uint32_t *c, size_t p, size_t e, bool nl)
{
	size_t w = 0, last = 0;

	while (p + w < e && is_ws(c[p + w])) {
		if (c[p + w] == '\r' || c[p + w] == '\n')
			last = w + 1;
		w++;
	}
	if (nl && last)
		return last;
	if (w > 1 && p + w < e)
		return w - 1;
	/* \s+ (llama-bpe), or \s+(?!\S) at the end of the text (gpt-2) */
	if (w > 0 && (nl || p + w == e))
		return w;
	return 0;
}

static size_t m_gpt2(const uint32_t *c, size_t p, size_t e, int arg)
{
	size_t q, m = m_contraction(c, p, e, false);
	bool sp = c[p] == ' ';
	unsigned int f2;

	(void)arg;
	if (m)
		return m;
	f2 = sp ? (p + 1 < e ? flags(c[p + 1]) : F_UNDEF) : flags(c[p]);
	q = p + sp;
	if (f2 & F_L) {
		while (q < e && (flags(c[q]) & F_L))
			q++;
		return q - p;
	}
	if (f2 & F_N) {
		while (q < e && (flags(c[q]) & F_N))
			q++;
		return q - p;
	}
	if (is_other(f2, true)) {
		while (q < e && is_other(flags(c[q]), true))
			q++;
		return q - p;
	}
	return m_space(c, p, e, false);
}

/* llama-bpe (arg 3: up to three digits, llama.cpp's own scanner) and qwen2 (arg 1) */
static size_t m_llama3(const uint32_t *c, size_t p, size_t e, int arg)
{
	size_t q, m = m_contraction(c, p, e, true);
	bool custom = arg != 1, sp = c[p] == ' ';
	unsigned int f = flags(c[p]), f2;

	if (m)
		return m;
	if (c[p] != '\r' && c[p] != '\n' && !(f & F_N) &&
	    ((f & F_L) || (p + 1 < e && (flags(c[p + 1]) & F_L)))) {
		q = p + 1;
		while (q < e && (flags(c[q]) & F_L))
			q++;
		return q - p;
	}
	if (f & F_N) {
		q = p + 1;
		while (q < e && q - p < (size_t)arg && (flags(c[q]) & F_N))
			q++;
		return q - p;
	}
	f2 = sp ? (p + 1 < e ? flags(c[p + 1]) : F_WS) : f;
	if (is_other(f2, custom)) {
		q = p + sp;
		while (q < e && is_other(flags(c[q]), custom))
			q++;
		while (q < e && (c[q] == '\r' || c[q] == '\n'))
			q++;
		return q - p;
	}
	return m_space(c, p, e, true);
}

static bool is_default_punct(uint32_t c)
{
	return (flags(c) & F_P) || (c < 128 && c && strchr("$+<=>^~|", (int)c));
}

static size_t m_default_punct(const uint32_t *c, size_t p, size_t e, int arg)
{
	size_t q = p;

	(void)arg;
	while (q < e && is_default_punct(c[q]))
		q++;
	return q - p;
}

static size_t m_numbers(const uint32_t *c, size_t p, size_t e, int arg)
{
	size_t q = p;

	(void)arg;
	while (q < e && (flags(c[q]) & F_N))
		q++;
	return q - p;
}

static size_t m_digits3(const uint32_t *c, size_t p, size_t e, int arg)
{
	(void)arg;
	if (p + 3 > e)
		return 0;
	for (size_t i = 0; i < 3; i++)
		if (c[p + i] < '0' || c[p + i] > '9')
			return 0;
	return 3;
}

typedef size_t (*scan_fn)(const uint32_t *c, size_t p, size_t e, int arg);

/* One pass over the words in[0..nin): out gets the finer words. separate: each unmatched
 * character is a word (llama.cpp's own scanners), else unmatched runs stay whole. */
static size_t split_pass(const uint32_t *c, const size_t *in, size_t nin, size_t *out,
			 scan_fn fn, int arg, bool separate)
{
	size_t no = 0, s = 0;

	for (size_t k = 0; k < nin; k++) {
		size_t e = in[k], p = s, u = s;

		while (p < e) {
			size_t m = fn(c, p, e, arg);

			if (!m) {
				p++;
				if (separate) {
					out[no++] = p;
					u = p;
				}
				continue;
			}
			if (u < p)
				out[no++] = p;
			p += m;
			out[no++] = p;
			u = p;
		}
		if (u < e)
			out[no++] = e;
		s = e;
	}
	return no;
}

size_t as_pretok_split(enum as_pretok pre, const uint32_t *cp, size_t n, size_t *ends,
		       size_t *tmp)
{
	size_t k;

	if (!n)
		return 0;
	tmp[0] = n;
	switch (pre) {
	case AS_PRE_GPT2:
		return split_pass(cp, tmp, 1, ends, m_gpt2, 0, true);
	case AS_PRE_LLAMA3:
		return split_pass(cp, tmp, 1, ends, m_llama3, 3, true);
	case AS_PRE_QWEN2:
		return split_pass(cp, tmp, 1, ends, m_llama3, 1, false);
	default:
		k = split_pass(cp, tmp, 1, ends, m_default_punct, 0, false);
		k = split_pass(cp, ends, k, tmp, m_gpt2, 0, true);
		k = split_pass(cp, tmp, k, ends, m_numbers, 0, false);
		k = split_pass(cp, ends, k, tmp, m_digits3, 0, false);
		memcpy(ends, tmp, k * sizeof(*ends));
		return k;
	}
}

int as_pretok_parse(const char *name, size_t len)
{
	static const struct {
		const char *name;
		enum as_pretok pre;
	} tab[] = {
		{ "default", AS_PRE_DEFAULT }, { "gpt-2", AS_PRE_GPT2 },
		{ "llama-bpe", AS_PRE_LLAMA3 }, { "llama3", AS_PRE_LLAMA3 },
		{ "llama-v3", AS_PRE_LLAMA3 }, { "qwen2", AS_PRE_QWEN2 },
		{ "deepseek-r1-qwen", AS_PRE_QWEN2 },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == len && !memcmp(tab[i].name, name, len))
			return tab[i].pre;
	return -1;
}


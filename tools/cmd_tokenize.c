// SPDX-License-Identifier: MIT
/*
 * activeswap tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--no-special] [--no-bos]
 * [--show-count]: how a text tokenizes, printed as llama.cpp's llama-tokenize prints it.
 *
 * MODEL is a GGUF or a store (its embedded metadata); the text is taken byte for byte.
 * Default output: one line per token, "%6d -> 'PIECE'" (control tokens shown by their
 * text); --ids: one Python-style list "[1, 2, 3]". BOS is added when the vocabulary asks
 * for it (tokenizer.ggml.add_bos_token) unless --no-bos; control tokens written in the
 * text ("<|im_start|>") are tokens unless --no-special.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/gguf.h"
#include "activeswap/tokenizer.h"
#include "args.h"
#include "cli.h"
#include "libswap.h"

#define SUB "tokenize"
#define MAX_TEXT (256u << 20)

struct tok_opts {
	const char *model, *prompt, *file;
	bool ids, no_special, no_bos, show_count;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: activeswap tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--no-special]\n"
		"         [--no-bos] [--show-count]\n"
		"Prints the tokens of TEXT (or of FILE, byte for byte) for the vocabulary of\n"
		"MODEL (a GGUF or a store), as llama.cpp's llama-tokenize does.\n"
		"  --ids         only the ids, as one list: [1, 2, 3]\n"
		"  --no-special  control tokens written in the text are plain text\n"
		"  --no-bos      do not add BOS even when the vocabulary asks for it\n"
		"  --show-count  also print the number of tokens\n");
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			if (cap >= MAX_TEXT) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb)
				goto fail;
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r);
	if (ferror(f))
		goto fail;
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

/* The tokenizer of a GGUF, or of a store's embedded metadata (*g and *st stay open). */
static int load(const char *path, struct gguf_file **g, struct swap_store **st,
		struct as_tokenizer **tok)
{
	char err[512], magic[4] = { 0 };
	const struct swap_store_desc *d;
	FILE *f = fopen(path, "rb");

	if (!f) {
		cli_err(SUB, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fread(magic, 1, 4, f) != 4)
		memset(magic, 0, 4);
	fclose(f);
	if (!memcmp(magic, "GGUF", 4)) {
		if (gguf_open(g, path, err, sizeof(err))) {
			cli_err(SUB, "%s: %s", path, err);
			return -1;
		}
	} else {
		if (swap_store_open(st, path, err, sizeof(err))) {
			cli_err(SUB, "%s: %s", path, err);
			return -1;
		}
		d = swap_store_desc(*st);
		if (!d->meta_len || gguf_parse(g, d->meta, d->meta_len, err, sizeof(err))) {
			cli_err(SUB, "%s: no usable metadata in the store%s%s", path,
				d->meta_len ? ": " : "", d->meta_len ? err : "");
			return -1;
		}
	}
	if (as_tokenizer_load(tok, *g, err, sizeof(err))) {
		cli_err(SUB, "%s: %s", path, err);
		return -1;
	}
	return 0;
}

static void put_escaped_piece(const struct as_tokenizer *t, int32_t id)
{
	size_t n;
	const char *p = as_token_piece(t, id, &n);

	/* llama-tokenize renders special tokens: print a control token by its text */
	if (!n && as_token_type(t, id) == AS_TOKEN_CONTROL)
		p = as_token_text(t, id, &n);
	fwrite(p, 1, n, stdout);
}

int cmd_tokenize(int argc, char **argv)
{
	struct tok_opts o = { 0 };
	const struct arg_opt opts[] = {
		ARG_OPT_STR("--model", "-m", &o.model),
		ARG_OPT_STR("--prompt", "-p", &o.prompt),
		ARG_OPT_STR("--file", "-f", &o.file),
		ARG_OPT_BOOL("--ids", NULL, &o.ids),
		ARG_OPT_BOOL("--no-special", NULL, &o.no_special),
		ARG_OPT_BOOL("--no-bos", NULL, &o.no_bos),
		ARG_OPT_BOOL("--show-count", NULL, &o.show_count),
		ARG_OPT_END,
	};
	const struct arg_spec spec = { .sub = SUB, .tables = { opts }, .usage_fn = usage };
	struct gguf_file *g = NULL;
	struct swap_store *st = NULL;
	struct as_tokenizer *tok = NULL;
	struct as_tokenize_opts to;
	char *text = NULL;
	size_t len = 0, n = 0;
	int32_t *ids = NULL;
	int rc = args_parse(&spec, argc, argv);

	if (rc >= 0)
		return rc;
	if (!o.model || (!o.prompt == !o.file)) {
		cli_err(SUB, "need -m MODEL and one of -p TEXT or -f FILE (--help)");
		return 2;
	}
	rc = 1;
	if (o.file) {
		text = read_all(o.file, &len);
		if (!text) {
			cli_err(SUB, "%s: %s", o.file, strerror(errno));
			goto out;
		}
	}
	if (load(o.model, &g, &st, &tok))
		goto out;
	to.add_bos = !o.no_bos && as_tokenizer_add_bos(tok);
	to.parse_special = !o.no_special;
	if (as_tokenize_ex(tok, text ? text : o.prompt, text ? len : strlen(o.prompt), &to, &ids,
			   &n)) {
		cli_err(SUB, "out of memory");
		goto out;
	}
	if (o.ids) {
		putchar('[');
		for (size_t i = 0; i < n; i++)
			printf("%s%d", i ? ", " : "", ids[i]);
		printf("]\n");
	} else {
		for (size_t i = 0; i < n; i++) {
			printf("%6d -> '", ids[i]);
			put_escaped_piece(tok, ids[i]);
			printf("'\n");
		}
	}
	if (o.show_count)
		printf("Total number of tokens: %zu\n", n);
	rc = fflush(stdout) ? 1 : 0;
out:
	free(ids);
	free(text);
	as_tokenizer_free(tok);
	gguf_close(g);
	if (st)
		swap_store_close(st);
	return rc;
}

// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for loading a model from a GGUF's metadata and tensors (issue #18):
 * gguf_parse(), then as_model_from_gguf() (architecture, hyper-parameters, every tensor's
 * presence, type and shape), the tokenizer (tokenizer.ggml.*) and the chat template
 * (tokenizer.chat_template). A refusal must come with a one-line message; a model that
 * loads must keep every matrix and vector it points at inside the input, with the shapes
 * its hyper-parameters say; a tokenizer that loads must tokenize into ids below its
 * n_vocab; a detected chat template must format a conversation.
 * Built and run by tests/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined), seeds
 * in tests/fuzz/corpus/model/ (see its README) plus the ones run.sh makes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/chat.h"
#include "activeswap/gguf.h"
#include "activeswap/model.h"
#include "activeswap/tokenizer.h"

static volatile uint8_t sink;

static void touch(const void *p, uint64_t n, const uint8_t *base, size_t size)
{
	const uint8_t *b = p;

	if (!n)
		return;
	if (!b || b < base || b > base + size || n > (uint64_t)(base + size - b))
		abort();
	sink ^= b[0];
	sink ^= b[n - 1];
}

static void check_err(int rc, const char *err, size_t errlen)
{
	if (rc >= 0 || !err[0] || !memchr(err, 0, errlen) || strchr(err, '\n'))
		abort();
}

static void weight(const struct as_weight *w, uint64_t rows, uint64_t cols,
		   const uint8_t *base, size_t size)
{
	if (w->rows != rows || w->cols != cols || !w->row_bytes)
		abort();
	if (w->rows > UINT64_MAX / w->row_bytes)
		abort();
	touch(w->data, w->rows * w->row_bytes, base, size);
}

static void vec(const float *v, uint64_t n, const uint8_t *base, size_t size)
{
	if (v)
		touch(v, n * sizeof(float), base, size);
}

static void model(const struct as_model *m, const uint8_t *base, size_t size)
{
	const struct as_hparams *hp = &m->hp;
	uint64_t q = as_q_dim(hp), kv = (uint64_t)hp->n_head_kv * hp->head_dim;

	if (!hp->n_vocab || !hp->dim || !hp->n_layer || !hp->n_head || !hp->n_head_kv ||
	    hp->n_head % hp->n_head_kv || !hp->head_dim || hp->n_rot > hp->head_dim ||
	    hp->n_rot % 2)
		abort();
	weight(&m->tok_embd, hp->n_vocab, hp->dim, base, size);
	weight(&m->output, hp->n_vocab, hp->dim, base, size);
	vec(m->output_norm, hp->dim, base, size);
	vec(m->rope_freqs, hp->n_rot / 2, base, size);
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		const struct as_layer *L = &m->layers[l];
		const uint64_t rows[AS_OP_COUNT] = {
			[AS_OP_Q] = q, [AS_OP_K] = kv, [AS_OP_V] = kv, [AS_OP_O] = hp->dim,
			[AS_OP_GATE] = hp->hidden, [AS_OP_UP] = hp->hidden, [AS_OP_DOWN] = hp->dim,
		};
		const uint64_t cols[AS_OP_COUNT] = {
			[AS_OP_Q] = hp->dim, [AS_OP_K] = hp->dim, [AS_OP_V] = hp->dim,
			[AS_OP_O] = q, [AS_OP_GATE] = hp->dim, [AS_OP_UP] = hp->dim,
			[AS_OP_DOWN] = hp->hidden,
		};

		vec(L->attn_norm, hp->dim, base, size);
		vec(L->ffn_norm, hp->dim, base, size);
		if (!L->attn_norm || !L->ffn_norm)
			abort();
		for (int op = 0; op < AS_OP_COUNT; op++) {
			weight(&L->w[op], rows[op], cols[op], base, size);
			vec(L->bias[op], rows[op], base, size);
		}
		vec(L->q_norm, hp->head_dim, base, size);
		vec(L->k_norm, hp->head_dim, base, size);
	}
}

static void tokenizer(const struct gguf_file *f)
{
	static const char text[] = "Hello <|im_start|> w\xc3\xb6rld's 12345\n\n  \xe4\xbd\xa0";
	struct as_tokenize_opts o = { .add_bos = true, .parse_special = true };
	struct as_tokenizer *t;
	char err[512] = "";
	int32_t *ids;
	size_t n;
	int rc;

	rc = as_tokenizer_load(&t, f, err, sizeof(err));
	if (rc) {
		check_err(rc, err, sizeof(err));
		return;
	}
	if (as_tokenize_ex(t, text, sizeof(text) - 1, &o, &ids, &n))
		abort();
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= as_tokenizer_n_vocab(t))
			abort();
	free(ids);
	as_tokenizer_free(t);
}

static void chat_template(const struct gguf_file *f)
{
	static const struct as_chat_msg msgs[] = {
		{ "system", "be brief" }, { "user", "hi" }, { "assistant", "hello" },
		{ "user", "again" },
	};
	struct gguf_str s;
	enum as_chat_tmpl t;
	const char *other = NULL;
	size_t len = 0;
	char *out;

	if (gguf_get_str(f, "tokenizer.chat_template", &s))
		return;
	t = as_chat_tmpl_detect(s.s, s.len, &other);
	if (t == AS_CHAT_UNKNOWN)
		return;
	if (!as_chat_tmpl_name(t))
		abort();
	out = as_chat_apply(t, msgs, sizeof(msgs) / sizeof(msgs[0]), true, &len);
	if (!out || strlen(out) != len)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_file *f;
	struct as_model *m = NULL;
	char err[512];
	int rc;

	err[0] = 0;
	rc = gguf_parse(&f, data, size, err, sizeof(err));
	if (rc) {
		check_err(rc, err, sizeof(err));
		return 0;
	}
	err[0] = 0;
	rc = as_model_from_gguf(&m, f, err, sizeof(err));
	if (rc) {
		check_err(rc, err, sizeof(err));
		m = NULL;
	} else {
		model(m, data, size);
	}
	tokenizer(f);
	chat_template(f);
	as_model_free(m);
	gguf_close(f);
	return 0;
}

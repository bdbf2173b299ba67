// SPDX-License-Identifier: MIT
/*
 * activeswap convert IN.gguf -o OUT.asw [--type keep|q8_0|q4_0|f16|f32] [--group N]
 *                    [--rows] [--verify] [--quiet]
 * activeswap convert --verify STORE.asw
 *
 * Re-lays a Llama GGUF out as an activeswap store (Documentation/store-format.md): every
 * swappable matrix is cut into columns (one per input channel), each column quantized
 * along the output dimension, and the columns sharing an input are grouped into bundles.
 * Everything else (embeddings, norms, output head, unknown tensors) is copied verbatim as
 * a resident tensor, and the GGUF metadata (hyper-parameters, tokenizer) is embedded as a
 * tensor-less GGUF. With --rows the layer matrices are also copied verbatim as resident
 * tensors (the row copy, which sparsity 0 computes from; swapping.md). The store is
 * written under a temporary name and renamed at the end.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activeswap/gguf.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "cli.h"
#include "libswap.h"

#define SUB "convert"
#define TBLK 16 /* columns transposed per pass */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: activeswap convert IN.gguf -o OUT.asw [--type keep|q8_0|q4_0|f16|f32]\n"
		"                          [--group N] [--rows] [--verify] [--quiet]\n"
		"       activeswap convert --verify STORE.asw\n"
		"\n"
		"  -o PATH      output store (written as PATH.tmp.PID, renamed when complete)\n"
		"  --type T     element type of the swappable columns; keep (default) uses each\n"
		"               matrix's own type when it can be re-encoded (f32 f16 bf16 q8_0\n"
		"               q4_0), q8_0 otherwise\n"
		"  --group N    layer-group size: the N layers' bundles of a channel lie side by\n"
		"               side, for preloads N layers ahead (default 1: then the bundles\n"
		"               of a kind's channels are adjacent and reads fill small gaps,\n"
		"               the fastest layout measured under a DRAM budget)\n"
		"  --rows       also keep every layer matrix in its GGUF row encoding (the row\n"
		"               copy: about twice the file); runs at sparsity 0 then use the\n"
		"               dense kernels, as fast as the dense runtime when it fits DRAM\n"
		"  --verify     check every crc32c of the written (or given) store\n"
		"  --quiet      no progress bar or summary\n");
}

/* Which layer ops make up each bundle kind, in bundle order. */
static const struct {
	int n;
	enum as_op ops[SWAP_MAX_MATS];
} kind_ops[SWAP_KIND_COUNT] = {
	[SWAP_ATTN_IN] = { 3, { AS_OP_Q, AS_OP_K, AS_OP_V } },
	[SWAP_ATTN_OUT] = { 1, { AS_OP_O } },
	[SWAP_FFN_IN] = { 2, { AS_OP_GATE, AS_OP_UP } },
	[SWAP_FFN_OUT] = { 1, { AS_OP_DOWN } },
};

static bool encodable(enum ggml_type t)
{
	return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 ||
	       t == GGML_TYPE_Q8_0 || t == GGML_TYPE_Q4_0;
}

/* One of the 7 layer matrices, cut into columns (the runtime's definition of the names). */
static bool is_swapped_name(const struct gguf_str n)
{
	char name[SWAP_NAME_MAX];

	if (n.len >= sizeof(name) || memchr(n.s, 0, n.len))
		return false;
	memcpy(name, n.s, n.len);
	name[n.len] = 0;
	return as_swap_is_matrix_name(name);
}

static void verify_progress(void *arg, uint64_t n)
{
	cli_progress_add(arg, n);
}

static int verify_store(const char *path, bool quiet)
{
	struct swap_store *s;
	struct cli_progress pr;
	char err[512] = "";
	double t0 = cli_now();
	int r = swap_store_open(&s, path, err, sizeof(err));

	if (r) {
		cli_err(SUB, "%s", err);
		return 1;
	}
	if (!quiet)
		cli_progress_start(&pr, "verify", swap_store_swappable_bytes(s));
	r = swap_store_verify(s, quiet ? NULL : verify_progress, &pr, err, sizeof(err));
	if (!quiet)
		cli_progress_end(&pr);
	if (r) {
		cli_err(SUB, "%s: verify failed: %s", path, err[0] ? err : strerror(-r));
		swap_store_close(s);
		return 1;
	}
	if (!quiet)
		printf("%s: %llu bundles and %u resident tensors verified (crc32c) in %.1f s\n",
		       path, (unsigned long long)swap_store_n_bundles(s), swap_store_n_resident(s),
		       cli_now() - t0);
	swap_store_close(s);
	return 0;
}

/* The metadata blob: the GGUF header with zero tensors plus the KV section verbatim. */
static int meta_blob(const struct gguf_file *f, uint8_t **out, uint64_t *len)
{
	uint64_t end = f->size, zero = 0;
	uint8_t *b;

	if (f->n_tensors)
		end = (uint64_t)((const uint8_t *)f->tensors[0].name.s - f->map) - 8;
	if (end < 24 || end > f->size)
		return -EINVAL;
	b = malloc(end);
	if (!b)
		return -ENOMEM;
	memcpy(b, f->map, end);
	memcpy(b + 8, &zero, 8); /* n_tensors = 0 */
	*out = b;
	*len = end;
	return 0;
}

struct conv {
	const struct as_model *m;
	struct swap_writer *w;
	enum ggml_type type[AS_OP_COUNT]; /* target type per op */
	uint32_t outp[AS_OP_COUNT];       /* padded output length */
	uint64_t colb[AS_OP_COUNT];       /* bytes per encoded column */
	struct cli_progress pr;
	bool quiet;
};

/* Encode every column of one matrix into kb (in x bundle_bytes) at byte offset moff. */
static int encode_matrix(struct conv *cv, const struct as_weight *wt, enum as_op op,
			 uint8_t *kb, uint64_t bundle_bytes, uint64_t moff, float *rows,
			 float *cols)
{
	uint64_t in = wt->cols, out = wt->rows, op_pad = cv->outp[op];

	for (uint64_t i = 0; i < out; i++)
		as_dequant_row(wt->type, (const uint8_t *)wt->data + i * wt->row_bytes,
			       rows + i * in, in);
	for (uint64_t j0 = 0; j0 < in; j0 += TBLK) {
		uint64_t nb = in - j0 < TBLK ? in - j0 : TBLK;

		memset(cols, 0, sizeof(float) * TBLK * op_pad);
		for (uint64_t i = 0; i < out; i++) {
			const float *r = rows + i * in + j0;

			for (uint64_t b = 0; b < nb; b++)
				cols[b * op_pad + i] = r[b];
		}
		for (uint64_t b = 0; b < nb; b++) {
			int r = as_col_encode(cv->type[op], cols + b * op_pad, out,
					      kb + (j0 + b) * bundle_bytes + moff);

			if (r)
				return r;
		}
		if (interrupted)
			return -EINTR;
	}
	return 0;
}

static int convert_layers(struct conv *cv)
{
	const struct as_model *m = cv->m;
	uint64_t maxrows = 0, maxkb = 0, maxpad = 0;
	float *rows, *cols;
	uint8_t *kb = NULL;
	int r = 0;

	for (int op = 0; op < AS_OP_COUNT; op++) {
		const struct as_weight *w0 = &m->layers[0].w[op];

		if (w0->rows * w0->cols > maxrows)
			maxrows = w0->rows * w0->cols;
		if (cv->outp[op] > maxpad)
			maxpad = cv->outp[op];
	}
	rows = malloc(maxrows * sizeof(float));
	cols = malloc(TBLK * maxpad * sizeof(float));
	if (!rows || !cols) {
		r = -ENOMEM;
		goto out;
	}
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		uint64_t need = swap_writer_bundle_bytes(cv->w, k) *
				m->layers[0].w[kind_ops[k].ops[0]].cols;

		if (need > maxkb)
			maxkb = need;
	}
	kb = malloc(maxkb);
	if (!kb) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t l = 0; l < m->hp.n_layer && !r; l++) {
		for (int k = 0; k < SWAP_KIND_COUNT && !r; k++) {
			uint64_t bb = swap_writer_bundle_bytes(cv->w, k), moff = 0;
			uint64_t in = m->layers[l].w[kind_ops[k].ops[0]].cols;

			for (int i = 0; i < kind_ops[k].n && !r; i++) {
				enum as_op op = kind_ops[k].ops[i];

				r = encode_matrix(cv, &m->layers[l].w[op], op, kb, bb, moff, rows,
						  cols);
				moff += cv->colb[op];
			}
			for (uint64_t c = 0; c < in && !r; c++) {
				struct swap_key key = { l, (uint32_t)k, (uint32_t)c };

				r = swap_writer_bundle(cv->w, key, kb + c * bb);
			}
			if (!cv->quiet)
				cli_progress_add(&cv->pr, in * bb);
			if (interrupted)
				r = -EINTR;
		}
	}
out:
	free(rows);
	free(cols);
	free(kb);
	return r;
}

int cmd_convert(int argc, char **argv)
{
	const char *in = NULL, *outp = NULL, *type_s = "keep";
	long group = 1;
	bool verify = false, quiet = false, rows = false;
	struct gguf_file *f = NULL;
	struct as_model *m = NULL;
	struct swap_store_desc d;
	struct swap_resident_desc *res = NULL;
	const struct gguf_tensor **rt = NULL;
	uint8_t *meta = NULL;
	struct conv cv;
	char err[512] = "";
	int forced = -1, r, rc = 1;
	double t0 = cli_now();
	struct sigaction sa, old_int, old_term;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-o") && i + 1 < argc) {
			outp = argv[++i];
		} else if (!strcmp(a, "--type") && i + 1 < argc) {
			type_s = argv[++i];
		} else if (!strcmp(a, "--group") && i + 1 < argc) {
			if (cli_long(SUB, "--group", argv[++i], 1, 4096, &group))
				return 2;
		} else if (!strcmp(a, "--verify")) {
			verify = true;
		} else if (!strcmp(a, "--rows")) {
			rows = true;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			quiet = true;
		} else if (a[0] == '-' && a[1]) {
			cli_err(SUB, "unknown option '%s' (or missing value)", a);
			usage(stderr);
			return 2;
		} else if (!in) {
			in = a;
		} else {
			cli_err(SUB, "unexpected argument '%s'", a);
			return 2;
		}
	}
	if (!in) {
		usage(stderr);
		return 2;
	}
	if (!outp) {
		if (verify)
			return verify_store(in, quiet);
		cli_err(SUB, "missing -o OUT.asw");
		return 2;
	}
	if (strcmp(type_s, "keep")) {
		forced = as_type_from_name(type_s);
		if (forced < 0 || !encodable((enum ggml_type)forced)) {
			cli_err(SUB, "bad value for --type: '%s' (keep, q8_0, q4_0, f16, bf16 or f32)",
				type_s);
			return 2;
		}
	}
	r = gguf_open(&f, in, err, sizeof(err));
	if (r) {
		cli_err(SUB, "%s", err[0] ? err : strerror(-r));
		return 1;
	}
	r = as_model_from_gguf(&m, f, err, sizeof(err));
	if (r) {
		cli_err(SUB, "%s: %s", in, err);
		gguf_close(f);
		return 1;
	}
	memset(&d, 0, sizeof(d));
	memset(&cv, 0, sizeof(cv));
	cv.m = m;
	cv.quiet = quiet;
	d.n_layers = m->hp.n_layer;
	d.group = (uint32_t)group > d.n_layers ? d.n_layers : (uint32_t)group;
	d.hp.dim = m->hp.dim;
	d.hp.hidden = m->hp.hidden;
	d.hp.n_heads = m->hp.n_head;
	d.hp.n_kv_heads = m->hp.n_head_kv;
	d.hp.vocab = m->hp.n_vocab;
	d.hp.n_ctx = m->hp.n_ctx_train;
	d.hp.rms_eps = m->hp.eps;
	d.hp.rope_theta = m->hp.rope_base;
	for (int op = 0; op < AS_OP_COUNT; op++) {
		enum ggml_type src = m->layers[0].w[op].type, t;
		uint64_t be;

		t = forced >= 0 ? (enum ggml_type)forced : src;
		if (!encodable(t)) {
			if (!quiet)
				fprintf(stderr, "activeswap convert: %s columns: %s cannot be "
					"re-encoded, using q8_0\n", as_op_name(op), as_type_name(t));
			t = GGML_TYPE_Q8_0;
		}
		for (uint32_t l = 1; l < d.n_layers && forced < 0; l++) {
			if (m->layers[l].w[op].type != src && !quiet) {
				fprintf(stderr, "activeswap convert: %s: layer %u is %s, layer 0 is "
					"%s; every layer's columns become %s\n", as_op_name(op), l,
					as_type_name(m->layers[l].w[op].type), as_type_name(src),
					as_type_name(t));
				break;
			}
		}
		be = as_col_align(t);
		cv.type[op] = t;
		cv.outp[op] = (uint32_t)((m->layers[0].w[op].rows + be - 1) / be * be);
		cv.colb[op] = as_col_bytes(t, m->layers[0].w[op].rows);
	}
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		d.kinds[k].in = (uint32_t)m->layers[0].w[kind_ops[k].ops[0]].cols;
		d.kinds[k].n_mats = (uint32_t)kind_ops[k].n;
		for (int i = 0; i < kind_ops[k].n; i++) {
			enum as_op op = kind_ops[k].ops[i];

			d.kinds[k].mats[i].out = (uint32_t)m->layers[0].w[op].rows;
			d.kinds[k].mats[i].type = cv.type[op];
			d.kinds[k].mats[i].col_bytes = (uint32_t)cv.colb[op];
		}
	}
	/* Resident tensors: every tensor that is not one of the 7 swapped matrices, and with
	 * --rows those too (the row copy). */
	res = calloc(f->n_tensors + 1, sizeof(*res));
	rt = calloc(f->n_tensors + 1, sizeof(*rt));
	if (!res || !rt || meta_blob(f, &meta, &d.meta_len)) {
		cli_err(SUB, "out of memory or unreadable metadata");
		goto out;
	}
	d.meta = meta;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		struct swap_resident_desc *x = &res[d.n_resident];

		if (is_swapped_name(t->name) && !rows)
			continue;
		if (t->name.len >= SWAP_NAME_MAX) {
			cli_err(SUB, "tensor name '%.*s' longer than %d bytes", (int)t->name.len,
				t->name.s, SWAP_NAME_MAX - 1);
			goto out;
		}
		memcpy(x->name, t->name.s, t->name.len);
		x->type = t->type;
		x->n_dims = t->n_dims;
		for (int j = 0; j < 4; j++)
			x->ne[j] = t->ne[j];
		x->size = t->size;
		rt[d.n_resident++] = t;
	}
	d.resident = res;
	r = swap_writer_create(&cv.w, outp, &d, err, sizeof(err));
	if (r) {
		cli_err(SUB, "%s", err);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	{
		uint64_t total = 0;

		for (int k = 0; k < SWAP_KIND_COUNT; k++)
			total += swap_writer_bundle_bytes(cv.w, k) * d.kinds[k].in * d.n_layers;
		for (uint32_t i = 0; i < d.n_resident; i++)
			total += res[i].size;
		if (!quiet)
			cli_progress_start(&cv.pr, "convert", total);
	}
	r = 0;
	for (uint32_t i = 0; i < d.n_resident && !r; i++) {
		r = swap_writer_resident(cv.w, i, rt[i]->data, rt[i]->size);
		if (!quiet)
			cli_progress_add(&cv.pr, rt[i]->size);
	}
	if (!r)
		r = convert_layers(&cv);
	if (!quiet)
		cli_progress_end(&cv.pr);
	if (r) {
		swap_writer_abort(cv.w);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		if (r == -EINTR)
			cli_err(SUB, "interrupted; %s was not written", outp);
		else
			cli_err(SUB, "%s: %s", outp, strerror(-r));
		rc = r == -EINTR ? 130 : 1;
		goto out;
	}
	r = swap_writer_finish(cv.w, err, sizeof(err));
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (r) {
		cli_err(SUB, "%s", err);
		goto out;
	}
	if (!quiet) {
		struct swap_store *s;
		double dt = cli_now() - t0;

		if (!swap_store_open(&s, outp, err, sizeof(err))) {
			printf("%s: %u layers, group %u, %llu bundles (%s/%s/%s/%s), %u resident "
			       "tensors, %.1f MB in %.1f s (%.0f MB/s)\n", outp, d.n_layers,
			       d.group, (unsigned long long)swap_store_n_bundles(s),
			       as_type_name(cv.type[AS_OP_Q]), as_type_name(cv.type[AS_OP_O]),
			       as_type_name(cv.type[AS_OP_GATE]), as_type_name(cv.type[AS_OP_DOWN]),
			       d.n_resident, swap_store_file_size(s) / 1e6, dt,
			       swap_store_file_size(s) / 1e6 / (dt > 0 ? dt : 1));
			swap_store_close(s);
		}
	}
	rc = verify ? verify_store(outp, quiet) : 0;
out:
	free(res);
	free(rt);
	free(meta);
	as_model_free(m);
	gguf_close(f);
	return rc;
}

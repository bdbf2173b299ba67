// SPDX-License-Identifier: MIT
/*
 * GGUF -> activeswap store (activeswap/convert.h, Documentation/store-format.md).
 *
 * Every swappable matrix is cut into columns (one per input channel), each column
 * quantized along the output dimension, and the columns sharing an input are grouped into
 * bundles. Everything else (embeddings, norms, output head, unknown tensors) is copied
 * verbatim as a resident tensor, and the GGUF metadata (hyper-parameters, tokenizer) is
 * embedded as a tensor-less GGUF. With params.rows the layer matrices are also copied
 * verbatim as resident tensors (the row copy, which sparsity 0 computes from;
 * swapping.md). The store is written under a temporary name and renamed at the end.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "activeswap/convert.h"
#include "activeswap/gguf.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "activeswap/threadpool.h"
#include "libswap.h"
#include "convert_impl.h"
#include "errmsg.h"
#include "mapguard.h"

#define TBLK AS_CONVERT_TBLK /* columns transposed per pass */


static void note(const struct as_convert_params *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(const struct as_convert_params *p, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!p->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->warn(p->arg, msg);
}

bool conv_cancelled(const struct as_convert_params *p)
{
	return p->cancel && *p->cancel;
}

void as_convert_params_init(struct as_convert_params *p)
{
	memset(p, 0, sizeof(*p));
	p->type = AS_CONVERT_KEEP;
	p->group = 1;
}

bool as_convert_type_ok(int t)
{
	return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 ||
	       t == GGML_TYPE_Q8_0 || t == GGML_TYPE_Q4_0;
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

/* blk.N.ffn_{gate,up,down}_exps.weight: a mixture-of-experts layer's experts, which go
 * into the FFN kinds' expert bundles (only a MoE model has them: as_model_from_gguf
 * checked their shapes). */
static bool is_expert_name(const char *name)
{
	static const char *const sfx[] = { ".ffn_gate_exps.weight", ".ffn_up_exps.weight",
					   ".ffn_down_exps.weight" };
	size_t n = strlen(name);

	if (strncmp(name, "blk.", 4))
		return false;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if (n > strlen(sfx[i]) && !strcmp(name + n - strlen(sfx[i]), sfx[i]))
			return true;
	return false;
}

bool as_convert_swapped_name(const char *name)
{
	return name && (as_swap_is_matrix_name(name) || is_expert_name(name));
}

/* One of the 7 layer matrices, cut into columns (the runtime's definition of the names),
 * or an expert tensor. */
static bool is_swapped_name(const struct gguf_str n)
{
	char name[SWAP_NAME_MAX];

	if (n.len >= sizeof(name) || memchr(n.s, 0, n.len))
		return false;
	memcpy(name, n.s, n.len);
	name[n.len] = 0;
	return as_convert_swapped_name(name);
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


void conv_progress_add(struct conv *cv, uint64_t n)
{
	cv->done += n;
	if (cv->done > cv->total)
		cv->done = cv->total;
	if (cv->p->progress)
		cv->p->progress(cv->p->arg, AS_CONVERT_WRITE, cv->done, cv->total);
}

/*
 * A K-quant matrix: its rows split into codes (one byte each, rows x in) and the scale
 * table, written as its resident tensor; each column's codes encoded into kb (in x
 * bundle_bytes) at moff, in the layer's own type, zeros up to the kind's col_bytes.
 */
static int encode_kq(struct conv *cv, uint32_t layer, const struct as_weight *wt,
		     enum as_op op, uint8_t *kb, uint64_t bundle_bytes, uint64_t moff,
		     uint8_t *codes)
{
	uint64_t in = wt->cols, out = wt->rows;
	size_t tb = as_kq_table_bytes(wt->type, out, in);
	uint8_t *table = calloc(tb ? tb : 1, 1), *col = malloc(out);
	int r = tb && table && col ? 0 : tb ? -ENOMEM : -EINVAL;

	for (uint64_t i = 0; i < out && !r; i++)
		r = as_kq_split_row(wt->type, (const uint8_t *)wt->data + i * wt->row_bytes, in,
				    out, i, codes + i * in, table);
	if (!r)
		r = swap_writer_resident(cv->w, cv->kq_res[layer * AS_OP_COUNT + op], table, tb);
	if (!r)
		conv_progress_add(cv, tb);
	for (uint64_t j = 0; j < in && !r; j++) {
		uint8_t *dst = kb + j * bundle_bytes + moff;

		for (uint64_t i = 0; i < out; i++)
			col[i] = codes[i * in + j];
		memset(dst, 0, cv->colb[op]);
		r = as_kq_col_encode(wt->type, col, out, dst);
		if (!r && !(j % 256) && conv_cancelled(cv->p))
			r = -ECANCELED;
	}
	free(table);
	free(col);
	return r;
}

/* One matrix's encoding, shared by the threads of conv_encode_matrix(). */
struct enc {
	struct conv *cv;
	const struct as_weight *wt;
	enum as_op op;
	uint8_t *kb;
	uint64_t bundle_bytes, moff;
	float *rows, *cols; /* cols: TBLK x outp[op] floats per thread */
	uint64_t col_floats;
	int rc[AS_CONVERT_MAX_THREADS];
};

/* Thread ith of nth: its share of the rows dequantized (phase 0), or of the blocks of
 * TBLK columns transposed and encoded (phase 1). */
static void enc_rows(void *arg, int ith, int nth)
{
	struct enc *e = arg;
	uint64_t in = e->wt->cols, out = e->wt->rows;
	uint64_t i0 = out * (uint64_t)ith / (uint64_t)nth;
	uint64_t i1 = out * (uint64_t)(ith + 1) / (uint64_t)nth;

	for (uint64_t i = i0; i < i1; i++)
		as_dequant_row(e->wt->type, (const uint8_t *)e->wt->data + i * e->wt->row_bytes,
			       e->rows + i * in, in);
}

static void enc_cols(void *arg, int ith, int nth)
{
	struct enc *e = arg;
	uint64_t in = e->wt->cols, out = e->wt->rows, op_pad = e->cv->outp[e->op];
	float *cols = e->cols + (uint64_t)ith * e->col_floats;
	int r = 0;

	for (uint64_t j0 = (uint64_t)ith * TBLK; j0 < in && !r; j0 += (uint64_t)nth * TBLK) {
		uint64_t nb = in - j0 < TBLK ? in - j0 : TBLK;

		memset(cols, 0, sizeof(float) * TBLK * op_pad);
		for (uint64_t i = 0; i < out; i++) {
			const float *x = e->rows + i * in + j0;

			for (uint64_t b = 0; b < nb; b++)
				cols[b * op_pad + i] = x[b];
		}
		for (uint64_t b = 0; b < nb && !r; b++)
			r = as_col_encode(e->cv->type[e->op], cols + b * op_pad, out,
					  e->kb + (j0 + b) * e->bundle_bytes + e->moff);
		if (!r && conv_cancelled(e->cv->p))
			r = -ECANCELED;
	}
	e->rc[ith] = r;
}

/* Encode every column of one matrix into kb (in x bundle_bytes) at byte offset moff, on
 * cv's threads (each column's bytes do not depend on which thread encodes it). */
int conv_encode_matrix(struct conv *cv, const struct as_weight *wt, enum as_op op,
			 uint8_t *kb, uint64_t bundle_bytes, uint64_t moff, float *rows,
			 float *cols, uint64_t col_floats)
{
	struct enc e = { cv, wt, op, kb, bundle_bytes, moff, rows, cols, col_floats, { 0 } };

	as_tp_run(cv->tp, enc_rows, &e);
	as_tp_run(cv->tp, enc_cols, &e);
	for (int i = 0; i < AS_CONVERT_MAX_THREADS; i++)
		if (e.rc[i])
			return e.rc[i];
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
	cols = malloc((size_t)as_tp_size(cv->tp) * TBLK * maxpad * sizeof(float));
	if (!rows || !cols) {
		r = -ENOMEM;
		goto out;
	}
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		uint64_t need = swap_writer_bundle_bytes(cv->w, k) *
				m->layers[0].w[kind_ops[k].ops[0]].cols;

		if (m->hp.n_expert && (k == SWAP_FFN_IN || k == SWAP_FFN_OUT))
			continue;

		if (need > maxkb)
			maxkb = need;
	}
	kb = malloc(maxkb);
	if (!kb) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t l = 0; l < m->hp.n_layer && !r; l++) {
		if (cv->src)
			r = cv->src->layer(cv->src->arg, l);
		for (int k = 0; k < SWAP_KIND_COUNT && !r; k++) {
			uint64_t bb = swap_writer_bundle_bytes(cv->w, k), moff = 0;
			uint64_t in = m->layers[l].w[kind_ops[k].ops[0]].cols;

			if (m->hp.n_expert && (k == SWAP_FFN_IN || k == SWAP_FFN_OUT))
				continue; /* convert_experts() */

			for (int i = 0; i < kind_ops[k].n && !r; i++) {
				enum as_op op = kind_ops[k].ops[i];

				if (cv->kq[op])
					r = encode_kq(cv, l, &m->layers[l].w[op], op, kb, bb, moff,
						      (uint8_t *)rows);
				else
					r = conv_encode_matrix(cv, &m->layers[l].w[op], op, kb, bb,
							  moff, rows, cols, TBLK * maxpad);
				moff += cv->colb[op];
			}
			for (uint64_t c = 0; c < in && !r; c++) {
				struct swap_key key = { l, (uint32_t)k, (uint32_t)c };

				r = swap_writer_bundle(cv->w, key, kb + c * bb);
			}
			conv_progress_add(cv, in * bb);
			if (!r && conv_cancelled(cv->p))
				r = -ECANCELED;
		}
		if (!r && m->hp.n_expert)
			r = convert_experts(cv, l);
		if (cv->src && cv->src->done)
			cv->src->done(cv->src->arg, l);
	}
out:
	free(rows);
	free(cols);
	free(kb);
	return r;
}

/*
 * Any attention width: the bundle kinds state it (ATTN_IN's Q rows and ATTN_OUT's input are
 * n_head * head_dim, which may differ from dim), and the head size travels in the metadata
 * as ARCH.attention.key_length, where runtime/swap_open.c reads it back. Biases, Q/K norms
 * and rope_freqs are resident tensors like the norms.
 *
 * The store's description from the model: hyper-parameters, column types and sizes.
 */
static void describe(struct conv *cv, struct swap_store_desc *d)
{
	const struct as_convert_params *p = cv->p;
	const struct as_model *m = cv->m;
	int forced = p->type;

	d->n_layers = m->hp.n_layer;
	d->group = p->group > d->n_layers ? d->n_layers : p->group;
	d->hp.dim = m->hp.dim;
	d->hp.hidden = m->hp.hidden;
	d->hp.n_heads = m->hp.n_head;
	d->hp.n_kv_heads = m->hp.n_head_kv;
	d->hp.vocab = m->hp.n_vocab;
	d->hp.n_ctx = m->hp.n_ctx_train;
	d->hp.rms_eps = m->hp.eps;
	d->hp.rope_theta = m->hp.rope_base;
	for (int op = 0; op < AS_OP_COUNT; op++) {
		enum ggml_type src = m->layers[0].w[op].type, t;
		uint64_t be;

		if (m->hp.n_expert && op >= AS_OP_GATE)
			continue; /* experts: describe_experts() */
		t = forced >= 0 ? (enum ggml_type)forced : src;
		/* every layer a K-quant: the codes kept, in the widest layer's width */
		cv->kq[op] = forced < 0 && as_kq_type(src);
		for (uint32_t l = 1; l < d->n_layers && cv->kq[op]; l++) {
			enum ggml_type lt = m->layers[l].w[op].type;

			cv->kq[op] = as_kq_type(lt);
			if (as_kq_width(lt) > as_kq_width(t))
				t = lt;
		}
		if (cv->kq[op]) {
			/* nothing */
		} else if (!as_convert_type_ok(t)) {
			note(p, "%s columns: %s cannot be re-encoded, using q8_0", as_op_name(op),
			     as_type_name(t));
			t = GGML_TYPE_Q8_0;
		}
		for (uint32_t l = 1; l < d->n_layers && forced < 0 && !cv->kq[op]; l++) {
			if (m->layers[l].w[op].type != src) {
				note(p, "%s: layer %u is %s, layer 0 is %s; every layer's columns "
				     "become %s", as_op_name(op), l,
				     as_type_name(m->layers[l].w[op].type), as_type_name(src),
				     as_type_name(t));
				break;
			}
		}
		be = as_col_align(t);
		cv->type[op] = t;
		cv->outp[op] = (uint32_t)((m->layers[0].w[op].rows + be - 1) / be * be);
		cv->colb[op] = as_col_bytes(t, m->layers[0].w[op].rows);
	}
	for (int k = 0; k < SWAP_KIND_COUNT; k++) {
		if (m->hp.n_expert && (k == SWAP_FFN_IN || k == SWAP_FFN_OUT))
			continue;
		d->kinds[k].in = (uint32_t)m->layers[0].w[kind_ops[k].ops[0]].cols;
		d->kinds[k].n_mats = (uint32_t)kind_ops[k].n;
		for (int i = 0; i < kind_ops[k].n; i++) {
			enum as_op op = kind_ops[k].ops[i];

			d->kinds[k].mats[i].out = (uint32_t)m->layers[0].w[op].rows;
			d->kinds[k].mats[i].type = cv->type[op];
			d->kinds[k].mats[i].col_bytes = (uint32_t)cv->colb[op];
		}
	}
}

/* Resident tensors: every tensor that is not one of the 7 swapped matrices, and with
 * rows those too (the row copy). rt[i] is the source of res[i]. */
static int list_resident(const struct gguf_file *f, bool rows, struct swap_resident_desc *res,
			 const struct gguf_tensor **rt, uint32_t *n, char *err, size_t errlen)
{
	*n = 0;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		struct swap_resident_desc *x = &res[*n];

		if (is_swapped_name(t->name) && !rows)
			continue;
		if (t->name.len >= SWAP_NAME_MAX) {
			as_seterr(err, errlen, "tensor name '%.*s' longer than %d bytes",
				  (int)t->name.len, t->name.s, SWAP_NAME_MAX - 1);
			return -EINVAL;
		}
		memcpy(x->name, t->name.s, t->name.len);
		x->type = t->type;
		x->n_dims = t->n_dims;
		for (int j = 0; j < 4; j++)
			x->ne[j] = t->ne[j];
		x->size = t->size;
		rt[(*n)++] = t;
	}
	return 0;
}

/* The scale tables of the K-quant matrices, after the tensors (rt NULL: made by
 * encode_kq). */
static int list_tables(struct conv *cv, struct swap_resident_desc *res,
		       const struct gguf_tensor **rt, uint32_t *n)
{
	const struct as_model *m = cv->m;

	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		for (int op = 0; op < AS_OP_COUNT; op++) {
			const struct as_weight *w = &m->layers[l].w[op];
			struct swap_resident_desc *x = &res[*n];

			if (!cv->kq[op])
				continue;
			snprintf(x->name, sizeof(x->name), "blk.%u.%s.kscale", l,
				 as_op_name((enum as_op)op));
			x->type = w->type;
			x->n_dims = 2;
			x->ne[0] = w->cols;
			x->ne[1] = w->rows;
			x->ne[2] = x->ne[3] = 1;
			x->size = as_kq_table_bytes(w->type, w->rows, w->cols);
			if (!x->size)
				return -EINVAL;
			cv->kq_res[l * AS_OP_COUNT + op] = *n;
			rt[(*n)++] = NULL;
		}
	}
	return 0;
}

static void fill_result(const struct conv *cv, const struct swap_store_desc *d,
			const char *out, struct as_convert_result *res)
{
	struct stat st;

	memset(res, 0, sizeof(*res));
	res->n_layers = d->n_layers;
	res->group = d->group;
	res->n_resident = d->n_resident;
	for (int k = 0; k < SWAP_KIND_COUNT; k++)
		res->n_bundles += (uint64_t)d->kinds[k].in * d->n_layers;
	if (!stat(out, &st))
		res->file_size = (uint64_t)st.st_size;
	memcpy(res->type, cv->type, sizeof(res->type));
}

/* Is the input now shorter than when it was mapped? *off: its new size. */
static bool input_shrank(const struct gguf_file *f, uint64_t *off)
{
	struct stat st;

	if (f->fd < 0 || fstat(f->fd, &st) < 0 || (uint64_t)st.st_size >= f->size)
		return false;
	*off = (uint64_t)st.st_size;
	return true;
}

/* After the checks of the parameters: the store from the model m of f (whose swapped
 * tensors come through src when not NULL); guarded: f's mapping is under mapguard. */
static int convert_model(struct gguf_file *f, const struct as_model *m, const char *in,
			 const char *out, const struct as_convert_params *p,
			 const struct as_convert_source *src, bool guarded,
			 struct as_convert_result *res, char *err, size_t errlen)
{
	struct swap_store_desc d;
	struct swap_resident_desc *rd = NULL;
	const struct gguf_tensor **rt = NULL;
	uint8_t *meta = NULL;
	struct conv cv;
	char e[512] = "";
	uint64_t boff = UINT64_MAX;
	int r;

	memset(&d, 0, sizeof(d));
	memset(&cv, 0, sizeof(cv));
	cv.p = p;
	cv.m = m;
	cv.src = src;
	if (m->hp.n_expert && p->rows) {
		as_seterr(err, errlen, "%s: a mixture-of-experts store has no row copy yet "
			  "(convert without --rows)", in);
		return -EOPNOTSUPP;
	}
	if (src && p->rows) {
		as_seterr(err, errlen, "%s: a store written layer by layer has no row copy", in);
		return -EOPNOTSUPP;
	}
	describe(&cv, &d);
	if (m->hp.n_expert) {
		r = describe_experts(&cv, &d, err, errlen);
		if (r)
			return r;
	} else if (p->expert_pair) {
		as_seterr(err, errlen, "%s: --expert-types: the model has no experts", in);
		return -EINVAL;
	}
	rd = calloc(f->n_tensors + (size_t)m->hp.n_layer * AS_OP_COUNT + 1, sizeof(*rd));
	rt = calloc(f->n_tensors + (size_t)m->hp.n_layer * AS_OP_COUNT + 1, sizeof(*rt));
	cv.kq_res = calloc((size_t)m->hp.n_layer * AS_OP_COUNT, sizeof(*cv.kq_res));
	r = rd && rt && cv.kq_res ? meta_blob(f, &meta, &d.meta_len) : -ENOMEM;
	if (r) {
		as_seterr(err, errlen, "out of memory or unreadable metadata");
		goto out;
	}
	d.meta = meta;
	r = list_resident(f, p->rows, rd, rt, &d.n_resident, err, errlen);
	if (r)
		goto out;
	r = list_tables(&cv, rd, rt, &d.n_resident);
	if (r) {
		as_seterr(err, errlen, "%s: a K-quant matrix has an unsupported shape", in);
		goto out;
	}
	d.resident = rd;
	if (p->threads > 1 && !(cv.tp = as_tp_create(p->threads))) {
		r = -ENOMEM;
		as_seterr(err, errlen, "cannot start %d threads", p->threads);
		goto out;
	}
	r = swap_writer_create(&cv.w, out, &d, e, sizeof(e));
	if (r) {
		as_seterr(err, errlen, "%s", e);
		goto out;
	}
	for (int k = 0; k < SWAP_KIND_MAX; k++)
		cv.total += swap_writer_bundle_bytes(cv.w, k) * d.kinds[k].in * d.n_layers;
	for (uint32_t i = 0; i < d.n_resident; i++)
		cv.total += rd[i].size;
	if (p->progress)
		p->progress(p->arg, AS_CONVERT_WRITE, 0, cv.total);
	for (uint32_t i = 0; i < d.n_resident && !r; i++) {
		if (!rt[i])
			continue; /* a scale table: with its matrix */
		r = swap_writer_resident(cv.w, i, rt[i]->data, rt[i]->size);
		conv_progress_add(&cv, rt[i]->size);
		if (!r && conv_cancelled(p))
			r = -ECANCELED;
	}
	if (!r)
		r = convert_layers(&cv);
	if (guarded && as_mapguard_hit(&boff))
		r = -EIO; /* what was read from the pages of zeros is thrown away */
	else if (r == -EFAULT && input_shrank(f, &boff))
		r = -EIO; /* a write from its mapping past the new end */
	if (r) {
		swap_writer_abort(cv.w);
		if (r == -EIO && boff != UINT64_MAX)
			as_seterr(err, errlen, "%s: the input shrank or failed while being read "
				  "(at byte %llu); %s was not written", in,
				  (unsigned long long)boff, out);
		else if (r == -ECANCELED)
			as_seterr(err, errlen, "cancelled; %s was not written", out);
		else
			as_seterr(err, errlen, "%s: %s", out, strerror(-r));
		goto out;
	}
	r = swap_writer_finish(cv.w, e, sizeof(e));
	if (r) {
		as_seterr(err, errlen, "%s", e);
		goto out;
	}
	if (res)
		fill_result(&cv, &d, out, res);
	if (p->verify)
		r = as_convert_verify(out, p, NULL, err, errlen);
out:
	as_tp_destroy(cv.tp);
	free(rd);
	free(rt);
	free(cv.kq_res);
	free(meta);
	return r;
}

/* The checks of p and out; 0 or -EINVAL / -ECANCELED with one line. */
static int check_params(const struct as_convert_params *p, const char *out, char *err,
			size_t errlen)
{
	if (!out || !*out) {
		as_seterr(err, errlen, "missing input or output path");
		return -EINVAL;
	}
	if (p->type != AS_CONVERT_KEEP && !as_convert_type_ok(p->type)) {
		as_seterr(err, errlen, "column type %d cannot be encoded (keep, q8_0, q4_0, f16, "
			  "bf16 or f32)", p->type);
		return -EINVAL;
	}
	if (p->threads < 0 || p->threads > AS_CONVERT_MAX_THREADS) {
		as_seterr(err, errlen, "%d threads: not in [0, %d]", p->threads,
			  AS_CONVERT_MAX_THREADS);
		return -EINVAL;
	}
	if (p->group < 1 || p->group > AS_CONVERT_GROUP_MAX) {
		as_seterr(err, errlen, "layer group %u not in [1, %u]", p->group,
			  AS_CONVERT_GROUP_MAX);
		return -EINVAL;
	}
	if (conv_cancelled(p)) {
		as_seterr(err, errlen, "cancelled; %s was not written", out);
		return -ECANCELED;
	}
	/* the types alone; their fit to the model's shapes in describe_experts() */
	if (p->expert_pair)
		return as_convert_expert_types_ok(p->expert_types[0], p->expert_types[1], 0, 0,
						  err, errlen);
	return 0;
}

int as_convert_model(struct gguf_file *f, const struct as_model *m, const char *name,
		     const char *out, const struct as_convert_params *p,
		     const struct as_convert_source *src, struct as_convert_result *res,
		     char *err, size_t errlen)
{
	struct as_convert_params defaults;
	int r;

	if (!p) {
		as_convert_params_init(&defaults);
		p = &defaults;
	}
	if (!f || !m || !name || (src && (!src->layer || !src->done))) {
		as_seterr(err, errlen, "no model to convert");
		return -EINVAL;
	}
	r = check_params(p, out, err, errlen);
	return r ? r : convert_model(f, m, name, out, p, src, false, res, err, errlen);
}

int as_convert(const char *in, const char *out, const struct as_convert_params *p,
	       struct as_convert_result *res, char *err, size_t errlen)
{
	struct as_convert_params defaults;
	struct gguf_file *f = NULL;
	struct as_model *m = NULL;
	char e[512] = "";
	bool guarded = false;
	int r;

	if (!p) {
		as_convert_params_init(&defaults);
		p = &defaults;
	}
	if (!in) {
		as_seterr(err, errlen, "missing input or output path");
		return -EINVAL;
	}
	r = check_params(p, out, err, errlen);
	if (r)
		return r;
	r = gguf_open(&f, in, e, sizeof(e));
	if (r) {
		as_seterr(err, errlen, "%s", e[0] ? e : strerror(-r));
		return r;
	}
	/* the input is read through its mapping: a file shrinking under it must be an
	 * error, not a SIGBUS that leaves the temporary file behind (mapguard.h) */
	guarded = f->fd >= 0 && f->map && !as_mapguard_begin(f->map, f->size);
	r = as_model_from_gguf(&m, f, e, sizeof(e));
	if (r)
		as_seterr(err, errlen, "%s: %s", in, e);
	else
		r = convert_model(f, m, in, out, p, NULL, guarded, res, err, errlen);
	as_model_free(m);
	if (guarded)
		as_mapguard_end(NULL);
	gguf_close(f);
	return r;
}

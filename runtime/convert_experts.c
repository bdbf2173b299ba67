// SPDX-License-Identifier: MIT
/*
 * A mixture-of-experts model's experts into the store (store-format.md, "Experts"): the
 * FFN kinds hold one bundle per expert, FFN_IN expert e's gate and up matrices, FFN_OUT
 * its down matrix, each in its GGUF row encoding, kept as they are (one type per matrix
 * in every layer, as a kind record has one type).
 *
 * With as_convert_params.expert_pair ("Low-precision experts", version 4) every expert is
 * written twice: in HIGH into the FFN kinds (the GGUF's bytes when a matrix already is
 * HIGH, else requantized) and in LOW into SWAP_FFN_IN_LOW / SWAP_FFN_OUT_LOW, always a
 * requantization: each row dequantized (as_dequant_row) and encoded again
 * (as_quant_row), so LOW carries both rounding errors.
 *
 * With as_convert_params.expert_columns ("Expert columns", version 5) a bundle holds the
 * expert's columns instead, column j of each matrix after column j-1's, encoded as the
 * column kinds' are (conv_encode_matrix, the GGUF's type).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/model.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "activeswap/threadpool.h"
#include "convert_impl.h"
#include "errmsg.h"

int as_convert_expert_types_ok(int high, int low, uint32_t dim, uint32_t n_ff_exp,
			       char *err, size_t errlen)
{
	const int t[2] = { high, low };
	uint64_t b[2] = { 0, 0 }, x;

	for (int i = 0; i < 2; i++) {
		if (t[i] < 0 || !as_type_supported((enum ggml_type)t[i]) ||
		    as_row_bytes((enum ggml_type)t[i], 256, &b[i])) {
			as_seterr(err, errlen, "--expert-types: type %d is not one the kernels "
				  "compute", t[i]);
			return -EINVAL;
		}
	}
	if (b[1] >= b[0]) {
		as_seterr(err, errlen, "--expert-types %s,%s: the low type must take fewer bytes "
			  "than the high one", as_type_name((enum ggml_type)high),
			  as_type_name((enum ggml_type)low));
		return -EINVAL;
	}
	for (int i = 0; i < 2 && dim; i++) {
		if (as_row_bytes((enum ggml_type)t[i], dim, &x) ||
		    as_row_bytes((enum ggml_type)t[i], n_ff_exp, &x)) {
			as_seterr(err, errlen, "--expert-types: %s blocks of %zu values do not "
				  "divide dim %u and expert width %u",
				  as_type_name((enum ggml_type)t[i]),
				  as_type_block_elems((enum ggml_type)t[i]), dim, n_ff_exp);
			return -EINVAL;
		}
	}
	return 0;
}

static const enum as_op exp_op[AS_EXP_COUNT] = { AS_OP_GATE, AS_OP_UP, AS_OP_DOWN };

/* Matrix x of the expert kinds: kind (high or low copy) and its place in the bundle. */
static int exp_kind(int x, bool low)
{
	int k = x == AS_EXP_DOWN ? SWAP_FFN_OUT : SWAP_FFN_IN;

	return low ? k + SWAP_FFN_IN_LOW - SWAP_FFN_IN : k;
}

/* Kinds k (and, with low, its low copy) of matrix x, w0 layer 0's, in type t. */
static int describe_mat(struct swap_store_desc *d, int x, const struct as_weight *w0,
			enum ggml_type t, bool low, bool cv_cols, char *err, size_t errlen)
{
	int k = exp_kind(x, low);
	struct swap_mat_desc *md = &d->kinds[k].mats[x == AS_EXP_UP ? 1 : 0];
	uint64_t rb = 0, bytes;

	if (cv_cols) {
		md->out = (uint32_t)w0->rows;
		md->type = t;
		md->col_bytes = (uint32_t)as_col_bytes(t, w0->rows);
		d->kinds[k].in = d->n_expert;
		d->kinds[k].n_mats = x == AS_EXP_DOWN ? 1 : 2;
		d->kinds[k].cols = (uint32_t)w0->cols;
		return md->col_bytes ? 0 : -EINVAL;
	}
	if (as_row_bytes(t, w0->cols, &rb) || (bytes = w0->rows * rb) > (1u << 28)) {
		as_seterr(err, errlen, "an expert's %s matrix in %s is over the store's 256 MiB "
			  "per matrix", as_op_name(exp_op[x]), as_type_name(t));
		return -EINVAL;
	}
	md->out = (uint32_t)w0->rows;
	md->type = t;
	md->col_bytes = (uint32_t)bytes;
	d->kinds[k].in = d->n_expert;
	d->kinds[k].n_mats = x == AS_EXP_DOWN ? 1 : 2;
	return 0;
}

int describe_experts(struct conv *cv, struct swap_store_desc *d, char *err, size_t errlen)
{
	const struct as_convert_params *p = cv->p;
	const struct as_model *m = cv->m;
	int r = 0;

	d->n_expert = m->hp.n_expert;
	if (p->expert_pair && p->expert_columns) {
		as_seterr(err, errlen, "--expert-layout columns does not take --expert-types "
			  "(low-precision copies are kept in rows only)");
		return -EINVAL;
	}
	if (p->expert_pair) {
		r = as_convert_expert_types_ok(p->expert_types[0], p->expert_types[1],
					       m->hp.dim, m->hp.n_ff_exp, err, errlen);
		if (r)
			return r;
	}
	for (int x = 0; x < AS_EXP_COUNT && !r; x++) {
		const struct as_weight *w0 = &m->layers[0].exps[x];
		enum ggml_type t = p->expert_pair ? (enum ggml_type)p->expert_types[0] : w0->type;

		/* requantized copies need no common source type */
		for (uint32_t l = 1; l < m->hp.n_layer && !p->expert_pair; l++) {
			if (m->layers[l].exps[x].type != w0->type) {
				as_seterr(err, errlen, "blk.%u.%s_exps is %s, layer 0's is %s: "
					  "a store keeps one type per expert matrix (or convert "
					  "with --expert-types)", l, as_op_name(exp_op[x]),
					  as_type_name(m->layers[l].exps[x].type),
					  as_type_name(w0->type));
				return -EINVAL;
			}
		}
		if (p->expert_columns && !as_convert_type_ok(t)) {
			as_seterr(err, errlen, "--expert-layout columns: the experts' %s matrix is "
				  "%s; columns take f32, f16, bf16, q8_0 or q4_0",
				  as_op_name(exp_op[x]), as_type_name(t));
			return -EINVAL;
		}
		cv->type[exp_op[x]] = t;
		if (p->expert_columns) {
			size_t a = as_col_align(t);

			cv->outp[exp_op[x]] = (uint32_t)((w0->rows + a - 1) / a * a);
			cv->colb[exp_op[x]] = as_col_bytes(t, w0->rows);
		}
		r = describe_mat(d, x, w0, t, false, p->expert_columns, err, errlen);
		if (!r && p->expert_pair)
			r = describe_mat(d, x, w0, (enum ggml_type)p->expert_types[1], true, false,
					 err, errlen);
	}
	return r;
}

/* Expert matrix w in type t at dst: its bytes when it is t, else every row dequantized
 * into f and encoded again. */
static int put_mat(const struct as_weight *w, enum ggml_type t, float *f, uint8_t *dst,
		   uint64_t *len)
{
	uint64_t rb = 0;

	if (w->type == t) {
		*len = w->rows * w->row_bytes;
		memcpy(dst, w->data, *len);
		return 0;
	}
	if (as_row_bytes(t, w->cols, &rb))
		return -EINVAL; /* checked by describe_experts() */
	for (uint64_t i = 0; i < w->rows; i++) {
		int r;

		as_dequant_row(w->type, (const uint8_t *)w->data + i * w->row_bytes, f, w->cols);
		r = as_quant_row(t, f, dst + i * rb, w->cols);
		if (r)
			return r;
	}
	*len = w->rows * rb;
	return 0;
}

/* Expert e of layer l into its bundles of the high (low false) or low kinds. */
static int put_expert(struct conv *cv, uint32_t l, uint32_t e, bool low, float *f,
		      uint8_t *buf)
{
	const struct as_layer *L = &cv->m->layers[l];
	uint64_t off = 0, len = 0;
	int r = 0;

	for (int x = 0; x < AS_EXP_COUNT && !r; x++) {
		struct as_weight w = as_expert_weight(L, (enum as_exp)x, e);
		int k = exp_kind(x, low);
		enum ggml_type t = !cv->p->expert_pair ? w.type :
				   (enum ggml_type)cv->p->expert_types[low ? 1 : 0];

		r = put_mat(&w, t, f, buf + off, &len);
		off += len;
		if (r || x == AS_EXP_GATE)
			continue; /* gate and up share a bundle */
		r = swap_writer_bundle(cv->w, (struct swap_key){ l, (uint32_t)k, e }, buf);
		conv_progress_add(cv, off);
		off = 0;
	}
	return r;
}

/* Layer l's experts in the column layout: each matrix's columns encoded
 * (conv_encode_matrix) at a stride of one column of every matrix of the kind. */
static int convert_expert_cols(struct conv *cv, uint32_t l)
{
	const struct as_model *m = cv->m;
	const struct as_layer *L = &m->layers[l];
	uint64_t maxrows = 0, maxpad = 0, bb = 0;
	size_t nt = (size_t)as_tp_size(cv->tp);
	float *rows, *cols;
	uint8_t *buf;
	int r;

	for (int x = 0; x < AS_EXP_COUNT; x++) {
		const struct as_weight *w = &L->exps[x];

		if (w->rows * w->cols > maxrows)
			maxrows = w->rows * w->cols;
		if (cv->outp[exp_op[x]] > maxpad)
			maxpad = cv->outp[exp_op[x]];
	}
	for (int k = SWAP_FFN_IN; k <= SWAP_FFN_OUT; k++)
		if (swap_writer_bundle_bytes(cv->w, k) > bb)
			bb = swap_writer_bundle_bytes(cv->w, k);
	rows = malloc(maxrows * sizeof(float));
	cols = malloc(nt * AS_CONVERT_TBLK * maxpad * sizeof(float));
	buf = malloc(bb);
	r = rows && cols && buf ? 0 : -ENOMEM;
	for (uint32_t e = 0; e < m->hp.n_expert && !r; e++) {
		uint64_t moff = 0, stride = cv->colb[AS_OP_GATE] + cv->colb[AS_OP_UP];

		for (int x = 0; x < AS_EXP_COUNT && !r; x++) {
			struct as_weight w = as_expert_weight(L, (enum as_exp)x, e);
			int k = exp_kind(x, false);

			if (x == AS_EXP_DOWN) {
				moff = 0;
				stride = cv->colb[AS_OP_DOWN];
			}
			r = conv_encode_matrix(cv, &w, exp_op[x], buf, stride, moff, rows, cols,
					       AS_CONVERT_TBLK * maxpad);
			moff += cv->colb[exp_op[x]];
			if (r || x == AS_EXP_GATE)
				continue; /* gate and up share a bundle */
			r = swap_writer_bundle(cv->w, (struct swap_key){ l, (uint32_t)k, e }, buf);
			conv_progress_add(cv, swap_writer_bundle_bytes(cv->w, k));
		}
		if (!r && conv_cancelled(cv->p))
			r = -ECANCELED;
	}
	free(rows);
	free(cols);
	free(buf);
	return r;
}

int convert_experts(struct conv *cv, uint32_t l)
{
	const struct as_model *m = cv->m;
	uint64_t bb = 0;
	uint8_t *buf;
	float *f;
	int r;

	if (cv->p->expert_columns)
		return convert_expert_cols(cv, l);
	for (int k = SWAP_FFN_IN; k < SWAP_KIND_MAX; k++)
		if (swap_writer_bundle_bytes(cv->w, k) > bb)
			bb = swap_writer_bundle_bytes(cv->w, k);
	buf = malloc(bb);
	f = malloc(sizeof(float) * (m->hp.dim > m->hp.n_ff_exp ? m->hp.dim : m->hp.n_ff_exp));
	r = buf && f ? 0 : -ENOMEM;
	for (uint32_t e = 0; e < m->hp.n_expert && !r; e++) {
		r = put_expert(cv, l, e, false, f, buf);
		if (!r && cv->p->expert_pair)
			r = put_expert(cv, l, e, true, f, buf);
		if (!r && conv_cancelled(cv->p))
			r = -ECANCELED;
	}
	free(buf);
	free(f);
	return r;
}

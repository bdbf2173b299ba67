// SPDX-License-Identifier: MIT
/*
 * A store-backed model's resident part (swapmodel.h): the tensors that are never swapped
 * (embeddings, norms, the output head, routers, architecture extras) and the K-quant
 * columns' scale tables, read from the store, checked against the shape the model needs
 * and, by default, against their crc32c. Called by as_swap_open (swap_open.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/gguf.h"
#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "activeswap/sparse.h"
#include "swapmodel.h"

/* Read a resident tensor of the expected shape into malloc'ed memory. */
static int load_resident(struct as_swap_model *m, const char *name, bool f32_only,
			 uint64_t ne0, uint64_t ne1, void **out, enum ggml_type *type,
			 char *err, size_t errlen)
{
	const struct swap_resident *r = swap_store_find_resident(m->st, name);
	uint64_t rb;
	int rc;

	*out = NULL;
	if (!r) {
		snprintf(err, errlen, "store: resident tensor %s missing", name);
		return -ENOENT;
	}
	if ((f32_only && r->d.type != GGML_TYPE_F32) ||
	    !as_type_supported((enum ggml_type)r->d.type) || r->d.ne[0] != ne0 ||
	    (ne1 > 1 && (r->d.n_dims != 2 || r->d.ne[1] != ne1)) ||
	    as_row_bytes((enum ggml_type)r->d.type, ne0, &rb) || rb * ne1 != r->d.size) {
		snprintf(err, errlen, "store: resident tensor %s has the wrong type or shape",
			 name);
		return -EINVAL;
	}
	*out = malloc(r->d.size ? r->d.size : 1);
	if (!*out)
		return -ENOMEM;
	rc = swap_store_read_resident(m->st, r, *out);
	if (rc) {
		snprintf(err, errlen, "store: reading %s: %s", name, strerror(-rc));
		free(*out);
		*out = NULL;
		return rc;
	}
	if (m->verify && swap_crc32c(0, *out, r->d.size) != r->crc) {
		snprintf(err, errlen, "store: resident tensor %s: crc32c mismatch (the store is "
			 "corrupt or a read returned wrong bytes)", name);
		free(*out);
		*out = NULL;
		return -EBADMSG;
	}
	if (type)
		*type = (enum ggml_type)r->d.type;
	return 0;
}


/* An F32 vector resident tensor of n values into rm: optional (absent: *out = NULL) or
 * required. The memory is listed in m->extra. */
static int load_vec(struct as_swap_model *m, const char *name, uint64_t n, bool required,
		    const float **out, char *err, size_t errlen)
{
	void *buf;
	int r;

	*out = NULL;
	if (!required && !swap_store_find_resident(m->st, name))
		return 0;
	r = load_resident(m, name, true, n, 1, &buf, NULL, err, errlen);
	if (r)
		return r;
	m->extra[m->n_extra++] = buf;
	*out = buf;
	return 0;
}

/* A mixture-of-experts layer's router, blk.L.ffn_gate_inp.weight (n_expert rows of dim),
 * resident like the norms; listed in m->extra. */
static int load_router(struct as_swap_model *m, uint32_t l, char *err, size_t errlen)
{
	const struct as_hparams *hp = &m->rm.hp;
	enum ggml_type t;
	char name[96];
	void *buf;
	uint64_t rb;
	int r;

	snprintf(name, sizeof(name), "blk.%u.ffn_gate_inp.weight", l);
	r = load_resident(m, name, false, hp->dim, hp->n_expert, &buf, &t, err, errlen);
	if (r)
		return r;
	m->extra[m->n_extra++] = buf;
	if (!as_type_supported(t) || as_row_bytes(t, hp->dim, &rb)) {
		snprintf(err, errlen, "store: %s has type %s, which the kernels do not take",
			 name, as_type_name(t));
		return -EINVAL;
	}
	m->rm.layers[l].router = (struct as_weight){ t, buf, hp->n_expert, hp->dim, rb };
	return 0;
}

/*
 * The architecture's resident vectors, as model.c's load_layer_extras() takes them from
 * a GGUF: rope_freqs, biases (llama: any, optional; qwen2: Q/K/V, required), the per-head
 * Q/K norms of qwen3.
 */
static int load_arch_tensors(struct as_swap_model *m, char *err, size_t errlen)
{
	struct as_model *rm = &m->rm;
	const struct as_hparams *hp = &rm->hp;
	uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
	char name[96];
	int r;

	m->extra = calloc((size_t)hp->n_layer * (AS_OP_COUNT + 3) + 1, sizeof(*m->extra));
	if (!m->extra)
		return -ENOMEM;
	r = load_vec(m, "rope_freqs.weight", hp->n_rot / 2, false, &rm->rope_freqs, err,
		     errlen);
	if (!r && !as_rope_freqs_ok(rm->rope_freqs, hp->n_rot / 2)) {
		snprintf(err, errlen, "store: rope_freqs.weight holds a value that is not a "
			 "positive finite number");
		r = -EINVAL;
	}
	for (uint32_t l = 0; !r && l < hp->n_layer; l++) {
		struct as_layer *L = &rm->layers[l];

		for (int op = 0; !r && op < AS_OP_COUNT; op++) {
			bool qkv = op == AS_OP_Q || op == AS_OP_K || op == AS_OP_V;
			uint64_t rows = op == AS_OP_K || op == AS_OP_V ? kv_dim :
					op == AS_OP_GATE || op == AS_OP_UP ? hp->hidden :
					op == AS_OP_Q ? as_q_dim(hp) : hp->dim;

			if (hp->arch == AS_ARCH_QWEN3 || hp->arch == AS_ARCH_QWEN3MOE ||
			    (hp->arch == AS_ARCH_QWEN2 && !qkv) ||
			    (hp->n_expert && op >= AS_OP_GATE))
				continue;
			snprintf(name, sizeof(name), "blk.%u.%s.bias", l, as_op_name(op));
			r = load_vec(m, name, rows, hp->arch == AS_ARCH_QWEN2, &L->bias[op], err,
				     errlen);
		}
		if (!r && hp->n_expert)
			r = load_router(m, l, err, errlen);
		if (r || (hp->arch != AS_ARCH_QWEN3 && hp->arch != AS_ARCH_QWEN3MOE))
			continue;
		snprintf(name, sizeof(name), "blk.%u.attn_q_norm.weight", l);
		r = load_vec(m, name, hp->head_dim, true, &L->q_norm, err, errlen);
		snprintf(name, sizeof(name), "blk.%u.attn_k_norm.weight", l);
		if (!r)
			r = load_vec(m, name, hp->head_dim, true, &L->k_norm, err, errlen);
	}
	return r;
}

/* The resident tensors into memory, and the model of the forward pass pointing at them. */
int sw_load_tensors(struct as_swap_model *m, char *err, size_t errlen)
{
	struct as_model *rm = &m->rm;
	const struct as_hparams *hp = &rm->hp;
	enum ggml_type tok_type, out_type;
	uint64_t rb;
	char name[64];
	int r;

	r = load_resident(m, "token_embd.weight", false, hp->dim, hp->n_vocab, &m->tok_embd,
			  &tok_type, err, errlen);
	if (r)
		return r;
	as_row_bytes(tok_type, hp->dim, &rb);
	rm->tok_embd = (struct as_weight){ tok_type, m->tok_embd, hp->n_vocab, hp->dim, rb };
	if (swap_store_find_resident(m->st, "output.weight")) {
		r = load_resident(m, "output.weight", false, hp->dim, hp->n_vocab, &m->output,
				  &out_type, err, errlen);
		if (r)
			return r;
		as_row_bytes(out_type, hp->dim, &rb);
		rm->output = (struct as_weight){ out_type, m->output, hp->n_vocab, hp->dim, rb };
	} else {
		m->output = m->tok_embd;
		rm->output = rm->tok_embd;
		rm->tied_output = true;
	}
	if (rm->output.type != GGML_TYPE_F32 && hp->dim % 32) {
		snprintf(err, errlen, "store: quantized output head needs dim %% 32 == 0");
		return -EINVAL;
	}
	r = load_resident(m, "output_norm.weight", true, hp->dim, 1, (void **)&m->out_norm,
			  NULL, err, errlen);
	if (r)
		return r;
	rm->output_norm = m->out_norm;
	m->norms = malloc(sizeof(float) * 2 * hp->dim * hp->n_layer);
	rm->layers = calloc(hp->n_layer, sizeof(*rm->layers));
	if (!m->norms || !rm->layers)
		return -ENOMEM;
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		for (int k = 0; k < 2; k++) {
			float *dst = m->norms + ((size_t)l * 2 + k) * hp->dim;
			void *buf;

			snprintf(name, sizeof(name), "blk.%u.%s.weight", l,
				 k ? "ffn_norm" : "attn_norm");
			r = load_resident(m, name, true, hp->dim, 1, &buf, NULL, err, errlen);
			if (r)
				return r;
			memcpy(dst, buf, sizeof(float) * hp->dim);
			free(buf);
			if (k)
				rm->layers[l].ffn_norm = dst;
			else
				rm->layers[l].attn_norm = dst;
		}
	}
	return load_arch_tensors(m, err, errlen);
}

/*
 * The scale tables of the K-quant matrices (store-format.md): blk.L.OP.kscale of a K type at
 * most as wide as the kind's column type, the matrix's shape and the table's size.
 */
int sw_load_kq_tables(struct as_swap_model *m, char *err, size_t errlen)
{
	uint32_t n_layer = m->rm.hp.n_layer;
	char name[96];

	m->kqt = calloc((size_t)n_layer * AS_OP_COUNT, sizeof(*m->kqt));
	m->kqtyp = calloc((size_t)n_layer * AS_OP_COUNT, 1);
	if (!m->kqt || !m->kqtyp)
		return -ENOMEM;
	for (uint32_t l = 0; l < n_layer; l++) {
		for (int k = 0; k < SWAP_KIND_COUNT; k++) {
			for (uint32_t i = 0; i < m->n_mats[k]; i++) {
				const struct sw_mat *mt = &m->mats[k][i];
				const struct swap_resident *r;
				size_t li = (size_t)l * AS_OP_COUNT + mt->op;
				enum ggml_type t;
				int rc;

				if (!mt->kq)
					continue;
				snprintf(name, sizeof(name), "blk.%u.%s.kscale", l,
					 as_op_name(mt->op));
				r = swap_store_find_resident(m->st, name);
				if (!r) {
					snprintf(err, errlen, "store: scale table %s missing",
						 name);
					return -EINVAL;
				}
				t = (enum ggml_type)r->d.type;
				if (!as_kq_type(t) || as_kq_width(t) > as_kq_width(mt->type) ||
				    r->d.n_dims != 2 || r->d.ne[0] != mt->in ||
				    r->d.ne[1] != mt->out ||
				    r->d.size != as_kq_table_bytes(t, mt->out, mt->in)) {
					snprintf(err, errlen, "store: scale table %s has the wrong "
						 "type, shape or size", name);
					return -EINVAL;
				}
				m->kqt[li] = malloc(r->d.size);
				if (!m->kqt[li])
					return -ENOMEM;
				rc = swap_store_read_resident(m->st, r, m->kqt[li]);
				if (rc) {
					snprintf(err, errlen, "store: reading %s: %s", name,
						 strerror(-rc));
					return rc;
				}
				m->kqtyp[li] = (uint8_t)t;
			}
		}
	}
	return 0;
}

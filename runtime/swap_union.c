// SPDX-License-Identifier: MIT
/*
 * A batch's group over a store's columns as one product over the union of the
 * positions' selections (sparse_gemm.h), for the table and engine sources' linear_batch
 * (swap_sources.c) once the union is held: the activations of every position masked to
 * its own selection, then every matrix of the group in one pass of the threads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/sparse.h"
#include "activeswap/threadpool.h"
#include "sparse_gemm.h"
#include "swapmodel.h"

uint64_t sw_union_bytes(uint64_t wide, uint32_t batch, int threads)
{
	if (batch < 2)
		return 0;
	return (uint64_t)batch * wide * 4 + wide * (4 + SWAP_MAX_MATS * sizeof(void *)) +
	       (uint64_t)(threads > 0 ? threads : 1) * AS_SG_PANEL * sizeof(float);
}

/* Scratch for n positions (grown when a caller's batch exceeds the one reserved). */
static int union_reserve(struct as_swap_model *m, uint32_t n)
{
	size_t wide = sw_max_in(&m->rm.hp), nth = (size_t)as_tp_size(m->tp);

	if (!m->upos) {
		m->upos = calloc(wide, sizeof(uint32_t));
		m->ucols = calloc(wide * SWAP_MAX_MATS, sizeof(void *));
		if (!m->upos || !m->ucols)
			return -ENOMEM;
	}
	if (m->upanels < nth) {
		free(m->upanel);
		m->upanels = 0;
		m->upanel = calloc(nth * AS_SG_PANEL, sizeof(float));
		if (!m->upanel)
			return -ENOMEM;
		m->upanels = (uint32_t)nth;
	}
	if (m->ucap < n) {
		free(m->uxm);
		m->ucap = 0;
		m->uxm = calloc((size_t)n * wide, sizeof(float));
		if (!m->uxm)
			return -ENOMEM;
		m->ucap = n;
	}
	return 0;
}

int sw_union_alloc(struct as_swap_model *m)
{
	return m->batch < 2 || m->rows ? 0 : union_reserve(m, m->batch);
}

void sw_union_free(struct as_swap_model *m)
{
	free(m->uxm);
	free(m->upos);
	free(m->ucols);
	free(m->upanel);
}

bool sw_union_ok(const struct as_swap_model *m, int kind)
{
	if (m->kq)
		return false;
	for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
		if (m->mats[kind][mi].kq || !as_sg_type_ok(m->mats[kind][mi].type))
			return false;
	return true;
}

struct union_task {
	struct as_swap_model *m;
	int kind;
	uint32_t k, n;
	float *const *Ys;
};

static void union_fn(void *arg, int ith, int nth)
{
	const struct union_task *t = arg;
	struct as_swap_model *m = t->m;
	size_t wide = sw_max_in(&m->rm.hp);
	float *panel = m->upanel + (size_t)((uint32_t)ith % m->upanels) * AS_SG_PANEL;

	for (uint32_t mi = 0; mi < m->n_mats[t->kind]; mi++) {
		const struct sw_mat *mt = &m->mats[t->kind][mi];

		as_sg_share(as_sparse_level(), mt->type, t->Ys[mi], mt->out, mt->out,
			    (const void *const *)(m->ucols + mi * wide), m->uxm, t->k, t->n,
			    panel, ith, nth);
	}
}

int sw_union_product(struct as_swap_model *m, uint32_t layer, int kind, const float *X,
		     uint32_t n, const struct as_sel *sels, uint32_t k, float *const *Ys)
{
	size_t in = as_group_in(&m->rm.hp, (enum as_group)kind), wide = sw_max_in(&m->rm.hp);
	struct union_task t = { m, kind, k, n, Ys };

	int r = union_reserve(m, n);

	if (r)
		return r;
	for (uint32_t i = 0; i < k; i++) {
		const uint8_t *b = m->chan[m->pidx[i]];

		m->upos[m->pidx[i]] = i;
		for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
			m->ucols[mi * wide + i] = b + m->mats[kind][mi].off;
		if (m->check_use) {
			struct swap_key key = { layer, (uint32_t)kind, m->pidx[i] };

			m->checked++;
			if (swap_crc32c(0, b, swap_store_bundle_bytes(m->st, kind)) !=
			    swap_store_bundle_crc(m->st, key))
				return -EBADMSG;
		}
	}
	for (uint32_t p = 0; p < n; p++) {
		float *xm = m->uxm + (size_t)p * k;

		memset(xm, 0, (size_t)k * sizeof(float));
		for (uint32_t i = 0; i < sels[p].n; i++)
			xm[m->upos[sels[p].idx[i]]] = X[(size_t)p * in + sels[p].idx[i]];
	}
	as_tp_run(m->tp, union_fn, &t);
	return 0;
}

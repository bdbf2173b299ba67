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
	uint64_t slots = as_sg_slots_max(wide), groups = slots / AS_SG_GROUP + 1;

	if (batch < 2)
		return 0;
	return (uint64_t)batch * slots * 4 + wide * 4 + groups * 8 +
	       slots * SWAP_MAX_MATS * sizeof(void *) +
	       (uint64_t)(threads > 0 ? threads : 1) * AS_SG_SCRATCH;
}

/* Scratch for n positions (grown when a caller's batch exceeds the one reserved). */
static int union_reserve(struct as_swap_model *m, uint32_t n)
{
	size_t wide = sw_max_in(&m->rm.hp), nth = (size_t)as_tp_size(m->tp);
	size_t slots = as_sg_slots_max(wide), groups = slots / AS_SG_GROUP + 1;

	if (!m->upos) {
		m->upos = calloc(wide, sizeof(uint32_t));
		m->ugs = calloc(groups, sizeof(uint32_t));
		m->ugm = calloc(groups, sizeof(uint32_t));
		m->ucols = calloc(slots * SWAP_MAX_MATS, sizeof(void *));
		if (!m->upos || !m->ugs || !m->ugm || !m->ucols)
			return -ENOMEM;
	}
	if (m->upanels < nth) {
		free(m->upanel);
		m->upanels = 0;
		m->upanel = calloc(nth, AS_SG_SCRATCH);
		if (!m->upanel)
			return -ENOMEM;
		m->upanels = (uint32_t)nth;
	}
	if (m->ucap < n) {
		free(m->uxm);
		m->ucap = 0;
		m->uxm = calloc((size_t)n * slots, sizeof(float));
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
	free(m->ugs);
	free(m->ugm);
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
	uint32_t n;
	size_t ng;
	float *const *Ys;
};

static void union_fn(void *arg, int ith, int nth)
{
	const struct union_task *t = arg;
	struct as_swap_model *m = t->m;
	size_t slots = as_sg_slots_max(sw_max_in(&m->rm.hp));
	uint8_t *scratch = m->upanel + (size_t)((uint32_t)ith % m->upanels) * AS_SG_SCRATCH;

	for (uint32_t mi = 0; mi < m->n_mats[t->kind]; mi++) {
		const struct sw_mat *mt = &m->mats[t->kind][mi];

		as_sg_share(as_sparse_level(), mt->type, t->Ys[mi], mt->out, mt->out,
			    (const void *const *)(m->ucols + mi * slots), m->uxm, m->ugs, m->ugm,
			    t->ng, t->n, scratch, ith, nth);
	}
}

int sw_union_product(struct as_swap_model *m, uint32_t layer, int kind, const float *X,
		     uint32_t n, const struct as_sel *sels, uint32_t k, float *const *Ys)
{
	size_t in = as_group_in(&m->rm.hp, (enum as_group)kind);
	size_t smax = as_sg_slots_max(sw_max_in(&m->rm.hp)), slots;
	struct union_task t = { m, kind, n, 0, Ys };
	int r = union_reserve(m, n);

	if (r)
		return r;
	t.ng = as_sg_layout(m->pidx, k, m->ugs, m->ugm);
	slots = m->ugs[t.ng];
	for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
		memset(m->ucols + mi * smax, 0, slots * sizeof(void *));
	for (size_t g = 0, i = 0; g < t.ng; g++)
		for (uint32_t j = 0; j < m->ugm[g]; j++, i++) {
			uint32_t c = m->pidx[i], s = m->ugs[g] + j;
			const uint8_t *b = m->chan[c];

			m->upos[c] = s;
			for (uint32_t mi = 0; mi < m->n_mats[kind]; mi++)
				m->ucols[mi * smax + s] = b + m->mats[kind][mi].off;
			if (m->check_use) {
				struct swap_key key = { layer, (uint32_t)kind, c };

				m->checked++;
				if (swap_crc32c(0, b, swap_store_bundle_bytes(m->st, kind)) !=
				    swap_store_bundle_crc(m->st, key))
					return -EBADMSG;
			}
		}
	for (uint32_t p = 0; p < n; p++) {
		float *xm = m->uxm + (size_t)p * slots;

		memset(xm, 0, slots * sizeof(float));
		for (uint32_t i = 0; i < sels[p].n; i++)
			xm[m->upos[sels[p].idx[i]]] = X[(size_t)p * in + sels[p].idx[i]];
	}
	as_tp_run(m->tp, union_fn, &t);
	return 0;
}

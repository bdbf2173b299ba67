// SPDX-License-Identifier: MIT
/*
 * Getters and statistics of the store-backed model (swap.h): the runtime's per-layer
 * counters beside the engine's (or, in row mode, the row reader's).
 */
#include <errno.h>
#include <string.h>

#include "swapmodel.h"
#include "swaprows.h"

const float *as_swap_logits(const struct as_swap_model *m)
{
	return m->s->logits;
}

uint32_t as_swap_n_vocab(const struct as_swap_model *m)
{
	return m->rm.hp.n_vocab;
}

uint32_t as_swap_n_experts(const struct as_swap_model *m)
{
	return m->rm.hp.n_expert;
}

uint32_t as_swap_n_layers(const struct as_swap_model *m)
{
	return m->rm.hp.n_layer;
}

uint32_t as_swap_n_ctx(const struct as_swap_model *m)
{
	return m->n_ctx;
}

enum as_kv_type as_swap_kv_type(const struct as_swap_model *m)
{
	return m->kv_type;
}

uint64_t as_swap_kv_bytes(const struct as_swap_model *m)
{
	return as_kv_bytes(&m->rm.hp, m->n_ctx, m->kv_type);
}

uint32_t as_swap_batch(const struct as_swap_model *m)
{
	return m->batch;
}

uint32_t as_swap_group(const struct as_swap_model *m)
{
	return m->no_preload ? 0 : m->group;
}

float as_swap_sparsity(const struct as_swap_model *m)
{
	double s = 0;

	for (uint32_t i = 0; i < m->rm.hp.n_layer * SWAP_KIND_COUNT; i++)
		s += m->sp[i];
	return (float)(s / (m->rm.hp.n_layer * SWAP_KIND_COUNT));
}

double as_swap_resident_share(const struct as_swap_model *m, int kind)
{
	if (kind < 0 || kind >= SWAP_KIND_COUNT || m->rows || m->hi[kind] <= m->lo[kind])
		return 0;
	return (double)m->resident[kind] / (m->hi[kind] - m->lo[kind]);
}

uint64_t as_swap_kind_bytes(const struct as_swap_model *m, int kind)
{
	if (kind < 0 || kind >= SWAP_KIND_COUNT)
		return 0;
	return swap_store_bundle_bytes(m->st, (enum swap_kind)kind) * (m->hi[kind] - m->lo[kind]);
}

const struct gguf_file *as_swap_meta(const struct as_swap_model *m)
{
	return m->meta;
}

struct swap_engine *as_swap_engine(struct as_swap_model *m)
{
	return m->eng;
}

bool as_swap_is_matrix_name(const char *name)
{
	return as_rows_is_matrix_name(name);
}

int as_swap_row_copy_bytes(const struct swap_store *st, uint64_t *bytes, char *err,
			   size_t errlen)
{
	return as_rows_check(st, bytes, NULL, err, errlen);
}

bool as_swap_row_mode(const struct as_swap_model *m)
{
	return m->rows != NULL;
}

const char *as_swap_backend_name(const struct as_swap_model *m)
{
	return m->rows ? as_rows_io_name(m->rows) : swap_engine_backend_name(m->eng);
}

const char *as_swap_policy_name(const struct as_swap_model *m)
{
	return m->rows ? "rows" : swap_engine_policy_name(m->eng);
}

const char *as_swap_expert_policy_name(const struct as_swap_model *m)
{
	const char *n;

	if (!m->eng)
		return "rows";
	if (m->all)
		return "table";
	n = swap_engine_kind_policy_name(m->eng, SWAP_FFN_IN);
	return !strcmp(n, "freq") ? "contextual" : n;
}

enum as_expert_precision as_swap_expert_precision(const struct as_swap_model *m)
{
	return m->xprec;
}

bool as_swap_has_low_experts(const struct as_swap_model *m)
{
	return swap_store_n_kinds(m->st) == SWAP_KIND_MAX;
}

bool as_swap_expert_columns(const struct as_swap_model *m)
{
	return m->xcols;
}

void as_swap_expert_ghost(const struct as_swap_model *m, int kind, uint64_t *lookups,
			  uint64_t *hits)
{
	const struct sw_xghost *g = &m->xg[kind != 0];

	*lookups = g->lookups;
	*hits = g->hits;
}

uint32_t as_swap_expert_predict(const struct as_swap_model *m, enum as_xp_off *why)
{
	if (why)
		*why = m->xp_auto_off;
	return m->xp_ahead;
}

static const char *const xprec_names[AS_XPREC_COUNT] = { "off", "low-weight", "miss" };

const char *as_expert_precision_name(enum as_expert_precision x)
{
	return (unsigned)x < AS_XPREC_COUNT ? xprec_names[x] : "unknown";
}

int as_expert_precision_from_name(const char *name)
{
	for (int i = 0; i < AS_XPREC_COUNT; i++)
		if (!strcmp(name, xprec_names[i]))
			return i;
	return -EINVAL;
}

void as_swap_io_stats(struct as_swap_model *m, struct swap_stats *out)
{
	if (m->eng) {
		swap_engine_stats(m->eng, out);
		return;
	}
	memset(out, 0, sizeof(*out));
	out->pool_bytes = m->pool_bytes;
	for (uint32_t l = 0; l < m->rm.hp.n_layer; l++) {
		struct swap_layer_stats x;

		as_swap_io_layer_stats(m, l, &x);
		out->total.reads += x.reads;
		out->total.bytes_read += x.bytes_read;
		out->total.bytes_used += x.bytes_used;
		out->total.stall_ns += x.stall_ns;
		out->total.hits += x.hits;
		out->total.misses += x.misses;
	}
}

int as_swap_io_layer_stats(struct as_swap_model *m, uint32_t layer, struct swap_layer_stats *out)
{
	if (layer >= m->rm.hp.n_layer)
		return -EINVAL;
	if (m->eng)
		return swap_engine_layer_stats(m->eng, layer, out);
	memset(out, 0, sizeof(*out));
	as_rows_layer_stats(m->rows, layer, &out->reads, &out->bytes_read, &out->stall_ns);
	out->bytes_used = out->bytes_read; /* a streamed layer is read whole and used whole */
	out->hits = m->ls[layer].hits;
	out->misses = m->ls[layer].lookups - m->ls[layer].hits;
	return 0;
}

int as_swap_layer_stats(struct as_swap_model *m, uint32_t layer,
			struct as_swap_layer_stats *out)
{
	struct swap_layer_stats es;

	if (layer >= m->rm.hp.n_layer)
		return -EINVAL;
	*out = m->ls[layer];
	as_swap_io_layer_stats(m, layer, &es);
	out->bytes_read = es.bytes_read;
	out->stall_ns = es.stall_ns;
	out->bytes_used = es.bytes_used;
	return 0;
}

void as_swap_stats(struct as_swap_model *m, struct as_swap_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->tokens = m->token;
	for (uint32_t l = 0; l < m->rm.hp.n_layer; l++) {
		struct as_swap_layer_stats x;

		as_swap_layer_stats(m, l, &x);
		out->total.lookups += x.lookups;
		out->total.hits += x.hits;
		out->total.predicted += x.predicted;
		out->total.used += x.used;
		out->total.predicted_used += x.predicted_used;
		out->total.bytes_read += x.bytes_read;
		out->total.stall_ns += x.stall_ns;
		out->total.bytes_used += x.bytes_used;
		out->total.expert_lookups += x.expert_lookups;
		out->total.expert_predicted += x.expert_predicted;
		out->total.expert_pred_used += x.expert_pred_used;
		out->total.expert_pred_needed += x.expert_pred_needed;
		out->total.expert_hits += x.expert_hits;
		out->total.expert_high += x.expert_high;
		out->total.expert_low += x.expert_low;
		out->total.expert_saved_bytes += x.expert_saved_bytes;
		out->total.expert_part_reads += x.expert_part_reads;
	}
	out->budget_bytes = m->budget_bytes;
	out->fixed_bytes = m->fixed_bytes;
	out->pool_bytes = m->pool_bytes;
	out->cancelled = m->cancelled;
	out->checked = m->checked;
	memcpy(out->gap_bytes, m->gap_bytes, sizeof(out->gap_bytes));
	memcpy(out->kept, m->kept, sizeof(out->kept));
	memcpy(out->offered, m->offered, sizeof(out->offered));
	out->compute_s = m->compute_s;
	out->wall_s = m->wall_s;
}

// SPDX-License-Identifier: MIT
/*
 * activeswap info MODEL [--json] [--kv]: what a model file holds.
 *
 * For a GGUF file: architecture, hyper-parameters, a tokenizer summary, every tensor's
 * name/shape/type/size, totals by type and the file size. The GGUF part lives in
 * info_gguf(). For an activeswap store (detected by its magic): hyper-parameters, layer
 * group, the bundle kinds with their matrices, the resident tensors and the sizes
 * (info_store()).
 * Strings from the file are untrusted: text output replaces non-printable bytes with
 * '?', JSON output escapes them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeswap/gguf.h"
#include "activeswap/quant.h"
#include "activeswap/quantmix.h"
#include "activeswap/sparse.h"
#include "activeswap/swap.h"
#include "activeswap/tokenizer.h"
#include "args.h"
#include "cli.h"
#include "libswap.h"

#define SUB "info"

static void usage(FILE *f)
{
	fprintf(f, "usage: activeswap info MODEL.gguf|STORE.asw [--json] [--kv]\n"
		   "Prints architecture, hyper-parameters, tokenizer, tensors (name, shape,\n"
		   "type, bytes), totals by type and the file size. For a store: the layer\n"
		   "group, the bundle kinds and their columns, the resident tensors.\n"
		   "  --json  one JSON object on stdout\n"
		   "  --kv    also list every metadata key (text mode)\n");
}

/* A NUL-terminated, bounded copy of an untrusted string; printable when text. */
static const char *cstr(struct gguf_str s, char *buf, size_t n, bool text)
{
	size_t len = s.len < n - 1 ? (size_t)s.len : n - 1;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s.s[i];

		if (c == 0)
			c = '?';
		else if (text && (c < 0x20 || c == 0x7f))
			c = '?';
		buf[i] = (char)c;
	}
	buf[len] = 0;
	if (s.len > len && len >= 3)
		memcpy(buf + len - 3, "...", 3);
	return buf;
}

struct hp {
	const char *label;
	const char *suffix; /* key after "<arch>." */
	bool is_float;
	bool have;
	uint64_t u;
	float f;
};

static void get_hparams(const struct gguf_file *f, const char *arch, struct hp *hp, size_t n)
{
	char key[160];

	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s.%s", arch, hp[i].suffix);
		if (hp[i].is_float)
			hp[i].have = gguf_get_f32(f, key, &hp[i].f) == 0;
		else
			hp[i].have = gguf_get_u64(f, key, &hp[i].u) == 0;
	}
}

/*
 * The head size as the runtime reads it: ARCH.attention.key_length when the metadata has
 * it (Qwen3 0.6B: 128 over 1024 / 16 heads), else dim / heads; 0 when neither says it.
 * The attention width is heads x head size (0 when it would overflow).
 */
static uint64_t head_size(const struct gguf_file *f, const char *arch, uint64_t dim,
			  uint64_t heads)
{
	char key[160];
	uint64_t kl;

	if (f && arch[0]) {
		snprintf(key, sizeof(key), "%s.attention.key_length", arch);
		if (gguf_get_u64(f, key, &kl) == 0)
			return kl;
	}
	return heads && dim % heads == 0 ? dim / heads : 0;
}

static uint64_t attn_width(uint64_t heads, uint64_t head_dim)
{
	return heads && head_dim <= UINT64_MAX / heads ? heads * head_dim : 0;
}

/* A store's metadata (a GGUF without tensors) parsed, NULL when it has none or it does
 * not parse; arch gets its general.architecture ("" when none). */
static struct gguf_file *store_meta(const struct swap_store_desc *d, char *arch, size_t n)
{
	struct gguf_file *g = NULL;
	struct gguf_str s;
	char err[256];

	arch[0] = 0;
	if (!d->meta_len || gguf_parse(&g, d->meta, d->meta_len, err, sizeof(err)))
		return NULL;
	if (gguf_get_str(g, "general.architecture", &s) == 0)
		cstr(s, arch, n, true);
	return g;
}

struct tok_summary {
	bool have;
	char model[64];
	uint64_t n;
	uint64_t by_type[8]; /* 0 = other */
	int64_t bos, eos, unk;
	int add_bos; /* -1 unknown */
};

static void get_tokenizer(const struct gguf_file *f, struct tok_summary *ts)
{
	const struct gguf_kv *kv;
	struct gguf_str s;
	enum gguf_type ty;
	uint64_t n;
	uint32_t u;
	bool b;

	memset(ts, 0, sizeof(*ts));
	ts->bos = ts->eos = ts->unk = -1;
	ts->add_bos = -1;
	if (gguf_get_str(f, "tokenizer.ggml.model", &s) == 0) {
		ts->have = true;
		cstr(s, ts->model, sizeof(ts->model), true);
	}
	if (gguf_get_arr(f, "tokenizer.ggml.tokens", &ty, &n, NULL) == 0 &&
	    ty == GGUF_TYPE_STRING) {
		ts->have = true;
		ts->n = n;
	}
	if (gguf_get_arr(f, "tokenizer.ggml.token_type", &ty, &n, &kv) == 0 &&
	    ty == GGUF_TYPE_INT32) {
		for (uint64_t i = 0; i < n; i++) {
			int32_t t;

			memcpy(&t, kv->data + 4 * i, 4);
			ts->by_type[t >= 1 && t <= 6 ? t : 0]++;
		}
	}
	if (gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &u) == 0)
		ts->bos = u;
	if (gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &u) == 0)
		ts->eos = u;
	if (gguf_get_u32(f, "tokenizer.ggml.unknown_token_id", &u) == 0)
		ts->unk = u;
	if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) == 0)
		ts->add_bos = b;
}

struct type_total {
	uint64_t tensors, bytes, elems;
};

static void shape_str(const struct gguf_tensor *t, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = 0;
	for (uint32_t d = 0; d < t->n_dims && off < n; d++)
		off += (size_t)snprintf(buf + off, n - off, "%s%llu", d ? " x " : "",
					(unsigned long long)t->ne[d]);
}

static void print_value(FILE *o, const struct gguf_kv *kv)
{
	char buf[96];
	union {
		uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
		uint64_t u64; int64_t i64; float f32; double f64;
	} v;

	if (kv->type == GGUF_TYPE_ARRAY) {
		fprintf(o, "[%s x %llu]", gguf_type_name(kv->arr_type),
			(unsigned long long)kv->arr_n);
		return;
	}
	if (kv->type == GGUF_TYPE_STRING) {
		struct gguf_str s = { (const char *)kv->data, kv->data_len };

		fprintf(o, "\"%s\"", cstr(s, buf, sizeof(buf), true));
		return;
	}
	memcpy(&v, kv->data, kv->data_len <= sizeof(v) ? kv->data_len : sizeof(v));
	switch (kv->type) {
	case GGUF_TYPE_UINT8: fprintf(o, "%u", v.u8); break;
	case GGUF_TYPE_INT8: fprintf(o, "%d", v.i8); break;
	case GGUF_TYPE_UINT16: fprintf(o, "%u", v.u16); break;
	case GGUF_TYPE_INT16: fprintf(o, "%d", v.i16); break;
	case GGUF_TYPE_UINT32: fprintf(o, "%u", v.u32); break;
	case GGUF_TYPE_INT32: fprintf(o, "%d", v.i32); break;
	case GGUF_TYPE_UINT64: fprintf(o, "%llu", (unsigned long long)v.u64); break;
	case GGUF_TYPE_INT64: fprintf(o, "%lld", (long long)v.i64); break;
	case GGUF_TYPE_FLOAT32: fprintf(o, "%g", v.f32); break;
	case GGUF_TYPE_FLOAT64: fprintf(o, "%g", v.f64); break;
	case GGUF_TYPE_BOOL: fprintf(o, "%s", v.u8 ? "true" : "false"); break;
	default: fprintf(o, "?"); break;
	}
}


/* Print a store's summary; returns the exit status. */
static int info_store(FILE *o, const char *path, bool json)
{
	struct swap_store *st;
	const struct swap_store_desc *d;
	char err[512], name[SWAP_NAME_MAX], rerr[256] = "", arch[64];
	struct gguf_file *meta;
	uint64_t row_bytes = 0, hd;
	int rc_rows;
	bool kcols = false;
	int rc = swap_store_open(&st, path, err, sizeof(err));

	if (rc) {
		cli_err(SUB, "%s", err);
		return 1;
	}
	d = swap_store_desc(st);
	meta = store_meta(d, arch, sizeof(arch));
	hd = head_size(meta, arch, d->hp.dim, d->hp.n_heads);
	gguf_close(meta);
	if (json) {
		fprintf(o, "{\"format\": \"activeswap-store\", \"version\": %u, \"file\": ",
			swap_store_version(st));
		cli_json_str(o, path);
		fprintf(o, ", \"file_size\": %llu, \"group\": %u, \"hparams\": {\"dim\": %u, "
			"\"hidden\": %u, \"layers\": %u, \"heads\": %u, \"kv_heads\": %u, "
			"\"head_dim\": %llu, \"attn_width\": %llu, "
			"\"vocab\": %u, \"ctx\": %u, \"rope_freq_base\": %g, \"rms_eps\": %g}, "
			"\"bundles\": %llu, \"swappable_bytes\": %llu, \"experts\": %u, "
			"\"kinds\": [",
			(unsigned long long)swap_store_file_size(st), d->group, d->hp.dim,
			d->hp.hidden, d->n_layers, d->hp.n_heads, d->hp.n_kv_heads,
			(unsigned long long)hd, (unsigned long long)attn_width(d->hp.n_heads, hd),
			d->hp.vocab, d->hp.n_ctx, d->hp.rope_theta, d->hp.rms_eps,
			(unsigned long long)swap_store_n_bundles(st),
			(unsigned long long)swap_store_swappable_bytes(st), d->n_expert);
		for (int k = 0; k < (int)swap_store_n_kinds(st); k++) {
			const struct swap_kind_desc *kd = &d->kinds[k];

			fprintf(o, "%s{\"kind\": \"%s\", \"channels\": %u, \"bundle_bytes\": %llu, "
				"\"columns_per_bundle\": %u, \"mats\": [", k ? ", " : "",
				swap_kind_name(k), kd->in,
				(unsigned long long)swap_store_bundle_bytes(st, (enum swap_kind)k),
				kd->cols ? kd->cols : 1);
			for (uint32_t j = 0; j < kd->n_mats && j < SWAP_MAX_MATS; j++)
				fprintf(o, "%s{\"out\": %u, \"type\": \"%s\", \"col_bytes\": %u}",
					j ? ", " : "", kd->mats[j].out,
					as_type_name((enum ggml_type)kd->mats[j].type),
					kd->mats[j].col_bytes);
			fprintf(o, "]}");
		}
		rc_rows = as_swap_row_copy_bytes(st, &row_bytes, rerr, sizeof(rerr));
		fprintf(o, "], \"row_copy_bytes\": %llu, \"resident\": [",
			(unsigned long long)(rc_rows ? 0 : row_bytes));
	} else {
		fprintf(o, "activeswap store v%u: %s (%.1f MB)\n", swap_store_version(st), path,
			(double)swap_store_file_size(st) / 1e6);
		fprintf(o, "  layers %u, layer group %u, dim %u, hidden %u, heads %u/%u kv, "
			"head_dim %llu, attn_width %llu, vocab %u, ctx %u, rms_eps %g, "
			"rope_freq_base %g\n", d->n_layers, d->group, d->hp.dim, d->hp.hidden,
			d->hp.n_heads, d->hp.n_kv_heads, (unsigned long long)hd,
			(unsigned long long)attn_width(d->hp.n_heads, hd), d->hp.vocab,
			d->hp.n_ctx, d->hp.rms_eps, d->hp.rope_theta);
		fprintf(o, "  %llu bundles, %.1f MB swappable\n",
			(unsigned long long)swap_store_n_bundles(st),
			(double)swap_store_swappable_bytes(st) / 1e6);
		if (d->n_expert && d->kinds[SWAP_FFN_IN].cols)
			fprintf(o, "  experts: %u per layer, one bundle each in ffn_in (%u columns "
				"of gate, up) and ffn_out (%u columns of down)\n", d->n_expert,
				d->kinds[SWAP_FFN_IN].cols, d->kinds[SWAP_FFN_OUT].cols);
		else if (d->n_expert)
			fprintf(o, "  experts: %u per layer, one bundle each in ffn_in (gate, up "
				"rows) and ffn_out (down rows)%s\n", d->n_expert,
				swap_store_n_kinds(st) == SWAP_KIND_MAX ? "; again in a lower "
				"precision in ffn_in_low and ffn_out_low" : "");
		/* the kind column as wide as the names the store has (ffn_out_low: 11) */
		int kw = swap_store_n_kinds(st) == SWAP_KIND_MAX ? 11 : 9;

		fprintf(o, "  %-*s %8s %12s  columns (out x type)\n", kw, "kind", "channels",
			"bundle bytes");
		for (int k = 0; k < (int)swap_store_n_kinds(st); k++) {
			const struct swap_kind_desc *kd = &d->kinds[k];

			fprintf(o, "  %-*s %8u %12llu ", kw, swap_kind_name(k), kd->in,
				(unsigned long long)swap_store_bundle_bytes(st, (enum swap_kind)k));
			for (uint32_t j = 0; j < kd->n_mats && j < SWAP_MAX_MATS; j++) {
				kcols |= as_kq_type((enum ggml_type)kd->mats[j].type);
				fprintf(o, " %u x %s", kd->mats[j].out,
					as_type_name((enum ggml_type)kd->mats[j].type));
			}
			fputc('\n', o);
		}
		if (kcols)
			fprintf(o, "  K columns keep the GGUF's codes; scales in the blk.L.OP.kscale "
				   "tables, typed per layer\n  (a kind names the widest layer type)\n");
		rc_rows = as_swap_row_copy_bytes(st, &row_bytes, rerr, sizeof(rerr));
		if (!rc_rows)
			fprintf(o, "  row copy: %.1f MB (convert --rows; sparsity 0 computes from it)\n",
				(double)row_bytes / 1e6);
		else if (rc_rows != -ENOENT)
			fprintf(o, "  row copy: unusable: %s\n", rerr);
		fprintf(o, "  resident tensors:\n");
	}
	for (uint32_t i = 0; i < swap_store_n_resident(st); i++) {
		const struct swap_resident *r = swap_store_resident(st, i);

		/* the name is bounded by the format; print it as an untrusted string */
		snprintf(name, sizeof(name), "%.*s", (int)strnlen(r->d.name, SWAP_NAME_MAX - 1),
			 r->d.name);
		if (json) {
			fprintf(o, "%s{\"name\": ", i ? ", " : "");
			cli_json_str(o, name);
			fprintf(o, ", \"type\": \"%s\", \"bytes\": %llu}",
				as_type_name((enum ggml_type)r->d.type),
				(unsigned long long)r->d.size);
		} else {
			for (char *c = name; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
					*c = '?';
			fprintf(o, "    %-24s %-5s %12llu bytes\n", name,
				as_type_name((enum ggml_type)r->d.type),
				(unsigned long long)r->d.size);
		}
	}
	if (json)
		fprintf(o, "]}\n");
	swap_store_close(st);
	return 0;
}

/*
 * A mixture-of-experts model's line: experts, used per token and one expert's FFN width
 * (expert_feed_forward_length, else as llama.cpp: hidden for llama (Mixtral), hidden /
 * used otherwise). hp is info_gguf's table (hidden at 1, the experts' keys at 9..11).
 */
static void print_experts(FILE *o, const char *arch, const struct hp *hp)
{
	uint64_t ffn = hp[11].have ? hp[11].u : !strcmp(arch, "llama") ? hp[1].u :
		       hp[10].u ? hp[1].u / hp[10].u : 0;

	if (!hp[9].have || !hp[9].u)
		return;
	fprintf(o, "experts:       %llu, %llu used per token, expert FFN %llu wide%s\n",
		(unsigned long long)hp[9].u, (unsigned long long)hp[10].u,
		(unsigned long long)ffn, hp[11].have ? "" : " (from hidden)");
}

/* Print a GGUF file's summary; returns the exit status. */
static int info_gguf(FILE *o, const char *path, bool json, bool show_kv)
{
	struct hp hp[] = {
		{ "dim", "embedding_length", false, false, 0, 0 },
		{ "hidden", "feed_forward_length", false, false, 0, 0 },
		{ "layers", "block_count", false, false, 0, 0 },
		{ "heads", "attention.head_count", false, false, 0, 0 },
		{ "kv_heads", "attention.head_count_kv", false, false, 0, 0 },
		{ "ctx", "context_length", false, false, 0, 0 },
		{ "rope_dims", "rope.dimension_count", false, false, 0, 0 },
		{ "rope_freq_base", "rope.freq_base", true, false, 0, 0 },
		{ "rms_eps", "attention.layer_norm_rms_epsilon", true, false, 0, 0 },
		{ "experts", "expert_count", false, false, 0, 0 },
		{ "experts_used", "expert_used_count", false, false, 0, 0 },
		{ "expert_ffn", "expert_feed_forward_length", false, false, 0, 0 },
	};
	const size_t n_hp = sizeof(hp) / sizeof(hp[0]);
	struct type_total tot[GGML_TYPE_COUNT];
	struct tok_summary ts;
	struct gguf_file *f;
	struct gguf_str s;
	char err[512], arch[64] = "", name[256] = "", buf[1100], shape[96];
	uint64_t total_bytes = 0, hd = 0;
	uint32_t ftype = 0;
	bool have_ftype = false;
	int rc;

	rc = gguf_open(&f, path, err, sizeof(err));
	if (rc) {
		cli_model_err(SUB, path, err);
		return 1;
	}
	if (gguf_get_str(f, "general.architecture", &s) == 0)
		cstr(s, arch, sizeof(arch), true);
	if (gguf_get_str(f, "general.name", &s) == 0)
		cstr(s, name, sizeof(name), !json);
	if (arch[0])
		get_hparams(f, arch, hp, n_hp);
	if (hp[0].have && hp[3].have) /* dim, heads */
		hd = head_size(f, arch, hp[0].u, hp[3].u);
	if (gguf_get_u32(f, "general.file_type", &ftype) == 0)
		have_ftype = true;
	get_tokenizer(f, &ts);
	memset(tot, 0, sizeof(tot));
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		struct type_total *tt = &tot[(unsigned)t->type < GGML_TYPE_COUNT ? t->type : 0];

		tt->tensors++;
		tt->bytes += t->size;
		tt->elems += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
		total_bytes += t->size;
	}

	if (json) {
		fprintf(o, "{\"file\":");
		cli_json_str(o, path);
		fprintf(o, ",\"format\":\"gguf\",\"version\":%u,\"file_size\":%llu,"
			"\"alignment\":%llu,\"data_offset\":%llu,\"n_kv\":%llu,\"n_tensors\":%llu,"
			"\"architecture\":", f->version, (unsigned long long)f->size,
			(unsigned long long)f->alignment, (unsigned long long)f->data_offset,
			(unsigned long long)f->n_kv, (unsigned long long)f->n_tensors);
		cli_json_str(o, arch);
		fprintf(o, ",\"name\":");
		cli_json_str(o, name);
		if (have_ftype) {
			fprintf(o, ",\"file_type\":%u,\"file_type_name\":", ftype);
			cli_json_str(o, as_file_type_name(ftype) ? as_file_type_name(ftype) : "");
		}
		fprintf(o, ",\"hparams\":{");
		for (size_t i = 0, k = 0; i < n_hp; i++) {
			if (!hp[i].have)
				continue;
			if (hp[i].is_float)
				fprintf(o, "%s\"%s\":%.9g", k++ ? "," : "", hp[i].label, hp[i].f);
			else
				fprintf(o, "%s\"%s\":%llu", k++ ? "," : "", hp[i].label,
					(unsigned long long)hp[i].u);
		}
		if (hd)
			fprintf(o, ",\"head_dim\":%llu,\"attn_width\":%llu", (unsigned long long)hd,
				(unsigned long long)attn_width(hp[3].u, hd));
		fprintf(o, "},\"tokenizer\":");
		if (ts.have) {
			fprintf(o, "{\"model\":");
			cli_json_str(o, ts.model);
			fprintf(o, ",\"n_vocab\":%llu,\"normal\":%llu,\"unknown\":%llu,"
				"\"control\":%llu,\"user_defined\":%llu,\"unused\":%llu,\"byte\":%llu,"
				"\"bos\":%lld,\"eos\":%lld,\"unk\":%lld,\"add_bos\":%s}",
				(unsigned long long)ts.n, (unsigned long long)ts.by_type[1],
				(unsigned long long)ts.by_type[2], (unsigned long long)ts.by_type[3],
				(unsigned long long)ts.by_type[4], (unsigned long long)ts.by_type[5],
				(unsigned long long)ts.by_type[6], (long long)ts.bos,
				(long long)ts.eos, (long long)ts.unk,
				ts.add_bos < 0 ? "null" : ts.add_bos ? "true" : "false");
		} else {
			fprintf(o, "null");
		}
		fprintf(o, ",\"tensors\":[");
		for (uint64_t i = 0; i < f->n_tensors; i++) {
			const struct gguf_tensor *t = &f->tensors[i];

			fprintf(o, "%s{\"name\":", i ? "," : "");
			cli_json_str(o, cstr(t->name, buf, sizeof(buf), false));
			fprintf(o, ",\"shape\":[");
			for (uint32_t d = 0; d < t->n_dims; d++)
				fprintf(o, "%s%llu", d ? "," : "", (unsigned long long)t->ne[d]);
			fprintf(o, "],\"type\":\"%s\",\"offset\":%llu,\"size\":%llu}",
				as_type_name(t->type), (unsigned long long)t->offset,
				(unsigned long long)t->size);
		}
		fprintf(o, "],\"totals\":{");
		for (int ty = 0, k = 0; ty < GGML_TYPE_COUNT; ty++) {
			if (!tot[ty].tensors)
				continue;
			fprintf(o, "%s\"%s\":{\"tensors\":%llu,\"bytes\":%llu,\"elements\":%llu}",
				k++ ? "," : "", as_type_name((enum ggml_type)ty),
				(unsigned long long)tot[ty].tensors,
				(unsigned long long)tot[ty].bytes,
				(unsigned long long)tot[ty].elems);
		}
		fprintf(o, "},\"tensor_bytes\":%llu}\n", (unsigned long long)total_bytes);
		gguf_close(f);
		return 0;
	}

	fprintf(o, "file:          %s\n", path);
	fprintf(o, "format:        GGUF v%u, %llu keys, %llu tensors, alignment %llu, data at "
		"byte %llu\n", f->version, (unsigned long long)f->n_kv,
		(unsigned long long)f->n_tensors, (unsigned long long)f->alignment,
		(unsigned long long)f->data_offset);
	fprintf(o, "architecture:  %s%s%s%s\n", arch[0] ? arch : "(none)", name[0] ? " (" : "",
		name, name[0] ? ")" : "");
	if (have_ftype)
		fprintf(o, "file type:     %s (general.file_type %u)\n",
			as_file_type_name(ftype) ? as_file_type_name(ftype) : "unknown", ftype);
	fprintf(o, "hparams:      ");
	for (size_t i = 0; i < n_hp; i++) {
		if (!hp[i].have)
			continue;
		if (hp[i].is_float)
			fprintf(o, " %s %g", hp[i].label, hp[i].f);
		else
			fprintf(o, " %s %llu", hp[i].label, (unsigned long long)hp[i].u);
	}
	if (hd)
		fprintf(o, " head_dim %llu attn_width %llu", (unsigned long long)hd,
			(unsigned long long)attn_width(hp[3].u, hd));
	fprintf(o, "\n");
	print_experts(o, arch, hp);
	if (ts.have) {
		const char *ab = ts.add_bos > 0 ? "true" : "false";

		if (ts.add_bos < 0) {
			/* not in the file: what the runtime's tokenizer does by default */
			struct as_tokenizer *tok = NULL;
			char terr[256];

			ab = "unset";
			if (!as_tokenizer_load(&tok, f, terr, sizeof(terr)))
				ab = as_tokenizer_add_bos(tok) ? "true (default)" : "false (default)";
			as_tokenizer_free(tok);
		}
		fprintf(o, "tokenizer:     %s, %llu tokens (%llu normal, %llu byte, %llu control, "
			"%llu unknown, %llu other), bos %lld eos %lld unk %lld, add_bos %s\n",
			ts.model[0] ? ts.model : "?", (unsigned long long)ts.n,
			(unsigned long long)ts.by_type[1], (unsigned long long)ts.by_type[6],
			(unsigned long long)ts.by_type[3], (unsigned long long)ts.by_type[2],
			(unsigned long long)(ts.by_type[0] + ts.by_type[4] + ts.by_type[5]),
			(long long)ts.bos, (long long)ts.eos, (long long)ts.unk, ab);
	} else {
		fprintf(o, "tokenizer:     (none)\n");
	}
	if (show_kv) {
		fprintf(o, "\nmetadata:\n");
		for (uint64_t i = 0; i < f->n_kv; i++) {
			const struct gguf_kv *kv = &f->kv[i];

			fprintf(o, "  %-44s %-4s ", cstr(kv->key, buf, sizeof(buf), true),
				gguf_type_name(kv->type));
			print_value(o, kv);
			fprintf(o, "\n");
		}
	}
	fprintf(o, "\n  %-5s %-36s %-22s %-6s %14s\n", "#", "tensor", "shape", "type", "bytes");
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];

		shape_str(t, shape, sizeof(shape));
		fprintf(o, "  %-5llu %-36s %-22s %-6s %14llu\n", (unsigned long long)i,
			cstr(t->name, buf, sizeof(buf), true), shape, as_type_name(t->type),
			(unsigned long long)t->size);
	}
	fprintf(o, "\ntotals by type:\n");
	for (int ty = 0; ty < GGML_TYPE_COUNT; ty++) {
		if (!tot[ty].tensors)
			continue;
		fprintf(o, "  %-6s %6llu tensors %16llu bytes %16llu elements (%.1f%%)\n",
			as_type_name((enum ggml_type)ty), (unsigned long long)tot[ty].tensors,
			(unsigned long long)tot[ty].bytes, (unsigned long long)tot[ty].elems,
			total_bytes ? 100.0 * (double)tot[ty].bytes / (double)total_bytes : 0.0);
	}
	if (total_bytes >= (1ull << 30))
		fprintf(o, "tensor bytes:  %llu (%.2f GiB)\n", (unsigned long long)total_bytes,
			(double)total_bytes / (1024.0 * 1024 * 1024));
	else
		fprintf(o, "tensor bytes:  %llu (%.2f MiB)\n", (unsigned long long)total_bytes,
			(double)total_bytes / (1024.0 * 1024));
	fprintf(o, "file size:     %llu bytes\n", (unsigned long long)f->size);
	gguf_close(f);
	return 0;
}

/* the one MODEL argument */
static int opt_model(void *arg, const char *sub, const char *word)
{
	const char **path = arg;

	if (*path) {
		cli_err(sub, "more than one MODEL given ('%s', '%s')", *path, word);
		return -1;
	}
	*path = word;
	return 0;
}

int cmd_info(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false, show_kv = false;

	const struct arg_opt opts[] = {
		ARG_OPT_BOOL("--json", NULL, &json),
		ARG_OPT_BOOL("--kv", NULL, &show_kv),
		ARG_OPT_END,
	};
	const struct arg_spec spec = {
		.sub = SUB, .tables = { opts }, .usage_fn = usage,
		.positional = opt_model, .positional_arg = &path,
	};
	int rc = args_parse(&spec, argc, argv);

	if (rc >= 0)
		return rc;
	if (!path) {
		cli_err(SUB, "missing MODEL (see --help)");
		return 2;
	}
	if (as_swap_is_store(path))
		return info_store(stdout, path, json);
	return info_gguf(stdout, path, json, show_kv);
}

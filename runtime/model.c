// SPDX-License-Identifier: MIT
/*
 * The dense model (llama incl. Mixtral, qwen2, qwen3, qwen3moe): hyper-parameters and
 * tensors from a GGUF file, checked, and the optional repacking of its matrices. The
 * forward pass over them is forward.c's. Keys and tensor names are llama.cpp's
 * (src/llama-arch.cpp there).
 */
#include "activeswap/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "activeswap/gguf.h"
#include "activeswap/kernels.h"
#include "activeswap/threadpool.h"

#define AS_MAX_DIM (1u << 16)
#define AS_MAX_HIDDEN (1u << 20)
#define AS_MAX_LAYERS 1024u
#define AS_MAX_VOCAB (1u << 24)

static const char *const op_names[AS_OP_COUNT] = {
	[AS_OP_Q] = "attn_q",
	[AS_OP_K] = "attn_k",
	[AS_OP_V] = "attn_v",
	[AS_OP_O] = "attn_output",
	[AS_OP_GATE] = "ffn_gate",
	[AS_OP_UP] = "ffn_up",
	[AS_OP_DOWN] = "ffn_down",
};

const char *as_op_name(enum as_op op)
{
	return (unsigned)op < AS_OP_COUNT ? op_names[op] : "unknown";
}

static const char *const arch_names[AS_ARCH_COUNT] = {
	[AS_ARCH_LLAMA] = "llama",
	[AS_ARCH_QWEN2] = "qwen2",
	[AS_ARCH_QWEN3] = "qwen3",
	[AS_ARCH_QWEN3MOE] = "qwen3moe",
};

const char *as_arch_name(enum as_arch a)
{
	return (unsigned)a < AS_ARCH_COUNT ? arch_names[a] : "unknown";
}

/* ---- loading ---------------------------------------------------------------------- */

struct loader {
	const struct gguf_file *f;
	const struct as_hparams *hp;
	char arch[64];
	char *err;
	size_t errlen;
};

static int hp_u32(struct loader *ld, const char *suffix, bool required, uint32_t def,
		  uint32_t min, uint32_t max, uint32_t *out)
{
	char key[128];
	int rc;

	snprintf(key, sizeof(key), "%s.%s", ld->arch, suffix);
	rc = gguf_get_u32(ld->f, key, out);
	if (rc == -ENOENT && !required) {
		*out = def;
		return 0;
	}
	if (rc == -ENOENT) {
		snprintf(ld->err, ld->errlen, "model: missing metadata key %s", key);
		return -EINVAL;
	}
	if (rc || *out < min || *out > max) {
		snprintf(ld->err, ld->errlen, "model: metadata key %s is not an integer in "
			 "[%u, %u]", key, min, max);
		return -EINVAL;
	}
	return 0;
}

static int hp_f32(struct loader *ld, const char *suffix, float def, float min, float max,
		  float *out)
{
	char key[128];
	int rc;

	snprintf(key, sizeof(key), "%s.%s", ld->arch, suffix);
	rc = gguf_get_f32(ld->f, key, out);
	if (rc == -ENOENT) {
		*out = def;
		return 0;
	}
	if (rc || !(*out >= min && *out <= max)) {
		snprintf(ld->err, ld->errlen, "model: metadata key %s is not a number in "
			 "[%g, %g]", key, min, max);
		return -EINVAL;
	}
	return 0;
}

/*
 * RoPE scaling as llama.cpp reads it: rope.scaling.type (default "linear"), the factor
 * from rope.scaling.factor or the older rope.scale_linear (0 or absent: none); "none"
 * never scales. YaRN and LongRoPE are refused. (Llama 3.1's "llama3" scaling is not a
 * key but the rope_freqs.weight tensor, read with the tensors.)
 */
static int load_rope_scaling(struct loader *ld, struct as_hparams *hp)
{
	struct gguf_str type;
	char key[128];
	float factor;
	int rc;

	hp->rope_freq_scale = 1.0f;
	snprintf(key, sizeof(key), "%s.rope.scaling.type", ld->arch);
	rc = gguf_get_str(ld->f, key, &type);
	if (rc == -ENOENT)
		type = (struct gguf_str){ "linear", 6 };
	else if (rc) {
		snprintf(ld->err, ld->errlen, "model: metadata key %s is not a string", key);
		return -EINVAL;
	}
	rc = hp_f32(ld, "rope.scaling.factor", 0.0f, 0.0f, 1e6f, &factor);
	if (!rc && factor == 0.0f)
		rc = hp_f32(ld, "rope.scale_linear", 0.0f, 0.0f, 1e6f, &factor);
	if (rc)
		return rc;
	if (factor != 0.0f && factor < 1e-3f) {
		snprintf(ld->err, ld->errlen, "model: RoPE scaling factor %g is not 0 or in "
			 "[0.001, 1e6]", (double)factor);
		return -EINVAL;
	}
	if (gguf_str_eq(type, "none"))
		return 0;
	if (!gguf_str_eq(type, "linear")) {
		snprintf(ld->err, ld->errlen, "model: %s '%.*s' is not supported (only "
			 "'none' and 'linear')", key, (int)(type.len > 32 ? 32 : type.len),
			 type.s);
		return -EOPNOTSUPP;
	}
	if (factor != 0.0f)
		hp->rope_freq_scale = 1.0f / factor;
	return 0;
}

/* general.architecture, the RoPE mode it implies and the RoPE scaling keys. */
static int load_arch(struct loader *ld, struct as_hparams *hp)
{
	struct gguf_str arch;

	if (gguf_get_str(ld->f, "general.architecture", &arch)) {
		snprintf(ld->err, ld->errlen, "model: missing general.architecture");
		return -EINVAL;
	}
	hp->arch = AS_ARCH_COUNT;
	for (int a = 0; a < AS_ARCH_COUNT; a++)
		if (gguf_str_eq(arch, arch_names[a]))
			hp->arch = (enum as_arch)a;
	if (hp->arch == AS_ARCH_COUNT) {
		snprintf(ld->err, ld->errlen, "model: unsupported architecture '%.*s' "
			 "(supported: llama, qwen2, qwen3, qwen3moe)",
			 (int)(arch.len > 32 ? 32 : arch.len), arch.s);
		return -EOPNOTSUPP;
	}
	snprintf(ld->arch, sizeof(ld->arch), "%s", arch_names[hp->arch]);
	/* llama.cpp's llama_model_rope_type(): NORM for llama, NEOX for the Qwens */
	hp->rope_mode = hp->arch == AS_ARCH_LLAMA ? AS_ROPE_NORM : AS_ROPE_NEOX;
	/* build_moe_ffn's norm_w for Mixtral (llama) and qwen3moe: renormalised top-k */
	hp->expert_norm = hp->arch == AS_ARCH_LLAMA || hp->arch == AS_ARCH_QWEN3MOE;
	return load_rope_scaling(ld, hp);
}

int as_hparams_arch(const struct gguf_file *f, struct as_hparams *hp, char *err,
		    size_t errlen)
{
	struct loader ld = { .f = f, .hp = hp, .err = err, .errlen = errlen };

	return load_arch(&ld, hp);
}

/*
 * The mixture-of-experts keys: expert_count (0 or absent: dense; qwen3moe must have
 * experts), expert_used_count in [1, expert_count] when there are experts (absent or 0
 * otherwise), and the width of one expert (see struct as_hparams).
 */
static int load_experts(struct loader *ld, struct as_hparams *hp)
{
	bool moe_arch = hp->arch == AS_ARCH_QWEN3MOE;
	int rc;

	rc = hp_u32(ld, "expert_count", moe_arch, 0, moe_arch ? 1 : 0, AS_MAX_EXPERTS,
		    &hp->n_expert);
	if (rc)
		return rc;
	if (hp->n_expert && hp->arch != AS_ARCH_LLAMA && !moe_arch) {
		snprintf(ld->err, ld->errlen, "model: %s.expert_count %u: experts are "
			 "supported for llama and qwen3moe only", ld->arch, hp->n_expert);
		return -EOPNOTSUPP;
	}
	rc = hp_u32(ld, "expert_used_count", hp->n_expert > 0, 0, hp->n_expert ? 1 : 0,
		    hp->n_expert, &hp->n_expert_used);
	if (rc || !hp->n_expert)
		return rc;
	if (hp->arch == AS_ARCH_LLAMA) {
		hp->n_ff_exp = hp->hidden;
		return 0;
	}
	rc = hp_u32(ld, "expert_feed_forward_length", false, hp->hidden / hp->n_expert_used,
		    1, AS_MAX_HIDDEN, &hp->n_ff_exp);
	if (!rc && !hp->n_ff_exp) {
		snprintf(ld->err, ld->errlen, "model: no %s.expert_feed_forward_length and "
			 "feed_forward_length %u / expert_used_count %u is 0", ld->arch,
			 hp->hidden, hp->n_expert_used);
		rc = -EINVAL;
	}
	return rc;
}

int as_hparams_experts(const struct gguf_file *f, struct as_hparams *hp, char *err,
		       size_t errlen)
{
	struct loader ld = { .f = f, .hp = hp, .err = err, .errlen = errlen };

	snprintf(ld.arch, sizeof(ld.arch), "%s", as_arch_name(hp->arch));
	return load_experts(&ld, hp);
}

static int load_hparams(struct loader *ld, struct as_hparams *hp)
{
	const struct gguf_kv *kv;
	enum gguf_type ty;
	uint64_t n;
	uint32_t v;
	int rc;

	rc = load_arch(ld, hp);
	if (rc)
		return rc;
	rc = hp_u32(ld, "embedding_length", true, 0, 1, AS_MAX_DIM, &hp->dim);
	if (!rc)
		rc = hp_u32(ld, "feed_forward_length", true, 0, 1, AS_MAX_HIDDEN, &hp->hidden);
	if (!rc)
		rc = hp_u32(ld, "block_count", true, 0, 1, AS_MAX_LAYERS, &hp->n_layer);
	if (!rc)
		rc = hp_u32(ld, "attention.head_count", true, 0, 1, AS_MAX_DIM, &hp->n_head);
	if (rc)
		return rc;
	rc = hp_u32(ld, "attention.head_count_kv", false, hp->n_head, 1, hp->n_head,
		    &hp->n_head_kv);
	if (rc)
		return rc;
	if (hp->n_head % hp->n_head_kv) {
		snprintf(ld->err, ld->errlen, "model: head_count %u and head_count_kv %u "
			 "do not divide", hp->n_head, hp->n_head_kv);
		return -EINVAL;
	}
	/* The head size: key_length when given (it may differ from dim / n_head), else
	 * dim / n_head, which must then divide. value_length must equal it. */
	rc = hp_u32(ld, "attention.key_length", false, 0, 2, 4096, &hp->head_dim);
	if (rc)
		return rc;
	if (!hp->head_dim) {
		if (hp->dim % hp->n_head) {
			snprintf(ld->err, ld->errlen, "model: embedding_length %u and "
				 "head_count %u do not divide", hp->dim, hp->n_head);
			return -EINVAL;
		}
		hp->head_dim = hp->dim / hp->n_head;
	}
	if ((uint64_t)hp->n_head * hp->head_dim > AS_MAX_DIM) {
		snprintf(ld->err, ld->errlen, "model: head_count %u x key_length %u is over %u",
			 hp->n_head, hp->head_dim, AS_MAX_DIM);
		return -EINVAL;
	}
	rc = hp_u32(ld, "attention.value_length", false, hp->head_dim, hp->head_dim,
		    hp->head_dim, &v);
	if (!rc)
		rc = hp_u32(ld, "rope.dimension_count", false, hp->head_dim, 2, hp->head_dim,
			    &hp->n_rot);
	if (!rc)
		rc = hp_u32(ld, "context_length", false, 2048, 1, 1u << 24, &hp->n_ctx_train);
	if (!rc)
		rc = hp_f32(ld, "rope.freq_base", 10000.0f, 1.0f, 1e12f, &hp->rope_base);
	if (!rc)
		rc = hp_f32(ld, "attention.layer_norm_rms_epsilon", 1e-5f, 0.0f, 1.0f,
			    &hp->eps);
	if (rc)
		return rc;
	if (hp->n_rot % 2) {
		snprintf(ld->err, ld->errlen, "model: rope.dimension_count %u is odd",
			 hp->n_rot);
		return -EINVAL;
	}
	rc = load_experts(ld, hp);
	if (rc)
		return rc;
	/* Vocabulary size: the token list decides; token_embd must agree. */
	if (gguf_get_arr(ld->f, "tokenizer.ggml.tokens", &ty, &n, &kv) == 0) {
		if (!n || n > AS_MAX_VOCAB) {
			snprintf(ld->err, ld->errlen, "model: vocabulary size %llu out of range",
				 (unsigned long long)n);
			return -EINVAL;
		}
		hp->n_vocab = (uint32_t)n;
	} else {
		hp->n_vocab = 0; /* taken from token_embd */
	}
	return 0;
}

/* Find name, check type and shape {cols, rows} (rows == 0: 1-D of cols). */
static int get_tensor(struct loader *ld, const char *name, uint64_t cols, uint64_t rows,
		      bool f32_only, struct as_weight *w)
{
	const struct gguf_tensor *t = gguf_find_tensor(ld->f, name);
	uint32_t want_dims = rows ? 2 : 1;
	uint64_t rb, total;

	if (!t) {
		snprintf(ld->err, ld->errlen, "model: missing tensor %s", name);
		return -EINVAL;
	}
	if (!as_type_supported(t->type) || (f32_only && t->type != GGML_TYPE_F32)) {
		snprintf(ld->err, ld->errlen, "model: tensor %s has unsupported type %s%s",
			 name, as_type_name(t->type), f32_only ? " (must be f32)" : "");
		return -EINVAL;
	}
	for (uint32_t i = want_dims; i < GGUF_MAX_DIMS; i++) {
		if (i < t->n_dims && t->ne[i] != 1) {
			want_dims = 0;
			break;
		}
	}
	if (!want_dims || t->ne[0] != cols || (rows && t->ne[1] != rows) ||
	    (!rows && t->n_dims > 1 && t->ne[1] != 1)) {
		snprintf(ld->err, ld->errlen, "model: tensor %s has shape [%llu, %llu], "
			 "expected [%llu, %llu]", name, (unsigned long long)t->ne[0],
			 (unsigned long long)(t->n_dims > 1 ? t->ne[1] : 1),
			 (unsigned long long)cols, (unsigned long long)(rows ? rows : 1));
		return -EINVAL;
	}
	if (as_row_bytes(t->type, cols, &rb) ||
	    __builtin_mul_overflow(rb, rows ? rows : 1, &total) || total > t->size) {
		snprintf(ld->err, ld->errlen, "model: tensor %s: %llu columns do not fit type "
			 "%s or its data is short", name, (unsigned long long)cols,
			 as_type_name(t->type));
		return -EINVAL;
	}
	/* Row starts must suit the element type (a GGUF alignment key of 1 could break
	 * this for a hostile file). */
	if ((uintptr_t)t->data % (t->type == GGML_TYPE_F32 ? 4 : 2) ||
	    (rows > 1 && rb % (t->type == GGML_TYPE_F32 ? 4 : 2))) {
		snprintf(ld->err, ld->errlen, "model: tensor %s data is misaligned", name);
		return -EINVAL;
	}
	w->type = t->type;
	w->data = t->data;
	w->rows = rows ? rows : 1;
	w->cols = cols;
	w->row_bytes = rb;
	return 0;
}

/*
 * A 3-D tensor of n_mat matrices of rows x cols (GGUF ne = {cols, rows, n_mat}), as the
 * experts' ffn_*_exps; w gets the shape of one matrix and the data of the first.
 */
static int get_tensor3(struct loader *ld, const char *name, uint64_t cols, uint64_t rows,
		       uint64_t n_mat, struct as_weight *w)
{
	const struct gguf_tensor *t = gguf_find_tensor(ld->f, name);
	uint64_t rb, total;

	if (!t) {
		snprintf(ld->err, ld->errlen, "model: missing tensor %s", name);
		return -EINVAL;
	}
	if (!as_type_supported(t->type)) {
		snprintf(ld->err, ld->errlen, "model: tensor %s has unsupported type %s", name,
			 as_type_name(t->type));
		return -EINVAL;
	}
	if (t->n_dims > 4 || t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != n_mat ||
	    (t->n_dims == 4 && t->ne[3] != 1)) {
		snprintf(ld->err, ld->errlen, "model: tensor %s has shape [%llu, %llu, %llu], "
			 "expected [%llu, %llu, %llu]", name, (unsigned long long)t->ne[0],
			 (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
			 (unsigned long long)cols, (unsigned long long)rows,
			 (unsigned long long)n_mat);
		return -EINVAL;
	}
	if (as_row_bytes(t->type, cols, &rb) || __builtin_mul_overflow(rb, rows, &total) ||
	    __builtin_mul_overflow(total, n_mat, &total) || total > t->size) {
		snprintf(ld->err, ld->errlen, "model: tensor %s: %llu columns do not fit type "
			 "%s or its data is short", name, (unsigned long long)cols,
			 as_type_name(t->type));
		return -EINVAL;
	}
	if ((uintptr_t)t->data % (t->type == GGML_TYPE_F32 ? 4 : 2) ||
	    rb % (t->type == GGML_TYPE_F32 ? 4 : 2)) {
		snprintf(ld->err, ld->errlen, "model: tensor %s data is misaligned", name);
		return -EINVAL;
	}
	*w = (struct as_weight){ t->type, t->data, rows, cols, rb };
	return 0;
}

/* A mixture-of-experts layer's router and expert matrices (llama.cpp's shapes). */
static int load_experts_tensors(struct loader *ld, uint32_t l, struct as_layer *L,
				uint64_t *bytes)
{
	static const char *const names[AS_EXP_COUNT] = { "ffn_gate_exps", "ffn_up_exps",
							 "ffn_down_exps" };
	const struct as_hparams *hp = ld->hp;
	char name[96];
	int rc;

	snprintf(name, sizeof(name), "blk.%u.ffn_gate_inp.weight", l);
	rc = get_tensor(ld, name, hp->dim, hp->n_expert, false, &L->router);
	if (rc)
		return rc;
	*bytes += L->router.rows * L->router.row_bytes;
	for (int x = 0; x < AS_EXP_COUNT; x++) {
		bool down = x == AS_EXP_DOWN;

		snprintf(name, sizeof(name), "blk.%u.%s.weight", l, names[x]);
		rc = get_tensor3(ld, name, down ? hp->n_ff_exp : hp->dim,
				 down ? hp->dim : hp->n_ff_exp, hp->n_expert, &L->exps[x]);
		if (rc)
			return rc;
		*bytes += L->exps[x].rows * L->exps[x].row_bytes * hp->n_expert;
	}
	return 0;
}

bool as_rope_freqs_ok(const float *ff, uint32_t n)
{
	for (uint32_t i = 0; ff && i < n; i++)
		if (!(ff[i] > 0.0f && ff[i] < 1e30f))
			return false;
	return true;
}

/* An F32 vector tensor of n values: optional (absent: *out = NULL) or required. */
static int opt_vector(struct loader *ld, const char *name, uint64_t n, bool required,
		      const float **out, uint64_t *bytes)
{
	struct as_weight w;
	int rc;

	*out = NULL;
	if (!required && !gguf_find_tensor(ld->f, name))
		return 0;
	rc = get_tensor(ld, name, n, 0, true, &w);
	if (rc)
		return rc;
	*out = w.data;
	*bytes += 4 * n;
	return 0;
}

/*
 * A layer's architecture-specific tensors, as llama.cpp's loader takes them: llama may
 * have a bias on any op (all optional), qwen2 must have the Q, K and V biases, qwen3 the
 * per-head Q and K norms [head_dim].
 */
static int load_layer_extras(struct loader *ld, uint32_t l, struct as_layer *L,
			     uint64_t *bytes)
{
	const struct as_hparams *hp = ld->hp;
	char name[96];
	int rc;

	for (int op = 0; op < AS_OP_COUNT; op++) {
		bool qkv = op == AS_OP_Q || op == AS_OP_K || op == AS_OP_V;
		uint64_t rows = op == AS_OP_Q ? as_q_dim(hp) :
				op == AS_OP_K || op == AS_OP_V ?
				(uint64_t)hp->n_head_kv * hp->head_dim :
				op == AS_OP_GATE || op == AS_OP_UP ? hp->hidden : hp->dim;

		if (hp->arch == AS_ARCH_QWEN3 || hp->arch == AS_ARCH_QWEN3MOE ||
		    (hp->arch == AS_ARCH_QWEN2 && !qkv) || (hp->n_expert && op >= AS_OP_GATE))
			continue;
		snprintf(name, sizeof(name), "blk.%u.%s.bias", l, op_names[op]);
		rc = opt_vector(ld, name, rows, hp->arch == AS_ARCH_QWEN2, &L->bias[op], bytes);
		if (rc)
			return rc;
	}
	if (hp->arch != AS_ARCH_QWEN3 && hp->arch != AS_ARCH_QWEN3MOE)
		return 0;
	snprintf(name, sizeof(name), "blk.%u.attn_q_norm.weight", l);
	rc = opt_vector(ld, name, hp->head_dim, true, &L->q_norm, bytes);
	if (rc)
		return rc;
	snprintf(name, sizeof(name), "blk.%u.attn_k_norm.weight", l);
	return opt_vector(ld, name, hp->head_dim, true, &L->k_norm, bytes);
}

void as_model_free(struct as_model *m)
{
	if (!m)
		return;
	if (m->repacked)
		munmap(m->repacked, m->repacked_bytes);
	if (m->owns_gguf)
		gguf_close(m->gguf);
	free(m->layers);
	free(m);
}

int as_model_from_gguf(struct as_model **out, struct gguf_file *f, char *err,
		       size_t errlen)
{
	struct loader ld = { .f = f, .err = err, .errlen = errlen };
	struct as_model *m;
	struct as_hparams *hp;
	struct as_weight norm;
	uint64_t q_dim, kv_dim;
	char name[96];
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "model: out of memory");
		return -ENOMEM;
	}
	m->gguf = f;
	hp = &m->hp;
	ld.hp = hp;
	rc = load_hparams(&ld, hp);
	if (rc)
		goto fail;
	if (!hp->n_vocab) {
		const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");

		if (!t || t->n_dims != 2 || !t->ne[1] || t->ne[1] > AS_MAX_VOCAB) {
			snprintf(err, errlen, "model: no tokenizer.ggml.tokens and no usable "
				 "token_embd.weight");
			rc = -EINVAL;
			goto fail;
		}
		hp->n_vocab = (uint32_t)t->ne[1];
	}
	q_dim = as_q_dim(hp);
	kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;

	rc = get_tensor(&ld, "token_embd.weight", hp->dim, hp->n_vocab, false, &m->tok_embd);
	if (rc)
		goto fail;
	rc = get_tensor(&ld, "output_norm.weight", hp->dim, 0, true, &norm);
	if (rc)
		goto fail;
	m->output_norm = norm.data;
	if (gguf_find_tensor(f, "output.weight")) {
		rc = get_tensor(&ld, "output.weight", hp->dim, hp->n_vocab, false, &m->output);
		if (rc)
			goto fail;
	} else {
		m->output = m->tok_embd;
		m->tied_output = true;
	}
	m->weight_bytes = m->tok_embd.rows * m->tok_embd.row_bytes + 4ull * hp->dim;
	if (!m->tied_output)
		m->weight_bytes += m->output.rows * m->output.row_bytes;
	rc = opt_vector(&ld, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs,
			&m->weight_bytes);
	if (!rc && !as_rope_freqs_ok(m->rope_freqs, hp->n_rot / 2)) {
		snprintf(err, errlen, "model: rope_freqs.weight holds a value that is not a "
			 "positive finite number");
		rc = -EINVAL;
	}
	if (rc)
		goto fail;

	m->layers = calloc(hp->n_layer, sizeof(*m->layers));
	if (!m->layers) {
		snprintf(err, errlen, "model: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		struct as_layer *L = &m->layers[l];
		static const struct {
			enum as_op op;
			int cols, rows; /* 0 dim, 1 q_dim, 2 kv_dim, 3 hidden */
		} shapes[AS_OP_COUNT] = {
			{ AS_OP_Q, 0, 1 }, { AS_OP_K, 0, 2 }, { AS_OP_V, 0, 2 },
			{ AS_OP_O, 1, 0 }, { AS_OP_GATE, 0, 3 }, { AS_OP_UP, 0, 3 },
			{ AS_OP_DOWN, 3, 0 },
		};
		const uint64_t sz[4] = { hp->dim, q_dim, kv_dim, hp->hidden };

		snprintf(name, sizeof(name), "blk.%u.attn_norm.weight", l);
		rc = get_tensor(&ld, name, hp->dim, 0, true, &norm);
		if (rc)
			goto fail;
		L->attn_norm = norm.data;
		snprintf(name, sizeof(name), "blk.%u.ffn_norm.weight", l);
		rc = get_tensor(&ld, name, hp->dim, 0, true, &norm);
		if (rc)
			goto fail;
		L->ffn_norm = norm.data;
		m->weight_bytes += 8ull * hp->dim;
		for (int i = 0; i < AS_OP_COUNT; i++) {
			enum as_op op = shapes[i].op;
			struct as_weight *w = &L->w[op];

			if (hp->n_expert && op >= AS_OP_GATE)
				continue; /* the experts' instead */
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, op_names[op]);
			rc = get_tensor(&ld, name, sz[shapes[i].cols], sz[shapes[i].rows], false,
					w);
			if (rc)
				goto fail;
			m->weight_bytes += w->rows * w->row_bytes;
		}
		rc = load_layer_extras(&ld, l, L, &m->weight_bytes);
		if (!rc && hp->n_expert)
			rc = load_experts_tensors(&ld, l, L, &m->weight_bytes);
		if (rc)
			goto fail;
	}
	*out = m;
	return 0;
fail:
	as_model_free(m);
	return rc;
}

/* ---- repacking ------------------------------------------------------------------- */

struct repack_job {
	struct as_weight *w;
	struct as_weight orig;
	uint8_t *dst;
};

struct repack_ctx {
	struct repack_job *jobs;
	uint32_t n;
	int rc;
};

/* Drop the file pages fully inside [p, p + len) from this process's mapping. */
static void drop_pages(const void *p, size_t len)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t b = ((uintptr_t)p + len) & ~(pg - 1);

	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

static void repack_task(void *arg, int ith, int nth)
{
	struct repack_ctx *c = arg;

	for (uint32_t i = (uint32_t)ith; i < c->n; i += (uint32_t)nth) {
		struct repack_job *j = &c->jobs[i];
		int t = as_repack(j->orig.type, j->orig.data, j->orig.rows, j->orig.cols, j->dst);

		if (t < 0) {
			__atomic_store_n(&c->rc, t, __ATOMIC_RELAXED);
			continue;
		}
		j->w->type = (enum ggml_type)t;
		j->w->data = j->dst;
		drop_pages(j->orig.data, j->orig.rows * j->orig.row_bytes);
	}
}

static int model_repack(struct as_model *m, struct as_threadpool *tp, char *err,
			size_t errlen)
{
	struct repack_ctx c = { 0 };
	uint64_t total = 0;
	uint8_t *base;

	c.jobs = calloc((size_t)m->hp.n_layer * AS_OP_COUNT, sizeof(*c.jobs));
	if (!c.jobs)
		goto nomem;
	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		for (int op = 0; op < AS_OP_COUNT; op++) {
			struct as_weight *w = &m->layers[l].w[op];
			uint64_t bytes;

			if (!as_repack_useful(w->type) ||
			    as_repack_size(w->type, w->rows, w->cols, &bytes))
				continue;
			/* keep every matrix 64-byte aligned */
			c.jobs[c.n].w = w;
			c.jobs[c.n].orig = *w;
			c.jobs[c.n].dst = (uint8_t *)(uintptr_t)total;
			c.n++;
			total += (bytes + 63) & ~63ull;
		}
	}
	if (!c.n) {
		free(c.jobs);
		return 0;
	}
	base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		free(c.jobs);
		goto nomem;
	}
	madvise(base, total, MADV_HUGEPAGE);
	for (uint32_t i = 0; i < c.n; i++)
		c.jobs[i].dst = base + (uintptr_t)c.jobs[i].dst;
	as_tp_run(tp, repack_task, &c);
	m->repacked = base;
	m->repacked_bytes = total;
	m->n_repacked = c.n;
	if (c.rc) {
		snprintf(err, errlen, "model: repacking failed: %s", strerror(-c.rc));
		free(c.jobs);
		return c.rc;
	}
	free(c.jobs);
	return 0;
nomem:
	snprintf(err, errlen, "model: out of memory for the repacked weights");
	return -ENOMEM;
}

int as_model_load(struct as_model **out, const char *path, char *err, size_t errlen)
{
	return as_model_load_opts(out, path, NULL, err, errlen);
}

int as_model_load_opts(struct as_model **out, const char *path,
		       const struct as_model_opts *opts, char *err, size_t errlen)
{
	struct gguf_file *f;
	int rc;

	*out = NULL;
	rc = gguf_open(&f, path, err, errlen);
	if (rc)
		return rc;
	rc = as_model_from_gguf(out, f, err, errlen);
	if (rc) {
		if (err && errlen) {
			char *msg = strdup(err);

			if (msg)
				snprintf(err, errlen, "%s: %s", path, msg);
			free(msg);
		}
		gguf_close(f);
		return rc;
	}
	(*out)->owns_gguf = true;
	if (opts && opts->repack) {
		rc = model_repack(*out, opts->tp, err, errlen);
		if (rc) {
			as_model_free(*out);
			*out = NULL;
			return rc;
		}
	}
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * A llama, qwen2, qwen3 or qwen3moe GGUF (llama with experts: Mixtral) with seeded
 * random weights and a working byte-level SentencePiece vocabulary
 * (activeswap/mkmodel.h, Documentation/gguf.md): the presets, the checks of the
 * parameters, the hyperparameters' metadata and the writing. The vocabulary is
 * mkmodel_vocab.c's, the tensors' layout and seeded values mkmodel_tensors.c's.
 *
 * Data is produced in chunks of rows by worker threads and streamed to OUT.tmp.PID (a
 * new file: O_EXCL | O_NOFOLLOW) through the GGUF writer (never more than a few chunks
 * in memory), fsync'ed and renamed to OUT at the end, then the directory fsync'ed; on
 * failure the temporary file is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activeswap/gguf.h"
#include "activeswap/hfvocab.h"
#include "activeswap/mkmodel.h"
#include "activeswap/quant.h"
#include "errmsg.h"
#include "mkmodel_impl.h"

#define CHUNK_BYTES (4u << 20)
#define MAX_THREADS AS_MKMODEL_MAX_THREADS
#define PATH_MAX_LEN 4200 /* OUT.tmp.PID, NUL included */

static const struct as_mkmodel_shape shapes[] = {
	{ "tiny", 256, 768, 4, 8, 4, 512, 512, 0 },
	{ "1b", 2048, 8192, 16, 32, 8, 512, 2048, 0 },   /* Llama-3.2-1B */
	{ "7b", 4096, 11008, 32, 32, 32, 512, 2048, 0 }, /* Llama-2-7B */
	{ "8b", 4096, 14336, 32, 32, 8, 512, 2048, 0 },  /* Llama-3-8B */
	{ "70b", 8192, 28672, 80, 64, 8, 32000, 4096, 0 }, /* Llama-2-70B (issue 22) */
	/* Mixtral-8x7B and Qwen3-30B-A3B (config.json), their vocabulary sizes */
	{ "mixtral-8x7b", 4096, 14336, 32, 32, 8, 32000, 4096, 0 },
	{ "qwen3-30b-a3b", 2048, 6144, 48, 32, 4, 151936, 4096, 128 },
	{ "mixtral-tiny", 256, 512, 2, 8, 4, 512, 512, 0 },
	{ "qwen3moe-tiny", 256, 768, 2, 8, 4, 512, 512, 64 },
};

/* The MoE presets' architecture and experts (experts, used, one expert's width) */
static const struct {
	const char *name;
	enum as_arch arch;
	uint64_t experts, used, width;
} moe_shapes[] = {
	{ "mixtral-8x7b", AS_ARCH_LLAMA, 8, 2, 14336 },
	{ "qwen3-30b-a3b", AS_ARCH_QWEN3MOE, 128, 8, 768 },
	{ "mixtral-tiny", AS_ARCH_LLAMA, 8, 2, 512 },
	{ "qwen3moe-tiny", AS_ARCH_QWEN3MOE, 16, 4, 128 },
};

int as_mkmodel_preset(const char *name, struct as_mkmodel_shape *s)
{
	for (size_t k = 0; name && k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		if (!strcmp(name, shapes[k].name)) {
			*s = shapes[k];
			return 0;
		}
	}
	return -ENOENT;
}

int as_mkmodel_preset_params(const char *name, struct as_mkmodel_params *p)
{
	int rc = as_mkmodel_preset(name, &p->shape);

	p->arch = AS_ARCH_LLAMA;
	p->experts = p->experts_used = p->expert_hidden = 0;
	for (size_t k = 0; !rc && k < sizeof(moe_shapes) / sizeof(moe_shapes[0]); k++) {
		if (!strcmp(name, moe_shapes[k].name)) {
			p->arch = moe_shapes[k].arch;
			p->experts = moe_shapes[k].experts;
			p->experts_used = moe_shapes[k].used;
			p->expert_hidden = moe_shapes[k].width;
		}
	}
	return rc;
}

void as_mkmodel_params_init(struct as_mkmodel_params *p)
{
	memset(p, 0, sizeof(*p));
	p->shape = shapes[0];
	p->type = GGML_TYPE_Q4_0;
	p->seed = 1;
}

static int add_meta(struct gguf_writer *w, const struct as_mkmodel_params *o,
		    const struct mk_vocab *v)
{
	const struct as_mkmodel_shape *s = &o->shape;
	uint32_t head_dim = (uint32_t)(s->head_dim ? s->head_dim : s->dim / s->heads);
	const char *arch = as_arch_name(o->arch);
	char name[96], key[96];
	int rc = 0;

	snprintf(name, sizeof(name), "activeswap-random-%s%s%s-%s",
		 o->arch == AS_ARCH_LLAMA ? "" : arch, o->arch == AS_ARCH_LLAMA ? "" : "-",
		 s->name ? s->name : "custom",
		 o->mix ? as_quant_mix_name(o->mix) : as_type_name(o->type));
#define K(suffix) (snprintf(key, sizeof(key), "%s." suffix, arch), key)
	rc |= gguf_w_str(w, "general.architecture", arch);
	rc |= gguf_w_str(w, "general.name", name);
	rc |= gguf_w_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
	rc |= gguf_w_u32(w, "general.file_type", as_file_type(o->type, o->mix));
	rc |= gguf_w_u32(w, "general.quantization_version", 2);
	rc |= gguf_w_u32(w, K("context_length"), (uint32_t)s->ctx);
	rc |= gguf_w_u32(w, K("embedding_length"), (uint32_t)s->dim);
	rc |= gguf_w_u32(w, K("feed_forward_length"), (uint32_t)s->hidden);
	rc |= gguf_w_u32(w, K("block_count"), (uint32_t)s->layers);
	rc |= gguf_w_u32(w, K("attention.head_count"), (uint32_t)s->heads);
	rc |= gguf_w_u32(w, K("attention.head_count_kv"), (uint32_t)s->kv_heads);
	rc |= gguf_w_u32(w, K("rope.dimension_count"), head_dim);
	rc |= gguf_w_f32(w, K("rope.freq_base"), 10000.0f);
	rc |= gguf_w_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
	rc |= gguf_w_u32(w, K("vocab_size"), (uint32_t)s->vocab);
	if (s->head_dim) {
		rc |= gguf_w_u32(w, K("attention.key_length"), head_dim);
		rc |= gguf_w_u32(w, K("attention.value_length"), head_dim);
	}
	if (o->experts) {
		rc |= gguf_w_u32(w, K("expert_count"), (uint32_t)o->experts);
		rc |= gguf_w_u32(w, K("expert_used_count"), (uint32_t)o->experts_used);
		if (o->arch == AS_ARCH_QWEN3MOE)
			rc |= gguf_w_u32(w, K("expert_feed_forward_length"),
					 (uint32_t)o->expert_hidden);
	}
#undef K
	return rc ? -EINVAL : mk_vocab_write(w, o, v);
}

static bool cancelled(const struct as_mkmodel_params *p)
{
	return p->cancel && *p->cancel;
}

int mk_describe(const struct as_mkmodel_params *o, struct gguf_writer **w, struct mk_vocab *v,
		struct mk_tdesc **t, size_t *n_t, uint64_t *total, char *err, size_t errlen)
{
	int rc;

	*w = gguf_writer_new();
	memset(v, 0, sizeof(*v));
	*t = NULL;
	*n_t = 0;
	*total = 0;
	if (!*w) {
		as_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = o->hf_vocab ? 0 : mk_vocab_build(v, (uint32_t)o->shape.vocab);
	if (!rc)
		rc = mk_build_tensors(o, t, n_t);
	if (!rc)
		rc = add_meta(*w, o, v);
	for (size_t i = 0; !rc && i < *n_t; i++) {
		int idx = gguf_w_tensor(*w, (*t)[i].name, (*t)[i].type, (*t)[i].n_dims,
					(*t)[i].ne);

		if (idx < 0)
			rc = idx;
		*total += (*t)[i].row_bytes * (*t)[i].rows;
	}
	if (rc)
		as_seterr(err, errlen, "cannot describe the model: %s", strerror(-rc));
	return rc;
}

int mk_jobs_alloc(const struct as_mkmodel_params *o, struct mk_job *jobs, int nth,
		  size_t out_bytes)
{
	memset(jobs, 0, sizeof(*jobs) * (size_t)nth);
	for (int i = 0; i < nth; i++) {
		jobs[i].out = out_bytes ? malloc(out_bytes) : NULL;
		jobs[i].tmp = malloc(sizeof(float) * mk_widest_row(o));
		if ((out_bytes && !jobs[i].out) || !jobs[i].tmp)
			return -ENOMEM;
	}
	return 0;
}

void mk_jobs_free(struct mk_job *jobs, int nth, bool own_out)
{
	for (int i = 0; i < nth; i++) {
		if (own_out)
			free(jobs[i].out);
		free(jobs[i].tmp);
	}
}

void mk_run_jobs(struct mk_job *jobs, int used)
{
	pthread_t th[MAX_THREADS];
	bool started[MAX_THREADS] = { false };

	for (int k = 1; k < used; k++)
		started[k] = !pthread_create(&th[k], NULL, mk_gen_rows, &jobs[k]);
	mk_gen_rows(&jobs[0]);
	for (int k = 1; k < used; k++) {
		if (started[k])
			pthread_join(th[k], NULL);
		else
			mk_gen_rows(&jobs[k]);
	}
}

int mk_threads(const struct as_mkmodel_params *p)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	return p->threads ? p->threads : (ncpu >= 2 ? 2 : 1);
}

static int write_model(const struct as_mkmodel_params *o, const char *out, int nth, int fd,
		       uint64_t *bytes_out, char *err, size_t errlen)
{
	struct gguf_writer *w;
	struct mk_vocab v;
	struct mk_tdesc *t;
	struct mk_job jobs[MAX_THREADS];
	uint64_t total, done = 0;
	size_t n_t;
	int rc;

	rc = mk_describe(o, &w, &v, &t, &n_t, &total, err, errlen);
	if (rc) {
		memset(jobs, 0, sizeof(jobs));
		goto out;
	}
	rc = mk_jobs_alloc(o, jobs, nth, CHUNK_BYTES);
	if (rc) {
		as_seterr(err, errlen, "out of memory");
		goto out;
	}
	rc = gguf_w_begin(w, fd);
	if (rc) {
		as_seterr(err, errlen, "%s: write: %s", out, strerror(-rc));
		goto out;
	}
	if (o->progress)
		o->progress(o->arg, 0, total);
	for (size_t i = 0; !rc && i < n_t; i++) {
		uint64_t rows_per = CHUNK_BYTES / t[i].row_bytes, row = 0;

		if (rows_per == 0)
			rows_per = 1; /* a row larger than a chunk cannot happen below 1M cols */
		while (!rc && row < t[i].rows) {
			int used = 0;

			for (; used < nth && row < t[i].rows; used++) {
				struct mk_job *j = &jobs[used];

				j->t = &t[i];
				j->tensor_idx = i;
				j->seed = o->seed;
				j->draw_blocks = o->draw_blocks;
				j->row0 = row;
				j->nrows = t[i].rows - row < rows_per ? t[i].rows - row : rows_per;
				row += j->nrows;
			}
			mk_run_jobs(jobs, used);
			for (int k = 0; !rc && k < used; k++) {
				uint64_t len = jobs[k].nrows * t[i].row_bytes;

				rc = jobs[k].rc;
				if (rc) {
					as_seterr(err, errlen, "quantizing %s: %s", t[i].name,
						  strerror(-rc));
					break;
				}
				rc = gguf_w_data(w, jobs[k].out, (size_t)len);
				if (rc) {
					as_seterr(err, errlen, "%s: write: %s", out,
						  strerror(-rc));
					break;
				}
				done += len;
				if (o->progress)
					o->progress(o->arg, done, total);
			}
			if (!rc && cancelled(o)) {
				rc = -ECANCELED;
				as_seterr(err, errlen, "cancelled");
			}
		}
	}
	if (!rc) {
		rc = gguf_w_end(w);
		if (rc)
			as_seterr(err, errlen, "%s: write: %s", out, strerror(-rc));
	}
	*bytes_out = total;
out:
	mk_jobs_free(jobs, nth, true);
	free(t);
	mk_vocab_free(&v);
	gguf_writer_free(w);
	return rc;
}

/* An explicit head size: even (RoPE), at most 4096, and heads * head_dim within dim's
 * limit. */
static int check_head_dim(const struct as_mkmodel_shape *s, char *err, size_t errlen)
{
	if (s->head_dim % 2 || s->head_dim > 4096 ||
	    s->head_dim * s->heads > AS_MKMODEL_MAX_DIM) {
		as_seterr(err, errlen, "--head-dim (%llu) must be even, at most 4096 and at most "
			  "%u / --heads (%llu)", (unsigned long long)s->head_dim,
			  AS_MKMODEL_MAX_DIM, (unsigned long long)s->heads);
		return -EINVAL;
	}
	return 0;
}

/* The experts: llama (Mixtral, experts as wide as hidden) or qwen3moe (which needs
 * them), 1 <= used <= experts <= AS_MAX_EXPERTS, a width a multiple of 32. */
static int check_experts(const struct as_mkmodel_params *p, char *err, size_t errlen)
{
	const struct as_mkmodel_shape *s = &p->shape;

	if (p->expert_topics && (p->expert_topics > p->experts || p->expert_topics > s->dim)) {
		as_seterr(err, errlen, "--expert-topics (%llu) must be in [1, --experts] and at "
			  "most --dim", (unsigned long long)p->expert_topics);
		return -EINVAL;
	}
	if (!p->experts && p->arch != AS_ARCH_QWEN3MOE)
		return 0;
	if (p->arch != AS_ARCH_LLAMA && p->arch != AS_ARCH_QWEN3MOE) {
		as_seterr(err, errlen, "--experts is for --arch mixtral or qwen3moe only");
		return -EINVAL;
	}
	if (p->experts < 1 || p->experts > AS_MAX_EXPERTS || p->experts_used < 1 ||
	    p->experts_used > p->experts) {
		as_seterr(err, errlen, "--experts (%llu) must be in [1, %u] and --experts-used "
			  "(%llu) in [1, --experts]", (unsigned long long)p->experts,
			  AS_MAX_EXPERTS, (unsigned long long)p->experts_used);
		return -EINVAL;
	}
	if (p->expert_hidden < 32 || p->expert_hidden % 32 ||
	    p->expert_hidden > AS_MKMODEL_MAX_HIDDEN ||
	    (p->arch == AS_ARCH_LLAMA && p->expert_hidden != s->hidden)) {
		as_seterr(err, errlen, "--expert-hidden (%llu) must be a multiple of 32 in "
			  "[32, %u]%s", (unsigned long long)p->expert_hidden,
			  AS_MKMODEL_MAX_HIDDEN, p->arch == AS_ARCH_LLAMA ?
			  " and equal --hidden for mixtral" : "");
		return -EINVAL;
	}
	return 0;
}

int as_mkmodel_check(const struct as_mkmodel_params *p, const char *out, char *err,
		     size_t errlen)
{
	static const char *const names[7] = { "--dim", "--hidden", "--layers", "--heads",
					      "--kv-heads", "--vocab", "--ctx" };
	static const uint64_t maxv[7] = {
		AS_MKMODEL_MAX_DIM, AS_MKMODEL_MAX_HIDDEN, AS_MKMODEL_MAX_LAYERS,
		AS_MKMODEL_MAX_LAYERS, AS_MKMODEL_MAX_LAYERS, AS_MKMODEL_MAX_VOCAB,
		AS_MKMODEL_MAX_CTX
	};
	const struct as_mkmodel_shape *s;
	uint64_t v[7];
	int rc;

	if (!p) {
		as_seterr(err, errlen, "no parameters");
		return -EINVAL;
	}
	if (!out || !*out) {
		as_seterr(err, errlen, "missing output path");
		return -EINVAL;
	}
	s = &p->shape;
	v[0] = s->dim;
	v[1] = s->hidden;
	v[2] = s->layers;
	v[3] = s->heads;
	v[4] = s->kv_heads;
	v[5] = s->vocab;
	v[6] = s->ctx;
	for (int k = 0; k < 7; k++) {
		if (v[k] < 1 || v[k] > maxv[k]) {
			as_seterr(err, errlen, "%s (%llu) must be in [1, %llu]", names[k],
				  (unsigned long long)v[k], (unsigned long long)maxv[k]);
			return -EINVAL;
		}
	}
	if (!as_type_supported(p->type) || (p->mix && !as_quant_mix_name(p->mix))) {
		as_seterr(err, errlen, "type %d is not a supported type", (int)p->type);
		return -EINVAL;
	}
	if (p->draw_blocks && (p->mix || (p->type != GGML_TYPE_Q4_0 &&
					   p->type != GGML_TYPE_Q8_0))) {
		as_seterr(err, errlen, "--draw-blocks is for --type q4_0 or q8_0");
		return -EINVAL;
	}
	if (p->threads < 0 || p->threads > MAX_THREADS) {
		as_seterr(err, errlen, "%d threads: not in [0, %d]", p->threads, MAX_THREADS);
		return -EINVAL;
	}
	if (s->dim % 32 || s->hidden % 32) {
		as_seterr(err, errlen, "--dim (%llu) and --hidden (%llu) must be multiples of 32",
			  (unsigned long long)s->dim, (unsigned long long)s->hidden);
		return -EINVAL;
	}
	if ((unsigned)p->arch >= AS_ARCH_COUNT) {
		as_seterr(err, errlen, "architecture %d is not llama, qwen2, qwen3 or qwen3moe",
			  (int)p->arch);
		return -EINVAL;
	}
	rc = check_experts(p, err, errlen);
	if (rc)
		return rc;
	if (p->rope_freqs && p->arch != AS_ARCH_LLAMA) {
		as_seterr(err, errlen, "--rope-freqs is for --arch llama only");
		return -EINVAL;
	}
	if (s->head_dim) {
		rc = check_head_dim(s, err, errlen);
		if (rc)
			return rc;
	} else if (s->dim % s->heads) {
		as_seterr(err, errlen, "--dim (%llu) must be a multiple of --heads (%llu)",
			  (unsigned long long)s->dim, (unsigned long long)s->heads);
		return -EINVAL;
	} else if ((s->dim / s->heads) % 2) {
		as_seterr(err, errlen, "head dimension %llu (dim/heads) must be even for RoPE",
			  (unsigned long long)(s->dim / s->heads));
		return -EINVAL;
	}
	if (!p->mix && as_type_block_elems(p->type) > 32) {
		uint64_t be = as_type_block_elems(p->type);
		uint64_t q = (s->head_dim ? s->head_dim : s->dim / s->heads) * s->heads;

		if (s->dim % be || s->hidden % be || q % be) {
			as_seterr(err, errlen, "--type %s needs --dim (%llu), --hidden (%llu) and "
				  "the attention width (%llu) to be multiples of %llu",
				  as_type_name(p->type), (unsigned long long)s->dim,
				  (unsigned long long)s->hidden, (unsigned long long)q,
				  (unsigned long long)be);
			return -EINVAL;
		}
	}
	if (s->kv_heads > s->heads || s->heads % s->kv_heads) {
		as_seterr(err, errlen, "--heads (%llu) must be a multiple of --kv-heads (%llu)",
			  (unsigned long long)s->heads, (unsigned long long)s->kv_heads);
		return -EINVAL;
	}
	if (p->hf_vocab && p->hf_vocab->n != s->vocab) {
		as_seterr(err, errlen, "--vocab (%llu) differs from the size of the --vocab-from "
			  "vocabulary (%u)", (unsigned long long)s->vocab, p->hf_vocab->n);
		return -EINVAL;
	}
	if (!p->hf_vocab && s->vocab < 259) {
		as_seterr(err, errlen, "--vocab (%llu) must be at least 259 (3 specials + 256 bytes)",
			  (unsigned long long)s->vocab);
		return -EINVAL;
	}
	if (strlen(out) + sizeof(".tmp.") + 12 > PATH_MAX_LEN) {
		as_seterr(err, errlen, "output path too long");
		return -EINVAL;
	}
	return 0;
}

/* fsync the directory holding path, so the rename survives a crash; best effort (some
 * filesystems refuse it) */
static void sync_parent_dir(const char *path)
{
	char dir[PATH_MAX_LEN];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int as_mkmodel(const struct as_mkmodel_params *p, const char *out, uint64_t *tensor_bytes,
	       char *err, size_t errlen)
{
	char tmp[PATH_MAX_LEN];
	uint64_t bytes = 0;
	int fd, rc, nth;

	rc = as_mkmodel_check(p, out, err, errlen);
	if (rc)
		return rc;
	nth = mk_threads(p);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", out, (int)getpid());
	/* a new file: never truncate or follow what another user placed under this name */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		as_seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		return rc;
	}
	rc = write_model(p, out, nth, fd, &bytes, err, errlen);
	if (!rc && fsync(fd) < 0) {
		rc = -errno;
		as_seterr(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
	}
	if (close(fd) < 0 && !rc) {
		rc = -errno;
		as_seterr(err, errlen, "%s: close: %s", tmp, strerror(errno));
	}
	if (!rc && rename(tmp, out) < 0) {
		rc = -errno;
		as_seterr(err, errlen, "rename %s -> %s: %s", tmp, out, strerror(errno));
	}
	if (rc) {
		unlink(tmp);
		return rc;
	}
	sync_parent_dir(out);
	if (tensor_bytes)
		*tensor_bytes = bytes;
	return 0;
}

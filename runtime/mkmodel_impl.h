/* SPDX-License-Identifier: MIT */
/*
 * The generator's parts (internal to runtime/mkmodel*.c): the generated SentencePiece
 * vocabulary (mkmodel_vocab.c) and the tensors' layout and seeded values
 * (mkmodel_tensors.c); runtime/mkmodel.c checks the parameters and streams the file.
 */
#ifndef ACTIVESWAP_MKMODEL_IMPL_H
#define ACTIVESWAP_MKMODEL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/gguf.h"
#include "activeswap/mkmodel.h"

/* ---- vocabulary (mkmodel_vocab.c) ---- */

struct mk_vocab {
	char **text;
	float *scores;
	int32_t *types;
	uint32_t n, cap;
};

/* n tokens: <unk> <s> </s>, the 256 byte tokens, then pieces reachable by pairwise
 * merges, padded with unused placeholders. 0 or -ENOMEM (free it either way). */
int mk_vocab_build(struct mk_vocab *v, uint32_t n);
void mk_vocab_free(struct mk_vocab *v);
/* The tokenizer.* keys: of o->hf_vocab when set, else of v. 0 or -EINVAL. */
int mk_vocab_write(struct gguf_writer *w, const struct as_mkmodel_params *o,
		   const struct mk_vocab *v);

/* ---- tensors (mkmodel_tensors.c) ---- */

/* What a tensor's values are: weights (uniform, std 1/sqrt(fan_in)), norms (1.0), or
 * the F32 vectors of qwen2/qwen3: biases (uniform in [-0.5, 0.5)) and the Q/K norms
 * (uniform in [0.75, 1.25), so that a wrong head's weight shows). */
enum mk_gen_kind { GEN_WEIGHT, GEN_ONES, GEN_BIAS, GEN_NEAR_ONE, GEN_ROPE_FREQS };

struct mk_tdesc {
	char name[64];
	enum ggml_type type;
	uint32_t n_dims;
	uint64_t ne[3];   /* ne[2] = 1 unless 3-D (the experts') */
	uint64_t rows;    /* ne[1] * ne[2] */
	uint64_t row_bytes;
	bool norm;
	enum mk_gen_kind gen;
	float rope_base; /* GEN_ROPE_FREQS: rope.freq_base; ne[0] = n_rot / 2 */
	/* expert topics (as_mkmodel_params.expert_topics): row r gets topic_amp added at
	 * coordinate r % topics (0: none) */
	uint32_t topics;
	float topic_amp;
};

/* Rows [row0, row0 + nrows) of tensor number tensor_idx, quantized into out; tmp holds
 * mk_widest_row() floats. */
struct mk_job {
	const struct mk_tdesc *t;
	uint64_t tensor_idx;
	uint64_t seed;
	bool draw_blocks; /* as_mkmodel_params.draw_blocks */
	uint64_t row0, nrows;
	uint8_t *out;
	float *tmp;
	int rc;
};

/* The model's tensors in file order (calloc'ed into *out). 0, -ENOMEM or -EINVAL. */
int mk_build_tensors(const struct as_mkmodel_params *o, struct mk_tdesc **out,
		     size_t *n_out);
/* The longest row of any tensor. */
uint64_t mk_widest_row(const struct as_mkmodel_params *o);
/* A pthread start routine: fills one job (j->rc says how it went). */
void *mk_gen_rows(void *arg);

/* ---- the model (mkmodel.c), shared by the GGUF and the direct store (mkstore.c) ---- */

/* A new writer *w with the metadata and the tensor directory of o, the vocabulary v, the
 * tensors *t (n_t) and their data bytes *total. 0 or a negative errno with one line;
 * the caller frees w, v and t either way. */
int mk_describe(const struct as_mkmodel_params *o, struct gguf_writer **w, struct mk_vocab *v,
		struct mk_tdesc **t, size_t *n_t, uint64_t *total, char *err, size_t errlen);
/* nth jobs with their tmp rows and, when out_bytes, an output buffer each: 0 or -ENOMEM
 * (mk_jobs_free them either way; own_out: free the output buffers too). */
int mk_jobs_alloc(const struct as_mkmodel_params *o, struct mk_job *jobs, int nth,
		  size_t out_bytes);
void mk_jobs_free(struct mk_job *jobs, int nth, bool own_out);
/* Fill jobs[0 .. used) on as many threads (the caller's for the first). */
void mk_run_jobs(struct mk_job *jobs, int used);
/* The generating threads of p (its threads, or 2 with 2 CPUs online, else 1). */
int mk_threads(const struct as_mkmodel_params *p);

#endif

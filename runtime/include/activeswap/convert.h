/* SPDX-License-Identifier: MIT */
/*
 * GGUF -> activeswap store conversion as a library call (`activeswap convert` is a thin
 * command line around it, as llama.cpp's quantize tool is around llama_model_quantize()).
 *
 * The input is a Llama GGUF (read through gguf.h and model.h); the output a store
 * (Documentation/store-format.md) written through libswap's writer: every swappable layer
 * matrix cut into columns, one per input channel, each quantized along the output
 * dimension and grouped with the columns sharing its input into bundles; every other tensor
 * copied verbatim as a resident tensor; the GGUF metadata embedded as a tensor-less GGUF.
 * The store is written as OUT.tmp.PID and renamed to OUT when complete: a failed or
 * cancelled conversion leaves neither.
 */
#ifndef ACTIVESWAP_CONVERT_H
#define ACTIVESWAP_CONVERT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activeswap/gguf.h"
#include "activeswap/model.h"
#include "activeswap/quant.h"

#define AS_CONVERT_KEEP (-1)       /* params.type: each matrix's own type when encodable */
#define AS_CONVERT_GROUP_MAX 4096u /* largest params.group */
#define AS_CONVERT_MAX_THREADS 16  /* largest params.threads */

enum as_convert_stage {
	AS_CONVERT_WRITE,  /* bytes of bundles and resident tensors written */
	AS_CONVERT_VERIFY, /* bytes of bundles checked */
};

struct as_convert_params {
	/* AS_CONVERT_KEEP, or a column type for every matrix (as_convert_type_ok()) */
	int type;
	/* layer-group size, 1 .. AS_CONVERT_GROUP_MAX (a larger group than the model has
	 * layers is the layer count) */
	uint32_t group;
	/* also keep every layer matrix in its GGUF row encoding (the row copy) */
	bool rows;
	/* after writing, check every crc32c of the store (as_convert_verify()) */
	bool verify;
	/* 0 or 1: one thread; up to AS_CONVERT_MAX_THREADS encode a matrix's columns in
	 * parallel (the same bytes) */
	int threads;
	/* Called with done = 0 when a stage starts, then as bytes are done (never more than
	 * total); may be NULL. */
	void (*progress)(void *arg, enum as_convert_stage stage, uint64_t done, uint64_t total);
	/* Notes that do not stop the conversion (a type that cannot be re-encoded, layers of
	 * different types), one line without a newline each; may be NULL. */
	void (*warn)(void *arg, const char *msg);
	void *arg; /* for progress and warn */
	/* When not NULL and *cancel becomes non-zero (e.g. from a signal handler), the
	 * conversion stops within one block of 16 columns, removes its partial output and
	 * returns -ECANCELED. The verification is not interrupted. */
	const volatile sig_atomic_t *cancel;
	/* A mixture-of-experts model only: false (the default) = one copy of every expert,
	 * in the GGUF's types; true = every expert written twice (store version 4,
	 * store-format.md "Low-precision experts"), in expert_types[0] = HIGH (the GGUF's
	 * bytes when a matrix already is HIGH, else requantized from its dequantized values)
	 * and in expert_types[1] = LOW (always requantized from the dequantized GGUF expert),
	 * ggml type numbers; as_convert_expert_types_ok() says which pairs. */
	bool expert_pair;
	int expert_types[2];
	/* A mixture-of-experts model only: false (the default) = every expert in its row
	 * encoding; true = in the column layout (store version 5, store-format.md "Expert
	 * columns": a miss under Top-K inside experts reads only the selected columns), in
	 * the GGUF's type, which must be one the columns take (as_convert_type_ok; K-quant
	 * experts are refused with one line); not with expert_pair. */
	bool expert_columns;
};

/* What was written (or verified). */
struct as_convert_result {
	uint32_t n_layers;
	uint32_t group;
	uint32_t n_resident;
	uint64_t n_bundles;
	uint64_t file_size;
	enum ggml_type type[AS_OP_COUNT]; /* column type of each layer matrix */
};

/* type keep, group 1, no row copy, no verification, no callbacks. */
void as_convert_params_init(struct as_convert_params *p);

/* A type the columns can be encoded in: f32, f16, bf16, q8_0 or q4_0. */
bool as_convert_type_ok(int type);

/* 0 when every expert can be kept in high and low (both types the kernels compute, a
 * row of low smaller than one of high, and the block sizes dividing dim and
 * expert_feed_forward_length); else -EINVAL with one line in err. */
int as_convert_expert_types_ok(int high, int low, uint32_t dim, uint32_t n_ff_exp,
			       char *err, size_t errlen);

/*
 * Convert the GGUF at in to a store at out. p NULL means as_convert_params_init's
 * defaults; res (may be NULL) is filled on success. Returns 0, -EINVAL for bad params,
 * -ECANCELED, or the negative errno of the first failure, with one line in err (the
 * same text `activeswap convert` prints after "activeswap convert: ").
 */
int as_convert(const char *in, const char *out, const struct as_convert_params *p,
	       struct as_convert_result *res, char *err, size_t errlen);

/* A tensor the store cuts into bundles (one of a layer's 7 matrices or its experts);
 * every other tensor is a resident one. */
bool as_convert_swapped_name(const char *name);

/*
 * Where a model's swapped tensors come from when they are not all in memory at once
 * (as_mkmodel's direct store): before layer l is converted, layer(arg, l) makes the
 * data of its layer matrices (or experts) readable at the addresses the model holds
 * (0, or a negative errno that ends the conversion); after it, done(arg, l) may drop
 * them. Every other tensor (the residents) must be readable from the start.
 */
struct as_convert_source {
	int (*layer)(void *arg, uint32_t l);
	void (*done)(void *arg, uint32_t l);
	void *arg;
};

/*
 * as_convert of a model already parsed: f (a GGUF parsed from memory or a file) and m
 * (as_model_from_gguf of f); name stands for the input in messages; src NULL when every
 * tensor is readable. With src, p->rows is refused (-EOPNOTSUPP): the row copy is
 * written before the layers. The store is byte for byte the one as_convert writes of a
 * file holding f's bytes.
 */
int as_convert_model(struct gguf_file *f, const struct as_model *m, const char *name,
		     const char *out, const struct as_convert_params *p,
		     const struct as_convert_source *src, struct as_convert_result *res,
		     char *err, size_t errlen);

/* Check every crc32c of the store at path, reporting AS_CONVERT_VERIFY progress through
 * p (may be NULL); res gets the store's counts (type[] is left alone). 0, or a negative
 * errno with "PATH: verify failed: ..." (or the open error) in err. */
int as_convert_verify(const char *path, const struct as_convert_params *p,
		      struct as_convert_result *res, char *err, size_t errlen);

#endif

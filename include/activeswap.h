/* SPDX-License-Identifier: MIT */
/*
 * activeswap: the C library for inference apps (libactiveswap, pkg-config activeswap).
 * Documentation/api.md and activeswap(3) describe it with an example.
 *
 * Every public name starts with asw_ / ASW_ ("activeswap"): the runtime's own as_*
 * names are internal and stay out of the shared library, and activeswap_* is the kernel
 * module's ABI (<linux/activeswap.h>).
 *
 * Model: asw_open() opens a GGUF (dense, all in DRAM) or a store written by
 * `activeswap convert` (.asw, recognised by its magic: run under a DRAM budget with
 * active-weight swapping), together with one decoding state (the KV cache of n_ctx
 * positions). Tokens are appended with asw_decode(); the next-token logits of the last
 * one are read with asw_logits() and sampled with an asw_sampler (the project's chain:
 * repeat penalty, top-k, top-p, min-p, temperature; greedy at temperature 0).
 *
 * Errors: functions return 0 (or a count) on success and a negative errno on failure;
 * the handle then keeps one line saying what failed, read with asw_errmsg(). A call
 * given a NULL handle returns -EINVAL (or NULL / 0 where the result is a pointer or a
 * count, as stated).
 *
 * No global state: handles are independent. Thread safety: a handle (asw_model or
 * asw_sampler) must not be used by two threads at the same time; different handles can
 * be used from different threads concurrently. asw_open() may start compute threads
 * (params.threads) that belong to the handle. While a GGUF is loaded, a SIGBUS
 * handler guards the read of the file's mapping (a file truncated under the process),
 * then the previous handler is put back.
 *
 * Stability: the structs with a `size` member grow only at their end. Set size to
 * sizeof() the struct as your header declares it (asw_params_init and friends do); the
 * library reads only that many bytes, takes defaults for members it has and you do not,
 * and refuses (-E2BIG) a larger struct whose unknown tail is not all zero.
 */
#ifndef ACTIVESWAP_API_H
#define ACTIVESWAP_API_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(ASW_BUILD)
#define ASW_API __attribute__((visibility("default")))
#else
#define ASW_API
#endif

#define ASW_VERSION_MAJOR 0
#define ASW_VERSION_MINOR 3
#define ASW_VERSION_PATCH 0

typedef struct asw_model asw_model;
typedef struct asw_sampler asw_sampler;

/* Flash read backends of a store (ignored for a GGUF). */
enum asw_backend {
	ASW_BACKEND_AUTO = 0, /* the kernel module when /dev/activeswap is usable, else io_uring */
	ASW_BACKEND_URING = 1,
	ASW_BACKEND_PREAD = 2,
	ASW_BACKEND_KMOD = 3,
};

/* The KV cache's element type (asw_params.kv_type). */
enum asw_kv_type {
	ASW_KV_F16 = 0, /* half the memory, llama.cpp's default (default) */
	ASW_KV_F32 = 1,
};

/* asw_params.flags */
#define ASW_F_NO_REPACK  (1u << 0) /* GGUF: use the weights in place (no X16 repacking) */
#define ASW_F_NO_PRELOAD (1u << 1) /* store: on-demand fetches only */
#define ASW_F_VERIFY     (1u << 2) /* store: check the crc32c of every bundle read */
/* Added in 0.3: with latency_target_ms, keep the open's choice of sparsity for the whole
 * run (reproducible output) instead of moving it after each generated token */
#define ASW_F_LATENCY_FIXED (1u << 3)

struct asw_params {
	uint32_t size;          /* sizeof(struct asw_params) */
	uint32_t flags;         /* ASW_F_* */
	/* Store: the whole process's DRAM for the model (resident tensors, KV cache, the
	 * weight cache). 0 and budget_fraction 0: enough for everything. */
	uint64_t budget_bytes;
	float budget_fraction;  /* store: (0, 1] of what holding everything takes, when
	                         * budget_bytes is 0 */
	float sparsity;         /* store: Top-K sparsity in [0, 0.99]; < 0: chosen from the
	                         * budget by the cost model (default) */
	float max_sparsity;     /* store: upper bound of a chosen sparsity (default 0.5) */
	uint32_t group;         /* store: layers preloaded ahead; 0: chosen (default) */
	uint32_t threads;       /* compute threads; 0: online CPUs, at most 8 (GGUF),
	                         * 2 (store) */
	int32_t backend;        /* enum asw_backend */
	uint32_t n_ctx;         /* KV positions; 0: the model's training context, at most
	                         * 2048 (default); ASW_CTX_TRAIN: the training context */
	uint32_t n_batch;       /* prompt tokens per batch in asw_decode; 0: 512 (a store
	                         * reserves the batch's scratch inside the budget and
	                         * halves the batch while it does not fit) */
	/* Added in 0.2: a store's latency target (ELMS) in ms per generated token, 0: none.
	 * The cost model picks the lowest sparsity (and group) it predicts meets it under
	 * the budget, at most max_sparsity; the fastest allowed when none does
	 * (asw_stats.latency_met). Not with sparsity >= 0. From 0.3, after each generated
	 * token (a one-token asw_decode) the sparsity moves between 0 and max_sparsity to
	 * keep the measured time at the target (asw_stats.sparsity is the one in effect):
	 * the output then depends on timing, unless ASW_F_LATENCY_FIXED. */
	float latency_target_ms;
	/* Added in 0.3: the KV cache's element type (enum asw_kv_type, default F16: K and V
	 * rounded to half precision as they are stored). A store counts the cache in the
	 * budget: 2 * n_layers * n_ctx * kv_dim * 2 bytes in F16, twice that in F32. */
	int32_t kv_type;
};

#define ASW_CTX_TRAIN UINT32_MAX /* asw_params.n_ctx (2048 when the model does not say) */

/* Defaults, size set. */
ASW_API void asw_params_init(struct asw_params *p);

/*
 * Open path (a GGUF or a store) with p (NULL: the defaults). 0 and *out, or a negative
 * errno with one line in err (when errlen > 0): -EINVAL (bad parameters), -E2BIG (a
 * params struct from a newer header with options this library lacks), -ENOENT and
 * other open errors naming the file, -ENOSPC (budget below the store's minimum, stated),
 * -ENOMEM. Close with asw_close().
 */
ASW_API int asw_open(asw_model **out, const char *path, const struct asw_params *p,
		     char *err, size_t errlen);
ASW_API void asw_close(asw_model *m); /* NULL: nothing */

/* The last failure on m as one line; "" when none. Never NULL (also for m NULL). */
ASW_API const char *asw_errmsg(const asw_model *m);

/* Shape (0 for NULL). */
ASW_API uint32_t asw_n_vocab(const asw_model *m);
ASW_API uint32_t asw_n_ctx(const asw_model *m);
ASW_API uint32_t asw_n_past(const asw_model *m); /* positions in the KV cache */

/* ---- tokens ---------------------------------------------------------------------- */

/* asw_tokenize flags */
#define ASW_TOK_BOS     (1u << 0) /* prepend BOS when the vocabulary asks for it
                                   * (tokenizer.ggml.add_bos_token) */
#define ASW_TOK_SPECIAL (1u << 1) /* control tokens written in the text ("<|im_start|>")
                                   * are tokens, not text */

/*
 * The tokens of text[0..len): how many there are (written to out[0..min(n, cap)); call
 * again with a larger buffer when n > cap), or a negative errno.
 */
ASW_API int64_t asw_tokenize(asw_model *m, const char *text, size_t len, uint32_t flags,
			     int32_t *out, size_t cap);
/* The bytes token id prints as (not NUL-terminated, *len of them; empty for control
 * tokens), valid while m is open; NULL for an id out of range. */
ASW_API const char *asw_token_piece(const asw_model *m, int32_t id, size_t *len);
/*
 * The text of ids[0..n) (the pieces concatenated): its length in bytes, with
 * min(len, cap - 1) bytes and a NUL written to buf when cap > 0 (as snprintf), or a
 * negative errno (-EINVAL: an id out of range).
 */
ASW_API int64_t asw_detokenize(asw_model *m, const int32_t *ids, size_t n, char *buf,
			       size_t cap);
ASW_API int32_t asw_token_bos(const asw_model *m); /* -1: none */
ASW_API int32_t asw_token_eos(const asw_model *m); /* -1: none */
/* End of generation: EOS, EOT and the like (1), or not (0). */
ASW_API int asw_token_is_eog(const asw_model *m, int32_t id);

/* ---- decoding -------------------------------------------------------------------- */

/*
 * Append tokens[0..n) (n >= 1) to the sequence: run at positions n_past .. n_past + n - 1
 * in batches of n_batch, then n_past += n and the logits of the last token are current.
 * 0, or -EINVAL (n 0, a token out of range), -ERANGE (past n_ctx: nothing run) or the
 * forward pass's error (a flash read: n_past then counts the positions run before it,
 * and no logits are current).
 */
ASW_API int asw_decode(asw_model *m, const int32_t *tokens, size_t n);
/* The n_vocab next-token logits after the last asw_decode; NULL when none are current
 * (before the first decode, after a failed one or a KV trim). Valid until the next call
 * on m that changes the state. */
ASW_API const float *asw_logits(const asw_model *m);
/* Keep the first n_keep positions of the KV cache (n_keep <= n_past, else -ERANGE);
 * decoding continues at n_keep. Logits are no longer current. */
ASW_API int asw_kv_trim(asw_model *m, uint32_t n_keep);
ASW_API int asw_kv_clear(asw_model *m); /* asw_kv_trim(m, 0) */

/* ---- sampling -------------------------------------------------------------------- */

struct asw_sampler_params {
	uint32_t size;          /* sizeof(struct asw_sampler_params) */
	float temp;             /* <= 0: greedy (argmax, lowest id on ties); default 0.8 */
	int32_t top_k;          /* <= 0: off; default 40 */
	float top_p;            /* >= 1: off; default 0.95 */
	float min_p;            /* <= 0: off (default) */
	float repeat_penalty;   /* 1: off (default) */
	int32_t repeat_last_n;  /* tokens the penalty looks back at; default 64 */
	uint64_t seed;          /* the PRNG's seed: equal seeds give equal draws */
};

/* llama.cpp's defaults (temp 0.8, top-k 40, top-p 0.95), seed 0, size set. */
ASW_API void asw_sampler_params_init(struct asw_sampler_params *p);
/* A sampler for m's vocabulary (m only gives its size; errors go to m's message).
 * 0 and *out, or -EINVAL / -E2BIG / -ENOMEM. */
ASW_API int asw_sampler_new(asw_sampler **out, asw_model *m,
			    const struct asw_sampler_params *p);
ASW_API void asw_sampler_free(asw_sampler *s);
/* A token drawn from m's current logits (not accepted: see below), or a negative errno
 * (-EINVAL: no current logits, NULL handles, another vocabulary size). */
ASW_API int32_t asw_sample(asw_sampler *s, const asw_model *m);
/* A token of the context (prompt or generated), for the repeat penalty's window. */
ASW_API void asw_sampler_accept(asw_sampler *s, int32_t id);

/* ---- statistics ------------------------------------------------------------------ */

struct asw_stats {
	uint32_t size;             /* sizeof(struct asw_stats), set by the caller */
	uint32_t is_store;         /* 1: a store run under a budget */
	uint32_t n_ctx, n_past, n_vocab, n_layers, threads;
	uint32_t n_ctx_train;      /* the model's training context (0: unknown) */
	uint64_t tokens;           /* positions run by asw_decode since the open */
	double decode_s;           /* seconds inside asw_decode */
	/* store only (0 for a GGUF) */
	uint64_t budget_bytes;     /* the budget in effect */
	uint64_t full_bytes;       /* what holding everything takes */
	float sparsity;            /* mean Top-K sparsity over all ops */
	uint32_t group;            /* preload depth */
	uint64_t flash_bytes;      /* bytes read from flash */
	uint64_t lookups, hits;    /* weight bundles needed, and found in DRAM */
	uint64_t stall_ns;         /* time spent waiting for reads */
	const char *backend;       /* "uring", "pread", "kmod", "rows-..."; "" for a GGUF */
	/* Added in 0.2, with asw_params.latency_target_ms (else 0): the cost model's
	 * predicted seconds per generated token at the chosen setting, and whether it
	 * predicted the target met (1) or ran the fastest allowed setting (0). */
	double predicted_s_per_token;
	uint32_t latency_met;
	/* Added in 0.3: the KV cache's type ("f16", "f32") and bytes (K and V for n_ctx
	 * positions; a GGUF's is allocated as it fills) */
	const char *kv_type;
	uint64_t kv_bytes;
	/* Added in 0.3, while the latency target's feedback runs (else 0): the sparsity
	 * the open picked and the mean over the generated tokens (asw_stats.sparsity is
	 * the one now), the ratio measured / predicted time the feedback scales its model
	 * by, and how often it moved the sparsity */
	float latency_sparsity_start;
	float latency_sparsity_mean;
	double latency_ratio;
	uint64_t latency_changes;
};
/* Fill the first out->size bytes of *out. 0, or -EINVAL (NULL, size too small). */
ASW_API int asw_get_stats(asw_model *m, struct asw_stats *out);

/* "0.3.0" */
ASW_API const char *asw_version(void);

#endif

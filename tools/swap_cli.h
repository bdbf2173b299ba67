/* SPDX-License-Identifier: MIT */
/*
 * Shared command-line handling of the swapping runtime for run, eval and bench decode:
 * --dram-budget, --sparsity, --max-sparsity, --group, --policy, --expert-policy,
 * --expert-predict, --expert-sparsity, --backend, --no-preload,
 * --queue-depth, --stats, --verify, --no-verify, --mlock, --numa-node; opening a store with
 * the auto cost model; printing statistics.
 */
#ifndef ACTIVESWAP_SWAP_CLI_H
#define ACTIVESWAP_SWAP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "activeswap/swap.h"
#include "activeswap/latency.h"
#include "activeswap/swap_auto.h"
#include "args.h"

struct swap_cli {
	const char *budget;   /* SIZE or N% of the full footprint; NULL = 100% */
	float sparsity;       /* < 0: auto */
	double max_sparsity;  /* 0.5 */
	long group;           /* 0: auto */
	const char *levels;   /* --sparsity-file (activeswap calibrate) */
	bool threshold;       /* --sparsity-mode threshold: the file's thresholds */
	double head_sparsity; /* --head-sparsity F: share of the heads skipped (0: none) */
	int policy, backend;  /* policy -1: auto */
	int expert_policy;    /* --expert-policy (a store with experts; default contextual) */
	long expert_predict;  /* --expert-predict N: layers ahead, 0 off; -1: default */
	double expert_sparsity; /* --expert-sparsity S: Top-K inside experts (0: off) */
	int expert_precision; /* --expert-precision (enum as_expert_precision; 0: off) */
	bool expert_precision_auto; /* --expert-precision auto: chosen (as_swap_auto) */
	long expert_high;     /* --expert-high N: low-weight's experts kept high (0: k/2) */
	bool stats, no_preload, no_rows;
	bool verify;          /* --verify: crc32c of every bundle read too */
	bool no_verify;       /* --no-verify: not even the resident tensors' at open */
	bool mlock;           /* --mlock: fail when the pool cannot be locked */
	long numa_node;       /* --numa-node N; -1: no binding */
	long queue_depth;
	bool gap_auto;        /* --gap auto (the default), else gap_bytes */
	uint64_t gap_bytes;
	uint32_t ctx_default; /* positions when swap_cli_open gets n_ctx 0 (0: 2048) */
	double latency_ms;    /* --latency-target MS per generated token; 0: none */
	bool latency_fixed;   /* --latency-fixed: the open's choice for the whole run */
	struct as_latency lat; /* the feedback, when attached (lat.steps: tokens seen) */
	uint32_t batch;       /* -b: prompt tokens per batch (as_swap_params.batch) */
	int kv_type;          /* --kv-type (the caller's table): enum as_kv_type, F16 */
	/* what swap_cli_open (the runtime's as_swap_auto) chose: the context used, the
	 * model's (n_ctx_train, 0: unknown), the budget, the cost model's choice, ... */
	struct as_swap_auto aut;
};

#define SWAP_CLI_USAGE                                                                   \
	"  --dram-budget SIZE|N%    DRAM for the whole process: resident tensors, KV cache,\n" \
	"                           activations and the weight cache (default 100%: all);\n" \
	"                           N% is of what holding everything takes\n"              \
	"  --sparsity S|auto        Top-K sparsity of every linear op's input (default auto:\n" \
	"                           from the budget, flash and compute speed)\n"          \
	"  --max-sparsity S         upper bound for auto (default 0.5)\n"                  \
	"  --latency-target MS      time per generated token to meet: the lowest sparsity\n" \
	"                           (up to --max-sparsity) the cost model predicts meets\n" \
	"                           it, else the fastest allowed; printed on stderr. run\n" \
	"                           and chat then move it after each token to keep the\n" \
	"                           measured time at the target (output not reproducible)\n" \
	"  --latency-fixed          keep the first choice for the whole run\n"            \
	"  --sparsity-file PATH     per-layer levels from activeswap calibrate\n"         \
	"  --sparsity-mode topk|threshold  keep each op's Top-K input channels (default),\n" \
	"                           or those above the file's calibrated magnitude\n"    \
	"                           thresholds (calibrate --sparsity-mode threshold)\n"  \
	"  --head-sparsity F        skip the share F of every layer's attention heads\n"  \
	"                           whose query has the smallest norm (their O columns\n" \
	"                           are not fetched; default 0)\n"                      \
	"  --group N|auto           layers preloaded ahead from each Top-K (default auto)\n" \
	"  --no-preload             on-demand fetches only\n"                              \
	"  --no-rows                at sparsity 0, accumulate columns even when the store\n" \
	"                           has a row copy (convert --rows)\n"                   \
	"  --policy auto|contextual|lru|static   hot-weight cache policy (default auto:\n"     \
	"                           a static prefix of every layer's channels)\n" \
	"  --expert-policy contextual|lru|static  cache policy of a mixture-of-experts\n" \
	"                           store's experts (default contextual: decayed counts)\n" \
	"  --expert-predict N       preload the experts that layers L+1..L+N's routers pick\n" \
	"                           for layer L's input (default 1 with two layers' experts\n" \
	"                           cached, else off; 0: fetch when chosen)\n" \
	"  --expert-sparsity S      Top-K sparsity inside the chosen experts (their gate/up\n" \
	"                           and down inputs; default 0: every channel)\n" \
	"  --expert-precision off|low-weight|miss|auto  a store with low-precision experts\n" \
	"                           (convert --expert-types): which copy a chosen expert\n" \
	"                           is read from. off (default): the high one; low-weight:\n" \
	"                           the router's --expert-high N best high, the rest low;\n" \
	"                           miss: high when cached or being read, else low; auto:\n" \
	"                           one of them from the cost model's predicted time per\n" \
	"                           token at the budget (with --latency-target: the least\n" \
	"                           accuracy cost that meets it, moved after each token\n" \
	"                           with the sparsity), printed on stderr\n" \
	"  --expert-high N          low-weight: experts of the top-k kept high (default\n" \
	"                           half of them, rounded up)\n" \
	"  --backend auto|uring|pread|kmod  flash reads (default auto: kmod when\n"                 \
	"                                   /dev/activeswap is usable, else io_uring)\n"                  \
	"  --queue-depth N          reads in flight (default 32)\n"                        \
	"  --gap SIZE|auto          read the bundles between two needed ones when they\n"   \
	"                           span at most SIZE bytes (default auto: the flash's\n"  \
	"                           cost per read times its bandwidth, measured)\n"        \
	"  --stats                  per-layer hit rate, flash bytes/token, preload\n"       \
	"                           precision/recall, stall time/token (stderr)\n"         \
	"  --verify                 check the crc32c of every bundle read (and of the row\n" \
	"                           copy as read); a mismatch stops with an error naming\n" \
	"                           layer and kind (costs decode time: benchmarks.md);\n"  \
	"                           experts in columns are then read whole\n"             \
	"  --no-verify              do not even check the resident tensors at open (checked\n" \
	"                           by default)\n"                                         \
	"  --mlock                  fail unless the weight cache can be locked in memory\n" \
	"                           (default: locked when RLIMIT_MEMLOCK allows, else\n"  \
	"                           unlocked with a one-line note)\n"                     \
	"  --numa-node N            place the weight cache on NUMA node N (libnuma)\n"

void swap_cli_init(struct swap_cli *o);
/* Does the model argv gives (the last -m/--model) start with the store magic? run and
 * eval pick their option tables by it before parsing. */
bool swap_cli_store_arg(int argc, char **argv);
/* The options above as a table for args_parse() (tools/args.h), values into o. */
#define SWAP_CLI_NOPTS 26 /* with the end */
void swap_cli_args(struct swap_cli *o, struct arg_opt opts[SWAP_CLI_NOPTS]);
/* --sparsity-mode topk|threshold into a bool (threshold); an args FN option */
int swap_cli_sparsity_mode(void *ptr, const char *sub, const char *flag, const char *v);
/* After parsing: options that exclude each other (--latency-target with --sparsity S or
 * --sparsity-file; --verify with --no-verify). 0, or 2 (a usage error) with one line. */
int swap_cli_check(const struct swap_cli *o, const char *sub);
/* --backend's parser (ptr: an int), for a table that takes the name over */
int swap_cli_backend(void *ptr, const char *sub, const char *flag, const char *v);
/* Open path with the options; prints what auto picked on stderr unless quiet. n_ctx 0:
 * o->ctx_default, capped at the training context (o->aut.n_ctx gets the one used). */
int swap_cli_open(struct swap_cli *o, const char *sub, const char *path,
		  struct as_threadpool *tp, uint32_t n_ctx, bool quiet,
		  struct as_swap_model **out);
/* The store's model as an as_eval_model of n_ctx positions (run_generate,
 * as_perplexity_model). */
struct as_eval_model;
void swap_cli_eval_model(struct as_swap_model *m, uint32_t n_ctx, struct as_eval_model *em);
void swap_cli_print_stats(struct as_swap_model *m, FILE *f);
/* JSON members (leading ", "): kv_type, kv_bytes, backend, budget_bytes, sparsity, group,
 * flash and stall per token, hit rate, preload precision/recall. */
void swap_cli_json(struct as_swap_model *m, const struct swap_cli *o, FILE *f);
/* With --latency-target: JSON members (leading ", ") "latency_target_s", "latency_met",
 * "latency_replayed"; always "predicted_s_per_token" (the cost model's, 0 when it made
 * none) and "measured_s_per_token" (measured_s). */
struct asw_model;
/* With --latency-target and not --latency-fixed: the feedback moves m's sparsity after
 * every generated token of am (asw_decode); row mode keeps it (said on stderr). */
void swap_cli_latency_attach(struct swap_cli *o, const char *sub, struct asw_model *am,
			     struct as_swap_model *m);
void swap_cli_json_latency(const struct swap_cli *o, double measured_s, FILE *f);
/* --stats: one line "SUB: time per token: predicted X ms, measured Y ms[ (target Z ms)]". */
void swap_cli_print_latency(const struct swap_cli *o, const char *sub, double measured_s,
			    FILE *f);
/* With --stats: settle the engine (cancel queued preloads, wait for reads in flight), then
 * JSON members "tokens", "stall_ns" (all waits), "token_stall_ns" (those after the open,
 * whose stall total was open_stall_ns: inside tokens), "inflight" (left unsettled) and
 * "layers": libswap's per-layer counters {layer, reads, bytes, hits, misses, evicts,
 * errors, stall_ns}, the numbers its USDT probes report (Documentation/usdt.md;
 * `activeswap trace` compares). */
void swap_cli_json_layers(struct as_swap_model *m, uint64_t open_stall_ns, FILE *f);

/* A precision candidate as the auto line names it: "low-weight (2 of 4 high)", "miss",
 * "off" (k: the experts a token uses). Returns buf. (swap_report.c, as the --stats and
 * --json reporting below.) */
const char *swap_cli_xprec_label(char *buf, size_t n, const struct as_swap_xprec_cand *c,
				 uint32_t k);

/* A text file (eval/calibrate input) as a NUL-terminated malloc'd buffer: a regular file of
 * at most SWAP_CLI_MAX_TEXT bytes. 0, or -1 with one "activeswap SUB: ..." line printed. */
#define SWAP_CLI_MAX_TEXT (1ull << 30)
int swap_cli_read_text(const char *sub, const char *path, char **out, size_t *len);

#endif

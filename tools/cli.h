/* SPDX-License-Identifier: MIT */
/* Shared helpers for the activeswap subcommands: strict number parsing, errors,
 * progress bars, JSON output. */
#ifndef ACTIVESWAP_CLI_H
#define ACTIVESWAP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Every subcommand: returns the process exit status (0 ok, 1 runtime error, 2 usage). */
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_chat(int argc, char **argv);

#define AS_VERSION "0.1" /* as dkms.conf's PACKAGE_VERSION */

/* The largest Top-K sparsity any subcommand takes (run, eval, calibrate, bench). */
#define CLI_SPARSITY_MAX 0.99

/* "activeswap SUB: message\n" on stderr. */
void cli_err(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A model that failed to open: "SUB: PATH: not an activeswap store or GGUF" when the file
 * starts with neither magic (a text file named .asw), else "SUB: msg". */
void cli_model_err(const char *sub, const char *path, const char *msg);

/* --kv-type f16|f32 as an ARG_FN parser: *(int *)ptr = AS_KV_F16 or AS_KV_F32
 * (activeswap/attention.h); another value: one line, -1. */
int cli_kv_type(void *ptr, const char *sub, const char *flag, const char *val);
#define CLI_KV_TYPE_USAGE                                                                \
	"      --kv-type f16|f32 the KV cache's element type (default f16, as llama.cpp:\n"  \
	"                        half the memory of f32, which a budget counts)\n"

/* Strict parsers: whole string, range-checked; on error print "SUB: bad value for FLAG:
 * 'VAL' (why)" and return -1. */
int cli_long(const char *sub, const char *flag, const char *val, long min, long max,
	     long *out);
int cli_u64(const char *sub, const char *flag, const char *val, uint64_t min,
	    uint64_t max, uint64_t *out);
int cli_double(const char *sub, const char *flag, const char *val, double min,
	       double max, double *out);
/* Sizes: plain bytes or with K/M/G/T suffix (binary, optional "iB"/"B"), e.g. 64K, 1.5G.
 * With total != 0, "NN%" means that percentage of total. */
int cli_size(const char *sub, const char *flag, const char *val, uint64_t total,
	     uint64_t *out);

/* Progress bar on stderr, drawn only when stderr is a TTY: percent, MB/s, ETA. */
struct cli_progress {
	const char *label;
	uint64_t total;
	uint64_t done;
	double t0;
	double last_draw;
	bool tty;
};
void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total);
void cli_progress_add(struct cli_progress *p, uint64_t n);
void cli_progress_end(struct cli_progress *p);

double cli_now(void); /* monotonic seconds */
uint64_t cli_peak_rss_bytes(void);

/* JSON string escaping for output (writes a quoted string). */
void cli_json_str(FILE *f, const char *s);

#endif

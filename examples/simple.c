// SPDX-License-Identifier: MIT
/*
 * The smallest program on libactiveswap: load a model (GGUF or store), feed a prompt,
 * generate greedily, print the prompt and the continuation as `activeswap run --temp 0`
 * does.
 *
 *   cc simple.c $(pkg-config --cflags --libs activeswap) -o simple
 *   ./simple -m MODEL [-p PROMPT] [-n N]
 */
#define _POSIX_C_SOURCE 200809L /* getopt */
#include <activeswap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put_piece(const asw_model *m, int32_t id)
{
	size_t len;
	const char *p = asw_token_piece(m, id, &len);

	if (p)
		fwrite(p, 1, len, stdout);
}

int main(int argc, char **argv)
{
	const char *model = NULL, *prompt = "";
	long n_predict = 32;
	struct asw_params p;
	struct asw_sampler_params sp;
	asw_model *m = NULL;
	asw_sampler *smp = NULL;
	int32_t *ids = NULL;
	int64_t n_ids;
	char err[512];
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "m:p:n:")) != -1) {
		if (opt == 'm')
			model = optarg;
		else if (opt == 'p')
			prompt = optarg;
		else if (opt == 'n')
			n_predict = strtol(optarg, NULL, 10);
		else
			return 2;
	}
	if (!model || optind < argc || n_predict < 0) {
		fprintf(stderr, "usage: %s -m MODEL [-p PROMPT] [-n N]\n", argv[0]);
		return 2;
	}
	asw_params_init(&p);
	if (asw_open(&m, model, &p, err, sizeof(err))) {
		fprintf(stderr, "simple: %s\n", err);
		return 1;
	}
	/* the prompt's tokens: ask for the count, then fetch them */
	n_ids = asw_tokenize(m, prompt, strlen(prompt), ASW_TOK_BOS | ASW_TOK_SPECIAL, NULL, 0);
	if (n_ids > 0 && (ids = malloc((size_t)n_ids * sizeof(*ids))))
		n_ids = asw_tokenize(m, prompt, strlen(prompt), ASW_TOK_BOS | ASW_TOK_SPECIAL,
				     ids, (size_t)n_ids);
	if (n_ids <= 0 || !ids) {
		fprintf(stderr, "simple: cannot tokenize the prompt: %s\n", asw_errmsg(m));
		goto out;
	}
	asw_sampler_params_init(&sp);
	sp.temp = 0; /* greedy */
	if (asw_sampler_new(&smp, m, &sp) || asw_decode(m, ids, (size_t)n_ids)) {
		fprintf(stderr, "simple: %s\n", asw_errmsg(m));
		goto out;
	}
	for (int64_t i = 0; i < n_ids; i++) {
		put_piece(m, ids[i]);
		asw_sampler_accept(smp, ids[i]);
	}
	for (long i = 0; i < n_predict; i++) {
		int32_t next = asw_sample(smp, m);

		if (next < 0 || asw_token_is_eog(m, next))
			break;
		put_piece(m, next);
		fflush(stdout);
		asw_sampler_accept(smp, next);
		if (i + 1 == n_predict || asw_n_past(m) >= asw_n_ctx(m))
			break;
		if (asw_decode(m, &next, 1)) {
			fprintf(stderr, "simple: %s\n", asw_errmsg(m));
			goto out;
		}
	}
	rc = 0;
out:
	free(ids);
	asw_sampler_free(smp);
	asw_close(m);
	return rc;
}

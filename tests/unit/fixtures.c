// SPDX-License-Identifier: MIT
/* Fixtures shared by the unit tests (fixtures.h). */
#include "fixtures.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>

#include "activeswap/convert.h"
#include "activeswap/mkmodel.h"
#include "activeswap/swap.h"
#include "libswap.h"

int fx_tmpdir(char *dir, size_t n, const char *tag)
{
	const char *t = getenv("AS_TMP");

	if ((size_t)snprintf(dir, n, "%s/%sXXXXXX", t ? t : "/tmp", tag) >= n)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

int fx_rmdir(const char *dir)
{
	char cmd[600];

	if ((size_t)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= sizeof(cmd))
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

int fx_mkmodel(const char *out, const struct fx_shape *s, enum ggml_type type, uint64_t seed)
{
	struct as_mkmodel_params p;

	as_mkmodel_params_init(&p);
	if (s) {
		const uint64_t *v[] = { &s->dim, &s->hidden, &s->heads, &s->kv_heads, &s->layers,
					&s->ctx };
		uint64_t *d[] = { &p.shape.dim, &p.shape.hidden, &p.shape.heads,
				  &p.shape.kv_heads, &p.shape.layers, &p.shape.ctx };

		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			if (*v[i])
				*d[i] = *v[i];
	}
	return fx_mkmodel_params(&p, out, type, seed);
}

int fx_mkmodel_params(struct as_mkmodel_params *p, const char *out, enum ggml_type type,
		      uint64_t seed)
{
	char err[512] = "";
	int r;

	p->type = type;
	p->seed = seed;
	p->threads = 2;
	r = as_mkmodel(p, out, NULL, err, sizeof(err));
	if (r)
		fprintf(stderr, "# as_mkmodel %s: %s\n", out, err);
	return r;
}

int fx_convert(const char *in, const char *out, int type, uint32_t group, bool rows,
	       bool verify)
{
	struct as_convert_params p;
	char err[512] = "";
	int r;

	as_convert_params_init(&p);
	p.type = type;
	p.group = group;
	p.rows = rows;
	p.verify = verify;
	r = as_convert(in, out, &p, NULL, err, sizeof(err));
	if (r)
		fprintf(stderr, "# as_convert %s: %s\n", in, err);
	return r;
}

bool fx_uring_usable(const char **why)
{
	/* io_uring_setup(2) with a NULL params pointer: EFAULT when the call exists */
	long r;

	if (getenv("ACTIVESWAP_NO_URING")) {
		*why = "ACTIVESWAP_NO_URING is set";
		return false;
	}
	r = syscall(__NR_io_uring_setup, 1, NULL);
	if (r >= 0) {
		close((int)r);
		return true;
	}
	if (errno == EFAULT)
		return true;
	*why = errno == ENOSYS ? "io_uring_setup: not implemented (qemu-user, old kernel)" :
				 "io_uring_setup: not permitted";
	return false;
}

bool fx_backend_skipped(int be)
{
	const char *why;

	if (be != SWAP_BACKEND_URING || fx_uring_usable(&why))
		return false;
	printf("# io_uring half skipped: %s\n", why);
	return true;
}

void fx_swap_params(struct as_swap_params *p, uint32_t n_ctx, float sparsity)
{
	memset(p, 0, sizeof(*p));
	p->n_ctx = n_ctx;
	p->sparsity = sparsity;
	p->queue_depth = 4;
	p->max_read_bytes = 16 << 10;
	p->chunk = 16;
	p->check_use = true;
}

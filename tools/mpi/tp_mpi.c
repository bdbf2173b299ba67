// SPDX-License-Identifier: MIT
/*
 * Tensor parallelism over Open MPI: the CLI's glue (tools/tp.h). The runtime knows
 * slices and a reduce callback, not MPI; this file is the only one that includes mpi.h.
 */
#include "tp.h"

#include <errno.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

static int rank, size = 1;
static bool on;
static double reduce_s;
static uint64_t reduce_calls, reduce_floats;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int tp_init(int *argc, char ***argv)
{
	int r;

	/* only under a launcher: run alone, the CLI stays the one-process program */
	if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK"))
		return 0;
	r = MPI_Init(argc, argv);
	if (r != MPI_SUCCESS) {
		fprintf(stderr, "activeswap: MPI_Init failed (error %d)\n", r);
		return 1;
	}
	on = true;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	/* a failed collective is reported by the caller (one line naming the layer) */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	if (rank && !freopen("/dev/null", "w", stdout)) {
		fprintf(stderr, "activeswap: rank %d: /dev/null: cannot open\n", rank);
		return 1;
	}
	return 0;
}

int tp_exit(int status)
{
	if (!on)
		return status;
	fflush(stdout);
	fflush(stderr);
	if (status)
		MPI_Abort(MPI_COMM_WORLD, status);
	MPI_Finalize();
	return status;
}

uint32_t tp_rank(void)
{
	return (uint32_t)rank;
}

uint32_t tp_size(void)
{
	return (uint32_t)size;
}

static int reduce(void *arg, float *y, size_t n)
{
	double t0 = now_s();
	int r;

	(void)arg;
	if (n > INT32_MAX)
		return -EOVERFLOW;
	r = MPI_Allreduce(MPI_IN_PLACE, y, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
	reduce_s += now_s() - t0;
	reduce_calls++;
	reduce_floats += n;
	if (r != MPI_SUCCESS) {
		char s[MPI_MAX_ERROR_STRING];
		int len = 0;

		MPI_Error_string(r, s, &len);
		fprintf(stderr, "activeswap: rank %d: MPI_Allreduce: %s\n", rank, s);
		return -EIO;
	}
	return 0;
}

void tp_params(struct as_swap_params *p)
{
	if (size <= 1)
		return;
	p->n_slices = (uint32_t)size;
	p->slice = (uint32_t)rank;
	p->reduce = reduce;
	p->reduce_arg = NULL;
}

void tp_sum_u64(uint64_t *v, size_t n)
{
	if (size <= 1 || n > INT32_MAX)
		return;
	MPI_Reduce(rank ? v : MPI_IN_PLACE, v, (int)n, MPI_UINT64_T, MPI_SUM, 0,
		   MPI_COMM_WORLD);
}

void tp_print_stats(FILE *f, uint64_t tokens)
{
	uint64_t nt = tokens ? tokens : 1;

	if (size <= 1 || rank)
		return;
	fprintf(f, "tensor parallel: %d ranks (figures above summed over them); allreduce "
		"%.3f ms/token on rank 0, %.1f calls/token of %.1f KiB/token\n", size,
		reduce_s * 1e3 / (double)nt, (double)reduce_calls / (double)nt,
		(double)reduce_floats * 4 / 1024.0 / (double)nt);
}

void tp_bcast_u64(uint64_t *v)
{
	if (size > 1)
		MPI_Bcast(v, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
}

ssize_t tp_getline(char **line, size_t *cap, FILE *f)
{
	long long n = -1;
	char *p;

	if (size <= 1)
		return getline(line, cap, f);
	if (!rank)
		n = getline(line, cap, f);
	/* the length first (-1: the end, on every rank), then the bytes */
	if (MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD) != MPI_SUCCESS || n < 0 ||
	    n >= INT32_MAX) {
		errno = 0;
		return -1;
	}
	if (rank && (size_t)n >= *cap) {
		p = realloc(*line, (size_t)n + 1);
		if (!p) { /* rank 0 would wait for this one */
			fprintf(stderr, "activeswap: rank %d: out of memory\n", rank);
			MPI_Abort(MPI_COMM_WORLD, 1);
		}
		*line = p;
		*cap = (size_t)n + 1;
	}
	if (MPI_Bcast(*line, (int)n, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
		errno = EIO;
		return -1;
	}
	(*line)[n] = 0;
	return (ssize_t)n;
}

/* SPDX-License-Identifier: MIT */
/*
 * Tensor parallelism over MPI, the CLI's side (Documentation/tensor-parallel.md): under
 * `mpirun -np N activeswap run|eval|bench decode -m STORE ...` every rank opens the
 * same store as slice `rank` of N (struct as_swap_params n_slices, slice) and the runtime
 * sums each group's partial products with the reduce given here (MPI_Allreduce). Rank 0
 * prints; the other ranks print only errors. Built with MPI only (mk/mpi.mk); without it
 * these are the one-process stubs below.
 */
#ifndef ACTIVESWAP_TP_H
#define ACTIVESWAP_TP_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "activeswap/swap.h"

#ifdef AS_HAVE_MPI
#define tp_usage                                                                        \
	"\nTensor parallelism (Documentation/tensor-parallel.md): 'mpirun -np N activeswap\n" \
	"run|eval|bench decode|chat -m STORE.asw ...' gives each rank a slice of\n"   \
	"every layer (the budget is per rank); rank 0 reads stdin and prints.\n"
#else
#define tp_usage ""
#endif

#ifdef AS_HAVE_MPI
/* MPI_Init when mpirun started this process (else one process); the other ranks'
 * stdout goes to /dev/null. 0, or 1 with one line on stderr. */
int tp_init(int *argc, char ***argv);
/* The command's exit: MPI_Finalize when it succeeded on every rank, else MPI_Abort, so
 * that the other ranks do not wait for this one. Returns status. */
int tp_exit(int status);
uint32_t tp_rank(void);
uint32_t tp_size(void);
/* With more than one rank: this rank's slice and the reduce in p. */
void tp_params(struct as_swap_params *p);
/* Sum n counters over the ranks onto rank 0 (collective: every rank calls it). */
void tp_sum_u64(uint64_t *v, size_t n);
/* One line on f: ranks, the allreduces per token and their time (rank 0's). */
void tp_print_stats(FILE *f, uint64_t tokens);
/* getline(3) on rank 0, the line broadcast to the other ranks (collective: every rank
 * calls it; only rank 0 reads f). Under mpirun, -1 on every rank at rank 0's end of
 * input or error, with errno 0: no rank retries alone (one process: getline's errno). */
ssize_t tp_getline(char **line, size_t *cap, FILE *f);
/* Rank 0's *v on every rank (collective). */
void tp_bcast_u64(uint64_t *v);
#else
static inline int tp_init(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static inline int tp_exit(int status)
{
	return status;
}

static inline uint32_t tp_rank(void)
{
	return 0;
}

static inline uint32_t tp_size(void)
{
	return 1;
}

static inline void tp_params(struct as_swap_params *p)
{
	(void)p;
}

static inline void tp_sum_u64(uint64_t *v, size_t n)
{
	(void)v;
	(void)n;
}

static inline void tp_print_stats(FILE *f, uint64_t tokens)
{
	(void)f;
	(void)tokens;
}

static inline ssize_t tp_getline(char **line, size_t *cap, FILE *f)
{
	return getline(line, cap, f);
}

static inline void tp_bcast_u64(uint64_t *v)
{
	(void)v;
}
#endif

#endif

/* SPDX-License-Identifier: MIT */
/* Benchmarks behind `activeswap bench WHAT` (dispatch in activeswap.c). */
#ifndef ACTIVESWAP_BENCH_H
#define ACTIVESWAP_BENCH_H

/* bench kernels: matvec throughput per type, layout and SIMD level (bench_kernels.c). */
int bench_kernels_main(int argc, char **argv);
/* bench io: bundle-fetch bandwidth through libswap versus fio (bench_io.c). */
int bench_io_main(int argc, char **argv);
/* bench decode: end-to-end decode speed of a GGUF or a store (bench_decode.c). */
int bench_decode_main(int argc, char **argv);

#endif

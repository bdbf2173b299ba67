// SPDX-License-Identifier: MIT
/*
 * aarch64 Advanced SIMD kernels with SDOT (compiled with -march=armv8.2-a+dotprod; used
 * only when getauxval(AT_HWCAP) has HWCAP_ASIMDDP): runtime/kernels_neon.h.
 */
#define AS_NEON_DOT 1
#include "kernels_neon.h"

void as_kernels_dotprod_init(struct as_kernel_table *t)
{
	as_neon_fill(t);
}

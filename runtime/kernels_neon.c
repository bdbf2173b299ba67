// SPDX-License-Identifier: MIT
/*
 * aarch64 Advanced SIMD kernels (the baseline of every aarch64 CPU; used when
 * getauxval(AT_HWCAP) has HWCAP_ASIMD): runtime/kernels_neon.h without the dot-product
 * instructions.
 */
#define AS_NEON_DOT 0
#include "kernels_neon.h"

void as_kernels_neon_init(struct as_kernel_table *t)
{
	as_neon_fill(t);
}

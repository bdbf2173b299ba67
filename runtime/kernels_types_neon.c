// SPDX-License-Identifier: MIT
/*
 * aarch64 Advanced SIMD kernels of Q4_1 Q5_0 Q5_1 IQ4_NL Q2_K Q3_K Q5_K IQ4_XS (used when
 * getauxval(AT_HWCAP) has HWCAP_ASIMD): runtime/kernels_types_neon.h without the
 * dot-product instructions.
 */
#define AS_NEON_DOT 0
#include "kernels_types_neon.h"

void as_kernels_types_neon_init(struct as_kernel_table *t)
{
	as_neon_types_fill(t);
}

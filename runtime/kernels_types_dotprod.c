// SPDX-License-Identifier: MIT
/*
 * aarch64 kernels of Q4_1 Q5_0 Q5_1 IQ4_NL Q2_K Q3_K Q5_K IQ4_XS with SDOT (compiled with
 * -march=armv8.2-a+dotprod; used only when getauxval(AT_HWCAP) has HWCAP_ASIMDDP):
 * runtime/kernels_types_neon.h.
 */
#define AS_NEON_DOT 1
#include "kernels_types_neon.h"

void as_kernels_types_dotprod_init(struct as_kernel_table *t)
{
	as_neon_types_fill(t);
}

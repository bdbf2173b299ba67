// SPDX-License-Identifier: MIT
/* AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; used after a cpuid check). */
#include <immintrin.h>

#include "kernels_impl.h"

void as_kernels_avx2_init(struct as_kernel_table *t)
{
	(void)t;
}

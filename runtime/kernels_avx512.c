// SPDX-License-Identifier: MIT
/* AVX-512 (F BW VL DQ VNNI) kernels (compiled with the AVX-512 flags; used after cpuid). */
#include <immintrin.h>

#include "kernels_impl.h"

void as_kernels_avx512_init(struct as_kernel_table *t)
{
	(void)t;
}

// SPDX-License-Identifier: MIT
/*
 * Float helpers of the forward pass that no SIMD level specialises (activeswap/kernels.h):
 * RMS normalisation and the softmax. The level-dispatched kernels are in kernels.c.
 */
#include <math.h>
#include <stddef.h>

#include "activeswap/kernels.h"

void as_rmsnorm(float *out, const float *x, const float *w, size_t n, float eps)
{
	float ss = 0.0f;

	for (size_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	ss = 1.0f / sqrtf(ss / (float)n + eps);
	for (size_t i = 0; i < n; i++)
		out[i] = w[i] * (ss * x[i]);
}

void as_softmax(float *x, size_t n)
{
	float max, sum = 0.0f;

	if (!n)
		return;
	max = x[0];
	for (size_t i = 1; i < n; i++)
		if (x[i] > max)
			max = x[i];
	for (size_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	for (size_t i = 0; i < n; i++)
		x[i] /= sum;
}

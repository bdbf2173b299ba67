// SPDX-License-Identifier: MIT
/* The latency target's feedback: activeswap/latency.h. */
#include <math.h>

#include "activeswap/latency.h"

#define MAX_STEP 0.10  /* sparsity moved per token at most */
#define DEAD_BAND 0.05 /* |dt / target - 1| under this: no move */
#define MIN_KEEP 0.02  /* the kept fraction never below (s < 0.98) */

static float clampf(double v, double lo, double hi)
{
	return (float)(v < lo ? lo : v > hi ? hi : v);
}

void as_latency_init(struct as_latency *c, double target_s, float s0, float s_max)
{
	*c = (struct as_latency){ 0 };
	c->target_s = target_s;
	c->s_max = clampf(s_max, 0, 1 - MIN_KEEP);
	c->s = clampf(s0, 0, c->s_max);
	c->s_start = c->s_lo = c->s_hi = c->s;
}

bool as_latency_step(struct as_latency *c, double dt_s)
{
	double r, keep, s;

	c->steps++;
	c->sum_s += c->s;
	c->sum_dt += dt_s > 0 ? dt_s : 0;
	if (!(dt_s > 0) || !(c->target_s > 0))
		return false;
	r = c->target_s / dt_s;
	if (fabs(1 / r - 1) < DEAD_BAND)
		return false;
	r = r < 0.25 ? 0.25 : r > 4 ? 4 : r; /* one outlier moves little */
	keep = (1.0 - c->s) * sqrt(r);
	s = 1.0 - keep;
	if (s > c->s + MAX_STEP)
		s = c->s + MAX_STEP;
	if (s < c->s - MAX_STEP)
		s = c->s - MAX_STEP;
	s = floor(s * 100 + 0.5) / 100; /* 0.01 steps: no creeping by rounding noise */
	s = clampf(s, 0, c->s_max);
	if ((float)s == c->s)
		return false;
	c->s = (float)s;
	c->changes++;
	if (c->s < c->s_lo)
		c->s_lo = c->s;
	if (c->s > c->s_hi)
		c->s_hi = c->s;
	return true;
}

float as_latency_mean_sparsity(const struct as_latency *c)
{
	return c->steps ? (float)(c->sum_s / (double)c->steps) : c->s;
}

double as_latency_mean_s(const struct as_latency *c)
{
	return c->steps ? c->sum_dt / (double)c->steps : 0;
}

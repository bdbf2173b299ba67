// SPDX-License-Identifier: MIT
/* The latency target's feedback: activeswap/latency.h. */
#include <errno.h>
#include <math.h>

#include "activeswap/latency.h"

#define DEAD_BAND 0.05 /* |estimate / allowance - 1| under this: no move */
#define MIN_KEEP 0.02  /* the kept fraction never below (s < 0.98) */

static float clampf(double v, double lo, double hi)
{
	return (float)(v < lo ? lo : v > hi ? hi : v);
}

/* The gap limit from the model for sparsity s: the last point at or below s. */
static uint64_t gap_for(const struct as_latency *c, float s)
{
	const struct as_latency_model *m = &c->model;
	uint64_t g = m->n ? m->gap[0] : c->gap;

	for (uint32_t i = 1; i < m->n && m->s[i] <= s + 1e-6f; i++)
		g = m->gap[i];
	return g;
}

void as_latency_init(struct as_latency *c, double target_s, float s0, float s_max)
{
	*c = (struct as_latency){ 0 };
	c->target_s = target_s;
	c->s_max = clampf(s_max, 0, 1 - MIN_KEEP);
	c->s = clampf(s0, 0, c->s_max);
	c->s_start = c->s_lo = c->s_hi = c->s;
	c->gap = c->gap_start = AS_LATENCY_NO_GAP;
}

int as_latency_set_model(struct as_latency *c, const struct as_latency_model *m)
{
	if (!m->n || m->n > AS_LATENCY_MAX_POINTS || m->s[0] != 0)
		return -EINVAL;
	for (uint32_t i = 0; i < m->n; i++)
		if (!(m->s[i] >= 0 && m->s[i] < 1) || (i && !(m->s[i] > m->s[i - 1])) ||
		    !(m->t[i] > 0 && isfinite(m->t[i])))
			return -EINVAL;
	c->model = *m;
	for (uint32_t i = 1; i < m->n; i++)
		c->model.t[i] = fmin(c->model.t[i], c->model.t[i - 1]);
	c->gap = c->gap_start = gap_for(c, c->s);
	return 0;
}

int as_latency_set_rungs(struct as_latency *c, const struct as_latency_rungs *r)
{
	if (!c->model.n || r->n > AS_LATENCY_MAX_RUNGS || (r->n && r->start >= r->n))
		return -EINVAL;
	for (uint32_t k = 0; k < r->n; k++)
		for (uint32_t i = 0; i < c->model.n; i++)
			if (!(r->t[k][i] > 0 && isfinite(r->t[k][i])))
				return -EINVAL;
	c->rungs = *r;
	for (uint32_t k = 0; k < r->n; k++)
		for (uint32_t i = 1; i < c->model.n; i++)
			c->rungs.t[k][i] = fmin(c->rungs.t[k][i], c->rungs.t[k][i - 1]);
	c->rung = c->rung_start = r->n ? r->start : 0;
	return 0;
}

/* The predicted time at rung r (the model's times without rungs) and sparsity s. */
static double predict_at(const struct as_latency *c, uint32_t r, float s)
{
	const struct as_latency_model *m = &c->model;
	const double *t = c->rungs.n > 1 ? c->rungs.t[r] : m->t;

	if (!m->n)
		return fmax(1.0 - (double)s, MIN_KEEP);
	for (uint32_t i = 1; i < m->n; i++)
		if (s <= m->s[i])
			return t[i - 1] + (t[i] - t[i - 1]) * (double)(s - m->s[i - 1]) /
						  (double)(m->s[i] - m->s[i - 1]);
	return t[m->n - 1];
}

double as_latency_predict(const struct as_latency *c, float s)
{
	return predict_at(c, c->rung, s);
}

/* The rung for the allowance goal from the current one, at sparsity s (pick's): the
 * previous when it meets goal at the cap with the dead band's margin, the next when the
 * cap does not meet it; else the same. */
static uint32_t pick_rung(const struct as_latency *c, double goal, float s)
{
	uint32_t r = c->rung;

	if (c->rungs.n <= 1)
		return r;
	if (r > 0 && c->ratio * predict_at(c, r - 1, c->s_max) <= goal * (1 - DEAD_BAND))
		return r - 1;
	if (s >= c->s_max && c->ratio * predict_at(c, r, c->s_max) > goal && r + 1 < c->rungs.n)
		return r + 1;
	return r;
}

/* measured / predicted over the last tokens: the median of three (one outlier is left
 * out), the smaller of the first two (the first token may pay for a cold cache) */
static double ratio_now(const struct as_latency *c)
{
	double a = c->hist[0], b = c->hist[1], d = c->hist[2];

	if (c->n_hist == 1)
		return a;
	if (c->n_hist == 2)
		return fmin(a, b);
	return fmax(fmin(a, b), fmin(fmax(a, b), d));
}

/* The lowest sparsity of the 0.01 grid (and the cap) whose time, ratio x predicted, is
 * at most goal; else the cap (fewer channels never cost more: where the model is flat,
 * the compute still falls). */
static float pick(const struct as_latency *c, double goal)
{
	for (int i = 0;; i++) {
		float x = (float)i / 100.0f;

		/* a relative 1e-6: a grid point that meets goal exactly is not lost to
		 * float rounding (0.35f is 0.34999999) */
		if (x >= c->s_max || c->ratio * as_latency_predict(c, x) <= goal * (1 + 1e-6))
			return x < c->s_max ? x : c->s_max;
	}
}

bool as_latency_step(struct as_latency *c, double dt_s)
{
	double p, goal, s;
	uint64_t gap;
	bool moved, rung_moved = false, valid = dt_s > 0 && isfinite(dt_s);

	if (c->steps < AS_LATENCY_LOG)
		c->dt_log[c->steps] = valid ? (float)dt_s : 0;
	c->steps++;
	c->sum_s += c->s;
	c->sum_dt += valid ? dt_s : 0;
	if (!valid || !(c->target_s > 0))
		return false;
	p = as_latency_predict(c, c->s);
	c->hist[c->i_hist] = dt_s / p;
	c->i_hist = (c->i_hist + 1) % 3;
	c->n_hist += c->n_hist < 3;
	c->ratio = ratio_now(c);
	if (c->n_hist == 1)
		c->ratio_lo = c->ratio_hi = c->ratio;
	c->ratio_lo = fmin(c->ratio_lo, c->ratio);
	c->ratio_hi = fmax(c->ratio_hi, c->ratio);
	/* the target plus what the request saved so far (lost: negative) over the horizon */
	goal = c->target_s + (c->target_s * (double)c->steps - c->sum_dt) / AS_LATENCY_HORIZON;
	goal = fmin(fmax(goal, 0.5 * c->target_s), 1.5 * c->target_s);
	if (fabs(c->ratio * p / goal - 1) < DEAD_BAND)
		return false;
	s = pick(c, goal);
	{
		uint32_t r = pick_rung(c, goal, (float)s);

		if (r != c->rung) { /* the sparsity for the new rung */
			c->rung = r;
			c->rung_changes++;
			rung_moved = true;
			s = pick(c, goal);
		}
	}
	s = fmin(fmax(s, c->s - AS_LATENCY_MAX_STEP), c->s + AS_LATENCY_MAX_STEP);
	s = floor(s * 100 + 0.5) / 100; /* 0.01 steps: no creeping by rounding noise */
	s = clampf(s, 0, c->s_max);
	gap = gap_for(c, (float)s);
	moved = (float)s != c->s || gap != c->gap || rung_moved;
	if ((float)s != c->s)
		c->changes++;
	if (gap != c->gap)
		c->gap_changes++;
	c->s = (float)s;
	c->gap = gap;
	if (c->s < c->s_lo)
		c->s_lo = c->s;
	if (c->s > c->s_hi)
		c->s_hi = c->s;
	return moved;
}

float as_latency_mean_sparsity(const struct as_latency *c)
{
	return c->steps ? (float)(c->sum_s / (double)c->steps) : c->s;
}

double as_latency_mean_s(const struct as_latency *c)
{
	return c->steps ? c->sum_dt / (double)c->steps : 0;
}

// SPDX-License-Identifier: MIT
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/attention.h"

void cli_err(const char *sub, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "activeswap%s%s: ", sub ? " " : "", sub ? sub : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_model_err(const char *sub, const char *path, const char *msg)
{
	char magic[8] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, magic, sizeof(magic)) : -1;

	if (fd >= 0)
		close(fd);
	/* unreadable (or a directory): the loader's message says why */
	if (n >= 0 && !(n >= 4 && !memcmp(magic, "GGUF", 4)) &&
	    !(n == 8 && !memcmp(magic, "ASWSTORE", 8)))
		cli_err(sub, "%s: not an activeswap store or GGUF", path);
	else
		cli_err(sub, "%s", msg);
}

int cli_long(const char *sub, const char *flag, const char *val, long min, long max,
	     long *out)
{
	char *end;
	long v;

	if (!val || !*val) {
		cli_err(sub, "%s needs a value", flag);
		return -1;
	}
	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || *end || end == val) {
		cli_err(sub, "bad value for %s: '%s' (not an integer)", flag, val);
		return -1;
	}
	if (v < min || v > max) {
		cli_err(sub, "bad value for %s: '%s' (must be in [%ld, %ld])", flag, val, min,
			max);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_u64(const char *sub, const char *flag, const char *val, uint64_t min,
	    uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!val || !*val) {
		cli_err(sub, "%s needs a value", flag);
		return -1;
	}
	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || *end || end == val || val[0] == '-') {
		cli_err(sub, "bad value for %s: '%s' (not a non-negative integer)", flag, val);
		return -1;
	}
	if (v < min || v > max) {
		cli_err(sub, "bad value for %s: '%s' (must be in [%llu, %llu])", flag, val,
			(unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_double(const char *sub, const char *flag, const char *val, double min,
	       double max, double *out)
{
	char *end;
	double v;

	if (!val || !*val) {
		cli_err(sub, "%s needs a value", flag);
		return -1;
	}
	errno = 0;
	v = strtod(val, &end);
	if (errno || *end || end == val || !isfinite(v)) {
		cli_err(sub, "bad value for %s: '%s' (not a number)", flag, val);
		return -1;
	}
	if (v < min || v > max) {
		cli_err(sub, "bad value for %s: '%s' (must be in [%g, %g])", flag, val, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_size(const char *sub, const char *flag, const char *val, uint64_t total,
	     uint64_t *out)
{
	char *end;
	double v, mul = 1;

	if (!val || !*val) {
		cli_err(sub, "%s needs a value", flag);
		return -1;
	}
	errno = 0;
	v = strtod(val, &end);
	if (errno || end == val || !isfinite(v) || v < 0 || val[0] == '-') {
		cli_err(sub, "bad value for %s: '%s' (not a size)", flag, val);
		return -1;
	}
	if (*end == '%') {
		if (!total) {
			cli_err(sub, "bad value for %s: '%s' (a percentage needs a known total)",
				flag, val);
			return -1;
		}
		if (end[1] || v > 100) {
			cli_err(sub, "bad value for %s: '%s' (percent in [0, 100])", flag, val);
			return -1;
		}
		*out = (uint64_t)((double)total * v / 100.0);
		return 0;
	}
	switch (toupper((unsigned char)*end)) {
	case 0: break;
	case 'K': mul = 1024.0; end++; break;
	case 'M': mul = 1024.0 * 1024; end++; break;
	case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default:
		cli_err(sub, "bad value for %s: '%s' (unknown suffix)", flag, val);
		return -1;
	}
	if (mul > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end) {
		cli_err(sub, "bad value for %s: '%s' (unknown suffix)", flag, val);
		return -1;
	}
	v *= mul;
	if (v >= 18446744073709551615.0) {
		cli_err(sub, "bad value for %s: '%s' (too large)", flag, val);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t cli_peak_rss_bytes(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)ru.ru_maxrss * 1024;
}

static void progress_draw(struct cli_progress *p, bool final)
{
	double now = cli_now(), el = now - p->t0;
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 100.0;
	double rate = el > 0 ? (double)p->done / el : 0;
	double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
	int width = 30, fill = (int)(pct / 100.0 * width);
	char bar[64];

	if (fill > width)
		fill = width;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(width - fill));
	bar[width] = 0;
	fprintf(stderr, "\r%s [%s] %5.1f%% %7.1f MB/s ETA %4.0fs%s", p->label, bar, pct,
		rate / 1e6, final ? 0.0 : eta, final ? "\n" : "");
	fflush(stderr);
	p->last_draw = now;
}

void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->total = total;
	p->t0 = cli_now();
	p->tty = isatty(STDERR_FILENO);
}

void cli_progress_add(struct cli_progress *p, uint64_t n)
{
	p->done += n;
	if (p->done > p->total)
		p->done = p->total;
	if (p->tty && cli_now() - p->last_draw > 0.1)
		progress_draw(p, false);
}

void cli_progress_end(struct cli_progress *p)
{
	if (p->tty)
		progress_draw(p, true);
}

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int cli_kv_type(void *ptr, const char *sub, const char *flag, const char *val)
{
	int t = as_kv_type_parse(val);

	if (t < 0) {
		cli_err(sub, "bad value for %s: '%s' (f16 or f32)", flag, val);
		return -1;
	}
	*(int *)ptr = t;
	return 0;
}

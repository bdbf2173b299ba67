// SPDX-License-Identifier: MIT
/*
 * The kmod backend's completion thread without the module: the backend source is included
 * here and a backend is built by hand around a stand-in "device" (one end of a
 * SOCK_SEQPACKET socket pair, whole records per read as the device returns them, or a
 * directory, whose read() fails), with a few operations in flight and the real reaper()
 * thread. A record completes its operation (parts summed, the first error wins) and the
 * eventfd stops the thread; when the channel fails (the peer hangs up, or read() fails),
 * every operation in flight completes with a negative result, the failure is said on one
 * stderr line, the thread ends by itself and later submits fail instead of queueing.
 * Waits time out after 5 s so that a reaper which never completes fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "../../libswap/backend_kmod.c"

#define N_OPS 4
#define EXT 4096u
#define WAIT_S 5

struct done {
	uint64_t cookie;
	int64_t res;
	int submit; /* kmod_submit() from inside the callback, as the engine's dispatch does */
};

static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_cond = PTHREAD_COND_INITIALIZER;
static struct done got[2 * N_OPS];
static unsigned n_got;
static bool submit_in_cb;

static struct swap_extent extent(uint64_t cookie)
{
	struct swap_extent x = { 0 };

	x.len = EXT;
	x.region_off = EXT;
	x.cookie = cookie;
	return x;
}

static void on_complete(void *ctx, uint64_t cookie, int64_t res)
{
	struct swap_backend *b = ctx;
	struct swap_extent x = extent(cookie + 1000);
	int r = submit_in_cb ? kmod_submit(b, &x, 1) : 0;

	pthread_mutex_lock(&cb_lock);
	if (n_got < 2 * N_OPS)
		got[n_got] = (struct done){ cookie, res, r };
	n_got++;
	pthread_cond_broadcast(&cb_cond);
	pthread_mutex_unlock(&cb_lock);
}

static void deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += WAIT_S;
}

/* Whether n callbacks arrived within WAIT_S seconds. */
static bool wait_callbacks(unsigned n)
{
	struct timespec ts;
	bool ok;

	deadline(&ts);
	pthread_mutex_lock(&cb_lock);
	while (n_got < n && pthread_cond_timedwait(&cb_cond, &cb_lock, &ts) != ETIMEDOUT)
		;
	ok = n_got >= n;
	pthread_mutex_unlock(&cb_lock);
	return ok;
}

static const struct done *find(uint64_t cookie)
{
	for (unsigned i = 0; i < n_got && i < 2 * N_OPS; i++)
		if (got[i].cookie == cookie)
			return &got[i];
	return NULL;
}

/* A backend as kmod_start() leaves it, on dev, before the thread starts. */
static struct swap_backend *backend(int dev)
{
	struct swap_backend *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	b->cfg.region_len = N_OPS * EXT;
	b->cfg.complete = on_complete;
	b->cfg.ctx = b;
	b->cfg.dev_fd = dev;
	b->dev = dev;
	b->store = -1;
	b->evfd = eventfd(0, EFD_CLOEXEC);
	assert_true(b->evfd >= 0);
	pthread_mutex_init(&b->lock, NULL);
	b->max_ext_len = EXT;
	b->max_extents = 8;
	b->n_ops = N_OPS;
	b->ops = calloc(N_OPS, sizeof(*b->ops));
	b->free = calloc(N_OPS, sizeof(*b->free));
	b->xbuf = calloc(b->max_extents, sizeof(*b->xbuf));
	assert_true(b->ops && b->free && b->xbuf);
	for (uint32_t i = 0; i < N_OPS; i++)
		b->free[b->n_free++] = N_OPS - 1 - i;
	assert_int_equal(fcntl(dev, F_SETFL, fcntl(dev, F_GETFL) | O_NONBLOCK), 0);
	n_got = 0;
	submit_in_cb = false;
	return b;
}

/* Take an operation as kmod_submit() does: its table index is the kernel tag. */
static uint32_t take_op(struct swap_backend *b, uint64_t cookie, uint32_t parts)
{
	uint32_t oi;

	pthread_mutex_lock(&b->lock);
	assert_true(b->n_free > 0);
	oi = b->free[--b->n_free];
	memset(&b->ops[oi], 0, sizeof(b->ops[oi]));
	b->ops[oi].used = true;
	b->ops[oi].cookie = cookie;
	b->ops[oi].parts = parts;
	pthread_mutex_unlock(&b->lock);
	return oi;
}

static void start(struct swap_backend *b)
{
	assert_int_equal(pthread_create(&b->thread, NULL, reaper, b), 0);
	b->thread_ok = true;
}

static void send_rec(int fd, uint32_t tag, int64_t result)
{
	struct activeswap_completion c;

	memset(&c, 0, sizeof(c));
	c.tag = tag;
	c.result = result;
	assert_int_equal(write(fd, &c, sizeof(c)), sizeof(c));
}

static uint32_t n_free(struct swap_backend *b)
{
	uint32_t n;

	pthread_mutex_lock(&b->lock);
	n = b->n_free;
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* stderr into a temporary file while the failure happens, to count its lines. */
static int saved_err = -1;
static FILE *cap;

static void capture_stderr(void)
{
	fflush(stderr);
	cap = tmpfile();
	assert_non_null(cap);
	saved_err = dup(2);
	assert_true(saved_err >= 0);
	assert_true(dup2(fileno(cap), 2) == 2);
}

/* Restores stderr and returns how many captured lines mention the kmod backend. */
static int end_capture(void)
{
	char line[512];
	int n = 0;

	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	rewind(cap);
	while (fgets(line, sizeof(line), cap)) {
		fprintf(stderr, "# captured: %s", line);
		n += strstr(line, "libswap: kmod") != NULL;
	}
	fclose(cap);
	return n;
}

/* The thread must end by itself after a failure. */
static void join_alone(struct swap_backend *b)
{
	struct timespec ts;

	deadline(&ts);
	if (pthread_timedjoin_np(b->thread, NULL, &ts))
		fail_msg("the completion thread did not end within %d s", WAIT_S);
	b->thread_ok = false;
}

/* After the failure: both operations failed with want, the ops are free again, submits
 * (from the callbacks and after) fail with want, and the failure was said once. */
static void check_failed(struct swap_backend *b, int lines, int64_t want)
{
	struct swap_extent x = extent(7);
	const struct done *d;

	assert_int_equal(lines, 1);
	assert_int_equal(n_got, 2);
	for (uint64_t c = 101; c <= 202; c += 101) {
		d = find(c);
		assert_non_null(d);
		assert_true(d->res < 0);
		assert_int_equal(d->res, want);
		assert_int_equal(d->submit, want);
	}
	assert_int_equal(n_free(b), N_OPS);
	assert_int_equal(kmod_submit(b, &x, 1), want);
	assert_int_equal(n_free(b), N_OPS);
	assert_int_equal(n_got, 2); /* nothing completed twice */
}

static void test_records_then_stop(void **state)
{
	int sv[2];
	struct swap_backend *b;
	uint32_t a, c, d;
	const struct done *r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	b = backend(sv[0]);
	a = take_op(b, 11, 1);
	c = take_op(b, 33, 2);
	d = take_op(b, 44, 2);
	start(b);
	send_rec(sv[1], a, EXT);
	send_rec(sv[1], c, EXT);
	send_rec(sv[1], d, -ENODATA);
	send_rec(sv[1], c, EXT / 2);
	send_rec(sv[1], d, EXT);
	if (!wait_callbacks(3))
		fail_msg("%u of 3 completions within %d s", n_got, WAIT_S);
	assert_int_equal(n_got, 3);
	r = find(11);
	assert_non_null(r);
	assert_int_equal(r->res, EXT);
	r = find(33);
	assert_non_null(r);
	assert_int_equal(r->res, EXT + EXT / 2);
	r = find(44);
	assert_non_null(r);
	assert_int_equal(r->res, -ENODATA);
	assert_int_equal(n_free(b), N_OPS);
	kmod_join(b); /* the stop of kmod_stop(), without the CANCEL ioctl */
	assert_false(b->thread_ok);
	assert_int_equal(n_got, 3);
	kmod_stop(b);
	close(sv[0]);
	close(sv[1]);
}

static void test_hangup_fails_inflight(void **state)
{
	int sv[2], lines;
	struct swap_backend *b;
	uint32_t c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	b = backend(sv[0]);
	take_op(b, 101, 1);
	c = take_op(b, 202, 2);
	submit_in_cb = true;
	start(b);
	capture_stderr();
	send_rec(sv[1], c, EXT); /* one part of 202 back, the other never */
	close(sv[1]);
	if (!wait_callbacks(2)) {
		end_capture();
		fail_msg("%u of 2 reads in flight completed within %d s of the hang-up", n_got,
			 WAIT_S);
	}
	join_alone(b);
	lines = end_capture();
	check_failed(b, lines, -EIO);
	kmod_stop(b);
	close(sv[0]);
}

static void test_read_error_fails_inflight(void **state)
{
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), lines;
	struct swap_backend *b;

	/* poll() says a directory is readable; read() fails with EISDIR. */
	assert_true(fd >= 0);
	b = backend(fd);
	take_op(b, 101, 1);
	take_op(b, 202, 1);
	submit_in_cb = true;
	capture_stderr();
	start(b);
	if (!wait_callbacks(2)) {
		end_capture();
		fail_msg("%u of 2 reads in flight completed within %d s of the read error",
			 n_got, WAIT_S);
	}
	join_alone(b);
	lines = end_capture();
	check_failed(b, lines, -EISDIR);
	kmod_stop(b);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_then_stop),
		cmocka_unit_test(test_hangup_fails_inflight),
		cmocka_unit_test(test_read_error_fails_inflight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

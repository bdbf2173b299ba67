// SPDX-License-Identifier: MIT
/*
 * netdelay: a userspace delay line standing in for `tc qdisc ... netem delay` where the
 * kernel has no sch_netem (Documentation/tensor-parallel.md, "Which allreduce").
 *
 *   netdelay [-d MS] [-j MS] [-r MBIT] [-l PACKETS] [-R FILE] NAME=IPV4 NAME=IPV4...
 *
 * Creates one TUN device (IFF_TUN, no packet info) per NAME=IPV4 and forwards every IPv4
 * packet read from one device to the device whose address is the packet's destination,
 * after holding it for the one-way delay (-d, plus a uniform jitter in [-j, +j], and the
 * serialization time of -r Mbit/s per output device). The caller moves each device into
 * its own network namespace and gives it IPV4 there (tests/netdelay/netns.sh); the
 * devices vanish when this process ends. Held packets sit in a binary heap ordered by
 * release time; the loop sleeps in ppoll() until the next release or a readable device
 * (no busy spin). At most -l packets are held (netem's limit): beyond, packets drop.
 * SIGINT/SIGTERM end it; the counters go to stderr. Writes FILE (-R) once the devices
 * exist. Usage errors exit 2, runtime errors 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEV 16
#define MAX_PKT 65536

struct pkt {
	uint64_t due_ns;
	uint64_t seq;
	uint32_t len;
	uint8_t out;
	uint8_t data[];
};

struct dev {
	char name[IFNAMSIZ];
	uint32_t ip; /* network order */
	int fd;
	uint64_t link_free_ns; /* the -r serializer: when the output is idle again */
};

static struct dev devs[MAX_DEV];
static unsigned n_dev;
static struct pkt **heap;
static size_t heap_n, heap_cap;
static uint64_t seq;
static uint64_t n_fwd, n_noroute, n_full, n_werr, n_other;
static volatile sig_atomic_t stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool before(const struct pkt *a, const struct pkt *b)
{
	return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(struct pkt *p)
{
	size_t i = heap_n++;

	while (i) {
		size_t up = (i - 1) / 2;

		if (!before(p, heap[up]))
			break;
		heap[i] = heap[up];
		i = up;
	}
	heap[i] = p;
}

static struct pkt *heap_pop(void)
{
	struct pkt *top = heap[0], *last = heap[--heap_n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= heap_n)
			break;
		if (c + 1 < heap_n && before(heap[c + 1], heap[c]))
			c++;
		if (!before(heap[c], last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (heap_n)
		heap[i] = last;
	return top;
}

/* xorshift64*: the jitter's randomness (fixed seed: runs are repeatable) */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(const char *msg)
{
	fprintf(stderr, "netdelay: %s\nusage: netdelay [-d MS] [-j MS] [-r MBIT] [-l PACKETS] "
		"[-R FILE] NAME=IPV4 NAME=IPV4...\n", msg);
	return 2;
}

/* a decimal in [0, max] with at most 3 decimals, scaled by 1000 (ms -> us) */
static int parse_milli(const char *s, double max, uint64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > max)
		return -EINVAL;
	*out = (uint64_t)(v * 1000.0 + 0.5);
	return 0;
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < 1 || v > 1000000)
		return -EINVAL;
	*out = v;
	return 0;
}

static int open_tun(struct dev *d)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "netdelay: /dev/net/tun: %s\n", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, d->name, sizeof(ifr.ifr_name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "netdelay: TUNSETIFF %s: %s\n", d->name, strerror(errno));
		close(fd);
		return -1;
	}
	d->fd = fd;
	return 0;
}

static int find_dev(uint32_t ip)
{
	for (unsigned i = 0; i < n_dev; i++)
		if (devs[i].ip == ip)
			return (int)i;
	return -1;
}

/* one packet read from device `in`: queue it for its destination's device */
static void take(unsigned in, const uint8_t *b, size_t len, uint64_t delay_us,
		 uint64_t jitter_us, uint64_t rate_bps)
{
	uint32_t dst;
	uint64_t t, due;
	struct pkt *p;
	int out;

	if (len < 20 || (b[0] >> 4) != 4) {
		n_other++; /* IPv6 router solicitations and the like: not forwarded */
		return;
	}
	memcpy(&dst, b + 16, 4);
	out = find_dev(dst);
	if (out < 0 || (unsigned)out == in) {
		n_noroute++;
		return;
	}
	if (heap_n >= heap_cap) {
		n_full++;
		return;
	}
	p = malloc(sizeof(*p) + len);
	if (!p) {
		n_full++;
		return;
	}
	t = now_ns();
	due = t + delay_us * 1000;
	if (jitter_us) {
		uint64_t j = rng() % (2 * jitter_us * 1000 + 1);

		/* uniform in [-jitter, +jitter], never before the arrival */
		due = due + j >= jitter_us * 1000 + t ? due + j - jitter_us * 1000 : t;
	}
	if (rate_bps) {
		struct dev *d = &devs[out];

		if (due < d->link_free_ns)
			due = d->link_free_ns;
		d->link_free_ns = due + (uint64_t)len * 8 * 1000000000u / rate_bps;
	}
	p->due_ns = due;
	p->seq = seq++;
	p->len = (uint32_t)len;
	p->out = (uint8_t)out;
	memcpy(p->data, b, len);
	heap_push(p);
}

static void release_due(uint64_t t)
{
	while (heap_n && heap[0]->due_ns <= t) {
		struct pkt *p = heap_pop();

		if (write(devs[p->out].fd, p->data, p->len) == (ssize_t)p->len)
			n_fwd++;
		else
			n_werr++;
		free(p);
	}
}

static int run(uint64_t delay_us, uint64_t jitter_us, uint64_t rate_bps)
{
	static uint8_t buf[MAX_PKT];
	struct pollfd pfd[MAX_DEV];
	sigset_t none;

	sigemptyset(&none);
	for (unsigned i = 0; i < n_dev; i++)
		pfd[i] = (struct pollfd){ .fd = devs[i].fd, .events = POLLIN };
	while (!stop) {
		struct timespec ts, *tp = NULL;
		uint64_t t = now_ns();
		int r;

		release_due(t);
		if (heap_n) {
			uint64_t w = heap[0]->due_ns > t ? heap[0]->due_ns - t : 0;

			ts.tv_sec = (time_t)(w / 1000000000u);
			ts.tv_nsec = (long)(w % 1000000000u);
			tp = &ts;
		}
		r = ppoll(pfd, n_dev, tp, &none);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "netdelay: ppoll: %s\n", strerror(errno));
			return 1;
		}
		for (unsigned i = 0; r > 0 && i < n_dev; i++) {
			if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				fprintf(stderr, "netdelay: %s: device gone\n", devs[i].name);
				return 1;
			}
			if (!(pfd[i].revents & POLLIN))
				continue;
			/* a bounded batch per device and round: no device starves the others */
			for (int k = 0; k < 64; k++) {
				ssize_t len = read(devs[i].fd, buf, sizeof(buf));

				if (len < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					fprintf(stderr, "netdelay: read %s: %s\n", devs[i].name,
						strerror(errno));
					return 1;
				}
				take(i, buf, (size_t)len, delay_us, jitter_us, rate_bps);
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t delay_us = 0, jitter_us = 0, rate_kbps = 0, limit = 10000;
	const char *ready = NULL;
	struct sigaction sa;
	sigset_t block;
	int c, rc;

	while ((c = getopt(argc, argv, "d:j:r:l:R:h")) != -1) {
		switch (c) {
		case 'd':
			if (parse_milli(optarg, 10000, &delay_us))
				return usage("-d: a delay in ms, 0 to 10000");
			break;
		case 'j':
			if (parse_milli(optarg, 10000, &jitter_us))
				return usage("-j: a jitter in ms, 0 to 10000");
			break;
		case 'r':
			if (parse_milli(optarg, 1000000, &rate_kbps))
				return usage("-r: a rate in Mbit/s, 0 (unlimited) to 1000000");
			break;
		case 'l':
			if (parse_count(optarg, &limit))
				return usage("-l: a packet count, 1 to 1000000");
			break;
		case 'R':
			ready = optarg;
			break;
		case 'h':
			return usage("a delay line between TUN devices");
		default:
			return usage("unknown option");
		}
	}
	if (argc - optind < 2 || argc - optind > MAX_DEV)
		return usage("2 to 16 NAME=IPV4 devices");
	for (int i = optind; i < argc; i++) {
		struct dev *d = &devs[n_dev];
		const char *eq = strchr(argv[i], '=');
		struct in_addr a;

		if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= IFNAMSIZ)
			return usage("NAME=IPV4: a device name of 1 to 15 characters");
		if (inet_pton(AF_INET, eq + 1, &a) != 1)
			return usage("NAME=IPV4: not an IPv4 address");
		memcpy(d->name, argv[i], (size_t)(eq - argv[i]));
		d->ip = a.s_addr;
		if (find_dev(d->ip) >= 0)
			return usage("NAME=IPV4: an address given twice");
		n_dev++;
	}
	heap_cap = (size_t)limit;
	heap = calloc(heap_cap, sizeof(*heap));
	if (!heap) {
		fprintf(stderr, "netdelay: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < n_dev; i++)
		if (open_tun(&devs[i]))
			return 1;

	/* SIGINT/SIGTERM are taken only inside ppoll(): no race with the loop's test */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* release on time: the default 50 us timer slack would add to every delay */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (!f || fclose(f)) {
			fprintf(stderr, "netdelay: %s: cannot write\n", ready);
			return 1;
		}
	}
	rc = run(delay_us, jitter_us, rate_kbps * 1000);
	while (heap_n)
		free(heap_pop());
	free(heap);
	fprintf(stderr, "netdelay: %llu forwarded, %llu without a route, %llu over the limit, "
		"%llu write errors, %llu not IPv4\n", (unsigned long long)n_fwd,
		(unsigned long long)n_noroute, (unsigned long long)n_full,
		(unsigned long long)n_werr, (unsigned long long)n_other);
	return rc;
}

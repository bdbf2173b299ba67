/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The "io" fixture of the activeswap kselftests: a device fd with an 8 MiB region,
 * mapped, and the store attached.  Include after as_test.h.
 */
#ifndef AS_FIXTURE_IO_H
#define AS_FIXTURE_IO_H

#include "as_test.h"

FIXTURE(io) {
	int fd;
	int sfd;
	uint64_t ssize;
	uint32_t align;
	uint64_t rlen;
	unsigned char *map;
};

FIXTURE_SETUP(io)
{
	struct activeswap_store_attach a;

	self->map = MAP_FAILED;
	self->fd = dev_open();
	ASSERT_LE(0, self->fd);
	self->sfd = store_fd();
	if (self->sfd < 0)
		SKIP(return, "no store at %s", store_path());
	self->rlen = 8 * MIB;
	ASSERT_EQ(0, create_region(self->fd, self->rlen, 0, ACTIVESWAP_NODE_ANY));
	ASSERT_EQ(0, attach(self->fd, self->sfd, 0, 0, &a));
	self->ssize = a.store_size;
	self->align = a.align;
	ASSERT_LE(8 * MIB, self->ssize);
	self->map = mmap(NULL, self->rlen, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map);
}

/* A SKIP in FIXTURE_SETUP does not stop the test body in this harness version. */
#define NEED_STORE()                                                           \
	do {                                                                   \
		if (self->sfd < 0 || self->map == MAP_FAILED)                  \
			SKIP(return, "no store at %s", store_path());          \
	} while (0)

FIXTURE_TEARDOWN(io)
{
	if (self->map != MAP_FAILED)
		munmap(self->map, self->rlen);
	if (self->sfd >= 0)
		close(self->sfd);
	close(self->fd);
}

#endif

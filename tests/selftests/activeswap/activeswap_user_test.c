// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of /dev/activeswap used by an unprivileged user (issue #18), with the node
 * set up as Documentation/kernel-module.md tells an administrator to: mode 0660 and a
 * group (here gid AS_DEV_GID, restored afterwards). Every test forks a child that
 * becomes uid 1000 with that group as its supplementary group, no capabilities and an
 * 8 MiB RLIMIT_MEMLOCK, and opens the device itself:
 *
 *   node_group        a member opens the node and pins memory; a non-member cannot open it
 *   fork_exit         six children of the user each create 8 MiB on one of six fds and
 *                     exit: the regions outlive them, charged to the user, so one fits
 *   exec              a region made before execve stays charged: the new image (a fresh
 *                     mm, locked_vm 0) cannot pin more until it closes the inherited fd
 *   fd_passing        an fd sent over a unix socket to another process of the user gets
 *                     no limit of its own
 *   rdonly_fd         an O_RDONLY fd cannot create regions, attach stores or submit
 *   pseudo_file_store procfs and sysfs files are refused as stores, the ext4 store is not
 *
 * The child's steps return distinct exit codes and print what failed (the harness's
 * assertions do not reach across fork).
 */
#include "as_test.h"

#include <sys/socket.h>

#define AS_UID		1000
#define AS_OTHER_UID	1001
#define AS_DEV_GID	2000	/* the device's group ("activeswap") */
#define AS_LIMIT	(8 * MIB)

/* as the user (member of the device's group or not); 0 or -1 */
static int become_user(uid_t uid, int member)
{
	struct rlimit rl = { AS_LIMIT, AS_LIMIT };
	gid_t g = AS_DEV_GID;

	if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgroups(member ? 1 : 0, &g) ||
	    setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		return -1;
	/* leaving uid 0 drops every capability (CAP_IPC_LOCK with them) */
	return geteuid() == uid && getegid() == uid ? 0 : -1;
}

/* run fn as the user in a child; its exit status, or -1 if it did not exit */
static int as_user(uid_t uid, int member, int (*fn)(void))
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid)
		_exit(become_user(uid, member) ? 99 : fn());
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

#define FAIL(code, ...)                                                   \
	do {                                                              \
		fprintf(stderr, "# " __VA_ARGS__);                        \
		fprintf(stderr, "\n");                                    \
		return code;                                              \
	} while (0)

/* The charge of a closed region returns once its context is freed (a work item). */
static int region_fits_soon(int fd, uint64_t len)
{
	int ret = -ENOMEM;

	for (int i = 0; i < 100 && ret == -ENOMEM; i++) {
		ret = create_region(fd, len, 0, ACTIVESWAP_NODE_ANY);
		if (ret == -ENOMEM)
			usleep(20 * 1000);
	}
	return ret;
}

FIXTURE(user) {
	struct stat node;
};

FIXTURE_SETUP(user)
{
	ASSERT_EQ(0, stat(ACTIVESWAP_DEVICE, &self->node));
	ASSERT_EQ(0, chown(ACTIVESWAP_DEVICE, 0, AS_DEV_GID));
	ASSERT_EQ(0, chmod(ACTIVESWAP_DEVICE, 0660));
}

FIXTURE_TEARDOWN(user)
{
	EXPECT_EQ(0, chown(ACTIVESWAP_DEVICE, self->node.st_uid, self->node.st_gid));
	EXPECT_EQ(0, chmod(ACTIVESWAP_DEVICE, self->node.st_mode & 07777));
}

static int member_opens(void)
{
	int fd = dev_open();

	if (fd < 0)
		FAIL(1, "member: open: %s", strerror(errno));
	if (create_region(fd, 1 * MIB, 0, ACTIVESWAP_NODE_ANY))
		FAIL(2, "member: 1 MiB region refused");
	close(fd);
	return 0;
}

static int other_opens(void)
{
	int fd = dev_open();

	if (fd >= 0)
		FAIL(1, "non-member opened the 0660 node");
	if (errno != EACCES)
		FAIL(2, "non-member: open: %s, not EACCES", strerror(errno));
	return 0;
}

TEST_F(user, node_group)
{
	EXPECT_EQ(0, as_user(AS_UID, 1, member_opens));
	EXPECT_EQ(0, as_user(AS_OTHER_UID, 0, other_opens));
}

static int six_children(void)
{
	int fd[6], made = 0;

	for (int i = 0; i < 6; i++) {
		fd[i] = dev_open();
		if (fd[i] < 0)
			FAIL(1, "open: %s", strerror(errno));
	}
	for (int i = 0; i < 6; i++) {
		int st;
		pid_t c = fork();

		if (c < 0)
			FAIL(2, "fork");
		if (!c)
			_exit(create_region(fd[i], AS_LIMIT, 0, ACTIVESWAP_NODE_ANY) ? 1 : 0);
		if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
			FAIL(3, "child %d", i);
		made += WEXITSTATUS(st) == 0;
	}
	if (made != 1)
		FAIL(4, "%d regions of 8 MiB pinned under an 8 MiB limit", made);
	/* closing them gives the charge back to the user */
	for (int i = 0; i < 6; i++)
		close(fd[i]);
	fd[0] = dev_open();
	if (region_fits_soon(fd[0], AS_LIMIT))
		FAIL(5, "8 MiB refused after every region was closed");
	close(fd[0]);
	return 0;
}

TEST_F(user, fork_exit)
{
	EXPECT_EQ(0, as_user(AS_UID, 1, six_children));
}

/* after execve (the constructor below runs the new image's part) */
static int after_exec(int held)
{
	int fd = dev_open(), ret;

	if (fd < 0)
		FAIL(20, "exec: open: %s", strerror(errno));
	ret = create_region(fd, AS_LIMIT, 0, ACTIVESWAP_NODE_ANY);
	if (ret != -ENOMEM)
		FAIL(21, "exec: 8 MiB more with 8 MiB held from before exec: %d, not -ENOMEM",
		     ret);
	if (create_region(fd, 4096, 0, ACTIVESWAP_NODE_ANY) != -ENOMEM)
		FAIL(22, "exec: 4 KiB over the limit accepted");
	close(held);
	if (region_fits_soon(fd, AS_LIMIT))
		FAIL(23, "exec: 8 MiB refused after the inherited region was closed");
	close(fd);
	return 0;
}

static void __attribute__((constructor)) as_exec_part(void)
{
	const char *held = getenv("AS_USER_EXEC_FD");

	if (held)
		_exit(after_exec(atoi(held)));
}

static int exec_with_region(void)
{
	char num[16];
	/* inherited across execve: no O_CLOEXEC */
	int fd = open(ACTIVESWAP_DEVICE, O_RDWR);

	if (fd < 0)
		FAIL(1, "open: %s", strerror(errno));
	if (create_region(fd, AS_LIMIT, 0, ACTIVESWAP_NODE_ANY))
		FAIL(2, "8 MiB region refused before exec");
	snprintf(num, sizeof(num), "%d", fd);
	setenv("AS_USER_EXEC_FD", num, 1);
	execl("/proc/self/exe", "activeswap_user_test", (char *)NULL);
	FAIL(3, "execl: %s", strerror(errno));
}

TEST_F(user, exec)
{
	EXPECT_EQ(0, as_user(AS_UID, 1, exec_with_region));
}

static int send_fd(int sock, int fd)
{
	char one = 1;
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char one;
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &m, 0) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* receives a device fd, tries 8 MiB on it (the sender holds 8 MiB), then again */
static int receiver(int sock)
{
	char go;
	int fd = recv_fd(sock), ret;

	if (fd < 0)
		FAIL(10, "no fd received");
	ret = create_region(fd, AS_LIMIT, 0, ACTIVESWAP_NODE_ANY);
	if (ret != -ENOMEM)
		FAIL(11, "passed fd: 8 MiB beside the sender's 8 MiB: %d, not -ENOMEM", ret);
	if (write(sock, "r", 1) != 1 || read(sock, &go, 1) != 1)
		FAIL(12, "socket");
	if (region_fits_soon(fd, AS_LIMIT))
		FAIL(13, "passed fd: 8 MiB refused after the sender closed its region");
	return 0;
}

static int pass_fd(void)
{
	int sv[2], fd, fd2, st;
	char ack;
	pid_t c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		FAIL(1, "socketpair");
	c = fork();
	if (c < 0)
		FAIL(2, "fork");
	if (!c) {
		close(sv[0]);
		_exit(receiver(sv[1]));
	}
	close(sv[1]);
	fd = dev_open();
	fd2 = dev_open();
	if (fd < 0 || fd2 < 0)
		FAIL(3, "open: %s", strerror(errno));
	if (create_region(fd, AS_LIMIT, 0, ACTIVESWAP_NODE_ANY))
		FAIL(4, "sender: 8 MiB region refused");
	if (send_fd(sv[0], fd2))
		FAIL(5, "sendmsg");
	close(fd2);
	if (read(sv[0], &ack, 1) != 1)
		FAIL(6, "receiver did not answer");
	close(fd);
	if (write(sv[0], "g", 1) != 1)
		FAIL(7, "socket");
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
		FAIL(8, "receiver died");
	return WEXITSTATUS(st);
}

TEST_F(user, fd_passing)
{
	EXPECT_EQ(0, as_user(AS_UID, 1, pass_fd));
}

static int rdonly(void)
{
	struct activeswap_extent e = { .length = 4096 };
	struct activeswap_version v = { .size = sizeof(v) };
	int fd = open(ACTIVESWAP_DEVICE, O_RDONLY | O_CLOEXEC), sfd = store_fd();
	int ret;
	uint32_t n;

	if (fd < 0 || sfd < 0)
		FAIL(1, "open: %s", strerror(errno));
	if (ioc(fd, ACTIVESWAP_IOC_VERSION, &v))
		FAIL(2, "VERSION refused on O_RDONLY");
	ret = create_region(fd, 4096, 0, ACTIVESWAP_NODE_ANY);
	if (ret != -EBADF)
		FAIL(3, "O_RDONLY CREATE_REGION: %d, not -EBADF", ret);
	if (attach(fd, sfd, 0, 0, NULL) != -EBADF)
		FAIL(4, "O_RDONLY ATTACH_STORE not -EBADF");
	if (submit(fd, &e, 1, NULL) != -EBADF)
		FAIL(5, "O_RDONLY SUBMIT not -EBADF");
	if (as_cancel(fd, ACTIVESWAP_CANCEL_ALL, 0, 0, &n) != -EBADF)
		FAIL(6, "O_RDONLY CANCEL not -EBADF");
	close(sfd);
	close(fd);
	return 0;
}

TEST_F(user, rdonly_fd)
{
	EXPECT_EQ(0, as_user(AS_UID, 1, rdonly));
}

static int pseudo_files(void)
{
	static const char *const paths[] = {
		"/proc/version", "/proc/self/status", "/sys/kernel/uevent_seqnum",
	};
	struct activeswap_extent e = { .file_offset = 65536, .length = 65536 };
	struct activeswap_completion c;
	unsigned char *map;
	int fd, sfd, ret;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		fd = dev_open();
		sfd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0 || sfd < 0)
			FAIL(1, "open %s: %s", paths[i], strerror(errno));
		ret = attach(fd, sfd, ACTIVESWAP_STORE_ALLOW_BUFFERED, 0, NULL);
		if (ret != -EINVAL)
			FAIL(2, "%s attached as a store by the user: %d", paths[i], ret);
		close(sfd);
		close(fd);
	}
	/* the real store is the user's to read: attached, and its bytes arrive */
	fd = dev_open();
	sfd = store_fd();
	if (fd < 0 || sfd < 0)
		FAIL(3, "open the store: %s", strerror(errno));
	if (create_region(fd, 65536, 0, ACTIVESWAP_NODE_ANY))
		FAIL(4, "64 KiB region refused");
	ret = attach(fd, sfd, 0, 0, NULL);
	if (ret)
		FAIL(5, "the ext4 store refused for the user: %d", ret);
	if (submit(fd, &e, 1, NULL) || reap(fd, &c, 1, 10000) || c.result != 65536)
		FAIL(6, "64 KiB read as the user failed");
	map = mmap(NULL, 65536, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED || !same_as_store(sfd, map, 0, 65536, 65536))
		FAIL(7, "bytes read as the user differ from the store");
	munmap(map, 65536);
	close(sfd);
	close(fd);
	return 0;
}

TEST_F(user, pseudo_file_store)
{
	EXPECT_EQ(0, as_user(AS_UID, 1, pseudo_files));
}

AS_TEST_ORDER()

int main(int argc, char **argv)
{
	return test_harness_run(argc, argv);
}

/* SPDX-License-Identifier: MIT */
/*
 * Unit and stress tests of sync files (src/uapi/sync_file.c): the public API,
 * the sync_file ioctls through dmasync_ioctl() with the <linux/sync_file.h>
 * structs, native poll/select/epoll on the fds, lifetime through the
 * monitor thread, fork and SCM_RIGHTS, and fences of (fake) kernel
 * sync_files.  Fences come from the emulated sw_sync device and from a
 * counted test fence type.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-unwrap.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/sw_sync.h>
#include <dmasync/sync_file.h>
#include "alloc-fail.h"
#include "file.h"
#include "sw_sync_uapi.h"
#include "test-harness.h"
#include "uapi-test.h"

/* Internal hooks (not public API). */
extern int (*uapi_kernel_sync_file_info)(int fd, struct sync_file_info *info);
void uapi_uaccess_set_mode(int mode);
bool uapi_uaccess_stack_bounds(uintptr_t *lo, uintptr_t *hi);

/* ---- helpers ------------------------------------------------------------------- */

static s64 now_ns(void)
{
	return ktime_get();
}

static void inc(int tl, u32 n)
{
	if (dmasync_ioctl(tl, SW_SYNC_IOC_INC, &n))
		abort();
}

static int try_merge(int a, int b, const char *name, u32 flags, u32 pad)
{
	struct sync_merge_data m;

	memset(&m, 0, sizeof(m));
	if (name)
		memcpy(m.name, name, strnlen(name, sizeof(m.name)));
	m.fd2 = b;
	m.fence = -1;
	m.flags = flags;
	m.pad = pad;
	if (dmasync_ioctl(a, SYNC_IOC_MERGE, &m))
		return -1;
	return m.fence;
}

static int merge(int a, int b, const char *name)
{
	return try_merge(a, b, name, 0, 0);
}

/* Count-only FILE_INFO. */
static struct sync_file_info count_info(int fd)
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	if (dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &info))
		info.num_fences = 0xdead;
	return info;
}

/* FILE_INFO with room for @max entries; returns the count or -1. */
static int full_info(int fd, struct sync_file_info *info, struct sync_fence_info *fi, int max)
{
	memset(info, 0, sizeof(*info));
	memset(fi, 0xa5, (size_t)max * sizeof(*fi));
	info->num_fences = (u32)max;
	info->sync_fence_info = (u64)(uintptr_t)fi;
	if (dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, info))
		return -1;
	return (int)info->num_fences;
}

static struct sync_fence_info one_fence(int fd)
{
	struct sync_file_info info;
	struct sync_fence_info fi[4];

	if (full_info(fd, &info, fi, 4) != 1)
		memset(fi, 0, sizeof(fi[0]));
	return fi[0];
}

static short revents(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, timeout_ms);

	return r < 0 ? -1 : p.revents;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* A counted fence type, to see exactly when sync files let go. */
static long tf_live_count;
static long tf_enable_count;

struct test_fence {
	struct dma_fence base;
	spinlock_t lock;
};

static const char *tf_driver(struct dma_fence *f)
{
	return "test";
}

static const char *tf_timeline(struct dma_fence *f)
{
	return "test-tl";
}

static bool tf_enable(struct dma_fence *f)
{
	__atomic_fetch_add(&tf_enable_count, 1, __ATOMIC_RELAXED);
	return true;
}

static void tf_release(struct dma_fence *f)
{
	__atomic_fetch_sub(&tf_live_count, 1, __ATOMIC_RELAXED);
	dma_fence_free(f);
}

static const struct dma_fence_ops tf_ops = {
	.get_driver_name = tf_driver,
	.get_timeline_name = tf_timeline,
	.enable_signaling = tf_enable,
	.release = tf_release,
};

static struct dma_fence *tf_new(u64 seqno)
{
	struct test_fence *t = calloc(1, sizeof(*t));

	spin_lock_init(&t->lock);
	dma_fence_init(&t->base, &tf_ops, &t->lock, dma_fence_context_alloc(1), seqno);
	__atomic_fetch_add(&tf_live_count, 1, __ATOMIC_RELAXED);
	return &t->base;
}

static long tf_live(void)
{
	return __atomic_load_n(&tf_live_count, __ATOMIC_RELAXED);
}

/* ---- the public API ------------------------------------------------------------- */

TEST(api_create_install_release)
{
	long live0 = tf_live();
	struct dma_fence *f = tf_new(7), *got;
	struct sync_file_info info;
	struct sync_file *sf = sync_file_create(f);
	int fd, r;

	REQUIRE(sf);
	fd = sync_file_fd(sf);
	CHECK(fd >= 0 && is_cloexec(fd));
	CHECK_EQ(kref_read(&f->refcount), 2);
	/* Signaling is enabled at creation (the kernel: at the first poll). */
	CHECK(test_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &f->flags));
	/* Not known to dmasync_ioctl() before install: the socket answers. */
	memset(&info, 0, sizeof(info));
	errno = 0;
	CHECK_EQ(dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, ENOTTY);
	CHECK(sync_file_get_fence(fd) == NULL);

	r = sync_file_install(sf);
	CHECK_EQ(r, fd);
	got = sync_file_get_fence(fd);
	CHECK(got == f);
	dma_fence_put(got);
	CHECK_EQ(count_info(fd).num_fences, 1);
	dma_fence_put(f);
	CHECK_EQ(tf_live(), live0 + 1); /* the sync file's reference */

	/* Closing the fd is all it takes; the monitor thread releases it. */
	close(fd);
	CHECK(WAIT_UNTIL(tf_live() == live0, 2000));
}

TEST(api_discard_and_create_fd)
{
	long live0 = tf_live();
	struct dma_fence *f = tf_new(1);
	struct sync_file *sf = sync_file_create(f);
	int fd;

	REQUIRE(sf);
	fd = sync_file_fd(sf);
	sync_file_discard(sf);
	CHECK(!fd_is_open(fd));
	CHECK_EQ(kref_read(&f->refcount), 1);
	sync_file_discard(NULL);

	fd = sync_file_create_fd(f);
	CHECK(fd >= 0 && is_cloexec(fd));
	dma_fence_put(f);
	CHECK_EQ(tf_live(), live0 + 1);
	close(fd);
	CHECK(WAIT_UNTIL(tf_live() == live0, 2000));
}

TEST(api_create_null_warns)
{
	EXPECT_WARNINGS();
	errno = 0;
	CHECK(sync_file_create(NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(sync_file_create_fd(NULL), -EINVAL);
}

TEST(api_get_fence_rejects_other_fds)
{
	int p[2], sv[2], tl = open_tl();
	int mfd = memfd_create("x", MFD_CLOEXEC);

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(sync_file_get_fence(-1) == NULL);
	CHECK(sync_file_get_fence(-1000) == NULL);
	CHECK(sync_file_get_fence(closed_fd()) == NULL);
	CHECK(sync_file_get_fence(1 << 20) == NULL);
	CHECK(sync_file_get_fence(p[0]) == NULL);
	CHECK(sync_file_get_fence(p[1]) == NULL);
	CHECK(sync_file_get_fence(mfd) == NULL);
	CHECK(sync_file_get_fence(sv[0]) == NULL);
	CHECK(sync_file_get_fence(tl) == NULL);
	CHECK(sync_file_get_name(tl, (char[32]){ 0 }, 32) == NULL);
	CHECK(sync_file_get_name(p[0], (char[32]){ 0 }, 32) == NULL);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(mfd);
	close(tl);
}

TEST(api_names)
{
	struct dma_fence *f = tf_new(42), *neg = tf_new((u64)-1);
	char buf[64], exp[64];
	int fd = sync_file_create_fd(f), fn = sync_file_create_fd(neg), m;

	REQUIRE(fd >= 0 && fn >= 0);
	snprintf(exp, sizeof(exp), "test-test-tl%llu-42", (unsigned long long)f->context);
	CHECK_STR(sync_file_get_name(fd, buf, sizeof(buf)), exp);
	/* FILE_INFO truncates to its 32-byte field. */
	CHECK_STR(count_info(fd).name, exp);
	/* The seqno is printed signed, like the kernel's %lld. */
	snprintf(exp, sizeof(exp), "test-test-tl%llu--1", (unsigned long long)neg->context);
	CHECK_STR(sync_file_get_name(fn, buf, sizeof(buf)), exp);
	/* A short buffer gets a NUL-terminated prefix. */
	CHECK_STR(sync_file_get_name(fd, buf, 6), "test-");
	m = merge(fd, fd, "merged");
	CHECK_STR(sync_file_get_name(m, buf, sizeof(buf)), "merged");
	dma_fence_signal(f);
	dma_fence_signal(neg);
	dma_fence_put(f);
	dma_fence_put(neg);
	close(fd);
	close(fn);
	close(m);
}

/* ---- poll, select, epoll --------------------------------------------------------- */

TEST(poll_nothing_then_pollin_sticky)
{
	int tl = open_tl(), f = create_fence(tl, 1);
	fd_set r, w, x;
	struct timeval tv = { 0, 0 };
	char c;

	REQUIRE(f >= 0);
	CHECK_EQ(revents(f, POLLIN, 0), 0);
	CHECK_EQ(revents(f, POLLIN | POLLOUT | POLLPRI, 0), 0);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_ZERO(&x);
	FD_SET(f, &r);
	FD_SET(f, &w);
	FD_SET(f, &x);
	CHECK_EQ(select(f + 1, &r, &w, &x, &tv), 0);

	inc(tl, 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(revents(f, POLLIN | POLLOUT | POLLPRI, 0), POLLIN);
	CHECK_EQ(revents(f, POLLOUT, 0), 0);
	/* A reader may take its signal record (FILE_INFO then asks), never
	 * the readiness. */
	for (int i = 0; i < 100000 && read(f, &c, 1) == 1; i++)
		;
	CHECK_EQ(read(f, &c, 1), 0);
	CHECK_EQ(revents(f, POLLIN, 0), POLLIN);
	CHECK_EQ(count_info(f).status, 1);
	/* Nor a writer (the buffer is full; the fd is non-blocking). */
	CHECK_EQ(write(f, "x", 1), -1);
	CHECK_EQ(revents(f, POLLIN | POLLOUT, 0), POLLIN);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_ZERO(&x);
	FD_SET(f, &r);
	FD_SET(f, &w);
	FD_SET(f, &x);
	CHECK_EQ(select(f + 1, &r, &w, &x, &tv), 1);
	CHECK(FD_ISSET(f, &r) && !FD_ISSET(f, &w) && !FD_ISSET(f, &x));
	close(f);
	close(tl);
}

TEST(poll_error_signal_is_readable)
{
	struct dma_fence *fence = tf_new(1);
	int fd = sync_file_create_fd(fence);

	REQUIRE(fd >= 0);
	dma_fence_set_error(fence, -EIO);
	dma_fence_signal(fence);
	CHECK_EQ(revents(fd, POLLIN, 0), POLLIN);
	CHECK_EQ(count_info(fd).status, -EIO);
	CHECK_EQ(one_fence(fd).status, -EIO);
	dma_fence_put(fence);
	close(fd);
}

struct delayed_inc {
	pthread_t th;
	int tl, ms;
};

static void *delayed_inc_fn(void *arg)
{
	struct delayed_inc *d = arg;

	sleep_ms(d->ms);
	inc(d->tl, 1);
	return NULL;
}

TEST(poll_blocks_until_signal)
{
	int tl = open_tl(), f = create_fence(tl, 1);
	struct delayed_inc d = { .tl = tl, .ms = 60 };
	s64 t0 = now_ns();

	REQUIRE(pthread_create(&d.th, NULL, delayed_inc_fn, &d) == 0);
	CHECK_EQ(revents(f, POLLIN, 5000), POLLIN);
	CHECK(now_ns() - t0 >= 50 * 1000000ll);
	pthread_join(d.th, NULL);
	close(f);
	close(tl);
}

TEST(epoll_level_edge_and_data)
{
	int tl = open_tl(), f = create_fence(tl, 1), done = create_fence(tl, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC), et = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev, out[4];
	struct delayed_inc d = { .tl = tl, .ms = 30 };

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = 0x1234567890abcdefull;
	REQUIRE(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev) == 0);
	ev.events = EPOLLIN | EPOLLET;
	REQUIRE(epoll_ctl(et, EPOLL_CTL_ADD, f, &ev) == 0);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_EQ(epoll_wait(et, out, 4, 0), 0);
	REQUIRE(pthread_create(&d.th, NULL, delayed_inc_fn, &d) == 0);
	CHECK_EQ(epoll_wait(ep, out, 4, 5000), 1);
	pthread_join(d.th, NULL);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK(out[0].data.u64 == 0x1234567890abcdefull);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(epoll_wait(et, out, 4, 0), 1);
	CHECK(out[0].data.u64 == 0x1234567890abcdefull);
	CHECK_EQ(epoll_wait(et, out, 4, 0), 0);
	/* Already signaled: ready at once, and EPOLLOUT never. */
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u64 = 42;
	REQUIRE(epoll_ctl(ep, EPOLL_CTL_ADD, done, &ev) == 0);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 2);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK_EQ(out[1].events, EPOLLIN);
	CHECK(out[0].data.u64 == 42 || out[1].data.u64 == 42);
	close(ep);
	close(et);
	close(f);
	close(done);
	close(tl);
}

TEST(poll_op_for_wrappers)
{
	int tl = open_tl(), f = create_fence(tl, 1);
	struct uapi_file *file = uapi_file_lookup(f);

	REQUIRE(file && file->ops->poll);
	CHECK_EQ(file->ops->poll(file, POLLIN | POLLOUT | POLLRDNORM), 0);
	inc(tl, 1);
	CHECK_EQ(file->ops->poll(file, POLLIN | POLLOUT | POLLRDNORM), POLLIN);
	CHECK_EQ(file->ops->poll(file, POLLOUT), 0);
	uapi_file_put(file);
	close(f);
	close(tl);
}

/* ---- lifetime ------------------------------------------------------------------------ */

TEST(release_waits_for_the_last_dup)
{
	long live0 = tf_live();
	struct dma_fence *f = tf_new(1);
	int fd = sync_file_create_fd(f), d1, d2;

	REQUIRE(fd >= 0);
	dma_fence_put(f);
	d1 = dup(fd);
	d2 = fcntl(fd, F_DUPFD_CLOEXEC, 100);
	close(fd);
	close(d1);
	sleep_ms(30);
	CHECK_EQ(tf_live(), live0 + 1);
	/* A dup is as good as the original. */
	CHECK_EQ(count_info(d2).num_fences, 1);
	CHECK_EQ(revents(d2, POLLIN, 0), 0);
	dma_fence_signal(f);
	CHECK_EQ(revents(d2, POLLIN, 0), POLLIN);
	CHECK_EQ(tf_live(), live0 + 1);
	close(d2);
	CHECK(WAIT_UNTIL(tf_live() == live0, 2000));
}

TEST(release_of_sw_sync_points)
{
	unsigned int files0 = uapi_files_count();
	int tl = open_tl(), f[8];
	struct dma_fence *pt[8];

	for (int i = 0; i < 8; i++) {
		f[i] = create_fence(tl, (u32)i + 1);
		pt[i] = sync_file_get_fence(f[i]);
		REQUIRE(pt[i]);
	}
	CHECK_EQ(uapi_files_count(), files0 + 9);
	for (int i = 0; i < 8; i++)
		close(f[i]);
	close(tl);
	CHECK(WAIT_UNTIL(uapi_files_count() == files0, 2000));
	for (int i = 0; i < 8; i++) {
		/* Ours is the only reference left; the timeline's close failed it. */
		CHECK_EQ(kref_read(&pt[i]->refcount), 1);
		CHECK_EQ(dma_fence_get_status(pt[i]), -ENOENT);
		dma_fence_put(pt[i]);
	}
}

/*
 * Creators drain pending hang-ups once the installed objects have doubled
 * since the last drain.  After a burst of live objects has gone, the next
 * creation sets the threshold from what is live now: it used to stay at
 * twice the burst, so a later backlog of closed objects could grow that
 * far before anyone drained it.
 */
TEST(drain_threshold_follows_the_live_objects)
{
	unsigned int files0 = uapi_files_count();
	int fds[300], fd;

	for (int i = 0; i < 300; i++) {
		struct dma_fence *f = tf_new(1);

		fds[i] = sync_file_create_fd(f);
		dma_fence_put(f);
		REQUIRE(fds[i] >= 0);
	}
	/* The burst's drains raised it (at 64, 128, 256 installed). */
	CHECK(uapi_files_drain_threshold() >= 512);
	for (int i = 0; i < 300; i++)
		close(fds[i]);
	CHECK(WAIT_UNTIL(uapi_files_count() == files0, 5000));
	{
		struct dma_fence *f = tf_new(1);

		fd = sync_file_create_fd(f);
		dma_fence_put(f);
	}
	REQUIRE(fd >= 0);
	CHECK_EQ(uapi_files_drain_threshold(), 64);
	close(fd);
	CHECK(WAIT_UNTIL(uapi_files_count() == files0, 2000));
}

TEST(release_synchronously_with_reap)
{
	long live0 = tf_live();
	struct dma_fence *f = tf_new(1);
	int fd = sync_file_create_fd(f);

	dma_fence_put(f);
	close(fd);
	/* Either the monitor or this call releases it; both are fine. */
	for (int i = 0; i < 2000 && tf_live() != live0; i++) {
		uapi_files_reap();
		sleep_ms(1);
	}
	CHECK_EQ(tf_live(), live0);
}

/* Child: exit 0 if @fd first polls not readable, then readable in time. */
static void child_wait_readable(int fd, int notify)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int code = 0;

	if (poll(&p, 1, 0) != 0)
		code |= 2;
	if (notify >= 0 && write(notify, "r", 1) != 1)
		code |= 4;
	p.revents = 0;
	if (poll(&p, 1, 5000) != 1 || p.revents != POLLIN)
		code |= 8;
	_exit(code);
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(fork_child_sees_the_parents_signal)
{
	long live0 = tf_live();
	struct dma_fence *f = tf_new(1);
	int fd = sync_file_create_fd(f), p[2];
	pid_t pid;
	char c;

	REQUIRE(fd >= 0 && pipe2(p, O_CLOEXEC) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		child_wait_readable(fd, p[1]);
	CHECK_EQ(read(p[0], &c, 1), 1);
	/* Our copy can go: the child's copy keeps the sync file alive. */
	close(fd);
	sleep_ms(50);
	CHECK_EQ(tf_live(), live0 + 1);
	dma_fence_signal(f);
	dma_fence_put(f);
	CHECK_EQ(wait_child(pid), 0);
	CHECK(WAIT_UNTIL(tf_live() == live0, 2000));
	close(p[0]);
	close(p[1]);
}

static int send_fd(int sock, int fd)
{
	char data = 'f';
	struct iovec iov = { &data, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg;
	struct cmsghdr *cm;

	memset(&u, 0, sizeof(u));
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char data;
	struct iovec iov = { &data, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg;
	struct cmsghdr *cm;
	int fd = -1;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

TEST(scm_rights_child_sees_the_signal)
{
	int sv[2], tl, f;
	pid_t pid;
	char c;

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	tl = open_tl();
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int fd = recv_fd(sv[1]);

		if (fd < 0)
			_exit(16);
		if (!is_cloexec(fd))
			_exit(32);
		child_wait_readable(fd, sv[1]);
	}
	f = create_fence(tl, 1);
	REQUIRE(f >= 0 && send_fd(sv[0], f) == 0);
	CHECK_EQ(read(sv[0], &c, 1), 1);
	sleep_ms(20);
	inc(tl, 1);
	CHECK_EQ(wait_child(pid), 0);
	close(f);
	close(tl);
	close(sv[0]);
	close(sv[1]);
}

/*
 * A fork child that signals its copy of a fence must not shut down the
 * parent's watch socket's fd number, which the child may have reused.
 */
TEST(fork_child_signal_leaves_reused_fds_alone)
{
	struct dma_fence *f = tf_new(1);
	int fd = sync_file_create_fd(f);
	pid_t pid;

	REQUIRE(fd >= 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int code = 0, s[2][2];

		/* The registry closed our copies of its sockets: take their numbers. */
		for (int i = 0; i < 2; i++)
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, s[i]))
				_exit(1);
		dma_fence_signal(f);
		for (int i = 0; i < 2; i++) {
			struct pollfd p[2] = { { s[i][0], POLLIN | POLLRDHUP, 0 },
					       { s[i][1], POLLIN | POLLRDHUP, 0 } };

			if (poll(p, 2, 0) != 0)
				code |= 2;
		}
		/* The parent's sync file is not signaled by the child. */
		if (poll(&(struct pollfd){ fd, POLLIN, 0 }, 1, 0) != 0)
			code |= 4;
		_exit(code);
	}
	CHECK_EQ(wait_child(pid), 0);
	CHECK_EQ(revents(fd, POLLIN, 0), 0);
	dma_fence_signal(f);
	CHECK_EQ(revents(fd, POLLIN, 0), POLLIN);
	dma_fence_put(f);
	close(fd);
}

/* ---- SYNC_IOC_MERGE ------------------------------------------------------------------ */

TEST(merge_two_timelines)
{
	int t1 = open_tl(), t2 = open_tl();
	int a = create_fence(t1, 1), b = create_fence(t2, 1), m = merge(a, b, "merged-ab");
	struct sync_file_info info;
	struct sync_fence_info fi[4];
	char comm[17] = "";

	REQUIRE(m >= 0);
	prctl(PR_GET_NAME, comm);
	CHECK(is_cloexec(m));
	REQUIRE(full_info(m, &info, fi, 4) == 2);
	CHECK_STR(info.name, "merged-ab");
	CHECK_EQ(info.status, 0);
	CHECK_STR(fi[0].obj_name, comm);
	CHECK_STR(fi[1].driver_name, "sw_sync");
	CHECK_EQ(revents(m, POLLIN, 0), 0);
	inc(t1, 1);
	CHECK_EQ(revents(m, POLLIN, 0), 0);
	inc(t2, 1);
	CHECK_EQ(revents(m, POLLIN, 0), POLLIN);
	CHECK_EQ(count_info(a).num_fences, 1);
	CHECK_EQ(count_info(b).num_fences, 1);
	close(a);
	close(b);
	close(m);
	close(t1);
	close(t2);
}

TEST(merge_same_timeline_keeps_later)
{
	int tl = open_tl(), a = create_fence(tl, 1), b = create_fence(tl, 3);
	int ab = merge(a, b, "ab"), ba = merge(b, a, "ba");

	CHECK_EQ(count_info(ab).num_fences, 1);
	CHECK_EQ(count_info(ba).num_fences, 1);
	inc(tl, 1);
	CHECK_EQ(revents(ab, POLLIN, 0), 0);
	CHECK_EQ(revents(ba, POLLIN, 0), 0);
	inc(tl, 2);
	CHECK_EQ(revents(ab, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(ba, POLLIN, 0), POLLIN);
	close(a);
	close(b);
	close(ab);
	close(ba);
	close(tl);
}

TEST(merge_drops_signaled_and_stubs_all_signaled)
{
	int t1 = open_tl(), t2 = open_tl();
	int a = create_fence(t1, 1), b = create_fence(t2, 1), m, all;
	struct sync_file_info info;
	struct sync_fence_info fi[4], fb;

	inc(t1, 1);
	m = merge(a, b, "one-left");
	CHECK_EQ(count_info(m).num_fences, 1);
	CHECK_EQ(count_info(m).status, 0);
	sleep_ms(2);
	inc(t2, 1);
	fb = one_fence(b);
	CHECK(fb.timestamp_ns > one_fence(a).timestamp_ns);
	all = merge(a, b, "all-done");
	REQUIRE(full_info(all, &info, fi, 4) == 1);
	CHECK_STR(info.name, "all-done");
	CHECK_EQ(info.status, 1);
	CHECK_STR(fi[0].obj_name, "stub");
	CHECK_STR(fi[0].driver_name, "stub");
	CHECK_EQ(fi[0].status, 1);
	CHECK_EQ(fi[0].flags, 0);
	CHECK(fi[0].timestamp_ns == fb.timestamp_ns);
	CHECK_EQ(revents(all, POLLIN, 0), POLLIN);
	CHECK(is_cloexec(all));
	close(a);
	close(b);
	close(m);
	close(all);
	close(t1);
	close(t2);
}

TEST(merge_self_and_nested)
{
	int t1 = open_tl(), t2 = open_tl(), t3 = open_tl();
	int a = create_fence(t1, 1), self = merge(a, a, "self");
	int b = create_fence(t2, 1), c = create_fence(t3, 1), d = create_fence(t1, 2);
	int m12 = merge(a, b, "m12"), m123 = merge(m12, c, "m123");
	int m1212 = merge(m12, m12, "m1212"), mx = merge(m123, d, "mx");

	CHECK_EQ(count_info(self).num_fences, 1);
	CHECK_STR(count_info(self).name, "self");
	CHECK_EQ(count_info(m123).num_fences, 3);
	CHECK_EQ(count_info(m1212).num_fences, 2);
	CHECK_EQ(count_info(mx).num_fences, 3);
	inc(t1, 1);
	CHECK_EQ(revents(self, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(mx, POLLIN, 0), 0); /* t1:2 replaced t1:1 */
	inc(t2, 1);
	inc(t3, 1);
	CHECK_EQ(revents(m123, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(mx, POLLIN, 0), 0);
	inc(t1, 1);
	CHECK_EQ(revents(mx, POLLIN, 0), POLLIN);
	close(a);
	close(self);
	close(b);
	close(c);
	close(d);
	close(m12);
	close(m123);
	close(m1212);
	close(mx);
	close(t1);
	close(t2);
	close(t3);
}

TEST(merge_names_and_ignored_fence_field)
{
	int t1 = open_tl(), t2 = open_tl(), a = create_fence(t1, 1), b = create_fence(t2, 1);
	struct sync_merge_data md;
	char name[32], an[32], exp[32];
	int m;

	/* 32 bytes without a NUL: cut to 31. */
	memset(&md, 0, sizeof(md));
	memset(md.name, 'x', sizeof(md.name));
	md.fd2 = b;
	REQUIRE(dmasync_ioctl(a, SYNC_IOC_MERGE, &md) == 0);
	memset(exp, 'x', 31);
	exp[31] = 0;
	CHECK_STR(count_info(md.fence).name, exp);
	close(md.fence);

	/* Empty: the merged fence's own name (an array here ...). */
	m = merge(a, b, "");
	snprintf(name, sizeof(name), "%s", count_info(m).name);
	CHECK(strncmp(name, "dma_fence_array-unbound", 23) == 0);
	CHECK(strlen(name) > 25 && !strcmp(name + strlen(name) - 2, "-1"));
	close(m);
	/* ... or the single fence left). */
	m = merge(a, a, "");
	snprintf(an, sizeof(an), "%s", count_info(a).name);
	CHECK_STR(count_info(m).name, an);
	close(m);

	/* The .fence input is ignored; the result is a new fd. */
	memset(&md, 0, sizeof(md));
	strcpy(md.name, "in");
	md.fd2 = b;
	md.fence = 12345;
	REQUIRE(dmasync_ioctl(a, SYNC_IOC_MERGE, &md) == 0);
	CHECK(md.fence >= 0 && md.fence != 12345 && md.fence != a && md.fence != b);
	CHECK_STR(md.name, "in");
	CHECK_EQ(md.fd2, b);
	close(md.fence);
	close(a);
	close(b);
	close(t1);
	close(t2);
}

TEST(merge_bad_args)
{
	int tl = open_tl(), a = create_fence(tl, 1), p[2];
	int mfd = memfd_create("x", MFD_CLOEXEC);
	unsigned int files0 = uapi_files_count();
	struct sync_merge_data md;
	void *ro;

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	errno = 0;
	CHECK_EQ(try_merge(a, a, "f", 1, 0), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(try_merge(a, a, "p", 0, 1), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(try_merge(a, a, "fp", 0x80000000u, 0xffffffffu), -1);
	CHECK_EQ(errno, EINVAL);
	{
		int bad[] = { p[0], p[1], -1, tl, mfd, closed_fd(), 1 << 20 };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			errno = 0;
			CHECK_EQ(try_merge(a, bad[i], "bad", 0, 0), -1);
			CHECK_EQ(errno, ENOENT);
		}
	}
	errno = 0;
	CHECK_EQ(dmasync_ioctl(a, SYNC_IOC_MERGE, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(dmasync_ioctl(a, SYNC_IOC_MERGE, (void *)8), -1);
	CHECK_EQ(errno, EFAULT);
	/* Readable but not writable: fails at copy-out, the new fd is gone. */
	memset(&md, 0, sizeof(md));
	md.fd2 = a;
	ro = ro_page(&md, sizeof(md));
	CHECK_EQ(dmasync_ioctl(a, SYNC_IOC_MERGE, ro), -1);
	CHECK_EQ(errno, EFAULT);
	munmap(ro, PAGE);
	/* The struct straddling into an unmapped page. */
	{
		char *two = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		REQUIRE(two != MAP_FAILED);
		munmap(two + PAGE, PAGE);
		CHECK_EQ(dmasync_ioctl(a, SYNC_IOC_MERGE, two + PAGE - 16), -1);
		CHECK_EQ(errno, EFAULT);
		munmap(two, PAGE);
	}
	CHECK_EQ(uapi_files_count(), files0);
	/* MERGE on something that is not a sync file. */
	CHECK_EQ(try_merge(p[0], a, "x", 0, 0), -1);
	CHECK_EQ(errno, ENOTTY);
	CHECK_EQ(try_merge(tl, a, "x", 0, 0), -1);
	CHECK_EQ(errno, ENOTTY);
	CHECK_EQ(try_merge(closed_fd(), a, "x", 0, 0), -1);
	CHECK_EQ(errno, EBADF);
	close(p[0]);
	close(p[1]);
	close(mfd);
	close(a);
	close(tl);
}

/* ---- SYNC_IOC_FILE_INFO ------------------------------------------------------------- */

TEST(file_info_two_call_protocol)
{
	int t1 = open_tl(), t2 = open_tl(), t3 = open_tl();
	int f1 = create_fence(t1, 1), f2 = create_fence(t2, 1), f3 = create_fence(t3, 1);
	int m12 = merge(f1, f2, "m12"), m = merge(m12, f3, "merged-3");
	struct sync_file_info info;
	struct sync_fence_info fi[10];

	memset(&info, 0, sizeof(info));
	info.sync_fence_info = 0xdead;
	memset(info.name, 'z', sizeof(info.name));
	REQUIRE(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info) == 0);
	CHECK_EQ(info.num_fences, 3);
	CHECK_EQ(info.status, 0);
	CHECK_STR(info.name, "merged-3");
	CHECK_EQ(info.name[9], 'z'); /* not padded, like the kernel's strscpy */
	CHECK_EQ(info.sync_fence_info, 0xdead);

	memset(fi, 0x5a, sizeof(fi));
	memset(&info, 0, sizeof(info));
	info.num_fences = 3;
	info.sync_fence_info = (u64)(uintptr_t)fi;
	REQUIRE(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info) == 0);
	CHECK_EQ(info.num_fences, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_STR(fi[i].driver_name, "sw_sync");
		CHECK_EQ(fi[i].flags, 0);
		CHECK_EQ(fi[i].obj_name[31], 0);
		CHECK_EQ(fi[i].driver_name[31], 0); /* zero-filled */
	}
	memset(fi, 0x5a, sizeof(fi));
	info.num_fences = 10;
	REQUIRE(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info) == 0);
	CHECK_EQ(info.num_fences, 3);
	CHECK_EQ(((unsigned char *)&fi[3])[0], 0x5a);
	CHECK_EQ(fi[9].flags, 0x5a5a5a5a);
	info.num_fences = 2;
	errno = 0;
	CHECK_EQ(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EINVAL);
	info.num_fences = 1;
	CHECK_EQ(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EINVAL);
	CLOSE_ALL(f1, f2, f3, m12, m, t1, t2, t3);
}

TEST(file_info_fields_and_timestamps)
{
	int tl = open_tl(), f = create_fence(tl, 1), g = create_fence(tl, 2);
	struct sync_fence_info fi;
	char comm[17] = "";
	s64 t0, t1;

	prctl(PR_GET_NAME, comm);
	fi = one_fence(f);
	CHECK_STR(fi.obj_name, comm);
	CHECK_STR(fi.driver_name, "sw_sync");
	CHECK_EQ(fi.status, 0);
	CHECK_EQ(fi.flags, 0);
	CHECK_EQ(fi.timestamp_ns, 0);
	CHECK_EQ(one_fence(f).status, 0);

	t0 = now_ns();
	inc(tl, 1);
	t1 = now_ns();
	fi = one_fence(f);
	CHECK_EQ(fi.status, 1);
	CHECK((s64)fi.timestamp_ns >= t0 && (s64)fi.timestamp_ns <= t1);
	CHECK_EQ(one_fence(f).timestamp_ns, fi.timestamp_ns);
	CHECK_EQ(one_fence(g).timestamp_ns, 0);
	close(tl);
	/* The monitor destroys the timeline: pending points fail with -ENOENT. */
	CHECK_EQ(revents(g, POLLIN, 5000), POLLIN);
	fi = one_fence(g);
	CHECK_EQ(fi.status, -ENOENT);
	CHECK(fi.timestamp_ns != 0);
	close(f);
	close(g);
}

TEST(file_info_status_aggregate)
{
	int t1 = open_tl(), t2 = open_tl();
	int a = create_fence(t1, 1), b = create_fence(t2, 1), m = merge(a, b, "agg");
	struct sync_file_info info;
	struct sync_fence_info fi[4];

	CHECK_EQ(count_info(m).status, 0);
	inc(t2, 1);
	REQUIRE(full_info(m, &info, fi, 4) == 2);
	CHECK_EQ(info.status, 0);
	CHECK_EQ(fi[0].status + fi[1].status, 1);
	inc(t1, 1);
	REQUIRE(full_info(m, &info, fi, 4) == 2);
	CHECK_EQ(info.status, 1);
	CHECK_EQ(count_info(m).status, 1);
	CLOSE_ALL(a, b, m, t1, t2);
}

TEST(file_info_first_error_wins)
{
	struct dma_fence *x = tf_new(1), *y = tf_new(1), *m;
	struct sync_file_info info;
	struct sync_fence_info fi[4];
	int fd;

	m = dma_fence_unwrap_merge(x, y);
	REQUIRE(m);
	fd = sync_file_create_fd(m);
	dma_fence_put(m);
	REQUIRE(fd >= 0);
	dma_fence_set_error(y, -EIO);
	dma_fence_signal(y);
	REQUIRE(full_info(fd, &info, fi, 4) == 2);
	CHECK_EQ(info.status, 0);
	dma_fence_set_error(x, -ETIMEDOUT);
	dma_fence_signal(x);
	REQUIRE(full_info(fd, &info, fi, 4) == 2);
	/* Entries in unwrap order; the first non-positive status is reported. */
	CHECK_EQ(info.status, fi[0].status);
	CHECK(info.status == -EIO || info.status == -ETIMEDOUT);
	CHECK_EQ(revents(fd, POLLIN, 0), POLLIN);
	dma_fence_put(x);
	dma_fence_put(y);
	close(fd);
}

TEST(file_info_bad_args)
{
	int tl = open_tl(), f = create_fence(tl, 1);
	struct sync_file_info info;
	void *ro;

	memset(&info, 0, sizeof(info));
	info.flags = 1;
	errno = 0;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EINVAL);
	info.flags = 0;
	info.pad = 1;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EINVAL);
	info.pad = 0;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_FILE_INFO, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	info.num_fences = 1;
	info.sync_fence_info = 8;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EFAULT);
	info.num_fences = 0;
	ro = ro_page(&info, sizeof(info));
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_FILE_INFO, ro), -1);
	CHECK_EQ(errno, EFAULT);
	/* Entries into a read-only buffer. */
	info.num_fences = 1;
	info.sync_fence_info = (u64)(uintptr_t)ro;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EFAULT);
	munmap(ro, PAGE);
	close(f);
	close(tl);
}

/* ---- SYNC_IOC_SET_DEADLINE and unknown requests ---------------------------------------- */

TEST(set_deadline)
{
	int tl = open_tl(), f = create_fence(tl, 1), m;
	struct sync_set_deadline dl = { .deadline_ns = 5000000000ull, .pad = 0 };
	struct dma_fence *fence = sync_file_get_fence(f);
	ktime_t got = 0;

	REQUIRE(fence);
	CHECK_EQ(sync_pt_get_deadline(fence, &got), -ENOENT);
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl), 0);
	CHECK_EQ(sync_pt_get_deadline(fence, &got), 0);
	CHECK_EQ(got, 5000000000ll);
	dl.deadline_ns = 7000000000ull;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl), 0);
	CHECK_EQ(sync_pt_get_deadline(fence, &got), 0);
	CHECK_EQ(got, 5000000000ll); /* the earliest stays */
	/* Through a merge (forwarded to the members). */
	m = merge(f, f, "m");
	dl.deadline_ns = 4000000000ull;
	CHECK_EQ(dmasync_ioctl(m, SYNC_IOC_SET_DEADLINE, &dl), 0);
	CHECK_EQ(sync_pt_get_deadline(fence, &got), 0);
	CHECK_EQ(got, 4000000000ll);
	dl.pad = 1;
	errno = 0;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_SET_DEADLINE, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	inc(tl, 1);
	dl.pad = 0;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl), 0); /* signaled: a no-op */
	dma_fence_put(fence);
	close(m);
	close(f);
	close(tl);
}

TEST(unknown_requests_are_enotty)
{
	int tl = open_tl(), f = create_fence(tl, 1);
	char buf[256];
	u32 one = 1;

	memset(buf, 0, sizeof(buf));
	errno = 0;
#define CHECK_ENOTTY(req, arg)                                                 \
	do {                                                                   \
		errno = 0;                                                     \
		CHECK_EQ(dmasync_ioctl(f, (req), (arg)), -1);                  \
		CHECK_EQ(errno, ENOTTY);                                       \
	} while (0)
	CHECK_ENOTTY(_IO('>', 9), 0);
	CHECK_ENOTTY(_IOWR('>', 0, struct sync_merge_data), buf);
	CHECK_ENOTTY(_IOWR('>', 1, struct sync_merge_data), buf);
	CHECK_ENOTTY(_IOWR('>', 2, struct sync_file_info), buf);
	/* Right number, wrong size or direction. */
	CHECK_ENOTTY(_IOWR('>', 3, u32), buf);
	CHECK_ENOTTY(_IOR('>', 4, struct sync_file_info), buf);
	CHECK_ENOTTY(SW_SYNC_IOC_INC, &one);
	CHECK_ENOTTY(SW_SYNC_IOC_CREATE_FENCE, buf);
	CHECK_ENOTTY(SW_SYNC_GET_DEADLINE, buf);
	CHECK_ENOTTY(_IOW('b', 0, u64), buf);
#undef CHECK_ENOTTY
	errno = 0;
	CHECK_EQ(dmasync_ioctl(closed_fd(), SYNC_IOC_FILE_INFO, buf), -1);
	CHECK_EQ(errno, EBADF);
	close(f);
	close(tl);
}

/* With RLIMIT_NOFILE exhausted the fd is reserved before anything is checked. */
TEST(fds_exhausted_emfile_first)
{
	int tl = open_tl(), f = create_fence(tl, 1), hi = 0, n = 0, *extra;
	struct rlimit old, lim;
	struct sw_sync_create_fence_data d;

	REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			hi = fd;
	extra = calloc(4096, sizeof(int));
	lim = old;
	lim.rlim_cur = (rlim_t)hi + 1;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
	for (int fd; n < 4096 && (fd = dup(0)) >= 0;)
		extra[n++] = fd;

	memset(&d, 0, sizeof(d));
	d.value = 2;
	errno = 0;
	CHECK_EQ(dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d), -1);
	CHECK_EQ(errno, EMFILE);
	CHECK_EQ(dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, NULL), -1);
	CHECK_EQ(errno, EMFILE);
	CHECK_EQ(try_merge(f, f, "m", 0, 0), -1);
	CHECK_EQ(errno, EMFILE);
	CHECK_EQ(try_merge(f, f, "m", 1, 0), -1);
	CHECK_EQ(errno, EMFILE);
	CHECK_EQ(try_merge(f, -1, "m", 0, 0), -1);
	CHECK_EQ(errno, EMFILE);
	CHECK_EQ(dmasync_open(SW_SYNC_DEVICE_PATH, O_RDWR | O_CLOEXEC), -1);
	CHECK_EQ(errno, EMFILE);
	{
		struct dma_fence *stub = dma_fence_get_stub();

		CHECK(sync_file_create(stub) == NULL);
		CHECK_EQ(errno, EMFILE);
		dma_fence_put(stub);
	}
	CHECK_EQ(count_info(f).num_fences, 1);
	/* One free slot is not enough for us (two sockets per sync file). */
	lim.rlim_cur++;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
	CHECK_EQ(try_merge(f, f, "m", 0, 0), -1);
	CHECK_EQ(errno, EMFILE);

	while (n)
		close(extra[--n]);
	free(extra);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	close(f);
	close(tl);
}

/* ---- uaccess: every copy mode -------------------------------------------------------- */

static void uaccess_cases(void)
{
	int tl = open_tl(), f = create_fence(tl, 1), m;
	char *two = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	struct sync_merge_data md;
	struct sync_file_info info;
	u32 one = 1;
	void *ro;

	REQUIRE(two != MAP_FAILED);
	m = merge(f, f, "copied");
	CHECK(m >= 0);
	CHECK_STR(count_info(m).name, "copied");
	errno = 0;
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_MERGE, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	memset(&md, 0, sizeof(md));
	md.fd2 = f;
	ro = ro_page(&md, sizeof(md));
	CHECK_EQ(dmasync_ioctl(f, SYNC_IOC_MERGE, ro), -1);
	CHECK_EQ(errno, EFAULT);
	munmap(ro, PAGE);
	/* Arguments at the very end of a page followed by a hole: fine. */
	munmap(two + PAGE, PAGE);
	memcpy(two + PAGE - sizeof(one), &one, sizeof(one));
	CHECK_EQ(dmasync_ioctl(tl, SW_SYNC_IOC_INC, two + PAGE - sizeof(one)), 0);
	CHECK_EQ(revents(f, POLLIN, 0), POLLIN);
	memset(&info, 0, sizeof(info));
	memcpy(two + PAGE - sizeof(info), &info, sizeof(info));
	CHECK_EQ(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, two + PAGE - sizeof(info)), 0);
	memcpy(&info, two + PAGE - sizeof(info), sizeof(info));
	CHECK_STR(info.name, "copied");
	CHECK_EQ(info.status, 1);
	/* ... one byte further they straddle the hole. */
	CHECK_EQ(dmasync_ioctl(tl, SW_SYNC_IOC_INC, two + PAGE - sizeof(one) + 1), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, two + PAGE - sizeof(info) + 1), -1);
	CHECK_EQ(errno, EFAULT);
	/* Entries written into a read-only page. */
	mprotect(two, PAGE, PROT_READ);
	memset(&info, 0, sizeof(info));
	info.num_fences = 1;
	info.sync_fence_info = (u64)(uintptr_t)two;
	CHECK_EQ(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EFAULT);
	munmap(two, PAGE);
	/* The main heap (read without a probe): an argument there works... */
	{
		u32 *heap = malloc(sizeof(*heap));
		uintptr_t end = ((uintptr_t)sbrk(0) + PAGE - 1) & ~(uintptr_t)(PAGE - 1);

		REQUIRE(heap);
		*heap = 0;
		CHECK_EQ(dmasync_ioctl(tl, SW_SYNC_IOC_INC, heap), 0);
		free(heap);
		/* ... one straddling the end of the heap's last page faults. */
		if (msync((void *)end, PAGE, MS_ASYNC) && errno == ENOMEM) {
			CHECK_EQ(dmasync_ioctl(tl, SW_SYNC_IOC_INC, (void *)(end - 2)), -1);
			CHECK_EQ(errno, EFAULT);
		}
	}
	CLOSE_ALL(m, f, tl);
}

TEST(uaccess_probe_vm_and_pipe_modes)
{
	for (int mode = 0; mode < 3; mode++) {
		uapi_uaccess_set_mode(mode);
		uaccess_cases();
	}
	uapi_uaccess_set_mode(-1);
}

/*
 * Arguments on the calling thread's stack skip the probe; the result must
 * not depend on which stack the call runs on: the main thread's, a thread
 * stack the program allocated itself, or a signal handler's alternate
 * stack (which does not qualify and takes the probe).
 */
struct stack_case {
	int tl, f;
	int ok;
};

static void stack_case_run(struct stack_case *c)
{
	struct sync_file_info info;
	u32 one = 1;

	memset(&info, 0, sizeof(info));
	c->ok = dmasync_ioctl(c->f, SYNC_IOC_FILE_INFO, &info) == 0 && info.num_fences == 1 &&
		strcmp(info.name, "") != 0;
	/* INC reads its u32 from this frame */
	c->ok &= dmasync_ioctl(c->tl, SW_SYNC_IOC_INC, &one) == 0;
}

static void *stack_case_thread(void *arg)
{
	stack_case_run(arg);
	return NULL;
}

static struct stack_case *altstack_case;

static void on_usr1(int sig)
{
	(void)sig;
	stack_case_run(altstack_case);
}

TEST(uaccess_arguments_on_any_stack)
{
	struct stack_case c = { .tl = open_tl() };
	size_t size = 256 * 1024;
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stack_t ss = { .ss_sp = NULL, .ss_size = 64 * 1024 }, old_ss;
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_ONSTACK }, old_sa;
	pthread_attr_t attr;
	pthread_t th;

	REQUIRE(stack != MAP_FAILED);
	c.f = create_fence(c.tl, 100);
	/* the main thread's stack */
	stack_case_run(&c);
	CHECK(c.ok);
	/* a thread on a stack from mmap() */
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, stack, size);
	c.ok = 0;
	REQUIRE(pthread_create(&th, &attr, stack_case_thread, &c) == 0);
	pthread_join(th, NULL);
	pthread_attr_destroy(&attr);
	CHECK(c.ok);
	/* a signal handler on an alternate stack */
	ss.ss_sp = malloc(ss.ss_size);
	REQUIRE(ss.ss_sp);
	REQUIRE(sigaltstack(&ss, &old_ss) == 0);
	sigemptyset(&sa.sa_mask);
	REQUIRE(sigaction(SIGUSR1, &sa, &old_sa) == 0);
	altstack_case = &c;
	c.ok = 0;
	raise(SIGUSR1);
	CHECK(c.ok);
	sigaction(SIGUSR1, &old_sa, NULL);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	free(ss.ss_sp);
	/* and still EFAULT for what is not memory, wherever the caller is */
	errno = 0;
	CHECK_EQ(dmasync_ioctl(c.tl, SW_SYNC_IOC_INC, (void *)16), -1);
	CHECK_EQ(errno, EFAULT);
	munmap(stack, size);
	CLOSE_ALL(c.f, c.tl);
}

/*
 * The first copy of a thread finds its stack without allocating: it may be
 * made in a signal handler that interrupted malloc() (a shell reaps its
 * children with waitpid() in its SIGCHLD handler, and the preload's
 * waitpid() copied the status; pthread_getattr_np() allocated there and
 * broke the shell's heap).  The bounds hold the stack pointer and lie in
 * the stack pthread_getattr_np() reports, for the main thread, a thread
 * of glibc's and one on a stack the program gave.
 */
struct first_copy {
	int allocs, found;
	uintptr_t lo, hi, sp, alo, ahi, self;
};

static void first_copy_run(struct first_copy *fc)
{
	pthread_attr_t attr;
	void *a;
	size_t size;
	int before = alloc_count();

	fc->found = uapi_uaccess_stack_bounds(&fc->lo, &fc->hi);
	fc->allocs = alloc_count() - before;
	fc->sp = (uintptr_t)__builtin_frame_address(0);
	fc->self = (uintptr_t)pthread_self();
	fc->alo = fc->ahi = 0;
	if (!pthread_getattr_np(pthread_self(), &attr)) {
		if (!pthread_attr_getstack(&attr, &a, &size)) {
			fc->alo = (uintptr_t)a;
			fc->ahi = (uintptr_t)a + size;
		}
		pthread_attr_destroy(&attr);
	}
}

static void *first_copy_thread(void *arg)
{
	first_copy_run(arg);
	return NULL;
}

static void first_copy_check(const char *what, const struct first_copy *fc, bool main_thread)
{
	printf("# %s: [%#lx, %#lx), sp %#lx, pthread [%#lx, %#lx)\n", what,
	       (unsigned long)fc->lo, (unsigned long)fc->hi, (unsigned long)fc->sp,
	       (unsigned long)fc->alo, (unsigned long)fc->ahi);
	CHECK(fc->found);
	if (ALLOC_FAIL_INTERPOSED)
		CHECK_EQ(fc->allocs, 0);
	CHECK(fc->lo <= fc->sp && fc->sp < fc->hi);
	CHECK(fc->alo <= fc->sp && fc->sp < fc->ahi);
	/* the main thread's: the mapping's top, where glibc's ends or a page
	 * or so above (the environment's strings); another's: its descriptor */
	if (main_thread)
		CHECK(fc->hi >= fc->ahi && fc->hi - fc->ahi < 65536);
	else
		CHECK(fc->hi == fc->self && fc->hi <= fc->ahi);
}

TEST(uaccess_first_copy_allocates_nothing)
{
	size_t size = 256 * 1024;
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct first_copy fc;
	pthread_attr_t attr;
	pthread_t th;

	REQUIRE(stack != MAP_FAILED);
	if (ALLOC_FAIL_INTERPOSED) {	/* the count sees allocations */
		int before = alloc_count();

		void *volatile p = malloc(16);

		free(p);
		CHECK_EQ(alloc_count(), before + 1);
	}
	first_copy_run(&fc);
	first_copy_check("main thread", &fc, true);
	REQUIRE(pthread_create(&th, NULL, first_copy_thread, &fc) == 0);
	pthread_join(th, NULL);
	first_copy_check("a thread", &fc, false);
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, stack, size);
	REQUIRE(pthread_create(&th, &attr, first_copy_thread, &fc) == 0);
	pthread_join(th, NULL);
	pthread_attr_destroy(&attr);
	first_copy_check("a thread on a stack of the program's", &fc, false);
	munmap(stack, size);
}

/* ---- sync_files of the real kernel (faked) ------------------------------------------- */

/*
 * This machine has no sw_sync, so real kernel sync_files cannot be made.
 * The probe is replaced by a fake kernel: a pipe stands for a kernel
 * sync_file, readable once "signaled", with a name and a status.
 */
struct fake_ksf {
	int rd, wr;
	dev_t dev;
	ino_t ino;
	int status;	/* reported once readable (atomic) */
	char name[32];
};

static struct fake_ksf fakes[4];
static int nfakes;
static int fake_probes;

static int fake_file_info(int fd, struct sync_file_info *info)
{
	struct stat st;

	__atomic_fetch_add(&fake_probes, 1, __ATOMIC_RELAXED);
	if (fstat(fd, &st))
		return -errno;
	for (int i = 0; i < nfakes; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (fakes[i].dev != st.st_dev || fakes[i].ino != st.st_ino)
			continue;
		memset(info, 0, sizeof(*info));
		memcpy(info->name, fakes[i].name, sizeof(info->name));
		info->num_fences = 1;
		info->status = poll(&p, 1, 0) == 1 ?
				       __atomic_load_n(&fakes[i].status, __ATOMIC_RELAXED) : 0;
		return 0;
	}
	return -ENOTTY;
}

static int (*saved_probe)(int, struct sync_file_info *);

static struct fake_ksf *fake_new(const char *name, int status)
{
	struct fake_ksf *k = &fakes[nfakes];
	int p[2];
	struct stat st;

	if (pipe2(p, O_CLOEXEC) || fstat(p[0], &st))
		abort();
	k->rd = p[0];
	k->wr = p[1];
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	k->status = status;
	snprintf(k->name, sizeof(k->name), "%s", name);
	nfakes++;
	if (nfakes == 1) {
		saved_probe = uapi_kernel_sync_file_info;
		__atomic_store_n(&uapi_kernel_sync_file_info, fake_file_info, __ATOMIC_RELEASE);
	}
	return k;
}

static void fake_signal(struct fake_ksf *k)
{
	if (write(k->wr, "s", 1) != 1)
		abort();
}

static void fakes_done(void)
{
	__atomic_store_n(&uapi_kernel_sync_file_info, saved_probe, __ATOMIC_RELEASE);
	for (int i = 0; i < nfakes; i++) {
		close(fakes[i].rd);
		close(fakes[i].wr);
	}
	nfakes = 0;
}

struct flag_cb {
	struct dma_fence_cb cb;
	int fired;
	int error;
};

static void flag_cb_func(struct dma_fence *f, struct dma_fence_cb *cb)
{
	struct flag_cb *fc = container_of(cb, struct flag_cb, cb);

	fc->error = f->error;
	__atomic_store_n(&fc->fired, 1, __ATOMIC_RELEASE);
}

TEST(foreign_fence_signals_from_the_monitor)
{
	struct fake_ksf *k = fake_new("sw_sync-gpu12-3", -EIO);
	struct dma_fence *f = sync_file_get_fence(k->rd);
	struct flag_cb fc = { .fired = 0 };

	REQUIRE(f);
	CHECK_STR(dma_fence_driver_name(f), "dmasync-foreign");
	CHECK_STR(dma_fence_timeline_name(f), "sw_sync-gpu12-3");
	CHECK(!dma_fence_is_signaled(f));
	CHECK_EQ(dma_fence_add_callback(f, &fc.cb, flag_cb_func), 0);
	sleep_ms(20);
	CHECK_EQ(__atomic_load_n(&fc.fired, __ATOMIC_ACQUIRE), 0);
	fake_signal(k);
	CHECK(WAIT_UNTIL(__atomic_load_n(&fc.fired, __ATOMIC_ACQUIRE), 2000));
	CHECK_EQ(fc.error, -EIO);
	CHECK_EQ(dma_fence_get_status(f), -EIO);
	dma_fence_put(f);
	/* The dup of the kernel fd is closed with the last reference (fd census). */
	fakes_done();
}

TEST(foreign_fence_tested_without_signaling)
{
	struct fake_ksf *k = fake_new("kfence", 1);
	struct dma_fence *f = sync_file_get_fence(k->rd), *g;

	REQUIRE(f);
	CHECK(!dma_fence_is_signaled(f));
	CHECK_EQ(dma_fence_get_status(f), 0);
	fake_signal(k);
	CHECK(dma_fence_is_signaled(f));
	CHECK_EQ(dma_fence_get_status(f), 1);
	CHECK(test_bit(DMA_FENCE_FLAG_TIMESTAMP_BIT, &f->flags));
	/* A second wrapper of a signaled kernel file is signaled at once. */
	g = sync_file_get_fence(k->rd);
	REQUIRE(g);
	CHECK(dma_fence_is_signaled(g));
	CHECK(g->context != f->context);
	dma_fence_put(f);
	dma_fence_put(g);
	fakes_done();
}

TEST(foreign_fence_merged_into_a_sync_file)
{
	unsigned int files0 = uapi_files_count();
	struct fake_ksf *k = fake_new("gpu-ring0", -ETIMEDOUT);
	int tl = open_tl(), a = create_fence(tl, 1), m;
	struct sync_file_info info;
	struct sync_fence_info fi[4];

	m = merge(a, k->rd, "with-kernel");
	REQUIRE(m >= 0);
	REQUIRE(full_info(m, &info, fi, 4) == 2);
	CHECK(!strcmp(fi[0].driver_name, "dmasync-foreign") ||
	      !strcmp(fi[1].driver_name, "dmasync-foreign"));
	CHECK(!strcmp(fi[0].obj_name, "gpu-ring0") || !strcmp(fi[1].obj_name, "gpu-ring0"));
	inc(tl, 1);
	CHECK_EQ(revents(m, POLLIN, 0), 0);
	fake_signal(k);
	CHECK_EQ(revents(m, POLLIN, 5000), POLLIN);
	CHECK_EQ(count_info(m).status, -ETIMEDOUT);
	/* A sync file made straight from a kernel fence. */
	{
		struct dma_fence *kf = sync_file_get_fence(k->rd);
		int s = sync_file_create_fd(kf);

		CHECK_EQ(revents(s, POLLIN, 0), POLLIN);
		CHECK_STR(one_fence(s).obj_name, "gpu-ring0");
		dma_fence_put(kf);
		close(s);
	}
	CLOSE_ALL(m, a, tl);
	/* Every foreign fence is gone before the fake kernel is. */
	CHECK(WAIT_UNTIL(uapi_files_count() == files0, 2000));
	fakes_done();
}

TEST(foreign_probe_is_a_real_file_info_ioctl)
{
	int p[2];

	/* The default probe: a real SYNC_IOC_FILE_INFO, which a pipe refuses. */
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	__atomic_store_n(&fake_probes, 0, __ATOMIC_RELAXED);
	CHECK(sync_file_get_fence(p[0]) == NULL);
	CHECK_EQ(__atomic_load_n(&fake_probes, __ATOMIC_RELAXED), 0);
	close(p[0]);
	close(p[1]);
}

/* ---- stress ------------------------------------------------------------------------ */

#define STRESS_TLS 2

struct stress {
	int tl[STRESS_TLS];
	int stop;
	long merges, infos, polls, created;
};

static u64 xorshift(u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *stress_advancer(void *arg)
{
	struct stress *st = arg;
	u64 rng = (u64)(uintptr_t)&rng | 1;

	while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE)) {
		inc(st->tl[xorshift(&rng) % STRESS_TLS], 1);
		if (xorshift(&rng) % 4 == 0)
			sched_yield();
	}
	return NULL;
}

static void *stress_user(void *arg)
{
	struct stress *st = arg;
	u64 rng = (u64)(uintptr_t)&rng | 1;
	long iters = STRESS(6000);
	int prev = -1;

	for (long i = 0; i < iters; i++) {
		int tl = st->tl[xorshift(&rng) % STRESS_TLS];
		struct sw_sync_create_fence_data d = { .value = (u32)(i * 3 + xorshift(&rng) % 32) };
		struct sync_file_info info;
		struct sync_fence_info fi[4];
		int f, m;

		/* A private timeline now and then, closed with points pending. */
		if (xorshift(&rng) % 16 == 0) {
			int own = open_tl(), pf = create_fence(own, 5);

			close(own);
			if (revents(pf, POLLIN, 5000) != POLLIN || count_info(pf).status != -ENOENT)
				__atomic_store_n(&st->stop, 2, __ATOMIC_RELEASE);
			close(pf);
		}
		if (dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d))
			continue;
		f = d.fence;
		__atomic_fetch_add(&st->created, 1, __ATOMIC_RELAXED);
		m = prev >= 0 ? merge(f, prev, "stress") : -1;
		if (m >= 0) {
			__atomic_fetch_add(&st->merges, 1, __ATOMIC_RELAXED);
			if (full_info(m, &info, fi, 4) >= 1)
				__atomic_fetch_add(&st->infos, 1, __ATOMIC_RELAXED);
			if (revents(m, POLLIN, 0) >= 0)
				__atomic_fetch_add(&st->polls, 1, __ATOMIC_RELAXED);
		}
		if (prev >= 0)
			close(prev);
		if (xorshift(&rng) % 2) {
			int dd = dup(f);

			close(f);
			f = dd;
		}
		prev = m >= 0 ? m : f;
		if (m >= 0)
			close(f);
	}
	if (prev >= 0)
		close(prev);
	return NULL;
}

TEST(stress_create_merge_poll_close_while_advancing)
{
	struct stress st;
	pthread_t adv[2], users[3];
	unsigned int files0 = uapi_files_count();

	memset(&st, 0, sizeof(st));
	for (int i = 0; i < STRESS_TLS; i++)
		st.tl[i] = open_tl();
	for (int i = 0; i < 2; i++)
		pthread_create(&adv[i], NULL, stress_advancer, &st);
	for (int i = 0; i < 3; i++)
		pthread_create(&users[i], NULL, stress_user, &st);
	for (int i = 0; i < 3; i++)
		pthread_join(users[i], NULL);
	CHECK_EQ(__atomic_load_n(&st.stop, __ATOMIC_ACQUIRE), 0);
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(adv[i], NULL);
	CHECK(st.created > 0 && st.merges > 0 && st.infos > 0 && st.polls > 0);
	for (int i = 0; i < STRESS_TLS; i++)
		close(st.tl[i]);
	CHECK(WAIT_UNTIL(uapi_files_count() == files0, 5000));
}

/* Sync files whose fences signal while their last fd is being closed. */
TEST(stress_close_races_signal)
{
	long live0 = tf_live();
	long rounds = STRESS(2000);

	for (long r = 0; r < rounds; r++) {
		struct dma_fence *f[8];
		int fd[8];

		for (int i = 0; i < 8; i++) {
			f[i] = tf_new(1);
			fd[i] = sync_file_create_fd(f[i]);
		}
		for (int i = 0; i < 8; i++) {
			if (i % 2)
				dma_fence_signal(f[i]);
			close(fd[i]);
			if (i % 2 == 0)
				dma_fence_signal(f[i]);
			dma_fence_put(f[i]);
		}
	}
	CHECK(WAIT_UNTIL(tf_live() == live0, 5000));
}

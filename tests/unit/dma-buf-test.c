/* SPDX-License-Identifier: MIT */
/*
 * Unit and stress tests of dma-buf objects (src/uapi/dma-buf.c): the in-process
 * API, lifetime and reaping, dmasync_lseek/dmasync_mmap/dmasync_close, and
 * the dma-buf ioctls through dmasync_ioctl() with the <linux/dma-buf.h>
 * structs: SYNC, SET_NAME, EXPORT_SYNC_FILE and IMPORT_SYNC_FILE.  Buffers
 * come from both emulated devices (kind 0 udmabuf, kind 1 system heap) and
 * from dma_buf_export().
 */
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-chain.h>
#include <dmasync/dma-fence-unwrap.h>
#include <dmasync/rcupdate.h>
#include "dma-buf-test.h"

/* ---- a counting exporter ----------------------------------------------------------- */

struct test_exporter {
	int begins, ends, releases;
	int begin_ret, end_ret;
	enum dma_data_direction last_dir;
	ktime_t begin_time;
};

static int tx_begin(struct dma_buf *buf, enum dma_data_direction dir)
{
	struct test_exporter *tx = buf->priv;

	__atomic_fetch_add(&tx->begins, 1, __ATOMIC_RELAXED);
	tx->last_dir = dir;
	tx->begin_time = ktime_get();
	return tx->begin_ret;
}

static int tx_end(struct dma_buf *buf, enum dma_data_direction dir)
{
	struct test_exporter *tx = buf->priv;

	__atomic_fetch_add(&tx->ends, 1, __ATOMIC_RELAXED);
	tx->last_dir = dir;
	return tx->end_ret;
}

static void tx_release(struct dma_buf *buf)
{
	struct test_exporter *tx = buf->priv;

	__atomic_fetch_add(&tx->releases, 1, __ATOMIC_RELAXED);
}

static const struct dma_buf_ops tx_ops = {
	.begin_cpu_access = tx_begin,
	.end_cpu_access = tx_end,
	.release = tx_release,
};

static struct dma_buf *tx_export(struct test_exporter *tx, size_t size, int flags)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);

	info.ops = &tx_ops;
	info.size = size;
	info.flags = flags;
	info.priv = tx;
	return dma_buf_export(&info);
}

static int releases(struct test_exporter *tx)
{
	return __atomic_load_n(&tx->releases, __ATOMIC_RELAXED);
}

/* Count the fences of @buf's resv with exactly @usage (signaled included). */
static int count_usage(int fd, enum dma_resv_usage usage, bool *container)
{
	struct dma_buf *buf = dma_buf_get(fd);
	struct dma_resv_iter cursor;
	struct dma_fence *f;
	int n = 0;

	if (IS_ERR(buf))
		return -1;
	dma_resv_lock(buf->resv, NULL);
	dma_resv_for_each_fence(&cursor, buf->resv, DMA_RESV_USAGE_BOOKKEEP, f) {
		if (dma_resv_iter_usage(&cursor) == usage)
			n++;
		if (container && dma_fence_is_container(f))
			*container = true;
	}
	dma_resv_unlock(buf->resv);
	dma_buf_put(buf);
	return n;
}

/* Add @fence with @usage to @fd's buffer from in-process code. */
static void add_fence(int fd, struct dma_fence *fence, enum dma_resv_usage usage)
{
	struct dma_buf *buf = dma_buf_get(fd);

	if (IS_ERR(buf))
		abort();
	dma_resv_lock(buf->resv, NULL);
	if (dma_resv_reserve_fences(buf->resv, 1))
		abort();
	dma_resv_add_fence(buf->resv, fence, usage);
	dma_resv_unlock(buf->resv);
	dma_buf_put(buf);
}

/* ---- in-process API ---------------------------------------------------------------- */

TEST(export_fd_get_put_release)
{
	struct test_exporter tx = { 0 };
	struct dma_buf *buf = tx_export(&tx, 5000, O_RDWR), *again;
	struct stat st;
	char *p;
	int fd;

	REQUIRE(!IS_ERR(buf));
	CHECK_EQ(buf->size, 2 * PAGE);
	CHECK_STR(buf->exp_name, "dmasync");
	CHECK(buf->priv == &tx);
	CHECK(buf->resv != NULL);
	CHECK(buf->name == NULL);
	fd = dma_buf_fd(buf, O_CLOEXEC);
	REQUIRE(fd >= 0);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	/* the fd is the memory: native fstat and mmap work */
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 2 * PAGE);
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	CHECK_EQ(p[PAGE + 7], 0);
	p[PAGE + 7] = 'x';

	again = dma_buf_get(fd);
	REQUIRE(!IS_ERR(again));
	CHECK(again == buf);
	get_dma_buf(again);
	dma_buf_put(again);
	CHECK_EQ(dmasync_lseek(fd, 0, SEEK_END), 2 * PAGE);

	/* As in the kernel, a mapping keeps the buffer as an fd does: the
	 * fd's reference goes with the last fd and mapping; ours stays. */
	close(fd);
	reap();
	CHECK_EQ(releases(&tx), 0);
	CHECK_EQ(p[PAGE + 7], 'x');
	dma_buf_put(again);
	reap();
	CHECK_EQ(releases(&tx), 0);
	CHECK_EQ(p[PAGE + 7], 'x');
	munmap(p, 2 * PAGE);
	reap();
	CHECK_EQ(releases(&tx), 1);
}

TEST(export_without_fd_is_released_by_put)
{
	struct test_exporter tx = { 0 };
	struct dma_buf *buf = tx_export(&tx, PAGE, O_RDWR);

	REQUIRE(!IS_ERR(buf));
	dma_buf_put(buf);
	CHECK_EQ(releases(&tx), 1);
}

TEST(export_rejects_bad_info)
{
	struct test_exporter tx = { 0 };
	static const struct dma_buf_ops no_release = { .begin_cpu_access = tx_begin };
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct dma_buf *buf;

	EXPECT_WARNINGS();
	CHECK_EQ(PTR_ERR(dma_buf_export(NULL)), -EINVAL);
	info.size = PAGE;
	info.priv = &tx;
	CHECK_EQ(PTR_ERR(dma_buf_export(&info)), -EINVAL); /* no ops */
	info.ops = &no_release;
	CHECK_EQ(PTR_ERR(dma_buf_export(&info)), -EINVAL);
	info.ops = &tx_ops;
	info.priv = NULL;
	CHECK_EQ(PTR_ERR(dma_buf_export(&info)), -EINVAL);
	info.priv = &tx;
	info.size = 0;
	buf = dma_buf_export(&info);
	CHECK(IS_ERR(buf) && PTR_ERR(buf) == -EINVAL);
	CHECK_EQ(releases(&tx), 0);
	dma_buf_put(NULL);	/* warned, ignored */
}

TEST(fd_once_and_get_errors)
{
	struct test_exporter tx = { 0 };
	struct dma_buf *buf = tx_export(&tx, PAGE, O_RDWR);
	int fd, mfd = new_memfd(PAGE, 0), p[2], dev = open_udmabuf_dev();
	struct sync_timeline *tl = sync_timeline_create("t");
	int sf = point_fd(tl, 1);

	REQUIRE(!IS_ERR(buf));
	CHECK_EQ(dma_buf_fd(NULL, 0), -EINVAL);
	fd = dma_buf_fd(buf, 0);
	REQUIRE(fd >= 0);
	CHECK(!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
	CHECK_EQ(dma_buf_fd(buf, 0), -EINVAL);
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	CHECK_EQ(PTR_ERR(dma_buf_get(-1)), -EBADF);
	CHECK_EQ(PTR_ERR(dma_buf_get(closed_fd())), -EBADF);
	CHECK_EQ(PTR_ERR(dma_buf_get(mfd)), -EINVAL);
	CHECK_EQ(PTR_ERR(dma_buf_get(p[0])), -EINVAL);
	CHECK_EQ(PTR_ERR(dma_buf_get(sf)), -EINVAL);
	CHECK_EQ(PTR_ERR(dma_buf_get(dev)), -EINVAL);
	close(p[0]);
	close(p[1]);
	close(mfd);
	close(dev);
	close(sf);
	close(fd);
	sync_timeline_destroy(tl);
	reap();
	CHECK_EQ(releases(&tx), 1);
}

TEST(export_shares_a_given_resv)
{
	struct test_exporter tx = { 0 };
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct sync_timeline *tl = sync_timeline_create("t");
	struct dma_fence *f = sync_pt_create(tl, 1), *e;
	struct dma_resv resv;
	struct dma_buf *buf;
	int fd;

	dma_resv_init(&resv);
	info.ops = &tx_ops;
	info.size = PAGE;
	info.priv = &tx;
	info.resv = &resv;
	buf = dma_buf_export(&info);
	REQUIRE(!IS_ERR(buf));
	CHECK(buf->resv == &resv);
	fd = dma_buf_fd(buf, O_CLOEXEC);
	REQUIRE(fd >= 0);
	dma_resv_lock(&resv, NULL);
	REQUIRE(dma_resv_reserve_fences(&resv, 1) == 0);
	dma_resv_add_fence(&resv, f, DMA_RESV_USAGE_WRITE);
	dma_resv_unlock(&resv);
	e = export_fence(fd, DMA_BUF_SYNC_READ);
	CHECK(e == f);
	dma_fence_put(e);
	CHECK_EQ(revents(fd, POLLIN, 0), 0);
	sync_timeline_signal(tl, 1);
	CHECK_EQ(revents(fd, POLLIN, 0), POLLIN);
	CHECK_EQ(dmasync_close(fd), 0);
	CHECK_EQ(releases(&tx), 1);
	/* the shared resv is the caller's: still usable, finalised by us */
	CHECK(dma_resv_test_signaled(&resv, DMA_RESV_USAGE_READ));
	dma_resv_fini(&resv);
	dma_fence_put(f);
	sync_timeline_destroy(tl);
}

TEST(export_access_modes)
{
	struct test_exporter tx = { 0 };
	struct dma_buf *ro = tx_export(&tx, PAGE, O_RDONLY), *wo = tx_export(&tx, PAGE, O_WRONLY);
	int fr, fw;
	void *p;

	REQUIRE(!IS_ERR(ro) && !IS_ERR(wo));
	fr = dma_buf_fd(ro, O_CLOEXEC);
	fw = dma_buf_fd(wo, O_CLOEXEC);
	REQUIRE(fr >= 0 && fw >= 0);
	CHECK_EQ(fcntl(fr, F_GETFL) & O_ACCMODE, O_RDONLY);
	CHECK_EQ(fcntl(fw, F_GETFL) & O_ACCMODE, O_WRONLY);
	errno = 0;
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fr, 0) == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	p = dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fr, 0);
	CHECK(p != MAP_FAILED);
	munmap(p, PAGE);
	/* a private writable mapping of a read-only file is fine */
	p = dmasync_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fr, 0);
	CHECK(p != MAP_FAILED);
	munmap(p, PAGE);
	errno = 0;
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fw, 0) == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	CHECK_EQ(dmasync_close(fr), 0);
	CHECK_EQ(dmasync_close(fw), 0);
	CHECK_EQ(releases(&tx), 2);
}

TEST(set_name_api)
{
	struct test_exporter tx = { 0 };
	struct dma_buf *buf = tx_export(&tx, PAGE, O_RDWR);
	char n31[32], n32[33];

	REQUIRE(!IS_ERR(buf));
	memset(n31, 'a', 31);
	n31[31] = 0;
	memset(n32, 'b', 32);
	n32[32] = 0;
	CHECK_EQ(dma_buf_set_name(buf, "first"), 0);
	CHECK_STR(buf->name, "first");
	CHECK_EQ(dma_buf_set_name(buf, n31), 0);
	CHECK_STR(buf->name, n31);
	CHECK_EQ(dma_buf_set_name(buf, n32), -EINVAL);
	CHECK_STR(buf->name, n31);
	CHECK_EQ(dma_buf_set_name(buf, NULL), 0);
	CHECK(buf->name == NULL);
	dma_buf_put(buf);
}

/* ---- lseek, mmap, close --------------------------------------------------------------- */

TEST(lseek_rules)
{
	for (int k = 0; k < 2; k++) {
		int b = new_dmabuf_kind(k, 3 * PAGE), mfd = new_memfd(5 * PAGE, 0);
		int dev = k ? open_heap() : open_udmabuf_dev();

		REQUIRE(b >= 0);
		CHECK_EQ(dmasync_lseek(b, 0, SEEK_END), 3 * PAGE);
		CHECK_EQ(dmasync_lseek(b, 0, SEEK_SET), 0);
		CHECK_EQ(dmasync_lseek(b, 0, SEEK_END), 3 * PAGE);
		errno = 0;
		CHECK_EQ(dmasync_lseek(b, 0, SEEK_CUR), -1);
		CHECK_EQ(errno, EINVAL);
		errno = 0;
		CHECK_EQ(dmasync_lseek(b, 1, SEEK_END), -1);
		CHECK_EQ(errno, EINVAL);
		CHECK_EQ(dmasync_lseek(b, -1, SEEK_END), -1);
		CHECK_EQ(dmasync_lseek(b, PAGE, SEEK_SET), -1);
		CHECK_EQ(dmasync_lseek(b, 0, SEEK_DATA), -1);
		CHECK_EQ(dmasync_lseek(b, 0, SEEK_HOLE), -1);
		CHECK_EQ(errno, EINVAL);
		/* other fds: lseek(2) */
		CHECK_EQ(dmasync_lseek(mfd, 0, SEEK_END), 5 * PAGE);
		CHECK_EQ(dmasync_lseek(mfd, PAGE, SEEK_SET), PAGE);
		errno = 0;
		CHECK_EQ(dmasync_lseek(dev, 0, SEEK_SET), -1);
		CHECK_EQ(errno, ESPIPE);
		close(dev);
		close(mfd);
		close(b);
	}
}

TEST(mmap_limits_of_fresh_memory)
{
	int b = new_heapbuf(2 * PAGE), mfd = new_memfd(PAGE, 0);
	char *p, *q;

	REQUIRE(b >= 0);
	p = dmasync_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	REQUIRE(p != MAP_FAILED);
	q = dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, PAGE);
	REQUIRE(q != MAP_FAILED);
	p[PAGE + 3] = 'h';
	CHECK_EQ(q[3], 'h');
	errno = 0;
	CHECK(dmasync_mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, b, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, 2 * PAGE) == MAP_FAILED);
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, 100) == MAP_FAILED);
	CHECK(dmasync_mmap(NULL, 0, PROT_READ, MAP_SHARED, b, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, -(off_t)PAGE) == MAP_FAILED);
	munmap(q, PAGE);
	/* not a dma-buf: mmap(2), even past the end of the file */
	q = dmasync_mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, mfd, 0);
	CHECK(q != MAP_FAILED);
	munmap(q, 2 * PAGE);
	q = dmasync_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(q != MAP_FAILED);
	munmap(q, PAGE);
	/* the memory outlives the fd; the buffer goes with its last mapping */
	close(b);
	reap();
	CHECK_EQ(p[PAGE + 3], 'h');
	munmap(p, 2 * PAGE);
	close(mfd);
}

static int count_tracked_dmabufs(void)
{
	return (int)uapi_tracked_count();
}

TEST(close_and_reap_release_buffers)
{
	struct test_exporter tx = { 0 };
	int fds[4], d, hi;

	for (int i = 0; i < 4; i++) {
		struct dma_buf *buf = tx_export(&tx, PAGE, O_RDWR);

		REQUIRE(!IS_ERR(buf));
		fds[i] = dma_buf_fd(buf, O_CLOEXEC);
		REQUIRE(fds[i] >= 0);
	}
	/* dmasync_close(): at once, unless another fd refers to it */
	d = dup(fds[0]);
	CHECK_EQ(dmasync_close(fds[0]), 0);
	CHECK_EQ(releases(&tx), 0);
	CHECK_EQ(dmasync_close(d), 0);
	CHECK_EQ(releases(&tx), 1);
	/* a dup moved to a high number keeps it alive through reaps */
	hi = fcntl(fds[1], F_DUPFD_CLOEXEC, 500);
	REQUIRE(hi >= 500);
	close(fds[1]);
	reap();
	CHECK_EQ(releases(&tx), 1);
	{
		struct dma_buf *buf = dma_buf_get(hi);

		CHECK(!IS_ERR(buf));
		if (!IS_ERR(buf))
			dma_buf_put(buf);
	}
	close(hi);
	/* plain close(): released by the next reap pass */
	close(fds[2]);
	reap();
	CHECK_EQ(releases(&tx), 3);
	/* dmasync_close of something else is close(2) */
	errno = 0;
	CHECK_EQ(dmasync_close(closed_fd()), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(dmasync_close(fds[3]), 0);
	CHECK_EQ(releases(&tx), 4);
	CHECK_EQ(count_tracked_dmabufs(), 0);
}

/* Buffers closed with plain close() go at once, with no dmasync call: the
 * inotify watch on each memfd reports its last close to the monitor. */
TEST(plain_close_releases_without_any_call)
{
	struct test_exporter tx = { 0 };
	int n = (int)STRESS(400);
	ktime_t t0;

	for (int i = 0; i < n; i++) {
		struct dma_buf *buf = tx_export(&tx, PAGE, O_RDWR);
		int fd;

		REQUIRE(!IS_ERR(buf));
		fd = dma_buf_fd(buf, O_CLOEXEC);
		REQUIRE(fd >= 0);
		close(fd);
	}
	t0 = ktime_get();
	while (releases(&tx) < n && ms_since(t0) < 3000)
		sleep_ms(1);
	CHECK_EQ(releases(&tx), n);
	CHECK(ms_since(t0) < 1000);
}

/* Releases, in the monitor thread or from dmasync_close(), open no fd of
 * their own and leave none behind (a test suite counting its fds would
 * take one for a leak). */
TEST(releases_open_no_fds)
{
	unsigned char before[64], now[64];

	for (int i = 0; i < 64; i++)
		before[i] = fcntl(i, F_GETFD) != -1;
	for (int i = 0; i < 100; i++) {
		int b = new_heapbuf(PAGE), c = new_heapbuf(PAGE);

		CHECK_EQ(dmasync_close(b), 0);
		close(c);
		uapi_tracked_reap();
	}
	/* Our ends of the closed device fds go when the monitor sees them. */
	CHECK(WAIT_UNTIL(({
		for (int i = 0; i < 64; i++)
			now[i] = fcntl(i, F_GETFD) != -1;
		!memcmp(before, now, sizeof(now));
	}), 2000));
}

/* A fork child's copy keeps the parent's buffer alive, as in the kernel;
 * the buffer goes when the child's copy goes too. */
TEST(fork_child_copy_keeps_the_buffer)
{
	struct test_exporter tx = { 0 };
	struct dma_buf *buf = tx_export(&tx, PAGE, O_RDWR);
	int fd, status, go[2];
	pid_t pid;
	char c;

	REQUIRE(!IS_ERR(buf));
	fd = dma_buf_fd(buf, O_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(pipe2(go, O_CLOEXEC) == 0);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* keep the inherited copy until told */
		close(go[1]);
		_exit(read(go[0], &c, 1) == 0 ? 0 : 4);
	}
	close(go[0]);
	CHECK_EQ(dmasync_close(fd), 0);
	sleep_ms(20);
	reap();
	CHECK_EQ(releases(&tx), 0);
	close(go[1]);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(WAIT_UNTIL((reap(), releases(&tx) == 1), 2000));
}

TEST(fork_child_shares_memory)
{
	for (int k = 0; k < 2; k++) {
		int b = new_dmabuf_kind(k, 2 * PAGE), status;
		char *p = dmasync_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
		pid_t pid;

		REQUIRE(p != MAP_FAILED);
		fflush(stdout);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			char *q;

			p[PAGE + 1] = 'c';
			/* fresh memory maps natively in the child too */
			if (k == 1) {
				q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b, PAGE);
				if (q == MAP_FAILED || q[1] != 'c')
					_exit(2);
				q[2] = 'd';
			}
			_exit(0);
		}
		REQUIRE(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK_EQ(p[PAGE + 1], 'c');
		if (k == 1)
			CHECK_EQ(p[PAGE + 2], 'd');
		munmap(p, 2 * PAGE);
		close(b);
	}
}

/* ---- DMA_BUF_SET_NAME ----------------------------------------------------------------- */

TEST(set_name_ioctl)
{
	int b = new_udmabuf(PAGE);
	struct dma_buf *buf = dma_buf_get(b);
	char n31[32], n32[33], *end = page_before_hole();
	void *ro = ro_page("ro", 3);
	char *two = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	REQUIRE(!IS_ERR(buf));
	memset(n31, 'a', 31);
	n31[31] = 0;
	memset(n32, 'b', 32);
	n32[32] = 0;
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME, "first"), 0);
	CHECK_STR(buf->name, "first");
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_A, "second"), 0);
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, n31), 0);
	CHECK_STR(buf->name, n31);
	errno = 0;
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, n32), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_A, n32), -1);
	CHECK_STR(buf->name, n31);
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, ""), 0);
	CHECK_STR(buf->name, "");
	errno = 0;
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, (char *)8), -1);
	CHECK_EQ(errno, EFAULT);
	/* unterminated before an unreadable page: EFAULT; terminated: fine */
	memcpy(end - 3, "abc", 3);
	errno = 0;
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, end - 3), -1);
	CHECK_EQ(errno, EFAULT);
	memcpy(end - 3, "ab", 3);
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, end - 3), 0);
	CHECK_STR(buf->name, "ab");
	/* a name crossing into the next page, both readable */
	REQUIRE(two != MAP_FAILED);
	memcpy(two + PAGE - 3, "crossing", 9);
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, two + PAGE - 3), 0);
	CHECK_STR(buf->name, "crossing");
	munmap(two, 2 * PAGE);
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_SET_NAME_B, ro), 0);
	CHECK_STR(buf->name, "ro");
	/* 'b' 1 with a size that is neither 4 nor 8 */
	errno = 0;
	CHECK_EQ(dmasync_ioctl(b, _IOW('b', 1, __u16), "x"), -1);
	CHECK_EQ(errno, ENOTTY);
	dma_buf_put(buf);
	munmap(end - PAGE, 2 * PAGE);
	munmap(ro, PAGE);
	close(b);
}

/* ---- DMA_BUF_IOCTL_SYNC ---------------------------------------------------------------- */

TEST(sync_flag_validation)
{
	static const u64 extra[] = { 8, 8 | DMA_BUF_SYNC_READ, 0x10 | DMA_BUF_SYNC_RW,
				     1ull << 32 | DMA_BUF_SYNC_READ, ~0ull };

	for (int k = 0; k < 2; k++) {
		int b = new_dmabuf_kind(k, PAGE);
		struct dma_buf_sync s = { DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
		void *ro = ro_page(&s, sizeof(s));

		REQUIRE(dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW) == 0);
		for (u64 f = 0; f < 8; f++) {
			errno = 0;
			if (f & DMA_BUF_SYNC_RW) {
				CHECK_EQ(dma_sync(b, f), 0);
			} else {
				CHECK_EQ(dma_sync(b, f), -1);
				CHECK_EQ(errno, EINVAL);
			}
		}
		for (unsigned int i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			errno = 0;
			CHECK_EQ(dma_sync(b, extra[i]), -1);
			CHECK_EQ(errno, EINVAL);
		}
		errno = 0;
		CHECK_EQ(dmasync_ioctl(b, DMA_BUF_IOCTL_SYNC, NULL), -1);
		CHECK_EQ(errno, EFAULT);
		/* the request only reads its argument */
		CHECK_EQ(dmasync_ioctl(b, DMA_BUF_IOCTL_SYNC, ro), 0);
		munmap(ro, PAGE);
		close(b);
	}
}

TEST(sync_end_before_start_quirk)
{
	int u = new_udmabuf(PAGE), h = new_heapbuf(PAGE);

	errno = 0;
	CHECK_EQ(dma_sync(u, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(dma_sync(u, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE), -1);
	CHECK_EQ(dma_sync(u, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), -1);
	CHECK_EQ(dma_sync(u, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
	CHECK_EQ(dma_sync(u, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), 0);
	CHECK_EQ(dma_sync(u, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE), 0);
	CHECK_EQ(dma_sync(u, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 0);
	/* the system heap has no such quirk */
	CHECK_EQ(dma_sync(h, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 0);
	close(u);
	close(h);
}

TEST(sync_calls_the_exporter_first)
{
	struct test_exporter tx = { 0 };
	struct dma_buf *buf = tx_export(&tx, PAGE, O_RDWR);
	struct sync_timeline *tl = sync_timeline_create("t");
	struct delayed_inc d;
	ktime_t t0;
	int fd;

	REQUIRE(!IS_ERR(buf));
	fd = dma_buf_fd(buf, O_CLOEXEC);
	CHECK_EQ(dma_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
	CHECK_EQ(tx.begins, 1);
	CHECK_EQ(tx.last_dir, DMA_FROM_DEVICE);
	CHECK_EQ(dma_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE), 0);
	CHECK_EQ(tx.ends, 1);
	CHECK_EQ(tx.last_dir, DMA_TO_DEVICE);
	CHECK_EQ(dma_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW), 0);
	CHECK_EQ(tx.last_dir, DMA_BIDIRECTIONAL);
	/* the exporter's error ends the call, before any wait */
	REQUIRE(import_point(fd, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
	tx.begin_ret = -EIO;
	errno = 0;
	CHECK_EQ(dma_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), -1);
	CHECK_EQ(errno, EIO);
	tx.end_ret = -ENOSPC;
	CHECK_EQ(dma_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), -1);
	CHECK_EQ(errno, ENOSPC);
	/* the exporter is called before the wait, not after it */
	tx.begin_ret = 0;
	delayed_inc_start(&d, tl, 100, 1);
	t0 = ktime_get();
	CHECK_EQ(dma_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
	delayed_inc_join(&d);
	CHECK(ms_since(t0) >= 80);
	CHECK((tx.begin_time - t0) / 1000000 < 50);
	CHECK_EQ(dmasync_close(fd), 0);
	sync_timeline_destroy(tl);
}

TEST(sync_start_waits_for_conflicting_fences)
{
	for (int k = 0; k < 2; k++) {
		struct sync_timeline *tl = sync_timeline_create("t"), *bk = sync_timeline_create("b");
		struct dma_fence *bf = sync_pt_create(bk, 1);
		struct delayed_inc d;
		int b = new_dmabuf_kind(k, PAGE);
		ktime_t t0;

		/* START|READ waits for writers */
		REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
		delayed_inc_start(&d, tl, 100, 1);
		t0 = ktime_get();
		CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
		delayed_inc_join(&d);
		CHECK(ms_since(t0) >= 80);
		/* START|READ does not wait for readers, START|WRITE does */
		REQUIRE(import_point(b, tl, 2, DMA_BUF_SYNC_READ) == 0);
		delayed_inc_start(&d, tl, 300, 1);
		t0 = ktime_get();
		CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
		CHECK(ms_since(t0) < 200);
		CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE), 0);
		delayed_inc_join(&d);
		CHECK(ms_since(t0) >= 250);
		/* END never waits; BOOKKEEP is never waited for */
		REQUIRE(import_point(b, tl, 3, DMA_BUF_SYNC_WRITE) == 0);
		CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 0);
		sync_timeline_signal(tl, 1);
		add_fence(b, bf, DMA_RESV_USAGE_BOOKKEEP);
		t0 = ktime_get();
		CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW), 0);
		CHECK(ms_since(t0) < 200);
		close(b);
		dma_fence_put(bf);
		sync_timeline_destroy(bk);
		sync_timeline_destroy(tl);
	}
}

static volatile sig_atomic_t alarm_hits;

static void on_alarm(int sig)
{
	(void)sig;
	alarm_hits++;
}

static void arm_alarm(int ms, bool restart, struct sigaction *old)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 0 }, { ms / 1000, (long)(ms % 1000) * 1000 } };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	alarm_hits = 0;
	sigaction(SIGALRM, &sa, old);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm_alarm(const struct sigaction *old)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	sigaction(SIGALRM, old, NULL);
}

TEST(sync_start_interrupted_or_restarted)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_heapbuf(PAGE);
	struct sigaction old;
	struct delayed_inc d;
	ktime_t t0;
	int r, e;

	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
	arm_alarm(50, false, &old);
	r = dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	e = errno;
	disarm_alarm(&old);
	CHECK_EQ(r, -1);
	CHECK_EQ(e, EINTR);
	/* with SA_RESTART the wait resumes and ends when the fence signals */
	arm_alarm(50, true, &old);
	delayed_inc_start(&d, tl, 250, 1);
	t0 = ktime_get();
	r = dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	delayed_inc_join(&d);
	disarm_alarm(&old);
	CHECK_EQ(r, 0);
	CHECK_EQ(alarm_hits, 1);
	CHECK(ms_since(t0) >= 200);
	close(b);
	sync_timeline_destroy(tl);
}

/* ---- request decoding ------------------------------------------------------------------- */

TEST(unknown_requests_are_enotty)
{
	int b = new_udmabuf(PAGE), h = new_heapbuf(PAGE);
	char buf[256];
	u32 one = 1;

	memset(buf, 0, sizeof(buf));
	for (int i = 0; i < 2; i++) {
		int fd = i ? h : b;

		errno = 0;
		CHECK_EQ(dmasync_ioctl(fd, _IO('b', 9), 0), -1);
		CHECK_EQ(errno, ENOTTY);
		CHECK_EQ(dmasync_ioctl(fd, _IOW('b', 4, __u32), buf), -1);
		CHECK_EQ(dmasync_ioctl(fd, _IOR('b', 0, struct dma_buf_sync), buf), -1);
		CHECK_EQ(dmasync_ioctl(fd, _IOWR('>', 3, char[48]), buf), -1);
		CHECK_EQ(dmasync_ioctl(fd, _IOW('W', 1, __u32), &one), -1);
		CHECK_EQ(dmasync_ioctl(fd, UDMABUF_CREATE, buf), -1);
		CHECK_EQ(dmasync_ioctl(fd, DMA_HEAP_IOCTL_ALLOC, buf), -1);
		CHECK_EQ(errno, ENOTTY);
	}
	/* the kernel takes the request as 32 bits */
	CHECK_EQ(dmasync_ioctl(b, (1ul << 40) | DMA_BUF_SET_NAME_B, "hi"), 0);
	errno = 0;
	CHECK_EQ(dmasync_ioctl(closed_fd(), DMA_BUF_IOCTL_SYNC, buf), -1);
	CHECK_EQ(errno, EBADF);
	close(b);
	close(h);
}

/* ---- DMA_BUF_IOCTL_EXPORT_SYNC_FILE ------------------------------------------------------ */

TEST(export_flags_and_fd_flags)
{
	static const u32 extra[] = { 8, 9, 0x10, 0x80000001u, 0xffffffffu };
	int b = new_udmabuf(PAGE);

	for (u32 f = 0; f < 8; f++) {
		int sf;

		errno = 0;
		sf = try_export(b, f);
		if (f >= 1 && f <= 3) {
			CHECK(sf >= 0);
			CHECK(fcntl(sf, F_GETFD) & FD_CLOEXEC);
			close(sf);
		} else {
			CHECK_EQ(sf, -1);
			CHECK_EQ(errno, EINVAL);
		}
	}
	for (unsigned int i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		errno = 0;
		CHECK_EQ(try_export(b, extra[i]), -1);
		CHECK_EQ(errno, EINVAL);
	}
	close(b);
}

TEST(export_bad_args_leak_nothing)
{
	int b = new_heapbuf(PAGE), mfd = new_memfd(PAGE, 0), p[2];
	struct sync_timeline *tl = sync_timeline_create("t");
	struct dma_buf_export_sync_file exp = { .flags = DMA_BUF_SYNC_RW, .fd = 999 };
	unsigned int files;
	int sf = point_fd(tl, 0);
	void *ro = ro_page(&exp, sizeof(exp));

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	files = uapi_files_count();
	errno = 0;
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, (void *)8), -1);
	CHECK_EQ(errno, EFAULT);
	/* copy-out failure: the sync file is thrown away, no fd appears */
	errno = 0;
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, ro), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(uapi_files_count(), files);
	/* not a dma-buf */
	errno = 0;
	CHECK_EQ(dmasync_ioctl(mfd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp), -1);
	CHECK_EQ(errno, ENOTTY);
	CHECK_EQ(dmasync_ioctl(p[0], DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp), -1);
	CHECK_EQ(errno, ENOTTY);
	CHECK_EQ(dmasync_ioctl(sf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp), -1);
	CHECK_EQ(errno, ENOTTY);
	CHECK_EQ(dmasync_ioctl(closed_fd(), DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp), -1);
	CHECK_EQ(errno, EBADF);
	/* the input fd field is ignored and both fields are written */
	REQUIRE(dmasync_ioctl(b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) == 0);
	CHECK(exp.fd != 999 && exp.fd >= 0);
	CHECK_EQ(exp.flags, DMA_BUF_SYNC_RW);
	close(exp.fd);
	munmap(ro, PAGE);
	close(p[0]);
	close(p[1]);
	close(mfd);
	close(sf);
	close(b);
	sync_timeline_destroy(tl);
}

TEST(export_idle_is_the_stub)
{
	for (int k = 0; k < 2; k++) {
		int b = new_dmabuf_kind(k, PAGE);
		struct dma_fence *stub = dma_fence_get_stub();

		for (u32 f = 1; f <= 3; f++) {
			int sf = try_export(b, f);
			struct dma_fence *e = sf >= 0 ? sync_file_get_fence(sf) : NULL;
			char name[32];

			REQUIRE(e);
			CHECK(e == stub);
			CHECK(sync_file_get_name(sf, name, sizeof(name)) != NULL);
			CHECK_STR(name, "stub-stub0-0");
			CHECK_EQ(revents(sf, POLLIN, 0), POLLIN);
			dma_fence_put(e);
			close(sf);
		}
		dma_fence_put(stub);
		close(b);
	}
}

/* READ exports the writers only; WRITE and RW everybody but BOOKKEEP. */
TEST(export_semantics_matrix)
{
	struct sync_timeline *t1 = sync_timeline_create("r"), *t2 = sync_timeline_create("w");
	struct sync_timeline *t3 = sync_timeline_create("k"), *t4 = sync_timeline_create("bk");
	struct dma_fence *r = sync_pt_create(t1, 1), *w = sync_pt_create(t2, 1);
	struct dma_fence *kf = sync_pt_create(t3, 1), *bk = sync_pt_create(t4, 1);
	struct dma_fence *stub = dma_fence_get_stub(), *e;
	int b = new_udmabuf(PAGE), rfd = fence_fd(r), wfd = fence_fd(w);
	struct dma_fence_array *a;
	char name[32];

	/* a BOOKKEEP fence is never exported */
	add_fence(b, bk, DMA_RESV_USAGE_BOOKKEEP);
	for (u32 f = 1; f <= 3; f++) {
		e = export_fence(b, f);
		CHECK(e == stub);
		dma_fence_put(e);
	}
	REQUIRE(try_import(b, rfd, DMA_BUF_SYNC_READ) == 0);
	e = export_fence(b, DMA_BUF_SYNC_READ);
	CHECK(e == stub);
	dma_fence_put(e);
	e = export_fence(b, DMA_BUF_SYNC_WRITE);
	CHECK(e == r);	/* one pending fence: itself */
	dma_fence_put(e);
	e = export_fence(b, DMA_BUF_SYNC_RW);
	CHECK(e == r);
	dma_fence_put(e);

	REQUIRE(try_import(b, wfd, DMA_BUF_SYNC_WRITE) == 0);
	e = export_fence(b, DMA_BUF_SYNC_READ);
	CHECK(e == w);
	dma_fence_put(e);
	for (u32 f = 2; f <= 3; f++) {
		int sf = try_export(b, f);

		e = sync_file_get_fence(sf);
		REQUIRE(e);
		a = to_dma_fence_array(e);
		REQUIRE(a);
		CHECK_EQ(a->num_fences, 2);
		CHECK((a->fences[0] == r && a->fences[1] == w) ||
		      (a->fences[0] == w && a->fences[1] == r));
		CHECK(sync_file_get_name(sf, name, sizeof(name)) != NULL);
		CHECK(!strncmp(name, "dma_fence_array-unbound", 23));
		dma_fence_put(e);
		close(sf);
	}
	/* KERNEL fences are waited for by everybody */
	add_fence(b, kf, DMA_RESV_USAGE_KERNEL);
	e = export_fence(b, DMA_BUF_SYNC_READ);
	a = to_dma_fence_array(e);
	CHECK(a && a->num_fences == 2);
	dma_fence_put(e);
	e = export_fence(b, DMA_BUF_SYNC_WRITE);
	a = to_dma_fence_array(e);
	CHECK(a && a->num_fences == 3);
	dma_fence_put(e);
	sync_timeline_signal(t3, 1);
	/* signaled fences are left out */
	sync_timeline_signal(t2, 1);
	e = export_fence(b, DMA_BUF_SYNC_READ);
	CHECK(e == stub);
	dma_fence_put(e);
	e = export_fence(b, DMA_BUF_SYNC_WRITE);
	CHECK(e == r);
	dma_fence_put(e);
	sync_timeline_signal(t1, 1);
	e = export_fence(b, DMA_BUF_SYNC_RW);
	CHECK(e == stub);
	dma_fence_put(e);

	close(rfd);
	close(wfd);
	close(b);
	dma_fence_put(stub);
	dma_fence_put(r);
	dma_fence_put(w);
	dma_fence_put(kf);
	dma_fence_put(bk);
	sync_timeline_destroy(t1);
	sync_timeline_destroy(t2);
	sync_timeline_destroy(t3);
	sync_timeline_destroy(t4);
}

TEST(export_result_signals_with_its_fences)
{
	struct sync_timeline *t1 = sync_timeline_create("a"), *t2 = sync_timeline_create("b");
	int b = new_heapbuf(PAGE), e1, e2;

	REQUIRE(import_point(b, t1, 1, DMA_BUF_SYNC_WRITE) == 0);
	REQUIRE(import_point(b, t2, 1, DMA_BUF_SYNC_WRITE) == 0);
	e1 = try_export(b, DMA_BUF_SYNC_READ);
	e2 = try_export(b, DMA_BUF_SYNC_WRITE);
	REQUIRE(e1 >= 0 && e2 >= 0);
	CHECK_EQ(revents(e1, POLLIN, 0), 0);
	sync_timeline_signal(t1, 1);
	CHECK_EQ(revents(e1, POLLIN, 0), 0);
	CHECK_EQ(revents(e2, POLLIN, 0), 0);
	sync_timeline_signal(t2, 1);
	CHECK_EQ(revents(e1, POLLIN, 100), POLLIN);
	CHECK_EQ(revents(e2, POLLIN, 100), POLLIN);
	close(e1);
	close(e2);
	close(b);
	sync_timeline_destroy(t1);
	sync_timeline_destroy(t2);
}

/* ---- DMA_BUF_IOCTL_IMPORT_SYNC_FILE ------------------------------------------------------ */

TEST(import_flags_and_bad_fds)
{
	static const u32 extra[] = { 8, DMA_BUF_SYNC_WRITE | 4, 0x80000001u, 0xffffffffu };
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE), other = new_heapbuf(PAGE), mfd = new_memfd(PAGE, 0);
	int f = point_fd(tl, 1), dev = open_udmabuf_dev(), p[2];
	struct dma_buf_import_sync_file imp;
	void *ro;

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	for (u32 fl = 0; fl < 8; fl++) {
		errno = 0;
		if (fl >= 1 && fl <= 3) {
			CHECK_EQ(try_import(b, f, fl), 0);
		} else {
			CHECK_EQ(try_import(b, f, fl), -1);
			CHECK_EQ(errno, EINVAL);
		}
	}
	for (unsigned int i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		errno = 0;
		CHECK_EQ(try_import(b, f, extra[i]), -1);
		CHECK_EQ(errno, EINVAL);
	}
	CHECK_EQ(try_import(b, -1, 0), -1); /* flags before the fd */
	CHECK_EQ(errno, EINVAL);
	for (u32 fl = 1; fl <= 3; fl++) {
		const int bad[] = { mfd, b, other, dev, p[0], -1, closed_fd() };

		for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			errno = 0;
			CHECK_EQ(try_import(b, bad[i], fl), -1);
			CHECK_EQ(errno, EINVAL);
		}
	}
	errno = 0;
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	/* IMPORT only reads its argument */
	imp.flags = DMA_BUF_SYNC_WRITE;
	imp.fd = f;
	ro = ro_page(&imp, sizeof(imp));
	CHECK_EQ(dmasync_ioctl(b, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, ro), 0);
	/* on something that is not a dma-buf */
	errno = 0;
	CHECK_EQ(dmasync_ioctl(f, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp), -1);
	CHECK_EQ(errno, ENOTTY);
	CHECK_EQ(dmasync_ioctl(mfd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp), -1);
	CHECK_EQ(errno, ENOTTY);
	munmap(ro, PAGE);
	close(p[0]);
	close(p[1]);
	close(dev);
	close(f);
	close(mfd);
	close(other);
	close(b);
	sync_timeline_destroy(tl);
}

TEST(import_usage_follows_flags)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_heapbuf(PAGE);

	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_READ) == 0);
	CHECK_EQ(count_usage(b, DMA_RESV_USAGE_READ, NULL), 1);
	CHECK_EQ(count_usage(b, DMA_RESV_USAGE_WRITE, NULL), 0);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN);
	REQUIRE(import_point(b, tl, 2, DMA_BUF_SYNC_WRITE) == 0);
	/* WRITE 2 replaced READ 1 (same timeline, later, lower usage) */
	CHECK_EQ(count_usage(b, DMA_RESV_USAGE_WRITE, NULL), 1);
	CHECK_EQ(count_usage(b, DMA_RESV_USAGE_READ, NULL), 0);
	REQUIRE(import_point(b, tl, 3, DMA_BUF_SYNC_RW) == 0);
	CHECK_EQ(count_usage(b, DMA_RESV_USAGE_WRITE, NULL), 1);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), 0);
	sync_timeline_signal(tl, 3);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	close(b);
	sync_timeline_destroy(tl);
}

TEST(import_unwraps_containers)
{
	struct sync_timeline *t1 = sync_timeline_create("a"), *t2 = sync_timeline_create("b");
	struct sync_timeline *t3 = sync_timeline_create("c");
	struct dma_fence *a = sync_pt_create(t1, 1), *bb = sync_pt_create(t2, 1);
	struct dma_fence *c = sync_pt_create(t3, 1), *merged;
	struct dma_fence_chain *chain = dma_fence_chain_alloc();
	int buf = new_udmabuf(PAGE), fd;
	bool container = false;

	/* merged sync file: an array of two */
	merged = dma_fence_unwrap_merge(a, bb);
	REQUIRE(merged && dma_fence_is_array(merged));
	fd = fence_fd(merged);
	REQUIRE(try_import(buf, fd, DMA_BUF_SYNC_WRITE) == 0);
	close(fd);
	CHECK_EQ(count_usage(buf, DMA_RESV_USAGE_WRITE, &container), 2);
	CHECK(!container);
	/* a chain node holding the array, on top of a plain fence */
	REQUIRE(chain);
	dma_fence_chain_init(chain, dma_fence_get(c), dma_fence_get(merged), 2);
	fd = fence_fd(&chain->base);
	REQUIRE(try_import(buf, fd, DMA_BUF_SYNC_READ) == 0);
	close(fd);
	/* a and b again (a READ entry never replaces a WRITE one), and c */
	CHECK_EQ(count_usage(buf, DMA_RESV_USAGE_READ, &container), 3);
	CHECK_EQ(count_usage(buf, DMA_RESV_USAGE_WRITE, &container), 2);
	CHECK(!container);
	/* ready only when every leaf signaled */
	sync_timeline_signal(t1, 1);
	CHECK_EQ(revents(buf, POLLIN, 0), 0);
	sync_timeline_signal(t2, 1);
	CHECK_EQ(revents(buf, POLLIN | POLLOUT, 0), POLLIN);
	sync_timeline_signal(t3, 1);
	CHECK_EQ(revents(buf, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	dma_fence_put(&chain->base);
	dma_fence_put(merged);
	dma_fence_put(a);
	dma_fence_put(bb);
	dma_fence_put(c);
	close(buf);
	sync_timeline_destroy(t1);
	sync_timeline_destroy(t2);
	sync_timeline_destroy(t3);
}

/* Many leaves in one import: one reservation covers them all. */
TEST(import_many_leaves)
{
	enum { N = 40 };
	struct sync_timeline *tl[N];
	struct dma_fence **fences = calloc(N, sizeof(*fences));
	struct dma_fence_array *arr;
	int b = new_heapbuf(PAGE), fd;

	REQUIRE(fences);
	for (int i = 0; i < N; i++) {
		tl[i] = sync_timeline_create("t");
		fences[i] = sync_pt_create(tl[i], 1);
	}
	arr = dma_fence_array_create(N, fences, dma_fence_context_alloc(1), 1, false);
	REQUIRE(arr);
	fd = fence_fd(&arr->base);
	for (int round = 0; round < 3; round++)
		REQUIRE(try_import(b, fd, DMA_BUF_SYNC_WRITE) == 0);
	CHECK_EQ(count_usage(b, DMA_RESV_USAGE_WRITE, NULL), N);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(revents(b, POLLIN, 0), 0);
		sync_timeline_signal(tl[i], 1);
	}
	CHECK_EQ(revents(b, POLLIN, 0), POLLIN);
	close(fd);
	close(b);
	dma_fence_put(&arr->base);
	for (int i = 0; i < N; i++)
		sync_timeline_destroy(tl[i]);
}

/* Import and export take and drop exactly the references they should. */
TEST(import_export_references_balanced)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	struct dma_fence *f = sync_pt_create(tl, 1);
	unsigned int base = kref_read(&f->refcount);
	int b = new_udmabuf(PAGE), fd = fence_fd(f), e;

	REQUIRE(try_import(b, fd, DMA_BUF_SYNC_WRITE) == 0);
	REQUIRE(try_import(b, fd, DMA_BUF_SYNC_READ) == 0);
	CHECK(kref_read(&f->refcount) > base);
	e = try_export(b, DMA_BUF_SYNC_RW);
	REQUIRE(e >= 0);
	close(e);
	close(fd);
	CHECK_EQ(dmasync_close(b), 0);
	/* the exported array keeps its members until they signal */
	sync_timeline_signal(tl, 1);
	/* the sync files go when the monitor thread notices their close */
	for (int i = 0; i < 1000 && kref_read(&f->refcount) != base; i++) {
		reap();
		dmasync_rcu_barrier();
		sleep_ms(1);
	}
	CHECK_EQ(kref_read(&f->refcount), base);
	dma_fence_put(f);
	sync_timeline_destroy(tl);
}

TEST(import_signaled_fence_leaves_buffer_idle)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE), f = point_fd(tl, 0);
	struct dma_fence *e, *stub = dma_fence_get_stub();

	CHECK_EQ(try_import(b, f, DMA_BUF_SYNC_WRITE), 0);
	CHECK_EQ(try_import(b, f, DMA_BUF_SYNC_READ), 0);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	e = export_fence(b, DMA_BUF_SYNC_WRITE);
	CHECK(e == stub);
	dma_fence_put(e);
	dma_fence_put(stub);
	close(f);
	close(b);
	sync_timeline_destroy(tl);
}

/* ---- concurrency --------------------------------------------------------------------------- */

struct stress {
	int bufs[3];
	struct sync_timeline *tl[3];
	int iters;
	int errors;
};

static void *stress_importer(void *arg)
{
	struct stress *s = arg;

	for (int i = 0; i < s->iters; i++) {
		int k = i % 3;
		struct sync_timeline *tl = s->tl[k];
		u32 v = sync_timeline_value(tl) + 1 + (u32)(i % 4);

		if (import_point(s->bufs[i % 3], tl, v, (i & 1) ? DMA_BUF_SYNC_WRITE :
							      DMA_BUF_SYNC_READ))
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *stress_exporter(void *arg)
{
	struct stress *s = arg;

	for (int i = 0; i < s->iters; i++) {
		int fd = try_export(s->bufs[i % 3], 1 + (u32)(i % 3));
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (fd < 0) {
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		poll(&p, 1, 0);
		close(fd);
	}
	return NULL;
}

static void *stress_syncer(void *arg)
{
	struct stress *s = arg;

	for (int i = 0; i < s->iters / 4; i++) {
		/* waits for writers, which the signaler keeps completing */
		if (dma_sync(s->bufs[i % 3], DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ))
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static bool stress_done;

static void *stress_signaler(void *arg)
{
	struct stress *s = arg;

	while (!__atomic_load_n(&stress_done, __ATOMIC_ACQUIRE)) {
		for (int k = 0; k < 3; k++)
			sync_timeline_signal(s->tl[k], 1);
		sched_yield();
	}
	return NULL;
}

TEST(stress_import_export_sync_while_signaling)
{
	struct stress s = { .iters = (int)STRESS(3000) };
	pthread_t imp[2], exp, syn, sig;

	for (int k = 0; k < 3; k++) {
		s.bufs[k] = new_dmabuf_kind(k & 1, PAGE);
		s.tl[k] = sync_timeline_create("stress");
		REQUIRE(s.bufs[k] >= 0);
	}
	stress_done = false;
	pthread_create(&sig, NULL, stress_signaler, &s);
	pthread_create(&imp[0], NULL, stress_importer, &s);
	pthread_create(&imp[1], NULL, stress_importer, &s);
	pthread_create(&exp, NULL, stress_exporter, &s);
	pthread_create(&syn, NULL, stress_syncer, &s);
	pthread_join(imp[0], NULL);
	pthread_join(imp[1], NULL);
	pthread_join(exp, NULL);
	pthread_join(syn, NULL);
	__atomic_store_n(&stress_done, true, __ATOMIC_RELEASE);
	pthread_join(sig, NULL);
	CHECK_EQ(s.errors, 0);
	for (int k = 0; k < 3; k++) {
		sync_timeline_signal(s.tl[k], 100);
		CHECK_EQ(revents(s.bufs[k], POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
		close(s.bufs[k]);
		sync_timeline_destroy(s.tl[k]);
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * Unit and stress tests of dma-buf readiness (src/uapi/dma-buf-poll.c):
 * dmasync_poll(), dmasync_ppoll() and dmasync_epoll_ctl() on dma-bufs of
 * both kinds, alone and mixed with other fds, with fences imported through
 * DMA_BUF_IOCTL_IMPORT_SYNC_FILE or added in-process.
 */
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <dmasync/dma-fence-unwrap.h>
#include "dma-buf-test.h"

#define TAG 0x0123456789abcdefull

/* A fence that records when signaling was enabled. */
struct lazy_fence {
	struct dma_fence base;
	spinlock_t lock;
	bool enabled;
};

static const char *lazy_name(struct dma_fence *f)
{
	return "lazy";
}

static bool lazy_enable(struct dma_fence *f)
{
	container_of(f, struct lazy_fence, base)->enabled = true;
	return true;
}

static const struct dma_fence_ops lazy_ops = {
	.get_driver_name = lazy_name,
	.get_timeline_name = lazy_name,
	.enable_signaling = lazy_enable,
};

static struct lazy_fence *lazy_create(void)
{
	struct lazy_fence *lf = calloc(1, sizeof(*lf));

	if (!lf)
		abort();
	spin_lock_init(&lf->lock);
	dma_fence_init(&lf->base, &lazy_ops, &lf->lock, dma_fence_context_alloc(1), 1);
	return lf;
}

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

/* ---- poll semantics ------------------------------------------------------------------- */

TEST(poll_idle_reports_the_requested_subset)
{
	for (int k = 0; k < 2; k++) {
		int b = new_dmabuf_kind(k, PAGE);
		struct pollfd p = { .fd = b, .events = 0, .revents = -1 };

		REQUIRE(b >= 0);
		CHECK_EQ(revents(b, POLLIN, 0), POLLIN);
		CHECK_EQ(revents(b, POLLOUT, 0), POLLOUT);
		CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
		CHECK_EQ(revents(b, POLLIN | POLLOUT | POLLPRI | POLLRDNORM, 0), POLLIN | POLLOUT);
		CHECK_EQ(revents(b, POLLPRI, 0), 0);
		CHECK_EQ(dmasync_poll(&p, 1, 0), 0);
		CHECK_EQ(p.revents, 0);
		/* nothing requested: no wait either */
		p.events = POLLPRI;
		CHECK_EQ(dmasync_poll(&p, 1, 30), 0);
		/* a bad array is EFAULT, as poll(2) */
		errno = 0;
		CHECK_EQ(dmasync_poll(NULL, 1, 0), -1);
		CHECK_EQ(errno, EFAULT);
		close(b);
	}
}

TEST(poll_pending_write_and_read)
{
	for (int k = 0; k < 2; k++) {
		struct sync_timeline *tl = sync_timeline_create("t");
		int w = new_dmabuf_kind(k, PAGE), r = new_dmabuf_kind(k, PAGE);

		REQUIRE(import_point(w, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
		REQUIRE(import_point(r, tl, 1, DMA_BUF_SYNC_READ) == 0);
		CHECK_EQ(revents(w, POLLIN, 0), 0);
		CHECK_EQ(revents(w, POLLOUT, 0), 0);
		CHECK_EQ(revents(w, POLLIN | POLLOUT, 0), 0);
		CHECK_EQ(revents(r, POLLIN, 0), POLLIN);
		CHECK_EQ(revents(r, POLLOUT, 0), 0);
		CHECK_EQ(revents(r, POLLIN | POLLOUT, 0), POLLIN);
		sync_timeline_signal(tl, 1);
		CHECK_EQ(revents(w, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
		CHECK_EQ(revents(r, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
		close(w);
		close(r);
		sync_timeline_destroy(tl);
	}
}

TEST(poll_ignores_bookkeep_and_sees_kernel)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	struct dma_fence *bk = sync_pt_create(tl, 1), *kf = sync_pt_create(tl, 2);
	int b = new_heapbuf(PAGE);

	add_fence(b, bk, DMA_RESV_USAGE_BOOKKEEP);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	add_fence(b, kf, DMA_RESV_USAGE_KERNEL);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), 0);
	sync_timeline_signal(tl, 2);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	dma_fence_put(bk);
	dma_fence_put(kf);
	close(b);
	sync_timeline_destroy(tl);
}

/* Polling enables signaling on the fence it waits for, like the kernel. */
TEST(poll_enables_signaling)
{
	struct lazy_fence *lf = lazy_create();
	int b = new_udmabuf(PAGE);

	add_fence(b, &lf->base, DMA_RESV_USAGE_WRITE);
	CHECK(!lf->enabled);
	CHECK_EQ(revents(b, POLLOUT, 0), 0);
	CHECK(lf->enabled);
	dma_fence_signal(&lf->base);
	CHECK_EQ(revents(b, POLLOUT, 0), POLLOUT);
	dma_fence_put(&lf->base);
	close(b);
}

TEST(poll_blocking_woken_by_another_thread)
{
	for (int k = 0; k < 2; k++) {
		struct sync_timeline *tl = sync_timeline_create("t");
		int b = new_dmabuf_kind(k, PAGE);
		struct delayed_inc d;
		ktime_t t0;
		int r;

		REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
		delayed_inc_start(&d, tl, 100, 1);
		t0 = ktime_get();
		r = revents(b, POLLIN, 5000);
		delayed_inc_join(&d);
		CHECK_EQ(r, POLLIN);
		CHECK(ms_since(t0) >= 80);
		CHECK(ms_since(t0) < 4000);
		close(b);
		sync_timeline_destroy(tl);
	}
}

TEST(poll_blocking_waits_for_every_writer)
{
	struct sync_timeline *t1 = sync_timeline_create("a"), *t2 = sync_timeline_create("b");
	int b = new_udmabuf(PAGE);
	struct delayed_inc d1, d2;
	ktime_t t0;

	REQUIRE(import_point(b, t1, 1, DMA_BUF_SYNC_WRITE) == 0);
	REQUIRE(import_point(b, t2, 1, DMA_BUF_SYNC_WRITE) == 0);
	delayed_inc_start(&d1, t1, 50, 1);
	delayed_inc_start(&d2, t2, 250, 1);
	t0 = ktime_get();
	CHECK_EQ(revents(b, POLLIN, 5000), POLLIN);
	CHECK(ms_since(t0) >= 200);
	delayed_inc_join(&d1);
	delayed_inc_join(&d2);
	close(b);
	sync_timeline_destroy(t1);
	sync_timeline_destroy(t2);
}

/* A merged sync file imported: ready only when both fences signaled. */
TEST(poll_merged_import)
{
	struct sync_timeline *t1 = sync_timeline_create("a"), *t2 = sync_timeline_create("b");
	struct dma_fence *a = sync_pt_create(t1, 1), *bb = sync_pt_create(t2, 1);
	struct dma_fence *m = dma_fence_unwrap_merge(a, bb);
	int b = new_heapbuf(PAGE), mfd = fence_fd(m);

	REQUIRE(try_import(b, mfd, DMA_BUF_SYNC_READ) == 0);
	CHECK_EQ(revents(b, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(b, POLLOUT, 0), 0);
	sync_timeline_signal(t2, 1);
	CHECK_EQ(revents(b, POLLOUT, 0), 0);
	sync_timeline_signal(t1, 1);
	CHECK_EQ(revents(b, POLLOUT, 0), POLLOUT);
	close(mfd);
	close(b);
	dma_fence_put(m);
	dma_fence_put(a);
	dma_fence_put(bb);
	sync_timeline_destroy(t1);
	sync_timeline_destroy(t2);
}

/* A new fence makes a ready buffer not ready again. */
TEST(poll_new_fence_makes_it_busy)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE);

	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_READ) == 0);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN);
	REQUIRE(import_point(b, tl, 2, DMA_BUF_SYNC_WRITE) == 0);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), 0);
	sync_timeline_signal(tl, 2);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	close(b);
	sync_timeline_destroy(tl);
}

/* dma-bufs mixed with a pipe and a sync file in one poll set. */
TEST(poll_mixed_sets)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE), idle = new_heapbuf(PAGE), p[2], sf = point_fd(tl, 2);
	struct pollfd set[4];
	struct delayed_inc d;
	ktime_t t0;
	char c;

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
	set[0] = (struct pollfd){ .fd = b, .events = POLLIN };
	set[1] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	set[2] = (struct pollfd){ .fd = sf, .events = POLLIN };
	set[3] = (struct pollfd){ .fd = -1, .events = POLLIN, .revents = 7 };
	CHECK_EQ(dmasync_poll(set, 4, 0), 0);
	/* the pipe wakes the poll while the buffer is busy */
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_EQ(dmasync_poll(set, 4, 5000), 1);
	CHECK_EQ(set[0].revents, 0);
	CHECK_EQ(set[1].revents, POLLIN);
	CHECK_EQ(set[2].revents, 0);
	CHECK_EQ(set[3].revents, 0);
	/* the buffer wakes it with the pipe drained */
	CHECK_EQ(read(p[0], &c, 1), 1);
	delayed_inc_start(&d, tl, 100, 1);
	t0 = ktime_get();
	CHECK_EQ(dmasync_poll(set, 4, 5000), 1);
	delayed_inc_join(&d);
	CHECK(ms_since(t0) >= 80);
	CHECK_EQ(set[0].revents, POLLIN);
	CHECK_EQ(set[1].revents, 0);
	/* several ready at once, with a second entry for the same buffer */
	sync_timeline_signal(tl, 1);
	set[1] = (struct pollfd){ .fd = idle, .events = POLLOUT };
	set[3] = (struct pollfd){ .fd = b, .events = POLLOUT };
	CHECK_EQ(dmasync_poll(set, 4, 0), 4);
	CHECK_EQ(set[0].revents, POLLIN);
	CHECK_EQ(set[1].revents, POLLOUT);
	CHECK_EQ(set[2].revents, POLLIN);
	CHECK_EQ(set[3].revents, POLLOUT);
	/* a closed fd next to a dma-buf: POLLNVAL, as poll(2) */
	set[1].fd = closed_fd();
	set[1].events = POLLIN;
	CHECK_EQ(dmasync_poll(set, 2, 0), 2);
	CHECK_EQ(set[1].revents, POLLNVAL);
	close(p[0]);
	close(p[1]);
	close(sf);
	close(idle);
	close(b);
	sync_timeline_destroy(tl);
}

TEST(ppoll_timeout_and_entries)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE);
	struct pollfd p[2] = { { .fd = b, .events = POLLIN }, { .fd = b, .events = POLLOUT } };
	struct timespec ts = { 0, 50 * 1000000 }, bad = { 0, 2000000000 };
	ktime_t t0;

	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
	t0 = ktime_get();
	CHECK_EQ(dmasync_ppoll(p, 2, &ts, NULL), 0);
	CHECK(ms_since(t0) >= 40);
	errno = 0;
	CHECK_EQ(dmasync_ppoll(p, 2, &bad, NULL), -1);
	CHECK_EQ(errno, EINVAL);
	sync_timeline_signal(tl, 1);
	CHECK_EQ(dmasync_ppoll(p, 2, &ts, NULL), 2);
	CHECK_EQ(p[0].revents, POLLIN);
	CHECK_EQ(p[1].revents, POLLOUT);
	close(b);
	sync_timeline_destroy(tl);
}

static volatile sig_atomic_t hits;

static void on_signal(int sig)
{
	(void)sig;
	hits++;
}

/* poll is never restarted; ppoll's mask lets the signal in. */
TEST(poll_interrupted_by_signals)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_heapbuf(PAGE);
	struct pollfd p = { .fd = b, .events = POLLIN };
	struct sigaction sa, old;
	struct itimerval it = { { 0, 0 }, { 0, 50000 } }, off = { { 0, 0 }, { 0, 0 } };
	sigset_t block, empty, saved;
	int r, e;

	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	hits = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	r = dmasync_poll(&p, 1, 5000);
	e = errno;
	CHECK_EQ(r, -1);
	CHECK_EQ(e, EINTR);
	CHECK_EQ(hits, 1);
	/* blocked in the thread, unblocked by ppoll's mask */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigemptyset(&empty);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	setitimer(ITIMER_REAL, &it, NULL);
	r = dmasync_ppoll(&p, 1, NULL, &empty);
	e = errno;
	CHECK_EQ(r, -1);
	CHECK_EQ(e, EINTR);
	CHECK_EQ(hits, 2);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	sync_timeline_signal(tl, 1);
	close(b);
	sync_timeline_destroy(tl);
}

/* ---- epoll --------------------------------------------------------------------------- */

TEST(epoll_data_unchanged_level_triggered)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE), br = new_heapbuf(PAGE);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev, out[4];

	REQUIRE(ep >= 0);
	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_WRITE) == 0);
	REQUIRE(import_point(br, tl, 1, DMA_BUF_SYNC_READ) == 0);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = TAG;
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	ev.events = EPOLLOUT;
	ev.data.u64 = ~TAG;
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, br, &ev) == 0);
	errno = 0;
	CHECK_EQ(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev), -1);
	CHECK_EQ(errno, EEXIST);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	sync_timeline_signal(tl, 1);
	REQUIRE(epoll_wait(ep, out, 4, 5000) == 2);
	for (int i = 0; i < 2; i++) {
		if (out[i].data.u64 == TAG)
			CHECK_EQ(out[i].events, EPOLLIN);
		else
			CHECK(out[i].data.u64 == ~TAG && out[i].events == EPOLLOUT);
	}
	/* level-triggered: still ready */
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 2);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL) == 0);
	REQUIRE(epoll_wait(ep, out, 4, 0) == 1);
	CHECK_EQ(out[0].data.u64, ~TAG);
	errno = 0;
	CHECK_EQ(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(dmasync_epoll_ctl(ep, EPOLL_CTL_MOD, b, &ev), -1);
	CHECK_EQ(errno, ENOENT);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, br, NULL) == 0);
	close(ep);
	close(b);
	close(br);
	sync_timeline_destroy(tl);
}

TEST(epoll_follows_imports_and_signals)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE), ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u64 = TAG }, out[2];

	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	REQUIRE(epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN | EPOLLOUT);
	CHECK_EQ(out[0].data.u64, TAG);
	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_READ) == 0);
	REQUIRE(epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	REQUIRE(import_point(b, tl, 2, DMA_BUF_SYNC_WRITE) == 0);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 0);
	sync_timeline_signal(tl, 1);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 0);
	sync_timeline_signal(tl, 1);
	REQUIRE(epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN | EPOLLOUT);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL) == 0);
	close(ep);
	close(b);
	sync_timeline_destroy(tl);
}

/* Fences added by in-process code reach epoll when the resv is unlocked. */
TEST(epoll_in_process_fences)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	struct dma_fence *f = sync_pt_create(tl, 1);
	int b = new_heapbuf(PAGE), ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 5 }, out[2];

	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 1);
	add_fence(b, f, DMA_RESV_USAGE_READ);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 0);
	sync_timeline_signal(tl, 1);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 1);
	dma_fence_put(f);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL) == 0);
	close(ep);
	close(b);
	sync_timeline_destroy(tl);
}

TEST(epoll_blocking_edge_oneshot_and_mod)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE), ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.u64 = TAG }, out[2];
	struct delayed_inc d;
	ktime_t t0;

	REQUIRE(import_point(b, tl, 1, DMA_BUF_SYNC_READ) == 0);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	delayed_inc_start(&d, tl, 100, 1);
	t0 = ktime_get();
	REQUIRE(epoll_wait(ep, out, 2, 5000) == 1);
	delayed_inc_join(&d);
	CHECK(ms_since(t0) >= 80);
	CHECK_EQ(out[0].events, EPOLLOUT);
	CHECK_EQ(out[0].data.u64, TAG);
	/* edge-triggered: again while ready (the kernel's dma-buf poll wakes
	 * its own wait queue when it finds the direction ready) */
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 1);
	/* MOD to one-shot level-triggered EPOLLIN with new data */
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = 77;
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_MOD, b, &ev) == 0);
	REQUIRE(epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK_EQ(out[0].data.u64, 77);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 0);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_MOD, b, &ev) == 0);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 1);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL) == 0);
	close(ep);
	close(b);
	sync_timeline_destroy(tl);
}

TEST(epoll_errors_and_other_fds)
{
	int b = new_udmabuf(PAGE), ep = epoll_create1(EPOLL_CLOEXEC), ep2 = epoll_create1(0), p[2];
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, out[2];

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	errno = 0;
	CHECK_EQ(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, b, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(dmasync_epoll_ctl(closed_fd(), EPOLL_CTL_ADD, b, &ev), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(dmasync_epoll_ctl(p[0], EPOLL_CTL_ADD, b, &ev), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(dmasync_epoll_ctl(closed_fd(), EPOLL_CTL_DEL, b, NULL), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(dmasync_epoll_ctl(p[0], EPOLL_CTL_DEL, b, NULL), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(dmasync_epoll_ctl(ep, 99, b, &ev), -1);
	CHECK_EQ(errno, EINVAL);
	/* the same buffer in two sets, and under a second fd number */
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	REQUIRE(dmasync_epoll_ctl(ep2, EPOLL_CTL_ADD, b, &ev) == 0);
	{
		int d = dup(b);

		ev.data.u64 = 2;
		REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, d, &ev) == 0);
		CHECK_EQ(epoll_wait(ep, out, 2, 0), 2);
		CHECK_EQ(epoll_wait(ep2, out, 2, 0), 1);
		REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL) == 0);
		close(d);
	}
	/* other fds pass through to epoll_ctl(2) */
	ev.data.u64 = 3;
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 2);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL) == 0);
	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL) == 0);
	REQUIRE(dmasync_epoll_ctl(ep2, EPOLL_CTL_DEL, b, NULL) == 0);
	close(p[0]);
	close(p[1]);
	close(ep);
	close(ep2);
	close(b);
}

/* Registrations go with the buffer (its last fd closed) or with the set. */
TEST(epoll_registrations_released_with_buffer_or_set)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int b = new_udmabuf(PAGE), c = new_heapbuf(PAGE), ep = epoll_create1(EPOLL_CLOEXEC);
	int ep2 = epoll_create1(EPOLL_CLOEXEC), fds_before, fds_after;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, out[2];

	REQUIRE(dmasync_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	/* the buffer's last fd closed: gone from the set, at once with
	 * dmasync_close() */
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 1);
	CHECK_EQ(dmasync_close(b), 0);
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 0);
	/* the set closed: the mirror is released by the next reap pass */
	REQUIRE(dmasync_epoll_ctl(ep2, EPOLL_CTL_ADD, c, &ev) == 0);
	reap();	/* the device fds closed above: gone before we count */
	fds_before = 0;
	for (int fd = 0; fd < 1024; fd++)
		fds_before += fcntl(fd, F_GETFD) != -1;
	close(ep2);
	reap();
	fds_after = 0;
	for (int fd = 0; fd < 1024; fd++)
		fds_after += fcntl(fd, F_GETFD) != -1;
	CHECK_EQ(fds_after, fds_before - 3);
	close(ep);
	close(c);
	sync_timeline_destroy(tl);
}

/* ---- concurrency ------------------------------------------------------------------------- */

struct pstress {
	int bufs[2];
	int ep;
	struct sync_timeline *tl;
	int iters;
	bool done;
	int errors;
};

static void *ps_importer(void *arg)
{
	struct pstress *s = arg;

	for (int i = 0; i < s->iters; i++) {
		u32 v = sync_timeline_value(s->tl) + 1 + (u32)(i % 3);

		if (import_point(s->bufs[i & 1], s->tl, v, (i % 3) ? DMA_BUF_SYNC_READ :
								    DMA_BUF_SYNC_WRITE))
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
		if (!(i % 64))
			sched_yield();
	}
	return NULL;
}

static void *ps_poller(void *arg)
{
	struct pstress *s = arg;

	while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
		struct pollfd p[2] = { { .fd = s->bufs[0], .events = POLLIN },
				       { .fd = s->bufs[1], .events = POLLOUT } };

		if (dmasync_poll(p, 2, 20) < 0)
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *ps_epoller(void *arg)
{
	struct pstress *s = arg;
	struct epoll_event out[4];

	while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE))
		if (epoll_wait(s->ep, out, 4, 20) < 0)
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *ps_exporter(void *arg)
{
	struct pstress *s = arg;

	while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
		int fd = try_export(s->bufs[0], DMA_BUF_SYNC_RW);

		if (fd < 0)
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
		else
			close(fd);
	}
	return NULL;
}

static void *ps_signaler(void *arg)
{
	struct pstress *s = arg;

	while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
		sync_timeline_signal(s->tl, 1);
		sched_yield();
	}
	return NULL;
}

TEST(stress_poll_epoll_import_export_while_signaling)
{
	struct pstress s = { .iters = (int)STRESS(4000) };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT }, out[4];
	pthread_t imp, pol, epo, exp, sig;

	s.bufs[0] = new_udmabuf(PAGE);
	s.bufs[1] = new_heapbuf(PAGE);
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	s.tl = sync_timeline_create("stress");
	for (int i = 0; i < 2; i++) {
		ev.data.u64 = (u64)i;
		REQUIRE(dmasync_epoll_ctl(s.ep, EPOLL_CTL_ADD, s.bufs[i], &ev) == 0);
	}
	pthread_create(&sig, NULL, ps_signaler, &s);
	pthread_create(&pol, NULL, ps_poller, &s);
	pthread_create(&epo, NULL, ps_epoller, &s);
	pthread_create(&exp, NULL, ps_exporter, &s);
	pthread_create(&imp, NULL, ps_importer, &s);
	pthread_join(imp, NULL);
	__atomic_store_n(&s.done, true, __ATOMIC_RELEASE);
	pthread_join(exp, NULL);
	pthread_join(epo, NULL);
	pthread_join(pol, NULL);
	pthread_join(sig, NULL);
	CHECK_EQ(s.errors, 0);
	/* everything signaled: the mirrors agree with poll */
	sync_timeline_signal(s.tl, 10);
	CHECK_EQ(revents(s.bufs[0], POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	CHECK_EQ(epoll_wait(s.ep, out, 4, 1000), 2);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(out[i].events, EPOLLIN | EPOLLOUT);
		REQUIRE(dmasync_epoll_ctl(s.ep, EPOLL_CTL_DEL, s.bufs[i], NULL) == 0);
		close(s.bufs[i]);
	}
	close(s.ep);
	sync_timeline_destroy(s.tl);
}

/* SPDX-License-Identifier: MIT */
/*
 * Sync-file and sw_sync-device benchmarks, through the emulated UAPI
 * (dmasync_open/dmasync_ioctl with the kernel's structs), as a program
 * would use them.  Every figure is printed in ns/op and as a multiple of a
 * plain system call, getppid(), measured in the same run, so that it can
 * be compared with the kernel's own cost in the same unit (Linux: MERGE of
 * two fences ~13 syscalls, FILE_INFO 5-8, close ~5).
 *
 *   fd primitive:  socketpair() + close() of both ends (the floor of every
 *                  sync file: it is what one is made of); close() of one
 *                  end whose peer is watched by epoll (the floor of
 *                  closing a sync file); and, for scale, eventfd()+close()
 *   MERGE of 2 pending sync files on two timelines
 *   FILE_INFO count-only, and full (2 fences)
 *   poll() of a signaled sync file (native; no dmasync code runs)
 *   close() of a sync file: the close itself, and until the monitor thread
 *                  released it
 *   CREATE_FENCE (a pending point, new fd)
 *   INC with nothing to signal, and signaling one pending sync file
 *
 * Usage: bench-sync-file [batch]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sync_file.h>

#include <dmasync/dmasync-uapi.h>
#include <dmasync/sync_file.h>
#include "file.h"
#include "sw_sync_uapi.h"
#include "bench-common.h"

static double floor_ns;

static void report(const char *what, double ns)
{
	printf("%-44s %9.1f ns/op   %6.1f x getppid\n", what, ns, ns / floor_ns);
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double bench_getppid(long n)
{
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return per_op(t, n);
}

static double bench_socketpair(long n)
{
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
			die("socketpair");
		close(sv[0]);
		close(sv[1]);
	}
	return per_op(t, n);
}

/* The cheapest pollable fd: what a sync file could cost if an eventfd
 * could tell its owner that its last copy was closed (it cannot). */
static double bench_eventfd(long n)
{
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0)
			die("eventfd");
		close(fd);
	}
	return per_op(t, n);
}

/* close() of one end of @n socketpairs whose other ends sit in an epoll
 * set, as a sync file's do: what closing a sync file costs at least. */
static double bench_socket_close(int *fds, int n)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), *peers = calloc((size_t)n, sizeof(int));
	ktime_t t;
	double ns;

	if (ep < 0 || !peers)
		die("epoll");
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLONESHOT };
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
			die("socketpair");
		fds[i] = sv[0];
		peers[i] = sv[1];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev))
			die("epoll_ctl");
	}
	t = ktime_get();
	for (int i = 0; i < n; i++)
		close(fds[i]);
	ns = per_op(t, n);
	for (int i = 0; i < n; i++)
		close(peers[i]);
	close(ep);
	free(peers);
	return ns;
}

static int open_tl(void)
{
	int fd = dmasync_open(SW_SYNC_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open sw_sync");
	return fd;
}

static int create_fence(int tl, u32 value)
{
	struct sw_sync_create_fence_data d = { .value = value };

	if (dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d))
		die("CREATE_FENCE");
	return d.fence;
}

static void wait_released(unsigned int files)
{
	while (uapi_files_count() > files)
		sched_yield();
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int main(int argc, char **argv)
{
	int batch = argc > 1 ? atoi(argv[1]) : 2000;
	int t1, t2, a, b, m, done, *fds = calloc((size_t)batch, sizeof(int));
	struct sync_file_info info;
	struct sync_fence_info fi[2];
	struct rlimit rl;
	unsigned int files0;
	ktime_t t;
	double ns;

	/* Each sync file is two fds; make room for a batch of them. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)(2 * batch + 64)) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)(2 * batch + 64) ? rl.rlim_max :
								     (rlim_t)(2 * batch + 64);
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)(2 * batch + 64))
			batch = (int)(rl.rlim_cur - 64) / 2;
	}
	if (!fds || batch <= 0)
		die("batch");

	bench_getppid(20000);
	floor_ns = bench_getppid(200000);
	printf("floor: getppid() %.1f ns\n", floor_ns);
	report("fd primitive: socketpair+close", bench_socketpair(batch));
	report("  (eventfd+close, for scale)", bench_eventfd(batch));
	report("  close() of one end, peer in an epoll set", bench_socket_close(fds, batch));

	t1 = open_tl();
	t2 = open_tl();
	a = create_fence(t1, 1);
	b = create_fence(t2, 1);
	files0 = uapi_files_count();

	/* MERGE of two pending sync files; the results are closed untimed. */
	for (int rep = 0; rep < 2; rep++) {
		struct sync_merge_data md = { .name = "bench", .fd2 = b };

		t = ktime_get();
		for (int i = 0; i < batch; i++) {
			if (dmasync_ioctl(a, SYNC_IOC_MERGE, &md))
				die("MERGE");
			fds[i] = md.fence;
		}
		ns = per_op(t, batch);
		close_all(fds, batch);
		wait_released(files0);
		if (rep)
			report("SYNC_IOC_MERGE (2 pending fences)", ns);
	}

	/* FILE_INFO on the merge of the two. */
	{
		struct sync_merge_data md = { .name = "bench", .fd2 = b };

		if (dmasync_ioctl(a, SYNC_IOC_MERGE, &md))
			die("MERGE");
		m = md.fence;
	}
	t = ktime_get();
	for (int i = 0; i < 10 * batch; i++) {
		memset(&info, 0, sizeof(info));
		if (dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info))
			die("FILE_INFO");
	}
	report("SYNC_IOC_FILE_INFO count only", per_op(t, 10 * batch));
	t = ktime_get();
	for (int i = 0; i < 10 * batch; i++) {
		memset(&info, 0, sizeof(info));
		info.num_fences = 2;
		info.sync_fence_info = (u64)(uintptr_t)fi;
		if (dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info))
			die("FILE_INFO");
	}
	report("SYNC_IOC_FILE_INFO with 2 fences", per_op(t, 10 * batch));

	/* poll() of a signaled sync file: native, no library code. */
	done = create_fence(t1, 0);
	t = ktime_get();
	for (int i = 0; i < 10 * batch; i++) {
		struct pollfd p = { .fd = done, .events = POLLIN };

		if (poll(&p, 1, 0) != 1)
			die("poll");
	}
	report("poll() of a signaled sync file", per_op(t, 10 * batch));
	close(done);

	/* CREATE_FENCE of pending points; then close, then the release. */
	for (int rep = 0; rep < 2; rep++) {
		ktime_t t_close, t_released;

		files0 = uapi_files_count();
		t = ktime_get();
		for (int i = 0; i < batch; i++)
			fds[i] = create_fence(t1, 1000000 + (u32)i);
		ns = per_op(t, batch);
		t = ktime_get();
		close_all(fds, batch);
		t_close = ktime_get();
		wait_released(files0);
		t_released = ktime_get();
		if (!rep)
			continue;
		report("SW_SYNC_IOC_CREATE_FENCE (pending)", ns);
		report("close() of a sync file", (double)(t_close - t) / batch);
		report("  ... until the monitor released it", (double)(t_released - t) / batch);
	}

	/* INC: nothing to signal, then one sync file per increment. */
	{
		u32 one = 1, base;

		t = ktime_get();
		for (int i = 0; i < 10 * batch; i++)
			if (dmasync_ioctl(t2, SW_SYNC_IOC_INC, &one))
				die("INC");
		report("SW_SYNC_IOC_INC, nothing pending", per_op(t, 10 * batch));
		/* t2 is at 1 + 10 * batch now. */
		base = 1 + 10 * (u32)batch;
		for (int i = 0; i < batch; i++)
			fds[i] = create_fence(t2, base + 1 + (u32)i);
		t = ktime_get();
		for (int i = 0; i < batch; i++)
			if (dmasync_ioctl(t2, SW_SYNC_IOC_INC, &one))
				die("INC");
		report("SW_SYNC_IOC_INC signaling 1 sync file", per_op(t, batch));
		close_all(fds, batch);
	}

	close(m);
	close(a);
	close(b);
	close(t1);
	close(t2);
	wait_released(0);
	free(fds);
	return 0;
}

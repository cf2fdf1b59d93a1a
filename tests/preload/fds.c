/* SPDX-License-Identifier: MIT */
/*
 * The program's fd numbers are its own under `dmasync run`: a plain
 * program (no dmasync header or library) checks that the library's fds
 * (the broker connection) never take a low number, and that closing
 * every fd it does not know of (closefrom, close_range, close of each
 * number) leaves dmasync working.  Prints TAP.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sync_file.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/dma-heap.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct sw_sync_create_fence_data {
	uint32_t value;
	char name[32];
	int32_t fence;
};
#define SW_SYNC_IOC_CREATE_FENCE _IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW('W', 1, uint32_t)

static int nr, failed;

static void check(int ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++nr, what);
	fflush(stdout);
	failed |= !ok;
}

/* A timeline, a point on it, INC: the point signals.  Return: whether all
 * of it worked. */
static int round_trip(void)
{
	struct sw_sync_create_fence_data cf = { .value = 1 };
	struct sync_file_info info = { 0 };
	uint32_t one = 1;
	int tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC), ok;

	if (tl < 0)
		return 0;
	ok = !ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf) && !ioctl(cf.fence, SYNC_IOC_FILE_INFO, &info) &&
	     info.status == 0 && !ioctl(tl, SW_SYNC_IOC_INC, &one);
	memset(&info, 0, sizeof(info));	/* num_fences was filled in */
	ok = ok && !ioctl(cf.fence, SYNC_IOC_FILE_INFO, &info) && info.status == 1;
	if (cf.fence > 0)
		close(cf.fence);
	close(tl);
	return ok;
}

/* The lowest fd number not open. */
static int lowest_free(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

int main(void)
{
	int first = lowest_free(), n;
	char what[160];

	check(round_trip(), "a timeline and a fence work");
	n = lowest_free();
	snprintf(what, sizeof(what),
		 "using dmasync took no low fd number (lowest free %d before, %d after)", first, n);
	check(n == first, what);
	/* closefrom() of everything above stdio, as daemons and spawners do */
	closefrom(3);
	check(round_trip(), "after closefrom(3), dmasync still works");
	check(lowest_free() == 3, "and the program's next fd is 3");
	check(close_range(3, ~0u, 0) == 0 && round_trip(), "close_range(3, ~0U, 0): the same");
	/* closing numbers it never opened, one by one: EBADF for each */
	n = 0;
	for (int fd = 3; fd < 2048; fd++)
		if (close(fd) == 0)
			n++;
		else if (errno != EBADF)
			n += 1000;
	snprintf(what, sizeof(what), "close() of every number 3..2047: all EBADF (%d closed)", n);
	check(n == 0 && round_trip(), what);
	/* a shell's `exec 3<file`: dup2 onto a low number the program chose */
	{
		int a = open("/dev/null", O_RDONLY), b = dup2(a, 3);

		check(b == 3 && round_trip() && fcntl(3, F_GETFD) >= 0, "dup2 onto 3 is the program's");
		close(a);
		close(3);
	}
	/* a dma-buf in an epoll set: what stands in for it there is ours too */
	{
		struct dma_heap_allocation_data a = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };
		int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
		int ep = epoll_create1(EPOLL_CLOEXEC), next, closed = 0;
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 }, got[2];

		check(heap >= 0 && ep >= 0 && !ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) &&
		      !epoll_ctl(ep, EPOLL_CTL_ADD, (int)a.fd, &ev), "a heap dma-buf added to an epoll set");
		next = lowest_free();
		snprintf(what, sizeof(what), "the registration took no low number (next fd %d, after %d)",
			 next, heap > ep ? (heap > (int)a.fd ? heap : (int)a.fd) : (ep > (int)a.fd ? ep : (int)a.fd));
		check(next == (heap > ep ? heap : ep) + 1 || next == (int)a.fd + 1, what);
		for (int fd = 3; fd < 2048; fd++)
			if (fd != heap && fd != ep && fd != (int)a.fd && close(fd) == 0)
				closed++;
		check(closed == 0, "close() of every other number: all EBADF, the registration's included");
		check(epoll_wait(ep, got, 2, 1000) == 1 && got[0].data.u64 == 42 &&
		      (got[0].events & EPOLLIN), "the buffer still reports through the epoll set");
		close((int)a.fd);
		close(ep);
		close(heap);
	}
	printf("1..%d\n", nr);
	return failed;
}

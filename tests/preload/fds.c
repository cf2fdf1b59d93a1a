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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <malloc.h>
#include <sys/mman.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sw_sync-abi.h"


static int nr, failed;

static void check(int ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++nr, what);
	fflush(stdout);
	failed |= !ok;
}

/* A timeline, a point on it, INC: the point signals (if @polled, polled
 * before and after: the library keeps a doorbell for the timeline and a
 * set to wait on it).  Return: whether all of it worked. */
static int round_trip_polled(bool polled)
{
	struct sw_sync_create_fence_data cf = { .value = 1 };
	struct sync_file_info info = { 0 };
	struct pollfd p = { .events = POLLIN };
	uint32_t one = 1;
	int tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC), ok;

	if (tl < 0)
		return 0;
	ok = !ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf) && !ioctl(cf.fence, SYNC_IOC_FILE_INFO, &info) &&
	     info.status == 0;
	p.fd = cf.fence;
	ok = ok && (!polled || poll(&p, 1, 0) == 0) && !ioctl(tl, SW_SYNC_IOC_INC, &one) &&
	     (!polled || (poll(&p, 1, 5000) == 1 && p.revents == POLLIN));
	memset(&info, 0, sizeof(info));	/* num_fences was filled in */
	ok = ok && !ioctl(cf.fence, SYNC_IOC_FILE_INFO, &info) && info.status == 1;
	if (cf.fence > 0)
		close(cf.fence);
	close(tl);
	return ok;
}

static int round_trip(void)
{
	return round_trip_polled(true);
}

/* The lowest fd number not open. */
static int lowest_free(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/*
 * The numbers this program never opened (>= HIGH: it opens nothing that
 * high) and what /proc/self/fd says they are: the library's own fds, up to
 * @max into @fds and @links.  Return: how many.  HIGH: where the library
 * keeps them, 1024 and up, or the top 64 of a soft RLIMIT_NOFILE below
 * 1088 (docs/kernel-compat.md; 1024 is the usual soft limit).
 */
static int high = 1000;
#define HIGH high
#define LINK 64
static int high_fds(int *fds, char (*links)[LINK], int max)
{
	/* Raw system calls: the preload leaves its own fds out of the
	 * program's listings and links, as fcntl() of one says EBADF. */
	int d = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
	char buf[4096];
	long got;

	if (d < 0)
		return 0;
	while ((got = syscall(SYS_getdents64, d, buf, sizeof(buf))) > 0 && n < max) {
		for (long off = 0; off < got && n < max;) {
			struct linux_dirent64 {
				unsigned long long d_ino;
				long long d_off;
				unsigned short d_reclen;
				unsigned char d_type;
				char d_name[];
			} *e = (void *)(buf + off);
			char path[300];
			long len;
			int fd = atoi(e->d_name);

			off += e->d_reclen;
			if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd < HIGH || fd == d)
				continue;
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			len = syscall(SYS_readlinkat, AT_FDCWD, path, links[n], LINK - 1);
			links[n][len > 0 ? len : 0] = '\0';
			fds[n++] = fd;
		}
	}
	syscall(SYS_close, d);
	return n;
}

/* The number whose /proc/self/fd link reads @link (>= HIGH), or -1. */
static int high_fd_linked(const char *link)
{
	char links[16][LINK];
	int fds[16], n = high_fds(fds, links, 16);

	for (int i = 0; i < n; i++)
		if (!strcmp(links[i], link))
			return fds[i];
	return -1;
}

/* The broker connection: the library's one socket while no dma-buf is in
 * an epoll set.  Its number, its link into @link; -1 if none. */
static int connection(char link[LINK])
{
	char links[16][LINK];
	int fds[16], n = high_fds(fds, links, 16), found = -1;

	for (int i = 0; i < n; i++)
		if (!strncmp(links[i], "socket:", 7)) {
			if (found >= 0)
				return -1;	/* two: cannot tell */
			found = fds[i];
			strcpy(link, links[i]);
		}
	return found;
}

/* Another thread's requests while the main thread takes the connection's
 * number again and again. */
static int stop_requests;	/* atomic */
static void *requests(void *arg)
{
	long *failures = arg;

	/* No poll: in the TSan build, TSan ignores the locks the preload takes
	 * inside its poll interceptor (tests/preload/meson.build), and would
	 * report races on what they guard against the main thread's dup2(). */
	for (long i = 0; !__atomic_load_n(&stop_requests, __ATOMIC_ACQUIRE) || i < 20; i++)
		*failures += !round_trip_polled(false);
	return NULL;
}

/*
 * A udmabuf mapped and unmapped many times (a client mapping a frame's
 * buffer every frame): what the library keeps per mapping (munmap() is not
 * wrapped) stays bounded.  Return: the growth of the heap in use, bytes.
 */
static long udmabuf_map_churn(int rounds)
{
	struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = 4096 };
	int dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	int m = memfd_create("churn", MFD_ALLOW_SEALING | MFD_CLOEXEC), b;
	struct mallinfo2 before, after;
	long grown = -1;

	if (dev < 0 || m < 0 || ftruncate(m, 4096) || fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK))
		goto out;
	c.memfd = (uint32_t)m;
	b = ioctl(dev, UDMABUF_CREATE, &c);
	if (b < 0)
		goto out;
	/* the first mappings set up what every later one reuses */
	for (int i = 0; i < 300; i++) {
		void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, b, 0);

		if (p == MAP_FAILED)
			goto out_buf;
		munmap(p, 4096);
	}
	before = mallinfo2();
	for (int i = 0; i < rounds; i++) {
		void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, b, 0);

		if (p == MAP_FAILED)
			goto out_buf;
		munmap(p, 4096);
	}
	after = mallinfo2();
	grown = (long)after.uordblks - (long)before.uordblks;
out_buf:
	close(b);
out:
	if (m >= 0)
		close(m);
	if (dev >= 0)
		close(dev);
	return grown;
}

int main(void)
{
	int first = lowest_free(), n;
	struct rlimit rl;
	char what[160];

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 1024 + 64)
		high = (int)rl.rlim_cur - 64;

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
	/* dup2 onto the broker connection's number: the program's (Linux: it is
	 * not open); the library's connection moves */
	{
		char link[LINK] = "", what2[LINK + 100];
		int conn = connection(link), p[2] = { -1, -1 }, r, moved;
		struct stat st;

		check(conn >= HIGH && pipe(p) == 0, "the library's connection is a socket at a high number");
		errno = 1234;
		r = dup2(p[0], conn);
		snprintf(what, sizeof(what), "dup2(pipe, %d) onto the connection: %d (%s)", conn, r,
			 r < 0 ? strerror(errno) : "ok");
		check(r == conn && errno == 1234, what);
		check(!fstat(conn, &st) && S_ISFIFO(st.st_mode), "the program's pipe is at that number");
		check(round_trip(), "a timeline, a fence, FILE_INFO and INC still work");
		moved = high_fd_linked(link);
		snprintf(what2, sizeof(what2), "the connection (%s) moved to %d", link, moved);
		check(moved >= HIGH && moved != conn, what2);
		check(close(conn) == 0, "the program closes its own fd at that number");
		/* dup3 onto its new number, O_CLOEXEC */
		r = dup3(p[1], moved, O_CLOEXEC);
		check(r == moved && fcntl(moved, F_GETFD) == FD_CLOEXEC && round_trip() &&
		      high_fd_linked(link) >= HIGH, "dup3(pipe, its new number, O_CLOEXEC): the same");
		close(moved);
		/* a failing dup2 onto it (bad source) leaves nothing at the number */
		conn = high_fd_linked(link);
		r = dup2(-1, conn);
		check(r == -1 && errno == EBADF && fcntl(conn, F_GETFD) == -1 && round_trip(),
		      "dup2(-1, connection): EBADF, and the number stays free");
		close(p[0]);
		close(p[1]);
	}
	/* ... while another thread makes requests: each request runs whole on
	 * one number or the other. */
	{
		char link[LINK] = "";
		long failures = 0;
		int p[2], takes = 0, wrong = 0;
		pthread_t t;

		(void)connection(link);
		check(pipe(p) == 0 && !pthread_create(&t, NULL, requests, &failures),
		      "a thread making requests");
		for (int i = 0; i < 200; i++) {
			int conn = high_fd_linked(link);
			struct stat st;

			if (conn < 0)
				continue;
			takes++;
			wrong += dup2(p[0], conn) != conn || fstat(conn, &st) || !S_ISFIFO(st.st_mode);
			close(conn);
		}
		__atomic_store_n(&stop_requests, 1, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		snprintf(what, sizeof(what),
			 "200 dup2 onto the connection meanwhile: %d taken, %d wrong, %ld requests failed",
			 takes, wrong, failures);
		check(takes > 100 && wrong == 0 && failures == 0, what);
		close(p[0]);
		close(p[1]);
	}
	/* the monitor's epoll and inotify fds: the same */
	{
		char links[16][LINK];
		int fds[16], k = high_fds(fds, links, 16), done = 0, p[2];

		check(pipe(p) == 0, "a pipe");
		for (int i = 0; i < k; i++) {
			if (!strncmp(links[i], "socket:", 7))
				continue;
			done += dup2(p[0], fds[i]) == fds[i];
			close(fds[i]);
		}
		snprintf(what, sizeof(what), "dup2 onto each of the library's other fds: %d of %d", done,
			 k - 1);
		check(done == k - 1 && round_trip(), what);
		close(p[0]);
		close(p[1]);
	}
	/* the library's numbers, even once a call has looked at them: EBADF */
	{
		char links[16][LINK];
		int fds[16], k = high_fds(fds, links, 16), bad = 0;

		for (int i = 0; i < k; i++) {
			struct stat st;
			char c;
			int nread;

			lseek(fds[i], 0, SEEK_CUR);	/* the preload now knows the number */
			bad += close(fds[i]) == 0 || errno != EBADF;
			bad += dup(fds[i]) >= 0 || errno != EBADF;
			bad += fcntl(fds[i], F_DUPFD_CLOEXEC, 3) >= 0 || errno != EBADF;
			/* nor can it read, write, ask or stat what it never opened
			 * (a read of the connection would take the broker's reply) */
			bad += read(fds[i], &c, 1) >= 0 || errno != EBADF;
			bad += write(fds[i], "", 1) >= 0 || errno != EBADF;
			bad += fcntl(fds[i], F_GETFD) >= 0 || errno != EBADF;
			bad += ioctl(fds[i], FIONREAD, &nread) >= 0 || errno != EBADF;
			bad += lseek(fds[i], 0, SEEK_CUR) >= 0 || errno != EBADF;
			bad += fstat(fds[i], &st) == 0 || errno != EBADF;
		}
		snprintf(what, sizeof(what),
			 "the library's %d fds, looked at: close, dup, F_DUPFD, read, write, F_GETFD, "
			 "ioctl, lseek, fstat all EBADF (%d not)", k, bad);
		check(k >= 1 && bad == 0 && round_trip(), what);
	}
	/* a dma-buf in an epoll set: what stands in for it there is ours too */
	{
		struct dma_heap_allocation_data a = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };
		int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
		int ep = epoll_create1(EPOLL_CLOEXEC), next, closed = 0;
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 }, got[2];
		char connlink[LINK] = "";

		connection(connlink);	/* before the buffer's mirror exists */

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
		/* dup2 onto what stands in for it: the registration moves */
		{
			char links[16][LINK];
			int fds[16], k = high_fds(fds, links, 16), mirror = -1, p[2], r = -1;
			struct stat st;

			for (int i = 0; i < k; i++)
				if (!strncmp(links[i], "socket:", 7) && strcmp(links[i], connlink))
					mirror = fds[i];
			if (mirror >= 0 && pipe(p) == 0) {
				r = dup2(p[0], mirror);
				if (r != mirror || fstat(mirror, &st) || !S_ISFIFO(st.st_mode))
					r = -1;
				close(mirror);
				close(p[0]);
				close(p[1]);
			}
			snprintf(what, sizeof(what), "dup2 onto the number of the buffer's mirror (%d)",
				 mirror);
			check(r >= 0, what);
			memset(got, 0, sizeof(got));
			check(epoll_wait(ep, got, 2, 1000) == 1 && got[0].data.u64 == 42 &&
			      got[0].events == EPOLLIN, "the buffer still reports EPOLLIN with its data");
			check(epoll_ctl(ep, EPOLL_CTL_DEL, (int)a.fd, NULL) == 0 &&
			      epoll_wait(ep, got, 2, 0) == 0, "and leaves the set with EPOLL_CTL_DEL");
			check(round_trip(), "dmasync still works");
		}
		close((int)a.fd);
		close(ep);
		close(heap);
	}
	/* A fork child, before its first request: the parent's connection
	 * number is the library's (kept for the child's own connection); a
	 * read there would take the parent's replies. */
	{
		char link[LINK] = "";
		int conn, st, pipefd[2];
		pid_t kid;

		check(round_trip(), "a request in the parent first");
		conn = connection(link);
		check(conn >= 0 && pipe(pipefd) == 0, "the parent's connection");
		fflush(stdout);
		kid = fork();
		if (kid == 0) {
			char c;
			int bad = 0;

			bad |= read(conn, &c, 1) >= 0 || errno != EBADF;
			bad |= (write(conn, "", 1) >= 0 || errno != EBADF) << 1;
			bad |= (close(conn) == 0 || errno != EBADF) << 2;
			bad |= (fcntl(conn, F_GETFD) >= 0 || errno != EBADF) << 3;
			/* and the child's own connection takes that number */
			bad |= !round_trip() << 4;
			bad |= (high_fd_linked(link) >= 0) << 5;
			{
				char now[LINK] = "";

				bad |= (connection(now) != conn || !strcmp(now, link)) << 6;
			}
			_exit(bad);
		}
		if (kid > 0 && waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st))
			printf("# child's failures: %#x\n", WEXITSTATUS(st));
		check(kid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "a fork child: read, write, close, F_GETFD of the parent's connection number "
		      "EBADF before its first request; then its own connection at that number");
		check(round_trip(), "the parent's connection still works");
		close(pipefd[0]);
		close(pipefd[1]);
	}
	/* EXPORT_SYNC_FILE of an idle buffer: the library keeps a sync file
	 * of the stub (its copies answer later ones), out of the way: the
	 * export takes the lowest number, dup2 onto the kept one moves it */
	{
		struct dma_heap_allocation_data a = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };
		struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ, .fd = -1 };
		struct sync_file_info info = { 0 };
		int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC), low, kept, p[2], r = -1;
		char path[64], link[LINK] = "";
		ssize_t len;

		check(heap >= 0 && !ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a), "a heap dma-buf");
		for (int i = 0; i < 3; i++) {
			low = lowest_free();
			ex.fd = -1;
			r = ioctl((int)a.fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex);
			memset(&info, 0, sizeof(info));
			snprintf(what, sizeof(what), "EXPORT of the idle buffer #%d: fd %d (lowest free %d)",
				 i + 1, ex.fd, low);
			check(r == 0 && ex.fd == low && !ioctl(ex.fd, SYNC_IOC_FILE_INFO, &info) &&
			      info.status == 1, what);
			if (i < 2)
				close(ex.fd);
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", ex.fd);
		/* the socket under it, as high_fds() reads the library's */
		len = syscall(SYS_readlinkat, AT_FDCWD, path, link, sizeof(link) - 1);
		link[len > 0 ? len : 0] = '\0';
		kept = high_fd_linked(link);
		close(ex.fd);
		snprintf(what, sizeof(what), "the kept sync file (%s) is at a high number (%d)", link, kept);
		check(kept >= HIGH, what);
		if (kept >= HIGH && pipe(p) == 0) {
			struct stat st;

			r = dup2(p[0], kept);
			check(r == kept && !fstat(kept, &st) && S_ISFIFO(st.st_mode),
			      "dup2 onto it is the program's");
			close(kept);
			close(p[0]);
			close(p[1]);
		}
		low = lowest_free();
		ex.fd = -1;
		memset(&info, 0, sizeof(info));
		check(!ioctl((int)a.fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) && ex.fd == low &&
		      !ioctl(ex.fd, SYNC_IOC_FILE_INFO, &info) && info.status == 1,
		      "and EXPORT of the idle buffer still works");
		close(ex.fd);
		close((int)a.fd);
		close(heap);
	}
	/* closefrom() with the stub's copy, a doorbell and its wait set kept:
	 * they stay (before, they were closed, their numbers went to the
	 * library's next fds, and its tables still named them: an EXPORT of
	 * an idle buffer handed out a copy of whatever had the stub's number,
	 * and a doorbell's table entry, reused, closed the connection) */
	{
		struct dma_heap_allocation_data a = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };
		struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ, .fd = -1 };
		struct sync_file_info info = { 0 };
		int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC), ok = 1;
		char path[64], link[LINK] = "";
		ssize_t len;

		ok = heap >= 0 && !ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) &&
		     !ioctl((int)a.fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex);
		if (ex.fd >= 0)
			close(ex.fd);
		check(ok && round_trip(), "a stub's sync file kept, a timeline polled");
		closefrom(3);
		for (int i = 0; i < 40 && ok; i++)
			ok = round_trip();	/* the library makes new fds (doorbells) */
		check(ok, "after closefrom(3), timelines polled 40 times");
		heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
		a.fd = 0;
		ex.fd = -1;
		ok = heap >= 0 && !ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) &&
		     !ioctl((int)a.fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) &&
		     !ioctl(ex.fd, SYNC_IOC_FILE_INFO, &info) && info.status == 1;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", ex.fd);
		len = readlink(path, link, sizeof(link) - 1);
		link[len > 0 ? len : 0] = '\0';
		snprintf(what, sizeof(what), "then EXPORT of an idle buffer: a sync file (%s)", link);
		check(ok && !strcmp(link, "anon_inode:sync_file"), what);
		close(ex.fd);
		close((int)a.fd);
		close(heap);
	}
	{
		long grown = udmabuf_map_churn(20000);

		snprintf(what, sizeof(what),
			 "20000 mmap/munmap of a udmabuf: the heap in use grew by %ld bytes", grown);
		check(grown >= 0 && grown < 64 * 1024, what);
	}
	printf("1..%d\n", nr);
	return failed;
}

/* SPDX-License-Identifier: MIT */
/*
 * fstat() and its relatives under `dmasync run`, as a plain program sees
 * them (no dmasync header or library): dmasync's fds look like Linux's
 * (tests/uapi/conformance.c checks the fields on both); every other fd is
 * libc's answer unchanged, through every entry point (fstat, fstat64,
 * glibc < 2.33's __fxstat, fstatat and statx with AT_EMPTY_PATH); errno
 * is the program's on success.  Prints TAP.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-heap.h>
#include <linux/sync_file.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sw_sync-abi.h"

static int nr, failed;

static void check(int ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++nr, what);
	fflush(stdout);
	failed |= !ok;
}

/* glibc < 2.33's fstat entry point, as old binaries call it. */
typedef int fxstat_fn(int ver, int fd, struct stat *st);

/* Every entry point agrees on @fd: 1 if so, with fstat's answer in @st. */
static int all_agree(int fd, struct stat *st)
{
	fxstat_fn *fxstat = (fxstat_fn *)dlsym(RTLD_DEFAULT, "__fxstat");
	struct stat a, b, c;
	struct stat64 d;
	struct statx x;

	memset(&x, 0, sizeof(x));
	if (fstat(fd, st) || fstatat(fd, "", &a, AT_EMPTY_PATH) || fstat64(fd, &d) ||
	    statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &x))
		return 0;
	if (fxstat && fxstat(1, fd, &b))
		return 0;
	if (!fxstat)
		b = *st;
	c = *st;
	return a.st_mode == c.st_mode && b.st_mode == c.st_mode && d.st_mode == c.st_mode &&
	       x.stx_mode == c.st_mode && a.st_size == c.st_size && b.st_size == c.st_size &&
	       d.st_size == c.st_size && (off_t)x.stx_size == c.st_size && a.st_ino == c.st_ino &&
	       b.st_ino == c.st_ino && x.stx_ino == c.st_ino && a.st_nlink == c.st_nlink;
}

int main(void)
{
	struct sw_sync_create_fence_data cf = { .value = 1 };
	struct dma_heap_allocation_data alloc = { .len = 3 * 4096, .fd_flags = O_RDWR | O_CLOEXEC };
	int tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	int p[2], sv[2], mfd, file;
	struct stat st;
	char path[] = "/tmp/dmasync-stat-XXXXXX";

	check(dlsym(RTLD_DEFAULT, "__fxstat") != NULL, "__fxstat is there (old binaries' fstat)");
	check(tl >= 0 && !ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf) && heap >= 0 &&
	      !ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &alloc), "a sync file and a heap dma-buf");
	check(all_agree(cf.fence, &st) && (st.st_mode & S_IFMT) == 0 && st.st_mode == 0600 &&
	      st.st_size == 0, "a sync file: an anonymous inode, 0600, through every entry point");
	check(all_agree((int)alloc.fd, &st) && st.st_mode == 0600 && st.st_size == 3 * 4096 &&
	      st.st_nlink == 1, "a dma-buf: 0600, one link, the buffer's size");
	check(all_agree(tl, &st) && S_ISREG(st.st_mode), "a timeline: the debugfs file");
	errno = 1234;
	check(!fstat(cf.fence, &st) && errno == 1234 && !fstat((int)alloc.fd, &st) && errno == 1234,
	      "errno is the program's after fstat of dmasync's fds");
	check(fstat(-1, &st) == -1 && errno == EBADF && fstat(999, &st) == -1 && errno == EBADF,
	      "a bad fd: EBADF");

	/* Everything else, after dmasync is in use: what libc says. */
	check(pipe(p) == 0 && all_agree(p[0], &st) && S_ISFIFO(st.st_mode), "a pipe: a FIFO");
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 && all_agree(sv[0], &st) &&
	      S_ISSOCK(st.st_mode), "a socketpair of the program's: a socket");
	mfd = memfd_create("mine", MFD_CLOEXEC);
	check(mfd >= 0 && ftruncate(mfd, 5000) == 0 && all_agree(mfd, &st) && S_ISREG(st.st_mode) &&
	      st.st_size == 5000 && st.st_nlink == 0, "a memfd of the program's: its own size, no link");
	file = mkstemp(path);
	check(file >= 0 && write(file, "hello", 5) == 5 && all_agree(file, &st) &&
	      S_ISREG(st.st_mode) && st.st_size == 5 && st.st_nlink == 1, "a file: as it is");
	errno = 4321;
	check(!fstat(p[1], &st) && errno == 4321, "errno untouched on other fds");
	unlink(path);
	printf("1..%d\n", nr);
	return failed;
}

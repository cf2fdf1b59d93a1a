/* SPDX-License-Identifier: MIT */
/*
 * uapi-calls.h - system-call indirection for the UAPI conformance suite.
 *
 * The suite in conformance.c never calls open/ioctl/poll/... on a device,
 * dma-buf, sync_file or sw_sync timeline directly: it goes through the U_*
 * macros below.
 *
 *  - Default build: every U_* macro is the plain libc call, so the suite
 *    exercises the running kernel (e.g. inside the kernel VM).
 *  - -DUAPI_ON_DMASYNC: the calls that dmasync emulates in-process are
 *    routed to its dmasync_* wrappers (same signatures as libc), so the very
 *    same tests check the library against the behaviour recorded from Linux.
 *
 * Calls dmasync does not wrap (read, fcntl, dup, munmap) map to libc in
 * both modes.
 */
#ifndef UAPI_CALLS_H
#define UAPI_CALLS_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef UAPI_ON_DMASYNC

int dmasync_open(const char *path, int flags, ...);
int dmasync_ioctl(int fd, unsigned long request, ...);
int dmasync_poll(struct pollfd *fds, nfds_t nfds, int timeout);
int dmasync_ppoll(struct pollfd *fds, nfds_t nfds,
		  const struct timespec *timeout, const sigset_t *sigmask);
int dmasync_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
void *dmasync_mmap(void *addr, size_t length, int prot, int flags, int fd,
		   off_t offset);
off_t dmasync_lseek(int fd, off_t offset, int whence);
int dmasync_close(int fd);
int dmasync_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);

#define U_open      dmasync_open
#define U_ioctl     dmasync_ioctl
#define U_poll      dmasync_poll
#define U_ppoll     dmasync_ppoll
#define U_epoll_ctl dmasync_epoll_ctl
#define U_epoll_wait dmasync_epoll_wait
#define U_mmap      dmasync_mmap
#define U_lseek     dmasync_lseek
#define U_close     dmasync_close
#define UAPI_BACKEND "dmasync"

#else

#include <sys/ioctl.h>

#define U_open      open
#define U_ioctl     ioctl
#define U_poll      poll
#define U_ppoll     ppoll
#define U_epoll_ctl epoll_ctl
#define U_epoll_wait epoll_wait
#define U_mmap      mmap
#define U_lseek     lseek
#define U_close     close
#define UAPI_BACKEND "kernel"

#endif /* UAPI_ON_DMASYNC */

/* Not wrapped by dmasync: libc in both modes. */
#define U_munmap munmap
#define U_read   read
#define U_fcntl  fcntl
#define U_dup    dup

#endif /* UAPI_CALLS_H */

/* SPDX-License-Identifier: MIT */
/*
 * dmasync - the Linux UAPI entry points.
 *
 * A program written against <linux/dma-buf.h>, <linux/sync_file.h>,
 * <linux/udmabuf.h>, <linux/dma-heap.h> and the sw_sync ioctls runs on
 * dmasync by calling these instead of the libc functions of the same name.
 * Each handles dmasync's own file descriptors and passes every other fd or
 * path to the real system call unchanged, so they are safe to use for all
 * fds.  Results and errors follow the libc calls: -1 with errno set.
 *
 * Sync files and software timelines are ordinary pollable fds: poll(),
 * select(), epoll, close(), dup(), fork() and SCM_RIGHTS work on them with
 * no wrapper.  Which other calls need a wrapper, and why, is listed in
 * docs/kernel-compat.md.
 */
#ifndef DMASYNC_UAPI_H
#define DMASYNC_UAPI_H

#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>
#include <dmasync/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct epoll_event;

/**
 * dmasync_open - open(2), emulating /dev/udmabuf, /dev/dma_heap/system and
 * /sys/kernel/debug/sync/sw_sync.  Other paths go to open(2).
 *
 * Thread-safe.  The returned fd belongs to the caller (close(2) it).
 * Return: the fd, or -1 with errno set.
 */
DMASYNC_EXPORT int dmasync_open(const char *path, int flags, ...);

/**
 * dmasync_ioctl - ioctl(2) that understands dmasync's fds.
 *
 * Handles the udmabuf, dma-heap, sw_sync, sync_file and dma-buf requests
 * with the kernel's structs, request codes, results and errno; unknown
 * requests on dmasync's fds fail with ENOTTY; any other fd goes to
 * ioctl(2) unchanged.
 *
 * Thread-safe, as the kernel's: any number of threads may issue requests
 * on the same fds at once.  @fd is borrowed, and so are fds passed inside
 * the argument (IMPORT_SYNC_FILE's fd, MERGE's fd2, UDMABUF_CREATE's
 * memfd): the caller still owns and closes them.  New fds a request
 * returns (EXPORT_SYNC_FILE, MERGE, CREATE_FENCE, DMA_HEAP_IOCTL_ALLOC,
 * UDMABUF_CREATE) belong to the caller, with the kernel's flags.
 * Return: as ioctl(2): >= 0, or -1 with errno set.
 */
DMASYNC_EXPORT int dmasync_ioctl(int fd, unsigned long request, ...);

/**
 * dmasync_poll - poll(2) that also reports dma-buf implicit-sync readiness.
 *
 * Thread-safe; the fds are borrowed.  Entries that are not dma-bufs are
 * polled natively in the same call; a blocked call wakes when a buffer's
 * fences change its readiness.  Return and errno as poll(2).
 */
DMASYNC_EXPORT int dmasync_poll(struct pollfd *fds, nfds_t nfds, int timeout);

/**
 * dmasync_ppoll - ppoll(2) counterpart of dmasync_poll().
 *
 * Same rules as dmasync_poll(); @sigmask is applied atomically for the
 * wait, as ppoll(2) does.
 */
DMASYNC_EXPORT int dmasync_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
				 const sigset_t *sigmask);

/**
 * dmasync_epoll_ctl - epoll_ctl(2) that makes dma-bufs work in an epoll
 * set; the caller's epoll_data comes back unchanged from epoll_wait().
 *
 * Thread-safe; @epfd and @fd are borrowed.  For a dma-buf the library
 * registers an fd of its own in @epfd (kept until EPOLL_CTL_DEL, the
 * buffer's release, or @epfd's close); other fds go to epoll_ctl(2).
 * Return and errno as epoll_ctl(2).
 */
DMASYNC_EXPORT int dmasync_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);

/**
 * dmasync_epoll_wait - epoll_wait(2) for epoll sets holding dmasync fds.
 *
 * Thread-safe; @epfd is borrowed.  An SW_SYNC_IOC_INC returns before the
 * broker has brought the sync files and buffers made of its points up to
 * date (it does so within microseconds, and answers every request only
 * after): this waits for that first if an INC is on its way (one load
 * when none is), so that what the kernel then reports includes every INC
 * that returned, as on Linux.  The preload's epoll_wait() does the same.
 * Return and errno as epoll_wait(2).
 */
DMASYNC_EXPORT int dmasync_epoll_wait(int epfd, struct epoll_event *events, int maxevents,
				      int timeout);

/**
 * dmasync_epoll_pwait - epoll_pwait(2) counterpart of dmasync_epoll_wait().
 */
DMASYNC_EXPORT int dmasync_epoll_pwait(int epfd, struct epoll_event *events, int maxevents,
				       int timeout, const sigset_t *sigmask);

/**
 * dmasync_epoll_pwait2 - epoll_pwait2(2) counterpart of dmasync_epoll_wait().
 *
 * @timeout is a struct timespec (NULL: wait forever), as epoll_pwait2(2)'s
 * (glibc 2.35 and later).
 */
DMASYNC_EXPORT int dmasync_epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
					const struct timespec *timeout, const sigset_t *sigmask);

/**
 * dmasync_mmap - mmap(2) that maps udmabufs (offsets, lists) correctly.
 *
 * Thread-safe; @fd is borrowed (the mapping outlives its close, as with
 * mmap(2)).  Applies the kernel's dma-buf size and flag checks; other fds
 * go to mmap(2).  Return: the address, or MAP_FAILED with errno set.
 */
DMASYNC_EXPORT void *dmasync_mmap(void *addr, size_t length, int prot, int flags, int fd,
				  off_t offset);

/**
 * dmasync_lseek - lseek(2) with the dma-buf rules (size via SEEK_END).
 *
 * Thread-safe; @fd is borrowed.  On a dma-buf: SEEK_END with offset 0
 * returns the size, SEEK_SET 0 returns 0, anything else fails with
 * EINVAL; other fds go to lseek(2).
 */
DMASYNC_EXPORT off_t dmasync_lseek(int fd, off_t offset, int whence);

/**
 * dmasync_close - close(2) with the kernel's synchronous last-close effects.
 *
 * Closing the last copy of a sw_sync timeline fd signals its pending
 * points with -ENOENT, and the last copy of a sync file drops its fence;
 * with a plain close() dmasync's monitor thread does that microseconds
 * later, with dmasync_close() it is done before the call returns, as by
 * the kernel (a request on the same object in flight in another thread is
 * waited for).  dma-bufs: dmasync cannot be told when a plain close() drops the last
 * copy of a dma-buf or device fd; it notices at its next reap pass, and
 * only then releases the buffer's fences, epoll registrations and memory.
 * Passes run in a background thread every 200 ms while such objects exist
 * (less often when the process has so many fds that a pass would cost
 * more than ~1% of a core), when their number has doubled since the last
 * pass, and from dmasync calls that find the last pass over a second old.
 * This closes @fd and, if no other fd of the process refers to the same
 * dmasync object, releases it before returning.  Any other fd is just
 * closed.  Thread-safe.  @fd is consumed: it is closed even when close(2)
 * reports an error, as on Linux.  Results as close(2).
 */
DMASYNC_EXPORT int dmasync_close(int fd);

#ifdef __cplusplus
}
#endif

#endif

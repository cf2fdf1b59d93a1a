/* SPDX-License-Identifier: MIT */
/*
 * dmasync - the libsync helpers.
 *
 * The small API around sync files that Android's libsync and Mesa's
 * util/libsync.h give their users, with the same names, arguments and
 * results, so that code written against it builds unchanged.  Each works
 * on dmasync's sync files and on the kernel's alike (the requests go
 * through dmasync_poll() and dmasync_ioctl(), which pass fds that are not
 * dmasync's to the system calls).  Errors: -1 (or NULL) with errno set.
 */
#ifndef DMASYNC_LIBSYNC_H
#define DMASYNC_LIBSYNC_H

#include <stdint.h>
#include <linux/sync_file.h>
#include <dmasync/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * sync_wait - wait until the sync file @fd signals.
 * @fd: a sync file; borrowed.
 * @timeout: milliseconds; negative waits forever, 0 only looks.
 *
 * Waits with poll(POLLIN), restarted after EINTR and EAGAIN.  Signaled
 * with an error counts as signaled (read the error with sync_file_info()).
 * Thread-safe.
 * Return: 0 once signaled; -1 with errno ETIME when @timeout passed first,
 * EINVAL if @fd is not pollable (POLLERR, POLLNVAL), else poll()'s errno.
 */
DMASYNC_EXPORT int sync_wait(int fd, int timeout);

/**
 * sync_merge - a new sync file that signals when both @fd1 and @fd2 have.
 * @name: the new sync file's name (SYNC_IOC_MERGE truncates it to 31).
 * @fd1, @fd2: sync files; borrowed (the caller still closes them).
 *
 * Thread-safe.
 * Return: the new fd (close-on-exec; the caller's), or -1 with errno set
 * (SYNC_IOC_MERGE's: ENOENT when @fd2 is not a sync file, ...).
 */
DMASYNC_EXPORT int sync_merge(const char *name, int fd1, int fd2);

/**
 * sync_accumulate - merge @fd2 into *@fd1, the way a driver collects the
 * fences it must wait for.
 * @name: the name of the merged sync file.
 * @fd1: in: a sync file, or -1 for none yet; out: the accumulated one.
 *       On success the old *@fd1 has been closed (consumed).
 * @fd2: a sync file; borrowed.
 *
 * With *@fd1 < 0, *@fd1 becomes a duplicate of @fd2.  On error *@fd1 is
 * left open and unchanged.  Thread-safe for distinct @fd1.
 * Return: 0, or -1 with errno set.
 */
DMASYNC_EXPORT int sync_accumulate(const char *name, int *fd1, int fd2);

/**
 * sync_file_info - what SYNC_IOC_FILE_INFO says of @fd, with every fence.
 * @fd: a sync file; borrowed.
 *
 * Makes the two-call request (count, then the fences) and returns one
 * allocation holding the info and its fence array, which
 * sync_get_fence_info() finds.  Thread-safe.
 * Return: the info, to be freed with sync_file_info_free(); or NULL with
 * errno set (the ioctl's, or ENOMEM).
 */
DMASYNC_EXPORT struct sync_file_info *sync_file_info(int32_t fd);

/**
 * sync_get_fence_info - the fence array of @info (info->num_fences entries).
 * @info: from sync_file_info(); still owned by the caller.
 */
DMASYNC_EXPORT struct sync_fence_info *sync_get_fence_info(const struct sync_file_info *info);

/**
 * sync_file_info_free - free what sync_file_info() returned (NULL: nothing).
 */
DMASYNC_EXPORT void sync_file_info_free(struct sync_file_info *info);

#ifdef __cplusplus
}
#endif

#endif

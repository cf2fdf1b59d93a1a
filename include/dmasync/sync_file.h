/* SPDX-License-Identifier: MIT */
/*
 * dmasync - sync_file: a fence behind a real, pollable file descriptor.
 *
 * The fd polls readable (POLLIN, and nothing else) once the fence has
 * signaled, with or without an error, and stays readable; before that it
 * reports nothing.  poll(), select() and epoll work on it natively, it has
 * FD_CLOEXEC, and it can be dup()ed, inherited over fork() and sent over
 * SCM_RIGHTS.  The sync file holds a reference on its fence until the last
 * copy of the fd in this process is closed; no dmasync call is needed for
 * that (a monitor thread notices the close).
 *
 * Creating one follows the kernel's ordering so that nothing leaks when a
 * later step fails: sync_file_create() builds the object and its fd,
 * which the caller either hands out with sync_file_install() or throws away
 * with sync_file_discard().
 */
#ifndef DMASYNC_SYNC_FILE_H
#define DMASYNC_SYNC_FILE_H

#include <dmasync/dma-fence.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sync_file;

/**
 * sync_file_create - wrap @fence in a new sync file.
 * @fence: the fence; the sync file takes its own reference (borrowed)
 *
 * The fd exists (see sync_file_fd()) but is not yet recognised by
 * dmasync_ioctl() until sync_file_install().  Thread-safe.
 *
 * Return: the sync file, or NULL if out of memory or out of fds (errno
 * tells which: ENOMEM, EMFILE, ENFILE).
 */
DMASYNC_EXPORT struct sync_file *sync_file_create(struct dma_fence *fence);

/** sync_file_fd - the fd of a created sync file (owned by the sync file
 * until installed). */
DMASYNC_EXPORT int sync_file_fd(struct sync_file *sync_file);

/**
 * sync_file_install - hand the fd out: from now on it belongs to the
 * program, and closing its last copy releases the sync file.
 * Return: the fd, or a negative errno (then the sync file was discarded).
 */
DMASYNC_EXPORT int sync_file_install(struct sync_file *sync_file);

/** sync_file_discard - drop a created, not yet installed sync file and
 * close its fd. */
DMASYNC_EXPORT void sync_file_discard(struct sync_file *sync_file);

/**
 * sync_file_create_fd - sync_file_create() + sync_file_install().
 * Return: a new O_CLOEXEC fd, or a negative errno.
 */
DMASYNC_EXPORT int sync_file_create_fd(struct dma_fence *fence);

/**
 * sync_file_get_fence - the fence behind a sync file fd.
 * @fd: a dmasync sync file, or a sync_file fd of the real kernel (e.g.
 *	from a GPU driver); borrowed
 *
 * For a kernel sync_file, returns a new dmasync fence that signals when the
 * fd polls readable (with the kernel fence's error status).  In broker
 * mode the same goes for a sync file another process made (or one of
 * ours whose fence signaled): the new fence also signals as soon as the
 * broker's timeline page says its point was reached, carries the names of
 * its fence if it has one, and keeps a copy of @fd (at a high number)
 * until the fence is freed.  A sync file of a fence of this
 * process that is still pending gives that fence back.  May block for a
 * round trip to the broker; no lock may be held.
 *
 * Return: a new reference, or NULL if @fd is not a sync file (including
 * bad and closed fds).
 */
DMASYNC_EXPORT struct dma_fence *sync_file_get_fence(int fd);

/**
 * sync_file_get_name - the sync file's name as SYNC_IOC_FILE_INFO reports
 * it: the name given at merge time, else
 * "<driver>-<timeline><context>-<seqno>" of its fence.
 * @fd: the sync file; borrowed
 * @buf: receives the name, NUL-terminated
 * @len: size of @buf
 * Return: @buf, or NULL if @fd is not a dmasync sync file.
 */
DMASYNC_EXPORT char *sync_file_get_name(int fd, char *buf, int len);

#ifdef __cplusplus
}
#endif

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Private: the parts of sync_file.c that the emulated ioctls need beyond
 * the public API.
 *
 * The kernel reserves the new fd before it looks at an ioctl's argument,
 * so a program that ran out of fds gets EMFILE whatever else is wrong with
 * its request.  sync_file_alloc() is that reservation: it makes the fd of
 * a sync file that has no fence yet; sync_file_set_fence() completes it.
 * Then sync_file_install() or sync_file_discard() as for
 * sync_file_create().
 */
#ifndef DMASYNC_PRIV_SYNC_FILE_H
#define DMASYNC_PRIV_SYNC_FILE_H

#include <stddef.h>
#include <linux/types.h>
#include <dmasync/dma-buf.h>
#include <dmasync/sync_file.h>

/*
 * sync_file_alloc - a sync file with its fd but no fence.
 * Return: the sync file, or ERR_PTR(-ENOMEM, -EMFILE or -ENFILE).
 */
struct sync_file *sync_file_alloc(void);

/*
 * sync_file_set_fence - give @sync_file (from sync_file_alloc(), before
 * install) its fence.  Takes a reference on @fence and enables signaling.
 */
void sync_file_set_fence(struct sync_file *sync_file, struct dma_fence *fence);

/*
 * sync_file_set_name - set the name FILE_INFO reports (MERGE's name);
 * copied, truncated to 31 bytes.  Before install only.
 */
void sync_file_set_name(struct sync_file *sync_file, const char *name);

/*
 * sync_file_publish - the last step of a request that makes a sync file:
 * install @sync_file, store its fd in *@fd_field (a member of @data) and
 * copy @data (@size bytes) to the caller's @uarg.  The fd exists, but is
 * installed and reported only in this order, so a failure can never close
 * a number the program already saw: if the copy fails, the fd is closed
 * and the sync file released before returning -EFAULT, as the kernel puts
 * back an fd it reserved.  Consumes @sync_file.
 * Return: 0 or a negative errno.
 */
long sync_file_publish(struct sync_file *sync_file, void *uarg, void *data, size_t size,
		       __s32 *fd_field);

#endif

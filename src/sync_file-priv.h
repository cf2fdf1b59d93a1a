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

#include <dmasync/sync_file.h>

/*
 * sync_file_alloc - a sync file with its fd but no fence.
 * Return: the sync file, or NULL with errno ENOMEM, EMFILE or ENFILE.
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

#endif

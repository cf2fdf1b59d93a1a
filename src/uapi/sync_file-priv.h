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

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <dmasync/dma-buf.h>
#include <dmasync/sync_file.h>

/**
 * DOC: the signal record
 *
 * A sync file's fd is one end (A) of a socket pair whose other end (B) the
 * holder of the object keeps: A turns readable the moment the fence
 * signals, when B sends one record: everything FILE_INFO can report, which
 * is final once the fence has signaled.  Any process holding A reads it
 * with recv(MSG_PEEK) (never consumed) and answers FILE_INFO with that one
 * system call, no request to the broker.  Then B is shut down, so that A
 * stays readable even if something reads the record out of it (a program
 * calling libc's read() on it; Linux answers EINVAL), except in the broker
 * (uapi_sync_file_set_shutdown()), whose sync files' holders read through
 * dmasync.  A readable A without a record: the holder went away (the
 * broker died), or had no memory for the record.
 *
 * The record: this header, then @num_fences struct sync_fence_info if
 * @complete (omitted when too many for one send).
 */
struct sync_file_record {
	__u32 magic;		/* SYNC_FILE_RECORD_MAGIC */
	__u32 len;		/* bytes, header included */
	__s32 status;		/* FILE_INFO's status when it asks for no fences */
	__s32 fences_status;	/* FILE_INFO's status with the fences */
	__u32 num_fences;	/* unwrapped */
	__u32 complete;		/* the entries follow */
	char name[32];
};
#define SYNC_FILE_RECORD_MAGIC 0x53594e43u	/* "SYNC" */
/* Entries beyond this many are left out (the ioctl answers then). */
#define SYNC_FILE_RECORD_MAX_FENCES 32

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
 * uapi_sync_file_fence / uapi_sync_file_name - the fence (a new reference)
 * and the FILE_INFO name of @file, the registry object of a sync file of
 * this process (its ops: check first), as sync_file_get_fence() and
 * sync_file_get_name() of its fd give them, without looking the fd up.
 */
struct uapi_file;
struct dma_fence *uapi_sync_file_fence(struct uapi_file *file);
void uapi_sync_file_name(struct uapi_file *file, char *buf, size_t len);

/*
 * uapi_sync_file_nonblock / uapi_sync_file_set_nonblock - the O_NONBLOCK
 * (0 or O_NONBLOCK) a program sees on the sync file @fd of any process, and
 * setting it.  The socket under it stays non-blocking whatever the program
 * asks (a read() or write() of it must never wait), so the flag the
 * program set is kept beside it, on the same open file (its SO_PRIORITY,
 * which AF_UNIX sockets make no use of): dups, children and receivers see
 * it, as they see a kernel file's f_flags.  One system call each; @fd is
 * borrowed.  Return (set): 0 or a negative errno.
 */
int uapi_sync_file_nonblock(int fd);
int uapi_sync_file_set_nonblock(int fd, bool on);

/*
 * uapi_sync_file_set_shutdown - whether a sync file's end B is also shut
 * down when the fence signals (sync_file.c, "show_signaled"); on by
 * default.  Set once, before the first sync file (the broker turns it off).
 */
void uapi_sync_file_set_shutdown(bool on);

/*
 * uapi_sync_file_reserve_hook - if set, sync_file_alloc() asks it first
 * whether the sync file will be a proxy (the client layer in broker mode):
 * then it returns an fd that only reserves the number (FD_CLOEXEC), and
 * the sync file gets no socket of its own; -EOPNOTSUPP: make ours as
 * usual; another negative errno: fail (EMFILE).  No lock held.
 *
 * uapi_sync_file_proxy_hook - sync_file_install() of a sync file whose
 * number was reserved gives the sync file's @fence, its FILE_INFO @name
 * and the reserved @fd here (a proxy in the broker, dup'ed onto @fd).
 * Return: 0 (@fd now holds the proxy; ours is dropped) or a negative
 * errno (fail; the reserved fd is closed).  No lock held; may block.
 */
extern int (*uapi_sync_file_reserve_hook)(void);

/*
 * uapi_sync_file_info_hook - if set, sync_file_get_fence() of an fd that
 * is no sync file of this process nor a proxy of ours asks here before it
 * asks the kernel: FILE_INFO of @fd, with @info as the caller filled it
 * (count only, or one entry), if it is a sync file of the broker's (the
 * client layer), which then becomes a fence of this process as a kernel
 * sync_file does (signaled when @fd turns readable or its FILE_INFO says
 * so; named after its one fence if it has one).  Return: 0, -ENOTTY if @fd is not the hook's,
 * or another negative errno.  No lock held; may block.
 */
struct sync_file_info;
extern int (*uapi_sync_file_info_hook)(int fd, struct sync_file_info *info);
extern int (*uapi_sync_file_proxy_hook)(struct dma_fence *fence, const char *name, int fd);

/*
 * uapi_sync_file_fence_hook - if set, sync_file_get_fence() of an fd that
 * is no sync file of this process asks here first: the fence of this
 * process that it stands for (a proxy, still pending), with a reference,
 * or NULL.
 */
extern struct dma_fence *(*uapi_sync_file_fence_hook)(int fd);

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

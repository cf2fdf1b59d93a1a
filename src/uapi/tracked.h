/* SPDX-License-Identifier: MIT */
/*
 * Private: the fds dmasync hands out that cannot be watched for hang-ups
 * (dma-bufs, /dev/udmabuf, /dev/dma_heap/system), implemented in tracked.c.
 *
 * Tracked objects.  A dma-buf fd is a memfd (fresh memory: heap buffers,
 * dma_buf_export()) or an AF_UNIX socket (udmabufs, device nodes).  The
 * library keeps no fd of its own on them, so the process's fd table shows
 * exactly what the program opened.  The registry (file.c) recognises them
 * by (device, inode); a socket is confirmed by its SO_COOKIE (unique for
 * the life of the system, so a dead object can never be mistaken for a new
 * socket that reuses its inode number), and a memfd's inode is kept from
 * being reused by a one-page PROT_NONE mapping ("pin") held until release.
 *
 * Whether any fd still refers to an object is found out by a reap pass
 * that lists /proc/self/fd and fstat()s each entry: an object whose inode
 * no fd has (in two passes in a row, so that an fd moved by dup2() during
 * a pass is not missed) is dead; it is taken out of the registry, which
 * drops the fd's reference.  Passes run in a background thread every
 * 200 ms while tracked objects exist (or every 100 x the last pass's
 * duration, if that is longer), when the number of tracked objects doubled
 * since the last one, when a dmasync call finds the last pass over a
 * second old, from uapi_files_reap(), and for one object from
 * dmasync_close().
 *
 * Locking: tracked_lock (a pthread mutex, inside tracked.c) protects the
 * list of tracked objects; it is a leaf lock.
 */
#ifndef DMASYNC_PRIV_TRACKED_H
#define DMASYNC_PRIV_TRACKED_H

#include <stdbool.h>
#include <dmasync/list.h>
#include "file.h"

enum tracked_kind {
	TRACKED_SOCKET,	/* confirmed by SO_COOKIE */
	TRACKED_MEMFD,	/* inode pinned by a mapping */
};

struct uapi_tracked {
	struct uapi_file file;	/* first: the registry object */
	enum tracked_kind kind;
	u64 cookie;			/* TRACKED_SOCKET */
	bool listed;			/* on the tracked list (under tracked_lock) */
	struct list_head node;		/* the tracked list */
	/* Optional: called once, with no lock held, when a reap pass or
	 * dmasync_close() finds that no fd refers to the object any more;
	 * before the registry drops its reference. */
	void (*died)(struct uapi_tracked *t);
	/* Optional: a reap pass found that fds still refer to the object
	 * (a chance to release what outlived its users: epoll mirrors whose
	 * epoll set is gone).  No lock held. */
	void (*survived)(struct uapi_tracked *t);
	/* Optional: in a fork child (single-threaded, no lock taken), when
	 * the child forgets the object: drop process-local state. */
	void (*fork_child)(struct uapi_tracked *t);
};

/*
 * Initialise @t with @ops (whose .match and .flush must be
 * uapi_tracked_match and uapi_tracked_flush).
 */
void uapi_tracked_init(struct uapi_tracked *t, const struct uapi_file_ops *ops,
		       enum tracked_kind kind);

/*
 * Register @t as the object behind @fd (a socket or a pinned memfd of
 * @t's kind) and add it to the tracked list.  The registry takes its own
 * reference.  May run a reap pass first.  Return: 0 or a negative errno.
 */
int uapi_tracked_install(struct uapi_tracked *t, int fd);

/* The registry's match and flush ops of tracked objects. */
bool uapi_tracked_match(struct uapi_file *file, int fd);
void uapi_tracked_flush(struct uapi_file *file);

/* Run a reap pass now.  Return: the number of objects released. */
int uapi_tracked_reap(void);

/* Run a reap pass if the last one is more than a second old. */
void uapi_tracked_maybe_reap(void);

/* Number of tracked objects (tests). */
unsigned int uapi_tracked_count(void);

#endif

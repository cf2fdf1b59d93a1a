/* SPDX-License-Identifier: MIT */
/*
 * Private: dma-buf fds (tracked.c), the objects whose fd is not a sync
 * file's kind of socket.
 *
 * A dma-buf fd is a memfd (fresh memory: heap buffers, dma_buf_export()),
 * so that mmap() and fstat() work on it natively, or one end of an
 * AF_UNIX socketpair (udmabufs, whose memory is pieces of other memfds).
 * The registry (file.c) recognises both by (device, inode); a socket is
 * confirmed by its SO_COOKIE.  The kernel tells when the last copy is
 * gone, in every process: a memfd through an inotify watch on its inode
 * (IN_IGNORED comes once its last fd and last mapping are gone); a socket
 * through the other end of its pair, which the registry watches for the
 * hang-up.  Nothing polls for dead objects.
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
	TRACKED_SOCKET,	/* one end of a socketpair, confirmed by SO_COOKIE */
	TRACKED_MEMFD,	/* a memfd, watched through inotify */
};

struct uapi_tracked {
	struct uapi_file file;	/* first: the registry object */
	enum tracked_kind kind;
	u64 cookie;			/* TRACKED_SOCKET */
	int peer;			/* TRACKED_SOCKET: our end until installed */
	bool listed;			/* on the tracked list (under tracked_lock) */
	struct list_head node;		/* the tracked list */
	/* Optional: an explicit reap (uapi_files_reap()) found the object
	 * alive: a chance to release what outlived its users (epoll mirrors
	 * whose epoll set is gone).  No lock held. */
	void (*survived)(struct uapi_tracked *t);
	/* Optional: in a fork child (single-threaded, no lock taken), when
	 * the child forgets the object: drop process-local state. */
	void (*fork_child)(struct uapi_tracked *t);
};

/* Initialise @t with @ops (whose .match must be uapi_tracked_match). */
void uapi_tracked_init(struct uapi_tracked *t, const struct uapi_file_ops *ops,
		       enum tracked_kind kind);

/*
 * uapi_tracked_socketpair - the fd of a new TRACKED_SOCKET object @t: one
 * end of a socketpair (FD_CLOEXEC if @flags has O_CLOEXEC); the other is
 * kept in @t for uapi_tracked_install().  Return: the fd or -errno.
 */
int uapi_tracked_socketpair(struct uapi_tracked *t, int flags);

/*
 * Register @t as the object behind @fd (a memfd, or for TRACKED_SOCKET the
 * end uapi_tracked_socketpair() returned) and add it to the tracked list.
 * The registry takes its own reference.  Return: 0 or a negative errno.
 */
int uapi_tracked_install(struct uapi_tracked *t, int fd);

/* In the object's release: undo what init, socketpair and install did. */
void uapi_tracked_fini(struct uapi_tracked *t);

/* The registry's match op of tracked objects. */
bool uapi_tracked_match(struct uapi_file *file, int fd);

/* Release now what is gone (pending inotify events), and give live objects
 * their .survived call.  Return: the number of objects released. */
int uapi_tracked_reap(void);

/* Number of tracked objects installed (tests). */
unsigned int uapi_tracked_count(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Private: dma-buf objects (dma-buf.c) and their readiness (dma-buf-poll.c).
 * A dma-buf is a tracked object (tracked.h): its fd is a memfd or a socket
 * that cannot be watched for hang-ups.
 *
 * Locking: a dma-buf's poll_lock (spinlock_t, so that fence callbacks'
 * deferred work waits for it) is taken before fence locks and never
 * inside them.
 */
#ifndef DMASYNC_PRIV_DMA_BUF_H
#define DMASYNC_PRIV_DMA_BUF_H

#include <stdbool.h>
#include <sys/types.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dma-fence.h>
#include <dmasync/list.h>
#include <dmasync/spinlock.h>
#include "dma-resv-priv.h"
#include "file.h"
#include "irq_work.h"
#include "tracked.h"

#define DMABUF_PAGE_SIZE 4096ul

/* The name of the memfds dma_buf_export() makes: /proc shows
 * "/memfd:dmasync-dmabuf (deleted)", and a process that never saw a dead
 * broker's buffer tells it by that name (src/client/client.c). */
#define UAPI_DMABUF_MEMFD_NAME "dmasync-dmabuf"

/* A new open file description of @fd (e.g. a memfd) with @accmode, via
 * /proc/self/fd.  Return: the fd (FD_CLOEXEC) or a negative errno. */
int uapi_fd_reopen(int fd, int accmode);

/* ---- dma-buf objects ----------------------------------------------------------- */

/* One contiguous run of a udmabuf's memory, inside a source mapping. */
struct uapi_dmabuf_piece {
	char *addr;
	size_t len;
	int memfd;	/* our fd of the memfd it maps, shared by every piece of
			 * that memfd (the first one's): one fd per file, not
			 * per item, as a list may name one memfd 1024 times */
	bool memfd_own;	/* this piece's to close (the first of its memfd) */
	u64 offset;	/* in @memfd */
};

/* Per direction poll callback, as the kernel's cb_in/cb_out. */
struct uapi_dmabuf_poll_cb {
	struct dma_fence_cb cb;
	struct dma_fence *fence;	/* armed on (a reference), or NULL */
	struct uapi_dmabuf *obj;
	unsigned int bit;		/* DMABUF_IN or DMABUF_OUT */
};

#define DMABUF_IN 1u
#define DMABUF_OUT 2u

struct uapi_dmabuf {
	struct uapi_tracked t;	/* first; t.file.refs is the buffer's refcount */
	struct dma_buf buf;
	struct dma_resv own_resv;
	bool own_resv_used;
	struct core_resv_hook resv_hook;	/* on buf.resv: fences changed */

	/* Shared through the broker (uapi_dmabuf_share_hook), or NULL. */
	struct core_resv_remote *remote;

	/* The fd: kept by the object until dma_buf_fd() hands it out. */
	int fd;
	bool fd_given;
	int accmode;			/* O_RDONLY, O_WRONLY or O_RDWR */
	bool shared_only;		/* MAP_PRIVATE refused (udmabuf) */

	/* TRACKED_SOCKET: the memory, in buffer order; each piece is a
	 * mapping of its own, unmapped at release, and names the memfd it
	 * maps (for mappings made in other processes). */
	struct uapi_dmabuf_piece *pieces;
	unsigned int npieces;

	/* Poll state (dma-buf-poll.c), under poll_lock. */
	spinlock_t poll_lock;
	struct uapi_dmabuf_poll_cb cb[2];	/* [0] in, [1] out */
	unsigned long fired;		/* DMABUF_IN/OUT bits of fired callbacks (atomic) */
	struct irq_work work;
	struct list_head waiters;
	struct list_head mirrors;
	unsigned int interest[2];	/* mirrors + waiters per direction */
};

static inline struct uapi_dmabuf *to_uapi_dmabuf(struct dma_buf *buf)
{
	return container_of(buf, struct uapi_dmabuf, buf);
}

static inline void uapi_dmabuf_get(struct uapi_dmabuf *obj)
{
	uapi_file_get(&obj->t.file);
}

static inline void uapi_dmabuf_put(struct uapi_dmabuf *obj)
{
	uapi_file_put(&obj->t.file);
}

/*
 * Export a buffer whose fd the caller made: @fd (an O_RDWR memfd for
 * TRACKED_MEMFD, reopened with @accmode if that differs; for
 * TRACKED_SOCKET the end uapi_tracked_socketpair() made, whose caller
 * then sets obj->pieces) becomes
 * the object's on success.  Return: the buffer (one reference), or
 * ERR_PTR() (@fd stays the caller's then).
 */
struct dma_buf *uapi_dmabuf_export_fd(const struct dma_buf_export_info *exp_info,
				      enum tracked_kind kind, int fd, int accmode);

/*
 * uapi_dmabuf_share_hook - if set, dma_buf_fd() of a buffer made with
 * dma_buf_export() offers it to the broker first (src/client/adopt.c):
 * @share gets the buffer and its fd (borrowed) and returns the remote view
 * to attach to its reservation object (dma-resv-priv.h), or NULL (the
 * buffer stays this process's only: process mode, no broker).  @unshare
 * gets it back, detached, when the buffer is released.
 */
struct uapi_dmabuf_share_ops {
	struct core_resv_remote *(*share)(struct dma_buf *buf, int fd);
	void (*unshare)(struct core_resv_remote *remote);
	/* The shared buffer's name changed here (dma_buf_set_name(), or
	 * DMA_BUF_SET_NAME on its fd) to @name (NULL: none).  No lock held. */
	void (*set_name)(struct core_resv_remote *remote, const char *name);
};
extern const struct uapi_dmabuf_share_ops *uapi_dmabuf_share_hook;

/*
 * uapi_dmabuf_adopt - in the broker: the memfd @memfd (borrowed), the pages
 * of a buffer another process made with dma_buf_export(), becomes a
 * dma-buf here too (a new fd of ours, installed, of the same inode), with
 * @exp_name, @name (or NULL) and @accmode; @maker (the broker's owner of
 * that process) and @cpu_ops (which exporter ops it has, in the caller's
 * encoding) are remembered for uapi_dmabuf_maker() and
 * uapi_dmabuf_maker_cpu_ops().  Return: the fd, or -EINVAL (not a regular
 * file of at least @size bytes, @size not whole pages), -EEXIST (already an
 * object) or another negative errno.
 */
int uapi_dmabuf_adopt(int memfd, size_t size, int accmode, const char *exp_name,
		      const char *name, void *maker, unsigned int cpu_ops);

/* The @maker uapi_dmabuf_adopt() was given, or NULL if @obj was not adopted. */
void *uapi_dmabuf_maker(struct uapi_dmabuf *obj);
/* The @cpu_ops uapi_dmabuf_adopt() was given (0 if @obj was not adopted). */
unsigned int uapi_dmabuf_maker_cpu_ops(struct uapi_dmabuf *obj);

/*
 * uapi_dmabuf_exporter_op - in the maker of a shared buffer: run the
 * exporter's begin_cpu_access (@end false) or end_cpu_access op, and only
 * that (another process's DMA_BUF_IOCTL_SYNC, which waits for the fences
 * itself), on the buffer known as (@dev, @ino).  Takes and drops a
 * reference; no lock held during the op.  Return: the op's result, 0 if
 * it has none, -ENOENT if no such buffer lives here.
 */
int uapi_dmabuf_exporter_op(dev_t dev, ino_t ino, bool end, enum dma_data_direction dir);

/* DMA_BUF_IOCTL_SYNC's flags: the direction, or -EINVAL as the kernel. */
int uapi_dmabuf_sync_decode(u64 flags, enum dma_data_direction *dir);

/* ---- poll (dma-buf-poll.c) ------------------------------------------------------- */

/* The ops behind dmasync_poll()/dmasync_ppoll() and dmasync_epoll_ctl(). */
short uapi_dmabuf_poll(struct uapi_file *file, short events);
void uapi_dmabuf_poll_wait(struct uapi_file *file, struct uapi_poll_waiter *waiter);
void uapi_dmabuf_poll_unwait(struct uapi_file *file, struct uapi_poll_waiter *waiter);
int uapi_dmabuf_epoll_ctl(struct uapi_file *file, int epfd, int op, int fd,
			  struct epoll_event *event);

void uapi_dmabuf_poll_init(struct uapi_dmabuf *obj);

/* The reservation object's change hook: fences were added or replaced.
 * Runs under the hooks' spinlock (dma-resv-priv.h). */
void uapi_dmabuf_poll_resv_changed(struct core_resv_hook *hook, struct dma_resv *resv);

/*
 * uapi_dmabuf_changed_hook - if set, called with the buffer's (dev, ino)
 * each time its reservation object's fences change, synchronously in the
 * thread that changed them (at dma_resv_unlock(), before that call
 * returns), with the hooks' lock held: it must take no lock that is held
 * across a reservation object's change.  The broker clears what it
 * published of the buffer's readiness (src/ipc/tlpage.h).
 */
extern void (*uapi_dmabuf_changed_hook)(dev_t dev, ino_t ino);

/* The buffer's fds are all closed: drop callbacks, mirrors and waiters. */
void uapi_dmabuf_poll_died(struct uapi_dmabuf *obj);

/* Before the object is freed (nothing may be armed any more). */
void uapi_dmabuf_poll_fini(struct uapi_dmabuf *obj);

/* A new fd of @obj's shared readiness mirror (readable: POLLIN ready,
 * writable: POLLOUT ready), made on first use and kept until the buffer
 * dies: what the broker hands to other processes that poll the buffer.
 * Return: the fd or a negative errno. */
int uapi_dmabuf_poll_shared_mirror(struct uapi_dmabuf *obj);

/* Release @obj's mirrors whose epoll set is gone. */
void uapi_dmabuf_poll_reap_orphans(struct uapi_dmabuf *obj);

/* In a fork child (single-threaded, no locks taken): forget @obj's mirrors
 * and waiters, closing our copies of the mirror fds. */
void uapi_dmabuf_poll_fork_child_obj(struct uapi_dmabuf *obj);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Private: the client side of the broker (docs/design.md).  The entry
 * points (dmasync_open(), dmasync_ioctl(), ...) ask client_find() whether
 * an fd is an object of the broker's and forward requests on it with the
 * client_*() calls below.  Every call is thread-safe and fork-safe (a fork
 * child reconnects on its first request); none keeps a lock of another
 * process.  Errors are negative errnos; -ENOLINK means the broker that
 * owned the object is gone.
 */
#ifndef DMASYNC_CLIENT_H
#define DMASYNC_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ipc.h"

/* What the client knows of one broker object, found by its (dev, ino). */
struct client_obj {
	enum ipc_kind kind;
	bool dead;		/* its broker is gone */
	dev_t dev;
	ino_t ino;
	uint64_t size;		/* dma-bufs */
	uint64_t broker;	/* the instance that owns it */
	/* A timeline, or a sync file of one sw_sync point: the timeline's
	 * slot + 1 in the broker's timeline page (0: none), its generation,
	 * and the point's mark (the slot's count at which it signals, 0:
	 * signaled); a dma-buf: its buffer slot + 1 and generation
	 * (src/ipc/tlpage.h). */
	uint32_t tl_slot, tl_gen;
	uint64_t mark;
};

/*
 * client_call - one request @op to the broker @broker (0: whichever this
 * process talks to; else -ENOLINK if that one is gone) with @arg, @len
 * bytes of @payload and the fd @fd (borrowed; -1: none).  The reply's arg0
 * and arg1 go to @rarg, up to *@out_len payload bytes to @out (*@out_len:
 * how many), its fds (recorded as the broker's, in the order sent) to
 * @fds, up to @max (*@nfds: how many; the rest closed), the description
 * of its first fd to *@described if non-NULL.  Return: the reply's ret, or
 * a negative errno.
 */
long client_call(uint32_t op, uint64_t broker, int fd, const uint64_t arg[3],
		 const void *payload, size_t len, uint64_t rarg[2], void *out, size_t *out_len,
		 int *fds, unsigned int max, unsigned int *nfds, struct client_obj *described);

/* The instance id of the broker this process talks to (0: none yet). */
uint64_t client_broker_id(void);

/* The change count of the dma-buf @obj in the timeline page (tlpage.h),
 * or UINT32_MAX if the page does not say. */
uint32_t client_buffer_changes(const struct client_obj *obj);

/*
 * Proxies (proxy.c).  client_proxy_describe(): what IPC_PROXY_CREATE and
 * IPC_BUF_PUSH say of @fence.  client_proxy_watch(): the broker's proxy
 * @id (of broker @broker) signals when @fence does (IPC_PROXY_SIGNAL; at
 * once if it has).  Return: 0 or -ENOMEM (the proxy then signals -EPIPE
 * when this process's connection goes).
 */
struct dma_fence;
void client_proxy_describe(struct dma_fence *fence, const char *name, struct ipc_proxy *p);
int client_proxy_watch(struct dma_fence *fence, uint64_t id, uint64_t broker);

/*
 * client_proxy_create - IPC_PROXY_CREATE (ipc.h): the broker's sync file of
 * a proxy of the fence @p describes, dup'ed onto @at (an fd the caller
 * reserved and owns: the number the program gets; its old file is closed).
 * Return: 0, with *@id (0: made signaled, nothing to send later), the
 * *@broker to send IPC_PROXY_SIGNAL to and the sync file's st_dev and
 * st_ino in *@st; or a negative errno (@at untouched).
 */
int client_proxy_create(const struct ipc_proxy *p, int at, uint64_t *id, uint64_t *broker,
			struct stat *st);

/* client_proxy_signal - IPC_PROXY_SIGNAL of proxy @id of @broker (dropped
 * if the connection is now another broker's).  No lock held by the caller. */
void client_proxy_signal(uint64_t broker, uint64_t id, int status, int64_t timestamp);

/* Whether the library forwards to a broker (default) or runs the engine
 * in this process (DMASYNC_MODE=process, and inside the broker). */
bool client_enabled(void);

/* The broker itself calls this first: its entry points are the engine. */
void client_disable(void);

/*
 * The client's locks, taken with these so that client_busy() knows: true
 * while the calling thread holds (or waits for) one.  A call that reaches
 * the preload's wrappers then comes from a signal handler that interrupted
 * this thread inside dmasync; the wrappers pass it to libc rather than wait
 * for a lock the interrupted code holds.
 */
void client_lock(pthread_mutex_t *m);
void client_unlock(pthread_mutex_t *m);
bool client_busy(void);

/*
 * client_find - whether @fd is a broker object; fills @obj.  One fstat();
 * an inode the client has not seen is asked about once (a round trip).
 * Return: 1 (an object), 0 (not ours: use libc), or a negative errno
 * (-EBADF: not an open fd).
 */
int client_find(int fd, struct client_obj *obj);

/*
 * client_fd_still - whether @fd still holds the object client_find() gave
 * as @obj, as far as this process's table knows without a system call
 * (true when it does not know: a linked program's, whose closes it does not
 * see).  Under the preload, which sees every close and copy, exact: another
 * thread may have closed the number or put another file there meanwhile.
 */
bool client_fd_still(int fd, const struct client_obj *obj);

/*
 * Under the preload, which sees every close: remember what each fd number
 * is, so that client_find() answers without a system call (client.c, "fd
 * numbers").  The preload then reports what closes and copies fds.
 */
void client_trust_fd_numbers(void);
/* Fds @lo..@hi (inclusive) are about to be closed or replaced (a number
 * may come back as something else at once), and then were.  No lock: a
 * signal handler may call them. */
void client_fds_closing(unsigned int lo, unsigned int hi);

/**
 * client_fds_known() - the fds of @lo..@hi the table knows are dmasync's
 * @lo: first number
 * @hi: last number (may be ~0u)
 * @fds: filled with up to @max numbers
 * @objs: filled with what each is
 * @max: room in @fds and @objs
 *
 * For closes by another route than close() (close_range(), dup2() over
 * an fd, fclose()): only numbers a lookup identified are found; costs a
 * look at each allocated slot of the range.  Takes fdt_lock per hit.
 * Return: the count.
 */
int client_fds_known(unsigned int lo, unsigned int hi, int *fds, struct client_obj *objs,
		     int max);
void client_fds_closed(unsigned int lo, unsigned int hi);
/*
 * client_fd_copy_elsewhere() - whether the table knows an fd outside
 * @lo..@hi of the object (@dev, @ino): another copy that keeps its file
 * open in this process.  Costs a look at every allocated slot; takes
 * fdt_lock per fd of ours.
 * Return: 1 yes, 0 no, -1 unknown (the table is not trusted: no preload).
 */
int client_fd_copy_elsewhere(dev_t dev, ino_t ino, unsigned int lo, unsigned int hi);
/* @to now refers to what @from does (dup, dup2, dup3, F_DUPFD). */
void client_fd_copied(int from, int to);
/*
 * The connection to the broker is the client's own fd.  With a floor set
 * (the preload: a program's fd numbers are its own), it is kept at or
 * above @min; client_fd_is_own() says whether @fd is it, for the wrappers
 * of close and dup2, which leave it alone.
 */
void client_set_fd_floor(int min);

/*
 * client_default_fd_floor - where the library's own fds go, out of the
 * program's numbering: 1024 and up if RLIMIT_NOFILE allows (a small fd
 * table), else the top 64 of a limit of at least 128; 0: nowhere.
 */
int client_default_fd_floor(void);
bool client_fd_is_own(int fd);
/* adopt.c: whether @fd is the CPU-access channel; move it off @fd to the
 * lowest free number >= @min (0, -ENOENT if @fd is not it, or -errno). */
bool client_adopt_fd_is_own(int fd);
int client_adopt_move_fd(int fd, int min);
/* adopt.c: the CPU-access channel's number, or -1. */
int client_adopt_fd(void);
/* The connection's number, or -1. */
int client_own_fd(void);
/*
 * client_kept_fds - every fd the client keeps for itself (the connection, a
 * fork child's kept number of its parent's, the stub's copy, the doorbells
 * and their wait sets, the CPU-access channel): the numbers
 * client_fd_is_own() answers true for, up to @max into @fds, for a close
 * of a range to go around.  Return: how many.
 */
int client_kept_fds(int *fds, int max);
/*
 * client_move_own_fd - if @fd is the connection, move it to another number
 * at or above the floor, under the connection's lock, leaving a copy at
 * @fd that the caller replaces (dup2()) or closes (client.c).  Return: 0,
 * -ENOENT (not the connection) or a negative errno (it did not move).
 */
int client_move_own_fd(int fd);

/* @fd was just made by a call that never makes one of ours (pipe(),
 * socket(), open() of an ordinary path...). */
void client_fd_made(int fd);

/*
 * The table itself, for the preload's fast path: a wrapper called on an fd
 * the table knows is not dmasync's goes straight to libc after one load of
 * its chunk and one of its state (client_fd_none()).  Chunks of
 * CLIENT_FDT_CHUNK slots, allocated on first use and never freed.
 */
#define CLIENT_FDT_CHUNK 1024u
#define CLIENT_FDT_CHUNKS 1024u	/* fd numbers below 2^20 (the kernel's nr_open default) */
#define CLIENT_FD_UNKNOWN 0
#define CLIENT_FD_NONE 1
struct client_fd_slot {
	uint8_t state;		/* atomic: CLIENT_FD_* and client.c's own states */
	uint8_t kind;
	dev_t dev;
	ino_t ino;
	uint64_t size, broker;
	uint32_t tl_slot, tl_gen;
	uint64_t mark;
};
extern struct client_fd_slot *client_fdt[CLIENT_FDT_CHUNKS];
/* Chunk 0, client_fdt[0] from the start: the common fds' slots at a fixed
 * address, with no load of the directory (one page less to touch). */
extern struct client_fd_slot client_fdt_chunk0[CLIENT_FDT_CHUNK];

/* @fd's slot, if its chunk exists (it may be in any state). */
static inline struct client_fd_slot *client_fd_slot(int fd)
{
	unsigned int u = (unsigned int)fd, c = u / CLIENT_FDT_CHUNK;
	struct client_fd_slot *chunk;

	if (c == 0)
		return &client_fdt_chunk0[u];
	if (c >= CLIENT_FDT_CHUNKS)
		return NULL;
	chunk = __atomic_load_n(&client_fdt[c], __ATOMIC_ACQUIRE);
	return chunk ? &chunk[u % CLIENT_FDT_CHUNK] : NULL;
}

/* Whether the table knows @fd is not dmasync's.  No lock, no system call. */
static inline bool client_fd_none(int fd)
{
	struct client_fd_slot *s = client_fd_slot(fd);

	return s && __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == CLIENT_FD_NONE;
}

/*
 * client_fds_closing() and client_fds_closed() of one fd that the table
 * knows is not dmasync's (client_fd_none() said so): a store each.
 * Return: false if @fd has no slot (call the functions instead).
 */
#define CLIENT_FD_CLOSING_STATE 3
static inline bool client_fd_none_mark(int fd, bool closing)
{
	struct client_fd_slot *s = client_fd_slot(fd);

	if (!s)
		return false;
	__atomic_store_n(&s->state, closing ? CLIENT_FD_CLOSING_STATE : CLIENT_FD_UNKNOWN,
			 __ATOMIC_RELEASE);
	return true;
}

/*
 * client_fd_above_floor - @fd (the library's, made by it) moved to a number
 * at or above the floor client_set_fd_floor() set, if any and if there is
 * room; the old number is closed.  Return: the fd to use.
 */
int client_fd_above_floor(int fd);

/*
 * client_mirror_fds - the fds of the epoll registrations of dma-bufs (the
 * mirrors registered in the program's epoll sets in their place): up to
 * @max into @fds.  Return: how many.  client_fd_is_mirror(): whether @fd
 * is one.  Both take the registrations' lock.
 */
int client_mirror_fds(int *fds, int max);
bool client_fd_is_mirror(int fd);
/*
 * client_mirror_move - the mirror at @fd moves to a free number >= @min
 * (remote.c): its registration is carried over to the new number with its
 * events and data; @fd is left open, in no epoll set, for the caller to
 * replace (dup2()) or close.  Return: 0, -ENOENT (not a mirror) or a
 * negative errno (nothing changed).
 */
int client_mirror_move(int fd, int min);

/* The epoll registrations' lock (a leaf; remote.c), for the client's fork
 * handlers. */
void client_mirrors_lock(void);
void client_mirrors_unlock(void);

/* IPC_OPEN: a new fd of an emulated device, or a negative errno. */
int client_open(enum ipc_device dev, int flags);

/* IPC_IOCTL: the ioctl's result or a negative errno.  @arg is the
 * caller's untrusted pointer. */
long client_ioctl(int fd, const struct client_obj *obj, unsigned long request, void *arg);

/*
 * client_file_info_peek - SYNC_IOC_FILE_INFO on @fd answered from a signal
 * record, before anything identified @fd (a record is proof enough that it
 * is a signaled sync file): one recv(MSG_PEEK), where identifying would
 * cost an fstat() first.  Not under the preload, whose table identifies
 * for free.  *@empty: the peek found nothing with the broker's end open
 * (pass it to client_ioctl_peeked(), which then does not peek again).
 * Return: the ioctl's result, or -EAGAIN (ask the usual way).
 */
long client_file_info_peek(int fd, void *arg, bool *empty);
/* Whether FILE_INFO of @fd had better identify it before peeking: its last
 * one was answered from the timeline page (pending), which an identified
 * fd can be again without the peek.  A hint: either order is correct. */
bool client_file_info_wants_identity(int fd);

/*
 * client_ioctl_unidentified - an ioctl whose code says what its target
 * must be (MERGE, CREATE_FENCE, EXPORT/IMPORT_SYNC_FILE), sent to the
 * broker without identifying @fd first (no fstat()): the broker checks.
 * Linked programs only (the preload's table identifies for free).
 * Return: the ioctl's result, or -EREMOTE: not the broker's (or no broker
 * yet), identify and go the usual way.
 */
long client_ioctl_unidentified(int fd, unsigned long request, void *arg);

/* client_ioctl() after client_file_info_peek() of @fd found it @empty. */
long client_ioctl_peeked(int fd, const struct client_obj *obj, unsigned long request, void *arg,
			 bool empty);

/* IPC_CLOSED: after close() of a copy of @obj's fd; returns when the
 * broker has released the object if that was the last copy. */
void client_closed(const struct client_obj *obj);

/*
 * The timeline page (src/ipc/tlpage.h), for polls of sync files of one
 * sw_sync point.  client_point_state(): 1 if the page says @obj's point
 * is reached, 0 if pending, -1 if the page cannot say (ask the kernel's
 * socket, or the broker).  client_point_waiting(): count this process in
 * (or out of) the pollers of the point's timeline, so that signalers ring
 * its doorbell; client_doorbell(): that doorbell (an eventfd of the
 * library's, which signalers write and nobody reads: every poller of the
 * timeline, in every process, waits on it), or a negative errno.
 * No system call but the first client_doorbell() of a timeline.
 * client_point_broker_alive(): whether the broker of @obj's page still
 * lives (a page whose broker died is frozen; its sync files hang up).
 */
int client_point_state(const struct client_obj *obj);
bool client_point_broker_alive(const struct client_obj *obj);
void client_point_waiting(const struct client_obj *obj, bool waiting);
/* The directions in which the dma-buf @obj is known ready (bit 0 POLLIN,
 * bit 1 POLLOUT; 0: not known, ask), from the page.  No system call. */
unsigned int client_buffer_ready(const struct client_obj *obj);
int client_doorbell(const struct client_obj *obj);
/* Done with a doorbell client_doorbell() gave (until then it stays open). */
void client_doorbell_put(int fd);
/*
 * client_doorbell_set - a wait set of a doorbell client_doorbell() gave
 * @fd and the caller has not put yet: an epoll set in which @fd is
 * edge-triggered, so every ring queues one event in it, which its poller
 * takes (epoll_wait() with no timeout) and then looks at its points again.
 * Waiting on it waits for the next ring without taking rings meant for
 * anyone else, as long as one poller alone waits on each set: the
 * process's set, kept like the doorbell (made at its first use: three
 * system calls), if no other thread has it; else (*@own true) a new one
 * for the caller alone.  Give it back with client_doorbell_set_put()
 * before the doorbell.  Return: its fd, or a negative errno.
 */
int client_doorbell_set(int fd, bool *own);
void client_doorbell_set_put(int fd, int set, bool own);

/*
 * client_settle - before a poll or epoll_wait that lets the kernel report
 * sync files' own readiness: if INCs made in the timeline page may not
 * have reached their sync files yet, ask the broker, which applies them
 * before it answers (one round trip; otherwise one load).  errno kept;
 * nothing in a signal handler that interrupted the client (client_busy()).
 */
void client_settle(void);

/*
 * client_settle_hangups - after the process reaped a child: ask the
 * broker it is connected to (none: nothing) to release every object whose
 * last fd is closed already, as the child's exit closed its fds (Linux
 * has released what they were the last copies of before wait returns).
 * One round trip; errno kept; nothing in a signal handler that
 * interrupted the client (client_busy()).
 */
void client_settle_hangups(void);

/* IPC_MIRROR: a new fd (ours to keep) whose readiness mirrors the buffer's
 * (readable: POLLIN ready; writable: POLLOUT ready). */
int client_mirror(int fd);

/* IPC_MAP: map @len bytes of a udmabuf at page offset @pgoff. */
void *client_map_pieces(int fd, void *addr, size_t len, int prot, int flags, size_t off,
			int *err);

/* The inode of the memfd the calling thread's last client_map_pieces()
 * mapped at the start of its window (what /proc/self/maps shows there). */
ino_t client_map_first_ino(void);

/* IPC_SYNC: DMA_BUF_IOCTL_SYNC with its wait done here (interruptibly). */
long client_sync(int fd, void *arg);

/* IPC_FDINFO: what /proc shows of the dma-buf @fd.  Return: 0 or -errno. */
int client_fdinfo(int fd, struct ipc_fdinfo *info);

/* IPC_STATS of the broker (tests, tools).  Return: 0 or a negative errno. */
int client_stats(struct ipc_stats *st);

#endif

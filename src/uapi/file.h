/* SPDX-License-Identifier: MIT */
/*
 * Private: the registry of dmasync's own file descriptors.
 *
 * Sync files, timelines, dma-bufs and the emulated devices are real file
 * descriptors of ordinary kernel types (sockets, memfds).  The registry
 * recognises them again when the program hands one back to
 * dmasync_ioctl() and friends: each object is keyed by the (device, inode)
 * of its open file, which survives dup(), fork() and SCM_RIGHTS.  Objects
 * whose fd shares its inode with another file (a udmabuf reopening the
 * program's memfd) also keep an internal fd on their own open file
 * description and are told apart with kcmp(KCMP_FILE).
 *
 * Lifetime: an object may name an internal "watch" fd that reports
 * EPOLLRDHUP once every copy of the user's fd is closed (the other end of
 * a socketpair), or, for a memfd, be watched through inotify, which
 * reports IN_IGNORED once its last fd and mapping are gone.  Either way
 * the kernel counts the copies in every process.  A monitor thread waits
 * for those events and unregisters the object, so its resources go away
 * with the last fd, with no dmasync call.  uapi_files_reap() does the
 * same synchronously.
 *
 * Locking: the registry has its own mutex, never held while calling into
 * an object.  Objects are reference counted; the registry holds one
 * reference while the object is installed.
 */
#ifndef DMASYNC_PRIV_FILE_H
#define DMASYNC_PRIV_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <poll.h>
#include <sys/types.h>
#include <unistd.h>
#include <dmasync/list.h>
#include <dmasync/types.h>

struct uapi_file;
struct uapi_poll_waiter;
struct epoll_event;

/*
 * What dmasync does with an object's fd.  The entry points (entry.c) look
 * the fd up and call these; an op left NULL means "as libc does" (the
 * call goes to the system with the fd), except .ioctl (ENOTTY).  Ops
 * return a negative errno on failure.
 */
struct dma_fence;

struct uapi_file_ops {
	const char *name;
	/* Handle @request on @fd (the caller's fd for @file).  Return >= 0 or
	 * a negative errno.  Unknown requests must return -ENOTTY. */
	long (*ioctl)(struct uapi_file *file, int fd, unsigned long request, void *arg);
	/*
	 * Optional: readiness as the kernel's f_op->poll reports it (a subset
	 * of @events); may arm what it needs to notice a change (fence
	 * callbacks).  The poll wrappers use it for objects that also have
	 * .poll_wait: their fd cannot show readiness.  Objects without
	 * .poll_wait (sync files, timelines) poll natively; their .poll says
	 * what the native poll shows.
	 */
	short (*poll)(struct uapi_file *file, short events);
	/* Optional, with .poll: wake @waiter (uapi_poll_waiter_wake()) when
	 * readiness it waits for may have appeared, until .poll_unwait. */
	void (*poll_wait)(struct uapi_file *file, struct uapi_poll_waiter *waiter);
	void (*poll_unwait)(struct uapi_file *file, struct uapi_poll_waiter *waiter);
	/* Optional: epoll_ctl(@epfd, @op, @fd, @event) for the object's fd
	 * @fd; @event is the caller's (unchecked) pointer. */
	int (*epoll_ctl)(struct uapi_file *file, int epfd, int op, int fd,
			 struct epoll_event *event);
	/* Optional: mmap(2) of @fd.  Return: the address or ERR_PTR(-errno). */
	void *(*mmap)(struct uapi_file *file, void *addr, size_t length, int prot, int flags,
		      int fd, off_t offset);
	/* Optional: lseek(2).  Return: the offset or a negative errno. */
	off_t (*lseek)(struct uapi_file *file, off_t offset, int whence);
	/* Optional: every copy of the object's fd is gone, in every process
	 * (and for a memfd every mapping): called once, before the registry
	 * drops its reference.  No lock held. */
	void (*hangup)(struct uapi_file *file);
	/* Optional: confirm that @fd, whose (device, inode) matched, really
	 * is @file (e.g. a socket cookie check).  Called with the registry
	 * lock held: must not call into the registry. */
	bool (*match)(struct uapi_file *file, int fd);
	/*
	 * Optional: describe the object for a listing ("DOC: object
	 * listing"): the fields of its line after the common ones, then its
	 * own lines.  No lock held.
	 */
	void (*show)(struct uapi_file *file, FILE *out);
	/*
	 * Optional: call @fn for each fence the object holds (a sync file's,
	 * unwrapped, with @usage "-"; a dma-buf's reservation fences with
	 * their usage: "kernel", "write", "read", "bookkeep"), with the
	 * object's locks held: @fn must not take them nor block.  For
	 * listings and the watchdog.  No lock held by the caller.
	 */
	void (*for_each_fence)(struct uapi_file *file,
			       void (*fn)(const char *usage, struct dma_fence *fence, void *arg),
			       void *arg);
	/* Free the object (last reference gone). */
	void (*release)(struct uapi_file *file);
};

/*
 * DOC: object listing
 *
 * What `dmasync ls` reads from the broker (IPC_LIST): text, one record per
 * line, fields separated by tabs; strings have tabs, newlines and other
 * control characters replaced by '?'.  An object is one line
 *
 *	KIND DEV INO PID COMM FIELDS...
 *
 * (PID and COMM: the process whose request made it; 0 and "-" if none),
 * followed by lines that belong to it.  KIND and FIELDS:
 *
 *	sync_file  NAME STATUS
 *	sw_sync    NAME VALUE CONTEXT    then one "point" line per pending point
 *	dmabuf     SIZE ACCMODE EXP_NAME NAME   then one "fence" line per fence
 *	                                 of its reservation object
 *	fence      USAGE DRIVER TIMELINE CONTEXT SEQNO STATUS TIMESTAMP_NS
 *	           (a sync file's fences, unwrapped, have USAGE "-")
 *	point      SEQNO STATUS CREATED_NS
 *
 * STATUS is dma_fence_get_status()'s: 1 signaled, 0 pending, or -errno;
 * The broker adds, after the objects, one line per point the watchdog
 * reported that is still pending (src/broker/watchdog.h):
 *
 *	stuck      CONTEXT SEQNO LIMIT_MS REPORTED_NS
 *
 * and one line per process whose library keeps an fd of its own on one
 * of the objects (the stub's sync file, for EXPORT of an idle buffer):
 *
 *	own        PID FD
 *
 * TIMESTAMP_NS is 0 while pending; CREATED_NS is when the point was made;
 * both are CLOCK_MONOTONIC.  ACCMODE is O_RDONLY, O_WRONLY or
 * O_RDWR as a number; NAME is empty when unset.  Unknown kinds and extra
 * fields must be skipped by readers (the format grows at the end).
 */
struct dma_fence;
#define UAPI_SHOW_STR_MAX 64
/* @s with tabs, newlines and control characters replaced: into @buf. */
const char *uapi_show_str(const char *s, char *buf, size_t len);
/* One "fence" line for @fence (no lock of it held). */
void uapi_show_fence(FILE *out, const char *usage, struct dma_fence *fence);

/*
 * A thread blocked in dmasync_ppoll() on an object with .poll_wait: the
 * object wakes it through its eventfd.
 */
struct uapi_poll_waiter {
	struct list_head node;	/* for the object's list of waiters */
	int efd;		/* the poller's eventfd */
	short events;		/* what it waits for */
	bool woken;		/* atomic: @efd written since the poller last looked */
};

/* Wake @waiter, once until the poller rearms it.  Any thread, any lock. */
static inline void uapi_poll_waiter_wake(struct uapi_poll_waiter *waiter)
{
	static const u64 one = 1;

	if (!__atomic_exchange_n(&waiter->woken, true, __ATOMIC_ACQ_REL) &&
	    write(waiter->efd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow at one write per wake. */
	}
}

struct uapi_file {
	const struct uapi_file_ops *ops;
	int refs;
	bool installed;
	dev_t dev;
	ino_t ino;
	int ofd_fd;	/* -1, or our fd on the same open file description */
	int watch_fd;	/* -1, or our end that hangs up with the user's fd */
	u64 id;		/* names the object in monitor events (never reused) */
	int wd;		/* -1, or the inotify watch on the fd's inode */
	void *owner;	/* the broker's client that made it, or NULL */
	struct uapi_file *hash_next;
	struct uapi_file *id_next;
	struct uapi_file *wd_next;
};

void uapi_file_init(struct uapi_file *file, const struct uapi_file_ops *ops);

/*
 * Register @file as the object behind @user_fd.  @watch_fd (or -1) is
 * watched for EPOLLRDHUP and closed by the registry at release; @ofd_fd
 * (or -1) likewise.  On success the registry holds a reference (taken
 * here) and owns both internal fds.  Return: 0 or a negative errno (the
 * internal fds stay the caller's then).
 */
int uapi_file_install(struct uapi_file *file, int user_fd, int watch_fd, int ofd_fd);

/*
 * Register @file as the object behind @user_fd, a memfd (or any file
 * whose inode is its own): an inotify watch reports when its last fd and
 * mapping are gone in every process, and the object is released then
 * (.hangup first).  The registry takes a reference.  Return: 0 or a
 * negative errno (-ENOMEM when the user's inotify watches run out).
 */
int uapi_file_install_inode(struct uapi_file *file, int user_fd);

/* The installed object with this (device, inode), with a reference, or NULL. */
struct uapi_file *uapi_file_lookup_key(dev_t dev, ino_t ino);

/* Call @fn for every installed object with @ops (all if NULL), holding a
 * reference and no lock. */
void uapi_file_for_each(const struct uapi_file_ops *ops,
			void (*fn)(struct uapi_file *file, void *arg), void *arg);

/* Release now the objects whose inodes went (pending inotify events).
 * Nothing when the caller holds a spinlock.  Return: how many. */
int uapi_files_drain_inodes(void);

/* The registry's bucket count (0 before the first install): it doubles as
 * installed objects outnumber it.  Takes the registry lock. */
unsigned int uapi_file_buckets(void);

/* Whether any object is installed (no lock: a hint for fast paths). */
extern unsigned int uapi_installed_count;
static inline bool uapi_files_any(void)
{
	return __atomic_load_n(&uapi_installed_count, __ATOMIC_RELAXED) != 0;
}

/* Called (from any thread, no lock held) before an object that has an
 * owner is released: the broker's per-client object accounting. */
extern void (*uapi_file_release_hook)(struct uapi_file *file);

/* The object behind @fd, with a reference, or NULL (not ours, or bad fd). */
struct uapi_file *uapi_file_lookup(int fd);

/* The flags of an epoll registration, as opposed to the events it waits for. */
#define UAPI_EPOLL_FLAGS (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)

/* The events epoll_ctl() allows beside EPOLLEXCLUSIVE (and itself). */
#define UAPI_EPOLL_EXCLUSIVE_OK                                                             \
	((uint32_t)(EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET |       \
		    EPOLLEXCLUSIVE))

/*
 * The events a dma-buf's epoll registration is made with on the socket
 * that mirrors its readiness (in this process or the broker's), from the
 * caller's @events: the two readiness bits a dma-buf's poll reports, and
 * the control flags but EPOLLET.  Linux 6.1's dma-buf poll wakes its own
 * wait queue whenever it finds a direction ready, so an edge-triggered
 * registration reports it at every epoll_wait() while ready, as a
 * level-triggered one does.
 */
static inline uint32_t uapi_dmabuf_mirror_events(uint32_t events)
{
	return events & (EPOLLIN | EPOLLOUT | (UAPI_EPOLL_FLAGS & ~(uint32_t)EPOLLET));
}

/*
 * uapi_epoll_ctl_masked - epoll_ctl(@epfd, @op, @fd, @event) of a file
 * whose kernel poll op reports only @keep (beside EPOLLHUP and EPOLLERR,
 * which come unasked): an ADD or MOD registers the caller's events masked
 * to @keep and the flags (EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE,
 * EPOLLWAKEUP), so that the socket under it does not add its own bits;
 * EPOLLEXCLUSIVE with events beyond UAPI_EPOLL_EXCLUSIVE_OK goes to the
 * kernel unmasked, to be refused.  @event: the caller's unchecked pointer.  Return: epoll_ctl()'s result
 * or a negative errno.
 */
int uapi_epoll_ctl_masked(int epfd, int op, int fd, struct epoll_event *event, uint32_t keep);

/*
 * uapi_epoll_ctl_no_poll - epoll_ctl() of a file the kernel gives no poll
 * method (a timeline, a device): -EFAULT, -EBADF or -EPERM, in the
 * kernel's order.  Also an .epoll_ctl op as it is.
 */
int uapi_epoll_ctl_no_poll(int epfd, int op, struct epoll_event *event);
int uapi_file_epoll_ctl_no_poll(struct uapi_file *file, int epfd, int op, int fd,
				struct epoll_event *event);

/*
 * uapi_file_word - a small number (0 to 6) kept with the open file of the
 * socket @fd, where every holder sees it (dups, fork children, SCM_RIGHTS
 * receivers), as the kernel keeps f_flags and f_mode with a file: its
 * SO_PRIORITY, which anyone may set in that range and AF_UNIX ignores.
 * Each kind keeps one thing there (a device's access mode, a sync file's
 * O_NONBLOCK).  Return: the word, or -1 if @fd is no socket.
 * uapi_file_set_word - set it.  Return: 0 or a negative errno.
 */
int uapi_file_word(int fd);
int uapi_file_set_word(int fd, int word);

/* Like uapi_file_lookup(), but only objects with @ops. */
struct uapi_file *uapi_file_lookup_type(int fd, const struct uapi_file_ops *ops);

void uapi_file_get(struct uapi_file *file);
/* A reference, unless the last one is gone already (release has begun):
 * for callers that reach @file through something that is not a reference
 * (the kernel's kref_get_unless_zero()).  Return: whether one was taken. */
bool uapi_file_get_unless_zero(struct uapi_file *file);
void uapi_file_put(struct uapi_file *file);

/*
 * uapi_file_closed - dmasync_close() just closed one of the caller's fds of
 * @file.  If that was the last copy anywhere, uninstall @file and release
 * it before returning, as the kernel's last fput() does; a request on it
 * in flight in another thread is waited for.  Objects with a watch fd are
 * checked by polling it, memfds by their inotify watch.  Consumes the
 * caller's reference (from uapi_file_lookup()).
 */
void uapi_file_closed(struct uapi_file *file);

/*
 * uapi_file_closed_key - uapi_file_closed() for the object known as
 * @dev/@ino to another process, which just closed an fd of it.  If no
 * installed object has that key, the monitor thread may be releasing it
 * right now (it saw the hang-up first): wait until every release the
 * monitor had begun has ended, so that the release has run when this
 * returns either way.
 */
void uapi_file_closed_key(dev_t dev, ino_t ino);

/*
 * uapi_files_dup_own - a copy of @fd (FD_CLOEXEC) for the library to keep:
 * at or above the floor uapi_files_set_fd_floor() set, if there is room,
 * else the lowest free number.  Return: the copy, or -1 (errno set).
 */
int uapi_files_dup_own(int fd);

/*
 * uapi_files_set_fd_floor - keep the registry's own fds (the monitor's
 * epoll and inotify fds) at numbers >= @min from now on; if the registry
 * is idle they are closed, to be made again (above @min) by the first
 * object.  For the preload, which leaves a program's numbering to it.
 * uapi_fd_is_own() says whether @fd is one of them.
 */
void uapi_files_set_fd_floor(int min);
bool uapi_fd_is_own(int fd);
/* Those fds into @fds.  Return: how many (0-2). */
int uapi_own_fds(int fds[2]);

/* Remove @file from the registry (idempotent); drops the registry's reference. */
void uapi_file_uninstall(struct uapi_file *file);

/* Process pending hang-ups now, and run every registered reaper.
 * Return: how many objects were released. */
int uapi_files_reap(void);

/*
 * Release, in the calling thread, the objects whose last user fd is
 * already closed but whose hang-up the monitor has not handled yet (their
 * internal fds still count against RLIMIT_NOFILE).  For callers that got
 * EMFILE/ENFILE.  Nothing when the caller holds a spinlock.
 * Return: how many hang-ups were handled.
 */
int uapi_files_drain(void);

/*
 * uapi_files_settle - release every object whose last fd was closed before
 * the call (its hang-up event queued), before returning: what
 * uapi_files_drain() finds, and what the monitor thread holds, which it is
 * asked to finish (a ping through its set, answered after every event
 * queued before it).  For the broker, after a client reaped a child that
 * may have held last copies (Linux releases them before the parent's
 * wait returns).  Not from the monitor thread, nor holding a spinlock
 * (then it does nothing).  A hang-up another thread's drain took just
 * before may still be in progress.  Return: how many this thread handled.
 */
int uapi_files_settle(void);

/*
 * uapi_files_reclaim_fds - a call that makes fds failed with errno @err:
 * whether to try it once more, because it was EMFILE or ENFILE and closed
 * objects whose hang-up was pending (each holding an internal fd) were
 * just released (uapi_files_drain()).
 */
bool uapi_files_reclaim_fds(int err);

/*
 * Backpressure: drain when the installed objects doubled since the last
 * drain, so that objects the program closed but the monitor has not yet
 * released (each still holding an internal fd) stay bounded by the live
 * ones however far the monitor thread lags.  Does nothing when the caller
 * holds a spinlock (releases take fence locks).
 */
void uapi_files_maybe_drain(void);

/*
 * A reaper: objects that cannot be watched for hang-ups (dma-bufs, device
 * nodes) are released by a pass that looks for their fds; uapi_files_reap()
 * runs every registered pass.  @reap returns how many objects it released.
 */
struct uapi_reaper {
	int (*reap)(void);
	struct uapi_reaper *next;
};
void uapi_reaper_register(struct uapi_reaper *reaper);

/* Start a detached library thread running @fn(@arg): a small stack, and
 * every signal blocked (the program's signals are the program's).
 * Return: 0 or a negative errno. */
int uapi_thread_start(void *(*fn)(void *), void *arg);

/* Number of installed objects (for tests). */
unsigned int uapi_files_count(void);

/* The installed count at which creators next drain hang-ups themselves
 * (uapi_files_maybe_drain(); for tests). */
unsigned int uapi_files_drain_threshold(void);

/*
 * One-shot readiness watch: the monitor thread calls @func(@watch) once,
 * when @fd polls readable (or reports an error or hang-up), after taking
 * @fd out of its epoll set.  @fd and @watch stay the caller's and must stay
 * valid until @func has run; @func may close @fd and free @watch.  There
 * is no cancel: arm a watch only for an event that will happen (a kernel
 * sync_file that will signal).  A fork child forgets the parent's watches.
 */
struct uapi_fd_watch {
	int fd;
	void (*func)(struct uapi_fd_watch *watch);
};

/* Arm @watch.  Return: 0, or a negative errno (nothing armed). */
int uapi_fd_watch_arm(struct uapi_fd_watch *watch);

#endif

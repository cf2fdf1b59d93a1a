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
 * a socketpair).  A monitor thread waits for that and unregisters the
 * object, so its resources go away with the last fd, with no dmasync call.
 * uapi_files_reap() does the same synchronously.
 *
 * Locking: the registry has its own mutex, never held while calling into
 * an object.  Objects are reference counted; the registry holds one
 * reference while the object is installed.
 */
#ifndef DMASYNC_PRIV_FILE_H
#define DMASYNC_PRIV_FILE_H

#include <stdbool.h>
#include <sys/types.h>
#include <poll.h>
#include <dmasync/types.h>

struct uapi_file;

struct uapi_file_ops {
	const char *name;
	/* Handle @request on @fd (the caller's fd for @file).  Return >= 0 or
	 * a negative errno.  Unknown requests must return -ENOTTY. */
	long (*ioctl)(struct uapi_file *file, int fd, unsigned long request, void *arg);
	/* Optional: readiness for poll wrappers (a subset of @events); may arm
	 * a wake-up of @wake (see uapi_file_wake()) when not ready. */
	short (*poll)(struct uapi_file *file, short events);
	/* Optional: every copy of the user's fd was closed. */
	void (*hangup)(struct uapi_file *file);
	/* Optional: confirm that @fd, whose (device, inode) matched, really
	 * is @file (e.g. a socket cookie check).  Called with the registry
	 * lock held: must not call into the registry. */
	bool (*match)(struct uapi_file *file, int fd);
	/* Free the object (last reference gone). */
	void (*release)(struct uapi_file *file);
};

struct uapi_file {
	const struct uapi_file_ops *ops;
	int refs;
	bool installed;
	dev_t dev;
	ino_t ino;
	int ofd_fd;	/* -1, or our fd on the same open file description */
	int watch_fd;	/* -1, or our end that hangs up with the user's fd */
	u64 id;		/* names the object in monitor events (never reused) */
	struct uapi_file *hash_next;
	struct uapi_file *id_next;
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

/* The object behind @fd, with a reference, or NULL (not ours, or bad fd). */
struct uapi_file *uapi_file_lookup(int fd);

/* Like uapi_file_lookup(), but only objects with @ops. */
struct uapi_file *uapi_file_lookup_type(int fd, const struct uapi_file_ops *ops);

void uapi_file_get(struct uapi_file *file);
void uapi_file_put(struct uapi_file *file);

/*
 * uapi_file_closed - the caller just closed one of its fds of @file.
 * If that was the last copy anywhere (the watch fd reports the hang-up),
 * uninstall @file and release it before returning, as the kernel's last
 * fput() does; a request on it in flight in another thread is waited for.
 * Consumes the caller's reference (from uapi_file_lookup()).
 */
void uapi_file_closed(struct uapi_file *file);

/*
 * uapi_file_close_fd - close(@fd) (consumed, even on error) and, if it
 * was the last copy of a watched object's fd, release the object before
 * returning (uapi_file_closed()).  Return: as close(2).
 */
int uapi_file_close_fd(int fd);

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

/* Number of installed objects (for tests). */
unsigned int uapi_files_count(void);

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

/* Emulated device nodes: @open returns a new fd or a negative errno. */
struct uapi_device {
	const char *path;
	int (*open)(const char *path, int flags);
	struct uapi_device *next;
};
void uapi_device_register(struct uapi_device *dev);

/* Set FD_CLOEXEC-style helpers */
int uapi_fd_cloexec_dup(int fd);

#endif

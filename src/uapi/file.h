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
 * dmasync_files_reap() does the same synchronously.
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

struct dmasync_file;

struct dmasync_file_ops {
	const char *name;
	/* Handle @request on @fd (the caller's fd for @file).  Return >= 0 or
	 * a negative errno.  Unknown requests must return -ENOTTY. */
	long (*ioctl)(struct dmasync_file *file, int fd, unsigned long request, void *arg);
	/* Optional: readiness for poll wrappers (a subset of @events); may arm
	 * a wake-up of @wake (see dmasync_file_wake()) when not ready. */
	short (*poll)(struct dmasync_file *file, short events);
	/* Optional: every copy of the user's fd was closed. */
	void (*hangup)(struct dmasync_file *file);
	/* Optional: confirm that @fd, whose (device, inode) matched, really
	 * is @file (e.g. a socket cookie check).  Called with the registry
	 * lock held: must not call into the registry. */
	bool (*match)(struct dmasync_file *file, int fd);
	/* Free the object (last reference gone). */
	void (*release)(struct dmasync_file *file);
};

struct dmasync_file {
	const struct dmasync_file_ops *ops;
	int refs;
	bool installed;
	dev_t dev;
	ino_t ino;
	int ofd_fd;	/* -1, or our fd on the same open file description */
	int watch_fd;	/* -1, or our end that hangs up with the user's fd */
	u64 id;		/* names the object in monitor events (never reused) */
	struct dmasync_file *hash_next;
	struct dmasync_file *id_next;
};

void dmasync_file_init(struct dmasync_file *file, const struct dmasync_file_ops *ops);

/*
 * Register @file as the object behind @user_fd.  @watch_fd (or -1) is
 * watched for EPOLLRDHUP and closed by the registry at release; @ofd_fd
 * (or -1) likewise.  On success the registry holds a reference (taken
 * here) and owns both internal fds.  Return: 0 or a negative errno (the
 * internal fds stay the caller's then).
 */
int dmasync_file_install(struct dmasync_file *file, int user_fd, int watch_fd, int ofd_fd);

/* The object behind @fd, with a reference, or NULL (not ours, or bad fd). */
struct dmasync_file *dmasync_file_lookup(int fd);

/* Like dmasync_file_lookup(), but only objects with @ops. */
struct dmasync_file *dmasync_file_lookup_type(int fd, const struct dmasync_file_ops *ops);

void dmasync_file_get(struct dmasync_file *file);
void dmasync_file_put(struct dmasync_file *file);

/*
 * dmasync_file_closed - the caller just closed one of its fds of @file.
 * If that was the last copy anywhere (the watch fd reports the hang-up),
 * uninstall @file and release it before returning, as the kernel's last
 * fput() does; a request on it in flight in another thread is waited for.
 * Consumes the caller's reference (from dmasync_file_lookup()).
 */
void dmasync_file_closed(struct dmasync_file *file);

/*
 * dmasync_file_close_fd - close(@fd) (consumed, even on error) and, if it
 * was the last copy of a watched object's fd, release the object before
 * returning (dmasync_file_closed()).  Return: as close(2).
 */
int dmasync_file_close_fd(int fd);

/* Remove @file from the registry (idempotent); drops the registry's reference. */
void dmasync_file_uninstall(struct dmasync_file *file);

/* Process pending hang-ups now, and run every registered reaper.
 * Return: how many objects were released. */
int dmasync_files_reap(void);

/*
 * Release, in the calling thread, the objects whose last user fd is
 * already closed but whose hang-up the monitor has not handled yet (their
 * internal fds still count against RLIMIT_NOFILE).  For callers that got
 * EMFILE/ENFILE.  Nothing when the caller holds a spinlock.
 * Return: how many hang-ups were handled.
 */
int dmasync_files_drain(void);

/*
 * Backpressure: drain when the installed objects doubled since the last
 * drain, so that objects the program closed but the monitor has not yet
 * released (each still holding an internal fd) stay bounded by the live
 * ones however far the monitor thread lags.  Does nothing when the caller
 * holds a spinlock (releases take fence locks).
 */
void dmasync_files_maybe_drain(void);

/*
 * A reaper: objects that cannot be watched for hang-ups (dma-bufs, device
 * nodes) are released by a pass that looks for their fds; dmasync_files_reap()
 * runs every registered pass.  @reap returns how many objects it released.
 */
struct dmasync_reaper {
	int (*reap)(void);
	struct dmasync_reaper *next;
};
void dmasync_reaper_register(struct dmasync_reaper *reaper);

/* Number of installed objects (for tests). */
unsigned int dmasync_files_count(void);

/*
 * One-shot readiness watch: the monitor thread calls @func(@watch) once,
 * when @fd polls readable (or reports an error or hang-up), after taking
 * @fd out of its epoll set.  @fd and @watch stay the caller's and must stay
 * valid until @func has run; @func may close @fd and free @watch.  There
 * is no cancel: arm a watch only for an event that will happen (a kernel
 * sync_file that will signal).  A fork child forgets the parent's watches.
 */
struct dmasync_fd_watch {
	int fd;
	void (*func)(struct dmasync_fd_watch *watch);
};

/* Arm @watch.  Return: 0, or a negative errno (nothing armed). */
int dmasync_fd_watch_arm(struct dmasync_fd_watch *watch);

/* Emulated device nodes: @open returns a new fd or a negative errno. */
struct dmasync_device {
	const char *path;
	int (*open)(const char *path, int flags);
	struct dmasync_device *next;
};
void dmasync_device_register(struct dmasync_device *dev);

/* Set FD_CLOEXEC-style helpers */
int dmasync_fd_cloexec_dup(int fd);

#endif

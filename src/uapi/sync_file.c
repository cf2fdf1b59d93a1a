/* SPDX-License-Identifier: MIT */
/*
 * sync_file: a fence behind a real, pollable file descriptor, and the
 * sync_file ioctls (SYNC_IOC_MERGE, SYNC_IOC_FILE_INFO,
 * SYNC_IOC_SET_DEADLINE).
 *
 * The fd.  A sync file is one end (the user's, "A") of an AF_UNIX stream
 * socketpair; the library keeps the other end ("B").  A's send buffer is
 * shrunk to the minimum and filled, so A never polls writable, and nothing
 * is ever sent to A, so it does not poll readable either: poll() reports
 * nothing.  When the fence signals, a fence callback shuts B down for
 * writing; from then on A polls readable (end of file) for good, and no
 * read on A can undo that.  The state lives in the socket, not in the fd,
 * so dup()s, fork() children and SCM_RIGHTS receivers of A all see it.
 *
 * Lifetime.  The sync file registers with the fd registry (file.c) with B
 * as its watch fd: when the last copy of A is closed, B reports a hang-up,
 * the monitor thread uninstalls the object and the release below removes
 * the fence callback and drops the fence reference; the registry closes B
 * only after that, so the callback can never shut down a closed (or
 * reused) fd number.
 *
 * Signaling is enabled when the sync file is created (the kernel enables
 * it at the first poll, but poll() on our fd never enters the library).
 *
 * Kernel sync_files.  sync_file_get_fence() also accepts a sync_file fd
 * of the real kernel, recognised by a successful count-only
 * SYNC_IOC_FILE_INFO.  It is wrapped in a "dmasync-foreign" fence that
 * keeps a dup of the fd and signals, with the kernel fence's error, once
 * the fd polls readable (watched by the monitor thread once signaling is
 * enabled).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dmasync/dma-fence-unwrap.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/sync_file.h>
#include "debug.h"
#include "file.h"
#include "fork.h"
#include "rcu.h"
#include "sync_file_uapi.h"
#include "sync_file-priv.h"
#include "uaccess.h"

#define SYNC_NAME_LEN 32

struct sync_file {
	struct uapi_file file;	/* first: the registry object */
	struct dma_fence *fence;	/* set once, before install */
	struct dma_fence_cb cb;		/* shuts @peer down when @fence signals */
	int fd;				/* A: the user's end (or a reserved number) */
	int peer;			/* B: ours; -1 while @fd is only reserved */
	unsigned long fork_gen;		/* fork_gen at creation */
	unsigned int signal_state;	/* atomic: SF_INSTALLED | SF_SIGNALED */
	char user_name[SYNC_NAME_LEN];	/* MERGE's name, or "" */
};

/*
 * A is made readable (with its record) once the fence has signaled and the
 * sync file is installed, by whichever of the two comes second: before
 * install, the name and the fd are not final (nor handed out).
 */
#define SF_INSTALLED 1u
#define SF_SIGNALED 2u

static const struct uapi_file_ops sync_file_ops;

/*
 * Incremented in every fork child.  A child inherits our fence callbacks
 * but not our watch sockets (the registry closes them), so a callback of
 * an older generation must not touch its fd number.
 */
static unsigned long fork_gen;

static void fork_child(void)
{
	__atomic_fetch_add(&fork_gen, 1, __ATOMIC_RELAXED);
}

static const struct core_fork_handler sync_file_fork = { .child = fork_child };

__attribute__((constructor)) static void sync_file_init(void)
{
	core_fork_register(CORE_FORK_SYNC_FILE, &sync_file_fork);
}

/* Zeros written from A to fill its send buffer (never modified). */
static const char fill_bytes[16384];

/* ---- the sync file object ------------------------------------------------------ */

int (*uapi_sync_file_reserve_hook)(void);

struct sync_file *sync_file_alloc(void)
{
	int (*reserve)(void) = __atomic_load_n(&uapi_sync_file_reserve_hook, __ATOMIC_ACQUIRE);
	struct sync_file *sf;
	int sv[2], zero = 0, err;
	ssize_t r;

	uapi_files_maybe_drain();
	sf = calloc(1, sizeof(*sf));
	if (!sf)
		return ERR_PTR(-ENOMEM);
	if (reserve) {
		/* A proxy will take the number: only reserve it. */
		int fd = reserve();

		if (fd >= 0) {
			uapi_file_init(&sf->file, &sync_file_ops);
			sf->fd = fd;
			sf->peer = -1;
			sf->fork_gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
			return sf;
		}
		if (fd != -EOPNOTSUPP) {
			err = fd;
			goto err_free;
		}
	}
	/* Non-blocking, so that a program's read() or write() of A never
	 * hangs; the O_NONBLOCK it sees is uapi_sync_file_nonblock()'s. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) &&
	    (!uapi_files_reclaim_fds(errno) ||
	     socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))) {
		err = -errno;
		goto err_free;
	}
	/*
	 * The kernel clamps the size to its minimum (a few KiB); one send of
	 * more than that stops short at the limit, leaving A unwritable.
	 */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &zero, sizeof(zero))) {
		err = -errno;
		goto err_close_pair;
	}
	do
		r = send(sv[0], fill_bytes, sizeof(fill_bytes), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r == (ssize_t)sizeof(fill_bytes));
	if (r < 0 && errno != EAGAIN) {
		err = -errno;
		goto err_close_pair;
	}

	uapi_file_init(&sf->file, &sync_file_ops);
	sf->fd = sv[0];
	sf->peer = sv[1];
	sf->fork_gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
	return sf;

err_close_pair:
	close(sv[0]);
	close(sv[1]);
err_free:
	free(sf);
	return ERR_PTR(err);
}

static void sync_file_name(struct sync_file *sf, char *buf, size_t len);
static int fill_fence_info(struct dma_fence *fence, struct sync_fence_info *info, bool locked);

/*
 * The signal record ("DOC: the signal record" in sync_file-priv.h), sent on
 * B.  Called from the fence's callback with its lock held, maybe under a
 * leaf's lock too (a container signaled from its last member's callback):
 * no fence lock may be taken, and none is needed, every leaf having
 * signaled.
 */
/* A signaled fence's status, without its lock (only the bit and error). */
static int status_signaled(struct dma_fence *fence)
{
	if (!test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return 0;
	return fence->error ? fence->error : 1;
}

static bool send_record(struct sync_file *sf, struct dma_fence *fence)
{
	/* ~2.6 KiB: callbacks run on any thread's stack, deep in a signal. */
	struct {
		struct sync_file_record hdr;
		struct sync_fence_info fi[SYNC_FILE_RECORD_MAX_FENCES];
	} rec;
	struct dma_fence_unwrap it;
	struct dma_fence *leaf;
	unsigned int n = 0;

	memset(&rec.hdr, 0, sizeof(rec.hdr));
	rec.hdr.magic = SYNC_FILE_RECORD_MAGIC;
	rec.hdr.status = status_signaled(fence);
	rec.hdr.fences_status = 1;
	rec.hdr.complete = 1;
	dma_fence_unwrap_for_each(leaf, &it, fence) {
		int status;

		if (n >= SYNC_FILE_RECORD_MAX_FENCES) {
			rec.hdr.complete = 0;	/* counted, left out */
			n++;
			continue;
		}
		memset(&rec.fi[n], 0, sizeof(rec.fi[n]));
		status = fill_fence_info(leaf, &rec.fi[n], true);
		if (rec.hdr.fences_status > 0)
			rec.hdr.fences_status = status;
		n++;
	}
	rec.hdr.num_fences = n;
	sync_file_name(sf, rec.hdr.name, sizeof(rec.hdr.name));
	rec.hdr.len = (__u32)(sizeof(rec.hdr) + (rec.hdr.complete ? n * sizeof(rec.fi[0]) : 0));
	/* B's direction is empty and far larger than a record: all or nothing. */
	return send(sf->peer, &rec, rec.hdr.len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)rec.hdr.len;
}

static bool shutdown_on_signal = true;

void uapi_sync_file_set_shutdown(bool on)
{
	shutdown_on_signal = on;
}

/*
 * The record (A turns readable), then B's shutdown (A stays readable) if
 * on, or if the record could not be sent.  The broker turns it off: a
 * shutdown also wakes every waiter on B, and its monitor thread waits on B
 * for A's last close, so each signal cost that thread a wake-up for
 * nothing, a context switch each (26% of a one-CPU cross-process
 * ping-pong, docs/status.md "Session 16").
 */
static void show_signaled(struct sync_file *sf)
{
	if (!send_record(sf, sf->fence) || shutdown_on_signal)
		shutdown(sf->peer, SHUT_WR);
}

/* Fence callback, fence lock held (or none: signaled already at set_fence). */
static void sync_file_signaled(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct sync_file *sf = container_of(cb, struct sync_file, cb);

	if (sf->fork_gen != __atomic_load_n(&fork_gen, __ATOMIC_RELAXED))
		return;
	if (__atomic_fetch_or(&sf->signal_state, SF_SIGNALED, __ATOMIC_ACQ_REL) & SF_INSTALLED)
		show_signaled(sf);
}

void sync_file_set_fence(struct sync_file *sf, struct dma_fence *fence)
{
	DMASYNC_ASSERT(!sf->fence && !sf->file.installed, "sync_file_set_fence twice");
	sf->fence = dma_fence_get(fence);
	if (dma_fence_add_callback(fence, &sf->cb, sync_file_signaled))
		sync_file_signaled(fence, &sf->cb); /* already signaled */
}

void sync_file_set_name(struct sync_file *sf, const char *name)
{
	size_t n = strnlen(name, SYNC_NAME_LEN - 1);

	memcpy(sf->user_name, name, n);
	sf->user_name[n] = '\0';
}

/* Detach from the fence; after this no callback can touch @sf. */
static void sync_file_free(struct sync_file *sf)
{
	if (sf->fence) {
		/* Takes the fence lock: waits for a callback running now. */
		dma_fence_remove_callback(sf->fence, &sf->cb);
		dma_fence_put(sf->fence);
	}
	free(sf);
}

static void sync_file_release(struct uapi_file *file)
{
	/* The registry closes B after this returns; A is the user's. */
	sync_file_free(container_of(file, struct sync_file, file));
}

struct sync_file *sync_file_create(struct dma_fence *fence)
{
	struct sync_file *sf;

	if (WARN_ON(!fence)) {
		errno = EINVAL;
		return NULL;
	}
	sf = sync_file_alloc();
	if (IS_ERR(sf)) {
		errno = (int)-PTR_ERR(sf);
		return NULL;
	}
	sync_file_set_fence(sf, fence);
	return sf;
}

int sync_file_fd(struct sync_file *sf)
{
	return sf->fd;
}

void sync_file_discard(struct sync_file *sf)
{
	int fd, peer;

	if (!sf)
		return;
	if (WARN(sf->file.installed, "sync_file_discard on an installed sync file"))
		return;
	fd = sf->fd;
	peer = sf->peer;
	sync_file_free(sf);
	close(fd);
	if (peer >= 0)
		close(peer);
}

int (*uapi_sync_file_proxy_hook)(struct dma_fence *fence, const char *name, int fd);

int sync_file_install(struct sync_file *sf)
{
	int (*proxy)(struct dma_fence *, const char *, int) =
		__atomic_load_n(&uapi_sync_file_proxy_hook, __ATOMIC_ACQUIRE);
	int fd = sf->fd, r;

	if (WARN_ON(!sf->fence)) {
		sync_file_discard(sf);
		return -EINVAL;
	}
	if (sf->peer < 0) {
		/* Reserved for a proxy (uapi_sync_file_reserve_hook). */
		char name[SYNC_NAME_LEN];

		sync_file_name(sf, name, sizeof(name));
		r = proxy ? proxy(sf->fence, name, fd) : -EOPNOTSUPP;
		if (WARN_ON(r == -EOPNOTSUPP))
			r = -EINVAL;
		if (r < 0) {
			sync_file_discard(sf);
			return r;
		}
		/* @fd is the broker's sync file now. */
		sync_file_free(sf);
		return fd;
	}
	r = uapi_file_install(&sf->file, sf->fd, sf->peer, -1);
	if (r) {
		sync_file_discard(sf);
		return r;
	}
	if (__atomic_fetch_or(&sf->signal_state, SF_INSTALLED, __ATOMIC_ACQ_REL) & SF_SIGNALED)
		show_signaled(sf);
	/* The registry holds its own reference now. */
	uapi_file_put(&sf->file);
	return fd;
}

long sync_file_publish(struct sync_file *sf, void *uarg, void *data, size_t size,
		       __s32 *fd_field)
{
	int fd = sync_file_install(sf);

	if (fd < 0)
		return fd;
	*fd_field = fd;
	if (copy_to_user(uarg, data, size)) {
		/* Never reported: take it back, as the kernel's put_unused_fd(). */
		dmasync_close(fd);
		return -EFAULT;
	}
	return 0;
}

int sync_file_create_fd(struct dma_fence *fence)
{
	struct sync_file *sf = sync_file_create(fence);

	if (!sf)
		return -errno;
	return sync_file_install(sf);
}

static void sync_file_name(struct sync_file *sf, char *buf, size_t len)
{
	struct dma_fence *fence = sf->fence;

	if (!len)
		return;
	if (sf->user_name[0]) {
		size_t n = strnlen(sf->user_name, len - 1);

		memcpy(buf, sf->user_name, n);
		buf[n] = '\0';
		return;
	}
	snprintf(buf, len, "%s-%s%llu-%lld", dma_fence_driver_name(fence),
		 dma_fence_timeline_name(fence), (unsigned long long)fence->context,
		 (long long)fence->seqno);
}

/* The program's O_NONBLOCK: the file's word (uapi_file_word()), 1 if set. */
int uapi_sync_file_nonblock(int fd)
{
	return uapi_file_word(fd) == 1 ? O_NONBLOCK : 0;
}

int uapi_sync_file_set_nonblock(int fd, bool on)
{
	return uapi_file_set_word(fd, on);
}

struct dma_fence *uapi_sync_file_fence(struct uapi_file *file)
{
	return dma_fence_get(container_of(file, struct sync_file, file)->fence);
}

void uapi_sync_file_name(struct uapi_file *file, char *buf, size_t len)
{
	sync_file_name(container_of(file, struct sync_file, file), buf, len);
}

char *sync_file_get_name(int fd, char *buf, int len)
{
	struct uapi_file *file = uapi_file_lookup_type(fd, &sync_file_ops);

	if (!file)
		return NULL;
	sync_file_name(container_of(file, struct sync_file, file), buf, len > 0 ? (size_t)len : 0);
	uapi_file_put(file);
	return buf;
}

/* ---- fences of the real kernel's sync_files ------------------------------------ */

static int kernel_file_info(int fd, struct sync_file_info *info)
{
	memset(info, 0, sizeof(*info));
	return ioctl(fd, SYNC_IOC_FILE_INFO, info) ? -errno : 0;
}

/* Hidden; for the unit test. */
extern int (*uapi_kernel_sync_file_info)(int fd, struct sync_file_info *info);

/*
 * How a foreign fd is recognised as a kernel sync_file and its status read:
 * a count-only SYNC_IOC_FILE_INFO.  A variable so that the unit test can
 * substitute a fake kernel (this machine has no sw_sync to make real ones).
 * Return: 0 with @info filled, or a negative errno.
 */
int (*uapi_kernel_sync_file_info)(int fd, struct sync_file_info *info) = kernel_file_info;

int (*uapi_sync_file_info_hook)(int fd, struct sync_file_info *info);

/* FILE_INFO (count only) of the sync file @fd of the broker, the hook's
 * (*@own set), or else of the kernel. */
static int kernel_sync_file_info(int fd, struct sync_file_info *info, bool *own)
{
	int (*hook)(int, struct sync_file_info *) =
		__atomic_load_n(&uapi_sync_file_info_hook, __ATOMIC_ACQUIRE);
	int r;

	memset(info, 0, sizeof(*info));
	r = hook ? hook(fd, info) : -ENOTTY;
	if (own)
		*own = r != -ENOTTY;
	if (r != -ENOTTY)
		return r;
	return __atomic_load_n(&uapi_kernel_sync_file_info, __ATOMIC_ACQUIRE)(fd, info);
}

struct foreign_fence {
	struct dma_fence base;		/* first: freed as a dma_fence */
	spinlock_t lock;
	pthread_mutex_t status_lock;	/* leaf lock for @done and the error */
	bool done;			/* the kernel fence was seen signaled */
	int fd;				/* our dup of the kernel sync_file */
	bool broker;			/* it is the broker's, not the kernel's */
	struct uapi_fd_watch watch;	/* armed by enable_signaling */
	char timeline[SYNC_NAME_LEN];	/* the kernel sync_file's name */
	char driver[SYNC_NAME_LEN];	/* "dmasync-foreign", or its fence's */
};

static inline struct foreign_fence *to_foreign(struct dma_fence *fence)
{
	return container_of(fence, struct foreign_fence, base);
}

/* The kernel fence polled readable: record its error once.  Return: true. */
static bool foreign_record(struct foreign_fence *ff)
{
	pthread_mutex_lock(&ff->status_lock);
	if (!ff->done) {
		struct sync_file_info info;

		if (!kernel_sync_file_info(ff->fd, &info, NULL) && info.status < 0 &&
		    info.status >= -MAX_ERRNO)
			__atomic_store_n(&ff->base.error, info.status, __ATOMIC_RELAXED);
		__atomic_store_n(&ff->done, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&ff->status_lock);
	return true;
}

/*
 * Whether the kernel fence has signaled (a non-blocking poll).  The
 * broker's sync file turns readable once the broker has applied what
 * signaled it; its FILE_INFO (the timeline page) knows at once.
 */
static bool foreign_check(struct foreign_fence *ff)
{
	struct pollfd p = { .fd = ff->fd, .events = POLLIN };
	struct sync_file_info info;

	if (__atomic_load_n(&ff->done, __ATOMIC_ACQUIRE))
		return true;
	if (poll(&p, 1, 0) == 1)
		return foreign_record(ff);
	if (ff->broker && !kernel_sync_file_info(ff->fd, &info, NULL) && info.status != 0)
		return foreign_record(ff);
	return false;
}

static const char *foreign_driver_name(struct dma_fence *fence)
{
	return to_foreign(fence)->driver;
}

static const char *foreign_timeline_name(struct dma_fence *fence)
{
	return to_foreign(fence)->timeline;
}

static bool foreign_signaled(struct dma_fence *fence)
{
	return foreign_check(to_foreign(fence));
}

/* Monitor thread: the kernel sync_file polled readable. */
static void foreign_watch_fired(struct uapi_fd_watch *watch)
{
	struct foreign_fence *ff = container_of(watch, struct foreign_fence, watch);

	foreign_record(ff);
	dma_fence_signal(&ff->base);
	dma_fence_put(&ff->base); /* enable_signaling's reference */
}

/* Fence lock held. */
static bool foreign_enable_signaling(struct dma_fence *fence)
{
	struct foreign_fence *ff = to_foreign(fence);

	if (foreign_check(ff))
		return false;
	/* The watch keeps the fence (and our dup) alive until it fires. */
	dma_fence_get(fence);
	ff->watch.fd = ff->fd;
	ff->watch.func = foreign_watch_fired;
	if (WARN(uapi_fd_watch_arm(&ff->watch) != 0,
		 "cannot watch a kernel sync_file; its fence only signals when tested")) {
		/* The caller holds a reference: this put is never the last. */
		dma_fence_put(fence);
	}
	return true;
}

static void foreign_set_deadline(struct dma_fence *fence, ktime_t deadline)
{
	struct sync_set_deadline arg = { .deadline_ns = (__u64)deadline };

	/* A hint: kernels before 6.4 answer ENOTTY, which is fine. */
	(void)!ioctl(to_foreign(fence)->fd, SYNC_IOC_SET_DEADLINE, &arg);
}

static void foreign_free_rcu(struct core_rcu_head *head)
{
	struct foreign_fence *ff = (struct foreign_fence *)container_of((void *)head,
									struct dma_fence, rcu);

	pthread_mutex_destroy(&ff->status_lock);
	pthread_mutex_destroy(&ff->lock.mutex);
	free(ff);
}

static void foreign_release(struct dma_fence *fence)
{
	struct foreign_fence *ff = to_foreign(fence);

	close(ff->fd);
	core_call_rcu((struct core_rcu_head *)(void *)&fence->rcu, foreign_free_rcu);
}

static const struct dma_fence_ops foreign_fence_ops = {
	.get_driver_name = foreign_driver_name,
	.get_timeline_name = foreign_timeline_name,
	.enable_signaling = foreign_enable_signaling,
	.signaled = foreign_signaled,
	.release = foreign_release,
	.set_deadline = foreign_set_deadline,
};

static struct dma_fence *foreign_fence_create(int fd)
{
	struct sync_file_info info;
	struct foreign_fence *ff;
	bool broker;
	size_t n;

	if (fd < 0 || kernel_sync_file_info(fd, &info, &broker))
		return NULL;
	ff = calloc(1, sizeof(*ff));
	if (!ff)
		return NULL;
	/* Out of the program's way where the registry keeps its own fds. */
	ff->fd = uapi_files_dup_own(fd);
	if (ff->fd < 0) {
		free(ff);
		return NULL;
	}
	ff->broker = broker;
	spin_lock_init(&ff->lock);
	pthread_mutex_init(&ff->status_lock, NULL);
	n = strnlen(info.name, sizeof(info.name) - 1);
	memcpy(ff->timeline, info.name, n);
	ff->timeline[n] = '\0';
	strcpy(ff->driver, "dmasync-foreign");
	if (broker && info.num_fences == 1) {
		/* The broker's sync file of one fence: that fence's names. */
		int (*hook)(int, struct sync_file_info *) =
			__atomic_load_n(&uapi_sync_file_info_hook, __ATOMIC_ACQUIRE);
		struct sync_fence_info fi;

		memset(&info, 0, sizeof(info));
		memset(&fi, 0, sizeof(fi));
		info.num_fences = 1;
		info.sync_fence_info = (__u64)(uintptr_t)&fi;
		if (hook && !hook(fd, &info) && info.num_fences == 1) {
			n = strnlen(fi.driver_name, sizeof(fi.driver_name) - 1);
			memcpy(ff->driver, fi.driver_name, n);
			ff->driver[n] = '\0';
			n = strnlen(fi.obj_name, sizeof(fi.obj_name) - 1);
			memcpy(ff->timeline, fi.obj_name, n);
			ff->timeline[n] = '\0';
		}
	}
	dma_fence_init(&ff->base, &foreign_fence_ops, &ff->lock, dma_fence_context_alloc(1), 1);
	return &ff->base;
}

struct dma_fence *(*uapi_sync_file_fence_hook)(int fd);

struct dma_fence *sync_file_get_fence(int fd)
{
	struct uapi_file *file = uapi_file_lookup_type(fd, &sync_file_ops);
	struct dma_fence *(*own)(int) = __atomic_load_n(&uapi_sync_file_fence_hook, __ATOMIC_ACQUIRE);
	struct dma_fence *fence;

	if (!file) {
		fence = own ? own(fd) : NULL;
		return fence ? fence : foreign_fence_create(fd);
	}
	fence = dma_fence_get(container_of(file, struct sync_file, file)->fence);
	uapi_file_put(file);
	return fence;
}

/* ---- ioctls ---------------------------------------------------------------------- */

static long sync_file_ioctl_merge(struct sync_file *sf, void *arg)
{
	struct sync_merge_data data;
	struct dma_fence *fence2, *merged;
	struct sync_file *out;
	long ret;

	/* As the kernel: the fd first, so EMFILE beats every other error. */
	out = sync_file_alloc();
	if (IS_ERR(out))
		return PTR_ERR(out);
	if (copy_from_user(&data, arg, sizeof(data))) {
		ret = -EFAULT;
		goto err_discard;
	}
	if (data.flags || data.pad) {
		ret = -EINVAL;
		goto err_discard;
	}
	fence2 = sync_file_get_fence(data.fd2);
	if (!fence2) {
		ret = -ENOENT;
		goto err_discard;
	}
	merged = dma_fence_unwrap_merge(sf->fence, fence2);
	dma_fence_put(fence2);
	if (!merged) {
		ret = -ENOMEM;
		goto err_discard;
	}
	sync_file_set_fence(out, merged);
	dma_fence_put(merged);
	data.name[sizeof(data.name) - 1] = '\0';
	sync_file_set_name(out, data.name);

	return sync_file_publish(out, arg, &data, sizeof(data), &data.fence);

err_discard:
	sync_file_discard(out);
	return ret;
}

/*
 * One entry of FILE_INFO.  @locked: a fence lock is held (the signal
 * record), so the status is read without taking @fence's.  Return: the
 * fence's status.
 */
static int fill_fence_info(struct dma_fence *fence, struct sync_fence_info *info, bool locked)
{
	const char *timeline = dma_fence_timeline_name(fence);
	const char *driver = dma_fence_driver_name(fence);

	memcpy(info->obj_name, timeline, strnlen(timeline, sizeof(info->obj_name) - 1));
	memcpy(info->driver_name, driver, strnlen(driver, sizeof(info->driver_name) - 1));
	info->status = locked ? status_signaled(fence) : dma_fence_get_status(fence);
	info->flags = 0;
	/* dma_fence_timestamp() waits out a signaler between the two bits. */
	info->timestamp_ns = test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags) ?
				     (__u64)ktime_to_ns(dma_fence_timestamp(fence)) : 0;
	return info->status;
}

#define FILE_INFO_STACK 8

static long sync_file_ioctl_file_info(struct sync_file *sf, void *arg)
{
	struct sync_fence_info stack[FILE_INFO_STACK], *fi = stack;
	struct sync_file_info info;
	struct dma_fence_unwrap it;
	struct dma_fence *fence;
	unsigned int count = 0, n = 0;
	long ret = 0;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	if (info.flags || info.pad)
		return -EINVAL;

	dma_fence_unwrap_for_each(fence, &it, sf->fence)
		count++;

	/* Count only: the whole fence's status; signaling is not enabled. */
	if (!info.num_fences) {
		info.status = dma_fence_get_status(sf->fence);
		n = count;
		goto out;
	}
	if (info.num_fences < count)
		return -EINVAL;

	if (count > FILE_INFO_STACK) {
		fi = malloc(count * sizeof(*fi));
		if (!fi)
			return -ENOMEM;
	}
	memset(fi, 0, count * sizeof(*fi));
	/* The first non-positive status in unwrap order, else 1. */
	info.status = 1;
	dma_fence_unwrap_for_each(fence, &it, sf->fence) {
		int status;

		if (n == count) {
			/* A chain cannot grow, but never overrun the buffer. */
			dma_fence_put(it.chain);
			break;
		}
		status = fill_fence_info(fence, &fi[n++], false);
		if (info.status > 0)
			info.status = status;
	}
	if (copy_to_user((void *)(uintptr_t)info.sync_fence_info, fi, n * sizeof(*fi)))
		ret = -EFAULT;
	if (fi != stack)
		free(fi);
	if (ret)
		return ret;

out:
	sync_file_name(sf, info.name, sizeof(info.name));
	info.num_fences = n;
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long sync_file_ioctl_set_deadline(struct sync_file *sf, void *arg)
{
	struct sync_set_deadline ts;

	if (copy_from_user(&ts, arg, sizeof(ts)))
		return -EFAULT;
	if (ts.pad)
		return -EINVAL;
	dma_fence_set_deadline(sf->fence, ns_to_ktime((s64)ts.deadline_ns));
	return 0;
}

static long sync_file_ioctl(struct uapi_file *file, int fd, unsigned long request, void *arg)
{
	struct sync_file *sf = container_of(file, struct sync_file, file);

	switch (request) {
	case SYNC_IOC_MERGE:
		return sync_file_ioctl_merge(sf, arg);
	case SYNC_IOC_FILE_INFO:
		return sync_file_ioctl_file_info(sf, arg);
	case SYNC_IOC_SET_DEADLINE:
		return sync_file_ioctl_set_deadline(sf, arg);
	default:
		/* Including the pre-4.7 opcodes 0, 1 and 2. */
		return -ENOTTY;
	}
}

/* For poll wrappers: POLLIN once signaled, nothing else ever. */
static short sync_file_poll(struct uapi_file *file, short events)
{
	struct sync_file *sf = container_of(file, struct sync_file, file);

	return dma_fence_is_signaled(sf->fence) ? (short)(events & POLLIN) : 0;
}

/* The listing (file.h, "DOC: object listing"): name, status. */
static void sync_file_show(struct uapi_file *file, FILE *out)
{
	struct sync_file *sf = container_of(file, struct sync_file, file);
	char name[SYNC_NAME_LEN], clean[UAPI_SHOW_STR_MAX];

	sync_file_name(sf, name, sizeof(name));
	fprintf(out, "\t%s\t%d\n", uapi_show_str(name, clean, sizeof(clean)),
		dma_fence_get_status(sf->fence));
}

/* Its fence, unwrapped (the fence never changes: no lock needed). */
static void sync_file_for_each_fence(struct uapi_file *file,
				     void (*fn)(const char *usage, struct dma_fence *fence, void *arg),
				     void *arg)
{
	struct sync_file *sf = container_of(file, struct sync_file, file);
	struct dma_fence_unwrap iter;
	struct dma_fence *f;

	dma_fence_unwrap_for_each(f, &iter, sf->fence)
		fn("-", f, arg);
}

/* Its poll op reports EPOLLIN alone; the socket under it would add more. */
static int sync_file_epoll_ctl(struct uapi_file *file, int epfd, int op, int fd,
			       struct epoll_event *event)
{
	return uapi_epoll_ctl_masked(epfd, op, fd, event, EPOLLIN);
}

static const struct uapi_file_ops sync_file_ops = {
	.name = "sync_file",
	.ioctl = sync_file_ioctl,
	.poll = sync_file_poll,
	.epoll_ctl = sync_file_epoll_ctl,
	.show = sync_file_show,
	.for_each_fence = sync_file_for_each_fence,
	.release = sync_file_release,
};

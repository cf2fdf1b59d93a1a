/* SPDX-License-Identifier: MIT */
/*
 * The UAPI entry points: dmasync_open(), dmasync_ioctl(), dmasync_poll(),
 * dmasync_ppoll(), dmasync_epoll_ctl(), dmasync_mmap(), dmasync_lseek() and
 * dmasync_close(), each in the shape of a preload wrapper (umockdev's
 * libumockdev-preload.c): look the fd (or path) up; if an object of this
 * process owns it, dispatch through the object's ops (uapi/file.h); if the
 * broker owns it, forward the call (client/remote.c); otherwise call libc
 * with the arguments unchanged.  Ops return a negative errno; errno is set
 * here.  This file sits above both: it is the only one that sees them all.
 *
 * Blocking polls.  Sync files and timelines are sockets whose own state
 * is their readiness: they poll natively.  Objects with a .poll_wait op
 * (dma-bufs) cannot be handed to the kernel's poll (a memfd always
 * reports ready, a socket its own unrelated state), so dmasync_ppoll()
 * asks their .poll op and polls the other fds natively together with one
 * eventfd made for the call, which the objects write to when their
 * readiness may have changed.  The cost over ppoll(2) is one fstat() per
 * entry (to recognise dmasync's fds) and one copy of the array.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dmasync-uapi.h>
#include "client.h"
#include "device.h"
#include "file.h"
#include "remote.h"
#include "ktime.h"
#include "sync_file-priv.h"
#include "tracked.h"
#include "uaccess.h"

static int set_errno(long r)
{
	if (r == -ERESTARTSYS)
		r = -EINTR;
	errno = (int)-r;
	return -1;
}

int dmasync_open(const char *path, int flags, ...)
{
	struct uapi_device *dev;
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (client_enabled()) {
		bool handled;
		int fd = client_entry_open(path, flags, &handled);

		if (handled)
			return fd;
	}
	dev = path ? uapi_device_find(path) : NULL;
	if (dev) {
		int fd = uapi_device_open(dev, flags);

		return fd < 0 ? set_errno(fd) : fd;
	}
	return open(path, flags, mode);
}

/*
 * The file systems Linux keeps dmasync's kinds of files on: anon inodes
 * (sync files), the dma-buf file system, debugfs (the timeline, the only
 * regular file), devtmpfs (the device nodes).  Each is one mount.
 */
enum vfs_home { HOME_ANON, HOME_DMABUF, HOME_DEBUGFS, HOME_DEV };

static enum vfs_home kind_home(enum ipc_kind kind)
{
	switch (kind) {
	case IPC_KIND_SYNC_FILE:
		return HOME_ANON;
	case IPC_KIND_DMA_BUF:
		return HOME_DMABUF;
	case IPC_KIND_TIMELINE:
		return HOME_DEBUGFS;
	default:
		return HOME_DEV;
	}
}

static enum vfs_home file_home(const struct uapi_file *file)
{
	const char *n = file->ops->name;

	return !strcmp(n, "sync_file") ? HOME_ANON
	       : !strcmp(n, "dmabuf")  ? HOME_DMABUF
	       : !strcmp(n, "sw_sync") ? HOME_DEBUGFS
				       : HOME_DEV;
}

/* Where the file behind @fd lives, one of ours or not: -EBADF, 0 not on
 * any of those mounts, or 1 + its enum vfs_home. */
static int fd_home(int fd)
{
	struct uapi_file *file = uapi_files_any() ? uapi_file_lookup(fd) : NULL;
	struct client_obj obj;
	struct stat st, dev;

	if (file) {
		int h = 1 + (int)file_home(file);

		uapi_file_put(file);
		return h;
	}
	if (client_enabled() && client_find(fd, &obj) == 1)
		return 1 + (int)kind_home(obj.kind);
	if (fstat(fd, &st))
		return -EBADF;
	/* The one anon inode all anon files share; the /dev mount */
	if (!(st.st_mode & S_IFMT) && major(st.st_dev) == 0)
		return 1 + HOME_ANON;
	if (!stat("/dev", &dev) && st.st_dev == dev.st_dev)
		return 1 + HOME_DEV;
	return 0;
}

static bool has_cap_sys_admin(void)
{
	struct { uint32_t version; int pid; } hdr = { 0x20080522, 0 };	/* _LINUX_CAPABILITY_VERSION_3 */
	struct { uint32_t effective, permitted, inheritable; } data[2] = { { 0 } };

	return !syscall(SYS_capget, &hdr, data) && (data[0].effective & (1u << 21));
}

/*
 * FICLONE, FICLONERANGE from @src into @fd (of @home): a source on
 * another mount cannot be cloned from (EXDEV); on the same one, none of
 * these is a regular file (EINVAL) but debugfs's, which cannot clone.
 */
static long vfs_clone(enum vfs_home home, int src)
{
	int h = fd_home(src);

	if (h < 0)
		return h;
	if (h != 1 + (int)home)
		return -EXDEV;
	return home == HOME_DEBUGFS ? -EOPNOTSUPP : -EINVAL;
}

/*
 * The requests Linux's VFS answers for every file before its driver sees
 * them (do_vfs_ioctl()): on a dmasync fd, what they do to the fd, or to a
 * file of the kind it stands for.  None of dmasync's files has a fasync
 * method, and only a timeline (a debugfs file) is a regular one, of size 0.
 * None of their file systems can be frozen or map extents.
 * Return: the result, or -ENOIOCTLCMD for the driver's (or libc's) turn.
 */
#define NOT_VFS (-515)	/* the kernel's ENOIOCTLCMD */

/*
 * FIDEDUPERANGE of @fd (of @home): the VFS copies the request in (EFAULT,
 * ENOMEM past a page), then wants a readable, regular file that can remap
 * (none of dmasync's: EINVAL, or for a timeline, a debugfs file,
 * EOPNOTSUPP), after its reserved fields are zero.
 */
static long vfs_dedupe(int fd, enum vfs_home home, void *arg)
{
	char buf[4096];
	struct file_dedupe_range *same = (void *)buf;
	size_t size;
	uint16_t count;
	int mode;

	if (copy_from_user(&count, (char *)arg + offsetof(struct file_dedupe_range, dest_count),
			   sizeof(count)))
		return -EFAULT;
	size = offsetof(struct file_dedupe_range, info) +
	       (size_t)count * sizeof(struct file_dedupe_range_info);
	if (size > sizeof(buf))
		return -ENOMEM;
	if (copy_from_user(buf, arg, size))
		return -EFAULT;
	switch (home) {
	case HOME_ANON:
		mode = O_RDONLY;	/* a sync file */
		break;
	case HOME_DMABUF:
		mode = fcntl(fd, F_GETFL);
		mode = mode < 0 ? O_RDWR : mode & O_ACCMODE;
		break;
	default:
		mode = uapi_device_accmode(fd);
		break;
	}
	if (mode == O_WRONLY || same->reserved1 || same->reserved2)
		return -EINVAL;
	return home == HOME_DEBUGFS ? -EOPNOTSUPP : -EINVAL;
}

static long vfs_ioctl(int fd, enum vfs_home home, unsigned long request, void *arg)
{
	bool regular = home == HOME_DEBUGFS;
	int on, fl;
	switch ((unsigned int)request) {
	case FIOCLEX:
	case FIONCLEX:
		return fcntl(fd, F_SETFD, (unsigned int)request == FIOCLEX ? FD_CLOEXEC : 0) ? -errno
											  : 0;
	case FIONBIO:
	case FIOASYNC:
		if (copy_from_user(&on, arg, sizeof(on)))
			return -EFAULT;
		if ((unsigned int)request == FIOASYNC)
			return on ? -ENOTTY : 0;	/* no fasync method */
		if (home == HOME_ANON)	/* a sync file: its socket stays non-blocking */
			return uapi_sync_file_set_nonblock(fd, on);
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK))
			return -errno;
		return 0;
	case FIGETBSZ:
		on = 4096;
		return copy_to_user(arg, &on, sizeof(on)) ? -EFAULT : 0;
	case FIOQSIZE: {
		loff_t zero = 0;

		if (!regular)
			return -ENOTTY;
		return copy_to_user(arg, &zero, sizeof(zero)) ? -EFAULT : 0;
	}
	case FIONREAD:
		on = 0;
		if (!regular)
			return NOT_VFS;	/* the driver's: ENOTTY */
		return copy_to_user(arg, &on, sizeof(on)) ? -EFAULT : 0;
	case FIFREEZE:
	case FITHAW:
		return has_cap_sys_admin() ? -EOPNOTSUPP : -EPERM;
	case FS_IOC_FIEMAP:
		return -EOPNOTSUPP;
	case FICLONE:
		return vfs_clone(home, (int)(long)arg);
	case FICLONERANGE: {
		struct file_clone_range range;

		if (copy_from_user(&range, arg, sizeof(range)))
			return -EFAULT;
		return vfs_clone(home, (int)range.src_fd);
	}
	case FIDEDUPERANGE:
		return vfs_dedupe(fd, home, arg);
	default:
		return NOT_VFS;
	}
}

static bool vfs_request(unsigned long request)
{
	switch ((unsigned int)request) {
	case FIOCLEX:
	case FIONCLEX:
	case FIONBIO:
	case FIOASYNC:
	case FIGETBSZ:
	case FIOQSIZE:
	case FIONREAD:
	case FIFREEZE:
	case FITHAW:
	case FS_IOC_FIEMAP:
	case FICLONE:
	case FICLONERANGE:
	case FIDEDUPERANGE:
		return true;
	default:
		return false;
	}
}

int dmasync_ioctl(int fd, unsigned long request, ...)
{
	struct uapi_file *file;
	va_list ap;
	void *arg;
	long r;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	file = uapi_files_any() ? uapi_file_lookup(fd) : NULL;
	if (vfs_request(request)) {
		struct client_obj obj;

		r = NOT_VFS;
		if (file)
			r = vfs_ioctl(fd, file_home(file), request, arg);
		else if (client_enabled() && client_find(fd, &obj) == 1)
			r = vfs_ioctl(fd, kind_home(obj.kind), request, arg);
		if (r != NOT_VFS) {
			uapi_file_put(file);
			return r < 0 ? set_errno(r) : (int)r;
		}
	}
	if (!file && client_enabled()) {
		bool handled;

		r = client_entry_ioctl(fd, request, arg, &handled);
		if (handled)
			return (int)r;
	}
	if (!file)
		return ioctl(fd, request, arg);
	r = file->ops->ioctl ? file->ops->ioctl(file, fd, request, arg) : -ENOTTY;
	uapi_file_put(file);
	return r < 0 ? set_errno(r) : (int)r;
}

int dmasync_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	/* INCs made in the timeline page reach the sync files first. */
	if (client_enabled())
		client_settle();
	return epoll_wait(epfd, events, maxevents, timeout);
}

int dmasync_epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
			const sigset_t *sigmask)
{
	if (client_enabled())
		client_settle();
	return epoll_pwait(epfd, events, maxevents, timeout, sigmask);
}

int dmasync_epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
			 const struct timespec *timeout, const sigset_t *sigmask)
{
	if (client_enabled())
		client_settle();
	return epoll_pwait2(epfd, events, maxevents, timeout, sigmask);
}

int dmasync_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	struct uapi_file *file = uapi_files_any() ? uapi_file_lookup(fd) : NULL;
	int r;

	if (!file && client_enabled()) {
		bool handled;

		r = client_entry_epoll_ctl(epfd, op, fd, event, &handled);
		if (handled)
			return r;
	}
	if (!file || !file->ops->epoll_ctl) {
		uapi_file_put(file);
		return epoll_ctl(epfd, op, fd, event);
	}
	r = file->ops->epoll_ctl(file, epfd, op, fd, event);
	uapi_file_put(file);
	return r < 0 ? set_errno(r) : r;
}

void *dmasync_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	struct uapi_file *file;
	void *p;

	if (flags & MAP_ANONYMOUS)
		return mmap(addr, length, prot, flags, fd, offset);
	file = uapi_files_any() ? uapi_file_lookup(fd) : NULL;
	if (!file && client_enabled()) {
		bool handled;

		p = client_entry_mmap(addr, length, prot, flags, fd, offset, &handled);
		if (handled)
			return p;
	}
	if (!file || !file->ops->mmap) {
		uapi_file_put(file);
		return mmap(addr, length, prot, flags, fd, offset);
	}
	p = file->ops->mmap(file, addr, length, prot, flags, fd, offset);
	uapi_file_put(file);
	if (IS_ERR(p)) {
		set_errno(PTR_ERR(p));
		return MAP_FAILED;
	}
	return p;
}

off_t dmasync_lseek(int fd, off_t offset, int whence)
{
	struct uapi_file *file = uapi_files_any() ? uapi_file_lookup(fd) : NULL;
	off_t r;

	if (!file && client_enabled()) {
		bool handled;

		r = client_entry_lseek(fd, offset, whence, &handled);
		if (handled)
			return r;
	}
	if (!file || !file->ops->lseek) {
		uapi_file_put(file);
		return lseek(fd, offset, whence);
	}
	r = file->ops->lseek(file, offset, whence);
	uapi_file_put(file);
	return r < 0 ? set_errno(r) : r;
}

int dmasync_close(int fd)
{
	struct uapi_file *file = uapi_files_any() ? uapi_file_lookup(fd) : NULL;
	int r, e;

	if (!file && client_enabled()) {
		bool handled;

		r = client_entry_close(fd, &handled);
		if (handled)
			return r;
	}
	/* Linux closes the fd even when close() reports an error. */
	r = close(fd);
	e = errno;
	if (file)
		uapi_file_closed(file);
	errno = e;
	return r;
}

/* ---- poll ------------------------------------------------------------------------- */

struct poll_state {
	struct pollfd *fds;
	nfds_t nfds;
	struct pollfd *nat;		/* nfds + 1 entries: the eventfd last */
	struct uapi_file **files;	/* per entry: an object polled by its ops, or NULL */
	struct uapi_poll_waiter *waiters; /* per entry */
	bool any_native;
	int efd;
};

/* Readiness of every emulated entry now (arming what is not ready). */
static int eval_emulated(struct poll_state *s)
{
	int n = 0;

	for (nfds_t i = 0; i < s->nfds; i++) {
		struct uapi_file *file = s->files[i];

		if (!file)
			continue;
		s->fds[i].revents = file->ops->poll(file, s->fds[i].events);
		n += s->fds[i].revents != 0;
	}
	return n;
}

static void waiters_register(struct poll_state *s)
{
	for (nfds_t i = 0; i < s->nfds; i++) {
		struct uapi_file *file = s->files[i];
		struct uapi_poll_waiter *w = &s->waiters[i];

		if (!file)
			continue;
		w->efd = s->efd;
		w->events = s->fds[i].events;
		w->woken = false;
		file->ops->poll_wait(file, w);
	}
}

static void waiters_unregister(struct poll_state *s)
{
	for (nfds_t i = 0; i < s->nfds; i++) {
		struct uapi_file *file = s->files[i];

		if (file)
			file->ops->poll_unwait(file, &s->waiters[i]);
	}
}

/* After reading the eventfd: wakes write it again.  A wake that came in
 * between is not lost: every entry is evaluated again next. */
static void waiters_rearm(struct poll_state *s)
{
	for (nfds_t i = 0; i < s->nfds; i++)
		if (s->files[i])
			__atomic_store_n(&s->waiters[i].woken, false, __ATOMIC_RELEASE);
}

/* Native poll of the other entries without waiting; their revents are
 * copied into the caller's array.  Return: how many are ready, or -1. */
static int poll_native_now(struct poll_state *s)
{
	static const struct timespec zero = { 0, 0 };
	int n = 0;

	if (!s->any_native)
		return 0;
	if (ppoll(s->nat, s->nfds, &zero, NULL) < 0)
		return -1;
	for (nfds_t i = 0; i < s->nfds; i++) {
		if (s->files[i])
			continue;
		s->fds[i].revents = s->nat[i].revents;
		n += s->nat[i].revents != 0;
	}
	return n;
}

static int do_ppoll(struct poll_state *s, const struct timespec *tmo, const sigset_t *sigmask)
{
	ktime_t deadline = -1;
	int r, n;

	if (tmo) {
		if (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= NSEC_PER_SEC) {
			errno = EINVAL;
			return -1;
		}
		deadline = ktime_get() + timespec_to_ktime(tmo);
		if (deadline < 0)
			deadline = INT64_MAX;
	}
	for (;;) {
		struct timespec rem, *remp = NULL;
		ktime_t now;

		n = eval_emulated(s);
		now = ktime_get();
		if (n || (deadline >= 0 && now >= deadline)) {
			r = poll_native_now(s);
			return r < 0 ? -1 : r + n;
		}
		if (s->efd < 0) {
			/* First wait: register and look again, so that nothing
			 * becoming ready in between is missed. */
			s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (s->efd < 0)
				return -1;
			waiters_register(s);
			continue;
		}
		if (deadline >= 0) {
			rem = ktime_to_timespec(deadline - now);
			remp = &rem;
		}
		s->nat[s->nfds].fd = s->efd;
		s->nat[s->nfds].events = POLLIN;
		s->nat[s->nfds].revents = 0;
		r = ppoll(s->nat, s->nfds + 1, remp, sigmask);
		if (r < 0)
			return -1;
		if (s->nat[s->nfds].revents) {
			u64 v;

			if (read(s->efd, &v, sizeof(v)) < 0) {
				/* EAGAIN: somebody else's wake was already read */
			}
			waiters_rearm(s);
			r--;
		}
		if (r > 0) {
			/* Native entries are ready: report them with the emulated ones' state. */
			n = eval_emulated(s);
			r = poll_native_now(s);
			return r < 0 ? -1 : r + n;
		}
	}
}

int dmasync_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		  const sigset_t *sigmask)
{
	struct poll_state s = { .fds = fds, .nfds = nfds, .efd = -1 };
	bool any_emulated = false;
	int r, e;

	/* The broker's buffers poll through their mirrors, natively. */
	if (client_enabled() && !uapi_files_any()) {
		bool handled;

		r = client_entry_ppoll(fds, nfds, tmo, sigmask, &handled);
		if (handled)
			return r;
	}
	if (!nfds || nfds > (nfds_t)INT32_MAX)
		return ppoll(fds, nfds, tmo, sigmask);
	s.nat = malloc((nfds + 1) * sizeof(*s.nat));
	s.files = calloc(nfds, sizeof(*s.files));
	if (!s.nat || !s.files) {
		free(s.nat);
		free(s.files);
		return ppoll(fds, nfds, tmo, sigmask);
	}
	/* The caller's array may be bad: the kernel would say EFAULT. */
	if (copy_from_user(s.nat, fds, nfds * sizeof(*fds))) {
		free(s.nat);
		free(s.files);
		errno = EFAULT;
		return -1;
	}
	for (nfds_t i = 0; i < nfds; i++) {
		struct uapi_file *file = s.nat[i].fd >= 0 ? uapi_file_lookup(s.nat[i].fd) : NULL;

		/* Objects whose fd shows their readiness are polled natively. */
		if (file && !file->ops->poll_wait) {
			uapi_file_put(file);
			file = NULL;
		}
		s.files[i] = file;
		any_emulated |= file != NULL;
	}
	if (!any_emulated) {
		free(s.nat);
		free(s.files);
		return ppoll(fds, nfds, tmo, sigmask);
	}
	s.waiters = calloc(nfds, sizeof(*s.waiters));
	if (!s.waiters) {
		r = -1;
		errno = ENOMEM;
		goto out;
	}
	for (nfds_t i = 0; i < nfds; i++) {
		s.nat[i].revents = 0;
		if (s.files[i])
			s.nat[i].fd = -1;	/* ignored by the kernel */
		else
			s.any_native = true;
		fds[i].revents = 0;
	}
	r = do_ppoll(&s, tmo, sigmask);
out:
	e = errno;
	if (s.efd >= 0) {
		waiters_unregister(&s);
		close(s.efd);
	}
	for (nfds_t i = 0; i < nfds; i++)
		uapi_file_put(s.files[i]);
	free(s.files);
	free(s.nat);
	free(s.waiters);
	errno = e;
	return r;
}

int dmasync_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct timespec ts, *tsp = NULL;

	if (timeout >= 0) {
		ts = ktime_to_timespec(timeout * NSEC_PER_MSEC);
		tsp = &ts;
	}
	return dmasync_ppoll(fds, nfds, tsp, NULL);
}

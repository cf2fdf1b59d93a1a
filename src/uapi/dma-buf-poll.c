/* SPDX-License-Identifier: MIT */
/*
 * Implicit-sync readiness of dma-bufs: the poll, poll_wait and epoll_ctl
 * ops behind dmasync_poll(), dmasync_ppoll() and dmasync_epoll_ctl()
 * (entry.c).
 *
 * Readiness.  POLLIN: no unsignaled fence of usage KERNEL or WRITE;
 * POLLOUT: none of usage KERNEL, WRITE or READ.  BOOKKEEP never counts.
 * As in the kernel, each direction has one callback slot: when a direction
 * is not ready, a callback is armed on the first unsignaled fence (which
 * enables signaling on it); while it is armed the direction reads as not
 * ready; when it fires, the buffer is looked at again and the slot re-armed
 * on the next pending fence, if somebody still cares.
 *
 * Fence callbacks run with the fence lock held; they only record which
 * slot fired and queue the buffer's irq_work, which does the rest in the
 * signaling thread once it holds no spinlock (dma-buf-priv.h: poll_lock is
 * a spinlock_t precisely so that this work waits for it).
 *
 * Blocking polls.  A dma-buf fd cannot be handed to the kernel's poll (a
 * memfd always reports ready, a socket its own unrelated state):
 * dmasync_ppoll() registers a waiter with the buffer, which readiness
 * changes wake.
 *
 * Epoll.  For every registration (epoll set, dma-buf, fd number) the
 * library makes a "mirror": an AF_UNIX stream socketpair whose end M is
 * registered in the caller's epoll set with the caller's events and data,
 * so plain epoll_wait() returns the caller's epoll_data unchanged.  The
 * library keeps M's readiness equal to the buffer's: M is readable iff a
 * byte waits in its receive queue (written from the peer end P, drained
 * from M), and writable iff its minimal send buffer is not full (filled
 * from M, drained from P).  Mirrors are updated when fences signal and
 * when fences are added (the reservation object's change hook, at
 * dma_resv_unlock(): by IMPORT_SYNC_FILE or by in-process code alike).  A
 * mirror is released by EPOLL_CTL_DEL,
 * when the buffer dies (its last fd is closed: the kernel drops a closed
 * file from epoll sets too), or by a reap pass once its epoll set is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include <dmasync/dmasync-uapi.h>
#include "debug.h"
#include "dma-buf-priv.h"
#include "uaccess.h"

struct dmabuf_mirror {
	struct list_head node;
	int m;			/* registered in the caller's epoll set */
	int p;			/* our end */
	int epfd;		/* the caller's epoll fd number at EPOLL_CTL_ADD */
	int user_fd;		/* the caller's dma-buf fd number at EPOLL_CTL_ADD */
	unsigned int dirs;	/* DMABUF_IN / DMABUF_OUT wanted */
	bool in_shown, out_shown;
};

static const enum dma_resv_usage dir_usage[2] = { DMA_RESV_USAGE_WRITE, DMA_RESV_USAGE_READ };

/* Bytes written from M to fill its send buffer (never modified). */
static const char fill_bytes[16384];

/* ---- mirrors ------------------------------------------------------------------- */

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void fill(int fd)
{
	ssize_t r;

	do
		r = send(fd, fill_bytes, sizeof(fill_bytes), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r == (ssize_t)sizeof(fill_bytes));
}

/*
 * poll_lock held: make @m show @ready for the directions it watches.
 *
 * Two system calls when both directions change, and a waiter on M wakes at
 * the first.  Writable always goes first: the buffer is never writable
 * without being readable (POLLOUT waits for every fence POLLIN waits for,
 * and more), so a waiter that finds M writable and not readable is looking
 * between the two calls of a change to both, and a poll() that asked for
 * both adds POLLIN (client/remote.c).  Read first, "readable alone" would
 * be a state the buffer can really be in, and could not be told apart.
 */
static void mirror_show(struct dmabuf_mirror *m, unsigned int ready)
{
	bool in = ready & DMABUF_IN, out = ready & DMABUF_OUT;

	if ((m->dirs & DMABUF_OUT) && out != m->out_shown) {
		if (out)
			drain(m->p);
		else
			fill(m->m);
		m->out_shown = out;
	}
	if ((m->dirs & DMABUF_IN) && in != m->in_shown) {
		if (in)
			send(m->p, "r", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			drain(m->m);
		m->in_shown = in;
	}
}

static void mirror_free(struct dmabuf_mirror *m)
{
	close(m->m);
	close(m->p);
	free(m);
}

/* poll_lock held.  Atomic so that poll_update() may peek unlocked. */
static void interest_add(struct uapi_dmabuf *obj, unsigned int dirs, int delta)
{
	for (int d = 0; d < 2; d++)
		if (dirs & (1u << d))
			__atomic_fetch_add(&obj->interest[d], (unsigned int)delta, __ATOMIC_SEQ_CST);
}

static bool interested(struct uapi_dmabuf *obj, int d)
{
	return __atomic_load_n(&obj->interest[d], __ATOMIC_RELAXED) != 0;
}

/* ---- readiness ------------------------------------------------------------------ */

static unsigned int poll_dirs(short events)
{
	return ((events & POLLIN) ? DMABUF_IN : 0) | ((events & POLLOUT) ? DMABUF_OUT : 0);
}

static short dirs_to_revents(unsigned int dirs)
{
	return (short)(((dirs & DMABUF_IN) ? POLLIN : 0) | ((dirs & DMABUF_OUT) ? POLLOUT : 0));
}

static void poll_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct uapi_dmabuf_poll_cb *pcb = container_of(cb, struct uapi_dmabuf_poll_cb, cb);
	struct uapi_dmabuf *obj = pcb->obj;

	__atomic_fetch_or(&obj->fired, pcb->bit, __ATOMIC_ACQ_REL);
	/* The queued work holds a reference of its own: the callbacks'
	 * references may be dropped by a run of the work in another thread. */
	if (irq_work_queue(&obj->work))
		uapi_dmabuf_get(obj);
}

/* poll_lock held.  Arm slot @d on the first unsignaled fence; false if none. */
static bool arm_locked(struct uapi_dmabuf *obj, int d)
{
	struct uapi_dmabuf_poll_cb *pcb = &obj->cb[d];
	struct dma_resv_iter cursor;
	struct dma_fence *fence;
	bool armed = false;

	dma_resv_iter_begin(&cursor, obj->buf.resv, dir_usage[d]);
	dma_resv_for_each_fence_unlocked(&cursor, fence) {
		/* Set up before the callback can run: it may fire at once. */
		pcb->fence = dma_fence_get(fence);
		uapi_dmabuf_get(obj);
		if (!dma_fence_add_callback(fence, &pcb->cb, poll_cb)) {
			armed = true;
			break;
		}
		/* Signaled meanwhile; neither reference can be the last. */
		pcb->fence = NULL;
		dma_fence_put(fence);
		uapi_dmabuf_put(obj);
	}
	dma_resv_iter_end(&cursor);
	return armed;
}

/* poll_lock held. */
static void apply_locked(struct uapi_dmabuf *obj, unsigned int ready)
{
	struct dmabuf_mirror *m;
	struct uapi_poll_waiter *w;

	list_for_each_entry(m, &obj->mirrors, node)
		mirror_show(m, ready);
	list_for_each_entry(w, &obj->waiters, node)
		if (ready & poll_dirs(w->events))
			uapi_poll_waiter_wake(w);
}

/*
 * Re-evaluate the buffer's readiness: arm callbacks where somebody waits
 * (or, with @arm, for the directions in @arm), update epoll mirrors, wake
 * pollers.  Return: the ready directions (DMABUF_IN/OUT).  No lock held.
 */
static unsigned int poll_update(struct uapi_dmabuf *obj, unsigned int arm)
{
	unsigned int ready = 0;

	/*
	 * Nobody to tell and nothing asked: nothing to do.  A mirror or poller
	 * registering concurrently evaluates the buffer itself afterwards; the
	 * fence pairs with the interest increment, so that of a fence added
	 * before this and a registration, at least one sees the other.
	 */
	if (!arm) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!interested(obj, 0) && !interested(obj, 1))
			return 0;
	}
	/* Other processes' fences first, if the buffer is shared (the walks
	 * below run under our spinlock, where nothing may block). */
	core_resv_refresh(obj->buf.resv);
	spin_lock(&obj->poll_lock);
	for (int d = 0; d < 2; d++) {
		unsigned int bit = 1u << d;

		if (obj->cb[d].fence)
			continue;	/* armed: not ready until it fires */
		if ((arm & bit) || interested(obj, d)) {
			if (!arm_locked(obj, d))
				ready |= bit;
		} else if (dma_resv_test_signaled(obj->buf.resv, dir_usage[d])) {
			ready |= bit;
		}
	}
	apply_locked(obj, ready);
	spin_unlock(&obj->poll_lock);
	return ready;
}

static void poll_work(struct irq_work *work)
{
	struct uapi_dmabuf *obj = container_of(work, struct uapi_dmabuf, work);
	unsigned long fired = __atomic_exchange_n(&obj->fired, 0, __ATOMIC_ACQ_REL);
	struct dma_fence *done[2] = { NULL, NULL };

	spin_lock(&obj->poll_lock);
	for (int d = 0; d < 2; d++) {
		if (fired & (1u << d)) {
			done[d] = obj->cb[d].fence;
			obj->cb[d].fence = NULL;
		}
	}
	spin_unlock(&obj->poll_lock);
	poll_update(obj, 0);
	for (int d = 0; d < 2; d++) {
		if (done[d]) {
			dma_fence_put(done[d]);
			uapi_dmabuf_put(obj);	/* the callback's */
		}
	}
	uapi_dmabuf_put(obj);	/* the queued work's */
}

void (*uapi_dmabuf_changed_hook)(dev_t dev, ino_t ino);

void uapi_dmabuf_poll_resv_changed(struct core_resv_hook *hook, struct dma_resv *resv)
{
	struct uapi_dmabuf *obj = container_of(hook, struct uapi_dmabuf, resv_hook);
	void (*changed)(dev_t, ino_t) = __atomic_load_n(&uapi_dmabuf_changed_hook, __ATOMIC_ACQUIRE);

	if (changed)
		changed(obj->t.file.dev, obj->t.file.ino);

	/*
	 * The update takes the buffer's poll_lock and may drop references:
	 * not here, inside the hooks' lock, but in the buffer's work, which
	 * runs once this thread holds no spinlock.  A buffer whose release
	 * has begun (it waits for the hooks' lock to remove this hook) is
	 * left alone.
	 */
	if (!uapi_file_get_unless_zero(&obj->t.file))
		return;
	if (!irq_work_queue(&obj->work))
		uapi_dmabuf_put(obj);	/* queued already, with a reference of its own */
}

void uapi_dmabuf_poll_init(struct uapi_dmabuf *obj)
{
	spin_lock_init(&obj->poll_lock);
	for (int d = 0; d < 2; d++) {
		obj->cb[d].obj = obj;
		obj->cb[d].bit = 1u << d;
		obj->cb[d].fence = NULL;
	}
	obj->fired = 0;
	init_irq_work(&obj->work, poll_work);
	INIT_LIST_HEAD(&obj->waiters);
	INIT_LIST_HEAD(&obj->mirrors);
}

void uapi_dmabuf_poll_died(struct uapi_dmabuf *obj)
{
	struct dma_fence *removed[2] = { NULL, NULL };
	struct dmabuf_mirror *m, *tmp;
	LIST_HEAD(dead);

	spin_lock(&obj->poll_lock);
	for (int d = 0; d < 2; d++) {
		struct uapi_dmabuf_poll_cb *pcb = &obj->cb[d];

		/* If it is firing right now, the work cleans up. */
		if (pcb->fence && dma_fence_remove_callback(pcb->fence, &pcb->cb)) {
			removed[d] = pcb->fence;
			pcb->fence = NULL;
		}
	}
	list_for_each_entry_safe(m, tmp, &obj->mirrors, node) {
		interest_add(obj, m->dirs, -1);
		list_del(&m->node);
		list_add(&m->node, &dead);
	}
	/* Pollers re-evaluate and keep waiting on the object they hold. */
	apply_locked(obj, DMABUF_IN | DMABUF_OUT);
	spin_unlock(&obj->poll_lock);
	/* Closing M also takes it out of the caller's epoll set. */
	list_for_each_entry_safe(m, tmp, &dead, node)
		mirror_free(m);
	for (int d = 0; d < 2; d++) {
		if (removed[d]) {
			dma_fence_put(removed[d]);
			uapi_dmabuf_put(obj);	/* never the last: the caller holds one */
		}
	}
}

void uapi_dmabuf_poll_fini(struct uapi_dmabuf *obj)
{
	struct dmabuf_mirror *m, *tmp;

	DMASYNC_ASSERT(!obj->cb[0].fence && !obj->cb[1].fence,
		       "dma-buf released with a poll callback armed");
	DMASYNC_ASSERT(list_empty(&obj->waiters), "dma-buf released with pollers");
	list_for_each_entry_safe(m, tmp, &obj->mirrors, node)
		mirror_free(m);
	INIT_LIST_HEAD(&obj->mirrors);
}

void uapi_dmabuf_poll_fork_child_obj(struct uapi_dmabuf *obj)
{
	struct dmabuf_mirror *m, *tmp;

	/* Single-threaded child: the parent's locks may be held by threads
	 * that do not exist here, so nothing is locked. */
	list_for_each_entry_safe(m, tmp, &obj->mirrors, node) {
		close(m->m);
		close(m->p);
	}
	INIT_LIST_HEAD(&obj->mirrors);
	INIT_LIST_HEAD(&obj->waiters);
	__atomic_store_n(&obj->interest[0], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&obj->interest[1], 0, __ATOMIC_RELAXED);
}

/* ---- epoll ------------------------------------------------------------------------ */

/* Whether mirror end @m is registered in the epoll set @epfd (-1: cannot tell). */
static int in_epoll_set(int m, int epfd)
{
	struct kcmp_epoll_slot slot = { .efd = (__u32)epfd, .tfd = (__u32)m, .toff = 0 };
	long r = syscall(SYS_kcmp, (long)getpid(), (long)getpid(), (long)KCMP_EPOLL_TFD,
			 (long)m, (long)&slot);

	if (r == 0)
		return 1;
	if (r < 0 && (errno == ENOSYS || errno == EPERM))
		return -1;
	return 0;
}

/* ---- the shared mirror (for other processes) ------------------------------------ */

/*
 * One mirror per buffer, registered nowhere, whose M end the broker hands
 * to any process that polls the buffer (docs/design.md, "Readiness").
 * Kept until the buffer dies; epfd -1 marks it.
 */
int uapi_dmabuf_poll_shared_mirror(struct uapi_dmabuf *obj)
{
	struct dmabuf_mirror *m, *it;
	int sv[2], zero = 0, fd = -2;

	spin_lock(&obj->poll_lock);
	list_for_each_entry(it, &obj->mirrors, node) {
		if (it->epfd == -1) {
			fd = fcntl(it->m, F_DUPFD_CLOEXEC, 0);
			break;
		}
	}
	spin_unlock(&obj->poll_lock);
	if (fd != -2)
		return fd < 0 ? -errno : fd;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) {
		free(m);
		return -errno;
	}
	/* The kernel clamps it to its minimum: a few KiB fill it. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &zero, sizeof(zero));
	m->m = sv[0];
	m->p = sv[1];
	m->epfd = -1;
	m->user_fd = -1;
	m->dirs = DMABUF_IN | DMABUF_OUT;
	m->in_shown = false;	/* nothing to read yet */
	m->out_shown = true;	/* the send buffer is empty */
	spin_lock(&obj->poll_lock);
	list_for_each_entry(it, &obj->mirrors, node) {
		if (it->epfd == -1) {
			/* Another thread made one meanwhile: use that. */
			fd = fcntl(it->m, F_DUPFD_CLOEXEC, 0);
			spin_unlock(&obj->poll_lock);
			mirror_free(m);
			return fd < 0 ? -errno : fd;
		}
	}
	list_add_tail(&m->node, &obj->mirrors);
	interest_add(obj, m->dirs, 1);
	fd = fcntl(m->m, F_DUPFD_CLOEXEC, 0);
	spin_unlock(&obj->poll_lock);
	/* Show the current state before anyone polls the copy. */
	poll_update(obj, 0);
	return fd < 0 ? -errno : fd;
}

/* poll_lock held.  The mirror of (@epfd, @fd), or NULL. */
static struct dmabuf_mirror *find_mirror_locked(struct uapi_dmabuf *obj, int epfd, int fd)
{
	struct dmabuf_mirror *m;

	list_for_each_entry(m, &obj->mirrors, node) {
		int in;

		if (m->user_fd != fd || m->epfd < 0)
			continue;
		in = in_epoll_set(m->m, epfd);
		if (in > 0 || (in < 0 && m->epfd == epfd))
			return m;
	}
	return NULL;
}

void uapi_dmabuf_poll_reap_orphans(struct uapi_dmabuf *obj)
{
	struct dmabuf_mirror *m, *tmp;
	LIST_HEAD(dead);

	spin_lock(&obj->poll_lock);
	list_for_each_entry_safe(m, tmp, &obj->mirrors, node) {
		if (m->epfd >= 0 && in_epoll_set(m->m, m->epfd) == 0) {
			interest_add(obj, m->dirs, -1);
			list_del(&m->node);
			list_add(&m->node, &dead);
		}
	}
	spin_unlock(&obj->poll_lock);
	list_for_each_entry_safe(m, tmp, &dead, node)
		mirror_free(m);
}

static unsigned int epoll_dirs(u32 events)
{
	return ((events & EPOLLIN) ? DMABUF_IN : 0) | ((events & EPOLLOUT) ? DMABUF_OUT : 0);
}

/* The caller's event as registered for M (uapi_dmabuf_mirror_events()). */
static struct epoll_event mirror_event(const struct epoll_event *ev)
{
	struct epoll_event out = *ev;

	out.events = uapi_dmabuf_mirror_events(ev->events);
	return out;
}

/* The kernel's answer to MOD/DEL of a dma-buf that is not in @epfd. */
static int not_registered(int epfd, int fd)
{
	char path[40], link[64];
	ssize_t n;

	if (epfd < 0 || fcntl(epfd, F_GETFD) < 0) {
		errno = EBADF;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", epfd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n >= 0)
		link[n] = 0;
	if (epfd == fd || (n >= 0 && strcmp(link, "anon_inode:[eventpoll]"))) {
		errno = EINVAL;
		return -1;
	}
	errno = ENOENT;
	return -1;
}

static int mirror_add(struct uapi_dmabuf *obj, int epfd, int fd, const struct epoll_event *ev)
{
	struct epoll_event mev = mirror_event(ev);
	struct dmabuf_mirror *m;
	int sv[2], zero = 0, e;

	/* Before the mirror's fds exist: they could take @epfd's number. */
	if (epfd < 0 || fcntl(epfd, F_GETFD) < 0) {
		errno = EBADF;
		return -1;
	}
	spin_lock(&obj->poll_lock);
	m = find_mirror_locked(obj, epfd, fd);
	spin_unlock(&obj->poll_lock);
	if (m) {
		errno = EEXIST;
		return -1;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) {
		free(m);
		return -1;
	}
	/* The kernel clamps it to its minimum: a few KiB fill it. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &zero, sizeof(zero));
	m->m = sv[0];
	m->p = sv[1];
	m->epfd = epfd;
	m->user_fd = fd;
	m->dirs = epoll_dirs(ev->events);
	m->in_shown = false;	/* nothing to read yet */
	m->out_shown = true;	/* the send buffer is empty */

	spin_lock(&obj->poll_lock);
	list_add_tail(&m->node, &obj->mirrors);
	interest_add(obj, m->dirs, 1);
	spin_unlock(&obj->poll_lock);
	poll_update(obj, 0);

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, m->m, &mev)) {
		e = errno;
		spin_lock(&obj->poll_lock);
		list_del(&m->node);
		interest_add(obj, m->dirs, -1);
		spin_unlock(&obj->poll_lock);
		mirror_free(m);
		errno = e;
		return -1;
	}
	return 0;
}

static int mirror_mod(struct uapi_dmabuf *obj, int epfd, int fd, const struct epoll_event *ev)
{
	struct epoll_event mev = mirror_event(ev);
	struct dmabuf_mirror *m;
	int mfd = -1;

	spin_lock(&obj->poll_lock);
	m = find_mirror_locked(obj, epfd, fd);
	if (m) {
		unsigned int dirs = epoll_dirs(ev->events);

		interest_add(obj, m->dirs, -1);
		interest_add(obj, dirs, 1);
		/* Directions newly watched are brought up to date below. */
		if ((dirs & DMABUF_IN) && !(m->dirs & DMABUF_IN)) {
			drain(m->m);
			m->in_shown = false;
		}
		if ((dirs & DMABUF_OUT) && !(m->dirs & DMABUF_OUT)) {
			drain(m->p);
			m->out_shown = true;
		}
		m->dirs = dirs;
		mfd = m->m;
	}
	spin_unlock(&obj->poll_lock);
	if (!m)
		return not_registered(epfd, fd);
	poll_update(obj, 0);
	/* Only a DEL from another thread could free M meanwhile; that is the
	 * caller's race, as with the kernel's epoll_ctl. */
	return epoll_ctl(epfd, EPOLL_CTL_MOD, mfd, &mev);
}

static int mirror_del(struct uapi_dmabuf *obj, int epfd, int fd)
{
	struct dmabuf_mirror *m;

	spin_lock(&obj->poll_lock);
	m = find_mirror_locked(obj, epfd, fd);
	if (m) {
		list_del(&m->node);
		interest_add(obj, m->dirs, -1);
	}
	spin_unlock(&obj->poll_lock);
	if (!m)
		return not_registered(epfd, fd);
	epoll_ctl(epfd, EPOLL_CTL_DEL, m->m, NULL);
	mirror_free(m);
	return 0;
}

int uapi_dmabuf_epoll_ctl(struct uapi_file *file, int epfd, int op, int fd,
			  struct epoll_event *event)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);
	struct epoll_event ev;
	int r;

	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) &&
	    copy_from_user(&ev, event, sizeof(ev)))
		return -EFAULT;
	switch (op) {
	case EPOLL_CTL_ADD:
		r = mirror_add(obj, epfd, fd, &ev);
		break;
	case EPOLL_CTL_MOD:
		r = mirror_mod(obj, epfd, fd, &ev);
		break;
	case EPOLL_CTL_DEL:
		r = mirror_del(obj, epfd, fd);
		break;
	default:
		return -EINVAL;
	}
	return r < 0 ? -errno : r;
}

/* ---- poll ------------------------------------------------------------------------- */

short uapi_dmabuf_poll(struct uapi_file *file, short events)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);
	unsigned int want = poll_dirs(events);

	if (!want)
		return 0;
	return dirs_to_revents(poll_update(obj, want) & want);
}

void uapi_dmabuf_poll_wait(struct uapi_file *file, struct uapi_poll_waiter *waiter)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);

	spin_lock(&obj->poll_lock);
	list_add_tail(&waiter->node, &obj->waiters);
	interest_add(obj, poll_dirs(waiter->events), 1);
	spin_unlock(&obj->poll_lock);
}

void uapi_dmabuf_poll_unwait(struct uapi_file *file, struct uapi_poll_waiter *waiter)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);

	spin_lock(&obj->poll_lock);
	list_del(&waiter->node);
	interest_add(obj, poll_dirs(waiter->events), -1);
	spin_unlock(&obj->poll_lock);
}

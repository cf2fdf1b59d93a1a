/* SPDX-License-Identifier: MIT */
/*
 * Implicit-sync readiness of dma-bufs: dmasync_poll(), dmasync_ppoll() and
 * dmasync_epoll_ctl().
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
 * memfd always reports ready, a socket its own unrelated state), so
 * dmasync_ppoll() polls the other fds natively together with one eventfd
 * made for the call, which the buffers' readiness changes write to.  The
 * cost over ppoll(2) is one fstat() per entry (to recognise dma-bufs) and
 * one copy of the array.
 *
 * Epoll.  For every registration (epoll set, dma-buf, fd number) the
 * library makes a "mirror": an AF_UNIX stream socketpair whose end M is
 * registered in the caller's epoll set with the caller's events and data,
 * so plain epoll_wait() returns the caller's epoll_data unchanged.  The
 * library keeps M's readiness equal to the buffer's: M is readable iff a
 * byte waits in its receive queue (written from the peer end P, drained
 * from M), and writable iff its minimal send buffer is not full (filled
 * from M, drained from P).  Mirrors are updated when fences signal and
 * when fences are imported; in-process code that adds fences itself calls
 * dmasync_dma_buf_resv_changed().  A mirror is released by EPOLL_CTL_DEL,
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
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include <dmasync/dmasync-uapi.h>
#include "debug.h"
#include "dma-buf-priv.h"
#include "uaccess.h"

struct dmabuf_waiter {
	struct list_head node;
	int efd;
	unsigned int dirs;
	bool woken;
};

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

/* poll_lock held: make @m show @ready for the directions it watches. */
static void mirror_show(struct dmabuf_mirror *m, unsigned int ready)
{
	bool in = ready & DMABUF_IN, out = ready & DMABUF_OUT;

	if ((m->dirs & DMABUF_IN) && in != m->in_shown) {
		if (in)
			send(m->p, "r", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			drain(m->m);
		m->in_shown = in;
	}
	if ((m->dirs & DMABUF_OUT) && out != m->out_shown) {
		if (out)
			drain(m->p);
		else
			fill(m->m);
		m->out_shown = out;
	}
}

static void mirror_free(struct dmabuf_mirror *m)
{
	close(m->m);
	close(m->p);
	free(m);
}

/* poll_lock held.  Atomic so that uapi_dmabuf_poll_update() may peek unlocked. */
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
	struct dmabuf_waiter *w;
	static const u64 one = 1;

	list_for_each_entry(m, &obj->mirrors, node)
		mirror_show(m, ready);
	list_for_each_entry(w, &obj->waiters, node) {
		if (!w->woken && (ready & w->dirs)) {
			w->woken = true;
			if (write(w->efd, &one, sizeof(one)) < 0) {
				/* The counter cannot overflow at one write per wake. */
			}
		}
	}
}

unsigned int uapi_dmabuf_poll_update(struct uapi_dmabuf *obj, unsigned int arm)
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
	uapi_dmabuf_poll_update(obj, 0);
	for (int d = 0; d < 2; d++) {
		if (done[d]) {
			dma_fence_put(done[d]);
			uapi_dmabuf_put(obj);	/* the callback's */
		}
	}
	uapi_dmabuf_put(obj);	/* the queued work's */
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

/* poll_lock held.  The mirror of (@epfd, @fd), or NULL. */
static struct dmabuf_mirror *find_mirror_locked(struct uapi_dmabuf *obj, int epfd, int fd)
{
	struct dmabuf_mirror *m;

	list_for_each_entry(m, &obj->mirrors, node) {
		int in;

		if (m->user_fd != fd)
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
		if (in_epoll_set(m->m, m->epfd) == 0) {
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

/* The caller's event as registered for M: readiness bits limited to the
 * two a dma-buf reports, the control flags kept. */
static struct epoll_event mirror_event(const struct epoll_event *ev)
{
	struct epoll_event out = *ev;

	out.events = (ev->events & (EPOLLIN | EPOLLOUT)) |
		     (ev->events & (EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE));
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
	uapi_dmabuf_poll_update(obj, 0);

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
	uapi_dmabuf_poll_update(obj, 0);
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

int dmasync_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	struct uapi_dmabuf *obj = uapi_dmabuf_lookup(fd);
	struct epoll_event ev;
	int r;

	if (!obj)
		return epoll_ctl(epfd, op, fd, event);
	uapi_tracked_maybe_reap();
	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) &&
	    copy_from_user(&ev, event, sizeof(ev))) {
		uapi_dmabuf_put(obj);
		errno = EFAULT;
		return -1;
	}
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
		errno = EINVAL;
		r = -1;
		break;
	}
	{
		int e = errno;

		uapi_dmabuf_put(obj);
		errno = e;
	}
	return r;
}

/* ---- poll ------------------------------------------------------------------------- */

static unsigned int poll_dirs(short events)
{
	return ((events & POLLIN) ? DMABUF_IN : 0) | ((events & POLLOUT) ? DMABUF_OUT : 0);
}

static short dirs_to_revents(unsigned int dirs)
{
	return (short)(((dirs & DMABUF_IN) ? POLLIN : 0) | ((dirs & DMABUF_OUT) ? POLLOUT : 0));
}

static ktime_t ts_to_ns(const struct timespec *ts)
{
	if (ts->tv_sec > INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	return (ktime_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

struct poll_state {
	struct pollfd *fds;
	nfds_t nfds;
	struct pollfd *nat;		/* nfds + 1 entries: the eventfd last */
	struct uapi_dmabuf **objs;	/* per entry, NULL for native ones */
	struct dmabuf_waiter *waiters;	/* per entry */
	bool any_native;
	int efd;
};

/* Readiness of every dma-buf entry now (arming what is not ready). */
static int eval_dmabufs(struct poll_state *s)
{
	int n = 0;

	for (nfds_t i = 0; i < s->nfds; i++) {
		unsigned int want;

		if (!s->objs[i])
			continue;
		want = poll_dirs(s->fds[i].events);
		s->fds[i].revents = want ? dirs_to_revents(uapi_dmabuf_poll_update(s->objs[i], want) & want)
					 : 0;
		n += s->fds[i].revents != 0;
	}
	return n;
}

static void waiters_register(struct poll_state *s)
{
	for (nfds_t i = 0; i < s->nfds; i++) {
		struct uapi_dmabuf *obj = s->objs[i];
		struct dmabuf_waiter *w = &s->waiters[i];

		if (!obj)
			continue;
		w->efd = s->efd;
		w->dirs = poll_dirs(s->fds[i].events);
		w->woken = false;
		spin_lock(&obj->poll_lock);
		list_add_tail(&w->node, &obj->waiters);
		interest_add(obj, w->dirs, 1);
		spin_unlock(&obj->poll_lock);
	}
}

static void waiters_unregister(struct poll_state *s)
{
	for (nfds_t i = 0; i < s->nfds; i++) {
		struct uapi_dmabuf *obj = s->objs[i];
		struct dmabuf_waiter *w = &s->waiters[i];

		if (!obj)
			continue;
		spin_lock(&obj->poll_lock);
		list_del(&w->node);
		interest_add(obj, w->dirs, -1);
		spin_unlock(&obj->poll_lock);
	}
}

static void waiters_rearm(struct poll_state *s)
{
	for (nfds_t i = 0; i < s->nfds; i++) {
		struct uapi_dmabuf *obj = s->objs[i];

		if (!obj)
			continue;
		spin_lock(&obj->poll_lock);
		s->waiters[i].woken = false;
		spin_unlock(&obj->poll_lock);
	}
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
		if (s->objs[i])
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
		if (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000) {
			errno = EINVAL;
			return -1;
		}
		deadline = ktime_get() + ts_to_ns(tmo);
		if (deadline < 0)
			deadline = INT64_MAX;
	}
	for (;;) {
		struct timespec rem, *remp = NULL;
		ktime_t now;

		n = eval_dmabufs(s);
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
			ktime_t left = deadline - now;

			rem.tv_sec = left / 1000000000;
			rem.tv_nsec = left % 1000000000;
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
			/* Native entries are ready: report them with the buffers' state. */
			n = eval_dmabufs(s);
			r = poll_native_now(s);
			return r < 0 ? -1 : r + n;
		}
	}
}

int dmasync_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		  const sigset_t *sigmask)
{
	struct poll_state s = { .fds = fds, .nfds = nfds, .efd = -1 };
	bool any_dmabuf = false;
	int r, e;

	if (!nfds || nfds > (nfds_t)INT32_MAX)
		return ppoll(fds, nfds, tmo, sigmask);
	s.nat = malloc((nfds + 1) * sizeof(*s.nat));
	s.objs = calloc(nfds, sizeof(*s.objs));
	if (!s.nat || !s.objs) {
		free(s.nat);
		free(s.objs);
		return ppoll(fds, nfds, tmo, sigmask);
	}
	/* The caller's array may be bad: the kernel would say EFAULT. */
	if (copy_from_user(s.nat, fds, nfds * sizeof(*fds))) {
		free(s.nat);
		free(s.objs);
		errno = EFAULT;
		return -1;
	}
	for (nfds_t i = 0; i < nfds; i++) {
		s.objs[i] = s.nat[i].fd >= 0 ? uapi_dmabuf_lookup(s.nat[i].fd) : NULL;
		any_dmabuf |= s.objs[i] != NULL;
	}
	if (!any_dmabuf) {
		free(s.nat);
		free(s.objs);
		return ppoll(fds, nfds, tmo, sigmask);
	}
	uapi_tracked_maybe_reap();
	s.waiters = calloc(nfds, sizeof(*s.waiters));
	if (!s.waiters) {
		r = -1;
		errno = ENOMEM;
		goto out;
	}
	for (nfds_t i = 0; i < nfds; i++) {
		s.nat[i].revents = 0;
		if (s.objs[i])
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
		if (s.objs[i])
			uapi_dmabuf_put(s.objs[i]);
	free(s.objs);
	free(s.nat);
	free(s.waiters);
	errno = e;
	return r;
}

int dmasync_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct timespec ts, *tsp = NULL;

	if (timeout >= 0) {
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000;
		tsp = &ts;
	}
	return dmasync_ppoll(fds, nfds, tsp, NULL);
}

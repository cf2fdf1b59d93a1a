/* SPDX-License-Identifier: MIT */
/*
 * The libc-shaped entry points for objects of the broker: what
 * dmasync_open(), dmasync_ioctl(), dmasync_ppoll(), dmasync_epoll_ctl(),
 * dmasync_mmap(), dmasync_lseek() and dmasync_close() do when the fd (or
 * path) is the broker's.  Each sets *@handled to say whether it was, and
 * then returns the call's result with errno set as the system call would.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/sync_file.h>

#include <dmasync/types.h>
#include "client.h"
#include "file.h"
#include "remote.h"
#include "uaccess.h"

#define PAGE 4096u

static int fail(long r)
{
	errno = (int)-r;
	return -1;
}

static enum ipc_device device_of(const char *path)
{
	if (!path)
		return 0;
	if (!strcmp(path, "/sys/kernel/debug/sync/sw_sync"))
		return IPC_DEV_SW_SYNC;
	if (!strcmp(path, "/dev/udmabuf"))
		return IPC_DEV_UDMABUF;
	if (!strcmp(path, "/dev/dma_heap/system"))
		return IPC_DEV_HEAP_SYSTEM;
	return 0;
}

int client_entry_open(const char *path, int flags, bool *handled)
{
	enum ipc_device dev = device_of(path);
	int fd;

	*handled = dev != 0;
	if (!dev)
		return -1;
	fd = client_open(dev, flags);
	return fd < 0 ? fail(fd) : fd;
}

long client_entry_ioctl(int fd, unsigned long request, void *arg, bool *handled)
{
	struct client_obj obj;
	bool empty = false;
	long ret;
	int r;

	if ((unsigned int)request == SYNC_IOC_FILE_INFO && !client_file_info_wants_identity(fd)) {
		ret = client_file_info_peek(fd, arg, &empty);
		if (ret != -EAGAIN) {
			*handled = true;
			return ret < 0 ? fail(ret) : ret;
		}
	}
	ret = client_ioctl_unidentified(fd, request, arg);
	if (ret != -EREMOTE) {
		*handled = true;
		return ret < 0 ? fail(ret) : ret;
	}
	r = client_find(fd, &obj);
	*handled = r != 0;
	if (r <= 0)
		return r < 0 ? fail(r) : -1;
	if (obj.kind == IPC_KIND_DMA_BUF && (unsigned int)request == DMA_BUF_IOCTL_SYNC)
		ret = client_sync(fd, arg);
	else
		ret = client_ioctl_peeked(fd, &obj, request, arg, empty);
	return ret < 0 ? fail(ret) : ret;
}

/* ---- readiness mirrors --------------------------------------------------------------- */

/*
 * Registrations of buffers in epoll sets: the dup of the mirror that
 * stands in the set for (epfd, fd).
 */
struct epoll_reg {
	int epfd, fd;
	dev_t dev;
	ino_t ino;
	int dup;
	pid_t pid;		/* the process that registered it */
	struct epoll_event ev;	/* as registered (client_mirror_move()) */
	struct epoll_reg *next;
};

static pthread_mutex_t mirror_lock = PTHREAD_MUTEX_INITIALIZER;	/* a leaf */
static struct epoll_reg *regs;

void client_mirrors_lock(void)
{
	client_lock(&mirror_lock);
}

void client_mirrors_unlock(void)
{
	client_unlock(&mirror_lock);
}

/*
 * The program closed @lo..@hi, fds of @obj among them: the kernel drops a
 * file's epoll registrations when the file goes, whatever number each was
 * made under.  While another fd of @obj stays open here the registrations
 * stay too (and report under the closed number, as Linux's do); with the
 * last one they all go.  Without the preload's table, only those made
 * under the closed numbers go.  (With the buffer left open only in other
 * processes or in mappings they go too: Linux keeps them while the file
 * lives anywhere.)
 */
static void mirrors_forget(unsigned int lo, unsigned int hi, const struct client_obj *obj)
{
	struct epoll_reg **q, *r;
	int others;
	pid_t me;

	if (!__atomic_load_n(&regs, __ATOMIC_RELAXED))
		return;
	others = client_fd_copy_elsewhere(obj->dev, obj->ino, lo, hi);
	if (others > 0)
		return;
	me = getpid();
	client_lock(&mirror_lock);
	for (q = &regs; (r = *q);) {
		if (r->dev == obj->dev && r->ino == obj->ino &&
		    (!others || ((unsigned int)r->fd >= lo && (unsigned int)r->fd <= hi))) {
			*q = r->next;
			/*
			 * Out of the set first: closing the dup alone leaves
			 * the registration while the mirror's file lives on
			 * elsewhere (the broker's copy), and the set would
			 * report a closed file's events.  If the program closed
			 * or reused @epfd, this fails harmlessly: the dup is
			 * registered nowhere else.  A registration inherited
			 * over fork() is not taken out: the set is the
			 * parent's too, where the buffer (and so, on Linux,
			 * the registration) lives on; this process's copy of
			 * the dup goes.
			 */
			if (r->pid == me)
				epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->dup, NULL);
			close(r->dup);
			free(r);
		} else {
			q = &r->next;
		}
	}
	client_unlock(&mirror_lock);
}

int client_mirror_fds(int *fds, int max)
{
	struct epoll_reg *reg;
	int n = 0;

	client_lock(&mirror_lock);
	for (reg = regs; reg && n < max; reg = reg->next)
		fds[n++] = reg->dup;
	client_unlock(&mirror_lock);
	return n;
}

bool client_fd_is_mirror(int fd)
{
	struct epoll_reg *reg;
	bool found = false;

	if (!__atomic_load_n(&regs, __ATOMIC_RELAXED))
		return false;
	client_lock(&mirror_lock);
	for (reg = regs; reg && !found; reg = reg->next)
		found = reg->dup == fd;
	client_unlock(&mirror_lock);
	return found;
}

/*
 * Polls of buffers and of sync files of one sw_sync point.
 *
 * A dma-buf polls through a dup of its readiness mirror, made for this
 * call only (no fd of ours outlives it).  A sync file of one point whose
 * timeline has a fast slot is decided by the timeline page: ready at once
 * if its point is reached; otherwise the call also waits on the slot's
 * doorbell, which the signaler rings, and looks again when it rings (the
 * sync file's own readiness, which the broker's record brings, still
 * counts: a release or a broker's death wakes it).  A doorbell rung for
 * another point of the timeline wakes the call, which looks again and
 * waits on for the rest of the time.
 *
 * Every poller of a timeline, in every process, waits on the same
 * doorbell, so none may read it: a read takes the count to zero, and a
 * poller the write had woken that had not looked yet would look, find
 * nothing and sleep on (woken a hop later, by the broker's record; not at
 * all while the broker stands still).  The call waits on the doorbell's
 * wait set instead (client_doorbell_set()), where every ring queues an
 * event of this process's own; a thread whose process's set another
 * thread waits on makes one of its own for the call.
 */
struct pp_fast {
	nfds_t idx;			/* in the caller's array */
	struct client_obj obj;
	int door;			/* -2: counted in as a poller, else -1 */
	int door_fd;			/* with -2: the doorbell it holds */
	int set;			/* with -2: the wait set it took, or -1 (an
					 * earlier entry's, of the same doorbell) */
	bool own_set;			/* that set is this call's own */
};

/**
 * client_mirror_move() - give up the number of a registration's mirror
 * @fd: the number, a mirror's (client_fd_is_mirror())
 * @min: the lowest number the mirror may move to (the fd floor)
 *
 * The program wants @fd (dup2() onto it).  The mirror is copied to the
 * lowest free number at or above @min and its registration in the
 * program's epoll set moves with it, with the events and data it was
 * registered with.  Moving re-registers: a disarmed EPOLLONESHOT
 * registration is armed again.  @fd is left open, in no epoll
 * set, so that no other thread is given the number before the caller
 * replaces or closes it.  Takes the registrations' lock.
 *
 * Return: 0; -ENOENT if @fd is not a mirror; else a negative errno, and
 * nothing changed.
 */
int client_mirror_move(int fd, int min)
{
	struct epoll_reg *reg;
	int high, r = -ENOENT;

	client_lock(&mirror_lock);
	for (reg = regs; reg && reg->dup != fd; reg = reg->next)
		;
	if (!reg)
		goto out;
	high = fcntl(fd, F_DUPFD_CLOEXEC, min > 0 ? min : 0);
	if (high < 0) {
		r = -errno;
		goto out;
	}
	/*
	 * Out of the set, then back under the new number: epoll knows a
	 * registration by file and number.  Removed first, so that no
	 * epoll_wait() meanwhile reports the buffer twice.  If the removal
	 * fails, the program closed its epoll fd: nothing to carry over.
	 */
	if (!epoll_ctl(reg->epfd, EPOLL_CTL_DEL, fd, NULL) &&
	    epoll_ctl(reg->epfd, EPOLL_CTL_ADD, high, &reg->ev)) {
		r = -errno;
		epoll_ctl(reg->epfd, EPOLL_CTL_ADD, fd, &reg->ev);	/* as it was */
		close(high);
		goto out;
	}
	reg->dup = high;
	r = 0;
out:
	client_unlock(&mirror_lock);
	return r;
}

/* Whether no entry of @nat is left for the kernel (all negative: decided
 * here, or ignored as poll(2) ignores them). */
static bool all_decided(const struct pollfd *nat, nfds_t nfds)
{
	for (nfds_t i = 0; i < nfds; i++)
		if (nat[i].fd >= 0)
			return false;
	return true;
}

/* Whether every entry of @nat is either left out (negative) or one of the
 * @n fast entries, and all of those are reached by the page of a broker
 * that lives: the call's answer is known without a system call.  (Once
 * the broker died, the sockets show the hang-up too.) */
static bool all_fast_ready(const struct pollfd *nat, nfds_t nfds, const struct pp_fast *fast,
			   unsigned int n)
{
	nfds_t left = 0;

	for (nfds_t i = 0; i < nfds; i++)
		left += nat[i].fd >= 0;
	if (left != n)
		return false;
	for (unsigned int k = 0; k < n; k++)
		if (nat[fast[k].idx].fd < 0 || client_point_state(&fast[k].obj) != 1 ||
		    !client_point_broker_alive(&fast[k].obj))
			return false;
	return true;
}

/* Show the @n fast entries whose points the page shows reached as their
 * sockets will once the record is there (POLLIN, and POLLRDNORM if asked).
 * Not an entry whose number the kernel found closed (POLLNVAL: another
 * thread closed it meanwhile), nor one whose number now holds another file
 * (what the kernel said of it stands): Linux's poll looks at the number
 * anew whenever it wakes.  Return: whether any is. */
static bool fast_show_reached(struct pollfd *nat, const struct pp_fast *fast, unsigned int n)
{
	bool any = false;

	for (unsigned int k = 0; k < n; k++) {
		struct pollfd *p = &nat[fast[k].idx];

		if (!(p->revents & POLLNVAL) && client_point_state(&fast[k].obj) == 1 &&
		    client_fd_still(p->fd, &fast[k].obj)) {
			p->revents |= (short)(p->events & (POLLIN | POLLRDNORM));
			any = true;
		}
	}
	return any;
}

/* Take the events a doorbell's wait set queued (the rings it saw). */
static void bells_take(int set)
{
	struct epoll_event ev[8];

	while (epoll_wait(set, ev, 8, 0) == 8)
		;
}

int client_entry_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		       const sigset_t *sigmask, bool *handled)
{
	struct pollfd *nat;
	struct pp_fast *fast;
	nfds_t *buf_ready;
	unsigned int n_fast = 0, n_bells = 0, waiting = 0, n_buf_ready = 0, max_bells = UINT_MAX;
	bool any = false, ready_now = false, sync_any = false;
	int64_t deadline = 0;
	int r = 0, e = 0;

	*handled = false;
	if (!nfds)
		return 0;
	if (nfds > 4096) {
		struct rlimit rl;

		/* Past the fd limit the kernel's EINVAL comes first; up to it,
		 * the doorbells' wait sets that fit (the rest wait for the
		 * broker's records, which wake the sync files themselves). */
		if (getrlimit(RLIMIT_NOFILE, &rl) || nfds > rl.rlim_cur)
			return 0;
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur - nfds < max_bells)
			max_bells = (unsigned int)(rl.rlim_cur - nfds);
	}
	nat = malloc((nfds + nfds) * sizeof(*nat));
	fast = malloc(nfds * sizeof(*fast));
	buf_ready = malloc(nfds * sizeof(*buf_ready));
	if (!nat || !fast || !buf_ready || copy_from_user(nat, fds, nfds * sizeof(*fds))) {
		/* (a bad array: the native call reports EFAULT) */
		free(nat);
		free(fast);
		free(buf_ready);
		return 0;
	}
	for (nfds_t i = 0; i < nfds; i++) {
		struct client_obj obj;

		if (nat[i].fd < 0 || client_find(nat[i].fd, &obj) != 1)
			continue;
		if (obj.kind == IPC_KIND_SYNC_FILE && obj.tl_slot && (nat[i].events & POLLIN)) {
			int st = client_point_state(&obj);

			if (st < 0) {
				sync_any = true;
				continue;
			}
			fast[n_fast].idx = i;
			fast[n_fast].obj = obj;
			fast[n_fast].door = -1;
			n_fast++;
			any = true;
			ready_now |= st == 1;
			continue;
		}
		if (obj.kind != IPC_KIND_DMA_BUF) {
			/* a sync file the kernel reports: once INCs reached it */
			sync_any |= obj.kind == IPC_KIND_SYNC_FILE;
			continue;
		}
		/* Known ready in every direction asked: no mirror, no request
		 * (the page's bits are only ever set true). */
		{
			unsigned int want = (nat[i].events & POLLIN ? 1u : 0) |
					    (nat[i].events & POLLOUT ? 2u : 0);

			if (want && (client_buffer_ready(&obj) & want) == want) {
				buf_ready[n_buf_ready++] = i;
				ready_now = true;
				any = true;
				nat[i].fd = -1;	/* not polled: its answer is known */
				continue;
			}
		}
		/* A mirror for this call only: no fd of ours outlives it. */
		r = client_mirror(nat[i].fd);
		if (r < 0)
			continue;	/* broker gone: the fd polls as what it is */
		nat[i].fd = r;
		nat[i].events &= POLLIN | POLLOUT;
		any = true;
	}
	/* Sync files the page does not decide show their own readiness: once
	 * INCs made in the page have reached them.  (A buffer's mirror is
	 * fetched by a request, which the broker answers after applying.) */
	if (sync_any)
		client_settle();
	if (!any) {
		free(nat);
		free(fast);
		free(buf_ready);
		return 0;
	}
	*handled = true;

	/* Not ready yet: count ourselves in (a signaler adds first and then
	 * looks for pollers: one of the two sees the other), take the rings
	 * the wait sets saw before, look again, and wait on the sets. */
	if (!ready_now) {
		int saved = errno;

		for (unsigned int k = 0; k < n_fast; k++) {
			int door = n_bells < max_bells ? client_doorbell(&fast[k].obj) : -1;
			unsigned int j;

			if (door < 0)
				continue;
			fast[k].set = -1;
			fast[k].own_set = false;
			for (j = 0; j < k && !(fast[j].door == -2 && fast[j].door_fd == door); j++)
				;
			if (j == k) {
				/* the first entry of this doorbell takes its set */
				int set = client_doorbell_set(door, &fast[k].own_set);

				if (set < 0) {
					client_doorbell_put(door);
					continue;
				}
				fast[k].set = set;
				nat[nfds + n_bells].fd = set;
				nat[nfds + n_bells].events = POLLIN;
				n_bells++;
			}
			client_point_waiting(&fast[k].obj, true);
			waiting |= 1;
			fast[k].door = -2;	/* counted in, holding the doorbell */
			fast[k].door_fd = door;
		}
		for (unsigned int d = 0; d < n_bells; d++)
			bells_take(nat[nfds + d].fd);
		for (unsigned int k = 0; k < n_fast; k++)
			if (fast[k].door == -2 && client_point_state(&fast[k].obj) == 1)
				ready_now = true;
		errno = saved;
	}
	/* The caller's timeout as given the first time (the kernel judges it:
	 * EINVAL), what is left of it after a doorbell rang for another point;
	 * one too long to add to the clock is forever. */
	if (tmo && !ready_now && tmo->tv_sec >= 0 && tmo->tv_nsec >= 0 &&
	    tmo->tv_nsec < 1000000000l) {
		int64_t now = ktime_get();

		deadline = tmo->tv_sec < (INT64_MAX - now) / 1000000000ll - 1
				   ? now + (int64_t)tmo->tv_sec * 1000000000ll + tmo->tv_nsec
				   : INT64_MAX;
	}
	for (unsigned int round = 0;; round++) {
		struct timespec zero = { 0, 0 }, left, *t = ready_now ? &zero : (struct timespec *)tmo;
		bool rung = false, got = false;

		if (round && tmo && deadline != INT64_MAX) {
			int64_t rest = deadline - ktime_get();

			if (rest < 0)
				rest = 0;
			left.tv_sec = rest / 1000000000ll;
			left.tv_nsec = rest % 1000000000ll;
			t = &left;
		}
		if (ready_now && !sigmask &&
		    (n_fast ? all_fast_ready(nat, nfds, fast, n_fast) : all_decided(nat, nfds))) {
			/* Nothing for the kernel to look at: no system call.  (A
			 * point the page shows reached is signaled, whatever its
			 * socket shows: POLLIN, below.) */
			for (nfds_t i = 0; i < nfds; i++)
				nat[i].revents = 0;
			r = 0;
			e = errno;
			fast_show_reached(nat, fast, n_fast);
			break;
		}
		r = ppoll(nat, nfds + (ready_now ? 0 : n_bells), t, sigmask);
		e = errno;
		if (r < 0)
			break;
		for (unsigned int d = 0; !ready_now && d < n_bells; d++)
			rung |= (nat[nfds + d].revents & POLLIN) != 0;
		got = fast_show_reached(nat, fast, n_fast);
		for (nfds_t i = 0; i < nfds && !got; i++)
			got = nat[i].revents != 0;
		if (got || ready_now || !rung || (tmo && deadline != INT64_MAX && deadline - ktime_get() <= 0))
			break;
		/* Rung for another point: take the rings, then look again
		 * before waiting on (a ring made after the look above is
		 * taken here: only a look after the take may sleep on).  A
		 * call that got its answer leaves them: the next call takes
		 * them before it looks. */
		for (unsigned int d = 0; d < n_bells; d++)
			if (nat[nfds + d].revents & POLLIN)
				bells_take(nat[nfds + d].fd);
		if (fast_show_reached(nat, fast, n_fast))
			break;	/* what the kernel said of the rest stands */
	}
	if (waiting)
		for (unsigned int k = 0; k < n_fast; k++)
			if (fast[k].door == -2) {
				client_point_waiting(&fast[k].obj, false);
				if (fast[k].set >= 0)
					client_doorbell_set_put(fast[k].door_fd, fast[k].set,
								fast[k].own_set);
				client_doorbell_put(fast[k].door_fd);
			}
	/* Buffers known ready: what was asked of IN and OUT, as the kernel. */
	for (unsigned int k = 0; k < n_buf_ready; k++) {
		struct pollfd *p = &nat[buf_ready[k]];

		if (copy_from_user(&p->fd, &fds[buf_ready[k]].fd, sizeof(p->fd)))
			p->fd = -1;
		p->revents = (short)(p->events & (POLLIN | POLLOUT));
	}
	if (r >= 0) {
		r = 0;
		for (nfds_t i = 0; i < nfds; i++) {
			struct pollfd p;

			memcpy(&p, &fds[i], sizeof(p));
			if (nat[i].fd != p.fd) {
				/* A buffer: its readiness, or an error if the broker went.
				 * Writable is readable too: the mirror was caught between
				 * its two steps (mirror_show(), uapi/dma-buf-poll.c). */
				short seen = nat[i].revents;

				if (seen & POLLOUT)
					seen |= POLLIN;
				p.revents = seen & (POLLHUP | POLLERR) ? POLLERR
					    : seen & p.events & (POLLIN | POLLOUT);
			} else {
				p.revents = nat[i].revents;
			}
			r += p.revents != 0;
			if (copy_to_user(&fds[i].revents, &p.revents, sizeof(p.revents))) {
				r = -1;
				e = EFAULT;
				break;
			}
		}
	}
	for (nfds_t i = 0; i < nfds; i++) {
		int orig;

		if (!copy_from_user(&orig, &fds[i].fd, sizeof(orig)) && nat[i].fd != orig)
			close(nat[i].fd);
	}
	free(nat);
	free(fast);
	free(buf_ready);
	errno = e;
	return r;
}


/*
 * A sync file is a socket (docs/kernel-compat.md): registered natively, it
 * would report the socket's EPOLLRDNORM and EPOLLRDHUP beside EPOLLIN, if
 * asked.  Linux's sync file reports EPOLLIN alone (its poll op), so only
 * EPOLLIN and the flags are registered.  EPOLLHUP and EPOLLERR come
 * whatever was asked: a sync file of a broker that died hangs up
 * (docs/design.md, section 9).
 */
static int sync_file_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	int r = uapi_epoll_ctl_masked(epfd, op, fd, event, EPOLLIN);

	return r < 0 ? fail(r) : r;
}

bool client_epoll_sets_hold_ours;

int client_entry_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event, bool *handled)
{
	struct client_obj obj;
	struct epoll_reg *reg, **p;
	struct epoll_event ev;
	int r = client_find(fd, &obj), m;

	if (r == 1 && op != EPOLL_CTL_DEL &&
	    (obj.kind == IPC_KIND_SYNC_FILE || obj.kind == IPC_KIND_DMA_BUF))
		__atomic_store_n(&client_epoll_sets_hold_ours, true, __ATOMIC_RELAXED);
	if (r == 1 && obj.kind == IPC_KIND_SYNC_FILE) {
		*handled = true;
		return sync_file_epoll_ctl(epfd, op, fd, event);
	}
	if (r == 1 && (obj.kind == IPC_KIND_TIMELINE || obj.kind == IPC_KIND_UDMABUF_DEV ||
		       obj.kind == IPC_KIND_HEAP_DEV)) {
		/* The kernel's files have no poll method: epoll refuses them. */
		*handled = true;
		return fail(uapi_epoll_ctl_no_poll(epfd, op, event));
	}
	*handled = r == 1 && obj.kind == IPC_KIND_DMA_BUF;
	if (!*handled)
		return -1;
	if (op != EPOLL_CTL_DEL) {
		if (copy_from_user(&ev, event, sizeof(ev)))
			return fail(-EFAULT);
		/* Before any look at the set, as the kernel: EPOLLEXCLUSIVE
		 * only when adding, with the events it allows. */
		if ((ev.events & EPOLLEXCLUSIVE) &&
		    (op == EPOLL_CTL_MOD ||
		     (op == EPOLL_CTL_ADD && (ev.events & ~UAPI_EPOLL_EXCLUSIVE_OK))))
			return fail(fcntl(epfd, F_GETFD) < 0 ? -EBADF : -EINVAL);
		/* A dma-buf's poll reports EPOLLIN and EPOLLOUT only (its
		 * mirror, a socket, would add EPOLLRDNORM), level-triggered. */
		ev.events = uapi_dmabuf_mirror_events(ev.events);
	}
	if (epfd == fd)
		return fail(-EINVAL);
	client_lock(&mirror_lock);
	for (p = &regs; (reg = *p); p = &reg->next)
		if (reg->epfd == epfd && reg->fd == fd && reg->dev == obj.dev && reg->ino == obj.ino)
			break;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (reg) {
			/*
			 * Ours says it is there; the set says whether it still
			 * is (the program may have closed @epfd and made a new
			 * set at its number): adding the dup again succeeds
			 * only if it is not, and then it is registered as
			 * asked.
			 */
			if (!epoll_ctl(epfd, EPOLL_CTL_ADD, reg->dup, &ev)) {
				reg->ev = ev;
				client_unlock(&mirror_lock);
				return 0;
			}
			r = errno;
			client_unlock(&mirror_lock);
			return fail(-r);
		}
		client_unlock(&mirror_lock);
		m = client_mirror(fd);
		if (m < 0)
			return fail(m);
		/* It stays: out of the program's numbers, as our other fds. */
		m = client_fd_above_floor(m);
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, m, &ev)) {
			int e = errno;

			close(m);
			return fail(-e);
		}
		reg = calloc(1, sizeof(*reg));
		if (!reg) {
			epoll_ctl(epfd, EPOLL_CTL_DEL, m, NULL);
			close(m);
			return fail(-ENOMEM);
		}
		reg->epfd = epfd;
		reg->fd = fd;
		reg->dev = obj.dev;
		reg->ino = obj.ino;
		reg->dup = m;
		reg->pid = getpid();
		reg->ev = ev;
		client_lock(&mirror_lock);
		reg->next = regs;
		regs = reg;
		client_unlock(&mirror_lock);
		return 0;
	case EPOLL_CTL_MOD:
		if (!reg) {
			client_unlock(&mirror_lock);
			return fail(fcntl(epfd, F_GETFD) < 0 ? -EBADF : -ENOENT);
		}
		r = epoll_ctl(epfd, EPOLL_CTL_MOD, reg->dup, &ev);
		if (!r)
			reg->ev = ev;
		client_unlock(&mirror_lock);
		return r;
	case EPOLL_CTL_DEL:
		if (!reg) {
			client_unlock(&mirror_lock);
			return fail(fcntl(epfd, F_GETFD) < 0 ? -EBADF : -ENOENT);
		}
		*p = reg->next;
		client_unlock(&mirror_lock);
		r = epoll_ctl(epfd, EPOLL_CTL_DEL, reg->dup, NULL);
		close(reg->dup);
		free(reg);
		return r;
	default:
		client_unlock(&mirror_lock);
		return fail(-EINVAL);
	}
}

void *client_entry_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset,
			bool *handled)
{
	struct client_obj obj;
	int type = flags & MAP_TYPE, err = 0, fl;
	size_t pages, pgoff;
	struct stat st;
	void *p;

	*handled = false;
	if ((flags & MAP_ANONYMOUS) || client_find(fd, &obj) != 1 || obj.kind != IPC_KIND_DMA_BUF)
		return MAP_FAILED;
	*handled = true;
	if (obj.dead) {
		errno = ENOLINK;
		return MAP_FAILED;
	}
	fl = fcntl(fd, F_GETFL);
	/* The checks of mmap(2), then the dma-buf's, in Linux's order. */
	if ((offset & (off_t)(PAGE - 1)) || !length)
		err = EINVAL;
	else if (length > SIZE_MAX - PAGE)
		err = ENOMEM;
	/* A dma-buf's inode has no type: mappable up to ULONG_MAX bytes (a
	 * negative offset goes past that). */
	else if ((size_t)offset / PAGE > (SIZE_MAX - (length + PAGE - 1) / PAGE * PAGE) / PAGE)
		err = EOVERFLOW;
	else if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
		err = EINVAL;
	else if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY ||
		 (type != MAP_PRIVATE && (prot & PROT_WRITE) && (fl & O_ACCMODE) == O_RDONLY))
		err = fl < 0 ? EBADF : EACCES;
	pages = (length + PAGE - 1) / PAGE;
	pgoff = (size_t)offset / PAGE;
	if (!err && (offset < 0 || pgoff + pages > obj.size / PAGE))
		err = EINVAL;
	if (!err && fstat(fd, &st))
		err = errno;
	if (!err && S_ISSOCK(st.st_mode) && type == MAP_PRIVATE)
		err = EINVAL;	/* udmabufs refuse private mappings */
	/* The system heap maps its pages one by one as PFNs, and a private
	 * (copy-on-write) mapping of PFNs must be made in one go: one page. */
	if (!err && S_ISREG(st.st_mode) && type == MAP_PRIVATE && pages > 1)
		err = EINVAL;
	if (err) {
		errno = err;
		return MAP_FAILED;
	}
	if (S_ISREG(st.st_mode))
		return mmap(addr, length, prot, flags, fd, offset);
	p = client_map_pieces(fd, addr, pages * PAGE, prot, flags, pgoff * PAGE, &err);
	if (p == MAP_FAILED)
		errno = err;
	return p;
}

off_t client_entry_lseek(int fd, off_t offset, int whence, bool *handled)
{
	struct client_obj obj;
	int r = client_find(fd, &obj);

	*handled = r == 1 && obj.kind == IPC_KIND_DMA_BUF;
	if (!*handled)
		return -1;
	/* Only the size can be discovered: SEEK_END or SEEK_SET, offset 0. */
	if (offset || (whence != SEEK_END && whence != SEEK_SET))
		return fail(-EINVAL);
	return whence == SEEK_END ? (off_t)obj.size : 0;
}

int client_close_obj(int fd, const struct client_obj *obj)
{
	int r, e;

	if (obj->kind == IPC_KIND_DMA_BUF)
		mirrors_forget((unsigned int)fd, (unsigned int)fd, obj);
	r = close(fd);
	e = errno;
	/* A timeline's last close signals its points: before we return. */
	if (obj->kind == IPC_KIND_TIMELINE)
		client_closed(obj);
	errno = e;
	return r;
}

int client_close_begin(unsigned int lo, unsigned int hi, struct client_obj *objs, int max)
{
	int fds[64], n, k = 0;

	if (max > 64)
		max = 64;
	n = client_fds_known(lo, hi, fds, objs, max);
	for (int i = 0; i < n; i++) {
		if (objs[i].kind == IPC_KIND_DMA_BUF)
			mirrors_forget(lo, hi, &objs[i]);
		else if (objs[i].kind == IPC_KIND_TIMELINE)
			objs[k++] = objs[i];
	}
	return k;
}

void client_close_end(const struct client_obj *objs, int n)
{
	int e = errno;

	for (int i = 0; i < n; i++)
		client_closed(&objs[i]);
	errno = e;
}

int client_entry_close(int fd, bool *handled)
{
	struct client_obj obj;
	int r = client_find(fd, &obj);

	*handled = r == 1;
	if (r != 1)
		return -1;
	return client_close_obj(fd, &obj);
}
